//! Pull ingestion for the tsdb engine, as a library an embedder can run without our HTTP
//! server: Prometheus-compatible relabeling, target discovery, the scrape loop, and a
//! consistent-hash ring that splits targets between collectors.
//!
//! Being built (issue 13). What exists: [`relabel`] (Prometheus relabeling, every action),
//! [`ring`] (the rendezvous-hash ring that assigns targets to collectors), [`config`]
//! (`scrape_configs` entries in Prometheus's YAML shape), [`target`] (scrape targets from
//! discovered target groups, as Prometheus populates them), [`file_sd`] (the target
//! groups of a file_sd file), [`discovery`] (a job's target groups kept current by tokio
//! tasks: `static_configs`, `file_sd` files watched, `http_sd`), [`scrape`] (what one
//! scrape of a fetched body appends: samples, stale markers, report series), [`fetch`]
//! (the HTTP request of a scrape) and [`manager`] (the scrape loops on tokio, per job and
//! target). The server (`examples/src/server/scrape.rs`) wires discovery into the
//! manager and serves `/api/v1/targets`.

pub mod config;
pub mod discovery;
pub mod fetch;
pub mod file_sd;
pub mod manager;
pub mod relabel;
pub mod ring;
pub mod scrape;
pub mod target;

pub use config::{
    resolve_scrape_configs, Authorization, BasicAuth, FileSdConfig, GlobalScrapeConfig,
    HttpSdConfig, ScrapeConfig, ScrapeConfigError, TargetGroup, TlsConfig,
};
pub use discovery::{
    default_http_client, parse_http_sd, Discovery, DiscoveryError, DiscoveryOptions,
    DiscoveryStatus, SourcedGroup,
};
pub use fetch::{ClientError, Scraper, ACCEPT_HEADER};
pub use file_sd::{parse_file_sd, FileSdError};
pub use manager::{
    offset_seed, AppendError, Appender, FnAppender, Health, ScrapeManager, ScrapePool,
    TargetHealth, TargetStatus, UnknownJob,
};
pub use relabel::{process, Action, RelabelConfig, RelabelError, RelabelRegex};
pub use ring::{Ring, RingError, Shard};
pub use scrape::{
    stale_nan, AppendSample, FamilyMetadata, ScrapeError, ScrapeOptions, ScrapeOutcome,
    ScrapeReport, ScrapeState, TargetMetadata, STALE_NAN_BITS,
};
pub use target::{
    populate_labels, targets_from_group, DroppedTarget, GroupTargets, PopulateOptions, Populated,
    Target, TargetError,
};
/// The type in a [`FamilyMetadata`]: `tsdb_text`'s, re-exported so that embedders need
/// not depend on the parser crate.
pub use tsdb_text::prometheus::MetricType;
