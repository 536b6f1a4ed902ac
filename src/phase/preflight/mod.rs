//! `binlog-diff check`: MHA's `masterha_check_ssh` and
//! `masterha_check_repl` in one run, for the operator preparing a cluster
//! for its first failover, and after every change. Nothing changes here:
//! every check only reads (with `--push-binary`, a copy of our binary is
//! pushed to each remote host's `remote_workdir`, run and removed, as a
//! failover would push it).
//!
//! What it looks at, and where each concept lives:
//!
//! - [`replication`]: every server answers over MySQL; the master is the
//!   server the others replicate from; every replica points at it (its
//!   `Master_Host`/`Master_Port` are the master's in app.cnf) with both
//!   threads running; the replicas agree on one replication mode.
//! - [`settings`]: `log_bin` on the master, `log_bin` and
//!   `log_slave_updates` on candidates (`no_master` servers exempt),
//!   `relay_log_purge=0` and `read_only=1` on replicas, one `binlog_format`,
//!   the same replication and binlog filters everywhere.
//! - [`gtid`]: errant transactions on replicas, `gtid_strict_mode` alike.
//! - [`ranking`]: the candidates in the order a failover would try them now
//!   (the promotion rules of [`crate::phase::promote`], which the failover
//!   uses), and why each is or is not eligible.
//! - [`grants`]: `repl_user` can log in to each candidate and replicate.
//! - [`hooks`]: the scripts app.cnf names exist and can run here.
//! - [`manager`]: `manager_workdir` writable, no unfinished failover, no
//!   anti-flapping block.
//! - [`ssh`]: every host over SSH (host key verified, key login), our binary
//!   there at our version, the master's current binlog in
//!   `master_binlog_dir`, each replica's relay logs readable.
//!
//! Each problem is a [`Finding`] naming the server (its app.cnf section and
//! address) and the fix; an [`Severity::Error`] is one a failover now would
//! fail on or lose data by, a [`Severity::Warning`] one it would survive. A
//! server with `ignore_fail=1` (not the master) has its errors said as
//! warnings: a failover leaves it out. The report is healthy when no finding
//! is an error.
//!
//! Every wait is bounded: MySQL connections by `mysql_timeout`, SSH
//! connections by app.cnf's `ssh_connection_timeout` (or `ConnectTimeout`),
//! each command on a host by `step_timeout`. SSH sessions are opened in the
//! background while the MySQL checks run.

mod finding;
mod grants;
mod gtid;
mod hooks;
mod manager;
mod ranking;
mod replication;
mod settings;
mod ssh;

use std::time::Duration;

pub use finding::{Candidate, Check, CheckReport, Finding, Severity, VERSION};

use super::config::{AppConf, ServerConf};
use crate::server::Server;
use crate::server::status::Status;

/// How `check` runs.
#[derive(Clone, Debug)]
pub struct CheckOptions {
    /// Bound for each MySQL connection's connect, read and write.
    pub mysql_timeout: Duration,
    /// Bound for each command on a host (the version check, a folder check).
    pub step_timeout: Duration,
    /// Our binary on the remote hosts (a path, or a name on their `PATH`).
    pub remote_binary: String,
    /// The failovers of this cluster push our binary (`--push-binary`):
    /// check that it can be pushed and run, instead of looking for it.
    pub push_binary: bool,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions {
            mysql_timeout: Duration::from_secs(10),
            step_timeout: Duration::from_secs(60),
            remote_binary: "binlog-diff".into(),
            push_binary: false,
        }
    }
}

/// One server of app.cnf, as read.
pub(super) struct Node {
    conf: ServerConf,
    /// Its connection, when it answered.
    srv: Option<Server>,
    /// Why it did not answer.
    down: Option<String>,
    /// Its replica status (`None`: not a replica, or it did not answer).
    status: Option<Status>,
    /// Its settings, when they could be read.
    read: Option<settings::Read>,
}

/// Checks the cluster of `conf`: every finding, the candidates in order,
/// healthy when no finding is an error. Problems are findings, not errors:
/// this never fails.
pub fn check(o: &CheckOptions, conf: &AppConf) -> CheckReport {
    let place = conf.path.display().to_string();
    let run_dir = super::run_folder::new_name();
    let opening = ssh::open_all(o, conf, &run_dir);
    let mut f = Vec::new();
    let mut nodes = replication::connect_all(o, conf);
    let master = replication::find_master(&nodes, &place, &mut f);
    replication::unanswered(&nodes, master, &mut f);
    settings::read_all(&mut nodes, &mut f);
    let mode = replication::check(&nodes, master, &mut f);
    settings::check(&nodes, master, &mut f);
    let errant = gtid::check(&nodes, master, &mut f);
    let ranked = ranking::rank(conf, &nodes, master, &errant, &mut f);
    settings::promotable(&nodes, master, ranked.eligible.is_empty(), &mut f);
    ranking::findings(&ranked, conf, &nodes, master, &mut f);
    grants::check(o, &nodes, master, &mut f);
    hooks::check(conf, &mut f);
    manager::check(conf, &mut f);
    ssh::finish(o, opening, &nodes, master, &run_dir, &mut f);
    said_as_warnings(&nodes, master, &mut f);
    let master_label = master.map(|m| nodes[m].conf.name.clone());
    let mut r = CheckReport::new(place, master_label, mode.map(|m| m.name().to_string()), f);
    r.ranking = ranked.candidates;
    r
}

/// A server with `ignore_fail=1` other than the master: a failover leaves
/// it out when it is not usable, so its errors are warnings.
fn said_as_warnings(nodes: &[Node], master: Option<usize>, f: &mut [Finding]) {
    for (i, n) in nodes.iter().enumerate() {
        if !n.conf.ignore_fail || Some(i) == master {
            continue;
        }
        for x in f.iter_mut().filter(|x| x.server.as_deref() == Some(&n.conf.name) && x.severity == Severity::Error) {
            x.severity = Severity::Warning;
            x.what = format!(
                "{} (ignore_fail=1: a failover would leave it out, as it is)",
                x.what.trim_end().trim_end_matches('.')
            );
        }
    }
}

/// The replicas: every server but the master that answered.
fn replicas(nodes: &[Node], master: Option<usize>) -> impl Iterator<Item = (usize, &Node)> {
    nodes.iter().enumerate().filter(move |(i, n)| Some(*i) != master && n.down.is_none())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_on_an_ignore_fail_replica_are_warnings_but_not_on_the_master() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("app.cnf");
        std::fs::write(
            &p,
            "[server default]\nignore_fail=1\n[server1]\nhostname=192.0.2.2\n[server2]\nhostname=192.0.2.3\n",
        )
        .unwrap();
        let c = AppConf::read(&p, None).unwrap();
        let nodes: Vec<Node> = c
            .servers
            .iter()
            .map(|s| Node { conf: s.clone(), srv: None, down: Some("down".into()), status: None, read: None })
            .collect();
        let mut f: Vec<Finding> = nodes
            .iter()
            .map(|n| Finding::on(&n.conf, Check::Connect, Severity::Error, "it does not answer.", "start it"))
            .collect();
        said_as_warnings(&nodes, Some(0), &mut f);
        assert_eq!(f[0].severity, Severity::Error, "the master's errors stay errors");
        assert_eq!(f[1].severity, Severity::Warning);
        assert_eq!(f[1].what, "it does not answer (ignore_fail=1: a failover would leave it out, as it is)");
    }
}
