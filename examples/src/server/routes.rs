//! The router: every endpoint, the credential it needs, and the layers around them.
//!
//! | group | credential | endpoints |
//! |---|---|---|
//! | open | none | `/-/healthy`, `/-/ready` (for probes), `/ping` (Influx clients) |
//! | read | read | the web UI (`/`, `/graph`, `/alerts`, `/rules`, `/targets`, `/tsdb-status`, `/status`, `/config`, `/flags`, `/assets/*`), `/api/v1/{query,query_range,query_exemplars,format_query,series,labels,label/<name>/values,metadata,read,targets,targets/metadata}`, `/api/v1/status/*` (`status/storage` is ours), `/metrics` |
//! | write | write | `/write`, `/api/v2/write`, `/api/v1/write`, `/api/v1/otlp/v1/metrics`, `/opentelemetry/v1/metrics` |
//! | admin | admin | `/api/v1/admin/tsdb/{delete_series,flush}`, `/-/reload` |
//!
//! Layers, outermost first: tracing of each request; request bodies decompressed (gzip
//! and zstd; other encodings such as remote write's snappy pass through to their
//! handler); response compression (gzip, when the client accepts it); `--http-timeout`
//! (408). Per route: the request metrics (by matched path and status), the body limit
//! (`--max-request-body-size`, on the decompressed bytes: 413 past it; the write
//! endpoints apply it themselves so that the 413 has their protocol's shape and is
//! counted), then the credential check.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::Router;
use tower_http::compression::CompressionLayer;
use tower_http::decompression::RequestDecompressionLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use super::alerting;
use super::auth::Role;
use super::lifecycle::reload_handler;
use super::state::AppState;
use super::{query_api, series_api, status_api, targets_api, ui, write_api};

/// The whole application.
pub fn router(state: AppState) -> Router {
    let flags = &state.0.flags;
    let read = Router::new()
        .route(
            "/api/v1/query",
            get(query_api::query).post(query_api::query),
        )
        .route(
            "/api/v1/query_range",
            get(query_api::query_range).post(query_api::query_range),
        )
        .route(
            "/api/v1/query_exemplars",
            get(query_api::query_exemplars).post(query_api::query_exemplars),
        )
        .route(
            "/api/v1/format_query",
            get(query_api::format_query).post(query_api::format_query),
        )
        .route(
            "/api/v1/series",
            get(series_api::series).post(series_api::series),
        )
        .route(
            "/api/v1/labels",
            get(series_api::labels).post(series_api::labels),
        )
        .route("/api/v1/label/{name}/values", get(series_api::label_values))
        .route("/api/v1/metadata", get(status_api::metadata))
        .route("/api/v1/read", post(write_api::read))
        .route("/api/v1/status/buildinfo", get(status_api::buildinfo))
        .route("/api/v1/status/runtimeinfo", get(status_api::runtimeinfo))
        .route("/api/v1/status/flags", get(status_api::flags))
        .route("/api/v1/status/config", get(status_api::config))
        .route("/api/v1/status/tsdb", get(status_api::tsdb))
        .route("/api/v1/status/storage", get(status_api::storage))
        .route("/api/v1/targets", get(targets_api::targets))
        .route(
            "/api/v1/targets/metadata",
            get(targets_api::targets_metadata),
        )
        .route("/metrics", get(metrics))
        .route(
            "/api/v1/rules",
            get(alerting::v1_rules).post(alerting::v1_rules),
        )
        .route("/api/v1/alerts", get(alerting::v1_alerts))
        .route("/api/v1/alertmanagers", get(alerting::v1_alertmanagers))
        .route("/api/v1/notifications", get(alerting::v1_notifications))
        // the built-in alert manager: Alertmanager's v2 API (amtool, Grafana)
        .route("/api/v2/alerts", get(alerting::v2_get_alerts))
        .route("/api/v2/alerts/groups", get(alerting::v2_alert_groups))
        .route("/api/v2/silences", get(alerting::v2_get_silences))
        .route("/api/v2/silence/{id}", get(alerting::v2_get_silence))
        .route("/api/v2/status", get(alerting::v2_status))
        .route("/api/v2/receivers", get(alerting::v2_receivers));
    // the web UI: its pages read the API above with the same credential
    let read = ui::PAGES
        .iter()
        .fold(read, |r, path| r.route(path, get(ui::page)))
        .route("/", get(ui::root))
        .route("/assets/app.js", get(ui::app_js))
        .route("/assets/app.css", get(ui::app_css))
        .route_layer(middleware::from_fn_with_state(state.clone(), require_read))
        .layer(RequestBodyLimitLayer::new(flags.max_request_body_size));
    let write = Router::new()
        .route("/write", post(write_api::influx_v1))
        .route("/api/v2/write", post(write_api::influx_v2))
        .route("/api/v1/write", post(write_api::remote_write))
        .route("/api/v1/otlp/v1/metrics", post(write_api::otlp))
        .route("/opentelemetry/v1/metrics", post(write_api::otlp))
        // alerts posted to the built-in manager (by a Prometheus, vmalert, amtool)
        .route("/api/v2/alerts", post(alerting::v2_post_alerts))
        .route_layer(middleware::from_fn_with_state(state.clone(), require_write));
    let admin = Router::new()
        .route(
            "/api/v1/admin/tsdb/delete_series",
            post(series_api::delete_series).put(series_api::delete_series),
        )
        .route(
            "/api/v1/admin/tsdb/flush",
            post(series_api::flush).put(series_api::flush),
        )
        .route("/-/reload", post(reload_handler).put(reload_handler))
        // silences are management operations
        .route("/api/v2/silences", post(alerting::v2_post_silences))
        .route("/api/v2/silence/{id}", delete(alerting::v2_delete_silence))
        .route_layer(middleware::from_fn_with_state(state.clone(), require_admin))
        .layer(RequestBodyLimitLayer::new(flags.max_request_body_size));
    let open = Router::new()
        .route("/-/healthy", get(healthy).head(healthy))
        .route("/-/ready", get(ready).head(ready))
        .route("/ping", get(write_api::ping).head(write_api::ping));
    Router::new()
        .merge(open)
        .merge(read)
        .merge(write)
        .merge(admin)
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            record_request,
        ))
        .fallback(not_found)
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            flags.http_timeout,
        ))
        .layer(CompressionLayer::new())
        .layer(RequestDecompressionLayer::new().pass_through_unaccepted(true))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

async fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "404 page not found\n").into_response()
}

/// `/-/healthy`: the process serves.
async fn healthy() -> &'static str {
    "tsdb-server is Healthy.\n"
}

/// `/-/ready`: the database is open (its WAL replayed).
async fn ready(State(s): State<AppState>) -> Response {
    if s.is_ready() {
        (StatusCode::OK, "tsdb-server is Ready.\n").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable\n").into_response()
    }
}

/// `/metrics`: the OpenMetrics exposition (rendered on a blocking thread: it reads the
/// database's statistics).
async fn metrics(State(s): State<AppState>) -> Response {
    let m = s.0.metrics.clone();
    match tokio::task::spawn_blocking(move || m.encode()).await {
        Ok(Ok(text)) => {
            let mut r = text.into_response();
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(
                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                ),
            );
            r
        }
        _ => (StatusCode::INTERNAL_SERVER_ERROR, "cannot render metrics\n").into_response(),
    }
}

/// Counts the request and its latency under its matched path.
async fn record_request(State(s): State<AppState>, req: Request, next: Next) -> Response {
    let handler = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "other".to_owned(), |p| p.as_str().to_owned());
    let started = Instant::now();
    let response = next.run(req).await;
    s.0.metrics
        .http_request(&handler, response.status().as_u16(), started.elapsed());
    response
}

async fn require(s: &AppState, role: Role, req: Request, next: Next) -> Response {
    let creds = s.0.auth.read().clone();
    let Some(creds) = creds else {
        return next.run(req).await;
    };
    let header = req
        .headers()
        .get(header::AUTHORIZATION)
        .map(HeaderValue::as_bytes);
    match creds.check(header, role) {
        Ok(()) => next.run(req).await,
        Err(denied) => {
            let status = match denied {
                super::auth::Denied::Unauthenticated => StatusCode::UNAUTHORIZED,
                super::auth::Denied::Forbidden(_) => StatusCode::FORBIDDEN,
            };
            let mut r = (status, denied.message()).into_response();
            if status == StatusCode::UNAUTHORIZED {
                // one challenge per header: Chromium reads a single header holding
                // `Basic realm=..., Bearer` as a malformed Basic challenge and then
                // never asks for (or sends) credentials, so the web UI could not sign in
                let h = r.headers_mut();
                h.append(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(r#"Basic realm="tsdb-server", charset="UTF-8""#),
                );
                h.append(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(r#"Bearer realm="tsdb-server""#),
                );
            }
            r
        }
    }
}

async fn require_read(State(s): State<AppState>, req: Request, next: Next) -> Response {
    require(&s, Role::Read, req, next).await
}

async fn require_write(State(s): State<AppState>, req: Request, next: Next) -> Response {
    require(&s, Role::Write, req, next).await
}

async fn require_admin(State(s): State<AppState>, req: Request, next: Next) -> Response {
    require(&s, Role::Admin, req, next).await
}
