//! Go's `fmt` as templates reach it: how a value prints (`%v`, `print`, an action's
//! output), `printf`'s verbs and flags, and `strconv`'s float formatting (`'g'` with the
//! shortest representation, `%.4g` for `humanize`), which differ from Rust's (`1e+06`,
//! `+Inf`, exponents of at least two digits).

use super::exec::Value;
use super::parse::go_quote;

/// Decimal digits of |v| and the decimal point's position (Go's `decimalSlice`): the
/// value is 0.d1d2… × 10^dp. Zero has no digits.
struct Digits {
    d: Vec<u8>,
    dp: i32,
}

fn digits_from_sci(s: &str) -> Digits {
    // `s` is Rust's `{:e}` form: "1.2345e6".
    let (mant, exp) = s.split_once('e').unwrap_or((s, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let mut d: Vec<u8> = mant.bytes().filter(u8::is_ascii_digit).collect();
    while d.len() > 1 && d.last() == Some(&b'0') {
        d.pop();
    }
    if d == b"0" {
        return Digits {
            d: Vec::new(),
            dp: 0,
        };
    }
    Digits { d, dp: exp + 1 }
}

/// The shortest digits that read back as `v` (Go's and Rust's shortest round trip agree).
fn shortest(v: f64) -> Digits {
    digits_from_sci(&format!("{:e}", v.abs()))
}

/// `v` rounded to `n` significant digits (n ≥ 1), trailing zeros dropped.
fn significant(v: f64, n: usize) -> Digits {
    digits_from_sci(&format!("{:.*e}", n.saturating_sub(1), v.abs()))
}

fn fmt_e(d: &Digits, prec: usize, upper: bool) -> String {
    let mut out = String::new();
    out.push(d.d.first().map_or('0', |c| *c as char));
    if prec > 0 {
        out.push('.');
        let m = d.d.len().min(prec + 1);
        let mut i = 1;
        if i < m {
            out.extend(d.d[i..m].iter().map(|c| *c as char));
            i = m;
        }
        while i <= prec {
            out.push('0');
            i += 1;
        }
    }
    out.push(if upper { 'E' } else { 'e' });
    let exp = if d.d.is_empty() { 0 } else { d.dp - 1 };
    out.push(if exp < 0 { '-' } else { '+' });
    let e = exp.unsigned_abs();
    if e < 10 {
        out.push('0');
    }
    out.push_str(&e.to_string());
    out
}

fn fmt_f(d: &Digits, prec: usize) -> String {
    let mut out = String::new();
    if d.dp > 0 {
        let dp = d.dp as usize;
        let m = d.d.len().min(dp);
        out.extend(d.d[..m].iter().map(|c| *c as char));
        for _ in m..dp {
            out.push('0');
        }
    } else {
        out.push('0');
    }
    if prec > 0 {
        out.push('.');
        for i in 1..=prec as i32 {
            let j = d.dp + i - 1;
            let ch = if j >= 0 && (j as usize) < d.d.len() {
                d.d[j as usize] as char
            } else {
                '0'
            };
            out.push(ch);
        }
    }
    out
}

/// `strconv.FormatFloat(|v|, 'g', prec, 64)` without the sign; `None` is the shortest
/// representation (prec -1).
fn format_g_abs(v: f64, prec: Option<usize>, upper: bool) -> String {
    let shortest_mode = prec.is_none();
    let (d, mut prec) = match prec {
        None => {
            let d = shortest(v);
            let n = d.d.len();
            (d, n)
        }
        Some(p) => {
            let p = p.max(1);
            (significant(v, p), p)
        }
    };
    let nd = d.d.len();
    let mut eprec = prec;
    if eprec > nd && nd as i32 >= d.dp {
        eprec = nd;
    }
    if shortest_mode {
        eprec = 6;
    }
    let exp = d.dp - 1;
    if exp < -4 || exp >= eprec as i32 {
        if prec > nd {
            prec = nd;
        }
        return fmt_e(&d, prec.saturating_sub(1), upper);
    }
    if prec as i32 > d.dp {
        prec = nd;
    }
    fmt_f(&d, (prec as i32 - d.dp).max(0) as usize)
}

/// A float as `%v`/`%g`/`%e`/`%f` with an optional precision, sign included (`+Inf`).
fn format_float(v: f64, verb: char, prec: Option<usize>, plus: bool, space: bool) -> String {
    if v.is_nan() {
        return if plus {
            "+NaN".into()
        } else if space {
            " NaN".into()
        } else {
            "NaN".into()
        };
    }
    if v.is_infinite() {
        return if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    let body = match verb {
        'e' | 'E' => {
            let p = prec.unwrap_or(6);
            let d = significant(v, p + 1);
            fmt_e(&d, p, verb == 'E')
        }
        'f' | 'F' => format!("{:.*}", prec.unwrap_or(6), v.abs()),
        'G' => format_g_abs(v, prec, true),
        _ => format_g_abs(v, prec, false),
    };
    let sign = if v.is_sign_negative() {
        "-"
    } else if plus {
        "+"
    } else if space {
        " "
    } else {
        ""
    };
    format!("{sign}{body}")
}

/// Go's `%v` of a float64 (`fmt.Sprint`): `1`, `0.5`, `1e+06`, `NaN`, `+Inf`.
pub(super) fn float_v(v: f64) -> String {
    format_float(v, 'g', None, false, false)
}

/// Go's `fmt.Sprintf("%.<prec>g", v)`.
pub(super) fn float_g(v: f64, prec: usize) -> String {
    format_float(v, 'g', Some(prec), false, false)
}

/// `fmt.Sprint` of one value (`%v`), as Go prints the template's types.
pub(super) fn sprint_value(v: &Value) -> String {
    match v {
        Value::Invalid | Value::Nil => "<nil>".into(),
        Value::Bool(b) => b.to_string(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) => float_v(*f),
        Value::Str(s) | Value::Html(s) => s.to_string(),
        Value::StrMap(m) => {
            let parts: Vec<String> = m.iter().map(|(k, v)| format!("{k}:{v}")).collect();
            format!("map[{}]", parts.join(" "))
        }
        Value::AnyMap(m) => {
            let parts: Vec<String> = m
                .iter()
                .map(|(k, v)| format!("{k}:{}", sprint_value(v)))
                .collect();
            format!("map[{}]", parts.join(" "))
        }
        Value::Sample(s) => {
            let parts: Vec<String> = s.labels.iter().map(|(k, v)| format!("{k}:{v}")).collect();
            format!("&{{map[{}] {}}}", parts.join(" "), float_v(s.value))
        }
        Value::Samples(v) => {
            let parts: Vec<String> = v
                .iter()
                .map(|s| sprint_value(&Value::Sample(s.clone())))
                .collect();
            format!("[{}]", parts.join(" "))
        }
        Value::Time(t) => super::gotime::time_string(*t),
        Value::Data(d) => format!(
            "{{{} {} {} {}}}",
            sprint_value(&Value::StrMap(d.labels.clone())),
            sprint_value(&Value::StrMap(d.external_labels.clone())),
            d.external_url,
            float_v(d.value)
        ),
    }
}

fn is_string_kind(v: &Value) -> bool {
    matches!(v, Value::Str(_) | Value::Html(_))
}

/// `fmt.Sprint`: operands concatenated, a space between two operands when neither is a
/// string.
pub(super) fn sprint(args: &[Value]) -> String {
    let mut out = String::new();
    for (i, a) in args.iter().enumerate() {
        if i > 0 && !is_string_kind(a) && !is_string_kind(&args[i - 1]) {
            out.push(' ');
        }
        out.push_str(&sprint_value(a));
    }
    out
}

/// `fmt.Sprintln`: operands separated by spaces, then a newline.
pub(super) fn sprintln(args: &[Value]) -> String {
    let parts: Vec<String> = args.iter().map(sprint_value).collect();
    format!("{}\n", parts.join(" "))
}

#[derive(Default, Clone, Copy)]
struct Flags {
    minus: bool,
    plus: bool,
    space: bool,
    zero: bool,
    sharp: bool,
    width: Option<usize>,
    prec: Option<usize>,
}

fn pad(s: String, f: &Flags, numeric: bool) -> String {
    let Some(w) = f.width else { return s };
    let n = s.chars().count();
    if n >= w {
        return s;
    }
    let fill = w - n;
    if f.minus {
        return format!("{s}{}", " ".repeat(fill));
    }
    if f.zero {
        if numeric {
            let (sign, rest) = match s.chars().next() {
                Some(c @ ('+' | '-' | ' ')) => (c.to_string(), s[1..].to_string()),
                _ => (String::new(), s.clone()),
            };
            if rest.contains("Inf") || rest.contains("NaN") {
                return format!("{}{s}", " ".repeat(fill));
            }
            return format!("{sign}{}{rest}", "0".repeat(fill));
        }
        return format!("{}{s}", "0".repeat(fill));
    }
    format!("{}{s}", " ".repeat(fill))
}

fn bad_verb(verb: char, v: &Value) -> String {
    match v {
        Value::Invalid | Value::Nil => format!("%!{verb}(<nil>)"),
        other => format!("%!{verb}({}={})", other.type_name(), sprint_value(other)),
    }
}

fn hex_bytes(s: &str, upper: bool, f: &Flags) -> String {
    let bytes = s.as_bytes();
    let bytes = match f.prec {
        Some(p) => &bytes[..p.min(bytes.len())],
        None => bytes,
    };
    let mut out = String::new();
    if f.sharp {
        out.push_str(if upper { "0X" } else { "0x" });
    }
    for b in bytes {
        if upper {
            out.push_str(&format!("{b:02X}"));
        } else {
            out.push_str(&format!("{b:02x}"));
        }
    }
    out
}

fn format_int(i: i64, verb: char, f: &Flags) -> Option<String> {
    let neg = i < 0;
    let u = i.unsigned_abs();
    let body = match verb {
        'd' | 'v' => u.to_string(),
        'x' => format!("{}{u:x}", if f.sharp { "0x" } else { "" }),
        'X' => format!("{}{u:X}", if f.sharp { "0X" } else { "" }),
        'o' => format!("{}{u:o}", if f.sharp { "0" } else { "" }),
        'O' => format!("0o{u:o}"),
        'b' => format!("{u:b}"),
        'c' => return Some(char::from_u32(i as u32).unwrap_or('\u{FFFD}').to_string()),
        'q' => {
            let c = char::from_u32(i as u32).unwrap_or('\u{FFFD}');
            let q = go_quote(&c.to_string());
            let inner = &q[1..q.len() - 1];
            let inner = if inner == "\\\"" { "\"" } else { inner };
            return Some(format!("'{inner}'"));
        }
        'U' => return Some(format!("U+{:04X}", i)),
        _ => return None,
    };
    let body = match f.prec {
        Some(p) if body.len() < p => format!("{}{body}", "0".repeat(p - body.len())),
        _ => body,
    };
    let sign = if neg {
        "-"
    } else if f.plus {
        "+"
    } else if f.space {
        " "
    } else {
        ""
    };
    Some(format!("{sign}{body}"))
}

fn format_one(verb: char, f: &Flags, v: &Value) -> String {
    let numeric = matches!(v, Value::Int(_) | Value::Float(_));
    let s = match (verb, v) {
        ('v', Value::Float(x)) => Some(format_float(*x, 'g', f.prec, f.plus, f.space)),
        ('v', Value::Int(_)) => format_int(value_int(v), 'd', f),
        ('v', other) => Some(sprint_value(other)),
        ('t', Value::Bool(b)) => Some(b.to_string()),
        ('d' | 'x' | 'X' | 'o' | 'O' | 'b' | 'c' | 'q' | 'U', Value::Int(i)) => {
            format_int(*i, verb, f)
        }
        ('e' | 'E' | 'f' | 'F' | 'g' | 'G', Value::Float(x)) => {
            Some(format_float(*x, verb, f.prec, f.plus, f.space))
        }
        ('s', Value::Str(s) | Value::Html(s)) => Some(match f.prec {
            Some(p) => s.chars().take(p).collect(),
            None => s.to_string(),
        }),
        ('q', Value::Str(s) | Value::Html(s)) => {
            if f.sharp && !s.contains('`') {
                Some(format!("`{s}`"))
            } else {
                Some(go_quote(s))
            }
        }
        ('x' | 'X', Value::Str(s) | Value::Html(s)) => Some(hex_bytes(s, verb == 'X', f)),
        ('s' | 'q' | 'x' | 'X', Value::Time(t)) => {
            let s = super::gotime::time_string(*t);
            return format_one(verb, f, &Value::Str(s.as_str().into()));
        }
        ('s', Value::StrMap(_) | Value::AnyMap(_)) => Some(sprint_value(v)),
        _ => None,
    };
    match s {
        Some(s) => pad(s, f, numeric),
        None => bad_verb(verb, v),
    }
}

fn value_int(v: &Value) -> i64 {
    match v {
        Value::Int(i) => *i,
        _ => 0,
    }
}

/// `fmt.Sprintf` for the verbs templates use (`%s %d %f %.2f %v %q %x %g %e %t %c %%`,
/// flags `+- #0`, width and precision), with Go's `%!verb(type=value)`, `%!v(MISSING)`
/// and `%!(EXTRA …)` for mismatches.
pub(super) fn sprintf(format: &str, args: &[Value]) -> String {
    let mut out = String::new();
    let mut argi = 0;
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut f = Flags::default();
        while let Some(&c) = chars.peek() {
            match c {
                '-' => f.minus = true,
                '+' => f.plus = true,
                ' ' => f.space = true,
                '0' => f.zero = !f.minus,
                '#' => f.sharp = true,
                _ => break,
            }
            chars.next();
        }
        let num = |chars: &mut std::iter::Peekable<std::str::Chars<'_>>| {
            let mut n: Option<usize> = None;
            while let Some(d) = chars.peek().and_then(|c| c.to_digit(10)) {
                n = Some(n.unwrap_or(0).saturating_mul(10).saturating_add(d as usize));
                chars.next();
            }
            n
        };
        f.width = num(&mut chars);
        if chars.peek() == Some(&'.') {
            chars.next();
            f.prec = Some(num(&mut chars).unwrap_or(0));
        }
        let Some(verb) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = args.get(argi) else {
            out.push_str(&format!("%!{verb}(MISSING)"));
            continue;
        };
        argi += 1;
        out.push_str(&format_one(verb, &f, arg));
    }
    if argi < args.len() {
        let extra: Vec<String> = args[argi..]
            .iter()
            .map(|a| match a {
                Value::Invalid | Value::Nil => "<nil>".to_string(),
                other => format!("{}={}", other.type_name(), sprint_value(other)),
            })
            .collect();
        out.push_str(&format!("%!(EXTRA {})", extra.join(", ")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_print_as_go_prints_them() {
        let cases: &[(f64, &str)] = &[
            (1.0, "1"),
            (0.5, "0.5"),
            (1e6, "1e+06"),
            (123456.0, "123456"),
            (1234567.0, "1.234567e+06"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (-2.5, "-2.5"),
            (0.0, "0"),
            (-0.0, "-0"),
            (f64::NAN, "NaN"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
            (1353755652.0, "1.353755652e+09"),
            (1e21, "1e+21"),
            (0.1 + 0.2, "0.30000000000000004"),
        ];
        for (v, want) in cases {
            assert_eq!(float_v(*v), *want, "{v}");
        }
    }

    #[test]
    fn precision_g_matches_go() {
        let cases: &[(f64, &str)] = &[
            (1.0, "1"),
            (1.2345678, "1.235"),
            (120.0, "120"),
            (123456700.0, "1.235e+08"),
            (9.223372036854776, "9.223"),
            (0.0, "0"),
            (1000.0, "1000"),
            (12345.0, "1.234e+04"),
            (0.00012, "0.00012"),
            (0.000012, "1.2e-05"),
        ];
        for (v, want) in cases {
            assert_eq!(float_g(*v, 4), *want, "{v}");
        }
    }

    #[test]
    fn printf_verbs_match_go() {
        let s = |x: &str| Value::Str(x.into());
        assert_eq!(sprintf("%.2f", &[Value::Float(12.3456)]), "12.35");
        assert_eq!(sprintf("%0.2f", &[Value::Float(3720.01)]), "3720.01");
        assert_eq!(sprintf("%d", &[Value::Int(42)]), "42");
        assert_eq!(
            sprintf(
                "%5d|%-5d|%05d",
                &[Value::Int(42), Value::Int(42), Value::Int(-42)]
            ),
            "   42|42   |-0042"
        );
        assert_eq!(sprintf("%s", &[s("a")]), "a");
        assert_eq!(sprintf("%q", &[s("a\"b")]), "\"a\\\"b\"");
        assert_eq!(sprintf("%x", &[s("hi")]), "6869");
        assert_eq!(sprintf("%x", &[Value::Int(255)]), "ff");
        assert_eq!(
            sprintf("%v %v", &[Value::Float(1e6), Value::Bool(true)]),
            "1e+06 true"
        );
        assert_eq!(sprintf("%g", &[Value::Float(0.5)]), "0.5");
        assert_eq!(sprintf("%f", &[Value::Float(1.0)]), "1.000000");
        assert_eq!(sprintf("%e", &[Value::Float(1234.5678)]), "1.234568e+03");
        assert_eq!(sprintf("%d", &[Value::Float(1.5)]), "%!d(float64=1.5)");
        assert_eq!(sprintf("%s", &[Value::Int(1)]), "%!s(int=1)");
        assert_eq!(sprintf("%d", &[]), "%!d(MISSING)");
        assert_eq!(sprintf("x", &[Value::Int(1)]), "x%!(EXTRA int=1)");
        assert_eq!(sprintf("100%%", &[]), "100%");
        assert_eq!(sprintf("%.1f%%", &[Value::Float(f64::INFINITY)]), "+Inf%");
    }

    #[test]
    fn sprint_spaces_between_non_strings() {
        assert_eq!(sprint(&[Value::Int(1), Value::Int(2)]), "1 2");
        assert_eq!(sprint(&[Value::Str("a".into()), Value::Int(2)]), "a2");
        assert_eq!(sprintln(&[Value::Str("a".into()), Value::Int(2)]), "a 2\n");
    }
}
