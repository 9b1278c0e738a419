//! Alertmanager configuration files: a realistic one reads, Alertmanager's cross-checks
//! refuse what it refuses, and what we do not support is refused by name with its line.

use tsdb_alert::config::{Config, ConfigError};
use tsdb_alert::route::Route;

const REALISTIC: &str = r#"
global:
  resolve_timeout: 10m
  smtp_smarthost: 'smtp.example.org:587'
  smtp_from: 'alertmanager@example.org'
  smtp_auth_username: 'alertmanager'
  smtp_auth_password: 'password'
  pagerduty_url: 'https://events.pagerduty.com/v2/enqueue'

route:
  receiver: 'team-X-mails'
  group_by: ['alertname', 'cluster', 'service']
  group_wait: 30s
  group_interval: 5m
  repeat_interval: 3h
  routes:
  - matchers:
      - service=~"foo1|foo2|baz"
    receiver: team-X-mails
    routes:
    - matchers:
        - severity="critical"
      receiver: team-X-pager
  - matchers:
      - service="files"
    receiver: team-Y-mails
    routes:
    - matchers:
        - severity="critical"
      receiver: team-Y-pager
  - matchers:
      - service="database"
    receiver: team-DB-pager
    group_by: [alertname, cluster, database]
    routes:
    - matchers:
        - owner="team-X"
      receiver: team-X-pager
      continue: true
    - matchers:
        - owner="team-Y"
      receiver: team-Y-pager
  - match:
      severity: info
    match_re:
      service: ^(web|api)$
    receiver: team-X-mails
    mute_time_intervals: [weekends]
    active_time_intervals: [business]

inhibit_rules:
- source_matchers: [severity="critical"]
  target_matchers: [severity="warning"]
  equal: [alertname, cluster, service]
- source_match:
    severity: critical
  target_match_re:
    severity: warning|info
  equal: [cluster]

time_intervals:
- name: business
  time_intervals:
  - times:
    - start_time: '09:00'
      end_time: '17:00'
    weekdays: ['monday:friday']
    location: UTC
mute_time_intervals:
- name: weekends
  time_intervals:
  - weekdays: ['saturday', 'sunday']

receivers:
- name: 'team-X-mails'
  email_configs:
  - to: 'team-X+alerts@example.org'
- name: 'team-X-pager'
  email_configs:
  - to: 'team-X+alerts-critical@example.org'
  pagerduty_configs:
  - routing_key: <team-X-key>
- name: 'team-Y-mails'
  email_configs:
  - to: 'team-Y+alerts@example.org'
- name: 'team-Y-pager'
  pagerduty_configs:
  - routing_key: <team-Y-key>
- name: 'team-DB-pager'
  pagerduty_configs:
  - routing_key: <team-DB-key>
  webhook_configs:
  - url: 'http://127.0.0.1:5001/'
"#;

fn refusal(text: &str) -> String {
    match Config::parse(text) {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn a_realistic_configuration_reads() {
    let c = match Config::parse(REALISTIC) {
        Ok(c) => c,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(c.resolve_timeout_ms, 600_000);
    assert_eq!(c.receivers.len(), 5);
    assert_eq!(c.inhibit_rules.len(), 2);
    assert_eq!(c.time_intervals.len(), 2);
    assert_eq!(c.route.routes.len(), 4);
    let tree = Route::new(&c.route);
    let labels = |pairs: &[(&str, &str)]| {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let receivers = |l| -> Vec<String> {
        tree.matches(&l)
            .into_iter()
            .map(|r| r.opts.receiver.clone())
            .collect()
    };
    assert_eq!(
        receivers(labels(&[("service", "foo1"), ("severity", "critical")])),
        ["team-X-pager"]
    );
    // A matching child (even with `continue`) keeps its parent out of the result.
    assert_eq!(
        receivers(labels(&[("service", "database"), ("owner", "team-X")])),
        ["team-X-pager"]
    );
    assert_eq!(
        receivers(labels(&[("service", "database")])),
        ["team-DB-pager"]
    );
    assert_eq!(receivers(labels(&[("service", "other")])), ["team-X-mails"]);
    let db = tree.matches(&labels(&[("service", "database"), ("owner", "team-Y")]));
    assert_eq!(
        db[0].opts.group_by.iter().collect::<Vec<_>>(),
        ["alertname", "cluster", "database"]
    );
    assert_eq!(db[0].opts.repeat_interval_ms, 3 * 3_600_000);
    let info = tree.matches(&labels(&[("service", "web"), ("severity", "info")]));
    assert_eq!(info[0].opts.mute_time_intervals, ["weekends"]);
    assert_eq!(info[0].opts.active_time_intervals, ["business"]);
    // The root's timers are inherited, mute intervals are not.
    assert_eq!(info[0].opts.group_wait_ms, 30_000);
}

#[test]
fn unsupported_integrations_and_sections_are_refused_by_name_with_their_line() {
    let base = "route: {receiver: r}\nreceivers:\n- name: r\n";
    for integration in [
        "slack_configs",
        "opsgenie_configs",
        "wechat_configs",
        "pushover_configs",
        "victorops_configs",
        "sns_configs",
        "telegram_configs",
        "webex_configs",
        "discord_configs",
        "msteams_configs",
    ] {
        let e = refusal(&format!("{base}  {integration}:\n  - api_url: http://x\n"));
        assert!(
            e.contains(integration) && e.contains("not supported"),
            "{e}"
        );
        // The line of the refused value.
        assert!(e.contains("line 5"), "{e}");
    }
    let e = refusal(&format!("{base}templates: ['/etc/alertmanager/*.tmpl']\n"));
    assert!(
        e.contains("templates") && e.contains("not supported") && e.contains("line 4"),
        "{e}"
    );
    let e = refusal(&format!("global:\n  slack_api_url: http://x\n{base}"));
    assert!(e.contains("slack_api_url") && e.contains("line 2"), "{e}");
    let e = refusal(&format!("{base}unknown_section: 1\n"));
    assert!(e.contains("unknown_section"), "{e}");
    let e = refusal(&format!(
        "{base}time_intervals:\n- name: t\n  time_intervals:\n  - location: Europe/Paris\n"
    ));
    assert!(e.contains("Europe/Paris") && e.contains("line 7"), "{e}");
}

#[test]
fn alertmanagers_checks() {
    let cases: &[(&str, &str)] = &[
        ("receivers: [{name: r}]\n", "no route provided in config"),
        ("route: {group_by: [a]}\nreceivers: [{name: r}]\n", "root route must specify a default receiver"),
        ("route: {receiver: r, matchers: [a=b]}\nreceivers: [{name: r}]\n", "root route must not have any matchers"),
        ("route: {receiver: r, continue: true}\nreceivers: [{name: r}]\n", "cannot have continue in root route"),
        ("route: {receiver: r, routes: [{receiver: x}]}\nreceivers: [{name: r}]\n", "undefined receiver \"x\" used in route"),
        ("route: {receiver: r}\nreceivers: [{name: r}, {name: r}]\n", "notification config name \"r\" is not unique"),
        ("route: {receiver: r, routes: [{mute_time_intervals: [n]}]}\nreceivers: [{name: r}]\n", "undefined time interval \"n\" used in route"),
        ("route: {receiver: r, mute_time_intervals: [n]}\nreceivers: [{name: r}]\nmute_time_intervals: [{name: n}]\n", "root route must not have any mute time intervals"),
        ("route: {receiver: r}\nreceivers: [{name: r}]\ntime_intervals: [{name: n}, {name: n}]\n", "time interval \"n\" is not unique"),
        ("route: {receiver: r, group_by: ['...', a]}\nreceivers: [{name: r}]\n", "cannot have wildcard group_by"),
        ("route: {receiver: r, group_by: [a, a]}\nreceivers: [{name: r}]\n", "duplicated label \"a\" in group_by"),
        ("route: {receiver: r, group_by: [a-b]}\nreceivers: [{name: r}]\n", "invalid label name \"a-b\" in group_by list"),
        ("route: {receiver: r, group_interval: 0s}\nreceivers: [{name: r}]\n", "group_interval cannot be zero"),
        ("route: {receiver: r, repeat_interval: 0s}\nreceivers: [{name: r}]\n", "repeat_interval cannot be zero"),
        ("route: {receiver: r, group_wait: 5x}\nreceivers: [{name: r}]\n", "not a valid duration string"),
        ("route: {receiver: r, routes: [{matchers: ['a b']}]}\nreceivers: [{name: r}]\n", "bad matcher format: a b"),
        ("route: {receiver: r, routes: [{match_re: {a: '('}}]}\nreceivers: [{name: r}]\n", "invalid regexp value for \"a\""),
        ("global: {resolve_timeout: soon}\nroute: {receiver: r}\nreceivers: [{name: r}]\n", "not a valid duration string"),
        ("route: {receiver: r}\nreceivers: [{name: r, email_configs: [{to: a@example.org}]}]\n", "smtp_smarthost"),
    ];
    for (text, expected) in cases {
        let e = refusal(text);
        assert!(
            e.contains(expected),
            "{text}\nexpected {expected:?}, got {e}"
        );
    }
    // Errors found while reading carry a line.
    let e = Config::parse("route:\n  receiver: r\n  group_by: [a, a]\nreceivers: [{name: r}]\n");
    assert!(
        matches!(&e, Err(ConfigError::Yaml(m)) if m.contains("line")),
        "{e:?}"
    );
}
