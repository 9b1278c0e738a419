//! Instruction counts of the hot paths under Valgrind's Callgrind (issue 17), with
//! gungraun: every benchmark runs once, in its own process, on small fixed data, and the
//! count is the same from run to run on the same binary, whatever else the machine does.
//! That makes a regression of a few percent visible on a shared 2-core machine where the
//! wall-clock benches (criterion) cannot see it.
//!
//! `benches/tools/instr-bench.sh` runs the suite and writes the counts as JSON, and
//! `benches/tools/instr-gate.sh` (CI's last step) compares them with the baseline;
//! directly: `cargo bench --workspace --bench instructions` (needs `valgrind` and
//! `gungraun-runner` at the version of the `gungraun` dev-dependency). A benchmark's
//! counted part must not grow vectors of its own: whether `realloc` copies depends on
//! heap layout, which moves with path lengths, so such counts differ between clones.
//!
//! Everything a benchmark needs is built by the argument expression of its `#[bench]`
//! (not counted): the data come from the deterministic generators the criterion benches
//! use (`core_load`'s fleet, `index_fleet`, `exposition`, the bundled NAB files), databases
//! live on the in-memory file system of `tsdb_core::testing` with a manual clock, the WAL
//! never fsyncs on its own, and no background thread runs. So the counted part is the
//! engine's code alone, with no I/O and no time-dependent branch.
//!
//! Groups:
//! - `chunks`: encoding and decoding our chunks, fleet-shaped values (1,000 series x 120
//!   samples of `core_load`) and the NAB files (127,000 samples);
//! - `index`: `select` on the in-memory and the on-disk index of the TSBS-like fleet
//!   (1,000 hosts, 10,000 series): a host (metric scope), a region and a service regex
//!   (metric scope), a rack (global postings) and the regex without a metric;
//! - `head`: `Db::append_batch` of 10,000 samples, new series by labels, existing series
//!   by labels, existing series by reference;
//! - `wal`: `Wal::append` + `commit` of the records of 1,000 new series and their 10,000
//!   samples (sync `Never`: no group commit, no fsync);
//! - `segment`: `persist_all` of a head of 200 series x 2 h (one segment), and opening
//!   the database holding it;
//! - `promql`: instant and range queries of the peers' battery's shapes over a persisted
//!   fleet (200 series x 3 h);
//! - `ingest`: decoding + translating a remote write 1.0 body and an Influx body (10,000
//!   samples each, `tsdb_ingest::fuzzing::fuzz_decode`);
//! - `scrape`: the text-format parser on a node-exporter page of 1,000 series;
//! - `rules`: one evaluation of a group of recording and alerting rules;
//! - `results_cache`: a range query answered entirely from the results cache.

// gungraun's macros generate modules without doc comments
#![allow(missing_docs)]

use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;

use gungraun::{library_benchmark, library_benchmark_group, main, LibraryBenchmarkConfig};
use prost::Message as _;
use tsdb_benches::core_load::{self, series_labels, Values, Writer, STEP_MS, T0};
use tsdb_benches::exposition::Schema;
use tsdb_benches::index_fleet;
use tsdb_compress::chunk::DEFAULT_MAX_SAMPLES;
use tsdb_compress::{Chunk, ChunkOptions, ChunkRef, Sample};
use tsdb_core::testing::PowerLossFs;
use tsdb_core::wal::{Record, RefSample, SyncMode, Wal, WalOptions};
use tsdb_core::{Batch, Db, ManualClock, Options};
use tsdb_index::{DiskIndex, Matcher, MemIndex};
use tsdb_ingest::fuzzing::fuzz_decode;
use tsdb_ingest::proto::prometheus as rw;
use tsdb_ingest::Protocol;
use tsdb_query::{Engine, ResultsCache, ResultsCacheOptions, Value};
use tsdb_rules::{RuleManager, RuleOptions};

const HOUR_MS: i64 = 3_600_000;

// ---------------------------------------------------------------------------------------
// Fixtures (built outside the measurement)

/// Options of a database on a fresh in-memory file system, its clock stopped at `now_ms`:
/// no disk, no fsync, no background thread, no wall clock.
fn mem_options(now_ms: i64) -> Options {
    mem_options_on(Arc::new(PowerLossFs::new()), now_ms)
}

fn mem_options_on(fs: Arc<PowerLossFs>, now_ms: i64) -> Options {
    Options {
        fs,
        clock: Arc::new(ManualClock::new(now_ms)),
        sync: SyncMode::Never,
        background_maintenance: false,
        ..Options::default()
    }
}

fn open_db(options: Options) -> Db {
    match Db::open(Path::new("/db"), options) {
        Ok(db) => db,
        Err(e) => panic!("Db::open: {e}"),
    }
}

/// `series` series of the `core_load` fleet with `rounds` samples each, 10 s apart from
/// [`T0`], on the in-memory file system; the clock stands just after the last sample.
fn fleet_db(series: usize, rounds: u32) -> Db {
    let db = open_db(mem_options(T0 + i64::from(rounds) * STEP_MS));
    let mut w = Writer::create(&db, 0, series);
    while w.round < rounds {
        w.append_next(&db);
    }
    db
}

/// [`fleet_db`], persisted to segments, closed and opened again: every sample is read
/// from segments, as in the query-latency bench.
fn persisted_fleet(series: usize, rounds: u32) -> Db {
    let fs = Arc::new(PowerLossFs::new());
    let now = T0 + i64::from(rounds) * STEP_MS;
    {
        let db = open_db(mem_options_on(fs.clone(), now));
        let mut w = Writer::create(&db, 0, series);
        while w.round < rounds {
            w.append_next(&db);
        }
        if let Err(e) = db.persist_all() {
            panic!("persist_all: {e}");
        }
        if let Err(e) = db.close() {
            panic!("close: {e}");
        }
    }
    open_db(mem_options_on(fs, now))
}

/// The fleet the PromQL, rules and results-cache benches read: 20 hosts x 10 metrics,
/// 3 hours of 10 s samples (216,000 samples, two 2-hour segments).
const QUERY_SERIES: usize = 200;
const QUERY_ROUNDS: u32 = 1_080;

/// The query time: the last sample's time, as an alert rule or a dashboard's "now" sees.
fn query_end() -> i64 {
    T0 + i64::from(QUERY_ROUNDS - 1) * STEP_MS
}

/// `n` series of `rounds` samples of the `core_load` fleet's values.
fn fleet_samples(n: usize, rounds: u32) -> Vec<Vec<Sample>> {
    let mut values = Values::new(0, n);
    let mut out = vec![Vec::with_capacity(rounds as usize); n];
    for round in 0..rounds {
        let t = T0 + i64::from(round) * STEP_MS;
        for (k, s) in out.iter_mut().enumerate() {
            s.push(Sample {
                t,
                v: values.next(k, round),
            });
        }
    }
    out
}

fn nab_samples() -> Vec<Vec<Sample>> {
    tsdb_benches::data::nab()
        .into_iter()
        .map(|s| s.samples)
        .collect()
}

/// Encoded chunks, and how many samples they hold (the decode benchmark's output size).
struct EncodedChunks {
    chunks: Vec<Vec<u8>>,
    samples: usize,
}

fn encode_all(series: &[Vec<Sample>]) -> EncodedChunks {
    let chunks = series
        .iter()
        .flat_map(|s| {
            match Chunk::encode_series(
                s,
                ChunkOptions {
                    max_samples: DEFAULT_MAX_SAMPLES,
                },
            ) {
                Ok(cs) => cs.into_iter().map(Chunk::into_bytes),
                Err(e) => panic!("encode: {e}"),
            }
        })
        .collect();
    EncodedChunks {
        chunks,
        samples: series.iter().map(Vec::len).sum(),
    }
}

// ---------------------------------------------------------------------------------------
// chunks

fn chunks_fleet() -> Vec<Vec<Sample>> {
    fleet_samples(1_000, 120)
}

#[library_benchmark]
#[bench::fleet(chunks_fleet())]
#[bench::nab(nab_samples())]
fn encode(series: Vec<Vec<Sample>>) -> usize {
    let mut bytes = 0;
    for s in &series {
        match Chunk::encode_series(
            black_box(s),
            ChunkOptions {
                max_samples: DEFAULT_MAX_SAMPLES,
            },
        ) {
            Ok(cs) => bytes += cs.iter().map(|c| c.as_bytes().len()).sum::<usize>(),
            Err(e) => panic!("encode: {e}"),
        }
    }
    black_box(bytes)
}

#[library_benchmark]
#[bench::fleet(encode_all(&chunks_fleet()))]
#[bench::nab(encode_all(&nab_samples()))]
fn decode(input: EncodedChunks) -> usize {
    // the engine's read path: validate (CRC, header) and iterate into a vector. The vector
    // is sized up front: growing it costs memcpy that depends on where the allocator put
    // it, which moved this count by 7 % between two clones of the same commit.
    let mut out: Vec<Sample> = Vec::with_capacity(input.samples);
    for bytes in &input.chunks {
        match ChunkRef::new(black_box(bytes)) {
            Ok(view) => {
                for s in view.iter() {
                    match s {
                        Ok(s) => out.push(s),
                        Err(e) => panic!("decode: {e}"),
                    }
                }
            }
            Err(e) => panic!("chunk: {e}"),
        }
    }
    black_box(out.len())
}

library_benchmark_group!(name = chunks, benchmarks = [encode, decode]);

// ---------------------------------------------------------------------------------------
// index

const INDEX_HOSTS: u32 = 1_000;

/// The host of `index_fleet::query_host` exists in a fleet of this size.
fn query_host() -> Vec<Matcher> {
    vec![
        Matcher::equal("__name__", "cpu_usage_user"),
        Matcher::equal("hostname", "host_424"),
    ]
}

fn queries(name: &str) -> Vec<Matcher> {
    match name {
        "host" => query_host(),
        "region_services" => index_fleet::query_region_services(),
        "rack" => index_fleet::query_rack(),
        "any_metric_regex" => index_fleet::query_region_services_any_metric(),
        other => panic!("no query {other}"),
    }
}

fn mem_index(query: &str) -> (MemIndex, Vec<Matcher>) {
    let (idx, failed) = index_fleet::build_mem(&index_fleet::fleet(INDEX_HOSTS));
    assert_eq!(failed, 0, "fleet inserts failed");
    (idx, queries(query))
}

fn disk_index(query: &str) -> (Vec<u8>, Vec<Matcher>) {
    let series = index_fleet::fleet(INDEX_HOSTS);
    let order = index_fleet::label_order(&series);
    match index_fleet::write_index(&series, &order) {
        Ok(bytes) => (bytes, queries(query)),
        Err(e) => panic!("writing the index: {e}"),
    }
}

#[library_benchmark]
#[bench::host(mem_index("host"))]
#[bench::region_services(mem_index("region_services"))]
#[bench::rack(mem_index("rack"))]
#[bench::any_metric_regex(mem_index("any_metric_regex"))]
fn select_mem((idx, q): (MemIndex, Vec<Matcher>)) -> u64 {
    match idx.select(black_box(&q)) {
        Ok(hits) => black_box(hits.len()),
        Err(e) => panic!("select: {e}"),
    }
}

#[library_benchmark]
#[bench::host(disk_index("host"))]
#[bench::region_services(disk_index("region_services"))]
#[bench::rack(disk_index("rack"))]
#[bench::any_metric_regex(disk_index("any_metric_regex"))]
fn select_disk((bytes, q): (Vec<u8>, Vec<Matcher>)) -> u64 {
    // opening is a header check and offsets (the segment does it once); select is the rest
    let idx = match DiskIndex::open(&bytes) {
        Ok(i) => i,
        Err(e) => panic!("opening the index: {e}"),
    };
    match idx.select(black_box(&q)) {
        Ok(hits) => black_box(hits.len()),
        Err(e) => panic!("select: {e}"),
    }
}

library_benchmark_group!(name = index, benchmarks = [select_mem, select_disk]);

// ---------------------------------------------------------------------------------------
// head

const APPEND_SERIES: usize = 10_000;

/// An empty database and a batch creating 10,000 series by their labels.
fn new_series_batch() -> (Db, Batch) {
    let db = open_db(mem_options(T0 + STEP_MS));
    let mut values = Values::new(0, APPEND_SERIES);
    let mut batch = Batch::new();
    for k in 0..APPEND_SERIES {
        let s = batch.series(series_labels(k as u32));
        batch.sample(s, T0, values.next(k, 0));
    }
    (db, batch)
}

/// A database holding the 10,000 series (one round) and the next round's batch, the
/// series named by labels.
fn existing_by_labels() -> (Db, Batch) {
    let db = open_db(mem_options(T0 + 2 * STEP_MS));
    drop(Writer::create(&db, 0, APPEND_SERIES));
    let mut values = Values::new(0, APPEND_SERIES);
    let mut batch = Batch::new();
    for k in 0..APPEND_SERIES {
        values.next(k, 0);
        let s = batch.series(series_labels(k as u32));
        batch.sample(s, T0 + STEP_MS, values.next(k, 1));
    }
    (db, batch)
}

/// The same with the series named by the references the first append returned, as a
/// scraper that learnt them does.
fn existing_by_ref() -> (Db, Batch) {
    let db = open_db(mem_options(T0 + 2 * STEP_MS));
    let mut w = Writer::create(&db, 0, APPEND_SERIES);
    let batch = w.fill().clone();
    (db, batch)
}

#[library_benchmark]
#[bench::new_series_by_labels(new_series_batch())]
#[bench::existing_by_labels(existing_by_labels())]
#[bench::existing_by_ref(existing_by_ref())]
fn append_batch((db, batch): (Db, Batch)) -> Db {
    let out = core_load::append_checked(&db, black_box(&batch));
    black_box(out.refs.len());
    db
}

library_benchmark_group!(name = head, benchmarks = append_batch);

// ---------------------------------------------------------------------------------------
// wal

/// An empty log on the in-memory file system (sync `Never`) and the records of 1,000 new
/// series with 10 samples each, as the head logs a first append.
fn wal_records() -> (Wal, Vec<Record>) {
    let fs = Arc::new(PowerLossFs::new());
    let opts = WalOptions {
        sync: SyncMode::Never,
        ..WalOptions::default()
    };
    let wal = match Wal::open_with_fs(fs, Path::new("/wal"), opts, |_| Ok(())) {
        Ok((w, _)) => w,
        Err(e) => panic!("Wal::open: {e}"),
    };
    let n = 1_000;
    let mut records: Vec<Record> = (0..n)
        .map(|i| Record::Series {
            series_ref: i as u64 + 1,
            labels: series_labels(i as u32),
        })
        .collect();
    let samples = fleet_samples(n, 10);
    for round in 0..10 {
        records.push(Record::Samples(
            samples
                .iter()
                .enumerate()
                .filter_map(|(i, s)| {
                    s.get(round).map(|x| RefSample {
                        series_ref: i as u64 + 1,
                        t: x.t,
                        v: x.v,
                    })
                })
                .collect(),
        ));
    }
    (wal, records)
}

#[library_benchmark]
#[bench::series_and_samples(wal_records())]
fn append((wal, records): (Wal, Vec<Record>)) -> Wal {
    match wal
        .append(black_box(&records))
        .and_then(|lsn| wal.commit(lsn))
    {
        Ok(()) => wal,
        Err(e) => panic!("WAL append: {e}"),
    }
}

library_benchmark_group!(name = wal, benchmarks = append);

// ---------------------------------------------------------------------------------------
// segment

const SEGMENT_SERIES: usize = 200;
const SEGMENT_ROUNDS: u32 = 720;

fn head_for_segment() -> Db {
    fleet_db(SEGMENT_SERIES, SEGMENT_ROUNDS)
}

/// The in-memory file system holding a closed database whose data is one segment.
fn persisted_segment() -> Arc<PowerLossFs> {
    let fs = Arc::new(PowerLossFs::new());
    let now = T0 + i64::from(SEGMENT_ROUNDS) * STEP_MS;
    let db = open_db(mem_options_on(fs.clone(), now));
    let mut w = Writer::create(&db, 0, SEGMENT_SERIES);
    while w.round < SEGMENT_ROUNDS {
        w.append_next(&db);
    }
    match db.persist_all() {
        Ok(1) => {}
        Ok(n) => panic!("persist_all wrote {n} segments, want 1"),
        Err(e) => panic!("persist_all: {e}"),
    }
    if let Err(e) = db.close() {
        panic!("close: {e}");
    }
    fs
}

#[library_benchmark]
#[bench::persist_200_series_2h(head_for_segment())]
fn write(db: Db) -> Db {
    match db.persist_all() {
        Ok(n) => black_box(n),
        Err(e) => panic!("persist_all: {e}"),
    };
    db
}

#[library_benchmark]
#[bench::one_segment(persisted_segment())]
fn open(fs: Arc<PowerLossFs>) -> Db {
    let now = T0 + i64::from(SEGMENT_ROUNDS) * STEP_MS;
    open_db(mem_options_on(fs, now))
}

library_benchmark_group!(name = segment, benchmarks = [write, open]);

// ---------------------------------------------------------------------------------------
// promql

/// A query of the battery's shapes, in the `core_load` fleet's names (`hostname`, the
/// gauges `cpu_usage_user`/`idle`, the counters `cpu_usage_system`/`nice`).
fn promql(name: &str) -> (Db, &'static str, Option<(i64, i64)>) {
    let (q, range): (&str, Option<(i64, i64)>) = match name {
        "lastpoint_one_host" => (r#"{__name__=~"cpu_usage_.*", hostname="host_3"}"#, None),
        "topk_avg_1h" => ("topk(5, avg_over_time(cpu_usage_user[1h]))", None),
        "rate_by_region" => ("sum by (region) (rate(cpu_usage_system[5m]))", None),
        "groupby_8_hosts_1h" => (
            r#"max by (hostname) (max_over_time(cpu_usage_user{hostname=~"host_(1|2|3|4|5|6|7|8)"}[1m]))"#,
            Some((HOUR_MS, 60_000)),
        ),
        "avg_by_region_3h" => (
            "avg by (region) (cpu_usage_user)",
            Some((3 * HOUR_MS, 300_000)),
        ),
        "regex_and_ne_1h" => (
            r#"cpu_usage_idle{region=~"us-.*|eu-.*", os!="Ubuntu16.04LTS", team!~"SF|NYC"}"#,
            Some((HOUR_MS, 60_000)),
        ),
        "rate_ratio_3h" => (
            "sum by (team) (rate(cpu_usage_system[30m])) / sum by (team) (rate(cpu_usage_nice[30m]))",
            Some((3 * HOUR_MS, 1_800_000)),
        ),
        other => panic!("no query {other}"),
    };
    let db = persisted_fleet(QUERY_SERIES, QUERY_ROUNDS);
    // the answer must not be empty, or the benchmark measures nothing
    let got = run_query(&db, q, range);
    let empty = match &got {
        Value::Vector(v) => v.is_empty(),
        Value::Matrix(m) => m.is_empty(),
        _ => false,
    };
    assert!(!empty, "{name}: empty answer");
    (db, q, range)
}

fn run_query(db: &Db, q: &str, range: Option<(i64, i64)>) -> Value {
    let engine = Engine::default();
    let end = query_end();
    let got = match range {
        None => engine.instant_query(db, q, end),
        Some((len, step)) => engine.range_query(db, q, end - len, end, step),
    };
    match got {
        Ok(v) => v,
        Err(e) => panic!("{q}: {e}"),
    }
}

#[library_benchmark]
#[bench::lastpoint_one_host(promql("lastpoint_one_host"))]
#[bench::topk_avg_1h(promql("topk_avg_1h"))]
#[bench::rate_by_region(promql("rate_by_region"))]
fn instant((db, q, range): (Db, &'static str, Option<(i64, i64)>)) -> Value {
    run_query(&db, black_box(q), range)
}

#[library_benchmark]
#[bench::groupby_8_hosts_1h(promql("groupby_8_hosts_1h"))]
#[bench::avg_by_region_3h(promql("avg_by_region_3h"))]
#[bench::regex_and_ne_1h(promql("regex_and_ne_1h"))]
#[bench::rate_ratio_3h(promql("rate_ratio_3h"))]
fn range((db, q, range): (Db, &'static str, Option<(i64, i64)>)) -> Value {
    run_query(&db, black_box(q), range)
}

library_benchmark_group!(name = promql, benchmarks = [instant, range]);

// ---------------------------------------------------------------------------------------
// ingest

const PUSH_HOSTS: u32 = 100;
const PUSH_ROUNDS: u32 = 10;

/// A remote write 1.0 body (snappy block of a `WriteRequest`): 1,000 series of the fleet
/// with 10 samples each.
fn remote_write_body() -> Vec<u8> {
    let n = (PUSH_HOSTS * 10) as usize;
    let samples = fleet_samples(n, PUSH_ROUNDS);
    let req = rw::WriteRequest {
        timeseries: samples
            .iter()
            .enumerate()
            .map(|(i, s)| rw::TimeSeries {
                labels: series_labels(i as u32)
                    .iter()
                    .map(|(name, value)| rw::Label {
                        name: name.to_owned(),
                        value: value.to_owned(),
                    })
                    .collect(),
                samples: s
                    .iter()
                    .map(|x| rw::Sample {
                        value: x.v,
                        timestamp: x.t,
                    })
                    .collect(),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    };
    match snap::raw::Encoder::new().compress_vec(&req.encode_to_vec()) {
        Ok(b) => b,
        Err(e) => panic!("snappy: {e}"),
    }
}

/// An Influx line protocol body of the same data: one `cpu` line per host and round with
/// the ten `usage_*` fields (which become the `cpu_usage_*` metrics), nanosecond times.
fn influx_body() -> Vec<u8> {
    use std::fmt::Write as _;
    let n = (PUSH_HOSTS * 10) as usize;
    let samples = fleet_samples(n, PUSH_ROUNDS);
    let mut out = String::new();
    for round in 0..PUSH_ROUNDS as usize {
        for h in 0..PUSH_HOSTS {
            out.push_str("cpu");
            for (name, value) in index_fleet::host_labels(h) {
                let _ = write!(out, ",{name}={value}");
            }
            let mut sep = ' ';
            for (m, metric) in index_fleet::METRICS.iter().enumerate() {
                let field = metric.trim_start_matches("cpu_");
                let v = samples
                    .get(h as usize * 10 + m)
                    .and_then(|s| s.get(round))
                    .map_or(0.0, |x| x.v);
                let _ = write!(out, "{sep}{field}={v}");
                sep = ',';
            }
            let t = T0 + round as i64 * STEP_MS;
            let _ = writeln!(out, " {}", t * 1_000_000);
        }
    }
    out.into_bytes()
}

fn checked_body(protocol: Protocol, body: Vec<u8>) -> (Protocol, Vec<u8>) {
    let (series, samples) = fuzz_decode(protocol, &body);
    let want = (PUSH_HOSTS * 10 * PUSH_ROUNDS) as usize;
    assert_eq!(
        samples, want,
        "{protocol:?}: {series} series, {samples} samples"
    );
    (protocol, body)
}

#[library_benchmark]
#[bench::remote_write_v1(checked_body(Protocol::RemoteWriteV1, remote_write_body()))]
#[bench::influx(checked_body(Protocol::InfluxV1, influx_body()))]
fn decode_body((protocol, body): (Protocol, Vec<u8>)) -> (usize, usize) {
    black_box(fuzz_decode(protocol, black_box(&body)))
}

library_benchmark_group!(name = ingest, benchmarks = decode_body);

// ---------------------------------------------------------------------------------------
// scrape

/// A node-exporter page of 1,000 series (the scrape fleet's schema, second scrape).
fn exposition_page() -> Vec<u8> {
    let schema = Schema::new(1_000);
    let mut state = schema.target_state(7);
    let mut page = String::new();
    schema.render(&mut state, &mut page);
    page.clear();
    schema.render(&mut state, &mut page);
    page.into_bytes()
}

#[library_benchmark]
#[bench::node_exporter_1000(exposition_page())]
fn parse_text(page: Vec<u8>) -> usize {
    use tsdb_text::prometheus::{Dialect, Options, Parser};
    let mut n = 0;
    for s in Parser::new(black_box(&page), Options::new(Dialect::Prometheus)) {
        match s {
            Ok(s) => {
                black_box(&s);
                n += 1;
            }
            Err(e) => panic!("parse: {e}"),
        }
    }
    assert_eq!(n, 1_000, "samples parsed");
    n
}

library_benchmark_group!(name = scrape, benchmarks = parse_text);

// ---------------------------------------------------------------------------------------
// rules

/// A group of the rules operators write over the fleet: recording rules (aggregations,
/// rates, ratios) and alerting rules with `for`, some over the group's own records.
const RULES: &str = r#"groups:
- name: fleet
  interval: 1m
  rules:
  - record: region:cpu_usage_user:avg
    expr: avg by (region) (cpu_usage_user)
  - record: region:cpu_usage_system:rate5m
    expr: sum by (region) (rate(cpu_usage_system[5m]))
  - record: team:cpu_usage_nice:rate5m
    expr: sum by (team) (rate(cpu_usage_nice[5m]))
  - record: host:cpu_usage_busy:avg5m
    expr: 100 - avg_over_time(cpu_usage_idle[5m])
  - record: datacenter:cpu_usage_user:max
    expr: max by (datacenter) (max_over_time(cpu_usage_user[5m]))
  - record: service:cpu_usage_iowait:quantile
    expr: quantile by (service) (0.9, cpu_usage_iowait)
  - alert: HostBusy
    expr: host:cpu_usage_busy:avg5m > 60
    for: 5m
    labels:
      severity: warning
    annotations:
      summary: "{{ $labels.hostname }} busy"
      description: "{{ $value | humanize }} % busy"
  - alert: HighUserCpu
    expr: cpu_usage_user > 50
    for: 2m
    labels:
      severity: info
    annotations:
      summary: "user CPU {{ $value }}"
  - alert: RegionAverageHigh
    expr: region:cpu_usage_user:avg > 40
    labels:
      severity: page
  - alert: SystemRateHigh
    expr: region:cpu_usage_system:rate5m > 1
    for: 10m
"#;

/// The rule manager loaded with [`RULES`] and evaluated once a minute before the
/// measured evaluation (so alerts are pending or firing), over the persisted fleet.
fn rules_fixture() -> (RuleManager, Db, i64) {
    let db = persisted_fleet(QUERY_SERIES, QUERY_ROUNDS);
    let file = match tsdb_rules::parse_rule_file("fleet.yml", RULES.as_bytes()) {
        Ok(f) => f,
        Err(e) => panic!("rules: {e:?}"),
    };
    let t = query_end();
    let mut mgr = RuleManager::new(
        RuleOptions {
            evaluation_interval_ms: 60_000,
            ..RuleOptions::default()
        },
        Engine::default(),
    );
    if let Err(e) = mgr.update_files(vec![file], t) {
        panic!("rules: {e}");
    }
    for k in (1..=10).rev() {
        match mgr.evaluate_group(0, t - k * 60_000, &db, &db) {
            Some(o) => assert_eq!(o.failed_rules, 0, "rules failed"),
            None => panic!("no rule group"),
        }
    }
    (mgr, db, t)
}

#[library_benchmark]
#[bench::fleet_group_10_rules(rules_fixture())]
fn evaluate_group((mut mgr, db, t): (RuleManager, Db, i64)) -> (RuleManager, Db) {
    match mgr.evaluate_group(0, black_box(t), &db, &db) {
        Some(o) => assert_eq!(o.failed_rules, 0, "rules failed"),
        None => panic!("no rule group"),
    }
    (mgr, db)
}

library_benchmark_group!(name = rules, benchmarks = evaluate_group);

// ---------------------------------------------------------------------------------------
// results_cache

type CacheFixture = (
    ResultsCache,
    Engine,
    Db,
    tsdb_query::ast::Expr,
    (i64, i64, i64),
);

/// A results cache that answered `sum by (region) (rate(cpu_usage_system[5m]))` over the
/// fleet's last 2 hours at 1 minute once, its clock a day later (every split cached).
fn cache_fixture() -> CacheFixture {
    let db = persisted_fleet(QUERY_SERIES, QUERY_ROUNDS);
    let cache = ResultsCache::new(ResultsCacheOptions {
        clock: Arc::new(ManualClock::new(query_end() + 24 * HOUR_MS)),
        ..ResultsCacheOptions::default()
    });
    let engine = Engine::default();
    let expr = match tsdb_query::parse("sum by (region) (rate(cpu_usage_system[5m]))") {
        Ok(e) => e,
        Err(e) => panic!("parse: {e}"),
    };
    // whole hours, so both splits are covered and cached
    let end = T0 + 3 * HOUR_MS;
    let range = (end - 2 * HOUR_MS, end, 60_000);
    for _ in 0..2 {
        if let Err(e) = cache.range(&engine, &db, &expr, range, None) {
            panic!("range: {e}");
        }
    }
    let s = cache.stats();
    assert!(
        s.hits > 0,
        "the second query was not answered from the cache: {s:?}"
    );
    (cache, engine, db, expr, range)
}

#[library_benchmark]
#[bench::hit_2h_by_region(cache_fixture())]
fn lookup((cache, engine, db, expr, range): CacheFixture) -> Value {
    match cache.range(&engine, &db, black_box(&expr), range, None) {
        Ok(v) => v,
        Err(e) => panic!("range: {e}"),
    }
}

library_benchmark_group!(name = results_cache, benchmarks = lookup);

/// The configuration of every benchmark: with `TSDB_INSTR_PRELOAD` set (by
/// `benches/tools/instr-bench.sh`), that library is preloaded into the benchmark
/// processes. The script sets it to `fixed-getrandom.c`, which fixes std's hash map
/// seeds, so that hash map order, and with it the instruction count, is the same in
/// every run.
fn config() -> LibraryBenchmarkConfig {
    let mut config = LibraryBenchmarkConfig::default();
    if let Some(path) = std::env::var_os("TSDB_INSTR_PRELOAD") {
        config.env("LD_PRELOAD", path);
    }
    config
}

main!(
    config = config(),
    library_benchmark_groups = [
        chunks,
        index,
        head,
        wal,
        segment,
        promql,
        ingest,
        scrape,
        rules,
        results_cache
    ]
);
