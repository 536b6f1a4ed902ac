//! The real MHA manager (Debian's `mha4mysql-manager` 0.58, unmodified
//! scripts) driving a failover with binlog-diff as its node tools.
//!
//! Set-up, all on loopback and in temp dirs:
//! - a real MariaDB master and three replicas (tests/support/topology.rs);
//! - an OpenSSH server on a free port, key-only login, whose sessions get a
//!   `PATH` that puts a directory of our links (`save_binary_logs`,
//!   `apply_diff_relay_logs`, … → `binlog-diff`) before `/usr/bin`, where
//!   Debian's Perl node tools also live;
//! - an MHA `app.cnf` naming the four servers, with the ssh port, key and
//!   known_hosts file in `ssh_options`.
//!
//! The manager's own Perl is patched for this machine, in a private copy on
//! `PERL5LIB` (tests/support/mha.rs says what and why). Our node side needs
//! no patch.
//!
//! The test runs `masterha_check_ssh` and `masterha_check_repl` while
//! replication runs, makes the replicas stop at different points spanning
//! several master binlog files (one inside a transaction in some scenarios),
//! lets the master write a tail only it has, SIGKILLs it, and runs
//! `masterha_master_switch --master_state=dead --interactive=0`.
//! Pass: the manager reports success; every survivor's tables equal the
//! master's committed state before the kill (CHECKSUM TABLE and the table of
//! committed sequence numbers); the manager log shows our tools ran (lines
//! only binlog-diff prints); and the survivors replicate from the new master.
//!
//! CI runs one scenario (rows, CRC32, lag across several master files, one
//! replica stopped inside a transaction). `BINLOG_DIFF_SLOW=1` runs the
//! matrix: lag inside one master file, STATEMENT format, no checksums, and a
//! partial transaction at the end of the latest replica's relay log.

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use support::mha::{
    Timings, client_bindir, manager, manager_installed, master_switch_dead, patched_manager_perl5lib, timed_tools,
    timings,
};
use support::node::Bin;
use support::process::all_text;
use support::sshd::Sshd;
use support::topology::{BinlogChecksum, BinlogFormat, MASTER, Stop, Topology, TopologyConfig, poll_until};

struct Scenario {
    name: &'static str,
    cfg: TopologyConfig,
    /// Transactions per batch; the last batch only the master gets.
    batches: Vec<usize>,
    /// Replica 1, 2, 3.
    stops: [Stop; 3],
    /// Bytes of big transactions the master writes after the first batch
    /// (a large lag for the replica that stops first).
    big_lag_bytes: usize,
}

/// The manager's configuration for the topology.
fn write_app_cnf(topo: &Topology, sshd: &Sshd, work: &Path, client_bindir: Option<&Path>) -> PathBuf {
    let extra = client_bindir.map(|d| format!("client_bindir={}\n", d.display())).unwrap_or_default();
    topo.app_cnf_via_sshd(work, sshd, &extra)
}

/// What a failover run left behind.
struct Outcome {
    /// The manager exited 0 and printed its success line.
    success: bool,
    /// Its stdout/stderr and log.
    report: String,
    took: Duration,
    new_master: Option<usize>,
    /// Per replica: transactions of the master's committed state it lacks
    /// (or has extra), and whether its checksums equal the master's.
    lost: Vec<(usize, usize, bool)>,
    topo: Topology,
}

/// Sets up the topology and lag of `s`, kills the master, and runs the real
/// manager with the node tools found in `tools` (first on the ssh
/// sessions' PATH); `client_bindir` goes into app.cnf (the Perl tools'
/// mysql/mysqlbinlog).
fn failover(s: &Scenario, tools: &Path, client_bindir: Option<&Path>, work: &Path) -> Option<Outcome> {
    let sshd = Sshd::start(tools)?;
    let perl5lib = patched_manager_perl5lib(work);
    let mut cfg = s.cfg.clone();
    cfg.replicas = 3;
    let topo = Topology::start(cfg);
    let app = write_app_cnf(&topo, &sshd, work, client_bindir);
    let conf = format!("--conf={}", app.display());
    let mut w = topo.workload(23);
    w.run(3);
    topo.wait_replicas_caught_up_running();

    // The manager's checks, while every replica replicates (they fail otherwise).
    let (o, _) = manager("masterha_check_ssh", std::slice::from_ref(&conf), &perl5lib, tools);
    let t = all_text(&o);
    // It exits non-zero even on success ("Use of uninitialized value in exit").
    assert!(t.contains("All SSH connection tests passed successfully."), "{}: masterha_check_ssh:\n{t}", s.name);
    let (o, _) = manager("masterha_check_repl", std::slice::from_ref(&conf), &perl5lib, tools);
    let t = all_text(&o);
    assert!(
        o.status.success() && t.contains("MySQL Replication Health is OK."),
        "{}: masterha_check_repl:\n{t}",
        s.name
    );

    // Lag: replicas stop reading at different points.
    topo.run_with_stops(&mut w, &s.batches, &s.stops, |i, w| {
        if i == 0 && s.big_lag_bytes > 0 {
            // What the replicas that stopped after the first batch lack.
            topo.write_big_lag(w, s.big_lag_bytes);
        }
    });
    let want_seq = topo.committed_seq(MASTER);
    let want_sum = topo.checksum_tables(MASTER, "bd");
    assert_eq!(want_seq.len(), w.committed().len(), "the master committed every transaction");
    let master_files = topo.binary_logs(MASTER).len();
    topo.kill_master();
    // As after a real crash: the IO threads try to reconnect.
    for r in topo.replicas() {
        topo.sql(r, "START SLAVE IO_THREAD");
        topo.wait_sql_idle(r);
        assert_ne!(topo.committed_seq(r), want_seq, "{}: replica {r} must lag", s.name);
    }
    let read: Vec<_> = topo.replicas().map(|r| topo.slave_status(r).read_pos()).collect();
    eprintln!("{}: master wrote {master_files} binlog files; replicas read up to {read:?}", s.name);

    let (o, took, report) = master_switch_dead(&topo, &app, &perl5lib, tools);
    let new_master = topo.replicas().find(|&r| {
        report.contains(&format!("Master failover to 127.0.0.1(127.0.0.1:{}) completed successfully.", topo.port(r)))
    });
    let lost = topo
        .replicas()
        .map(|r| {
            let have = topo.committed_seq(r);
            let diff =
                want_seq.iter().filter(|x| !have.contains(x)).count() + have.len().saturating_sub(want_seq.len());
            (r, diff, topo.checksum_tables(r, "bd") == want_sum)
        })
        .collect();
    Some(Outcome { success: o.status.success() && new_master.is_some(), report, took, new_master, lost, topo })
}

fn run(s: Scenario) {
    if !manager_installed() {
        return;
    }
    let bin = Bin::new();
    let work = tempfile::tempdir().unwrap();
    let Some(out) = failover(&s, bin.dir.path(), None, work.path()) else { return };
    let report = &out.report;
    assert!(out.success, "{}: masterha_master_switch failed:\n{report}", s.name);
    let new_master = out.new_master.unwrap();
    let topo = &out.topo;
    eprintln!(
        "{report}\n{}: masterha_master_switch took {:?}; new master: {}",
        s.name,
        out.took,
        topo.name(new_master)
    );
    // Our tools ran, not Debian's Perl ones: only binlog-diff's applier
    // prints "applied N transactions (M events)"; only the Perl one checks
    // the mysql client's version.
    assert!(
        report.contains(" transactions (") && report.contains(" events) in "),
        "{}: no binlog-diff apply report in the log:\n{report}",
        s.name
    );
    assert!(!report.contains("MySQL client version is"), "{}: a Perl node tool ran:\n{report}", s.name);
    for &(r, lost, same) in &out.lost {
        assert_eq!(lost, 0, "{}: {} lacks {lost} of the master's committed transactions", s.name, topo.name(r));
        assert!(same, "{}: {} checksums differ from the master's", s.name, topo.name(r));
    }
    // The survivors replicate from the new master.
    topo.sql(new_master, "CREATE TABLE bd.after_failover (id INT PRIMARY KEY, v VARCHAR(20))");
    topo.sql(new_master, "INSERT INTO bd.after_failover VALUES (1, 'new master')");
    let want_after = topo.checksum_tables(new_master, "bd");
    for r in topo.replicas().filter(|&r| r != new_master) {
        let st = topo.slave_status(r);
        assert_eq!(st.raw.get("Master_Port").map(String::as_str), Some(&*topo.port(new_master).to_string()));
        let got = poll_until(Duration::from_secs(60), || {
            let st = topo.slave_status(r);
            assert!(st.last_sql_errno == 0 && st.last_io_errno == 0, "{}: {} replication error: {st}", s.name, r);
            let sums = topo.checksum_tables(r, "bd");
            (sums == want_after).then_some(())
        });
        assert!(got.is_some(), "{}: {} does not replicate from the new master", s.name, topo.name(r));
    }
}

fn cfg(format: BinlogFormat, checksum: BinlogChecksum) -> TopologyConfig {
    TopologyConfig { binlog_format: format, binlog_checksum: checksum, max_binlog_size: 16 << 10, ..Default::default() }
}

fn slow() -> bool {
    std::env::var("BINLOG_DIFF_SLOW").is_ok_and(|v| v == "1")
}

/// Lag across several master files, one replica stopped inside a
/// transaction (the manager then also saves its exec→read relay piece).
#[test]
fn manager_failover_rows_across_files() {
    run(Scenario {
        name: "rows-across-files",
        cfg: cfg(BinlogFormat::Row, BinlogChecksum::Crc32),
        batches: vec![20, 15, 20, 10],
        stops: [Stop::After(2), Stop::MidTransaction(1), Stop::After(0)],
        big_lag_bytes: 0,
    });
}

#[test]
fn manager_failover_matrix() {
    if !slow() {
        eprintln!("manager_failover_matrix: set BINLOG_DIFF_SLOW=1 to run it");
        return;
    }
    // Inside one master file.
    let mut one_file = cfg(BinlogFormat::Row, BinlogChecksum::Crc32);
    one_file.max_binlog_size = 64 << 20;
    run(Scenario {
        name: "one-file",
        cfg: one_file,
        batches: vec![10, 10, 10, 5],
        stops: [Stop::After(2), Stop::After(1), Stop::After(0)],
        big_lag_bytes: 0,
    });
    run(Scenario {
        name: "statement-crc32",
        cfg: cfg(BinlogFormat::Statement, BinlogChecksum::Crc32),
        batches: vec![20, 15, 20, 10],
        stops: [Stop::After(2), Stop::After(1), Stop::After(0)],
        big_lag_bytes: 0,
    });
    run(Scenario {
        name: "rows-no-checksum",
        cfg: cfg(BinlogFormat::Row, BinlogChecksum::None),
        batches: vec![20, 15, 20, 10],
        stops: [Stop::After(2), Stop::MidTransaction(1), Stop::After(0)],
        big_lag_bytes: 0,
    });
    // The latest replica's relay log ends inside a transaction: the saved
    // master tail starts in its middle.
    run(Scenario {
        name: "partial-at-latest",
        cfg: cfg(BinlogFormat::Mixed, BinlogChecksum::Crc32),
        batches: vec![20, 15, 20, 10],
        stops: [Stop::MidTransaction(2), Stop::After(1), Stop::After(0)],
        big_lag_bytes: 0,
    });
}

// ---------------------------------------------------------------------------
// Benchmark: the same failover with MHA's Perl node tools and with ours
// (benches/mha_compare.sh runs this in release mode).

/// One benchmark variant: label, success, switch time, transactions missing,
/// differing replicas, node command timings.
type Row = (&'static str, bool, Duration, usize, Vec<String>, Timings);

#[test]
#[ignore = "benchmark: benches/mha_compare.sh"]
fn bench_manager_failover() {
    assert!(manager_installed() && Path::new("/usr/bin/apply_diff_relay_logs").exists(), "MHA not installed");
    let lag: usize = std::env::var("BENCH_LAG_BYTES").ok().and_then(|v| v.parse().ok()).unwrap_or(0);
    let strict_too = std::env::var("BENCH_PERL_AS_PACKAGED").is_ok_and(|v| v == "1");
    let scenario = || Scenario {
        name: if lag > 0 { "large-lag" } else { "rows-across-files" },
        // Realistic file sizes for the large lag (16 KiB would make tens of
        // thousands of relay files).
        cfg: TopologyConfig {
            max_binlog_size: if lag > 0 { 64 << 20 } else { 16 << 10 },
            ..cfg(BinlogFormat::Row, BinlogChecksum::Crc32)
        },
        batches: vec![20, 15, 20, 10],
        stops: [Stop::After(2), Stop::MidTransaction(1), Stop::After(0)],
        big_lag_bytes: lag,
    };
    let bin = Bin::new();
    let mut variants: Vec<(&str, bool, bool)> = vec![("ours", false, false), ("perl", true, true)];
    if strict_too {
        variants.push(("perl-as-packaged", true, false));
    }
    let mut rows: Vec<Row> = Vec::new();
    for (label, perl, skip_strict) in variants {
        let work = tempfile::tempdir().unwrap();
        let w = work.path();
        let timing = w.join("timing");
        let lib = patched_manager_perl5lib(&w.join("node"));
        let real = |t: &str| {
            if perl {
                format!("PERL5LIB='{}' /usr/bin/{t}", lib.display())
            } else {
                format!("'{}'", bin.path(t).display())
            }
        };
        timed_tools(&w.join("tools"), &timing, &real);
        let cb = perl.then(|| {
            client_bindir(&w.join("client"), skip_strict);
            w.join("client")
        });
        let out = failover(&scenario(), &w.join("tools"), cb.as_deref(), w).expect("sshd");
        let lost: usize = out.lost.iter().map(|l| l.1).sum();
        let bad: Vec<String> =
            out.lost.iter().filter(|l| l.1 > 0 || !l.2).map(|l| out.topo.name(l.0).to_string()).collect();
        eprintln!(
            "[{label}] success={} took={:.2}s lost={lost} differing={bad:?}",
            out.success,
            out.took.as_secs_f64()
        );
        if !out.success || !bad.is_empty() {
            eprintln!("[{label}] manager report:\n{}", out.report);
        }
        rows.push((label, out.success, out.took, lost, bad, timings(&timing)));
    }
    println!(
        "\nmasterha_master_switch --master_state=dead, 1 master + 3 replicas, {} (BENCH_LAG_BYTES={lag})",
        scenario().name
    );
    println!("{:<52} {}", "", rows.iter().map(|r| format!("{:>18}", r.0)).collect::<String>());
    let line = |what: &str, f: &dyn Fn(&Row) -> String| {
        println!("{what:<52} {}", rows.iter().map(|r| format!("{:>18}", f(r))).collect::<String>());
    };
    line("manager result", &|r| if r.1 { "success".into() } else { "FAILED".into() });
    line("masterha_master_switch wall time", &|r| format!("{:.2} s", r.2.as_secs_f64()));
    line("transactions missing on survivors", &|r| r.3.to_string());
    let mut keys: Vec<String> = rows.iter().flat_map(|r| r.5.keys().cloned()).collect();
    keys.sort();
    keys.dedup();
    for k in keys {
        line(&k, &|r| match r.5.get(&k) {
            Some((n, ms, fail)) => format!("{n}x {:.2} s{}", *ms as f64 / 1000.0, if *fail > 0 { "!" } else { "" }),
            None => "-".into(),
        });
    }
    if rows.len() >= 2 {
        println!("ratio ours/perl (switch wall time): {:.2}", rows[0].2.as_secs_f64() / rows[1].2.as_secs_f64());
    }
}
