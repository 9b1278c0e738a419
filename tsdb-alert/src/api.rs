//! Alertmanager's v2 HTTP API as pure functions over a [`Manager`]: each takes the
//! request's parts (query pairs, body bytes, path id) and the time, and returns a
//! [`Reply`] (status and JSON body) shaped as Alertmanager 0.25 answers, so `amtool`,
//! Grafana and Prometheus (as a sender) work against it. The server maps routes to them:
//!
//! | route | function |
//! | --- | --- |
//! | `POST /api/v2/alerts` | [`post_alerts`] |
//! | `GET /api/v2/alerts` | [`get_alerts`] |
//! | `GET /api/v2/alerts/groups` | [`get_alert_groups`] |
//! | `GET /api/v2/silences` | [`get_silences`] |
//! | `POST /api/v2/silences` | [`post_silences`] |
//! | `GET /api/v2/silence/{id}` | [`get_silence`] |
//! | `DELETE /api/v2/silence/{id}` | [`delete_silence`] |
//! | `GET /api/v2/status` | [`get_status`] |
//! | `GET /api/v2/receivers` | [`get_receivers`] |
//!
//! Error bodies are JSON strings (`"..."`), as go-swagger writes Alertmanager's errors.

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat};
use serde::{Deserialize, Serialize};

use crate::dispatch::alert_order;
use crate::manager::{AlertStatus, Manager};
use crate::matcher::{is_valid_label_name, parse_matcher, MatchOp, Matcher};
use crate::model::{Alert, LabelSet};
use crate::silence::{Silence, SilenceError, SilenceMatcher, SilenceState};

/// An HTTP answer: status code and JSON body (empty for Alertmanager's bodiless 200s).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// `application/json` body, or empty.
    pub body: String,
}

impl Reply {
    fn json<T: Serialize>(status: u16, value: &T) -> Reply {
        match serde_json::to_string(value) {
            Ok(body) => Reply { status, body },
            Err(e) => Reply::error(500, &e.to_string()),
        }
    }

    fn error(status: u16, message: &str) -> Reply {
        Reply {
            status,
            body: serde_json::Value::String(message.to_owned()).to_string(),
        }
    }

    fn empty(status: u16) -> Reply {
        Reply {
            status,
            body: String::new(),
        }
    }
}

/// Go's zero time in Unix ms: a timestamp at or before it is "not set".
const GO_ZERO_MS: i64 = -62_135_596_800_000;

/// Unix ms as go-openapi's `strfmt.DateTime` writes it: RFC 3339 with milliseconds, UTC.
pub fn datetime(ms: i64) -> String {
    match DateTime::from_timestamp_millis(ms) {
        Some(t) => t.to_rfc3339_opts(SecondsFormat::Millis, true),
        None => "0001-01-01T00:00:00.000Z".to_owned(),
    }
}

/// Parses an RFC 3339 time; Go's zero time and an absent value are `None`.
fn parse_time(s: Option<&str>) -> Result<Option<i64>, String> {
    let Some(s) = s.filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    let t = DateTime::parse_from_rfc3339(s)
        .map_err(|e| format!("parsing time {s:?} as RFC 3339: {e}"))?;
    let ms = t.timestamp_millis();
    Ok((ms > GO_ZERO_MS).then_some(ms))
}

/// Alertmanager's `postableAlert`.
#[derive(Debug, Deserialize)]
struct PostableAlert {
    labels: Option<BTreeMap<String, String>>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
    #[serde(default, rename = "startsAt")]
    starts_at: Option<String>,
    #[serde(default, rename = "endsAt")]
    ends_at: Option<String>,
    #[serde(default, rename = "generatorURL")]
    generator_url: String,
}

fn swagger_error(status: u16, message: String) -> Reply {
    Reply::json(
        status,
        &serde_json::json!({ "code": status, "message": message }),
    )
}

/// `POST /api/v2/alerts`: every valid alert is taken (Alertmanager's best effort); if
/// some are invalid the answer is 400 with their errors joined by `; `.
pub fn post_alerts(m: &mut Manager, body: &[u8], now_ms: i64) -> Reply {
    let posted: Vec<PostableAlert> = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => return swagger_error(400, format!("parsing alerts body failed: {e}")),
    };
    let mut valid = Vec::new();
    let mut errors = Vec::new();
    for (i, p) in posted.into_iter().enumerate() {
        let Some(mut labels) = p.labels else {
            return swagger_error(422, format!("{i}.labels in body is required"));
        };
        let (starts, ends) = match (
            parse_time(p.starts_at.as_deref()),
            parse_time(p.ends_at.as_deref()),
        ) {
            (Ok(s), Ok(e)) => (s, e),
            (Err(e), _) | (_, Err(e)) => return swagger_error(400, e),
        };
        // Alertmanager's defaults: a missing start is now, or the end if one is given.
        let starts = starts.unwrap_or(ends.unwrap_or(now_ms));
        labels.retain(|_, v| !v.is_empty());
        let alert = Alert {
            labels,
            annotations: p.annotations,
            starts_at_ms: starts,
            ends_at_ms: ends,
            generator_url: p.generator_url,
            updated_at_ms: now_ms,
        };
        match validate_alert(&alert) {
            Ok(()) => valid.push(alert),
            Err(e) => errors.push(e),
        }
    }
    if let Err(e) = m.put_alerts(valid, now_ms) {
        return Reply::error(500, &e.to_string());
    }
    if errors.is_empty() {
        Reply::empty(200)
    } else {
        Reply::error(400, &errors.join("; "))
    }
}

/// Alertmanager's `Alert.Validate`.
fn validate_alert(a: &Alert) -> Result<(), String> {
    if matches!(a.ends_at_ms, Some(e) if e < a.starts_at_ms) {
        return Err("start time must be before end time".into());
    }
    if let Some(name) = a.labels.keys().find(|n| !is_valid_label_name(n)) {
        return Err(format!("invalid label set: invalid name {name:?}"));
    }
    if a.labels.is_empty() {
        return Err("at least one label pair required".into());
    }
    if let Some(name) = a.annotations.keys().find(|n| !is_valid_label_name(n)) {
        return Err(format!("invalid annotations: invalid name {name:?}"));
    }
    Ok(())
}

#[derive(Serialize)]
struct ReceiverName {
    name: String,
}

#[derive(Serialize)]
struct GettableAlertStatus {
    #[serde(rename = "inhibitedBy")]
    inhibited_by: Vec<String>,
    #[serde(rename = "silencedBy")]
    silenced_by: Vec<String>,
    state: &'static str,
}

/// Alertmanager's `gettableAlert`.
#[derive(Serialize)]
struct GettableAlert {
    annotations: LabelSet,
    #[serde(rename = "endsAt")]
    ends_at: String,
    fingerprint: String,
    receivers: Vec<ReceiverName>,
    #[serde(rename = "startsAt")]
    starts_at: String,
    status: GettableAlertStatus,
    #[serde(rename = "updatedAt")]
    updated_at: String,
    #[serde(rename = "generatorURL", skip_serializing_if = "String::is_empty")]
    generator_url: String,
    labels: LabelSet,
}

fn gettable(a: &Alert, status: AlertStatus, receivers: Vec<String>) -> GettableAlert {
    GettableAlert {
        annotations: a.annotations.clone(),
        ends_at: a.ends_at_ms.map_or_else(|| datetime(GO_ZERO_MS), datetime),
        fingerprint: a.fingerprint().to_string(),
        receivers: receivers
            .into_iter()
            .map(|name| ReceiverName { name })
            .collect(),
        starts_at: datetime(a.starts_at_ms),
        status: GettableAlertStatus {
            state: status.state(),
            inhibited_by: status.inhibited_by,
            silenced_by: status.silenced_by,
        },
        updated_at: datetime(a.updated_at_ms),
        generator_url: a.generator_url.clone(),
        labels: a.labels.clone(),
    }
}

/// The filters of `GET /alerts` and `/alerts/groups`.
struct AlertFilter {
    matchers: Vec<Matcher>,
    receiver: Option<regex::Regex>,
    active: bool,
    silenced: bool,
    inhibited: bool,
}

fn parse_bool(name: &str, v: &str) -> Result<bool, Reply> {
    // Go's strconv.ParseBool.
    match v {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
        _ => Err(swagger_error(
            400,
            format!("{name} in query must be of type bool: {v:?}"),
        )),
    }
}

fn alert_filter(query: &[(String, String)]) -> Result<AlertFilter, Reply> {
    let mut f = AlertFilter {
        matchers: Vec::new(),
        receiver: None,
        active: true,
        silenced: true,
        inhibited: true,
    };
    for (k, v) in query {
        match k.as_str() {
            "filter" => f
                .matchers
                .push(parse_matcher(v).map_err(|e| Reply::error(400, &e.0))?),
            "receiver" => {
                f.receiver = Some(regex::Regex::new(&format!("^(?:{v})$")).map_err(|e| {
                    Reply::error(400, &format!("failed to parse receiver param: {e}"))
                })?)
            }
            "active" => f.active = parse_bool(k, v)?,
            "silenced" => f.silenced = parse_bool(k, v)?,
            "inhibited" => f.inhibited = parse_bool(k, v)?,
            "unprocessed" => {
                // Every known alert has been processed (routing is synchronous).
                parse_bool(k, v)?;
            }
            _ => {}
        }
    }
    Ok(f)
}

/// Alertmanager's `matchFilterLabels`: an empty-valued positive matcher accepts a missing
/// label, an empty-valued negative one a present label.
fn matches_filter(matchers: &[Matcher], labels: &LabelSet) -> bool {
    matchers.iter().all(|m| {
        let v = labels.get(&m.name);
        let present = v.is_some();
        let skip = m.value.is_empty()
            && match m.op {
                MatchOp::NotEqual | MatchOp::NotRegex => present,
                MatchOp::Equal | MatchOp::Regex => !present,
            };
        skip || m.matches_value(v.map_or("", String::as_str))
    })
}

/// Whether a known alert passes the filter at `now_ms`, with its status.
fn filtered(m: &Manager, f: &AlertFilter, a: &Alert, now_ms: i64) -> Option<AlertStatus> {
    if a.ends_at_ms.is_some_and(|e| e < now_ms) {
        return None;
    }
    let status = m.status(&a.labels, now_ms);
    if !f.active && status.state() == "active" {
        return None;
    }
    if !f.silenced && !status.silenced_by.is_empty() {
        return None;
    }
    if !f.inhibited && !status.inhibited_by.is_empty() {
        return None;
    }
    matches_filter(&f.matchers, &a.labels).then_some(status)
}

/// `GET /api/v2/alerts` (`filter`, `receiver`, `active`, `silenced`, `inhibited`,
/// `unprocessed`): the known alerts not yet resolved, sorted by fingerprint.
pub fn get_alerts(m: &Manager, query: &[(String, String)], now_ms: i64) -> Reply {
    let f = match alert_filter(query) {
        Ok(f) => f,
        Err(r) => return r,
    };
    let mut out = Vec::new();
    for s in m.alerts().values() {
        let receivers = m.receivers_for(&s.alert.labels);
        if let Some(re) = &f.receiver {
            if !receivers.iter().any(|r| re.is_match(r)) {
                continue;
            }
        }
        if let Some(status) = filtered(m, &f, &s.alert, now_ms) {
            out.push(gettable(&s.alert, status, receivers));
        }
    }
    out.sort_by(|a, b| a.fingerprint.cmp(&b.fingerprint));
    Reply::json(200, &out)
}

#[derive(Serialize)]
struct AlertGroup {
    alerts: Vec<GettableAlert>,
    labels: LabelSet,
    receiver: ReceiverName,
}

/// `GET /api/v2/alerts/groups`: the aggregation groups with their (filtered) alerts.
pub fn get_alert_groups(m: &Manager, query: &[(String, String)], now_ms: i64) -> Reply {
    let f = match alert_filter(query) {
        Ok(f) => f,
        Err(r) => return r,
    };
    let mut groups: Vec<(LabelSet, String, Vec<GettableAlert>)> = Vec::new();
    for g in m.dispatcher().groups() {
        if let Some(re) = &f.receiver {
            if !re.is_match(&g.opts.receiver) {
                continue;
            }
        }
        let mut alerts: Vec<&Alert> = g.alerts.values().collect();
        alerts.sort_by(|a, b| alert_order(a, b));
        let alerts: Vec<GettableAlert> = alerts
            .into_iter()
            .filter_map(|a| {
                let current = m.alerts().get(&a.fingerprint()).map_or(a, |s| &s.alert);
                filtered(m, &f, current, now_ms)
                    .map(|st| gettable(current, st, m.receivers_for(&current.labels)))
            })
            .collect();
        if !alerts.is_empty() {
            groups.push((g.labels.clone(), g.opts.receiver.clone(), alerts));
        }
    }
    groups.sort_by(|a, b| {
        if a.0 == b.0 {
            a.1.cmp(&b.1)
        } else {
            crate::dispatch::label_set_order(&a.0, &b.0)
        }
    });
    let out: Vec<AlertGroup> = groups
        .into_iter()
        .map(|(labels, name, alerts)| AlertGroup {
            alerts,
            labels,
            receiver: ReceiverName { name },
        })
        .collect();
    Reply::json(200, &out)
}

/// Alertmanager's `gettableSilence`.
#[derive(Serialize)]
struct GettableSilence {
    id: String,
    status: SilenceStatusJson,
    #[serde(rename = "updatedAt")]
    updated_at: String,
    comment: String,
    #[serde(rename = "createdBy")]
    created_by: String,
    #[serde(rename = "endsAt")]
    ends_at: String,
    matchers: Vec<SilenceMatcher>,
    #[serde(rename = "startsAt")]
    starts_at: String,
}

#[derive(Serialize)]
struct SilenceStatusJson {
    state: &'static str,
}

fn gettable_silence(s: &Silence, now_ms: i64) -> GettableSilence {
    GettableSilence {
        id: s.id.clone(),
        status: SilenceStatusJson {
            state: s.state(now_ms).as_str(),
        },
        updated_at: datetime(s.updated_at_ms),
        comment: s.comment.clone(),
        created_by: s.created_by.clone(),
        ends_at: datetime(s.ends_at_ms),
        matchers: s.matchers.clone(),
        starts_at: datetime(s.starts_at_ms),
    }
}

/// Alertmanager's `CheckSilenceMatchesFilterLabels`: every filter matcher has a silence
/// matcher with the same name, operator and value.
fn silence_matches_filter(s: &Silence, filter: &[Matcher]) -> bool {
    filter.iter().all(|f| {
        s.matchers
            .iter()
            .any(|m| m.name == f.name && m.op() == f.op && m.value == f.value)
    })
}

/// `GET /api/v2/silences` (`filter`): active ones first (soonest end first), then pending
/// (soonest start first), then expired (latest end first).
pub fn get_silences(m: &Manager, query: &[(String, String)], now_ms: i64) -> Reply {
    let mut filter = Vec::new();
    for (k, v) in query {
        if k == "filter" {
            match parse_matcher(v) {
                Ok(matcher) => filter.push(matcher),
                Err(e) => return Reply::error(400, &e.0),
            }
        }
    }
    let mut sils: Vec<&Silence> = m
        .silences()
        .all()
        .filter(|s| silence_matches_filter(s, &filter))
        .collect();
    sils.sort_by(|a, b| {
        let (sa, sb) = (a.state(now_ms), b.state(now_ms));
        sa.cmp(&sb).then_with(|| match sa {
            SilenceState::Active => a.ends_at_ms.cmp(&b.ends_at_ms),
            SilenceState::Pending => a.starts_at_ms.cmp(&b.starts_at_ms),
            SilenceState::Expired => b.ends_at_ms.cmp(&a.ends_at_ms),
        })
    });
    let out: Vec<GettableSilence> = sils.iter().map(|s| gettable_silence(s, now_ms)).collect();
    Reply::json(200, &out)
}

/// `GET /api/v2/silence/{id}`: 404 without a body if unknown.
pub fn get_silence(m: &Manager, id: &str, now_ms: i64) -> Reply {
    match m.silences().get(id) {
        Some(s) => Reply::json(200, &gettable_silence(s, now_ms)),
        None => Reply::empty(404),
    }
}

/// Alertmanager's `postableSilence`.
#[derive(Deserialize)]
struct PostableSilence {
    #[serde(default)]
    id: Option<String>,
    matchers: Vec<SilenceMatcher>,
    #[serde(rename = "startsAt")]
    starts_at: String,
    #[serde(rename = "endsAt")]
    ends_at: String,
    #[serde(rename = "createdBy")]
    created_by: String,
    comment: String,
}

/// `POST /api/v2/silences`: creates or updates a silence (Alertmanager's update
/// semantics, [`crate::silence::Silences::set`]) and answers `{"silenceID": id}`.
pub fn post_silences(m: &mut Manager, body: &[u8], now_ms: i64) -> Reply {
    let p: PostableSilence = match serde_json::from_slice(body) {
        Ok(p) => p,
        Err(e) => return swagger_error(400, format!("parsing silence body failed: {e}")),
    };
    let times = (parse_time(Some(&p.starts_at)), parse_time(Some(&p.ends_at)));
    let (starts, ends) = match times {
        (Ok(s), Ok(e)) => (s.unwrap_or(GO_ZERO_MS), e.unwrap_or(GO_ZERO_MS)),
        (Err(e), _) | (_, Err(e)) => {
            return Reply::error(
                400,
                &format!("failed to convert API silence to internal silence: {e}"),
            )
        }
    };
    if starts >= ends {
        return Reply::error(
            400,
            "Failed to create silence: start time must be before end time",
        );
    }
    if ends < now_ms {
        return Reply::error(
            400,
            "Failed to create silence: end time can't be in the past",
        );
    }
    let silence = Silence {
        id: p.id.unwrap_or_default(),
        matchers: p.matchers,
        starts_at_ms: starts,
        ends_at_ms: ends,
        updated_at_ms: now_ms,
        created_by: p.created_by,
        comment: p.comment,
    };
    match m.silences_mut().set(silence, now_ms) {
        Ok(id) => Reply::json(200, &serde_json::json!({ "silenceID": id })),
        Err(SilenceError::NotFound) => Reply::error(404, &SilenceError::NotFound.to_string()),
        Err(SilenceError::Store(e)) => Reply::error(500, &e.to_string()),
        Err(e) => Reply::error(400, &e.to_string()),
    }
}

/// `DELETE /api/v2/silence/{id}`: expires it. An unknown id is a 500 with `silence not
/// found`, as Alertmanager 0.25 answers.
pub fn delete_silence(m: &mut Manager, id: &str, now_ms: i64) -> Reply {
    match m.silences_mut().expire(id, now_ms) {
        Ok(()) => Reply::empty(200),
        Err(e) => Reply::error(500, &e.to_string()),
    }
}

/// `GET /api/v2/status`: what `amtool config show` and `amtool cluster show` read. The
/// cluster is `disabled` (no gossip); `config.original` is the configuration text with
/// secrets replaced by `<secret>`, as Alertmanager masks them.
pub fn get_status(m: &Manager, _now_ms: i64) -> Reply {
    let v = &m.options().version;
    Reply::json(
        200,
        &serde_json::json!({
            "cluster": { "status": "disabled", "peers": [] },
            "config": { "original": redact_secrets(&m.config().original) },
            "uptime": datetime(m.started_at_ms()),
            "versionInfo": {
                "branch": "",
                "buildDate": "",
                "buildUser": "",
                "goVersion": "",
                "revision": "",
                "version": v,
            },
        }),
    )
}

/// `GET /api/v2/receivers`: the configured receivers' names.
pub fn get_receivers(m: &Manager) -> Reply {
    let out: Vec<ReceiverName> = m
        .config()
        .receivers
        .iter()
        .map(|r| ReceiverName {
            name: r.name.clone(),
        })
        .collect();
    Reply::json(200, &out)
}

/// Keys whose values are secrets in Alertmanager's configuration (its `Secret` and
/// `SecretURL` fields, and ours).
const SECRET_KEYS: [&str; 12] = [
    "smtp_auth_password",
    "smtp_auth_secret",
    "auth_password",
    "auth_secret",
    "routing_key",
    "service_key",
    "password",
    "credentials",
    "bearer_token",
    "auth_token",
    "url",
    "api_key",
];

/// Replaces the values of secret keys (`key: value`) with `<secret>`. Webhook `url`s are
/// secrets in Alertmanager too (they often hold tokens).
pub fn redact_secrets(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let trimmed = line.trim_start().trim_start_matches("- ");
        let redacted = SECRET_KEYS.iter().find_map(|k| {
            let rest = trimmed.strip_prefix(k)?.strip_prefix(':')?;
            let value = rest.trim();
            (!value.is_empty() && !value.starts_with('#')).then(|| {
                let prefix_len = line.len() - rest.len();
                format!("{} <secret>", &line[..prefix_len])
            })
        });
        out.push_str(redacted.as_deref().unwrap_or(line));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datetimes_are_strfmt() {
        assert_eq!(datetime(1_500), "1970-01-01T00:00:01.500Z");
        assert_eq!(datetime(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(parse_time(Some("0001-01-01T00:00:00Z")), Ok(None));
        assert_eq!(
            parse_time(Some("1970-01-01T00:00:01.5+00:00")),
            Ok(Some(1_500))
        );
        assert!(parse_time(Some("yesterday")).is_err());
    }

    #[test]
    fn secrets_are_masked() {
        let text = "global:\n  smtp_auth_password: hunter2\nreceivers:\n- name: r\n  pagerduty_configs:\n  - routing_key: abc\n  webhook_configs:\n  - url: http://x/token\n";
        let r = redact_secrets(text);
        assert!(!r.contains("hunter2") && !r.contains("abc") && !r.contains("token"));
        assert!(r.contains("  smtp_auth_password: <secret>"));
        assert!(r.contains("  - routing_key: <secret>"));
        assert!(r.contains("- name: r"));
    }

    #[test]
    fn filter_matching_is_alertmanagers() {
        let labels: LabelSet = [("a".to_owned(), "1".to_owned())].into_iter().collect();
        let m = |s: &str| parse_matcher(s).map(|m| vec![m]).unwrap_or_default();
        assert!(matches_filter(&m("a=1"), &labels));
        assert!(!matches_filter(&m("a=2"), &labels));
        assert!(matches_filter(&m("b=\"\""), &labels));
        assert!(matches_filter(&m("a!=\"\""), &labels));
        assert!(matches_filter(&m("a=~\"1|2\""), &labels));
    }
}
