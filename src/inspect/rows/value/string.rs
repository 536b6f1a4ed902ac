//! Strings and their kin: BIT and SET as `b'0101'`, ENUM as its index,
//! CHAR/VARCHAR/BLOB (and MariaDB's GEOMETRY) quoted.

use std::fmt::Write as _;

use mysql_common::binlog::value::BinlogValue;
use mysql_common::constants::ColumnType;
use mysql_common::io::ParseBuf;
use mysql_common::value::Value;

use super::super::escape::quote;
use super::super::{Flow, TextSink};
use super::{Field, value_bytes};
use crate::event::rows::DecodeResult;

/// BIT(n) and SET as bits, ENUM as its index.
pub(super) fn bit_enum_set(
    out: &mut Vec<u8>,
    f: &Field<'_>,
    buf: &mut ParseBuf<'_>,
    typestr: &mut String,
) -> DecodeResult<Flow> {
    let (ty, m) = (f.ty, f.m);
    match ty {
        ColumnType::MYSQL_TYPE_BIT => {
            let nbits = (m >> 8) as usize * 8 + (m & 0xff) as usize;
            let _ = write!(typestr, "BIT({nbits})");
            let Some(v) = f.value(out, buf)? else { return Ok(Flow::Go(0)) };
            write_bits(out, value_bytes(&v)?, nbits);
        }
        ColumnType::MYSQL_TYPE_ENUM => {
            match m & 0xff {
                1 => typestr.push_str("ENUM(1 byte)"),
                2 => typestr.push_str("ENUM(2 bytes)"),
                n => {
                    let _ = write!(TextSink(out), "!! Unknown ENUM packlen={n}");
                    return Ok(Flow::Stop);
                }
            }
            let Some(v) = f.value(out, buf)? else { return Ok(Flow::Go(0)) };
            let BinlogValue::Value(Value::Int(i)) = v else {
                return Err("row value");
            };
            let _ = write!(TextSink(out), "{i}");
        }
        _ => {
            let n = (m & 0xff) as usize;
            let _ = write!(typestr, "SET({n} bytes)");
            let Some(v) = f.value(out, buf)? else { return Ok(Flow::Go(0)) };
            write_bits(out, value_bytes(&v)?, n * 8);
        }
    }
    Ok(Flow::Go(0))
}

/// BLOB/TEXT, VARCHAR, CHAR and MariaDB's GEOMETRY: the stored bytes quoted
/// (MariaDB's compressed ones as stored).
pub(super) fn string(
    out: &mut Vec<u8>,
    f: &Field<'_>,
    buf: &mut ParseBuf<'_>,
    typestr: &mut String,
) -> DecodeResult<Flow> {
    let m = f.m;
    let c = if f.col.compressed { " COMPRESSED" } else { "" };
    match f.ty {
        ColumnType::MYSQL_TYPE_BLOB => {
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
        }
        ColumnType::MYSQL_TYPE_VARCHAR | ColumnType::MYSQL_TYPE_VAR_STRING => {
            let _ = write!(typestr, "VARSTRING({m}){c}");
        }
        ColumnType::MYSQL_TYPE_STRING => {
            let len = if m >= 256 {
                let (b0, b1) = ((m >> 8) as u32, (m & 0xff) as u32);
                if b0 & 0x30 != 0x30 { b1 | (((b0 & 0x30) ^ 0x30) << 4) } else { b1 }
            } else {
                m as u32
            };
            let _ = write!(typestr, "STRING({len})");
        }
        _ => typestr.push_str("GEOMETRY"),
    }
    let Some(v) = f.bytes(out, buf)? else { return Ok(Flow::Go(0)) };
    quote(out, &v, f.ctx.style);
    Ok(Flow::Go(0))
}

/// `my_b_write_bit`: `b'0101'`, the last `nbits` bits of `ptr`, MSB first.
pub(in crate::inspect::rows) fn write_bits(out: &mut Vec<u8>, ptr: &[u8], nbits: usize) {
    let nbits8 = nbits.div_ceil(8) * 8;
    out.extend_from_slice(b"b'");
    for bit in nbits8 - nbits..nbits8 {
        let set = ptr.get(bit / 8).is_some_and(|b| b >> (7 - bit % 8) & 1 == 1);
        out.push(if set { b'1' } else { b'0' });
    }
    out.push(b'\'');
}
