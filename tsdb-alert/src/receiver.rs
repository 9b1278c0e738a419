//! Alertmanager's `receivers` and the notifier settings of its `global` section, in
//! Alertmanager's YAML shape: one receiver is a name and its integrations.
//!
//! The integration settings here are what the notifiers read; the configuration loader
//! (the route tree, inhibit rules, time intervals) only needs a receiver's name.

use serde::Deserialize;

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

/// A named receiver and its integrations.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Receiver {
    /// The name routes refer to.
    pub name: String,
    /// Alertmanager webhooks.
    #[serde(default)]
    pub webhook_configs: Vec<WebhookConfig>,
    /// PagerDuty Events API v2.
    #[serde(default)]
    pub pagerduty_configs: Vec<PagerdutyConfig>,
    /// Email over SMTP.
    #[serde(default)]
    pub email_configs: Vec<EmailConfig>,
    /// SMS and voice calls through a Twilio-compatible API (ours; not in Alertmanager).
    #[serde(default)]
    pub phone_configs: Vec<PhoneConfig>,
}

/// A webhook integration (being completed with the notifiers).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// Where the payload is POSTed.
    pub url: String,
}

/// A PagerDuty integration (being completed with the notifiers).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PagerdutyConfig {
    /// The Events API v2 integration key.
    pub routing_key: String,
}

/// An email integration (being completed with the notifiers).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailConfig {
    /// The recipient.
    pub to: String,
}

/// A phone integration (being completed with the notifiers).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PhoneConfig {
    /// The numbers called or texted.
    pub to: Vec<String>,
}
