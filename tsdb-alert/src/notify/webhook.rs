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
    starts_at: String,
    ends_at: String,
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
                starts_at: go_time(&a.starts_at),
                ends_at: go_time(&a.ends_at),
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

/// A time as Go's `time.Time` JSON writes it (RFC 3339 with nanoseconds, trailing zeros
/// of the fraction dropped: `05.5Z`, not `05.500Z`), from [`crate::model::rfc3339`]'s
/// millisecond form (which keeps three digits, as Alertmanager's v2 API writes them).
pub fn go_time(rfc3339: &str) -> String {
    match rfc3339.split_once('.') {
        Some((seconds, fraction)) => {
            let (digits, zone) = fraction.split_at(
                fraction
                    .find(|c: char| !c.is_ascii_digit())
                    .unwrap_or(fraction.len()),
            );
            let digits = digits.trim_end_matches('0');
            if digits.is_empty() {
                format!("{seconds}{zone}")
            } else {
                format!("{seconds}.{digits}{zone}")
            }
        }
        None => rfc3339.to_string(),
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::rfc3339;

    #[test]
    fn times_are_written_as_gos_rfc3339nano() {
        assert_eq!(go_time(&rfc3339(Some(1_500))), "1970-01-01T00:00:01.5Z");
        assert_eq!(go_time(&rfc3339(Some(1_120))), "1970-01-01T00:00:01.12Z");
        assert_eq!(go_time(&rfc3339(Some(1_123))), "1970-01-01T00:00:01.123Z");
        assert_eq!(go_time(&rfc3339(Some(1_000))), "1970-01-01T00:00:01Z");
        assert_eq!(go_time(&rfc3339(None)), "0001-01-01T00:00:00Z");
    }
}
