//! Parallel apply of row transactions in compound statements, commit order
//! kept by the server itself.
//!
//! A window of consecutive row transactions is dealt out to the worker
//! connections in turn (transaction `i` to worker `i mod N`); each worker
//! gets one compound statement ([`compound`]) with its share, in order. So
//! that commits still happen in source order without a round trip per
//! commit, the statements wait for each other inside the server, on user
//! locks (`GET_LOCK`):
//!
//! - lock `t(i+1)` is taken by the worker of transaction `i` before any
//!   statement is sent (with its `BINLOG` texts, see [`compound::Compound`]:
//!   a round trip per worker), and released right after transaction `i`
//!   commits: "transaction `i` committed". Only locks someone waits for
//!   exist;
//! - before its `COMMIT`, transaction `i` waits for `t(i)` (its turn);
//! - before its body, a transaction waits for the last earlier one it
//!   depends on ([`depend`]: write sets, the source's group commits), as
//!   the usual parallel apply does, unless its worker committed a later
//!   one since; a transaction whose write set is not known waits for the
//!   one before it.
//!
//! Commits are therefore always a prefix of the window in source order,
//! whatever fails. A user lock is also released when its session dies (a
//! KILL, a dropped connection) while its transaction rolls back, so a turn
//! also checks that `@@gtid_binlog_state` holds the previous transaction's
//! GTID (all of them have one; the target logs them). When a statement
//! fails, every other worker's statement is interrupted (`KILL QUERY`,
//! again until it ends); only once all have ended are the open
//! transactions rolled back and the locks released. The target's GTID
//! state then says how many committed (every transaction here has a MariaDB
//! GTID), and the caller runs the rest one at a time, which names the
//! exact event.
//!
//! An undetected conflict (a gap lock, say) where a later transaction holds
//! a row an earlier one needs cannot be seen by InnoDB's deadlock detector
//! (the later one waits on a user lock): the worker sessions get a short
//! `innodb_lock_wait_timeout`, the earlier one fails, and the window ends
//! as above.
//!
//! [`compound`]: super::compound
//! [`depend`]: super::depend

use std::sync::mpsc;

use mysql::prelude::Queryable;

use super::compound::{self, BatchOutcome, Compound, Hooks};
use super::convert::{self, TrxPlan};
use super::depend::{Info, Scheduler};
use super::exec::is_lost;
use super::group::{Group, TrxId};
use super::guard::SessionGuard;
use super::session::{SessionCtx, TargetInfo};
use super::target::Target;
use crate::error::{Error, Result};

/// Seconds a worker session waits for a row lock: a cycle through a user
/// lock ends this soon (the window is then run again one at a time).
const LOCK_WAIT: u32 = 5;

/// Seconds a statement waits for an earlier transaction (a huge one may
/// take long; a failure interrupts the wait at once).
const TURN_WAIT: u32 = 86_400;

/// How often the others are interrupted again while a failed window ends.
const REKILL: std::time::Duration = std::time::Duration::from_millis(100);

/// A window of transactions to run.
pub(crate) struct Window<'w, 'g> {
    pub groups: &'w [&'w Group<'g>],
    pub infos: &'w [Info],
    /// Makes its lock names unique.
    pub tag: u64,
    /// Workers to deal it out to.
    pub lanes: usize,
}

/// The worker connections, set up for applying.
pub(crate) struct Workers<'c> {
    guards: Vec<SessionGuard<'c>>,
    ids: Vec<u32>,
    ctxs: Vec<SessionCtx>,
    /// Makes lock names unique on the server (the main connection's id).
    run_id: u32,
}

impl<'c> Workers<'c> {
    /// Sets up every worker session as the main one is set up.
    ///
    /// # Errors
    ///
    /// A session that cannot be set up.
    pub fn begin(
        conns: &'c mut [mysql::Conn],
        target: &Target,
        disable_log_bin: bool,
        lock_wait: Option<u64>,
        run_id: u32,
    ) -> Result<Self> {
        let mut guards = Vec::with_capacity(conns.len());
        let mut ids = Vec::with_capacity(conns.len());
        let row_wait = lock_wait.map_or(u64::from(LOCK_WAIT), |w| w.min(u64::from(LOCK_WAIT)));
        for c in conns.iter_mut() {
            ids.push(c.connection_id());
            let mut g = SessionGuard::begin(c, target, disable_log_bin, lock_wait)?;
            g.conn()
                .query_drop(format!("SET @@session.innodb_lock_wait_timeout={row_wait}"))
                .map_err(|e| Error::server(&target.label, format!("setting up a worker session: {e}")))?;
            guards.push(g);
        }
        let n = guards.len();
        Ok(Workers { guards, ids, ctxs: vec![SessionCtx::default(); n], run_id })
    }

    /// Worker connections.
    pub fn len(&self) -> usize {
        self.guards.len()
    }

    /// Runs a window of transactions (each eligible for [`compound`], with
    /// its dependency [`Info`]). `prefix` reads, over `ctl`, how many of
    /// the window's transactions the target has (`None`: unknown).
    pub fn run(
        &mut self,
        ctl: &mut mysql::Conn,
        win: Window<'_, '_>,
        target: &TargetInfo<'_>,
        prefix: &mut dyn FnMut(&mut mysql::Conn) -> Option<usize>,
    ) -> BatchOutcome {
        let Window { groups, infos, tag, lanes } = win;
        // Workers in use: on one, the window is a plain compound statement.
        let n = lanes.clamp(1, self.len());
        let len = groups.len();
        let worker = |i: usize| deal(i, n);
        let lock = |i: usize| format!("'bd{}.{tag}.{i}'", self.run_id);
        // Each worker's share, converted in its own session's context.
        let mut ctxs = self.ctxs.clone();
        let mut plans: Vec<TrxPlan> = Vec::with_capacity(len);
        for (i, g) in groups.iter().enumerate() {
            match convert::convert(g, &mut ctxs[worker(i)], target) {
                Ok(p) => plans.push(p),
                Err(_) => return BatchOutcome::Alone,
            }
        }
        let mut sched = Scheduler::new(1 << 20);
        let afters: Vec<usize> = infos.iter().map(|i| sched.schedule(i).after as usize).collect();
        // One statement each (a compound statement's IF costs the server a
        // backpatch pass over the whole statement): setting a variable to
        // itself, or to a number it refuses when a wait or a lock failed.
        // Short and integer-typed: the server parses and checks it for every
        // transaction. The number says which: kind * 1e6 + transaction.
        let check = |cond: String, kind: u32, i: usize| {
            format!(
                "SET @@session.sql_notes = IF({cond}, @@session.sql_notes, {})",
                u64::from(kind) * 1_000_000 + i as u64
            )
        };
        // Waits until transaction i-1 committed. A lock is also released when
        // its session dies (a KILL, a dropped connection) with that
        // transaction rolled back: a turn (nothing after i-1 may have
        // committed yet) also checks the binlog state holds exactly its GTID.
        // The state is read inside an IF on the wait: a system variable that
        // is a plain operand is read when the statement starts (the server
        // folds constants), before the wait.
        let gtid = |d: usize| match &plans[d].id {
            TrxId::Maria { domain, server, seq } => Some(format!("{domain}-{server}-{seq}")),
            _ => None,
        };
        let wait = |i: usize, turn: bool| {
            let l = lock(i);
            let got = format!("GET_LOCK({l}, {TURN_WAIT}) = 1 AND RELEASE_LOCK({l}) = 1");
            match turn.then(|| gtid(i - 1)).flatten() {
                Some(g) => check(format!("FIND_IN_SET('{g}', IF({got}, @@global.gtid_binlog_state, '')) > 0"), 2, i),
                None => check(got, 2, i),
            }
        };
        let (waits, needed) = plan_waits(&afters, n);
        // Every lock a worker releases is taken before any statement is sent
        // (with its BINLOG texts): no one can find it free too soon.
        let held =
            |w: usize| -> Vec<String> { (1..len).filter(|&k| needed[k] && worker(k - 1) == w).map(lock).collect() };
        let mut compounds = Vec::with_capacity(n);
        let mut takes = Vec::with_capacity(n);
        for w in 0..n {
            let locks = held(w);
            let mut first = !locks.is_empty();
            takes.push(locks);
            let mine = (0..len).filter(|&i| worker(i) == w).map(|i| {
                let mut h = Hooks::default();
                if std::mem::take(&mut first) {
                    h.before.push(check("@binlog_diff_lock = 1".into(), 3, i));
                }
                let (dep, turn) = waits[i];
                if let Some(d) = dep {
                    h.before.push(wait(d + 1, d + 1 == i));
                }
                if turn {
                    h.before_commit = vec![wait(i, true)];
                }
                if needed[i + 1] {
                    h.after_commit = vec![check(format!("RELEASE_LOCK({}) = 1", lock(i + 1)), 4, i)];
                }
                (&plans[i], h)
            });
            compounds.push(compound::build_hooked(mine, None));
        }
        if let Err(outcome) = self.send_texts(ctl, &compounds, &takes) {
            return outcome;
        }
        let results = self.run_all(ctl, &compounds);
        let Some(error) = self.first_error(ctl, results) else {
            self.ctxs = ctxs;
            return BatchOutcome::Done;
        };
        self.stopped(ctl, error, prefix)
    }

    /// The window stopped on `error`: every session rolled back and its
    /// locks released; how many of the window committed, read by `prefix`
    /// (unknown, or a lost connection: [`BatchOutcome::Lost`]).
    fn stopped(
        &mut self,
        ctl: &mut mysql::Conn,
        error: mysql::Error,
        prefix: &mut dyn FnMut(&mut mysql::Conn) -> Option<usize>,
    ) -> BatchOutcome {
        self.forget();
        if is_lost(&error) {
            return BatchOutcome::Lost { error };
        }
        // Every statement has ended: nothing can commit any more.
        for g in &mut self.guards {
            let c = g.conn();
            // A KILL QUERY that came after its statement ended may stop the next one.
            if c.query_drop("ROLLBACK").is_err() {
                let _ = c.query_drop("ROLLBACK");
            }
        }
        self.release_all();
        match prefix(ctl) {
            Some(committed) => BatchOutcome::Stopped { committed, error },
            None => BatchOutcome::Lost { error },
        }
    }

    /// Sets each worker's compound statement (its BINLOG texts as user
    /// variables), taking the locks it releases in the same statement.
    fn send_texts(
        &mut self,
        ctl: &mut mysql::Conn,
        compounds: &[Compound],
        takes: &[Vec<String>],
    ) -> std::result::Result<(), BatchOutcome> {
        for (w, c) in compounds.iter().enumerate() {
            let extra = if takes[w].is_empty() {
                String::new()
            } else {
                let all: Vec<String> = takes[w].iter().map(|l| format!("GET_LOCK({l}, 0) = 1")).collect();
                format!(", @binlog_diff_lock=({})", all.join(" AND "))
            };
            let (set, values) = c.setter(&extra);
            if let Err(e) = self.guards[w].conn().exec_drop(set, values) {
                self.forget();
                if is_lost(&e) {
                    self.kill(ctl, w);
                    return Err(BatchOutcome::Lost { error: e });
                }
                self.release_all();
                return Err(BatchOutcome::Alone);
            }
        }
        Ok(())
    }

    /// Runs every worker's compound statement, each on its thread; once one
    /// fails the others are stopped (their commits stay a prefix: each
    /// waits its turn). What each ended with, by worker.
    fn run_all(
        &mut self,
        ctl: &mut mysql::Conn,
        compounds: &[Compound],
    ) -> Vec<Option<std::result::Result<(), mysql::Error>>> {
        let n = compounds.len();
        std::thread::scope(|s| {
            let (tx, rx) = mpsc::channel();
            for (w, (g, c)) in self.guards.iter_mut().take(n).zip(compounds).enumerate() {
                let tx = tx.clone();
                s.spawn(move || {
                    let r = g.conn().query_drop(c.text.as_str());
                    let _ = tx.send((w, r));
                });
            }
            drop(tx);
            let mut results: Vec<Option<std::result::Result<(), mysql::Error>>> = (0..n).map(|_| None).collect();
            let mut halted = false;
            let mut left = n;
            while left > 0 {
                match rx.recv_timeout(REKILL) {
                    Ok((w, r)) => {
                        halted |= r.is_err();
                        results[w] = Some(r);
                        left -= 1;
                    }
                    Err(mpsc::RecvTimeoutError::Timeout) => {}
                    Err(mpsc::RecvTimeoutError::Disconnected) => break,
                }
                if halted {
                    // Stop the others; their commits stay a prefix (each
                    // waits its turn). Again until they end: a KILL QUERY
                    // that reaches a session before its statement starts
                    // is forgotten when it starts.
                    for (v, done) in results.iter().enumerate() {
                        if done.is_none() {
                            let _ = ctl.query_drop(format!("KILL QUERY {}", self.ids[v]));
                        }
                    }
                }
            }
            results
        })
    }

    /// The error the window stops on: a lost connection first (its worker
    /// killed), else the first real error (an interruption only when
    /// nothing else failed).
    fn first_error(
        &mut self,
        ctl: &mut mysql::Conn,
        results: Vec<Option<std::result::Result<(), mysql::Error>>>,
    ) -> Option<mysql::Error> {
        let mut first: Option<mysql::Error> = None;
        let mut lost = None;
        for (w, r) in results.into_iter().enumerate() {
            if let Some(Err(e)) = r {
                if is_lost(&e) {
                    self.kill(ctl, w);
                    lost.get_or_insert(e);
                } else if first.is_none() || is_interrupted(first.as_ref()) {
                    first = Some(e);
                }
            }
        }
        lost.or(first)
    }

    /// The worker sessions' settings are no longer known.
    fn forget(&mut self) {
        self.ctxs.iter_mut().for_each(|c| *c = SessionCtx::default());
    }

    /// Drops every user lock the workers hold.
    fn release_all(&mut self) {
        for g in &mut self.guards {
            let c = g.conn();
            if c.query_drop("DO RELEASE_ALL_LOCKS()").is_err() {
                let _ = c.query_drop("DO RELEASE_ALL_LOCKS()");
            }
        }
    }

    /// Ends a worker whose connection was lost, on the server too: its
    /// statement must not go on committing after we read the GTID state.
    fn kill(&mut self, ctl: &mut mysql::Conn, w: usize) {
        let _ = ctl.query_drop(format!("KILL {}", self.ids[w]));
        self.guards[w].alive = false;
    }
}

/// The worker of transaction `i` of a window dealt out to `n` (in turn).
fn deal(i: usize, n: usize) -> usize {
    i % n
}

/// The waits of a window dealt out round-robin to `n` workers, where
/// transaction `i` may start after the first `afters[i]`: for each, the
/// earlier transaction it waits for before its body (another worker's, and
/// none of its own worker's later ones committed since: commits are in
/// source order) and whether it waits its turn before its `COMMIT`; and
/// which locks `t(k)` ("transaction `k-1` committed") anyone waits for.
fn plan_waits(afters: &[usize], n: usize) -> (Vec<(Option<usize>, bool)>, Vec<bool>) {
    let len = afters.len();
    let worker = |i: usize| deal(i, n);
    let mut needed = vec![false; len + 1];
    let mut last_on: Vec<Option<usize>> = vec![None; n];
    let mut waits = Vec::with_capacity(len);
    for i in 0..len {
        let w = worker(i);
        let dep = afters[i].checked_sub(1).filter(|&d| worker(d) != w && last_on[w].is_none_or(|p| p < d));
        // Waiting for i-1 before the body is its turn already.
        let turn = i > 0 && worker(i - 1) != w && afters[i] < i;
        if let Some(d) = dep {
            needed[d + 1] = true;
        }
        needed[i] |= turn;
        last_on[w] = Some(i);
        waits.push((dep, turn));
    }
    (waits, needed)
}

/// The error of a statement we interrupted (not the cause of the stop).
fn is_interrupted(e: Option<&mysql::Error>) -> bool {
    // ER_QUERY_INTERRUPTED, ER_WRONG_VALUE_FOR_VAR (our wait gave up).
    matches!(e, Some(mysql::Error::MySqlError(m)) if matches!(m.code, 1317 | 1231))
}

/// Picks how many workers a window runs on. Dealing transactions out costs
/// the server a hand-over per commit; on a machine with few cores that can
/// cost more than the overlap gains, and one compound statement on one
/// connection is faster. So windows on all workers and on one are timed
/// side by side now and then, and the faster way runs the windows between.
#[derive(Debug)]
pub(crate) struct Lanes {
    all: usize,
    windows: u64,
    /// Seconds per transaction, on all workers and on one.
    cost: [Option<f64>; 2],
}

/// Windows between two trials of both ways.
const TRIAL_EVERY: u64 = 32;

impl Lanes {
    pub fn new(all: usize) -> Lanes {
        Lanes { all, windows: 0, cost: [None, None] }
    }

    /// Workers for the next window.
    pub fn next(&self) -> usize {
        match self.windows % TRIAL_EVERY {
            0 => self.all,
            1 => 1,
            _ => match self.cost {
                [Some(a), Some(b)] if b < a => 1,
                _ => self.all,
            },
        }
    }

    /// Windows are this many times the size of one compound statement: a
    /// trial is one statement's worth (it may be the slow way), others are
    /// as big as the workers they run on.
    pub fn scale(&self, lanes: usize) -> usize {
        if self.windows % TRIAL_EVERY < 2 { 1 } else { lanes }
    }

    /// A window of `trx` transactions on `lanes` workers took `secs`.
    pub fn done(&mut self, lanes: usize, trx: usize, secs: f64) {
        let phase = self.windows % TRIAL_EVERY;
        self.windows += 1;
        if trx == 0 || phase > 1 {
            return;
        }
        self.cost[usize::from(lanes == 1)] = Some(secs / trx as f64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_keep_commit_order_and_skip_what_is_implied() {
        // Two workers; 2 depends on 0, 3 on 2 (the one before), 4 on
        // nothing, 5 on 0.
        let (waits, needed) = plan_waits(&[0, 0, 1, 3, 0, 1], 2);
        assert_eq!(
            waits,
            vec![
                (None, false),
                (None, true),
                // 0 is its own worker's.
                (None, true),
                // Its turn, waited for before the body.
                (Some(2), false),
                (None, true),
                // 0 committed before worker 1's 3 did.
                (None, true),
            ]
        );
        assert_eq!(needed, vec![false, true, true, true, true, true, false]);
        // One worker: nothing to wait for.
        let (waits, needed) = plan_waits(&[0, 1, 2], 1);
        assert!(waits.iter().all(|w| *w == (None, false)) && needed.iter().all(|n| !n));
    }

    #[test]
    fn lanes_try_both_then_keep_the_faster() {
        let mut l = Lanes::new(4);
        assert_eq!((l.next(), l.scale(4)), (4, 1));
        l.done(4, 256, 0.030);
        assert_eq!((l.next(), l.scale(1)), (1, 1));
        l.done(1, 256, 0.020);
        // One is faster: the windows between trials run on one.
        for _ in 2..TRIAL_EVERY {
            assert_eq!(l.next(), 1);
            l.done(1, 1024, 0.5);
        }
        // A new trial finds all workers faster now.
        assert_eq!(l.next(), 4);
        l.done(4, 256, 0.010);
        l.done(1, 256, 0.020);
        assert_eq!((l.next(), l.scale(4)), (4, 4));
    }
}
