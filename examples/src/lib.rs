//! Thin binaries around the tsdb engine.
//!
//! This package will hold the `tsdb` command-line tool (import, export, inspect, query;
//! issue 4 onwards) and the reference server (ingest, Prometheus HTTP API, scraping,
//! alerting). Architecture invariant: only this package knows HTTP, JSON and YAML.
