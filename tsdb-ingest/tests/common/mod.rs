//! Shared helpers of the integration tests: a database in a temporary directory and
//! reading series back.
#![allow(dead_code)]

use std::time::{SystemTime, UNIX_EPOCH};

use tsdb_core::{Db, Options};
use tsdb_index::Matcher;
use tsdb_ingest::{IngestLimits, Ingester};

pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub db: Db,
    pub ingester: Ingester,
}

pub fn fixture(limits: IngestLimits) -> Fixture {
    fixture_with(limits, Options::default())
}

pub fn fixture_with(limits: IngestLimits, options: Options) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), options).unwrap();
    let ingester = Ingester::new(db.clone(), limits).unwrap();
    Fixture { dir, db, ingester }
}

pub fn now_ms() -> i64 {
    i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

/// Every series matching `matchers` over all time: (labels as text, [(t, value bits)]).
pub fn read(db: &Db, matchers: &[Matcher]) -> Vec<(String, Vec<(i64, u64)>)> {
    let q = db.querier(i64::MIN + 1, i64::MAX - 1).unwrap();
    let mut out = Vec::new();
    for s in q.select(matchers).unwrap() {
        let samples = s
            .iter()
            .map(|x| x.map(|x| (x.t, x.v.to_bits())))
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        out.push((s.labels().to_string(), samples));
    }
    out
}

/// Every series whose metric name is `name`.
pub fn metric(db: &Db, name: &str) -> Vec<(String, Vec<(i64, f64)>)> {
    read(db, &[Matcher::equal("__name__", name)])
        .into_iter()
        .map(|(l, s)| {
            (
                l,
                s.into_iter().map(|(t, b)| (t, f64::from_bits(b))).collect(),
            )
        })
        .collect()
}
