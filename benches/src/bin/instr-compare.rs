//! The instruction-count gate: compares a run of the instruction-count suite with the
//! committed baseline and fails on a regression beyond the threshold, or updates the
//! baseline with a one-line reason. The rules are in `tsdb_benches::instr_compare`.
//!
//! ```sh
//! instr-compare --baseline benches/baselines/instructions.json --current target/instr/counts.json
//! instr-compare --update --baseline benches/baselines/instructions.json \
//!     --current target/instr/counts.json --reason "decoder: batch path for NAB"
//! ```
//!
//! Exit codes: 0 pass (or baseline updated); 1 a regression beyond the threshold or a
//! benchmark of the baseline missing from the run; 2 a usage, I/O or parse error, or a
//! baseline revision without a reason in `CHANGELOG.md` beside it.

use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;
use tsdb_benches::instr_compare::{
    self as ic, Baseline, Error, CHANGELOG_NAME, DEFAULT_THRESHOLD_PCT,
};

/// The flags of `instr-compare`.
#[derive(Parser, Debug)]
#[command(about = "Compare instruction counts with the committed baseline, or update it")]
struct Flags {
    /// The baseline file; its changelog is `CHANGELOG.md` in the same directory.
    #[arg(long)]
    baseline: PathBuf,
    /// The run to compare (the suite's counts JSON).
    #[arg(long)]
    current: PathBuf,
    /// A change beyond this many percent of the baseline's instructions is a regression
    /// (or an improvement).
    #[arg(long, default_value_t = DEFAULT_THRESHOLD_PCT, value_parser = parse_threshold)]
    threshold: f64,
    /// Write the run as the new baseline (next revision) and append the reason to the
    /// changelog, instead of gating.
    #[arg(long, requires = "reason")]
    update: bool,
    /// With --update: one line saying why the counts changed.
    #[arg(long, requires = "update")]
    reason: Option<String>,
}

fn parse_threshold(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(t) if t.is_finite() && t >= 0.0 => Ok(t),
        _ => Err(format!("expected a percentage >= 0, found {s:?}")),
    }
}

/// Why the command could not do its job (exit code 2).
#[derive(Debug, thiserror::Error)]
enum Failure {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Input { path: String, source: Error },
}

fn read(path: &Path) -> Result<String, Failure> {
    fs::read_to_string(path).map_err(|source| Failure::Io {
        path: path.display().to_string(),
        source,
    })
}

fn input<T>(path: &Path, parsed: Result<T, Error>) -> Result<T, Failure> {
    parsed.map_err(|source| Failure::Input {
        path: path.display().to_string(),
        source,
    })
}

/// Writes through a temporary file and a rename, so that an interrupted update leaves the
/// old file whole rather than half a JSON document.
fn write_replacing(path: &Path, text: &str) -> Result<(), Failure> {
    let io = |source| Failure::Io {
        path: path.display().to_string(),
        source,
    };
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    fs::write(&tmp, text).map_err(io)?;
    fs::rename(&tmp, path).map_err(io)
}

fn changelog_path(baseline: &Path) -> PathBuf {
    baseline
        .parent()
        .unwrap_or_else(|| Path::new(""))
        .join(CHANGELOG_NAME)
}

/// The gate: exit 1 on a regression or a missing benchmark.
fn gate(flags: &Flags) -> Result<ExitCode, Failure> {
    let baseline = input(&flags.baseline, ic::parse_baseline(&read(&flags.baseline)?))?;
    let log_path = changelog_path(&flags.baseline);
    input(&log_path, ic::check_changelog(&baseline, &read(&log_path)?))?;
    let current = input(&flags.current, ic::parse_run(&read(&flags.current)?))?;
    let comparison = ic::compare(&baseline.run, &current, flags.threshold);
    print!("{}", comparison.render());
    Ok(if comparison.fails() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// `--update`: the run becomes the next revision, with its reason in the changelog.
fn update(flags: &Flags, reason: &str) -> Result<ExitCode, Failure> {
    let current = input(&flags.current, ic::parse_run(&read(&flags.current)?))?;
    let old: Option<Baseline> = match fs::read_to_string(&flags.baseline) {
        Ok(text) => Some(input(&flags.baseline, ic::parse_baseline(&text))?),
        Err(e) if e.kind() == ErrorKind::NotFound => None,
        Err(source) => {
            return Err(Failure::Io {
                path: flags.baseline.display().to_string(),
                source,
            })
        }
    };
    let log_path = changelog_path(&flags.baseline);
    let old_log = match fs::read_to_string(&log_path) {
        Ok(text) => Some(text),
        Err(e) if e.kind() == ErrorKind::NotFound => None,
        Err(source) => {
            return Err(Failure::Io {
                path: log_path.display().to_string(),
                source,
            })
        }
    };
    let new = ic::next_baseline(old.as_ref(), &current);
    let log = input(
        &log_path,
        ic::append_changelog(old_log.as_deref(), new.revision, reason),
    )?;
    if let Some(old) = &old {
        // What the update changes, for the reviewer of the commit.
        print!(
            "{}",
            ic::compare(&old.run, &current, flags.threshold).render()
        );
    }
    // Baseline first: if the changelog write then fails, the gate fails on the missing
    // reason rather than passing with a changelog line for counts that were never written.
    write_replacing(&flags.baseline, &ic::baseline_json(&new))?;
    write_replacing(&log_path, &log)?;
    println!(
        "wrote {} revision {} ({} benchmarks) and {}: - {}: {}",
        flags.baseline.display(),
        new.revision,
        new.run.benchmarks.len(),
        log_path.display(),
        new.revision,
        reason.trim()
    );
    Ok(ExitCode::SUCCESS)
}

fn main() -> ExitCode {
    // clap exits with 2 on a usage error, as the gate's contract says.
    let flags = Flags::parse();
    let result = match &flags.reason {
        Some(reason) if flags.update => update(&flags, reason),
        _ => gate(&flags),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("instr-compare: error: {e}");
            ExitCode::from(2)
        }
    }
}
