//! Model test: random interleavings of appends (some out of order, some duplicates),
//! persists, deletions, reopens and queries against a `BTreeMap` oracle that holds
//! exactly the samples the database acknowledged.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use common::T0;
use proptest::prelude::*;
use tsdb_core::{Batch, Db, ManualClock, Options};
use tsdb_index::{Labels, Matcher};

const SERIES: usize = 4;

#[derive(Clone, Debug)]
enum Op {
    /// Append to `series` at the cursor minus `back` (some land out of order).
    Append {
        series: usize,
        back: i64,
        v: u8,
    },
    /// Move time forward.
    Advance(i64),
    PersistIfDue,
    PersistAll,
    /// Merge the segments that are due (`Db::compact`).
    Compact,
    Delete {
        series: usize,
        from_back: i64,
        len: i64,
    },
    Reopen,
    Query {
        from_back: i64,
        len: i64,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (0..SERIES, 0i64..400, 0u8..4).prop_map(|(series, back, v)| Op::Append { series, back, v }),
        4 => (1i64..300).prop_map(Op::Advance),
        1 => Just(Op::PersistIfDue),
        1 => Just(Op::PersistAll),
        1 => Just(Op::Compact),
        1 => (0..SERIES, 0i64..2000, 0i64..500).prop_map(|(series, from_back, len)| Op::Delete { series, from_back, len }),
        1 => Just(Op::Reopen),
        2 => (0i64..3000, 0i64..3000).prop_map(|(from_back, len)| Op::Query { from_back, len }),
    ]
}

fn labels(i: usize) -> Labels {
    Labels::new([("__name__", "m"), ("s", &i.to_string())]).unwrap()
}

type Oracle = BTreeMap<usize, BTreeMap<i64, f64>>;

fn check(db: &Db, oracle: &Oracle, deleted: &[(usize, i64, i64)], mint: i64, maxt: i64) {
    let q = db.querier(mint, maxt).unwrap();
    let found = q.select(&[Matcher::equal("__name__", "m")]).unwrap();
    let mut got: Oracle = BTreeMap::new();
    for s in &found {
        let i: usize = s.labels().get("s").unwrap().parse().unwrap();
        let samples: BTreeMap<i64, f64> =
            s.iter().map(|r| r.map(|s| (s.t, s.v)).unwrap()).collect();
        assert_eq!(
            samples.len(),
            s.iter().count(),
            "duplicate timestamps in a series"
        );
        // The bulk read gives exactly what iterating gives, also after a first `next`.
        let iterated: Vec<(i64, u64)> = s
            .iter()
            .map(|r| r.map(|s| (s.t, s.v.to_bits())).unwrap())
            .collect();
        let (mut ts, mut vs) = (Vec::new(), Vec::new());
        s.iter().read_into(&mut ts, &mut vs).unwrap();
        let bulk: Vec<(i64, u64)> = ts
            .iter()
            .zip(&vs)
            .map(|(&t, &v)| (t, v.to_bits()))
            .collect();
        assert_eq!(bulk, iterated);
        let mut it = s.iter();
        if let Some(first) = it.next() {
            let first = first.unwrap();
            let (mut ts, mut vs) = (vec![first.t], vec![first.v]);
            it.read_into(&mut ts, &mut vs).unwrap();
            let resumed: Vec<(i64, u64)> = ts
                .iter()
                .zip(&vs)
                .map(|(&t, &v)| (t, v.to_bits()))
                .collect();
            assert_eq!(resumed, iterated);
        }
        if !samples.is_empty() {
            got.insert(i, samples);
        }
    }
    let want: Oracle = oracle
        .iter()
        .map(|(&i, m)| {
            let m: BTreeMap<i64, f64> = m
                .range(mint..=maxt)
                .filter(|(t, _)| {
                    !deleted
                        .iter()
                        .any(|&(s, a, b)| s == i && **t >= a && **t <= b)
                })
                .map(|(&t, &v)| (t, v))
                .collect();
            (i, m)
        })
        .filter(|(_, m)| !m.is_empty())
        .collect();
    assert_eq!(got, want, "query [{mint}, {maxt}]");
}

fn run(ops: Vec<Op>, ooo_window: i64) {
    let tmp = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0 + 1_000_000));
    let options = || Options {
        block_range_ms: 1000,
        out_of_order_window_ms: ooo_window,
        clock: clock.clone(),
        sync: tsdb_core::wal::SyncMode::Never,
        chunk_max_samples: 8,
        ..Options::default()
    };
    let mut db = Db::open(tmp.path(), options()).unwrap();
    let mut oracle: Oracle = BTreeMap::new();
    let mut deleted: Vec<(usize, i64, i64)> = Vec::new();
    let mut cursor = T0;
    for op in ops {
        match op {
            Op::Append { series, back, v } => {
                let t = cursor - back;
                let mut b = Batch::new();
                let s = b.series(labels(series));
                b.sample(s, t, f64::from(v));
                let persisted_until = db.stats().unwrap().persisted_until;
                let out = db.append_batch(&b).unwrap();
                if out.accepted == 1 {
                    let stored = oracle.entry(series).or_default();
                    match stored.get(&t) {
                        Some(&p) if p != f64::from(v) => {
                            // A late sample (older than what is persisted) at a time a
                            // segment already holds: the head cannot see the segment's
                            // value, so it is stored too, and reads keep the first one.
                            assert!(
                                t < persisted_until,
                                "accepted a conflicting duplicate at {t} in the head"
                            );
                        }
                        _ => {
                            stored.insert(t, f64::from(v));
                        }
                    }
                } else {
                    // refused: must not be an exact repeat of an acknowledged sample
                    assert_eq!(out.rejected.len(), 1);
                }
            }
            Op::Advance(dt) => cursor += dt,
            Op::PersistIfDue => {
                db.persist_if_due().unwrap();
            }
            Op::PersistAll => {
                db.persist_all().unwrap();
            }
            Op::Compact => {
                db.compact().unwrap();
            }
            Op::Delete {
                series,
                from_back,
                len,
            } => {
                let (a, b) = (cursor - from_back, cursor - from_back + len);
                db.delete(&[Matcher::equal("s", series.to_string())], a, b)
                    .unwrap();
                deleted.push((series, a, b));
            }
            Op::Reopen => {
                db.close().unwrap();
                drop(db);
                db = Db::open(tmp.path(), options()).unwrap();
            }
            Op::Query { from_back, len } => {
                let mint = cursor - from_back;
                check(&db, &oracle, &deleted, mint, mint + len);
            }
        }
    }
    check(&db, &oracle, &deleted, i64::MIN, i64::MAX);
    db.close().unwrap();
    drop(db);
    let db = Db::open(tmp.path(), options()).unwrap();
    check(&db, &oracle, &deleted, i64::MIN, i64::MAX);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn in_order_only(ops in proptest::collection::vec(op(), 1..120)) {
        run(ops, 0);
    }

    #[test]
    fn with_out_of_order_window(ops in proptest::collection::vec(op(), 1..120)) {
        run(ops, 250);
    }
}
