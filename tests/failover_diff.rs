//! Positions and diffs on real servers: a MariaDB master and three replicas
//! that stop reading at different points, a SIGKILLed master, then
//! `Plan::make` (replica states read live over the MySQL protocol), diffs
//! written in parallel, applied with `mariadb-binlog | mariadb` (GTID strict
//! mode on, its default), and every replica checked against the master's
//! committed state (CHECKSUM TABLE and the table of committed sequence
//! numbers). CI runs the scenarios below; `BINLOG_DIFF_SLOW=1` adds the rest
//! of the matrix.

mod support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use binlog_diff::diff::{CutOptions, Plan, PlanInput};
use binlog_diff::log::LogSet;
use binlog_diff::server::status::{Dialect, SourceAddr};
use binlog_diff::server::{ConnSpec, Secret, Server, replica_state};
use support::topology::{
    ADMIN_PASSWORD, ADMIN_USER, BinlogChecksum, BinlogFormat, MASTER, Stop, Topology, TopologyConfig,
};

struct Scenario {
    cfg: TopologyConfig,
    /// Transactions per batch; the master writes every batch, the last one
    /// after every replica has stopped (only the dead master has it).
    batches: Vec<usize>,
    stops: [Stop; 3],
}

fn apply_with_mariadb_binlog(topo: &Topology, replica: usize, diff: &Path) {
    let mut bin = Command::new("mariadb-binlog")
        .arg("--no-defaults")
        .arg(diff)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = Command::new("mariadb")
        .args([
            "--no-defaults",
            "--binary-mode",
            "-h127.0.0.1",
            &format!("-P{}", topo.port(replica)),
            &format!("-u{ADMIN_USER}"),
        ])
        .env("MYSQL_PWD", ADMIN_PASSWORD)
        .stdin(bin.stdout.take().unwrap())
        .output()
        .unwrap();
    let b = bin.wait_with_output().unwrap();
    let berr = String::from_utf8_lossy(&b.stderr);
    assert!(b.status.success() && berr.trim().is_empty(), "mariadb-binlog {}: {berr}", diff.display());
    assert!(out.status.success(), "mariadb: {}", String::from_utf8_lossy(&out.stderr));
}

fn run(s: Scenario) {
    let mut cfg = s.cfg;
    cfg.replicas = 3;
    let topo = Topology::start(cfg);
    let mut w = topo.workload(7);
    let n = s.batches.len();
    let mid_trx = topo.run_with_stops(&mut w, &s.batches, &s.stops, |_, _| {});
    let want_seq = topo.committed_seq(MASTER);
    let want_sum = topo.checksum_tables(MASTER, "bd");
    assert_eq!(want_seq.len(), w.committed().len(), "the master committed every transaction");
    let stops = |r: usize| matches!(s.stops[r - 1], Stop::After(k) | Stop::MidTransaction(k) if k + 1 < n);
    for r in topo.replicas().filter(|&r| !stops(r)) {
        topo.wait_io_read_all(r);
    }
    topo.kill_master();
    for r in topo.replicas() {
        let stops = stops(r);
        topo.wait_sql_idle(r);
        topo.stop_slave(r);
        if stops {
            assert_ne!(topo.committed_seq(r), want_seq, "replica {r} must lag for the scenario to test anything");
        } else {
            assert_eq!(topo.committed_seq(r), want_seq, "replica {r} has everything");
        }
    }

    let replicas = topo
        .replicas()
        .map(|r| {
            let spec = ConnSpec {
                host: Some("127.0.0.1".into()),
                port: Some(topo.port(r)),
                user: Some(ADMIN_USER.into()),
                password: Some(Secret::new(ADMIN_PASSWORD)),
                ..Default::default()
            };
            replica_state(&mut spec.connect().unwrap(), topo.name(r)).unwrap()
        })
        .collect();
    let master_binlogs = LogSet::from_index(&topo.datadir(MASTER).join("mysql-bin.index")).unwrap();
    let mut plan = Plan::make(PlanInput {
        replicas,
        master_binlogs: Some(master_binlogs),
        opts: CutOptions::default(),
        count: true,
    })
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    plan.write(dir.path()).unwrap();
    eprintln!("{}", plan.to_text());
    if !mid_trx.is_empty() && matches!(s.stops[plan.latest], Stop::MidTransaction(_)) {
        assert!(plan.relay_partial.is_some(), "the latest relay log ends inside a transaction");
    }
    for (i, r) in topo.replicas().enumerate() {
        let t = &plan.targets[i];
        assert!(t.diff.left_out.is_none(), "{}: the master tail completes every transaction", t.state.name);
        apply_with_mariadb_binlog(&topo, r, t.file.as_ref().unwrap());
    }
    for r in topo.replicas() {
        assert_eq!(topo.committed_seq(r), want_seq, "replica {r}: committed transactions");
        assert_eq!(topo.checksum_tables(r, "bd"), want_sum, "replica {r}: table checksums");
    }
}

/// `server::Server` on a live master and replica: the dialect, statuses
/// read by either column name, coordinates, GTID waits (reached, and
/// bounded when not), and errors that name the server and the statement
/// and never the replication password.
#[test]
fn server_on_a_live_replica() {
    let topo = Topology::start(TopologyConfig { replicas: 1, ..Default::default() });
    let mut w = topo.workload(3);
    w.run(5);
    topo.wait_replicas_caught_up_running();
    let spec = |s: usize| ConnSpec {
        host: Some("127.0.0.1".into()),
        port: Some(topo.port(s)),
        user: Some(ADMIN_USER.into()),
        password: Some(Secret::new(ADMIN_PASSWORD)),
        ..Default::default()
    };
    let mut m = Server::connect(&spec(MASTER)).unwrap();
    assert_eq!(m.dialect().unwrap(), Dialect::MariaDb);
    let want = topo.master_status(MASTER);
    assert_eq!(m.binlog_coords().unwrap(), Some((want.file.clone(), want.pos)));
    assert_eq!(m.binary_logs().unwrap(), topo.binary_logs(MASTER));
    assert!(m.replica_status().unwrap().is_none(), "the master is no replica");
    let e = m.replica_state().unwrap_err().to_string();
    assert_eq!(e, format!("127.0.0.1:{}: not a replica (no replica status)", topo.port(MASTER)));
    let gtid = m.gtid_binlog_pos().unwrap();
    assert!(gtid.starts_with("0-1-"), "{gtid}");

    let mut r = Server::connect(&spec(1)).unwrap().named(topo.name(1));
    let label = format!("{}(127.0.0.1:{})", topo.name(1), topo.port(1));
    assert_eq!(r.label(), label);
    let st = r.replica_status().unwrap().expect("a replica");
    // A MariaDB row has the old names; the new ones find them too.
    assert_eq!((st.get("Source_Host"), st.get("Master_Host")), ("127.0.0.1", "127.0.0.1"));
    assert_eq!(st.get("Replica_IO_Running"), "Yes");
    let state = r.replica_state().unwrap();
    assert_eq!(state.name, topo.name(1));
    assert_eq!(state.read.to_string(), format!("{}:{}", want.file, want.pos));
    assert_eq!(r.gtid_slave_pos().unwrap(), gtid);
    assert!(r.gtid_wait(&gtid, Duration::from_secs(5)).unwrap(), "reached");
    r.pos_wait(&want.file, want.pos, Duration::from_secs(5)).unwrap();
    let t0 = Instant::now();
    assert!(!r.gtid_wait("0-1-1000000", Duration::from_secs(1)).unwrap(), "never reached");
    assert!(t0.elapsed() < Duration::from_secs(10), "bounded: {:?}", t0.elapsed());

    // A statement the server refuses (a host name longer than 255
    // characters): the error names the server and the statement, with the
    // password hidden.
    r.stop_replica().unwrap();
    let to = SourceAddr {
        host: "h".repeat(300),
        port: 3306,
        user: "repl".into(),
        password: Some(Secret::new("pw-never-shown")),
    };
    let e = r.change_source_to_pos(&to, "mysql-bin.000001", 4).unwrap_err().to_string();
    assert!(e.starts_with(&format!("{label}: CHANGE MASTER TO MASTER_HOST='hhh")), "{e}");
    assert!(e.contains("MASTER_PASSWORD='<secret>'") && !e.contains("pw-never-shown"), "{e}");
    // A view over a connection of our own, with its own label.
    let mut c = spec(MASTER).connect().unwrap();
    let e = Server::over(&mut c, "m").replica_state().unwrap_err().to_string();
    assert_eq!(e, "m: not a replica (no replica status)");
}

fn slow() -> bool {
    std::env::var_os("BINLOG_DIFF_SLOW").is_some()
}

#[test]
fn lag_across_master_files_row_crc32() {
    run(Scenario {
        cfg: TopologyConfig { max_binlog_size: 8 << 10, ..Default::default() },
        batches: vec![20, 20, 20, 15],
        stops: [Stop::After(0), Stop::After(1), Stop::After(2)],
    });
}

#[test]
fn lag_in_one_master_file_statement_none() {
    run(Scenario {
        cfg: TopologyConfig {
            binlog_format: BinlogFormat::Statement,
            binlog_checksum: BinlogChecksum::None,
            max_binlog_size: 64 << 20,
            ..Default::default()
        },
        batches: vec![10, 10, 10, 5],
        stops: [Stop::After(0), Stop::After(1), Stop::After(2)],
    });
}

#[test]
fn latest_relay_log_ends_mid_transaction_mixed() {
    run(Scenario {
        cfg: TopologyConfig { binlog_format: BinlogFormat::Mixed, max_binlog_size: 16 << 10, ..Default::default() },
        batches: vec![15, 15, 10],
        stops: [Stop::After(0), Stop::After(1), Stop::MidTransaction(1)],
    });
}

#[test]
fn one_replica_has_everything() {
    // The master's last batch reaches replica 3 before the crash.
    run(Scenario {
        cfg: TopologyConfig { max_binlog_size: 8 << 10, ..Default::default() },
        batches: vec![10, 10, 10],
        stops: [Stop::After(0), Stop::After(1), Stop::After(5)],
    });
}

#[test]
fn target_stopped_mid_transaction_and_big_transaction_across_relay_files() {
    if !slow() {
        eprintln!("(set BINLOG_DIFF_SLOW=1 to run this scenario)");
        return;
    }
    run(Scenario {
        cfg: TopologyConfig { max_binlog_size: 32 << 10, max_relay_log_size: 4096, ..Default::default() },
        batches: vec![10, 10, 10, 5],
        stops: [Stop::MidTransaction(0), Stop::After(1), Stop::After(2)],
    });
}

#[test]
fn statement_crc32_many_rotations() {
    if !slow() {
        eprintln!("(set BINLOG_DIFF_SLOW=1 to run this scenario)");
        return;
    }
    run(Scenario {
        cfg: TopologyConfig { binlog_format: BinlogFormat::Statement, max_binlog_size: 4096, ..Default::default() },
        batches: vec![30, 30, 30, 30],
        stops: [Stop::After(0), Stop::After(1), Stop::After(2)],
    });
}
