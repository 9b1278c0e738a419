//! Answering from rollup buckets: where the storage keeps only rollups of a series (data
//! older than its raw retention), [`Series::read_buckets_into`](crate::storage::Series)
//! hands out one [`Bucket`] per series and bucket, each the aggregate of the raw samples
//! in `(end - resolution, end]`, all before the series' raw samples. This module turns
//! them into the values the raw samples would give, by these rules:
//!
//! **Instant selectors.** At each step's reference time, the newest raw sample within
//! the lookback, as always. A series with no raw sample at or before the reference falls
//! back to the newest bucket that *ends* at or before it (a bucket ending later may hold
//! samples after the reference) whose last sample is within `max(lookback, resolution)`:
//! its last value (`timestamp()` gives the last sample's time). So a graph over rollups is
//! continuous at any step, not dotted every resolution. Rollups leave stale markers out:
//! over rollups a series that ended stays visible up to one resolution after its last
//! sample.
//!
//! **Range functions over `(lo, hi]`.** The buckets *ending* in the window are in it,
//! whole; then the raw samples of the window (which come after). If no bucket ends in the
//! window and it has no raw sample either (a window narrower than the resolution, or not
//! aligned to it), the window is *widened* to the latest bucket ending in
//! `(hi - resolution, hi]`: `rate(x[5m])` over 1 h rollups answers from the 1 h bucket
//! that ended last, so graphs stay continuous. A window with buckets in it is extended to
//! whole buckets for extrapolation: its start is `min(lo, first bucket's start)`; its end
//! is `hi` when it has raw samples, otherwise `hi` rounded down to the last bucket's
//! resolution (the data after that lies in a bucket ending after `hi`, not yet visible);
//! `rate` divides by that effective range. So `rate(x[5m])` over a 1 h bucket is that
//! bucket's per-second rate, and `increase(x[5m])` its increase over the hour. With
//! steps, ranges and offsets multiples of the resolution the windows are the buckets'
//! own and all of this is exact.
//!
//! *Exact* functions fold the window's buckets with [`Aggregate::merge`] (the pairs across
//! bucket edges included) and push the raw samples: `count_over_time` (count),
//! `sum_over_time` (sum), `avg_over_time` (sum / count), `min_over_time`,
//! `max_over_time`, `last_over_time`, `present_over_time`, `absent_over_time`, `resets`,
//! `changes`, and `rate`/`increase`/`delta` (Prometheus' `extrapolatedRate` over the
//! aggregate). They equal the raw answer except for the order of floating-point
//! additions: the raw `sum_over_time` and `avg_over_time` use Kahan summation (and
//! `avg_over_time` an incremental mean when the sum overflows), the aggregates a plain
//! sum per bucket; the difference is within rounding for sums that do not overflow.
//!
//! *Approximated* functions (`quantile_over_time`, `stddev_over_time`,
//! `stdvar_over_time`, `mad_over_time`, `ema_over_time`, `deriv`, `predict_linear`:
//! one pseudo-sample per bucket, `(last sample's time, average)`; `irate`, `idelta`:
//! `(last sample's time, last value)`) are computed over those pseudo-samples followed by
//! the raw samples, and the query gets an info annotation naming the function. A bucket's
//! average is the best single value it keeps for statistics over samples, and the last
//! sample is what `irate`/`idelta` look at; refusing would leave long-range dashboards
//! blank for functions whose shape the approximation keeps.

use parking_lot::Mutex;
use tsdb_core::rollup::{Aggregate, Bucket};

use super::annotations::Annotations;
use super::functions::{window_value, Window};
use super::{is_stale_nan, Steps, WindowSpec};
use crate::ast::Function;

/// An instant selector's points for a series with buckets (see the module docs); the
/// buckets used are added to `notes`.
pub(super) fn instant_points(
    steps: Steps,
    (at, offset_ms, lookback): (Option<i64>, i64, i64),
    sample_time: bool,
    (ts, vs): (&[i64], &[f64]),
    buckets: &[Bucket],
    notes: &Mutex<Annotations>,
) -> Vec<(i64, f64)> {
    let mut points = Vec::new();
    let mut used = Used::default();
    for t in steps.times() {
        let reference = at.unwrap_or(t).saturating_sub(offset_ms);
        let next = ts.partition_point(|&x| x <= reference);
        if next > 0 {
            let (st, sv) = (ts[next - 1], vs[next - 1]);
            if st > reference.saturating_sub(lookback) && !is_stale_nan(sv) {
                points.push((t, if sample_time { st as f64 / 1000.0 } else { sv }));
            }
            continue;
        }
        let ended = buckets.partition_point(|b| b.end <= reference);
        let Some(b) = ended.checked_sub(1).and_then(|i| buckets.get(i)) else {
            continue;
        };
        if b.agg.last_t > reference.saturating_sub(lookback.max(b.resolution_ms)) {
            let v = if sample_time {
                b.agg.last_t as f64 / 1000.0
            } else {
                b.agg.last_v
            };
            points.push((t, v));
            used.bucket(b);
        }
    }
    used.into(notes, None);
    points
}

/// The buckets one series' evaluation used. Steps use the same or the next buckets, so
/// the span of the current resolution is widened in place (a comparison per step) and
/// goes into the map only when the resolution changes.
#[derive(Default)]
struct Used {
    notes: Annotations,
    /// `(resolution, from, to)` of the run being noted.
    run: Option<(i64, i64, i64)>,
    approximated: bool,
}

impl Used {
    fn bucket(&mut self, b: &Bucket) {
        match &mut self.run {
            Some((res, from, to)) if *res == b.resolution_ms => {
                *from = (*from).min(b.start());
                *to = (*to).max(b.end);
            }
            run => {
                if let Some((res, from, to)) = run.replace((b.resolution_ms, b.start(), b.end)) {
                    self.notes.read_rollup(res, from, to);
                }
            }
        }
    }

    /// Notes the buckets of one window: the first and last of each resolution.
    fn window(&mut self, buckets: &[Bucket]) {
        for (i, b) in buckets.iter().enumerate() {
            let edge = i == 0
                || i + 1 == buckets.len()
                || buckets[i - 1].resolution_ms != b.resolution_ms
                || buckets[i + 1].resolution_ms != b.resolution_ms;
            if edge {
                self.bucket(b);
            }
        }
    }

    /// Adds what was used to the query's notes (`f` named when it was approximated).
    fn into(mut self, notes: &Mutex<Annotations>, f: Option<Function>) {
        if let Some((res, from, to)) = self.run.take() {
            self.notes.read_rollup(res, from, to);
        }
        if self.notes.is_empty() {
            return;
        }
        let mut n = notes.lock();
        n.merge(&self.notes);
        if let (true, Some(f)) = (self.approximated, f) {
            n.approximated(f.name());
        }
    }
}

/// Whether `f` is answered exactly from the aggregates (so its selector may read the
/// coarsest rollups its windows are made of).
pub(super) fn exact(f: Function) -> bool {
    use Function as F;
    matches!(
        f,
        F::Rate
            | F::Increase
            | F::Delta
            | F::Resets
            | F::Changes
            | F::AvgOverTime
            | F::SumOverTime
            | F::CountOverTime
            | F::LastOverTime
            | F::PresentOverTime
            | F::MinOverTime
            | F::MaxOverTime
    )
}

/// A range function's values at every step for a series with buckets (see the module
/// docs); the buckets used, and `f` if it approximated over them, are added to `notes`.
pub(super) fn windows(
    f: Function,
    spec: WindowSpec,
    times: &[i64],
    (ts, vs, buckets): (&[i64], &[f64], &[Bucket]),
    params: &[f64],
    notes: &Mutex<Annotations>,
) -> Vec<(i64, f64)> {
    let mut points = Vec::new();
    let mut used = Used::default();
    let (mut scratch, mut pts, mut pvs) = (Vec::new(), Vec::new(), Vec::new());
    for (i, &t) in times.iter().enumerate() {
        let (lo, hi) = spec.window(t);
        let from = ts.partition_point(|&x| x <= lo);
        let to = ts.partition_point(|&x| x <= hi).max(from);
        let bfrom = buckets.partition_point(|b| b.end <= lo);
        let bto = buckets.partition_point(|b| b.end <= hi).max(bfrom);
        let param = params.get(i).copied().unwrap_or(f64::NAN);
        let in_window = if bfrom < bto {
            &buckets[bfrom..bto]
        } else if from == to {
            // widening: the latest bucket ending in (hi - resolution, hi]
            match bfrom.checked_sub(1).map(|j| &buckets[j..bfrom]) {
                Some(one @ [b]) if b.end > hi.saturating_sub(b.resolution_ms) => one,
                _ => continue,
            }
        } else {
            &[]
        };
        let (raw_ts, raw_vs) = (&ts[from..to], &vs[from..to]);
        let (Some(first), Some(last)) = (in_window.first(), in_window.last()) else {
            // raw samples only: as without rollups
            let w = Window {
                ts: raw_ts,
                vs: raw_vs,
                lo,
                hi,
                range_ms: spec.range_ms,
                eval_t: t,
            };
            if let Some(v) = window_value(f, &w, param, &mut scratch) {
                points.push((t, v));
            }
            continue;
        };
        used.window(in_window);
        let range_start = lo.min(first.start());
        let range_end = if raw_ts.is_empty() {
            hi.saturating_sub(hi.rem_euclid(last.resolution_ms.max(1)))
        } else {
            hi
        };
        let value = if exact(f) {
            let mut agg = in_window[1..]
                .iter()
                .fold(first.agg, |a, b| a.merge(&b.agg));
            for (&t, &v) in raw_ts.iter().zip(raw_vs) {
                agg.push(t, v);
            }
            exact_value(f, &agg, range_start, range_end)
        } else {
            used.approximated = true;
            let last_value = matches!(f, Function::Irate | Function::Idelta);
            pts.clear();
            pvs.clear();
            for b in in_window {
                pts.push(b.agg.last_t);
                pvs.push(if last_value {
                    b.agg.last_v
                } else {
                    b.agg.avg()
                });
            }
            pts.extend_from_slice(raw_ts);
            pvs.extend_from_slice(raw_vs);
            let w = Window {
                ts: &pts,
                vs: &pvs,
                lo: range_start,
                hi: range_end,
                range_ms: range_end.saturating_sub(range_start),
                eval_t: t,
            };
            window_value(f, &w, param, &mut scratch)
        };
        if let Some(v) = value {
            points.push((t, v));
        }
    }
    used.into(notes, Some(f));
    points
}

/// An exact function's value from the aggregate of its window, `(range_start,
/// range_end]` for the extrapolating ones.
fn exact_value(f: Function, agg: &Aggregate, range_start: i64, range_end: i64) -> Option<f64> {
    use Function as F;
    let range = range_end.saturating_sub(range_start);
    match f {
        F::Rate => agg.extrapolated(range_end, range, true, true),
        F::Increase => agg.extrapolated(range_end, range, true, false),
        F::Delta => agg.extrapolated(range_end, range, false, false),
        F::Resets => Some(agg.resets as f64),
        F::Changes => Some(agg.changes as f64),
        F::AvgOverTime => Some(agg.avg()),
        F::SumOverTime => Some(agg.sum),
        F::CountOverTime => Some(agg.count as f64),
        F::LastOverTime => Some(agg.last_v),
        F::PresentOverTime => Some(1.0),
        F::MinOverTime => Some(agg.min),
        F::MaxOverTime => Some(agg.max),
        _ => None,
    }
}
