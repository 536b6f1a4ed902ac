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

/// Checks that every count in a PREVIOUS_GTIDS body fits the bytes that
/// follow it: mysql_common sizes its vectors from the counts, and a huge
/// count aborts the process (an allocation failure is not a panic).
fn counts_fit(body: &[u8]) -> bool {
    let mut b = body;
    let take = |b: &mut &[u8], n: usize| -> bool {
        if b.len() < n {
            return false;
        }
        *b = &b[n..];
        true
    };
    let Some(h) = b.first_chunk::<8>().map(|h| u64::from_le_bytes(*h)) else { return false };
    b = &b[8..];
    let tagged = h >> 56 != 0;
    let n_sids = if tagged { (h >> 8) & ((1 << 48) - 1) } else { h & ((1 << 56) - 1) };
    if n_sids > (b.len() / 24) as u64 {
        return false;
    }
    for _ in 0..n_sids {
        if !take(&mut b, 16) {
            return false;
        }
        if tagged {
            // MySQL serialization varlen uint: trailing ones of the first byte = extra bytes.
            let Some(&first) = b.first() else { return false };
            let n = first.trailing_ones() as usize;
            let (len, skip) = if n == 8 {
                match b.get(1..9) {
                    Some(x) => (u64::from_le_bytes(x.try_into().unwrap()), 9),
                    None => return false,
                }
            } else {
                let mut raw = [0u8; 8];
                match b.get(..n + 1) {
                    Some(x) => raw[..n + 1].copy_from_slice(x),
                    None => return false,
                }
                (u64::from_le_bytes(raw) >> (n + 1), n + 1)
            };
            if !take(&mut b, skip) || len > b.len() as u64 || !take(&mut b, len as usize) {
                return false;
            }
        }
        let Some(k) = b.first_chunk::<8>().map(|k| u64::from_le_bytes(*k)) else { return false };
        b = &b[8..];
        if k > (b.len() / 16) as u64 || !take(&mut b, k as usize * 16) {
            return false;
        }
    }
    true
}

/// A PREVIOUS_GTIDS set as text, tagged or not: `uuid[:tag]:a-b:c,...`.
///
/// # Errors
/// A body mysql_common cannot decode.
pub fn previous_gtids_text(ev: &RawEvent<'_>) -> Result<String, ParseError> {
    let body = ev.body();
    if !counts_fit(body) {
        return Err(ParseError::new(ParseErrorKind::Truncated("GTID set"), ev.offset(), Some(ev.event_type())));
    }
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
                // mysql_common takes intervals as stored: an empty or
                // reversed one (end <= start) is not a GTID set.
                let (a, b) = (iv.start(), iv.end());
                if b <= a {
                    return None;
                }
                if b - a == 1 {
                    let _ = write!(s, ":{a}");
                } else {
                    let _ = write!(s, ":{a}-{}", b - 1);
                }
            }
        }
        Some(s)
    })
}
