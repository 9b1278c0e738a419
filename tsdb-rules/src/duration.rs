//! Durations in Prometheus's syntax (`model.Duration`), as rule files write `interval`,
//! `for`, `keep_firing_for` and `query_offset`. Kept here rather than shared with
//! tsdb-scrape so this crate depends on storage and query only.

/// Prometheus's `model.ParseDuration`, in milliseconds: `0`, or
/// `<n>y<n>w<n>d<n>h<n>m<n>s<n>ms` with every part optional but in that order (`15s`,
/// `1m30s`, `1d`). A year is 365 days, a week 7. The error text is Prometheus's
/// (`not a valid duration string: "x"`); a value too large, which Go wraps silently, is
/// refused.
pub fn parse_duration(s: &str) -> Result<i64, String> {
    const UNITS: [(&str, i64); 7] = [
        ("y", 365 * 86_400_000),
        ("w", 7 * 86_400_000),
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
        ("ms", 1),
    ];
    let invalid = || format!("not a valid duration string: {s:?}");
    if s == "0" {
        return Ok(0);
    }
    if s.is_empty() {
        return Err(invalid());
    }
    let mut rest = s;
    let mut next_unit = 0;
    let mut total: i64 = 0;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(invalid());
        }
        let (number, tail) = rest.split_at(digits);
        // The longest unit name that matches: "ms" before "m".
        let Some((i, (unit, ms))) = UNITS
            .iter()
            .enumerate()
            .skip(next_unit)
            .filter(|(_, (u, _))| tail.starts_with(u))
            .max_by_key(|(_, (u, _))| u.len())
        else {
            return Err(invalid());
        };
        let out_of_range = || format!("duration out of range: {s:?}");
        let n: i64 = number.parse().map_err(|_| out_of_range())?;
        total = n
            .checked_mul(*ms)
            .and_then(|v| total.checked_add(v))
            .filter(|&t| t <= i64::MAX / 1_000_000)
            .ok_or_else(out_of_range)?;
        next_unit = i + 1;
        rest = &tail[unit.len()..];
    }
    Ok(total)
}

/// Prometheus's `model.Duration.String()` of `ms` milliseconds: the largest units first,
/// years and weeks only when they divide the duration exactly, `0s` for zero.
pub fn format_duration(ms: i64) -> String {
    use std::fmt::Write;
    let mut ms = ms.max(0);
    if ms == 0 {
        return "0s".to_string();
    }
    let mut out = String::new();
    for (unit, mult, exact) in [
        ("y", 365 * 86_400_000, true),
        ("w", 7 * 86_400_000, true),
        ("d", 86_400_000, false),
        ("h", 3_600_000, false),
        ("m", 60_000, false),
        ("s", 1_000, false),
        ("ms", 1, false),
    ] {
        if exact && ms % mult != 0 {
            continue;
        }
        let v = ms / mult;
        if v > 0 {
            let _ = write!(out, "{v}{unit}");
            ms -= v * mult;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_formats() {
        assert_eq!(parse_duration("1m30s"), Ok(90_000));
        assert_eq!(parse_duration("0"), Ok(0));
        assert_eq!(parse_duration("1d2h"), Ok(93_600_000));
        assert_eq!(parse_duration("250ms"), Ok(250));
        assert!(parse_duration("5x").is_err());
        assert!(parse_duration("1s1m").is_err());
        assert!(parse_duration("").is_err());
        assert_eq!(format_duration(90_000), "1m30s");
        assert_eq!(format_duration(0), "0s");
    }
}
