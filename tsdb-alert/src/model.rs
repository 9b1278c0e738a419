//! The alert and the notification: the two values every part of the manager passes on.
//!
//! An [`Alert`] is what a rule evaluator posts (Alertmanager's v2 `postableAlert`) and what
//! the manager keeps per fingerprint; a [`Notification`] is one flushed aggregation group
//! for one receiver, which the outbox stores before any notifier sees it. Times are Unix
//! milliseconds, as everywhere else in this project; [`rfc3339`] writes them as
//! Alertmanager does on the wire.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Label names to values, sorted by name (Alertmanager's `LabelSet`).
pub type LabelSet = BTreeMap<String, String>;

/// One alert: its identity is its labels ([`fingerprint`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// The identifying labels.
    pub labels: LabelSet,
    /// Informational annotations (summary, description, runbook…).
    pub annotations: LabelSet,
    /// When it started firing (Unix ms).
    pub starts_at_ms: i64,
    /// When it resolves or resolved (Unix ms); `None`: open-ended, firing until told or
    /// until `resolve_timeout` passes without an update.
    pub ends_at_ms: Option<i64>,
    /// A link back to the rule's expression in the sender's UI.
    pub generator_url: String,
    /// When the manager last received it (Unix ms).
    pub updated_at_ms: i64,
}

impl Alert {
    /// Whether the alert is resolved at `now_ms`: it has an end at or before now.
    pub fn is_resolved_at(&self, now_ms: i64) -> bool {
        matches!(self.ends_at_ms, Some(end) if end <= now_ms)
    }

    /// Its fingerprint ([`fingerprint`] of its labels).
    pub fn fingerprint(&self) -> Fingerprint {
        fingerprint(&self.labels)
    }
}

/// A label set's 64-bit identity, as Alertmanager computes it (`model.LabelSet.Fingerprint`),
/// so fingerprints shown by our API and sent in webhooks match a real Alertmanager's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Fingerprint(pub u64);

impl std::fmt::Display for Fingerprint {
    /// Sixteen lowercase hex digits, as in Alertmanager's JSON.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// FNV-1a 64 over each label's name and value in name order, each followed by the byte 255
/// (Prometheus common's `labelSetToFingerprint`; an empty set is 14695981039346656037).
pub fn fingerprint(labels: &LabelSet) -> Fingerprint {
    const OFFSET: u64 = 14695981039346656037;
    const PRIME: u64 = 1099511628211;
    const SEPARATOR: u8 = 255;
    let mut hash = OFFSET;
    let mut add = |bytes: &[u8]| {
        for &b in bytes {
            hash ^= u64::from(b);
            hash = hash.wrapping_mul(PRIME);
        }
    };
    for (name, value) in labels {
        add(name.as_bytes());
        add(&[SEPARATOR]);
        add(value.as_bytes());
        add(&[SEPARATOR]);
    }
    Fingerprint(hash)
}

/// One aggregation group flushed for one receiver: what every notifier renders, and what
/// the outbox keeps until each of the receiver's integrations has delivered it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    /// The receiver's name.
    pub receiver: String,
    /// The aggregation group's key (the route's path and the group labels), as
    /// Alertmanager writes it in webhooks (`{}/{severity="page"}:{alertname="X"}`).
    pub group_key: String,
    /// The labels the route groups by, with this group's values.
    pub group_labels: LabelSet,
    /// The group's alerts at flush time, firing and resolved (as the route's receiver sees
    /// them; resolved ones only when some integration sends resolved notifications).
    pub alerts: Vec<Alert>,
    /// How many alerts were left out of `alerts` by an integration's `max_alerts`.
    pub truncated_alerts: u64,
    /// The manager's external URL (links in messages).
    pub external_url: String,
    /// When the group was flushed (Unix ms): the moment `alerts`' states are read at.
    pub flushed_at_ms: i64,
}

impl Notification {
    /// `"firing"` if any alert fires at flush time, else `"resolved"`.
    pub fn status(&self) -> &'static str {
        if self
            .alerts
            .iter()
            .any(|a| !a.is_resolved_at(self.flushed_at_ms))
        {
            "firing"
        } else {
            "resolved"
        }
    }

    /// The labels every alert has with the same value (Alertmanager's `CommonLabels`).
    pub fn common_labels(&self) -> LabelSet {
        common(self.alerts.iter().map(|a| &a.labels))
    }

    /// The annotations every alert has with the same value (`CommonAnnotations`).
    pub fn common_annotations(&self) -> LabelSet {
        common(self.alerts.iter().map(|a| &a.annotations))
    }
}

fn common<'a>(mut sets: impl Iterator<Item = &'a LabelSet>) -> LabelSet {
    let Some(first) = sets.next() else {
        return LabelSet::new();
    };
    let mut common = first.clone();
    for set in sets {
        common.retain(|k, v| set.get(k) == Some(v));
    }
    common
}

/// Unix milliseconds as RFC 3339 in UTC with the fraction Go's `time.Time` JSON writes
/// (`2024-01-02T03:04:05.123Z`); `None` is Go's zero time `0001-01-01T00:00:00Z`, which
/// Alertmanager sends as the `endsAt` of a firing alert.
pub fn rfc3339(ms: Option<i64>) -> String {
    use chrono::{DateTime, SecondsFormat};
    match ms.and_then(DateTime::from_timestamp_millis) {
        Some(t) => t.to_rfc3339_opts(SecondsFormat::AutoSi, true),
        None => "0001-01-01T00:00:00Z".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(pairs: &[(&str, &str)]) -> LabelSet {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_empty_fingerprint_is_fnv_offset() {
        assert_eq!(fingerprint(&LabelSet::new()).0, 14695981039346656037);
    }

    #[test]
    fn fingerprints_depend_on_names_and_values() {
        let a = fingerprint(&set(&[("alertname", "X"), ("job", "a")]));
        let b = fingerprint(&set(&[("alertname", "X"), ("job", "b")]));
        let c = fingerprint(&set(&[("alertname", "Xj"), ("ob", "a")]));
        assert_ne!(a, b);
        assert_ne!(a, c);
        assert_eq!(a.to_string().len(), 16);
    }

    #[test]
    fn common_labels_keep_only_shared_pairs() {
        let alert = |labels| Alert {
            labels,
            annotations: LabelSet::new(),
            starts_at_ms: 0,
            ends_at_ms: None,
            generator_url: String::new(),
            updated_at_ms: 0,
        };
        let n = Notification {
            receiver: "r".into(),
            group_key: "{}:{}".into(),
            group_labels: LabelSet::new(),
            alerts: vec![
                alert(set(&[("a", "1"), ("b", "2")])),
                alert(set(&[("a", "1"), ("b", "3")])),
            ],
            truncated_alerts: 0,
            external_url: String::new(),
            flushed_at_ms: 10,
        };
        assert_eq!(n.common_labels(), set(&[("a", "1")]));
        assert_eq!(n.status(), "firing");
    }

    #[test]
    fn times_are_written_as_go_does() {
        assert_eq!(rfc3339(None), "0001-01-01T00:00:00Z");
        assert_eq!(rfc3339(Some(0)), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(Some(1_500)), "1970-01-01T00:00:01.500Z");
    }
}
