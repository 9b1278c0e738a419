//! Metrics big enough to get scopes (per-metric bitsets of their low-cardinality labels)
//! answer exactly like a linear scan, in memory and on disk, including labels a scope
//! does not keep (too many values), labels no series of the metric has, metrics split on
//! disk by a label sorting before `__name__`, and after removals that shrink or drop a
//! scope.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use proptest::prelude::*;
use tsdb_index::{DiskIndex, Labels, RoaringBitmap};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn scoped_selectors_match_linear_scan(
        series in common::big_label_sets(),
        selectors in common::big_selectors(),
        stride in 2u32..5,
    ) {
        let mem = common::build(&series);
        let unique = common::dedup(&series);
        common::check(&mem, &unique, &selectors)?;

        let sorted = common::sorted(&series);
        let bytes = common::write_disk(&series);
        let disk = DiskIndex::open(&bytes).unwrap();
        common::check(&disk, &sorted, &selectors)?;

        // Remove all but every `stride`-th series: scopes are rebuilt (or dropped when
        // their metric gets small), and queries stay exact.
        let gone: RoaringBitmap = (0..unique.len() as u32).filter(|i| !i.is_multiple_of(stride)).collect();
        prop_assert_eq!(mem.remove(&gone), gone.len() as usize);
        let by_id: Vec<Option<Labels>> = unique
            .iter()
            .enumerate()
            .map(|(i, l)| (i as u32).is_multiple_of(stride).then(|| l.clone()))
            .collect();
        common::check_ids(&mem, &by_id, &selectors)?;
        let rest: Vec<Labels> = by_id.iter().flatten().cloned().collect();
        let bytes = common::write_disk(&rest);
        common::check(&DiskIndex::open(&bytes).unwrap(), &common::sorted(&rest), &selectors)?;
    }
}
