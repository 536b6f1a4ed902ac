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

pub(crate) mod chain;
pub(crate) mod compound;
pub mod convert;
pub(crate) mod depend;
mod group;
pub(crate) mod guard;
pub mod multi;
pub(crate) mod parallel;
pub mod render;
pub mod report;
pub mod session;
pub mod state;
pub(crate) mod stream;
pub mod target;
pub(crate) mod watch;
mod writeset;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use mysql::prelude::Queryable;

use crate::error::{Error, ErrorKind, Result};
use crate::event::{EventType, Flavor};
use crate::log::{Access, LogFile};
use crate::server::ConnSpec;

pub use group::{TrxId, Xid};
pub use multi::{Bars, Counters, PlanTarget, apply_plan, plan_targets};
#[doc(hidden)]
pub use parallel::waits_for_my_locks;
pub use render::render_sql;
pub use report::{ApplyReport, Failure, FileReport, NotApplied, ResumePoint, ServerError, TrxOutcome, Verification};
pub use state::{InDoubt, ResumeState, state_path};
pub use target::{GtidSet, MariaState};

use convert::{End, Src, TrxPlan};
use group::{Group, Kind};
use guard::{MAX_PACKET, PacketGuard, SessionGuard};
use session::{SessionCtx, TargetInfo, hex};
use stream::{Item, Stream};
use target::{Applied, Target};

/// Options for an apply.
#[derive(Clone, Debug)]
pub struct ApplyOptions {
    /// Refuse unless the target's `@@server_id` is this.
    pub expect_server_id: Option<u32>,
    /// Refuse unless the target's GTID position is this (MariaDB
    /// `gtid_current_pos`/`gtid_binlog_pos`, MySQL `gtid_executed`).
    pub expect_gtid_pos: Option<String>,
    /// Apply even while replication threads run on the target, or the
    /// input's server flavor differs from the target's.
    pub force: bool,
    /// `SET sql_log_bin=0` for the apply session.
    pub disable_log_bin: bool,
    /// Continue after what the target already has (state file + GTID state).
    pub resume: bool,
    /// Skip, rather than fail on, transactions whose GTID the target
    /// already has: a rerun of an interrupted failover. Unlike `resume` it
    /// needs no state file; transactions without a GTID are applied.
    pub skip_applied: bool,
    /// A trailing incomplete transaction is reported but is not an error.
    pub allow_partial_tail: bool,
    /// Verify event checksums while reading.
    pub verify_checksums: bool,
    /// How to read the files.
    pub access: Access,
    /// State file (default: [`state_path`] of the files).
    pub state_file: Option<PathBuf>,
    /// Write no state file.
    pub no_state_file: bool,
    /// Times a transaction is run again after a deadlock or lock wait
    /// timeout (only transactions the source marks transactional).
    pub retries: u32,
    /// Worker connections: 1 applies serially over one connection; more
    /// run independent transactions side by side, committing in source
    /// order (see "Parallel apply"). Only [`apply`] (which can open
    /// connections) runs in parallel.
    pub parallel: usize,
    /// Send every transaction on its own (no compound statements of many
    /// row transactions; see `compound.rs`).
    pub no_batch: bool,
    /// Live progress counters (transactions committed or skipped, of all).
    pub counters: Option<std::sync::Arc<Counters>>,
    /// Apply files the resume state records as applied (in whole or in
    /// part) once more, from their start. Only matters when the target
    /// cannot say what it has (no GTID check: see "Resume"): that is
    /// refused otherwise.
    pub again: bool,
    /// With `resume` (or `skip_applied`): what became of the transaction the
    /// state says was being committed when the last run stopped. Such a
    /// state is refused without it.
    pub in_doubt: Option<InDoubtWas>,
    /// End the apply when this long has passed since it started (its
    /// connections cut, a [`ErrorKind::Timeout`]); lock waits of its
    /// sessions (`lock_wait_timeout`, `innodb_lock_wait_timeout`) are
    /// bounded by what is left of it. The MySQL timeout (the liveness
    /// bound) is the connection spec's ([`ConnSpec::timeout`]).
    pub deadline: Option<Duration>,
    /// Set (by a signal handler) to stop at the next clean point: no COMMIT
    /// is sent after it, an open transaction is rolled back (a statement
    /// still running after a second is interrupted with `KILL QUERY`), the
    /// state is written exactly, and the run fails with
    /// [`ErrorKind::Interrupted`].
    pub interrupt: Option<Arc<AtomicBool>>,
    /// Test hook: called with a parallel worker's connection id right after
    /// its COMMIT returned.
    #[doc(hidden)]
    pub after_commit: Option<AfterCommit>,
}

/// What the operator found of a transaction in doubt (see [`ApplyOptions::in_doubt`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InDoubtWas {
    /// Its changes are on the target: resume after it.
    Committed,
    /// They are not: resume with it.
    RolledBack,
}

/// A test hook (see [`ApplyOptions::after_commit`]).
#[doc(hidden)]
#[derive(Clone)]
pub struct AfterCommit(pub Arc<dyn Fn(u32) + Send + Sync>);

impl std::fmt::Debug for AfterCommit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AfterCommit")
    }
}

/// Whether the target can say which transactions it already has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AppliedCheck {
    /// Its GTID state: every transaction has a GTID and the target records
    /// those we apply (it writes a binary log, and so does our session).
    ByGtid,
    /// Only an exact resume state can say (and why).
    None(NoCheck),
}

/// Why the target cannot say what it has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NoCheck {
    /// Binary logging is off on the target.
    LogBinOff,
    /// Binary logging is off for the apply session.
    SessionLogBinOff,
    /// Some transactions have no GTID.
    NoGtids,
}

impl AppliedCheck {
    /// Decided once per run, from the target and the options: MariaDB
    /// records the GTIDs we set (`gtid_binlog_state`) only when it writes
    /// them to its binlog; MySQL is treated alike (not checked live here).
    fn of(log_bin: bool, session_log_bin: bool, without_gtid: u64) -> AppliedCheck {
        if !log_bin {
            AppliedCheck::None(NoCheck::LogBinOff)
        } else if !session_log_bin {
            AppliedCheck::None(NoCheck::SessionLogBinOff)
        } else if without_gtid > 0 {
            AppliedCheck::None(NoCheck::NoGtids)
        } else {
            AppliedCheck::ByGtid
        }
    }
}

impl NoCheck {
    fn why(self) -> &'static str {
        match self {
            NoCheck::LogBinOff => {
                "binary logging is off on the target (log_bin=OFF): the GTIDs applied do not reach its GTID state"
            }
            NoCheck::SessionLogBinOff => {
                "binary logging is off for the apply session (--disable-log-bin or sql_log_bin=0): the GTIDs \
                 applied do not reach the target's GTID state"
            }
            NoCheck::NoGtids => "the input has transactions without GTIDs",
        }
    }
}

impl Default for ApplyOptions {
    fn default() -> Self {
        ApplyOptions {
            expect_server_id: None,
            expect_gtid_pos: None,
            force: false,
            disable_log_bin: false,
            resume: false,
            skip_applied: false,
            allow_partial_tail: false,
            verify_checksums: true,
            access: Access::Mmap,
            state_file: None,
            no_state_file: false,
            retries: 3,
            parallel: 1,
            no_batch: false,
            counters: None,
            again: false,
            in_doubt: None,
            deadline: None,
            interrupt: None,
            after_commit: None,
        }
    }
}

fn is_interrupted(opts: &ApplyOptions) -> bool {
    opts.interrupt.as_ref().is_some_and(|f| f.load(Ordering::Relaxed))
}

/// An apply that did not end in a verified full apply: the error (one line,
/// with file, offset, event type, transaction and server error where they
/// apply) and the report of what was done.
#[derive(Debug)]
pub struct ApplyFailure {
    /// What went wrong.
    pub error: Error,
    /// What was done before (boxed: it is large).
    pub report: Box<ApplyReport>,
}

impl From<ApplyFailure> for Error {
    fn from(f: ApplyFailure) -> Error {
        f.error
    }
}

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
    if let Some(fired) = fired {
        let step = format!("at {}", f.error.kind());
        f.error = Error::new(ErrorKind::Timeout { host: label.to_string(), step, why: fired.why() }).with_location(loc);
    } else if is_interrupted(opts) && !matches!(f.error.kind(), ErrorKind::Interrupted(_)) {
        f.error = Error::new(ErrorKind::Interrupted(format!("interrupted: {}", f.error.kind()))).with_location(loc);
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
        let e = Error::invalid(format!("a statement needs {} bytes, over the server limit of 1 GiB", pre.max_packet));
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
            let mut g = PacketGuard::raise(conn, target.global_max_allowed_packet, want)?;
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
    run(&mut conn, label, lfs, pre, target, opts, report, workers, deadline)
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
        let e = Error::invalid(format!(
            "{label}: max_allowed_packet is {} but a statement needs {}",
            target.max_allowed_packet, pre.max_packet
        ));
        return Err(fail(e, report));
    }
    let r = run(conn, label, &lfs, &pre, target, opts, report, Vec::new(), None);
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

fn open_files(files: &[PathBuf], opts: &ApplyOptions) -> Result<Vec<LogFile>> {
    if files.is_empty() {
        return Err(Error::invalid("no files to apply"));
    }
    files
        .iter()
        .map(|f| {
            let lf = LogFile::open(f, opts.access)?;
            // A binlog has at least its magic and a format description: an
            // empty or cut-off file is refused, never applied as "nothing".
            let first = crate::event::WalkOptions { verify_checksums: opts.verify_checksums };
            lf.walk(first, crate::log::RecoveryMode::AbsoluteConsistency, |_, _| Ok(false))?;
            Ok(lf)
        })
        .collect()
}

/// What the pre-scan learns.
struct Prescan {
    /// Biggest packet a statement needs (with slack).
    max_packet: u64,
    /// Whole groups in the input.
    groups: u64,
    /// Groups without a GTID.
    without_gtid: u64,
    /// Flavors of the writers (from the FDEs).
    flavors: Vec<Flavor>,
}

impl Prescan {
    fn of(lfs: &[LogFile], opts: &ApplyOptions) -> Result<Prescan> {
        let mut p = Prescan { max_packet: 0, groups: 0, without_gtid: 0, flavors: Vec::new() };
        let mut s = Stream::new(lfs, opts.verify_checksums);
        let need = |n: u64, p: &mut Prescan| p.max_packet = p.max_packet.max(n + 4096);
        while let Some(it) = s.next_item()? {
            let Item::Group(g) = it else { continue };
            check_group_start(lfs, &g)?;
            p.groups += 1;
            let f = g.events[0].ev.event_type();
            if !matches!(f, EventType::MARIA_GTID | EventType::GTID | EventType::GTID_TAGGED) {
                p.without_gtid += 1;
            }
            let mut rows = 0u64;
            let mut nrows = 0u64;
            for e in &g.events {
                if !p.flavors.contains(&e.fde.fmt.flavor) {
                    p.flavors.push(e.fde.fmt.flavor);
                }
                let t = e.ev.event_type();
                let n = e.ev.size() as u64;
                if t == EventType::TABLE_MAP || t.is_rows() {
                    rows += n + 4;
                    nrows += 1;
                    need(b64(e.fde.bytes.len() as u64), &mut p);
                    continue;
                }
                if rows > 0 {
                    need(b64(rows) + nrows, &mut p);
                    rows = 0;
                    nrows = 0;
                }
                let body = e.ev.body();
                let text = match t {
                    EventType::MARIA_QUERY_COMPRESSED => {
                        // 0x80|lenlen, big-endian length: the decompressed size.
                        let q = crate::event::views::Query::parse(&e.ev, &e.fde.fmt)
                            .map_err(|x| Error::parse(Some(lfs[e.file].path()), x))?;
                        let k = *q.sql.first().unwrap_or(&0) as usize & 7;
                        q.sql.get(1..1 + k).map(|b| b.iter().fold(0u64, |a, &x| a << 8 | x as u64)).unwrap_or(n)
                    }
                    EventType::TRANSACTION_PAYLOAD => {
                        let pl = crate::event::payload::Payload::parse(&e.ev, &e.fde.fmt)
                            .map_err(|x| Error::parse(Some(lfs[e.file].path()), x))?;
                        b64(pl.uncompressed_size)
                    }
                    _ => body.len() as u64,
                };
                // Non-UTF-8 text goes as hex: twice its size.
                need(text * 2 + 64, &mut p);
            }
            if rows > 0 {
                need(b64(rows) + nrows, &mut p);
            }
        }
        Ok(p)
    }
}

/// Refuses a group that is the tail of a transaction whose start is not in
/// the input (a diff cut from a read position inside a transaction): a
/// commit with no GTID or BEGIN before it. Applying such a tail on its own
/// would commit half a transaction.
fn check_group_start(lfs: &[LogFile], g: &Group<'_>) -> Result<()> {
    use crate::event::{Class, views::QueryKind};
    let first = &g.events[0];
    let opener = matches!(
        first.class,
        Class::MysqlGtid | Class::MariaGtid(_) | Class::Query(QueryKind::Begin | QueryKind::XaStart)
    );
    if opener {
        return Ok(());
    }
    // Rows events closed by their statement end are a whole statement
    // (MySQL 5.1 logged MyISAM rows without BEGIN); a commit is not.
    let last = g.events.last().expect("non-empty group");
    let tail = matches!(
        last.class,
        Class::Xid
            | Class::XaPrepare
            | Class::Payload
            | Class::Query(QueryKind::Commit | QueryKind::Rollback | QueryKind::XaPrepare)
    );
    if tail {
        return Err(Error::invalid(
            "a commit with no GTID or BEGIN before it: the input starts inside a transaction (apply it together \
             with the file that holds the transaction's start) or is damaged",
        )
        .with_file(lfs[first.file].path())
        .at(first.ev.offset(), Some(first.ev.event_type())));
    }
    Ok(())
}

fn b64(n: u64) -> u64 {
    n.div_ceil(3) * 4 + 64
}

/// Why a statement failed.
struct ExecFailure {
    src: Src,
    server: Option<ServerError>,
    message: String,
    outcome: TrxOutcome,
    /// The commit hook stopped the transaction (parallel apply).
    held: Option<Hold>,
}

/// What a parallel worker's hook says before a transaction's end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Hold {
    /// Its turn: commit.
    Go,
    /// An earlier transaction failed: roll back.
    Stop,
    /// An earlier transaction waits for a lock this one holds: roll back, run again later.
    Retry,
}

fn is_lost(e: &mysql::Error) -> bool {
    match e {
        mysql::Error::IoError(_) | mysql::Error::CodecError(_) => true,
        mysql::Error::DriverError(d) => matches!(
            d,
            mysql::DriverError::PacketOutOfSync | mysql::DriverError::UnexpectedPacket | mysql::DriverError::Timeout
        ),
        // ER_SERVER_SHUTDOWN, ER_CONNECTION_KILLED, CR_SERVER_GONE_ERROR, CR_SERVER_LOST
        mysql::Error::MySqlError(m) => matches!(m.code, 1053 | 1927 | 2006 | 2013),
        _ => false,
    }
}

fn server_error(e: &mysql::Error) -> Option<ServerError> {
    match e {
        mysql::Error::MySqlError(m) => {
            Some(ServerError { code: m.code, state: m.state.clone(), message: m.message.clone() })
        }
        _ => None,
    }
}

/// Runs one statement, byte-exact.
fn run_sql(conn: &mut mysql::Conn, sql: &[u8], flavor: Flavor) -> std::result::Result<(), mysql::Error> {
    if let Ok(s) = std::str::from_utf8(sql) {
        return conn.query_drop(s);
    }
    match flavor {
        Flavor::MariaDb => conn.query_drop(format!("EXECUTE IMMEDIATE X'{}'", hex(sql))),
        Flavor::MySql => {
            conn.query_drop(format!("SET @binlog_diff_stmt=X'{}'", hex(sql)))?;
            let r = conn
                .query_drop("PREPARE binlog_diff_stmt FROM @binlog_diff_stmt")
                .and_then(|_| conn.query_drop("EXECUTE binlog_diff_stmt"));
            let _ = conn.query_drop("DEALLOCATE PREPARE binlog_diff_stmt");
            let _ = conn.query_drop("SET @binlog_diff_stmt=NULL");
            r
        }
    }
}

fn shorten(sql: &[u8]) -> String {
    let s = String::from_utf8_lossy(&sql[..sql.len().min(120)]).replace(['\n', '\r'], " ");
    if sql.len() > 120 { format!("{s}…") } else { s }
}

/// Where in a transaction a statement runs (decides what a lost connection means).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Phase {
    /// Session settings before the transaction starts.
    Pre,
    /// Inside BEGIN … (before its end).
    Body,
    /// The end (COMMIT, XA PREPARE) or a statement that commits on its own.
    End,
}

/// Runs one statement of `plan`; on failure says what it means for the transaction.
#[allow(clippy::too_many_arguments)]
fn step(
    conn: &mut mysql::Conn,
    plan: &TrxPlan,
    flavor: Flavor,
    alive: &mut bool,
    sql: &[u8],
    desc: Option<&str>,
    infile: Option<&(String, std::sync::Arc<Vec<u8>>)>,
    src: Src,
    expect: u16,
    phase: Phase,
) -> Result<(), ExecFailure> {
    let shown = || desc.map(str::to_string).unwrap_or_else(|| shorten(sql));
    let r = match infile {
        None => run_sql(conn, sql, flavor),
        Some((name, data)) => {
            // Serve exactly this file's bytes, and nothing else, for this statement only.
            let (name, data) = (name.clone(), data.clone());
            conn.set_local_infile_handler(Some(mysql::LocalInfileHandler::new(move |want, out| {
                if want != name.as_bytes() {
                    return Err(std::io::Error::other("unexpected LOCAL INFILE request"));
                }
                std::io::Write::write_all(out, &data)
            })));
            let r = run_sql(conn, sql, flavor);
            conn.set_local_infile_handler(None);
            r
        }
    };
    let err = match r {
        Ok(()) if expect == 0 => return Ok(()),
        Ok(()) => {
            return Err(ExecFailure {
                src,
                server: None,
                message: format!("the master reported error {expect} for `{}`, the target did not", shown()),
                outcome: TrxOutcome::RolledBack,
                held: None,
            });
        }
        Err(mysql::Error::MySqlError(m)) if expect != 0 && m.code == expect => return Ok(()),
        Err(e) => e,
    };
    Err(failure_of(plan, alive, &err, &shown(), src, phase, phase))
}

/// What a failed statement means for its transaction. `worst` is the
/// furthest phase the server may have reached (a multi-statement packet
/// may have run past the statement whose answer was lost).
fn failure_of(
    plan: &TrxPlan,
    alive: &mut bool,
    err: &mysql::Error,
    shown: &str,
    src: Src,
    phase: Phase,
    worst: Phase,
) -> ExecFailure {
    let lost = is_lost(err);
    if lost {
        *alive = false;
    }
    let outcome = match (lost, if lost { worst } else { phase }, &plan.kind) {
        (_, Phase::Pre, _) => TrxOutcome::NotStarted,
        (true, Phase::Body, Kind::Trx | Kind::Xa(_)) => TrxOutcome::RolledBackByServer,
        (true, _, _) => TrxOutcome::Unknown,
        // A COMMIT (or a statement that commits on its own) stopped by
        // KILL QUERY (an interrupt) may have committed.
        (false, Phase::End, _) if matches!(err, mysql::Error::MySqlError(m) if m.code == 1317) => TrxOutcome::Unknown,
        (false, _, _) => TrxOutcome::RolledBack,
    };
    let message =
        if lost { format!("connection lost: {err} (statement `{shown}`)") } else { format!("statement `{shown}`") };
    ExecFailure { src, server: if lost { None } else { server_error(err) }, message, outcome, held: None }
}

/// A statement waiting in a packet: text, message stand-in, source, phase.
type Queued<'p> = (std::borrow::Cow<'p, [u8]>, Option<&'p str>, Src, Phase);

/// Statements we wrote (session settings, `BINLOG`, BEGIN, COMMIT) waiting
/// to go to the server together, as one multi-statement packet: one round
/// trip instead of one per statement. The server stops at the first
/// failing statement of a packet, and its answers say which one failed.
///
/// MariaDB (10.11) drops `SERVER_MORE_RESULTS_EXISTS` from its answer to a
/// `BINLOG` statement, so a client stops reading there and the answers
/// after it arrive as garbage for the next query: a `BINLOG` always ends
/// its packet. Consecutive `BINLOG` statements are merged into one (the
/// server applies every event of its base64 text in turn), so a row
/// transaction goes as settings + BEGIN + one `BINLOG`, then COMMIT.
struct Pending<'p> {
    items: Vec<Queued<'p>>,
    bytes: usize,
    /// Off: every statement goes alone (exact error positions).
    on: bool,
}

/// Bytes of statements sent in one packet at most (a longer statement goes alone).
const BATCH_BYTES: usize = 1 << 20;

fn is_binlog(sql: &[u8]) -> bool {
    sql.starts_with(b"BINLOG '") && sql.ends_with(b"'")
}

impl<'p> Pending<'p> {
    fn new(on: bool) -> Self {
        Pending { items: Vec::new(), bytes: 0, on }
    }

    /// Sends what is pending; `reached` becomes the furthest phase sent.
    fn flush(
        &mut self,
        conn: &mut mysql::Conn,
        plan: &TrxPlan,
        flavor: Flavor,
        alive: &mut bool,
        reached: &mut Phase,
    ) -> Result<(), ExecFailure> {
        let items = std::mem::take(&mut self.items);
        self.bytes = 0;
        let Some(worst) = items.iter().map(|i| i.3).max() else { return Ok(()) };
        *reached = (*reached).max(worst);
        if let [(sql, desc, src, ph)] = &items[..] {
            return step(conn, plan, flavor, alive, sql, *desc, None, *src, 0, *ph);
        }
        let mut text = Vec::with_capacity(items.iter().map(|i| i.0.len() + 2).sum());
        for (i, it) in items.iter().enumerate() {
            if i > 0 {
                text.extend_from_slice(b";\n");
            }
            text.extend_from_slice(&it.0);
        }
        let text = String::from_utf8(text).expect("only UTF-8 statements are batched");
        if let Err((i, e)) = run_multi(conn, &text) {
            let (sql, desc, src, ph) = &items[i.min(items.len() - 1)];
            let shown = desc.map(str::to_string).unwrap_or_else(|| shorten(sql));
            return Err(failure_of(plan, alive, &e, &shown, *src, *ph, worst));
        }
        Ok(())
    }

    fn push(
        &mut self,
        item: (&'p [u8], Option<&'p str>, Src, Phase),
        conn: &mut mysql::Conn,
        plan: &TrxPlan,
        flavor: Flavor,
        alive: &mut bool,
        reached: &mut Phase,
    ) -> Result<(), ExecFailure> {
        let last_binlog = self.items.last().is_some_and(|l| is_binlog(&l.0));
        if last_binlog && is_binlog(item.0) && self.bytes + item.0.len() <= BATCH_BYTES {
            let last = self.items.last_mut().expect("a last item");
            let merged = last.0.to_mut();
            merged.pop(); // its closing quote
            merged.push(b'\n');
            merged.extend_from_slice(&item.0[b"BINLOG '".len()..]);
            self.bytes += item.0.len();
            last.3 = last.3.max(item.3);
            return Ok(());
        }
        if !self.items.is_empty() && (!self.on || last_binlog || self.bytes + item.0.len() > BATCH_BYTES) {
            self.flush(conn, plan, flavor, alive, reached)?;
        }
        self.bytes += item.0.len();
        self.items.push((std::borrow::Cow::Borrowed(item.0), item.1, item.2, item.3));
        if !self.on {
            self.flush(conn, plan, flavor, alive, reached)?;
        }
        Ok(())
    }
}

/// Runs a multi-statement text; on failure, the index of the statement
/// that failed (the server ran none after it).
fn run_multi(conn: &mut mysql::Conn, text: &str) -> std::result::Result<(), (usize, mysql::Error)> {
    let mut r = conn.query_iter(text).map_err(|e| (0, e))?;
    let mut i = 0;
    while let Some(set) = r.iter() {
        for row in set {
            if let Err(e) = row {
                return Err((i, e));
            }
        }
        i += 1;
    }
    Ok(())
}

/// Runs a transaction. On failure, rolls back what it can and says what
/// became of it; `alive` turns false when the connection is gone.
fn execute(conn: &mut mysql::Conn, plan: &TrxPlan, flavor: Flavor, alive: &mut bool) -> Result<(), ExecFailure> {
    execute_batched(conn, plan, flavor, alive, None)
}

/// Runs a transaction in as few packets as it can; a statement that fails
/// in a packet with others rolls the transaction back and it is run again
/// one statement at a time, so the error names the exact event. Only a
/// transaction the source marks transactional is batched: a rollback
/// leaves nothing of it, so running it again is safe.
fn execute_batched<'h>(
    conn: &mut mysql::Conn,
    plan: &TrxPlan,
    flavor: Flavor,
    alive: &mut bool,
    mut hold: Option<&mut (dyn FnMut(&mut mysql::Conn) -> Hold + 'h)>,
) -> Result<(), ExecFailure> {
    let batch = plan.transactional && plan.kind == Kind::Trx;
    match execute_inner(conn, plan, flavor, alive, hold.as_deref_mut(), batch) {
        // A deadlock or lock wait timeout is the caller's to retry (and count).
        Err(f)
            if batch
                && *alive
                && f.held.is_none()
                && f.outcome == TrxOutcome::RolledBack
                && !f.server.as_ref().is_some_and(|e| matches!(e.code, 1205 | 1213)) =>
        {
            execute_inner(conn, plan, flavor, alive, hold, false)
        }
        r => r,
    }
}

/// [`execute`], asking `hold` before the transaction's end (before its
/// first statement for a group whose statements commit on their own).
fn execute_with(
    conn: &mut mysql::Conn,
    plan: &TrxPlan,
    flavor: Flavor,
    alive: &mut bool,
    hold: &mut dyn FnMut(&mut mysql::Conn) -> Hold,
) -> Result<(), ExecFailure> {
    execute_batched(conn, plan, flavor, alive, Some(hold))
}

/// Runs a transaction, sending the statements we wrote in as few packets
/// as its holds allow: with no hold, session settings, BEGIN, the `BINLOG`
/// statements and COMMIT go in one.
fn execute_inner<'h>(
    conn: &mut mysql::Conn,
    plan: &TrxPlan,
    flavor: Flavor,
    alive: &mut bool,
    mut hold: Option<&mut (dyn FnMut(&mut mysql::Conn) -> Hold + 'h)>,
    batch: bool,
) -> Result<(), ExecFailure> {
    let mut phase = Phase::Pre;
    let held = |h: Hold, src: Src| ExecFailure {
        src,
        server: None,
        message: match h {
            Hold::Stop => "an earlier transaction failed".into(),
            _ => "an earlier transaction waits for a row lock it holds".into(),
        },
        outcome: if plan.kind == Kind::Plain { TrxOutcome::NotStarted } else { TrxOutcome::RolledBack },
        held: Some(h),
    };
    let xa_start = match &plan.kind {
        Kind::Xa(Some(x)) => format!("XA START {x}"),
        _ => String::new(),
    };
    let (xa_end, xa_last) = match &plan.end {
        End::XaPrepare(_, x) => (format!("XA END {x}"), format!("XA PREPARE {x}")),
        End::XaOnePhase(_, x) => (format!("XA END {x}"), format!("XA COMMIT {x} ONE PHASE")),
        _ => (String::new(), String::new()),
    };
    let has_hold = hold.is_some();
    let r = (|| -> Result<(), ExecFailure> {
        let mut p = Pending::new(batch);
        macro_rules! add {
            ($sql:expr, $desc:expr, $src:expr, $ph:expr) => {
                p.push(($sql, $desc, $src, $ph), conn, plan, flavor, alive, &mut phase)?
            };
        }
        macro_rules! flush {
            () => {
                p.flush(conn, plan, flavor, alive, &mut phase)?
            };
        }
        // One statement of the log's own: alone, after what is pending.
        macro_rules! alone {
            ($s:expr, $ph:expr) => {{
                flush!();
                phase = phase.max($ph);
                step(
                    conn,
                    plan,
                    flavor,
                    alive,
                    &$s.sql,
                    $s.desc.as_deref(),
                    $s.infile.as_ref(),
                    $s.src,
                    $s.expect_error,
                    $ph,
                )?
            }};
        }
        for s in &plan.pre {
            if s.batchable() {
                add!(&s.sql, s.desc.as_deref(), s.src, Phase::Pre);
            } else {
                alone!(s, Phase::Pre);
            }
        }
        match &plan.kind {
            Kind::Trx => add!(b"BEGIN", None, plan.first, Phase::Body),
            Kind::Xa(Some(_)) => add!(xa_start.as_bytes(), None, plan.first, Phase::Body),
            _ => {}
        }
        // A statement of a Plain group commits on its own.
        let body_phase = if plan.kind == Kind::Plain { Phase::End } else { Phase::Body };
        let mut ask = |conn: &mut mysql::Conn| match hold.as_mut() {
            Some(h) => h(conn),
            None => Hold::Go,
        };
        if plan.kind == Kind::Plain && has_hold {
            flush!();
            match ask(conn) {
                Hold::Go => {}
                h => return Err(held(h, plan.first)),
            }
        }
        for s in &plan.body {
            if s.batchable() {
                add!(&s.sql, s.desc.as_deref(), s.src, body_phase);
            } else {
                alone!(s, body_phase);
            }
        }
        if plan.kind != Kind::Plain && has_hold {
            flush!();
            match ask(conn) {
                Hold::Go => {}
                h => return Err(held(h, plan.first)),
            }
        }
        match &plan.end {
            End::Commit(src) => add!(b"COMMIT", None, *src, Phase::End),
            End::Rollback(src) => add!(b"ROLLBACK", None, *src, Phase::End),
            End::XaPrepare(src, _) | End::XaOnePhase(src, _) => {
                add!(xa_end.as_bytes(), None, *src, Phase::Body);
                add!(xa_last.as_bytes(), None, *src, Phase::End);
            }
            End::None => {
                if plan.kind == Kind::Trx {
                    add!(b"COMMIT", None, plan.first, Phase::End);
                }
            }
        }
        flush!();
        Ok(())
    })();
    if let Err(mut f) = r {
        if *alive && phase != Phase::Pre {
            let ok = match &plan.kind {
                Kind::Trx => conn.query_drop("ROLLBACK").is_ok(),
                Kind::Xa(Some(x)) => {
                    let _ = conn.query_drop(format!("XA END {x}"));
                    conn.query_drop(format!("XA ROLLBACK {x}")).is_ok()
                }
                Kind::Xa(None) => conn.query_drop("ROLLBACK").is_ok(),
                Kind::Plain => true,
            };
            if !ok && f.outcome == TrxOutcome::RolledBack {
                f.outcome = TrxOutcome::Unknown;
                f.message.push_str("; the rollback failed too");
            }
        }
        if *alive && plan.sets_gtid_next {
            let _ = conn.query_drop("SET @@SESSION.GTID_NEXT='AUTOMATIC'");
        }
        return Err(f);
    }
    if plan.sets_gtid_next {
        // The next group may carry no GTID: never leave a used GTID_NEXT behind.
        if let Err(e) = conn.query_drop("SET @@SESSION.GTID_NEXT='AUTOMATIC'") {
            if is_lost(&e) {
                *alive = false;
            }
        }
    }
    Ok(())
}

/// Whether the target already has this transaction.
fn already_applied(applied: &Applied, id: &TrxId) -> Option<String> {
    match (applied, id) {
        (Applied::Maria(st), TrxId::Maria { domain, server, seq }) => st
            .seq(*domain, *server)
            .filter(|have| have >= seq)
            .map(|have| format!("the target's GTID state has {domain}-{server}-{have}")),
        (Applied::Mysql(set), TrxId::Mysql { sid, gno }) => {
            let u = crate::event::views::format_uuid(sid);
            set.contains(&u, *gno).then(|| format!("the target's gtid_executed has {u}:{gno}"))
        }
        (Applied::Mysql(set), TrxId::MysqlTagged { uuid, tag, gno }) => {
            set.contains_tagged(uuid, tag, *gno).then(|| format!("the target's gtid_executed has {uuid}:{tag}:{gno}"))
        }
        _ => None,
    }
}

fn record_applied(applied: &mut Applied, id: &TrxId) {
    match (applied, id) {
        (Applied::Maria(st), TrxId::Maria { domain, server, seq }) => {
            let e = st.map.entry((*domain, *server)).or_insert(*seq);
            *e = (*e).max(*seq);
        }
        (Applied::Mysql(set), TrxId::Mysql { sid, gno }) => {
            let u = crate::event::views::format_uuid(sid);
            set.map.entry((u, String::new())).or_default().push((*gno, *gno));
        }
        (Applied::Mysql(set), TrxId::MysqlTagged { uuid, tag, gno }) => {
            set.map.entry((uuid.clone(), tag.clone())).or_default().push((*gno, *gno));
        }
        _ => {}
    }
}

fn left_out(
    lfs: &[LogFile],
    g: &Group<'_>,
    extra: Option<(usize, crate::event::Incomplete)>,
    reason: &str,
) -> NotApplied {
    let (file, offset) = if g.events.is_empty() { extra.map(|(f, i)| (f, i.at)).unwrap_or((0, 0)) } else { g.start() };
    NotApplied {
        file: lfs[file].path().to_path_buf(),
        offset,
        events: g.events.len() as u64,
        bytes: g.bytes() + extra.map(|(_, i)| i.available).unwrap_or(0),
        reason: reason.to_string(),
    }
}

/// A group cut short by the same transaction starting again (reported, never applied).
pub(crate) fn abandoned(lfs: &[LogFile], g: &Group<'_>) -> NotApplied {
    left_out(lfs, g, None, "re-fetched: the same transaction starts again and follows whole; this copy is not applied")
}

/// A group cut short by another transaction: its end is missing from the
/// input. Dropping it would lose a transaction the master may have
/// committed, so the apply stops before it (nothing of it applied).
pub(crate) fn abandoned_error(lfs: &[LogFile], g: &Group<'_>) -> Error {
    let (fi, off) = g.start();
    let id = group::identify(g).map(|(id, _)| id.to_string()).unwrap_or_else(|_| "an unidentified transaction".into());
    let first = g.events.first().map(|e| e.ev.event_type());
    Error::invalid(format!(
        "{id} ({} bytes) is cut short by the start of another transaction: its end is missing from the input \
         (a torn relay log?); stopping before it, nothing of it applied — take it whole from the master's binlog",
        g.bytes()
    ))
    .with_file(lfs[fi].path())
    .at(off, first)
}

/// The input's trailing incomplete transaction, if it has any bytes.
pub(crate) fn partial_tail(
    lfs: &[LogFile],
    g: &Group<'_>,
    incomplete: Option<(usize, crate::event::Incomplete)>,
) -> Option<NotApplied> {
    if g.events.is_empty() && incomplete.is_none() {
        return None;
    }
    let why =
        if incomplete.is_some() { "the input ends inside an event of it" } else { "the input ends before its commit" };
    Some(left_out(lfs, g, incomplete, why))
}

/// The error an INCIDENT event stops the apply with.
pub(crate) fn incident_error(lfs: &[LogFile], ge: &group::GEvent<'_>) -> Error {
    let (n, msg) = crate::event::views::incident(&ge.ev, &ge.fde.fmt).unwrap_or((0, b""));
    Error::invalid(format!(
        "INCIDENT event {n} ({}): the master reports lost events; stopping before it",
        String::from_utf8_lossy(msg)
    ))
    .with_file(lfs[ge.file].path())
    .at(ge.ev.offset(), Some(EventType::INCIDENT))
}

#[allow(clippy::too_many_arguments)]
fn run(
    conn: &mut mysql::Conn,
    label: &str,
    lfs: &[LogFile],
    pre: &Prescan,
    target: Target,
    opts: &ApplyOptions,
    mut report: ApplyReport,
    workers: Vec<mysql::Conn>,
    deadline: Option<Instant>,
) -> Result<ApplyReport, ApplyFailure> {
    report.server_version = target.version.clone();
    report.server_id = target.server_id;
    let files: Vec<PathBuf> = lfs.iter().map(|l| l.path().to_path_buf()).collect();
    Counters::set_total(&opts.counters, pre.groups);
    macro_rules! bail {
        ($e:expr) => {
            return Err(ApplyFailure { error: $e, report: Box::new(report) })
        };
    }
    macro_rules! tryf {
        ($e:expr) => {
            match $e {
                Ok(v) => v,
                Err(e) => bail!(e),
            }
        };
    }

    // Safety checks.
    let flavor = target.flavor;
    if !opts.force {
        if let Some(f) = pre.flavors.iter().find(|&&f| f != flavor) {
            bail!(Error::invalid(format!(
                "{label}: the files were written by {f:?} but the target is {flavor:?} ({}); use --force to apply anyway",
                target.version
            )));
        }
    }
    if let Some(want) = opts.expect_server_id {
        if want != target.server_id {
            bail!(Error::invalid(format!("{label}: server_id is {}, expected {want}", target.server_id)));
        }
    }
    let running = tryf!(target::running_replication(conn, flavor, label));
    if !running.is_empty() && !opts.force {
        bail!(Error::invalid(format!(
            "{label}: replication is running ({}); stop it first or use --force",
            running.join("; ")
        )));
    }
    if let Some(p) = &opts.expect_gtid_pos {
        tryf!(target::check_expected_pos(conn, flavor, label, p));
    }
    let mut applied = tryf!(target::read_applied(conn, flavor, label));

    // A statement that changes no row is not binlogged under row-based logging:
    // its GTID cannot reach the target's GTID state (MariaDB). Such groups are
    // checked right after their commit, and left out of the final check.
    let logs_binlog = target.log_bin && !opts.disable_log_bin && target.sql_log_bin;
    let noop_check = flavor == Flavor::MariaDb && logs_binlog && target.binlog_format != "STATEMENT";
    let check = AppliedCheck::of(target.log_bin, !opts.disable_log_bin && target.sql_log_bin, pre.without_gtid);

    // Resume.
    let state_path = opts.state_file.clone().unwrap_or_else(|| state::state_path(&files));
    let ids = state::file_ids(&files);
    let mut progress = ResumeState::start(ids.clone());
    let mut resume_from = None;
    let exact = matches!(check, AppliedCheck::None(_));
    let stored = if opts.resume || (exact && !opts.no_state_file && !opts.again) {
        tryf!(ResumeState::load(&state_path))
    } else {
        None
    };
    // Without a GTID check, a rerun that skips what it applied can only
    // learn that from its state.
    let resume = opts.resume
        || (exact && opts.skip_applied && stored.as_ref().is_some_and(|p| p.files == ids && p.records_any()));
    if resume {
        if let Some(mut p) = stored {
            if p.files != ids {
                bail!(Error::invalid("the resume state is for other files (or they changed)").with_file(&state_path));
            }
            if let (AppliedCheck::None(why), false) = (check, p.exact) {
                bail!(
                    Error::invalid(format!(
                        "the resume state was not written at a known commit (a batched snapshot, which may lag what \
                         committed: it says {} transactions) and the target cannot say what it has ({}): resuming \
                         from it could apply transactions twice",
                        p.transactions,
                        why.why()
                    ))
                    .with_file(&state_path)
                );
            }
            if let Some(d) = &p.in_doubt {
                match opts.in_doubt {
                    None => bail!(in_doubt_error(&state_path, d, &files)),
                    Some(InDoubtWas::Committed) => p.settle_committed(),
                    Some(InDoubtWas::RolledBack) => p.in_doubt = None,
                }
            }
            resume_from = Some((p.file, p.offset));
            progress = p;
            progress.exact = true;
        } else if let AppliedCheck::None(why) = check {
            bail!(
                Error::invalid(format!(
                    "--resume: no resume state, and the target cannot say what it has ({})",
                    why.why()
                ))
                .with_file(&state_path)
            );
        }
    } else if let (AppliedCheck::None(why), Some(p)) = (check, stored.filter(ResumeState::records_any)) {
        bail!(already_recorded(&state_path, &p, &ids, &files, why));
    }
    let mut batcher = (!opts.no_state_file).then(|| match check {
        AppliedCheck::ByGtid => state::Batcher::new(state_path.clone()),
        AppliedCheck::None(_) => state::Batcher::exact(state_path.clone()),
    });
    let journaling = batcher.as_ref().is_some_and(state::Batcher::journals);
    report.state_file = batcher.as_ref().map(|b| b.path.clone());
    if let Some(b) = batcher.as_mut() {
        // Fail now, not after the first batch, when the state cannot be written.
        if let Err(e) = b.begin(&progress) {
            bail!(Error::invalid(format!("cannot write the resume state ({e}); use --state-file or --no-state-file")));
        }
    }
    // The state written last (exact, or with the transaction in doubt), and
    // where it says the apply stands, for the report.
    macro_rules! save_final {
        () => {{
            report.resume = Some(resume_point(&files, &progress, batcher.is_some()));
            match batcher.as_mut() {
                Some(b) => b.finish(&progress),
                None => Ok(()),
            }
        }};
    }
    let lock_wait = watch::lock_wait_secs(deadline, Instant::now());

    // On MariaDB, workers run windows of row transactions as compound
    // statements (`chain`); the rest runs on the main connection. Batches
    // need the target's GTID state to follow our commits: after a lost
    // connection (or a stopped window) it says which of a batch committed.
    let batching = flavor == Flavor::MariaDb && !opts.no_batch && logs_binlog && check == AppliedCheck::ByGtid;
    let chained = !workers.is_empty() && batching;
    if !workers.is_empty() && !chained {
        let env = parallel::Env {
            label,
            lfs,
            files: &files,
            target: &target,
            opts,
            resume_from,
            noop_check,
            journaling,
            lock_wait,
        };
        let book = parallel::Book {
            report,
            progress,
            batcher,
            last: BTreeMap::new(),
            last_logged: BTreeMap::new(),
            pending: None,
        };
        let (book, r) = parallel::run_loop(conn, workers, &env, applied, book);
        let parallel::Book { report: rep, progress: p, batcher: b, last, last_logged, .. } = book;
        (report, progress, batcher) = (rep, p, b);
        let saved = save_final!();
        tryf!(r);
        tryf!(saved);
        report.last_gtids = last.values().filter_map(TrxId::gtid).collect();
        let end = Ending { flavor, logs_binlog, check, groups: pre.groups, last: &last, last_logged: &last_logged };
        tryf!(end.check(conn, label, opts, &mut report));
        return Ok(report);
    }

    let info = TargetInfo { vars: &target.var_names, collations: &target.collations };
    let run_id = conn.connection_id();
    let mut guard = tryf!(SessionGuard::begin(conn, &target, opts.disable_log_bin, lock_wait));
    let mut workers = workers;
    let mut chain = match chained {
        true => Some(tryf!(chain::Workers::begin(&mut workers, &target, opts.disable_log_bin, lock_wait, run_id))),
        false => None,
    };
    let mut analyzer = chain.as_ref().map(|_| writeset::Analyzer::new());
    let mut batch_infos: Vec<depend::Info> = Vec::new();
    let lanes = chain.as_ref().map_or(1, |c| c.len());
    let mut lane_choice = chain::Lanes::new(lanes);
    // Workers the batch being gathered will run on (chosen at its first).
    let mut batch_lanes = lanes;
    let mut batch_scale = 1;
    let mut ctx = SessionCtx::default();
    let mut last: BTreeMap<(u32, String), TrxId> = BTreeMap::new();
    let mut stream = Stream::new(lfs, opts.verify_checksums);
    let mut had_gtid_next = false;
    let mut last_logged: BTreeMap<(u32, String), TrxId> = BTreeMap::new();

    // Row transactions go many to a round trip (`compound`); groups of a
    // batch that stopped at an error run again one at a time (`redo`), from
    // a session whose settings are not known.
    let mut batch: Vec<(Group<'_>, TrxPlan)> = Vec::new();
    let mut batch_bytes = 0usize;
    let mut batch_tag = 0u64;
    let mut redo: std::collections::VecDeque<Group<'_>> = std::collections::VecDeque::new();
    let mut stream_done = false;
    // An error met while reading, reported once what came before it ran.
    let mut end_err: Option<Error> = None;
    // Exact state: the transaction whose intent is in the journal, and a
    // failure to write one.
    let mut pending: Option<InDoubt> = None;
    let mut hold_err: Option<Error> = None;

    // A committed transaction: counts, GTID bookkeeping, resume state.
    macro_rules! settle {
        ($plan:expr, $end_file:expr, $end_off:expr) => {{
            let plan: &TrxPlan = $plan;
            let (end_file, end_off) = ($end_file, $end_off);
            report.transactions += 1;
            Counters::tick(&opts.counters);
            report.events += plan.events;
            report.files[end_file].transactions += 1;
            report.files[end_file].events += plan.events;
            record_applied(&mut applied, &plan.id);
            if let Some(key) = key_of(&plan.id) {
                last.insert(key.clone(), plan.id.clone());
                let mut logged = true;
                if noop_check && !plan.has_rows && guard.alive {
                    // MariaDB's @@last_gtid: what this session last wrote to the binlog.
                    let g = plan.id.gtid().unwrap_or_default();
                    match guard.conn().query_first::<Option<String>, _>("SELECT @@session.last_gtid") {
                        Ok(v) => logged = v.flatten().as_deref() == Some(g.as_str()),
                        Err(e) if is_lost(&e) => guard.alive = false,
                        Err(_) => {
                            if let Ok(Applied::Maria(now)) = target::read_applied(guard.conn(), flavor, label) {
                                logged = already_applied(&Applied::Maria(now), &plan.id).is_some();
                            }
                        }
                    }
                }
                if logged {
                    last_logged.insert(key, plan.id.clone());
                } else if let Some(g) = plan.id.gtid() {
                    report.not_binlogged.push(g);
                }
            }
            progress.file = end_file;
            progress.offset = end_off;
            progress.transactions += 1;
            progress.last_gtid = plan.id.gtid();
            if let Some(b) = batcher.as_mut() {
                if let Err(e) = b.committed(&progress) {
                    bail!(e);
                }
            }
        }};
    }
    // Runs the batch. Stopped at an error: what committed is settled, the
    // rest waits in `redo`. Connection lost: which committed is the target's
    // GTID state's to say, and the run ends.
    macro_rules! flush_batch {
        () => {{
            if !batch.is_empty() {
                batch_tag += 1;
                let items = std::mem::take(&mut batch);
                let infos = std::mem::take(&mut batch_infos);
                batch_bytes = 0;
                // One transaction goes the usual way: its phases are then known
                // apart (a lost connection before COMMIT means rolled back).
                let outcome = if items.len() == 1 {
                    compound::Outcome::Alone
                } else {
                    let lanes = batch_lanes;
                    let t0 = Instant::now();
                    let r = match chain.as_mut() {
                        Some(ch) if lanes > 1 => {
                            let groups: Vec<&Group<'_>> = items.iter().map(|(g, _)| g).collect();
                            // Commits are a prefix of the window: the GTID state says how long.
                            let mut prefix = |c: &mut mysql::Conn| {
                                let now = target::read_applied(c, flavor, label).ok()?;
                                Some(items.iter().take_while(|(_, p)| already_applied(&now, &p.id).is_some()).count())
                            };
                            let win = chain::Window { groups: &groups, infos: &infos, tag: batch_tag, lanes };
                            ch.run(guard.conn(), win, &info, &mut prefix)
                        }
                        _ => {
                            let c = compound::build(items.iter().map(|b| &b.1), batch_tag);
                            compound::run(guard.conn(), &c, batch_tag)
                        }
                    };
                    if chain.is_some() && matches!(r, compound::Outcome::Done) {
                        lane_choice.done(lanes, items.len(), t0.elapsed().as_secs_f64());
                    }
                    r
                };
                match outcome {
                    compound::Outcome::Alone => {
                        let user_vars = std::mem::take(&mut ctx.user_vars);
                        ctx = SessionCtx::default();
                        ctx.user_vars = user_vars;
                        redo.extend(items.into_iter().map(|(g, _)| g));
                    }
                    compound::Outcome::Done => {
                        report.batches += 1;
                        for (g, plan) in &items {
                            let (f, o) = g.end();
                            settle!(plan, f, o);
                        }
                    }
                    compound::Outcome::Stopped { committed, error } => {
                        // Counted as the usual path counts a lock conflict it runs again.
                        if server_error(&error).is_some_and(|e| matches!(e.code, 1205 | 1213)) {
                            report.retries += 1;
                        }
                        if chain.is_some() {
                            report.reruns += (items.len() - committed) as u64;
                        }
                        let mut rest = items.into_iter();
                        for (g, plan) in rest.by_ref().take(committed) {
                            let (f, o) = g.end();
                            settle!(&plan, f, o);
                        }
                        let user_vars = std::mem::take(&mut ctx.user_vars);
                        ctx = SessionCtx::default();
                        ctx.user_vars = user_vars;
                        for (g, _) in rest.rev() {
                            redo.push_front(g);
                        }
                    }
                    compound::Outcome::Lost { error } => {
                        guard.alive = false;
                        progress.exact = false;
                        let _ = save_final!();
                        let (first, last_plan) = (&items[0].1, &items[items.len() - 1].1);
                        report.failure = Some(Failure {
                            file: files[first.first.file].clone(),
                            offset: first.first.offset,
                            event_type: first.first.ty,
                            trx: first.id.to_string(),
                            server_error: None,
                            message: format!(
                                "connection lost: {error} (while {} transactions, {} to {}, were sent together: \
                                 the target's GTID state says which of them committed)",
                                items.len(),
                                first.id,
                                last_plan.id
                            ),
                            outcome: TrxOutcome::Unknown,
                        });
                        let err = failure_error(&report);
                        bail!(err);
                    }
                }
            }
        }};
    }
    // Before a group runs alone: the batch before it first; if that batch
    // stopped, the group waits behind the batch's rest.
    macro_rules! drain_before {
        ($g:expr) => {
            if !batch.is_empty() {
                flush_batch!();
                if !redo.is_empty() {
                    redo.push_back($g);
                    continue;
                }
            }
        };
    }

    loop {
        if is_interrupted(opts) {
            // Between transactions: nothing is open; a batch being gathered was not sent.
            let _ = save_final!();
            bail!(Error::new(ErrorKind::Interrupted(format!(
                "interrupted: stopped between transactions, {} committed in this run",
                report.transactions
            ))));
        }
        let (item, from_redo) = if let Some(g) = redo.pop_front() {
            (Item::Group(g), true)
        } else if stream_done || end_err.is_some() {
            if !batch.is_empty() {
                flush_batch!();
                continue;
            }
            if let Some(e) = end_err.take() {
                let _ = save_final!();
                bail!(e);
            }
            break;
        } else {
            match stream.next_item() {
                Ok(Some(i)) => (i, false),
                Ok(None) => {
                    stream_done = true;
                    continue;
                }
                Err(e) => {
                    end_err = Some(e);
                    continue;
                }
            }
        };
        let g = match item {
            Item::Group(g) => g,
            Item::Refetched(g) => {
                report.abandoned.push(abandoned(lfs, &g));
                continue;
            }
            Item::Abandoned(g) => {
                end_err = Some(abandoned_error(lfs, &g));
                continue;
            }
            Item::Incident(ge) => {
                end_err = Some(incident_error(lfs, &ge));
                continue;
            }
            Item::Partial { group, incomplete } => {
                if let Some(lo) = partial_tail(lfs, &group, incomplete) {
                    report.left_out = Some(lo);
                }
                continue;
            }
        };
        let (end_file, end_off) = g.end();
        if resume_from.is_some_and(|r| (end_file, end_off) <= r) {
            report.skipped += 1;
            Counters::tick(&opts.counters);
            report.files[end_file].skipped += 1;
            continue;
        }
        let mut tctx = ctx.clone();
        let plan = match convert::convert(&g, &mut tctx, &info) {
            Ok(p) => p,
            Err((src, e)) => {
                drain_before!(g);
                let id = g.id_text();
                report.failure = Some(Failure {
                    file: files[src.file].clone(),
                    offset: src.offset,
                    event_type: src.ty,
                    trx: id,
                    server_error: None,
                    message: e.0,
                    outcome: TrxOutcome::NotStarted,
                });
                let _ = save_final!();
                let err = failure_error(&report);
                bail!(err);
            }
        };
        if let Some(why) = already_applied(&applied, &plan.id) {
            if opts.resume || opts.skip_applied {
                report.skipped += 1;
                Counters::tick(&opts.counters);
                report.files[end_file].skipped += 1;
                continue;
            }
            drain_before!(g);
            report.failure = Some(Failure {
                file: files[plan.first.file].clone(),
                offset: plan.first.offset,
                event_type: plan.first.ty,
                trx: plan.id.to_string(),
                server_error: None,
                message: format!("already applied on the target ({why}); use --resume to skip applied transactions"),
                outcome: TrxOutcome::NotStarted,
            });
            let _ = save_final!();
            let err = failure_error(&report);
            bail!(err);
        }
        if batching && !from_redo && compound::eligible(&plan, flavor) {
            let size = compound::size(&plan);
            let repeated = batch.iter().any(|(_, p)| compound::repeats(&p.id, &plan.id));
            if !batch.is_empty() && (repeated || batch_bytes + size > compound::MAX_BYTES * batch_scale) {
                flush_batch!();
                if !redo.is_empty() || repeated {
                    // A repeated GTID is checked again once the batch committed.
                    redo.push_back(g);
                    continue;
                }
            }
            if batch.is_empty() && chain.is_some() {
                batch_lanes = lane_choice.next();
                batch_scale = lane_choice.scale(batch_lanes);
            }
            match analyzer.as_mut() {
                // Dealt out to workers, each converting in its own session.
                Some(an) if batch_lanes > 1 => batch_infos.push(an.analyze(guard.conn(), &g)),
                // The main session runs it: its settings are now the plan's.
                _ => ctx = tctx,
            }
            batch_bytes += size;
            batch.push((g, plan));
            if batch.len() >= compound::MAX_TRX * batch_scale {
                flush_batch!();
            }
            continue;
        }
        drain_before!(g);
        if let Some(an) = analyzer.as_mut() {
            // It may change a table the workers' write sets are keyed on.
            an.forget_tables();
            if !from_redo {
                report.barriers += 1;
            }
        }
        had_gtid_next |= plan.sets_gtid_next;
        let mut plan = plan;
        let mut attempt = 0;
        let r = loop {
            let mut alive = guard.alive;
            let r = if journaling {
                // No GTID check: the journal says "may commit from now on" before the COMMIT.
                let start = g.start();
                let d = InDoubt {
                    n: progress.transactions + 1,
                    file: start.0,
                    offset: start.1,
                    end_file,
                    end_offset: end_off,
                    trx: plan.id.to_string(),
                    gtid: plan.id.gtid(),
                };
                let mut hold = |_: &mut mysql::Conn| -> Hold {
                    if is_interrupted(opts) {
                        return Hold::Stop;
                    }
                    match batcher.as_mut().map(|b| b.intent(&d)) {
                        Some(Err(e)) => {
                            hold_err = Some(e);
                            Hold::Stop
                        }
                        _ => {
                            pending = Some(d.clone());
                            Hold::Go
                        }
                    }
                };
                execute_with(guard.conn(), &plan, flavor, &mut alive, &mut hold)
            } else {
                execute(guard.conn(), &plan, flavor, &mut alive)
            };
            guard.alive = alive;
            // Like the server's applier (slave_transaction_retries): a deadlock or
            // lock wait timeout rolled the whole transaction back; when the source
            // says it touched transactional tables only, running it again is safe.
            let retry = match &r {
                Err(f) => {
                    alive
                        && plan.transactional
                        && attempt < opts.retries
                        && f.outcome == TrxOutcome::RolledBack
                        && f.server.as_ref().is_some_and(|e| matches!(e.code, 1205 | 1213))
                }
                Ok(()) => false,
            };
            if !retry {
                break r;
            }
            attempt += 1;
            report.retries += 1;
            std::thread::sleep(std::time::Duration::from_millis(100 * attempt as u64));
            // The failed attempt may have left session settings behind: rebuild
            // the transaction from an unknown session (every setting explicit).
            tctx = SessionCtx::default();
            tctx.user_vars.clone_from(&ctx.user_vars);
            match convert::convert(&g, &mut tctx, &info) {
                Ok(p) => plan = p,
                Err(_) => break r,
            }
        };
        match r {
            Ok(()) => {
                ctx = tctx;
                guard.user_vars.clone_from(&ctx.user_vars);
                pending = None;
                settle!(&plan, end_file, end_off);
            }
            Err(f) => {
                if exact {
                    // A COMMIT whose answer never came is in doubt; anything else did not commit.
                    progress.in_doubt = if f.outcome == TrxOutcome::Unknown { pending.take() } else { None };
                } else {
                    progress.exact = f.outcome != TrxOutcome::Unknown;
                }
                let _ = save_final!();
                if let Some(e) = hold_err.take() {
                    bail!(Error::invalid(format!(
                        "{}: not committed (rolled back): its resume intent could not be written: {e}",
                        plan.id
                    )));
                }
                if f.held == Some(Hold::Stop) {
                    bail!(Error::new(ErrorKind::Interrupted(format!(
                        "interrupted: {} was rolled back before its COMMIT; {} transactions committed in this run",
                        plan.id, report.transactions
                    ))));
                }
                report.failure = Some(Failure {
                    file: files[f.src.file].clone(),
                    offset: f.src.offset,
                    event_type: f.src.ty,
                    trx: plan.id.to_string(),
                    server_error: f.server,
                    message: f.message,
                    outcome: f.outcome,
                });
                let err = failure_error(&report);
                bail!(err);
            }
        }
    }
    if had_gtid_next && guard.alive {
        let _ = guard.conn().query_drop("SET @@SESSION.GTID_NEXT='AUTOMATIC'");
    }
    tryf!(save_final!());
    report.last_gtids = last.values().filter_map(TrxId::gtid).collect();

    let end = Ending { flavor, logs_binlog, check, groups: pre.groups, last: &last, last_logged: &last_logged };
    let checked = end.check(guard.conn(), label, opts, &mut report);
    guard.restore();
    drop(guard);
    tryf!(checked);
    Ok(report)
}

/// The end of a run: what must hold once every transaction was handled.
struct Ending<'e> {
    flavor: Flavor,
    logs_binlog: bool,
    check: AppliedCheck,
    /// Whole groups in the input.
    groups: u64,
    last: &'e BTreeMap<(u32, String), TrxId>,
    last_logged: &'e BTreeMap<(u32, String), TrxId>,
}

impl Ending<'_> {
    /// Verifies the target's GTID state and the counts (into
    /// `report.verification`) and refuses a short apply or an unapplied tail.
    fn check(&self, conn: &mut mysql::Conn, label: &str, opts: &ApplyOptions, report: &mut ApplyReport) -> Result<()> {
        let (flavor, logs_binlog, last, last_logged) = (self.flavor, self.logs_binlog, self.last, self.last_logged);
        let done = report.transactions + report.skipped;
        if done != self.groups {
            report.verification = Verification::Mismatch(format!(
                "{done} transactions applied or skipped, but the input has {} complete transactions",
                self.groups
            ));
        } else if last.is_empty() {
            report.verification = Verification::Unverifiable(if report.transactions == 0 {
                "nothing was applied".into()
            } else {
                "the input has no GTIDs".into()
            });
        } else if last_logged.is_empty() && flavor == Flavor::MariaDb && logs_binlog {
            report.verification = Verification::Unverifiable(
                "no applied transaction was binlogged by the target (no row changed)".into(),
            );
        } else if let AppliedCheck::None(n @ (NoCheck::LogBinOff | NoCheck::SessionLogBinOff)) = self.check {
            report.verification = Verification::Unverifiable(format!("no GTID state to check: {}", n.why()));
        } else {
            let now = target::read_applied(conn, flavor, label)?;
            let check = if flavor == Flavor::MariaDb { last_logged } else { last };
            let missing: Vec<String> =
                check.values().filter(|id| already_applied(&now, id).is_none()).filter_map(TrxId::gtid).collect();
            let holds: Vec<String> = check.values().filter_map(TrxId::gtid).collect();
            report.verification = if missing.is_empty() {
                Verification::Verified(format!(
                    "{} transactions; the target's GTID state holds {}",
                    report.transactions,
                    holds.join(",")
                ))
            } else {
                Verification::Mismatch(format!("the target's GTID state lacks {}", missing.join(",")))
            };
        }
        if let Verification::Mismatch(m) = &report.verification {
            return Err(Error::invalid(format!("{label}: short or inconsistent apply: {m}")));
        }
        if let Some(l) = &report.left_out {
            if !opts.allow_partial_tail {
                return Err(Error::invalid(format!(
                    "incomplete trailing transaction NOT applied ({} events, {} bytes: {}); all {} complete \
                     transactions before it were applied",
                    l.events, l.bytes, l.reason, report.transactions
                ))
                .with_file(&l.file)
                .at(l.offset, None));
            }
        }
        Ok(())
    }
}

/// The GTID state key of a transaction: `(domain, server)` or `(0, source)`.
fn key_of(id: &TrxId) -> Option<(u32, String)> {
    match id {
        TrxId::Maria { domain, server, .. } => Some((*domain, server.to_string())),
        TrxId::Mysql { sid, .. } => Some((0, crate::event::views::format_uuid(sid))),
        TrxId::MysqlTagged { uuid, tag, .. } => Some((0, format!("{uuid}:{tag}"))),
        TrxId::Position { .. } => None,
    }
}

/// The one-line error for the report's failure.
fn failure_error(report: &ApplyReport) -> Error {
    let f = report.failure.as_ref().expect("failure set");
    let cause = match &f.server_error {
        Some(e) => format!("server error {} ({}): {} [{}]", e.code, e.state, e.message, f.message),
        None => f.message.clone(),
    };
    let line =
        format!("{}: {cause}; {}; {} transactions committed before it", f.trx, f.outcome.text(), report.transactions);
    Error::invalid(line.replace(['\n', '\r'], " ")).with_file(&f.file).at(f.offset, Some(f.event_type))
}

/// Where the state says the apply stands (for the report).
fn resume_point(files: &[PathBuf], p: &ResumeState, saved: bool) -> ResumePoint {
    ResumePoint {
        file: files.get(p.file).cloned().unwrap_or_default(),
        offset: p.offset,
        transactions: p.transactions,
        last_gtid: p.last_gtid.clone(),
        in_doubt: p.in_doubt.as_ref().map(|d| in_doubt_text(d, files)),
        saved,
    }
}

fn in_doubt_text(d: &InDoubt, files: &[PathBuf]) -> String {
    let name = |i: usize| files.get(i).map(|f| f.display().to_string()).unwrap_or_else(|| format!("file #{i}"));
    format!(
        "transaction {} of these files, {} ({} @ {} to {} @ {})",
        d.n,
        d.trx,
        name(d.file),
        d.offset,
        name(d.end_file),
        d.end_offset
    )
}

/// A resume refused: a transaction's COMMIT was sent but its outcome is unknown.
fn in_doubt_error(state: &std::path::Path, d: &InDoubt, files: &[PathBuf]) -> Error {
    let file = files.get(d.file).map(|f| f.display().to_string()).unwrap_or_default();
    let stop = if d.end_file == d.file { format!(" --stop-position {}", d.end_offset) } else { String::new() };
    Error::invalid(format!(
        "{} was being committed when the last run stopped, and whether it committed cannot be told from here \
         (the run that sent it could not check the target's GTID state); look on the target for its changes \
         (`binlog-diff dump --rows --start-position {}{stop} {file}` prints them), then resume with \
         --resume-assume-committed if they are there, or --resume-assume-rolled-back if they are not",
        in_doubt_text(d, files),
        d.offset
    ))
    .with_file(state)
}

/// A fresh apply refused: the state records these files (or others at its
/// path) as applied, and the target cannot say what it has.
fn already_recorded(
    state: &std::path::Path,
    p: &ResumeState,
    ids: &[(String, u64)],
    files: &[PathBuf],
    why: NoCheck,
) -> Error {
    let what = if p.files == ids {
        let at = files.get(p.file).map(|f| f.display().to_string()).unwrap_or_default();
        let doubt =
            p.in_doubt.as_ref().map(|d| format!(", and {} in doubt", in_doubt_text(d, files))).unwrap_or_default();
        format!(
            "records {} transactions of these files as applied (up to {at} @ {}{}){doubt}",
            p.transactions,
            p.offset,
            p.last_gtid.as_deref().map(|g| format!(", last GTID {g}")).unwrap_or_default()
        )
    } else {
        let first = p.files.first().map(|(f, n)| format!("{f} ({n} bytes)")).unwrap_or_default();
        format!(
            "records {} transactions applied from other files, starting with {first} (or from these files before \
             they changed)",
            p.transactions
        )
    };
    Error::invalid(format!(
        "this resume state {what}; the target cannot say what it has ({}), so applying the files again could \
         apply those transactions twice: --resume continues after them; --again applies the files from their \
         start anyway",
        why.why()
    ))
    .with_file(state)
}

/// For tests and tools: the state file path a run over `files` uses.
pub fn default_state_file(files: &[PathBuf]) -> PathBuf {
    state::state_path(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The target's GTID state is a check only when it records what we apply.
    #[test]
    fn applied_check_from_target_and_options() {
        assert_eq!(AppliedCheck::of(true, true, 0), AppliedCheck::ByGtid);
        // --disable-log-bin (or sql_log_bin=0): the GTIDs we set go nowhere.
        assert_eq!(AppliedCheck::of(true, false, 0), AppliedCheck::None(NoCheck::SessionLogBinOff));
        assert_eq!(AppliedCheck::of(false, true, 0), AppliedCheck::None(NoCheck::LogBinOff));
        assert_eq!(AppliedCheck::of(true, true, 3), AppliedCheck::None(NoCheck::NoGtids));
        assert!(NoCheck::SessionLogBinOff.why().contains("--disable-log-bin"));
    }

    /// A run the watchdog ended is a Timeout naming host and step, at the
    /// failing transaction's place; an interrupted one is Interrupted.
    #[test]
    fn errors_of_bounds_and_interrupts() {
        let failed = || {
            let e = Error::invalid("GTID 0-1-7: connection lost")
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
        assert!(matches!(f.error.kind(), ErrorKind::Invalid(_)));
    }
}
