//! Every host over SSH, as a failover opens it (host key checked, key
//! login), our binary there at our version, and the files a failover reads
//! there: the master's current binlog in `master_binlog_dir`, each
//! replica's relay logs.

use std::thread::JoinHandle;

use super::finding::{Check, Finding, Severity};
use super::{CheckOptions, Node};
use crate::phase::config::{AppConf, ServerConf};
use crate::phase::open_host_and_node;
use crate::remote::Host;

/// A host as opened: the session, our binary there, and what the session
/// said a person should know (a host key accepted unverified).
type Opened = (Result<Host, String>, Result<String, String>, Vec<String>);

/// The sessions being opened, one per server, in the background.
pub(super) type Opening = Vec<(ServerConf, JoinHandle<Opened>)>;

/// Opens every server's host in the background (bounded by its
/// `ssh_connection_timeout` and `step_timeout`).
pub(super) fn open_all(o: &CheckOptions, conf: &AppConf, run_dir: &str) -> Opening {
    // With --push-binary, the pushed copy goes to a run folder as a failover's does.
    let made = crate::phase::run_folder::Made::default();
    conf.servers
        .iter()
        .map(|s| {
            let (s2, rd, bin, push, st) =
                (s.clone(), run_dir.to_string(), o.remote_binary.clone(), o.push_binary, o.step_timeout);
            let made = made.clone();
            let h = std::thread::spawn(move || {
                let mut said = Vec::new();
                let folder = push.then_some((&made, false));
                let (h, b) = open_host_and_node(&s2, &rd, &bin, push, st, folder, &mut |m| said.push(m.to_string()));
                (h, b, said)
            });
            (s.clone(), h)
        })
        .collect()
}

fn ssh_fix(s: &ServerConf) -> String {
    format!(
        "check ssh_user/ssh_host/ssh_port/ssh_options in app.cnf, that sshd runs on {h}, that this user's key is in \
         {u}'s authorized_keys there (ssh-copy-id -p {p} {u}@{h}), and that its host key is in known_hosts",
        h = s.ssh_host,
        u = s.ssh_user,
        p = s.ssh_port
    )
}

/// Collects the sessions and checks each host; removes what was pushed.
pub(super) fn finish(
    o: &CheckOptions,
    opening: Opening,
    nodes: &[Node],
    master: Option<usize>,
    run_dir: &str,
    f: &mut Vec<Finding>,
) {
    let mut hosts: Vec<(Host, ServerConf)> = Vec::new();
    for (s, h) in opening {
        let (host, bin, said) =
            h.join().unwrap_or_else(|_| (Err("the check of it panicked".into()), Err(String::new()), Vec::new()));
        for m in said.iter().filter(|m| m.contains("host key")) {
            f.push(Finding::on(
                &s,
                Check::Ssh,
                Severity::Error,
                format!(
                    "its SSH host key is not verified ({}): a failover would send binlogs and passwords to a host \
                     it cannot tell from an impostor",
                    m.trim_start_matches("WARNING: ")
                ),
                format!(
                    "check the host's key fingerprint, add it to known_hosts (ssh-keyscan -p {p} {h} >> \
                     ~/.ssh/known_hosts, or the UserKnownHostsFile of ssh_options), and set \
                     StrictHostKeyChecking=yes in ssh_options",
                    p = s.ssh_port,
                    h = s.ssh_host
                ),
            ));
        }
        let host = match host {
            Ok(h) => h,
            Err(e) => {
                f.push(Finding::on(
                    &s,
                    Check::Ssh,
                    Severity::Error,
                    format!("no SSH session to its host: {e}"),
                    ssh_fix(&s),
                ));
                continue;
            }
        };
        if let Err(e) = bin {
            f.push(Finding::on(
                &s,
                Check::Binary,
                Severity::Error,
                format!("our binary does not run there at our version: {e}"),
                format!(
                    "install {} there as {} (remote_binary), or run the failovers with --push-binary",
                    crate::remote::host::our_version(),
                    o.remote_binary
                ),
            ));
        }
        if let Some(n) = nodes.iter().find(|n| n.conf.name == s.name) {
            folders(o, &host, n, nodes.iter().position(|x| x.conf.name == s.name) == master, f);
        }
        hosts.push((host, s));
    }
    if o.push_binary {
        crate::phase::run_folder::remove(hosts.iter().map(|(h, s)| (h, s)), run_dir, false, o.step_timeout);
    }
}

/// `path` is a readable file on `h` (`Err`: the host could not be asked).
fn readable(o: &CheckOptions, h: &Host, path: &str) -> Result<bool, String> {
    let argv = vec!["test".to_string(), "-r".into(), path.to_string()];
    h.run("check a file", &argv, b"", o.step_timeout).map(|out| out.status == 0).map_err(|e| e.to_string())
}

/// The master's current binlog in `master_binlog_dir`; a replica's current relay log.
fn folders(o: &CheckOptions, h: &Host, n: &Node, is_master: bool, f: &mut Vec<Finding>) {
    let s = &n.conf;
    let Some(r) = &n.read else { return };
    if is_master {
        let Some(file) = &r.binlog else { return };
        let mut errs = Vec::new();
        for d in &s.master_binlog_dir {
            match readable(o, h, &d.join(file).to_string_lossy()) {
                Ok(true) => return,
                Ok(false) => {}
                Err(e) => errs.push(e),
            }
        }
        let dirs: Vec<String> = s.master_binlog_dir.iter().map(|d| d.display().to_string()).collect();
        f.push(Finding::on(
            s,
            Check::Folders,
            Severity::Error,
            format!(
                "its current binlog {file} is in none of master_binlog_dir ({}) on {}{}: a failover could not save \
                 what only the master has",
                dirs.join(","),
                h.label(),
                if errs.is_empty() { String::new() } else { format!(" ({})", errs.join("; ")) }
            ),
            match &r.binlog_dir {
                Some(d) => format!(
                    "set master_binlog_dir={} in its [{}] section of app.cnf (the server's log_bin_basename is \
                     there), readable by {}",
                    d.display(),
                    s.name,
                    s.ssh_user
                ),
                None => format!(
                    "set master_binlog_dir in app.cnf to the folder of its binlogs (SELECT @@log_bin_basename), \
                     readable by {}",
                    s.ssh_user
                ),
            },
        ));
        return;
    }
    let Some(st) = &r.state else { return };
    let (Some(dir), Some(rel)) = (&st.relay_dir, &st.relay_exec) else { return };
    let p = dir.join(rel.file.to_string());
    match readable(o, h, &p.to_string_lossy()) {
        Ok(true) => {}
        Ok(false) => f.push(Finding::on(
            s,
            Check::Folders,
            Severity::Error,
            format!(
                "its relay log {} cannot be read by {} on {}: a failover could not cut its diff",
                p.display(),
                s.ssh_user,
                h.label()
            ),
            format!("let {} read {} (group mysql, or ssh_user=mysql)", s.ssh_user, dir.display()),
        )),
        Err(e) => f.push(Finding::on(
            s,
            Check::Folders,
            Severity::Error,
            format!("its relay log {} could not be looked at on {}: {e}", p.display(), h.label()),
            ssh_fix(s),
        )),
    }
}
