//! The fused iterator: reads each event's header and body, tracks the
//! format description in effect, verifies checksums, and leaves an event
//! that runs past the end of the data to the end rule (`end_rule.rs`).

use super::MAGIC;
use super::end_rule::EndEvidence;
use super::raw::{Incomplete, RawEvent, Step};
use crate::event::checksum::{ChecksumAlg, crc32_of_event};
use crate::event::error::{ParseError, ParseErrorKind};
use crate::event::fde::Format;
use crate::event::header::HEADER_LEN;
use crate::event::types::{EventType, flags};

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

/// What the walk's bytes are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Mode {
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
    pub(super) data: &'a [u8],
    pub(super) pos: usize,
    pub(super) done: bool,
    pub(super) mode: Mode,
    pub(super) opts: WalkOptions,
    pub(super) fmt: Option<Format>,
    /// Checksum alg of the file's first FDE: the writer's own (the replica's,
    /// in a relay log), which its own ROTATE/STOP at the end follow.
    pub(super) own_alg: Option<ChecksumAlg>,
    /// End of the last whole event.
    pub(super) valid: usize,
    /// What the events so far say about `log_pos` (`end_rule.rs`).
    pub(super) evidence: EndEvidence,
    /// File offset of `data[0]`: non-zero for a window of a file read in
    /// pieces ([`EventIter::window`]). Offsets reported are the file's.
    pub(super) base: u64,
    /// `data` ends where the file does (else an event running past it is
    /// not judged: the next window holds the rest).
    pub(super) eof: bool,
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
            evidence: EndEvidence::NONE,
            base: 0,
            eof: true,
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
            evidence: EndEvidence::NONE,
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
            evidence: EndEvidence::NONE,
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

    pub(super) fn first_event_error(&self, bytes: &[u8]) -> ParseErrorKind {
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
