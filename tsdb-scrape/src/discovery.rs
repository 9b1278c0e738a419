//! Target discovery for one job: the job's full list of target groups, kept current by
//! tokio tasks, as Prometheus 2.42's discovery manager hands them to its scrape manager.
//!
//! [`Discovery::spawn`] starts one task per provider of a [`ScrapeConfig`] (its
//! `static_configs` as one provider, each `file_sd_configs` and `http_sd_configs` entry
//! as one) and a task combining their lists. Consumers read the combined list through a
//! [`tokio::sync::watch`] channel: the first value is sent once every provider has made
//! its first attempt (so a consumer never sees a partial list at start), later values
//! only when the combined list changed. A watch channel keeps only the newest list, which
//! is all a consumer needs: each value is the whole state, not a delta.
//!
//! Each group carries its `source` as Prometheus names it (the key under which a later
//! update replaces it): the group's index for `static_configs`, `path:index` for
//! `file_sd`, `url:index` for `http_sd`. Groups that a provider no longer produces are
//! simply absent from the next list (Prometheus sends empty groups for them; an empty
//! group yields no targets, so the effect is the same).
//!
//! - `file_sd`: the patterns are expanded as Go's `filepath.Glob` with the `glob` crate
//!   (`*`, `?`, `[...]`, `*` not crossing `/`, leading dots matched). Every poll interval
//!   (1 s by default) the patterns are expanded again and each file's modification time,
//!   size and inode compared with the last read; a new or changed file is read again, and
//!   every file is read again each `refresh_interval` as Prometheus does. Polling rather
//!   than inotify (the `notify` crate): a few `stat` calls a second per job cost nothing,
//!   work on every platform and on network file systems where change events do not
//!   arrive, and need no directory watches kept in step with the globs. A file that fails
//!   to read or parse keeps the groups of its last good read (Prometheus's
//!   `prometheus_sd_file_read_errors_total` is [`DiscoveryStatus::file_read_errors`]); a
//!   file no longer matched drops its groups.
//! - `http_sd`: the URL is fetched at start and every `refresh_interval`, as Prometheus's
//!   `discovery/http`: `Accept: application/json`, `X-Prometheus-Refresh-Interval-Seconds`,
//!   status 200 and `Content-Type: application/json` (optionally `; charset=utf-8`)
//!   required, the body a JSON list of `{targets, labels}` (unknown keys and `null` groups
//!   refused), `__meta_url` added. A failure keeps the last good list and counts in
//!   [`DiscoveryStatus::http_failures`] (`prometheus_sd_http_failures_total`). Unlike
//!   Prometheus, which waits on a hung server until shutdown, a fetch times out after the
//!   refresh interval, and a body over [`HTTP_SD_BODY_LIMIT`] fails.
//!
//! Errors are logged with `tracing` and the last one per file or URL is kept in
//! [`DiscoveryStatus::errors`] until that file or URL is read successfully again.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use parking_lot::Mutex;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::config::{FileSdConfig, HttpSdConfig, ScrapeConfig, TargetGroup};
use crate::file_sd::parse_file_sd;

/// The label holding the URL a target group came from (`http_sd`).
pub const URL_LABEL: &str = "__meta_url";

/// The largest `http_sd` response body read (Prometheus has no limit; a body this large
/// is a misconfigured endpoint, not a target list).
pub const HTTP_SD_BODY_LIMIT: usize = 64 << 20;

/// The shortest interval used for polling, refreshing and http_sd timeouts: a zero
/// `refresh_interval` (which Prometheus's config accepts, and on which Go's ticker
/// panics) would otherwise spin.
pub const MIN_INTERVAL: Duration = Duration::from_millis(10);

/// How often `file_sd` files are checked for changes by default.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(1);

/// A target group and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourcedGroup {
    /// Prometheus's `Source` of the group: `"0"`, `"/etc/sd/a.json:0"`,
    /// `"http://sd:8080/targets:2"`.
    pub source: String,
    /// The targets and labels (with the provider's `__meta_*` labels).
    pub group: TargetGroup,
}

/// Settings of [`Discovery::spawn`] that are not in the scrape config.
#[derive(Debug, Clone)]
pub struct DiscoveryOptions {
    /// How often `file_sd` files are checked for changes between full refreshes.
    pub poll_interval: Duration,
    /// The client `http_sd` fetches with; `None` builds one (rustls with the ring
    /// provider, the system's trust roots).
    pub http_client: Option<reqwest::Client>,
}

impl Default for DiscoveryOptions {
    fn default() -> Self {
        DiscoveryOptions {
            poll_interval: DEFAULT_POLL_INTERVAL,
            http_client: None,
        }
    }
}

/// Why discovery could not start.
#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    /// Not called on a tokio runtime.
    #[error("discovery needs a tokio runtime: {0}")]
    NoRuntime(String),
    /// The `http_sd` client could not be built.
    #[error("http_sd client: {0}")]
    HttpClient(String),
}

/// Errors seen by a job's discovery, for the server's metrics and target pages.
#[derive(Debug, Default)]
pub struct DiscoveryStatus {
    file_read_errors: AtomicU64,
    http_failures: AtomicU64,
    errors: Mutex<BTreeMap<String, String>>,
}

impl DiscoveryStatus {
    /// Files that failed to read or parse, counted per attempt
    /// (`prometheus_sd_file_read_errors_total`).
    pub fn file_read_errors(&self) -> u64 {
        self.file_read_errors.load(Ordering::Relaxed)
    }

    /// Failed `http_sd` fetches (`prometheus_sd_http_failures_total`).
    pub fn http_failures(&self) -> u64 {
        self.http_failures.load(Ordering::Relaxed)
    }

    /// The last error per file path or URL, for those whose last attempt failed.
    pub fn errors(&self) -> BTreeMap<String, String> {
        self.errors.lock().clone()
    }

    fn record_error(&self, key: &str, message: String) {
        self.errors.lock().insert(key.to_string(), message);
    }

    fn clear_error(&self, key: &str) {
        self.errors.lock().remove(key);
    }
}

/// A job's running discovery. Dropping it stops its tasks.
#[derive(Debug)]
pub struct Discovery {
    receiver: watch::Receiver<Vec<SourcedGroup>>,
    status: Arc<DiscoveryStatus>,
    tasks: Vec<JoinHandle<()>>,
}

impl Discovery {
    /// Starts discovering the targets of `config`'s job on the current tokio runtime.
    /// Wait for the first list with
    /// `receiver.changed().await`; it comes once every provider made its first attempt.
    pub fn spawn(
        config: &ScrapeConfig,
        options: &DiscoveryOptions,
    ) -> Result<Self, DiscoveryError> {
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|e| DiscoveryError::NoRuntime(e.to_string()))?;
        let client = if config.http_sd_configs.is_empty() {
            None
        } else {
            Some(match &options.http_client {
                Some(client) => client.clone(),
                None => default_http_client()?,
            })
        };
        let status = Arc::new(DiscoveryStatus::default());
        let providers = usize::from(!config.static_configs.is_empty())
            + config.file_sd_configs.len()
            + config.http_sd_configs.len();
        let (updates, updates_rx) = mpsc::channel(providers.max(1));
        let (sender, receiver) = watch::channel(Vec::new());
        let mut tasks = Vec::new();
        let mut index = 0;
        if !config.static_configs.is_empty() {
            let groups = config
                .static_configs
                .iter()
                .enumerate()
                .map(|(i, group)| SourcedGroup {
                    source: i.to_string(),
                    group: group.clone(),
                })
                .collect();
            // The channel has room for one message per provider.
            let _ = updates.try_send((index, groups));
            index += 1;
        }
        for sd in &config.file_sd_configs {
            tasks.push(runtime.spawn(run_file_sd(
                index,
                sd.clone(),
                options.poll_interval,
                updates.clone(),
                status.clone(),
            )));
            index += 1;
        }
        if let Some(client) = client {
            for sd in &config.http_sd_configs {
                tasks.push(runtime.spawn(run_http_sd(
                    index,
                    sd.clone(),
                    client.clone(),
                    updates.clone(),
                    status.clone(),
                )));
                index += 1;
            }
        }
        drop(updates);
        tasks.push(runtime.spawn(combine(providers, updates_rx, sender)));
        Ok(Discovery {
            receiver,
            status,
            tasks,
        })
    }

    /// A receiver of the job's target groups (each clone sees every later change).
    pub fn subscribe(&self) -> watch::Receiver<Vec<SourcedGroup>> {
        self.receiver.clone()
    }

    /// The errors seen so far.
    pub fn status(&self) -> &Arc<DiscoveryStatus> {
        &self.status
    }
}

impl Drop for Discovery {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// A client as Prometheus's default for `http_sd`: rustls (ring) with the system's
/// trust roots.
pub fn default_http_client() -> Result<reqwest::Client, DiscoveryError> {
    // the scrapes' TLS set-up with no `tls_config`: the system's roots, the ring provider
    let tls = crate::fetch::tls_client_config(&crate::config::TlsConfig::default())
        .map_err(|e| DiscoveryError::HttpClient(e.to_string()))?;
    reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .user_agent(concat!("tsdb-scrape/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| DiscoveryError::HttpClient(e.to_string()))
}

/// Keeps each provider's latest list and publishes their concatenation (in provider
/// order) once all have reported, then whenever it changes.
async fn combine(
    providers: usize,
    mut updates: mpsc::Receiver<(usize, Vec<SourcedGroup>)>,
    sender: watch::Sender<Vec<SourcedGroup>>,
) {
    let mut lists: Vec<Option<Vec<SourcedGroup>>> = vec![None; providers];
    let mut published = false;
    if providers == 0 {
        sender.send_replace(Vec::new());
    }
    while let Some((index, groups)) = updates.recv().await {
        let Some(slot) = lists.get_mut(index) else {
            continue;
        };
        *slot = Some(groups);
        if lists.iter().any(Option::is_none) {
            continue;
        }
        let all: Vec<SourcedGroup> = lists.iter().flatten().flatten().cloned().collect();
        if !published {
            published = true;
            sender.send_replace(all);
        } else {
            sender.send_if_modified(|current| {
                if *current == all {
                    false
                } else {
                    *current = all;
                    true
                }
            });
        }
    }
    // Every provider is done (static groups only, or none): the list stays as it is.
    // The sender stays open until the Discovery is dropped, so that receivers tell "no
    // change" from "stopped".
    sender.closed().await;
}

// ---------------------------------------------------------------------------------------
// file_sd

/// What identifies a file's content without reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
    inode: u64,
}

impl Stamp {
    fn of(path: &Path) -> Option<Stamp> {
        let meta = std::fs::metadata(path).ok()?;
        #[cfg(unix)]
        let inode = std::os::unix::fs::MetadataExt::ino(&meta);
        #[cfg(not(unix))]
        let inode = 0;
        Some(Stamp {
            modified: meta.modified().ok(),
            len: meta.len(),
            inode,
        })
    }
}

/// A Go `filepath.Match` pattern in the `glob` crate's syntax: `[^...]` negation becomes
/// `[!...]`, a `\`-escaped character outside a class becomes a one-character class (or
/// itself when not special), and `**` (two stars in Go, which the crate would read as a
/// recursive wildcard) one `*`. Go's escapes inside a class and a class opening with a
/// literal `!` are not translated.
fn go_glob_to_glob(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len());
    let mut chars = pattern.chars().peekable();
    let mut in_class = false;
    while let Some(c) = chars.next() {
        match c {
            '[' if !in_class => {
                in_class = true;
                out.push('[');
                if chars.peek() == Some(&'^') {
                    chars.next();
                    out.push('!');
                }
            }
            ']' if in_class => {
                in_class = false;
                out.push(']');
            }
            '\\' if !in_class => match chars.next() {
                Some(e @ ('*' | '?' | '[' | ']')) => {
                    out.push('[');
                    out.push(e);
                    out.push(']');
                }
                Some(e) => out.push(e),
                None => out.push('\\'),
            },
            '*' if !in_class => {
                out.push('*');
                while chars.peek() == Some(&'*') {
                    chars.next();
                }
            }
            c => out.push(c),
        }
    }
    out
}

/// One file's last read: its stamp and its last good groups.
#[derive(Debug)]
struct FileState {
    stamp: Option<Stamp>,
    groups: Vec<SourcedGroup>,
}

/// One `file_sd_configs` entry's files.
#[derive(Debug)]
struct FileSd {
    config: FileSdConfig,
    files: BTreeMap<String, FileState>,
    status: Arc<DiscoveryStatus>,
}

impl FileSd {
    /// The files the patterns match now, as Go's `filepath.Glob` names them.
    fn list_files(&self) -> Vec<String> {
        let options = glob::MatchOptions {
            case_sensitive: true,
            require_literal_separator: true,
            require_literal_leading_dot: false,
        };
        let mut out = Vec::new();
        for pattern in &self.config.files {
            match glob::glob_with(&go_glob_to_glob(pattern), options) {
                Ok(paths) => {
                    // Unreadable directories are skipped, as filepath.Glob ignores I/O
                    // errors; non-UTF-8 paths cannot be label values.
                    out.extend(
                        paths
                            .flatten()
                            .filter_map(|p| p.to_str().map(str::to_string)),
                    );
                }
                Err(error) => {
                    tracing::error!(%pattern, %error, "file_sd: bad glob pattern");
                }
            }
        }
        out.sort();
        out.dedup();
        out
    }

    /// Re-reads new and changed files (every file if `full`), forgets files no longer
    /// matched. Returns whether any file's groups changed.
    fn scan(&mut self, full: bool) -> bool {
        let paths = self.list_files();
        let mut changed = false;
        let before = self.files.len();
        self.files
            .retain(|path, _| paths.binary_search(path).is_ok());
        if self.files.len() != before {
            changed = true;
        }
        for path in paths {
            let stamp = Stamp::of(Path::new(&path));
            let known = self.files.get(&path);
            if !full && known.is_some_and(|f| f.stamp == stamp) {
                continue;
            }
            let read = std::fs::read(&path)
                .map_err(|e| format!("{path}: {e}"))
                .and_then(|bytes| parse_file_sd(&path, &bytes).map_err(|e| e.to_string()));
            match read {
                Ok(groups) => {
                    self.status.clear_error(&path);
                    let groups: Vec<SourcedGroup> = groups
                        .into_iter()
                        .enumerate()
                        .map(|(i, group)| SourcedGroup {
                            source: format!("{path}:{i}"),
                            group,
                        })
                        .collect();
                    let state = self.files.entry(path).or_insert(FileState {
                        stamp: None,
                        groups: Vec::new(),
                    });
                    state.stamp = stamp;
                    if state.groups != groups {
                        state.groups = groups;
                        changed = true;
                    }
                }
                Err(error) => {
                    // Prometheus keeps the last good groups of the file; the stamp is
                    // kept so that the file is read again when it changes or at the
                    // next refresh, not every poll.
                    self.status.file_read_errors.fetch_add(1, Ordering::Relaxed);
                    tracing::error!(%path, %error, "file_sd: error reading file");
                    self.status.record_error(&path, error);
                    let state = self.files.entry(path).or_insert(FileState {
                        stamp: None,
                        groups: Vec::new(),
                    });
                    state.stamp = stamp;
                }
            }
        }
        changed
    }

    fn groups(&self) -> Vec<SourcedGroup> {
        self.files
            .values()
            .flat_map(|f| f.groups.iter().cloned())
            .collect()
    }
}

async fn run_file_sd(
    index: usize,
    config: FileSdConfig,
    poll: Duration,
    updates: mpsc::Sender<(usize, Vec<SourcedGroup>)>,
    status: Arc<DiscoveryStatus>,
) {
    let refresh = config.refresh_interval.max(MIN_INTERVAL);
    let poll = poll.max(MIN_INTERVAL);
    let mut sd = FileSd {
        config,
        files: BTreeMap::new(),
        status,
    };
    let mut last_full: Option<Instant> = None;
    let mut reported = false;
    loop {
        let now = Instant::now();
        let full = last_full.is_none_or(|t| now.duration_since(t) >= refresh);
        if full {
            last_full = Some(now);
        }
        // Globbing, stat and reading are blocking file system calls.
        let Ok((back, changed)) = tokio::task::spawn_blocking(move || {
            let changed = sd.scan(full);
            (sd, changed)
        })
        .await
        else {
            return;
        };
        sd = back;
        // The first pass reports even when no file matched, so the job is not held back.
        if changed || !reported {
            reported = true;
            if updates.send((index, sd.groups())).await.is_err() {
                return;
            }
        }
        tokio::time::sleep(poll.min(refresh)).await;
    }
}

// ---------------------------------------------------------------------------------------
// http_sd

/// Prometheus's `matchContentType`: `^(?i:application\/json(;\s*charset=("utf-8"|utf-8))?)$`.
fn is_json_content_type(value: &str) -> bool {
    let value = value.trim().to_ascii_lowercase();
    let Some(rest) = value.strip_prefix("application/json") else {
        return false;
    };
    if rest.is_empty() {
        return true;
    }
    let Some(rest) = rest.strip_prefix(';') else {
        return false;
    };
    matches!(
        rest.trim_start_matches(char::is_whitespace),
        "charset=utf-8" | "charset=\"utf-8\""
    )
}

/// Why an `http_sd` fetch failed (Prometheus's wording where it has one).
#[derive(Debug, thiserror::Error)]
enum HttpSdError {
    #[error("{0}")]
    Request(String),
    #[error("server returned HTTP status {0}")]
    Status(String),
    #[error("unsupported content type {0:?}")]
    ContentType(String),
    #[error("response body larger than {HTTP_SD_BODY_LIMIT} bytes")]
    TooLarge,
    #[error("{0}")]
    Json(String),
    #[error("nil target group item found")]
    NullGroup,
}

/// The groups of an `http_sd` response body.
pub fn parse_http_sd(url: &str, body: &[u8]) -> Result<Vec<SourcedGroup>, String> {
    parse_http_sd_body(url, body).map_err(|e| e.to_string())
}

fn parse_http_sd_body(url: &str, body: &[u8]) -> Result<Vec<SourcedGroup>, HttpSdError> {
    let groups: Option<Vec<Option<TargetGroup>>> =
        serde_json::from_slice(body).map_err(|e| HttpSdError::Json(e.to_string()))?;
    let mut out = Vec::new();
    for (i, group) in groups.unwrap_or_default().into_iter().enumerate() {
        let mut group = group.ok_or(HttpSdError::NullGroup)?;
        group.labels.insert(URL_LABEL.to_string(), url.to_string());
        out.push(SourcedGroup {
            source: format!("{url}:{i}"),
            group,
        });
    }
    Ok(out)
}

async fn fetch_http_sd(
    client: &reqwest::Client,
    config: &HttpSdConfig,
) -> Result<Vec<SourcedGroup>, HttpSdError> {
    let mut response = client
        .get(&config.url)
        .header(reqwest::header::ACCEPT, "application/json")
        .header(
            "X-Prometheus-Refresh-Interval-Seconds",
            config.refresh_interval.as_secs_f64().to_string(),
        )
        .timeout(config.refresh_interval)
        .send()
        .await
        .map_err(|e| HttpSdError::Request(e.to_string()))?;
    let status = response.status();
    if status != reqwest::StatusCode::OK {
        return Err(HttpSdError::Status(status.to_string()));
    }
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .unwrap_or_default();
    if !is_json_content_type(&content_type) {
        return Err(HttpSdError::ContentType(content_type));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| HttpSdError::Request(e.to_string()))?
    {
        if body.len() + chunk.len() > HTTP_SD_BODY_LIMIT {
            return Err(HttpSdError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    parse_http_sd_body(&config.url, &body)
}

async fn run_http_sd(
    index: usize,
    config: HttpSdConfig,
    client: reqwest::Client,
    updates: mpsc::Sender<(usize, Vec<SourcedGroup>)>,
    status: Arc<DiscoveryStatus>,
) {
    let mut last: Option<Vec<SourcedGroup>> = None;
    let mut config = config;
    config.refresh_interval = config.refresh_interval.max(MIN_INTERVAL);
    let mut ticker = tokio::time::interval(config.refresh_interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let send = match fetch_http_sd(&client, &config).await {
            Ok(groups) => {
                status.clear_error(&config.url);
                let changed = last.as_ref() != Some(&groups);
                last = Some(groups);
                changed
            }
            Err(error) => {
                status.http_failures.fetch_add(1, Ordering::Relaxed);
                tracing::error!(url = %config.url, %error, "http_sd: unable to refresh target groups");
                status.record_error(&config.url, error.to_string());
                // The first attempt reports an empty list so the job is not held back.
                if last.is_none() {
                    last = Some(Vec::new());
                    true
                } else {
                    false
                }
            }
        };
        if send {
            let groups = last.clone().unwrap_or_default();
            if updates.send((index, groups)).await.is_err() {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_globs_in_the_crate_syntax() {
        for (go, ours) in [
            ("/etc/sd/*.json", "/etc/sd/*.json"),
            ("/etc/sd/[^b]*.json", "/etc/sd/[!b]*.json"),
            ("/etc/sd/[a-c]?.yml", "/etc/sd/[a-c]?.yml"),
            ("/etc/sd/a\\*b.json", "/etc/sd/a[*]b.json"),
            ("/etc/sd/a\\x.json", "/etc/sd/ax.json"),
            ("/etc/sd/a**.json", "/etc/sd/a*.json"),
        ] {
            assert_eq!(go_glob_to_glob(go), ours, "{go}");
        }
    }

    #[test]
    fn content_types_as_prometheus() {
        for ok in [
            "application/json",
            "Application/JSON",
            " application/json ",
            "application/json; charset=utf-8",
            "application/json;charset=\"utf-8\"",
            "application/json;  charset=UTF-8",
        ] {
            assert!(is_json_content_type(ok), "{ok}");
        }
        for bad in [
            "",
            "text/plain",
            "application/jsonx",
            "application/json; charset=latin1",
            "application/json;",
            "application/json charset=utf-8",
        ] {
            assert!(!is_json_content_type(bad), "{bad}");
        }
    }

    #[test]
    fn http_sd_body() {
        let url = "http://sd:1/t";
        let groups = parse_http_sd(
            url,
            br#"[{"targets":["a:1"],"labels":{"x":"y"}},{"targets":["b:2"]}]"#,
        )
        .unwrap();
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0].source, "http://sd:1/t:0");
        assert_eq!(groups[1].source, "http://sd:1/t:1");
        assert_eq!(
            groups[1].group.labels.get(URL_LABEL).map(String::as_str),
            Some(url)
        );
        assert_eq!(
            groups[0].group.labels.get("x").map(String::as_str),
            Some("y")
        );
        assert!(parse_http_sd(url, b"null").unwrap().is_empty());
        assert_eq!(
            parse_http_sd(url, b"[null]").unwrap_err(),
            "nil target group item found"
        );
        assert!(parse_http_sd(url, br#"[{"targets":[],"bogus":1}]"#).is_err());
        assert!(parse_http_sd(url, b"{").is_err());
    }
}
