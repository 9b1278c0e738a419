//! OTLP metrics translated as Prometheus 3 translates them, end to end through a real
//! database, with hand-built requests.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{fixture, metric, now_ms, read};
use prost::Message;
use tsdb_index::Matcher;
use tsdb_ingest::proto::otlp::collector::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use tsdb_ingest::proto::otlp::common::{any_value, AnyValue, InstrumentationScope, KeyValue};
use tsdb_ingest::proto::otlp::metrics::{
    exponential_histogram_data_point, metric, number_data_point, summary_data_point, Exemplar,
    ExponentialHistogram, ExponentialHistogramDataPoint, Gauge, Histogram, HistogramDataPoint,
    Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum, Summary, SummaryDataPoint,
};
use tsdb_ingest::proto::otlp::resource::Resource;
use tsdb_ingest::{IngestLimits, MetricType, Protocol, Reason, STALE_NAN};

const PROTOBUF: Option<&str> = Some("application/x-protobuf");

fn kv(k: &str, v: any_value::Value) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(AnyValue { value: Some(v) }),
        ..Default::default()
    }
}

fn s(k: &str, v: &str) -> KeyValue {
    kv(k, any_value::Value::StringValue(v.into()))
}

fn ns(ms: i64) -> u64 {
    u64::try_from(ms).unwrap() * 1_000_000
}

fn number(t: i64, v: f64, attrs: Vec<KeyValue>) -> NumberDataPoint {
    NumberDataPoint {
        attributes: attrs,
        time_unix_nano: ns(t),
        start_time_unix_nano: ns(t - 60_000),
        value: Some(number_data_point::Value::AsDouble(v)),
        ..Default::default()
    }
}

fn request(resource: Vec<KeyValue>, metrics: Vec<Metric>) -> Vec<u8> {
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource {
                attributes: resource,
                ..Default::default()
            }),
            scope_metrics: vec![ScopeMetrics {
                scope: Some(InstrumentationScope {
                    name: "test".into(),
                    ..Default::default()
                }),
                metrics,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
    .encode_to_vec()
}

fn service() -> Vec<KeyValue> {
    vec![
        s("service.name", "shop"),
        s("service.namespace", "prod"),
        s("service.instance.id", "pod-1"),
        s("host.name", "node-7"),
        kv("process.pid", any_value::Value::IntValue(42)),
    ]
}

#[test]
fn gauges_sums_histograms_and_summaries() {
    let f = fixture(IngestLimits::default());
    let t = now_ms();
    let metrics = vec![
        Metric {
            name: "queue.length".into(),
            unit: "{item}".into(),
            description: "Items waiting.".into(),
            data: Some(metric::Data::Gauge(Gauge {
                data_points: vec![number(
                    t,
                    3.0,
                    vec![s("queue", "a"), s("http.method", "GET")],
                )],
            })),
            ..Default::default()
        },
        Metric {
            name: "http.server.requests".into(),
            unit: "1".into(),
            data: Some(metric::Data::Sum(Sum {
                data_points: vec![NumberDataPoint {
                    value: Some(number_data_point::Value::AsInt(17)),
                    ..number(t, 0.0, vec![])
                }],
                aggregation_temporality: 2,
                is_monotonic: true,
            })),
            ..Default::default()
        },
        Metric {
            name: "memory.usage".into(),
            unit: "By".into(),
            data: Some(metric::Data::Sum(Sum {
                data_points: vec![number(t, 1024.0, vec![])],
                aggregation_temporality: 2,
                is_monotonic: false,
            })),
            ..Default::default()
        },
        Metric {
            name: "cpu.utilization".into(),
            unit: "1".into(),
            data: Some(metric::Data::Gauge(Gauge {
                data_points: vec![NumberDataPoint {
                    flags: 1, // no recorded value: a stale marker
                    ..number(t, 0.5, vec![])
                }],
            })),
            ..Default::default()
        },
        Metric {
            name: "http.server.duration".into(),
            unit: "s".into(),
            description: "Request latency.".into(),
            data: Some(metric::Data::Histogram(Histogram {
                data_points: vec![HistogramDataPoint {
                    time_unix_nano: ns(t),
                    count: 10,
                    sum: Some(4.5),
                    bucket_counts: vec![2, 5, 3],
                    explicit_bounds: vec![0.1, 0.5],
                    exemplars: vec![Exemplar {
                        time_unix_nano: ns(t),
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                aggregation_temporality: 2,
            })),
            ..Default::default()
        },
        Metric {
            name: "rpc.latency".into(),
            unit: "ms".into(),
            data: Some(metric::Data::Summary(Summary {
                data_points: vec![SummaryDataPoint {
                    time_unix_nano: ns(t),
                    count: 4,
                    sum: 20.0,
                    quantile_values: vec![
                        summary_data_point::ValueAtQuantile {
                            quantile: 0.5,
                            value: 4.0,
                        },
                        summary_data_point::ValueAtQuantile {
                            quantile: 0.99,
                            value: 9.0,
                        },
                    ],
                    ..Default::default()
                }],
            })),
            ..Default::default()
        },
    ];
    let o = f.ingester.otlp(&request(service(), metrics), PROTOBUF);
    // 1 gauge + 1 counter + 1 gauge + 1 stale + (sum, count, 2 buckets, +Inf) + (sum,
    // count, 2 quantiles) + target_info
    assert_eq!(o.accepted, 14, "{o:?}");
    assert_eq!(o.refused(Reason::Exemplar), 1);
    assert_eq!(o.points_refused, 0);
    let r = o.response();
    assert_eq!(r.status, 200);
    let body = ExportMetricsServiceResponse::decode(r.body.as_slice()).unwrap();
    let ps = body.partial_success.unwrap();
    assert_eq!(
        ps.rejected_data_points, 0,
        "exemplars are dropped, their points stored"
    );
    assert!(
        ps.error_message.contains("exemplars are not stored"),
        "{}",
        ps.error_message
    );

    let ident = r#"instance="pod-1", job="prod/shop""#;
    assert_eq!(
        metric(&f.db, "queue_length"),
        vec![(
            format!(r#"queue_length{{http_method="GET", {ident}, queue="a"}}"#),
            vec![(t, 3.0)]
        )]
    );
    assert_eq!(
        metric(&f.db, "http_server_requests_total")[0].1,
        vec![(t, 17.0)]
    );
    assert_eq!(metric(&f.db, "memory_usage_bytes")[0].1, vec![(t, 1024.0)]);
    let stale = read(
        &f.db,
        &[Matcher::equal("__name__", "cpu_utilization_ratio")],
    );
    assert_eq!(stale[0].1, vec![(t, STALE_NAN)]);
    let buckets = metric(&f.db, "http_server_duration_seconds_bucket");
    let by_le: Vec<(String, f64)> = buckets
        .iter()
        .map(|(l, s)| {
            (
                l.split("le=\"")
                    .nth(1)
                    .unwrap()
                    .split('"')
                    .next()
                    .unwrap()
                    .to_owned(),
                s[0].1,
            )
        })
        .collect();
    assert_eq!(
        by_le,
        vec![
            ("+Inf".into(), 10.0),
            ("0.1".into(), 2.0),
            ("0.5".into(), 7.0)
        ],
        "cumulative counts, +Inf = count"
    );
    assert_eq!(
        metric(&f.db, "http_server_duration_seconds_sum")[0].1,
        vec![(t, 4.5)]
    );
    assert_eq!(
        metric(&f.db, "http_server_duration_seconds_count")[0].1,
        vec![(t, 10.0)]
    );
    let quantiles = metric(&f.db, "rpc_latency_milliseconds");
    assert_eq!(quantiles.len(), 2);
    assert!(
        quantiles[0].0.contains(r#"quantile="0.5""#),
        "{:?}",
        quantiles
    );
    assert_eq!(
        metric(&f.db, "rpc_latency_milliseconds_count")[0].1,
        vec![(t, 4.0)]
    );
    assert_eq!(
        metric(&f.db, "target_info"),
        vec![(
            format!(r#"target_info{{host_name="node-7", {ident}, process_pid="42"}}"#),
            vec![(t, 1.0)]
        )]
    );

    let md = f.ingester.metadata();
    let h = md.query(Some("http_server_duration_seconds"), 0, 0);
    assert_eq!(
        (
            h[0].1[0].metric_type,
            h[0].1[0].help.as_str(),
            h[0].1[0].unit.as_str()
        ),
        (MetricType::Histogram, "Request latency.", "seconds")
    );
    assert_eq!(
        md.query(Some("http_server_requests_total"), 0, 0)[0].1[0].metric_type,
        MetricType::Counter
    );
    assert_eq!(
        md.query(Some("memory_usage_bytes"), 0, 0)[0].1[0].metric_type,
        MetricType::Gauge
    );
}

#[test]
fn delta_exponential_and_empty_metrics_are_refused_by_count() {
    let f = fixture(IngestLimits::default());
    let t = now_ms();
    let metrics = vec![
        Metric {
            name: "requests".into(),
            data: Some(metric::Data::Sum(Sum {
                data_points: vec![number(t, 1.0, vec![]), number(t, 2.0, vec![s("a", "b")])],
                aggregation_temporality: 1,
                is_monotonic: true,
            })),
            ..Default::default()
        },
        Metric {
            name: "latency".into(),
            data: Some(metric::Data::ExponentialHistogram(ExponentialHistogram {
                data_points: vec![ExponentialHistogramDataPoint {
                    time_unix_nano: ns(t),
                    count: 1,
                    positive: Some(exponential_histogram_data_point::Buckets {
                        offset: 0,
                        bucket_counts: vec![1],
                    }),
                    ..Default::default()
                }],
                aggregation_temporality: 2,
            })),
            ..Default::default()
        },
        Metric {
            name: "nothing".into(),
            ..Default::default()
        },
        Metric {
            name: "ok".into(),
            data: Some(metric::Data::Gauge(Gauge {
                data_points: vec![number(t, 1.0, vec![])],
            })),
            ..Default::default()
        },
    ];
    let o = f
        .ingester
        .otlp(&request(vec![s("service.name", "svc")], metrics), PROTOBUF);
    assert_eq!(o.accepted, 1);
    assert_eq!(o.refused(Reason::DeltaTemporality), 2);
    assert_eq!(o.refused(Reason::ExponentialHistogram), 1);
    assert_eq!(o.refused(Reason::UnsupportedMetric), 1);
    let ps = ExportMetricsServiceResponse::decode(o.response().body.as_slice())
        .unwrap()
        .partial_success
        .unwrap();
    assert_eq!(ps.rejected_data_points, 4);
    assert!(
        ps.error_message
            .contains("delta temporality is not supported"),
        "{}",
        ps.error_message
    );
    assert!(
        ps.error_message.contains("exponential histogram"),
        "{}",
        ps.error_message
    );
    assert_eq!(metric(&f.db, "ok").len(), 1);
    assert!(
        metric(&f.db, "target_info").is_empty(),
        "no attributes besides service.name"
    );
    assert_eq!(
        f.ingester
            .stats()
            .refused(Protocol::Otlp, Reason::DeltaTemporality),
        2
    );
}

#[test]
fn attribute_collisions_and_value_types() {
    let f = fixture(IngestLimits::default());
    let t = now_ms();
    let attrs = vec![
        s("a.b", "dot"),
        s("a_b", "underscore"),
        kv("flag", any_value::Value::BoolValue(true)),
        kv("ratio", any_value::Value::DoubleValue(0.25)),
        kv("raw", any_value::Value::BytesValue(b"hi".to_vec())),
        s("0lead", "x"),
        s("_under", "y"),
        s("__name__", "ignored"),
    ];
    let metrics = vec![Metric {
        name: "m".into(),
        data: Some(metric::Data::Gauge(Gauge {
            data_points: vec![number(t, 1.0, attrs)],
        })),
        ..Default::default()
    }];
    let o = f.ingester.otlp(&request(vec![], metrics), PROTOBUF);
    assert!(o.is_success(), "{o:?}");
    let got = metric(&f.db, "m");
    assert_eq!(
        got[0].0,
        r#"m{a_b="dot;underscore", flag="true", key_0lead="x", key_under="y", ratio="0.25", raw="aGk="}"#
    );
}

#[test]
fn target_info_spans_the_request_in_bounded_steps() {
    let f = fixture(IngestLimits::default());
    let t = now_ms();
    let metrics = vec![Metric {
        name: "g".into(),
        data: Some(metric::Data::Gauge(Gauge {
            data_points: vec![number(t - 600_000, 1.0, vec![]), number(t, 2.0, vec![])],
        })),
        ..Default::default()
    }];
    let o = f.ingester.otlp(&request(service(), metrics), PROTOBUF);
    assert!(o.is_success(), "{o:?}");
    let times: Vec<i64> = metric(&f.db, "target_info")[0]
        .1
        .iter()
        .map(|s| s.0)
        .collect();
    assert_eq!(
        times,
        vec![t - 600_000, t - 450_000, t - 300_000, t - 150_000, t],
        "every 2.5 minutes from the earliest point, then the latest"
    );
}

#[test]
fn content_type_and_malformed_bodies() {
    let f = fixture(IngestLimits {
        max_body_bytes: 100,
        ..IngestLimits::default()
    });
    let o = f.ingester.otlp(b"x", Some("text/plain"));
    assert_eq!(o.response().status, 415);
    let r = f.ingester.otlp(b"{}", Some("application/json")).response();
    assert_eq!((r.status, r.body_text().as_str()), (200, "{}"));
    let r = f.ingester.otlp(b"{", Some("application/json")).response();
    assert_eq!(r.status, 400);
    assert_eq!(r.content_type, Some("application/json"));
    assert!(
        r.body_text()
            .starts_with(r#"{"code":3,"message":"cannot decode"#),
        "{}",
        r.body_text()
    );
    let r = f.ingester.otlp(b"\xff\xff\xff", PROTOBUF).response();
    assert_eq!(r.status, 400);
    let status = tsdb_ingest::proto::otlp::Status::decode(r.body.as_slice()).unwrap();
    assert_eq!(status.code, 3);
    assert!(
        status.message.contains("ExportMetricsServiceRequest"),
        "{}",
        status.message
    );
    assert_eq!(
        f.ingester.otlp(&[0u8; 101], PROTOBUF).response().status,
        413
    );
    let r = f
        .ingester
        .otlp(b"", Some("application/x-protobuf; charset=utf-8"))
        .response();
    assert_eq!(r.status, 200, "an empty request is a valid empty export");
}

#[test]
fn otlp_json_is_translated_and_answered_in_json() {
    let f = fixture(IngestLimits::default());
    let t = now_ms();
    let body = format!(
        r#"{{"resourceMetrics":[{{"resource":{{"attributes":[
              {{"key":"service.name","value":{{"stringValue":"web"}}}},
              {{"key":"host.name","value":{{"stringValue":"h1"}}}}]}},
            "scopeMetrics":[{{"scope":{{"name":"browser"}},"metrics":[
              {{"name":"page.loads","unit":"1","sum":{{"aggregationTemporality":2,"isMonotonic":true,
                "dataPoints":[{{"timeUnixNano":"{ns}","asInt":"4","attributes":[{{"key":"page","value":{{"stringValue":"/"}}}}]}}]}}}},
              {{"name":"clicks","sum":{{"aggregationTemporality":1,"isMonotonic":true,
                "dataPoints":[{{"timeUnixNano":"{ns}","asInt":"1"}}]}}}}]}}]}}]}}"#,
        ns = ns(t)
    );
    let o = f
        .ingester
        .otlp(body.as_bytes(), Some("application/json; charset=utf-8"));
    assert_eq!(o.protocol, Protocol::OtlpJson);
    assert_eq!(
        (o.accepted, o.refused(Reason::DeltaTemporality)),
        (2, 1),
        "{o:?}"
    );
    let r = o.response();
    assert_eq!((r.status, r.content_type), (200, Some("application/json")));
    assert!(
        r.body_text().starts_with(r#"{"partialSuccess":{"rejectedDataPoints":"1","errorMessage":"written 2 samples; refused: delta_temporality_unsupported 1"#),
        "{}",
        r.body_text()
    );
    assert_eq!(
        metric(&f.db, "page_loads_total"),
        vec![(
            r#"page_loads_total{job="web", page="/"}"#.to_owned(),
            vec![(t, 4.0)]
        )]
    );
    assert_eq!(metric(&f.db, "target_info").len(), 1);
    assert_eq!(f.ingester.stats().accepted(Protocol::OtlpJson), 2);
}

#[test]
fn a_data_point_refused_by_the_database_counts_once() {
    let f = fixture(IngestLimits::default());
    let t = now_ms();
    let histogram = |at: i64| Metric {
        name: "lat".into(),
        unit: "s".into(),
        data: Some(metric::Data::Histogram(Histogram {
            data_points: vec![HistogramDataPoint {
                time_unix_nano: ns(at),
                count: 2,
                sum: Some(1.0),
                bucket_counts: vec![1, 1],
                explicit_bounds: vec![0.5],
                ..Default::default()
            }],
            aggregation_temporality: 2,
        })),
        ..Default::default()
    };
    let o = f
        .ingester
        .otlp(&request(vec![], vec![histogram(t)]), PROTOBUF);
    assert_eq!(o.accepted, 4, "{o:?}");
    // the same point a minute earlier: all four samples out of order, one point refused
    let o = f
        .ingester
        .otlp(&request(vec![], vec![histogram(t - 60_000)]), PROTOBUF);
    assert_eq!(
        (o.accepted, o.refused(Reason::OutOfOrder), o.points_refused),
        (0, 4, 1)
    );
    let ps = ExportMetricsServiceResponse::decode(o.response().body.as_slice())
        .unwrap()
        .partial_success
        .unwrap();
    assert_eq!(ps.rejected_data_points, 1);
    assert!(
        ps.error_message.contains("out of order"),
        "{}",
        ps.error_message
    );
}
