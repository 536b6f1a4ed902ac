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
    // One exact conversion: `p` significant digits and the exponent `x`
    // (after rounding), as C's `%e` step of `%g`.
    let sci = format!("{:.*e}", p - 1, a);
    let (mant, exp) = sci.split_at(sci.find('e').expect("exponent"));
    let x: i32 = exp[1..].parse().expect("exponent digits");
    let mut s = String::with_capacity(p + 8);
    if v.is_sign_negative() {
        s.push('-');
    }
    if x < p as i32 && x >= -4 {
        // `%f` with `p - 1 - x` decimals: the same `p` digits, the point moved.
        let digits = mant.as_bytes().iter().filter(|b| b.is_ascii_digit()).map(|&b| b as char);
        if x >= 0 {
            for (i, d) in digits.enumerate() {
                if i == x as usize + 1 {
                    s.push('.');
                }
                s.push(d);
            }
        } else {
            s.push_str("0.");
            s.extend(std::iter::repeat_n('0', (-x - 1) as usize));
            s.extend(digits);
        }
        strip_fraction_zeros(s)
    } else {
        s.push_str(&strip_fraction_zeros(mant.to_string()));
        let _ = write!(s, "e{}{:02}", if x < 0 { '-' } else { '+' }, x.unsigned_abs());
        s
    }
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
