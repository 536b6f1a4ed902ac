//! What the target already has: whether its GTID state can say so at all
//! ([`AppliedCheck`], decided once per run), whether it has a given
//! transaction, what a commit adds to it, and whether the target wrote a
//! transaction we committed to its binlog (a MariaDB target logging rows
//! writes nothing, so no GTID, for a statement that changed no row).
//!
//! The serial run and the parallel dispatcher both skip (or refuse) by it;
//! the end check verifies by it.

use std::path::PathBuf;

use mysql::prelude::Queryable;

use crate::event::Flavor;
use crate::event::views::format_uuid;

use super::exec::is_lost;
use super::group::{Group, TrxId};
use super::guard::SessionGuard;
use super::report::{Failure, TrxOutcome};
use super::target::{self, Applied};

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
    pub(crate) fn of(log_bin: bool, session_log_bin: bool, without_gtid: u64) -> AppliedCheck {
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
    pub(crate) fn why(self) -> &'static str {
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

/// Whether the target already has this transaction.
pub(crate) fn already_applied(applied: &Applied, id: &TrxId) -> Option<String> {
    match (applied, id) {
        (Applied::Maria(st), TrxId::Maria { domain, server, seq }) => st
            .seq(*domain, *server)
            .filter(|have| have >= seq)
            .map(|have| format!("the target's GTID state has {domain}-{server}-{have}")),
        (Applied::Mysql(set), TrxId::Mysql { sid, gno }) => {
            let u = format_uuid(sid);
            set.contains(&u, *gno).then(|| format!("the target's gtid_executed has {u}:{gno}"))
        }
        (Applied::Mysql(set), TrxId::MysqlTagged { uuid, tag, gno }) => {
            set.contains_tagged(uuid, tag, *gno).then(|| format!("the target's gtid_executed has {uuid}:{tag}:{gno}"))
        }
        _ => None,
    }
}

pub(crate) fn record_applied(applied: &mut Applied, id: &TrxId) {
    match (applied, id) {
        (Applied::Maria(st), TrxId::Maria { domain, server, seq }) => {
            let e = st.map.entry((*domain, *server)).or_insert(*seq);
            *e = (*e).max(*seq);
        }
        (Applied::Mysql(set), TrxId::Mysql { sid, gno }) => {
            let u = format_uuid(sid);
            set.map.entry((u, String::new())).or_default().push((*gno, *gno));
        }
        (Applied::Mysql(set), TrxId::MysqlTagged { uuid, tag, gno }) => {
            set.map.entry((uuid.clone(), tag.clone())).or_default().push((*gno, *gno));
        }
        _ => {}
    }
}

/// The GTID state key of a transaction: `(domain, server)` or `(0, source)`.
pub(crate) fn key_of(id: &TrxId) -> Option<(u32, String)> {
    match id {
        TrxId::Maria { domain, server, .. } => Some((*domain, server.to_string())),
        TrxId::Mysql { sid, .. } => Some((0, format_uuid(sid))),
        TrxId::MysqlTagged { uuid, tag, .. } => Some((0, format!("{uuid}:{tag}"))),
        TrxId::Position { .. } => None,
    }
}

/// Whether the target wrote a committed transaction without rows to its
/// binlog (MariaDB's `@@last_gtid`: what this session last wrote there).
/// When that cannot be told, it is taken as written; a lost connection
/// marks the guard dead.
pub(crate) fn logged_by(guard: &mut SessionGuard<'_>, id: &TrxId, flavor: Flavor, label: &str) -> bool {
    let g = id.gtid().unwrap_or_default();
    match guard.conn().query_first::<Option<String>, _>("SELECT @@session.last_gtid") {
        Ok(v) => v.flatten().as_deref() == Some(g.as_str()),
        Err(e) if is_lost(&e) => {
            guard.alive = false;
            true
        }
        Err(_) => match target::read_applied(guard.conn(), flavor, label) {
            Ok(a @ Applied::Maria(_)) => already_applied(&a, id).is_some(),
            _ => true,
        },
    }
}

/// The failure of a transaction the target already has, in a run that may
/// not skip it (neither `resume` nor `skip_applied`).
pub(crate) fn applied_twice(files: &[PathBuf], g: &Group<'_>, id: &TrxId, why: &str) -> Failure {
    let first = &g.events[0];
    Failure {
        file: files[first.file].clone(),
        offset: first.ev.offset(),
        event_type: first.ev.event_type(),
        trx: id.to_string(),
        server_error: None,
        message: format!("already applied on the target ({why}); use --resume to skip applied transactions"),
        outcome: TrxOutcome::NotStarted,
        refused: true,
    }
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
}
