//! `binlog-diff failover` (the phase driver) on real MariaDB servers, from
//! an MHA `app.cnf`: replicas lagging across several master binlog files
//! (one stopped inside a transaction), a tail only the dead master has, a
//! SIGKILLed master. Pass: exit 0; every survivor equals the master's
//! committed state before the kill (CHECKSUM TABLE and the committed
//! sequence table); the survivors replicate from the new master. A
//! `--dry-run` first changes nothing.

mod support;

use std::process::Command;
use std::time::Duration;

use support::drive::{
    assert_all_replicating_from, failover, failover_held_on_a_lock, failover_reported, kill_master_as_a_crash,
    third_replica_lags_over_bd_big,
};
use support::topology::{ADMIN_PASSWORD, MASTER, REPL_PASSWORD, Stop, Topology, TopologyConfig, poll_until};

#[test]
fn failover_from_app_cnf() {
    let topo = Topology::start(TopologyConfig { replicas: 3, max_binlog_size: 16 << 10, ..Default::default() });
    let work = tempfile::tempdir().unwrap();
    let conf = topo.app_cnf(work.path(), "", &|_| String::new());
    let mut w = topo.workload(31);
    // Replica 3 stops first, replica 2 inside a transaction, replica 1 last; the last batch only the master gets.
    let stops = [Stop::After(2), Stop::MidTransaction(1), Stop::After(0)];
    topo.run_with_stops(&mut w, &[20, 15, 20, 10], &stops, |_, _| {});
    let want_seq = topo.committed_seq(MASTER);
    let want_sum = topo.checksum_tables(MASTER, "bd");
    kill_master_as_a_crash(&topo);

    // A dry run prints the plan and changes nothing.
    let before: Vec<_> = topo.replicas().map(|r| topo.slave_status(r).read_pos()).collect();
    let (code, out) = failover(&topo, &conf, &["--dry-run"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("Dry run: nothing changed.") && out.contains("Latest replica: server2"), "{out}");
    for r in topo.replicas() {
        let st = topo.slave_status(r);
        assert_eq!(st.raw.get("Master_Port").map(String::as_str), Some(&*topo.port(MASTER).to_string()));
        assert_eq!(st.read_pos(), before[r - 1]);
    }

    // The real one.
    let diffs = work.path().join("diffs");
    let (code, out) = failover(&topo, &conf, &["--workdir", diffs.to_str().unwrap(), "--parallel", "4"]);
    eprintln!("{out}");
    assert_eq!(code, 0, "{out}");
    assert!(!out.contains(ADMIN_PASSWORD) && !out.contains(REPL_PASSWORD), "a password in the output");
    let new_master = topo
        .replicas()
        .find(|&r| out.contains(&format!("Master failover to server{}(127.0.0.1:{})", r + 1, topo.port(r))))
        .expect("success line");
    assert_eq!(new_master, 1, "the latest replica");
    for r in topo.replicas() {
        assert_eq!(topo.committed_seq(r), want_seq, "{} committed sequence", topo.name(r));
        assert_eq!(topo.checksum_tables(r, "bd"), want_sum, "{} checksums", topo.name(r));
    }
    assert_all_replicating_from(&topo, new_master);

    // Anti-flapping: another failover on this cluster is refused until acknowledged.
    let (code, out) = failover(&topo, &conf, &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("a failover ran on this cluster 0 min ago (server1 -> server2)"), "{out}");
    let ack = Command::new(env!("CARGO_BIN_EXE_binlog-diff")).args(["ack", "--conf"]).arg(&conf).output().unwrap();
    assert!(ack.status.success() && String::from_utf8_lossy(&ack.stdout).starts_with("acknowledged: "));
    let (_, out) = failover(&topo, &conf, &[]);
    assert!(!out.contains("a failover ran on this cluster"), "acknowledged: {out}");
}

/// Issue 13's fault: the driver SIGKILLed in phase 4 (one replica's apply
/// is blocked on a table lock, after it committed part of its diff), then
/// run again: a plain rerun is refused by the in-progress record (issue
/// 20), `--resume` continues in the same workdir. The rerun skips what the
/// first run committed (the targets' GTID state says so) and applies the
/// rest: nothing twice (the diff holds non-idempotent MyISAM `hits = hits +
/// 1` updates, so a repeat would show in the checksums), nothing lost.
#[test]
fn failover_killed_mid_apply_then_rerun() {
    killed_mid_apply_then_resumed(false);
}

/// Issue 20: the same where the GTID skip is not there to save the rerun:
/// the lagging replica writes no binary log, so the GTIDs we set never
/// reach its GTID state. Only its apply state (exact without a GTID check,
/// kept in the run's workdir) says what it has; `--resume` must use it.
/// Without the in-progress record and the resumed state, the rerun applied
/// the committed part twice.
#[test]
fn failover_killed_mid_apply_then_resumed_without_a_gtid_check() {
    killed_mid_apply_then_resumed(true);
}

fn killed_mid_apply_then_resumed(lagging_without_binlog: bool) {
    let lagging = 2;
    let server_options =
        if lagging_without_binlog { vec![(lagging, "--skip-log-bin".to_string())] } else { Vec::new() };
    let topo = Topology::start(TopologyConfig {
        replicas: 2,
        max_binlog_size: 16 << 10,
        server_options,
        ..Default::default()
    });
    let work = tempfile::tempdir().unwrap();
    let conf = topo.app_cnf(work.path(), "", &|_| String::new());
    let mut w = topo.workload(47);
    // Replica 2 stops after the first batch and then lacks: mixed writes, a
    // big transaction (into bd.big, which the test will lock), more mixed
    // writes, the second batch and the master-only tail.
    topo.run_with_stops(&mut w, &[10, 20, 10], &[Stop::After(1), Stop::After(0)], |i, w| {
        if i == 0 {
            w.run_mixed(30);
            w.big_transaction(64 << 10);
            w.run_mixed(30);
        }
    });
    let want_seq = topo.committed_seq(MASTER);
    let want_sum = topo.checksum_tables(MASTER, "bd");
    kill_master_as_a_crash(&topo);
    let had = topo.committed_seq(lagging).len();
    let log = work.path().join("first-run.log");
    let (mut first, mut locker) = failover_held_on_a_lock(&topo, &conf, lagging, &log, &[]);
    let first_log = || std::fs::read_to_string(&log).unwrap_or_default();
    let part = topo.committed_seq(lagging).len();
    assert!(part > had, "nothing applied before the lock ({had} before, {part} now): {}", first_log());
    first.kill().unwrap();
    first.wait().unwrap();
    mysql::prelude::Queryable::query_drop(&mut locker, "UNLOCK TABLES").unwrap();
    drop(locker);
    assert_ne!(topo.committed_seq(lagging), want_seq, "the first run was cut short");

    // Its in-progress record refuses a plain rerun (nothing changed), naming --resume.
    let (code, out) = failover(&topo, &conf, &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("did not finish") && out.contains("--resume"), "{out}");
    assert!(!out.contains("Phase 2"), "a refused rerun changes nothing: {out}");
    let (code, out) = failover(&topo, &conf, &["--resume"]);
    eprintln!("{}\n{out}", first_log());
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("Resuming: a failover of server1"), "{out}");
    if !lagging_without_binlog {
        assert!(out.contains("it already had"), "the rerun skipped what the first applied: {out}");
    }
    for r in topo.replicas() {
        assert_eq!(topo.committed_seq(r), want_seq, "{} committed sequence", topo.name(r));
        assert_eq!(topo.checksum_tables(r, "bd"), want_sum, "{} checksums (a repeated MyISAM update?)", topo.name(r));
    }
}

/// Issue 13's fault: a replica's mysqld dies during phase 4 (SIGKILLed while
/// its apply waits on a table lock). The others are recovered and follow
/// the new master; the run says which replica failed and why, its JSON
/// report marks it, and it exits 10 (MHA's "done, but recovery on some
/// slaves failed").
#[test]
fn a_replica_dying_in_phase_4_is_reported_the_rest_recovered() {
    let topo = Topology::start(TopologyConfig { replicas: 3, max_binlog_size: 16 << 10, ..Default::default() });
    let work = tempfile::tempdir().unwrap();
    let conf = topo.app_cnf(work.path(), "", &|_| String::new());
    let mut w = topo.workload(53);
    // Replica 3 lags the most (its diff holds a big transaction into bd.big).
    third_replica_lags_over_bd_big(&topo, &mut w);
    let want_seq = topo.committed_seq(MASTER);
    let want_sum = topo.checksum_tables(MASTER, "bd");
    kill_master_as_a_crash(&topo);
    let dying = 3;
    let report = work.path().join("report.json");
    let log = work.path().join("run.log");
    let diffs = work.path().join("diffs");
    let extra = ["--workdir", diffs.to_str().unwrap(), "--json", report.to_str().unwrap()];
    let (mut run, locker) = failover_held_on_a_lock(&topo, &conf, dying, &log, &extra);
    let out = || std::fs::read_to_string(&log).unwrap_or_default();
    drop(locker);
    topo.kill(dying);
    let status = run.wait().unwrap();
    let out = out();
    eprintln!("{out}");
    assert_eq!(status.code(), Some(10), "{out}");
    assert!(out.contains("done, but recovery on some replicas failed"), "{out}");
    let name = format!("server{}", dying + 1);
    assert!(out.lines().any(|l| l.contains(&name) && l.contains("FAILED: apply failed")), "{out}");
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    let applied = doc["applied"].as_array().expect("applied in the report");
    let mine = applied.iter().find(|a| a["replica"] == name.as_str()).expect("the dying replica in the report");
    assert_eq!(mine["ok"], false, "{mine}");
    let new_master = 1;
    assert!(out.contains(&format!("Master failover to server2(127.0.0.1:{})", topo.port(new_master))), "{out}");
    for r in [1, 2] {
        assert_eq!(topo.committed_seq(r), want_seq, "{} committed sequence", topo.name(r));
        assert_eq!(topo.checksum_tables(r, "bd"), want_sum, "{} checksums", topo.name(r));
    }
    topo.sql(new_master, "INSERT INTO bd.seq VALUES (1000000)");
    let got = poll_until(Duration::from_secs(60), || topo.committed_seq(2).contains(&1000000).then_some(()));
    assert!(got.is_some(), "server3 follows the new master: {}", topo.slave_status(2));
}

/// Issue 11: a MariaDB GTID topology (`MASTER_USE_GTID=slave_pos`) whose
/// replicas' IO threads were stopped and restarted several times (relay
/// logs with GTID-reconnect headers), one stopped inside a transaction, is
/// failed over with zero loss and stays a GTID topology: every survivor
/// replicates from the new master with `Using_Gtid: Slave_Pos` from a
/// `gtid_slave_pos` that holds what it was given, so nothing is fetched
/// twice or skipped. A topology of mixed modes is refused, unchanged.
#[test]
fn gtid_topology_keeps_its_mode() {
    let topo = Topology::start(TopologyConfig {
        replicas: 3,
        max_binlog_size: 16 << 10,
        use_gtid: true,
        ..Default::default()
    });
    let work = tempfile::tempdir().unwrap();
    let conf = topo.app_cnf(work.path(), "", &|_| String::new());
    let mut w = topo.workload(59);
    // GTID reconnects: each replica's IO thread stopped and started again, twice.
    for _ in 0..2 {
        w.run(8);
        for r in topo.replicas() {
            topo.catch_up_then_stop_io(r);
            topo.start_io_thread(r);
        }
    }
    let stops = [Stop::After(2), Stop::MidTransaction(1), Stop::After(0)];
    topo.run_with_stops(&mut w, &[20, 15, 20, 10], &stops, |_, _| {});
    let want_seq = topo.committed_seq(MASTER);
    let want_sum = topo.checksum_tables(MASTER, "bd");
    kill_master_as_a_crash(&topo);

    // Mixed modes: refused, nothing changed.
    topo.sql(3, "STOP SLAVE");
    topo.sql(3, "CHANGE MASTER TO MASTER_USE_GTID=no");
    topo.sql(3, "START SLAVE IO_THREAD");
    let before: Vec<_> = topo.replicas().map(|r| topo.slave_status(r).read_pos()).collect();
    let (code, out) = failover(&topo, &conf, &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("different modes") && out.contains("positional") && out.contains("slave_pos"), "{out}");
    for r in topo.replicas() {
        assert_eq!(topo.slave_status(r).read_pos(), before[r - 1], "{} unchanged", topo.name(r));
    }
    topo.sql(3, "STOP SLAVE");
    topo.sql(3, "CHANGE MASTER TO MASTER_USE_GTID=slave_pos");
    topo.sql(3, "START SLAVE IO_THREAD");

    let (code, out) = failover(&topo, &conf, &["--workdir", work.path().join("diffs").to_str().unwrap()]);
    eprintln!("{out}");
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("Replication mode: MariaDB GTID (slave_pos)"), "{out}");
    let new_master = topo
        .replicas()
        .find(|&r| out.contains(&format!("Master failover to server{}(127.0.0.1:{})", r + 1, topo.port(r))))
        .expect("success line");
    for r in topo.replicas() {
        assert_eq!(topo.committed_seq(r), want_seq, "{} committed sequence", topo.name(r));
        assert_eq!(topo.checksum_tables(r, "bd"), want_sum, "{} checksums", topo.name(r));
    }
    for r in topo.replicas().filter(|&r| r != new_master) {
        let st = topo.slave_status(r);
        assert_eq!(st.using_gtid, "Slave_Pos", "{} keeps its mode: {st}", topo.name(r));
        assert_eq!(st.raw.get("Master_Port").map(String::as_str), Some(&*topo.port(new_master).to_string()));
    }
    // New writes reach every survivor once (a stale gtid_slave_pos would fetch
    // again what we applied: a duplicate key stops the SQL thread).
    let mut w = support::topology::Workload::new(topo.conn(new_master), 60);
    w.run_mixed(20);
    let want = topo.checksum_tables(new_master, "bd");
    let want_seq = topo.committed_seq(new_master);
    for r in topo.replicas().filter(|&r| r != new_master) {
        let got = poll_until(Duration::from_secs(60), || {
            let st = topo.slave_status(r);
            assert!(st.last_sql_errno == 0 && st.last_io_errno == 0, "{}: {st}", topo.name(r));
            (topo.checksum_tables(r, "bd") == want).then_some(())
        });
        assert!(got.is_some(), "{} follows the new master: {}", topo.name(r), topo.slave_status(r));
        assert_eq!(topo.committed_seq(r), want_seq, "{}", topo.name(r));
    }
}

/// Issue 11: errant transactions (writes made on a replica itself, which no
/// other replica has) are shown by `--dry-run` and the run, in the JSON
/// report, and such a replica is never promoted, even when it is the latest.
#[test]
fn errant_transactions_are_reported_and_never_promoted() {
    let topo = Topology::start(TopologyConfig { replicas: 2, max_binlog_size: 16 << 10, ..Default::default() });
    let work = tempfile::tempdir().unwrap();
    let conf = topo.app_cnf(work.path(), "", &|_| String::new());
    let mut w = topo.workload(61);
    topo.run_with_stops(&mut w, &[20, 15, 10], &[Stop::After(1), Stop::After(0)], |_, _| {});
    // Replica 1, the latest, writes on its own: two transactions with its server_id.
    topo.sql(1, "CREATE DATABASE errant");
    topo.sql(1, "CREATE TABLE errant.t (id INT PRIMARY KEY)");
    let want_seq = topo.committed_seq(MASTER);
    let want_sum = topo.checksum_tables(MASTER, "bd");
    kill_master_as_a_crash(&topo);
    // Its binlog's last GTID in domain 0 is its own second write.
    let errant = topo.variable(1, "gtid_binlog_pos");
    assert!(errant.starts_with(&format!("0-{}-", topo.server_id(1))), "{errant}");
    let (code, out) = failover(&topo, &conf, &["--dry-run"]);
    assert_eq!(code, 0, "{out}");
    let line = format!("errant transactions (its own writes, on no other replica; never promoted), up to {errant}");
    assert!(out.contains(&line), "{out}");
    assert!(out.contains("Latest replica: server2") && out.contains("New master: server3"), "{out}");

    let (out, doc) = failover_reported(&topo, &conf, work.path());
    assert!(
        out.contains(&line) && out.contains(&format!("Master failover to server3(127.0.0.1:{})", topo.port(2))),
        "{out}"
    );
    assert_eq!(doc["replicas"][0]["errant_gtids"], serde_json::json!([errant]), "{doc:#}");
    for r in topo.replicas() {
        assert_eq!(topo.committed_seq(r), want_seq, "{} committed sequence", topo.name(r));
        assert_eq!(topo.checksum_tables(r, "bd"), want_sum, "{} checksums", topo.name(r));
    }
    assert_eq!(topo.slave_status(1).raw.get("Master_Port").map(String::as_str), Some(&*topo.port(2).to_string()));
}

/// Issue 10: which replica is promoted. The latest replica without a binary
/// log and a replica with replication filters are excluded (said, with why); a rule registered with `register-candidate`
/// puts a replica that is not the latest first; every survivor still gets
/// all the dead master committed; the ranking is in the output and report.
#[test]
fn promotion_rules_choose_the_new_master() {
    // Replica 1 (it will be the latest) has no binary log.
    let topo = Topology::start(TopologyConfig {
        replicas: 3,
        max_binlog_size: 16 << 10,
        server_options: vec![(1, "--skip-log-bin".into())],
        ..Default::default()
    });
    let work = tempfile::tempdir().unwrap();
    let conf = topo.app_cnf(work.path(), "", &|_| String::new());
    let mut w = topo.workload(67);
    topo.run_with_stops(&mut w, &[20, 15, 10], &[Stop::After(1), Stop::After(0), Stop::After(0)], |_, _| {});
    let want_seq = topo.committed_seq(MASTER);
    let want_sum = topo.checksum_tables(MASTER, "bd");
    // Replica 2 filters replication (as if it kept only one schema).
    topo.sql(2, "STOP SLAVE");
    topo.sql(2, "SET GLOBAL replicate_ignore_db = 'nothing_here'");
    topo.sql(2, "START SLAVE SQL_THREAD"); // its IO thread stays where it stopped
    kill_master_as_a_crash(&topo);
    let reg = Command::new(env!("CARGO_BIN_EXE_binlog-diff"))
        .args(["register-candidate", "--conf"])
        .arg(&conf)
        .args([&format!("127.0.0.1:{}", topo.port(3)), "--rule", "prefer", "--expire", "1h"])
        .output()
        .unwrap();
    assert!(reg.status.success(), "{}", String::from_utf8_lossy(&reg.stderr));
    assert!(String::from_utf8_lossy(&reg.stdout).contains("server4"), "{}", String::from_utf8_lossy(&reg.stdout));

    // --new-master cannot overrule a hard rule (a dry run: nothing changes).
    let (code, out) = failover(&topo, &conf, &["--dry-run", &format!("--new-master=127.0.0.1:{}", topo.port(2))]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("cannot be the new master: it filters replication"), "{out}");

    let (out, doc) = failover_reported(&topo, &conf, work.path());
    assert!(out.contains("Latest replica: server2"), "{out}");
    assert!(out.contains("server4: prefer (registered), keeps 2 of 2"), "{out}");
    assert!(out.contains("server3: excluded: it filters replication (Replicate_Ignore_DB: nothing_here)"), "{out}");
    assert!(out.contains("server2: excluded: binary logging is off"), "{out}");
    assert!(out.contains(&format!("Master failover to server4(127.0.0.1:{})", topo.port(3))), "{out}");
    assert_eq!(doc["candidates"][0]["name"], "server4", "{doc:#}");
    for r in topo.replicas() {
        assert_eq!(topo.committed_seq(r), want_seq, "{} committed sequence", topo.name(r));
        assert_eq!(topo.checksum_tables(r, "bd"), want_sum, "{} checksums", topo.name(r));
    }
}
