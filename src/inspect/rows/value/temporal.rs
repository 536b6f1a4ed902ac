//! Dates and times: TIMESTAMP as seconds since the epoch, DATETIME and TIME
//! (old and fractional), DATE as `'YYYY:MM:DD'`, YEAR.

use std::fmt::Write as _;

use mysql_common::binlog::value::BinlogValue;
use mysql_common::constants::ColumnType;
use mysql_common::io::ParseBuf;
use mysql_common::value::Value;

use super::super::escape::quote;
use super::super::{Flow, TextSink};
use super::{Field, head};
use crate::event::rows::DecodeResult;

const E: &str = "row value";

/// TIMESTAMP as signed seconds; TIMESTAMP(n) with `n` fractional digits.
pub(super) fn timestamp(
    out: &mut Vec<u8>,
    f: &Field<'_>,
    buf: &mut ParseBuf<'_>,
    typestr: &mut String,
) -> DecodeResult<Flow> {
    let (ty, m) = (f.ty, f.m);
    if ty == ColumnType::MYSQL_TYPE_TIMESTAMP {
        typestr.push_str("TIMESTAMP");
        let Some(raw) = f.raw(out, buf)? else { return Ok(Flow::Go(0)) };
        let u = u32::from_le_bytes(head(raw)?);
        let _ = write!(TextSink(out), "{}", u as i32);
        return Ok(Flow::Go(0));
    }
    let _ = write!(typestr, "TIMESTAMP({m})");
    let Some(raw) = f.raw(out, buf)? else { return Ok(Flow::Go(0)) };
    let sec = u32::from_be_bytes(head(raw)?);
    let frac = &raw[4..];
    let usec: u32 = match m {
        1 | 2 => *frac.first().ok_or(E)? as u32 * 10_000,
        3 | 4 => u16::from_be_bytes(head(frac)?) as u32 * 100,
        5 | 6 => {
            let b = frac.get(..3).ok_or(E)?;
            u32::from_be_bytes([0, b[0], b[1], b[2]])
        }
        _ => 0,
    };
    let _ = write!(TextSink(out), "{sec}");
    write_frac(out, usec, m as u32);
    Ok(Flow::Go(0))
}

/// Old DATETIME (quoted by MariaDB's tool only); DATETIME(n) quoted.
pub(super) fn datetime(
    out: &mut Vec<u8>,
    f: &Field<'_>,
    buf: &mut ParseBuf<'_>,
    typestr: &mut String,
) -> DecodeResult<Flow> {
    let (ty, m) = (f.ty, f.m);
    if ty == ColumnType::MYSQL_TYPE_DATETIME {
        typestr.push_str("DATETIME");
        let Some(raw) = f.raw(out, buf)? else { return Ok(Flow::Go(0)) };
        let v = u64::from_le_bytes(head(raw)?);
        let (d, t) = (v / 1_000_000, v % 1_000_000);
        let q = if f.maria() { "'" } else { "" };
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
        return Ok(Flow::Go(0));
    }
    let _ = write!(typestr, "DATETIME({m})");
    let Some(v) = f.value(out, buf)? else { return Ok(Flow::Go(0)) };
    let BinlogValue::Value(Value::Date(y, mo, d, h, mi, s, us)) = v else {
        return Err(E);
    };
    let mut t = format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}").into_bytes();
    write_frac(&mut t, us, m as u32);
    quote(out, &t, f.ctx.style);
    Ok(Flow::Go(0))
}

/// Old TIME (signed by MariaDB's tool only); TIME(n) quoted.
pub(super) fn time(
    out: &mut Vec<u8>,
    f: &Field<'_>,
    buf: &mut ParseBuf<'_>,
    typestr: &mut String,
) -> DecodeResult<Flow> {
    let (ty, m) = (f.ty, f.m);
    if ty == ColumnType::MYSQL_TYPE_TIME {
        typestr.push_str("TIME");
        let Some(raw) = f.raw(out, buf)? else { return Ok(Flow::Go(0)) };
        let b = raw.get(..3).ok_or(E)?;
        let u = u32::from_le_bytes([b[0], b[1], b[2], 0]);
        if f.maria() {
            let s = ((u << 8) as i32) >> 8;
            let a = s.unsigned_abs();
            let sign = if s < 0 { "-" } else { "" };
            let _ = write!(TextSink(out), "'{sign}{:02}:{:02}:{:02}'", a / 10000, a % 10000 / 100, a % 100);
        } else {
            let _ = write!(TextSink(out), "'{:02}:{:02}:{:02}'", u / 10000, u % 10000 / 100, u % 100);
        }
        return Ok(Flow::Go(0));
    }
    let _ = write!(typestr, "TIME({m})");
    let Some(v) = f.value(out, buf)? else { return Ok(Flow::Go(0)) };
    let BinlogValue::Value(Value::Time(neg, days, h, mi, s, us)) = v else {
        return Err(E);
    };
    let hours = days as u64 * 24 + h as u64;
    let sign = if neg { "-" } else { "" };
    let mut t = format!("{sign}{hours:02}:{mi:02}:{s:02}").into_bytes();
    write_frac(&mut t, us, m as u32);
    quote(out, &t, f.ctx.style);
    Ok(Flow::Go(0))
}

/// DATE as `'YYYY:MM:DD'` (sic: the tools' colons); YEAR as four digits.
pub(super) fn date(
    out: &mut Vec<u8>,
    f: &Field<'_>,
    buf: &mut ParseBuf<'_>,
    typestr: &mut String,
) -> DecodeResult<Flow> {
    let ty = f.ty;
    if ty == ColumnType::MYSQL_TYPE_YEAR {
        typestr.push_str("YEAR");
        let Some(raw) = f.raw(out, buf)? else { return Ok(Flow::Go(0)) };
        let _ = write!(TextSink(out), "{:04}", *raw.first().ok_or(E)? as u32 + 1900);
        return Ok(Flow::Go(0));
    }
    typestr.push_str("DATE");
    let Some(raw) = f.raw(out, buf)? else { return Ok(Flow::Go(0)) };
    let b = raw.get(..3).ok_or(E)?;
    let v = u32::from_le_bytes([b[0], b[1], b[2], 0]);
    out.push(b'\'');
    out.extend_from_slice(&date_digits(v));
    out.push(b'\'');
    Ok(Flow::Go(0))
}

/// A packed DATE's digits as field.cc writes them ('0' + part, the first
/// unbounded).
fn date_digits(v: u32) -> [u8; 10] {
    let (d, mo, mut y) = (v & 31, v >> 5 & 15, v >> 9);
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
    s
}

/// `.` and `dec` digits of `usec` (`my_useconds_to_str`).
pub(in crate::inspect::rows) fn write_frac(out: &mut Vec<u8>, usec: u32, dec: u32) {
    if dec == 0 || dec > 6 {
        return;
    }
    let v = usec / 10u32.pow(6 - dec);
    let _ = write!(TextSink(out), ".{:0w$}", v, w = dec as usize);
}
