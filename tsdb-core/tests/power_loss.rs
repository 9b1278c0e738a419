//! Power loss at every fsync: a deterministic workload (appends, persists to segments with
//! their WAL checkpoints, compactions, deletions, a reopen in the middle; in variants,
//! late samples, a retention step, rollups, moves to the cold tier) runs on a `PowerLossFs` that
//! loses power after its k-th sync, for every k from 0 to the workload's total. The
//! surviving image is reopened and must hold every acknowledged sample exactly once, no
//! sample that was never appended, and every acknowledged deletion. Each crash point is
//! checked twice: with only synced bytes surviving, and with part of the unsynced
//! appended bytes surviving as well (a torn write). The recovered database is then
//! crashed once more right after opening, to check that recovery's own repairs (torn
//! tails cut, leftovers removed) are durable.
//!
//! A SIGKILL keeps the page cache, so `tests/crash.rs` never sees unsynced data go; this
//! test does.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use common::T0;
use tsdb_core::fs::Fs;
use tsdb_core::testing::{CrashSurvival, EntryChange, PowerLossFs};
use tsdb_core::{Batch, Db, DownsampleRule, Downsampling, ManualClock, Options, StorageTier, Tier};
use tsdb_index::{Labels, Matcher};

const DIR: &str = "/data/db";
const SERIES: usize = 3;
/// Batch k holds two samples per series at `T0 + k * 200` and 100 ms later.
const BATCH_SPAN: i64 = 200;
const BLOCK_RANGE: i64 = 1000;

fn options(fs: &PowerLossFs) -> Options {
    Options {
        // late samples (older than what is persisted) are accepted within a window
        out_of_order_window_ms: 1_000_000,
        block_range_ms: BLOCK_RANGE,
        background_maintenance: false,
        // small log files: rotations (and their directory fsyncs) happen mid-workload
        wal_file_size: 256,
        clock: Arc::new(ManualClock::new(T0 + 1_000_000_000)),
        fs: Arc::new(fs.clone()),
        ..Options::default()
    }
}

fn labels(s: usize) -> Labels {
    Labels::new([("__name__", "pl"), ("s", &s.to_string())]).unwrap()
}

fn value(s: usize, t: i64) -> f64 {
    (s as i64 * 1_000_000 + (t - T0)) as f64 * 0.25
}

/// What the workload asked for and what the database acknowledged.
#[derive(Debug, Default)]
struct Ledger {
    /// Every sample handed to `append_batch`: (series, t) -> value bits.
    attempted: BTreeMap<(usize, i64), u64>,
    /// Samples of batches whose `append_batch` returned `Ok`.
    acked: BTreeSet<(usize, i64)>,
    /// Every deletion requested: (series, mint, maxt).
    delete_attempts: Vec<(usize, i64, i64)>,
    /// Deletions whose `delete` returned `Ok`.
    deleted: Vec<(usize, i64, i64)>,
    /// The rollup resolution of the rollup workload: every acknowledged sample older
    /// than the raw data left must be in the rollups read back, exactly.
    rollup_ms: Option<i64>,
    /// The cold-tier workload: opened with the cold tier configured ([`options_for`]).
    cold: bool,
}

/// The cold tier's directory, on the same simulated file system.
const COLD: &str = "/data/cold";

/// [`options`], with the cold tier when the ledger's workload uses it: segments wholly
/// before `RETENTION_CUT` move.
fn options_for(fs: &PowerLossFs, ledger: &Ledger) -> Options {
    let mut o = options(fs);
    if ledger.cold {
        o.cold_after_ms = Some(o.clock.now_ms() - RETENTION_CUT);
        o.cold_dir = Some(COLD.into());
    }
    o
}

/// Creates the cold directory durably (the operator's part: the database refuses to
/// open without it).
fn ensure_cold(fs: &PowerLossFs) -> std::io::Result<()> {
    fs.create_dir_all(Path::new(COLD))?;
    fs.sync_dir(Path::new("/"))?;
    fs.sync_dir(Path::new("/data"))
}

fn covered(deletions: &[(usize, i64, i64)], s: usize, t: i64) -> bool {
    deletions
        .iter()
        .any(|&(ds, mint, maxt)| ds == s && (mint..=maxt).contains(&t))
}

fn append(db: &Db, k: i64, ledger: &mut Ledger) -> tsdb_core::Result<()> {
    append_to(db, k, 0..SERIES, ledger)
}

/// Batch `k` for the series in `series` (late when their range is persisted already).
fn append_to(
    db: &Db,
    k: i64,
    series: std::ops::Range<usize>,
    ledger: &mut Ledger,
) -> tsdb_core::Result<()> {
    let mut b = Batch::new();
    let mut samples = Vec::new();
    for s in series {
        let id = b.series(labels(s));
        for t in [T0 + k * BATCH_SPAN, T0 + k * BATCH_SPAN + 100] {
            b.sample(id, t, value(s, t));
            ledger.attempted.insert((s, t), value(s, t).to_bits());
            samples.push((s, t));
        }
    }
    let outcome = db.append_batch(&b)?;
    assert!(
        outcome.rejected.is_empty(),
        "the workload appends only valid samples: {:?}",
        outcome.rejected
    );
    ledger.acked.extend(samples);
    Ok(())
}

fn delete(db: &Db, s: usize, mint: i64, maxt: i64, ledger: &mut Ledger) -> tsdb_core::Result<()> {
    ledger.delete_attempts.push((s, mint, maxt));
    db.delete(
        &[
            Matcher::equal("__name__", "pl"),
            Matcher::equal("s", s.to_string()),
        ],
        mint,
        maxt,
    )?;
    ledger.deleted.push((s, mint, maxt));
    Ok(())
}

/// The workload; stops at the first error (after a power loss every call fails).
fn workload(fs: &PowerLossFs, ledger: &mut Ledger) -> tsdb_core::Result<()> {
    let db = Db::open(DIR, options(fs))?;
    for k in 0..16 {
        append(&db, k, ledger)?;
        db.persist_if_due()?;
        if k == 8 {
            // already in a segment
            delete(&db, 1, T0 + 300, T0 + 700, ledger)?;
        }
    }
    db.persist_all()?;
    // compaction steps: merging the first windows' segments (a deletion applied)
    db.compact()?;
    db.close()?;
    drop(db);

    let db = Db::open(DIR, options(fs))?;
    for k in 16..32 {
        append(&db, k, ledger)?;
        db.persist_if_due()?;
        if k == 24 {
            // still in the head; persisted later
            delete(&db, 2, T0 + 4_000, T0 + 4_500, ledger)?;
        }
        if k == 28 {
            db.compact()?;
        }
    }
    db.close()
}

/// The workload with late samples: after the in-order series have been persisted past
/// them, three more series send their history (older than the write floor), some
/// of it deleted, across persists of both kinds and a reopen.
fn workload_late(fs: &PowerLossFs, ledger: &mut Ledger) -> tsdb_core::Result<()> {
    let db = Db::open(DIR, options(fs))?;
    for k in 0..16 {
        append(&db, k, ledger)?;
        db.persist_if_due()?;
    }
    for k in 0..8 {
        append_to(&db, k, SERIES..2 * SERIES, ledger)?;
        db.persist_if_due()?;
    }
    delete(&db, SERIES + 1, T0 + 400, T0 + 800, ledger)?;
    db.persist_all()?;
    // late segments overlapping in-order ones, merged
    db.compact()?;
    db.close()?;
    drop(db);

    let db = Db::open(DIR, options(fs))?;
    for k in 8..14 {
        append_to(&db, k, SERIES..2 * SERIES, ledger)?;
    }
    for k in 16..24 {
        append(&db, k, ledger)?;
        db.persist_if_due()?;
    }
    db.close()
}

/// Checks what `db` serves against the ledger; `Err` says what is wrong.
fn check(db: &Db, ledger: &Ledger) -> Result<(), String> {
    check_with(db, ledger, false)
}

/// [`check`]; `late`: late samples may be stored twice (a crash between a persist's
/// start and its commit replays late samples it had already taken, and they are
/// persisted again; reads merge the copies), so the stored count may exceed the visible
/// one by what was appended late.
fn check_with(db: &Db, ledger: &Ledger, late: bool) -> Result<(), String> {
    let q = db
        .querier(i64::MIN, i64::MAX)
        .map_err(|e| format!("querier: {e}"))?;
    let found = q
        .select(&[Matcher::equal("__name__", "pl")])
        .map_err(|e| format!("select: {e}"))?;
    let mut seen: BTreeSet<(usize, i64)> = BTreeSet::new();
    let mut series_seen = BTreeSet::new();
    for series in found {
        let s: usize = series
            .labels()
            .get("s")
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("unexpected series {}", series.labels()))?;
        if !series_seen.insert(s) {
            return Err(format!("series {s} returned twice"));
        }
        for sample in series.iter() {
            let x = sample.map_err(|e| format!("reading series {s}: {e}"))?;
            if !seen.insert((s, x.t)) {
                return Err(format!("series {s}: sample at {} twice", x.t - T0));
            }
            match ledger.attempted.get(&(s, x.t)) {
                None => return Err(format!("series {s}: never appended {}", x.t - T0)),
                Some(&bits) if bits != x.v.to_bits() => {
                    return Err(format!("series {s}: wrong value at {}", x.t - T0))
                }
                Some(_) => {}
            }
            if covered(&ledger.deleted, s, x.t) {
                return Err(format!("series {s}: deleted sample {} is back", x.t - T0));
            }
        }
    }
    let lost: Vec<_> = ledger
        .acked
        .iter()
        .filter(|&&(s, t)| !seen.contains(&(s, t)) && !covered(&ledger.delete_attempts, s, t))
        .map(|&(s, t)| (s, t - T0))
        .collect();
    if !lost.is_empty() {
        return Err(format!(
            "{} acknowledged samples lost (series, ms after T0): {:?}",
            lost.len(),
            lost
        ));
    }
    // Reads merge equal timestamps, so a sample stored twice (in a segment and again in
    // the head, or in two segments) would not show above: count what is stored. Deleted
    // samples may still be stored, so they widen the bound.
    let stats = db.stats().map_err(|e| format!("stats: {e}"))?;
    let stored = stats.head_samples as u64
        + stats
            .segments
            .iter()
            .filter(|s| s.1.resolution_ms == 0)
            .map(|s| s.1.samples)
            .sum::<u64>();
    if let Some(res) = ledger.rollup_ms {
        check_rollups(db, ledger, res)?;
    }
    let deletable = ledger
        .attempted
        .keys()
        .filter(|&&(s, t)| covered(&ledger.delete_attempts, s, t))
        .count() as u64;
    let visible = seen.len() as u64;
    let duplicable = if late { ledger.acked.len() as u64 } else { 0 };
    if stored < visible || stored > visible + deletable + duplicable {
        return Err(format!(
            "{stored} samples stored for {visible} visible (and at most {deletable} deleted)"
        ));
    }
    Ok(())
}

/// The rollup workload's promise: the acknowledged samples older than the oldest raw
/// segment (the ones whose raw segments retention deleted) are all in the rollups read
/// back, each bucket equal to the rollup of those samples.
fn check_rollups(db: &Db, ledger: &Ledger, res: i64) -> Result<(), String> {
    let stats = db.stats().map_err(|e| format!("stats: {e}"))?;
    let q = db
        .querier(i64::MIN + 1, i64::MAX - 1)
        .map_err(|e| format!("querier: {e}"))?;
    let found = q
        .select(&[Matcher::equal("__name__", "pl")])
        .map_err(|e| format!("select: {e}"))?;
    // raw data begins at the oldest raw segment, or in the head before any
    let mut raw_from = stats
        .segments
        .iter()
        .filter(|s| s.1.resolution_ms == 0)
        .map(|s| s.1.min_t)
        .min()
        .unwrap_or(i64::MAX);
    for series in &found {
        if let Some(Ok(first)) = series.iter().next() {
            raw_from = raw_from.min(first.t);
        }
    }
    for series in found {
        let s: usize = series
            .labels()
            .get("s")
            .and_then(|s| s.parse().ok())
            .ok_or("bad series")?;
        let mut got = Vec::new();
        series
            .read_buckets_into(&mut got)
            .map_err(|e| format!("buckets of {s}: {e}"))?;
        let (ts, vs): (Vec<i64>, Vec<f64>) = ledger
            .acked
            .iter()
            .filter(|&&(x, t)| x == s && t < raw_from)
            .map(|&(_, t)| (t, f64::from_bits(ledger.attempted[&(s, t)])))
            .unzip();
        let want = tsdb_core::rollup::rollup(&ts, &vs, res);
        let got: Vec<(i64, u64, u64)> = got
            .iter()
            .map(|b| (b.end, b.agg.count, b.agg.sum.to_bits()))
            .collect();
        let want: Vec<(i64, u64, u64)> = want
            .iter()
            .map(|(e, a)| (*e, a.count, a.sum.to_bits()))
            .collect();
        if got != want {
            let segs: Vec<String> = stats
                .segments
                .iter()
                .map(|x| {
                    format!(
                        "{}:[{},{})",
                        x.1.resolution_ms,
                        x.1.min_t - T0,
                        x.1.max_t - T0
                    )
                })
                .collect();
            return Err(format!(
                "series {s}: {got:?} buckets read before the raw data at {}, {want:?} \
                 expected; {segs:?}",
                raw_from - T0
            ));
        }
    }
    Ok(())
}

/// Opens the image, checks it, then crashes it again right after the open (whatever
/// recovery repaired must have been made durable) and checks that image too.
fn recover_and_check(image: &PowerLossFs, ledger: &Ledger) -> Result<(), String> {
    recover_and_check_with(image, ledger, false)
}

fn recover_and_check_with(image: &PowerLossFs, ledger: &Ledger, late: bool) -> Result<(), String> {
    if ledger.cold {
        ensure_cold(image).map_err(|e| format!("cold dir: {e}"))?;
    }
    let db = Db::open(DIR, options_for(image, ledger)).map_err(|e| format!("reopen: {e}"))?;
    check_with(&db, ledger, late)?;
    let again = image.crash_image();
    drop(db);
    if ledger.cold {
        ensure_cold(&again).map_err(|e| format!("cold dir: {e}"))?;
    }
    let db =
        Db::open(DIR, options_for(&again, ledger)).map_err(|e| format!("second reopen: {e}"))?;
    check_with(&db, ledger, late)
        .map_err(|e| format!("after a crash right after recovery: {e}"))?;
    // and what was replayed persists correctly too
    db.persist_all()
        .map_err(|e| format!("persist after recovery: {e}"))?;
    check_with(&db, ledger, late)
        .map_err(|e| format!("after persisting the recovered head: {e}"))?;
    db.close().map_err(|e| format!("close: {e}"))
}

/// The torn variant: each unsynced directory change survives with probability 1/2, and
/// each file keeps none, all or a random part of its unsynced tail. Deterministic
/// (SplitMix64 from a fixed seed), so a failure names a reproducible case.
struct Torn(u64);

impl Torn {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

impl CrashSurvival for Torn {
    fn file_tail(&mut self, _: &Path, unsynced: u64) -> u64 {
        match self.next() % 4 {
            0 => 0,
            1 => unsynced,
            _ => self.next() % (unsynced + 1),
        }
    }

    fn entry_change(&mut self, _: EntryChange<'_>) -> bool {
        self.next().is_multiple_of(2)
    }
}

/// Runs the workload with the power going after sync `k` of `total`.
fn run_crashed_at(k: u64, total: u64) -> (PowerLossFs, Ledger) {
    let fs = PowerLossFs::new();
    fs.crash_after_syncs(k);
    let mut ledger = Ledger::default();
    let result = workload(&fs, &mut ledger);
    assert_eq!(fs.sync_count(), k, "the workload is deterministic");
    assert_eq!(
        (result.is_err(), fs.is_crashed()),
        (k < total, k < total),
        "crash point {k} of {total}: {result:?}"
    );
    (fs, ledger)
}

#[test]
fn every_acknowledged_sample_survives_power_loss_at_every_fsync() {
    let started = Instant::now();
    // The whole workload once, without a crash: how many syncs it makes, and a check
    // that the workload itself is right.
    let full = PowerLossFs::new();
    let mut ledger = Ledger::default();
    workload(&full, &mut ledger).unwrap();
    let total = full.sync_count();
    assert_eq!(ledger.acked.len(), 32 * 2 * SERIES);
    assert_eq!(ledger.deleted.len(), 2);
    recover_and_check(&full.crash_image(), &ledger).unwrap();
    let segments = {
        let db = Db::open(DIR, options(&full.crash_image())).unwrap();
        let stats = db.stats().unwrap();
        db.close().unwrap();
        let merged = stats
            .segments
            .iter()
            .filter(|(_, m, _)| m.level > 0)
            .count();
        assert!(merged >= 1, "the workload compacts: {:?}", stats.segments);
        stats.segments.len()
    };
    assert!(
        segments >= 2,
        "the workload persists several segments: {segments}"
    );

    // Random draws of surviving unsynced data per crash point; a deeper local run:
    // TSDB_POWER_LOSS_DRAWS=100 cargo test --release -p tsdb-core --test power_loss
    let draws: u64 = std::env::var("TSDB_POWER_LOSS_DRAWS")
        .ok()
        .and_then(|d| d.parse().ok())
        .unwrap_or(2);
    let mut failures = Vec::new();
    for k in 0..=total {
        let (fs, ledger) = run_crashed_at(k, total);
        if let Err(e) = recover_and_check(&fs.crash_image(), &ledger) {
            failures.push(format!("crash after sync {k} of {total}: {e}"));
        }
        for draw in 0..draws {
            let seed = k * draws + draw;
            let image = fs.crash_image_with(&mut Torn(seed));
            if let Err(e) = recover_and_check(&image, &ledger) {
                failures.push(format!(
                    "crash after sync {k} of {total}, unsynced data surviving (Torn({seed})): {e}"
                ));
            }
        }
    }
    let elapsed = started.elapsed();
    eprintln!(
        "power loss sweep: workload of {} samples, {segments} segments, {} file and {} \
         directory fsyncs; {} crash points, each with synced data only and {draws} draws \
         of surviving unsynced data, in {elapsed:.2?}",
        ledger.acked.len(),
        full.file_sync_count(),
        full.dir_sync_count(),
        total + 1
    );
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn a_crash_image_of_a_closed_database_is_the_database() {
    // The control case: with every step synced (a clean close), the image holds it all.
    let fs = PowerLossFs::new();
    let mut ledger = Ledger::default();
    workload(&fs, &mut ledger).unwrap();
    let image = fs.crash_image();
    assert_eq!(image.sync_count(), 0);
    let db = Db::open(Path::new(DIR), options(&image)).unwrap();
    check(&db, &ledger).unwrap();
    let q = db.querier(i64::MIN, i64::MAX).unwrap();
    let n: usize = q
        .select(&[Matcher::equal("__name__", "pl")])
        .unwrap()
        .iter()
        .map(|s| s.iter().count())
        .sum();
    let deleted = ledger
        .acked
        .iter()
        .filter(|&&(s, t)| covered(&ledger.deleted, s, t))
        .count();
    assert_eq!(n, ledger.acked.len() - deleted);
    assert!(deleted > 0);
}

#[test]
fn a_new_data_directory_survives_power_loss() {
    // Db::open creates the directory and its parents; their entries must be synced,
    // or the power going takes the whole database with it (found by the sweep above).
    let fs = PowerLossFs::new();
    let db = Db::open("/a/b/db", options(&fs)).unwrap();
    db.append(&labels(0), T0, 1.0).unwrap();
    let image = fs.crash_image();
    drop(db);
    let db = Db::open("/a/b/db", options(&image)).unwrap();
    let q = db.querier(i64::MIN, i64::MAX).unwrap();
    let found = q.select(&[Matcher::equal("__name__", "pl")]).unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].iter().count(), 1);
}

#[test]
fn late_samples_survive_power_loss_at_every_fsync() {
    let started = Instant::now();
    let full = PowerLossFs::new();
    let mut ledger = Ledger::default();
    workload_late(&full, &mut ledger).unwrap();
    let total = full.sync_count();
    assert_eq!(ledger.acked.len(), (24 + 14) * 2 * SERIES);
    recover_and_check_with(&full.crash_image(), &ledger, true).unwrap();
    {
        // the late samples went to segments overlapping the in-order ones
        let db = Db::open(DIR, options(&full.crash_image())).unwrap();
        let stats = db.stats().unwrap();
        let mut ranges = BTreeMap::new();
        for (_, meta, _) in &stats.segments {
            *ranges.entry((meta.min_t, meta.max_t)).or_insert(0) += 1;
        }
        assert!(
            ranges.values().any(|&n| n > 1),
            "no overlapping late segments: {ranges:?}"
        );
    }
    let failures = sweep(total, workload_late, true);
    eprintln!(
        "late-sample power loss sweep: {} crash points in {:.2?}",
        total + 1,
        started.elapsed()
    );
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Runs `workload` with the power going after each of its `total` syncs in turn and
/// checks each crash image (synced data only, and a torn draw); returns the failures.
fn sweep(
    total: u64,
    workload: fn(&PowerLossFs, &mut Ledger) -> tsdb_core::Result<()>,
    late: bool,
) -> Vec<String> {
    let mut failures = Vec::new();
    for k in 0..=total {
        let fs = PowerLossFs::new();
        fs.crash_after_syncs(k);
        let mut ledger = Ledger::default();
        let result = workload(&fs, &mut ledger);
        assert_eq!(result.is_err(), k < total, "crash point {k}: {result:?}");
        if let Err(e) = recover_and_check_with(&fs.crash_image(), &ledger, late) {
            failures.push(format!("crash after sync {k} of {total}: {e}"));
        }
        let image = fs.crash_image_with(&mut Torn(k));
        if let Err(e) = recover_and_check_with(&image, &ledger, late) {
            failures.push(format!(
                "crash after sync {k} of {total}, unsynced data surviving (Torn({k})): {e}"
            ));
        }
    }
    failures
}

/// Where the retention workload cuts: a multiple of the largest compaction window (12
/// block ranges), so no segment straddles it.
const RETENTION_CUT: i64 = T0 - T0.rem_euclid(12 * BLOCK_RANGE) + 12 * BLOCK_RANGE;

/// The workload with a retention step: two compaction windows' worth persisted and
/// compacted, then every segment wholly before `RETENTION_CUT` deleted by retention
/// (recorded like a deletion of everything before the cut: maybe gone while the step
/// runs, surely gone once it returned), then more data.
fn workload_retention(fs: &PowerLossFs, ledger: &mut Ledger) -> tsdb_core::Result<()> {
    let mut opts = options(fs);
    opts.retention_ms = Some(opts.clock.now_ms() - RETENTION_CUT);
    workload_cut(opts, ledger, false)
}

/// The workload with rollups: two compaction windows' worth persisted, compacted and
/// rolled up at 1 s, then the raw segments wholly before `RETENTION_CUT` deleted by the
/// downsampling rule (raw kept until the cut), then more data. Crashing anywhere must
/// never leave a raw sample before the cut in neither the raw data nor the rollups.
fn workload_rollup(fs: &PowerLossFs, ledger: &mut Ledger) -> tsdb_core::Result<()> {
    let mut opts = options(fs);
    opts.downsampling = Downsampling {
        rules: vec![DownsampleRule {
            matchers: vec![],
            tiers: vec![Tier {
                after_ms: opts.clock.now_ms() - RETENTION_CUT,
                resolution_ms: 1_000,
            }],
            keep_for_ms: None,
        }],
    };
    ledger.rollup_ms = Some(1_000);
    workload_cut(opts, ledger, true)
}

/// The shared shape of the retention and rollup workloads: data past `RETENTION_CUT`,
/// persisted and compacted (and rolled up), every segment wholly before the cut deleted
/// by retention (recorded like a deletion of everything before the cut: maybe gone
/// while the step runs, surely gone once it returned), then more data.
fn workload_cut(opts: Options, ledger: &mut Ledger, roll_up: bool) -> tsdb_core::Result<()> {
    let db = Db::open(DIR, opts)?;
    let first = (RETENTION_CUT - T0) / BATCH_SPAN + 12;
    for k in 0..first {
        append(&db, k, ledger)?;
        db.persist_if_due()?;
    }
    db.persist_all()?;
    db.compact()?;
    if roll_up {
        let d = db.downsample()?;
        assert!(d.segments_written >= 1, "the workload rolls up: {d:?}");
    }
    for s in 0..SERIES {
        ledger
            .delete_attempts
            .push((s, i64::MIN, RETENTION_CUT - 1));
    }
    let r = db.apply_retention()?;
    assert!(r.expired >= 1, "the workload's retention deletes: {r:?}");
    for s in 0..SERIES {
        ledger.deleted.push((s, i64::MIN, RETENTION_CUT - 1));
    }
    for k in first..first + 8 {
        append(&db, k, ledger)?;
        db.persist_if_due()?;
    }
    db.close()
}

#[test]
fn a_rollup_and_raw_deletion_survive_power_loss_at_every_fsync() {
    let started = Instant::now();
    let full = PowerLossFs::new();
    let mut ledger = Ledger::default();
    workload_rollup(&full, &mut ledger).unwrap();
    let total = full.sync_count();
    recover_and_check(&full.crash_image(), &ledger).unwrap();
    let failures = sweep(total, workload_rollup, false);
    eprintln!(
        "rollup power loss sweep: {} crash points in {:.2?}",
        total + 1,
        started.elapsed()
    );
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn a_retention_step_survives_power_loss_at_every_fsync() {
    let started = Instant::now();
    let full = PowerLossFs::new();
    let mut ledger = Ledger::default();
    workload_retention(&full, &mut ledger).unwrap();
    let total = full.sync_count();
    recover_and_check(&full.crash_image(), &ledger).unwrap();
    let failures = sweep(total, workload_retention, false);
    eprintln!(
        "retention power loss sweep: {} crash points in {:.2?}",
        total + 1,
        started.elapsed()
    );
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The workload with the cold tier: the raw segments wholly before `RETENTION_CUT` move
/// to the cold directory, compaction merges them (reading the cold copies, writing hot,
/// a deletion applied), the merged segments move in turn, a reopen reads them from the
/// cold tier, and more data follows.
fn workload_cold(fs: &PowerLossFs, ledger: &mut Ledger) -> tsdb_core::Result<()> {
    ledger.cold = true;
    ensure_cold(fs).map_err(|e| tsdb_core::Error::Io {
        path: COLD.into(),
        op: tsdb_core::IoOp::CreateDir,
        source: e,
    })?;
    let db = Db::open(DIR, options_for(fs, ledger))?;
    let first = (RETENTION_CUT - T0) / BATCH_SPAN + 12;
    for k in 0..first {
        append(&db, k, ledger)?;
        db.persist_if_due()?;
    }
    let m = db.move_cold()?;
    assert!(m.moved >= 2, "the workload moves level-0 segments: {m:?}");
    delete(&db, 0, T0 + 300, T0 + 700, ledger)?;
    let c = db.compact()?;
    assert!(
        c.segments_written >= 1,
        "the workload compacts cold segments: {c:?}"
    );
    let m = db.move_cold()?;
    assert!(m.moved >= 1, "the workload moves compacted segments: {m:?}");
    db.close()?;
    drop(db);

    let db = Db::open(DIR, options_for(fs, ledger))?;
    let tiers = db.stats()?.segment_tiers;
    assert!(tiers.contains(&StorageTier::Cold), "{tiers:?}");
    for k in first..first + 8 {
        append(&db, k, ledger)?;
        db.persist_if_due()?;
    }
    db.persist_all()?;
    db.close()
}

#[test]
fn a_move_to_the_cold_tier_survives_power_loss_at_every_fsync() {
    let started = Instant::now();
    let full = PowerLossFs::new();
    let mut ledger = Ledger::default();
    workload_cold(&full, &mut ledger).unwrap();
    let total = full.sync_count();
    recover_and_check(&full.crash_image(), &ledger).unwrap();
    {
        let db = Db::open(DIR, options_for(&full.crash_image(), &ledger)).unwrap();
        let stats = db.stats().unwrap();
        let cold = stats
            .segment_tiers
            .iter()
            .filter(|t| **t == StorageTier::Cold)
            .count();
        assert!(cold >= 1, "{:?}", stats.segments);
    }
    let failures = sweep(total, workload_cold, false);
    eprintln!(
        "cold tier power loss sweep: {} crash points in {:.2?}",
        total + 1,
        started.elapsed()
    );
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
