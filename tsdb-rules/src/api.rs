//! `/api/v1/rules` and `/api/v1/alerts` in Prometheus's JSON shapes (the `data` member;
//! the server wraps it in `{"status":"success","data":…}`), as Grafana reads them.

use serde_json::{json, Map, Value};

use crate::alerting::{Alert, AlertingRule};
use crate::group::{Rule, RuleGroup};
use crate::manager::RuleManager;
use crate::util::{go_float_e, rfc3339, LabelMap};

/// The query parameters of `/api/v1/rules`.
#[derive(Clone, Debug, Default)]
pub struct RulesFilter {
    /// `type`: `alert`, `record` or empty for both.
    pub kind: Option<String>,
    /// `rule_name[]`: only rules with these names (any, when empty).
    pub rule_names: Vec<String>,
    /// `rule_group[]`: only groups with these names.
    pub rule_groups: Vec<String>,
    /// `file[]`: only groups from these files.
    pub files: Vec<String>,
}

/// Why a `/api/v1/rules` request is refused (Prometheus's `bad_data`).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("invalid parameter \"type\": not supported value {0:?}")]
pub struct InvalidType(pub String);

/// The `data` of `/api/v1/rules`: `{"groups": [...]}`.
pub fn rules_json(manager: &RuleManager, filter: &RulesFilter) -> Result<Value, InvalidType> {
    let kind = filter.kind.as_deref().unwrap_or("").to_ascii_lowercase();
    if !matches!(kind.as_str(), "" | "alert" | "record") {
        return Err(InvalidType(kind));
    }
    let (alerts, records) = (kind != "record", kind != "alert");
    let rule_filtered = !filter.rule_names.is_empty();
    let mut groups = Vec::new();
    for g in manager.groups() {
        if !filter.rule_groups.is_empty() && !filter.rule_groups.iter().any(|n| n == g.name()) {
            continue;
        }
        if !filter.files.is_empty() && !filter.files.iter().any(|f| f == g.file()) {
            continue;
        }
        let mut rules = Vec::new();
        for r in g.rules() {
            if rule_filtered && !filter.rule_names.iter().any(|n| n == r.name()) {
                continue;
            }
            match r {
                Rule::Alerting(a) if alerts => rules.push(alerting_rule_json(a)),
                Rule::Recording(_) if records => rules.push(recording_rule_json(r)),
                _ => {}
            }
        }
        if rule_filtered && rules.is_empty() {
            continue;
        }
        groups.push(group_json(g, rules));
    }
    Ok(json!({ "groups": groups }))
}

/// The `data` of `/api/v1/alerts`: `{"alerts": [...]}`, every active alert of every
/// alerting rule.
pub fn alerts_json(manager: &RuleManager) -> Value {
    let mut alerts = Vec::new();
    for g in manager.groups() {
        for r in g.rules() {
            if let Rule::Alerting(a) = r {
                alerts.extend(a.active_alerts().map(alert_json));
            }
        }
    }
    json!({ "alerts": alerts })
}

fn group_json(g: &RuleGroup, rules: Vec<Value>) -> Value {
    json!({
        "name": g.name(),
        "file": g.file(),
        "rules": rules,
        "interval": seconds(g.interval_ms()),
        "limit": g.limit(),
        "evaluationTime": g.evaluation_time().as_secs_f64(),
        "lastEvaluation": rfc3339(g.last_evaluation_ms()),
    })
}

/// Milliseconds as seconds the way Go's JSON writes a float64: `60`, not `60.0`.
fn seconds(ms: i64) -> Value {
    if ms % 1000 == 0 {
        Value::from(ms / 1000)
    } else {
        Value::from(ms as f64 / 1000.0)
    }
}

fn labels_json(m: &LabelMap) -> Value {
    Value::Object(
        m.iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect::<Map<_, _>>(),
    )
}

fn alert_json(a: &Alert) -> Value {
    let mut v = json!({
        "labels": labels_json(&a.labels),
        "annotations": labels_json(&a.annotations),
        "state": a.state.as_str(),
        "activeAt": rfc3339(Some(a.active_at)),
        "value": go_float_e(a.value),
    });
    if let (Some(since), Some(obj)) = (a.keep_firing_since, v.as_object_mut()) {
        obj.insert(
            "keepFiringSince".into(),
            Value::String(rfc3339(Some(since))),
        );
    }
    v
}

fn alerting_rule_json(a: &AlertingRule) -> Value {
    let spec = a.spec();
    let status = a.status();
    let mut v = json!({
        "state": a.state().as_str(),
        "name": spec.name,
        "query": a.query(),
        "duration": seconds(spec.for_ms),
        "keepFiringFor": seconds(spec.keep_firing_for_ms),
        "labels": labels_json(&spec.labels),
        "annotations": labels_json(&spec.annotations),
        "alerts": a.active_alerts().map(alert_json).collect::<Vec<_>>(),
        "health": status.health.as_str(),
        "evaluationTime": status.evaluation_duration.as_secs_f64(),
        "lastEvaluation": rfc3339(status.last_evaluation_ms),
        "type": "alerting",
    });
    if let (Some(e), Some(obj)) = (&status.last_error, v.as_object_mut()) {
        obj.insert("lastError".into(), Value::String(e.clone()));
    }
    v
}

fn recording_rule_json(r: &Rule) -> Value {
    let spec = r.spec();
    let status = r.status();
    let mut v = json!({
        "name": spec.name,
        "query": r.query(),
        "health": status.health.as_str(),
        "evaluationTime": status.evaluation_duration.as_secs_f64(),
        "lastEvaluation": rfc3339(status.last_evaluation_ms),
        "type": "recording",
    });
    if let Some(obj) = v.as_object_mut() {
        if !spec.labels.is_empty() {
            obj.insert("labels".into(), labels_json(&spec.labels));
        }
        if let Some(e) = &status.last_error {
            obj.insert("lastError".into(), Value::String(e.clone()));
        }
    }
    v
}
