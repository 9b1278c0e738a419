//! Alertmanager's webhook: the notification as JSON (payload version "4"), POSTed to the
//! configured URL, so receivers written for Alertmanager work unchanged.

use serde::Serialize;

use super::http::{authorize, check_response};
use super::template::Data;
use super::SendError;
use crate::model::{LabelSet, Notification};
use crate::receiver::WebhookConfig;

/// One alert of the payload (Alertmanager's `template.Alert`).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct AlertJson<'a> {
    status: &'a str,
    labels: &'a LabelSet,
    annotations: &'a LabelSet,
    starts_at: &'a str,
    ends_at: &'a str,
    #[serde(rename = "generatorURL")]
    generator_url: &'a str,
    fingerprint: &'a str,
}

/// The payload, fields in the order Go's encoder writes them (the embedded
/// `template.Data` first, then `version`, `groupKey`, `truncatedAlerts`).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Message<'a> {
    receiver: &'a str,
    status: &'a str,
    alerts: Vec<AlertJson<'a>>,
    group_labels: &'a LabelSet,
    common_labels: &'a LabelSet,
    common_annotations: &'a LabelSet,
    #[serde(rename = "externalURL")]
    external_url: &'a str,
    version: &'static str,
    group_key: &'a str,
    truncated_alerts: u64,
}

/// The request body for `n` under `config`: at most `max_alerts` alerts (the rest
/// counted in `truncatedAlerts`), serialized as Go's `json.Encoder` does it (`<`, `>`,
/// `&`, U+2028 and U+2029 escaped, a final newline), so the bytes match Alertmanager's.
pub fn payload(config: &WebhookConfig, n: &Notification) -> Vec<u8> {
    let total = n.alerts.len() as u64;
    let kept = if config.max_alerts != 0 && total > config.max_alerts {
        &n.alerts[..usize::try_from(config.max_alerts).unwrap_or(n.alerts.len())]
    } else {
        &n.alerts[..]
    };
    let truncated = total - kept.len() as u64 + n.truncated_alerts;
    let data = Data::new(n, kept);
    let message = Message {
        receiver: &data.receiver,
        status: data.status,
        alerts: data
            .alerts
            .iter()
            .map(|a| AlertJson {
                status: a.status,
                labels: &a.labels,
                annotations: &a.annotations,
                starts_at: &a.starts_at,
                ends_at: &a.ends_at,
                generator_url: &a.generator_url,
                fingerprint: &a.fingerprint,
            })
            .collect(),
        group_labels: &data.group_labels,
        common_labels: &data.common_labels,
        common_annotations: &data.common_annotations,
        external_url: &data.external_url,
        version: "4",
        group_key: &n.group_key,
        truncated_alerts: truncated,
    };
    let json = serde_json::to_string(&message).unwrap_or_default();
    let mut out = String::with_capacity(json.len() + 1);
    for c in json.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out.push('\n');
    out.into_bytes()
}

/// One POST of `n` to the webhook.
pub async fn send(
    http: &reqwest::Client,
    config: &WebhookConfig,
    n: &Notification,
) -> Result<(), SendError> {
    let request = http
        .post(&config.url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(payload(config, n));
    let result = authorize(request, config.http_config.as_ref())?
        .send()
        .await;
    check_response(result).await
}
