//! `tsdb-server`, the reference deployment: a [`tsdb_core::Db`] behind Prometheus' HTTP
//! API. The binary (`src/bin/tsdb-server.rs`) only parses flags and calls [`run`]; each
//! concept has its module here:
//!
//! - [`flags`]: the command line (clap), with every default documented.
//! - [`config`]: the YAML configuration file in Prometheus' shape (`global`), with errors
//!   that name the key and its line.
//! - [`auth`]: optional credentials for read, write and admin (bearer tokens, basic auth),
//!   compared in constant time.
//! - [`tls`]: rustls certificates, reloaded in place.
//! - [`params`]: request parameters from the query string and form bodies, as Go's
//!   `ParseForm` merges them (repeated `match[]`).
//! - [`response`]: Prometheus' JSON envelope, error types and status codes.
//! - [`pool`]: the bounded query pool (a semaphore in front of blocking threads), per-query
//!   timeouts and cancellation when the client goes away.
//! - [`query_api`], [`series_api`], [`status_api`]: the `/api/v1/*` read endpoints.
//! - [`write_api`]: the push endpoints (Influx `/write` and `/api/v2/write`, remote write
//!   `/api/v1/write`, OTLP `/api/v1/otlp/v1/metrics`) and remote read `/api/v1/read`,
//!   handing bodies to `tsdb-ingest` on blocking threads.
//! - [`metrics`]: the server's own `/metrics` (prometheus-client), the engine's observer
//!   and figures read from the `Db` at scrape time.
//! - [`self_scrape`]: self-monitoring, the server's own metrics appended to its `Db`.
//! - [`demo`]: `--demo-fleet`, synthetic fleet metrics written into the `Db`.
//! - [`state`]: what every handler shares, and readiness (the `Db` opens in the
//!   background while the listener already answers).
//! - [`routes`]: the router: which endpoint needs which credential, and the layers
//!   (compression, body limits, timeouts, tracing, request metrics).
//! - [`rules`]: rule groups evaluated on their slots (`tsdb-rules`), over the database.
//! - [`alerting`]: where alerts go (external Alertmanagers, the built-in alert manager of
//!   `tsdb-alert` with its durable outbox) and the endpoints over them: Alertmanager's
//!   v2 API, `/api/v1/rules`, `/api/v1/alerts`, `/api/v1/alertmanagers`,
//!   `/api/v1/notifications`.
//! - [`lifecycle`]: start-up, `/-/reload` and SIGHUP, graceful shutdown on SIGTERM/SIGINT.
//!
//! Decoding, limits and the answers of push ingestion are the `tsdb-ingest` library's;
//! this server only moves bytes and headers between HTTP and it.

pub mod alerting;
pub mod auth;
pub mod config;
pub mod demo;
pub mod flags;
pub mod lifecycle;
pub mod metrics;
pub mod params;
pub mod pool;
pub mod query_api;
pub mod response;
pub mod routes;
pub mod rules;
pub mod scrape;
pub mod self_scrape;
pub mod series_api;
pub mod state;
pub mod status_api;
pub mod targets_api;
pub mod tls;
pub mod write_api;

pub use lifecycle::run;
