//! The engine over the storage traits: it answers from a storage that is not a `Db` (an
//! in-memory map) exactly as from a `Db` holding the same samples; a query opens one
//! querier, over the union of its selectors' windows, and every selector reads inside
//! it; cancellation is a typed error distinct from the timeout; a read task that panics
//! fails its query, not the process, and the engine keeps working.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use tsdb_core::{Db, Options};
use tsdb_index::{Labels, Matcher};
use tsdb_query::storage::{Querier, Queryable, Series, StorageError};
use tsdb_query::{json, parse, CancelToken, Engine, EngineOptions, Error, Value};

/// Samples by series, in memory, with a record of what the engine asked for.
#[derive(Default)]
struct MemStorage {
    series: BTreeMap<Labels, Vec<(i64, f64)>>,
    /// Every querier's range, in the order they were opened.
    queriers: Mutex<Vec<(i64, i64)>>,
    /// Every select's range.
    selects: Mutex<Vec<(i64, i64)>>,
    /// Chunks each series claims to have (to make the engine read in parallel).
    chunks_per_series: usize,
    /// Reading a series with this `host` label panics.
    panic_on_host: Option<String>,
    /// Canceled when a series is read.
    cancel_on_read: Option<CancelToken>,
    reads: AtomicUsize,
}

struct MemQuerier<'a> {
    storage: &'a MemStorage,
    mint: i64,
    maxt: i64,
}

struct MemSeries<'a> {
    storage: &'a MemStorage,
    labels: &'a Labels,
    samples: &'a [(i64, f64)],
}

impl Queryable for MemStorage {
    type Querier<'a> = MemQuerier<'a>;

    fn querier(&self, mint: i64, maxt: i64) -> Result<MemQuerier<'_>, StorageError> {
        self.queriers.lock().unwrap().push((mint, maxt));
        Ok(MemQuerier {
            storage: self,
            mint,
            maxt,
        })
    }
}

impl<'a> Querier for MemQuerier<'a> {
    type Series = MemSeries<'a>;

    fn select(
        &self,
        mint: i64,
        maxt: i64,
        matchers: &[Matcher],
    ) -> Result<Vec<MemSeries<'a>>, StorageError> {
        self.storage.selects.lock().unwrap().push((mint, maxt));
        if mint < self.mint || maxt > self.maxt {
            return Err(format!(
                "select [{mint}, {maxt}] outside the querier's [{}, {}]",
                self.mint, self.maxt
            )
            .into());
        }
        let storage = self.storage;
        Ok(storage
            .series
            .iter()
            .filter(|(labels, _)| {
                matchers
                    .iter()
                    .all(|m| m.matches(labels.get(m.name()).unwrap_or("")))
            })
            .filter_map(|(labels, samples)| {
                let from = samples.partition_point(|s| s.0 < mint);
                let to = samples.partition_point(|s| s.0 <= maxt);
                let samples = samples.get(from..to)?;
                (!samples.is_empty()).then_some(MemSeries {
                    storage,
                    labels,
                    samples,
                })
            })
            .collect())
    }
}

impl Series for MemSeries<'_> {
    fn labels(&self) -> &Labels {
        self.labels
    }

    fn chunk_count(&self) -> usize {
        self.storage.chunks_per_series.max(1)
    }

    fn read_into(&self, ts: &mut Vec<i64>, vs: &mut Vec<f64>) -> Result<(), StorageError> {
        self.storage.reads.fetch_add(1, Ordering::Relaxed);
        if let Some(token) = &self.storage.cancel_on_read {
            token.cancel();
        }
        if let Some(host) = &self.storage.panic_on_host {
            assert_ne!(self.labels.get("host"), Some(host.as_str()), "storage bug");
        }
        ts.extend(self.samples.iter().map(|s| s.0));
        vs.extend(self.samples.iter().map(|s| s.1));
        Ok(())
    }
}

const STEP: i64 = 15_000;
const START: i64 = 1_000_000_000;
const POINTS: i64 = 480; // two hours
const END: i64 = START + (POINTS - 1) * STEP;

/// The same samples in a Db and in a MemStorage: counters and gauges of 4 hosts.
fn both() -> (tempfile::TempDir, Db, MemStorage) {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Options::default()).unwrap();
    let mut mem = MemStorage::default();
    for host in ["a", "b", "c", "d"] {
        for (name, job) in [
            ("requests_total", "api"),
            ("errors_total", "api"),
            ("up", "node"),
        ] {
            let labels = Labels::new([("__name__", name), ("host", host), ("job", job)]).unwrap();
            let mut samples = Vec::new();
            for i in 0..POINTS {
                // a gap for host d, so lookback and staleness have something to do
                if host == "d" && (100..140).contains(&i) {
                    continue;
                }
                let v = match name {
                    "up" => f64::from(i % 7 != 0),
                    _ => (i * (1 + host.as_bytes()[0] as i64 % 3)) as f64,
                };
                samples.push((START + i * STEP, v));
            }
            mem.series.insert(labels, samples);
        }
    }
    // into the Db in time order, as a scraper appends
    for i in 0..POINTS {
        for (labels, samples) in &mem.series {
            if let Some(&(t, v)) = samples.iter().find(|s| s.0 == START + i * STEP) {
                db.append(labels, t, v).unwrap();
            }
        }
    }
    (dir, db, mem)
}

const QUERIES: [&str; 12] = [
    "up",
    "rate(requests_total[5m])",
    "errors_total / requests_total",
    "sum by (job) (rate(requests_total[10m])) / on() group_left count(up)",
    "max_over_time(up[10m:1m])",
    "requests_total offset 20m",
    "requests_total @ 1003000",
    "absent(nosuch)",
    "timestamp(up{host=\"d\"})",
    "vector(1) + 2",
    "avg_over_time(rate(requests_total[5m])[30m:2m] offset 10m) > 0",
    "up @ start() - up @ end()",
];

#[test]
fn the_engine_answers_from_another_storage_as_from_a_db() {
    let (_dir, db, mem) = both();
    let engine = Engine::default();
    let mut compared = 0;
    for q in QUERIES {
        for t in [START + 600_000, START + 3_000_000, END] {
            let from_db = json::success(&engine.instant_query(&db, q, t).unwrap());
            let from_mem = json::success(&engine.instant_query(&mem, q, t).unwrap());
            assert_eq!(from_db, from_mem, "{q} at {t}");
            compared += 1;
        }
        if !q.contains("@ start()") {
            let from_db = json::success(&engine.range_query(&db, q, START, END, 60_000).unwrap());
            let from_mem = json::success(&engine.range_query(&mem, q, START, END, 60_000).unwrap());
            assert_eq!(from_db, from_mem, "{q} over the range");
            // not an empty comparison: the data answers most of these
            if !q.starts_with("absent") {
                assert!(from_db.contains("\"values\":[["), "{q}: {from_db}");
            }
        }
    }
    assert_eq!(compared, 36);
    assert!(mem.reads.load(Ordering::Relaxed) > 0);
}

/// A query, the range of the querier it opens (none: no querier), and its selectors.
type Case = (&'static str, Option<(i64, i64)>, usize);

#[test]
fn a_query_opens_one_querier_and_reads_inside_it() {
    let (_dir, _db, mem) = both();
    let engine = Engine::default();
    let t = START + 5_000_000;
    let cases: [Case; 6] = [
        // instant selector: the lookback window, (t - 5m, t]
        ("up", Some((t - 300_000 + 1, t)), 1),
        // range, offset and a second selector: the union
        (
            "rate(requests_total[10m] offset 1h) / errors_total",
            Some((t - 3_600_000 - 600_000 + 1, t)),
            2,
        ),
        // @ fixes the window wherever the query runs
        (
            "up @ 1001000",
            Some((1_001_000_000 - 300_000 + 1, 1_001_000_000)),
            1,
        ),
        // a subquery: its range, its steps aligned to 1 m, then the lookback
        (
            "max_over_time(up[30m:1m])",
            Some(((t - 1_800_000) / 60_000 * 60_000 + 60_000 - 300_000 + 1, t)),
            1,
        ),
        // three selectors, one querier
        (
            "up + on(host) group_left sum by (host) (errors_total) - requests_total offset 5m",
            Some((t - 300_000 - 300_000 + 1, t)),
            3,
        ),
        // nothing to read: no querier
        ("vector(1) + scalar(vector(2))", None, 0),
    ];
    for (q, want, selectors) in cases {
        mem.queriers.lock().unwrap().clear();
        mem.selects.lock().unwrap().clear();
        engine.instant_query(&mem, q, t).unwrap();
        let queriers = mem.queriers.lock().unwrap().clone();
        assert_eq!(queriers, want.into_iter().collect::<Vec<_>>(), "{q}");
        let selects = mem.selects.lock().unwrap().clone();
        assert_eq!(selects.len(), selectors, "{q}: {selects:?}");
        if let Some((mint, maxt)) = want {
            for &(a, b) in &selects {
                assert!(mint <= a && b <= maxt, "{q}: select [{a}, {b}]");
            }
            // the querier's range is the union, no wider
            assert_eq!(selects.iter().map(|s| s.0).min(), Some(mint), "{q}");
            assert_eq!(selects.iter().map(|s| s.1).max(), Some(maxt), "{q}");
        }
    }
    // A range query, and a text parsed once and run as a tree: one querier each.
    mem.queriers.lock().unwrap().clear();
    engine
        .range_query(&mem, "up / up offset 1h", START, END, 60_000)
        .unwrap();
    let expr = parse("sum(rate(requests_total[5m])) / sum(rate(errors_total[5m]))").unwrap();
    engine.instant(&mem, &expr, END).unwrap();
    let queriers = mem.queriers.lock().unwrap().clone();
    assert_eq!(
        queriers,
        vec![
            (START - 3_600_000 - 300_000 + 1, END),
            (END - 300_000 + 1, END)
        ]
    );
}

#[test]
fn cancellation_is_a_typed_error_distinct_from_the_timeout() {
    let (_dir, db, mut mem) = both();
    let engine = Engine::default();
    let expr = parse("sum(rate(requests_total[1h]))").unwrap();
    // Canceled before it starts.
    let token = CancelToken::new();
    token.cancel();
    let err = engine
        .instant_cancelable(&db, &expr, END, &token)
        .unwrap_err();
    assert!(matches!(err, Error::Canceled), "{err}");
    assert_eq!(json::error_type(&err), "canceled");
    assert_eq!(
        json::error(&err),
        r#"{"status":"error","errorType":"canceled","error":"query was canceled"}"#
    );
    // Canceled while it runs: the storage cancels when the first series is read, and
    // the engine stops at its next check.
    let token = CancelToken::new();
    mem.cancel_on_read = Some(token.clone());
    let err = engine
        .range_cancelable(&mem, &expr, START, END, 60_000, &token)
        .unwrap_err();
    assert!(matches!(err, Error::Canceled), "{err}");
    assert_eq!(
        mem.reads.load(Ordering::Relaxed),
        1,
        "stopped after one series"
    );
    // The same query without the token completes; a timeout is its own error.
    mem.cancel_on_read = None;
    assert!(engine.range(&mem, &expr, START, END, 60_000).is_ok());
    let strict = Engine::new(EngineOptions {
        timeout: Duration::ZERO,
        ..EngineOptions::default()
    });
    let err = strict
        .instant_cancelable(&mem, &expr, END, &CancelToken::new())
        .unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err}");
    assert_eq!(json::error_type(&err), "timeout");
}

#[test]
fn a_read_task_that_panics_fails_its_query_not_the_process() {
    let (_dir, _db, mut mem) = both();
    // Enough "chunks" that every selector is read on four threads.
    mem.chunks_per_series = 1_000;
    let engine = Engine::new(EngineOptions {
        parallelism: 4,
        ..EngineOptions::default()
    });
    // The first host is read on the caller's thread, the last on a pool thread.
    for host in ["a", "d"] {
        mem.panic_on_host = Some(host.into());
        let err = engine
            .instant_query(&mem, "sum(requests_total)", END)
            .unwrap_err();
        assert!(
            matches!(&err, Error::Internal(m) if m.contains("storage bug")),
            "{err}"
        );
        assert_eq!(json::error_type(&err), "internal");
    }
    // The engine and its pool keep working.
    mem.panic_on_host = None;
    let Value::Vector(v) = engine
        .instant_query(&mem, "count(requests_total)", END)
        .unwrap()
    else {
        panic!("not a vector")
    };
    assert_eq!(v[0].v, 4.0);
}
