//! Push ingestion and remote read through the server, end to end: each protocol's
//! endpoint writes what it is sent (queried back through the API), answers refusals in
//! its peer's shape while keeping the good part, decodes gzip and zstd bodies, refuses an
//! unknown encoding and a body over the limit with the protocol's status, needs the write
//! credential, and counts everything on `/metrics`. Remote read answers the samples
//! written. Real Prometheus as a client: `server_prometheus_remote.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod server_common;

use std::io::Write;

use prost::Message;
use server_common::{enc, Server};
use tsdb_ingest::proto::prometheus as pb;
use tsdb_ingest::proto::write_v2;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// `query` at `time` (ms) as a sorted list of (labels as `k=v,…`, value).
fn instant(s: &Server, query: &str, time_ms: i64) -> Vec<(String, f64)> {
    let r = s.get(&format!(
        "/api/v1/query?query={}&time={}",
        enc(query),
        time_ms as f64 / 1000.0
    ));
    assert_eq!(r.status, 200, "{}", r.body);
    let mut out: Vec<(String, f64)> = r.json()["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            let labels = x["metric"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap()))
                .collect::<Vec<_>>()
                .join(",");
            (labels, x["value"][1].as_str().unwrap().parse().unwrap())
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn gzip(body: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(body).unwrap();
    e.finish().unwrap()
}

fn snappy(body: &[u8]) -> Vec<u8> {
    snap::raw::Encoder::new().compress_vec(body).unwrap()
}

fn label(name: &str, value: &str) -> pb::Label {
    pb::Label {
        name: name.into(),
        value: value.into(),
    }
}

#[test]
fn influx_line_protocol_v1_and_v2() {
    let tmp = tempfile::tempdir().unwrap();
    let s = Server::start(
        tmp.path(),
        &["--self-scrape-interval", "0", "--influx-db-label", "db"],
    );
    s.wait_ready();
    let t = now_ms() / 1000;
    // v1: one bad line among good ones; the good ones land, the bad one is named
    let body = format!(
        "cpu,host=a usage_idle=90,state=\"ok\" {t}\ncpu,host=b usage_idle= {t}\ncpu,host=c usage_idle=80 {t}\n"
    );
    let r = s.post_bytes(
        "/write?db=telegraf&precision=s",
        body.as_bytes(),
        &[("Content-Type", "text/plain")],
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("host=b"), "{}", r.text());
    assert_eq!(
        instant(&s, "cpu_usage_idle", t * 1000),
        vec![
            (
                "__name__=cpu_usage_idle,db=telegraf,host=a".to_owned(),
                90.0
            ),
            (
                "__name__=cpu_usage_idle,db=telegraf,host=c".to_owned(),
                80.0
            ),
        ]
    );
    // v2, gzip and zstd bodies, the bucket as the label; nanosecond default precision
    let ns = t * 1_000_000_000;
    let r = s.post_bytes(
        "/api/v2/write?bucket=b1&org=o",
        &gzip(format!("mem,host=a used=1 {ns}\n").as_bytes()),
        &[("Content-Encoding", "gzip")],
    );
    assert_eq!(r.status, 204, "{}", r.text());
    let zstd_body = zstd::encode_all(format!("mem,host=b used=2 {ns}\n").as_bytes(), 1).unwrap();
    let r = s.post_bytes(
        "/api/v2/write?bucket=b2",
        &zstd_body,
        &[("Content-Encoding", "zstd")],
    );
    assert_eq!(r.status, 204, "{}", r.text());
    assert_eq!(
        instant(&s, "mem_used", t * 1000),
        vec![
            ("__name__=mem_used,db=b1,host=a".to_owned(), 1.0),
            ("__name__=mem_used,db=b2,host=b".to_owned(), 2.0),
        ]
    );
    // an encoding nobody decodes: 415, nothing written
    let r = s.post_bytes(
        "/api/v2/write",
        b"mem,host=z used=3",
        &[("Content-Encoding", "br")],
    );
    assert_eq!(r.status, 415, "{}", r.text());
    assert!(r.text().contains("br"), "{}", r.text());
    // v2 with an empty body: InfluxDB's 400
    let r = s.post_bytes("/api/v2/write", b"", &[]);
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("writing requires points"), "{}", r.text());
    // a bad precision
    let r = s.post_bytes("/write?precision=h", b"x v=1", &[]);
    assert_eq!(r.status, 400, "{}", r.text());
    // clients' health check
    assert_eq!(s.request("GET", "/ping").status, 204);
    // the counters
    let m = s.get("/metrics").body;
    assert!(
        m.contains(r#"tsdb_ingest_samples_accepted_total{protocol="influx_v1"} 2"#),
        "{m}"
    );
    assert!(
        m.contains(r#"tsdb_ingest_samples_accepted_total{protocol="influx_v2"} 2"#),
        "{m}"
    );
    assert!(
        m.contains(
            r#"tsdb_ingest_samples_refused_total{protocol="influx_v1",reason="malformed"} 1"#
        ),
        "{m}"
    );
    assert!(
        m.contains(r#"tsdb_ingest_string_fields_skipped_total{protocol="influx_v1"} 1"#),
        "{m}"
    );
    assert!(
        m.contains(
            r#"tsdb_ingest_requests_failed_total{protocol="influx_v2",kind="unsupported_media_type"} 1"#
        ),
        "{m}"
    );
}

/// `/api/v1/admin/tsdb/flush` persists the head into segments and runs the compactions
/// due (what the peers benchmark calls before it measures the data directory): the
/// samples are then read from segments, unchanged, and a second flush has nothing left
/// to write.
#[test]
fn flush_persists_the_head_to_segments() {
    let tmp = tempfile::tempdir().unwrap();
    let s = Server::start(tmp.path(), &["--self-scrape-interval", "0"]);
    s.wait_ready();
    let t = now_ms() / 1000;
    let body: String = (0..6)
        .map(|i| format!("disk,host=a used={i} {}\n", t - 50 + i * 10))
        .collect();
    let r = s.post_bytes("/write?precision=s", body.as_bytes(), &[]);
    assert_eq!(r.status, 204, "{}", r.text());
    let before = instant(&s, "sum_over_time(disk_used[1m])", t * 1000);
    assert_eq!(before, vec![("host=a".to_owned(), 15.0)]);
    let segment_dirs = || match std::fs::read_dir(tmp.path().join("segments")) {
        Ok(d) => d.count(),
        Err(_) => 0,
    };
    assert_eq!(segment_dirs(), 0, "nothing is due yet");
    assert_eq!(s.get("/api/v1/admin/tsdb/flush").status, 405);

    let r = s.post_form("/api/v1/admin/tsdb/flush", "");
    assert_eq!(r.status, 200, "{}", r.body);
    let written = r.json()["data"]["segments"].as_u64().unwrap();
    // six samples within a minute: one segment, two if a block-range boundary falls between
    assert!((1..=2).contains(&written), "{}", r.body);
    assert_eq!(segment_dirs() as u64, written);
    assert_eq!(
        instant(&s, "sum_over_time(disk_used[1m])", t * 1000),
        before
    );
    let r = s.post_form("/api/v1/admin/tsdb/flush", "");
    assert_eq!(
        r.body,
        r#"{"status":"success","data":{"segments":0,"compacted":0,"compactedInto":0,"rollups":0}}"#,
        "nothing left in the head"
    );
}

#[test]
fn remote_write_1_and_2_with_metadata_and_limits() {
    let tmp = tempfile::tempdir().unwrap();
    let s = Server::start(
        tmp.path(),
        &[
            "--self-scrape-interval",
            "0",
            "--max-request-body-size",
            "64KiB",
        ],
    );
    s.wait_ready();
    let t = now_ms();
    // 1.0: two series, one with an invalid label name (refused, the other written)
    let req = pb::WriteRequest {
        timeseries: vec![
            pb::TimeSeries {
                labels: vec![label("__name__", "req_total"), label("job", "api")],
                samples: vec![
                    pb::Sample {
                        value: 1.0,
                        timestamp: t - 15_000,
                    },
                    pb::Sample {
                        value: 2.0,
                        timestamp: t,
                    },
                ],
                ..Default::default()
            },
            pb::TimeSeries {
                labels: vec![label("__name__", "bad"), label("0bad", "x")],
                samples: vec![pb::Sample {
                    value: 1.0,
                    timestamp: t,
                }],
                ..Default::default()
            },
        ],
        metadata: vec![pb::MetricMetadata {
            r#type: pb::metric_metadata::MetricType::Counter as i32,
            metric_family_name: "req_total".into(),
            help: "Requests.".into(),
            unit: String::new(),
        }],
    };
    let headers = [
        ("Content-Type", "application/x-protobuf"),
        ("Content-Encoding", "snappy"),
        ("X-Prometheus-Remote-Write-Version", "0.1.0"),
    ];
    let r = s.post_bytes("/api/v1/write", &snappy(&req.encode_to_vec()), &headers);
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("0bad"), "{}", r.text());
    assert_eq!(
        instant(&s, "req_total", t),
        vec![("__name__=req_total,job=api".to_owned(), 2.0)]
    );
    let md = s.get("/api/v1/metadata?metric=req_total").json();
    assert_eq!(
        md["data"]["req_total"][0],
        serde_json::json!({"type": "counter", "help": "Requests.", "unit": ""})
    );
    // 2.0: symbols, the written-samples header
    let req = write_v2::Request {
        symbols: vec![
            String::new(),
            "__name__".into(),
            "temp".into(),
            "room".into(),
            "hall".into(),
        ],
        timeseries: vec![write_v2::TimeSeries {
            labels_refs: vec![1, 2, 3, 4],
            samples: vec![write_v2::Sample {
                value: 21.5,
                timestamp: t,
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    let r = s.post_bytes(
        "/api/v1/write",
        &snappy(&req.encode_to_vec()),
        &[
            (
                "Content-Type",
                "application/x-protobuf;proto=io.prometheus.write.v2.Request",
            ),
            ("Content-Encoding", "snappy"),
            ("X-Prometheus-Remote-Write-Version", "2.0.0"),
        ],
    );
    assert_eq!(r.status, 204, "{}", r.text());
    assert_eq!(
        r.header("X-Prometheus-Remote-Write-Samples-Written"),
        Some("1")
    );
    assert_eq!(
        instant(&s, "temp", t),
        vec![("__name__=temp,room=hall".to_owned(), 21.5)]
    );
    // not snappy: 400, nothing written
    let r = s.post_bytes("/api/v1/write", b"\xff\xff\xff\xff not snappy", &headers);
    assert_eq!(r.status, 400, "{}", r.text());
    // over --max-request-body-size: 413 (random bytes do not compress)
    let mut seed = 1u64;
    let big: Vec<u8> = (0..100_000)
        .map(|_| {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            (seed >> 56) as u8
        })
        .collect();
    let r = s.post_bytes("/api/v1/write", &big, &headers);
    assert_eq!(r.status, 413, "{}", r.text());
    // also when the body only grows past the limit while being gunzipped (Influx)
    let lines: String = (0..5000).map(|i| format!("big,i={i} v=1\n")).collect();
    let r = s.post_bytes(
        "/write",
        &gzip(lines.as_bytes()),
        &[("Content-Encoding", "gzip")],
    );
    assert_eq!(r.status, 413, "{}", r.text());
    assert!(r.text().contains("too large"), "{}", r.text());
    assert!(instant(&s, "big_v", now_ms()).is_empty());
    let m = s.get("/metrics").body;
    assert!(
        m.contains(r#"tsdb_ingest_samples_accepted_total{protocol="remote_write_v1"} 2"#),
        "{m}"
    );
    assert!(
        m.contains(r#"tsdb_ingest_samples_accepted_total{protocol="remote_write_v2"} 1"#),
        "{m}"
    );
    assert!(
        m.contains(r#"tsdb_ingest_requests_failed_total{protocol="remote_write_v1",kind="body_too_large"} 1"#),
        "{m}"
    );
}

#[test]
fn otlp_protobuf_and_json() {
    use tsdb_ingest::proto::otlp::{collector, common, metrics, resource};
    let tmp = tempfile::tempdir().unwrap();
    let s = Server::start(tmp.path(), &["--self-scrape-interval", "0"]);
    s.wait_ready();
    let t = now_ms();
    let attr = |k: &str, v: &str| common::KeyValue {
        key: k.into(),
        value: Some(common::AnyValue {
            value: Some(common::any_value::Value::StringValue(v.into())),
        }),
        ..Default::default()
    };
    let req = collector::ExportMetricsServiceRequest {
        resource_metrics: vec![metrics::ResourceMetrics {
            resource: Some(resource::Resource {
                attributes: vec![
                    attr("service.name", "checkout"),
                    attr("service.instance.id", "i-1"),
                ],
                ..Default::default()
            }),
            scope_metrics: vec![metrics::ScopeMetrics {
                metrics: vec![metrics::Metric {
                    name: "queue.depth".into(),
                    data: Some(metrics::metric::Data::Gauge(metrics::Gauge {
                        data_points: vec![metrics::NumberDataPoint {
                            time_unix_nano: u64::try_from(t).unwrap() * 1_000_000,
                            value: Some(metrics::number_data_point::Value::AsDouble(7.0)),
                            attributes: vec![attr("queue", "orders")],
                            ..Default::default()
                        }],
                    })),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    // protobuf, gzip, on VictoriaMetrics' path
    let r = s.post_bytes(
        "/opentelemetry/v1/metrics",
        &gzip(&req.encode_to_vec()),
        &[
            ("Content-Type", "application/x-protobuf"),
            ("Content-Encoding", "gzip"),
        ],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("application/x-protobuf"));
    assert_eq!(
        instant(&s, "queue_depth", t),
        vec![(
            "__name__=queue_depth,instance=i-1,job=checkout,queue=orders".to_owned(),
            7.0
        )]
    );
    // JSON on Prometheus' path
    let ns = (t * 1_000_000).to_string();
    let json = serde_json::json!({"resourceMetrics": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "web"}}]},
        "scopeMetrics": [{"metrics": [{"name": "sessions", "sum": {
            "aggregationTemporality": 2, "isMonotonic": false,
            "dataPoints": [{"timeUnixNano": ns, "asInt": "12"}]}}]}]}]});
    let r = s.post_bytes(
        "/api/v1/otlp/v1/metrics",
        json.to_string().as_bytes(),
        &[("Content-Type", "application/json")],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        instant(&s, "sessions", t),
        vec![("__name__=sessions,job=web".to_owned(), 12.0)]
    );
    // not protobuf: 400 with an OTLP status body
    let r = s.post_bytes(
        "/api/v1/otlp/v1/metrics",
        b"\x0a\xff\xff\xff",
        &[("Content-Type", "application/x-protobuf")],
    );
    assert_eq!(r.status, 400, "{}", r.text());
}

#[test]
fn remote_read_answers_what_was_written() {
    let tmp = tempfile::tempdir().unwrap();
    let s = Server::start(tmp.path(), &["--self-scrape-interval", "0"]);
    s.wait_ready();
    let t = now_ms() - 60_000;
    let lines: String = (0..10)
        .flat_map(|i| {
            ["a", "b"]
                .into_iter()
                .map(move |h| format!("load,host={h} v={i} {}\n", t + i * 10_000))
        })
        .collect();
    let r = s.post_bytes("/write?precision=ms", lines.as_bytes(), &[]);
    assert_eq!(r.status, 204, "{}", r.text());
    let req = pb::ReadRequest {
        queries: vec![pb::Query {
            start_timestamp_ms: t + 20_000,
            end_timestamp_ms: t + 50_000,
            matchers: vec![
                pb::LabelMatcher {
                    r#type: pb::label_matcher::Type::Eq as i32,
                    name: "__name__".into(),
                    value: "load_v".into(),
                },
                pb::LabelMatcher {
                    r#type: pb::label_matcher::Type::Re as i32,
                    name: "host".into(),
                    value: "a|c".into(),
                },
            ],
            hints: None,
        }],
        accepted_response_types: vec![pb::read_request::ResponseType::Samples as i32],
    };
    let r = s.post_bytes(
        "/api/v1/read",
        &snappy(&req.encode_to_vec()),
        &[
            ("Content-Type", "application/x-protobuf"),
            ("Content-Encoding", "snappy"),
            ("X-Prometheus-Remote-Read-Version", "0.1.0"),
        ],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let body = snap::raw::Decoder::new().decompress_vec(&r.body).unwrap();
    let resp = pb::ReadResponse::decode(body.as_slice()).unwrap();
    assert_eq!(resp.results.len(), 1);
    let series = &resp.results[0].timeseries;
    assert_eq!(series.len(), 1);
    let names: Vec<(&str, &str)> = series[0]
        .labels
        .iter()
        .map(|l| (l.name.as_str(), l.value.as_str()))
        .collect();
    assert_eq!(names, vec![("__name__", "load_v"), ("host", "a")]);
    let got: Vec<(i64, f64)> = series[0]
        .samples
        .iter()
        .map(|x| (x.timestamp, x.value))
        .collect();
    let want: Vec<(i64, f64)> = (2..=5).map(|i| (t + i * 10_000, i as f64)).collect();
    assert_eq!(got, want);
    // garbage: 400
    let r = s.post_bytes("/api/v1/read", b"garbage", &[]);
    assert_eq!(r.status, 400, "{}", r.text());
}

#[test]
fn writes_need_the_write_credential() {
    let tmp = tempfile::tempdir().unwrap();
    let auth = tmp.path().join("auth.yml");
    std::fs::write(
        &auth,
        "read:\n  bearer_tokens: [reader]\nwrite:\n  bearer_tokens: [writer]\n",
    )
    .unwrap();
    let data = tmp.path().join("data");
    let s = Server::start(
        &data,
        &[
            "--self-scrape-interval",
            "0",
            "--auth-file",
            auth.to_str().unwrap(),
        ],
    );
    s.wait_ready();
    let line = format!("up_test v=1 {}\n", now_ms());
    // A refusal is answered before the body is read, so the server closes that
    // connection: `Connection: close` keeps the client from reusing it for the next
    // request (which then failed with "peer disconnected" now and then).
    let close = ("Connection", "close");
    let r = s.post_bytes("/write?precision=ms", line.as_bytes(), &[close]);
    assert_eq!(r.status, 401);
    let r = s.post_bytes(
        "/write?precision=ms",
        line.as_bytes(),
        &[("Authorization", "Bearer reader"), close],
    );
    assert_eq!(r.status, 403);
    // InfluxDB v2 clients' `Token` scheme carries the same secret
    let r = s.post_bytes(
        "/api/v2/write?precision=ms",
        line.as_bytes(),
        &[("Authorization", "Token writer")],
    );
    assert_eq!(r.status, 204, "{}", r.text());
    // remote read is a read
    let r = s.post_bytes("/api/v1/read", b"", &[("Authorization", "Bearer writer")]);
    assert_eq!(r.status, 403);
}

/// A metric's value in `/metrics` text (the first line starting with `name `).
fn metric_value(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .unwrap_or_else(|| panic!("{name} not in {text}"))
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn results_cache_serves_repeats_and_a_backfill_invalidates() {
    let tmp = tempfile::tempdir().unwrap();
    let s = Server::start(tmp.path(), &["--self-scrape-interval", "0"]);
    s.wait_ready();
    const H: i64 = 3_600_000;
    let now = now_ms();
    let start = (now - 6 * H) - (now - 6 * H).rem_euclid(H);
    // six hours of one gauge per minute
    let lines: String = (0..360)
        .map(|i| format!("temp,room=a v={} {}\n", i % 50, start + i * 60_000))
        .collect();
    let r = s.post_bytes("/write?precision=ms", lines.as_bytes(), &[]);
    assert_eq!(r.status, 204, "{}", r.text());
    let range = |q: &str| {
        let r = s.get(&format!(
            "/api/v1/query_range?query={}&start={}&end={}&step=60",
            enc(q),
            start / 1000,
            (start + 6 * H - 60_000) / 1000
        ));
        assert_eq!(r.status, 200, "{}", r.body);
        r.body
    };
    let first = range("sum(temp_v)");
    let m = s.get("/metrics").body;
    let misses = metric_value(&m, "tsdb_query_cache_misses_total");
    assert!(misses >= 4.0, "{m}");
    assert_eq!(range("sum(temp_v)"), first);
    let m = s.get("/metrics").body;
    assert!(
        metric_value(&m, "tsdb_query_cache_hits_total") >= 4.0,
        "{m}"
    );
    assert!(metric_value(&m, "tsdb_query_cache_entries") >= 4.0, "{m}");
    // backfill a second room into the second hour: the cached answer there is dropped
    let lines: String = (60..120)
        .map(|i| format!("temp,room=b v=1000 {}\n", start + i * 60_000))
        .collect();
    let r = s.post_bytes("/write?precision=ms", lines.as_bytes(), &[]);
    assert_eq!(r.status, 204, "{}", r.text());
    let m = s.get("/metrics").body;
    assert!(
        metric_value(&m, "tsdb_query_cache_invalidated_total") >= 1.0,
        "{m}"
    );
    let after = range("sum(temp_v)");
    assert_ne!(after, first);
    let v: serde_json::Value = serde_json::from_str(&after).unwrap();
    let points = v["data"]["result"][0]["values"].as_array().unwrap();
    let at = |t: i64| {
        points
            .iter()
            .find(|p| p[0].as_f64().unwrap() as i64 == t / 1000)
            .map(|p| p[1].as_str().unwrap().parse::<f64>().unwrap())
    };
    assert_eq!(at(start + 90 * 60_000), Some(1000.0 + 40.0));
    assert_eq!(at(start + 30 * 60_000), Some(30.0));
}

/// A remote-write sender catching up after an outage: series that are receiving live
/// samples get six hours of their history pushed, oldest first, in request after
/// request. Every sample is accepted (late data behind each series' newest sample, inside
/// `--out-of-order-window`) and readable at once.
#[test]
fn six_hours_of_history_into_live_series_are_accepted_whole() {
    let tmp = tempfile::tempdir().unwrap();
    let s = Server::start(tmp.path(), &["--self-scrape-interval", "0"]);
    s.wait_ready();
    const SERIES: usize = 2000;
    const MIN: i64 = 60_000;
    let now = now_ms();
    let write = |samples: &dyn Fn(usize) -> Vec<pb::Sample>| {
        let req = pb::WriteRequest {
            timeseries: (0..SERIES)
                .map(|i| pb::TimeSeries {
                    labels: vec![
                        label("__name__", "node_load1"),
                        label("instance", &format!("host-{i:04}")),
                    ],
                    samples: samples(i),
                    ..Default::default()
                })
                .collect(),
            metadata: vec![],
        };
        let r = s.post_bytes(
            "/api/v1/write",
            &snappy(&req.encode_to_vec()),
            &[
                ("Content-Type", "application/x-protobuf"),
                ("Content-Encoding", "snappy"),
            ],
        );
        assert_eq!(r.status, 204, "{}", r.text());
    };
    // live: the newest sample of every series first
    write(&|i| {
        vec![pb::Sample {
            value: i as f64,
            timestamp: now,
        }]
    });
    // the backlog, one hour per request, oldest first: 360 samples per series
    for hour in 0..6 {
        write(&|_| {
            (0..60)
                .map(|m| {
                    let t = now - 6 * 60 * MIN + (hour * 60 + m) * MIN;
                    pb::Sample {
                        value: (hour * 60 + m) as f64,
                        timestamp: t,
                    }
                })
                .collect()
        });
    }
    let m = s.get("/metrics").body;
    assert_eq!(
        metric_value(
            &m,
            r#"tsdb_ingest_samples_accepted_total{protocol="remote_write_v1"}"#
        ),
        (SERIES * 361) as f64,
        "{m}"
    );
    let got = instant(&s, "sum(count_over_time(node_load1[7h]))", now);
    assert_eq!(got, vec![(String::new(), (SERIES * 361) as f64)]);
    let got = instant(&s, "node_load1{instance=\"host-0007\"} offset 3h", now);
    assert_eq!(
        got,
        vec![("__name__=node_load1,instance=host-0007".to_owned(), 180.0)]
    );
}
