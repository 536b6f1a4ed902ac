//! `binlog-diff bench catchup`: how fast does a replica catch up on these
//! logs, by each applier, on a throwaway server restored to the same
//! starting state before every run?
//!
//! Modes (all on the same prepared logs, each on a fresh copy of the
//! starting datadir):
//! - `sql`: the server's own SQL thread, single-threaded
//!   (`slave_parallel_threads=0`);
//! - `conservative`, `optimistic`, `aggressive`: MariaDB parallel
//!   replication with `slave_parallel_threads` = each of `--threads`;
//! - `pipe`: `mariadb-binlog FILES | mariadb`, MHA's way;
//! - `apply`: `binlog-diff apply`, serial for 1 thread, `--parallel N`
//!   otherwise.
//!
//! The server modes read the logs as relay logs: copies are put in the
//! datadir under the relay-log name and `CHANGE MASTER TO RELAY_LOG_FILE`
//! points the SQL thread at the first; the clock runs from `START SLAVE
//! SQL_THREAD` to `MASTER_GTID_WAIT` of the logs' last GTIDs. Nothing is
//! fetched over the network in any mode.
//!
//! Every run ends with a check: `CHECKSUM TABLE` of every user table and
//! `gtid_binlog_pos`. The GTID position must be the logs' last GTIDs and
//! the checksums must equal the reference run's (the single-threaded SQL
//! thread's when it ran, else the first run's); a run that does not is
//! marked invalid, and its time is not used.

use std::collections::BTreeMap;
use std::fs;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use mysql::prelude::Queryable;
use serde_json::json;

use super::workload::{self, WorkloadSpec};
use crate::apply::{ApplyOptions, MariaState};
use crate::error::{Error, ErrorKind, Result};
use crate::inspect::stats::{Stats, StatsOptions};
use crate::log::RecoveryMode;
use crate::log::{Access, LogFile};
use crate::server::embedded::{self, Embedded};
use crate::server::status::SourceAddr;
use crate::server::{ConnSpec, Server};

/// How a run catches up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Mode {
    /// The SQL thread, single-threaded.
    Sql,
    /// Parallel replication, `slave_parallel_mode=conservative`.
    Conservative,
    /// Parallel replication, `slave_parallel_mode=optimistic`.
    Optimistic,
    /// Parallel replication, `slave_parallel_mode=aggressive`.
    Aggressive,
    /// `mariadb-binlog | mariadb`.
    Pipe,
    /// `binlog-diff apply` (`--parallel N`).
    Apply,
}

impl Mode {
    /// Every mode, in table order.
    pub const ALL: [Mode; 6] =
        [Mode::Sql, Mode::Conservative, Mode::Optimistic, Mode::Aggressive, Mode::Pipe, Mode::Apply];

    /// Its name on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Sql => "sql",
            Mode::Conservative => "conservative",
            Mode::Optimistic => "optimistic",
            Mode::Aggressive => "aggressive",
            Mode::Pipe => "pipe",
            Mode::Apply => "apply",
        }
    }

    /// Parses a name.
    ///
    /// # Errors
    /// An unknown name.
    pub fn parse(s: &str) -> Result<Mode> {
        Mode::ALL.into_iter().find(|m| m.name() == s).ok_or_else(|| {
            Error::config(
                Some("--modes"),
                format!("unknown mode {s:?} (one of {})", Mode::ALL.map(Mode::name).join(", ")),
            )
        })
    }

    /// Runs once per thread count (the others run once).
    pub fn threaded(self) -> bool {
        matches!(self, Mode::Conservative | Mode::Optimistic | Mode::Aggressive | Mode::Apply)
    }

    fn on_sql_thread(self) -> bool {
        matches!(self, Mode::Sql | Mode::Conservative | Mode::Optimistic | Mode::Aggressive)
    }
}

/// The state every run starts from.
#[derive(Clone, Debug)]
pub enum Start {
    /// A freshly installed server (the logs create everything).
    Empty,
    /// A copy of this datadir (of a cleanly shut down server; never written).
    Datadir(PathBuf),
    /// A fresh server with this SQL dump loaded (once; then copied).
    Dump(PathBuf),
}

/// Server durability for every run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durability {
    /// `innodb_flush_log_at_trx_commit=2`, `sync_binlog=0`.
    Relaxed,
    /// `innodb_flush_log_at_trx_commit=1`, `sync_binlog=1`.
    Full,
}

/// What to benchmark.
#[derive(Clone, Debug)]
pub struct CatchupOptions {
    /// The user's binlogs or relay logs, in order; empty: generate.
    pub logs: Vec<PathBuf>,
    /// The starting state (ignored when generating: the generator makes it).
    pub start: Start,
    /// What to generate when `logs` is empty.
    pub workload: WorkloadSpec,
    /// Modes to run.
    pub modes: Vec<Mode>,
    /// Thread counts for the threaded modes.
    pub threads: Vec<usize>,
    /// Rounds (each mode and thread count once per round; the median is reported).
    pub runs: usize,
    /// Work directory (servers, copies); generated logs are cached in it.
    pub workdir: PathBuf,
    /// Server durability.
    pub durability: Durability,
    /// `innodb_buffer_pool_size` of every run's server.
    pub buffer_pool: String,
    /// Extra `mariadbd` options for every run's server (after ours).
    pub server_options: Vec<String>,
    /// Progress bars (on a terminal) instead of one line per run.
    pub progress: bool,
    /// A scratch server of the user's instead of throwaway ones: before
    /// every run all its databases but the system ones are dropped, the
    /// dump (if any) loaded and its binary log reset. Client modes only.
    pub target: Option<ConnSpec>,
}

/// One run.
#[derive(Clone, Debug)]
pub struct Run {
    /// Mode.
    pub mode: Mode,
    /// Threads (1 for single-threaded modes).
    pub threads: usize,
    /// Round (from 0).
    pub round: usize,
    /// Catch-up time, when it finished.
    pub seconds: Option<f64>,
    /// Why it did not finish, or why its result is invalid.
    pub problem: Option<String>,
    /// `CHECKSUM TABLE` of every user table.
    pub checksums: BTreeMap<String, Option<u64>>,
    /// `gtid_binlog_pos` at the end.
    pub gtid: String,
    /// Finished with the reference's checksums and the logs' last GTIDs.
    pub valid: bool,
}

/// One line of the table: a mode and thread count over all rounds.
#[derive(Clone, Debug)]
pub struct Line {
    /// Mode.
    pub mode: Mode,
    /// Threads.
    pub threads: usize,
    /// Median seconds of the valid runs.
    pub seconds: Option<f64>,
    /// Transactions per second.
    pub trx_per_s: Option<f64>,
    /// Log MB (10^6 bytes) per second.
    pub mb_per_s: Option<f64>,
    /// Single-threaded SQL thread's time / this one's.
    pub speedup: Option<f64>,
    /// Every run valid.
    pub valid: bool,
}

/// The logs as the runs see them.
#[derive(Clone, Debug)]
pub struct LogsInfo {
    /// Prepared copies, in order (a torn or open tail cut off).
    pub files: Vec<PathBuf>,
    /// The original file names, for the SQL thread's master coordinates.
    pub names: Vec<String>,
    /// Their bytes.
    pub bytes: u64,
    /// Complete transactions.
    pub transactions: u64,
    /// The last GTID of each domain.
    pub end_gtid: String,
    /// What was cut off the end, if anything.
    pub cut: Option<String>,
    /// A server id no event of the logs carries (the SQL thread skips
    /// events of its own id): the runs' servers get it.
    pub free_server_id: u32,
}

/// The benchmark's result.
#[derive(Clone, Debug)]
pub struct CatchupReport {
    /// The logs.
    pub logs: LogsInfo,
    /// `mariadbd --version`.
    pub server_version: String,
    /// Options of every run's server.
    pub server_options: Vec<String>,
    /// Every run.
    pub runs: Vec<Run>,
    /// The table.
    pub lines: Vec<Line>,
}

/// Runs the benchmark.
///
/// # Errors
/// Bad input (unreadable or damaged logs, MySQL logs, logs without GTIDs),
/// no MariaDB server to run, or a starting state that cannot be prepared.
/// A run that fails is not an error: it is reported invalid.
pub fn run(opts: &CatchupOptions) -> Result<CatchupReport> {
    if opts.modes.is_empty() || opts.threads.is_empty() || opts.threads.contains(&0) || opts.runs == 0 {
        return Err(Error::config(None, "nothing to run: give modes, thread counts >= 1 and runs >= 1"));
    }
    fs::create_dir_all(&opts.workdir).map_err(|e| Error::io(&opts.workdir, e))?;
    let work = tempdir_in(&opts.workdir, "catchup")?;
    let _cleanup = RemoveOnDrop(work.clone());
    let (input, snapshot) = if opts.logs.is_empty() {
        let g = generate(opts)?;
        (g.logs, Some(g.snapshot))
    } else {
        (opts.logs.clone(), None)
    };
    if let Some(t) = &opts.target {
        if let Some(m) = opts.modes.iter().find(|m| m.on_sql_thread()) {
            return Err(Error::config(
                Some("--modes"),
                format!(
                    "mode {} needs the logs in the server's own datadir: with --target ({}) only pipe and apply run",
                    m.name(),
                    t.label()
                ),
            ));
        }
        if snapshot.is_some() || matches!(opts.start, Start::Datadir(_)) {
            return Err(Error::config(
                Some("--target"),
                "with --target the starting state is a dump (--dump) or nothing: give your own logs",
            ));
        }
    }
    let logs = prepare_logs(&input, &work.join("logs"))?;
    if let Some(t) = &opts.target {
        return run_on_target(opts, t, logs);
    }
    let snapshot = match (snapshot, &opts.start) {
        (Some(s), _) => s,
        (None, Start::Empty) => embedded::template(&opts.workdir)?,
        (None, Start::Datadir(d)) => {
            if !d.join("mysql").is_dir() {
                return Err(Error::config(Some("--datadir"), "not a datadir (no mysql/ folder)").with_file(d));
            }
            d.clone()
        }
        (None, Start::Dump(f)) => load_dump(opts, f, &work)?,
    };
    let expected = MariaState::parse(&logs.end_gtid)?;
    let base_options = base_options(opts, logs.free_server_id);
    // The relay-log form of the logs, made once; every SQL-thread run gets
    // a copy (its server deletes what it applied).
    let relay = if opts.modes.iter().any(|m| m.on_sql_thread()) {
        let dir = work.join("relay");
        fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        let mut v = Vec::new();
        for (i, (f, master_name)) in logs.files.iter().zip(&logs.names).enumerate() {
            let dst = dir.join(format!("bench-relay.{:06}", i + 1));
            write_relay_copy(f, master_name, &dst)?;
            v.push(dst);
        }
        v
    } else {
        Vec::new()
    };
    let version = embedded::server_version()?;

    let (configs, runs) = rounds(opts, &expected, |mode, threads, round| {
        one_run(opts, mode, threads, round, |label| {
            run_inner(opts, &work, &snapshot, &logs, &relay, &base_options, mode, threads, label)
        })
    });
    let lines = table(&runs, &configs, &logs);
    Ok(CatchupReport { logs, server_version: version, server_options: base_options, runs, lines })
}

/// Every mode and thread count, `opts.runs` times, judged.
fn rounds(
    opts: &CatchupOptions,
    expected: &MariaState,
    mut one: impl FnMut(Mode, usize, usize) -> Run,
) -> (Vec<(Mode, usize)>, Vec<Run>) {
    let mut configs = Vec::new();
    for &m in &opts.modes {
        if m.threaded() {
            configs.extend(opts.threads.iter().map(|&t| (m, t)));
        } else {
            configs.push((m, 1));
        }
    }
    let mut runs = Vec::new();
    for round in 0..opts.runs {
        // Alternate the order so a warming cache or a busy neighbour does
        // not always favour the same mode.
        let order: Vec<(Mode, usize)> =
            if round % 2 == 1 { configs.iter().rev().copied().collect() } else { configs.clone() };
        for (mode, threads) in order {
            runs.push(one(mode, threads, round));
        }
    }
    judge(&mut runs, expected);
    (configs, runs)
}

/// The runs on the user's scratch server.
fn run_on_target(opts: &CatchupOptions, spec: &ConnSpec, logs: LogsInfo) -> Result<CatchupReport> {
    let expected = MariaState::parse(&logs.end_gtid)?;
    let facts = Server::connect(spec)?.promotion_facts()?;
    let version = facts.version;
    if !facts.log_bin {
        return Err(Error::server(
            spec.label(),
            "binary logging is off: the end state is checked by gtid_binlog_pos (start it with log_bin, as a \
             replica MHA promotes)",
        ));
    }
    let srv = Srv::Target(spec);
    let (configs, runs) = rounds(opts, &expected, |mode, threads, round| {
        one_run(opts, mode, threads, round, |label| {
            restore_target(spec, &opts.start)?;
            timed_run(opts, &srv, &logs, mode, threads, label)
        })
    });
    let lines = table(&runs, &configs, &logs);
    Ok(CatchupReport { logs, server_version: version, server_options: Vec::new(), runs, lines })
}

/// Empties the scratch server: every database but the system ones
/// dropped, the dump loaded, the binary log and replica GTID position reset.
fn restore_target(spec: &ConnSpec, start: &Start) -> Result<()> {
    let mut srv = Server::connect(spec)?;
    let c = srv.conn();
    let q =
        |c: &mut mysql::Conn, s: &str| c.query_drop(s).map_err(|e| Error::server(spec.label(), format!("{s}: {e}")));
    let dbs: Vec<String> =
        c.query("SHOW DATABASES").map_err(|e| Error::server(spec.label(), format!("SHOW DATABASES: {e}")))?;
    for d in dbs.iter().filter(|d| !matches!(d.as_str(), "mysql" | "information_schema" | "performance_schema" | "sys"))
    {
        q(c, &format!("DROP DATABASE `{}`", d.replace('`', "``")))?;
    }
    if let Start::Dump(f) = start {
        let client = embedded::find_program(&["mariadb", "mysql"])?;
        let input = fs::File::open(f).map_err(|e| Error::io(f, e))?;
        let mut cmd = Command::new(&client);
        Srv::Target(spec).client_args(&mut cmd);
        let out = cmd
            .stdin(input)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .map_err(|e| Error::io(&client, e))?;
        if !out.status.success() {
            return Err(tool_failed(&spec.label(), &client, &format!("loading the dump {}", f.display()), &out.stderr));
        }
    }
    srv.reset_binary_logs()?;
    srv.set_gtid_slave_pos("")
}

/// Where a run's server is.
enum Srv<'a> {
    /// A throwaway server of ours.
    Embedded(&'a Embedded),
    /// The user's scratch server.
    Target(&'a ConnSpec),
}

impl Srv<'_> {
    fn spec(&self) -> ConnSpec {
        match self {
            Srv::Embedded(e) => e.spec(),
            Srv::Target(s) => (*s).clone(),
        }
    }

    /// What errors call it: the user's server's `host:port`, or our
    /// throwaway server's datadir.
    fn label(&self) -> String {
        match self {
            Srv::Embedded(e) => e.datadir().display().to_string(),
            Srv::Target(s) => s.label(),
        }
    }

    /// Connection options for the `mariadb` client; the password goes in
    /// its environment (`MYSQL_PWD`), never on its command line.
    fn client_args(&self, cmd: &mut Command) {
        let spec = self.spec();
        cmd.arg("--no-defaults").arg("--binary-mode");
        cmd.arg(format!("--user={}", spec.user.as_deref().unwrap_or("root")));
        match (&spec.socket, &spec.host) {
            (Some(s), _) => {
                cmd.arg(format!("--socket={}", s.display()));
            }
            (None, h) => {
                cmd.arg(format!("--host={}", h.as_deref().unwrap_or("127.0.0.1")));
                cmd.arg(format!("--port={}", spec.port.unwrap_or(3306)));
                cmd.arg("--protocol=TCP");
            }
        }
        if let Some(p) = &spec.password {
            cmd.env("MYSQL_PWD", p.expose());
        }
    }
}

struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn tempdir_in(parent: &Path, prefix: &str) -> Result<PathBuf> {
    for i in 0..1000u32 {
        let p = parent.join(format!("{prefix}-{}-{i}", std::process::id()));
        match fs::create_dir(&p) {
            Ok(()) => return Ok(p),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(Error::io(&p, e)),
        }
    }
    Err(Error::io(parent, std::io::Error::new(std::io::ErrorKind::AlreadyExists, "cannot make a work directory")))
}

/// A program of the MariaDB packages that failed on `server` (its label, or
/// an embedded server's datadir) while `doing`: what it said, named.
fn tool_failed(server: &str, tool: &Path, doing: &str, said: &[u8]) -> Error {
    let name = tool.file_name().map_or_else(|| tool.display().to_string(), |n| n.to_string_lossy().into_owned());
    Error::server(server, format!("{name} failed {doing}: {}", String::from_utf8_lossy(said).trim()))
}

fn generate(opts: &CatchupOptions) -> Result<workload::Generated> {
    let bar = opts.progress.then(|| {
        let b = indicatif::ProgressBar::new(opts.workload.bytes);
        b.set_style(
            indicatif::ProgressStyle::with_template("{prefix:>14} {bar:40} {bytes}/{total_bytes} {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        b.set_prefix(format!("generate {}", opts.workload.mix.name()));
        b
    });
    let g = workload::generate(&opts.workload, &opts.workdir, &|n| {
        if let Some(b) = &bar {
            b.set_position(n.min(opts.workload.bytes));
        }
    });
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    g
}

/// Copies the logs into `dir` (the runs never touch the originals), the
/// last one cut at the end of its last complete transaction, and reads
/// what they hold.
fn prepare_logs(input: &[PathBuf], dir: &Path) -> Result<LogsInfo> {
    if input.is_empty() {
        return Err(Error::config(None, "no log files"));
    }
    let stats = scan(input)?;
    if !stats.mysql_gtids.is_empty() || stats.server_versions.iter().any(|v| !v.contains("MariaDB")) {
        return Err(Error::bad_input(
            "log files",
            format!(
                "the catch-up benchmark runs on MariaDB and needs MariaDB logs (server version {})",
                stats.server_versions.iter().cloned().collect::<Vec<_>>().join(", ")
            ),
        )
        .with_file(&input[0]));
    }
    // Cut at a partial transaction (it would never end) or a torn event.
    let cut: Option<(PathBuf, u64, String)> = match (&stats.partial, &stats.incomplete_tail) {
        (Some(p), _) => {
            Some((p.file.clone(), p.offset, format!("an open transaction at {}:{}", p.file.display(), p.offset)))
        }
        (None, Some((f, at, _, _))) => Some((f.clone(), *at, format!("a torn event at {}:{at}", f.display()))),
        (None, None) => None,
    };
    fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let mut files = Vec::new();
    for (i, f) in input.iter().enumerate() {
        let dst = dir.join(format!("catchup-src.{:06}", i + 1));
        match &cut {
            Some((cf, at, _)) if cf == f => {
                let src = LogFile::open(f, Access::Read)?;
                fs::write(&dst, &src.bytes()[..*at as usize]).map_err(|e| Error::io(&dst, e))?;
                files.push(dst);
                break;
            }
            _ => {
                fs::copy(f, &dst).map_err(|e| Error::io(f, e))?;
                files.push(dst);
            }
        }
    }
    let stats = scan(&files)?;
    let mut end: BTreeMap<u32, (u32, u64)> = BTreeMap::new();
    for (&(domain, server), &(_, max, _)) in &stats.maria_gtids {
        let e = end.entry(domain).or_insert((server, max));
        if max > e.1 {
            *e = (server, max);
        }
    }
    if end.is_empty() {
        let why = cut.as_ref().map(|c| format!(" before {} (cut there)", c.2)).unwrap_or_default();
        return Err(Error::bad_input("log files", format!("no GTID{why}: nothing to wait for")).with_file(&input[0]));
    }
    let end_gtid = end.iter().map(|(d, (s, n))| format!("{d}-{s}-{n}")).collect::<Vec<_>>().join(",");
    let names = input
        .iter()
        .take(files.len())
        .map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default())
        .collect();
    let ids = &stats.server_ids;
    let free_server_id = (1..).map(|i| 4_000_000_000 - i).find(|id| !ids.contains(id)).unwrap_or(4_000_000_000);
    Ok(LogsInfo {
        files,
        names,
        bytes: stats.bytes,
        transactions: stats.transactions,
        end_gtid,
        cut: cut.map(|c| c.2),
        free_server_id,
    })
}

fn scan(files: &[PathBuf]) -> Result<Stats> {
    let mut st = Stats::new();
    for f in files {
        let lf = LogFile::open(f, Access::Mmap)?;
        st.add_file(&lf, StatsOptions { no_verify: false, recovery: RecoveryMode::TolerateTruncatedTail })?;
    }
    Ok(st)
}

fn base_options(opts: &CatchupOptions, server_id: u32) -> Vec<String> {
    let (flush, sync) = match opts.durability {
        Durability::Relaxed => (2, 0),
        Durability::Full => (1, 1),
    };
    let mut v = vec![
        format!("--server-id={server_id}"),
        // A replica as MHA wants one: binary log on, replicated changes logged.
        "--log-bin=bench-bin".to_string(),
        "--log-slave-updates=ON".into(),
        "--relay-log=bench-relay".into(),
        "--skip-slave-start".into(),
        "--gtid-strict-mode=OFF".into(),
        "--max-allowed-packet=1G".into(),
        format!("--innodb-buffer-pool-size={}", opts.buffer_pool),
        format!("--innodb-flush-log-at-trx-commit={flush}"),
        format!("--sync-binlog={sync}"),
        "--max-connections=200".into(),
    ];
    v.extend(opts.server_options.iter().cloned());
    v
}

fn load_dump(opts: &CatchupOptions, dump: &Path, work: &Path) -> Result<PathBuf> {
    let snap = work.join("snapshot");
    embedded::copy_dir(&embedded::template(&opts.workdir)?, &snap)?;
    let mut s = Embedded::start(&work.join("dump-server"), &snap, &base_options(opts, 1))?;
    let client = embedded::find_program(&["mariadb", "mysql"])?;
    let input = fs::File::open(dump).map_err(|e| Error::io(dump, e))?;
    let mut cmd = Command::new(&client);
    Srv::Embedded(&s).client_args(&mut cmd);
    let out =
        cmd.stdin(input).stdout(Stdio::null()).stderr(Stdio::piped()).output().map_err(|e| Error::io(&client, e))?;
    if !out.status.success() {
        let doing = format!("loading the dump {}", dump.display());
        return Err(tool_failed(&s.datadir().display().to_string(), &client, &doing, &out.stderr));
    }
    // The dump's own binlog is not part of the starting state.
    Server::connect(&s.spec())?.reset_binary_logs()?;
    s.stop()?;
    Ok(snap)
}

fn one_run(
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
fn run_inner(
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
fn timed_run(
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

/// Copies a binlog as a relay log the SQL thread accepts: a ROTATE naming
/// the master's file follows the FDE, as the IO thread writes one. Without
/// it MariaDB 10.11's parallel applier compares an empty master log name
/// and crashes (`compare_log_name` from `inc_group_relay_log_pos`). A relay
/// log already has its ROTATE and is copied as it is.
fn write_relay_copy(src: &Path, master_name: &str, dst: &Path) -> Result<()> {
    use crate::event::{ChecksumAlg, EventIter, EventType, Step, WalkOptions};
    let lf = LogFile::open(src, Access::Mmap)?;
    let bytes = lf.bytes();
    let mut it = EventIter::new(bytes, WalkOptions::default());
    let mut fde_end = None;
    let mut has_rotate = false;
    while let Ok(Some(Step::Event(ev))) = it.next_step() {
        match ev.event_type() {
            EventType::FORMAT_DESCRIPTION if fde_end.is_none() => fde_end = Some((ev.end_offset(), ev.server_id())),
            EventType::ROTATE => has_rotate = true,
            _ => {}
        }
        if fde_end.is_some() && ev.event_type() != EventType::FORMAT_DESCRIPTION || has_rotate {
            break;
        }
    }
    let crc = it.format().is_some_and(|f| f.checksum == ChecksumAlg::Crc32);
    let Some((end, server_id)) = fde_end.filter(|_| !has_rotate) else {
        fs::write(dst, bytes).map_err(|e| Error::io(dst, e))?;
        return Ok(());
    };
    let mut ev = Vec::with_capacity(64);
    let size = 19 + 8 + master_name.len() + if crc { 4 } else { 0 };
    ev.extend_from_slice(&0u32.to_le_bytes()); // timestamp 0 and log_pos 0: a fake ROTATE
    ev.push(EventType::ROTATE.0);
    ev.extend_from_slice(&server_id.to_le_bytes());
    ev.extend_from_slice(&(size as u32).to_le_bytes());
    ev.extend_from_slice(&0u32.to_le_bytes());
    ev.extend_from_slice(&crate::event::flags::ARTIFICIAL.to_le_bytes());
    ev.extend_from_slice(&4u64.to_le_bytes());
    ev.extend_from_slice(master_name.as_bytes());
    if crc {
        let c = crc32fast::hash(&ev);
        ev.extend_from_slice(&c.to_le_bytes());
    }
    let end = end as usize;
    let mut out = Vec::with_capacity(bytes.len() + ev.len());
    out.extend_from_slice(&bytes[..end]);
    out.extend_from_slice(&ev);
    out.extend_from_slice(&bytes[end..]);
    fs::write(dst, out).map_err(|e| Error::io(dst, e))
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

/// `CHECKSUM TABLE` of every base table outside the system schemas.
fn checksums(label: &str, c: &mut mysql::Conn) -> Result<BTreeMap<String, Option<u64>>> {
    let tables: Vec<(String, String)> = c
        .query(
            "SELECT table_schema, table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE' \
             AND table_schema NOT IN ('mysql', 'information_schema', 'performance_schema', 'sys') \
             ORDER BY 1, 2",
        )
        .map_err(|e| Error::server(label, format!("listing tables: {e}")))?;
    let mut out = BTreeMap::new();
    for chunk in tables.chunks(50) {
        let list: Vec<String> =
            chunk.iter().map(|(s, t)| format!("`{}`.`{}`", s.replace('`', "``"), t.replace('`', "``"))).collect();
        let rows: Vec<(String, Option<u64>)> = c
            .query(format!("CHECKSUM TABLE {}", list.join(", ")))
            .map_err(|e| Error::server(label, format!("CHECKSUM TABLE: {e}")))?;
        out.extend(rows);
    }
    Ok(out)
}

/// Marks each run valid or not (see the module docs).
fn judge(runs: &mut [Run], expected: &MariaState) {
    let reference = runs
        .iter()
        .filter(|r| r.seconds.is_some())
        .min_by_key(|r| (r.mode != Mode::Sql, r.round))
        .map(|r| r.checksums.clone());
    for r in runs.iter_mut() {
        if r.seconds.is_none() {
            continue;
        }
        let gtid_ok = MariaState::parse(&r.gtid).is_ok_and(|g| &g == expected);
        if !gtid_ok {
            r.problem = Some(format!("ended at GTID {:?}, the logs end at {:?}", r.gtid, expected.to_text()));
        } else if reference.as_ref() != Some(&r.checksums) {
            let differ: Vec<&String> = r
                .checksums
                .iter()
                .filter(|(t, v)| reference.as_ref().and_then(|m| m.get(*t)) != Some(*v))
                .map(|(t, _)| t)
                .collect();
            r.problem = Some(format!("checksums differ from the reference run's: {differ:?}"));
        } else {
            r.valid = true;
        }
    }
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 })
}

fn table(runs: &[Run], configs: &[(Mode, usize)], logs: &LogsInfo) -> Vec<Line> {
    let med = |m: Mode, t: usize| {
        median(runs.iter().filter(|r| r.mode == m && r.threads == t && r.valid).filter_map(|r| r.seconds).collect())
    };
    let sql = med(Mode::Sql, 1);
    configs
        .iter()
        .map(|&(mode, threads)| {
            let seconds = med(mode, threads);
            Line {
                mode,
                threads,
                seconds,
                trx_per_s: seconds.map(|s| logs.transactions as f64 / s),
                mb_per_s: seconds.map(|s| logs.bytes as f64 / 1e6 / s),
                speedup: sql.zip(seconds).map(|(a, b)| a / b),
                valid: runs.iter().filter(|r| r.mode == mode && r.threads == threads).all(|r| r.valid),
            }
        })
        .collect()
}

impl CatchupReport {
    /// The table, as text.
    pub fn to_text(&self) -> String {
        let mut s = format!(
            "logs: {} files, {} bytes, {} transactions, ending at {}{}\nserver: {}\n\n",
            self.logs.files.len(),
            self.logs.bytes,
            self.logs.transactions,
            self.logs.end_gtid,
            self.logs.cut.as_ref().map(|c| format!(" (cut before {c})")).unwrap_or_default(),
            self.server_version,
        );
        s.push_str(&format!(
            "{:<13} {:>7} {:>10} {:>10} {:>8} {:>8}  {}\n",
            "mode", "threads", "seconds", "trx/s", "MB/s", "vs sql", "valid"
        ));
        let f = |v: Option<f64>, p: usize| v.map(|x| format!("{x:.p$}")).unwrap_or_else(|| "-".into());
        for l in &self.lines {
            s.push_str(&format!(
                "{:<13} {:>7} {:>10} {:>10} {:>8} {:>8}  {}\n",
                l.mode.name(),
                l.threads,
                f(l.seconds, 3),
                f(l.trx_per_s, 0),
                f(l.mb_per_s, 2),
                l.speedup.map(|x| format!("{x:.2}x")).unwrap_or_else(|| "-".into()),
                if l.valid { "yes" } else { "NO" }
            ));
        }
        for r in self.runs.iter().filter(|r| !r.valid) {
            s.push_str(&format!(
                "invalid: {} x{} round {}: {}\n",
                r.mode.name(),
                r.threads,
                r.round + 1,
                r.problem.as_deref().unwrap_or("?")
            ));
        }
        s
    }

    /// The report as JSON.
    pub fn to_json(&self) -> serde_json::Value {
        json!({
            "logs": {
                "files": self.logs.files.len(),
                "bytes": self.logs.bytes,
                "transactions": self.logs.transactions,
                "end_gtid": self.logs.end_gtid,
                "cut": self.logs.cut,
            },
            "server_version": self.server_version,
            "server_options": self.server_options,
            "results": self.lines.iter().map(|l| json!({
                "mode": l.mode.name(),
                "threads": l.threads,
                "seconds": l.seconds,
                "trx_per_s": l.trx_per_s,
                "mb_per_s": l.mb_per_s,
                "speedup_vs_sql": l.speedup,
                "valid": l.valid,
            })).collect::<Vec<_>>(),
            "runs": self.runs.iter().map(|r| json!({
                "mode": r.mode.name(),
                "threads": r.threads,
                "round": r.round + 1,
                "seconds": r.seconds,
                "valid": r.valid,
                "problem": r.problem,
                "gtid_binlog_pos": r.gtid,
                "checksums": r.checksums,
            })).collect::<Vec<_>>(),
        })
    }

    /// All runs valid.
    pub fn all_valid(&self) -> bool {
        self.runs.iter().all(|r| r.valid)
    }
}

/// A progress bar for one run: transactions applied, read from the
/// server's `gtid_binlog_pos` by a thread of its own (every mode logs what
/// it applies).
struct Bar {
    stop: Arc<AtomicBool>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl Bar {
    fn start(on: bool, label: &str, spec: &crate::server::ConnSpec, logs: &LogsInfo) -> Result<Bar> {
        let stop = Arc::new(AtomicBool::new(false));
        if !on || !std::io::stderr().is_terminal() {
            return Ok(Bar { stop, handle: None });
        }
        let end = MariaState::parse(&logs.end_gtid)?;
        let mut srv = Server::connect(spec)?;
        let pb = indicatif::ProgressBar::new(logs.transactions);
        pb.set_style(
            indicatif::ProgressStyle::with_template("{prefix:>16} {bar:40} {pos}/{len} trx {per_sec} {elapsed}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        pb.set_prefix(label.to_string());
        let domains: Vec<u32> =
            end.domain_position().split(',').filter_map(|g| g.split('-').next()?.parse().ok()).collect();
        let total_seq: u64 = domains.iter().filter_map(|d| end.domain_seq(*d)).sum();
        let (s2, n) = (stop.clone(), logs.transactions);
        let handle = std::thread::spawn(move || {
            while !s2.load(Ordering::Relaxed) {
                if let Some(st) = srv.gtid_binlog_pos().ok().and_then(|t| MariaState::parse(&t).ok()) {
                    let seq: u64 = domains.iter().filter_map(|d| st.domain_seq(*d)).sum();
                    // Sequence numbers may start anywhere: count back from the end.
                    pb.set_position(n.saturating_sub(total_seq.saturating_sub(seq)));
                }
                std::thread::sleep(Duration::from_millis(200));
            }
            pb.finish_and_clear();
        });
        Ok(Bar { stop, handle: Some(handle) })
    }

    fn finish(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(mode: Mode, threads: usize, secs: Option<f64>, sum: u64, gtid: &str) -> Run {
        Run {
            mode,
            threads,
            round: 0,
            seconds: secs,
            problem: secs.is_none().then(|| "failed".to_string()),
            checksums: [("d.t".to_string(), Some(sum))].into(),
            gtid: gtid.into(),
            valid: false,
        }
    }

    #[test]
    fn judged_against_the_sql_thread_and_the_logs_end() {
        let end = MariaState::parse("0-1-10").unwrap();
        let mut runs = vec![
            run(Mode::Pipe, 1, Some(5.0), 7, "0-1-10"),
            run(Mode::Sql, 1, Some(1.0), 7, "0-1-10"),
            run(Mode::Apply, 2, Some(2.0), 8, "0-1-10"),
            run(Mode::Apply, 4, Some(2.0), 7, "0-1-9"),
            run(Mode::Optimistic, 2, None, 0, ""),
        ];
        judge(&mut runs, &end);
        let valid: Vec<bool> = runs.iter().map(|r| r.valid).collect();
        assert_eq!(valid, [true, true, false, false, false]);
        assert!(runs[2].problem.as_deref().unwrap().contains("checksums differ"));
        assert!(runs[3].problem.as_deref().unwrap().contains("0-1-9"));
        assert_eq!(runs[4].problem.as_deref(), Some("failed"));

        let logs = LogsInfo {
            files: vec![],
            names: vec![],
            bytes: 10_000_000,
            transactions: 1000,
            end_gtid: "0-1-10".into(),
            cut: None,
            free_server_id: 3_999_999_999,
        };
        let configs = [(Mode::Sql, 1), (Mode::Pipe, 1), (Mode::Apply, 2)];
        let t = table(&runs, &configs, &logs);
        assert_eq!(t[0].speedup, Some(1.0));
        assert_eq!(t[1].seconds, Some(5.0));
        assert_eq!(t[1].trx_per_s, Some(200.0));
        assert_eq!(t[1].mb_per_s, Some(2.0));
        assert_eq!(t[1].speedup, Some(0.2));
        assert!(t[2].seconds.is_none() && !t[2].valid, "an invalid run has no time");
    }

    #[test]
    fn median_of_valid_times() {
        assert_eq!(median(vec![]), None);
        assert_eq!(median(vec![3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(vec![4.0, 1.0]), Some(2.5));
    }

    #[test]
    fn modes_by_name() {
        for m in Mode::ALL {
            assert_eq!(Mode::parse(m.name()).unwrap(), m);
        }
        assert!(Mode::parse("fast").unwrap_err().to_string().contains("optimistic"));
    }
}
