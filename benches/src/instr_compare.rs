//! The instruction-count gate: compares one run of the instruction-count suite with the
//! committed baselines (`benches/baselines/instructions.json`), for `instr-compare`.
//!
//! A run is the suite's JSON, `{"toolchain", "valgrind", "cpu" (optional), "benchmarks": {"<group>::<function>::<id>":
//! instructions}}`; a baseline is the same plus `"revision": N`. Each baseline revision
//! must have a line `- N: <reason>` in `CHANGELOG.md` beside it. That is how the rule "a
//! regression fails unless the change updates the baseline with a one-line reason" is
//! enforced without git: updating the baseline bumps its revision, and a revision with no
//! reason fails the gate, so the reason travels in the same change as the new counts.
//!
//! Why 3 % by default ([`DEFAULT_THRESHOLD_PCT`]): Valgrind counts the same binary on the
//! same input to the instruction, so the threshold is not there for noise. What it must
//! absorb is drift that is not a regression of the measured code: an unrelated change
//! moving code layout and inlining in the same codegen unit, a patch release of rustc or
//! LLVM, a dependency bump, and `HashMap`'s per-process random keys changing probe
//! lengths. Measured (RESULTS.md, "Instruction-count gate"): random keys and environment
//! size move a count by 0.02 % at most; repartitioning codegen units (1 / 4 / 16) by 1.3 %
//! to 2.8 %. The regressions the gate exists for (a fast path disabled, an extra copy or
//! allocation per sample, a lost scope in the index) cost 10 % to 12x. 3 % sits at the top
//! of the drift and well below those. `--threshold` sets another for one run.
//!
//! Everything here is pure (text in, text out), so the rules are unit-tested without files;
//! the binary does the I/O.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::{Map, Value};

/// The default regression threshold, in percent of the baseline's instructions.
pub const DEFAULT_THRESHOLD_PCT: f64 = 3.0;

/// The changelog's name, in the baseline file's directory.
pub const CHANGELOG_NAME: &str = "CHANGELOG.md";

/// The first lines of a changelog that `--update` creates.
pub const CHANGELOG_HEADER: &str = "# Instruction-count baseline changelog\n\n\
One line per revision of `instructions.json`, newest last: `- N: <reason>`. `instr-compare`\n\
fails when the baseline's revision has no line here with a reason; write it with\n\
`instr-compare --update --current <run.json> --baseline <this dir>/instructions.json --reason \"...\"`.\n\n";

/// A malformed run, baseline or changelog, or a reason that cannot go in the changelog.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum Error {
    /// The text is not JSON.
    #[error("{what}: not valid JSON: {detail}")]
    Json {
        /// Which file ("baseline", "run").
        what: &'static str,
        /// serde_json's message, with line and column.
        detail: String,
    },
    /// The JSON does not have the expected shape.
    #[error("{what}: {detail}")]
    Shape {
        /// Which file ("baseline", "run").
        what: &'static str,
        /// Which field is wrong and how.
        detail: String,
    },
    /// The baseline's revision has no `- N: <reason>` line in the changelog.
    #[error(
        "baseline revision {revision} has no reason in {CHANGELOG_NAME}: add a line `- {revision}: <why the counts changed>` \
         (or update the baseline with `instr-compare --update ... --reason \"...\"`)"
    )]
    NoReason {
        /// The baseline's revision.
        revision: u64,
    },
    /// The `--reason` given to an update is empty or more than one line.
    #[error("--reason must be one non-empty line")]
    BadReason,
}

/// One run of the suite: who measured and what they counted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    /// `rustc --version` of the build measured.
    pub toolchain: String,
    /// `valgrind --version` of the counter.
    pub valgrind: String,
    /// The host CPU (model and the features glibc and the crates dispatch on), when the
    /// run recorded it: another CPU family may take other memcpy/CRC routines.
    pub cpu: Option<String>,
    /// Instructions per benchmark, by `group::function::id`.
    pub benchmarks: BTreeMap<String, u64>,
}

/// The committed baseline: a run and the revision that names it in the changelog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Baseline {
    /// Bumped on every change of the baseline file; at least 1.
    pub revision: u64,
    /// The counts and the versions they were taken with.
    pub run: Run,
}

fn shape(what: &'static str, detail: impl Into<String>) -> Error {
    Error::Shape {
        what,
        detail: detail.into(),
    }
}

fn parse_object(what: &'static str, text: &str) -> Result<Map<String, Value>, Error> {
    let value: Value = serde_json::from_str(text).map_err(|e| Error::Json {
        what,
        detail: e.to_string(),
    })?;
    match value {
        Value::Object(map) => Ok(map),
        _ => Err(shape(what, "expected a JSON object at the top level")),
    }
}

fn run_from(what: &'static str, map: &Map<String, Value>) -> Result<Run, Error> {
    let string = |field: &str| match map.get(field) {
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.clone()),
        Some(_) => Err(shape(
            what,
            format!("\"{field}\" must be a non-empty string"),
        )),
        None => Err(shape(what, format!("missing \"{field}\""))),
    };
    let toolchain = string("toolchain")?;
    let valgrind = string("valgrind")?;
    // Optional: baselines and runs from before it was recorded have none.
    let cpu = match map.get("cpu") {
        None => None,
        Some(_) => Some(string("cpu")?),
    };
    let Some(Value::Object(counts)) = map.get("benchmarks") else {
        return Err(shape(
            what,
            "\"benchmarks\" must be an object of benchmark name to instruction count",
        ));
    };
    let mut benchmarks = BTreeMap::new();
    for (name, count) in counts {
        // A count of 0 would mean the benchmark measured nothing, and would make every
        // change an infinite percentage: refuse it as malformed.
        match count.as_u64() {
            Some(n) if n > 0 => {
                benchmarks.insert(name.clone(), n);
            }
            _ => {
                return Err(shape(
                    what,
                    format!(
                        "benchmark \"{name}\": the count must be a positive integer, found {count}"
                    ),
                ))
            }
        }
    }
    Ok(Run {
        toolchain,
        valgrind,
        cpu,
        benchmarks,
    })
}

/// Parses a run of the suite (the counts file it writes).
pub fn parse_run(text: &str) -> Result<Run, Error> {
    let map = parse_object("run", text)?;
    run_from("run", &map)
}

/// Parses a baseline file: a run plus its `"revision"` (a positive integer).
pub fn parse_baseline(text: &str) -> Result<Baseline, Error> {
    let map = parse_object("baseline", text)?;
    let revision = match map.get("revision").map(Value::as_u64) {
        Some(Some(n)) if n > 0 => n,
        Some(_) => return Err(shape("baseline", "\"revision\" must be a positive integer")),
        None => return Err(shape("baseline", "missing \"revision\"")),
    };
    Ok(Baseline {
        revision,
        run: run_from("baseline", &map)?,
    })
}

/// The reason the changelog gives for `revision`: the text after `- N:` on the last line
/// for that revision with a non-empty reason. Other lines (headings, prose) are ignored.
pub fn changelog_reason(changelog: &str, revision: u64) -> Option<&str> {
    changelog
        .lines()
        .filter_map(|line| {
            let rest = line.trim_start().strip_prefix("- ")?;
            let (number, reason) = rest.split_once(':')?;
            let n: u64 = number.trim().parse().ok()?;
            let reason = reason.trim();
            (n == revision && !reason.is_empty()).then_some(reason)
        })
        .next_back()
}

/// Fails with [`Error::NoReason`] when the baseline's revision has no reason in the
/// changelog.
pub fn check_changelog(baseline: &Baseline, changelog: &str) -> Result<(), Error> {
    match changelog_reason(changelog, baseline.revision) {
        Some(_) => Ok(()),
        None => Err(Error::NoReason {
            revision: baseline.revision,
        }),
    }
}

/// What one benchmark's count says, worst first in declaration order (the table's order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verdict {
    /// More instructions than the baseline, beyond the threshold: fails.
    Regressed,
    /// In the baseline, not in the run (renamed, deleted, or the suite did not run it):
    /// fails, because a silently dropped benchmark is a hole in the gate.
    Missing,
    /// In the run, not in the baseline: reported, passes (add it with `--update`).
    New,
    /// Within the threshold either way.
    Ok,
    /// Fewer instructions than the baseline, beyond the threshold: reported, passes.
    Improved,
}

impl Verdict {
    /// The word printed in the table.
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Regressed => "REGRESSED",
            Verdict::Missing => "MISSING",
            Verdict::New => "NEW",
            Verdict::Ok => "ok",
            Verdict::Improved => "improved",
        }
    }

    /// Whether this verdict fails the gate.
    pub fn fails(self) -> bool {
        matches!(self, Verdict::Regressed | Verdict::Missing)
    }
}

/// One line of the table.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// `group::function::id`.
    pub name: String,
    /// The baseline's count, if the baseline has the benchmark.
    pub baseline: Option<u64>,
    /// The run's count, if the run has it.
    pub now: Option<u64>,
    /// `(now - baseline) / baseline` in percent, when both are there.
    pub change_pct: Option<f64>,
    /// What the change means against the threshold.
    pub verdict: Verdict,
}

/// A run compared with a baseline.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    /// Every benchmark of either side, worst first: regressions by change (largest
    /// first), missing, new, ok by change, improvements (largest last).
    pub rows: Vec<Row>,
    /// Toolchain or Valgrind differences between the baseline and the run.
    pub warnings: Vec<String>,
    /// The threshold used, in percent.
    pub threshold_pct: f64,
}

/// Compares `current` with `baseline`: a change strictly beyond `threshold_pct` percent
/// is a regression (more instructions) or an improvement (fewer).
///
/// A different toolchain or Valgrind version only adds a warning: the counts are still
/// compared with the same threshold. Failing on the mismatch alone would fail every CI run
/// after a rustc release until someone re-baselines, with no code change to blame, and
/// teach people to re-baseline without looking; comparing anyway fails exactly when the
/// new toolchain moved a hot path beyond the threshold, and the warning then says why.
pub fn compare(baseline: &Run, current: &Run, threshold_pct: f64) -> Comparison {
    let mut warnings = Vec::new();
    if baseline.toolchain != current.toolchain {
        warnings.push(format!(
            "toolchain differs: baseline \"{}\", run \"{}\"; counts may shift with the compiler \
             (if they do, re-baseline with --update and say so in the reason)",
            baseline.toolchain, current.toolchain
        ));
    }
    if baseline.valgrind != current.valgrind {
        warnings.push(format!(
            "valgrind differs: baseline \"{}\", run \"{}\"; counts may shift with the counter",
            baseline.valgrind, current.valgrind
        ));
    }
    if let (Some(base_cpu), Some(now_cpu)) = (&baseline.cpu, &current.cpu) {
        if base_cpu != now_cpu {
            warnings.push(format!(
                "cpu differs: baseline \"{base_cpu}\", run \"{now_cpu}\"; glibc and the crates \
             choose memcpy, CRC and search routines by CPU feature, so counts may shift \
             (if many benchmarks move at once, re-baseline on this host and say so in the reason)"
            ));
        }
    }
    let mut rows = Vec::new();
    for (name, &base) in &baseline.benchmarks {
        let row = match current.benchmarks.get(name) {
            Some(&now) => {
                // Counts are positive (checked on parsing), so the division is defined.
                // Multiply first: a change of exactly the threshold (300 of 10,000) stays exact.
                let change = (now as f64 - base as f64) * 100.0 / base as f64;
                let verdict = if change > threshold_pct {
                    Verdict::Regressed
                } else if change < -threshold_pct {
                    Verdict::Improved
                } else {
                    Verdict::Ok
                };
                Row {
                    name: name.clone(),
                    baseline: Some(base),
                    now: Some(now),
                    change_pct: Some(change),
                    verdict,
                }
            }
            None => Row {
                name: name.clone(),
                baseline: Some(base),
                now: None,
                change_pct: None,
                verdict: Verdict::Missing,
            },
        };
        rows.push(row);
    }
    for (name, &now) in &current.benchmarks {
        if !baseline.benchmarks.contains_key(name) {
            rows.push(Row {
                name: name.clone(),
                baseline: None,
                now: Some(now),
                change_pct: None,
                verdict: Verdict::New,
            });
        }
    }
    rows.sort_by(|a, b| {
        a.verdict
            .cmp(&b.verdict)
            .then_with(|| {
                let (x, y) = (a.change_pct.unwrap_or(0.0), b.change_pct.unwrap_or(0.0));
                y.total_cmp(&x)
            })
            .then_with(|| a.name.cmp(&b.name))
    });
    Comparison {
        rows,
        warnings,
        threshold_pct,
    }
}

impl Comparison {
    /// Whether the gate fails: any regression beyond the threshold or missing benchmark.
    pub fn fails(&self) -> bool {
        self.rows.iter().any(|r| r.verdict.fails())
    }

    fn count(&self, verdict: Verdict) -> usize {
        self.rows.iter().filter(|r| r.verdict == verdict).count()
    }

    /// The one-line summary printed under the table.
    pub fn summary(&self) -> String {
        format!(
            "{}: {} benchmarks, {} regressed, {} missing, {} new, {} improved, {} ok \
             (threshold {:.2} %){}",
            if self.fails() { "FAIL" } else { "PASS" },
            self.rows.len(),
            self.count(Verdict::Regressed),
            self.count(Verdict::Missing),
            self.count(Verdict::New),
            self.count(Verdict::Improved),
            self.count(Verdict::Ok),
            self.threshold_pct,
            if self.warnings.is_empty() {
                ""
            } else {
                ", toolchain, valgrind or cpu differs (see warning)"
            }
        )
    }

    /// The report: warnings, the table, advice for improvements and new benchmarks, and
    /// the summary line.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for w in &self.warnings {
            let _ = writeln!(out, "warning: {w}");
        }
        let cells: Vec<[String; 5]> = self
            .rows
            .iter()
            .map(|r| {
                [
                    r.name.clone(),
                    r.baseline.map_or_else(|| "-".to_owned(), group_digits),
                    r.now.map_or_else(|| "-".to_owned(), group_digits),
                    r.change_pct
                        .map_or_else(|| "-".to_owned(), |c| format!("{c:+.2} %")),
                    r.verdict.label().to_owned(),
                ]
            })
            .collect();
        let header = ["benchmark", "baseline", "now", "change", "verdict"];
        let mut widths = header.map(str::len);
        for row in &cells {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let line = |out: &mut String, row: [&str; 5]| {
            let _ = writeln!(
                out,
                "{:<w0$}  {:>w1$}  {:>w2$}  {:>w3$}  {}",
                row[0],
                row[1],
                row[2],
                row[3],
                row[4],
                w0 = widths[0],
                w1 = widths[1],
                w2 = widths[2],
                w3 = widths[3],
            );
        };
        line(&mut out, header);
        for row in &cells {
            line(&mut out, [&row[0], &row[1], &row[2], &row[3], &row[4]]);
        }
        if self.count(Verdict::Improved) > 0 || self.count(Verdict::New) > 0 {
            let _ = writeln!(
                out,
                "note: improvements beyond the threshold or new benchmarks: update the baseline so \
                 the gate holds the new figures \
                 (instr-compare --update --current <run> --baseline <baseline> --reason \"...\")"
            );
        }
        let _ = writeln!(out, "{}", self.summary());
        out
    }
}

/// `1234567` as `1,234,567`, so that counts of different magnitudes read at a glance.
fn group_digits(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The baseline that replaces `old` with the counts and versions of `current`: the next
/// revision (1 when there was none).
pub fn next_baseline(old: Option<&Baseline>, current: &Run) -> Baseline {
    Baseline {
        revision: old.map_or(1, |b| b.revision + 1),
        run: current.clone(),
    }
}

/// The baseline file's text: `revision`, `toolchain`, `valgrind`, `cpu` (when known), then the benchmarks
/// sorted by name, one a line, so that a diff of the file shows only what moved. Written
/// by hand rather than through `serde_json::Map`, whose key order depends on a cargo
/// feature (`preserve_order`) any crate in the build may turn on.
pub fn baseline_json(baseline: &Baseline) -> String {
    // `Value`'s Display of a string is its JSON literal, quotes and escapes included.
    let quote = |s: &str| Value::from(s).to_string();
    let mut text = String::new();
    let _ = writeln!(text, "{{");
    let _ = writeln!(text, "  \"revision\": {},", baseline.revision);
    let _ = writeln!(text, "  \"toolchain\": {},", quote(&baseline.run.toolchain));
    let _ = writeln!(text, "  \"valgrind\": {},", quote(&baseline.run.valgrind));
    if let Some(cpu) = &baseline.run.cpu {
        let _ = writeln!(text, "  \"cpu\": {},", quote(cpu));
    }
    if baseline.run.benchmarks.is_empty() {
        let _ = writeln!(text, "  \"benchmarks\": {{}}");
    } else {
        let _ = writeln!(text, "  \"benchmarks\": {{");
        let last = baseline.run.benchmarks.len() - 1;
        for (i, (name, count)) in baseline.run.benchmarks.iter().enumerate() {
            let comma = if i == last { "" } else { "," };
            let _ = writeln!(text, "    {}: {count}{comma}", quote(name));
        }
        let _ = writeln!(text, "  }}");
    }
    let _ = writeln!(text, "}}");
    text
}

/// The changelog with the line for `revision` appended (the header first when the
/// changelog is new). The reason must be one non-empty line.
pub fn append_changelog(
    existing: Option<&str>,
    revision: u64,
    reason: &str,
) -> Result<String, Error> {
    let reason = reason.trim();
    if reason.is_empty() || reason.contains(['\n', '\r']) {
        return Err(Error::BadReason);
    }
    let mut text = existing.unwrap_or(CHANGELOG_HEADER).to_owned();
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    let _ = writeln!(text, "- {revision}: {reason}");
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOOLCHAIN: &str = "rustc 1.95.0 (59807616e 2026-04-14)";

    fn run(counts: &[(&str, u64)]) -> Run {
        Run {
            toolchain: TOOLCHAIN.to_owned(),
            valgrind: "valgrind-3.19.0".to_owned(),
            cpu: Some("Intel(R) Xeon(R) Processor; avx2 erms".to_owned()),
            benchmarks: counts.iter().map(|&(k, v)| (k.to_owned(), v)).collect(),
        }
    }

    fn verdict_of(c: &Comparison, name: &str) -> Verdict {
        c.rows
            .iter()
            .find(|r| r.name == name)
            .map(|r| r.verdict)
            .unwrap()
    }

    #[test]
    fn regression_beyond_threshold_fails_and_is_named_with_its_change() {
        let c = compare(
            &run(&[
                ("chunk::decode::fleet", 1_000_000),
                ("index::select::host", 500),
            ]),
            &run(&[
                ("chunk::decode::fleet", 1_850_000),
                ("index::select::host", 500),
            ]),
            3.0,
        );
        assert!(c.fails());
        assert_eq!(c.rows[0].name, "chunk::decode::fleet");
        assert_eq!(c.rows[0].verdict, Verdict::Regressed);
        let text = c.render();
        let line = text
            .lines()
            .find(|l| l.starts_with("chunk::decode::fleet"))
            .unwrap();
        assert!(line.contains("1,000,000"), "{line}");
        assert!(line.contains("1,850,000"), "{line}");
        assert!(line.contains("+85.00 %"), "{line}");
        assert!(line.ends_with("REGRESSED"), "{line}");
        assert!(text
            .lines()
            .last()
            .unwrap()
            .starts_with("FAIL: 2 benchmarks, 1 regressed"));
    }

    #[test]
    fn threshold_is_strict_and_symmetric() {
        let base = run(&[("a", 10_000), ("b", 10_000), ("c", 10_000), ("d", 10_000)]);
        let now = run(&[("a", 10_300), ("b", 10_301), ("c", 9_700), ("d", 9_699)]);
        let c = compare(&base, &now, 3.0);
        assert_eq!(verdict_of(&c, "a"), Verdict::Ok);
        assert_eq!(verdict_of(&c, "b"), Verdict::Regressed);
        assert_eq!(verdict_of(&c, "c"), Verdict::Ok);
        assert_eq!(verdict_of(&c, "d"), Verdict::Improved);
        // A looser threshold passes the same run.
        assert!(!compare(&base, &now, 5.0).fails());
    }

    #[test]
    fn improvement_passes_and_is_reported() {
        let c = compare(&run(&[("a", 1_000)]), &run(&[("a", 800)]), 3.0);
        assert!(!c.fails());
        assert_eq!(c.rows[0].verdict, Verdict::Improved);
        let text = c.render();
        assert!(text.contains("-20.00 %"), "{text}");
        assert!(text.contains("update the baseline"), "{text}");
        assert!(c.summary().starts_with("PASS"), "{}", c.summary());
        assert!(c.summary().contains("1 improved"));
    }

    #[test]
    fn missing_benchmark_fails_and_new_one_passes() {
        let c = compare(&run(&[("gone", 10)]), &run(&[]), 3.0);
        assert!(c.fails());
        assert_eq!(c.rows[0].verdict, Verdict::Missing);
        assert!(c
            .render()
            .lines()
            .any(|l| l.starts_with("gone") && l.ends_with("MISSING")));

        let c = compare(&run(&[]), &run(&[("fresh", 10)]), 3.0);
        assert!(!c.fails());
        assert_eq!(c.rows[0].verdict, Verdict::New);
        assert!(c
            .render()
            .lines()
            .any(|l| l.starts_with("fresh") && l.ends_with("NEW")));
    }

    #[test]
    fn rows_are_sorted_worst_first() {
        let base = run(&[
            ("ok", 100),
            ("imp", 100),
            ("reg_small", 100),
            ("reg_big", 100),
            ("miss", 1),
        ]);
        let now = run(&[
            ("ok", 101),
            ("imp", 50),
            ("reg_small", 110),
            ("reg_big", 200),
            ("new", 1),
        ]);
        let c = compare(&base, &now, 3.0);
        let names: Vec<&str> = c.rows.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["reg_big", "reg_small", "miss", "new", "ok", "imp"]);
    }

    #[test]
    fn toolchain_or_valgrind_mismatch_warns_without_failing() {
        let base = run(&[("a", 100)]);
        let mut now = run(&[("a", 101)]);
        now.toolchain = "rustc 1.96.0 (0000000 2026-05-28)".to_owned();
        now.valgrind = "valgrind-3.22.0".to_owned();
        let c = compare(&base, &now, 3.0);
        assert!(!c.fails());
        assert_eq!(c.warnings.len(), 2);
        let text = c.render();
        assert!(text.starts_with("warning: toolchain differs"), "{text}");
        assert!(text.contains("rustc 1.96.0"), "{text}");
        assert!(text.contains("warning: valgrind differs"), "{text}");
        assert!(c.summary().contains("differs"));
        // The same counts with the same versions: no warning.
        assert!(compare(&base, &base, 3.0).warnings.is_empty());
    }

    #[test]
    fn a_cpu_mismatch_warns_and_a_missing_cpu_does_not() {
        let base = run(&[("a", 100)]);
        let mut now = run(&[("a", 100)]);
        now.cpu = Some("AMD EPYC 7B13; avx2 erms fsrm".to_owned());
        let c = compare(&base, &now, 3.0);
        assert!(!c.fails());
        assert_eq!(c.warnings.len(), 1, "{:?}", c.warnings);
        assert!(c.warnings[0].starts_with("cpu differs"), "{:?}", c.warnings);
        assert!(c.warnings[0].contains("AMD EPYC 7B13"), "{:?}", c.warnings);
        assert!(c.summary().contains("cpu differs"));
        // A baseline from before the field: nothing to compare with, no warning.
        let mut old = run(&[("a", 100)]);
        old.cpu = None;
        assert!(compare(&old, &now, 3.0).warnings.is_empty());
        // The field round-trips through the baseline file, and an absent one stays absent.
        for r in [now, old] {
            let b = next_baseline(None, &r);
            assert_eq!(parse_baseline(&baseline_json(&b)).unwrap().run, r);
        }
        // Present, it must be a non-empty string.
        assert!(matches!(
            parse_run(r#"{"toolchain": "t", "valgrind": "v", "cpu": "", "benchmarks": {}}"#),
            Err(Error::Shape { .. })
        ));
    }

    #[test]
    fn parses_a_run_and_a_baseline() {
        let text = r#"{"toolchain": "rustc 1.95.0 (x)", "valgrind": "valgrind-3.19.0",
            "benchmarks": {"g::f::id": 123456789012}}"#;
        let r = parse_run(text).unwrap();
        assert_eq!(r.benchmarks["g::f::id"], 123_456_789_012);
        assert_eq!(r.valgrind, "valgrind-3.19.0");
        // A run is not a baseline: it has no revision.
        assert!(matches!(
            parse_baseline(text),
            Err(Error::Shape {
                what: "baseline",
                ..
            })
        ));
        let b = parse_baseline(&text.replacen('{', "{\"revision\": 4,", 1)).unwrap();
        assert_eq!(b.revision, 4);
        assert_eq!(b.run, r);
    }

    #[test]
    fn malformed_input_is_a_clear_error() {
        let e = parse_run("{\"toolchain\": ").unwrap_err();
        assert!(matches!(e, Error::Json { what: "run", .. }), "{e}");
        assert!(e.to_string().contains("line 1"), "{e}");
        let cases = [
            ("[]", "top level"),
            (
                r#"{"valgrind": "v", "benchmarks": {}}"#,
                "missing \"toolchain\"",
            ),
            (
                r#"{"toolchain": "", "valgrind": "v", "benchmarks": {}}"#,
                "\"toolchain\" must be",
            ),
            (
                r#"{"toolchain": "t", "valgrind": "v"}"#,
                "\"benchmarks\" must be",
            ),
            (
                r#"{"toolchain": "t", "valgrind": "v", "benchmarks": {"a": -1}}"#,
                "benchmark \"a\"",
            ),
            (
                r#"{"toolchain": "t", "valgrind": "v", "benchmarks": {"a": 1.5}}"#,
                "benchmark \"a\"",
            ),
            (
                r#"{"toolchain": "t", "valgrind": "v", "benchmarks": {"a": 0}}"#,
                "benchmark \"a\"",
            ),
            (
                r#"{"toolchain": "t", "valgrind": "v", "benchmarks": {"a": "12"}}"#,
                "benchmark \"a\"",
            ),
        ];
        for (text, needle) in cases {
            let e = parse_run(text).unwrap_err();
            assert!(e.to_string().contains(needle), "{text}: {e}");
        }
        let e = parse_baseline(
            r#"{"revision": 0, "toolchain": "t", "valgrind": "v", "benchmarks": {}}"#,
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .contains("\"revision\" must be a positive integer"),
            "{e}"
        );
    }

    #[test]
    fn changelog_reason_needs_the_revision_and_a_reason() {
        let log = "# heading\n\n- 1: first counts\n- 2:   \n- 3: rustc 1.95: layout moved decode\n";
        assert_eq!(changelog_reason(log, 1), Some("first counts"));
        assert_eq!(changelog_reason(log, 2), None, "empty reason");
        assert_eq!(
            changelog_reason(log, 3),
            Some("rustc 1.95: layout moved decode")
        );
        assert_eq!(changelog_reason(log, 4), None, "no line");
        let baseline = |revision| Baseline {
            revision,
            run: run(&[]),
        };
        assert!(check_changelog(&baseline(3), log).is_ok());
        let e = check_changelog(&baseline(2), log).unwrap_err();
        assert_eq!(e, Error::NoReason { revision: 2 });
        assert!(e.to_string().contains("`- 2: "), "{e}");
    }

    #[test]
    fn update_bumps_the_revision_and_round_trips() {
        let first = next_baseline(None, &run(&[("a", 5)]));
        assert_eq!(first.revision, 1);
        let second = next_baseline(Some(&first), &run(&[("a", 6), ("b", 7)]));
        assert_eq!(second.revision, 2);
        let text = baseline_json(&second);
        assert_eq!(parse_baseline(&text).unwrap(), second);
        assert!(
            text.find("\"a\"").unwrap() < text.find("\"b\"").unwrap(),
            "sorted"
        );

        let log = append_changelog(None, 1, "  first counts ").unwrap();
        assert!(log.starts_with(CHANGELOG_HEADER));
        assert!(log.ends_with("- 1: first counts\n"));
        let log = append_changelog(Some(log.trim_end()), 2, "suite grew").unwrap();
        assert!(
            log.ends_with("- 1: first counts\n- 2: suite grew\n"),
            "{log}"
        );
        assert!(check_changelog(&second, &log).is_ok());
        assert_eq!(append_changelog(Some(&log), 3, " "), Err(Error::BadReason));
        assert_eq!(
            append_changelog(Some(&log), 3, "a\nb"),
            Err(Error::BadReason)
        );
    }

    #[test]
    fn digits_are_grouped() {
        assert_eq!(group_digits(7), "7");
        assert_eq!(group_digits(999), "999");
        assert_eq!(group_digits(1_000), "1,000");
        assert_eq!(group_digits(123_456_789), "123,456,789");
    }
}
