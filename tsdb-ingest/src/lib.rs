//! Push ingestion for the tsdb engine: InfluxDB line protocol, Prometheus remote write
//! 1.0 and 2.0, and OpenTelemetry OTLP/HTTP metrics, decoded, checked against
//! [`IngestLimits`], appended to a [`tsdb_core::Db`] and answered as each protocol's
//! peer answers.
//!
//! The crate is synchronous and has no HTTP in it: an HTTP server (the reference one is
//! `tsdb-server` in `examples/`) routes a request's body and headers to
//! [`Ingester::influx`], [`Ingester::remote_write`] or [`Ingester::otlp`] and sends back
//! [`Outcome::response`]: status code, content type, headers and body exactly as
//! InfluxDB, a Prometheus remote-write receiver or an OTLP collector would answer
//! (204/400/413 with InfluxDB's JSON errors; 204/400/413/415/5xx with the remote write
//! 2.0 `X-Prometheus-Remote-Write-*-Written` headers; 200 with an OTLP
//! `ExportMetricsServiceResponse` and its `partial_success`).
//!
//! One bad line or series never costs the good ones: they are written, and the outcome
//! counts every refusal by [`Reason`] (keeping the first messages). A write is
//! acknowledged only once its samples are durable in the WAL; a database failure is a
//! [`RequestError::Storage`] answered 503 (retry) or 500, never 400. Everything is
//! counted per [`Protocol`] in [`IngestStats`] for a server's `/metrics`; metadata
//! (type, help, unit) lands in a [`MetadataStore`] for `/api/v1/metadata`.
//!
//! Which protocol features are supported and which are refused, by name: `README.md`
//! beside this crate.
//!
//! # Stable API
//!
//! [`Ingester`] with [`IngestLimits`] and [`InfluxParams`]; [`Outcome`], [`Response`] and
//! [`RequestError`]; [`Protocol`], [`Reason`] and [`FailureKind`] (their `name()`s are
//! stable metric label values); [`IngestStats`]; [`MetadataStore`], [`MetricMetadata`],
//! [`MetricType`]; the generated messages in [`proto`] (which follow their `.proto`
//! files). `fuzzing` is for the fuzz targets and benches, with no stability promise.
//!
//! ```
//! use tsdb_core::{Db, Options};
//! use tsdb_index::Matcher;
//! use tsdb_ingest::{Ingester, IngestLimits, InfluxParams, Protocol, Reason};
//!
//! # let dir = tempfile::tempdir()?;
//! let db = Db::open(dir.path(), Options::default())?;
//! let ingester = Ingester::new(db.clone(), IngestLimits::default())?;
//!
//! // Influx line protocol, seconds: two good lines, one bad.
//! let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs();
//! let body = format!(
//!     "weather,city=paris temperature=21.5 {now}\n\
//!      weather,city=oslo temperature= {now}\n\
//!      weather,city=rome temperature=27 {now}\n"
//! );
//! let params = InfluxParams { precision: Some("s"), ..InfluxParams::default() };
//! let outcome = ingester.influx(body.as_bytes(), Protocol::InfluxV2, &params);
//! assert_eq!(outcome.accepted, 2);
//! assert_eq!(outcome.refused(Reason::Malformed), 1);
//!
//! // What the server sends back: InfluxDB's 400 naming the bad line.
//! let response = outcome.response();
//! assert_eq!(response.status, 400);
//! assert!(response.body_text().starts_with(
//!     r#"{"code":"invalid","message":"partial write: unable to parse 'weather,city=oslo temperature="#
//! ));
//!
//! // The good lines are in the database.
//! let t = now as i64 * 1000;
//! let series = db.querier(t, t)?.select(&[Matcher::equal("__name__", "weather_temperature")])?;
//! assert_eq!(series.len(), 2);
//! assert_eq!(ingester.stats().accepted(Protocol::InfluxV2), 2);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Fuzzing
//!
//! `fuzz/` beside this crate holds cargo-fuzz targets for the remote-write 1.0 and 2.0
//! decoders and the OTLP (protobuf and JSON) decoders and translator; see
//! `fuzz/README.md`.
#![forbid(unsafe_code)]
#![deny(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::cast_possible_wrap
)]

mod body;
mod influx;
mod ingester;
mod limits;
mod metadata;
mod otlp;
mod outcome;
pub mod proto;
mod reason;
mod remote_read;
mod remote_write;
mod stats;
mod tracker;

pub use influx::InfluxParams;
pub use ingester::Ingester;
pub use limits::IngestLimits;
pub use metadata::{Entry as MetadataEntry, MetadataStore, MetricMetadata, MetricType};
pub use otlp::{STALE_NAN, TARGET_INFO_MAX_SAMPLES};
pub use outcome::{
    Outcome, RequestError, Response, EXEMPLARS_WRITTEN_HEADER, HISTOGRAMS_WRITTEN_HEADER,
    SAMPLES_WRITTEN_HEADER,
};
pub use reason::{FailureKind, Protocol, Reason};
pub use remote_read::{remote_read, ReadError, ReadLimits};
pub use remote_write::{negotiate as negotiate_remote_write, PROTO_V1, PROTO_V2};
pub use stats::IngestStats;

/// Decoders run on arbitrary bytes without a database, for the fuzz targets: each
/// decodes a body (snappy block or protobuf) and translates it as the real path does,
/// returning the samples it would append. No stability promise.
#[doc(hidden)]
pub mod fuzzing {
    pub use crate::ingester::fuzz_decode;
}
