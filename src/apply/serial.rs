//! The serial run: the main connection reads the input as one stream and
//! runs each whole transaction in turn (`BEGIN … COMMIT`, retried after a
//! deadlock or lock wait timeout when the source says that is safe),
//! skipping what the target has and stopping at the first failure with the
//! failing event named.
//!
//! On a MariaDB target that binlogs what we apply, runs of row
//! transactions go many to a round trip ([`compound`]); with worker
//! connections, such windows are dealt out to them ([`chain`]). A batch
//! that stops at an error settles what committed and runs the rest one at
//! a time (`redo`), so the error still names the exact event.
//!
//! Without a GTID check, an intent goes to the resume journal before each
//! COMMIT (see "Resume" in [`super`]).

use std::collections::VecDeque;
use std::time::Instant;

use mysql::prelude::Queryable;

use crate::error::{Error, ErrorKind, Result};

use super::applied::{AppliedCheck, already_applied, applied_twice, key_of, logged_by, record_applied};
use super::book::{Book, Env};
use super::convert::{self, TrxPlan};
use super::counters::Counters;
use super::exec::{ExecFailure, Hold, execute, execute_with, server_error};
use super::group::Group;
use super::guard::SessionGuard;
use super::report::{ApplyFailure, ApplyReport, Failure, TrxOutcome};
use super::session::{SessionCtx, TargetInfo};
use super::state::InDoubt;
use super::stream::{Item, Stream};
use super::target::{self, Applied};
use super::unapplied::{abandoned_error, incident_error, partial_tail, refetched};
use super::writeset::Analyzer;
use super::{chain, compound, depend, ending};

/// Runs the input over `conn` (and, on MariaDB with `batching`, windows of
/// row transactions over `workers`), then checks the end.
pub(crate) fn run(
    conn: &mut mysql::Conn,
    mut workers: Vec<mysql::Conn>,
    env: &Env<'_>,
    applied: Applied,
    book: Book,
    batching: bool,
) -> Result<ApplyReport, ApplyFailure> {
    let target = env.target;
    let (opts, lock_wait) = (env.opts, env.lock_wait);
    let run_id = conn.connection_id();
    let guard = match SessionGuard::begin(conn, target, opts.disable_log_bin, lock_wait) {
        Ok(g) => g,
        Err(e) => return book.end(Err(e)),
    };
    let chain = match workers.is_empty() {
        true => None,
        false => match chain::Workers::begin(&mut workers, target, opts.disable_log_bin, lock_wait, run_id) {
            Ok(c) => Some(c),
            Err(e) => return book.end(Err(e)),
        },
    };
    let lanes = chain.as_ref().map_or(1, |c| c.len());
    let mut s = Serial {
        env,
        info: TargetInfo { vars: &target.var_names, collations: &target.collations },
        guard,
        batch: Batch {
            items: Vec::new(),
            infos: Vec::new(),
            bytes: 0,
            tag: 0,
            analyzer: chain.as_ref().map(|_| Analyzer::new()),
            lane_choice: chain::Lanes::new(lanes),
            lanes,
            scale: 1,
        },
        chain,
        book,
        applied,
        batching,
        ctx: SessionCtx::default(),
        redo: VecDeque::new(),
        hold_err: None,
        had_gtid_next: false,
    };
    let r = s.run_all();
    let Serial { mut guard, mut book, .. } = s;
    let r = r.and_then(|()| {
        let checked = ending::finish(guard.conn(), env, &mut book);
        guard.restore();
        checked
    });
    book.end(r)
}

/// The state of a serial run.
struct Serial<'r> {
    env: &'r Env<'r>,
    info: TargetInfo<'r>,
    guard: SessionGuard<'r>,
    /// Worker sessions for windows of row transactions (MariaDB, `--parallel`).
    chain: Option<chain::Workers<'r>>,
    book: Book,
    /// What the target has, with what this run committed.
    applied: Applied,
    /// Row transactions go many to a round trip.
    batching: bool,
    /// The main session's settings, as the converter last left them.
    ctx: SessionCtx,
    batch: Batch<'r>,
    /// Groups of a batch that stopped at an error, to run one at a time
    /// from a session whose settings are not known.
    redo: VecDeque<Group<'r>>,
    /// Exact state: the intent of the transaction about to commit could not
    /// be written.
    hold_err: Option<Error>,
    /// A MySQL GTID was set with GTID_NEXT.
    had_gtid_next: bool,
}

/// Row transactions gathered to go many to a round trip.
struct Batch<'r> {
    items: Vec<(Group<'r>, TrxPlan)>,
    /// Their dependency information (when dealt out to workers).
    infos: Vec<depend::Info>,
    bytes: usize,
    /// Numbers the compound statements (and the chain's lock names).
    tag: u64,
    analyzer: Option<Analyzer>,
    lane_choice: chain::Lanes,
    /// Workers the batch being gathered will run on (chosen at its first).
    lanes: usize,
    scale: usize,
}

impl<'r> Serial<'r> {
    /// The loop over the input; ends with the state written.
    fn run_all(&mut self) -> Result<()> {
        let env = self.env;
        let mut stream = Stream::new(env.lfs, env.opts.verify_checksums);
        let mut stream_done = false;
        // An error met while reading, reported once what came before it ran.
        let mut end_err: Option<Error> = None;
        loop {
            if env.opts.interrupted() {
                // Between transactions: nothing is open; a batch being gathered was not sent.
                let _ = self.book.save_final(env.files);
                return Err(Error::new(ErrorKind::Interrupted(format!(
                    "interrupted: stopped between transactions, {} committed in this run",
                    self.book.report.transactions
                ))));
            }
            let (item, from_redo) = if let Some(g) = self.redo.pop_front() {
                (Item::Group(g), true)
            } else if stream_done || end_err.is_some() {
                if !self.batch.items.is_empty() {
                    self.flush_batch()?;
                    continue;
                }
                if let Some(e) = end_err.take() {
                    let _ = self.book.save_final(env.files);
                    return Err(e);
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
            match item {
                Item::Group(g) => self.group(g, from_redo)?,
                Item::Refetched(g) => self.book.report.abandoned.push(refetched(env.lfs, &g)),
                Item::Abandoned(g) => end_err = Some(abandoned_error(env.lfs, &g)),
                Item::Incident(ge) => end_err = Some(incident_error(env.lfs, &ge)),
                Item::Partial { group, incomplete } => {
                    if let Some(lo) = partial_tail(env.lfs, &group, incomplete) {
                        self.book.report.left_out = Some(lo);
                    }
                }
            }
        }
        if self.had_gtid_next && self.guard.alive {
            let _ = self.guard.conn().query_drop("SET @@SESSION.GTID_NEXT='AUTOMATIC'");
        }
        self.book.save_final(env.files)
    }

    /// One whole group: skipped, gathered into the batch, or run alone.
    fn group(&mut self, g: Group<'r>, from_redo: bool) -> Result<()> {
        let env = self.env;
        let end = g.end();
        if env.resume_from.is_some_and(|r| end <= r) {
            self.book.skip(end.0, &env.opts.counters);
            return Ok(());
        }
        let mut tctx = self.ctx.clone();
        let plan = match convert::convert(&g, &mut tctx, &self.info) {
            Ok(p) => p,
            Err((src, e)) => {
                let Some(g) = self.drain_before(g)? else { return Ok(()) };
                return Err(self.stop(convert::failure(env.files, &g, src, e)));
            }
        };
        if let Some(why) = already_applied(&self.applied, &plan.id) {
            if env.opts.resume || env.opts.skip_applied {
                self.book.skip(end.0, &env.opts.counters);
                return Ok(());
            }
            let Some(g) = self.drain_before(g)? else { return Ok(()) };
            return Err(self.stop(applied_twice(env.files, &g, &plan.id, &why)));
        }
        if self.batching && !from_redo && compound::eligible(&plan, env.target.flavor) {
            return self.gather(g, plan, tctx);
        }
        let Some(g) = self.drain_before(g)? else { return Ok(()) };
        if let Some(an) = self.batch.analyzer.as_mut() {
            // It may change a table the workers' write sets are keyed on.
            an.forget_tables();
            if !from_redo {
                self.book.report.barriers += 1;
            }
        }
        self.had_gtid_next |= plan.sets_gtid_next;
        self.alone(&g, plan, tctx)
    }

    /// Before a group runs alone: the batch before it first. `None` when
    /// that batch stopped: the group then waits behind the batch's rest.
    fn drain_before(&mut self, g: Group<'r>) -> Result<Option<Group<'r>>> {
        if !self.batch.items.is_empty() {
            self.flush_batch()?;
            if !self.redo.is_empty() {
                self.redo.push_back(g);
                return Ok(None);
            }
        }
        Ok(Some(g))
    }

    /// Adds a row transaction to the batch (sending the batch first when
    /// it is full, or holds the same GTID).
    fn gather(&mut self, g: Group<'r>, plan: TrxPlan, tctx: SessionCtx) -> Result<()> {
        let size = compound::size(&plan);
        let repeated = self.batch.items.iter().any(|(_, p)| compound::repeats(&p.id, &plan.id));
        let b = &self.batch;
        if !b.items.is_empty() && (repeated || b.bytes + size > compound::MAX_BYTES * b.scale) {
            self.flush_batch()?;
            if !self.redo.is_empty() || repeated {
                // A repeated GTID is checked again once the batch committed.
                self.redo.push_back(g);
                return Ok(());
            }
        }
        let b = &mut self.batch;
        if b.items.is_empty() && self.chain.is_some() {
            b.lanes = b.lane_choice.next();
            b.scale = b.lane_choice.scale(b.lanes);
        }
        match b.analyzer.as_mut() {
            // Dealt out to workers, each converting in its own session.
            Some(an) if b.lanes > 1 => b.infos.push(an.analyze(self.guard.conn(), &g)),
            // The main session runs it: its settings are now the plan's.
            _ => self.ctx = tctx,
        }
        b.bytes += size;
        b.items.push((g, plan));
        if b.items.len() >= compound::MAX_TRX * b.scale {
            self.flush_batch()?;
        }
        Ok(())
    }

    /// Runs the batch. Stopped at an error: what committed is settled, the
    /// rest waits in `redo`. Connection lost: which committed is the
    /// target's GTID state's to say, and the run ends.
    fn flush_batch(&mut self) -> Result<()> {
        if self.batch.items.is_empty() {
            return Ok(());
        }
        self.batch.tag += 1;
        let items = std::mem::take(&mut self.batch.items);
        let infos = std::mem::take(&mut self.batch.infos);
        self.batch.bytes = 0;
        // One transaction goes the usual way: its phases are then known
        // apart (a lost connection before COMMIT means rolled back).
        let outcome = if items.len() == 1 { compound::BatchOutcome::Alone } else { self.send_batch(&items, &infos) };
        match outcome {
            compound::BatchOutcome::Alone => {
                self.forget_session();
                self.redo.extend(items.into_iter().map(|(g, _)| g));
            }
            compound::BatchOutcome::Done => {
                self.book.report.batches += 1;
                for (g, plan) in &items {
                    self.settle(plan, g.end())?;
                }
            }
            compound::BatchOutcome::Stopped { committed, error } => {
                // Counted as the usual path counts a lock conflict it runs again.
                if server_error(&error).is_some_and(|e| matches!(e.code, 1205 | 1213)) {
                    self.book.report.retries += 1;
                }
                if self.chain.is_some() {
                    self.book.report.reruns += (items.len() - committed) as u64;
                }
                let mut rest = items.into_iter();
                for (g, plan) in rest.by_ref().take(committed) {
                    self.settle(&plan, g.end())?;
                }
                self.forget_session();
                for (g, _) in rest.rev() {
                    self.redo.push_front(g);
                }
            }
            compound::BatchOutcome::Lost { error } => return Err(self.lost(&items, &error)),
        }
        Ok(())
    }

    /// Sends a batch of several transactions: as one compound statement on
    /// the main connection, or dealt out to the workers.
    fn send_batch(&mut self, items: &[(Group<'r>, TrxPlan)], infos: &[depend::Info]) -> compound::BatchOutcome {
        let (flavor, label) = (self.env.target.flavor, self.env.label);
        let (tag, lanes) = (self.batch.tag, self.batch.lanes);
        let t0 = Instant::now();
        let r = match self.chain.as_mut() {
            Some(ch) if lanes > 1 => {
                let groups: Vec<&Group<'_>> = items.iter().map(|(g, _)| g).collect();
                // Commits are a prefix of the window: the GTID state says how long.
                let mut prefix = |c: &mut mysql::Conn| {
                    let now = target::read_applied(c, flavor, label).ok()?;
                    Some(items.iter().take_while(|(_, p)| already_applied(&now, &p.id).is_some()).count())
                };
                let win = chain::Window { groups: &groups, infos, tag, lanes };
                ch.run(self.guard.conn(), win, &self.info, &mut prefix)
            }
            _ => {
                let c = compound::build(items.iter().map(|b| &b.1), tag);
                compound::run(self.guard.conn(), &c, tag)
            }
        };
        if self.chain.is_some() && matches!(r, compound::BatchOutcome::Done) {
            self.batch.lane_choice.done(lanes, items.len(), t0.elapsed().as_secs_f64());
        }
        r
    }

    /// The error that ends the run when the connection was lost while a
    /// batch was sent: which of it committed is the target's GTID state's
    /// to say (the state is written inexact, for `--resume`).
    fn lost(&mut self, items: &[(Group<'r>, TrxPlan)], error: &mysql::Error) -> Error {
        self.guard.alive = false;
        self.book.state.exact = false;
        let _ = self.book.save_final(self.env.files);
        let (first, last_plan) = (&items[0].1, &items[items.len() - 1].1);
        self.book.report.failure = Some(Failure {
            file: self.env.files[first.first.file].clone(),
            offset: first.first.offset,
            event_type: first.first.ty,
            trx: first.id.to_string(),
            server_error: None,
            message: format!(
                "connection lost: {error} (while {} transactions, {} to {}, were sent together: the target's GTID \
                 state says which of them committed)",
                items.len(),
                first.id,
                last_plan.id
            ),
            outcome: TrxOutcome::Unknown,
            refused: false,
        });
        self.book.report.failure_error(self.env.label)
    }

    /// The main session's settings are no longer known (but for the user
    /// variables it set): the next conversion sets every one.
    fn forget_session(&mut self) {
        let user_vars = std::mem::take(&mut self.ctx.user_vars);
        self.ctx = SessionCtx::default();
        self.ctx.user_vars = user_vars;
    }

    /// Runs one transaction on its own, again after a deadlock or lock
    /// wait timeout (like the server's applier, `slave_transaction_retries`)
    /// when the source says it touched transactional tables only.
    fn alone(&mut self, g: &Group<'r>, mut plan: TrxPlan, mut tctx: SessionCtx) -> Result<()> {
        let opts = self.env.opts;
        let mut attempt = 0;
        let r = loop {
            let mut alive = self.guard.alive;
            let r = self.attempt(g, &plan, &mut alive);
            self.guard.alive = alive;
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
            self.book.report.retries += 1;
            std::thread::sleep(std::time::Duration::from_millis(100 * attempt as u64));
            // The failed attempt may have left session settings behind: rebuild
            // the transaction from an unknown session (every setting explicit).
            tctx = SessionCtx::default();
            tctx.user_vars.clone_from(&self.ctx.user_vars);
            match convert::convert(g, &mut tctx, &self.info) {
                Ok(p) => plan = p,
                Err(_) => break r,
            }
        };
        match r {
            Ok(()) => {
                self.ctx = tctx;
                self.guard.user_vars.clone_from(&self.ctx.user_vars);
                self.book.pending = None;
                self.settle(&plan, g.end())
            }
            Err(f) => Err(self.failed(&plan, f)),
        }
    }

    /// Runs `plan` once; without a GTID check, its intent goes to the
    /// journal right before its COMMIT.
    fn attempt(&mut self, g: &Group<'r>, plan: &TrxPlan, alive: &mut bool) -> Result<(), ExecFailure> {
        let flavor = self.env.target.flavor;
        if !self.env.journaling {
            return execute(self.guard.conn(), plan, flavor, alive);
        }
        // No GTID check: the journal says "may commit from now on" before the COMMIT.
        let (start, end) = (g.start(), g.end());
        let d = InDoubt {
            n: self.book.state.transactions + 1,
            file: start.0,
            offset: start.1,
            end_file: end.0,
            end_offset: end.1,
            trx: plan.id.to_string(),
            gtid: plan.id.gtid(),
        };
        let opts = self.env.opts;
        let (book, hold_err) = (&mut self.book, &mut self.hold_err);
        let mut hold = |_: &mut mysql::Conn| -> Hold {
            if opts.interrupted() {
                return Hold::Stop;
            }
            match book.batcher.as_mut().map(|b| b.intent(&d)) {
                Some(Err(e)) => {
                    *hold_err = Some(e);
                    Hold::Stop
                }
                _ => {
                    book.pending = Some(d.clone());
                    Hold::Go
                }
            }
        };
        execute_with(self.guard.conn(), plan, flavor, alive, &mut hold)
    }

    /// A committed transaction: counts, GTID book-keeping, resume state.
    fn settle(&mut self, plan: &TrxPlan, end: (usize, u64)) -> Result<()> {
        let env = self.env;
        Counters::tick(&env.opts.counters);
        record_applied(&mut self.applied, &plan.id);
        let check = env.noop_check && !plan.has_rows && self.guard.alive;
        let logged =
            !check || key_of(&plan.id).is_none() || logged_by(&mut self.guard, &plan.id, env.target.flavor, env.label);
        self.book.commit(plan, end, logged)
    }

    /// The error a failed transaction ends the run with, the state written.
    fn failed(&mut self, plan: &TrxPlan, f: ExecFailure) -> Error {
        let st = &mut self.book.state;
        if matches!(self.env.check, AppliedCheck::None(_)) {
            // A COMMIT whose answer never came is in doubt; anything else did not commit.
            st.in_doubt = if f.outcome == TrxOutcome::Unknown { self.book.pending.take() } else { None };
        } else {
            st.exact = f.outcome != TrxOutcome::Unknown;
        }
        let _ = self.book.save_final(self.env.files);
        if let Some(e) = self.hold_err.take() {
            // The state file's error, its kind kept, after what became of the transaction.
            return e.with_subject(format!(
                "{}: not committed (rolled back): its resume intent could not be written",
                plan.id
            ));
        }
        if f.held == Some(Hold::Stop) {
            return Error::new(ErrorKind::Interrupted(format!(
                "interrupted: {} was rolled back before its COMMIT; {} transactions committed in this run",
                plan.id, self.book.report.transactions
            )));
        }
        self.book.report.failure = Some(f.into_failure(self.env.files, plan.id.to_string()));
        self.book.report.failure_error(self.env.label)
    }

    /// Ends the run at a transaction that is not run: the failure reported,
    /// the state written.
    fn stop(&mut self, f: Failure) -> Error {
        self.book.report.failure = Some(f);
        let _ = self.book.save_final(self.env.files);
        self.book.report.failure_error(self.env.label)
    }
}
