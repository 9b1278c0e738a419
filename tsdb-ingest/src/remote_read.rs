//! Prometheus remote read 1.0, the `SAMPLES` response type: a Prometheus configured with
//! `remote_read` pointing at the server uses the database as long-term storage.
//!
//! The request is a snappy-block-compressed `prometheus.ReadRequest`; each query (a
//! time range and label matchers) is answered from one querier over its range with the
//! matching series and their raw samples, stale markers included, in a
//! `prometheus.ReadResponse` compressed the same way (Prometheus' `remote.ToQueryResult`
//! and `read_handler.go`). The streamed `STREAMED_XOR_CHUNKS` type is not implemented: a
//! request that accepts only it is refused with 400, as the protocol says ("if no
//! response type ... is implemented by the server, an error is returned").
//!
//! Limits: the request body's size (compressed, and decompressed from the snappy
//! header before anything is allocated) and the samples a response may carry
//! (Prometheus' `--storage.remote.read-sample-limit`, 50 million).

use prost::Message;
use tsdb_core::Db;
use tsdb_index::Matcher;

use crate::outcome::Response;
use crate::proto::prometheus::{
    label_matcher, read_request::ResponseType, Label, LabelMatcher, QueryResult, ReadRequest,
    ReadResponse, Sample, TimeSeries,
};

/// The bounds of a remote read.
#[derive(Clone, Debug)]
pub struct ReadLimits {
    /// Compressed request body, bytes. Default 16 MiB.
    pub max_body_bytes: usize,
    /// Decompressed request body, bytes. Default 64 MiB.
    pub max_decompressed_bytes: usize,
    /// Samples in one response, over all its queries (0: no limit). Default 50 million,
    /// Prometheus' `--storage.remote.read-sample-limit`.
    pub max_samples: usize,
}

impl Default for ReadLimits {
    fn default() -> Self {
        ReadLimits {
            max_body_bytes: 16 << 20,
            max_decompressed_bytes: 64 << 20,
            max_samples: 50_000_000,
        }
    }
}

/// Why a read was not answered.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// The request is malformed, too large, or asks for what is not supported: 400
    /// (413 for a body over the limit).
    #[error("{message}")]
    BadRequest {
        /// The status to answer (400 or 413).
        status: u16,
        /// What was wrong.
        message: String,
    },
    /// The database failed: 503 when a retry can succeed, 500 otherwise.
    #[error("{0}")]
    Storage(#[from] tsdb_core::Error),
    /// The response could not be built (it is over what snappy can compress): 500.
    #[error("{0}")]
    Internal(String),
}

impl ReadError {
    fn bad(message: impl Into<String>) -> ReadError {
        ReadError::BadRequest {
            status: 400,
            message: message.into(),
        }
    }

    /// The response Prometheus' read handler gives for this error: a text body.
    pub fn response(&self) -> Response {
        let status = match self {
            ReadError::BadRequest { status, .. } => *status,
            ReadError::Storage(e) => match e.class() {
                tsdb_core::ErrorClass::Caller => 400,
                tsdb_core::ErrorClass::Unavailable => 503,
                _ => 500,
            },
            ReadError::Internal(_) => 500,
        };
        Response {
            status,
            content_type: Some("text/plain; charset=utf-8"),
            headers: Vec::new(),
            body: format!("{self}\n").into_bytes(),
        }
    }
}

/// Answers a remote read request `body` (as received: `Content-Encoding: snappy`) from
/// `db`: `Ok` is the 200 response (snappy-compressed `ReadResponse`).
pub fn remote_read(db: &Db, body: &[u8], limits: &ReadLimits) -> Result<Response, ReadError> {
    if body.len() > limits.max_body_bytes {
        return Err(ReadError::BadRequest {
            status: 413,
            message: format!(
                "request body of {} bytes is over the limit of {}",
                body.len(),
                limits.max_body_bytes
            ),
        });
    }
    let len = snap::raw::decompress_len(body)
        .map_err(|e| ReadError::bad(format!("cannot decode snappy block: {e}")))?;
    if len > limits.max_decompressed_bytes {
        return Err(ReadError::BadRequest {
            status: 413,
            message: format!(
                "decompressed request body of {len} bytes is over the limit of {}",
                limits.max_decompressed_bytes
            ),
        });
    }
    let raw = snap::raw::Decoder::new()
        .decompress_vec(body)
        .map_err(|e| ReadError::bad(format!("cannot decode snappy block: {e}")))?;
    let request = ReadRequest::decode(raw.as_slice())
        .map_err(|e| ReadError::bad(format!("cannot decode the read request: {e}")))?;
    negotiate(&request.accepted_response_types)?;

    let mut budget = limits.max_samples;
    let mut results = Vec::with_capacity(request.queries.len().min(1024));
    for query in &request.queries {
        let matchers = query
            .matchers
            .iter()
            .map(matcher)
            .collect::<Result<Vec<_>, _>>()?;
        if matchers.is_empty() || matchers.iter().all(Matcher::matches_empty) {
            return Err(ReadError::bad(
                "a query needs at least one matcher that does not match the empty string",
            ));
        }
        let (mint, maxt) = (query.start_timestamp_ms, query.end_timestamp_ms);
        if maxt < mint {
            return Err(ReadError::bad(format!(
                "query ends ({maxt}) before it starts ({mint})"
            )));
        }
        let querier = db.querier(mint, maxt)?;
        let mut timeseries = Vec::new();
        let (mut ts, mut vs) = (Vec::new(), Vec::new());
        for series in querier.select(&matchers)? {
            ts.clear();
            vs.clear();
            series.iter().read_into(&mut ts, &mut vs)?;
            if ts.is_empty() {
                continue;
            }
            if limits.max_samples > 0 {
                budget = budget.checked_sub(ts.len()).ok_or_else(|| {
                    ReadError::bad(format!("exceeded sample limit ({})", limits.max_samples))
                })?;
            }
            timeseries.push(TimeSeries {
                labels: series
                    .labels()
                    .iter()
                    .map(|(name, value)| Label {
                        name: name.to_string(),
                        value: value.to_string(),
                    })
                    .collect(),
                samples: ts
                    .iter()
                    .zip(&vs)
                    .map(|(&timestamp, &value)| Sample { value, timestamp })
                    .collect(),
                exemplars: Vec::new(),
                histograms: Vec::new(),
            });
        }
        results.push(QueryResult { timeseries });
    }
    let encoded = ReadResponse { results }.encode_to_vec();
    let body = snap::raw::Encoder::new()
        .compress_vec(&encoded)
        .map_err(|e| ReadError::Internal(format!("cannot compress the response: {e}")))?;
    Ok(Response {
        status: 200,
        content_type: Some("application/x-protobuf"),
        headers: vec![("Content-Encoding", "snappy".to_string())],
        body,
    })
}

/// The first accepted response type this server implements; none listed means
/// `SAMPLES`.
fn negotiate(accepted: &[i32]) -> Result<(), ReadError> {
    if accepted.is_empty() || accepted.contains(&(ResponseType::Samples as i32)) {
        return Ok(());
    }
    let names: Vec<String> = accepted
        .iter()
        .map(|&t| {
            ResponseType::try_from(t).map_or_else(
                |_| format!("unknown ({t})"),
                |r| r.as_str_name().to_string(),
            )
        })
        .collect();
    Err(ReadError::bad(format!(
        "server does not support the requested response types {names:?}: only SAMPLES"
    )))
}

fn matcher(m: &LabelMatcher) -> Result<Matcher, ReadError> {
    let bad = |e: tsdb_index::Error| ReadError::bad(format!("matcher {}: {e}", m.name));
    match label_matcher::Type::try_from(m.r#type) {
        Ok(label_matcher::Type::Eq) => Ok(Matcher::equal(&m.name, &m.value)),
        Ok(label_matcher::Type::Neq) => Ok(Matcher::not_equal(&m.name, &m.value)),
        Ok(label_matcher::Type::Re) => Matcher::regex(&m.name, &m.value).map_err(bad),
        Ok(label_matcher::Type::Nre) => Matcher::not_regex(&m.name, &m.value).map_err(bad),
        Err(_) => Err(ReadError::bad(format!(
            "unknown matcher type {} for label {}",
            m.r#type, m.name
        ))),
    }
}
