//! Influx line protocol end to end, and a differential test against InfluxData's own
//! parser (the `influxdb-line-protocol` crate): for generated lines, both accept the
//! same lines and agree on series, fields and values.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{fixture, metric, now_ms};
use proptest::prelude::*;
use tsdb_index::Labels;
use tsdb_ingest::{FailureKind, InfluxParams, IngestLimits, Protocol, Reason};
use tsdb_text::influx::{sanitize_label_name, sanitize_metric_name, Options, Parser, Precision};

#[test]
fn good_lines_land_bad_lines_are_named_and_strings_counted() {
    let f = fixture(IngestLimits::default());
    let s = now_ms() / 1000;
    let body = format!(
        "cpu,host=a usage_user=51.5,usage_idle=40i,note=\"hot\" {s}\n\
         cpu,host=b usage_user= {s}\n\
         # a comment\n\
         mem,host=a used=1u,ok=true {s}\n\
         cpu,host=a usage_user=52 {}\n",
        s + 10
    );
    let params = InfluxParams {
        precision: Some("s"),
        ..InfluxParams::default()
    };
    let o = f
        .ingester
        .influx(body.as_bytes(), Protocol::InfluxV2, &params);
    assert_eq!(
        (o.accepted, o.refused_total(), o.string_fields_skipped),
        (5, 1, 1),
        "{o:?}"
    );
    let r = o.response();
    assert_eq!(r.status, 400);
    assert_eq!(
        r.body_text(),
        format!(
            r#"{{"code":"invalid","message":"partial write: unable to parse 'cpu,host=b usage_user= {s}': line 2, column 23: field \"usage_user\" has an empty key or value dropped=1"}}"#
        )
    );
    let t = s * 1000;
    assert_eq!(
        metric(&f.db, "cpu_usage_user"),
        vec![(
            r#"cpu_usage_user{host="a"}"#.to_owned(),
            vec![(t, 51.5), (t + 10_000, 52.0)]
        )]
    );
    assert_eq!(metric(&f.db, "mem_ok")[0].1, vec![(t, 1.0)]);
    let stats = f.ingester.stats();
    assert_eq!(stats.string_fields_skipped(Protocol::InfluxV2), 1);
    assert_eq!(stats.refused(Protocol::InfluxV2, Reason::Malformed), 1);

    // only string fields skipped: a full success
    let o = f.ingester.influx(
        format!("x a=1,b=\"s\" {s}").as_bytes(),
        Protocol::InfluxV1,
        &params,
    );
    assert_eq!((o.response().status, o.string_fields_skipped), (204, 1));
}

#[test]
fn v1_errors_empty_bodies_precision_and_limits() {
    let f = fixture(IngestLimits {
        max_body_bytes: 200,
        max_samples_per_request: 2,
        ..IngestLimits::default()
    });
    let none = InfluxParams::default();
    let r = f
        .ingester
        .influx(b"bad line\n", Protocol::InfluxV1, &none)
        .response();
    assert_eq!(r.status, 400);
    assert!(
        r.body_text()
            .starts_with(r#"{"error":"unable to parse 'bad line': line 1"#),
        "{}",
        r.body_text()
    );
    assert_eq!(
        f.ingester
            .influx(b"", Protocol::InfluxV1, &none)
            .response()
            .status,
        204
    );
    let r = f
        .ingester
        .influx(b"\n", Protocol::InfluxV2, &none)
        .response();
    assert_eq!(
        (r.status, r.body_text().as_str()),
        (
            400,
            r#"{"code":"invalid","message":"writing requires points"}"#
        )
    );
    let bad = InfluxParams {
        precision: Some("h"),
        ..InfluxParams::default()
    };
    let r = f
        .ingester
        .influx(b"x a=1", Protocol::InfluxV2, &bad)
        .response();
    assert_eq!(
        (r.status, r.body_text().as_str()),
        (
            400,
            r#"{"code":"invalid","message":"invalid precision; valid precision units are ns, us, ms, and s"}"#
        )
    );
    let v1_only = InfluxParams {
        precision: Some("u"),
        ..InfluxParams::default()
    };
    assert_eq!(
        f.ingester
            .influx(b"x a=1", Protocol::InfluxV2, &v1_only)
            .response()
            .status,
        400
    );
    assert_eq!(
        f.ingester
            .influx(b"x a=1", Protocol::InfluxV1, &v1_only)
            .response()
            .status,
        204
    );
    let r = f
        .ingester
        .influx(&[b'x'; 201], Protocol::InfluxV2, &none)
        .response();
    assert_eq!(r.status, 413);
    assert!(
        r.body_text().starts_with(r#"{"code":"request too large","#),
        "{}",
        r.body_text()
    );
    let r = f
        .ingester
        .influx(b"x a=1,b=2,c=3", Protocol::InfluxV2, &none)
        .response();
    assert_eq!(r.status, 413, "more samples than the per-request limit");
    assert_eq!(
        f.ingester
            .stats()
            .failed(Protocol::InfluxV2, FailureKind::TooManySamples),
        1
    );
}

#[test]
fn extra_label_and_default_timestamps() {
    let f = fixture(IngestLimits::default());
    let before = now_ms();
    let params = InfluxParams {
        extra_label: Some(("db", "telegraf")),
        ..InfluxParams::default()
    };
    let o = f.ingester.influx(
        b"disk,db=mine free=1\ndisk free=2\n",
        Protocol::InfluxV1,
        &params,
    );
    assert!(o.is_success(), "{o:?}");
    let got = metric(&f.db, "disk_free");
    let labels: Vec<&str> = got.iter().map(|(l, _)| l.as_str()).collect();
    assert_eq!(
        labels,
        [r#"disk_free{db="mine"}"#, r#"disk_free{db="telegraf"}"#],
        "a tag of the same name wins"
    );
    let t = got[0].1[0].0;
    assert!(
        t >= before && t <= now_ms(),
        "lines without a timestamp get the request time"
    );
}

// ---- differential test against influxdb-line-protocol ----

fn escaped(chars: &'static str, escapes: &'static [&'static str]) -> impl Strategy<Value = String> {
    let plain =
        proptest::sample::select(chars.chars().collect::<Vec<_>>()).prop_map(|c| c.to_string());
    let esc = proptest::sample::select(escapes.to_vec()).prop_map(str::to_owned);
    proptest::collection::vec(prop_oneof![4 => plain, 1 => esc], 1..8).prop_map(|v| v.concat())
}

#[derive(Clone, Debug)]
enum Value {
    Float(f64),
    /// Written in exponent notation (`1.5e3`).
    FloatExp(f64),
    Int(i64),
    UInt(u64),
    Bool(bool),
    Str(String),
}

fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        (-1e15f64..1e15).prop_map(Value::Float),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::FloatExp),
        any::<i64>().prop_map(Value::Int),
        any::<u64>().prop_map(Value::UInt),
        any::<bool>().prop_map(Value::Bool),
        "[a-z ,=]{0,6}".prop_map(Value::Str),
    ]
}

fn render(v: &Value) -> String {
    match v {
        Value::Float(f) => format!("{f}"),
        Value::FloatExp(f) => format!("{f:e}"),
        Value::Int(i) => format!("{i}i"),
        Value::UInt(u) => format!("{u}u"),
        Value::Bool(b) => (if *b { "true" } else { "F" }).to_owned(),
        Value::Str(s) => format!("\"{s}\""),
    }
}

/// A line: measurement, distinct tag keys (distinct after sanitising too), distinct
/// field keys, an optional timestamp.
fn line() -> impl Strategy<Value = String> {
    let measurement = escaped("abcXYZ019_.-:", &["\\,", "\\ "]);
    let key_chars = "abcxyz";
    let tags = proptest::collection::btree_map(
        proptest::string::string_regex("[a-z]{1,4}").unwrap(),
        escaped("abc019_.-:/", &["\\,", "\\=", "\\ "]),
        0..4,
    );
    let fields =
        proptest::collection::btree_map(escaped(key_chars, &["\\,", "\\=", "\\ "]), value(), 1..4);
    let ts = proptest::option::of(0i64..4_000_000_000_000_000_000);
    (measurement, tags, fields, ts).prop_map(|(m, tags, fields, ts)| {
        let mut s = m;
        for (k, v) in tags {
            s.push(',');
            s.push_str(&k);
            s.push('=');
            s.push_str(&v);
        }
        s.push(' ');
        let fs: Vec<String> = fields
            .iter()
            .map(|(k, v)| format!("{k}={}", render(v)))
            .collect();
        s.push_str(&fs.join(","));
        if let Some(t) = ts {
            s.push_str(&format!(" {t}"));
        }
        s
    })
}

/// What InfluxData's parser makes of a line, mapped the way our ingestion maps line
/// protocol: (labels, value bits, timestamp in ms) per numeric field, sorted.
fn reference(line: &str) -> Option<Vec<(Labels, u64, Option<i64>)>> {
    let parsed = influxdb_line_protocol::parse_lines(line).next()?.ok()?;
    let measurement = parsed.series.measurement.as_str().to_owned();
    let tags: Vec<(String, String)> = parsed
        .series
        .tag_set
        .iter()
        .flatten()
        .map(|(k, v)| {
            (
                sanitize_label_name(k.as_str()).into_owned(),
                v.as_str().to_owned(),
            )
        })
        .collect();
    let mut out = Vec::new();
    for (k, v) in &parsed.field_set {
        use influxdb_line_protocol::FieldValue as F;
        let value = match v {
            F::I64(i) => *i as f64,
            F::U64(u) => *u as f64,
            F::F64(f) => *f,
            F::Boolean(b) => f64::from(u8::from(*b)),
            F::String(_) => continue,
        };
        let name = sanitize_metric_name(&format!("{measurement}_{}", k.as_str())).into_owned();
        let labels =
            Labels::new(std::iter::once(("__name__".to_owned(), name)).chain(tags.iter().cloned()))
                .ok()?;
        out.push((
            labels,
            value.to_bits(),
            parsed.timestamp.map(|t| t / 1_000_000),
        ));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Some(out)
}

fn ours(line: &str) -> Option<Vec<(Labels, u64, Option<i64>)>> {
    let opts = Options {
        precision: Precision::Nanoseconds,
        ..Options::default()
    };
    let mut out: Vec<_> = Parser::new(line.as_bytes(), opts)
        .map(|r| r.map(|s| (s.labels, s.value.to_bits(), s.timestamp)))
        .collect::<Result<_, _>>()
        .ok()?;
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Some(out)
}

#[test]
fn same_series_fields_and_values_as_influxdata_parser() {
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(3000));
    let accepted = std::cell::Cell::new(0u32);
    let fields = std::cell::Cell::new(0u32);
    runner
        .run(&line(), |line| {
            let theirs = reference(&line);
            let mine = ours(&line);
            prop_assert_eq!(
                theirs.is_some(),
                mine.is_some(),
                "acceptance differs on {:?}: theirs {:?}, ours {:?}",
                line,
                theirs,
                mine
            );
            if let (Some(theirs), Some(mine)) = (theirs, mine) {
                accepted.set(accepted.get() + 1);
                fields.set(fields.get() + u32::try_from(mine.len()).unwrap());
                prop_assert_eq!(theirs, mine, "line {:?}", line);
            }
            Ok(())
        })
        .unwrap();
    // the comparison is not vacuous: most generated lines are valid for both
    assert!(
        accepted.get() > 2000,
        "only {} of 3000 lines accepted",
        accepted.get()
    );
    assert!(
        fields.get() > accepted.get(),
        "numeric fields compared: {}",
        fields.get()
    );
}
