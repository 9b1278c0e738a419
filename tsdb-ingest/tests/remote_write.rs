//! Remote write 1.0 and 2.0 end to end through a real database: what lands, what is
//! refused and why, and the answers (status, body, 2.0 headers) the spec asks for.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{fixture, fixture_with, metric, now_ms, read};
use prost::Message;
use tsdb_index::Matcher;
use tsdb_ingest::proto::{prometheus as v1, write_v2 as v2};
use tsdb_ingest::{IngestLimits, MetricType, Protocol, Reason, STALE_NAN};

fn label(n: &str, v: &str) -> v1::Label {
    v1::Label {
        name: n.into(),
        value: v.into(),
    }
}

fn series(labels: &[(&str, &str)], samples: &[(i64, f64)]) -> v1::TimeSeries {
    v1::TimeSeries {
        labels: labels.iter().map(|(n, v)| label(n, v)).collect(),
        samples: samples
            .iter()
            .map(|&(timestamp, value)| v1::Sample { value, timestamp })
            .collect(),
        ..Default::default()
    }
}

fn snappy(bytes: &[u8]) -> Vec<u8> {
    snap::raw::Encoder::new().compress_vec(bytes).unwrap()
}

const V1_TYPE: &str = "application/x-protobuf";
const V2_TYPE: &str = "application/x-protobuf;proto=io.prometheus.write.v2.Request";

#[test]
fn v1_writes_samples_keeps_stale_markers_and_metadata() {
    let f = fixture(IngestLimits::default());
    let t = now_ms();
    let stale = f64::from_bits(STALE_NAN);
    let req = v1::WriteRequest {
        timeseries: vec![
            series(
                &[("__name__", "up"), ("job", "node")],
                &[(t - 2000, 1.0), (t - 1000, 1.0), (t, stale)],
            ),
            series(&[("__name__", "up"), ("job", "prom")], &[(t, 0.0)]),
        ],
        metadata: vec![v1::MetricMetadata {
            r#type: 2,
            metric_family_name: "up".into(),
            help: "Whether the target is up.".into(),
            unit: String::new(),
        }],
    };
    let o = f
        .ingester
        .remote_write(&snappy(&req.encode_to_vec()), Some(V1_TYPE), Some("snappy"));
    assert_eq!((o.accepted, o.refused_total()), (4, 0), "{o:?}");
    let r = o.response();
    assert_eq!((r.status, r.body.len()), (204, 0));
    assert!(r.headers.is_empty(), "1.0 has no written headers");

    let node = read(&f.db, &[Matcher::equal("job", "node")]);
    assert_eq!(node.len(), 1);
    assert_eq!(
        node[0].1,
        vec![
            (t - 2000, 1f64.to_bits()),
            (t - 1000, 1f64.to_bits()),
            (t, STALE_NAN)
        ],
        "the stale marker is kept bit for bit"
    );
    let md = f.ingester.metadata().query(Some("up"), 0, 0);
    assert_eq!(md[0].1[0].metric_type, MetricType::Gauge);
    assert_eq!(md[0].1[0].help, "Whether the target is up.");
    assert_eq!(f.ingester.stats().accepted(Protocol::RemoteWriteV1), 4);
}

#[test]
fn v1_refuses_bad_series_exemplars_and_histograms_and_keeps_the_rest() {
    let f = fixture(IngestLimits::default());
    let t = now_ms();
    let mut with_extras = series(&[("__name__", "good")], &[(t, 1.0)]);
    with_extras.exemplars.push(v1::Exemplar {
        labels: vec![label("trace_id", "abc")],
        value: 1.0,
        timestamp: t,
    });
    with_extras.histograms.push(v1::Histogram {
        timestamp: t,
        ..Default::default()
    });
    let req = v1::WriteRequest {
        timeseries: vec![
            with_extras,
            series(&[("__name__", "1bad")], &[(t, 1.0), (t + 1, 2.0)]),
            series(&[("job", "no_name")], &[(t, 1.0)]),
        ],
        ..Default::default()
    };
    let o = f
        .ingester
        .remote_write(&snappy(&req.encode_to_vec()), None, None);
    assert_eq!(o.accepted, 1);
    assert_eq!(o.refused(Reason::InvalidLabels), 3);
    assert_eq!(o.refused(Reason::Exemplar), 1);
    assert_eq!(o.refused(Reason::NativeHistogram), 1);
    let r = o.response();
    assert_eq!(r.status, 400, "refused data is never retried");
    let body = r.body_text();
    assert!(body.starts_with("written 1 samples; refused: invalid_labels 3, exemplar_unsupported 1, native_histogram_unsupported 1\n"), "{body}");
    assert!(body.contains("exemplars are not stored"), "{body}");
    assert!(body.contains("invalid metric name \"1bad\""), "{body}");
    assert_eq!(metric(&f.db, "good").len(), 1);
    let stats = f.ingester.stats();
    assert_eq!(stats.refused(Protocol::RemoteWriteV1, Reason::Exemplar), 1);
    assert_eq!(
        stats.refused(Protocol::RemoteWriteV1, Reason::InvalidLabels),
        3
    );
}

#[test]
fn out_of_order_and_future_samples_are_refused_by_the_database() {
    let f = fixture(IngestLimits::default());
    let t = now_ms();
    let first = v1::WriteRequest {
        timeseries: vec![series(&[("__name__", "m")], &[(t, 1.0)])],
        ..Default::default()
    };
    assert!(f
        .ingester
        .remote_write(&snappy(&first.encode_to_vec()), None, None)
        .is_success());
    let second = v1::WriteRequest {
        timeseries: vec![
            series(&[("__name__", "m")], &[(t - 60_000, 0.5), (t + 1000, 2.0)]),
            series(&[("__name__", "future")], &[(t + 7_200_000, 1.0)]),
        ],
        ..Default::default()
    };
    let o = f
        .ingester
        .remote_write(&snappy(&second.encode_to_vec()), None, None);
    assert_eq!(o.accepted, 1);
    assert_eq!(o.refused(Reason::OutOfOrder), 1);
    assert_eq!(o.refused(Reason::TooFarInFuture), 1);
    assert_eq!(o.response().status, 400);
    assert_eq!(metric(&f.db, "m")[0].1, vec![(t, 1.0), (t + 1000, 2.0)]);
}

fn v2_series(refs: &[u32], samples: &[(i64, f64)]) -> v2::TimeSeries {
    v2::TimeSeries {
        labels_refs: refs.to_vec(),
        samples: samples
            .iter()
            .map(|&(timestamp, value)| v2::Sample {
                value,
                timestamp,
                start_timestamp: 0,
            })
            .collect(),
        ..Default::default()
    }
}

#[test]
fn v2_symbols_metadata_headers_and_bad_references() {
    let f = fixture(IngestLimits::default());
    let t = now_ms();
    let symbols: Vec<String> = [
        "",
        "__name__",
        "http_requests_total",
        "code",
        "200",
        "500",
        "Requests.",
        "requests",
    ]
    .map(String::from)
    .to_vec();
    let mut counter = v2_series(&[1, 2, 3, 4], &[(t - 1000, 10.0), (t, 12.0)]);
    counter.metadata = Some(v2::Metadata {
        r#type: 1,
        help_ref: 6,
        unit_ref: 7,
    });
    let mut with_exemplar = v2_series(&[1, 2, 3, 5], &[(t, 1.0)]);
    with_exemplar.exemplars.push(v2::Exemplar {
        labels_refs: vec![],
        value: 1.0,
        timestamp: t,
    });
    let req = v2::Request {
        symbols,
        timeseries: vec![
            counter,
            with_exemplar,
            v2_series(&[1, 2, 3, 99], &[(t, 1.0)]), // value ref outside the table
            v2_series(&[1, 2, 3], &[(t, 1.0)]),     // odd number of refs
            v2_series(&[1, 2], &[]),                // no samples
            {
                let mut s = v2_series(&[1, 2], &[]);
                s.histograms.push(v2::Histogram {
                    timestamp: t,
                    ..Default::default()
                });
                s
            },
        ],
    };
    let o = f
        .ingester
        .remote_write(&snappy(&req.encode_to_vec()), Some(V2_TYPE), Some("snappy"));
    assert_eq!(o.accepted, 3, "{o:?}");
    assert_eq!(o.refused(Reason::Malformed), 3);
    assert_eq!(o.refused(Reason::Exemplar), 1);
    assert_eq!(o.refused(Reason::NativeHistogram), 1);
    let r = o.response();
    assert_eq!(r.status, 400);
    assert_eq!(
        r.header("X-Prometheus-Remote-Write-Samples-Written"),
        Some("3")
    );
    assert_eq!(
        r.header("X-Prometheus-Remote-Write-Histograms-Written"),
        Some("0")
    );
    assert_eq!(
        r.header("X-Prometheus-Remote-Write-Exemplars-Written"),
        Some("0")
    );
    assert!(
        r.body_text().contains("outside the symbol table"),
        "{}",
        r.body_text()
    );
    let md = f
        .ingester
        .metadata()
        .query(Some("http_requests_total"), 0, 0);
    assert_eq!(
        (
            md[0].1[0].metric_type,
            md[0].1[0].help.as_str(),
            md[0].1[0].unit.as_str()
        ),
        (MetricType::Counter, "Requests.", "requests")
    );
    let got = metric(&f.db, "http_requests_total");
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].1, vec![(t - 1000, 10.0), (t, 12.0)]);

    // a clean 2.0 request: 204 with the headers
    let req = v2::Request {
        symbols: vec!["".into(), "__name__".into(), "x".into()],
        timeseries: vec![v2_series(&[1, 2], &[(t, 1.0)])],
    };
    let r = f
        .ingester
        .remote_write(&snappy(&req.encode_to_vec()), Some(V2_TYPE), None)
        .response();
    assert_eq!(r.status, 204);
    assert_eq!(
        r.header("x-prometheus-remote-write-samples-written"),
        Some("1")
    );
}

#[test]
fn negotiation_decoding_and_size_failures() {
    let f = fixture(IngestLimits {
        max_body_bytes: 1000,
        max_decompressed_bytes: 2000,
        ..IngestLimits::default()
    });
    let body = snappy(&v1::WriteRequest::default().encode_to_vec());
    let status = |o: tsdb_ingest::Outcome| o.response().status;
    assert_eq!(
        status(
            f.ingester
                .remote_write(&body, Some("application/json"), None)
        ),
        415
    );
    assert_eq!(
        status(
            f.ingester
                .remote_write(&body, Some("application/x-protobuf;proto=x.Y"), None)
        ),
        415
    );
    assert_eq!(
        status(f.ingester.remote_write(&body, None, Some("gzip"))),
        415
    );
    assert_eq!(
        status(f.ingester.remote_write(b"\x05garbage", None, None)),
        400
    );
    // valid snappy, not protobuf
    assert_eq!(
        status(f.ingester.remote_write(&snappy(&[0xff; 10]), None, None)),
        400
    );
    assert_eq!(
        status(f.ingester.remote_write(&vec![0u8; 1001], None, None)),
        413
    );
    assert_eq!(
        status(f.ingester.remote_write(&snappy(&[0u8; 2001]), None, None)),
        413
    );
    assert_eq!(status(f.ingester.remote_write(&body, None, None)), 204);
    let stats = f.ingester.stats();
    assert_eq!(
        stats.failed(
            Protocol::RemoteWriteV1,
            tsdb_ingest::FailureKind::UnsupportedMediaType
        ),
        3
    );
    assert_eq!(
        stats.failed(
            Protocol::RemoteWriteV1,
            tsdb_ingest::FailureKind::BodyTooLarge
        ),
        2
    );
    assert_eq!(stats.requests(Protocol::RemoteWriteV1), 8);
}

#[test]
fn limits_on_samples_labels_and_series() {
    let f = fixture(IngestLimits {
        max_samples_per_request: 3,
        max_series_per_metric: 2,
        max_series: 3,
        labels: tsdb_index::LabelLimits {
            max_labels: 3,
            max_value_len: 10,
            ..tsdb_index::LabelLimits::default()
        },
        ..IngestLimits::default()
    });
    let t = now_ms();
    let write = |ts: Vec<v1::TimeSeries>| {
        let req = v1::WriteRequest {
            timeseries: ts,
            ..Default::default()
        };
        f.ingester
            .remote_write(&snappy(&req.encode_to_vec()), None, None)
    };
    // samples per request: refused whole, nothing written
    let o = write(vec![series(
        &[("__name__", "a")],
        &[(t, 1.0), (t + 1, 1.0), (t + 2, 1.0), (t + 3, 1.0)],
    )]);
    assert!(matches!(
        o.failure,
        Some(tsdb_ingest::RequestError::TooManySamples { count: 4, limit: 3 })
    ));
    assert_eq!(o.response().status, 400);
    assert!(metric(&f.db, "a").is_empty());
    // label count and length
    let o = write(vec![
        series(
            &[("__name__", "a"), ("b", "1"), ("c", "1"), ("d", "1")],
            &[(t, 1.0)],
        ),
        series(&[("__name__", "a"), ("b", "01234567890")], &[(t, 1.0)]),
    ]);
    assert_eq!(
        (
            o.refused(Reason::TooManyLabels),
            o.refused(Reason::LabelTooLong)
        ),
        (1, 1)
    );
    // per metric: the third series of `a` is refused, the first two keep ingesting
    let o = write(vec![
        series(&[("__name__", "a"), ("i", "1")], &[(t, 1.0)]),
        series(&[("__name__", "a"), ("i", "2")], &[(t, 1.0)]),
        series(&[("__name__", "a"), ("i", "3")], &[(t, 1.0)]),
    ]);
    assert_eq!(
        (o.accepted, o.refused(Reason::SeriesPerMetricLimit)),
        (2, 1)
    );
    assert!(
        o.messages[0].contains("already has 2 active series"),
        "{:?}",
        o.messages
    );
    let o = write(vec![series(
        &[("__name__", "a"), ("i", "1")],
        &[(t + 10, 2.0)],
    )]);
    assert!(o.is_success(), "an existing series keeps ingesting: {o:?}");
    assert_eq!(f.ingester.metric_series("a"), 2);
    // total: 2 series in the head, limit 3: one more new series, then refusals
    let o = write(vec![
        series(&[("__name__", "b")], &[(t, 1.0)]),
        series(&[("__name__", "c")], &[(t, 1.0)]),
    ]);
    assert_eq!((o.accepted, o.refused(Reason::SeriesLimit)), (1, 1));
    assert_eq!(f.db.head_series(), 3);
    let r = o.response();
    assert_eq!(r.status, 400);
    assert!(
        r.body_text().contains("series_limit 1"),
        "{}",
        r.body_text()
    );
}

#[test]
fn tracker_is_seeded_from_the_head_on_restart() {
    let dir = tempfile::tempdir().unwrap();
    let t = now_ms();
    let limits = IngestLimits {
        max_series_per_metric: 1,
        ..IngestLimits::default()
    };
    let req = v1::WriteRequest {
        timeseries: vec![series(&[("__name__", "a"), ("i", "1")], &[(t, 1.0)])],
        ..Default::default()
    };
    let body = snappy(&req.encode_to_vec());
    {
        let db = tsdb_core::Db::open(dir.path(), tsdb_core::Options::default()).unwrap();
        let ing = tsdb_ingest::Ingester::new(db.clone(), limits.clone()).unwrap();
        assert!(ing.remote_write(&body, None, None).is_success());
        db.close().unwrap();
    }
    let db = tsdb_core::Db::open(dir.path(), tsdb_core::Options::default()).unwrap();
    let ing = tsdb_ingest::Ingester::new(db, limits).unwrap();
    assert_eq!(ing.metric_series("a"), 1);
    let other = v1::WriteRequest {
        timeseries: vec![series(&[("__name__", "a"), ("i", "2")], &[(t, 1.0)])],
        ..Default::default()
    };
    let o = ing.remote_write(&snappy(&other.encode_to_vec()), None, None);
    assert_eq!(
        o.refused(Reason::SeriesPerMetricLimit),
        1,
        "the replayed series counts"
    );
}

#[test]
fn a_closed_database_is_a_retryable_failure() {
    let f = fixture_with(IngestLimits::default(), tsdb_core::Options::default());
    f.db.close().unwrap();
    let req = v1::WriteRequest {
        timeseries: vec![series(&[("__name__", "a")], &[(now_ms(), 1.0)])],
        ..Default::default()
    };
    let o = f
        .ingester
        .remote_write(&snappy(&req.encode_to_vec()), None, None);
    assert!(matches!(
        o.failure,
        Some(tsdb_ingest::RequestError::Storage(_))
    ));
    assert_eq!(o.accepted, 0);
    assert_eq!(o.response().status, 503, "5xx: the sender retries");
    assert_eq!(
        f.ingester.stats().failed(
            Protocol::RemoteWriteV1,
            tsdb_ingest::FailureKind::Unavailable
        ),
        1
    );
}

#[test]
fn concurrent_writers_share_one_ingester() {
    let f = fixture(IngestLimits {
        max_series_per_metric: 1000,
        ..IngestLimits::default()
    });
    let t = now_ms();
    std::thread::scope(|scope| {
        for w in 0..4 {
            let ingester = f.ingester.clone();
            scope.spawn(move || {
                for round in 0..20 {
                    let ts = (0..50)
                        .map(|i| {
                            let id = format!("{w}-{i}");
                            series(&[("__name__", "conc"), ("id", &id)], &[(t + round, 1.0)])
                        })
                        .collect();
                    let req = v1::WriteRequest {
                        timeseries: ts,
                        ..Default::default()
                    };
                    let o = ingester.remote_write(&snappy(&req.encode_to_vec()), None, None);
                    assert!(o.is_success(), "{}", o.summary());
                }
            });
        }
    });
    assert_eq!(
        f.ingester.stats().accepted(Protocol::RemoteWriteV1),
        4 * 20 * 50
    );
    assert_eq!(f.ingester.stats().requests(Protocol::RemoteWriteV1), 80);
    assert_eq!(f.ingester.metric_series("conc"), 200);
    assert_eq!(f.db.head_series(), 200);
    let all = metric(&f.db, "conc");
    assert_eq!(all.len(), 200);
    assert!(all.iter().all(|(_, s)| s.len() == 20));
}
