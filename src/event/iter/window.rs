//! A walk over a file read in windows (pieces): the walk suspended between
//! two windows keeps everything but the bytes.

use super::end_rule::EndEvidence;
use super::walk::{EventIter, Mode, WalkOptions};
use crate::event::checksum::ChecksumAlg;
use crate::event::fde::Format;

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
    evidence: EndEvidence,
}

impl Suspended {
    /// A walk that starts at `offset` of a file with the format in effect
    /// there (as [`EventIter::resume`]); `None`: from the magic.
    pub fn start(from: Option<(u64, Format)>, opts: WalkOptions) -> Suspended {
        let (next, mode, own_alg, fmt) = match from {
            Some((o, f)) => (o, Mode::Resumed, Some(f.checksum), Some(f)),
            None => (0, Mode::File, None, None),
        };
        Suspended { next, valid: next, mode, opts, fmt, own_alg, evidence: EndEvidence::NONE }
    }

    /// File offset of the next event to read.
    pub fn position(&self) -> u64 {
        self.next
    }
}

impl<'a> EventIter<'a> {
    /// Continues a suspended walk of a file over `data`, the file's bytes
    /// from offset `base` (at or before where the walk stands) on; `eof`:
    /// `data` ends where the file does. Offsets are the file's. An event
    /// running past the end of a window that is not the last comes back as
    /// [`Step::Incomplete`] unjudged: the caller reads on from its start.
    ///
    /// [`Step::Incomplete`]: super::Step::Incomplete
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
}
