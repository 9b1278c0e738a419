//! Input series of rule unit tests: the series description of Prometheus's PromQL test
//! language (`promql/parser`'s `ParseSeriesDesc`), a metric with labels and an expanding
//! value notation: `1 2 3`, `_` (no sample at that step), `_x3` (three steps without
//! samples), `stale` (a staleness marker), `1x3` (1 four times), `1+2x3` (1 3 5 7),
//! `-2+4x3`, `1-1x2`, `Inf`, `NaN`. Native-histogram values (`{{schema:…}}`) are refused.

use std::collections::BTreeMap;

use tsdb_query::STALE_NAN_BITS;

/// One step of a series: a value, or no sample (`_`).
pub type Step = Option<f64>;

/// Parses a metric in the text format Prometheus's `ParseMetric` reads: an optional name
/// and an optional label set with `=` only (`up{job="a"}`, `{__name__="up"}`).
pub fn parse_metric(text: &str) -> Result<BTreeMap<String, String>, String> {
    let mut p = Cursor { s: text, i: 0 };
    let labels = p.metric()?;
    p.skip_space();
    if p.i < p.s.len() {
        return Err(format!(
            "unexpected {:?} after the metric in {text:?}",
            &p.s[p.i..]
        ));
    }
    Ok(labels)
}

/// Parses the `values` of an input series into steps.
pub fn parse_values(text: &str) -> Result<Vec<Step>, String> {
    if text.contains("{{") {
        return Err(format!(
            "native histogram input series are not supported: {text:?}"
        ));
    }
    let mut out = Vec::new();
    for item in text.split([' ', '\t', '\n', '\r']).filter(|s| !s.is_empty()) {
        expand_item(item, &mut out)
            .map_err(|m| format!("{m} in series values {text:?}"))?;
    }
    Ok(out)
}

/// How many steps one item may expand to: a guard against `1x99999999999` exhausting
/// memory; Prometheus would try and allocate them all.
pub const MAX_STEPS: u64 = 10_000_000;

fn expand_item(item: &str, out: &mut Vec<Step>) -> Result<(), String> {
    let bad = || format!("unexpected {item:?}");
    if let Some(rest) = item.strip_prefix('_') {
        if rest.is_empty() {
            out.push(None);
            return Ok(());
        }
        let n = times(rest).ok_or_else(bad)?;
        guard(out, n)?;
        out.extend(std::iter::repeat_n(None, n as usize));
        return Ok(());
    }
    if item == "stale" {
        out.push(Some(f64::from_bits(STALE_NAN_BITS)));
        return Ok(());
    }
    // series_value [signed_number] [x uint]
    let (first, rest) = signed_number(item).ok_or_else(bad)?;
    if rest.is_empty() {
        out.push(Some(first));
        return Ok(());
    }
    if let Some(n) = times(rest) {
        guard(out, n.saturating_add(1))?;
        out.extend(std::iter::repeat_n(Some(first), n as usize + 1));
        return Ok(());
    }
    if !rest.starts_with(['+', '-']) {
        return Err(bad());
    }
    let (step, rest) = signed_number(rest).ok_or_else(bad)?;
    let n = times(rest).ok_or_else(bad)?;
    guard(out, n.saturating_add(1))?;
    let mut v = first;
    out.push(Some(v));
    for _ in 0..n {
        v += step;
        out.push(Some(v));
    }
    Ok(())
}

fn guard(out: &[Step], n: u64) -> Result<(), String> {
    if n > MAX_STEPS || out.len() as u64 + n > MAX_STEPS {
        return Err(format!("more than {MAX_STEPS} steps"));
    }
    Ok(())
}

/// `x<uint>` (the whole rest).
fn times(s: &str) -> Option<u64> {
    let d = s.strip_prefix('x')?;
    if d.is_empty() || !d.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    d.parse().ok()
}

/// A number with an optional sign at the start of `s`, as the series lexer reads it:
/// decimal digits, a fraction, an exponent (no hexadecimal: `0x3` is 0 three more times),
/// or `Inf`/`NaN` (any case). Returns the value and the rest.
fn signed_number(s: &str) -> Option<(f64, &str)> {
    let (neg, body) = match s.as_bytes().first()? {
        b'+' => (false, &s[1..]),
        b'-' => (true, &s[1..]),
        _ => (false, s),
    };
    let lower = body.to_ascii_lowercase();
    for (word, v) in [("inf", f64::INFINITY), ("nan", f64::NAN)] {
        if lower.starts_with(word) {
            let rest = &body[word.len()..];
            // An identifier runs on over letters and digits: `Infx3` is one word.
            if rest.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_') {
                return None;
            }
            return Some((if neg { -v } else { v }, rest));
        }
    }
    let b = body.as_bytes();
    let mut i = 0;
    let digits = |i: &mut usize| {
        let start = *i;
        while b.get(*i).is_some_and(u8::is_ascii_digit) {
            *i += 1;
        }
        *i > start
    };
    let int = digits(&mut i);
    let mut frac = false;
    if b.get(i) == Some(&b'.') {
        i += 1;
        frac = digits(&mut i);
    }
    if !int && !frac {
        return None;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        digits(&mut i);
    }
    // What follows must not be alphanumeric, except the `x` of a repetition.
    if let Some(&c) = b.get(i) {
        if c != b'x' && (c.is_ascii_alphanumeric() || c == b'_') {
            return None;
        }
    }
    let v: f64 = body[..i].parse().ok()?;
    Some((if neg { -v } else { v }, &body[i..]))
}

struct Cursor<'a> {
    s: &'a str,
    i: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<char> {
        self.s[self.i..].chars().next()
    }

    fn skip_space(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.i += 1;
        }
    }

    fn ident(&mut self, colon: bool) -> Option<String> {
        let start = self.i;
        for (k, c) in self.s[self.i..].char_indices() {
            let ok = c.is_ascii_alphabetic()
                || c == '_'
                || (colon && c == ':')
                || (k > 0 && c.is_ascii_digit());
            if !ok {
                break;
            }
            self.i = start + k + c.len_utf8();
        }
        (self.i > start).then(|| self.s[start..self.i].to_string())
    }

    fn metric(&mut self) -> Result<BTreeMap<String, String>, String> {
        let mut labels = BTreeMap::new();
        self.skip_space();
        if let Some(name) = self.ident(true) {
            labels.insert("__name__".to_string(), name);
        }
        self.skip_space();
        if self.peek() != Some('{') {
            if labels.is_empty() {
                return Err(format!("no metric name or label set in {:?}", self.s));
            }
            return Ok(labels);
        }
        self.i += 1;
        loop {
            self.skip_space();
            if self.peek() == Some('}') {
                self.i += 1;
                return Ok(labels);
            }
            let name = self
                .ident(false)
                .ok_or_else(|| format!("expected a label name at byte {} of {:?}", self.i, self.s))?;
            self.skip_space();
            if self.peek() != Some('=') || self.s[self.i..].starts_with("=~") {
                return Err(format!(
                    "expected \"=\" after label {name:?} in {:?}",
                    self.s
                ));
            }
            self.i += 1;
            self.skip_space();
            let value = self.string()?;
            if labels.insert(name.clone(), value).is_some() && name != "__name__" {
                return Err(format!("duplicate label name {name:?} in {:?}", self.s));
            }
            self.skip_space();
            match self.peek() {
                Some(',') => self.i += 1,
                Some('}') => {}
                _ => return Err(format!("expected \",\" or \"}}\" in {:?}", self.s)),
            }
        }
    }

    /// A quoted label value: `"…"` or `'…'` with Go's escapes, or `` `…` ``.
    fn string(&mut self) -> Result<String, String> {
        let bad = || format!("expected a quoted label value in {:?}", self.s);
        let q = self.peek().ok_or_else(bad)?;
        if !matches!(q, '"' | '\'' | '`') {
            return Err(bad());
        }
        let body_start = self.i + 1;
        let mut out = String::new();
        let mut chars = self.s[body_start..].char_indices();
        while let Some((k, c)) = chars.next() {
            if c == q {
                self.i = body_start + k + 1;
                return Ok(out);
            }
            if c == '\\' && q != '`' {
                let (_, e) = chars.next().ok_or_else(bad)?;
                match e {
                    'n' => out.push('\n'),
                    't' => out.push('\t'),
                    'r' => out.push('\r'),
                    '\\' => out.push('\\'),
                    '"' => out.push('"'),
                    '\'' => out.push('\''),
                    'a' => out.push('\x07'),
                    'b' => out.push('\x08'),
                    'f' => out.push('\x0c'),
                    'v' => out.push('\x0b'),
                    'x' | 'u' | 'U' => {
                        let n = match e {
                            'x' => 2,
                            'u' => 4,
                            _ => 8,
                        };
                        let hex: String = (0..n).filter_map(|_| chars.next().map(|(_, c)| c)).collect();
                        let v = u32::from_str_radix(&hex, 16).map_err(|_| bad())?;
                        out.push(char::from_u32(v).ok_or_else(bad)?);
                    }
                    _ => return Err(bad()),
                }
            } else {
                out.push(c);
            }
        }
        Err(bad())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vals(s: &str) -> Vec<Option<f64>> {
        match parse_values(s) {
            Ok(v) => v,
            Err(e) => panic!("{s}: {e}"),
        }
    }

    #[test]
    fn expanding_notation() {
        assert_eq!(vals("1 2 3"), [Some(1.0), Some(2.0), Some(3.0)]);
        assert_eq!(vals("1+2x3"), [Some(1.0), Some(3.0), Some(5.0), Some(7.0)]);
        assert_eq!(vals("-2+4x3"), [Some(-2.0), Some(2.0), Some(6.0), Some(10.0)]);
        assert_eq!(vals("1-1x2"), [Some(1.0), Some(0.0), Some(-1.0)]);
        assert_eq!(vals("1x3"), [Some(1.0); 4]);
        assert_eq!(vals("_x3"), [None; 3]);
        assert_eq!(vals("0x3"), [Some(0.0); 4]);
        assert_eq!(vals("1e3x1 .5"), [Some(1000.0), Some(1000.0), Some(0.5)]);
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
        for bad in ["1+2", "x3", "stalex3", "Infx3", "1a", "1x", "1x-2", "_3", "1+2x3.5", "{{schema:1}}"] {
            assert!(parse_values(bad).is_err(), "{bad}");
        }
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
        assert!(parse_metric(r#"up{job=~"a"}"#).is_err());
        assert!(parse_metric(r#"up{job="a""#).is_err());
        assert!(parse_metric("").is_err());
        assert!(parse_metric("up 1").is_err());
    }
}
