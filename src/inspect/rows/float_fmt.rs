//! Floating-point numbers as C's `printf` and MySQL's `my_gcvt` print them.

use std::fmt::Write as _;

/// C `printf("%.{prec}g")`.
pub(super) fn c_fmt_g(v: f64, prec: usize) -> String {
    if v.is_nan() {
        return if v.is_sign_negative() { "-nan" } else { "nan" }.into();
    }
    if v.is_infinite() {
        return if v < 0.0 { "-inf" } else { "inf" }.into();
    }
    let p = prec.max(1);
    let a = v.abs();
    // `p` significant digits and the exponent `x` (after rounding), as C's
    // `%e` step of `%g`: exactly in 128-bit integers where they suffice,
    // else (and on an exact tie) with the standard library's exact conversion.
    let mut digits = [0u8; 40];
    let (n, x) = match (p <= 38).then(|| exact_digits(a, p, &mut digits)).flatten() {
        Some(x) => (p, x),
        None => {
            let sci = format!("{:.*e}", p - 1, a);
            let (mant, exp) = sci.split_at(sci.find('e').expect("exponent"));
            let mut n = 0;
            for &d in mant.as_bytes().iter().filter(|b| b.is_ascii_digit()) {
                if n < digits.len() {
                    digits[n] = d;
                    n += 1;
                }
            }
            (n, exp[1..].parse().expect("exponent digits"))
        }
    };
    let digits = &digits[..n];
    let mut s = String::with_capacity(p + 8);
    if v.is_sign_negative() {
        s.push('-');
    }
    if x < p as i32 && x >= -4 {
        // `%f` with `p - 1 - x` decimals: the same `p` digits, the point moved.
        if x >= 0 {
            for (i, &d) in digits.iter().enumerate() {
                if i == x as usize + 1 {
                    s.push('.');
                }
                s.push(d as char);
            }
        } else {
            s.push_str("0.");
            s.extend(std::iter::repeat_n('0', (-x - 1) as usize));
            s.extend(digits.iter().map(|&d| d as char));
        }
        strip_fraction_zeros(s)
    } else {
        let mut m = String::with_capacity(n + 1);
        m.push(digits[0] as char);
        if n > 1 {
            m.push('.');
            m.extend(digits[1..].iter().map(|&d| d as char));
        }
        s.push_str(&strip_fraction_zeros(m));
        let _ = write!(s, "e{}{:02}", if x < 0 { '-' } else { '+' }, x.unsigned_abs());
        s
    }
}

/// The first `p` significant digits of `a` (finite, not negative), rounded
/// to nearest, as ASCII into `out`, and the decimal exponent of the first;
/// `None` where 128-bit integers do not hold the exact value (below 1e-3,
/// above 2^127) or when the rest is exactly half (the tie rule is left to
/// the caller's exact conversion).
fn exact_digits(a: f64, p: usize, out: &mut [u8; 40]) -> Option<i32> {
    if a == 0.0 {
        out[..p].fill(b'0');
        return Some(0);
    }
    let bits = a.to_bits();
    let exp = ((bits >> 52) & 0x7ff) as i32;
    let frac = bits & ((1 << 52) - 1);
    // a = m * 2^e
    let (m, e) = if exp == 0 { (frac, -1074) } else { (frac | 1 << 52, exp - 1075) };
    // q * 10^-j = a, with `sticky` when a remainder was dropped.
    let (q, j, sticky) = if e >= 0 {
        if e > 74 {
            return None;
        }
        ((m as u128) << e, 0i32, false)
    } else {
        if a < 1e-3 || -e > 127 {
            return None;
        }
        let num = m as u128 * 10u128.pow(22);
        let k = -e as u32;
        (num >> k, 22, num & ((1u128 << k) - 1) != 0)
    };
    let mut buf = itoa::Buffer::new();
    let d = buf.format(q).as_bytes();
    let x = d.len() as i32 - 1 - j;
    if d.len() <= p {
        if sticky {
            return None; // cannot happen for a >= 1e-3 (q has 20+ digits); be safe
        }
        out[..d.len()].copy_from_slice(d);
        out[d.len()..p].fill(b'0');
        return Some(x);
    }
    let (keep, rest) = d.split_at(p);
    out[..p].copy_from_slice(keep);
    let up = match rest[0] {
        b'0'..=b'4' => false,
        b'5' if !sticky && rest[1..].iter().all(|&c| c == b'0') => return None, // a tie
        _ => true,
    };
    if !up {
        return Some(x);
    }
    // Add one to the last kept digit, carrying.
    for i in (0..p).rev() {
        if out[i] == b'9' {
            out[i] = b'0';
        } else {
            out[i] += 1;
            return Some(x);
        }
    }
    // 99…9 became 100…0: one more digit before the point.
    out[0] = b'1';
    Some(x + 1)
}

/// C `printf("%.{prec}e")`.
pub(super) fn c_fmt_e(v: f64, prec: usize) -> String {
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
pub(super) fn my_gcvt(x: f64) -> String {
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
