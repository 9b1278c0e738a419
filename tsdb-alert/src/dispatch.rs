//! Aggregation groups and their timers (Alertmanager's `dispatch.Dispatcher` and
//! `aggrGroup`), as a synchronous state machine driven by the caller's clock.
//!
//! An alert goes to every route it matches; per route, alerts with the same values of the
//! route's `group_by` labels form one group (keyed by route and group labels). A new group
//! is first flushed `group_wait` after it was created (at once if its alert started more
//! than `group_wait` ago and it has never flushed), then every `group_interval`. A flush
//! hands the group's alerts to the notification pipeline (inhibition, silences, time
//! intervals and the notification log decide what is sent: [`crate::manager`]); after it,
//! resolved alerts leave the group and empty groups are dropped.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use crate::model::{Alert, Fingerprint, LabelSet};
use crate::route::{group_key, Route, RouteOpts};

/// One aggregation group.
#[derive(Debug, Clone)]
pub struct Group {
    /// Alertmanager's group key (`route key:group labels`).
    pub key: String,
    /// The route's id in its tree.
    pub route_id: usize,
    /// The route's effective options (receiver, timers, time intervals).
    pub opts: RouteOpts,
    /// The group labels.
    pub labels: LabelSet,
    /// The group's alerts by fingerprint (copies: an alert is in every group it routes to).
    pub alerts: BTreeMap<Fingerprint, Alert>,
    /// When the group flushes next (Unix ms).
    pub next_flush_ms: i64,
    /// Whether it has flushed once.
    pub has_flushed: bool,
}

/// A group's alerts handed to the pipeline at a flush.
#[derive(Debug, Clone, PartialEq)]
pub struct Flush {
    /// The route's id in its tree.
    pub route_id: usize,
    /// The group key.
    pub group_key: String,
    /// The route's options.
    pub opts: RouteOpts,
    /// The group labels.
    pub group_labels: LabelSet,
    /// The alerts, sorted as Alertmanager sorts them; an alert not resolved at flush time
    /// has no end (`ends_at_ms: None`).
    pub alerts: Vec<Alert>,
    /// The flush time.
    pub now_ms: i64,
}

/// The aggregation groups of one route tree.
#[derive(Debug, Clone)]
pub struct Dispatcher {
    route: Route,
    /// By (route id, group key): group keys alone may repeat across routes with the same
    /// matchers, as in Alertmanager.
    groups: BTreeMap<(usize, String), Group>,
}

impl Dispatcher {
    /// A dispatcher with no groups.
    pub fn new(route: Route) -> Dispatcher {
        Dispatcher {
            route,
            groups: BTreeMap::new(),
        }
    }

    /// The route tree.
    pub fn route(&self) -> &Route {
        &self.route
    }

    /// The groups, ordered by route then key.
    pub fn groups(&self) -> impl Iterator<Item = &Group> {
        self.groups.values()
    }

    /// Puts an alert (a new one or a new version) into the groups of every route it
    /// matches, creating groups as needed.
    pub fn insert(&mut self, alert: &Alert, now_ms: i64) {
        let fp = alert.fingerprint();
        for route in self.route.matches(&alert.labels) {
            let labels = route.group_labels(&alert.labels);
            let key = group_key(route, &labels);
            let group = self
                .groups
                .entry((route.id, key.clone()))
                .or_insert_with(|| Group {
                    key,
                    route_id: route.id,
                    opts: route.opts.clone(),
                    labels,
                    alerts: BTreeMap::new(),
                    next_flush_ms: now_ms.saturating_add(route.opts.group_wait_ms),
                    has_flushed: false,
                });
            group.alerts.insert(fp, alert.clone());
            if !group.has_flushed
                && alert.starts_at_ms.saturating_add(group.opts.group_wait_ms) < now_ms
            {
                group.next_flush_ms = now_ms;
            }
        }
    }

    /// The earliest next flush, if any group exists.
    pub fn next_flush_ms(&self) -> Option<i64> {
        self.groups.values().map(|g| g.next_flush_ms).min()
    }

    /// Flushes every group due at `now_ms` (its next flush set `group_interval` later) and
    /// returns what they hand to the pipeline. Call [`Dispatcher::flushed`] with the result
    /// once the pipeline has taken it, or [`Dispatcher::retry`] if it failed.
    pub fn due(&mut self, now_ms: i64) -> Vec<Flush> {
        let mut out = Vec::new();
        for group in self.groups.values_mut() {
            if group.next_flush_ms > now_ms || group.alerts.is_empty() {
                continue;
            }
            group.next_flush_ms = now_ms.saturating_add(group.opts.group_interval_ms);
            group.has_flushed = true;
            let mut alerts: Vec<Alert> = group
                .alerts
                .values()
                .map(|a| {
                    let mut a = a.clone();
                    if !a.is_resolved_at(now_ms) {
                        a.ends_at_ms = None;
                    }
                    a
                })
                .collect();
            alerts.sort_by(alert_order);
            out.push(Flush {
                route_id: group.route_id,
                group_key: group.key.clone(),
                opts: group.opts.clone(),
                group_labels: group.labels.clone(),
                alerts,
                now_ms,
            });
        }
        out
    }

    /// After a successful flush: resolved alerts whose version is the one flushed leave
    /// their group; empty groups are dropped.
    pub fn flushed(&mut self, flushes: &[Flush]) {
        for f in flushes {
            if let Some(group) = self.groups.get_mut(&(f.route_id, f.group_key.clone())) {
                for a in &f.alerts {
                    if !a.is_resolved_at(f.now_ms) {
                        continue;
                    }
                    let fp = a.fingerprint();
                    if group
                        .alerts
                        .get(&fp)
                        .is_some_and(|cur| cur.updated_at_ms == a.updated_at_ms)
                    {
                        group.alerts.remove(&fp);
                    }
                }
            }
        }
        self.groups.retain(|_, g| !g.alerts.is_empty());
    }

    /// After a failed pipeline: the groups flush again at the next tick.
    pub fn retry(&mut self, flushes: &[Flush]) {
        for f in flushes {
            if let Some(group) = self.groups.get_mut(&(f.route_id, f.group_key.clone())) {
                group.next_flush_ms = f.now_ms;
            }
        }
    }

    /// Whether any group holds the alert (a resolved alert is kept until every group
    /// holding it has flushed it).
    pub fn holds(&self, fp: Fingerprint) -> bool {
        self.groups.values().any(|g| g.alerts.contains_key(&fp))
    }
}

/// Alertmanager's `AlertSlice` order: by `job`, then `instance` (alerts with the label
/// first), then by label set (`LabelSet.Before`).
pub fn alert_order(a: &Alert, b: &Alert) -> Ordering {
    for key in ["job", "instance"] {
        match (a.labels.get(key), b.labels.get(key)) {
            (None, None) => continue,
            (None, Some(_)) => return Ordering::Greater,
            (Some(_), None) => return Ordering::Less,
            (Some(x), Some(y)) if x != y => return x.cmp(y),
            _ => {}
        }
    }
    label_set_order(&a.labels, &b.labels)
}

/// Prometheus common's `LabelSet.Before`: shorter sets first, then by the first differing
/// name (a set missing it first), then value.
pub(crate) fn label_set_order(a: &LabelSet, b: &LabelSet) -> Ordering {
    match a.len().cmp(&b.len()) {
        Ordering::Equal => {}
        o => return o,
    }
    let mut names: Vec<&String> = a.keys().chain(b.keys()).collect();
    names.sort();
    for n in names {
        match (a.get(n), b.get(n)) {
            (None, _) => return Ordering::Less,
            (_, None) => return Ordering::Greater,
            (Some(x), Some(y)) if x != y => return x.cmp(y),
            _ => {}
        }
    }
    Ordering::Equal
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RouteConfig;

    fn tree(yaml: &str) -> Route {
        match serde_saphyr::from_str::<RouteConfig>(yaml) {
            Ok(c) => Route::new(&c),
            Err(e) => panic!("{e}"),
        }
    }

    fn alert(pairs: &[(&str, &str)], start: i64) -> Alert {
        Alert {
            labels: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            annotations: LabelSet::new(),
            starts_at_ms: start,
            ends_at_ms: Some(i64::MAX),
            generator_url: String::new(),
            updated_at_ms: start,
        }
    }

    #[test]
    fn group_wait_then_group_interval() {
        let mut d = Dispatcher::new(tree(
            "receiver: r\ngroup_by: [alertname]\ngroup_wait: 30s\ngroup_interval: 5m\n",
        ));
        d.insert(&alert(&[("alertname", "A"), ("i", "1")], 1_000), 1_000);
        d.insert(&alert(&[("alertname", "A"), ("i", "2")], 2_000), 2_000);
        d.insert(&alert(&[("alertname", "B")], 3_000), 3_000);
        assert_eq!(d.next_flush_ms(), Some(31_000));
        assert!(d.due(30_999).is_empty());
        let f = d.due(31_000);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].group_key, r#"{}:{alertname="A"}"#);
        assert_eq!(f[0].alerts.len(), 2);
        assert_eq!(f[0].alerts[0].ends_at_ms, None);
        d.flushed(&f);
        let f = d.due(33_000);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].group_key, r#"{}:{alertname="B"}"#);
        d.flushed(&f);
        assert_eq!(d.next_flush_ms(), Some(331_000));
        assert!(d.due(330_999).is_empty());
        assert_eq!(d.due(331_000).len(), 1);
    }

    #[test]
    fn old_alerts_flush_at_once_and_resolved_ones_leave() {
        let mut d = Dispatcher::new(tree("receiver: r\ngroup_by: ['...']\n"));
        let mut a = alert(&[("alertname", "A")], 0);
        d.insert(&a, 100_000);
        assert_eq!(d.next_flush_ms(), Some(100_000));
        let f = d.due(100_000);
        d.flushed(&f);
        assert!(d.holds(a.fingerprint()));
        a.ends_at_ms = Some(150_000);
        a.updated_at_ms = 150_000;
        d.insert(&a, 150_000);
        let f = d.due(400_000);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].alerts[0].ends_at_ms, Some(150_000));
        d.flushed(&f);
        assert!(!d.holds(a.fingerprint()));
        assert_eq!(d.groups().count(), 0);
    }

    #[test]
    fn alerts_sort_as_alertmanager() {
        let mut v = [
            alert(&[("b", "1")], 0),
            alert(&[("job", "z")], 0),
            alert(&[("instance", "x"), ("job", "a")], 0),
            alert(&[("a", "1")], 0),
        ];
        v.sort_by(alert_order);
        let firsts: Vec<String> = v.iter().map(|a| format!("{:?}", a.labels)).collect();
        assert_eq!(
            firsts,
            [
                r#"{"instance": "x", "job": "a"}"#,
                r#"{"job": "z"}"#,
                // LabelSet.Before: the set missing the first name sorts first.
                r#"{"b": "1"}"#,
                r#"{"a": "1"}"#
            ]
        );
    }
}
