//! Pull ingestion for the tsdb engine, as a library an embedder can run without our HTTP
//! server: Prometheus-compatible relabeling, target discovery, the scrape loop, and a
//! consistent-hash ring that splits targets between collectors.
//!
//! Being built (issue 13). What exists: [`relabel`] (Prometheus relabeling, every action)
//! and [`ring`] (the rendezvous-hash ring that assigns targets to collectors).

pub mod config;
pub mod relabel;
pub mod ring;
pub mod target;

pub use config::{
    resolve_scrape_configs, Authorization, BasicAuth, FileSdConfig, GlobalScrapeConfig,
    HttpSdConfig, ScrapeConfig, ScrapeConfigError, TargetGroup, TlsConfig,
};
pub use relabel::{process, Action, RelabelConfig, RelabelError, RelabelRegex};
pub use ring::{Ring, RingError, Shard};
pub use target::{
    populate_labels, targets_from_group, DroppedTarget, GroupTargets, PopulateOptions, Populated,
    Target, TargetError,
};
