//! Model test: random interleavings of appends (some out of order, some duplicates),
//! persists, compactions, rollups, retention steps, deletions, reopens and queries
//! against a `BTreeMap` oracle that holds exactly the samples the database acknowledged.
//! The downsampling rule keeps raw samples 2 s behind the cursor and 100 ms rollups
//! forever: raw reads must give the oracle's samples from where raw data begins, and
//! the rollups read before it the oracle's samples rolled up.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use common::T0;
use proptest::prelude::*;
use tsdb_core::rollup::rollup;
use tsdb_core::{Batch, Db, DownsampleRule, Downsampling, ManualClock, Options, Tier};
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
    /// Compute the rollups that are due (`Db::downsample`).
    Downsample,
    /// Delete what the rules no longer keep (`Db::apply_retention`).
    Retention,
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
        1 => Just(Op::Downsample),
        1 => Just(Op::Retention),
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
    // raw samples from where raw data begins in this snapshot (before it: rollups,
    // checked below); background maintenance may move it for later queriers
    let raw_from = q.raw_from().unwrap_or(i64::MIN);
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
            let from = mint.max(raw_from);
            let m: BTreeMap<i64, f64> = m
                .range(from..=maxt.max(from))
                .filter(|(t, _)| **t <= maxt)
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
    // the rollups, over everything: the oracle's samples before raw data begins, rolled
    // up, buckets any deletion overlaps left out
    if (mint, maxt) != (i64::MIN, i64::MAX) {
        return;
    }
    for s in q.select(&[Matcher::equal("__name__", "m")]).unwrap() {
        let i: usize = s.labels().get("s").unwrap().parse().unwrap();
        let mut got = Vec::new();
        s.read_buckets_into(&mut got).unwrap();
        let got: Vec<(i64, u64, u64)> = got
            .iter()
            .map(|b| (b.end, b.agg.count, b.agg.sum.to_bits()))
            .collect();
        let gone = |t0: i64, t1: i64| {
            deleted
                .iter()
                .any(|&(x, a, b)| x == i && a <= t1 && b >= t0)
        };
        let (ts, vs): (Vec<i64>, Vec<f64>) = oracle
            .get(&i)
            .map(|m| {
                m.range(..raw_from)
                    .filter(|(t, _)| !gone(**t, **t))
                    .map(|(&t, &v)| (t, v))
                    .unzip()
            })
            .unwrap_or_default();
        let want: Vec<(i64, u64, u64)> = rollup(&ts, &vs, RES)
            .into_iter()
            .filter(|(end, _)| !gone(end - RES + 1, *end))
            .map(|(end, a)| (end, a.count, a.sum.to_bits()))
            .collect();
        assert_eq!(got, want, "series {i}: rollups before {raw_from}");
    }
}

/// The rollup resolution of the model's rule.
const RES: i64 = 100;
/// How far the clock runs ahead of the cursor (the model's rule keeps raw samples this
/// long plus 2 s: 2 s behind the cursor).
const CLOCK_AHEAD: i64 = 1_000_000;

fn run(ops: Vec<Op>, ooo_window: i64) {
    let tmp = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0 + CLOCK_AHEAD));
    let options = || Options {
        block_range_ms: 250,
        downsampling: Downsampling {
            rules: vec![DownsampleRule {
                matchers: vec![],
                tiers: vec![Tier {
                    after_ms: CLOCK_AHEAD + 2_000,
                    resolution_ms: RES,
                }],
                keep_for_ms: None,
            }],
        },
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
            Op::Advance(dt) => {
                cursor += dt;
                clock.set(cursor + CLOCK_AHEAD);
            }
            Op::PersistIfDue => {
                db.persist_if_due().unwrap();
            }
            Op::PersistAll => {
                db.persist_all().unwrap();
            }
            Op::Compact => {
                db.compact().unwrap();
            }
            Op::Downsample => {
                db.downsample().unwrap();
            }
            Op::Retention => {
                db.apply_retention().unwrap();
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
