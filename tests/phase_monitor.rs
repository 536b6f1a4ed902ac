//! `binlog-diff monitor` (issue 10, part 4), MHA's masterha_manager, on real
//! MariaDB servers: it pings the master, fails over once the master is dead
//! as the replicas see it too, and exits; a SIGTERM ends a watch cleanly.

mod support;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use support::topology::{MASTER, Stop, Topology, TopologyConfig, poll_until};

fn spawn_monitor(conf: &Path, log: &Path, extra: &[&str]) -> Child {
    let f = std::fs::File::create(log).unwrap();
    Command::new(env!("CARGO_BIN_EXE_binlog-diff"))
        .args(["monitor", "--conf"])
        .arg(conf)
        .args(extra)
        .stdout(f.try_clone().unwrap())
        .stderr(f)
        .stdin(Stdio::null())
        .spawn()
        .unwrap()
}

fn wait_exit(child: &mut Child, secs: u64) -> Option<i32> {
    poll_until(Duration::from_secs(secs), || child.try_wait().unwrap().map(|s| s.code().unwrap_or(-1)))
}

fn log_has(log: &Path, what: &str, secs: u64) -> bool {
    poll_until(Duration::from_secs(secs), || {
        std::fs::read_to_string(log).unwrap_or_default().contains(what).then_some(())
    })
    .is_some()
}

#[test]
fn monitor_fails_over_a_dead_master_then_exits() {
    let topo = Topology::start(TopologyConfig { replicas: 2, max_binlog_size: 16 << 10, ..Default::default() });
    let work = tempfile::tempdir().unwrap();
    let conf = topo.app_cnf(work.path(), "ping_interval=1\n", &|_| String::new());
    let mut w = topo.workload(79);
    topo.run_with_stops(&mut w, &[20, 10, 10], &[Stop::After(1), Stop::After(0)], |_, _| {});
    for r in topo.replicas() {
        topo.start_io_thread(r); // replicating again: only the master's death stops them
    }
    topo.wait_replicas_caught_up_running();
    let log = work.path().join("monitor.log");
    let mut m = spawn_monitor(&conf, &log, &["--ping-failures", "2", "--detect-wait", "20"]);
    assert!(log_has(&log, "Monitoring server1", 30), "{}", std::fs::read_to_string(&log).unwrap_or_default());
    let want_seq = topo.committed_seq(MASTER);
    let want_sum = topo.checksum_tables(MASTER, "bd");
    topo.kill_master();
    let code = wait_exit(&mut m, 180);
    let out = std::fs::read_to_string(&log).unwrap_or_default();
    eprintln!("{out}");
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("ping failed (2/2)") && out.contains("does not answer: failing over"), "{out}");
    assert!(out.contains("DeadMaster") && out.contains("completed successfully"), "{out}");
    for r in topo.replicas() {
        assert_eq!(topo.committed_seq(r), want_seq, "{} committed sequence", topo.name(r));
        assert_eq!(topo.checksum_tables(r, "bd"), want_sum, "{} checksums", topo.name(r));
    }
}

#[test]
fn sigterm_stops_a_watch() {
    let topo = Topology::start(TopologyConfig { replicas: 1, ..Default::default() });
    let work = tempfile::tempdir().unwrap();
    let conf = topo.app_cnf(work.path(), "ping_interval=1\n", &|_| String::new());
    let log = work.path().join("monitor.log");
    let mut m = spawn_monitor(&conf, &log, &[]);
    assert!(log_has(&log, "Monitoring server1", 30), "{}", std::fs::read_to_string(&log).unwrap_or_default());
    unsafe { libc::kill(m.id() as i32, libc::SIGTERM) };
    let code = wait_exit(&mut m, 10);
    let out = std::fs::read_to_string(&log).unwrap_or_default();
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("Stop requested"), "{out}");
    assert!(topo.is_running(MASTER), "the master untouched");
}

/// A topology replicating, a monitor watching it with `--continue`, and a
/// switch to server2 with the old master as a new slave.
fn monitored_then_switched(work: &Path) -> (Topology, std::path::PathBuf, Child, std::path::PathBuf) {
    let topo = Topology::start(TopologyConfig { replicas: 3, ..Default::default() });
    let conf = topo.app_cnf(work, "ping_interval=1\n", &|_| String::new());
    topo.workload(83).run(20);
    topo.wait_replicas_caught_up_running();
    let log = work.join("monitor.log");
    let m = spawn_monitor(&conf, &log, &["--continue", "--ping-failures", "2", "--detect-wait", "20"]);
    assert!(log_has(&log, "Monitoring server1", 30), "{}", std::fs::read_to_string(&log).unwrap_or_default());
    let (code, out) = support::drive::switch(
        &conf,
        &["--new-master", &format!("127.0.0.1:{}", topo.port(1)), "--orig-master-is-new-slave"],
    );
    assert_eq!(code, 0, "{out}");
    (topo, conf, m, log)
}

fn stop_monitor(m: &mut Child, log: &Path) -> String {
    unsafe { libc::kill(m.id() as i32, libc::SIGTERM) };
    let code = wait_exit(m, 20);
    let out = std::fs::read_to_string(log).unwrap_or_default();
    assert_eq!(code, Some(0), "{out}");
    out
}

/// Issue 20: a switch while `monitor --continue` runs. The monitor watches
/// the new master, and when that one dies it fails it over.
#[test]
fn a_monitor_follows_a_switch_and_fails_over_the_new_master() {
    let work = tempfile::tempdir().unwrap();
    let (topo, _, mut m, log) = monitored_then_switched(work.path());
    let read = || std::fs::read_to_string(&log).unwrap_or_default();
    assert!(log_has(&log, "every server follows server2", 60), "{}", read());
    let mut w = support::topology::Workload::new(topo.conn(1), 84);
    w.run(10);
    let want = topo.checksum_tables(1, "bd");
    for r in [MASTER, 2, 3] {
        let caught = poll_until(Duration::from_secs(60), || (topo.checksum_tables(r, "bd") == want).then_some(()));
        assert!(caught.is_some(), "{} follows server2", topo.name(r));
    }
    topo.kill(1);
    assert!(log_has(&log, "Failed over to", 120), "the monitor failed the new master over: {}", read());
    let out = stop_monitor(&mut m, &log);
    eprintln!("{out}");
    assert!(out.contains("Monitoring server2") && out.contains("server2(127.0.0.1"), "{out}");
    for r in [MASTER, 2, 3] {
        assert_eq!(topo.checksum_tables(r, "bd"), want, "{}", topo.name(r));
    }
}

/// Issue 20: after a switch, the old master (now a replica) shut down for
/// maintenance is not failed over, and `--continue` goes on watching.
#[test]
fn a_monitor_ignores_the_old_master_shut_down_after_a_switch() {
    let work = tempfile::tempdir().unwrap();
    let (topo, _, mut m, log) = monitored_then_switched(work.path());
    let read = || std::fs::read_to_string(&log).unwrap_or_default();
    topo.shutdown(MASTER);
    assert!(log_has(&log, "Monitoring server2", 60), "{}", read());
    // Pings of the new master go on; the monitor is still there.
    let before = read().matches("Monitoring").count();
    let watching = poll_until(Duration::from_secs(10), || (m.try_wait().unwrap().is_none()).then_some(()));
    assert!(watching.is_some() && before >= 2, "{}", read());
    let out = stop_monitor(&mut m, &log);
    eprintln!("{out}");
    assert!(!out.contains("failing over"), "no failover of a replica: {out}");
    assert!(topo.is_running(1), "the new master untouched");
}
