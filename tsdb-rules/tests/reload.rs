//! Reloading rule files: unchanged groups kept as they are, changed groups keep the
//! state of their unchanged rules, removed rules and groups get staleness markers, a
//! file with errors keeps the previous set. And the evaluation slot of a group.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use tsdb_rules::{eval_timestamp_ms, AlertState, Rule, RuleManager, RuleOptions};

const V1: &str = "groups:
- name: g1
  rules:
  - alert: Down
    expr: up == 0
    for: 5m
  - record: r
    expr: up
- name: g2
  rules:
  - record: other
    expr: up * 2
";

const V2: &str = "groups:
- name: g1
  rules:
  - record: r2
    expr: up + 1
  - alert: Down
    expr: up == 0
    for: 5m
- name: g2
  rules:
  - record: other
    expr: up * 2
- name: g3
  rules:
  - record: third
    expr: up * 3
";

const V3: &str = "groups:
- name: g1
  rules:
  - record: r2
    expr: up + 1
  - alert: Down
    expr: up == 0
    for: 5m
";

fn group<'a>(m: &'a RuleManager, name: &str) -> (usize, &'a tsdb_rules::RuleGroup) {
    m.groups()
        .iter()
        .enumerate()
        .find(|(_, g)| g.name() == name)
        .unwrap()
}

fn down_alert(m: &RuleManager) -> Option<(AlertState, i64)> {
    let (_, g) = group(m, "g1");
    g.rules().iter().find_map(|r| match r {
        Rule::Alerting(a) => a.alerts().next().map(|a| (a.state, a.active_at)),
        Rule::Recording(_) => None,
    })
}

fn eval_all(m: &mut RuleManager, db: &tsdb_core::Db, minute: i64) {
    for i in 0..m.groups().len() {
        let out = m.evaluate_group(i, at(minute), db, db).unwrap();
        assert_eq!(out.failed_rules, 0);
    }
}

#[test]
fn reload_keeps_state_and_marks_removed_series_stale() {
    let dir = tempfile::tempdir().unwrap();
    let db = open_db(dir.path());
    write(&db, &[("__name__", "up"), ("job", "a")], 0, 30, |_| 0.0);
    let mut m = manager(V1, RuleOptions::default(), at(0));
    for minute in 0..7 {
        eval_all(&mut m, &db, minute);
    }
    assert_eq!(down_alert(&m), Some((AlertState::Firing, at(0))));
    let g2_last = group(&m, "g2").1.last_evaluation_ms();

    m.update_files(vec![rule_file("rules.yml", V2)], at(7))
        .unwrap();
    assert_eq!(
        m.groups().iter().map(|g| g.name()).collect::<Vec<_>>(),
        vec!["g1", "g2", "g3"]
    );
    // The changed group kept its alert (matched by name and labels, at a new position).
    assert_eq!(down_alert(&m), Some((AlertState::Firing, at(0))));
    // The unchanged group is the same group, state and all.
    assert_eq!(group(&m, "g2").1.last_evaluation_ms(), g2_last);
    // The removed rule's series is marked stale at the changed group's next evaluation.
    eval_all(&mut m, &db, 7);
    let r = raw(&db, &[("__name__", "r"), ("job", "a")]);
    assert_eq!(r.len(), 8);
    assert_eq!(r.last().unwrap().0, at(7));
    assert!(tsdb_query::is_stale_nan(r.last().unwrap().1));
    // The alert keeps firing without a new `for` wait and ALERTS goes on being written
    // (no restore after a reload).
    let firing = raw(
        &db,
        &[
            ("__name__", "ALERTS"),
            ("alertname", "Down"),
            ("alertstate", "firing"),
            ("job", "a"),
        ],
    );
    assert_eq!(firing.last(), Some(&(at(7), 1.0)));

    // Removing g2 and g3: their series are marked stale two intervals after the reload.
    m.update_files(vec![rule_file("rules.yml", V3)], at(8))
        .unwrap();
    assert_eq!(m.groups().len(), 1);
    m.flush_removed_groups(at(9), &db);
    assert!(!raw(&db, &[("__name__", "other"), ("job", "a")])
        .last()
        .unwrap()
        .1
        .is_nan());
    m.flush_removed_groups(at(10), &db);
    let other = raw(&db, &[("__name__", "other"), ("job", "a")]);
    assert_eq!(other.last().unwrap().0, at(8));
    assert!(tsdb_query::is_stale_nan(other.last().unwrap().1));
    let third = raw(&db, &[("__name__", "third"), ("job", "a")]);
    assert!(tsdb_query::is_stale_nan(third.last().unwrap().1));
}

#[test]
fn a_file_with_errors_keeps_the_previous_rules() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.yml");
    let bad = dir.path().join("bad.yml");
    std::fs::write(&good, V1).unwrap();
    std::fs::write(&bad, "groups:\n- name: x\n  rules:\n  - record: r\n").unwrap();
    let mut m = RuleManager::new(RuleOptions::default(), tsdb_query::Engine::default());
    m.update(std::slice::from_ref(&good), at(0)).unwrap();
    assert_eq!(m.groups().len(), 2);
    // The same file twice (overlapping globs): its groups once.
    m.update(&[good.clone(), good.clone()], at(0)).unwrap();
    assert_eq!(m.groups().len(), 2);
    let errors = m.update(&[good.clone(), bad.clone()], at(1)).unwrap_err();
    assert_eq!(errors.len(), 1);
    assert_eq!(
        errors[0].to_string(),
        format!(
            "{}: 0:0: group \"x\", rule 1, \"r\": field 'expr' must be set in rule",
            bad.display()
        )
    );
    assert_eq!(m.groups().len(), 2);
    assert_eq!(m.groups()[0].file(), good.display().to_string());
}

#[test]
fn evaluation_slots_are_spread_and_stable() {
    let now = at(0) + 12_345;
    for (name, interval) in [("a", MIN), ("b", MIN), ("c", 15_000), ("d", 3_600_000)] {
        let t = eval_timestamp_ms("rules.yml", name, interval, now);
        assert!(t <= now && t > now - interval, "{name}: {t} vs {now}");
        // The same slot one interval later, and for any time within the slot.
        assert_eq!(
            eval_timestamp_ms("rules.yml", name, interval, now + interval),
            t + interval
        );
        assert_eq!(eval_timestamp_ms("rules.yml", name, interval, t + 1), t);
    }
    let slots: std::collections::BTreeSet<i64> = ["a", "b", "c2", "d2", "e"]
        .iter()
        .map(|n| eval_timestamp_ms("rules.yml", n, MIN, now))
        .collect();
    assert!(
        slots.len() >= 4,
        "groups should spread over the interval: {slots:?}"
    );
}

#[test]
fn evaluation_slots_match_prometheus() {
    // Recorded from Prometheus 2.42 evaluating `vector(1)` in groups `slot-a` (5s) and
    // `slot-b` (7s) of /tmp/h1/prom/rules.yml: the timestamps of the recorded samples.
    let file = "/tmp/h1/prom/rules.yml";
    for (name, interval, seen) in [
        ("slot-a", 5_000, 1_796_521_354_740),
        ("slot-b", 7_000, 1_796_521_358_334),
    ] {
        for later in [1, 1_234, interval - 1, 10 * interval + 17] {
            let expected = seen + later / interval * interval;
            assert_eq!(
                eval_timestamp_ms(file, name, interval, seen + later),
                expected,
                "{name}"
            );
        }
    }
}

#[test]
fn the_manager_can_move_between_threads() {
    // The server keeps it behind a mutex and evaluates from its timer tasks.
    fn send_sync<T: Send + Sync>() {}
    send_sync::<RuleManager>();
    send_sync::<tsdb_rules::EvalOutcome>();
}
