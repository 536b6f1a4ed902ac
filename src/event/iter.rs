//! The event walk: a fused iterator of zero-copy [`RawEvent`]s over a file's
//! bytes. This is the hot loop: no allocation per event, one bounds check for
//! the header, one for the body, an optional CRC.
//!
//! The walk goes by `event_size`, never by `log_pos` (a master coordinate in
//! relay logs, transaction-relative in some 5.0 files). A short tail is a
//! result, [`Step::Incomplete`], not an EOF and not an error (csv-core's
//! `InputEmpty`): a relay log being written or a crashed master ends that way.
//!
//! # Torn end or damage
//!
//! An event that runs past the end of the file is a torn end only when
//! nothing contradicts it; this walk is the one place that decides, so every
//! reader (inspection, mapping, cutting, applying) says the same of the same
//! bytes. A bit flipped in a length field in the middle of a file also makes
//! an event "run past the end", with whole events after it. What counts as
//! evidence:
//! - fewer than 19 bytes of header: none; torn.
//! - a header whose type is no event type (or not an FDE first): damage.
//! - `log_pos` 0: none (fake rotates, some relay-log events); torn.
//! - the file's own coordinates: in a binlog (its events so far end where
//!   their `log_pos` say) and for the file's own events (the first FDE; in
//!   a relay log, events with the relay log's own server id), `log_pos` must
//!   be `offset + event_size`, beyond the end of the file; and no earlier
//!   event of such a file may have broken that rule.
//! - master coordinates otherwise (a relay log, a diff): when the previous
//!   master event's `log_pos` is known and chained (it is its predecessor's
//!   plus its own size), `log_pos - previous log_pos` may not be smaller than
//!   `event_size`. Larger is not evidence: a master leaves out events a
//!   replica does not ask for (MariaDB's ANNOTATE_ROWS), and a size made
//!   *smaller* by damage still runs past the end only if the real one does.
//!   ROTATEs, `log_pos` 0 and the replica's own events break the chain.
//!
//! Anything else is damage: [`ParseErrorKind::LengthContradictsLogPos`]. That
//! a torn event may only end the *newest* file of a set is for the caller
//! (`log::RecoveryMode::for_file`).

use super::checksum::{ChecksumAlg, crc32_of_event};
use super::error::{ParseError, ParseErrorKind};
use super::fde::Format;
use super::header::{HEADER_LEN, Header};
use super::types::{EventType, flags};

/// The four bytes every binlog and relay log starts with.
pub const MAGIC: [u8; 4] = [0xfe, b'b', b'i', b'n'];

/// One event, borrowed from the mapped file: header through checksum.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawEvent<'a> {
    offset: u64,
    bytes: &'a [u8],
    crc: bool,
}

impl<'a> RawEvent<'a> {
    /// Wraps bytes already known to hold one whole event (header included).
    /// `has_crc` says whether the last four bytes are a checksum.
    ///
    /// # Errors
    /// `EventTooSmall` when `bytes` cannot hold a header (and checksum).
    pub fn new(offset: u64, bytes: &'a [u8], has_crc: bool) -> Result<Self, ParseError> {
        let min = HEADER_LEN + if has_crc { 4 } else { 0 };
        if bytes.len() < min {
            return Err(ParseError::new(ParseErrorKind::EventTooSmall(bytes.len() as u32), offset, None));
        }
        Ok(RawEvent { offset, bytes, crc: has_crc })
    }

    /// Byte offset of the event in its file.
    #[inline]
    pub fn offset(&self) -> u64 {
        self.offset
    }
    /// Offset just past the event.
    #[inline]
    pub fn end_offset(&self) -> u64 {
        self.offset + self.bytes.len() as u64
    }
    /// The whole event, header to checksum: what a diff writer copies.
    #[inline]
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }
    /// The decoded common header.
    #[inline]
    pub fn header(&self) -> Header {
        Header::decode(self.bytes.first_chunk::<HEADER_LEN>().expect("RawEvent holds a header"))
    }
    /// Event type code.
    #[inline]
    pub fn event_type(&self) -> EventType {
        EventType(self.bytes[4])
    }
    /// Writer's server id.
    #[inline]
    pub fn server_id(&self) -> u32 {
        u32::from_le_bytes([self.bytes[5], self.bytes[6], self.bytes[7], self.bytes[8]])
    }
    /// `log_pos`: end position in the originating binlog (master coordinate in a relay log).
    #[inline]
    pub fn log_pos(&self) -> u32 {
        u32::from_le_bytes([self.bytes[13], self.bytes[14], self.bytes[15], self.bytes[16]])
    }
    /// Header flags.
    #[inline]
    pub fn flags(&self) -> u16 {
        u16::from_le_bytes([self.bytes[17], self.bytes[18]])
    }
    /// Header timestamp.
    #[inline]
    pub fn timestamp(&self) -> u32 {
        u32::from_le_bytes([self.bytes[0], self.bytes[1], self.bytes[2], self.bytes[3]])
    }
    /// Whole event length.
    #[inline]
    pub fn size(&self) -> usize {
        self.bytes.len()
    }
    /// Whether the last four bytes are a checksum.
    #[inline]
    pub fn has_checksum(&self) -> bool {
        self.crc
    }
    /// The stored checksum, if any.
    pub fn checksum(&self) -> Option<u32> {
        self.crc.then(|| {
            let n = self.bytes.len();
            u32::from_le_bytes([self.bytes[n - 4], self.bytes[n - 3], self.bytes[n - 2], self.bytes[n - 1]])
        })
    }
    /// Post-header and body, without header and checksum.
    #[inline]
    pub fn body(&self) -> &'a [u8] {
        &self.bytes[HEADER_LEN..self.bytes.len() - if self.crc { 4 } else { 0 }]
    }
    /// True for a ROTATE the master generated rather than logged: timestamp 0
    /// or log_pos 0, or the ARTIFICIAL flag.
    pub fn is_fake_rotate(&self) -> bool {
        self.event_type() == EventType::ROTATE
            && (self.flags() & flags::ARTIFICIAL != 0 || self.log_pos() == 0 || self.timestamp() == 0)
    }
}

/// A short tail: the file ends inside an event (or its header).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Incomplete {
    /// Offset where the unfinished event starts.
    pub at: u64,
    /// Bytes present from `at` to the end of the file.
    pub available: u64,
    /// Bytes the event needs (19 when even the header is cut short).
    pub needed: u64,
}

/// What the walk yields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step<'a> {
    /// A whole event.
    Event(RawEvent<'a>),
    /// The file ends inside an event; the walk is over.
    Incomplete(Incomplete),
}

/// Options for a walk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WalkOptions {
    /// Verify the CRC32 of every event that carries one.
    pub verify_checksums: bool,
}

impl Default for WalkOptions {
    fn default() -> Self {
        WalkOptions { verify_checksums: true }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// A file: magic, then events, the first an FDE.
    File,
    /// A file resumed at an offset with a known format.
    Resumed,
    /// Events inside a TRANSACTION_PAYLOAD: no CRC, no FDE.
    Inner,
}

/// Fused walk over a binlog or relay log held in memory (mapped or read).
///
/// Tracks the format description in effect: a later FDE governs the events
/// after it (a relay log has the replica's own FDE, then the master's).
pub struct EventIter<'a> {
    data: &'a [u8],
    pos: usize,
    done: bool,
    mode: Mode,
    opts: WalkOptions,
    fmt: Option<Format>,
    /// Checksum alg of the file's first FDE: the writer's own (the replica's,
    /// in a relay log), which its own ROTATE/STOP at the end follow.
    own_alg: Option<ChecksumAlg>,
    /// End of the last whole event.
    valid: usize,
    /// What the events so far say about `log_pos` (see the module doc).
    evidence: Evidence,
    /// File offset of `data[0]`: non-zero for a window of a file read in
    /// pieces ([`EventIter::window`]). Offsets reported are the file's.
    base: u64,
    /// `data` ends where the file does (else an event running past it is
    /// not judged: the next window holds the rest).
    eof: bool,
}

/// A walk between two windows of one file ([`EventIter::suspend`],
/// [`EventIter::window`]): everything but the bytes.
#[derive(Clone, Debug)]
pub struct Suspended {
    next: u64,
    valid: u64,
    mode: Mode,
    opts: WalkOptions,
    fmt: Option<Format>,
    own_alg: Option<ChecksumAlg>,
    evidence: Evidence,
}

impl Suspended {
    /// A walk that starts at `offset` of a file with the format in effect
    /// there (as [`EventIter::resume`]); `None`: from the magic.
    pub fn start(from: Option<(u64, Format)>, opts: WalkOptions) -> Suspended {
        let (next, mode, own_alg, fmt) = match from {
            Some((o, f)) => (o, Mode::Resumed, Some(f.checksum), Some(f)),
            None => (0, Mode::File, None, None),
        };
        Suspended { next, valid: next, mode, opts, fmt, own_alg, evidence: Evidence::NONE }
    }

    /// File offset of the next event to read.
    pub fn position(&self) -> u64 {
        self.next
    }
}

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
struct Evidence {
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

impl Evidence {
    const NONE: Evidence = Evidence {
        relay: false,
        own_id: None,
        own: OwnCoords::Unknown,
        misplaced: None,
        prev: None,
        after_first_fde: false,
    };

    /// Takes in a whole event: header `hb`, ending at `end`.
    #[inline]
    fn note(&mut self, hb: &[u8; HEADER_LEN], size: usize, end: u64) {
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

impl<'a> EventIter<'a> {
    /// Walks a whole file from its magic.
    pub fn new(data: &'a [u8], opts: WalkOptions) -> Self {
        EventIter {
            data,
            pos: 0,
            done: false,
            mode: Mode::File,
            opts,
            fmt: None,
            own_alg: None,
            valid: 0,
            evidence: Evidence::NONE,
            base: 0,
            eof: true,
        }
    }

    /// Continues a suspended walk of a file over `data`, the file's bytes
    /// from offset `base` (at or before where the walk stands) on; `eof`:
    /// `data` ends where the file does. Offsets are the file's. An event
    /// running past the end of a window that is not the last comes back as
    /// [`Step::Incomplete`] unjudged: the caller reads on from its start.
    pub fn window(data: &'a [u8], base: u64, s: Suspended, eof: bool) -> Self {
        let rel = |o: u64| usize::try_from(o.saturating_sub(base)).unwrap_or(usize::MAX).min(data.len());
        EventIter {
            data,
            pos: rel(s.next),
            done: false,
            mode: s.mode,
            opts: s.opts,
            fmt: s.fmt,
            own_alg: s.own_alg,
            valid: rel(s.valid),
            evidence: s.evidence,
            base,
            eof,
        }
    }

    /// The walk so far, to go on over another window ([`EventIter::window`]).
    pub fn suspend(self) -> Suspended {
        Suspended {
            next: self.base + self.pos as u64,
            valid: self.base + self.valid as u64,
            mode: self.mode,
            opts: self.opts,
            fmt: self.fmt,
            own_alg: self.own_alg,
            evidence: self.evidence,
        }
    }

    /// Resumes a walk at `offset` with the format in effect there (from an
    /// earlier walk of the same file). No magic check.
    pub fn resume(data: &'a [u8], offset: u64, format: Format, opts: WalkOptions) -> Self {
        let pos = usize::try_from(offset).unwrap_or(usize::MAX).min(data.len());
        let own = Some(format.checksum);
        EventIter {
            data,
            pos,
            done: false,
            mode: Mode::Resumed,
            opts,
            fmt: Some(format),
            own_alg: own,
            valid: pos,
            evidence: Evidence::NONE,
            base: 0,
            eof: true,
        }
    }

    /// Walks the events inside a decompressed TRANSACTION_PAYLOAD body: no
    /// checksums, format inherited from the outer file. Offsets are within `data`.
    pub fn inner(data: &'a [u8], format: Format) -> Self {
        EventIter {
            data,
            pos: 0,
            done: false,
            mode: Mode::Inner,
            opts: WalkOptions { verify_checksums: false },
            fmt: Some(format),
            own_alg: None,
            valid: 0,
            evidence: Evidence::NONE,
            base: 0,
            eof: true,
        }
    }

    /// The format in effect for the event last returned (after an FDE, that FDE's).
    pub fn format(&self) -> Option<&Format> {
        self.fmt.as_ref()
    }

    /// Offset just past the last whole event: where a reader may safely stop.
    pub fn valid_offset(&self) -> u64 {
        self.base + self.valid as u64
    }

    /// Offset of the next event to read.
    pub fn position(&self) -> u64 {
        self.base + self.pos as u64
    }

    /// Next step of the walk. After an error or [`Step::Incomplete`] the
    /// iterator is exhausted and returns `Ok(None)` forever.
    ///
    /// # Errors
    /// Bad magic, a non-FDE first event, a too-small `event_size`, a checksum
    /// mismatch (when verifying), an unusable FDE, or an unknown
    /// non-ignorable event type, each with the event's offset.
    #[inline]
    pub fn next_step(&mut self) -> Result<Option<Step<'a>>, ParseError> {
        if self.done {
            return Ok(None);
        }
        let r = self.step();
        match &r {
            Ok(Some(Step::Event(_))) => {}
            _ => self.done = true,
        }
        r
    }

    fn step(&mut self) -> Result<Option<Step<'a>>, ParseError> {
        if self.mode == Mode::File && self.pos == 0 && self.base == 0 {
            let n = self.data.len().min(4);
            if self.data[..n] != MAGIC[..n] {
                return Err(ParseError::new(ParseErrorKind::BadMagic, 0, None));
            }
            if n < 4 {
                return Ok(if n == 0 {
                    None
                } else {
                    Some(Step::Incomplete(Incomplete { at: 0, available: n as u64, needed: 4 }))
                });
            }
            self.pos = 4;
            self.valid = 4;
        }
        let at = self.pos;
        let at64 = self.base + at as u64;
        let rest = &self.data[at..];
        if rest.is_empty() {
            return Ok(None);
        }
        let Some(hb) = rest.first_chunk::<HEADER_LEN>() else {
            return Ok(Some(Step::Incomplete(Incomplete {
                at: at64,
                available: rest.len() as u64,
                needed: HEADER_LEN as u64,
            })));
        };
        let size = u32::from_le_bytes([hb[9], hb[10], hb[11], hb[12]]) as usize;
        let ty = EventType(hb[4]);
        let err = |kind| ParseError::new(kind, at64, Some(ty));
        if size < HEADER_LEN {
            return Err(err(ParseErrorKind::EventTooSmall(size as u32)));
        }
        if size > rest.len() {
            if self.eof {
                self.judge_torn(at64, hb, size)?;
            }
            return Ok(Some(Step::Incomplete(Incomplete {
                at: at64,
                available: rest.len() as u64,
                needed: size as u64,
            })));
        }
        let bytes = &rest[..size];
        let flags = u16::from_le_bytes([hb[17], hb[18]]);

        let crc = if ty == EventType::FORMAT_DESCRIPTION {
            self.on_fde(bytes).map_err(err)?
        } else {
            match self.fmt {
                None => return Err(err(self.first_event_error(bytes))),
                Some(ref f) => {
                    if ty == EventType::MARIA_START_ENCRYPTION {
                        return Err(err(ParseErrorKind::Encrypted));
                    }
                    if !ty.is_known() && flags & flags::IGNORABLE == 0 {
                        return Err(err(ParseErrorKind::UnknownEventType(ty.0)));
                    }
                    self.checksum_for(ty, flags, hb, bytes, f.checksum)
                }
            }
        };
        if crc && size < HEADER_LEN + 4 {
            return Err(err(ParseErrorKind::EventTooSmall(size as u32)));
        }
        if crc && self.opts.verify_checksums {
            // The fake-rotate probe may already have hashed it; hashing again
            // only for those rare events keeps this branch simple.
            let (stored, computed) = crc32_of_event(bytes).expect("size checked");
            if stored != computed {
                return Err(err(ParseErrorKind::ChecksumMismatch { stored, computed }));
            }
        }
        self.pos = at + size;
        self.valid = self.pos;
        if self.mode != Mode::Inner {
            self.evidence.note(hb, size, at64 + size as u64);
        }
        Ok(Some(Step::Event(RawEvent { offset: at64, bytes, crc })))
    }

    /// The event at `at` (header `hb`, `event_size` `size`) runs past the
    /// end of the data: `Ok` when that is a torn end, the damage otherwise
    /// (see the module doc).
    #[cold]
    fn judge_torn(&self, at64: u64, hb: &[u8; HEADER_LEN], size: usize) -> Result<(), ParseError> {
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

    /// Whether an event under alg `alg` carries a CRC. Fake ROTATEs (sent
    /// before the master's FDE) and the writer's own ROTATE/STOP in a relay
    /// log whose master uses another alg are probed: MySQL tracks the former
    /// as `checksum_alg_before_fd`.
    #[inline]
    fn checksum_for(&self, ty: EventType, flags: u16, hb: &[u8; HEADER_LEN], bytes: &[u8], alg: ChecksumAlg) -> bool {
        if self.mode == Mode::Inner {
            return false;
        }
        let probe = match ty {
            EventType::ROTATE => {
                let log_pos = u32::from_le_bytes([hb[13], hb[14], hb[15], hb[16]]);
                flags & flags::ARTIFICIAL != 0 || log_pos == 0 || self.own_alg != Some(alg)
            }
            EventType::STOP => self.own_alg != Some(alg),
            _ => false,
        };
        if probe {
            return matches!(crc32_of_event(bytes), Some((s, c)) if s == c);
        }
        alg == ChecksumAlg::Crc32
    }

    fn on_fde(&mut self, bytes: &[u8]) -> Result<bool, ParseErrorKind> {
        if self.mode == Mode::Inner {
            return Err(ParseErrorKind::BadValue("FDE inside a transaction payload"));
        }
        let f = Format::from_fde_event(bytes)?;
        // A checksum-aware FDE always carries the CRC field, even with alg OFF;
        // only CRC32 makes it meaningful.
        let crc = f.checksum_aware && f.checksum == ChecksumAlg::Crc32;
        if self.own_alg.is_none() {
            self.own_alg = Some(f.checksum);
        }
        self.fmt = Some(f);
        Ok(crc)
    }

    fn first_event_error(&self, bytes: &[u8]) -> ParseErrorKind {
        // v1 (13-byte header) and v3 files start with START_EVENT_V3, whose
        // body opens with binlog_version.
        if bytes[4] == EventType::START_V3.0 {
            let at = |o: usize| bytes.get(o..o + 2).map(|b| u16::from_le_bytes([b[0], b[1]]));
            return match (at(HEADER_LEN), at(13)) {
                (Some(3), _) => ParseErrorKind::UnsupportedBinlogVersion(3),
                (_, Some(1)) => ParseErrorKind::UnsupportedBinlogVersion(1),
                (Some(v), _) => ParseErrorKind::UnsupportedBinlogVersion(v),
                _ => ParseErrorKind::NoFormatDescription,
            };
        }
        ParseErrorKind::NoFormatDescription
    }
}

impl<'a> Iterator for EventIter<'a> {
    type Item = Result<Step<'a>, ParseError>;
    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        self.next_step().transpose()
    }
}

impl std::iter::FusedIterator for EventIter<'_> {}

#[cfg(test)]
mod tests {
    //! The torn-end rule on real MariaDB 10.11 files (testdata/mariadb),
    //! with one header field changed as damage would change it.
    use super::*;

    fn fixture(rel: &str) -> Vec<u8> {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/mariadb").join(rel);
        std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    }

    /// (offset, size, log_pos) of every event of a whole file.
    fn events(b: &[u8]) -> Vec<(usize, u32, u32)> {
        let mut it = EventIter::new(b, WalkOptions::default());
        let mut v = Vec::new();
        while let Some(s) = it.next_step().unwrap() {
            let Step::Event(e) = s else { panic!("not whole: {s:?}") };
            v.push((e.offset() as usize, e.size() as u32, e.log_pos()));
        }
        v
    }

    /// How a walk ends: `Ok(None)` on a boundary, `Ok(Some(_))` torn, `Err` damaged.
    fn end(b: &[u8]) -> Result<Option<Incomplete>, ParseError> {
        let mut it = EventIter::new(b, WalkOptions::default());
        loop {
            match it.next_step()? {
                None => return Ok(None),
                Some(Step::Incomplete(i)) => return Ok(Some(i)),
                Some(Step::Event(_)) => {}
            }
        }
    }

    fn with_size(b: &[u8], at: usize, size: u32) -> Vec<u8> {
        let mut d = b.to_vec();
        d[at + 9..at + 13].copy_from_slice(&size.to_le_bytes());
        d
    }

    fn contradiction(size: u32, log_pos: u32, by_log_pos: i64) -> ParseErrorKind {
        ParseErrorKind::LengthContradictsLogPos { event_size: size, log_pos, by_log_pos }
    }

    /// Every event cut short is a torn end, header fragments included.
    fn assert_every_cut_is_torn(b: &[u8], name: &str) {
        for (at, size, _) in events(b) {
            for cut in [at + 1, at + 18, at + 19, at + size as usize - 1] {
                if cut >= at + size as usize {
                    continue;
                }
                let needed = if cut - at < HEADER_LEN { HEADER_LEN as u64 } else { u64::from(size) };
                let want = Incomplete { at: at as u64, available: (cut - at) as u64, needed };
                assert_eq!(end(&b[..cut]), Ok(Some(want)), "{name} cut at {cut}");
            }
        }
    }

    /// The case: a bit flipped in a length field makes an event run
    /// past the end of the file with whole events after it; its `log_pos`
    /// (offset + real size in a binlog) says otherwise. The same event
    /// really cut short (header fragments included) is a torn end.
    #[test]
    fn a_longer_length_in_a_binlog_is_damage_a_cut_is_a_torn_end() {
        for f in ["row-crc32/master/mysql-bin.000002", "stmt-none/master/mysql-bin.000002"] {
            let b = fixture(f);
            assert_every_cut_is_torn(&b, f);
            for (at, size, lp) in events(&b) {
                for bit in [13, 20, 30] {
                    let d = with_size(&b, at, size ^ (1 << bit));
                    let e = end(&d).expect_err(&format!("{f}: size of the event at {at} with bit {bit} flipped"));
                    assert_eq!((e.at, e.event_type), (at as u64, Some(EventType(b[at + 4]))), "{f} @ {at}");
                    assert_eq!(e.kind, contradiction(size ^ (1 << bit), lp, i64::from(size)), "{f} @ {at}");
                }
            }
        }
    }

    /// A shorter length makes the event whole but wrong: with CRC32 its
    /// checksum fails; without, what follows is no event, and the walk never
    /// takes it for a torn end (the shortened event's `log_pos` already
    /// contradicts where it ends).
    #[test]
    fn a_shorter_length_is_never_a_torn_end() {
        for (f, crc) in [("row-crc32/master/mysql-bin.000002", true), ("stmt-none/master/mysql-bin.000002", false)] {
            let b = fixture(f);
            for (at, size, _) in events(&b) {
                for bit in 0..9 {
                    let short = size & !(1 << bit);
                    if short == size || short < 23 {
                        continue;
                    }
                    let r = end(&with_size(&b, at, short));
                    assert!(
                        !matches!(r, Ok(Some(_))),
                        "{f}: event at {at} shortened to {short} taken for a torn end: {r:?}"
                    );
                    if crc {
                        assert!(r.is_err(), "{f}: event at {at} shortened to {short}: {r:?}");
                    }
                }
            }
        }
    }

    /// A binlog whose events stop being where their `log_pos` say (an
    /// earlier length shortened, no checksums) cannot end torn: the damage
    /// is named at the first event that broke the rule.
    #[test]
    fn an_earlier_misplaced_event_contradicts_a_torn_end() {
        let b = fixture("stmt-none/master/mysql-bin.000002");
        let evs = events(&b);
        let (at, size, lp) = evs[evs.len() / 2];
        // Shortened by 4, and those 4 bytes gone: the walk stays aligned, and
        // the file is cut in the middle of its second-to-last event.
        let mut d = with_size(&b, at, size - 4);
        let next = at + size as usize;
        d.drain(next - 4..next);
        let (torn_at, torn_size, _) = evs[evs.len() - 2];
        let cut = torn_at + torn_size as usize / 2;
        assert!(cut - torn_at > HEADER_LEN);
        d.truncate(cut - 4);
        let e = end(&d).unwrap_err();
        assert_eq!((e.at, e.kind), (at as u64, contradiction(size - 4, lp, i64::from(size))));
        // The same cut of the undamaged file is a torn end.
        assert!(matches!(end(&b[..cut]), Ok(Some(_))));
    }

    /// `log_pos` 0 says nothing (fake rotates, some relay-log events): only
    /// "runs past the end" applies.
    #[test]
    fn log_pos_zero_gives_no_evidence() {
        let b = fixture("row-crc32/master/mysql-bin.000002");
        let (at, size, lp) = events(&b)[6];
        let mut d = with_size(&b, at, size ^ (1 << 20));
        assert_eq!(end(&d).unwrap_err().kind, contradiction(size ^ (1 << 20), lp, i64::from(size)));
        d[at + 13..at + 17].copy_from_slice(&0u32.to_le_bytes());
        assert!(matches!(end(&d), Ok(Some(Incomplete { at: a, .. })) if a == at as u64));
    }

    #[test]
    fn a_torn_event_of_no_known_type_is_damage() {
        let b = fixture("row-crc32/master/mysql-bin.000002");
        let (at, size, _) = events(&b)[6];
        let mut d = b[..at + size as usize - 1].to_vec();
        d[at + 4] = 0xee;
        assert_eq!(end(&d).unwrap_err().kind, ParseErrorKind::UnknownEventType(0xee));
        d[at + 17] |= flags::IGNORABLE as u8; // 0x80 is in the low byte
        assert!(matches!(end(&d), Ok(Some(_))));
    }

    /// A relay log's `log_pos` is the master's: the chain from the previous
    /// master event is the evidence, once that one chained onto its own
    /// predecessor; the replica's own events are in the relay log's own
    /// coordinates.
    #[test]
    fn relay_logs_are_judged_by_the_master_chain() {
        for f in ["row-crc32/replica/relay-bin.000001", "row-crc32/replica/relay-bin.000004"] {
            assert_every_cut_is_torn(&fixture(f), f);
        }
        let b = fixture("row-crc32/replica/relay-bin.000004");
        let evs = events(&b);
        // own FDE, fake rotate (log_pos 0), the master's FDE (log_pos 256, after
        // the fake rotate: not chained), GTID_LIST (299 = 256 + 43: chained), ...
        assert_eq!(
            evs[..4].iter().map(|e| (e.0, e.2)).collect::<Vec<_>>(),
            [(4, 256), (256, 0), (303, 256), (555, 299)]
        );
        for (i, &(at, size, lp)) in evs.iter().enumerate() {
            let r = end(&with_size(&b, at, size ^ (1 << 20)));
            if i == 1 {
                // The fake rotate: log_pos 0, no evidence.
                assert!(matches!(r, Ok(Some(_))), "event {i} at {at}: {r:?}");
                continue;
            }
            // The replica's own FDE (its own coordinates), the master's FDE
            // (from its file's start, 4), then the chain.
            let own = b[at + 5] == 2; // the replica's server id: its own FDE, and STOP at the end
            let from = match i {
                _ if own => at as i64,
                2 => 4,
                _ => i64::from(evs[i - 1].2),
            };
            let e = r.unwrap_err();
            assert_eq!((e.at, e.kind), (at as u64, contradiction(size ^ (1 << 20), lp, i64::from(lp) - from)), "{i}");
        }
        // An event after a chain break gives no evidence: here, a master
        // event after the replica's own FDE (log_pos rewritten to break it).
        let mut d = with_size(&b, evs[3].0, evs[3].1 ^ (1 << 20));
        d[evs[2].0 + 13..evs[2].0 + 17].copy_from_slice(&300u32.to_le_bytes()); // not 4 + 252
        let crc_fixed = {
            let (a, s) = (evs[2].0, evs[2].1 as usize);
            let c = super::super::checksum::compute_crc32(&d[a..a + s - 4]);
            d[a + s - 4..a + s].copy_from_slice(&c.to_le_bytes());
            d
        };
        assert!(matches!(end(&crc_fixed), Ok(Some(Incomplete { at, .. })) if at == evs[3].0 as u64));
        // The replica's own ROTATE closing a relay file: its own coordinates too.
        let b = fixture("row-crc32/replica/relay-bin.000001");
        let (at, size, lp) = events(&b)[1];
        assert_eq!(end(&with_size(&b, at, size + 1000)).unwrap_err().kind, contradiction(size + 1000, lp, 47));
    }

    /// A master leaves out events a replica does not ask for (MariaDB's
    /// ANNOTATE_ROWS when the replica does not replicate them): a gap in
    /// the chain. An event torn after a gap is still a torn end; a length
    /// past what the gap leaves is not.
    #[test]
    fn a_gap_in_a_relay_chain_is_not_evidence_of_damage() {
        let b = fixture("row-crc32/replica/relay-bin.000004");
        let evs = events(&b);
        let ann = evs.iter().position(|e| b[e.0 + 4] == EventType::MARIA_ANNOTATE_ROWS.0).unwrap();
        let (a_at, a_size, _) = evs[ann];
        let (_, tm_size, tm_lp) = evs[ann + 1];
        let (_, _, gtid_lp) = evs[ann - 1];
        let mut gap = b[..a_at].to_vec();
        gap.extend_from_slice(&b[a_at + a_size as usize..]);
        // The TABLE_MAP now at a_at, torn: 70 + 56 bytes of master
        // coordinates since the GTID before it, for 56.
        assert!(matches!(end(&gap[..a_at + 30]), Ok(Some(Incomplete { at, .. })) if at == a_at as u64));
        let room = tm_lp - gtid_lp;
        assert_eq!(room, a_size + tm_size);
        let short = &gap[..a_at + room as usize];
        let e = end(&with_size(short, a_at, room + 1)).unwrap_err();
        assert_eq!(e.kind, contradiction(room + 1, tm_lp, i64::from(room)));
        // As long as the gap leaves: no evidence.
        assert!(matches!(end(&with_size(&gap[..a_at + 100], a_at, room)), Ok(Some(_))));
    }

    /// Before the format description: the file's own coordinates; and the
    /// first event must be an FDE even when torn.
    #[test]
    fn a_torn_format_description() {
        let b = fixture("row-crc32/master/mysql-bin.000002");
        for cut in [1, 3, 5, 22, 23, 255] {
            assert!(matches!(end(&b[..cut]), Ok(Some(_))), "cut at {cut}");
        }
        assert_eq!(end(&b[..4]), Ok(None));
        let e = end(&with_size(&b[..200], 4, 252 + 4096)).unwrap_err();
        assert_eq!(e.kind, contradiction(252 + 4096, 256, 252));
        let mut d = b[..200].to_vec();
        d[4 + 4] = EventType::QUERY.0;
        assert_eq!(end(&d).unwrap_err().kind, ParseErrorKind::NoFormatDescription);
    }
}
