//! A `scrape_configs` entry in Prometheus's YAML shape (Prometheus 2.42's field names,
//! defaults and validation messages), as serde types, so that an operator's
//! `scrape_configs` can be pasted unchanged into our configuration.
//!
//! What is read: `job_name`, `scrape_interval`, `scrape_timeout`, `metrics_path`, `scheme`,
//! `params`, `honor_labels`, `honor_timestamps`, `basic_auth`, `authorization` (and the
//! deprecated `bearer_token`/`bearer_token_file`, turned into `authorization` as
//! Prometheus does), `tls_config`, the limits, `body_size_limit`, `relabel_configs`,
//! `metric_relabel_configs`, `static_configs`, `file_sd_configs` and `http_sd_configs`.
//!
//! Every other key Prometheus knows (the other service discoveries, `oauth2`, the proxy
//! settings, `follow_redirects`, `enable_http2`, and keys of later Prometheus versions)
//! is refused by name with "is not supported", never ignored: a config that scrapes
//! something else here than in Prometheus must not load. Keys Prometheus does not know
//! are refused as unknown. Deserializers that report locations (serde-saphyr) name the
//! line of either error.
//!
//! A [`ScrapeConfig`] read on its own has no interval yet where the file leaves it to
//! `global`: [`resolve_scrape_configs`] applies [`GlobalScrapeConfig`] (Prometheus's
//! `Config.UnmarshalYAML` rules), checks `scrape_timeout <= scrape_interval` and that
//! job names are unique.

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Deserializer};
use tsdb_index::is_valid_label_name;

use crate::relabel::RelabelConfig;

/// Prometheus's default `global.scrape_interval`.
pub const DEFAULT_SCRAPE_INTERVAL: Duration = Duration::from_secs(60);
/// Prometheus's default `global.scrape_timeout`.
pub const DEFAULT_SCRAPE_TIMEOUT: Duration = Duration::from_secs(10);
/// `file_sd_configs`' default `refresh_interval`.
pub const DEFAULT_FILE_SD_REFRESH: Duration = Duration::from_secs(5 * 60);
/// `http_sd_configs`' default `refresh_interval`.
pub const DEFAULT_HTTP_SD_REFRESH: Duration = Duration::from_secs(60);

/// Errors found after deserialization, where the whole configuration is needed (the
/// global defaults, the other jobs). Messages are Prometheus's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScrapeConfigError {
    /// `global.scrape_timeout` > `global.scrape_interval`.
    #[error("global scrape timeout greater than scrape interval")]
    GlobalTimeoutTooLong,
    /// A job's `scrape_timeout` > its (possibly inherited) `scrape_interval`.
    #[error("scrape timeout greater than scrape interval for scrape config with job name {0:?}")]
    TimeoutTooLong(String),
    /// Two jobs with one name.
    #[error("found multiple scrape configs with job name {0:?}")]
    DuplicateJob(String),
}

/// The `global` settings a scrape config inherits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GlobalScrapeConfig {
    /// `global.scrape_interval` (default 1m).
    pub scrape_interval: Duration,
    /// `global.scrape_timeout` (default 10s, or the interval if that is shorter).
    pub scrape_timeout: Duration,
}

impl Default for GlobalScrapeConfig {
    fn default() -> Self {
        Self {
            scrape_interval: DEFAULT_SCRAPE_INTERVAL,
            scrape_timeout: DEFAULT_SCRAPE_TIMEOUT,
        }
    }
}

impl GlobalScrapeConfig {
    /// From `global`'s values as written (`None` or zero: not written), with Prometheus's
    /// `GlobalConfig.UnmarshalYAML` rules: the interval defaults to 1m; a timeout longer
    /// than the interval is an error; an absent timeout is 10s, or the interval when that
    /// is shorter.
    pub fn new(
        scrape_interval: Option<Duration>,
        scrape_timeout: Option<Duration>,
    ) -> Result<Self, ScrapeConfigError> {
        let interval = scrape_interval
            .filter(|d| !d.is_zero())
            .unwrap_or(DEFAULT_SCRAPE_INTERVAL);
        let timeout = scrape_timeout.unwrap_or(Duration::ZERO);
        if timeout > interval {
            return Err(ScrapeConfigError::GlobalTimeoutTooLong);
        }
        let timeout = if !timeout.is_zero() {
            timeout
        } else {
            DEFAULT_SCRAPE_TIMEOUT.min(interval)
        };
        Ok(Self {
            scrape_interval: interval,
            scrape_timeout: timeout,
        })
    }
}

/// One entry of `scrape_configs`. Deserialize it (validation happens on the way in, as in
/// Prometheus), then [`resolve_scrape_configs`] the list.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "RawScrapeConfig")]
pub struct ScrapeConfig {
    /// The `job` label's default value. Required and non-empty.
    pub job_name: String,
    /// How often targets are scraped. Zero until resolved: inherited from `global`.
    pub scrape_interval: Duration,
    /// The scrape timeout. Zero until resolved: inherited from `global`, capped at the
    /// interval.
    pub scrape_timeout: Duration,
    /// The HTTP path (default `/metrics`).
    pub metrics_path: String,
    /// `http` (default) or `https`.
    pub scheme: String,
    /// Query parameters of the scrape URL (each name may repeat).
    pub params: BTreeMap<String, Vec<String>>,
    /// Scraped labels win over target labels on conflict (default false).
    pub honor_labels: bool,
    /// Timestamps in the scraped body are kept (default true).
    pub honor_timestamps: bool,
    /// HTTP basic authentication.
    pub basic_auth: Option<BasicAuth>,
    /// The `Authorization` header (also set by `bearer_token`/`bearer_token_file`).
    pub authorization: Option<Authorization>,
    /// TLS settings for `https` targets.
    pub tls_config: TlsConfig,
    /// A scrape with more samples after metric relabeling fails (0: no limit).
    pub sample_limit: u64,
    /// A scrape with a series of more labels fails (0: no limit).
    pub label_limit: u64,
    /// A scrape with a longer label name fails (0: no limit).
    pub label_name_length_limit: u64,
    /// A scrape with a longer label value fails (0: no limit).
    pub label_value_length_limit: u64,
    /// More targets after relabeling fail every scrape of the job (0: no limit).
    pub target_limit: u64,
    /// A larger uncompressed body fails the scrape, in bytes (0: no limit).
    pub body_size_limit: u64,
    /// Rules applied to discovered targets.
    pub relabel_configs: Vec<RelabelConfig>,
    /// Rules applied to scraped series.
    pub metric_relabel_configs: Vec<RelabelConfig>,
    /// Targets written in the file.
    pub static_configs: Vec<TargetGroup>,
    /// Targets read from files.
    pub file_sd_configs: Vec<FileSdConfig>,
    /// Targets fetched from HTTP endpoints.
    pub http_sd_configs: Vec<HttpSdConfig>,
}

/// `basic_auth`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(from = "RawBasicAuth")]
pub struct BasicAuth {
    /// The user name.
    pub username: String,
    /// The password, or
    pub password: String,
    /// the file it is read from (at every scrape, as Prometheus).
    pub password_file: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[expect(dead_code, reason = "the refused keys exist to be refused by name")]
struct RawBasicAuth {
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    password_file: Option<String>,
    #[serde(default, deserialize_with = "refuse_basic_auth_username_file")]
    username_file: Option<Never>,
}

impl From<RawBasicAuth> for BasicAuth {
    fn from(r: RawBasicAuth) -> Self {
        BasicAuth {
            username: r.username.unwrap_or_default(),
            password: r.password.unwrap_or_default(),
            password_file: r.password_file.unwrap_or_default(),
        }
    }
}

/// `authorization`: the `Authorization: <type> <credentials>` header.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Authorization {
    /// The scheme (default `Bearer`; `Basic` is refused: use `basic_auth`).
    #[serde(default, rename = "type", deserialize_with = "null_as_empty")]
    pub kind: String,
    /// The credentials, or
    #[serde(default, deserialize_with = "null_as_empty")]
    pub credentials: String,
    /// the file they are read from.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub credentials_file: String,
}

fn null_as_empty<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(Option::<String>::deserialize(d)?.unwrap_or_default())
}

/// `tls_config`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(from = "RawTlsConfig")]
pub struct TlsConfig {
    /// CA certificates to verify the target with (default: the system's).
    pub ca_file: String,
    /// Client certificate, with
    pub cert_file: String,
    /// its key.
    pub key_file: String,
    /// The name the target's certificate is checked against (and sent as SNI).
    pub server_name: String,
    /// Do not verify the target's certificate.
    pub insecure_skip_verify: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[expect(dead_code, reason = "the refused keys exist to be refused by name")]
struct RawTlsConfig {
    #[serde(default)]
    ca_file: Option<String>,
    #[serde(default)]
    cert_file: Option<String>,
    #[serde(default)]
    key_file: Option<String>,
    #[serde(default)]
    server_name: Option<String>,
    #[serde(default)]
    insecure_skip_verify: Option<bool>,
    #[serde(default, deserialize_with = "refuse_tls_ca")]
    ca: Option<Never>,
    #[serde(default, deserialize_with = "refuse_tls_cert")]
    cert: Option<Never>,
    #[serde(default, deserialize_with = "refuse_tls_key")]
    key: Option<Never>,
    #[serde(default, deserialize_with = "refuse_tls_min_version")]
    min_version: Option<Never>,
    #[serde(default, deserialize_with = "refuse_tls_max_version")]
    max_version: Option<Never>,
}

impl From<RawTlsConfig> for TlsConfig {
    fn from(r: RawTlsConfig) -> Self {
        TlsConfig {
            ca_file: r.ca_file.unwrap_or_default(),
            cert_file: r.cert_file.unwrap_or_default(),
            key_file: r.key_file.unwrap_or_default(),
            server_name: r.server_name.unwrap_or_default(),
            insecure_skip_verify: r.insecure_skip_verify.unwrap_or(false),
        }
    }
}

/// A value that cannot exist: the type of refused keys, which fail to deserialize.
enum Never {}

/// A target group: `static_configs` entries and the groups a discovery produces.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetGroup {
    /// Addresses (`host:port`), each one target's `__address__`.
    #[serde(default)]
    pub targets: Vec<String>,
    /// Labels of every target of the group (discoveries add their `__meta_*` here).
    #[serde(default, deserialize_with = "label_set")]
    pub labels: BTreeMap<String, String>,
}

/// `file_sd_configs` entry.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "RawFileSd")]
pub struct FileSdConfig {
    /// Paths, the last component may hold a `*` glob; `.json`, `.yml` or `.yaml`.
    pub files: Vec<String>,
    /// How often the files are re-read besides watching them (default 5m).
    pub refresh_interval: Duration,
}

/// `http_sd_configs` entry.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "RawHttpSd")]
pub struct HttpSdConfig {
    /// The endpoint returning target groups as JSON.
    pub url: String,
    /// How often it is fetched (default 60s).
    pub refresh_interval: Duration,
}

// ---------------------------------------------------------------------------------------
// Durations and sizes in Prometheus's syntax.

/// Prometheus's `model.ParseDuration`: `0`, or `<n>y<n>w<n>d<n>h<n>m<n>s<n>ms` with every
/// part optional but in that order (`15s`, `1m30s`, `1d`). A year is 365 days, a week 7.
/// The error is Prometheus's (`not a valid duration string: "x"`); a value too large for
/// a `Duration` in milliseconds, which Go wraps silently, is refused.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    const UNITS: [(&str, u64); 7] = [
        ("y", 365 * 86_400_000),
        ("w", 7 * 86_400_000),
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
        ("ms", 1),
    ];
    let invalid = || format!("not a valid duration string: {s:?}");
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    let mut rest = s;
    let mut next_unit = 0;
    let mut total: u64 = 0;
    if rest.is_empty() {
        return Err(invalid());
    }
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(invalid());
        }
        let (number, tail) = rest.split_at(digits);
        // The longest unit name that matches: "ms" before "m".
        let Some((i, (unit, ms))) = UNITS
            .iter()
            .enumerate()
            .skip(next_unit)
            .filter(|(_, (u, _))| tail.starts_with(u))
            .max_by_key(|(_, (u, _))| u.len())
        else {
            return Err(invalid());
        };
        let out_of_range = || format!("duration out of range: {s:?}");
        let n: u64 = number.parse().map_err(|_| out_of_range())?;
        total = n
            .checked_mul(*ms)
            .and_then(|v| total.checked_add(v))
            .filter(|&t| t <= i64::MAX as u64 / 1_000_000)
            .ok_or_else(out_of_range)?;
        next_unit = i + 1;
        rest = &tail[unit.len()..];
    }
    Ok(Duration::from_millis(total))
}

/// Prometheus's `model.Duration.String()`: the largest units first, years and weeks only
/// when they divide the duration exactly (`90d`, not `12w6d`), `0s` for zero, truncated
/// to the millisecond. This is the text of the `__scrape_interval__` label.
pub fn format_duration(d: Duration) -> String {
    let mut ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    if ms == 0 {
        return "0s".to_string();
    }
    let mut out = String::new();
    for (unit, mult, exact) in [
        ("y", 365 * 86_400_000, true),
        ("w", 7 * 86_400_000, true),
        ("d", 86_400_000, false),
        ("h", 3_600_000, false),
        ("m", 60_000, false),
        ("s", 1_000, false),
        ("ms", 1, false),
    ] {
        if exact && ms % mult != 0 {
            continue;
        }
        let v = ms / mult;
        if v > 0 {
            let _ = write!(out, "{v}{unit}");
            ms -= v * mult;
        }
    }
    out
}

/// `body_size_limit` as Prometheus reads it (`units.ParseBase2Bytes`): a sequence of
/// `<number><unit>` (fractions allowed, `1.5MB`) with units `B`, `KiB`…`EiB` or `KB`…`EB`,
/// all powers of 1024, or `0`. A negative size means no limit, as in Prometheus, and is
/// returned as 0.
pub fn parse_base2_bytes(s: &str) -> Result<u64, String> {
    const NEW: [(&str, f64); 7] = [
        ("B", 1.0),
        ("KiB", 1024.0),
        ("MiB", 1_048_576.0),
        ("GiB", 1_073_741_824.0),
        ("TiB", 1_099_511_627_776.0),
        ("PiB", 1_125_899_906_842_624.0),
        ("EiB", 1_152_921_504_606_846_976.0),
    ];
    const OLD: [(&str, f64); 7] = [
        ("B", 1.0),
        ("KB", 1024.0),
        ("MB", 1_048_576.0),
        ("GB", 1_073_741_824.0),
        ("TB", 1_099_511_627_776.0),
        ("PB", 1_125_899_906_842_624.0),
        ("EB", 1_152_921_504_606_846_976.0),
    ];
    let n = parse_unit(s, &NEW).or_else(|_| parse_unit(s, &OLD))?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// `units.ParseUnit`: `[-+]?([0-9]*(\.[0-9]*)?[a-zA-Z]+)+`, or `0`.
fn parse_unit(orig: &str, units: &[(&str, f64)]) -> Result<i64, String> {
    let invalid = || format!("units: invalid {orig}");
    let mut s = orig;
    let mut neg = false;
    if let Some(rest) = s.strip_prefix('-') {
        neg = true;
        s = rest;
    } else if let Some(rest) = s.strip_prefix('+') {
        s = rest;
    }
    if s == "0" {
        return Ok(0);
    }
    if s.is_empty() {
        return Err(invalid());
    }
    let mut total = 0.0f64;
    while !s.is_empty() {
        let int_len = s.bytes().take_while(u8::is_ascii_digit).count();
        let (int, tail) = s.split_at(int_len);
        let mut value: f64 = if int.is_empty() {
            0.0
        } else {
            int.parse().map_err(|_| invalid())?
        };
        s = tail;
        let mut frac_len = 0;
        if let Some(tail) = s.strip_prefix('.') {
            frac_len = tail.bytes().take_while(u8::is_ascii_digit).count();
            let (frac, tail) = tail.split_at(frac_len);
            if !frac.is_empty() {
                let f: f64 = format!("0.{frac}").parse().map_err(|_| invalid())?;
                value += f;
            }
            s = tail;
        }
        if int_len == 0 && frac_len == 0 {
            return Err(invalid());
        }
        let unit_len = s
            .bytes()
            .take_while(|&c| c != b'.' && !c.is_ascii_digit())
            .count();
        let (unit, tail) = s.split_at(unit_len);
        s = tail;
        let Some((_, mult)) = units.iter().find(|(u, _)| *u == unit) else {
            return Err(format!("units: unknown unit {unit} in {orig}"));
        };
        total += value * mult;
    }
    if neg {
        total = -total;
    }
    // Go's bounds, -2^63 <= f < 2^63.
    const TWO_63: f64 = 9_223_372_036_854_775_808.0;
    if !(-TWO_63..TWO_63).contains(&total) {
        return Err("units: overflow parsing unit".to_string());
    }
    Ok(total as i64)
}

/// A duration field: a string in Prometheus's syntax.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct ConfigDuration(Duration);

impl<'de> Deserialize<'de> for ConfigDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        parse_duration(&s)
            .map(ConfigDuration)
            .map_err(serde::de::Error::custom)
    }
}

/// `body_size_limit`: a size with a unit, or a plain integer (bytes), as Go's YAML
/// decoder sets an integer straight into `Base2Bytes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct BodySize(u64);

impl<'de> Deserialize<'de> for BodySize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Int(i64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Int(n) => Ok(BodySize(u64::try_from(n).unwrap_or(0))),
            Raw::Text(s) => parse_base2_bytes(&s)
                .map(BodySize)
                .map_err(serde::de::Error::custom),
        }
    }
}

/// A label set in a target group: valid label names (`model.LabelSet`'s check).
fn label_set<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    let map = Option::<BTreeMap<String, String>>::deserialize(d)?.unwrap_or_default();
    if let Some(bad) = map.keys().find(|n| !is_valid_label_name(n)) {
        return Err(serde::de::Error::custom(format!(
            "{bad:?} is not a valid label name"
        )));
    }
    Ok(map)
}

// ---------------------------------------------------------------------------------------
// Keys refused by name.

/// Refuses a key Prometheus has and we do not support. The message names it, so an
/// operator knows it is not a typo, and says what to do.
macro_rules! refuse {
    ($hint:literal; $($f:ident => $name:literal),* $(,)?) => {$(
        fn $f<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Never>, D::Error> {
            serde::de::IgnoredAny::deserialize(d)?;
            Err(serde::de::Error::custom(concat!(
                "`", $name, "` is not supported by tsdb-scrape (", $hint, ")"
            )))
        }
    )*};
}

refuse! {
    "remove it; the supported target discoveries are static_configs, file_sd_configs and \
     http_sd_configs";
    refuse_azure_sd => "azure_sd_configs",
    refuse_consul_sd => "consul_sd_configs",
    refuse_digitalocean_sd => "digitalocean_sd_configs",
    refuse_docker_sd => "docker_sd_configs",
    refuse_dockerswarm_sd => "dockerswarm_sd_configs",
    refuse_dns_sd => "dns_sd_configs",
    refuse_ec2_sd => "ec2_sd_configs",
    refuse_eureka_sd => "eureka_sd_configs",
    refuse_gce_sd => "gce_sd_configs",
    refuse_hetzner_sd => "hetzner_sd_configs",
    refuse_ionos_sd => "ionos_sd_configs",
    refuse_kubernetes_sd => "kubernetes_sd_configs",
    refuse_kuma_sd => "kuma_sd_configs",
    refuse_lightsail_sd => "lightsail_sd_configs",
    refuse_linode_sd => "linode_sd_configs",
    refuse_marathon_sd => "marathon_sd_configs",
    refuse_nerve_sd => "nerve_sd_configs",
    refuse_nomad_sd => "nomad_sd_configs",
    refuse_openstack_sd => "openstack_sd_configs",
    refuse_ovhcloud_sd => "ovhcloud_sd_configs",
    refuse_puppetdb_sd => "puppetdb_sd_configs",
    refuse_scaleway_sd => "scaleway_sd_configs",
    refuse_serverset_sd => "serverset_sd_configs",
    refuse_triton_sd => "triton_sd_configs",
    refuse_uyuni_sd => "uyuni_sd_configs",
    refuse_vultr_sd => "vultr_sd_configs",
}

refuse! {
    "remove it";
    refuse_oauth2 => "oauth2",
    refuse_proxy_url => "proxy_url",
    refuse_no_proxy => "no_proxy",
    refuse_proxy_from_environment => "proxy_from_environment",
    refuse_proxy_connect_header => "proxy_connect_header",
    refuse_follow_redirects => "follow_redirects",
    refuse_enable_http2 => "enable_http2",
    refuse_http_headers => "http_headers",
    refuse_native_histogram_bucket_limit => "native_histogram_bucket_limit",
    refuse_native_histogram_min_bucket_factor => "native_histogram_min_bucket_factor",
    refuse_scrape_classic_histograms => "scrape_classic_histograms",
    refuse_always_scrape_classic_histograms => "always_scrape_classic_histograms",
    refuse_convert_classic_histograms_to_nhcb => "convert_classic_histograms_to_nhcb",
    refuse_scrape_protocols => "scrape_protocols",
    refuse_fallback_scrape_protocol => "fallback_scrape_protocol",
    refuse_enable_compression => "enable_compression",
    refuse_keep_dropped_targets => "keep_dropped_targets",
    refuse_track_timestamps_staleness => "track_timestamps_staleness",
    refuse_metric_name_validation_scheme => "metric_name_validation_scheme",
    refuse_metric_name_escaping_scheme => "metric_name_escaping_scheme",
    refuse_scrape_failure_log_file => "scrape_failure_log_file",
    refuse_scrape_native_histograms => "scrape_native_histograms",
    refuse_basic_auth_username_file => "basic_auth.username_file",
    refuse_tls_ca => "tls_config.ca",
    refuse_tls_cert => "tls_config.cert",
    refuse_tls_key => "tls_config.key",
    refuse_tls_min_version => "tls_config.min_version",
    refuse_tls_max_version => "tls_config.max_version",
}

// ---------------------------------------------------------------------------------------
// The wire shapes.

/// The keys of a scrape config as written. Refused keys have a field each so that the
/// error names them; the rest is [`ScrapeConfig`]'s.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[expect(dead_code, reason = "the refused keys exist to be refused by name")]
struct RawScrapeConfig {
    #[serde(default)]
    job_name: Option<String>,
    #[serde(default)]
    scrape_interval: Option<ConfigDuration>,
    #[serde(default)]
    scrape_timeout: Option<ConfigDuration>,
    #[serde(default)]
    metrics_path: Option<String>,
    #[serde(default)]
    scheme: Option<String>,
    #[serde(default)]
    params: Option<BTreeMap<String, Vec<String>>>,
    #[serde(default)]
    honor_labels: Option<bool>,
    #[serde(default)]
    honor_timestamps: Option<bool>,
    #[serde(default)]
    basic_auth: Option<BasicAuth>,
    #[serde(default)]
    authorization: Option<Authorization>,
    #[serde(default)]
    bearer_token: Option<String>,
    #[serde(default)]
    bearer_token_file: Option<String>,
    #[serde(default)]
    tls_config: Option<TlsConfig>,
    #[serde(default)]
    sample_limit: Option<u64>,
    #[serde(default)]
    label_limit: Option<u64>,
    #[serde(default)]
    label_name_length_limit: Option<u64>,
    #[serde(default)]
    label_value_length_limit: Option<u64>,
    #[serde(default)]
    target_limit: Option<u64>,
    #[serde(default)]
    body_size_limit: Option<BodySize>,
    /// `None` entries are `null` rules, which Prometheus refuses.
    #[serde(default)]
    relabel_configs: Option<Vec<Option<RelabelConfig>>>,
    #[serde(default)]
    metric_relabel_configs: Option<Vec<Option<RelabelConfig>>>,
    #[serde(default)]
    static_configs: Option<Vec<TargetGroup>>,
    #[serde(default)]
    file_sd_configs: Option<Vec<FileSdConfig>>,
    #[serde(default)]
    http_sd_configs: Option<Vec<HttpSdConfig>>,
    #[serde(default, deserialize_with = "refuse_azure_sd")]
    azure_sd_configs: Option<Never>,
    #[serde(default, deserialize_with = "refuse_consul_sd")]
    consul_sd_configs: Option<Never>,
    #[serde(default, deserialize_with = "refuse_digitalocean_sd")]
    digitalocean_sd_configs: Option<Never>,
    #[serde(default, deserialize_with = "refuse_docker_sd")]
    docker_sd_configs: Option<Never>,
    #[serde(default, deserialize_with = "refuse_dockerswarm_sd")]
    dockerswarm_sd_configs: Option<Never>,
    #[serde(default, deserialize_with = "refuse_dns_sd")]
    dns_sd_configs: Option<Never>,
    #[serde(default, deserialize_with = "refuse_ec2_sd")]
    ec2_sd_configs: Option<Never>,
    #[serde(default, deserialize_with = "refuse_eureka_sd")]
    eureka_sd_configs: Option<Never>,
    #[serde(default, deserialize_with = "refuse_gce_sd")]
    gce_sd_configs: Option<Never>,
    #[serde(default, deserialize_with = "refuse_hetzner_sd")]
    hetzner_sd_configs: Option<Never>,
    #[serde(default, deserialize_with = "refuse_ionos_sd")]
    ionos_sd_configs: Option<Never>,
    #[serde(default, deserialize_with = "refuse_kubernetes_sd")]
    kubernetes_sd_configs: Option<Never>,
    #[serde(default, deserialize_with = "refuse_kuma_sd")]
    kuma_sd_configs: Option<Never>,
    #[serde(default, deserialize_with = "refuse_lightsail_sd")]
    lightsail_sd_configs: Option<Never>,
    #[serde(default, deserialize_with = "refuse_linode_sd")]
    linode_sd_configs: Option<Never>,
    #[serde(default, deserialize_with = "refuse_marathon_sd")]
    marathon_sd_configs: Option<Never>,
    #[serde(default, deserialize_with = "refuse_nerve_sd")]
    nerve_sd_configs: Option<Never>,
    #[serde(default, deserialize_with = "refuse_nomad_sd")]
    nomad_sd_configs: Option<Never>,
    #[serde(default, deserialize_with = "refuse_openstack_sd")]
    openstack_sd_configs: Option<Never>,
    #[serde(default, deserialize_with = "refuse_ovhcloud_sd")]
    ovhcloud_sd_configs: Option<Never>,
    #[serde(default, deserialize_with = "refuse_puppetdb_sd")]
    puppetdb_sd_configs: Option<Never>,
    #[serde(default, deserialize_with = "refuse_scaleway_sd")]
    scaleway_sd_configs: Option<Never>,
    #[serde(default, deserialize_with = "refuse_serverset_sd")]
    serverset_sd_configs: Option<Never>,
    #[serde(default, deserialize_with = "refuse_triton_sd")]
    triton_sd_configs: Option<Never>,
    #[serde(default, deserialize_with = "refuse_uyuni_sd")]
    uyuni_sd_configs: Option<Never>,
    #[serde(default, deserialize_with = "refuse_vultr_sd")]
    vultr_sd_configs: Option<Never>,
    #[serde(default, deserialize_with = "refuse_oauth2")]
    oauth2: Option<Never>,
    #[serde(default, deserialize_with = "refuse_proxy_url")]
    proxy_url: Option<Never>,
    #[serde(default, deserialize_with = "refuse_no_proxy")]
    no_proxy: Option<Never>,
    #[serde(default, deserialize_with = "refuse_proxy_from_environment")]
    proxy_from_environment: Option<Never>,
    #[serde(default, deserialize_with = "refuse_proxy_connect_header")]
    proxy_connect_header: Option<Never>,
    #[serde(default, deserialize_with = "refuse_follow_redirects")]
    follow_redirects: Option<Never>,
    #[serde(default, deserialize_with = "refuse_enable_http2")]
    enable_http2: Option<Never>,
    #[serde(default, deserialize_with = "refuse_http_headers")]
    http_headers: Option<Never>,
    #[serde(default, deserialize_with = "refuse_native_histogram_bucket_limit")]
    native_histogram_bucket_limit: Option<Never>,
    #[serde(
        default,
        deserialize_with = "refuse_native_histogram_min_bucket_factor"
    )]
    native_histogram_min_bucket_factor: Option<Never>,
    #[serde(default, deserialize_with = "refuse_scrape_classic_histograms")]
    scrape_classic_histograms: Option<Never>,
    #[serde(default, deserialize_with = "refuse_always_scrape_classic_histograms")]
    always_scrape_classic_histograms: Option<Never>,
    #[serde(
        default,
        deserialize_with = "refuse_convert_classic_histograms_to_nhcb"
    )]
    convert_classic_histograms_to_nhcb: Option<Never>,
    #[serde(default, deserialize_with = "refuse_scrape_protocols")]
    scrape_protocols: Option<Never>,
    #[serde(default, deserialize_with = "refuse_fallback_scrape_protocol")]
    fallback_scrape_protocol: Option<Never>,
    #[serde(default, deserialize_with = "refuse_enable_compression")]
    enable_compression: Option<Never>,
    #[serde(default, deserialize_with = "refuse_keep_dropped_targets")]
    keep_dropped_targets: Option<Never>,
    #[serde(default, deserialize_with = "refuse_track_timestamps_staleness")]
    track_timestamps_staleness: Option<Never>,
    #[serde(default, deserialize_with = "refuse_metric_name_validation_scheme")]
    metric_name_validation_scheme: Option<Never>,
    #[serde(default, deserialize_with = "refuse_metric_name_escaping_scheme")]
    metric_name_escaping_scheme: Option<Never>,
    #[serde(default, deserialize_with = "refuse_scrape_failure_log_file")]
    scrape_failure_log_file: Option<Never>,
    #[serde(default, deserialize_with = "refuse_scrape_native_histograms")]
    scrape_native_histograms: Option<Never>,
}

impl TryFrom<RawScrapeConfig> for ScrapeConfig {
    type Error = String;

    fn try_from(raw: RawScrapeConfig) -> Result<Self, String> {
        let job_name = raw.job_name.unwrap_or_default();
        if job_name.is_empty() {
            return Err("job_name is empty".to_string());
        }
        let scheme = raw.scheme.unwrap_or_else(|| "http".to_string());
        if scheme != "http" && scheme != "https" {
            return Err(format!(
                "invalid scheme {scheme:?} for scrape config with job name {job_name:?} (http or https)"
            ));
        }
        let (basic_auth, authorization) = http_client_auth(
            raw.basic_auth,
            raw.authorization,
            raw.bearer_token.unwrap_or_default(),
            raw.bearer_token_file.unwrap_or_default(),
        )?;
        let tls_config = raw.tls_config.unwrap_or_default();
        if !tls_config.cert_file.is_empty() && tls_config.key_file.is_empty() {
            return Err(
                "exactly one of key or key_file must be configured when a client certificate is configured"
                    .to_string(),
            );
        }
        if !tls_config.key_file.is_empty() && tls_config.cert_file.is_empty() {
            return Err(
                "exactly one of cert or cert_file must be configured when a client key is configured"
                    .to_string(),
            );
        }
        let relabel_configs = raw
            .relabel_configs
            .unwrap_or_default()
            .into_iter()
            .collect::<Option<Vec<_>>>()
            .ok_or("empty or null target relabeling rule in scrape config")?;
        let metric_relabel_configs = raw
            .metric_relabel_configs
            .unwrap_or_default()
            .into_iter()
            .collect::<Option<Vec<_>>>()
            .ok_or("empty or null metric relabeling rule in scrape config")?;
        let static_configs = raw.static_configs.unwrap_or_default();
        // Prometheus's `checkStaticTargets`: a URL pasted as a target is an error, unless
        // relabeling may rewrite it.
        if relabel_configs.is_empty() {
            for t in static_configs.iter().flat_map(|g| &g.targets) {
                check_target_address(t)?;
            }
        }
        Ok(ScrapeConfig {
            job_name,
            scrape_interval: raw.scrape_interval.unwrap_or_default().0,
            scrape_timeout: raw.scrape_timeout.unwrap_or_default().0,
            metrics_path: raw.metrics_path.unwrap_or_else(|| "/metrics".to_string()),
            scheme,
            params: raw.params.unwrap_or_default(),
            honor_labels: raw.honor_labels.unwrap_or(false),
            honor_timestamps: raw.honor_timestamps.unwrap_or(true),
            basic_auth,
            authorization,
            tls_config,
            sample_limit: raw.sample_limit.unwrap_or(0),
            label_limit: raw.label_limit.unwrap_or(0),
            label_name_length_limit: raw.label_name_length_limit.unwrap_or(0),
            label_value_length_limit: raw.label_value_length_limit.unwrap_or(0),
            target_limit: raw.target_limit.unwrap_or(0),
            body_size_limit: raw.body_size_limit.unwrap_or_default().0,
            relabel_configs,
            metric_relabel_configs,
            static_configs,
            file_sd_configs: raw.file_sd_configs.unwrap_or_default(),
            http_sd_configs: raw.http_sd_configs.unwrap_or_default(),
        })
    }
}

/// Prometheus's `config.CheckTargetAddress`: an address with a `/` is a URL pasted where
/// a `host:port` belongs.
pub fn check_target_address(address: &str) -> Result<(), String> {
    if address.contains('/') {
        return Err(format!("{address:?} is not a valid hostname"));
    }
    Ok(())
}

/// The authentication part of Prometheus's `HTTPClientConfig.Validate`, check for check:
/// at most one way to authenticate, `bearer_token(_file)` turned into `authorization`,
/// `authorization.type` trimmed and defaulted to `Bearer`.
fn http_client_auth(
    basic_auth: Option<BasicAuth>,
    authorization: Option<Authorization>,
    bearer_token: String,
    bearer_token_file: String,
) -> Result<(Option<BasicAuth>, Option<Authorization>), String> {
    let bearer = !bearer_token.is_empty() || !bearer_token_file.is_empty();
    if !bearer_token.is_empty() && !bearer_token_file.is_empty() {
        return Err("at most one of bearer_token & bearer_token_file must be configured".into());
    }
    if basic_auth.is_some() && bearer {
        return Err(
            "at most one of basic_auth, oauth2, bearer_token & bearer_token_file must be configured"
                .into(),
        );
    }
    if let Some(b) = &basic_auth {
        if !b.password.is_empty() && !b.password_file.is_empty() {
            return Err(
                "at most one of basic_auth password & password_file must be configured".into(),
            );
        }
    }
    let authorization = match authorization {
        Some(mut a) => {
            if bearer {
                return Err(
                    "authorization is not compatible with bearer_token & bearer_token_file".into(),
                );
            }
            if !a.credentials.is_empty() && !a.credentials_file.is_empty() {
                return Err(
                    "at most one of authorization credentials & credentials_file must be configured"
                        .into(),
                );
            }
            a.kind = a.kind.trim().to_string();
            if a.kind.is_empty() {
                a.kind = "Bearer".to_string();
            }
            if a.kind.eq_ignore_ascii_case("basic") {
                return Err(
                    r#"authorization type cannot be set to "basic", use "basic_auth" instead"#
                        .into(),
                );
            }
            if basic_auth.is_some() {
                return Err(
                    "at most one of basic_auth, oauth2 & authorization must be configured".into(),
                );
            }
            Some(a)
        }
        None if bearer => Some(Authorization {
            kind: "Bearer".to_string(),
            credentials: bearer_token,
            credentials_file: bearer_token_file,
        }),
        None => None,
    };
    Ok((basic_auth, authorization))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFileSd {
    #[serde(default)]
    files: Option<Vec<String>>,
    #[serde(default)]
    refresh_interval: Option<ConfigDuration>,
}

/// Prometheus's `patFileSDName`: `^[^*]*(\*[^/]*)?\.(json|yml|yaml|JSON|YML|YAML)$`.
fn is_valid_file_sd_name(name: &str) -> bool {
    let Some((stem, ext)) = name.rsplit_once('.') else {
        return false;
    };
    if !matches!(ext, "json" | "yml" | "yaml" | "JSON" | "YML" | "YAML") {
        return false;
    }
    match stem.split_once('*') {
        None => true,
        // One `*`, in the last path component.
        Some((_, after)) => !after.contains('*') && !after.contains('/'),
    }
}

impl TryFrom<RawFileSd> for FileSdConfig {
    type Error = String;

    fn try_from(raw: RawFileSd) -> Result<Self, String> {
        let files = raw.files.unwrap_or_default();
        if files.is_empty() {
            return Err("file service discovery config must contain at least one path name".into());
        }
        if let Some(bad) = files.iter().find(|f| !is_valid_file_sd_name(f)) {
            return Err(format!("path name {bad:?} is not valid for file discovery"));
        }
        Ok(FileSdConfig {
            files,
            refresh_interval: match raw.refresh_interval {
                Some(d) => d.0,
                None => DEFAULT_FILE_SD_REFRESH,
            },
        })
    }
}

/// `http_sd_configs` keys: `url`, `refresh_interval`; the HTTP client settings Prometheus
/// also accepts there are refused by name.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[expect(dead_code, reason = "the refused keys exist to be refused by name")]
struct RawHttpSd {
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    refresh_interval: Option<ConfigDuration>,
    #[serde(default, deserialize_with = "refuse_http_sd_basic_auth")]
    basic_auth: Option<Never>,
    #[serde(default, deserialize_with = "refuse_http_sd_authorization")]
    authorization: Option<Never>,
    #[serde(default, deserialize_with = "refuse_http_sd_bearer_token")]
    bearer_token: Option<Never>,
    #[serde(default, deserialize_with = "refuse_http_sd_bearer_token_file")]
    bearer_token_file: Option<Never>,
    #[serde(default, deserialize_with = "refuse_http_sd_tls_config")]
    tls_config: Option<Never>,
    #[serde(default, deserialize_with = "refuse_oauth2")]
    oauth2: Option<Never>,
    #[serde(default, deserialize_with = "refuse_proxy_url")]
    proxy_url: Option<Never>,
    #[serde(default, deserialize_with = "refuse_follow_redirects")]
    follow_redirects: Option<Never>,
    #[serde(default, deserialize_with = "refuse_enable_http2")]
    enable_http2: Option<Never>,
}

refuse! {
    "remove it: http_sd_configs takes url and refresh_interval";
    refuse_http_sd_basic_auth => "http_sd_configs.basic_auth",
    refuse_http_sd_authorization => "http_sd_configs.authorization",
    refuse_http_sd_bearer_token => "http_sd_configs.bearer_token",
    refuse_http_sd_bearer_token_file => "http_sd_configs.bearer_token_file",
    refuse_http_sd_tls_config => "http_sd_configs.tls_config",
}

impl TryFrom<RawHttpSd> for HttpSdConfig {
    type Error = String;

    fn try_from(raw: RawHttpSd) -> Result<Self, String> {
        let url = raw.url.unwrap_or_default();
        if url.is_empty() {
            return Err("URL is missing".into());
        }
        // Go's url.Parse, as far as Prometheus looks: the scheme (case-insensitive) and
        // a non-empty host.
        let Some((scheme, rest)) = url.split_once("://") else {
            return Err("URL scheme must be 'http' or 'https'".into());
        };
        if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
            return Err("URL scheme must be 'http' or 'https'".into());
        }
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        if host.is_empty() {
            return Err("host is missing in URL".into());
        }
        Ok(HttpSdConfig {
            url,
            refresh_interval: match raw.refresh_interval {
                Some(d) => d.0,
                None => DEFAULT_HTTP_SD_REFRESH,
            },
        })
    }
}

impl ScrapeConfig {
    /// Makes the relative file paths of this job relative to `dir` (the directory of the
    /// configuration file), as Prometheus's `SetDirectory` does: `file_sd_configs` files,
    /// `password_file`, `credentials_file` and the `tls_config` files. Absolute and empty
    /// paths are left alone.
    pub fn set_directory(&mut self, dir: &Path) {
        let join = |p: &mut String| {
            if !p.is_empty() && Path::new(p.as_str()).is_relative() {
                *p = dir.join(p.as_str()).to_string_lossy().into_owned();
            }
        };
        for sd in &mut self.file_sd_configs {
            sd.files.iter_mut().for_each(join);
        }
        if let Some(b) = &mut self.basic_auth {
            join(&mut b.password_file);
        }
        if let Some(a) = &mut self.authorization {
            join(&mut a.credentials_file);
        }
        let tls = &mut self.tls_config;
        for p in [&mut tls.ca_file, &mut tls.cert_file, &mut tls.key_file] {
            join(p);
        }
    }
}

/// Applies `global` to every job and checks the list as Prometheus's
/// `Config.UnmarshalYAML` does: the interval inherited when not written, a timeout
/// longer than the interval refused, an unwritten timeout inherited and capped at the
/// interval, job names unique.
pub fn resolve_scrape_configs(
    configs: &mut [ScrapeConfig],
    global: &GlobalScrapeConfig,
) -> Result<(), ScrapeConfigError> {
    let mut names = HashSet::new();
    for c in configs.iter_mut() {
        if c.scrape_interval.is_zero() {
            c.scrape_interval = global.scrape_interval;
        }
        if c.scrape_timeout > c.scrape_interval {
            return Err(ScrapeConfigError::TimeoutTooLong(c.job_name.clone()));
        }
        if c.scrape_timeout.is_zero() {
            c.scrape_timeout = global.scrape_timeout.min(c.scrape_interval);
        }
        if !names.insert(c.job_name.clone()) {
            return Err(ScrapeConfigError::DuplicateJob(c.job_name.clone()));
        }
    }
    Ok(())
}
