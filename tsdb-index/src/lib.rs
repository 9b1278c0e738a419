//! Label model, matchers and the inverted series index of the tsdb engine.
//!
//! This crate maps label sets to dense `u32` series ids and answers "which series match
//! these matchers"; it knows nothing about samples.
//!
//! - [`Labels`]: a validated, sorted label set in one buffer ([`LabelLimits`] for limits).
//! - [`Matcher`]: `=`, `!=`, `=~`, `!~` with Prometheus semantics; common regex shapes
//!   (`a|b|c`, `foo.*`, `.*`, `.+`) are answered without scanning every label value.
//! - [`MemIndex`]: the mutable, thread-safe index of the head block, with removal of idle
//!   series ([`MemIndex::remove`]).
//! - [`DiskIndex`]: the immutable index of a segment, read in place from bytes; its layout
//!   is in `FORMAT.md`. Written by [`IndexWriter`] from label sets streamed in label
//!   order, which numbers them `0..n` (the segment writer, and compaction next).
//!
//! Selectors that name their metric and filter it by low-cardinality labels are answered
//! from per-metric bitsets (*scopes*) in both index kinds; everything else from roaring
//! postings, cheapest matcher first.
//!
//! # Stable API
//!
//! The items re-exported at the crate root are the API; every module is private. The
//! on-disk format is versioned in `FORMAT.md` (a reader of version 2 also reads 1).
//! [`RoaringBitmap`] is re-exported because query results are bitmaps; its version moves
//! with this crate's.
//!
//! ```
//! use tsdb_index::{DiskIndex, IndexWriter, Labels, Matcher, MemIndex};
//!
//! let idx = MemIndex::new();
//! let mut series = Vec::new();
//! for (host, region) in [("a", "eu"), ("b", "us"), ("c", "us")] {
//!     let l = Labels::new([("__name__", "cpu"), ("host", host), ("region", region)])?;
//!     idx.get_or_insert(&l)?;
//!     series.push(l);
//! }
//! let q = [Matcher::equal("__name__", "cpu"), Matcher::regex("region", "us|ap")?];
//! assert_eq!(idx.select(&q)?.len(), 2);
//! assert_eq!(idx.label_values("host", &q)?, ["b", "c"]);
//!
//! // On disk, series are numbered in label order.
//! series.sort();
//! let mut w = IndexWriter::new();
//! for l in &series {
//!     w.add(l)?;
//! }
//! let bytes = w.finish_to_vec()?;
//! let seg = DiskIndex::open(&bytes)?;
//! assert_eq!(seg.select(&q)?, idx.select(&q)?);
//! # Ok::<(), tsdb_index::Error>(())
//! ```
#![forbid(unsafe_code)]
#![deny(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::cast_possible_wrap
)]

mod disk;
mod error;
mod labels;
mod matcher;
mod mem;
mod postings;
mod query;
mod scope;

pub use disk::read::DiskIndex;
pub use disk::write::IndexWriter;
pub use error::{Error, Result};
pub use labels::{
    is_valid_label_name, is_valid_metric_name, LabelLimits, Labels, LabelsIter, MAX_STRING_LEN,
    METRIC_NAME,
};
pub use matcher::{MatchOp, Matcher};
pub use mem::MemIndex;
pub use query::CardinalityStats;
/// Re-exported so callers can use query results without depending on `roaring` directly.
pub use roaring::RoaringBitmap;

/// A series id: dense, starting at 0. `MemIndex` assigns them in insertion order and
/// never reuses one; on disk, series are numbered in label order.
pub type SeriesId = u32;
