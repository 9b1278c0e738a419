//! Parses text files and prints lines, samples, errors and the rate:
//!
//! ```sh
//! cargo run --release -p tsdb-text --example parse_speed -- FILE.om|FILE.prom|FILE.lp...
//! ```
//!
//! `.om` is OpenMetrics, `.prom` Prometheus text, `.lp` Influx line protocol (ns).
//! The files are read into memory first; only parsing is timed, best of 5 passes (the
//! machine is shared).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Instant;

use tsdb_text::{influx, prometheus};

fn main() {
    let paths: Vec<String> = std::env::args().skip(1).collect();
    assert!(!paths.is_empty(), "usage: parse_speed FILE...");
    let files: Vec<(String, Vec<u8>)> = paths
        .iter()
        .map(|p| (p.clone(), std::fs::read(p).expect("readable file")))
        .collect();
    let bytes: usize = files.iter().map(|(_, b)| b.len()).sum();
    let lines: usize = files
        .iter()
        .map(|(_, b)| b.iter().filter(|&&c| c == b'\n').count())
        .sum();
    let mut best = f64::INFINITY;
    let (mut samples, mut errors) = (0u64, 0u64);
    for pass in 0..5 {
        let start = Instant::now();
        (samples, errors) = parse_all(&files, pass == 0);
        best = best.min(start.elapsed().as_secs_f64());
    }
    let secs = best;
    println!(
        "{} files, {bytes} bytes, {lines} lines, {samples} samples, {errors} errors in {secs:.3} s: \
         {:.2} M lines/s, {:.2} M samples/s, {:.0} MB/s",
        files.len(),
        lines as f64 / secs / 1e6,
        samples as f64 / secs / 1e6,
        bytes as f64 / secs / 1e6
    );
}

/// Parses every file; returns samples and errors, printing the first errors if asked.
fn parse_all(files: &[(String, Vec<u8>)], print: bool) -> (u64, u64) {
    let (mut samples, mut errors) = (0u64, 0u64);
    for (path, data) in files {
        let items: Box<dyn Iterator<Item = Result<tsdb_text::Sample, tsdb_text::LineError>>> =
            if path.ends_with(".lp") {
                Box::new(influx::Parser::new(data, influx::Options::default()))
            } else {
                let dialect = if path.ends_with(".prom") {
                    prometheus::Dialect::Prometheus
                } else {
                    prometheus::Dialect::OpenMetrics
                };
                Box::new(prometheus::Parser::new(
                    data,
                    prometheus::Options::new(dialect),
                ))
            };
        for item in items {
            match item {
                Ok(s) => {
                    samples += 1;
                    std::hint::black_box(s);
                }
                Err(e) => {
                    if print && errors < 5 {
                        eprintln!("{path}: {e}");
                    }
                    errors += 1;
                }
            }
        }
    }
    (samples, errors)
}
