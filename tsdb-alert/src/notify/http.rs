//! The HTTP side shared by the webhook, PagerDuty and phone notifiers: reqwest clients on
//! rustls with the workspace's ring provider (the system's roots, or `tls_config`'s
//! `ca_file`, `server_name`, `insecure_skip_verify`), `http_config`'s basic auth and
//! `Authorization` header, and the retry judgement of a response.

use std::time::Duration;

use super::{error_chain, ErrorKind, SendError};
use crate::receiver::{HttpConfig, TlsConfig};

/// A client that cannot be built from its settings (unreadable CA file, bad name).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ClientError(pub String);

/// The rustls client config of `tls`: tsdb-scrape's, the one TLS client setup of the
/// workspace (ring provider, system roots or `ca_file`, `server_name`,
/// `insecure_skip_verify`).
pub(crate) fn tls_config(tls: &TlsConfig) -> Result<rustls::ClientConfig, ClientError> {
    let scrape_tls = tsdb_scrape::TlsConfig {
        ca_file: tls.ca_file.clone().unwrap_or_default(),
        server_name: tls.server_name.clone().unwrap_or_default(),
        insecure_skip_verify: tls.insecure_skip_verify,
        ..tsdb_scrape::TlsConfig::default()
    };
    tsdb_scrape::fetch::tls_client_config(&scrape_tls)
        .map_err(|e| ClientError(format!("tls_config: {e}")))
}

/// A client for `config` (the default settings when `None`): no proxy, redirects
/// followed unless `follow_redirects: false`. Attempt timeouts are the outbox's.
pub(crate) fn client(config: Option<&HttpConfig>) -> Result<reqwest::Client, ClientError> {
    let default = HttpConfig::default();
    let config = config.unwrap_or(&default);
    let mut builder = reqwest::Client::builder()
        .use_preconfigured_tls(tls_config(&config.tls_config)?)
        .no_proxy()
        .connect_timeout(Duration::from_secs(10))
        .user_agent(concat!("tsdb-alert/", env!("CARGO_PKG_VERSION")));
    if config.follow_redirects == Some(false) {
        builder = builder.redirect(reqwest::redirect::Policy::none());
    }
    builder.build().map_err(|e| ClientError(error_chain(&e)))
}

/// A secret from its file, trailing whitespace trimmed (Prometheus's `TrimSpace`); an
/// unreadable file fails the attempt (retried: the file may be being rotated).
pub(crate) fn read_secret(what: &str, path: &str) -> Result<String, SendError> {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .map_err(|e| SendError::retry(format!("{what} {path:?}: {e}")))
}

/// `request` with `config`'s basic auth or `Authorization` header.
pub(crate) fn authorize(
    request: reqwest::RequestBuilder,
    config: Option<&HttpConfig>,
) -> Result<reqwest::RequestBuilder, SendError> {
    let Some(config) = config else {
        return Ok(request);
    };
    let mut request = request;
    if let Some(b) = &config.basic_auth {
        let password = match (&b.password, &b.password_file) {
            (_, Some(path)) => read_secret("basic_auth.password_file", path)?,
            (Some(p), None) => p.clone(),
            (None, None) => String::new(),
        };
        request = request.basic_auth(&b.username, Some(password));
    }
    if let Some(a) = &config.authorization {
        let credentials = match (&a.credentials, &a.credentials_file) {
            (_, Some(path)) => read_secret("authorization.credentials_file", path)?,
            (Some(c), None) => c.clone(),
            (None, None) => String::new(),
        };
        let kind = a.kind.as_deref().unwrap_or("Bearer");
        request = request.header(
            reqwest::header::AUTHORIZATION,
            format!("{kind} {credentials}"),
        );
    }
    Ok(request)
}

/// The outcome of an HTTP request as Alertmanager's `Retrier` judges it, plus 429 with
/// `Retry-After`: 2xx delivered; 5xx and 429 retried; anything else refused. Transport
/// errors (connection refused, reset, timeouts) are retried.
pub(crate) async fn check_response(
    result: Result<reqwest::Response, reqwest::Error>,
) -> Result<(), SendError> {
    let response = match result {
        Ok(r) => r,
        Err(e) if e.is_builder() => return Err(SendError::refused(error_chain(&e))),
        Err(e) => return Err(SendError::retry(error_chain(&e))),
    };
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_retry_after);
    let body = response.bytes().await.unwrap_or_default();
    let excerpt = String::from_utf8_lossy(&body[..body.len().min(512)]).into_owned();
    let mut message = format!("unexpected status code {}", status.as_u16());
    if !excerpt.trim().is_empty() {
        message.push_str(": ");
        message.push_str(excerpt.trim());
    }
    let kind = if status.is_server_error() || status.as_u16() == 429 {
        ErrorKind::Retry { retry_after }
    } else {
        ErrorKind::Refused
    };
    Err(SendError {
        kind,
        status: Some(status.as_u16()),
        message,
    })
}

/// `Retry-After` as seconds or an HTTP date (RFC 9110).
pub(crate) fn parse_retry_after(v: &str) -> Option<Duration> {
    let v = v.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(v).ok()?;
    Some(
        at.duration_since(std::time::SystemTime::now())
            .unwrap_or_default(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        assert_eq!(parse_retry_after(" 3 "), Some(Duration::from_secs(3)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[test]
    fn an_unreadable_ca_file_is_named() {
        let tls = TlsConfig {
            ca_file: Some("/nonexistent/ca.pem".into()),
            ..TlsConfig::default()
        };
        let e = client(Some(&HttpConfig {
            tls_config: tls,
            ..HttpConfig::default()
        }))
        .unwrap_err();
        assert!(e.0.contains("/nonexistent/ca.pem"), "{e}");
    }
}
