//! `check_rules_files` against the real `promtool check rules` (Prometheus 2.42) on the
//! same files: the same stdout, stderr and exit code for what we support.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::Command;

use tsdb_rules::{check_rules_files, CheckOptions};

const PROMTOOL_INSTALL: &str = "install Prometheus 2.42 and promtool with \
    `bash ../shared/peers/install-peers.sh` (as root; Debian's `prometheus` package), as \
    .ci/run does";

fn promtool() -> String {
    let found = Command::new("sh")
        .args(["-c", "command -v promtool"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    assert!(!found.is_empty(), "promtool is missing: {PROMTOOL_INSTALL}");
    found
}

fn testdata() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/testdata")
}

/// Runs both on `files` (under testdata, given to both as the same absolute paths).
fn compare(files: &[&str], args: &[&str], options: &CheckOptions) {
    let paths: Vec<PathBuf> = files.iter().map(|f| testdata().join(f)).collect();
    let out = Command::new(promtool())
        .args(["check", "rules"])
        .args(args)
        .args(&paths)
        .output()
        .unwrap();
    let ours = check_rules_files(&paths, options);
    assert_eq!(
        ours.stdout,
        String::from_utf8_lossy(&out.stdout),
        "stdout for {files:?}"
    );
    assert_eq!(
        ours.stderr,
        String::from_utf8_lossy(&out.stderr),
        "stderr for {files:?}"
    );
    assert_eq!(
        Some(ours.exit_code),
        out.status.code(),
        "exit code for {files:?}"
    );
}

/// The PromQL parser (the promql-parser crate) words some errors differently from
/// Prometheus's and gives no position for them: the same rules fail, with the same file,
/// YAML position, group and rule, and the same exit code.
#[test]
fn same_failing_expressions_as_promtool() {
    let path = testdata().join("check/types.yml");
    let out = Command::new(promtool())
        .args(["check", "rules"])
        .arg(&path)
        .output()
        .unwrap();
    let ours = check_rules_files(std::slice::from_ref(&path), &CheckOptions::default());
    let theirs = String::from_utf8_lossy(&out.stderr).to_string();
    let cut = |s: &str| -> Vec<String> {
        s.lines()
            .map(|l| {
                l.split(" could not parse expression: ")
                    .next()
                    .unwrap_or("")
                    .to_string()
            })
            .collect()
    };
    assert_eq!(cut(&ours.stderr), cut(&theirs));
    assert_eq!(cut(&ours.stderr).len(), 5);
    assert_eq!(Some(ours.exit_code), out.status.code());
    assert_eq!(ours.stdout, String::from_utf8_lossy(&out.stdout));
}

#[test]
fn same_report_as_promtool() {
    let default = CheckOptions::default();
    for f in [
        "check/good.yml",
        "check/bad.yml",
        "check/dup.yml",
        "check/empty.yml",
        "check/dur.yml",
        "check/ann.yml",
        "check/noexpr.yml",
        "check/parse.yml",
        "check/tmpl.yml",
        "check/top.yml",
        "check/typ.yml",
        "check/unknown.yml",
    ] {
        compare(&[f], &[], &default);
    }
    compare(
        &["check/good.yml", "check/bad.yml", "check/dup.yml"],
        &[],
        &default,
    );
    let fatal = CheckOptions {
        lint_fatal: true,
        ..CheckOptions::default()
    };
    compare(
        &["check/dup.yml", "check/good.yml"],
        &["--lint-fatal"],
        &fatal,
    );
    let none = CheckOptions {
        lint_duplicate_rules: false,
        ..CheckOptions::default()
    };
    compare(&["check/dup.yml"], &["--lint=none"], &none);
    compare(&["check/missing.yml"], &[], &default);
    compare(&["check"], &[], &default);
}

#[test]
fn yaml_syntax_errors_name_the_file_and_line() {
    // yaml.v3 and our YAML parser word syntax errors differently; the file, the line and
    // the exit code agree.
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("x.yml");
    std::fs::write(&p, "groups:\n  - name: x\n    rules:\n  - [\n").unwrap();
    let r = check_rules_files(std::slice::from_ref(&p), &CheckOptions::default());
    assert_eq!(r.exit_code, 1);
    let want = format!("  FAILED:\n{}: yaml: line 4: ", p.display());
    assert!(r.stderr.starts_with(&want), "{}", r.stderr);
    assert_eq!(r.stdout, format!("Checking {}\n\n", p.display()));
}
