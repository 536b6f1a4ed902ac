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

use super::source::{Access, Source, Windows};

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

/// A log file opened read-only: the whole of it, or one window of it read
/// by a [`LiveFile`] walk (its bytes start at [`LogFile::base`]).
pub struct LogFile {
    path: PathBuf,
    source: Source,
    base: u64,
}

impl LogFile {
    /// Opens a file read-only (mapped, or read with [`Access::Read`]).
    ///
    /// # Errors
    /// The file cannot be opened or read, or (read) it shrank while being read.
    pub fn open(path: impl AsRef<Path>, access: Access) -> Result<LogFile> {
        let path = path.as_ref();
        Ok(LogFile { path: path.to_path_buf(), source: Source::open(path, access)?, base: 0 })
    }

    /// Reads at most the first `max` bytes of a file (a header's worth),
    /// never mapped; also returns the file's length at open. A walk of a
    /// prefix shorter than the file ends where the prefix does: only an
    /// [`RecoveryMode::TolerateNewFile`] walk should be made of it.
    ///
    /// # Errors
    /// As [`LogFile::open`] with [`Access::Read`].
    pub fn open_prefix(path: impl AsRef<Path>, max: usize) -> Result<(LogFile, u64)> {
        let path = path.as_ref();
        let (source, len) = Source::open_prefix(path, max)?;
        Ok((LogFile { path: path.to_path_buf(), source, base: 0 }, len))
    }

    /// Wraps bytes in memory under a display name (tests, fuzzing).
    pub fn from_bytes(name: impl Into<PathBuf>, bytes: Vec<u8>) -> LogFile {
        LogFile { path: name.into(), source: Source::from_vec(bytes), base: 0 }
    }

    /// File offset of [`LogFile::bytes`]'s first byte: 0, but for a window
    /// of a [`LiveFile`] walk. Event offsets are the file's.
    pub fn base(&self) -> u64 {
        self.base
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The bytes as of open (a window's: from [`LogFile::base`] on).
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
            let len = self.base + self.bytes().len() as u64; // the last window's end: the file's
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
        let i = usize::try_from(inc.at.saturating_sub(self.base)).unwrap_or(usize::MAX);
        let ty = self.bytes().get(i.saturating_add(4)).map(|&t| crate::event::EventType(t));
        Error::new(ErrorKind::Truncated { available: inc.available, needed: inc.needed })
            .with_file(&self.path)
            .at(inc.at, ty)
    }
}

/// A log file of a live (or restartable) server, walked from its start (or
/// an offset) to its end in windows ([`Windows`]: never mapped with
/// [`Access::Read`], never held whole), with the same rules as
/// [`LogFile::walk`]: an event that runs past the end of a window is read
/// again from its start in the next one; only at the end of the file is it
/// judged (torn end or damage).
pub struct LiveFile {
    path: PathBuf,
    windows: Windows,
}

impl LiveFile {
    /// Opens a file read-only and takes its length.
    ///
    /// # Errors
    /// The file cannot be opened.
    pub fn open(path: impl AsRef<Path>, access: Access) -> Result<LiveFile> {
        let path = path.as_ref();
        Ok(LiveFile { path: path.to_path_buf(), windows: Windows::open(path, access)? })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file's length at open.
    pub fn len(&self) -> u64 {
        self.windows.len()
    }

    /// Whether the file was empty at open.
    pub fn is_empty(&self) -> bool {
        self.windows.is_empty()
    }

    /// Walks from `from` (an event's offset and the format in effect there;
    /// `None`: the magic) to the end: `visit(Some((event, format)), window)`
    /// for each event, `visit(None, window)` before a window goes (a diff's
    /// pending copies of it must be flushed then). `visit` returns
    /// `Ok(false)` to stop early. Errors carry this file's name.
    ///
    /// # Errors
    /// A read error (also: the file shrank while being read), a parse error,
    /// an end judged wrong by [`LogFile::judge_end`], or what `visit` returns.
    pub fn walk<F>(
        &mut self,
        opts: WalkOptions,
        from: Option<(u64, Format)>,
        mode: RecoveryMode,
        mut visit: F,
    ) -> Result<Tail>
    where
        F: for<'w> FnMut(Option<(RawEvent<'w>, &'w Format)>, &'w LogFile) -> Result<bool>,
    {
        let len = self.windows.len();
        let mut state = crate::event::Suspended::start(from, opts);
        let mut need = 0usize;
        loop {
            let (source, base) = self.windows.read(state.position(), std::mem::take(&mut need))?;
            let lf = LogFile { path: self.path.clone(), source, base };
            let eof = base + lf.bytes().len() as u64 >= len;
            let mut it = EventIter::window(lf.bytes(), base, state, eof);
            let tail = loop {
                match it.next_step() {
                    Ok(Some(Step::Event(ev))) => {
                        let fmt = it.format().expect("an event is returned only once a format is known");
                        if !visit(Some((ev, fmt)), &lf)? {
                            break Some(Ok(Tail::Stopped(ev.end_offset())));
                        }
                    }
                    Ok(None) if eof => break Some(lf.judge_end(it.format().is_some(), None, mode)),
                    Ok(Some(Step::Incomplete(inc))) if eof => {
                        break Some(lf.judge_end(it.format().is_some(), Some(inc), mode));
                    }
                    Ok(None) => break None,
                    Ok(Some(Step::Incomplete(inc))) => {
                        need = usize::try_from(inc.needed).unwrap_or(usize::MAX);
                        break None;
                    }
                    Err(e) => return Err(Error::parse(Some(&self.path), e)),
                }
            };
            visit(None, &lf)?;
            if let Some(t) = tail {
                return t;
            }
            state = it.suspend();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(rel: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/mariadb").join(rel)
    }

    /// (offset, bytes) of every event, and the end, of a whole-file walk.
    type Walked = (Vec<(u64, Vec<u8>)>, Result<Tail, String>);

    fn whole(path: &Path, mode: RecoveryMode) -> Walked {
        let lf = LogFile::open(path, Access::Read).unwrap();
        let mut v = Vec::new();
        let t = lf.walk(WalkOptions::default(), mode, |ev, _| {
            v.push((ev.offset(), ev.as_bytes().to_vec()));
            Ok(true)
        });
        (v, t.map_err(|e| e.to_string()))
    }

    fn windowed(path: &Path, mode: RecoveryMode, first: usize, max: usize) -> Walked {
        let mut lf = LiveFile::open(path, Access::Read).unwrap();
        lf.windows =
            std::mem::replace(&mut lf.windows, Windows::open(path, Access::Read).unwrap()).with_sizes(first, max);
        let mut v = Vec::new();
        let mut windows = 0;
        let t = lf.walk(WalkOptions::default(), None, mode, |step, w| {
            match step {
                Some((ev, _)) => {
                    // The event is in this window, where the writer will look for it.
                    let at = (ev.offset() - w.base()) as usize;
                    assert_eq!(&w.bytes()[at..at + ev.size()], ev.as_bytes());
                    v.push((ev.offset(), ev.as_bytes().to_vec()));
                }
                None => windows += 1,
            }
            Ok(true)
        });
        assert!(windows > 1 || first > 40 || t.is_err(), "{}: one window", path.display());
        (v, t.map_err(|e| e.to_string()))
    }

    /// Windows as small as 40 bytes (events longer than a window, headers
    /// split between two) walk exactly as the whole file does, torn ends
    /// and damage included.
    #[test]
    fn a_walk_in_windows_is_the_walk_of_the_whole_file() {
        let tmp = tempfile::tempdir().unwrap();
        for f in [
            "row-crc32/master/mysql-bin.000001",
            "row-crc32/replica/relay-bin.000004",
            "big-trx-relay/master/mysql-bin.000001",
        ] {
            let b = std::fs::read(fixture(f)).unwrap();
            let mut cases = vec![("whole", b.clone()), ("cut", b[..b.len() - 7].to_vec())];
            let mut d = b.clone();
            let mid = whole(&fixture(f), RecoveryMode::AbsoluteConsistency).0[5].0 as usize;
            d[mid + 11] ^= 0x40; // a length 4 MiB too long, with whole events after it
            cases.push(("damaged", d));
            for (what, bytes) in cases {
                let p = tmp.path().join("f.000001");
                std::fs::write(&p, &bytes).unwrap();
                for mode in [RecoveryMode::AbsoluteConsistency, RecoveryMode::TolerateNewFile] {
                    let want = whole(&p, mode);
                    for (first, max) in [(40, 40), (100, 1000), (4096, 1 << 20)] {
                        assert_eq!(windowed(&p, mode, first, max), want, "{f} {what} {mode:?} windows {first}..{max}");
                    }
                }
            }
        }
    }
}
