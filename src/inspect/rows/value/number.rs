//! Numbers: integers (signed, with the unsigned reading when negative),
//! DECIMAL, FLOAT, DOUBLE and MySQL's VECTOR.

use std::fmt::Write as _;

use mysql_common::constants::ColumnType;
use mysql_common::io::ParseBuf;

use super::super::float_fmt::{c_fmt_e, c_fmt_g};
use super::super::{Flow, TextSink};
use super::{Field, head, value_bytes};
use crate::event::rows::DecodeResult;

const E: &str = "row value";

/// TINYINT to BIGINT: `-1 (255)`.
pub(super) fn integer(
    out: &mut Vec<u8>,
    f: &Field<'_>,
    buf: &mut ParseBuf<'_>,
    typestr: &mut String,
) -> DecodeResult<Flow> {
    use ColumnType as T;
    let ty = f.ty;
    if ty == T::MYSQL_TYPE_LONGLONG {
        typestr.push_str("LONGINT");
        let Some(raw) = f.raw(out, buf)? else { return Ok(Flow::Go(0)) };
        let u = u64::from_le_bytes(head(raw)?);
        let s = u as i64;
        signed_unsigned(out, s, u);
        return Ok(Flow::Go(0));
    }
    let (name, bytes) = match ty {
        T::MYSQL_TYPE_LONG => ("INT", 4),
        T::MYSQL_TYPE_TINY => ("TINYINT", 1),
        T::MYSQL_TYPE_SHORT => ("SHORTINT", 2),
        _ => ("MEDIUMINT", 3),
    };
    typestr.push_str(name);
    let Some(raw) = f.raw(out, buf)? else { return Ok(Flow::Go(0)) };
    let raw = raw.get(..bytes).ok_or(E)?;
    let u = raw.iter().rev().fold(0u32, |a, &x| (a << 8) | x as u32);
    let shift = 32 - 8 * bytes as u32;
    let s = ((u << shift) as i32) >> shift;
    signed_unsigned(out, s.into(), u.into());
    Ok(Flow::Go(0))
}

/// `-1 (255)`: the signed reading, and the unsigned one when negative.
#[inline]
fn signed_unsigned(out: &mut Vec<u8>, s: i64, u: u64) {
    let mut b = itoa::Buffer::new();
    out.extend_from_slice(b.format(s).as_bytes());
    if s < 0 {
        out.extend_from_slice(b" (");
        out.extend_from_slice(b.format(u).as_bytes());
        out.push(b')');
    }
}

/// DECIMAL with its scale, FLOAT as `%-20g`, DOUBLE as `%-.20g`.
pub(super) fn decimal_or_float(
    out: &mut Vec<u8>,
    f: &Field<'_>,
    buf: &mut ParseBuf<'_>,
    typestr: &mut String,
) -> DecodeResult<Flow> {
    let (ty, m) = (f.ty, f.m);
    match ty {
        ColumnType::MYSQL_TYPE_NEWDECIMAL => {
            let _ = write!(typestr, "DECIMAL({},{})", m >> 8, m & 0xff);
            let Some(v) = f.value(out, buf)? else { return Ok(Flow::Go(0)) };
            out.extend_from_slice(value_bytes(&v)?);
        }
        ColumnType::MYSQL_TYPE_FLOAT => {
            typestr.push_str("FLOAT");
            let Some(raw) = f.raw(out, buf)? else { return Ok(Flow::Go(0)) };
            let x = f32::from_le_bytes(head(raw)?);
            let _ = write!(TextSink(out), "{:<20}", c_fmt_g(x as f64, 6));
        }
        _ => {
            typestr.push_str("DOUBLE");
            let Some(raw) = f.raw(out, buf)? else { return Ok(Flow::Go(0)) };
            let d = f64::from_le_bytes(head(raw)?);
            out.extend_from_slice(c_fmt_g(d, 20).as_bytes());
        }
    }
    Ok(Flow::Go(0))
}

/// MySQL's VECTOR: `[1.00000e+00,…]`.
pub(super) fn vector(
    out: &mut Vec<u8>,
    f: &Field<'_>,
    buf: &mut ParseBuf<'_>,
    typestr: &mut String,
) -> DecodeResult<Flow> {
    let _ = write!(typestr, "VECTOR({})", f.col.vector_dim);
    let Some(v) = f.value(out, buf)? else { return Ok(Flow::Go(0)) };
    let b = value_bytes(&v)?;
    let dims = b.len() / 4;
    out.push(b'[');
    for i in 0..dims {
        let x = f32::from_le_bytes(b[i * 4..i * 4 + 4].try_into().map_err(|_| E)?);
        out.extend_from_slice(c_fmt_e(x as f64, 5).as_bytes());
        out.push(if i == dims - 1 { b']' } else { b',' });
    }
    Ok(Flow::Go(0))
}
