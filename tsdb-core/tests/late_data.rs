//! Late samples: older than what the head has persisted, accepted within the out-of-order
//! window, readable at once, persisted as segments overlapping the earlier ones, replayed
//! after a restart, and never lost to a persist or checkpoint running beside the writer.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use common::T0;
use tsdb_core::{Batch, Db, Error, ManualClock, Options, SampleError};
use tsdb_index::{Labels, Matcher};

const HOUR: i64 = 3_600_000;
/// Hour-aligned start, so block ranges fall on whole hours.
const START: i64 = T0 / HOUR * HOUR;

fn options(window: i64) -> Options {
    Options {
        clock: Arc::new(ManualClock::new(START + 24 * HOUR)),
        out_of_order_window_ms: window,
        background_maintenance: false,
        ..Options::default()
    }
}

fn labels(job: &str, i: usize) -> Labels {
    Labels::new([("__name__", "m"), ("job", job), ("i", &i.to_string())]).unwrap()
}

/// Every sample of `job`, by series.
fn read(db: &Db, job: &str) -> BTreeMap<String, Vec<(i64, f64)>> {
    let q = db.querier(i64::MIN, i64::MAX - 1).unwrap();
    q.select(&[Matcher::equal("job", job)])
        .unwrap()
        .iter()
        .map(|s| {
            let samples = s.iter().map(|r| r.map(|x| (x.t, x.v)).unwrap()).collect();
            (s.labels().get("i").unwrap().to_string(), samples)
        })
        .collect()
}

/// Ten hours of live data for 10 series at 1-minute steps, persisted up to the last
/// 1.5 hours.
fn live(db: &Db) {
    for m in 0..600 {
        let mut b = Batch::new();
        for i in 0..10 {
            let s = b.series(labels("live", i));
            b.sample(s, START + m * 60_000, m as f64);
        }
        assert!(db.append_batch(&b).unwrap().rejected.is_empty());
    }
    assert!(db.persist_if_due().unwrap() > 0);
}

/// Six hours of history, in time order, for `n` series that are new to the head.
fn backfill(db: &Db, n: usize) -> usize {
    let mut accepted = 0;
    for m in 0..360 {
        let mut b = Batch::new();
        for i in 0..n {
            let s = b.series(labels("backfill", i));
            b.sample(s, START + m * 60_000, (m * 1000 + i as i64) as f64);
        }
        let out = db.append_batch(&b).unwrap();
        assert!(out.rejected.is_empty(), "{:?}", out.rejected.first());
        accepted += out.accepted;
    }
    accepted
}

fn expected(n: usize) -> BTreeMap<String, Vec<(i64, f64)>> {
    (0..n)
        .map(|i| {
            let samples = (0..360)
                .map(|m| (START + m * 60_000, (m * 1000 + i as i64) as f64))
                .collect();
            (i.to_string(), samples)
        })
        .collect()
}

#[test]
fn a_backfill_behind_live_data_is_accepted_whole_and_read_back_everywhere() {
    let tmp = tempfile::tempdir().unwrap();
    let db = Db::open(tmp.path(), options(24 * HOUR)).unwrap();
    live(&db);
    let persisted_until = db.stats().unwrap().persisted_until;
    assert!(
        persisted_until > START + 6 * HOUR,
        "the backfill's hours are persisted"
    );
    let segments_before = db.stats().unwrap().segments.len();

    assert_eq!(backfill(&db, 50), 50 * 360);
    // readable at once, from the head, although the range is persisted
    assert_eq!(read(&db, "backfill"), expected(50));
    // a querier over just the persisted hours sees them too
    let q = db.querier(START + HOUR, START + 2 * HOUR).unwrap();
    let got = q.select(&[Matcher::equal("job", "backfill")]).unwrap();
    assert_eq!(got.len(), 50);
    assert_eq!(got[0].iter().count(), 61);
    // (a live querier keeps the head's copy of persisted late samples: let it go)
    drop(q);

    // persisted as segments overlapping the live data's, one per 2-hour block range that
    // holds some (and the rest of the live head)
    db.persist_all().unwrap();
    let stats = db.stats().unwrap();
    assert_eq!(
        stats.segments.len(),
        segments_before + 3 + 1,
        "{:?}",
        stats.segments
    );
    assert_eq!(stats.head_samples, 0);
    assert_eq!(read(&db, "backfill"), expected(50));
    assert_eq!(read(&db, "live").len(), 10);
    db.close().unwrap();
    drop(db);

    let db = Db::open(tmp.path(), options(24 * HOUR)).unwrap();
    assert_eq!(read(&db, "backfill"), expected(50));
    assert_eq!(db.stats().unwrap().head_samples, 0);
}

#[test]
fn late_samples_not_yet_persisted_are_replayed_after_a_crash() {
    let tmp = tempfile::tempdir().unwrap();
    let db = Db::open(tmp.path(), options(24 * HOUR)).unwrap();
    live(&db);
    backfill(&db, 5);
    // no close: the late samples are only in the WAL and the head
    drop(db);
    let db = Db::open(tmp.path(), options(24 * HOUR)).unwrap();
    assert_eq!(read(&db, "backfill"), expected(5));
    db.persist_all().unwrap();
    drop(db);
    let db = Db::open(tmp.path(), options(24 * HOUR)).unwrap();
    assert_eq!(read(&db, "backfill"), expected(5));
}

#[test]
fn the_window_and_duplicates_still_hold_for_late_samples() {
    let tmp = tempfile::tempdir().unwrap();
    let db = Db::open(tmp.path(), options(12 * HOUR)).unwrap();
    live(&db);
    // beyond the window (measured from the newest sample, ten hours in)
    let e = db
        .append(&labels("late", 0), START - 3 * HOUR, 1.0)
        .unwrap_err();
    assert!(
        matches!(e, Error::Sample(SampleError::TooOld { .. })),
        "{e}"
    );
    db.append(&labels("late", 0), START + HOUR, 1.0).unwrap();
    // the same value again is a duplicate; another value at that time is refused
    db.append(&labels("late", 0), START + HOUR, 1.0).unwrap();
    let e = db
        .append(&labels("late", 0), START + HOUR, 2.0)
        .unwrap_err();
    assert!(
        matches!(e, Error::Sample(SampleError::DuplicateTimestamp { .. })),
        "{e}"
    );
    assert_eq!(read(&db, "late")["0"], vec![(START + HOUR, 1.0)]);

    // without a window nothing older than the write floor is accepted
    let tmp = tempfile::tempdir().unwrap();
    let db = Db::open(tmp.path(), options(0)).unwrap();
    live(&db);
    let e = db
        .append(&labels("late", 0), START + HOUR, 1.0)
        .unwrap_err();
    assert!(
        matches!(e, Error::Sample(SampleError::TooOld { .. })),
        "{e}"
    );
}

#[test]
fn late_samples_appended_while_persists_and_checkpoints_run_survive_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let db = Db::open(tmp.path(), options(24 * HOUR)).unwrap();
    live(&db);
    let stop = Arc::new(AtomicBool::new(false));
    let persister = {
        let (db, stop) = (db.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut persists = 0;
            while !stop.load(Ordering::Acquire) {
                db.persist_all().unwrap();
                persists += 1;
            }
            persists
        })
    };
    let mut acked = Vec::new();
    for m in 0..300 {
        let t = START + m * 60_000;
        let mut b = Batch::new();
        for i in 0..20 {
            let s = b.series(labels("race", i));
            b.sample(s, t, m as f64);
        }
        let out = db.append_batch(&b).unwrap();
        assert!(out.rejected.is_empty(), "{:?}", out.rejected.first());
        acked.push(t);
    }
    stop.store(true, Ordering::Release);
    let persists = persister.join().unwrap();
    assert!(persists > 1);
    // a crash: no close, no final persist
    drop(db);
    let db = Db::open(tmp.path(), options(24 * HOUR)).unwrap();
    let got = read(&db, "race");
    assert_eq!(got.len(), 20);
    for (i, samples) in &got {
        let times: Vec<i64> = samples.iter().map(|&(t, _)| t).collect();
        assert_eq!(times, acked, "series {i}");
    }
}

#[test]
fn a_querier_older_than_a_late_persist_keeps_the_heads_copy_until_it_ends() {
    let tmp = tempfile::tempdir().unwrap();
    let db = Db::open(tmp.path(), options(24 * HOUR)).unwrap();
    live(&db);
    backfill(&db, 3);
    let old = db.querier(i64::MIN, i64::MAX - 1).unwrap();
    db.persist_all().unwrap();
    // the old querier does not see the new segments; it still reads the head's copy
    let got = old.select(&[Matcher::equal("job", "backfill")]).unwrap();
    assert_eq!(got.len(), 3);
    assert_eq!(got[0].iter().count(), 360);
    assert_eq!(db.stats().unwrap().head_samples, 3 * 360);
    drop(got);
    drop(old);
    // the next maintenance pass lets the head forget it
    db.maintain().unwrap();
    assert_eq!(db.stats().unwrap().head_samples, 0);
    assert_eq!(read(&db, "backfill"), expected(3));
}
