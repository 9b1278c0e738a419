//! Concurrent appenders must never make the engine write the same time range twice.
//!
//! Before the background maintenance owner, every appender that crossed the persist
//! threshold decided what was due outside the persist lock and wrote it: 8 threads with a
//! one-second block range wrote 24 segments for 3 ranges in one run. Now appends only
//! signal and one owner persists, re-checking what is due under its lock.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::sync::{Arc, Barrier};

use tsdb_core::{Batch, Db, ManualClock, Options};
use tsdb_index::{Labels, Matcher};

const T0: i64 = 1_700_000_000_000;

#[test]
fn concurrent_appenders_persist_each_range_once() {
    let tmp = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0 + 3_600_000));
    let db = Db::open(
        tmp.path(),
        Options {
            block_range_ms: 1000,
            clock: clock.clone(),
            ..Options::default()
        },
    )
    .unwrap();
    const THREADS: usize = 8;
    const SAMPLES: i64 = 400; // 10 ms apart: four seconds, four block ranges
    let barrier = Arc::new(Barrier::new(THREADS));
    let handles: Vec<_> = (0..THREADS)
        .map(|thread| {
            let db = db.clone();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                let labels = Labels::new([
                    ("__name__", "race"),
                    ("thread", thread.to_string().as_str()),
                ])
                .unwrap();
                barrier.wait();
                let mut accepted = 0;
                for i in 0..SAMPLES {
                    let mut b = Batch::new();
                    let s = b.series(labels.clone());
                    b.sample(s, T0 + i * 10, i as f64);
                    let out = db.append_batch(&b).unwrap();
                    accepted += out.accepted;
                }
                accepted
            })
        })
        .collect();
    let mut accepted = 0;
    for h in handles {
        accepted += h.join().unwrap();
    }
    // let the owner finish what is due, then persist the rest by hand
    db.wait_for_maintenance().unwrap();
    db.persist_all().unwrap();

    let stats = db.stats().unwrap();
    let mut ranges: BTreeMap<(i64, i64), usize> = BTreeMap::new();
    for (_, meta, _) in &stats.segments {
        *ranges.entry((meta.min_t, meta.max_t)).or_default() += 1;
    }
    let twice: Vec<_> = ranges.iter().filter(|(_, &n)| n > 1).collect();
    assert!(twice.is_empty(), "ranges written more than once: {twice:?}");
    assert!(ranges.len() >= 4, "expected at least 4 ranges: {ranges:?}");

    // every accepted sample is readable exactly once
    let q = db.querier(i64::MIN, i64::MAX).unwrap();
    let series = q.select(&[Matcher::equal("__name__", "race")]).unwrap();
    let read: usize = series.iter().map(|s| s.iter().count()).sum();
    assert_eq!(read, accepted);
    db.close().unwrap();
}
