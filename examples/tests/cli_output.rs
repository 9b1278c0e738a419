//! Issue 16, the command line: `--output json` parses and says what happened; nothing of
//! a progress bar reaches a pipe; the bar does reach a terminal; error messages name
//! what was wrong and what to do, with the documented exit status; every command's
//! `--help` lists its exit statuses (and its JSON fields where it has `--output json`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;

use common::{now_s, tsdb};
use serde_json::Value;

/// Runs `tsdb ARGS` and parses its standard output as one JSON object.
fn tsdb_json(args: &[&str]) -> (i32, Value, String) {
    let (code, out, err) = tsdb(args);
    assert_eq!(out.lines().count(), 1, "one line of JSON: {out}");
    let value: Value =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: {e}: {out}"));
    (code, value, err)
}

/// Asserts that `stderr` holds none of a progress bar: no escape sequence, no carriage
/// return, no elapsed-time field, no spinner frame.
fn no_bar(what: &str, stderr: &str) {
    assert!(
        !stderr.contains('\x1b'),
        "{what}: an escape code: {stderr:?}"
    );
    assert!(
        !stderr.contains('\r'),
        "{what}: a carriage return: {stderr:?}"
    );
    assert!(
        !stderr.contains("[00:0"),
        "{what}: a bar's clock: {stderr:?}"
    );
    assert!(
        !stderr
            .chars()
            .any(|c| ('\u{2800}'..='\u{28ff}').contains(&c)),
        "{what}: a spinner frame: {stderr:?}"
    );
}

/// Two input files: `a.prom` (3 series, 200 samples each, 1 line without a timestamp)
/// and `b.om` (1 series, 100 samples, 1 broken line). Returns their paths and sizes.
fn inputs(dir: &Path) -> (String, String, u64) {
    let t0 = (now_s() - 3 * 3600) * 1000;
    let mut a = String::new();
    for i in 0..200 {
        for h in 0..3 {
            a.push_str(&format!("cpu{{host=\"h{h}\"}} {i} {}\n", t0 + i * 15_000));
        }
    }
    a.push_str("cpu{host=\"late\"} 1\n");
    let mut b = String::from("# TYPE mem gauge\n");
    for i in 0..100 {
        b.push_str(&format!("mem {i} {}\n", t0 / 1000 + i * 15));
    }
    b.push_str("mem broken here\n# EOF\n");
    let (pa, pb) = (dir.join("a.prom"), dir.join("b.om"));
    std::fs::write(&pa, &a).unwrap();
    std::fs::write(&pb, &b).unwrap();
    let bytes = (a.len() + b.len()) as u64;
    (
        pa.to_str().unwrap().to_owned(),
        pb.to_str().unwrap().to_owned(),
        bytes,
    )
}

#[test]
fn json_reports_of_import_inspect_delete_and_compact() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b, bytes) = inputs(tmp.path());
    let data = tmp.path().join("data");
    let d = data.to_str().unwrap();

    let (code, report, err) = tsdb_json(&["import", "--data", d, "--output", "json", &a, &b]);
    assert_eq!(code, 5, "refusals make 5: {err}");
    assert_eq!(report["exit_code"], 5);
    assert_eq!(report["files"], 2);
    assert_eq!(report["bytes_read"], bytes);
    assert_eq!(report["series"], 4);
    assert_eq!(report["samples_read"], 700);
    assert_eq!(report["samples_loaded"], 700);
    assert_eq!(report["refused_total"], 2);
    assert_eq!(report["string_fields_skipped"], 0);
    assert_eq!(report["spilled_runs"], 0);
    assert!(report["seconds"].as_f64().unwrap() > 0.0, "{report}");
    let refused = report["refused"].as_array().unwrap();
    let by_reason = |key: &str| {
        refused
            .iter()
            .find(|r| r["reason"] == key)
            .unwrap_or_else(|| panic!("{key}: {report}"))
    };
    let parse = by_reason("parse");
    assert_eq!(parse["count"], 1);
    assert_eq!(parse["unit"], "lines");
    assert!(parse["kind"].is_string(), "{parse}");
    let untimed = by_reason("no_timestamp");
    assert_eq!(untimed["count"], 1);
    assert_eq!(untimed["unit"], "samples");
    assert_eq!(untimed["kind"], Value::Null);
    assert_eq!(untimed["description"], "samples without a timestamp");
    // the refusals are still described on stderr, the summary is not repeated there
    assert!(err.contains("b.om:line "), "{err}");
    assert!(!err.contains("refusals:"), "{err}");
    no_bar("import --output json", &err);

    let (code, inspect, err) = tsdb_json(&["inspect", "--data", d, "--output", "json"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(inspect["data_dir"], d);
    let segments = inspect["segments"].as_array().unwrap();
    assert!(!segments.is_empty(), "{inspect}");
    let in_segments: u64 = segments
        .iter()
        .map(|s| s["samples"].as_u64().unwrap())
        .sum();
    assert_eq!(
        in_segments, 700,
        "the import persisted everything: {inspect}"
    );
    let first = &segments[0];
    assert_eq!(first["resolution"], "raw");
    assert_eq!(first["resolution_ms"], 0);
    assert!(
        first["min_time_ms"].as_i64().unwrap() <= first["max_time_ms"].as_i64().unwrap(),
        "{first}"
    );
    assert!(first["bytes"].as_u64().unwrap() > 0, "{first}");
    assert_eq!(inspect["raw"]["samples"], 700);
    assert_eq!(inspect["raw"]["segments"], segments.len());
    assert_eq!(inspect["head"]["series"], 0);
    assert_eq!(inspect["head"]["min_time_ms"], Value::Null);
    assert!(inspect["wal"]["files"].as_u64().is_some(), "{inspect}");
    assert_eq!(inspect["deletions"], 0);
    assert_eq!(inspect["set_aside"], serde_json::json!([]));
    assert_eq!(
        inspect["top_metrics"],
        serde_json::json!([{"name": "cpu", "series": 3}, {"name": "mem", "series": 1}])
    );
    no_bar("inspect", &err);

    // a bounded deletion, then an open-ended one
    let (code, deleted, err) = tsdb_json(&[
        "delete",
        "--data",
        d,
        "--match",
        "cpu",
        "--start",
        "1700000000",
        "--end",
        "2024-01-14T00:00:00Z",
        "--output",
        "json",
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(deleted["selector"], "cpu");
    assert_eq!(deleted["start_ms"], 1_700_000_000_000i64);
    assert_eq!(deleted["end_ms"], 1_705_190_400_000i64);
    assert_eq!(deleted["start"], "2023-11-14T22:13:20.000Z");
    assert_eq!(deleted["end"], "2024-01-14T00:00:00.000Z");
    let (code, deleted, err) =
        tsdb_json(&["delete", "--data", d, "--match", "mem", "--output", "json"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(deleted["series"], 1);
    assert_eq!(deleted["start_ms"], Value::Null);
    assert_eq!(deleted["end"], Value::Null);
    no_bar("delete", &err);

    // merge only (no downsampling rules), at a fixed clock
    let config = tmp.path().join("tsdb.yml");
    std::fs::write(&config, "storage:\n  downsampling: []\n").unwrap();
    let (code, compact, err) = tsdb_json(&[
        "compact",
        "--data",
        d,
        "--config",
        config.to_str().unwrap(),
        "--output",
        "json",
    ]);
    assert_eq!(code, 0, "{err}");
    for key in ["persisted_segments", "steps", "segments_after"] {
        assert!(compact[key].is_u64(), "{key}: {compact}");
    }
    for key in [
        "segments_replaced",
        "bytes_before",
        "segments_written",
        "bytes_after",
        "samples",
    ] {
        assert!(compact["compact"][key].is_u64(), "{key}: {compact}");
    }
    assert!(compact["compact"]["seconds"].is_f64(), "{compact}");
    assert_eq!(compact["downsample"]["segments_written"], 0);
    assert_eq!(compact["retention"]["expired"], 0);
    assert_eq!(
        compact["retention"]["deleted_by_resolution"],
        serde_json::json!({})
    );
    let (_, inspect, _) = tsdb_json(&["inspect", "--data", d, "--output", "json"]);
    assert_eq!(
        compact["segments_after"],
        inspect["segments"].as_array().unwrap().len()
    );
    assert_eq!(inspect["deletions"], 2);
    no_bar("compact", &err);
}

#[test]
fn nothing_of_a_bar_reaches_a_pipe() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b, _) = inputs(tmp.path());
    let data = tmp.path().join("data");
    let d = data.to_str().unwrap();
    // the text summary: a line with human units, the table, and nothing else
    let (code, out, err) = tsdb(&["import", "--data", d, &a, &b]);
    assert_eq!(code, 5, "{err}");
    assert_eq!(out, "", "import reports on stderr");
    no_bar("import", &err);
    let summary = err
        .lines()
        .find(|l| l.starts_with("tsdb import: 700 of 700 samples read loaded (4 series)"))
        .unwrap_or_else(|| panic!("{err}"));
    assert!(
        summary.contains(" KiB in 2 files, in ") && summary.contains(" samples/s)"),
        "{summary}"
    );
    for args in [
        vec!["export", "--data", d],
        vec!["inspect", "--data", d],
        vec!["query", "--data", d, "cpu"],
        vec!["compact", "--data", d],
        vec!["repair", "--data", d],
        vec!["delete", "--data", d, "--match", "cpu"],
    ] {
        let (code, out, err) = tsdb(&args);
        assert_eq!(code, 0, "{args:?}: {err}");
        assert!(!out.is_empty(), "{args:?}");
        no_bar(args[0], &err);
        no_bar(args[0], &out);
    }
}

/// On a terminal (a pseudo-terminal made by util-linux's `script`), `import` draws its
/// bars on stderr. Without `script` the test says so and checks nothing: the bar cannot
/// be observed without a terminal, and the pipe tests above still hold.
#[test]
fn a_terminal_gets_the_bars() {
    let script = Path::new("/usr/bin/script");
    if !script.exists() {
        eprintln!("skipped: /usr/bin/script (util-linux) is not installed");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    // large enough (about 5 MiB each) that reading takes a few bar redraws
    let (a, b) = (tmp.path().join("a.om"), tmp.path().join("b.om"));
    std::fs::write(&a, common::openmetrics(100, 1500, now_s() - 86_400).0).unwrap();
    std::fs::write(
        &b,
        common::openmetrics(100, 1500, now_s() - 86_400)
            .0
            .replace("m{", "n{"),
    )
    .unwrap();
    let (a, b) = (a.display(), b.display());
    let data = tmp.path().join("data");
    let cmd = format!(
        "{} import --data {} {a} {b}",
        env!("CARGO_BIN_EXE_tsdb"),
        data.display()
    );
    let out = std::process::Command::new(script)
        .args(["-qec", &cmd, "/dev/null"])
        .env("TERM", "xterm")
        .output()
        .unwrap();
    let tty = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{tty}");
    // the total bar over bytes, the per-file bar, the append bar, then the summary
    assert!(tty.contains("reading [00:0"), "{tty}");
    assert!(
        tty.contains("file 1/2 ") || tty.contains("file 2/2 "),
        "{tty}"
    );
    assert!(tty.contains(" MiB/"), "{tty}");
    assert!(tty.contains("appending [00:0"), "{tty}");
    assert!(tty.contains('\x1b'), "drawn with escape codes: {tty}");
    assert!(tty.contains("samples read loaded"), "{tty}");
    // the plain progress lines are for pipes only
    assert!(!tty.contains("tsdb import: reading "), "{tty}");
}

#[test]
fn errors_say_what_to_do() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, _, _) = inputs(tmp.path());
    let data = tmp.path().join("data");
    let d = data.to_str().unwrap();

    // a missing directory: 3, naming the option
    let (code, _, err) = tsdb(&["inspect", "--data", d]);
    assert_eq!(code, 3, "{err}");
    assert!(
        err.contains("no such data directory: check the --data path"),
        "{err}"
    );
    // a file where the directory should be
    let (code, _, err) = tsdb(&["export", "--data", &a]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("not a directory"), "{err}");

    // a missing input file: 1, before anything is read or created
    let missing = tmp.path().join("missing.prom");
    let (code, _, err) = tsdb(&["import", "--data", d, &a, missing.to_str().unwrap()]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("missing.prom: cannot read the input file")
            && err.contains("nothing was imported"),
        "{err}"
    );
    assert!(!data.exists());

    let good = tmp.path().join("good.om");
    std::fs::write(&good, common::openmetrics(2, 100, now_s() - 3600).0).unwrap();
    common::import_ok(&data, &good);
    // bad times: 2, with the accepted forms
    for args in [
        vec!["export", "--data", d, "--start", "yesterday"],
        vec!["delete", "--data", d, "--match", "m", "--end", "noon"],
        vec!["compact", "--data", d, "--now", "later"],
    ] {
        let (code, _, err) = tsdb(&args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(
            err.contains("to a valid timestamp: use RFC 3339 (2024-01-14T00:00:00Z")
                && err.contains("or Unix seconds"),
            "{args:?}: {err}"
        );
    }
    let (code, _, err) = tsdb(&[
        "export",
        "--data",
        d,
        "--start",
        "1700000100",
        "--end",
        "1700000000",
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("is before --start") && err.contains("swap them"),
        "{err}"
    );
    let (code, _, err) = tsdb(&["compact", "--data", d, "--retention", "3 days"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("use a Prometheus duration (30d"), "{err}");
    // sizes take binary units
    let (code, _, err) = tsdb(&["compact", "--data", d, "--retention-size", "12 parsecs"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--retention-size: unknown unit"), "{err}");
    let (code, out, err) = tsdb(&["compact", "--data", d, "--retention-size", "1GiB"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("0 over the size budget"), "{out}");
    // a failed query: Prometheus' JSON on stdout, a line with the forms on stderr
    let (code, out, err) = tsdb(&["query", "--data", d, "--time", "soon", "m"]);
    assert_eq!(code, 1, "{err}");
    let body: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(body["errorType"], "bad_data");
    assert!(
        err.contains("tsdb: the query failed: bad_data: ") && err.contains("use RFC 3339"),
        "{err}"
    );

    // a directory in use: 3 for a command that writes, saying what to do
    let db = tsdb_core::Db::open(&data, tsdb_examples::import::tool_options()).unwrap();
    for args in [
        vec!["delete", "--data", d, "--match", "m"],
        vec!["compact", "--data", d],
        vec!["repair", "--data", d],
    ] {
        let (code, out, err) = tsdb(&args);
        assert_eq!((code, out.as_str()), (3, ""), "{args:?}: {err}");
        assert!(
            err.contains("locked by another process")
                && err.contains("stop it, or wait for it to end")
                && err.contains("`inspect` read a directory that is in use"),
            "{args:?}: {err}"
        );
    }
    db.close().unwrap();
}

#[test]
fn every_command_documents_its_exits_and_json() {
    for (args, codes, json_fields) in [
        (
            &["import"][..],
            &["0", "1", "2", "3", "4", "5"][..],
            &["samples_loaded", "refused_total", "exit_code"][..],
        ),
        (&["export"], &["0", "1", "2", "3", "4", "6"], &[]),
        (
            &["inspect"],
            &["0", "1", "2", "3", "4"],
            &["segments", "top_metrics", "bytes_per_sample"],
        ),
        (&["query"], &["0", "1", "2", "3", "4"], &[]),
        (&["query-range"], &["0", "1", "2", "3", "4"], &[]),
        (
            &["delete"],
            &["0", "1", "2", "3", "4"],
            &["series", "start_ms", "end_ms"],
        ),
        (
            &["compact"],
            &["0", "1", "2", "3", "4"],
            &[
                "persisted_segments",
                "deleted_by_resolution",
                "segments_after",
            ],
        ),
        (
            &["repair"],
            &["0", "1", "2", "3", "4"],
            &["repaired", "dropped", "torn_tail", "segments_kept"],
        ),
        (&["check", "rules"], &["0", "1", "2", "3"], &[]),
        (&["test", "rules"], &["0", "1", "2"], &[]),
    ] {
        let mut with_help = args.to_vec();
        with_help.push("--help");
        let (code, help, _) = tsdb(&with_help);
        assert_eq!(code, 0, "{args:?}");
        let (before, table) = help
            .split_once("Exit status")
            .unwrap_or_else(|| panic!("{args:?}: {help}"));
        let listed: Vec<&str> = table
            .lines()
            .filter_map(|l| l.trim_start().split_once("  ").map(|(c, _)| c))
            .filter(|c| c.parse::<u8>().is_ok())
            .collect();
        assert_eq!(listed, codes, "{args:?}: {table}");
        if json_fields.is_empty() {
            assert!(!help.contains("--output <OUTPUT>"), "{args:?}");
        } else {
            assert!(help.contains("--output <OUTPUT>"), "{args:?}: {help}");
            assert!(before.contains("--output json: "), "{args:?}: {help}");
            for f in json_fields {
                assert!(before.contains(f), "{args:?}: {f}: {help}");
            }
        }
    }
}
