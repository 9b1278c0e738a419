//! The metadata endpoints Grafana's label browser and query editor call:
//! `/api/v1/series`, `/api/v1/labels`, `/api/v1/label/<name>/values`, and the admin
//! `/api/v1/admin/tsdb/delete_series` and `/api/v1/admin/tsdb/flush`. Parameters as Prometheus reads them: repeated
//! `match[]` (sets whose results are merged), optional `start` and `end` (Prometheus'
//! minimum and maximum times by default) and `limit` (0: none; results beyond it are cut
//! with the warning `results truncated due to limit`, as Prometheus 2.51+ does). The
//! lookups run on the query pool, as queries do.

use std::collections::BTreeSet;

use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use tsdb_core::{Db, ErrorClass};
use tsdb_index::{Labels, Matcher};
use tsdb_query::json::write_labels;

use super::params::Params;
use super::query_api::{read_params, time_range};
use super::response::{self, string_array, ApiError, ErrorType};
use super::state::AppState;
use crate::api::series_selector;

/// Prometheus' `match[]` parsing (`parseMatchersParam`): each a series selector, and each
/// set with at least one matcher that does not match the empty string.
fn matcher_sets(p: &Params) -> Result<Vec<Vec<Matcher>>, String> {
    let mut sets = Vec::new();
    for text in p.all("match[]") {
        sets.push(series_selector(text)?);
    }
    if sets
        .iter()
        .any(|set| set.iter().all(Matcher::matches_empty))
    {
        return Err("match[] must contain at least one non-empty matcher".into());
    }
    Ok(sets)
}

/// The `limit` parameter: 0 (none) when absent.
fn limit(p: &Params) -> Result<usize, ApiError> {
    let Some(text) = p.get("limit") else {
        return Ok(0);
    };
    let n: i64 = text.parse().map_err(|_| {
        ApiError::invalid_param(
            "limit",
            format!("strconv.Atoi: parsing {text:?}: invalid syntax"),
        )
    })?;
    usize::try_from(n).map_err(|_| ApiError::invalid_param("limit", "limit must be non-negative"))
}

fn storage_error(e: &tsdb_core::Error) -> ApiError {
    let kind = match e.class() {
        ErrorClass::Caller => ErrorType::BadData,
        ErrorClass::Unavailable => ErrorType::Unavailable,
        _ => ErrorType::Internal,
    };
    ApiError::new(kind, e.to_string())
}

fn truncate<T>(items: &mut Vec<T>, limit: usize) -> Vec<String> {
    if limit > 0 && items.len() > limit {
        items.truncate(limit);
        vec!["results truncated due to limit".to_owned()]
    } else {
        Vec::new()
    }
}

/// Runs a lookup on the query pool.
async fn lookup<F>(s: &AppState, f: F) -> Response
where
    F: FnOnce(&Db) -> Result<(String, Vec<String>), ApiError> + Send + 'static,
{
    let db = match s.db() {
        Ok(db) => db,
        Err(e) => return e.into_response(),
    };
    match s.0.pool.run(None, move |_| f(&db)).await {
        Ok(Ok((data, warnings))) => response::success(&data, &warnings),
        Ok(Err(e)) | Err(e) => e.into_response(),
    }
}

/// `/api/v1/series`.
pub async fn series(State(s): State<AppState>, req: Request) -> Response {
    let p = match read_params(req).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    if p.all("match[]").is_empty() {
        return ApiError::new(ErrorType::BadData, "no match[] parameter provided").into_response();
    }
    let prepared = (|| {
        let (start, end) = time_range(&p)?;
        let sets = matcher_sets(&p).map_err(|e| ApiError::invalid_param("match[]", e))?;
        Ok::<_, ApiError>((start, end, sets, limit(&p)?))
    })();
    let (start, end, sets, limit) = match prepared {
        Ok(x) => x,
        Err(e) => return e.into_response(),
    };
    lookup(&s, move |db| {
        let q = db.querier(start, end).map_err(|e| storage_error(&e))?;
        let mut found: BTreeSet<Labels> = BTreeSet::new();
        for set in &sets {
            for series in q.select(set).map_err(|e| storage_error(&e))? {
                // a series whose samples in the range were all deleted is not listed
                // (its first sample is decoded to know)
                if found.contains(series.labels()) {
                    continue;
                }
                match series.iter().next() {
                    Some(Ok(_)) => {
                        found.insert(series.labels().clone());
                    }
                    Some(Err(e)) => return Err(storage_error(&e)),
                    None => {}
                }
            }
        }
        let mut found: Vec<Labels> = found.into_iter().collect();
        let warnings = truncate(&mut found, limit);
        let mut out = String::from("[");
        for (i, l) in found.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            write_labels(&mut out, l);
        }
        out.push(']');
        Ok((out, warnings))
    })
    .await
}

/// `/api/v1/labels`.
pub async fn labels(State(s): State<AppState>, req: Request) -> Response {
    let p = match read_params(req).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let (start, end, sets, limit) = match lookup_params(&p) {
        Ok(x) => x,
        Err(e) => return e.into_response(),
    };
    lookup(&s, move |db| {
        let q = db.querier(start, end).map_err(|e| storage_error(&e))?;
        let mut names: BTreeSet<String> = BTreeSet::new();
        if sets.is_empty() {
            names.extend(q.label_names(&[]).map_err(|e| storage_error(&e))?);
        }
        for set in &sets {
            names.extend(q.label_names(set).map_err(|e| storage_error(&e))?);
        }
        let mut names: Vec<String> = names.into_iter().collect();
        let warnings = truncate(&mut names, limit);
        Ok((string_array(names.iter().map(String::as_str)), warnings))
    })
    .await
}

/// The time range, `match[]` sets and `limit` of the label lookups.
#[expect(
    clippy::type_complexity,
    reason = "a private tuple of the parsed parameters"
)]
fn lookup_params(p: &Params) -> Result<(i64, i64, Vec<Vec<Matcher>>, usize), ApiError> {
    let (start, end) = time_range(p)?;
    let sets = matcher_sets(p).map_err(|e| ApiError::new(ErrorType::BadData, e))?;
    Ok((start, end, sets, limit(p)?))
}

/// Prometheus' `model.LabelNameRE`: `^[a-zA-Z_][a-zA-Z0-9_]*$`.
pub fn is_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `/api/v1/label/<name>/values`.
pub async fn label_values(
    State(s): State<AppState>,
    Path(name): Path<String>,
    req: Request,
) -> Response {
    let p = match read_params(req).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    if !is_label_name(&name) {
        return ApiError::new(ErrorType::BadData, format!("invalid label name: {name:?}"))
            .into_response();
    }
    let (start, end, sets, limit) = match lookup_params(&p) {
        Ok(x) => x,
        Err(e) => return e.into_response(),
    };
    lookup(&s, move |db| {
        let q = db.querier(start, end).map_err(|e| storage_error(&e))?;
        let mut values: BTreeSet<String> = BTreeSet::new();
        if sets.is_empty() {
            values.extend(q.label_values(&name, &[]).map_err(|e| storage_error(&e))?);
        }
        for set in &sets {
            values.extend(q.label_values(&name, set).map_err(|e| storage_error(&e))?);
        }
        let mut values: Vec<String> = values.into_iter().collect();
        let warnings = truncate(&mut values, limit);
        Ok((string_array(values.iter().map(String::as_str)), warnings))
    })
    .await
}

/// `/api/v1/admin/tsdb/delete_series` (POST or PUT, admin credential): deletes the
/// samples of every series matching any `match[]` in `[start, end]`, durably; 204.
pub async fn delete_series(State(s): State<AppState>, req: Request) -> Response {
    let p = match read_params(req).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let db = match s.db() {
        Ok(db) => db,
        Err(e) => return e.into_response(),
    };
    if p.all("match[]").is_empty() {
        return ApiError::new(ErrorType::BadData, "no match[] parameter provided").into_response();
    }
    let (start, end) = match time_range(&p) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    let mut sets = Vec::new();
    for text in p.all("match[]") {
        match series_selector(text) {
            Ok(set) => sets.push(set),
            Err(e) => return ApiError::invalid_param("match[]", e).into_response(),
        }
    }
    let deleted = tokio::task::spawn_blocking(move || {
        for set in &sets {
            db.delete(set, start, end).map_err(|e| storage_error(&e))?;
        }
        Ok::<(), ApiError>(())
    })
    .await;
    match deleted {
        Ok(Ok(())) => StatusCode::NO_CONTENT.into_response(),
        Ok(Err(e)) => e.into_response(),
        Err(e) => ApiError::new(ErrorType::Internal, e.to_string()).into_response(),
    }
}

/// `/api/v1/admin/tsdb/flush` (POST or PUT, admin credential): persists everything in
/// the head to segments now, instead of when the head next spans 1.5 block ranges, then
/// runs the compactions and rollups that are due, and answers
/// `{"status":"success","data":{"segments":N,"compacted":R,"compactedInto":W,"rollups":U}}`:
/// segments written from the head, segments merged, the segments they became, and rollup
/// segments written (retention runs with the next maintenance pass). Afterwards samples older than the newest one persisted are late data (kept
/// within `--out-of-order-window`). Why it exists: a benchmark or a backup wants the
/// data directory in its persisted shape (segments, a checkpointed write-ahead log), as
/// VictoriaMetrics' `/internal/force_flush` gives it; routine operation never needs it.
pub async fn flush(State(s): State<AppState>) -> Response {
    let db = match s.db() {
        Ok(db) => db,
        Err(e) => return e.into_response(),
    };
    let work = move || -> tsdb_core::Result<(usize, tsdb_core::CompactStats, usize)> {
        let segments = db.persist_all()?;
        let compacted = db.compact()?;
        let rollups = db.downsample()?;
        Ok((segments, compacted, rollups.segments_written))
    };
    match tokio::task::spawn_blocking(work).await {
        Ok(Ok((segments, c, rollups))) => response::success(
            &format!(
                "{{\"segments\":{segments},\"compacted\":{},\"compactedInto\":{},\
                 \"rollups\":{rollups}}}",
                c.segments_replaced, c.segments_written
            ),
            &[],
        ),
        Ok(Err(e)) => storage_error(&e).into_response(),
        Err(e) => ApiError::new(ErrorType::Internal, e.to_string()).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{HeaderMap, Method};

    fn params(q: &str) -> Params {
        Params::new(&Method::GET, Some(q), &HeaderMap::new(), b"")
    }

    #[test]
    fn matchers_limits_and_names() {
        assert_eq!(
            matcher_sets(&params("match[]=up&match[]={job=\"x\"}"))
                .unwrap()
                .len(),
            2
        );
        // refused by the parser already, as Prometheus' parser refuses it
        let e = matcher_sets(&params("match[]={job=\"\"}")).unwrap_err();
        assert!(e.contains("at least one non-empty matcher"), "{e}");
        assert!(matcher_sets(&params("match[]=rate(x[5m])")).is_err());
        assert_eq!(limit(&params("limit=5")).unwrap(), 5);
        assert_eq!(limit(&params("")).unwrap(), 0);
        assert_eq!(
            limit(&params("limit=x")).unwrap_err().message,
            "invalid parameter \"limit\": strconv.Atoi: parsing \"x\": invalid syntax"
        );
        assert_eq!(
            limit(&params("limit=-1")).unwrap_err().message,
            "invalid parameter \"limit\": limit must be non-negative"
        );
        assert!(is_label_name("__name__") && is_label_name("job2"));
        assert!(!is_label_name("2x") && !is_label_name("a-b") && !is_label_name(""));
        let mut v = vec![1, 2, 3];
        assert_eq!(truncate(&mut v, 2).len(), 1);
        assert_eq!(v, [1, 2]);
        assert!(truncate(&mut v, 0).is_empty());
    }
}
