//! MHA's `app.cnf` for a topology: what `binlog-diff failover`/`switch`
//! and MHA's own manager read; for the manager on a plain topology, through
//! a loopback sshd.

use std::fs;
use std::path::{Path, PathBuf};

use super::super::sshd::{Sshd, whoami};
use super::{ADMIN_PASSWORD, ADMIN_USER, REPL_PASSWORD, REPL_USER, Topology};

impl Topology {
    /// MHA's `app.cnf` for this topology, written to `work/app.cnf`: the
    /// admin and replication accounts, `manager_workdir` = `work/manager`
    /// (created), `manager_log` = `work/manager/manager.log`; every server
    /// with its `master_binlog_dir`; in a netns topology each by its own
    /// address, with the harness's ssh user, key and known_hosts and a
    /// `remote_workdir` on its host; otherwise on 127.0.0.1.
    /// `default_extra` lines go into `[server default]`, `per_server(s)`
    /// into server `s`'s section.
    pub fn app_cnf(&self, work: &Path, default_extra: &str, per_server: &dyn Fn(usize) -> String) -> PathBuf {
        let mut cnf = format!(
            "[server default]\nuser={ADMIN_USER}\npassword={ADMIN_PASSWORD}\nrepl_user={REPL_USER}\n\
             repl_password={REPL_PASSWORD}\nmanager_workdir={w}/manager\nmanager_log={w}/manager/manager.log\n",
            w = work.display()
        );
        if self.is_netns() {
            cnf += &format!("ssh_user={}\nssh_options={}\n", self.ssh_user(), self.ssh_options());
        }
        cnf += default_extra;
        for s in self.servers() {
            cnf += &format!(
                "\n[server{}]\nhostname={}\nport={}\nmaster_binlog_dir={}\n",
                s + 1,
                if self.is_netns() { self.host_ip(s) } else { "127.0.0.1".to_string() },
                self.port(s),
                self.datadir(s).display(),
            );
            if self.is_netns() {
                cnf += &format!("remote_workdir={}\n", self.host_dir(s).display());
            }
            cnf += &per_server(s);
        }
        fs::create_dir_all(work.join("manager")).unwrap();
        let p = work.join("app.cnf");
        fs::write(&p, cnf).unwrap();
        p
    }

    /// [`app_cnf`](Self::app_cnf) of a plain topology for MHA's manager,
    /// which reaches every server through `sshd` (on loopback): its port,
    /// key and known_hosts in `ssh_options`, `ping_interval=1`, and each
    /// server's `remote_workdir` under `work/<name>/mha-work` (created: what
    /// masterha_check_repl would have made; a switch alone does not).
    /// `default_extra` lines go into `[server default]` too.
    pub fn app_cnf_via_sshd(&self, work: &Path, sshd: &Sshd, default_extra: &str) -> PathBuf {
        let ssh = format!(
            "ssh_user={}\nssh_port={}\nssh_options=-i {} -o UserKnownHostsFile={} -o IdentitiesOnly=yes\n\
             ping_interval=1\n{default_extra}",
            whoami(),
            sshd.port,
            sshd.key().display(),
            sshd.known_hosts().display(),
        );
        let remote_workdir = |s: usize| {
            let dir = work.join(self.name(s)).join("mha-work");
            fs::create_dir_all(&dir).unwrap();
            format!("remote_workdir={}\n", dir.display())
        };
        self.app_cnf(work, &ssh, &remote_workdir)
    }
}
