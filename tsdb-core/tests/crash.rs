//! Crash test: a child process appends batches and prints each acknowledged batch; the
//! test kills it with SIGKILL at a random moment, reopens the database and checks that
//! every acknowledged sample is there exactly once, that an unacknowledged batch is
//! either whole or absent, and that the database accepts new writes. The child persists
//! segments, checkpoints the log, compacts segments and rolls them up as it goes (a
//! one-second block range, so 3 s and 12 s compaction windows, 100 ms rollups of each
//! 12 s window), so kills land in those steps too.
//!
//! The child is this same test binary, re-run with `TSDB_CRASH_CHILD` set.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::T0;
use tsdb_core::{Batch, Db, DownsampleRule, Downsampling, ManualClock, Options, Tier};
use tsdb_index::{Labels, Matcher};

const CHILD_ENV: &str = "TSDB_CRASH_CHILD";
const START_ENV: &str = "TSDB_CRASH_START";
const SERIES: usize = 20;
const PER_BATCH: i64 = 5;
/// Batch k holds timestamps T0 + k*PER_BATCH*STEP ..., so batches never overlap.
const STEP: i64 = 100;
const ROUNDS: usize = 40;

fn options() -> Options {
    Options {
        block_range_ms: 1000,
        // "now" far ahead, so no sample is too far in the future
        clock: Arc::new(ManualClock::new(T0 + 10_000_000_000)),
        // 100 ms rollups of every complete 12 s window, in the background; raw data kept
        // (its age stays below the tier's), so reads are the raw samples
        downsampling: Downsampling {
            rules: vec![DownsampleRule {
                matchers: vec![],
                tiers: vec![Tier {
                    after_ms: 1_000_000_000_000,
                    resolution_ms: 100,
                }],
                keep_for_ms: None,
            }],
        },
        ..Options::default()
    }
}

fn labels(i: usize) -> Labels {
    Labels::new([("__name__", "crash"), ("s", &i.to_string())]).unwrap()
}

fn value(k: i64, s: usize, j: i64) -> f64 {
    (k * 1000 + s as i64 * 10 + j) as f64
}

fn batch(k: i64) -> Batch {
    let mut b = Batch::new();
    for s in 0..SERIES {
        let id = b.series(labels(s));
        for j in 0..PER_BATCH {
            b.sample(id, T0 + (k * PER_BATCH + j) * STEP, value(k, s, j));
        }
    }
    b
}

/// The child: append batches from `start` on, acknowledging each on stdout, until killed.
fn child(dir: &Path, start: i64) {
    let db = Db::open(dir, options()).unwrap();
    let mut out = std::io::stdout().lock();
    writeln!(out, "open").unwrap();
    out.flush().unwrap();
    for k in start.. {
        let outcome = db.append_batch(&batch(k)).unwrap();
        assert!(
            outcome.rejected.is_empty(),
            "{:?}",
            outcome.rejected.first()
        );
        writeln!(out, "ack {k}").unwrap();
        out.flush().unwrap();
    }
}

/// Batch number -> samples found, per series.
fn read_all(db: &Db) -> BTreeMap<i64, usize> {
    let q = db.querier(i64::MIN, i64::MAX).unwrap();
    let mut per_batch: BTreeMap<i64, usize> = BTreeMap::new();
    let found = q.select(&[Matcher::equal("__name__", "crash")]).unwrap();
    for series in found {
        let s: usize = series.labels().get("s").unwrap().parse().unwrap();
        let mut prev = i64::MIN;
        for sample in series.iter() {
            let sample = sample.unwrap();
            assert!(sample.t > prev, "timestamps repeat or go back");
            prev = sample.t;
            let n = (sample.t - T0) / STEP;
            let (k, j) = (n / PER_BATCH, n % PER_BATCH);
            assert_eq!(sample.v, value(k, s, j), "wrong value at {}", sample.t);
            *per_batch.entry(k).or_default() += 1;
        }
    }
    per_batch
}

#[test]
fn acknowledged_batches_survive_sigkill() {
    if let Ok(dir) = std::env::var(CHILD_ENV) {
        let start = std::env::var(START_ENV).unwrap().parse().unwrap();
        child(Path::new(&dir), start);
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut acked_max: i64 = -1;
    let mut next_start: i64 = 0;
    // a cheap deterministic spread of kill delays, 5..150 ms after the child is open
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let deadline = Instant::now() + Duration::from_secs(120);
    for round in 0..ROUNDS {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let delay = Duration::from_millis(5 + seed % 145);
        let mut child = Command::new(&exe)
            .args([
                "acknowledged_batches_survive_sigkill",
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, tmp.path())
            .env(START_ENV, next_start.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            let mut acks = Vec::new();
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(k) = line.strip_prefix("ack ") {
                    acks.push(k.trim().parse::<i64>().unwrap());
                }
            }
            acks
        });
        std::thread::sleep(delay);
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let acks = reader.join().unwrap();
        if let Some(&last) = acks.last() {
            acked_max = acked_max.max(last);
        }

        let db = Db::open(tmp.path(), options()).unwrap();
        let found = read_all(&db);
        let whole = SERIES * PER_BATCH as usize;
        for k in 0..=acked_max {
            assert_eq!(
                found.get(&k).copied(),
                Some(whole),
                "round {round}: acknowledged batch {k}"
            );
        }
        for (&k, &n) in found.range(acked_max + 1..) {
            // written but not acknowledged before the kill: whole (its log record made it)
            assert_eq!(
                n, whole,
                "round {round}: unacknowledged batch {k} is partial"
            );
        }
        let last_present = found.keys().next_back().copied().unwrap_or(-1);
        assert!(
            last_present <= acked_max + 1,
            "round {round}: batch {last_present} appeared from nowhere"
        );
        // the database takes new writes after recovery
        next_start = last_present + 1;
        let out = db.append_batch(&batch(next_start)).unwrap();
        assert!(
            out.rejected.is_empty(),
            "round {round}: {:?}",
            out.rejected.first()
        );
        acked_max = next_start;
        next_start += 1;
        db.close().unwrap();
        drop(db);
        if Instant::now() > deadline {
            break;
        }
    }
    assert!(
        acked_max > ROUNDS as i64,
        "the child hardly ran: {acked_max} batches"
    );
    // the kills landed in a database that persists segments and checkpoints its log
    let db = Db::open(tmp.path(), options()).unwrap();
    let stats = db.stats().unwrap();
    eprintln!(
        "{acked_max} batches acknowledged; {} segments",
        stats.segments.len()
    );
    assert!(stats.segments.len() > 2, "{stats:?}");
    // and that compacts them in the background (3-second and 12-second windows here)
    assert!(
        stats.segments.iter().any(|(_, m, _)| m.level > 0),
        "no compacted segment: {stats:?}"
    );
    // and rolls them up
    assert!(
        stats
            .segments
            .iter()
            .any(|(_, m, _)| m.resolution_ms == 100),
        "no rollup segment: {stats:?}"
    );
    // no directory left over beside the live segments once open has cleaned up
    let on_disk = std::fs::read_dir(tmp.path().join("segments"))
        .unwrap()
        .count();
    assert!(on_disk >= stats.segments.len());
}
