//! Compaction: two days of raw segments (with overlapping late segments and a deletion)
//! merged into 6 h and 24 h segments; every sample reads back exactly as before (the
//! deleted ones stay gone), a querier opened before the compaction keeps reading its
//! segments until it ends, and a reopen sees the compacted set.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use common::T0;
use tsdb_core::{Batch, Db, ManualClock, Options};
use tsdb_index::{Labels, Matcher};

const HOUR: i64 = 3_600_000;
/// Day-aligned start, so level windows fall on whole days.
const START: i64 = T0 / (24 * HOUR) * (24 * HOUR);

fn options() -> Options {
    Options {
        clock: Arc::new(ManualClock::new(START + 60 * HOUR)),
        out_of_order_window_ms: 60 * HOUR,
        background_maintenance: false,
        ..Options::default()
    }
}

fn labels(i: usize) -> Labels {
    Labels::new([("__name__", "m"), ("i", &i.to_string())]).unwrap()
}

type Data = BTreeMap<String, Vec<(i64, u64)>>;

/// Every sample, by series (values as bits).
fn read(db: &Db) -> Data {
    let q = db.querier(i64::MIN, i64::MAX - 1).unwrap();
    q.select(&[Matcher::equal("__name__", "m")])
        .unwrap()
        .iter()
        .map(|s| {
            let samples = s
                .iter()
                .map(|r| r.map(|x| (x.t, x.v.to_bits())).unwrap())
                .collect();
            (s.labels().to_string(), samples)
        })
        .collect()
}

fn segments(db: &Db) -> Vec<(i64, i64, u32)> {
    let mut v: Vec<(i64, i64, u32)> = db
        .stats()
        .unwrap()
        .segments
        .iter()
        .map(|(_, m, _)| (m.min_t - START, m.max_t - START, m.level))
        .collect();
    v.sort();
    v
}

#[test]
fn two_days_compact_into_days_and_read_back_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), options()).unwrap();
    // 50 hours of 20 series at 1-minute steps; series 19 starts at hour 30
    for m in 0..50 * 60 {
        let mut b = Batch::new();
        for i in 0..20 {
            if i == 19 && m < 30 * 60 {
                continue;
            }
            let s = b.series(labels(i));
            b.sample(s, START + m * 60_000, (m * 7 + i as i64) as f64 * 0.5);
        }
        assert!(db.append_batch(&b).unwrap().rejected.is_empty());
    }
    db.persist_if_due().unwrap();
    // late samples into hour 3 and hour 27, as overlapping segments
    let mut b = Batch::new();
    for i in 0..5 {
        let s = b.series(labels(i));
        b.sample(s, START + 3 * HOUR + 30_001, 1e6 + i as f64);
        let s2 = b.series(labels(100 + i));
        b.sample(s2, START + 27 * HOUR + 1, 2e6 + i as f64);
    }
    assert!(db.append_batch(&b).unwrap().rejected.is_empty());
    db.persist_all().unwrap();
    // a deletion inside the first day
    db.delete(
        &[Matcher::equal("i", "7")],
        START + 5 * HOUR,
        START + 9 * HOUR,
    )
    .unwrap();
    let before = read(&db);
    let raw_segments = segments(&db);
    assert!(raw_segments.iter().all(|s| s.2 == 0));
    assert!(raw_segments.len() >= 25, "{raw_segments:?}");

    // a querier from before the compaction
    let old = db.querier(i64::MIN, i64::MAX - 1).unwrap();
    let stats = db.compact().unwrap();
    assert!(
        stats.segments_replaced > stats.segments_written,
        "{stats:?}"
    );
    let after = segments(&db);
    // the two whole days are one segment each; what is left of hours 48..50 stays raw
    let day = 24 * HOUR;
    assert!(after.contains(&(0, day, 2)), "{after:?}");
    assert!(after.contains(&(day, 2 * day, 2)), "{after:?}");
    assert!(
        after
            .iter()
            .all(|&(min, max, level)| level == 2 || min >= 2 * day && max <= 2 * day + 6 * HOUR),
        "{after:?}"
    );
    assert_eq!(read(&db), before);
    // the old querier still reads its (replaced) segments
    let from_old: usize = old
        .select(&[Matcher::equal("__name__", "m")])
        .unwrap()
        .iter()
        .map(|s| s.iter().count())
        .sum();
    let want: usize = before.values().map(Vec::len).sum();
    assert_eq!(from_old, want);
    let on_disk =
        |db_dir: &std::path::Path| std::fs::read_dir(db_dir.join("segments")).unwrap().count();
    let with_old = on_disk(dir.path());
    drop(old);
    db.compact().unwrap(); // nothing due: removes what no querier needs
    let without_old = on_disk(dir.path());
    assert!(without_old < with_old, "{without_old} < {with_old}");
    assert_eq!(without_old, after.len());

    // nothing left to do, and a reopen sees the same
    assert_eq!(db.compact().unwrap().segments_written, 0);
    db.close().unwrap();
    drop(db);
    let db = Db::open(dir.path(), options()).unwrap();
    assert_eq!(segments(&db), after);
    assert_eq!(read(&db), before);
    // the deletion still holds, and the merged data has no trace of it
    let seven = &before["m{i=\"7\"}"];
    assert!(seven
        .iter()
        .all(|&(t, _)| !(START + 5 * HOUR..=START + 9 * HOUR).contains(&t)));
}

type Oracle = BTreeMap<usize, BTreeMap<i64, u64>>;

fn append_minutes(db: &Db, oracle: &mut Oracle, from: i64, to: i64) {
    for m in from..to {
        let mut b = Batch::new();
        for i in 0..10 {
            let t = START + m * 60_000;
            let v = (m * 3 + i as i64) as f64;
            let s = b.series(labels(i));
            b.sample(s, t, v);
            oracle.entry(i).or_default().insert(t, v.to_bits());
        }
        assert!(db.append_batch(&b).unwrap().rejected.is_empty());
    }
}

#[test]
fn persists_and_deletions_go_on_while_a_compaction_writes() {
    // two days of raw segments compact on one thread while another appends, persists
    // and deletes: afterwards every read equals the oracle, however the steps interleaved
    let dir = tempfile::tempdir().unwrap();
    let db = Arc::new(Db::open(dir.path(), options()).unwrap());
    let mut oracle = Oracle::new();
    append_minutes(&db, &mut oracle, 0, 48 * 60);
    db.persist_all().unwrap();
    let compacting = {
        let db = db.clone();
        std::thread::spawn(move || {
            let mut written = 0;
            for _ in 0..3 {
                written += db.compact().unwrap().segments_written;
            }
            written
        })
    };
    for round in 0..6i64 {
        let m = 48 * 60 + round * 60;
        append_minutes(&db, &mut oracle, m, m + 60);
        db.persist_all().unwrap();
        let (a, b) = (START + round * HOUR, START + round * HOUR + 30 * 60_000);
        db.delete(&[Matcher::equal("i", round.to_string())], a, b)
            .unwrap();
        if let Some(series) = oracle.get_mut(&(round as usize)) {
            series.retain(|t, _| !(a..=b).contains(t));
        }
    }
    assert!(
        compacting.join().unwrap() > 0,
        "the compaction wrote segments"
    );
    db.compact().unwrap();
    let want: Data = oracle
        .iter()
        .map(|(i, m)| {
            (
                labels(*i).to_string(),
                m.iter().map(|(t, v)| (*t, *v)).collect(),
            )
        })
        .collect();
    assert_eq!(read(&db), want);
}
