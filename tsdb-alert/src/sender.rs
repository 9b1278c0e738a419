//! Sending alerts to external Alertmanagers, as Prometheus's notifier does: the
//! `alerting` section of Prometheus's configuration (`alertmanagers` with
//! `static_configs`, their `relabel_configs`, and `alert_relabel_configs`), a bounded queue
//! that drops the oldest alerts when full, and batches of at most 64 alerts POSTed to every
//! Alertmanager's v2 API (`/api/v2/alerts`) at once.
//!
//! The rule evaluator re-sends firing alerts every `resend_delay` with an `endsAt` in the
//! future, so an alert lost here (queue overflow, an Alertmanager down) is sent again; the
//! sender itself does not retry, as Prometheus's does not.
//!
//! HTTP client settings (`basic_auth`, `authorization`, `tls_config`), target groups and
//! relabeling are `tsdb-scrape`'s, the same code and checks as scrape configs.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use reqwest::header::{HeaderMap, HeaderValue, CONTENT_TYPE};
use serde::{Deserialize, Deserializer};
use tsdb_index::Labels;
use tsdb_scrape::relabel::{process, RelabelConfig};
use tsdb_scrape::{Authorization, BasicAuth, TargetGroup, TlsConfig};

use crate::model::{rfc3339, Alert};

/// Prometheus's `--alertmanager.notification-queue-capacity` default.
pub const DEFAULT_QUEUE_CAPACITY: usize = 10_000;
/// Prometheus's `maxBatchSize`: alerts per request.
pub const MAX_BATCH: usize = 64;
/// An Alertmanager's request timeout when `timeout` is not set.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Prometheus's `alerting` section.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertingConfig {
    /// Applied to every alert before it is sent (after external labels are added).
    #[serde(default)]
    pub alert_relabel_configs: Vec<RelabelConfig>,
    /// The Alertmanagers alerts go to.
    #[serde(default)]
    pub alertmanagers: Vec<AlertmanagerConfig>,
}

/// One `alertmanagers` entry: how to reach a set of Alertmanagers.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "RawAlertmanagerConfig")]
pub struct AlertmanagerConfig {
    /// `http` or `https`.
    pub scheme: String,
    /// Prefix of the API path (`/alertmanager` behind a proxy).
    pub path_prefix: String,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Basic auth credentials.
    pub basic_auth: Option<BasicAuth>,
    /// The `Authorization` header.
    pub authorization: Option<Authorization>,
    /// TLS settings.
    pub tls_config: TlsConfig,
    /// The Alertmanagers' addresses.
    pub static_configs: Vec<TargetGroup>,
    /// Relabeling of the discovered Alertmanagers (`__address__`, `__scheme__`,
    /// `__alerts_path__`).
    pub relabel_configs: Vec<RelabelConfig>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[expect(dead_code, reason = "the refused keys exist to be refused by name")]
struct RawAlertmanagerConfig {
    #[serde(default)]
    scheme: Option<String>,
    #[serde(default)]
    path_prefix: Option<String>,
    #[serde(default)]
    timeout: Option<String>,
    #[serde(default)]
    api_version: Option<String>,
    #[serde(default)]
    basic_auth: Option<BasicAuth>,
    #[serde(default)]
    authorization: Option<Authorization>,
    #[serde(default)]
    tls_config: Option<TlsConfig>,
    #[serde(default)]
    static_configs: Vec<TargetGroup>,
    #[serde(default)]
    relabel_configs: Vec<RelabelConfig>,
    #[serde(default, deserialize_with = "refuse_file_sd")]
    file_sd_configs: Option<Never>,
    #[serde(default, deserialize_with = "refuse_http_sd")]
    http_sd_configs: Option<Never>,
    #[serde(default, deserialize_with = "refuse_dns_sd")]
    dns_sd_configs: Option<Never>,
    #[serde(default, deserialize_with = "refuse_kubernetes_sd")]
    kubernetes_sd_configs: Option<Never>,
    #[serde(default, deserialize_with = "refuse_consul_sd")]
    consul_sd_configs: Option<Never>,
    #[serde(default, deserialize_with = "refuse_oauth2")]
    oauth2: Option<Never>,
    #[serde(default, deserialize_with = "refuse_sigv4")]
    sigv4: Option<Never>,
    #[serde(default, deserialize_with = "refuse_proxy_url")]
    proxy_url: Option<Never>,
}

/// A value that cannot exist: the type of refused keys.
enum Never {}

macro_rules! refuse {
    ($($f:ident => $name:literal),* $(,)?) => {$(
        fn $f<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Never>, D::Error> {
            serde::de::IgnoredAny::deserialize(d)?;
            Err(serde::de::Error::custom(concat!(
                "alertmanagers: `", $name, "` is not supported (use static_configs)"
            )))
        }
    )*};
}

refuse! {
    refuse_file_sd => "file_sd_configs",
    refuse_http_sd => "http_sd_configs",
    refuse_dns_sd => "dns_sd_configs",
    refuse_kubernetes_sd => "kubernetes_sd_configs",
    refuse_consul_sd => "consul_sd_configs",
    refuse_oauth2 => "oauth2",
    refuse_sigv4 => "sigv4",
    refuse_proxy_url => "proxy_url",
}

impl TryFrom<RawAlertmanagerConfig> for AlertmanagerConfig {
    type Error = String;

    fn try_from(r: RawAlertmanagerConfig) -> Result<Self, String> {
        match r.api_version.as_deref() {
            None | Some("v2") => {}
            Some("v1") => {
                return Err(
                    "alertmanagers: api_version v1 is not supported (Alertmanager 0.27 \
                     removed it too); use v2"
                        .into(),
                )
            }
            Some(other) => return Err(format!("alertmanagers: unknown api_version {other:?}")),
        }
        let scheme = r.scheme.unwrap_or_else(|| "http".into());
        if scheme != "http" && scheme != "https" {
            return Err(format!(
                "alertmanagers: scheme must be http or https, not {scheme:?}"
            ));
        }
        let timeout = match r.timeout {
            Some(t) => tsdb_scrape::config::parse_duration(&t)
                .map_err(|e| format!("alertmanagers: timeout: {e}"))?,
            None => DEFAULT_TIMEOUT,
        };
        if r.basic_auth.is_some() && r.authorization.is_some() {
            return Err("alertmanagers: at most one of basic_auth and authorization".into());
        }
        for c in &r.relabel_configs {
            c.validate()
                .map_err(|e| format!("alertmanagers: relabel_configs: {e}"))?;
        }
        Ok(AlertmanagerConfig {
            scheme,
            path_prefix: r.path_prefix.unwrap_or_default(),
            timeout,
            basic_auth: r.basic_auth,
            authorization: r.authorization,
            tls_config: r.tls_config.unwrap_or_default(),
            static_configs: r.static_configs,
            relabel_configs: r.relabel_configs,
        })
    }
}

/// Why the sender could not be built.
#[derive(Debug, thiserror::Error)]
pub enum SenderError {
    /// An HTTP client could not be built (TLS files, credentials).
    #[error("alertmanagers: {0}")]
    Client(#[from] tsdb_scrape::ClientError),
    /// A relabeling rule is invalid.
    #[error("alert_relabel_configs: {0}")]
    Relabel(String),
}

/// One Alertmanager alerts are POSTed to.
struct Target {
    url: String,
    client: reqwest::Client,
    headers: HeaderMap,
    timeout: Duration,
    sent: AtomicU64,
    errors: AtomicU64,
}

/// What the sender has done, for `/metrics` (Prometheus's `prometheus_notifications_*`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SenderStats {
    /// Alerts waiting in the queue.
    pub queue_length: usize,
    /// The queue's capacity.
    pub queue_capacity: usize,
    /// Alerts dropped because the queue was full or relabeling dropped them.
    pub dropped: u64,
    /// Per Alertmanager URL: alerts sent, and alerts whose request failed.
    pub per_alertmanager: Vec<(String, u64, u64)>,
}

/// Queues alerts and POSTs them to every configured Alertmanager.
pub struct Sender {
    queue: Mutex<VecDeque<Alert>>,
    capacity: usize,
    wake: tokio::sync::Notify,
    targets: Vec<Target>,
    external_labels: BTreeMap<String, String>,
    alert_relabel_configs: Vec<RelabelConfig>,
    dropped: AtomicU64,
}

impl Sender {
    /// A sender for `config`; `external_labels` are added to every alert that does not
    /// have the label (as Prometheus does before relabeling).
    pub fn new(
        config: &AlertingConfig,
        external_labels: BTreeMap<String, String>,
        capacity: usize,
    ) -> Result<Sender, SenderError> {
        for c in &config.alert_relabel_configs {
            c.validate()
                .map_err(|e| SenderError::Relabel(e.to_string()))?;
        }
        let mut targets = Vec::new();
        for am in &config.alertmanagers {
            let client = tsdb_scrape::fetch::http_client(&am.tls_config)?;
            let mut headers = tsdb_scrape::fetch::auth_headers(
                am.basic_auth.as_ref(),
                am.authorization.as_ref(),
            )?;
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            for url in alertmanager_urls(am) {
                targets.push(Target {
                    url,
                    client: client.clone(),
                    headers: headers.clone(),
                    timeout: am.timeout,
                    sent: AtomicU64::new(0),
                    errors: AtomicU64::new(0),
                });
            }
        }
        Ok(Sender {
            queue: Mutex::new(VecDeque::new()),
            capacity: capacity.max(1),
            wake: tokio::sync::Notify::new(),
            targets,
            external_labels,
            alert_relabel_configs: config.alert_relabel_configs.clone(),
            dropped: AtomicU64::new(0),
        })
    }

    /// The URLs alerts are POSTed to (Prometheus's `/api/v1/alertmanagers`).
    pub fn alertmanager_urls(&self) -> Vec<String> {
        self.targets.iter().map(|t| t.url.clone()).collect()
    }

    /// Queues `alerts` (external labels added, `alert_relabel_configs` applied); when the
    /// queue is full the oldest queued alerts are dropped, as Prometheus does.
    pub fn send(&self, alerts: Vec<Alert>) {
        if self.targets.is_empty() {
            return;
        }
        let mut relabeled = Vec::with_capacity(alerts.len());
        for mut alert in alerts {
            for (k, v) in &self.external_labels {
                alert.labels.entry(k.clone()).or_insert_with(|| v.clone());
            }
            if !self.alert_relabel_configs.is_empty() {
                let Some(labels) = Labels::build_unchecked(alert.labels.iter())
                    .and_then(|l| process(&l, &self.alert_relabel_configs))
                else {
                    self.dropped.fetch_add(1, Ordering::Relaxed);
                    continue;
                };
                alert.labels = labels
                    .iter()
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .collect();
                if alert.labels.is_empty() {
                    self.dropped.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
            }
            relabeled.push(alert);
        }
        if relabeled.is_empty() {
            return;
        }
        let mut queue = self.queue.lock();
        queue.extend(relabeled);
        while queue.len() > self.capacity {
            queue.pop_front();
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
        drop(queue);
        self.wake.notify_one();
    }

    /// Delivers queued alerts until `shutdown` resolves; what is queued then is sent once
    /// more before returning (Prometheus drains its queue on stop too).
    pub async fn run(self: Arc<Self>, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                _ = self.wake.notified() => {}
            }
            self.drain().await;
        }
        self.drain().await;
    }

    /// Sends everything queued, a batch at a time.
    async fn drain(&self) {
        loop {
            let batch: Vec<Alert> = {
                let mut queue = self.queue.lock();
                let n = queue.len().min(MAX_BATCH);
                queue.drain(..n).collect()
            };
            if batch.is_empty() {
                return;
            }
            let body = postable_alerts_json(&batch);
            let sends = self.targets.iter().map(|t| {
                let body = body.clone();
                let n = batch.len() as u64;
                async move {
                    let ok = t
                        .client
                        .post(&t.url)
                        .headers(t.headers.clone())
                        .timeout(t.timeout)
                        .body(body)
                        .send()
                        .await
                        .map(|r| r.status().is_success())
                        .unwrap_or(false);
                    if ok {
                        t.sent.fetch_add(n, Ordering::Relaxed);
                    } else {
                        t.errors.fetch_add(n, Ordering::Relaxed);
                        tracing::warn!(url = %t.url, alerts = n, "sending alerts to Alertmanager failed");
                    }
                }
            });
            futures_join_all(sends).await;
        }
    }

    /// Counters for `/metrics`.
    pub fn stats(&self) -> SenderStats {
        SenderStats {
            queue_length: self.queue.lock().len(),
            queue_capacity: self.capacity,
            dropped: self.dropped.load(Ordering::Relaxed),
            per_alertmanager: self
                .targets
                .iter()
                .map(|t| {
                    (
                        t.url.clone(),
                        t.sent.load(Ordering::Relaxed),
                        t.errors.load(Ordering::Relaxed),
                    )
                })
                .collect(),
        }
    }
}

/// Runs the futures concurrently on this task and waits for all of them.
async fn futures_join_all<F: std::future::Future<Output = ()>>(futures: impl Iterator<Item = F>) {
    let mut set = Vec::new();
    for f in futures {
        set.push(Box::pin(f));
    }
    for f in set {
        f.await;
    }
}

/// The URLs of `am`'s Alertmanagers: each static target's labels (`__address__`,
/// `__scheme__`, `__alerts_path__` and the group's labels) relabeled with
/// `relabel_configs`, as Prometheus's `AlertmanagerFromGroup` does.
pub fn alertmanager_urls(am: &AlertmanagerConfig) -> Vec<String> {
    let path = format!("{}/api/v2/alerts", am.path_prefix.trim_end_matches('/'));
    let mut urls = Vec::new();
    for group in &am.static_configs {
        for address in &group.targets {
            let mut labels = group.labels.clone();
            labels.insert("__address__".into(), address.clone());
            labels.insert("__scheme__".into(), am.scheme.clone());
            labels.insert("__alerts_path__".into(), path.clone());
            let labels = match Labels::build_unchecked(labels.iter()) {
                Some(l) => l,
                None => continue,
            };
            let Some(labels) = process(&labels, &am.relabel_configs) else {
                continue;
            };
            let (Some(address), Some(scheme)) =
                (labels.get("__address__"), labels.get("__scheme__"))
            else {
                continue;
            };
            let path = labels.get("__alerts_path__").unwrap_or("/api/v2/alerts");
            urls.push(format!("{scheme}://{address}{path}"));
        }
    }
    urls
}

/// The body of `POST /api/v2/alerts`: Alertmanager's `postableAlerts`.
pub fn postable_alerts_json(alerts: &[Alert]) -> String {
    let list: Vec<serde_json::Value> = alerts
        .iter()
        .map(|a| {
            let mut o = serde_json::Map::new();
            o.insert("labels".into(), serde_json::json!(a.labels));
            o.insert("annotations".into(), serde_json::json!(a.annotations));
            o.insert("startsAt".into(), rfc3339(Some(a.starts_at_ms)).into());
            if let Some(end) = a.ends_at_ms {
                o.insert("endsAt".into(), rfc3339(Some(end)).into());
            }
            o.insert("generatorURL".into(), a.generator_url.clone().into());
            serde_json::Value::Object(o)
        })
        .collect();
    serde_json::Value::Array(list).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(yaml: &str) -> Result<AlertingConfig, String> {
        serde_saphyr::from_str(yaml).map_err(|e| e.to_string())
    }

    #[test]
    fn urls_follow_scheme_prefix_and_relabeling() {
        let c = config(
            "alertmanagers:\n  - scheme: https\n    path_prefix: /am/\n    static_configs:\n      - targets: ['a:9093', 'b:9093']\n    relabel_configs:\n      - source_labels: [__address__]\n        regex: 'b:.*'\n        action: drop\n",
        )
        .unwrap();
        assert_eq!(
            alertmanager_urls(&c.alertmanagers[0]),
            vec!["https://a:9093/am/api/v2/alerts".to_string()]
        );
    }

    #[test]
    fn unsupported_keys_are_refused_by_name() {
        let e = config("alertmanagers:\n  - file_sd_configs: [{files: [x.json]}]\n").unwrap_err();
        assert!(e.contains("file_sd_configs"), "{e}");
        let e = config("alertmanagers:\n  - api_version: v1\n").unwrap_err();
        assert!(e.contains("api_version v1"), "{e}");
    }

    #[test]
    fn external_labels_and_relabeling_apply_before_queueing() {
        let c = config(
            "alert_relabel_configs:\n  - source_labels: [severity]\n    regex: debug\n    action: drop\nalertmanagers:\n  - static_configs: [{targets: ['127.0.0.1:1']}]\n",
        )
        .unwrap();
        let ext = BTreeMap::from([("region".to_string(), "eu".to_string())]);
        let s = Sender::new(&c, ext, 2).unwrap();
        let alert = |name: &str, sev: &str| Alert {
            labels: BTreeMap::from([
                ("alertname".to_string(), name.to_string()),
                ("severity".to_string(), sev.to_string()),
            ]),
            annotations: BTreeMap::new(),
            starts_at_ms: 0,
            ends_at_ms: None,
            generator_url: String::new(),
            updated_at_ms: 0,
        };
        s.send(vec![
            alert("A", "page"),
            alert("B", "debug"),
            alert("C", "page"),
            alert("D", "page"),
        ]);
        let queue = s.queue.lock();
        // B relabeled away, A dropped as the oldest when D overflowed the capacity of 2
        let names: Vec<_> = queue
            .iter()
            .map(|a| a.labels["alertname"].clone())
            .collect();
        assert_eq!(names, ["C", "D"]);
        assert_eq!(queue[0].labels["region"], "eu");
        drop(queue);
        assert_eq!(s.stats().dropped, 2);
    }

    #[test]
    fn postable_alerts_omit_the_end_of_open_alerts() {
        let a = Alert {
            labels: BTreeMap::from([("alertname".to_string(), "X".to_string())]),
            annotations: BTreeMap::new(),
            starts_at_ms: 1_000,
            ends_at_ms: None,
            generator_url: "http://x/graph".into(),
            updated_at_ms: 0,
        };
        let v: serde_json::Value = serde_json::from_str(&postable_alerts_json(&[a])).unwrap();
        assert_eq!(v[0]["startsAt"], "1970-01-01T00:00:01Z");
        assert!(v[0].get("endsAt").is_none());
        assert_eq!(v[0]["labels"]["alertname"], "X");
    }
}
