//! Running a transaction's statements on the target: one [`TrxPlan`] at a
//! time, byte-exact, its own statements (session settings, `BEGIN`,
//! `BINLOG`, `COMMIT`) sent several to a packet where that is safe; and what
//! a failure means for the transaction ([`TrxOutcome`]): not started,
//! rolled back, rolled back by the server, or unknown (a lost connection
//! during its end).
//!
//! A parallel worker passes a *hold*, asked before the transaction's end,
//! that keeps the commit order ([`Hold`]).

use mysql::prelude::Queryable;

use crate::error::Result;
use crate::event::Flavor;

use super::convert::{End, Src, Stmt, TrxPlan};
use super::group::Kind;
use super::report::{Failure, ServerError, TrxOutcome};
use super::session::hex;

/// Why a statement failed.
pub(crate) struct ExecFailure {
    /// The event at fault.
    pub src: Src,
    /// The server's error, when it answered with one.
    pub server: Option<ServerError>,
    /// What went wrong, in words.
    pub message: String,
    /// What became of the transaction.
    pub outcome: TrxOutcome,
    /// The commit hook stopped the transaction (parallel apply).
    pub held: Option<Hold>,
}

impl ExecFailure {
    /// The report's account of it, for the transaction `trx`.
    pub(crate) fn into_failure(self, files: &[std::path::PathBuf], trx: String) -> Failure {
        Failure {
            file: files[self.src.file].clone(),
            offset: self.src.offset,
            event_type: self.src.ty,
            trx,
            server_error: self.server,
            message: self.message,
            outcome: self.outcome,
            refused: false,
        }
    }
}

/// What a parallel worker's hook says before a transaction's end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Hold {
    /// Its turn: commit.
    Go,
    /// An earlier transaction failed: roll back.
    Stop,
    /// An earlier transaction waits for a lock this one holds: roll back, run again later.
    Retry,
}

/// Whether the connection is gone (or out of step): what it ran last is unknown.
pub(crate) fn is_lost(e: &mysql::Error) -> bool {
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

/// The server's own error, if it answered with one.
pub(crate) fn server_error(e: &mysql::Error) -> Option<ServerError> {
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

/// Bytes of statements sent in one packet at most (a longer statement goes alone).
const BATCH_BYTES: usize = 1 << 20;

/// A `BINLOG '…'` statement (it must end its packet: see [`Sending`]).
pub(crate) fn is_binlog(sql: &[u8]) -> bool {
    sql.starts_with(b"BINLOG '") && sql.ends_with(b"'")
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
pub(crate) fn execute(
    conn: &mut mysql::Conn,
    plan: &TrxPlan,
    flavor: Flavor,
    alive: &mut bool,
) -> Result<(), ExecFailure> {
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
pub(crate) fn execute_with(
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
    hold: Option<&mut (dyn FnMut(&mut mysql::Conn) -> Hold + 'h)>,
    batch: bool,
) -> Result<(), ExecFailure> {
    let xa = XaTexts::of(plan);
    let mut s = Sending { conn, plan, flavor, alive, phase: Phase::Pre, items: Vec::new(), bytes: 0, batch };
    let r = s.all(&xa, hold);
    let Sending { conn, alive, phase, .. } = s;
    if let Err(mut f) = r {
        if *alive && phase != Phase::Pre {
            roll_back(conn, plan, &mut f);
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

/// Rolls back a failed transaction; when that fails too, its outcome is unknown.
fn roll_back(conn: &mut mysql::Conn, plan: &TrxPlan, f: &mut ExecFailure) {
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

/// The XA statements we write around an XA group's own (empty for others).
struct XaTexts {
    start: String,
    end: String,
    last: String,
}

impl XaTexts {
    fn of(plan: &TrxPlan) -> XaTexts {
        let start = match &plan.kind {
            Kind::Xa(Some(x)) => format!("XA START {x}"),
            _ => String::new(),
        };
        let (end, last) = match &plan.end {
            End::XaPrepare(_, x) => (format!("XA END {x}"), format!("XA PREPARE {x}")),
            End::XaOnePhase(_, x) => (format!("XA END {x}"), format!("XA COMMIT {x} ONE PHASE")),
            _ => (String::new(), String::new()),
        };
        XaTexts { start, end, last }
    }
}

/// A transaction being sent. Statements we wrote (session settings,
/// `BINLOG`, BEGIN, COMMIT) wait in `items` to go to the server together,
/// as one multi-statement packet: one round trip instead of one per
/// statement. The server stops at the first failing statement of a packet,
/// and its answers say which one failed. `phase` is the furthest the server
/// may have reached.
///
/// MariaDB (10.11) drops `SERVER_MORE_RESULTS_EXISTS` from its answer to a
/// `BINLOG` statement, so a client stops reading there and the answers
/// after it arrive as garbage for the next query: a `BINLOG` always ends
/// its packet. Consecutive `BINLOG` statements are merged into one (the
/// server applies every event of its base64 text in turn), so a row
/// transaction goes as settings + BEGIN + one `BINLOG`, then COMMIT.
struct Sending<'c, 'p> {
    conn: &'c mut mysql::Conn,
    plan: &'p TrxPlan,
    flavor: Flavor,
    alive: &'c mut bool,
    phase: Phase,
    items: Vec<Queued<'p>>,
    bytes: usize,
    /// Off: every statement goes alone (exact error positions).
    batch: bool,
}

impl<'p> Sending<'_, 'p> {
    /// Sends the whole transaction, asking `hold` (if any) before its end
    /// (before its first statement for a group whose statements commit on
    /// their own).
    fn all<'h>(
        &mut self,
        xa: &'p XaTexts,
        mut hold: Option<&mut (dyn FnMut(&mut mysql::Conn) -> Hold + 'h)>,
    ) -> Result<(), ExecFailure> {
        let plan = self.plan;
        for s in &plan.pre {
            self.stmt(s, Phase::Pre)?;
        }
        match &plan.kind {
            Kind::Trx => self.add(b"BEGIN", None, plan.first, Phase::Body)?,
            Kind::Xa(Some(_)) => self.add(xa.start.as_bytes(), None, plan.first, Phase::Body)?,
            _ => {}
        }
        // A statement of a Plain group commits on its own.
        let body_phase = if plan.kind == Kind::Plain { Phase::End } else { Phase::Body };
        if plan.kind == Kind::Plain {
            self.ask(&mut hold)?;
        }
        for s in &plan.body {
            self.stmt(s, body_phase)?;
        }
        if plan.kind != Kind::Plain {
            self.ask(&mut hold)?;
        }
        match &plan.end {
            End::Commit(src) => self.add(b"COMMIT", None, *src, Phase::End)?,
            End::Rollback(src) => self.add(b"ROLLBACK", None, *src, Phase::End)?,
            End::XaPrepare(src, _) | End::XaOnePhase(src, _) => {
                self.add(xa.end.as_bytes(), None, *src, Phase::Body)?;
                self.add(xa.last.as_bytes(), None, *src, Phase::End)?;
            }
            End::None => {
                if plan.kind == Kind::Trx {
                    self.add(b"COMMIT", None, plan.first, Phase::End)?;
                }
            }
        }
        self.flush()
    }

    /// With a hold: sends what is pending, then asks it whether to go on.
    fn ask<'h>(
        &mut self,
        hold: &mut Option<&mut (dyn FnMut(&mut mysql::Conn) -> Hold + 'h)>,
    ) -> Result<(), ExecFailure> {
        let Some(h) = hold.as_mut() else { return Ok(()) };
        self.flush()?;
        match h(self.conn) {
            Hold::Go => Ok(()),
            h => Err(held(self.plan, h)),
        }
    }

    /// One statement of the plan: queued when it may share a packet, else alone.
    fn stmt(&mut self, s: &'p Stmt, ph: Phase) -> Result<(), ExecFailure> {
        if s.batchable() {
            return self.add(&s.sql, s.desc.as_deref(), s.src, ph);
        }
        // One statement of the log's own: alone, after what is pending.
        self.flush()?;
        self.phase = self.phase.max(ph);
        let infile = s.infile.as_ref();
        step(
            self.conn,
            self.plan,
            self.flavor,
            self.alive,
            &s.sql,
            s.desc.as_deref(),
            infile,
            s.src,
            s.expect_error,
            ph,
        )
    }

    /// Queues a statement we wrote, sending what is queued first when it
    /// cannot share their packet.
    fn add(&mut self, sql: &'p [u8], desc: Option<&'p str>, src: Src, ph: Phase) -> Result<(), ExecFailure> {
        let last_binlog = self.items.last().is_some_and(|l| is_binlog(&l.0));
        if last_binlog && is_binlog(sql) && self.bytes + sql.len() <= BATCH_BYTES {
            let last = self.items.last_mut().expect("a last item");
            let merged = last.0.to_mut();
            merged.pop(); // its closing quote
            merged.push(b'\n');
            merged.extend_from_slice(&sql[b"BINLOG '".len()..]);
            self.bytes += sql.len();
            last.3 = last.3.max(ph);
            return Ok(());
        }
        if !self.items.is_empty() && (!self.batch || last_binlog || self.bytes + sql.len() > BATCH_BYTES) {
            self.flush()?;
        }
        self.bytes += sql.len();
        self.items.push((std::borrow::Cow::Borrowed(sql), desc, src, ph));
        if !self.batch {
            self.flush()?;
        }
        Ok(())
    }

    /// Sends what is queued; `phase` becomes the furthest phase sent.
    fn flush(&mut self) -> Result<(), ExecFailure> {
        let items = std::mem::take(&mut self.items);
        self.bytes = 0;
        let Some(worst) = items.iter().map(|i| i.3).max() else { return Ok(()) };
        self.phase = self.phase.max(worst);
        let (conn, plan, alive) = (&mut *self.conn, self.plan, &mut *self.alive);
        if let [(sql, desc, src, ph)] = &items[..] {
            return step(conn, plan, self.flavor, alive, sql, *desc, None, *src, 0, *ph);
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
}

/// The failure of a transaction its hold stopped before its end.
fn held(plan: &TrxPlan, h: Hold) -> ExecFailure {
    ExecFailure {
        src: plan.first,
        server: None,
        message: match h {
            Hold::Stop => "an earlier transaction failed".into(),
            _ => "an earlier transaction waits for a row lock it holds".into(),
        },
        outcome: if plan.kind == Kind::Plain { TrxOutcome::NotStarted } else { TrxOutcome::RolledBack },
        held: Some(h),
    }
}
