//! Alertmanager's label matchers (`pkg/labels`): the four kinds, their text syntax
//! (`a="b"`, `a=~"x|y"`, `a!=b`, `{a="b", c!~"d"}`) as route `matchers`, inhibit rules,
//! `amtool` and the API's `filter` parameter write them, and the `{name, value, isRegex,
//! isEqual}` JSON of silences.
//!
//! The parser is Alertmanager 0.25's `ParseMatchers`/`ParseMatcher` (the "classic" parser,
//! tolerant of unquoted values and stray backslashes), so any matcher an operator's config
//! holds reads the same here. Regexes are anchored (`^(?:…)$`) as in Alertmanager.

use std::fmt;

use regex::Regex;

use crate::model::LabelSet;

/// How a matcher compares a label's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MatchOp {
    /// `=`
    Equal,
    /// `!=`
    NotEqual,
    /// `=~`
    Regex,
    /// `!~`
    NotRegex,
}

impl MatchOp {
    /// The operator's text.
    pub fn as_str(self) -> &'static str {
        match self {
            MatchOp::Equal => "=",
            MatchOp::NotEqual => "!=",
            MatchOp::Regex => "=~",
            MatchOp::NotRegex => "!~",
        }
    }

    /// From the JSON flags of silences and API v2 (`isRegex`, `isEqual`).
    pub fn from_flags(is_regex: bool, is_equal: bool) -> MatchOp {
        match (is_regex, is_equal) {
            (false, true) => MatchOp::Equal,
            (false, false) => MatchOp::NotEqual,
            (true, true) => MatchOp::Regex,
            (true, false) => MatchOp::NotRegex,
        }
    }

    /// Whether the operator matches by regular expression.
    pub fn is_regex(self) -> bool {
        matches!(self, MatchOp::Regex | MatchOp::NotRegex)
    }

    /// Whether the operator is positive (`=` or `=~`).
    pub fn is_equal(self) -> bool {
        matches!(self, MatchOp::Equal | MatchOp::Regex)
    }
}

/// One label matcher. A missing label reads as the empty string, as in Alertmanager.
#[derive(Debug, Clone)]
pub struct Matcher {
    /// The label name.
    pub name: String,
    /// The comparison.
    pub op: MatchOp,
    /// The value or the (unanchored) regular expression, as written.
    pub value: String,
    re: Option<Regex>,
}

impl PartialEq for Matcher {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.op == other.op && self.value == other.value
    }
}
impl Eq for Matcher {}

/// Why a matcher was refused; the text is Alertmanager's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct MatcherError(pub String);

impl Matcher {
    /// A matcher, compiling the regex (anchored) for `=~` and `!~`.
    pub fn new(op: MatchOp, name: &str, value: &str) -> Result<Matcher, MatcherError> {
        let re = if op.is_regex() {
            Some(
                Regex::new(&format!("^(?:{value})$"))
                    .map_err(|e| MatcherError(format!("error parsing regexp: {e}")))?,
            )
        } else {
            None
        };
        Ok(Matcher {
            name: name.to_owned(),
            op,
            value: value.to_owned(),
            re,
        })
    }

    /// Whether `value` (the empty string for a missing label) satisfies the matcher.
    pub fn matches_value(&self, value: &str) -> bool {
        match (self.op, &self.re) {
            (MatchOp::Equal, _) => value == self.value,
            (MatchOp::NotEqual, _) => value != self.value,
            (MatchOp::Regex, Some(re)) => re.is_match(value),
            (MatchOp::NotRegex, Some(re)) => !re.is_match(value),
            // `new` always compiles the regex of a regex operator.
            (MatchOp::Regex | MatchOp::NotRegex, None) => false,
        }
    }

    /// Whether the label set satisfies the matcher.
    pub fn matches(&self, labels: &LabelSet) -> bool {
        self.matches_value(labels.get(&self.name).map_or("", String::as_str))
    }
}

impl fmt::Display for Matcher {
    /// `name<op>"value"` with OpenMetrics escaping, as Alertmanager prints it (route keys,
    /// group keys).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let escaped = self
            .value
            .replace('\\', "\\\\")
            .replace('\n', "\\n")
            .replace('"', "\\\"");
        write!(f, "{}{}\"{}\"", self.name, self.op.as_str(), escaped)
    }
}

/// Whether every matcher matches (an empty list matches everything).
pub fn matches_all(matchers: &[Matcher], labels: &LabelSet) -> bool {
    matchers.iter().all(|m| m.matches(labels))
}

/// `{m1,m2}` as Alertmanager's `Matchers.String()`.
pub fn format_matchers(matchers: &[Matcher]) -> String {
    let inner: Vec<String> = matchers.iter().map(ToString::to_string).collect();
    format!("{{{}}}", inner.join(","))
}

/// Sorts as Alertmanager's `Matchers.Less`: by name, then value, then operator.
pub fn sort_matchers(matchers: &mut [Matcher]) {
    matchers.sort_by(|a, b| {
        (a.name.as_str(), a.value.as_str(), a.op).cmp(&(b.name.as_str(), b.value.as_str(), b.op))
    });
}

/// Alertmanager's `ParseMatchers`: a comma-separated list, optionally in braces, commas
/// inside double quotes not separating.
pub fn parse_matchers(s: &str) -> Result<Vec<Matcher>, MatcherError> {
    let s = s.strip_prefix('{').unwrap_or(s);
    let s = s.strip_suffix('}').unwrap_or(s);
    let mut tokens = Vec::new();
    let mut token = String::new();
    let (mut inside_quotes, mut escaped) = (false, false);
    for c in s.chars() {
        match c {
            ',' if !inside_quotes => {
                tokens.push(std::mem::take(&mut token));
                continue;
            }
            ',' => {}
            '"' => {
                if !escaped {
                    inside_quotes = !inside_quotes;
                } else {
                    escaped = false;
                }
            }
            '\\' => escaped = !escaped,
            _ => escaped = false,
        }
        token.push(c);
    }
    let last = token.trim();
    if !last.is_empty() {
        tokens.push(last.to_owned());
    }
    tokens.iter().map(|t| parse_matcher(t)).collect()
}

/// Alertmanager's `ParseMatcher`: `name op value`, whitespace around each token ignored,
/// the value optionally double-quoted with `\"`, `\n` and `\\` escapes.
pub fn parse_matcher(s: &str) -> Result<Matcher, MatcherError> {
    let bad = || MatcherError(format!("bad matcher format: {s}"));
    // ^\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(=~|=|!=|!~)\s*((?s).*?)\s*$
    let rest = s.trim_start_matches(is_go_space);
    let name_len = rest
        .char_indices()
        .take_while(|&(i, c)| {
            c == '_' || c == ':' || c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit())
        })
        .count();
    if name_len == 0 {
        return Err(bad());
    }
    let (name, rest) = rest.split_at(name_len);
    let rest = rest.trim_start_matches(is_go_space);
    let (op, rest) = if let Some(r) = rest.strip_prefix("=~") {
        (MatchOp::Regex, r)
    } else if let Some(r) = rest.strip_prefix('=') {
        (MatchOp::Equal, r)
    } else if let Some(r) = rest.strip_prefix("!=") {
        (MatchOp::NotEqual, r)
    } else if let Some(r) = rest.strip_prefix("!~") {
        (MatchOp::NotRegex, r)
    } else {
        return Err(bad());
    };
    let raw_full = rest.trim_matches(is_go_space);
    let (raw, mut expect_trailing_quote) = match raw_full.strip_prefix('"') {
        Some(r) => (r, true),
        None => (raw_full, false),
    };
    let unescaped_quote = || {
        MatcherError(format!(
            "matcher value contains unescaped double quote: {raw_full}"
        ))
    };
    let mut value = String::with_capacity(raw.len());
    let mut escaped = false;
    for (i, c) in raw.char_indices() {
        if escaped {
            escaped = false;
            match c {
                'n' => value.push('\n'),
                '"' | '\\' => value.push(c),
                _ => {
                    value.push('\\');
                    value.push(c);
                }
            }
            continue;
        }
        let last = i + c.len_utf8() == raw.len();
        match c {
            '\\' if !last => escaped = true,
            '\\' => value.push('\\'),
            '"' => {
                if !expect_trailing_quote || !last {
                    return Err(unescaped_quote());
                }
                expect_trailing_quote = false;
            }
            _ => value.push(c),
        }
    }
    if expect_trailing_quote {
        return Err(unescaped_quote());
    }
    Matcher::new(op, name, &value)
}

/// RE2's `\s`: what Alertmanager's matcher regex skips around tokens.
fn is_go_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0c')
}

/// Whether `name` is a valid label name for Alertmanager 0.25 (`[a-zA-Z_][a-zA-Z0-9_]*`).
pub fn is_valid_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(s: &str) -> Matcher {
        match parse_matcher(s) {
            Ok(m) => m,
            Err(e) => panic!("{s}: {e}"),
        }
    }

    #[test]
    fn parses_alertmanager_examples() {
        let ms = parse_matchers(r#"{foo = "bar", dings != "bums", }"#).unwrap_or_default();
        assert_eq!(ms.len(), 2);
        assert_eq!(
            (ms[0].name.as_str(), ms[0].op, ms[0].value.as_str()),
            ("foo", MatchOp::Equal, "bar")
        );
        assert_eq!(
            (ms[1].name.as_str(), ms[1].op, ms[1].value.as_str()),
            ("dings", MatchOp::NotEqual, "bums")
        );
        let ms = parse_matchers("foo=bar,dings!=bums").unwrap_or_default();
        assert_eq!(ms.len(), 2);
        let ms = parse_matchers(r#"{quote="She said: \"Hi, ladies! That's gender-neutral…\""}"#)
            .unwrap_or_default();
        assert_eq!(ms.len(), 1);
        assert_eq!(
            ms[0].value,
            "She said: \"Hi, ladies! That's gender-neutral…\""
        );
        let m = one(r#"statuscode=~"5..""#);
        assert!(m.matches_value("503"));
        assert!(!m.matches_value("5033"));
        assert_eq!(one("a=~x|y").op, MatchOp::Regex);
        assert!(one("a=~x|y").matches_value("y"));
        assert_eq!(one(r#"a="b\n""#).value, "b\n");
        assert_eq!(one(r#"a=b\c"#).value, "b\\c");
        assert_eq!(one("a=").value, "");
        assert_eq!(one("a!~\"x\"").op, MatchOp::NotRegex);
    }

    #[test]
    fn refuses_bad_matchers() {
        assert!(parse_matcher("=b").is_err());
        assert!(parse_matcher("a b").is_err());
        assert!(parse_matcher(r#"a="b"c""#).is_err());
        assert!(parse_matcher(r#"a="b"#).is_err());
        assert!(parse_matcher("a=~(").is_err());
        assert_eq!(
            parse_matcher("a b").err().map(|e| e.0),
            Some("bad matcher format: a b".to_owned())
        );
    }

    #[test]
    fn prints_as_alertmanager() {
        let mut ms = parse_matchers(r#"b=~"x", a="q\"", a!="a""#).unwrap_or_default();
        sort_matchers(&mut ms);
        assert_eq!(format_matchers(&ms), r#"{a!="a",a="q\"",b=~"x"}"#);
    }

    #[test]
    fn missing_label_is_empty() {
        let labels = LabelSet::new();
        assert!(one("a=\"\"").matches(&labels));
        assert!(one("a!=x").matches(&labels));
        assert!(!one("a=~.+").matches(&labels));
    }

    proptest::proptest! {
        #[test]
        fn parser_never_panics(s in ".{0,40}") {
            let _ = parse_matchers(&s);
            let _ = parse_matcher(&s);
        }

        #[test]
        fn printed_matchers_parse_back(name in "[a-z_][a-z0-9_]{0,5}", value in "[^\\\\]{0,10}", op in 0usize..2) {
            let op = [MatchOp::Equal, MatchOp::NotEqual][op];
            let m = Matcher::new(op, &name, &value).map_err(|e| proptest::test_runner::TestCaseError::fail(e.0))?;
            let back = parse_matcher(&m.to_string()).map_err(|e| proptest::test_runner::TestCaseError::fail(e.0))?;
            proptest::prop_assert_eq!(back, m);
        }
    }
}
