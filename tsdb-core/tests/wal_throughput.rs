//! Not a correctness test: measures raw WAL throughput, append + commit of batches of
//! 10,000 samples, one and two writer threads, `SyncMode::Always` (an fsync per batch,
//! shared by group commit) and, for comparison, `SyncMode::Never`. Ignored by default;
//! run on the disk under `$TMPDIR` (default `/tmp`) with
//!
//! ```sh
//! cargo test --release -p tsdb-core --test wal_throughput -- --ignored --nocapture
//! ```

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic in a test is a failed assertion

use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use tsdb_core::wal::{Record, RefSample, SyncMode, Wal, WalOptions};

const BATCH: u64 = 10_000;
const RUN_FOR: Duration = Duration::from_secs(3);

fn batches(thread: u64) -> Vec<Record> {
    (0..8u64)
        .map(|b| {
            Record::Samples(
                (0..BATCH)
                    .map(|i| RefSample {
                        series_ref: thread * 1_000_000 + i,
                        t: 1_700_000_000_000 + b as i64 * 15_000,
                        v: ((i * 7919 + b * 104_729) % 100_000) as f64 / 100.0,
                    })
                    .collect(),
            )
        })
        .collect()
}

fn run(threads: u64, sync: SyncMode) {
    let tmp = tempfile::tempdir().unwrap();
    let opts = WalOptions {
        sync,
        ..WalOptions::default()
    };
    let (wal, _) = Wal::open(tmp.path(), opts, |_| Ok(())).unwrap();
    let wal = Arc::new(wal);
    let barrier = Arc::new(Barrier::new(threads as usize + 1));
    let handles: Vec<_> = (0..threads)
        .map(|th| {
            let wal = Arc::clone(&wal);
            let barrier = Arc::clone(&barrier);
            let recs = batches(th);
            std::thread::spawn(move || {
                barrier.wait();
                let start = Instant::now();
                let mut n = 0u64;
                while start.elapsed() < RUN_FOR {
                    let r = &recs[(n % recs.len() as u64) as usize];
                    let lsn = wal.append(std::slice::from_ref(r)).unwrap();
                    wal.commit(lsn).unwrap();
                    n += 1;
                }
                n
            })
        })
        .collect();
    barrier.wait();
    let start = Instant::now();
    let batches: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
    let secs = start.elapsed().as_secs_f64();
    let stats = wal.stats().unwrap();
    let samples = batches * BATCH;
    let mb = stats.bytes_on_disk as f64 / 1e6;
    println!(
        "{threads} thread(s) {sync:?}: {batches} batches, {:.2} M samples/s, {:.1} MB/s, \
         {:.2} bytes/sample, {} fsyncs ({:.2} batches per fsync)",
        samples as f64 / secs / 1e6,
        mb / secs,
        stats.bytes_on_disk as f64 / samples as f64,
        stats.fsyncs,
        batches as f64 / stats.fsyncs.max(1) as f64,
    );
    Arc::try_unwrap(wal).unwrap().close().unwrap();
}

#[test]
#[ignore = "a measurement, not a test: run with --ignored --nocapture in release mode"]
fn append_and_commit_throughput() {
    for threads in [1, 2] {
        run(threads, SyncMode::Always);
    }
    for threads in [1, 2] {
        run(threads, SyncMode::Never);
    }
}
