//! From discovered target groups to scrape targets, as Prometheus 2.42's
//! `scrape/target.go` (`PopulateLabels`, `TargetsFromGroup`, `Target.URL`,
//! `Target.Labels`) does, so that the same `scrape_configs` give the same targets, the
//! same `instance` labels and the same dropped targets here as there.
//!
//! For each target of a group:
//! 1. its labels are the target's own (`__address__`), then the group's labels (the
//!    discovery's `__meta_*` among them) where the target has none of that name;
//! 2. `job`, `__scrape_interval__`, `__scrape_timeout__`, `__metrics_path__` and
//!    `__scheme__` are added from the scrape config where not already set, and
//!    `__param_<name>` from the first value of each `params` entry (always set);
//!    these are the *discovered labels* `/api/v1/targets` shows;
//! 3. `relabel_configs` run; a target they drop is a *dropped target*;
//! 4. a target without `__address__` is an error (`no address`); an address without a
//!    port gets `:80` or `:443` by its scheme (Prometheus 2.x's default; 3.x dropped it,
//!    [`PopulateOptions::no_default_port`] is 2.x's `no-default-scrape-port` flag); an
//!    address with a `/` is an error; the interval and timeout labels must parse, be
//!    non-zero and the timeout no longer than the interval;
//! 5. `__meta_*` labels are deleted, `instance` defaults to the address (with the port
//!    added), and every label name is checked.
//!
//! The target keeps its other `__` labels (`__scheme__`, `__param_*`…): they make its URL
//! ([`Target::url`]), and [`Target::labels`] leaves them out of the labels attached to
//! its series.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use tsdb_index::{is_valid_label_name, Labels};

use crate::config::TargetGroup;
use crate::config::{check_target_address, format_duration, parse_duration, ScrapeConfig};
use crate::relabel;

/// The label holding a target's `host:port`.
pub const ADDRESS_LABEL: &str = "__address__";
/// The label holding a target's scheme.
pub const SCHEME_LABEL: &str = "__scheme__";
/// The label holding a target's HTTP path.
pub const METRICS_PATH_LABEL: &str = "__metrics_path__";
/// The label holding a target's scrape interval.
pub const SCRAPE_INTERVAL_LABEL: &str = "__scrape_interval__";
/// The label holding a target's scrape timeout.
pub const SCRAPE_TIMEOUT_LABEL: &str = "__scrape_timeout__";
/// The prefix of labels that become URL query parameters.
pub const PARAM_LABEL_PREFIX: &str = "__param_";
/// The prefix of discovery metadata labels, deleted after relabeling.
pub const META_LABEL_PREFIX: &str = "__meta_";
/// The prefix of labels that never reach a series.
pub const RESERVED_LABEL_PREFIX: &str = "__";
/// The `job` label.
pub const JOB_LABEL: &str = "job";
/// The `instance` label.
pub const INSTANCE_LABEL: &str = "instance";

/// Why a discovered target cannot be scraped. Messages are Prometheus's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    /// No `__address__` after relabeling.
    #[error("no address")]
    NoAddress,
    /// A port had to be added but the scheme is neither `http` nor `https` (Prometheus
    /// quotes the config's scheme, not the label's, and so do we).
    #[error("invalid scheme: {0:?}")]
    InvalidScheme(String),
    /// The address holds a `/`: a URL where a `host:port` belongs.
    #[error("{0}")]
    InvalidAddress(String),
    /// `__scrape_interval__` is not a duration.
    #[error("error parsing scrape interval: {0}")]
    InvalidInterval(String),
    /// `__scrape_interval__` is zero.
    #[error("scrape interval cannot be 0")]
    ZeroInterval,
    /// `__scrape_timeout__` is not a duration.
    #[error("error parsing scrape timeout: {0}")]
    InvalidTimeout(String),
    /// `__scrape_timeout__` is zero.
    #[error("scrape timeout cannot be 0")]
    ZeroTimeout,
    /// `__scrape_timeout__` > `__scrape_interval__` (the labels as written).
    #[error("scrape timeout cannot be greater than scrape interval ({timeout:?} > {interval:?})")]
    TimeoutTooLong {
        /// The timeout label's value.
        timeout: String,
        /// The interval label's value.
        interval: String,
    },
    /// Relabeling produced a label name that is not valid (Prometheus 2.42 lets these
    /// through to fail every sample at ingestion; we fail the target, with the name).
    #[error("invalid label name {0:?}")]
    InvalidLabelName(String),
    /// A label value too long to store (relabeling joined or repeated values past the
    /// 1 MiB ceiling of a label string).
    #[error("a label value is too long")]
    LabelTooLong,
}

/// Options of [`populate_labels`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PopulateOptions {
    /// Prometheus 2.x's `--enable-feature=no-default-scrape-port`: do not add `:80` or
    /// `:443` to an address without a port, and remove them from one that has the
    /// scheme's default port (Prometheus 3's behaviour).
    pub no_default_port: bool,
}

/// A target to scrape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Every label after relabeling, `__` ones included, `__meta_*` excluded.
    labels: Labels,
    /// The labels before relabeling.
    discovered_labels: Labels,
    /// The scrape config's `params`, before `__param_*` labels override first values.
    params: BTreeMap<String, Vec<String>>,
    url: String,
    scrape_interval: Duration,
    scrape_timeout: Duration,
}

impl Target {
    /// Builds a target from its final labels, as Prometheus's `NewTarget`. The scrape
    /// interval and timeout are read from the labels (zero if absent or invalid;
    /// [`populate_labels`] only builds targets whose labels are valid).
    pub fn new(
        labels: Labels,
        discovered_labels: Labels,
        params: BTreeMap<String, Vec<String>>,
    ) -> Target {
        let label_duration = |name| {
            labels
                .get(name)
                .and_then(|v| parse_duration(v).ok())
                .unwrap_or(Duration::ZERO)
        };
        let scrape_interval = label_duration(SCRAPE_INTERVAL_LABEL);
        let scrape_timeout = label_duration(SCRAPE_TIMEOUT_LABEL);
        let url = target_url(&labels, &params);
        Target {
            labels,
            discovered_labels,
            params,
            url,
            scrape_interval,
            scrape_timeout,
        }
    }

    /// The labels attached to the target's series: every label not starting with `__`
    /// (Prometheus's `Target.Labels`).
    pub fn labels(&self) -> Labels {
        Labels::build_unchecked(
            self.labels
                .iter()
                .filter(|(n, _)| !n.starts_with(RESERVED_LABEL_PREFIX)),
        )
        .unwrap_or_else(Labels::empty)
    }

    /// Every label after relabeling, the `__` ones included (`__meta_*` excluded).
    pub fn all_labels(&self) -> &Labels {
        &self.labels
    }

    /// The labels before relabeling, for `/api/v1/targets`.
    pub fn discovered_labels(&self) -> &Labels {
        &self.discovered_labels
    }

    /// The scrape URL (`scheme://address/path?query`), as Go's `url.URL.String()`
    /// writes it; the `scrapeUrl` of `/api/v1/targets`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The query parameters of the scrape, `__param_*` labels applied.
    pub fn url_params(&self) -> BTreeMap<String, Vec<String>> {
        url_params(&self.labels, &self.params)
    }

    /// `__address__`.
    pub fn address(&self) -> &str {
        self.labels.get(ADDRESS_LABEL).unwrap_or("")
    }

    /// `__scheme__`.
    pub fn scheme(&self) -> &str {
        self.labels.get(SCHEME_LABEL).unwrap_or("")
    }

    /// The scrape interval, from `__scrape_interval__` (relabeling may change it).
    pub fn scrape_interval(&self) -> Duration {
        self.scrape_interval
    }

    /// The scrape timeout, from `__scrape_timeout__`.
    pub fn scrape_timeout(&self) -> Duration {
        self.scrape_timeout
    }
}

/// A target that relabeling dropped: only its discovered labels are known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DroppedTarget {
    /// The labels before relabeling.
    pub discovered_labels: Labels,
}

/// The outcome of [`populate_labels`] for a target that is not an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Populated {
    /// To be scraped.
    Active(Target),
    /// Dropped by `relabel_configs`.
    Dropped(DroppedTarget),
}

/// Prometheus's `PopulateLabels`: the scrape target for one discovered label set (the
/// target's and its group's labels), or the reason there is none. See the module
/// documentation for the steps.
pub fn populate_labels(
    discovered: &Labels,
    cfg: &ScrapeConfig,
    opts: PopulateOptions,
) -> Result<Populated, TargetError> {
    // Step 2: the config's labels where the discovery set none, then `__param_*`.
    let interval = format_duration(cfg.scrape_interval);
    let timeout = format_duration(cfg.scrape_timeout);
    let mut pre: Vec<(&str, &str)> = discovered.iter().collect();
    for (name, value) in [
        (JOB_LABEL, cfg.job_name.as_str()),
        (SCRAPE_INTERVAL_LABEL, interval.as_str()),
        (SCRAPE_TIMEOUT_LABEL, timeout.as_str()),
        (METRICS_PATH_LABEL, cfg.metrics_path.as_str()),
        (SCHEME_LABEL, cfg.scheme.as_str()),
    ] {
        if discovered.get(name).is_none() {
            pre.push((name, value));
        }
    }
    let params: Vec<(String, &str)> = cfg
        .params
        .iter()
        .filter_map(|(k, v)| Some((format!("{PARAM_LABEL_PREFIX}{k}"), v.first()?.as_str())))
        .collect();
    // A later pair wins in `build_unchecked`: the params override discovered labels.
    let pre_relabel = Labels::build_unchecked(
        pre.into_iter()
            .chain(params.iter().map(|(k, v)| (k.as_str(), *v))),
    )
    .ok_or(TargetError::LabelTooLong)?;

    // Step 3.
    let Some(lset) = relabel::process(&pre_relabel, &cfg.relabel_configs) else {
        if cfg.relabel_configs.is_empty() {
            // `process` with no rules drops nothing; `None` means a value too long.
            return Err(TargetError::LabelTooLong);
        }
        return Ok(Populated::Dropped(DroppedTarget {
            discovered_labels: pre_relabel,
        }));
    };

    // Step 4.
    let Some(address) = lset.get(ADDRESS_LABEL) else {
        return Err(TargetError::NoAddress);
    };
    let mut addr = address.to_string();
    let scheme = lset.get(SCHEME_LABEL).unwrap_or("");
    let mut new_address: Option<String> = None;
    let split = split_host_port(address);
    let needs_port = split.is_none() && split_host_port(&format!("{address}:1234")).is_some();
    if !opts.no_default_port && needs_port {
        addr = match scheme {
            "http" | "" => format!("{addr}:80"),
            "https" => format!("{addr}:443"),
            _ => return Err(TargetError::InvalidScheme(cfg.scheme.clone())),
        };
        new_address = Some(addr.clone());
    }
    if opts.no_default_port {
        if let Some((host, port)) = split {
            if (port == "80" && scheme == "http") || (port == "443" && scheme == "https") {
                // As Prometheus: the address loses the port, `instance` keeps it.
                new_address = Some(host.to_string());
            }
        }
    }
    check_target_address(&addr).map_err(TargetError::InvalidAddress)?;

    let interval = lset.get(SCRAPE_INTERVAL_LABEL).unwrap_or("");
    let interval_d = parse_duration(interval).map_err(TargetError::InvalidInterval)?;
    if interval_d.is_zero() {
        return Err(TargetError::ZeroInterval);
    }
    let timeout = lset.get(SCRAPE_TIMEOUT_LABEL).unwrap_or("");
    let timeout_d = parse_duration(timeout).map_err(TargetError::InvalidTimeout)?;
    if timeout_d.is_zero() {
        return Err(TargetError::ZeroTimeout);
    }
    if timeout_d > interval_d {
        return Err(TargetError::TimeoutTooLong {
            timeout: timeout.to_string(),
            interval: interval.to_string(),
        });
    }

    // Step 5.
    let mut out: Vec<(&str, &str)> = lset
        .iter()
        .filter(|(n, _)| !n.starts_with(META_LABEL_PREFIX) && *n != ADDRESS_LABEL)
        .collect();
    out.push((ADDRESS_LABEL, new_address.as_deref().unwrap_or(address)));
    if lset.get(INSTANCE_LABEL).is_none() {
        out.push((INSTANCE_LABEL, &addr));
    }
    if let Some((bad, _)) = out.iter().find(|(n, _)| !is_valid_label_name(n)) {
        return Err(TargetError::InvalidLabelName((*bad).to_string()));
    }
    let labels = Labels::build_unchecked(out).ok_or(TargetError::LabelTooLong)?;
    Ok(Populated::Active(Target::new(
        labels,
        pre_relabel,
        cfg.params.clone(),
    )))
}

/// The targets of one group, as `/api/v1/targets` and the scrape loop need them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupTargets {
    /// Targets to scrape.
    pub active: Vec<Target>,
    /// Targets dropped by relabeling.
    pub dropped: Vec<DroppedTarget>,
    /// Targets that cannot be scraped: the index of the target in the group and why.
    pub errors: Vec<(usize, TargetError)>,
}

/// Prometheus's `TargetsFromGroup`: [`populate_labels`] over every target of `group`.
/// Each target's labels are its address and the group's labels.
pub fn targets_from_group(
    group: &TargetGroup,
    cfg: &ScrapeConfig,
    opts: PopulateOptions,
) -> GroupTargets {
    let mut out = GroupTargets::default();
    for (i, address) in group.targets.iter().enumerate() {
        let pairs = group
            .labels
            .iter()
            .filter(|(n, _)| n.as_str() != ADDRESS_LABEL)
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .chain([(ADDRESS_LABEL, address.as_str())]);
        let result = Labels::build_unchecked(pairs)
            .ok_or(TargetError::LabelTooLong)
            .and_then(|discovered| populate_labels(&discovered, cfg, opts));
        match result {
            Ok(Populated::Active(t)) => out.active.push(t),
            Ok(Populated::Dropped(d)) => out.dropped.push(d),
            Err(e) => out.errors.push((i, e)),
        }
    }
    out
}

/// Go's `net.SplitHostPort`: `(host, port)`, or `None` where Go returns an error
/// (no port, too many colons, misplaced brackets). The port may be empty.
pub fn split_host_port(hostport: &str) -> Option<(&str, &str)> {
    let i = hostport.rfind(':')?;
    let (host, j, k) = if hostport.starts_with('[') {
        let end = hostport.find(']')?;
        if end + 1 != i {
            return None;
        }
        (&hostport[1..end], 1, end + 1)
    } else {
        let host = &hostport[..i];
        if host.contains(':') {
            return None;
        }
        (host, 0, 0)
    };
    if hostport[j..].contains('[') || hostport[k..].contains(']') {
        return None;
    }
    Some((host, &hostport[i + 1..]))
}

/// `Target.URL`'s query: the config's params, the first value of each replaced (or
/// set) by its `__param_<name>` label.
fn url_params(
    labels: &Labels,
    params: &BTreeMap<String, Vec<String>>,
) -> BTreeMap<String, Vec<String>> {
    let mut out = params.clone();
    for (name, value) in labels.iter() {
        let Some(key) = name.strip_prefix(PARAM_LABEL_PREFIX) else {
            continue;
        };
        match out.get_mut(key) {
            Some(values) if !values.is_empty() => values[0] = value.to_string(),
            _ => {
                out.insert(key.to_string(), vec![value.to_string()]);
            }
        }
    }
    out
}

/// `Target.URL().String()`: Go's `url.URL{Scheme, Host, Path, RawQuery}.String()` with
/// Go's escaping of the host, the path, and the query (`url.Values.Encode`: keys sorted,
/// `QueryEscape`d).
fn target_url(labels: &Labels, params: &BTreeMap<String, Vec<String>>) -> String {
    let scheme = labels.get(SCHEME_LABEL).unwrap_or("");
    let host = labels.get(ADDRESS_LABEL).unwrap_or("");
    let path = labels.get(METRICS_PATH_LABEL).unwrap_or("");
    let mut url = String::new();
    if !scheme.is_empty() {
        url.push_str(scheme);
        url.push(':');
    }
    if !scheme.is_empty() || !host.is_empty() {
        url.push_str("//");
        escape_into(&mut url, host, Mode::Host);
    }
    if !path.is_empty() && !path.starts_with('/') && !host.is_empty() {
        url.push('/');
    }
    escape_into(&mut url, path, Mode::Path);
    let mut query = String::new();
    for (k, values) in url_params(labels, params) {
        for v in values {
            if !query.is_empty() {
                query.push('&');
            }
            escape_into(&mut query, &k, Mode::QueryComponent);
            query.push('=');
            escape_into(&mut query, &v, Mode::QueryComponent);
        }
    }
    if !query.is_empty() {
        url.push('?');
        url.push_str(&query);
    }
    url
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Host,
    Path,
    QueryComponent,
}

/// Go's `url.shouldEscape`.
fn should_escape(c: u8, mode: Mode) -> bool {
    if c.is_ascii_alphanumeric() {
        return false;
    }
    if mode == Mode::Host
        && matches!(
            c,
            b'!' | b'$'
                | b'&'
                | b'\''
                | b'('
                | b')'
                | b'*'
                | b'+'
                | b','
                | b';'
                | b'='
                | b':'
                | b'['
                | b']'
                | b'<'
                | b'>'
                | b'"'
        )
    {
        return false;
    }
    match c {
        b'-' | b'_' | b'.' | b'~' => false,
        b'$' | b'&' | b'+' | b',' | b'/' | b':' | b';' | b'=' | b'?' | b'@' => match mode {
            Mode::Path => c == b'?',
            Mode::QueryComponent => true,
            Mode::Host => true,
        },
        _ => true,
    }
}

/// Go's `url.escape`: `%XX` in upper case, a space as `+` in a query component.
fn escape_into(out: &mut String, s: &str, mode: Mode) {
    for &c in s.as_bytes() {
        if c == b' ' && mode == Mode::QueryComponent {
            out.push('+');
        } else if should_escape(c, mode) {
            let _ = write!(out, "%{c:02X}");
        } else {
            out.push(char::from(c));
        }
    }
}
