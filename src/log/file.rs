//! One binlog or relay-log file: its bytes plus a walk whose errors name the file.

use std::path::{Path, PathBuf};

use crate::error::{Error, ErrorKind, Result};
use crate::event::{EventIter, Format, Incomplete, RawEvent, Step, WalkOptions};

use super::source::{Access, Source};

/// What to do with a file that ends inside an event (raft-engine's
/// `RecoveryMode`, for binlogs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum RecoveryMode {
    /// A truncated last event is an error.
    #[default]
    AbsoluteConsistency,
    /// A truncated last event ends the walk and is reported as [`Tail::Incomplete`]
    /// (a crashed master, a relay log being written).
    TolerateTruncatedTail,
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
    /// A parse error, a truncated tail under [`RecoveryMode::AbsoluteConsistency`],
    /// or whatever `visit` returns.
    pub fn walk<'a, F>(&'a self, opts: WalkOptions, mode: RecoveryMode, mut visit: F) -> Result<Tail>
    where
        F: FnMut(RawEvent<'a>, &Format) -> Result<bool>,
    {
        let mut it = self.events(opts);
        loop {
            match it.next_step() {
                Ok(None) => return Ok(Tail::Clean),
                Ok(Some(Step::Event(ev))) => {
                    let fmt = it.format().expect("an event is returned only once a format is known");
                    if !visit(ev, fmt)? {
                        return Ok(Tail::Stopped(ev.end_offset()));
                    }
                }
                Ok(Some(Step::Incomplete(inc))) => {
                    return match mode {
                        RecoveryMode::TolerateTruncatedTail => Ok(Tail::Incomplete(inc)),
                        RecoveryMode::AbsoluteConsistency => Err(self.truncated(inc)),
                    };
                }
                Err(e) => return Err(Error::parse(Some(&self.path), e)),
            }
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
