//! One column value, as `log_event_print_value` prints it: the dispatch by
//! column type to the type families, and what they share.

mod number;
mod string;
mod temporal;

use std::borrow::Cow;
use std::fmt::Write as _;

use mysql_common::binlog::value::BinlogValue;
use mysql_common::constants::ColumnType;
use mysql_common::io::ParseBuf;
use mysql_common::value::Value;

use super::escape::quote;
use super::json::{json_text, print_json_diff};
use super::{Ctx, Flow, RowStyle, TextSink};
use crate::event::rows::{Col, DecodeResult, decode, value_len};

#[cfg(test)]
pub(super) use {string::write_bits, temporal::write_frac};

/// A column of a row image, as the row walk hands it over.
pub(super) struct ColumnToPrint<'c> {
    pub(super) col: &'c Col,
    /// The image's null bit for it.
    pub(super) is_null: bool,
    /// A JSON column logged as a partial update (a JSON diff).
    pub(super) is_partial: bool,
    /// `N` of `@N`: the column's number, from 1.
    pub(super) col_no: usize,
    pub(super) ctx: Ctx,
}

/// A column whose type and metadata are known: what a type family prints.
#[derive(Clone, Copy)]
struct Field<'c> {
    col: &'c Col,
    ty: ColumnType,
    meta: &'c [u8; 2],
    /// `col.meta_num`: the metadata as one number.
    m: u16,
    is_null: bool,
    is_partial: bool,
    col_no: usize,
    ctx: Ctx,
}

impl<'c> Field<'c> {
    fn maria(&self) -> bool {
        self.ctx.style == RowStyle::MariaDb
    }

    /// The value's stored bytes, read from `buf`; `None` for a NULL, which
    /// this prints (the type name is the caller's, printed first).
    fn raw<'b>(&self, out: &mut Vec<u8>, buf: &mut ParseBuf<'b>) -> DecodeResult<Option<&'b [u8]>> {
        if self.is_null {
            null(out);
            return Ok(None);
        }
        Ok(Some(take_raw(buf, self.ty, self.meta)?))
    }

    /// A string-like value's bytes without their length prefix (read from
    /// `buf`, borrowed where the layout is known); `None` for a NULL, which
    /// this prints.
    fn bytes<'b>(&self, out: &mut Vec<u8>, buf: &mut ParseBuf<'b>) -> DecodeResult<Option<Cow<'b, [u8]>>> {
        if self.is_null {
            null(out);
            return Ok(None);
        }
        if let (Some(p), Some(n)) = (length_prefix(self.ty, self.meta), value_len(buf.0, self.ty, self.meta)) {
            let raw = buf.checked_eat(n).ok_or("row value")?;
            return Ok(Some(Cow::Borrowed(raw.get(p..).ok_or("row value")?)));
        }
        match decode(buf, self.ty, self.meta, false)?.0 {
            BinlogValue::Value(Value::Bytes(b)) => Ok(Some(Cow::Owned(b))),
            _ => Err("row value"),
        }
    }

    /// As [`Field::raw`], the value decoded.
    fn value<'b, 'v>(&self, out: &mut Vec<u8>, buf: &mut ParseBuf<'b>) -> DecodeResult<Option<BinlogValue<'v>>>
    where
        'b: 'v,
        'c: 'v,
    {
        if self.is_null {
            null(out);
            return Ok(None);
        }
        Ok(Some(decode(buf, self.ty, self.meta, false)?.0))
    }
}

/// A value's stored bytes, taken from `buf` by their length where the
/// layout is known ([`value_len`]), else by decoding them.
fn take_raw<'b>(buf: &mut ParseBuf<'b>, ty: ColumnType, meta: &[u8; 2]) -> DecodeResult<&'b [u8]> {
    // As `decode` refuses it: a negative DATETIME2, which no server writes.
    if ty == ColumnType::MYSQL_TYPE_DATETIME2 && buf.0.first().is_some_and(|b| b & 0x80 == 0) {
        return Err("DATETIME2 value");
    }
    match value_len(buf.0, ty, meta) {
        Some(n) => buf.checked_eat(n).ok_or("row value"),
        None => Ok(decode(buf, ty, meta, false)?.1),
    }
}

/// Bytes of the length prefix of a string-like value (`Field::unpack`).
fn length_prefix(ty: ColumnType, meta: &[u8; 2]) -> Option<usize> {
    use ColumnType as T;
    match ty {
        T::MYSQL_TYPE_BLOB | T::MYSQL_TYPE_GEOMETRY => matches!(meta[0], 1..=4).then_some(meta[0] as usize),
        T::MYSQL_TYPE_VARCHAR | T::MYSQL_TYPE_VAR_STRING => Some(if u16::from_le_bytes(*meta) < 256 { 1 } else { 2 }),
        T::MYSQL_TYPE_STRING => {
            // CHAR(n): the maximum length in bytes decides (as `value_len`).
            let max = match meta[0] {
                0 => u16::from_le_bytes(*meta) as usize,
                m if m & 0x30 != 0x30 => meta[1] as usize | (((m as usize & 0x30) ^ 0x30) << 4),
                _ => meta[1] as usize,
            };
            Some(if max < 256 { 1 } else { 2 })
        }
        _ => None,
    }
}

/// The first `N` bytes of a stored value.
fn head<const N: usize>(raw: &[u8]) -> DecodeResult<[u8; N]> {
    raw.get(..N).and_then(|b| b.try_into().ok()).ok_or("row value")
}

/// Prints the value of `cell` (reading it from `buf`) and appends its `-vv`
/// type name to `typestr`. A column type the tools cannot print stops the
/// event, with their note.
#[inline]
pub(super) fn print_value(
    out: &mut Vec<u8>,
    cell: ColumnToPrint<'_>,
    buf: &mut ParseBuf<'_>,
    typestr: &mut String,
) -> DecodeResult<Flow> {
    use ColumnType as T;
    let col = cell.col;
    let (Some(ty), Some(meta)) = (col.ty, col.meta.as_ref()) else {
        return Ok(unknown(out, col));
    };
    let ColumnToPrint { is_null, is_partial, col_no, ctx, .. } = cell;
    let f = Field { col, ty, meta, m: col.meta_num, is_null, is_partial, col_no, ctx };
    let maria = f.maria();
    match ty {
        T::MYSQL_TYPE_LONG
        | T::MYSQL_TYPE_TINY
        | T::MYSQL_TYPE_SHORT
        | T::MYSQL_TYPE_INT24
        | T::MYSQL_TYPE_LONGLONG => number::integer(out, &f, buf, typestr),
        T::MYSQL_TYPE_NEWDECIMAL | T::MYSQL_TYPE_FLOAT | T::MYSQL_TYPE_DOUBLE => {
            number::decimal_or_float(out, &f, buf, typestr)
        }
        T::MYSQL_TYPE_VECTOR if !maria => number::vector(out, &f, buf, typestr),
        T::MYSQL_TYPE_TIMESTAMP | T::MYSQL_TYPE_TIMESTAMP2 => temporal::timestamp(out, &f, buf, typestr),
        T::MYSQL_TYPE_DATETIME | T::MYSQL_TYPE_DATETIME2 => temporal::datetime(out, &f, buf, typestr),
        T::MYSQL_TYPE_TIME | T::MYSQL_TYPE_TIME2 => temporal::time(out, &f, buf, typestr),
        T::MYSQL_TYPE_NEWDATE | T::MYSQL_TYPE_YEAR => temporal::date(out, &f, buf, typestr),
        T::MYSQL_TYPE_BIT | T::MYSQL_TYPE_ENUM | T::MYSQL_TYPE_SET => string::bit_enum_set(out, &f, buf, typestr),
        T::MYSQL_TYPE_BLOB | T::MYSQL_TYPE_VARCHAR | T::MYSQL_TYPE_VAR_STRING | T::MYSQL_TYPE_STRING => {
            string::string(out, &f, buf, typestr)
        }
        T::MYSQL_TYPE_GEOMETRY if maria => string::string(out, &f, buf, typestr),
        T::MYSQL_TYPE_JSON if !maria => json(out, &f, buf, typestr),
        _ => Ok(unknown(out, col)),
    }
}

/// The MySQL tool's note for a column type it cannot print; the event stops.
fn unknown(out: &mut Vec<u8>, col: &Col) -> Flow {
    let _ = write!(
        TextSink(out),
        "!! Don't know how to handle column type={} meta={} ({:04x})",
        col.raw,
        col.meta_num,
        col.meta_num
    );
    Flow::Stop
}

fn null(out: &mut Vec<u8>) -> Flow {
    out.extend_from_slice(b"NULL");
    Flow::Go(0)
}

fn value_bytes<'v>(v: &'v BinlogValue<'_>) -> DecodeResult<&'v [u8]> {
    match v {
        BinlogValue::Value(Value::Bytes(b)) => Ok(b),
        _ => Err("row value"),
    }
}

/// MySQL's JSON column: its text quoted, or a partial update as
/// `JSON_REPLACE(@N, …)` calls.
fn json(out: &mut Vec<u8>, f: &Field<'_>, buf: &mut ParseBuf<'_>, typestr: &mut String) -> DecodeResult<Flow> {
    typestr.push_str("JSON");
    if f.is_null {
        return Ok(null(out));
    }
    let (v, raw) = decode(buf, f.ty, f.meta, f.is_partial)?;
    let mut budget = raw.len() + 16;
    match &v {
        BinlogValue::Jsonb(j) => {
            let mut text = Vec::new();
            json_text(&mut text, j, false, 0, &mut budget)?;
            quote(out, &text, f.ctx.style);
        }
        BinlogValue::JsonDiff(d) => print_json_diff(out, d, f.col_no, f.ctx, &mut budget)?,
        _ => return Err("row value"),
    }
    Ok(Flow::Go(0))
}
