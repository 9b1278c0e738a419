//! Issue 11, defect 8: `tsdb export` over a segment with a damaged chunk exports
//! everything readable (the other series of that segment, the other chunks of the same
//! series, the other segments), reports each unreadable chunk with its segment, series
//! and time range, ends the output with `# EOF`, and exits 6.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{now_s, parse, tsdb};
use tsdb_text::prometheus::{Dialect, Options, Parser};

#[test]
fn a_damaged_chunk_is_reported_and_skipped_and_the_rest_exported() {
    let tmp = tempfile::tempdir().unwrap();
    // three series over 12.5 hours: several two-hour segments, each series with a chunk
    // in every segment
    let (text, want) = common::openmetrics(3, 3000, now_s() - 2 * 86_400);
    let file = tmp.path().join("in.om");
    std::fs::write(&file, text).unwrap();
    let data = tmp.path().join("data");
    common::import_ok(&data, &file);
    // the segments in time order (the import's maintenance may have merged some of the
    // two-hour segments into 6-hour ones: either way there are several)
    let mut segments: Vec<(i64, std::path::PathBuf)> = {
        let db = tsdb_core::Db::open_read_only(&data, tsdb_core::Options::default()).unwrap();
        let stats = db.stats().unwrap();
        stats
            .segments
            .iter()
            .map(|(dir, meta, _)| (meta.min_t, dir.clone()))
            .collect()
    };
    segments.sort();
    assert!(segments.len() >= 2, "{segments:?}");

    // a byte inside the first chunk of a segment before the last one (after the 8-byte
    // header), so the series has later chunks in later segments: segments are checked on
    // open by their index, meta and series files, not chunks
    let seg = &segments[segments.len() / 2 - 1].1;
    let seg_name = seg.file_name().unwrap().to_str().unwrap().to_owned();
    let chunks = seg.join("chunks");
    let mut bytes = std::fs::read(&chunks).unwrap();
    bytes[12] ^= 0x21;
    std::fs::write(&chunks, &bytes).unwrap();

    let (code, inspect, _) = tsdb(&["inspect", "--data", data.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert!(!inspect.contains("SET ASIDE"), "{inspect}");

    let (code, out, err) = tsdb(&["export", "--data", data.to_str().unwrap()]);
    assert_eq!(code, 6, "{err}");
    assert!(out.ends_with("# EOF\n"), "the output is complete");
    let reports: Vec<&str> = err
        .lines()
        .filter(|l| l.starts_with("tsdb export: unreadable chunk skipped: "))
        .collect();
    assert_eq!(reports.len(), 1, "{err}");
    let report = reports[0];
    assert!(
        report.contains(&format!("segment {seg_name}, series m{{h=\"000\"}}, ")),
        "{report}"
    );
    assert!(
        err.contains("1 unreadable chunks skipped; everything else is exported"),
        "{err}"
    );

    // the range reported is exactly what is missing
    let range = report.split(", series m{h=\"000\"}, ").nth(1).unwrap();
    let (from, rest) = range.split_once(" .. ").unwrap();
    let to = rest.split(": ").next().unwrap();
    let ms = |s: &str| {
        chrono::DateTime::parse_from_rfc3339(s)
            .unwrap()
            .timestamp_millis()
    };
    let (from, to) = (ms(from), ms(to));
    let got = parse(&out);
    let mut expected = want.clone();
    expected
        .get_mut("m{h=\"000\"}")
        .unwrap()
        .retain(|&(t, _)| t < from || t > to);
    assert!(expected["m{h=\"000\"}"].len() < want["m{h=\"000\"}"].len());
    assert!(
        expected["m{h=\"000\"}"].iter().any(|&(t, _)| t > to),
        "the series' later chunks are exported"
    );
    assert_eq!(got, expected);

    // the export is valid OpenMetrics from end to end
    let items: Vec<_> = Parser::new(out.as_bytes(), Options::new(Dialect::OpenMetrics)).collect();
    assert!(items.iter().all(Result::is_ok));

    // a selection that avoids the damage exports cleanly
    let (code, _, err) = tsdb(&[
        "export",
        "--data",
        data.to_str().unwrap(),
        "--match",
        "m{h=\"001\"}",
    ]);
    assert_eq!(code, 0, "{err}");
}
