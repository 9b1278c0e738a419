//! Alerting rules driven by a fake clock over a real database: pending, firing,
//! `keep_firing_for`, resolved and forgotten; what is sent when; `ALERTS` and
//! `ALERTS_FOR_STATE`; a restart (a new manager over the same database) in each state.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use tsdb_core::Db;
use tsdb_rules::api::{rules_json, RulesFilter};
use tsdb_rules::{AlertState, EvalOutcome, Health, Rule, RuleManager, RuleOptions};

/// `up{job="a"}` is 0 (the condition holds) in minutes `[down_from, down_to)`, 1 otherwise,
/// over minutes `[0, 60)`.
fn input(db: &Db, down_from: i64, down_to: i64) {
    write(db, &[("__name__", "up"), ("job", "a")], 0, 60, |m| {
        if (down_from..down_to).contains(&m) {
            0.0
        } else {
            1.0
        }
    });
}

const RULES: &str = "groups:
- name: g
  interval: 1m
  rules:
  - alert: Down
    expr: up == 0
    for: 10m
    keep_firing_for: 3m
    labels:
      severity: page
    annotations:
      summary: down
";

fn options() -> RuleOptions {
    RuleOptions {
        for_grace_period_ms: 2 * MIN,
        external_url: "http://prom:9090".into(),
        ..RuleOptions::default()
    }
}

/// The one alert of the rule, if any: (state, active_at, fired_at, resolved_at).
fn alert(m: &RuleManager) -> Option<(AlertState, i64, Option<i64>, Option<i64>)> {
    let Rule::Alerting(r) = &m.groups()[0].rules()[0] else {
        panic!("not an alerting rule")
    };
    let all: Vec<_> = r.alerts().collect();
    assert!(all.len() <= 1, "{all:?}");
    all.first()
        .map(|a| (a.state, a.active_at, a.fired_at, a.resolved_at))
}

fn eval(m: &mut RuleManager, db: &Db, minute: i64) -> EvalOutcome {
    let out = m.evaluate_group(0, at(minute), db, db).unwrap();
    assert_eq!(out.failed_rules, 0, "minute {minute}");
    out
}

const ALERTS_FIRING: &[(&str, &str)] = &[
    ("__name__", "ALERTS"),
    ("alertname", "Down"),
    ("alertstate", "firing"),
    ("job", "a"),
    ("severity", "page"),
];
const ALERTS_PENDING: &[(&str, &str)] = &[
    ("__name__", "ALERTS"),
    ("alertname", "Down"),
    ("alertstate", "pending"),
    ("job", "a"),
    ("severity", "page"),
];
const FOR_STATE: &[(&str, &str)] = &[
    ("__name__", "ALERTS_FOR_STATE"),
    ("alertname", "Down"),
    ("job", "a"),
    ("severity", "page"),
];

#[test]
fn pending_firing_keep_firing_resolved_and_forgotten() {
    let dir = tempfile::tempdir().unwrap();
    let db = open_db(dir.path());
    input(&db, 2, 20);
    let mut m = manager(RULES, options(), at(0));
    let mut sent = Vec::new();
    for minute in 0..40 {
        let out = eval(&mut m, &db, minute);
        for a in out.alerts {
            sent.push((minute, a));
        }
        let state = alert(&m);
        match minute {
            0 | 1 => assert_eq!(state, None, "minute {minute}"),
            2..=11 => assert_eq!(
                state,
                Some((AlertState::Pending, at(2), None, None)),
                "minute {minute}"
            ),
            12..=22 => assert_eq!(
                state,
                Some((AlertState::Firing, at(2), Some(at(12)), None)),
                "minute {minute}"
            ),
            // The condition ended at 20; kept firing for 3 minutes, resolved at 23.
            23..=38 => assert_eq!(
                state,
                Some((AlertState::Inactive, at(2), Some(at(12)), Some(at(23)))),
                "minute {minute}"
            ),
            // Resolved more than 15 minutes ago: forgotten.
            _ => assert_eq!(state, None, "minute {minute}"),
        }
        if (20..23).contains(&minute) {
            let Rule::Alerting(r) = &m.groups()[0].rules()[0] else {
                unreachable!()
            };
            let a = r.alerts().next().unwrap();
            assert_eq!(a.keep_firing_since, Some(at(20)), "minute {minute}");
        }
    }
    // Sent when firing, again once the resend delay (1m) has passed (every other
    // minute), as resolved at 23 and then at every resend until forgotten.
    let minutes: Vec<i64> = sent.iter().map(|(m, _)| *m).collect();
    assert_eq!(
        minutes,
        vec![12, 14, 16, 18, 20, 22, 23, 25, 27, 29, 31, 33, 35, 37]
    );
    let (_, first) = &sent[0];
    assert_eq!(first.starts_at, Some(at(12)));
    assert_eq!(first.ends_at, Some(at(12) + 4 * MIN));
    assert_eq!(first.labels["alertname"], "Down");
    assert_eq!(first.labels["severity"], "page");
    assert_eq!(first.annotations["summary"], "down");
    assert_eq!(
        first.generator_url,
        "http://prom:9090/graph?g0.expr=up+%3D%3D+0&g0.tab=1"
    );
    let external: tsdb_rules::LabelMap = [
        ("dc".to_string(), "eu1".to_string()),
        ("severity".to_string(), "low".to_string()),
    ]
    .into();
    let labelled = first.clone().with_external_labels(&external);
    assert_eq!(labelled.labels["dc"], "eu1");
    assert_eq!(
        labelled.labels["severity"], "page",
        "the alert's own label wins"
    );
    let (_, resolved) = &sent[6];
    assert_eq!(resolved.ends_at, Some(at(23)));
    assert_eq!(resolved.starts_at, Some(at(12)));

    // ALERTS and ALERTS_FOR_STATE from the evaluation after the `for` state was restored
    // (the second one), as Prometheus writes them.
    let pending = raw(&db, ALERTS_PENDING);
    assert_eq!(pending.first(), Some(&(at(2), 1.0)));
    let pending_values: Vec<f64> = pending
        .iter()
        .map(|p| p.1)
        .filter(|v| !v.is_nan())
        .collect();
    assert_eq!(pending_values.len(), 10);
    assert!(tsdb_query::is_stale_nan(pending.last().unwrap().1));
    let firing = raw(&db, ALERTS_FIRING);
    assert_eq!(firing.first(), Some(&(at(12), 1.0)));
    // Firing through the keep_firing_for minutes 20..23, then a staleness marker at 23.
    assert_eq!(firing.iter().filter(|p| !p.1.is_nan()).count(), 11);
    assert_eq!(firing.last().unwrap().0, at(23));
    assert!(tsdb_query::is_stale_nan(firing.last().unwrap().1));
    let for_state = raw(&db, FOR_STATE);
    assert_eq!(for_state.first(), Some(&(at(2), (at(2) / 1000) as f64)));
}

#[test]
fn the_api_shows_rules_and_alerts() {
    let dir = tempfile::tempdir().unwrap();
    let db = open_db(dir.path());
    input(&db, 0, 60);
    let mut m = manager(RULES, options(), at(0));
    for minute in 0..11 {
        eval(&mut m, &db, minute);
    }
    let rules = rules_json(&m, &RulesFilter::default()).unwrap();
    let g = &rules["groups"][0];
    assert_eq!(g["name"], "g");
    assert_eq!(g["file"], "rules.yml");
    assert_eq!(g["interval"], 60.0);
    assert_eq!(g["lastEvaluation"], "2023-11-14T22:23:20Z");
    let r = &g["rules"][0];
    assert_eq!(r["type"], "alerting");
    assert_eq!(r["state"], "firing");
    assert_eq!(r["query"], "up == 0");
    assert_eq!(r["duration"], 600.0);
    assert_eq!(r["keepFiringFor"], 180.0);
    assert_eq!(r["health"], "ok");
    assert_eq!(r["labels"]["severity"], "page");
    assert_eq!(r["alerts"][0]["state"], "firing");
    assert_eq!(r["alerts"][0]["value"], "0e+00");
    assert_eq!(r["alerts"][0]["activeAt"], "2023-11-14T22:13:20Z");
    assert!(r.get("lastError").is_none());
    let alerts = tsdb_rules::api::alerts_json(&m);
    assert_eq!(alerts["alerts"].as_array().unwrap().len(), 1);
    assert_eq!(alerts["alerts"][0]["labels"]["alertname"], "Down");
    let kind = |k: &str| RulesFilter {
        kind: Some(k.into()),
        ..RulesFilter::default()
    };
    let rules = rules_json(&m, &kind("record")).unwrap();
    assert_eq!(rules["groups"][0]["rules"].as_array().unwrap().len(), 0);
    assert!(rules_json(&m, &kind("bogus")).is_err());
    let by_name = RulesFilter {
        rule_names: vec!["Other".into()],
        ..RulesFilter::default()
    };
    assert_eq!(
        rules_json(&m, &by_name).unwrap()["groups"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
}

#[test]
fn the_group_limit_on_alerts_drops_them_all() {
    let dir = tempfile::tempdir().unwrap();
    let db = open_db(dir.path());
    write(&db, &[("__name__", "up"), ("job", "a")], 0, 5, |_| 0.0);
    write(&db, &[("__name__", "up"), ("job", "b")], 0, 5, |_| 0.0);
    let mut m = manager(
        "groups:\n- name: g\n  limit: 1\n  rules:\n  - alert: Down\n    expr: up == 0\n",
        options(),
        at(0),
    );
    let out = m.evaluate_group(0, at(1), &db, &db).unwrap();
    assert_eq!(out.failed_rules, 1);
    let Rule::Alerting(r) = &m.groups()[0].rules()[0] else {
        unreachable!()
    };
    assert_eq!(r.alerts().count(), 0);
    assert_eq!(r.status().health, Health::Bad);
    assert_eq!(
        r.status().last_error.as_deref(),
        Some("exceeded limit of 1 with 2 alerts")
    );
}

// ---------------------------------------------------------------------------------
// Restarts: the first manager evaluates up to `stop`, a second one over the same
// database starts at `start` (its first two evaluations, then the `for` state restored).

fn run(
    m: &mut RuleManager,
    db: &Db,
    minutes: std::ops::Range<i64>,
) -> Vec<(i64, tsdb_rules::NotifierAlert)> {
    let mut sent = Vec::new();
    for minute in minutes {
        for a in eval(m, db, minute).alerts {
            sent.push((minute, a));
        }
    }
    sent
}

#[test]
fn restart_while_pending_keeps_the_time_spent_pending() {
    let dir = tempfile::tempdir().unwrap();
    let db = open_db(dir.path());
    input(&db, 0, 60);
    let mut first = manager(RULES, options(), at(0));
    run(&mut first, &db, 0..5);
    assert_eq!(alert(&first).map(|a| a.0), Some(AlertState::Pending));
    drop(first);
    // Down from 5 to 7: 4 minutes pending before (the last ALERTS_FOR_STATE at 4),
    // restored just after the evaluation at 8 (at 8 min + 1 ms, Prometheus's clock after
    // the evaluation) as active since 0 + the outage (8 min + 1 ms - 4 min), so it fires
    // at the first evaluation 10 minutes after that: 15 (Prometheus adds the downtime to
    // the pending time).
    let mut second = manager(RULES, options(), at(7));
    let sent = run(&mut second, &db, 7..9);
    assert!(sent.is_empty());
    assert_eq!(
        alert(&second),
        Some((AlertState::Pending, at(4) + 1, None, None))
    );
    let sent = run(&mut second, &db, 9..16);
    assert_eq!(
        alert(&second),
        Some((AlertState::Firing, at(4) + 1, Some(at(15)), None))
    );
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].0, 15);
}

#[test]
fn restart_while_pending_near_the_end_waits_the_grace_period() {
    let dir = tempfile::tempdir().unwrap();
    let db = open_db(dir.path());
    input(&db, 0, 60);
    let mut first = manager(RULES, options(), at(0));
    run(&mut first, &db, 0..10);
    drop(first);
    // 9 minutes pending of 10: one left, less than the 2 minute grace period, so it
    // fires the grace period after the restore (13 min + 1 ms): active_at = restore +
    // 2 - 10 minutes, firing at 16, the first evaluation after 15 min + 1 ms.
    let mut second = manager(RULES, options(), at(12));
    run(&mut second, &db, 12..14);
    assert_eq!(
        alert(&second),
        Some((AlertState::Pending, at(5) + 1, None, None))
    );
    let sent = run(&mut second, &db, 14..17);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].0, 16);
}

#[test]
fn restart_while_firing_keeps_the_original_activation() {
    let dir = tempfile::tempdir().unwrap();
    let db = open_db(dir.path());
    input(&db, 0, 60);
    let mut first = manager(RULES, options(), at(0));
    let sent = run(&mut first, &db, 0..13);
    assert_eq!(sent.iter().map(|s| s.0).collect::<Vec<_>>(), vec![10, 12]);
    let valid_until = sent[1].1.ends_at.unwrap();
    drop(first);
    let mut second = manager(RULES, options(), at(14));
    let sent = run(&mut second, &db, 14..16);
    // Pending until restored: nothing sent, and the last send's endsAt (16) still covers
    // the gap in Alertmanager.
    assert!(sent.is_empty());
    assert_eq!(valid_until, at(16));
    assert_eq!(
        alert(&second),
        Some((AlertState::Pending, at(0), None, None))
    );
    // Active since 0: fires at the next evaluation, not 10 minutes later (no new
    // `for` wait, and the same labels, so Alertmanager sees the same alert).
    let sent = run(&mut second, &db, 16..17);
    assert_eq!(
        alert(&second),
        Some((AlertState::Firing, at(0), Some(at(16)), None))
    );
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].1.labels["alertname"], "Down");
}

#[test]
fn restart_during_keep_firing_for_and_after_resolution() {
    let dir = tempfile::tempdir().unwrap();
    let db = open_db(dir.path());
    input(&db, 0, 20);
    let mut first = manager(RULES, options(), at(0));
    run(&mut first, &db, 0..22);
    assert_eq!(alert(&first).map(|a| a.0), Some(AlertState::Firing));
    drop(first);
    // The condition no longer holds: Prometheus keeps no keep_firing_for state across a
    // restart, so the new process has no alert and sends nothing (no page).
    let mut second = manager(RULES, options(), at(22));
    let sent = run(&mut second, &db, 22..40);
    assert!(sent.is_empty());
    assert_eq!(alert(&second), None);

    // After resolution: nothing either.
    let mut third = manager(RULES, options(), at(40));
    assert!(run(&mut third, &db, 40..45).is_empty());
    assert_eq!(alert(&third), None);
}

#[test]
fn restart_after_the_outage_tolerance_starts_over() {
    let dir = tempfile::tempdir().unwrap();
    let db = open_db(dir.path());
    input(&db, 0, 60);
    let opts = RuleOptions {
        outage_tolerance_ms: 5 * MIN,
        ..options()
    };
    let mut first = manager(RULES, opts.clone(), at(0));
    run(&mut first, &db, 0..5);
    drop(first);
    // The last ALERTS_FOR_STATE (4) is older than 5 minutes at the restore (11).
    let mut second = manager(RULES, opts, at(10));
    run(&mut second, &db, 10..12);
    assert_eq!(
        alert(&second),
        Some((AlertState::Pending, at(10), None, None))
    );
}

#[test]
fn labels_and_annotations_are_expanded_with_templates() {
    let dir = tempfile::tempdir().unwrap();
    let db = open_db(dir.path());
    write(
        &db,
        &[
            ("__name__", "disk_used"),
            ("instance", "h1"),
            ("job", "node"),
        ],
        0,
        5,
        |_| 0.934,
    );
    write(
        &db,
        &[("__name__", "disk_total"), ("instance", "h1")],
        0,
        5,
        |_| 2048.0,
    );
    let rules = r#"groups:
- name: g
  rules:
  - alert: DiskFull
    expr: disk_used > 0.9
    labels:
      team: "{{ $labels.job | toUpper }}"
      empty: "{{ if false }}x{{ end }}"
    annotations:
      summary: "{{ $labels.instance }} at {{ $value | humanizePercentage }}"
      total: "{{ with query \"disk_total\" }}{{ . | first | value | humanize1024 }}{{ end }}"
      url: "{{ $externalURL }} {{ $externalLabels.dc }}"
      broken: "{{ query \"no_such_metric\" | first | value }}"
"#;
    let opts = RuleOptions {
        external_labels: [("dc".to_string(), "eu1".to_string())].into(),
        ..options()
    };
    let mut m = manager(rules, opts, at(0));
    let out = m.evaluate_group(0, at(1), &db, &db).unwrap();
    assert_eq!(out.failed_rules, 0);
    let Rule::Alerting(r) = &m.groups()[0].rules()[0] else {
        unreachable!()
    };
    let a = r.alerts().next().unwrap();
    assert_eq!(a.labels["team"], "NODE");
    // A label expanded to "" is dropped, as Prometheus's label builder does.
    assert!(!a.labels.contains_key("empty"));
    assert_eq!(a.labels["alertname"], "DiskFull");
    assert!(!a.labels.contains_key("__name__"));
    assert_eq!(a.annotations["summary"], "h1 at 93.4%");
    assert_eq!(a.annotations["total"], "2ki");
    assert_eq!(a.annotations["url"], "http://prom:9090 eu1");
    let broken = &a.annotations["broken"];
    assert!(
        broken.starts_with("<error expanding template: error executing template __alert_DiskFull:"),
        "{broken}"
    );
    assert!(broken.ends_with('>'), "{broken}");
}

#[test]
fn a_nonsense_for_state_sample_is_not_restored_from() {
    let dir = tempfile::tempdir().unwrap();
    let db = open_db(dir.path());
    input(&db, 0, 60);
    // An ALERTS_FOR_STATE sample that is no time (written by someone else).
    db.append(&labels(FOR_STATE), at(3), 1e300).unwrap();
    let mut m = manager(RULES, options(), at(4));
    run(&mut m, &db, 4..6);
    assert_eq!(alert(&m), Some((AlertState::Pending, at(4), None, None)));
}
