//! Pull ingestion for the tsdb engine, as a library an embedder can run without our HTTP
//! server: Prometheus-compatible relabeling, target discovery, the scrape loop, and a
//! consistent-hash ring that splits targets between collectors.
//!
//! Being built (issue 13). What exists: [`relabel`] (Prometheus relabeling, every action),
//! [`ring`] (the rendezvous-hash ring that assigns targets to collectors) and [`scrape`]
//! (what one scrape of a fetched body appends: samples, stale markers, report series).

pub mod relabel;
pub mod ring;
pub mod scrape;

pub use relabel::{process, Action, RelabelConfig, RelabelError, RelabelRegex};
pub use ring::{Ring, RingError, Shard};
pub use scrape::{
    stale_nan, AppendSample, ScrapeError, ScrapeOptions, ScrapeOutcome, ScrapeReport, ScrapeState,
    STALE_NAN_BITS,
};
