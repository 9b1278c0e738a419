//! The notifiers: one notification to one integration of a receiver, sent once. The
//! outbox decides when (and whether again); a notifier only says how an attempt ended
//! ([`SendError`]: whether a retry can fix it).
//!
//! One file per integration: [`webhook`], [`pagerduty`], [`email`], [`phone`];
//! [`template`] renders their text; [`http`] builds the reqwest clients (rustls with the
//! workspace's ring provider; one shared client, and one per integration with an
//! `http_config`); email uses lettre.

pub mod email;
pub mod http;
pub mod pagerduty;
pub mod phone;
pub mod template;
pub mod webhook;

use std::sync::Arc;
use std::time::Duration;

use parking_lot::RwLock;
use serde::{Deserialize, Serialize};

use crate::model::{Alert, Notification};
use crate::receiver::{Global, Receiver, ReceiverError};

/// An integration kind, as named in metrics and in the meta-alert's `integration` label
/// (Alertmanager's integration names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// `webhook_configs`.
    Webhook,
    /// `pagerduty_configs`.
    Pagerduty,
    /// `email_configs`.
    Email,
    /// `phone_configs` (ours).
    Phone,
}

impl Kind {
    /// The lowercase name (`webhook`).
    pub fn name(self) -> &'static str {
        match self {
            Kind::Webhook => "webhook",
            Kind::Pagerduty => "pagerduty",
            Kind::Email => "email",
            Kind::Phone => "phone",
        }
    }
}

/// Where one delivery goes: an integration of the receiver by kind and position in its
/// list, and for phone integrations the one number.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Target {
    /// The integration kind.
    pub kind: Kind,
    /// Its position in the receiver's list of that kind.
    pub index: usize,
    /// The phone number (phone integrations only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
}

impl std::fmt::Display for Target {
    /// `webhook[0]`, `phone[1] +15550001`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}[{}]", self.kind.name(), self.index)?;
        if let Some(to) = &self.to {
            write!(f, " {to}")?;
        }
        Ok(())
    }
}

/// The targets of one notification to `receiver`, each with the alerts it sends: resolved
/// alerts left out where `send_resolved` is false, and the target left out when nothing
/// is left (Alertmanager's retry stage does the same).
pub fn targets(receiver: &Receiver, n: &Notification) -> Vec<(Target, Vec<Alert>)> {
    let alerts = |send_resolved: bool| -> Option<Vec<Alert>> {
        let list: Vec<Alert> = n
            .alerts
            .iter()
            .filter(|a| send_resolved || !a.is_resolved_at(n.flushed_at_ms))
            .cloned()
            .collect();
        (!list.is_empty()).then_some(list)
    };
    let mut out = Vec::new();
    let target = |kind, index| Target {
        kind,
        index,
        to: None,
    };
    for (i, c) in receiver.webhook_configs.iter().enumerate() {
        if let Some(a) = alerts(c.send_resolved) {
            out.push((target(Kind::Webhook, i), a));
        }
    }
    for (i, c) in receiver.pagerduty_configs.iter().enumerate() {
        if let Some(a) = alerts(c.send_resolved) {
            out.push((target(Kind::Pagerduty, i), a));
        }
    }
    for (i, c) in receiver.email_configs.iter().enumerate() {
        if let Some(a) = alerts(c.send_resolved) {
            out.push((target(Kind::Email, i), a));
        }
    }
    for (i, c) in receiver.phone_configs.iter().enumerate() {
        if let Some(a) = alerts(c.send_resolved) {
            for to in &c.to {
                out.push((
                    Target {
                        kind: Kind::Phone,
                        index: i,
                        to: Some(to.clone()),
                    },
                    a.clone(),
                ));
            }
        }
    }
    out
}

/// How an attempt failed, and whether a retry can fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SendError {
    /// What the outbox does next.
    pub kind: ErrorKind,
    /// The HTTP status, when there was a response.
    pub status: Option<u16>,
    /// What went wrong (the response body's start for HTTP errors).
    pub message: String,
}

/// What the outbox does after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// A retry can fix it (5xx, 429, timeouts, connection errors): back off and retry,
    /// not before `retry_after` when the receiver said so.
    Retry {
        /// The receiver's `Retry-After`.
        retry_after: Option<Duration>,
    },
    /// A retry cannot fix it (other 4xx, a message the relay refuses): give up.
    Refused,
    /// Not attempted: the number's hourly limit is used up until `until_ms`.
    RateLimited {
        /// When the window frees (Unix ms).
        until_ms: i64,
    },
}

impl SendError {
    /// A failure a retry can fix.
    pub fn retry(message: impl Into<String>) -> SendError {
        SendError {
            kind: ErrorKind::Retry { retry_after: None },
            status: None,
            message: message.into(),
        }
    }

    /// A failure a retry cannot fix.
    pub fn refused(message: impl Into<String>) -> SendError {
        SendError {
            kind: ErrorKind::Refused,
            status: None,
            message: message.into(),
        }
    }
}

/// The notifiers of the current configuration: the receivers by name, the `global`
/// defaults, the shared HTTP client and the phone numbers' hourly windows (kept across
/// [`Notifiers::reload`]).
pub struct Notifiers {
    config: RwLock<Arc<Config>>,
    http: reqwest::Client,
    phone_windows: phone::Windows,
}

struct Config {
    receivers: std::collections::HashMap<String, Receiver>,
    global: Global,
    /// The clients of integrations with an `http_config`, by receiver, kind and index.
    clients: std::collections::HashMap<(String, Kind, usize), reqwest::Client>,
}

impl std::fmt::Debug for Notifiers {
    /// Receiver names only: the integrations hold credentials.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<String> = self.config.read().receivers.keys().cloned().collect();
        f.debug_struct("Notifiers")
            .field("receivers", &names)
            .finish_non_exhaustive()
    }
}

/// The notifiers could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// A receiver's configuration cannot work.
    #[error(transparent)]
    Receiver(#[from] ReceiverError),
    /// The HTTP client could not be built.
    #[error("HTTP client: {0}")]
    Client(String),
}

impl Notifiers {
    /// Notifiers for `receivers` with `global`'s defaults; every receiver is checked
    /// ([`Receiver::check`]).
    pub fn new(receivers: &[Receiver], global: &Global) -> Result<Notifiers, NotifyError> {
        let config = Self::config(receivers, global)?;
        let http = http::client(None).map_err(|e| NotifyError::Client(e.0))?;
        Ok(Notifiers {
            config: RwLock::new(Arc::new(config)),
            http,
            phone_windows: phone::Windows::default(),
        })
    }

    fn config(receivers: &[Receiver], global: &Global) -> Result<Config, NotifyError> {
        let mut clients = std::collections::HashMap::new();
        for r in receivers {
            r.check(global)?;
            let configs = r
                .webhook_configs
                .iter()
                .map(|c| (Kind::Webhook, &c.http_config))
                .enumerate()
                .chain(
                    r.pagerduty_configs
                        .iter()
                        .map(|c| (Kind::Pagerduty, &c.http_config))
                        .enumerate(),
                );
            for (index, (kind, http_config)) in configs {
                if let Some(h) = http_config {
                    let client = http::client(Some(h)).map_err(|e| ReceiverError {
                        receiver: r.name.clone(),
                        integration: format!("{}_configs[{index}]", kind.name()),
                        reason: format!("http_config: {e}"),
                    })?;
                    clients.insert((r.name.clone(), kind, index), client);
                }
            }
        }
        Ok(Config {
            receivers: receivers
                .iter()
                .map(|r| (r.name.clone(), r.clone()))
                .collect(),
            global: global.clone(),
            clients,
        })
    }

    /// Replaces the configuration (a reload); deliveries already in the outbox go to the
    /// new settings of their receiver and integration.
    pub fn reload(&self, receivers: &[Receiver], global: &Global) -> Result<(), NotifyError> {
        let config = Self::config(receivers, global)?;
        *self.config.write() = Arc::new(config);
        Ok(())
    }

    /// The receiver named `name`, if configured.
    pub fn receiver(&self, name: &str) -> Option<Receiver> {
        self.config.read().receivers.get(name).cloned()
    }

    /// One attempt to send `n` (whose alerts are those this target sends) to `target` of
    /// `n.receiver`. A receiver or integration no longer configured is refused.
    pub async fn send(&self, target: &Target, n: &Notification) -> Result<(), SendError> {
        let config = self.config.read().clone();
        let Some(receiver) = config.receivers.get(&n.receiver) else {
            return Err(SendError::refused(format!(
                "receiver {:?} is no longer configured",
                n.receiver
            )));
        };
        let client = config
            .clients
            .get(&(n.receiver.clone(), target.kind, target.index))
            .unwrap_or(&self.http);
        let gone = || {
            SendError::refused(format!(
                "{target} of receiver {:?} is no longer configured",
                n.receiver
            ))
        };
        match target.kind {
            Kind::Webhook => {
                let c = receiver
                    .webhook_configs
                    .get(target.index)
                    .ok_or_else(gone)?;
                webhook::send(client, c, n).await
            }
            Kind::Pagerduty => {
                let c = receiver
                    .pagerduty_configs
                    .get(target.index)
                    .ok_or_else(gone)?;
                pagerduty::send(client, c, &config.global, n).await
            }
            Kind::Email => {
                let c = receiver.email_configs.get(target.index).ok_or_else(gone)?;
                email::send(c, &config.global, n).await
            }
            Kind::Phone => {
                let c = receiver.phone_configs.get(target.index).ok_or_else(gone)?;
                let to = target.to.as_deref().ok_or_else(gone)?;
                if !c.to.iter().any(|t| t == to) {
                    return Err(gone());
                }
                phone::send(&self.http, c, to, n, &self.phone_windows).await
            }
        }
    }
}

/// An error with its sources, for attempt records (`error sending request: connection
/// refused`).
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        let text = inner.to_string();
        if !s.contains(&text) {
            s.push_str(": ");
            s.push_str(&text);
        }
        source = inner.source();
    }
    s
}
