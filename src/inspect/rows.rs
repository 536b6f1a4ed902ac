//! Row images printed as values, the way `mysqlbinlog -v` (and
//! `mariadb-binlog -v`) print them:
//!
//! ```text
//! ### UPDATE `db`.`t`
//! ### WHERE
//! ###   @1=1
//! ### SET
//! ###   @1=2
//! ```
//!
//! # Decoding
//!
//! [`crate::event::rows`] decodes: it keeps the table maps, walks the row
//! images and hands each value's type, metadata and raw bytes (with
//! `mysql_common`'s [`BinlogValue`]) to the formatting here. Every call runs
//! under [`std::panic::catch_unwind`]; a panic becomes a [`ParseError`]. The
//! stored bytes of MariaDB's compressed column types (`VARCHAR`/`BLOB
//! COMPRESSED`) are printed quoted, as `mariadb-binlog` does.
//!
//! # Formatting
//!
//! Values are printed as `log_event_print_value` prints them: integers signed
//! with the unsigned reading in parentheses when negative (`-1 (255)`),
//! FLOAT as `%-20g`, DOUBLE as `%-.20g`, DECIMAL with its scale, DATE as
//! `'YYYY:MM:DD'`, DATETIME(n)/TIME(n) quoted with `n` fractional digits,
//! TIMESTAMP(n) as seconds since the epoch, BIT and SET as `b'0101'`, ENUM as
//! its index, strings and blobs quoted, JSON as its text quoted.
//!
//! The [`RowStyle`] follows the file's server (the FDE's flavor) unless set:
//! MySQL's `mysqlbinlog` (8.0 string escapes: `\n`, `\\`, `\'`, `\x01`…) or
//! MariaDB's `mariadb-binlog` (only control characters escaped, as `\xNN`;
//! old DATETIME quoted, old TIME signed, GEOMETRY printed as a string,
//! `### SET /* no columns */`). `-vv` type comments
//! (`/* INT meta=0 nullable=0 is_null=0 */`) are printed with
//! [`RowPrinter::with_type_comments`].
//!
//! Differences from the tools, on purpose:
//! * [`RowPrinter::print`] fills a `String`: bytes that are not UTF-8 are
//!   written as `\xNN` (the tools write them raw). [`RowPrinter::print_raw`]
//!   writes the tools' bytes exactly.
//! * `### Row event for unknown table #N` ends with a newline (the tools
//!   leave the line open), and so do `!! Unknown ENUM/BLOB packlen` notes.
//! * A column type the tool cannot print makes both tools stop printing the
//!   event; MariaDB's tool says so on stderr only, here the MySQL note
//!   `!! Don't know how to handle column type=…` is printed for both styles.
//!
//! Table maps are kept (and forgotten) by the [`RowDecoder`] inside the
//! printer; see [`crate::event::rows`].

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io;

use mysql_common::binlog::decimal::Decimal;
use mysql_common::binlog::events::FormatDescriptionEvent;
use mysql_common::binlog::jsonb;
use mysql_common::binlog::jsondiff::{JsonDiff, JsonDiffOperation};
use mysql_common::binlog::time::{MysqlTime, MysqlTimestampType};
use mysql_common::binlog::value::BinlogValue;
use mysql_common::constants::ColumnType;
use mysql_common::io::ParseBuf;
use mysql_common::value::Value;

use crate::event::rows::{Col, DecodeResult, RowDecoder, Table, bits, decode, parse_rows, table_id_len};
use crate::event::{EventType, Flavor, Format, ParseError, RawEvent};

/// Whose `-v` output to imitate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RowStyle {
    /// Oracle MySQL's `mysqlbinlog -v` (8.0).
    MySql,
    /// MariaDB's `mariadb-binlog -v` (10.x, 11.x).
    MariaDb,
}

/// Prints row events; keeps the table maps and FDE (a [`RowDecoder`]) needed to decode them.
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

/// Outcome of printing an image: go on, or stop printing this event (the
/// tools give up on a column they cannot print).
#[derive(PartialEq, Eq)]
enum Flow {
    Go(usize),
    Stop,
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
        let mut buf = Vec::with_capacity(256);
        let printed = self.rows.with_rows_event(ev, fmt, |body, plain, fde, tables| {
            print_rows_event(&mut buf, body, plain, fmt, fde, tables, ctx)
        })?;
        if printed.is_some() {
            out.extend_from_slice(&buf);
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// Rows events

#[derive(Clone, Copy)]
struct Ctx {
    style: RowStyle,
    comments: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
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
        out.extend_from_slice(b"### INSERT INTO ");
        match ctx.style {
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

fn writeln_bytes(out: &mut Vec<u8>, args: std::fmt::Arguments<'_>) -> std::fmt::Result {
    let mut s = String::new();
    s.write_fmt(args)?;
    out.extend_from_slice(s.as_bytes());
    out.push(b'\n');
    Ok(())
}

/// MySQL's "### Extra row …" lines (NDB info, partition ids) from a v2
/// event's extra data; MariaDB's "### Extra row data format" line.
fn print_extra_row_info(out: &mut Vec<u8>, body: &[u8], plain: EventType, fmt: &Format, kind: Kind, style: RowStyle) {
    let post = fmt.post_header_len(plain);
    if post != fmt.post_header_len(EventType::WRITE_ROWS) {
        return;
    }
    let p = table_id_len(post) + 2;
    let Some(b) = body.get(p..p + 2) else { return };
    let len = (u16::from_le_bytes([b[0], b[1]]) as usize).saturating_sub(2);
    let Some(extra) = body.get(p + 2..p + 2 + len) else {
        return;
    };
    let mut ndb: Option<&[u8]> = None;
    let mut part: Option<(u16, Option<u16>)> = None;
    let mut i = 0;
    while i < extra.len() {
        let tag = extra[i];
        i += 1;
        match tag {
            0 => {
                // [len][format][payload], len counting itself and format.
                let Some(&l) = extra.get(i) else { break };
                let Some(info) = extra.get(i..i + l as usize) else {
                    break;
                };
                if ndb.is_none() {
                    ndb = Some(info);
                }
                i += (l as usize).max(1);
            }
            1 if style == RowStyle::MySql => {
                let u16at = |i: usize| extra.get(i..i + 2).map(|b| u16::from_le_bytes([b[0], b[1]]));
                let Some(id) = u16at(i) else { break };
                i += 2;
                let src = if kind == Kind::Update {
                    let s = u16at(i);
                    i += 2;
                    s
                } else {
                    None
                };
                part = Some((id, src));
            }
            _ => break,
        }
    }
    let hex = |b: &[u8]| -> String {
        let mut s = String::from("0x");
        for x in b {
            let _ = write!(s, "{x:02X}");
        }
        s
    };
    match style {
        RowStyle::MySql => {
            if let Some(info) = ndb {
                if info.len() >= 2 {
                    let _ = writeln_bytes(
                        out,
                        format_args!(
                            "### Extra row ndb info: data_format: {}, len: {}, data: {}",
                            info[1],
                            info.len() - 2,
                            hex(&info[2..])
                        ),
                    );
                }
            }
            if let Some((id, src)) = part {
                match (kind, src) {
                    (Kind::Update, Some(src)) => {
                        let _ = writeln_bytes(
                            out,
                            format_args!(
                                "### Extra row info for partitioning: source_partition: {src} target_partition: {id}"
                            ),
                        );
                    }
                    _ => {
                        let _ =
                            writeln_bytes(out, format_args!("### Extra row info for partitioning: partition: {id}"));
                    }
                }
            }
        }
        RowStyle::MariaDb => {
            if let Some(info) = ndb {
                if info.len() >= 2 {
                    let payload = &info[2..];
                    let mut s = format!("### Extra row data format: {}, len: {} :", info[1], payload.len());
                    if !payload.is_empty() {
                        s.push_str(&hex(payload));
                    }
                    let _ = writeln_bytes(out, format_args!("{s}"));
                }
            }
        }
    }
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
    const E: &str = "row image";
    let start_len = buf.len();
    let json_count = table.cols.iter().filter(|c| c.raw == ColumnType::MYSQL_TYPE_JSON as u8).count();
    let mut partial_bits: Option<&[u8]> = None;
    if partial_ai {
        let opts = buf.checked_eat_lenenc_int().ok_or(E)?;
        if opts & 1 != 0 {
            partial_bits = Some(buf.checked_eat(json_count.div_ceil(8)).ok_or(E)?);
        }
    }
    let n_set = cols.iter().filter(|&&b| b).count();
    let nulls = buf.checked_eat(n_set.div_ceil(8)).ok_or(E)?;
    out.extend_from_slice(clause);

    let mut json_i = 0usize;
    let mut image_i = 0usize;
    for (i, col) in table.cols.iter().enumerate() {
        let is_partial = if col.raw == ColumnType::MYSQL_TYPE_JSON as u8 {
            let b = partial_bits.is_some_and(|p| p.get(json_i / 8).is_some_and(|x| x >> (json_i % 8) & 1 == 1));
            json_i += 1;
            b
        } else {
            false
        };
        if !cols.get(i).copied().unwrap_or(false) {
            continue;
        }
        let is_null = nulls.get(image_i / 8).is_none_or(|x| x >> (image_i % 8) & 1 == 1);
        image_i += 1;
        let _ = write!(TextSink(out), "###   @{}=", i + 1);
        let mut typestr = String::new();
        match print_value(out, col, buf, is_null, is_partial, i + 1, &mut typestr, ctx)? {
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

/// `std::fmt::Write` into a byte buffer.
struct TextSink<'a>(&'a mut Vec<u8>);

impl std::fmt::Write for TextSink<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

fn value_bytes<'v>(v: &'v BinlogValue<'_>) -> DecodeResult<&'v [u8]> {
    match v {
        BinlogValue::Value(Value::Bytes(b)) => Ok(b),
        _ => Err("row value"),
    }
}

#[allow(clippy::too_many_arguments)]
fn print_value(
    out: &mut Vec<u8>,
    col: &Col,
    buf: &mut ParseBuf<'_>,
    is_null: bool,
    is_partial: bool,
    col_no: usize,
    typestr: &mut String,
    ctx: Ctx,
) -> DecodeResult<Flow> {
    use ColumnType as T;
    const E: &str = "row value";
    let maria = ctx.style == RowStyle::MariaDb;
    let unknown = |out: &mut Vec<u8>| {
        let _ = write!(
            TextSink(out),
            "!! Don't know how to handle column type={} meta={} ({:04x})",
            col.raw,
            col.meta_num,
            col.meta_num
        );
        Ok(Flow::Stop)
    };
    let (Some(ty), Some(meta)) = (col.ty, col.meta.as_ref()) else {
        return unknown(out);
    };
    let m = col.meta_num;
    let null = |out: &mut Vec<u8>| {
        out.extend_from_slice(b"NULL");
        Ok(Flow::Go(0))
    };
    let quote = |out: &mut Vec<u8>, b: &[u8]| match ctx.style {
        RowStyle::MySql => quote_mysql(out, b),
        RowStyle::MariaDb => quote_maria(out, b),
    };
    match ty {
        T::MYSQL_TYPE_LONG | T::MYSQL_TYPE_TINY | T::MYSQL_TYPE_SHORT | T::MYSQL_TYPE_INT24 => {
            let (name, bytes) = match ty {
                T::MYSQL_TYPE_LONG => ("INT", 4),
                T::MYSQL_TYPE_TINY => ("TINYINT", 1),
                T::MYSQL_TYPE_SHORT => ("SHORTINT", 2),
                _ => ("MEDIUMINT", 3),
            };
            typestr.push_str(name);
            if is_null {
                return null(out);
            }
            let (_, raw) = decode(buf, ty, meta, false)?;
            let raw = raw.get(..bytes).ok_or(E)?;
            let u = raw.iter().rev().fold(0u32, |a, &x| (a << 8) | x as u32);
            let shift = 32 - 8 * bytes as u32;
            let s = ((u << shift) as i32) >> shift;
            let _ = write!(TextSink(out), "{s}");
            if s < 0 {
                let _ = write!(TextSink(out), " ({u})");
            }
        }
        T::MYSQL_TYPE_LONGLONG => {
            typestr.push_str("LONGINT");
            if is_null {
                return null(out);
            }
            let (_, raw) = decode(buf, ty, meta, false)?;
            let u = u64::from_le_bytes(raw.get(..8).ok_or(E)?.try_into().map_err(|_| E)?);
            let s = u as i64;
            let _ = write!(TextSink(out), "{s}");
            if s < 0 {
                let _ = write!(TextSink(out), " ({u})");
            }
        }
        T::MYSQL_TYPE_NEWDECIMAL => {
            let _ = write!(typestr, "DECIMAL({},{})", m >> 8, m & 0xff);
            if is_null {
                return null(out);
            }
            let (v, _) = decode(buf, ty, meta, false)?;
            out.extend_from_slice(value_bytes(&v)?);
        }
        T::MYSQL_TYPE_FLOAT => {
            typestr.push_str("FLOAT");
            if is_null {
                return null(out);
            }
            let (_, raw) = decode(buf, ty, meta, false)?;
            let f = f32::from_le_bytes(raw.get(..4).ok_or(E)?.try_into().map_err(|_| E)?);
            let _ = write!(TextSink(out), "{:<20}", c_fmt_g(f as f64, 6));
        }
        T::MYSQL_TYPE_DOUBLE => {
            typestr.push_str("DOUBLE");
            if is_null {
                return null(out);
            }
            let (_, raw) = decode(buf, ty, meta, false)?;
            let d = f64::from_le_bytes(raw.get(..8).ok_or(E)?.try_into().map_err(|_| E)?);
            out.extend_from_slice(c_fmt_g(d, 20).as_bytes());
        }
        T::MYSQL_TYPE_BIT => {
            let nbits = (m >> 8) as usize * 8 + (m & 0xff) as usize;
            let _ = write!(typestr, "BIT({nbits})");
            if is_null {
                return null(out);
            }
            let (v, _) = decode(buf, ty, meta, false)?;
            write_bits(out, value_bytes(&v)?, nbits);
        }
        T::MYSQL_TYPE_TIMESTAMP => {
            typestr.push_str("TIMESTAMP");
            if is_null {
                return null(out);
            }
            let (_, raw) = decode(buf, ty, meta, false)?;
            let u = u32::from_le_bytes(raw.get(..4).ok_or(E)?.try_into().map_err(|_| E)?);
            let _ = write!(TextSink(out), "{}", u as i32);
        }
        T::MYSQL_TYPE_TIMESTAMP2 => {
            let _ = write!(typestr, "TIMESTAMP({m})");
            if is_null {
                return null(out);
            }
            let (_, raw) = decode(buf, ty, meta, false)?;
            let sec = u32::from_be_bytes(raw.get(..4).ok_or(E)?.try_into().map_err(|_| E)?);
            let f = &raw[4..];
            let usec: u32 = match m {
                1 | 2 => *f.first().ok_or(E)? as u32 * 10_000,
                3 | 4 => u16::from_be_bytes(f.get(..2).ok_or(E)?.try_into().map_err(|_| E)?) as u32 * 100,
                5 | 6 => {
                    let b = f.get(..3).ok_or(E)?;
                    u32::from_be_bytes([0, b[0], b[1], b[2]])
                }
                _ => 0,
            };
            let _ = write!(TextSink(out), "{sec}");
            write_frac(out, usec, m as u32);
        }
        T::MYSQL_TYPE_DATETIME => {
            typestr.push_str("DATETIME");
            if is_null {
                return null(out);
            }
            let (_, raw) = decode(buf, ty, meta, false)?;
            let v = u64::from_le_bytes(raw.get(..8).ok_or(E)?.try_into().map_err(|_| E)?);
            let (d, t) = (v / 1_000_000, v % 1_000_000);
            let q = if maria { "'" } else { "" };
            let _ = write!(
                TextSink(out),
                "{q}{:04}-{:02}-{:02} {:02}:{:02}:{:02}{q}",
                (d / 10000) as i32,
                (d % 10000 / 100) as i32,
                (d % 100) as i32,
                (t / 10000) as i32,
                (t % 10000 / 100) as i32,
                (t % 100) as i32
            );
        }
        T::MYSQL_TYPE_DATETIME2 => {
            let _ = write!(typestr, "DATETIME({m})");
            if is_null {
                return null(out);
            }
            let (v, _) = decode(buf, ty, meta, false)?;
            let BinlogValue::Value(Value::Date(y, mo, d, h, mi, s, us)) = v else {
                return Err(E);
            };
            let mut t = format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}").into_bytes();
            write_frac(&mut t, us, m as u32);
            quote(out, &t);
        }
        T::MYSQL_TYPE_TIME => {
            typestr.push_str("TIME");
            if is_null {
                return null(out);
            }
            let (_, raw) = decode(buf, ty, meta, false)?;
            let b = raw.get(..3).ok_or(E)?;
            let u = u32::from_le_bytes([b[0], b[1], b[2], 0]);
            if maria {
                let s = ((u << 8) as i32) >> 8;
                let a = s.unsigned_abs();
                let sign = if s < 0 { "-" } else { "" };
                let _ = write!(TextSink(out), "'{sign}{:02}:{:02}:{:02}'", a / 10000, a % 10000 / 100, a % 100);
            } else {
                let _ = write!(TextSink(out), "'{:02}:{:02}:{:02}'", u / 10000, u % 10000 / 100, u % 100);
            }
        }
        T::MYSQL_TYPE_TIME2 => {
            let _ = write!(typestr, "TIME({m})");
            if is_null {
                return null(out);
            }
            let (v, _) = decode(buf, ty, meta, false)?;
            let BinlogValue::Value(Value::Time(neg, days, h, mi, s, us)) = v else {
                return Err(E);
            };
            let hours = days as u64 * 24 + h as u64;
            let sign = if neg { "-" } else { "" };
            let mut t = format!("{sign}{hours:02}:{mi:02}:{s:02}").into_bytes();
            write_frac(&mut t, us, m as u32);
            quote(out, &t);
        }
        T::MYSQL_TYPE_NEWDATE => {
            typestr.push_str("DATE");
            if is_null {
                return null(out);
            }
            let (_, raw) = decode(buf, ty, meta, false)?;
            let b = raw.get(..3).ok_or(E)?;
            let v = u32::from_le_bytes([b[0], b[1], b[2], 0]);
            let (d, mo, mut y) = (v & 31, v >> 5 & 15, v >> 9);
            // Digits as field.cc writes them ('0' + part, the first unbounded).
            let mut s = [0u8; 10];
            s[9] = b'0' + (d % 10) as u8;
            s[8] = b'0' + (d / 10) as u8;
            s[7] = b':';
            s[6] = b'0' + (mo % 10) as u8;
            s[5] = b'0' + (mo / 10) as u8;
            s[4] = b':';
            for k in (1..4).rev() {
                s[k] = b'0' + (y % 10) as u8;
                y /= 10;
            }
            s[0] = b'0'.wrapping_add(y as u8);
            out.push(b'\'');
            out.extend_from_slice(&s);
            out.push(b'\'');
        }
        T::MYSQL_TYPE_YEAR => {
            typestr.push_str("YEAR");
            if is_null {
                return null(out);
            }
            let (_, raw) = decode(buf, ty, meta, false)?;
            let _ = write!(TextSink(out), "{:04}", *raw.first().ok_or(E)? as u32 + 1900);
        }
        T::MYSQL_TYPE_ENUM => {
            match m & 0xff {
                1 => typestr.push_str("ENUM(1 byte)"),
                2 => typestr.push_str("ENUM(2 bytes)"),
                n => {
                    let _ = write!(TextSink(out), "!! Unknown ENUM packlen={n}");
                    return Ok(Flow::Stop);
                }
            }
            if is_null {
                return null(out);
            }
            let (v, _) = decode(buf, ty, meta, false)?;
            let BinlogValue::Value(Value::Int(i)) = v else {
                return Err(E);
            };
            let _ = write!(TextSink(out), "{i}");
        }
        T::MYSQL_TYPE_SET => {
            let n = (m & 0xff) as usize;
            let _ = write!(typestr, "SET({n} bytes)");
            if is_null {
                return null(out);
            }
            let (v, _) = decode(buf, ty, meta, false)?;
            write_bits(out, value_bytes(&v)?, n * 8);
        }
        T::MYSQL_TYPE_BLOB => {
            let c = if col.compressed { " COMPRESSED" } else { "" };
            let name = match m {
                1 => "TINYBLOB/TINYTEXT",
                2 => "BLOB/TEXT",
                3 => "MEDIUMBLOB/MEDIUMTEXT",
                4 => "LONGBLOB/LONGTEXT",
                _ => {
                    out.extend_from_slice(b"!! Unknown BLOB packlen=0");
                    return Ok(Flow::Stop);
                }
            };
            let _ = write!(typestr, "{name}{c}");
            if is_null {
                return null(out);
            }
            let (v, _) = decode(buf, ty, meta, false)?;
            quote(out, value_bytes(&v)?);
        }
        T::MYSQL_TYPE_VARCHAR | T::MYSQL_TYPE_VAR_STRING => {
            let c = if col.compressed { " COMPRESSED" } else { "" };
            let _ = write!(typestr, "VARSTRING({m}){c}");
            if is_null {
                return null(out);
            }
            let (v, _) = decode(buf, ty, meta, false)?;
            quote(out, value_bytes(&v)?);
        }
        T::MYSQL_TYPE_STRING => {
            let len = if m >= 256 {
                let (b0, b1) = ((m >> 8) as u32, (m & 0xff) as u32);
                if b0 & 0x30 != 0x30 { b1 | (((b0 & 0x30) ^ 0x30) << 4) } else { b1 }
            } else {
                m as u32
            };
            let _ = write!(typestr, "STRING({len})");
            if is_null {
                return null(out);
            }
            let (v, _) = decode(buf, ty, meta, false)?;
            quote(out, value_bytes(&v)?);
        }
        T::MYSQL_TYPE_GEOMETRY if maria => {
            typestr.push_str("GEOMETRY");
            if is_null {
                return null(out);
            }
            let (v, _) = decode(buf, ty, meta, false)?;
            quote(out, value_bytes(&v)?);
        }
        T::MYSQL_TYPE_JSON if !maria => {
            typestr.push_str("JSON");
            if is_null {
                return null(out);
            }
            let (v, raw) = decode(buf, ty, meta, is_partial)?;
            let mut budget = raw.len() + 16;
            match &v {
                BinlogValue::Jsonb(j) => {
                    let mut text = Vec::new();
                    json_text(&mut text, j, false, 0, &mut budget)?;
                    quote(out, &text);
                }
                BinlogValue::JsonDiff(d) => print_json_diff(out, d, col_no, ctx, &mut budget)?,
                _ => return Err(E),
            }
        }
        T::MYSQL_TYPE_VECTOR if !maria => {
            let _ = write!(typestr, "VECTOR({})", col.vector_dim);
            if is_null {
                return null(out);
            }
            let (v, _) = decode(buf, ty, meta, false)?;
            let b = value_bytes(&v)?;
            let dims = b.len() / 4;
            out.push(b'[');
            for i in 0..dims {
                let f = f32::from_le_bytes(b[i * 4..i * 4 + 4].try_into().map_err(|_| E)?);
                out.extend_from_slice(c_fmt_e(f as f64, 5).as_bytes());
                out.push(if i == dims - 1 { b']' } else { b',' });
            }
        }
        _ => return unknown(out),
    }
    Ok(Flow::Go(0))
}

/// `.` and `dec` digits of `usec` (`my_useconds_to_str`).
fn write_frac(out: &mut Vec<u8>, usec: u32, dec: u32) {
    if dec == 0 || dec > 6 {
        return;
    }
    let v = usec / 10u32.pow(6 - dec);
    let _ = write!(TextSink(out), ".{:0w$}", v, w = dec as usize);
}

/// `my_b_write_bit`: `b'0101'`, the last `nbits` bits of `ptr`, MSB first.
fn write_bits(out: &mut Vec<u8>, ptr: &[u8], nbits: usize) {
    let nbits8 = nbits.div_ceil(8) * 8;
    out.extend_from_slice(b"b'");
    for bit in nbits8 - nbits..nbits8 {
        let set = ptr.get(bit / 8).is_some_and(|b| b >> (7 - bit % 8) & 1 == 1);
        out.push(if set { b'1' } else { b'0' });
    }
    out.push(b'\'');
}

/// MySQL 8.0 `my_b_write_quoted`: C escapes for `\b \f \n \r \t \\ \'`,
/// `\xNN` for other control characters, other bytes as they are.
fn quote_mysql(out: &mut Vec<u8>, b: &[u8]) {
    out.push(b'\'');
    for &c in b {
        match c {
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\'' => out.extend_from_slice(b"\\'"),
            c if c < 32 => {
                let _ = write!(TextSink(out), "\\x{c:02x}");
            }
            c => out.push(c),
        }
    }
    out.push(b'\'');
}

/// MariaDB `my_b_write_quoted`: bytes above 0x1F as they are (quotes and
/// backslashes included), control characters as `\xNN`.
fn quote_maria(out: &mut Vec<u8>, b: &[u8]) {
    out.push(b'\'');
    for &c in b {
        if c > 0x1f {
            out.push(c);
        } else {
            let _ = write!(TextSink(out), "\\x{c:02x}");
        }
    }
    out.push(b'\'');
}

/// `` `name` `` with backticks doubled (`my_strmov_quoted_identifier`).
fn quote_ident(out: &mut Vec<u8>, name: &[u8]) {
    out.push(b'`');
    for &c in name {
        if c == b'`' {
            out.push(b'`');
        }
        out.push(c);
    }
    out.push(b'`');
}

/// Appends bytes to a String: valid UTF-8 as is, other bytes as `\xNN`.
fn push_escaped_utf8(out: &mut String, b: &[u8]) {
    for chunk in b.utf8_chunks() {
        out.push_str(chunk.valid());
        for x in chunk.invalid() {
            let _ = write!(out, "\\x{x:02x}");
        }
    }
}

// ---------------------------------------------------------------------------
// Numbers as C and MySQL print them

/// C `printf("%.{prec}g")`.
fn c_fmt_g(v: f64, prec: usize) -> String {
    if v.is_nan() {
        return if v.is_sign_negative() { "-nan" } else { "nan" }.into();
    }
    if v.is_infinite() {
        return if v < 0.0 { "-inf" } else { "inf" }.into();
    }
    let p = prec.max(1);
    let a = v.abs();
    let sci = format!("{:.*e}", p - 1, a);
    let (mant, exp) = sci.split_at(sci.find('e').expect("exponent"));
    let x: i32 = exp[1..].parse().expect("exponent digits");
    let mut s = if x < p as i32 && x >= -4 {
        strip_fraction_zeros(format!("{:.*}", (p as i32 - 1 - x) as usize, a))
    } else {
        let m = strip_fraction_zeros(mant.to_string());
        format!("{m}e{}{:02}", if x < 0 { '-' } else { '+' }, x.unsigned_abs())
    };
    if v.is_sign_negative() {
        s.insert(0, '-');
    }
    s
}

/// C `printf("%.{prec}e")`.
fn c_fmt_e(v: f64, prec: usize) -> String {
    if v.is_nan() {
        return if v.is_sign_negative() { "-nan" } else { "nan" }.into();
    }
    if v.is_infinite() {
        return if v < 0.0 { "-inf" } else { "inf" }.into();
    }
    let sci = format!("{:.*e}", prec, v.abs());
    let (mant, exp) = sci.split_at(sci.find('e').expect("exponent"));
    let x: i32 = exp[1..].parse().expect("exponent digits");
    let sign = if v.is_sign_negative() { "-" } else { "" };
    format!("{sign}{mant}e{}{:02}", if x < 0 { '-' } else { '+' }, x.unsigned_abs())
}

fn strip_fraction_zeros(mut s: String) -> String {
    if s.contains('.') {
        while s.ends_with('0') {
            s.pop();
        }
        if s.ends_with('.') {
            s.pop();
        }
    }
    s
}

/// MySQL `my_gcvt(x, MY_GCVT_ARG_DOUBLE, MY_GCVT_MAX_FIELD_WIDTH)`: the
/// shortest digits that read back as `x`, in `f` or `e` (`1e20`, `1.5e-7`)
/// notation. Used for JSON doubles.
fn my_gcvt(x: f64) -> String {
    if !x.is_finite() {
        return "0".into();
    }
    const MAX_DECPT_FOR_F_FORMAT: i32 = 15;
    let neg = x.is_sign_negative();
    let mut width: i32 = 15 + 4 + 15;
    if x < 0.0 {
        width -= 1;
    }
    let sci = format!("{:e}", x.abs());
    let (mant, exp) = sci.split_at(sci.find('e').expect("exponent"));
    let digits: Vec<u8> = mant.bytes().filter(|b| b.is_ascii_digit()).collect();
    let decpt: i32 = exp[1..].parse::<i32>().expect("exponent digits") + 1;
    let len = digits.len() as i32;
    let exp_len = 1 + (decpt >= 101 || decpt <= -99) as i32 + (decpt >= 11 || decpt <= -9) as i32;
    let f_len = if decpt <= 0 {
        len - decpt + 2
    } else if decpt < len {
        len + 1
    } else {
        decpt
    };
    let have_space = f_len <= width;
    let force_e = decpt <= 0 && width <= 2 - decpt && width >= 3 + exp_len;
    let use_f = (have_space
        // MySQL also tests `len > 1 || !force_e` for decpt == -2: implied by `!force_e`.
        || (decpt <= width && (decpt >= -1 || decpt == -2) && !force_e))
        && (!have_space || (decpt > -MAX_DECPT_FOR_F_FORMAT && (decpt <= MAX_DECPT_FOR_F_FORMAT || len > decpt)));
    let mut s = String::new();
    if neg {
        s.push('-');
    }
    if use_f {
        if decpt <= 0 {
            s.push_str("0.");
            for _ in decpt..0 {
                s.push('0');
            }
            s.extend(digits.iter().map(|&d| d as char));
        } else {
            for (i, &d) in digits.iter().enumerate() {
                s.push(d as char);
                if i as i32 + 1 == decpt && (i as i32 + 1) < len {
                    s.push('.');
                }
            }
            for _ in len..decpt {
                s.push('0');
            }
        }
    } else {
        let e = decpt - 1;
        s.push(digits[0] as char);
        if len > 1 {
            s.push('.');
            s.extend(digits[1..].iter().map(|&d| d as char));
        }
        s.push('e');
        if e < 0 {
            s.push('-');
        }
        let _ = write!(s, "{}", e.unsigned_abs());
    }
    s
}

// ---------------------------------------------------------------------------
// JSON as MySQL's Json_wrapper::to_string writes it

/// Deeper documents are refused (MySQL's limit is 100).
const JSON_MAX_DEPTH: usize = 150;

/// `double_quote()`: JSON string escapes, control characters as `\u00XX`.
fn json_quote(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'"');
    for &c in s {
        match c {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            c if c <= 0x1f => {
                let _ = write!(TextSink(out), "\\u00{c:02x}");
            }
            c => out.push(c),
        }
    }
    out.push(b'"');
}

/// What MySQL's JSON type of a value is, for the diff printer.
#[derive(PartialEq, Eq)]
enum JsonClass {
    /// NULL, numbers, booleans: printed bare.
    Bare,
    /// Strings, temporal values, opaque: printed as a quoted string.
    Str,
    /// Objects and arrays: `CAST('…' AS JSON)`.
    Container,
}

fn json_class(v: &jsonb::Value<'_>) -> JsonClass {
    use jsonb::Value as J;
    match v {
        J::String(_) => JsonClass::Str,
        J::SmallArray(_) | J::LargeArray(_) | J::SmallObject(_) | J::LargeObject(_) => JsonClass::Container,
        J::Opaque(o) => match o.value_type() {
            ColumnType::MYSQL_TYPE_NEWDECIMAL => JsonClass::Bare,
            _ => JsonClass::Str,
        },
        _ => JsonClass::Bare,
    }
}

/// `wrapper_to_string(wr, buf, json_quoted, pretty = false)`.
fn json_text(
    out: &mut Vec<u8>,
    v: &jsonb::Value<'_>,
    quoted: bool,
    depth: usize,
    budget: &mut usize,
) -> DecodeResult<()> {
    use jsonb::Value as J;
    const E: &str = "JSON value";
    if depth > JSON_MAX_DEPTH {
        return Err("JSON nesting");
    }
    // Value offsets may point to shared data: a hostile document could
    // expand exponentially. A real one has fewer nodes than bytes.
    *budget = budget.checked_sub(1).ok_or("JSON value offsets")?;
    let str_or_quoted = |out: &mut Vec<u8>, s: &[u8]| {
        if quoted { json_quote(out, s) } else { out.extend_from_slice(s) }
    };
    match v {
        J::Null => out.extend_from_slice(b"null"),
        J::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        J::I16(x) => {
            let _ = write!(TextSink(out), "{x}");
        }
        J::U16(x) => {
            let _ = write!(TextSink(out), "{x}");
        }
        J::I32(x) => {
            let _ = write!(TextSink(out), "{x}");
        }
        J::U32(x) => {
            let _ = write!(TextSink(out), "{x}");
        }
        J::I64(x) => {
            let _ = write!(TextSink(out), "{x}");
        }
        J::U64(x) => {
            let _ = write!(TextSink(out), "{x}");
        }
        J::F64(x) => {
            let s = my_gcvt(*x);
            out.extend_from_slice(s.as_bytes());
            if !s.contains(['.', 'e']) {
                out.extend_from_slice(b".0");
            }
        }
        J::String(s) => str_or_quoted(out, s.str_raw()),
        J::SmallArray(a) => json_array(out, a.iter(), depth, budget)?,
        J::LargeArray(a) => json_array(out, a.iter(), depth, budget)?,
        J::SmallObject(o) => json_object(out, o.iter(), depth, budget)?,
        J::LargeObject(o) => json_object(out, o.iter(), depth, budget)?,
        J::Opaque(o) => {
            let data = o.data_raw();
            match o.value_type() {
                ColumnType::MYSQL_TYPE_NEWDECIMAL => {
                    let d = Decimal::read_packed(data, false).map_err(|_| E)?;
                    let _ = write!(TextSink(out), "{d}");
                }
                t @ (ColumnType::MYSQL_TYPE_DATE
                | ColumnType::MYSQL_TYPE_TIME
                | ColumnType::MYSQL_TYPE_DATETIME
                | ColumnType::MYSQL_TYPE_TIMESTAMP) => {
                    let packed = i64::from_le_bytes(*data.first_chunk::<8>().ok_or(E)?);
                    let tm = match t {
                        ColumnType::MYSQL_TYPE_DATE => MysqlTime::from_int64_date_packed(packed),
                        ColumnType::MYSQL_TYPE_TIME => MysqlTime::from_int64_time_packed(packed),
                        _ => MysqlTime::from_int64_datetime_packed(packed),
                    };
                    let s = mysql_time_text(&tm);
                    str_or_quoted(out, s.as_bytes());
                }
                ColumnType::MYSQL_TYPE_VAR_STRING => str_or_quoted(out, data),
                t => {
                    let s = format!("base64:type{}:{}", t as u8, base64(data));
                    str_or_quoted(out, s.as_bytes());
                }
            }
        }
    }
    Ok(())
}

fn json_array<'a>(
    out: &mut Vec<u8>,
    items: impl Iterator<Item = io::Result<jsonb::Value<'a>>>,
    depth: usize,
    budget: &mut usize,
) -> DecodeResult<()> {
    out.push(b'[');
    for (i, item) in items.enumerate() {
        if i > 0 {
            out.extend_from_slice(b", ");
        }
        let item = item.map_err(|_| "JSON value")?;
        json_text(out, &item, true, depth + 1, budget)?;
    }
    out.push(b']');
    Ok(())
}

fn json_object<'a>(
    out: &mut Vec<u8>,
    items: impl Iterator<Item = io::Result<(jsonb::ObjectKey<'a>, jsonb::Value<'a>)>>,
    depth: usize,
    budget: &mut usize,
) -> DecodeResult<()> {
    out.push(b'{');
    for (i, item) in items.enumerate() {
        if i > 0 {
            out.extend_from_slice(b", ");
        }
        let (k, v) = item.map_err(|_| "JSON value")?;
        json_quote(out, k.value_raw());
        out.extend_from_slice(b": ");
        json_text(out, &v, true, depth + 1, budget)?;
    }
    out.push(b'}');
    Ok(())
}

/// `my_TIME_to_str(t, 6)`.
fn mysql_time_text(t: &MysqlTime) -> String {
    match t.time_type {
        MysqlTimestampType::MYSQL_TIMESTAMP_DATE => {
            format!("{:04}-{:02}-{:02}", t.year, t.month, t.day)
        }
        MysqlTimestampType::MYSQL_TIMESTAMP_TIME => format!(
            "{}{:02}:{:02}:{:02}.{:06}",
            if t.neg { "-" } else { "" },
            t.day as u64 * 24 + t.hour as u64,
            t.minute,
            t.second,
            t.second_part
        ),
        _ => format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:06}",
            t.year, t.month, t.day, t.hour, t.minute, t.second, t.second_part
        ),
    }
}

/// Standard base64 with padding.
fn base64(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::with_capacity(data.len().div_ceil(3) * 4);
    for c in data.chunks(3) {
        let n = (c[0] as u32) << 16 | (*c.get(1).unwrap_or(&0) as u32) << 8 | *c.get(2).unwrap_or(&0) as u32;
        s.push(A[(n >> 18) as usize & 63] as char);
        s.push(A[(n >> 12) as usize & 63] as char);
        s.push(if c.len() > 1 { A[(n >> 6) as usize & 63] as char } else { '=' });
        s.push(if c.len() > 2 { A[n as usize & 63] as char } else { '=' });
    }
    s
}

/// `print_json_diff`: `JSON_REPLACE(@3, '$.a', 1, '$.b', 'x')`, one call per
/// run of equal operations, nested in reverse order.
fn print_json_diff(
    out: &mut Vec<u8>,
    diffs: &[JsonDiff<'_>],
    col_no: usize,
    ctx: Ctx,
    budget: &mut usize,
) -> DecodeResult<()> {
    const SEP: &[u8] = b"\n###      ";
    let quote = |out: &mut Vec<u8>, b: &[u8]| match ctx.style {
        RowStyle::MySql => quote_mysql(out, b),
        RowStyle::MariaDb => quote_maria(out, b),
    };
    let names: Vec<&str> = diffs
        .iter()
        .map(|d| match d.operation() {
            JsonDiffOperation::REPLACE => "JSON_REPLACE",
            JsonDiffOperation::INSERT if d.path().last() == Some(&b']') => "JSON_ARRAY_INSERT",
            JsonDiffOperation::INSERT => "JSON_INSERT",
            JsonDiffOperation::REMOVE => "JSON_REMOVE",
        })
        .collect();
    let mut printed = false;
    for i in (0..names.len()).rev() {
        if i == 0 || names[i - 1] != names[i] {
            if printed {
                out.extend_from_slice(SEP);
            }
            out.extend_from_slice(names[i].as_bytes());
            out.push(b'(');
            printed = true;
        }
    }
    let _ = write!(TextSink(out), "@{col_no}");
    if names.is_empty() {
        return Ok(());
    }
    out.extend_from_slice(b", ");
    for (i, d) in diffs.iter().enumerate() {
        quote(out, d.path());
        if d.operation() != JsonDiffOperation::REMOVE {
            out.extend_from_slice(b", ");
            let v = d.value().ok_or("JSON diff value")?;
            let mut text = Vec::new();
            json_text(&mut text, v, false, 0, budget)?;
            match json_class(v) {
                JsonClass::Bare => out.extend_from_slice(&text),
                JsonClass::Str => quote(out, &text),
                JsonClass::Container => {
                    out.extend_from_slice(b"CAST(");
                    quote(out, &text);
                    out.extend_from_slice(b" AS JSON)");
                }
            }
        }
        let last = i + 1 == diffs.len();
        if last || names[i + 1] != names[i] {
            out.push(b')');
        }
        if !last {
            out.push(b',');
            out.extend_from_slice(SEP);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printf_g() {
        assert_eq!(c_fmt_g(1.5, 6), "1.5");
        assert_eq!(c_fmt_g(0.0, 6), "0");
        assert_eq!(c_fmt_g(-0.0, 6), "-0");
        assert_eq!(c_fmt_g(100.0, 6), "100");
        assert_eq!(c_fmt_g(1e6, 6), "1e+06");
        assert_eq!(c_fmt_g(123456.0, 6), "123456");
        assert_eq!(c_fmt_g(1234567.0, 6), "1.23457e+06");
        assert_eq!(c_fmt_g(0.0001, 6), "0.0001");
        assert_eq!(c_fmt_g(0.00001, 6), "1e-05");
        assert_eq!(c_fmt_g(1.1f32 as f64, 6), "1.1");
        assert_eq!(c_fmt_g(-2.5, 6), "-2.5");
        assert_eq!(c_fmt_g(0.1, 20), "0.10000000000000000555");
        assert_eq!(c_fmt_g(1e20, 20), "1e+20");
        assert_eq!(c_fmt_g(3.0, 20), "3");
        assert_eq!(c_fmt_g(f64::INFINITY, 20), "inf");
        assert_eq!(format!("{:<20}|", c_fmt_g(1.5, 6)), "1.5                 |");
        assert_eq!(c_fmt_e(1.0, 5), "1.00000e+00");
        assert_eq!(c_fmt_e(-0.000123, 5), "-1.23000e-04");
    }

    #[test]
    fn gcvt() {
        assert_eq!(my_gcvt(1.5), "1.5");
        assert_eq!(my_gcvt(100.0), "100");
        assert_eq!(my_gcvt(0.1), "0.1");
        assert_eq!(my_gcvt(1e15), "1e15");
        assert_eq!(my_gcvt(123456789012345.0), "123456789012345");
        // MySQL keeps the 'f' format down to 1e-15 (MAX_DECPT_FOR_F_FORMAT).
        assert_eq!(my_gcvt(1.5e-7), "0.00000015");
        assert_eq!(my_gcvt(0.001), "0.001");
        assert_eq!(my_gcvt(-3.25), "-3.25");
        assert_eq!(my_gcvt(1e-14), "0.00000000000001");
        assert_eq!(my_gcvt(1e-15), "0.000000000000001");
        assert_eq!(my_gcvt(1e-16), "1e-16");
        assert_eq!(my_gcvt(1.5e-300), "1.5e-300");
        assert_eq!(my_gcvt(1e16), "1e16");
        assert_eq!(my_gcvt(1234567890123456.7), "1234567890123456.8");
        assert_eq!(my_gcvt(0.0), "0");
    }

    #[test]
    fn quoting() {
        let mut v = Vec::new();
        quote_mysql(&mut v, b"a'b\\c\n\x01\xff");
        assert_eq!(v, b"'a\\'b\\\\c\\n\\x01\xff'");
        v.clear();
        quote_maria(&mut v, b"a'b\\c\n\x01\xff");
        assert_eq!(v, b"'a'b\\c\\x0a\\x01\xff'");
        v.clear();
        quote_ident(&mut v, b"a`b");
        assert_eq!(v, b"`a``b`");
        let mut s = String::new();
        push_escaped_utf8(&mut s, b"caf\xe9 \xc3\xa9");
        assert_eq!(s, "caf\\xe9 \u{e9}");
        v.clear();
        json_quote(&mut v, b"a\"\\\x01\x1f\n");
        assert_eq!(v, b"\"a\\\"\\\\\\u0001\\u001f\\n\"");
    }

    #[test]
    fn bits_and_misc() {
        let mut v = Vec::new();
        write_bits(&mut v, &[0b0000_0101], 4);
        assert_eq!(v, b"b'0101'");
        v.clear();
        write_bits(&mut v, &[0x01, 0x00], 16);
        assert_eq!(v, b"b'0000000100000000'");
        v.clear();
        write_frac(&mut v, 123456, 3);
        assert_eq!(v, b".123");
        assert_eq!(base64(b"ab"), "YWI=");
        assert_eq!(base64(b"abc"), "YWJj");
    }
}
