//! One binlog or relay-log file: its bytes plus a walk whose errors name the file.
//!
//! How a walk may end is decided here, once, for every reader: whether an
//! event running past the end is a torn end or damage is the event walk's
//! call ([`EventIter`]); whether this file may end torn at all
//! ([`RecoveryMode`], only the newest file of a set: [`RecoveryMode::for_file`]),
//! and that a file without a whole FORMAT_DESCRIPTION_EVENT is no binlog
//! (unless the caller deals with a just-created file,
//! [`RecoveryMode::TolerateNewFile`]), is [`LogFile::judge_end`]'s.

use std::path::{Path, PathBuf};

use crate::error::{Error, ErrorKind, Result};
use crate::event::{EventIter, Format, Incomplete, ParseError, ParseErrorKind, RawEvent, Step, WalkOptions};

use super::source::{Access, Source};

/// What to do with a file that ends inside an event (raft-engine's
/// `RecoveryMode`, for binlogs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum RecoveryMode {
    /// A truncated last event is an error.
    #[default]
    AbsoluteConsistency,
    /// A truncated last event ends the walk and is reported as [`Tail::Incomplete`]
    /// (a crashed master, a relay log being written), when it is a torn end
    /// and not damage (see [`EventIter`]). The file must still hold its
    /// format description.
    TolerateTruncatedTail,
    /// As [`RecoveryMode::TolerateTruncatedTail`], and a file that ends
    /// before its FORMAT_DESCRIPTION_EVENT is whole (0 bytes, part of the
    /// magic number, the magic number only, a torn FDE) is taken as one a
    /// crashed server had just created: [`Tail::Incomplete`] at 0 or 4, no
    /// events. Only for the newest file of a live server's set.
    TolerateNewFile,
}

impl RecoveryMode {
    /// The mode for one file of a set read in order: `self` for the newest
    /// (`last`), [`RecoveryMode::AbsoluteConsistency`] for the others: a
    /// rotated file must be whole.
    pub fn for_file(self, last: bool) -> RecoveryMode {
        if last { self } else { RecoveryMode::AbsoluteConsistency }
    }

    /// Whether a torn last event is accepted.
    pub fn tolerates_torn_tail(self) -> bool {
        self != RecoveryMode::AbsoluteConsistency
    }
}

/// How a walk ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tail {
    /// At the end of the file, on an event boundary.
    Clean,
    /// Inside an event (allowed by the recovery mode).
    Incomplete(Incomplete),
    /// The visitor asked to stop at this offset.
    Stopped(u64),
}

/// A log file opened read-only.
pub struct LogFile {
    path: PathBuf,
    source: Source,
}

impl LogFile {
    /// Opens a file read-only (mapped, or read with [`Access::Read`]).
    ///
    /// # Errors
    /// The file cannot be opened or read.
    pub fn open(path: impl AsRef<Path>, access: Access) -> Result<LogFile> {
        let path = path.as_ref();
        Ok(LogFile { path: path.to_path_buf(), source: Source::open(path, access)? })
    }

    /// Wraps bytes in memory under a display name (tests, fuzzing).
    pub fn from_bytes(name: impl Into<PathBuf>, bytes: Vec<u8>) -> LogFile {
        LogFile { path: name.into(), source: Source::from_vec(bytes) }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The bytes as of open.
    pub fn bytes(&self) -> &[u8] {
        self.source.as_slice()
    }

    /// Whether the bytes are memory-mapped.
    pub fn is_mapped(&self) -> bool {
        self.source.is_mapped()
    }

    /// A handle on the bytes that may outlive this `LogFile` and cross threads.
    pub fn shared_bytes(&self) -> super::source::SharedBytes {
        self.source.shared()
    }

    /// A raw walk from the magic.
    pub fn events(&self, opts: WalkOptions) -> EventIter<'_> {
        EventIter::new(self.bytes(), opts)
    }

    /// Walks every event, calling `visit(event, format)`; `visit` returns
    /// `Ok(false)` to stop early. Errors carry this file's name.
    ///
    /// # Errors
    /// A parse error (damage, also a damaged length taken for a torn end:
    /// see [`EventIter`]), an end judged wrong by [`LogFile::judge_end`], or
    /// whatever `visit` returns.
    pub fn walk<'a, F>(&'a self, opts: WalkOptions, mode: RecoveryMode, mut visit: F) -> Result<Tail>
    where
        F: FnMut(RawEvent<'a>, &Format) -> Result<bool>,
    {
        let mut it = self.events(opts);
        loop {
            match it.next_step() {
                Ok(None) => return self.judge_end(it.format().is_some(), None, mode),
                Ok(Some(Step::Event(ev))) => {
                    let fmt = it.format().expect("an event is returned only once a format is known");
                    if !visit(ev, fmt)? {
                        return Ok(Tail::Stopped(ev.end_offset()));
                    }
                }
                Ok(Some(Step::Incomplete(inc))) => return self.judge_end(it.format().is_some(), Some(inc), mode),
                Err(e) => return Err(Error::parse(Some(&self.path), e)),
            }
        }
    }

    /// How a walk of this file from its magic that ended without an error
    /// is to be taken: `format_seen`, whether a whole FDE was read
    /// ([`EventIter::format`]); `end`, the [`Step::Incomplete`] it ended with,
    /// if any (already judged a torn end, not damage, by the walk). The one
    /// rule, for walkers that drive an [`EventIter`] themselves.
    ///
    /// # Errors
    /// No whole FDE (`Parse(EndsBeforeFormatDescription)`), unless `mode`
    /// is [`RecoveryMode::TolerateNewFile`]; a torn last event under
    /// [`RecoveryMode::AbsoluteConsistency`] (`Truncated`).
    pub fn judge_end(&self, format_seen: bool, end: Option<Incomplete>, mode: RecoveryMode) -> Result<Tail> {
        if !format_seen {
            let len = self.bytes().len() as u64;
            match (mode, end) {
                (RecoveryMode::TolerateNewFile, _) => {
                    let at = if len < 4 { 0 } else { 4 };
                    let inc =
                        end.unwrap_or(Incomplete { at, available: len - at, needed: if at == 0 { 4 } else { 19 } });
                    return Ok(Tail::Incomplete(inc));
                }
                // Strict: said as for any event cut short.
                (RecoveryMode::AbsoluteConsistency, Some(inc)) => return Err(self.truncated(inc)),
                _ => {}
            }
            let e = ParseError { kind: ParseErrorKind::EndsBeforeFormatDescription { len }, at: 0, event_type: None };
            return Err(Error::parse(Some(&self.path), e));
        }
        match end {
            None => Ok(Tail::Clean),
            Some(inc) if mode.tolerates_torn_tail() => Ok(Tail::Incomplete(inc)),
            Some(inc) => Err(self.truncated(inc)),
        }
    }

    /// The error for a truncated tail in this file.
    pub fn truncated(&self, inc: Incomplete) -> Error {
        // The type byte is at offset 4 of the header: known once 5 bytes are there.
        let ty = self.bytes().get(inc.at as usize + 4).map(|&t| crate::event::EventType(t));
        Error::new(ErrorKind::Truncated { available: inc.available, needed: inc.needed })
            .with_file(&self.path)
            .at(inc.at, ty)
    }
}
