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

mod logs;
mod report;
mod target;
#[cfg(test)]
mod tests;
mod timed;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use self::logs::{generate, prepare_logs, write_relay_copy};
use self::report::{judge, table};
use self::target::{base_options, load_dump, run_on_target};
use self::timed::{one_run, run_inner};
use super::workload::WorkloadSpec;
use crate::apply::MariaState;
use crate::error::{Error, Result};
use crate::server::ConnSpec;
use crate::server::embedded;

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
pub enum StartingState {
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
    pub start: StartingState,
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
        if snapshot.is_some() || matches!(opts.start, StartingState::Datadir(_)) {
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
        (None, StartingState::Empty) => embedded::template(&opts.workdir)?,
        (None, StartingState::Datadir(d)) => {
            if !d.join("mysql").is_dir() {
                return Err(Error::config(Some("--datadir"), "not a datadir (no mysql/ folder)").with_file(d));
            }
            d.clone()
        }
        (None, StartingState::Dump(f)) => load_dump(opts, f, &work)?,
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
