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
//! ```
//!
//! Unknown keys are errors that name the key and its line, as are duplicate keys;
//! `scrape_configs` entries are read by `tsdb_scrape` (whose checks name the line too),
//! then resolved against `global` (job names unique, timeouts within intervals);
//! Prometheus' `rule_files` and the other sections this server does not support yet are
//! refused by name. The YAML is read by `serde-saphyr`: a maintained,
//! panic-free deserializer whose errors carry line and column (and refuse duplicate keys),
//! where `serde_yaml` is archived, `serde_yml` is unmaintained, `serde_norway` (a
//! `serde_yaml` fork) loses the location of errors raised by our own checks and accepts
//! duplicate keys, and `saphyr`/`yaml-rust2` have no serde support.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Deserializer};
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
        Ok(Config {
            scrape_interval,
            scrape_timeout,
            evaluation_interval: g
                .evaluation_interval
                .map_or(DEFAULT_EVALUATION_INTERVAL, |d| d.0),
            external_labels: g.external_labels.map(|l| l.0).unwrap_or_default(),
            scrape_configs,
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
        out
    }
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
    #[expect(dead_code, reason = "refused by name")]
    #[serde(default, deserialize_with = "refuse_rule_files")]
    rule_files: Option<()>,
    #[expect(dead_code, reason = "refused by name")]
    #[serde(default, deserialize_with = "refuse_alerting")]
    alerting: Option<()>,
    #[expect(dead_code, reason = "refused by name")]
    #[serde(default, deserialize_with = "refuse_remote_write")]
    remote_write: Option<()>,
    #[expect(dead_code, reason = "refused by name")]
    #[serde(default, deserialize_with = "refuse_remote_read")]
    remote_read: Option<()>,
    #[expect(dead_code, reason = "refused by name")]
    #[serde(default, deserialize_with = "refuse_storage")]
    storage: Option<()>,
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
    refuse_rule_files => "rule_files",
    refuse_alerting => "alerting",
    refuse_remote_write => "remote_write",
    refuse_remote_read => "remote_read",
    refuse_storage => "storage",
    refuse_tracing => "tracing",
}

/// A Prometheus duration in the file (`15s`, `1m30s`; not float seconds), positive.
struct ConfigDuration(Duration);

impl<'de> Deserialize<'de> for ConfigDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        match prometheus_duration_ms(&s).and_then(|ms| u64::try_from(ms).ok()) {
            Some(ms) if ms > 0 => Ok(ConfigDuration(Duration::from_millis(ms))),
            Some(_) => Err(serde::de::Error::custom(format!(
                "duration {s:?} must be greater than zero"
            ))),
            None => Err(serde::de::Error::custom(format!(
                "not a valid duration string: {s:?} (use units y, w, d, h, m, s, ms, e.g. 15s)"
            ))),
        }
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
    fn unknown_keys_name_the_key_and_the_line() {
        let e =
            Config::parse("global:\n  scrape_interval: 15s\n  scrape_timeot: 10s\n").unwrap_err();
        assert!(e.contains("scrape_timeot") && e.contains("line 3"), "{e}");
        let e = Config::parse("global: {}\nglobals: {}\n").unwrap_err();
        assert!(e.contains("globals") && e.contains("line 2"), "{e}");
    }

    #[test]
    fn unsupported_sections_are_refused_by_name() {
        for section in [
            "scrape_config_files",
            "rule_files",
            "remote_write",
            "alerting",
        ] {
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
}
