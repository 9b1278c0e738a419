//! The background maintenance owner: persists on its own after appends signal it,
//! retries a failed pass with backoff and shows the failure in `stats()`, reports to the
//! observer, and stops with `close()`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::T0;
use tsdb_core::observe::{Observer, PersistEvent};
use tsdb_core::testing::{FaultFs, FaultOp};
use tsdb_core::{Batch, Db, Error, ManualClock, Options};
use tsdb_index::Labels;

const HOUR: i64 = 3_600_000;

#[derive(Debug, Default)]
struct Counts {
    accepted: AtomicU64,
    new_series: AtomicU64,
    too_old: AtomicU64,
    out_of_order: AtomicU64,
    fsyncs: AtomicU64,
    persists: AtomicU64,
    failures: AtomicU64,
}

impl Observer for Counts {
    fn appended(&self, accepted: u64, new_series: u64) {
        self.accepted.fetch_add(accepted, Ordering::Relaxed);
        self.new_series.fetch_add(new_series, Ordering::Relaxed);
    }
    fn refused(&self, reason: &'static str, count: u64) {
        match reason {
            "too_old" => &self.too_old,
            "out_of_order" => &self.out_of_order,
            other => panic!("unexpected refusal {other}"),
        }
        .fetch_add(count, Ordering::Relaxed);
    }
    fn wal_fsync(&self, _: Duration) {
        self.fsyncs.fetch_add(1, Ordering::Relaxed);
    }
    fn persisted(&self, _: &PersistEvent) {
        self.persists.fetch_add(1, Ordering::Relaxed);
    }
    fn maintenance_failed(&self, _: &Error, retry_in: Duration) {
        assert!(retry_in >= Duration::from_secs(1));
        self.failures.fetch_add(1, Ordering::Relaxed);
    }
}

fn labels(host: &str) -> Labels {
    Labels::new([("__name__", "m"), ("host", host)]).unwrap()
}

#[test]
fn the_observer_hears_appends_refusals_fsyncs_and_persists() {
    let tmp = tempfile::tempdir().unwrap();
    let counts = Arc::new(Counts::default());
    let db = Db::open(
        tmp.path(),
        Options {
            clock: Arc::new(ManualClock::new(T0 + 100 * HOUR)),
            block_range_ms: HOUR,
            observer: counts.clone(),
            ..Options::default()
        },
    )
    .unwrap();
    let mut b = Batch::new();
    let a = b.series(labels("a"));
    let c = b.series(labels("c"));
    b.sample(a, T0, 1.0);
    b.sample(a, T0 - 1000, 1.0); // out of order
    b.sample(c, T0, 1.0);
    let out = db.append_batch(&b).unwrap();
    assert_eq!((out.accepted, out.rejected.len()), (2, 1));
    for i in 1..=120 {
        db.append(&labels("a"), T0 + i * 60_000, 1.0).unwrap();
    }
    db.wait_for_maintenance().unwrap();
    assert_eq!(counts.accepted.load(Ordering::Relaxed), 122);
    assert_eq!(counts.new_series.load(Ordering::Relaxed), 2);
    assert_eq!(counts.out_of_order.load(Ordering::Relaxed), 1);
    assert!(counts.fsyncs.load(Ordering::Relaxed) >= 121);
    assert_eq!(counts.persists.load(Ordering::Relaxed), 1);
    // the persisted range is closed now
    assert!(db.append(&labels("c"), T0 + 1, 1.0).is_err());
    assert_eq!(counts.too_old.load(Ordering::Relaxed), 1);
    let m = db.stats().unwrap().maintenance;
    assert!(m.passes >= 1 && m.failures == 0, "{m:?}");
}

#[test]
fn a_failed_pass_is_retried_with_backoff_and_visible_in_stats() {
    let tmp = tempfile::tempdir().unwrap();
    let fs = Arc::new(FaultFs::real());
    let counts = Arc::new(Counts::default());
    let db = Db::open(
        tmp.path(),
        Options {
            clock: Arc::new(ManualClock::new(T0 + 100 * HOUR)),
            block_range_ms: HOUR,
            observer: counts.clone(),
            fs: fs.clone(),
            ..Options::default()
        },
    )
    .unwrap();
    for i in 0..90 {
        db.append(&labels("a"), T0 + i * 60_000, 1.0).unwrap();
    }
    db.wait_for_maintenance().unwrap();
    assert_eq!(db.stats().unwrap().segments.len(), 0, "not due yet");
    // the next persists fail to create their segment's first file (armed for more passes
    // than can run before the barrier below is answered: the signal's and the barrier's)
    for _ in 0..3 {
        fs.fail_next(FaultOp::Create);
    }
    db.append(&labels("a"), T0 + 91 * 60_000, 1.0).unwrap();
    let e = db.wait_for_maintenance().unwrap_err();
    assert!(matches!(e, Error::Maintenance { .. }), "{e}");
    let stats = db.stats().unwrap();
    assert_eq!(stats.segments.len(), 0);
    assert!(stats.maintenance.consecutive_failures >= 1, "{stats:?}");
    assert!(stats.maintenance.last_error.is_some());
    assert!(counts.failures.load(Ordering::Relaxed) >= 1);
    fs.clear();
    // appends go on meanwhile, and the retry (after the 1 s backoff) succeeds by itself
    db.append(&labels("a"), T0 + 92 * 60_000, 1.0).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    // (the pass publishes its segment before it records its success: wait for both)
    let stats = loop {
        let stats = db.stats().unwrap();
        if !stats.segments.is_empty() && stats.maintenance.consecutive_failures == 0 {
            break stats;
        }
        assert!(Instant::now() < deadline, "no retry: {stats:?}");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(stats.maintenance.last_error.is_none());
    assert!(stats.maintenance.failures >= 1);
    db.close().unwrap();
}

#[test]
fn close_stops_the_owner_and_later_appends_fail() {
    let tmp = tempfile::tempdir().unwrap();
    let db = Db::open(
        tmp.path(),
        Options {
            clock: Arc::new(ManualClock::new(T0 + 100 * HOUR)),
            ..Options::default()
        },
    )
    .unwrap();
    let other = db.clone();
    db.append(&labels("a"), T0, 1.0).unwrap();
    db.close().unwrap();
    assert!(other.append(&labels("a"), T0 + 1, 1.0).is_err());
    assert!(matches!(other.wait_for_maintenance(), Err(Error::Closed)));
}
