//! Inhibition (Alertmanager's `inhibit` package): an alert matching a rule's target
//! matchers is muted while a firing alert matching the rule's source matchers has the same
//! values for the rule's `equal` labels. An alert matching both sides is not inhibited by
//! alerts that also match both sides (Alertmanager's `excludeTwoSidedMatch`), so a rule
//! cannot make a group of alerts silence itself. Silenced source alerts still inhibit, as
//! in Alertmanager.

use std::collections::BTreeMap;

use crate::config::InhibitRuleConfig;
use crate::matcher::{matches_all, Matcher};
use crate::model::{Alert, Fingerprint, LabelSet};

/// One rule, with the known alerts matching its source side (Alertmanager's source
/// cache), so that a check looks at those alone rather than at every alert.
#[derive(Debug, Clone)]
pub struct InhibitRule {
    source: Vec<Matcher>,
    target: Vec<Matcher>,
    equal: Vec<String>,
    sources: BTreeMap<Fingerprint, Alert>,
}

/// The configuration's inhibition rules.
#[derive(Debug, Clone, Default)]
pub struct Inhibitor {
    rules: Vec<InhibitRule>,
}

impl Inhibitor {
    /// The rules of a configuration.
    pub fn new(rules: &[InhibitRuleConfig]) -> Inhibitor {
        Inhibitor {
            rules: rules
                .iter()
                .map(|r| InhibitRule {
                    source: r.source_matchers.clone(),
                    target: r.target_matchers.clone(),
                    equal: r.equal.clone(),
                    sources: BTreeMap::new(),
                })
                .collect(),
        }
    }

    /// Records a new version of a known alert (in or out of each rule's sources).
    pub fn observe(&mut self, alert: &Alert) {
        let fp = alert.fingerprint();
        for rule in &mut self.rules {
            if matches_all(&rule.source, &alert.labels) {
                rule.sources.insert(fp, alert.clone());
            } else {
                rule.sources.remove(&fp);
            }
        }
    }

    /// Forgets an alert the manager no longer knows.
    pub fn forget(&mut self, fp: Fingerprint) {
        for rule in &mut self.rules {
            rule.sources.remove(&fp);
        }
    }

    /// The fingerprint of an alert inhibiting `labels` at `now_ms`, if any, among the
    /// observed alerts (resolved ones do not inhibit).
    pub fn inhibited_by(&self, labels: &LabelSet, now_ms: i64) -> Option<Fingerprint> {
        let own = crate::model::fingerprint(labels);
        for rule in &self.rules {
            if !matches_all(&rule.target, labels) {
                continue;
            }
            let two_sided = matches_all(&rule.source, labels);
            let found = rule.sources.values().find(|a| {
                !a.is_resolved_at(now_ms)
                    && rule.equal.iter().all(|n| a.labels.get(n) == labels.get(n))
                    && !(two_sided && matches_all(&rule.target, &a.labels))
                    && a.fingerprint() != own
            });
            if let Some(a) = found {
                return Some(a.fingerprint());
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn alert(pairs: &[(&str, &str)], ends: Option<i64>) -> Alert {
        Alert {
            labels: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            annotations: LabelSet::new(),
            starts_at_ms: 0,
            ends_at_ms: ends,
            generator_url: String::new(),
            updated_at_ms: 0,
        }
    }

    fn inhibitor(rules: &str) -> Inhibitor {
        let text =
            format!("route: {{receiver: r}}\nreceivers: [{{name: r}}]\ninhibit_rules:\n{rules}");
        match Config::parse(&text) {
            Ok(c) => Inhibitor::new(&c.inhibit_rules),
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn critical_inhibits_warning_on_same_cluster() {
        let mut ih = inhibitor(
            "- source_matchers: [severity=critical]\n  target_matchers: [severity=warning]\n  equal: [cluster]\n",
        );
        let source = alert(
            &[
                ("alertname", "Down"),
                ("severity", "critical"),
                ("cluster", "a"),
            ],
            None,
        );
        ih.observe(&source);
        let target = alert(
            &[
                ("alertname", "Slow"),
                ("severity", "warning"),
                ("cluster", "a"),
            ],
            None,
        );
        let other = alert(
            &[
                ("alertname", "Slow"),
                ("severity", "warning"),
                ("cluster", "b"),
            ],
            None,
        );
        assert_eq!(
            ih.inhibited_by(&target.labels, 10),
            Some(source.fingerprint())
        );
        assert_eq!(ih.inhibited_by(&other.labels, 10), None);
        // A resolved source no longer inhibits.
        let mut resolved = source.clone();
        resolved.ends_at_ms = Some(5);
        ih.observe(&resolved);
        assert_eq!(ih.inhibited_by(&target.labels, 10), None);
        // Forgotten sources no longer inhibit either.
        ih.observe(&source);
        ih.forget(source.fingerprint());
        assert_eq!(ih.inhibited_by(&target.labels, 10), None);
        // A missing equal label equals a missing one.
        let mut ih = inhibitor("- source_match: {severity: critical}\n  target_match_re: {severity: 'warn.*'}\n  equal: [zone]\n");
        ih.observe(&source);
        assert!(ih.inhibited_by(&target.labels, 10).is_some());
    }

    #[test]
    fn two_sided_matches_do_not_inhibit_each_other() {
        let mut ih = inhibitor(
            "- source_matchers: [alertname=X]\n  target_matchers: [alertname=X]\n  equal: [job]\n",
        );
        let a = alert(&[("alertname", "X"), ("job", "j"), ("i", "1")], None);
        let b = alert(&[("alertname", "X"), ("job", "j"), ("i", "2")], None);
        ih.observe(&a);
        ih.observe(&b);
        assert_eq!(ih.inhibited_by(&a.labels, 0), None);
        assert_eq!(ih.inhibited_by(&b.labels, 0), None);
        // An alert matching the target side only is inhibited by them.
        let mut ih = inhibitor(
            "- source_matchers: [alertname=X]\n  target_matchers: ['alertname=~\"X|Y\"']\n  equal: [job]\n",
        );
        ih.observe(&a);
        let y = alert(&[("alertname", "Y"), ("job", "j")], None);
        assert_eq!(ih.inhibited_by(&y.labels, 0), Some(a.fingerprint()));
        assert_eq!(ih.inhibited_by(&b.labels, 0), None);
    }
}
