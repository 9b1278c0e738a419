//! The embedding API end to end: append, read back through the head and segments,
//! out-of-order window, per-sample errors, deletion, reopen, and the directory lock.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use common::T0;
use tsdb_core::{Batch, Db, Error, ManualClock, Options, SampleError};
use tsdb_index::{Labels, Matcher};

const HOUR: i64 = 3_600_000;

fn options(clock: &Arc<ManualClock>) -> Options {
    Options {
        clock: clock.clone(),
        ..Options::default()
    }
}

fn labels(host: &str) -> Labels {
    Labels::new([("__name__", "cpu"), ("host", host)]).unwrap()
}

fn read(db: &Db, host: &str, mint: i64, maxt: i64) -> Vec<(i64, f64)> {
    let q = db.querier(mint, maxt).unwrap();
    let found = q
        .select(&[
            Matcher::equal("__name__", "cpu"),
            Matcher::equal("host", host),
        ])
        .unwrap();
    assert!(found.len() <= 1);
    found
        .first()
        .map(|s| s.iter().map(|r| r.map(|s| (s.t, s.v)).unwrap()).collect())
        .unwrap_or_default()
}

#[test]
fn samples_survive_reopen_and_persist() {
    let tmp = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0 + 10 * HOUR));
    let db = Db::open(tmp.path(), options(&clock)).unwrap();
    let mut want = Vec::new();
    // five hours of 10 s samples: the head persists the oldest ranges by itself
    for i in 0..(5 * 360) {
        let t = T0 + i * 10_000;
        let v = (i % 17) as f64 * 0.25;
        db.append(&labels("a"), t, v).unwrap();
        want.push((t, v));
    }
    // appends only signal; the maintenance owner persists in the background
    db.wait_for_maintenance().unwrap();
    let stats = db.stats().unwrap();
    assert!(!stats.segments.is_empty(), "expected persisted segments");
    assert_eq!(stats.maintenance.failures, 0);
    assert_eq!(read(&db, "a", i64::MIN, i64::MAX), want);
    db.close().unwrap();
    drop(db);

    let db = Db::open(tmp.path(), options(&clock)).unwrap();
    assert_eq!(read(&db, "a", i64::MIN, i64::MAX), want);
    // a window and seek
    let q = db.querier(T0 + HOUR, T0 + HOUR + 60_000).unwrap();
    let s = &q.select(&[Matcher::equal("host", "a")]).unwrap()[0];
    assert_eq!(s.iter().count(), 7);
    let mut it = s.iter();
    let got = it.seek(T0 + HOUR + 25_000).unwrap().unwrap();
    assert_eq!(got.t, T0 + HOUR + 30_000);
}

#[test]
fn a_batch_reports_each_bad_sample_and_keeps_the_good_ones() {
    let tmp = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let db = Db::open(tmp.path(), options(&clock)).unwrap();
    let mut b = Batch::new();
    let a = b.series(labels("a"));
    b.sample(a, T0 - 1000, 1.0);
    b.sample(a, T0 - 2000, 2.0); // out of order
    b.sample(a, T0 - 1000, 1.0); // exact duplicate: accepted and ignored
    b.sample(a, T0 - 1000, 3.0); // duplicate timestamp, other value
    b.sample(a, T0 + 2 * HOUR, 4.0); // too far in the future
    b.sample(a, T0, 5.0);
    let out = db.append_batch(&b).unwrap();
    assert_eq!(out.accepted, 3);
    let errors: Vec<_> = out
        .rejected
        .iter()
        .map(|r| (r.index, r.error.clone()))
        .collect();
    assert!(matches!(errors[0], (1, SampleError::OutOfOrder { .. })));
    assert!(matches!(
        errors[1],
        (3, SampleError::DuplicateTimestamp { .. })
    ));
    assert!(matches!(errors[2], (4, SampleError::TooFarInFuture { .. })));
    assert_eq!(errors.len(), 3);
    assert_eq!(
        read(&db, "a", i64::MIN, i64::MAX),
        [(T0 - 1000, 1.0), (T0, 5.0)]
    );
    // a single refused sample is an Error::Sample
    let e = db.append(&labels("a"), T0 - 5000, 1.0).unwrap_err();
    assert!(matches!(e, Error::Sample(SampleError::OutOfOrder { .. })));
}

#[test]
fn out_of_order_window_merges_at_read_time() {
    let tmp = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let db = Db::open(
        tmp.path(),
        Options {
            out_of_order_window_ms: 60_000,
            ..options(&clock)
        },
    )
    .unwrap();
    let r = db.append(&labels("a"), T0, 1.0).unwrap();
    db.append_ref(r, T0 - 30_000, 0.5).unwrap();
    db.append_ref(r, T0 - 10_000, 0.7).unwrap();
    let e = db.append_ref(r, T0 - 120_000, 0.1).unwrap_err();
    assert!(
        matches!(e, Error::Sample(SampleError::TooOld { .. })),
        "{e}"
    );
    let want = [(T0 - 30_000, 0.5), (T0 - 10_000, 0.7), (T0, 1.0)];
    assert_eq!(read(&db, "a", i64::MIN, i64::MAX), want);
    db.close().unwrap();
    drop(db);
    let db = Db::open(tmp.path(), options(&clock)).unwrap();
    assert_eq!(read(&db, "a", i64::MIN, i64::MAX), want);
}

#[test]
fn deletion_hides_samples_durably() {
    let tmp = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let db = Db::open(tmp.path(), options(&clock)).unwrap();
    for i in 0..10 {
        db.append(&labels("a"), T0 - 100_000 + i * 10_000, i as f64)
            .unwrap();
        db.append(&labels("b"), T0 - 100_000 + i * 10_000, i as f64)
            .unwrap();
    }
    db.delete(&[Matcher::equal("host", "a")], T0 - 80_000, T0 - 60_000)
        .unwrap();
    assert_eq!(read(&db, "a", i64::MIN, i64::MAX).len(), 7);
    assert_eq!(read(&db, "b", i64::MIN, i64::MAX).len(), 10);
    assert!(db.delete(&[Matcher::equal("host", "")], 0, 1).is_err());
    db.close().unwrap();
    drop(db);
    let db = Db::open(tmp.path(), options(&clock)).unwrap();
    assert_eq!(read(&db, "a", i64::MIN, i64::MAX).len(), 7);
    db.persist_all().unwrap();
    assert_eq!(read(&db, "a", i64::MIN, i64::MAX).len(), 7);
    assert_eq!(read(&db, "b", i64::MIN, i64::MAX).len(), 10);
}

#[test]
fn a_second_open_of_the_same_directory_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let db = Db::open(tmp.path(), options(&clock)).unwrap();
    let e = Db::open(tmp.path(), options(&clock)).unwrap_err();
    assert!(matches!(e, Error::Locked { .. }), "{e}");
    drop(db);
    Db::open(tmp.path(), options(&clock)).unwrap();
}

#[test]
fn label_names_and_values_span_head_and_segments() {
    let tmp = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let db = Db::open(tmp.path(), options(&clock)).unwrap();
    db.append(&labels("a"), T0 - 3 * HOUR, 1.0).unwrap();
    db.persist_all().unwrap();
    db.append(&labels("b"), T0, 1.0).unwrap();
    let q = db.querier(i64::MIN, i64::MAX).unwrap();
    assert_eq!(q.label_values("host", &[]).unwrap(), ["a", "b"]);
    assert_eq!(q.label_names(&[]).unwrap(), ["__name__", "host"]);
    let all = q.select(&[Matcher::equal("__name__", "cpu")]).unwrap();
    assert_eq!(all.len(), 2);
    assert!(all[0].labels() < all[1].labels());
}

#[test]
fn db_is_a_shareable_handle_and_concurrent_writers_share_fsyncs() {
    fn assert_handle<T: Clone + Send + Sync + 'static>() {}
    assert_handle::<Db>();

    let tmp = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let db = Db::open(tmp.path(), options(&clock)).unwrap();
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let db = db.clone();
            std::thread::spawn(move || {
                for i in 0..50 {
                    let mut b = Batch::new();
                    let s = b.series(labels(&format!("w{w}")));
                    b.sample(s, T0 - 100_000 + i * 1000, i as f64);
                    let out = db.append_batch(&b).unwrap();
                    assert_eq!(out.accepted, 1);
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    for w in 0..4 {
        assert_eq!(read(&db, &format!("w{w}"), i64::MIN, i64::MAX).len(), 50);
    }
}

#[test]
fn an_out_of_order_sample_cannot_overwrite_an_in_order_one() {
    // found by the model test: t1 in order, t2 in order, then t1 again with another value
    let tmp = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let db = Db::open(
        tmp.path(),
        Options {
            out_of_order_window_ms: 600_000,
            ..options(&clock)
        },
    )
    .unwrap();
    let r = db.append(&labels("a"), T0 - 254_000, 2.0).unwrap();
    db.append_ref(r, T0 - 4_000, 0.0).unwrap();
    let e = db.append_ref(r, T0 - 254_000, 0.0).unwrap_err();
    assert!(
        matches!(e, Error::Sample(SampleError::DuplicateTimestamp { .. })),
        "{e}"
    );
    db.append_ref(r, T0 - 254_000, 2.0).unwrap(); // the same value again is fine
    assert_eq!(
        read(&db, "a", i64::MIN, i64::MAX),
        [(T0 - 254_000, 2.0), (T0 - 4_000, 0.0)]
    );
}

#[test]
fn idle_series_leave_the_head_and_come_back_whole() {
    let tmp = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let db = Db::open(tmp.path(), options(&clock)).unwrap();
    db.append(&labels("a"), T0 - 3 * HOUR, 1.0).unwrap();
    db.append(&labels("b"), T0 - 3 * HOUR, 1.0).unwrap();
    db.persist_all().unwrap();
    assert_eq!(
        db.stats().unwrap().head_series,
        0,
        "persisted, idle series leave the head"
    );
    // a comes back: its old samples (segment) and new ones (head) read as one series
    db.append(&labels("a"), T0, 2.0).unwrap();
    assert_eq!(db.stats().unwrap().head_series, 1);
    assert_eq!(
        read(&db, "a", i64::MIN, i64::MAX),
        [(T0 - 3 * HOUR, 1.0), (T0, 2.0)]
    );
    let q = db.querier(i64::MIN, i64::MAX).unwrap();
    assert_eq!(q.label_values("host", &[]).unwrap(), ["a", "b"]);
    db.close().unwrap();
    drop(db);
    let db = Db::open(tmp.path(), options(&clock)).unwrap();
    assert_eq!(
        read(&db, "a", i64::MIN, i64::MAX),
        [(T0 - 3 * HOUR, 1.0), (T0, 2.0)]
    );
}

#[test]
fn persist_all_skips_empty_block_ranges_after_a_time_gap() {
    let dir = tempfile::tempdir().unwrap();
    let year = 365 * 24 * HOUR;
    let clock = Arc::new(ManualClock::new(T0 + year));
    let db = Db::open(
        dir.path(),
        Options {
            block_range_ms: HOUR,
            out_of_order_window_ms: 2 * year,
            background_maintenance: false,
            ..options(&clock)
        },
    )
    .unwrap();
    db.append(&labels("a"), T0, 1.0).unwrap();
    db.append(&labels("b"), T0 + year, 2.0).unwrap();
    // One range for each sample, not the 8,760 empty hours between them.
    assert_eq!(db.persist_all().unwrap(), 2);
    assert_eq!(db.stats().unwrap().segments.len(), 2);
    assert_eq!(read(&db, "a", T0, T0 + year), vec![(T0, 1.0)]);
    assert_eq!(read(&db, "b", T0, T0 + year), vec![(T0 + year, 2.0)]);
}

#[test]
fn label_queries_skip_the_head_outside_its_time_range() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0 + HOUR));
    let db = Db::open(dir.path(), options(&clock)).unwrap();
    db.append(&labels("a"), T0, 1.0).unwrap();
    db.append(&labels("a"), T0 + HOUR, 2.0).unwrap();
    let inside = db.querier(T0 - HOUR, T0 + 2 * HOUR).unwrap();
    assert_eq!(inside.label_names(&[]).unwrap(), vec!["__name__", "host"]);
    assert_eq!(inside.label_values("host", &[]).unwrap(), vec!["a"]);
    let before = db.querier(T0 - 10 * HOUR, T0 - 5 * HOUR).unwrap();
    assert!(before.label_names(&[]).unwrap().is_empty());
    assert!(before.label_values("host", &[]).unwrap().is_empty());
    let after = db.querier(T0 + 2 * HOUR, T0 + 3 * HOUR).unwrap();
    assert!(after.label_values("host", &[]).unwrap().is_empty());
}
