//! The calls Grafana's Prometheus data source makes, in its order, with its parameters
//! (from `grafana/grafana`: `pkg/promlib` for "Save & test" and queries, the frontend's
//! language provider and metrics browser), against a server that monitors itself. Each
//! response is checked the way Grafana reads it.
//!
//! 1. "Save & test": `GET /api/v1/status/buildinfo` (no `features`: a Prometheus), then
//!    the health query `1+1` as an instant query at time 4, by POST (Grafana's default
//!    HTTP method) with `Content-Type: application/x-www-form-urlencoded`.
//! 2. The query editor starts: `/api/v1/label/__name__/values` with `start`/`end`,
//!    `/api/v1/metadata`, `/api/v1/labels` with `start`/`end` (POST).
//! 3. The metrics browser: label values with `match[]`, labels with `match[]`, and
//!    `/api/v1/series` with `match[]` and `limit=40000`; a resource POST that gets 405 or
//!    400 is retried by GET, so label values (GET only) must answer GET.
//! 4. A panel: `query_range` with float `step` (POST), `query_exemplars`, and the
//!    "format query" button: `format_query`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod server_common;

use std::time::{Duration, Instant};

use server_common::{enc, form, Server};

fn now_s() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

#[test]
fn grafana_call_sequence() {
    let tmp = tempfile::tempdir().unwrap();
    let s = Server::start(&tmp.path().join("data"), &["--self-scrape-interval", "1s"]);
    s.wait_ready();
    let t0 = Instant::now();
    // two self-scrapes, so that a range query at a 1 s step has a point after the first
    let two = format!(
        "/api/v1/query?query={}",
        enc("count_over_time(up[1m]) >= 2")
    );
    while !s.get(&two).body.contains(r#""value""#) {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "no self-monitoring data"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // Grafana formats times as float seconds ('f', -1): now-1h .. now
    let end = format!("{}", (now_s() * 1000.0).round() / 1000.0);
    let start = format!("{}", (now_s() - 3600.0).round());
    let recent = format!("{}", (now_s() - 60.0).round());

    // 1. Save & test
    let r = s.get("/api/v1/status/buildinfo");
    assert_eq!(r.status, 200);
    let v = r.json();
    assert_eq!(v["status"], "success");
    assert!(v["data"]["version"].as_str().unwrap().starts_with("2."));
    assert!(v["data"].get("features").is_none());
    let r = s.post_form("/api/v1/query", &form(&[("query", "1+1"), ("time", "4")]));
    assert_eq!(
        (r.status, r.body.as_str()),
        (
            200,
            r#"{"status":"success","data":{"resultType":"scalar","result":[4,"2"]}}"#
        )
    );

    // 2. the editor's start
    let r = s.get(&format!(
        "/api/v1/label/__name__/values?start={start}&end={end}"
    ));
    let names: Vec<String> = serde_json::from_value(r.json()["data"].clone()).unwrap();
    assert!(
        names.contains(&"up".to_owned()) && names.contains(&"tsdb_head_series".to_owned()),
        "{names:?}"
    );
    let v = s.get("/api/v1/metadata").json();
    assert_eq!(v["status"], "success");
    assert_eq!(v["data"]["tsdb_http_requests"][0]["type"], "counter", "{v}");
    let r = s.post_form("/api/v1/labels", &form(&[("start", &start), ("end", &end)]));
    let labels: Vec<String> = serde_json::from_value(r.json()["data"].clone()).unwrap();
    for l in ["__name__", "instance", "job"] {
        assert!(labels.contains(&l.to_owned()), "{labels:?}");
    }

    // 3. the metrics browser: pick `up`, then its labels and their values
    let r = s.get(&format!(
        "/api/v1/label/job/values?start={start}&end={end}&match[]={}",
        enc("{__name__=\"up\"}")
    ));
    assert_eq!(r.body, r#"{"status":"success","data":["tsdb-server"]}"#);
    // a POST to label values is 405, which Grafana answers by retrying with GET
    assert_eq!(s.request("POST", "/api/v1/label/job/values").status, 405);
    let r = s.post_form(
        "/api/v1/labels",
        &form(&[("match[]", "up"), ("start", &start), ("end", &end)]),
    );
    let v = r.json();
    assert_eq!(
        v["data"],
        serde_json::json!(["__name__", "instance", "job"])
    );
    let r = s.post_form(
        "/api/v1/series",
        &form(&[
            ("match[]", "{__name__=\"up\"}"),
            ("start", &start),
            ("end", &end),
            ("limit", "40000"),
        ]),
    );
    let v = r.json();
    assert_eq!(v["data"][0]["__name__"], "up", "{v}");
    assert_eq!(v["data"][0]["instance"], s.addr.as_str());
    assert!(v.get("warnings").is_none());

    // 4. a panel
    let r = s.post_form(
        "/api/v1/query_range",
        &form(&[
            ("query", "sum by (job) (rate(tsdb_http_requests_total[1m]))"),
            ("start", &start),
            ("end", &end),
            ("step", "14.4"),
        ]),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    assert_eq!(v["data"]["resultType"], "matrix");
    let r = s.post_form(
        "/api/v1/query_range",
        // the last minute at a 1 s step: the server has been up for about a second
        &form(&[
            ("query", "up"),
            ("start", &recent),
            ("end", &end),
            ("step", "1"),
            ("timeout", "30s"),
        ]),
    );
    let v = r.json();
    let points = v["data"]["result"][0]["values"]
        .as_array()
        .unwrap_or_else(|| panic!("{} {recent} {end}", r.body));
    assert!(
        !points.is_empty() && points.iter().all(|p| p[1] == "1"),
        "{v}"
    );
    let r = s.post_form(
        "/api/v1/query_exemplars",
        &form(&[("query", "up"), ("start", &start), ("end", &end)]),
    );
    assert_eq!(r.body, r#"{"status":"success","data":[]}"#);
    let r = s.post_form(
        "/api/v1/format_query",
        &form(&[("query", "sum(rate(up[5m]))by(job)")]),
    );
    assert_eq!(
        r.body,
        r#"{"status":"success","data":"sum by (job) (rate(up[5m]))"}"#
    );
    // a query Grafana shows as an error: Prometheus' error JSON with 400
    let r = s.post_form(
        "/api/v1/query_range",
        &form(&[
            ("query", "rate(up)"),
            ("start", &start),
            ("end", &end),
            ("step", "15"),
        ]),
    );
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["errorType"], "bad_data");
    // responses are gzipped for clients that ask (Grafana's Go client does)
    let r = s.get_with(
        "/api/v1/label/__name__/values",
        &[("Accept-Encoding", "gzip")],
    );
    assert_eq!(r.status, 200);
}
