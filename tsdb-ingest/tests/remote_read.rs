//! Remote read 1.0 (`SAMPLES`): queries answered with exactly the stored samples (stale
//! markers bit for bit), in the request's order; unsupported response types, bad bodies
//! and the sample limit refused with Prometheus' statuses.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use prost::Message;
use tsdb_core::{Db, Options};
use tsdb_index::Labels;
use tsdb_ingest::proto::prometheus::{
    label_matcher, read_request::ResponseType, LabelMatcher, Query, ReadRequest, ReadResponse,
};
use tsdb_ingest::{remote_read, ReadLimits, STALE_NAN};

const T0: i64 = 1_700_000_000_000;

fn db() -> (tempfile::TempDir, Db) {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(
        dir.path(),
        Options {
            clock: std::sync::Arc::new(tsdb_core::ManualClock::new(T0 + 3_600_000)),
            ..Options::default()
        },
    )
    .unwrap();
    for host in ["a", "b", "c"] {
        let l = Labels::new([("__name__", "cpu"), ("host", host)]).unwrap();
        for i in 0..10 {
            let v = if i == 9 {
                f64::from_bits(STALE_NAN)
            } else {
                i as f64
            };
            db.append(&l, T0 + i * 15_000, v).unwrap();
        }
    }
    let l = Labels::new([("__name__", "mem"), ("host", "a")]).unwrap();
    db.append(&l, T0, 42.0).unwrap();
    (dir, db)
}

fn matcher(t: label_matcher::Type, name: &str, value: &str) -> LabelMatcher {
    LabelMatcher {
        r#type: t as i32,
        name: name.into(),
        value: value.into(),
    }
}

fn request(queries: Vec<Query>, accepted: Vec<ResponseType>) -> Vec<u8> {
    let req = ReadRequest {
        queries,
        accepted_response_types: accepted.into_iter().map(|t| t as i32).collect(),
    };
    snap::raw::Encoder::new()
        .compress_vec(&req.encode_to_vec())
        .unwrap()
}

fn query(mint: i64, maxt: i64, matchers: Vec<LabelMatcher>) -> Query {
    Query {
        start_timestamp_ms: mint,
        end_timestamp_ms: maxt,
        matchers,
        hints: None,
    }
}

fn decode(body: &[u8]) -> ReadResponse {
    let raw = snap::raw::Decoder::new().decompress_vec(body).unwrap();
    ReadResponse::decode(raw.as_slice()).unwrap()
}

#[test]
fn queries_are_answered_with_the_stored_samples_in_order() {
    let (_dir, db) = db();
    use label_matcher::Type::*;
    let body = request(
        vec![
            query(
                T0 + 15_000,
                T0 + 135_000,
                vec![matcher(Eq, "__name__", "cpu"), matcher(Re, "host", "a|b")],
            ),
            query(T0, T0, vec![matcher(Eq, "__name__", "mem")]),
            query(T0, T0 + 60_000, vec![matcher(Eq, "__name__", "none")]),
        ],
        vec![ResponseType::Samples],
    );
    let resp = remote_read(&db, &body, &ReadLimits::default()).unwrap();
    assert_eq!(resp.status, 200);
    assert_eq!(resp.content_type, Some("application/x-protobuf"));
    assert_eq!(
        resp.headers,
        vec![("Content-Encoding", "snappy".to_string())]
    );
    let r = decode(&resp.body);
    assert_eq!(r.results.len(), 3);
    let cpu = &r.results[0].timeseries;
    assert_eq!(cpu.len(), 2);
    for (s, host) in cpu.iter().zip(["a", "b"]) {
        let labels: Vec<(&str, &str)> = s
            .labels
            .iter()
            .map(|l| (l.name.as_str(), l.value.as_str()))
            .collect();
        assert_eq!(labels, [("__name__", "cpu"), ("host", host)]);
        let times: Vec<i64> = s.samples.iter().map(|x| x.timestamp).collect();
        assert_eq!(times, (1..10).map(|i| T0 + i * 15_000).collect::<Vec<_>>());
        assert_eq!(s.samples[0].value, 1.0);
        // the stale marker comes back bit for bit
        assert_eq!(s.samples[8].value.to_bits(), STALE_NAN);
    }
    assert_eq!(r.results[1].timeseries.len(), 1);
    assert_eq!(r.results[1].timeseries[0].samples[0].value, 42.0);
    assert!(r.results[2].timeseries.is_empty());
}

#[test]
fn an_absent_response_type_list_means_samples_and_streamed_only_is_refused() {
    let (_dir, db) = db();
    let q = || {
        query(
            T0,
            T0 + 1000,
            vec![matcher(label_matcher::Type::Eq, "host", "a")],
        )
    };
    let resp = remote_read(&db, &request(vec![q()], vec![]), &ReadLimits::default()).unwrap();
    assert_eq!(decode(&resp.body).results[0].timeseries.len(), 2);
    let e = remote_read(
        &db,
        &request(vec![q()], vec![ResponseType::StreamedXorChunks]),
        &ReadLimits::default(),
    )
    .unwrap_err();
    let r = e.response();
    assert_eq!(r.status, 400);
    assert!(
        r.body_text().contains("STREAMED_XOR_CHUNKS"),
        "{}",
        r.body_text()
    );
    // streamed first, samples second: samples is chosen
    let ok = remote_read(
        &db,
        &request(
            vec![q()],
            vec![ResponseType::StreamedXorChunks, ResponseType::Samples],
        ),
        &ReadLimits::default(),
    );
    assert!(ok.is_ok());
}

#[test]
fn bad_requests_and_limits_are_refused_with_their_statuses() {
    let (_dir, db) = db();
    let status = |body: &[u8], limits: &ReadLimits| match remote_read(&db, body, limits) {
        Ok(r) => r.status,
        Err(e) => e.response().status,
    };
    let d = ReadLimits::default();
    assert_eq!(status(b"not snappy at all \xff\xff", &d), 400);
    let garbage = snap::raw::Encoder::new().compress_vec(&[0xff; 64]).unwrap();
    assert_eq!(status(&garbage, &d), 400);
    use label_matcher::Type::*;
    // every matcher matches the empty string
    let empty = request(vec![query(T0, T0, vec![matcher(Eq, "x", "")])], vec![]);
    assert_eq!(status(&empty, &d), 400);
    // a bad regex
    let bad = request(vec![query(T0, T0, vec![matcher(Re, "host", "(")])], vec![]);
    assert_eq!(status(&bad, &d), 400);
    // the sample limit counts over all queries
    let all = request(
        vec![query(
            T0,
            T0 + 1_000_000,
            vec![matcher(Eq, "__name__", "cpu")],
        )],
        vec![],
    );
    let tight = ReadLimits {
        max_samples: 29,
        ..ReadLimits::default()
    };
    assert_eq!(status(&all, &tight), 400);
    let enough = ReadLimits {
        max_samples: 30,
        ..ReadLimits::default()
    };
    assert_eq!(status(&all, &enough), 200);
    // body limits, compressed and declared decompressed
    let small = ReadLimits {
        max_body_bytes: 8,
        ..ReadLimits::default()
    };
    assert_eq!(status(&all, &small), 413);
    let bomb = snap::raw::Encoder::new()
        .compress_vec(&[0u8; 100_000])
        .unwrap();
    let tiny = ReadLimits {
        max_decompressed_bytes: 1000,
        ..ReadLimits::default()
    };
    assert_eq!(status(&bomb, &tiny), 413);
}
