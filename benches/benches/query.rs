//! tsdb-query: latency of the peers' PromQL battery (`../shared/peers/queries.txt`, read
//! at run time) on the fleet data of `../shared/peers/gen.py --hosts 100 --hours 24`,
//! imported as `tsdb import` does into a fresh database, persisted to segments and
//! reopened. One criterion group per query, `query/<name>`; each iteration parses and
//! evaluates the query at the peers' times (T = end of data − interval/2; range queries
//! over `[T − range, T]` at their step).
//!
//! `cargo bench -p tsdb-benches --bench query` (a few minutes: about a minute to generate
//! the data the first time, cached under `<target>/bench-data/fleet-100h-24h`, a minute to
//! import it, then 10 samples of each query). `query-report` prints the same medians as one
//! table, beside the peers' figures.

use std::path::Path;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use tsdb_benches::query_fleet::{counts, loadavg, queries_file, read_queries, Fixture};
use tsdb_query::Engine;

fn bench(c: &mut Criterion) {
    let queries = match read_queries(&queries_file()) {
        Ok(q) => q,
        Err(e) => panic!("the peers' query battery: {e}"),
    };
    eprintln!("query: load average {} before the import", loadavg());
    let fx = match Fixture::load(None, Path::new("/tmp")) {
        Ok(f) => f,
        Err(e) => panic!("query bench fixture: {e}"),
    };
    eprintln!(
        "query: {} series, {} samples in {} segments ({} head samples); load average {}",
        fx.load.series,
        fx.load.samples,
        fx.load.segments,
        fx.load.head_samples,
        loadavg()
    );
    let engine = Engine::default();
    let anchor = fx.anchor_ms();
    for q in &queries {
        let (series, points) = match q.run(&engine, &fx.db, anchor) {
            Ok(v) => counts(&v),
            Err(e) => panic!("{}: {e}", q.name),
        };
        eprintln!("query/{}: {series} series, {points} points", q.name);
        let mut g = c.benchmark_group(format!("query/{}", q.name));
        g.sample_size(10)
            .warm_up_time(Duration::from_millis(300))
            .measurement_time(Duration::from_secs(2));
        g.bench_function(q.kind.as_str(), |b| {
            b.iter(|| q.run(&engine, &fx.db, anchor))
        });
        g.finish();
    }
    eprintln!("query: load average {} at the end", loadavg());
}

criterion_group!(benches, bench);
criterion_main!(benches);
