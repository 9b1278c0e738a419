//! Numbers in text: sample values, integer and decimal timestamps, and their exact
//! formatting for the writer.

use crate::error::{cut, ErrorKind};

/// Parses a sample value the way Prometheus does (Go's `strconv.ParseFloat` without hex
/// or underscores): decimal and exponent forms, `NaN`, `+Inf`, `-Inf` and the other
/// case-insensitive spellings of infinity and NaN. A finite spelling that overflows
/// `f64` is refused, as Go refuses it. Every NaN comes back as the one quiet NaN
/// `f64::NAN`.
pub(crate) fn parse_value(s: &str) -> Result<f64, ErrorKind> {
    match s.parse::<f64>() {
        Ok(v) if v.is_nan() => Ok(f64::NAN),
        Ok(v) if v.is_infinite() && !s.bytes().any(|b| b == b'i' || b == b'I') => {
            Err(ErrorKind::ValueOutOfRange { text: cut(s) })
        }
        Ok(v) => Ok(v),
        Err(_) => Err(ErrorKind::InvalidValue { text: cut(s) }),
    }
}

/// An integer timestamp in milliseconds (Prometheus text format 0.0.4), with an optional
/// sign.
pub(crate) fn parse_int_ms(s: &str) -> Result<i64, ErrorKind> {
    parse_i64(s).map_err(|overflow| {
        if overflow {
            ErrorKind::TimestampOutOfRange { text: cut(s) }
        } else {
            ErrorKind::InvalidTimestamp { text: cut(s) }
        }
    })
}

/// `[+-]?[0-9]+` as `i64`; `Err(true)` when well formed but out of range.
pub(crate) fn parse_i64(s: &str) -> Result<i64, bool> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(false);
    }
    s.parse::<i64>().map_err(|_| true)
}

/// A timestamp in seconds written as a decimal number (OpenMetrics), converted to
/// milliseconds exactly: the decimal is read digit by digit, never through a float, and
/// digits below the millisecond are truncated toward zero (as Prometheus's
/// `int64(seconds * 1000)` intends, without its rounding error: `1.001` is 1001 ms here
/// and 1000 ms there).
pub(crate) fn parse_seconds_ms(s: &str) -> Result<i64, ErrorKind> {
    // Fast path: whole seconds, as most writers (gen.py, promtool) write them.
    if (1..=15).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit()) {
        let secs = s
            .bytes()
            .fold(0i64, |acc, b| acc * 10 + i64::from(b - b'0'));
        return Ok(secs * 1000);
    }
    let invalid = || ErrorKind::InvalidTimestamp { text: cut(s) };
    let out_of_range = || ErrorKind::TimestampOutOfRange { text: cut(s) };
    let (negative, rest) = match s.as_bytes().first() {
        Some(b'-') => (true, s.get(1..).unwrap_or_default()),
        Some(b'+') => (false, s.get(1..).unwrap_or_default()),
        _ => (false, s),
    };
    let (mantissa, exponent) = match rest.find(['e', 'E']) {
        Some(i) => (
            rest.get(..i).unwrap_or_default(),
            Some(rest.get(i + 1..).unwrap_or_default()),
        ),
        None => (rest, None),
    };
    let (int_part, frac_part) = match mantissa.find('.') {
        Some(i) => (
            mantissa.get(..i).unwrap_or_default(),
            mantissa.get(i + 1..).unwrap_or_default(),
        ),
        None => (mantissa, ""),
    };
    let all_digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
    if (int_part.is_empty() && frac_part.is_empty())
        || !all_digits(int_part)
        || !all_digits(frac_part)
    {
        return Err(invalid());
    }
    let exp: i64 = match exponent {
        None => 0,
        Some(e) => {
            let digits = e.strip_prefix(['+', '-']).unwrap_or(e);
            if digits.is_empty() || !all_digits(digits) {
                return Err(invalid());
            }
            // Saturate: beyond a million the answer is 0 or out of range either way.
            let mag = digits
                .bytes()
                .try_fold(0i64, |acc, b| {
                    let next = acc * 10 + i64::from(b - b'0');
                    (next <= 1_000_000).then_some(next)
                })
                .unwrap_or(1_000_001);
            if e.starts_with('-') {
                -mag
            } else {
                mag
            }
        }
    };
    // The digits of the number, with the decimal point after `point` of them; the
    // milliseconds are the first `point + 3` digits read as an integer.
    let point = i64::try_from(int_part.len()).map_err(|_| out_of_range())?;
    let take = point + exp + 3;
    let mut acc: i128 = 0;
    let mut taken: i64 = 0;
    for b in int_part.bytes().chain(frac_part.bytes()) {
        if taken >= take {
            break;
        }
        acc = acc * 10 + i128::from(b - b'0');
        taken += 1;
        if acc > i128::from(i64::MAX) + 1 {
            return Err(out_of_range());
        }
    }
    if acc != 0 {
        while taken < take {
            acc *= 10;
            taken += 1;
            if acc > i128::from(i64::MAX) + 1 {
                return Err(out_of_range());
            }
        }
    }
    let signed = if negative { -acc } else { acc };
    i64::try_from(signed).map_err(|_| out_of_range())
}

/// Appends `v` in OpenMetrics spelling: `NaN`, `+Inf`, `-Inf`, otherwise the shortest
/// decimal that reads back as the same `f64` (Rust's `Debug`, which switches to exponent
/// form for very large and very small magnitudes; a trailing `.0` is dropped). `-0.0`
/// is written `-0` and reads back as `-0.0`.
pub fn write_value(out: &mut String, v: f64) {
    use std::fmt::Write;
    if v.is_nan() {
        out.push_str("NaN");
    } else if v == f64::INFINITY {
        out.push_str("+Inf");
    } else if v == f64::NEG_INFINITY {
        out.push_str("-Inf");
    } else {
        let start = out.len();
        let _ = write!(out, "{v:?}");
        if out.get(start..).is_some_and(|s| s.ends_with(".0")) {
            out.truncate(out.len() - 2);
        }
    }
}

/// Appends the millisecond timestamp `ms` as OpenMetrics seconds: `S` for whole seconds,
/// otherwise `S.mmm`, built from the integer so no float rounding is involved.
///
/// Prometheus (and so `promtool tsdb create-blocks-from openmetrics`) reads a timestamp
/// as `int64(ParseFloat(text) * 1000)`, which truncates and is off by one millisecond
/// for about 0.7% of `S.mmm` texts (`2159323191.654` reads as `...653`). For those this
/// function appends the fewest digits `0…01` that make Prometheus's reading exact; our
/// parser truncates below the millisecond, so it reads the same value. That holds for
/// every timestamp whose seconds fit a float's 53 bits, which is all of
/// `±285,000` years; beyond that the plain exact decimal is written.
pub fn write_timestamp(out: &mut String, ms: i64) {
    use std::fmt::Write;
    let start = out.len();
    let neg = ms < 0;
    let abs = ms.unsigned_abs();
    let (secs, frac) = (abs / 1000, abs % 1000);
    if neg {
        out.push('-');
    }
    let plain_end;
    if frac == 0 {
        let _ = write!(out, "{secs}");
        if prometheus_reads(out.get(start..).unwrap_or_default(), ms) {
            return;
        }
        plain_end = out.len();
        out.push_str(".000");
    } else {
        let _ = write!(out, "{secs}.{frac:03}");
        if prometheus_reads(out.get(start..).unwrap_or_default(), ms) {
            return;
        }
        plain_end = out.len();
    }
    let base = out.len();
    for extra in 1..=12 {
        out.truncate(base);
        for _ in 1..extra {
            out.push('0');
        }
        out.push('1');
        if prometheus_reads(out.get(start..).unwrap_or_default(), ms) {
            return;
        }
    }
    // No short correction exists (seconds beyond 2^53): keep the exact decimal.
    out.truncate(plain_end);
}

/// True if Prometheus's `int64(ParseFloat(text) * 1000)` gives `ms`. Rust's float
/// parsing is correctly rounded like Go's, its multiplication is IEEE 754 like Go's,
/// and `as i64` truncates toward zero like Go's conversion.
pub(crate) fn prometheus_reads(text: &str, ms: i64) -> bool {
    match text.parse::<f64>() {
        Ok(secs) if secs.is_finite() => {
            let x = secs * 1000.0;
            // Go's conversion is undefined out of range; require the value in range.
            let in_range = x > -9.223_372_036_854_776e18 && x < 9.223_372_036_854_776e18;
            #[expect(
                clippy::cast_possible_truncation,
                reason = "truncation toward zero is Go's int64(float64), which this mirrors; \
                          `x` is finite and inside i64's range"
            )]
            let truncated = x as i64;
            in_range && truncated == ms
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_follow_go_parse_float() {
        assert_eq!(parse_value("1.5").unwrap(), 1.5);
        assert_eq!(parse_value("-1e3").unwrap(), -1000.0);
        assert_eq!(parse_value("+Inf").unwrap(), f64::INFINITY);
        assert_eq!(parse_value("-Inf").unwrap(), f64::NEG_INFINITY);
        assert_eq!(parse_value("inf").unwrap(), f64::INFINITY);
        assert!(parse_value("NaN").unwrap().is_nan());
        assert_eq!(parse_value("NaN").unwrap().to_bits(), f64::NAN.to_bits());
        assert!(parse_value("nan").unwrap().is_nan());
        assert_eq!(parse_value("-0").unwrap().to_bits(), (-0.0f64).to_bits());
        assert!(matches!(
            parse_value("1e400"),
            Err(ErrorKind::ValueOutOfRange { .. })
        ));
        assert_eq!(parse_value("1e-400").unwrap(), 0.0);
        for bad in ["", "0x1p3", "1_000", "abc", "1.2.3", " 1"] {
            assert!(
                matches!(parse_value(bad), Err(ErrorKind::InvalidValue { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn integer_timestamps() {
        assert_eq!(parse_int_ms("1705190400000").unwrap(), 1_705_190_400_000);
        assert_eq!(parse_int_ms("-5").unwrap(), -5);
        assert_eq!(parse_int_ms("+5").unwrap(), 5);
        assert!(matches!(
            parse_int_ms("99999999999999999999"),
            Err(ErrorKind::TimestampOutOfRange { .. })
        ));
        for bad in ["", "-", "1.5", "1e3", "12a"] {
            assert!(
                matches!(parse_int_ms(bad), Err(ErrorKind::InvalidTimestamp { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn decimal_seconds_are_exact() {
        let cases = [
            ("1705190400", 1_705_190_400_000),
            ("1705190400.123", 1_705_190_400_123),
            ("1.001", 1001),
            ("1.0009", 1000),
            ("-1.0009", -1000),
            ("-0.001", -1),
            ("0", 0),
            ("-0", 0),
            (".5", 500),
            ("5.", 5000),
            ("1.7e9", 1_700_000_000_000),
            ("1705190400123e-3", 1_705_190_400_123),
            ("1e-4", 0),
            ("0e999999999", 0),
            ("2159323191.6540001", 2_159_323_191_654),
            ("-9223372036854775.808", i64::MIN),
            ("9223372036854775.807", i64::MAX),
        ];
        for (text, want) in cases {
            assert_eq!(parse_seconds_ms(text).unwrap(), want, "{text}");
        }
        for bad in [
            "", ".", "-", "1e", "e5", "NaN", "+Inf", "1.2.3", "1,5", "0x10",
        ] {
            assert!(
                matches!(
                    parse_seconds_ms(bad),
                    Err(ErrorKind::InvalidTimestamp { .. })
                ),
                "{bad}"
            );
        }
        for big in ["9223372036854775.808", "1e17", "-1e30", "1e999999999"] {
            assert!(
                matches!(
                    parse_seconds_ms(big),
                    Err(ErrorKind::TimestampOutOfRange { .. })
                ),
                "{big}"
            );
        }
    }

    fn ts(ms: i64) -> String {
        let mut s = String::new();
        write_timestamp(&mut s, ms);
        s
    }

    #[test]
    fn timestamps_are_written_exactly() {
        assert_eq!(ts(1_705_190_400_000), "1705190400");
        assert_eq!(ts(1_705_190_400_123), "1705190400.123");
        assert_eq!(ts(1_705_190_400_007), "1705190400.007");
        assert_eq!(ts(-1), "-0.001");
        assert_eq!(ts(-1500), "-1.500");
        assert_eq!(ts(0), "0");
        // Prometheus would read the plain `2159323191.654` as ...653.
        assert!(!prometheus_reads("2159323191.654", 2_159_323_191_654));
        let s = ts(2_159_323_191_654);
        assert!(s.starts_with("2159323191.654") && s.len() > 14, "{s}");
        assert!(prometheus_reads(&s, 2_159_323_191_654));
        assert_eq!(parse_seconds_ms(&s).unwrap(), 2_159_323_191_654);
        // 1.001 * 1000 truncates to 1000 in Go.
        let s = ts(1001);
        assert!(prometheus_reads(&s, 1001), "{s}");
        for ms in [i64::MIN, i64::MAX, i64::MIN + 1] {
            assert_eq!(parse_seconds_ms(&ts(ms)).unwrap(), ms);
        }
    }

    #[test]
    fn values_are_written_shortest() {
        let w = |v: f64| {
            let mut s = String::new();
            write_value(&mut s, v);
            s
        };
        assert_eq!(w(1.0), "1");
        assert_eq!(w(51.84), "51.84");
        assert_eq!(w(-0.0), "-0");
        assert_eq!(w(1e300), "1e300");
        assert_eq!(w(5e-324), "5e-324");
        assert_eq!(w(f64::NAN), "NaN");
        assert_eq!(w(f64::INFINITY), "+Inf");
        assert_eq!(w(f64::NEG_INFINITY), "-Inf");
        assert_eq!(w(123_456_789.0), "123456789");
    }
}
