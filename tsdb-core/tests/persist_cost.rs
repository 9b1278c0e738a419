//! Persisting costs O(data), never O(time span): a series whose samples are far apart in
//! time persists one segment per range that holds samples, with one WAL cut and one
//! checkpoint per persist. (It used to step through every block range of the span: two
//! samples 1e11 ms apart took 39 s, and ±i64 nanosecond timestamps read as milliseconds
//! never finished.)

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tsdb_core::observe::{Observer, PersistEvent};
use tsdb_core::{Db, ManualClock, Options};
use tsdb_index::{Labels, Matcher};

const T0: i64 = 1_700_000_000_000;
const HOUR: i64 = 3_600_000;

#[derive(Debug, Default)]
struct Counts {
    persists: AtomicU64,
    segments: AtomicU64,
    checkpoints: AtomicU64,
}

impl Observer for Counts {
    fn persisted(&self, e: &PersistEvent) {
        self.persists.fetch_add(1, Ordering::Relaxed);
        if e.series > 0 {
            self.segments.fetch_add(1, Ordering::Relaxed);
        }
    }
    fn checkpointed(&self, _: Duration) {
        self.checkpoints.fetch_add(1, Ordering::Relaxed);
    }
}

fn labels(name: &str) -> Labels {
    Labels::new([("__name__", name)]).unwrap()
}

fn count(db: &Db, name: &str) -> usize {
    let q = db.querier(i64::MIN, i64::MAX - 1).unwrap();
    q.select(&[Matcher::equal("__name__", name)])
        .unwrap()
        .iter()
        .map(|s| s.iter().count())
        .sum()
}

#[test]
fn two_samples_a_year_apart_persist_one_range_in_the_background() {
    let dir = tempfile::tempdir().unwrap();
    let year = 365 * 24 * HOUR;
    let counts = Arc::new(Counts::default());
    let db = Db::open(
        dir.path(),
        Options {
            clock: Arc::new(ManualClock::new(T0 + year)),
            out_of_order_window_ms: 2 * year,
            observer: counts.clone(),
            ..Options::default()
        },
    )
    .unwrap();
    db.append(&labels("m"), T0, 1.0).unwrap();
    // the append that makes the head span a year returns without persisting anything
    let started = Instant::now();
    db.append(&labels("m"), T0 + year, 2.0).unwrap();
    let append_took = started.elapsed();
    db.wait_for_maintenance().unwrap();
    // the old range went to a segment; the new sample stays writable in the head
    assert_eq!(counts.segments.load(Ordering::Relaxed), 1);
    assert_eq!(counts.persists.load(Ordering::Relaxed), 1);
    assert_eq!(counts.checkpoints.load(Ordering::Relaxed), 1);
    assert_eq!(count(&db, "m"), 2);
    assert!(append_took < Duration::from_secs(5), "{append_took:?}");
    db.close().unwrap();
}

#[test]
fn many_due_ranges_share_one_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let counts = Arc::new(Counts::default());
    let db = Db::open(
        dir.path(),
        Options {
            clock: Arc::new(ManualClock::new(T0 + 100 * HOUR)),
            block_range_ms: HOUR,
            background_maintenance: false,
            observer: counts.clone(),
            ..Options::default()
        },
    )
    .unwrap();
    for h in 0..10 {
        db.append(&labels("m"), T0 + h * HOUR, h as f64).unwrap();
    }
    assert_eq!(db.persist_all().unwrap(), 10);
    assert_eq!(counts.checkpoints.load(Ordering::Relaxed), 1);
    assert_eq!(db.stats().unwrap().segments.len(), 10);
    assert_eq!(count(&db, "m"), 10);
}

#[test]
fn timestamps_at_the_ends_of_i64_persist_in_two_ranges() {
    let dir = tempfile::tempdir().unwrap();
    let counts = Arc::new(Counts::default());
    let db = Db::open(
        dir.path(),
        Options {
            clock: Arc::new(ManualClock::new(T0)),
            out_of_order_window_ms: i64::MAX,
            max_future_ms: i64::MAX,
            background_maintenance: false,
            observer: counts.clone(),
            ..Options::default()
        },
    )
    .unwrap();
    // nanosecond timestamps read as milliseconds, both signs
    db.append(&labels("m"), i64::MIN + 1, 1.0).unwrap();
    db.append(&labels("m"), 1_700_000_000_000_000_000, 2.0)
        .unwrap();
    // i64::MAX itself can never be persisted (a segment's range ends exclusively)
    assert!(db.append(&labels("m"), i64::MAX, 3.0).is_err());
    assert_eq!(db.persist_all().unwrap(), 2);
    assert_eq!(counts.checkpoints.load(Ordering::Relaxed), 1);
    assert_eq!(count(&db, "m"), 2);
    db.close().unwrap();
    drop(db);
    let db = Db::open(
        dir.path(),
        Options {
            background_maintenance: false,
            ..Options::default()
        },
    )
    .unwrap();
    assert_eq!(count(&db, "m"), 2);
}
