//! Input series of rule unit tests: the series description of Prometheus's PromQL test
//! language (`promql/parser`'s `ParseSeriesDesc`, its lexer in series mode and its
//! grammar), a metric with labels then an expanding value notation: `1 2 3`, `_` (no
//! sample at that step), `_x3` (three steps without samples), `stale` (a staleness
//! marker), `1x3` (1 four times), `1+2x3` (1 3 5 7), `-2+4x3`, `1-1x2`, `Inf`, `NaN`.
//! Errors carry Prometheus's position and wording (`1:14: parse error: unexpected end of
//! input in series values`). Native-histogram values (`{{schema:…}}`, which Prometheus
//! 2.42 cannot read either) are refused by name.

use std::collections::BTreeMap;

use tsdb_query::STALE_NAN_BITS;

/// One step of a series: a value, or no sample (`_`).
pub type Step = Option<f64>;

/// How many steps a description may expand to: a guard against `1x99999999999`
/// exhausting memory, where Prometheus would try to allocate them all.
pub const MAX_STEPS: u64 = 10_000_000;

/// Parses `series values` as promtool's loader reads an input series (the two fields
/// joined by a space and trimmed).
pub fn parse_input_series(
    series: &str,
    values: &str,
) -> Result<(BTreeMap<String, String>, Vec<Step>), String> {
    let desc = format!("{series} {values}");
    let desc = desc.trim();
    if values.contains("{{") {
        return Err(format!(
            "native histogram input series are not supported: {series} {values}"
        ));
    }
    let mut p = Parser::new(desc);
    let labels = p.metric()?;
    let steps = p.values()?;
    if labels.is_empty() {
        return Err("empty labelset: invalid sample".into());
    }
    Ok((labels, steps))
}

/// Parses a metric as Prometheus's `ParseMetric` reads the `labels` of `exp_samples`: an
/// optional name and an optional label set with `=` only (`up{job="a"}`,
/// `{__name__="up"}`, `{}`, or nothing at all).
pub fn parse_metric(text: &str) -> Result<BTreeMap<String, String>, String> {
    // An empty text (an `exp_samples` item without `labels`) is the empty label set.
    if text.trim().is_empty() {
        return Ok(BTreeMap::new());
    }
    let mut p = Parser::new(text);
    p.skip_spaces();
    let labels = p.metric()?;
    p.skip_spaces();
    if p.pos < p.s.len() {
        let tok = p.value_token()?;
        return Err(p.unexpected(&tok, "", ""));
    }
    Ok(labels)
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Space,
    Add,
    Sub,
    Times,
    Blank,
    Number(String),
    Ident(String),
    Str(String),
    Comma,
    Eql,
    Op(&'static str),
    RightBrace,
    Eof,
}

struct Parser<'a> {
    s: &'a str,
    pos: usize,
}

fn go_rune(c: char) -> String {
    match c {
        '\'' => "'\\''".into(),
        '\\' => "'\\\\'".into(),
        c if c.is_control() => format!("'\\x{:02x}'", c as u32),
        c => format!("'{c}'"),
    }
}

impl<'a> Parser<'a> {
    fn new(s: &'a str) -> Self {
        Parser { s, pos: 0 }
    }

    fn err_at(&self, pos: usize, msg: impl std::fmt::Display) -> String {
        // ParseErr: line 1, column = byte offset + 1 (one line: no line breaks before).
        let before = &self.s[..pos.min(self.s.len())];
        let line = 1 + before.matches('\n').count();
        let col = match before.rfind('\n') {
            Some(nl) => pos - nl,
            None => pos + 1,
        };
        format!("{line}:{col}: parse error: {msg}")
    }

    fn peek(&self) -> Option<char> {
        self.s[self.pos..].chars().next()
    }

    fn skip_spaces(&mut self) {
        while self
            .peek()
            .is_some_and(|c| matches!(c, ' ' | '\t' | '\r' | '\n'))
        {
            self.pos += 1;
        }
    }

    fn scan_while(&mut self, f: impl Fn(char) -> bool) -> &'a str {
        let start = self.pos;
        while let Some(c) = self.peek().filter(|c| f(*c)) {
            self.pos += c.len_utf8();
        }
        &self.s[start..self.pos]
    }

    /// `item.desc()` for error messages.
    fn desc(tok: &Tok) -> String {
        let q = crate::template::go_quote;
        match tok {
            Tok::Space => "\" \"".into(),
            Tok::Add => "<op:+>".into(),
            Tok::Sub => "<op:->".into(),
            Tok::Times => "\"x\"".into(),
            Tok::Blank => "\"_\"".into(),
            Tok::Number(v) => format!("number {}", short(v)),
            Tok::Ident(v) => format!("identifier {}", short(v)),
            Tok::Str(v) => format!("string {}", short(v)),
            Tok::Comma => "\",\"".into(),
            Tok::Eql => "<op:=>".into(),
            Tok::Op(o) => format!("<op:{o}>"),
            Tok::RightBrace => q("}"),
            Tok::Eof => "end of input".into(),
        }
    }

    /// Where the last token started (or the end, for end of input).
    fn unexpected(&self, tok: &Tok, context: &str, expected: &str) -> String {
        let mut m = format!("unexpected {}", Self::desc(tok));
        if !context.is_empty() {
            m += &format!(" in {context}");
        }
        if !expected.is_empty() {
            m += &format!(", expected {expected}");
        }
        m
    }

    /// The metric: a name, then an optional label set.
    fn metric(&mut self) -> Result<BTreeMap<String, String>, String> {
        let mut labels = BTreeMap::new();
        let start = self.pos;
        match self.peek() {
            Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':' => {
                let name = self.scan_while(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':');
                labels.insert("__name__".to_string(), name.to_string());
            }
            Some('{') => {}
            Some(c) if c.is_ascii_digit() => {
                let n = self.scan_while(|c| c.is_ascii_digit());
                return Err(self.err_at(
                    start,
                    format!(
                        "bad number or duration syntax: {}",
                        crate::template::go_quote(n)
                    ),
                ));
            }
            Some(c) => {
                return Err(self.err_at(start, format!("unexpected character: {}", go_rune(c))))
            }
            None => return Err(self.err_at(start, "unexpected end of input")),
        }
        if self.peek() == Some('{') {
            self.pos += 1;
            self.label_set(&mut labels)?;
        }
        Ok(labels)
    }

    fn brace_token(&mut self) -> Result<(usize, Tok), String> {
        self.skip_spaces();
        let start = self.pos;
        let Some(c) = self.peek() else {
            return Err(self.err_at(start, "unexpected end of input inside braces"));
        };
        let tok = match c {
            ',' => {
                self.pos += 1;
                Tok::Comma
            }
            '}' => {
                self.pos += 1;
                Tok::RightBrace
            }
            '=' => {
                self.pos += 1;
                if self.peek() == Some('~') {
                    self.pos += 1;
                    Tok::Op("=~")
                } else {
                    Tok::Eql
                }
            }
            '!' => {
                self.pos += 1;
                match self.peek() {
                    Some('=') => {
                        self.pos += 1;
                        Tok::Op("!=")
                    }
                    Some('~') => {
                        self.pos += 1;
                        Tok::Op("!~")
                    }
                    _ => {
                        return Err(
                            self.err_at(start, "unexpected character after '!' inside braces")
                        )
                    }
                }
            }
            '"' | '\'' | '`' => Tok::Str(self.string(c)?),
            c if c.is_ascii_alphabetic() || c == '_' => Tok::Ident(
                self.scan_while(|c| c.is_ascii_alphanumeric() || c == '_')
                    .to_string(),
            ),
            c => {
                return Err(self.err_at(
                    start,
                    format!("unexpected character inside braces: {}", go_rune(c)),
                ))
            }
        };
        Ok((start, tok))
    }

    /// A quoted string token, returned with its quotes (as the lexer keeps it).
    fn string(&mut self, q: char) -> Result<String, String> {
        let start = self.pos;
        self.pos += 1;
        loop {
            let Some(c) = self.peek() else {
                let what = if q == '`' {
                    "unterminated raw string"
                } else {
                    "unterminated quoted string"
                };
                return Err(self.err_at(start, what));
            };
            self.pos += c.len_utf8();
            if c == '\\' && q != '`' {
                match self.peek() {
                    Some(e) => self.pos += e.len_utf8(),
                    None => return Err(self.err_at(start, "unterminated quoted string")),
                }
            } else if c == '\n' && q != '`' {
                return Err(self.err_at(start, "unterminated quoted string"));
            } else if c == q {
                return Ok(self.s[start..self.pos].to_string());
            }
        }
    }

    fn label_set(&mut self, labels: &mut BTreeMap<String, String>) -> Result<(), String> {
        let ctx = "label set";
        loop {
            let (at, tok) = self.brace_token()?;
            let name = match tok {
                Tok::RightBrace => return Ok(()),
                Tok::Ident(n) => n,
                other => {
                    return Err(self.err_at(at, self.unexpected(&other, ctx, "identifier or \"}\"")))
                }
            };
            let (at, tok) = self.brace_token()?;
            if tok != Tok::Eql {
                return Err(self.err_at(at, self.unexpected(&tok, ctx, "\"=\"")));
            }
            let (at, tok) = self.brace_token()?;
            let Tok::Str(quoted) = tok else {
                return Err(self.err_at(at, self.unexpected(&tok, ctx, "string")));
            };
            let value = unquote_label(&quoted).map_err(|e| self.err_at(at, e))?;
            labels.insert(name, value);
            let (at, tok) = self.brace_token()?;
            match tok {
                Tok::RightBrace => return Ok(()),
                Tok::Comma => {}
                other => {
                    return Err(self.err_at(at, self.unexpected(&other, ctx, "\",\" or \"}\"")))
                }
            }
        }
    }

    /// A token of the value sequence (`lexValueSequence`).
    fn value_token(&mut self) -> Result<Tok, String> {
        let start = self.pos;
        let Some(c) = self.peek() else {
            return Ok(Tok::Eof);
        };
        let one = |p: &mut Self, t: Tok| {
            p.pos += 1;
            Ok(t)
        };
        match c {
            ' ' | '\t' | '\r' | '\n' => {
                self.skip_spaces();
                Ok(Tok::Space)
            }
            '+' => one(self, Tok::Add),
            '-' => one(self, Tok::Sub),
            'x' => one(self, Tok::Times),
            '_' => one(self, Tok::Blank),
            c if c.is_ascii_digit()
                || (c == '.'
                    && self.s[self.pos + 1..].starts_with(|d: char| d.is_ascii_digit())) =>
            {
                self.scan_while(|c| c.is_ascii_digit());
                if self.peek() == Some('.') {
                    self.pos += 1;
                    self.scan_while(|c| c.is_ascii_digit());
                }
                if matches!(self.peek(), Some('e' | 'E')) {
                    self.pos += 1;
                    if matches!(self.peek(), Some('+' | '-')) {
                        self.pos += 1;
                    }
                    self.scan_while(|c| c.is_ascii_digit());
                }
                let text = &self.s[start..self.pos];
                if self
                    .peek()
                    .is_some_and(|c| c != 'x' && (c.is_alphanumeric() || c == '_'))
                {
                    return Err(self.err_at(
                        start,
                        format!("bad number syntax: {}", crate::template::go_quote(text)),
                    ));
                }
                Ok(Tok::Number(text.to_string()))
            }
            c if c.is_alphabetic() => {
                let word = self.scan_while(|c| c.is_alphanumeric() || c == '_' || c == ':');
                let lower = word.to_ascii_lowercase();
                if lower == "inf" || lower == "nan" {
                    Ok(Tok::Number(word.to_string()))
                } else {
                    Ok(Tok::Ident(word.to_string()))
                }
            }
            c => Err(self.err_at(
                start,
                format!("unexpected character in series sequence: {}", go_rune(c)),
            )),
        }
    }

    fn next_value(&mut self) -> Result<(usize, Tok), String> {
        let at = self.pos;
        let t = self.value_token()?;
        Ok((at, t))
    }

    fn number(&self, at: usize, text: &str) -> Result<f64, String> {
        let lower = text.to_ascii_lowercase();
        match lower.as_str() {
            "inf" => return Ok(f64::INFINITY),
            "nan" => return Ok(f64::NAN),
            _ => {}
        }
        text.parse::<f64>().map_err(|_| {
            self.err_at(
                at,
                format!(
                    "error parsing number: strconv.ParseFloat: parsing {}: invalid syntax",
                    crate::template::go_quote(text)
                ),
            )
        })
    }

    fn times(&mut self, out: &[Step]) -> Result<u64, String> {
        let (at, tok) = self.next_value()?;
        let Tok::Number(text) = tok else {
            return Err(self.err_at(at, self.unexpected(&tok, "series values", "")));
        };
        let n: u64 = if !text.is_empty() && text.bytes().all(|c| c.is_ascii_digit()) {
            text.parse().map_err(|_| {
                self.err_at(
                    at,
                    format!(
                        "invalid repetition in series values: strconv.ParseUint: parsing {}: value out of range",
                        crate::template::go_quote(&text)
                    ),
                )
            })?
        } else {
            return Err(self.err_at(
                at,
                format!(
                    "invalid repetition in series values: strconv.ParseUint: parsing {}: invalid syntax",
                    crate::template::go_quote(&text)
                ),
            ));
        };
        if n >= MAX_STEPS || out.len() as u64 + n >= MAX_STEPS {
            return Err(self.err_at(at, format!("more than {MAX_STEPS} steps in series values")));
        }
        Ok(n)
    }

    /// A `series_value`: a number, a signed number or `stale`.
    fn series_value(&mut self, at: usize, tok: Tok) -> Result<f64, String> {
        match tok {
            Tok::Number(t) => self.number(at, &t),
            Tok::Ident(w) if w == "stale" => Ok(f64::from_bits(STALE_NAN_BITS)),
            Tok::Ident(_) => Err(self.err_at(
                at,
                self.unexpected(&tok, "series values", "number or \"stale\""),
            )),
            Tok::Add | Tok::Sub => {
                let neg = tok == Tok::Sub;
                let (at2, t2) = self.next_value()?;
                let Tok::Number(text) = t2 else {
                    return Err(self.err_at(at2, self.unexpected(&t2, "series values", "")));
                };
                let v = self.number(at2, &text)?;
                Ok(if neg { -v } else { v })
            }
            other => Err(self.err_at(at, self.unexpected(&other, "series values", ""))),
        }
    }

    /// The value sequence after the metric.
    fn values(&mut self) -> Result<Vec<Step>, String> {
        let mut out: Vec<Step> = Vec::new();
        // The sequence must start with a space after the metric.
        let (at, tok) = self.next_value()?;
        match tok {
            Tok::Eof => return Ok(out),
            Tok::Space => {}
            other => return Err(self.err_at(at, self.unexpected(&other, "series values", ""))),
        }
        loop {
            let (at, tok) = self.next_value()?;
            match tok {
                Tok::Eof => return Ok(out),
                Tok::Times => return Err(self.err_at(at, "unexpected \"x\"")),
                Tok::Blank => {
                    let (at2, t2) = self.next_value()?;
                    match t2 {
                        Tok::Space => {
                            out.push(None);
                            continue;
                        }
                        Tok::Eof => {
                            out.push(None);
                            return Ok(out);
                        }
                        Tok::Times => {
                            let n = self.times(&out)?;
                            out.extend(std::iter::repeat_n(None, n as usize));
                        }
                        other => {
                            return Err(
                                self.err_at(at2, self.unexpected(&other, "series values", ""))
                            )
                        }
                    }
                }
                tok => {
                    let first = self.series_value(at, tok)?;
                    let (at2, t2) = self.next_value()?;
                    match t2 {
                        Tok::Space => {
                            out.push(Some(first));
                            continue;
                        }
                        Tok::Eof => {
                            out.push(Some(first));
                            return Ok(out);
                        }
                        Tok::Times => {
                            let n = self.times(&out)?;
                            out.extend(std::iter::repeat_n(Some(first), n as usize + 1));
                        }
                        Tok::Add | Tok::Sub => {
                            let step = self.series_value(at2, t2)?;
                            let (at3, t3) = self.next_value()?;
                            if t3 != Tok::Times {
                                return Err(
                                    self.err_at(at3, self.unexpected(&t3, "series values", ""))
                                );
                            }
                            let n = self.times(&out)?;
                            let mut v = first;
                            out.push(Some(v));
                            for _ in 0..n {
                                v += step;
                                out.push(Some(v));
                            }
                        }
                        other => {
                            return Err(
                                self.err_at(at2, self.unexpected(&other, "series values", ""))
                            )
                        }
                    }
                }
            }
            // After a repetition: a space or the end.
            let (at, tok) = self.next_value()?;
            match tok {
                Tok::Space => {}
                Tok::Eof => return Ok(out),
                other => return Err(self.err_at(at, self.unexpected(&other, "series values", ""))),
            }
        }
    }
}

/// A label value's text: Prometheus's `strutil.Unquote` (Go's escapes in `"…"` and
/// `'…'`, none in `` `…` ``).
fn unquote_label(q: &str) -> Result<String, String> {
    let bad = || "invalid syntax".to_string();
    let quote = q.chars().next().ok_or_else(bad)?;
    if q.len() < 2 || !q.ends_with(quote) {
        return Err(bad());
    }
    let body = &q[1..q.len() - 1];
    if quote == '`' {
        return Ok(body.to_string());
    }
    let mut out = String::new();
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let e = chars.next().ok_or_else(bad)?;
        match e {
            'a' => out.push('\x07'),
            'b' => out.push('\x08'),
            'f' => out.push('\x0c'),
            'n' => out.push('\n'),
            'r' => out.push('\r'),
            't' => out.push('\t'),
            'v' => out.push('\x0b'),
            '\\' | '"' | '\'' => out.push(e),
            'x' | 'u' | 'U' => {
                let n = match e {
                    'x' => 2,
                    'u' => 4,
                    _ => 8,
                };
                let hex: String = chars.by_ref().take(n).collect();
                let v = u32::from_str_radix(&hex, 16).map_err(|_| bad())?;
                out.push(char::from_u32(v).ok_or_else(bad)?);
            }
            _ => return Err(bad()),
        }
    }
    Ok(out)
}

/// `%.10q...` for long token texts, `%q` otherwise.
fn short(v: &str) -> String {
    if v.chars().count() > 10 {
        let s: String = v.chars().take(10).collect();
        format!("{}...", crate::template::go_quote(&s))
    } else {
        crate::template::go_quote(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vals(s: &str) -> Vec<Option<f64>> {
        match parse_input_series("m", s) {
            Ok((_, v)) => v,
            Err(e) => panic!("{s}: {e}"),
        }
    }

    #[test]
    fn expanding_notation() {
        assert_eq!(vals("1 2 3"), [Some(1.0), Some(2.0), Some(3.0)]);
        assert_eq!(vals("1+2x3"), [Some(1.0), Some(3.0), Some(5.0), Some(7.0)]);
        assert_eq!(
            vals("-2+4x3"),
            [Some(-2.0), Some(2.0), Some(6.0), Some(10.0)]
        );
        assert_eq!(vals("1-1x2"), [Some(1.0), Some(0.0), Some(-1.0)]);
        assert_eq!(vals("1x3"), [Some(1.0); 4]);
        assert_eq!(vals("_x3"), [None; 3]);
        assert_eq!(vals("0x3"), [Some(0.0); 4]);
        assert_eq!(vals("1e3x1   .5"), [Some(1000.0), Some(1000.0), Some(0.5)]);
        assert_eq!(vals("Inf+1x1"), [Some(f64::INFINITY); 2]);
        assert_eq!(vals(""), []);
        let v = vals("1 _x3 stale _ Inf -Inf");
        assert_eq!(v.len(), 8);
        assert_eq!(v[0], Some(1.0));
        assert_eq!(v[1..4], [None; 3]);
        assert_eq!(v[4].map(f64::to_bits), Some(STALE_NAN_BITS));
        assert_eq!(v[5], None);
        assert_eq!(v[6], Some(f64::INFINITY));
        assert_eq!(v[7], Some(f64::NEG_INFINITY));
        assert!(vals("NaN")[0].is_some_and(f64::is_nan));
    }

    /// The messages promtool 2.42 prints for these (its column counts from the series
    /// text `up{a="b"}` plus a space).
    #[test]
    fn errors_as_promtool_words_them() {
        let cases = [
            ("1+2", "1:14: parse error: unexpected end of input in series values"),
            ("1+2 0", "1:14: parse error: unexpected \" \" in series values"),
            ("1x", "1:13: parse error: unexpected end of input in series values"),
            ("1xa", "1:13: parse error: unexpected identifier \"a\" in series values"),
            ("stalex2", "1:11: parse error: unexpected identifier \"stalex2\" in series values, expected number or \"stale\""),
            ("abc", "1:11: parse error: unexpected identifier \"abc\" in series values, expected number or \"stale\""),
            ("1 , 2", "1:13: parse error: unexpected character in series sequence: ','"),
            ("1a", "1:11: parse error: bad number syntax: \"1\""),
            ("1 2x", "1:15: parse error: unexpected end of input in series values"),
            ("_x", "1:13: parse error: unexpected end of input in series values"),
            ("x3", "1:11: parse error: unexpected \"x\""),
            ("1++2x3", "1:13: parse error: unexpected <op:+> in series values"),
            ("1x3.5", "1:13: parse error: invalid repetition in series values: strconv.ParseUint: parsing \"3.5\": invalid syntax"),
            ("1 -", "1:14: parse error: unexpected end of input in series values"),
            ("1e", "1:11: parse error: error parsing number: strconv.ParseFloat: parsing \"1e\": invalid syntax"),
            ("0x1f", "1:13: parse error: bad number syntax: \"1\""),
            ("--1", "1:12: parse error: unexpected <op:-> in series values"),
            ("1_000", "1:11: parse error: bad number syntax: \"1\""),
        ];
        for (values, want) in cases {
            assert_eq!(
                parse_input_series("up{a=\"b\"}", values).map(|_| ()),
                Err(want.to_string()),
                "{values}"
            );
        }
        let metric_cases = [
            ("up{job=~\"a\"}", "1:7: parse error: unexpected <op:=~> in label set, expected \"=\""),
            ("up{job=\"a\",,}", "1:12: parse error: unexpected \",\" in label set, expected identifier or \"}\""),
            ("up{job}", "1:7: parse error: unexpected \"}\" in label set, expected \"=\""),
            ("up{\"a\"=\"b\"}", "1:4: parse error: unexpected string \"\\\"a\\\"\" in label set, expected identifier or \"}\""),
            ("{}", "empty labelset: invalid sample"),
            ("up{job=\"a\"", "1:12: parse error: unexpected character inside braces: '1'"),
            ("up{job=\"a} 1", "1:8: parse error: unterminated quoted string"),
            ("1up", "1:1: parse error: bad number or duration syntax: \"1\""),
            ("up{a=\"b\"}x", "1:10: parse error: unexpected \"x\" in series values"),
        ];
        for (series, want) in metric_cases {
            assert_eq!(
                parse_input_series(series, "1").map(|_| ()),
                Err(want.to_string()),
                "{series}"
            );
        }
        assert!(parse_input_series("up", "{{schema:1 sum:2}}")
            .is_err_and(|e| e.contains("native histogram")));
    }

    #[test]
    fn metrics() {
        let m = parse_metric(r#"up{job="a", instance='x:1',}"#);
        assert_eq!(
            m,
            Ok([("__name__", "up"), ("instance", "x:1"), ("job", "a")]
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .into())
        );
        assert_eq!(
            parse_metric(r#"{__name__="a:b", x="\"q\""}"#).map(|m| m.len()),
            Ok(2)
        );
        assert_eq!(parse_metric("{}").map(|m| m.len()), Ok(0));
        assert!(parse_metric(r#"up{job=~"a"}"#).is_err());
        assert!(parse_metric(r#"up{job="a""#).is_err());
        assert_eq!(parse_metric("").map(|m| m.len()), Ok(0));
        assert!(parse_metric("up 1").is_err());
    }
}
