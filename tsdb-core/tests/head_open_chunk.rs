//! Reading the head's open chunks: a querier's view of a series' open chunk is the chunk
//! as it stood when the series was selected (appends that follow, even one that fills and
//! seals the chunk, do not change it), and `select_range` reads a part of the querier's
//! range.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use tsdb_core::{Db, ManualClock, Options, SeriesEntry};
use tsdb_index::{Labels, Matcher};

const T0: i64 = 1_700_000_000_000;
const STEP: i64 = 10_000;

fn open(dir: &tempfile::TempDir) -> Db {
    let clock = Arc::new(ManualClock::new(T0 + 2_100 * STEP));
    Db::open(
        dir.path(),
        Options {
            clock,
            background_maintenance: false,
            ..Options::default()
        },
    )
    .unwrap()
}

fn labels() -> Labels {
    Labels::new([("__name__", "up"), ("job", "a")]).unwrap()
}

fn samples(entry: &SeriesEntry) -> Vec<(i64, f64)> {
    let (mut ts, mut vs) = (Vec::new(), Vec::new());
    entry.iter().read_into(&mut ts, &mut vs).unwrap();
    ts.into_iter().zip(vs).collect()
}

fn value(i: i64) -> f64 {
    // decimals, then a value that rescales the chunk, then noise: the encoder re-encodes
    // its streams on the way, which a frozen reader must not see either
    match i {
        0..=99 => i as f64 * 0.5,
        100 => 1.234_567,
        _ => (i as f64).sqrt(),
    }
}

#[test]
fn a_selected_open_chunk_does_not_change_under_later_appends() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&dir);
    let series = labels();
    for i in 0..50 {
        db.append(&series, T0 + i * STEP, value(i)).unwrap();
    }
    let q = db.querier(T0, T0 + 10_000 * STEP).unwrap();
    let found = q.select(&[Matcher::equal("job", "a")]).unwrap();
    assert_eq!(found.len(), 1);
    // 2,000 more: past the rescale, past the chunk filling (1,024) and sealing.
    for i in 50..2_050 {
        db.append(&series, T0 + i * STEP, value(i)).unwrap();
    }
    let want: Vec<(i64, f64)> = (0..50).map(|i| (T0 + i * STEP, value(i))).collect();
    assert_eq!(samples(&found[0]), want);
    // A new querier sees everything, the sealed chunk and the new open one.
    let all = db.querier(T0, T0 + 10_000 * STEP).unwrap();
    let found = all.select(&[Matcher::equal("job", "a")]).unwrap();
    let want: Vec<(i64, f64)> = (0..2_050).map(|i| (T0 + i * STEP, value(i))).collect();
    assert_eq!(samples(&found[0]), want);
    // ... and reading it twice gives the same answer (the handle is not consumed).
    assert_eq!(samples(&found[0]), want);
}

#[test]
fn select_range_reads_a_part_of_the_queriers_range() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&dir);
    let series = labels();
    for i in 0..100 {
        db.append(&series, T0 + i * STEP, i as f64).unwrap();
    }
    let q = db.querier(T0 + 10 * STEP, T0 + 60 * STEP).unwrap();
    let m = [Matcher::equal("job", "a")];
    let part = q.select_range(&m, T0 + 20 * STEP, T0 + 30 * STEP).unwrap();
    let want: Vec<(i64, f64)> = (20..=30).map(|i| (T0 + i * STEP, i as f64)).collect();
    assert_eq!(samples(&part[0]), want);
    // Clipped to the querier's range.
    let wide = q.select_range(&m, T0, T0 + 1_000 * STEP).unwrap();
    let want: Vec<(i64, f64)> = (10..=60).map(|i| (T0 + i * STEP, i as f64)).collect();
    assert_eq!(samples(&wide[0]), want);
    assert!(q
        .select_range(&m, T0 + 61 * STEP, T0 + 90 * STEP)
        .unwrap()
        .is_empty());
}
