//! `binlog-diff switch` (issue 10, part 1) on real MariaDB servers: a
//! planned switch while the master is alive. The master's writes are
//! rejected, the new master catches up, every other server (the old master
//! too with `--orig-master-is-new-slave`) replicates from it, nothing is lost
//! or applied twice; MHA's `master_ip_online_change_script` is called with
//! MHA's arguments. A start hook that fails rolls everything back: the old
//! master takes writes again and nothing was re-pointed.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use support::topology::{ADMIN_PASSWORD, MASTER, Topology, TopologyConfig, poll_until};

fn hook(dir: &Path, start_exit: i32) -> PathBuf {
    let p = dir.join("online_change");
    let log = dir.join("online_change.calls");
    std::fs::write(
        &p,
        format!(
            "#!/bin/sh\nprintf '%s\\n' \"$*\" >> '{}'\ncase \"$1\" in --command=start) exit {start_exit};; esac\nexit 0\n",
            log.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}

fn switch(conf: &Path, extra: &[&str]) -> (i32, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_binlog-diff"))
        .arg("switch")
        .arg("--conf")
        .arg(conf)
        .args(extra)
        .output()
        .unwrap();
    (
        o.status.code().unwrap_or(-1),
        format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr)),
    )
}

#[test]
fn switch_with_the_old_master_as_a_new_slave() {
    let topo = Topology::start(TopologyConfig { replicas: 3, ..Default::default() });
    let work = tempfile::tempdir().unwrap();
    let h = hook(work.path(), 0);
    let conf =
        topo.app_cnf(work.path(), &format!("master_ip_online_change_script={}\n", h.display()), &|_| String::new());
    let mut w = topo.workload(71);
    w.run_mixed(40);
    topo.wait_replicas_caught_up_running();

    // A dry run says who and changes nothing.
    let (code, out) = switch(&conf, &["--dry-run"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("Current master: server1") && out.contains("Dry run"), "{out}");
    assert!(!work.path().join("online_change.calls").exists(), "no hook in a dry run");

    w.run(10);
    let nm = format!("127.0.0.1:{}", topo.port(2));
    let json = work.path().join("switch.json");
    let (code, out) =
        switch(&conf, &["--new-master", &nm, "--orig-master-is-new-slave", "--json", json.to_str().unwrap()]);
    eprintln!("{out}");
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("Switching master to server3") && out.contains("completed successfully"), "{out}");
    assert!(!out.contains(ADMIN_PASSWORD), "a password in the output");
    let calls = std::fs::read_to_string(work.path().join("online_change.calls")).unwrap();
    let lines: Vec<&str> = calls.lines().collect();
    assert_eq!(lines.len(), 2, "{calls}");
    assert!(lines[0].starts_with("--command=stop --orig_master_host=127.0.0.1 --orig_master_ip=127.0.0.1"), "{calls}");
    assert!(lines[1].starts_with("--command=start") && lines[1].contains("--orig_master_is_new_slave"), "{calls}");
    assert!(lines[1].contains(&format!("--new_master_port={}", topo.port(2))), "{calls}");
    assert!(lines[1].ends_with(&format!("--new_master_password={ADMIN_PASSWORD}")), "MHA passes it: {calls}");
    let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert!(doc["writes_rejected_seconds"].as_f64().unwrap() < 10.0, "{doc:#}");

    // The new master takes writes; everyone else (the old master too) follows it, once.
    let new_master = 2;
    assert_eq!(topo.variable(new_master, "read_only"), "0");
    assert_eq!(topo.variable(MASTER, "read_only"), "1");
    assert!(topo.try_slave_status(new_master).unwrap().is_none(), "RESET SLAVE ALL on the new master");
    let mut w2 = support::topology::Workload::new(topo.conn(new_master), 72);
    w2.run_mixed(20);
    let want = topo.checksum_tables(new_master, "bd");
    let want_seq = topo.committed_seq(new_master);
    for s in topo.servers().filter(|&s| s != new_master) {
        let got = poll_until(Duration::from_secs(60), || (topo.checksum_tables(s, "bd") == want).then_some(()));
        assert!(got.is_some(), "{} follows the new master: {}", topo.name(s), topo.slave_status(s));
        assert_eq!(topo.committed_seq(s), want_seq, "{}", topo.name(s));
        let st = topo.slave_status(s);
        assert_eq!(st.raw.get("Master_Port").map(String::as_str), Some(&*topo.port(new_master).to_string()));
    }
}

#[test]
fn a_failing_start_hook_rolls_back() {
    let topo = Topology::start(TopologyConfig { replicas: 2, ..Default::default() });
    let work = tempfile::tempdir().unwrap();
    let h = hook(work.path(), 1);
    let conf =
        topo.app_cnf(work.path(), &format!("master_ip_online_change_script={}\n", h.display()), &|_| String::new());
    let mut w = topo.workload(73);
    w.run(20);
    topo.wait_replicas_caught_up_running();
    let (code, out) = switch(&conf, &[]);
    eprintln!("{out}");
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("--command=start") && out.contains("Rolled back"), "{out}");
    // The old master takes writes again, every replica still follows it.
    assert_eq!(topo.variable(MASTER, "read_only"), "0");
    w.run(5);
    topo.wait_replicas_caught_up_running();
    for r in topo.replicas() {
        let st = topo.slave_status(r);
        assert_eq!(st.raw.get("Master_Port").map(String::as_str), Some(&*topo.port(MASTER).to_string()));
        assert_eq!(topo.committed_seq(r), topo.committed_seq(MASTER), "{}", topo.name(r));
    }
}
