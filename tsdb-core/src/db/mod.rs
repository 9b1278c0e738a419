//! The [`Db`] handle: appending, reading, deleting, statistics, closing. Opening (lock,
//! manifest, segments, log replay) is in `open.rs`, persisting the head in `persist.rs`,
//! and the background owner of maintenance in `crate::maintenance`.
//!
//! Data directory layout (`FORMAT-segment.md`):
//!
//! ```text
//! LOCK                 held (flock) while a process has the database open for writing
//! MANIFEST             the live segments and how far the head is persisted
//! wal/                 write-ahead log files and checkpoints (FORMAT-wal.md)
//! segments/00000001/   immutable segments: meta, index, series, chunks
//! tombstones           deletion requests honoured at read time
//! ```
//!
//! Two time boundaries, each with one name:
//! - the **write floor** (`Head::write_floor`): appends before it are refused; a persist
//!   raises it to the end of the range it is about to write;
//! - **persisted until** (`State::persisted_until`, `Manifest::persisted_until`):
//!   segments hold everything before it, the head is read from it on, WAL replay skips
//!   samples before it. It follows the write floor once the segment is committed.

mod cold;
pub(crate) mod compact;
pub(crate) mod downsample;
mod open;
mod persist;
mod retention;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Mutex, RwLock};
use tsdb_index::{Labels, Matcher};

use crate::batch::{Batch, BatchOutcome, SeriesRef};
use crate::deletes::{self, Deletion};
use crate::error::{Error, Result};
use crate::head::{AppendLimits, Head};
use crate::maintenance::{Maintenance, MaintenanceStats};
use crate::manifest::Manifest;
use crate::observe::refusal_reason;
use crate::options::Options;
use crate::querier::{Querier, Readers, Snapshot};
use crate::segment::{Segment, SegmentMeta};
use crate::wal::{Record, RecoveryReport, RefSample, Wal};

pub use cold::{ColdStats, StorageTier};
pub use compact::{CompactStats, RewriteStep, LEVEL_SPANS};
pub use downsample::DownsampleStats;
pub use open::{ManifestStatus, OpenReport};
pub use retention::RetentionStats;

pub(crate) const LOCK_FILE: &str = "LOCK";
pub(crate) const WAL_DIR: &str = "wal";
pub(crate) const SEGMENTS_DIR: &str = "segments";

/// What readers capture atomically.
#[derive(Debug)]
struct State {
    segments: Arc<Vec<Arc<Segment>>>,
    /// Segments hold everything before this; the head is read from here on.
    persisted_until: i64,
    /// The committed manifest's generation (kept here so statistics never wait for a
    /// persist holding the persist lock).
    manifest_generation: u64,
    /// Incremented by every publish of segments; readers register the generation they
    /// saw, so the head knows when no reader can still need its copy of what was
    /// published.
    generation: u64,
    deletions: Arc<Vec<Deletion>>,
}

/// What only the persist lock's holder touches.
#[derive(Debug)]
struct PersistState {
    /// The committed manifest.
    manifest: Manifest,
    /// Set while a persist that has nothing late to take runs: its commits can record
    /// this WAL position as `persisted_lsn` (see `persist.rs`).
    next_lsn: Option<crate::wal::Lsn>,
    /// Late persists published at a state generation, whose series still keep a copy
    /// of what they took for readers older than that generation.
    pending_late: Vec<(u64, Vec<tsdb_index::SeriesId>)>,
    /// When the last late persist ran (clock milliseconds).
    last_late_persist_ms: i64,
    /// Directories of segments a compaction replaced, published at a state generation:
    /// removed once no querier older than that generation lives.
    pending_removals: compact::PendingRemovals,
    /// Windows a rollup found no series for (see `downsample.rs`).
    empty_rollups: Vec<downsample::EmptyRollup>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    dir: PathBuf,
    options: Options,
    head: Arc<Head>,
    /// `None` when opened read-only.
    wal: Option<Wal>,
    state: RwLock<State>,
    readers: Arc<Readers>,
    /// One persist, delete or other manifest change at a time.
    persist: Mutex<PersistState>,
    /// Held by whoever rewrites segments (compaction, downsampling), one at a time, for
    /// the whole step; the persist lock only while it plans and while it commits, so
    /// persists and deletions go on while a merge writes (`compact.rs`, "Locking").
    rewrite: Mutex<()>,
    /// `options.downsampling.uniform_resolutions()`, for queriers.
    uniform_resolutions: Arc<[i64]>,
    report: OpenReport,
    maintenance: Maintenance,
    /// The data directory's `LOCK`, and the cold directory's if there is one.
    _locks: Vec<crate::fs::FsLock>,
}

/// An embedded time-series database: a cheap, cloneable, thread-safe handle.
///
/// Appends are made durable in the write-ahead log and land in the in-memory head; a
/// background thread (the maintenance owner, see [`Options::background_maintenance`])
/// persists the head to immutable segments, so no append ever waits for a segment write.
///
/// ```
/// use tsdb_core::{Db, Options};
/// use tsdb_index::{Labels, Matcher};
///
/// # let tmp = tempfile::tempdir()?;
/// let db = Db::open(tmp.path(), Options::default())?;
/// let now = 1_700_000_000_000;
/// # let db = Db::open(tmp.path().join("x"), Options {
/// #     clock: std::sync::Arc::new(tsdb_core::ManualClock::new(now)), ..Options::default() })?;
/// let labels = Labels::new([("__name__", "cpu"), ("host", "a")])?;
/// let r = db.append(&labels, now, 0.5)?;
/// db.append_ref(r, now + 10_000, 0.75)?;
///
/// let q = db.querier(now, now + 60_000)?;
/// let series = q.select(&[Matcher::equal("__name__", "cpu")])?;
/// let values: Vec<f64> = series[0].iter().map(|s| s.map(|s| s.v)).collect::<Result<_, _>>()?;
/// assert_eq!(values, [0.5, 0.75]);
/// db.close()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct Db {
    inner: Arc<Inner>,
}

/// Sizes and counts, for monitoring and the `inspect` tool.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct DbStats {
    /// Series in the head.
    pub head_series: usize,
    /// Samples in the head.
    pub head_samples: usize,
    /// Chunks in the head, open and out-of-order ones included (Prometheus'
    /// `prometheus_tsdb_head_chunks`).
    pub head_chunks: usize,
    /// Oldest and newest sample times in the head (`None` while empty).
    pub head_range: Option<(i64, i64)>,
    /// Segments hold everything before this time (`i64::MIN` before the first persist).
    pub persisted_until: i64,
    /// Bytes of the write-ahead log on disk (0 when opened read-only).
    pub wal_bytes: u64,
    /// Write-ahead log files (0 when opened read-only).
    pub wal_files: usize,
    /// Open segments, oldest first: directory, meta, bytes on disk.
    pub segments: Vec<(PathBuf, SegmentMeta, u64)>,
    /// The tier of each entry of `segments`, in the same order.
    pub segment_tiers: Vec<StorageTier>,
    /// Segments left out because they are damaged, with the reason.
    pub set_aside: Vec<(PathBuf, String)>,
    /// Deletion requests in force.
    pub deletions: usize,
    /// The manifest's commit counter.
    pub manifest_generation: u64,
    /// What background maintenance has done and whether it is failing.
    pub maintenance: MaintenanceStats,
}

impl Inner {
    pub(crate) fn observer(&self) -> &dyn crate::observe::Observer {
        &*self.options.observer
    }
}

impl Db {
    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// What the log replay found when the database was opened (torn tail cut, records).
    pub fn recovery_report(&self) -> &RecoveryReport {
        &self.inner.report.wal
    }

    /// Everything opening found and did: the WAL replay, the manifest, leftovers removed,
    /// segments set aside.
    pub fn open_report(&self) -> &OpenReport {
        &self.inner.report
    }

    /// True when opened with [`Db::open_read_only`].
    pub fn is_read_only(&self) -> bool {
        self.inner.wal.is_none()
    }

    fn wal(&self) -> Result<&Wal> {
        self.inner.wal.as_ref().ok_or(Error::ReadOnly)
    }

    fn limits(&self) -> AppendLimits {
        let o = &self.inner.options;
        AppendLimits {
            // i64::MAX itself is refused: a segment's range ends exclusively, so a sample
            // there could never be persisted
            max_t: o
                .clock
                .now_ms()
                .saturating_add(o.max_future_ms)
                .min(i64::MAX - 1),
            ooo_window: o.out_of_order_window_ms,
            in_order_lag: o.block_range_ms / 2,
        }
    }

    /// Appends a batch. Every refused series or sample gets its own [`SampleError`](crate::SampleError) in
    /// the outcome; the accepted ones are durable (under [`crate::wal::SyncMode`]) when
    /// this returns `Ok`. An `Err` means the log failed: nothing of the batch is
    /// acknowledged (some of it may be readable until a restart).
    ///
    /// Never writes a segment: when the head has grown enough, it signals the
    /// maintenance owner and returns.
    pub fn append_batch(&self, batch: &Batch) -> Result<BatchOutcome> {
        let inner = &self.inner;
        let wal = self.wal()?;
        let mut outcome = BatchOutcome::default();
        let mut records: Vec<Record> = Vec::new();
        let mut accepted = Vec::with_capacity(batch.len());
        inner.head.append_batch(
            batch,
            self.limits(),
            &mut |series_ref, labels| {
                records.push(Record::Series {
                    series_ref,
                    labels: labels.clone(),
                });
                Ok(())
            },
            &mut outcome,
            &mut accepted,
        )?;
        if outcome.accepted + outcome.rejected.len() != batch.len() {
            return Err(Error::invariant(format!(
                "a batch of {} samples got {} verdicts",
                batch.len(),
                outcome.accepted + outcome.rejected.len()
            )));
        }
        let new_series = records.len() as u64;
        if !accepted.is_empty() {
            records.push(Record::Samples(
                accepted
                    .iter()
                    .map(|a| RefSample {
                        series_ref: a.wal_ref,
                        t: a.t,
                        v: a.v,
                    })
                    .collect(),
            ));
        }
        if !records.is_empty() {
            let lsn = wal.append(&records)?;
            wal.commit(lsn)?;
        }
        self.report_outcome(&outcome, new_series);
        let span = accepted.iter().fold(None, |acc: Option<(i64, i64)>, a| {
            Some(acc.map_or((a.t, a.t), |(lo, hi)| (lo.min(a.t), hi.max(a.t))))
        });
        if let Some((min_t, max_t)) = span {
            self.inner.options.observer.written(min_t, max_t);
        }
        if self.persist_due() {
            inner.maintenance.signal();
        }
        Ok(outcome)
    }

    fn report_outcome(&self, outcome: &BatchOutcome, new_series: u64) {
        let observer = &self.inner.options.observer;
        observer.appended(outcome.accepted as u64, new_series);
        // one call per reason, not per refused sample
        let mut counts: Vec<(&'static str, u64)> = Vec::new();
        for r in &outcome.rejected {
            let reason = refusal_reason(&r.error);
            match counts.iter_mut().find(|(name, _)| *name == reason) {
                Some((_, n)) => *n += 1,
                None => counts.push((reason, 1)),
            }
        }
        for (reason, count) in counts {
            observer.refused(reason, count);
        }
    }

    /// Appends one sample; a refused sample is [`Error::Sample`].
    pub fn append(&self, labels: &Labels, t: i64, v: f64) -> Result<SeriesRef> {
        let mut batch = Batch::new();
        let s = batch.series(labels.clone());
        batch.sample(s, t, v);
        self.append_one(&batch)
    }

    /// Appends one sample to a series known by its ref.
    pub fn append_ref(&self, r: SeriesRef, t: i64, v: f64) -> Result<SeriesRef> {
        let mut batch = Batch::new();
        let s = batch.series_ref(r);
        batch.sample(s, t, v);
        self.append_one(&batch)
    }

    fn append_one(&self, batch: &Batch) -> Result<SeriesRef> {
        let mut outcome = self.append_batch(batch)?;
        if let Some(r) = outcome.rejected.pop() {
            return Err(Error::Sample(r.error));
        }
        outcome
            .refs
            .first()
            .copied()
            .flatten()
            .ok_or_else(|| Error::invariant("an accepted sample's series has no ref"))
    }

    /// A consistent view over `[mint, maxt]` (inclusive milliseconds).
    pub fn querier(&self, mint: i64, maxt: i64) -> Result<Querier> {
        let state = self.inner.state.read();
        let snapshot = Snapshot {
            head: self.inner.head.clone(),
            persisted_until: state.persisted_until,
            generation: state.generation,
            segments: state.segments.clone(),
            deletions: state.deletions.clone(),
            uniform_resolutions: self.inner.uniform_resolutions.clone(),
        };
        // registered while the state lock is held, so no persist can drop head data
        // this querier may read
        Ok(Querier::new(&self.inner.readers, snapshot, mint, maxt))
    }

    /// Deletes the samples of every series matching `matchers` in `[mint, maxt]`: they
    /// disappear from reads at once and durably (the request is written before this
    /// returns).
    pub fn delete(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Result<()> {
        if self.is_read_only() {
            return Err(Error::ReadOnly);
        }
        if matchers.is_empty() || matchers.iter().all(Matcher::matches_empty) {
            return Err(Error::invalid_argument(
                "a deletion needs at least one matcher that does not match the empty string",
            ));
        }
        if maxt < mint {
            return Err(Error::invalid_argument(
                "deletion range ends before it starts",
            ));
        }
        let _one = self.inner.persist.lock();
        let mut list: Vec<Deletion> = self.inner.state.read().deletions.as_ref().clone();
        list.push(Deletion {
            matchers: matchers.to_vec(),
            mint,
            maxt,
        });
        deletes::store(&*self.inner.options.fs, &self.inner.dir, &list)?;
        self.inner.state.write().deletions = Arc::new(list);
        self.inner.options.observer.deleted(mint, maxt);
        Ok(())
    }

    /// Makes everything appended so far durable (whatever the sync mode).
    pub fn flush(&self) -> Result<()> {
        match &self.inner.wal {
            Some(wal) => wal.flush(),
            None => Ok(()),
        }
    }

    /// Stops the maintenance owner (letting a pass in progress finish), then flushes and
    /// closes the log. Other clones of this handle fail to append afterwards.
    pub fn close(&self) -> Result<()> {
        self.inner.maintenance.stop();
        match &self.inner.wal {
            Some(wal) => wal.close(),
            None => Ok(()),
        }
    }

    /// Waits until the maintenance owner has run a whole pass that started after this
    /// call, and returns that pass's result. With background maintenance off, runs the
    /// pass on this thread ([`Db::maintain`]). For tests and tools that need the head
    /// persisted as far as it is due before they look.
    pub fn wait_for_maintenance(&self) -> Result<()> {
        if self.inner.maintenance.is_background() {
            self.inner
                .maintenance
                .wait_for_pass(Duration::from_secs(3600))
        } else {
            self.maintain()
        }
    }

    /// Runs one maintenance pass on this thread: everything the background owner would do
    /// now (persisting what is due, [`Db::persist_if_due`], then merging segments,
    /// [`Db::compact`], rolling up, [`Db::downsample`], retention,
    /// [`Db::apply_retention`], and moves to the cold tier, [`Db::move_cold`]). For
    /// embedders that
    /// turned [`Options::background_maintenance`] off.
    pub fn maintain(&self) -> Result<()> {
        let result = self.inner.maintain();
        if !self.inner.maintenance.is_background() {
            self.inner.maintenance.record(&result);
        }
        result
    }

    /// Series in the head now ([`DbStats::head_series`]), read from one atomic counter:
    /// cheap enough for every write request (a cardinality limit checks it), unlike
    /// [`Db::stats`], which stats the WAL and walks the head.
    pub fn head_series(&self) -> usize {
        self.inner.head.series_count()
    }

    /// Sizes and counts.
    pub fn stats(&self) -> Result<DbStats> {
        let head = &self.inner.head;
        let (wal_bytes, wal_files) = match &self.inner.wal {
            Some(wal) => {
                let s = wal.stats()?;
                (s.bytes_on_disk, s.files)
            }
            None => (0, 0),
        };
        let state = self.inner.state.read();
        let (min, max) = (head.min_t(), head.max_t());
        Ok(DbStats {
            head_series: head.series_count(),
            head_samples: head.sample_count(),
            head_chunks: head.chunk_count(),
            head_range: (min <= max).then_some((min, max)),
            persisted_until: state.persisted_until,
            wal_bytes,
            wal_files,
            segments: state
                .segments
                .iter()
                .map(|s| (s.dir().to_path_buf(), s.meta(), s.bytes_on_disk()))
                .collect(),
            segment_tiers: state
                .segments
                .iter()
                .map(|s| self.inner.tier_of(s))
                .collect(),
            set_aside: self.inner.report.set_aside.clone(),
            deletions: state.deletions.len(),
            manifest_generation: state.manifest_generation,
            maintenance: self.inner.maintenance.stats(),
        })
    }

    /// Series counts per metric name and label pair across the head and segments.
    pub fn cardinality(&self, top_n: usize) -> Result<Vec<tsdb_index::CardinalityStats>> {
        let state = self.inner.state.read();
        let mut out = vec![self.inner.head.stats(top_n)];
        for s in state.segments.iter() {
            out.push(s.stats(top_n)?);
        }
        Ok(out)
    }
}
