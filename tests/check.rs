//! `binlog-diff check` (MHA's masterha_check_ssh + masterha_check_repl) on
//! one netns topology (a master and two replicas, each its own host with
//! its own sshd), started once:
//!
//! - healthy: exit 0, the text ends with "Replication health is OK.",
//!   `--json` holds the same findings, none an error;
//! - then broken one way at a time, each run naming the server, the check
//!   and (but for `relay_log_purge`, a warning) exiting 1; each break is
//!   repaired and the cluster polled until healthy again: a replica's
//!   threads stopped; a replica in another replication mode; a replica
//!   replicating from another replica;
//!   `relay_log_purge=1`; a replication filter on one replica; no candidate
//!   (every replica `no_master`); a wrong `repl_password`; a hook script
//!   that is not executable; a wrong `master_binlog_dir`; a host key not in
//!   known_hosts; an errant transaction on a replica.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use binlog_diff::phase::preflight::{Check, CheckReport, Severity};
use support::process::write_script;
use support::topology::{MASTER, Topology, TopologyConfig, poll_until};

/// Runs `check` on `conf` (text, or `--json`): its exit code and stdout.
fn run(conf: &Path, json: bool) -> (i32, String) {
    let bin = env!("CARGO_BIN_EXE_binlog-diff");
    let mut c = Command::new(bin);
    c.arg("check").arg("--conf").arg(conf);
    c.args(["--remote-binary", bin, "--mysql-timeout", "5", "--step-timeout", "30"]);
    if json {
        c.arg("--json");
    }
    let o = c.output().unwrap();
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.trim().is_empty(), "check wrote to stderr: {err}\n{out}");
    (o.status.code().unwrap_or(-1), out)
}

/// `check --json`: exit code and the parsed report.
fn report(conf: &Path) -> (i32, CheckReport) {
    let (code, out) = run(conf, true);
    let r: CheckReport = serde_json::from_str(&out).unwrap_or_else(|e| panic!("not a report ({e}): {out}"));
    (code, r)
}

/// The findings of `check` on `conf` for `server` (`None`: the cluster) and
/// `check`, asserting the exit code (1 when `severity` is an error).
fn broken(conf: &Path, server: Option<&str>, check: Check, severity: Severity) -> CheckReport {
    let (code, r) = report(conf);
    let want = if severity == Severity::Error { 1 } else { 0 };
    let found = r.findings.iter().any(|f| f.server.as_deref() == server && f.check == check && f.severity == severity);
    assert!(found && code == want, "want {server:?} {check:?} {severity:?}, exit {want}; got exit {code}: {r:#?}");
    assert_eq!(r.healthy, code == 0);
    for f in &r.findings {
        assert!(!f.host.is_empty() && !f.what.is_empty() && !f.fix.is_empty(), "{f:?}");
    }
    r
}

/// Polls `check` until it says healthy with no error (the repair took).
fn healthy_again(conf: &Path) {
    let ok = poll_until(Duration::from_secs(30), || {
        let (code, r) = report(conf);
        (code == 0 && r.healthy).then_some(())
    });
    assert!(ok.is_some(), "not healthy again: {:#?}", report(conf).1);
}

/// Runs `sql` on `replica` with its replication stopped, then starts it again.
fn stopped_for(topo: &Topology, replica: usize, sql: &str) {
    topo.stop_slave(replica);
    topo.sql(replica, sql);
    topo.start_slave(replica);
}

/// An app.cnf of its own folder under `root`.
fn conf(topo: &Topology, root: &Path, name: &str, extra: &str, per: &dyn Fn(usize) -> String) -> PathBuf {
    let dir = root.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    topo.app_cnf(&dir, extra, per)
}

#[test]
fn check_finds_every_mistake_before_a_failover_does() {
    if !support::netns::usable() {
        return;
    }
    let topo = Topology::start(TopologyConfig { replicas: 2, netns: true, ..Default::default() });
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    for r in topo.replicas() {
        topo.sql(r, "SET GLOBAL read_only=1");
    }
    topo.workload(7).run(5);
    topo.wait_replicas_caught_up_running();
    let base = conf(&topo, root, "base", "", &|_| String::new());

    // Healthy: exit 0 and the line to grep for; the JSON holds the same findings.
    let (code, text) = run(&base, false);
    assert_eq!(code, 0, "{text}");
    assert!(text.ends_with("Replication health is OK.\n"), "{text}");
    assert!(
        text.contains("Master: server1; replication mode: positional\n")
            && text.contains("  1. server")
            && text.contains("  2. server"),
        "{text}"
    );
    let (code, r) = report(&base);
    assert_eq!(code, 0);
    assert!(r.healthy && r.master.as_deref() == Some("server1"), "{r:#?}");
    assert!(r.findings.iter().all(|f| f.severity == Severity::Warning), "{r:#?}");
    for f in &r.findings {
        assert!(text.contains(&f.line()), "{} not in\n{text}", f.line());
    }
    assert!(r.ranking.iter().all(|c| c.eligible) && r.ranking.len() == 2, "{r:#?}");

    // A replica stopped: the text names it, its fix, and is NOT OK.
    topo.stop_slave(1);
    broken(&base, Some("server2"), Check::Replication, Severity::Error);
    let (code, text) = run(&base, false);
    assert_eq!(code, 1);
    let ip = topo.host_ip(1);
    assert!(text.contains(&format!("[error] server2({ip}:3306): its IO thread is not running")), "{text}");
    assert!(text.contains("Fix: mend what the error says, then START SLAVE."), "{text}");
    assert!(text.ends_with("Replication health is NOT OK: 2 errors.\n"), "{text}");
    topo.start_slave(1);
    healthy_again(&base);

    // A replica in another replication mode.
    stopped_for(&topo, 2, "CHANGE MASTER TO MASTER_USE_GTID=slave_pos");
    broken(&base, Some("server3"), Check::Mode, Severity::Error);
    stopped_for(&topo, 2, "CHANGE MASTER TO MASTER_USE_GTID=no");
    healthy_again(&base);

    // A replica pointed elsewhere: at the other replica.
    let at = topo.stop_slave(2).exec_pos();
    topo.change_master(2, 1, Some(&topo.master_status(1)));
    topo.start_slave(2);
    let r = broken(&base, Some("server3"), Check::Replication, Severity::Error);
    assert_eq!(r.master.as_deref(), Some("server1"), "the master is still the one no other replicates from");
    topo.change_master(2, MASTER, Some(&at));
    topo.start_slave(2);
    healthy_again(&base);

    // relay_log_purge=1: a warning; a failover would still succeed.
    topo.sql(1, "SET GLOBAL relay_log_purge=1");
    broken(&base, Some("server2"), Check::Settings, Severity::Warning);
    topo.sql(1, "SET GLOBAL relay_log_purge=0");

    // A replication filter on one replica.
    stopped_for(&topo, 2, "SET GLOBAL replicate_ignore_db='other'");
    broken(&base, Some("server3"), Check::Filters, Severity::Error);
    stopped_for(&topo, 2, "SET GLOBAL replicate_ignore_db=''");
    healthy_again(&base);

    // No replica could be promoted (every one no_master).
    let none = conf(&topo, root, "none", "", &|s| if s == 0 { String::new() } else { "no_master=1\n".into() });
    broken(&none, None, Check::Ranking, Severity::Error);

    // A wrong repl_password: each candidate refuses it.
    let pw = conf(&topo, root, "pw", "", &|_| "repl_password=not-the-password\n".into());
    let r = broken(&pw, Some("server2"), Check::Grants, Severity::Error);
    assert!(r.findings.iter().any(|f| f.server.as_deref() == Some("server3") && f.check == Check::Grants), "{r:#?}");

    // A hook script that is not executable.
    let hook = root.join("ip_failover.sh");
    write_script(&hook, "#!/bin/sh\nexit 0\n");
    std::fs::set_permissions(&hook, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    let hooks =
        conf(&topo, root, "hook", &format!("master_ip_failover_script={}\n", hook.display()), &|_| String::new());
    let r = broken(&hooks, None, Check::Hooks, Severity::Error);
    assert!(r.findings.iter().any(|f| f.fix == format!("chmod +x {}", hook.display())), "{r:#?}");

    // master_binlog_dir that does not hold the master's binlog. (Its own
    // line after the harness's: the last one wins.)
    let dir =
        conf(&topo, root, "dir", "", &|s| if s == 0 { "master_binlog_dir=/var/empty\n".into() } else { String::new() });
    let r = broken(&dir, Some("server1"), Check::Folders, Severity::Error);
    let want = format!("set master_binlog_dir={} in its [server1] section", topo.datadir(0).display());
    assert!(r.findings.iter().any(|f| f.fix.starts_with(&want)), "{r:#?}");

    // A host key not in known_hosts, accepted unverified (StrictHostKeyChecking=no).
    let empty_kh = root.join("known_hosts.empty");
    std::fs::write(&empty_kh, "").unwrap();
    let unverified = format!(
        "ssh_options=-i {} -o UserKnownHostsFile={} -o GlobalKnownHostsFile=/dev/null -o StrictHostKeyChecking=no \
         -o BatchMode=yes -o IdentitiesOnly=yes -o ConnectTimeout=5\n",
        topo.ssh_key().display(),
        empty_kh.display()
    );
    let key = conf(&topo, root, "key", "", &|s| if s == 1 { unverified.clone() } else { String::new() });
    broken(&key, Some("server2"), Check::Ssh, Severity::Error);

    // An errant transaction on a replica (written there, binary logged).
    topo.sql(1, "CREATE DATABASE errant_here");
    let r = broken(&base, Some("server2"), Check::Gtid, Severity::Error);
    let e = r.findings.iter().find(|f| f.check == Check::Gtid).unwrap();
    assert!(e.what.contains("errant transactions 0-2-"), "{e:?}");
    assert!(r.ranking.iter().any(|c| c.server == "server2" && !c.eligible), "{r:#?}");
    topo.sql(1, "DROP DATABASE errant_here");
    topo.sql(1, "RESET MASTER");
    healthy_again(&base);
}
