//! Options of [`crate::Db::open`], with documented defaults.

use std::path::PathBuf;
use std::sync::Arc;

use tsdb_compress::chunk::DEFAULT_MAX_SAMPLES;

use crate::clock::{Clock, SystemClock};
use crate::downsampling::Downsampling;
use crate::fs::{Fs, RealFs};
use crate::observe::{NoopObserver, Observer};
use crate::wal::{RecoveryMode, SyncMode};

/// Two hours, Prometheus's block range.
pub const DEFAULT_BLOCK_RANGE_MS: i64 = 2 * 3600 * 1000;

/// How a [`crate::Db`] behaves. Build with `Options { field: …, ..Options::default() }`.
#[derive(Clone, Debug)]
pub struct Options {
    /// Time range of one segment cut from the head. The head is persisted when it spans
    /// 1.5 ranges, leaving the newest half range writable. Default 2 hours.
    pub block_range_ms: i64,
    /// How far behind a series' newest sample an older sample is still accepted (merged
    /// at read time). Default 0: such samples are refused with
    /// [`crate::SampleError::OutOfOrder`].
    pub out_of_order_window_ms: i64,
    /// Samples further ahead of the clock than this are refused
    /// ([`crate::SampleError::TooFarInFuture`]). Default 1 hour.
    pub max_future_ms: i64,
    /// When the write-ahead log fsyncs. Default [`SyncMode::Always`]: an append returns
    /// only once its samples are durable, concurrent appenders sharing one fsync.
    pub sync: SyncMode,
    /// What opening does with log damage other than a torn tail. Default strict.
    pub wal_recovery: RecoveryMode,
    /// Maximum size of one write-ahead log file. Default 128 MiB.
    pub wal_file_size: u64,
    /// Samples per head chunk. Default [`DEFAULT_MAX_SAMPLES`].
    pub chunk_max_samples: usize,
    /// Whether a background thread owns maintenance (persisting the head to segments when
    /// it spans 1.5 block ranges, checkpointing the WAL). Default true. Off, nothing is
    /// persisted unless the embedder calls [`crate::Db::maintain`] (or
    /// [`crate::Db::persist_all`]): for tools and tests that want no thread.
    pub background_maintenance: bool,
    /// Segments whose whole time range is older than this (measured from the clock) are
    /// deleted by maintenance. Default `None`: kept forever.
    pub retention_ms: Option<i64>,
    /// Once segments take more bytes than this, the oldest are deleted until they fit
    /// (the newest segment is never deleted for size). Default `None`: no size budget.
    pub retention_bytes: Option<u64>,
    /// Downsampling rules: which rollups are kept for which series, and when each
    /// resolution is deleted ([`Downsampling`]). Default none: every series kept raw.
    /// [`Downsampling::standard`] is raw 7 days, 1 m to 30 days, 1 h to 365 days.
    pub downsampling: Downsampling,
    /// The cold tier: a second directory (a cheaper disk, an NFS mount) that segments
    /// move to once their whole time range is older than [`Options::cold_after_ms`]
    /// (measured from the clock); they are still read as any other. Set both or neither.
    /// The directory must exist when the database is opened (a missing one is
    /// [`crate::Error::ColdDirUnavailable`], never an empty tier); the database creates
    /// `segments/` and a `LOCK` file in it. Default `None`: no cold tier.
    pub cold_dir: Option<PathBuf>,
    /// The age after which segments move to [`Options::cold_dir`]. Default `None`.
    pub cold_after_ms: Option<i64>,
    /// The clock (tests substitute [`crate::ManualClock`]).
    pub clock: Arc<dyn Clock>,
    /// The file system every read and write goes through (tests substitute a
    /// fault-injecting one or a power-loss simulator).
    pub fs: Arc<dyn Fs>,
    /// Told about appends, refusals, fsyncs, persists and failures, for metrics.
    /// Default: [`NoopObserver`].
    pub observer: Arc<dyn Observer>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            block_range_ms: DEFAULT_BLOCK_RANGE_MS,
            out_of_order_window_ms: 0,
            max_future_ms: 3600 * 1000,
            sync: SyncMode::Always,
            wal_recovery: RecoveryMode::Strict,
            wal_file_size: crate::wal::DEFAULT_FILE_SIZE,
            chunk_max_samples: DEFAULT_MAX_SAMPLES,
            background_maintenance: true,
            retention_ms: None,
            retention_bytes: None,
            downsampling: Downsampling::none(),
            cold_dir: None,
            cold_after_ms: None,
            clock: Arc::new(SystemClock),
            fs: RealFs::arc(),
            observer: Arc::new(NoopObserver),
        }
    }
}
