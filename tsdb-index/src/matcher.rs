//! Label matchers with Prometheus semantics, and the regex shapes that get fast paths.
//!
//! A regex is fully anchored and `.` matches newlines (Prometheus compiles
//! `^(?s:<pattern>)$`). A series without the label is matched as if its value were `""`.
//! Before falling back to a compiled regex, the pattern is classified so that the index
//! can answer the common shapes without visiting every value of the label:
//!
//! | pattern                | shape                          | index work                 |
//! |------------------------|--------------------------------|----------------------------|
//! | `api`, `a\.b`          | literal                        | one postings lookup        |
//! | `a\|b\|c`              | literal set                    | one lookup per literal     |
//! | `foo.*`, `foo.+`       | prefix                         | range scan of `foo…` only  |
//! | `.*`                   | anything                       | none (or "has label")      |
//! | `.+`                   | non-empty                      | "has label" postings       |
//! | `foo(bar\|baz)?`       | regex with literal prefix      | range scan of `foo…` only  |
//! | anything else          | regex                          | scan of all values         |

use std::fmt;

use regex::Regex;

use crate::error::{cut, Error, Result};
use crate::labels::write_quoted;

/// The four matcher operators of PromQL.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MatchOp {
    /// `=`: the value equals the string.
    Equal,
    /// `!=`: the value does not equal the string.
    NotEqual,
    /// `=~`: the value matches the fully anchored regex.
    RegexMatch,
    /// `!~`: the value does not match the fully anchored regex.
    RegexNoMatch,
}

impl MatchOp {
    fn negated(self) -> bool {
        matches!(self, MatchOp::NotEqual | MatchOp::RegexNoMatch)
    }
}

impl fmt::Display for MatchOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MatchOp::Equal => "=",
            MatchOp::NotEqual => "!=",
            MatchOp::RegexMatch => "=~",
            MatchOp::RegexNoMatch => "!~",
        })
    }
}

/// What the positive (non-negated) form of a matcher accepts.
#[derive(Clone, Debug)]
pub(crate) enum Pattern {
    /// Exactly this string.
    Literal(String),
    /// Any of these strings (sorted, unique).
    Set(Vec<String>),
    /// Strings starting with `prefix`; if `non_empty_rest`, strictly longer than it.
    Prefix {
        prefix: String,
        non_empty_rest: bool,
    },
    /// Every string, the empty one included (`.*`).
    Any,
    /// Every non-empty string (`.+`).
    NonEmpty,
    /// A compiled anchored regex; every match starts with `prefix`.
    Regex { re: Regex, prefix: String },
}

impl Pattern {
    pub(crate) fn is_match(&self, v: &str) -> bool {
        match self {
            Pattern::Literal(s) => v == s,
            Pattern::Set(set) => set.binary_search_by(|s| s.as_str().cmp(v)).is_ok(),
            Pattern::Prefix {
                prefix,
                non_empty_rest,
            } => v.starts_with(prefix.as_str()) && (!non_empty_rest || v.len() > prefix.len()),
            Pattern::Any => true,
            Pattern::NonEmpty => !v.is_empty(),
            Pattern::Regex { re, .. } => re.is_match(v),
        }
    }
}

/// One label matcher, e.g. `job=~"api|web"`. Regexes are compiled once, here.
#[derive(Clone, Debug)]
pub struct Matcher {
    name: String,
    op: MatchOp,
    value: String,
    pattern: Pattern,
    matches_empty: bool,
}

/// Characters with a meaning in regex syntax outside a class.
const META: &[char] = &[
    '\\', '.', '+', '*', '?', '(', ')', '|', '[', ']', '{', '}', '^', '$',
];

/// True if `\e` is the literal character `e` in the `regex` crate's syntax: ASCII
/// punctuation, except `\<` and `\>`, which are word-boundary assertions there.
fn escapes_to_itself(e: char) -> bool {
    e.is_ascii_punctuation() && e != '<' && e != '>'
}

/// Parses a pattern made only of literal characters and `\`-escaped punctuation.
fn parse_literal(p: &str) -> Option<String> {
    let mut out = String::with_capacity(p.len());
    let mut chars = p.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            let e = chars.next()?;
            if !escapes_to_itself(e) {
                // \d, \w, \n, \<, ...: a class, an assertion or an escape we do not unfold
                return None;
            }
            out.push(e);
        } else if META.contains(&c) {
            return None;
        } else {
            out.push(c);
        }
    }
    Some(out)
}

/// Splits on `|` that are not escaped. Only used after checking there are no groups.
fn split_alternatives(p: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut start = 0;
    let mut escaped = false;
    for (i, c) in p.char_indices() {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == '|' {
            parts.push(&p[start..i]);
            start = i + 1;
        }
    }
    parts.push(&p[start..]);
    parts
}

/// True if `p` contains an unescaped `|` anywhere.
fn has_alternation(p: &str) -> bool {
    split_alternatives(p).len() > 1
}

/// The literal text every match of `p` must start with ("" if unknown).
fn literal_prefix(p: &str) -> String {
    if has_alternation(p) {
        return String::new();
    }
    let mut out: Vec<char> = Vec::new();
    let mut chars = p.chars().peekable();
    while let Some(c) = chars.next() {
        let lit = if c == '\\' {
            match chars.peek() {
                Some(&e) if escapes_to_itself(e) => {
                    chars.next();
                    e
                }
                _ => break,
            }
        } else if META.contains(&c) {
            if matches!(c, '*' | '+' | '?' | '{') {
                out.pop(); // the quantifier applies to the last literal
            }
            break;
        } else {
            c
        };
        out.push(lit);
    }
    out.into_iter().collect()
}

fn classify(p: &str) -> Option<Pattern> {
    match p {
        ".*" => return Some(Pattern::Any),
        ".+" => return Some(Pattern::NonEmpty),
        _ => {}
    }
    if let Some(lit) = parse_literal(p) {
        return Some(Pattern::Literal(lit));
    }
    if !p.contains(['(', ')', '[', ']']) {
        let alts = split_alternatives(p);
        if alts.len() > 1 {
            let mut set = Vec::with_capacity(alts.len());
            for a in alts {
                set.push(parse_literal(a)?);
            }
            set.sort_unstable();
            set.dedup();
            return Some(Pattern::Set(set));
        }
    }
    for (suffix, non_empty_rest) in [(".*", false), (".+", true)] {
        if let Some(head) = p.strip_suffix(suffix) {
            if let Some(prefix) = parse_literal(head) {
                return Some(Pattern::Prefix {
                    prefix,
                    non_empty_rest,
                });
            }
        }
    }
    None
}

fn compile(p: &str) -> Result<Pattern> {
    if let Some(fast) = classify(p) {
        return Ok(fast);
    }
    let err = |reason: String| Error::InvalidRegex {
        pattern: cut(p),
        reason,
    };
    // Parse the bare pattern first so `a)|(b` cannot escape the anchoring group: its
    // syntax only (what the regex crate reports for it), since compiling it too would
    // double the cost of every regex matcher of every query.
    regex_syntax::Parser::new()
        .parse(p)
        .map_err(|e| err(e.to_string()))?;
    let re = Regex::new(&format!("^(?s:{p})$")).map_err(|e| err(e.to_string()))?;
    Ok(Pattern::Regex {
        re,
        prefix: literal_prefix(p),
    })
}

impl Matcher {
    /// A matcher `name op value`. Fails only for an invalid regex under `=~`/`!~`.
    pub fn new(op: MatchOp, name: impl Into<String>, value: impl Into<String>) -> Result<Matcher> {
        let (name, value) = (name.into(), value.into());
        let pattern = match op {
            MatchOp::Equal | MatchOp::NotEqual => Pattern::Literal(value.clone()),
            MatchOp::RegexMatch | MatchOp::RegexNoMatch => compile(&value)?,
        };
        let matches_empty = pattern.is_match("") != op.negated();
        Ok(Matcher {
            name,
            op,
            value,
            pattern,
            matches_empty,
        })
    }

    /// `name="value"`.
    pub fn equal(name: impl Into<String>, value: impl Into<String>) -> Matcher {
        let (name, value) = (name.into(), value.into());
        Matcher {
            matches_empty: value.is_empty(),
            pattern: Pattern::Literal(value.clone()),
            name,
            op: MatchOp::Equal,
            value,
        }
    }

    /// `name!="value"`.
    pub fn not_equal(name: impl Into<String>, value: impl Into<String>) -> Matcher {
        let (name, value) = (name.into(), value.into());
        Matcher {
            matches_empty: !value.is_empty(),
            pattern: Pattern::Literal(value.clone()),
            name,
            op: MatchOp::NotEqual,
            value,
        }
    }

    /// `name=~"pattern"`.
    pub fn regex(name: impl Into<String>, pattern: impl Into<String>) -> Result<Matcher> {
        Self::new(MatchOp::RegexMatch, name, pattern)
    }

    /// `name!~"pattern"`.
    pub fn not_regex(name: impl Into<String>, pattern: impl Into<String>) -> Result<Matcher> {
        Self::new(MatchOp::RegexNoMatch, name, pattern)
    }

    /// The label name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The operator.
    pub fn op(&self) -> MatchOp {
        self.op
    }

    /// The string or pattern as given.
    pub fn value(&self) -> &str {
        &self.value
    }

    /// True if a series whose label `name` has value `v` is selected; pass `""` for a
    /// series that lacks the label.
    pub fn matches(&self, v: &str) -> bool {
        self.pattern.is_match(v) != self.op.negated()
    }

    /// True if this matcher also selects series that lack the label.
    pub fn matches_empty(&self) -> bool {
        self.matches_empty
    }

    pub(crate) fn pattern(&self) -> &Pattern {
        &self.pattern
    }

    pub(crate) fn is_negated(&self) -> bool {
        self.op.negated()
    }
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.name, self.op)?;
        write_quoted(f, &self.value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn shape(p: &str) -> String {
        match compile(p).unwrap() {
            Pattern::Literal(s) => format!("lit:{s}"),
            Pattern::Set(s) => format!("set:{}", s.join(",")),
            Pattern::Prefix {
                prefix,
                non_empty_rest,
            } => format!("prefix:{prefix}:{non_empty_rest}"),
            Pattern::Any => "any".into(),
            Pattern::NonEmpty => "nonempty".into(),
            Pattern::Regex { prefix, .. } => format!("regex:{prefix}"),
        }
    }

    #[test]
    fn fast_paths_are_recognised() {
        assert_eq!(shape("api"), "lit:api");
        assert_eq!(shape(r"10\.0\.0\.1"), "lit:10.0.0.1");
        assert_eq!(shape("1|2|3"), "set:1,2,3");
        assert_eq!(shape("b|a|b"), "set:a,b");
        assert_eq!(shape("a|"), "set:,a");
        assert_eq!(shape("foo.*"), "prefix:foo:false");
        assert_eq!(shape("foo.+"), "prefix:foo:true");
        assert_eq!(shape(".*"), "any");
        assert_eq!(shape(".+"), "nonempty");
        assert_eq!(shape(r"foo\.*"), "regex:foo");
        assert_eq!(shape("foo(bar|baz)"), "regex:");
        assert_eq!(shape("foob?ar"), "regex:foo");
        assert_eq!(shape("host_4.*2"), "regex:host_4");
        assert_eq!(shape(r"\d+"), "regex:");
        assert_eq!(shape("(?i)api"), "regex:");
        assert_eq!(shape(""), "lit:");
        // `\<` and `\>` are word boundaries in the regex crate, not literal `<` and `>`.
        assert_eq!(shape(r"\<a"), "regex:");
        assert_eq!(shape(r"a\>.*"), "regex:a");
        assert_eq!(shape(r"\-\#"), "lit:-#");
    }

    #[test]
    fn word_boundary_escapes_are_not_literals() {
        let m = Matcher::regex("l", r"\<api").unwrap();
        assert!(m.matches("api"), "\\< is a word start, which \"api\" has");
        assert!(!m.matches("<api"));
        let m = Matcher::regex("l", r"api\>.*").unwrap();
        assert!(m.matches("api-x") && m.matches("api") && !m.matches("apix"));
    }

    #[test]
    fn semantics() {
        let m = Matcher::regex("a", "foo.*").unwrap();
        assert!(m.matches("foo") && m.matches("foobar") && !m.matches("xfoo"));
        assert!(!m.matches_empty());
        let m = Matcher::regex("a", "a.b").unwrap();
        assert!(m.matches("a\nb"), "dot matches newline like Prometheus");
        assert!(!m.matches("xa.b"), "anchored");
        let m = Matcher::not_regex("a", ".+").unwrap();
        assert!(m.matches_empty() && !m.matches("x"));
        assert!(Matcher::equal("a", "").matches_empty());
        assert!(!Matcher::not_equal("a", "").matches_empty());
        assert!(Matcher::not_equal("a", "x").matches_empty());
    }

    #[test]
    fn invalid_and_escaping_regexes_are_refused() {
        for p in ["(", "a)|(b", "[z-a]"] {
            match Matcher::regex("a", p) {
                Err(Error::InvalidRegex { pattern, reason }) => {
                    assert_eq!(pattern, p);
                    // the message the regex crate itself gives for the bare pattern
                    let want = Regex::new(p).map(|_| ()).unwrap_err().to_string();
                    assert_eq!(reason, want);
                }
                other => panic!("{p}: expected InvalidRegex, got {other:?}"),
            }
        }
    }

    #[test]
    fn display() {
        let m = Matcher::regex("job", "a\"b").unwrap();
        assert_eq!(m.to_string(), r#"job=~"a\"b""#);
    }

    proptest! {
        /// Every fast path agrees with the real anchored regex.
        #[test]
        fn fast_paths_agree_with_regex(
            p in "(\\.\\*|\\.\\+|[abx.|<>-]|\\\\[.<>-]|\\*|\\?){0,6}",
            v in "[abx.<>\n-]{0,4}",
        ) {
            let Ok(re) = Regex::new(&format!("^(?s:{p})$")) else { return Ok(()) };
            if Regex::new(&p).is_err() { return Ok(()) }
            let m = Matcher::regex("l", p.clone()).unwrap();
            prop_assert_eq!(m.matches(&v), re.is_match(&v), "pattern {:?} value {:?}", p, v);
            prop_assert_eq!(m.matches_empty(), re.is_match(""));
        }
    }
}
