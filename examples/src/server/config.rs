//! The configuration file, in Prometheus' YAML shape for the parts this server supports:
//!
//! ```yaml
//! global:
//!   scrape_interval: 15s      # the self-monitoring interval, unless --self-scrape-interval,
//!                             # and the default of every scrape config
//!   scrape_timeout: 10s       # the default timeout of every scrape config
//!   evaluation_interval: 1m   # the step of a subquery written without one (`x[1h:]`)
//!   external_labels:          # validated, and shown by /api/v1/status/config
//!     region: eu-1
//! scrape_configs:             # Prometheus' scrape configs (see tsdb_scrape::ScrapeConfig)
//!   - job_name: node
//!     static_configs:
//!       - targets: ["localhost:9100"]
//! storage:                    # not Prometheus': this server's own storage settings
//!   downsampling:             # omitted: the standard rule below; `[]`: keep raw forever
//!     - match: '{__name__=~"node_cpu.*"}'   # a series selector; omitted: every series
//!       tiers:                # from each age on, queries read rollups of that resolution
//!         - {after: 30d, resolution: 1m}
//!         - {after: 90d, resolution: 1h}
//!       keep_for: 2y          # deleted after that age; `forever` or omitted: kept
//!     - tiers: [{after: 7d, resolution: 1m}, {after: 30d, resolution: 1h}]
//!       keep_for: 365d        # the standard rule: raw 7d, 1m to 30d, 1h to 365d
//! ```
//!
//! `storage.downsampling` is a list of `tsdb_core::DownsampleRule`s, one entry per rule
//! and one field per field: `match` (the matchers; the first rule whose selector matches
//! a series applies to it, a series no rule matches is kept raw forever), `tiers` (each
//! `after` an age, each `resolution` a bucket width: ages and resolutions increasing,
//! each resolution a multiple of the one before and a divisor of the 24 h rollup window)
//! and `keep_for`. Raw samples are served until the first tier's `after`. A rule that is
//! wrong is refused with its index and line. The database applies the rules from the
//! moment it opens, so a reload that changes them is refused (restart to change them).
//! Prometheus's own `storage.tsdb` and `storage.exemplars` are refused by name.
//!
//! Unknown keys are errors that name the key and its line, as are duplicate keys;
//! `scrape_configs` entries are read by `tsdb_scrape` (whose checks name the line too),
//! then resolved against `global` (job names unique, timeouts within intervals);
//! `rule_files` (globs relative to the file) and `alerting` (external Alertmanagers, read by
//! `tsdb_alert::sender`) are Prometheus's; `alertmanager.config_file` (ours) names the
//! built-in alert manager's configuration, in Alertmanager's own format. The sections this
//! server does not support yet are refused by name. The YAML is read by `serde-saphyr`: a maintained,
//! panic-free deserializer whose errors carry line and column (and refuse duplicate keys),
//! where `serde_yaml` is archived, `serde_yml` is unmaintained, `serde_norway` (a
//! `serde_yaml` fork) loses the location of errors raised by our own checks and accepts
//! duplicate keys, and `saphyr`/`yaml-rust2` have no serde support.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::de::{DeserializeSeed, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use tsdb_alert::sender::AlertingConfig;
use tsdb_core::{DownsampleRule, Downsampling, Tier, DEFAULT_BLOCK_RANGE_MS, LEVEL_SPANS};
use tsdb_index::Matcher;
use tsdb_scrape::{resolve_scrape_configs, GlobalScrapeConfig, ScrapeConfig};

use crate::timearg::prometheus_duration_ms;

/// Prometheus' default `global.evaluation_interval`.
pub const DEFAULT_EVALUATION_INTERVAL: Duration = Duration::from_secs(60);

/// A loaded configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `global.scrape_interval`, when given.
    pub scrape_interval: Option<Duration>,
    /// `global.scrape_timeout`, when given.
    pub scrape_timeout: Option<Duration>,
    /// `global.evaluation_interval` (default 1m).
    pub evaluation_interval: Duration,
    /// `global.external_labels`.
    pub external_labels: BTreeMap<String, String>,
    /// `scrape_configs`, resolved (intervals and timeouts inherited from `global`).
    pub scrape_configs: Vec<ScrapeConfig>,
    /// `storage.downsampling` (omitted: the standard rules).
    pub downsampling: DownsamplingConfig,
    /// `rule_files`: rule file paths and globs, relative to the configuration file's
    /// directory (as Prometheus resolves them).
    pub rule_files: Vec<String>,
    /// `alerting`: the external Alertmanagers alerts are sent to, and relabeling.
    pub alerting: AlertingConfig,
    /// `alertmanager.config_file` (ours): the built-in alert manager's configuration in
    /// Alertmanager's format; `None`: no built-in manager.
    pub alertmanager_config_file: Option<PathBuf>,
    /// The file it came from (`None`: the built-in defaults).
    pub source: Option<PathBuf>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            scrape_interval: None,
            scrape_timeout: None,
            evaluation_interval: DEFAULT_EVALUATION_INTERVAL,
            external_labels: BTreeMap::new(),
            scrape_configs: Vec::new(),
            downsampling: DownsamplingConfig::standard(),
            rule_files: Vec::new(),
            alerting: AlertingConfig::default(),
            alertmanager_config_file: None,
            source: None,
        }
    }
}

/// Why a configuration was refused: the file and serde-saphyr's message, which names the
/// line and column (and shows the line).
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read the configuration file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not a valid configuration.
    #[error("invalid configuration file {path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What and where (line and column).
        message: String,
    },
}

impl Config {
    /// Reads and checks the configuration file at `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let mut config = Config::parse(&text).map_err(|message| ConfigError::Invalid {
            path: path.to_owned(),
            message,
        })?;
        // relative paths in scrape configs are relative to the file, as in Prometheus
        let dir = path.parent().unwrap_or_else(|| Path::new(""));
        for c in &mut config.scrape_configs {
            c.set_directory(dir);
        }
        for pattern in &mut config.rule_files {
            if Path::new(pattern.as_str()).is_relative() {
                *pattern = dir.join(pattern.as_str()).to_string_lossy().into_owned();
            }
        }
        if let Some(file) = &mut config.alertmanager_config_file {
            if file.is_relative() {
                *file = dir.join(&*file);
            }
        }
        config.source = Some(path.to_owned());
        Ok(config)
    }

    /// Checks configuration text; the error names the line.
    pub fn parse(text: &str) -> Result<Config, String> {
        if text.trim().is_empty() {
            return Ok(Config::default());
        }
        let raw: Raw = serde_saphyr::from_str(text).map_err(|e| e.to_string())?;
        let g = raw.global.unwrap_or_default();
        let scrape_interval = g.scrape_interval.map(|d| d.0);
        let scrape_timeout = g.scrape_timeout.map(|d| d.0);
        let global =
            GlobalScrapeConfig::new(scrape_interval, scrape_timeout).map_err(|e| e.to_string())?;
        let mut scrape_configs = raw.scrape_configs.unwrap_or_default();
        resolve_scrape_configs(&mut scrape_configs, &global).map_err(|e| e.to_string())?;
        let downsampling = match raw.storage.and_then(|s| s.downsampling) {
            Some(rules) => DownsamplingConfig { rules: rules.0 },
            None => DownsamplingConfig::standard(),
        };
        Ok(Config {
            scrape_interval,
            scrape_timeout,
            evaluation_interval: g
                .evaluation_interval
                .map_or(DEFAULT_EVALUATION_INTERVAL, |d| d.0),
            external_labels: g.external_labels.map(|l| l.0).unwrap_or_default(),
            scrape_configs,
            downsampling,
            rule_files: raw.rule_files.unwrap_or_default(),
            alerting: raw.alerting.unwrap_or_default(),
            alertmanager_config_file: raw.alertmanager.map(|a| a.config_file),
            source: None,
        })
    }

    /// The configuration in effect as YAML, defaults filled in, as Prometheus'
    /// `/api/v1/status/config` shows its own.
    pub fn to_yaml(&self) -> String {
        let mut out = String::from("global:\n");
        if let Some(d) = self.scrape_interval {
            let _ = writeln!(
                out,
                "  scrape_interval: {}",
                super::flags::format_duration(d)
            );
        }
        if let Some(d) = self.scrape_timeout {
            let _ = writeln!(
                out,
                "  scrape_timeout: {}",
                super::flags::format_duration(d)
            );
        }
        let _ = writeln!(
            out,
            "  evaluation_interval: {}",
            super::flags::format_duration(self.evaluation_interval)
        );
        if !self.external_labels.is_empty() {
            out.push_str("  external_labels:\n");
            for (k, v) in &self.external_labels {
                // a double-quoted YAML scalar: JSON's escaping is valid there
                let _ = writeln!(out, "    {k}: {}", quote(v));
            }
        }
        if !self.scrape_configs.is_empty() {
            // The settings that tell jobs apart; targets, relabeling and credentials are
            // not repeated here.
            out.push_str("scrape_configs:\n");
            for c in &self.scrape_configs {
                let _ = writeln!(out, "  - job_name: {}", quote(&c.job_name));
                let _ = writeln!(
                    out,
                    "    scrape_interval: {}",
                    tsdb_scrape::config::format_duration(c.scrape_interval)
                );
                let _ = writeln!(
                    out,
                    "    scrape_timeout: {}",
                    tsdb_scrape::config::format_duration(c.scrape_timeout)
                );
                let _ = writeln!(out, "    metrics_path: {}", quote(&c.metrics_path));
                let _ = writeln!(out, "    scheme: {}", quote(&c.scheme));
            }
        }
        if !self.rule_files.is_empty() {
            out.push_str("rule_files:\n");
            for f in &self.rule_files {
                let _ = writeln!(out, "  - {}", quote(f));
            }
        }
        if !self.alerting.alertmanagers.is_empty() {
            // where alerts go; credentials, TLS files and relabeling are not repeated here
            out.push_str("alerting:\n  alertmanagers:\n");
            for am in &self.alerting.alertmanagers {
                let _ = writeln!(out, "    - scheme: {}", quote(&am.scheme));
                let _ = writeln!(out, "      path_prefix: {}", quote(&am.path_prefix));
                let _ = writeln!(
                    out,
                    "      timeout: {}",
                    tsdb_scrape::config::format_duration(am.timeout)
                );
                out.push_str("      static_configs:\n");
                for g in &am.static_configs {
                    let targets: Vec<String> = g.targets.iter().map(|t| quote(t)).collect();
                    let _ = writeln!(out, "        - targets: [{}]", targets.join(", "));
                }
            }
        }
        if let Some(file) = &self.alertmanager_config_file {
            let _ = writeln!(
                out,
                "alertmanager:\n  config_file: {}",
                quote(&file.to_string_lossy())
            );
        }
        // the rules in force, the standard ones when the file has none
        out.push_str("storage:\n");
        if self.downsampling.rules.is_empty() {
            out.push_str("  downsampling: []\n");
        } else {
            out.push_str("  downsampling:\n");
            for r in &self.downsampling.rules {
                let mut first = "    - ";
                if let Some(m) = &r.selector {
                    let _ = writeln!(out, "{first}match: {}", quote(m));
                    first = "      ";
                }
                if r.tiers.is_empty() {
                    let _ = writeln!(out, "{first}tiers: []");
                } else {
                    let _ = writeln!(out, "{first}tiers:");
                    for t in &r.tiers {
                        let _ = writeln!(
                            out,
                            "        - {{after: {}, resolution: {}}}",
                            format_ms(t.after_ms),
                            format_ms(t.resolution_ms)
                        );
                    }
                }
                let keep = r.keep_for_ms.map_or("forever".to_owned(), format_ms);
                let _ = writeln!(out, "      keep_for: {keep}");
            }
        }
        out
    }
}

/// A rule's duration as operators write them: whole years when exact, else days and
/// smaller units (`7d`, `30d`, `1y`; never `4w2d`).
fn format_ms(ms: i64) -> String {
    const YEAR: i64 = 365 * 86_400_000;
    if ms > 0 && ms % YEAR == 0 {
        return format!("{}y", ms / YEAR);
    }
    let mut left = ms.max(0);
    let mut out = String::new();
    for (unit, size) in [
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
        ("ms", 1),
    ] {
        if left >= size {
            let _ = write!(out, "{}{unit}", left / size);
            left %= size;
        }
    }
    if out.is_empty() {
        out.push_str("0s");
    }
    out
}

/// `storage.downsampling`: the rules as written (selectors kept for
/// `/api/v1/status/config` and for comparing a reloaded file with the one in force).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownsamplingConfig {
    /// In order; the first matching one applies.
    pub rules: Vec<RuleConfig>,
}

/// One rule of `storage.downsampling`.
#[derive(Debug, Clone)]
pub struct RuleConfig {
    /// `match` as written; `None`: every series.
    pub selector: Option<String>,
    /// `match` parsed.
    pub matchers: Vec<Matcher>,
    /// `tiers`.
    pub tiers: Vec<Tier>,
    /// `keep_for`; `None`: forever.
    pub keep_for_ms: Option<i64>,
}

/// Rules are equal when written the same (the matchers follow from the selector).
impl PartialEq for RuleConfig {
    fn eq(&self, other: &Self) -> bool {
        self.selector == other.selector
            && self.tiers == other.tiers
            && self.keep_for_ms == other.keep_for_ms
    }
}

impl Eq for RuleConfig {}

impl DownsamplingConfig {
    /// [`Downsampling::standard`], as configuration.
    pub fn standard() -> DownsamplingConfig {
        DownsamplingConfig {
            rules: Downsampling::standard()
                .rules
                .into_iter()
                .map(|r| RuleConfig {
                    selector: None,
                    matchers: r.matchers,
                    tiers: r.tiers,
                    keep_for_ms: r.keep_for_ms,
                })
                .collect(),
        }
    }

    /// The rules for `tsdb_core::Options::downsampling`.
    pub fn to_downsampling(&self) -> Downsampling {
        Downsampling {
            rules: self
                .rules
                .iter()
                .map(|r| DownsampleRule {
                    matchers: r.matchers.clone(),
                    tiers: r.tiers.clone(),
                    keep_for_ms: r.keep_for_ms,
                })
                .collect(),
        }
    }
}

/// The rollup window the rules are checked against: the database's widest compaction
/// window with the server's (default) block range, 24 h.
pub fn rollup_window_ms() -> i64 {
    DEFAULT_BLOCK_RANGE_MS.saturating_mul(LEVEL_SPANS[LEVEL_SPANS.len() - 1])
}

fn quote(v: &str) -> String {
    let mut out = String::new();
    tsdb_query::json::write_string(&mut out, v);
    out
}

/// The file's top level: `global`, `scrape_configs`, and the sections refused by name
/// (their fields are never read: deserializing them fails).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    global: Option<RawGlobal>,
    scrape_configs: Option<Vec<ScrapeConfig>>,
    #[expect(dead_code, reason = "refused by name")]
    #[serde(default, deserialize_with = "refuse_scrape_config_files")]
    scrape_config_files: Option<()>,
    rule_files: Option<Vec<String>>,
    alerting: Option<AlertingConfig>,
    alertmanager: Option<RawBuiltinAlertmanager>,
    #[expect(dead_code, reason = "refused by name")]
    #[serde(default, deserialize_with = "refuse_remote_write")]
    remote_write: Option<()>,
    #[expect(dead_code, reason = "refused by name")]
    #[serde(default, deserialize_with = "refuse_remote_read")]
    remote_read: Option<()>,
    storage: Option<RawStorage>,
    #[expect(dead_code, reason = "refused by name")]
    #[serde(default, deserialize_with = "refuse_tracing")]
    tracing: Option<()>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawGlobal {
    scrape_interval: Option<ConfigDuration>,
    scrape_timeout: Option<ConfigDuration>,
    evaluation_interval: Option<ConfigDuration>,
    external_labels: Option<ExternalLabels>,
}

/// `alertmanager` (ours): the built-in alert manager.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBuiltinAlertmanager {
    /// Its configuration, in Alertmanager's format.
    config_file: PathBuf,
}

/// `storage`: `downsampling`, and Prometheus's own subsections refused by name.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStorage {
    downsampling: Option<RawRules>,
    #[expect(dead_code, reason = "refused by name")]
    #[serde(default, deserialize_with = "refuse_storage_tsdb")]
    tsdb: Option<()>,
    #[expect(dead_code, reason = "refused by name")]
    #[serde(default, deserialize_with = "refuse_storage_exemplars")]
    exemplars: Option<()>,
}

/// `storage.downsampling`: each rule read and checked with its index, so that an error
/// names both the rule and its line.
struct RawRules(Vec<RuleConfig>);

impl<'de> Deserialize<'de> for RawRules {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Rules;
        impl<'de> Visitor<'de> for Rules {
            type Value = RawRules;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a list of downsampling rules")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RawRules, A::Error> {
                let mut rules = Vec::new();
                while let Some(rule) = seq.next_element_seed(RuleSeed(rules.len()))? {
                    rules.push(rule);
                }
                Ok(RawRules(rules))
            }
        }
        d.deserialize_seq(Rules)
    }
}

/// One rule as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    #[serde(rename = "match")]
    selector: Option<String>,
    #[serde(default)]
    tiers: Vec<RawTier>,
    keep_for: Option<KeepFor>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTier {
    after: ConfigDuration,
    resolution: ConfigDuration,
}

/// `keep_for`: a duration, or `forever`.
struct KeepFor(Option<i64>);

impl<'de> Deserialize<'de> for KeepFor {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if s == "forever" {
            return Ok(KeepFor(None));
        }
        positive_ms(&s).map(|ms| KeepFor(Some(ms)))
    }
}

/// Reads rule number `.0` of `storage.downsampling` and checks it.
struct RuleSeed(usize);

impl<'de> DeserializeSeed<'de> for RuleSeed {
    type Value = RuleConfig;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<RuleConfig, D::Error> {
        let i = self.0;
        let raw = RawRule::deserialize(d)?;
        let fail =
            |m: String| serde::de::Error::custom(format!("storage.downsampling rule {i}: {m}"));
        let matchers = match &raw.selector {
            Some(text) => {
                crate::api::series_selector(text).map_err(|e| fail(format!("match: {e}")))?
            }
            None => Vec::new(),
        };
        let to_ms = |d: &ConfigDuration| i64::try_from(d.0.as_millis()).unwrap_or(i64::MAX);
        let rule = RuleConfig {
            selector: raw.selector,
            matchers,
            tiers: raw
                .tiers
                .iter()
                .map(|t| Tier {
                    after_ms: to_ms(&t.after),
                    resolution_ms: to_ms(&t.resolution),
                })
                .collect(),
            keep_for_ms: raw.keep_for.and_then(|k| k.0),
        };
        // tsdb-core's checks, on this rule alone: its message names "rule 0"
        let one = DownsamplingConfig {
            rules: vec![rule.clone()],
        };
        one.to_downsampling()
            .validate(rollup_window_ms())
            .map_err(|e| fail(e.strip_prefix("rule 0: ").unwrap_or(&e).to_owned()))?;
        Ok(rule)
    }
}

/// A sections Prometheus has and this server does not support yet: refused with its name
/// (the error's location is the section's value).
macro_rules! refuse {
    ($($f:ident => $name:literal),* $(,)?) => {$(
        fn $f<'de, D: Deserializer<'de>>(d: D) -> Result<Option<()>, D::Error> {
            serde::de::IgnoredAny::deserialize(d)?;
            Err(serde::de::Error::custom(concat!(
                "`", $name, "` is not supported by tsdb-server yet (remove the section)"
            )))
        }
    )*};
}

refuse! {
    refuse_scrape_config_files => "scrape_config_files",
    refuse_remote_write => "remote_write",
    refuse_remote_read => "remote_read",
    refuse_storage_tsdb => "storage.tsdb",
    refuse_storage_exemplars => "storage.exemplars",
    refuse_tracing => "tracing",
}

/// A Prometheus duration in the file (`15s`, `1m30s`; not float seconds), positive.
struct ConfigDuration(Duration);

impl<'de> Deserialize<'de> for ConfigDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let ms = positive_ms(&s)?;
        Ok(ConfigDuration(Duration::from_millis(
            u64::try_from(ms).unwrap_or(0),
        )))
    }
}

/// A positive Prometheus duration in milliseconds.
fn positive_ms<E: serde::de::Error>(s: &str) -> Result<i64, E> {
    match prometheus_duration_ms(s) {
        Some(ms) if ms > 0 => Ok(ms),
        Some(_) => Err(E::custom(format!(
            "duration {s:?} must be greater than zero"
        ))),
        None => Err(E::custom(format!(
            "not a valid duration string: {s:?} (use units y, w, d, h, m, s, ms, e.g. 15s)"
        ))),
    }
}

/// `external_labels`: valid label names (not `__`-prefixed), string values.
struct ExternalLabels(BTreeMap<String, String>);

impl<'de> Deserialize<'de> for ExternalLabels {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let map = BTreeMap::<String, String>::deserialize(d)?;
        for name in map.keys() {
            let mut chars = name.chars();
            let valid = chars
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid || name.starts_with("__") {
                return Err(serde::de::Error::custom(format!(
                    "{name:?} is not a valid external label name"
                )));
            }
        }
        Ok(ExternalLabels(map))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_supported_keys() {
        let c = Config::parse(
            "global:\n  scrape_interval: 30s\n  evaluation_interval: 2m\n  external_labels:\n    region: eu-1\n",
        )
        .unwrap();
        assert_eq!(c.scrape_interval, Some(Duration::from_secs(30)));
        assert_eq!(c.evaluation_interval, Duration::from_secs(120));
        assert_eq!(c.external_labels["region"], "eu-1");
        assert_eq!(
            Config::parse(&c.to_yaml()).unwrap(),
            Config { source: None, ..c }
        );
        assert_eq!(Config::parse("").unwrap(), Config::default());
        assert_eq!(Config::parse("global:\n").unwrap(), Config::default());
    }

    #[test]
    fn rule_files_alerting_and_the_builtin_manager_are_read() {
        let c = Config::parse(
            "rule_files: ['rules/*.yml', /etc/r.yml]\nalerting:\n  alertmanagers:\n    - static_configs: [{targets: ['127.0.0.1:9093']}]\n      timeout: 3s\nalertmanager:\n  config_file: am.yml\n",
        )
        .unwrap();
        assert_eq!(c.rule_files, ["rules/*.yml", "/etc/r.yml"]);
        assert_eq!(c.alerting.alertmanagers.len(), 1);
        assert_eq!(c.alerting.alertmanagers[0].timeout, Duration::from_secs(3));
        assert_eq!(c.alertmanager_config_file, Some(PathBuf::from("am.yml")));
        assert_eq!(Config::parse(&c.to_yaml()).unwrap(), c);
        let e = Config::parse("alerting:\n  alertmanagers:\n    - kubernetes_sd_configs: []\n")
            .unwrap_err();
        assert!(
            e.contains("`kubernetes_sd_configs` is not supported"),
            "{e}"
        );
        let e = Config::parse("alertmanager:\n  config: x\n").unwrap_err();
        assert!(e.contains("config"), "{e}");
    }

    #[test]
    fn unknown_keys_name_the_key_and_the_line() {
        let e =
            Config::parse("global:\n  scrape_interval: 15s\n  scrape_timeot: 10s\n").unwrap_err();
        assert!(e.contains("scrape_timeot") && e.contains("line 3"), "{e}");
        let e = Config::parse("global: {}\nglobals: {}\n").unwrap_err();
        assert!(e.contains("globals") && e.contains("line 2"), "{e}");
    }

    #[test]
    fn unsupported_sections_are_refused_by_name() {
        for section in ["scrape_config_files", "remote_write", "remote_read"] {
            let text = format!("global:\n  scrape_interval: 15s\n{section}:\n  - x: 1\n");
            let e = Config::parse(&text).unwrap_err();
            assert!(
                e.contains(&format!("`{section}` is not supported")) && e.contains("line 4"),
                "{e}"
            );
        }
    }

    #[test]
    fn scrape_configs_inherit_global_and_name_the_line() {
        let c = Config::parse(
            "global:\n  scrape_interval: 30s\n  scrape_timeout: 5s\nscrape_configs:\n  - job_name: a\n    static_configs:\n      - targets: [\"localhost:9100\"]\n  - job_name: b\n    scrape_interval: 2s\n",
        )
        .unwrap();
        assert_eq!(c.scrape_configs.len(), 2);
        assert_eq!(c.scrape_configs[0].scrape_interval, Duration::from_secs(30));
        assert_eq!(c.scrape_configs[0].scrape_timeout, Duration::from_secs(5));
        assert_eq!(c.scrape_configs[1].scrape_interval, Duration::from_secs(2));
        assert_eq!(c.scrape_configs[1].scrape_timeout, Duration::from_secs(2));
        assert!(c.to_yaml().contains("job_name: \"b\""), "{}", c.to_yaml());
        let e = Config::parse("scrape_configs:\n  - job_name: a\n    scrape_intervall: 1s\n")
            .unwrap_err();
        assert!(
            e.contains("scrape_intervall") && e.contains("line 3"),
            "{e}"
        );
        let e = Config::parse("scrape_configs:\n  - job_name: a\n  - job_name: a\n").unwrap_err();
        assert!(e.contains("multiple scrape configs"), "{e}");
        let e =
            Config::parse("global:\n  scrape_interval: 1s\n  scrape_timeout: 2s\n").unwrap_err();
        assert!(e.contains("global scrape timeout greater"), "{e}");
        let e = Config::parse(
            "scrape_configs:\n  - job_name: a\n    scrape_interval: 1s\n    scrape_timeout: 2s\n",
        )
        .unwrap_err();
        assert!(
            e.contains("scrape timeout greater than scrape interval"),
            "{e}"
        );
    }

    #[test]
    fn bad_values_and_duplicates_name_the_line() {
        let e = Config::parse("global:\n  scrape_interval: 15 seconds\n").unwrap_err();
        assert!(
            e.contains("not a valid duration") && e.contains("line 2"),
            "{e}"
        );
        let e = Config::parse("global:\n  evaluation_interval: 0s\n").unwrap_err();
        assert!(e.contains("greater than zero"), "{e}");
        let e = Config::parse("global:\n  external_labels:\n    a: x\n    a: y\n").unwrap_err();
        assert!(e.contains("duplicate") && e.contains("line 4"), "{e}");
        let e = Config::parse("global:\n  external_labels:\n    __x: y\n").unwrap_err();
        assert!(e.contains("not a valid external label name"), "{e}");
        assert!(Config::parse("global: [\n").is_err());
        assert!(Config::parse("- 1\n").is_err());
    }

    const RULES: &str = "storage:
  downsampling:
    - match: '{__name__=~\"node_cpu.*\"}'
      tiers:
        - {after: 30d, resolution: 1m}
        - {after: 90d, resolution: 1h}
      keep_for: 2y
    - match: '{__name__=~\"debug_.+\"}'
      keep_for: 1d
    - tiers: [{after: 7d, resolution: 1m}, {after: 30d, resolution: 1h}]
      keep_for: forever
";

    #[test]
    fn downsampling_rules_map_one_to_one() {
        let c = Config::parse(RULES).unwrap();
        let d = c.downsampling.to_downsampling();
        assert_eq!(d.rules.len(), 3);
        let day = tsdb_core::downsampling::DAY_MS;
        assert_eq!(
            d.rules[0].tiers,
            vec![
                Tier {
                    after_ms: 30 * day,
                    resolution_ms: 60_000
                },
                Tier {
                    after_ms: 90 * day,
                    resolution_ms: 3_600_000
                }
            ]
        );
        assert_eq!(d.rules[0].keep_for_ms, Some(730 * day));
        assert!(d.rules[1].tiers.is_empty());
        assert_eq!(d.rules[1].keep_for_ms, Some(day));
        assert_eq!(d.rules[2].keep_for_ms, None, "forever");
        assert!(d.rules[2].matchers.is_empty());
        let cpu = tsdb_index::Labels::new([("__name__", "node_cpu_seconds_total")]).unwrap();
        let dbg = tsdb_index::Labels::new([("__name__", "debug_x")]).unwrap();
        let mem = tsdb_index::Labels::new([("__name__", "mem")]).unwrap();
        assert_eq!(d.rule_for(&cpu).unwrap().keep_for_ms, Some(730 * day));
        assert_eq!(d.rule_for(&dbg).unwrap().keep_for_ms, Some(day));
        assert_eq!(d.rule_for(&mem).unwrap().keep_for_ms, None);
        // shown and read back the same
        let yaml = c.to_yaml();
        assert!(yaml.contains("keep_for: forever"), "{yaml}");
        assert_eq!(Config::parse(&yaml).unwrap(), c, "{yaml}");
    }

    #[test]
    fn downsampling_defaults_to_standard_and_can_be_off() {
        let standard = Config::parse("global: {}\n").unwrap().downsampling;
        let d = standard.to_downsampling();
        assert_eq!(d.keep_ms(0), Downsampling::standard().keep_ms(0));
        assert_eq!(d.resolutions(), vec![60_000, 3_600_000]);
        assert_eq!(
            d.keep_ms(3_600_000),
            Some(365 * tsdb_core::downsampling::DAY_MS)
        );
        let yaml = Config::default().to_yaml();
        assert!(yaml.contains("keep_for: 1y"), "{yaml}");
        assert_eq!(Config::parse(&yaml).unwrap(), Config::default());
        let off = Config::parse("storage:\n  downsampling: []\n").unwrap();
        assert!(off.downsampling.to_downsampling().is_none());
        assert!(off.to_yaml().contains("downsampling: []"));
        assert_eq!(Config::parse(&off.to_yaml()).unwrap(), off);
        // a storage section without downsampling keeps the standard rules
        assert_eq!(
            Config::parse("storage: {}\n").unwrap().downsampling,
            standard
        );
    }

    #[test]
    fn bad_downsampling_rules_name_the_rule_and_the_line() {
        let cases: [(&str, &[&str]); 10] = [
            (
                "storage:\n  downsampling:\n    - keep_for: 1d\n    - match: 'up{'\n",
                &["rule 1", "match:", "line 4"],
            ),
            (
                "storage:\n  downsampling:\n    - tiers:\n        - {after: 7d, resolution: 7s}\n",
                &["rule 0", "divide the rollup window", "line 3"],
            ),
            (
                "storage:\n  downsampling:\n    - keep_for: 1d\n    - tiers: [{after: 7d, resolution: 1m}, {after: 5d, resolution: 1h}]\n",
                &["rule 1", "ages must increase", "line 4"],
            ),
            (
                "storage:\n  downsampling:\n    - tiers: [{after: 7d, resolution: 1m}]\n      keep_for: 7d\n",
                &["rule 0", "keep_for must be longer", "line 3"],
            ),
            (
                "storage:\n  downsampling:\n    - tiers: [{after: 7d, resolution: 2m}, {after: 8d, resolution: 3m}]\n",
                &["rule 0", "multiple of the tier", "line 3"],
            ),
            (
                "storage:\n  downsampling:\n    - tiers: [{after: 7d, resolution: 1m}]\n      keep_for: never\n",
                &["not a valid duration", "line 4"],
            ),
            (
                "storage:\n  downsampling:\n    - tiers: [{after: 0s, resolution: 1m}]\n",
                &["greater than zero", "line 3"],
            ),
            (
                "storage:\n  downsampling:\n    - tier: [{after: 1d, resolution: 1m}]\n",
                &["tier", "line 3"],
            ),
            (
                "storage:\n  downsampling:\n    - tiers: [{after: 1d, res: 1m}]\n",
                &["res", "line 3"],
            ),
            (
                "storage:\n  downsampling: []\n  downsamplin: []\n",
                &["downsamplin", "line 3"],
            ),
        ];
        for (text, want) in cases {
            let e = Config::parse(text).unwrap_err();
            for w in want {
                assert!(e.contains(w), "{text}: {e} should say {w}");
            }
        }
    }

    #[test]
    fn prometheus_storage_subsections_are_refused_by_name() {
        for sub in ["tsdb", "exemplars"] {
            let text = format!("storage:\n  downsampling: []\n  {sub}:\n    x: 1\n");
            let e = Config::parse(&text).unwrap_err();
            assert!(
                e.contains(&format!("`storage.{sub}` is not supported")) && e.contains("line 4"),
                "{text}: {e}"
            );
        }
    }
}
