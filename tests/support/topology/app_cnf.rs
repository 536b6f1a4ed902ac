//! MHA's `app.cnf` for a topology: what `binlog-diff failover`/`switch`
//! and MHA's own manager read.

use std::fs;
use std::path::{Path, PathBuf};

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
}
