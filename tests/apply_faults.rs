//! The applier under faults (issue 20: no silent loss, no divergence, no
//! hang), on real MariaDB servers.
//!
//! The source is a master's binlog of many one-row transactions into a
//! table without a key, so a transaction applied twice shows as a second
//! row; the value of each row is its GTID's sequence number (0-1-N), so a
//! transaction the applier names can be looked up on the target. Server 1
//! is a fresh twin that gets the master's binlogs.
//!
//! - `--parallel 4`: a worker's connection killed right after its COMMIT
//!   ends the run (bounded) with a prefix committed; `--resume` finishes.
//! - Apply connections have no read timeout (the apply's watchdog judges a
//!   long statement); control connections have the MySQL timeout.

mod support;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use binlog_diff::apply::{self, AfterCommit, ApplyOptions};
use binlog_diff::server::{ConnSpec, Secret};
use mysql::prelude::Queryable;
use support::topology::{ADMIN_PASSWORD, ADMIN_USER, MASTER, Topology, TopologyConfig};

const TARGET: usize = 1;

/// Two independent servers: the master writes, the target gets its binlogs.
fn twins() -> Topology {
    Topology::start(TopologyConfig { replicas: 1, start_replication: false, ..Default::default() })
}

fn spec(topo: &Topology, server: usize) -> ConnSpec {
    ConnSpec {
        host: Some("127.0.0.1".into()),
        port: Some(topo.port(server)),
        user: Some(ADMIN_USER.into()),
        password: Some(Secret::new(ADMIN_PASSWORD)),
        ..Default::default()
    }
}

/// `rows` one-row transactions on the master into `d.t (v)` (no key), each
/// row's value its GTID's sequence number; in STATEMENT format with
/// `statement`. Returns the master's binlogs that hold them.
fn source(topo: &Topology, rows: u64, statement: bool) -> Vec<PathBuf> {
    let mut c = topo.conn(MASTER);
    c.query_drop("CREATE DATABASE d").unwrap();
    c.query_drop("CREATE TABLE d.t (v INT NOT NULL) ENGINE=InnoDB").unwrap();
    if statement {
        c.query_drop("SET SESSION binlog_format='STATEMENT'").unwrap();
    }
    let pos: String = c.query_first("SELECT @@gtid_binlog_pos").unwrap().unwrap();
    let base: u64 = pos.rsplit('-').next().unwrap().parse().unwrap();
    c.query_drop(format!(
        "BEGIN NOT ATOMIC DECLARE i INT DEFAULT {}; WHILE i <= {} DO INSERT INTO d.t VALUES (i); SET i = i + 1; \
         END WHILE; END",
        base + 1,
        base + rows
    ))
    .unwrap();
    c.query_drop("FLUSH BINARY LOGS").unwrap();
    // Not the active binlog: the server still writes to it (a binlog
    // checkpoint, later), which would make it another file for a resume.
    let mut files = topo.binlog_files(MASTER);
    files.pop();
    files
}

/// Rows of `d.t` (0 before the apply created it).
fn rows(topo: &Topology, server: usize) -> u64 {
    let out = topo.try_query(server, "SELECT COUNT(*) FROM d.t");
    out.ok().and_then(|o| o.rows.first()?.first()?.clone()).and_then(|v| v.parse().ok()).unwrap_or(0)
}

/// The target equals the master: every row once.
fn assert_same(topo: &Topology) {
    assert_eq!(rows(topo, TARGET), rows(topo, MASTER), "row counts differ");
    let dup = topo.query_value(TARGET, "SELECT COUNT(*) FROM (SELECT v FROM d.t GROUP BY v HAVING COUNT(*) > 1) x");
    assert_eq!(dup.as_deref(), Some("0"), "a transaction was applied twice");
    assert_eq!(topo.checksum_tables(TARGET, "d"), topo.checksum_tables(MASTER, "d"), "checksums differ");
}

/// `--parallel 4`: a worker's connection is killed right after one of its
/// COMMITs. The worker used to drop every later job it was handed while
/// the others waited for them: a hang. Now the run ends with a prefix of
/// the source committed, naming the transaction it could not run, and
/// `--resume` finishes.
#[test]
fn parallel_worker_killed_after_commit_ends_the_run() {
    let topo = twins();
    // Statement transactions: the worker checks after each commit whether
    // the target binlogged it (its connection is found dead there).
    let files = source(&topo, 400, true);
    let tmp = tempfile::tempdir().unwrap();
    let commits = Arc::new(AtomicU32::new(0));
    let killer = {
        let (opts, commits) = (topo.opts(TARGET), commits.clone());
        AfterCommit(Arc::new(move |id| {
            if commits.fetch_add(1, Ordering::SeqCst) == 50 {
                let mut c = mysql::Conn::new(opts.clone()).unwrap();
                c.query_drop(format!("KILL CONNECTION {id}")).unwrap();
            }
        }))
    };
    let opts = ApplyOptions {
        parallel: 4,
        no_batch: true,
        state_file: Some(tmp.path().join("state.json")),
        after_commit: Some(killer),
        ..Default::default()
    };
    let (tx, rx) = std::sync::mpsc::channel();
    let (sp, f, o) = (spec(&topo, TARGET), files.clone(), opts.clone());
    std::thread::spawn(move || {
        let _ = tx.send(apply::apply(&sp, &f, &o));
    });
    let r = rx.recv_timeout(Duration::from_secs(60)).expect("the parallel apply hung after its worker died");
    let f = r.expect_err("the run went on without a worker");
    eprintln!("{}\n{}", f.error, f.report.to_text());
    let failure = f.report.failure.as_ref().expect("the transaction not run");
    assert!(failure.message.contains("connection was lost after its previous transaction committed"), "{failure:?}");
    // A prefix: the first rows of the source, in order, nothing after a gap.
    let (n, lo, hi): (u64, u64, u64) =
        topo.with_conn(TARGET, |c| c.query_first("SELECT COUNT(*), MIN(v), MAX(v) FROM d.t")).unwrap().unwrap();
    assert!(n > 40 && n < 400, "{n} rows");
    assert_eq!(hi - lo + 1, n, "not a prefix: {n} rows from {lo} to {hi}");
    assert_eq!(lo, topo.query_value(MASTER, "SELECT MIN(v) FROM d.t").unwrap().parse::<u64>().unwrap());
    assert_eq!(failure.trx, format!("GTID 0-1-{}", hi + 1));
    let r = apply::apply(&spec(&topo, TARGET), &files, &ApplyOptions { resume: true, after_commit: None, ..opts })
        .unwrap_or_else(|f| panic!("{}", f.error));
    assert!(r.skipped > 0);
    assert_same(&topo);
}

/// Apply connections have no read timeout (a long statement is the
/// watchdog's to judge); control connections have the MySQL timeout.
#[test]
fn connection_bounds() {
    use std::os::fd::{AsRawFd, BorrowedFd};
    let topo = Topology::start(TopologyConfig { replicas: 0, ..Default::default() });
    let mut s = spec(&topo, MASTER);
    s.timeout = Some(Duration::from_secs(7));
    let read_timeout = |c: &mysql::Conn| {
        // SAFETY: the connection is open while its descriptor is duplicated.
        let fd = unsafe { BorrowedFd::borrow_raw(c.as_raw_fd()) }.try_clone_to_owned().unwrap();
        std::net::TcpStream::from(fd).read_timeout().unwrap()
    };
    assert_eq!(read_timeout(&s.connect().unwrap()), Some(Duration::from_secs(7)));
    assert_eq!(read_timeout(&s.connect_apply().unwrap()), None);
}
