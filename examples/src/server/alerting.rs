//! Where alerts go: the external Alertmanagers of `alerting.alertmanagers`
//! (`tsdb_alert::sender`) and the built-in alert manager of `alertmanager.config_file`
//! (`tsdb_alert::manager` with its durable outbox and notifiers), and the HTTP endpoints
//! over them: Alertmanager's v2 API (`/api/v2/alerts`, `/api/v2/alerts/groups`,
//! `/api/v2/silences`, `/api/v2/silence/{id}`, `/api/v2/status`, `/api/v2/receivers`, so
//! `amtool --alertmanager.url=http://this-server` works), Prometheus's
//! `/api/v1/alertmanagers`, `/api/v1/rules` and `/api/v1/alerts`, and
//! `/api/v1/notifications` (ours: the outbox's delivery history).
//!
//! The built-in manager keeps its state (silences, the notification log, the alerts it
//! knows, the outbox) in `alertmanager.redb` in the data directory, a redb database:
//! every notification is committed there, in the same transaction that logs it as sent,
//! before any delivery is attempted; the delivery workers retry with backoff and resume
//! after a restart. A delivery that fails for good comes back as a
//! `NotificationDeliveryFailed` alert into the manager itself.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use axum::extract::{Path as UrlPath, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use parking_lot::{Mutex, RwLock};
use tsdb_alert::manager::{Manager, ManagerOptions};
use tsdb_alert::outbox::{MetaAlertHook, OutboxSink, Workers};
use tsdb_alert::sender::Sender;
use tsdb_alert::{Notifiers, Outbox, OutboxOptions};

use super::config::Config;
use super::query_api::read_params;
use super::response::{self, ApiError, ErrorType};
use super::rules::{now_ms, Rules};
use super::state::AppState;

/// The file of the built-in manager's state, in the data directory.
pub const STATE_FILE: &str = "alertmanager.redb";

/// Alert destinations and rule evaluation, as the configuration in force sets them.
#[derive(Default)]
pub struct Alerting {
    /// The rules, once the database is open (and there are rule files).
    pub rules: OnceLock<Arc<Rules>>,
    /// The external Alertmanagers' sender and the signal that stops its task.
    sender: RwLock<Option<(Arc<Sender>, Arc<tokio::sync::Notify>)>>,
    /// The built-in manager, when `alertmanager.config_file` is set.
    builtin: OnceLock<Builtin>,
}

impl std::fmt::Debug for Alerting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Alerting").finish_non_exhaustive()
    }
}

/// The built-in alert manager and its delivery side.
pub struct Builtin {
    /// The manager (routes, groups, silences, inhibition, the notification log).
    pub manager: Arc<Mutex<Manager>>,
    /// The durable outbox.
    pub outbox: Arc<Outbox>,
    notifiers: Arc<Notifiers>,
    /// Wakes the manager's loop (alerts arrived).
    wake: Arc<tokio::sync::Notify>,
    shutdown: Arc<tokio::sync::Notify>,
    workers: Mutex<Option<Workers>>,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

/// Reads and checks the built-in manager's configuration file (receivers included, with
/// the `global` defaults applied, as Alertmanager's loader does).
pub fn load_alertmanager_config(path: &Path) -> Result<tsdb_alert::config::Config, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("alertmanager.config_file {}: {e}", path.display()))?;
    let config = tsdb_alert::config::Config::parse(&text)
        .map_err(|e| format!("alertmanager.config_file {}: {e}", path.display()))?;
    Ok(config)
}

impl Alerting {
    /// Starts the sender for `config.alerting` (if any Alertmanager is configured) and
    /// the built-in manager (if `alertmanager.config_file` is set) with its state in
    /// `data_dir`. Errors name what is wrong; nothing is left running on error.
    pub fn start(
        &self,
        config: &Config,
        queue_capacity: usize,
        data_dir: &Path,
        external_url: &str,
    ) -> Result<(), String> {
        self.set_sender(config, queue_capacity)?;
        if let Some(path) = &config.alertmanager_config_file {
            let am_config = load_alertmanager_config(path)?;
            let builtin = start_builtin(am_config, &data_dir.join(STATE_FILE), external_url)?;
            let _ = self.builtin.set(builtin);
        }
        Ok(())
    }

    /// Replaces the sender when `alerting` changed (a reload).
    fn set_sender(&self, config: &Config, queue_capacity: usize) -> Result<(), String> {
        let new = if config.alerting.alertmanagers.is_empty() {
            None
        } else {
            let sender = Sender::new(
                &config.alerting,
                config.external_labels.clone(),
                queue_capacity,
            )
            .map_err(|e| e.to_string())?;
            Some(Arc::new(sender))
        };
        let old = {
            let mut slot = self.sender.write();
            let old = slot.take();
            if let Some(sender) = new {
                let stop = Arc::new(tokio::sync::Notify::new());
                let stopped = stop.clone();
                tokio::spawn(sender.clone().run(async move { stopped.notified().await }));
                *slot = Some((sender, stop));
            }
            old
        };
        if let Some((_, stop)) = old {
            stop.notify_one();
        }
        Ok(())
    }

    /// Checks what a reload would apply; nothing changes.
    pub fn check_reload(config: &Config) -> Result<Option<tsdb_alert::config::Config>, String> {
        if !config.alerting.alertmanagers.is_empty() {
            Sender::new(&config.alerting, config.external_labels.clone(), 1)
                .map_err(|e| e.to_string())?;
        }
        config
            .alertmanager_config_file
            .as_deref()
            .map(load_alertmanager_config)
            .transpose()
    }

    /// Applies a reload checked by [`Alerting::check_reload`]. A built-in manager can be
    /// reconfigured but not added or removed without a restart (its state file is opened
    /// at start).
    pub fn reload(
        &self,
        config: &Config,
        am_config: Option<tsdb_alert::config::Config>,
        queue_capacity: usize,
    ) -> Result<(), String> {
        match (self.builtin.get(), am_config) {
            (Some(b), Some(am)) => {
                b.notifiers
                    .reload(&am.receivers, &am.global)
                    .map_err(|e| e.to_string())?;
                b.manager.lock().reload(am, now_ms());
                b.wake.notify_one();
            }
            (None, None) => {}
            (Some(_), None) | (None, Some(_)) => {
                return Err("adding or removing alertmanager.config_file needs a restart".into())
            }
        }
        self.set_sender(config, queue_capacity)
    }

    /// Whether a reload could apply `config`'s built-in manager setting.
    pub fn builtin_matches(&self, config: &Config) -> bool {
        self.builtin.get().is_some() == config.alertmanager_config_file.is_some()
    }

    /// Hands alerts from the rules to every destination.
    pub fn notify(&self, alerts: Vec<tsdb_alert::Alert>) {
        if let Some((sender, _)) = &*self.sender.read() {
            sender.send(alerts.clone());
        }
        if let Some(b) = self.builtin.get() {
            let manager = b.manager.clone();
            let wake = b.wake.clone();
            // the manager stores alerts with an fsynced commit: not on a runtime thread
            tokio::task::spawn_blocking(move || {
                if let Err(e) = manager.lock().put_alerts(alerts, now_ms()) {
                    tracing::error!(error = %e, "the built-in alert manager could not store alerts");
                }
                wake.notify_one();
            });
        }
    }

    /// The external Alertmanagers' sender, if any.
    pub fn sender(&self) -> Option<Arc<Sender>> {
        self.sender.read().as_ref().map(|(s, _)| s.clone())
    }

    /// The built-in manager, if any.
    pub fn builtin(&self) -> Option<&Builtin> {
        self.builtin.get()
    }

    /// Stops rules, the sender (after one last drain) and the built-in manager.
    pub async fn stop(&self) {
        if let Some(rules) = self.rules.get() {
            rules.stop().await;
        }
        if let Some((_, stop)) = self.sender.write().take() {
            stop.notify_one();
        }
        if let Some(b) = self.builtin.get() {
            b.shutdown.notify_one();
            let task = b.task.lock().take();
            if let Some(t) = task {
                let _ = t.await;
            }
            let workers = b.workers.lock().take();
            if let Some(w) = workers {
                w.shutdown().await;
            }
        }
    }
}

/// Opens the built-in manager's state and starts its loop and delivery workers.
fn start_builtin(
    config: tsdb_alert::config::Config,
    state_file: &PathBuf,
    external_url: &str,
) -> Result<Builtin, String> {
    let what = |e: &dyn std::fmt::Display| format!("{}: {e}", state_file.display());
    if let Some(dir) = state_file.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let db = Arc::new(tsdb_alert::redb::Database::create(state_file).map_err(|e| what(&e))?);
    let notifiers =
        Arc::new(Notifiers::new(&config.receivers, &config.global).map_err(|e| what(&e))?);
    let outbox =
        Arc::new(Outbox::open(db.clone(), OutboxOptions::default()).map_err(|e| what(&e))?);
    let options = ManagerOptions {
        external_url: external_url.to_owned(),
        ..ManagerOptions::default()
    };
    let manager = Arc::new(Mutex::new(
        Manager::open(config, db, options, now_ms()).map_err(|e| what(&e))?,
    ));
    let wake = Arc::new(tokio::sync::Notify::new());
    let shutdown = Arc::new(tokio::sync::Notify::new());
    let hook: MetaAlertHook = {
        let manager = manager.clone();
        let wake = wake.clone();
        Arc::new(move |alert| {
            tracing::error!(labels = ?alert.labels, "notification delivery failed for good");
            if let Err(e) = manager.lock().put_alerts(vec![alert], now_ms()) {
                tracing::error!(error = %e, "the delivery-failure alert could not be stored");
            }
            wake.notify_one();
        })
    };
    let workers = outbox.start(notifiers.clone(), hook);
    let task = tokio::spawn(tsdb_alert::manager::run(
        manager.clone(),
        wake.clone(),
        shutdown.clone(),
        OutboxSink {
            outbox: outbox.clone(),
            notifiers: notifiers.clone(),
        },
    ));
    Ok(Builtin {
        manager,
        outbox,
        notifiers,
        wake,
        shutdown,
        workers: Mutex::new(Some(workers)),
        task: Mutex::new(Some(task)),
    })
}

// ---------------------------------------------------------------------------------------
// HTTP

/// A v2 API answer as Alertmanager gives it.
fn reply(r: tsdb_alert::api::Reply) -> Response {
    let status = StatusCode::from_u16(r.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if r.body.is_empty() {
        return status.into_response();
    }
    response::json_response(status, r.body)
}

/// 404 when no built-in manager is configured (Alertmanager's paths are ours only then).
fn no_builtin() -> Response {
    (
        StatusCode::NOT_FOUND,
        "no built-in alert manager: set alertmanager.config_file in --config\n",
    )
        .into_response()
}

fn query_pairs(req: &Request) -> Vec<(String, String)> {
    form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// The request body, up to `--max-request-body-size` (413 beyond).
async fn body_bytes(s: &AppState, req: Request) -> Result<axum::body::Bytes, Response> {
    let limit = s.0.flags.max_request_body_size;
    axum::body::to_bytes(req.into_body(), limit)
        .await
        .map_err(|_| {
            (
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("request body larger than {limit} bytes\n"),
            )
                .into_response()
        })
}

/// Runs `f` on the built-in manager on a blocking thread (its writes fsync).
async fn with_manager<F>(s: &AppState, f: F) -> Response
where
    F: FnOnce(&mut Manager, i64) -> tsdb_alert::api::Reply + Send + 'static,
{
    let Some(b) = s.0.alerting.builtin() else {
        return no_builtin();
    };
    let (manager, wake) = (b.manager.clone(), b.wake.clone());
    match tokio::task::spawn_blocking(move || {
        let r = f(&mut manager.lock(), now_ms());
        wake.notify_one();
        r
    })
    .await
    {
        Ok(r) => reply(r),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

/// `GET /api/v2/alerts`.
pub async fn v2_get_alerts(State(s): State<AppState>, req: Request) -> Response {
    let q = query_pairs(&req);
    with_manager(&s, move |m, now| tsdb_alert::api::get_alerts(m, &q, now)).await
}

/// `POST /api/v2/alerts`.
pub async fn v2_post_alerts(State(s): State<AppState>, req: Request) -> Response {
    let body = match body_bytes(&s, req).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    with_manager(&s, move |m, now| {
        tsdb_alert::api::post_alerts(m, &body, now)
    })
    .await
}

/// `GET /api/v2/alerts/groups`.
pub async fn v2_alert_groups(State(s): State<AppState>, req: Request) -> Response {
    let q = query_pairs(&req);
    with_manager(&s, move |m, now| {
        tsdb_alert::api::get_alert_groups(m, &q, now)
    })
    .await
}

/// `GET /api/v2/silences`.
pub async fn v2_get_silences(State(s): State<AppState>, req: Request) -> Response {
    let q = query_pairs(&req);
    with_manager(&s, move |m, now| tsdb_alert::api::get_silences(m, &q, now)).await
}

/// `POST /api/v2/silences`.
pub async fn v2_post_silences(State(s): State<AppState>, req: Request) -> Response {
    let body = match body_bytes(&s, req).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    with_manager(&s, move |m, now| {
        tsdb_alert::api::post_silences(m, &body, now)
    })
    .await
}

/// `GET /api/v2/silence/{id}`.
pub async fn v2_get_silence(State(s): State<AppState>, UrlPath(id): UrlPath<String>) -> Response {
    with_manager(&s, move |m, now| tsdb_alert::api::get_silence(m, &id, now)).await
}

/// `DELETE /api/v2/silence/{id}`.
pub async fn v2_delete_silence(
    State(s): State<AppState>,
    UrlPath(id): UrlPath<String>,
) -> Response {
    with_manager(&s, move |m, now| {
        tsdb_alert::api::delete_silence(m, &id, now)
    })
    .await
}

/// `GET /api/v2/status`.
pub async fn v2_status(State(s): State<AppState>) -> Response {
    with_manager(&s, move |m, now| tsdb_alert::api::get_status(m, now)).await
}

/// `GET /api/v2/receivers`.
pub async fn v2_receivers(State(s): State<AppState>) -> Response {
    with_manager(&s, move |m, _| tsdb_alert::api::get_receivers(m)).await
}

/// `/api/v1/alertmanagers`: the external Alertmanagers alerts go to (Prometheus's shape;
/// the built-in manager is listed too, as this server's own `/api/v2/alerts`).
pub async fn v1_alertmanagers(State(s): State<AppState>) -> Response {
    let mut urls =
        s.0.alerting
            .sender()
            .map(|s| s.alertmanager_urls())
            .unwrap_or_default();
    if s.0.alerting.builtin().is_some() {
        urls.push(format!("{}/api/v2/alerts", s.0.external_url));
    }
    let active: Vec<serde_json::Value> = urls
        .into_iter()
        .map(|u| serde_json::json!({ "url": u }))
        .collect();
    let data = serde_json::json!({ "activeAlertmanagers": active, "droppedAlertmanagers": [] });
    response::success(&data.to_string(), &[])
}

/// `/api/v1/rules` (`type`, `rule_name[]`, `rule_group[]`, `file[]`).
pub async fn v1_rules(State(s): State<AppState>, req: Request) -> Response {
    let p = match read_params(req).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let filter = tsdb_rules::api::RulesFilter {
        kind: p.get("type").map(str::to_owned),
        rule_names: p
            .all("rule_name[]")
            .into_iter()
            .map(str::to_owned)
            .collect(),
        rule_groups: p
            .all("rule_group[]")
            .into_iter()
            .map(str::to_owned)
            .collect(),
        files: p.all("file[]").into_iter().map(str::to_owned).collect(),
    };
    let Some(rules) = s.0.alerting.rules.get() else {
        // no rules loaded (yet): Prometheus answers an empty list
        let kind = filter.kind.as_deref().unwrap_or("").to_ascii_lowercase();
        if !matches!(kind.as_str(), "" | "alert" | "record") {
            return ApiError::invalid_param("type", format!("not supported value {kind:?}"))
                .into_response();
        }
        return response::success(r#"{"groups":[]}"#, &[]);
    };
    let data = tsdb_rules::api::rules_json(&rules.manager().lock(), &filter);
    match data {
        Ok(v) => response::success(&v.to_string(), &[]),
        Err(e) => ApiError::new(ErrorType::BadData, e.to_string()).into_response(),
    }
}

/// `/api/v1/alerts`: every active alert of every alerting rule.
pub async fn v1_alerts(State(s): State<AppState>) -> Response {
    let data = match s.0.alerting.rules.get() {
        Some(rules) => tsdb_rules::api::alerts_json(&rules.manager().lock()),
        None => serde_json::json!({ "alerts": [] }),
    };
    response::success(&data.to_string(), &[])
}

/// `/api/v1/notifications?limit=N` (ours): the built-in manager's most recent deliveries,
/// newest first, each with every attempt (time, outcome, status, error).
pub async fn v1_notifications(State(s): State<AppState>, req: Request) -> Response {
    let limit = query_pairs(&req)
        .into_iter()
        .find(|(k, _)| k == "limit")
        .map(|(_, v)| v);
    let limit = match limit.as_deref().map(str::parse::<usize>) {
        None => 100,
        Some(Ok(n)) => n,
        Some(Err(_)) => {
            return ApiError::invalid_param("limit", "not a non-negative integer").into_response()
        }
    };
    let Some(b) = s.0.alerting.builtin() else {
        return response::success("[]", &[]);
    };
    let outbox = b.outbox.clone();
    match tokio::task::spawn_blocking(move || outbox.recent(limit)).await {
        Ok(Ok(deliveries)) => match serde_json::to_string(&deliveries) {
            Ok(json) => response::success(&json, &[]),
            Err(e) => ApiError::new(ErrorType::Internal, e.to_string()).into_response(),
        },
        Ok(Err(e)) => ApiError::new(ErrorType::Internal, e.to_string()).into_response(),
        Err(e) => ApiError::new(ErrorType::Internal, e.to_string()).into_response(),
    }
}
