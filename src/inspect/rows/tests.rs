use super::escape::{json_quote, push_escaped_utf8, quote_ident, quote_maria, quote_mysql};
use super::float_fmt::{c_fmt_e, c_fmt_g, my_gcvt};
use super::json::base64;
use super::value::{write_bits, write_frac};

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

/// `c_fmt_g` is C's `%.{prec}g` (glibc's `snprintf`), byte for byte, on
/// doubles of every magnitude and the precisions the printer uses.
#[test]
fn c_fmt_g_matches_snprintf() {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut checked = 0;
    for i in 0..200_000u64 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        // Random bit patterns (every exponent), and values near small integers and decimals.
        let v = match i % 3 {
            0 => f64::from_bits(x),
            1 => (x % 2_000_000) as f64 / 1000.0 - 1000.0,
            _ => (x >> 11) as f64 * 2f64.powi((x % 80) as i32 - 60),
        };
        if !v.is_finite() {
            continue;
        }
        for prec in [6usize, 17, 20] {
            let mut buf = [0u8; 64];
            let fmt = std::ffi::CString::new(format!("%.{prec}g")).unwrap();
            // SAFETY: the buffer is 64 bytes and its length is passed; the format takes one double.
            let n = unsafe { libc::snprintf(buf.as_mut_ptr().cast(), buf.len(), fmt.as_ptr(), v) };
            let want = std::str::from_utf8(&buf[..n as usize]).unwrap();
            assert_eq!(c_fmt_g(v, prec), want, "{v:e} %.{prec}g");
            checked += 1;
        }
    }
    assert!(checked > 500_000);
}
