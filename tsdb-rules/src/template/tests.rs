//! Cases ported from Prometheus's `template/template_test.go` (the oracle), plus the
//! alerting usage (`$labels`, `$value`, `$externalLabels`) and Go's template semantics.
//! Prometheus's cases feed arbitrary Go values as data; here the data is always the alert
//! data, so those inputs are written as literals or `range` over query results instead.
//! Columns in errors are shifted by the prepended definitions, as in Prometheus's alerts.

use super::*;

fn q(samples: &[(&[(&str, &str)], f64)]) -> Vec<QuerySample> {
    samples
        .iter()
        .map(|(l, v)| QuerySample {
            labels: l
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            value: *v,
        })
        .collect()
}

fn run_with(
    text: &str,
    labels: &[(&str, &str)],
    value: f64,
    result: Vec<QuerySample>,
) -> Result<String, TemplateError> {
    let labels: BTreeMap<String, String> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let ext: BTreeMap<String, String> = [("cluster".to_string(), "eu1".to_string())].into();
    let t = Template::parse("test", text)?;
    let data = TemplateData {
        labels: &labels,
        external_labels: &ext,
        external_url: "http://testhost:9090/path/prefix",
        value,
    };
    let mut query = |_: &str| Ok(result.clone());
    t.expand(&data, &mut query)
}

fn run(text: &str) -> String {
    match run_with(text, &[], 0.0, Vec::new()) {
        Ok(s) => s,
        Err(e) => panic!("{text}: {e}"),
    }
}

fn run_q(text: &str, result: Vec<QuerySample>) -> String {
    match run_with(text, &[], 0.0, result) {
        Ok(s) => s,
        Err(e) => panic!("{text}: {e}"),
    }
}

fn err(text: &str) -> String {
    match run_with(text, &[], 0.0, Vec::new()) {
        Ok(s) => panic!("{text}: expected an error, got {s:?}"),
        Err(e) => e.to_string(),
    }
}

const D: usize = PROMETHEUS_DEFS.len();

#[test]
fn prometheus_plain_and_literals() {
    assert_eq!(run("plain text"), "plain text");
    assert_eq!(run("{{ 1 }}"), "1");
    assert_eq!(run("{{ \"<b>\" }}"), "<b>");
    assert_eq!(run("{{ \"<b>\" | safeHtml }}"), "<b>");
}

#[test]
fn prometheus_parse_errors() {
    assert_eq!(
        err("{{ \u{a0}}}"),
        "template: test:1: unrecognized character in action: U+00A0 '\u{a0}'"
    );
    assert_eq!(err("{{"), "template: test:1: unclosed action");
    assert_eq!(
        err("{{ foo }}"),
        "template: test:1: function \"foo\" not defined"
    );
    assert_eq!(
        err("a\n{{ $nope }}"),
        "template: test:2: undefined variable \"$nope\""
    );
}

#[test]
fn prometheus_query_functions() {
    let one = || q(&[(&[("__name__", "metric"), ("instance", "a")], 11.0)]);
    assert_eq!(
        run_q("{{ query \"1.5\" | first | value }}", q(&[(&[], 1.5)])),
        "1.5"
    );
    assert_eq!(
        run_q(
            "{{ query \"metric{instance='a'}\" | first | value }}",
            one()
        ),
        "11"
    );
    assert_eq!(
        run_q(
            "{{ query \"metric{instance='a'}\" | first | label \"instance\" }}",
            one()
        ),
        "a"
    );
    assert_eq!(
        run_q(
            "{{ query \"metric{__value__='a'}\" | first | strvalue }}",
            q(&[(&[("__name__", "metric"), ("__value__", "a")], 11.0)])
        ),
        "a"
    );
    assert_eq!(
        run_q(
            "{{ query \"metric{instance='a'}\" | first | label \"foo\" }}",
            one()
        ),
        ""
    );
    assert_eq!(
        run_q(
            "{{ $x := query \"metric\" | first }}{{ $x.Labels.foo }}",
            one()
        ),
        ""
    );
    let two = q(&[
        (&[("__name__", "metric"), ("instance", "b")], 21.0),
        (&[("__name__", "metric"), ("instance", "a")], 11.0),
    ]);
    assert_eq!(
        run_q(
            "{{ range query \"metric\" | sortByLabel \"instance\" }}{{.Labels.instance}}:{{.Value}}: {{end}}",
            two
        ),
        "a:11: b:21: "
    );
}

#[test]
fn prometheus_function_errors() {
    assert_eq!(
        err("{{ query \"missing\" | first }}"),
        format!("error executing template test: template: test:1:{}: executing \"test\" at <first>: error calling first: first() called on vector with no elements", 21 + D)
    );
    assert_eq!(
        err("{{ humanize \"one\" }}"),
        format!("error executing template test: template: test:1:{}: executing \"test\" at <humanize \"one\">: error calling humanize: strconv.ParseFloat: parsing \"one\": invalid syntax", 3 + D)
    );
    assert_eq!(
        err("{{ humanize1024 \"one\" }}"),
        format!("error executing template test: template: test:1:{}: executing \"test\" at <humanize1024 \"one\">: error calling humanize1024: strconv.ParseFloat: parsing \"one\": invalid syntax", 3 + D)
    );
    assert_eq!(
        err("{{ humanizeDuration \"one\" }}"),
        format!("error executing template test: template: test:1:{}: executing \"test\" at <humanizeDuration \"one\">: error calling humanizeDuration: strconv.ParseFloat: parsing \"one\": invalid syntax", 3 + D)
    );
    assert_eq!(
        err("{{ \"one\" | humanizePercentage }}"),
        format!("error executing template test: template: test:1:{}: executing \"test\" at <humanizePercentage>: error calling humanizePercentage: strconv.ParseFloat: parsing \"one\": invalid syntax", 11 + D)
    );
    let e = err("{{ (query \"missing\").banana }}");
    assert!(
        e.contains("can't evaluate field banana in type template.queryResult"),
        "{e}"
    );
    let e = run_with("{{ query \"x\" }}", &[], 0.0, Vec::new());
    assert!(e.is_ok());
    let t = Template::parse("q", "{{ query \"up\" }}").map_err(|e| e.to_string());
    let labels = BTreeMap::new();
    let data = TemplateData {
        labels: &labels,
        external_labels: &labels,
        external_url: "",
        value: 0.0,
    };
    let mut failing = |_: &str| Err("query timed out".to_string());
    let got = t.map(|t| t.expand(&data, &mut failing).map_err(|e| e.to_string()));
    assert_eq!(
        got,
        Ok(Err(format!("error executing template q: template: q:1:{}: executing \"q\" at <query \"up\">: error calling query: query timed out", 3 + D)))
    );
}

#[test]
fn prometheus_strip_port_and_domain() {
    let cases = [
        ("foo.example.com", "foo.example.com", "foo"),
        ("foo.example.com:12345", "foo.example.com", "foo:12345"),
        ("192.0.2.1", "192.0.2.1", "192.0.2.1"),
        ("192.0.2.1:12345", "192.0.2.1", "192.0.2.1:12345"),
        ("2001:0DB8::1", "2001:0DB8::1", "2001:0DB8::1"),
        (
            "[2001:0DB8::1]:12345",
            "2001:0DB8::1",
            "[2001:0DB8::1]:12345",
        ),
        (
            "[2001:0DB8::1]::12345",
            "[2001:0DB8::1]::12345",
            "[2001:0DB8::1]::12345",
        ),
    ];
    for (input, port, domain) in cases {
        assert_eq!(
            run(&format!("{{{{ \"{input}\" | stripPort }}}}")),
            port,
            "{input}"
        );
        assert_eq!(
            run(&format!("{{{{ \"{input}\" | stripDomain }}}}")),
            domain,
            "{input}"
        );
    }
}

#[test]
fn prometheus_humanize() {
    let each = |f: &str, inputs: &[&str]| -> String {
        inputs
            .iter()
            .map(|i| run(&format!("{{{{ {f} {i} }}}}:")))
            .collect()
    };
    // float64 and string inputs.
    assert_eq!(
        each("humanize", &["0.0", "1.0", "1234567.0", ".12"]),
        "0:1:1.235M:120m:"
    );
    assert_eq!(
        each(
            "humanize",
            &["\"0.0\"", "\"1.0\"", "\"1234567.0\"", "\".12\""]
        ),
        "0:1:1.235M:120m:"
    );
    // int inputs.
    assert_eq!(
        each(
            "humanize",
            &["0", "-1", "1", "1234567", "9223372036854775807"]
        ),
        "0:-1:1:1.235M:9.223E:"
    );
    assert_eq!(
        each("humanize1024", &["0.0", "1.0", "1048576.0", ".12"]),
        "0:1:1Mi:0.12:"
    );
    assert_eq!(
        each(
            "humanize1024",
            &["0", "-1", "1", "1234567", "9223372036854775807"]
        ),
        "0:-1:1:1.177Mi:8Ei:"
    );
    assert_eq!(
        each(
            "humanizeDuration",
            &[
                "0.0",
                "1.0",
                "60.0",
                "3600.0",
                "86400.0",
                "90000.0",
                "-183845.0",
                "899.99"
            ]
        ),
        "0s:1s:1m 0s:1h 0m 0s:1d 0h 0m 0s:1d 1h 0m 0s:-2d 3h 4m 5s:14m 59s:"
    );
    assert_eq!(
        each(
            "humanizeDuration",
            &["\"0\"", "\"1\"", "\"60\"", "\"3600\"", "\"86400\""]
        ),
        "0s:1s:1m 0s:1h 0m 0s:1d 0h 0m 0s:"
    );
    assert_eq!(
        each(
            "humanizeDuration",
            &[".1", ".0001", ".12345", "60.1", "60.5", "1.2345", "12.345"]
        ),
        "100ms:100us:123.5ms:1m 0s:1m 0s:1.234s:12.35s:"
    );
    assert_eq!(
        each("humanizeDuration", &["0", "-1", "1", "1234567"]),
        "0s:-1s:1s:14d 6h 56m 7s:"
    );
    let inf = "{{ $v := \"+Inf\" }}{{ humanize $v }}:{{ humanize1024 $v }}:{{ humanizeDuration $v }}:{{humanizeTimestamp $v}}:{{ $v := \"-Inf\" }}{{ humanize $v }}:{{ humanize1024 $v }}:{{ humanizeDuration $v }}:{{humanizeTimestamp $v}}:{{ $v := \"NaN\" }}{{ humanize $v }}:{{ humanize1024 $v }}:{{ humanizeDuration $v }}:{{humanizeTimestamp $v}}:";
    assert_eq!(
        run(inf),
        "+Inf:+Inf:+Inf:+Inf:-Inf:-Inf:-Inf:-Inf:NaN:NaN:NaN:NaN:"
    );
    assert_eq!(
        run("{{ -0.22222 | humanizePercentage }}:{{ 0.0 | humanizePercentage }}:{{ 0.1234567 | humanizePercentage }}:{{ 1.23456 | humanizePercentage }}"),
        "-22.22%:0%:12.35%:123.5%"
    );
    assert_eq!(
        each(
            "humanizePercentage",
            &["0", "-1", "1", "1234567", "9223372036854775807"]
        ),
        "0%:-100%:100%:1.235e+08%:9.223e+20%:"
    );
    assert_eq!(
        run(
            r#"{{ "-0.22222" | humanizePercentage }}:{{ "0.0" | humanizePercentage }}:{{ "0.1234567" | humanizePercentage }}:{{ "1.23456" | humanizePercentage }}"#
        ),
        "-22.22%:0%:12.35%:123.5%"
    );
}

#[test]
fn prometheus_timestamps() {
    let each = |inputs: &[&str]| -> String {
        inputs
            .iter()
            .map(|i| run(&format!("{{{{ humanizeTimestamp {i} }}}}:")))
            .collect()
    };
    assert_eq!(
        each(&["0", "-1", "1", "1234567", "9223372036"]),
        "1970-01-01 00:00:00 +0000 UTC:1969-12-31 23:59:59 +0000 UTC:1970-01-01 00:00:01 +0000 UTC:1970-01-15 06:56:07 +0000 UTC:2262-04-11 23:47:16 +0000 UTC:"
    );
    assert_eq!(
        err("{{ humanizeTimestamp -9223372036854775807 }}"),
        format!("error executing template test: template: test:1:{}: executing \"test\" at <humanizeTimestamp -9223372036854775807>: error calling humanizeTimestamp: -9.223372036854776e+18 cannot be represented as a nanoseconds timestamp since it overflows int64", 3 + D)
    );
    assert_eq!(
        run("{{ 1435065584.128 | humanizeTimestamp }}"),
        "2015-06-23 13:19:44.128 +0000 UTC"
    );
    assert_eq!(
        run(r#"{{ "1435065584.128" | humanizeTimestamp }}"#),
        "2015-06-23 13:19:44.128 +0000 UTC"
    );
    assert_eq!(
        run(r#"{{ (1435065584.128 | toTime).Format "2006" }}"#),
        "2015"
    );
    assert_eq!(
        run(r#"{{ ("1435065584.128" | toTime).Format "2006" }}"#),
        "2015"
    );
}

#[test]
fn prometheus_strings_links_and_urls() {
    assert_eq!(run("{{ reReplaceAll \"(a)b\" \"x$1\" \"ab\" }}"), "xa");
    assert_eq!(run("{{ \"aa bb CC\" | title }}"), "Aa Bb CC");
    assert_eq!(run("{{ \"aa bb CC\" | toUpper }}"), "AA BB CC");
    assert_eq!(run("{{ \"aA bB CC\" | toLower }}"), "aa bb cc");
    assert_eq!(
        run("{{ match \"a+\" \"aa\" }} {{ match \"a+\" \"b\" }}"),
        "true false"
    );
    assert_eq!(run("{{ graphLink \"up\" }}"), "/graph?g0.expr=up&g0.tab=0");
    assert_eq!(run("{{ tableLink \"up\" }}"), "/graph?g0.expr=up&g0.tab=1");
    assert_eq!(
        run("{{ graphLink \"rate(x{a=\\\"b c\\\"}[5m])\" }}"),
        "/graph?g0.expr=rate%28x%7Ba%3D%22b+c%22%7D%5B5m%5D%29&g0.tab=0"
    );
    assert_eq!(run("{{ pathPrefix }}"), "/path/prefix");
    assert_eq!(run("{{ externalURL }}"), "http://testhost:9090/path/prefix");
    assert_eq!(
        run("{{ printf \"%0.2f\" (parseDuration \"1h2m10ms\") }}"),
        "3720.01"
    );
    assert_eq!(
        run("{{ printf \"%0.2f\" (parseDuration \"-1h2m10ms\") }}"),
        "-3720.01"
    );
    assert!(err("{{ parseDuration \"1x\" }}")
        .ends_with("error calling parseDuration: not a valid duration string: \"1x\""));
    assert!(err("{{ reReplaceAll \"(\" \"\" \"x\" }}")
        .contains("error calling reReplaceAll: regexp: Compile(\"(\")"));
}

#[test]
fn prometheus_args_map() {
    assert_eq!(
        run("{{ $a := args 1 \"2\" }}{{ $a.arg0 }} {{ $a.arg1 }} {{ $a.arg2 }}"),
        "1 2 <no value>"
    );
}

#[test]
fn alert_variables_and_data() {
    let labels = [("instance", "host:9100"), ("job", "node")];
    let r = |t: &str, v: f64| run_with(t, &labels, v, Vec::new()).map_err(|e| e.to_string());
    assert_eq!(
        r("{{ $labels.instance }} down", 1.0),
        Ok("host:9100 down".into())
    );
    assert_eq!(
        r("{{ .Labels.job }}/{{ $labels.missing }}.", 1.0),
        Ok("node/.".into())
    );
    assert_eq!(r("{{ $value }}", 0.5), Ok("0.5".into()));
    assert_eq!(r("{{ $value }}", 1e6), Ok("1e+06".into()));
    assert_eq!(r("{{ $value }}", 3.0), Ok("3".into()));
    assert_eq!(r("{{ $value }}", f64::NAN), Ok("NaN".into()));
    assert_eq!(r("{{ $value }}", f64::INFINITY), Ok("+Inf".into()));
    assert_eq!(r("{{ .Value | humanize }}", 1234.0), Ok("1.234k".into()));
    assert_eq!(
        r("{{ $externalLabels.cluster }} {{ $externalURL }}", 1.0),
        Ok("eu1 http://testhost:9090/path/prefix".into())
    );
    assert_eq!(
        r("{{ printf \"%.2f\" $value }}%", 99.456),
        Ok("99.46%".into())
    );
    assert_eq!(
        r(
            "{{ if gt $value 80.0 }}high{{ else if gt $value 50.0 }}mid{{ else }}low{{ end }}",
            60.0
        ),
        Ok("mid".into())
    );
    // Go does not compare an int constant with a float64.
    let e = r("{{ if gt $value 80 }}high{{ end }}", 60.0).unwrap_err();
    assert!(
        e.ends_with("error calling gt: incompatible types for comparison"),
        "{e}"
    );
    assert_eq!(
        r("{{ with $labels.job }}job={{ . }}{{ end }}", 1.0),
        Ok("job=node".into())
    );
    assert_eq!(
        r("{{ with $labels.nope }}x{{ else }}none{{ end }}", 1.0),
        Ok("none".into())
    );
    assert_eq!(
        r(
            "{{ range $k, $v := $labels }}{{ $k }}={{ $v }};{{ end }}",
            1.0
        ),
        Ok("instance=host:9100;job=node;".into())
    );
    assert_eq!(
        r("{{ range $labels }}{{ . }},{{ end }}", 1.0),
        Ok("host:9100,node,".into())
    );
    assert_eq!(r("{{ index $labels \"job\" }}", 1.0), Ok("node".into()));
    assert_eq!(r("{{ len $labels }}", 1.0), Ok("2".into()));
    assert!(r("{{ .Foo }}", 1.0)
        .unwrap_err()
        .contains("can't evaluate field Foo in type struct"));
    assert_eq!(
        r("{{ $labels.instance | stripPort | toUpper }}", 1.0),
        Ok("HOST".into())
    );
}

#[test]
fn go_template_semantics() {
    assert_eq!(run("a  {{- 1 -}}  b"), "a1b");
    assert_eq!(run("a {{- /* comment */ -}} b"), "ab");
    assert_eq!(run("a{{/* c */}}b"), "ab");
    assert_eq!(run("{{ $x := 1 }}{{ $x = 2 }}{{ $x }}"), "2");
    assert_eq!(run("{{ if and 1 0 }}y{{ else }}n{{ end }}"), "n");
    assert_eq!(run("{{ or 0 \"\" \"z\" }}"), "z");
    assert_eq!(run("{{ and 1 \"\" \"z\" }}"), "");
    assert_eq!(run("{{ not true }}"), "false");
    assert_eq!(
        run("{{ eq 1 2 1 }} {{ ne \"a\" \"b\" }} {{ lt 1 2 }} {{ le 2 2 }} {{ ge 1.5 2.5 }}"),
        "true true true true false"
    );
    assert_eq!(run("{{ print 1 2 \"a\" \"b\" 3 }}"), "1 2ab3");
    assert_eq!(run("{{ println 1 \"a\" }}"), "1 a\n");
    assert_eq!(
        run("{{ printf \"%s=%d %v %q %x %g\" \"a\" 5 1.5 \"q\" 255 0.25 }}"),
        "a=5 1.5 \"q\" ff 0.25"
    );
    assert_eq!(run("{{ `raw\\n` }}"), "raw\\n");
    assert_eq!(run("{{ \"tab\\there\" }}"), "tab\there");
    assert_eq!(run("{{ 'a' }}"), "97");
    assert_eq!(
        run("{{ 1.0 }} {{ 1e3 }} {{ 0x10 }} {{ -3 }}"),
        "1 1000 16 -3"
    );
    let s3 = q(&[
        (&[("i", "a")], 1.0),
        (&[("i", "b")], 2.0),
        (&[("i", "c")], 3.0),
    ]);
    assert_eq!(run_q("{{ range $i, $s := query \"x\" }}{{ if eq $i 1 }}{{ continue }}{{ end }}{{ $i }}{{ $s.Labels.i }}{{ end }}", s3.clone()), "0a2c");
    assert_eq!(run_q("{{ range query \"x\" }}{{ if eq .Value 2.0 }}{{ break }}{{ end }}{{ .Value }}{{ end }}", s3.clone()), "1");
    assert_eq!(
        run_q(
            "{{ range query \"x\" }}x{{ else }}empty{{ end }}",
            Vec::new()
        ),
        "empty"
    );
    assert_eq!(
        run_q("{{ with query \"x\" }}{{ len . }}{{ end }}", s3.clone()),
        "3"
    );
    assert_eq!(run_q("{{ (index (query \"x\") 2).Labels.i }}", s3), "c");
    // Variables end with their control structure.
    assert!(
        err("{{ if true }}{{ $y := 1 }}{{ end }}{{ $y }}").contains("undefined variable \"$y\"")
    );
    assert!(err("{{ break }}").contains("{{break}} outside {{range}}"));
    // Prometheus 2.42 is built with a Go that cannot range over an integer.
    assert!(err("{{ range 1000000000 }}x{{ end }}").contains("range can't iterate over 1000000000"));
    let deep = format!("{}1{}", "(".repeat(5000), ")".repeat(5000));
    assert!(err(&format!("{{{{ {deep} }}}}")).contains("max expression depth exceeded"));
    let nested = format!(
        "{}x{}",
        "{{ if true }}".repeat(5000),
        "{{ end }}".repeat(5000)
    );
    assert!(err(&nested).contains("max expression depth exceeded"));
    assert_eq!(
        run(&format!(
            "{}x{}",
            "{{ if true }}".repeat(50),
            "{{ end }}".repeat(50)
        )),
        "x"
    );
    assert!(err("{{ end }}").contains("unexpected {{end}}"));
    assert!(err("{{ if true }}x").contains("unexpected EOF"));
    assert!(err("{{ 1 | 2 }}").contains("non executable command in pipeline stage 2"));
    assert!(err("{{ define \"x\" }}{{ end }}").contains("not supported"));
    assert!(err("{{ printf }}").contains("wrong number of args for printf: want at least 1 got 0"));
    assert!(err("{{ 1 2 }}").contains("can't give argument to non-function 1"));
    assert!(err("{{ toUpper 1 }}").contains("expected string; found 1"));
    assert!(err("{{ $value | toUpper }}")
        .contains("wrong type for value; expected string; got float64"));
    assert!(
        err("{{ \"x\" }").contains("unclosed action") || err("{{ \"x\" }").contains("unexpected")
    );
}

#[test]
fn names_where_the_error_is() {
    let e = Template::parse("__alert_HighLoad", "line1\n{{ nope }}").map(|_| ());
    assert_eq!(
        e.map_err(|e| e.to_string()),
        Err("template: __alert_HighLoad:2: function \"nope\" not defined".to_string())
    );
    let e = err("x\n  {{ first (query \"q\") }}");
    assert!(
        e.contains("test:2:5: executing \"test\" at <first (query \"q\")>"),
        "{e}"
    );
}

mod props {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Arbitrary text never panics the parser or the executor.
        #[test]
        fn never_panics(text in ".{0,64}") {
            let _ = run_with(&text, &[("a", "b")], 1.5, Vec::new());
        }

        /// Template-shaped input (delimiters, keywords, functions) never panics.
        #[test]
        fn never_panics_on_template_shaped_input(parts in proptest::collection::vec(prop_oneof![
            Just("{{"), Just("}}"), Just("{{-"), Just(" -}}"), Just("if"), Just("else"), Just("end"),
            Just("range"), Just("with"), Just("$x"), Just(":="), Just("="), Just("|"), Just("("), Just(")"),
            Just("."), Just(".Labels"), Just("$labels"), Just("$value"), Just("1"), Just("-1.5e3"),
            Just("\"s\""), Just("`r`"), Just("'c'"), Just(" "), Just("printf"), Just("\"%d %s %v\""),
            Just("humanize"), Just("query"), Just("first"), Just("index"), Just("len"), Just("eq"),
            Just("break"), Just("continue"), Just("/*"), Just("*/"), Just(","), Just("nil"), Just("toTime"),
            Just(".Format"), Just("args"), Just("label"),
        ], 0..24)) {
            let text: String = parts.concat();
            let _ = run_with(&text, &[("a", "b")], 1.5, q(&[(&[("a", "b")], 2.0)]));
        }
    }
}
