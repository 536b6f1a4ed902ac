//! A transaction of the input as read: its events ([`Group`], each with the
//! format description that governs it) and what it is: its identity
//! ([`TrxId`]: GTID or master position) and its shape ([`Kind`]).
//!
//! Both the stream (to tell a re-fetched copy from another transaction) and
//! the converter (to build a plan) ask this; it sits below both so that
//! neither imports the other.

use std::fmt;
use std::sync::Arc;

use crate::event::views::{MariaGtid, MysqlGtid, Query, QueryKind, XaPrepare, format_uuid, maria_gtid_flags};
use crate::event::{Class, EventType, Format, RawEvent};

use super::session::{ConvError, hex, perr};

/// The FDE in effect: its bytes (for the `BINLOG` statement) and what it says.
pub(crate) struct Fde<'a> {
    /// The whole FDE event as stored.
    pub bytes: &'a [u8],
    /// Its decoded format.
    pub fmt: Format,
    /// File index and offset of the FDE.
    pub file: usize,
}

/// One event of a group, with the format that governs it.
#[derive(Clone)]
pub(crate) struct GEvent<'a> {
    /// Index of its file in the stream.
    pub file: usize,
    /// The event.
    pub ev: RawEvent<'a>,
    /// The FDE in effect.
    pub fde: Arc<Fde<'a>>,
    /// Its grouping class.
    pub class: Class,
}

/// A transaction (event group), in order, without control events.
#[derive(Clone, Default)]
pub(crate) struct Group<'a> {
    pub events: Vec<GEvent<'a>>,
}

impl<'a> Group<'a> {
    /// File index and offset of the first event.
    pub fn start(&self) -> (usize, u64) {
        self.events.first().map(|e| (e.file, e.ev.offset())).unwrap_or((0, 0))
    }
    /// File index and end offset of the last event: where the next group starts.
    pub fn end(&self) -> (usize, u64) {
        self.events.last().map(|e| (e.file, e.ev.end_offset())).unwrap_or((0, 0))
    }
    /// Bytes of the group's events.
    pub fn bytes(&self) -> u64 {
        self.events.iter().map(|e| e.ev.size() as u64).sum()
    }

    /// The identity of a group for a message, even when [`identify`] fails
    /// on it (its conversion failed): the GTID of its first event, else its
    /// master position.
    pub fn id_text(&self) -> String {
        let first = &self.events[0];
        match first.ev.event_type() {
            EventType::MARIA_GTID => MariaGtid::parse(&first.ev, &first.fde.fmt)
                .map(|m| format!("GTID {}-{}-{}", m.domain_id, first.ev.server_id(), m.seq_no))
                .unwrap_or_else(|_| "?".into()),
            EventType::GTID => MysqlGtid::parse(&first.ev, &first.fde.fmt)
                .map(|m| format!("GTID {}:{}", format_uuid(&m.sid), m.gno))
                .unwrap_or_else(|_| "?".into()),
            _ => {
                let lp = first.ev.log_pos() as u64;
                let sz = first.ev.size() as u64;
                format!("master position {} (server_id {})", lp.saturating_sub(sz), first.ev.server_id())
            }
        }
    }
}

/// An XA transaction id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Xid {
    /// formatID.
    pub format_id: i32,
    /// Global transaction id.
    pub gtrid: Vec<u8>,
    /// Branch qualifier.
    pub bqual: Vec<u8>,
}

impl fmt::Display for Xid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "X'{}',X'{}',{}", hex(&self.gtrid), hex(&self.bqual), self.format_id)
    }
}

/// How a group runs on the target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Statements as they are (DDL, standalone groups): each is atomic on its own.
    Plain,
    /// `BEGIN` … end.
    Trx,
    /// `XA START xid` … `XA END xid` … end; with `None` the XA statements
    /// come verbatim from the events.
    Xa(Option<Xid>),
}

/// A transaction's identity, for reports, errors and skipping.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TrxId {
    /// MariaDB GTID.
    Maria {
        /// Domain id.
        domain: u32,
        /// Server id.
        server: u32,
        /// Sequence number.
        seq: u64,
    },
    /// MySQL GTID.
    Mysql {
        /// Source UUID.
        sid: [u8; 16],
        /// Transaction number.
        gno: i64,
    },
    /// MySQL 8.4 tagged GTID.
    MysqlTagged {
        /// Source UUID (lower case).
        uuid: String,
        /// Tag.
        tag: String,
        /// Transaction number.
        gno: i64,
    },
    /// No GTID: the master coordinate of the group's first event.
    Position {
        /// Originating server.
        server_id: u32,
        /// Start offset in the master's binlog (0 when unknown).
        pos: u64,
    },
}

impl fmt::Display for TrxId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrxId::Maria { domain, server, seq } => write!(f, "GTID {domain}-{server}-{seq}"),
            TrxId::Mysql { sid, gno } => write!(f, "GTID {}:{gno}", format_uuid(sid)),
            TrxId::MysqlTagged { uuid, tag, gno } => write!(f, "GTID {uuid}:{tag}:{gno}"),
            TrxId::Position { server_id, pos } => write!(f, "master position {pos} (server_id {server_id})"),
        }
    }
}

impl TrxId {
    /// The GTID text (`0-1-5` or `uuid:5`), if there is one.
    pub fn gtid(&self) -> Option<String> {
        match self {
            TrxId::Maria { domain, server, seq } => Some(format!("{domain}-{server}-{seq}")),
            TrxId::Mysql { sid, gno } => Some(format!("{}:{gno}", format_uuid(sid))),
            TrxId::MysqlTagged { uuid, tag, gno } => Some(format!("{uuid}:{tag}:{gno}")),
            TrxId::Position { .. } => None,
        }
    }
}

/// GTID and shape of a group.
pub(crate) fn identify(group: &Group<'_>) -> Result<(TrxId, Kind), ConvError> {
    let first = &group.events[0];
    let fmt = &first.fde.fmt;
    let ev = &first.ev;
    let pos_id = || {
        let lp = ev.log_pos() as u64;
        let sz = ev.size() as u64;
        TrxId::Position { server_id: ev.server_id(), pos: lp.saturating_sub(sz) }
    };
    let prepare_xid = || -> Result<Option<Xid>, ConvError> {
        for e in &group.events {
            if e.ev.event_type() == EventType::XA_PREPARE {
                let x = XaPrepare::parse(&e.ev).map_err(perr)?;
                return Ok(Some(Xid {
                    format_id: x.format_id as i32,
                    gtrid: x.gtrid.to_vec(),
                    bqual: x.bqual.to_vec(),
                }));
            }
        }
        Ok(None)
    };
    // The first statement-level event after a GTID decides the shape.
    let after = |i: usize| -> Result<Kind, ConvError> {
        for e in &group.events[i..] {
            let t = e.ev.event_type();
            if t.is_query_like() {
                let q = Query::parse(&e.ev, &e.fde.fmt).map_err(perr)?;
                return Ok(match q.kind() {
                    QueryKind::Begin => Kind::Trx,
                    QueryKind::XaStart => Kind::Xa(prepare_xid()?),
                    _ => Kind::Plain,
                });
            }
            if t == EventType::TRANSACTION_PAYLOAD {
                return Ok(Kind::Trx);
            }
            if matches!(t, EventType::MARIA_ANNOTATE_ROWS | EventType::ROWS_QUERY) {
                continue;
            }
            return Ok(Kind::Plain);
        }
        Ok(Kind::Plain)
    };
    match ev.event_type() {
        EventType::MARIA_GTID => {
            let g = MariaGtid::parse(ev, fmt).map_err(perr)?;
            let id = TrxId::Maria { domain: g.domain_id, server: ev.server_id(), seq: g.seq_no };
            let kind = if g.flags & maria_gtid_flags::PREPARED_XA != 0 {
                let x = prepare_xid()?.or(maria_gtid_xid(ev, &g));
                if x.is_none() {
                    return Err(ConvError("XA group without an XID".into()));
                }
                Kind::Xa(x)
            } else if g.is_standalone() {
                Kind::Plain
            } else {
                Kind::Trx
            };
            Ok((id, kind))
        }
        EventType::GTID => {
            let g = MysqlGtid::parse(ev, fmt).map_err(perr)?;
            Ok((TrxId::Mysql { sid: g.sid, gno: g.gno }, after(1)?))
        }
        EventType::GTID_TAGGED => Ok((tagged_id(ev)?, after(1)?)),
        EventType::ANONYMOUS_GTID => Ok((pos_id(), after(1)?)),
        _ => Ok((pos_id(), after(0)?)),
    }
}

/// The identity of a MySQL 8.4 GTID_TAGGED event.
pub(crate) fn tagged_id(ev: &RawEvent<'_>) -> Result<TrxId, ConvError> {
    let text = crate::event::tagged::gtid_text(ev).map_err(perr)?;
    let bad = || ConvError(format!("tagged GTID {text:?}"));
    let (head, gno) = text.rsplit_once(':').ok_or_else(bad)?;
    let gno: i64 = gno.parse().map_err(|_| bad())?;
    let (uuid, tag) = head.split_once(':').unwrap_or((head, ""));
    Ok(TrxId::MysqlTagged { uuid: uuid.to_ascii_lowercase(), tag: tag.to_ascii_lowercase(), gno })
}

/// The XID a MariaDB GTID event carries with `FL_PREPARED_XA`/`FL_COMPLETED_XA`.
fn maria_gtid_xid(ev: &RawEvent<'_>, g: &MariaGtid) -> Option<Xid> {
    let b = ev.body();
    let mut p = 13 + if g.commit_id.is_some() { 8 } else { 0 };
    let fid = i32::from_le_bytes(b.get(p..p + 4)?.try_into().ok()?);
    p += 4;
    let gl = *b.get(p)? as usize;
    let bl = *b.get(p + 1)? as usize;
    p += 2;
    let gtrid = b.get(p..p + gl)?.to_vec();
    let bqual = b.get(p + gl..p + gl + bl)?.to_vec();
    Some(Xid { format_id: fid, gtrid, bqual })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xid_text() {
        let x = Xid { format_id: 1, gtrid: b"x1".to_vec(), bqual: vec![] };
        assert_eq!(x.to_string(), "X'7831',X'',1");
    }
}
