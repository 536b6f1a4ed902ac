//! Hook scripts through a real `binlog-diff switch` on MariaDB servers
//! (issue 20): a hook runs in a process group of its own within
//! `--hook-timeout`.
//!
//! - A hook that leaves a child in the background holding its stdout and
//!   exits 0 has finished: the switch goes on and completes (before the fix
//!   the driver waited for the pipe's end, i.e. for the child: a hang); the
//!   child is left running and its pid logged.
//! - A hook still running at `--hook-timeout` is killed with its whole group
//!   (the script and its `sleep`, checked by pid), the switch is refused
//!   within the bound and nothing changed.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::process::{process_alive, write_script};
use support::topology::{Topology, TopologyConfig, poll_until};

fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    let p = dir.join(name);
    write_script(&p, &format!("#!/bin/sh\n{body}\n"));
    p
}

fn pids(f: &Path) -> Vec<u32> {
    std::fs::read_to_string(f).unwrap_or_default().split_whitespace().map(|p| p.parse().unwrap()).collect()
}

fn kill(pid: u32) {
    let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).status();
}

/// `binlog-diff switch --conf CONF EXTRA…`, its output to a file; killed
/// (by pid) and reported as a hang when it runs past `bound`.
fn switch_within(conf: &Path, extra: &[&str], bound: Duration) -> (i32, String, Duration) {
    let out = tempfile::NamedTempFile::new().unwrap();
    let t0 = Instant::now();
    let mut c = Command::new(env!("CARGO_BIN_EXE_binlog-diff"))
        .arg("switch")
        .arg("--conf")
        .arg(conf)
        .args(extra)
        .stdin(Stdio::null())
        .stdout(out.reopen().unwrap())
        .stderr(out.reopen().unwrap())
        .spawn()
        .unwrap();
    let status = poll_until(bound, || c.try_wait().unwrap());
    let took = t0.elapsed();
    let text = std::fs::read_to_string(out.path()).unwrap_or_default();
    match status {
        Some(s) => (s.code().unwrap_or(-1), text, took),
        None => {
            let _ = c.kill();
            let _ = c.wait();
            panic!("binlog-diff switch still running after {bound:?} (a hang):\n{text}");
        }
    }
}

#[test]
fn hooks_leave_no_hang_and_are_killed_at_their_timeout() {
    let topo = Topology::start(TopologyConfig { replicas: 1, ..Default::default() });
    let work = tempfile::tempdir().unwrap();
    let mut w = topo.workload(5);
    w.run(5);
    topo.wait_replicas_caught_up_running();

    // 1. A background child holding stdout: no hang, the switch completes.
    let bg_pids = work.path().join("bg.pids");
    let bg =
        script(work.path(), "bg_hook", &format!("sleep 300 &\necho $! >> {}\necho started\nexit 0", bg_pids.display()));
    let conf =
        topo.app_cnf(work.path(), &format!("master_ip_online_change_script={}\n", bg.display()), &|_| String::new());
    let nm = format!("127.0.0.1:{}", topo.port(1));
    let r = switch_within(
        &conf,
        &["--new-master", &nm, "--orig-master-is-new-slave", "--hook-timeout", "60"],
        Duration::from_secs(120),
    );
    let left = pids(&bg_pids);
    let left_alive: Vec<bool> = left.iter().map(|&p| process_alive(p)).collect();
    left.iter().for_each(|&p| kill(p));
    let (code, out, took) = r;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("completed successfully"), "{out}");
    assert!(took < Duration::from_secs(60), "took {took:?}: {out}");
    assert_eq!(left.len(), 2, "the stop and the start hook each left one child: {left:?}");
    assert!(left_alive.iter().all(|&a| a), "children the hooks left are not killed: {left:?}");
    assert!(out.contains("leaving processes"), "the leftovers are logged: {out}");

    // 2. A hook that does not end: killed with its group at --hook-timeout,
    //    the switch refused, nothing changed (server2 is still the master).
    let slow_pids = work.path().join("slow.pids");
    let slow = script(
        work.path(),
        "slow_hook",
        &format!("echo $$ >> {0}\nsleep 300 &\necho $! >> {0}\nwait", slow_pids.display()),
    );
    let conf =
        topo.app_cnf(work.path(), &format!("master_ip_online_change_script={}\n", slow.display()), &|_| String::new());
    let (code, out, took) = switch_within(&conf, &["--hook-timeout", "2"], Duration::from_secs(60));
    let ps = pids(&slow_pids);
    let gone = poll_until(Duration::from_secs(5), || ps.iter().all(|&p| !process_alive(p)).then_some(()));
    ps.iter().filter(|&&p| process_alive(p)).for_each(|&p| kill(p));
    assert_ne!(code, 0, "{out}");
    assert!(took < Duration::from_secs(30), "took {took:?}: {out}");
    assert!(
        out.contains(&format!("hook {}", slow.display()))
            && out.contains("did not finish within 2s")
            && out.contains("killed its process group"),
        "the error names the script, the timeout and what was killed: {out}"
    );
    assert_eq!(ps.len(), 2, "{ps:?}");
    assert!(gone.is_some(), "the hook's processes {ps:?} are gone");
    let st = topo.slave_status(0);
    assert!(st.io_yes() && st.sql_yes(), "server1 still replicates from server2: {st:?}");
}
