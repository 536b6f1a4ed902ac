//! Transaction boundaries: which events open, continue and close an event
//! group. A small state machine fed one [`Class`] at a time; the caller keeps
//! positions, so the same grouper serves one file, a relay set spanning files,
//! or the inner events of a payload.
//!
//! Grammar (MySQL `trx_boundary_parser.h`, MariaDB `Gtid_log_event`):
//! - DDL: `[GTID] [pre-statement]* Query`
//! - DML: `[GTID] Query(BEGIN | XA START) … (Xid | Query(COMMIT|ROLLBACK) | XA_PREPARE)`
//! - compressed: `GTID Transaction_payload`
//! - MariaDB: `GTID(162)` replaces BEGIN; with `FL_STANDALONE` the group is one statement.
//! - control events (FDE, ROTATE, STOP, PREVIOUS_GTIDS, GTID_LIST…) belong to
//!   no group and may appear inside one (a relay file can start mid-transaction).

use super::error::ParseError;
use super::fde::Format;
use super::iter::RawEvent;
use super::types::EventType;
use super::views::{MariaGtid, Query, QueryKind, RowsHead, maria_gtid_flags};

/// What the grouper needs to know about one event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// Belongs to no transaction.
    Control,
    /// MySQL GTID / ANONYMOUS_GTID.
    MysqlGtid,
    /// MariaDB GTID with its flags.
    MariaGtid(u8),
    /// A query-like event and its boundary meaning.
    Query(QueryKind),
    /// XID: commit.
    Xid,
    /// XA_PREPARE_LOG_EVENT: end of the prepared part.
    XaPrepare,
    /// TRANSACTION_PAYLOAD: a whole transaction body.
    Payload,
    /// Rows event; `true` when it ends its statement.
    Rows(bool),
    /// Part of a statement that a later event ends (TABLE_MAP, INTVAR, RAND,
    /// USER_VAR, ANNOTATE_ROWS, ROWS_QUERY, BEGIN_LOAD_QUERY, APPEND_BLOCK…).
    Part,
}

/// Classifies an event for grouping.
///
/// # Errors
/// When a body the classification must read (QUERY, MariaDB GTID, rows head) is malformed.
pub fn classify(ev: &RawEvent<'_>, fmt: &Format) -> Result<Class, ParseError> {
    let t = ev.event_type();
    Ok(match t {
        EventType::FORMAT_DESCRIPTION
        | EventType::ROTATE
        | EventType::STOP
        | EventType::PREVIOUS_GTIDS
        | EventType::MARIA_GTID_LIST
        | EventType::MARIA_BINLOG_CHECKPOINT
        | EventType::MARIA_START_ENCRYPTION
        | EventType::HEARTBEAT
        | EventType::HEARTBEAT_V2
        | EventType::INCIDENT
        | EventType::START_V3
        | EventType::SLAVE
        | EventType::IGNORABLE => Class::Control,
        EventType::GTID | EventType::ANONYMOUS_GTID | EventType::GTID_TAGGED => Class::MysqlGtid,
        EventType::MARIA_GTID => Class::MariaGtid(MariaGtid::parse(ev, fmt)?.flags),
        EventType::QUERY | EventType::EXECUTE_LOAD_QUERY | EventType::MARIA_QUERY_COMPRESSED => {
            Class::Query(Query::parse(ev, fmt)?.kind())
        }
        // Old LOAD DATA family: statement-ending events.
        EventType::LOAD | EventType::NEW_LOAD | EventType::EXEC_LOAD | EventType::DELETE_FILE => {
            Class::Query(QueryKind::Other)
        }
        EventType::XID => Class::Xid,
        EventType::XA_PREPARE => Class::XaPrepare,
        EventType::TRANSACTION_PAYLOAD => Class::Payload,
        t if t.is_rows() => Class::Rows(RowsHead::parse(ev, fmt)?.flags & RowsHead::STMT_END != 0),
        t if !t.is_known() => Class::Control, // ignorable unknown (the walk rejects the rest)
        _ => Class::Part,
    })
}

/// Where an event stands relative to transactions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Boundary {
    /// Not part of any transaction.
    Control,
    /// Opens a group that continues.
    Open,
    /// Inside the open group.
    Continue,
    /// Closes the open group (its last event).
    Close,
    /// A group of this one event.
    OpenClose,
}

impl Boundary {
    /// The event starts a group.
    pub fn opens(self) -> bool {
        matches!(self, Boundary::Open | Boundary::OpenClose)
    }
    /// The event ends a group.
    pub fn closes(self) -> bool {
        matches!(self, Boundary::Close | Boundary::OpenClose)
    }
}

/// The grouper's verdict for one event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Role {
    /// Position relative to groups.
    pub boundary: Boundary,
    /// A group was open and never closed, and this event starts a new one:
    /// the earlier group is abandoned (a master that restarted, a relay log
    /// re-fetching a transaction).
    pub abandons: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Between groups.
    Idle,
    /// Started mid-stream: events before the first clear boundary belong to
    /// a group whose start we did not see.
    Unknown,
    /// After a MySQL GTID, before BEGIN or the DDL.
    AfterGtid,
    /// After a standalone MariaDB GTID: the next statement closes it.
    Standalone,
    /// Inside BEGIN … COMMIT (or a non-standalone MariaDB GTID group).
    InTrx {
        /// Opened by a MariaDB GTID and nothing after it yet (a BEGIN here is
        /// part of the same group).
        fresh_maria: bool,
    },
    /// A statement without BEGIN whose parts came first (pre-statement events).
    Implicit,
}

/// Transaction grouper. Feed every event in order with [`TrxGrouper::feed`].
#[derive(Clone, Debug)]
pub struct TrxGrouper {
    state: State,
}

impl Default for TrxGrouper {
    fn default() -> Self {
        Self::new()
    }
}

impl TrxGrouper {
    /// A grouper for a stream that starts between groups (a binlog, a diff).
    pub fn new() -> Self {
        TrxGrouper { state: State::Idle }
    }

    /// A grouper for a stream that may start inside a group (a relay file
    /// other than the first).
    pub fn mid_stream() -> Self {
        TrxGrouper { state: State::Unknown }
    }

    /// True when a group is open (a stream ending now ends inside a transaction).
    pub fn in_group(&self) -> bool {
        !matches!(self.state, State::Idle)
    }

    /// Advances over one event.
    pub fn feed(&mut self, c: Class) -> Role {
        use Boundary::*;
        let open = !matches!(self.state, State::Idle | State::Unknown);
        let (boundary, next) = match (self.state, c) {
            (s, Class::Control) => (Control, s),

            // Group starters: abandon whatever was open.
            (_, Class::MysqlGtid) => (Open, State::AfterGtid),
            (_, Class::MariaGtid(f)) if f & maria_gtid_flags::STANDALONE != 0 => (Open, State::Standalone),
            (_, Class::MariaGtid(_)) => (Open, State::InTrx { fresh_maria: true }),
            (State::InTrx { fresh_maria: true }, Class::Query(QueryKind::Begin | QueryKind::XaStart)) => {
                (Continue, State::InTrx { fresh_maria: false })
            }
            (State::AfterGtid, Class::Query(QueryKind::Begin | QueryKind::XaStart)) => {
                (Continue, State::InTrx { fresh_maria: false })
            }
            (State::Implicit, Class::Query(QueryKind::Begin | QueryKind::XaStart)) => {
                (Continue, State::InTrx { fresh_maria: false })
            }
            (_, Class::Query(QueryKind::Begin | QueryKind::XaStart)) => (Open, State::InTrx { fresh_maria: false }),

            // Unknown start: continue until a closing event.
            (State::Unknown, Class::Xid | Class::XaPrepare) => (Close, State::Idle),
            (State::Unknown, Class::Query(QueryKind::Commit | QueryKind::Rollback | QueryKind::XaPrepare)) => {
                (Close, State::Idle)
            }
            (State::Unknown, _) => (Continue, State::Unknown),

            // Idle: one-event groups, or a statement whose parts come first.
            (State::Idle, Class::Query(_) | Class::Xid | Class::XaPrepare | Class::Payload | Class::Rows(true)) => {
                (OpenClose, State::Idle)
            }
            (State::Idle, Class::Part | Class::Rows(false)) => (Open, State::Implicit),

            // Inside a transaction.
            (State::InTrx { .. }, Class::Xid | Class::XaPrepare | Class::Payload) => (Close, State::Idle),
            (State::InTrx { .. }, Class::Query(QueryKind::Commit | QueryKind::Rollback | QueryKind::XaPrepare)) => {
                (Close, State::Idle)
            }
            // MariaDB XA COMMIT/ROLLBACK of a prepared XA arrives as its own group.
            (State::InTrx { fresh_maria: true }, Class::Query(QueryKind::XaCommit | QueryKind::XaRollback)) => {
                (Close, State::Idle)
            }
            (State::InTrx { .. }, _) => (Continue, State::InTrx { fresh_maria: false }),

            // After a MySQL GTID: BEGIN (above), a DDL, or a payload.
            (State::AfterGtid, Class::Query(_) | Class::Payload | Class::Xid | Class::XaPrepare) => {
                (Close, State::Idle)
            }
            (State::AfterGtid, _) => (Continue, State::AfterGtid),

            // Standalone MariaDB group: its statement closes it.
            (State::Standalone, Class::Query(_) | Class::Xid | Class::XaPrepare | Class::Rows(true)) => {
                (Close, State::Idle)
            }
            (State::Standalone, _) => (Continue, State::Standalone),

            // Statement without BEGIN.
            (State::Implicit, Class::Query(_) | Class::Rows(true) | Class::Xid | Class::XaPrepare | Class::Payload) => {
                (Close, State::Idle)
            }
            (State::Implicit, _) => (Continue, State::Implicit),
        };
        let abandons = open && boundary.opens();
        self.state = next;
        Role { boundary, abandons }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Boundary::*;
    use Class as C;
    use QueryKind as Q;

    fn run(g: &mut TrxGrouper, cs: &[Class]) -> Vec<Boundary> {
        cs.iter().map(|&c| g.feed(c).boundary).collect()
    }

    #[test]
    fn statement_trx_and_ddl() {
        let mut g = TrxGrouper::new();
        let b = run(
            &mut g,
            &[
                C::Control,
                C::Query(Q::Begin),
                C::Part,
                C::Query(Q::Other),
                C::Xid,
                C::Query(Q::Other),
                C::Part,
                C::Query(Q::Other),
                C::Query(Q::Begin),
                C::Query(Q::Savepoint),
                C::Query(Q::Rollback),
            ],
        );
        assert_eq!(b, [Control, Open, Continue, Continue, Close, OpenClose, Open, Close, Open, Continue, Close]);
        assert!(!g.in_group());
    }

    #[test]
    fn row_trx_with_gtid_and_payload() {
        let mut g = TrxGrouper::new();
        let b = run(
            &mut g,
            &[
                C::MysqlGtid,
                C::Query(Q::Begin),
                C::Part,
                C::Rows(false),
                C::Rows(true),
                C::Xid,
                C::MysqlGtid,
                C::Query(Q::Other),
                C::MysqlGtid,
                C::Payload,
            ],
        );
        assert_eq!(b, [Open, Continue, Continue, Continue, Continue, Close, Open, Close, Open, Close]);
    }

    #[test]
    fn mariadb_groups() {
        let mut g = TrxGrouper::new();
        let st = maria_gtid_flags::STANDALONE;
        let b = run(
            &mut g,
            &[
                C::MariaGtid(maria_gtid_flags::TRANSACTIONAL),
                C::Part,
                C::Part,
                C::Rows(true),
                C::Xid,
                C::MariaGtid(st | maria_gtid_flags::DDL),
                C::Query(Q::Other),
                C::MariaGtid(0),
                C::Query(Q::Begin),
                C::Query(Q::Other),
                C::Query(Q::Commit),
            ],
        );
        assert_eq!(b, [Open, Continue, Continue, Continue, Close, Open, Close, Open, Continue, Continue, Close]);
    }

    #[test]
    fn xa_prepare_then_commit() {
        let mut g = TrxGrouper::new();
        let b = run(
            &mut g,
            &[
                C::MysqlGtid,
                C::Query(Q::XaStart),
                C::Rows(true),
                C::Query(Q::XaEnd),
                C::XaPrepare,
                C::MysqlGtid,
                C::Query(Q::XaCommit),
                C::MariaGtid(maria_gtid_flags::COMPLETED_XA),
                C::Query(Q::XaCommit),
            ],
        );
        assert_eq!(b, [Open, Continue, Continue, Continue, Close, Open, Close, Open, Close]);
    }

    #[test]
    fn control_inside_group_and_abandon() {
        let mut g = TrxGrouper::new();
        assert_eq!(g.feed(C::MysqlGtid).boundary, Open);
        assert_eq!(g.feed(C::Query(Q::Begin)).boundary, Continue);
        // A relay file switch in the middle.
        assert_eq!(g.feed(C::Control).boundary, Control);
        assert_eq!(g.feed(C::Rows(true)).boundary, Continue);
        assert!(g.in_group());
        let r = g.feed(C::MysqlGtid);
        assert_eq!(r, Role { boundary: Open, abandons: true });
    }

    #[test]
    fn mid_stream_start() {
        let mut g = TrxGrouper::mid_stream();
        let b = run(&mut g, &[C::Part, C::Rows(true), C::Xid, C::Query(Q::Begin), C::Xid]);
        assert_eq!(b, [Continue, Continue, Close, Open, Close]);
    }
}
