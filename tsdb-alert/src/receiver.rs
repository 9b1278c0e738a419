//! Alertmanager's `receivers` and the notifier settings of its `global` section, in
//! Alertmanager's YAML shape: one receiver is a name and its integrations.
//!
//! The integration settings here are what the notifiers read; the configuration loader
//! (the route tree, inhibit rules, time intervals) only needs a receiver's name.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::notify::template::Template;

/// The notifier defaults of Alertmanager's `global` section, and `resolve_timeout`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Global {
    /// How long an alert without an end stays firing after its last update (default 5m),
    /// as text (`5m`).
    #[serde(default)]
    pub resolve_timeout: Option<String>,
    /// Default sender address of email configs.
    #[serde(default)]
    pub smtp_from: Option<String>,
    /// Default `host:port` of email configs.
    #[serde(default)]
    pub smtp_smarthost: Option<String>,
    /// Default EHLO name.
    #[serde(default)]
    pub smtp_hello: Option<String>,
    /// Default SMTP user.
    #[serde(default)]
    pub smtp_auth_username: Option<String>,
    /// Default SMTP password.
    #[serde(default)]
    pub smtp_auth_password: Option<String>,
    /// Default SMTP identity (PLAIN).
    #[serde(default)]
    pub smtp_auth_identity: Option<String>,
    /// Whether STARTTLS is required (Alertmanager's default: true).
    #[serde(default)]
    pub smtp_require_tls: Option<bool>,
    /// Default PagerDuty Events API URL.
    #[serde(default)]
    pub pagerduty_url: Option<String>,
}

/// A named receiver and its integrations. Deserializing checks what needs no `global`
/// section (URL schemes, templates, PagerDuty's Events v1 keys refused by name);
/// [`Receiver::check`] adds what does (an email's smarthost and sender).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "RawReceiver")]
pub struct Receiver {
    /// The name routes refer to.
    pub name: String,
    /// Alertmanager webhooks.
    pub webhook_configs: Vec<WebhookConfig>,
    /// PagerDuty Events API v2.
    pub pagerduty_configs: Vec<PagerdutyConfig>,
    /// Email over SMTP.
    pub email_configs: Vec<EmailConfig>,
    /// SMS and voice calls through a Twilio-compatible API (ours; not in Alertmanager).
    pub phone_configs: Vec<PhoneConfig>,
}

/// [`Receiver`] as written, before its checks.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawReceiver {
    name: String,
    #[serde(default)]
    webhook_configs: Vec<WebhookConfig>,
    #[serde(default)]
    pagerduty_configs: Vec<PagerdutyConfig>,
    #[serde(default)]
    email_configs: Vec<EmailConfig>,
    #[serde(default)]
    phone_configs: Vec<PhoneConfig>,
}

impl TryFrom<RawReceiver> for Receiver {
    type Error = String;

    fn try_from(r: RawReceiver) -> Result<Receiver, String> {
        let receiver = Receiver {
            name: r.name,
            webhook_configs: r.webhook_configs,
            pagerduty_configs: r.pagerduty_configs,
            email_configs: r.email_configs,
            phone_configs: r.phone_configs,
        };
        receiver.check_templates().map_err(|e| e.to_string())?;
        Ok(receiver)
    }
}

/// A receiver's configuration that cannot work, naming the receiver and integration.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("receiver {receiver:?}: {integration}: {reason}")]
pub struct ReceiverError {
    /// The receiver's name.
    pub receiver: String,
    /// The integration (`webhook_configs[0]`).
    pub integration: String,
    /// What is wrong.
    pub reason: String,
}

impl Receiver {
    fn error(&self, integration: String, reason: impl Into<String>) -> ReceiverError {
        ReceiverError {
            receiver: self.name.clone(),
            integration,
            reason: reason.into(),
        }
    }

    /// The checks that need no `global` section: URLs, templates, phone modes.
    fn check_templates(&self) -> Result<(), ReceiverError> {
        for (i, w) in self.webhook_configs.iter().enumerate() {
            let at = format!("webhook_configs[{i}]");
            check_http_url(&w.url).map_err(|e| self.error(at, format!("url: {e}")))?;
        }
        for (i, p) in self.pagerduty_configs.iter().enumerate() {
            let at = format!("pagerduty_configs[{i}]");
            if let Some(url) = &p.url {
                check_http_url(url).map_err(|e| self.error(at.clone(), format!("url: {e}")))?;
            }
            let fields = [
                ("client", &p.client),
                ("client_url", &p.client_url),
                ("description", &p.description),
                ("severity", &p.severity),
                ("class", &p.class),
                ("component", &p.component),
                ("group", &p.group),
                ("source", &p.source),
            ];
            for (name, text) in fields {
                if let Some(text) = text {
                    Template::parse(text)
                        .map_err(|e| self.error(at.clone(), format!("{name}: {e}")))?;
                }
            }
            for (j, image) in p.images.iter().enumerate() {
                for (name, text) in [
                    ("src", &image.src),
                    ("alt", &image.alt),
                    ("href", &image.href),
                ] {
                    Template::parse(text)
                        .map_err(|e| self.error(at.clone(), format!("images[{j}].{name}: {e}")))?;
                }
            }
            for (j, link) in p.links.iter().enumerate() {
                for (name, text) in [("href", &link.href), ("text", &link.text)] {
                    Template::parse(text)
                        .map_err(|e| self.error(at.clone(), format!("links[{j}].{name}: {e}")))?;
                }
            }
            for (k, v) in &p.details {
                Template::parse(v)
                    .map_err(|e| self.error(at.clone(), format!("details.{k}: {e}")))?;
            }
        }
        for (i, e) in self.email_configs.iter().enumerate() {
            let at = format!("email_configs[{i}]");
            if e.to.trim().is_empty() {
                return Err(self.error(at, "missing to address"));
            }
            for (name, text) in [("html", &e.html), ("text", &e.text)] {
                if let Some(text) = text {
                    Template::parse(text)
                        .map_err(|err| self.error(at.clone(), format!("{name}: {err}")))?;
                }
            }
            let mut seen = std::collections::BTreeSet::new();
            for (k, v) in &e.headers {
                if !seen.insert(k.to_ascii_lowercase()) {
                    return Err(self.error(at, format!("duplicate header {k:?}")));
                }
                Template::parse(v)
                    .map_err(|err| self.error(at.clone(), format!("headers.{k}: {err}")))?;
            }
        }
        for (i, p) in self.phone_configs.iter().enumerate() {
            let at = format!("phone_configs[{i}]");
            check_http_url(&p.api_url)
                .map_err(|e| self.error(at.clone(), format!("api_url: {e}")))?;
            if p.to.is_empty() {
                return Err(self.error(at, "missing to numbers"));
            }
            if p.account_sid.is_empty() || p.auth_token.is_empty() || p.from.is_empty() {
                return Err(self.error(at, "account_sid, auth_token and from are required"));
            }
            if p.max_per_hour == 0 {
                return Err(self.error(at, "max_per_hour must be at least 1"));
            }
        }
        Ok(())
    }

    /// Every check, with the `global` defaults applied as Alertmanager applies them at
    /// load time (an email without `smarthost` or `from` and no global one is an error).
    /// The configuration loader calls it for each receiver.
    pub fn check(&self, global: &Global) -> Result<(), ReceiverError> {
        self.check_templates()?;
        for (i, e) in self.email_configs.iter().enumerate() {
            let at = format!("email_configs[{i}]");
            let smarthost = e.smarthost.as_ref().or(global.smtp_smarthost.as_ref());
            match smarthost {
                None => return Err(self.error(at, "no smarthost and no global smtp_smarthost")),
                Some(h) => {
                    split_host_port(h)
                        .map_err(|r| self.error(at.clone(), format!("smarthost: {r}")))?;
                }
            }
            if e.from.as_ref().or(global.smtp_from.as_ref()).is_none() {
                return Err(self.error(at, "no from and no global smtp_from"));
            }
        }
        Ok(())
    }

    /// How many deliveries one notification to this receiver makes: one per integration,
    /// and one per number of each phone integration (numbers are paged independently, so
    /// a retry never re-pages a number that already answered).
    pub fn integration_count(&self) -> usize {
        self.webhook_configs.len()
            + self.pagerduty_configs.len()
            + self.email_configs.len()
            + self.phone_configs.iter().map(|p| p.to.len()).sum::<usize>()
    }
}

/// `host:port` split, as Go's `net.SplitHostPort` (IPv6 in brackets).
pub(crate) fn split_host_port(s: &str) -> Result<(String, u16), String> {
    let (host, port) = s
        .rsplit_once(':')
        .ok_or_else(|| format!("{s:?} is not host:port"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let port: u16 = port
        .parse()
        .map_err(|_| format!("{s:?}: port {port:?} is not a number"))?;
    if host.is_empty() {
        return Err(format!("{s:?} has no host"));
    }
    Ok((host.to_string(), port))
}

fn check_http_url(url: &str) -> Result<(), String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("{url:?}: {e}"))?;
    match parsed.scheme() {
        "http" | "https" => Ok(()),
        other => Err(format!("{url:?}: scheme {other:?} is not http or https")),
    }
}

fn yes() -> bool {
    true
}

/// A webhook integration: Alertmanager's payload version 4 POSTed as JSON.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// Whether resolved notifications are sent (default true).
    #[serde(default = "yes")]
    pub send_resolved: bool,
    /// Auth and TLS of the requests.
    #[serde(default)]
    pub http_config: Option<HttpConfig>,
    /// Where the payload is POSTed.
    pub url: String,
    /// At most this many alerts per message, the rest counted in `truncatedAlerts`
    /// (0: all).
    #[serde(default)]
    pub max_alerts: u64,
}

/// A PagerDuty Events API v2 integration. The Events API v1 (`service_key`) is refused
/// by name: PagerDuty retired it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "RawPagerduty")]
pub struct PagerdutyConfig {
    /// Whether resolve events are sent (default true).
    pub send_resolved: bool,
    /// Auth and TLS of the requests.
    pub http_config: Option<HttpConfig>,
    /// The Events API v2 integration key (empty when `routing_key_file` is set).
    pub routing_key: String,
    /// A file holding the key (read at each attempt, trimmed).
    pub routing_key_file: Option<String>,
    /// Images attached to the event.
    pub images: Vec<PagerdutyImage>,
    /// Links attached to the event.
    pub links: Vec<PagerdutyLink>,
    /// The Events API endpoint (default: `global.pagerduty_url`, else
    /// `https://events.pagerduty.com/v2/enqueue`).
    pub url: Option<String>,
    /// The `client` of the event (default `Alertmanager`, as Alertmanager's template).
    pub client: Option<String>,
    /// The `client_url` (default: the manager's alerts page for the receiver).
    pub client_url: Option<String>,
    /// The summary template (default: the `[FIRING:N] …` subject).
    pub description: Option<String>,
    /// The severity: `critical`, `error`, `warning` or `info` (default `error`).
    pub severity: Option<String>,
    /// The event's class.
    pub class: Option<String>,
    /// The event's component.
    pub component: Option<String>,
    /// The event's group.
    pub group: Option<String>,
    /// The `custom_details`, templates by key; Alertmanager's `firing`, `resolved`,
    /// `num_firing` and `num_resolved` are added unless set.
    pub details: BTreeMap<String, String>,
    /// The event's source (default: the client).
    pub source: Option<String>,
}

/// An image of a PagerDuty event (templates).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PagerdutyImage {
    /// The image URL (an image without one is left out).
    #[serde(default)]
    pub src: String,
    /// Its alternative text.
    #[serde(default)]
    pub alt: String,
    /// Where it links to.
    #[serde(default)]
    pub href: String,
}

/// A link of a PagerDuty event (templates).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PagerdutyLink {
    /// The URL (a link without one is left out).
    #[serde(default)]
    pub href: String,
    /// Its text.
    #[serde(default)]
    pub text: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPagerduty {
    #[serde(default = "yes")]
    send_resolved: bool,
    #[serde(default)]
    http_config: Option<HttpConfig>,
    #[serde(default)]
    routing_key: Option<String>,
    #[serde(default)]
    routing_key_file: Option<String>,
    #[serde(default)]
    images: Vec<PagerdutyImage>,
    #[serde(default)]
    links: Vec<PagerdutyLink>,
    #[serde(default)]
    service_key: Option<String>,
    #[serde(default)]
    service_key_file: Option<String>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    client: Option<String>,
    #[serde(default)]
    client_url: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    severity: Option<String>,
    #[serde(default)]
    class: Option<String>,
    #[serde(default)]
    component: Option<String>,
    #[serde(default)]
    group: Option<String>,
    #[serde(default)]
    details: BTreeMap<String, String>,
    #[serde(default)]
    source: Option<String>,
}

impl TryFrom<RawPagerduty> for PagerdutyConfig {
    type Error = String;

    fn try_from(r: RawPagerduty) -> Result<PagerdutyConfig, String> {
        if r.service_key.is_some() || r.service_key_file.is_some() {
            return Err(
                "pagerduty_configs: service_key (PagerDuty Events API v1) is not \
                        supported; use routing_key (Events API v2)"
                    .into(),
            );
        }
        let routing_key = r.routing_key.unwrap_or_default();
        match (routing_key.is_empty(), &r.routing_key_file) {
            (true, None) => return Err("pagerduty_configs: missing routing_key".into()),
            (false, Some(_)) => {
                return Err(
                    "pagerduty_configs: at most one of routing_key & routing_key_file must be \
                     configured"
                        .into(),
                )
            }
            _ => {}
        }
        Ok(PagerdutyConfig {
            send_resolved: r.send_resolved,
            http_config: r.http_config,
            routing_key,
            routing_key_file: r.routing_key_file,
            images: r.images,
            links: r.links,
            url: r.url,
            client: r.client,
            client_url: r.client_url,
            description: r.description,
            severity: r.severity,
            class: r.class,
            component: r.component,
            group: r.group,
            details: r.details,
            source: r.source,
        })
    }
}

/// TLS settings (Prometheus common's `tls_config`; client certificates are not
/// supported and refused as unknown keys).
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// Trust this PEM file's certificates instead of the system's roots.
    #[serde(default)]
    pub ca_file: Option<String>,
    /// The name the certificate must carry (default: the server's host).
    #[serde(default)]
    pub server_name: Option<String>,
    /// Accept any certificate (tests, self-signed servers).
    #[serde(default)]
    pub insecure_skip_verify: bool,
}

/// Basic auth of an HTTP integration.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BasicAuth {
    /// The user.
    pub username: String,
    /// The password.
    #[serde(default)]
    pub password: Option<String>,
    /// A file holding the password (read at each attempt, trailing whitespace trimmed).
    #[serde(default)]
    pub password_file: Option<String>,
}

/// The `Authorization` header of an HTTP integration.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Authorization {
    /// The scheme (default `Bearer`).
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    /// The credentials.
    #[serde(default)]
    pub credentials: Option<String>,
    /// A file holding the credentials (read at each attempt, trimmed).
    #[serde(default)]
    pub credentials_file: Option<String>,
}

/// The `http_config` of webhook and PagerDuty integrations (Prometheus common's
/// `HTTPClientConfig`, the part receivers use in practice: auth and TLS). OAuth 2,
/// proxies and the deprecated `bearer_token` are refused as unknown keys.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// Basic auth.
    #[serde(default)]
    pub basic_auth: Option<BasicAuth>,
    /// An `Authorization` header.
    #[serde(default)]
    pub authorization: Option<Authorization>,
    /// TLS settings.
    #[serde(default)]
    pub tls_config: TlsConfig,
    /// Whether redirects are followed (default true).
    #[serde(default)]
    pub follow_redirects: Option<bool>,
}

/// An email integration: one email per notification over SMTP.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailConfig {
    /// Whether resolved notifications are sent (default false).
    #[serde(default)]
    pub send_resolved: bool,
    /// The recipients (comma-separated addresses, a template).
    pub to: String,
    /// The sender (default `global.smtp_from`).
    #[serde(default)]
    pub from: Option<String>,
    /// The relay's `host:port` (default `global.smtp_smarthost`); port 465 is implicit
    /// TLS.
    #[serde(default)]
    pub smarthost: Option<String>,
    /// The EHLO name (default `global.smtp_hello`, else `localhost`).
    #[serde(default)]
    pub hello: Option<String>,
    /// The SMTP user; no authentication without one.
    #[serde(default)]
    pub auth_username: Option<String>,
    /// The SMTP password (PLAIN or LOGIN).
    #[serde(default)]
    pub auth_password: Option<String>,
    /// A file holding the password (read at each attempt, trailing whitespace trimmed).
    #[serde(default)]
    pub auth_password_file: Option<String>,
    /// The PLAIN authorization identity (accepted; lettre sends none, see the notifier).
    #[serde(default)]
    pub auth_identity: Option<String>,
    /// Whether STARTTLS is required (default `global.smtp_require_tls`, else true);
    /// false: plain SMTP.
    #[serde(default)]
    pub require_tls: Option<bool>,
    /// TLS settings.
    #[serde(default)]
    pub tls_config: TlsConfig,
    /// Extra headers (templates); `Subject`, `To` and `From` override the defaults.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// The HTML body template (default: the built-in `email.default.html`).
    #[serde(default)]
    pub html: Option<String>,
    /// The text body template (default: the built-in text list of alerts).
    #[serde(default)]
    pub text: Option<String>,
}

/// How a phone integration reaches its numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PhoneMode {
    /// A text message (at most 160 characters).
    #[default]
    Sms,
    /// A voice call reading the message.
    Voice,
}

fn twilio() -> String {
    "https://api.twilio.com".into()
}

fn ten() -> u32 {
    10
}

/// A phone integration (ours): SMS or voice calls through a Twilio-compatible API, each
/// number paged at most `max_per_hour` times an hour.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PhoneConfig {
    /// Whether resolved notifications are sent (default false: a page is for action).
    #[serde(default)]
    pub send_resolved: bool,
    /// The account SID (the basic-auth user and part of the API path).
    pub account_sid: String,
    /// The auth token (the basic-auth password).
    pub auth_token: String,
    /// The calling number.
    pub from: String,
    /// The numbers called or texted.
    pub to: Vec<String>,
    /// SMS or voice (default `sms`).
    #[serde(default)]
    pub mode: PhoneMode,
    /// The API's base URL (default `https://api.twilio.com`).
    #[serde(default = "twilio")]
    pub api_url: String,
    /// At most this many messages or calls to one number in any hour (default 10); more
    /// wait for the window (see the phone notifier).
    #[serde(default = "ten")]
    pub max_per_hour: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> Result<Receiver, String> {
        serde_saphyr::from_str::<Receiver>(yaml).map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_are_alertmanagers() {
        let r = parse(
            "name: all\nwebhook_configs:\n  - url: http://h/x\npagerduty_configs:\n  - routing_key: k\nemail_configs:\n  - to: a@b.c\nphone_configs:\n  - {account_sid: AC1, auth_token: t, from: '+1', to: ['+2', '+3']}\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(r.webhook_configs[0].send_resolved);
        assert_eq!(r.webhook_configs[0].max_alerts, 0);
        assert!(r.pagerduty_configs[0].send_resolved);
        assert!(!r.email_configs[0].send_resolved);
        assert_eq!(r.email_configs[0].require_tls, None);
        let p = &r.phone_configs[0];
        assert!(!p.send_resolved);
        assert_eq!(p.mode, PhoneMode::Sms);
        assert_eq!(p.api_url, "https://api.twilio.com");
        assert_eq!(p.max_per_hour, 10);
        assert_eq!(r.integration_count(), 5);
    }

    #[test]
    fn unsupported_settings_are_refused_by_name() {
        let e = parse("name: p\npagerduty_configs:\n  - service_key: abc\n").unwrap_err();
        assert!(
            e.contains("service_key (PagerDuty Events API v1) is not supported"),
            "{e}"
        );
        let e =
            parse("name: w\nwebhook_configs:\n  - url: http://h\n    http_config: {oauth2: {}}\n")
                .unwrap_err();
        assert!(e.contains("oauth2"), "{e}");
        let e = parse("name: m\nemail_configs:\n  - {to: a@b.c, auth_secret: x}\n").unwrap_err();
        assert!(e.contains("auth_secret"), "{e}");
        let e = parse("name: p\npagerduty_configs:\n  - {routing_key: k, routing_key_file: /f}\n")
            .unwrap_err();
        assert!(e.contains("at most one of routing_key"), "{e}");
        let e = parse("name: w\nwebhook_configs:\n  - url: ftp://h/x\n").unwrap_err();
        assert!(e.contains("scheme"), "{e}");
        let e = parse("name: p\npagerduty_configs:\n  - routing_key: k\n    description: '{{ range .Alerts }}x{{ end }}'\n").unwrap_err();
        assert!(e.contains("unsupported template action"), "{e}");
        let e = parse("name: s\nphone_configs:\n  - {account_sid: A, auth_token: t, from: '+1', to: ['+2'], mode: fax}\n").unwrap_err();
        assert!(e.contains("fax"), "{e}");
    }

    #[test]
    fn email_needs_a_smarthost_and_sender_here_or_in_global() {
        let r = parse("name: m\nemail_configs:\n  - to: a@b.c\n").unwrap_or_else(|e| panic!("{e}"));
        let e = r.check(&Global::default()).unwrap_err();
        assert!(e.to_string().contains("smtp_smarthost"), "{e}");
        let global = Global {
            smtp_smarthost: Some("mail:25".into()),
            smtp_from: Some("am@b.c".into()),
            ..Global::default()
        };
        assert_eq!(r.check(&global), Ok(()));
        let bad = Global {
            smtp_smarthost: Some("mail".into()),
            ..global
        };
        assert!(r.check(&bad).is_err());
    }
}
