//! The server's life: start-up, reloads, shutdown.
//!
//! Start-up checks everything that can be wrong with the command line and files first
//! (configuration, credentials, certificates, the listen address and whether it may be
//! used without credentials), binds the port, and starts answering at once: `/-/healthy`
//! is 200 from the first moment, while the database opens (WAL replay) on a blocking
//! thread; `/-/ready` turns 200 when it is open, and scraping (`scrape_configs`) starts
//! then. If opening fails, the server logs why and exits with an error.
//!
//! A reload (SIGHUP or `POST /-/reload`) re-reads the configuration, credentials and
//! certificate files; if any of them is invalid nothing changes and the reload reports
//! the error (`/-/reload` answers 500 with it). The database holds the downsampling
//! rules (`storage.downsampling`) from its open on, so a reload whose rules differ from
//! those in force is refused the same way (counted as a failed reload; restart the
//! server to change them).
//!
//! SIGTERM or SIGINT: the listener stops accepting, requests in flight get up to
//! `--shutdown-timeout` to finish (then their connections are closed, which cancels
//! their queries), self-monitoring and the demo fleet stop, scraping stops (stale
//! markers for every scraped series), and the database is closed cleanly (the WAL
//! flushed and closed, the maintenance thread stopped).

use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use parking_lot::RwLock;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::watch;
use tsdb_core::{Db, Options};
use tsdb_ingest::{IngestLimits, Ingester};
use tsdb_query::{ResultsCache, ResultsCacheOptions};

use super::alerting::Alerting;
use super::auth::Credentials;
use super::config::Config;
use super::flags::Flags;
use super::metrics::Metrics;
use super::pool::QueryPool;
use super::rules::Rules;
use super::scrape::Scraping;
use super::state::{engine_for, AppState, Shared};
use super::tls::Tls;
use super::{demo, routes, self_scrape};

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// A flag or file is wrong.
    #[error("{0}")]
    Setup(String),
    /// The database could not be opened.
    #[error("cannot open the database in {dir}: {message}")]
    Open {
        /// The data directory.
        dir: String,
        /// Why.
        message: String,
    },
    /// The listener failed.
    #[error("serving failed: {0}")]
    Serve(#[from] std::io::Error),
}

/// Checks the listen address: resolvable, and loopback unless there are credentials or
/// the operator allowed it explicitly.
pub fn check_listen(flags: &Flags, has_auth: bool) -> Result<SocketAddr, ServerError> {
    let addr = flags
        .listen
        .to_socket_addrs()
        .map_err(|e| ServerError::Setup(format!("--listen {}: {e}", flags.listen)))?
        .next()
        .ok_or_else(|| ServerError::Setup(format!("--listen {}: no address", flags.listen)))?;
    if !has_auth && !addr.ip().is_loopback() && !flags.allow_public_without_auth {
        return Err(ServerError::Setup(format!(
            "refusing to listen on {addr} without authentication: anyone who reaches it could \
             read, write and delete data. Give --auth-file, listen on a loopback address, or \
             pass --allow-public-without-auth"
        )));
    }
    Ok(addr)
}

/// The write limits the flags set.
pub fn ingest_limits(flags: &Flags) -> IngestLimits {
    IngestLimits {
        max_body_bytes: flags.max_request_body_size,
        max_series: flags.max_series,
        max_series_per_metric: flags.max_series_per_metric,
        max_samples_per_request: flags.max_samples_per_write,
        ..IngestLimits::default()
    }
}

/// A label name as Prometheus allows one, not one of the reserved `__` names.
fn check_label_name(name: &str) -> Result<(), &'static str> {
    if !super::series_api::is_label_name(name) {
        return Err("a label name is [a-zA-Z_][a-zA-Z0-9_]*");
    }
    if name.starts_with("__") {
        return Err("names starting with '__' are reserved");
    }
    Ok(())
}

/// Runs the server until SIGTERM or SIGINT (or until the database fails to open).
pub async fn run(flags: Flags) -> Result<(), ServerError> {
    let config = match &flags.config {
        Some(path) => Config::load(path).map_err(|e| ServerError::Setup(e.to_string()))?,
        None => Config::default(),
    };
    let auth = match &flags.auth_file {
        Some(path) => Some(Arc::new(
            Credentials::load(path).map_err(|e| ServerError::Setup(e.to_string()))?,
        )),
        None => None,
    };
    let addr = check_listen(&flags, auth.is_some())?;
    // checked before anything starts; used once the database is open
    shard(&flags).map_err(ServerError::Setup)?;
    if let Some(name) = &flags.influx_db_label {
        check_label_name(name)
            .map_err(|e| ServerError::Setup(format!("--influx-db-label {name:?}: {e}")))?;
    }
    let tls = match (&flags.tls_cert_file, &flags.tls_key_file) {
        (Some(cert), Some(key)) => Some(
            Tls::load(cert, key)
                .await
                .map_err(|e| ServerError::Setup(e.to_string()))?,
        ),
        _ => None,
    };
    // rule files and the alerting sections are checked before anything starts
    let mut rule_files = super::rules::load_rule_files(&config).map_err(ServerError::Setup)?;
    Alerting::check_reload(&config).map_err(ServerError::Setup)?;
    let listener = TcpListener::bind(addr)
        .map_err(|e| ServerError::Setup(format!("cannot listen on {addr}: {e}")))?;
    let local = listener.local_addr()?;

    let started = SystemTime::now();
    let db_cell: Arc<OnceLock<Db>> = Arc::new(OnceLock::new());
    let pool = QueryPool::new(
        usize::try_from(flags.query_max_concurrency).unwrap_or(1),
        flags.query_timeout,
    );
    let ingester_cell: Arc<OnceLock<Ingester>> = Arc::new(OnceLock::new());
    let results_cache = Arc::new(ResultsCache::new(ResultsCacheOptions {
        max_bytes: flags.query_cache_size,
        ..ResultsCacheOptions::default()
    }));
    let scrape_cell: Arc<OnceLock<Arc<Scraping>>> = Arc::new(OnceLock::new());
    let alerting = Arc::new(Alerting::default());
    let metrics = Arc::new(Metrics::new(
        db_cell.clone(),
        ingester_cell.clone(),
        results_cache.clone(),
        started,
        pool.in_flight_counter(),
        scrape_cell.clone(),
        alerting.clone(),
    ));
    metrics.config_loaded(true);
    let scheme = if tls.is_some() { "https" } else { "http" };
    let external_url = flags
        .external_url
        .clone()
        .map(|u| u.trim_end_matches('/').to_owned())
        .unwrap_or_else(|| format!("{scheme}://{local}"));
    alerting
        .start(
            &config,
            flags.alert_queue_capacity,
            &flags.data,
            &external_url,
        )
        .map_err(ServerError::Setup)?;
    let state = AppState(Arc::new(Shared {
        engine: RwLock::new(engine_for(&flags, &config)),
        pool,
        listen: local.to_string(),
        db: db_cell,
        open_error: OnceLock::new(),
        metrics: metrics.clone(),
        ingester: ingester_cell,
        results_cache,
        config: RwLock::new(Arc::new(config)),
        auth: RwLock::new(auth),
        tls: tls.clone(),
        started,
        last_reload: RwLock::new((true, started)),
        reload_lock: tokio::sync::Mutex::new(()),
        scrape: scrape_cell,
        alerting,
        external_url,
        flags: flags.clone(),
    }));

    let handle: axum_server::Handle<SocketAddr> = axum_server::Handle::new();
    let app = routes::router(state.clone());
    let server = match &tls {
        Some(tls) => {
            let s =
                axum_server::from_tcp_rustls(listener, tls.rustls_config())?.handle(handle.clone());
            tokio::spawn(async move { s.serve(app.into_make_service()).await })
        }
        None => {
            let s = axum_server::from_tcp(listener)?.handle(handle.clone());
            tokio::spawn(async move { s.serve(app.into_make_service()).await })
        }
    };
    tracing::info!("listening on {scheme}://{local}");
    // the line a newcomer looks for: where to point a browser
    tracing::info!("web UI at {scheme}://{local}/graph");
    if state.0.auth.read().is_none() {
        if local.ip().is_loopback() {
            tracing::warn!(
                "no --auth-file: no authentication, so listening on loopback only ({local}); \
                 give --auth-file to serve other hosts"
            );
        } else {
            tracing::warn!(
                "no --auth-file and --allow-public-without-auth: anyone who can reach {local} \
                 can read, write and delete data"
            );
        }
    }

    // Open the database while the listener already answers.
    let (opened_tx, mut opened_rx) = watch::channel(None::<Result<(), String>>);
    {
        let state = state.clone();
        let dir = flags.data.clone();
        let downsampling = state.0.config.read().downsampling.to_downsampling();
        let options = Options {
            out_of_order_window_ms: i64::try_from(flags.out_of_order_window.as_millis())
                .unwrap_or(i64::MAX),
            observer: metrics.observer.clone(),
            sync: if flags.wal_sync_interval.is_zero() {
                tsdb_core::wal::SyncMode::Always
            } else {
                tsdb_core::wal::SyncMode::Periodic(flags.wal_sync_interval)
            },
            retention_ms: (!flags.retention.is_zero())
                .then(|| i64::try_from(flags.retention.as_millis()).unwrap_or(i64::MAX)),
            retention_bytes: (flags.retention_size > 0)
                .then(|| u64::try_from(flags.retention_size).unwrap_or(u64::MAX)),
            downsampling,
            cold_dir: flags.cold_dir.clone(),
            cold_after_ms: flags
                .cold_after
                .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
            ..Options::default()
        };
        let limits = ingest_limits(&flags);
        let demo_fleet = flags
            .demo_fleet
            .map(|n| (n as usize, flags.demo_fleet_history));
        tokio::task::spawn_blocking(move || {
            let t0 = std::time::Instant::now();
            let result = Db::open(&dir, options).and_then(|db| {
                // before anything writes at "now", so the history is appended in order
                if let Some((hosts, history)) = demo_fleet {
                    demo::backfill(&db, hosts, history);
                }
                // seeds the per-metric series tracker from the head
                let ingester = Ingester::new(db.clone(), limits)?;
                // before ready, so `/api/v1/metadata` knows the fleet's families at once
                if demo_fleet.is_some() {
                    ingester.metadata().apply(&demo::metadata());
                }
                Ok((db, ingester))
            });
            let msg = match result {
                Ok((db, ingester)) => {
                    let r = db.recovery_report();
                    tracing::info!(
                        dir = %dir.display(),
                        elapsed_ms = t0.elapsed().as_millis() as u64,
                        report = ?r,
                        "database open, ready"
                    );
                    let _ = state.0.ingester.set(ingester);
                    let _ = state.0.db.set(db);
                    Ok(())
                }
                Err(e) => {
                    let _ = state.0.open_error.set(e.to_string());
                    Err(e.to_string())
                }
            };
            let _ = opened_tx.send(Some(msg));
        });
    }

    let (stop_tx, stop_rx) = watch::channel(false);
    let demo_fleet = flags.demo_fleet.map(|n| {
        tokio::spawn(demo::run(
            state.clone(),
            n as usize,
            flags.demo_fleet_history,
            stop_rx.clone(),
        ))
    });
    let scraper = (!self_scrape::interval(&state).is_zero())
        .then(|| tokio::spawn(self_scrape::run(state.clone(), stop_rx)));

    let mut hup = signal(SignalKind::hangup())?;
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut failure = None;
    // Whether the open's outcome is still to come. Once the opening thread has reported
    // and dropped its sender, `changed()` is ready at once with an error on every poll:
    // the branch must then be disabled, or this loop spins a whole core for as long as
    // the server runs.
    let mut awaiting_open = true;
    loop {
        tokio::select! {
            _ = hup.recv() => {
                match reload(&state).await {
                    Ok(()) => tracing::info!("configuration reloaded (SIGHUP)"),
                    Err(e) => tracing::error!(error = %e, "reload refused, the previous configuration stays"),
                }
            }
            _ = term.recv() => { tracing::info!("SIGTERM: shutting down"); break; }
            _ = int.recv() => { tracing::info!("SIGINT: shutting down"); break; }
            changed = opened_rx.changed(), if awaiting_open => {
                if changed.is_err() { awaiting_open = false; continue; }
                let outcome = opened_rx.borrow().clone();
                match outcome {
                    Some(Err(message)) => {
                        failure = Some(ServerError::Open { dir: flags.data.display().to_string(), message });
                        break;
                    }
                    Some(Ok(())) => {
                        if let Err(e) = start_scraping(&state).await {
                            failure = Some(ServerError::Setup(e));
                            break;
                        }
                        if let Err(e) = start_rules(&state, std::mem::take(&mut rule_files)).await {
                            failure = Some(ServerError::Setup(e));
                            break;
                        }
                    }
                    None => {}
                }
            }
        }
    }

    handle.graceful_shutdown(Some(flags.shutdown_timeout));
    let _ = stop_tx.send(true);
    match tokio::time::timeout(flags.shutdown_timeout + Duration::from_secs(5), server).await {
        Ok(Ok(Err(e))) => tracing::error!(error = %e, "server stopped with an error"),
        Ok(_) => {}
        Err(_) => tracing::warn!("connections still open after the shutdown timeout"),
    }
    state.0.pool.close();
    if let Some(s) = scraper {
        let _ = s.await;
    }
    if let Some(d) = demo_fleet {
        let _ = d.await;
    }
    // stale markers for every scraped series, while the database is still open
    if let Some(s) = state.0.scrape.get() {
        s.stop().await;
    }
    // rules stop before the database closes; alerts queued for Alertmanagers are sent
    state.0.alerting.stop().await;
    if let Some(db) = state.0.db.get().cloned() {
        match tokio::task::spawn_blocking(move || db.close()).await {
            Ok(Ok(())) => tracing::info!("database closed"),
            Ok(Err(e)) => tracing::error!(error = %e, "closing the database failed"),
            Err(e) => tracing::error!(error = %e, "closing the database failed"),
        }
    }
    match failure {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// This collector's shard of the targets, from `--shard-index`/`--shard-count` or from
/// the `--shard-members` file as it reads now (clap requires the flags' pairs and keeps
/// the two ways apart); `None`: every target is scraped.
pub fn shard(flags: &Flags) -> Result<Option<tsdb_scrape::Shard>, String> {
    if let (Some(path), Some(name)) = (&flags.shard_members, &flags.shard_name) {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("--shard-members {}: {e}", path.display()))?;
        return tsdb_scrape::Ring::parse_member_list(&text)
            .and_then(|ring| tsdb_scrape::Shard::new(ring, name.clone()))
            .map(Some)
            .map_err(|e| format!("--shard-members {}: {e}", path.display()));
    }
    match (flags.shard_index, flags.shard_count) {
        (Some(index), Some(count)) => tsdb_scrape::Ring::from_shards(index, count)
            .map(Some)
            .map_err(|e| format!("--shard-index {index} --shard-count {count}: {e}")),
        _ => Ok(None),
    }
}

/// Starts pull ingestion with the configuration in force (the database is open).
async fn start_scraping(state: &AppState) -> Result<(), String> {
    // a reload now would apply its configuration to a manager not yet registered
    let _one = state.0.reload_lock.lock().await;
    let Some(db) = state.0.db.get().cloned() else {
        return Ok(());
    };
    let shard = shard(&state.0.flags)?;
    // Prometheus's offset seed: host name and external labels (those of the start's
    // configuration; a reload changing them keeps the running loops' moments)
    let seed = {
        let config = state.0.config.read();
        tsdb_scrape::offset_seed(
            &hostname(),
            config
                .external_labels
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_str())),
        )
    };
    let scraping = Arc::new(Scraping::new(db, shard, seed));
    let configs = state.0.config.read().scrape_configs.clone();
    scraping.apply(&configs).await?;
    if !configs.is_empty() {
        tracing::info!(jobs = configs.len(), "scraping started");
    }
    if state.0.flags.shard_members.is_some() {
        tokio::spawn(watch_shard_members(state.clone(), scraping.clone()));
    }
    let _ = state.0.scrape.set(scraping);
    Ok(())
}

/// Starts rule evaluation over the open database with the rule files read at start (or
/// at the last reload before the database opened).
async fn start_rules(state: &AppState, files: Vec<tsdb_rules::RuleFile>) -> Result<(), String> {
    let _one = state.0.reload_lock.lock().await;
    let Some(db) = state.0.db.get().cloned() else {
        return Ok(());
    };
    let config = state.0.config.read().clone();
    // a reload while the database opened may have changed the files
    let files = if config.rule_files.is_empty() {
        files
    } else {
        super::rules::load_rule_files(&config)?
    };
    let alerting = state.0.alerting.clone();
    let notify: super::rules::NotifyFn = Arc::new(move |alerts| alerting.notify(alerts));
    let rules = Rules::new(
        db,
        super::rules::rule_options(&state.0.flags, &config, &state.0.external_url),
        state.engine(),
        files,
        notify,
    )?;
    let groups = rules.manager().lock().groups().len();
    rules.start();
    if groups > 0 {
        tracing::info!(groups, "rule evaluation started");
    }
    let _ = state.0.alerting.rules.set(Arc::new(rules));
    Ok(())
}

/// This host's name (Linux's `/proc/sys/kernel/hostname`, else `$HOSTNAME`, else empty).
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_owned())
        .ok()
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_default()
}

/// Re-reads `--shard-members` every `--shard-members-refresh` and applies a changed list;
/// a list that is not valid is logged and counted, and the one in force stays. Runs
/// until the process ends (it holds nothing that shutdown must close).
async fn watch_shard_members(state: AppState, scraping: Arc<Scraping>) {
    let every = state
        .0
        .flags
        .shard_members_refresh
        .max(Duration::from_millis(100));
    let mut last_error = String::new();
    loop {
        tokio::time::sleep(every).await;
        let _one = state.0.reload_lock.lock().await;
        match shard(&state.0.flags) {
            Ok(new) => {
                last_error.clear();
                scraping.set_shard(new).await;
            }
            Err(e) => {
                if e != last_error {
                    tracing::error!(error = %e, "shard member list refused, the list in force stays");
                    last_error = e;
                }
                scraping.shard_members_refused();
            }
        }
    }
}

/// Re-reads the configuration, credentials and certificate; all or nothing.
pub async fn reload(state: &AppState) -> Result<(), String> {
    let _one = state.0.reload_lock.lock().await;
    let result = reload_inner(state).await;
    let ok = result.is_ok();
    state.0.metrics.config_loaded(ok);
    let mut last = state.0.last_reload.write();
    last.0 = ok;
    if ok {
        last.1 = SystemTime::now();
    }
    result
}

async fn reload_inner(state: &AppState) -> Result<(), String> {
    let flags = &state.0.flags;
    let config = match &flags.config {
        Some(path) => Config::load(path).map_err(|e| e.to_string())?,
        None => Config::default(),
    };
    let auth = match &flags.auth_file {
        Some(path) => Some(Arc::new(
            Credentials::load(path).map_err(|e| e.to_string())?,
        )),
        None => None,
    };
    if let Some(tls) = &state.0.tls {
        tls.check().await.map_err(|e| e.to_string())?;
    }
    let new_shard = match &flags.shard_members {
        Some(_) => Some(shard(flags)?),
        None => None,
    };
    if config.downsampling != state.0.config.read().downsampling {
        return Err(
            "storage.downsampling differs from the rules in force: the database \
                    applies them from its open on, so changing them needs a restart (the \
                    rules in force stay)"
                .to_owned(),
        );
    }
    let rule_files = super::rules::load_rule_files(&config)?;
    let am_config = Alerting::check_reload(&config)?;
    if !state.0.alerting.builtin_matches(&config) {
        return Err(
            "adding or removing alertmanager.config_file needs a restart (the built-in \
             manager's state opens at start)"
                .to_owned(),
        );
    }
    // All or nothing itself: refused before anything else changes.
    if let Some(scrape) = state.0.scrape.get() {
        scrape.apply(&config.scrape_configs).await?;
        if let Some(new_shard) = new_shard {
            scrape.set_shard(new_shard).await;
        }
    }
    // Everything is valid: apply.
    if let Some(tls) = &state.0.tls {
        tls.reload().await.map_err(|e| e.to_string())?;
    }
    let new_engine = {
        let old = state.0.config.read();
        (old.evaluation_interval != config.evaluation_interval).then(|| engine_for(flags, &config))
    };
    if let Some(engine) = new_engine {
        *state.0.engine.write() = engine;
    }
    state
        .0
        .alerting
        .reload(&config, am_config, flags.alert_queue_capacity)?;
    if let Some(rules) = state.0.alerting.rules.get() {
        rules.update(
            super::rules::rule_options(flags, &config, &state.0.external_url),
            rule_files,
        )?;
    }
    *state.0.config.write() = Arc::new(config);
    *state.0.auth.write() = auth;
    Ok(())
}

/// `POST /-/reload`.
pub async fn reload_handler(State(s): State<AppState>) -> Response {
    match reload(&s).await {
        Ok(()) => StatusCode::OK.into_response(),
        Err(e) => {
            tracing::error!(error = %e, "reload refused, the previous configuration stays");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("failed to reload config: {e}\n"),
            )
                .into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn public_addresses_need_auth_or_an_explicit_flag() {
        let flags = |args: &[&str]| {
            Flags::try_parse_from(std::iter::once("tsdb-server").chain(args.iter().copied()))
                .unwrap()
        };
        assert!(check_listen(&flags(&[]), false).is_ok());
        assert!(check_listen(&flags(&["--listen", "[::1]:0"]), false).is_ok());
        let e = check_listen(&flags(&["--listen", "0.0.0.0:0"]), false).unwrap_err();
        assert!(e.to_string().contains("--allow-public-without-auth"), "{e}");
        assert!(check_listen(&flags(&["--listen", "0.0.0.0:0"]), true).is_ok());
        assert!(check_listen(
            &flags(&["--listen", "0.0.0.0:0", "--allow-public-without-auth"]),
            false
        )
        .is_ok());
        assert!(check_listen(&flags(&["--listen", "nonsense"]), false).is_err());
    }

    #[test]
    fn shard_flags_are_checked() {
        let flags = |args: &[&str]| {
            Flags::try_parse_from(std::iter::once("tsdb-server").chain(args.iter().copied()))
        };
        assert!(shard(&flags(&[]).unwrap()).unwrap().is_none());
        let s = shard(&flags(&["--shard-index", "1", "--shard-count", "3"]).unwrap()).unwrap();
        assert_eq!(s.unwrap().me(), "1");
        let e = shard(&flags(&["--shard-index", "3", "--shard-count", "3"]).unwrap()).unwrap_err();
        assert!(e.contains("--shard-index 3 --shard-count 3"), "{e}");
        assert!(shard(&flags(&["--shard-index", "0", "--shard-count", "0"]).unwrap()).is_err());
        // one without the other is a usage error
        assert!(flags(&["--shard-index", "0"]).is_err());
        assert!(flags(&["--shard-count", "2"]).is_err());
        // a member file needs a name, and is not mixed with index/count
        assert!(flags(&["--shard-members", "m.txt"]).is_err());
        assert!(flags(&["--shard-name", "a"]).is_err());
        assert!(flags(&[
            "--shard-members",
            "m.txt",
            "--shard-name",
            "a",
            "--shard-index",
            "0",
            "--shard-count",
            "2"
        ])
        .is_err());
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("members");
        let path = file.display().to_string();
        let e =
            shard(&flags(&["--shard-members", &path, "--shard-name", "a"]).unwrap()).unwrap_err();
        assert!(e.contains(&path), "an unreadable file is named: {e}");
        std::fs::write(&file, "a\n# b is away\n\nc\n").unwrap();
        let s = shard(&flags(&["--shard-members", &path, "--shard-name", "c"]).unwrap())
            .unwrap()
            .unwrap();
        assert_eq!(s.ring().members(), ["a", "c"]);
        let e =
            shard(&flags(&["--shard-members", &path, "--shard-name", "b"]).unwrap()).unwrap_err();
        assert!(e.contains("not a member"), "{e}");
    }
}
