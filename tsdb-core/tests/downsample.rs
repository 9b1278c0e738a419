//! Downsampling: eight days of 10-second samples under rules "raw 1 day, 1 m to 3 days,
//! 1 h to 6 days", maintained day by day with a manual clock. Afterwards the querier
//! reads raw samples where raw segments are left, 1 m buckets before them and 1 h
//! buckets before those, each bucket equal to the rollup of the raw samples it covers;
//! the segments on disk are the ones the rules keep; a reopen reads the same; late
//! samples make a window's rollups be computed again.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use common::T0;
use tsdb_core::rollup::{rollup, Bucket};
use tsdb_core::{Batch, Db, DownsampleRule, Downsampling, ManualClock, Options, Tier};
use tsdb_index::{Labels, Matcher};

const MINUTE: i64 = 60_000;
const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;
const START: i64 = T0 / DAY * DAY;
const SERIES: usize = 4;

fn rules() -> Downsampling {
    Downsampling {
        rules: vec![DownsampleRule {
            matchers: vec![],
            tiers: vec![
                Tier {
                    after_ms: DAY,
                    resolution_ms: MINUTE,
                },
                Tier {
                    after_ms: 3 * DAY,
                    resolution_ms: HOUR,
                },
            ],
            keep_for_ms: Some(6 * DAY),
        }],
    }
}

fn options(clock: &Arc<ManualClock>) -> Options {
    Options {
        clock: clock.clone(),
        out_of_order_window_ms: 3 * HOUR,
        background_maintenance: false,
        downsampling: rules(),
        ..Options::default()
    }
}

fn labels(i: usize) -> Labels {
    Labels::new([("__name__", "m"), ("i", &i.to_string())]).unwrap()
}

/// Series 0 a counter that resets every 7 hours, 1 a gauge with NaN now and then, 2 a
/// gauge with gaps, 3 a constant.
fn value(i: usize, k: i64) -> Option<f64> {
    match i {
        0 => Some((k % 2_520) as f64 * 1.5),
        1 if k % 997 == 0 => Some(f64::NAN),
        1 => Some(((k * 37) % 101) as f64 - 50.0),
        2 if (k / 500) % 3 == 2 => None,
        2 => Some((k % 13) as f64 * 0.25),
        _ => Some(42.0),
    }
}

type Raw = BTreeMap<usize, Vec<(i64, f64)>>;

/// Appends days `[from, to)` of samples every 10 s, maintaining at each day's end.
fn write_days(db: &Db, clock: &ManualClock, raw: &mut Raw, from: i64, to: i64) {
    for day in from..to {
        for h in 0..24 {
            let mut b = Batch::new();
            for k in 0..360 {
                let idx = (day * 24 + h) * 360 + k;
                let t = START + idx * 10_000;
                for i in 0..SERIES {
                    if let Some(v) = value(i, idx) {
                        let s = b.series(labels(i));
                        b.sample(s, t, v);
                        raw.entry(i).or_default().push((t, v));
                    }
                }
            }
            assert!(db.append_batch(&b).unwrap().rejected.is_empty());
            clock.set(START + (day * 24 + h + 1) * HOUR);
            db.maintain().unwrap();
        }
    }
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
        && x.resets == y.resets
        && x.changes == y.changes
        && close(x.sum, y.sum)
        && close(x.min, y.min)
        && close(x.max, y.max)
        && close(x.first_v, y.first_v)
        && close(x.last_v, y.last_v)
        && close(x.reset_correction, y.reset_correction)
}

/// `(resolution, min_t)` of every segment, relative to START in days and ms.
fn segments(db: &Db) -> Vec<(u64, i64)> {
    let mut v: Vec<(u64, i64)> = db
        .stats()
        .unwrap()
        .segments
        .iter()
        .map(|(_, m, _)| (m.resolution_ms, m.min_t - START))
        .collect();
    v.sort();
    v
}

/// The oracle: the rollup at `res` of the raw samples in `[from, until)`.
fn oracle(samples: &[(i64, f64)], res: i64, from: i64, until: i64) -> Vec<Bucket> {
    let (ts, vs): (Vec<i64>, Vec<f64>) = samples
        .iter()
        .filter(|(t, _)| *t >= from && *t < until)
        .copied()
        .unzip();
    rollup(&ts, &vs, res)
        .into_iter()
        .map(|(end, agg)| Bucket {
            end,
            resolution_ms: res,
            agg,
        })
        .collect()
}

fn check_reads(db: &Db, raw: &Raw) {
    let q = db.querier(i64::MIN + 1, i64::MAX - 1).unwrap();
    let found = q.select(&[Matcher::equal("__name__", "m")]).unwrap();
    assert_eq!(found.len(), SERIES);
    let segs = segments(db);
    let oldest = |res: u64| {
        START
            + segs
                .iter()
                .filter(|s| s.0 == res)
                .map(|s| s.1)
                .min()
                .unwrap()
    };
    let (raw_from, m_from, h_from) = (oldest(0), oldest(60_000), oldest(3_600_000));
    for (i, s) in found.iter().enumerate() {
        let samples = &raw[&i];
        // raw samples from the oldest raw segment's start
        let got: Vec<(i64, u64)> = s
            .iter()
            .map(|r| r.map(|x| (x.t, x.v.to_bits())).unwrap())
            .collect();
        let want: Vec<(i64, u64)> = samples
            .iter()
            .filter(|(t, _)| *t >= raw_from)
            .map(|(t, v)| (*t, v.to_bits()))
            .collect();
        assert_eq!(got.len(), want.len(), "series {i} raw samples");
        assert!(got == want, "series {i}: raw samples differ");
        // before them the 1 m rollups of the raw samples from the oldest 1 m segment's
        // start, and before those the 1 h rollups
        let mut buckets = Vec::new();
        s.read_buckets_into(&mut buckets).unwrap();
        let mut want = oracle(samples, HOUR, h_from, m_from);
        want.extend(oracle(samples, MINUTE, m_from, raw_from));
        assert_eq!(buckets.len(), want.len(), "series {i} buckets");
        for (g, w) in buckets.iter().zip(&want) {
            assert!(same(g, w), "series {i}: {g:?} != {w:?}");
        }
    }
}

#[test]
fn eight_days_read_raw_then_minutes_then_hours() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(START));
    let mut raw = Raw::new();
    {
        let db = Db::open(dir.path(), options(&clock)).unwrap();
        write_days(&db, &clock, &mut raw, 0, 8);
        // now = day 8. Raw windows ending by day 7 are gone (raw is kept 1 day), 1 m
        // windows whose range ends by day 5 (1 m is kept to 3 days), 1 h by day 2; day
        // 7 is not complete yet (the head holds its last hour): no rollups of it.
        let segs = segments(&db);
        let days = |res: u64| -> Vec<i64> {
            let mut d: Vec<i64> = segs
                .iter()
                .filter(|s| s.0 == res)
                .map(|s| s.1.div_euclid(DAY))
                .collect();
            d.dedup();
            d
        };
        assert_eq!(
            days(0),
            vec![7],
            "raw: the last complete day and the hours after"
        );
        assert_eq!(days(60_000), vec![4, 5, 6]);
        assert_eq!(days(3_600_000), vec![1, 2, 3, 4, 5, 6]);
        check_reads(&db, &raw);
    }
    // the manifest lists the rollups: a reopen reads the same
    let db = Db::open(dir.path(), options(&clock)).unwrap();
    check_reads(&db, &raw);
}

#[test]
fn late_samples_make_a_window_roll_up_again() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(START));
    let mut raw = Raw::new();
    let db = Db::open(dir.path(), options(&clock)).unwrap();
    write_days(&db, &clock, &mut raw, 0, 1);
    clock.set(START + DAY + 2 * HOUR);
    // push the head past day 1 so that the day's window is complete and rolled up
    let mut b = Batch::new();
    for h in 0..3 {
        let s = b.series(labels(0));
        b.sample(s, START + DAY + h * HOUR, 1.0);
        raw.get_mut(&0).unwrap().push((START + DAY + h * HOUR, 1.0));
    }
    db.append_batch(&b).unwrap();
    db.maintain().unwrap();
    let before = segments(&db);
    assert!(before.contains(&(60_000, 0)), "{before:?}");
    // a late sample at 23:59:55 of day 0, inside the out-of-order window of series 3
    // (its newest sample is 23:59:50), lands after the day was rolled up
    let late_t = START + DAY - 5_000;
    db.append(&labels(3), late_t, 7.0).unwrap();
    let r = raw.get_mut(&3).unwrap();
    r.push((late_t, 7.0));
    r.sort_by_key(|x| x.0);
    db.persist_all().unwrap();
    db.compact().unwrap();
    let stats = db.downsample().unwrap();
    assert_eq!(
        (stats.segments_written, stats.segments_replaced),
        (2, 2),
        "both resolutions of day 0 computed again"
    );
    // drop raw day 0 (clock past its raw retention) and read its 1 m buckets
    clock.set(START + 2 * DAY + 3 * HOUR);
    db.apply_retention().unwrap();
    let q = db.querier(START, START + DAY).unwrap();
    let s = q
        .select(&[Matcher::equal("i", "3")])
        .unwrap()
        .pop()
        .unwrap();
    let mut buckets = Vec::new();
    s.read_buckets_into(&mut buckets).unwrap();
    let last = buckets.iter().find(|b| b.end == START + DAY).unwrap();
    assert_eq!((last.agg.last_t, last.agg.last_v), (late_t, 7.0));
    assert_eq!(last.agg.count, 6, "23:59:10 to :50 and the late one");
}

#[test]
fn hour_rollups_merge_into_spans_once_no_finer_tier_holds_them() {
    // one series every 5 minutes for 100 days; raw 2 days, then 1 h forever: the 1 h
    // window rollups merge into 42-day spans once raw data no longer reaches them
    // in memory: a hundred days of persists, compactions and rollups fsync thousands
    // of times, which a disk makes slow and this test does not need
    let dir = std::path::Path::new("/mem/db");
    let clock = Arc::new(ManualClock::new(START));
    let opts = Options {
        clock: clock.clone(),
        background_maintenance: false,
        fs: Arc::new(tsdb_core::testing::PowerLossFs::new()),
        downsampling: Downsampling {
            rules: vec![DownsampleRule {
                matchers: vec![],
                tiers: vec![Tier {
                    after_ms: 2 * DAY,
                    resolution_ms: HOUR,
                }],
                keep_for_ms: None,
            }],
        },
        ..Options::default()
    };
    let db = Db::open(dir, opts.clone()).unwrap();
    let mut samples = Vec::new();
    for day in 0..100 {
        let mut b = Batch::new();
        for k in 0..288 {
            let idx = day * 288 + k;
            let t = START + idx * 300_000;
            let v = (idx % 1_000) as f64;
            let s = b.series(labels(0));
            b.sample(s, t, v);
            samples.push((t, v));
        }
        clock.set(START + (day + 1) * DAY);
        assert!(db.append_batch(&b).unwrap().rejected.is_empty());
        db.maintain().unwrap();
    }
    let merged: Vec<(i64, i64)> = db
        .stats()
        .unwrap()
        .segments
        .iter()
        .filter(|(_, m, _)| m.resolution_ms == 3_600_000 && m.level == 1)
        .map(|(_, m, _)| (m.min_t, m.max_t))
        .collect();
    assert!(!merged.is_empty(), "no span of 1 h rollups was merged");
    let windows = db
        .stats()
        .unwrap()
        .segments
        .iter()
        .filter(|(_, m, _)| m.resolution_ms == 3_600_000)
        .count();
    assert!(windows < 60, "{windows} 1 h segments for ~98 days");
    for (min_t, max_t) in &merged {
        assert!(max_t - min_t > 2 * DAY, "a span holds several days");
    }
    let q = db.querier(i64::MIN + 1, i64::MAX - 1).unwrap();
    let s = q
        .select(&[Matcher::equal("i", "0")])
        .unwrap()
        .pop()
        .unwrap();
    let raw_from = START
        + segments(&db)
            .iter()
            .filter(|s| s.0 == 0)
            .map(|s| s.1)
            .min()
            .unwrap();
    let mut buckets = Vec::new();
    s.read_buckets_into(&mut buckets).unwrap();
    let want = oracle(&samples, HOUR, START, raw_from);
    assert_eq!(buckets.len(), want.len());
    for (g, w) in buckets.iter().zip(&want) {
        assert!(same(g, w), "{g:?} != {w:?}");
    }
    drop(q);
    drop(db);
    let db = Db::open(dir, opts).unwrap();
    let q = db.querier(i64::MIN + 1, i64::MAX - 1).unwrap();
    let s = q
        .select(&[Matcher::equal("i", "0")])
        .unwrap()
        .pop()
        .unwrap();
    let mut again = Vec::new();
    s.read_buckets_into(&mut again).unwrap();
    assert_eq!(again, buckets, "reopened");
}

#[test]
fn every_flipped_byte_of_a_rollup_segment_is_caught_or_harmless() {
    // two days of one series at 1 minute, rolled up at 1 h; then each byte of the rollup
    // segment's `series` and `chunks` files flipped in turn: opening and reading the
    // buckets never panics, and whatever reads back is a valid bucket (the reader checks
    // every column's CRC, that the columns agree, and each aggregate)
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(START));
    let opts = || Options {
        clock: clock.clone(),
        background_maintenance: false,
        downsampling: Downsampling {
            rules: vec![DownsampleRule {
                matchers: vec![],
                tiers: vec![Tier {
                    after_ms: DAY,
                    resolution_ms: HOUR,
                }],
                keep_for_ms: None,
            }],
        },
        ..Options::default()
    };
    {
        let db = Db::open(dir.path(), opts()).unwrap();
        for hour in 0..50 {
            let mut b = Batch::new();
            for m in 0..60 {
                let s = b.series(labels(0));
                b.sample(s, START + hour * HOUR + m * MINUTE, (hour * 60 + m) as f64);
            }
            clock.set(START + (hour + 1) * HOUR);
            db.append_batch(&b).unwrap();
            db.maintain().unwrap();
        }
        clock.set(START + 3 * DAY);
        db.maintain().unwrap();
        db.close().unwrap();
    }
    let rollup_dir = {
        let db = Db::open(dir.path(), opts()).unwrap();
        let stats = db.stats().unwrap();
        let found = stats
            .segments
            .iter()
            .find(|(_, m, _)| m.resolution_ms == 3_600_000)
            .map(|(p, _, _)| p.clone())
            .expect("a rollup segment");
        db.close().unwrap();
        found
    };
    for file in ["series", "chunks"] {
        let path = rollup_dir.join(file);
        let original = std::fs::read(&path).unwrap();
        for i in 0..original.len() {
            let mut bytes = original.clone();
            bytes[i] ^= 0x5a;
            std::fs::write(&path, &bytes).unwrap();
            let read = std::panic::catch_unwind(|| {
                // read-only: nothing is repaired or set aside on disk between flips
                let Ok(db) = Db::open_read_only(dir.path(), opts()) else {
                    return;
                };
                let Ok(q) = db.querier(i64::MIN + 1, i64::MAX - 1) else {
                    return;
                };
                if let Ok(found) = q.select(&[Matcher::equal("i", "0")]) {
                    for s in found {
                        let mut buckets = Vec::new();
                        if s.read_buckets_into(&mut buckets).is_ok() {
                            for b in &buckets {
                                assert!(b.agg.count >= 1 && b.agg.first_t <= b.agg.last_t);
                                assert!(b.agg.first_t > b.start() && b.agg.last_t <= b.end);
                            }
                        }
                    }
                }
                drop(q);
                let _ = db.close();
            });
            assert!(read.is_ok(), "{file} byte {i} flipped: a panic");
        }
        std::fs::write(&path, &original).unwrap();
    }
}
