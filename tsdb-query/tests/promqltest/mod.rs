//! A runner for Prometheus' PromQL test-script language (the `.test` files of
//! `prometheus/promql/promqltest`), written from its README and grammar:
//!
//! ```text
//! # A comment. A blank or comment line ends the block of the command above it.
//! load 1m
//!     metric{job="a"} 1+1x10 _ stale -2 Inf _x3 5x2
//!
//! eval instant at 5m metric
//!     metric{job="a"} 6
//!
//! eval instant at 5m scalar(metric)
//!     6
//!
//! eval_fail instant at 5m rate(metric)
//!     expect fail regex: rate
//!
//! eval range from 0 to 2m step 1m metric
//!     metric{job="a"} 1 2 3
//!
//! eval instant at 10m metric[3m]
//!     expect range vector from 8m to 10m step 1m
//!     metric{job="a"} 9 10 11
//!
//! clear
//! ```
//!
//! Also understood: `eval_ordered` / `expect ordered` (instant vectors in the listed
//! order), `expect fail msg: <exact message>`, the older `expected_fail_message` and
//! `expected_fail_regexp` lines of `eval_fail`, `expect string "..."`, and a trailing
//! `# comment` on series lines.
//!
//! Series values use the expansion notation: `a+bxN` / `a-bxN` are the N+1 values
//! `a, a±b, …`; `axN` repeats `a` N+1 times; `_` is a missing sample and `_xN` N of them;
//! `stale` is a staleness marker. A load's first value is at time 0 and each next one an
//! interval later; a range result's first value is at the query's start.
//!
//! Results are compared as Prometheus' `promqltest` does: label sets exactly, values
//! within a relative tolerance ([`EPSILON`]; NaN equals NaN, a staleness marker only a
//! staleness marker), vectors as sets unless ordered, and every instant evaluation is
//! repeated as a range query from `t - 1m` to `t + 1m` whose point at `t` must give the
//! same result. Deliberate differences from Prometheus' runner: query text is parsed when
//! the eval runs (so `eval_fail` can check parse errors, and a typo is a failing eval
//! rather than a broken script); the relative tolerance is 1e-9 rather than 1e-6;
//! annotations (`expect warn`/`expect info`, `eval_warn`/`eval_info`) are refused, as
//! this engine has none, and `expect no_warn`/`expect no_info` hold trivially; the extra
//! runs with an `@` modifier added to every selector are not done; native histograms
//! (`{{...}}` values, `load_with_nhcb`) are not supported.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::sync::Arc;

use regex::Regex;
use tsdb_core::{Batch, Db, ManualClock, Options};
use tsdb_index::Labels;
use tsdb_query::{format_float, Engine, InstantSample, Series, Value, STALE_NAN_BITS};

/// Relative tolerance when comparing a result value with the expected one.
pub const EPSILON: f64 = 1e-9;

/// A malformed script: where and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptError {
    /// The script's name (its path, as given to [`parse`]).
    pub file: String,
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ScriptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.message)
    }
}

impl std::error::Error for ScriptError {}

/// A parsed script.
#[derive(Debug)]
pub struct Script {
    /// The script's name, for messages.
    pub file: String,
    /// Its commands in order.
    pub commands: Vec<Command>,
}

impl Script {
    /// How many `eval` commands the script has.
    pub fn eval_count(&self) -> usize {
        self.commands
            .iter()
            .filter(|c| matches!(c, Command::Eval(_)))
            .count()
    }
}

/// One command of a script.
#[derive(Debug)]
pub enum Command {
    /// `load <interval>` and its series.
    Load(Load),
    /// `clear`: forget everything loaded.
    Clear,
    /// `eval ...` and its expectations.
    Eval(Box<Eval>),
}

/// A `load` block.
#[derive(Debug)]
pub struct Load {
    /// Line of the `load` command.
    pub line: usize,
    /// The series, each with its samples `(t ms, value)`.
    pub series: Vec<LoadSeries>,
}

/// One series line of a `load` block.
#[derive(Debug, Clone)]
pub struct LoadSeries {
    /// Its line.
    pub line: usize,
    /// Its labels.
    pub labels: Labels,
    /// Its samples in time order (missing values `_` left out).
    pub samples: Vec<(i64, f64)>,
}

/// Instant or range query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryKind {
    /// `eval instant at <t>`.
    Instant {
        /// Evaluation time, ms.
        at: i64,
    },
    /// `eval range from <start> to <end> step <step>`.
    Range {
        /// First step, ms.
        start: i64,
        /// Last step (at most), ms.
        end: i64,
        /// Step, ms.
        step: i64,
    },
}

/// What error an `eval` expects.
#[derive(Debug, Clone)]
pub enum FailMatch {
    /// Any error.
    Any,
    /// An error whose message is exactly this.
    Exact(String),
    /// An error whose message matches this regular expression (anywhere, as Go's
    /// `MatchString`).
    Regex(Regex),
}

impl FailMatch {
    fn matches(&self, message: &str) -> bool {
        match self {
            FailMatch::Any => true,
            FailMatch::Exact(m) => m == message,
            FailMatch::Regex(r) => r.is_match(message),
        }
    }
}

impl fmt::Display for FailMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FailMatch::Any => f.write_str("any error"),
            FailMatch::Exact(m) => write!(f, "the error {m:?}"),
            FailMatch::Regex(r) => write!(f, "an error matching /{r}/"),
        }
    }
}

/// An expected result series: labels and values in expansion notation (`None` = `_`).
#[derive(Debug, Clone)]
pub struct ExpectedSeries {
    /// Its line.
    pub line: usize,
    /// Its labels.
    pub labels: Labels,
    /// Its values: one for an instant vector, one per step for a matrix.
    pub values: Vec<Option<f64>>,
}

/// The expected result of an `eval`.
#[derive(Debug, Clone)]
pub enum Expected {
    /// A scalar.
    Scalar(f64),
    /// A string (`expect string "..."`).
    String(String),
    /// A vector or matrix with exactly these series (none: an empty result).
    Series(Vec<ExpectedSeries>),
}

/// An `eval` command.
#[derive(Debug, Clone)]
pub struct Eval {
    /// Line of the `eval` command.
    pub line: usize,
    /// The command line itself, for messages.
    pub header: String,
    /// The PromQL expression.
    pub expr: String,
    /// Instant or range, and when.
    pub kind: QueryKind,
    /// `Some` if the query must fail.
    pub fail: Option<FailMatch>,
    /// The result's order matters (instant vectors only).
    pub ordered: bool,
    /// For an instant query returning a range vector: the grid the expected values are
    /// laid on (`expect range vector from <start> to <end> step <step>`).
    pub range_vector: Option<(i64, i64, i64)>,
    /// The expected result.
    pub expected: Expected,
}

// ------------------------------------------------------------------------------ parsing

struct Lines<'a> {
    file: &'a str,
    lines: Vec<String>,
}

impl Lines<'_> {
    fn err(&self, index: usize, message: impl Into<String>) -> ScriptError {
        ScriptError {
            file: self.file.to_string(),
            line: index + 1,
            message: message.into(),
        }
    }
}

/// Parses a script. `file` names it in error messages.
pub fn parse(file: &str, text: &str) -> Result<Script, ScriptError> {
    // As Prometheus' getLines: lines are trimmed and a line starting with `#` is blank.
    let lines = Lines {
        file,
        lines: text
            .lines()
            .map(|l| {
                let l = l.trim();
                if l.starts_with('#') {
                    String::new()
                } else {
                    l.to_string()
                }
            })
            .collect(),
    };
    let mut commands = Vec::new();
    let mut i = 0;
    while i < lines.lines.len() {
        let line = lines.lines[i].as_str();
        if line.is_empty() {
            i += 1;
            continue;
        }
        let (word, _) = split_word(line);
        let word = word.to_ascii_lowercase();
        if word == "clear" {
            commands.push(Command::Clear);
            i += 1;
        } else if word == "load" || word.starts_with("load_") {
            let (next, load) = parse_load(&lines, i)?;
            commands.push(Command::Load(load));
            i = next;
        } else if word == "eval" || word.starts_with("eval_") {
            let (next, eval) = parse_eval(&lines, i)?;
            commands.push(Command::Eval(Box::new(eval)));
            i = next;
        } else {
            return Err(lines.err(
                i,
                format!(
                    "invalid command {line:?} (expected load, clear or eval; a blank or \
                     comment line ends the block of the command above)"
                ),
            ));
        }
    }
    Ok(Script {
        file: file.to_string(),
        commands,
    })
}

/// The first whitespace-separated word of `s` and the (left-trimmed) rest.
fn split_word(s: &str) -> (&str, &str) {
    let s = s.trim_start();
    match s.find(char::is_whitespace) {
        Some(p) => (&s[..p], s[p..].trim_start()),
        None => (s, ""),
    }
}

/// The lines of a command's block: from `start + 1` up to the next blank line.
fn block_end(lines: &Lines<'_>, start: usize) -> usize {
    let mut j = start + 1;
    while j < lines.lines.len() && !lines.lines[j].is_empty() {
        j += 1;
    }
    j
}

fn parse_load(lines: &Lines<'_>, i: usize) -> Result<(usize, Load), ScriptError> {
    let (word, rest) = split_word(&lines.lines[i]);
    if !word.eq_ignore_ascii_case("load") {
        return Err(lines.err(
            i,
            format!("unsupported command {word:?} (only `load <interval>`)"),
        ));
    }
    let (interval, extra) = split_word(rest);
    if interval.is_empty() || !extra.is_empty() {
        return Err(lines.err(i, "invalid load command: expected `load <interval>`"));
    }
    let interval = parse_duration(interval)
        .map_err(|e| lines.err(i, format!("invalid load interval: {e}")))?;
    let end = block_end(lines, i);
    let mut series = Vec::new();
    let mut seen: HashSet<Labels> = HashSet::new();
    for j in i + 1..end {
        let (labels, values) = parse_series_line(&lines.lines[j]).map_err(|e| lines.err(j, e))?;
        let labels = Labels::new(labels.iter().map(|(n, v)| (n.as_str(), v.as_str())))
            .map_err(|e| lines.err(j, format!("invalid series labels: {e}")))?;
        if !seen.insert(labels.clone()) {
            return Err(lines.err(j, format!("series {labels} appears twice in one load")));
        }
        let mut samples = Vec::new();
        for (k, v) in values.into_iter().enumerate() {
            if let Some(v) = v {
                let t = i64::try_from(k)
                    .ok()
                    .and_then(|k| k.checked_mul(interval))
                    .ok_or_else(|| lines.err(j, "sample time overflows"))?;
                samples.push((t, v));
            }
        }
        series.push(LoadSeries {
            line: j + 1,
            labels,
            samples,
        });
    }
    Ok((
        end,
        Load {
            line: i + 1,
            series,
        },
    ))
}

fn parse_eval(lines: &Lines<'_>, i: usize) -> Result<(usize, Eval), ScriptError> {
    let header = lines.lines[i].clone();
    let (word, rest) = split_word(&header);
    let modifier = match word.to_ascii_lowercase().as_str() {
        "eval" => "",
        "eval_fail" => "fail",
        "eval_ordered" => "ordered",
        "eval_warn" | "eval_info" => {
            return Err(lines.err(
                i,
                format!("{word}: this engine has no annotations (warnings, infos) to check"),
            ))
        }
        _ => return Err(lines.err(i, format!("invalid eval command {word:?}"))),
    };
    let usage = "invalid eval command: expected `eval[_fail|_ordered] instant at <time> \
                 <expr>` or `eval[_fail] range from <time> to <time> step <duration> <expr>`";
    let (kind_word, rest) = split_word(rest);
    let time = |s: &str, what: &str| {
        parse_duration(s).map_err(|e| lines.err(i, format!("invalid {what}: {e}")))
    };
    let (kind, expr) = match kind_word {
        "instant" => {
            let (at, rest) = split_word(rest);
            if at != "at" {
                return Err(lines.err(i, usage));
            }
            let (t, expr) = split_word(rest);
            (
                QueryKind::Instant {
                    at: time(t, "time")?,
                },
                expr,
            )
        }
        "range" => {
            let (from, rest) = split_word(rest);
            let (start, rest) = split_word(rest);
            let (to, rest) = split_word(rest);
            let (end, rest) = split_word(rest);
            let (step_word, rest) = split_word(rest);
            let (step, expr) = split_word(rest);
            if from != "from" || to != "to" || step_word != "step" {
                return Err(lines.err(i, usage));
            }
            let (start, end, step) = (
                time(start, "start time")?,
                time(end, "end time")?,
                time(step, "step")?,
            );
            if end < start {
                return Err(lines.err(i, "the end time is before the start time"));
            }
            if step <= 0 {
                return Err(lines.err(i, "the step must be positive"));
            }
            if modifier == "ordered" {
                return Err(lines.err(i, "eval_ordered is for instant queries only"));
            }
            (QueryKind::Range { start, end, step }, expr)
        }
        _ => return Err(lines.err(i, usage)),
    };
    if expr.is_empty() {
        return Err(lines.err(i, format!("{usage} (the expression is missing)")));
    }
    let mut eval = Eval {
        line: i + 1,
        header: header.clone(),
        expr: expr.to_string(),
        kind,
        fail: (modifier == "fail").then_some(FailMatch::Any),
        ordered: modifier == "ordered",
        range_vector: None,
        expected: Expected::Series(Vec::new()),
    };
    let is_instant = matches!(kind, QueryKind::Instant { .. });
    let mut series: Vec<ExpectedSeries> = Vec::new();
    let mut scalar: Option<f64> = None;
    let mut string: Option<String> = None;
    let mut explicit_fail = false;
    let end = block_end(lines, i);
    for j in i + 1..end {
        let line = lines.lines[j].as_str();
        if scalar.is_some() {
            return Err(lines.err(j, "nothing may follow an expected scalar result"));
        }
        if let Some(rest) = line.strip_prefix("expected_fail_message") {
            if modifier != "fail" {
                return Err(lines.err(j, "expected_fail_message needs eval_fail"));
            }
            eval.fail = Some(FailMatch::Exact(rest.trim().to_string()));
            explicit_fail = true;
            continue;
        }
        if let Some(rest) = line.strip_prefix("expected_fail_regexp") {
            if modifier != "fail" {
                return Err(lines.err(j, "expected_fail_regexp needs eval_fail"));
            }
            let re = Regex::new(rest.trim())
                .map_err(|e| lines.err(j, format!("invalid expected_fail_regexp: {e}")))?;
            eval.fail = Some(FailMatch::Regex(re));
            explicit_fail = true;
            continue;
        }
        if let Some(rest) = line.strip_prefix("expect range vector") {
            if !is_instant {
                return Err(lines.err(j, "expect range vector is for instant queries only"));
            }
            let (from, rest) = split_word(rest);
            let (start, rest) = split_word(rest);
            let (to, rest) = split_word(rest);
            let (end_t, rest) = split_word(rest);
            let (step_word, rest) = split_word(rest);
            let (step, rest) = split_word(rest);
            if from != "from" || to != "to" || step_word != "step" || !rest.is_empty() {
                return Err(lines.err(
                    j,
                    "invalid directive: expected `expect range vector from <time> to <time> \
                     step <duration>`",
                ));
            }
            let d = |s: &str| parse_duration(s).map_err(|e| lines.err(j, e));
            let (start, end_t, step) = (d(start)?, d(end_t)?, d(step)?);
            if end_t < start || step <= 0 {
                return Err(lines.err(j, "invalid range vector grid"));
            }
            eval.range_vector = Some((start, end_t, step));
            continue;
        }
        if let Some(rest) = line.strip_prefix("expect string") {
            if !is_instant {
                return Err(lines.err(j, "expect string is for instant queries only"));
            }
            string = Some(
                unquote(rest.trim())
                    .map_err(|e| lines.err(j, format!("invalid expected string: {e}")))?,
            );
            continue;
        }
        if split_word(line).0 == "expect" {
            match parse_expect(line).map_err(|e| lines.err(j, e))? {
                ExpectLine::Fail(m) => {
                    if explicit_fail {
                        return Err(lines.err(j, "only one expected error per eval"));
                    }
                    explicit_fail = true;
                    eval.fail = Some(m);
                }
                ExpectLine::Ordered => {
                    if !is_instant {
                        return Err(lines.err(j, "expect ordered is for instant queries only"));
                    }
                    eval.ordered = true;
                }
                ExpectLine::NoAnnotations => {}
            }
            continue;
        }
        if let Some(v) = parse_number(line) {
            scalar = Some(v);
            continue;
        }
        let (labels, values) = parse_series_line(line).map_err(|e| lines.err(j, e))?;
        let labels = Labels::build_unchecked(labels.iter().map(|(n, v)| (n.as_str(), v.as_str())))
            .ok_or_else(|| lines.err(j, "label too long"))?;
        if values.is_empty() {
            return Err(lines.err(j, "an expected series needs a value"));
        }
        if is_instant && eval.range_vector.is_none() && values.len() > 1 {
            return Err(lines.err(
                j,
                "an instant query's result has one value per series (for a range vector \
                 result, add `expect range vector from <t> to <t> step <d>` first)",
            ));
        }
        if is_instant && eval.range_vector.is_none() && values[0].is_none() {
            return Err(lines.err(j, "an instant query's expected value cannot be `_`"));
        }
        if let Some(dup) = series.iter().find(|s| s.labels == labels) {
            return Err(lines.err(
                j,
                format!("series {labels} is already expected on line {}", dup.line),
            ));
        }
        series.push(ExpectedSeries {
            line: j + 1,
            labels,
            values,
        });
    }
    let kinds = usize::from(scalar.is_some())
        + usize::from(string.is_some())
        + usize::from(!series.is_empty());
    if kinds > 1 {
        return Err(lines.err(
            i,
            "an eval expects a scalar, a string or series, not a mix of them",
        ));
    }
    if eval.fail.is_some() && kinds > 0 {
        return Err(lines.err(i, "an eval that expects an error cannot list results"));
    }
    if eval.fail.is_some() && eval.ordered {
        return Err(lines.err(i, "an eval cannot both fail and be ordered"));
    }
    eval.expected = match (scalar, string) {
        (Some(v), _) => Expected::Scalar(v),
        (_, Some(s)) => Expected::String(s),
        _ => Expected::Series(series),
    };
    if let Some((start, end_t, _)) = eval.range_vector {
        // As Prometheus: the query is evaluated at the grid's end, and every expected
        // value must fall on the grid.
        eval.kind = QueryKind::Instant { at: end_t };
        if let Expected::Series(s) = &eval.expected {
            let steps = grid_len(start, end_t, eval.range_vector.map_or(1, |g| g.2));
            if let Some(long) = s.iter().find(|s| s.values.len() > steps) {
                return Err(lines.err(
                    long.line - 1,
                    format!("more values than the grid's {steps} steps"),
                ));
            }
        }
    }
    if let (QueryKind::Range { start, end, step }, Expected::Series(s)) =
        (eval.kind, &eval.expected)
    {
        let steps = grid_len(start, end, step);
        if let Some(long) = s.iter().find(|s| s.values.len() > steps) {
            return Err(lines.err(
                long.line - 1,
                format!("more values than the query's {steps} steps"),
            ));
        }
    }
    Ok((end, eval))
}

fn grid_len(start: i64, end: i64, step: i64) -> usize {
    usize::try_from((end - start) / step + 1).unwrap_or(usize::MAX)
}

enum ExpectLine {
    Fail(FailMatch),
    Ordered,
    NoAnnotations,
}

/// `expect <type> [msg|regex: <text>]`.
fn parse_expect(line: &str) -> Result<ExpectLine, String> {
    let (_, rest) = split_word(line);
    let (kind, rest) = split_word(rest);
    let matcher = if rest.is_empty() {
        FailMatch::Any
    } else if let Some(m) = rest.strip_prefix("msg:") {
        FailMatch::Exact(m.trim().to_string())
    } else if let Some(r) = rest.strip_prefix("regex:") {
        FailMatch::Regex(Regex::new(r.trim()).map_err(|e| format!("invalid regex: {e}"))?)
    } else {
        return Err(format!(
            "invalid expect line {line:?}: expected `expect <type> [msg|regex: <text>]`"
        ));
    };
    match kind {
        "fail" => Ok(ExpectLine::Fail(matcher)),
        "ordered" | "no_warn" | "no_info" if !rest.is_empty() => {
            Err(format!("`expect {kind}` takes no message"))
        }
        "ordered" => Ok(ExpectLine::Ordered),
        "no_warn" | "no_info" => Ok(ExpectLine::NoAnnotations),
        "warn" | "info" => Err(format!(
            "`expect {kind}`: this engine has no annotations (warnings, infos) to check"
        )),
        _ => Err(format!(
            "invalid expect type {kind:?} (fail, ordered, warn, no_warn, info, no_info)"
        )),
    }
}

/// Go's `strconv.Unquote` for the forms a script uses: `"..."` with escapes or a
/// backquoted raw string.
fn unquote(s: &str) -> Result<String, String> {
    if let Some(raw) = s.strip_prefix('`').and_then(|r| r.strip_suffix('`')) {
        if raw.contains('`') {
            return Err("a backquoted string cannot contain a backquote".into());
        }
        return Ok(raw.to_string());
    }
    let mut chars = s.chars();
    let q = chars.next().ok_or("a quoted string is required")?;
    if q != '"' && q != '\'' {
        return Err(format!("{s:?} is not quoted"));
    }
    let (value, rest) = read_quoted(q, chars.as_str())?;
    if !rest.trim().is_empty() {
        return Err(format!("unexpected {rest:?} after the string"));
    }
    Ok(value)
}

/// Reads a quoted string's body up to the closing `q` (the opening quote already
/// consumed), with Go/PromQL escapes. Returns the value and what follows the quote.
fn read_quoted(q: char, s: &str) -> Result<(String, &str), String> {
    let mut out = String::new();
    let mut it = s.char_indices();
    while let Some((i, c)) = it.next() {
        if c == q {
            return Ok((out, &s[i + c.len_utf8()..]));
        }
        if c == '\n' {
            break;
        }
        if c != '\\' {
            out.push(c);
            continue;
        }
        let Some((_, e)) = it.next() else { break };
        match e {
            'n' => out.push('\n'),
            't' => out.push('\t'),
            'r' => out.push('\r'),
            'a' => out.push('\u{7}'),
            'b' => out.push('\u{8}'),
            'f' => out.push('\u{c}'),
            'v' => out.push('\u{b}'),
            '\\' | '"' | '\'' | '`' => out.push(e),
            'x' | 'u' | 'U' => {
                let n = match e {
                    'x' => 2,
                    'u' => 4,
                    _ => 8,
                };
                let mut code = 0u32;
                for _ in 0..n {
                    let d = it
                        .next()
                        .and_then(|(_, h)| h.to_digit(16))
                        .ok_or_else(|| format!("invalid \\{e} escape"))?;
                    code = code * 16 + d;
                }
                out.push(char::from_u32(code).ok_or_else(|| format!("invalid \\{e} escape"))?);
            }
            other => return Err(format!("unknown escape sequence \\{other}")),
        }
    }
    Err("unterminated quoted string".into())
}

/// A Prometheus duration (`model.ParseDuration`): `0`, or units in the order `y w d h m s
/// ms`, each at most once, e.g. `1h30m`, `90s`, `500ms`. Returns milliseconds.
pub fn parse_duration(s: &str) -> Result<i64, String> {
    const UNITS: [(&str, i64); 7] = [
        ("y", 365 * 24 * 3_600_000),
        ("w", 7 * 24 * 3_600_000),
        ("d", 24 * 3_600_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
        ("ms", 1),
    ];
    if s == "0" {
        return Ok(0);
    }
    let bad = || format!("not a valid duration: {s:?}");
    if s.is_empty() {
        return Err(bad());
    }
    let b = s.as_bytes();
    let (mut pos, mut total, mut last_unit) = (0usize, 0i64, None::<usize>);
    while pos < b.len() {
        let digits_start = pos;
        while pos < b.len() && b[pos].is_ascii_digit() {
            pos += 1;
        }
        let unit_start = pos;
        while pos < b.len() && b[pos].is_ascii_alphabetic() {
            pos += 1;
        }
        if digits_start == unit_start {
            return Err(bad());
        }
        let n: i64 = s[digits_start..unit_start].parse().map_err(|_| bad())?;
        let unit = &s[unit_start..pos];
        let u = UNITS
            .iter()
            .position(|(name, _)| *name == unit)
            .ok_or_else(bad)?;
        if last_unit.is_some_and(|l| u <= l) {
            return Err(bad());
        }
        last_unit = Some(u);
        total = n
            .checked_mul(UNITS[u].1)
            .and_then(|ms| total.checked_add(ms))
            .ok_or_else(bad)?;
    }
    Ok(total)
}

/// A bare number as an expected scalar result (Go's `strconv.ParseInt(s, 0, 64)`, then
/// `ParseFloat`): decimal, `0x`/`0o`/`0b`/leading-zero octal integers, floats, `Inf`,
/// `NaN`.
fn parse_number(s: &str) -> Option<f64> {
    let (neg, body) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let lower = body.to_ascii_lowercase();
    let radix = if let Some(h) = lower.strip_prefix("0x") {
        Some((h.to_string(), 16))
    } else if let Some(o) = lower.strip_prefix("0o") {
        Some((o.to_string(), 8))
    } else if let Some(bin) = lower.strip_prefix("0b") {
        Some((bin.to_string(), 2))
    } else if lower.len() > 1 && lower.starts_with('0') && lower.bytes().all(|c| c.is_ascii_digit())
    {
        Some((lower[1..].to_string(), 8))
    } else {
        None
    };
    if let Some((digits, radix)) = radix {
        if let Ok(n) = i64::from_str_radix(&digits, radix) {
            return Some(if neg { -(n as f64) } else { n as f64 });
        }
    }
    // Otherwise a float: digits, a point and an exponent, or Inf/Infinity/NaN in any case
    // (what Go's ParseFloat and Rust's parse agree on). Anything else is a series line.
    let ok_word = matches!(lower.as_str(), "inf" | "infinity" | "nan");
    if !ok_word
        && !body
            .bytes()
            .all(|c| c.is_ascii_digit() || b".eE+-".contains(&c))
    {
        return None;
    }
    s.parse::<f64>().ok()
}

/// A series line: `metric{label="value", ...} <values>` (either part of the selector may
/// be left out). Returns the label pairs and the expanded values (`None` = `_`). A `#`
/// outside quotes starts a comment, as in PromQL.
#[allow(clippy::type_complexity)]
fn parse_series_line(line: &str) -> Result<(Vec<(String, String)>, Vec<Option<f64>>), String> {
    let mut labels = Vec::new();
    let s = line.trim();
    let name_end = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .unwrap_or(s.len());
    let name = &s[..name_end];
    if !name.is_empty() {
        if name.as_bytes()[0].is_ascii_digit() {
            return Err(format!(
                "invalid series line {line:?}: expected a metric name"
            ));
        }
        labels.push(("__name__".to_string(), name.to_string()));
    }
    let mut rest = &s[name_end..];
    if let Some(body) = rest.strip_prefix('{') {
        rest = parse_label_set(body, &mut labels)?;
    } else if name.is_empty() {
        return Err(format!(
            "invalid series line {line:?}: expected `metric{{labels}} values`"
        ));
    }
    if !rest.is_empty() && !rest.starts_with(char::is_whitespace) && !rest.starts_with('#') {
        return Err(format!(
            "invalid series line {line:?}: expected whitespace before the values, found {rest:?}"
        ));
    }
    let rest = match rest.find('#') {
        Some(p) => &rest[..p],
        None => rest,
    };
    let mut values = Vec::new();
    for item in rest.split_whitespace() {
        expand_item(item, &mut values).map_err(|e| format!("invalid value {item:?}: {e}"))?;
    }
    Ok((labels, values))
}

/// Parses `label="value", ...}` (after the `{`), pushing the pairs. Returns the rest.
fn parse_label_set<'a>(mut s: &'a str, out: &mut Vec<(String, String)>) -> Result<&'a str, String> {
    loop {
        s = s.trim_start();
        if let Some(rest) = s.strip_prefix('}') {
            return Ok(rest);
        }
        let name_end = s
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(s.len());
        let name = &s[..name_end];
        if name.is_empty() || name.as_bytes()[0].is_ascii_digit() {
            return Err(format!("expected a label name or `}}` at {s:?}"));
        }
        s = s[name_end..].trim_start();
        s = s
            .strip_prefix('=')
            .ok_or_else(|| format!("expected `=` after label {name} (only `=` in a series)"))?
            .trim_start();
        let (value, rest) = match s.chars().next() {
            Some(q @ ('"' | '\'')) => read_quoted(q, &s[1..])?,
            Some('`') => {
                let body = &s[1..];
                let close = body.find('`').ok_or("unterminated backquoted string")?;
                (body[..close].to_string(), &body[close + 1..])
            }
            _ => return Err(format!("expected a quoted value for label {name}")),
        };
        if out.iter().any(|(n, _)| n == name) {
            return Err(format!("label {name} is given twice"));
        }
        out.push((name.to_string(), value));
        s = rest.trim_start();
        if let Some(rest) = s.strip_prefix(',') {
            s = rest;
        } else if !s.starts_with('}') {
            return Err(format!("expected `,` or `}}` at {s:?}"));
        }
    }
}

/// Reads a number at the start of `s`: optional sign (if `signed`), then digits with an
/// optional fraction and exponent, or `Inf` / `NaN`. Returns it and the rest.
fn read_number(s: &str, signed: bool) -> Result<(f64, &str), String> {
    let b = s.as_bytes();
    let mut pos = 0;
    if signed && matches!(b.first(), Some(b'+' | b'-')) {
        pos = 1;
    }
    let body = &s[pos..];
    let lower = body.to_ascii_lowercase();
    let word_len = if lower.starts_with("inf") || lower.starts_with("nan") {
        3
    } else {
        0
    };
    let end = if word_len > 0 {
        pos + word_len
    } else {
        let start = pos;
        while pos < b.len() && b[pos].is_ascii_digit() {
            pos += 1;
        }
        if pos < b.len() && b[pos] == b'.' {
            pos += 1;
            while pos < b.len() && b[pos].is_ascii_digit() {
                pos += 1;
            }
        }
        if pos == start || &s[start..pos] == "." {
            return Err(format!("expected a number at {s:?}"));
        }
        if pos < b.len() && (b[pos] == b'e' || b[pos] == b'E') {
            let mut p = pos + 1;
            if p < b.len() && (b[p] == b'+' || b[p] == b'-') {
                p += 1;
            }
            let digits = p;
            while p < b.len() && b[p].is_ascii_digit() {
                p += 1;
            }
            if p > digits {
                pos = p;
            }
        }
        pos
    };
    let v: f64 = s[..end]
        .parse()
        .map_err(|_| format!("expected a number at {s:?}"))?;
    Ok((v, &s[end..]))
}

/// Reads `x<count>`.
fn read_times(s: &str) -> Result<usize, String> {
    let digits = s
        .strip_prefix('x')
        .ok_or_else(|| format!("expected `x<count>` at {s:?}"))?;
    if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
        return Err(format!("invalid repetition count {digits:?}"));
    }
    let n: usize = digits
        .parse()
        .map_err(|_| format!("invalid repetition count {digits:?}"))?;
    if n > 1_000_000 {
        return Err(format!("repetition count {n} is too large"));
    }
    Ok(n)
}

/// Expands one item of a value sequence (see the module docs).
fn expand_item(item: &str, out: &mut Vec<Option<f64>>) -> Result<(), String> {
    if item == "_" {
        out.push(None);
        return Ok(());
    }
    if let Some(rest) = item.strip_prefix('_') {
        let n = read_times(rest)?;
        out.extend(std::iter::repeat_n(None, n));
        return Ok(());
    }
    let (first, rest) = if let Some(rest) = item.strip_prefix("stale") {
        (f64::from_bits(STALE_NAN_BITS), rest)
    } else {
        read_number(item, true)?
    };
    if rest.is_empty() {
        out.push(Some(first));
        return Ok(());
    }
    if rest.starts_with('x') {
        let n = read_times(rest)?;
        out.extend(std::iter::repeat_n(Some(first), n + 1));
        return Ok(());
    }
    if !rest.starts_with(['+', '-']) {
        return Err(format!("unexpected {rest:?}"));
    }
    let (delta, rest) = read_number(rest, true)?;
    let n = read_times(rest)?;
    let mut v = first;
    for _ in 0..=n {
        out.push(Some(v));
        v += delta;
    }
    Ok(())
}

// ------------------------------------------------------------------------------ running

/// Where the loaded samples live when queries run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Storage {
    /// In the head (in-memory chunks, logged to the WAL on disk).
    Head,
    /// Persisted to segment files on disk: before the first eval after a load, everything
    /// loaded since the last `clear` is written to a fresh database and persisted.
    Segments,
}

/// A failed `load` or `eval`.
#[derive(Debug, Clone)]
pub struct Failure {
    /// Line of the command.
    pub line: usize,
    /// The command line.
    pub header: String,
    /// What went wrong, expected vs got.
    pub message: String,
}

/// The test database of one run, rebuilt on `clear`.
struct Store {
    storage: Storage,
    /// Kept alive as long as `db`.
    dir: Option<tempfile::TempDir>,
    db: Option<Db>,
    /// Everything loaded since the last `clear` (used to rebuild in `Segments` mode).
    loaded: BTreeMap<Labels, Vec<(i64, f64)>>,
    dirty: bool,
}

/// Database options for a script. Script timestamps start at 0 (1970), so: the clock is
/// a [`ManualClock`] at 0 with no limit on how far ahead of it a sample may be; the
/// out-of-order window is unlimited, because a load appends one series after another
/// (each series' first samples are older than the previous series' newest, which the
/// default in-order rule would refuse) and a later `load` may add older samples; the head
/// is never persisted on its own, since persisting would refuse every later sample older
/// than what was persisted; and the log never fsyncs, as nothing here survives a crash.
fn db_options(block_range_ms: i64) -> Options {
    Options {
        clock: Arc::new(ManualClock::new(0)),
        max_future_ms: i64::MAX / 4,
        out_of_order_window_ms: i64::MAX / 4,
        background_maintenance: false,
        sync: tsdb_core::wal::SyncMode::Never,
        block_range_ms,
        ..Options::default()
    }
}

/// The segment length for persisting `loaded`: one hour, so a few hours of data span
/// several segment files, but no more than about 16 segments over the data's time span
/// (persisting walks every block range from the first sample to the last, and a script
/// may load samples years apart).
fn segment_range(loaded: &BTreeMap<Labels, Vec<(i64, f64)>>) -> i64 {
    const HOUR: i64 = 3_600_000;
    let times = loaded.values().flatten().map(|s| s.0);
    let (min, max) = times.fold((i64::MAX, i64::MIN), |(lo, hi), t| (lo.min(t), hi.max(t)));
    let span = max.saturating_sub(min).max(0);
    (span / 16 / HOUR + 1) * HOUR
}

impl Store {
    fn new(storage: Storage) -> Store {
        Store {
            storage,
            dir: None,
            db: None,
            loaded: BTreeMap::new(),
            dirty: false,
        }
    }

    fn clear(&mut self) {
        self.db = None;
        self.dir = None;
        self.loaded.clear();
        self.dirty = false;
    }

    /// Opens a fresh database in a new temporary directory.
    fn open(&mut self, block_range_ms: i64) -> Result<&Db, String> {
        self.db = None;
        let dir = tempfile::tempdir().map_err(|e| format!("cannot create a tempdir: {e}"))?;
        let db = Db::open(dir.path(), db_options(block_range_ms))
            .map_err(|e| format!("cannot open the database: {e}"))?;
        self.dir = Some(dir);
        Ok(self.db.insert(db))
    }

    fn load(&mut self, load: &Load) -> Result<(), String> {
        for s in &load.series {
            let all = self.loaded.entry(s.labels.clone()).or_default();
            all.extend_from_slice(&s.samples);
        }
        self.dirty = true;
        if self.storage == Storage::Segments {
            return Ok(());
        }
        if self.db.is_none() {
            self.open(tsdb_core::DEFAULT_BLOCK_RANGE_MS)?;
        }
        let Some(db) = &self.db else {
            return Err("no database".into());
        };
        for s in &load.series {
            append(db, &s.labels, &s.samples).map_err(|e| format!("line {}: {e}", s.line))?;
        }
        Ok(())
    }

    /// The database to query, (re)built as needed.
    fn db(&mut self) -> Result<&Db, String> {
        if self.storage == Storage::Segments && (self.dirty || self.db.is_none()) {
            self.dirty = false;
            let loaded = std::mem::take(&mut self.loaded);
            let result = (|| {
                let db = self.open(segment_range(&loaded))?;
                for (labels, samples) in &loaded {
                    let mut samples = samples.clone();
                    samples.sort_by_key(|s| s.0);
                    append(db, labels, &samples)?;
                }
                db.persist_all()
                    .map_err(|e| format!("persist_all failed: {e}"))?;
                let stats = db.stats().map_err(|e| format!("stats failed: {e}"))?;
                if stats.head_samples > 0 {
                    return Err(format!(
                        "persist_all left {} samples in the head",
                        stats.head_samples
                    ));
                }
                Ok::<(), String>(())
            })();
            self.loaded = loaded;
            result?;
        }
        if self.db.is_none() {
            self.open(tsdb_core::DEFAULT_BLOCK_RANGE_MS)?;
        }
        self.db.as_ref().ok_or_else(|| "no database".to_string())
    }
}

fn append(db: &Db, labels: &Labels, samples: &[(i64, f64)]) -> Result<(), String> {
    let mut batch = Batch::new();
    let s = batch.series(labels.clone());
    for &(t, v) in samples {
        batch.sample(s, t, v);
    }
    let outcome = db
        .append_batch(&batch)
        .map_err(|e| format!("appending {labels} failed: {e}"))?;
    if let Some(r) = outcome.rejected.first() {
        return Err(format!(
            "the database refused a sample of {labels} ({} refused in all): {}",
            outcome.rejected.len(),
            r.error
        ));
    }
    Ok(())
}

/// Runs a script with the given storage, returning every failed command (empty: all
/// passed).
pub fn run(script: &Script, storage: Storage) -> Vec<Failure> {
    let engine = Engine::default();
    let mut store = Store::new(storage);
    let mut failures = Vec::new();
    for cmd in &script.commands {
        match cmd {
            Command::Clear => store.clear(),
            Command::Load(load) => {
                if let Err(message) = store.load(load) {
                    failures.push(Failure {
                        line: load.line,
                        header: "load".into(),
                        message,
                    });
                }
            }
            Command::Eval(eval) => {
                let result = store.db().and_then(|db| run_eval(&engine, db, eval));
                if let Err(message) = result {
                    failures.push(Failure {
                        line: eval.line,
                        header: eval.header.clone(),
                        message,
                    });
                }
            }
        }
    }
    failures
}

fn run_eval(engine: &Engine, db: &Db, eval: &Eval) -> Result<(), String> {
    let result = match eval.kind {
        QueryKind::Instant { at } => engine.instant_query(db, &eval.expr, at),
        QueryKind::Range { start, end, step } => {
            engine.range_query(db, &eval.expr, start, end, step)
        }
    };
    let value = match (result, &eval.fail) {
        (Err(e), Some(m)) => {
            let message = e.to_string();
            return if m.matches(&message) {
                Ok(())
            } else {
                Err(format!("expected {m}, got the error: {message}"))
            };
        }
        (Err(e), None) => return Err(format!("the query failed: {e}")),
        (Ok(v), Some(m)) => {
            return Err(format!(
                "expected {m}, but the query succeeded with:\n{}",
                indent(&show_value(&v, eval))
            ))
        }
        (Ok(v), None) => v,
    };
    compare(eval, &value, eval.ordered).map_err(|diff| report(eval, &value, &diff))?;

    // As Prometheus' runner: an instant query must give the same result at the middle
    // step of a range query around it (`@ start()`/`@ end()` and friends resolve
    // differently there, so such queries are left out).
    let QueryKind::Instant { at } = eval.kind else {
        return Ok(());
    };
    let query_context = ["start()", "end()", "range()", "step()"];
    if eval.range_vector.is_some()
        || matches!(eval.expected, Expected::String(_))
        || query_context.iter().any(|f| eval.expr.contains(f))
    {
        return Ok(());
    }
    let ranged = engine
        .range_query(db, &eval.expr, at - 60_000, at + 60_000, 60_000)
        .map_err(|e| format!("the query failed in range mode ({at}ms ± 1m): {e}"))?;
    let Value::Matrix(series) = &ranged else {
        return Err(format!(
            "range mode returned a {}, not a matrix",
            ranged.result_type()
        ));
    };
    check_sorted(series).map_err(|d| format!("range mode: {d}"))?;
    let vector: Vec<InstantSample> = series
        .iter()
        .filter_map(|s| {
            s.points.iter().find(|p| p.t == at).map(|p| InstantSample {
                labels: s.labels.clone(),
                t: at,
                v: p.v,
            })
        })
        .collect();
    let as_instant = match value {
        Value::Scalar { .. } => match vector.first() {
            Some(s) => Value::Scalar { t: at, v: s.v },
            None => Value::Vector(Vec::new()),
        },
        _ => Value::Vector(vector),
    };
    compare(eval, &as_instant, false).map_err(|diff| {
        format!(
            "the instant result is right, but the same query as a range query from {} to {} \
             step 1m differs at {}:\n{}",
            show_time(at - 60_000),
            show_time(at + 60_000),
            show_time(at),
            report(eval, &as_instant, &diff)
        )
    })
}

/// The failure message: the first difference, then expected and got in full.
fn report(eval: &Eval, got: &Value, diff: &str) -> String {
    format!(
        "{diff}\n  expected:\n{}\n  got:\n{}",
        indent(&show_expected(eval)),
        indent(&show_value(got, eval))
    )
}

fn indent(s: &str) -> String {
    if s.is_empty() {
        return "    (nothing)".to_string();
    }
    s.lines()
        .map(|l| format!("    {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Prometheus' `almost.Equal`, with [`EPSILON`]: a staleness marker equals only a
/// staleness marker, NaN equals NaN, infinities only themselves.
pub fn values_match(expected: f64, got: f64) -> bool {
    let (es, gs) = (
        expected.to_bits() == STALE_NAN_BITS,
        got.to_bits() == STALE_NAN_BITS,
    );
    if es || gs {
        return es && gs;
    }
    if expected.is_nan() && got.is_nan() {
        return true;
    }
    if expected == got {
        return true;
    }
    if expected.is_nan() || got.is_nan() || expected.is_infinite() || got.is_infinite() {
        return false;
    }
    let abs_sum = expected.abs() + got.abs();
    let diff = (expected - got).abs();
    if expected == 0.0 || got == 0.0 || abs_sum < f64::MIN_POSITIVE {
        return diff < EPSILON * f64::MIN_POSITIVE;
    }
    diff / abs_sum.min(f64::MAX) < EPSILON
}

fn show_float(v: f64) -> String {
    if v.to_bits() == STALE_NAN_BITS {
        "stale".into()
    } else {
        format_float(v)
    }
}

fn show_time(ms: i64) -> String {
    if ms % 60_000 == 0 {
        format!("{}m", ms / 60_000)
    } else if ms % 1000 == 0 {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

fn show_expected(eval: &Eval) -> String {
    match &eval.expected {
        Expected::Scalar(v) => format!("scalar {}", show_float(*v)),
        Expected::String(s) => format!("string {s:?}"),
        Expected::Series(series) => series
            .iter()
            .map(|s| {
                let values: Vec<String> = s
                    .values
                    .iter()
                    .map(|v| v.map_or("_".to_string(), show_float))
                    .collect();
                format!("{} {}", s.labels, values.join(" "))
            })
            .collect::<Vec<_>>()
            .join("\n"),
    }
}

/// The grid a matrix result is laid on: a range query's steps or an instant query's
/// `expect range vector`.
fn grid(eval: &Eval) -> Option<(i64, i64, i64)> {
    match eval.kind {
        QueryKind::Range { start, end, step } => Some((start, end, step)),
        QueryKind::Instant { .. } => eval.range_vector,
    }
}

fn show_value(v: &Value, eval: &Eval) -> String {
    match v {
        Value::Scalar { v, .. } => format!("scalar {}", show_float(*v)),
        Value::String { s, .. } => format!("string {s:?}"),
        Value::Vector(samples) => samples
            .iter()
            .map(|s| format!("{} {}", s.labels, show_float(s.v)))
            .collect::<Vec<_>>()
            .join("\n"),
        Value::Matrix(series) => series
            .iter()
            .map(|s| format!("{} {}", s.labels, show_points(s, grid(eval))))
            .collect::<Vec<_>>()
            .join("\n"),
    }
}

/// A matrix series' points in expansion notation on the grid when they all fall on it
/// (`1 2 _ 4`), else as `value@time`.
fn show_points(s: &Series, grid: Option<(i64, i64, i64)>) -> String {
    if let Some((start, end, step)) = grid {
        let on_grid = s
            .points
            .iter()
            .all(|p| p.t >= start && p.t <= end && (p.t - start) % step == 0);
        if on_grid {
            let mut out: Vec<String> = Vec::new();
            let mut next = start;
            for p in &s.points {
                while next < p.t {
                    out.push("_".into());
                    next += step;
                }
                out.push(show_float(p.v));
                next += step;
            }
            return out.join(" ");
        }
    }
    s.points
        .iter()
        .map(|p| format!("{}@{}", show_float(p.v), show_time(p.t)))
        .collect::<Vec<_>>()
        .join(" ")
}

fn check_sorted(series: &[Series]) -> Result<(), String> {
    for w in series.windows(2) {
        if w[0].labels > w[1].labels {
            return Err(format!(
                "a matrix must be sorted by labels, but {} comes before {}",
                w[0].labels, w[1].labels
            ));
        }
    }
    Ok(())
}

/// Compares a result with the expectation; `Err` describes the first difference.
fn compare(eval: &Eval, got: &Value, ordered: bool) -> Result<(), String> {
    match (&eval.expected, got) {
        (Expected::Scalar(e), Value::Scalar { v, .. }) => {
            if values_match(*e, *v) {
                Ok(())
            } else {
                Err(format!(
                    "expected scalar {}, got {}",
                    show_float(*e),
                    show_float(*v)
                ))
            }
        }
        (Expected::String(e), Value::String { s, .. }) => {
            if e == s {
                Ok(())
            } else {
                Err(format!("expected string {e:?}, got {s:?}"))
            }
        }
        (Expected::Series(expected), Value::Vector(samples)) => {
            compare_vector(expected, samples, ordered)
        }
        (Expected::Series(expected), Value::Matrix(series)) => {
            let Some((start, end, step)) = grid(eval) else {
                return Err(
                    "the instant query returned a range vector (matrix); expect one \
                            with `expect range vector from <t> to <t> step <d>`"
                        .into(),
                );
            };
            compare_matrix(expected, series, start, end, step)
        }
        (e, g) => Err(format!(
            "expected {}, got a {}",
            match e {
                Expected::Scalar(_) => "a scalar",
                Expected::String(_) => "a string",
                Expected::Series(_) => "an instant vector or matrix",
            },
            g.result_type()
        )),
    }
}

fn compare_vector(
    expected: &[ExpectedSeries],
    got: &[InstantSample],
    ordered: bool,
) -> Result<(), String> {
    let mut seen: HashSet<&Labels> = HashSet::new();
    for (pos, s) in got.iter().enumerate() {
        let Some((epos, e)) = expected
            .iter()
            .enumerate()
            .find(|(_, e)| e.labels == s.labels)
        else {
            return Err(format!(
                "unexpected series {} {} in the result",
                s.labels,
                show_float(s.v)
            ));
        };
        if !seen.insert(&s.labels) {
            return Err(format!("series {} appears twice in the result", s.labels));
        }
        if ordered && epos != pos {
            return Err(format!(
                "series {} is at position {} of the result, expected at {}",
                s.labels,
                pos + 1,
                epos + 1
            ));
        }
        let ev = e.values.first().copied().flatten().unwrap_or(f64::NAN);
        if !values_match(ev, s.v) {
            return Err(format!(
                "{}: expected {}, got {}",
                s.labels,
                show_float(ev),
                show_float(s.v)
            ));
        }
    }
    if let Some(missing) = expected.iter().find(|e| !seen.contains(&e.labels)) {
        return Err(format!(
            "expected series {} (line {}) is missing from the result",
            missing.labels, missing.line
        ));
    }
    Ok(())
}

fn compare_matrix(
    expected: &[ExpectedSeries],
    got: &[Series],
    start: i64,
    end: i64,
    step: i64,
) -> Result<(), String> {
    check_sorted(got)?;
    let mut seen: HashSet<&Labels> = HashSet::new();
    for s in got {
        let Some(e) = expected.iter().find(|e| e.labels == s.labels) else {
            return Err(format!(
                "unexpected series {} {} in the result",
                s.labels,
                show_points(s, Some((start, end, step)))
            ));
        };
        if !seen.insert(&s.labels) {
            return Err(format!("series {} appears twice in the result", s.labels));
        }
        let want: Vec<(i64, f64)> = e
            .values
            .iter()
            .enumerate()
            .filter_map(|(i, v)| v.map(|v| (start + i as i64 * step, v)))
            .collect();
        for (k, (w, p)) in want.iter().zip(&s.points).enumerate() {
            if w.0 != p.t {
                return Err(format!(
                    "{}: point {} is at {}, expected at {}",
                    s.labels,
                    k + 1,
                    show_time(p.t),
                    show_time(w.0)
                ));
            }
            if !values_match(w.1, p.v) {
                return Err(format!(
                    "{} at {}: expected {}, got {}",
                    s.labels,
                    show_time(p.t),
                    show_float(w.1),
                    show_float(p.v)
                ));
            }
        }
        if want.len() != s.points.len() {
            return Err(format!(
                "{}: expected {} points, got {}",
                s.labels,
                want.len(),
                s.points.len()
            ));
        }
    }
    if let Some(missing) = expected.iter().find(|e| !seen.contains(&e.labels)) {
        return Err(format!(
            "expected series {} (line {}) is missing from the result",
            missing.labels, missing.line
        ));
    }
    Ok(())
}
