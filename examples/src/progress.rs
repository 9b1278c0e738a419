//! The `tsdb` tool's progress display: indicatif bars and spinners on standard error
//! when standard error is a terminal, and nothing at all otherwise, so that a script, a
//! pipe or a log file never receives a bar's escape codes (standard output carries the
//! results and is never drawn on).
//!
//! Every bar is made here with [`target`], so one test of "not a terminal" covers them
//! all; the templates are checked by a unit test, since a template indicatif cannot
//! read would silently fall back to its default style.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::human;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressFinish, ProgressStyle};

/// True when progress is drawn: standard error is a terminal that is not `TERM=dumb`.
pub fn on_terminal() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("TERM").is_none_or(|t| t != "dumb")
}

/// Where bars draw: standard error (10 redraws a second at most) on a terminal, nowhere
/// otherwise.
pub fn target() -> ProgressDrawTarget {
    if on_terminal() {
        ProgressDrawTarget::stderr_with_hz(10)
    } else {
        ProgressDrawTarget::hidden()
    }
}

/// How often a spinner turns.
const TICK: Duration = Duration::from_millis(120);

/// A bar over input bytes, its message on a line of its own so that the bar keeps its
/// width in an 80-column terminal:
/// `[00:00:12] ####---- 1.20 GiB/3.00 GiB 98.00 MiB/s ETA 19s`, then `  msg`.
pub const BYTES: &str = "{prefix}[{elapsed_precise}] {bar:25} {binary_bytes}/{binary_total_bytes} \
                         {binary_bytes_per_sec} ETA {eta}\n  {msg}";

/// A bar over a count: `[00:00:03] ####---- 1,200/5,000 series ETA 9s`, the unit and
/// anything else in the message.
pub const COUNT: &str =
    "{prefix}[{elapsed_precise}] {bar:25} {human_pos}/{human_len} {msg} ETA {eta}";

/// A bar for one file among several: `  file 2/5 b.om ####---- 12.00 MiB/40.00 MiB`.
pub const FILE: &str = "  {prefix} {bar:30} {binary_bytes}/{binary_total_bytes}";

/// A spinner naming the step in progress: `⠁ [00:00:04] msg`.
pub const SPINNER: &str = "{spinner} [{elapsed_precise}] {msg}";

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("#>-")
}

/// A bar of `len` units drawn with `template` (one of this module's).
pub fn bar(len: u64, template: &str) -> ProgressBar {
    // dropped on an error path, a bar is cleared rather than left above the message
    ProgressBar::with_draw_target(Some(len), target())
        .with_style(style(template))
        .with_finish(ProgressFinish::AndClear)
}

fn spinner_style() -> ProgressStyle {
    ProgressStyle::with_template(SPINNER).unwrap_or_else(|_| ProgressStyle::default_spinner())
}

/// A spinner with `message`, turning on its own until finished.
pub fn spinner(message: impl Into<String>) -> ProgressBar {
    let s = ProgressBar::with_draw_target(None, target())
        .with_style(spinner_style())
        .with_finish(ProgressFinish::AndClear);
    s.set_message(message.into());
    if on_terminal() {
        s.enable_steady_tick(TICK);
    }
    s
}

/// Several bars drawn together (an import's total and its current file).
pub fn multi() -> MultiProgress {
    MultiProgress::with_draw_target(target())
}

/// `tsdb import`'s bars: one over the bytes of all files (with samples, samples per
/// second and series in its message), one for the current file when there are several,
/// then one over the samples appended ([`ImportBars::appending`]), then a spinner while
/// segments are written.
pub struct ImportBars {
    multi: MultiProgress,
    total: ProgressBar,
    file: Option<ProgressBar>,
    names: Vec<String>,
    sizes: Vec<u64>,
    /// Bytes of the files before each one (prefix sums of `sizes`).
    before: Vec<u64>,
    current: Option<usize>,
    started: Instant,
}

impl ImportBars {
    /// Bars for reading `files` of `sizes` bytes (as listed before reading: a file that
    /// grows meanwhile stretches its bar).
    pub fn new(files: &[PathBuf], sizes: &[u64]) -> ImportBars {
        let multi = multi();
        let total_bytes = sizes.iter().sum();
        let total = multi.add(bar(total_bytes, BYTES));
        total.set_prefix("reading ");
        let file = (files.len() > 1).then(|| multi.add(bar(0, FILE)));
        let mut before = Vec::with_capacity(sizes.len());
        let mut sum = 0u64;
        for s in sizes {
            before.push(sum);
            sum += s;
        }
        ImportBars {
            multi,
            total,
            file,
            names: files.iter().map(|f| f.display().to_string()).collect(),
            sizes: sizes.to_vec(),
            before,
            current: None,
            started: Instant::now(),
        }
    }

    /// Reading file `index`: `bytes` of it so far, `samples` and `series` of all files.
    pub fn reading(&mut self, index: usize, bytes: u64, samples: u64, series: usize) {
        if self.current != Some(index) {
            self.current = Some(index);
            if let Some(f) = &self.file {
                f.set_length(self.sizes.get(index).copied().unwrap_or(0));
                f.set_position(0);
                f.set_prefix(format!(
                    "file {}/{} {}",
                    index + 1,
                    self.names.len(),
                    self.names.get(index).map_or("", String::as_str)
                ));
            }
        }
        if let Some(f) = &self.file {
            if bytes > f.length().unwrap_or(0) {
                f.set_length(bytes);
            }
            f.set_position(bytes);
        }
        let at = self.before.get(index).copied().unwrap_or(0) + bytes;
        if at > self.total.length().unwrap_or(0) {
            self.total.set_length(at);
        }
        self.total.set_position(at);
        self.total.set_message(format!(
            "{} samples read ({}), {} series",
            human::count(samples),
            human::rate(samples, self.started.elapsed(), "samples"),
            human::count(series as u64)
        ));
    }

    /// Reading is over: its bars go.
    pub fn read(&self) {
        self.total.finish_and_clear();
        if let Some(f) = &self.file {
            f.finish_and_clear();
        }
    }

    /// The bar over the `samples` to be appended (its position: samples handed to the
    /// database so far).
    pub fn appending(&self, samples: u64) -> ProgressBar {
        self.read();
        // made hidden, drawn once added to the others
        let a = ProgressBar::with_draw_target(Some(samples), ProgressDrawTarget::hidden())
            .with_style(style(COUNT))
            .with_finish(ProgressFinish::AndClear);
        a.set_prefix("appending ");
        a.set_message("samples");
        self.multi.add(a)
    }

    /// Appending is over: a spinner while the head is written to segments.
    pub fn persisting(&self, series: usize) -> ProgressBar {
        let s = self.multi.add(
            ProgressBar::with_draw_target(None, ProgressDrawTarget::hidden())
                .with_style(spinner_style())
                .with_finish(ProgressFinish::AndClear),
        );
        s.set_message(format!(
            "writing {} series to segments",
            human::count(series as u64)
        ));
        if on_terminal() {
            s.enable_steady_tick(TICK);
        }
        s
    }

    /// Prints `line` on standard error above the bars.
    pub fn println(&self, line: &str) {
        self.multi.suspend(|| eprintln!("{line}"));
    }

    /// Removes every bar.
    pub fn clear(&self) {
        self.total.finish_and_clear();
        if let Some(f) = &self.file {
            f.finish_and_clear();
        }
        let _ = self.multi.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_are_valid() {
        for t in [BYTES, COUNT, FILE, SPINNER] {
            assert!(ProgressStyle::with_template(t).is_ok(), "{t}");
        }
    }

    #[test]
    fn nothing_is_drawn_off_a_terminal() {
        // the tests run with standard error captured or piped, never a terminal
        if !std::io::stderr().is_terminal() {
            assert!(!on_terminal());
            assert!(target().is_hidden());
            assert!(bar(10, COUNT).is_hidden());
            assert!(spinner("x").is_hidden());
        }
    }
}
