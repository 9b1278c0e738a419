//! Recording rules over a real database: chained rules in a group, staleness markers,
//! the group limit, duplicate series, the query offset.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use tsdb_query::{is_stale_nan, Engine, Value};
use tsdb_rules::{Health, Rule, RuleOptions, SampleSink};

fn health(m: &tsdb_rules::RuleManager, rule: usize) -> (Health, Option<String>) {
    let s = m.groups()[0].rules()[rule].status();
    (s.health, s.last_error.clone())
}

#[test]
fn a_recording_rule_sees_the_previous_rules_output() {
    let dir = tempfile::tempdir().unwrap();
    let db = open_db(dir.path());
    write(&db, &[("__name__", "x"), ("i", "1")], 0, 3, |_| 1.0);
    write(&db, &[("__name__", "x"), ("i", "2")], 0, 3, |_| 2.0);
    let mut m = manager(
        "groups:\n- name: g\n  rules:\n  - record: x:sum\n    expr: sum(x)\n    labels:\n      team: a\n  - record: x:double\n    expr: x:sum * 2\n",
        RuleOptions::default(),
        at(0),
    );
    let out = m.evaluate_group(0, at(2), &db, &db).unwrap();
    assert_eq!(out.failed_rules, 0);
    assert_eq!(out.samples, 2);
    assert_eq!(
        raw(&db, &[("__name__", "x:sum"), ("team", "a")]),
        vec![(at(2), 3.0)]
    );
    // The second rule read the first one's sample, written in the same evaluation:
    // `x:sum * 2` drops the metric name, keeps `team`; the rule names it.
    assert_eq!(
        raw(&db, &[("__name__", "x:double"), ("team", "a")]),
        vec![(at(2), 6.0)]
    );
    // A query through a querier opened after the append sees it too.
    let v = Engine::default()
        .instant_query(&db, "x:double", at(2))
        .unwrap();
    let Value::Vector(v) = v else { panic!("{v:?}") };
    assert_eq!(v.len(), 1);
    assert_eq!(v[0].v, 6.0);
    assert_eq!(health(&m, 0), (Health::Good, None));
    assert_eq!(health(&m, 1), (Health::Good, None));
}

#[test]
fn series_a_rule_stops_producing_get_a_staleness_marker() {
    let dir = tempfile::tempdir().unwrap();
    let db = open_db(dir.path());
    write(&db, &[("__name__", "x"), ("i", "1")], 0, 10, |m| {
        if m < 3 {
            5.0
        } else {
            0.0
        }
    });
    write(&db, &[("__name__", "x"), ("i", "2")], 0, 10, |_| 5.0);
    let mut m = manager(
        "groups:\n- name: g\n  rules:\n  - record: high\n    expr: x > 1\n",
        RuleOptions::default(),
        at(0),
    );
    for minute in 0..5 {
        m.evaluate_group(0, at(minute), &db, &db).unwrap();
    }
    let gone = raw(&db, &[("__name__", "high"), ("i", "1")]);
    assert_eq!(gone.len(), 4, "{gone:?}");
    assert_eq!(&gone[..3], &[(at(0), 5.0), (at(1), 5.0), (at(2), 5.0)]);
    assert_eq!(gone[3].0, at(3));
    assert!(
        is_stale_nan(gone[3].1),
        "a staleness marker, not {}",
        gone[3].1
    );
    // Only one marker: the series is no longer remembered once marked.
    let kept = raw(&db, &[("__name__", "high"), ("i", "2")]);
    assert_eq!(kept.len(), 5);
    assert!(kept.iter().all(|(_, v)| *v == 5.0));
    // And the engine no longer returns it.
    let v = Engine::default().instant_query(&db, "high", at(4)).unwrap();
    let Value::Vector(v) = v else { panic!("{v:?}") };
    assert_eq!(v.len(), 1);
}

#[test]
fn a_failing_rule_writes_nothing_and_marks_nothing_stale() {
    let dir = tempfile::tempdir().unwrap();
    let db = open_db(dir.path());
    write(&db, &[("__name__", "x"), ("i", "1")], 0, 5, |_| 1.0);
    write(&db, &[("__name__", "x"), ("i", "2")], 0, 5, |_| 2.0);
    let mut m = manager(
        "groups:\n- name: g\n  limit: 1\n  rules:\n  - record: r\n    expr: x\n  - record: s\n    expr: sum(x)\n",
        RuleOptions::default(),
        at(0),
    );
    let out = m.evaluate_group(0, at(1), &db, &db).unwrap();
    assert_eq!(out.failed_rules, 1);
    assert_eq!(
        health(&m, 0),
        (
            Health::Bad,
            Some("exceeded limit of 1 with 2 series".into())
        )
    );
    assert_eq!(health(&m, 1), (Health::Good, None));
    assert!(raw(&db, &[("__name__", "r"), ("i", "1")]).is_empty());
    assert_eq!(raw(&db, &[("__name__", "s")]), vec![(at(1), 3.0)]);
}

#[test]
fn rule_labels_that_merge_series_are_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let db = open_db(dir.path());
    write(&db, &[("__name__", "x"), ("i", "1")], 0, 2, |_| 1.0);
    write(&db, &[("__name__", "x"), ("i", "2")], 0, 2, |_| 2.0);
    let mut m = manager(
        "groups:\n- name: g\n  rules:\n  - record: r\n    expr: x\n    labels:\n      i: same\n",
        RuleOptions::default(),
        at(0),
    );
    m.evaluate_group(0, at(1), &db, &db).unwrap();
    assert_eq!(
        health(&m, 0),
        (
            Health::Bad,
            Some(
                "vector contains metrics with the same labelset after applying rule labels".into()
            )
        )
    );
}

#[test]
fn the_query_offset_shifts_queries_and_samples() {
    let dir = tempfile::tempdir().unwrap();
    let db = open_db(dir.path());
    write(&db, &[("__name__", "x")], 0, 10, |m| m as f64);
    let mut m = manager(
        "groups:\n- name: g\n  query_offset: 2m\n  rules:\n  - record: r\n    expr: x\n",
        RuleOptions::default(),
        at(0),
    );
    m.evaluate_group(0, at(5), &db, &db).unwrap();
    assert_eq!(raw(&db, &[("__name__", "r")]), vec![(at(3), 3.0)]);
    assert!(matches!(m.groups()[0].rules()[0], Rule::Recording(_)));
}

/// A sink that refuses every sample of metric `r` and fails outright when `fail` is set,
/// writing the rest to the database.
struct Refusing<'a> {
    db: &'a tsdb_core::Db,
    fail: std::cell::Cell<bool>,
}

impl SampleSink for Refusing<'_> {
    fn append_samples(
        &self,
        samples: &[tsdb_rules::Sample],
    ) -> Result<Vec<(usize, String)>, String> {
        if self.fail.get() {
            return Err("disk full".into());
        }
        let mut refused = Vec::new();
        let mut kept = Vec::new();
        for (i, s) in samples.iter().enumerate() {
            if s.labels.metric_name() == Some("r") {
                refused.push((i, "out of order sample".to_string()));
            } else {
                kept.push(s.clone());
            }
        }
        let mut more = self.db.append_samples(&kept)?;
        refused.append(&mut more);
        Ok(refused)
    }
}

#[test]
fn refused_samples_and_failed_appends_make_the_rule_unhealthy() {
    let dir = tempfile::tempdir().unwrap();
    let db = open_db(dir.path());
    write(&db, &[("__name__", "x")], 0, 5, |_| 1.0);
    let sink = Refusing {
        db: &db,
        fail: std::cell::Cell::new(false),
    };
    let mut m = manager(
        "groups:\n- name: g\n  rules:\n  - record: r\n    expr: x\n  - record: s\n    expr: x\n",
        RuleOptions::default(),
        at(0),
    );
    let out = m.evaluate_group(0, at(1), &db, &sink).unwrap();
    assert_eq!(out.samples, 1);
    assert_eq!(
        health(&m, 0),
        (Health::Bad, Some("out of order sample".into()))
    );
    assert_eq!(health(&m, 1), (Health::Good, None));
    sink.fail.set(true);
    let out = m.evaluate_group(0, at(2), &db, &sink).unwrap();
    assert_eq!(out.failed_rules, 2);
    assert_eq!(health(&m, 1), (Health::Bad, Some("disk full".into())));
    let stats = m.groups()[0].stats();
    assert_eq!(stats.evaluations, 2);
    assert_eq!(stats.rule_evaluations, 4);
    assert_eq!(stats.rule_failures, 2);
    assert_eq!(stats.last_samples, 0);
    assert_eq!(raw(&db, &[("__name__", "s")]), vec![(at(1), 1.0)]);
}
