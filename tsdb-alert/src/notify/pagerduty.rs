//! PagerDuty's Events API v2: a `trigger` while any alert of the group fires, a
//! `resolve` when all are resolved, both with the same `dedup_key` (the SHA-256 of the
//! group key in hex, as Alertmanager's `Key.Hash`), so PagerDuty pairs them into one
//! incident.

use std::collections::BTreeMap;

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::http::{authorize, check_response, read_secret};
use super::template::{render, Data};
use super::SendError;
use crate::model::Notification;
use crate::receiver::{Global, PagerdutyConfig};

/// PagerDuty's v2 endpoint, Alertmanager's default `global.pagerduty_url`.
pub const DEFAULT_URL: &str = "https://events.pagerduty.com/v2/enqueue";

/// PagerDuty's limit on `payload.summary`, in characters.
const MAX_SUMMARY_CHARS: usize = 1024;

/// The `dedup_key` of a group: the lowercase hex SHA-256 of its key.
pub fn dedup_key(group_key: &str) -> String {
    let digest = Sha256::digest(group_key.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// PagerDuty's severities are `critical`, `error`, `warning` and `info`; any other value
/// (after templating) is mapped: `page`/`high` to critical, `err` to error,
/// `warn`/`medium` to warning, `low`/`none` to info, anything else to `error` (PagerDuty
/// refuses an event with another severity, which would never page).
pub fn severity(value: &str) -> &'static str {
    match value.trim().to_ascii_lowercase().as_str() {
        "critical" | "page" | "high" => "critical",
        "warning" | "warn" | "medium" => "warning",
        "info" | "low" | "none" => "info",
        _ => "error",
    }
}

#[derive(Debug, Serialize)]
struct Payload {
    summary: String,
    source: String,
    severity: &'static str,
    #[serde(skip_serializing_if = "String::is_empty")]
    class: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    component: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    group: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    custom_details: BTreeMap<String, String>,
}

#[derive(Debug, Serialize)]
struct Image {
    src: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    alt: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    href: String,
}

#[derive(Debug, Serialize)]
struct Link {
    href: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    text: String,
}

#[derive(Debug, Serialize)]
struct Message {
    routing_key: String,
    dedup_key: String,
    event_action: &'static str,
    payload: Payload,
    #[serde(skip_serializing_if = "String::is_empty")]
    client: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    client_url: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    images: Vec<Image>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    links: Vec<Link>,
}

/// The event for `n` as JSON, with `routing_key` (the configured one, or the content of
/// `routing_key_file`).
pub fn event(config: &PagerdutyConfig, routing_key: &str, n: &Notification) -> serde_json::Value {
    let data = Data::new(n, &n.alerts);
    let field = |v: &Option<String>, default: &str| match v {
        Some(t) => render(t, &data),
        None => render(default, &data),
    };
    let client = field(
        &config.client,
        r#"{{ template "pagerduty.default.client" . }}"#,
    );
    let mut details: BTreeMap<String, String> = config
        .details
        .iter()
        .map(|(k, v)| (k.clone(), render(v, &data)))
        .collect();
    let defaults = [
        (
            "firing",
            r#"{{ template "pagerduty.default.instances" .Alerts.Firing }}"#,
        ),
        (
            "resolved",
            r#"{{ template "pagerduty.default.instances" .Alerts.Resolved }}"#,
        ),
        ("num_firing", "{{ .Alerts.Firing | len }}"),
        ("num_resolved", "{{ .Alerts.Resolved | len }}"),
    ];
    for (k, v) in defaults {
        details
            .entry(k.to_string())
            .or_insert_with(|| render(v, &data));
    }
    let summary: String = field(
        &config.description,
        r#"{{ template "pagerduty.default.description" . }}"#,
    )
    .chars()
    .take(MAX_SUMMARY_CHARS)
    .collect();
    let message = Message {
        routing_key: routing_key.to_string(),
        dedup_key: dedup_key(&n.group_key),
        event_action: if data.status == "resolved" {
            "resolve"
        } else {
            "trigger"
        },
        payload: Payload {
            summary,
            source: match &config.source {
                Some(s) => render(s, &data),
                None => client.clone(),
            },
            severity: severity(&field(&config.severity, "error")),
            class: field(&config.class, ""),
            component: field(&config.component, ""),
            group: field(&config.group, ""),
            custom_details: details,
        },
        client,
        client_url: field(
            &config.client_url,
            r#"{{ template "pagerduty.default.clientURL" . }}"#,
        ),
        // As Alertmanager: an image without `src`, a link without `href`, is left out.
        images: config
            .images
            .iter()
            .map(|i| Image {
                src: render(&i.src, &data),
                alt: render(&i.alt, &data),
                href: render(&i.href, &data),
            })
            .filter(|i| !i.src.is_empty())
            .collect(),
        links: config
            .links
            .iter()
            .map(|l| Link {
                href: render(&l.href, &data),
                text: render(&l.text, &data),
            })
            .filter(|l| !l.href.is_empty())
            .collect(),
    };
    serde_json::to_value(&message).unwrap_or_default()
}

/// One POST of `n`'s event to the Events API (the config's `url`, else
/// `global.pagerduty_url`, else PagerDuty's).
pub async fn send(
    http: &reqwest::Client,
    config: &PagerdutyConfig,
    global: &Global,
    n: &Notification,
) -> Result<(), SendError> {
    let url = config
        .url
        .as_deref()
        .or(global.pagerduty_url.as_deref())
        .unwrap_or(DEFAULT_URL);
    let routing_key = match &config.routing_key_file {
        Some(path) => read_secret("routing_key_file", path)?,
        None => config.routing_key.clone(),
    };
    let body = serde_json::to_vec(&event(config, &routing_key, n)).unwrap_or_default();
    let request = http
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body);
    let result = authorize(request, config.http_config.as_ref())?
        .send()
        .await;
    check_response(result).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dedup_key_is_the_sha256_of_the_group_key() {
        // sha256("") and sha256("abc"), the FIPS 180-2 test vectors
        assert_eq!(
            dedup_key(""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            dedup_key("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn severities_map_onto_pagerdutys_four() {
        assert_eq!(severity("critical"), "critical");
        assert_eq!(severity("Page"), "critical");
        assert_eq!(severity("warning"), "warning");
        assert_eq!(severity("info"), "info");
        assert_eq!(severity("error"), "error");
        assert_eq!(severity("whatever"), "error");
    }
}
