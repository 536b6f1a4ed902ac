//! The printer and the event walk: a rows event's header lines, then each
//! row image, one `###   @N=value` line per column it holds.

use std::collections::HashMap;
use std::fmt::Write as _;

use mysql_common::binlog::events::FormatDescriptionEvent;
use mysql_common::io::ParseBuf;

use super::escape::{push_escaped_utf8, quote_ident};
use super::extra::print_extra_row_info;
use super::value::{ColumnToPrint, print_value};
use super::{Ctx, Flow, RowStyle, TextSink};
use crate::event::rows::{ColumnFlags, DecodeResult, ImageHead, RowDecoder, Table, bits, parse_rows};
use crate::event::{EventType, Flavor, Format, ParseError, RawEvent};

/// Prints row events; keeps the table maps and FDE (a [`RowDecoder`]) needed to decode them.
/// A clone goes on from the same point of the stream.
#[derive(Clone)]
pub struct RowPrinter {
    rows: RowDecoder,
    type_comments: bool,
    style: Option<RowStyle>,
}

impl Default for RowPrinter {
    fn default() -> Self {
        RowPrinter::new()
    }
}

impl RowPrinter {
    /// A printer with no table maps yet (`-v` output, style from each file's server).
    pub fn new() -> Self {
        RowPrinter { rows: RowDecoder::new(), type_comments: false, style: None }
    }

    /// Adds `mysqlbinlog -vv` type comments (`/* INT meta=0 nullable=0 is_null=0 */`).
    pub fn with_type_comments(mut self, on: bool) -> Self {
        self.type_comments = on;
        self
    }

    /// Imitates this tool whatever server wrote the file.
    pub fn with_style(mut self, style: RowStyle) -> Self {
        self.style = Some(style);
        self
    }

    /// Number of table maps currently known.
    pub fn known_tables(&self) -> usize {
        self.rows.known_tables()
    }

    /// Records FDEs and table maps; call for every event, in order.
    ///
    /// # Errors
    /// A malformed TABLE_MAP.
    pub fn observe(&mut self, ev: &RawEvent<'_>, fmt: &Format) -> Result<(), ParseError> {
        self.rows.observe(ev, fmt)
    }

    /// Appends `### …` lines for a rows event (nothing for other events).
    /// Bytes that are not UTF-8 (binary strings, latin1 text) are written as
    /// `\xNN`; [`RowPrinter::print_raw`] writes them as they are.
    ///
    /// # Errors
    /// A row image that cannot be decoded.
    pub fn print(&mut self, out: &mut String, ev: &RawEvent<'_>, fmt: &Format) -> Result<(), ParseError> {
        let mut buf = Vec::new();
        self.print_raw(&mut buf, ev, fmt)?;
        push_escaped_utf8(out, &buf);
        Ok(())
    }

    /// Like [`RowPrinter::print`], but writes the bytes the tools write.
    /// Nothing is appended when the event cannot be decoded.
    ///
    /// # Errors
    /// A row image that cannot be decoded.
    pub fn print_raw(&mut self, out: &mut Vec<u8>, ev: &RawEvent<'_>, fmt: &Format) -> Result<(), ParseError> {
        let style = self.style.unwrap_or(match fmt.flavor {
            Flavor::MySql => RowStyle::MySql,
            Flavor::MariaDb => RowStyle::MariaDb,
        });
        let ctx = Ctx { style, comments: self.type_comments };
        let start = out.len();
        let printed = self.rows.with_rows_event(ev, fmt, |body, plain, fde, tables| {
            print_rows_event(out, body, plain, fmt, fde, tables, ctx)
        });
        if !matches!(printed, Ok(Some(_))) {
            out.truncate(start);
        }
        printed.map(|_| ())
    }
}

/// What a rows event does to its rows.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Write,
    Update,
    Delete,
}

fn print_rows_event(
    out: &mut Vec<u8>,
    body: &[u8],
    plain: EventType,
    fmt: &Format,
    fde: &FormatDescriptionEvent<'_>,
    tables: &HashMap<u64, Table>,
    ctx: Ctx,
) -> DecodeResult<()> {
    let ev = parse_rows(body, plain, fde).map_err(|_| "rows event")?;
    let kind = match plain.0 {
        23 | 30 => Kind::Write,
        25 | 32 => Kind::Delete,
        _ => Kind::Update,
    };
    let partial = plain == EventType::PARTIAL_UPDATE_ROWS;

    print_extra_row_info(out, body, plain, fmt, kind, ctx.style);

    let Some(table) = tables.get(&ev.table_id()) else {
        let _ = writeln_bytes(out, format_args!("### Row event for unknown table #{}", ev.table_id()));
        return Ok(());
    };
    let rows = ev.rows_data();
    if kind == Kind::Write && rows.is_empty() {
        print_empty_insert(out, table, ctx.style);
        return Ok(());
    }
    let (cmd, clause1, clause2): (&[u8], &[u8], Option<&[u8]>) = match kind {
        Kind::Write => (b"INSERT INTO", b"### SET\n", None),
        Kind::Delete => (b"DELETE FROM", b"### WHERE\n", None),
        Kind::Update => (b"UPDATE", b"### WHERE\n", Some(b"### SET\n")),
    };
    let (cols1, cols2) = match kind {
        Kind::Write => (bits(&ev, false), Vec::new()),
        Kind::Delete => (bits(&ev, true), Vec::new()),
        Kind::Update => (bits(&ev, true), bits(&ev, false)),
    };
    let mut buf = ParseBuf(rows);
    while !buf.is_empty() {
        out.extend_from_slice(b"### ");
        out.extend_from_slice(cmd);
        out.push(b' ');
        quote_ident(out, &table.db);
        out.push(b'.');
        quote_ident(out, &table.name);
        out.push(b'\n');
        match print_image(out, table, &cols1, &mut buf, false, clause1, ctx)? {
            Flow::Go(n) if n > 0 => {}
            _ => return Ok(()),
        }
        if let Some(clause2) = clause2 {
            if ctx.style == RowStyle::MariaDb && !cols2.iter().any(|&b| b) {
                out.extend_from_slice(b"### SET /* no columns */\n");
                continue;
            }
            match print_image(out, table, &cols2, &mut buf, partial, clause2, ctx)? {
                Flow::Go(n) if n > 0 => {}
                _ => return Ok(()),
            }
        }
    }
    Ok(())
}

/// A WRITE_ROWS event without rows: `### INSERT INTO `db`.`t` VALUES ()`
/// (MySQL's tool does not double backticks there).
fn print_empty_insert(out: &mut Vec<u8>, table: &Table, style: RowStyle) {
    out.extend_from_slice(b"### INSERT INTO ");
    match style {
        RowStyle::MySql => {
            out.push(b'`');
            out.extend_from_slice(&table.db);
            out.extend_from_slice(b"`.`");
            out.extend_from_slice(&table.name);
            out.push(b'`');
        }
        RowStyle::MariaDb => {
            quote_ident(out, &table.db);
            out.push(b'.');
            quote_ident(out, &table.name);
        }
    }
    out.extend_from_slice(b" VALUES ()\n");
}

/// `writeln!` into a byte buffer.
pub(super) fn writeln_bytes(out: &mut Vec<u8>, args: std::fmt::Arguments<'_>) -> std::fmt::Result {
    let mut s = String::new();
    s.write_fmt(args)?;
    out.extend_from_slice(s.as_bytes());
    out.push(b'\n');
    Ok(())
}

/// `Rows_log_event::print_verbose_one_row`: the clause line, then one line
/// per column present in the image. Returns the bytes the image used.
fn print_image(
    out: &mut Vec<u8>,
    table: &Table,
    cols: &[bool],
    buf: &mut ParseBuf<'_>,
    partial_ai: bool,
    clause: &[u8],
    ctx: Ctx,
) -> DecodeResult<Flow> {
    let start_len = buf.len();
    let head = ImageHead::read(buf, partial_ai, table.json_count(), cols)?;
    out.extend_from_slice(clause);

    let mut num = itoa::Buffer::new();
    let mut typestr = String::new(); // reused: no allocation per value
    for (i, col, present) in head.columns(&table.cols, cols) {
        let Some(ColumnFlags { is_null, is_partial }) = present else { continue };
        out.extend_from_slice(b"###   @");
        out.extend_from_slice(num.format(i + 1).as_bytes());
        out.push(b'=');
        typestr.clear();
        let cell = ColumnToPrint { col, is_null, is_partial, col_no: i + 1, ctx };
        match print_value(out, cell, buf, &mut typestr)? {
            Flow::Go(_) => {}
            Flow::Stop => return Ok(Flow::Stop),
        }
        if ctx.comments {
            let _ = write!(
                TextSink(out),
                " /* {} meta={} nullable={} is_null={} */",
                typestr,
                col.meta_num,
                col.nullable as u8,
                is_null as u8
            );
        }
        out.push(b'\n');
    }
    Ok(Flow::Go(start_len - buf.len()))
}
