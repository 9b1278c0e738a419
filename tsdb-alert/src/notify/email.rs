//! Email over SMTP with lettre: one email per notification, text and HTML alternatives
//! from the built-in templates (or the configured ones), Alertmanager's default subject.
//!
//! The connection follows Alertmanager: port 465 is implicit TLS; otherwise STARTTLS when
//! `require_tls` (the default), plain SMTP when not. Authentication is PLAIN or LOGIN
//! (whichever the relay offers) when `auth_username` is set. `auth_identity` is accepted
//! but not sent: lettre's PLAIN has no authorization identity (relays use the username).
//! Failures the relay calls permanent (5xx replies) are not retried; transient replies,
//! connection and TLS errors are.

use std::time::Duration;

use lettre::address::{Address, Envelope};
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, Mailboxes, MultiPart};
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{Certificate, CertificateStore, Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::template::{render, Data};
use super::{error_chain, SendError};
use crate::model::Notification;
use crate::receiver::{split_host_port, EmailConfig, Global};

/// Alertmanager's default `Subject` header.
const DEFAULT_SUBJECT: &str = r#"{{ template "email.default.subject" . }}"#;

/// The email for `n` under `config`: `(envelope sender, recipients, message)`.
pub fn message(
    config: &EmailConfig,
    global: &Global,
    n: &Notification,
) -> Result<Message, SendError> {
    let data = Data::new(n, &n.alerts);
    let header = |name: &str| {
        config
            .headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| render(v, &data))
    };
    let from_text = render(
        config
            .from
            .as_deref()
            .or(global.smtp_from.as_deref())
            .unwrap_or_default(),
        &data,
    );
    let to_text = render(&config.to, &data);
    let from: Mailboxes = from_text
        .parse()
        .map_err(|e| SendError::refused(format!("from {from_text:?}: {e}")))?;
    let from: Vec<Mailbox> = from.into_iter().collect();
    let [from] = <[Mailbox; 1]>::try_from(from).map_err(|v| {
        SendError::refused(format!(
            "must be exactly one from address (got {})",
            v.len()
        ))
    })?;
    let to: Mailboxes = to_text
        .parse()
        .map_err(|e| SendError::refused(format!("to {to_text:?}: {e}")))?;
    let to: Vec<Mailbox> = to.into_iter().collect();
    let envelope = Envelope::new(
        Some(from.email.clone()),
        to.iter().map(|m| m.email.clone()).collect::<Vec<Address>>(),
    )
    .map_err(|e| SendError::refused(format!("envelope: {e}")))?;
    let mut builder = Message::builder()
        .from(from)
        .subject(header("Subject").unwrap_or_else(|| render(DEFAULT_SUBJECT, &data)))
        .envelope(envelope);
    for m in to {
        builder = builder.to(m);
    }
    let text = match &config.text {
        Some(t) => render(t, &data),
        None => data.email_text(),
    };
    let html = match &config.html {
        Some(t) => render(t, &data),
        None => data.email_html(),
    };
    let mut email = builder
        .multipart(MultiPart::alternative_plain_html(text, html))
        .map_err(|e| SendError::refused(format!("building the email: {e}")))?;
    for (name, value) in &config.headers {
        if name.eq_ignore_ascii_case("subject") {
            continue;
        }
        let name = HeaderName::new_from_ascii(name.clone())
            .map_err(|e| SendError::refused(format!("header {name:?}: {e}")))?;
        email
            .headers_mut()
            .insert_raw(HeaderValue::new(name, render(value, &data)));
    }
    Ok(email)
}

/// The TLS parameters for `host` under the config's `tls_config`.
fn tls_parameters(config: &EmailConfig, host: &str) -> Result<TlsParameters, SendError> {
    let tls = &config.tls_config;
    let name = tls.server_name.clone().unwrap_or_else(|| host.to_string());
    let mut builder =
        TlsParameters::builder(name).dangerous_accept_invalid_certs(tls.insecure_skip_verify);
    if let Some(ca) = &tls.ca_file {
        let pem = std::fs::read(ca)
            .map_err(|e| SendError::refused(format!("tls_config.ca_file {ca:?}: {e}")))?;
        let cert = Certificate::from_pem(&pem)
            .map_err(|e| SendError::refused(format!("tls_config.ca_file {ca:?}: {e}")))?;
        builder = builder
            .certificate_store(CertificateStore::None)
            .add_root_certificate(cert);
    }
    builder
        .build_rustls()
        .map_err(|e| SendError::refused(format!("TLS settings: {}", error_chain(&e))))
}

/// How the connection to the relay is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Connection {
    /// TLS from the first byte (SMTPS).
    ImplicitTls,
    /// STARTTLS, required: a relay that does not offer it is an error (retried).
    StartTls,
    /// No TLS.
    Plain,
}

/// Alertmanager's choice: port 465 is implicit TLS, otherwise STARTTLS if
/// `require_tls`, else plain.
pub fn connection(port: u16, require_tls: bool) -> Connection {
    if port == 465 {
        Connection::ImplicitTls
    } else if require_tls {
        Connection::StartTls
    } else {
        Connection::Plain
    }
}

/// One SMTP transaction sending `n`'s email.
pub async fn send(
    config: &EmailConfig,
    global: &Global,
    n: &Notification,
) -> Result<(), SendError> {
    let smarthost = config
        .smarthost
        .as_deref()
        .or(global.smtp_smarthost.as_deref())
        .unwrap_or_default();
    let (host, port) = split_host_port(smarthost).map_err(SendError::refused)?;
    let require_tls = config
        .require_tls
        .or(global.smtp_require_tls)
        .unwrap_or(true);
    let tls = match connection(port, require_tls) {
        Connection::ImplicitTls => Tls::Wrapper(tls_parameters(config, &host)?),
        Connection::StartTls => Tls::Required(tls_parameters(config, &host)?),
        Connection::Plain => Tls::None,
    };
    let hello = config
        .hello
        .clone()
        .or_else(|| global.smtp_hello.clone())
        .unwrap_or_else(|| "localhost".to_string());
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
        .port(port)
        .tls(tls)
        .hello_name(ClientId::Domain(hello))
        .timeout(Some(Duration::from_secs(30)));
    let username = config
        .auth_username
        .clone()
        .or_else(|| global.smtp_auth_username.clone());
    if let Some(user) = username.filter(|u| !u.is_empty()) {
        let password = match &config.auth_password_file {
            Some(path) => super::http::read_secret("auth_password_file", path)?,
            None => config
                .auth_password
                .clone()
                .or_else(|| global.smtp_auth_password.clone())
                .unwrap_or_default(),
        };
        builder = builder
            .credentials(Credentials::new(user, password))
            .authentication(vec![Mechanism::Plain, Mechanism::Login]);
    }
    let transport = builder.build();
    let email = message(config, global, n)?;
    match transport.send(email).await {
        Ok(_) => Ok(()),
        Err(e) => {
            let status = e.status().map(|c| {
                let code = c.to_string();
                code.parse::<u16>().unwrap_or(0)
            });
            let message = error_chain(&e);
            if e.is_permanent() {
                Err(SendError {
                    status,
                    ..SendError::refused(message)
                })
            } else {
                Err(SendError {
                    status,
                    ..SendError::retry(message)
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_465_is_implicit_tls_and_require_tls_is_starttls() {
        assert_eq!(connection(465, false), Connection::ImplicitTls);
        assert_eq!(connection(465, true), Connection::ImplicitTls);
        assert_eq!(connection(587, true), Connection::StartTls);
        assert_eq!(connection(25, false), Connection::Plain);
    }
}
