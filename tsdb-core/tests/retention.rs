//! Retention: segments whose whole range is older than the retention time go (the clock
//! decides), then the oldest while over the size budget; queries stop seeing them at
//! once, a querier from before keeps its snapshot, and a reopen agrees.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use common::T0;
use tsdb_core::{Batch, Db, ManualClock, Options};
use tsdb_index::{Labels, Matcher};

const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;
const START: i64 = T0 / DAY * DAY;

fn options(clock: &Arc<ManualClock>, retention_ms: Option<i64>, bytes: Option<u64>) -> Options {
    Options {
        clock: clock.clone(),
        background_maintenance: false,
        retention_ms,
        retention_bytes: bytes,
        ..Options::default()
    }
}

fn fill(db: &Db, hours: i64) {
    for m in 0..hours * 60 {
        let mut b = Batch::new();
        for i in 0..5 {
            let s = b.series(Labels::new([("__name__", "r"), ("i", &i.to_string())]).unwrap());
            b.sample(s, START + m * 60_000, m as f64);
        }
        assert!(db.append_batch(&b).unwrap().rejected.is_empty());
    }
    db.persist_all().unwrap();
}

fn oldest_sample(db: &Db) -> Option<i64> {
    let q = db.querier(i64::MIN, i64::MAX - 1).unwrap();
    q.select(&[Matcher::equal("__name__", "r")])
        .unwrap()
        .iter()
        .filter_map(|s| s.iter().next().map(|r| r.unwrap().t))
        .min()
}

#[test]
fn segments_past_retention_go_and_the_rest_stays() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(START + 3 * DAY));
    let db = Db::open(dir.path(), options(&clock, Some(DAY), None)).unwrap();
    fill(&db, 70);
    db.compact().unwrap();
    // now = START + 3 days: everything ending at or before START + 2 days goes
    let old = db.querier(i64::MIN, i64::MAX - 1).unwrap();
    let stats = db.apply_retention().unwrap();
    assert_eq!(stats.expired, 2, "{stats:?}: the two whole days");
    assert_eq!(oldest_sample(&db), Some(START + 2 * DAY));
    // the querier from before still reads the first day
    let first = old
        .select(&[Matcher::equal("i", "0")])
        .unwrap()
        .iter()
        .filter_map(|s| s.iter().next().map(|r| r.unwrap().t))
        .min();
    assert_eq!(first, Some(START));
    drop(old);
    // time passes: the third day's segments go as they age out
    clock.set(START + 3 * DAY + 12 * HOUR);
    let stats = db.apply_retention().unwrap();
    assert!(stats.expired >= 1, "{stats:?}");
    let left = oldest_sample(&db).unwrap();
    assert!(
        left >= START + 2 * DAY + 6 * HOUR,
        "{}",
        (left - START) / HOUR
    );
    db.close().unwrap();
    drop(db);
    let db = Db::open(dir.path(), options(&clock, Some(DAY), None)).unwrap();
    assert_eq!(oldest_sample(&db), Some(left));
    // only the listed directories are left on disk
    let on_disk = std::fs::read_dir(dir.path().join("segments"))
        .unwrap()
        .count();
    assert_eq!(on_disk, db.stats().unwrap().segments.len());
}

#[test]
fn the_size_budget_deletes_the_oldest_first() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(START + 3 * DAY));
    let db = Db::open(dir.path(), options(&clock, None, None)).unwrap();
    fill(&db, 20);
    let stats = db.stats().unwrap();
    let sizes: Vec<u64> = stats.segments.iter().map(|(_, _, b)| *b).collect();
    let total: u64 = sizes.iter().sum();
    db.close().unwrap();
    drop(db);
    // room for a little more than half
    let budget = total / 2 + 1;
    let db = Db::open(dir.path(), options(&clock, None, Some(budget))).unwrap();
    let r = db.apply_retention().unwrap();
    assert!(r.over_budget >= 1, "{r:?}");
    let after = db.stats().unwrap();
    let kept: u64 = after.segments.iter().map(|(_, _, b)| *b).sum();
    assert!(kept <= budget, "{kept} <= {budget}");
    // the newest data is the part kept
    let newest_end = after
        .segments
        .iter()
        .map(|(_, m, _)| m.max_t)
        .max()
        .unwrap();
    assert_eq!(
        newest_end,
        stats
            .segments
            .iter()
            .map(|(_, m, _)| m.max_t)
            .max()
            .unwrap()
    );
    assert!(oldest_sample(&db).unwrap() > START);
}
