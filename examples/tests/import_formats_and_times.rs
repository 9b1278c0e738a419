//! Issue 11, defect 3: the timestamp unit is never guessed. The format comes from
//! `--format` or an unambiguous extension; content that contradicts it refuses the file
//! (naming the line); implausible times are refused unless `--allow-any-time`; and
//! `tsdb delete` removes what should not be there. A bad file never poisons the directory
//! for the imports after it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{export, now_s, parse, tsdb};

/// Present-day data: two samples from an hour ago, as OpenMetrics and as Prometheus text.
fn present(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf, i64) {
    let t = now_s() - 3600;
    let om = dir.join("present.om");
    std::fs::write(&om, format!("up 1 {t}\nup 1 {}\n# EOF\n", t + 15)).unwrap();
    let prom = dir.join("present.prom");
    std::fs::write(
        &prom,
        format!("up 1 {}\nup 1 {}\n", (t + 30) * 1000, (t + 45) * 1000),
    )
    .unwrap();
    (om, prom, t)
}

/// The directory took no harm: present-day data imports into it and reads back.
fn still_usable(data: &str, tmp: &std::path::Path) {
    let (om, prom, t) = present(tmp);
    for f in [&om, &prom] {
        let (code, _, err) = tsdb(&["import", "--data", data, f.to_str().unwrap()]);
        assert_eq!(code, 0, "{}: {err}", f.display());
    }
    let got = export(std::path::Path::new(data));
    let up = &got["up{}"];
    assert_eq!(
        up.iter().map(|p| p.0).collect::<Vec<_>>(),
        [t, t + 15, t + 30, t + 45].map(|s| s * 1000)
    );
}

#[test]
fn a_truncated_openmetrics_file_is_refused_naming_its_last_line() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let data_s = data.to_str().unwrap();
    // an OpenMetrics download cut short: no `# EOF`, the times are seconds
    let t = now_s() - 7200;
    let cut = tmp.path().join("cut.om");
    std::fs::write(&cut, format!("# TYPE m gauge\nm 1 {t}\nm 2 {}\n", t + 15)).unwrap();
    let (code, out, err) = tsdb(&["import", "--data", data_s, cut.to_str().unwrap()]);
    assert_eq!((code, out.as_str()), (5, ""), "{err}");
    assert!(
        err.contains("cut.om:line 4: OpenMetrics text must end with a \"# EOF\" line")
            && err.contains("the whole file is refused"),
        "{err}"
    );
    assert!(err.contains("1  files refused whole"), "{err}");
    assert!(export(&data).is_empty(), "nothing of the file is loaded");

    // said to be OpenMetrics on the command line, whatever the name: the same
    let named = tmp.path().join("cut.txt");
    std::fs::copy(&cut, &named).unwrap();
    let (code, _, err) = tsdb(&[
        "import",
        "--data",
        data_s,
        "--format",
        "openmetrics",
        named.to_str().unwrap(),
    ]);
    assert_eq!(code, 5, "{err}");
    assert!(err.contains("cut.txt:line 4: OpenMetrics text"), "{err}");

    // read as Prometheus text (`.txt`), its second timestamps land in January 1970: refused
    let (code, _, err) = tsdb(&["import", "--data", data_s, named.to_str().unwrap()]);
    assert_eq!(code, 5, "{err}");
    assert!(
        err.contains("2  samples more than 30 years behind the clock"),
        "{err}"
    );
    assert!(err.contains("1970-01-"), "{err}");
    assert!(export(&data).is_empty());

    still_usable(data_s, tmp.path());
}

#[test]
fn eof_in_prometheus_text_is_refused_and_milliseconds_never_land_in_year_55840() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let data_s = data.to_str().unwrap();
    let t = (now_s() - 7200) * 1000;
    let file = tmp.path().join("ms.prom");
    std::fs::write(&file, format!("m 1 {t}\nm 2 {}\n# EOF\n", t + 15_000)).unwrap();
    let (code, _, err) = tsdb(&["import", "--data", data_s, file.to_str().unwrap()]);
    assert_eq!(code, 5, "{err}");
    assert!(
        err.contains("ms.prom:line 3: \"# EOF\" in Prometheus text: this is OpenMetrics"),
        "{err}"
    );
    for format in ["prom", "prometheus"] {
        let (code, _, err) = tsdb(&[
            "import",
            "--data",
            data_s,
            "--format",
            format,
            file.to_str().unwrap(),
        ]);
        assert_eq!(code, 5, "{format}: {err}");
        assert!(
            err.contains("line 3: \"# EOF\" in Prometheus text"),
            "{err}"
        );
    }
    // forced to OpenMetrics, the milliseconds are read as seconds: year 55,840, refused
    let (code, _, err) = tsdb(&[
        "import",
        "--data",
        data_s,
        "--format",
        "om",
        file.to_str().unwrap(),
    ]);
    assert_eq!(code, 5, "{err}");
    assert!(
        err.contains("2  samples more than 1 hour ahead of the clock"),
        "{err}"
    );
    assert!(export(&data).is_empty());
    // the write floor did not move past the present
    still_usable(data_s, tmp.path());
}

#[test]
fn the_issue_reproductions_of_a_wide_span_and_a_wrong_precision() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let data_s = data.to_str().unwrap();
    // `printf 'm 1 0\nm 2 100000000000\n' > span.prom`: 1970 and 1973
    let span = tmp.path().join("span.prom");
    std::fs::write(&span, "m 1 0\nm 2 100000000000\n").unwrap();
    let (code, _, err) = tsdb(&["import", "--data", data_s, span.to_str().unwrap()]);
    assert_eq!(code, 5, "{err}");
    assert!(
        err.contains("span.prom: m{} at 1970-01-01T00:00:00.000Z (0 ms): behind the clock"),
        "{err}"
    );
    assert!(err.contains("pass --allow-any-time"), "{err}");
    // a nanosecond and a second timestamp, read as nanoseconds: the second lands in 1970
    let now = now_s();
    let prec = tmp.path().join("prec.lp");
    std::fs::write(
        &prec,
        format!(
            "cpu,host=a usage=1 {}\ncpu,host=a usage=2 {now}\n",
            (now - 7200) * 1_000_000_000
        ),
    )
    .unwrap();
    let (code, _, err) = tsdb(&[
        "import",
        "--data",
        data_s,
        "--precision",
        "ns",
        prec.to_str().unwrap(),
    ]);
    assert_eq!(code, 5, "{err}");
    assert!(
        err.contains("1  samples more than 30 years behind the clock"),
        "{err}"
    );
    // the present-day sample is loaded: a median in 1970 is no reference
    let got = export(&data);
    assert_eq!(
        got["cpu_usage{host=\"a\"}"],
        vec![((now - 7200) * 1000, 1f64.to_bits())]
    );
    still_usable(data_s, tmp.path());
}

#[test]
fn the_wide_span_reproductions_load_with_allow_any_time_and_persist_per_range_held() {
    // With the plausibility rule lifted, the issue's inputs reach the engine, which
    // persists one segment per block range that holds samples (it used to step through
    // every empty range of the span: 39 s for this file, and never finishing for the
    // nanosecond one).
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let data_s = data.to_str().unwrap();
    let span = tmp.path().join("span.prom");
    std::fs::write(&span, "m 1 0\nm 2 100000000000\n").unwrap();
    let (code, _, err) = tsdb(&[
        "import",
        "--data",
        data_s,
        "--allow-any-time",
        span.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        export(&data)["m{}"],
        vec![(0, 1f64.to_bits()), (100_000_000_000, 2f64.to_bits())]
    );
    let prec = tmp.path().join("prec.lp");
    std::fs::write(
        &prec,
        "cpu,host=a usage=1 1700000000000000000\ncpu,host=a usage=2 1700000000\n",
    )
    .unwrap();
    let ns = tmp.path().join("ns");
    let (code, _, err) = tsdb(&[
        "import",
        "--data",
        ns.to_str().unwrap(),
        "--precision",
        "ns",
        "--allow-any-time",
        prec.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        export(&ns)["cpu_usage{host=\"a\"}"],
        vec![(1_700, 2f64.to_bits()), (1_700_000_000_000, 1f64.to_bits())]
    );
}

#[test]
fn a_stray_far_from_its_file_is_refused_and_allow_any_time_loads_everything() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let data_s = data.to_str().unwrap();
    let t = now_s() - 86_400;
    let stray = t - 2 * 366 * 86_400;
    let mut text = String::new();
    for i in 0..20 {
        text.push_str(&format!("m 1 {}\n", (t + i * 15) * 1000));
    }
    text.push_str(&format!("m 2 {}\n", stray * 1000));
    let file = tmp.path().join("stray.prom");
    std::fs::write(&file, &text).unwrap();
    let (code, _, err) = tsdb(&["import", "--data", data_s, file.to_str().unwrap()]);
    assert_eq!(code, 5, "{err}");
    assert!(
        err.contains("more than 366 days from the file's median time")
            && err.contains("1  samples more than 366 days from their file's median time"),
        "{err}"
    );
    assert_eq!(export(&data)["m{}"].len(), 20);

    // --allow-any-time: samples of 1990, more than 30 years behind the clock, load
    let old = tmp.path().join("1990.prom");
    std::fs::write(&old, "m 1 631152000000\nm 2 631152015000\n").unwrap();
    let any = tmp.path().join("any");
    let any_s = any.to_str().unwrap();
    let (code, _, err) = tsdb(&["import", "--data", any_s, old.to_str().unwrap()]);
    assert_eq!(code, 5, "{err}");
    assert!(
        err.contains("2  samples more than 30 years behind the clock"),
        "{err}"
    );
    let (code, _, err) = tsdb(&[
        "import",
        "--data",
        any_s,
        "--allow-any-time",
        old.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        export(&any)["m{}"],
        vec![
            (631_152_000_000, 1f64.to_bits()),
            (631_152_015_000, 2f64.to_bits())
        ]
    );
}

#[test]
fn formats_come_from_the_flag_or_a_known_extension() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let data_s = data.to_str().unwrap();
    let t = now_s() - 600;
    let unknown = tmp.path().join("metrics.data");
    std::fs::write(&unknown, format!("m 1 {t}\n")).unwrap();
    let (code, _, err) = tsdb(&["import", "--data", data_s, unknown.to_str().unwrap()]);
    assert_eq!(code, 2, "an unknown extension is a bad command line: {err}");
    assert!(
        err.contains("cannot tell the format") && err.contains("--format"),
        "{err}"
    );
    assert!(!data.exists(), "nothing was opened or created");

    let (code, _, err) = tsdb(&["import", "--data", data_s, "--format", "csv", "x.om"]);
    assert_eq!(code, 2, "{err}");

    // .txt is Prometheus text (milliseconds); the flag wins over any extension
    let txt = tmp.path().join("a.txt");
    std::fs::write(&txt, format!("m 1 {}\n", t * 1000)).unwrap();
    let lp = tmp.path().join("b.om");
    std::fs::write(&lp, format!("m,h=x f=2 {}\n", (t + 1) * 1_000_000_000)).unwrap();
    let (code, _, err) = tsdb(&["import", "--data", data_s, txt.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = tsdb(&[
        "import",
        "--data",
        data_s,
        "--format",
        "influx",
        lp.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let got = export(&data);
    assert_eq!(got["m{}"], vec![(t * 1000, 1f64.to_bits())]);
    assert_eq!(got["m_f{h=\"x\"}"], vec![((t + 1) * 1000, 2f64.to_bits())]);
}

#[test]
fn delete_removes_a_selection_and_says_how_many_series() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let data_s = data.to_str().unwrap();
    let t0 = now_s() - 7200;
    let (text, want) = common::openmetrics(3, 40, t0);
    let file = tmp.path().join("in.om");
    std::fs::write(&file, text).unwrap();
    common::import_ok(&data, &file);
    assert_eq!(export(&data), want);

    // a time window of one series
    let (code, out, err) = tsdb(&[
        "delete",
        "--data",
        data_s,
        "--match",
        "m{h=\"001\"}",
        "--start",
        &(t0 + 150).to_string(),
        "--end",
        &(t0 + 300).to_string(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with("deleted the samples of 1 series matching m{h=\"001\"} from "),
        "{out}"
    );
    let got = export(&data);
    let kept: Vec<(i64, u64)> = want["m{h=\"001\"}"]
        .iter()
        .copied()
        .filter(|&(t, _)| t < (t0 + 150) * 1000 || t > (t0 + 300) * 1000)
        .collect();
    assert_eq!(got["m{h=\"001\"}"], kept);
    assert_eq!(got["m{h=\"000\"}"], want["m{h=\"000\"}"]);

    // a whole series, all time
    let (code, out, _) = tsdb(&["delete", "--data", data_s, "--match", "{h=\"002\"}"]);
    assert_eq!(code, 0);
    assert!(out.contains("from the beginning to the end"), "{out}");
    assert!(!export(&data).contains_key("m{h=\"002\"}"));

    // refusals: a selector matching everything's absence, a bad one, no directory
    for (args, want_code) in [
        (vec!["--match", "{h=~\".*\"}"], 2),
        (vec!["--match", "rate(m[5m])"], 2),
        (vec!["--match", "m", "--start", "noon"], 2),
        (vec!["--match", "m", "--start", "20", "--end", "10"], 2),
    ] {
        let mut full = vec!["delete", "--data", data_s];
        full.extend(args.iter());
        let (code, _, err) = tsdb(&full);
        assert_eq!(code, want_code, "{args:?}: {err}");
    }
    let missing = tmp.path().join("missing");
    let (code, _, err) = tsdb(&[
        "delete",
        "--data",
        missing.to_str().unwrap(),
        "--match",
        "m",
    ]);
    assert_eq!(code, 3, "{err}");
    assert!(!missing.exists());
    // what was deleted stays deleted for every reader
    let (_, exported, _) = tsdb(&["export", "--data", data_s]);
    assert_eq!(parse(&exported).len(), 2);
}
