//! The in-memory index answers exactly like a linear scan over the label sets.

mod common;

use proptest::prelude::*;

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
