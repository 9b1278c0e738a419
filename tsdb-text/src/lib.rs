//! Text formats of the tsdb engine: parsers for the Prometheus text exposition format,
//! OpenMetrics and InfluxDB line protocol, and an OpenMetrics writer.
//!
//! Everything here is a pure function over bytes: no I/O besides the `io::Write` the
//! writer is handed, no HTTP. The parsers are iterators over a `&[u8]` that yield one
//! `Result<`[`Sample`]`, `[`LineError`]`>` per sample (or refused line); a bad line is
//! reported with its line number, column and a typed reason, and never stops the lines
//! after it. They never panic, whatever the input.
//!
//! - [`prometheus`]: Prometheus text 0.0.4 (timestamps in milliseconds) and OpenMetrics
//!   1.0 (timestamps in seconds), `# HELP`/`# TYPE`/`# UNIT`/`# EOF`, exemplars
//!   skipped, metric types reported per family.
//! - [`influx`]: line protocol, each numeric field a sample of
//!   `<measurement>_<field>` with the tags as labels.
//! - [`openmetrics`]: the export format, read back exactly by [`prometheus`] and by
//!   `promtool tsdb create-blocks-from openmetrics`.
//!
//! Label sets are validated by [`tsdb_index::Labels`], with the caller's
//! [`tsdb_index::LabelLimits`].
//!
//! ```
//! use tsdb_index::Labels;
//! use tsdb_text::prometheus::{Dialect, Options, Parser};
//! use tsdb_text::{influx, openmetrics};
//!
//! // Influx line protocol in, OpenMetrics out, and back.
//! let body = b"cpu,host=a usage_user=51.84,usage_idle=40i 1705190400000000000\n";
//! let mut samples: Vec<_> = influx::Parser::new(body, influx::Options::default())
//!     .collect::<Result<_, _>>()?;
//! samples.sort_by(|a, b| openmetrics::family_order(&a.labels, &b.labels));
//!
//! let mut w = openmetrics::Writer::new(Vec::new());
//! for s in &samples {
//!     w.write_sample(&s.labels, s.timestamp.unwrap(), s.value)?;
//! }
//! let text = w.finish()?;
//!
//! let back: Vec<_> = Parser::new(&text, Options::new(Dialect::OpenMetrics))
//!     .collect::<Result<_, _>>()?;
//! assert_eq!(back, samples);
//! assert_eq!(back[1].labels, Labels::new([("__name__", "cpu_usage_user"), ("host", "a")])?);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Fuzzing
//!
//! `fuzz/` beside this crate holds a cargo-fuzz target per parser (`parse_prometheus`,
//! `parse_influx`); see `fuzz/README.md`:
//!
//! ```sh
//! cd tsdb-text
//! RUSTC_BOOTSTRAP=1 cargo fuzz run parse_prometheus -- -max_total_time=60
//! RUSTC_BOOTSTRAP=1 cargo fuzz run parse_influx -- -max_total_time=60
//! ```
#![forbid(unsafe_code)]
#![deny(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::cast_possible_wrap
)]
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

mod error;
mod find;
pub mod influx;
mod num;
pub mod openmetrics;
pub mod prometheus;

pub use error::{ErrorKind, LineError, WriteError};

/// The README's examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

use tsdb_index::Labels;

/// One sample read from text.
#[derive(Clone, Debug)]
pub struct Sample {
    /// The validated label set, the metric name as `__name__`.
    pub labels: Labels,
    /// Milliseconds since the epoch: the line's own timestamp, or else the default the
    /// caller gave (`None` if neither).
    pub timestamp: Option<i64>,
    /// The value; every NaN is the one quiet NaN `f64::NAN`.
    pub value: f64,
}

impl PartialEq for Sample {
    /// Equal labels and timestamps, and values equal bit for bit (so NaN equals NaN and
    /// `-0.0` differs from `0.0`).
    fn eq(&self, other: &Self) -> bool {
        self.labels == other.labels
            && self.timestamp == other.timestamp
            && self.value.to_bits() == other.value.to_bits()
    }
}
