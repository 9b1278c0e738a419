//! Side by side with a real Prometheus 2.42 (Debian's `prometheus` and `promtool`,
//! installed by `.ci/run` through `../shared/peers/install-peers.sh`): both serve the
//! golden suite's data (Prometheus from blocks made by `promtool tsdb
//! create-blocks-from openmetrics`, this server from its own database), and every request
//! below must get the same HTTP status and the same body (as JSON), or, where noted, the
//! same shape (status, error type, the same object keys at every level).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod server_common;

use std::path::Path;
use std::process::Command;

use serde_json::Value as Json;
use server_common::{
    agent, enc, free_port, golden_dir, load_golden, require_tool, start_prometheus, External, Resp,
    Server, PROMETHEUS_INSTALL,
};

/// Prometheus serving the golden suite's data from blocks made by `promtool`.
fn start_prometheus_with_golden(dir: &Path) -> External {
    let promtool = require_tool("promtool", PROMETHEUS_INSTALL);
    let out = Command::new(&promtool)
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(golden_dir().join("data.om"))
        .arg(dir.join("data"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "promtool: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    start_prometheus(
        dir,
        "global:\n  scrape_interval: 1m\n  evaluation_interval: 1m\nscrape_configs: []\n",
        free_port(),
    )
}

fn call(base: &str, method: &str, path: &str) -> Resp {
    let a = agent();
    let url = format!("{base}{path}");
    let mut r = match method {
        "GET" => a.get(&url).call().unwrap(),
        "POST" => {
            let (u, body) = url.split_once('?').unwrap_or((&url, ""));
            a.post(u)
                .header("Content-Type", "application/x-www-form-urlencoded")
                .send(body)
                .unwrap()
        }
        other => {
            let req = ureq::http::Request::builder()
                .method(other)
                .uri(&url)
                .body(())
                .unwrap();
            a.run(req).unwrap()
        }
    };
    Resp {
        status: r.status().as_u16(),
        content_type: String::new(),
        body: r.body_mut().read_to_string().unwrap_or_default(),
    }
}

/// The same keys at every level (objects), the same kinds of values.
fn same_shape(a: &Json, b: &Json) -> bool {
    match (a, b) {
        (Json::Object(x), Json::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| same_shape(v, w)))
        }
        (Json::Array(x), Json::Array(y)) => match (x.first(), y.first()) {
            (Some(p), Some(q)) => same_shape(p, q),
            _ => true,
        },
        (Json::Number(_), Json::Number(_))
        | (Json::String(_), Json::String(_))
        | (Json::Bool(_), Json::Bool(_))
        | (Json::Null, Json::Null) => true,
        _ => false,
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Expect {
    /// Status and body (as JSON) equal.
    Same,
    /// Status equal, `errorType` equal (the message is the PromQL parser's wording).
    ErrorType,
    /// Status equal and the same shape.
    Shape,
    /// Status equal (the body is not JSON).
    Status,
}

#[test]
fn the_api_answers_as_prometheus_does() {
    let tmp = tempfile::tempdir().unwrap();
    let prom = start_prometheus_with_golden(tmp.path());
    let ours_dir = tmp.path().join("ours");
    load_golden(&ours_dir);
    let ours = Server::start(&ours_dir, &["--self-scrape-interval", "0"]);
    ours.wait_ready();
    let ours_url = format!("http://{}", ours.addr);

    let range = "start=1704060000&end=1704070800";
    let sel = |s: &str| enc(s);
    let cases: Vec<(&str, String, Expect)> = vec![
        (
            "GET",
            format!("/api/v1/series?match[]=temp_celsius&{range}"),
            Expect::Same,
        ),
        (
            "GET",
            format!(
                "/api/v1/series?match[]={}&match[]=requests_total",
                sel("temp_celsius{env=\"prod\"}")
            ),
            Expect::Same,
        ),
        (
            "POST",
            format!(
                "/api/v1/series?match[]={}",
                sel("{__name__=~\"temp.*|gap_gauge\"}")
            ),
            Expect::Same,
        ),
        (
            "GET",
            "/api/v1/series?match[]=temp_celsius&start=1&end=2".into(),
            Expect::Same,
        ),
        ("GET", "/api/v1/series".into(), Expect::Same),
        (
            "GET",
            "/api/v1/series?match[]=up&start=x".into(),
            Expect::Same,
        ),
        (
            "GET",
            "/api/v1/series?match[]=up&end=2024-13-01".into(),
            Expect::Same,
        ),
        (
            "GET",
            format!("/api/v1/series?match[]={}", sel("{job=~\".*\"}")),
            Expect::ErrorType,
        ),
        (
            "GET",
            format!("/api/v1/series?match[]={}", sel("rate(x[5m])")),
            Expect::ErrorType,
        ),
        ("GET", "/api/v1/labels".into(), Expect::Same),
        (
            "GET",
            format!("/api/v1/labels?match[]=temp_celsius&{range}"),
            Expect::Same,
        ),
        (
            "POST",
            "/api/v1/labels?match[]=requests_total&match[]=node_info".into(),
            Expect::Same,
        ),
        ("GET", "/api/v1/labels?start=abc".into(), Expect::Same),
        (
            "GET",
            format!("/api/v1/labels?match[]={}", sel("sum(x)")),
            Expect::ErrorType,
        ),
        ("GET", "/api/v1/label/env/values".into(), Expect::Same),
        (
            "GET",
            format!("/api/v1/label/instance/values?match[]=temp_celsius&{range}"),
            Expect::Same,
        ),
        ("GET", "/api/v1/label/__name__/values".into(), Expect::Same),
        (
            "GET",
            "/api/v1/label/nonexistent/values".into(),
            Expect::Same,
        ),
        ("GET", "/api/v1/label/a-b/values".into(), Expect::Same),
        ("GET", "/api/v1/label/env/values?end=x".into(), Expect::Same),
        ("POST", "/api/v1/label/env/values".into(), Expect::Status),
        ("GET", "/api/v1/metadata".into(), Expect::Same),
        (
            "GET",
            "/api/v1/metadata?metric=temp_celsius".into(),
            Expect::Same,
        ),
        ("GET", "/api/v1/metadata?limit=x".into(), Expect::Same),
        (
            "GET",
            format!("/api/v1/query_exemplars?query=temp_celsius&{range}"),
            Expect::Same,
        ),
        (
            "GET",
            "/api/v1/query_exemplars?query=1%2B1".into(),
            Expect::Status,
        ),
        (
            "GET",
            "/api/v1/query_exemplars?query=up&start=10&end=5".into(),
            Expect::Same,
        ),
        (
            "GET",
            "/api/v1/query_exemplars?query=up&start=x".into(),
            Expect::Same,
        ),
        (
            "GET",
            format!(
                "/api/v1/format_query?query={}",
                sel("sum by(job)(rate(x{a=\"b\"}[5m]))")
            ),
            Expect::Same,
        ),
        (
            "POST",
            format!(
                "/api/v1/format_query?query={}",
                sel("a+b*on(x)group_left(y)c")
            ),
            Expect::Same,
        ),
        (
            "GET",
            format!("/api/v1/format_query?query={}", sel("sum(")),
            Expect::ErrorType,
        ),
        (
            "GET",
            "/api/v1/query?query=1&time=yesterday".into(),
            Expect::Same,
        ),
        (
            "GET",
            "/api/v1/query?query=1&timeout=soon".into(),
            Expect::Same,
        ),
        (
            "POST",
            "/api/v1/query?query=temp_celsius&time=1704067200".into(),
            Expect::Same,
        ),
        (
            "POST",
            "/api/v1/query_range?query=temp_celsius&start=1704066000&end=1704067200&step=60".into(),
            Expect::Same,
        ),
        (
            "GET",
            "/api/v1/query_range?query=up&start=1&end=2".into(),
            Expect::Same,
        ),
        ("PUT", "/api/v1/query?query=1".into(), Expect::Status),
        ("GET", "/api/v1/status/buildinfo".into(), Expect::Shape),
        ("GET", "/api/v1/status/runtimeinfo".into(), Expect::Shape),
        ("GET", "/api/v1/status/config".into(), Expect::Shape),
        ("GET", "/api/v1/status/tsdb".into(), Expect::Shape),
        ("GET", "/api/v1/nonexistent".into(), Expect::Status),
    ];
    let mut failures = Vec::new();
    let mut successes = 0;
    for (method, path, expect) in &cases {
        let theirs = call(&prom.url, method, path);
        let mine = call(&ours_url, method, path);
        successes += usize::from(theirs.status == 200);
        let ok = mine.status == theirs.status
            && match expect {
                Expect::Status => true,
                _ if theirs.status == 204 => mine.body.is_empty(),
                Expect::Same => {
                    serde_json::from_str::<Json>(&mine.body).ok()
                        == serde_json::from_str::<Json>(&theirs.body).ok()
                }
                Expect::ErrorType => {
                    let (a, b): (Json, Json) = (
                        serde_json::from_str(&mine.body).unwrap_or_default(),
                        serde_json::from_str(&theirs.body).unwrap_or_default(),
                    );
                    a["errorType"] == b["errorType"] && a["status"] == b["status"]
                }
                Expect::Shape => match (
                    serde_json::from_str::<Json>(&mine.body),
                    serde_json::from_str::<Json>(&theirs.body),
                ) {
                    (Ok(a), Ok(b)) => same_shape(&a, &b),
                    _ => false,
                },
            };
        if !ok {
            failures.push(format!(
                "{method} {path}\n  prometheus {}: {}\n  ours       {}: {}",
                theirs.status, theirs.body, mine.status, mine.body
            ));
        }
    }
    // both really served the data
    assert!(successes >= 20, "{successes}");
    let v: Json =
        serde_json::from_str(&call(&prom.url, "GET", "/api/v1/label/env/values").body).unwrap();
    assert_eq!(v["data"], serde_json::json!(["dev", "prod", "staging"]));
    assert!(
        failures.is_empty(),
        "{} of {} differ:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
