//! Rollups: per series and per bucket of a coarser resolution, the aggregates from which
//! range functions are answered as they are over the raw samples.
//!
//! # The bucket rule
//!
//! A bucket of resolution `R` (milliseconds) covers `(end - R, end]`: open on the left,
//! closed on the right, stamped with its `end`, a multiple of `R`. This is the shape of
//! Prometheus's range windows, `(t - range, t]`, so that `f_over_time(x[range])` at an
//! evaluation time `t` that is a multiple of `R`, with `range` a multiple of `R`, reads
//! exactly the samples of the buckets ending in `(t - range, t]`, and the rollups answer
//! it as the raw samples do.
//!
//! The design document's worked example, pinned by `worked_example_of_the_design`: CPU
//! samples 10, 16, 20, 30, 20, 30 at 19:00:00, :10, …, :50, rolled up at 30 s. Buckets
//! closed on the left (`[19:00:00, 19:00:30)`) would give averages 15.33 and 26.67; ours,
//! open on the left, give 10 (`(18:59:30, 19:00:00]`), 22 (`(19:00:00, 19:00:30]`) and
//! 25 (`(19:00:30, 19:01:00]`), which is what `avg_over_time(cpu[30s])` answers over the
//! raw samples at 19:00:00, 19:00:30 and 19:01:00. (The document's 19 and 25 follow from
//! no consistent rule.)
//!
//! # The aggregates
//!
//! [`Aggregate`] keeps count, sum, min, max, the first and last samples (time and value),
//! and the counter corrections Prometheus adds at resets, plus the number of resets and of
//! value changes. Adjacent aggregates [merge](Aggregate::merge) into the aggregate of the
//! union, the pairs across the boundary included, so: `count_over_time`, `sum_over_time`,
//! `avg_over_time`, `min_over_time`, `max_over_time`, `last_over_time`, `resets`,
//! `changes`, and `rate`/`increase`/`delta` (whose extrapolation needs only the first
//! and last samples, the count and the reset-corrected difference) come out as over the
//! raw samples: counts exactly, sums and corrections up to the order of floating-point
//! additions. Quantiles, `stddev`/`stdvar`, `irate`/`idelta` and the like need more than
//! this and are not answered from rollups.
//!
//! Stale markers are not samples of a window (Prometheus drops them from range vectors):
//! [`rollup`] leaves them out. NaN values count as Prometheus counts them: `min`/`max`
//! ignore NaN unless every value is NaN, `sum` turns NaN, `changes` does not count NaN
//! followed by NaN.

/// The bits of Prometheus's stale marker (`value.StaleNaN`), left out of rollups. Same
/// bits as `tsdb_query::STALE_NAN_BITS` (this crate does not depend on the query engine).
pub const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

/// The end of the bucket of resolution `resolution_ms` that holds time `t`: the smallest
/// multiple of the resolution at or after `t`. `resolution_ms` must be positive.
pub fn bucket_end(t: i64, resolution_ms: i64) -> i64 {
    let r = resolution_ms.max(1);
    let rem = t.rem_euclid(r);
    if rem == 0 {
        t
    } else {
        t.saturating_add(r - rem)
    }
}

/// The aggregates of one series over a run of consecutive samples (a bucket, or several
/// merged). Never empty: it is made from a first sample.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Aggregate {
    /// Samples.
    pub count: u64,
    /// Their sum.
    pub sum: f64,
    /// The smallest value, NaN values ignored unless all are NaN.
    pub min: f64,
    /// The largest value, NaN values ignored unless all are NaN.
    pub max: f64,
    /// The first sample's time (ms).
    pub first_t: i64,
    /// The first sample's value.
    pub first_v: f64,
    /// The last sample's time (ms).
    pub last_t: i64,
    /// The last sample's value.
    pub last_v: f64,
    /// Prometheus's counter correction: the sum of the value before each drop
    /// (`cur < prev`), so that `last_v - first_v + reset_correction` is the counter's
    /// increase.
    pub reset_correction: f64,
    /// Drops (`cur < prev`): Prometheus's `resets`.
    pub resets: u64,
    /// Changes of value (`cur != prev`, NaN to NaN not counted): Prometheus's `changes`.
    pub changes: u64,
}

impl Aggregate {
    /// The aggregate of the one sample `(t, v)`.
    pub fn new(t: i64, v: f64) -> Aggregate {
        Aggregate {
            count: 1,
            sum: v,
            min: v,
            max: v,
            first_t: t,
            first_v: v,
            last_t: t,
            last_v: v,
            reset_correction: 0.0,
            resets: 0,
            changes: 0,
        }
    }

    /// Adds a sample later than every one in the aggregate.
    pub fn push(&mut self, t: i64, v: f64) {
        self.merge_in(&Aggregate::new(t, v));
    }

    /// The aggregate of `self` followed by `later` (whose samples all come after), the
    /// pair across the boundary included.
    pub fn merge(&self, later: &Aggregate) -> Aggregate {
        let mut out = *self;
        out.merge_in(later);
        out
    }

    fn merge_in(&mut self, later: &Aggregate) {
        let (prev, cur) = (self.last_v, later.first_v);
        let drop = cur < prev;
        let changed = cur != prev && !(cur.is_nan() && prev.is_nan());
        self.count += later.count;
        self.sum += later.sum;
        if later.min < self.min || self.min.is_nan() {
            self.min = later.min;
        }
        if later.max > self.max || self.max.is_nan() {
            self.max = later.max;
        }
        if drop {
            self.reset_correction += prev;
        }
        self.reset_correction += later.reset_correction;
        self.resets += u64::from(drop) + later.resets;
        self.changes += u64::from(changed) + later.changes;
        self.last_t = later.last_t;
        self.last_v = later.last_v;
    }

    /// `avg_over_time`.
    pub fn avg(&self) -> f64 {
        // count is at least 1
        self.sum / self.count as f64
    }

    /// The counter's increase from the first to the last sample, resets corrected
    /// (the unextrapolated part of `increase`).
    pub fn counter_increase(&self) -> f64 {
        self.last_v - self.first_v + self.reset_correction
    }

    /// `rate` (`is_rate`) or `increase` (counter) or `delta` (`!is_counter`) over the
    /// window `(range_end - range_ms, range_end]` holding exactly this aggregate's
    /// samples, extrapolated as Prometheus's `extrapolatedRate` does; `None` with fewer
    /// than two samples.
    pub fn extrapolated(
        &self,
        range_end: i64,
        range_ms: i64,
        is_counter: bool,
        is_rate: bool,
    ) -> Option<f64> {
        if self.count < 2 {
            return None;
        }
        let result = if is_counter {
            self.counter_increase()
        } else {
            self.last_v - self.first_v
        };
        let range_start = range_end.saturating_sub(range_ms);
        let mut to_start = self.first_t.saturating_sub(range_start) as f64 / 1000.0;
        let mut to_end = range_end.saturating_sub(self.last_t) as f64 / 1000.0;
        let sampled = self.last_t.saturating_sub(self.first_t) as f64 / 1000.0;
        let average_between = sampled / (self.count - 1) as f64;
        let threshold = average_between * 1.1;
        let mut extrapolate_to = sampled;
        if to_start >= threshold {
            to_start = average_between / 2.0;
        }
        if is_counter && result > 0.0 && self.first_v >= 0.0 {
            let to_zero = sampled * (self.first_v / result);
            if to_zero < to_start {
                to_start = to_zero;
            }
        }
        extrapolate_to += to_start;
        if to_end >= threshold {
            to_end = average_between / 2.0;
        }
        extrapolate_to += to_end;
        let mut factor = extrapolate_to / sampled;
        if is_rate {
            factor /= range_ms as f64 / 1000.0;
        }
        Some(result * factor)
    }
}

/// One rollup bucket as a querier hands it out: the aggregate of a series' raw samples
/// in `(end - resolution_ms, end]`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Bucket {
    /// The bucket's end (its timestamp), a multiple of `resolution_ms`.
    pub end: i64,
    /// The bucket's width in milliseconds (positive).
    pub resolution_ms: i64,
    /// The aggregates of the raw samples in the bucket.
    pub agg: Aggregate,
}

impl Bucket {
    /// The bucket's start: it covers `(start, end]`.
    pub fn start(&self) -> i64 {
        self.end.saturating_sub(self.resolution_ms)
    }
}

/// Columns of a rollup series in a segment, in this order (`FORMAT-segment.md`, "Rollup
/// segments"): each is a run of chunks whose timestamps are the bucket ends.
pub const COLUMNS: usize = 11;

/// The columns of one bucket: count, sum, min, max, first value, last value, the first
/// sample's distance from the bucket's start (ms, in `[1, R]`), the last sample's
/// distance to its end (ms, in `[0, R - 1]`), reset correction, resets, changes. The
/// times are stored as distances so that a regular scrape's are constant and compress to
/// almost nothing.
pub fn columns_of(b: &Bucket) -> [f64; COLUMNS] {
    let a = &b.agg;
    #[expect(
        clippy::cast_precision_loss,
        reason = "counts and distances within a bucket are far below 2^53"
    )]
    [
        a.count as f64,
        a.sum,
        a.min,
        a.max,
        a.first_v,
        a.last_v,
        a.first_t.saturating_sub(b.start()) as f64,
        b.end.saturating_sub(a.last_t) as f64,
        a.reset_correction,
        a.resets as f64,
        a.changes as f64,
    ]
}

/// The column each column may be omitted in favour of, chunk by chunk, when every value
/// of the chunk equals it (bits): sum and last the first value (one-sample buckets),
/// min the first value and max the last (counters, rising within a bucket). Resolved in
/// the order first, last, then the others; the first value is always stored.
pub(crate) const REFERENCE: [Option<usize>; COLUMNS] = [
    None,
    Some(4),
    Some(4),
    Some(5),
    None,
    Some(4),
    None,
    None,
    None,
    None,
    None,
];

/// A whole non-negative number stored as f64, or `None`.
fn whole(v: f64) -> Option<u64> {
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "checked whole, non-negative and below 2^53 first"
    )]
    ((0.0..9.007_199_254_740_992e15).contains(&v) && v.fract() == 0.0).then_some(v as u64)
}

/// The bucket of `columns` ending at `end`, or `None` when the columns cannot be one
/// (data damaged past its checksums, or written by a bug): a count below one, a
/// fraction, or sample times outside the bucket.
pub(crate) fn bucket_of(end: i64, resolution_ms: i64, c: &[f64; COLUMNS]) -> Option<Bucket> {
    let count = whole(c[0]).filter(|&n| n >= 1)?;
    let first_off = i64::try_from(whole(c[6])?).ok()?;
    let last_off = i64::try_from(whole(c[7])?).ok()?;
    let start = end.checked_sub(resolution_ms)?;
    let (first_t, last_t) = (start.checked_add(first_off)?, end.checked_sub(last_off)?);
    if !(start < first_t && first_t <= last_t && last_t <= end) {
        return None;
    }
    Some(Bucket {
        end,
        resolution_ms,
        agg: Aggregate {
            count,
            sum: c[1],
            min: c[2],
            max: c[3],
            first_t,
            first_v: c[4],
            last_t,
            last_v: c[5],
            reset_correction: c[8],
            resets: whole(c[9])?,
            changes: whole(c[10])?,
        },
    })
}

/// Sorts buckets by end and merges the copies of a bucket into one: two copies of
/// a bucket come from adjacent rollup segments (the samples before and at a window's
/// boundary), the copy whose samples start first taken as the earlier part.
pub(crate) fn merge_same_ends(buckets: &mut Vec<Bucket>) {
    buckets.sort_by_key(|b| (b.end, b.agg.first_t));
    buckets.dedup_by(|later, earlier| {
        if later.end == earlier.end && later.resolution_ms == earlier.resolution_ms {
            earlier.agg = earlier.agg.merge(&later.agg);
            true
        } else {
            false
        }
    });
}

/// The buckets of resolution `resolution_ms` of one series' samples (`ts` ascending,
/// `vs` beside them): `(bucket end, aggregate)` for each bucket holding a sample, in time
/// order. Stale markers are left out.
pub fn rollup(ts: &[i64], vs: &[f64], resolution_ms: i64) -> Vec<(i64, Aggregate)> {
    let mut out: Vec<(i64, Aggregate)> = Vec::new();
    for (&t, &v) in ts.iter().zip(vs) {
        if v.to_bits() == STALE_NAN_BITS {
            continue;
        }
        let end = bucket_end(t, resolution_ms);
        match out.last_mut() {
            Some((e, agg)) if *e == end => agg.push(t, v),
            _ => out.push((end, Aggregate::new(t, v))),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn columns_round_trip_and_damage_is_refused() {
        let ts = [1_000, 1_500, 2_000, 2_700];
        let vs = [5.0, 3.0, 9.0, f64::NAN];
        for (end, agg) in rollup(&ts, &vs, 1_000) {
            let b = Bucket {
                end,
                resolution_ms: 1_000,
                agg,
            };
            let cols = columns_of(&b);
            let back = bucket_of(end, 1_000, &cols).unwrap();
            assert_eq!(format!("{back:?}"), format!("{b:?}"));
        }
        let b = Bucket {
            end: 2_000,
            resolution_ms: 1_000,
            agg: Aggregate::new(1_500, 1.0),
        };
        let good = columns_of(&b);
        for (col, bad) in [
            (0, 0.0),
            (0, 1.5),
            (6, 0.0),
            (6, 1_001.0),
            (7, -1.0),
            (9, f64::NAN),
        ] {
            let mut c = good;
            c[col] = bad;
            assert!(
                bucket_of(2_000, 1_000, &c).is_none(),
                "column {col} = {bad}"
            );
        }
    }

    #[test]
    fn copies_of_a_bucket_merge_in_time_order() {
        let mut v = vec![
            Bucket {
                end: 60,
                resolution_ms: 60,
                agg: Aggregate::new(60, 1.0),
            },
            Bucket {
                end: 60,
                resolution_ms: 60,
                agg: Aggregate::new(30, 5.0),
            },
            Bucket {
                end: 120,
                resolution_ms: 60,
                agg: Aggregate::new(90, 2.0),
            },
        ];
        merge_same_ends(&mut v);
        assert_eq!(v.len(), 2);
        assert_eq!(
            (v[0].agg.count, v[0].agg.first_v, v[0].agg.last_v),
            (2, 5.0, 1.0)
        );
        assert_eq!((v[0].agg.resets, v[0].agg.reset_correction), (1, 5.0));
    }

    /// What Prometheus computes over a window's raw samples, for comparison.
    struct Raw<'a> {
        ts: &'a [i64],
        vs: &'a [f64],
    }

    impl Raw<'_> {
        fn min(&self) -> f64 {
            let mut m = self.vs[0];
            for &v in &self.vs[1..] {
                if v < m || m.is_nan() {
                    m = v;
                }
            }
            m
        }
        fn max(&self) -> f64 {
            let mut m = self.vs[0];
            for &v in &self.vs[1..] {
                if v > m || m.is_nan() {
                    m = v;
                }
            }
            m
        }
        fn resets(&self) -> u64 {
            self.vs.windows(2).filter(|w| w[1] < w[0]).count() as u64
        }
        fn changes(&self) -> u64 {
            self.vs
                .windows(2)
                .filter(|w| w[1] != w[0] && !(w[1].is_nan() && w[0].is_nan()))
                .count() as u64
        }
        /// `extrapolatedRate`, as tsdb-query's `functions.rs` has it.
        fn extrapolated(
            &self,
            end: i64,
            range: i64,
            is_counter: bool,
            is_rate: bool,
        ) -> Option<f64> {
            let (ts, vs) = (self.ts, self.vs);
            if vs.len() < 2 {
                return None;
            }
            let (first_t, last_t) = (ts[0], ts[ts.len() - 1]);
            let mut result = vs[vs.len() - 1] - vs[0];
            if is_counter {
                let mut last = 0.0;
                for &v in vs {
                    if v < last {
                        result += last;
                    }
                    last = v;
                }
            }
            let mut to_start = (first_t - (end - range)) as f64 / 1000.0;
            let mut to_end = (end - last_t) as f64 / 1000.0;
            let sampled = (last_t - first_t) as f64 / 1000.0;
            let avg = sampled / (vs.len() - 1) as f64;
            let mut to = sampled;
            if to_start >= avg * 1.1 {
                to_start = avg / 2.0;
            }
            if is_counter && result > 0.0 && vs[0] >= 0.0 {
                let z = sampled * (vs[0] / result);
                if z < to_start {
                    to_start = z;
                }
            }
            to += to_start;
            if to_end >= avg * 1.1 {
                to_end = avg / 2.0;
            }
            to += to_end;
            let mut f = to / sampled;
            if is_rate {
                f /= range as f64 / 1000.0;
            }
            Some(result * f)
        }
    }

    /// Equal, or both NaN, or within a relative 1e-9 (summation order).
    fn close(a: f64, b: f64) -> bool {
        if a.is_nan() || b.is_nan() {
            return a.is_nan() && b.is_nan();
        }
        if a == b {
            return true;
        }
        (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1e-300)
    }

    #[test]
    fn worked_example_of_the_design() {
        // 10-second CPU samples 10, 16, 20, 30, 20, 30 at 19:00:00 … 19:00:50, rolled up
        // at 30 s. Buckets are open on the left, closed on the right, `(end - 30s, end]`,
        // as Prometheus's windows `(t - 30s, t]`: the averages are 10, 22 and 25, what
        // avg_over_time(cpu[30s]) gives over the raw samples at 19:00:00, :30 and 19:01:00.
        // Buckets closed on the left would give 15.33 and 26.67; the design document's
        // 19 and 25 come from no consistent rule.
        let t0 = 19 * 3_600_000;
        let ts: Vec<i64> = (0..6).map(|i| t0 + i * 10_000).collect();
        let vs = [10.0, 16.0, 20.0, 30.0, 20.0, 30.0];
        let buckets = rollup(&ts, &vs, 30_000);
        let got: Vec<(i64, f64)> = buckets.iter().map(|(e, a)| (*e, a.avg())).collect();
        assert_eq!(got, [(t0, 10.0), (t0 + 30_000, 22.0), (t0 + 60_000, 25.0)]);
    }

    #[test]
    fn bucket_ends_are_multiples_at_or_after() {
        assert_eq!(bucket_end(0, 60_000), 0);
        assert_eq!(bucket_end(1, 60_000), 60_000);
        assert_eq!(bucket_end(60_000, 60_000), 60_000);
        assert_eq!(bucket_end(-1, 60_000), 0);
        assert_eq!(bucket_end(-60_001, 60_000), -60_000);
    }

    #[test]
    fn stale_markers_are_not_samples() {
        let stale = f64::from_bits(STALE_NAN_BITS);
        let b = rollup(&[1, 2, 3], &[5.0, stale, 7.0], 10);
        assert_eq!(b.len(), 1);
        assert_eq!((b[0].1.count, b[0].1.sum, b[0].1.last_v), (2, 12.0, 7.0));
        assert!(rollup(&[1], &[stale], 10).is_empty());
    }

    fn value() -> impl Strategy<Value = f64> {
        prop_oneof![
            8 => (0u32..1000).prop_map(f64::from),
            1 => Just(f64::NAN),
            1 => (-50i32..50).prop_map(|v| f64::from(v) * 0.5),
            1 => Just(f64::from_bits(STALE_NAN_BITS)),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(500))]

        /// Any window of whole buckets, answered from the merged buckets, equals the
        /// same function over the window's raw samples: counters with resets, gaps,
        /// NaN and stale markers included.
        #[test]
        fn merged_buckets_answer_as_the_raw_samples(
            gaps in prop::collection::vec(1i64..25_000, 1..120),
            values in prop::collection::vec(value(), 120),
            res_i in 0usize..3,
            window_buckets in 1i64..8,
            at_bucket in 0i64..20,
        ) {
            let res = [10_000i64, 30_000, 60_000][res_i];
            let mut t = 1_700_000_000_000i64 - 1_700_000_000_000 % res;
            let mut ts = Vec::new();
            for g in &gaps {
                t += g;
                ts.push(t);
            }
            let vs = &values[..ts.len()];
            let buckets = rollup(&ts, vs, res);
            // the window (end - range, end], end a bucket end
            let first_end = bucket_end(ts[0], res);
            let end = first_end + at_bucket * res;
            let range = window_buckets * res;
            let in_window = |e: i64| e > end - range && e <= end;
            let merged = buckets
                .iter()
                .filter(|(e, _)| in_window(*e))
                .map(|(_, a)| *a)
                .reduce(|a, b| a.merge(&b));
            let (rts, rvs): (Vec<i64>, Vec<f64>) = ts
                .iter()
                .zip(vs)
                .filter(|(t, v)| *t > &(end - range) && *t <= &end && v.to_bits() != STALE_NAN_BITS)
                .map(|(t, v)| (*t, *v))
                .unzip();
            let Some(m) = merged else {
                prop_assert!(rts.is_empty());
                return Ok(());
            };
            let raw = Raw { ts: &rts, vs: &rvs };
            prop_assert_eq!(m.count, rts.len() as u64);
            prop_assert_eq!((m.first_t, m.last_t), (rts[0], rts[rts.len() - 1]));
            prop_assert!(close(m.first_v, rvs[0]) && close(m.last_v, rvs[rvs.len() - 1]));
            let sum: f64 = rvs.iter().sum();
            prop_assert!(close(m.sum, sum), "sum {} vs {}", m.sum, sum);
            prop_assert!(close(m.avg(), sum / rvs.len() as f64));
            prop_assert!(close(m.min, raw.min()) && close(m.max, raw.max()));
            prop_assert_eq!(m.resets, raw.resets());
            prop_assert_eq!(m.changes, raw.changes());
            for (is_counter, is_rate) in [(true, true), (true, false), (false, false)] {
                let got = m.extrapolated(end, range, is_counter, is_rate);
                let want = raw.extrapolated(end, range, is_counter, is_rate);
                prop_assert_eq!(got.is_some(), want.is_some());
                if let (Some(g), Some(w)) = (got, want) {
                    prop_assert!(close(g, w), "{} {}: {} vs {}", is_counter, is_rate, g, w);
                }
            }
        }
    }
}
