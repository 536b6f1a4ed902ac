//! Quoting and escaping: every escape loop of the row printer is here.
//! Values are copied a run at a time: eight bytes are tested at once for a
//! byte that needs escaping, and the bytes before it copied in one go.

use std::fmt::Write as _;

use super::RowStyle;

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
    escape_runs(out, b, needs_mysql, |out, c| match c {
        0x08 => out.extend_from_slice(b"\\b"),
        0x0c => out.extend_from_slice(b"\\f"),
        b'\n' => out.extend_from_slice(b"\\n"),
        b'\r' => out.extend_from_slice(b"\\r"),
        b'\t' => out.extend_from_slice(b"\\t"),
        b'\\' => out.extend_from_slice(b"\\\\"),
        b'\'' => out.extend_from_slice(b"\\'"),
        c => hex_escape(out, b"\\x", c),
    });
    out.push(b'\'');
}

/// MariaDB `my_b_write_quoted`: bytes above 0x1F as they are (quotes and
/// backslashes included), control characters as `\xNN`.
pub(super) fn quote_maria(out: &mut Vec<u8>, b: &[u8]) {
    out.push(b'\'');
    escape_runs(out, b, needs_maria, |out, c| hex_escape(out, b"\\x", c));
    out.push(b'\'');
}

/// Copies `b` to `out` a run at a time: the bytes up to the next one that
/// `word_needs` flags (eight at a time) and `one` then escapes.
#[inline(always)]
fn escape_runs(out: &mut Vec<u8>, b: &[u8], word_needs: fn(u64) -> bool, mut one: impl FnMut(&mut Vec<u8>, u8)) {
    out.reserve(b.len() + 2);
    let mut run = 0; // start of the bytes not yet copied
    let mut i = 0;
    while i < b.len() {
        // Skip whole words that need nothing.
        while let Some(w) = b.get(i..i + 8) {
            let w = u64::from_le_bytes(w.try_into().expect("8 bytes"));
            if word_needs(w) {
                break;
            }
            i += 8;
        }
        let Some(&c) = b.get(i) else { break };
        if word_needs(u64::from(c) | 0x4040_4040_4040_4000) {
            out.extend_from_slice(&b[run..i]);
            one(out, c);
            run = i + 1;
        }
        i += 1;
    }
    out.extend_from_slice(&b[run..]);
}

const LOW: u64 = 0x0101_0101_0101_0101;
const HIGH: u64 = 0x8080_8080_8080_8080;

/// Some byte of `w` is below 0x20 (exact: `haszero`-style test of `w - 0x20`
/// on bytes whose top bit is clear, which all bytes below 0x20 have).
#[inline(always)]
fn any_control(w: u64) -> bool {
    w.wrapping_sub(LOW * 0x20) & !w & HIGH != 0
}

/// Some byte of `w` equals `c`.
#[inline(always)]
fn any_eq(w: u64, c: u8) -> bool {
    let x = w ^ (LOW * c as u64);
    x.wrapping_sub(LOW) & !x & HIGH != 0
}

fn needs_maria(w: u64) -> bool {
    any_control(w)
}

fn needs_mysql(w: u64) -> bool {
    any_control(w) || any_eq(w, b'\\') || any_eq(w, b'\'')
}

/// `prefix` and two lower-case hex digits.
#[inline]
fn hex_escape(out: &mut Vec<u8>, prefix: &[u8], c: u8) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.extend_from_slice(prefix);
    out.extend_from_slice(&[HEX[(c >> 4) as usize], HEX[(c & 15) as usize]]);
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
    escape_runs(
        out,
        s,
        |w| any_control(w) || any_eq(w, b'"') || any_eq(w, b'\\'),
        |out, c| match c {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            c => hex_escape(out, b"\\u00", c),
        },
    );
    out.push(b'"');
}
