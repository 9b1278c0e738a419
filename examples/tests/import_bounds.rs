//! Issue 11, defects 6 and 7: an import's memory is bounded by `--memory-limit`, not by
//! the file (the input is streamed, sorted in runs spilled to disk, merged), with exactly
//! the data an unbounded import gives; its error output is bounded too (the first few
//! refusals per reason, then a table of counts); and exit codes tell "some input refused"
//! from "bad command line" from "no data directory", as every `--help` documents.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;

use common::{export, now_s, tsdb};

#[test]
fn a_small_memory_limit_spills_runs_and_loads_exactly_the_same_data() {
    let tmp = tempfile::tempdir().unwrap();
    // 150 series of 2,000 samples (8 hours each), grouped by series as an export is:
    // 300,000 samples, about 11 MB to sort in memory
    let (text, want) = common::openmetrics(150, 2000, now_s() - 2 * 86_400);
    let file = tmp.path().join("big.om");
    std::fs::write(&file, &text).unwrap();

    let unbounded = tmp.path().join("unbounded");
    let (code, _, err) = tsdb(&[
        "import",
        "--data",
        unbounded.to_str().unwrap(),
        "--memory-limit",
        "1GiB",
        file.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains("spilled"), "{err}");

    let spill = tmp.path().join("spill");
    std::fs::create_dir(&spill).unwrap();
    let bounded = tmp.path().join("bounded");
    let (code, _, err) = tsdb(&[
        "import",
        "--data",
        bounded.to_str().unwrap(),
        "--memory-limit",
        "4MiB",
        "--spill-dir",
        spill.to_str().unwrap(),
        "--progress-interval",
        "0",
        file.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("sorted in ") && err.contains(" runs spilled to disk"),
        "{err}"
    );
    // progress reports the series count as it grows
    let progress: Vec<usize> = err
        .lines()
        .filter(|l| l.starts_with("tsdb import: reading ") && l.contains(" series so far"))
        .map(|l| {
            let before = l.split(" series so far").next().unwrap();
            before.rsplit(' ').next().unwrap().parse().unwrap()
        })
        .collect();
    assert!(progress.len() >= 2, "{err}");
    assert!(progress.windows(2).all(|w| w[0] <= w[1]), "{progress:?}");
    assert!(err.contains("tsdb import: appending: "), "{err}");
    assert_eq!(
        std::fs::read_dir(&spill).unwrap().count(),
        0,
        "the spill directory is removed"
    );

    let (code, a, _) = tsdb(&["export", "--data", unbounded.to_str().unwrap()]);
    assert_eq!(code, 0);
    let (code, b, _) = tsdb(&["export", "--data", bounded.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert_eq!(a, b, "the same export byte for byte");
    assert_eq!(export(&bounded), want);

    // too small a limit, or not a size: a bad command line
    for limit in ["1MiB", "lots"] {
        let (code, _, err) = tsdb(&[
            "import",
            "--data",
            tmp.path().join("x").to_str().unwrap(),
            "--memory-limit",
            limit,
            file.to_str().unwrap(),
        ]);
        assert_eq!(code, 2, "{limit}: {err}");
        assert!(err.contains("--memory-limit"), "{err}");
    }
}

#[test]
fn label_sets_outgrowing_the_limit_are_announced_and_still_loaded() {
    let tmp = tempfile::tempdir().unwrap();
    let t = now_s() - 600;
    // 40,000 one-sample series: their label sets alone outgrow what 4 MiB leaves
    let mut text = String::new();
    for i in 0..40_000 {
        text.push_str(&format!(
            "req{{id=\"{i:06}\",job=\"api\"}} 1 {}\n",
            t * 1000 + i
        ));
    }
    let file = tmp.path().join("series.prom");
    std::fs::write(&file, text).unwrap();
    let data = tmp.path().join("data");
    let (code, _, err) = tsdb(&[
        "import",
        "--data",
        data.to_str().unwrap(),
        "--memory-limit",
        "4MiB",
        file.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let notes: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("their label sets alone take"))
        .collect();
    assert_eq!(notes.len(), 1, "once: {err}");
    assert!(
        err.contains("40000 of 40000 samples read loaded (40000 series)"),
        "{err}"
    );
}

#[test]
fn overlong_lines_are_refused_without_reading_them_whole() {
    let tmp = tempfile::tempdir().unwrap();
    let t = now_s() - 600;
    // a 4 MiB limit parses lines of up to 512 KiB
    let long = format!("m{{l=\"{}\"}} 1 {}\n", "x".repeat(3 << 20), t * 1000);
    let text = format!("m 1 {}\n{long}m 2 {}\n", t * 1000, (t + 1) * 1000);
    let file = tmp.path().join("long.prom");
    std::fs::write(&file, text).unwrap();
    let data = tmp.path().join("data");
    let (code, _, err) = tsdb(&[
        "import",
        "--data",
        data.to_str().unwrap(),
        "--memory-limit",
        "4MiB",
        file.to_str().unwrap(),
    ]);
    assert_eq!(code, 5, "{err}");
    assert!(
        err.contains("long.prom:line 2: longer than 524288 bytes; skipped"),
        "{err}"
    );
    assert!(err.contains("1  lines longer than the limit"), "{err}");
    assert_eq!(
        export(&data)["m{}"].len(),
        2,
        "the lines around it are loaded"
    );
}

#[test]
fn refusals_are_capped_per_reason_and_summed_in_a_table() {
    let tmp = tempfile::tempdir().unwrap();
    let t = now_s() - 3600;
    let mut text = String::new();
    for i in 0..1000 {
        text.push_str(&format!("broken{{ {i}\n"));
        text.push_str(&format!("m 1 {}\n", (t + i) * 1000));
        text.push_str("nots 1\n");
    }
    let file = tmp.path().join("bad.prom");
    std::fs::write(&file, &text).unwrap();
    let lp = tmp.path().join("s.lp");
    std::fs::write(
        &lp,
        format!(
            "w,h=a temp=1,note=\"hot\",state=\"ok\" {}\nw,h=a temp=2,note=\"cold\" {}\n",
            t * 1_000_000_000,
            (t + 1) * 1_000_000_000
        ),
    )
    .unwrap();
    let data = tmp.path().join("data");
    let (code, _, err) = tsdb(&[
        "import",
        "--data",
        data.to_str().unwrap(),
        file.to_str().unwrap(),
        lp.to_str().unwrap(),
    ]);
    assert_eq!(code, 5, "{err}");
    let described = err.lines().filter(|l| l.contains("bad.prom:line ")).count();
    assert_eq!(described, 10, "ten per reason: {err}");
    assert!(
        err.contains("tsdb import: more of these are only counted: lines not parsed: syntax error"),
        "{err}"
    );
    assert!(
        err.contains("1002 of 1002 samples read loaded (2 series)"),
        "{err}"
    );
    assert!(err.contains("; 2000 refusals:"), "{err}");
    assert!(
        err.contains("        1000  lines not parsed: syntax error"),
        "{err}"
    );
    assert!(
        err.contains("        1000  samples without a timestamp"),
        "{err}"
    );
    assert!(err.contains("3 Influx string fields skipped"), "{err}");
    assert!(err.lines().count() < 40, "bounded output: {err}");

    let (code, _, err) = tsdb(&[
        "import",
        "--data",
        tmp.path().join("again").to_str().unwrap(),
        "--show-refused",
        "2",
        file.to_str().unwrap(),
    ]);
    assert_eq!(code, 5);
    assert_eq!(
        err.lines().filter(|l| l.contains("bad.prom:")).count(),
        4,
        "{err}"
    );
}

#[test]
fn exit_codes_are_distinct_and_documented_in_every_help() {
    let tmp = tempfile::tempdir().unwrap();
    let t = now_s() - 3600;
    let good = tmp.path().join("good.prom");
    std::fs::write(&good, format!("m 1 {}\n", t * 1000)).unwrap();
    let data = tmp.path().join("data");
    let data_s = data.to_str().unwrap();

    // bad command lines: 2, and nothing is created
    for args in [
        vec![
            "import",
            "--data",
            data_s,
            "--nonsense",
            good.to_str().unwrap(),
        ],
        vec![
            "import",
            "--data",
            data_s,
            "--precision",
            "h",
            good.to_str().unwrap(),
        ],
        vec!["import", "--data", data_s],
        vec!["export", "--data", data_s, "--start", "yesterday"],
        vec!["query-range", "--data", data_s, "up"],
        vec!["frobnicate"],
    ] {
        let (code, _, err) = tsdb(&args);
        assert_eq!(code, 2, "{args:?}: {err}");
    }
    assert!(!data.exists());

    // a missing input file is a failure (1), before the directory is created
    let (code, _, err) = tsdb(&["import", "--data", data_s, "/nonexistent/x.prom"]);
    assert_eq!(code, 1, "{err}");
    assert!(!data.exists());

    // no data directory: 3, for every command that reads one
    for cmd in ["export", "inspect", "query", "repair"] {
        let mut args = vec![cmd, "--data", data_s];
        if cmd == "query" {
            args.push("up");
        }
        let (code, out, err) = tsdb(&args);
        assert_eq!((code, out.as_str()), (3, ""), "{cmd}: {err}");
        assert!(err.contains("no such data directory"), "{err}");
    }
    assert!(!data.exists());

    // loaded: 0; a directory another process holds: 3 for a command that writes, while
    // the reading commands open it read-only beside the writer
    common::import_ok(&data, &good);
    let db = tsdb_core::Db::open(&data, tsdb_examples::import::tool_options()).unwrap();
    let (code, _, err) = tsdb(&["import", "--data", data_s, good.to_str().unwrap()]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("locked by another process"), "{err}");
    let (code, _, err) = tsdb(&["inspect", "--data", data_s]);
    assert_eq!(code, 0, "{err}");
    db.close().unwrap();
    drop(db);

    // every command documents its codes
    for (cmd, codes) in [
        ("import", &["0", "1", "2", "3", "4", "5"][..]),
        ("export", &["0", "1", "2", "3", "4", "6"]),
        ("inspect", &["0", "1", "2", "3", "4"]),
        ("query", &["0", "1", "2", "3", "4"]),
        ("query-range", &["0", "1", "2", "3", "4"]),
        ("delete", &["0", "1", "2", "3", "4"]),
        ("repair", &["0", "1", "2", "3", "4"]),
    ] {
        let (code, help, _) = tsdb(&[cmd, "--help"]);
        assert_eq!(code, 0);
        let table = help
            .split("Exit status:")
            .nth(1)
            .unwrap_or_else(|| panic!("{cmd}: {help}"));
        let listed: Vec<&str> = table
            .lines()
            .filter_map(|l| l.trim_start().split_once("  ").map(|(c, _)| c))
            .filter(|c| c.parse::<u8>().is_ok())
            .collect();
        assert_eq!(listed, codes, "{cmd}: {table}");
        assert!(help.contains("--wal-recovery") || cmd == "repair", "{cmd}");
    }
}

#[test]
fn spill_failures_are_reported_not_panicked() {
    let tmp = tempfile::tempdir().unwrap();
    let (text, _) = common::openmetrics(100, 1500, now_s() - 86_400);
    let file = tmp.path().join("in.om");
    std::fs::write(&file, text).unwrap();
    let data = tmp.path().join("data");
    let (code, _, err) = tsdb(&[
        "import",
        "--data",
        data.to_str().unwrap(),
        "--memory-limit",
        "4MiB",
        "--spill-dir",
        Path::new("/nonexistent/spill").to_str().unwrap(),
        file.to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("temporary file /nonexistent/spill"), "{err}");
    assert!(
        !data.exists(),
        "the directory is not created when reading fails"
    );
}
