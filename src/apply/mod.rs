//! Applying diff logs to a live server over the MySQL protocol, natively (no
//! `mysqlbinlog | mysql` pipe), one whole transaction at a time.
//!
//! MHA applies differential logs with `mysqlbinlog FILE | mysql`. On MariaDB
//! that silently loses transactions (mariadb-binlog's GTID strict mode stops
//! at a master rotation inside a diff, and the client exits 0 on the short
//! input). Here every transaction is either applied whole or not at all, and
//! the run ends with an error that says which transaction failed and why.
//!
//! # How
//!
//! 1. **Pre-scan** every file (structure, checksums, transaction grouping):
//!    a damaged file stops the apply before anything touches the server.
//! 2. **Connect and check** the target: expected server id and GTID position
//!    (optional), replication threads stopped (unless `force`), and a
//!    session `max_allowed_packet` as large as the server gives its own
//!    replication applier (`slave_max_allowed_packet`, and at least the
//!    biggest statement): the global value is raised for our new session
//!    and put back at once.
//! 3. **Apply** each transaction (`stream` yields only whole groups): the
//!    events are converted to statements as mysqlbinlog prints them
//!    ([`convert`], [`session`]) and run as `BEGIN … COMMIT`. On any error
//!    the transaction is rolled back and the run stops with the file, offset
//!    and type of the failing event, the transaction's GTID (or master
//!    position) and the server's error text. A trailing incomplete
//!    transaction is never applied and is reported.
//! 4. **Verify**: the target's GTID state must hold the last applied GTID of
//!    every domain (MariaDB) or source (MySQL); the number of committed and
//!    skipped transactions must equal the number in the files. A short apply
//!    is an error, never a success. (A MariaDB target that logs rows writes
//!    nothing for a statement that changed no row, so that transaction's
//!    GTID cannot reach its state: such transactions are detected right
//!    after their commit through `@@last_gtid`, reported as "not
//!    binlogged", and left out of the check.)
//!
//! Every session setting the applier changes (and the global
//! `max_allowed_packet`) is put back by a guard on every exit path.
//!
//! The input may also be a group that starts mid-stream: a commit without a
//! GTID or BEGIN before it (a diff cut inside a transaction) is refused
//! before anything is applied, since it would commit half a transaction.
//! Several files are one stream, so a transaction may span files (relay
//! logs, or MHA's exec→read piece followed by the read→latest diff).
//!
//! [`render_sql`] is the dry run: the same statements as a script.
//!
//! # Resume
//!
//! Progress (file, offset, GTID) is written to a state file next to the
//! first diff ([`state`]). With `resume`, transactions up to the saved
//! offset are skipped, and so is every transaction whose GTID the target
//! already has (MariaDB: seq_no ≤ the target's for that domain and server
//! in `gtid_binlog_state`/`gtid_slave_pos` — per server id too, so a local
//! write on the target with a higher seq_no does not hide a missing master
//! transaction; `gtid_current_pos` alone would miss what we applied, since
//! it follows the binlog only for the target's own server id; MySQL: in
//! `gtid_executed`). Without `resume`, a transaction the target already has
//! is an error, never a double apply.
//!
//! Whether that GTID state is a usable check is decided once per run
//! (`AppliedCheck`), from the target and the options, not from the input
//! alone: it is when every transaction has a GTID *and* the target records
//! the GTIDs we set (it writes a binary log, and so does our session). Then
//! the state file is written in batches and may lag: the GTID state settles
//! the rest. Otherwise (`--disable-log-bin`, `sql_log_bin=0`, a target
//! without `log_bin`, transactions without GTIDs) nothing but the state file
//! can say what committed, so it is exact: an intent is fsynced to its
//! journal before each COMMIT, a record follows the commit ([`state`]). Then:
//!
//! - a resume from a batched (inexact) state is refused;
//! - a resume that finds an intent without its record refuses, naming the
//!   transaction in doubt (file, offset, GTID) and how to look at it, until
//!   told `in_doubt` (`--resume-assume-committed` or
//!   `--resume-assume-rolled-back`);
//! - a fresh apply of files the state records as applied (in part or in
//!   whole) is refused unless `again`; `skip_applied` (a rerun) resumes from
//!   the state when it records these files;
//! - compound batches are off (a batch's fate needs the GTID state); the
//!   parallel apply keeps working: commits happen in source order anyway,
//!   and the head writes its intent before its COMMIT, so the state stays
//!   exact and the commits a prefix.
//!
//! # Bounds and interrupts
//!
//! Apply connections ([`ConnSpec::connect_apply`]) bound connecting, the
//! login and writes by the MySQL timeout and use TCP keepalive, but not
//! reads: a statement may rightly run longer (a big DDL). A watchdog per
//! target (`watch.rs`) probes the target on a side connection whenever no
//! transaction settled for the MySQL timeout; a target that does not answer
//! in time, or no longer has our connections, ends the apply: our sockets
//! are shut down (every blocked read returns) and the error is an
//! [`ErrorKind::Timeout`] naming the host and the transaction. `deadline`
//! ends the apply the same way when it passes (our connections also killed
//! on the server), and bounds our sessions' lock waits by what is left of
//! it. `interrupt` (SIGINT, SIGTERM in the CLI) stops at the next clean
//! point: no COMMIT is sent after it, an open transaction is rolled back (a
//! statement still running a second later gets `KILL QUERY`), the state is
//! written, and the error is an [`ErrorKind::Interrupted`]; the report's
//! `resume` says where it stands. [`apply_with_conn`] has no watchdog (it
//! cannot open a side connection).
//!
//! # Limits
//!
//! - Changes to non-transactional tables (MyISAM, Aria…) inside a failing
//!   transaction cannot be rolled back; the error says the transaction was
//!   rolled back, which holds for transactional engines only.
//! - A lost connection during `COMMIT` (or during a statement that commits on
//!   its own, DDL) leaves the outcome unknown; the error says so and
//!   `resume` settles it from the target's GTID state, or, without a GTID
//!   check, asks the operator (see "Resume").
//! - An interrupt that has to `KILL QUERY` a statement of a non-transactional
//!   table may leave part of that statement applied (as any kill would).
//! - Statement text that is not valid UTF-8 (a latin1 session's literals)
//!   is sent byte-exact through `EXECUTE IMMEDIATE X'…'` (MariaDB) or
//!   `PREPARE … FROM @var` (MySQL), as the `mysql` crate only sends `&str`;
//!   a statement that cannot be prepared then fails with a clear error.
//! - LOAD DATA in STATEMENT format is replayed through `LOAD DATA LOCAL`
//!   with the file served from memory: the target needs `local_infile=ON`.
//! - Temporary tables of different master sessions share the one apply
//!   session (as with mysqlbinlog): same-named temporary tables of
//!   concurrent master sessions collide.
//! - A transaction's statements are built in memory before it runs: a
//!   1 GiB transaction needs about 1.4 GiB.
//! - MySQL targets (GTID_NEXT, transaction payloads, tagged GTIDs, the
//!   `PREPARE` route) are implemented but only checked offline here: the
//!   tests run MariaDB 10.11.
//!
//! # Parallel apply (`parallel` > 1)
//!
//! The loop above stays the single reader: it pre-scans, skips what the
//! target has, and hands whole groups to N worker connections (each with
//! its own `SessionGuard` and session tracker, converting its groups
//! itself). What may overlap is decided in `depend.rs` from what the source
//! recorded and what the rows say:
//!
//! - **write sets**, as MySQL's WRITESET tracking: a hash of every primary
//!   and unique key value in the row images (key columns looked up once per
//!   table in the target's `information_schema`; tables linked by foreign
//!   keys, and tables without a key, count as a whole); two transactions
//!   sharing a hash run one after the other. This is what makes a
//!   single-writer master's stream (one transaction per group commit)
//!   parallel;
//! - MariaDB's group-commit id (`FL_GROUP_COMMIT_ID` with
//!   `FL_ALLOW_PARALLEL`) and MySQL's `last_committed`/`sequence_number`
//!   (the latter checked offline only here); the smaller bound wins;
//! - **barriers** run alone, after everything before them committed and
//!   before anything after them starts: DDL, statement-format groups (any
//!   QUERY but BEGIN/COMMIT), groups that are not transactional
//!   (`FL_TRANSACTIONAL` unset, or a table whose engine is not InnoDB),
//!   XA, and anything without that information (no GTID event, an unknown
//!   table, a row image that cannot be decoded). Table look-ups are redone
//!   after a barrier (it may have been DDL).
//!
//! Commits happen in source order: a worker that has run a transaction's
//! statements waits until every earlier transaction committed before its
//! COMMIT (like `slave_preserve_commit_order`). So resume state, GTID order
//! on the target and the final GTID check are those of a serial run.
//!
//! Conflicts the dependency tracking misses (case-insensitive keys, a
//! cascade two foreign keys away, gap locks) are caught the way MariaDB's
//! optimistic parallel replication catches them: a transaction that fails
//! while an earlier one has not committed is rolled back and run again once
//! it is the head of the commit order; only a failure at the head is a
//! failure (retried after deadlocks and lock wait timeouts as in a serial
//! run). A worker waiting for its turn checks every 50 ms whether an
//! earlier worker waits for a row lock it holds (InnoDB's
//! `INNODB_LOCK_WAITS`; MySQL 8, which lacks it: any earlier worker in
//! LOCK WAIT), a cycle InnoDB cannot see: it rolls back and runs again in
//! turn. Barriers are never run beside anything, so nothing
//! non-transactional is ever rolled back by this.
//!
//! On the first failure (in source order) nothing more commits: the
//! others roll back their open transactions, and the error names the first
//! failing transaction, as in a serial run.
//!
//! Limits: commits are one round trip each, one after the other, so the
//! gain is bounded by the time a COMMIT takes on the target; minimal row
//! images (`binlog_row_image=MINIMAL`) without a whole key in an image make
//! that transaction wait for all earlier ones; `apply_with_conn` (one
//! connection) is always serial.
//!
//! # Many transactions to a round trip (MariaDB)
//!
//! On a MariaDB target that binlogs what we apply (not with
//! `disable_log_bin`: its GTID state must follow our commits), runs of row
//! transactions with GTIDs (the usual diff) are not sent one by one: up to
//! 256 of them go as one compound statement (`BEGIN NOT ATOMIC … END`,
//! `compound.rs`) in which each still runs `START TRANSACTION … COMMIT`
//! with its own GTID, and their `BINLOG` texts go before it as parameters
//! of one prepared `SET`. Two round trips for 256 transactions instead of
//! two for each: on a two-core machine the serial apply went from about 4×
//! the time of the server's own SQL thread to about 1.4× (README,
//! "Relay-log catch-up"). A statement that fails stops the
//! compound statement; what committed before it is settled and the rest
//! runs one at a time, so the error still names the exact event and
//! retries and "already applied" checks work as before. A lost connection
//! ends the run with the batch's fate left to the target's GTID state
//! (which `--resume` reads). `--no-batch` turns this off.
//!
//! With `--parallel N` on MariaDB, the workers run such windows dealt out
//! in turn, the commit order kept inside the server by a chain of user
//! locks (`chain.rs`); the parallel apply above is used for MySQL targets
//! and with `--no-batch`. Windows on all workers and on one are timed side
//! by side now and then, and the faster runs the others: on few cores the
//! hand-over per commit costs more than the overlap gains.
//!
//! # Several replicas
//!
//! [`apply_plan`] applies every replica's diff of a failover plan (the JSON
//! of `binlog-diff diff --json --write DIR`, with each replica's host and
//! port) on its own thread; one failure never stops the others.
//!
//! # Files
//!
//! This file holds the entry points ([`apply`], [`apply_with_conn`],
//! [`apply_files`]) and the re-exports. From the input up: `group.rs` (a
//! transaction as read, its identity), `stream.rs` (files as one stream of
//! whole groups), `prescan.rs` (the read-through before any server is
//! touched), [`convert`] and [`session`] (events to statements), `exec.rs`
//! (running a transaction's statements), `applied.rs` and `unapplied.rs`
//! (what the target has; what of the input is never applied), `resume.rs`
//! and [`state`] (where a run starts; the state it writes), `book.rs` (what
//! a run records as it commits), `run.rs` (the checks, then `serial.rs` or
//! `parallel.rs` with `writeset.rs` and `depend.rs`), `ending.rs` (the final
//! check), [`report`] (what the caller gets).

mod applied;
mod book;
pub(crate) mod chain;
pub(crate) mod compound;
pub mod convert;
mod counters;
pub(crate) mod depend;
mod ending;
mod exec;
mod group;
pub(crate) mod guard;
pub mod multi;
mod options;
pub(crate) mod parallel;
mod prescan;
pub mod render;
pub mod report;
mod resume;
mod run;
mod serial;
pub mod session;
pub mod state;
pub(crate) mod stream;
pub mod target;
mod unapplied;
pub(crate) mod watch;
mod writeset;

use std::path::PathBuf;
use std::time::Instant;

use crate::error::{Error, ErrorKind, Result};
use crate::log::LogFile;
use crate::server::ConnSpec;

pub use counters::Counters;
pub use group::{TrxId, Xid};
pub use multi::{Bars, PlanTarget, apply_plan, plan_targets};
pub use options::{AfterCommit, ApplyOptions, InDoubtWas};
#[doc(hidden)]
pub use parallel::waits_for_my_locks;
pub use render::render_sql;
pub use report::{
    ApplyFailure, ApplyReport, Failure, FileReport, NotApplied, ResumePoint, ServerError, TrxOutcome, Verification,
};
pub use state::{InDoubt, ResumeState, state_path};
pub use target::{GtidSet, MariaState};

use guard::{MAX_PACKET, PacketGuard};
use prescan::{Prescan, open_files};
use target::Target;

/// Applies `files` (in order, as one stream) to the server `spec` names.
///
/// # Errors
/// See [`apply`]; the report is dropped.
pub fn apply_files(spec: &ConnSpec, files: &[PathBuf], opts: &ApplyOptions) -> Result<ApplyReport> {
    apply(spec, files, opts).map_err(|f| f.error)
}

/// Applies `files` to the server `spec` names, raising the global
/// `max_allowed_packet` for its session when a statement needs it.
///
/// # Errors
/// A damaged input (before anything is applied), a failed safety check, a
/// failing transaction (rolled back), an incomplete trailing transaction
/// (unless allowed), or a final state that does not hold what was applied.
pub fn apply(spec: &ConnSpec, files: &[PathBuf], opts: &ApplyOptions) -> Result<ApplyReport, ApplyFailure> {
    let started = Instant::now();
    let label = spec.label();
    let (lfs, pre, report) = prepare(&label, files, opts)?;
    // What the watchdog calls progress: every settled transaction ticks it.
    let counters = opts.counters.clone().unwrap_or_default();
    let opts = &ApplyOptions { counters: Some(counters.clone()), ..opts.clone() };
    let deadline = opts.deadline.map(|d| (started + d, d));
    let limits = watch::Limits { bound: spec.bound(), deadline };
    let watch = watch::Watch::start(spec, limits, opts.interrupt.clone(), counters);
    let r = connect_and_run(spec, &label, &lfs, &pre, opts, report, &watch, deadline.map(|d| d.0));
    let fired = watch.stop();
    timed(started, explain(r, fired, &label, opts))
}

/// The error of a run the watchdog ended (a [`ErrorKind::Timeout`]), or
/// that an interrupt stopped (an [`ErrorKind::Interrupted`]), at the
/// failing transaction's location.
fn explain(
    r: Result<ApplyReport, ApplyFailure>,
    fired: Option<watch::Fired>,
    label: &str,
    opts: &ApplyOptions,
) -> Result<ApplyReport, ApplyFailure> {
    let Err(mut f) = r else { return r };
    let loc = f.error.location().clone();
    // What failed, without the server's name: the new error names it.
    let what = match f.error.kind() {
        ErrorKind::Server { what, .. } => what.clone(),
        k => k.to_string(),
    };
    if let Some(fired) = fired {
        f.error = Error::timeout(label, format!("at {what}"), fired.why()).with_location(loc);
    } else if opts.interrupted() && !matches!(f.error.kind(), ErrorKind::Interrupted(_)) {
        f.error = Error::new(ErrorKind::Interrupted(format!("interrupted: {what}"))).with_location(loc);
    }
    Err(f)
}

/// Connects (the main connection and the workers) and runs the apply,
/// every connection watched.
#[allow(clippy::too_many_arguments)]
fn connect_and_run(
    spec: &ConnSpec,
    label: &str,
    lfs: &[LogFile],
    pre: &Prescan,
    opts: &ApplyOptions,
    mut report: ApplyReport,
    watch: &watch::Watch,
    deadline: Option<Instant>,
) -> Result<ApplyReport, ApplyFailure> {
    let fail = |e: Error, report: ApplyReport| ApplyFailure { error: e, report: Box::new(report) };
    let mut conn = match spec.connect_apply() {
        Ok(c) => c,
        Err(e) => return Err(fail(e, report)),
    };
    watch.watch([&conn]);
    let mut target = match Target::probe(&mut conn, label) {
        Ok(t) => t,
        Err(e) => return Err(fail(e, report)),
    };
    if pre.max_packet > MAX_PACKET {
        let e =
            Error::server(label, format!("a statement needs {} bytes, over the server limit of 1 GiB", pre.max_packet));
        return Err(fail(e, report));
    }
    // Like the server's own replication applier, whose session gets
    // slave_max_allowed_packet: a statement's *result* (REPEAT, CONCAT…)
    // may need more than the client default even when its text does not.
    let want = pre.max_packet.max(target.slave_max_allowed_packet.unwrap_or(MAX_PACKET)).min(MAX_PACKET);
    let n_workers = if opts.parallel > 1 { opts.parallel } else { 0 };
    let connect_all = |n: usize| -> Result<Vec<mysql::Conn>> { (0..n).map(|_| spec.connect_apply()).collect() };
    let workers;
    if want > target.max_allowed_packet {
        // Every connection opened while the global value is raised keeps it.
        let r = (|| -> Result<(mysql::Conn, Target, Vec<mysql::Conn>)> {
            let mut g = PacketGuard::raise(conn, label, target.global_max_allowed_packet, want)?;
            let mut c2 = spec.connect_apply()?;
            let w = connect_all(n_workers);
            if let Ok(w) = &w {
                watch.watch(std::iter::once(&c2).chain(w));
            }
            g.restore(&mut c2)?;
            let t = Target::probe(&mut c2, label)?;
            Ok((c2, t, w?))
        })();
        match r {
            Ok((c, t, w)) => {
                conn = c;
                target = t;
                workers = w;
            }
            Err(e) => return Err(fail(e, report)),
        }
    } else {
        match connect_all(n_workers) {
            Ok(w) => workers = w,
            Err(e) => return Err(fail(e, report)),
        }
    }
    watch.watch(std::iter::once(&conn).chain(&workers));
    report.parallel = n_workers.max(1);
    run::run(&mut conn, label, lfs, pre, target, opts, report, workers, deadline)
}

/// Applies `files` over an open connection (tests, embedding). The
/// session's `max_allowed_packet` must already be large enough.
///
/// # Errors
/// As [`apply`].
pub fn apply_with_conn(
    conn: &mut mysql::Conn,
    label: &str,
    files: &[PathBuf],
    opts: &ApplyOptions,
) -> Result<ApplyReport, ApplyFailure> {
    let started = Instant::now();
    let (lfs, pre, report) = prepare(label, files, opts)?;
    let fail = |e: Error, report: ApplyReport| ApplyFailure { error: e, report: Box::new(report) };
    let target = match Target::probe(conn, label) {
        Ok(t) => t,
        Err(e) => return Err(fail(e, report)),
    };
    if pre.max_packet > target.max_allowed_packet {
        let e = Error::server(
            label,
            format!("max_allowed_packet is {} but a statement needs {}", target.max_allowed_packet, pre.max_packet),
        );
        return Err(fail(e, report));
    }
    let r = run::run(conn, label, &lfs, &pre, target, opts, report, Vec::new(), None);
    timed(started, explain(r, None, label, opts))
}

/// Opens and pre-scans the input before any server is touched; a damaged
/// input fails here with nothing applied.
fn prepare(
    label: &str,
    files: &[PathBuf],
    opts: &ApplyOptions,
) -> Result<(Vec<LogFile>, Prescan, ApplyReport), ApplyFailure> {
    let mut report = ApplyReport::new(files);
    report.target = label.to_string();
    let scanned = open_files(files, opts).and_then(|lfs| Prescan::of(&lfs, opts).map(|pre| (lfs, pre)));
    match scanned {
        Ok((lfs, pre)) => Ok((lfs, pre, report)),
        Err(e) => Err(ApplyFailure { error: e, report: Box::new(report) }),
    }
}

/// Stamps the wall time on the report, success or failure.
fn timed(started: Instant, mut r: Result<ApplyReport, ApplyFailure>) -> Result<ApplyReport, ApplyFailure> {
    match &mut r {
        Ok(rep) => rep.elapsed = started.elapsed(),
        Err(f) => f.report.elapsed = started.elapsed(),
    }
    r
}

/// For tests and tools: the state file path a run over `files` uses.
pub fn default_state_file(files: &[PathBuf]) -> PathBuf {
    state::state_path(files)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::AtomicBool;
    use std::time::Duration;

    use super::*;
    use crate::event::EventType;

    /// The shape of this folder (issue 19): no file over 900 lines, no
    /// import cycle between its files, and nothing but the re-exported
    /// public types (and `apply`, for `multi.rs`) imported back from this
    /// file.
    #[test]
    fn files_are_small_import_no_cycle_and_no_helper_from_mod_rs() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/apply");
        let problems = shape_problems(&dir);
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }

    /// What is wrong with the shape of the folder `dir` (see above).
    fn shape_problems(dir: &std::path::Path) -> Vec<String> {
        use std::collections::{BTreeMap, BTreeSet};
        let mut texts = BTreeMap::new();
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "rs") {
                let name = p.file_stem().unwrap().to_string_lossy().to_string();
                texts.insert(name, std::fs::read_to_string(&p).unwrap());
            }
        }
        let mut problems = Vec::new();
        for (m, t) in &texts {
            if t.lines().count() > 900 {
                problems.push(format!("{m}.rs has {} lines (over 900)", t.lines().count()));
            }
        }
        // Names this file re-exports (`pub use x::{A, B}` or `pub use x::A`).
        let mut exported: BTreeSet<String> = ["apply".to_string()].into();
        let mod_rs = &texts["mod"];
        for part in mod_rs.split("pub use ").skip(1) {
            let list = part.split(';').next().unwrap_or("");
            let list = list.split_once("::").map_or("", |(_, rest)| rest);
            for n in list.split(['{', '}', ',']) {
                let n = n.trim();
                if !n.is_empty() && !n.contains("::") {
                    exported.insert(n.to_string());
                }
            }
        }
        // Which sibling files each file imports (tests left aside).
        let mut deps: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
        for (m, t) in texts.iter().filter(|(m, _)| *m != "mod") {
            let code = t.split("#[cfg(test)]").next().unwrap_or("");
            let code: Vec<&str> = code.lines().map(str::trim).filter(|l| !l.starts_with("//")).collect();
            let code = code.join(" ");
            let mut uses = BTreeSet::new();
            for (i, _) in code.match_indices("super::") {
                for n in first_segments(&code[i + "super::".len()..]) {
                    if texts.contains_key(n) {
                        uses.insert(n.to_string());
                    } else if !exported.contains(n) {
                        problems.push(format!("{m}.rs imports `{n}` from mod.rs"));
                    }
                }
            }
            uses.remove(m.as_str());
            deps.insert(m, uses);
        }
        // A cycle: a file that reaches itself.
        for start in deps.keys() {
            let mut seen = BTreeSet::new();
            let mut todo: Vec<&str> = deps[start].iter().map(String::as_str).collect();
            while let Some(m) = todo.pop() {
                if m == *start {
                    problems.push(format!("{start}.rs imports itself through other files of apply/"));
                    break;
                }
                if seen.insert(m) {
                    todo.extend(deps.get(m).into_iter().flatten().map(String::as_str));
                }
            }
        }
        problems
    }

    /// The first path segment of each name a `use` path (after `super::`)
    /// names: `a` of `a::B`, `a` and `c` of `{a::{B, C}, c}`.
    fn first_segments(rest: &str) -> Vec<&str> {
        let ident = |s: &str| s.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(s.len());
        let Some(group) = rest.strip_prefix('{') else { return vec![&rest[..ident(rest)]] };
        let (mut out, mut depth, mut start) = (Vec::new(), 0, 0);
        for (i, c) in group.char_indices() {
            match c {
                '{' => depth += 1,
                '}' | ',' if depth == 0 => {
                    let item = group[start..i].trim();
                    let n = &item[..ident(item)];
                    if !n.is_empty() && n != "self" {
                        out.push(n);
                    }
                    if c == '}' {
                        break;
                    }
                    start = i + 1;
                }
                '}' => depth -= 1,
                _ => {}
            }
        }
        out
    }

    /// A run the watchdog ended is a Timeout naming host and step, at the
    /// failing transaction's place; an interrupted one is Interrupted.
    #[test]
    fn errors_of_bounds_and_interrupts() {
        let failed = || {
            let e = Error::server("h:3306", "GTID 0-1-7: connection lost")
                .with_file(std::path::Path::new("d.bin"))
                .at(120, Some(EventType::XID));
            Err(ApplyFailure { error: e, report: Box::new(ApplyReport::new(&[])) })
        };
        let fired = watch::Fired::Deadline { after: Duration::from_secs(5) };
        let f = explain(failed(), Some(fired), "h:3306", &ApplyOptions::default()).unwrap_err();
        assert!(matches!(f.error.kind(), ErrorKind::Timeout { host, .. } if host == "h:3306"));
        assert_eq!(
            f.error.to_string(),
            "d.bin @ 120 (XID_EVENT): h:3306: the apply deadline of 5s passed; the apply connections were cut (and \
             killed on the server); stopped at GTID 0-1-7: connection lost"
        );
        let stop = Arc::new(AtomicBool::new(true));
        let o = ApplyOptions { interrupt: Some(stop), ..Default::default() };
        let f = explain(failed(), None, "h:3306", &o).unwrap_err();
        assert!(matches!(f.error.kind(), ErrorKind::Interrupted(_)), "{}", f.error);
        // Neither: unchanged.
        let f = explain(failed(), None, "h:3306", &ApplyOptions::default()).unwrap_err();
        assert!(matches!(f.error.kind(), ErrorKind::Server { server, .. } if server == "h:3306"));
    }
}
