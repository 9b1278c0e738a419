//! The golden suite: every query of `tests/golden/queries.txt`, run against the data of
//! `tests/golden/data.om`, must give what Prometheus 2.42 answered (recorded once by
//! `tests/golden/record.sh` into `expected.jsonl`). Label sets and timestamps must match
//! exactly, values within 1e-9 relative; where Prometheus 3 computes differently from 2.42,
//! the adjustment listed in `Prometheus3` applies. Results are compared as sets, except
//! `sort`/`sort_desc` at the top level, whose order is compared too.
//!
//! The suite runs twice: with every sample in the head, and after everything was persisted
//! to segments and the database reopened.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value as Json;
use tsdb_core::{Batch, Db, Options};
use tsdb_query::{Engine, Value};

const REL_TOLERANCE: f64 = 1e-9;

/// Where Prometheus 3 (which we follow) answers differently from the 2.42 that recorded
/// the suite, and how the recorded answer is adjusted before comparing.
#[derive(Clone, Copy, Debug)]
enum Prometheus3 {
    /// `atan2` drops the metric name since Prometheus 3 (`shouldDropMetricName` lists
    /// ATAN2 with the other arithmetic operators); 2.42 kept it.
    Atan2DropsName,
    /// The function is newer than 2.42, which refused it as unknown; we must answer.
    /// Its values are checked by the hand-written scripts (`tests/scripts`).
    NewerFunction,
    /// `avg_over_time` is a compensated (Kahan) sum since Prometheus 3; 2.42 kept an
    /// uncompensated running mean, which leaves residues like 6.9e-18 where the exact
    /// answer is 0. Values may differ by 1e-12 absolute besides the relative tolerance.
    CompensatedMean,
}

fn prometheus3_change(query: &str) -> Option<Prometheus3> {
    if query.contains("mad_over_time") {
        Some(Prometheus3::NewerFunction)
    } else if query.contains("avg_over_time") {
        Some(Prometheus3::CompensatedMean)
    } else if query.contains(" atan2 ") {
        Some(Prometheus3::Atan2DropsName)
    } else {
        None
    }
}

/// Applies a Prometheus 3 change to a recorded response.
fn adjust(change: Prometheus3, response: &Json) -> Json {
    let mut r = response.clone();
    if let Prometheus3::Atan2DropsName = change {
        if let Some(items) = r["data"]["result"].as_array_mut() {
            for item in items {
                let metric = item.as_object_mut().and_then(|o| o.get_mut("metric"));
                if let Some(m) = metric.and_then(|m| m.as_object_mut()) {
                    m.remove("__name__");
                }
            }
        }
    }
    r
}

fn golden_dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden"))
}

/// Loads data.om into a fresh database, in time order.
fn load(dir: &Path) -> Db {
    let text = std::fs::read(golden_dir().join("data.om")).unwrap();
    let parser = tsdb_text::prometheus::Parser::new(
        &text,
        tsdb_text::prometheus::Options::new(tsdb_text::prometheus::Dialect::OpenMetrics),
    );
    let mut samples: Vec<_> = parser.map(|s| s.unwrap()).collect();
    samples.sort_by_key(|s| s.timestamp);
    let db = Db::open(dir, Options::default()).unwrap();
    for chunk in samples.chunks(10_000) {
        let mut batch = Batch::new();
        for s in chunk {
            let series = batch.series(s.labels.clone());
            batch.sample(series, s.timestamp.unwrap(), s.value);
        }
        let outcome = db.append_batch(&batch).unwrap();
        assert!(outcome.rejected.is_empty(), "{:?}", &outcome.rejected[..1]);
    }
    db
}

/// One recorded query.
struct Case {
    line: usize,
    query: String,
    kind: String,
    time: Option<i64>,
    start: Option<i64>,
    end: Option<i64>,
    step: Option<i64>,
    response: Json,
}

fn seconds_to_ms(v: &Json) -> i64 {
    try_seconds_to_ms(v).unwrap()
}

fn try_seconds_to_ms(v: &Json) -> Option<i64> {
    Some((v.as_f64()? * 1000.0).round() as i64)
}

fn cases() -> Vec<Case> {
    let text = std::fs::read_to_string(golden_dir().join("expected.jsonl")).unwrap();
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            let j: Json = serde_json::from_str(l).unwrap();
            let kind = j["kind"].as_str().unwrap().to_string();
            // A case whose time parameters are not numbers checks Prometheus' HTTP
            // parameter parsing (an error response); it is kept as `None` times.
            let ms = |k: &str| try_seconds_to_ms(&j[k]);
            let (time, start, end, step) = if kind == "instant" {
                (ms("time"), Some(0), Some(0), Some(0))
            } else {
                (Some(0), ms("start"), ms("end"), ms("step"))
            };
            Case {
                line: i + 1,
                query: j["query"].as_str().unwrap().to_string(),
                kind,
                time,
                start,
                end,
                step,
                response: j["response"].clone(),
            }
        })
        .collect()
}

fn parse_value(s: &Json) -> f64 {
    s.as_str().unwrap().parse::<f64>().unwrap()
}

fn values_match_within(want: f64, got: f64, abs_floor: f64) -> bool {
    if want.is_nan() || got.is_nan() {
        return want.is_nan() && got.is_nan();
    }
    if want == got {
        return true;
    }
    let diff = (want - got).abs();
    diff <= abs_floor || diff <= REL_TOLERANCE * want.abs().max(got.abs())
}

fn labels_key(metric: &Json) -> String {
    let mut pairs: Vec<(String, String)> = metric
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
        .collect();
    pairs.sort();
    let inner: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{{{}}}", inner.join(", "))
}

fn our_labels_key(l: &tsdb_index::Labels) -> String {
    let inner: Vec<String> = l.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{{{}}}", inner.join(", "))
}

/// Compares our result with Prometheus' `data`; `Err` describes the first difference.
fn compare(case: &Case, want: &Json, got: &Value, abs_floor: f64) -> Result<(), String> {
    let values_match = |w: f64, g: f64| values_match_within(w, g, abs_floor);
    let want_type = want["resultType"].as_str().unwrap();
    if want_type != got.result_type() {
        return Err(format!(
            "result type: want {want_type}, got {}",
            got.result_type()
        ));
    }
    let result = &want["result"];
    match got {
        Value::Scalar { t, v } => {
            let (wt, wv) = (seconds_to_ms(&result[0]), parse_value(&result[1]));
            if wt != *t || !values_match(wv, *v) {
                return Err(format!("scalar: want [{wt}, {wv}], got [{t}, {v}]"));
            }
            let text = result[1].as_str().unwrap_or_default();
            if wv.to_bits() == v.to_bits() && tsdb_query::format_float(*v) != text {
                return Err(format!("scalar: Prometheus writes {text}, we write {v}"));
            }
        }
        Value::String { s, .. } => {
            if result[1].as_str() != Some(s.as_str()) {
                return Err(format!("string: want {}, got {s:?}", result[1]));
            }
        }
        Value::Vector(samples) => {
            let want_items = result.as_array().unwrap();
            // Where the values are the same number, the text must be the same too: this
            // checks our JSON number formatting against Prometheus'.
            for w in want_items {
                let key = labels_key(&w["metric"]);
                let text = w["value"][1].as_str().unwrap_or_default();
                let Some(s) = samples.iter().find(|s| our_labels_key(&s.labels) == key) else {
                    continue;
                };
                if parse_value(&w["value"][1]).to_bits() == s.v.to_bits()
                    && tsdb_query::json::format_sample_value(s.v) != text
                {
                    return Err(format!(
                        "{key}: Prometheus writes {text}, we write {}",
                        tsdb_query::json::format_sample_value(s.v)
                    ));
                }
            }
            let want: Vec<(String, i64, f64)> = want_items
                .iter()
                .map(|w| {
                    (
                        labels_key(&w["metric"]),
                        seconds_to_ms(&w["value"][0]),
                        parse_value(&w["value"][1]),
                    )
                })
                .collect();
            let got: Vec<(String, i64, f64)> = samples
                .iter()
                .map(|s| (our_labels_key(&s.labels), s.t, s.v))
                .collect();
            let ordered = {
                let q = case.query.trim_start();
                q.starts_with("sort(") || q.starts_with("sort_desc(")
            };
            if ordered {
                // Values in order; Prometheus' order among equal values is arbitrary.
                let wv: Vec<f64> = want.iter().map(|w| w.2).collect();
                let gv: Vec<f64> = got.iter().map(|g| g.2).collect();
                if wv.len() != gv.len() || wv.iter().zip(&gv).any(|(a, b)| !values_match(*a, *b)) {
                    return Err(format!("sorted values: want {wv:?}, got {gv:?}"));
                }
            }
            let want_map: BTreeMap<&str, (i64, f64)> =
                want.iter().map(|w| (w.0.as_str(), (w.1, w.2))).collect();
            let got_map: BTreeMap<&str, (i64, f64)> =
                got.iter().map(|g| (g.0.as_str(), (g.1, g.2))).collect();
            if got_map.len() != got.len() {
                return Err("duplicate label sets in our result".into());
            }
            for (k, (wt, wv)) in &want_map {
                match got_map.get(k) {
                    None => return Err(format!("missing {k} (want {wv} at {wt})")),
                    Some((gt, gv)) if gt != wt || !values_match(*wv, *gv) => {
                        return Err(format!("{k}: want {wv} at {wt}, got {gv} at {gt}"))
                    }
                    _ => {}
                }
            }
            for (k, (gt, gv)) in &got_map {
                if !want_map.contains_key(k) {
                    return Err(format!("unexpected {k} = {gv} at {gt}"));
                }
            }
        }
        Value::Matrix(series) => {
            let want: BTreeMap<String, Vec<(i64, f64)>> = result
                .as_array()
                .unwrap()
                .iter()
                .map(|w| {
                    let points = w["values"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|p| (seconds_to_ms(&p[0]), parse_value(&p[1])))
                        .collect();
                    (labels_key(&w["metric"]), points)
                })
                .collect();
            let got: BTreeMap<String, Vec<(i64, f64)>> = series
                .iter()
                .map(|s| {
                    (
                        our_labels_key(&s.labels),
                        s.points.iter().map(|p| (p.t, p.v)).collect(),
                    )
                })
                .collect();
            for (k, wp) in &want {
                let Some(gp) = got.get(k) else {
                    return Err(format!("missing series {k}"));
                };
                let wt: Vec<i64> = wp.iter().map(|p| p.0).collect();
                let gt: Vec<i64> = gp.iter().map(|p| p.0).collect();
                if wt != gt {
                    return Err(format!("{k}: timestamps differ: want {wt:?}, got {gt:?}"));
                }
                for ((t, w), (_, g)) in wp.iter().zip(gp) {
                    if !values_match(*w, *g) {
                        return Err(format!("{k} at {t}: want {w}, got {g}"));
                    }
                }
            }
            for k in got.keys() {
                if !want.contains_key(k) {
                    return Err(format!("unexpected series {k}"));
                }
            }
        }
    }
    Ok(())
}

fn run_suite(db: &Db, label: &str) {
    let engine = Engine::default();
    let cases = cases();
    assert!(
        cases.len() > 100,
        "golden suite has only {} cases",
        cases.len()
    );
    let mut failures = Vec::new();
    for case in &cases {
        let change = prometheus3_change(&case.query);
        let response = match change {
            Some(c) => adjust(c, &case.response),
            None => case.response.clone(),
        };
        let want_ok = response["status"] == "success";
        let (Some(time), Some(start), Some(end), Some(step)) =
            (case.time, case.start, case.end, case.step)
        else {
            // Bad HTTP parameters: nothing for the engine to run; Prometheus must refuse.
            if want_ok {
                failures.push(format!(
                    "expected.jsonl:{} has bad times but succeeded",
                    case.line
                ));
            }
            continue;
        };
        let got = if case.kind == "instant" {
            engine.instant_query(db, &case.query, time)
        } else {
            engine.range_query(db, &case.query, start, end, step)
        };
        let outcome = match (want_ok, got) {
            (false, Ok(_)) if matches!(change, Some(Prometheus3::NewerFunction)) => Ok(()),
            (true, Ok(v)) => {
                let abs_floor = match change {
                    Some(Prometheus3::CompensatedMean) => 1e-12,
                    _ => 0.0,
                };
                compare(case, &response["data"], &v, abs_floor)
            }
            (true, Err(e)) => Err(format!("we failed: {e}")),
            (false, Ok(v)) => Err(format!(
                "Prometheus failed ({}), we returned a {}",
                response["error"],
                v.result_type()
            )),
            (false, Err(_)) => Ok(()),
        };
        if let Err(why) = outcome {
            failures.push(format!(
                "expected.jsonl:{} {} {}\n    {why}",
                case.line, case.kind, case.query
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{label}: {} of {} golden queries differ from Prometheus:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn golden_queries_match_prometheus_from_head_and_from_segments() {
    let dir = tempfile::tempdir().unwrap();
    let db = load(dir.path());
    run_suite(&db, "head");
    db.persist_all().unwrap();
    db.close().unwrap();
    drop(db);
    let db = Db::open(dir.path(), Options::default()).unwrap();
    assert!(
        !db.stats().unwrap().segments.is_empty(),
        "nothing was persisted"
    );
    run_suite(&db, "segments");
}
