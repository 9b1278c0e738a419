//! The write-ahead log: every batch the head accepts is written here first, so a crash
//! loses nothing that was acknowledged. Byte layouts, recovery rules and the fsync
//! protocol are in `tsdb-core/FORMAT-wal.md`.
//!
//! - [`Wal`]: the log handle (`Send + Sync`). [`Wal::append`] writes a batch of
//!   [`Record`]s under a mutex without fsyncing; [`Wal::sync`] makes everything up to an
//!   [`Lsn`] durable with *group commit* — concurrent callers share one fsync;
//!   [`Wal::commit`] does what the configured [`SyncMode`] asks.
//! - Log files `dir/00000001`, `dir/00000002`, … of at most
//!   [`WalOptions::file_size`] bytes, each starting with a header (magic + version).
//! - Replay happens inside [`Wal::open`]: every record, checkpoint first, is handed to a
//!   callback in order. A torn tail (the crash case) is cut off; other damage is an
//!   [`Error::Corruption`](crate::Error::Corruption) unless [`RecoveryMode::TruncateCorrupt`]
//!   is chosen.
//! - [`Wal::checkpoint`] folds old log files into `dir/checkpoint.N/`, keeping only what
//!   the head still needs, and deletes them (Prometheus's `wlog.Checkpoint`).
//!
//! ```
//! use tsdb_core::wal::{Record, RefSample, Wal, WalOptions};
//! use tsdb_index::Labels;
//!
//! # let tmp = tempfile::tempdir()?;
//! let dir = tmp.path().join("wal");
//! let (wal, _report) = Wal::open(&dir, WalOptions::default(), |_| Ok(()))?;
//! let labels = Labels::new([("__name__", "up"), ("job", "node")])?;
//! let lsn = wal.append(&[
//!     Record::Series { series_ref: 1, labels },
//!     Record::Samples(vec![RefSample { series_ref: 1, t: 1_700_000_000_000, v: 1.0 }]),
//! ])?;
//! wal.commit(lsn)?; // SyncMode::Always: durable when this returns
//! wal.close()?;
//!
//! let mut replayed = Vec::new();
//! let (wal, report) = Wal::open(&dir, WalOptions::default(), |r| {
//!     replayed.push(r);
//!     Ok(())
//! })?;
//! assert_eq!(replayed.len(), 2);
//! assert_eq!(report.records, 2);
//! wal.close()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod checkpoint;
mod file;
mod framing;
mod reader;
mod record;
mod recovery;
mod writer;

use std::time::Duration;

pub use checkpoint::CheckpointStats;
pub use framing::{FILE_HEADER_LEN, FILE_MAGIC, FORMAT_VERSION, MAX_PAYLOAD_LEN};
pub use reader::{inspect_file, FileEnd, FileScan};
pub use record::{DecodeError, Record, RefSample};
pub use recovery::{DroppedData, RecoveryReport, TornTail};
pub use writer::{Wal, WalStats};

/// Default maximum log file size: 128 MiB, as in Prometheus. Big enough that rotation and
/// its directory fsync are rare, small enough that a checkpoint frees space in steps.
pub const DEFAULT_FILE_SIZE: u64 = 128 << 20;

/// Smallest accepted [`WalOptions::file_size`] (tests use tiny log files to exercise
/// rotation).
pub const MIN_FILE_SIZE: u64 = 64;

/// When the log fsyncs on its own.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum SyncMode {
    /// [`Wal::commit`] fsyncs (with group commit) before it returns: a batch is durable
    /// when it is acknowledged. The default, and what a server that acks writes wants.
    #[default]
    Always,
    /// A background thread fsyncs whatever was written every interval; a crash can lose
    /// up to one interval of acknowledged writes. The thread (rather than a check on
    /// append) bounds the loss window even when writes stop; it is stopped by
    /// [`Wal::close`] and on drop.
    Periodic(Duration),
    /// The log never fsyncs on its own; the OS writes back when it likes. Explicit
    /// [`Wal::sync`], [`Wal::flush`] and [`Wal::close`] still fsync.
    Never,
}

/// What replay does with damage that is not a torn tail.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum RecoveryMode {
    /// Cut a torn tail of the last log file (the crash case); report any other damage as
    /// [`Error::Corruption`](crate::Error::Corruption) and open nothing, so no
    /// acknowledged record is silently dropped. The default.
    #[default]
    Strict,
    /// Drop everything from the first damaged record on (truncate that file, delete the
    /// files after it) and report what was dropped in
    /// [`RecoveryReport::dropped`]. For an operator who prefers a running database
    /// to the records after the damage.
    TruncateCorrupt,
}

/// Options of [`Wal::open`]. Build with `WalOptions { sync: …, ..Default::default() }`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WalOptions {
    /// Maximum log file size in bytes; a log file is rotated when the next record would
    /// not fit. A record larger than this gets a log file to itself. Default
    /// [`DEFAULT_FILE_SIZE`] (128 MiB), at least [`MIN_FILE_SIZE`].
    pub file_size: u64,
    /// When to fsync. Default [`SyncMode::Always`].
    pub sync: SyncMode,
    /// What replay does with damage. Default [`RecoveryMode::Strict`].
    pub recovery: RecoveryMode,
}

impl Default for WalOptions {
    fn default() -> Self {
        WalOptions {
            file_size: DEFAULT_FILE_SIZE,
            sync: SyncMode::Always,
            recovery: RecoveryMode::Strict,
        }
    }
}

impl WalOptions {
    fn validate(&self) -> crate::Result<()> {
        if self.file_size < MIN_FILE_SIZE {
            return Err(crate::Error::invalid_argument(format!(
                "WAL file size {} is below the minimum {MIN_FILE_SIZE}",
                self.file_size
            )));
        }
        if let SyncMode::Periodic(d) = self.sync {
            if d.is_zero() {
                return Err(crate::Error::invalid_argument(
                    "periodic WAL sync interval must be above zero",
                ));
            }
        }
        Ok(())
    }
}

/// A position in the log: the end of a record, as `(log file number, byte offset)`.
/// Ordered; [`Wal::append`] returns the position after its last record and
/// [`Wal::sync`] waits until everything before a position is durable. Positions stay
/// ordered across reopen (a reopened log starts a new log file).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Lsn {
    /// Log file number.
    pub file: u32,
    /// Byte offset in that log file just past the record.
    pub offset: u64,
}

impl std::fmt::Display for Lsn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:08}:{}", self.file, self.offset)
    }
}

/// Replays the log in `dir` into `replay` (each record with its position, as
/// [`Wal::open_with_positions`] gives them) without changing anything on disk: what a
/// read-write open would repair (a torn tail, damage under
/// [`RecoveryMode::TruncateCorrupt`]) is reported but left in place, and no log file is
/// started. For read-only opens beside a process that may be writing the log.
pub fn replay_read_only(
    fs: std::sync::Arc<dyn crate::fs::Fs>,
    dir: &std::path::Path,
    mode: RecoveryMode,
    mut replay: impl FnMut(Record, Lsn) -> crate::Result<()>,
) -> crate::Result<RecoveryReport> {
    let dry = crate::dry_run_fs::DryRunFs(fs);
    Ok(recovery::recover(&dry, dir, mode, &mut replay)?.report)
}
