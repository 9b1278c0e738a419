//! Thin binaries around the tsdb engine, and the little they share.
//!
//! - `tsdb` (`src/bin/tsdb.rs`): the command-line tool, like `promtool tsdb`: `import`,
//!   `export`, `inspect`, `query`/`query-range` printing the Prometheus HTTP API's JSON,
//!   `delete`, and `repair` for a damaged write-ahead log.
//! - `import`: loading text files into a `Db` within a memory budget (the tool's
//!   `import`, and the benches' data).
//! - `api`: the Prometheus API's query endpoints over a `Db`, transport aside.
//! - `timearg`: time and duration arguments as the Prometheus API reads them.
//! - `human`: sizes, durations and rates as the tool prints them for people.
//! - `progress`: the tool's progress bars, drawn only when standard error is a terminal.
//! - `server`: the reference server `tsdb-server` (`src/bin/tsdb-server.rs`): Prometheus'
//!   HTTP API over a `Db`, configuration, auth, TLS, self-monitoring, lifecycle.
//!
//! Architecture invariant: only this package knows HTTP, JSON and YAML.

pub mod api;
pub mod human;
pub mod import;
pub mod progress;
pub mod server;
pub mod timearg;
