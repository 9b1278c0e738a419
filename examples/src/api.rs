//! The Prometheus HTTP API's query endpoints over a [`Db`], without the HTTP: parameters
//! in as the API receives them (text), response body out, byte for byte what
//! `/api/v1/query` and `/api/v1/query_range` return. `tsdb query` prints these bodies;
//! `tsdb-server` sends them, checking parameters first ([`instant`], [`range`]) and then
//! evaluating on its query pool with a cancel token ([`run_instant`], [`run_range`]).

use std::time::Duration;

use tsdb_core::Db;
use tsdb_index::Matcher;
use tsdb_query::ast::Expr;
use tsdb_query::{json, CancelToken, Engine, EngineOptions, Error, ResultsCache};

use crate::timearg::{parse_duration_ns, parse_time};

/// Prometheus refuses a range query when `(end − start) / step` exceeds this, before
/// evaluating (so 11,001 points are allowed); the engine's `max_steps` is the same limit.
const MAX_POINTS_PER_SERIES: i64 = 11_000;

/// The engine the API runs: Prometheus' server defaults.
pub fn engine() -> Engine {
    Engine::new(engine_options())
}

/// The options of [`engine`]: Prometheus' server defaults, its 11,000 steps limit.
pub fn engine_options() -> EngineOptions {
    EngineOptions {
        max_steps: MAX_POINTS_PER_SERIES as usize,
        ..EngineOptions::default()
    }
}

/// A response body: `Ok` holds `{"status":"success",...}`, `Err` holds
/// `{"status":"error","errorType":...,"error":...}`.
pub type Body = Result<String, String>;

/// `GET /api/v1/query?query=...&time=...`: `time` is `None` for "now" (`now_ms`).
pub fn query(engine: &Engine, db: &Db, query: &str, time: Option<&str>, now_ms: i64) -> Body {
    let q = instant(query, time, None, now_ms)?;
    run_instant(engine, db, &q, None)
}

/// `GET /api/v1/query_range?query=...&start=...&end=...&step=...`, with Prometheus'
/// parameter checks in Prometheus' order.
pub fn query_range(
    engine: &Engine,
    db: &Db,
    query: &str,
    start: &str,
    end: &str,
    step: &str,
) -> Body {
    let q = range(query, start, end, step, None)?;
    run_range(engine, db, &q, None, None)
}

/// An instant query whose parameters were checked: what [`run_instant`] evaluates.
#[derive(Debug, Clone)]
pub struct InstantQuery {
    /// The parsed expression.
    pub expr: Expr,
    /// Evaluation time, milliseconds.
    pub time_ms: i64,
    /// The request's `timeout` parameter, if it had one.
    pub timeout: Option<Duration>,
}

/// A range query whose parameters were checked: what [`run_range`] evaluates.
#[derive(Debug, Clone)]
pub struct RangeQuery {
    /// The parsed expression.
    pub expr: Expr,
    /// First step, milliseconds.
    pub start_ms: i64,
    /// Last step at or before this, milliseconds.
    pub end_ms: i64,
    /// Resolution, milliseconds.
    pub step_ms: i64,
    /// The request's `timeout` parameter, if it had one.
    pub timeout: Option<Duration>,
}

/// Checks an instant query's parameters in Prometheus' order (`time`, `timeout`, then the
/// query text), so that a request with several bad parameters gets Prometheus' message.
pub fn instant(
    query: &str,
    time: Option<&str>,
    timeout: Option<&str>,
    now_ms: i64,
) -> Result<InstantQuery, String> {
    let time_ms = match time {
        None => now_ms,
        Some(s) => parse_time(s).map_err(|e| {
            bad_data(&format!(
                "invalid parameter \"time\": Invalid time value for 'time': {e}"
            ))
        })?,
    };
    let timeout = timeout_param(timeout)?;
    let expr = tsdb_query::parse(query).map_err(|e| query_error(&e, true))?;
    Ok(InstantQuery {
        expr,
        time_ms,
        timeout,
    })
}

/// `/api/v1/format_query?query=...`: the query as Prometheus' prettifier prints it, a
/// JSON string, or the same `bad_data` error an instant query's text gets.
pub fn format_query(query: &str) -> Body {
    let pretty = tsdb_query::prettify(query).map_err(|e| query_error(&e, true))?;
    let mut out = String::from(r#"{"status":"success","data":"#);
    json::write_string(&mut out, &pretty);
    out.push('}');
    Ok(out)
}

/// The query text of `/api/v1/query_exemplars`, parsed: Prometheus 2.42 reports text that
/// does not parse without naming the parameter.
pub fn exemplar_query(query: &str) -> Result<Expr, String> {
    tsdb_query::parse(query).map_err(|e| query_error(&e, false))
}

/// Checks a range query's parameters in Prometheus' order: `start`, `end`, their order,
/// `step`, the 11,000 points limit, `timeout`, then the query text. Prometheus 2.42 reports
/// a range query that does not parse without naming the parameter (unlike an instant
/// query), and so does this.
pub fn range(
    query: &str,
    start: &str,
    end: &str,
    step: &str,
    timeout: Option<&str>,
) -> Result<RangeQuery, String> {
    let param = |name: &str, e: String| bad_data(&format!("invalid parameter \"{name}\": {e}"));
    let start = parse_time(start).map_err(|e| param("start", e))?;
    let end = parse_time(end).map_err(|e| param("end", e))?;
    if end < start {
        return Err(param(
            "end",
            "end timestamp must not be before start time".into(),
        ));
    }
    let step_ns = parse_duration_ns(step).map_err(|e| param("step", e))?;
    if step_ns <= 0 {
        return Err(param(
            "step",
            "zero or negative query resolution step widths are not accepted. Try a positive \
             integer"
                .into(),
        ));
    }
    let span_ns = i128::from(end - start) * 1_000_000;
    if span_ns / i128::from(step_ns) > i128::from(MAX_POINTS_PER_SERIES) {
        return Err(bad_data(
            "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the \
             query resolution (?step=XX)",
        ));
    }
    let timeout = timeout_param(timeout)?;
    let expr = tsdb_query::parse(query).map_err(|e| query_error(&e, false))?;
    Ok(RangeQuery {
        expr,
        start_ms: start,
        end_ms: end,
        step_ms: step_ns / 1_000_000,
        timeout,
    })
}

/// The `timeout` parameter: a duration as `step` is read; zero or negative means none.
fn timeout_param(timeout: Option<&str>) -> Result<Option<Duration>, String> {
    let Some(text) = timeout else {
        return Ok(None);
    };
    let ns = parse_duration_ns(text)
        .map_err(|e| bad_data(&format!("invalid parameter \"timeout\": {e}")))?;
    Ok(u64::try_from(ns)
        .ok()
        .filter(|&ns| ns > 0)
        .map(Duration::from_nanos))
}

/// Evaluates a checked instant query; `cancel` stops it from another thread.
pub fn run_instant(
    engine: &Engine,
    db: &Db,
    q: &InstantQuery,
    cancel: Option<&CancelToken>,
) -> Body {
    engine
        .instant_annotated(db, &q.expr, q.time_ms, cancel)
        .map(|(v, notes)| json::success_with_infos(&v, &notes.infos()))
        .map_err(|e| query_error(&e, true))
}

/// Evaluates a checked range query, through `cache` when one is given; `cancel` stops it
/// from another thread.
pub fn run_range(
    engine: &Engine,
    db: &Db,
    q: &RangeQuery,
    cache: Option<&ResultsCache>,
    cancel: Option<&CancelToken>,
) -> Body {
    let range = (q.start_ms, q.end_ms, q.step_ms);
    let result = match cache {
        Some(cache) => cache.range_annotated(engine, db, &q.expr, range, cancel),
        None => engine.range_annotated(db, &q.expr, range, cancel),
    };
    result
        .map(|(v, notes)| json::success_with_infos(&v, &notes.infos()))
        .map_err(|e| query_error(&e, false))
}

/// The `errorType` of an error body written by this module (`bad_data`, `execution`,
/// `timeout`, `canceled`, `internal`), from which a server takes the HTTP status.
pub fn error_type(body: &str) -> Option<&str> {
    let rest = body.strip_prefix(r#"{"status":"error","errorType":""#)?;
    rest.split('"').next()
}

/// The error body of a failed query. Prometheus' API reports a query that does not parse
/// as a bad `query` parameter, `invalid parameter "query": 1:8: parse error: ...`, for an
/// instant query (`named`), and without the parameter's name for a range query; a query
/// refused for its nesting before it is parsed is reported the same way. Every other
/// error is the engine's, as [`json::error`] writes it.
fn query_error(e: &Error, named: bool) -> String {
    let prefix = if named {
        "invalid parameter \"query\": "
    } else {
        ""
    };
    match e {
        Error::Parse { message, position } => {
            let at = position.map_or(String::new(), |(line, col)| format!("{line}:{col}: "));
            bad_data(&format!("{prefix}{at}parse error: {message}"))
        }
        Error::TooDeep { .. } => bad_data(&format!("{prefix}{e}")),
        other => json::error(other),
    }
}

/// `{"status":"error","errorType":"bad_data","error":message}`: a request's parameters
/// are at fault (HTTP 400).
pub fn bad_data_body(message: &str) -> String {
    bad_data(message)
}

/// `{"status":"error","errorType":"bad_data","error":message}`, the message escaped exactly
/// as [`json::error`] escapes an engine error's (Go's `encoding/json`).
fn bad_data(message: &str) -> String {
    let body = json::error(&Error::Execution(message.to_owned()));
    body.replacen(r#""errorType":"execution""#, r#""errorType":"bad_data""#, 1)
}

/// The matchers of a series selector such as `cpu{host=~"a.*"}` (the API's `match[]`):
/// PromQL that is a plain instant vector selector, without `offset` or `@`.
pub fn series_selector(text: &str) -> Result<Vec<Matcher>, String> {
    match tsdb_query::parse(text).map_err(|e| e.to_string())? {
        Expr::Selector(s) if s.offset_ms == 0 && s.at.is_none() => Ok(s.matchers),
        Expr::Selector(_) => Err(format!(
            "{text:?} is not a plain series selector: offset and @ are not allowed here"
        )),
        other => Err(format!(
            "{text:?} is not a series selector such as cpu{{host=~\"a.*\"}} (its type is {})",
            other.value_type()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tsdb_index::MatchOp;

    #[test]
    fn selector_takes_names_and_all_operators() {
        let m = series_selector(r#"cpu{host="a", env!="dev",dc=~"eu.*" , x!~"\"q\""}"#).unwrap();
        assert_eq!(m.len(), 5);
        assert_eq!((m[0].name(), m[0].value()), ("__name__", "cpu"));
        assert_eq!(m[1].op(), MatchOp::Equal);
        assert_eq!(m[2].op(), MatchOp::NotEqual);
        assert_eq!(m[3].op(), MatchOp::RegexMatch);
        assert_eq!(m[4].op(), MatchOp::RegexNoMatch);
        assert_eq!(m[4].value(), "\"q\"");
        let m = series_selector(r#"{__name__=~"cpu_.*"}"#).unwrap();
        assert_eq!(m[0].op(), MatchOp::RegexMatch);
    }

    #[test]
    fn selector_refuses_other_expressions_and_bad_syntax() {
        for bad in [
            r#"{host=""}"#,
            r#"{host="a""#,
            r#"{host~"a"}"#,
            "",
            "1cpu",
            "cpu[5m]",
            "rate(cpu[5m])",
            "cpu offset 5m",
            "cpu @ 100",
            "sum(cpu)",
            "1",
        ] {
            assert!(series_selector(bad).is_err(), "{bad:?} was accepted");
        }
        let e = series_selector("rate(cpu[5m])").unwrap_err();
        assert!(e.contains("not a series selector"), "{e}");
    }

    #[test]
    fn a_query_nested_too_deeply_is_a_bad_query_parameter() {
        let body = query_error(&Error::TooDeep { limit: 256 }, true);
        assert!(
            body.starts_with(
                r#"{"status":"error","errorType":"bad_data","error":"invalid parameter \"query\": query is nested too deeply: more than 256 levels"#
            ),
            "{body}"
        );
    }

    #[test]
    fn bad_data_escapes_like_the_engine() {
        assert_eq!(
            bad_data(r#"cannot parse "<a>\" to a valid timestamp"#),
            r#"{"status":"error","errorType":"bad_data","error":"cannot parse \"\u003ca\u003e\\\" to a valid timestamp"}"#
        );
    }
}
