//! The end rule: whether an event running past the end of the data is a
//! torn end or damage. [`EndEvidence`] gathers, event by event, what the
//! file says about its `log_pos` values; [`EventIter::judge_torn`] decides
//! (the rule is in the module doc of [`super`]).

use super::walk::{EventIter, Mode};
use crate::event::error::{ParseError, ParseErrorKind};
use crate::event::header::HEADER_LEN;
use crate::event::types::{EventType, flags};

/// Whether a file's events sit at the offsets their `log_pos` give.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum OwnCoords {
    /// No event (after an FDE or ROTATE) with a `log_pos` yet.
    Unknown,
    /// They do: a binlog.
    Yes,
    /// They do not (a diff, a saved tail: master coordinates).
    No,
}

/// An event whose `log_pos` says it ends elsewhere than it does, in a place
/// where it must not: damage that no later torn end can explain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Misplaced {
    at: u64,
    ty: EventType,
    event_size: u32,
    log_pos: u32,
}

/// The evidence a walk gathers to tell a torn end from a damaged length.
#[derive(Clone, Copy, Debug)]
pub(super) struct EndEvidence {
    /// The file's first FDE carries RELAY_LOG: `log_pos` is the master's.
    relay: bool,
    /// The server id of the file's first FDE (the file's writer).
    own_id: Option<u32>,
    /// Not for relay logs.
    own: OwnCoords,
    /// The first misplaced event of a file that is not a relay log: its own
    /// FDE or the GTID state after it, or any event after others sat where
    /// their `log_pos` say (a binlog).
    misplaced: Option<Misplaced>,
    /// The previous event's master coordinate (`log_pos`) and whether it
    /// chained onto the one before it (an FDE chains onto the start of its
    /// master file, 4).
    prev: Option<(u64, bool)>,
    /// The last event was the file's first FDE.
    after_first_fde: bool,
}

impl EndEvidence {
    pub(super) const NONE: EndEvidence = EndEvidence {
        relay: false,
        own_id: None,
        own: OwnCoords::Unknown,
        misplaced: None,
        prev: None,
        after_first_fde: false,
    };

    /// Takes in a whole event: header `hb`, ending at `end`.
    #[inline]
    pub(super) fn note(&mut self, hb: &[u8; HEADER_LEN], size: usize, end: u64) {
        let ty = EventType(hb[4]);
        let lp = u32::from_le_bytes([hb[13], hb[14], hb[15], hb[16]]);
        let sid = u32::from_le_bytes([hb[5], hb[6], hb[7], hb[8]]);
        let misplaced = lp != 0 && u64::from(lp) != end;
        let here = || Misplaced { at: end - size as u64, ty, event_size: size as u32, log_pos: lp };
        let after_first_fde = std::mem::take(&mut self.after_first_fde);
        if self.own_id.is_none() && ty == EventType::FORMAT_DESCRIPTION {
            self.own_id = Some(sid);
            self.relay = u16::from_le_bytes([hb[17], hb[18]]) & flags::RELAY_LOG != 0;
            self.after_first_fde = true;
        }
        // The file's own FDE, and the per-file GTID state a server writes
        // right after it (a diff leaves it out), are in the file's own
        // coordinates.
        let own_head = ty == EventType::FORMAT_DESCRIPTION && self.after_first_fde
            || after_first_fde && matches!(ty, EventType::MARIA_GTID_LIST | EventType::PREVIOUS_GTIDS);
        if own_head && misplaced && !self.relay && self.misplaced.is_none() {
            self.misplaced = Some(here());
        }
        if self.relay && self.own_id == Some(sid) {
            self.prev = None; // the replica's own events: relay-log offsets
            return;
        }
        if !self.relay {
            self.own = match (self.own, ty) {
                (_, EventType::FORMAT_DESCRIPTION | EventType::ROTATE) => OwnCoords::Unknown,
                _ if lp == 0 => self.own,
                (OwnCoords::Unknown | OwnCoords::Yes, _) if !misplaced => OwnCoords::Yes,
                (OwnCoords::Yes, _) => {
                    if self.misplaced.is_none() {
                        self.misplaced = Some(here());
                    }
                    OwnCoords::No
                }
                _ => OwnCoords::No,
            };
        }
        self.prev = if lp == 0 || ty == EventType::ROTATE {
            None
        } else {
            let lp = u64::from(lp);
            let from = if ty == EventType::FORMAT_DESCRIPTION { Some(4) } else { self.prev.map(|(p, _)| p) };
            Some((lp, from.is_some_and(|p| lp == p + size as u64)))
        };
    }
}

impl EventIter<'_> {
    /// The event at `at` (header `hb`, `event_size` `size`) runs past the
    /// end of the data: `Ok` when that is a torn end, the damage otherwise
    /// (the rule: the module doc of `event::iter`).
    #[cold]
    pub(super) fn judge_torn(&self, at64: u64, hb: &[u8; HEADER_LEN], size: usize) -> Result<(), ParseError> {
        if self.mode == Mode::Inner {
            return Ok(()); // the payload's own length is checked by its readers
        }
        let ty = EventType(hb[4]);
        let err = |kind| ParseError::new(kind, at64, Some(ty));
        let flags = u16::from_le_bytes([hb[17], hb[18]]);
        match self.fmt {
            None if ty != EventType::FORMAT_DESCRIPTION => {
                let rest = &self.data[usize::try_from(at64 - self.base).unwrap_or(usize::MAX).min(self.data.len())..];
                return Err(err(self.first_event_error(rest)));
            }
            Some(_) if !ty.is_known() && flags & flags::IGNORABLE == 0 => {
                return Err(err(ParseErrorKind::UnknownEventType(ty.0)));
            }
            _ => {}
        }
        let lp = u64::from(u32::from_le_bytes([hb[13], hb[14], hb[15], hb[16]]));
        if lp == 0 {
            return Ok(());
        }
        let sid = u32::from_le_bytes([hb[5], hb[6], hb[7], hb[8]]);
        let size64 = size as u64;
        let contradicts = |from: u64| {
            err(ParseErrorKind::LengthContradictsLogPos {
                event_size: size as u32,
                log_pos: lp as u32,
                by_log_pos: lp as i64 - from as i64,
            })
        };
        let e = &self.evidence;
        if let Some(Misplaced { at, ty, event_size, log_pos }) = e.misplaced {
            let by_log_pos = i64::from(log_pos) - at as i64;
            let kind = ParseErrorKind::LengthContradictsLogPos { event_size, log_pos, by_log_pos };
            return Err(ParseError::new(kind, at, Some(ty)));
        }
        let own_event = self.mode == Mode::File && (self.fmt.is_none() || (e.relay && e.own_id == Some(sid)));
        if own_event || (!e.relay && e.own == OwnCoords::Yes) {
            return if lp == at64 + size64 { Ok(()) } else { Err(contradicts(at64)) };
        }
        // An FDE starts its master file's chain: it ends at 4 + its size or later.
        let prev = if ty == EventType::FORMAT_DESCRIPTION { Some((4, true)) } else { e.prev };
        match prev {
            Some((p, true)) if lp < p + size64 => Err(contradicts(p)),
            _ => Ok(()),
        }
    }
}
