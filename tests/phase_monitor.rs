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
