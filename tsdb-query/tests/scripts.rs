//! Runs the PromQL test scripts in `tests/scripts/*.test` (Prometheus' `promqltest`
//! format, see `promqltest/mod.rs`), one test per file, each twice: once with the data in
//! the head and once persisted to segment files. A failing test lists every failed
//! command with its `file:line`, expected and got.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod promqltest;

use std::path::{Path, PathBuf};

use promqltest::{parse, run, Storage};

fn scripts_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scripts")
}

/// Runs one script in both storage modes; panics with every failure.
fn run_script(name: &str) {
    let path = scripts_dir().join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let shown = format!("tsdb-query/tests/scripts/{name}");
    let script = parse(&shown, &text).unwrap_or_else(|e| panic!("malformed script: {e}"));
    let shown = &script.file;
    assert!(script.eval_count() > 0, "{shown} has no eval commands");
    // Failures by line and message, with the storage modes they happened in.
    let mut failures: Vec<(usize, String, String, Vec<Storage>)> = Vec::new();
    for storage in [Storage::Head, Storage::Segments] {
        for f in run(&script, storage) {
            match failures
                .iter_mut()
                .find(|(line, _, message, _)| *line == f.line && *message == f.message)
            {
                Some(known) => known.3.push(storage),
                None => failures.push((f.line, f.header, f.message, vec![storage])),
            }
        }
    }
    failures.sort_by_key(|f| f.0);
    let report: String = failures
        .iter()
        .map(|(line, header, message, modes)| {
            format!(
                "\n{shown}:{line}: {modes:?} {header}\n  {}\n",
                message.replace('\n', "\n  ")
            )
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} failure(s) in {shown} ({} evals, each run with the data in the head and in \
         segments):\n{report}",
        failures.len(),
        script.eval_count()
    );
}

macro_rules! scripts {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                run_script(concat!(stringify!($name), ".test"));
            }
        )*

        /// Every `.test` file has a test above, so none is silently skipped.
        #[test]
        fn every_script_has_a_test() {
            let known = [$(concat!(stringify!($name), ".test")),*];
            let mut missing = Vec::new();
            for entry in std::fs::read_dir(scripts_dir()).unwrap() {
                let name = entry.unwrap().file_name().to_string_lossy().into_owned();
                if name.ends_with(".test") && !known.contains(&name.as_str()) {
                    missing.push(name);
                }
            }
            assert!(
                missing.is_empty(),
                "add these scripts to the scripts! list in tests/scripts.rs: {missing:?}"
            );
        }
    };
}

scripts! {
    selectors,
    staleness,
    functions_range,
    functions_instant,
    aggregations,
    operators,
    subqueries_at_offset,
    histograms,
    labels,
    ema,
    errors,
    storage,
    review,
}

// ------------------------------------------------------------------ the runner itself

/// Parses `text` and returns its error, which must exist.
fn parse_error(text: &str) -> String {
    match parse("bad.test", text) {
        Ok(s) => panic!("parsed a malformed script: {s:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn malformed_scripts_are_errors_with_their_line() {
    let cases: &[(&str, &str)] = &[
        ("load 1m\n  foo 1 2\n\nbogus command\n", "bad.test:4: invalid command"),
        ("load\n", "bad.test:1: invalid load command"),
        ("load 1q\n", "bad.test:1: invalid load interval"),
        ("load 1m\n  foo 1 2x\n", "bad.test:2: invalid value \"2x\""),
        ("load 1m\n  foo 1 +\n", "bad.test:2: invalid value \"+\""),
        ("load 1m\n  foo 1 _xa\n", "bad.test:2: invalid value"),
        ("load 1m\n  foo 1 1+x3\n", "bad.test:2: invalid value"),
        ("load 1m\n  foo{a=\"1} 1\n", "bad.test:2: unterminated"),
        ("load 1m\n  foo{a=1} 1\n", "bad.test:2: expected a quoted value"),
        ("load 1m\n  foo{a=\"1\" b=\"2\"} 1\n", "bad.test:2: expected `,`"),
        ("load 1m\n  foo{a=\"1\",a=\"2\"} 1\n", "bad.test:2: label a is given twice"),
        ("load 1m\n  foo{__x=\"1\"} 1\n", "bad.test:2: invalid series labels"),
        ("load 1m\n  foo 1\n  foo 2\n", "bad.test:3: series foo{} appears twice"),
        ("load 1m\n  1foo 1\n", "bad.test:2: invalid series line"),
        ("\n\neval instant 5m foo\n", "bad.test:3: invalid eval command"),
        ("eval instant at 5x foo\n", "bad.test:1: invalid time"),
        ("eval instant at 5m\n", "bad.test:1: invalid eval command"),
        ("eval range from 5m to 1m step 1m foo\n", "bad.test:1: the end time"),
        ("eval range from 0 to 1m step 0 foo\n", "bad.test:1: the step must be positive"),
        ("eval range from 0 to 1m every 1m foo\n", "bad.test:1: invalid eval command"),
        ("eval_ordered range from 0 to 1m step 1m foo\n", "bad.test:1: eval_ordered"),
        ("eval_warn instant at 0 foo\n", "bad.test:1: eval_warn: this engine has no"),
        ("eval_bogus instant at 0 foo\n", "bad.test:1: invalid eval command"),
        ("eval instant at 0 foo\n  foo 1 2\n", "bad.test:2: an instant query's result has one"),
        ("eval instant at 0 foo\n  foo _\n", "bad.test:2: an instant query's expected value"),
        ("eval instant at 0 foo\n  foo\n", "bad.test:2: an expected series needs a value"),
        ("eval instant at 0 foo\n  foo 1\n  foo 2\n", "bad.test:3: series foo{} is already"),
        ("eval instant at 0 foo\n  1\n  2\n", "bad.test:3: nothing may follow"),
        ("eval instant at 0 foo\n  1\n  foo 2\n", "bad.test:3: nothing may follow"),
        ("eval instant at 0 foo\n  expect fail\n  foo 1\n", "bad.test:1: an eval that expects"),
        ("eval instant at 0 foo\n  expect fail\n  expect fail\n", "bad.test:3: only one"),
        ("eval instant at 0 foo\n  expect sometimes\n", "bad.test:2: invalid expect type"),
        ("eval instant at 0 foo\n  expect warn\n", "bad.test:2: `expect warn`"),
        ("eval instant at 0 foo\n  expect fail regex: (\n", "bad.test:2: invalid regex"),
        ("eval instant at 0 foo\n  expect fail maybe\n", "bad.test:2: invalid expect line"),
        ("eval instant at 0 foo\n  expect ordered now\n", "bad.test:2: invalid expect line"),
        ("eval instant at 0 foo\n  expect ordered msg: x\n", "bad.test:2: `expect ordered` takes"),
        ("eval instant at 0 foo\n  expected_fail_message x\n", "bad.test:2: expected_fail_message needs"),
        ("eval_fail instant at 0 foo\n  expected_fail_regexp (\n", "bad.test:2: invalid expected_fail_regexp"),
        ("eval range from 0 to 1m step 1m foo\n  foo 1 2 3\n", "bad.test:2: more values than"),
        ("eval range from 0 to 1m step 1m foo\n  expect ordered\n", "bad.test:2: expect ordered is"),
        ("eval instant at 1m foo[1m]\n  expect range vector 0 to 1m\n", "bad.test:2: invalid directive"),
        ("eval instant at 1m foo[1m]\n  expect range vector from 0 to 1m step 30s\n  foo 1 2 3 4\n", "bad.test:3: more values than the grid"),
        ("eval instant at 1m \"a\"\n  expect string a\n", "bad.test:2: invalid expected string"),
        ("eval instant at 1m \"a\"\n  expect string \"a\n", "bad.test:2: invalid expected string"),
        ("eval instant at 1m foo\n  {a=\"\\q\"} 1\n", "bad.test:2: unknown escape"),
    ];
    for (text, want) in cases {
        let got = parse_error(text);
        assert!(
            got.starts_with(want),
            "script {text:?}\n  error: {got}\n  wanted it to start with: {want}"
        );
    }
}

/// The example at the top of `promqltest/mod.rs` is a passing script.
#[test]
fn module_doc_example_passes() {
    let source = include_str!("promqltest/mod.rs");
    let example: String = source
        .lines()
        .skip_while(|l| *l != "//! ```text")
        .skip(1)
        .take_while(|l| *l != "//! ```")
        .map(|l| format!("{}\n", l.trim_start_matches("//!").trim_start()))
        .collect();
    let script = parse("example.test", &example).unwrap();
    assert_eq!(script.eval_count(), 5);
    for storage in [Storage::Head, Storage::Segments] {
        let failures = run(&script, storage);
        assert!(failures.is_empty(), "{failures:#?}");
    }
}

#[test]
fn series_notation_expands_like_prometheus() {
    let script = parse(
        "ok.test",
        "load 1m\n\
         \x20 a 1+2x3 _ 4-1x2 _x2 stale 5x1\n\
         \x20 b{x=\"q\\\"\",y='s',z=`r\\`} -1 +2 Inf -Inf NaN 1e3 -1e-1+1e-1x1 # comment\n",
    )
    .unwrap();
    let promqltest::Command::Load(load) = &script.commands[0] else {
        panic!()
    };
    let a = &load.series[0].samples;
    let times: Vec<i64> = a.iter().map(|s| s.0 / 60_000).collect();
    assert_eq!(times, vec![0, 1, 2, 3, 5, 6, 7, 10, 11, 12]);
    let values: Vec<f64> = a.iter().map(|s| s.1).collect();
    assert_eq!(&values[..7], &[1.0, 3.0, 5.0, 7.0, 4.0, 3.0, 2.0]);
    assert!(tsdb_query::is_stale_nan(values[7]));
    assert_eq!(&values[8..], &[5.0, 5.0]);
    let b = &load.series[1];
    assert_eq!(b.labels.to_string(), r#"b{x="q\"", y="s", z="r\\"}"#);
    let v: Vec<f64> = b.samples.iter().map(|s| s.1).collect();
    assert_eq!(v[..4], [-1.0, 2.0, f64::INFINITY, f64::NEG_INFINITY]);
    assert!(v[4].is_nan() && !tsdb_query::is_stale_nan(v[4]));
    assert_eq!(v[5..], [1000.0, -0.1, 0.0]);
    assert_eq!(promqltest::parse_duration("1h30m"), Ok(5_400_000));
    assert_eq!(promqltest::parse_duration("1d2h3m4s5ms"), Ok(93_784_005));
    assert!(promqltest::parse_duration("30m1h").is_err());
    assert!(promqltest::parse_duration("").is_err());
    assert!(promqltest::parse_duration("5").is_err());
}

#[test]
fn values_compare_like_prometheus() {
    use promqltest::values_match as m;
    let stale = f64::from_bits(tsdb_query::STALE_NAN_BITS);
    assert!(m(1.0, 1.0 + 1e-12));
    assert!(!m(1.0, 1.0 + 1e-6));
    assert!(m(f64::NAN, f64::NAN));
    assert!(m(stale, stale));
    assert!(!m(stale, f64::NAN) && !m(f64::NAN, stale));
    assert!(m(f64::INFINITY, f64::INFINITY));
    assert!(!m(f64::INFINITY, f64::NEG_INFINITY) && !m(f64::INFINITY, 1e308));
    assert!(!m(0.0, 1e-300) && m(0.0, -0.0));
}

/// The runner reports wrong results: each of these evals is wrong in one way, and the
/// failure names its line and what differs.
#[test]
fn runner_reports_each_wrong_expectation() {
    let text = r#"
load 1m
  m{a="1"} 1 2 3
  m{a="2"} 10 20 30

eval instant at 2m m
  m{a="1"} 3
  m{a="2"} 31

eval instant at 2m m
  m{a="1"} 3

eval instant at 2m m
  m{a="1"} 3
  m{a="2"} 30
  m{a="3"} 1

eval instant at 2m m{a="1"}
  {a="1"} 3

eval_ordered instant at 2m sort_desc(m)
  m{a="1"} 3
  m{a="2"} 30

eval range from 0 to 2m step 1m m{a="1"}
  m{a="1"} 1 2 4

eval range from 0 to 2m step 1m m{a="1"}
  m{a="1"} 1 _ 3

eval_fail instant at 0 m

eval instant at 0 sum(
  {} 1

eval instant at 0 m + on() m
  expect fail regex: one-to-one

eval instant at 0 scalar(m{a="1"})
  2

eval instant at 2m m[2m]
  expect range vector from 0 to 2m step 1m
  m{a="1"} 1 2 3
  m{a="2"} 10 20 30

eval instant at 2m m[2m]
  expect range vector from 0 to 2m step 1m
  m{a="1"} _ 2 3
  m{a="2"} _ 20 30
"#;
    let script = parse("wrong.test", text).unwrap();
    for storage in [Storage::Head, Storage::Segments] {
        let failures = run(&script, storage);
        let got: Vec<(usize, String)> = failures
            .iter()
            .map(|f| (f.line, f.message.lines().next().unwrap_or("").to_string()))
            .collect();
        let want: &[(usize, &str)] = &[
            (6, r#"m{a="2"}: expected 31, got 30"#),
            (10, r#"unexpected series m{a="2"} 30 in the result"#),
            (13, r#"expected series m{a="3"} (line 16) is missing"#),
            (18, r#"unexpected series m{a="1"} 3"#),
            (
                21,
                r#"series m{a="2"} is at position 1 of the result, expected at 2"#,
            ),
            (25, r#"m{a="1"} at 2m: expected 4, got 3"#),
            (28, r#"m{a="1"}: point 2 is at 1m, expected at 2m"#),
            (31, "expected any error, but the query succeeded"),
            (33, "the query failed: parse error"),
            (36, "expected an error matching /one-to-one/, got the error"),
            (39, "expected scalar 2, got 1"),
            (42, r#"m{a="1"}: point 1 is at 1m, expected at 0m"#),
        ];
        assert_eq!(
            got.len(),
            want.len(),
            "[{storage:?}] failures: {failures:#?}"
        );
        for ((line, msg), (wline, wmsg)) in got.iter().zip(want) {
            assert_eq!(line, wline, "[{storage:?}] {msg}");
            assert!(
                msg.starts_with(wmsg),
                "[{storage:?}] line {line}: {msg:?} should start with {wmsg:?}"
            );
        }
    }
}

/// The scripts of this directory, for the robustness properties below.
fn corpus() -> Vec<String> {
    let mut texts: Vec<String> = std::fs::read_dir(scripts_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "test"))
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    texts.sort();
    texts
}

proptest::proptest! {
    /// Arbitrary text made of the script language's characters is parsed or refused with
    /// a line number, never a panic.
    #[test]
    fn parser_never_panics_on_noise(text in "[ \n\ta-zé∞_{}=!~\"'`,0-9.+\\-x#\\\\:@\\[\\]()]{0,300}") {
        if let Err(e) = parse("noise.test", &text) {
            proptest::prop_assert!(e.line >= 1 && e.line <= text.lines().count().max(1));
        }
    }

    /// Real scripts cut, spliced and sprinkled with stray characters: the same.
    #[test]
    fn parser_never_panics_on_damaged_scripts(
        file in 0usize..64,
        at in 0.0f64..1.0,
        cut in 0usize..40,
        insert in "[ \n_{}=\"'`,0-9.+\\-x:@\\[\\]()a-z]{0,8}",
    ) {
        let corpus = corpus();
        let chars: Vec<char> = corpus[file % corpus.len()].chars().collect();
        let pos = ((chars.len() as f64) * at) as usize;
        let end = (pos + cut).min(chars.len());
        let damaged: String = chars[..pos]
            .iter()
            .chain(insert.chars().collect::<Vec<_>>().iter())
            .chain(chars[end..].iter())
            .collect();
        let _ = parse("damaged.test", &damaged);
    }
}
