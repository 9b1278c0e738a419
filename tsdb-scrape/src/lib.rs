//! Pull ingestion for the tsdb engine, as a library an embedder can run without our HTTP
//! server: Prometheus-compatible relabeling, target discovery, the scrape loop, and a
//! consistent-hash ring that splits targets between collectors.
//!
//! Being built (issue 13); the modules below are what exists so far.

pub mod relabel;

pub use relabel::{process, Action, RelabelConfig, RelabelError, RelabelRegex};
