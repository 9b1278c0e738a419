//! Thin binaries around the tsdb engine, and the little they share.
//!
//! - `tsdb` (`src/bin/tsdb.rs`): the command-line tool, like `promtool tsdb`: `import`,
//!   `export`, `inspect`.
//! - Later: the reference server (ingest, Prometheus HTTP API, scraping, alerting).
//!
//! Architecture invariant: only this package knows HTTP, JSON and YAML.

pub mod selector;
pub mod timearg;
