//! The push endpoints and remote read. Each handler reads the body (already decompressed
//! by the router's layer for gzip and zstd; remote write's snappy and remote read's pass
//! through), hands it with the headers that matter to `tsdb-ingest` on a blocking thread
//! (the append waits for the WAL fsync), and sends back the library's answer as it is:
//! status, content type, headers, body, each protocol's peer's shape.
//!
//! | endpoint | protocol | peer |
//! |---|---|---|
//! | `POST /write` | Influx line protocol v1 (`precision`, `db`) | InfluxDB 1.x |
//! | `POST /api/v2/write` | Influx line protocol v2 (`precision`, `bucket`, `org`) | InfluxDB 2.x |
//! | `POST /api/v1/write` | Prometheus remote write 1.0 and 2.0 | Prometheus' receiver |
//! | `POST /api/v1/otlp/v1/metrics` | OTLP/HTTP metrics, protobuf or JSON | Prometheus' OTLP receiver |
//! | `POST /opentelemetry/v1/metrics` | the same | VictoriaMetrics' path |
//! | `POST /api/v1/read` | Prometheus remote read 1.0, `SAMPLES` | Prometheus |
//! | `GET /ping` | 204, for Influx clients' health checks | InfluxDB |
//!
//! A body over `--max-request-body-size` (as received, or while being decompressed) is
//! refused whole with the protocol's 413, and counted like any other refusal.

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use tsdb_ingest::{
    remote_read, InfluxParams, Ingester, Outcome, Protocol, ReadError, ReadLimits, RequestError,
};

use super::query_api::is_length_limit;
use super::state::AppState;

/// `POST /write`: InfluxDB 1.x line protocol.
pub async fn influx_v1(State(s): State<AppState>, req: Request) -> Response {
    influx(s, req, Protocol::InfluxV1, "db").await
}

/// `POST /api/v2/write`: InfluxDB 2.x line protocol.
pub async fn influx_v2(State(s): State<AppState>, req: Request) -> Response {
    influx(s, req, Protocol::InfluxV2, "bucket").await
}

async fn influx(s: AppState, req: Request, protocol: Protocol, db_param: &str) -> Response {
    let query = req.uri().query().unwrap_or("").to_owned();
    let mut precision = None;
    let mut db = None;
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        if k == "precision" {
            precision = Some(v.into_owned());
        } else if k == db_param {
            db = Some(v.into_owned());
        }
    }
    let label = s.0.flags.influx_db_label.clone();
    ingest(s, req, protocol, move |ingester, body, _headers| {
        let params = InfluxParams {
            precision: precision.as_deref(),
            extra_label: match (&label, &db) {
                (Some(l), Some(d)) if !d.is_empty() => Some((l.as_str(), d.as_str())),
                _ => None,
            },
        };
        ingester.influx(body, protocol, &params)
    })
    .await
}

/// `POST /api/v1/write`: Prometheus remote write 1.0 or 2.0, by `Content-Type`.
pub async fn remote_write(State(s): State<AppState>, req: Request) -> Response {
    let protocol = if header_str(req.headers(), &header::CONTENT_TYPE)
        .is_some_and(|c| c.contains("io.prometheus.write.v2"))
    {
        Protocol::RemoteWriteV2
    } else {
        Protocol::RemoteWriteV1
    };
    ingest(s, req, protocol, |ingester, body, headers| {
        ingester.remote_write(
            body,
            header_str(headers, &header::CONTENT_TYPE),
            header_str(headers, &header::CONTENT_ENCODING),
        )
    })
    .await
}

/// `POST /api/v1/otlp/v1/metrics` (and `/opentelemetry/v1/metrics`): OTLP/HTTP metrics.
pub async fn otlp(State(s): State<AppState>, req: Request) -> Response {
    let protocol = if header_str(req.headers(), &header::CONTENT_TYPE)
        .is_some_and(|c| c.trim_start().starts_with("application/json"))
    {
        Protocol::OtlpJson
    } else {
        Protocol::Otlp
    };
    ingest(s, req, protocol, |ingester, body, headers| {
        ingester.otlp(body, header_str(headers, &header::CONTENT_TYPE))
    })
    .await
}

/// `GET /ping`: what InfluxDB answers, for clients that check before writing.
pub async fn ping() -> Response {
    let mut r = StatusCode::NO_CONTENT.into_response();
    r.headers_mut().insert(
        HeaderName::from_static("x-influxdb-version"),
        HeaderValue::from_static("1.8.10"),
    );
    r
}

/// Reads the body, then runs `write` on a blocking thread and answers its outcome.
async fn ingest<F>(s: AppState, req: Request, protocol: Protocol, write: F) -> Response
where
    F: FnOnce(&Ingester, &[u8], &HeaderMap) -> Outcome + Send + 'static,
{
    let ingester = match s.ingester() {
        Ok(i) => i,
        Err(e) => return e.into_response(),
    };
    let (parts, body) = req.into_parts();
    // the router's decompression layer takes `Content-Encoding` away once it has decoded
    // gzip or zstd; one still there is one it does not know (remote write's snappy is
    // the ingester's to decode)
    let encoding = header_str(&parts.headers, &header::CONTENT_ENCODING)
        .map(str::trim)
        .filter(|e| !e.is_empty() && !e.eq_ignore_ascii_case("identity"));
    if let (Some(e), false) = (
        encoding,
        matches!(protocol, Protocol::RemoteWriteV1 | Protocol::RemoteWriteV2),
    ) {
        let outcome = ingester.refuse(protocol, RequestError::UnsupportedEncoding(e.to_owned()));
        return into_response(&outcome.response());
    }
    let bytes = match read_body(&s, body).await {
        Ok(b) => b,
        Err(error) => return into_response(&ingester.refuse(protocol, error).response()),
    };
    let headers = parts.headers;
    let task = tokio::task::spawn_blocking(move || write(&ingester, &bytes, &headers));
    match task.await {
        Ok(outcome) => {
            if let Some(e) = outcome.failure.as_ref() {
                tracing::debug!(protocol = protocol.name(), error = %e, "write refused");
            }
            into_response(&outcome.response())
        }
        Err(e) => {
            tracing::error!(error = %e, "write task failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "write failed\n").into_response()
        }
    }
}

/// `POST /api/v1/read`: Prometheus remote read 1.0 (`SAMPLES`), on the query pool (it
/// is a query: it waits for a slot and has the query timeout).
pub async fn read(State(s): State<AppState>, req: Request) -> Response {
    let db = match s.db() {
        Ok(d) => d,
        Err(e) => return e.into_response(),
    };
    let bytes = match read_body(&s, req.into_body()).await {
        Ok(b) => b,
        Err(e) => {
            let status = match e {
                RequestError::BodyOverLimit { .. } => 413,
                _ => 400,
            };
            let e = ReadError::BadRequest {
                status,
                message: e.to_string(),
            };
            return into_response(&e.response());
        }
    };
    let limits = ReadLimits {
        max_body_bytes: s.0.flags.max_request_body_size,
        max_samples: s.0.flags.query_max_samples,
        ..ReadLimits::default()
    };
    let answer =
        s.0.pool
            .run(None, move |_cancel| remote_read(&db, &bytes, &limits))
            .await;
    match answer {
        Ok(Ok(r)) => into_response(&r),
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "remote read refused");
            into_response(&e.response())
        }
        Err(e) => (e.kind.status(), format!("{}\n", e.message)).into_response(),
    }
}

/// The body, or why it cannot be read (413 past the router's limit).
async fn read_body(s: &AppState, body: axum::body::Body) -> Result<Bytes, RequestError> {
    axum::body::to_bytes(body, s.0.flags.max_request_body_size)
        .await
        .map_err(|e| {
            if is_length_limit(&e) {
                RequestError::BodyOverLimit {
                    limit: s.0.flags.max_request_body_size,
                }
            } else {
                RequestError::Malformed(format!("cannot read the request body: {e}"))
            }
        })
}

fn header_str<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The library's answer as an HTTP response.
fn into_response(r: &tsdb_ingest::Response) -> Response {
    let status = StatusCode::from_u16(r.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (status, r.body.clone()).into_response();
    let headers = response.headers_mut();
    if let Some(ct) = r.content_type {
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
    } else {
        headers.remove(header::CONTENT_TYPE);
    }
    for (name, value) in &r.headers {
        if let (Ok(n), Ok(v)) = (HeaderName::try_from(*name), HeaderValue::from_str(value)) {
            headers.insert(n, v);
        }
    }
    response
}
