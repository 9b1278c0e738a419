//! Shared by the oracle tests: random label sets and matchers, and a brute-force linear
//! scan that answers the same questions without any index (and without the crate's own
//! regex fast paths: it compiles every pattern with the `regex` crate directly).
#![allow(dead_code)]
// Test support: a panic here is a failed assertion, as in the tests themselves.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;

use proptest::prelude::*;
use tsdb_index::{
    DiskIndex, Error, IndexWriter, Labels, MatchOp, Matcher, MemIndex, RoaringBitmap,
};

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

/// The oracle's own matcher semantics, independent of the crate's fast paths: a
/// matcher with its regex compiled directly by the `regex` crate.
pub struct OracleMatcher<'a> {
    m: &'a Matcher,
    re: Option<regex::Regex>,
}

impl<'a> OracleMatcher<'a> {
    pub fn new(m: &'a Matcher) -> Self {
        let re = matches!(m.op(), MatchOp::RegexMatch | MatchOp::RegexNoMatch)
            .then(|| regex::Regex::new(&format!("^(?s:{})$", m.value())).unwrap());
        Self { m, re }
    }

    pub fn matches(&self, v: &str) -> bool {
        match (self.m.op(), &self.re) {
            (MatchOp::Equal, _) => v == self.m.value(),
            (MatchOp::NotEqual, _) => v != self.m.value(),
            (op, Some(re)) => re.is_match(v) == (op == MatchOp::RegexMatch),
            (_, None) => unreachable!("regex matchers have a regex"),
        }
    }
}

pub fn oracle_matches(m: &Matcher, v: &str) -> bool {
    OracleMatcher::new(m).matches(v)
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

/// Label sets in label order, as a written index numbers them.
pub fn sorted(series: &[Labels]) -> Vec<Labels> {
    let mut s = dedup(series);
    s.sort();
    s
}

/// The on-disk index of `series` (unique, in label order), written as the engine writes
/// a segment's.
pub fn write_disk(series: &[Labels]) -> Vec<u8> {
    let mut w = IndexWriter::new();
    for l in sorted(series) {
        w.add(&l).unwrap();
    }
    w.finish_to_vec().unwrap()
}

/// `None` when the selector must be refused (every matcher matches ""). `series[id]` is
/// `None` for an id without a series.
pub fn oracle_select(series: &[Option<Labels>], ms: &[Matcher]) -> Option<Vec<u32>> {
    let oms: Vec<OracleMatcher<'_>> = ms.iter().map(OracleMatcher::new).collect();
    if oms.iter().all(|m| m.matches("")) {
        return None;
    }
    Some(
        series
            .iter()
            .enumerate()
            .filter_map(|(i, l)| Some((i, l.as_ref()?)))
            .filter(|(_, l)| {
                oms.iter()
                    .all(|m| m.matches(l.get(m.m.name()).unwrap_or("")))
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
    let by_id: Vec<Option<Labels>> = unique.iter().cloned().map(Some).collect();
    check_ids(idx, &by_id, selectors)
}

/// Checks every answer of `idx` against the linear scan over `by_id` (`by_id[id]` is the
/// series with that id, `None` where there is none).
pub fn check_ids(
    idx: &dyn Index,
    by_id: &[Option<Labels>],
    selectors: &[Vec<Matcher>],
) -> Result<(), TestCaseError> {
    for (i, l) in by_id.iter().enumerate() {
        prop_assert_eq!(idx.labels(i as u32), l.clone(), "labels of {}", i);
    }
    prop_assert_eq!(idx.labels(by_id.len() as u32), None);
    let live: Vec<&Labels> = by_id.iter().flatten().collect();

    let all_names: BTreeSet<String> = live
        .iter()
        .flat_map(|l| l.iter().map(|(n, _)| n.to_owned()))
        .collect();
    prop_assert_eq!(
        idx.label_names(&[]).unwrap(),
        all_names.iter().cloned().collect::<Vec<_>>()
    );

    let mut counts = std::collections::BTreeMap::<String, u64>::new();
    for l in &live {
        *counts
            .entry(l.metric_name().unwrap().to_owned())
            .or_default() += 1;
    }
    let mut want: Vec<(String, u64)> = counts.into_iter().collect();
    want.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    prop_assert_eq!(idx.top_metrics(), want);

    for ms in selectors {
        let want = oracle_select(by_id, ms);
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
        let at = |i: u32| by_id[i as usize].as_ref().unwrap();
        let names: BTreeSet<String> = selected
            .iter()
            .flat_map(|&i| at(i).iter().map(|(n, _)| n.to_owned()))
            .collect();
        prop_assert_eq!(
            idx.label_names(ms).unwrap(),
            names.into_iter().collect::<Vec<_>>(),
            "label names for {:?}",
            ms
        );
        let mut value_names: BTreeSet<&str> = NAMES.iter().copied().collect();
        value_names.extend(all_names.iter().map(String::as_str));
        value_names.insert("absent_label");
        for name in value_names {
            let values: BTreeSet<String> = selected
                .iter()
                .filter_map(|&i| at(i).get(name).map(str::to_owned))
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

/// Names, values and patterns of the many-series data sets below.
pub const BIG_NAMES: &[&str] = &["__name__", "a", "b", "c", "e", "h", "Zone", "x"];
pub const BIG_VALUES: &[&str] = &[
    "", "m1", "m2", "a0", "a1", "a3", "b0", "b5", "b9", "c1", "e0", "e7", "e39", "h1", "h17", "z1",
    "zz",
];
pub const BIG_PATTERNS: &[&str] = &[
    "", ".*", ".+", "a1|a2", "b.*", "b[0-3]", "e1.*", "a0", "x|", "c0|c1|zz", "(?i)A1", "h1.*",
    "z.+", "m1|m3", "e3.|b9", "|c2",
];

/// Many series (2,800 to 3,400) of three metrics, so that `m1` and `m2` reach the size
/// that gets a scope (1,024 series) and `m3` does not: `a` (4 values, sometimes absent), `b` (10 values), `c` (3
/// values, often absent), `e` (20 values, or 40 in some data sets: more than a scope
/// keeps), `h` (unique per series for half of them: never scoped) and, in a quarter of the data
/// sets, `Zone` on a few series: it sorts before `__name__`, so on disk those series are not
/// next to the rest of their metric, which then has no scope there.
pub fn big_label_sets() -> impl Strategy<Value = Vec<Labels>> {
    (any::<u64>(), 2800usize..3400, any::<bool>(), 0u8..4).prop_map(|(seed, n, many_e, zone)| {
        let mut x = seed | 1;
        let mut next = move |m: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % m
        };
        let mut out = Vec::with_capacity(n);
        for i in 0..n {
            let metric = match next(20) {
                0..=10 => "m1",
                11..=18 => "m2",
                _ => "m3",
            };
            let mut pairs = vec![("__name__".to_owned(), metric.to_owned())];
            if next(5) != 0 {
                pairs.push(("a".into(), format!("a{}", next(4))));
            }
            pairs.push(("b".into(), format!("b{}", next(10))));
            if next(2) == 0 {
                pairs.push(("c".into(), format!("c{}", next(3))));
            }
            pairs.push((
                "e".into(),
                format!("e{}", next(if many_e { 40 } else { 20 })),
            ));
            if next(2) == 0 {
                pairs.push(("h".into(), format!("h{i}")));
            }
            if zone == 0 && next(50) == 0 {
                pairs.push(("Zone".into(), format!("z{}", next(2))));
            }
            out.push(Labels::new(pairs).unwrap());
        }
        out
    })
}

/// A random matcher over the names of `big_label_sets`.
pub fn big_matcher() -> impl Strategy<Value = Matcher> {
    (
        0usize..BIG_NAMES.len(),
        0usize..4,
        0usize..BIG_PATTERNS.len(),
        0usize..BIG_VALUES.len(),
    )
        .prop_map(|(n, op, p, v)| {
            let name = BIG_NAMES[n];
            match op {
                0 => Matcher::equal(name, BIG_VALUES[v]),
                1 => Matcher::not_equal(name, BIG_VALUES[v]),
                2 => Matcher::regex(name, BIG_PATTERNS[p]).unwrap(),
                _ => Matcher::not_regex(name, BIG_PATTERNS[p]).unwrap(),
            }
        })
}

/// Selectors naming a metric, as dashboards write them, plus a few that do not.
pub fn big_selectors() -> impl Strategy<Value = Vec<Vec<Matcher>>> {
    let named = (
        prop_oneof![Just("m1"), Just("m2"), Just("m3"), Just("m9")],
        proptest::collection::vec(big_matcher(), 1..4),
    )
        .prop_map(|(metric, mut ms)| {
            ms.insert(0, Matcher::equal("__name__", metric));
            ms
        });
    proptest::collection::vec(
        prop_oneof![
            4 => named,
            1 => proptest::collection::vec(big_matcher(), 1..3),
        ],
        1..10,
    )
}
