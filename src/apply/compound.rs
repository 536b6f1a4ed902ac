//! Many row transactions in one round trip: a MariaDB compound statement
//! (`BEGIN NOT ATOMIC … END`) holding each transaction's settings,
//! `START TRANSACTION`, its `BINLOG` statements and `COMMIT`, in order.
//!
//! Why: a round trip costs the server a socket wake-up and a task switch,
//! which on a small machine is several times the work of applying a
//! sysbench transaction. A plain multi-statement packet cannot carry more
//! than one transaction: MariaDB (10.11) drops `SERVER_MORE_RESULTS_EXISTS`
//! from its answer to a `BINLOG` statement, so the client loses count of
//! the answers after it. A compound statement is one statement with one
//! answer, and each transaction in it still commits on its own, with its
//! own GTID, exactly as if sent alone.
//!
//! The server stops a compound statement at its first error (there is no
//! handler), leaving the failing transaction open. After each `COMMIT` the
//! statement sets `@binlog_diff_done` to `TAG:N`, so a failed batch says
//! how many of its transactions committed; the caller rolls back the open
//! one and runs the rest one at a time, which names the exact event.
//!
//! Only transactions whose fate a lost connection cannot hide are batched:
//! each has a MariaDB GTID and the target binlogs it (the target's GTID
//! state then says which of a batch committed), and it is all ours
//! (session settings and `BINLOG`).

use super::convert::{End, TrxPlan};
use super::exec::{is_binlog, is_lost};
use super::group::{Kind, TrxId};
use crate::event::Flavor;

/// Transactions in one compound statement at most.
pub(crate) const MAX_TRX: usize = 256;
/// Bytes of statement text in one compound statement at most (a bigger
/// transaction goes alone).
pub(crate) const MAX_BYTES: usize = 1 << 20;

/// Whether a transaction may go in a compound statement.
pub(crate) fn eligible(plan: &TrxPlan, flavor: Flavor) -> bool {
    flavor == Flavor::MariaDb
        && plan.kind == Kind::Trx
        && plan.transactional
        && plan.has_rows
        && !plan.sets_gtid_next
        && matches!(plan.id, TrxId::Maria { .. })
        && matches!(plan.end, End::Commit(_) | End::None)
        && plan.pre.iter().chain(&plan.body).all(|s| s.batchable())
}

/// Whether `later` repeats (or goes back behind) a GTID of `earlier`: it
/// must then run alone, after them, where the target's GTID state shows it.
pub(crate) fn repeats(earlier: &TrxId, later: &TrxId) -> bool {
    match (earlier, later) {
        (TrxId::Maria { domain: d1, server: s1, seq: q1 }, TrxId::Maria { domain: d2, server: s2, seq: q2 }) => {
            d1 == d2 && s1 == s2 && q1 >= q2
        }
        _ => false,
    }
}

/// Statement bytes a transaction adds to a compound statement.
pub(crate) fn size(plan: &TrxPlan) -> usize {
    plan.pre.iter().chain(&plan.body).map(|s| s.sql.len() + 2).sum::<usize>() + 64
}

/// Statements of ours around one transaction (see `chain`).
#[derive(Default)]
pub(crate) struct Hooks {
    /// Before its settings.
    pub before: Vec<String>,
    /// Between its body and its `COMMIT`.
    pub before_commit: Vec<String>,
    /// Right after its `COMMIT`.
    pub after_commit: Vec<String>,
}

/// A compound statement and the `BINLOG` texts it applies.
///
/// The base64 texts do not go in the statement: the server would lex them
/// character by character and keep a UTF-8 copy of them with the
/// statement (a third of its work). They go first, as parameters of one
/// prepared `SET @binlog_diff_bN = ?, …` (no lexing, no copy), and the
/// statement says `BINLOG @binlog_diff_bN, @binlog_diff_z`: MariaDB's
/// form for an event in two pieces, here a whole one and an empty one.
pub(crate) struct Compound {
    pub text: String,
    pub params: Vec<Vec<u8>>,
}

impl Compound {
    /// The prepared `SET` of the parameters, with `extra` assignments
    /// after them (its parameter count is rounded up, so few statements
    /// are prepared), and the values to execute it with.
    pub fn setter(&self, extra: &str) -> (String, Vec<mysql::Value>) {
        let n = self.params.len().div_ceil(64) * 64;
        let mut sql = String::with_capacity(n * 24 + extra.len() + 32);
        sql.push_str("SET @binlog_diff_z=''");
        for i in 0..n {
            sql.push_str(&format!(", @binlog_diff_b{i}=?"));
        }
        sql.push_str(extra);
        let mut values: Vec<mysql::Value> = self.params.iter().map(|p| mysql::Value::Bytes(p.clone())).collect();
        values.resize(n, mysql::Value::Bytes(Vec::new()));
        (sql, values)
    }
}

/// The compound statement for `plans`, marked with `tag`.
pub(crate) fn build<'p>(plans: impl IntoIterator<Item = &'p TrxPlan>, tag: u64) -> Compound {
    build_hooked(plans.into_iter().map(|p| (p, Hooks::default())), Some(tag))
}

/// [`build`], with statements of ours around each transaction; with no
/// `tag`, no count of commits is kept.
///
/// Every statement in a compound statement costs the server a parse tree
/// of its own, so consecutive variable assignments become one `SET`
/// (assignments are checked, then made, in order), and consecutive
/// `BINLOG` statements one `BINLOG` (the server applies every event of
/// its text in turn).
pub(crate) fn build_hooked<'p>(plans: impl IntoIterator<Item = (&'p TrxPlan, Hooks)>, tag: Option<u64>) -> Compound {
    #[derive(PartialEq)]
    enum Last {
        Binlog,
        Set,
        Other,
    }
    let mut c = Compound { text: String::with_capacity(4096), params: Vec::new() };
    c.text.push_str("BEGIN NOT ATOMIC\n");
    let mut last = Last::Other;
    let mut stmt = |c: &mut Compound, sql: &[u8]| {
        if is_binlog(sql) {
            let payload = &sql[b"BINLOG '".len()..sql.len() - 1];
            if last == Last::Binlog {
                let p = c.params.last_mut().expect("a BINLOG text");
                p.push(b'\n');
                p.extend_from_slice(payload);
            } else {
                c.text.push_str(&format!("BINLOG @binlog_diff_b{}, @binlog_diff_z;\n", c.params.len()));
                c.params.push(payload.to_vec());
            }
            last = Last::Binlog;
            return;
        }
        // Only batchable (UTF-8) statements get here.
        let s = std::str::from_utf8(sql).expect("eligible statements are UTF-8");
        let is_set = s.starts_with("SET @");
        if is_set && last == Last::Set {
            c.text.truncate(c.text.len() - 2); // ";\n"
            c.text.push_str(", ");
            c.text.push_str(&s[4..]);
        } else {
            c.text.push_str(s);
        }
        c.text.push_str(";\n");
        last = if is_set { Last::Set } else { Last::Other };
    };
    for (i, (p, h)) in plans.into_iter().enumerate() {
        for s in &h.before {
            stmt(&mut c, s.as_bytes());
        }
        for s in &p.pre {
            stmt(&mut c, &s.sql);
        }
        stmt(&mut c, b"START TRANSACTION");
        for s in &p.body {
            stmt(&mut c, &s.sql);
        }
        for s in &h.before_commit {
            stmt(&mut c, s.as_bytes());
        }
        stmt(&mut c, b"COMMIT");
        for s in &h.after_commit {
            stmt(&mut c, s.as_bytes());
        }
        if let Some(tag) = tag {
            stmt(&mut c, format!("SET @binlog_diff_done='{tag}:{}'", i + 1).as_bytes());
        }
    }
    c.text.push_str("END");
    c
}

/// What became of a compound statement.
pub(crate) enum BatchOutcome {
    /// Not sent: the transaction goes the usual way.
    Alone,
    /// Every transaction committed.
    Done,
    /// The server stopped at a statement; the first `committed`
    /// transactions committed, the next one was rolled back and none
    /// after it ran. Running the rest one at a time meets the error again,
    /// with the exact event.
    Stopped { committed: usize, error: mysql::Error },
    /// The connection was lost (or the state after an error could not be
    /// read): the target's GTID state says which committed.
    Lost { error: mysql::Error },
}

/// Runs a compound statement made by [`build`] with `tag`.
pub(crate) fn run(conn: &mut mysql::Conn, c: &Compound, tag: u64) -> BatchOutcome {
    use mysql::prelude::Queryable;
    let (set, values) = c.setter("");
    if let Err(error) = conn.exec_drop(set, values) {
        // Nothing ran.
        return if is_lost(&error) {
            BatchOutcome::Lost { error }
        } else {
            BatchOutcome::Stopped { committed: 0, error }
        };
    }
    let error = match conn.query_drop(&c.text) {
        Ok(()) => return BatchOutcome::Done,
        Err(e) => e,
    };
    if is_lost(&error) {
        return BatchOutcome::Lost { error };
    }
    if let Err(e) = conn.query_drop("ROLLBACK") {
        return BatchOutcome::Lost { error: if is_lost(&e) { e } else { error } };
    }
    match conn.query_first::<Option<String>, _>("SELECT @binlog_diff_done") {
        Ok(v) => {
            let v = v.flatten().unwrap_or_default();
            let committed =
                v.split_once(':').filter(|(t, _)| t.parse() == Ok(tag)).and_then(|(_, n)| n.parse().ok()).unwrap_or(0);
            BatchOutcome::Stopped { committed, error }
        }
        Err(_) => BatchOutcome::Lost { error },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apply::convert::{Src, Stmt};
    use crate::event::EventType;

    fn stmt(sql: &str) -> Stmt {
        let src = Src { file: 0, offset: 4, ty: EventType::QUERY };
        Stmt { sql: sql.as_bytes().to_vec(), src, expect_error: 0, desc: None, infile: None, raw: false }
    }

    fn plan(seq: u64, pre: &[&str], body: &[&str]) -> TrxPlan {
        let src = Src { file: 0, offset: 4, ty: EventType::QUERY };
        TrxPlan {
            id: TrxId::Maria { domain: 0, server: 1, seq },
            pre: pre.iter().map(|s| stmt(s)).collect(),
            kind: Kind::Trx,
            first: src,
            body: body.iter().map(|s| stmt(s)).collect(),
            end: End::Commit(src),
            sets_gtid_next: false,
            events: 3,
            has_rows: true,
            transactional: true,
        }
    }

    #[test]
    fn binlog_texts_become_parameters_and_sets_merge() {
        let a = plan(5, &["BINLOG '\nFDE'", "SET @@session.gtid_seq_no=5"], &["BINLOG '\nT1\nR1'", "BINLOG '\nR2'"]);
        let b = plan(6, &["SET @@session.gtid_seq_no=6"], &["BINLOG '\nR3'"]);
        let hooks = Hooks { before_commit: vec!["SET @@session.sql_notes = 1".into()], ..Hooks::default() };
        let c = build_hooked([(&a, Hooks::default()), (&b, hooks)], Some(7));
        assert_eq!(
            c.text,
            "BEGIN NOT ATOMIC\n\
             BINLOG @binlog_diff_b0, @binlog_diff_z;\n\
             SET @@session.gtid_seq_no=5;\n\
             START TRANSACTION;\n\
             BINLOG @binlog_diff_b1, @binlog_diff_z;\n\
             COMMIT;\n\
             SET @binlog_diff_done='7:1', @@session.gtid_seq_no=6;\n\
             START TRANSACTION;\n\
             BINLOG @binlog_diff_b2, @binlog_diff_z;\n\
             SET @@session.sql_notes = 1;\n\
             COMMIT;\n\
             SET @binlog_diff_done='7:2';\n\
             END"
        );
        let want: Vec<&[u8]> = vec![b"\nFDE", b"\nT1\nR1\n\nR2", b"\nR3"];
        assert_eq!(c.params, want);
        let (set, values) = c.setter(", @x=1");
        assert!(
            set.starts_with("SET @binlog_diff_z='', @binlog_diff_b0=?, ") && set.ends_with("@binlog_diff_b63=?, @x=1")
        );
        assert_eq!(values.len(), 64);
    }

    #[test]
    fn only_whole_row_transactions_with_maria_gtids() {
        let p = plan(1, &[], &["BINLOG '\nR'"]);
        assert!(eligible(&p, Flavor::MariaDb));
        assert!(!eligible(&p, Flavor::MySql));
        let mut q = p.clone();
        q.id = TrxId::Position { server_id: 1, pos: 4 };
        assert!(!eligible(&q, Flavor::MariaDb));
        let mut q = p.clone();
        q.body[0].raw = true;
        assert!(!eligible(&q, Flavor::MariaDb));
        let mut q = p.clone();
        q.end = End::Rollback(q.first);
        assert!(!eligible(&q, Flavor::MariaDb));
        assert!(repeats(&plan(3, &[], &[]).id, &plan(3, &[], &[]).id));
        assert!(!repeats(&plan(3, &[], &[]).id, &plan(4, &[], &[]).id));
    }
}
