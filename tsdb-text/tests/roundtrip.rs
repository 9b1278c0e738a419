#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The OpenMetrics writer against the parser: everything written reads back the same,
//! and every timestamp written reads back exactly in Prometheus's float arithmetic too.

use proptest::prelude::*;
use tsdb_index::{LabelLimits, Labels};
use tsdb_text::openmetrics::{family_order, write_timestamp, write_value, Writer};
use tsdb_text::prometheus::{Dialect, Options, Parser};
use tsdb_text::WriteError;

/// Label values: anything UTF-8, with the characters that need escaping made common.
fn label_value() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[\"\\\\\n \t\r#{},=a-z]{0,12}",
        "\\PC{0,8}",
    ]
}

fn label_set() -> impl Strategy<Value = Labels> {
    (
        "[a-zA-Z_:][a-zA-Z0-9_:]{0,12}",
        proptest::collection::btree_map("[a-zA-Z][a-zA-Z0-9_]{0,8}", label_value(), 0..6),
    )
        .prop_map(|(name, pairs)| {
            let limits = LabelLimits {
                max_value_len: usize::MAX,
                ..LabelLimits::default()
            };
            Labels::with_limits(
                std::iter::once(("__name__".to_owned(), name)).chain(pairs),
                &limits,
            )
            .unwrap()
        })
}

fn timestamp() -> impl Strategy<Value = i64> {
    prop_oneof![
        -1_000_000_000_000_000i64..1_000_000_000_000_000,
        1_600_000_000_000i64..1_800_000_000_000,
        -2_000i64..2_000,
        Just(i64::MIN),
        Just(i64::MAX),
    ]
}

fn value() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<f64>(),
        Just(-0.0),
        Just(f64::MIN_POSITIVE / 4.0),
        Just(f64::from_bits(0x7ff0_0000_0000_0002)), // the stale marker
        (-1_000_000i64..1_000_000).prop_map(|c| c as f64 / 100.0),
    ]
}

fn same_value(a: f64, b: f64) -> bool {
    (a.is_nan() && b.is_nan()) || a.to_bits() == b.to_bits()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn writer_output_parses_back(
        series in proptest::collection::vec(
            (label_set(), proptest::collection::vec((timestamp(), value()), 1..6)),
            1..8,
        )
    ) {
        let mut series = series;
        series.sort_by(|a, b| family_order(&a.0, &b.0));
        let mut w = Writer::new(Vec::new());
        for (labels, samples) in &series {
            w.write_series(labels, samples.iter().copied()).unwrap();
        }
        let text = w.finish().unwrap();

        let limits = LabelLimits { max_value_len: usize::MAX, ..LabelLimits::default() };
        let opts = Options { limits, ..Options::new(Dialect::OpenMetrics) };
        let parsed: Vec<_> = Parser::new(&text, opts).collect();
        let want: Vec<(&Labels, i64, f64)> = series
            .iter()
            .flat_map(|(l, s)| s.iter().map(move |&(t, v)| (l, t, v)))
            .collect();
        prop_assert_eq!(parsed.len(), want.len(), "{}", String::from_utf8_lossy(&text));
        for (got, (labels, t, v)) in parsed.into_iter().zip(want) {
            let got = got.map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(&got.labels, labels);
            prop_assert_eq!(got.timestamp, Some(t));
            prop_assert!(same_value(got.value, v), "{} vs {}", got.value, v);
        }
        // Detected as OpenMetrics from its # EOF.
        prop_assert_eq!(Dialect::detect(&text), Dialect::OpenMetrics);
    }

    #[test]
    fn timestamps_read_back_exactly_in_both_readings(t in timestamp()) {
        let mut s = String::new();
        write_timestamp(&mut s, t);
        // Ours: exact decimal.
        let line = format!("m 1 {s}\n# EOF\n");
        let got = Parser::new(line.as_bytes(), Options::new(Dialect::OpenMetrics))
            .next()
            .unwrap()
            .unwrap();
        prop_assert_eq!(got.timestamp, Some(t));
        // Prometheus's: int64(ParseFloat(s) * 1000), exact while seconds fit 53 bits.
        if t.unsigned_abs() < (1u64 << 53) {
            let secs: f64 = s.parse().unwrap();
            prop_assert_eq!((secs * 1000.0) as i64, t, "{}", s);
        }
    }

    #[test]
    fn values_read_back_bit_for_bit(v in value()) {
        let mut s = String::new();
        write_value(&mut s, v);
        let line = format!("m {s}\n");
        let got = Parser::new(line.as_bytes(), Options::new(Dialect::Prometheus))
            .next()
            .unwrap()
            .unwrap();
        prop_assert!(same_value(got.value, v), "{} -> {} -> {}", v, s, got.value);
        if v.is_nan() {
            prop_assert_eq!(got.value.to_bits(), f64::NAN.to_bits());
        }
    }
}

#[test]
fn writer_groups_families_and_refuses_interleaving() {
    let a1 = Labels::new([("__name__", "a"), ("x", "1")]).unwrap();
    let a2 = Labels::new([("__name__", "a"), ("x", "2")]).unwrap();
    let b = Labels::new([("__name__", "b")]).unwrap();
    let mut w = Writer::new(Vec::new());
    w.write_sample(&a1, 1000, 1.0).unwrap();
    w.write_sample(&a1, 2000, 2.0).unwrap();
    w.write_sample(&a2, -1, -0.0).unwrap();
    assert_eq!(w.write_series(&b, []).unwrap(), 0); // nothing, no family
    w.write_series(&b, [(0, f64::INFINITY), (1, f64::NEG_INFINITY)])
        .unwrap();
    let e = w.write_sample(&a1, 3000, 3.0).unwrap_err();
    assert!(matches!(e, WriteError::InterleavedFamily { ref name } if name == "a"));
    let nameless = Labels::with_limits(
        [("x", "1")],
        &LabelLimits {
            require_metric_name: false,
            ..LabelLimits::default()
        },
    )
    .unwrap();
    let e = w.write_sample(&nameless, 0, 0.0).unwrap_err();
    assert!(matches!(e, WriteError::MissingMetricName { .. }));
    let text = String::from_utf8(w.finish().unwrap()).unwrap();
    assert_eq!(
        text,
        "# TYPE a unknown\n\
         a{x=\"1\"} 1 1\n\
         a{x=\"1\"} 2 2\n\
         a{x=\"2\"} -0 -0.001\n\
         # TYPE b unknown\n\
         b +Inf 0\n\
         b -Inf 0.001\n\
         # EOF\n"
    );
}

#[test]
fn family_order_groups_by_metric_name() {
    // Labels order by the first label name, which need not be __name__.
    let mut v = [
        Labels::new([("__name__", "b"), ("C", "1")]).unwrap(),
        Labels::new([("__name__", "a"), ("B", "1")]).unwrap(),
        Labels::new([("__name__", "b"), ("A", "1")]).unwrap(),
        Labels::new([("__name__", "a")]).unwrap(),
    ];
    v.sort();
    let names: Vec<_> = v.iter().map(|l| l.metric_name().unwrap()).collect();
    assert_eq!(names, ["b", "a", "b", "a"]);
    v.sort_by(family_order);
    let names: Vec<_> = v.iter().map(|l| l.metric_name().unwrap()).collect();
    assert_eq!(names, ["a", "a", "b", "b"]);
}

#[test]
fn a_written_file_is_detected_and_parsed_without_options() {
    let l = Labels::new([("__name__", "up"), ("job", "node")]).unwrap();
    let mut w = Writer::new(Vec::new());
    w.write_series(&l, (0..100).map(|i| (1_705_190_400_000 + i * 15_000, 1.0)))
        .unwrap();
    let text = w.finish().unwrap();
    let s: Vec<_> = Parser::new(&text, Options::default())
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(s.len(), 100);
    assert_eq!(s[99].timestamp, Some(1_705_190_400_000 + 99 * 15_000));
}
