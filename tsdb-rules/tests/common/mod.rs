//! Shared by the evaluation tests: a database in a temporary directory, input series, the
//! raw samples of a series and a fake clock in minutes.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use tsdb_core::{Db, Options};
use tsdb_index::{Labels, Matcher};
use tsdb_query::storage::{Querier, Series};
use tsdb_rules::{parse_rule_file, RuleFile, RuleManager, RuleOptions};

/// The fake clock's origin, ms (a realistic epoch time).
pub const T0: i64 = 1_700_000_000_000;
/// One minute, ms.
pub const MIN: i64 = 60_000;

/// `T0 + m` minutes.
pub fn at(m: i64) -> i64 {
    T0 + m * MIN
}

pub fn open_db(dir: &std::path::Path) -> Db {
    Db::open(dir, Options::default()).unwrap()
}

pub fn labels(pairs: &[(&str, &str)]) -> Labels {
    Labels::new(pairs.iter().copied()).unwrap()
}

/// One sample per minute of `series` over minutes `[from, to)` with `value(minute)`.
pub fn write(db: &Db, series: &[(&str, &str)], from: i64, to: i64, value: impl Fn(i64) -> f64) {
    let l = labels(series);
    for m in from..to {
        db.append(&l, at(m), value(m)).unwrap();
    }
}

/// The raw samples (staleness markers included) of the series with exactly `series`.
pub fn raw(db: &Db, series: &[(&str, &str)]) -> Vec<(i64, f64)> {
    let matchers: Vec<Matcher> = series.iter().map(|(k, v)| Matcher::equal(*k, *v)).collect();
    let q = tsdb_query::Queryable::querier(db, i64::MIN / 4, i64::MAX / 4).unwrap();
    let found = Querier::select(&q, i64::MIN / 4, i64::MAX / 4, &matchers).unwrap();
    let want = labels(series);
    let Some(s) = found.iter().find(|s| *s.labels() == want) else {
        return Vec::new();
    };
    let (mut ts, mut vs) = (Vec::new(), Vec::new());
    s.read_into(&mut ts, &mut vs).unwrap();
    ts.into_iter().zip(vs).collect()
}

pub fn rule_file(path: &str, yaml: &str) -> RuleFile {
    match parse_rule_file(path, yaml.as_bytes()) {
        Ok(f) => f,
        Err(e) => panic!("{e:?}"),
    }
}

/// A manager over `yaml` loaded at `now` (a first load: `for` state restored after the
/// second evaluation).
pub fn manager(yaml: &str, options: RuleOptions, now: i64) -> RuleManager {
    let mut m = RuleManager::new(options, tsdb_query::Engine::default());
    m.update_files(vec![rule_file("rules.yml", yaml)], now)
        .unwrap();
    m
}
