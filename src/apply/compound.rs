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
//! each has a MariaDB GTID (the target's GTID state then says which of a
//! batch committed) and is all ours (session settings and `BINLOG`).

use super::convert::{End, Kind, TrxId, TrxPlan};
use super::is_binlog;
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
        (
            TrxId::Maria { domain: d1, server: s1, seq: q1 },
            TrxId::Maria { domain: d2, server: s2, seq: q2 },
        ) => d1 == d2 && s1 == s2 && q1 >= q2,
        _ => false,
    }
}

/// Statement bytes a transaction adds to a compound statement.
pub(crate) fn size(plan: &TrxPlan) -> usize {
    plan.pre.iter().chain(&plan.body).map(|s| s.sql.len() + 2).sum::<usize>() + 64
}

/// The compound statement for `plans`, marked with `tag`.
pub(crate) fn text<'p>(plans: impl IntoIterator<Item = &'p TrxPlan>, tag: u64) -> String {
    let mut t = String::with_capacity(4096);
    t.push_str("BEGIN NOT ATOMIC\n");
    let mut in_binlog = false;
    let stmt = |t: &mut String, sql: &[u8], in_binlog: &mut bool| {
        // Only batchable (UTF-8) statements get here.
        let s = std::str::from_utf8(sql).expect("eligible statements are UTF-8");
        if is_binlog(sql) {
            if *in_binlog {
                // Consecutive BINLOG statements become one: the server
                // applies every event of its text in turn.
                t.truncate(t.len() - 3); // "';\n"
                t.push('\n');
                t.push_str(&s[b"BINLOG '".len()..]);
            } else {
                t.push_str(s);
            }
            t.push_str(";\n");
            *in_binlog = true;
        } else {
            t.push_str(s);
            t.push_str(";\n");
            *in_binlog = false;
        }
    };
    for (i, p) in plans.into_iter().enumerate() {
        for s in &p.pre {
            stmt(&mut t, &s.sql, &mut in_binlog);
        }
        stmt(&mut t, b"START TRANSACTION", &mut in_binlog);
        for s in &p.body {
            stmt(&mut t, &s.sql, &mut in_binlog);
        }
        stmt(&mut t, b"COMMIT", &mut in_binlog);
        stmt(&mut t, format!("SET @binlog_diff_done='{tag}:{}'", i + 1).as_bytes(), &mut in_binlog);
    }
    t.push_str("END");
    t
}

/// What became of a compound statement.
pub(crate) enum Outcome {
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

/// Runs a compound statement made by [`text`] with `tag`.
pub(crate) fn run(conn: &mut mysql::Conn, text: &str, tag: u64) -> Outcome {
    use mysql::prelude::Queryable;
    let error = match conn.query_drop(text) {
        Ok(()) => return Outcome::Done,
        Err(e) => e,
    };
    if super::is_lost(&error) {
        return Outcome::Lost { error };
    }
    if let Err(e) = conn.query_drop("ROLLBACK") {
        return Outcome::Lost { error: if super::is_lost(&e) { e } else { error } };
    }
    match conn.query_first::<Option<String>, _>("SELECT @binlog_diff_done") {
        Ok(v) => {
            let v = v.flatten().unwrap_or_default();
            let committed = v
                .split_once(':')
                .filter(|(t, _)| t.parse() == Ok(tag))
                .and_then(|(_, n)| n.parse().ok())
                .unwrap_or(0);
            Outcome::Stopped { committed, error }
        }
        Err(_) => Outcome::Lost { error },
    }
}
