//! Prometheus rule files (`model/rulefmt`): the YAML read into [`RuleFile`]s of
//! [`GroupSpec`]s and [`RuleSpec`]s, and every check `rulefmt.Parse` makes, with its error
//! texts, so that `tsdb check rules` prints what `promtool check rules` prints.
//!
//! The YAML is read with serde-saphyr, as the rest of the workspace reads YAML; positions
//! come from its `Spanned` values. Prometheus 2.42's fields are read, plus `query_offset`
//! (Prometheus 2.53), which 2.42 refuses as an unknown field.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::path::Path;

use serde::Deserialize;
use serde_saphyr::Spanned;

use crate::duration::parse_duration;
use crate::template::{Template, TemplateError};

/// One rule file, read and checked.
#[derive(Clone, Debug, PartialEq)]
pub struct RuleFile {
    /// The path as given (it names the file in errors and in group keys).
    pub path: String,
    /// The groups, in file order.
    pub groups: Vec<GroupSpec>,
}

impl RuleFile {
    /// How many rules the file defines, as `promtool check rules` counts them.
    pub fn rule_count(&self) -> usize {
        self.groups.iter().map(|g| g.rules.len()).sum()
    }
}

/// A rule group as written in the file.
#[derive(Clone, Debug, PartialEq)]
pub struct GroupSpec {
    /// The group's name, unique within its file.
    pub name: String,
    /// `interval`, in milliseconds, when set and not zero (otherwise the global
    /// evaluation interval applies).
    pub interval_ms: Option<i64>,
    /// `limit`: the most alerts (alerting rules) or series (recording rules) one rule may
    /// produce; 0 for none.
    pub limit: usize,
    /// `query_offset` in milliseconds, when set: rules query `t - offset`.
    pub query_offset_ms: Option<i64>,
    /// The rules, in evaluation order.
    pub rules: Vec<RuleSpec>,
    /// The line of the group in the file (1-based).
    pub line: u32,
}

/// Whether a rule records or alerts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuleKind {
    /// `alert:` — an alerting rule.
    Alerting,
    /// `record:` — a recording rule.
    Recording,
}

/// One rule as written in the file.
#[derive(Clone, Debug, PartialEq)]
pub struct RuleSpec {
    /// Alerting or recording.
    pub kind: RuleKind,
    /// The alert name or the recorded metric name.
    pub name: String,
    /// The PromQL expression, as written.
    pub expr: String,
    /// `for`, in milliseconds (alerting rules).
    pub for_ms: i64,
    /// `keep_firing_for`, in milliseconds (alerting rules).
    pub keep_firing_for_ms: i64,
    /// `labels`, sorted by name.
    pub labels: BTreeMap<String, String>,
    /// `annotations` (alerting rules), sorted by name.
    pub annotations: BTreeMap<String, String>,
    /// The line of the rule's name in the file (1-based; 0 when unknown).
    pub line: u32,
}

/// Where in a rule an error is, as rulefmt prints it: no position, one node or two.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Position {
    /// No node (label and template errors).
    None,
    /// One node's `line:column` (0:0 for a field that is missing).
    One(u32, u32),
    /// Two nodes (`record` and `alert` both set).
    Two((u32, u32), (u32, u32)),
}

/// What is wrong in a rule file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The file could not be read.
    Io(String),
    /// The YAML does not parse, or does not have the shape of a rule file.
    Yaml(String),
    /// A group-level check (empty or repeated name) at the group's `line:column`.
    Group {
        /// Line of the group.
        line: u32,
        /// Column of the group.
        column: u32,
        /// The message, in rulefmt's words.
        message: String,
    },
    /// A rule-level check.
    Rule {
        /// The group's name.
        group: String,
        /// The rule's index in its group, from 1.
        index: usize,
        /// The rule's `alert` or `record` name (empty when neither).
        name: String,
        /// Where.
        position: Position,
        /// The message, in rulefmt's words.
        message: String,
    },
}

/// One error in a rule file. Its `Display` is `promtool check rules`'s line for it:
/// `FILE: LINE:COL: group "g", rule 2, "name": message`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleFileError {
    /// The file, as given.
    pub file: String,
    /// What is wrong.
    pub kind: ErrorKind,
}

impl fmt::Display for RuleFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.file)?;
        match &self.kind {
            ErrorKind::Io(m) | ErrorKind::Yaml(m) => f.write_str(m),
            ErrorKind::Group {
                line,
                column,
                message,
            } => write!(f, "{line}:{column}: {message}"),
            ErrorKind::Rule {
                group,
                index,
                name,
                position,
                message,
            } => {
                match position {
                    Position::None => {}
                    Position::One(l, c) => write!(f, "{l}:{c}: ")?,
                    Position::Two((l, c), (l2, c2)) => write!(f, "{l}:{c}: {l2}:{c2}: ")?,
                }
                write!(
                    f,
                    "group {}, rule {index}, {}: {message}",
                    go_quote(group),
                    go_quote(name)
                )
            }
        }
    }
}

impl std::error::Error for RuleFileError {}

/// Go's `%q` for the strings rule errors quote: Rust's escaping, which agrees with Go's
/// for printable text, the case in rule files.
pub(crate) fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

// -----------------------------------------------------------------------------------
// The YAML's shape. Unknown fields are refused, as rulefmt's `KnownFields(true)`.

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    groups: Option<Vec<Spanned<RawGroup>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGroup {
    #[serde(default)]
    name: Option<ScalarText>,
    #[serde(default)]
    interval: Option<ScalarText>,
    #[serde(default)]
    limit: Option<i64>,
    #[serde(default)]
    query_offset: Option<ScalarText>,
    #[serde(default)]
    rules: Option<Vec<RawRule>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    #[serde(default)]
    record: Option<Spanned<ScalarText>>,
    #[serde(default)]
    alert: Option<Spanned<ScalarText>>,
    #[serde(default)]
    expr: Option<Spanned<ScalarText>>,
    #[serde(default, rename = "for")]
    for_: Option<ScalarText>,
    #[serde(default)]
    keep_firing_for: Option<ScalarText>,
    #[serde(default)]
    labels: Option<BTreeMap<String, ScalarText>>,
    #[serde(default)]
    annotations: Option<BTreeMap<String, ScalarText>>,
}

/// A YAML scalar read as text, whatever it looks like (`severity: 1`, `page: true`), as Go's
/// yaml decodes a scalar into a `string`. `null` reads as the empty string.
#[derive(Clone, Debug, Default, PartialEq)]
struct ScalarText(String);

impl<'de> Deserialize<'de> for ScalarText {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = ScalarText;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<ScalarText, E> {
                Ok(ScalarText(v.to_string()))
            }
            fn visit_string<E: serde::de::Error>(self, v: String) -> Result<ScalarText, E> {
                Ok(ScalarText(v))
            }
            fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<ScalarText, E> {
                Ok(ScalarText(v.to_string()))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<ScalarText, E> {
                Ok(ScalarText(v.to_string()))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<ScalarText, E> {
                Ok(ScalarText(v.to_string()))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<ScalarText, E> {
                Ok(ScalarText(v.to_string()))
            }
            fn visit_unit<E: serde::de::Error>(self) -> Result<ScalarText, E> {
                Ok(ScalarText(String::new()))
            }
            fn visit_none<E: serde::de::Error>(self) -> Result<ScalarText, E> {
                Ok(ScalarText(String::new()))
            }
        }
        // A string is asked for: the YAML deserializer then hands over the scalar's text
        // as written (`1.50` stays `1.50`).
        d.deserialize_string(V)
    }
}

// -----------------------------------------------------------------------------------

/// Reads and checks the rule file at `path`: rulefmt's `ParseFile`.
pub fn load_rule_file(path: &Path) -> Result<RuleFile, Vec<RuleFileError>> {
    let name = path.display().to_string();
    match std::fs::read(path) {
        Ok(bytes) => parse_rule_file(&name, &bytes),
        Err(e) => {
            // Go opens, then reads: a directory opens and fails at the read.
            let op = if path.is_dir() { "read" } else { "open" };
            Err(vec![RuleFileError {
                kind: ErrorKind::Io(format!("{op} {name}: {}", io_message(&e))),
                file: name,
            }])
        }
    }
}

/// Go's wording for the common file errors.
fn io_message(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        std::io::ErrorKind::IsADirectory => "is a directory".into(),
        _ => e.to_string(),
    }
}

/// Reads and checks rule file text: rulefmt's `Parse`, every error found (not only the
/// first), each naming `file`.
pub fn parse_rule_file(file: &str, content: &[u8]) -> Result<RuleFile, Vec<RuleFileError>> {
    let err = |kind| RuleFileError {
        file: file.to_string(),
        kind,
    };
    let text = match std::str::from_utf8(content) {
        Ok(t) => t,
        Err(e) => {
            return Err(vec![err(ErrorKind::Yaml(format!(
                "yaml: invalid Unicode at byte {}",
                e.valid_up_to()
            )))])
        }
    };
    let raw: RawFile = if is_empty_document(text) {
        RawFile::default()
    } else {
        match serde_saphyr::from_str::<Option<RawFile>>(text) {
            Ok(r) => r.unwrap_or_default(),
            Err(e) => return Err(vec![err(ErrorKind::Yaml(yaml_message(&e, text)))]),
        }
    };

    let mut errors = Vec::new();
    let mut groups = Vec::new();
    let mut seen = HashSet::new();
    for g in raw.groups.unwrap_or_default() {
        let (line, column) = (g.referenced.line() as u32, g.referenced.column() as u32);
        let raw = g.value;
        let name = raw.name.map(|n| n.0).unwrap_or_default();
        if name.is_empty() {
            errors.push(err(ErrorKind::Group {
                line,
                column,
                message: "Groupname must not be empty".into(),
            }));
        }
        if !seen.insert(name.clone()) {
            errors.push(err(ErrorKind::Group {
                line,
                column,
                message: format!("groupname: \"{name}\" is repeated in the same file"),
            }));
        }
        // Durations are decoded before validation in rulefmt: a bad one stops the file.
        let duration = |v: Option<ScalarText>| -> Result<Option<i64>, String> {
            v.map(|s| parse_duration(&s.0)).transpose()
        };
        let stop = |m: String| vec![err(ErrorKind::Yaml(m))];
        let interval_ms = duration(raw.interval).map_err(stop)?.filter(|&ms| ms != 0);
        let query_offset_ms = duration(raw.query_offset).map_err(stop)?;
        let mut rules = Vec::new();
        for (i, r) in raw.rules.unwrap_or_default().into_iter().enumerate() {
            let for_ms = duration(r.for_.clone()).map_err(stop)?.unwrap_or(0);
            let keep_ms = duration(r.keep_firing_for.clone())
                .map_err(stop)?
                .unwrap_or(0);
            let (spec, problems) = check_rule(r, for_ms, keep_ms);
            let rule_name = spec.name.clone();
            for (position, message) in problems {
                errors.push(err(ErrorKind::Rule {
                    group: name.clone(),
                    index: i + 1,
                    name: rule_name.clone(),
                    position,
                    message,
                }));
            }
            rules.push(spec);
        }
        groups.push(GroupSpec {
            name,
            interval_ms,
            limit: usize::try_from(raw.limit.unwrap_or(0)).unwrap_or(0),
            query_offset_ms,
            rules,
            line,
        });
    }
    if errors.is_empty() {
        Ok(RuleFile {
            path: file.to_string(),
            groups,
        })
    } else {
        Err(errors)
    }
}

/// Whether the text holds no YAML document at all (only blanks and comments), which
/// rulefmt reads as a file without groups.
fn is_empty_document(text: &str) -> bool {
    text.lines().all(|l| {
        let t = l.trim();
        t.is_empty() || t.starts_with('#') || t == "---" || t == "..."
    })
}

/// The deserializer's error in yaml.v3's words where the two agree on what is wrong (an
/// unknown field, a scalar of the wrong type: `yaml: unmarshal errors:\n  line 3: field
/// foo not found in type rulefmt.RuleGroup`), otherwise `yaml: line N: message`.
fn yaml_message(e: &serde_saphyr::Error, text: &str) -> String {
    let e = e.without_snippet();
    match e {
        serde_saphyr::Error::SerdeUnknownField {
            field,
            expected,
            location,
        } => {
            let ty = if expected.contains(&"groups") {
                "rulefmt.RuleGroups"
            } else if expected.contains(&"rules") {
                "rulefmt.RuleGroup"
            } else {
                "rulefmt.RuleNode"
            };
            format!(
                "yaml: unmarshal errors:\n  line {}: field {field} not found in type {ty}",
                location.line()
            )
        }
        serde_saphyr::Error::InvalidScalar { ty, location } if ty.starts_with('i') => {
            let token = token_at(text, location.line(), location.column());
            let tag = if token.parse::<f64>().is_ok() {
                "!!float"
            } else if matches!(token, "true" | "false") {
                "!!bool"
            } else {
                "!!str"
            };
            format!(
                "yaml: unmarshal errors:\n  line {}: cannot unmarshal {tag} `{token}` into int",
                location.line()
            )
        }
        _ => {
            let rendered = e.to_string();
            let first = rendered.lines().next().unwrap_or("").trim();
            let message = strip_location(first.strip_prefix("error: ").unwrap_or(first));
            let message = message
                .rfind(" at line ")
                .map_or(message, |i| &message[..i]);
            match e.location() {
                Some(loc) if loc.line() > 0 => format!("yaml: line {}: {message}", loc.line()),
                _ => format!("yaml: {message}"),
            }
        }
    }
}

/// The plain scalar starting at 1-based `line` and `column` of `text`.
fn token_at(text: &str, line: u64, column: u64) -> &str {
    let Some(l) = text.lines().nth(line.saturating_sub(1) as usize) else {
        return "";
    };
    let start = l
        .char_indices()
        .nth(column.saturating_sub(1) as usize)
        .map_or(l.len(), |(i, _)| i);
    let rest = &l[start..];
    let end = rest.find(" #").unwrap_or(rest.len());
    rest[..end].trim()
}

/// The message without the `line L column C: ` the prefix already says.
fn strip_location(m: &str) -> &str {
    if let Some(rest) = m.strip_prefix("line ") {
        if let Some(i) = rest.find(": ") {
            if rest[..i]
                .split(' ')
                .all(|w| w == "column" || w.chars().all(|c| c.is_ascii_digit()))
            {
                return &rest[i + 2..];
            }
        }
    }
    m
}

/// rulefmt's `RuleNode.Validate` for one rule: the rule as read and its problems in
/// rulefmt's order (labels and annotations by name, where Go's map order is random).
fn check_rule(r: RawRule, for_ms: i64, keep_ms: i64) -> (RuleSpec, Vec<(Position, String)>) {
    let pos = |s: &Option<Spanned<ScalarText>>| match s {
        Some(s) => (s.referenced.line() as u32, s.referenced.column() as u32),
        None => (0, 0),
    };
    let text =
        |s: &Option<Spanned<ScalarText>>| s.as_ref().map(|s| s.value.0.clone()).unwrap_or_default();
    let record = text(&r.record);
    let alert = text(&r.alert);
    let expr = text(&r.expr);
    let (record_pos, alert_pos, expr_pos) = (pos(&r.record), pos(&r.alert), pos(&r.expr));
    let labels: BTreeMap<String, String> = r
        .labels
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, v.0))
        .collect();
    let annotations: BTreeMap<String, String> = r
        .annotations
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, v.0))
        .collect();

    let mut problems = Vec::new();
    let one = |(l, c): (u32, u32)| Position::One(l, c);
    if !record.is_empty() && !alert.is_empty() {
        problems.push((
            Position::Two(record_pos, alert_pos),
            "only one of 'record' and 'alert' must be set".to_string(),
        ));
    }
    if record.is_empty() && alert.is_empty() {
        problems.push((
            one(record_pos),
            "one of 'record' or 'alert' must be set".to_string(),
        ));
    }
    if expr.is_empty() {
        problems.push((
            one(expr_pos),
            "field 'expr' must be set in rule".to_string(),
        ));
    } else if let Err(e) = tsdb_query::parse(&expr) {
        problems.push((
            one(expr_pos),
            format!("could not parse expression: {}", promql_error(&e)),
        ));
    }
    if !record.is_empty() {
        if !annotations.is_empty() {
            problems.push((
                one(record_pos),
                "invalid field 'annotations' in recording rule".to_string(),
            ));
        }
        if for_ms != 0 {
            problems.push((
                one(record_pos),
                "invalid field 'for' in recording rule".to_string(),
            ));
        }
        if keep_ms != 0 {
            problems.push((
                one(record_pos),
                "invalid field 'keep_firing_for' in recording rule".to_string(),
            ));
        }
        if !tsdb_index::is_valid_metric_name(&record) {
            problems.push((
                one(record_pos),
                format!("invalid recording rule name: {record}"),
            ));
        }
    }
    for k in labels.keys() {
        if !tsdb_index::is_valid_label_name(k) || k == "__name__" {
            problems.push((Position::None, format!("invalid label name: {k}")));
        }
    }
    for k in annotations.keys() {
        if !tsdb_index::is_valid_label_name(k) {
            problems.push((Position::None, format!("invalid annotation name: {k}")));
        }
    }
    if !alert.is_empty() {
        let template_name = format!("__alert_{alert}");
        for (k, v) in &labels {
            if let Err(e) = Template::parse(&template_name, v) {
                problems.push((
                    Position::None,
                    format!("label {}: {}", go_quote(k), parse_test_error(&e)),
                ));
            }
        }
        for (k, v) in &annotations {
            if let Err(e) = Template::parse(&template_name, v) {
                problems.push((
                    Position::None,
                    format!("annotation {}: {}", go_quote(k), parse_test_error(&e)),
                ));
            }
        }
    }

    let (kind, name, line) = if !alert.is_empty() {
        (RuleKind::Alerting, alert, alert_pos.0)
    } else {
        (RuleKind::Recording, record, record_pos.0)
    };
    let spec = RuleSpec {
        kind,
        name,
        expr,
        for_ms,
        keep_firing_for_ms: keep_ms,
        labels,
        annotations,
        line,
    };
    (spec, problems)
}

/// A template error as rulefmt reports it: `ParseTest` returns Go's parse error as is
/// (`template: NAME:LINE: message`), without the `error parsing template` prefix an
/// expansion adds.
fn parse_test_error(e: &TemplateError) -> String {
    match e {
        TemplateError::Parse {
            name,
            line,
            message,
        } => format!("template: {name}:{line}: {message}"),
        other => other.to_string(),
    }
}

/// A PromQL error in Prometheus's words: `1:6: parse error: unclosed left parenthesis`.
pub(crate) fn promql_error(e: &tsdb_query::Error) -> String {
    match e {
        tsdb_query::Error::Parse {
            message,
            position: Some((line, col)),
        } => format!("{line}:{col}: parse error: {message}"),
        tsdb_query::Error::Parse {
            message,
            position: None,
        } => format!("parse error: {message}"),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(text: &str) -> Vec<String> {
        match parse_rule_file("f.yml", text.as_bytes()) {
            Ok(_) => vec![],
            Err(e) => e.iter().map(|e| e.to_string()).collect(),
        }
    }

    #[test]
    fn reads_a_good_file() {
        let text = "groups:\n  - name: g\n    interval: 30s\n    limit: 3\n    query_offset: 1m\n    rules:\n      - record: job:up:sum\n        expr: sum by (job) (up)\n      - alert: Down\n        expr: up == 0\n        for: 5m\n        keep_firing_for: 10m\n        labels:\n          severity: 1\n          ratio: 1.50\n        annotations:\n          summary: x\n";
        let f = match parse_rule_file("f.yml", text.as_bytes()) {
            Ok(f) => f,
            Err(e) => panic!("{e:?}"),
        };
        assert_eq!(f.rule_count(), 2);
        let g = &f.groups[0];
        assert_eq!(g.interval_ms, Some(30_000));
        assert_eq!(g.query_offset_ms, Some(60_000));
        assert_eq!(g.limit, 3);
        assert_eq!(g.line, 2);
        assert_eq!(g.rules[1].kind, RuleKind::Alerting);
        assert_eq!(g.rules[1].for_ms, 300_000);
        assert_eq!(g.rules[1].keep_firing_for_ms, 600_000);
        assert_eq!(g.rules[1].labels["severity"], "1");
        assert_eq!(g.rules[1].labels["ratio"], "1.50");
        assert_eq!(g.rules[1].line, 9);
    }

    #[test]
    fn rule_errors_have_positions() {
        let text = "groups:\n  - name: example\n    rules:\n      - record: job:up:sum\n        alert: Foo\n        expr: sum by (job) (up)\n      - expr: up\n  - name: example\n    rules: []\n  - name: \"\"\n";
        assert_eq!(
            errors(text),
            vec![
                "f.yml: 4:17: 5:16: group \"example\", rule 1, \"Foo\": only one of 'record' and 'alert' must be set",
                "f.yml: 0:0: group \"example\", rule 2, \"\": one of 'record' or 'alert' must be set",
                "f.yml: 8:5: groupname: \"example\" is repeated in the same file",
                "f.yml: 10:5: Groupname must not be empty",
            ]
        );
    }

    #[test]
    fn empty_and_comment_only_files_have_no_groups() {
        for text in ["", "# nothing\n", "---\n"] {
            let f = parse_rule_file("f.yml", text.as_bytes());
            assert!(
                matches!(f, Ok(ref f) if f.groups.is_empty()),
                "{text:?}: {f:?}"
            );
        }
    }

    #[test]
    fn bad_duration_stops_the_file() {
        let e = errors("groups:\n  - name: x\n    interval: 5x\n    rules: []\n");
        assert_eq!(e, vec!["f.yml: not a valid duration string: \"5x\""]);
    }
}
