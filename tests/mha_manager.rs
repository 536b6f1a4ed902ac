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
//! `PERL5LIB` (the system files are never touched): `MHA::NodeUtil`'s
//! version parsing dies on current Perl ("Redundant argument in sprintf":
//! `sprintf('%03d%03d%03d', @all_numbers_of_the_version)`), so the copy
//! takes only the first three (two) numbers; and `MHA::SlaveUtil`'s
//! `SELECT @@global.super_read_only` (absent on MariaDB) is wrapped so that
//! an error means "off". Our node side needs no patch.
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

mod common;
mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::node::{Bin, Sshd, whoami};
use support::topology::{
    ADMIN_PASSWORD, ADMIN_USER, BinlogChecksum, BinlogFormat, MASTER, REPL_PASSWORD, REPL_USER, Topology,
    TopologyConfig, poll_until,
};

/// How a replica stops reading from the master.
#[derive(Clone, Copy, Debug)]
enum Stop {
    /// After the master's k-th batch, on a transaction boundary.
    After(usize),
    /// Inside a big transaction written after batch k.
    MidTransaction(usize),
}

struct Scenario {
    name: &'static str,
    cfg: TopologyConfig,
    /// Transactions per batch; the last batch only the master gets.
    batches: Vec<usize>,
    /// Replica 1, 2, 3.
    stops: [Stop; 3],
}

fn manager_installed() -> bool {
    let ok = ["/usr/bin/masterha_master_switch", "/usr/share/perl5/MHA/MasterFailover.pm"]
        .iter()
        .all(|p| Path::new(p).exists());
    // CI installs it (scripts/test.sh): there, its absence is a failure.
    assert!(ok || std::env::var_os("CI").is_none(), "mha4mysql-manager is not installed (CI)");
    if !ok {
        eprintln!("\n!!!!!!!! SKIPPED: mha4mysql-manager not installed (scripts/test.sh installs it) !!!!!!!!\n");
    }
    ok
}

/// Private copies of the manager-side Perl modules that do not survive this
/// machine (see the module docs), first on `PERL5LIB`.
fn patched_manager_perl5lib(dir: &Path) -> PathBuf {
    let lib = dir.join("perl5");
    std::fs::create_dir_all(lib.join("MHA")).unwrap();
    let patch = |module: &str, edits: &[(&str, &str)]| {
        let text = std::fs::read_to_string(format!("/usr/share/perl5/MHA/{module}")).unwrap();
        let mut fixed = text.clone();
        for (from, to) in edits {
            assert!(fixed.contains(from), "MHA/{module} no longer has the line this test patches: {from}");
            fixed = fixed.replace(from, to);
        }
        std::fs::write(lib.join("MHA").join(module), fixed).unwrap();
    };
    patch(
        "NodeUtil.pm",
        &[
            (
                "sprintf( '%03d%03d%03d', $str =~ m/(\\d+)/g )",
                "sprintf( '%03d%03d%03d', ( $str =~ m/(\\d+)/g )[0,1,2] )",
            ),
            ("sprintf( '%03d%03d', $str =~ m/(\\d+)/g )", "sprintf( '%03d%03d', ( $str =~ m/(\\d+)/g )[0,1] )"),
        ],
    );
    patch(
        "BinlogManager.pm",
        &[("sprintf( '%03d%03d', $str =~ m/(\\d+)/g )", "sprintf( '%03d%03d', ( $str =~ m/(\\d+)/g )[0,1] )")],
    );
    patch(
        "SlaveUtil.pm",
        &[(
            "  $sth->execute();\n  my $href = $sth->fetchrow_hashref;\n  if ( $href->{Value} == '1' ) {",
            "  # MariaDB has no super_read_only: an error means off.\n  eval { $sth->execute(); };\n  return (0, 0) if ($@);\n  my $href = $sth->fetchrow_hashref;\n  if ( $href->{Value} == '1' ) {",
        )],
    );
    lib
}

/// The manager's configuration for the topology.
fn write_app_cnf(topo: &Topology, sshd: &Sshd, work: &Path) -> PathBuf {
    let mut cnf = format!(
        "[server default]\nuser={ADMIN_USER}\npassword={ADMIN_PASSWORD}\nrepl_user={REPL_USER}\nrepl_password={REPL_PASSWORD}\n\
         ssh_user={}\nssh_port={}\nssh_options=-i {} -o UserKnownHostsFile={} -o IdentitiesOnly=yes\n\
         manager_workdir={w}/manager\nmanager_log={w}/manager/manager.log\nping_interval=1\n\n",
        whoami(),
        sshd.port,
        sshd.key().display(),
        sshd.known_hosts().display(),
        w = work.display(),
    );
    for s in topo.servers() {
        cnf += &format!(
            "[server{}]\nhostname=127.0.0.1\nport={}\nremote_workdir={}/{}/mha-work\nmaster_binlog_dir={}\n\n",
            s + 1,
            topo.port(s),
            work.display(),
            topo.name(s),
            topo.datadir(s).display(),
        );
    }
    let p = work.join("app.cnf");
    std::fs::create_dir_all(work.join("manager")).unwrap();
    std::fs::write(&p, cnf).unwrap();
    p
}

/// Runs a manager script with the patched modules; PATH puts our links
/// first, as on the database hosts (the manager runs `apply_diff_relay_logs
/// --version` locally too).
fn manager(script: &str, args: &[String], perl5lib: &Path, bin: &Bin) -> (Output, Duration) {
    let path = format!("{}:{}", bin.dir.path().display(), std::env::var("PATH").unwrap_or_default());
    let t0 = Instant::now();
    let o = Command::new(format!("/usr/bin/{script}"))
        .args(args)
        .env("PERL5LIB", perl5lib)
        .env("PATH", path)
        .output()
        .unwrap();
    (o, t0.elapsed())
}

fn all_text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn run(s: Scenario) {
    if !manager_installed() {
        return;
    }
    let bin = Bin::new();
    let Some(sshd) = Sshd::start(bin.dir.path()) else { return };
    let work = tempfile::tempdir().unwrap();
    let perl5lib = patched_manager_perl5lib(work.path());
    let mut cfg = s.cfg;
    cfg.replicas = 3;
    let topo = Topology::start(cfg);
    let app = write_app_cnf(&topo, &sshd, work.path());
    let conf = format!("--conf={}", app.display());
    let mut w = topo.workload(23);
    w.run(3);
    topo.wait_replicas_caught_up_running();

    // The manager's checks, while every replica replicates (they fail otherwise).
    let (o, _) = manager("masterha_check_ssh", std::slice::from_ref(&conf), &perl5lib, &bin);
    let t = all_text(&o);
    // It exits non-zero even on success ("Use of uninitialized value in exit").
    assert!(t.contains("All SSH connection tests passed successfully."), "{}: masterha_check_ssh:\n{t}", s.name);
    let (o, _) = manager("masterha_check_repl", std::slice::from_ref(&conf), &perl5lib, &bin);
    let t = all_text(&o);
    assert!(
        o.status.success() && t.contains("MySQL Replication Health is OK."),
        "{}: masterha_check_repl:\n{t}",
        s.name
    );

    // Lag: replicas stop reading at different points.
    let n = s.batches.len();
    for (i, &batch) in s.batches.iter().enumerate() {
        w.run(batch);
        if i + 1 == n {
            break; // the last batch only the master gets
        }
        for (r, stop) in s.stops.iter().enumerate() {
            match *stop {
                Stop::After(k) if k == i => {
                    topo.catch_up_then_stop_io(r + 1);
                }
                Stop::MidTransaction(k) if k == i => {
                    topo.stop_io_thread_mid_transaction(r + 1, &mut w, 256 << 10, 16 << 10);
                }
                _ => {}
            }
        }
    }
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

    let dead = [
        "--master_state=dead".to_string(),
        "--dead_master_host=127.0.0.1".into(),
        "--dead_master_ip=127.0.0.1".into(),
        format!("--dead_master_port={}", topo.port(MASTER)),
        "--interactive=0".into(),
        conf.clone(),
    ];
    let (o, took) = manager("masterha_master_switch", &dead, &perl5lib, &bin);
    let log = std::fs::read_to_string(work.path().join("manager/manager.log")).unwrap_or_default();
    let report = format!("{}\n--- manager.log ---\n{log}", all_text(&o));
    assert!(o.status.success(), "{}: masterha_master_switch failed:\n{report}", s.name);
    let new_master = topo
        .replicas()
        .find(|&r| {
            report
                .contains(&format!("Master failover to 127.0.0.1(127.0.0.1:{}) completed successfully.", topo.port(r)))
        })
        .unwrap_or_else(|| panic!("{}: no success line:\n{report}", s.name));
    eprintln!("{report}\n{}: masterha_master_switch took {took:?}; new master: {}", s.name, topo.name(new_master));
    // Our tools ran, not Debian's Perl ones: only binlog-diff's applier
    // prints "applied N transactions (M events)"; only the Perl one checks
    // the mysql client's version.
    assert!(
        report.contains(" transactions (") && report.contains(" events) in "),
        "{}: no binlog-diff apply report in the log:\n{report}",
        s.name
    );
    assert!(!report.contains("MySQL client version is"), "{}: a Perl node tool ran:\n{report}", s.name);

    for r in topo.replicas() {
        assert_eq!(topo.committed_seq(r), want_seq, "{}: {} committed sequence", s.name, topo.name(r));
        assert_eq!(topo.checksum_tables(r, "bd"), want_sum, "{}: {} checksums", s.name, topo.name(r));
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
    });
    run(Scenario {
        name: "statement-crc32",
        cfg: cfg(BinlogFormat::Statement, BinlogChecksum::Crc32),
        batches: vec![20, 15, 20, 10],
        stops: [Stop::After(2), Stop::After(1), Stop::After(0)],
    });
    run(Scenario {
        name: "rows-no-checksum",
        cfg: cfg(BinlogFormat::Row, BinlogChecksum::None),
        batches: vec![20, 15, 20, 10],
        stops: [Stop::After(2), Stop::MidTransaction(1), Stop::After(0)],
    });
    // The latest replica's relay log ends inside a transaction: the saved
    // master tail starts in its middle.
    run(Scenario {
        name: "partial-at-latest",
        cfg: cfg(BinlogFormat::Mixed, BinlogChecksum::Crc32),
        batches: vec![20, 15, 20, 10],
        stops: [Stop::MidTransaction(2), Stop::After(1), Stop::After(0)],
    });
}
