//! `instr-compare` end to end on temporary files: exit codes, the table on stdout, errors
//! on stderr, and the update procedure (baseline revision and changelog line).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const TOOLCHAIN: &str = "rustc 1.95.0 (59807616e 2026-04-14)";

struct Dir {
    dir: tempfile::TempDir,
}

impl Dir {
    fn new() -> Dir {
        Dir {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn baseline(&self) -> PathBuf {
        self.path("instructions.json")
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.path(name);
        fs::write(&p, text).unwrap();
        p
    }

    fn read(&self, name: &str) -> String {
        fs::read_to_string(self.path(name)).unwrap()
    }

    /// A committed baseline at `revision` with a changelog line for it.
    fn committed(&self, revision: u64, counts: &[(&str, u64)]) {
        let mut json = run_json(TOOLCHAIN, counts);
        json.insert_str(1, &format!("\"revision\": {revision}, "));
        self.write("instructions.json", &json);
        self.write(
            "CHANGELOG.md",
            &format!("# log\n\n- {revision}: taken on the CI machine\n"),
        );
    }
}

fn run_json(toolchain: &str, counts: &[(&str, u64)]) -> String {
    let benchmarks: Vec<String> = counts
        .iter()
        .map(|(k, v)| format!("\"{k}\": {v}"))
        .collect();
    format!(
        "{{\"toolchain\": \"{toolchain}\", \"valgrind\": \"valgrind-3.19.0\", \"benchmarks\": {{{}}}}}",
        benchmarks.join(", ")
    )
}

fn instr_compare(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_instr-compare"))
        .args(args)
        .output()
        .unwrap()
}

fn gate(baseline: &Path, current: &Path, extra: &[&str]) -> (i32, String, String) {
    let mut args = vec![
        "--baseline",
        baseline.to_str().unwrap(),
        "--current",
        current.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let out = instr_compare(&args);
    (
        out.status.code().unwrap(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn a_synthetic_regression_fails_with_a_table_naming_it() {
    let d = Dir::new();
    d.committed(
        1,
        &[
            ("chunk::decode::fleet", 1_000_000),
            ("index::select::host", 6_700),
        ],
    );
    let run = d.write(
        "run.json",
        &run_json(
            TOOLCHAIN,
            &[
                ("chunk::decode::fleet", 1_850_000),
                ("index::select::host", 6_710),
            ],
        ),
    );
    let (code, out, err) = gate(&d.baseline(), &run, &[]);
    assert_eq!(code, 1, "{out}{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("benchmark"), "{out}");
    assert!(
        lines[1].starts_with("chunk::decode::fleet"),
        "worst first: {out}"
    );
    assert!(
        lines[1].contains("+85.00 %") && lines[1].ends_with("REGRESSED"),
        "{out}"
    );
    assert!(
        lines[2].starts_with("index::select::host") && lines[2].ends_with("ok"),
        "{out}"
    );
    assert!(
        out.lines()
            .last()
            .unwrap()
            .starts_with("FAIL: 2 benchmarks, 1 regressed"),
        "{out}"
    );
    // A looser threshold passes the same run.
    let (code, out, _) = gate(&d.baseline(), &run, &["--threshold", "90"]);
    assert_eq!(code, 0, "{out}");
}

#[test]
fn an_improvement_passes_and_is_reported() {
    let d = Dir::new();
    d.committed(3, &[("head::append::by_ref", 2_000)]);
    let run = d.write(
        "run.json",
        &run_json(TOOLCHAIN, &[("head::append::by_ref", 1_500)]),
    );
    let (code, out, err) = gate(&d.baseline(), &run, &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("-25.00 %  improved"), "{out}");
    assert!(out.contains("update the baseline"), "{out}");
    assert!(out.lines().last().unwrap().starts_with("PASS"), "{out}");
}

#[test]
fn a_missing_benchmark_fails_and_a_new_one_does_not() {
    let d = Dir::new();
    d.committed(
        1,
        &[("wal::append::batch", 900), ("segment::open::fleet", 4_000)],
    );
    let run = d.write(
        "run.json",
        &run_json(TOOLCHAIN, &[("wal::append::batch", 900)]),
    );
    let (code, out, _) = gate(&d.baseline(), &run, &[]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("segment::open::fleet") && l.ends_with("MISSING")),
        "{out}"
    );

    let run = d.write(
        "run.json",
        &run_json(
            TOOLCHAIN,
            &[
                ("wal::append::batch", 900),
                ("segment::open::fleet", 4_000),
                ("rules::eval::group", 77),
            ],
        ),
    );
    let (code, out, _) = gate(&d.baseline(), &run, &[]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("rules::eval::group") && l.ends_with("NEW")),
        "{out}"
    );
}

#[test]
fn an_updated_baseline_with_a_reason_passes() {
    let d = Dir::new();
    d.committed(1, &[("chunk::decode::nab", 1_000)]);
    let run = d.write(
        "run.json",
        &run_json(TOOLCHAIN, &[("chunk::decode::nab", 1_200)]),
    );
    assert_eq!(gate(&d.baseline(), &run, &[]).0, 1);

    let out = instr_compare(&[
        "--update",
        "--baseline",
        d.baseline().to_str().unwrap(),
        "--current",
        run.to_str().unwrap(),
        "--reason",
        "decoder: checked NaN handling costs 20 %",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("REGRESSED"),
        "shows what the update changes: {stdout}"
    );
    let baseline = d.read("instructions.json");
    assert!(baseline.contains("\"revision\": 2"), "{baseline}");
    assert!(
        baseline.contains("\"chunk::decode::nab\": 1200"),
        "{baseline}"
    );
    let log = d.read("CHANGELOG.md");
    assert!(
        log.ends_with(
            "- 1: taken on the CI machine\n- 2: decoder: checked NaN handling costs 20 %\n"
        ),
        "{log}"
    );
    let (code, out, err) = gate(&d.baseline(), &run, &[]);
    assert_eq!(code, 0, "{out}{err}");
}

#[test]
fn update_creates_the_first_baseline_and_needs_a_reason() {
    let d = Dir::new();
    let run = d.write("run.json", &run_json(TOOLCHAIN, &[("a::b::c", 10)]));
    let base = d.baseline();
    let args = [
        "--update",
        "--baseline",
        base.to_str().unwrap(),
        "--current",
        run.to_str().unwrap(),
    ];
    // No --reason: a usage error, nothing written.
    assert_eq!(instr_compare(&args).status.code(), Some(2));
    let mut with_reason = args.to_vec();
    with_reason.extend(["--reason", "   "]);
    let out = instr_compare(&with_reason);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--reason must be one non-empty line"));
    assert!(!base.exists());

    let mut with_reason = args.to_vec();
    with_reason.extend(["--reason", "first counts"]);
    assert_eq!(instr_compare(&with_reason).status.code(), Some(0));
    assert!(d.read("instructions.json").contains("\"revision\": 1"));
    assert!(d.read("CHANGELOG.md").ends_with("- 1: first counts\n"));
    assert_eq!(gate(&base, &run, &[]).0, 0);
}

#[test]
fn a_revision_without_a_changelog_reason_fails() {
    let d = Dir::new();
    d.committed(1, &[("a::b::c", 10)]);
    // Someone edits the counts and bumps the revision without saying why.
    let mut json = run_json(TOOLCHAIN, &[("a::b::c", 20)]);
    json.insert_str(1, "\"revision\": 2, ");
    d.write("instructions.json", &json);
    let run = d.write("run.json", &run_json(TOOLCHAIN, &[("a::b::c", 20)]));
    let (code, out, err) = gate(&d.baseline(), &run, &[]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("baseline revision 2 has no reason"), "{err}");
    // An empty reason is no reason.
    d.write("CHANGELOG.md", "- 1: taken\n- 2:\n");
    assert_eq!(gate(&d.baseline(), &run, &[]).0, 2);
    d.write(
        "CHANGELOG.md",
        "- 1: taken\n- 2: counts doubled on purpose\n",
    );
    assert_eq!(gate(&d.baseline(), &run, &[]).0, 0);
    // No changelog at all is an error too.
    fs::remove_file(d.path("CHANGELOG.md")).unwrap();
    let (code, _, err) = gate(&d.baseline(), &run, &[]);
    assert_eq!(code, 2);
    assert!(err.contains("CHANGELOG.md"), "{err}");
}

#[test]
fn malformed_input_is_a_clear_error_not_a_panic() {
    let d = Dir::new();
    d.committed(1, &[("a::b::c", 10)]);
    let run = d.write("run.json", "{\"toolchain\": \"rustc\", \"benchmarks\": {");
    let (code, out, err) = gate(&d.baseline(), &run, &[]);
    assert_eq!(code, 2, "{out}");
    assert!(
        err.contains("run.json") && err.contains("not valid JSON"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");

    let run = d.write("run.json", &run_json(TOOLCHAIN, &[("a::b::c", 10)]));
    d.write("instructions.json", "{\"revision\": \"one\"}");
    let (code, _, err) = gate(&d.baseline(), &run, &[]);
    assert_eq!(code, 2);
    assert!(
        err.contains("\"revision\" must be a positive integer"),
        "{err}"
    );

    let (code, _, err) = gate(&d.path("absent.json"), &run, &[]);
    assert_eq!(code, 2);
    assert!(err.contains("absent.json"), "{err}");

    d.committed(1, &[("a::b::c", 10)]);
    for bad in ["-1", "NaN", "three"] {
        let (code, _, err) = gate(&d.baseline(), &run, &["--threshold", bad]);
        assert_eq!(code, 2, "--threshold {bad}: {err}");
    }
}

#[test]
fn a_toolchain_mismatch_warns() {
    let d = Dir::new();
    d.committed(1, &[("a::b::c", 1_000)]);
    let run = d.write(
        "run.json",
        &run_json("rustc 1.96.0 (abcdef012 2026-05-28)", &[("a::b::c", 1_010)]),
    );
    let (code, out, _) = gate(&d.baseline(), &run, &[]);
    assert_eq!(code, 0, "a mismatch alone does not fail: {out}");
    assert!(out.starts_with("warning: toolchain differs"), "{out}");
    assert!(out.contains("rustc 1.96.0"), "{out}");
    // ... but a regression under the new toolchain still does.
    let run = d.write(
        "run.json",
        &run_json("rustc 1.96.0 (abcdef012 2026-05-28)", &[("a::b::c", 1_100)]),
    );
    let (code, out, _) = gate(&d.baseline(), &run, &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("warning: toolchain differs"), "{out}");
}
