//! The HTTP side of a scrape, as Prometheus 2.42's `targetScraper.scrape`
//! (`scrape/scrape.go`) does it: one [`Scraper`] (an HTTP client) per scrape config, built
//! once from its `basic_auth`, `authorization` and `tls_config`, and [`Scraper::fetch`]
//! for one target: a `GET` of the target's URL with Prometheus's headers, the target's
//! timeout, gzip decoding and `body_size_limit`.
//!
//! What is done as Prometheus does it:
//! - Headers: `Accept` ([`ACCEPT_HEADER`], OpenMetrics preferred, then text 0.0.4),
//!   `Accept-Encoding: gzip`, `User-Agent`, and `X-Prometheus-Scrape-Timeout-Seconds` (the
//!   timeout in seconds, written as Go's `FormatFloat(s, 'f', -1, 64)`).
//! - Any status other than `200` fails the scrape: `server returned HTTP status 500
//!   Internal Server Error`.
//! - `body_size_limit` counts decoded bytes; a body that reaches it fails the scrape with
//!   `body size limit exceeded` (Prometheus's `n >= limit`), and reading stops there.
//! - The timeout covers the whole request, connecting to reading the last byte; its error
//!   reads `Get "<url>": context deadline exceeded`, as Go words it.
//! - Redirects are followed (up to 10, Go's default and `follow_redirects: true`).
//!
//! Where we differ: credentials files (`password_file`, `credentials_file`) are read when
//! the client is built (at start and at each reload), not at every scrape. HTTP/2 is not
//! offered (Prometheus 2.42 offers it over TLS); `/metrics` bodies gain nothing from it.
//! `tls_config.server_name` sets the name the certificate is verified against; the SNI
//! sent is still the URL's host.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use bytes::{Bytes, BytesMut};
use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, ACCEPT_ENCODING, AUTHORIZATION, USER_AGENT};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::config::{Authorization, BasicAuth, ScrapeConfig, TlsConfig};
use crate::scrape::ScrapeError;
use crate::target::Target;

/// Prometheus 2.42's scrape `Accept` header (`acceptHeader` in `scrape/scrape.go`).
pub const ACCEPT_HEADER: &str = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

/// The `User-Agent` of our scrapes (Prometheus sends `Prometheus/<version>`).
pub const USER_AGENT_VALUE: &str = concat!("tsdb-scrape/", env!("CARGO_PKG_VERSION"));

/// The header telling the target how long the scrape may take.
pub const SCRAPE_TIMEOUT_HEADER: &str = "X-Prometheus-Scrape-Timeout-Seconds";

/// Why a scrape config's HTTP client cannot be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// A file the config names cannot be read.
    #[error("unable to read {what} {path}: {source}")]
    ReadFile {
        /// Which setting names it (`password_file`, `ca_file`, ...).
        what: &'static str,
        /// The path.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// A certificate or key file holds nothing usable.
    #[error("{what} {path}: {reason}")]
    Pem {
        /// Which setting names it.
        what: &'static str,
        /// The path.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// The TLS settings are refused by rustls, or the credentials are not a valid header.
    #[error("{0}")]
    Tls(String),
    /// The HTTP client cannot be built.
    #[error("building the HTTP client: {0}")]
    Build(String),
}

/// The HTTP client of one scrape config. Cheap to share: reqwest's client is an `Arc`
/// over a connection pool, so every target of the job reuses its connections.
#[derive(Clone)]
pub struct Scraper {
    client: reqwest::Client,
    /// Headers sent on every request (`Accept`, `Authorization`, ...).
    headers: HeaderMap,
    body_size_limit: u64,
}

impl fmt::Debug for Scraper {
    /// No headers: they may hold credentials.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scraper")
            .field("body_size_limit", &self.body_size_limit)
            .finish_non_exhaustive()
    }
}

fn read_file(what: &'static str, path: &str) -> Result<Vec<u8>, ClientError> {
    std::fs::read(path).map_err(|source| ClientError::ReadFile {
        what,
        path: path.to_string(),
        source,
    })
}

/// A credentials file's content, trailing whitespace trimmed (Prometheus's
/// `strings.TrimSpace`).
fn read_secret(what: &'static str, path: &str) -> Result<String, ClientError> {
    let bytes = read_file(what, path)?;
    Ok(String::from_utf8_lossy(&bytes).trim().to_string())
}

fn header_value(v: &str) -> Result<HeaderValue, ClientError> {
    let mut h = HeaderValue::from_str(v)
        .map_err(|_| ClientError::Tls("credentials are not a valid HTTP header value".into()))?;
    h.set_sensitive(true);
    Ok(h)
}

/// The `Authorization` header of Prometheus's HTTP client settings (`basic_auth` or
/// `authorization`), secrets read from their files now. Shared by scrapes and by every
/// other client configured in Prometheus's shape (the Alertmanager sender).
pub fn auth_headers(
    basic_auth: Option<&BasicAuth>,
    authorization: Option<&Authorization>,
) -> Result<HeaderMap, ClientError> {
    let mut headers = HeaderMap::new();
    if let Some(b) = basic_auth {
        let password = if b.password_file.is_empty() {
            b.password.clone()
        } else {
            read_secret("password_file", &b.password_file)?
        };
        let raw = format!("{}:{}", b.username, password);
        let encoded = base64::engine::general_purpose::STANDARD.encode(raw.as_bytes());
        headers.insert(AUTHORIZATION, header_value(&format!("Basic {encoded}"))?);
    }
    if let Some(a) = authorization {
        let credentials = if a.credentials_file.is_empty() {
            a.credentials.clone()
        } else {
            read_secret("credentials_file", &a.credentials_file)?
        };
        let kind = if a.kind.is_empty() { "Bearer" } else { &a.kind };
        headers.insert(
            AUTHORIZATION,
            header_value(&format!("{kind} {credentials}"))?,
        );
    }
    Ok(headers)
}

/// An HTTP client with `tls`'s settings (the workspace's ring provider, the system's
/// roots unless `ca_file`), gzip, and no proxy from the environment.
pub fn http_client(tls: &TlsConfig) -> Result<reqwest::Client, ClientError> {
    let tls = tls_client_config(tls)?;
    reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .no_proxy()
        .gzip(true)
        .build()
        .map_err(|e| ClientError::Build(error_chain(&e)))
}

impl Scraper {
    /// The client for `cfg`'s targets: auth headers, TLS (the workspace's ring provider),
    /// gzip, and the body size limit. Files named by the config are read now.
    pub fn new(cfg: &ScrapeConfig) -> Result<Scraper, ClientError> {
        let mut headers = auth_headers(cfg.basic_auth.as_ref(), cfg.authorization.as_ref())?;
        headers.insert(ACCEPT, HeaderValue::from_static(ACCEPT_HEADER));
        headers.insert(ACCEPT_ENCODING, HeaderValue::from_static("gzip"));
        headers.insert(USER_AGENT, HeaderValue::from_static(USER_AGENT_VALUE));
        let client = http_client(&cfg.tls_config)?;
        Ok(Scraper {
            client,
            headers,
            body_size_limit: cfg.body_size_limit,
        })
    }

    /// Fetches `target`'s body within its scrape timeout: the decoded bytes and the
    /// response's `Content-Type`. Every failure is a [`ScrapeError::Fetch`] worded as
    /// Prometheus's `lastError`.
    pub async fn fetch(&self, target: &Target) -> Result<(Bytes, Option<String>), ScrapeError> {
        let url = target.url();
        let timeout = target.scrape_timeout();
        let go_err = |e: reqwest::Error| {
            if e.is_timeout() {
                ScrapeError::Fetch(format!("Get {url:?}: context deadline exceeded"))
            } else {
                ScrapeError::Fetch(format!("Get {url:?}: {}", error_chain(&e)))
            }
        };
        let mut req = self
            .client
            .get(url)
            .headers(self.headers.clone())
            .header(SCRAPE_TIMEOUT_HEADER, go_seconds(timeout));
        if !timeout.is_zero() {
            req = req.timeout(timeout);
        }
        let mut resp = req.send().await.map_err(go_err)?;
        let status = resp.status();
        if status != reqwest::StatusCode::OK {
            // Go's resp.Status: "500 Internal Server Error".
            let reason = status.canonical_reason().unwrap_or("");
            let text = format!("{} {}", status.as_u16(), reason);
            return Err(ScrapeError::Fetch(format!(
                "server returned HTTP status {}",
                text.trim_end()
            )));
        }
        let content_type = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let limit = self.body_size_limit;
        let mut body = BytesMut::new();
        while let Some(chunk) = resp.chunk().await.map_err(go_err)? {
            body.extend_from_slice(&chunk);
            if limit > 0 && body.len() as u64 >= limit {
                return Err(ScrapeError::Fetch("body size limit exceeded".into()));
            }
        }
        Ok((body.freeze(), content_type))
    }
}

/// The innermost cause of an error: what went wrong (`Connection refused (os error
/// 111)`, `invalid peer certificate: UnknownIssuer`) without reqwest's and hyper's
/// wrappers (`error sending request for url (...)`, `client error (Connect)`), which
/// repeat the URL that the message already starts with, as Go's does.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut inner = e;
    while let Some(cause) = inner.source() {
        inner = cause;
    }
    inner.to_string()
}

/// Seconds as Go's `strconv.FormatFloat(d.Seconds(), 'f', -1, 64)`: the shortest decimal
/// that reads back the same, no exponent (`10`, `0.5`).
pub fn go_seconds(d: Duration) -> String {
    // Rust's `Display` for f64 is also shortest-round-trip without exponent.
    format!("{}", d.as_secs_f64())
}

/// The ring provider, as everywhere in the workspace (the process-wide default is left
/// alone: an embedder may have installed another).
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    #[expect(
        deprecated,
        reason = "ring has no post-quantum key exchange; the workspace keeps ring rather than \
                  aws-lc-rs, whose C/CMake build it does not take on (see the server's tls.rs)"
    )]
    let provider = rustls::crypto::ring::default_provider();
    Arc::new(provider)
}

fn read_certs(what: &'static str, path: &str) -> Result<Vec<CertificateDer<'static>>, ClientError> {
    let pem = read_file(what, path)?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<_, _>>()
        .map_err(|e| ClientError::Pem {
            what,
            path: path.to_string(),
            reason: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(ClientError::Pem {
            what,
            path: path.to_string(),
            reason: "no certificate found".into(),
        });
    }
    Ok(certs)
}

/// The rustls client config for `tls` (the workspace's ring provider): roots from
/// `ca_file` or the system's, the client certificate if set, and the verifier
/// (`insecure_skip_verify`, `server_name`). Shared by every HTTP client configured in
/// Prometheus's shape (scrapes, the alert notifiers).
pub fn tls_client_config(tls: &TlsConfig) -> Result<rustls::ClientConfig, ClientError> {
    let provider = provider();
    let mut roots = RootCertStore::empty();
    if tls.ca_file.is_empty() {
        // The system's store; certificates it cannot parse are skipped, as Go does.
        let found = rustls_native_certs::load_native_certs();
        for cert in found.certs {
            let _ = roots.add(cert);
        }
    } else {
        for cert in read_certs("ca_file", &tls.ca_file)? {
            roots.add(cert).map_err(|e| ClientError::Pem {
                what: "ca_file",
                path: tls.ca_file.clone(),
                reason: e.to_string(),
            })?;
        }
    }
    let roots = Arc::new(roots);
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| ClientError::Tls(e.to_string()))?;
    let verifier: Arc<dyn ServerCertVerifier> = {
        let webpki = rustls::client::WebPkiServerVerifier::builder_with_provider(
            roots.clone(),
            provider.clone(),
        )
        .build()
        .map_err(|e| ClientError::Tls(e.to_string()));
        if tls.insecure_skip_verify {
            Arc::new(SkipVerify(provider.clone()))
        } else {
            let inner = webpki?;
            if tls.server_name.is_empty() {
                inner
            } else {
                let name = ServerName::try_from(tls.server_name.clone())
                    .map_err(|e| ClientError::Tls(format!("server_name: {e}")))?;
                Arc::new(FixedName { inner, name })
            }
        }
    };
    let builder = builder
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let config = if tls.cert_file.is_empty() {
        builder.with_no_client_auth()
    } else {
        let certs = read_certs("cert_file", &tls.cert_file)?;
        let key_pem = read_file("key_file", &tls.key_file)?;
        let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| ClientError::Pem {
            what: "key_file",
            path: tls.key_file.clone(),
            reason: e.to_string(),
        })?;
        builder
            .with_client_auth_cert(certs, key)
            .map_err(|e| ClientError::Tls(e.to_string()))?
    };
    Ok(config)
}

/// `insecure_skip_verify`: any certificate is accepted; signatures are still checked so
/// the handshake stays well-formed.
#[derive(Debug)]
struct SkipVerify(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for SkipVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// `server_name`: the certificate is verified against this name instead of the URL's
/// host.
#[derive(Debug)]
struct FixedName {
    inner: Arc<rustls::client::WebPkiServerVerifier>,
    name: ServerName<'static>,
}

impl ServerCertVerifier for FixedName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.inner
            .verify_server_cert(end_entity, intermediates, &self.name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_as_go_writes_them() {
        assert_eq!(go_seconds(Duration::from_secs(10)), "10");
        assert_eq!(go_seconds(Duration::from_millis(500)), "0.5");
        assert_eq!(go_seconds(Duration::from_millis(150)), "0.15");
    }
}
