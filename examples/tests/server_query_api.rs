//! The query API over HTTP, against the golden suite's data: every one of the 520 recorded
//! queries, sent by GET and by POST in turn, answers with the status Prometheus 2.42 gave,
//! an error body identical to Prometheus' byte for byte, and a success body identical to
//! what the library (`tsdb_examples::api`, which `tsdb-query`'s golden test checks against
//! the recorded answers) produces: HTTP adds nothing and loses nothing. Then every
//! metadata and status endpoint's success and error shapes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod server_common;

use serde_json::Value as Json;
use server_common::{enc, form, golden_dir, load_golden, Server};

fn num(v: &Json) -> String {
    // the recorded times are JSON numbers; send them as Prometheus clients do
    match v {
        Json::Number(n) => n.to_string(),
        // a recorded bad parameter such as `time=abc`
        Json::String(s) => s.clone(),
        other => panic!("not a time: {other}"),
    }
}

#[test]
fn golden_suite_over_http_and_every_endpoint() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    load_golden(&data);

    // The library's answers, from the same data, before the server holds the directory.
    let expected_lines = std::fs::read_to_string(golden_dir().join("expected.jsonl")).unwrap();
    let cases: Vec<Json> = expected_lines
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(cases.len(), 520);
    let library: Vec<Result<String, String>> = {
        let db = tsdb_core::Db::open(&data, tsdb_core::Options::default()).unwrap();
        let engine = tsdb_examples::api::engine();
        let out = cases
            .iter()
            .map(|c| {
                let q = c["query"].as_str().unwrap();
                if c["kind"] == "instant" {
                    let t = num(&c["time"]);
                    tsdb_examples::api::query(&engine, &db, q, Some(&t), 0)
                } else {
                    tsdb_examples::api::query_range(
                        &engine,
                        &db,
                        q,
                        &num(&c["start"]),
                        &num(&c["end"]),
                        &num(&c["step"]),
                    )
                }
            })
            .collect();
        db.close().unwrap();
        out
    };

    let server = Server::start(&data, &["--self-scrape-interval", "0"]);
    server.wait_ready();

    let mut newer_functions = 0;
    let (mut exact_errors, mut worded_differently) = (0, 0);
    for (i, (c, lib)) in cases.iter().zip(&library).enumerate() {
        let q = c["query"].as_str().unwrap();
        let (path, params) = if c["kind"] == "instant" {
            (
                "/api/v1/query",
                vec![("query", q.to_owned()), ("time", num(&c["time"]))],
            )
        } else {
            (
                "/api/v1/query_range",
                vec![
                    ("query", q.to_owned()),
                    ("start", num(&c["start"])),
                    ("end", num(&c["end"])),
                    ("step", num(&c["step"])),
                ],
            )
        };
        let pairs: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let body = form(&pairs);
        let r = if i % 2 == 0 {
            server.get(&format!("{path}?{body}"))
        } else {
            server.post_form(path, &body)
        };
        assert_eq!(r.content_type, "application/json", "{q}");
        // the library's body, byte for byte
        match lib {
            Ok(b) | Err(b) => assert_eq!(&r.body, b, "query {i}: {q}"),
        }
        let recorded_status = c["http_status"].as_u64().unwrap();
        if q.contains("mad_over_time") {
            // newer than 2.42, which refused it as unknown: we answer
            newer_functions += 1;
            assert_eq!(r.status, 200, "{q}: {}", r.body);
            continue;
        }
        assert_eq!(
            u64::from(r.status),
            recorded_status,
            "query {i}: {q}: {}",
            r.body
        );
        if recorded_status != 200 {
            // errors: Prometheus' type always; the message byte for byte where the API
            // layer writes it (bad parameters); engine and parser messages are the
            // engine's business (the golden test in tsdb-query), counted here
            let ours: Json = r.json();
            assert_eq!(
                ours["errorType"], c["response"]["errorType"],
                "query {i}: {q}"
            );
            let (a, b) = (
                ours["error"].as_str().unwrap(),
                c["response"]["error"].as_str().unwrap(),
            );
            let api_layer = b.starts_with("exceeded maximum resolution")
                || (b.starts_with("invalid parameter") && !b.contains("parse error"));
            if api_layer || a == b {
                assert_eq!(a, b, "query {i}: {q}");
                exact_errors += 1;
            } else {
                worded_differently += 1;
            }
        }
    }
    assert!(newer_functions > 0);
    eprintln!("errors: {exact_errors} byte for byte, {worded_differently} worded differently by the engine or parser");
    assert!(exact_errors >= 10, "{exact_errors}");

    check_parameter_errors(&server);
    check_metadata_endpoints(&server);
    check_status_endpoints(&server);
    check_delete_series(&server);
}

/// Prometheus' messages for bad parameters.
fn check_parameter_errors(s: &Server) {
    let cases = [
        (
            "/api/v1/query?query=up&time=yesterday",
            400,
            r#"{"status":"error","errorType":"bad_data","error":"invalid parameter \"time\": Invalid time value for 'time': cannot parse \"yesterday\" to a valid timestamp"}"#,
        ),
        (
            "/api/v1/query?query=up&timeout=soon",
            400,
            r#"{"status":"error","errorType":"bad_data","error":"invalid parameter \"timeout\": cannot parse \"soon\" to a valid duration"}"#,
        ),
        (
            "/api/v1/query_range?query=up&start=1&end=2",
            400,
            r#"{"status":"error","errorType":"bad_data","error":"invalid parameter \"step\": cannot parse \"\" to a valid duration"}"#,
        ),
        (
            "/api/v1/query_range?query=sum(&start=1&end=2&step=1",
            400,
            r#"{"status":"error","errorType":"bad_data","error":"1:5: parse error: unclosed left parenthesis"}"#,
        ),
        (
            "/api/v1/query?query=sum(",
            400,
            r#"{"status":"error","errorType":"bad_data","error":"invalid parameter \"query\": 1:5: parse error: unclosed left parenthesis"}"#,
        ),
    ];
    for (path, status, body) in cases {
        let r = s.get(path);
        assert_eq!((r.status, r.body.as_str()), (status, body), "{path}");
    }
    // a query that cannot finish within its timeout parameter: 503 timeout
    let slow = enc("count(count_over_time({__name__=~\".+\"}[1h:1ms]))");
    let r = s.get(&format!(
        "/api/v1/query?query={slow}&time=1704067200&timeout=0.05"
    ));
    assert_eq!(r.status, 503, "{}", r.body);
    assert_eq!(r.json()["errorType"], "timeout");
}

fn check_metadata_endpoints(s: &Server) {
    // series: merged and deduplicated over several match[], sorted
    let r = s.get("/api/v1/series?match[]=temp_celsius%7Benv%3D%22prod%22%7D&match[]=temp_celsius&start=1704060000&end=1704067200");
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    assert_eq!(v["status"], "success");
    let series = v["data"].as_array().unwrap();
    assert_eq!(series.len(), 4, "{}", r.body);
    assert!(series.iter().all(|m| m["__name__"] == "temp_celsius"));
    assert!(
        r.body
            .starts_with(r#"{"status":"success","data":[{"__name__":"temp_celsius","env":"dev""#),
        "{}",
        r.body
    );
    // limit: truncated with Prometheus' warning
    let r = s.get("/api/v1/series?match[]=temp_celsius&limit=1");
    let v = r.json();
    assert_eq!(v["data"].as_array().unwrap().len(), 1);
    assert_eq!(v["warnings"][0], "results truncated due to limit");
    // errors
    for (path, status, body) in [
        (
            "/api/v1/series",
            400,
            r#"{"status":"error","errorType":"bad_data","error":"no match[] parameter provided"}"#,
        ),
        (
            "/api/v1/series?match[]=up&start=x",
            400,
            r#"{"status":"error","errorType":"bad_data","error":"invalid parameter \"start\": Invalid time value for 'start': cannot parse \"x\" to a valid timestamp"}"#,
        ),
        (
            "/api/v1/series?match[]=up&limit=x",
            400,
            r#"{"status":"error","errorType":"bad_data","error":"invalid parameter \"limit\": strconv.Atoi: parsing \"x\": invalid syntax"}"#,
        ),
        (
            "/api/v1/label/a-b/values",
            400,
            r#"{"status":"error","errorType":"bad_data","error":"invalid label name: \"a-b\""}"#,
        ),
    ] {
        let r = s.get(path);
        assert_eq!((r.status, r.body.as_str()), (status, body), "{path}");
    }
    let r = s.get("/api/v1/series?match[]=rate(up%5B5m%5D)");
    assert_eq!(r.status, 400);
    assert!(
        r.json()["error"]
            .as_str()
            .unwrap()
            .starts_with("invalid parameter \"match[]\": "),
        "{}",
        r.body
    );

    // labels, with and without match[], GET and POST
    let r = s.get("/api/v1/labels");
    let names: Vec<String> = serde_json::from_value(r.json()["data"].clone()).unwrap();
    assert!(names.contains(&"__name__".to_owned()) && names.contains(&"env".to_owned()));
    assert!(names.windows(2).all(|w| w[0] < w[1]), "sorted: {names:?}");
    let r = s.post_form(
        "/api/v1/labels",
        &form(&[
            ("match[]", "temp_celsius"),
            ("start", "1704060000"),
            ("end", "1704067200"),
        ]),
    );
    let with_match: Vec<String> = serde_json::from_value(r.json()["data"].clone()).unwrap();
    assert_eq!(with_match, ["__name__", "env", "instance", "job", "zone"]);
    let r = s.get("/api/v1/labels?limit=2");
    assert_eq!(r.json()["data"].as_array().unwrap().len(), 2);
    assert_eq!(r.json()["warnings"][0], "results truncated due to limit");

    // label values
    let r = s.get("/api/v1/label/env/values?match[]=temp_celsius");
    assert_eq!(
        r.body,
        r#"{"status":"success","data":["dev","prod","staging"]}"#
    );
    let r = s.get("/api/v1/label/nonexistent/values");
    assert_eq!(r.body, r#"{"status":"success","data":[]}"#);
    let r = s.get("/api/v1/label/__name__/values?limit=1");
    assert_eq!(r.json()["data"].as_array().unwrap().len(), 1);
    // POST is not a method of label values, as in Prometheus
    assert_eq!(s.request("POST", "/api/v1/label/env/values").status, 405);

    // metadata: no self-monitoring here, so empty
    let r = s.get("/api/v1/metadata");
    assert_eq!(r.body, r#"{"status":"success","data":{}}"#);
    let r = s.get("/api/v1/metadata?limit=x");
    assert_eq!(
        r.body,
        r#"{"status":"error","errorType":"bad_data","error":"limit must be a number"}"#
    );

    // exemplars: none stored; 204 for a query without selectors, as Prometheus
    let r = s.get("/api/v1/query_exemplars?query=temp_celsius&start=1704060000&end=1704067200");
    assert_eq!(r.body, r#"{"status":"success","data":[]}"#);
    assert_eq!(s.get("/api/v1/query_exemplars?query=1%2B1").status, 204);
    let r = s.get("/api/v1/query_exemplars?query=up&start=10&end=5");
    assert_eq!(
        r.body,
        r#"{"status":"error","errorType":"bad_data","error":"end timestamp must not be before start timestamp"}"#
    );

    // format_query
    let r = s.get(&format!(
        "/api/v1/format_query?query={}",
        enc("sum by(job)(rate(x{a=\"b\"}[5m]))")
    ));
    assert_eq!(
        r.body,
        r#"{"status":"success","data":"sum by (job) (rate(x{a=\"b\"}[5m]))"}"#
    );
    let r = s.post_form("/api/v1/format_query", "query=sum(");
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json()["error"],
        "invalid parameter \"query\": 1:5: parse error: unclosed left parenthesis"
    );

    // unknown paths
    assert_eq!(s.get("/api/v1/nope").status, 404);
}

fn check_status_endpoints(s: &Server) {
    let v = s.get("/api/v1/status/buildinfo").json();
    assert_eq!(v["data"]["version"], "2.42.0");
    assert!(v["data"]["revision"]
        .as_str()
        .unwrap()
        .starts_with("tsdb-server "));
    assert!(v["data"].get("features").is_none());

    let v = s.get("/api/v1/status/runtimeinfo").json();
    for key in [
        "startTime",
        "CWD",
        "reloadConfigSuccess",
        "lastConfigTime",
        "corruptionCount",
        "goroutineCount",
        "GOMAXPROCS",
        "storageRetention",
    ] {
        assert!(v["data"].get(key).is_some(), "{key} missing: {v}");
    }
    assert_eq!(v["data"]["reloadConfigSuccess"], true);

    let v = s.get("/api/v1/status/flags").json();
    assert_eq!(v["data"]["self-scrape-interval"], "0s");
    assert_eq!(v["data"]["out-of-order-window"], "1d");

    let v = s.get("/api/v1/status/config").json();
    assert!(
        v["data"]["yaml"]
            .as_str()
            .unwrap()
            .contains("evaluation_interval: 1m"),
        "{v}"
    );

    let r = s.get("/api/v1/status/tsdb");
    let v = r.json();
    let head = &v["data"]["headStats"];
    assert_eq!(head["numSeries"], 78, "{}", r.body);
    assert!(head["chunkCount"].as_u64().unwrap() >= 78);
    // the golden data's first and last samples
    assert_eq!(head["minTime"], 1_704_063_607_000i64, "{}", r.body);
    assert_eq!(head["maxTime"], 1_704_070_792_000i64, "{}", r.body);
    let by_metric = v["data"]["seriesCountByMetricName"].as_array().unwrap();
    assert!(!by_metric.is_empty() && by_metric.len() <= 10);
    assert!(by_metric[0]["name"].is_string() && by_metric[0]["value"].is_u64());
    for key in [
        "labelValueCountByLabelName",
        "memoryInBytesByLabelName",
        "seriesCountByLabelValuePair",
    ] {
        assert!(v["data"][key].is_array(), "{key}");
    }
    let v = s.get("/api/v1/status/tsdb?limit=2").json();
    assert_eq!(
        v["data"]["seriesCountByMetricName"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(s.get("/api/v1/status/tsdb?limit=0").status, 400);
}

fn check_delete_series(s: &Server) {
    let count = |s: &Server| {
        s.get("/api/v1/series?match[]=temp_celsius").json()["data"]
            .as_array()
            .unwrap()
            .len()
    };
    assert_eq!(count(s), 4);
    // GET is not allowed; no match[] is bad_data
    assert_eq!(
        s.get("/api/v1/admin/tsdb/delete_series?match[]=x").status,
        405
    );
    let r = s.post_form("/api/v1/admin/tsdb/delete_series", "");
    assert_eq!(
        r.body,
        r#"{"status":"error","errorType":"bad_data","error":"no match[] parameter provided"}"#
    );
    let r = s.post_form(
        "/api/v1/admin/tsdb/delete_series",
        &form(&[("match[]", "temp_celsius{env=\"prod\"}")]),
    );
    assert_eq!((r.status, r.body.as_str()), (204, ""));
    assert_eq!(count(s), 2);
    let r = s.get(&format!(
        "/api/v1/query?query={}&time=1704067200",
        enc("count(temp_celsius)")
    ));
    assert!(r.body.contains(r#""value":[1704067200,"2"]"#), "{}", r.body);
}
