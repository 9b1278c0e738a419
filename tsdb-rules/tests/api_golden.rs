//! `/api/v1/rules` and `/api/v1/alerts` against the answers of a real Prometheus 2.42
//! that evaluated `testdata/api/rules.yml` (recorded in `testdata/api/`), times and the
//! file path left out.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use serde_json::Value;
use tsdb_rules::api::{alerts_json, rules_json, RulesFilter};
use tsdb_rules::RuleOptions;

fn testdata(name: &str) -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/testdata/api")
        .join(name)
}

/// Times, durations and the file path replaced by placeholders.
fn normalize(v: &mut Value) {
    match v {
        Value::Object(m) => {
            for (k, x) in m.iter_mut() {
                match k.as_str() {
                    "evaluationTime" => *x = Value::from(0),
                    "lastEvaluation" | "activeAt" => *x = Value::from("T"),
                    "file" => *x = Value::from("F"),
                    _ => normalize(x),
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(normalize),
        _ => {}
    }
}

#[test]
fn same_json_as_prometheus() {
    let dir = tempfile::tempdir().unwrap();
    let db = open_db(dir.path());
    let yaml = std::fs::read_to_string(testdata("rules.yml")).unwrap();
    let mut m = manager(&yaml, RuleOptions::default(), at(0));
    for s in 0..3 {
        let out = m.evaluate_group(0, at(0) + s * 2_000, &db, &db).unwrap();
        assert_eq!(out.failed_rules, 0);
    }
    for (ours, file) in [
        (
            rules_json(&m, &RulesFilter::default()).unwrap(),
            "prometheus-2.42-rules.json",
        ),
        (alerts_json(&m), "prometheus-2.42-alerts.json"),
    ] {
        let text = std::fs::read_to_string(testdata(file)).unwrap();
        let mut theirs: Value = serde_json::from_str(&text).unwrap();
        let mut theirs = theirs["data"].take();
        let mut ours = ours;
        normalize(&mut theirs);
        normalize(&mut ours);
        assert_eq!(ours, theirs, "{file}");
    }
}

#[test]
fn same_series_and_samples_as_prometheus() {
    // Prometheus evaluated the group every 2 s from 1796521424.012; its `ALERTS*` series
    // start at the third evaluation (after the `for` state restore following the second).
    let text = std::fs::read_to_string(testdata("prometheus-2.42-samples.json")).unwrap();
    let theirs: Value = serde_json::from_str(&text).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = open_db(dir.path());
    let yaml = std::fs::read_to_string(testdata("rules.yml")).unwrap();
    let mut m = manager(&yaml, RuleOptions::default(), 1_796_521_424_012);
    for i in 0..4 {
        m.evaluate_group(0, 1_796_521_424_012 + i * 2_000, &db, &db)
            .unwrap();
    }
    let result = theirs["data"]["result"].as_array().unwrap();
    assert_eq!(result.len(), 5);
    for s in result {
        let labels: Vec<(String, String)> = s["metric"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
            .collect();
        let pairs: Vec<(&str, &str)> = labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let want: Vec<(i64, f64)> = s["values"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                let t = (p[0].as_f64().unwrap() * 1000.0).round() as i64;
                (t, p[1].as_str().unwrap().parse().unwrap())
            })
            .collect();
        assert_eq!(raw(&db, &pairs), want, "{labels:?}");
    }
}

/// The raw samples of `result` (a Prometheus matrix) as (labels, [(t, v)]).
type Recorded = Vec<(Vec<(String, String)>, Vec<(i64, f64)>)>;

fn recorded(path: &std::path::Path) -> Recorded {
    let v: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    v["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let labels = s["metric"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                .collect();
            let values = s["values"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| {
                    let t = (p[0].as_f64().unwrap() * 1000.0).round() as i64;
                    (t, p[1].as_str().unwrap().parse().unwrap())
                })
                .collect();
            (labels, values)
        })
        .collect()
}

/// Cut RFC 3339 times to milliseconds (Prometheus keeps nanoseconds of its clock).
fn to_millis(v: &mut Value) {
    match v {
        Value::Object(m) => m.values_mut().for_each(to_millis),
        Value::Array(a) => a.iter_mut().for_each(to_millis),
        Value::String(s) => {
            if let Some(dot) = s.find('.').filter(|_| s.ends_with('Z') && s.len() > 20) {
                let frac: String = s[dot + 1..s.len() - 1].chars().take(3).collect();
                let frac = frac.trim_end_matches('0');
                *s = if frac.is_empty() {
                    format!("{}Z", &s[..dot])
                } else {
                    format!("{}.{frac}Z", &s[..dot])
                };
            }
        }
        _ => {}
    }
}

#[test]
fn alert_states_over_time_as_prometheus() {
    // Prometheus 2.42 evaluated testdata/cycle/rules.yml every second for 32 s: `Cycle`
    // (`vector(time() % 12) < 6`, for 2s, keep_firing_for 3s) goes through pending,
    // firing, kept firing and resolved twice; `Short` reads the recording rule `phase`
    // written earlier in the same evaluation. Replayed at the same times, every sample
    // and the final /api/v1/alerts are the same.
    let dir = tempfile::tempdir().unwrap();
    let db = open_db(dir.path());
    let cycle = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/testdata/cycle");
    let theirs = recorded(&cycle.join("samples.json"));
    let phase = theirs
        .iter()
        .find(|(l, _)| l == &[("__name__".to_string(), "phase".to_string())])
        .unwrap();
    let times: Vec<i64> = phase.1.iter().map(|p| p.0).collect();
    let yaml = std::fs::read_to_string(cycle.join("rules.yml")).unwrap();
    let mut m = manager(&yaml, RuleOptions::default(), times[0]);
    for &t in &times {
        let out = m.evaluate_group(0, t, &db, &db).unwrap();
        assert_eq!(out.failed_rules, 0);
    }
    for (labels, want) in &theirs {
        let pairs: Vec<(&str, &str)> = labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        // The range query Prometheus answered leaves staleness markers out.
        let ours: Vec<(i64, f64)> = raw(&db, &pairs)
            .into_iter()
            .filter(|p| !p.1.is_nan())
            .collect();
        assert_eq!(&ours, want, "{labels:?}");
    }
    let mut want: Value =
        serde_json::from_str(&std::fs::read_to_string(cycle.join("alerts.json")).unwrap()).unwrap();
    let mut want = want["data"].take();
    let mut ours = alerts_json(&m);
    to_millis(&mut want);
    to_millis(&mut ours);
    assert_eq!(ours, want);
}

#[test]
fn restart_restores_for_state_as_prometheus() {
    // Prometheus 2.42 (`--rules.alert.for-grace-period=5s`) evaluated
    // testdata/restart/rules.yml every second for 9 s, was stopped, and started again
    // 6 s later over the same data for 28 s: `Quick` (for 7s) was firing at the stop and
    // fires again right after the restore with its original activation; `Slow` (for 20s)
    // was pending and fires later by the downtime. Two managers over one database
    // replay it at the same times.
    let dir = tempfile::tempdir().unwrap();
    let db = open_db(dir.path());
    let data = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/testdata/restart");
    let yaml = std::fs::read_to_string(data.join("rules.yml")).unwrap();
    let tick = |r: &Recorded| -> Vec<i64> {
        r.iter()
            .find(|(l, _)| l == &[("__name__".to_string(), "tick".to_string())])
            .unwrap()
            .1
            .iter()
            .map(|p| p.0)
            .collect()
    };
    let first_run = tick(&recorded(&data.join("run1.json")));
    let theirs = recorded(&data.join("samples.json"));
    let all = tick(&theirs);
    let options = RuleOptions {
        for_grace_period_ms: 5_000,
        ..RuleOptions::default()
    };
    let mut first = manager(&yaml, options.clone(), first_run[0]);
    for &t in &first_run {
        first.evaluate_group(0, t, &db, &db).unwrap();
    }
    drop(first);
    let second_run: Vec<i64> = all
        .iter()
        .copied()
        .filter(|t| t > first_run.last().unwrap())
        .collect();
    assert_eq!(second_run.len(), 28);
    let mut second = manager(&yaml, options, second_run[0]);
    for &t in &second_run {
        second.evaluate_group(0, t, &db, &db).unwrap();
    }
    assert_eq!(theirs.len(), 7);
    for (labels, want) in &theirs {
        let pairs: Vec<(&str, &str)> = labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let ours: Vec<(i64, f64)> = raw(&db, &pairs)
            .into_iter()
            .filter(|p| !p.1.is_nan())
            .collect();
        assert_eq!(&ours, want, "{labels:?}");
    }
}

#[test]
fn queries_print_as_prometheus_prints_them() {
    // A rule's `query` in /api/v1/rules (and its generator URL) is the expression as
    // Prometheus prints it: recorded for testdata/api/queries.yml.
    let yaml = std::fs::read_to_string(testdata("queries.yml")).unwrap();
    let m = manager(&yaml, RuleOptions::default(), at(0));
    let text = std::fs::read_to_string(testdata("prometheus-2.42-queries.json")).unwrap();
    let theirs: Value = serde_json::from_str(&text).unwrap();
    let want: Vec<&str> = theirs["data"]["groups"][0]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["query"].as_str().unwrap())
        .collect();
    let ours: Vec<&str> = m.groups()[0].rules().iter().map(|r| r.query()).collect();
    assert_eq!(ours.len(), want.len());
    let differ: Vec<(&str, &str)> = ours
        .iter()
        .zip(&want)
        .filter(|(a, b)| a != b)
        .map(|(a, b)| (*a, *b))
        .collect();
    assert!(differ.is_empty(), "ours vs Prometheus: {differ:#?}");
}
