//! The routing tree (Alertmanager's `dispatch/route.go`): each node's effective options
//! (receiver, grouping, timers inherited from the parent), and the depth-first,
//! left-to-right match with `continue` that names the routes an alert goes to.

use std::collections::BTreeSet;

use crate::config::{
    RouteConfig, DEFAULT_GROUP_INTERVAL_MS, DEFAULT_GROUP_WAIT_MS, DEFAULT_REPEAT_INTERVAL_MS,
};
use crate::matcher::{format_matchers, matches_all, Matcher};
use crate::model::LabelSet;

/// A route's effective options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteOpts {
    /// The receiver notified for alerts ending at this route.
    pub receiver: String,
    /// Labels the route groups by.
    pub group_by: BTreeSet<String>,
    /// Group by all labels (`...`).
    pub group_by_all: bool,
    /// Wait before a new group's first notification (ms).
    pub group_wait_ms: i64,
    /// Wait between a group's notifications when it changes (ms).
    pub group_interval_ms: i64,
    /// Wait before an unchanged group is notified again (ms).
    pub repeat_interval_ms: i64,
    /// Time intervals muting this route (this node's own, not inherited).
    pub mute_time_intervals: Vec<String>,
    /// Time intervals outside which this route is muted (this node's own).
    pub active_time_intervals: Vec<String>,
}

/// One node of the tree.
#[derive(Debug, Clone)]
pub struct Route {
    /// The node's position in a depth-first walk (0 for the root): unique in a tree,
    /// unlike `key`.
    pub id: usize,
    /// Alertmanager's route key: the parents' keys and this node's matchers
    /// (`{}/{severity="page"}`). It starts every group key.
    pub key: String,
    /// Effective options.
    pub opts: RouteOpts,
    /// What an alert must match to enter the node.
    pub matchers: Vec<Matcher>,
    /// Whether matching goes on with the next sibling after a match.
    pub continue_matching: bool,
    /// Children.
    pub routes: Vec<Route>,
}

impl Route {
    /// The tree for a configuration's root route.
    pub fn new(root: &RouteConfig) -> Route {
        let defaults = RouteOpts {
            receiver: String::new(),
            group_by: BTreeSet::new(),
            group_by_all: false,
            group_wait_ms: DEFAULT_GROUP_WAIT_MS,
            group_interval_ms: DEFAULT_GROUP_INTERVAL_MS,
            repeat_interval_ms: DEFAULT_REPEAT_INTERVAL_MS,
            mute_time_intervals: Vec::new(),
            active_time_intervals: Vec::new(),
        };
        let mut next_id = 0;
        Route::build(root, &defaults, None, &mut next_id)
    }

    fn build(
        cr: &RouteConfig,
        parent: &RouteOpts,
        parent_key: Option<&str>,
        next_id: &mut usize,
    ) -> Route {
        let mut opts = parent.clone();
        if let Some(r) = cr.receiver.as_ref().filter(|r| !r.is_empty()) {
            opts.receiver = r.clone();
        }
        // As Alertmanager: `group_by: ['...']` groups by everything; a non-empty list
        // replaces the parent's; an absent or empty list inherits it.
        if cr.group_by_all {
            opts.group_by = BTreeSet::new();
            opts.group_by_all = true;
        } else if let Some(group_by) = cr.group_by.as_ref().filter(|g| !g.is_empty()) {
            opts.group_by = group_by.iter().cloned().collect();
            opts.group_by_all = false;
        }
        if let Some(v) = cr.group_wait_ms {
            opts.group_wait_ms = v;
        }
        if let Some(v) = cr.group_interval_ms {
            opts.group_interval_ms = v;
        }
        if let Some(v) = cr.repeat_interval_ms {
            opts.repeat_interval_ms = v;
        }
        opts.mute_time_intervals = cr.mute_time_intervals.clone();
        opts.active_time_intervals = cr.active_time_intervals.clone();
        let own = format_matchers(&cr.matchers);
        let key = match parent_key {
            Some(p) => format!("{p}/{own}"),
            None => own,
        };
        let id = *next_id;
        *next_id += 1;
        let routes = cr
            .routes
            .iter()
            .map(|c| Route::build(c, &opts, Some(&key), next_id))
            .collect();
        Route {
            id,
            key,
            opts,
            matchers: cr.matchers.clone(),
            continue_matching: cr.continue_matching,
            routes,
        }
    }

    /// The routes `labels` ends at: depth first, left to right, a matching child stopping
    /// the search among its siblings unless it has `continue`; a node none of whose
    /// children match is itself the match.
    pub fn matches(&self, labels: &LabelSet) -> Vec<&Route> {
        if !matches_all(&self.matchers, labels) {
            return Vec::new();
        }
        let mut all = Vec::new();
        for child in &self.routes {
            let found = child.matches(labels);
            let matched = !found.is_empty();
            all.extend(found);
            if matched && !child.continue_matching {
                break;
            }
        }
        if all.is_empty() {
            all.push(self);
        }
        all
    }

    /// Every node, depth first.
    pub fn walk(&self) -> Vec<&Route> {
        let mut out = vec![self];
        for c in &self.routes {
            out.extend(c.walk());
        }
        out
    }

    /// The node with this id.
    pub fn by_id(&self, id: usize) -> Option<&Route> {
        self.walk().into_iter().find(|r| r.id == id)
    }

    /// The labels of `labels` this route groups by.
    pub fn group_labels(&self, labels: &LabelSet) -> LabelSet {
        labels
            .iter()
            .filter(|(k, _)| self.opts.group_by_all || self.opts.group_by.contains(*k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
}

/// `{a="b", c="d"}`, Prometheus common's `LabelSet.String()` (the second half of a group
/// key).
pub fn format_label_set(labels: &LabelSet) -> String {
    let inner: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{k}={}", go_quote(v)))
        .collect();
    format!("{{{}}}", inner.join(", "))
}

/// Go's `%q` for the strings labels hold: backslash, quote and control characters escaped.
fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Alertmanager's group key: `route key:group labels`.
pub fn group_key(route: &Route, group_labels: &LabelSet) -> String {
    format!("{}:{}", route.key, format_label_set(group_labels))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TREE: &str = r#"
receiver: 'notify-def'

routes:
- match:
    owner: 'team-A'

  receiver: 'notify-A'

  routes:
  - match:
      env: 'testing'

    receiver: 'notify-testing'
    group_by: [...]

  - match:
      env: "production"

    receiver: 'notify-productionA'
    group_wait: 1m

    continue: true

  - match_re:
      env: "produ.*"
      job: ".*"

    receiver: 'notify-productionB'
    group_wait: 30s
    group_interval: 5m
    repeat_interval: 1h
    group_by: ['job']

- match_re:
    owner: 'team-(B|C)'

  group_by: ['foo', 'bar']
  group_wait: 2m
  receiver: 'notify-BC'

- match:
    group_by: 'role'
  group_by: ['role']

  routes:
  - match:
      env: 'testing'
    receiver: 'notify-testing'
    routes:
    - match:
        wait: 'long'
      group_wait: 2m
"#;

    fn labels(pairs: &[(&str, &str)]) -> LabelSet {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// Alertmanager's `TestRouteMatch` (dispatch/route_test.go, v0.25.0) as the oracle:
    /// receiver, group_by, group_by_all, group_wait, group_interval, repeat_interval, key.
    #[test]
    fn alertmanager_route_match() {
        let cfg: RouteConfig = match serde_saphyr::from_str(TREE) {
            Ok(c) => c,
            Err(e) => panic!("{e}"),
        };
        let tree = Route::new(&cfg);
        type Expect<'a> = (&'a str, &'a [&'a str], bool, i64, i64, i64, &'a str);
        let (gw, gi, ri) = (30_000, 300_000, 14_400_000);
        let cases: Vec<(LabelSet, Vec<Expect>)> = vec![
            (
                labels(&[("owner", "team-A")]),
                vec![("notify-A", &[], false, gw, gi, ri, r#"{}/{owner="team-A"}"#)],
            ),
            (
                labels(&[("owner", "team-A"), ("env", "unset")]),
                vec![("notify-A", &[], false, gw, gi, ri, r#"{}/{owner="team-A"}"#)],
            ),
            (
                labels(&[("owner", "team-C")]),
                vec![(
                    "notify-BC",
                    &["bar", "foo"],
                    false,
                    120_000,
                    gi,
                    ri,
                    r#"{}/{owner=~"^(?:team-(B|C))$"}"#,
                )],
            ),
            (
                labels(&[("owner", "team-A"), ("env", "testing")]),
                vec![(
                    "notify-testing",
                    &[],
                    true,
                    gw,
                    gi,
                    ri,
                    r#"{}/{owner="team-A"}/{env="testing"}"#,
                )],
            ),
            (
                labels(&[("owner", "team-A"), ("env", "production")]),
                vec![
                    (
                        "notify-productionA",
                        &[],
                        false,
                        60_000,
                        gi,
                        ri,
                        r#"{}/{owner="team-A"}/{env="production"}"#,
                    ),
                    (
                        "notify-productionB",
                        &["job"],
                        false,
                        30_000,
                        300_000,
                        3_600_000,
                        r#"{}/{owner="team-A"}/{env=~"^(?:produ.*)$",job=~"^(?:.*)$"}"#,
                    ),
                ],
            ),
            (
                labels(&[("group_by", "role")]),
                vec![(
                    "notify-def",
                    &["role"],
                    false,
                    gw,
                    gi,
                    ri,
                    r#"{}/{group_by="role"}"#,
                )],
            ),
            (
                labels(&[("env", "testing"), ("group_by", "role")]),
                vec![(
                    "notify-testing",
                    &["role"],
                    false,
                    gw,
                    gi,
                    ri,
                    r#"{}/{group_by="role"}/{env="testing"}"#,
                )],
            ),
            (
                labels(&[("env", "testing"), ("group_by", "role"), ("wait", "long")]),
                vec![(
                    "notify-testing",
                    &["role"],
                    false,
                    120_000,
                    gi,
                    ri,
                    r#"{}/{group_by="role"}/{env="testing"}/{wait="long"}"#,
                )],
            ),
        ];
        type Owned = (String, Vec<String>, bool, i64, i64, i64, String);
        for (input, expected) in cases {
            let expected: Vec<Owned> = expected
                .into_iter()
                .map(|(r, gb, all, w, i, rep, k)| {
                    let gb = gb.iter().map(|s| s.to_string()).collect();
                    (r.to_owned(), gb, all, w, i, rep, k.to_owned())
                })
                .collect();
            let got: Vec<Owned> = tree
                .matches(&input)
                .into_iter()
                .map(|r| {
                    (
                        r.opts.receiver.clone(),
                        r.opts.group_by.iter().cloned().collect(),
                        r.opts.group_by_all,
                        r.opts.group_wait_ms,
                        r.opts.group_interval_ms,
                        r.opts.repeat_interval_ms,
                        r.key.clone(),
                    )
                })
                .collect();
            assert_eq!(got, expected, "labels {input:?}");
        }
    }

    #[test]
    fn an_empty_group_by_inherits() {
        let cfg: RouteConfig = match serde_saphyr::from_str(
            "receiver: r\ngroup_by: [a]\nroutes:\n- {group_by: [], matchers: [x=1]}\n- {group_by: ['...']}\n",
        ) {
            Ok(c) => c,
            Err(e) => panic!("{e}"),
        };
        let tree = Route::new(&cfg);
        assert_eq!(
            tree.routes[0].opts.group_by.iter().collect::<Vec<_>>(),
            ["a"]
        );
        assert!(tree.routes[1].opts.group_by_all);
    }

    #[test]
    fn group_keys_are_alertmanagers() {
        let cfg: RouteConfig = match serde_saphyr::from_str(
            "receiver: r\ngroup_by: [alertname, job]\nroutes:\n- matchers: ['severity=\"page\"']\n",
        ) {
            Ok(c) => c,
            Err(e) => panic!("{e}"),
        };
        let tree = Route::new(&cfg);
        let l = labels(&[("alertname", "X"), ("job", "a\"b"), ("severity", "page")]);
        let routes = tree.matches(&l);
        assert_eq!(routes.len(), 1);
        let gl = routes[0].group_labels(&l);
        assert_eq!(
            group_key(routes[0], &gl),
            r#"{}/{severity="page"}:{alertname="X", job="a\"b"}"#
        );
    }
}
