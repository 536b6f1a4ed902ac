//! `binlog-diff verify`: structure and checksums of every event.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{Error, Result};
use crate::event::payload::Payload;
use crate::event::{ChecksumAlg, EventIter, EventType, ParseError, ParseErrorKind, Step, WalkOptions, classify};
use crate::log::{Access, LogFile, RecoveryMode, Tail};

use super::summary::check_body;

/// What a clean verification found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyReport {
    /// Events walked (payload inner events not counted).
    pub events: u64,
    /// Bytes covered by whole events, magic included.
    pub bytes: u64,
    /// Events whose CRC32 was checked.
    pub checksummed: u64,
    /// Unknown events skipped thanks to their IGNORABLE flag.
    pub ignorable: u64,
    /// Checksum algorithms in effect, in order of first appearance.
    pub algorithms: Vec<ChecksumAlg>,
    /// How the file ended.
    pub tail: Tail,
}

impl VerifyReport {
    /// The one-line report printed for a clean file.
    pub fn line(&self, file: &LogFile) -> String {
        self.line_at(file.path())
    }

    /// [`line`](Self::line) for the file at `path`.
    pub fn line_at(&self, path: &Path) -> String {
        let algs: Vec<&str> = self.algorithms.iter().map(|a| a.name()).collect();
        let mut s = format!(
            "{}: OK events={} bytes={} checksum={} verified={}",
            path.display(),
            self.events,
            self.bytes,
            if algs.is_empty() { "-".to_string() } else { algs.join(",") },
            self.checksummed
        );
        if self.ignorable > 0 {
            s.push_str(&format!(" ignorable={}", self.ignorable));
        }
        if let Tail::Incomplete(inc) = self.tail {
            s.push_str(&format!(" incomplete-tail at={} available={} needed={}", inc.at, inc.available, inc.needed));
        }
        s
    }
}

/// Walks `file`, verifying every checksum, decoding every body we know, and
/// walking the inner events of compressed payloads.
///
/// # Errors
/// The first damage found, with file, offset and event type.
pub fn verify(file: &LogFile, recovery: RecoveryMode) -> Result<VerifyReport> {
    let mut r =
        VerifyReport { events: 0, bytes: 4, checksummed: 0, ignorable: 0, algorithms: Vec::new(), tail: Tail::Clean };
    let perr = |e: ParseError| Error::parse(Some(file.path()), e);
    let tail = file.walk(WalkOptions { verify_checksums: true }, recovery, |ev, fmt| {
        r.events += 1;
        r.bytes += ev.size() as u64;
        r.checksummed += ev.has_checksum() as u64;
        if !ev.event_type().is_known() {
            r.ignorable += 1;
        }
        if !r.algorithms.contains(&fmt.checksum) {
            r.algorithms.push(fmt.checksum);
        }
        check_body(&ev, fmt).map_err(perr)?;
        classify(&ev, fmt).map_err(perr)?;
        if ev.event_type() == EventType::TRANSACTION_PAYLOAD {
            let at = |k| perr(ParseError { kind: k, at: ev.offset(), event_type: Some(ev.event_type()) });
            let p = Payload::parse(&ev, fmt).map_err(perr)?;
            let data = p.decompress().map_err(at)?;
            let mut it = EventIter::inner(&data, fmt.clone());
            loop {
                match it.next_step() {
                    Ok(None) => break,
                    Ok(Some(Step::Event(inner))) => {
                        if inner.event_type() == EventType::TRANSACTION_PAYLOAD {
                            return Err(at(ParseErrorKind::NestedPayload));
                        }
                        check_body(&inner, fmt).map_err(|e| perr(ParseError { at: ev.offset(), ..e }))?;
                    }
                    Ok(Some(Step::Incomplete(_))) => {
                        return Err(at(ParseErrorKind::Truncated("payload inner events")));
                    }
                    Err(e) => {
                        return Err(perr(ParseError { at: ev.offset(), ..e }));
                    }
                }
            }
        }
        Ok(true)
    })?;
    if file.bytes().len() < 4 {
        r.bytes = 0;
    }
    r.tail = tail;
    Ok(r)
}

/// [`verify`] of each file, opened with `access`, in the order given
/// (side by side on every core with `parallel`); `done` is told the size
/// of each file as it is finished (a progress bar).
pub fn verify_files(
    files: &[PathBuf],
    access: Access,
    recovery: RecoveryMode,
    parallel: bool,
    done: &(dyn Fn(u64) + Sync),
) -> Vec<Result<VerifyReport>> {
    let one = |f: &PathBuf| match LogFile::open(f, access) {
        Ok(lf) => {
            let r = verify(&lf, recovery);
            done(lf.bytes().len() as u64);
            r
        }
        Err(e) => {
            done(0);
            Err(e)
        }
    };
    if parallel {
        use rayon::prelude::*;
        files.par_iter().map(one).collect()
    } else {
        files.iter().map(one).collect()
    }
}

/// One file's result as `verify --json` prints it: one object per file,
/// one per line, in the order the files were given. Every key is always
/// present; what is not known is `null`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct VerifyRecord {
    /// The file, as given.
    pub file: String,
    /// Clean: every event whole (or a torn tail the command was told to
    /// accept), every checksum and every body we know good.
    pub ok: bool,
    /// Events walked (inner events of compressed payloads not counted).
    pub events: Option<u64>,
    /// Bytes covered by whole events, the magic number included.
    pub bytes: Option<u64>,
    /// Checksum algorithms in effect (`CRC32`, `NONE`), in order of first
    /// appearance; empty when not clean.
    pub checksums: Vec<&'static str>,
    /// Events whose CRC32 was checked.
    pub verified: Option<u64>,
    /// Unknown events skipped thanks to their IGNORABLE flag.
    pub ignorable: Option<u64>,
    /// The unfinished last event of a torn tail that was accepted
    /// (`--allow-truncated`), else `null`.
    pub incomplete_tail: Option<IncompleteTail>,
    /// Why the file is not clean, else `null`.
    pub error: Option<VerifyError>,
}

/// An accepted torn tail: where its unfinished event starts and how much
/// of it is there.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct IncompleteTail {
    /// Offset where the unfinished event starts.
    pub at: u64,
    /// Bytes present from `at` to the end of the file.
    pub available: u64,
    /// Bytes the event needs (19 when even its header is cut short).
    pub needed: u64,
}

/// Why a file is not clean.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct VerifyError {
    /// The message the text output prints: `FILE @ OFFSET (TYPE): what`.
    pub message: String,
    /// `true`: the file is damaged (not a binlog, corrupt, cut short; exit
    /// 1); `false`: it could not be read (exit 2).
    pub damaged: bool,
    /// Byte offset of the damage, when known.
    pub offset: Option<u64>,
    /// Type of the event at that offset, when its header was readable.
    pub event_type: Option<String>,
}

impl VerifyRecord {
    /// The record of `path`'s [`verify`] result.
    pub fn new(path: &Path, result: &Result<VerifyReport>) -> VerifyRecord {
        let file = path.display().to_string();
        match result {
            Ok(r) => VerifyRecord {
                file,
                ok: true,
                events: Some(r.events),
                bytes: Some(r.bytes),
                checksums: r.algorithms.iter().map(|a| a.name()).collect(),
                verified: Some(r.checksummed),
                ignorable: Some(r.ignorable),
                incomplete_tail: match r.tail {
                    Tail::Incomplete(i) => Some(IncompleteTail { at: i.at, available: i.available, needed: i.needed }),
                    _ => None,
                },
                error: None,
            },
            Err(e) => VerifyRecord {
                file,
                ok: false,
                events: None,
                bytes: None,
                checksums: Vec::new(),
                verified: None,
                ignorable: None,
                incomplete_tail: None,
                error: Some(VerifyError {
                    message: e.to_string(),
                    damaged: e.is_damage(),
                    offset: e.location().offset,
                    event_type: e.location().event_type.map(|t| t.to_string()),
                }),
            },
        }
    }
}
