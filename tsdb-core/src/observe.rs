//! The observability hook: what the engine reports about itself, so a server can export
//! it (Prometheus `/metrics`, logs) without the library knowing HTTP or any metrics
//! crate.
//!
//! [`Options::observer`](crate::Options::observer) takes an `Arc<dyn Observer>`. Every
//! method has an empty default, so an implementation picks what it exports. Calls come
//! from appending threads, the WAL's syncing thread and the maintenance thread, often
//! on hot paths: keep implementations cheap (atomic counters, a histogram bucket), never
//! block in them.

use std::path::Path;
use std::time::Duration;

use crate::batch::SampleError;
use crate::error::Error;

/// Why a sample was refused, as a short stable name for a metric label.
pub fn refusal_reason(e: &SampleError) -> &'static str {
    match e {
        SampleError::InvalidLabels(_) => "invalid_labels",
        SampleError::UnknownSeriesRef(_) => "unknown_series_ref",
        SampleError::OutOfOrder { .. } => "out_of_order",
        SampleError::TooOld { .. } => "too_old",
        SampleError::TooFarInFuture { .. } => "too_far_in_future",
        SampleError::DuplicateTimestamp { .. } => "duplicate_timestamp",
    }
}

/// What one persist wrote: one segment (or nothing, for a range without samples).
#[derive(Clone, Copy, Debug)]
pub struct PersistEvent {
    /// The persisted time range, `[min_t, max_t)`.
    pub min_t: i64,
    /// End of the range (exclusive).
    pub max_t: i64,
    /// Series written (0 when the range held no samples and no segment was written).
    pub series: u64,
    /// Samples written.
    pub samples: u64,
    /// How long gathering, encoding, writing and committing took.
    pub duration: Duration,
}

/// Receives the engine's events. All methods default to doing nothing.
pub trait Observer: Send + Sync + std::fmt::Debug {
    /// A batch was applied: `accepted` samples stored (exact duplicates included, as
    /// Prometheus counts them), `new_series` series created.
    fn appended(&self, accepted: u64, new_series: u64) {
        let _ = (accepted, new_series);
    }

    /// A batch's accepted samples, whose timestamps span `[min_t, max_t]`, are visible to
    /// queries and durable under the sync mode. For caches of query results: a cached
    /// answer that read this time range may be stale (late data, backfill). Called once
    /// per batch with at least one accepted sample, after [`Observer::appended`].
    fn written(&self, min_t: i64, max_t: i64) {
        let _ = (min_t, max_t);
    }

    /// A deletion over `[min_t, max_t]` is in force (queries no longer see the data), or
    /// retention removed segments over it (their data is gone, or read from rollups now).
    fn deleted(&self, min_t: i64, max_t: i64) {
        let _ = (min_t, max_t);
    }

    /// `count` samples of one batch were refused for `reason` ([`refusal_reason`]).
    fn refused(&self, reason: &'static str, count: u64) {
        let _ = (reason, count);
    }

    /// One WAL fsync (group commit: several appends may share it) took `duration`.
    fn wal_fsync(&self, duration: Duration) {
        let _ = duration;
    }

    /// A head range was persisted.
    fn persisted(&self, event: &PersistEvent) {
        let _ = event;
    }

    /// The WAL was checkpointed after a persist.
    fn checkpointed(&self, duration: Duration) {
        let _ = duration;
    }

    /// A maintenance pass failed; it is retried after `retry_in`.
    fn maintenance_failed(&self, error: &Error, retry_in: Duration) {
        let _ = (error, retry_in);
    }

    /// A segment failed its checks when the database was opened and was set aside.
    fn segment_set_aside(&self, dir: &Path, reason: &str) {
        let _ = (dir, reason);
    }

    /// WAL replay cut a torn tail of `bytes` bytes (the crash case) from `path`.
    fn wal_torn_tail(&self, path: &Path, bytes: u64) {
        let _ = (path, bytes);
    }
}

/// The default observer: ignores everything.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoopObserver;

impl Observer for NoopObserver {}
