//! The on-disk index, streamed through `IndexWriter` and reopened, answers exactly like
//! a linear scan over the label sets (and like the in-memory index of the same sets),
//! with series numbered in label order.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use proptest::prelude::*;
use tsdb_index::{DiskIndex, Error, IndexWriter, Labels, Matcher};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn disk_index_matches_linear_scan(
        series in proptest::collection::vec(common::label_set(), 0..40),
        selectors in common::selectors(),
    ) {
        let mem = common::build(&series);
        let bytes = common::write_disk(&series);
        let disk = DiskIndex::open(&bytes).unwrap();
        let sorted = common::sorted(&series);
        prop_assert_eq!(disk.len(), sorted.len());
        common::check(&disk, &sorted, &selectors)?;
        prop_assert_eq!(disk.stats(5).unwrap(), mem.stats(5));
    }

    /// A set out of order is refused and leaves the writer as it was.
    #[test]
    fn index_writer_matches_linear_scan(
        series in proptest::collection::vec(common::label_set(), 0..40),
        selectors in common::selectors(),
    ) {
        let sorted = common::sorted(&series);
        let mut w = IndexWriter::new();
        for (i, l) in sorted.iter().enumerate() {
            prop_assert_eq!(w.add(l).unwrap(), i as u32);
            // The same set again, or an earlier one, is out of order.
            let refused = w.add(&sorted[i / 2]);
            prop_assert!(matches!(refused, Err(Error::SeriesOutOfOrder { .. })), "{:?}", refused);
        }
        prop_assert_eq!(w.len(), sorted.len());
        let bytes = w.finish_to_vec().unwrap();
        prop_assert_eq!(&bytes, &common::write_disk(&series));
        let disk = DiskIndex::open(&bytes).unwrap();
        common::check(&disk, &sorted, &selectors)?;
    }
}

#[test]
fn empty_index_round_trips() {
    let bytes = IndexWriter::new().finish_to_vec().unwrap();
    let disk = DiskIndex::open(&bytes).unwrap();
    assert!(disk.is_empty());
    assert_eq!(disk.label_names(&[]).unwrap(), Vec::<String>::new());
    let q = [Matcher::equal("a", "b")];
    assert!(disk.select(&q).unwrap().is_empty());
}

#[test]
fn series_are_numbered_in_label_order() {
    let series: Vec<Labels> = (0..100)
        .map(|i| Labels::new([("__name__", "up"), ("i", &i.to_string())]).unwrap())
        .collect();
    let bytes = common::write_disk(&series);
    let disk = DiskIndex::open(&bytes).unwrap();
    let q = [Matcher::regex("i", "1.").unwrap()];
    assert_eq!(disk.select(&q).unwrap().len(), 10);
    // Label order: "0", "1", "10", "11", ...
    let l = Labels::new([("__name__", "up"), ("i", "10")]).unwrap();
    assert_eq!(disk.labels(2).unwrap(), Some(l));
}
