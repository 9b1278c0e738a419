#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Hand-written cases for the Prometheus text and OpenMetrics parser, most from the
//! specifications' own examples.

use tsdb_index::{LabelLimits, Labels};
use tsdb_text::prometheus::{Dialect, MetricType, Options, Parser};
use tsdb_text::{ErrorKind, LineError, Sample};

fn parse_with(text: &str, opts: Options) -> Vec<Result<Sample, LineError>> {
    Parser::new(text.as_bytes(), opts).collect()
}

fn prom(text: &str) -> Vec<Result<Sample, LineError>> {
    parse_with(text, Options::new(Dialect::Prometheus))
}

fn om(text: &str) -> Vec<Result<Sample, LineError>> {
    parse_with(text, Options::new(Dialect::OpenMetrics))
}

fn ok(items: Vec<Result<Sample, LineError>>) -> Vec<Sample> {
    items
        .into_iter()
        .map(|r| r.unwrap_or_else(|e| panic!("unexpected error: {e}")))
        .collect()
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    Labels::new(pairs.iter().copied()).unwrap()
}

fn only_error(items: Vec<Result<Sample, LineError>>) -> LineError {
    assert_eq!(items.len(), 1, "{items:?}");
    items.into_iter().next().unwrap().unwrap_err()
}

#[test]
fn exposition_format_docs_example() {
    // The example of the Prometheus "Exposition formats" page.
    let text = r#"# HELP http_requests_total The total number of HTTP requests.
# TYPE http_requests_total counter
http_requests_total{method="post",code="200"} 1027 1395066363000
http_requests_total{method="post",code="400"}    3 1395066363000

# Escaping in label values:
msdos_file_access_time_seconds{path="C:\\DIR\\FILE.TXT",error="Cannot find file:\n\"FILE.TXT\""} 1.458255915e9

# Minimalistic line:
metric_without_timestamp_and_labels 12.47

# A weird metric from before the epoch:
something_weird{problem="division by zero"} +Inf -3982045

# A histogram, which has a pretty complex representation in the text format:
# HELP http_request_duration_seconds A histogram of the request duration.
# TYPE http_request_duration_seconds histogram
http_request_duration_seconds_bucket{le="0.05"} 24054
http_request_duration_seconds_bucket{le="+Inf"} 144320
http_request_duration_seconds_sum 53423
http_request_duration_seconds_count 144320

# Finally a summary, which has a complex representation, too:
# HELP rpc_duration_seconds A summary of the RPC duration in seconds.
# TYPE rpc_duration_seconds summary
rpc_duration_seconds{quantile="0.01"} 3102
rpc_duration_seconds_sum 1.7560473e+07
rpc_duration_seconds_count 2693
"#;
    let mut p = Parser::new(text.as_bytes(), Options::default());
    assert_eq!(p.dialect(), Dialect::Prometheus);
    let s = ok(p.by_ref().collect());
    assert_eq!(s.len(), 12);
    assert_eq!(
        s[0].labels,
        labels(&[
            ("__name__", "http_requests_total"),
            ("method", "post"),
            ("code", "200")
        ])
    );
    assert_eq!(
        (s[0].timestamp, s[0].value),
        (Some(1_395_066_363_000), 1027.0)
    );
    assert_eq!(s[1].value, 3.0);
    assert_eq!(s[2].labels.get("path"), Some(r"C:\DIR\FILE.TXT"));
    assert_eq!(
        s[2].labels.get("error"),
        Some("Cannot find file:\n\"FILE.TXT\"")
    );
    assert_eq!((s[2].timestamp, s[2].value), (None, 1.458255915e9));
    assert_eq!(
        s[3].labels.metric_name(),
        Some("metric_without_timestamp_and_labels")
    );
    assert_eq!(s[4].value, f64::INFINITY);
    assert_eq!(s[4].timestamp, Some(-3_982_045));
    assert_eq!(s[6].labels.get("le"), Some("+Inf"));
    assert_eq!(s[9].value, 3102.0);
    assert_eq!(s[10].value, 1.7560473e7);

    let fams = p.families();
    let kinds: Vec<(&str, MetricType)> = fams
        .iter()
        .map(|f| (f.name.as_str(), f.metric_type))
        .collect();
    assert_eq!(
        kinds,
        [
            ("http_requests_total", MetricType::Counter),
            ("http_request_duration_seconds", MetricType::Histogram),
            ("rpc_duration_seconds", MetricType::Summary),
        ]
    );
    assert_eq!(
        fams[0].help.as_deref(),
        Some("The total number of HTTP requests.")
    );
}

#[test]
fn openmetrics_spec_example_with_exemplars_and_created() {
    let text = r#"# TYPE acme_http_router_request_seconds summary
# UNIT acme_http_router_request_seconds seconds
# HELP acme_http_router_request_seconds Latency though all of ACME's HTTP request router.
acme_http_router_request_seconds_sum{path="/api/v1",method="GET"} 9036.32
acme_http_router_request_seconds_count{path="/api/v1",method="GET"} 807283.0
acme_http_router_request_seconds_created{path="/api/v1",method="GET"} 1605281325.0
# TYPE foo histogram
foo_bucket{le="0.01"} 0
foo_bucket{le="0.1"} 8 # {} 0.054
foo_bucket{le="1"} 11 # {trace_id="KOO5S4vxi0o"} 0.67
foo_bucket{le="10"} 17 # {trace_id="oHg5SJYRHA0"} 9.8 1520879607.789
foo_bucket{le="+Inf"} 17
foo_count 17
foo_sum 324789.3
foo_created 1520430000.123
# TYPE go_goroutines gauge
go_goroutines 69 1520879607.789
# TYPE process_start_time_seconds gauge
process_start_time_seconds 1.52043e9
# TYPE thing_created gauge
thing_created 5
# EOF
"#;
    let mut p = Parser::new(text.as_bytes(), Options::default());
    assert_eq!(p.dialect(), Dialect::OpenMetrics);
    let s = ok(p.by_ref().collect());
    let names: Vec<&str> = s.iter().map(|s| s.labels.metric_name().unwrap()).collect();
    assert_eq!(
        names,
        [
            "acme_http_router_request_seconds_sum",
            "acme_http_router_request_seconds_count",
            "foo_bucket",
            "foo_bucket",
            "foo_bucket",
            "foo_bucket",
            "foo_bucket",
            "foo_count",
            "foo_sum",
            "go_goroutines",
            "process_start_time_seconds",
            "thing_created", // a gauge named _created is a measurement
        ]
    );
    assert_eq!(s[1].value, 807283.0);
    assert_eq!(s[5].value, 17.0); // the exemplar's 9.8 is skipped
    assert_eq!(s[5].timestamp, None);
    assert_eq!(s[9].timestamp, Some(1_520_879_607_789));
    assert_eq!(s[10].value, 1.52043e9);
    let f = &p.families()[0];
    assert_eq!(f.metric_type, MetricType::Summary);
    assert_eq!(f.unit.as_deref(), Some("seconds"));
    assert_eq!(
        f.help.as_deref(),
        Some("Latency though all of ACME's HTTP request router.")
    );
    assert_eq!(p.family_type("foo"), Some(MetricType::Histogram));
    assert_eq!(p.family_type("thing_created"), Some(MetricType::Gauge));

    // keep_created yields the creation times too.
    let opts = Options {
        keep_created: true,
        ..Options::new(Dialect::OpenMetrics)
    };
    let s = ok(parse_with(text, opts));
    assert_eq!(s.len(), 14);
    assert_eq!(
        s[2].labels.metric_name(),
        Some("acme_http_router_request_seconds_created")
    );
    assert_eq!(s[2].value, 1_605_281_325.0);
}

#[test]
fn help_and_type_in_any_order_and_repeated_type() {
    let text =
        "# TYPE a gauge\n# HELP a first\na 1\n# HELP b help of b\n# TYPE b counter\nb_total 2\n\
                # HELP c only help\nc 3\n";
    let mut p = Parser::new(text.as_bytes(), Options::new(Dialect::Prometheus));
    assert_eq!(ok(p.by_ref().collect()).len(), 3);
    let f: Vec<_> = p
        .families()
        .iter()
        .map(|f| (f.name.as_str(), f.metric_type, f.help.as_deref()))
        .collect();
    assert_eq!(
        f,
        [
            ("a", MetricType::Gauge, Some("first")),
            ("b", MetricType::Counter, Some("help of b")),
            ("c", MetricType::Unknown, Some("only help")),
        ]
    );
    // Prometheus text: untyped.
    let mut p = Parser::new(
        b"# TYPE x untyped\nx 1\n",
        Options::new(Dialect::Prometheus),
    );
    assert_eq!(ok(p.by_ref().collect()).len(), 1);
    assert_eq!(p.family_type("x"), Some(MetricType::Untyped));
}

#[test]
fn crlf_blank_lines_and_whitespace() {
    let text = "\r\n  \t\r\na{x=\"1\"} 1 1000\r\n\r\n\tb  2\t 2000  \r\n c { x = \"2\" , } 3\n\n";
    let s = ok(prom(text));
    assert_eq!(s.len(), 3);
    assert_eq!((s[0].timestamp, s[0].value), (Some(1000), 1.0));
    assert_eq!(s[1].labels, labels(&[("__name__", "b")]));
    assert_eq!((s[1].timestamp, s[1].value), (Some(2000), 2.0));
    assert_eq!(s[2].labels, labels(&[("__name__", "c"), ("x", "2")]));
    // OpenMetrics with CRLF and a trailing blank line after # EOF.
    let s = ok(om("a 1 1.5\r\n# EOF\r\n\r\n"));
    assert_eq!(s[0].timestamp, Some(1500));
}

#[test]
fn label_value_escapes() {
    let s = ok(prom(
        r#"m{a="q\"uote",b="back\\slash",c="new\nline",d="tab	raw",e="ünï 🚀"} 1"#,
    ));
    let l = &s[0].labels;
    assert_eq!(l.get("a"), Some("q\"uote"));
    assert_eq!(l.get("b"), Some("back\\slash"));
    assert_eq!(l.get("c"), Some("new\nline"));
    assert_eq!(l.get("d"), Some("tab\traw"));
    assert_eq!(l.get("e"), Some("ünï 🚀"));

    let e = only_error(prom(r#"m{a="bad\tescape"} 1"#));
    assert!(
        matches!(e.kind, ErrorKind::InvalidEscape { found: 't' }),
        "{e}"
    );
    assert_eq!(e.column, Some(9)); // the backslash
    let e = only_error(prom(r#"m{a="unterminated} 1"#));
    assert!(matches!(e.kind, ErrorKind::UnterminatedString), "{e}");
    let e = only_error(prom("m{a=\"ends in backslash\\"));
    assert!(matches!(e.kind, ErrorKind::UnterminatedString), "{e}");
}

#[test]
fn invalid_and_reserved_names_are_refused() {
    let cases = [
        "1m 1",
        "m{1a=\"x\"} 1",
        "m{a-b=\"x\"} 1",
        "m{\"a.b\"=\"x\"} 1",
        "{\"m.x\"} 1",
        "m{__reserved=\"x\"} 1",
        "m{a=\"1\",a=\"2\"} 1",
        "m{__name__=\"n\"} 1",
        "{a=\"x\"} 1",
        "m{a=x} 1",
        "m{a} 1",
        "m{a=\"x\" b=\"y\"} 1",
        "m{\"q\", \"r\"} 1",
        "{\"\"} 1",
    ];
    for text in cases {
        let items = prom(text);
        assert_eq!(items.len(), 1, "{text}");
        let e = items.into_iter().next().unwrap().unwrap_err();
        assert_eq!(e.line, 1);
        assert!(e.column.is_some(), "{text}: {e}");
        let label_error = matches!(e.kind, ErrorKind::Labels(_));
        let syntax_error = matches!(e.kind, ErrorKind::Syntax { .. });
        assert!(label_error || syntax_error, "{text}: {e}");
    }
    let e = only_error(prom("m{a=\"1\",a=\"2\"} 1"));
    assert!(
        matches!(
            e.kind,
            ErrorKind::Labels(tsdb_index::Error::DuplicateLabelName { .. })
        ),
        "{e}"
    );
    let e = only_error(prom("m{__x=\"1\"} 1"));
    assert!(
        matches!(
            e.kind,
            ErrorKind::Labels(tsdb_index::Error::ReservedLabelName { .. })
        ),
        "{e}"
    );
    let e = only_error(prom("{\"m.x\"} 1"));
    assert!(
        matches!(
            e.kind,
            ErrorKind::Labels(tsdb_index::Error::InvalidMetricName { .. })
        ),
        "{e}"
    );
}

#[test]
fn quoted_names_trailing_commas_and_empty_sets() {
    let s = ok(prom(
        "{\"quoted_metric\", \"quoted_label\"=\"v\"} 1\nm{} 2\nm{a=\"1\",} 3\nm{a=\"\"} 4\n",
    ));
    assert_eq!(
        s[0].labels,
        labels(&[("__name__", "quoted_metric"), ("quoted_label", "v")])
    );
    assert_eq!(s[1].labels, labels(&[("__name__", "m")]));
    assert_eq!(s[2].labels, labels(&[("__name__", "m"), ("a", "1")]));
    // An empty value is an absent label.
    assert_eq!(s[3].labels, labels(&[("__name__", "m")]));
}

#[test]
fn special_values() {
    let s = ok(prom(
        "a NaN\nb +Inf\nc -Inf\nd -0\ne 4.9e-324\nf Inf\ng 1e308\n",
    ));
    assert!(s[0].value.is_nan());
    assert_eq!(s[1].value, f64::INFINITY);
    assert_eq!(s[2].value, f64::NEG_INFINITY);
    assert_eq!(s[3].value.to_bits(), (-0.0f64).to_bits());
    assert_eq!(s[4].value, 4.9e-324);
    assert_eq!(s[5].value, f64::INFINITY);
    assert_eq!(s[6].value, 1e308);
    let e = only_error(prom("a 1e400"));
    assert!(matches!(e.kind, ErrorKind::ValueOutOfRange { .. }), "{e}");
    let e = only_error(prom("a one"));
    assert!(matches!(e.kind, ErrorKind::InvalidValue { .. }), "{e}");
    assert_eq!(e.column, Some(3));
}

#[test]
fn timestamps_by_dialect_and_default() {
    let opts = Options {
        default_timestamp: Some(42),
        ..Options::new(Dialect::Prometheus)
    };
    let s = ok(parse_with("a 1\nb 2 1705190400123\nc 3 -5\n", opts));
    let ts: Vec<_> = s.iter().map(|s| s.timestamp).collect();
    assert_eq!(ts, [Some(42), Some(1_705_190_400_123), Some(-5)]);

    let e = only_error(prom("a 1 1705190400.123"));
    assert!(matches!(e.kind, ErrorKind::InvalidTimestamp { .. }), "{e}");
    assert_eq!(e.column, Some(5));
    let e = only_error(prom("a 1 99999999999999999999"));
    assert!(
        matches!(e.kind, ErrorKind::TimestampOutOfRange { .. }),
        "{e}"
    );

    let s = ok(om(
        "a 1 1705190400\na 2 1705190400.123\na 3 1.7051904001239e9\na 4 -0.5\n# EOF\n",
    ));
    let ts: Vec<_> = s.iter().map(|s| s.timestamp.unwrap()).collect();
    assert_eq!(
        ts,
        [
            1_705_190_400_000,
            1_705_190_400_123,
            1_705_190_400_123,
            -500
        ]
    );
    for bad in ["a 1 NaN\n# EOF\n", "a 1 +Inf\n# EOF\n", "a 1 1,5\n# EOF\n"] {
        let e = only_error(om(bad));
        assert!(matches!(e.kind, ErrorKind::InvalidTimestamp { .. }), "{e}");
    }
}

#[test]
fn trailing_garbage_is_an_error() {
    for text in ["a 1 2 3", "a 1 2 x", "a 1 2\tx"] {
        let e = only_error(prom(text));
        assert!(matches!(e.kind, ErrorKind::Syntax { .. }), "{text}: {e}");
    }
    // An exemplar needs whitespace before its `#`.
    let e = only_error(prom("a 1 2#x"));
    assert!(matches!(e.kind, ErrorKind::InvalidTimestamp { .. }), "{e}");
    let e = only_error(prom("a"));
    assert!(
        matches!(
            e.kind,
            ErrorKind::Syntax {
                expected: "value",
                ..
            }
        ),
        "{e}"
    );
    assert_eq!(
        e.to_string(),
        "line 1, column 2: expected value, found end of line"
    );
}

#[test]
fn a_bad_line_never_stops_the_next() {
    let text =
        "good 1\nbad{ 1\nalso_good 2\n\u{0}\nmore{a=\"x\"} 3\nm{a=\"1\",a=\"1\"} 4\nlast 5\n";
    let items = prom(text);
    let summary: Vec<Result<&str, usize>> = items
        .iter()
        .map(|r| match r {
            Ok(s) => Ok(s.labels.metric_name().unwrap()),
            Err(e) => Err(e.line),
        })
        .collect();
    assert_eq!(
        summary,
        [
            Ok("good"),
            Err(2),
            Ok("also_good"),
            Err(4),
            Ok("more"),
            Err(6),
            Ok("last")
        ]
    );
}

#[test]
fn invalid_utf8_is_reported_with_its_column() {
    let mut text = b"ok 1\nm{a=\"".to_vec();
    text.extend_from_slice(&[0xff, 0xfe]);
    text.extend_from_slice(b"\"} 1\nok 2\n");
    let items: Vec<_> = Parser::new(&text, Options::new(Dialect::Prometheus)).collect();
    assert_eq!(items.len(), 3);
    let e = items[1].as_ref().unwrap_err();
    assert!(matches!(e.kind, ErrorKind::InvalidUtf8));
    assert_eq!((e.line, e.column), (2, Some(6)));
    assert!(items[2].is_ok());
}

#[test]
fn eof_rules_in_openmetrics() {
    let items = om("a 1\n# EOF\nb 2\n\n");
    assert_eq!(items.len(), 2);
    assert!(items[0].is_ok());
    let e = items[1].as_ref().unwrap_err();
    assert!(matches!(e.kind, ErrorKind::DataAfterEof));
    assert_eq!(e.line, 3);

    let items = om("a 1\nb 2\n");
    assert_eq!(items.len(), 3);
    let e = items[2].as_ref().unwrap_err();
    assert!(matches!(e.kind, ErrorKind::MissingEof));
    assert_eq!(e.line, 3);

    // Prometheus text has no # EOF: a line `# EOF` there is just a comment.
    assert_eq!(ok(prom("a 1\n# EOF\nb 2\n")).len(), 2);
    // Empty OpenMetrics input lacks its # EOF too.
    let e = only_error(om(""));
    assert!(matches!(e.kind, ErrorKind::MissingEof));
}

#[test]
fn metadata_errors() {
    let e = only_error(om("# TYPE a bogus\n# EOF\n"));
    assert!(matches!(e.kind, ErrorKind::InvalidMetricType { .. }), "{e}");
    let e = only_error(om("# TYPE a\n# EOF\n"));
    assert!(matches!(e.kind, ErrorKind::Syntax { .. }), "{e}");
    // `# TYPE` with nothing after it is a comment, as in Prometheus's lexer.
    assert!(om("# TYPE\n# EOF\n").is_empty());
    let e = only_error(om("# UNIT a_bytes seconds\n# EOF\n"));
    assert!(matches!(e.kind, ErrorKind::UnitNotSuffix { .. }), "{e}");
    let e = only_error(om("# UNIT seconds seconds\n# EOF\n"));
    assert!(matches!(e.kind, ErrorKind::UnitNotSuffix { .. }), "{e}");
    // Other comments, including `#` without a space, are ignored.
    assert!(om("# just a comment\n#HELP x\n# HELPx y\n# EOF\n").is_empty());
    // UNIT is only OpenMetrics; in Prometheus text it is a comment.
    assert!(prom("# UNIT a_bytes seconds\n").is_empty());
}

#[test]
fn a_sample_needs_a_name_even_when_the_limits_do_not() {
    // Found by fuzzing: `{""}` is an empty metric name, which Labels would accept with
    // `require_metric_name: false`.
    let opts = Options {
        limits: LabelLimits {
            require_metric_name: false,
            ..LabelLimits::default()
        },
        ..Options::new(Dialect::Prometheus)
    };
    let items = parse_with("{\"\",} -1 -1131\n{\"\", a=\"b\"} 1\n", opts);
    assert_eq!(items.len(), 2);
    for e in items {
        let e = e.unwrap_err();
        assert!(
            matches!(
                e.kind,
                ErrorKind::Syntax {
                    expected: "metric name",
                    ..
                }
            ),
            "{e}"
        );
    }
}

#[test]
fn label_limits_apply() {
    let opts = Options {
        limits: LabelLimits {
            max_labels: 2,
            max_value_len: 4,
            ..LabelLimits::default()
        },
        ..Options::new(Dialect::Prometheus)
    };
    let items = parse_with(
        "m{a=\"1\"} 1\nm{a=\"1\",b=\"2\"} 1\nm{a=\"12345\"} 1\n",
        opts,
    );
    assert!(items[0].is_ok());
    let e = items[1].as_ref().unwrap_err();
    assert!(matches!(
        e.kind,
        ErrorKind::Labels(tsdb_index::Error::TooManyLabels { .. })
    ));
    let e = items[2].as_ref().unwrap_err();
    assert!(matches!(
        e.kind,
        ErrorKind::Labels(tsdb_index::Error::LabelValueTooLong { .. })
    ));
}

#[test]
fn gen_py_fleet_lines() {
    // Lines as `shared/peers/gen.py --formats om` writes them (no metadata, integer
    // seconds, families interleaved by host).
    let text = r#"cpu_usage_user{datacenter="us-west-1a",host="host_0",os="Ubuntu20.04LTS",rack="94",region="us-west-1",service="7",team="NYC"} 88.43 1705269600
cpu_usage_user{datacenter="us-west-1a",host="host_0",os="Ubuntu20.04LTS",rack="94",region="us-west-1",service="7",team="NYC"} 88.17 1705269610
cpu_usage_system{datacenter="us-west-1a",host="host_0",os="Ubuntu20.04LTS",rack="94",region="us-west-1",service="7",team="NYC"} 80.87 1705269600
http_requests_total{code="200",datacenter="us-west-1a",host="host_0",os="Ubuntu20.04LTS",rack="94",region="us-west-1",service="7",team="NYC"} 7590019 1705269600
# EOF
"#;
    let s = ok(Parser::new(text.as_bytes(), Options::default()).collect());
    assert_eq!(s.len(), 4);
    assert_eq!(s[0].labels, s[1].labels);
    assert_eq!(s[1].timestamp, Some(1_705_269_610_000));
    assert_eq!(s[1].value, 88.17);
    assert_eq!(s[3].labels.get("code"), Some("200"));
    assert_eq!(s[3].labels.len(), 9);
    assert_eq!(s[3].value, 7_590_019.0);
}

#[test]
fn a_repeated_name_then_a_label_set_after_whitespace_is_that_label_set() {
    // found by examples/fuzz: the previous line's series was reused for `m {...}`, whose
    // label set then read as an invalid value; whitespace between a name and its labels
    // is allowed, so these are two series
    let s = ok(prom("m 1 1\nm {a=\"b\"} 2 2\nm\t{a=\"c\"} 3 3\nm 4 4\n"));
    assert_eq!(s.len(), 4);
    assert_eq!(s[0].labels, labels(&[("__name__", "m")]));
    assert_eq!(s[1].labels, labels(&[("__name__", "m"), ("a", "b")]));
    assert_eq!(s[2].labels, labels(&[("__name__", "m"), ("a", "c")]));
    assert_eq!(s[3].labels, s[0].labels);
    assert_eq!(s[1].value, 2.0);
    // and a broken label set after a repeated name is a label error, as on a fresh line
    let items = prom("m 1 1\nm {1 90\n");
    let e = items[1].as_ref().unwrap_err();
    assert!(
        matches!(
            e.kind,
            ErrorKind::Syntax {
                expected: "label name or }",
                ..
            }
        ),
        "{e}"
    );
}
