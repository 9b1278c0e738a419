//! tsdb-ingest: decode + translate throughput of push request bodies, single thread.
//!
//! `cargo bench -p tsdb-benches --bench ingest`
//!
//! The bodies are the peers harness's own: `../shared/peers/gen.py --hosts 20 --hours 1
//! --formats influx,rw` (500 series, 180,000 samples, 180 bodies of each format),
//! generated once into `<target>/bench-data/push-20h-1h`. One iteration decodes every
//! body of a format: Influx line protocol through `tsdb_text::influx` into label sets and
//! samples grouped by series; remote write 1.0 through snappy, prost and label
//! validation. Nothing is appended to a database (that is `core/append`): this is the
//! part of a write request the ingest crate adds. Criterion's rate is samples/s.
//!
//! `ingest/write` is the whole library path a server request takes, minus HTTP: every
//! body through `Ingester::influx` / `Ingester::remote_write` into a fresh database
//! (default options: an fsync per request) under /tmp, one request after another on one
//! thread. Opening the database is outside the timing.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use tsdb_core::{Db, Options};
use tsdb_ingest::fuzzing::fuzz_decode;
use tsdb_ingest::{InfluxParams, IngestLimits, Ingester, Protocol};

fn decode(c: &mut Criterion) {
    let bodies = match tsdb_benches::data::push_bodies(20, 1) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("push bodies: {e}; skipping");
            return;
        }
    };
    let mut group = c.benchmark_group("ingest/decode");
    for (name, protocol, set) in [
        ("influx", Protocol::InfluxV1, &bodies.influx),
        (
            "remote_write_v1",
            Protocol::RemoteWriteV1,
            &bodies.remote_write,
        ),
    ] {
        let samples: usize = set.iter().map(|b| fuzz_decode(protocol, b).1).sum();
        let bytes: usize = set.iter().map(Vec::len).sum();
        eprintln!(
            "{name}: {} bodies, {bytes} bytes, {samples} samples",
            set.len()
        );
        group.throughput(Throughput::Elements(samples as u64));
        group.bench_function(name, |b| {
            b.iter(|| {
                for body in set {
                    black_box(fuzz_decode(protocol, black_box(body)));
                }
            })
        });
    }
    group.finish();
}

/// A fresh database and ingester in a temporary directory under /tmp.
fn fresh() -> (tempfile::TempDir, Ingester) {
    let dir = match tempfile::Builder::new()
        .prefix("tsdb-ingest-bench")
        .tempdir_in("/tmp")
    {
        Ok(d) => d,
        Err(e) => panic!("temporary directory: {e}"),
    };
    let db = match Db::open(dir.path(), Options::default()) {
        Ok(db) => db,
        Err(e) => panic!("Db::open: {e}"),
    };
    match Ingester::new(db, IngestLimits::default()) {
        Ok(i) => (dir, i),
        Err(e) => panic!("Ingester::new: {e}"),
    }
}

fn write(c: &mut Criterion) {
    let bodies = match tsdb_benches::data::push_bodies(20, 1) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("push bodies: {e}; skipping");
            return;
        }
    };
    let mut group = c.benchmark_group("ingest/write");
    group.sample_size(10);
    group.throughput(Throughput::Elements(180_000));
    let params = InfluxParams::default();
    group.bench_function("influx", |b| {
        b.iter_batched(
            fresh,
            |(dir, ingester)| {
                for body in &bodies.influx {
                    let o = ingester.influx(body, Protocol::InfluxV1, &params);
                    assert!(o.is_success(), "{}", o.summary());
                }
                (dir, ingester)
            },
            BatchSize::PerIteration,
        )
    });
    group.bench_function("remote_write_v1", |b| {
        b.iter_batched(
            fresh,
            |(dir, ingester)| {
                for body in &bodies.remote_write {
                    let o = ingester.remote_write(body, None, Some("snappy"));
                    assert!(o.is_success(), "{}", o.summary());
                }
                (dir, ingester)
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group!(benches, decode, write);
criterion_main!(benches);
