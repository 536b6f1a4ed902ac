//! Credentials on real MariaDB servers (issue 21):
//!
//! - `quotes_and_backslashes_under_no_backslash_escapes`: every server runs
//!   with `sql_mode` NO_BACKSLASH_ESCAPES and the replication password holds
//!   `'` and `\`. A failover, then a switch, re-point replicas with it:
//!   their IO threads log in, so the password reached the server as it is.
//!   Fails without our own session `sql_mode` (the CHANGE MASTER does not
//!   parse). No password in the output.
//! - `a_password_a_server_error_quotes_is_not_printed`: a replication
//!   password too long for CHANGE MASTER, which the server quotes in its
//!   error; not a piece of it is in the output, the manager log or the
//!   JSON report. Fails without the redaction.

mod support;

use std::path::Path;

use support::drive::{assert_all_replicating_from, failover, kill_master_as_a_crash, switch, without_server};
use support::topology::{MASTER, REPL_PASSWORD, REPL_USER, Topology, TopologyConfig};

/// Sets the replication account's password on the master (replicated to
/// the replicas), before any server has NO_BACKSLASH_ESCAPES.
fn set_repl_password(topo: &Topology, pw: &str) {
    let lit = pw.replace('\\', "\\\\").replace('\'', "\\'");
    for host in ["127.0.0.1", "%"] {
        topo.sql(MASTER, format!("ALTER USER '{REPL_USER}'@'{host}' IDENTIFIED BY '{lit}'"));
    }
}

/// `conf` with `repl_password` replaced.
fn with_repl_password(conf: &Path, pw: &str) {
    let text = std::fs::read_to_string(conf).unwrap();
    let text = text.replace(&format!("repl_password={REPL_PASSWORD}"), &format!("repl_password={pw}"));
    assert!(text.contains(pw));
    std::fs::write(conf, text).unwrap();
}

#[test]
fn quotes_and_backslashes_under_no_backslash_escapes() {
    let topo = Topology::start(TopologyConfig { replicas: 2, ..Default::default() });
    let work = tempfile::tempdir().unwrap();
    let conf = topo.app_cnf(work.path(), "", &|_| String::new());
    let pw = r"it's\a'p\\w";
    set_repl_password(&topo, pw);
    with_repl_password(&conf, pw);
    let mut w = topo.workload(5);
    w.run(10);
    topo.wait_replicas_caught_up();
    for s in topo.servers() {
        topo.sql(s, "SET GLOBAL sql_mode = CONCAT(@@global.sql_mode, ',NO_BACKSLASH_ESCAPES')");
    }
    kill_master_as_a_crash(&topo);
    let (code, out) = failover(&topo, &conf, &[]);
    eprintln!("{out}");
    assert_eq!(code, 0, "{out}");
    assert!(!out.contains(pw), "the password in the output");
    let new_master = topo.replicas().find(|&r| topo.try_slave_status(r).unwrap().is_none()).expect("a new master");
    // The other replica's IO thread logged in to the new master with it.
    assert_all_replicating_from(&topo, new_master);

    // A switch to the other one: the new master becomes its replica, again with the password.
    let other = topo.replicas().find(|&r| r != new_master).unwrap();
    // The dead master leaves app.cnf, as an operator does after a failover.
    let conf2 = without_server(&conf, &format!("server{}", MASTER + 1));
    let nm = format!("{}:{}", topo.host_ip(other), topo.port(other));
    let (code, out) = switch(&conf2, &["--new-master", &nm, "--orig-master-is-new-slave"]);
    eprintln!("{out}");
    assert_eq!(code, 0, "{out}");
    assert!(!out.contains(pw), "the password in the output");
    assert_all_replicating_from(&topo, other);
}

#[test]
fn a_password_a_server_error_quotes_is_not_printed() {
    let topo = Topology::start(TopologyConfig { replicas: 2, ..Default::default() });
    let work = tempfile::tempdir().unwrap();
    let conf = topo.app_cnf(work.path(), "", &|_| String::new());
    // Longer than CHANGE MASTER takes: the server's error quotes it.
    let pw = "Q7v-too-long-a-password-for-change-master-".repeat(3);
    with_repl_password(&conf, &pw);
    let mut w = topo.workload(6);
    w.run(5);
    topo.wait_replicas_caught_up();
    kill_master_as_a_crash(&topo);
    let json = work.path().join("report.json");
    let (code, out) = failover(&topo, &conf, &["--json", json.to_str().unwrap()]);
    eprintln!("{out}");
    assert_ne!(code, 0, "the re-pointing cannot work: {out}");
    let log = std::fs::read_to_string(work.path().join("manager/manager.log")).unwrap_or_default();
    let report = std::fs::read_to_string(&json).unwrap_or_default();
    assert!(!report.is_empty(), "a report is written");
    let chars: Vec<char> = pw.chars().collect();
    for (what, text) in [("output", &out), ("manager log", &log), ("report", &report)] {
        for piece in chars.windows(12) {
            let piece: String = piece.iter().collect();
            assert!(!text.contains(&piece), "a piece of the password ({piece:?}) in the {what}:\n{text}");
        }
    }
}
