//! MySQL 8.4+ tagged GTIDs (GTID_TAGGED_LOG_EVENT, 42) and the tagged
//! PREVIOUS_GTIDS encoding use MySQL's varint serialisation library; they
//! are decoded by mysql_common, fed only the length-checked body and
//! guarded against panics (it panics on some malformed input).

use std::fmt::Write as _;
use std::panic::{AssertUnwindSafe, catch_unwind};

use mysql_common::binlog::BinlogCtx;
use mysql_common::binlog::consts::BinlogVersion;
use mysql_common::binlog::events::{FormatDescriptionEvent, GtidEvent, PreviousGtidsEvent};
use mysql_common::io::ParseBuf;
use mysql_common::proto::MyDeserialize;

use super::error::{ParseError, ParseErrorKind};
use super::iter::RawEvent;
use super::views::format_uuid;

fn guarded<T>(ev: &RawEvent<'_>, what: &'static str, f: impl FnOnce() -> Option<T>) -> Result<T, ParseError> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Some(v)) => Ok(v),
        _ => Err(ParseError::new(ParseErrorKind::BadValue(what), ev.offset(), Some(ev.event_type()))),
    }
}

/// `uuid[:tag]:gno` of a GTID, ANONYMOUS_GTID or GTID_TAGGED event.
///
/// # Errors
/// A body mysql_common cannot decode.
pub fn gtid_text(ev: &RawEvent<'_>) -> Result<String, ParseError> {
    let body = ev.body();
    guarded(ev, "GTID event", || {
        let fde = FormatDescriptionEvent::new(BinlogVersion::Version4);
        let ctx = BinlogCtx::new(19 + body.len(), &fde, ev.event_type().0);
        let g = GtidEvent::deserialize(ctx, &mut ParseBuf(body)).ok()?;
        let mut s = format_uuid(&g.sid());
        if let Some(t) = g.tag() {
            let _ = write!(s, ":{t}");
        }
        let _ = write!(s, ":{}", g.gno());
        Some(s)
    })
}

/// A PREVIOUS_GTIDS set as text, tagged or not: `uuid[:tag]:a-b:c,...`.
///
/// # Errors
/// A body mysql_common cannot decode.
pub fn previous_gtids_text(ev: &RawEvent<'_>) -> Result<String, ParseError> {
    let body = ev.body();
    guarded(ev, "PREVIOUS_GTIDS event", || {
        let fde = FormatDescriptionEvent::new(BinlogVersion::Version4);
        let ctx = BinlogCtx::new(19 + body.len(), &fde, ev.event_type().0);
        let p = PreviousGtidsEvent::deserialize(ctx, &mut ParseBuf(body)).ok()?;
        let mut s = String::new();
        for (i, sid) in p.sids().iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            s.push_str(&format_uuid(&sid.uuid()));
            if let Some(t) = sid.tag() {
                let _ = write!(s, ":{t}");
            }
            for iv in sid.intervals() {
                if iv.end() == iv.start() + 1 {
                    let _ = write!(s, ":{}", iv.start());
                } else {
                    let _ = write!(s, ":{}-{}", iv.start(), iv.end() - 1);
                }
            }
        }
        Some(s)
    })
}
