//! The storage engine of the tsdb time-series database.
//!
//! This crate will hold (see `../shared/DESIGN.md` and issue 4): the `Db` handle that
//! applications embed, the write-ahead log, the in-memory head, immutable memory-mapped
//! segments, and later the compactor, downsampling and retention. It builds on
//! `tsdb-compress` for chunk encoding and `tsdb-index` for series lookup.
//!
//! What exists so far:
//!
//! - [`wal`]: the write-ahead log — segment files, typed records, group commit, replay
//!   with torn-tail recovery, checkpoints. Format in `FORMAT-wal.md`.
//! - [`fs`]: the file-system seam every file operation goes through (segments are mapped
//!   and the directory locked through it too), with [`fs::RealFs`] for production,
//!   [`testing::FaultFs`] to inject fsync errors, short writes and a full disk in tests,
//!   and [`testing::PowerLossFs`] to simulate a power loss after any fsync.
//! - [`Error`]: the crate's one error type.

#![deny(unsafe_code)] // the one exception is the mmap in fs/mapped.rs

mod atomic_file;
mod batch;
mod clock;
mod db;
mod deletes;
mod dry_run_fs;
mod error;
pub mod fs;
mod head;
mod maintenance;
mod manifest;
pub mod observe;
mod options;
mod querier;
mod segment;
mod series_iter;
pub mod wal;

pub use batch::{Batch, BatchOutcome, BatchSeries, Rejected, SampleError, SeriesKey, SeriesRef};
pub use clock::{Clock, ManualClock, SystemClock};
pub use db::{Db, DbStats, ManifestStatus, OpenReport};
pub use error::{Error, ErrorClass, IoOp, Result};
pub use fs::testing;
pub use maintenance::MaintenanceStats;
pub use options::{Options, DEFAULT_BLOCK_RANGE_MS};
pub use querier::{Querier, SeriesEntry};
pub use segment::{Segment, SegmentMeta};
pub use series_iter::SeriesIter;
pub use tsdb_compress::Sample;
