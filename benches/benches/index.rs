//! tsdb-index on a TSBS-like fleet of 1,000,000 series (10 cpu metrics x 100,000 hosts):
//! the two fleet selectors on the in-memory and on-disk index against a linear scan in
//! the same run, inserting 1,000,000 series, and writing + reopening the on-disk form
//! (written as a segment's is: `IndexWriter` over the series in label order).
//!
//! `cargo bench -p tsdb-benches --bench index`
//!
//! Sample counts are small on purpose (a shared 2-core machine): the whole run takes a
//! few minutes. `index-report` prints the same figures as one table.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::hint::black_box;
use std::time::Duration;
use tsdb_benches::index_fleet::{
    build_mem, fleet, fleet_ids, label_order, linear_scan, query_host, query_region_services,
    write_index,
};
use tsdb_index::{DiskIndex, MemIndex};

const HOSTS: u32 = 100_000;

fn bench(c: &mut Criterion) {
    let series = fleet(HOSTS);
    let (idx, failed) = build_mem(&series);
    assert_eq!(failed, 0, "fleet inserts failed");
    let order = label_order(&series);
    let bytes = match write_index(&series, &order) {
        Ok(b) => b,
        Err(e) => panic!("writing the index: {e}"),
    };
    let disk = match DiskIndex::open(&bytes) {
        Ok(d) => d,
        Err(e) => panic!("opening the index: {e}"),
    };
    let queries = [
        ("host", query_host()),
        ("region_services", query_region_services()),
    ];

    let mut g = c.benchmark_group("index/select");
    g.sample_size(50)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    for (name, q) in &queries {
        // Same answer from every path, or the comparison means nothing.
        let want = linear_scan(&series, q);
        let got: Vec<u32> = idx
            .select(q)
            .map(|b| b.iter().collect())
            .unwrap_or_default();
        assert_eq!(got, want, "{name}: mem index disagrees with the scan");
        let got: Vec<u32> = disk
            .select(q)
            .map(|b| fleet_ids(&b, &order))
            .unwrap_or_default();
        assert_eq!(got, want, "{name}: disk index disagrees with the scan");
        g.bench_function(format!("mem/{name}"), |b| {
            b.iter(|| idx.select(black_box(q)).map(|r| r.len()).ok())
        });
        g.bench_function(format!("disk/{name}"), |b| {
            b.iter(|| disk.select(black_box(q)).map(|r| r.len()).ok())
        });
    }
    g.finish();

    let mut g = c.benchmark_group("index/linear_scan");
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    for (name, q) in &queries {
        g.bench_function(*name, |b| {
            b.iter(|| linear_scan(black_box(&series), q).len())
        });
    }
    g.finish();

    let mut g = c.benchmark_group("index/build");
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(10));
    g.throughput(Throughput::Elements(series.len() as u64));
    g.bench_function("insert_1m", |b| {
        b.iter_with_large_drop(|| {
            let idx = MemIndex::new();
            for l in &series {
                black_box(idx.get_or_insert(l).ok());
            }
            idx
        })
    });
    // The series come sorted, as the head hands them to the segment writer; the sort is
    // the head's work, not the writer's.
    g.bench_function("write_1m", |b| {
        b.iter_with_large_drop(|| write_index(&series, &order).ok())
    });
    g.bench_function("open_1m", |b| {
        b.iter(|| DiskIndex::open(black_box(&bytes)).map(|d| d.len()).ok())
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
