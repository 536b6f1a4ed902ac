//! `binlog-diff dump`: one line per event.
//!
//! Everything is formatted into a byte buffer that is written out a block
//! at a time. With `--rows` and more than one thread, ranges of events
//! (chunks, cut before a transaction's GTID event once a chunk holds its
//! share of [`IN_FLIGHT_BYTES`]) are formatted in parallel and written in
//! source order, [`IN_FLIGHT`] chunks per thread at most, so that the input
//! held, and the text made of it, stay bounded whatever the thread count. A chunk starts from a clone of
//! the row printer as it stands before the chunk's first event (the FDE and
//! the table maps seen before it), which the walking thread keeps up to date,
//! so the output is the serial output byte for byte, and an error stops it
//! at the same place.

use std::io::Write;

use crate::error::{Error, Result};
use crate::event::payload::Payload;
use crate::event::{EventIter, EventType, Format, ParseError, RawEvent, Step, WalkOptions};
use crate::log::{LogFile, RecoveryMode, Tail};

use super::rows::RowPrinter;
use super::summary::summarize;

/// Options for [`dump`].
#[derive(Clone, Debug, Default)]
pub struct DumpOptions {
    /// One JSON object per line instead of text.
    pub json: bool,
    /// Show only events starting at or after this offset.
    pub start_position: Option<u64>,
    /// Stop before the first event starting at or after this offset.
    pub stop_position: Option<u64>,
    /// Decode row events into values, as `mysqlbinlog -v` does.
    pub rows: bool,
    /// Skip CRC verification (faster; damage is then found only by structure).
    pub no_verify: bool,
    /// What a truncated last event means.
    pub recovery: RecoveryMode,
    /// Threads formatting row events (`rows` only); 0 or 1: serial.
    pub threads: usize,
    /// Input bytes of a parallel chunk (0: from the thread count); small values are for tests.
    #[doc(hidden)]
    pub chunk_bytes: usize,
}

/// Input bytes of all the chunks in flight at most (the text made of them
/// is about 2.5 times as much).
const IN_FLIGHT_BYTES: usize = 8 << 20;
/// Bounds of a chunk's input bytes (cut at the next GTID event after).
const CHUNK_MIN: usize = 64 << 10;
const CHUNK_MAX: usize = 512 << 10;
/// A chunk without a GTID event is cut at this many times its size anyway
/// (a clone of the printer carries a transaction's table maps over).
const CHUNK_MAX_FACTOR: usize = 2;
/// Chunks in flight per thread.
const IN_FLIGHT: usize = 2;
/// Formatted bytes written at a time.
const WRITE_BLOCK: usize = 1 << 16;

fn io(file: &LogFile) -> impl Fn(std::io::Error) -> Error + '_ {
    move |e| Error::io(file.path(), e)
}

/// Writes one line per event of `file` to `out`. Everything before a damaged
/// event is written before the error is returned.
///
/// # Errors
/// The first parse error (file, offset, event type), a truncated tail under
/// [`RecoveryMode::AbsoluteConsistency`], or a write error.
pub fn dump(out: &mut dyn Write, file: &LogFile, opts: &DumpOptions) -> Result<Tail> {
    let tail =
        if opts.rows && opts.threads > 1 { dump_parallel(out, file, opts)? } else { dump_serial(out, file, opts)? };
    if let Tail::Incomplete(inc) = tail {
        let msg = format!("# incomplete event at {}: {} of {} bytes present\n", inc.at, inc.available, inc.needed);
        if opts.json {
            let v = serde_json::json!({"offset": inc.at, "incomplete": true, "available": inc.available, "needed": inc.needed});
            writeln!(out, "{v}").map_err(io(file))?;
        } else {
            out.write_all(msg.as_bytes()).map_err(io(file))?;
        }
    }
    Ok(tail)
}

fn dump_serial(out: &mut dyn Write, file: &LogFile, opts: &DumpOptions) -> Result<Tail> {
    let mut f = Formatter::new(file, opts, opts.rows.then(RowPrinter::new));
    let mut buf = Vec::with_capacity(2 * WRITE_BLOCK);
    let walk = WalkOptions { verify_checksums: !opts.no_verify };
    let stop = opts.stop_position.unwrap_or(u64::MAX);
    let res = file.walk(walk, opts.recovery, |ev, fmt| {
        if ev.offset() >= stop {
            return Ok(false);
        }
        let r = f.event(&mut buf, &ev, fmt);
        if buf.len() >= WRITE_BLOCK || r.is_err() {
            out.write_all(&buf).map_err(io(file))?;
            buf.clear();
        }
        r.map(|()| true)
    });
    out.write_all(&buf).map_err(io(file))?;
    res
}

/// Formats events: the event lines, and the row values with `--rows`.
struct Formatter<'f> {
    file: &'f LogFile,
    opts: &'f DumpOptions,
    rows: Option<RowPrinter>,
    line: String,
    start: u64,
}

impl<'f> Formatter<'f> {
    fn new(file: &'f LogFile, opts: &'f DumpOptions, rows: Option<RowPrinter>) -> Self {
        Formatter { file, opts, rows, line: String::with_capacity(256), start: opts.start_position.unwrap_or(0) }
    }

    /// Appends event `ev`'s lines to `buf`; on an error, what precedes it.
    fn event(&mut self, buf: &mut Vec<u8>, ev: &RawEvent<'_>, fmt: &Format) -> Result<()> {
        let (file, opts) = (self.file, self.opts);
        let path = file.path();
        if let Some(r) = self.rows.as_mut() {
            // Table maps and the FDE must be seen even before --start-position.
            r.observe(ev, fmt).map_err(|e| Error::parse(Some(path), e))?;
        }
        if ev.offset() < self.start {
            return Ok(());
        }
        self.line.clear();
        let res = event_line(&mut self.line, ev, fmt, opts.json, None);
        buf.extend_from_slice(self.line.as_bytes());
        res.map_err(|e| Error::parse(Some(path), e))?;
        if ev.event_type() == EventType::TRANSACTION_PAYLOAD {
            dump_inner(buf, file, ev, fmt, opts, &mut self.line, self.rows.as_mut())?;
        }
        if let Some(r) = self.rows.as_mut() {
            print_rows(buf, file, r, ev, fmt, opts.json, ev.offset(), &mut self.line)?;
        }
        Ok(())
    }
}

/// A range of events formatted by one thread.
struct Chunk<'a> {
    /// The printer as it stands before the first event.
    rows: RowPrinter,
    fmt: Format,
    events: Vec<RawEvent<'a>>,
    bytes: usize,
}

/// What a chunk printed, and the error that stopped it.
type Printed = (Vec<u8>, Result<()>);

fn format_chunk(file: &LogFile, opts: &DumpOptions, c: Chunk<'_>) -> Printed {
    let mut f = Formatter::new(file, opts, Some(c.rows));
    let mut buf = Vec::with_capacity(c.bytes * 2);
    for ev in &c.events {
        if let Err(e) = f.event(&mut buf, ev, &c.fmt) {
            return (buf, Err(e));
        }
    }
    (buf, Ok(()))
}

fn dump_parallel(out: &mut dyn Write, file: &LogFile, opts: &DumpOptions) -> Result<Tail> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(opts.threads)
        .thread_name(|i| format!("dump-rows-{i}"))
        .build()
        .map_err(|e| Error::invalid(format!("--threads {}: {e}", opts.threads)))?;
    let in_flight = opts.threads * IN_FLIGHT;
    let chunk_bytes = match opts.chunk_bytes {
        0 => (IN_FLIGHT_BYTES / (in_flight * CHUNK_MAX_FACTOR)).clamp(CHUNK_MIN, CHUNK_MAX),
        n => n,
    };
    let walk = WalkOptions { verify_checksums: !opts.no_verify };
    let stop = opts.stop_position.unwrap_or(u64::MAX);
    pool.in_place_scope(|scope| {
        let mut w = Ordered::new(out, file, opts, in_flight);
        // The printer as the serial walk would have it before the next event.
        let mut tracker = RowPrinter::new();
        let mut cur: Option<Chunk<'_>> = None;
        let res = file.walk(walk, opts.recovery, |ev, fmt| {
            if ev.offset() >= stop {
                return Ok(false);
            }
            let cut = cur.as_ref().is_none_or(|c| {
                &c.fmt != fmt
                    || c.bytes >= chunk_bytes * CHUNK_MAX_FACTOR
                    || (c.bytes >= chunk_bytes
                        && matches!(
                            ev.event_type(),
                            EventType::MARIA_GTID
                                | EventType::GTID
                                | EventType::ANONYMOUS_GTID
                                | EventType::GTID_TAGGED
                        ))
            });
            if cut {
                let next = Chunk { rows: tracker.clone(), fmt: fmt.clone(), events: Vec::new(), bytes: 0 };
                if let Some(done) = cur.replace(next) {
                    if !w.submit(scope, done) {
                        return Ok(false);
                    }
                }
            }
            let c = cur.as_mut().expect("set above");
            c.events.push(ev);
            c.bytes += ev.size();
            track(&mut tracker, &ev, fmt);
            Ok(true)
        });
        if let Some(done) = cur.take() {
            w.submit(scope, done);
        }
        w.finish()?;
        res
    })
}

/// Chunks formatted on the pool, written in the order they were submitted,
/// at most `limit` in flight.
struct Ordered<'o, 'f> {
    out: &'o mut dyn Write,
    file: &'f LogFile,
    opts: &'f DumpOptions,
    limit: usize,
    tx: std::sync::mpsc::Sender<(usize, Printed)>,
    rx: std::sync::mpsc::Receiver<(usize, Printed)>,
    /// Chunks submitted, and written.
    sent: usize,
    written: usize,
    /// Formatted, waiting for an earlier chunk.
    ready: std::collections::BTreeMap<usize, Printed>,
    /// The first error: nothing is written after it.
    failed: Option<Error>,
}

impl<'o, 'f> Ordered<'o, 'f> {
    fn new(out: &'o mut dyn Write, file: &'f LogFile, opts: &'f DumpOptions, limit: usize) -> Self {
        let (tx, rx) = std::sync::mpsc::channel();
        Ordered { out, file, opts, limit, tx, rx, sent: 0, written: 0, ready: Default::default(), failed: None }
    }

    /// Formats `c` on the pool (once fewer than `limit` are in flight);
    /// false once an earlier chunk failed.
    fn submit<'s, 'a: 's>(&mut self, scope: &rayon::Scope<'s>, c: Chunk<'a>) -> bool
    where
        'f: 's,
    {
        while self.failed.is_none() && self.sent - self.written >= self.limit {
            self.wait_one();
        }
        if self.failed.is_some() {
            return false;
        }
        let (seq, tx, file, opts) = (self.sent, self.tx.clone(), self.file, self.opts);
        scope.spawn(move |_| {
            // A panic must not leave the writer waiting for this chunk.
            let p = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| format_chunk(file, opts, c)))
                .unwrap_or_else(|_| (Vec::new(), Err(Error::invalid("dump: a formatting thread panicked"))));
            let _ = tx.send((seq, p));
        });
        self.sent += 1;
        true
    }

    /// Receives one formatted chunk and writes those now in order.
    fn wait_one(&mut self) {
        let Ok((seq, p)) = self.rx.recv() else { return };
        self.ready.insert(seq, p);
        while let Some((bytes, res)) = self.ready.remove(&self.written) {
            self.written += 1;
            if let Err(e) = self.out.write_all(&bytes).map_err(io(self.file)).and(res) {
                self.failed = Some(e);
                return;
            }
        }
    }

    /// Writes the rest; the first error.
    fn finish(mut self) -> Result<()> {
        while self.failed.is_none() && self.written < self.sent {
            self.wait_one();
        }
        self.failed.map_or(Ok(()), Err)
    }
}

/// Brings `tracker` past `ev` as [`Formatter::event`] does (table maps,
/// those inside a compressed transaction payload too). Errors are left to the
/// chunk's formatting, which stops there.
fn track(tracker: &mut RowPrinter, ev: &RawEvent<'_>, fmt: &Format) {
    if tracker.observe(ev, fmt).is_err() || ev.event_type() != EventType::TRANSACTION_PAYLOAD {
        return;
    }
    let Ok(p) = Payload::parse(ev, fmt) else { return };
    let Ok(data) = p.decompress() else { return };
    let mut it = EventIter::inner(&data, fmt.clone());
    while let Ok(Some(Step::Event(inner))) = it.next_step() {
        if tracker.observe(&inner, fmt).is_err() {
            return;
        }
    }
}

fn dump_inner(
    out: &mut Vec<u8>,
    file: &LogFile,
    ev: &RawEvent<'_>,
    fmt: &Format,
    opts: &DumpOptions,
    line: &mut String,
    mut rows: Option<&mut RowPrinter>,
) -> Result<()> {
    let perr = |e: ParseError| Error::parse(Some(file.path()), e);
    let p = Payload::parse(ev, fmt).map_err(perr)?;
    let data =
        p.decompress().map_err(|k| perr(ParseError { kind: k, at: ev.offset(), event_type: Some(ev.event_type()) }))?;
    let mut it = EventIter::inner(&data, fmt.clone());
    while let Some(step) = it.next_step().map_err(|e| perr(ParseError { at: ev.offset(), ..e }))? {
        match step {
            Step::Event(inner) => {
                line.clear();
                let r = event_line(line, &inner, fmt, opts.json, Some(ev.offset()));
                out.write_all(line.as_bytes()).map_err(io(file))?;
                r.map_err(|e| perr(ParseError { at: ev.offset(), ..e }))?;
                if let Some(r) = rows.as_deref_mut() {
                    r.observe(&inner, fmt).map_err(perr)?;
                    print_rows(out, file, r, &inner, fmt, opts.json, ev.offset(), line)?;
                }
            }
            Step::Incomplete(_) => {
                return Err(perr(ParseError {
                    kind: crate::event::ParseErrorKind::Truncated("payload inner events"),
                    at: ev.offset(),
                    event_type: Some(ev.event_type()),
                }));
            }
        }
    }
    Ok(())
}

/// Row values of a rows event: `###` lines as the tools print them (exact
/// bytes), or in JSON mode one object `{"offset", "rows": [lines]}`.
#[allow(clippy::too_many_arguments)]
fn print_rows(
    out: &mut Vec<u8>,
    file: &LogFile,
    r: &mut RowPrinter,
    ev: &RawEvent<'_>,
    fmt: &Format,
    json: bool,
    offset: u64,
    line: &mut String,
) -> Result<()> {
    let perr = |e: ParseError| Error::parse(Some(file.path()), e);
    if json {
        line.clear();
        r.print(line, ev, fmt).map_err(perr)?;
        if !line.is_empty() {
            let v = serde_json::json!({"offset": offset, "rows": line.lines().collect::<Vec<_>>()});
            writeln!(out, "{v}").map_err(io(file))?;
        }
    } else {
        r.print_raw(out, ev, fmt).map_err(perr)?;
    }
    Ok(())
}

/// Appends the body summary; on a body error, what could be summarised
/// followed by `<error: …>`, and returns the error.
fn summary_or_error(out: &mut String, ev: &RawEvent<'_>, fmt: &Format) -> Result<(), ParseError> {
    use std::fmt::Write as _;
    let start = out.len();
    let res = summarize(out, ev, fmt);
    if let Err(e) = &res {
        if out.len() > start {
            out.push(' ');
        }
        let _ = write!(out, "<error: {}>", e.kind);
    }
    res
}

/// Formats one event line into `line` (newline included). On a body error the
/// header part is still written, followed by `<error>`.
pub(crate) fn event_line(
    line: &mut String,
    ev: &RawEvent<'_>,
    fmt: &Format,
    json: bool,
    inner_of: Option<u64>,
) -> Result<(), ParseError> {
    use std::fmt::Write as _;
    if json {
        let mut summary = String::new();
        let res = summary_or_error(&mut summary, ev, fmt);
        let mut v = serde_json::json!({
            "offset": ev.offset(),
            "type": ev.event_type().to_string(),
            "type_code": ev.event_type().0,
            "server_id": ev.server_id(),
            "size": ev.size(),
            "log_pos": ev.log_pos(),
            "flags": ev.flags(),
            "timestamp": ev.timestamp(),
            "checksum": ev.checksum(),
            "summary": summary,
        });
        if let Some(o) = inner_of {
            v["inner_of"] = o.into();
        }
        let _ = writeln!(line, "{v}");
        return res;
    }
    // Text: everything straight into the reused line buffer (no per-event allocation).
    match inner_of {
        Some(o) => {
            let _ = write!(line, "{o:>10}+{:<6}", ev.offset());
        }
        None => {
            let _ = write!(line, "{:>10}", ev.offset());
        }
    }
    let _ = write!(
        line,
        " {:<32} server_id={} size={} log_pos={} flags=0x{:04x} ",
        ev.event_type(),
        ev.server_id(),
        ev.size(),
        ev.log_pos(),
        ev.flags(),
    );
    let res = summary_or_error(line, ev, fmt);
    line.push('\n');
    res
}
