//! Fault injection through `FaultFs`: a failed fsync, a short write or a full disk
//! surfaces as an error to the writer (never a silent acknowledgement), later writes are
//! refused until reopen, and the database reopens consistent with every acknowledged
//! sample. A failed persist leaves the head serving everything.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use common::T0;
use tsdb_core::testing::FaultFs;
use tsdb_core::{Batch, Db, ManualClock, Options};
use tsdb_index::{Labels, Matcher};

fn options(fs: &FaultFs) -> Options {
    Options {
        block_range_ms: 1000,
        background_maintenance: false,
        clock: Arc::new(ManualClock::new(T0 + 1_000_000_000)),
        fs: Arc::new(fs.clone()),
        ..Options::default()
    }
}

fn batch(k: i64) -> Batch {
    let mut b = Batch::new();
    for s in 0..3 {
        let id = b.series(Labels::new([("__name__", "f"), ("s", &s.to_string())]).unwrap());
        b.sample(id, T0 + k * 100, k as f64);
    }
    b
}

fn read(db: &Db) -> BTreeMap<i64, usize> {
    let q = db.querier(i64::MIN, i64::MAX).unwrap();
    let mut out = BTreeMap::new();
    for s in q.select(&[Matcher::equal("__name__", "f")]).unwrap() {
        for x in s.iter() {
            *out.entry(x.unwrap().t).or_default() += 1;
        }
    }
    out
}

/// Appends batches 0..5, arms `fault`, checks the next batch fails and every later one
/// too, then reopens on a healthy file system and checks batches 0..5 are all there.
fn fault_is_never_acknowledged(arm: impl Fn(&FaultFs)) {
    let tmp = tempfile::tempdir().unwrap();
    let fs = FaultFs::real();
    let db = Db::open(tmp.path(), options(&fs)).unwrap();
    for k in 0..5 {
        db.append_batch(&batch(k)).unwrap();
    }
    arm(&fs);
    assert!(
        db.append_batch(&batch(5)).is_err(),
        "a failed write was acknowledged"
    );
    fs.clear();
    // after a failed write or fsync the log refuses writes until reopened (fsyncgate)
    assert!(db.append_batch(&batch(6)).is_err());
    drop(db);

    let db = Db::open(tmp.path(), options(&FaultFs::real())).unwrap();
    let found = read(&db);
    for k in 0..5 {
        assert_eq!(
            found.get(&(T0 + k * 100)),
            Some(&3),
            "acknowledged batch {k}"
        );
    }
    // batch 5 may or may not have reached the disk, but never partially
    assert!(matches!(found.get(&(T0 + 500)), None | Some(&3)));
    assert_eq!(found.get(&(T0 + 600)), None);
    db.append_batch(&batch(7)).unwrap();
}

#[test]
fn fsync_failure() {
    fault_is_never_acknowledged(FaultFs::fail_next_fsync);
}

#[test]
fn short_write() {
    fault_is_never_acknowledged(|fs| fs.short_next_write(7));
}

#[test]
fn disk_full() {
    fault_is_never_acknowledged(|fs| fs.enospc_after(10));
}

#[test]
fn a_failed_persist_keeps_serving_from_the_head() {
    let tmp = tempfile::tempdir().unwrap();
    let fs = FaultFs::real();
    let db = Db::open(tmp.path(), options(&fs)).unwrap();
    for k in 0..40 {
        db.append_batch(&batch(k)).unwrap();
    }
    let before = read(&db);
    fs.enospc_after(100); // the segment's chunks file does not fit
    assert!(db.persist_all().is_err());
    fs.clear();
    assert_eq!(read(&db), before);
    // retried in the same process, the persist writes the same range
    db.persist_all().unwrap();
    assert_eq!(read(&db), before);
    drop(db);
    let db = Db::open(tmp.path(), options(&FaultFs::real())).unwrap();
    assert_eq!(read(&db), before);
    assert!(db.stats().unwrap().set_aside.is_empty());
    db.persist_all().unwrap();
    assert_eq!(read(&db), before);
    assert!(!db.stats().unwrap().segments.is_empty());
}
