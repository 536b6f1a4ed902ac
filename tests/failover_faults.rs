//! Issue 20: the failover defects found by trying it as an operator would,
//! each on real MariaDB servers, each test failing without its fix.
//!
//! - a dead master whose host answers but whose tail cannot be saved (a
//!   wrong `master_binlog_dir`): refused before anything changes, or with
//!   `--accept-loss` done with the loss named (exit 11);
//! - a replica whose SQL thread stopped on an error: refused in phase 1
//!   naming `ignore_fail`, or with `ignore_fail=1` left out as it was;
//! - a `slave_pos` topology: after the failover the new master's GTID state
//!   says what it holds, so a switch back fetches nothing twice.

mod support;

use std::time::Duration;

use support::drive::{
    assert_replicating_from, failover, failover_held_on_a_lock, final_line, kill_master_as_a_crash, switch,
    third_replica_lags_over_bd_big,
};
use support::process::{Thaw, signal};
use support::topology::{MASTER, Stop, Topology, TopologyConfig, poll_until};

/// Replicas caught up, their IO threads stopped, then `more` transactions
/// only the master has, and the master SIGKILLed. Returns its committed
/// sequence numbers.
fn tail_only_the_master_has(topo: &Topology, more: usize) -> Vec<u64> {
    let mut w = topo.workload(61);
    w.run(30);
    for r in topo.replicas() {
        topo.catch_up_then_stop_io(r);
    }
    w.run(more);
    let want = topo.committed_seq(MASTER);
    topo.kill_master();
    want
}

/// The replicas' read and executed positions, and their IO/SQL thread states.
fn replica_states(topo: &Topology) -> Vec<String> {
    topo.replicas()
        .map(|r| {
            let s = topo.slave_status(r);
            format!(
                "{} {} {:?} {:?}",
                s.read_pos(),
                s.exec_pos(),
                s.raw.get("Slave_IO_Running"),
                s.raw.get("Slave_SQL_Running")
            )
        })
        .collect()
}

#[test]
fn a_tail_that_can_be_saved_is_never_given_up() {
    let topo = Topology::start(TopologyConfig { replicas: 3, max_binlog_size: 16 << 10, ..Default::default() });
    let work = tempfile::tempdir().unwrap();
    let wrong = work.path().join("not-the-binlogs");
    std::fs::create_dir_all(&wrong).unwrap();
    let bad_conf = topo.app_cnf(work.path(), "", &|s| {
        if s == MASTER { format!("master_binlog_dir={}\n", wrong.display()) } else { String::new() }
    });
    let want = tail_only_the_master_has(&topo, 20);
    let before = replica_states(&topo);
    let had = topo.committed_seq(1);
    assert_eq!(want.len(), had.len() + 20, "the master alone has 20");

    // Its host answers (it is this host), but the tail is not where app.cnf says: refused, nothing changed.
    let (code, out) = failover(&topo, &bad_conf, &[]);
    eprintln!("{out}");
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("master_binlog_dir") && out.contains("--accept-loss"), "the fix is named: {out}");
    assert!(out.contains("Nothing was changed") && !out.contains("Phase 2"), "{out}");
    assert_eq!(replica_states(&topo), before, "the replicas are as they were");
    assert!(!work.path().join("manager/binlog-diff-failover-in-progress.json").exists(), "no record: nothing changed");

    // Mended, the same failover recovers all 20.
    let conf = topo.app_cnf(work.path(), "", &|_| String::new());
    let (code, out) = failover(&topo, &conf, &[]);
    eprintln!("{out}");
    assert_eq!(code, 0, "{out}");
    assert!(final_line(&out).contains("completed successfully"), "{out}");
    for r in topo.replicas() {
        assert_eq!(topo.committed_seq(r), want, "{} has every transaction", topo.name(r));
    }
}

#[test]
fn accept_loss_goes_on_and_says_what_was_lost() {
    let topo = Topology::start(TopologyConfig { replicas: 2, max_binlog_size: 16 << 10, ..Default::default() });
    let work = tempfile::tempdir().unwrap();
    let wrong = work.path().join("not-the-binlogs");
    std::fs::create_dir_all(&wrong).unwrap();
    let conf = topo.app_cnf(work.path(), "", &|s| {
        if s == MASTER { format!("master_binlog_dir={}\n", wrong.display()) } else { String::new() }
    });
    tail_only_the_master_has(&topo, 20);
    let survivors_had = topo.committed_seq(1);
    let json = work.path().join("report.json");
    let (code, out) = failover(&topo, &conf, &["--accept-loss", "--json", json.to_str().unwrap()]);
    eprintln!("{out}");
    assert_eq!(code, 11, "a loss has its own exit code: {out}");
    let last = final_line(&out);
    assert!(last.contains("NOT EVERYTHING WAS RECOVERED") && last.contains("committed after"), "{out}");
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(doc["result"], "lost", "{doc:#}");
    assert_eq!(doc["exit"], 11, "{doc:#}");
    assert!(!doc["unrecoverable"].as_array().unwrap().is_empty(), "{doc:#}");
    for r in topo.replicas() {
        assert_eq!(topo.committed_seq(r), survivors_had, "{}", topo.name(r));
    }
}

/// A replica whose SQL thread stopped on a duplicate key (a row written on
/// it alone), then the master SIGKILLed.
fn broken_replica_topology() -> (Topology, Vec<u64>, usize) {
    let topo = Topology::start(TopologyConfig { replicas: 3, max_binlog_size: 16 << 10, ..Default::default() });
    let broken = 3;
    let mut w = topo.workload(67);
    w.run(10);
    topo.sql(MASTER, "CREATE TABLE bd.dup (id INT PRIMARY KEY)");
    topo.wait_replicas_caught_up_running();
    topo.sql(broken, "SET SESSION sql_log_bin=0");
    topo.sql(broken, "INSERT INTO bd.dup VALUES (7)");
    topo.sql(broken, "SET SESSION sql_log_bin=1");
    topo.sql(MASTER, "INSERT INTO bd.dup VALUES (7)");
    let stopped = poll_until(Duration::from_secs(60), || {
        let s = topo.slave_status(broken);
        (s.raw.get("Last_SQL_Errno").map(String::as_str) == Some("1062")).then_some(())
    });
    assert!(stopped.is_some(), "{}'s SQL thread stops on 1062: {}", topo.name(broken), topo.slave_status(broken));
    // The others lag differently.
    topo.run_with_stops(&mut w, &[10, 10, 10], &[Stop::After(1), Stop::After(0)], |_, _| {});
    let want = topo.committed_seq(MASTER);
    kill_master_as_a_crash(&topo);
    (topo, want, broken)
}

#[test]
fn a_broken_replica_is_refused_in_phase_1_naming_ignore_fail() {
    let (topo, _, broken) = broken_replica_topology();
    let work = tempfile::tempdir().unwrap();
    let conf = topo.app_cnf(work.path(), "", &|_| String::new());
    let (code, out) = failover(&topo, &conf, &["--detect-wait", "10"]);
    eprintln!("{out}");
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("ignore_fail=1") && out.contains("1062"), "the way forward is named: {out}");
    assert!(!out.contains("Phase 2"), "refused before anything changed: {out}");
    for r in topo.replicas().filter(|&r| r != broken) {
        let io = topo.slave_status(r).raw.get("Slave_IO_Running").cloned().unwrap_or_default();
        assert_ne!(io, "No", "{}: its IO thread was not stopped", topo.name(r));
    }
}

#[test]
fn ignore_fail_leaves_a_broken_replica_out_as_it_was() {
    let (topo, want, broken) = broken_replica_topology();
    let work = tempfile::tempdir().unwrap();
    let conf = topo.app_cnf(work.path(), "", &|s| if s == broken { "ignore_fail=1\n".into() } else { String::new() });
    let before = topo.slave_status(broken);
    let (code, out) = failover(&topo, &conf, &["--detect-wait", "10"]);
    eprintln!("{out}");
    assert_eq!(code, 0, "{out}");
    let last = final_line(&out);
    assert!(last.contains("left out (ignore_fail)") && last.contains("server4"), "{out}");
    let healthy: Vec<usize> = topo.replicas().filter(|&r| r != broken).collect();
    for &r in &healthy {
        assert_eq!(topo.committed_seq(r), want, "{}", topo.name(r));
    }
    let after = topo.slave_status(broken);
    assert_eq!(after.raw.get("Last_SQL_Errno").map(String::as_str), Some("1062"), "left as it was");
    assert_eq!(after.raw.get("Master_Port"), before.raw.get("Master_Port"), "still pointing at the dead master");
    assert_eq!(after.exec_pos(), before.exec_pos());
    let new_master = healthy.iter().copied().find(|&r| topo.try_slave_status(r).unwrap().is_none()).unwrap();
    let others: Vec<usize> = healthy.iter().copied().filter(|&r| r != new_master).collect();
    assert_replicating_from(&topo, new_master, &others);
}

/// `SELECT @@gtid_binlog_pos, @@gtid_slave_pos, @@gtid_current_pos`.
fn gtid_positions(topo: &Topology, s: usize) -> (String, String, String) {
    let r = topo.query_rows(s, "SELECT @@gtid_binlog_pos, @@gtid_slave_pos, @@gtid_current_pos");
    let v = |i: usize| r[0][i].clone().unwrap_or_default();
    (v(0), v(1), v(2))
}

#[test]
fn after_a_gtid_failover_a_switch_back_fetches_nothing_twice() {
    let topo = Topology::start(TopologyConfig {
        replicas: 3,
        max_binlog_size: 16 << 10,
        use_gtid: true,
        ..Default::default()
    });
    let work = tempfile::tempdir().unwrap();
    let conf = topo.app_cnf(work.path(), "", &|_| String::new());
    let mut w = topo.workload(71);
    topo.sql(MASTER, "CREATE TABLE bd.nopk (v INT) ENGINE=InnoDB");
    topo.run_with_stops(&mut w, &[10, 10, 10, 10], &[Stop::After(2), Stop::After(1), Stop::After(0)], |i, _| {
        if i == 2 {
            // Only the master has these: they reach the survivors through the failover.
            topo.sql(MASTER, "INSERT INTO bd.nopk VALUES (1), (2), (3)");
        }
    });
    let want_sum = topo.checksum_tables(MASTER, "bd");
    kill_master_as_a_crash(&topo);
    let (code, out) = failover(&topo, &conf, &[]);
    eprintln!("{out}");
    assert_eq!(code, 0, "{out}");
    let new_master = topo.replicas().find(|&r| topo.try_slave_status(r).unwrap().is_none()).unwrap();
    for r in topo.replicas() {
        assert_eq!(topo.checksum_tables(r, "bd"), want_sum, "{}", topo.name(r));
    }
    // Its GTID state says what it holds.
    let (binlog, slave, current) = gtid_positions(&topo, new_master);
    assert_eq!(slave, binlog, "{}: gtid_slave_pos holds what it applied", topo.name(new_master));
    assert_eq!(current, binlog, "{}", topo.name(new_master));

    // Writes on the new master, then a switch back with it as a new slave.
    let mut w2 = support::topology::Workload::new(topo.conn(new_master), 72);
    w2.run(5);
    let others: Vec<usize> = topo.replicas().filter(|&r| r != new_master).collect();
    let target = others[0];
    // The dead master leaves the configuration, as an operator does after a failover.
    let conf = support::drive::without_server(&conf, "server1");
    let (code, out) =
        switch(&conf, &["--new-master", &format!("127.0.0.1:{}", topo.port(target)), "--orig-master-is-new-slave"]);
    eprintln!("{out}");
    assert_eq!(code, 0, "{out}");
    topo.sql(target, "INSERT INTO bd.nopk VALUES (4)");
    let want = topo.checksum_tables(target, "bd");
    for r in topo.replicas() {
        let same = poll_until(Duration::from_secs(60), || (topo.checksum_tables(r, "bd") == want).then_some(()));
        assert!(
            same.is_some(),
            "{}: {:?} vs {:?}; {}",
            topo.name(r),
            topo.checksum_tables(r, "bd"),
            want,
            topo.slave_status(r)
        );
        let rows = topo.query_value(r, "SELECT COUNT(*) FROM bd.nopk");
        assert_eq!(rows.as_deref(), Some("4"), "{}: no row fetched twice", topo.name(r));
    }
}

/// Issue 21: a master that refuses the driver's login (a wrong password in
/// app.cnf) answered: it is alive, and no failover runs.
#[test]
fn a_master_that_refuses_our_login_is_not_dead() {
    let topo = Topology::start(TopologyConfig { replicas: 1, ..Default::default() });
    let work = tempfile::tempdir().unwrap();
    let conf = topo
        .app_cnf(work.path(), "", &|s| if s == MASTER { "password=not-the-password\n".into() } else { String::new() });
    let (code, out) = failover(&topo, &conf, &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("answers (it refused our login") && out.contains("1045"), "{out}");
    assert!(!out.contains("Phase 2") && !out.contains("not-the-password"), "{out}");
    assert!(topo.slave_status(1).io_yes(), "replication untouched");
}

/// Issue 20: a replica's mysqld frozen (SIGSTOP) in the middle of its
/// phase-4 apply. The run ends within the MySQL timeout's reach (not when
/// someone kills it), naming the replica and what it was applying; the
/// others are recovered and follow the new master; exit 10. Without the
/// apply's watchdog the driver waited for ever.
#[test]
fn a_replica_frozen_in_phase_4_is_reported_within_the_bound() {
    let topo = Topology::start(TopologyConfig { replicas: 3, max_binlog_size: 16 << 10, ..Default::default() });
    let work = tempfile::tempdir().unwrap();
    let conf = topo.app_cnf(work.path(), "", &|_| String::new());
    let mut w = topo.workload(97);
    // Replica 3 lags the most; its diff writes bd.big, which the test locks there.
    third_replica_lags_over_bd_big(&topo, &mut w);
    let want = topo.committed_seq(MASTER);
    kill_master_as_a_crash(&topo);
    let frozen = 3;
    let log = work.path().join("run.log");
    let t = std::time::Instant::now();
    let (mut run, _locker) = failover_held_on_a_lock(&topo, &conf, frozen, &log, &["--mysql-timeout", "5"]);
    let pid = topo.pid(frozen).unwrap();
    signal(pid, libc::SIGSTOP);
    let _thaw = Thaw(pid);
    let code = poll_until(Duration::from_secs(120), || run.try_wait().unwrap().map(|s| s.code()));
    let out = std::fs::read_to_string(&log).unwrap_or_default();
    eprintln!("{out}");
    let code = code.unwrap_or_else(|| {
        let _ = run.kill();
        panic!("the failover did not end within 120 s of a frozen replica:\n{out}")
    });
    assert!(t.elapsed() < Duration::from_secs(90), "ended only after {:?}", t.elapsed());
    assert_eq!(code, Some(10), "{out}");
    let line = out.lines().find(|l| l.contains("server4") && l.contains("FAILED")).unwrap_or_default();
    assert!(
        line.contains("apply failed") && line.contains(&topo.port(frozen).to_string()),
        "host and step named: {out}"
    );
    let new_master = (1..=2).find(|&r| topo.try_slave_status(r).unwrap().is_none()).expect("a new master");
    for r in [1, 2] {
        assert_eq!(topo.committed_seq(r), want, "{}", topo.name(r));
    }
    assert_replicating_from(&topo, new_master, &[3 - new_master]);
}
