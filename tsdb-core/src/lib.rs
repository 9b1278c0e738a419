//! The storage engine of the tsdb time-series database: the [`Db`] handle applications
//! embed. Samples are made durable in a write-ahead log, held in an in-memory head as
//! compressed chunks, and persisted by a background maintenance thread into immutable,
//! memory-mapped segments listed in a manifest. Reads take a consistent snapshot
//! ([`Querier`]) across head and segments. It builds on `tsdb-compress` for chunks and
//! `tsdb-index` for series lookup; PromQL is in `tsdb-query`.
//!
//! # Stable API
//!
//! What an embedder uses: [`Db`] with [`Options`] (and [`Clock`], [`ManualClock`] for
//! tests), [`Batch`]/[`BatchOutcome`]/[`SampleError`] for writing, [`Querier`],
//! [`SeriesEntry`] and [`SeriesIter`] for reading, [`DbStats`], [`OpenReport`] and the
//! [`observe::Observer`] hook for monitoring, [`Error`] with [`Error::class`] for
//! mapping failures (caller, unavailable, internal). These follow semver once the crate
//! reaches 1.0; breaking changes before that are listed in the release notes.
//!
//! Also public, for tools and tests, with no stability promise: [`wal`] (the log on its
//! own: log files, records, replay, checkpoints; format in `FORMAT-wal.md`), [`fs`] (the
//! file-system seam every read and write goes through) and [`testing`]
//! ([`testing::FaultFs`] injects fsync errors, short writes and full disks;
//! [`testing::PowerLossFs`] simulates a power loss after any fsync).
//!
//! On-disk formats: `FORMAT-segment.md` (data directory, manifest, segments, tombstones)
//! and `FORMAT-wal.md`.

#![deny(unsafe_code)]
// the one exception is the mmap in fs/mapped.rs
// Casts that can truncate or change sign are where format code goes wrong: values from
// data go through `try_from`, provably safe casts carry an `#[expect]` with the reason.
#![deny(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::cast_possible_wrap
)]
#![cfg_attr(
    test,
    allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_possible_wrap
    )
)]

mod atomic_file;
mod batch;
mod clock;
mod db;
mod deletes;
pub mod downsampling;
mod dry_run_fs;
mod error;
pub mod fs;
mod head;
mod maintenance;
mod manifest;
pub mod observe;
mod options;
mod querier;
pub mod rollup;
mod segment;
mod series_iter;
pub mod wal;

pub use batch::{Batch, BatchOutcome, BatchSeries, Rejected, SampleError, SeriesKey, SeriesRef};
pub use clock::{Clock, ManualClock, SystemClock};
pub use db::{
    ColdStats, CompactStats, Db, DbStats, DownsampleStats, ManifestStatus, OpenReport,
    RetentionStats, RewriteStep, StorageTier, LEVEL_SPANS,
};
pub use downsampling::{DownsampleRule, Downsampling, Tier};
pub use error::{Error, ErrorClass, IoOp, Result};
pub use fs::testing;
pub use maintenance::MaintenanceStats;
pub use options::{Options, DEFAULT_BLOCK_RANGE_MS};
pub use querier::{Querier, SeriesEntry};
pub use segment::{Segment, SegmentMeta};
pub use series_iter::SeriesIter;
pub use tsdb_compress::Sample;
