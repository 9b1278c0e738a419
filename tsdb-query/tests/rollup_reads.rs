//! The engine over rollup buckets (`Series::read_buckets_into`), with a test-double
//! storage that serves the buckets of `tsdb_core::rollup::rollup` for samples at or
//! before a boundary `b` (a multiple of the resolution) and raw samples after it:
//!
//! - every exact range function answers as over the raw samples (property test: random
//!   counters with resets, gauges, gaps, NaN, stale markers; windows in buckets, in raw
//!   samples, and straddling `b`);
//! - the widening rule (`rate(x[5m])` over 1 h buckets) and the extrapolation range;
//! - instant selectors over buckets are continuous at any step;
//! - approximated functions say so in the annotations, reading buckets names the
//!   resolution, the results cache keeps the annotations, the JSON carries `infos`;
//! - a storage breaking the buckets' contract fails the query.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::sync::Arc;

use proptest::prelude::*;
use tsdb_core::rollup::{rollup, Bucket};
use tsdb_core::ManualClock;
use tsdb_index::{Labels, Matcher};
use tsdb_query::storage::{Querier, Queryable, Series, StorageError};
use tsdb_query::{
    json, parse, Annotations, Engine, Error, ResultsCache, ResultsCacheOptions, Value,
    STALE_NAN_BITS,
};

/// Series served as rollup buckets up to `boundary` and raw samples after it (or, with
/// `boundary: None`, raw samples only: the oracle).
struct RollupStorage {
    series: BTreeMap<Labels, (Vec<i64>, Vec<f64>)>,
    resolution_ms: i64,
    boundary: Option<i64>,
    /// A finer tier after `boundary`: buckets of this resolution for samples up to this
    /// time, raw samples after it.
    fine: Option<(i64, i64)>,
    /// Hand out buckets that break the contract (out of order).
    broken: bool,
}

struct RollupQuerier<'a> {
    storage: &'a RollupStorage,
}

struct RollupSeries<'a> {
    labels: &'a Labels,
    raw: (Vec<i64>, Vec<f64>),
    buckets: Vec<Bucket>,
}

impl Queryable for RollupStorage {
    type Querier<'a> = RollupQuerier<'a>;

    fn querier(&self, _mint: i64, _maxt: i64) -> Result<RollupQuerier<'_>, StorageError> {
        Ok(RollupQuerier { storage: self })
    }
}

impl<'a> Querier for RollupQuerier<'a> {
    type Series = RollupSeries<'a>;

    fn select(
        &self,
        mint: i64,
        maxt: i64,
        matchers: &[Matcher],
    ) -> Result<Vec<RollupSeries<'a>>, StorageError> {
        let st = self.storage;
        let res = st.resolution_ms;
        let mut out = Vec::new();
        for (labels, (ts, vs)) in &st.series {
            if !matchers
                .iter()
                .all(|m| m.matches(labels.get(m.name()).unwrap_or("")))
            {
                continue;
            }
            let b = st.boundary.unwrap_or(i64::MIN);
            let cut = ts.partition_point(|&t| t <= b);
            let tier = |from: usize, to: usize, res: i64| {
                rollup(&ts[from..to], &vs[from..to], res)
                    .into_iter()
                    .filter(move |(end, _)| *end > mint - res && *end <= maxt)
                    .map(move |(end, agg)| Bucket {
                        end,
                        resolution_ms: res,
                        agg,
                    })
            };
            let mut buckets: Vec<Bucket> = tier(0, cut, res).collect();
            let cut = match st.fine {
                Some((fine_res, fine_boundary)) => {
                    let fine_cut = ts.partition_point(|&t| t <= fine_boundary);
                    buckets.extend(tier(cut, fine_cut, fine_res));
                    fine_cut
                }
                None => cut,
            };
            if st.broken {
                buckets.reverse();
            }
            let raw: (Vec<i64>, Vec<f64>) = ts[cut..]
                .iter()
                .zip(&vs[cut..])
                .filter(|(t, _)| **t >= mint && **t <= maxt)
                .map(|(t, v)| (*t, *v))
                .unzip();
            if raw.0.is_empty() && buckets.is_empty() {
                continue;
            }
            out.push(RollupSeries {
                labels,
                raw,
                buckets,
            });
        }
        Ok(out)
    }
}

impl Series for RollupSeries<'_> {
    fn labels(&self) -> &Labels {
        self.labels
    }

    fn chunk_count(&self) -> usize {
        1
    }

    fn read_into(&self, ts: &mut Vec<i64>, vs: &mut Vec<f64>) -> Result<(), StorageError> {
        ts.extend_from_slice(&self.raw.0);
        vs.extend_from_slice(&self.raw.1);
        Ok(())
    }

    fn read_buckets_into(&self, out: &mut Vec<Bucket>) -> Result<(), StorageError> {
        out.extend_from_slice(&self.buckets);
        Ok(())
    }
}

fn labels(name: &str, host: &str) -> Labels {
    Labels::new([("__name__", name), ("host", host)]).unwrap()
}

/// Equal, or both NaN, or within a relative 1e-9 (summation order).
fn close(a: f64, b: f64) -> bool {
    if a.is_nan() || b.is_nan() {
        return a.is_nan() && b.is_nan();
    }
    a == b || (a - b).abs() <= 1e-9 * a.abs().max(b.abs())
}

fn matrix(v: Value) -> Vec<tsdb_query::Series> {
    match v {
        Value::Matrix(m) => m,
        other => panic!("not a matrix: {other:?}"),
    }
}

/// Asserts two range-query answers are the same series with the same points.
fn same(query: &str, got: Vec<tsdb_query::Series>, want: Vec<tsdb_query::Series>) {
    assert_eq!(got.len(), want.len(), "{query}: series {got:?} vs {want:?}");
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(g.labels, w.labels, "{query}");
        let gt: Vec<i64> = g.points.iter().map(|p| p.t).collect();
        let wt: Vec<i64> = w.points.iter().map(|p| p.t).collect();
        assert_eq!(gt, wt, "{query} {}: steps", g.labels);
        for (pg, pw) in g.points.iter().zip(&w.points) {
            assert!(
                close(pg.v, pw.v),
                "{query} {} at {}: {} from rollups, {} raw",
                g.labels,
                pg.t,
                pg.v,
                pw.v
            );
        }
    }
}

const EXACT: [&str; 13] = [
    "rate",
    "increase",
    "delta",
    "resets",
    "changes",
    "avg_over_time",
    "sum_over_time",
    "count_over_time",
    "last_over_time",
    "present_over_time",
    "min_over_time",
    "max_over_time",
    "absent_over_time",
];

fn value() -> impl Strategy<Value = f64> {
    prop_oneof![
        8 => (0u32..1000).prop_map(f64::from),
        1 => Just(f64::NAN),
        1 => (-50i32..50).prop_map(|v| f64::from(v) * 0.5),
        1 => Just(f64::from_bits(STALE_NAN_BITS)),
    ]
}

/// A counter: increments with occasional resets to a small value.
fn counter() -> impl Strategy<Value = Vec<f64>> {
    prop::collection::vec((0u32..50, prop::bool::weighted(0.05)), 150).prop_map(|steps| {
        let mut c = 0.0;
        steps
            .into_iter()
            .map(|(inc, reset)| {
                c = if reset {
                    f64::from(inc)
                } else {
                    c + f64::from(inc)
                };
                c
            })
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Every exact function answers from buckets + raw samples as from the raw samples,
    /// at steps that are bucket ends with ranges and steps multiples of the resolution.
    #[test]
    fn exact_functions_answer_as_the_raw_samples(
        gaps in prop::collection::vec(1i64..25_000, 20..150),
        gauge in prop::collection::vec(value(), 150),
        counter in counter(),
        res_i in 0usize..2,
        boundary_at in 0i64..40,
        range_buckets in 1i64..7,
        step_buckets in 1i64..4,
        start_at in 0i64..10,
    ) {
        let res = [10_000i64, 60_000][res_i];
        let t0 = 1_600_000_000_000i64 - 1_600_000_000_000 % 3_600_000;
        let mut t = t0;
        let ts: Vec<i64> = gaps.iter().map(|g| { t += g; t }).collect();
        let n = ts.len();
        let mut series = BTreeMap::new();
        series.insert(labels("g", "a"), (ts.clone(), gauge[..n].to_vec()));
        series.insert(labels("c", "a"), (ts.clone(), counter[..n].to_vec()));
        let span_buckets = (ts[n - 1] - t0) / res + 2;
        let boundary = t0 + (boundary_at * span_buckets / 40) * res;
        let mk = |b: Option<i64>| RollupStorage {
            series: series.clone(),
            resolution_ms: res,
            boundary: b,
            fine: None,
            broken: false,
        };
        let (rolled, raw) = (mk(Some(boundary)), mk(None));
        let engine = Engine::default();
        let range = range_buckets * res;
        let step = step_buckets * res;
        let start = t0 + (start_at * span_buckets / 10) * res;
        let end = start + span_buckets * res;
        for f in EXACT {
            for metric in ["g", "c"] {
                let q = format!("{f}({metric}[{}s])", range / 1000);
                let expr = parse(&q).unwrap();
                let (got, notes) = engine
                    .range_annotated(&rolled, &expr, (start, end, step), None)
                    .unwrap();
                let want = engine.range(&raw, &expr, start, end, step).unwrap();
                same(&q, matrix(got), matrix(want));
                // exact functions are not reported as approximated
                prop_assert!(notes.infos().iter().all(|i| !i.contains("approximated")));
            }
        }
    }
}

const HOUR: i64 = 3_600_000;
/// 2020-09-13T12:00:00Z.
const T0: i64 = 1_600_000_000_000 - 1_600_000_000_000 % HOUR;

/// A counter rising 1 per second, sampled every 10 s for `hours` hours from `T0`, with
/// samples up to `T0 + rolled_hours` served as 1 h buckets.
fn hourly_counter(hours: i64, rolled_hours: i64) -> RollupStorage {
    let ts: Vec<i64> = (1..=hours * 360).map(|i| T0 + i * 10_000).collect();
    let vs: Vec<f64> = ts.iter().map(|t| ((t - T0) / 1000) as f64).collect();
    let mut series = BTreeMap::new();
    series.insert(labels("x_total", "a"), (ts, vs));
    RollupStorage {
        series,
        resolution_ms: HOUR,
        boundary: Some(T0 + rolled_hours * HOUR),
        fine: None,
        broken: false,
    }
}

fn instant(engine: &Engine, st: &RollupStorage, q: &str, t: i64) -> (Option<f64>, Annotations) {
    let (v, notes) = engine
        .instant_annotated(st, &parse(q).unwrap(), t, None)
        .unwrap();
    match v {
        Value::Vector(v) => (v.first().map(|s| s.v), notes),
        Value::Scalar { v, .. } => (Some(v), notes),
        other => panic!("{other:?}"),
    }
}

/// `rate(x[5m])` over 1 h buckets answers from the 1 h bucket: in the bucket's own
/// window at its end, widened to it at steps between bucket ends; the extrapolation range
/// is the bucket's, so the rate is the bucket's per-second rate.
#[test]
fn a_window_finer_than_the_resolution_answers_from_the_bucket() {
    let st = hourly_counter(6, 6);
    let engine = Engine::default();
    // the bucket (T0+1h, T0+2h]: 360 samples, increase 3590 over 3590 s sampled
    let all = &st.series[&labels("x_total", "a")];
    let agg = rollup(&all.0, &all.1, HOUR)[1].1;
    let bucket_rate = agg.extrapolated(T0 + 2 * HOUR, HOUR, true, true).unwrap();
    let bucket_increase = agg.extrapolated(T0 + 2 * HOUR, HOUR, true, false).unwrap();
    assert!((bucket_rate - 1.0).abs() < 1e-9, "{bucket_rate}");
    for at in [0, 1, 5 * 60_000, 30 * 60_000, HOUR - 1] {
        let t = T0 + 2 * HOUR + at;
        let (rate, notes) = instant(&engine, &st, "rate(x_total[5m])", t);
        assert_eq!(rate, Some(bucket_rate), "rate at +{at}");
        assert_eq!(notes.infos().len(), 1);
        assert!(notes.infos()[0].contains("read from 1h rollups"));
        let (inc, _) = instant(&engine, &st, "increase(x_total[5m])", t);
        assert_eq!(inc, Some(bucket_increase), "increase at +{at}");
        let (count, _) = instant(&engine, &st, "count_over_time(x_total[5m])", t);
        assert_eq!(count, Some(360.0), "count at +{at}");
        let (delta, _) = instant(&engine, &st, "delta(x_total[1m])", t);
        assert_eq!(delta, Some(bucket_increase));
    }
    // a bucket ending a resolution or more before the window's end is not widened to
    let (none, _) = instant(&engine, &st, "rate(x_total[5m])", T0 + 7 * HOUR + 1);
    assert_eq!(none, None);
    // a window reaching into a bucket is extended to its start: [90m] at +30m holds the
    // bucket (T0+1h, T0+2h], and the data after it is in a bucket not yet ended
    let (rate, _) = instant(
        &engine,
        &st,
        "rate(x_total[90m])",
        T0 + 2 * HOUR + 30 * 60_000,
    );
    assert_eq!(rate, Some(bucket_rate));
}

/// Across the boundary, a rate over 1 h buckets then raw samples stays the counter's
/// rate (1/s) with no double counting.
#[test]
fn a_window_straddling_the_boundary_counts_nothing_twice() {
    let st = hourly_counter(6, 3);
    let engine = Engine::default();
    for (q, want) in [
        ("rate(x_total[2h])", 1.0),
        ("count_over_time(x_total[2h])", 720.0),
        ("increase(x_total[2h])", 7200.0),
    ] {
        let (v, notes) = instant(&engine, &st, q, T0 + 4 * HOUR);
        let v = v.unwrap();
        assert!((v - want).abs() < 1e-6 * want, "{q}: {v}");
        assert!(!notes.is_empty());
    }
    // past the rollups, nothing is said
    let (_, notes) = instant(&engine, &st, "rate(x_total[30m])", T0 + 5 * HOUR);
    assert!(notes.is_empty(), "{:?}", notes.infos());
}

/// Instant selectors over 1 h buckets with the 5 m lookback: a point at every step at
/// any step width, the newest ended bucket's last value (and timestamp).
#[test]
fn instant_selectors_over_buckets_are_continuous() {
    let st = hourly_counter(12, 10);
    let engine = Engine::default();
    let start = T0 + HOUR;
    let end = T0 + 12 * HOUR;
    for step in [60_000, 5 * 60_000, 17 * 60_000, 2 * HOUR] {
        let (v, notes) = engine
            .range_annotated(&st, &parse("x_total").unwrap(), (start, end, step), None)
            .unwrap();
        let m = matrix(v);
        assert_eq!(m.len(), 1);
        let n = ((end - start) / step + 1) as usize;
        assert_eq!(m[0].points.len(), n, "step {step}: a point at every step");
        for p in &m[0].points {
            let want = if p.t <= T0 + 10 * HOUR {
                // the last sample of the newest bucket ended at or before p.t
                let ended = p.t - (p.t - T0) % HOUR;
                ((ended - T0) / 1000) as f64
            } else {
                // raw: the newest sample at or before p.t
                ((p.t - (p.t - T0) % 10_000 - T0) / 1000) as f64
            };
            assert_eq!(p.v, want, "step {step} at {}", p.t);
        }
        assert!(notes.infos()[0].contains("1h rollups"));
    }
    let (ts, _) = instant(&engine, &st, "timestamp(x_total)", T0 + 5 * HOUR + 1234);
    assert_eq!(ts, Some((T0 + 5 * HOUR) as f64 / 1000.0));
    // a bucket whose last sample is older than the resolution is not used
    let (none, _) = instant(&engine, &st, "x_total", T0 - 1);
    assert_eq!(none, None);
}

/// Functions not exact over rollups answer from one pseudo-sample per bucket and say
/// so; exact ones and raw-only queries say nothing about approximation.
#[test]
fn approximated_functions_are_annotated() {
    let st = hourly_counter(6, 4);
    let engine = Engine::default();
    for (q, name) in [
        ("quantile_over_time(0.5, x_total[3h])", "quantile_over_time"),
        ("stddev_over_time(x_total[3h])", "stddev_over_time"),
        ("stdvar_over_time(x_total[3h])", "stdvar_over_time"),
        ("mad_over_time(x_total[3h])", "mad_over_time"),
        ("irate(x_total[3h])", "irate"),
        ("idelta(x_total[3h])", "idelta"),
        ("deriv(x_total[3h])", "deriv"),
        ("predict_linear(x_total[3h], 60)", "predict_linear"),
    ] {
        let (v, notes) = instant(&engine, &st, q, T0 + 4 * HOUR);
        assert!(v.is_some(), "{q}");
        let infos = notes.infos();
        assert!(
            infos
                .iter()
                .any(|i| i.starts_with(&format!("PromQL info: {name} approximated"))),
            "{q}: {infos:?}"
        );
        assert!(
            infos.iter().any(|i| i.contains("read from 1h rollups")),
            "{q}"
        );
    }
    // deriv over pseudo-samples of a 1/s counter is still 1/s
    let (d, _) = instant(&engine, &st, "deriv(x_total[3h])", T0 + 4 * HOUR);
    assert!((d.unwrap() - 1.0).abs() < 1e-9);
    // irate over the buckets' last samples: (14400 - 10800) / 3600 s
    let (r, _) = instant(&engine, &st, "irate(x_total[3h])", T0 + 4 * HOUR);
    assert!((r.unwrap() - 1.0).abs() < 1e-9);
    // once the window holds two raw samples, irate reads them only, but it read buckets
    let (r, notes) = instant(&engine, &st, "irate(x_total[3h])", T0 + 5 * HOUR);
    assert!((r.unwrap() - 1.0).abs() < 1e-9);
    assert!(notes
        .infos()
        .iter()
        .any(|i| i.contains("irate approximated")));
    // exact: nothing approximated
    let (_, notes) = instant(&engine, &st, "max_over_time(x_total[3h])", T0 + 4 * HOUR);
    assert_eq!(notes.infos().len(), 1);
    // a range vector result over buckets: one sample per bucket, its last
    let (v, notes) = engine
        .instant_annotated(&st, &parse("x_total[2h]").unwrap(), T0 + 4 * HOUR, None)
        .unwrap();
    let m = matrix(v);
    let ts: Vec<i64> = m[0].points.iter().map(|p| p.t).collect();
    assert_eq!(ts, [T0 + 3 * HOUR, T0 + 4 * HOUR]);
    assert!(notes
        .infos()
        .iter()
        .any(|i| i.contains("range vector selector approximated")));
    // raw data only: no annotations
    let raw = RollupStorage {
        boundary: None,
        ..hourly_counter(6, 0)
    };
    let (_, notes) = instant(
        &engine,
        &raw,
        "quantile_over_time(0.5, x_total[3h])",
        T0 + 4 * HOUR,
    );
    assert!(notes.is_empty());
}

/// Answers served from the results cache carry the annotations of the evaluation that
/// stored them.
#[test]
fn the_results_cache_keeps_the_annotations() {
    let st = hourly_counter(24, 20);
    let engine = Engine::default();
    let cache = ResultsCache::new(ResultsCacheOptions {
        clock: Arc::new(ManualClock::new(T0 + 48 * HOUR)),
        ..ResultsCacheOptions::default()
    });
    let expr = parse("quantile_over_time(0.9, x_total[2h])").unwrap();
    let range = (T0 + 2 * HOUR, T0 + 18 * HOUR, 60_000);
    let (first, fresh) = cache
        .range_annotated(&engine, &st, &expr, range, None)
        .unwrap();
    let (second, cached) = cache
        .range_annotated(&engine, &st, &expr, range, None)
        .unwrap();
    assert!(cache.stats().hits > 0, "{:?}", cache.stats());
    assert_eq!(first, second);
    assert!(!fresh.is_empty());
    assert_eq!(cached.infos(), fresh.infos());
    // a query reading raw samples only, cached, says nothing
    let raw = parse("rate(x_total[5m])").unwrap();
    let late = (T0 + 21 * HOUR, T0 + 23 * HOUR, 60_000);
    for _ in 0..2 {
        let (_, notes) = cache
            .range_annotated(&engine, &st, &raw, late, None)
            .unwrap();
        assert!(notes.is_empty(), "{:?}", notes.infos());
    }
}

/// The API's JSON carries the infos after the data, as Prometheus 3 writes them.
#[test]
fn infos_are_written_in_the_api_json() {
    let st = hourly_counter(6, 4);
    let engine = Engine::default();
    let (v, notes) = engine
        .instant_annotated(
            &st,
            &parse("stddev_over_time(x_total[1h])").unwrap(),
            T0 + 3 * HOUR,
            None,
        )
        .unwrap();
    let body = json::success_with_infos(&v, &notes.infos());
    let parsed: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(parsed["status"], "success");
    let infos = parsed["infos"].as_array().unwrap();
    assert_eq!(infos.len(), 2);
    assert_eq!(
        infos[0],
        "PromQL info: data from 2020-09-13T14:00:00Z to 2020-09-13T15:00:00Z read from 1h \
         rollups"
    );
    assert!(infos[1]
        .as_str()
        .unwrap()
        .starts_with("PromQL info: stddev_over_time approximated over rollups"));
    assert!(body.ends_with("]}") && body.contains(r#"]},"infos":["#));
    // no infos, no key: the body is what `success` writes
    assert_eq!(json::success_with_infos(&v, &[]), json::success(&v));
    assert!(!json::success(&v).contains("infos"));
}

/// Buckets out of order (against the trait's contract) fail the query as a storage
/// error rather than answer wrong.
#[test]
fn buckets_breaking_the_contract_fail_the_query() {
    let st = RollupStorage {
        broken: true,
        ..hourly_counter(6, 4)
    };
    let err = Engine::default()
        .instant_query(&st, "sum_over_time(x_total[3h])", T0 + 4 * HOUR)
        .unwrap_err();
    assert!(matches!(err, Error::Storage(_)), "{err}");
}

/// Raw samples, 1 m and 1 h rollups in one window: stitched without double counting,
/// each exact function as over the raw samples, both resolutions named.
#[test]
fn raw_1m_and_1h_data_stitch_in_one_window() {
    // a counter with a reset, and a gauge, every 10 s for 8 hours
    let ts: Vec<i64> = (1..=8 * 360).map(|i| T0 + i * 10_000).collect();
    let counter: Vec<f64> = ts
        .iter()
        .map(|t| ((t - T0) / 1000 % 10_000) as f64)
        .collect();
    let gauge: Vec<f64> = ts.iter().map(|t| ((t / 10_000) % 17) as f64).collect();
    let mut series = BTreeMap::new();
    series.insert(labels("c_total", "a"), (ts.clone(), counter));
    series.insert(labels("g", "a"), (ts, gauge));
    let tiered = RollupStorage {
        series: series.clone(),
        resolution_ms: HOUR,
        boundary: Some(T0 + 3 * HOUR),
        fine: Some((60_000, T0 + 5 * HOUR + 30 * 60_000)),
        broken: false,
    };
    let raw = RollupStorage {
        series,
        resolution_ms: HOUR,
        boundary: None,
        fine: None,
        broken: false,
    };
    let engine = Engine::default();
    // steps at hour ends, so that every window is made of whole buckets of each tier
    let range = (T0 + 4 * HOUR, T0 + 7 * HOUR, HOUR);
    for f in EXACT {
        for metric in ["c_total", "g"] {
            let q = format!("{f}({metric}[3h])");
            let expr = parse(&q).unwrap();
            let (got, notes) = engine.range_annotated(&tiered, &expr, range, None).unwrap();
            let want = engine
                .range(&raw, &expr, range.0, range.1, range.2)
                .unwrap();
            same(&q, matrix(got), matrix(want));
            if f != "absent_over_time" {
                let infos = notes.infos();
                assert!(
                    infos.iter().any(|i| i.contains("read from 1h rollups")),
                    "{q}"
                );
                assert!(
                    infos.iter().any(|i| i.contains("read from 1m rollups")),
                    "{q}"
                );
            }
        }
    }
    // instant selectors: a point at every 7-minute step across the three tiers
    let (v, _) = engine
        .range_annotated(
            &tiered,
            &parse("g").unwrap(),
            (T0 + HOUR, T0 + 8 * HOUR, 420_000),
            None,
        )
        .unwrap();
    assert_eq!(matrix(v)[0].points.len(), (7 * 60 / 7 + 1) as usize);
}
