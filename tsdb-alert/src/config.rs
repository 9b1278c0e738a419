//! Alertmanager's configuration file, for what this manager supports: `global`, the `route`
//! tree, `inhibit_rules`, `receivers`, `time_intervals` (and the deprecated
//! `mute_time_intervals`). Its YAML is read unchanged; what we do not support (`templates`,
//! the Slack, OpsGenie, WeChat, Pushover, VictorOps, SNS, Telegram, Webex, Discord, MS Teams
//! integrations and their `global` settings) is refused by name rather than ignored, so an
//! operator never believes a page goes somewhere it does not.
//!
//! YAML is read with serde-saphyr (as the server's own configuration), so every error
//! raised while reading, ours included, names its line and column. The cross-references
//! Alertmanager checks after reading (receivers, time intervals, the root route) are
//! checked here with Alertmanager's messages.
//!
//! Reading happens in two passes: a lenient probe that looks only for the unsupported
//! names (inside receivers too, whose type belongs to the notifiers' module), then the
//! strict pass.

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Deserializer};

use crate::matcher::{is_valid_label_name, parse_matchers, sort_matchers, MatchOp, Matcher};
use crate::receiver::{Global, Receiver};
use crate::timeinterval::NamedTimeInterval;

/// Why a configuration was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// Reading the YAML failed; the text names the line and column.
    #[error("{0}")]
    Yaml(String),
    /// The file read, but Alertmanager's cross-checks refuse it.
    #[error("{0}")]
    Invalid(String),
}

/// Alertmanager's default `resolve_timeout`.
pub const DEFAULT_RESOLVE_TIMEOUT_MS: i64 = 5 * 60_000;
/// Alertmanager's default `group_wait`.
pub const DEFAULT_GROUP_WAIT_MS: i64 = 30_000;
/// Alertmanager's default `group_interval`.
pub const DEFAULT_GROUP_INTERVAL_MS: i64 = 5 * 60_000;
/// Alertmanager's default `repeat_interval`.
pub const DEFAULT_REPEAT_INTERVAL_MS: i64 = 4 * 3_600_000;

/// A read and checked Alertmanager configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The notifier defaults (read by the notifiers) and `resolve_timeout`.
    pub global: Global,
    /// `global.resolve_timeout` in ms (default 5m).
    pub resolve_timeout_ms: i64,
    /// The root of the route tree, as written (inheritance is applied by `route::Route`).
    pub route: RouteConfig,
    /// Inhibition rules.
    pub inhibit_rules: Vec<InhibitRuleConfig>,
    /// The receivers.
    pub receivers: Vec<Receiver>,
    /// `time_intervals` followed by the deprecated `mute_time_intervals`.
    pub time_intervals: Vec<NamedTimeInterval>,
    /// The text it was read from (the status API's `config.original`).
    pub original: String,
}

/// One route node as written: unset options are inherited from the parent.
#[derive(Debug, Clone, Default)]
pub struct RouteConfig {
    /// The receiver, if set here.
    pub receiver: Option<String>,
    /// `group_by` if set here (without `...`).
    pub group_by: Option<Vec<String>>,
    /// `group_by: ['...']`: group by all labels.
    pub group_by_all: bool,
    /// `match`, `match_re` and `matchers`, sorted as Alertmanager sorts them.
    pub matchers: Vec<Matcher>,
    /// Whether matching goes on with the next sibling after this route matched.
    pub continue_matching: bool,
    /// Child routes.
    pub routes: Vec<RouteConfig>,
    /// `group_wait` in ms, if set here.
    pub group_wait_ms: Option<i64>,
    /// `group_interval` in ms, if set here.
    pub group_interval_ms: Option<i64>,
    /// `repeat_interval` in ms, if set here.
    pub repeat_interval_ms: Option<i64>,
    /// Names of time intervals during which this route's notifications are muted (not
    /// inherited, as in Alertmanager).
    pub mute_time_intervals: Vec<String>,
    /// Names of time intervals outside which this route's notifications are muted.
    pub active_time_intervals: Vec<String>,
}

/// One inhibition rule.
#[derive(Debug, Clone)]
pub struct InhibitRuleConfig {
    /// What the inhibiting (source) alert must match (`source_match`, `source_match_re`,
    /// `source_matchers`).
    pub source_matchers: Vec<Matcher>,
    /// What the inhibited (target) alert must match.
    pub target_matchers: Vec<Matcher>,
    /// Labels that must have equal values in source and target.
    pub equal: Vec<String>,
}

/// Refusals by name: each function is a field's deserializer that always fails with a
/// message naming what is not supported.
macro_rules! refusals {
    ($($fn_name:ident => $msg:expr;)*) => {
        $(
            fn $fn_name<'de, D: Deserializer<'de>>(d: D) -> Result<Option<()>, D::Error> {
                serde::de::IgnoredAny::deserialize(d)?;
                Err(serde::de::Error::custom($msg))
            }
        )*
    };
}

const UNSUPPORTED_INTEGRATION: &str = "is not supported by this alert manager (supported: \
     webhook_configs, pagerduty_configs, email_configs, phone_configs)";

refusals! {
    refuse_templates => "templates: Go template files for notifications are not supported; \
        remove `templates` (notifications use the built-in templates)";
    refuse_slack => format!("slack_configs {UNSUPPORTED_INTEGRATION}");
    refuse_opsgenie => format!("opsgenie_configs {UNSUPPORTED_INTEGRATION}");
    refuse_wechat => format!("wechat_configs {UNSUPPORTED_INTEGRATION}");
    refuse_pushover => format!("pushover_configs {UNSUPPORTED_INTEGRATION}");
    refuse_victorops => format!("victorops_configs {UNSUPPORTED_INTEGRATION}");
    refuse_sns => format!("sns_configs {UNSUPPORTED_INTEGRATION}");
    refuse_telegram => format!("telegram_configs {UNSUPPORTED_INTEGRATION}");
    refuse_webex => format!("webex_configs {UNSUPPORTED_INTEGRATION}");
    refuse_discord => format!("discord_configs {UNSUPPORTED_INTEGRATION}");
    refuse_msteams => format!("msteams_configs {UNSUPPORTED_INTEGRATION}");
    refuse_global_slack => "global.slack_api_url: Slack is not supported by this alert manager";
    refuse_global_opsgenie => "global.opsgenie_api_url/opsgenie_api_key: OpsGenie is not supported by this alert manager";
    refuse_global_wechat => "global.wechat_api_*: WeChat is not supported by this alert manager";
    refuse_global_victorops => "global.victorops_api_*: VictorOps is not supported by this alert manager";
    refuse_global_telegram => "global.telegram_api_url: Telegram is not supported by this alert manager";
    refuse_global_webex => "global.webex_api_url: Webex is not supported by this alert manager";
}

/// The lenient first pass: only the unsupported names, everything else ignored. Its
/// fields are never read: reading them is the check.
#[derive(Deserialize)]
#[allow(dead_code)]
struct Probe {
    #[serde(default)]
    global: Option<ProbeGlobal>,
    #[serde(default)]
    receivers: Option<Vec<ProbeReceiver>>,
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct ProbeGlobal {
    #[serde(default, deserialize_with = "refuse_global_slack")]
    slack_api_url: Option<()>,
    #[serde(default, deserialize_with = "refuse_global_slack")]
    slack_api_url_file: Option<()>,
    #[serde(default, deserialize_with = "refuse_global_opsgenie")]
    opsgenie_api_url: Option<()>,
    #[serde(default, deserialize_with = "refuse_global_opsgenie")]
    opsgenie_api_key: Option<()>,
    #[serde(default, deserialize_with = "refuse_global_opsgenie")]
    opsgenie_api_key_file: Option<()>,
    #[serde(default, deserialize_with = "refuse_global_wechat")]
    wechat_api_url: Option<()>,
    #[serde(default, deserialize_with = "refuse_global_wechat")]
    wechat_api_secret: Option<()>,
    #[serde(default, deserialize_with = "refuse_global_wechat")]
    wechat_api_corp_id: Option<()>,
    #[serde(default, deserialize_with = "refuse_global_victorops")]
    victorops_api_url: Option<()>,
    #[serde(default, deserialize_with = "refuse_global_victorops")]
    victorops_api_key: Option<()>,
    #[serde(default, deserialize_with = "refuse_global_victorops")]
    victorops_api_key_file: Option<()>,
    #[serde(default, deserialize_with = "refuse_global_telegram")]
    telegram_api_url: Option<()>,
    #[serde(default, deserialize_with = "refuse_global_webex")]
    webex_api_url: Option<()>,
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct ProbeReceiver {
    #[serde(default, deserialize_with = "refuse_slack")]
    slack_configs: Option<()>,
    #[serde(default, deserialize_with = "refuse_opsgenie")]
    opsgenie_configs: Option<()>,
    #[serde(default, deserialize_with = "refuse_wechat")]
    wechat_configs: Option<()>,
    #[serde(default, deserialize_with = "refuse_pushover")]
    pushover_configs: Option<()>,
    #[serde(default, deserialize_with = "refuse_victorops")]
    victorops_configs: Option<()>,
    #[serde(default, deserialize_with = "refuse_sns")]
    sns_configs: Option<()>,
    #[serde(default, deserialize_with = "refuse_telegram")]
    telegram_configs: Option<()>,
    #[serde(default, deserialize_with = "refuse_webex")]
    webex_configs: Option<()>,
    #[serde(default, deserialize_with = "refuse_discord")]
    discord_configs: Option<()>,
    #[serde(default, deserialize_with = "refuse_msteams")]
    msteams_configs: Option<()>,
}

/// The strict pass: the whole file.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    #[serde(default)]
    global: Option<Global>,
    #[serde(default)]
    route: Option<RouteConfig>,
    #[serde(default)]
    inhibit_rules: Vec<InhibitRuleConfig>,
    #[serde(default)]
    receivers: Vec<Receiver>,
    #[serde(default, deserialize_with = "refuse_templates")]
    #[allow(dead_code)]
    templates: Option<()>,
    #[serde(default)]
    time_intervals: Vec<NamedTimeInterval>,
    #[serde(default)]
    mute_time_intervals: Vec<NamedTimeInterval>,
}

impl Config {
    /// Reads and checks a configuration from its YAML text.
    pub fn parse(text: &str) -> Result<Config, ConfigError> {
        let yaml_err = |e: serde_saphyr::Error| ConfigError::Yaml(e.to_string());
        let probe: Probe = serde_saphyr::from_str(text).map_err(yaml_err)?;
        // The probe's fields exist to be refused while reading; nothing to use after.
        drop(probe);
        let raw: Raw = serde_saphyr::from_str(text).map_err(yaml_err)?;
        let invalid = |s: String| Err(ConfigError::Invalid(s));
        let global = raw.global.unwrap_or_default();
        let resolve_timeout_ms = match &global.resolve_timeout {
            Some(text) => parse_duration(text)
                .map_err(|e| ConfigError::Invalid(format!("global.resolve_timeout: {e}")))?,
            None => DEFAULT_RESOLVE_TIMEOUT_MS,
        };
        let Some(route) = raw.route else {
            return invalid("no route provided in config".into());
        };
        if route.continue_matching {
            return invalid("cannot have continue in root route".into());
        }
        let mut names = HashSet::new();
        for r in &raw.receivers {
            if r.name.is_empty() {
                return invalid("missing name in receiver".into());
            }
            if !names.insert(r.name.as_str()) {
                return invalid(format!(
                    "notification config name {:?} is not unique",
                    r.name
                ));
            }
        }
        for r in &raw.receivers {
            r.check(&global)
                .map_err(|e| ConfigError::Invalid(e.to_string()))?;
        }
        if route.receiver.as_deref().unwrap_or("").is_empty() {
            return invalid("root route must specify a default receiver".into());
        }
        if !route.matchers.is_empty() {
            return invalid("root route must not have any matchers".into());
        }
        if !route.mute_time_intervals.is_empty() {
            return invalid("root route must not have any mute time intervals".into());
        }
        if !route.active_time_intervals.is_empty() {
            return invalid("root route must not have any active time intervals".into());
        }
        check_receivers(&route, &names).map_err(ConfigError::Invalid)?;
        let mut interval_names = HashSet::new();
        for ti in &raw.mute_time_intervals {
            if ti.name.is_empty() {
                return invalid("missing name in mute time interval".into());
            }
            if !interval_names.insert(ti.name.clone()) {
                return invalid(format!("mute time interval {:?} is not unique", ti.name));
            }
        }
        for ti in &raw.time_intervals {
            if ti.name.is_empty() {
                return invalid("missing name in time interval".into());
            }
            if !interval_names.insert(ti.name.clone()) {
                return invalid(format!("time interval {:?} is not unique", ti.name));
            }
        }
        check_time_intervals(&route, &interval_names).map_err(ConfigError::Invalid)?;
        let mut time_intervals = raw.time_intervals;
        time_intervals.extend(raw.mute_time_intervals);
        Ok(Config {
            global,
            resolve_timeout_ms,
            route,
            inhibit_rules: raw.inhibit_rules,
            receivers: raw.receivers,
            time_intervals,
            original: text.to_owned(),
        })
    }

    /// The receiver named `name`.
    pub fn receiver(&self, name: &str) -> Option<&Receiver> {
        self.receivers.iter().find(|r| r.name == name)
    }
}

fn check_receivers(r: &RouteConfig, names: &HashSet<&str>) -> Result<(), String> {
    if let Some(name) = &r.receiver {
        if !name.is_empty() && !names.contains(name.as_str()) {
            return Err(format!("undefined receiver {name:?} used in route"));
        }
    }
    r.routes.iter().try_for_each(|c| check_receivers(c, names))
}

fn check_time_intervals(r: &RouteConfig, names: &HashSet<String>) -> Result<(), String> {
    for ti in r.mute_time_intervals.iter().chain(&r.active_time_intervals) {
        if !names.contains(ti) {
            return Err(format!("undefined time interval {ti:?} used in route"));
        }
    }
    r.routes
        .iter()
        .try_for_each(|c| check_time_intervals(c, names))
}

/// A Prometheus duration in YAML (`30s`, `1h30m`).
struct Duration(i64);

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        parse_duration(&s)
            .map(Duration)
            .map_err(serde::de::Error::custom)
    }
}

/// Prometheus's `model.ParseDuration` in ms (`0`, or `<n>y<n>w<n>d<n>h<n>m<n>s<n>ms` with
/// every part optional but in that order): tsdb-scrape's, the one parser of the workspace's
/// configuration files.
pub fn parse_duration(s: &str) -> Result<i64, String> {
    let d = tsdb_scrape::config::parse_duration(s)?;
    i64::try_from(d.as_millis()).map_err(|_| format!("duration out of range: {s:?}"))
}

/// Route `matchers` / inhibit `source_matchers`: a list of strings, each holding one or
/// more matchers in Alertmanager's syntax.
fn matchers_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Matcher>, D::Error> {
    let lines = Vec::<String>::deserialize(d)?;
    let mut out = Vec::new();
    for line in lines {
        out.extend(parse_matchers(&line).map_err(serde::de::Error::custom)?);
    }
    Ok(out)
}

/// Deprecated `match`: label name to value.
fn match_equal(map: BTreeMap<String, String>) -> Result<Vec<Matcher>, String> {
    map.iter()
        .map(|(k, v)| {
            if !is_valid_label_name(k) {
                return Err(format!("invalid label name {k:?}"));
            }
            Matcher::new(MatchOp::Equal, k, v).map_err(|e| e.0)
        })
        .collect()
}

/// Deprecated `match_re`: label name to regex. As in Alertmanager, the matcher's value is
/// the anchored source `^(?:re)$` (it shows in route and group keys).
fn match_regex(map: BTreeMap<String, String>) -> Result<Vec<Matcher>, String> {
    map.iter()
        .map(|(k, v)| {
            if !is_valid_label_name(k) {
                return Err(format!("invalid label name {k:?}"));
            }
            Matcher::new(MatchOp::Regex, k, &format!("^(?:{v})$"))
                .map_err(|_| format!("invalid regexp value for {k:?}"))
        })
        .collect()
}

impl<'de> Deserialize<'de> for RouteConfig {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct RawRoute {
            #[serde(default)]
            receiver: Option<String>,
            #[serde(default)]
            group_by: Option<Vec<String>>,
            #[serde(default, rename = "match")]
            match_eq: BTreeMap<String, String>,
            #[serde(default)]
            match_re: BTreeMap<String, String>,
            #[serde(default, deserialize_with = "matchers_list")]
            matchers: Vec<Matcher>,
            #[serde(default)]
            mute_time_intervals: Vec<String>,
            #[serde(default)]
            active_time_intervals: Vec<String>,
            #[serde(default, rename = "continue")]
            continue_matching: bool,
            #[serde(default)]
            routes: Vec<RouteConfig>,
            #[serde(default)]
            group_wait: Option<Duration>,
            #[serde(default)]
            group_interval: Option<Duration>,
            #[serde(default)]
            repeat_interval: Option<Duration>,
        }
        let raw = RawRoute::deserialize(d)?;
        let mut matchers = match_equal(raw.match_eq).map_err(custom)?;
        matchers.extend(match_regex(raw.match_re).map_err(custom)?);
        matchers.extend(raw.matchers);
        sort_matchers(&mut matchers);
        let mut group_by_all = false;
        let group_by = match raw.group_by {
            None => None,
            Some(list) => {
                let mut names = Vec::new();
                let mut seen = HashSet::new();
                for l in list {
                    if l == "..." {
                        group_by_all = true;
                        continue;
                    }
                    if !is_valid_label_name(&l) {
                        return Err(custom(format!("invalid label name {l:?} in group_by list")));
                    }
                    if !seen.insert(l.clone()) {
                        return Err(custom(format!("duplicated label {l:?} in group_by")));
                    }
                    names.push(l);
                }
                if group_by_all && !names.is_empty() {
                    return Err(custom(
                        "cannot have wildcard group_by (`...`) and other other labels at the same time",
                    ));
                }
                Some(names)
            }
        };
        if matches!(raw.group_interval, Some(Duration(0))) {
            return Err(custom("group_interval cannot be zero"));
        }
        if matches!(raw.repeat_interval, Some(Duration(0))) {
            return Err(custom("repeat_interval cannot be zero"));
        }
        Ok(RouteConfig {
            receiver: raw.receiver,
            group_by,
            group_by_all,
            matchers,
            continue_matching: raw.continue_matching,
            routes: raw.routes,
            group_wait_ms: raw.group_wait.map(|d| d.0),
            group_interval_ms: raw.group_interval.map(|d| d.0),
            repeat_interval_ms: raw.repeat_interval.map(|d| d.0),
            mute_time_intervals: raw.mute_time_intervals,
            active_time_intervals: raw.active_time_intervals,
        })
    }
}

impl<'de> Deserialize<'de> for InhibitRuleConfig {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct RawRule {
            #[serde(default)]
            source_match: BTreeMap<String, String>,
            #[serde(default)]
            source_match_re: BTreeMap<String, String>,
            #[serde(default, deserialize_with = "matchers_list")]
            source_matchers: Vec<Matcher>,
            #[serde(default)]
            target_match: BTreeMap<String, String>,
            #[serde(default)]
            target_match_re: BTreeMap<String, String>,
            #[serde(default, deserialize_with = "matchers_list")]
            target_matchers: Vec<Matcher>,
            #[serde(default)]
            equal: Vec<String>,
        }
        let raw = RawRule::deserialize(d)?;
        let mut source = match_equal(raw.source_match).map_err(custom)?;
        source.extend(match_regex(raw.source_match_re).map_err(custom)?);
        source.extend(raw.source_matchers);
        let mut target = match_equal(raw.target_match).map_err(custom)?;
        target.extend(match_regex(raw.target_match_re).map_err(custom)?);
        target.extend(raw.target_matchers);
        for l in &raw.equal {
            if !is_valid_label_name(l) {
                return Err(custom(format!("{l:?} is not a valid label name")));
            }
        }
        Ok(InhibitRuleConfig {
            source_matchers: source,
            target_matchers: target,
            equal: raw.equal,
        })
    }
}

/// A deserializer error from any message (serde's `Error::custom`, usable in `map_err`).
fn custom<E: serde::de::Error>(message: impl std::fmt::Display) -> E {
    E::custom(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s"), Ok(30_000));
        assert_eq!(parse_duration("1h30m"), Ok(5_400_000));
        assert_eq!(parse_duration("0"), Ok(0));
        assert!(parse_duration("1m1h").is_err());
        assert!(parse_duration("").is_err());
        assert!(parse_duration("5").is_err());
    }
}
