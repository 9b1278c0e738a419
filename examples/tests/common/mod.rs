//! Helpers shared by the `tsdb` tool's tests: running the binary, writing inputs, reading
//! exports back.

#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use tsdb_text::prometheus::{Dialect, Options, Parser};

/// Runs `tsdb ARGS`: exit code, standard output, standard error.
pub fn tsdb(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_tsdb"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// Samples by series (PromQL notation): `(ms, value bits)`.
pub type Samples = BTreeMap<String, Vec<(i64, u64)>>;

/// Reads OpenMetrics text (an export) into [`Samples`].
pub fn parse(text: &str) -> Samples {
    let mut out = Samples::new();
    for s in Parser::new(text.as_bytes(), Options::new(Dialect::OpenMetrics)) {
        let s = s.unwrap();
        out.entry(s.labels.to_string())
            .or_default()
            .push((s.timestamp.unwrap(), s.value.to_bits()));
    }
    out
}

/// Everything in the directory, through `tsdb export` (which must succeed).
pub fn export(data: &Path) -> Samples {
    let (code, out, err) = tsdb(&["export", "--data", data.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    parse(&out)
}

/// `tsdb import --data DATA FILE`, which must load everything.
pub fn import_ok(data: &Path, file: &Path) {
    let (code, _, err) = tsdb(&[
        "import",
        "--data",
        data.to_str().unwrap(),
        file.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
}

/// The clock, in seconds.
pub fn now_s() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// An OpenMetrics file of `hosts` gauges `m{h=...}`, `n` samples each every 15 s from
/// `t0_s`, grouped by series as exports are; with its samples.
pub fn openmetrics(hosts: usize, n: i64, t0_s: i64) -> (String, Samples) {
    let mut text = String::from("# TYPE m gauge\n");
    let mut want = Samples::new();
    for h in 0..hosts {
        let series = want.entry(format!("m{{h=\"{h:03}\"}}")).or_default();
        for i in 0..n {
            let v = (i * 7 + h as i64) as f64 * 0.25;
            text.push_str(&format!("m{{h=\"{h:03}\"}} {v} {}\n", t0_s + i * 15));
            series.push(((t0_s + i * 15) * 1000, v.to_bits()));
        }
    }
    text.push_str("# EOF\n");
    (text, want)
}
