//! Relabeling with Prometheus's semantics (`model/relabel` of Prometheus 2.42 and later):
//! the rules operators paste from their `relabel_configs` and `metric_relabel_configs`
//! must give the same label sets here as there, and what Prometheus refuses is refused
//! here with the same message.
//!
//! What Prometheus does that we do too:
//! - The YAML/JSON shape of a rule: `source_labels`, `separator` (default `;`), `regex`
//!   (default `(.*)`), `modulus`, `target_label`, `replacement` (default `$1`), `action`
//!   (default `replace`, read case-insensitively); unknown keys and unknown actions are
//!   refused; a key given as `null` takes the zero value (so `regex:` with nothing after
//!   it matches only the empty string, as in Prometheus).
//! - Regexes anchored as `^(?:regex)$`.
//! - Validation at load time with Prometheus's rules and messages ([`RelabelConfig::validate`]),
//!   including the template check of `target_label` (replace) and `replacement` (labelmap).
//! - The eleven actions: `replace` (no write when the regex does not match or the expanded
//!   target is not a valid label name; an empty result deletes the target label), `keep`,
//!   `drop`, `keepequal`, `dropequal`, `hashmod` (MD5, the low 8 bytes big-endian, modulo),
//!   `labelmap`, `labeldrop`, `labelkeep`, `lowercase`, `uppercase`.
//! - Template expansion exactly as Go's `Regexp.Expand`: `$1`, `${1}`, `$name`, `${name}`,
//!   `$$`; `$1x` names the group `1x` (so it expands to nothing); unknown or unmatched
//!   groups expand to nothing; a malformed `$` stays literal; a number with a leading zero
//!   is a name, not a number.
//! - A label set to the empty value is deleted (Prometheus's `labels.Builder`), and the
//!   order in which `labelmap` visits labels follows the builder's (unchanged labels in
//!   name order, then labels written by earlier rules in the order they were written), so
//!   two labels mapped to one name end with the same winner.
//! - `lowercase`/`uppercase` map each character as Go's `strings.ToLower`/`ToUpper` do
//!   (simple one-to-one case mappings: `ß` stays `ß`).
//!
//! We follow Prometheus 2.x where 3.x changed: 3.x anchors as `^(?s:regex)$` (`.` also
//! matches a newline) and may validate names as UTF-8; 2.x, and we, anchor as
//! `^(?:regex)$` and take the classic label-name rule.
//!
//! Known differences, all in the regex dialect: Rust's `regex` crate is RE2's close
//! cousin, but `\d`, `\w`, `\s` and `\b` are Unicode-aware here and ASCII-only in Go, and
//! Go's `\Q…\E` and `\C` are refused here. Label names are checked with the classic
//! (pre-UTF-8) rule `[a-zA-Z_][a-zA-Z0-9_]*`, as Prometheus 2.x does.

use std::fmt;
use std::sync::LazyLock;

use md5::{Digest, Md5};
use serde::{Deserialize, Deserializer};
use tsdb_index::{is_valid_label_name, Labels};

/// Errors from loading or validating a relabel rule. The messages are Prometheus's own, so
/// that an operator searching for one finds Prometheus's documentation of it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RelabelError {
    /// `action: null` (Go's empty action).
    #[error("relabel action cannot be empty")]
    EmptyAction,
    /// `action` names no relabel action.
    #[error("unknown relabel action {0:?}")]
    UnknownAction(String),
    /// `regex` does not compile.
    #[error("error parsing regexp {pattern:?}: {reason}")]
    InvalidRegex {
        /// The pattern as written (without the anchors we add).
        pattern: String,
        /// The regex crate's explanation.
        reason: String,
    },
    /// A name in `source_labels` is not a valid label name.
    #[error("{0:?} is not a valid label name")]
    InvalidSourceLabel(String),
    /// `hashmod` with `modulus` 0 (or absent).
    #[error("relabel configuration for hashmod requires non-zero modulus")]
    ZeroModulus,
    /// An action that writes a label has no `target_label`.
    #[error("relabel configuration for {0} action requires 'target_label' value")]
    MissingTargetLabel(Action),
    /// `target_label` is not a label name (or, for `replace`, not a valid template).
    #[error("{target:?} is invalid 'target_label' for {action} action")]
    InvalidTargetLabel {
        /// The `target_label` as written.
        target: String,
        /// The rule's action.
        action: Action,
    },
    /// `replacement` given for an action that has no use for it.
    #[error("'replacement' can not be set for {0} action")]
    ReplacementNotAllowed(Action),
    /// `labelmap`'s `replacement` cannot expand to a label name.
    #[error("{replacement:?} is invalid 'replacement' for {action} action")]
    InvalidReplacement {
        /// The `replacement` as written.
        replacement: String,
        /// The rule's action.
        action: Action,
    },
    /// `keepequal`/`dropequal` with a field other than `source_labels`/`target_label`.
    #[error("{0} action requires only 'source_labels' and `target_label`, and no other fields")]
    EqualActionExtraFields(Action),
    /// `labeldrop`/`labelkeep` with a field other than `regex`.
    #[error("{0} action requires only 'regex', and no other fields")]
    LabelActionExtraFields(Action),
}

/// A relabel action. Read case-insensitively, as Prometheus lowercases it before matching.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Action {
    /// Writes the expanded `replacement` to the expanded `target_label` if `regex` matches.
    #[default]
    Replace,
    /// Drops the label set unless `regex` matches the joined source values.
    Keep,
    /// Drops the label set if `regex` matches the joined source values.
    Drop,
    /// Drops the label set unless `target_label`'s value equals the joined source values.
    KeepEqual,
    /// Drops the label set if `target_label`'s value equals the joined source values.
    DropEqual,
    /// Sets `target_label` to the MD5 of the joined source values modulo `modulus`.
    HashMod,
    /// Copies every label whose name matches `regex` to the name `replacement` expands to.
    LabelMap,
    /// Deletes every label whose name matches `regex`.
    LabelDrop,
    /// Deletes every label whose name does not match `regex`.
    LabelKeep,
    /// Sets `target_label` to the lower-cased joined source values.
    Lowercase,
    /// Sets `target_label` to the upper-cased joined source values.
    Uppercase,
}

impl Action {
    /// Every action, in Prometheus's order.
    pub const ALL: [Action; 11] = [
        Action::Replace,
        Action::Keep,
        Action::Drop,
        Action::KeepEqual,
        Action::DropEqual,
        Action::HashMod,
        Action::LabelMap,
        Action::LabelDrop,
        Action::LabelKeep,
        Action::Lowercase,
        Action::Uppercase,
    ];

    /// The name used in configuration files.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Replace => "replace",
            Action::Keep => "keep",
            Action::Drop => "drop",
            Action::KeepEqual => "keepequal",
            Action::DropEqual => "dropequal",
            Action::HashMod => "hashmod",
            Action::LabelMap => "labelmap",
            Action::LabelDrop => "labeldrop",
            Action::LabelKeep => "labelkeep",
            Action::Lowercase => "lowercase",
            Action::Uppercase => "uppercase",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Action {
    type Err = RelabelError;

    /// Case-insensitive, as Prometheus (`Replace` and `KEEP` are accepted).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = go_lower(s);
        Action::ALL
            .into_iter()
            .find(|a| a.as_str() == lower)
            .ok_or_else(|| RelabelError::UnknownAction(s.to_string()))
    }
}

impl<'de> Deserialize<'de> for Action {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// The regex of a rule: the pattern as written and its anchored compilation.
#[derive(Clone, Debug)]
pub struct RelabelRegex {
    source: String,
    re: regex::Regex,
    /// True for the default regex only, not for a `(.*)` written out: Prometheus tells
    /// them apart (it compares the compiled regex's pointer with the default's), so
    /// `keepequal` with `regex: (.*)` written out is refused there and here.
    default: bool,
}

/// The default `regex`, `(.*)`.
const DEFAULT_REGEX: &str = "(.*)";
/// The default `separator`.
const DEFAULT_SEPARATOR: &str = ";";
/// The default `replacement`.
const DEFAULT_REPLACEMENT: &str = "$1";

impl RelabelRegex {
    /// Compiles `pattern` anchored at both ends (`^(?:pattern)$`), as Prometheus does, so
    /// that `foo` matches only `foo` and never `xfoox`.
    pub fn new(pattern: &str) -> Result<Self, RelabelError> {
        let re = regex::Regex::new(&format!("^(?:{pattern})$")).map_err(|e| {
            RelabelError::InvalidRegex {
                pattern: pattern.to_string(),
                reason: e.to_string(),
            }
        })?;
        Ok(Self {
            source: pattern.to_string(),
            re,
            default: false,
        })
    }

    /// The pattern as written, without the anchors.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// True if the whole of `s` matches.
    pub fn is_match(&self, s: &str) -> bool {
        self.re.is_match(s)
    }

    fn is_default(&self) -> bool {
        self.default
    }
}

impl Default for RelabelRegex {
    fn default() -> Self {
        Self {
            source: DEFAULT_REGEX.to_string(),
            re: DEFAULT_COMPILED.clone(),
            default: true,
        }
    }
}

/// The default regex, compiled once (a `Regex` clone shares the compiled program).
/// The pattern is a constant that compiles; the fallback is never taken but keeps this
/// free of `expect`.
static DEFAULT_COMPILED: LazyLock<regex::Regex> =
    LazyLock::new(|| regex::Regex::new("^(?:(.*))$").unwrap_or_else(|_| never_matching()));

/// A regex that cannot fail to compile; only a fallback for constant patterns.
fn never_matching() -> regex::Regex {
    #[allow(clippy::unwrap_used)] // a literal of the regex crate's own syntax
    regex::Regex::new(r"[^\s\S]").unwrap()
}

/// Equal when written the same (the default and a written-out `(.*)` compare equal).
impl PartialEq for RelabelRegex {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl Eq for RelabelRegex {}

/// One relabel rule, as an entry of Prometheus's `relabel_configs`. Build it from YAML or
/// JSON with serde (validated on the way in, as Prometheus validates while unmarshalling)
/// or in code from [`RelabelConfig::default`] (then call [`RelabelConfig::validate`]).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "RawConfig")]
pub struct RelabelConfig {
    /// Labels whose values are joined with `separator` to make the input of the rule.
    /// `None` (the key absent) differs from an empty list only for `labeldrop` and
    /// `labelkeep`, which refuse the key altogether, as Prometheus does.
    pub source_labels: Option<Vec<String>>,
    /// Joins the source values. Default `;`.
    pub separator: String,
    /// Matched against the joined values (or label names for the `label*` actions).
    /// Default `(.*)`.
    pub regex: RelabelRegex,
    /// `hashmod`'s divisor.
    pub modulus: u64,
    /// The label written (a template for `replace`).
    pub target_label: String,
    /// The value written by `replace`, the name written by `labelmap`. Default `$1`.
    pub replacement: String,
    /// What the rule does. Default `replace`.
    pub action: Action,
}

impl Default for RelabelConfig {
    /// Prometheus's `DefaultRelabelConfig`.
    fn default() -> Self {
        Self {
            source_labels: None,
            separator: DEFAULT_SEPARATOR.to_string(),
            regex: RelabelRegex::default(),
            modulus: 0,
            target_label: String::new(),
            replacement: DEFAULT_REPLACEMENT.to_string(),
            action: Action::Replace,
        }
    }
}

/// The wire shape: every key optional, absent keys take Prometheus's defaults, `null`
/// keys take the zero value (Go's YAML decoder leaves a zero there).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    source_labels: Option<Vec<String>>,
    #[serde(default = "default_separator", deserialize_with = "null_as_empty")]
    separator: String,
    /// Outer `None`: absent (the default regex); inner `None`: `null` (the empty regex).
    #[serde(default, deserialize_with = "present")]
    regex: Option<Option<String>>,
    #[serde(default, deserialize_with = "null_as_zero")]
    modulus: u64,
    #[serde(default, deserialize_with = "null_as_empty")]
    target_label: String,
    #[serde(default = "default_replacement", deserialize_with = "null_as_empty")]
    replacement: String,
    /// Outer `None`: absent (default `replace`); inner `None`: `null`, Go's empty action.
    #[serde(default, deserialize_with = "present")]
    action: Option<Option<Action>>,
}

/// Tells a key given as `null` (`Some(None)`) from an absent one (`None`, via `default`).
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

fn default_separator() -> String {
    DEFAULT_SEPARATOR.to_string()
}

fn default_replacement() -> String {
    DEFAULT_REPLACEMENT.to_string()
}

fn null_as_empty<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(Option::<String>::deserialize(d)?.unwrap_or_default())
}

fn null_as_zero<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    Ok(Option::<u64>::deserialize(d)?.unwrap_or_default())
}

impl TryFrom<RawConfig> for RelabelConfig {
    type Error = RelabelError;

    fn try_from(raw: RawConfig) -> Result<Self, RelabelError> {
        // Prometheus's `model.LabelNames` refuses an invalid name while decoding.
        if let Some(bad) = raw
            .source_labels
            .iter()
            .flatten()
            .find(|n| !is_valid_label_name(n))
        {
            return Err(RelabelError::InvalidSourceLabel(bad.clone()));
        }
        let cfg = RelabelConfig {
            source_labels: raw.source_labels,
            separator: raw.separator,
            regex: match raw.regex {
                None => RelabelRegex::default(),
                Some(written) => RelabelRegex::new(written.as_deref().unwrap_or(""))?,
            },
            modulus: raw.modulus,
            target_label: raw.target_label,
            replacement: raw.replacement,
            // `action: null` leaves Go's zero value, the empty action, which
            // Prometheus's validation refuses.
            action: match raw.action {
                Some(Some(a)) => a,
                Some(None) => return Err(RelabelError::EmptyAction),
                None => Action::Replace,
            },
        };
        cfg.validate()?;
        Ok(cfg)
    }
}

/// `target_label` templates Prometheus accepts for `replace` (and `replacement` for
/// `labelmap`): label-name characters and `$name`/`${name}` references. Go's `\w` is
/// ASCII, hence the explicit classes.
static RELABEL_TARGET: LazyLock<regex::Regex> = LazyLock::new(|| {
    regex::Regex::new(r"^(?:(?:[a-zA-Z_]|\$(?:\{[0-9A-Za-z_]+\}|[0-9A-Za-z_]+))+[0-9A-Za-z_]*)+$")
        .unwrap_or_else(|_| never_matching())
});

fn is_valid_template(s: &str) -> bool {
    RELABEL_TARGET.is_match(s)
}

impl RelabelConfig {
    /// Prometheus's `Config.Validate`, check for check and in the same order, so the first
    /// error reported is the one Prometheus would report.
    pub fn validate(&self) -> Result<(), RelabelError> {
        use Action::*;
        let a = self.action;
        if self.modulus == 0 && a == HashMod {
            return Err(RelabelError::ZeroModulus);
        }
        let invalid_target = || RelabelError::InvalidTargetLabel {
            target: self.target_label.clone(),
            action: a,
        };
        if matches!(
            a,
            Replace | HashMod | Lowercase | Uppercase | KeepEqual | DropEqual
        ) && self.target_label.is_empty()
        {
            return Err(RelabelError::MissingTargetLabel(a));
        }
        if a == Replace {
            let ok = if self.target_label.contains('$') {
                is_valid_template(&self.target_label)
            } else {
                is_valid_label_name(&self.target_label)
            };
            if !ok {
                return Err(invalid_target());
            }
        }
        let equal_or_case = matches!(a, Lowercase | Uppercase | KeepEqual | DropEqual);
        if equal_or_case && !is_valid_label_name(&self.target_label) {
            return Err(invalid_target());
        }
        if equal_or_case && self.replacement != DEFAULT_REPLACEMENT {
            return Err(RelabelError::ReplacementNotAllowed(a));
        }
        if a == LabelMap && !is_valid_template(&self.replacement) {
            return Err(RelabelError::InvalidReplacement {
                replacement: self.replacement.clone(),
                action: a,
            });
        }
        if a == HashMod && !is_valid_label_name(&self.target_label) {
            return Err(invalid_target());
        }
        if matches!(a, KeepEqual | DropEqual)
            && (!self.regex.is_default()
                || self.modulus != 0
                || self.separator != DEFAULT_SEPARATOR
                || self.replacement != DEFAULT_REPLACEMENT)
        {
            return Err(RelabelError::EqualActionExtraFields(a));
        }
        if matches!(a, LabelDrop | LabelKeep)
            && (self.source_labels.is_some()
                || !self.target_label.is_empty()
                || self.modulus != 0
                || self.separator != DEFAULT_SEPARATOR
                || self.replacement != DEFAULT_REPLACEMENT)
        {
            return Err(RelabelError::LabelActionExtraFields(a));
        }
        Ok(())
    }
}

/// Applies `configs` in order to `labels`. `None` if a rule dropped the label set.
///
/// The result is built without validating names (like Prometheus's builder): a
/// `labelmap` may produce any name its template allows, and the caller (target
/// population, the scrape loop) checks the final set as Prometheus does there.
/// An empty value deletes a label, so the result never holds one. `None` too, in the
/// one case [`Labels`] cannot hold the result: a value longer than
/// [`tsdb_index::MAX_STRING_LEN`] (1 MiB and more, built by joining or repeating long
/// values); Prometheus would keep it and fail the target or sample later.
pub fn process(labels: &Labels, configs: &[RelabelConfig]) -> Option<Labels> {
    let mut b = Builder::new(labels);
    for cfg in configs {
        if !relabel(cfg, &mut b) {
            return None;
        }
    }
    b.labels()
}

/// Prometheus's `labels.Builder`, down to the order `range` visits labels in: that order
/// decides which label wins when `labelmap` maps two labels to one name.
struct Builder<'a> {
    base: &'a Labels,
    /// Names deleted from `base` (a name may be both here and in `add`; `add` wins).
    del: Vec<String>,
    /// Labels written, in the order they were first written since their last deletion.
    add: Vec<(String, String)>,
}

impl<'a> Builder<'a> {
    fn new(base: &'a Labels) -> Self {
        Self {
            base,
            del: Vec::new(),
            add: Vec::new(),
        }
    }

    /// The current value, `""` when absent (Prometheus does not tell the two apart).
    fn get(&self, name: &str) -> &str {
        if let Some((_, v)) = self.add.iter().find(|(n, _)| n == name) {
            return v;
        }
        if self.del.iter().any(|n| n == name) {
            return "";
        }
        self.base.get(name).unwrap_or("")
    }

    fn set(&mut self, name: &str, value: &str) {
        if value.is_empty() {
            self.del(name);
            return;
        }
        match self.add.iter_mut().find(|(n, _)| n == name) {
            Some(slot) => value.clone_into(&mut slot.1),
            None => self.add.push((name.to_string(), value.to_string())),
        }
    }

    fn del(&mut self, name: &str) {
        self.add.retain(|(n, _)| n != name);
        self.del.push(name.to_string());
    }

    /// A snapshot of the current labels in the builder's visiting order: untouched base
    /// labels by name, then written labels in write order.
    fn snapshot(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = self
            .base
            .iter()
            .filter(|(n, _)| {
                !self.del.iter().any(|d| d == n) && !self.add.iter().any(|(a, _)| a == n)
            })
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        out.extend(self.add.iter().cloned());
        out
    }

    fn labels(&self) -> Option<Labels> {
        Labels::build_unchecked(self.snapshot())
    }
}

/// One rule; false if it drops the label set.
fn relabel(cfg: &RelabelConfig, b: &mut Builder<'_>) -> bool {
    let val = cfg
        .source_labels
        .iter()
        .flatten()
        .map(|n| b.get(n))
        .collect::<Vec<_>>()
        .join(&cfg.separator);
    match cfg.action {
        Action::Drop => return !cfg.regex.is_match(&val),
        Action::Keep => return cfg.regex.is_match(&val),
        Action::DropEqual => return b.get(&cfg.target_label) != val,
        Action::KeepEqual => return b.get(&cfg.target_label) == val,
        Action::Replace => {
            // No match: nothing is written (not even a deletion).
            let Some(caps) = cfg.regex.re.captures(&val) else {
                return true;
            };
            let target = expand(&cfg.regex.re, &caps, &cfg.target_label);
            if !is_valid_label_name(&target) {
                return true;
            }
            let res = expand(&cfg.regex.re, &caps, &cfg.replacement);
            b.set(&target, &res);
        }
        Action::Lowercase => b.set(&cfg.target_label, &go_lower(&val)),
        Action::Uppercase => b.set(&cfg.target_label, &go_upper(&val)),
        Action::HashMod => {
            let value = hashmod(&val, cfg.modulus).to_string();
            b.set(&cfg.target_label, &value);
        }
        Action::LabelMap => {
            for (name, value) in b.snapshot() {
                if let Some(caps) = cfg.regex.re.captures(&name) {
                    let res = expand(&cfg.regex.re, &caps, &cfg.replacement);
                    b.set(&res, &value);
                }
            }
        }
        Action::LabelDrop => {
            for (name, _) in b.snapshot() {
                if cfg.regex.is_match(&name) {
                    b.del(&name);
                }
            }
        }
        Action::LabelKeep => {
            for (name, _) in b.snapshot() {
                if !cfg.regex.is_match(&name) {
                    b.del(&name);
                }
            }
        }
    }
    true
}

/// Prometheus's hashmod: the last 8 bytes of the MD5 digest, big-endian, modulo `modulus`
/// (Prometheus keeps those bytes "to give the same result as earlier versions"; shard
/// assignments must agree with a Prometheus running the same rule). 0 for modulus 0,
/// which validation refuses anyway.
pub fn hashmod(value: &str, modulus: u64) -> u64 {
    let digest = Md5::digest(value.as_bytes());
    let mut low = [0u8; 8];
    low.copy_from_slice(&digest[8..16]);
    u64::from_be_bytes(low).checked_rem(modulus).unwrap_or(0)
}

/// Go's `Regexp.Expand`: written by hand because the `regex` crate's `expand` differs on
/// edge cases operators can hit (`$01` is group 1 there and the name `01` in Go; Go's
/// names stop at the first character that is not a letter, digit or `_`, braces
/// included, and a malformed `${…}` stays literal).
fn expand(re: &regex::Regex, caps: &regex::Captures<'_>, template: &str) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        rest = &rest[pos + 1..];
        if let Some(after) = rest.strip_prefix('$') {
            out.push('$');
            rest = after;
            continue;
        }
        let Some((name, after)) = extract(rest) else {
            // Malformed reference: the `$` is literal text.
            out.push('$');
            continue;
        };
        rest = after;
        let group = match go_group_number(name) {
            Some(n) => caps.get(n),
            None => re
                .capture_names()
                .position(|n| n == Some(name))
                .and_then(|i| caps.get(i)),
        };
        if let Some(m) = group {
            out.push_str(m.as_str());
        }
    }
    out.push_str(rest);
    out
}

/// The reference after a `$`: `name` or `{name}` where a name is letters, digits and
/// `_` (Go's `unicode.IsLetter`/`IsDigit`; `char::is_alphanumeric` is the closest std
/// has; they differ only on rare characters such as `²`, which ends a name in Go and not
/// here). Returns the name and the text after the reference.
fn extract(s: &str) -> Option<(&str, &str)> {
    let (braced, body) = match s.strip_prefix('{') {
        Some(b) => (true, b),
        None => (false, s),
    };
    let end = body
        .char_indices()
        .find(|&(_, c)| !(c.is_alphanumeric() || c == '_'))
        .map_or(body.len(), |(i, _)| i);
    if end == 0 {
        return None;
    }
    let name = &body[..end];
    let after = &body[end..];
    if braced {
        let after = after.strip_prefix('}')?;
        return Some((name, after));
    }
    Some((name, after))
}

/// Go's number rule for a reference: ASCII digits only, no leading zero, at most nine
/// digits (Go stops accumulating at 10^8; longer numbers are names, which never match).
fn go_group_number(name: &str) -> Option<usize> {
    if !name.bytes().all(|b| b.is_ascii_digit()) || (name.len() > 1 && name.starts_with('0')) {
        return None;
    }
    if name.len() > 9 {
        return None;
    }
    name.parse().ok()
}

/// Go's `strings.ToLower`: each character through its simple (one-to-one) lower-case
/// mapping. Rust's `to_lowercase` also applies the context rule for a final sigma and
/// the two-character mapping of `İ`, which Go does not.
fn go_lower(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c == '\u{130}' {
                return 'i';
            }
            let mut m = c.to_lowercase();
            match (m.next(), m.next()) {
                (Some(l), None) => l,
                _ => c,
            }
        })
        .collect()
}

/// Go's `strings.ToUpper`: simple one-to-one mappings only, so `ß` and the ligatures stay
/// as they are (Rust's `to_uppercase` gives `SS`, `FF`, ...). The Greek letters with
/// ypogegrammeni have a simple mapping to their prosgegrammeni form (U+1F80 → U+1F88),
/// which std only exposes through the full mapping, hence the explicit ranges.
fn go_upper(s: &str) -> String {
    s.chars()
        .map(|c| {
            let cp = c as u32;
            let simple_greek = match cp {
                0x1F80..=0x1F87 | 0x1F90..=0x1F97 | 0x1FA0..=0x1FA7 => Some(cp + 8),
                0x1FB3 | 0x1FC3 | 0x1FF3 => Some(cp + 9),
                _ => None,
            };
            if let Some(u) = simple_greek.and_then(char::from_u32) {
                return u;
            }
            let mut m = c.to_uppercase();
            match (m.next(), m.next()) {
                (Some(u), None) => u,
                _ => c,
            }
        })
        .collect()
}
