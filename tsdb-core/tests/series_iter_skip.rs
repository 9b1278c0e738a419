//! `SeriesIter::skip_damaged`: a reader that salvages what is readable (`tsdb export`)
//! goes on past a damaged chunk, learns the time range it lost (`damaged_range`), and
//! gets every other sample of the series, from the same segment's neighbours and from
//! later segments. Without it the iterator ends at the error, as queries want.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use tsdb_core::{Db, ManualClock, Options};
use tsdb_index::{Labels, Matcher};

const T0: i64 = 1_700_000_000_000;

fn options() -> Options {
    Options {
        block_range_ms: 60_000,
        clock: Arc::new(ManualClock::new(T0 + 1_000_000_000)),
        // the segments as persisted, not merged by a compaction in the background
        background_maintenance: false,
        ..Options::default()
    }
}

#[test]
fn reading_goes_on_past_a_damaged_chunk_when_asked() {
    let tmp = tempfile::tempdir().unwrap();
    let db = Db::open(tmp.path(), options()).unwrap();
    for i in 0..36 {
        for s in 0..2 {
            let l = Labels::new([("__name__", "c"), ("s", &s.to_string())]).unwrap();
            db.append(&l, T0 + i * 5_000, i as f64).unwrap();
        }
    }
    db.persist_all().unwrap();
    assert!(db.stats().unwrap().segments.len() >= 3);
    db.close().unwrap();
    drop(db);

    // the first chunk of the middle segment belongs to the first series, c{s="0"}
    let chunks = tmp.path().join("segments/00000002/chunks");
    let mut bytes = std::fs::read(&chunks).unwrap();
    bytes[12] ^= 0x10;
    std::fs::write(&chunks, &bytes).unwrap();

    let db = Db::open(tmp.path(), options()).unwrap();
    let q = db.querier(i64::MIN, i64::MAX).unwrap();
    let series = q.select(&[Matcher::equal("__name__", "c")]).unwrap();
    assert_eq!(series.len(), 2);
    let all: Vec<i64> = (0..36).map(|i| T0 + i * 5_000).collect();

    // as a query reads: the error, then the end
    let mut it = series[0].iter();
    let mut ts = Vec::new();
    let mut vs = Vec::new();
    assert!(it.read_into(&mut ts, &mut vs).is_err());
    let (from, to) = it.damaged_range().unwrap();
    assert!(it.next().is_none());
    assert_eq!(
        ts,
        all.iter()
            .copied()
            .filter(|&t| t < from)
            .collect::<Vec<_>>()
    );

    // salvaging: everything but the damaged range
    it.skip_damaged();
    it.read_into(&mut ts, &mut vs).unwrap();
    let want: Vec<i64> = all
        .iter()
        .copied()
        .filter(|&t| t < from || t > to)
        .collect();
    assert_eq!(ts, want);
    assert!(want.len() < all.len() && want.iter().any(|&t| t > to));
    assert_eq!(vs.len(), ts.len());
    assert!(it.damaged_range().is_none(), "no damage met since");

    // sample by sample too
    let mut it = series[0].iter();
    let mut got = Vec::new();
    while let Some(r) = it.next() {
        match r {
            Ok(s) => got.push(s.t),
            Err(_) => it.skip_damaged(),
        }
    }
    assert_eq!(got, want);

    // the other series of the damaged segment reads whole through the same querier
    let other: Vec<i64> = series[1].iter().map(|r| r.unwrap().t).collect();
    assert_eq!(other, all);

    // skip_damaged on a healthy iterator changes nothing
    let mut it = series[1].iter();
    it.skip_damaged();
    assert_eq!(it.count(), 36);
}
