//! Prometheus' API envelope: `{"status":"success","data":...,"warnings":[...]}` with 200,
//! or `{"status":"error","errorType":...,"error":...}` with the status code Prometheus
//! gives each error type (`bad_data` 400, `execution` 422, `canceled` and `timeout` 503,
//! `internal` 500, `not_found` 404, `unavailable` 503), strings escaped as Go's
//! `encoding/json` escapes them, `Content-Type: application/json`.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use tsdb_query::json::write_string;

/// Prometheus' error types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorType {
    /// The request's parameters are wrong: 400.
    BadData,
    /// The query failed on the data: 422.
    Execution,
    /// The query was canceled: 503.
    Canceled,
    /// The query ran out of time: 503.
    Timeout,
    /// The server failed: 500.
    Internal,
    /// Nothing there: 404.
    NotFound,
    /// The feature or the database is not available: 503.
    Unavailable,
}

impl ErrorType {
    /// The name in the JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorType::BadData => "bad_data",
            ErrorType::Execution => "execution",
            ErrorType::Canceled => "canceled",
            ErrorType::Timeout => "timeout",
            ErrorType::Internal => "internal",
            ErrorType::NotFound => "not_found",
            ErrorType::Unavailable => "unavailable",
        }
    }

    /// The type named `name` in an error body.
    pub fn from_name(name: &str) -> ErrorType {
        match name {
            "bad_data" => ErrorType::BadData,
            "execution" => ErrorType::Execution,
            "canceled" => ErrorType::Canceled,
            "timeout" => ErrorType::Timeout,
            "not_found" => ErrorType::NotFound,
            "unavailable" => ErrorType::Unavailable,
            _ => ErrorType::Internal,
        }
    }

    /// The HTTP status Prometheus answers with (`respondError`).
    pub fn status(self) -> StatusCode {
        match self {
            ErrorType::BadData => StatusCode::BAD_REQUEST,
            ErrorType::Execution => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorType::Canceled | ErrorType::Timeout | ErrorType::Unavailable => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ErrorType::NotFound => StatusCode::NOT_FOUND,
            ErrorType::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// A failed API call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// Its type.
    pub kind: ErrorType,
    /// Its message.
    pub message: String,
}

impl ApiError {
    /// An error of `kind` saying `message`.
    pub fn new(kind: ErrorType, message: impl Into<String>) -> ApiError {
        ApiError {
            kind,
            message: message.into(),
        }
    }

    /// `bad_data`: `invalid parameter "name": message`.
    pub fn invalid_param(name: &str, message: impl std::fmt::Display) -> ApiError {
        ApiError::new(
            ErrorType::BadData,
            format!("invalid parameter {name:?}: {message}"),
        )
    }

    /// The error's body.
    pub fn body(&self) -> String {
        let mut out = String::from(r#"{"status":"error","errorType":""#);
        out.push_str(self.kind.as_str());
        out.push_str(r#"","error":"#);
        write_string(&mut out, &self.message);
        out.push('}');
        out
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        json_response(self.kind.status(), self.body())
    }
}

/// A successful call's body: `data` is JSON text already; `warnings` are added when any.
pub fn success(data: &str, warnings: &[String]) -> Response {
    let mut out = String::with_capacity(data.len() + 32);
    out.push_str(r#"{"status":"success","data":"#);
    out.push_str(data);
    if !warnings.is_empty() {
        out.push_str(r#","warnings":["#);
        for (i, w) in warnings.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            write_string(&mut out, w);
        }
        out.push(']');
    }
    out.push('}');
    json_response(StatusCode::OK, out)
}

/// A complete body from [`crate::api`] (`Ok`: a success body; `Err`: an error body whose
/// `errorType` decides the status).
pub fn from_body(body: Result<String, String>) -> Response {
    match body {
        Ok(b) => json_response(StatusCode::OK, b),
        Err(b) => {
            let kind = ErrorType::from_name(crate::api::error_type(&b).unwrap_or("internal"));
            json_response(kind.status(), b)
        }
    }
}

/// A JSON body with `status`.
pub fn json_response(status: StatusCode, body: String) -> Response {
    let mut r = (status, body).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

/// A JSON array of strings, as label names and values are listed.
pub fn string_array<'a>(items: impl IntoIterator<Item = &'a str>) -> String {
    let mut out = String::from("[");
    for (i, s) in items.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_string(&mut out, s);
    }
    out.push(']');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_and_statuses() {
        let e = ApiError::invalid_param("start", "cannot parse \"x\" to a valid timestamp");
        assert_eq!(
            e.body(),
            r#"{"status":"error","errorType":"bad_data","error":"invalid parameter \"start\": cannot parse \"x\" to a valid timestamp"}"#
        );
        assert_eq!(e.kind.status(), StatusCode::BAD_REQUEST);
        assert_eq!(ErrorType::Execution.status().as_u16(), 422);
        assert_eq!(ErrorType::Timeout.status().as_u16(), 503);
        assert_eq!(ErrorType::Canceled.status().as_u16(), 503);
        assert_eq!(ErrorType::NotFound.status().as_u16(), 404);
        assert_eq!(ErrorType::Internal.status().as_u16(), 500);
        for t in [
            "bad_data",
            "execution",
            "canceled",
            "timeout",
            "internal",
            "not_found",
            "unavailable",
        ] {
            assert_eq!(ErrorType::from_name(t).as_str(), t);
        }
        assert_eq!(string_array(["a<b", "c"]), r#"["a\u003cb","c"]"#);
    }
}
