//! Row images decoded into values, the way `mysqlbinlog -v` (and
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
//! `mysql_common` does the decoding: [`TableMapEvent`] (names, optional
//! metadata), the rows events (table id, flags, column bitmaps, row data) and
//! every column value ([`BinlogValue`]: DECIMAL, JSONB, JSON diffs, the
//! fractional temporal types…). This module drives the row-image walk itself
//! (null bitmap, column bitmap, partial-JSON bits, exactly as
//! `Rows_log_event::print_verbose_one_row` does) so that it knows the column
//! number, type, metadata and raw bytes of each value, which `mysqlbinlog`'s
//! formatting needs.
//!
//! `mysql_common` trusts its input: it indexes and `unwrap`s freely. It is
//! only ever handed one whole, length-checked event body (the walker
//! guarantees that), and every call into it runs under
//! [`std::panic::catch_unwind`]; a panic becomes a [`ParseError`]. MariaDB's
//! compressed rows events (166–171) are decompressed first and decoded as the
//! plain type; MariaDB's compressed column types (`VARCHAR`/`BLOB
//! COMPRESSED`, 140/141) are decoded as `VARCHAR`/`BLOB` (the stored bytes,
//! still compressed, are printed quoted, as `mariadb-binlog` does).
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
//! # Table maps
//!
//! TABLE_MAPs are kept by table id and forgotten after the rows event that
//! carries `STMT_END_F` (as the server's applier does: a table id is valid
//! until the end of its statement) and at a real ROTATE. The FDE that governs
//! an event is the [`Format`] passed with it (the latest FDE of a relay log).

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::io;
use std::panic::{AssertUnwindSafe, catch_unwind};

use mysql_common::binlog::BinlogCtx;
use mysql_common::binlog::consts::BinlogVersion;
use mysql_common::binlog::decimal::Decimal;
use mysql_common::binlog::events::{
    BinlogEventFooter, DeleteRowsEvent, DeleteRowsEventV1, FormatDescriptionEvent, OptionalMetadataField,
    PartialUpdateRowsEvent, RowsEventData, TableMapEvent, UpdateRowsEvent, UpdateRowsEventV1, WriteRowsEvent,
    WriteRowsEventV1,
};
use mysql_common::binlog::jsonb;
use mysql_common::binlog::jsondiff::{JsonDiff, JsonDiffOperation};
use mysql_common::binlog::time::{MysqlTime, MysqlTimestampType};
use mysql_common::binlog::value::BinlogValue;
use mysql_common::constants::ColumnType;
use mysql_common::io::ParseBuf;
use mysql_common::value::Value;

use crate::event::compress::maria_uncompress;
use crate::event::{EventType, Flavor, Format, ParseError, ParseErrorKind, RawEvent};

/// Whose `-v` output to imitate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RowStyle {
    /// Oracle MySQL's `mysqlbinlog -v` (8.0).
    MySql,
    /// MariaDB's `mariadb-binlog -v` (10.x, 11.x).
    MariaDb,
}

/// Keeps the table maps and FDE needed to decode row events.
pub struct RowPrinter {
    /// mysql_common's FDE, rebuilt when the governing [`Format`] changes.
    fde: Option<(Format, FormatDescriptionEvent<'static>)>,
    tables: HashMap<u64, Table>,
    /// A rows event with STMT_END_F was seen: forget the maps before the next event.
    clear_pending: bool,
    type_comments: bool,
    style: Option<RowStyle>,
}

impl Default for RowPrinter {
    fn default() -> Self {
        RowPrinter::new()
    }
}

/// What a TABLE_MAP says, per column, in the form the printer needs.
struct Table {
    db: Vec<u8>,
    name: Vec<u8>,
    cols: Vec<Col>,
}

struct Col {
    /// Type byte as logged (before the STRING → ENUM/SET resolution),
    /// MariaDB's compressed types already mapped to VARCHAR/BLOB.
    raw: u8,
    /// Real type (`table_def::type()`); `None` when mysql_common does not know it.
    ty: Option<ColumnType>,
    /// Metadata bytes, zero-padded; `None` when they cannot be located
    /// (after a column of unknown type).
    meta: Option<[u8; 2]>,
    /// `table_def::field_metadata()`: the metadata as one number.
    meta_num: u16,
    nullable: bool,
    /// MariaDB `VARCHAR`/`BLOB ... COMPRESSED`.
    compressed: bool,
    /// VECTOR dimensionality from the optional metadata.
    vector_dim: u64,
}

/// Outcome of printing an image: go on, or stop printing this event (the
/// tools give up on a column they cannot print).
#[derive(PartialEq, Eq)]
enum Flow {
    Go(usize),
    Stop,
}

type DecodeResult<T> = Result<T, &'static str>;

impl RowPrinter {
    /// A printer with no table maps yet (`-v` output, style from each file's server).
    pub fn new() -> Self {
        RowPrinter { fde: None, tables: HashMap::new(), clear_pending: false, type_comments: false, style: None }
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
        self.tables.len()
    }

    /// Records FDEs and table maps; call for every event, in order.
    ///
    /// # Errors
    /// A malformed TABLE_MAP.
    pub fn observe(&mut self, ev: &RawEvent<'_>, fmt: &Format) -> Result<(), ParseError> {
        if self.clear_pending {
            self.clear_pending = false;
            self.clear_tables();
        }
        let ty = ev.event_type();
        if ty == EventType::TABLE_MAP {
            self.ensure_fde(fmt);
            let fde = &self.fde.as_ref().expect("just built").1;
            let body = ev.body();
            let res = catch_unwind(AssertUnwindSafe(|| parse_table_map(body, fmt, fde)));
            match res {
                Ok(Ok((id, table))) => {
                    self.tables.insert(id, table);
                    Ok(())
                }
                Ok(Err(what)) => Err(bad(ev, what)),
                Err(_) => Err(bad(ev, "table map")),
            }
        } else if ty == EventType::ROTATE && !ev.is_fake_rotate() {
            self.clear_tables();
            Ok(())
        } else {
            if is_printable_rows(ty) && rows_flags(ev.body(), ty, fmt).is_some_and(|f| f & 1 != 0) {
                self.clear_pending = true;
            }
            Ok(())
        }
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
        let ty = ev.event_type();
        if !is_printable_rows(ty) {
            return Ok(());
        }
        let plain = ty.uncompressed_rows();
        let body: Cow<'_, [u8]> = if plain != ty {
            Cow::Owned(uncompress_rows_body(ev.body(), ty, fmt).map_err(|k| at(ev, k))?)
        } else {
            Cow::Borrowed(ev.body())
        };
        self.ensure_fde(fmt);
        let style = self.style.unwrap_or(match fmt.flavor {
            Flavor::MySql => RowStyle::MySql,
            Flavor::MariaDb => RowStyle::MariaDb,
        });
        let ctx = Ctx { style, comments: self.type_comments };
        let fde = &self.fde.as_ref().expect("just built").1;
        let tables = &self.tables;
        let mut buf = Vec::with_capacity(256);
        let res = catch_unwind(AssertUnwindSafe(|| print_rows_event(&mut buf, &body, plain, fmt, fde, tables, ctx)));
        match res {
            Ok(Ok(())) => {
                out.extend_from_slice(&buf);
                Ok(())
            }
            Ok(Err(what)) => Err(bad(ev, what)),
            Err(_) => Err(bad(ev, "row image")),
        }
    }

    /// Calls `f` with every row image of a rows event (an update's before
    /// and after images one by one): the table it changes and, per column,
    /// the value's stored bytes as the row image holds them (length prefix
    /// included). Nothing is formatted; the parallel applier hashes key
    /// columns from it (write sets). Other events are ignored.
    ///
    /// # Errors
    /// A rows event whose table map is unknown, a column type that cannot
    /// be decoded, or a malformed row image.
    pub fn for_each_image(
        &mut self,
        ev: &RawEvent<'_>,
        fmt: &Format,
        mut f: impl FnMut(&TableRef<'_>, &[Cell<'_>]),
    ) -> Result<(), ParseError> {
        let ty = ev.event_type();
        if !is_printable_rows(ty) {
            return Ok(());
        }
        let plain = ty.uncompressed_rows();
        let body: Cow<'_, [u8]> = if plain != ty {
            Cow::Owned(uncompress_rows_body(ev.body(), ty, fmt).map_err(|k| at(ev, k))?)
        } else {
            Cow::Borrowed(ev.body())
        };
        self.ensure_fde(fmt);
        let fde = &self.fde.as_ref().expect("just built").1;
        let tables = &self.tables;
        let res = catch_unwind(AssertUnwindSafe(|| walk_images(&body, plain, fde, tables, &mut f)));
        match res {
            Ok(Ok(())) => Ok(()),
            Ok(Err(what)) => Err(bad(ev, what)),
            Err(_) => Err(bad(ev, "row image")),
        }
    }

    fn clear_tables(&mut self) {
        self.tables.clear();
        if self.tables.capacity() > 256 {
            self.tables.shrink_to(64);
        }
    }

    fn ensure_fde(&mut self, fmt: &Format) {
        if self.fde.as_ref().is_some_and(|(f, _)| f == fmt) {
            return;
        }
        let lens: Vec<u8> =
            (1..=fmt.post_header_count()).map(|i| fmt.post_header_len(EventType(i as u8)).min(255) as u8).collect();
        let fde = FormatDescriptionEvent::new(BinlogVersion::Version4)
            .with_server_version(fmt.server_version().as_bytes().to_vec())
            .with_create_timestamp(fmt.create_timestamp)
            .with_event_type_header_lengths(lens)
            .with_footer(BinlogEventFooter::default());
        self.fde = Some((fmt.clone(), fde));
    }
}

fn bad(ev: &RawEvent<'_>, what: &'static str) -> ParseError {
    at(ev, ParseErrorKind::BadValue(what))
}

fn at(ev: &RawEvent<'_>, kind: ParseErrorKind) -> ParseError {
    ParseError::new(kind, ev.offset(), Some(ev.event_type()))
}

/// Rows events the tools print with `-v`: v1, v2, partial JSON, MariaDB
/// compressed (not the 5.1 pre-GA 20–22).
fn is_printable_rows(ty: EventType) -> bool {
    matches!(ty.0, 23..=25 | 30..=32 | 39 | 166..=171)
}

/// Length of the table id in rows and table-map post-headers: 4 before 5.1.4
/// (post-header 6), else 6.
fn table_id_len(post_header_len: usize) -> usize {
    if post_header_len == 6 { 4 } else { 6 }
}

/// The rows event flags (`STMT_END_F`…), from the uncompressed post-header.
fn rows_flags(body: &[u8], ty: EventType, fmt: &Format) -> Option<u16> {
    let n = table_id_len(fmt.post_header_len(ty));
    let b = body.get(n..n + 2)?;
    Some(u16::from_le_bytes([b[0], b[1]]))
}

/// Length-encoded integer: `(value, bytes used)`.
fn lenenc(b: &[u8]) -> Option<(u64, usize)> {
    let first = *b.first()?;
    let le = |n: usize| -> Option<(u64, usize)> {
        let s = b.get(1..1 + n)?;
        Some((s.iter().rev().fold(0u64, |a, &x| (a << 8) | x as u64), 1 + n))
    };
    match first {
        0..=0xfa => Some((first as u64, 1)),
        0xfc => le(2),
        0xfd => le(3),
        0xfe => le(8),
        _ => None,
    }
}

/// MariaDB compressed rows (166–171): post-header, extra data, width and
/// column bitmaps stay plain; only the row data is compressed. Returns the
/// body with the row data decompressed.
fn uncompress_rows_body(body: &[u8], ty: EventType, fmt: &Format) -> Result<Vec<u8>, ParseErrorKind> {
    let post = fmt.post_header_len(ty);
    let v2 = post == fmt.post_header_len(EventType::WRITE_ROWS);
    let mut c = post;
    if v2 {
        let p = table_id_len(post) + 2;
        let b = body.get(p..p + 2).ok_or(ParseErrorKind::Truncated("rows extra data length"))?;
        let extra = u16::from_le_bytes([b[0], b[1]]) as usize;
        c = p + extra.max(2);
    }
    let rest = body.get(c..).ok_or(ParseErrorKind::Truncated("rows post-header"))?;
    let (width, n) = lenenc(rest).ok_or(ParseErrorKind::Truncated("rows width"))?;
    let bitmap = usize::try_from(width.div_ceil(8)).map_err(|_| ParseErrorKind::BadValue("rows width"))?;
    let images = if ty.uncompressed_rows().0 == 24 || ty.uncompressed_rows().0 == 31 { 2 } else { 1 };
    let end = bitmap
        .checked_mul(images)
        .and_then(|b| b.checked_add(c + n))
        .filter(|&e| e <= body.len())
        .ok_or(ParseErrorKind::Truncated("rows column bitmaps"))?;
    let rows = maria_uncompress(&body[end..])?;
    let mut out = Vec::with_capacity(end + rows.len());
    out.extend_from_slice(&body[..end]);
    out.extend_from_slice(&rows);
    Ok(out)
}

// ---------------------------------------------------------------------------
// TABLE_MAP

/// Parses a TABLE_MAP body (header and checksum stripped) into its id and
/// per-column description.
fn parse_table_map(body: &[u8], fmt: &Format, fde: &FormatDescriptionEvent<'_>) -> DecodeResult<(u64, Table)> {
    // Locate the column types and metadata ourselves: MariaDB's compressed
    // types must be mapped before mysql_common sees them, and per-column
    // metadata is needed in one pass.
    const E: &str = "table map";
    let post = fmt.post_header_len(EventType::TABLE_MAP);
    let mut c = table_id_len(post) + 2;
    let db_len = *body.get(c).ok_or(E)? as usize;
    c += 1 + db_len + 1;
    let tbl_len = *body.get(c).ok_or(E)? as usize;
    c += 1 + tbl_len + 1;
    let (ncols, n) = lenenc(body.get(c..).ok_or(E)?).ok_or(E)?;
    c += n;
    let ncols = usize::try_from(ncols).map_err(|_| E)?;
    let types_at = c;
    let types = body.get(c..c.checked_add(ncols).ok_or(E)?).ok_or(E)?;
    c += ncols;
    let (mlen, n) = lenenc(body.get(c..).ok_or(E)?).ok_or(E)?;
    c += n;
    let mlen = usize::try_from(mlen).map_err(|_| E)?;
    let meta = body.get(c..c.checked_add(mlen).ok_or(E)?).ok_or(E)?;
    c += mlen;
    let nulls = body.get(c..c + ncols.div_ceil(8)).ok_or(E)?;

    let compressed: Vec<bool> = types.iter().map(|&t| t == 140 || t == 141).collect();
    let body: Cow<'_, [u8]> = if compressed.iter().any(|&x| x) {
        let mut b = body.to_vec();
        for t in &mut b[types_at..types_at + ncols] {
            *t = match *t {
                140 => ColumnType::MYSQL_TYPE_VARCHAR as u8,
                141 => ColumnType::MYSQL_TYPE_BLOB as u8,
                x => x,
            };
        }
        Cow::Owned(b)
    } else {
        Cow::Borrowed(body)
    };

    let ctx = BinlogCtx::new(19 + body.len(), fde, EventType::TABLE_MAP.0);
    let tme: TableMapEvent<'_> = ParseBuf(&body).parse(ctx).map_err(|_| E)?;
    if tme.columns_count() != ncols as u64 {
        return Err(E);
    }
    let types = &body[types_at..types_at + ncols];

    // VECTOR dimensionalities, in the order of the VECTOR columns.
    let mut dims: Vec<u64> = Vec::new();
    for f in tme.iter_optional_meta() {
        if let Ok(OptionalMetadataField::Dimensionality(d)) = f {
            dims.extend(d.iter_dimensionalities().map_while(Result::ok));
        }
    }
    let mut dims = dims.into_iter();

    let mut cols = Vec::with_capacity(ncols);
    let mut moff = Some(0usize);
    for (i, &raw) in types.iter().enumerate() {
        let len = moff.and_then(|_| meta_len(raw, meta.get(moff.unwrap_or(0)..).unwrap_or(&[])));
        let m: Option<[u8; 2]> = match (moff, len) {
            (Some(o), Some(l)) if o + l <= meta.len() => {
                let mut a = [0u8; 2];
                for (k, b) in meta[o..o + l].iter().take(2).enumerate() {
                    a[k] = *b;
                }
                moff = Some(o + l);
                Some(a)
            }
            _ => {
                moff = None;
                None
            }
        };
        let mb = m.unwrap_or([0, 0]);
        let meta_num = meta_number(raw, mb);
        let ty = real_type(raw, mb);
        let vector_dim = if raw == ColumnType::MYSQL_TYPE_VECTOR as u8 { dims.next().unwrap_or(0) } else { 0 };
        cols.push(Col {
            raw,
            ty,
            meta: m,
            meta_num,
            nullable: nulls[i / 8] >> (i % 8) & 1 == 1,
            compressed: compressed[i],
            vector_dim,
        });
    }
    Ok((tme.table_id(), Table { db: tme.database_name_raw().to_vec(), name: tme.table_name_raw().to_vec(), cols }))
}

/// Bytes of table-map metadata a column type uses (`table_def`), or `None`
/// for a type whose metadata length is unknown.
fn meta_len(raw: u8, rest: &[u8]) -> Option<usize> {
    use ColumnType as T;
    let t = ColumnType::try_from(raw).ok()?;
    Some(match t {
        T::MYSQL_TYPE_TINY_BLOB
        | T::MYSQL_TYPE_BLOB
        | T::MYSQL_TYPE_MEDIUM_BLOB
        | T::MYSQL_TYPE_LONG_BLOB
        | T::MYSQL_TYPE_DOUBLE
        | T::MYSQL_TYPE_FLOAT
        | T::MYSQL_TYPE_GEOMETRY
        | T::MYSQL_TYPE_TIME2
        | T::MYSQL_TYPE_DATETIME2
        | T::MYSQL_TYPE_TIMESTAMP2
        | T::MYSQL_TYPE_JSON
        | T::MYSQL_TYPE_VECTOR => 1,
        T::MYSQL_TYPE_VARCHAR
        | T::MYSQL_TYPE_NEWDECIMAL
        | T::MYSQL_TYPE_SET
        | T::MYSQL_TYPE_ENUM
        | T::MYSQL_TYPE_STRING
        | T::MYSQL_TYPE_BIT => 2,
        T::MYSQL_TYPE_TYPED_ARRAY => {
            let inner = *rest.first()?;
            1 + match ColumnType::try_from(inner).ok()? {
                T::MYSQL_TYPE_VARCHAR => 3,
                _ => meta_len(inner, &rest[1..])?,
            }
        }
        _ => 0,
    })
}

/// `table_def::field_metadata()`: how `mysqlbinlog -vv` shows `meta=`.
fn meta_number(raw: u8, m: [u8; 2]) -> u16 {
    use ColumnType as T;
    let Ok(t) = ColumnType::try_from(raw) else {
        return 0;
    };
    match t {
        T::MYSQL_TYPE_TINY_BLOB
        | T::MYSQL_TYPE_BLOB
        | T::MYSQL_TYPE_MEDIUM_BLOB
        | T::MYSQL_TYPE_LONG_BLOB
        | T::MYSQL_TYPE_DOUBLE
        | T::MYSQL_TYPE_FLOAT
        | T::MYSQL_TYPE_GEOMETRY
        | T::MYSQL_TYPE_JSON
        | T::MYSQL_TYPE_VECTOR
        | T::MYSQL_TYPE_TIME2
        | T::MYSQL_TYPE_DATETIME2
        | T::MYSQL_TYPE_TIMESTAMP2 => m[0] as u16,
        T::MYSQL_TYPE_SET | T::MYSQL_TYPE_ENUM | T::MYSQL_TYPE_STRING | T::MYSQL_TYPE_NEWDECIMAL => {
            ((m[0] as u16) << 8) | m[1] as u16
        }
        T::MYSQL_TYPE_BIT | T::MYSQL_TYPE_VARCHAR => u16::from_le_bytes(m),
        _ => 0,
    }
}

/// `table_def::type()`: STRING may really be ENUM or SET; DATE is NEWDATE.
fn real_type(raw: u8, m: [u8; 2]) -> Option<ColumnType> {
    let t = ColumnType::try_from(raw).ok()?;
    Some(match t {
        ColumnType::MYSQL_TYPE_STRING if m[0] == ColumnType::MYSQL_TYPE_ENUM as u8 => ColumnType::MYSQL_TYPE_ENUM,
        ColumnType::MYSQL_TYPE_STRING if m[0] == ColumnType::MYSQL_TYPE_SET as u8 => ColumnType::MYSQL_TYPE_SET,
        ColumnType::MYSQL_TYPE_DATE => ColumnType::MYSQL_TYPE_NEWDATE,
        t => t,
    })
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

fn parse_rows<'a>(
    body: &'a [u8],
    plain: EventType,
    fde: &'a FormatDescriptionEvent<'a>,
) -> io::Result<RowsEventData<'a>> {
    let ctx = BinlogCtx::new(19 + body.len(), fde, plain.0);
    let mut b = ParseBuf(body);
    Ok(match plain.0 {
        23 => RowsEventData::WriteRowsEventV1(b.parse::<WriteRowsEventV1<'a>>(ctx)?),
        24 => RowsEventData::UpdateRowsEventV1(b.parse::<UpdateRowsEventV1<'a>>(ctx)?),
        25 => RowsEventData::DeleteRowsEventV1(b.parse::<DeleteRowsEventV1<'a>>(ctx)?),
        30 => RowsEventData::WriteRowsEvent(b.parse::<WriteRowsEvent<'a>>(ctx)?),
        31 => RowsEventData::UpdateRowsEvent(b.parse::<UpdateRowsEvent<'a>>(ctx)?),
        32 => RowsEventData::DeleteRowsEvent(b.parse::<DeleteRowsEvent<'a>>(ctx)?),
        39 => RowsEventData::PartialUpdateRowsEvent(b.parse::<PartialUpdateRowsEvent<'a>>(ctx)?),
        _ => return Err(io::Error::other("not a rows event")),
    })
}

/// A column bitmap of a rows event as bools (empty when the image is absent).
fn bits(ev: &RowsEventData<'_>, before: bool) -> Vec<bool> {
    let s = if before { ev.columns_before_image() } else { ev.columns_after_image() };
    match s {
        Some(s) => (0..s.len()).map(|i| s[i]).collect(),
        None => Vec::new(),
    }
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

/// One column of a row image, for [`RowPrinter::for_each_image`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cell<'a> {
    /// Not in this image (its column bitmap leaves it out).
    Absent,
    /// SQL NULL.
    Null,
    /// The stored bytes.
    Value(&'a [u8]),
}

/// The table a rows event changes, from its TABLE_MAP.
#[derive(Clone, Copy, Debug)]
pub struct TableRef<'t> {
    /// Database name.
    pub db: &'t [u8],
    /// Table name.
    pub name: &'t [u8],
    /// Columns in the table map.
    pub columns: usize,
}

fn walk_images(
    body: &[u8],
    plain: EventType,
    fde: &FormatDescriptionEvent<'_>,
    tables: &HashMap<u64, Table>,
    f: &mut dyn FnMut(&TableRef<'_>, &[Cell<'_>]),
) -> DecodeResult<()> {
    const E: &str = "row image";
    let ev = parse_rows(body, plain, fde).map_err(|_| "rows event")?;
    let table = tables.get(&ev.table_id()).ok_or("rows event for an unknown table")?;
    let tref = TableRef { db: &table.db, name: &table.name, columns: table.cols.len() };
    let update = matches!(plain.0, 24 | 31 | 39);
    let partial = plain == EventType::PARTIAL_UPDATE_ROWS;
    let (cols1, cols2) = match plain.0 {
        23 | 30 => (bits(&ev, false), Vec::new()),
        25 | 32 => (bits(&ev, true), Vec::new()),
        _ => (bits(&ev, true), bits(&ev, false)),
    };
    let json_count = table.cols.iter().filter(|c| c.raw == ColumnType::MYSQL_TYPE_JSON as u8).count();
    let mut buf = ParseBuf(ev.rows_data());
    let mut cells: Vec<Cell<'_>> = Vec::with_capacity(table.cols.len());
    while !buf.is_empty() {
        let row_start = buf.len();
        for (img, cols) in [(0, &cols1), (1, &cols2)] {
            if img == 1 && !update {
                break;
            }
            let partial_ai = partial && img == 1;
            let mut partial_bits: Option<&[u8]> = None;
            if partial_ai {
                let opts = buf.checked_eat_lenenc_int().ok_or(E)?;
                if opts & 1 != 0 {
                    partial_bits = Some(buf.checked_eat(json_count.div_ceil(8)).ok_or(E)?);
                }
            }
            let n_set = cols.iter().filter(|&&b| b).count();
            let nulls = buf.checked_eat(n_set.div_ceil(8)).ok_or(E)?;
            cells.clear();
            let (mut json_i, mut image_i) = (0usize, 0usize);
            for (i, col) in table.cols.iter().enumerate() {
                let is_partial = if col.raw == ColumnType::MYSQL_TYPE_JSON as u8 {
                    let b = partial_bits.is_some_and(|p| p.get(json_i / 8).is_some_and(|x| x >> (json_i % 8) & 1 == 1));
                    json_i += 1;
                    b
                } else {
                    false
                };
                if !cols.get(i).copied().unwrap_or(false) {
                    cells.push(Cell::Absent);
                    continue;
                }
                let is_null = nulls.get(image_i / 8).is_none_or(|x| x >> (image_i % 8) & 1 == 1);
                image_i += 1;
                if is_null {
                    cells.push(Cell::Null);
                    continue;
                }
                let (Some(ty), Some(meta)) = (col.ty, col.meta.as_ref()) else {
                    return Err("column type");
                };
                let (_, raw) = decode(&mut buf, ty, meta, is_partial)?;
                cells.push(Cell::Value(raw));
            }
            f(&tref, &cells);
        }
        if buf.len() == row_start {
            return Err(E); // no progress: a malformed event would loop forever
        }
    }
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

/// Decodes one value with mysql_common; returns it and the raw bytes it used.
fn decode<'a, 'm>(
    buf: &mut ParseBuf<'a>,
    ty: ColumnType,
    meta: &'m [u8; 2],
    partial: bool,
) -> DecodeResult<(BinlogValue<'m>, &'a [u8])>
where
    'a: 'm,
{
    // mysql_common's DECIMAL decoder overflows on impossible metadata; the
    // server never writes precision > 65, scale > 30 or scale > precision.
    if ty == ColumnType::MYSQL_TYPE_NEWDECIMAL && (meta[0] == 0 || meta[0] > 65 || meta[1] > 30 || meta[1] > meta[0]) {
        return Err("DECIMAL metadata");
    }
    let start: &'a [u8] = buf.0;
    let mut b: ParseBuf<'m> = ParseBuf(start);
    let v = b.parse::<BinlogValue<'m>>((ty, &meta[..], false, partial)).map_err(|_| "row value")?;
    let used = start.len() - b.len();
    buf.0 = &start[used..];
    Ok((v, &start[..used]))
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
        assert_eq!(lenenc(&[0xfc, 0x01, 0x02]), Some((0x0201, 3)));
        assert_eq!(lenenc(&[0xfb]), None);
    }
}
