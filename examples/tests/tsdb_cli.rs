//! The `tsdb` tool end to end: import OpenMetrics and Influx files (bad lines reported
//! with their line number, good ones loaded), export, and read the export back: the
//! round trip keeps every sample bit for bit. `query` and `query-range` print the
//! Prometheus API's JSON, errors included; `export --match` takes PromQL selectors;
//! `compact` merges segments without changing a sample.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{parse, tsdb};

#[test]
fn import_export_round_trip() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let mut om = String::from("# TYPE node_cpu gauge\n");
    for i in 0..500 {
        let t = 1_700_000_000 + i * 15;
        om.push_str(&format!(
            "node_cpu{{host=\"a\",mode=\"user\"}} {} {t}.250\n",
            (i % 13) as f64 * 0.5
        ));
        om.push_str(&format!(
            "node_cpu{{host=\"b\",mode=\"user\"}} {} {t}\n",
            i * 7
        ));
    }
    om.push_str("this line is broken\n");
    om.push_str("# TYPE up gauge\nup{job=\"x\"} 1 1700000000\n# EOF\n");
    let om_path = tmp.path().join("in.om");
    std::fs::write(&om_path, &om).unwrap();
    let lp_path = tmp.path().join("in.lp");
    std::fs::write(
        &lp_path,
        "disk,host=a used=12.5,free=3i 1700000100000000000\ndisk,host=a used= 1700000200000000000\n",
    )
    .unwrap();

    let (code, _, err) = tsdb(&[
        "import",
        "--data",
        data.to_str().unwrap(),
        om_path.to_str().unwrap(),
        lp_path.to_str().unwrap(),
    ]);
    assert_eq!(code, 5, "refused lines make the exit code 5: {err}");
    assert!(
        err.contains("in.om:line 1002,"),
        "the broken OpenMetrics line is reported by number: {err}"
    );
    assert!(
        err.contains("in.lp:line 2,"),
        "the broken Influx line is reported by number: {err}"
    );

    let (code, exported, err) = tsdb(&["export", "--data", data.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let got = parse(&exported);
    let mut want = parse(&om.replace("this line is broken\n", ""));
    want.insert(
        "disk_used{host=\"a\"}".into(),
        vec![(1_700_000_100_000, 12.5f64.to_bits())],
    );
    want.insert(
        "disk_free{host=\"a\"}".into(),
        vec![(1_700_000_100_000, 3f64.to_bits())],
    );
    assert_eq!(got, want);

    // a selector and a time window
    let (code, exported, _) = tsdb(&[
        "export",
        "--data",
        data.to_str().unwrap(),
        "--match",
        r#"node_cpu{host="b"}"#,
        "--start",
        "1700000000",
        "--end",
        "1700000029",
    ]);
    assert_eq!(code, 0);
    let got = parse(&exported);
    assert_eq!(got.len(), 1);
    assert_eq!(got.values().next().unwrap().len(), 2);

    // the export imports again into a fresh directory, identically
    let again = tmp.path().join("again");
    let exported_path = tmp.path().join("out.om");
    let (_, all, _) = tsdb(&["export", "--data", data.to_str().unwrap()]);
    std::fs::write(&exported_path, &all).unwrap();
    import_ok(&again, &exported_path);
    let (_, all_again, _) = tsdb(&["export", "--data", again.to_str().unwrap()]);
    assert_eq!(all_again, all);

    let (code, report, _) = tsdb(&["inspect", "--data", data.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert!(report.contains("1003 samples"), "{report}");
    assert!(report.contains("node_cpu"), "{report}");
}

/// A small OpenMetrics file: two gauges and a counter every 15 s for 10 minutes from
/// `T0`, imported into a fresh directory.
const T0: i64 = 1_700_000_000; // 2023-11-14T22:13:20Z

fn small_db(tmp: &tempfile::TempDir) -> String {
    let mut om = String::from("# TYPE cpu gauge\n");
    for host in ["a", "b"] {
        for i in 0..=40 {
            let v = if host == "a" { i } else { 100 - i };
            om.push_str(&format!("cpu{{host=\"{host}\"}} {v} {}\n", T0 + i * 15));
        }
    }
    om.push_str("# TYPE req counter\n");
    for i in 0..=40 {
        om.push_str(&format!(
            "req_total{{code=\"200\"}} {} {}\n",
            i * 10,
            T0 + i * 15
        ));
    }
    om.push_str("# EOF\n");
    let file = tmp.path().join("small.om");
    std::fs::write(&file, om).unwrap();
    let data = tmp.path().join("data");
    import_ok(&data, &file);
    data.to_str().unwrap().to_owned()
}

/// `tsdb import --data DATA FILE`, which must succeed.
fn import_ok(data: &std::path::Path, file: &std::path::Path) {
    let (code, _, err) = tsdb(&[
        "import",
        "--data",
        data.to_str().unwrap(),
        file.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// `[[seconds, "value"], ...]` as `(milliseconds, value)`.
fn points(values: &serde_json::Value) -> Vec<(i64, f64)> {
    values
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let t = (p[0].as_f64().unwrap() * 1000.0).round() as i64;
            (t, p[1].as_str().unwrap().parse().unwrap())
        })
        .collect()
}

#[test]
fn query_prints_the_prometheus_api_json() {
    let tmp = tempfile::tempdir().unwrap();
    let data = small_db(&tmp);

    // byte for byte what /api/v1/query returns, plus a newline
    let (code, out, err) = tsdb(&[
        "query",
        "--data",
        &data,
        "--time",
        &format!("{}.5", T0 + 300),
        r#"cpu{host="a"}"#,
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out,
        format!(
            "{{\"status\":\"success\",\"data\":{{\"resultType\":\"vector\",\"result\":[{{\"metric\":{{\"__name__\":\"cpu\",\"host\":\"a\"}},\"value\":[{}.500,\"20\"]}}]}}}}\n",
            T0 + 300
        )
    );

    // RFC 3339 time, an aggregation over both series, by labels
    let (code, out, err) = tsdb(&[
        "query",
        "--data",
        &data,
        "--time",
        "2023-11-14T22:18:20Z",
        "sum by (host) (cpu) * 2",
    ]);
    assert_eq!(code, 0, "{err}");
    let j = json(&out);
    assert_eq!(j["status"], "success");
    assert_eq!(j["data"]["resultType"], "vector");
    let result = j["data"]["result"].as_array().unwrap();
    assert_eq!(result.len(), 2);
    assert_eq!(result[0]["metric"], json(r#"{"host":"a"}"#));
    assert_eq!(result[0]["value"], json(&format!(r#"[{},"40"]"#, T0 + 300)));
    assert_eq!(result[1]["metric"], json(r#"{"host":"b"}"#));
    assert_eq!(result[1]["value"][1], "160");

    // an expression and a time that start with '-' are values, not flags
    let (code, out, err) = tsdb(&["query", "--data", &data, "--time", "-1.5", "-vector(2)"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out.trim(),
        r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[-1.500,"-2"]}]}}"#
    );

    // without --time: now, long after the data (nothing within the lookback)
    let (code, out, _) = tsdb(&["query", "--data", &data, "cpu"]);
    assert_eq!(code, 0);
    assert_eq!(
        out.trim(),
        r#"{"status":"success","data":{"resultType":"vector","result":[]}}"#
    );
    let (code, out, _) = tsdb(&["query", "--data", &data, "time()"]);
    assert_eq!(code, 0);
    let j = json(&out);
    assert_eq!(j["data"]["resultType"], "scalar");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!(
        (j["data"]["result"][0].as_f64().unwrap() - now).abs() < 60.0,
        "{out}"
    );
}

#[test]
fn query_range_prints_a_matrix() {
    let tmp = tempfile::tempdir().unwrap();
    let data = small_db(&tmp);
    let start = (T0 + 120).to_string();
    let end = (T0 + 300).to_string();
    for step in ["1m", "60", "60.0"] {
        let (code, out, err) = tsdb(&[
            "query-range",
            "--data",
            &data,
            "--start",
            &start,
            "--end",
            &end,
            "--step",
            step,
            "rate(req_total[1m])",
        ]);
        assert_eq!(code, 0, "{err}");
        let j = json(&out);
        assert_eq!(j["status"], "success");
        assert_eq!(j["data"]["resultType"], "matrix");
        let result = j["data"]["result"].as_array().unwrap();
        assert_eq!(result.len(), 1, "{out}");
        assert_eq!(result[0]["metric"], json(r#"{"code":"200"}"#));
        let got = points(&result[0]["values"]);
        let times: Vec<i64> = got.iter().map(|p| p.0).collect();
        assert_eq!(
            times,
            [120, 180, 240, 300].map(|s| (T0 + s) * 1000).to_vec()
        );
        for (t, v) in got {
            assert!((v - 10.0 / 15.0).abs() < 1e-9, "rate at {t}: {v}");
        }
    }

    // one series per gauge, the step grid in RFC 3339, a sub-minute step
    let (code, out, err) = tsdb(&[
        "query-range",
        "--data",
        &data,
        "--start",
        "2023-11-14T22:13:20Z",
        "--end",
        "2023-11-14T22:14:20Z",
        "--step",
        "30s",
        "cpu",
    ]);
    assert_eq!(code, 0, "{err}");
    let j = json(&out);
    let result = j["data"]["result"].as_array().unwrap();
    assert_eq!(result.len(), 2);
    assert_eq!(
        result[1]["metric"],
        json(r#"{"__name__":"cpu","host":"b"}"#)
    );
    assert_eq!(
        points(&result[1]["values"]),
        vec![
            (T0 * 1000, 100.0),
            ((T0 + 30) * 1000, 98.0),
            ((T0 + 60) * 1000, 96.0)
        ]
    );
}

#[test]
fn query_errors_print_the_error_json_and_fail() {
    let tmp = tempfile::tempdir().unwrap();
    let data = small_db(&tmp);
    let t = T0.to_string();
    let cases: [(&[&str], &str, &str); 6] = [
        (
            &["query", "--time", &t, "sum(cpu"],
            "bad_data",
            r#"invalid parameter "query": "#,
        ),
        (
            &["query", "--time", "noon", "cpu"],
            "bad_data",
            r#"invalid parameter "time": Invalid time value for 'time': cannot parse "noon" to a valid timestamp"#,
        ),
        (
            &[
                "query-range",
                "--start",
                &t,
                "--end",
                &t,
                "--step",
                "1x",
                "cpu",
            ],
            "bad_data",
            r#"invalid parameter "step": cannot parse "1x" to a valid duration"#,
        ),
        (
            &[
                "query-range",
                "--start",
                &t,
                "--end",
                &t,
                "--step",
                "0",
                "cpu",
            ],
            "bad_data",
            "zero or negative query resolution step widths are not accepted",
        ),
        (
            &[
                "query-range",
                "--start",
                &t,
                "--end",
                "1",
                "--step",
                "1",
                "cpu",
            ],
            "bad_data",
            "end timestamp must not be before start time",
        ),
        (
            &[
                "query-range",
                "--start",
                "0",
                "--end",
                &t,
                "--step",
                "1",
                "cpu",
            ],
            "bad_data",
            "exceeded maximum resolution of 11,000 points per timeseries",
        ),
    ];
    for (args, error_type, message) in cases {
        let mut full = vec![args[0], "--data", &data];
        full.extend_from_slice(&args[1..]);
        let (code, out, _) = tsdb(&full);
        assert_eq!(code, 1, "{args:?}: {out}");
        let j = json(&out);
        assert_eq!(j["status"], "error", "{args:?}");
        assert_eq!(j["errorType"], error_type, "{args:?}: {out}");
        let error = j["error"].as_str().unwrap();
        assert!(error.contains(message), "{args:?}: {error}");
        assert!(j.get("data").is_none());
    }

    // Prometheus' limit is on (end - start) / step: 11,001 points pass
    let (code, out, _) = tsdb(&[
        "query-range",
        "--data",
        &data,
        "--start",
        "0",
        "--end",
        "11000",
        "--step",
        "1",
        "cpu",
    ]);
    assert_eq!(code, 0, "{out}");

    // a range query of a range vector: refused by the engine
    let (code, out, _) = tsdb(&[
        "query-range",
        "--data",
        &data,
        "--start",
        &t,
        "--end",
        &t,
        "--step",
        "1",
        "cpu[1m]",
    ]);
    assert_eq!(code, 1);
    assert_eq!(json(&out)["errorType"], "bad_data");

    // no data directory: a message, not JSON, and its own exit status
    let missing = tmp.path().join("missing");
    let (code, out, err) = tsdb(&["query", "--data", missing.to_str().unwrap(), "cpu"]);
    assert_eq!((code, out.as_str()), (3, ""));
    assert!(err.contains("no such data directory"), "{err}");
    assert!(!missing.exists(), "a query must not create the directory");
}

#[test]
fn export_match_takes_promql_selectors() {
    let tmp = tempfile::tempdir().unwrap();
    let data = small_db(&tmp);
    let hosts = |selector: &str| {
        let (code, out, err) = tsdb(&["export", "--data", &data, "--match", selector]);
        assert_eq!(code, 0, "{selector}: {err}");
        let got = parse(&out);
        got.into_iter()
            .map(|(series, samples)| (series, samples.len()))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        hosts(r#"cpu{host=~"a|c"}"#),
        [(r#"cpu{host="a"}"#.to_owned(), 41)]
    );
    assert_eq!(hosts(r#"{__name__=~"cpu|req_total", host!~"a"}"#).len(), 2);
    assert_eq!(hosts(r#"{code="200"}"#).len(), 1);

    for (bad, says) in [
        ("rate(cpu[5m])", "not a series selector"),
        ("cpu offset 5m", "offset and @ are not allowed"),
        (r#"{host=~".*"}"#, "parse error"),
        ("cpu{", "parse error"),
    ] {
        let (code, out, err) = tsdb(&["export", "--data", &data, "--match", bad]);
        assert_eq!((code, out.as_str()), (2, ""), "{bad}");
        assert!(
            err.contains("--match") && err.contains(says),
            "{bad}: {err}"
        );
    }
}

/// `tsdb compact` merges two days of imported 2-hour segments into day segments that
/// `tsdb inspect` lists at level 2, and the export is the same before and after; with
/// `--retention` it deletes the day that aged out.
#[test]
fn compact_merges_segments_and_changes_no_sample() {
    let tmp = tempfile::tempdir().unwrap();
    // 50 hours at 1-minute steps, from a day boundary
    let day0 = T0 / 86_400 * 86_400;
    let mut om = String::from("# TYPE load gauge\n");
    for i in 0..50 * 60 {
        om.push_str(&format!(
            "load{{host=\"a\"}} {} {}\n",
            i % 17,
            day0 + i * 60
        ));
    }
    om.push_str("# EOF\n");
    let file = tmp.path().join("two-days.om");
    std::fs::write(&file, om).unwrap();
    let data = tmp.path().join("data");
    import_ok(&data, &file);
    let d = data.to_str().unwrap();
    // no downsampling rules: the data (from 2023) is older than the standard 365 days
    let raw_only = tmp.path().join("raw-only.yml");
    std::fs::write(&raw_only, "storage:\n  downsampling: []\n").unwrap();
    let raw_only = raw_only.to_str().unwrap();
    let export = || {
        let (code, out, err) = tsdb(&["export", "--data", d]);
        assert_eq!(code, 0, "{err}");
        out
    };
    let before = export();
    let (code, out, err) = tsdb(&[
        "compact",
        "--data",
        d,
        "--config",
        raw_only,
        "--now",
        &(day0 + 3 * 86_400).to_string(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("segments now"), "{out}");
    assert!(out.contains("wrote 0 rollup segments"), "{out}");
    let (code, out, err) = tsdb(&["inspect", "--data", d]);
    assert_eq!(code, 0, "{err}");
    let level2 = out
        .lines()
        .filter(|l| l.split_whitespace().nth(1) == Some("2") && l.contains(" raw "))
        .count();
    assert_eq!(level2, 2, "two whole days at level 2:\n{out}");
    assert_eq!(export(), before);
    // nothing left to do
    let (code, out, _) = tsdb(&["compact", "--data", d, "--config", raw_only]);
    assert_eq!(code, 0);
    assert!(out.contains("compacted 0 segments"), "{out}");
    // a day of retention, a day and an hour after the first day ended: that day goes
    let now = (day0 + 2 * 86_400 + 3_600).to_string();
    let (code, out, err) = tsdb(&[
        "compact",
        "--data",
        d,
        "--config",
        raw_only,
        "--now",
        &now,
        "--retention",
        "1d",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("deleted 1 segments past retention"), "{out}");
    let left = parse(&export());
    let first = left
        .values()
        .flat_map(|v| v.iter().map(|&(t, _)| t))
        .min()
        .unwrap();
    assert_eq!(first, (day0 + 86_400) * 1000);
    let (code, _, err) = tsdb(&["compact", "--data", d, "--retention", "0s"]);
    assert_eq!(code, 2, "{err}");
}

/// `tsdb compact --config` with short tiers over three days of data: the two complete
/// days get 1-minute and 1-hour rollups, the raw days older than a day (now rolled up)
/// and the 1-minute rollups older than two days go, and `tsdb inspect` lists the rollup
/// segments by resolution with their buckets; a bad rule is refused with its line.
#[test]
fn compact_writes_rollups_by_the_config_rules() {
    let tmp = tempfile::tempdir().unwrap();
    let day0 = T0 / 86_400 * 86_400;
    let mut om = String::from("# TYPE temp gauge\n");
    for i in 0..72 * 60 {
        om.push_str(&format!(
            "temp{{room=\"a\"}} {} {}\n",
            i % 60,
            day0 + i * 60
        ));
    }
    om.push_str("# EOF\n");
    let file = tmp.path().join("three-days.om");
    std::fs::write(&file, om).unwrap();
    let data = tmp.path().join("data");
    import_ok(&data, &file);
    let d = data.to_str().unwrap();
    let config = tmp.path().join("tsdb.yml");
    std::fs::write(
        &config,
        "storage:\n  downsampling:\n    - tiers:\n        - {after: 1d, resolution: 1m}\n        \
         - {after: 2d, resolution: 1h}\n      keep_for: 30d\n",
    )
    .unwrap();
    let c = config.to_str().unwrap();
    // an hour into the fourth day
    let now = (day0 + 3 * 86_400 + 3_600).to_string();
    let (code, out, err) = tsdb(&["compact", "--data", d, "--config", c, "--now", &now]);
    assert_eq!(code, 0, "{err}");
    let line = |step: &str| {
        out.lines()
            .find(|l| l.starts_with(step))
            .unwrap_or_else(|| panic!("no {step} line: {out}"))
            .to_owned()
    };
    // the third day ends with the data, one sample short of a complete window: the first
    // two days are rolled up, each at both resolutions
    let rolled = line("downsample:");
    assert!(
        rolled.starts_with("downsample: wrote 4 rollup segments"),
        "{out}"
    );
    assert!(!rolled.contains("(0 buckets"), "{out}");
    // raw data older than a day goes (now in rollups), and 1-minute rollups older than two
    assert!(line("retention:").ends_with(": 2 raw, 1 1m"), "{out}");

    let (code, report, err) = tsdb(&["inspect", "--data", d]);
    assert_eq!(code, 0, "{err}");
    let rows = |res: &str| {
        report
            .lines()
            .filter(|l| l.split_whitespace().nth(2) == Some(res))
            .count()
    };
    assert_eq!((rows("raw"), rows("1m"), rows("1h")), (6, 1, 2), "{report}");
    // a day of buckets per segment (the one at the window's start is shared)
    let buckets = |res: &str| -> u64 {
        let l = report
            .lines()
            .find(|l| l.starts_with(&format!("rollups {res}:")))
            .unwrap_or_else(|| panic!("no {res} summary: {report}"));
        l.split_whitespace().nth(5).unwrap().parse().unwrap()
    };
    assert!((1440..=1441).contains(&buckets("1m")), "{report}");
    assert!((48..=50).contains(&buckets("1h")), "{report}");

    // day 0 is only in 1-hour rollups now: answered from them, and the answer says so
    let (code, out, err) = tsdb(&[
        "query",
        "--data",
        d,
        "--time",
        &(day0 + 12 * 3_600).to_string(),
        "max_over_time(temp[1h])",
    ]);
    assert_eq!(code, 0, "{err}");
    let j = json(&out);
    assert_eq!(j["data"]["result"][0]["value"][1], "59", "{out}");
    let infos = j["infos"]
        .as_array()
        .unwrap_or_else(|| panic!("no infos: {out}"));
    assert!(
        infos
            .iter()
            .any(|i| i.as_str().unwrap_or("").contains("read from 1h rollups")),
        "{out}"
    );

    // nothing left to do the second time
    let (code, out, err) = tsdb(&["compact", "--data", d, "--config", c, "--now", &now]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("wrote 0 rollup segments"), "{out}");
    assert!(out.contains("deleted 0 segments past retention"), "{out}");

    // a rule that is wrong: refused as a usage error naming the rule and the line
    std::fs::write(
        &config,
        "storage:\n  downsampling:\n    - tiers: [{after: 1d, resolution: 7s}]\n",
    )
    .unwrap();
    let (code, _, err) = tsdb(&["compact", "--data", d, "--config", c]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("rule 0") && err.contains("line 3"), "{err}");
}

/// `tsdb check rules` and `tsdb test rules` print what the library's promtool-compared
/// reports say (tsdb-rules' tests hold them against promtool byte for byte) and exit as
/// promtool does.
#[test]
fn check_and_test_rules_exit_as_promtool() {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tsdb-rules/tests/data/unittest");
    let file = |name: &str| dir.join(name).display().to_string();
    let (code, out, _) = tsdb(&["check", "rules", &file("rules.yml")]);
    assert_eq!(code, 0);
    assert!(out.contains("SUCCESS: 7 rules found"), "{out}");
    let (code, _, err) = tsdb(&["check", "rules", &file("bad_template_rules.yml")]);
    assert_eq!(code, 1);
    assert!(err.contains("function \"nosuchfunc\" not defined"), "{err}");
    let (code, out, err) = tsdb(&["test", "rules", &file("pass.yml")]);
    assert_eq!((code, out.contains("SUCCESS")), (0, true), "{out}{err}");
    let (code, _, err) = tsdb(&["test", "rules", &file("fail.yml")]);
    assert_eq!(code, 1);
    assert!(err.contains("FAILED"), "{err}");
    let (code, _, err) = tsdb(&["check", "rules", "--lint", "bogus", &file("rules.yml")]);
    assert_eq!(code, 2, "{err}");
}
