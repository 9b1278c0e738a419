//! `/api/v1/status/{buildinfo,runtimeinfo,flags,config,tsdb}` and `/api/v1/metadata`, in
//! Prometheus 2.42's shapes.
//!
//! `buildinfo` reports `version` `2.42.0`, the Prometheus API level this server answers
//! like (its answers are checked against a recorded Prometheus 2.42): Grafana reads the
//! version to decide which API calls it may make (the `match[]` parameter of
//! `/api/v1/labels` since 2.24, for example), as VictoriaMetrics does for the same reason.
//! This server's own version is in `revision`. No `features` field: Grafana then treats
//! the server as a Prometheus (not a Mimir with a ruler API).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::time::SystemTime;

use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use tsdb_ingest::MetadataEntry as Entry;
use tsdb_query::json::write_string;

use super::query_api::read_params;
use super::response::{self, ApiError, ErrorType};
use super::state::AppState;

/// The Prometheus version whose API this server answers like.
pub const PROMETHEUS_API_VERSION: &str = "2.42.0";

fn json_str(s: &str) -> String {
    let mut out = String::new();
    write_string(&mut out, s);
    out
}

/// Go's `time.Time` in JSON: RFC 3339 with nanoseconds as needed, UTC.
fn rfc3339(t: SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(t).to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

/// `/api/v1/status/buildinfo`.
pub async fn buildinfo() -> Response {
    let data = format!(
        r#"{{"version":{},"revision":{},"branch":"","buildUser":"","buildDate":"","goVersion":""}}"#,
        json_str(PROMETHEUS_API_VERSION),
        json_str(&format!("tsdb-server {}", env!("CARGO_PKG_VERSION"))),
    );
    response::success(&data, &[])
}

/// `/api/v1/status/runtimeinfo`.
pub async fn runtimeinfo(State(s): State<AppState>) -> Response {
    let (ok, last) = *s.0.last_reload.read();
    let cwd = std::env::current_dir().map_or(String::new(), |d| d.display().to_string());
    let threads = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|st| {
            st.lines()
                .find_map(|l| l.strip_prefix("Threads:").map(|v| v.trim().to_owned()))
        })
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let data = format!(
        r#"{{"startTime":{},"CWD":{},"reloadConfigSuccess":{ok},"lastConfigTime":{},"corruptionCount":0,"goroutineCount":{threads},"GOMAXPROCS":{cores},"GOGC":"","GODEBUG":"","storageRetention":"unlimited"}}"#,
        json_str(&rfc3339(s.0.started)),
        json_str(&cwd),
        json_str(&rfc3339(last)),
    );
    response::success(&data, &[])
}

/// `/api/v1/status/flags`: every flag and its value, keys sorted (a Go map).
pub async fn flags(State(s): State<AppState>) -> Response {
    let map: BTreeMap<&str, String> = s.0.flags.to_map().into_iter().collect();
    let mut out = String::from("{");
    for (i, (k, v)) in map.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_string(&mut out, k);
        out.push(':');
        write_string(&mut out, v);
    }
    out.push('}');
    response::success(&out, &[])
}

/// `/api/v1/status/config`: the configuration in force as YAML.
pub async fn config(State(s): State<AppState>) -> Response {
    let yaml = s.0.config.read().to_yaml();
    response::success(&format!(r#"{{"yaml":{}}}"#, json_str(&yaml)), &[])
}

fn stat_list(out: &mut String, items: impl Iterator<Item = (String, u64)>) {
    out.push('[');
    for (i, (name, value)) in items.enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(r#"{"name":"#);
        write_string(out, &name);
        let _ = write!(out, r#","value":{value}}}"#);
    }
    out.push(']');
}

/// `/api/v1/status/tsdb`: the head's statistics and cardinality tables (top `limit`,
/// default 10). `memoryInBytesByLabelName` is empty: the index does not track it.
pub async fn tsdb(State(s): State<AppState>, req: Request) -> Response {
    let p = match read_params(req).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let limit = match p.get("limit").map(str::parse::<usize>) {
        None => 10,
        Some(Ok(n)) if n > 0 => n,
        Some(_) => {
            return ApiError::invalid_param("limit", "limit must be a positive number")
                .into_response()
        }
    };
    let db = match s.db() {
        Ok(db) => db,
        Err(e) => return e.into_response(),
    };
    let computed = tokio::task::spawn_blocking(move || {
        let stats = db.stats()?;
        let head = db
            .cardinality(limit)?
            .into_iter()
            .next()
            .unwrap_or_default();
        Ok::<_, tsdb_core::Error>((stats, head))
    })
    .await;
    let (stats, head) = match computed {
        Ok(Ok(x)) => x,
        Ok(Err(e)) => return ApiError::new(ErrorType::Internal, e.to_string()).into_response(),
        Err(e) => return ApiError::new(ErrorType::Internal, e.to_string()).into_response(),
    };
    let (min_t, max_t) = stats.head_range.unwrap_or((i64::MAX, i64::MIN));
    let mut out = format!(
        r#"{{"headStats":{{"numSeries":{},"numLabelPairs":{},"chunkCount":{},"minTime":{min_t},"maxTime":{max_t}}},"seriesCountByMetricName":"#,
        stats.head_series, head.num_label_pairs, stats.head_chunks,
    );
    stat_list(&mut out, head.series_count_by_metric_name.into_iter());
    out.push_str(r#","labelValueCountByLabelName":"#);
    stat_list(&mut out, head.label_value_count_by_label_name.into_iter());
    out.push_str(r#","memoryInBytesByLabelName":[],"seriesCountByLabelValuePair":"#);
    stat_list(
        &mut out,
        head.series_count_by_label_pair
            .into_iter()
            .map(|(n, v, c)| (format!("{n}={v}"), c)),
    );
    out.push('}');
    response::success(&out, &[])
}

/// `/api/v1/status/storage` (ours; `/api/v1/status/tsdb` keeps Prometheus's exact shape):
/// segments summed by resolution and tier, the write-ahead log, and how far segments
/// reach: `{"segments":[{"resolution":"raw","tier":"hot","count":3,"samples":…,
/// "bytes":…,"minTime":…,"maxTime":…}],"walBytes":…,"walFiles":…,"persistedUntil":…}`.
pub async fn storage(State(s): State<AppState>) -> Response {
    let db = match s.db() {
        Ok(db) => db,
        Err(e) => return e.into_response(),
    };
    match tokio::task::spawn_blocking(move || db.stats()).await {
        Ok(Ok(stats)) => {
            let mut out = String::new();
            storage_section(&mut out, &stats);
            response::success(&out, &[])
        }
        Ok(Err(e)) => ApiError::new(ErrorType::Internal, e.to_string()).into_response(),
        Err(e) => ApiError::new(ErrorType::Internal, e.to_string()).into_response(),
    }
}

fn storage_section(out: &mut String, stats: &tsdb_core::DbStats) {
    use std::collections::BTreeMap;
    use std::fmt::Write as _;
    /// The segments of one resolution and tier.
    struct Group {
        count: u64,
        samples: u64,
        bytes: u64,
        min_t: i64,
        max_t: i64,
    }
    let mut groups: BTreeMap<(u64, bool), Group> = BTreeMap::new();
    for (i, (_, meta, bytes)) in stats.segments.iter().enumerate() {
        let cold = matches!(
            stats.segment_tiers.get(i),
            Some(tsdb_core::StorageTier::Cold)
        );
        let g = groups.entry((meta.resolution_ms, cold)).or_insert(Group {
            count: 0,
            samples: 0,
            bytes: 0,
            min_t: i64::MAX,
            max_t: i64::MIN,
        });
        g.count += 1;
        g.samples += meta.samples;
        g.bytes += bytes;
        g.min_t = g.min_t.min(meta.min_t);
        g.max_t = g.max_t.max(meta.max_t);
    }
    out.push_str(r#"{"segments":["#);
    for (i, ((resolution_ms, cold), g)) in groups.into_iter().enumerate() {
        let Group {
            count,
            samples,
            bytes,
            min_t,
            max_t,
        } = g;
        if i > 0 {
            out.push(',');
        }
        let resolution = match resolution_ms {
            0 => "raw".to_owned(),
            ms if ms % 3_600_000 == 0 => format!("{}h", ms / 3_600_000),
            ms if ms % 60_000 == 0 => format!("{}m", ms / 60_000),
            ms => format!("{ms}ms"),
        };
        let tier = if cold { "cold" } else { "hot" };
        let _ = write!(
            out,
            r#"{{"resolution":"{resolution}","tier":"{tier}","count":{count},"samples":{samples},"bytes":{bytes},"minTime":{min_t},"maxTime":{max_t}}}"#
        );
    }
    let _ = write!(
        out,
        r#"],"walBytes":{},"walFiles":{},"persistedUntil":{}}}"#,
        stats.wal_bytes, stats.wal_files, stats.persisted_until
    );
}

/// `/api/v1/metadata`: `metric`, `limit` (metrics), `limit_per_metric`.
pub async fn metadata(State(s): State<AppState>, req: Request) -> Response {
    let p = match read_params(req).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let number = |name: &str, message: &'static str| match p.get(name) {
        None => Ok(None),
        Some(v) => v
            .parse::<i64>()
            .map(|n| usize::try_from(n).ok())
            .map_err(|_| ApiError::new(ErrorType::BadData, message)),
    };
    let limit = match number("limit", "limit must be a number") {
        Ok(l) => l,
        Err(e) => return e.into_response(),
    };
    let per_metric = match number("limit_per_metric", "limit_per_metric must be a number") {
        Ok(l) => l,
        Err(e) => return e.into_response(),
    };
    // Prometheus: a negative `limit` is no limit and 0 answers nothing; a
    // `limit_per_metric` of 0 or less is no limit
    let list = if limit == Some(0) {
        Vec::new()
    } else {
        let metric = p.get("metric");
        // pushed metadata (remote write, OTLP, self-monitoring), then what active
        // targets declared, distinct entries per metric
        let mut merged: BTreeMap<String, Vec<Entry>> = match s.0.ingester.get() {
            Some(ingester) => ingester
                .metadata()
                .query(metric, 0, 0)
                .into_iter()
                .collect(),
            None => BTreeMap::new(),
        };
        if let Some(scrape) = s.0.scrape.get() {
            for t in scrape.targets().await.active.values().flatten() {
                for (name, m) in t.health.metadata.iter() {
                    if metric.is_some_and(|want| want != name) {
                        continue;
                    }
                    let entry = Entry {
                        metric_type: m.metric_type.into(),
                        help: m.help.clone(),
                        unit: m.unit.clone(),
                    };
                    let entries = merged.entry(name.clone()).or_default();
                    if !entries.contains(&entry) {
                        entries.push(entry);
                    }
                }
            }
        }
        let mut list: Vec<(String, Vec<Entry>)> = merged.into_iter().collect();
        if let Some(l) = limit {
            list.truncate(l);
        }
        if let Some(per) = per_metric.filter(|&n| n > 0) {
            for (_, entries) in &mut list {
                entries.truncate(per);
            }
        }
        list
    };
    let mut out = String::from("{");
    for (i, (name, entries)) in list.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_string(&mut out, name);
        out.push_str(":[");
        for (j, m) in entries.iter().enumerate() {
            if j > 0 {
                out.push(',');
            }
            out.push('{');
            metadata_fields(&mut out, m.metric_type.as_str(), &m.help, &m.unit);
            out.push('}');
        }
        out.push(']');
    }
    out.push('}');
    response::success(&out, &[])
}

/// `"type":…,"help":…,"unit":…`, the fields Prometheus' metadata endpoints share.
pub fn metadata_fields(out: &mut String, metric_type: &str, help: &str, unit: &str) {
    out.push_str(r#""type":"#);
    write_string(out, metric_type);
    out.push_str(r#","help":"#);
    write_string(out, help);
    out.push_str(r#","unit":"#);
    write_string(out, unit);
}
