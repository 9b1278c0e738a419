//! The on-disk index, written from a random in-memory index and reopened, answers exactly
//! like a linear scan over the label sets.

mod common;

use proptest::prelude::*;
use tsdb_index::DiskIndex;

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
        let unique = common::dedup(&series);
        prop_assert_eq!(disk.len(), unique.len());
        common::check(&disk, &unique, &selectors)?;
        prop_assert_eq!(disk.stats(5).unwrap(), mem.stats(5));
    }
}

#[test]
fn empty_index_round_trips() {
    let mem = tsdb_index::MemIndex::new();
    let bytes = mem.to_bytes().unwrap();
    let disk = DiskIndex::open(&bytes).unwrap();
    assert!(disk.is_empty());
    assert_eq!(disk.label_names(&[]).unwrap(), Vec::<String>::new());
    let q = [tsdb_index::Matcher::equal("a", "b")];
    assert!(disk.select(&q).unwrap().is_empty());
}

#[test]
fn file_round_trip() {
    let mem = tsdb_index::MemIndex::new();
    for i in 0..100 {
        let l = tsdb_index::Labels::new([("__name__", "up"), ("i", &i.to_string())]).unwrap();
        mem.get_or_insert(&l).unwrap();
    }
    let dir = std::env::temp_dir().join(format!("tsdb-index-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("index");
    mem.write_file(&path).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    let disk = DiskIndex::open(&bytes).unwrap();
    let q = [tsdb_index::Matcher::regex("i", "1.").unwrap()];
    assert_eq!(disk.select(&q).unwrap().len(), 10);
    assert_eq!(disk.labels(42).unwrap(), mem.labels(42));
}
