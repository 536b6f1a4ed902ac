//! The applier under faults (issue 20: no silent loss, no divergence, no
//! hang), on real MariaDB servers.
//!
//! The source is a master's binlog of many one-row transactions into a
//! table without a key, so a transaction applied twice shows as a second
//! row; the value of each row is its GTID's sequence number (0-1-N), so a
//! transaction the applier names can be looked up on the target. Server 1
//! is a fresh twin that gets the master's binlogs.
//!
//! - `--disable-log-bin` (no GTID check): the apply SIGKILLed mid-way, then
//!   `--resume`: the target ends equal to the master (or the resume names
//!   the transaction in doubt, and settles it when told); the finished diff
//!   applied again is refused.
//! - A state file with a transaction in doubt is refused until the
//!   operator says what became of it.
//! - SIGINT (`--parallel 4`, no GTID check): a clean stop that prints where
//!   and how to resume; the state is exact; the printed command completes
//!   the apply.
//! - `--parallel 4`: a worker's connection killed right after its COMMIT
//!   ends the run (bounded) with a prefix committed; `--resume` finishes.
//! - A target frozen with SIGSTOP: `--mysql-timeout 3` ends the apply well
//!   within a minute naming host and step; `--resume` finishes after SIGCONT.
//! - `--deadline` while a table lock held by another session blocks the
//!   apply: it ends at the deadline; `--resume` finishes after the unlock.

mod support;

use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use binlog_diff::apply::{self, AfterCommit, ApplyOptions, InDoubt, ResumeState};
use binlog_diff::server::{ConnSpec, Secret};
use mysql::prelude::Queryable;
use support::process::Thaw;
use support::topology::{ADMIN_PASSWORD, ADMIN_USER, MASTER, Topology, TopologyConfig, poll_until};

const BIN: &str = env!("CARGO_BIN_EXE_binlog-diff");
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

fn cli_cmd(topo: &Topology, extra: &[&str], files: &[PathBuf]) -> Command {
    let mut c = Command::new(BIN);
    c.arg("apply")
        .args(["--host", "127.0.0.1", "-P", &topo.port(TARGET).to_string(), "-u", ADMIN_USER])
        .args(extra)
        .args(files)
        .env("MYSQL_PWD", ADMIN_PASSWORD)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

fn show(what: &str, out: &Output) {
    eprintln!(
        "{what} -> {:?}\n--- stdout\n{}--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn cli(topo: &Topology, extra: &[&str], files: &[PathBuf]) -> Output {
    let child = cli_cmd(topo, extra, files).spawn().unwrap();
    let out = wait_bounded(child, Duration::from_secs(120));
    show(&format!("apply {extra:?}"), &out);
    out
}

/// The child's output once it ends; killed (and the test failed) if it
/// runs longer than `bound`.
fn wait_bounded(mut child: Child, bound: Duration) -> Output {
    let t0 = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if t0.elapsed() > bound {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            show("killed", &out);
            panic!("the apply did not end within {bound:?} (a hang)");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Waits until the target has at least `n` rows (the apply is mid-way).
fn wait_rows(topo: &Topology, n: u64) {
    poll_until(Duration::from_secs(60), || (rows(topo, TARGET) >= n).then_some(()))
        .unwrap_or_else(|| panic!("the target never reached {n} rows"));
}

fn send(pid: u32, sig: i32) {
    // SAFETY: kill(2) on a process this test started (or its server).
    assert_eq!(unsafe { libc::kill(pid as i32, sig) }, 0, "kill({pid}, {sig})");
}

/// The `0-1-N` GTID named in `text` (its sequence number).
fn named_gtid(text: &str) -> u64 {
    let at = text.find("GTID 0-1-").expect("a GTID named") + "GTID 0-1-".len();
    text[at..].chars().take_while(char::is_ascii_digit).collect::<String>().parse().unwrap()
}

/// The scenario: no GTID check on the target (`--disable-log-bin`),
/// the apply SIGKILLed mid-way, then `--resume`. The old batched state said
/// less than had committed and the resume applied those again (duplicate
/// rows, exit 0); now the state is exact: the target ends equal to the
/// master, or the resume names the one transaction in doubt and settles it
/// as told. Then the finished diff applied again is refused.
#[test]
fn disable_log_bin_killed_then_resume_never_applies_twice() {
    let topo = twins();
    let files = source(&topo, 5000, false);
    let tmp = tempfile::tempdir().unwrap();
    let st = tmp.path().join("state.json");
    let st = st.to_str().unwrap();
    let mut child = cli_cmd(&topo, &["--disable-log-bin", "--state-file", st], &files).spawn().unwrap();
    wait_rows(&topo, 1000);
    child.kill().unwrap();
    show("killed mid-way", &child.wait_with_output().unwrap());
    let had = rows(&topo, TARGET);
    assert!(had < 5000, "the apply finished before the kill: {had} rows");

    let out = cli(&topo, &["--disable-log-bin", "--state-file", st, "--resume"], &files);
    if !out.status.success() {
        // The only acceptable refusal: the kill came between an intent and its commit.
        let err = stderr(&out);
        assert!(err.contains("was being committed when the last run stopped"), "{err}");
        assert!(err.contains(st), "the state file is not named: {err}");
        let k = named_gtid(&err);
        let there = topo.query_value(TARGET, format!("SELECT COUNT(*) FROM d.t WHERE v = {k}")).unwrap();
        let flag = if there == "1" { "--resume-assume-committed" } else { "--resume-assume-rolled-back" };
        let out = cli(&topo, &["--disable-log-bin", "--state-file", st, "--resume", flag], &files);
        assert!(out.status.success());
    }
    assert_same(&topo);

    // The finished diff again: refused, naming the state file; nothing applied.
    let out = cli(&topo, &["--disable-log-bin", "--state-file", st], &files);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains(st) && err.contains("records 5002 transactions of these files as applied"), "{err}");
    assert!(err.contains("--again"), "{err}");
    assert_same(&topo);
}

/// A state whose last transaction is in doubt (its COMMIT was sent, the
/// run died before the answer) is refused, naming it, until the operator
/// says whether it committed; each answer then gives the master's rows.
#[test]
fn transaction_in_doubt_is_refused_until_settled() {
    let topo = twins();
    let files = source(&topo, 10, false);
    let tmp = tempfile::tempdir().unwrap();
    let st = tmp.path().join("state.json");
    let opts = ApplyOptions { disable_log_bin: true, state_file: Some(st.clone()), ..Default::default() };
    let r = apply::apply(&spec(&topo, TARGET), &files, &opts).unwrap_or_else(|f| panic!("{}", f.error));
    assert_eq!(r.transactions, 12);
    let done = ResumeState::load(&st).unwrap().unwrap();
    let k = done.last_gtid.as_deref().unwrap().rsplit('-').next().unwrap().parse::<u64>().unwrap();
    // Where the last transaction starts: its GTID event.
    let file = files[done.file].file_name().unwrap().to_str().unwrap().to_string();
    let start = topo
        .binlog_events(MASTER, &file, None)
        .into_iter()
        .find(|e| e.event_type == "Gtid" && e.info.contains(&format!("0-1-{k}")))
        .expect("its GTID event")
        .pos;
    let in_doubt = |p: &ResumeState| ResumeState {
        transactions: p.transactions - 1,
        offset: start,
        last_gtid: Some(format!("0-1-{}", k - 1)),
        in_doubt: Some(InDoubt {
            n: p.transactions,
            file: p.file,
            offset: start,
            end_file: p.file,
            end_offset: p.offset,
            trx: format!("GTID 0-1-{k}"),
            gtid: Some(format!("0-1-{k}")),
        }),
        ..p.clone()
    };
    let base = ["--disable-log-bin", "--state-file", st.to_str().unwrap(), "--resume"];

    // It did not commit.
    topo.sql(TARGET, format!("SET sql_log_bin=0; DELETE FROM d.t WHERE v = {k}; SET sql_log_bin=1"));
    in_doubt(&done).save(&st).unwrap();
    let out = cli(&topo, &base, &files);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    for want in [
        format!("transaction 12 of these files, GTID 0-1-{k}"),
        format!("{} @ {start}", files[done.file].display()),
        "--resume-assume-committed".into(),
        "--resume-assume-rolled-back".into(),
        st.display().to_string(),
    ] {
        assert!(err.contains(&want), "lacks {want:?}: {err}");
    }
    assert_eq!(rows(&topo, TARGET), 9, "the refused resume applied something");
    let out = cli(&topo, &[&base[..], &["--resume-assume-rolled-back"]].concat(), &files);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("applied 1 transactions"));
    assert_same(&topo);

    // It did commit.
    in_doubt(&done).save(&st).unwrap();
    let out = cli(&topo, &[&base[..], &["--resume-assume-committed"]].concat(), &files);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("applied 0 transactions"));
    assert_same(&topo);
}

/// SIGINT mid-way (a parallel apply without a GTID check: its state must
/// be exact too): exit 130, where it stopped and the exact command to
/// resume are printed, and that command completes the apply.
#[test]
fn sigint_stops_cleanly_and_prints_the_resume_command() {
    let topo = twins();
    let files = source(&topo, 3000, false);
    let tmp = tempfile::tempdir().unwrap();
    let st = tmp.path().join("state.json");
    let args = ["--disable-log-bin", "--parallel", "4", "--state-file", st.to_str().unwrap()];
    let child = cli_cmd(&topo, &args, &files).spawn().unwrap();
    wait_rows(&topo, 600);
    send(child.id(), libc::SIGINT);
    let out = wait_bounded(child, Duration::from_secs(30));
    show("SIGINT", &out);
    assert_eq!(out.status.code(), Some(130));
    let err = stderr(&out);
    let stopped = err.lines().find(|l| l.contains("stopped at")).expect("where it stopped");
    let p = ResumeState::load(&st).unwrap().unwrap();
    assert!(p.exact && p.in_doubt.is_none(), "{p:?}");
    assert_eq!(p.transactions, rows(&topo, TARGET) + 2, "the state is not exact");
    for want in [format!("@ {}", p.offset), format!("{} transactions", p.transactions), "last GTID 0-1-".into()] {
        assert!(stopped.contains(&want), "lacks {want:?}: {stopped}");
    }
    let cmd = err.lines().find_map(|l| l.split_once("to resume: ")).expect("a resume command").1;
    assert!(cmd.contains("--resume") && !cmd.contains(ADMIN_PASSWORD), "{cmd}");
    let out = Command::new("sh").arg("-c").arg(cmd).env("MYSQL_PWD", ADMIN_PASSWORD).output().unwrap();
    show("the printed resume command", &out);
    assert!(out.status.success());
    assert_same(&topo);
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

/// A target frozen (SIGSTOP) in the middle of an apply: with
/// `--mysql-timeout 3` the apply ends within seconds (it used to wait
/// forever), non-zero, naming the host and the transaction; after SIGCONT
/// `--resume` completes to the master's state.
#[test]
fn frozen_target_ends_the_apply_within_the_mysql_timeout() {
    let topo = twins();
    let files = source(&topo, 5000, false);
    let tmp = tempfile::tempdir().unwrap();
    let st = tmp.path().join("state.json");
    let st = st.to_str().unwrap();
    let pid = topo.pid(TARGET).unwrap();
    let args = ["--no-batch", "--mysql-timeout", "3", "--state-file", st];
    let child = cli_cmd(&topo, &args, &files).spawn().unwrap();
    wait_rows(&topo, 1000);
    send(pid, libc::SIGSTOP);
    let thaw = Thaw(pid);
    let t0 = Instant::now();
    let out = wait_bounded(child, Duration::from_secs(60));
    let took = t0.elapsed();
    show("frozen target", &out);
    assert!(took < Duration::from_secs(25), "took {took:?}");
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    let line = err.lines().find(|l| l.contains("apply failed")).expect("an error line");
    for want in [format!("127.0.0.1:{}", topo.port(TARGET)), "MySQL timeout of 3s".into(), "GTID 0-1-".into()] {
        assert!(line.contains(&want), "lacks {want:?}: {line}");
    }
    assert!(err.contains("to resume:"), "{err}");
    drop(thaw);
    let out = cli(&topo, &["--resume", "--no-batch", "--state-file", st], &files);
    assert!(out.status.success());
    assert_same(&topo);
}

/// `--deadline` while another session holds `LOCK TABLES … WRITE` on the
/// table the apply writes: the apply ends at the deadline with a clear
/// error (our session's lock wait is bounded too, so nothing of ours waits
/// on the server afterwards); after the unlock `--resume` completes.
#[test]
fn deadline_ends_an_apply_blocked_on_a_table_lock() {
    let topo = twins();
    let files = source(&topo, 5000, false);
    let tmp = tempfile::tempdir().unwrap();
    let st = tmp.path().join("state.json");
    let st = st.to_str().unwrap();
    let t0 = Instant::now();
    let child = cli_cmd(&topo, &["--no-batch", "--deadline", "8", "--state-file", st], &files).spawn().unwrap();
    wait_rows(&topo, 200);
    let mut locker = topo.conn(TARGET);
    locker.query_drop("LOCK TABLES d.t WRITE").unwrap();
    // (Only the lock's holder can read the table now.)
    let held: u64 = locker.query_first("SELECT COUNT(*) FROM d.t").unwrap().unwrap();
    let out = wait_bounded(child, Duration::from_secs(60));
    let took = t0.elapsed();
    show("deadline", &out);
    assert!(took >= Duration::from_secs(8) && took < Duration::from_secs(20), "took {took:?}");
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    let line = err.lines().find(|l| l.contains("apply failed")).expect("an error line");
    assert!(line.contains("deadline of 8s") && line.contains("GTID 0-1-"), "{line}");
    // Nothing of ours still waits on the lock (killed on the server, not left waiting).
    let waiting = "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE STATE LIKE '%lock%' \
                   AND ID <> CONNECTION_ID()";
    poll_until(Duration::from_secs(5), || (topo.query_value(TARGET, waiting).as_deref() == Some("0")).then_some(()))
        .expect("a session of the apply still waits on the lock");
    locker.query_drop("UNLOCK TABLES").unwrap();
    assert_eq!(rows(&topo, TARGET), held);
    let out = cli(&topo, &["--resume", "--no-batch", "--state-file", st], &files);
    assert!(out.status.success());
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
