//! The results cache answers exactly what the engine answers: for a battery of dashboard
//! queries over many ranges and steps, cold and warm, against the engine without a
//! cache. Writes and deletions inside cached splits (a backfill, late data) invalidate
//! them; the memory bound holds.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use tsdb_core::{Batch, Db, ManualClock, Options};
use tsdb_index::{Labels, Matcher};
use tsdb_query::{parse, Engine, ResultsCache, ResultsCacheOptions, Value};

const H: i64 = 3_600_000;
/// Data spans [T0, T0 + 6 h).
const T0: i64 = 1_700_000_000_000 - 1_700_000_000_000 % H;

const QUERIES: &[&str] = &[
    "g",
    "rate(c[5m])",
    "sum by (job) (rate(c[1m]))",
    "avg_over_time(g[10m])",
    "max by (host) (g)",
    "g offset 10m",
    "g offset -10m",
    "timestamp(g)",
    "time()",
    "vector(1)",
    "g > 50",
    "absent(nope)",
    "max_over_time(g[1h:5m])",
    "deriv(g[15m])",
    "topk(2, g)",
    "g @ 1700001000",
    "label_replace(g, \"h2\", \"$1\", \"host\", \"(.*)\")",
    "sum(g) / count(g)",
];

/// A database with counters and gauges every 15 s over 6 hours, with a gap and a series
/// that stops early; `cache` observes it.
fn fixture(cache: Arc<ResultsCache>) -> (tempfile::TempDir, Db) {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(
        dir.path(),
        Options {
            clock: Arc::new(ManualClock::new(T0 + 6 * H)),
            out_of_order_window_ms: 24 * H,
            observer: cache,
            background_maintenance: false,
            ..Options::default()
        },
    )
    .unwrap();
    let mut batch = Batch::new();
    for host in 0..4 {
        let job = if host % 2 == 0 { "api" } else { "db" };
        let g = batch.series(
            Labels::new([
                ("__name__", "g"),
                ("host", &format!("h{host}")),
                ("job", job),
            ])
            .unwrap(),
        );
        let c = batch.series(
            Labels::new([
                ("__name__", "c"),
                ("host", &format!("h{host}")),
                ("job", job),
            ])
            .unwrap(),
        );
        let mut counter = 0.0;
        for i in 0..(6 * H / 15_000) {
            let t = T0 + i * 15_000;
            if host == 3 && t > T0 + 4 * H {
                break; // stops early
            }
            if host == 1 && (T0 + 2 * H..T0 + 2 * H + 20 * 60_000).contains(&t) {
                continue; // a gap
            }
            let v = ((i * 7 + host * 13) % 100) as f64;
            batch.sample(g, t, v);
            counter += v;
            if i % 500 == 499 {
                counter = 0.0; // a reset
            }
            batch.sample(c, t, counter);
        }
    }
    let outcome = db.append_batch(&batch).unwrap();
    assert!(outcome.rejected.is_empty());
    (dir, db)
}

fn cache(max_bytes: usize) -> Arc<ResultsCache> {
    Arc::new(ResultsCache::new(ResultsCacheOptions {
        max_bytes,
        freshness_ms: 60_000,
        clock: Arc::new(ManualClock::new(T0 + 7 * H)),
    }))
}

/// A result with values as bits, so NaN compares equal to itself.
fn bits(v: &Value) -> Vec<(String, Vec<(i64, u64)>)> {
    let Value::Matrix(series) = v else {
        panic!("not a matrix: {v:?}")
    };
    series
        .iter()
        .map(|s| {
            (
                format!("{:?}", s.labels),
                s.points.iter().map(|p| (p.t, p.v.to_bits())).collect(),
            )
        })
        .collect()
}

#[test]
fn cached_answers_equal_the_engine_cold_and_warm() {
    let cache = cache(256 << 20);
    let (_dir, db) = fixture(cache.clone());
    let engine = Engine::default();
    let mut seed: u64 = 7;
    let mut rand = move |n: i64| {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((seed >> 33) as i64).rem_euclid(n)
    };
    let steps = [15_000, 30_000, 60_000, 7_000, 300_000, 3_600_000];
    let mut compared = 0;
    for round in 0..40 {
        let step = steps[rand(steps.len() as i64) as usize];
        // aligned to the step (as Grafana asks) most of the time, not always
        let mut start = T0 - H + rand(7 * H);
        if round % 4 != 0 {
            start -= start.rem_euclid(step);
        }
        let end = (start + rand(5 * H)).min(T0 + 8 * H);
        for q in QUERIES {
            let expr = parse(q).unwrap();
            let want = engine.range(&db, &expr, start, end, step).unwrap();
            for pass in ["cold", "warm"] {
                let got = cache
                    .range(&engine, &db, &expr, (start, end, step), None)
                    .unwrap();
                assert_eq!(
                    bits(&got),
                    bits(&want),
                    "{q} over [{start}, {end}] step {step}, {pass}"
                );
                compared += 1;
            }
        }
    }
    let stats = cache.stats();
    assert!(compared > 1000);
    assert!(stats.hits > 100, "{stats:?}");
    assert!(stats.misses > 100, "{stats:?}");
    // errors are the engine's
    let expr = parse("g").unwrap();
    let e = cache.range(&engine, &db, &expr, (T0, T0 - 1, 15_000), None);
    assert!(e.is_err());
}

#[test]
fn a_backfill_and_a_deletion_invalidate_what_they_touch() {
    let cache = cache(256 << 20);
    let (_dir, db) = fixture(cache.clone());
    let engine = Engine::default();
    let expr = parse("sum(g)").unwrap();
    let range = (T0, T0 + 6 * H - 15_000, 60_000);
    let first = cache.range(&engine, &db, &expr, range, None).unwrap();
    let warm = cache.range(&engine, &db, &expr, range, None).unwrap();
    assert_eq!(bits(&first), bits(&warm));
    let before = cache.stats();
    assert!(before.hits >= 5, "{before:?}");
    // backfill a new series into the second hour: the answer must change there
    let mut batch = Batch::new();
    let s = batch.series(Labels::new([("__name__", "g"), ("host", "late")]).unwrap());
    for i in 0..240 {
        batch.sample(s, T0 + H + i * 15_000, 1000.0);
    }
    assert_eq!(db.append_batch(&batch).unwrap().accepted, 240);
    let after = cache.stats();
    assert!(after.invalidated >= 1, "{after:?}");
    assert!(
        after.entries < before.entries,
        "only the touched splits go: {before:?} {after:?}"
    );
    let got = cache.range(&engine, &db, &expr, range, None).unwrap();
    let want = engine.range(&db, &expr, range.0, range.1, range.2).unwrap();
    assert_eq!(bits(&got), bits(&want));
    assert_ne!(bits(&got), bits(&first), "the backfill is visible");
    // a deletion likewise
    db.delete(&[Matcher::equal("host", "late")], T0, T0 + 6 * H)
        .unwrap();
    let got = cache.range(&engine, &db, &expr, range, None).unwrap();
    assert_eq!(bits(&got), bits(&first));
    assert!(cache.stats().invalidated > after.invalidated);
}

#[test]
fn live_writes_cost_nothing_and_the_memory_bound_holds() {
    let cache = cache(20_000);
    let (_dir, db) = fixture(cache.clone());
    let engine = Engine::default();
    for q in QUERIES {
        let expr = parse(q).unwrap();
        cache
            .range(&engine, &db, &expr, (T0, T0 + 6 * H - 15_000, 15_000), None)
            .unwrap();
    }
    let stats = cache.stats();
    assert!(stats.bytes <= 20_000, "{stats:?}");
    assert!(stats.evicted > 0, "{stats:?}");
    // a write near "now" (within the freshness window) invalidates nothing
    let entries = stats.entries;
    let l = Labels::new([("__name__", "g"), ("host", "h0"), ("job", "api")]).unwrap();
    db.append(&l, T0 + 7 * H - 1000, 1.0).unwrap();
    assert_eq!(cache.stats().entries, entries);
    assert_eq!(cache.stats().invalidated, stats.invalidated);
}
