//! `--parallel N`: one reader/dispatcher (the caller's thread) and N worker
//! connections, commits in source order. See the module docs of
//! [`super`] ("Parallel apply") for the rules; [`super::depend`] decides
//! what may overlap.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use mysql::prelude::Queryable;

use crate::error::{Error, Result};

use super::applied::{already_applied, applied_twice, logged_by, record_applied};
use super::book::{Book, Env};
use super::convert;
use super::counters::Counters;
use super::depend::{Info, Scheduler, Slot};
use super::exec::{Hold, execute_with, is_lost};
use super::group::{Group, identify};
use super::guard::SessionGuard;
use super::report::{Failure, TrxOutcome};
use super::session::{SessionCtx, TargetInfo};
use super::state::{Batcher, InDoubt};
use super::stream::{Item, Stream};
use super::target::Applied;
use super::unapplied::{abandoned_error, incident_error, partial_tail, refetched};
use super::writeset::Analyzer;

struct Job<'a> {
    slot: Slot,
    group: Group<'a>,
    end: (usize, u64),
}

struct State {
    /// Transactions `0..next_commit` (in dispatch order) have committed.
    next_commit: u64,
    /// A failure: nothing more commits.
    stop: bool,
    /// Per worker: the transaction it runs and its connection id.
    running: Vec<Option<u64>>,
    conn_ids: Vec<u32>,
    book: Book,
    /// An error that is not a transaction's (state file, worker setup).
    error: Option<Error>,
    /// Per waiter (the workers, then the dispatcher): the `next_commit` it
    /// waits for, so that a commit wakes only those it lets proceed.
    waits: Vec<Option<u64>>,
}

struct Shared {
    st: Mutex<State>,
    /// One per waiter, as [`State::waits`].
    cvs: Vec<Condvar>,
    /// `State::stop`, for the dispatcher to poll without taking the lock.
    stopped: AtomicBool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A worker that panicked left consistent counters behind: keep going.
        self.st.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits (as waiter `who`) until the first `n` transactions committed
    /// or the run stops; returns whether they did.
    fn wait(&self, who: usize, n: u64) -> bool {
        let mut g = self.lock();
        loop {
            if g.next_commit >= n || g.stop {
                // Left behind after a spurious wake-up, it would draw one more.
                g.waits[who] = None;
                return g.next_commit >= n;
            }
            g.waits[who] = Some(n);
            g = self.cvs[who].wait(g).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// After `next_commit` moved: the waiters it lets proceed (the next
    /// committer, workers whose `after` bound it reached), no others. The
    /// first 64 come back as bits, to be woken once the lock is released
    /// (woken under it, they would only wait for it); any others are woken now.
    #[must_use]
    fn due(&self, st: &mut State) -> u64 {
        let mut bits = 0;
        for (k, (w, cv)) in st.waits.iter_mut().zip(&self.cvs).enumerate() {
            if w.is_some_and(|n| st.next_commit >= n) {
                *w = None;
                if k < 64 {
                    bits |= 1 << k;
                } else {
                    cv.notify_one();
                }
            }
        }
        bits
    }

    /// Wakes the waiters [`Shared::due`] returned.
    fn wake(&self, mut bits: u64) {
        while bits != 0 {
            self.cvs[bits.trailing_zeros() as usize].notify_one();
            bits &= bits - 1;
        }
    }

    /// Stops the run: nothing more commits, every waiter ends its wait.
    fn stop(&self, st: &mut State) {
        st.stop = true;
        self.stopped.store(true, Ordering::Relaxed);
        st.waits.fill(None);
        for cv in &self.cvs {
            cv.notify_one();
        }
    }

    fn set_error(&self, e: Error) {
        let mut g = self.lock();
        if !g.stop {
            g.error = Some(e);
        }
        self.stop(&mut g);
    }
}

/// The jobs the dispatcher hands out, in order. Unlike a channel, a full
/// queue wakes the dispatcher only once it is half empty again: one
/// wake-up for several jobs, not one per job.
struct Queue<T> {
    st: Mutex<Jobs<T>>,
    /// Workers wait here for a job.
    filled: Condvar,
    /// The dispatcher waits here for room.
    drained: Condvar,
    cap: usize,
}

struct Jobs<T> {
    q: VecDeque<T>,
    /// The dispatcher is done: workers take what is left, then end.
    closed: bool,
    /// The dispatcher waits for room.
    full: bool,
    /// Workers waiting for a job.
    idle: usize,
}

impl<T> Queue<T> {
    fn new(cap: usize) -> Queue<T> {
        let jobs = Jobs { q: VecDeque::with_capacity(cap), closed: false, full: false, idle: 0 };
        Queue { st: Mutex::new(jobs), filled: Condvar::new(), drained: Condvar::new(), cap }
    }

    fn lock(&self) -> MutexGuard<'_, Jobs<T>> {
        self.st.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits for room, then queues `job`.
    fn push(&self, job: T) {
        let mut g = self.lock();
        while g.q.len() >= self.cap {
            g.full = true;
            g = self.drained.wait(g).unwrap_or_else(|e| e.into_inner());
        }
        g.q.push_back(job);
        let wake = g.idle > 0;
        drop(g);
        if wake {
            self.filled.notify_one();
        }
    }

    /// The next job; `None` once the queue is closed and empty.
    fn pop(&self) -> Option<T> {
        let mut g = self.lock();
        loop {
            if let Some(job) = g.q.pop_front() {
                let wake = g.full && g.q.len() <= self.cap / 2;
                g.full &= !wake;
                drop(g);
                if wake {
                    self.drained.notify_one();
                }
                return Some(job);
            }
            if g.closed {
                return None;
            }
            g.idle += 1;
            g = self.filled.wait(g).unwrap_or_else(|e| e.into_inner());
            g.idle -= 1;
        }
    }
}

/// Closes the queue when the dispatcher is done, however it ends (a panic
/// included, or the workers would wait for jobs forever).
struct Closer<'q, T>(&'q Queue<T>);

impl<T> Drop for Closer<'_, T> {
    fn drop(&mut self) {
        self.0.lock().closed = true;
        self.0.filled.notify_all();
    }
}

/// Something the dispatcher met that ends the run once everything before
/// it has committed.
enum Deferred {
    Failure(Failure),
    Error(Error),
}

/// Runs the apply loop with `workers`; `main` serves the dispatcher's
/// schema look-ups. On failure the report says which transaction failed.
pub(crate) fn run_loop(
    main: &mut mysql::Conn,
    workers: Vec<mysql::Conn>,
    env: &Env<'_>,
    applied: Applied,
    book: Book,
) -> (Book, Result<()>) {
    let n = workers.len();
    let shared = Shared {
        st: Mutex::new(State {
            next_commit: 0,
            stop: false,
            running: vec![None; n],
            conn_ids: vec![0; n],
            book,
            error: None,
            waits: vec![None; n + 1],
        }),
        cvs: (0..=n).map(|_| Condvar::new()).collect(),
        stopped: AtomicBool::new(false),
    };
    let queue = Queue::new(n * 4);
    let deferred = std::thread::scope(|sc| {
        for (i, conn) in workers.into_iter().enumerate() {
            let (shared, queue) = (&shared, &queue);
            sc.spawn(move || worker(i, conn, shared, queue, env));
        }
        // On a deferred failure: stop reading, but let everything already handed out commit first.
        let _close = Closer(&queue);
        dispatch(main, &shared, &queue, env, applied, n)
    });
    let st = shared.st.into_inner().unwrap_or_else(|e| e.into_inner());
    let mut book = st.book;
    let mut result = Ok(());
    if let Some(e) = st.error {
        result = Err(e);
    } else if book.report.failure.is_some() {
        result = Err(book.report.failure_error(env.label));
    } else if let Some(d) = deferred {
        match d {
            Deferred::Failure(f) => {
                book.report.failure = Some(f);
                result = Err(book.report.failure_error(env.label));
            }
            Deferred::Error(e) => result = Err(e),
        }
    }
    (book, result)
}

fn dispatch<'a>(
    main: &mut mysql::Conn,
    shared: &Shared,
    queue: &Queue<Job<'a>>,
    env: &Env<'a>,
    mut applied: Applied,
    me: usize,
) -> Option<Deferred> {
    let lfs = env.lfs;
    let mut stream = Stream::new(lfs, env.opts.verify_checksums);
    let mut sched = Scheduler::new(1 << 20);
    let mut an = Analyzer::new();
    loop {
        if shared.stopped.load(Ordering::Relaxed) {
            return None;
        }
        if env.opts.interrupted() {
            interrupt(shared);
            return None;
        }
        let item = match stream.next_item() {
            Ok(Some(i)) => i,
            Ok(None) => return None,
            Err(e) => return Some(Deferred::Error(e)),
        };
        let g = match item {
            Item::Group(g) => g,
            Item::Refetched(g) => {
                shared.lock().book.report.abandoned.push(refetched(lfs, &g));
                continue;
            }
            Item::Abandoned(g) => return Some(Deferred::Error(abandoned_error(lfs, &g))),
            Item::Incident(ge) => return Some(Deferred::Error(incident_error(lfs, &ge))),
            Item::Partial { group, incomplete } => {
                if let Some(lo) = partial_tail(lfs, &group, incomplete) {
                    shared.lock().book.report.left_out = Some(lo);
                }
                continue;
            }
        };
        let end = g.end();
        if env.resume_from.is_some_and(|r| end <= r) {
            shared.lock().book.skip(end.0, &env.opts.counters);
            continue;
        }
        let id = identify(&g).ok().map(|(id, _)| id);
        if let Some(id) = &id {
            if let Some(why) = already_applied(&applied, id) {
                if env.opts.resume || env.opts.skip_applied {
                    shared.lock().book.skip(end.0, &env.opts.counters);
                    continue;
                }
                return Some(Deferred::Failure(applied_twice(env.files, &g, id, &why)));
            }
            record_applied(&mut applied, id);
        }
        // A group that cannot be identified fails in its worker, alone.
        let info = if id.is_some() { an.analyze(main, &g) } else { Info::barrier() };
        let slot = sched.schedule(&info);
        if slot.barrier {
            shared.lock().book.report.barriers += 1;
        }
        queue.push(Job { slot, group: g, end });
        if slot.barrier {
            // It may change tables (DDL): look them up again once it has committed.
            if !shared.wait(me, slot.seq + 1) {
                return None;
            }
            an.forget_tables();
        }
    }
}

fn worker<'a>(i: usize, mut conn: mysql::Conn, shared: &Shared, queue: &Queue<Job<'a>>, env: &Env<'a>) {
    // A worker that panics must stop the run: the others would wait for its transaction forever.
    let _stop = StopOnPanic(shared, i);
    let next = || queue.pop();
    match conn.query_first::<u32, _>("SELECT CONNECTION_ID()") {
        Ok(Some(id)) => shared.lock().conn_ids[i] = id,
        Ok(None) => {}
        Err(e) => shared.set_error(Error::server(env.label, format!("worker {i}: {e}"))),
    }
    let mut guard = match SessionGuard::begin(&mut conn, env.target, env.opts.disable_log_bin, env.lock_wait) {
        Ok(g) => Some(g),
        Err(e) => {
            // Its kind kept (a server's refusal); the worker named.
            shared.set_error(e.with_subject(format!("worker {i}")));
            None
        }
    };
    let mut ctx = SessionCtx::default();
    let mut locks = LockProbe::default();
    while let Some(job) = next() {
        let Some(g) = guard.as_mut() else { continue };
        // After a failure the queue is drained so the dispatcher never blocks on it.
        if !shared.wait(i, job.slot.after) {
            continue;
        }
        if !g.alive {
            // Its connection was lost after its last commit (while checking
            // it, or resetting the session): this job cannot run here, and
            // the others wait for it. Fail the run once every earlier
            // transaction has committed (a prefix), the job not started.
            if shared.wait(i, job.slot.seq) {
                fail(shared, not_run(env, &job, i), true);
            } else {
                shared.lock().running[i] = None;
            }
            continue;
        }
        run_job(i, g, &mut ctx, &mut locks, &job, shared, env);
    }
    if let Some(mut g) = guard {
        g.restore();
    }
}

/// Runs one transaction until it commits, fails at the head of the commit
/// order, or the run stops.
fn run_job(
    i: usize,
    guard: &mut SessionGuard<'_>,
    ctx: &mut SessionCtx,
    locks: &mut LockProbe,
    job: &Job<'_>,
    shared: &Shared,
    env: &Env<'_>,
) {
    let seq = job.slot.seq;
    let flavor = env.target.flavor;
    let info = TargetInfo { vars: &env.target.var_names, collations: &env.target.collations };
    let mut fresh = false;
    let mut head_attempts = 0u32;
    loop {
        let head = {
            let mut st = shared.lock();
            st.running[i] = Some(seq);
            st.next_commit == seq
        };
        let mut tctx = if fresh {
            // A failed attempt may have left session settings behind: every setting explicit.
            let mut t = SessionCtx::default();
            t.user_vars.clone_from(&ctx.user_vars);
            t
        } else {
            ctx.clone()
        };
        let plan = match convert::convert(&job.group, &mut tctx, &info) {
            Ok(p) => p,
            Err((src, e)) => {
                if shared.wait(i, seq) {
                    fail(shared, convert::failure(env.files, &job.group, src, e), true);
                }
                return;
            }
        };
        let mut alive = guard.alive;
        let mut hold = |conn: &mut mysql::Conn| wait_turn(conn, i, job, &plan, locks, shared, env);
        let r = execute_with(guard.conn(), &plan, flavor, &mut alive, &mut hold);
        guard.alive = alive;
        match r {
            Ok(()) => {
                if let Some(h) = &env.opts.after_commit {
                    (h.0)(guard.conn().connection_id());
                }
                // Still the head: nothing else commits until next_commit moves.
                let not_logged =
                    env.noop_check && !plan.has_rows && alive && !logged_by(guard, &plan.id, flavor, env.label);
                *ctx = tctx;
                guard.user_vars.clone_from(&ctx.user_vars);
                committed(shared, i, &plan, job.end, not_logged);
                Counters::tick(&env.opts.counters);
                return;
            }
            Err(f) => {
                if f.held == Some(Hold::Stop) {
                    shared.lock().running[i] = None;
                    return;
                }
                let conflict = f.held == Some(Hold::Retry) || !head;
                let retry_at_head = head
                    && alive
                    && plan.transactional
                    && head_attempts < env.opts.retries
                    && f.outcome == TrxOutcome::RolledBack
                    && f.server.as_ref().is_some_and(|e| matches!(e.code, 1205 | 1213));
                if alive && f.outcome == TrxOutcome::RolledBack && (conflict || retry_at_head) {
                    // It ran beside earlier transactions (or gave way to one):
                    // run it again once it is the head, like MariaDB's
                    // optimistic parallel replication.
                    if !shared.wait(i, seq) {
                        shared.lock().running[i] = None;
                        return;
                    }
                    let mut st = shared.lock();
                    if conflict {
                        st.book.report.reruns += 1;
                    } else {
                        st.book.report.retries += 1;
                        head_attempts += 1;
                    }
                    drop(st);
                    if !conflict {
                        std::thread::sleep(Duration::from_millis(100 * head_attempts as u64));
                    }
                    fresh = true;
                    continue;
                }
                // A real failure: reported once every earlier transaction committed.
                if shared.wait(i, seq) {
                    fail(shared, f.into_failure(env.files, plan.id.to_string()), true);
                } else {
                    shared.lock().running[i] = None;
                }
                return;
            }
        }
    }
}

/// Holds transaction `i`'s commit until it is the head of the commit
/// order ([`Hold::Go`]), the run stops, or an earlier transaction waits for
/// a row lock this one holds ([`Hold::Retry`]: InnoDB cannot see that
/// cycle).
fn wait_turn(
    conn: &mut mysql::Conn,
    i: usize,
    job: &Job<'_>,
    plan: &convert::TrxPlan,
    locks: &mut LockProbe,
    shared: &Shared,
    env: &Env<'_>,
) -> Hold {
    let seq = job.slot.seq;
    const PROBE: Duration = Duration::from_millis(50);
    let mut st = shared.lock();
    let mut waited = Instant::now();
    loop {
        // Stop first: after a state-file error nothing more commits, not even the head.
        if st.stop || st.next_commit == seq {
            st.waits[i] = None;
            if st.stop {
                return Hold::Stop;
            }
            if env.opts.interrupted() {
                drop(st);
                interrupt(shared);
                return Hold::Stop;
            }
            // No GTID check: "may commit from now on" goes to the journal first.
            if env.journaling && !journal_intent(&mut st, job, plan) {
                shared.stop(&mut st);
                return Hold::Stop;
            }
            return Hold::Go;
        }
        // Woken by the commit before it (or a stop); else at the next probe.
        st.waits[i] = Some(seq);
        let left = PROBE.saturating_sub(waited.elapsed());
        st = shared.cvs[i].wait_timeout(st, left).unwrap_or_else(|e| e.into_inner()).0;
        if waited.elapsed() >= PROBE {
            // Waiting for an earlier transaction that may be waiting for
            // a row lock this one holds: InnoDB cannot see that cycle.
            let earlier = earlier_running(&st, seq);
            drop(st);
            if !earlier.is_empty() && locks.blocks(conn, &earlier) {
                return Hold::Retry;
            }
            waited = Instant::now();
            st = shared.lock();
        }
    }
}

/// The connections of the running transactions before `seq`.
fn earlier_running(st: &State, seq: u64) -> Vec<u32> {
    st.running.iter().zip(&st.conn_ids).filter(|(r, _)| r.is_some_and(|s| s < seq)).map(|(_, id)| *id).collect()
}

/// Journals that the head may commit from now on (the in-doubt record a
/// resume reads); false, its error kept, when the journal cannot be written.
fn journal_intent(st: &mut State, job: &Job<'_>, plan: &convert::TrxPlan) -> bool {
    let d = InDoubt {
        n: st.book.state.transactions + 1,
        file: job.group.start().0,
        offset: job.group.start().1,
        end_file: job.end.0,
        end_offset: job.end.1,
        trx: plan.id.to_string(),
        gtid: plan.id.gtid(),
    };
    if let Some(Err(e)) = st.book.batcher.as_mut().map(|b| b.intent(&d)) {
        st.error = Some(e);
        return false;
    }
    st.book.pending = Some(d);
    true
}

fn fail(shared: &Shared, f: Failure, exact: bool) {
    let mut st = shared.lock();
    if !st.stop {
        let b = &mut st.book;
        if b.batcher.as_ref().is_some_and(Batcher::journals) {
            // Exact state: a COMMIT whose answer never came is in doubt; anything else did not commit.
            let pending = b.pending.take();
            b.state.in_doubt = pending.filter(|_| f.outcome == TrxOutcome::Unknown);
        } else {
            b.state.exact = exact && f.outcome != TrxOutcome::Unknown;
        }
        b.report.failure = Some(f);
    }
    shared.stop(&mut st);
}

/// Stops the run for an interrupt (once).
fn interrupt(shared: &Shared) {
    let mut st = shared.lock();
    if !st.stop {
        let n = st.book.report.transactions;
        st.error = Some(Error::new(crate::error::ErrorKind::Interrupted(format!(
            "interrupted: {n} transactions committed in this run; the open ones were rolled back"
        ))));
    }
    shared.stop(&mut st);
}

/// The failure of a job a worker whose connection is gone cannot run.
fn not_run(env: &Env<'_>, job: &Job<'_>, i: usize) -> Failure {
    let first = &job.group.events[0];
    Failure {
        file: env.files[first.file].clone(),
        offset: first.ev.offset(),
        event_type: first.ev.event_type(),
        trx: job.group.id_text(),
        server_error: None,
        message: format!("not run: parallel worker {i}'s connection was lost after its previous transaction committed"),
        outcome: TrxOutcome::NotStarted,
        refused: false,
    }
}

/// Stops the run when its worker thread unwinds.
struct StopOnPanic<'s>(&'s Shared, usize);

impl Drop for StopOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.set_error(Error::invalid(format!("parallel worker {} panicked", self.1)));
        }
    }
}

/// The book-keeping of a commit (by the head, in commit order).
fn committed(shared: &Shared, i: usize, plan: &convert::TrxPlan, end: (usize, u64), not_logged: bool) {
    let mut st = shared.lock();
    let saved = st.book.commit(plan, end, !not_logged);
    st.next_commit += 1;
    st.running[i] = None;
    if let Err(e) = saved {
        if !st.stop {
            st.error = Some(e);
        }
        shared.stop(&mut st);
        return;
    }
    let due = shared.due(&mut st);
    drop(st);
    shared.wake(due);
}

/// Whether a session in `others` (connection ids) waits for a row lock this
/// session holds, as a waiting parallel worker asks it (a test hook).
#[doc(hidden)]
pub fn waits_for_my_locks(conn: &mut mysql::Conn, others: &[u32]) -> bool {
    LockProbe::default().blocks(conn, others)
}

/// Asks the server whether a transaction of an earlier worker waits for a
/// row lock held by this session.
#[derive(Default)]
struct LockProbe {
    /// `information_schema.INNODB_LOCK_WAITS` is missing (MySQL 8): fall
    /// back to "an earlier worker waits for some lock".
    coarse: bool,
}

impl LockProbe {
    fn blocks(&mut self, conn: &mut mysql::Conn, earlier: &[u32]) -> bool {
        const EXACT: &str = "SELECT r.trx_mysql_thread_id FROM information_schema.INNODB_LOCK_WAITS w \
             JOIN information_schema.INNODB_TRX r ON r.trx_id = w.requesting_trx_id \
             JOIN information_schema.INNODB_TRX b ON b.trx_id = w.blocking_trx_id \
             WHERE b.trx_mysql_thread_id = CONNECTION_ID()";
        const COARSE: &str =
            "SELECT trx_mysql_thread_id FROM information_schema.INNODB_TRX WHERE trx_state = 'LOCK WAIT'";
        let r = if self.coarse { conn.query::<u64, _>(COARSE) } else { conn.query::<u64, _>(EXACT) };
        let waiting = match r {
            Ok(v) => v,
            Err(e) if !self.coarse && !is_lost(&e) => {
                self.coarse = true;
                conn.query::<u64, _>(COARSE).unwrap_or_default()
            }
            // Unknown: say nothing; a real cycle still ends in a lock wait timeout.
            Err(_) => return false,
        };
        waiting.iter().any(|w| earlier.iter().any(|&e| e as u64 == *w))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_hands_out_everything_in_order_then_ends() {
        let q = Queue::new(4);
        let got = std::thread::scope(|sc| {
            let workers: Vec<_> = (0..3)
                .map(|_| {
                    sc.spawn(|| {
                        let mut v = Vec::new();
                        while let Some(x) = q.pop() {
                            v.push(x);
                        }
                        v
                    })
                })
                .collect();
            let close = Closer(&q);
            for x in 0..10_000u32 {
                q.push(x);
            }
            drop(close);
            workers.into_iter().map(|w| w.join().unwrap()).collect::<Vec<_>>()
        });
        let mut all: Vec<u32> = got.iter().flatten().copied().collect();
        // Each worker took its jobs in queue order.
        assert!(got.iter().all(|v| v.windows(2).all(|w| w[0] < w[1])));
        all.sort_unstable();
        assert_eq!(all, (0..10_000).collect::<Vec<_>>());
    }

    #[test]
    fn closed_queue_is_drained_first() {
        let q = Queue::new(4);
        q.push(1);
        q.push(2);
        drop(Closer(&q));
        assert_eq!((q.pop(), q.pop(), q.pop()), (Some(1), Some(2), None));
    }
}
