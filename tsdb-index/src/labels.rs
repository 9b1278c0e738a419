//! `Labels`: a validated, sorted, immutable label set stored in one buffer.
//!
//! # Encoding
//! A `Labels` is a single `Box<str>`: for every pair, sorted by name, the name's length,
//! the name, the value's length, the value. Each length is stored as *one `char`* whose
//! code point is the length (code points skip the surrogate gap, so lengths up to
//! [`MAX_STRING_LEN`] fit). Lengths below 128 take one byte, like a varint, but the buffer
//! stays valid UTF-8, so names and values are handed out as `&str` slices without unsafe
//! code and without re-validating UTF-8 on every access.
//!
//! Inside an index, label sets are stored symbolised (a `u32` per string, strings
//! interned once per index); see `mem.rs`.

use std::cmp::Ordering;
use std::fmt;

use crate::error::{cut, Error, Result};

/// The label name that holds the metric name.
pub const METRIC_NAME: &str = "__name__";

/// Hard ceiling for a label name or value in bytes: the largest length one `char` can
/// carry in the [`Labels`] encoding. [`LabelLimits`] above it are clamped to it.
pub const MAX_STRING_LEN: usize = 0x10FFFF - 0x800;

/// Limits applied when a label set is built. Defaults follow Grafana Mimir's ingestion
/// defaults, which are tuned for exactly this kind of fleet data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LabelLimits {
    /// Maximum number of labels, `__name__` included. Default 30.
    pub max_labels: usize,
    /// Maximum label name length in bytes (`__name__` itself exempt). Default 1024.
    pub max_name_len: usize,
    /// Maximum label value length in bytes (metric names included). Default 2048.
    pub max_value_len: usize,
    /// Refuse label sets without a non-empty `__name__`. Default `true`: every stored
    /// series is a metric.
    pub require_metric_name: bool,
}

impl Default for LabelLimits {
    fn default() -> Self {
        Self {
            max_labels: 30,
            max_name_len: 1024,
            max_value_len: 2048,
            require_metric_name: true,
        }
    }
}

/// An immutable, sorted, validated set of `name=value` pairs; the metric name is the value
/// of `__name__`.
///
/// Labels with an empty value are dropped on construction: in Prometheus semantics an
/// empty value and an absent label are the same thing, and storing both forms would make
/// `{env=""}` ambiguous.
///
/// ```
/// use tsdb_index::Labels;
/// let l = Labels::new([("__name__", "cpu_usage_user"), ("hostname", "host_1")]).unwrap();
/// assert_eq!(l.metric_name(), Some("cpu_usage_user"));
/// assert_eq!(l.get("hostname"), Some("host_1"));
/// assert_eq!(l.to_string(), r#"cpu_usage_user{hostname="host_1"}"#);
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Labels {
    buf: Box<str>,
}

/// Maps a length to the `char` that stores it (skipping the surrogate range).
fn len_char(n: usize) -> Option<char> {
    let n = u32::try_from(n).ok()?;
    let cp = if n < 0xD800 { n } else { n.checked_add(0x800)? };
    char::from_u32(cp)
}

/// Inverse of [`len_char`].
fn char_len(c: char) -> usize {
    let cp = c as u32;
    (if cp < 0xD800 { cp } else { cp - 0x800 }) as usize
}

/// Reads one length-prefixed string at `pos`; `None` at the end (or on a malformed
/// buffer, which cannot be built through the public API).
fn read_str(buf: &str, pos: usize) -> Option<(&str, usize)> {
    let c = buf.get(pos..)?.chars().next()?;
    let start = pos + c.len_utf8();
    let end = start.checked_add(char_len(c))?;
    Some((buf.get(start..end)?, end))
}

fn is_name_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_'
}

fn is_name_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// True if `name` is a valid label name: `[a-zA-Z_][a-zA-Z0-9_]*`.
pub fn is_valid_label_name(name: &str) -> bool {
    let b = name.as_bytes();
    match b.split_first() {
        Some((&first, rest)) => is_name_start(first) && rest.iter().all(|&c| is_name_char(c)),
        None => false,
    }
}

/// True if `name` is a valid metric name: `[a-zA-Z_:][a-zA-Z0-9_:]*`.
pub fn is_valid_metric_name(name: &str) -> bool {
    let b = name.as_bytes();
    match b.split_first() {
        Some((&first, rest)) => {
            (is_name_start(first) || first == b':')
                && rest.iter().all(|&c| is_name_char(c) || c == b':')
        }
        None => false,
    }
}

impl Labels {
    /// Builds a label set from `(name, value)` pairs in any order, validated against
    /// [`LabelLimits::default`].
    pub fn new<I, N, V>(pairs: I) -> Result<Labels>
    where
        I: IntoIterator<Item = (N, V)>,
        N: AsRef<str>,
        V: AsRef<str>,
    {
        Self::with_limits(pairs, &LabelLimits::default())
    }

    /// Builds a label set from `(name, value)` pairs in any order, validated against
    /// `limits`. The first problem found is returned as a typed error.
    pub fn with_limits<I, N, V>(pairs: I, limits: &LabelLimits) -> Result<Labels>
    where
        I: IntoIterator<Item = (N, V)>,
        N: AsRef<str>,
        V: AsRef<str>,
    {
        let max_name = limits.max_name_len.min(MAX_STRING_LEN);
        let max_value = limits.max_value_len.min(MAX_STRING_LEN);
        let mut kept: Vec<(N, V)> = Vec::new();
        let mut names_seen = 0usize;
        for (n, v) in pairs {
            names_seen += 1;
            let (name, value) = (n.as_ref(), v.as_ref());
            // `__name__` itself is exempt: it is fixed, and a limit below 8 must not
            // refuse every metric.
            if name.len() > max_name && name != METRIC_NAME {
                return Err(Error::LabelNameTooLong {
                    name: cut(name),
                    len: name.len(),
                    max: max_name,
                });
            }
            if !is_valid_label_name(name) {
                return Err(Error::InvalidLabelName { name: cut(name) });
            }
            if name.starts_with("__") && name != METRIC_NAME {
                return Err(Error::ReservedLabelName { name: cut(name) });
            }
            if value.len() > max_value {
                return Err(Error::LabelValueTooLong {
                    name: cut(name),
                    len: value.len(),
                    max: max_value,
                });
            }
            if name == METRIC_NAME && !value.is_empty() && !is_valid_metric_name(value) {
                return Err(Error::InvalidMetricName { name: cut(value) });
            }
            // Keep empty values until duplicates are checked, so `a="" , a="x"` is refused.
            kept.push((n, v));
            // Bound the work on a hostile input before sorting it.
            if names_seen > limits.max_labels.saturating_mul(2).saturating_add(64) {
                return Err(Error::TooManyLabels {
                    count: names_seen,
                    max: limits.max_labels,
                });
            }
        }
        kept.sort_unstable_by(|a, b| a.0.as_ref().cmp(b.0.as_ref()));
        for w in kept.windows(2) {
            if w[0].0.as_ref() == w[1].0.as_ref() {
                return Err(Error::DuplicateLabelName {
                    name: cut(w[0].0.as_ref()),
                });
            }
        }
        kept.retain(|(_, v)| !v.as_ref().is_empty());
        if kept.len() > limits.max_labels {
            return Err(Error::TooManyLabels {
                count: kept.len(),
                max: limits.max_labels,
            });
        }
        if limits.require_metric_name && !kept.iter().any(|(n, _)| n.as_ref() == METRIC_NAME) {
            return Err(Error::MissingMetricName);
        }
        Self::from_sorted(kept.iter().map(|(n, v)| (n.as_ref(), v.as_ref()))).ok_or(
            // Unreachable: lengths were checked against MAX_STRING_LEN above.
            Error::CapacityExceeded {
                what: "label string length",
            },
        )
    }

    /// Builds a label set from raw bytes (e.g. off the wire), checking UTF-8 first and then
    /// everything [`Labels::with_limits`] checks.
    pub fn from_bytes<'a, I>(pairs: I, limits: &LabelLimits) -> Result<Labels>
    where
        I: IntoIterator<Item = (&'a [u8], &'a [u8])>,
    {
        let mut strs = Vec::new();
        for (n, v) in pairs {
            let n = std::str::from_utf8(n).map_err(|e| Error::InvalidUtf8 {
                what: "name",
                valid_up_to: e.valid_up_to(),
            })?;
            let v = std::str::from_utf8(v).map_err(|e| Error::InvalidUtf8 {
                what: "value",
                valid_up_to: e.valid_up_to(),
            })?;
            strs.push((n, v));
        }
        Self::with_limits(strs, limits)
    }

    /// Encodes pairs that are already sorted, unique and non-empty (from an index).
    /// `None` if a string is longer than [`MAX_STRING_LEN`].
    pub(crate) fn from_sorted<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Option<Labels> {
        let mut buf = String::new();
        for (n, v) in pairs {
            buf.push(len_char(n.len())?);
            buf.push_str(n);
            buf.push(len_char(v.len())?);
            buf.push_str(v);
        }
        Some(Labels {
            buf: buf.into_boxed_str(),
        })
    }

    /// Builds a label set without validating names or values, for label sets that a
    /// query computes (`label_replace` may set any name, aggregations drop `__name__`).
    /// Pairs may come in any order; a later pair replaces an earlier one of the same name,
    /// and empty values are dropped. `None` only if a string is longer than
    /// [`MAX_STRING_LEN`].
    pub fn build_unchecked<I, N, V>(pairs: I) -> Option<Labels>
    where
        I: IntoIterator<Item = (N, V)>,
        N: AsRef<str>,
        V: AsRef<str>,
    {
        let mut kept: Vec<(N, V)> = pairs.into_iter().collect();
        // Stable sort keeps insertion order among equal names, so the last one wins below.
        kept.sort_by(|a, b| a.0.as_ref().cmp(b.0.as_ref()));
        let mut unique: Vec<(&str, &str)> = Vec::with_capacity(kept.len());
        for (n, v) in &kept {
            match unique.last_mut() {
                Some(last) if last.0 == n.as_ref() => last.1 = v.as_ref(),
                _ => unique.push((n.as_ref(), v.as_ref())),
            }
        }
        Self::from_sorted(unique.into_iter().filter(|(_, v)| !v.is_empty()))
    }

    /// The empty label set (only useful with `require_metric_name = false`).
    pub fn empty() -> Labels {
        Labels { buf: "".into() }
    }

    /// Iterates `(name, value)` pairs sorted by name.
    pub fn iter(&self) -> LabelsIter<'_> {
        LabelsIter {
            buf: &self.buf,
            pos: 0,
        }
    }

    /// The value of label `name`, if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        for (n, v) in self.iter() {
            match n.cmp(name) {
                Ordering::Less => continue,
                Ordering::Equal => return Some(v),
                Ordering::Greater => return None,
            }
        }
        None
    }

    /// The metric name (`__name__`), if present.
    pub fn metric_name(&self) -> Option<&str> {
        self.get(METRIC_NAME)
    }

    /// Number of labels.
    pub fn len(&self) -> usize {
        self.iter().count()
    }

    /// True if there are no labels.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Bytes of the single heap buffer holding this set, for memory accounting.
    pub fn encoded_len(&self) -> usize {
        self.buf.len()
    }

    /// The canonical encoding, used as a hash key by the in-memory index.
    pub(crate) fn as_encoded(&self) -> &str {
        &self.buf
    }
}

/// Iterator over the pairs of a [`Labels`], sorted by name.
#[derive(Clone, Debug)]
pub struct LabelsIter<'a> {
    buf: &'a str,
    pos: usize,
}

impl<'a> Iterator for LabelsIter<'a> {
    type Item = (&'a str, &'a str);

    fn next(&mut self) -> Option<Self::Item> {
        let (n, p) = read_str(self.buf, self.pos)?;
        let (v, p) = read_str(self.buf, p)?;
        self.pos = p;
        Some((n, v))
    }
}

impl<'a> IntoIterator for &'a Labels {
    type Item = (&'a str, &'a str);
    type IntoIter = LabelsIter<'a>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl PartialOrd for Labels {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Labels {
    /// Pairwise lexicographic order, like Prometheus `labels.Compare`.
    fn cmp(&self, other: &Self) -> Ordering {
        self.iter().cmp(other.iter())
    }
}

/// Writes `s` as a double-quoted string with `\\`, `\"` and `\n` escaped (PromQL style).
pub(crate) fn write_quoted(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    f.write_str("\"")?;
    for c in s.chars() {
        match c {
            '\\' => f.write_str("\\\\")?,
            '"' => f.write_str("\\\"")?,
            '\n' => f.write_str("\\n")?,
            c => fmt::Write::write_char(f, c)?,
        }
    }
    f.write_str("\"")
}

impl fmt::Display for Labels {
    /// PromQL series notation: `metric{a="1", b="2"}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(m) = self.metric_name() {
            f.write_str(m)?;
        }
        f.write_str("{")?;
        let mut first = true;
        for (n, v) in self.iter().filter(|(n, _)| *n != METRIC_NAME) {
            if !first {
                f.write_str(", ")?;
            }
            first = false;
            f.write_str(n)?;
            f.write_str("=")?;
            write_quoted(f, v)?;
        }
        f.write_str("}")
    }
}

impl fmt::Debug for Labels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn sorted_and_compact() {
        let l = Labels::new([("b", "2"), ("__name__", "m"), ("a", "1")]).unwrap();
        let pairs: Vec<_> = l.iter().collect();
        assert_eq!(pairs, vec![("__name__", "m"), ("a", "1"), ("b", "2")]);
        // 3 pairs x (1 + name + 1 + value) bytes, one buffer.
        assert_eq!(l.encoded_len(), (1 + 8 + 1 + 1) + (1 + 1 + 1 + 1) * 2);
        assert_eq!(l.len(), 3);
        assert_eq!(l.get("a"), Some("1"));
        assert_eq!(l.get("c"), None);
        assert_eq!(l.get("0"), None);
    }

    #[test]
    fn empty_values_are_dropped() {
        let l = Labels::new([("__name__", "m"), ("env", "")]).unwrap();
        assert_eq!(l.len(), 1);
        assert_eq!(l.get("env"), None);
    }

    #[test]
    fn length_chars_cover_the_surrogate_gap() {
        for n in [0usize, 127, 128, 0xD7FF, 0xD800, 0xE000, MAX_STRING_LEN] {
            let c = len_char(n).unwrap();
            assert_eq!(char_len(c), n);
        }
        assert!(len_char(MAX_STRING_LEN + 1).is_none());
    }

    #[test]
    fn long_values_round_trip() {
        let v = "x".repeat(0xD900);
        let limits = LabelLimits {
            max_value_len: usize::MAX,
            ..LabelLimits::default()
        };
        let l = Labels::with_limits([("__name__", "m"), ("big", v.as_str())], &limits).unwrap();
        assert_eq!(l.get("big"), Some(v.as_str()));
    }

    #[test]
    fn display_escapes() {
        let l = Labels::new([("__name__", "m"), ("a", "q\"\\\n")]).unwrap();
        assert_eq!(l.to_string(), r#"m{a="q\"\\\n"}"#);
    }

    proptest! {
        #[test]
        fn round_trip_any_strings(
            pairs in proptest::collection::btree_map("[a-z_][a-z0-9_]{0,6}", "\\PC{1,20}", 0..8)
        ) {
            let limits = LabelLimits { require_metric_name: false, ..LabelLimits::default() };
            let pairs: Vec<(String, String)> =
                pairs.into_iter().filter(|(n, _)| !n.starts_with("__")).collect();
            let l = Labels::with_limits(pairs.clone(), &limits).unwrap();
            let got: Vec<(String, String)> =
                l.iter().map(|(n, v)| (n.to_owned(), v.to_owned())).collect();
            prop_assert_eq!(got, pairs);
        }
    }
}
