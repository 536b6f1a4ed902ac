//! JSON as MySQL's `Json_wrapper::to_string` writes it, and JSON partial
//! updates as `print_json_diff` does.

use std::fmt::Write as _;
use std::io;

use mysql_common::binlog::decimal::Decimal;
use mysql_common::binlog::jsonb;
use mysql_common::binlog::jsondiff::{JsonDiff, JsonDiffOperation};
use mysql_common::binlog::time::{MysqlTime, MysqlTimestampType};
use mysql_common::constants::ColumnType;

use super::escape::{json_quote, quote};
use super::float_fmt::my_gcvt;
use super::{Ctx, TextSink};
use crate::event::rows::DecodeResult;

/// Deeper documents are refused (MySQL's limit is 100).
const JSON_MAX_DEPTH: usize = 150;

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
pub(super) fn json_text(
    out: &mut Vec<u8>,
    v: &jsonb::Value<'_>,
    quoted: bool,
    depth: usize,
    budget: &mut usize,
) -> DecodeResult<()> {
    use jsonb::Value as J;
    if depth > JSON_MAX_DEPTH {
        return Err("JSON nesting");
    }
    // Value offsets may point to shared data: a hostile document could
    // expand exponentially. A real one has fewer nodes than bytes.
    *budget = budget.checked_sub(1).ok_or("JSON value offsets")?;
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
        J::String(s) => str_or_quoted(out, s.str_raw(), quoted),
        J::SmallArray(a) => json_array(out, a.iter(), depth, budget)?,
        J::LargeArray(a) => json_array(out, a.iter(), depth, budget)?,
        J::SmallObject(o) => json_object(out, o.iter(), depth, budget)?,
        J::LargeObject(o) => json_object(out, o.iter(), depth, budget)?,
        J::Opaque(o) => json_opaque(out, o.value_type(), o.data_raw(), quoted)?,
    }
    Ok(())
}

/// A string: JSON-quoted inside a container, bare at the top.
fn str_or_quoted(out: &mut Vec<u8>, s: &[u8], quoted: bool) {
    if quoted { json_quote(out, s) } else { out.extend_from_slice(s) }
}

/// An opaque value (a MySQL type stored in JSON): DECIMAL bare, temporal
/// values and strings as strings, anything else as `base64:typeN:…`.
fn json_opaque(out: &mut Vec<u8>, ty: ColumnType, data: &[u8], quoted: bool) -> DecodeResult<()> {
    const E: &str = "JSON value";
    match ty {
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
            str_or_quoted(out, s.as_bytes(), quoted);
        }
        ColumnType::MYSQL_TYPE_VAR_STRING => str_or_quoted(out, data, quoted),
        t => {
            let s = format!("base64:type{}:{}", t as u8, base64(data));
            str_or_quoted(out, s.as_bytes(), quoted);
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
pub(super) fn base64(data: &[u8]) -> String {
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
pub(super) fn print_json_diff(
    out: &mut Vec<u8>,
    diffs: &[JsonDiff<'_>],
    col_no: usize,
    ctx: Ctx,
    budget: &mut usize,
) -> DecodeResult<()> {
    const SEP: &[u8] = b"\n###      ";
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
        quote(out, d.path(), ctx.style);
        if d.operation() != JsonDiffOperation::REMOVE {
            out.extend_from_slice(b", ");
            let v = d.value().ok_or("JSON diff value")?;
            let mut text = Vec::new();
            json_text(&mut text, v, false, 0, budget)?;
            match json_class(v) {
                JsonClass::Bare => out.extend_from_slice(&text),
                JsonClass::Str => quote(out, &text, ctx.style),
                JsonClass::Container => {
                    out.extend_from_slice(b"CAST(");
                    quote(out, &text, ctx.style);
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
