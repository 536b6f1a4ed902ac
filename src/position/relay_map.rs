//! Mapping a master coordinate to a relay coordinate on the latest replica:
//! where, in its relay logs, do the events a target replica lacks begin?
//!
//! The answer is the relay offset just after the event whose master end
//! position equals the target's position (or after the ROTATE that moved
//! the master coordinate there). MHA's fast path (same master file: count
//! back from the end of the newest relay log) is used only when verified by
//! decoding every event from there to the end and checking that their
//! master positions chain up to the latest position; otherwise the relay
//! files are scanned, newest first, choosing the file by its header.
//!
//! The relay logs are a live (or restartable) replica's files: they are
//! read in windows, never mapped nor held whole ([`LiveFile`],
//! [`Access::Read`], see [`crate::log::source`]). Only the newest file may end torn
//! (or be just created, before its format description); an earlier one
//! must be whole ([`RecoveryMode::for_file`]).

use std::path::Path;

use crate::error::{Error, Result};
use crate::event::{Format, TrxGrouper, WalkOptions, classify};
use crate::log::{Access, LiveFile, LogName, LogSet, RecoveryMode, Tail};

use super::coords::{MasterPos, RelayPos};
use super::cursor::{MasterCursor, Origin};

/// Outcome of a mapping.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mapping {
    /// The missing events start here.
    Found {
        /// Relay coordinate where the target's missing events begin.
        start: RelayPos,
        /// Whether MHA's fast path found it (verified).
        fast: bool,
    },
    /// The target already has everything the latest replica has.
    AlreadyComplete,
}

/// Where each relay file starts, in master coordinates, from its header.
#[derive(Clone, Debug)]
pub struct RelayFileHead {
    /// The relay file.
    pub name: LogName,
    /// Master coordinate before the file's first master data event, if the
    /// header or first data event reveals it.
    pub start: Option<MasterPos>,
    /// Replica server id (from its FDE).
    pub own_server_id: Option<u32>,
}

/// Options for mapping.
#[derive(Clone, Copy, Debug)]
pub struct MapOptions {
    /// The latest replica's server id (MHA's `--server_id`); learned from the
    /// relay log's first FDE when `None`.
    pub own_server_id: Option<u32>,
    /// How to read files: [`Access::Read`] (the default): relay logs of a
    /// live replica may shrink, and a mapped file that shrinks raises SIGBUS.
    pub access: Access,
    /// Verify checksums while mapping. Off by default: mapping reads only
    /// headers, and the cut that follows verifies every event it copies.
    pub verify_checksums: bool,
}

impl Default for MapOptions {
    fn default() -> Self {
        MapOptions { own_server_id: None, access: Access::Read, verify_checksums: false }
    }
}

fn walk_opts(o: &MapOptions) -> WalkOptions {
    WalkOptions { verify_checksums: o.verify_checksums }
}

/// Reads a relay file's header: events up to and including the first master
/// data event, enough to know which master file and position it starts at
/// (read in windows: usually only the first, 64 KiB). `last`: it is the
/// newest file of its set (which alone may end torn, or before its format
/// description: just created).
///
/// # Errors
/// The file cannot be read or its header is damaged; an earlier file
/// (`!last`) that ends before its first data event and not whole.
pub fn read_head(
    path: &Path,
    name: &LogName,
    opts: &MapOptions,
    inherited: Option<LogName>,
    last: bool,
) -> Result<RelayFileHead> {
    let mut lf = LiveFile::open(path, opts.access)?;
    let mut cur = MasterCursor::relay(opts.own_server_id, inherited);
    let mut start = None;
    lf.walk(walk_opts(opts), None, RecoveryMode::TolerateNewFile.for_file(last), |step, _| {
        let Some((ev, fmt)) = step else { return Ok(true) };
        let before = cur.pos();
        let origin = cur.advance(&ev, fmt).map_err(|e| Error::parse(Some(path), e))?;
        match origin {
            Origin::MasterRotate => {
                start = Some(MasterPos::new(cur.file().cloned().expect("rotate sets a file"), cur.pos().unwrap_or(4)));
                Ok(true)
            }
            Origin::Data => {
                if start.is_none() {
                    // No rotate in the header: the first event's end minus its size.
                    if let (Some(f), Some(end)) = (cur.file(), cur.pos()) {
                        let s = before.unwrap_or_else(|| end.saturating_sub(ev.size() as u64));
                        start = Some(MasterPos::new(f.clone(), s));
                    }
                }
                Ok(false)
            }
            _ => Ok(true),
        }
    })?;
    Ok(RelayFileHead { name: name.clone(), start, own_server_id: cur.own_server_id() })
}

/// Finds where `target`'s missing events start in `relay` (the latest
/// replica's relay logs). `latest` is the latest replica's read position
/// (`Master_Log_File`, `Read_Master_Log_Pos`), used for the fast path and to
/// recognise a target that has everything.
///
/// # Errors
/// `BadInput` with "relay position not found" when no relay file holds the
/// target position (purged relay logs, or a target ahead of the latest), or
/// a read/parse error naming the file.
pub fn find_start(
    relay: &LogSet,
    target: &MasterPos,
    latest: Option<&MasterPos>,
    opts: &MapOptions,
) -> Result<Mapping> {
    if latest == Some(target) {
        return Ok(Mapping::AlreadyComplete);
    }
    if let Some(l) = latest {
        if target > l {
            return Err(Error::bad_input("target position", format!("{target} is ahead of the latest replica ({l})")));
        }
        if l.file == target.file {
            if let Some(start) = fast_path(relay, target, l, opts)? {
                return Ok(Mapping::Found { start, fast: true });
            }
        }
    }
    slow_path(relay, target, opts)
}

/// MHA's `relay_size - (latest_rmlp - target_rmlp)`, accepted only if every
/// event from there to the end decodes and their master positions chain
/// from `target` to `latest` without leaving the master file.
fn fast_path(relay: &LogSet, target: &MasterPos, latest: &MasterPos, opts: &MapOptions) -> Result<Option<RelayPos>> {
    let Some((name, path)) = relay.last() else { return Ok(None) };
    let mut lf = LiveFile::open(path, opts.access)?;
    let size = lf.len();
    let Some(start) = size.checked_sub(latest.pos - target.pos) else { return Ok(None) };
    // We need the format in effect at `start`: read the header events.
    let mut fmt: Option<Format> = None;
    let mut header_end = 4;
    let mut cur = MasterCursor::relay(opts.own_server_id, None);
    let header = lf.walk(walk_opts(opts), None, RecoveryMode::TolerateNewFile, |step, _| {
        let Some((ev, f)) = step else { return Ok(true) };
        match cur.advance(&ev, f) {
            Ok(Origin::Data) | Err(_) => Ok(false),
            Ok(_) => {
                fmt = Some(f.clone());
                header_end = ev.end_offset();
                Ok(true)
            }
        }
    });
    if header.is_err() {
        return Ok(None); // the slow path says what is wrong
    }
    let (Some(fmt), Some(mfile)) = (fmt, cur.file().cloned()) else { return Ok(None) };
    if mfile != latest.file || start < header_end {
        return Ok(None);
    }
    if start == size {
        return Ok(Some(RelayPos::new(name.clone(), start)));
    }
    let mut cur = MasterCursor::relay(cur.own_server_id(), Some(mfile));
    let mut expect = target.pos;
    let mut plain = true;
    let tail = lf.walk(walk_opts(opts), Some((start, fmt.clone())), RecoveryMode::AbsoluteConsistency, |step, _| {
        let Some((ev, _)) = step else { return Ok(true) };
        plain = match cur.advance(&ev, &fmt) {
            // Verbatim copies only: relay size equals master size.
            Ok(Origin::Data) if u64::from(ev.log_pos()) == expect + ev.size() as u64 => {
                expect = ev.log_pos().into();
                true
            }
            Ok(Origin::Own) => true,
            _ => false, // a master FDE/rotate in the tail: not a plain copy
        };
        Ok(plain)
    });
    if !matches!(tail, Ok(Tail::Clean)) || !plain {
        return Ok(None);
    }
    Ok((expect == latest.pos).then(|| RelayPos::new(name.clone(), start)))
}

/// Every file's head, oldest first: each inherits the master file of the
/// ones before (a file whose first events are the replica's own names no
/// master file) and the replica's own server id once a head has shown it.
/// The second value: that id, if any head showed it.
fn read_heads(relay: &LogSet, opts: &MapOptions) -> Result<(Vec<RelayFileHead>, Option<u32>)> {
    let files = relay.files();
    let mut heads = Vec::with_capacity(files.len());
    let mut inherited: Option<LogName> = None;
    let mut own = opts.own_server_id;
    for (i, (name, path)) in files.iter().enumerate() {
        let o = MapOptions { own_server_id: own, ..*opts };
        let h = read_head(path, name, &o, inherited.clone(), i + 1 == files.len())?;
        own = own.or(h.own_server_id);
        if let Some(s) = &h.start {
            inherited = Some(s.file.clone());
        }
        heads.push(h);
    }
    Ok((heads, own))
}

fn slow_path(relay: &LogSet, target: &MasterPos, opts: &MapOptions) -> Result<Mapping> {
    let files = relay.files();
    if files.is_empty() {
        return Err(Error::bad_input("relay position not found", "no relay log files"));
    }
    let (heads, own) = read_heads(relay, opts)?;
    // The newest file starting at or before the target holds the event
    // ending there, or a header event (a fake rotate) that puts it there, as
    // MHA reads it. But a relay log rotated on size between two events of one
    // transaction (where a target's IO thread may have stopped) begins with
    // only FDEs: the event ending at the target is then at the end of the
    // previous file, so the newest file starting strictly before the target
    // is tried next.
    let newest = |strict: bool| {
        heads.iter().rposition(|h| h.start.as_ref().is_some_and(|s| if strict { s < target } else { s <= target }))
    };
    let Some(first) = newest(false) else {
        return Err(Error::bad_input(
            "relay position not found",
            format!(
                "master position {target} is older than the oldest relay log ({}); were relay logs purged?",
                files[0].0
            ),
        ));
    };
    let mut tries = vec![first];
    tries.extend(newest(true).filter(|&i| i != first));
    for i in tries {
        for j in i..files.len() {
            let o = MapOptions { own_server_id: own, ..*opts };
            let inherit = heads[..=j].iter().rev().find_map(|h| h.start.as_ref().map(|s| s.file.clone()));
            match scan_file(&files[j].1, target, &o, inherit, j + 1 == files.len())? {
                Scan::At(pos) => {
                    // At the very end of the newest file: nothing is missing.
                    let (last, path) = files.last().unwrap();
                    let size = std::fs::metadata(path).map_err(|e| Error::io(path, e))?.len();
                    if &files[j].0 == last && pos == size {
                        return Ok(Mapping::AlreadyComplete);
                    }
                    return Ok(Mapping::Found { start: RelayPos::new(files[j].0.clone(), pos), fast: false });
                }
                Scan::Passed => break,
                Scan::NotYet => continue,
            }
        }
    }
    Err(Error::bad_input("relay position not found", format!("no event ends at master position {target}")))
}

enum Scan {
    At(u64),
    Passed,
    NotYet,
}

fn scan_file(path: &Path, target: &MasterPos, opts: &MapOptions, inherit: Option<LogName>, last: bool) -> Result<Scan> {
    let mut lf = LiveFile::open(path, opts.access)?;
    let mut cur = MasterCursor::relay(opts.own_server_id, inherit);
    let mut result = Scan::NotYet;
    lf.walk(walk_opts(opts), None, RecoveryMode::TolerateNewFile.for_file(last), |step, _| {
        let Some((ev, fmt)) = step else { return Ok(true) };
        let old_file = cur.file().cloned();
        let origin = cur.advance(&ev, fmt).map_err(|e| Error::parse(Some(path), e))?;
        if !matches!(origin, Origin::Data | Origin::MasterRotate | Origin::MasterMeta) {
            return Ok(true);
        }
        // After a real master ROTATE, the end of the old file and the start
        // of the new one are the same point.
        if origin == Origin::MasterRotate && !ev.is_fake_rotate() {
            if let Some(f) = old_file {
                if MasterPos::new(f, ev.log_pos().into()) == *target {
                    result = Scan::At(ev.end_offset());
                    return Ok(false);
                }
            }
        }
        let (Some(f), Some(p)) = (cur.file(), cur.pos()) else { return Ok(true) };
        let here = MasterPos::new(f.clone(), p);
        if here == *target {
            result = Scan::At(ev.end_offset());
            return Ok(false);
        }
        if origin == Origin::Data && here > *target {
            result = Scan::Passed;
            return Ok(false);
        }
        Ok(true)
    })?;
    Ok(result)
}

/// The newest relay file torn: it ends inside an event (or before its
/// format description: created just before a crash), so the relay logs
/// hold less than the replica's status claims (its host crashed), and the
/// last transaction in them is partial.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TornTail {
    /// Master coordinate where the last whole transaction ends.
    pub boundary: MasterPos,
    /// Relay coordinate right after it, where the partial one starts.
    pub at: RelayPos,
    /// Bytes from there to the end of the relay logs.
    pub bytes: u64,
}

/// Whether the newest relay file of `relay` is torn, and if so where the
/// last whole transaction before the tear ends. `None` when it ends on an
/// event boundary, or when no whole transaction precedes the tear.
///
/// # Errors
/// A file cannot be read or is damaged (also a damaged length that looks
/// like a tear: see [`crate::event::EventIter`]), or an earlier file is not whole.
pub fn torn_tail(relay: &LogSet, opts: &MapOptions) -> Result<Option<TornTail>> {
    let files = relay.files();
    let Some((_, last_path)) = files.last() else { return Ok(None) };
    let mut lf = LiveFile::open(last_path, opts.access)?;
    if !matches!(lf.walk(walk_opts(opts), None, RecoveryMode::TolerateNewFile, |_, _| Ok(true))?, Tail::Incomplete(_)) {
        return Ok(None);
    }
    let (heads, own) = read_heads(relay, opts)?;
    let mut after = 0u64;
    for j in (0..files.len()).rev() {
        let (name, path) = &files[j];
        let inherit = heads[..j].iter().rev().find_map(|h| h.start.as_ref().map(|s| s.file.clone()));
        let mut lf = LiveFile::open(path, opts.access)?;
        let mut cur = MasterCursor::relay(own, inherit);
        let mut g = TrxGrouper::new();
        let mut last = None;
        let mode = RecoveryMode::TolerateNewFile.for_file(j + 1 == files.len());
        lf.walk(walk_opts(opts), None, mode, |step, _| {
            let Some((ev, fmt)) = step else { return Ok(true) };
            if cur.advance(&ev, fmt).map_err(|e| Error::parse(Some(path), e))? != Origin::Data {
                return Ok(true);
            }
            let c = classify(&ev, fmt).map_err(|e| Error::parse(Some(path), e))?;
            if g.feed(c).boundary.closes() {
                if let (Some(f), Some(p)) = (cur.file(), cur.pos()) {
                    last = Some((MasterPos::new(f.clone(), p), ev.end_offset()));
                }
            }
            Ok(true)
        })?;
        let size = lf.len();
        if let Some((boundary, off)) = last {
            return Ok(Some(TornTail { boundary, at: RelayPos::new(name.clone(), off), bytes: size - off + after }));
        }
        after += size;
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A copy of the row-crc32 fixture's relay logs with the newest file
    /// torn inside GTID 0-1-13 (relay-bin.000004 1361..1668, master
    /// 1062..1369): the last whole transaction ends at master 1062.
    #[test]
    fn a_torn_newest_relay_file_ends_at_the_last_whole_transaction() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/mariadb/row-crc32/replica");
        let dir = tempfile::tempdir().unwrap();
        for n in ["relay-bin.000001", "relay-bin.000002", "relay-bin.000003", "relay-bin.000004", "relay-bin.index"] {
            std::fs::copy(src.join(n), dir.path().join(n)).unwrap();
        }
        let set = LogSet::discover(dir.path(), crate::log::LogKind::Relay).unwrap();
        let o = MapOptions { own_server_id: Some(2), ..MapOptions::default() };
        assert_eq!(torn_tail(&set, &o).unwrap(), None, "whole: not torn");
        let last = dir.path().join("relay-bin.000004");
        let whole = std::fs::read(&last).unwrap();
        for cut in [1450, 1667] {
            std::fs::write(&last, &whole[..cut]).unwrap();
            let t = torn_tail(&set, &o).unwrap().expect("torn");
            assert_eq!(t.boundary.to_string(), "mysql-bin.000002:1062");
            assert_eq!(t.at.to_string(), "relay-bin.000004:1361");
            assert_eq!(t.bytes, cut as u64 - 1361);
        }
    }
}
