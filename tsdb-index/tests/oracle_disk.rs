//! The on-disk index, written from a random in-memory index (whole, or a subset) or
//! streamed through `IndexWriter`, and reopened, answers exactly like a linear scan over
//! the label sets, with series numbered in label order.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use proptest::prelude::*;
use tsdb_index::{DiskIndex, Error, IndexWriter, Labels, Matcher, MemIndex, RoaringBitmap};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn disk_index_matches_linear_scan(
        series in proptest::collection::vec(common::label_set(), 0..40),
        selectors in common::selectors(),
    ) {
        let mem = common::build(&series);
        let bytes = mem.to_bytes().unwrap();
        let disk = DiskIndex::open(&bytes).unwrap();
        let sorted = common::sorted(&series);
        prop_assert_eq!(disk.len(), sorted.len());
        common::check(&disk, &sorted, &selectors)?;
        prop_assert_eq!(disk.stats(5).unwrap(), mem.stats(5));
    }

    /// `write_subset` writes exactly the series asked for, renumbered in label order, and
    /// says which old id each new id is.
    #[test]
    fn subsets_are_written_in_label_order_with_their_renumbering(
        series in proptest::collection::vec(common::label_set(), 0..40),
        keep in proptest::collection::vec(any::<bool>(), 40),
        removed in proptest::collection::vec(any::<bool>(), 40),
        selectors in common::selectors(),
    ) {
        let mem = common::build(&series);
        let unique = common::dedup(&series);
        // Removed series elsewhere in the index do not matter.
        let gone: RoaringBitmap = (0..unique.len() as u32)
            .filter(|&i| removed[i as usize] && !keep[i as usize])
            .collect();
        mem.remove(&gone);
        let ids: RoaringBitmap =
            (0..unique.len() as u32).filter(|&i| keep[i as usize]).collect();
        let mut bytes = Vec::new();
        let map = mem.write_subset(&ids, &mut bytes).unwrap();
        let mut want: Vec<(Labels, u32)> =
            ids.iter().map(|i| (unique[i as usize].clone(), i)).collect();
        want.sort();
        prop_assert_eq!(map.len(), want.len());
        for (new, (_, old)) in want.iter().enumerate() {
            prop_assert_eq!(map.old_id(new as u32), Some(*old));
            prop_assert_eq!(map.old_ids()[new], *old);
            prop_assert_eq!(map.new_id(*old), Some(new as u32));
        }
        prop_assert_eq!(map.old_id(want.len() as u32), None);
        for i in 0..unique.len() as u32 {
            if !ids.contains(i) {
                prop_assert_eq!(map.new_id(i), None);
            }
        }
        let disk = DiskIndex::open(&bytes).unwrap();
        let subset: Vec<Labels> = want.into_iter().map(|(l, _)| l).collect();
        common::check(&disk, &subset, &selectors)?;
    }

    /// Streaming sorted label sets through `IndexWriter` gives the same bytes as writing
    /// a `MemIndex` of them; a set out of order is refused and leaves the writer as it was.
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
        prop_assert_eq!(&bytes, &common::build(&series).to_bytes().unwrap());
        let disk = DiskIndex::open(&bytes).unwrap();
        common::check(&disk, &sorted, &selectors)?;
    }
}

#[test]
fn unknown_ids_are_refused_by_write_subset() {
    let mem = MemIndex::new();
    let id = mem
        .get_or_insert(&Labels::new([("__name__", "up")]).unwrap())
        .unwrap();
    let mut out = Vec::new();
    let err = mem.write_subset(&RoaringBitmap::from_iter([id + 1]), &mut out);
    assert!(
        matches!(err, Err(Error::UnknownSeries { id: 1 })),
        "{err:?}"
    );
    mem.remove(&RoaringBitmap::from_iter([id]));
    let err = mem.write_subset(&RoaringBitmap::from_iter([id]), &mut out);
    assert!(
        matches!(err, Err(Error::UnknownSeries { id: 0 })),
        "{err:?}"
    );
    let map = mem.write_subset(&RoaringBitmap::new(), &mut out).unwrap();
    assert!(map.is_empty());
    assert!(DiskIndex::open(&out).unwrap().is_empty());
}

#[test]
fn empty_index_round_trips() {
    let mem = MemIndex::new();
    let bytes = mem.to_bytes().unwrap();
    let disk = DiskIndex::open(&bytes).unwrap();
    assert!(disk.is_empty());
    assert_eq!(disk.label_names(&[]).unwrap(), Vec::<String>::new());
    let q = [Matcher::equal("a", "b")];
    assert!(disk.select(&q).unwrap().is_empty());
    assert_eq!(IndexWriter::new().finish_to_vec().unwrap(), bytes);
}

#[test]
fn file_round_trip() {
    let mem = MemIndex::new();
    for i in 0..100 {
        let l = Labels::new([("__name__", "up"), ("i", &i.to_string())]).unwrap();
        mem.get_or_insert(&l).unwrap();
    }
    let dir = std::env::temp_dir().join(format!("tsdb-index-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("index");
    mem.write_file(&path).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    let disk = DiskIndex::open(&bytes).unwrap();
    let q = [Matcher::regex("i", "1.").unwrap()];
    assert_eq!(disk.select(&q).unwrap().len(), 10);
    // Label order: "0", "1", "10", "11", ...
    let l = Labels::new([("__name__", "up"), ("i", "10")]).unwrap();
    assert_eq!(disk.labels(2).unwrap(), Some(l));
}
