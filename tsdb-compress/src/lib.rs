//! Compression for the tsdb time-series engine: timestamp and value codecs, the chunk
//! format, and a zstd block codec for cold data.
//!
//! A *chunk* holds the samples `(i64 milliseconds, f64)` of one series in time order.
//! Timestamps are coded as delta-of-delta with an adaptive Rice code, and dropped
//! altogether when a chunk's interval is perfectly regular. Values that are short
//! decimals (counters, byte sizes, percentages like 51.84) are coded as scaled integers
//! with an adaptive predictor; other values use Gorilla's XOR. The choice is made per
//! chunk and recorded in its header. Every `f64` round-trips bit for bit, NaN payloads
//! included. Byte layouts are in `FORMAT.md` beside this crate.
//!
//! Decoders never panic on arbitrary input: they return [`Error`].
//!
//! # Stable API
//!
//! The crate-root items and the `chunk` and `block` modules (their constants included)
//! are the API; the codecs underneath (bit streams, the Rice coder, the timestamp,
//! decimal and XOR codecs) are private and change freely. The byte layouts and which
//! versions a reader accepts are in `FORMAT.md`. The `gorilla` feature adds the Gorilla
//! paper's codec, a baseline for the benches only, outside the stable API.
//!
//! ```
//! use tsdb_compress::{ChunkAppender, ChunkOptions, ChunkRef};
//!
//! let mut app = ChunkAppender::new(ChunkOptions::default())?;
//! for i in 0..120 {
//!     app.append(1_700_000_000_000 + i * 15_000, 40.0 + (i % 7) as f64 * 0.25)?;
//! }
//! let chunk = app.finish().expect("chunk has samples");
//! assert!(chunk.as_bytes().len() < 120); // under a byte per sample
//!
//! // Bytes from disk are validated (CRC, header) before they are decoded.
//! let view = ChunkRef::new(chunk.as_bytes())?;
//! let mut it = view.iter();
//! let s = it.seek(1_700_000_000_000 + 60 * 15_000).expect("in range")?;
//! assert_eq!(s.v, 40.0 + (60 % 7) as f64 * 0.25);
//! # Ok::<(), tsdb_compress::Error>(())
//! ```
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]
#![deny(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::cast_possible_wrap
)]

mod bits;
pub mod block;
pub mod chunk;
mod decimal;
mod error;
#[cfg(feature = "gorilla")]
pub mod gorilla;
mod rice;
mod timestamp;
mod values;
mod xor;

pub use block::{Block, BlockEncoder};
pub use chunk::{Chunk, ChunkAppender, ChunkIter, ChunkOptions, ChunkRef, TimestampEncoding};
pub use decimal::{DecimalParams, PredictorChoice};
pub use error::{Error, Result};
pub use values::ValueEncoding;

/// One sample: a timestamp in milliseconds since the Unix epoch and a value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sample {
    /// Milliseconds since the Unix epoch.
    pub t: i64,
    /// The value; compare bit patterns (`to_bits`) where NaN matters.
    pub v: f64,
}
