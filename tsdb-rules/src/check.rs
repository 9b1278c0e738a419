//! `promtool check rules`: each file read and checked, its report printed as promtool
//! prints it (`Checking FILE`, then `  SUCCESS: N rules found` or `  FAILED:` and the
//! errors), with promtool's exit codes. The text is returned rather than printed, so the
//! CLI writes it and tests compare it with the real promtool's.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::{Path, PathBuf};

use crate::rulefile::{load_rule_file, RuleFile};

/// Options of `check rules`, promtool's flags.
#[derive(Clone, Debug)]
pub struct CheckOptions {
    /// `--lint=duplicate-rules` (promtool's default): report rules with the same name and
    /// labels.
    pub lint_duplicate_rules: bool,
    /// `--lint-fatal`: lint findings make the exit code 3 (otherwise 0).
    pub lint_fatal: bool,
    /// The program name in the "path does not exist" error (`promtool`, `tsdb`).
    pub program: String,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions {
            lint_duplicate_rules: true,
            lint_fatal: false,
            program: "promtool".into(),
        }
    }
}

/// What `check rules` prints and returns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckReport {
    /// Standard output: `Checking FILE`, `  SUCCESS: …`, a blank line per file.
    pub stdout: String,
    /// Standard error: `  FAILED:` and the errors.
    pub stderr: String,
    /// 0 when every file is valid (lint findings included unless fatal), 1 on errors, 3
    /// on lint findings with `lint_fatal`.
    pub exit_code: i32,
}

/// promtool's `CheckRules` over `paths`. A path that does not exist or is a directory
/// stops everything before any file is checked, as promtool's argument parser does.
pub fn check_rules_files(paths: &[PathBuf], options: &CheckOptions) -> CheckReport {
    // promtool's argument parser (kingpin's `ExistingFiles`) checks each path in order.
    for p in paths {
        let problem = if !p.exists() {
            format!("path '{}' does not exist", p.display())
        } else if p.is_dir() {
            let base = p.file_name().map(|b| b.to_string_lossy().into_owned());
            format!(
                "'{}' is a directory",
                base.unwrap_or_else(|| p.display().to_string())
            )
        } else {
            continue;
        };
        return CheckReport {
            stdout: String::new(),
            stderr: format!("{}: error: {problem}, try --help\n", options.program),
            exit_code: 1,
        };
    }
    let mut stdout = String::new();
    let mut stderr = String::new();
    let (mut failed, mut has_errors) = (false, false);
    for path in paths {
        let _ = writeln!(stdout, "Checking {}", path.display());
        match check_one(path, options) {
            Ok(n) => {
                let _ = writeln!(stdout, "  SUCCESS: {n} rules found");
            }
            Err(Failure { lines, lint }) => {
                stderr.push_str("  FAILED:\n");
                for l in lines {
                    stderr.push_str(&l);
                    stderr.push('\n');
                }
                failed = true;
                has_errors |= !lint;
            }
        }
        stdout.push('\n');
    }
    let exit_code = if failed && has_errors {
        1
    } else if failed && options.lint_fatal {
        3
    } else {
        0
    };
    CheckReport {
        stdout,
        stderr,
        exit_code,
    }
}

struct Failure {
    lines: Vec<String>,
    /// Only lint findings (no error).
    lint: bool,
}

fn check_one(path: &Path, options: &CheckOptions) -> Result<usize, Failure> {
    let file = load_rule_file(path).map_err(|errors| Failure {
        lines: errors.iter().map(|e| e.to_string()).collect(),
        lint: false,
    })?;
    if options.lint_duplicate_rules {
        let dups = duplicate_rules(&file);
        if !dups.is_empty() {
            let mut m = format!("lint error {} duplicate rule(s) found.\n", dups.len());
            for (metric, labels) in &dups {
                let _ = writeln!(m, "Metric: {metric}\nLabel(s):");
                for (k, v) in labels {
                    let _ = writeln!(m, "\t{k}: {v}");
                }
            }
            m.push_str("Might cause inconsistency while recording expressions");
            return Err(Failure {
                lines: vec![m],
                lint: true,
            });
        }
    }
    Ok(file.rule_count())
}

/// promtool's `checkDuplicates`: rules of the file with the same name and labels, each
/// reported once, in (name, labels) order.
fn duplicate_rules(file: &RuleFile) -> Vec<(String, BTreeMap<String, String>)> {
    let mut rules: Vec<(String, Vec<(String, String)>)> = file
        .groups
        .iter()
        .flat_map(|g| &g.rules)
        .map(|r| {
            let labels = r
                .labels
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            (r.name.clone(), labels)
        })
        .collect();
    rules.sort();
    let mut out: Vec<(String, Vec<(String, String)>)> = Vec::new();
    for w in rules.windows(2) {
        if w[0] == w[1] && out.last() != Some(&w[1]) {
            out.push(w[1].clone());
        }
    }
    out.into_iter()
        .map(|(m, l)| (m, l.into_iter().collect()))
        .collect()
}
