//! Quoting and escaping: every byte-by-byte escape loop of the row printer
//! is here.

use std::fmt::Write as _;

use super::{RowStyle, TextSink};

/// A string value quoted as `style`'s tool quotes it.
pub(super) fn quote(out: &mut Vec<u8>, b: &[u8], style: RowStyle) {
    match style {
        RowStyle::MySql => quote_mysql(out, b),
        RowStyle::MariaDb => quote_maria(out, b),
    }
}

/// MySQL 8.0 `my_b_write_quoted`: C escapes for `\b \f \n \r \t \\ \'`,
/// `\xNN` for other control characters, other bytes as they are.
pub(super) fn quote_mysql(out: &mut Vec<u8>, b: &[u8]) {
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
pub(super) fn quote_maria(out: &mut Vec<u8>, b: &[u8]) {
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
pub(super) fn quote_ident(out: &mut Vec<u8>, name: &[u8]) {
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
pub(super) fn push_escaped_utf8(out: &mut String, b: &[u8]) {
    for chunk in b.utf8_chunks() {
        out.push_str(chunk.valid());
        for x in chunk.invalid() {
            let _ = write!(out, "\\x{x:02x}");
        }
    }
}

/// `double_quote()`: JSON string escapes, control characters as `\u00XX`.
pub(super) fn json_quote(out: &mut Vec<u8>, s: &[u8]) {
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
