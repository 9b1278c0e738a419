//! A simulated year under the standard rules (raw 7 days, 1 m rollups to 30 days, 1 h
//! rollups to 365 days), with a manual clock and an in-memory file system: a small fleet
//! (a counter with resets, a CPU-like gauge, a gauge with gaps and NaN, a constant)
//! sampled every 30 s for 420 days, maintained every 12 hours. At checkpoints:
//!
//! - the querier serves raw samples from where the rules keep them (7 days, rounded to
//!   whole days), 1 m buckets before that (to 30 days), 1 h buckets before that (to 365
//!   days, rounded to the 42-day spans 1 h rollups are merged into), and nothing older;
//! - every bucket read back equals the rollup of the raw samples it covers (computed
//!   from the generator, which is deterministic);
//! - the disk used by each tier follows the expected curve: raw and 1 m flat once their
//!   window is full, 1 h growing until a year is kept, then flat.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::Arc;

use tsdb_core::rollup::{rollup, Bucket};
use tsdb_core::testing::PowerLossFs;
use tsdb_core::{Batch, Db, Downsampling, ManualClock, Options};
use tsdb_index::{Labels, Matcher};

const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;
/// Day-aligned, and aligned to the 42-day spans of merged 1 h rollups, so the
/// checkpoints' expectations are whole spans.
const START: i64 = 1_700_000_000_000 / (42 * DAY) * (42 * DAY) + 42 * DAY;
const STEP: i64 = 30_000;
const SERIES: usize = 4;

fn labels(i: usize) -> Labels {
    Labels::new([("__name__", "fleet"), ("i", &i.to_string())]).unwrap()
}

/// Sample `k` (at `START + k * STEP`) of series `i`, if any.
fn value(i: usize, k: i64) -> Option<f64> {
    let h = (k as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40;
    match i {
        // a counter that resets about every three days
        0 => Some(((k % 8_641) * (1 + (k / 8_641) % 3)) as f64),
        1 => Some(((h % 10_000) as f64 / 100.0).round()),
        2 if (k / 777) % 5 == 4 => None,
        2 if k % 1_001 == 0 => Some(f64::NAN),
        2 => Some((h % 97) as f64 * 0.5),
        _ => Some(1.0),
    }
}

fn samples(i: usize, from: i64, until: i64) -> (Vec<i64>, Vec<f64>) {
    let k0 = (from - START).div_euclid(STEP).max(0);
    let mut ts = Vec::new();
    let mut vs = Vec::new();
    let mut k = k0;
    loop {
        let t = START + k * STEP;
        if t >= until {
            break;
        }
        if t >= from {
            if let Some(v) = value(i, k) {
                ts.push(t);
                vs.push(v);
            }
        }
        k += 1;
    }
    (ts, vs)
}

fn close(a: f64, b: f64) -> bool {
    (a.is_nan() && b.is_nan()) || a == b || (a - b).abs() <= 1e-9 * a.abs().max(b.abs())
}

fn same(a: &Bucket, b: &Bucket) -> bool {
    let (x, y) = (&a.agg, &b.agg);
    a.end == b.end
        && a.resolution_ms == b.resolution_ms
        && x.count == y.count
        && (x.first_t, x.last_t) == (y.first_t, y.last_t)
        && (x.resets, x.changes) == (y.resets, y.changes)
        && close(x.sum, y.sum)
        && close(x.min, y.min)
        && close(x.max, y.max)
        && close(x.first_v, y.first_v)
        && close(x.last_v, y.last_v)
        && close(x.reset_correction, y.reset_correction)
}

/// Per resolution (0, 1 m, 1 h): the oldest segment start and the bytes.
fn tiers(db: &Db) -> [(Option<i64>, u64); 3] {
    let mut out = [(None, 0u64); 3];
    for (_, m, bytes) in &db.stats().unwrap().segments {
        let i = match m.resolution_ms {
            0 => 0,
            60_000 => 1,
            3_600_000 => 2,
            other => panic!("unexpected resolution {other}"),
        };
        out[i].0 = Some(out[i].0.map_or(m.min_t, |t: i64| t.min(m.min_t)));
        out[i].1 += bytes;
    }
    out
}

fn check(db: &Db, now: i64) -> [(Option<i64>, u64); 3] {
    let t = tiers(db);
    let raw_from = t[0].0.unwrap();
    let days = |x: i64| (now - x) as f64 / DAY as f64;
    // raw: the last 7 days, up to one more day (whole-day segments) and the head's
    // unpersisted hours
    assert!(
        (7.0..=8.01).contains(&days(raw_from)),
        "raw from {:.2} days ago",
        days(raw_from)
    );
    let m_from = t[1].0.unwrap();
    let h_from = t[2].0.unwrap();
    if now - START > 31 * DAY {
        assert!(
            (30.0..=31.01).contains(&days(m_from)),
            "1 m from {:.2} days ago",
            days(m_from)
        );
    }
    if now - START > 365 * DAY + 43 * DAY {
        assert!(
            (365.0..=365.0 + 43.01).contains(&days(h_from)),
            "1 h from {:.2} days ago",
            days(h_from)
        );
    } else {
        assert_eq!(h_from, START, "every hour since the start is kept");
    }
    let q = db.querier(i64::MIN + 1, i64::MAX - 1).unwrap();
    let found = q.select(&[Matcher::equal("__name__", "fleet")]).unwrap();
    assert_eq!(found.len(), SERIES);
    for (i, s) in found.iter().enumerate() {
        assert_eq!(s.labels(), &labels(i));
        // raw samples from raw_from
        let (ts, vs) = samples(i, raw_from, now);
        let mut got_t = Vec::new();
        let mut got_v = Vec::new();
        s.iter().read_into(&mut got_t, &mut got_v).unwrap();
        assert_eq!(got_t, ts, "series {i}: raw timestamps");
        assert!(
            got_v
                .iter()
                .zip(&vs)
                .all(|(a, b)| a.to_bits() == b.to_bits()),
            "series {i}: raw values"
        );
        // 1 h buckets of [h_from, m_from), 1 m buckets of [m_from, raw_from)
        let mut want = Vec::new();
        for (res, from, until) in [
            (HOUR, h_from, m_from.min(raw_from)),
            (MINUTE, m_from, raw_from),
        ] {
            let (ts, vs) = samples(i, from, until);
            want.extend(rollup(&ts, &vs, res).into_iter().map(|(end, agg)| Bucket {
                end,
                resolution_ms: res,
                agg,
            }));
        }
        let mut got = Vec::new();
        s.read_buckets_into(&mut got).unwrap();
        assert_eq!(got.len(), want.len(), "series {i}: buckets");
        for (g, w) in got.iter().zip(&want) {
            assert!(same(g, w), "series {i}: {g:?} != {w:?}");
        }
    }
    t
}

#[test]
fn a_year_of_a_small_fleet_keeps_what_the_rules_say() {
    let clock = Arc::new(ManualClock::new(START));
    let db = Db::open(
        Path::new("/year/db"),
        Options {
            clock: clock.clone(),
            background_maintenance: false,
            fs: Arc::new(PowerLossFs::new()),
            sync: tsdb_core::wal::SyncMode::Never,
            downsampling: Downsampling::standard(),
            ..Options::default()
        },
    )
    .unwrap();
    let checkpoints = [20, 45, 100, 200, 300, 380, 420];
    let per_batch = 12 * HOUR / STEP;
    let mut curve = Vec::new();
    let mut k = 0i64;
    for half in 0..420 * 2 {
        let mut b = Batch::new();
        for _ in 0..per_batch {
            for i in 0..SERIES {
                if let Some(v) = value(i, k) {
                    let s = b.series(labels(i));
                    b.sample(s, START + k * STEP, v);
                }
            }
            k += 1;
        }
        let now = START + (half + 1) * 12 * HOUR;
        clock.set(now);
        assert!(db.append_batch(&b).unwrap().rejected.is_empty());
        db.maintain().unwrap();
        let day = (half + 1) / 2;
        if (half + 1) % 2 == 0 && checkpoints.contains(&day) {
            let t = check(&db, now);
            eprintln!(
                "day {day}: raw {} B, 1m {} B, 1h {} B",
                t[0].1, t[1].1, t[2].1
            );
            curve.push((day, t.map(|x| x.1)));
        }
    }
    // raw and 1 m stay level once their windows are full (within 15 %: whole-day and
    // span granularity); 1 h grows until a year is kept (not monotonically: merging a
    // 42-day span of window rollups shrinks it), then stays level too
    let at = |d: i64| curve.iter().find(|c| c.0 == d).unwrap().1;
    let level = |a: u64, b: u64| (a as f64 / b as f64 - 1.0).abs() < 0.15;
    assert!(level(at(100)[0], at(300)[0]), "raw: {:?}", curve);
    assert!(level(at(100)[1], at(300)[1]), "1m: {:?}", curve);
    assert!(
        at(300)[2] > at(100)[2] && at(380)[2] > at(200)[2],
        "1h grows: {curve:?}"
    );
    assert!(
        level(at(420)[2], at(380)[2]),
        "1h level after a year: {curve:?}"
    );
}
