//! Time and duration arguments of the tools, accepted as the Prometheus HTTP API accepts
//! its `time`/`start`/`end` and `step` parameters, with the same error messages:
//!
//! - a time is Unix seconds with an optional fraction (`1705190400.5`, rounded to the
//!   millisecond) or RFC 3339 (`2024-01-14T00:00:00Z`, `2024-01-14T01:00:00.5+01:00`);
//! - a duration is float seconds (`15`, `0.5`) or a Prometheus duration (`15s`, `1m30s`,
//!   `1h`, `2d`, `1w`, `1y`, `100ms`: units in that order, each at most once).

/// Milliseconds since the epoch, or Prometheus' message:
/// `cannot parse "x" to a valid timestamp`.
pub fn parse_time(s: &str) -> Result<i64, String> {
    if let Ok(secs) = s.parse::<f64>() {
        if secs.is_finite() && secs.abs() < 9.0e15 {
            // As Prometheus: whole seconds, and the fraction rounded to the millisecond
            // (`math.Modf`, `math.Round(frac*1000)/1000`, nanoseconds truncated).
            let whole = secs.trunc();
            let nanos = ((secs - whole) * 1000.0).round() / 1000.0 * 1e9;
            return Ok(whole as i64 * 1000 + (nanos as i64).div_euclid(1_000_000));
        }
    }
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(t.timestamp_millis());
    }
    // Prometheus' own boundary times, which Go's parser cannot read back (years beyond 9999);
    // clients send them for "no limit".
    match s {
        MIN_TIME_FORMATTED => Ok(MIN_TIME_MS),
        MAX_TIME_FORMATTED => Ok(MAX_TIME_MS),
        _ => Err(format!("cannot parse {s:?} to a valid timestamp")),
    }
}

/// Prometheus' `minTime`, `time.Unix(math.MinInt64/1000+62135596801, 0)`, in milliseconds.
const MIN_TIME_MS: i64 = (i64::MIN / 1000 + 62_135_596_801) * 1000;
/// Prometheus' `maxTime`, `time.Unix(math.MaxInt64/1000-62135596801, 999999999)`, in ms.
const MAX_TIME_MS: i64 = (i64::MAX / 1000 - 62_135_596_801) * 1000 + 999;
const MIN_TIME_FORMATTED: &str = "-292273086-05-16T16:47:06Z";
const MAX_TIME_FORMATTED: &str = "292277025-08-18T07:12:54.999999999Z";

/// A duration in nanoseconds (negative when given as negative seconds), or Prometheus'
/// message: `cannot parse "x" to a valid duration`.
pub fn parse_duration_ns(s: &str) -> Result<i64, String> {
    if let Ok(secs) = s.parse::<f64>() {
        let ns = secs * 1e9;
        if !(ns.is_finite() && ns.abs() < 9.2e18) {
            return Err(format!(
                "cannot parse {s:?} to a valid duration. It overflows int64"
            ));
        }
        return Ok(ns as i64);
    }
    prometheus_duration_ms(s)
        .and_then(|ms| ms.checked_mul(1_000_000))
        .ok_or_else(|| format!("cannot parse {s:?} to a valid duration"))
}

/// Prometheus' duration syntax (`model.ParseDuration`), as its configuration file reads
/// durations: `0`, or a sequence of `<digits><unit>` with units y, w, d, h, m, s, ms in
/// that order, each at most once. Milliseconds, or `None`.
pub fn prometheus_duration_ms(s: &str) -> Option<i64> {
    if s == "0" {
        return Some(0);
    }
    const UNITS: [(&str, i64); 7] = [
        ("y", 365 * 86_400_000),
        ("w", 7 * 86_400_000),
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
        ("ms", 1),
    ];
    let mut rest = s;
    let mut next_unit = 0;
    let mut total: i64 = 0;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let (number, tail) = rest.split_at(digits);
        let n: i64 = number.parse().ok()?;
        // the longest unit name that matches: "ms" before "m"
        let (i, (unit, ms)) = UNITS
            .iter()
            .enumerate()
            .skip(next_unit)
            .filter(|(_, (u, _))| tail.starts_with(u))
            .max_by_key(|(_, (u, _))| u.len())?;
        total = total.checked_add(n.checked_mul(*ms)?)?;
        next_unit = i + 1;
        rest = tail.get(unit.len()..)?;
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_in_both_forms() {
        assert_eq!(parse_time("1705190400.5"), Ok(1_705_190_400_500));
        assert_eq!(parse_time("1705190400.0004"), Ok(1_705_190_400_000));
        assert_eq!(parse_time("-1.5"), Ok(-1_500));
        // the fraction alone is rounded, as Prometheus does: 1.0005 - 1 is just below 0.0005
        assert_eq!(parse_time("1.0005"), Ok(1_000));
        assert_eq!(parse_time("-1.0005"), Ok(-1_000));
        assert_eq!(parse_time("2.9995"), Ok(2_999));
        assert_eq!(parse_time("1.0015"), Ok(1_002));
        assert_eq!(parse_time("-1.123"), Ok(-1_123));
        assert_eq!(parse_time("2024-01-14T00:00:00Z"), Ok(1_705_190_400_000));
        assert_eq!(
            parse_time("2024-01-14T01:00:00.25+01:00"),
            Ok(1_705_190_400_250)
        );
        assert_eq!(
            parse_time("yesterday"),
            Err(r#"cannot parse "yesterday" to a valid timestamp"#.into())
        );
        assert!(parse_time("inf").is_err());
        assert_eq!(
            parse_time(MIN_TIME_FORMATTED),
            Ok(-9_223_309_901_257_974_000)
        );
        assert_eq!(
            parse_time(MAX_TIME_FORMATTED),
            Ok(9_223_309_901_257_974_999)
        );
    }

    #[test]
    fn durations_as_seconds_or_prometheus_units() {
        assert_eq!(parse_duration_ns("15"), Ok(15_000_000_000));
        assert_eq!(parse_duration_ns("0.5"), Ok(500_000_000));
        assert_eq!(parse_duration_ns("-1"), Ok(-1_000_000_000));
        assert_eq!(parse_duration_ns("15s"), Ok(15_000_000_000));
        assert_eq!(parse_duration_ns("1m30s"), Ok(90_000_000_000));
        assert_eq!(parse_duration_ns("1h"), Ok(3_600_000_000_000));
        assert_eq!(parse_duration_ns("1d2h3m4s5ms"), Ok(93_784_005_000_000));
        assert_eq!(parse_duration_ns("2w"), Ok(1_209_600_000_000_000));
        assert_eq!(parse_duration_ns("100ms"), Ok(100_000_000));
        assert_eq!(parse_duration_ns("0"), Ok(0));
        for bad in ["", "1s1m", "1m1m", "1.5m", "m", "5x", "1h ", "-1m"] {
            assert_eq!(
                parse_duration_ns(bad),
                Err(format!("cannot parse {bad:?} to a valid duration")),
                "{bad:?}"
            );
        }
        assert!(parse_duration_ns("1e300")
            .unwrap_err()
            .contains("overflows"));
    }
}
