//! What every handler shares: the database (once open), the query engine and pool, the
//! configuration and credentials in force (swapped whole on reload), metrics, and the
//! push-ingestion front (`tsdb_ingest::Ingester`, which also keeps the metric metadata).
//!
//! The listener starts before the database has replayed its WAL: until then
//! `/-/healthy` answers 200, `/-/ready` 503, and every endpoint that needs the database
//! answers 503 `unavailable`.

use std::sync::{Arc, OnceLock};
use std::time::SystemTime;

use parking_lot::RwLock;
use tsdb_core::Db;
use tsdb_ingest::Ingester;
use tsdb_query::{Engine, EngineOptions, ResultsCache};

use super::alerting::Alerting;
use super::auth::Credentials;
use super::config::Config;
use super::flags::Flags;
use super::metrics::Metrics;
use super::pool::QueryPool;
use super::response::{ApiError, ErrorType};
use super::scrape::Scraping;
use super::tls::Tls;

/// The state handlers receive (a cheap clone).
#[derive(Clone, Debug)]
pub struct AppState(pub Arc<Shared>);

/// See [`AppState`].
#[derive(Debug)]
pub struct Shared {
    /// The command line.
    pub flags: Flags,
    /// The address actually listened on (the port resolved when 0 was asked).
    pub listen: String,
    /// Set once the database is open (WAL replayed).
    pub db: Arc<OnceLock<Db>>,
    /// Set when opening the database failed.
    pub open_error: OnceLock<String>,
    /// The engine in force (rebuilt when a reload changes `evaluation_interval`).
    pub engine: RwLock<Engine>,
    /// The bounded pool queries run on.
    pub pool: QueryPool,
    /// The server's metrics.
    pub metrics: Arc<Metrics>,
    /// The push-ingestion front, set just before `db` (so a ready server has both). Its
    /// metadata store answers `/api/v1/metadata`.
    pub ingester: Arc<OnceLock<Ingester>>,
    /// Range query answers already computed (invalidated by the engine observer).
    pub results_cache: Arc<ResultsCache>,
    /// The configuration in force.
    pub config: RwLock<Arc<Config>>,
    /// The credentials in force (`None`: no authentication).
    pub auth: RwLock<Option<Arc<Credentials>>>,
    /// The certificate, when serving HTTPS.
    pub tls: Option<Tls>,
    /// When the process started.
    pub started: SystemTime,
    /// Whether the last reload succeeded, and when the configuration was last loaded.
    pub last_reload: RwLock<(bool, SystemTime)>,
    /// One reload at a time (SIGHUP and `/-/reload` may race).
    pub reload_lock: tokio::sync::Mutex<()>,
    /// Pull ingestion (`scrape_configs`), started once the database is open.
    pub scrape: Arc<OnceLock<Arc<Scraping>>>,
    /// Rules and where their alerts go (external Alertmanagers, the built-in manager).
    pub alerting: Arc<Alerting>,
    /// `--external-url`, or this server's own URL.
    pub external_url: String,
}

impl AppState {
    /// The database, or 503 `unavailable` while it opens.
    pub fn db(&self) -> Result<Db, ApiError> {
        match self.0.db.get() {
            Some(db) => Ok(db.clone()),
            None => Err(ApiError::new(
                ErrorType::Unavailable,
                match self.0.open_error.get() {
                    Some(e) => format!("the database could not be opened: {e}"),
                    None => "the database is still opening (replaying its write-ahead log); try again shortly".to_owned(),
                },
            )),
        }
    }

    /// The ingester, or 503 `unavailable` while the database opens.
    pub fn ingester(&self) -> Result<Ingester, ApiError> {
        self.db()?;
        self.0
            .ingester
            .get()
            .cloned()
            .ok_or_else(|| ApiError::new(ErrorType::Unavailable, "the database is still opening"))
    }

    /// Whether the database is open.
    pub fn is_ready(&self) -> bool {
        self.0.db.get().is_some()
    }

    /// Waits until the database is open (the background tasks' first step); false when
    /// `stop` turned true first.
    pub async fn wait_ready(&self, stop: &mut tokio::sync::watch::Receiver<bool>) -> bool {
        while !self.is_ready() {
            if *stop.borrow() {
                return false;
            }
            tokio::select! {
                _ = tokio::time::sleep(std::time::Duration::from_millis(20)) => {}
                _ = stop.changed() => {}
            }
        }
        true
    }

    /// The engine in force.
    pub fn engine(&self) -> Engine {
        self.0.engine.read().clone()
    }
}

/// The engine for these flags and configuration.
pub fn engine_for(flags: &Flags, config: &Config) -> Engine {
    let step_ms = i64::try_from(config.evaluation_interval.as_millis()).unwrap_or(60_000);
    let lookback = i64::try_from(flags.query_lookback_delta.as_millis()).unwrap_or(0);
    Engine::new(EngineOptions {
        lookback_delta_ms: lookback,
        max_samples: flags.query_max_samples,
        timeout: flags.query_timeout,
        default_subquery_step_ms: step_ms,
        ..crate::api::engine_options()
    })
}
