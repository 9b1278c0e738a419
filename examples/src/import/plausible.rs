//! Which timestamps an import believes: the rule that keeps a unit slip (seconds read as
//! milliseconds, nanoseconds read as seconds) or a stray timestamp from landing in 1970 or
//! in year 55,840, where one sample would raise the database's write floor past the
//! present.
//!
//! A sample is implausible when it is
//! - more than [`MAX_AHEAD_MS`] (1 hour, the engine's default clock-skew allowance)
//!   ahead of the clock,
//! - more than [`MAX_BEHIND_MS`] (30 years) behind the clock: no monitoring data is that
//!   old, but every unit slip towards smaller numbers lands in January 1970, or
//! - more than [`MAX_FROM_MEDIAN_MS`] (366 days) away from the median timestamp of its
//!   own file, when that median passes the clock rule: a file is one export or one
//!   collection run, so a sample a year away from the middle of its file is a stray.
//!
//! The median comes from [`TimeSketch`], a histogram of one file's timestamps with a
//! bounded number of buckets (a few KiB per file, whatever the file), exact to a bucket
//! width: one day for files spanning up to ~8 months, wider for longer ones.

use std::collections::HashMap;

/// How far ahead of the clock a sample may be.
pub const MAX_AHEAD_MS: i64 = 3600 * 1000;
/// How far behind the clock a sample may be: 30 years.
pub const MAX_BEHIND_MS: i64 = 30 * 365 * DAY_MS;
/// How far from its file's median timestamp a sample may be: 366 days.
pub const MAX_FROM_MEDIAN_MS: i64 = 366 * DAY_MS;

const DAY_MS: i64 = 86_400_000;

/// Most buckets a sketch keeps before it doubles their width.
const MAX_BUCKETS: usize = 256;

/// Why a timestamp is implausible.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Implausible {
    /// More than [`MAX_AHEAD_MS`] ahead of the clock.
    AheadOfClock,
    /// More than [`MAX_BEHIND_MS`] behind the clock.
    BehindClock,
    /// More than [`MAX_FROM_MEDIAN_MS`] from the file's median timestamp (the median).
    FarFromMedian(i64),
}

/// Checks `t` against the clock (`now_ms`) and its file's median timestamp.
pub fn check(t: i64, now_ms: i64, median: Option<i64>) -> Option<Implausible> {
    if t > now_ms.saturating_add(MAX_AHEAD_MS) {
        return Some(Implausible::AheadOfClock);
    }
    if t < now_ms.saturating_sub(MAX_BEHIND_MS) {
        return Some(Implausible::BehindClock);
    }
    // a median that fails the clock rule is no reference (the file is mostly slips)
    let median = median.filter(|&m| check(m, now_ms, None).is_none());
    match median {
        Some(m) if t.abs_diff(m) > MAX_FROM_MEDIAN_MS.unsigned_abs() => {
            Some(Implausible::FarFromMedian(m))
        }
        _ => None,
    }
}

/// A histogram of one file's timestamps, for its median: buckets of `width`
/// milliseconds, at most 256 of them (the width doubles when there would be
/// more), so its memory does not depend on the file.
#[derive(Debug)]
pub struct TimeSketch {
    width: i64,
    buckets: HashMap<i64, u64>,
    count: u64,
}

impl Default for TimeSketch {
    fn default() -> Self {
        TimeSketch {
            width: DAY_MS,
            buckets: HashMap::new(),
            count: 0,
        }
    }
}

impl TimeSketch {
    /// Counts one timestamp.
    pub fn add(&mut self, t: i64) {
        *self.buckets.entry(t.div_euclid(self.width)).or_default() += 1;
        self.count += 1;
        // A width of 2^53 ms puts every i64 in fewer than 2^11 buckets: doubling stops
        // long before it could overflow.
        while self.buckets.len() > MAX_BUCKETS {
            let Some(width) = self.width.checked_mul(2) else {
                break;
            };
            self.width = width;
            let mut merged: HashMap<i64, u64> = HashMap::with_capacity(self.buckets.len());
            for (k, n) in self.buckets.drain() {
                *merged.entry(k.div_euclid(2)).or_default() += n;
            }
            self.buckets = merged;
        }
    }

    /// The median timestamp, to within one bucket width (the middle of the bucket that
    /// holds it); `None` for a file without timestamps.
    pub fn median(&self) -> Option<i64> {
        let mut keys: Vec<(i64, u64)> = self.buckets.iter().map(|(&k, &n)| (k, n)).collect();
        keys.sort_unstable();
        let half = self.count.div_ceil(2);
        let mut seen = 0;
        for (k, n) in keys {
            seen += n;
            if seen >= half {
                return Some(k.saturating_mul(self.width).saturating_add(self.width / 2));
            }
        }
        None
    }

    /// Approximate bytes of memory held.
    pub fn bytes(&self) -> usize {
        64 + self.buckets.capacity() * 24
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_is_within_a_bucket_and_memory_is_bounded() {
        let mut s = TimeSketch::default();
        assert_eq!(s.median(), None);
        let t0 = 1_700_000_000_000i64;
        for i in 0..10_000 {
            s.add(t0 + i * 60_000); // a week of minutes
        }
        let m = s.median().unwrap_or_default();
        let exact = t0 + 5_000 * 60_000;
        assert!((m - exact).abs() <= DAY_MS, "{m} vs {exact}");

        // timestamps all over the i64 range: the sketch coarsens, never grows past its cap
        let mut wide = TimeSketch::default();
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..100_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            wide.add(x as i64);
        }
        wide.add(i64::MIN);
        wide.add(i64::MAX);
        assert!(wide.buckets.len() <= MAX_BUCKETS);
        assert!(wide.median().is_some());
    }

    #[test]
    fn unit_slips_are_implausible_and_present_data_is_not() {
        let now = 1_750_000_000_000i64; // June 2025
        let median = Some(1_700_000_000_000i64);
        // an OpenMetrics time in seconds read as milliseconds: January 1970
        assert_eq!(
            check(1_700_000_000, now, median),
            Some(Implausible::BehindClock)
        );
        // milliseconds read as seconds: year 55,840
        assert_eq!(
            check(1_700_000_000_000_000, now, median),
            Some(Implausible::AheadOfClock)
        );
        assert_eq!(check(1_700_000_000_000, now, median), None);
        assert_eq!(check(now + MAX_AHEAD_MS, now, None), None);
        assert_eq!(
            check(now + MAX_AHEAD_MS + 1, now, None),
            Some(Implausible::AheadOfClock)
        );
        // a stray two years before the rest of its file
        let stray = 1_700_000_000_000 - 2 * 365 * DAY_MS;
        assert_eq!(
            check(stray, now, median),
            Some(Implausible::FarFromMedian(1_700_000_000_000))
        );
        // a median in 1970 (a file of mostly slips) is no reference for the rest
        assert_eq!(check(1_700_000_000_000, now, Some(1_700_000_000)), None);
        // extreme values never overflow
        assert_eq!(check(i64::MIN, i64::MIN, None), None);
        assert_eq!(check(i64::MAX, i64::MAX - 1, Some(i64::MIN)), None);
        assert_eq!(
            check(i64::MIN, i64::MAX, Some(i64::MAX)),
            Some(Implausible::BehindClock)
        );
    }
}
