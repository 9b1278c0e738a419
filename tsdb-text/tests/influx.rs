#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Hand-written cases for the Influx line protocol parser, most from InfluxData's
//! line protocol reference.

use tsdb_index::Labels;
use tsdb_text::influx::{Options, Parser, Precision};
use tsdb_text::{ErrorKind, LineError, Sample};

fn parse_with(text: &str, opts: Options) -> Vec<Result<Sample, LineError>> {
    Parser::new(text.as_bytes(), opts).collect()
}

fn parse(text: &str) -> Vec<Result<Sample, LineError>> {
    parse_with(text, Options::default())
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
fn reference_examples() {
    let text = r#"# Measurement name with spaces
my\ Measurement fieldKey="string value",n=1
# Double quotes in a string field value
myMeasurement fieldKey="\"string\" within a string",n=2
# Tag keys and values with spaces
myMeasurement,tag\ Key1=tag\ Value1,tag\ Key2=tag\ Value2 fieldKey=100
# Emojis
myMeasurement,tagKey=🍭 fieldKey="Launch 🚀",n=3 1556813561098000000
"#;
    let mut p = Parser::new(text.as_bytes(), Options::default());
    let s = ok(p.by_ref().collect());
    assert_eq!(p.string_fields_skipped(), 3);
    assert_eq!(s.len(), 4);
    assert_eq!(s[0].labels, labels(&[("__name__", "my_Measurement_n")]));
    assert_eq!(s[1].labels, labels(&[("__name__", "myMeasurement_n")]));
    assert_eq!(
        s[2].labels,
        labels(&[
            ("__name__", "myMeasurement_fieldKey"),
            ("tag_Key1", "tag Value1"),
            ("tag_Key2", "tag Value2"),
        ])
    );
    assert_eq!(s[2].value, 100.0);
    assert_eq!(s[2].timestamp, None);
    assert_eq!(
        s[3].labels,
        labels(&[("__name__", "myMeasurement_n"), ("tagKey", "🍭")])
    );
    assert_eq!(s[3].timestamp, Some(1_556_813_561_098));
}

#[test]
fn escaped_commas_equals_and_backslashes() {
    let s = ok(parse(
        "m\\,x,t\\,k=v\\,1,u\\=k=v\\=2,b=a\\\\b,c=a\\\\\\b,d=a\\b f\\=k\\,1=1\n",
    ));
    assert_eq!(
        s[0].labels,
        labels(&[
            ("__name__", "m_x_f_k_1"),
            ("t_k", "v,1"),
            ("u_k", "v=2"),
            ("b", "a\\b"),   // `\\` is one backslash
            ("c", "a\\\\b"), // `\\\` is two, as in the reference's table
            ("d", "a\\b"),   // a backslash before anything else is literal
        ])
    );
    // A measurement may hold an unescaped `=`; a tag value too, after its key ended.
    let s = ok(parse("a=b,t=x=y f=1\n"));
    assert_eq!(s[0].labels, labels(&[("__name__", "a_b_f"), ("t", "x=y")]));
}

#[test]
fn string_fields_with_escaped_quotes_and_newlines() {
    let text = "m s=\"a \\\"quoted\\\" \\\\ b, c=d e\",v=1 1000\n\
                m s=\"two\nlines\",v=2 2000\n\
                m v=3 3000\n";
    let opts = Options {
        precision: Precision::Milliseconds,
        ..Options::default()
    };
    let mut p = Parser::new(text.as_bytes(), opts.clone());
    let s = ok(p.by_ref().collect());
    assert_eq!(p.string_fields_skipped(), 2);
    let got: Vec<(Option<i64>, f64)> = s.iter().map(|s| (s.timestamp, s.value)).collect();
    assert_eq!(
        got,
        [(Some(1000), 1.0), (Some(2000), 2.0), (Some(3000), 3.0)]
    );

    // With string fields reported, each is an error at its own line and column, and the
    // numeric fields of the line are still yielded.
    let opts = Options {
        skip_string_fields: false,
        ..opts
    };
    let items = parse_with(&format!("{text}m v=\"bad 4000\nm v=5 5000\n"), opts);
    let summary: Vec<Result<f64, (usize, Option<usize>)>> = items
        .iter()
        .map(|r| match r {
            Ok(s) => Ok(s.value),
            Err(e) => Err((e.line, e.column)),
        })
        .collect();
    assert_eq!(
        summary,
        [
            Err((1, Some(5))),
            Ok(1.0),
            Err((2, Some(5))),
            Ok(2.0),
            Ok(3.0),           // line 4: the string spanned lines 2 and 3
            Err((5, Some(5))), // unterminated: the parser resumes on the next line
            Ok(5.0),
        ]
    );
    assert!(matches!(
        items[0].as_ref().unwrap_err().kind,
        ErrorKind::StringField { .. }
    ));
    assert!(matches!(
        items[5].as_ref().unwrap_err().kind,
        ErrorKind::UnterminatedString
    ));
}

#[test]
fn value_types() {
    let s = ok(parse(
        "m f=1,g=-1.5e3,i=3i,n=-3i,u=3u,big=18446744073709551615u,t=t,T=T,tr=true,Tr=True,TR=TRUE,\
         f0=f,F0=F,fa=false,Fa=False,FA=FALSE,e=1E2,p=+2\n",
    ));
    let v: Vec<(String, f64)> = s
        .iter()
        .map(|s| (s.labels.metric_name().unwrap().to_owned(), s.value))
        .collect();
    let want = [
        ("m_f", 1.0),
        ("m_g", -1500.0),
        ("m_i", 3.0),
        ("m_n", -3.0),
        ("m_u", 3.0),
        ("m_big", 18_446_744_073_709_551_615.0),
        ("m_t", 1.0),
        ("m_T", 1.0),
        ("m_tr", 1.0),
        ("m_Tr", 1.0),
        ("m_TR", 1.0),
        ("m_f0", 0.0),
        ("m_F0", 0.0),
        ("m_fa", 0.0),
        ("m_Fa", 0.0),
        ("m_FA", 0.0),
        ("m_e", 100.0),
        ("m_p", 2.0),
    ];
    let want: Vec<(String, f64)> = want.iter().map(|(n, v)| ((*n).to_owned(), *v)).collect();
    assert_eq!(v, want);

    for bad in [
        "m f=NaN",
        "m f=inf",
        "m f=1x",
        "m f=-1u",
        "m f=1.5i",
        "m f=yes",
        "m f=1e999",
    ] {
        let e = only_error(parse(bad));
        assert!(
            matches!(e.kind, ErrorKind::InvalidFieldValue { ref key, .. } if key == "f"),
            "{bad}: {e}"
        );
        assert_eq!(e.column, Some(5), "{bad}");
    }
}

#[test]
fn timestamps_in_every_precision() {
    let cases = [
        (
            Precision::Nanoseconds,
            "1705190400123456789",
            1_705_190_400_123,
        ),
        (
            Precision::Microseconds,
            "1705190400123456",
            1_705_190_400_123,
        ),
        (Precision::Milliseconds, "1705190400123", 1_705_190_400_123),
        (Precision::Seconds, "1705190400", 1_705_190_400_000),
        (Precision::Nanoseconds, "-1500000", -1),
        (Precision::Seconds, "-1", -1000),
    ];
    for (precision, ts, want) in cases {
        let opts = Options {
            precision,
            ..Options::default()
        };
        let s = ok(parse_with(&format!("m v=1 {ts}\n"), opts));
        assert_eq!(s[0].timestamp, Some(want), "{precision:?} {ts}");
    }
    // Missing timestamp: the default.
    let opts = Options {
        default_timestamp: Some(7),
        ..Options::default()
    };
    let s = ok(parse_with("m v=1\nm v=2 5000000\n", opts));
    assert_eq!(s[0].timestamp, Some(7));
    assert_eq!(s[1].timestamp, Some(5));

    let opts = Options {
        precision: Precision::Seconds,
        ..Options::default()
    };
    let e = only_error(parse_with("m v=1 9223372036854775807\n", opts));
    assert!(
        matches!(e.kind, ErrorKind::TimestampOutOfRange { .. }),
        "{e}"
    );
    let e = only_error(parse("m v=1 1.5\n"));
    assert!(matches!(e.kind, ErrorKind::InvalidTimestamp { .. }), "{e}");
    assert_eq!(e.column, Some(7));
    let e = only_error(parse("m v=1 99999999999999999999\n"));
    assert!(
        matches!(e.kind, ErrorKind::TimestampOutOfRange { .. }),
        "{e}"
    );
}

#[test]
fn several_fields_several_samples_and_name_sanitizing() {
    let s = ok(parse(
        "cpu.load,host-name=a,1dc=x 1m=0.5,5m=0.25 1705190400000000000\n",
    ));
    assert_eq!(s.len(), 2);
    assert_eq!(
        s[0].labels,
        labels(&[
            ("__name__", "cpu_load_1m"),
            ("host_name", "a"),
            ("_1dc", "x")
        ])
    );
    assert_eq!(s[1].labels.metric_name(), Some("cpu_load_5m"));
    assert_eq!(s[1].value, 0.25);
    let s = ok(parse("9lives v=1\n"));
    assert_eq!(s[0].labels.metric_name(), Some("_9lives_v"));
}

#[test]
fn refused_labels_are_one_error_per_line() {
    for text in [
        "m,__name__=x a=1,b=2\n",
        "m,__x=y a=1,b=2\n",
        "m,a.b=1,a_b=2 a=1,b=2\n",
    ] {
        let e = only_error(parse(text));
        assert!(matches!(e.kind, ErrorKind::Labels(_)), "{text}: {e}");
    }
}

#[test]
fn syntax_errors_and_recovery() {
    let text = "good v=1\n\
                nofields\n\
                m,t= v=1\n\
                m,=x v=1\n\
                m,t v=1\n\
                m v=\n\
                m =1\n\
                m v\n\
                m v=1 123 extra\n\
                ,t=1 v=1\n\
                m v=1,\n\
                also_good v=2\n";
    let items = parse(text);
    let summary: Vec<Result<&str, (usize, &'static str)>> = items
        .iter()
        .map(|r| match r {
            Ok(s) => Ok(s.labels.metric_name().unwrap()),
            Err(e) => Err((
                e.line,
                match e.kind {
                    ErrorKind::MissingFields => "fields",
                    ErrorKind::EmptyTag { .. } => "tag",
                    ErrorKind::EmptyField { .. } => "field",
                    ErrorKind::Syntax { .. } => "syntax",
                    ErrorKind::MissingMeasurement => "measurement",
                    _ => "other",
                },
            )),
        })
        .collect();
    assert_eq!(
        summary,
        [
            Ok("good_v"),
            Err((2, "fields")),
            Err((3, "tag")),
            Err((4, "tag")),
            Err((5, "syntax")),
            Err((6, "field")),
            Err((7, "field")),
            Err((8, "syntax")),
            Err((9, "syntax")),
            Err((10, "measurement")),
            Err((11, "syntax")),
            Ok("also_good_v"),
        ]
    );
}

#[test]
fn comments_blank_lines_crlf_and_leading_whitespace() {
    let text = "# comment\r\n\r\n   \r\n  m,t=a v=1 1000000\r\n\tm v=2\r\nm  v=3  2000000 \r\n";
    let s = ok(parse(text));
    let got: Vec<(Option<i64>, f64)> = s.iter().map(|s| (s.timestamp, s.value)).collect();
    assert_eq!(got, [(Some(1), 1.0), (None, 2.0), (Some(2), 3.0)]);
    assert_eq!(s[0].labels.get("t"), Some("a"));
}

#[test]
fn invalid_utf8_is_refused_per_line() {
    let mut text = b"m v=1\nm,t=".to_vec();
    text.extend_from_slice(&[0xff, 0xfe]);
    text.extend_from_slice(b" v=2\nm v=3\n");
    let items: Vec<_> = Parser::new(&text, Options::default()).collect();
    assert_eq!(items.len(), 3);
    let e = items[1].as_ref().unwrap_err();
    assert!(matches!(e.kind, ErrorKind::InvalidUtf8));
    assert_eq!((e.line, e.column), (2, Some(5)));
    assert_eq!(items[2].as_ref().unwrap().value, 3.0);
}

#[test]
fn gen_py_request_body() {
    // Lines as `shared/peers/gen.py --formats influx` writes them (ns timestamps).
    let text = "node_network,datacenter=us-west-1a,device=eth0,host=host_0,os=Ubuntu20.04LTS,rack=94,region=us-west-1,service=7,team=NYC receive_bytes_total=78999824101,transmit_bytes_total=62211202726 1705269600000000000\n\
                http,code=200,datacenter=us-west-1a,host=host_0,os=Ubuntu20.04LTS,rack=94,region=us-west-1,service=7,team=NYC requests_total=7590019 1705269600000000000\n\
                http,code=200,datacenter=us-west-1a,host=host_0,os=Ubuntu20.04LTS,rack=94,region=us-west-1,service=7,team=NYC requests_total=7590100 1705269610000000000\n";
    let s = ok(parse(text));
    assert_eq!(s.len(), 4);
    assert_eq!(
        s[0].labels.metric_name(),
        Some("node_network_receive_bytes_total")
    );
    assert_eq!(s[0].labels.get("device"), Some("eth0"));
    assert_eq!(s[1].value, 62_211_202_726.0);
    assert_eq!(s[2].labels.metric_name(), Some("http_requests_total"));
    assert_eq!(s[2].labels, s[3].labels);
    assert_eq!(s[3].timestamp, Some(1_705_269_610_000));
    // The same series as the OpenMetrics output of gen.py.
    assert_eq!(
        s[2].labels.to_string(),
        r#"http_requests_total{code="200", datacenter="us-west-1a", host="host_0", os="Ubuntu20.04LTS", rack="94", region="us-west-1", service="7", team="NYC"}"#
    );
}

#[test]
fn repeated_series_keys_and_new_fields() {
    // The parser caches label sets by series key; new fields of a known key, and known
    // keys whose label sets are refused, must come out as if parsed afresh.
    let text =
        "m,t=a x=1\nm,t=a x=2,y=3\nm,t=a y=4,s=\"str\"\nm,__t=a x=1\nm,__t=a x=1\nm,t=b x=5\n";
    let items = parse(text);
    let got: Vec<Result<(String, f64), usize>> = items
        .iter()
        .map(|r| match r {
            Ok(s) => Ok((s.labels.to_string(), s.value)),
            Err(e) => Err(e.line),
        })
        .collect();
    let ok = |l: &str, v: f64| Ok((l.to_owned(), v));
    assert_eq!(
        got,
        [
            ok(r#"m_x{t="a"}"#, 1.0),
            ok(r#"m_x{t="a"}"#, 2.0),
            ok(r#"m_y{t="a"}"#, 3.0),
            ok(r#"m_y{t="a"}"#, 4.0),
            Err(4),
            Err(5),
            ok(r#"m_x{t="b"}"#, 5.0),
        ]
    );
}
