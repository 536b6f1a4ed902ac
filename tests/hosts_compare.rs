//! MHA's real manager (Debian's `mha4mysql-manager` 0.58) and
//! `binlog-diff failover` on the same failover across really separate
//! hosts: every server its own network namespace with its own mariadbd and
//! sshd on port 22 (tests/support/netns.rs), a fresh topology per run, the
//! same seeded workload and lag each time.
//!
//! The scenario is tests/mha_manager.rs's "rows-across-files": 1 master +
//! 3 replicas, 16 KiB binlogs, the replicas stop reading at different
//! points spanning several master binlog files (one inside a
//! transaction), then the master writes a tail only it has and its mysqld
//! is SIGKILLed (its host still answers ssh).
//!
//! - `manager_and_driver_agree_on_netns_hosts` (CI; ~25 s: two netns
//!   topologies, the manager's run ~13 s, ours ~2 s): the scenario failed
//!   over once by `masterha_master_switch --master_state=dead` with
//!   our node tools first on every host's ssh PATH, once by `binlog-diff
//!   failover` (run where every server's files are hidden, so everything it
//!   reads of them comes over ssh). Pass: both succeed and pick the same new
//!   master, and every survivor of both runs has the master's committed
//!   transactions and table checksums from before the kill.
//! - `bench_failover_hosts` (ignored; benches/failover_hosts_compare.sh):
//!   time from the master's SIGKILL to done for the manager with MHA's own
//!   Perl node tools and for our driver, with `BENCH_LAG_BYTES` for a
//!   replica far behind.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use support::drive::{hidden_failover_cmd, kill_master_as_a_crash};
use support::mha::{
    Timings, client_bindir, manager_installed, master_switch_dead, patched_manager_perl5lib, timed_tools, timings,
};
use support::node::Bin;
use support::process::all_text;
use support::topology::{MASTER, SlaveStatus, Stop, Topology, TopologyConfig, poll_until};

/// The workload's seed, the same for every run.
const SEED: u64 = 23;

const BIN: &str = env!("CARGO_BIN_EXE_binlog-diff");

struct Scenario {
    name: &'static str,
    max_binlog_size: u64,
    /// Transactions per batch; the last batch only the master gets.
    batches: Vec<usize>,
    /// Replica 1, 2, 3.
    stops: [Stop; 3],
    /// Bytes of ~4 MiB transactions the master writes after the first
    /// batch (what the replica that stops first lacks on top).
    big_lag_bytes: usize,
}

/// Lag across several master files, replica 2 stopped inside a
/// transaction, replica 3 `lag` bytes further behind (64 MiB binlogs then:
/// 16 KiB would make tens of thousands of files).
fn scenario(lag: usize) -> Scenario {
    Scenario {
        name: if lag > 0 { "large-lag" } else { "rows-across-files" },
        max_binlog_size: if lag > 0 { 64 << 20 } else { 16 << 10 },
        batches: vec![20, 15, 20, 10],
        stops: [Stop::After(2), Stop::MidTransaction(1), Stop::After(0)],
        big_lag_bytes: lag,
    }
}

/// The master's committed state before the kill.
#[derive(Debug, PartialEq)]
struct Want {
    seq: Vec<u64>,
    sums: BTreeMap<String, u64>,
}

/// Until the SQL thread has executed all it read (two equal idle looks),
/// bounded by 10 min (a replica applying hundreds of MB takes a while).
fn wait_applied(topo: &Topology, r: usize) {
    let mut prev = None;
    let idle = poll_until(Duration::from_secs(600), || {
        let s: SlaveStatus = topo.slave_status(r);
        assert_eq!(s.last_sql_errno, 0, "{}: {s}", topo.name(r));
        let cur = (s.read_pos(), s.exec_pos());
        let done = s.sql_yes() && s.sql_idle() && prev.as_ref() == Some(&cur);
        prev = Some(cur);
        done.then_some(())
    });
    assert!(idle.is_some(), "{}: SQL thread still busy after 10 min", topo.name(r));
}

/// A fresh netns topology (the hosts' ssh sessions get `ssh_path` first on
/// PATH) with the scenario's lag; the master still runs.
fn prepare(s: &Scenario, ssh_path: Vec<PathBuf>) -> (Topology, Want) {
    let t0 = Instant::now();
    let topo = Topology::start(TopologyConfig {
        replicas: 3,
        max_binlog_size: s.max_binlog_size,
        netns: true,
        ssh_path,
        ..Default::default()
    });
    let mut w = topo.workload(SEED);
    w.run(3);
    topo.wait_replicas_caught_up_running();
    topo.run_with_stops(&mut w, &s.batches, &s.stops, |i, w| {
        if i == 0 && s.big_lag_bytes > 0 {
            topo.write_big_lag(w, s.big_lag_bytes);
        }
    });
    let want = Want { seq: topo.committed_seq(MASTER), sums: topo.checksum_tables(MASTER, "bd") };
    assert_eq!(want.seq.len(), w.committed().len(), "the master committed every transaction");
    for r in topo.replicas() {
        wait_applied(&topo, r);
        assert_ne!(topo.committed_seq(r), want.seq, "{}: {} must lag", s.name, topo.name(r));
    }
    let read: Vec<String> = topo.replicas().map(|r| topo.slave_status(r).read_pos().to_string()).collect();
    eprintln!(
        "{}: set up in {:.1} s; master wrote {} binlog files, {} transactions; replicas read up to {read:?}",
        s.name,
        t0.elapsed().as_secs_f64(),
        topo.binary_logs(MASTER).len(),
        want.seq.len()
    );
    (topo, want)
}

/// SIGKILLs the master's mysqld (its host stays up) and restarts the
/// replicas' IO threads ("Connecting", as after a real crash). Returns the
/// instant of the kill.
fn kill_master(topo: &Topology) -> Instant {
    let t = Instant::now();
    kill_master_as_a_crash(topo);
    t
}

/// What a failover left behind.
struct Run {
    ok: bool,
    /// Everything it printed (and, for the manager, its log).
    report: String,
    /// From the master's SIGKILL to the failover command's exit.
    kill_to_done: Duration,
    /// The failover command alone.
    command: Duration,
    new_master: Option<usize>,
    /// Per replica: committed sequence numbers and table checksums.
    survivors: Vec<(usize, Vec<u64>, BTreeMap<String, u64>)>,
}

impl Run {
    /// Transactions of the master's committed state a survivor lacks (or
    /// has extra), summed; and the survivors that differ from it.
    fn losses(&self, topo_names: &[String], want: &Want) -> (usize, Vec<String>) {
        let mut missing = 0;
        let mut differ = Vec::new();
        for (r, seq, sums) in &self.survivors {
            let m = want.seq.iter().filter(|x| !seq.contains(x)).count() + seq.len().saturating_sub(want.seq.len());
            missing += m;
            if m > 0 || *sums != want.sums {
                differ.push(topo_names[*r].clone());
            }
        }
        (missing, differ)
    }
}

fn survivors(topo: &Topology) -> Vec<(usize, Vec<u64>, BTreeMap<String, u64>)> {
    topo.replicas().map(|r| (r, topo.committed_seq(r), topo.checksum_tables(r, "bd"))).collect()
}

/// `masterha_master_switch --master_state=dead` with the node tools in
/// `tools` (first on the hosts' ssh PATH, set when the topology started,
/// and on the manager's own PATH).
fn run_manager(topo: &Topology, work: &Path, client_bindir: Option<&Path>, tools: &Path) -> Run {
    let extra = match client_bindir {
        Some(d) => format!("ping_interval=1\nclient_bindir={}\n", d.display()),
        None => "ping_interval=1\n".to_string(),
    };
    let conf = topo.app_cnf(work, &extra, &|_| String::new());
    let perl5lib = patched_manager_perl5lib(&work.join("manager-lib"));
    let killed = kill_master(topo);
    let (o, command, report) = master_switch_dead(topo, &conf, &perl5lib, tools);
    let kill_to_done = killed.elapsed();
    // MHA's Server::get_hostinfo: "hostname(ip:port)".
    let new_master = topo.replicas().find(|&r| {
        let (h, p) = (topo.host_ip(r), topo.port(r));
        report.contains(&format!("Master failover to {h}({h}:{p}) completed successfully."))
    });
    Run {
        ok: o.status.success() && new_master.is_some(),
        report,
        kill_to_done,
        command,
        new_master,
        survivors: survivors(topo),
    }
}

/// `binlog-diff failover`, run where every server's files are hidden (as
/// tests/phase_hosts.rs runs it); `how` says where the remote binary comes
/// from. Writes `work/report.json`.
fn run_driver(topo: &Topology, work: &Path, how: &[&str]) -> Run {
    let conf = topo.app_cnf(work, "ping_interval=1\n", &|_| String::new());
    let mut c = hidden_failover_cmd(topo, &conf);
    c.arg("--workdir").arg(work.join("diffs")).arg("--json").arg(work.join("report.json")).args(how);
    let killed = kill_master(topo);
    let t = Instant::now();
    let o = c.output().unwrap();
    let command = t.elapsed();
    let kill_to_done = killed.elapsed();
    let report = all_text(&o);
    // Servers by their app.cnf section: "server<N>(ip:port)".
    let new_master = topo.replicas().find(|&r| {
        report.contains(&format!(
            "Master failover to server{}({}:{}) completed successfully",
            r + 1,
            topo.host_ip(r),
            topo.port(r)
        ))
    });
    Run {
        ok: o.status.success() && new_master.is_some(),
        report,
        kill_to_done,
        command,
        new_master,
        survivors: survivors(topo),
    }
}

fn names(topo: &Topology) -> Vec<String> {
    topo.servers().map(|s| topo.name(s).to_string()).collect()
}

#[test]
fn manager_and_driver_agree_on_netns_hosts() {
    if !manager_installed() || !support::netns::usable() {
        return;
    }
    let s = scenario(0);
    let bin = Bin::new();

    // 1. The real manager, our node tools first on every host's PATH.
    let work = tempfile::tempdir().unwrap();
    let (topo, want_m) = prepare(&s, vec![bin.dir.path().to_path_buf()]);
    let m = run_manager(&topo, work.path(), None, bin.dir.path());
    eprintln!("{}\nmanager: masterha_master_switch took {:.1} s", m.report, m.command.as_secs_f64());
    assert!(m.ok, "masterha_master_switch failed:\n{}", m.report);
    // Our tools ran, not Debian's Perl ones (see tests/mha_manager.rs).
    assert!(
        m.report.contains(" transactions (") && m.report.contains(" events) in "),
        "no binlog-diff apply report in the manager's log:\n{}",
        m.report
    );
    assert!(!m.report.contains("MySQL client version is"), "a Perl node tool ran:\n{}", m.report);
    let names_m = names(&topo);
    drop(topo);

    // 2. Our driver, on a fresh topology.
    let work = tempfile::tempdir().unwrap();
    let (topo, want_d) = prepare(&s, Vec::new());
    let d = run_driver(&topo, work.path(), &["--remote-binary", BIN]);
    eprintln!("{}\ndriver: binlog-diff failover took {:.1} s", d.report, d.command.as_secs_f64());
    assert!(d.ok, "binlog-diff failover failed:\n{}", d.report);
    let names_d = names(&topo);
    drop(topo);

    // Same seed, same lag: the same committed state before the kill.
    assert_eq!(want_m, want_d, "the two runs' masters differ before the kill");
    assert_eq!(
        m.new_master.map(|r| &names_m[r]),
        d.new_master.map(|r| &names_d[r]),
        "the manager and the driver chose different new masters"
    );
    for (who, run, names) in [("manager", &m, &names_m), ("driver", &d, &names_d)] {
        for (r, seq, sums) in &run.survivors {
            assert_eq!(*seq, want_m.seq, "{who}: {} committed transactions", names[*r]);
            assert_eq!(*sums, want_m.sums, "{who}: {} table checksums", names[*r]);
        }
    }
}

// ---------------------------------------------------------------------------
// Benchmark (benches/failover_hosts_compare.sh runs it in release mode).

/// One variant's results.
struct Row {
    label: &'static str,
    run: Run,
    missing: usize,
    differ: Vec<String>,
    new_master: String,
    /// Extra lines of the table: (what, value).
    detail: Vec<(String, String)>,
}

/// MHA's top-level phases from its log ("<date> HH:MM:SS <year> - [info] *
/// Phase N: Name.."), 1 s resolution: (label, seconds to the next phase or
/// to the success line).
fn mha_phases(log: &str) -> Vec<(String, u64)> {
    let secs = |line: &str| -> Option<u64> {
        let head = line.split(" - [").next()?;
        let t = head.split_whitespace().find(|w| w.matches(':').count() == 2)?;
        let v: Vec<u64> = t.split(':').map(|x| x.parse().ok()).collect::<Option<_>>()?;
        Some(v[0] * 3600 + v[1] * 60 + v[2])
    };
    let mut starts: Vec<(String, u64)> = Vec::new();
    let mut end = None;
    for l in log.lines() {
        if let Some(i) = l.find("* Phase ") {
            let rest = &l[i + 8..];
            let (num, name) = rest.split_once(':').unwrap_or((rest, ""));
            if !num.contains('.')
                && let Some(t) = secs(l)
                && !starts.iter().any(|(n, _)| n.starts_with(&format!("{num} ")))
            {
                starts.push((format!("{num} {}", name.trim().trim_end_matches('.')), t));
            }
        } else if l.contains("completed successfully.") && l.contains("Master failover to") {
            end = secs(l);
        }
    }
    let mut out = Vec::new();
    for (i, (n, t)) in starts.iter().enumerate() {
        let next = starts.get(i + 1).map(|x| x.1).or(end).unwrap_or(*t);
        out.push((n.clone(), (next + 86_400 - t) % 86_400));
    }
    out
}

#[test]
#[ignore = "benchmark: benches/failover_hosts_compare.sh"]
fn bench_failover_hosts() {
    assert!(manager_installed() && Path::new("/usr/bin/apply_diff_relay_logs").exists(), "MHA not installed");
    support::netns::available().expect("network namespaces");
    let lag: usize = std::env::var("BENCH_LAG_BYTES").ok().and_then(|v| v.parse().ok()).unwrap_or(0);
    let push_too = std::env::var("BENCH_PUSH").as_deref() != Ok("0");
    let s = scenario(lag);
    let mut rows: Vec<Row> = Vec::new();
    let mut want_first: Option<Want> = None;
    let mut variants = vec!["MHA + Perl node", "ours --remote-binary", "ours --parallel 1"];
    if push_too {
        variants.push("ours --push-binary");
    }
    if std::env::var("BENCH_HERE").as_deref() == Ok("1") {
        // The diffs brought to the driver, then applied from there.
        variants.push("ours --apply-from here");
    }
    for label in variants {
        let work = tempfile::tempdir().unwrap();
        let w = work.path();
        let mha = label.starts_with("MHA");
        let (row_run, detail, topo_names, want) = if mha {
            // MHA's own node tools, patched to run here, each call timed;
            // mysqlbinlog without GTID strict mode (tests/support/mha.rs).
            let timing = w.join("timing");
            let lib = patched_manager_perl5lib(&w.join("node"));
            timed_tools(&w.join("tools"), &timing, &|t| format!("PERL5LIB='{}' /usr/bin/{t}", lib.display()));
            client_bindir(&w.join("client"), true);
            let (topo, want) = prepare(&s, vec![w.join("tools")]);
            let run = run_manager(&topo, w, Some(&w.join("client")), &w.join("tools"));
            let t: Timings = timings(&timing);
            let mut detail: Vec<(String, String)> = mha_phases(&run.report)
                .into_iter()
                .map(|(n, secs)| (format!("MHA phase {n} (log, 1 s steps)"), format!("~{secs} s")))
                .collect();
            for (k, (n, ms, fail)) in t {
                let f = if fail > 0 { "!" } else { "" };
                detail.push((format!("node: {k}"), format!("{n}x {:.2} s{f}", ms as f64 / 1000.0)));
            }
            (run, detail, names(&topo), want)
        } else {
            let how: &[&str] = if label.ends_with("--push-binary") {
                &["--push-binary"]
            } else if label.contains("--apply-from here") {
                &["--remote-binary", BIN, "--apply-from", "here"]
            } else if label.ends_with("--parallel 1") {
                &["--remote-binary", BIN, "--parallel", "1"]
            } else {
                &["--remote-binary", BIN]
            };
            let (topo, want) = prepare(&s, Vec::new());
            let run = run_driver(&topo, w, how);
            let doc: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(w.join("report.json")).unwrap_or_default())
                    .unwrap_or_default();
            let mut detail = Vec::new();
            for p in doc["phases"].as_array().into_iter().flatten() {
                let (n, secs) = (p["phase"].as_str().unwrap_or("?"), p["seconds"].as_f64().unwrap_or(f64::NAN));
                detail.push((format!("ours: {n}"), format!("{secs:.2} s")));
            }
            // Its own account of each step's time (cut, tail, fetch, apply).
            for l in run.report.lines() {
                eprintln!("[{label}] {l}");
            }
            (run, detail, names(&topo), want)
        };
        let (missing, differ) = row_run.losses(&topo_names, &want);
        eprintln!(
            "[{label}] ok={} kill->done={:.2}s command={:.2}s missing={missing} differing={differ:?}",
            row_run.ok,
            row_run.kill_to_done.as_secs_f64(),
            row_run.command.as_secs_f64()
        );
        if !row_run.ok || !differ.is_empty() {
            eprintln!("[{label}] report:\n{}", row_run.report);
        }
        match &want_first {
            None => want_first = Some(want),
            Some(w0) => {
                if *w0 != want {
                    eprintln!("[{label}] NOTE: the master's state before the kill differs from the first run's");
                }
            }
        }
        let new_master = row_run.new_master.map_or("-".to_string(), |r| format!("server{}", r + 1));
        rows.push(Row { label, run: row_run, missing, differ, new_master, detail });
    }

    println!(
        "\nfailover across 4 netns hosts (1 master + 3 replicas), {}, BENCH_LAG_BYTES={lag}, max_binlog_size={}",
        s.name, s.max_binlog_size
    );
    let width = 24;
    println!("{:<58}{}", "", rows.iter().map(|r| format!("{:>width$}", r.label)).collect::<String>());
    let line = |what: &str, f: &dyn Fn(&Row) -> String| {
        println!("{what:<58}{}", rows.iter().map(|r| format!("{:>width$}", f(r))).collect::<String>());
    };
    line("result", &|r| if r.run.ok { "success".into() } else { "FAILED".into() });
    line("wall time, master SIGKILL -> done", &|r| format!("{:.2} s", r.run.kill_to_done.as_secs_f64()));
    line("  of which the failover command", &|r| format!("{:.2} s", r.run.command.as_secs_f64()));
    line("ratio to MHA (kill -> done)", &|r| {
        format!("{:.2}", r.run.kill_to_done.as_secs_f64() / rows[0].run.kill_to_done.as_secs_f64())
    });
    line("new master", &|r| r.new_master.clone());
    line("transactions missing on survivors", &|r| r.missing.to_string());
    line("survivors differing from the master", &|r| {
        if r.differ.is_empty() { "none".into() } else { r.differ.join(",") }
    });
    let mut keys: Vec<String> = Vec::new();
    for r in &rows {
        for (k, _) in &r.detail {
            if !keys.contains(k) {
                keys.push(k.clone());
            }
        }
    }
    for k in keys {
        line(&k, &|r| r.detail.iter().find(|d| d.0 == k).map_or("-".into(), |d| d.1.clone()));
    }
}
