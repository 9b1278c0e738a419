//! PromQL over a real database whose old data is only in rollups, against the same
//! samples kept raw: six days of a counter with resets and a gauge at 10 s, under rules
//! "raw 1 day, 1 m rollups to 3 days, 1 h after", maintained hour by hour. Every function
//! the rollups answer exactly gives the raw answer at windows and steps aligned to the
//! resolution they read, across the boundaries between raw, 1 m and 1 h data; the
//! answers say which rollups they read (`infos`); instant selectors stay continuous over
//! hour-old data at any step.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::Arc;

use tsdb_core::testing::PowerLossFs;
use tsdb_core::{Batch, Db, DownsampleRule, Downsampling, ManualClock, Options, Tier};
use tsdb_index::Labels;
use tsdb_query::{parse, Engine, EngineOptions, Value};

const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;
const START: i64 = 1_700_000_000_000 / DAY * DAY;
const DAYS: i64 = 6;

fn open(dir: &str, clock: &Arc<ManualClock>, rules: Downsampling) -> Db {
    Db::open(
        Path::new(dir),
        Options {
            clock: clock.clone(),
            background_maintenance: false,
            fs: Arc::new(PowerLossFs::new()),
            sync: tsdb_core::wal::SyncMode::Never,
            downsampling: rules,
            ..Options::default()
        },
    )
    .unwrap()
}

/// Raw `raw_days`, then 1 m rollups to 3 days (or a day more), then 1 h.
fn rules(raw_days: i64) -> Downsampling {
    Downsampling {
        rules: vec![DownsampleRule {
            matchers: vec![],
            tiers: vec![
                Tier {
                    after_ms: raw_days * DAY,
                    resolution_ms: MINUTE,
                },
                Tier {
                    after_ms: (raw_days + 1).max(3) * DAY,
                    resolution_ms: HOUR,
                },
            ],
            keep_for_ms: None,
        }],
    }
}

/// The two databases: (with rollups, raw kept `raw_days`; all raw).
fn fill(raw_days: i64) -> (Db, Db) {
    let clock = Arc::new(ManualClock::new(START));
    let rolled = open("/rolled", &clock, rules(raw_days));
    let raw = open("/raw", &clock, Downsampling::none());
    let counter = Labels::new([("__name__", "requests_total"), ("host", "a")]).unwrap();
    let gauge = Labels::new([("__name__", "cpu"), ("host", "a")]).unwrap();
    let mut c = 0.0;
    for hour in 0..DAYS * 24 {
        let mut b = Batch::new();
        for k in 0..360 {
            let i = hour * 360 + k;
            let t = START + i * 10_000;
            c = if i % 9_000 == 8_999 {
                3.0
            } else {
                c + (i % 7) as f64
            };
            let g = ((i * 37) % 101) as f64 - 20.0;
            let s = b.series(counter.clone());
            b.sample(s, t, c);
            let s = b.series(gauge.clone());
            b.sample(s, t, g);
        }
        clock.set(START + (hour + 1) * HOUR);
        for db in [&rolled, &raw] {
            assert!(db.append_batch(&b).unwrap().rejected.is_empty());
            db.maintain().unwrap();
        }
    }
    (rolled, raw)
}

fn points(v: &Value) -> Vec<(String, Vec<(i64, u64)>)> {
    match v {
        Value::Matrix(series) => series
            .iter()
            .map(|s| {
                (
                    s.labels.to_string(),
                    s.points.iter().map(|p| (p.t, p.v.to_bits())).collect(),
                )
            })
            .collect(),
        other => panic!("not a matrix: {other:?}"),
    }
}

fn close(a: u64, b: u64) -> bool {
    let (x, y) = (f64::from_bits(a), f64::from_bits(b));
    (x.is_nan() && y.is_nan()) || x == y || (x - y).abs() <= 1e-9 * x.abs().max(y.abs())
}

#[test]
fn exact_functions_answer_from_rollups_as_from_raw_samples() {
    let (rolled, raw) = fill(1);
    let raw_from = rolled
        .querier(i64::MIN + 1, i64::MAX - 1)
        .unwrap()
        .raw_from()
        .expect("the rolled-up database reads rollups");
    assert!(
        raw_from >= START + 4 * DAY,
        "raw data from day {}",
        (raw_from - START) / DAY
    );
    let engine = Engine::new(EngineOptions::default());
    let end = START + DAYS * DAY - 2 * HOUR;
    // hour windows at hourly steps: 1 h buckets, then 1 m buckets, then raw samples
    let hourly = [
        "increase(requests_total[1h])",
        "rate(requests_total[1h])",
        "resets(requests_total[1h])",
        "max_over_time(cpu[1h])",
        "min_over_time(cpu[1h])",
        "avg_over_time(cpu[1h])",
        "sum_over_time(cpu[1h])",
        "count_over_time(cpu[1h])",
        "last_over_time(cpu[1h])",
        "changes(cpu[1h])",
        "delta(cpu[1h])",
        "increase(requests_total[3h])",
    ];
    // 5-minute windows at 5-minute steps over the 1 m tier and the raw data after it
    let minutely = [
        "increase(requests_total[5m])",
        "max_over_time(cpu[5m])",
        "avg_over_time(cpu[5m])",
    ];
    let cases = hourly
        .iter()
        .map(|q| (*q, START + HOUR, HOUR))
        .chain(minutely.iter().map(|q| (*q, START + 3 * DAY, 5 * MINUTE)));
    for (q, start, step) in cases {
        let expr = parse(q).unwrap();
        let (got, notes) = engine
            .range_annotated(&rolled, &expr, (start, end, step), None)
            .unwrap();
        let want = engine.range(&raw, &expr, start, end, step).unwrap();
        let (got, want) = (points(&got), points(&want));
        assert_eq!(got.len(), want.len(), "{q}: series");
        for ((gl, gp), (wl, wp)) in got.iter().zip(&want) {
            assert_eq!(gl, wl, "{q}");
            assert_eq!(gp.len(), wp.len(), "{q}: points of {gl}");
            assert!(
                gp.len() as i64 >= (end - start) / step / 2,
                "{q}: {} points",
                gp.len()
            );
            for (g, w) in gp.iter().zip(wp) {
                assert_eq!(g.0, w.0, "{q}: step");
                assert!(
                    close(g.1, w.1),
                    "{q} at {}: {} from rollups, {} from raw",
                    g.0 - START,
                    f64::from_bits(g.1),
                    f64::from_bits(w.1)
                );
            }
        }
        let infos = notes.infos();
        assert!(
            infos.iter().any(|i| i.contains("rollups")),
            "{q}: no info says rollups were read: {infos:?}"
        );
    }
}

#[test]
fn aligned_windows_read_the_coarsest_rollups_even_where_raw_data_is_kept() {
    // raw kept 3 days: from day 3.5 to 5.5 raw data is there, yet hour windows at hour
    // steps read the 1 h rollups of every complete day (to day 5), and the answer is
    // the raw one
    let (rolled, raw) = fill(3);
    let engine = Engine::new(EngineOptions::default());
    let (start, end) = (START + 3 * DAY + 12 * HOUR, START + 5 * DAY + 12 * HOUR);
    for (q, step, res) in [
        ("increase(requests_total[1h])", HOUR, "1h"),
        ("max_over_time(cpu[1h])", HOUR, "1h"),
        ("avg_over_time(cpu[5m])", 5 * MINUTE, "1m"),
    ] {
        let expr = parse(q).unwrap();
        let (got, notes) = engine
            .range_annotated(&rolled, &expr, (start, end, step), None)
            .unwrap();
        let want = engine.range(&raw, &expr, start, end, step).unwrap();
        let (got, want) = (points(&got), points(&want));
        assert_eq!(got.len(), want.len());
        for ((_, gp), (_, wp)) in got.iter().zip(&want) {
            assert_eq!(gp.len(), wp.len(), "{q}");
            assert!(
                gp.iter()
                    .zip(wp)
                    .all(|(g, w)| g.0 == w.0 && close(g.1, w.1)),
                "{q}"
            );
        }
        let infos = notes.infos();
        assert!(
            infos
                .iter()
                .any(|i| i.contains(&format!("read from {res} rollups"))),
            "{q}: {infos:?}"
        );
    }
    // windows ending 7 minutes past the hour are whole minutes: 1 m rollups
    let expr = parse("max_over_time(cpu[1h])").unwrap();
    let (_, notes) = engine
        .range_annotated(&rolled, &expr, (start + 7 * MINUTE, end, HOUR), None)
        .unwrap();
    assert!(
        notes.infos().iter().any(|i| i.contains("1m rollups")),
        "{:?}",
        notes.infos()
    );
    // windows ending 13 s past a minute, or a function rollups only approximate: raw
    // data where it is kept
    let (_, notes) = engine
        .range_annotated(&rolled, &expr, (start + 13_000, end, HOUR), None)
        .unwrap();
    assert!(notes.infos().is_empty(), "{:?}", notes.infos());
    let expr = parse("quantile_over_time(0.5, cpu[1h])").unwrap();
    let (_, notes) = engine
        .range_annotated(&rolled, &expr, (start, end, HOUR), None)
        .unwrap();
    assert!(notes.infos().is_empty(), "{:?}", notes.infos());
}

#[test]
fn instant_selectors_over_hour_rollups_are_continuous() {
    let (rolled, _) = fill(1);
    let engine = Engine::new(EngineOptions::default());
    // day 1 is only in 1 h rollups; a step of 7 minutes lands anywhere in the hours
    let (start, end, step) = (START + DAY + 10 * MINUTE, START + 2 * DAY, 7 * MINUTE);
    let got = engine
        .range(&rolled, &parse("cpu").unwrap(), start, end, step)
        .unwrap();
    let pts = points(&got);
    assert_eq!(pts.len(), 1);
    let steps = (end - start) / step + 1;
    assert_eq!(pts[0].1.len() as i64, steps, "a point at every step");
}
