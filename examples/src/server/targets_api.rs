//! `/api/v1/targets` in Prometheus 2.42's shape: active targets (by job, jobs sorted) with
//! their health, and the targets relabeling dropped. `state=active|dropped|any` (any
//! other value: both lists empty, as Prometheus), `scrapePool=<job>` filters the active
//! targets (Prometheus 2.42 does not filter the dropped ones by pool).

use std::time::SystemTime;

use axum::extract::{Request, State};
use axum::response::Response;
use tsdb_index::Labels;
use tsdb_query::json::write_string;
use tsdb_scrape::config::format_duration;

use super::query_api::read_params;
use super::response;
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
