//! Shared by the oracle tests: random label sets and matchers, and a brute-force linear
//! scan that answers the same questions without any index (and without the crate's own
//! regex fast paths: it compiles every pattern with the `regex` crate directly).
#![allow(dead_code)]
// Test support: a panic here is a failed assertion, as in the tests themselves.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;

use proptest::prelude::*;
use tsdb_index::{DiskIndex, Error, Labels, MatchOp, Matcher, MemIndex, RoaringBitmap};

pub const NAMES: &[&str] = &["__name__", "a", "b", "c", "d", "e"];
pub const VALUES: &[&str] = &[
    "", "x", "y", "xy", "yx", "foo", "foobar", "fo", "z\nz", "a.b", "1", "2", "3", "ü", "m1",
];
pub const PATTERNS: &[&str] = &[
    "", "x", "y", "xy", "foo", "foo.*", "fo.+", ".*", ".+", "x|y", "x|", "|foo", "(x|y)", "[xy]+",
    "x.*y", ".*y", "a\\.b", "z.z", "1|2|3", "m1", "m.*", "f(o)+.*", "ü|x", "(?i)X", "foob?ar",
    "fo.*|x", "\\d",
];

/// One random label set: a metric name and some of the labels a..d.
pub fn label_set() -> impl Strategy<Value = Labels> {
    (
        0usize..3,
        proptest::collection::vec(proptest::option::of(0usize..VALUES.len()), 4),
    )
        .prop_map(|(m, vals)| {
            let mut pairs = vec![("__name__".to_owned(), format!("m{}", m + 1))];
            for (i, v) in vals.into_iter().enumerate() {
                if let Some(v) = v {
                    pairs.push((NAMES[i + 1].to_owned(), VALUES[v].to_owned()));
                }
            }
            Labels::new(pairs).unwrap()
        })
}

/// One random matcher over the names above (including one no series has).
pub fn matcher() -> impl Strategy<Value = Matcher> {
    (
        0usize..NAMES.len(),
        0usize..4,
        0usize..PATTERNS.len(),
        0usize..VALUES.len(),
    )
        .prop_map(|(n, op, p, v)| {
            let name = NAMES[n];
            match op {
                0 => Matcher::equal(name, VALUES[v]),
                1 => Matcher::not_equal(name, VALUES[v]),
                2 => Matcher::regex(name, PATTERNS[p]).unwrap(),
                _ => Matcher::not_regex(name, PATTERNS[p]).unwrap(),
            }
        })
}

pub fn selectors() -> impl Strategy<Value = Vec<Vec<Matcher>>> {
    proptest::collection::vec(proptest::collection::vec(matcher(), 1..4), 1..8)
}

/// The oracle's own matcher semantics, independent of the crate's fast paths.
pub fn oracle_matches(m: &Matcher, v: &str) -> bool {
    match m.op() {
        MatchOp::Equal => v == m.value(),
        MatchOp::NotEqual => v != m.value(),
        MatchOp::RegexMatch | MatchOp::RegexNoMatch => {
            let re = regex::Regex::new(&format!("^(?s:{})$", m.value())).unwrap();
            re.is_match(v) == (m.op() == MatchOp::RegexMatch)
        }
    }
}

/// Unique series in insertion order, as an index assigns ids.
pub fn dedup(series: &[Labels]) -> Vec<Labels> {
    let mut seen = BTreeSet::new();
    series
        .iter()
        .filter(|l| seen.insert((*l).clone()))
        .cloned()
        .collect()
}

/// `None` when the selector must be refused (every matcher matches "").
pub fn oracle_select(series: &[Labels], ms: &[Matcher]) -> Option<Vec<u32>> {
    if ms.iter().all(|m| oracle_matches(m, "")) {
        return None;
    }
    Some(
        series
            .iter()
            .enumerate()
            .filter(|(_, l)| {
                ms.iter()
                    .all(|m| oracle_matches(m, l.get(m.name()).unwrap_or("")))
            })
            .map(|(i, _)| i as u32)
            .collect(),
    )
}

/// The index operations both implementations offer.
pub trait Index {
    fn select(&self, ms: &[Matcher]) -> Result<RoaringBitmap, Error>;
    fn label_names(&self, ms: &[Matcher]) -> Result<Vec<String>, Error>;
    fn label_values(&self, name: &str, ms: &[Matcher]) -> Result<Vec<String>, Error>;
    fn labels(&self, id: u32) -> Option<Labels>;
    fn top_metrics(&self) -> Vec<(String, u64)>;
}

impl Index for MemIndex {
    fn select(&self, ms: &[Matcher]) -> Result<RoaringBitmap, Error> {
        MemIndex::select(self, ms)
    }
    fn label_names(&self, ms: &[Matcher]) -> Result<Vec<String>, Error> {
        MemIndex::label_names(self, ms)
    }
    fn label_values(&self, name: &str, ms: &[Matcher]) -> Result<Vec<String>, Error> {
        MemIndex::label_values(self, name, ms)
    }
    fn labels(&self, id: u32) -> Option<Labels> {
        MemIndex::labels(self, id)
    }
    fn top_metrics(&self) -> Vec<(String, u64)> {
        self.stats(10).series_count_by_metric_name
    }
}

impl Index for DiskIndex<'_> {
    fn select(&self, ms: &[Matcher]) -> Result<RoaringBitmap, Error> {
        DiskIndex::select(self, ms)
    }
    fn label_names(&self, ms: &[Matcher]) -> Result<Vec<String>, Error> {
        DiskIndex::label_names(self, ms)
    }
    fn label_values(&self, name: &str, ms: &[Matcher]) -> Result<Vec<String>, Error> {
        DiskIndex::label_values(self, name, ms)
    }
    fn labels(&self, id: u32) -> Option<Labels> {
        DiskIndex::labels(self, id).unwrap()
    }
    fn top_metrics(&self) -> Vec<(String, u64)> {
        self.stats(10).unwrap().series_count_by_metric_name
    }
}

pub fn build(series: &[Labels]) -> MemIndex {
    let idx = MemIndex::new();
    for l in series {
        idx.get_or_insert(l).unwrap();
    }
    idx
}

/// Checks every answer of `idx` against the linear scan over `unique` (ids = positions).
pub fn check(
    idx: &dyn Index,
    unique: &[Labels],
    selectors: &[Vec<Matcher>],
) -> Result<(), TestCaseError> {
    for (i, l) in unique.iter().enumerate() {
        prop_assert_eq!(idx.labels(i as u32), Some(l.clone()));
    }
    prop_assert_eq!(idx.labels(unique.len() as u32), None);

    let all_names: BTreeSet<String> = unique
        .iter()
        .flat_map(|l| l.iter().map(|(n, _)| n.to_owned()))
        .collect();
    prop_assert_eq!(
        idx.label_names(&[]).unwrap(),
        all_names.into_iter().collect::<Vec<_>>()
    );

    let mut counts = std::collections::BTreeMap::<String, u64>::new();
    for l in unique {
        *counts
            .entry(l.metric_name().unwrap().to_owned())
            .or_default() += 1;
    }
    let mut want: Vec<(String, u64)> = counts.into_iter().collect();
    want.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    prop_assert_eq!(idx.top_metrics(), want);

    for ms in selectors {
        let want = oracle_select(unique, ms);
        let got = idx.select(ms);
        match (&want, got) {
            (None, Err(Error::NoNonEmptyMatcher)) => continue,
            (Some(w), Ok(g)) => {
                let g: Vec<u32> = g.iter().collect();
                prop_assert_eq!(&g, w, "selector {:?}", ms);
            }
            (w, g) => prop_assert!(false, "selector {:?}: want {:?}, got {:?}", ms, w, g),
        }
        let selected = want.unwrap_or_default();
        let names: BTreeSet<String> = selected
            .iter()
            .flat_map(|&i| unique[i as usize].iter().map(|(n, _)| n.to_owned()))
            .collect();
        prop_assert_eq!(
            idx.label_names(ms).unwrap(),
            names.into_iter().collect::<Vec<_>>(),
            "label names for {:?}",
            ms
        );
        for name in NAMES {
            let values: BTreeSet<String> = selected
                .iter()
                .filter_map(|&i| unique[i as usize].get(name).map(str::to_owned))
                .collect();
            prop_assert_eq!(
                idx.label_values(name, ms).unwrap(),
                values.into_iter().collect::<Vec<_>>(),
                "values of {} for {:?}",
                name,
                ms
            );
        }
    }
    Ok(())
}
