//! `binlog-diff failover` across really separate hosts: every server runs in
//! its own network namespace (its own mariadbd and sshd on port 22, own host
//! key, addresses from 192.0.2.0/24 on a bridge the harness makes), and the
//! driver runs in a mount namespace in which every server's files are
//! hidden, so whatever it reads of relay logs and binlogs came over ssh.
//!
//! - `mysqld_killed_host_alive` (CI): the master's mysqld is SIGKILLed, its
//!   host still answers ssh: its binlog tail is saved there and streamed
//!   back; every survivor equals the master's committed state (zero loss);
//!   MHA's hooks are called with MHA's arguments (scripts record argv); the
//!   JSON report holds every phase.
//! - `master_host_cut_off`: the master's link goes down: survivors are
//!   recovered up to the latest replica, the loss is reported.
//! - `driver_cut_off_from_a_live_master`: only the driver cannot reach the
//!   master while the replicas still replicate: refused, nothing changed.
//! - `unreachable_replica_with_ignore_fail`: one replica's host is cut off
//!   and marked `ignore_fail`: the others are recovered.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use support::drive::{
    assert_all_replicating_from, hidden_failover, hidden_failover_cmd, kill_master_as_a_crash, restart_io_threads,
};
use support::process::write_script;
use support::topology::{
    ADMIN_PASSWORD, ADMIN_USER, MASTER, REPL_PASSWORD, Stop, Topology, TopologyConfig, poll_until,
};

fn netns_topology(replicas: usize) -> Option<Topology> {
    if !support::netns::usable() {
        return None;
    }
    Some(Topology::start(TopologyConfig { replicas, max_binlog_size: 16 << 10, netns: true, ..Default::default() }))
}

/// An executable script that appends its argv (one line per call) to `log`
/// and exits `code`.
fn recorder(dir: &Path, name: &str, code: i32) -> PathBuf {
    let p = dir.join(name);
    let log = dir.join(format!("{name}.calls"));
    write_script(&p, &format!("#!/bin/sh\nprintf '%s\\n' \"$*\" >> '{}'\nexit {code}\n", log.display()));
    p
}

fn calls(dir: &Path, name: &str) -> Vec<String> {
    std::fs::read_to_string(dir.join(format!("{name}.calls"))).unwrap_or_default().lines().map(str::to_string).collect()
}

/// Lag across several master binlog files; replica 2 stopped inside a
/// transaction; a tail only the master has. Returns the master's committed
/// state before the kill.
fn lagging(topo: &Topology) -> (Vec<u64>, std::collections::BTreeMap<String, u64>) {
    let mut w = topo.workload(41);
    // The last batch only the master gets.
    let stops = [Stop::After(2), Stop::MidTransaction(1), Stop::After(0)];
    topo.run_with_stops(&mut w, &[20, 15, 20, 10], &stops, |_, _| {});
    (topo.committed_seq(MASTER), topo.checksum_tables(MASTER, "bd"))
}

/// Nothing of a run (pushed binary, diffs, the tail) is left on any host.
fn assert_no_run_files(topo: &Topology) {
    for s in topo.servers() {
        let left: Vec<_> = std::fs::read_dir(topo.host_dir(s))
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
            .filter(|n| n.starts_with("binlog-diff-"))
            .collect();
        assert!(left.is_empty(), "{} keeps {left:?}", topo.name(s));
    }
}

#[test]
fn mysqld_killed_host_alive() {
    let Some(topo) = netns_topology(3) else { return };
    let work = tempfile::tempdir().unwrap();
    let hooks = work.path().join("hooks");
    std::fs::create_dir_all(&hooks).unwrap();
    let ip_script = recorder(&hooks, "ip_failover", 0);
    let shutdown = recorder(&hooks, "shutdown", 10); // "ssh reachable, mysqld stopped"
    let report = recorder(&hooks, "report", 0);
    let extra = format!(
        "master_ip_failover_script={}\nshutdown_script={}\nreport_script={}\nmaster_pid_file=/run/m.pid\n",
        ip_script.display(),
        shutdown.display(),
        report.display()
    );
    let conf = topo.app_cnf(work.path(), &extra, &|_| String::new());
    let (want_seq, want_sum) = lagging(&topo);
    kill_master_as_a_crash(&topo);

    // The driver cannot see any server's files.
    let hidden = topo.hidden_command("ls").arg(topo.datadir(1)).output().unwrap();
    assert!(!hidden.status.success() || hidden.stdout.is_empty(), "datadirs hidden from the driver");

    // A dry run across the hosts: the plan, nothing changed, nothing left on them.
    let before: Vec<_> = topo.replicas().map(|r| topo.slave_status(r).read_pos()).collect();
    let (code, out) = hidden_failover(&topo, &conf, &["--push-binary", "--dry-run"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("Dry run: nothing changed.") && out.contains("Latest replica: server2"), "{out}");
    assert!(calls(&hooks, "ip_failover").is_empty(), "no hook runs in a dry run");
    for r in topo.replicas() {
        let st = topo.slave_status(r);
        assert!(st.io_yes() || st.raw.get("Slave_IO_Running").map(String::as_str) == Some("Connecting"));
        assert_eq!(st.read_pos(), before[r - 1]);
    }
    assert_no_run_files(&topo);

    let json = work.path().join("report.json");
    let (code, out) = hidden_failover(
        &topo,
        &conf,
        &["--push-binary", "--workdir", work.path().join("diffs").to_str().unwrap(), "--json", json.to_str().unwrap()],
    );
    eprintln!("{out}");
    assert_eq!(code, 0, "{out}");
    assert!(!out.contains(ADMIN_PASSWORD) && !out.contains(REPL_PASSWORD), "a password in the output");
    assert!(out.contains("DeadMaster"), "{out}");
    assert!(out.contains("Dead master's tail saved on"), "the tail came over ssh: {out}");
    assert!(!out.contains("NOT RECOVERABLE"), "{out}");
    let master_ip = topo.host_ip(MASTER);
    let new_master = 1; // the latest replica
    assert!(
        out.contains(&format!("Master failover to server2({}:3306) completed successfully", topo.host_ip(1))),
        "{out}"
    );
    for r in topo.replicas() {
        assert_eq!(topo.committed_seq(r), want_seq, "{} committed sequence", topo.name(r));
        assert_eq!(topo.checksum_tables(r, "bd"), want_sum, "{} checksums", topo.name(r));
    }
    assert_all_replicating_from(&topo, new_master);
    assert_no_run_files(&topo);

    // Hooks: MHA's arguments, in MHA's order.
    let ssh_user = topo.ssh_user();
    assert_eq!(
        calls(&hooks, "ip_failover"),
        [
            format!(
                "--orig_master_host={master_ip} --orig_master_ip={master_ip} --orig_master_port=3306 --command=stopssh --ssh_user={ssh_user}"
            ),
            format!(
                "--command=start --ssh_user={ssh_user} --orig_master_host={master_ip} --orig_master_ip={master_ip} \
                 --orig_master_port=3306 --new_master_host={n} --new_master_ip={n} --new_master_port=3306 \
                 --new_master_user={ADMIN_USER} --new_master_password={ADMIN_PASSWORD}",
                n = topo.host_ip(1)
            ),
        ]
    );
    assert_eq!(
        calls(&hooks, "shutdown"),
        [format!(
            "--command=stopssh --ssh_user={ssh_user} --host={master_ip} --ip={master_ip} --port=3306 --pid_file=/run/m.pid"
        )]
    );
    let rep = calls(&hooks, "report");
    assert_eq!(rep.len(), 1);
    assert!(
        rep[0].starts_with(&format!(
            "--orig_master_host={master_ip} --new_master_host={} --new_slave_hosts={},{} --conf={} --subject=",
            topo.host_ip(1),
            topo.host_ip(2),
            topo.host_ip(3),
            conf.display()
        )),
        "{rep:?}"
    );
    let log = std::fs::read_to_string(work.path().join("manager/manager.log")).unwrap();
    assert!(
        log.contains("--new_master_password=xxx") && !log.contains(ADMIN_PASSWORD),
        "manager_log masks the password"
    );

    let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(doc["result"], "success", "{doc:#}");
    assert_eq!(doc["dead_master"]["verdict"], "dead");
    assert_eq!(doc["dead_master"]["ssh"], "reachable");
    assert_eq!(doc["new_master"]["name"], "server2");
    assert!(doc["master_tail"]["file"].is_string());
    assert_eq!(doc["phases"].as_array().unwrap().len(), 5, "{doc:#}");
    assert_eq!(doc["applied"].as_array().unwrap().len(), 3);
    assert!(doc["unrecoverable"].as_array().unwrap().is_empty());
}

#[test]
fn master_host_cut_off() {
    let Some(topo) = netns_topology(3) else { return };
    let work = tempfile::tempdir().unwrap();
    let conf = topo.app_cnf(work.path(), "", &|_| String::new());
    let mut w = topo.workload(42);
    w.run(20);
    topo.catch_up_then_stop_io(3);
    w.run(15);
    topo.catch_up_then_stop_io(2);
    w.run(20);
    topo.catch_up_then_stop_io(1);
    // What the latest replica read is what can be recovered; the master alone has the rest.
    let want_seq = topo.committed_seq(MASTER);
    let want_sum = topo.checksum_tables(MASTER, "bd");
    w.run(5);
    topo.cut_link(MASTER);
    restart_io_threads(&topo);

    let json = work.path().join("report.json");
    let (code, out) = hidden_failover(&topo, &conf, &["--push-binary", "--json", json.to_str().unwrap()]);
    eprintln!("{out}");
    // Done, with what the dead master alone may have committed named as lost: exit 11 (issue 20).
    assert_eq!(code, 11, "{out}");
    assert!(out.contains("NOT RECOVERABLE"), "the loss is reported: {out}");
    let last = out.lines().rev().find(|l| l.starts_with("Master failover to")).unwrap_or_default();
    assert!(last.contains("NOT EVERYTHING WAS RECOVERED"), "the final line says so: {out}");
    for r in topo.replicas() {
        assert_eq!(topo.committed_seq(r), want_seq, "{} equals what the latest replica read", topo.name(r));
        assert_eq!(topo.checksum_tables(r, "bd"), want_sum, "{} checksums", topo.name(r));
    }
    let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(doc["dead_master"]["ssh"], "unreachable");
    assert!(!doc["unrecoverable"].as_array().unwrap().is_empty(), "{doc:#}");
    assert_all_replicating_from(&topo, 1);
}

/// A blackhole route to one host in the driver's (the root) namespace:
/// the driver cannot reach it, the other hosts still can over the bridge.
/// Within the topology's own /27, so it drops packets, never reroutes them.
struct Blackhole(String);

impl Blackhole {
    fn new(ip: &str) -> Blackhole {
        let o = Command::new("ip").args(["route", "add", "blackhole", &format!("{ip}/32")]).output().unwrap();
        assert!(o.status.success(), "ip route add blackhole: {}", String::from_utf8_lossy(&o.stderr));
        Blackhole(ip.to_string())
    }
}

impl Drop for Blackhole {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["route", "del", "blackhole", &format!("{}/32", self.0)]).output();
    }
}

#[test]
fn driver_cut_off_from_a_live_master() {
    let Some(topo) = netns_topology(2) else { return };
    let work = tempfile::tempdir().unwrap();
    let conf = topo.app_cnf(work.path(), "", &|_| String::new());
    let mut w = topo.workload(43);
    w.run(10);
    let before: Vec<_> = topo.replicas().map(|r| topo.slave_status(r).read_pos()).collect();
    // Only the driver's way to the master is cut: a blackhole route in the
    // driver's namespace; the replicas reach it over the bridge.
    let cut = Blackhole::new(&topo.host_ip(MASTER));
    let json = work.path().join("report.json");
    let (code, out) =
        hidden_failover(&topo, &conf, &["--detect-wait", "2", "--push-binary", "--json", json.to_str().unwrap()]);
    eprintln!("{out}");
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("UnreachableMaster") && out.contains("nothing was changed"), "{out}");
    // Refused in phase 1: the run folders (our binary pushed there) are gone too.
    assert_no_run_files(&topo);
    let log = std::fs::read_to_string(work.path().join("manager/manager.log")).unwrap();
    assert!(log.contains("Evidence: server2") && log.contains("UnreachableMaster"), "manager_log has the run:\n{log}");
    for (i, r) in topo.replicas().enumerate() {
        let st = topo.slave_status(r);
        assert!(st.io_yes() && st.sql_yes(), "{} still replicates", topo.name(r));
        assert!(st.read_pos() >= before[i]);
    }
    drop(cut);
    // Still replicating: a new write reaches both.
    w.run(2);
    let want = topo.committed_seq(MASTER);
    for r in topo.replicas() {
        assert!(poll_until(Duration::from_secs(60), || (topo.committed_seq(r) == want).then_some(())).is_some());
    }
    let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(doc["dead_master"]["verdict"], "unreachable", "{doc:#}");
}

#[test]
fn unreachable_replica_with_ignore_fail() {
    let Some(topo) = netns_topology(3) else { return };
    let work = tempfile::tempdir().unwrap();
    let conf = topo.app_cnf(work.path(), "", &|s| if s == 3 { "ignore_fail=1\n".into() } else { String::new() });
    let (want_seq, want_sum) = lagging(&topo);
    kill_master_as_a_crash(&topo);
    topo.cut_link(3);
    let (code, out) = hidden_failover(&topo, &conf, &["--push-binary", "--mysql-timeout", "5"]);
    eprintln!("{out}");
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("server4") && out.contains("skipped (ignore_fail)"), "{out}");
    for r in [1, 2] {
        assert_eq!(topo.committed_seq(r), want_seq, "{} committed sequence", topo.name(r));
        assert_eq!(topo.checksum_tables(r, "bd"), want_sum, "{} checksums", topo.name(r));
    }
}

/// The relay diffs go from the latest replica's host straight to each
/// replica; where that host cannot reach a replica's MySQL (an
/// `unreachable` route in its namespace), that replica's diff is brought
/// to the driver and applied from there. With `--apply-from here` every
/// diff takes that way. Both: zero loss.
#[test]
fn relay_diffs_from_the_latest_host_or_from_here() {
    for from_here in [false, true] {
        let Some(topo) = netns_topology(3) else { return };
        let work = tempfile::tempdir().unwrap();
        let conf = topo.app_cnf(work.path(), "", &|_| String::new());
        let (want_seq, want_sum) = lagging(&topo);
        kill_master_as_a_crash(&topo);
        // The latest replica (replica 1) cannot reach replica 2's address;
        // replica 3 becomes the new master, which both still reach.
        let o = topo
            .in_netns(1, "ip")
            .args(["route", "add", "unreachable", &format!("{}/32", topo.host_ip(2))])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let nm = format!("--new-master={}:3306", topo.host_ip(3));
        let mut args = vec!["--push-binary", &nm];
        if from_here {
            args.push("--apply-from=here");
        }
        let (code, out) = hidden_failover(&topo, &conf, &args);
        eprintln!("{out}");
        assert_eq!(code, 0, "{out}");
        let line = |r: usize| {
            let p = format!("  server{}(", r + 1);
            out.lines().find(|l| l.starts_with(&p) && l.contains("applied")).unwrap_or("")
        };
        if from_here {
            assert!(!out.contains("straight to each replica"), "{out}");
            assert!(line(3).contains("its diff fetched in"), "{out}");
        } else {
            assert!(out.contains("straight to each replica"), "{out}");
            assert!(line(3).contains("from the latest replica's host"), "{out}");
            assert!(line(2).contains("cannot reach it") && line(2).contains("its diff fetched in"), "{out}");
        }
        for r in topo.replicas() {
            assert_eq!(topo.committed_seq(r), want_seq, "{} committed sequence", topo.name(r));
            assert_eq!(topo.checksum_tables(r, "bd"), want_sum, "{} checksums", topo.name(r));
        }
    }
}

/// Issue 20: a replica's host cut off (its link taken down) while its
/// phase-4 apply waits on a lock there, once while the latest replica's
/// host applies its relay diff and once while the driver does
/// (`--apply-from here`). The run ends within its bound (it used to take
/// TCP's 154 s, or hang), naming the replica and what it was applying; the
/// others are recovered and follow the new master; exit 10.
#[test]
fn a_target_cut_off_during_phase_4_ends_within_the_bound() {
    for from_here in [false, true] {
        let Some(topo) = netns_topology(3) else { return };
        let work = tempfile::tempdir().unwrap();
        let conf = topo.app_cnf(work.path(), "", &|_| String::new());
        // Replica 3 lags the most: its relay diff writes bd.big (the big transaction).
        let (want_seq, _) = lagging(&topo);
        kill_master_as_a_crash(&topo);
        let cut = 3;
        let log = work.path().join("run.log");
        let mut locker = topo.conn(cut);
        mysql::prelude::Queryable::query_drop(&mut locker, "LOCK TABLES bd.big WRITE").unwrap();
        let mut c = hidden_failover_cmd(&topo, &conf);
        c.args(["--remote-binary", env!("CARGO_BIN_EXE_binlog-diff"), "--mysql-timeout", "5", "--step-timeout", "60"]);
        if from_here {
            c.args(["--apply-from", "here"]);
        }
        let f = std::fs::File::create(&log).unwrap();
        let mut run = c.stdout(f.try_clone().unwrap()).stderr(f).spawn().unwrap();
        let read = || std::fs::read_to_string(&log).unwrap_or_default();
        let waits = poll_until(Duration::from_secs(120), || {
            let q = "SELECT ID FROM information_schema.PROCESSLIST WHERE STATE LIKE 'Waiting for %lock%'";
            (!topo.query_rows(cut, q).is_empty()).then_some(())
        });
        assert!(waits.is_some(), "the apply on {} never waited on the lock: {}", topo.name(cut), read());
        topo.cut_link(cut);
        let t = std::time::Instant::now();
        let code = poll_until(Duration::from_secs(120), || run.try_wait().unwrap().map(|s| s.code()));
        let out = read();
        eprintln!("{out}");
        topo.restore_link(cut);
        drop(locker);
        let code = code.unwrap_or_else(|| {
            let _ = run.kill();
            panic!("from_here={from_here}: no end within 120 s of the cut:\n{out}")
        });
        assert!(t.elapsed() < Duration::from_secs(40), "from_here={from_here}: ended {:?} after the cut", t.elapsed());
        assert_eq!(code, Some(10), "from_here={from_here}: {out}");
        let ip = topo.host_ip(cut);
        let failed = out.lines().find(|l| l.contains("server4") && l.contains("FAILED")).unwrap_or_default();
        assert!(failed.contains("apply failed") && failed.contains(&ip), "from_here={from_here}: {out}");
        for r in [1, 2] {
            assert_eq!(topo.committed_seq(r), want_seq, "from_here={from_here}: {}", topo.name(r));
        }
        let new_master = [1, 2].into_iter().find(|&r| topo.try_slave_status(r).unwrap().is_none()).unwrap();
        let other = 3 - new_master;
        topo.sql(new_master, "INSERT INTO bd.seq VALUES (1000000)");
        let follows =
            poll_until(Duration::from_secs(60), || topo.committed_seq(other).contains(&1000000).then_some(()));
        assert!(follows.is_some(), "from_here={from_here}: {} follows the new master", topo.name(other));
    }
}
