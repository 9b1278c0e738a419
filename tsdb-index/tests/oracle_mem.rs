//! The in-memory index answers exactly like a linear scan over the label sets, also
//! after series were removed and others added again.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use proptest::prelude::*;
use tsdb_index::{Labels, RoaringBitmap};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn mem_index_matches_linear_scan(
        series in proptest::collection::vec(common::label_set(), 0..40),
        selectors in common::selectors(),
    ) {
        let idx = common::build(&series);
        let unique = common::dedup(&series);
        prop_assert_eq!(idx.len(), unique.len());
        common::check(&idx, &unique, &selectors)?;
    }

    /// Removed ids resolve to nothing, the others keep their ids, and a label set added
    /// again after its removal gets a new id.
    #[test]
    fn removals_keep_other_ids_and_answers_exact(
        series in proptest::collection::vec(common::label_set(), 0..40),
        remove in proptest::collection::vec(any::<bool>(), 40),
        again in proptest::collection::vec(common::label_set(), 0..12),
        selectors in common::selectors(),
    ) {
        let idx = common::build(&series);
        let mut by_id: Vec<Option<Labels>> =
            common::dedup(&series).into_iter().map(Some).collect();
        let gone: RoaringBitmap = (0..by_id.len() as u32).filter(|&i| remove[i as usize]).collect();
        // An id twice and one never assigned are ignored.
        let mut asked = gone.clone();
        asked.insert(1000);
        prop_assert_eq!(idx.remove(&asked), gone.len() as usize);
        prop_assert_eq!(idx.remove(&gone), 0);
        for id in &gone {
            by_id[id as usize] = None;
        }
        prop_assert_eq!(idx.len(), by_id.iter().flatten().count());
        common::check_ids(&idx, &by_id, &selectors)?;

        for l in &again {
            let want = match by_id.iter().position(|x| x.as_ref() == Some(l)) {
                Some(id) => id as u32,
                None => {
                    by_id.push(Some(l.clone()));
                    by_id.len() as u32 - 1
                }
            };
            prop_assert_eq!(idx.get_or_insert(l).unwrap(), want);
        }
        common::check_ids(&idx, &by_id, &selectors)?;
        for (id, l) in by_id.iter().enumerate() {
            if let Some(l) = l {
                prop_assert_eq!(idx.get(l), Some(id as u32));
            }
        }
    }
}

/// Hand-picked empty-string cases, so they are covered on every run regardless of what
/// proptest draws.
#[test]
fn empty_string_matchers_select_series_lacking_the_label() {
    use tsdb_index::{Labels, Matcher};
    let series = vec![
        Labels::new([("__name__", "m1"), ("env", "prod")]).unwrap(),
        Labels::new([("__name__", "m1")]).unwrap(),
        Labels::new([("__name__", "m1"), ("env", "dev")]).unwrap(),
    ];
    let idx = common::build(&series);
    let m = || Matcher::equal("__name__", "m1");
    let ids = |ms: &[Matcher]| idx.select(ms).unwrap().iter().collect::<Vec<_>>();
    assert_eq!(ids(&[m(), Matcher::equal("env", "")]), vec![1]);
    assert_eq!(
        ids(&[m(), Matcher::not_regex("env", ".+").unwrap()]),
        vec![1]
    );
    assert_eq!(
        ids(&[m(), Matcher::regex("env", "|prod").unwrap()]),
        vec![0, 1]
    );
    assert_eq!(ids(&[m(), Matcher::not_equal("env", "prod")]), vec![1, 2]);
    assert_eq!(ids(&[m(), Matcher::not_equal("env", "")]), vec![0, 2]);
    assert_eq!(ids(&[Matcher::regex("env", ".+").unwrap()]), vec![0, 2]);
    assert!(matches!(
        idx.select(&[Matcher::equal("env", "")]),
        Err(tsdb_index::Error::NoNonEmptyMatcher)
    ));
    assert!(matches!(
        idx.select(&[
            Matcher::regex("env", ".*").unwrap(),
            Matcher::not_equal("x", "y")
        ]),
        Err(tsdb_index::Error::NoNonEmptyMatcher)
    ));
    assert!(matches!(
        idx.select(&[]),
        Err(tsdb_index::Error::NoNonEmptyMatcher)
    ));
}
