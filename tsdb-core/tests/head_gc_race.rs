//! Appends by labels must never be refused because a persist's head GC ran at the same
//! time.
//!
//! `append_batch` resolves a batch's series first and applies its samples after, taking
//! each stripe lock again; a persist's head GC drops idle series (one just created holds
//! no sample yet, an existing one whose newest sample was just persisted is idle too) in
//! between. The server's self-scrape, which appends by labels, saw `UnknownSeriesRef`
//! for such series. Here writers append by labels while another thread persists
//! everything over and over (each persist collects every series it wrote), for a few
//! seconds; every accepted sample must then be readable.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tsdb_core::testing::PowerLossFs;
use tsdb_core::wal::SyncMode;
use tsdb_core::{Batch, Db, ManualClock, Options, SampleError};
use tsdb_index::{Labels, Matcher};

const T0: i64 = 1_700_000_000_000;
const WRITERS: usize = 2;
const SERIES: usize = 64;
const RUN: Duration = Duration::from_secs(3);
/// Batches a writer appends per persist at most.
const AHEAD: u32 = 4;

/// What one writer saw.
#[derive(Default)]
struct Written {
    /// Accepted samples per series.
    accepted: HashMap<Labels, usize>,
    /// Samples refused as unknown refs, and the first such refusal.
    unknown: usize,
    first_unknown: Option<SampleError>,
    batches: i64,
}

/// Appends one sample to each of `SERIES` series per batch, by labels, until `RUN` has
/// passed. Half the series are the writer's steady ones (idle once a persist took their
/// newest sample); the other half are new in every batch (idle from their creation
/// until the batch's samples land), so each batch is a window for a persist's GC.
fn write(db: &Db, writer: usize, persists: &AtomicU64) -> Written {
    let w = writer.to_string();
    let steady: Vec<Labels> = (0..SERIES / 2)
        .map(|i| {
            let i = i.to_string();
            Labels::new([
                ("__name__", "gc_race"),
                ("w", w.as_str()),
                ("i", i.as_str()),
            ])
            .unwrap()
        })
        .collect();
    let mut out = Written::default();
    let (mut last_seen, mut ahead) = (persists.load(Ordering::Acquire), 0);
    let started = Instant::now();
    while started.elapsed() < RUN {
        let k = out.batches.to_string();
        let fresh = (0..SERIES / 2).map(|i| {
            let i = i.to_string();
            Labels::new([
                ("__name__", "gc_race"),
                ("w", w.as_str()),
                ("batch", k.as_str()),
                ("i", i.as_str()),
            ])
            .unwrap()
        });
        let labels: Vec<Labels> = steady.iter().cloned().chain(fresh).collect();
        let mut batch = Batch::new();
        for (i, l) in labels.iter().enumerate() {
            let s = batch.series(l.clone());
            batch.sample(s, T0 + out.batches * 10, i as f64);
        }
        let outcome = db.append_batch(&batch).unwrap();
        let mut refused = vec![false; labels.len()];
        for r in &outcome.rejected {
            refused[r.index] = true;
            match r.error {
                SampleError::UnknownSeriesRef(_) => {
                    out.unknown += 1;
                    out.first_unknown.get_or_insert(r.error.clone());
                }
                // a sample racing a persist's raised write floor: refused, and fine
                SampleError::TooOld { .. } => {}
                ref e => panic!("unexpected refusal: {e}"),
            }
        }
        for (l, refused) in labels.into_iter().zip(refused) {
            if !refused {
                *out.accepted.entry(l).or_default() += 1;
            }
        }
        out.batches += 1;
        // At most `AHEAD` batches per persist, so the persister keeps up (small segments,
        // many head GCs) instead of falling behind into long persists of many ranges.
        let seen = persists.load(Ordering::Acquire);
        if seen != last_seen {
            (last_seen, ahead) = (seen, 0);
        }
        ahead += 1;
        while ahead >= AHEAD
            && persists.load(Ordering::Acquire) == last_seen
            && started.elapsed() < RUN
        {
            std::thread::sleep(Duration::from_micros(100));
        }
    }
    out
}

#[test]
fn label_appends_are_never_refused_as_unknown_refs_while_persists_collect_series() {
    // in memory: persists (segment writes, manifest commits) as fast as possible, so
    // many of them race the appends
    let db = Db::open(
        "/db",
        Options {
            fs: Arc::new(PowerLossFs::new()),
            block_range_ms: 1000,
            clock: Arc::new(ManualClock::new(T0 + 3_600_000)),
            background_maintenance: false,
            sync: SyncMode::Never,
            ..Options::default()
        },
    )
    .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let persists = Arc::new(AtomicU64::new(0));
    let persister = {
        let db = db.clone();
        let (stop, persists) = (stop.clone(), persists.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Acquire) {
                db.persist_all().unwrap();
                persists.fetch_add(1, Ordering::AcqRel);
            }
        })
    };
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let db = db.clone();
            let persists = persists.clone();
            std::thread::spawn(move || write(&db, w, &persists))
        })
        .collect();
    let written: Vec<Written> = writers.into_iter().map(|h| h.join().unwrap()).collect();
    stop.store(true, Ordering::Release);
    persister.join().unwrap();
    let persists = persists.load(Ordering::Acquire);

    let batches: i64 = written.iter().map(|w| w.batches).sum();
    let unknown: usize = written.iter().map(|w| w.unknown).sum();
    let first = written.iter().find_map(|w| w.first_unknown.clone());
    eprintln!("{batches} batches, {persists} persists, {unknown} refused as unknown refs");
    assert_eq!(
        unknown, 0,
        "{unknown} samples appended by labels were refused as unknown refs over {batches} \
         batches and {persists} persists; first: {first:?}"
    );
    assert!(persists >= 5, "only {persists} persists raced the appends");

    // every accepted sample is readable, once
    let q = db.querier(i64::MIN, i64::MAX).unwrap();
    let read: HashMap<Labels, usize> = q
        .select(&[Matcher::equal("__name__", "gc_race")])
        .unwrap()
        .into_iter()
        .map(|s| (s.labels().clone(), s.iter().count()))
        .collect();
    let accepted: HashMap<&Labels, usize> = written
        .iter()
        .flat_map(|w| w.accepted.iter().map(|(l, n)| (l, *n)))
        .collect();
    assert!(
        accepted.len() > WRITERS * SERIES,
        "the writers made new series"
    );
    for (l, n) in accepted {
        assert_eq!(read.get(l).copied().unwrap_or(0), n, "series {l}");
    }
    db.close().unwrap();
}
