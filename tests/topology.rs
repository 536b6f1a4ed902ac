//! Tests of the MariaDB topology harness (`tests/support/topology.rs`) against
//! real servers: convergence of 1 master + 3 replicas, replicas left at
//! different positions (across binlog files) before the master is SIGKILLed,
//! a relay log that ends in the middle of a transaction, STATEMENT/NONE/GTID
//! settings, and servers dying with the test process.
//!
//! `hold_topology` (ignored) is what `scripts/topology.sh start` runs.

mod support;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use mysql::prelude::Queryable;
use std::time::{Duration, Instant};

use support::topology::{
    BinlogChecksum, BinlogFormat, MASTER, SlaveStatus, Topology, TopologyConfig, WORKLOAD_DB, poll_until,
    process_alive, template,
};

fn secs(d: Duration) -> String {
    format!("{:.2}s", d.as_secs_f64())
}

/// (1) start 1 master + 3 replicas, write a varied workload, all replicas
/// converge to the master's data.  Prints template and start timings.
#[test]
fn replicas_converge_to_master() {
    let t = Instant::now();
    let tpl = template();
    let tpl_elapsed = t.elapsed();
    if tpl.created_now {
        println!("template: built now in {} (mariadb-install-db) at {}", secs(tpl.build_time), tpl.datadir.display());
    } else {
        println!(
            "template: cached at {} (first build took {}; lookup now {})",
            tpl.datadir.display(),
            secs(tpl.build_time),
            secs(tpl_elapsed)
        );
    }

    let topo = Topology::start(TopologyConfig::with_replicas(3));
    println!(
        "start of 1 master + 3 replicas (copy template, start, CHANGE MASTER, START SLAVE): {}",
        secs(topo.start_time())
    );
    println!("{}", topo.describe());
    assert!(topo.start_time() < Duration::from_secs(30), "starting 4 servers took {}", secs(topo.start_time()));

    // every server really is configured as asked
    for s in topo.servers() {
        assert_eq!(topo.variable(s, "server_id"), (s + 1).to_string());
        assert_eq!(topo.variable(s, "log_slave_updates"), "1");
        assert_eq!(topo.variable(s, "relay_log_purge"), "0");
        assert_eq!(topo.variable(s, "binlog_format"), "ROW");
        assert_eq!(topo.variable(s, "binlog_checksum"), "CRC32");
        assert_eq!(topo.variable(s, "max_binlog_size"), (1 << 20).to_string());
        assert_eq!(topo.variable(s, "character_set_server"), "utf8mb4");
        assert_eq!(topo.variable(s, "port"), topo.port(s).to_string());
    }
    for r in topo.replicas() {
        let st = topo.slave_status(r);
        assert!(st.io_yes() && st.sql_yes(), "{st}");
        assert_eq!(st.using_gtid, "No");
    }

    let t = Instant::now();
    let mut w = topo.workload(1);
    let mut committed = w.run(40);
    w.ddl();
    for _ in 0..3 {
        committed.push(w.non_transactional());
    }
    committed.push(w.big_transaction(1536 << 10)); // > max_binlog_size (1 MiB)
    committed.extend(w.run_mixed(60));
    assert_eq!(committed, w.committed());
    println!("workload: {} tracked groups in {}", committed.len(), secs(t.elapsed()));

    let t = Instant::now();
    topo.wait_replicas_caught_up();
    println!("replicas caught up in {}", secs(t.elapsed()));
    let master_sums = topo.checksum_tables(MASTER, WORKLOAD_DB);
    assert_eq!(master_sums.keys().collect::<Vec<_>>(), ["big", "m", "seq", "t"]);
    assert_eq!(topo.committed_seq(MASTER), committed);
    for r in topo.replicas() {
        assert_eq!(topo.checksum_tables(r, WORKLOAD_DB), master_sums, "{} differs from master", topo.name(r));
        assert_eq!(topo.committed_seq(r), committed, "{}", topo.name(r));
    }
    // the big transaction made the master rotate (a transaction is never split)
    let logs = topo.binary_logs(MASTER);
    println!("master binlogs: {logs:?}");
    assert!(logs.len() >= 2, "{logs:?}");
    assert!(logs[0].1 > 1 << 20, "first binlog holds the big transaction whole: {logs:?}");

    let t = Instant::now();
    drop(topo);
    println!("teardown (SIGTERM all, wait, rm -r): {}", secs(t.elapsed()));
}

/// (2) replicas stopped after different numbers of transactions end at
/// different Read_Master_Log_Pos in different master binlog files; the
/// master is then SIGKILLed; each replica holds exactly a prefix of the
/// committed groups.
#[test]
fn lagging_replicas_then_master_crash() {
    let topo = Topology::start(TopologyConfig { replicas: 3, max_binlog_size: 8192, ..Default::default() });
    let mut w = topo.workload(2);
    let mut expect: Vec<Vec<u64>> = vec![Vec::new(); 4];

    let a = w.run(25);
    let cut1 = topo.catch_up_then_stop_io(1);
    let b = w.run(25);
    let cut2 = topo.catch_up_then_stop_io(2);
    let c = w.run(25);
    topo.wait_io_read_all(3);
    let final_master = topo.master_status(MASTER);
    println!("cut1 {cut1}\ncut2 {cut2}\nmaster at {final_master}, binlogs {:?}", topo.binary_logs(MASTER));
    expect[1] = a.clone();
    expect[2] = [a.clone(), b.clone()].concat();
    expect[3] = [a, b, c].concat();

    topo.kill_master();
    assert!(!topo.is_running(MASTER));
    assert!(topo.try_sql(MASTER, "SELECT 1").is_err(), "master answers after SIGKILL");
    // replica 3's IO thread notices the dead master and keeps retrying
    let st3 = topo.wait_slave(3, "IO thread to lose the master", |s| s.io_running != "Yes");
    println!("replica3 after master crash: io={} last_io_error={:?}", st3.io_running, st3.last_io_error);

    let st: BTreeMap<usize, SlaveStatus> = topo.replicas().map(|r| (r, topo.wait_sql_idle(r))).collect();
    for (r, s) in &st {
        println!("{}: {s}; relay files {}", topo.name(*r), topo.relay_log_files(*r).len());
    }
    // positions differ as intended, across binlog files
    assert!(st[&1].read_pos() < st[&2].read_pos() && st[&2].read_pos() < st[&3].read_pos());
    assert!(st[&1].read_pos().file_seq() < st[&2].read_pos().file_seq(), "cuts 1 and 2 in the same binlog");
    assert!(st[&2].read_pos().file_seq() < st[&3].read_pos().file_seq(), "cuts 2 and 3 in the same binlog");
    assert_eq!(st[&3].read_pos(), final_master);
    assert!(final_master.file_seq() >= 4, "expected several master binlogs, at {final_master}");
    assert_eq!(st[&1].io_running, "No");
    assert_eq!(st[&2].io_running, "No");
    for (r, s) in &st {
        // whole transactions were relayed: the SQL thread executed all of them
        assert_eq!(s.exec_pos(), s.read_pos(), "{}", topo.name(*r));
        assert_eq!(topo.committed_seq(*r), expect[*r], "{} holds the wrong groups", topo.name(*r));
    }
    // the cut positions recorded when the IO threads stopped did not move
    assert_eq!(st[&1].read_pos(), cut1.read_pos());
    assert_eq!(st[&2].read_pos(), cut2.read_pos());
    // the crashed master's binlogs are still on disk for the diff engine
    let files = topo.binlog_files(MASTER);
    assert_eq!(files.last().unwrap().file_name().unwrap().to_str().unwrap(), final_master.file);
    assert_eq!(std::fs::metadata(files.last().unwrap()).unwrap().len(), final_master.pos);
}

/// (3) a replica whose relay log ends inside a transaction, and which then
/// resumes and converges.
#[test]
fn relay_log_ends_mid_transaction() {
    let topo = Topology::start(TopologyConfig { replicas: 2, max_binlog_size: 64 << 10, ..Default::default() });
    let mut w = topo.workload(3);
    let before = w.run(10);
    topo.wait_replicas_caught_up();

    let t = Instant::now();
    // at least 48 KiB in: past GTID + Annotate_rows (32 KiB of hex) + Table_map into the rows events
    let mid = topo.stop_io_thread_mid_transaction(1, &mut w, 768 << 10, 48 << 10);
    println!(
        "mid-trx stop after {}: trx {}..{} (seq {}), replica1 {}",
        secs(t.elapsed()),
        mid.trx_start,
        mid.trx_end,
        mid.seq,
        mid.status
    );
    assert!(mid.status.read_pos() > mid.trx_start && mid.status.read_pos() < mid.trx_end);

    let st1 = topo.wait_sql_idle(1);
    // the SQL thread cannot execute the partial group: Exec stays before it
    assert!(st1.exec_pos() <= mid.trx_start, "{st1}");
    assert!(st1.exec_pos() < st1.read_pos(), "{st1}");
    assert_eq!(topo.committed_seq(1), before);
    // The relay logs really end inside the group: the master's events of the
    // transaction (End_log_pos in master coordinates; everything so far is in
    // the master's first binlog) start with its GTID, reach exactly
    // Read_Master_Log_Pos and contain no XID.  They may be spread over several
    // relay files (max_relay_log_size = max_binlog_size = 64K here).
    let mut per_file = Vec::new();
    let mut trx_events = Vec::new();
    for f in topo.relay_log_files(1) {
        let name = f.file_name().unwrap().to_str().unwrap().to_string();
        let evs: Vec<_> = topo
            .relay_log_events(1, &name)
            .into_iter()
            .filter(|e| {
                e.server_id == 1
                    && e.end_log_pos > mid.trx_start.pos
                    && !matches!(e.event_type.as_str(), "Format_desc" | "Rotate" | "Gtid_list" | "Binlog_checkpoint")
            })
            .collect();
        per_file.push(format!("{name}: {} events of the trx", evs.len()));
        trx_events.extend(evs);
    }
    println!("replica1 relay logs: {per_file:?}");
    assert_eq!(trx_events.first().map(|e| e.event_type.as_str()), Some("Gtid"), "{trx_events:?}");
    assert_eq!(trx_events.last().unwrap().end_log_pos, mid.status.read_master_log_pos);
    assert!(trx_events.iter().all(|e| e.event_type != "Xid"));
    assert!(trx_events.iter().any(|e| e.event_type == "Write_rows_v1"), "no rows event relayed: {trx_events:?}");

    topo.wait_caught_up(2);
    assert_eq!(topo.committed_seq(2), w.committed());

    // resuming the IO thread completes the transaction from Read_Master_Log_Pos
    topo.start_io_thread(1);
    topo.wait_caught_up(1);
    assert_eq!(topo.committed_seq(1), w.committed());
    topo.assert_same_data_as_master(1, WORKLOAD_DB);
    topo.assert_same_data_as_master(2, WORKLOAD_DB);
}

/// STATEMENT format, no checksums, GTID replication, tiny relay logs.
#[test]
fn statement_none_gtid_converges() {
    let topo = Topology::start(TopologyConfig {
        replicas: 1,
        binlog_format: BinlogFormat::Statement,
        binlog_checksum: BinlogChecksum::None,
        max_binlog_size: 32 << 10,
        max_relay_log_size: 16 << 10,
        use_gtid: true,
        ..Default::default()
    });
    assert_eq!(topo.variable(1, "binlog_format"), "STATEMENT");
    assert_eq!(topo.variable(1, "binlog_checksum"), "NONE");
    assert_eq!(topo.variable(1, "max_relay_log_size"), (16 << 10).to_string());
    assert_eq!(topo.slave_status(1).using_gtid, "Slave_Pos");
    let mut w = topo.workload(4);
    w.run_mixed(60);
    w.ddl();
    w.big_transaction(100 << 10);
    w.run(10);
    topo.wait_replicas_caught_up();
    topo.assert_same_data_as_master(1, WORKLOAD_DB);
    assert_eq!(topo.committed_seq(1), w.committed());
    assert!(!topo.variable(1, "gtid_slave_pos").is_empty());

    // the comparisons can fail: diverge replica 1 behind replication's back
    let mut c = topo.conn(1);
    c.query_drop("SET SESSION sql_log_bin = 0").unwrap();
    c.query_drop("UPDATE bd.t SET amount = amount + 1 ORDER BY id LIMIT 1").unwrap();
    c.query_drop("DELETE FROM bd.seq ORDER BY n DESC LIMIT 1").unwrap();
    let diffs = topo.checksum_differences(MASTER, 1, WORKLOAD_DB);
    println!("after diverging replica1 on purpose: {diffs:?}");
    assert_eq!(diffs.len(), 2, "checksum comparison missed a change: {diffs:?}");
    assert!(diffs[0].starts_with("seq: ") && diffs[1].starts_with("t: "), "{diffs:?}");
    assert_eq!(topo.committed_seq(1), w.committed()[..w.committed().len() - 1]);
    let relay = topo.relay_log_files(1);
    println!("replica1: {} relay log files, {:?}", relay.len(), topo.slave_status(1).relay_pos());
    assert!(relay.len() >= 3, "max_relay_log_size=16K should rotate relay logs: {relay:?}");
}

/// A server that cannot start makes `Topology::start` panic with its error
/// log; the servers already started are stopped and the temp dir removed.
#[test]
fn failed_start_cleans_up() {
    let cfg = TopologyConfig { replicas: 1, master_options: vec!["--no-such-option=1".into()], ..Default::default() };
    let err = std::panic::catch_unwind(|| Topology::start(cfg)).err().expect("start with a bad option succeeded");
    let msg = err.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(msg.contains("master exited during startup") && msg.contains("no-such-option"), "{msg}");
    // "... error log /tmp/binlog-diff-topo-XXXXXX/master/error.log ..."
    let log = msg.split_whitespace().find(|w| w.ends_with("/master/error.log")).expect("error log path in message");
    let root = PathBuf::from(log.trim_end_matches("/master/error.log"));
    assert!(!root.exists(), "{} left behind", root.display());
    let procs: Vec<u32> = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .filter(|pid| {
            let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            String::from_utf8_lossy(&cmd).contains(root.to_str().unwrap()) && process_alive(*pid)
        })
        .collect();
    assert!(procs.is_empty(), "servers of the failed topology still running: {procs:?}");
}

/// Servers must not outlive the test process even when it dies without
/// unwinding: run `hold_topology` in a child process, SIGKILL it, and watch
/// its mariadbd processes disappear (PR_SET_PDEATHSIG).
#[test]
fn servers_die_with_the_test_process() {
    let hold = tempfile::tempdir().unwrap();
    let log = std::fs::File::create(hold.path().join("child.log")).unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--ignored", "--exact", "hold_topology", "--nocapture", "--test-threads=1"])
        .env("BINLOG_DIFF_HOLD_DIR", hold.path())
        .env("BINLOG_DIFF_REPLICAS", "1")
        .env_remove("BINLOG_DIFF_KEEP")
        .env_remove("BINLOG_DIFF_WORKLOAD")
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let ready = poll_until(Duration::from_secs(60), || {
        if let Some(st) = child.try_wait().unwrap() {
            panic!(
                "hold_topology exited early ({st}):\n{}",
                std::fs::read_to_string(hold.path().join("child.log")).unwrap()
            );
        }
        hold.path().join("ready").exists().then_some(())
    });
    assert!(ready.is_some(), "hold_topology not ready in 60s");
    let env: BTreeMap<String, String> = std::fs::read_to_string(hold.path().join("topology.env"))
        .unwrap()
        .lines()
        .filter_map(|l| l.split_once('=').map(|(k, v)| (k.to_string(), v.to_string())))
        .collect();
    let pids: Vec<u32> = ["MASTER_PID", "REPLICA1_PID"].iter().map(|k| env[*k].parse().unwrap()).collect();
    assert!(pids.iter().all(|p| process_alive(*p)), "servers not running: {pids:?}");

    child.kill().unwrap(); // SIGKILL: no Drop, no unwinding
    child.wait().unwrap();
    let t = Instant::now();
    let gone = poll_until(Duration::from_secs(20), || pids.iter().all(|p| !process_alive(*p)).then_some(()));
    assert!(gone.is_some(), "mariadbd {pids:?} outlived their test process");
    println!("servers {pids:?} died {} after their test process was SIGKILLed", secs(t.elapsed()));
    // nobody ran Drop: remove the orphaned topology dir ourselves
    let root = PathBuf::from(&env["ROOT"]);
    assert!(root.exists());
    std::fs::remove_dir_all(&root).unwrap();
}

/// Not a test: holds a topology for manual use until `$BINLOG_DIFF_HOLD_DIR/stop`
/// appears (or `BINLOG_DIFF_HOLD_SECS`, default 3600, pass).  Configured by
/// `TopologyConfig::from_env()`; `BINLOG_DIFF_WORKLOAD=N` writes N mixed
/// workload steps first.  Writes `topology.env` and `ready` into the hold dir.
/// Run by `scripts/topology.sh start`.
#[test]
#[ignore = "manual: scripts/topology.sh start"]
fn hold_topology() {
    let Some(dir) = std::env::var_os("BINLOG_DIFF_HOLD_DIR").map(PathBuf::from) else {
        eprintln!("hold_topology: set BINLOG_DIFF_HOLD_DIR (scripts/topology.sh start does)");
        return;
    };
    let topo = Topology::start(TopologyConfig::from_env());
    if let Some(n) = std::env::var("BINLOG_DIFF_WORKLOAD").ok().and_then(|v| v.parse::<usize>().ok()) {
        let mut w = topo.workload(1);
        w.run_mixed(n);
        topo.wait_replicas_caught_up();
        println!("workload: {} tracked groups, master at {}", w.committed().len(), topo.master_status(MASTER));
    }
    std::fs::write(dir.join("test.pid"), format!("{}\n", std::process::id())).unwrap();
    std::fs::copy(topo.root().join("topology.env"), dir.join("topology.env")).unwrap();
    std::fs::write(dir.join("ready"), topo.describe() + "\n").unwrap();
    println!("{}", topo.describe());
    let secs: u64 = std::env::var("BINLOG_DIFF_HOLD_SECS").ok().and_then(|v| v.parse().ok()).unwrap_or(3600);
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !dir.join("stop").exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    drop(topo);
    std::fs::write(dir.join("stopped"), "").unwrap();
}
