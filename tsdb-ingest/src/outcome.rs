//! [`Outcome`]: what became of one write request, and [`Response`], the HTTP answer each
//! protocol's peer gives for it (InfluxDB, a Prometheus remote-write receiver, an OTLP
//! collector), without this crate depending on any HTTP library.

use std::fmt::Write as _;

use prost::Message as _;

use crate::metadata::MetricMetadata;
use crate::proto::otlp::collector::{ExportMetricsPartialSuccess, ExportMetricsServiceResponse};
use crate::proto::otlp::Status;
use crate::reason::{FailureKind, Protocol, Reason};

/// Why a whole request was refused: nothing of it was written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// The body is over [`crate::IngestLimits::max_body_bytes`] (as received) or
    /// [`crate::IngestLimits::max_decompressed_bytes`] (after snappy).
    #[error("request body too large: {size} bytes{}, limit {limit}", if *.decompressed { " decompressed" } else { "" })]
    BodyTooLarge {
        /// Its size (for a snappy body, the size its header announces).
        size: usize,
        /// The limit.
        limit: usize,
        /// Whether the decompressed size was over.
        decompressed: bool,
    },
    /// The body grew past a limit while the HTTP server was receiving or decompressing
    /// it, so its full size is not known (the server's own body limit).
    #[error("request body over the limit of {limit} bytes")]
    BodyOverLimit {
        /// The limit.
        limit: usize,
    },
    /// A `Content-Type` this endpoint does not read.
    #[error("unsupported content type {0:?}")]
    UnsupportedContentType(String),
    /// A `Content-Encoding` this endpoint does not read.
    #[error("unsupported content encoding {0:?}")]
    UnsupportedEncoding(String),
    /// Influx `precision` parameter not one of `ns`, `us`, `ms`, `s` (v1 also `n`, `u`).
    #[error("invalid precision; valid precision units are ns, us, ms, and s")]
    InvalidPrecision(String),
    /// An Influx v2 request without a body.
    #[error("writing requires points")]
    EmptyBody,
    /// The body cannot be decoded (bad snappy block, bad protobuf).
    #[error("{0}")]
    Malformed(String),
    /// More samples than [`crate::IngestLimits::max_samples_per_request`].
    #[error("request has {count} samples, more than the limit of {limit} per request")]
    TooManySamples {
        /// Samples in the request.
        count: usize,
        /// The limit.
        limit: usize,
    },
    /// The database failed to write; nothing of the request is acknowledged.
    #[error("writing to the database failed: {0}")]
    Storage(#[source] tsdb_core::Error),
}

impl RequestError {
    /// Under which kind it is counted.
    pub fn kind(&self) -> FailureKind {
        match self {
            RequestError::BodyTooLarge { .. } | RequestError::BodyOverLimit { .. } => {
                FailureKind::BodyTooLarge
            }
            RequestError::UnsupportedContentType(_) | RequestError::UnsupportedEncoding(_) => {
                FailureKind::UnsupportedMediaType
            }
            RequestError::InvalidPrecision(_)
            | RequestError::EmptyBody
            | RequestError::Malformed(_) => FailureKind::BadRequest,
            RequestError::TooManySamples { .. } => FailureKind::TooManySamples,
            RequestError::Storage(e) => match e.class() {
                tsdb_core::ErrorClass::Unavailable => FailureKind::Unavailable,
                tsdb_core::ErrorClass::Caller => FailureKind::BadRequest,
                _ => FailureKind::Internal,
            },
        }
    }

    /// The HTTP status every protocol uses for it (Influx answers too many samples with
    /// 413, see [`Outcome::response`]).
    fn status(&self) -> u16 {
        match self.kind() {
            FailureKind::BodyTooLarge => 413,
            FailureKind::UnsupportedMediaType => 415,
            FailureKind::BadRequest | FailureKind::TooManySamples => 400,
            FailureKind::Unavailable => 503,
            FailureKind::Internal => 500,
        }
    }
}

/// What became of one request: samples written, refusals by reason with the first few
/// messages, metadata carried, and — if the request was refused whole — why.
#[derive(Debug)]
pub struct Outcome {
    /// The protocol, which decides the [`Response`].
    pub protocol: Protocol,
    /// Set when the whole request was refused (nothing written).
    pub failure: Option<RequestError>,
    /// Samples written (durable in the WAL).
    pub accepted: u64,
    refused: [u64; Reason::COUNT],
    /// The first refusal messages (at most [`crate::IngestLimits::max_messages`]), each
    /// naming the line, series or metric.
    pub messages: Vec<String>,
    /// Refusal messages left out of [`Outcome::messages`].
    pub messages_left_out: u64,
    /// Influx string fields skipped: they have no number to store. Not a refusal (the
    /// response is still a success), but counted.
    pub string_fields_skipped: u64,
    /// OTLP data points refused whole or in part (the `rejected_data_points` of the
    /// response).
    pub points_refused: u64,
    /// Metric metadata the request carried (remote write 1.0 `metadata`, 2.0 per-series
    /// metadata, OTLP type/description/unit), for [`crate::MetadataStore`].
    pub metadata: Vec<MetricMetadata>,
    max_messages: usize,
}

/// An HTTP response: status, content type, extra headers and body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// `Content-Type` of the body (`None` for an empty body).
    pub content_type: Option<&'static str>,
    /// Other headers (remote write 2.0's `X-Prometheus-Remote-Write-*-Written`).
    pub headers: Vec<(&'static str, String)>,
    /// The body.
    pub body: Vec<u8>,
}

/// The remote write 2.0 response header counting samples written.
pub const SAMPLES_WRITTEN_HEADER: &str = "X-Prometheus-Remote-Write-Samples-Written";
/// The remote write 2.0 response header counting histogram samples written.
pub const HISTOGRAMS_WRITTEN_HEADER: &str = "X-Prometheus-Remote-Write-Histograms-Written";
/// The remote write 2.0 response header counting exemplars written.
pub const EXEMPLARS_WRITTEN_HEADER: &str = "X-Prometheus-Remote-Write-Exemplars-Written";

impl Outcome {
    /// An empty outcome (nothing written, nothing refused).
    pub fn new(protocol: Protocol, max_messages: usize) -> Outcome {
        Outcome {
            protocol,
            failure: None,
            accepted: 0,
            refused: [0; Reason::COUNT],
            messages: Vec::new(),
            messages_left_out: 0,
            string_fields_skipped: 0,
            points_refused: 0,
            metadata: Vec::new(),
            max_messages,
        }
    }

    /// An outcome for a request refused whole.
    pub fn failed(protocol: Protocol, error: RequestError) -> Outcome {
        let mut o = Outcome::new(protocol, 0);
        o.failure = Some(error);
        o
    }

    /// Counts `count` items refused for `reason`, keeping the message if there is room
    /// (the closure runs only then).
    pub fn refuse(&mut self, reason: Reason, count: u64, message: impl FnOnce() -> String) {
        if count == 0 {
            return;
        }
        self.refused[reason.index()] += count;
        if self.messages.len() < self.max_messages {
            self.messages.push(message());
        } else {
            self.messages_left_out += 1;
        }
    }

    /// Items refused for `reason`.
    pub fn refused(&self, reason: Reason) -> u64 {
        self.refused[reason.index()]
    }

    /// Items refused, all reasons together.
    pub fn refused_total(&self) -> u64 {
        self.refused.iter().sum()
    }

    /// `(reason, count)` for every reason with refusals.
    pub fn refusals(&self) -> impl Iterator<Item = (Reason, u64)> + '_ {
        Reason::ALL
            .into_iter()
            .map(|r| (r, self.refused(r)))
            .filter(|&(_, n)| n > 0)
    }

    /// True when the request was written whole: no failure, nothing refused.
    pub fn is_success(&self) -> bool {
        self.failure.is_none() && self.refused_total() == 0
    }

    /// One line of counts: `written 10 samples; refused: out_of_order 2, exemplar_unsupported 1`.
    pub fn summary(&self) -> String {
        let mut s = format!("written {} samples", self.accepted);
        let mut first = true;
        for (r, n) in self.refusals() {
            s.push_str(if first { "; refused: " } else { ", " });
            first = false;
            let _ = write!(s, "{} {n}", r.name());
        }
        if self.string_fields_skipped > 0 {
            let _ = write!(s, "; skipped {} string fields", self.string_fields_skipped);
        }
        s
    }

    /// The summary followed by the kept messages, one per line.
    fn details(&self) -> String {
        let mut s = self.summary();
        for m in &self.messages {
            s.push('\n');
            s.push_str(m);
        }
        if self.messages_left_out > 0 {
            let _ = write!(s, "\n(and {} more)", self.messages_left_out);
        }
        s
    }

    /// The HTTP response the protocol's peer would give:
    ///
    /// - **Influx** (as InfluxDB): 204 when everything was written; 400 with InfluxDB's
    ///   JSON error (`{"code":"invalid","message":…}` for `/api/v2/write`,
    ///   `{"error":…}` for `/write`) naming the first refused lines — the good lines are
    ///   written, and the message takes InfluxDB 1.x's partial-write form `partial write:
    ///   … dropped=N` when some were; 413 for a body or sample count over the limit;
    ///   503/500 when the database failed.
    /// - **Remote write** (as the spec and Prometheus' receiver): 204 on success; 400
    ///   with a plain-text body (summary and messages) when anything was refused, so
    ///   senders never retry it — except exemplars, which are dropped and counted while
    ///   the write succeeds (as Prometheus' receiver drops exemplars it cannot store); 413, 415; 503 or 500 (retried) when the database
    ///   failed. 2.0 adds the three `X-Prometheus-Remote-Write-*-Written` headers to
    ///   every answer after content negotiation (histograms and exemplars written are
    ///   always 0: they are not stored).
    /// - **OTLP** (as the OTLP/HTTP spec and the collector): 200 with an
    ///   `ExportMetricsServiceResponse`, whose `partial_success` counts the data points
    ///   refused and says why (also for dropped exemplars, with 0 points); 400, 413, 415
    ///   with a `google.rpc.Status` body for a request refused whole; 503 (retryable in
    ///   OTLP) when the database cannot write, 500 when it failed.
    pub fn response(&self) -> Response {
        match self.protocol {
            Protocol::InfluxV1 | Protocol::InfluxV2 => self.influx_response(),
            Protocol::RemoteWriteV1 | Protocol::RemoteWriteV2 => self.remote_write_response(),
            Protocol::Otlp | Protocol::OtlpJson => self.otlp_response(),
        }
    }

    fn influx_response(&self) -> Response {
        let v2 = self.protocol == Protocol::InfluxV2;
        let (status, code, message) = match &self.failure {
            Some(e) => {
                let (status, code) = match e {
                    RequestError::BodyTooLarge { .. }
                    | RequestError::BodyOverLimit { .. }
                    | RequestError::TooManySamples { .. } => (413, "request too large"),
                    _ => match e.kind() {
                        FailureKind::Unavailable => (503, "unavailable"),
                        FailureKind::Internal => (500, "internal error"),
                        _ => (e.status(), "invalid"),
                    },
                };
                let message = match e {
                    RequestError::BodyTooLarge { .. } | RequestError::BodyOverLimit { .. } => {
                        format!("unable to read data: points batch is too large ({e})")
                    }
                    RequestError::Storage(_) => {
                        format!("unexpected error writing points to database: {e}")
                    }
                    _ => e.to_string(),
                };
                (status, code, message)
            }
            None if self.refused_total() == 0 => return Response::empty(204),
            None => {
                let mut m = String::new();
                if self.accepted > 0 {
                    m.push_str("partial write: ");
                }
                m.push_str(&self.messages.join("\n"));
                if self.messages_left_out > 0 {
                    let _ = write!(m, "\n(and {} more)", self.messages_left_out);
                }
                if self.accepted > 0 {
                    let _ = write!(m, " dropped={}", self.refused_total());
                }
                (400, "invalid", m)
            }
        };
        let mut body = String::from("{");
        if v2 {
            body.push_str("\"code\":");
            json_string(&mut body, code);
            body.push_str(",\"message\":");
        } else {
            body.push_str("\"error\":");
        }
        json_string(&mut body, &message);
        body.push('}');
        Response {
            status,
            content_type: Some("application/json; charset=utf-8"),
            headers: Vec::new(),
            body: body.into_bytes(),
        }
    }

    fn remote_write_response(&self) -> Response {
        let v2 = self.protocol == Protocol::RemoteWriteV2;
        let (status, text) = match &self.failure {
            Some(e) => (e.status(), e.to_string()),
            // exemplars alone do not fail a write: their samples are stored, and a 400
            // would make a sender with `send_exemplars` count every sample as failed
            None if self.refused_total() == self.refused(Reason::Exemplar) => (204, String::new()),
            None => (400, self.details()),
        };
        let mut headers = Vec::new();
        let negotiated = !matches!(
            &self.failure,
            Some(RequestError::UnsupportedContentType(_) | RequestError::UnsupportedEncoding(_))
        );
        if v2 && negotiated {
            headers.push((SAMPLES_WRITTEN_HEADER, self.accepted.to_string()));
            headers.push((HISTOGRAMS_WRITTEN_HEADER, "0".to_owned()));
            headers.push((EXEMPLARS_WRITTEN_HEADER, "0".to_owned()));
        }
        if status == 204 {
            return Response {
                headers,
                ..Response::empty(204)
            };
        }
        Response {
            status,
            content_type: Some("text/plain; charset=utf-8"),
            headers,
            body: (text + "\n").into_bytes(),
        }
    }

    fn otlp_response(&self) -> Response {
        let json = self.protocol == Protocol::OtlpJson;
        if let Some(e) = &self.failure {
            // google.rpc.Code: INVALID_ARGUMENT 3, RESOURCE_EXHAUSTED 8, INTERNAL 13,
            // UNAVAILABLE 14
            let code = match e.kind() {
                FailureKind::BodyTooLarge | FailureKind::TooManySamples => 8,
                FailureKind::Unavailable => 14,
                FailureKind::Internal => 13,
                _ => 3,
            };
            let message = e.to_string();
            let (content_type, body) = if json {
                let mut s = format!("{{\"code\":{code},\"message\":");
                json_string(&mut s, &message);
                s.push('}');
                ("application/json", s.into_bytes())
            } else {
                let status = Status { code, message };
                ("application/x-protobuf", status.encode_to_vec())
            };
            return Response {
                status: e.status(),
                content_type: Some(content_type),
                headers: Vec::new(),
                body,
            };
        }
        let partial_success = (self.refused_total() > 0).then(|| ExportMetricsPartialSuccess {
            rejected_data_points: i64::try_from(self.points_refused).unwrap_or(i64::MAX),
            error_message: self.details(),
        });
        if json {
            // the protobuf JSON mapping: int64 as a decimal string
            let mut s = String::from("{");
            if let Some(p) = &partial_success {
                let _ = write!(
                    s,
                    "\"partialSuccess\":{{\"rejectedDataPoints\":\"{}\",\"errorMessage\":",
                    p.rejected_data_points
                );
                json_string(&mut s, &p.error_message);
                s.push('}');
            }
            s.push('}');
            return Response {
                status: 200,
                content_type: Some("application/json"),
                headers: Vec::new(),
                body: s.into_bytes(),
            };
        }
        let body = ExportMetricsServiceResponse { partial_success }.encode_to_vec();
        Response {
            status: 200,
            content_type: Some("application/x-protobuf"),
            headers: Vec::new(),
            body,
        }
    }
}

impl Response {
    fn empty(status: u16) -> Response {
        Response {
            status,
            content_type: None,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// The body as text (lossy), for logs and tests.
    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The value of header `name` (ASCII case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Appends `s` as a JSON string literal.
pub(crate) fn json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_escaping() {
        let mut s = String::new();
        json_string(&mut s, "a\"b\\c\nd\u{1}é");
        assert_eq!(s, r#""a\"b\\c\nd\u0001é""#);
    }

    #[test]
    fn influx_partial_write_names_lines_and_counts() {
        let mut o = Outcome::new(Protocol::InfluxV2, 1);
        o.accepted = 3;
        o.refuse(Reason::Malformed, 1, || "unable to parse 'x': bad".into());
        o.refuse(Reason::Malformed, 1, || "unable to parse 'y': bad".into());
        let r = o.response();
        assert_eq!(r.status, 400);
        assert_eq!(
            r.body_text(),
            r#"{"code":"invalid","message":"partial write: unable to parse 'x': bad\n(and 1 more) dropped=2"}"#
        );
        let mut v1 = Outcome::new(Protocol::InfluxV1, 5);
        v1.refuse(Reason::Malformed, 1, || "unable to parse 'x': bad".into());
        assert_eq!(
            v1.response().body_text(),
            r#"{"error":"unable to parse 'x': bad"}"#
        );
        assert_eq!(Outcome::new(Protocol::InfluxV1, 5).response().status, 204);
    }

    #[test]
    fn remote_write_v2_headers_and_statuses() {
        let mut o = Outcome::new(Protocol::RemoteWriteV2, 5);
        o.accepted = 7;
        let r = o.response();
        assert_eq!(r.status, 204);
        assert_eq!(
            r.header("x-prometheus-remote-write-samples-written"),
            Some("7")
        );
        o.refuse(Reason::Exemplar, 2, || "2 exemplars of up{} refused".into());
        let r = o.response();
        assert_eq!(r.status, 204, "exemplars alone do not fail the write");
        assert_eq!(
            r.header("x-prometheus-remote-write-exemplars-written"),
            Some("0")
        );
        o.refuse(Reason::OutOfOrder, 1, || "1 sample out of order".into());
        let r = o.response();
        assert_eq!(r.status, 400);
        assert!(r
            .body_text()
            .starts_with("written 7 samples; refused: out_of_order 1, exemplar_unsupported 2\n"));
        let f = Outcome::failed(
            Protocol::RemoteWriteV2,
            RequestError::UnsupportedContentType("text/plain".into()),
        );
        let r = f.response();
        assert_eq!(r.status, 415);
        assert!(
            r.headers.is_empty(),
            "no written headers before negotiation"
        );
        let f = Outcome::failed(
            Protocol::RemoteWriteV1,
            RequestError::Storage(tsdb_core::Error::Closed),
        );
        assert_eq!(f.response().status, 503);
    }

    #[test]
    fn otlp_partial_success_and_status_body() {
        let mut o = Outcome::new(Protocol::Otlp, 5);
        o.accepted = 1;
        o.points_refused = 2;
        o.refuse(Reason::DeltaTemporality, 2, || "metric x: delta".into());
        let r = o.response();
        assert_eq!(r.status, 200);
        let decoded = ExportMetricsServiceResponse::decode(r.body.as_slice()).unwrap();
        let ps = decoded.partial_success.unwrap();
        assert_eq!(ps.rejected_data_points, 2);
        assert!(ps.error_message.contains("delta_temporality_unsupported 2"));
        let f = Outcome::failed(
            Protocol::Otlp,
            RequestError::Malformed("bad protobuf".into()),
        );
        let r = f.response();
        assert_eq!(r.status, 400);
        assert_eq!(Status::decode(r.body.as_slice()).unwrap().code, 3);
    }
}
