//! Sizes, durations, counts and rates as the `tsdb` tool prints them for people (its
//! `--output json` prints plain numbers instead).
//!
//! Sizes and counts reuse indicatif's formatters, already a dependency for the progress
//! bars, so that a bar and the summary line after it read alike: binary units (`1023 B`,
//! `1.00 KiB`, `1.50 GiB`) and thousands separators (`1,234,567`). Durations are our own:
//! indicatif's `HumanDuration` rounds to one unit ("2 hours" for 1 h 31 min, "0 seconds"
//! below one), too coarse for "how long did this step take".

use std::time::Duration;

/// Bytes in binary units: `1023 B`, `1.00 KiB`, `1.50 GiB`.
pub fn bytes(n: u64) -> String {
    indicatif::BinaryBytes(n).to_string()
}

/// A count with thousands separators: `1,234,567`.
pub fn count(n: u64) -> String {
    indicatif::HumanCount(n).to_string()
}

/// A duration with the precision a person wants: `250 ms` below a second, `1.25 s`
/// below a minute, `2m 05s` below an hour, `3h 07m 09s` below a day, `2d 03h 07m`
/// beyond.
pub fn duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1_000 {
        return format!("{ms} ms");
    }
    if ms < 60_000 {
        return format!("{:.2} s", d.as_secs_f64());
    }
    let s = d.as_secs();
    let (days, h, m, s) = (s / 86_400, s / 3_600 % 24, s / 60 % 60, s % 60);
    if days > 0 {
        format!("{days}d {h:02}h {m:02}m")
    } else if h > 0 {
        format!("{h}h {m:02}m {s:02}s")
    } else {
        format!("{m}m {s:02}s")
    }
}

/// `n` things per second over `d`, with `what` as the unit: `12,345 samples/s`. A
/// zero duration (nothing measurable) gives `n what` without a rate.
pub fn rate(n: u64, d: Duration, what: &str) -> String {
    let secs = d.as_secs_f64();
    if secs <= 0.0 {
        return format!("{} {what}", count(n));
    }
    let per = n as f64 / secs;
    // a sub-unit rate keeps a decimal; larger ones are whole numbers
    if per < 10.0 {
        format!("{per:.1} {what}/s")
    } else {
        format!("{} {what}/s", count(per.round() as u64))
    }
}

/// Bytes per second over `d`: `12.50 MiB/s`.
pub fn byte_rate(n: u64, d: Duration) -> String {
    let secs = d.as_secs_f64();
    if secs <= 0.0 {
        return bytes(n);
    }
    format!("{}/s", bytes((n as f64 / secs).round() as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_at_the_unit_boundaries() {
        assert_eq!(bytes(0), "0 B");
        assert_eq!(bytes(1023), "1023 B");
        assert_eq!(bytes(1024), "1.00 KiB");
        assert_eq!(bytes(1536), "1.50 KiB");
        assert_eq!(bytes((1 << 20) - 1), "1024.00 KiB");
        assert_eq!(bytes(1 << 20), "1.00 MiB");
        assert_eq!(bytes(3 << 29), "1.50 GiB");
        assert_eq!(bytes(1 << 40), "1.00 TiB");
    }

    #[test]
    fn counts_have_separators() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1_000), "1,000");
        assert_eq!(count(1_234_567), "1,234,567");
    }

    #[test]
    fn durations_keep_useful_precision() {
        assert_eq!(duration(Duration::ZERO), "0 ms");
        assert_eq!(duration(Duration::from_micros(250_400)), "250 ms");
        assert_eq!(duration(Duration::from_millis(999)), "999 ms");
        assert_eq!(duration(Duration::from_millis(1_000)), "1.00 s");
        assert_eq!(duration(Duration::from_millis(1_254)), "1.25 s");
        assert_eq!(duration(Duration::from_millis(59_994)), "59.99 s");
        assert_eq!(duration(Duration::from_secs(60)), "1m 00s");
        assert_eq!(duration(Duration::from_secs(125)), "2m 05s");
        assert_eq!(duration(Duration::from_secs(3_599)), "59m 59s");
        assert_eq!(duration(Duration::from_secs(3_600)), "1h 00m 00s");
        assert_eq!(
            duration(Duration::from_secs(3 * 3_600 + 7 * 60 + 9)),
            "3h 07m 09s"
        );
        assert_eq!(duration(Duration::from_secs(86_399)), "23h 59m 59s");
        assert_eq!(
            duration(Duration::from_secs(2 * 86_400 + 3 * 3_600 + 7 * 60 + 9)),
            "2d 03h 07m"
        );
    }

    #[test]
    fn rates() {
        assert_eq!(
            rate(1_000_000, Duration::from_secs(4), "samples"),
            "250,000 samples/s"
        );
        assert_eq!(rate(3, Duration::from_secs(2), "files"), "1.5 files/s");
        assert_eq!(rate(5, Duration::ZERO, "samples"), "5 samples");
        assert_eq!(byte_rate(25 << 20, Duration::from_secs(2)), "12.50 MiB/s");
        assert_eq!(byte_rate(100, Duration::ZERO), "100 B");
    }
}
