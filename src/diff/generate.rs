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
use crate::event::{Boundary, ChecksumAlg, Class, Format, ParseError, RawEvent, TrxGrouper, WalkOptions, classify};
use crate::log::{Access, LiveFile, LogFile, LogKind, LogName, LogSet, RecoveryMode, Tail};
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
    /// Master coordinate after the last master data event read (kept or
    /// not): where the source's master data ends. A replica whose status
    /// claims more was read than this has a torn relay log.
    pub data_end: Option<MasterPos>,
}

/// Options for cutting diffs.
#[derive(Clone, Copy, Debug)]
pub struct CutOptions {
    /// Verify checksums of copied events.
    pub verify_checksums: bool,
    /// How to read files: [`Access::Read`] (the default) for a live or
    /// restartable server's files, which may shrink (mapped, a truncation
    /// would kill us with SIGBUS).
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
            access: Access::Read,
            allow_mid_transaction_start: false,
            own_server_id: None,
            keep_partial_tail: false,
        }
    }
}

/// Where a segment starts (an event boundary), and so which kind of source
/// it reads: a relay-log coordinate, or a coordinate in a master's binlogs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Start {
    /// A relay-log file and offset: the replica's own events are skipped.
    Relay(RelayPos),
    /// A master binlog file and offset: every event is the master's.
    Binlog(MasterPos),
}

impl Start {
    /// A start in a source whose kind is only known at run time (a file
    /// that may be a relay log or a binlog).
    pub fn new(kind: LogKind, file: LogName, pos: u64) -> Start {
        match kind {
            LogKind::Relay => Start::Relay(RelayPos::new(file, pos)),
            LogKind::Binlog => Start::Binlog(MasterPos::new(file, pos)),
        }
    }

    /// The kind of logs it reads: in relay logs the replica's own events
    /// are skipped; in a master's binlogs every event is the master's.
    pub fn kind(&self) -> LogKind {
        match self {
            Start::Relay(_) => LogKind::Relay,
            Start::Binlog(_) => LogKind::Binlog,
        }
    }

    /// The file where it starts.
    pub fn file(&self) -> &LogName {
        match self {
            Start::Relay(p) => &p.file,
            Start::Binlog(p) => &p.file,
        }
    }

    /// The offset in [`Start::file`].
    pub fn pos(&self) -> u64 {
        match self {
            Start::Relay(p) => p.pos,
            Start::Binlog(p) => p.pos,
        }
    }
}

impl From<RelayPos> for Start {
    fn from(p: RelayPos) -> Start {
        Start::Relay(p)
    }
}

impl From<MasterPos> for Start {
    fn from(p: MasterPos) -> Start {
        Start::Binlog(p)
    }
}

/// The latest replica's (or a target's own) relay logs from `start` to the
/// end, written to `out`.
///
/// # Errors
/// A damaged source (file, offset, event type), a start that is not an event
/// boundary, a start inside a transaction unless allowed, or an I/O error.
pub fn relay_diff(relay: &LogSet, start: &RelayPos, out: &Path, opts: &CutOptions) -> Result<DiffReport> {
    let mut c = Cutter::create(out, *opts)?;
    c.segment(relay, Start::Relay(start.clone()))?;
    c.finish()
}

/// The master's binlogs from `from` (an event boundary) to the end: what
/// `save_binary_logs` saves.
///
/// # Errors
/// As [`relay_diff`]; also when `from` is not where an event starts.
pub fn save_binlog(binlogs: &LogSet, from: &MasterPos, out: &Path, opts: &CutOptions) -> Result<DiffReport> {
    let mut c = Cutter::create(out, *opts)?;
    c.segment(binlogs, Start::Binlog(from.clone()))?;
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
    /// The last master format description its walks met: an empty diff
    /// still gets one (a binlog is its magic and a format description).
    last_fde: Option<(Vec<u8>, Format)>,
}

impl Cutter {
    /// Starts a diff at `out`.
    ///
    /// # Errors
    /// The temporary file cannot be created.
    pub fn create(out: &Path, opts: CutOptions) -> Result<Cutter> {
        let w = DiffWriter::create(out)?;
        Ok(Cutter { w, rep: DiffReport::default(), opts, open_group: None, segments: 0, last_fde: None })
    }

    /// A cutter that only counts what a diff would hold (for plans).
    pub fn counting(opts: CutOptions) -> Cutter {
        Cutter {
            w: DiffWriter::counting(),
            rep: DiffReport::default(),
            opts,
            open_group: None,
            segments: 0,
            last_fde: None,
        }
    }

    /// What has been kept so far.
    pub fn report(&self) -> &DiffReport {
        &self.rep
    }

    /// Appends `set` from `start` to the end, reading it as `start`'s kind
    /// of source. A transaction left open at the end of the segment is cut
    /// off (and reported) so the next segment starts on a boundary.
    ///
    /// # Errors
    /// See [`relay_diff`].
    pub fn segment(&mut self, set: &LogSet, start: Start) -> Result<()> {
        let mut r = shared_segment(set, vec![Join { cutter: self, start }]);
        r.pop().unwrap_or(Ok(()))
    }

    /// Finishes the file (fsync, rename).
    ///
    /// # Errors
    /// An I/O error.
    pub fn finish(mut self) -> Result<DiffReport> {
        // Nothing copied: still a binlog, which every reader takes for one without events.
        if let (None, Some((bytes, f))) = (self.w.format(), self.last_fde.take()) {
            let has_crc = f.checksum_aware && f.checksum == ChecksumAlg::Crc32;
            let fde = RawEvent::new(0, &bytes, has_crc).map_err(|e| Error::parse(None, e))?;
            self.w.set_format(&fde, &f)?;
        }
        let mut rep = std::mem::take(&mut self.rep);
        rep.written = self.w.finish()?;
        Ok(rep)
    }
}

/// Where one cutter joins a shared pass over a log set.
pub struct Join<'c> {
    /// The diff being built.
    pub cutter: &'c mut Cutter,
    /// Where its part starts (an event boundary), and which kind of source
    /// the set is read as for it.
    pub start: Start,
}

/// Appends `set` to several diffs in one pass: each cutter from its own start
/// to the end, as [`Cutter::segment`] would, byte for byte. Nested ranges
/// (replicas that lag by different amounts) are read, checked and
/// classified once; every event is handed to each cutter whose range has
/// begun, and each keeps its own transaction state, format and commit point.
/// A cutter that fails stops; the others go on. Joins that read the set as
/// different kinds of source (relay logs, binlogs) get a pass each.
///
/// Returns one result per join, in order.
///
/// # Errors
/// Per join, as [`Cutter::segment`]: its first file missing, a start past
/// the end of that file, not on an event or inside a transaction, a damaged
/// source in its range (file, offset, event type), or the diff's writer
/// gone. A damaged file fails every cutter whose range includes it.
pub fn shared_segment(set: &LogSet, joins: Vec<Join<'_>>) -> Vec<Result<()>> {
    let n = joins.len();
    let mut results: Vec<Option<Result<()>>> = (0..n).map(|_| None).collect();
    // Cutters that read files differently cannot share a walk: one pass per way of reading.
    type Group<'c> = ((LogKind, bool, Access), Vec<(usize, Join<'c>)>);
    let mut groups: Vec<Group<'_>> = Vec::new();
    for (i, j) in joins.into_iter().enumerate() {
        let key = (j.start.kind(), j.cutter.opts.verify_checksums, j.cutter.opts.access);
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, g)) => g.push((i, j)),
            None => groups.push((key, vec![(i, j)])),
        }
    }
    for ((kind, verify, access), g) in groups {
        let (idx, lanes): (Vec<usize>, Vec<Lane<'_>>) = g.into_iter().map(|(i, j)| (i, Lane::new(set, j))).unzip();
        for (i, r) in idx.into_iter().zip(pass(set, kind, verify, access, lanes)) {
            results[i] = Some(r);
        }
    }
    results.into_iter().map(|r| r.unwrap_or(Ok(()))).collect()
}

/// One cutter's state in a segment: what a walk of its own range would keep.
struct Lane<'c> {
    c: &'c mut Cutter,
    /// Index in the set's files of its first file.
    first_fi: usize,
    start: u64,
    first_segment: bool,
    // The state at `start` is learned by walking its first file from the beginning.
    grouper: TrxGrouper,
    cursor: MasterCursor,
    started: bool,
    copied_any: bool,
    /// The master format in effect, written before the next copied event when it changed.
    master_fde: Option<(Vec<u8>, Format)>,
    /// Why it stopped; it takes no further events.
    err: Option<Error>,
}

impl<'c> Lane<'c> {
    fn new(set: &LogSet, j: Join<'c>) -> Lane<'c> {
        let files = set.files();
        let first = j.start.file();
        let first_fi = files.partition_point(|(n, _)| n < first);
        let err = match files.get(first_fi) {
            Some((n, _)) if n == first => None,
            _ => Some(Error::bad_input(format!("log file {first}"), "not found")),
        };
        let first_segment = j.cutter.segments == 0;
        if err.is_none() {
            j.cutter.segments += 1;
        }
        let start = j.start.pos();
        let cursor = match j.start {
            Start::Relay(_) => MasterCursor::relay(j.cutter.opts.own_server_id, None),
            Start::Binlog(p) => MasterCursor::binlog(p.file),
        };
        Lane {
            c: j.cutter,
            first_fi,
            start,
            first_segment,
            grouper: TrxGrouper::mid_stream(),
            cursor,
            started: false,
            copied_any: false,
            master_fde: None,
            err,
        }
    }

    /// Takes events of file `fi`.
    fn active(&self, fi: usize) -> bool {
        self.err.is_none() && self.first_fi <= fi
    }

    fn fail(&mut self, e: Error) {
        self.err.get_or_insert(e);
    }

    /// One event of file `name` (`src`: that file; `class`: the event's classification).
    fn feed(
        &mut self,
        name: &LogName,
        path: &Path,
        src: &LogFile,
        ev: &RawEvent<'_>,
        fmt: &Format,
        class: std::result::Result<Class, ParseError>,
    ) -> Result<()> {
        let perr = |e| Error::parse(Some(path), e);
        let start = self.start;
        let opts = self.c.opts;
        if !self.started {
            if ev.offset() == start {
                self.started = true;
            } else if ev.offset() > start {
                return Err(Error::bad_input("diff start", format!("position {start} is not the start of an event"))
                    .with_file(path)
                    .at(ev.offset(), Some(ev.event_type())));
            }
        }
        let before = self.cursor.file().cloned().zip(self.cursor.pos());
        let origin = self.cursor.advance(ev, fmt).map_err(perr)?;
        if origin == Origin::MasterFde {
            self.master_fde = Some((ev.as_bytes().to_vec(), fmt.clone()));
            self.c.last_fde = self.master_fde.clone();
        }
        let role = self.grouper.feed(class.map_err(perr)?);
        let real_rotate = origin == Origin::MasterRotate && !ev.is_fake_rotate();
        if !self.started || !(origin.is_data() || real_rotate) {
            return Ok(());
        }
        let c = &mut *self.c;
        if !self.copied_any {
            self.copied_any = true;
            if c.rep.master_start.is_none() {
                c.rep.master_start = before.map(|(f, p)| MasterPos::new(f, p));
            }
            let mid = !matches!(role.boundary, Boundary::Open | Boundary::OpenClose | Boundary::Control);
            if mid && !(self.first_segment && opts.allow_mid_transaction_start) {
                return Err(Error::bad_input(
                    "diff start",
                    format!("position {start} is inside a transaction; a diff must start on a transaction boundary"),
                )
                .with_file(path)
                .at(ev.offset(), Some(ev.event_type())));
            }
            c.rep.starts_mid_transaction |= mid;
        }
        if let Some((bytes, f)) = self.master_fde.take() {
            let has_crc = f.checksum_aware && f.checksum == ChecksumAlg::Crc32;
            let fde = RawEvent::new(0, &bytes, has_crc).map_err(perr)?;
            c.w.flush_from(src)?;
            c.w.set_format(&fde, &f)?;
        }
        if c.w.format().is_none() {
            return Err(Error::bad_input("first event to copy", "no master format description before it")
                .with_file(path)
                .at(ev.offset(), Some(ev.event_type())));
        }
        c.w.copy_from(src, ev)?;
        c.rep.data_end = self.cursor.file().cloned().zip(self.cursor.pos()).map(|(f, p)| MasterPos::new(f, p));
        if role.boundary.opens() || (c.open_group.is_none() && self.grouper.in_group()) {
            c.open_group = Some(LeftOut { file: name.clone(), offset: ev.offset(), bytes: 0 });
        }
        if let Some(g) = c.open_group.as_mut() {
            g.bytes += ev.size() as u64;
        }
        if role.boundary.closes() {
            c.rep.transactions += 1;
        }
        if !self.grouper.in_group() {
            c.open_group = None;
            c.w.commit_point();
            c.rep.master_end = self.cursor.file().cloned().zip(self.cursor.pos()).map(|(f, p)| MasterPos::new(f, p));
        }
        Ok(())
    }

    /// After the last file: cut off (or keep) a trailing open transaction.
    fn end(self) -> Result<()> {
        if let Some(e) = self.err {
            return Err(e);
        }
        let c = self.c;
        if self.grouper.in_group() {
            if let Some(g) = c.open_group.take() {
                c.rep.left_out = Some(g);
            }
            if c.opts.keep_partial_tail {
                c.w.commit_point();
            } else {
                c.w.rollback_to_commit_point()?;
            }
        } else {
            c.rep.left_out = None;
        }
        if c.rep.master_end.is_none() {
            c.rep.master_end = c.rep.master_start.clone();
        }
        Ok(())
    }
}

/// The walk shared by `lanes`: every file from the earliest lane's first,
/// each event checked and classified once.
fn pass(set: &LogSet, kind: LogKind, verify: bool, access: Access, mut lanes: Vec<Lane<'_>>) -> Vec<Result<()>> {
    let files = set.files();
    let walk = WalkOptions { verify_checksums: verify };
    let begin = lanes.iter().filter(|l| l.err.is_none()).map(|l| l.first_fi).min().unwrap_or(files.len());
    for (fi, (name, path)) in files.iter().enumerate().skip(begin) {
        if !lanes.iter().any(|l| l.active(fi)) {
            if lanes.iter().all(|l| l.err.is_some()) {
                break;
            }
            continue;
        }
        if kind == LogKind::Binlog {
            for l in lanes.iter_mut().filter(|l| l.active(fi) && l.first_fi < fi) {
                l.cursor = MasterCursor::binlog(name.clone());
            }
        }
        let mut lf = match LiveFile::open(path, access) {
            Ok(lf) => lf,
            Err(e) => {
                for l in lanes.iter_mut().filter(|l| l.active(fi)) {
                    l.fail(e.duplicate());
                }
                continue;
            }
        };
        let len = lf.len();
        for l in lanes.iter_mut().filter(|l| l.active(fi) && l.first_fi == fi && l.start > len) {
            let start = l.start;
            l.fail(
                Error::bad_input("diff start", format!("position {start} is past the end of the file")).with_file(path),
            );
        }
        // The newest file may end torn (a crashed server), or even before its
        // format description (created just before the crash: nothing in it);
        // the others must be whole. Damage is never a torn end (EventIter).
        // Read in windows (a live server's file: never mapped, never whole);
        // each window's pending copies are handed over before it goes.
        let mode = RecoveryMode::TolerateNewFile.for_file(fi + 1 == files.len());
        let walked = lf.walk(walk, None, mode, |step, window| {
            match step {
                Some((ev, fmt)) => {
                    let class = classify(&ev, fmt);
                    for l in lanes.iter_mut().filter(|l| l.active(fi)) {
                        if let Err(e) = l.feed(name, path, window, &ev, fmt, class) {
                            l.fail(e);
                        }
                    }
                }
                None => {
                    for l in lanes.iter_mut().filter(|l| l.active(fi)) {
                        if let Err(e) = l.c.w.flush_from(window) {
                            l.fail(e);
                        }
                    }
                }
            }
            Ok(lanes.iter().any(|l| l.active(fi)))
        });
        match walked {
            Ok(Tail::Incomplete(_)) => {
                for l in lanes.iter_mut().filter(|l| l.active(fi)) {
                    l.c.rep.truncated_tail = true;
                }
            }
            Ok(_) => {}
            Err(e) => {
                for l in lanes.iter_mut().filter(|l| l.active(fi)) {
                    l.fail(e.duplicate());
                }
            }
        }
        for l in lanes.iter_mut().filter(|l| l.active(fi)) {
            if l.first_fi == fi {
                if !l.started && l.start != len {
                    let start = l.start;
                    l.fail(
                        Error::bad_input("diff start", format!("position {start} is not the start of an event"))
                            .with_file(path),
                    );
                }
                l.started = true; // later files are copied whole
            }
        }
    }
    lanes.into_iter().map(Lane::end).collect()
}
