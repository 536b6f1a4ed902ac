//! Row images decoded from TABLE_MAP metadata: the walk over a rows
//! event's images (null bitmap, column bitmaps, partial-JSON bits, exactly
//! as `Rows_log_event::print_verbose_one_row` walks them) and each column's
//! value. Nothing is formatted here: [`crate::inspect::rows`] prints the
//! values as `mysqlbinlog -v` does, and the parallel applier hashes key
//! columns from [`RowDecoder::for_each_image`] (write sets).
//!
//! # Decoding
//!
//! `mysql_common` does the decoding: [`TableMapEvent`] (names, optional
//! metadata), the rows events (table id, flags, column bitmaps, row data) and
//! every column value ([`BinlogValue`]: DECIMAL, JSONB, JSON diffs, the
//! fractional temporal types…). This module drives the row-image walk itself
//! so that it knows the column number, type, metadata and raw bytes of each
//! value.
//!
//! `mysql_common` trusts its input: it indexes and `unwrap`s freely. It is
//! only ever handed one whole, length-checked event body (the walker
//! guarantees that), and every call into it runs under
//! [`std::panic::catch_unwind`]; a panic becomes a [`ParseError`]. MariaDB's
//! compressed rows events (166–171) are decompressed first and decoded as the
//! plain type; MariaDB's compressed column types (`VARCHAR`/`BLOB
//! COMPRESSED`, 140/141) are decoded as `VARCHAR`/`BLOB` (the stored bytes
//! stay compressed).
//!
//! # Table maps
//!
//! TABLE_MAPs are kept by table id and forgotten after the rows event that
//! carries `STMT_END_F` (as the server's applier does: a table id is valid
//! until the end of its statement) and at a real ROTATE. The FDE that governs
//! an event is the [`Format`] passed with it (the latest FDE of a relay log).

use std::borrow::Cow;
use std::collections::HashMap;
use std::io;
use std::panic::{AssertUnwindSafe, catch_unwind};

use mysql_common::binlog::BinlogCtx;
use mysql_common::binlog::consts::BinlogVersion;
use mysql_common::binlog::events::{
    BinlogEventFooter, DeleteRowsEvent, DeleteRowsEventV1, FormatDescriptionEvent, OptionalMetadataField,
    PartialUpdateRowsEvent, RowsEventData, TableMapEvent, UpdateRowsEvent, UpdateRowsEventV1, WriteRowsEvent,
    WriteRowsEventV1,
};
use mysql_common::binlog::value::BinlogValue;
use mysql_common::constants::ColumnType;
use mysql_common::io::ParseBuf;

use super::compress::maria_uncompress;
use super::{EventType, Format, ParseError, ParseErrorKind, RawEvent};

/// Keeps the table maps and FDE needed to decode row events. A clone is
/// the state at one point of a stream (a parallel printer starts from it).
#[derive(Clone)]
pub struct RowDecoder {
    /// mysql_common's FDE, rebuilt when the governing [`Format`] changes.
    fde: Option<(Format, FormatDescriptionEvent<'static>)>,
    tables: HashMap<u64, Table>,
    /// Maps of ended statements (a few): the next statement's identical map
    /// is taken from here, not parsed again.
    recent: Vec<(u64, Table)>,
    /// A rows event with STMT_END_F was seen: forget the maps before the next event.
    clear_pending: bool,
    /// Buffers of [`RowDecoder::for_each_image`], kept between events.
    scratch: Scratch,
}

/// Per-event buffers of the image walk, reused: no allocation per event.
#[derive(Clone, Default)]
struct Scratch {
    before: Vec<bool>,
    after: Vec<bool>,
    spans: Vec<Span>,
}

impl Default for RowDecoder {
    fn default() -> Self {
        RowDecoder::new()
    }
}

/// What a TABLE_MAP says, per column, in the form the printer needs.
#[derive(Clone)]
pub(crate) struct Table {
    pub(crate) db: Vec<u8>,
    pub(crate) name: Vec<u8>,
    pub(crate) cols: Vec<Col>,
    /// The TABLE_MAP body it was parsed from (an identical one reads the same).
    body: Vec<u8>,
}

impl Table {
    /// Its JSON columns (a partial update has a bit for each).
    pub(crate) fn json_count(&self) -> usize {
        self.cols.iter().filter(|c| c.raw == ColumnType::MYSQL_TYPE_JSON as u8).count()
    }
}

#[derive(Clone)]
pub(crate) struct Col {
    /// Type byte as logged (before the STRING → ENUM/SET resolution),
    /// MariaDB's compressed types already mapped to VARCHAR/BLOB.
    pub(crate) raw: u8,
    /// Real type (`table_def::type()`); `None` when mysql_common does not know it.
    pub(crate) ty: Option<ColumnType>,
    /// Metadata bytes, zero-padded; `None` when they cannot be located
    /// (after a column of unknown type).
    pub(crate) meta: Option<[u8; 2]>,
    /// `table_def::field_metadata()`: the metadata as one number.
    pub(crate) meta_num: u16,
    pub(crate) nullable: bool,
    /// MariaDB `VARCHAR`/`BLOB ... COMPRESSED`.
    pub(crate) compressed: bool,
    /// VECTOR dimensionality from the optional metadata.
    pub(crate) vector_dim: u64,
}

/// A decoding failure: what could not be decoded.
pub(crate) type DecodeResult<T> = Result<T, &'static str>;

impl RowDecoder {
    /// A decoder with no table maps yet.
    pub fn new() -> Self {
        RowDecoder {
            fde: None,
            tables: HashMap::new(),
            recent: Vec::new(),
            clear_pending: false,
            scratch: Scratch::default(),
        }
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
            let body = ev.body();
            if let Some(id) = table_map_id(body, fmt) {
                if let Some(i) = self.recent.iter().position(|(r, t)| *r == id && t.body == body) {
                    let (_, table) = self.recent.swap_remove(i);
                    self.tables.insert(id, table);
                    return Ok(());
                }
            }
            let fde = &self.fde.as_ref().expect("just built").1;
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
            self.recent.clear();
            Ok(())
        } else {
            if is_printable_rows(ty) && rows_flags(ev.body(), ty, fmt).is_some_and(|f| f & 1 != 0) {
                self.clear_pending = true;
            }
            Ok(())
        }
    }

    /// Calls `f` with every row image of a rows event (an update's before
    /// and after images one by one): the table it changes and, per column,
    /// the value's stored bytes as the row image holds them (length prefix
    /// included). Values are not decoded: each column is skipped by its
    /// stored length (the parallel applier hashes a few key columns of each
    /// image, the write sets). Other events are ignored.
    ///
    /// # Errors
    /// A rows event whose table map is unknown, a column type that cannot
    /// be decoded, or a malformed row image.
    pub fn for_each_image(
        &mut self,
        ev: &RawEvent<'_>,
        fmt: &Format,
        mut f: impl FnMut(&TableRef<'_>, &RowImage<'_>),
    ) -> Result<(), ParseError> {
        self.walk(ev, fmt, measure, &mut f)
    }

    /// Walks a rows event's images as [`RowDecoder::for_each_image`] does,
    /// but measures every value both by its stored length and by decoding
    /// it; returns how many values were measured (a test hook).
    ///
    /// # Errors
    /// As [`RowDecoder::for_each_image`]; "value length" when the two
    /// measures differ.
    #[doc(hidden)]
    pub fn check_value_lengths(&mut self, ev: &RawEvent<'_>, fmt: &Format) -> Result<usize, ParseError> {
        let mut n = 0;
        self.walk(ev, fmt, measure_both, &mut |_, img| {
            n += (0..img.columns()).filter(|&i| matches!(img.cell(i), Cell::Value(_))).count()
        })?;
        Ok(n)
    }

    fn walk(
        &mut self,
        ev: &RawEvent<'_>,
        fmt: &Format,
        m: Measure,
        f: &mut dyn FnMut(&TableRef<'_>, &RowImage<'_>),
    ) -> Result<(), ParseError> {
        let mut scratch = std::mem::take(&mut self.scratch);
        let r = self.with_rows_event(ev, fmt, |body, plain, fde, tables| {
            walk_images(body, plain, fde, tables, &mut scratch, m, f)
        });
        self.scratch = scratch;
        r.map(|_| ())
    }

    /// Runs `f` on a rows event's body (MariaDB's compressed row data
    /// decompressed first), its plain type, mysql_common's FDE and the known
    /// table maps, under [`catch_unwind`]. `Ok(None)` for any other event
    /// (only the rows events the tools print with `-v`).
    ///
    /// # Errors
    /// Compressed rows that do not decompress, or `f`'s failure (a panic is
    /// a "row image" failure), at the event's offset.
    pub(crate) fn with_rows_event<T>(
        &mut self,
        ev: &RawEvent<'_>,
        fmt: &Format,
        f: impl FnOnce(&[u8], EventType, &FormatDescriptionEvent<'_>, &HashMap<u64, Table>) -> DecodeResult<T>,
    ) -> Result<Option<T>, ParseError> {
        let ty = ev.event_type();
        if !is_printable_rows(ty) {
            return Ok(None);
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
        let res = catch_unwind(AssertUnwindSafe(|| f(&body, plain, fde, tables)));
        match res {
            Ok(Ok(v)) => Ok(Some(v)),
            Ok(Err(what)) => Err(bad(ev, what)),
            Err(_) => Err(bad(ev, "row image")),
        }
    }

    fn clear_tables(&mut self) {
        // Searched in full for every TABLE_MAP: kept short.
        if self.recent.len() + self.tables.len() > 64 {
            self.recent.clear();
        }
        self.recent.extend(self.tables.drain());
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
        // A map parsed under another format may read differently.
        self.recent.clear();
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

/// The table id of a TABLE_MAP body.
fn table_map_id(body: &[u8], fmt: &Format) -> Option<u64> {
    let n = table_id_len(fmt.post_header_len(EventType::TABLE_MAP));
    Some(body.get(..n)?.iter().rev().fold(0u64, |a, &b| a << 8 | b as u64))
}

/// Length of the table id in rows and table-map post-headers: 4 before 5.1.4
/// (post-header 6), else 6.
pub(crate) fn table_id_len(post_header_len: usize) -> usize {
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
    let original = body;
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
    Ok((
        tme.table_id(),
        Table {
            db: tme.database_name_raw().to_vec(),
            name: tme.table_name_raw().to_vec(),
            cols,
            body: original.to_vec(),
        },
    ))
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
    // The types with one or two bytes of metadata are [`meta_len`]'s; a
    // typed array (whose length needs what follows) shows none.
    match meta_len(raw, &[]) {
        Some(1) => m[0] as u16,
        Some(2) if raw == T::MYSQL_TYPE_BIT as u8 || raw == T::MYSQL_TYPE_VARCHAR as u8 => u16::from_le_bytes(m),
        Some(2) => ((m[0] as u16) << 8) | m[1] as u16,
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

pub(crate) fn parse_rows<'a>(
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
pub(crate) fn bits(ev: &RowsEventData<'_>, before: bool) -> Vec<bool> {
    let mut v = Vec::new();
    fill_bits(ev, before, &mut v);
    v
}

/// The head of one row image (`Rows_log_event::print_verbose_one_row`,
/// `unpack_row`): the partial-JSON bits of a MySQL partial update's after
/// image, then the null bits of the columns present.
pub(crate) struct ImageHead<'a> {
    partial_bits: Option<&'a [u8]>,
    nulls: &'a [u8],
}

/// A column present in a row image.
#[derive(Clone, Copy)]
pub(crate) struct ColumnFlags {
    /// SQL NULL: no value follows.
    pub(crate) is_null: bool,
    /// A JSON column logged as a partial update (a JSON diff).
    pub(crate) is_partial: bool,
}

impl<'a> ImageHead<'a> {
    /// Reads the head from `buf`. `partial_ai`: the after image of a
    /// PARTIAL_UPDATE_ROWS event; `json_count`: the table's JSON columns;
    /// `cols`: the image's column bitmap.
    pub(crate) fn read(
        buf: &mut ParseBuf<'a>,
        partial_ai: bool,
        json_count: usize,
        cols: &[bool],
    ) -> DecodeResult<ImageHead<'a>> {
        const E: &str = "row image";
        let mut partial_bits = None;
        if partial_ai {
            let opts = buf.checked_eat_lenenc_int().ok_or(E)?;
            if opts & 1 != 0 {
                partial_bits = Some(buf.checked_eat(json_count.div_ceil(8)).ok_or(E)?);
            }
        }
        let n_set = cols.iter().filter(|&&b| b).count();
        let nulls = buf.checked_eat(n_set.div_ceil(8)).ok_or(E)?;
        Ok(ImageHead { partial_bits, nulls })
    }

    /// Every column of the table in order: its index, and its flags when
    /// the image holds it (`None`: absent from the bitmap `cols`). The bits
    /// count JSON columns and present columns, as the server writes them.
    pub(crate) fn columns<'t>(
        &self,
        table_cols: &'t [Col],
        cols: &'t [bool],
    ) -> impl Iterator<Item = (usize, &'t Col, Option<ColumnFlags>)> + use<'t, 'a> {
        let bit = |b: &[u8], i: usize| b.get(i / 8).map(|x| x >> (i % 8) & 1 == 1);
        let (partial_bits, nulls) = (self.partial_bits, self.nulls);
        let (mut json_i, mut image_i) = (0usize, 0usize);
        table_cols.iter().enumerate().map(move |(i, col)| {
            let is_partial = if col.raw == ColumnType::MYSQL_TYPE_JSON as u8 {
                json_i += 1;
                partial_bits.and_then(|p| bit(p, json_i - 1)).unwrap_or(false)
            } else {
                false
            };
            if !cols.get(i).copied().unwrap_or(false) {
                return (i, col, None);
            }
            image_i += 1;
            let is_null = bit(nulls, image_i - 1).unwrap_or(true);
            (i, col, Some(ColumnFlags { is_null, is_partial }))
        })
    }
}

/// One column of a row image, for [`RowDecoder::for_each_image`].
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

/// Where a column's value is in the rows data.
#[derive(Clone, Copy, Debug)]
enum Span {
    Absent,
    Null,
    /// Start and end offsets in the rows data.
    At(usize, usize),
}

/// One row image, for [`RowDecoder::for_each_image`]: the stored bytes of
/// each column, located but not decoded.
pub struct RowImage<'a> {
    data: &'a [u8],
    spans: &'a [Span],
}

impl<'a> RowImage<'a> {
    /// Columns in the image (as in the table map).
    pub fn columns(&self) -> usize {
        self.spans.len()
    }

    /// Column `i` (from 0); `Absent` past the last column.
    pub fn cell(&self, i: usize) -> Cell<'a> {
        match self.spans.get(i) {
            Some(Span::At(a, b)) => Cell::Value(&self.data[*a..*b]),
            Some(Span::Null) => Cell::Null,
            _ => Cell::Absent,
        }
    }
}

/// How long the value at the start of `rest` is (its type and metadata as
/// [`decode`] takes them).
type Measure = fn(&[u8], ColumnType, &[u8; 2], bool) -> DecodeResult<usize>;

/// By the stored length where the type has a known layout, else by decoding.
fn measure(rest: &[u8], ty: ColumnType, meta: &[u8; 2], partial: bool) -> DecodeResult<usize> {
    match value_len(rest, ty, meta) {
        Some(n) => Ok(n),
        None => decode(&mut ParseBuf(rest), ty, meta, partial).map(|(_, raw)| raw.len()),
    }
}

/// Both ways; they must agree (see [`RowDecoder::check_value_lengths`]).
fn measure_both(rest: &[u8], ty: ColumnType, meta: &[u8; 2], partial: bool) -> DecodeResult<usize> {
    let fast = value_len(rest, ty, meta);
    let decoded = decode(&mut ParseBuf(rest), ty, meta, partial).map(|(_, raw)| raw.len());
    match (fast, decoded) {
        (Some(a), Ok(b)) if a != b => Err("value length"),
        (_, d) => d,
    }
}

/// Bytes a value of this type takes in a row image, from its metadata and
/// length prefix, without decoding it (`Field::unpack` / mysql_common's
/// `BinlogValue`); `None` for a type without a known layout here (old
/// DECIMAL, typed arrays, odd metadata). May exceed `rest`.
pub(crate) fn value_len(rest: &[u8], ty: ColumnType, meta: &[u8; 2]) -> Option<usize> {
    use ColumnType as T;
    // Fractional seconds: (decimals + 1) / 2 bytes.
    let frac = |dec: u8| match dec {
        0 => Some(0),
        1..=6 => Some((dec as usize).div_ceil(2)),
        _ => None,
    };
    // A length prefix of `n` bytes (little-endian), then that many bytes.
    let prefixed = |n: usize| -> Option<usize> {
        let p = rest.get(..n)?;
        Some(n + p.iter().rev().fold(0usize, |a, &b| a << 8 | b as usize))
    };
    Some(match ty {
        T::MYSQL_TYPE_TINY | T::MYSQL_TYPE_YEAR => 1,
        T::MYSQL_TYPE_SHORT => 2,
        T::MYSQL_TYPE_INT24 | T::MYSQL_TYPE_TIME | T::MYSQL_TYPE_NEWDATE => 3,
        T::MYSQL_TYPE_LONG | T::MYSQL_TYPE_FLOAT | T::MYSQL_TYPE_TIMESTAMP => 4,
        T::MYSQL_TYPE_LONGLONG | T::MYSQL_TYPE_DOUBLE | T::MYSQL_TYPE_DATETIME => 8,
        T::MYSQL_TYPE_TIME2 => 3 + frac(meta[0])?,
        T::MYSQL_TYPE_TIMESTAMP2 => 4 + frac(meta[0])?,
        T::MYSQL_TYPE_DATETIME2 => 5 + frac(meta[0])?,
        T::MYSQL_TYPE_BIT => (meta[1] as usize * 8 + meta[0] as usize).div_ceil(8),
        T::MYSQL_TYPE_NEWDECIMAL => {
            let (precision, scale) = (meta[0] as usize, meta[1] as usize);
            // What `decode` refuses (impossible metadata) it reports itself.
            if precision == 0 || precision > 65 || scale > 30 || scale > precision {
                return None;
            }
            // `decimal_bin_size`: 4 bytes per 9 digits, the rest packed.
            const DIG2BYTES: [usize; 9] = [0, 1, 1, 2, 2, 3, 3, 4, 4];
            let intg = precision - scale;
            intg / 9 * 4 + DIG2BYTES[intg % 9] + scale / 9 * 4 + DIG2BYTES[scale % 9]
        }
        T::MYSQL_TYPE_ENUM => match meta[1] {
            1 | 2 => meta[1] as usize,
            _ => return None,
        },
        T::MYSQL_TYPE_SET => meta[1] as usize,
        T::MYSQL_TYPE_TINY_BLOB
        | T::MYSQL_TYPE_MEDIUM_BLOB
        | T::MYSQL_TYPE_LONG_BLOB
        | T::MYSQL_TYPE_BLOB
        | T::MYSQL_TYPE_GEOMETRY
        | T::MYSQL_TYPE_VECTOR => match meta[0] {
            1..=4 => prefixed(meta[0] as usize)?,
            _ => return None,
        },
        // Whatever the metadata says, the length is 4 bytes (as mysql_common reads it).
        T::MYSQL_TYPE_JSON => prefixed(4)?,
        T::MYSQL_TYPE_VARCHAR | T::MYSQL_TYPE_VAR_STRING => {
            prefixed(if u16::from_le_bytes(*meta) < 256 { 1 } else { 2 })?
        }
        T::MYSQL_TYPE_STRING => {
            // CHAR(n): the maximum length in bytes decides the prefix (`Field_string::unpack`).
            let max = match meta[0] {
                0 => u16::from_le_bytes(*meta) as usize,
                m if m & 0x30 != 0x30 => meta[1] as usize | (((m as usize & 0x30) ^ 0x30) << 4),
                _ => meta[1] as usize,
            };
            prefixed(if max < 256 { 1 } else { 2 })?
        }
        _ => return None,
    })
}

/// Fills `out` with a column bitmap of a rows event (empty when the image is absent).
fn fill_bits(ev: &RowsEventData<'_>, before: bool, out: &mut Vec<bool>) {
    out.clear();
    let s = if before { ev.columns_before_image() } else { ev.columns_after_image() };
    if let Some(s) = s {
        out.extend(s.iter().by_vals());
    }
}

fn walk_images(
    body: &[u8],
    plain: EventType,
    fde: &FormatDescriptionEvent<'_>,
    tables: &HashMap<u64, Table>,
    scratch: &mut Scratch,
    measure: Measure,
    f: &mut dyn FnMut(&TableRef<'_>, &RowImage<'_>),
) -> DecodeResult<()> {
    const E: &str = "row image";
    let ev = parse_rows(body, plain, fde).map_err(|_| "rows event")?;
    let table = tables.get(&ev.table_id()).ok_or("rows event for an unknown table")?;
    let tref = TableRef { db: &table.db, name: &table.name, columns: table.cols.len() };
    let update = matches!(plain.0, 24 | 31 | 39);
    let partial = plain == EventType::PARTIAL_UPDATE_ROWS;
    let Scratch { before, after, spans } = scratch;
    match plain.0 {
        23 | 30 => {
            fill_bits(&ev, false, before);
            after.clear();
        }
        25 | 32 => {
            fill_bits(&ev, true, before);
            after.clear();
        }
        _ => {
            fill_bits(&ev, true, before);
            fill_bits(&ev, false, after);
        }
    }
    let json_count = table.json_count();
    let data = ev.rows_data();
    let mut buf = ParseBuf(data);
    while !buf.is_empty() {
        let row_start = buf.len();
        for (img, cols) in [(0, &*before), (1, &*after)] {
            if img == 1 && !update {
                break;
            }
            let head = ImageHead::read(&mut buf, partial && img == 1, json_count, cols)?;
            spans.clear();
            for (_, col, present) in head.columns(&table.cols, cols) {
                let Some(ColumnFlags { is_null, is_partial }) = present else {
                    spans.push(Span::Absent);
                    continue;
                };
                if is_null {
                    spans.push(Span::Null);
                    continue;
                }
                let (Some(ty), Some(meta)) = (col.ty, col.meta.as_ref()) else {
                    return Err("column type");
                };
                let start = data.len() - buf.len();
                let n = measure(buf.0, ty, meta, is_partial)?;
                buf.checked_eat(n).ok_or(E)?;
                spans.push(Span::At(start, start + n));
            }
            f(&tref, &RowImage { data, spans });
        }
        if buf.len() == row_start {
            return Err(E); // no progress: a malformed event would loop forever
        }
    }
    Ok(())
}

/// Decodes one value with mysql_common; returns it and the raw bytes it used.
pub(crate) fn decode<'a, 'm>(
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
    // A DATETIME2 is stored offset by 2^39: a clear top bit is a negative
    // datetime, which no server writes, and whose unpacking negates
    // i64::MIN in mysql_common (found by fuzzing).
    if ty == ColumnType::MYSQL_TYPE_DATETIME2 && buf.0.first().is_some_and(|b| b & 0x80 == 0) {
        return Err("DATETIME2 value");
    }
    let start: &'a [u8] = buf.0;
    let mut b: ParseBuf<'m> = ParseBuf(start);
    let v = b.parse::<BinlogValue<'m>>((ty, &meta[..], false, partial)).map_err(|_| "row value")?;
    let used = start.len() - b.len();
    buf.0 = &start[used..];
    Ok((v, &start[..used]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lenenc_reads() {
        assert_eq!(lenenc(&[0xfc, 0x01, 0x02]), Some((0x0201, 3)));
        assert_eq!(lenenc(&[0xfb]), None);
    }
}
