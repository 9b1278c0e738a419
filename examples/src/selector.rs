//! Parsing a PromQL series selector (`metric{label="value", other=~"re.*"}`) into
//! matchers, for the `--match` flags of the tools. The PromQL front end (tsdb-query,
//! with the `promql-parser` crate) will replace this once it exists.

use tsdb_index::{MatchOp, Matcher, METRIC_NAME};

/// Parses `selector`; the error says what is wrong and at which byte.
pub fn parse_selector(selector: &str) -> Result<Vec<Matcher>, String> {
    let s = selector.trim();
    let mut matchers = Vec::new();
    let (name, rest) = match s.find('{') {
        Some(i) => (s.get(..i).unwrap_or("").trim(), s.get(i..).unwrap_or("")),
        None => (s, ""),
    };
    if !name.is_empty() {
        if !tsdb_index::is_valid_metric_name(name) {
            return Err(format!("invalid metric name {name:?}"));
        }
        matchers.push(Matcher::equal(METRIC_NAME, name));
    }
    if !rest.is_empty() {
        let inner = rest
            .strip_prefix('{')
            .and_then(|r| r.trim_end().strip_suffix('}'))
            .ok_or_else(|| "unbalanced braces".to_string())?;
        let mut chars = inner.char_indices().peekable();
        loop {
            while chars
                .next_if(|(_, c)| c.is_whitespace() || *c == ',')
                .is_some()
            {}
            let Some(&(start, _)) = chars.peek() else {
                break;
            };
            let mut end = start;
            while let Some((i, c)) = chars.next_if(|(_, c)| c.is_ascii_alphanumeric() || *c == '_')
            {
                end = i + c.len_utf8();
            }
            let label = inner.get(start..end).unwrap_or("");
            if label.is_empty() {
                return Err(format!(
                    "expected a label name at byte {}",
                    start + name.len() + 1
                ));
            }
            while chars.next_if(|(_, c)| c.is_whitespace()).is_some() {}
            let op = match (chars.next().map(|x| x.1), chars.peek().map(|x| x.1)) {
                (Some('='), Some('~')) => {
                    chars.next();
                    MatchOp::RegexMatch
                }
                (Some('!'), Some('=')) => {
                    chars.next();
                    MatchOp::NotEqual
                }
                (Some('!'), Some('~')) => {
                    chars.next();
                    MatchOp::RegexNoMatch
                }
                (Some('='), _) => MatchOp::Equal,
                _ => return Err(format!("expected =, !=, =~ or !~ after {label}")),
            };
            while chars.next_if(|(_, c)| c.is_whitespace()).is_some() {}
            if chars.next().map(|x| x.1) != Some('"') {
                return Err(format!("expected a double-quoted value for {label}"));
            }
            let mut value = String::new();
            loop {
                match chars.next().map(|x| x.1) {
                    Some('"') => break,
                    Some('\\') => match chars.next().map(|x| x.1) {
                        Some('n') => value.push('\n'),
                        Some(c) => value.push(c),
                        None => return Err("unterminated escape".into()),
                    },
                    Some(c) => value.push(c),
                    None => return Err(format!("unterminated value for {label}")),
                }
            }
            matchers.push(Matcher::new(op, label, value).map_err(|e| e.to_string())?);
        }
    }
    if matchers.is_empty() || matchers.iter().all(Matcher::matches_empty) {
        return Err(
            "a selector needs at least one matcher that does not match the empty string".into(),
        );
    }
    Ok(matchers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_and_all_operators() {
        let m = parse_selector(r#"cpu{host="a", env!="dev",dc=~"eu.*" , x!~"\"q\""}"#).unwrap();
        let shown: Vec<String> = m.iter().map(|m| m.to_string()).collect();
        assert_eq!(shown.len(), 5);
        assert_eq!(m[0].value(), "cpu");
        assert_eq!(m[1].op(), MatchOp::Equal);
        assert_eq!(m[2].op(), MatchOp::NotEqual);
        assert_eq!(m[3].op(), MatchOp::RegexMatch);
        assert_eq!(m[4].op(), MatchOp::RegexNoMatch);
        assert_eq!(m[4].value(), "\"q\"");
    }

    #[test]
    fn refuses_bad_selectors() {
        assert!(parse_selector(r#"{host=""}"#).is_err());
        assert!(parse_selector(r#"{host="a""#).is_err());
        assert!(parse_selector(r#"{host~"a"}"#).is_err());
        assert!(parse_selector("").is_err());
        assert!(parse_selector("1cpu").is_err());
    }
}
