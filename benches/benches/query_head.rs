//! tsdb-query over head data: instant queries, the shape of alert rules, against a head
//! that was never persisted, so every series is read from its open chunk (and the closed
//! one before it only when the window reaches it).
//!
//! `cargo bench -p tsdb-benches --bench query_head` (about a minute: 10,000 series of the
//! TSBS-like fleet, `core_load`, appended for 1,500 rounds of 10 s, 15 M samples; then 10
//! samples of each query). Every series has one closed chunk of 1,024 samples and an open
//! one of 476; the queries run at the last round, so a 5-minute window lies in the open
//! chunk and a 6-hour one covers both.
//!
//! - `query_head/selector`: `cpu_usage_user`, 1,000 series, one sample each;
//! - `query_head/alert`: `max by (region) (cpu_usage_user) > 50`;
//! - `query_head/rate_5m`: `sum by (region) (rate(cpu_usage_system[5m]))`;
//! - `query_head/avg_6h`: `avg_over_time(cpu_usage_idle[6h])`, both chunks of 1,000 series.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use tsdb_benches::core_load::{loadavg, Writer, STEP_MS, T0};
use tsdb_core::wal::SyncMode;
use tsdb_core::{Db, Options};
use tsdb_query::{Engine, Value};

const SERIES: usize = 10_000;
const ROUNDS: u32 = 1_500;

fn bench(c: &mut Criterion) {
    eprintln!("query_head: load average {} at start", loadavg());
    let dir = match tempfile::Builder::new()
        .prefix("tsdb-query-head-bench")
        .tempdir_in("/tmp")
    {
        Ok(d) => d,
        Err(e) => panic!("temporary directory under /tmp: {e}"),
    };
    let db = match Db::open(
        dir.path(),
        Options {
            background_maintenance: false,
            sync: SyncMode::Never,
            ..Options::default()
        },
    ) {
        Ok(db) => db,
        Err(e) => panic!("open: {e}"),
    };
    let start = Instant::now();
    let mut w = Writer::create(&db, 0, SERIES);
    while w.round < ROUNDS {
        w.append_next(&db);
    }
    eprintln!(
        "query_head: {SERIES} series x {ROUNDS} samples appended in {:.1} s",
        start.elapsed().as_secs_f64()
    );
    let at = T0 + i64::from(ROUNDS - 1) * STEP_MS;
    let engine = Engine::default();
    let cases = [
        ("selector", "cpu_usage_user", 1_000),
        ("alert", "max by (region) (cpu_usage_user) > 50", 0),
        ("rate_5m", "sum by (region) (rate(cpu_usage_system[5m]))", 0),
        ("avg_6h", "avg_over_time(cpu_usage_idle[6h])", 1_000),
    ];
    let mut g = c.benchmark_group("query_head");
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    for (name, promql, want) in cases {
        match engine.instant_query(&db, promql, at) {
            Ok(Value::Vector(v)) => {
                assert!(!v.is_empty(), "{name}: empty answer");
                if want > 0 {
                    assert_eq!(v.len(), want, "{name}: wrong series count");
                }
            }
            Ok(other) => panic!("{name}: not a vector: {other:?}"),
            Err(e) => panic!("{name}: {e}"),
        }
        g.bench_function(name, |b| {
            b.iter(|| black_box(engine.instant_query(&db, promql, at)))
        });
    }
    g.finish();
    eprintln!("query_head: load average {} at end", loadavg());
}

criterion_group!(benches, bench);
criterion_main!(benches);
