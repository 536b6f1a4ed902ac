//! One timed run: the server prepared for its mode, the clock, the wait for
//! the end, and what the server holds afterwards.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::report::{Bar, checksums};
use super::target::{Srv, tool_failed};
use super::{CatchupOptions, LogsInfo, Mode, Run};
use crate::apply::ApplyOptions;
use crate::error::{Error, ErrorKind, Result};
use crate::server::Server;
use crate::server::embedded::{self, Embedded};
use crate::server::status::SourceAddr;

pub(super) fn one_run(
    opts: &CatchupOptions,
    mode: Mode,
    threads: usize,
    round: usize,
    go: impl FnOnce(&str) -> Result<(f64, BTreeMap<String, Option<u64>>, String)>,
) -> Run {
    let mut run = Run {
        mode,
        threads,
        round,
        seconds: None,
        problem: None,
        checksums: BTreeMap::new(),
        gtid: String::new(),
        valid: false,
    };
    let label = format!("{} x{threads}", mode.name());
    match go(&label) {
        Ok((secs, sums, gtid)) => {
            run.seconds = Some(secs);
            run.checksums = sums;
            run.gtid = gtid;
        }
        Err(e) => run.problem = Some(e.to_string()),
    }
    if !opts.progress {
        match (run.seconds, &run.problem) {
            (Some(s), _) => eprintln!("[catchup] round {} {label}: {s:.3} s", round + 1),
            (None, Some(p)) => eprintln!("[catchup] round {} {label}: failed: {p}", round + 1),
            _ => {}
        }
    }
    run
}

#[allow(clippy::too_many_arguments)]
pub(super) fn run_inner(
    opts: &CatchupOptions,
    work: &Path,
    snapshot: &Path,
    logs: &LogsInfo,
    relay: &[PathBuf],
    base: &[String],
    mode: Mode,
    threads: usize,
    label: &str,
) -> Result<(f64, BTreeMap<String, Option<u64>>, String)> {
    let dir = work.join("run");
    let _ = fs::remove_dir_all(&dir);
    let data = dir.join("data");
    embedded::copy_dir(snapshot, &data)?;
    // A user's snapshot may be a replica's: its replication settings and
    // relay logs are not ours.
    for f in ["master.info", "relay-log.info", "multi-master.info"] {
        let _ = fs::remove_file(data.join(f));
    }
    let mut options = base.to_vec();
    if mode.on_sql_thread() {
        let mut index = String::new();
        for f in relay {
            let name = f.file_name().expect("a relay copy's name");
            fs::copy(f, data.join(name)).map_err(|e| Error::io(f, e))?;
            index.push_str(&format!("./{}\n", name.to_string_lossy()));
        }
        fs::write(data.join("bench-relay.index"), index).map_err(|e| Error::io(&data, e))?;
        let (n, m) = match mode {
            Mode::Sql => (0, "conservative"),
            Mode::Conservative => (threads, "conservative"),
            Mode::Optimistic => (threads, "optimistic"),
            _ => (threads, "aggressive"),
        };
        // Options given by the user come last and win; these are the mode.
        options.insert(0, format!("--slave-parallel-threads={n}"));
        options.insert(1, format!("--slave-parallel-mode={m}"));
    }
    let server = Embedded::start(&dir, &data, &options)?;
    // A failure names what the server logged (a crash, an SQL thread error).
    let r = timed_run(opts, &Srv::Embedded(&server), logs, mode, threads, label).map_err(|e| {
        let (here, tail) = (server.datadir().display().to_string(), server.log_tail());
        match e.kind() {
            ErrorKind::Server { server, what } if *server == here => {
                Error::server(here, format!("{what}; server log: {tail}"))
            }
            _ => Error::server(here, format!("{e}; server log: {tail}")),
        }
    });
    drop(server);
    let _ = fs::remove_dir_all(&dir);
    r
}

#[allow(clippy::too_many_arguments)]
pub(super) fn timed_run(
    opts: &CatchupOptions,
    server: &Srv<'_>,
    logs: &LogsInfo,
    mode: Mode,
    threads: usize,
    label: &str,
) -> Result<(f64, BTreeMap<String, Option<u64>>, String)> {
    let spec = server.spec();
    let mut srv = Server::connect(&spec)?;
    if mode.on_sql_thread() {
        // A source that is never connected to: only the SQL thread runs.
        let nowhere = SourceAddr { host: "127.0.0.1".into(), port: 9, user: "bench".into(), password: None };
        srv.change_source_to_relay(&nowhere, "bench-relay.000001", 4)?;
    }
    let bar = Bar::start(opts.progress, label, &spec, logs)?;
    let t0 = Instant::now();
    let outcome = match mode {
        Mode::Sql | Mode::Conservative | Mode::Optimistic | Mode::Aggressive => {
            srv.start_sql_thread()?;
            wait_sql_thread(&mut srv, &logs.end_gtid)
        }
        Mode::Pipe => pipe(server, &logs.files),
        Mode::Apply => {
            let ao = ApplyOptions { no_state_file: true, parallel: threads, ..ApplyOptions::default() };
            crate::apply::apply(&spec, &logs.files, &ao).map(|_| ()).map_err(|f| f.error)
        }
    };
    let secs = t0.elapsed().as_secs_f64();
    bar.finish();
    outcome?;
    if mode.on_sql_thread() {
        srv.stop_replica()?;
    }
    let sums = checksums(&srv.label(), srv.conn())?;
    let gtid = srv.gtid_binlog_pos()?;
    Ok((secs, sums, gtid))
}

/// Waits until the SQL thread has applied `end`; an SQL thread that stops
/// (an error) or stands still for [`STALL`] ends the wait.
fn wait_sql_thread(srv: &mut Server, end: &str) -> Result<()> {
    let mut last = (String::new(), String::new(), String::new());
    let mut since = Instant::now();
    loop {
        if srv.gtid_wait(end, Duration::from_secs(1))? {
            return Ok(());
        }
        let Some(st) = srv.replica_status()? else {
            return Err(Error::server(srv.label(), "the replica status is gone"));
        };
        if let Some(e) = st.sql_error() {
            return Err(Error::server(srv.label(), format!("SQL thread stopped: {e}")));
        }
        if !st.sql_running() {
            return Err(Error::server(srv.label(), "SQL thread stopped without an error"));
        }
        let now = (st.get("Relay_Log_File").to_string(), st.get("Relay_Log_Pos").to_string(), srv.gtid_slave_pos()?);
        if now != last {
            (last, since) = (now, Instant::now());
        } else if since.elapsed() > STALL {
            return Err(Error::timeout(
                srv.label(),
                format!("waiting for the SQL thread to reach {end}"),
                format!(
                    "the SQL thread stands still at {}:{} (gtid_slave_pos {:?}, state {:?}) for {STALL:?}",
                    last.0,
                    last.1,
                    last.2,
                    st.get("Slave_SQL_Running_State")
                ),
            ));
        }
    }
}

/// How long an SQL thread may stand still before its run is given up.
const STALL: Duration = Duration::from_secs(20);

fn pipe(server: &Srv<'_>, files: &[PathBuf]) -> Result<()> {
    let binlog = embedded::find_program(&["mariadb-binlog", "mysqlbinlog"])?;
    let client = embedded::find_program(&["mariadb", "mysql"])?;
    let mut dump = Command::new(&binlog)
        .arg("--no-defaults")
        .args(files)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Error::io(&binlog, e))?;
    let out = dump.stdout.take().ok_or_else(|| Error::invalid("mariadb-binlog: no stdout"))?;
    let mut cmd = Command::new(&client);
    server.client_args(&mut cmd);
    let sql = cmd.stdin(out).stdout(Stdio::null()).stderr(Stdio::piped()).output();
    // `cmd` holds the pipe's read end: close it, or a mariadb-binlog whose
    // reader died would block on a full pipe for ever.
    drop(cmd);
    let sql = sql.map_err(|e| Error::io(&client, e))?;
    if !sql.status.success() {
        let _ = dump.kill();
    }
    let d = dump.wait_with_output().map_err(|e| Error::io(&binlog, e))?;
    let label = server.label();
    if !sql.status.success() {
        return Err(tool_failed(&label, &client, "applying mariadb-binlog's output", &sql.stderr));
    }
    if !d.status.success() {
        return Err(tool_failed(&label, &binlog, "reading the logs", &d.stderr));
    }
    Ok(())
}
