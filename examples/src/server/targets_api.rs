//! `/api/v1/targets` in Prometheus 2.42's shape: active targets (by job, jobs sorted) with
//! their health, and the targets relabeling dropped. `state=active|dropped|any` (any
//! other value: both lists empty, as Prometheus), `scrapePool=<job>` filters the active
//! targets (Prometheus 2.42 does not filter the dropped ones by pool).
//!
//! `/api/v1/targets/metadata`: the metadata (type, help, unit) each active target declared
//! in its recent scrapes, filtered by `match_target` (a selector on the target labels),
//! `metric` and `limit` as Prometheus 2.42's `targetMetadata` does.

use std::time::SystemTime;

use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use tsdb_index::Labels;
use tsdb_query::json::write_string;
use tsdb_scrape::config::format_duration;

use super::query_api::read_params;
use super::response::{self, ApiError};
use super::state::AppState;

/// `/api/v1/targets`.
pub async fn targets(State(s): State<AppState>, req: Request) -> Response {
    let p = match read_params(req).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let state = p.value("state").to_ascii_lowercase();
    let pool = p.value("scrapePool").to_owned();
    let show_active = matches!(state.as_str(), "" | "any" | "active");
    let show_dropped = matches!(state.as_str(), "" | "any" | "dropped");
    let view = match s.0.scrape.get() {
        Some(scrape) => scrape.targets().await,
        None => Default::default(),
    };
    let mut out = String::from(r#"{"activeTargets":["#);
    if show_active {
        let mut first = true;
        for (job, targets) in &view.active {
            if !pool.is_empty() && &pool != job {
                continue;
            }
            for t in targets {
                if !first {
                    out.push(',');
                }
                first = false;
                out.push_str(r#"{"discoveredLabels":"#);
                labels_json(&mut out, t.target.discovered_labels());
                out.push_str(r#","labels":"#);
                labels_json(&mut out, &t.target.labels());
                out.push_str(r#","scrapePool":"#);
                write_string(&mut out, job);
                out.push_str(r#","scrapeUrl":"#);
                write_string(&mut out, t.target.url());
                // Prometheus rewrites a loopback host to its own external host name;
                // this server has no external URL, so the scrape URL stands.
                out.push_str(r#","globalUrl":"#);
                write_string(&mut out, t.target.url());
                out.push_str(r#","lastError":"#);
                write_string(&mut out, t.health.last_error.as_deref().unwrap_or(""));
                out.push_str(r#","lastScrape":"#);
                write_string(&mut out, &last_scrape(t.health.last_scrape));
                out.push_str(r#","lastScrapeDuration":"#);
                out.push_str(&t.health.last_scrape_duration.as_secs_f64().to_string());
                out.push_str(r#","health":"#);
                write_string(&mut out, t.health.health.as_str());
                out.push_str(r#","scrapeInterval":"#);
                write_string(&mut out, &format_duration(t.target.scrape_interval()));
                out.push_str(r#","scrapeTimeout":"#);
                write_string(&mut out, &format_duration(t.target.scrape_timeout()));
                out.push('}');
            }
        }
    }
    out.push_str(r#"],"droppedTargets":["#);
    if show_dropped {
        let mut first = true;
        for d in view.dropped.values().flatten() {
            if !first {
                out.push(',');
            }
            first = false;
            out.push_str(r#"{"discoveredLabels":"#);
            labels_json(&mut out, &d.discovered_labels);
            out.push('}');
        }
    }
    out.push_str("]}");
    response::success(&out, &[])
}

/// `/api/v1/targets/metadata`.
pub async fn targets_metadata(State(s): State<AppState>, req: Request) -> Response {
    let p = match read_params(req).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    // Prometheus: no limit is -1; a negative one is no limit too
    let limit = match p.get("limit") {
        None => None,
        Some(text) => match text.parse::<i64>() {
            Ok(n) => usize::try_from(n).ok(),
            Err(_) => {
                return ApiError::new(response::ErrorType::BadData, "limit must be a number")
                    .into_response()
            }
        },
    };
    let matchers = match p.get("match_target").filter(|t| !t.is_empty()) {
        None => Vec::new(),
        Some(text) => match crate::api::series_selector(text) {
            Ok(m) => m,
            Err(e) => return ApiError::invalid_param("match_target", e).into_response(),
        },
    };
    let metric = p.value("metric");
    let view = match s.0.scrape.get() {
        Some(scrape) => scrape.targets().await,
        None => Default::default(),
    };
    let mut out = String::from("[");
    let mut entries = 0usize;
    'targets: for t in view.active.values().flatten() {
        if limit.is_some_and(|l| entries >= l) {
            break 'targets;
        }
        let labels = t.target.labels();
        if !matchers
            .iter()
            .all(|m| m.matches(labels.get(m.name()).unwrap_or("")))
        {
            continue;
        }
        let metadata = &t.health.metadata;
        let chosen: Vec<(&String, &tsdb_scrape::FamilyMetadata)> = if metric.is_empty() {
            metadata.iter().collect()
        } else {
            metadata.get_key_value(metric).into_iter().collect()
        };
        for (name, m) in chosen {
            if entries > 0 {
                out.push(',');
            }
            entries += 1;
            out.push_str(r#"{"target":"#);
            labels_json(&mut out, &labels);
            if metric.is_empty() {
                out.push_str(r#","metric":"#);
                write_string(&mut out, name);
            }
            out.push(',');
            super::status_api::metadata_fields(&mut out, m.metric_type.as_str(), &m.help, &m.unit);
            out.push('}');
        }
    }
    out.push(']');
    response::success(&out, &[])
}

/// A label set as a JSON object.
fn labels_json(out: &mut String, labels: &Labels) {
    out.push('{');
    for (i, (n, v)) in labels.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_string(out, n);
        out.push(':');
        write_string(out, v);
    }
    out.push('}');
}

/// Go's `time.Time` in JSON (RFC 3339, nanoseconds as needed); never scraped: Go's zero
/// time, as Prometheus shows it.
fn last_scrape(t: Option<SystemTime>) -> String {
    match t {
        Some(t) => chrono::DateTime::<chrono::Utc>::from(t)
            .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
        None => "0001-01-01T00:00:00Z".to_owned(),
    }
}
