//! tsdb-core: append throughput with the WAL on and an fsync per batch, and
//! query decode speed from the head and from segments.
//!
//! `cargo bench -p tsdb-benches --bench core`
//!
//! - `core/append`: batches of 10,000 samples (one per series, by ref) into 100,000
//!   existing series of the TSBS-like fleet, timestamps advancing 10 s per round of all
//!   series, default [`Options`] (`SyncMode::Always`: every `append_batch` returns after
//!   its fsync). `1_thread` appends to all 100,000 series; `2_threads` has each thread
//!   append to its own 50,000 (criterion's rate is the total: halve it for per core).
//!   Filling the batch is included; `fill_batch_only` is that part alone.
//! - `core/query`: one series' day of 10 s data (8,640 samples) and 1,000 series' hour
//!   (360 each), querier + select + iterating every sample, from the head and then,
//!   after `persist_all`, from 2-hour segments.
//!
//! Data directories are temporary directories under /tmp (the real disk on this machine;
//! see RESULTS.md). Sample counts are small on purpose: the run takes a few minutes.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tsdb_benches::core_load::{loadavg, sched_times, Writer, BATCH, STEP_MS, T0};
use tsdb_core::wal::SyncMode;
use tsdb_core::{Db, Options};
use tsdb_index::Matcher;

const APPEND_SERIES: usize = 100_000;
const QUERY_SERIES: usize = 1_000;
const DAY_MS: i64 = 86_400_000;
const HOUR_MS: i64 = 3_600_000;

fn tmpdir() -> tempfile::TempDir {
    match tempfile::Builder::new()
        .prefix("tsdb-core-bench")
        .tempdir_in("/tmp")
    {
        Ok(d) => d,
        Err(e) => panic!("temporary directory under /tmp: {e}"),
    }
}

fn open(dir: &tempfile::TempDir, options: Options) -> Db {
    match Db::open(dir.path(), options) {
        Ok(db) => db,
        Err(e) => panic!("Db::open: {e}"),
    }
}

fn report(what: &str, db: &Db, writers: &[&Writer]) {
    let rounds: Vec<u32> = writers.iter().map(|w| w.round).collect();
    match db.stats() {
        Ok(s) => eprintln!(
            "{what}: rounds reached {rounds:?} ({} s of data), head {} series / {} samples, \
             WAL {} B ({:.2} B/sample), {} segments; load average {}",
            i64::from(rounds.iter().copied().max().unwrap_or(0)) * STEP_MS / 1000,
            s.head_series,
            s.head_samples,
            s.wal_bytes,
            s.wal_bytes as f64 / s.head_samples.max(1) as f64,
            s.segments.len(),
            loadavg()
        ),
        Err(e) => eprintln!("{what}: stats failed: {e}"),
    }
}

/// Samples appended and where the appending threads' time went, over warm-up and
/// measurement together: the machine is shared, so CPU time per sample says more about
/// the code than wall time does.
#[derive(Default)]
struct Tally {
    samples: usize,
    wall: f64,
    cpu: f64,
    runq: f64,
}

impl Tally {
    fn add(&mut self, samples: usize, wall: f64, cpu: f64, runq: f64) {
        self.samples += samples;
        self.wall += wall;
        self.cpu += cpu;
        self.runq += runq;
    }

    fn print(&self, what: &str, threads: usize) {
        let thread_s = self.wall * threads as f64;
        eprintln!(
            "{what}: {} samples in {:.2} s wall = {:.2} M samples/s ({:.2} M/s per thread); \
             appending threads on CPU {:.2} s = {:.2} M samples per CPU-second, waiting \
             for a CPU {:.2} s, blocked (fsync, locks) {:.2} s",
            self.samples,
            self.wall,
            self.samples as f64 / self.wall / 1e6,
            self.samples as f64 / self.wall / 1e6 / threads as f64,
            self.cpu,
            self.samples as f64 / self.cpu / 1e6,
            self.runq,
            thread_s - self.cpu - self.runq
        );
    }
}

fn append(c: &mut Criterion) {
    eprintln!("core/append: load average {} at start", loadavg());
    let mut g = c.benchmark_group("core/append");
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));

    {
        let dir = tmpdir();
        let db = open(&dir, Options::default());
        let mut w = Writer::create(&db, 0, APPEND_SERIES);
        g.throughput(Throughput::Elements(BATCH as u64));
        let mut tally = Tally::default();
        g.bench_function("1_thread", |b| {
            b.iter_custom(|iters| {
                let (cpu0, runq0) = sched_times();
                let start = Instant::now();
                let mut n = 0;
                for _ in 0..iters {
                    n += black_box(w.append_next(&db));
                }
                let wall = start.elapsed();
                let (cpu1, runq1) = sched_times();
                tally.add(n, wall.as_secs_f64(), cpu1 - cpu0, runq1 - runq0);
                wall
            })
        });
        report("core/append/1_thread", &db, &[&w]);
        tally.print("core/append/1_thread", 1);
        // Last: the rounds filled here are never appended. Appending after such a gap
        // would make the head span more than 1.5 block ranges, persist, and drop every
        // series as idle (their refs then answer UnknownSeriesRef).
        g.bench_function("fill_batch_only", |b| b.iter(|| w.fill().len()));
    }

    {
        let dir = tmpdir();
        let db = open(&dir, Options::default());
        let half = APPEND_SERIES / 2;
        let mut writers = [
            Writer::create(&db, 0, half),
            Writer::create(&db, half as u32, half),
        ];
        g.throughput(Throughput::Elements(2 * BATCH as u64));
        let mut tally = Tally::default();
        g.bench_function("2_threads", |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                let per_thread: Vec<(usize, f64, f64)> = std::thread::scope(|s| {
                    let handles: Vec<_> = writers
                        .iter_mut()
                        .map(|w| {
                            let db = &db;
                            s.spawn(move || {
                                let (cpu0, runq0) = sched_times();
                                let mut n = 0;
                                for _ in 0..iters {
                                    n += black_box(w.append_next(db));
                                }
                                let (cpu1, runq1) = sched_times();
                                (n, cpu1 - cpu0, runq1 - runq0)
                            })
                        })
                        .collect();
                    handles
                        .into_iter()
                        .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
                        .collect()
                });
                let wall = start.elapsed();
                for (n, cpu, runq) in per_thread {
                    tally.add(n, 0.0, cpu, runq);
                }
                tally.wall += wall.as_secs_f64();
                wall
            })
        });
        report("core/append/2_threads", &db, &[&writers[0], &writers[1]]);
        tally.print("core/append/2_threads", 2);
    }
    g.finish();
}

/// Querier, select, and every sample iterated; returns the number of samples.
fn read_all(db: &Db, matchers: &[Matcher], mint: i64, maxt: i64) -> usize {
    let q = match db.querier(mint, maxt) {
        Ok(q) => q,
        Err(e) => panic!("querier: {e}"),
    };
    let series = match q.select(matchers) {
        Ok(s) => s,
        Err(e) => panic!("select: {e}"),
    };
    let (mut n, mut sum_t, mut sum_v) = (0usize, 0i64, 0f64);
    for s in &series {
        for x in s.iter() {
            match x {
                Ok(x) => {
                    n += 1;
                    sum_t = sum_t.wrapping_add(x.t);
                    sum_v += x.v;
                }
                Err(e) => panic!("reading {:?}: {e}", s.labels()),
            }
        }
    }
    black_box((sum_t, sum_v));
    n
}

/// A query case: name, selector, time range, expected sample count.
type Case<'a> = (&'a str, &'a [Matcher], (i64, i64), usize);

fn query(c: &mut Criterion) {
    eprintln!("core/query: load average {} at start", loadavg());
    let dir = tmpdir();
    // The fixture is built without fsyncs; the head keeps the whole day until persist_all.
    let db = open(
        &dir,
        Options {
            background_maintenance: false,
            sync: SyncMode::Never,
            ..Options::default()
        },
    );
    let start = Instant::now();
    let mut w = Writer::create(&db, 0, QUERY_SERIES);
    let rounds = (DAY_MS / STEP_MS) as u32;
    while w.round < rounds {
        w.append_next(&db);
    }
    eprintln!(
        "core/query: fixture of {QUERY_SERIES} series x {rounds} samples appended in {:.1} s",
        start.elapsed().as_secs_f64()
    );

    let one = vec![
        Matcher::equal("__name__", "cpu_usage_user"),
        Matcher::equal("hostname", "host_42"),
    ];
    let all = match Matcher::regex("__name__", "cpu_usage_.+") {
        Ok(m) => vec![m],
        Err(e) => panic!("matcher: {e}"),
    };
    let day = (T0, T0 + DAY_MS - 1);
    let hour = (T0 + 12 * HOUR_MS, T0 + 13 * HOUR_MS - 1);
    let cases: [Case; 2] = [
        ("one_series_day", &one, day, 8_640),
        ("1000_series_hour", &all, hour, QUERY_SERIES * 360),
    ];

    let mut g = c.benchmark_group("core/query");
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    for source in ["head", "segments"] {
        if source == "segments" {
            let start = Instant::now();
            match db.persist_all() {
                Ok(n) => eprintln!(
                    "core/query: persist_all wrote {n} segments in {:.1} s",
                    start.elapsed().as_secs_f64()
                ),
                Err(e) => panic!("persist_all: {e}"),
            }
        }
        report(&format!("core/query/{source}"), &db, &[&w]);
        for (name, m, (mint, maxt), want) in &cases {
            let got = read_all(&db, m, *mint, *maxt);
            assert_eq!(got, *want, "{source}/{name}: wrong sample count");
            g.throughput(Throughput::Elements(*want as u64));
            g.bench_function(format!("{source}/{name}"), |b| {
                b.iter(|| read_all(&db, m, *mint, *maxt))
            });
        }
    }
    g.finish();
    eprintln!("core/query: load average {} at end", loadavg());
}

criterion_group!(benches, append, query);
criterion_main!(benches);
