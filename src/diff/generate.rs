//! Cutting diffs: the dead master's binlog tail (`save`), the latest
//! replica's relay logs from a mapped offset (`relay`), and a replica's own
//! relay log from its SQL thread to what it has read (`exec→read`, the same
//! walk on its own relay logs). Only master data events are copied; the
//! replica's own events, master FDEs (rewritten only when the format
//! changes), fake rotates and per-file metadata (GTID_LIST,
//! BINLOG_CHECKPOINT, PREVIOUS_GTIDS: mariadb-binlog's GTID strict mode stops
//! on a GTID_LIST in mid-stream) are not. What is kept always ends on a
//! transaction boundary.

use std::path::Path;

use crate::error::{Error, Result};
use crate::event::{Boundary, ChecksumAlg, Format, RawEvent, Step, TrxGrouper, WalkOptions, classify};
use crate::log::{Access, LogFile, LogName, LogSet};
use crate::position::{MasterCursor, MasterPos, Origin, RelayPos};

use super::writer::{DiffWriter, Written};

/// A transaction left out at the end (the master died mid-write, or an IO
/// thread stopped inside a transaction).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeftOut {
    /// Source file where it starts.
    pub file: LogName,
    /// Offset of its first event in that file.
    pub offset: u64,
    /// Bytes of it that were present (all files).
    pub bytes: u64,
}

/// What a generated diff contains.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DiffReport {
    /// The output file's contents.
    pub written: Written,
    /// Whole transactions copied.
    pub transactions: u64,
    /// Master coordinate of the first copied event's start, if any was copied.
    pub master_start: Option<MasterPos>,
    /// Master coordinate after the last kept event (where the target ends up).
    pub master_end: Option<MasterPos>,
    /// The diff starts inside a transaction (only for MHA's read→latest pieces).
    pub starts_mid_transaction: bool,
    /// The trailing incomplete transaction, if any.
    pub left_out: Option<LeftOut>,
    /// The last source file ended inside an event (truncated).
    pub truncated_tail: bool,
}

/// Options for cutting diffs.
#[derive(Clone, Copy, Debug)]
pub struct CutOptions {
    /// Verify checksums of copied events.
    pub verify_checksums: bool,
    /// How to read files.
    pub access: Access,
    /// Accept a start inside a transaction (MHA's `generate` from a read position).
    pub allow_mid_transaction_start: bool,
    /// The replica's own server id for relay logs (else its first FDE's).
    pub own_server_id: Option<u32>,
    /// Keep a trailing incomplete transaction (still reported in
    /// `left_out`): MHA's read→latest piece, whose end follows in the next
    /// file applied with it. Off for everything that must stand alone.
    pub keep_partial_tail: bool,
}

impl Default for CutOptions {
    fn default() -> Self {
        CutOptions {
            verify_checksums: true,
            access: Access::Mmap,
            allow_mid_transaction_start: false,
            own_server_id: None,
            keep_partial_tail: false,
        }
    }
}

/// Which kind of source a segment reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// Relay logs: the replica's own events are skipped.
    Relay,
    /// A master's binlogs: every event is the master's.
    Binlog,
}

/// The latest replica's (or a target's own) relay logs from `start` to the
/// end, written to `out`.
///
/// # Errors
/// A damaged source (file, offset, event type), a start that is not an event
/// boundary, a start inside a transaction unless allowed, or an I/O error.
pub fn relay_diff(relay: &LogSet, start: &RelayPos, out: &Path, opts: &CutOptions) -> Result<DiffReport> {
    let mut c = Cutter::create(out, *opts)?;
    c.segment(relay, &start.file, start.pos, Source::Relay)?;
    c.finish()
}

/// The master's binlogs from `from` (an event boundary) to the end: what
/// `save_binary_logs` saves.
///
/// # Errors
/// As [`relay_diff`]; also when `from` is not where an event starts.
pub fn save_binlog(binlogs: &LogSet, from: &MasterPos, out: &Path, opts: &CutOptions) -> Result<DiffReport> {
    let mut c = Cutter::create(out, *opts)?;
    c.segment(binlogs, &from.file, from.pos, Source::Binlog)?;
    c.finish()
}

/// Builds one diff from one or more segments (relay logs, then the master's
/// binlog tail), keeping a single transaction-boundary state across them.
pub struct Cutter {
    w: DiffWriter,
    rep: DiffReport,
    opts: CutOptions,
    open_group: Option<LeftOut>,
    segments: usize,
}

impl Cutter {
    /// Starts a diff at `out`.
    ///
    /// # Errors
    /// The temporary file cannot be created.
    pub fn create(out: &Path, opts: CutOptions) -> Result<Cutter> {
        Ok(Cutter { w: DiffWriter::create(out)?, rep: DiffReport::default(), opts, open_group: None, segments: 0 })
    }

    /// A cutter that only counts what a diff would hold (for plans).
    pub fn counting(opts: CutOptions) -> Cutter {
        Cutter { w: DiffWriter::counting(), rep: DiffReport::default(), opts, open_group: None, segments: 0 }
    }

    /// What has been kept so far.
    pub fn report(&self) -> &DiffReport {
        &self.rep
    }

    /// Appends `set` from file `first` at offset `start` to the end. A
    /// transaction left open at the end of the segment is cut off (and
    /// reported) so the next segment starts on a boundary.
    ///
    /// # Errors
    /// See [`relay_diff`].
    pub fn segment(&mut self, set: &LogSet, first: &LogName, start: u64, kind: Source) -> Result<()> {
        let files = set.from_name(first);
        if files.first().map(|f| &f.0) != Some(first) {
            return Err(Error::invalid(format!("log file {first} not found")));
        }
        let opts = self.opts;
        let first_segment = self.segments == 0;
        self.segments += 1;
        // The state at `start` is learned by walking the first file from its beginning.
        let mut grouper = TrxGrouper::mid_stream();
        let mut cursor = match kind {
            Source::Relay => MasterCursor::relay(opts.own_server_id, None),
            Source::Binlog => MasterCursor::binlog(first.clone()),
        };
        let mut started = false;
        let mut copied_any = false;
        // The master format in effect, written before the next copied event when it changed.
        let mut master_fde: Option<(Vec<u8>, Format)> = None;
        let walk = WalkOptions { verify_checksums: opts.verify_checksums };
        for (fi, (name, path)) in files.iter().enumerate() {
            if fi > 0 && kind == Source::Binlog {
                cursor = MasterCursor::binlog(name.clone());
            }
            let perr = |e| Error::parse(Some(path), e);
            let lf = LogFile::open(path, opts.access)?;
            let len = lf.bytes().len() as u64;
            if fi == 0 && start > len {
                return Err(
                    Error::invalid(format!("start position {start} is past the end of the file")).with_file(path)
                );
            }
            let mut it = lf.events(walk);
            loop {
                let ev = match it.next_step().map_err(perr)? {
                    None => break,
                    Some(Step::Event(ev)) => ev,
                    Some(Step::Incomplete(_)) if fi + 1 == files.len() => {
                        self.rep.truncated_tail = true;
                        break;
                    }
                    Some(Step::Incomplete(inc)) => return Err(lf.truncated(inc)),
                };
                let fmt = it.format().expect("format known after an event");
                if !started {
                    if ev.offset() == start {
                        started = true;
                    } else if ev.offset() > start {
                        return Err(Error::invalid(format!("position {start} is not the start of an event"))
                            .with_file(path)
                            .at(ev.offset(), Some(ev.event_type())));
                    }
                }
                let before = cursor.file().cloned().zip(cursor.pos());
                let origin = cursor.advance(&ev, fmt).map_err(perr)?;
                if origin == Origin::MasterFde {
                    master_fde = Some((ev.as_bytes().to_vec(), fmt.clone()));
                }
                let role = grouper.feed(classify(&ev, fmt).map_err(perr)?);
                let real_rotate = origin == Origin::MasterRotate && !ev.is_fake_rotate();
                if !started || !(origin.is_data() || real_rotate) {
                    continue;
                }
                if !copied_any {
                    copied_any = true;
                    if self.rep.master_start.is_none() {
                        self.rep.master_start = before.map(|(f, p)| MasterPos::new(f, p));
                    }
                    let mid = !matches!(role.boundary, Boundary::Open | Boundary::OpenClose | Boundary::Control);
                    if mid && !(first_segment && opts.allow_mid_transaction_start) {
                        return Err(Error::invalid(format!(
                            "position {start} is inside a transaction; a diff must start on a transaction boundary"
                        ))
                        .with_file(path)
                        .at(ev.offset(), Some(ev.event_type())));
                    }
                    self.rep.starts_mid_transaction |= mid;
                }
                if let Some((bytes, f)) = master_fde.take() {
                    let has_crc = f.checksum_aware && f.checksum == ChecksumAlg::Crc32;
                    let fde = RawEvent::new(0, &bytes, has_crc).map_err(perr)?;
                    self.w.set_format(&fde, &f)?;
                }
                if self.w.format().is_none() {
                    return Err(Error::invalid("no master format description before the first event").with_file(path));
                }
                self.w.copy(&ev)?;
                if role.boundary.opens() || (self.open_group.is_none() && grouper.in_group()) {
                    self.open_group = Some(LeftOut { file: name.clone(), offset: ev.offset(), bytes: 0 });
                }
                if let Some(g) = self.open_group.as_mut() {
                    g.bytes += ev.size() as u64;
                }
                if role.boundary.closes() {
                    self.rep.transactions += 1;
                }
                if !grouper.in_group() {
                    self.open_group = None;
                    self.w.commit_point();
                    self.rep.master_end = cursor.file().cloned().zip(cursor.pos()).map(|(f, p)| MasterPos::new(f, p));
                }
            }
            if fi == 0 && !started && start != len {
                return Err(Error::invalid(format!("position {start} is not the start of an event")).with_file(path));
            }
            started = true; // later files are copied whole
        }
        if grouper.in_group() {
            if let Some(g) = self.open_group.take() {
                self.rep.left_out = Some(g);
            }
            if opts.keep_partial_tail {
                self.w.commit_point();
            } else {
                self.w.rollback_to_commit_point()?;
            }
        } else {
            self.rep.left_out = None;
        }
        if self.rep.master_end.is_none() {
            self.rep.master_end = self.rep.master_start.clone();
        }
        Ok(())
    }

    /// Finishes the file (fsync, rename).
    ///
    /// # Errors
    /// An I/O error.
    pub fn finish(mut self) -> Result<DiffReport> {
        let mut rep = std::mem::take(&mut self.rep);
        rep.written = self.w.finish()?;
        Ok(rep)
    }
}
