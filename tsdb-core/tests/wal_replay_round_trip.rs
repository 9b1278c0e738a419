//! Whatever is appended comes back from replay after a reopen, exactly and in order,
//! across any number of reopen cycles and log file sizes.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic in a test is a failed assertion

mod common;

use common::open_wal;
use proptest::prelude::*;
use tsdb_core::fs::RealFs;
use tsdb_core::wal::{Record, RefSample, Wal, WalOptions};
use tsdb_index::{LabelLimits, Labels};

fn open(dir: &std::path::Path, opts: &WalOptions) -> (Wal, Vec<Record>) {
    let (wal, got, report) = open_wal(RealFs::arc(), dir, opts.clone()).unwrap();
    assert_eq!(report.records, got.len() as u64);
    assert!(report.torn_tail.is_none(), "{report:?}");
    (wal, got)
}

fn arb_labels() -> impl Strategy<Value = Labels> {
    let name = "[a-zA-Z_][a-zA-Z0-9_]{0,10}".prop_filter("reserved", |n| !n.starts_with("__"));
    let value = proptest::string::string_regex("\\PC{1,16}").unwrap();
    (
        "[a-zA-Z_:][a-zA-Z0-9_:]{0,16}",
        proptest::collection::btree_map(name, value, 0..6),
    )
        .prop_map(|(metric, rest)| {
            let mut pairs: Vec<(String, String)> = rest.into_iter().collect();
            pairs.push(("__name__".into(), metric));
            Labels::with_limits(pairs, &LabelLimits::default()).unwrap()
        })
}

fn arb_value() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<u64>().prop_map(f64::from_bits),
        Just(f64::from_bits(0x7ff0_0000_0000_0002)),
        any::<f64>(),
    ]
}

fn arb_time() -> impl Strategy<Value = i64> {
    prop_oneof![Just(i64::MIN), Just(i64::MAX), any::<i64>(), 0i64..10_000]
}

fn arb_record() -> impl Strategy<Value = Record> {
    prop_oneof![
        (any::<u64>(), arb_labels())
            .prop_map(|(series_ref, labels)| Record::Series { series_ref, labels }),
        proptest::collection::vec(
            (any::<u64>(), arb_time(), arb_value()).prop_map(|(series_ref, t, v)| RefSample {
                series_ref,
                t,
                v
            }),
            0..40
        )
        .prop_map(Record::Samples),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Batches appended over several sessions (each closed and reopened) replay to the
    /// concatenation of every batch, with tiny and default log file sizes.
    #[test]
    fn replay_returns_exactly_what_was_appended(
        sessions in proptest::collection::vec(
            proptest::collection::vec(proptest::collection::vec(arb_record(), 0..4), 0..6),
            1..4,
        ),
        tiny in any::<bool>(),
    ) {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("wal");
        let opts = WalOptions {
            file_size: if tiny { 256 } else { WalOptions::default().file_size },
            ..WalOptions::default()
        };
        let mut model: Vec<Record> = Vec::new();
        for batches in &sessions {
            let (wal, got) = open(&dir, &opts);
            prop_assert_eq!(&got, &model);
            for b in batches {
                let lsn = wal.append(b).unwrap();
                wal.commit(lsn).unwrap();
                model.extend(b.iter().cloned());
            }
            wal.close().unwrap();
        }
        let (wal, got) = open(&dir, &opts);
        prop_assert_eq!(&got, &model);
        wal.close().unwrap();
    }
}

/// Dropping the handle without `close` still flushes (best effort) and replays.
#[test]
fn drop_without_close_replays() {
    let tmp = tempfile::tempdir().unwrap();
    let opts = WalOptions::default();
    let recs: Vec<Record> = (0..100)
        .map(|i| {
            Record::Samples(vec![RefSample {
                series_ref: i,
                t: i as i64,
                v: f64::from_bits(0x7ff0_0000_0000_0002),
            }])
        })
        .collect();
    {
        let (wal, _) = open(tmp.path(), &opts);
        wal.append(&recs).unwrap();
    }
    let (_wal, got) = open(tmp.path(), &opts);
    assert_eq!(got, recs);
}
