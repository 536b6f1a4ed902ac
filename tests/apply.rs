//! `binlog-diff apply` against real MariaDB servers.
//!
//! Twins: two fresh servers get the same master binlogs, one through our
//! applier, the other through `mariadb-binlog --skip-gtid-strict-mode | mariadb`
//! (password through MYSQL_PWD, never argv); every table's CHECKSUM and the
//! GTID state must be identical. Then failure cases: a duplicate key in the
//! middle of a transaction (rolled back, named, then `--resume`), a cut diff
//! (the trailing partial transaction is not applied), a killed connection,
//! double-apply protection, safety checks, and the password never on argv.

mod support;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use binlog_diff::apply::{self, ApplyOptions, TrxOutcome, Verification};
use binlog_diff::server::{ConnSpec, Secret};
use support::topology::{ADMIN_PASSWORD, ADMIN_USER, MASTER, Topology, TopologyConfig, poll_until};

const BIN: &str = env!("CARGO_BIN_EXE_binlog-diff");

fn fixture_dir(scenario: &str) -> PathBuf {
    support::testdata_dir().join("mariadb").join(scenario).join("master")
}

/// The master binlogs of a fixture scenario, in index order.
fn master_binlogs(scenario: &str) -> Vec<PathBuf> {
    let dir = fixture_dir(scenario);
    let idx = std::fs::read_to_string(dir.join("mysql-bin.index")).unwrap();
    idx.lines().filter(|l| !l.trim().is_empty()).map(|l| dir.join(Path::new(l.trim()).file_name().unwrap())).collect()
}

/// Two independent servers (no replication): MASTER (0) and 1.
fn twins() -> Topology {
    twins_in(support::topology::BinlogFormat::Row)
}

/// Twins that log in `format`.
fn twins_in(format: support::topology::BinlogFormat) -> Topology {
    Topology::start(TopologyConfig {
        replicas: 1,
        start_replication: false,
        binlog_format: format,
        ..Default::default()
    })
}

fn spec(topo: &Topology, server: usize) -> ConnSpec {
    ConnSpec {
        host: Some("127.0.0.1".into()),
        port: Some(topo.port(server)),
        socket: None,
        user: Some(ADMIN_USER.into()),
        password: Some(Secret::new(ADMIN_PASSWORD)),
        timeout: None,
    }
}

fn opts_in(dir: &Path) -> ApplyOptions {
    ApplyOptions { state_file: Some(dir.join("state.json")), ..Default::default() }
}

/// Our CLI, password in MYSQL_PWD.
fn cli(topo: &Topology, server: usize, extra: &[&str], files: &[PathBuf]) -> Output {
    let out = cli_cmd(topo, server, extra, files).output().expect("run binlog-diff");
    eprintln!(
        "binlog-diff apply {extra:?} -> {:?}\n--- stdout\n{}--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn cli_cmd(topo: &Topology, server: usize, extra: &[&str], files: &[PathBuf]) -> Command {
    let mut c = Command::new(BIN);
    c.arg("apply")
        .args(["--host", "127.0.0.1", "-P", &topo.port(server).to_string(), "-u", ADMIN_USER])
        .args(extra)
        .args(files)
        .env("MYSQL_PWD", ADMIN_PASSWORD)
        .stdin(Stdio::null());
    c
}

/// The reference: `mariadb-binlog --skip-gtid-strict-mode FILES | mariadb`.
fn mariadb_binlog_pipe(topo: &Topology, server: usize, files: &[PathBuf]) {
    let mut dump = Command::new("mariadb-binlog")
        .arg("--no-defaults")
        .arg("--skip-gtid-strict-mode")
        .args(files)
        .stdout(Stdio::piped())
        .spawn()
        .expect("mariadb-binlog");
    let client = Command::new("mariadb")
        .args(["--no-defaults", "--host=127.0.0.1", &format!("--port={}", topo.port(server)), "--user=root"])
        .env("MYSQL_PWD", ADMIN_PASSWORD)
        .stdin(dump.stdout.take().unwrap())
        .output()
        .expect("mariadb");
    assert!(dump.wait().unwrap().success(), "mariadb-binlog failed");
    assert!(client.status.success(), "mariadb client failed: {}", String::from_utf8_lossy(&client.stderr));
}

fn user_schemas(topo: &Topology, server: usize) -> Vec<String> {
    topo.query_rows(
        server,
        "SELECT schema_name FROM information_schema.schemata WHERE schema_name NOT IN \
         ('mysql','information_schema','performance_schema','sys','test') ORDER BY 1",
    )
    .into_iter()
    .filter_map(|r| r[0].clone())
    .collect()
}

/// Every user table's checksum, by `schema.table`.
fn all_checksums(topo: &Topology, server: usize) -> BTreeMap<String, u64> {
    let mut m = BTreeMap::new();
    for s in user_schemas(topo, server) {
        for (t, sum) in topo.checksum_tables(server, &s) {
            m.insert(format!("{s}.{t}"), sum);
        }
    }
    m
}

fn gtid_state(topo: &Topology, server: usize) -> (String, String) {
    (topo.variable(server, "gtid_binlog_pos"), topo.variable(server, "gtid_binlog_state"))
}

fn assert_twins_equal(topo: &Topology) {
    let a = all_checksums(topo, MASTER);
    let b = all_checksums(topo, 1);
    assert!(!a.is_empty(), "nothing applied");
    assert_eq!(a, b, "table checksums differ (ours vs mariadb-binlog | mariadb)");
    assert_eq!(gtid_state(topo, MASTER), gtid_state(topo, 1), "GTID state differs");
}

/// Applies a fixture to twins that log as the fixture's master did.
fn twin_scenario(scenario: &str) {
    use support::topology::BinlogFormat;
    let format = match scenario {
        "stmt-none" => BinlogFormat::Statement,
        s if s.starts_with("mixed") => BinlogFormat::Mixed,
        _ => BinlogFormat::Row,
    };
    let files = master_binlogs(scenario);
    let topo = twins_in(format);
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state.json");
    let out = cli(&topo, MASTER, &["--state-file", state.to_str().unwrap()], &files);
    assert!(out.status.success(), "apply failed");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("verified:"), "{stdout}");
    mariadb_binlog_pipe(&topo, 1, &files);
    assert_twins_equal(&topo);
}

#[test]
fn twins_row_crc32() {
    twin_scenario("row-crc32");
}

#[test]
fn twins_stmt_none() {
    twin_scenario("stmt-none");
}

#[test]
fn twins_mixed_master_none() {
    twin_scenario("mixed-master-none-replica-crc32");
}

#[test]
fn twins_mixed_master_crc32() {
    twin_scenario("mixed-master-crc32-replica-none");
}

#[test]
fn twins_compressed() {
    twin_scenario("compressed");
}

#[test]
fn twins_big_transaction() {
    twin_scenario("big-trx-relay");
}

/// The library API end to end, report contents included, on the statement
/// fixture (user variables, RAND, INSERT_ID, latin1 and non-UTF-8 text).
#[test]
fn library_report_and_non_utf8_text() {
    let files = master_binlogs("stmt-none");
    let topo = twins();
    let tmp = tempfile::tempdir().unwrap();
    // Over our own connection: its session must come back as it was.
    use mysql::prelude::Queryable;
    let mut conn = topo.conn(MASTER);
    let probe = "SELECT @@session.server_id, @@session.gtid_domain_id, @@session.pseudo_slave_mode, \
                 @@session.sql_mode, @@session.character_set_client, @@session.collation_connection, \
                 @@session.time_zone, @@session.auto_increment_increment, @@session.pseudo_thread_id, \
                 @@session.sql_log_bin, @@session.foreign_key_checks, @a IS NULL, @n IS NULL";
    let before: Vec<Option<String>> =
        conn.query_first::<mysql::Row, _>(probe).unwrap().unwrap().unwrap().iter().map(val).collect();
    let r = apply::apply_with_conn(&mut conn, "twin A", &files, &opts_in(tmp.path())).unwrap();
    assert_eq!(r.transactions, 15, "{}", r.to_text());
    assert_eq!(r.files.len(), 2);
    assert_eq!(r.files.iter().map(|f| f.transactions).sum::<u64>(), 15);
    assert!(matches!(r.verification, Verification::Verified(_)), "{:?}", r.verification);
    assert_eq!(r.last_gtids, vec!["0-1-15".to_string()]);
    // `DELETE … WHERE id = 1` matches no row: a ROW-format target writes
    // nothing for it, so its GTID cannot be in the target's state.
    assert_eq!(r.not_binlogged, vec!["0-1-15".to_string()]);
    let after: Vec<Option<String>> =
        conn.query_first::<mysql::Row, _>(probe).unwrap().unwrap().unwrap().iter().map(val).collect();
    assert_eq!(before, after, "session settings not restored");
    let ts: String = conn.query_first("SELECT @@session.timestamp - UNIX_TIMESTAMP(NOW(6))").unwrap().unwrap();
    assert!(ts.parse::<f64>().unwrap().abs() < 60.0, "timestamp still pinned: {ts}");
    // The raw latin1 bytes arrived as latin1 characters.
    let hex = topo.query_value(MASTER, "SELECT GROUP_CONCAT(HEX(txt) ORDER BY id) FROM fx.l1").unwrap();
    assert!(hex.contains("636166E9"), "caf\\xe9 -> {hex}");
    assert!(hex.contains("6E61EF766520A9"), "na\\xefve \\xa9 -> {hex}");
    mariadb_binlog_pipe(&topo, 1, &files);
    assert_twins_equal(&topo);
}

/// Duplicate key in the middle of a transaction: non-zero exit, the error
/// names file, offset, event type, GTID and the server error; nothing of
/// the transaction stays; after fixing the conflict `--resume` completes.
#[test]
fn duplicate_key_rolls_back_then_resume() {
    let files = master_binlogs("row-crc32");
    let topo = twins();
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state.json");
    let st = state.to_str().unwrap();
    // First file applies cleanly.
    assert!(cli(&topo, MASTER, &["--state-file", st], &files[..1]).status.success());
    // A conflicting row (not binlogged) for the INSERT of GTID 0-1-12.
    topo.sql(MASTER, "SET sql_log_bin=0; INSERT INTO fx.t1 (id, name) VALUES (9, 'conflict'); SET sql_log_bin=1");
    let state2 = tmp.path().join("state2.json");
    let st2 = state2.to_str().unwrap();
    let out = cli(&topo, MASTER, &["--state-file", st2], &files[1..]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    let line = err.lines().find(|l| l.contains("apply failed")).expect("error line");
    for want in [
        files[1].to_str().unwrap(),
        "@ 974",
        "WRITE_ROWS_EVENT_V1",
        "GTID 0-1-12",
        "1062",
        "Duplicate entry",
        "rolled back",
    ] {
        assert!(line.contains(want), "error line lacks {want:?}: {line}");
    }
    assert_eq!(err.lines().filter(|l| l.contains("apply failed")).count(), 1);
    // Nothing of 0-1-12 stays: its UPDATE (flag=2) and DELETE (id 4) were rolled back.
    assert_eq!(topo.query_value(MASTER, "SELECT flag FROM fx.t1 WHERE id = 1").as_deref(), Some("0"));
    assert_eq!(topo.query_value(MASTER, "SELECT COUNT(*) FROM fx.t1 WHERE id = 4").as_deref(), Some("1"));
    assert_eq!(topo.variable(MASTER, "gtid_binlog_pos"), "0-1-11");

    // Fix and resume.
    topo.sql(MASTER, "SET sql_log_bin=0; DELETE FROM fx.t1 WHERE id = 9; SET sql_log_bin=1");
    let out = cli(&topo, MASTER, &["--state-file", st2, "--resume"], &files[1..]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("applied 2 transactions"));
    mariadb_binlog_pipe(&topo, 1, &files);
    assert_twins_equal(&topo);

    // Re-running without --resume refuses to apply twice; with --resume it skips all.
    let out = cli(&topo, MASTER, &["--no-state-file"], &files);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("already applied"));
    let st3 = tmp.path().join("state3.json");
    let out = cli(&topo, MASTER, &["--state-file", st3.to_str().unwrap(), "--resume"], &files);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("skipped 13 already applied"));
    assert_twins_equal(&topo);
}

/// A diff cut inside a transaction: the complete ones are applied, the
/// trailing partial transaction is not, and the result says so.
#[test]
fn truncated_diff_leaves_partial_transaction_out() {
    let topo = twins();
    let tmp = tempfile::tempdir().unwrap();

    // A real crashed master: the last event (XID of 0-1-6) is cut.
    let dir = fixture_dir("crashed-master");
    let files = vec![dir.join("mysql-bin.000001"), dir.join("mysql-bin.000002.truncated")];
    let failure = apply::apply(&spec(&topo, MASTER), &files, &opts_in(tmp.path())).unwrap_err();
    let r = &failure.report;
    assert_eq!(r.transactions, 5, "{}", r.to_text());
    let lo = r.left_out.as_ref().expect("left out");
    assert_eq!(lo.offset, 994);
    assert_eq!(lo.events, 7);
    assert!(r.failure.is_none());
    assert!(failure.error.to_string().contains("NOT applied"), "{}", failure.error);
    assert!(r.to_text().contains("NOT applied: incomplete transaction"), "{}", r.to_text());
    assert_eq!(topo.variable(MASTER, "gtid_binlog_pos"), "0-1-5");
    // 0-1-6 deleted id 2 and changed id 3: neither happened.
    assert_eq!(topo.query_value(MASTER, "SELECT COUNT(*) FROM fx.k WHERE id = 2").as_deref(), Some("1"));
    assert_eq!(topo.query_value(MASTER, "SELECT v FROM fx.k WHERE id = 3").as_deref(), Some("three"));

    // A diff cut on an event boundary in the middle of the multi-statement
    // transaction 0-1-5 of row-crc32 (CLI: exit 1, report says so).
    let src = master_binlogs("row-crc32");
    let data = std::fs::read(&src[0]).unwrap();
    let cut_at = event_offsets(&data).into_iter().find(|&o| o > 1520 && o < 2000).expect("an event inside 0-1-5");
    let cut = tmp.path().join("cut.bin");
    std::fs::write(&cut, &data[..cut_at as usize]).unwrap();
    let out = cli(&topo, 1, &["--no-state-file"], std::slice::from_ref(&cut));
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("applied 4 transactions"), "{stdout}");
    assert!(stdout.contains("NOT applied: incomplete transaction"), "{stdout}");
    assert_eq!(topo.variable(1, "gtid_binlog_pos"), "0-1-4");
    assert_eq!(topo.query_value(1, "SELECT COUNT(*) FROM fx.t1").as_deref(), Some("1"));
    // Cut in the middle of an event, with --allow-partial-tail: exit 0, still reported.
    let cut2 = tmp.path().join("cut2.bin");
    std::fs::write(&cut2, &data[..cut_at as usize + 10]).unwrap();
    let st3 = tmp.path().join("state3.json");
    let out = cli(&topo, 1, &["--state-file", st3.to_str().unwrap(), "--resume", "--allow-partial-tail"], &[cut2]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("NOT applied: incomplete transaction"));
    assert_eq!(topo.variable(1, "gtid_binlog_pos"), "0-1-4");

    // The other end: a diff that starts inside 0-1-5 (magic + FDE, then the
    // events from the middle of the transaction on) is refused as a whole,
    // before anything is applied: its first commit would commit half a
    // transaction.
    let fde_end = event_offsets(&data)[1] as usize;
    let mut tail = data[..fde_end].to_vec();
    tail.extend_from_slice(&data[cut_at as usize..]);
    let mid = tmp.path().join("mid.bin");
    std::fs::write(&mid, &tail).unwrap();
    let fresh = all_checksums(&topo, MASTER);
    let out = cli(&topo, MASTER, &["--no-state-file"], std::slice::from_ref(&mid));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("starts inside a transaction"));
    assert_eq!(all_checksums(&topo, MASTER), fresh, "something was applied");
}

fn val(v: &mysql::Value) -> Option<String> {
    match v {
        mysql::Value::NULL => None,
        mysql::Value::Bytes(b) => Some(String::from_utf8_lossy(b).into_owned()),
        other => Some(other.as_sql(true)),
    }
}

/// Offsets of the events of a binlog (walk by event_size).
fn event_offsets(data: &[u8]) -> Vec<u64> {
    let mut out = Vec::new();
    let mut p = 4usize;
    while p + 19 <= data.len() {
        out.push(p as u64);
        let size = u32::from_le_bytes(data[p + 9..p + 13].try_into().unwrap()) as usize;
        p += size;
    }
    out
}

/// The apply connection is killed while it waits for a row lock: clear
/// error, the open transaction is rolled back by the server, `--resume`
/// completes. Meanwhile the password is not on the child's command line.
#[test]
fn killed_connection_is_a_clear_error_and_password_stays_off_argv() {
    let files = master_binlogs("row-crc32");
    let topo = twins();
    let tmp = tempfile::tempdir().unwrap();
    let st = tmp.path().join("state.json");
    let st = st.to_str().unwrap();
    assert!(cli(&topo, MASTER, &["--state-file", st], &files[..1]).status.success());

    // Hold the row 0-1-12 updates first.
    let mut locker = topo.conn(MASTER);
    use mysql::prelude::Queryable;
    locker.query_drop("BEGIN").unwrap();
    locker.query_drop("SELECT * FROM fx.t1 WHERE id = 1 FOR UPDATE").unwrap();

    let st2 = tmp.path().join("state2.json");
    let mut child = cli_cmd(&topo, MASTER, &["--state-file", st2.to_str().unwrap()], &files[1..])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Our statement waits on the lock; find its connection.
    let id = poll_until(Duration::from_secs(30), || {
        topo.query_rows(
            MASTER,
            "SELECT ID FROM information_schema.PROCESSLIST WHERE INFO LIKE 'BINLOG%' AND ID <> CONNECTION_ID()",
        )
        .into_iter()
        .next()
        .and_then(|r| r[0].clone())
    })
    .expect("the applier's blocked statement");
    // The password is in the environment only, never on the command line.
    let cmdline = std::fs::read(format!("/proc/{}/cmdline", child.id())).unwrap();
    assert!(!cmdline.windows(ADMIN_PASSWORD.len()).any(|w| w == ADMIN_PASSWORD.as_bytes()));
    assert!(String::from_utf8_lossy(&cmdline).contains("apply"));

    topo.sql(MASTER, format!("KILL {id}"));
    let t0 = Instant::now();
    let out = loop {
        if let Some(_s) = child.try_wait().unwrap() {
            break child.wait_with_output().unwrap();
        }
        assert!(t0.elapsed() < Duration::from_secs(30), "applier did not stop after KILL");
        std::thread::sleep(Duration::from_millis(20));
    };
    locker.query_drop("ROLLBACK").unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    eprintln!("{err}");
    assert!(!out.status.success());
    let line = err.lines().find(|l| l.contains("apply failed")).expect("error line");
    assert!(line.contains("GTID 0-1-12"), "{line}");
    assert!(line.contains("connection lost"), "{line}");
    assert!(line.contains("rolls it back"), "{line}");
    assert!(!line.contains(ADMIN_PASSWORD));
    // Nothing of 0-1-12.
    assert_eq!(topo.query_value(MASTER, "SELECT flag FROM fx.t1 WHERE id = 1").as_deref(), Some("0"));
    assert_eq!(topo.variable(MASTER, "gtid_binlog_pos"), "0-1-11");
    let out = cli(&topo, MASTER, &["--state-file", st2.to_str().unwrap(), "--resume"], &files[1..]);
    assert!(out.status.success());
    mariadb_binlog_pipe(&topo, 1, &files);
    assert_twins_equal(&topo);
}

/// Safety checks: running replication, wrong server id, wrong GTID position,
/// a server that is gone.
#[test]
fn safety_checks() {
    let files = master_binlogs("row-crc32");
    let topo = Topology::start(TopologyConfig { replicas: 1, ..Default::default() });
    let out = cli(&topo, 1, &["--no-state-file"], &files);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("replication is running"));
    topo.stop_slave(1);
    let out = cli(&topo, 1, &["--no-state-file", "--expect-server-id", "99"], &files);
    assert!(String::from_utf8_lossy(&out.stderr).contains("server_id is 2, expected 99"));
    let out = cli(&topo, 1, &["--no-state-file", "--expect-gtid-pos", "0-1-100"], &files);
    assert!(String::from_utf8_lossy(&out.stderr).contains("expected 0-1-100"));
    assert!(!out.status.success());
    // Nothing was applied by the refused runs.
    assert!(user_schemas(&topo, 1).is_empty());
    let out = cli(&topo, 1, &["--no-state-file", "--expect-server-id", "2"], &files);
    assert!(out.status.success());

    // A server that is gone.
    topo.kill(1);
    let out = cli(&topo, 1, &["--no-state-file"], &files);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot connect"));
}

/// The defaults-file path for the password works, and a password-less run
/// does not leak anything either.
#[test]
fn password_from_defaults_file() {
    let files = master_binlogs("mixed-master-none-replica-crc32");
    let topo = twins();
    let tmp = tempfile::tempdir().unwrap();
    let df = tmp.path().join("my.cnf");
    let mut f = std::fs::File::create(&df).unwrap();
    writeln!(f, "[client]\nuser={ADMIN_USER}\npassword={ADMIN_PASSWORD}").unwrap();
    let out = Command::new(BIN)
        .args(["apply", "--host", "127.0.0.1", "-P", &topo.port(MASTER).to_string()])
        .arg("--defaults-file")
        .arg(&df)
        .arg("--no-state-file")
        .args(&files)
        .env_remove("MYSQL_PWD")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!String::from_utf8_lossy(&out.stdout).contains(ADMIN_PASSWORD));
    // Wrong password: clear error, password not printed.
    let out = cli_cmd(&topo, MASTER, &["--no-state-file"], &files).env("MYSQL_PWD", "wrong-pw-123").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot connect"), "{err}");
    assert!(!err.contains("wrong-pw-123"));
}

/// The resume state file follows commits, and a lagging (batched) state is
/// corrected by the GTID state.
#[test]
fn resume_state_file() {
    let files = master_binlogs("row-crc32");
    let topo = twins();
    let tmp = tempfile::tempdir().unwrap();
    let o = opts_in(tmp.path());
    let r = apply::apply_files(&spec(&topo, MASTER), &files[..1], &o).unwrap();
    assert_eq!(r.transactions, 11);
    let p = apply::ResumeState::load(o.state_file.as_ref().unwrap()).unwrap().unwrap();
    assert!(p.exact);
    assert_eq!(p.transactions, 11);
    assert_eq!(p.last_gtid.as_deref(), Some("0-1-11"));
    assert_eq!(p.offset, std::fs::metadata(&files[0]).unwrap().len() - 47); // before the final ROTATE
    // A stale, non-exact state pointing at the start: GTIDs make resume exact anyway.
    let mut stale = p.clone();
    stale.offset = 0;
    stale.exact = false;
    stale.save(o.state_file.as_ref().unwrap()).unwrap();
    let ro = ApplyOptions { resume: true, ..o.clone() };
    let r = apply::apply_files(&spec(&topo, MASTER), &files[..1], &ro).unwrap();
    assert_eq!((r.transactions, r.skipped), (0, 11));
    // The same files without a state file: refused without --resume (already applied).
    let e =
        apply::apply(&spec(&topo, MASTER), &files[..1], &ApplyOptions { no_state_file: true, ..Default::default() })
            .unwrap_err();
    let f = e.report.failure.as_ref().unwrap();
    assert_eq!(f.outcome, TrxOutcome::NotStarted);
    assert!(f.message.contains("already applied"));
}

/// A seeded workload (multi-statement InnoDB transactions, MyISAM writes,
/// DDL, a prepared XA transaction committed after later transactions, one
/// rolled back, a statement bigger than the target's max_allowed_packet) on
/// a master in `format`; its binlogs applied to a fresh server must give the
/// master's data and GTID position.
fn workload_to_fresh_server(format: support::topology::BinlogFormat, steps: usize) {
    use mysql::prelude::Queryable;
    let topo = Topology::start(TopologyConfig {
        replicas: 1,
        start_replication: false,
        binlog_format: format,
        // the target needs a raised max_allowed_packet for the 3 MiB statement
        replica_options: vec!["--max-allowed-packet=1M".into()],
        ..Default::default()
    });
    let mut w = topo.workload(7);
    w.run_mixed(steps / 2);
    let mut xa = topo.conn(MASTER);
    for q in ["XA START 'w1'", "INSERT INTO bd.seq VALUES (1000001)", "XA END 'w1'", "XA PREPARE 'w1'"] {
        xa.query_drop(q).unwrap();
    }
    let mut xb = topo.conn(MASTER);
    for q in ["XA START 'w2'", "INSERT INTO bd.seq VALUES (1000002)", "XA END 'w2'", "XA PREPARE 'w2'"] {
        xb.query_drop(q).unwrap();
    }
    // Other transactions between the prepares and their ends.
    w.run_mixed(steps / 4);
    xa.query_drop("XA COMMIT 'w1'").unwrap();
    xb.query_drop("XA ROLLBACK 'w2'").unwrap();
    w.big_transaction(200_000);
    w.conn().query_drop("INSERT INTO bd.big (seq_n, chunk) VALUES (0, REPEAT('z', 3 << 20))").unwrap();
    w.run_mixed(steps / 4);
    topo.sql(MASTER, "FLUSH BINARY LOGS");
    let files = topo.binlog_files(MASTER);
    let tmp = tempfile::tempdir().unwrap();
    let t0 = Instant::now();
    let r = apply::apply_files(&spec(&topo, 1), &files, &opts_in(tmp.path())).unwrap_or_else(|e| panic!("{e}"));
    let dt = t0.elapsed();
    eprintln!("{}", r.to_text());
    eprintln!(
        "[apply] {:?}: {} transactions, {} events in {:.2}s ({:.0} trx/s)",
        format,
        r.transactions,
        r.events,
        dt.as_secs_f64(),
        r.transactions as f64 / dt.as_secs_f64()
    );
    assert!(matches!(r.verification, Verification::Verified(_)), "{:?}", r.verification);
    assert_eq!(topo.checksum_differences(MASTER, 1, "bd"), Vec::<String>::new());
    assert_eq!(topo.variable(MASTER, "gtid_binlog_pos"), topo.variable(1, "gtid_binlog_pos"));
    assert_eq!(topo.query_value(1, "SELECT COUNT(*) FROM bd.seq WHERE n = 1000001").as_deref(), Some("1"));
    assert_eq!(topo.query_value(1, "SELECT COUNT(*) FROM bd.seq WHERE n = 1000002").as_deref(), Some("0"));
    assert!(topo.query_rows(1, "XA RECOVER").is_empty(), "a prepared XA transaction was left behind");
    // The raised global max_allowed_packet was put back.
    assert_eq!(topo.query_value(1, "SELECT @@global.max_allowed_packet"), Some((1 << 20).to_string()));
}

#[test]
fn workload_row() {
    workload_to_fresh_server(support::topology::BinlogFormat::Row, 600);
}

#[test]
fn workload_statement() {
    workload_to_fresh_server(support::topology::BinlogFormat::Statement, 300);
}

#[test]
fn workload_mixed() {
    workload_to_fresh_server(support::topology::BinlogFormat::Mixed, 300);
}

/// `--disable-log-bin`: the data arrives, the target's binlog gets nothing,
/// and the GTID check is reported as impossible (not as a success or failure).
#[test]
fn disable_log_bin() {
    let files = master_binlogs("row-crc32");
    let topo = twins();
    let before = topo.master_status(MASTER);
    let o = ApplyOptions { disable_log_bin: true, no_state_file: true, ..Default::default() };
    let r = apply::apply_files(&spec(&topo, MASTER), &files, &o).unwrap();
    assert_eq!(r.transactions, 13);
    assert!(matches!(r.verification, Verification::Unverifiable(_)), "{:?}", r.verification);
    assert_eq!(topo.master_status(MASTER), before, "the target binlogged something");
    assert_eq!(topo.variable(MASTER, "gtid_binlog_pos"), "");
    mariadb_binlog_pipe(&topo, 1, &files);
    assert_eq!(all_checksums(&topo, MASTER), all_checksums(&topo, 1));
}

/// The dry run (`--print-sql`) over every fixture binlog, MySQL ones
/// included: GTID_NEXT for MySQL GTIDs (tagged too), BEGIN/BINLOG/COMMIT for
/// compressed transaction payloads, refusals named with their event.
#[test]
fn print_sql_over_fixtures() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<PathBuf> = Vec::new();
    for s in ["row-crc32", "stmt-none", "mixed-master-none-replica-crc32", "compressed", "big-trx-relay"] {
        files.extend(master_binlogs(s));
    }
    let shared = root.join("../shared/testdata");
    let list = std::fs::read_to_string(root.join("testdata/fixtures.list")).unwrap();
    for l in list.lines().filter(|l| l.starts_with("public/")) {
        let p = shared.join(l.trim());
        if p.exists() {
            files.push(p);
        }
    }
    let mut refused = BTreeMap::new();
    let mut outputs = BTreeMap::new();
    for f in &files {
        let out = Command::new(BIN).args(["apply", "--print-sql"]).arg(f).output().unwrap();
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        if out.status.success() {
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            assert!(text.starts_with("DELIMITER /*!*/;\n") && text.ends_with("DELIMITER ;\n"), "{name}");
            outputs.insert(name, text);
        } else {
            refused.insert(name, String::from_utf8_lossy(&out.stderr).into_owned());
        }
    }
    eprintln!("refused: {refused:#?}");
    // Every refusal names a file, an offset and a reason.
    for (n, e) in &refused {
        assert!(e.contains(" @ "), "{n}: {e}");
    }
    if let Some(t) = outputs.get("transaction_compression.000001") {
        assert!(t.contains("BEGIN/*!*/;\nBINLOG '"), "{t}");
        assert!(t.contains("COMMIT/*!*/;"), "{t}");
    }
    if let Some(t) = outputs.get("binlog_transaction_with_GTID_TAG.000001") {
        assert!(t.contains("SET @@SESSION.GTID_NEXT='55778904-0299-11f1-b1b8-4ef0c4956feb:mytag:3'"), "{t}");
        assert!(t.contains("SET @@SESSION.GTID_NEXT='AUTOMATIC'"), "{t}");
    }
    let stmt = &outputs["mysql-bin.000001"];
    assert!(stmt.contains("BINLOG '"));
    // stmt-none: user variables, RAND, INSERT_ID, the session context.
    let out = Command::new(BIN).args(["apply", "--print-sql"]).args(master_binlogs("stmt-none")).output().unwrap();
    let t = String::from_utf8_lossy(&out.stdout);
    for want in [
        "SET @`a`:=_latin1 X'7573657220766172' COLLATE `latin1_swedish_ci`/*!*/;",
        "SET @`n`:=42/*!*/;",
        "SET @`d`:=1.5/*!*/;",
        "SET @`nul`:=NULL/*!*/;",
        "SET @@RAND_SEED1=778863845, @@RAND_SEED2=802464253/*!*/;",
        "SET LAST_INSERT_ID=23/*!*/;",
        "@@session.time_zone='+05:30'",
        "@@session.sql_mode=4718598",
        "@@session.auto_increment_increment=5, @@session.auto_increment_offset=3",
        "@@session.character_set_client=8, @@session.collation_connection=8, @@session.collation_server=45",
        "SET @@session.gtid_domain_id=0, @@session.server_id=1, @@session.gtid_seq_no=1/*!*/;",
    ] {
        assert!(t.contains(want), "missing {want:?}");
    }
    // The raw latin1 byte is passed through untouched.
    assert!(out.stdout.windows(6).any(|w| w == b"caf\xe9')"));
}

/// LOAD DATA in STATEMENT format (BEGIN_LOAD_QUERY, APPEND_BLOCK,
/// EXECUTE_LOAD_QUERY): the file's blocks are served to the target through
/// LOCAL INFILE from memory, as mysqlbinlog does with a temp file.
#[test]
fn load_data_statement_format() {
    let topo = Topology::start(TopologyConfig {
        replicas: 1,
        start_replication: false,
        binlog_format: support::topology::BinlogFormat::Statement,
        ..Default::default()
    });
    let csv = topo.root().join("load.csv");
    let mut text = String::new();
    for i in 0..20_000 {
        text.push_str(&format!("{i}\tvalue {i} é ✓\t{}\n", i * 7));
    }
    std::fs::write(&csv, &text).unwrap(); // ~400 KB: several APPEND_BLOCK events
    let small = topo.root().join("small.csv");
    std::fs::write(&small, "5\treplaced\t0\n20001\tnew\t1\n").unwrap();
    topo.sql(
        MASTER,
        "CREATE DATABASE ld; CREATE TABLE ld.t (id INT PRIMARY KEY, v VARCHAR(40), n INT) CHARSET utf8mb4",
    );
    topo.sql(MASTER, format!("LOAD DATA INFILE '{}' INTO TABLE ld.t CHARACTER SET utf8mb4 (id, v, n)", csv.display()));
    topo.sql(MASTER, format!("LOAD DATA INFILE '{}' REPLACE INTO TABLE ld.t CHARACTER SET utf8mb4", small.display()));
    topo.sql(MASTER, "FLUSH BINARY LOGS");
    let files = topo.binlog_files(MASTER);
    let names: Vec<String> =
        topo.binlog_events(MASTER, "mysql-bin.000001", None).into_iter().map(|e| e.event_type.clone()).collect();
    assert!(names.iter().any(|n| n == "Append_block"), "no APPEND_BLOCK in {names:?}");
    let tmp = tempfile::tempdir().unwrap();
    let r = apply::apply_files(&spec(&topo, 1), &files, &opts_in(tmp.path())).unwrap_or_else(|e| panic!("{e}"));
    assert!(matches!(r.verification, Verification::Verified(_)), "{:?}", r.verification);
    assert_eq!(topo.checksum_differences(MASTER, 1, "ld"), Vec::<String>::new());
    assert_eq!(topo.query_value(1, "SELECT v FROM ld.t WHERE id = 5").as_deref(), Some("replaced"));
    assert_eq!(topo.query_value(1, "SELECT COUNT(*) FROM ld.t").as_deref(), Some("20001"));
}

/// What [`apply_second_file_blocked`] leaves running.
struct Blocked {
    /// Holds the row lock the applier waits for.
    locker: mysql::Conn,
    /// The applier, blocked inside its first transaction of the second file.
    child: std::process::Child,
    /// Its state file.
    st2: String,
}

/// Applies the first file, then starts the CLI on the rest while another
/// session holds a row lock it needs (optionally with a global
/// `innodb_lock_wait_timeout` first); returns once the applier is blocked.
fn apply_second_file_blocked(
    topo: &Topology,
    files: &[PathBuf],
    tmp: &Path,
    lock_wait_timeout: Option<u32>,
) -> Blocked {
    use mysql::prelude::Queryable;
    let st = tmp.join("state.json").to_str().unwrap().to_string();
    assert!(cli(topo, MASTER, &["--state-file", &st], &files[..1]).status.success());
    if let Some(t) = lock_wait_timeout {
        topo.sql(MASTER, format!("SET GLOBAL innodb_lock_wait_timeout = {t}"));
    }
    let mut locker = topo.conn(MASTER);
    locker.query_drop("BEGIN").unwrap();
    locker.query_drop("SELECT * FROM fx.t1 WHERE id = 1 FOR UPDATE").unwrap();
    let st2 = tmp.join("state2.json").to_str().unwrap().to_string();
    let child = cli_cmd(topo, MASTER, &["--state-file", &st2], &files[1..])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    poll_until(Duration::from_secs(30), || {
        topo.query_rows(MASTER, "SELECT ID FROM information_schema.PROCESSLIST WHERE INFO LIKE 'BINLOG%'")
            .into_iter()
            .next()
    })
    .expect("the applier's blocked statement");
    Blocked { locker, child, st2 }
}

/// The target shuts down while a transaction is open: clear error, nothing
/// of that transaction after the restart, `--resume` finishes the job.
#[test]
fn server_shutdown_mid_transaction() {
    let files = master_binlogs("row-crc32");
    let topo = twins();
    let tmp = tempfile::tempdir().unwrap();
    let Blocked { locker, child, st2 } = apply_second_file_blocked(&topo, &files, tmp.path(), None);
    // Shut down while the applier still waits inside 0-1-12 (the lock is held).
    topo.shutdown(MASTER);
    drop(locker);
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    eprintln!("{err}");
    assert_eq!(out.status.code(), Some(2));
    let line = err.lines().find(|l| l.contains("apply failed")).expect("error line");
    assert!(line.contains("GTID 0-1-12") && line.contains("connection lost"), "{line}");
    topo.restart(MASTER);
    assert_eq!(topo.query_value(MASTER, "SELECT flag FROM fx.t1 WHERE id = 1").as_deref(), Some("0"));
    assert_eq!(topo.variable(MASTER, "gtid_binlog_pos"), "0-1-11");
    assert!(cli(&topo, MASTER, &["--state-file", &st2, "--resume"], &files[1..]).status.success());
    mariadb_binlog_pipe(&topo, 1, &files);
    assert_twins_equal(&topo);
}

/// A lock wait timeout inside a transactional transaction: rolled back and
/// run again (like the server's applier), not a failure.
#[test]
fn lock_wait_timeout_is_retried() {
    let files = master_binlogs("row-crc32");
    let topo = twins();
    let tmp = tempfile::tempdir().unwrap();
    let Blocked { mut locker, child, .. } = apply_second_file_blocked(&topo, &files, tmp.path(), Some(1));
    use mysql::prelude::Queryable;
    std::thread::sleep(Duration::from_millis(1600)); // the first attempt times out after 1 s
    locker.query_drop("ROLLBACK").unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    eprintln!("{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success());
    assert!(stdout.contains("retries after deadlocks or lock wait timeouts"), "{stdout}");
    topo.sql(MASTER, "SET GLOBAL innodb_lock_wait_timeout = 50");
    mariadb_binlog_pipe(&topo, 1, &files);
    assert_twins_equal(&topo);
}

/// A master and three replicas: replicas 1 and 2 stop reading at the same
/// point, the master goes on (`more` steps), replica 3 reads everything,
/// the master is SIGKILLed. Then `binlog-diff diff --live … --write DIR
/// --json` (the CLI, as an operator runs it) writes every replica's diff
/// and the plan JSON. Returns the topology, the master's checksums of every
/// table, and the plan file.
struct Lagging {
    topo: Topology,
    want: BTreeMap<String, u64>,
    want_seq: Vec<u64>,
    plan: PathBuf,
    _dir: tempfile::TempDir,
}

fn lagging(format: support::topology::BinlogFormat, before: usize, more: usize, mixed: bool) -> Lagging {
    let topo = Topology::start(TopologyConfig { replicas: 3, binlog_format: format, ..Default::default() });
    let mut w = topo.workload(11);
    w.run(before);
    topo.catch_up_then_stop_io(1);
    topo.catch_up_then_stop_io(2);
    if mixed {
        w.run_mixed(more);
    } else {
        w.run(more);
    }
    topo.wait_io_read_all(3);
    let want_seq = topo.committed_seq(MASTER);
    let want = all_checksums(&topo, MASTER);
    topo.kill_master();
    for r in topo.replicas() {
        topo.wait_sql_idle(r);
        topo.stop_slave(r);
    }
    assert_ne!(topo.committed_seq(1), want_seq, "replica 1 must lag");
    let dir = tempfile::tempdir().unwrap();
    let mut c = Command::new(BIN);
    c.args(["diff", "--user", ADMIN_USER, "--json", "--write"]).arg(dir.path().join("diffs"));
    for r in topo.replicas() {
        c.args(["--live", &format!("r{r}=127.0.0.1:{}", topo.port(r))]);
    }
    c.arg("--master-binlogs").arg(topo.datadir(MASTER).join("mysql-bin.index"));
    let out = c.env("MYSQL_PWD", ADMIN_PASSWORD).stdin(Stdio::null()).output().unwrap();
    assert!(out.status.success(), "diff: {}", String::from_utf8_lossy(&out.stderr));
    let plan = dir.path().join("plan.json");
    std::fs::write(&plan, &out.stdout).unwrap();
    Lagging { topo, want, want_seq, plan, _dir: dir }
}

/// The plan's diff file for replica `name`.
fn plan_file(plan: &Path, name: &str) -> PathBuf {
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(plan).unwrap()).unwrap();
    let r = v["replicas"].as_array().unwrap().iter().find(|r| r["state"]["name"] == name).unwrap();
    PathBuf::from(r["file"].as_str().unwrap())
}

/// Serial on replica 1, `--parallel 4` on replica 2, the same diff: every
/// table's checksum and the GTID state end up identical (and equal to the
/// master's data).
fn serial_vs_parallel(format: support::topology::BinlogFormat, mixed: bool) -> String {
    let l = lagging(format, 30, 400, mixed);
    let topo = &l.topo;
    let tmp = tempfile::tempdir().unwrap();
    let (d1, d2) = (plan_file(&l.plan, "r1"), plan_file(&l.plan, "r2"));
    let s1 = tmp.path().join("s1.json");
    let out = cli(topo, 1, &["--state-file", s1.to_str().unwrap()], &[d1]);
    assert!(out.status.success(), "serial apply failed");
    let s2 = tmp.path().join("s2.json");
    let out = cli(topo, 2, &["--parallel", "4", "--state-file", s2.to_str().unwrap()], &[d2]);
    assert!(out.status.success(), "parallel apply failed");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(stdout.contains("verified:") && stdout.contains("parallel: 4 workers"), "{stdout}");
    let (a, b) = (all_checksums(topo, 1), all_checksums(topo, 2));
    assert_eq!(a, b, "serial and parallel applies differ");
    assert_eq!(a, l.want, "not the master's data");
    assert_eq!(topo.committed_seq(2), l.want_seq);
    for v in ["gtid_binlog_pos", "gtid_binlog_state", "gtid_current_pos"] {
        assert_eq!(topo.variable(1, v), topo.variable(2, v), "{v}");
    }
    stdout
}

#[test]
fn parallel_matches_serial_row() {
    let out = serial_vs_parallel(support::topology::BinlogFormat::Row, false);
    // A single-writer master: one transaction per group commit, so what ran
    // side by side did so on write sets; only the DDL-free ROW stream runs.
    assert!(out.contains(" 0 transactions ran alone"), "{out}");
}

#[test]
fn parallel_matches_serial_mixed_with_barriers() {
    // MIXED: statements (DDL, MyISAM writes) are barriers, row transactions overlap.
    let out = serial_vs_parallel(support::topology::BinlogFormat::Mixed, true);
    assert!(!out.contains(" 0 transactions ran alone"), "{out}");
}

#[test]
fn parallel_matches_serial_statement() {
    // Everything a statement: every transaction a barrier, same result.
    serial_vs_parallel(support::topology::BinlogFormat::Statement, true);
}

/// A duplicate key in the middle of a parallel apply: non-zero exit, the
/// error names the diff, the failing event and transaction; nothing of it
/// and nothing after it is applied, everything before it is; `--resume`
/// (in parallel) completes with the master's data.
#[test]
fn parallel_duplicate_key_then_resume() {
    duplicate_key_mid_batch(&["--parallel", "4"]);
}

/// The same, serial: the failing transaction sits inside a compound
/// statement of many; what came before it in that statement stays
/// committed, and the error still names its exact event.
#[test]
fn batched_duplicate_key_then_resume() {
    duplicate_key_mid_batch(&[]);
}

/// The sequence number of the transaction halfway through those the
/// target lacks.
fn middle_missing(l: &Lagging) -> u64 {
    let have = l.topo.committed_seq(1);
    let missing: Vec<u64> = l.want_seq.iter().copied().filter(|s| !have.contains(s)).collect();
    missing[missing.len() / 2]
}

/// A conflicting row on the target halfway through ~300 missing row
/// transactions (sent many to a round trip): the error names the exact
/// event, exactly what came before commits, `--resume` finishes the job.
fn duplicate_key_mid_batch(extra: &[&str]) {
    let l = lagging(support::topology::BinlogFormat::Row, 20, 300, false);
    let topo = &l.topo;
    let k = middle_missing(&l);
    topo.sql(1, format!("SET sql_log_bin=0; INSERT INTO bd.seq VALUES ({k}); SET sql_log_bin=1"));
    let tmp = tempfile::tempdir().unwrap();
    let st = tmp.path().join("state.json");
    let st = st.to_str().unwrap();
    let diff = plan_file(&l.plan, "r1");
    let args = |more: &[&'static str]| -> Vec<String> {
        [extra, &["--state-file", st], more].concat().into_iter().map(String::from).collect()
    };
    let out = cli(topo, 1, &strs(&args(&[])), std::slice::from_ref(&diff));
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    let line = err.lines().find(|l| l.contains("apply failed")).expect("error line");
    for want in
        [diff.to_str().unwrap(), " @ ", "WRITE_ROWS_EVENT", "GTID 0-1-", "1062", &format!("'{k}'"), "rolled back"]
    {
        assert!(line.contains(want), "error line lacks {want:?}: {line}");
    }
    // Exactly what came before it: nothing of it, nothing after it.
    let before: Vec<u64> = l.want_seq.iter().copied().filter(|&s| s <= k).collect();
    assert_eq!(topo.committed_seq(1), before);
    assert_eq!(topo.query_value(1, format!("SELECT COUNT(*) FROM bd.t WHERE seq_n = {k}")).as_deref(), Some("0"));
    // The failing GTID is the next one after the target's position.
    let pos = topo.variable(1, "gtid_binlog_pos");
    let next: u64 = pos.rsplit('-').next().unwrap().parse::<u64>().unwrap() + 1;
    assert!(line.contains(&format!("GTID 0-1-{next}:")), "{line} (target at {pos})");

    topo.sql(1, format!("SET sql_log_bin=0; DELETE FROM bd.seq WHERE n = {k}; SET sql_log_bin=1"));
    let out = cli(topo, 1, &strs(&args(&["--resume"])), std::slice::from_ref(&diff));
    assert!(out.status.success());
    // The rest went many to a round trip again (a window on one connection
    // or dealt out to the workers).
    assert!(String::from_utf8_lossy(&out.stdout).contains("batches of transactions sent together"));
    assert_eq!(all_checksums(topo, 1), l.want);
    assert_eq!(topo.committed_seq(1), l.want_seq);
}

/// The connection of a statement holding many transactions is killed while
/// one of them waits for a row lock: the error says the batch's fate is the
/// target's GTID state's to tell, what committed is a prefix in source
/// order, and `--resume` (which reads that state) finishes the job.
fn killed_mid_batch(extra: &[&str]) {
    use mysql::prelude::Queryable;
    let l = lagging(support::topology::BinlogFormat::Row, 20, 300, false);
    let topo = &l.topo;
    let k = middle_missing(&l);
    // An uncommitted insert of the key transaction k inserts: it waits.
    let mut locker = topo.conn(1);
    locker.query_drop("SET sql_log_bin=0").unwrap();
    locker.query_drop("BEGIN").unwrap();
    locker.query_drop(format!("INSERT INTO bd.seq VALUES ({k})")).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let st = tmp.path().join("state.json");
    let st = st.to_str().unwrap();
    let diff = plan_file(&l.plan, "r1");
    let args = |more: &[&'static str]| -> Vec<String> {
        [extra, &["--state-file", st], more].concat().into_iter().map(String::from).collect()
    };
    let child = cli_cmd(topo, 1, &strs(&args(&[])), std::slice::from_ref(&diff))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The statement stays on the same BINLOG (information_schema.INNODB_TRX
    // does not list the applier's transaction): seen alike in 5 polls.
    let mut seen: Vec<Vec<Option<String>>> = Vec::new();
    let id = poll_until(Duration::from_secs(30), || {
        let now = topo.query_rows(
            1,
            "SELECT ID, INFO FROM information_schema.PROCESSLIST \
             WHERE INFO LIKE 'BINLOG @binlog\\_diff\\_%' AND STATE LIKE 'Write_rows%'",
        );
        let row = now.into_iter().next()?;
        if seen.last() != Some(&row) {
            seen.clear();
        }
        seen.push(row.clone());
        std::thread::sleep(Duration::from_millis(100));
        (seen.len() >= 5).then(|| row[0].clone()).flatten()
    });
    let Some(id) = id else {
        let out = child.wait_with_output().unwrap();
        panic!("the applier never waited for the row lock: {}", String::from_utf8_lossy(&out.stderr));
    };
    topo.sql(1, format!("KILL {id}"));
    let out = child.wait_with_output().unwrap();
    locker.query_drop("ROLLBACK").unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    eprintln!("{err}");
    assert_eq!(out.status.code(), Some(2));
    let line = err.lines().find(|l| l.contains("apply failed")).expect("error line");
    for want in [diff.to_str().unwrap(), "connection lost", "sent together", "GTID state says which"] {
        assert!(line.contains(want), "error line lacks {want:?}: {line}");
    }
    // Committed: a prefix of the source order that stops before k.
    let now = topo.committed_seq(1);
    let prefix: Vec<u64> = l.want_seq.iter().copied().take(now.len()).collect();
    assert_eq!(now, prefix, "commits are not a prefix in source order");
    assert!(!now.contains(&k));
    let out = cli(topo, 1, &strs(&args(&["--resume"])), std::slice::from_ref(&diff));
    assert!(out.status.success());
    assert_eq!(all_checksums(topo, 1), l.want);
    assert_eq!(topo.committed_seq(1), l.want_seq);
}

#[test]
fn batch_killed_mid_way_then_resume() {
    killed_mid_batch(&[]);
}

#[test]
fn parallel_window_killed_mid_way_then_resume() {
    killed_mid_batch(&["--parallel", "3"]);
}

/// `apply --plan`: every replica's diff from the plan JSON, each on its own
/// thread (host and port from the plan, password from MYSQL_PWD); all end
/// with the master's data. A replica that fails does not stop the others.
#[test]
fn apply_plan_to_every_replica() {
    let l = lagging(support::topology::BinlogFormat::Row, 20, 200, false);
    let topo = &l.topo;
    // Replica 2 gets a conflicting row: its apply fails, the others go on.
    let have = topo.committed_seq(2);
    let k = *l.want_seq.iter().rev().find(|s| !have.contains(s)).unwrap();
    topo.sql(2, format!("SET sql_log_bin=0; INSERT INTO bd.seq VALUES ({k}); SET sql_log_bin=1"));
    let run = |extra: &[&str]| {
        let out = Command::new(BIN)
            .args(["apply", "--user", ADMIN_USER, "--plan"])
            .arg(&l.plan)
            .args(extra)
            .env("MYSQL_PWD", ADMIN_PASSWORD)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        eprintln!(
            "apply --plan {extra:?} -> {:?}\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    };
    let out = run(&["--parallel", "2"]);
    assert_eq!(out.status.code(), Some(2));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("r1: ok") && stdout.contains("r3: ok"), "{stdout}");
    assert!(stdout.contains("r2: FAILED") && stdout.contains("1062"), "{stdout}");
    assert_eq!(all_checksums(topo, 1), l.want);
    assert_eq!(all_checksums(topo, 3), l.want);
    topo.sql(2, format!("SET sql_log_bin=0; DELETE FROM bd.seq WHERE n = {k}; SET sql_log_bin=1"));
    let out = run(&["--resume", "--progress"]);
    assert!(out.status.success());
    // Progress lines for whoever follows it over ssh: the last for each target says it is done.
    let err = String::from_utf8_lossy(&out.stderr);
    for name in ["r1", "r2", "r3"] {
        let last = err.lines().rev().find(|l| l.starts_with(&format!("progress\t{name}\t"))).unwrap_or("");
        let f: Vec<&str> = last.split('\t').collect();
        assert!(f.len() == 4 && f[2] == f[3], "{name}: {last:?} in\n{err}");
        assert!(name == "r3" || f[3] != "0", "{name} has a diff: {last:?}");
    }
    for r in topo.replicas() {
        assert_eq!(all_checksums(topo, r), l.want, "replica {r}");
        assert_eq!(topo.committed_seq(r), l.want_seq, "replica {r}");
    }
}

/// The check a parallel worker runs while it waits for its turn: does an
/// earlier worker wait for a row lock this session holds? (A cycle InnoDB
/// cannot see: the holder waits for the waiter's commit in our client.)
///
/// Ignored in the default run: in one full CI run on a loaded 2-core machine
/// the blocked UPDATE stayed "Updating" for 300 s without ever appearing in
/// INNODB_TRX (not understood yet). A cycle the probe misses ends in the
/// earlier transaction's lock wait timeout: retried, then reported as an
/// error with its file and offset (never a silent loss; `--resume`
/// continues). `cargo test --test apply -- --ignored` runs it.
#[test]
#[ignore = "flaky under load (see the comment); run with --ignored"]
fn parallel_worker_sees_an_earlier_one_waiting_for_its_lock() {
    use mysql::prelude::Queryable;
    let topo = twins();
    topo.sql(MASTER, "CREATE DATABASE lk; CREATE TABLE lk.t (id INT PRIMARY KEY, v INT) ENGINE=InnoDB");
    topo.sql(MASTER, "INSERT INTO lk.t VALUES (1, 0), (2, 0)");
    let mut holder = topo.conn(MASTER);
    let mut waiter = topo.conn(MASTER);
    let waiter_id: u32 = waiter.query_first("SELECT CONNECTION_ID()").unwrap().unwrap();
    // Wait as long as the check may take on a loaded machine (the default 50 s was seen to run out).
    waiter.query_drop("SET SESSION innodb_lock_wait_timeout = 1000").unwrap();
    let other_id: u32 = topo.conn(MASTER).query_first("SELECT CONNECTION_ID()").unwrap().unwrap();
    holder.query_drop("BEGIN").unwrap();
    holder.query_drop("UPDATE lk.t SET v = 1 WHERE id = 1").unwrap();
    assert!(!apply::waits_for_my_locks(&mut holder, &[waiter_id]), "nobody waits yet");
    let t = std::thread::spawn(move || waiter.query_drop("UPDATE lk.t SET v = 2 WHERE id = 1").map(|_| waiter));
    // First the server must show the waiter waiting (a loaded machine may take a while) ...
    let waiting = format!(
        "SELECT COUNT(*) FROM information_schema.INNODB_TRX WHERE trx_state = 'LOCK WAIT' \
         AND trx_mysql_thread_id = {waiter_id}"
    );
    let r = poll_until(Duration::from_secs(300), || {
        (topo.query_value(MASTER, &waiting).as_deref() == Some("1")).then_some(())
    });
    if r.is_none() {
        let trx = topo
            .query_rows(MASTER, "SELECT trx_state, trx_mysql_thread_id, trx_query FROM information_schema.INNODB_TRX");
        let pl = topo.query_rows(MASTER, "SELECT ID, COMMAND, STATE, INFO FROM information_schema.PROCESSLIST");
        let ended = t.is_finished().then(|| t.join().map(|r| r.map(|_| ()).map_err(|e| e.to_string())));
        panic!(
            "the second session ({waiter_id}) does not wait for the row lock: trx {trx:?}, processlist {pl:?}, \
             its statement: {ended:?}"
        );
    }
    // ... then the holder's check sees it at once.
    if !apply::waits_for_my_locks(&mut holder, &[waiter_id]) {
        for q in [
            "SELECT * FROM information_schema.INNODB_LOCK_WAITS",
            "SELECT trx_id, trx_state, trx_mysql_thread_id FROM information_schema.INNODB_TRX",
        ] {
            eprintln!("{q}: {:?}", holder.query::<mysql::Row, _>(q));
        }
        panic!("the waiting session {waiter_id} was not seen");
    }
    assert!(!apply::waits_for_my_locks(&mut holder, &[other_id]), "a session that does not wait");
    holder.query_drop("ROLLBACK").unwrap();
    t.join().unwrap().unwrap();
    assert_eq!(topo.query_value(MASTER, "SELECT v FROM lk.t WHERE id = 1").as_deref(), Some("2"));
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}
