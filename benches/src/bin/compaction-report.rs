//! Compaction and downsampling throughput, and what they cost ingestion.
//!
//! 1. Writes `SERIES` series at 10 s for `DAYS` days (persisted as 2 h segments, nothing
//!    compacted), then times `Db::compact` (raw samples merged per second) and
//!    `Db::downsample` under the standard rules (raw samples rolled up per second, both
//!    resolutions).
//! 2. Ingest throughput into a fresh copy of that database, appending the following
//!    scrapes (one batch per scrape of every series) for as long as its compaction and
//!    rollups run on another thread, then the same scrapes into another fresh copy with
//!    nothing else running, `ROUNDS` times. Prints samples/s and the median drop.
//!
//! `cargo run --release -p tsdb-benches --bin compaction-report -- [SERIES] [DAYS] [ROUNDS]`
//! (defaults 2000, 2, 3). The WAL does not fsync (`SyncMode::Never`): the figure is the
//! engine's CPU, not the disk's fsync latency.

#![allow(
    clippy::expect_used,
    reason = "a report over its own generated data: a failure is a bug to see at once"
)]

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tsdb_core::wal::SyncMode;
use tsdb_core::{Batch, Clock, Db, Downsampling, ManualClock, Options};
use tsdb_index::Labels;

const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;
const START: i64 = 1_700_000_000_000 / DAY * DAY;

fn options(clock: &Arc<ManualClock>) -> Options {
    Options {
        clock: clock.clone(),
        background_maintenance: false,
        sync: SyncMode::Never,
        downsampling: Downsampling::standard(),
        ..Options::default()
    }
}

fn labels(series: usize) -> Vec<Labels> {
    (0..series)
        .map(|i| {
            Labels::new([
                ("__name__", ["cpu", "requests_total", "mem"][i % 3]),
                ("host", &format!("host-{:05}", i / 3)),
            ])
            .expect("valid labels")
        })
        .collect()
}

fn value(i: usize, k: i64) -> f64 {
    match i % 3 {
        0 => ((k * 7 + i as i64) % 10_000) as f64 / 100.0,
        1 => (k * (1 + (i as i64 % 5))) as f64,
        _ => 2e9 + ((k * 31 + i as i64) % 4096) as f64 * 4096.0,
    }
}

/// Appends scrapes `[from, to)` (one batch each); returns samples appended.
fn ingest(db: &Db, clock: &ManualClock, labels: &[Labels], from: i64, to: i64) -> u64 {
    let mut n = 0;
    for k in from..to {
        let t = START + k * 10_000;
        clock.set(clock.now_ms().max(t));
        let mut b = Batch::new();
        for (i, l) in labels.iter().enumerate() {
            let s = b.series(l.clone());
            b.sample(s, t, value(i, k));
        }
        db.append_batch(&b).expect("append");
        n += labels.len() as u64;
    }
    n
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read_dir") {
        let e = e.expect("entry");
        let p = to.join(e.file_name());
        if e.file_type().expect("type").is_dir() {
            copy_dir(&e.path(), &p);
        } else if e.file_name() != "LOCK" {
            std::fs::copy(e.path(), p).expect("copy");
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let series: usize = args.get(1).map_or(Ok(2000), |a| a.parse())?;
    let days: i64 = args.get(2).map_or(Ok(2), |a| a.parse())?;
    let rounds: usize = args.get(3).map_or(Ok(3), |a| a.parse())?;
    let labels = labels(series);
    let base = tempfile::tempdir()?;
    let seed = base.path().join("seed");
    let scrapes = days * 8640;
    {
        let clock = Arc::new(ManualClock::new(START));
        let db = Db::open(&seed, options(&clock))?;
        ingest(&db, &clock, &labels, 0, scrapes);
        db.persist_all()?;
        db.close()?;
    }
    println!(
        "{series} series, {days} days at 10 s: {} samples",
        series as i64 * scrapes
    );
    let now = START + scrapes * 10_000;
    // 1. throughput of compaction and downsampling on a copy
    {
        let dir = base.path().join("throughput");
        copy_dir(&seed, &dir);
        let clock = Arc::new(ManualClock::new(now));
        let db = Db::open(&dir, options(&clock))?;
        let c = db.compact()?;
        let d = db.downsample()?;
        println!(
            "compact: {} segments into {}, {} samples in {:.2?}: {:.2} M samples/s; {} -> {} bytes",
            c.segments_replaced,
            c.segments_written,
            c.samples,
            c.duration,
            c.samples as f64 / c.duration.as_secs_f64() / 1e6,
            c.bytes_before,
            c.bytes_after
        );
        println!(
            "downsample: {} rollup segments, {} raw samples read, {} buckets in {:.2?}: {:.2} M raw samples/s",
            d.segments_written,
            d.samples_read,
            d.buckets,
            d.duration,
            d.samples_read as f64 / d.duration.as_secs_f64() / 1e6
        );
        db.close()?;
    }
    // 2. ingestion alone and beside compaction, alternated: beside it, scrapes are
    // appended for as long as the compaction and rollups of a fresh copy run; alone, the
    // same number of scrapes into another fresh copy
    let mut alone = Vec::new();
    let mut beside = Vec::new();
    for round in 0..rounds {
        let (rate_beside, n_scrapes, busy) = {
            let dir = base.path().join(format!("beside-{round}"));
            copy_dir(&seed, &dir);
            let clock = Arc::new(ManualClock::new(now));
            let db = Arc::new(Db::open(&dir, options(&clock))?);
            let worker = {
                let db = db.clone();
                std::thread::spawn(move || -> Duration {
                    let t = Instant::now();
                    db.compact().expect("compact");
                    db.downsample().expect("downsample");
                    t.elapsed()
                })
            };
            let t = Instant::now();
            let mut k = scrapes;
            let mut n = 0;
            while !worker.is_finished() {
                n += ingest(&db, &clock, &labels, k, k + 6);
                k += 6;
            }
            let took = t.elapsed();
            let busy = worker.join().map_err(|_| "compaction thread panicked")?;
            drop(db);
            std::fs::remove_dir_all(&dir)?;
            (n as f64 / took.as_secs_f64(), k - scrapes, busy)
        };
        let rate_alone = {
            let dir = base.path().join(format!("alone-{round}"));
            copy_dir(&seed, &dir);
            let clock = Arc::new(ManualClock::new(now));
            let db = Db::open(&dir, options(&clock))?;
            let t = Instant::now();
            let n = ingest(&db, &clock, &labels, scrapes, scrapes + n_scrapes);
            let rate = n as f64 / t.elapsed().as_secs_f64();
            drop(db);
            std::fs::remove_dir_all(&dir)?;
            rate
        };
        println!(
            "round {round}: {n_scrapes} scrapes of {series} series: alone {:.2} M samples/s, \
             beside compaction and rollups ({busy:.2?}) {:.2} M samples/s",
            rate_alone / 1e6,
            rate_beside / 1e6
        );
        alone.push(rate_alone);
        beside.push(rate_beside);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (a, b) = (median(&mut alone), median(&mut beside));
    println!(
        "median ingest: alone {:.2} M/s, beside compaction {:.2} M/s: {:.1} % drop",
        a / 1e6,
        b / 1e6,
        (1.0 - b / a) * 100.0
    );
    Ok(())
}
