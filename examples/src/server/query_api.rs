//! `/api/v1/query`, `/api/v1/query_range`, `/api/v1/format_query` and
//! `/api/v1/query_exemplars`, GET and POST alike. Parameters are checked on the async
//! thread (in Prometheus' order, with its messages: [`crate::api`]); evaluation runs on
//! the bounded [`super::pool`].

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use tsdb_query::ast::Expr;

use super::params::Params;
use super::response::{self, ApiError, ErrorType};
use super::state::AppState;
use crate::api;
use crate::timearg::parse_time;

/// The request's parameters (query string and form body), or the response refusing it.
pub async fn read_params(req: Request) -> Result<Params, Response> {
    let (parts, body) = req.into_parts();
    let bytes = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(b) => b,
        Err(e) => {
            // the body limit layer's error: 413, as for any body too large
            let too_large = is_length_limit(&e);
            if too_large {
                return Err((
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "request body too large (--max-request-body-size)\n",
                )
                    .into_response());
            }
            return Err(ApiError::new(
                ErrorType::BadData,
                format!("error reading the request body: {e}"),
            )
            .into_response());
        }
    };
    Ok(Params::new(
        &parts.method,
        parts.uri.query(),
        &parts.headers,
        &bytes,
    ))
}

/// Whether reading a body failed on the body limit: the limit's error anywhere in the
/// chain (under the decompression layer's own error when the body was compressed).
pub fn is_length_limit(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if err.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        cur = err.source();
    }
    false
}

/// Milliseconds since the epoch now.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .ok()
        .and_then(|d| i64::try_from(d.as_millis()).ok())
        .unwrap_or(0)
}

fn outcome(body: &Result<String, String>) -> &str {
    match body {
        Ok(_) => "success",
        Err(b) => api::error_type(b).unwrap_or("internal"),
    }
}

/// `/api/v1/query`.
pub async fn query(State(s): State<AppState>, req: Request) -> Response {
    let p = match read_params(req).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let db = match s.db() {
        Ok(db) => db,
        Err(e) => return e.into_response(),
    };
    let q = match api::instant(p.value("query"), p.get("time"), p.get("timeout"), now_ms()) {
        Ok(q) => q,
        Err(body) => return response::from_body(Err(body)),
    };
    let engine = s.engine();
    let started = Instant::now();
    let timeout = q.timeout;
    let body =
        s.0.pool
            .run(timeout, move |cancel| {
                api::run_instant(&engine, &db, &q, Some(cancel))
            })
            .await
            .unwrap_or_else(|e| Err(e.body()));
    s.0.metrics
        .query("instant", outcome(&body), started.elapsed());
    response::from_body(body)
}

/// `/api/v1/query_range`.
pub async fn query_range(State(s): State<AppState>, req: Request) -> Response {
    let p = match read_params(req).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let db = match s.db() {
        Ok(db) => db,
        Err(e) => return e.into_response(),
    };
    let q = match api::range(
        p.value("query"),
        p.value("start"),
        p.value("end"),
        p.value("step"),
        p.get("timeout"),
    ) {
        Ok(q) => q,
        Err(body) => return response::from_body(Err(body)),
    };
    let engine = s.engine();
    let cache = s.0.results_cache.clone();
    let started = Instant::now();
    let timeout = q.timeout;
    let body =
        s.0.pool
            .run(timeout, move |cancel| {
                api::run_range(&engine, &db, &q, Some(&cache), Some(cancel))
            })
            .await
            .unwrap_or_else(|e| Err(e.body()));
    s.0.metrics
        .query("range", outcome(&body), started.elapsed());
    response::from_body(body)
}

/// `/api/v1/format_query`: needs no database.
pub async fn format_query(req: Request) -> Response {
    match read_params(req).await {
        Ok(p) => response::from_body(api::format_query(p.value("query"))),
        Err(r) => r,
    }
}

/// `/api/v1/query_exemplars`: this server stores no exemplars yet, so a valid request
/// gets an empty list (and, as in Prometheus, 204 for a query without a selector).
pub async fn query_exemplars(State(s): State<AppState>, req: Request) -> Response {
    let p = match read_params(req).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    if let Err(e) = s.db() {
        return e.into_response();
    }
    let (start, end) = match time_range(&p) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    if end < start {
        return ApiError::new(
            ErrorType::BadData,
            "end timestamp must not be before start timestamp",
        )
        .into_response();
    }
    let expr = match api::exemplar_query(p.value("query")) {
        Ok(e) => e,
        Err(body) => return response::from_body(Err(body)),
    };
    if !has_selector(&expr) {
        return StatusCode::NO_CONTENT.into_response();
    }
    response::success("[]", &[])
}

/// The optional `start` and `end` parameters of the metadata endpoints, defaulting to
/// Prometheus' minimum and maximum times, with its messages.
pub fn time_range(p: &Params) -> Result<(i64, i64), ApiError> {
    let one = |name: &str, default: i64| match p.get(name) {
        None => Ok(default),
        Some(v) => parse_time(v).map_err(|e| {
            ApiError::invalid_param(name, format!("Invalid time value for '{name}': {e}"))
        }),
    };
    Ok((one("start", i64::MIN)?, one("end", i64::MAX)?))
}

/// Whether `expr` reads any series (Prometheus' `ExtractSelectors` is not empty),
/// without recursing.
fn has_selector(expr: &Expr) -> bool {
    let mut stack = vec![expr];
    while let Some(e) = stack.pop() {
        match e {
            Expr::Selector(_) | Expr::Range(_) => return true,
            Expr::Number(_) | Expr::String(_) => {}
            Expr::Subquery(sq) => stack.push(&sq.expr),
            Expr::Call(c) => stack.extend(c.args.iter()),
            Expr::Aggregate(a) => {
                stack.push(&a.expr);
                stack.extend(a.param.iter());
            }
            Expr::Binary(b) => {
                stack.push(&b.lhs);
                stack.push(&b.rhs);
            }
            Expr::Neg(inner) => stack.push(inner),
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_are_found_anywhere() {
        for (q, want) in [
            ("1 + 1", false),
            ("vector(1)", false),
            ("up", true),
            ("sum(rate(x[5m]))", true),
            ("-(1 + max_over_time(y[1h:1m]))", true),
            ("topk(scalar(z), vector(1))", true),
        ] {
            assert_eq!(has_selector(&tsdb_query::parse(q).unwrap()), want, "{q}");
        }
    }
}
