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
