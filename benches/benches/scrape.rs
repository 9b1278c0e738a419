//! tsdb-scrape: the CPU of one scrape after the fetch, single thread.
//!
//! `cargo bench -p tsdb-benches --bench scrape`
//!
//! `scrape/process`: `ScrapeState::process` on a node-exporter-shaped body of 1,000
//! series (100 families with HELP and TYPE, 10 series each with `cpu`/`mode`/`device`
//! labels, values changing between scrapes), target labels attached, no metric
//! relabeling: parsing, the label sets, staleness tracking and the report series. The
//! state is warm (the series were in the previous scrape), as in a steady fleet.
//! `scrape/process_and_append` adds `Db::append_batch` of the outcome into a database
//! (default options, WAL fsync included) under /tmp, series named by the references the
//! cache learnt from the previous append, as the scrape manager does. Criterion's rate is samples/s; the
//! figure to compare with Prometheus's is in benches/RESULTS.md ("Scrape throughput").

use std::fmt::Write as _;
use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tsdb_core::{Db, Options};
use tsdb_index::Labels;
use tsdb_scrape::{ScrapeOptions, ScrapeState};

const TEXT: Option<&str> = Some("text/plain; version=0.0.4; charset=utf-8");

/// A body of `families` x 10 series; `round` changes every value.
fn body(families: usize, round: u64) -> Vec<u8> {
    let mut out = String::new();
    for f in 0..families {
        let (kind, name) = if f % 2 == 0 {
            ("counter", format!("node_family_{f}_total"))
        } else {
            ("gauge", format!("node_family_{f}_bytes"))
        };
        let _ = writeln!(out, "# HELP {name} Family {f} of a node exporter.");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        for s in 0..10u64 {
            let v = (round * 7 + s * 13 + f as u64) as f64 * 1.25;
            let _ = writeln!(
                out,
                "{name}{{cpu=\"{}\",device=\"sd{}\",mode=\"{}\"}} {v}",
                s % 4,
                s % 3,
                ["idle", "user", "system"][(s % 3) as usize]
            );
        }
    }
    out.into_bytes()
}

fn target() -> Labels {
    Labels::build_unchecked([("instance", "10.1.2.3:9100"), ("job", "node")])
        .unwrap_or_else(Labels::empty)
}

fn process(c: &mut Criterion) {
    let bodies: Vec<Vec<u8>> = (0..2).map(|r| body(100, r)).collect();
    let samples = 1_000u64;
    let opts = ScrapeOptions::default();
    let target = target();
    let mut group = c.benchmark_group("scrape");
    group.throughput(Throughput::Elements(samples));
    group.bench_function("process", |b| {
        let mut state = ScrapeState::new();
        let mut t = 1_700_000_000_000i64;
        state.process(&bodies[0], TEXT, t, Duration::ZERO, &target, &opts);
        let mut i = 1;
        b.iter(|| {
            t += 10_000;
            i ^= 1;
            black_box(state.process(
                black_box(&bodies[i]),
                TEXT,
                t,
                Duration::from_millis(3),
                &target,
                &opts,
            ))
        })
    });
    let Ok(dir) = tempfile::tempdir() else {
        eprintln!("no temporary directory; skipping process_and_append");
        return;
    };
    let db = match Db::open(dir.path(), Options::default()) {
        Ok(db) => db,
        Err(e) => {
            eprintln!("open: {e}; skipping process_and_append");
            return;
        }
    };
    group.bench_function("process_and_append", |b| {
        let mut state = ScrapeState::new();
        let mut t = 1_700_000_000_000i64;
        let mut i = 0;
        b.iter(|| {
            t += 10_000;
            i ^= 1;
            let outcome = state.process(&bodies[i], TEXT, t, Duration::ZERO, &target, &opts);
            match db.append_batch(&outcome.to_batch()) {
                // as the scrape manager does: the cache learns the series' references
                Ok(out) => state.learn_refs(&outcome.samples, &out),
                Err(e) => panic!("append: {e}"),
            }
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30);
    targets = process
}
criterion_main!(benches);
