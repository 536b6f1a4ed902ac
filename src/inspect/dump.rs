//! `binlog-diff dump`: one line per event.

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
}

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
    let mut line = String::with_capacity(256);
    let mut rows = opts.rows.then(RowPrinter::new);
    let walk = WalkOptions { verify_checksums: !opts.no_verify };
    let start = opts.start_position.unwrap_or(0);
    let stop = opts.stop_position.unwrap_or(u64::MAX);
    let path = file.path().to_path_buf();
    let tail = file.walk(walk, opts.recovery, |ev, fmt| {
        if ev.offset() >= stop {
            return Ok(false);
        }
        if let Some(r) = rows.as_mut() {
            // Table maps and the FDE must be seen even before --start-position.
            r.observe(&ev, fmt).map_err(|e| Error::parse(Some(&path), e))?;
        }
        if ev.offset() < start {
            return Ok(true);
        }
        line.clear();
        let res = event_line(&mut line, &ev, fmt, opts.json, None);
        out.write_all(line.as_bytes()).map_err(io(file))?;
        res.map_err(|e| Error::parse(Some(&path), e))?;
        if ev.event_type() == EventType::TRANSACTION_PAYLOAD {
            dump_inner(out, file, &ev, fmt, opts, &mut line, rows.as_mut())?;
        }
        if let Some(r) = rows.as_mut() {
            print_rows(out, file, r, &ev, fmt, opts.json, ev.offset(), &mut line)?;
        }
        Ok(true)
    })?;
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

fn dump_inner(
    out: &mut dyn Write,
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
    out: &mut dyn Write,
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
        let mut raw = Vec::new();
        r.print_raw(&mut raw, ev, fmt).map_err(perr)?;
        out.write_all(&raw).map_err(io(file))?;
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
