//! Discovery end to end: static groups, file_sd files in a temporary directory changed
//! under a running discovery, http_sd against an endpoint inside the test. Every wait is
//! bounded (a few seconds at most); intervals are tens of milliseconds.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use parking_lot::Mutex;
use tokio::sync::watch;
use tsdb_scrape::{Discovery, DiscoveryOptions, ScrapeConfig, SourcedGroup};

const WAIT: Duration = Duration::from_secs(5);

fn cfg(yaml: &str) -> ScrapeConfig {
    match serde_saphyr::from_str::<ScrapeConfig>(yaml) {
        Ok(c) => c,
        Err(e) => panic!("{e}\n{yaml}"),
    }
}

fn options() -> DiscoveryOptions {
    DiscoveryOptions {
        poll_interval: Duration::from_millis(20),
        http_client: None,
    }
}

/// The next published list.
async fn next(rx: &mut watch::Receiver<Vec<SourcedGroup>>) -> Vec<SourcedGroup> {
    match tokio::time::timeout(WAIT, rx.changed()).await {
        Ok(Ok(())) => rx.borrow_and_update().clone(),
        Ok(Err(_)) => panic!("discovery stopped"),
        Err(_) => panic!("no update within {WAIT:?}"),
    }
}

/// Waits for a published list satisfying `pred`.
async fn until(
    rx: &mut watch::Receiver<Vec<SourcedGroup>>,
    what: &str,
    pred: impl Fn(&[SourcedGroup]) -> bool,
) -> Vec<SourcedGroup> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        {
            let current = rx.borrow_and_update();
            if pred(&current) {
                return current.clone();
            }
        }
        match tokio::time::timeout_at(deadline, rx.changed()).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => panic!("discovery stopped waiting for {what}"),
            Err(_) => panic!("timed out waiting for {what}: {:?}", *rx.borrow()),
        }
    }
}

/// Waits until `cond` holds (polled every 10 ms).
async fn eventually(what: &str, cond: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !cond() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// (source, targets) pairs, for comparisons.
fn summary(groups: &[SourcedGroup]) -> Vec<(String, Vec<String>)> {
    groups
        .iter()
        .map(|g| (g.source.clone(), g.group.targets.clone()))
        .collect()
}

fn targets(groups: &[SourcedGroup]) -> Vec<String> {
    let mut all: Vec<String> = groups
        .iter()
        .flat_map(|g| g.group.targets.iter().cloned())
        .collect();
    all.sort();
    all
}

/// Writes a file whole (through a rename, as config management tools do).
fn write(path: &Path, content: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, content).unwrap_or_else(|e| panic!("{tmp:?}: {e}"));
    std::fs::rename(&tmp, path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
}

#[tokio::test]
async fn static_configs_once_with_index_sources() {
    let config = cfg("
job_name: j
static_configs:
  - targets: ['a:1', 'b:2']
    labels: {env: prod}
  - targets: ['c:3']
");
    let discovery = Discovery::spawn(&config, &options()).unwrap();
    let mut rx = discovery.subscribe();
    let groups = next(&mut rx).await;
    assert_eq!(
        summary(&groups),
        vec![
            ("0".to_string(), vec!["a:1".to_string(), "b:2".to_string()]),
            ("1".to_string(), vec!["c:3".to_string()]),
        ]
    );
    assert_eq!(
        groups[0].group.labels.get("env").map(String::as_str),
        Some("prod")
    );
    // Nothing more comes.
    assert!(
        tokio::time::timeout(Duration::from_millis(200), rx.changed())
            .await
            .is_err()
    );
}

#[tokio::test]
async fn a_job_without_targets_gets_an_empty_list() {
    let discovery = Discovery::spawn(&cfg("job_name: j"), &options()).unwrap();
    let mut rx = discovery.subscribe();
    assert!(next(&mut rx).await.is_empty());
}

#[tokio::test]
async fn file_sd_follows_its_files() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let a = format!("{d}/a.json");
    let b = format!("{d}/b.yml");
    write(
        Path::new(&a),
        r#"[{"targets": ["a:1"], "labels": {"x": "1"}}]"#,
    );
    write(
        Path::new(&b),
        "- targets: ['b:1']\n- targets: ['b:2', 'b:3']\n",
    );
    // refresh_interval of an hour: every change below is seen by the change check.
    let config = cfg(&format!(
        "
job_name: j
file_sd_configs:
  - files: ['{d}/*.json', '{d}/*.yml']
    refresh_interval: 1h
"
    ));
    let discovery = Discovery::spawn(&config, &options()).unwrap();
    let status = discovery.status().clone();
    let mut rx = discovery.subscribe();

    // Initial read: both files, sources path:index, __meta_filepath.
    let groups = next(&mut rx).await;
    assert_eq!(
        summary(&groups),
        vec![
            (format!("{a}:0"), vec!["a:1".to_string()]),
            (format!("{b}:0"), vec!["b:1".to_string()]),
            (format!("{b}:1"), vec!["b:2".to_string(), "b:3".to_string()]),
        ]
    );
    assert_eq!(
        groups[0].group.labels.get("__meta_filepath"),
        Some(&a),
        "{groups:?}"
    );
    assert_eq!(
        groups[0].group.labels.get("x").map(String::as_str),
        Some("1")
    );
    assert_eq!(status.file_read_errors(), 0);

    // A file changed: picked up without restart.
    write(Path::new(&a), r#"[{"targets": ["a:1", "a:2"]}]"#);
    until(&mut rx, "a.json changed", |g| {
        targets(g) == ["a:1", "a:2", "b:1", "b:2", "b:3"]
    })
    .await;

    // A new file matching the glob.
    let c = format!("{d}/c.json");
    write(Path::new(&c), r#"[{"targets": ["c:1"]}]"#);
    let groups = until(&mut rx, "c.json added", |g| {
        targets(g).contains(&"c:1".into())
    })
    .await;
    assert!(groups.iter().any(|g| g.source == format!("{c}:0")));
    // A file matching no pattern is not read.
    write(Path::new(&format!("{d}/ignored.txt")), "not a target list");

    // A file made invalid: its previous groups are kept, the error is counted and kept.
    let before = rx.borrow().clone();
    write(Path::new(&a), r#"[{"targets": ["a:9"], "bogus": 1}]"#);
    eventually("the read error counted", || status.file_read_errors() >= 1).await;
    assert!(status.errors().contains_key(&a), "{:?}", status.errors());
    // Several polls later, the error is counted once (the file did not change again)
    // and nothing was published.
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(status.file_read_errors(), 1);
    assert!(!rx.has_changed().unwrap());
    assert_eq!(*rx.borrow(), before);

    // A file deleted: its groups go.
    std::fs::remove_file(&b).unwrap();
    let groups = until(&mut rx, "b.yml removed", |g| {
        !g.iter().any(|g| g.source.starts_with(&b))
    })
    .await;
    assert_eq!(targets(&groups), ["a:1", "a:2", "c:1"]);

    // The invalid file fixed: read again, the error cleared.
    write(Path::new(&a), "[]");
    until(&mut rx, "a.json emptied", |g| targets(g) == ["c:1"]).await;
    assert!(status.errors().is_empty(), "{:?}", status.errors());
}

#[tokio::test]
async fn file_sd_rereads_every_refresh_interval() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let a = format!("{d}/a.json");
    write(Path::new(&a), r#"[{"targets": ["a:1"]}]"#);
    let config = cfg(&format!(
        "
job_name: j
file_sd_configs:
  - files: ['{a}']
    refresh_interval: 100ms
"
    ));
    // The change check is off (an hour between checks): only the refresh sees changes.
    let options = DiscoveryOptions {
        poll_interval: Duration::from_secs(3600),
        http_client: None,
    };
    let discovery = Discovery::spawn(&config, &options).unwrap();
    let mut rx = discovery.subscribe();
    assert_eq!(targets(&next(&mut rx).await), ["a:1"]);
    write(Path::new(&a), r#"[{"targets": ["a:2"]}]"#);
    until(&mut rx, "the refresh", |g| targets(g) == ["a:2"]).await;
}

#[tokio::test]
async fn file_sd_bad_first_read_and_missing_files() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let bad = format!("{d}/bad.yaml");
    write(Path::new(&bad), "- targets: [unclosed\n");
    let config = cfg(&format!(
        "
job_name: j
file_sd_configs:
  - files: ['{d}/missing/*.json', '{bad}']
    refresh_interval: 1h
"
    ));
    let discovery = Discovery::spawn(&config, &options()).unwrap();
    let mut rx = discovery.subscribe();
    // The job is not held back: an empty list comes, the error is recorded.
    assert!(next(&mut rx).await.is_empty());
    assert_eq!(discovery.status().file_read_errors(), 1);
    assert!(discovery.status().errors()[&bad].contains(&bad));
    write(Path::new(&bad), "- targets: ['x:1']\n");
    until(&mut rx, "bad.yaml fixed", |g| targets(g) == ["x:1"]).await;
}

/// What the test's http_sd endpoint answers.
#[derive(Clone)]
struct Reply {
    status: StatusCode,
    content_type: &'static str,
    body: String,
}

/// A request's `Accept` and `X-Prometheus-Refresh-Interval-Seconds`.
type RequestHeaders = (Option<String>, Option<String>);

struct Endpoint {
    url: String,
    reply: Arc<Mutex<Reply>>,
    requests: Arc<Mutex<Vec<RequestHeaders>>>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl Endpoint {
    fn set(&self, status: StatusCode, content_type: &'static str, body: &str) {
        *self.reply.lock() = Reply {
            status,
            content_type,
            body: body.to_string(),
        };
    }
}

async fn endpoint(body: &str) -> Endpoint {
    let reply = Arc::new(Mutex::new(Reply {
        status: StatusCode::OK,
        content_type: "application/json",
        body: body.to_string(),
    }));
    let requests = Arc::new(Mutex::new(Vec::new()));
    let (r, q) = (reply.clone(), requests.clone());
    let app = axum::Router::new().route(
        "/sd",
        axum::routing::get(move |headers: axum::http::HeaderMap| {
            let reply = r.lock().clone();
            let header_text = |name: &str| {
                headers
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string)
            };
            q.lock().push((
                header_text("accept"),
                header_text("x-prometheus-refresh-interval-seconds"),
            ));
            async move {
                (
                    reply.status,
                    [(header::CONTENT_TYPE, reply.content_type)],
                    reply.body,
                )
                    .into_response()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("bind: {e}"));
    let addr = listener
        .local_addr()
        .unwrap_or_else(|e| panic!("local_addr: {e}"));
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Endpoint {
        url: format!("http://{addr}/sd"),
        reply,
        requests,
        server,
    }
}

fn http_job(url: &str) -> ScrapeConfig {
    cfg(&format!(
        "
job_name: j
http_sd_configs:
  - url: '{url}'
    refresh_interval: 50ms
"
    ))
}

#[tokio::test]
async fn http_sd_follows_the_endpoint_and_keeps_the_last_good_list() {
    let ep =
        endpoint(r#"[{"targets": ["a:1"], "labels": {"x": "1"}}, {"targets": ["b:1"]}]"#).await;
    let discovery = Discovery::spawn(&http_job(&ep.url), &options()).unwrap();
    let status = discovery.status().clone();
    let mut rx = discovery.subscribe();

    // Initial list: sources url:index, __meta_url, the request's headers.
    let groups = next(&mut rx).await;
    assert_eq!(
        summary(&groups),
        vec![
            (format!("{}:0", ep.url), vec!["a:1".to_string()]),
            (format!("{}:1", ep.url), vec!["b:1".to_string()]),
        ]
    );
    assert_eq!(groups[1].group.labels.get("__meta_url"), Some(&ep.url));
    assert_eq!(
        groups[0].group.labels.get("x").map(String::as_str),
        Some("1")
    );
    assert_eq!(
        ep.requests.lock()[0],
        (
            Some("application/json".to_string()),
            Some("0.05".to_string())
        )
    );

    // A change.
    ep.set(
        StatusCode::OK,
        "application/json; charset=utf-8",
        r#"[{"targets": ["a:1", "a:2"]}]"#,
    );
    until(&mut rx, "the change", |g| targets(g) == ["a:1", "a:2"]).await;
    let good = rx.borrow().clone();

    // A 500, a wrong content type, bad JSON, a null group: each counted, the list kept.
    let failures = [
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            "application/json",
            "[]",
            "500",
        ),
        (
            StatusCode::OK,
            "text/plain",
            "[]",
            "unsupported content type",
        ),
        (StatusCode::OK, "application/json", "[{", "EOF"),
        (
            StatusCode::OK,
            "application/json",
            "[null]",
            "nil target group",
        ),
    ];
    for (code, content_type, body, message) in failures {
        let before = status.http_failures();
        ep.set(code, content_type, body);
        eventually(message, || {
            status.http_failures() > before
                && status
                    .errors()
                    .get(&ep.url)
                    .is_some_and(|e| e.contains(message))
        })
        .await;
        assert!(!rx.has_changed().unwrap(), "{message}");
        assert_eq!(*rx.borrow(), good, "{message}");
    }

    // Back to good: the new list comes and the error is cleared.
    ep.set(
        StatusCode::OK,
        "application/json",
        r#"[{"targets": ["c:1"]}]"#,
    );
    until(&mut rx, "recovery", |g| targets(g) == ["c:1"]).await;
    assert!(status.errors().is_empty());
}

#[tokio::test]
async fn http_sd_failing_at_start_publishes_an_empty_list() {
    let ep = endpoint("").await;
    ep.set(StatusCode::SERVICE_UNAVAILABLE, "text/plain", "down");
    let discovery = Discovery::spawn(&http_job(&ep.url), &options()).unwrap();
    let mut rx = discovery.subscribe();
    assert!(next(&mut rx).await.is_empty());
    assert!(discovery.status().http_failures() >= 1);
    ep.set(
        StatusCode::OK,
        "application/json",
        r#"[{"targets": ["a:1"]}]"#,
    );
    until(&mut rx, "the endpoint up", |g| targets(g) == ["a:1"]).await;
}

#[tokio::test]
async fn providers_combined_in_config_order() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let f = format!("{d}/f.json");
    write(Path::new(&f), r#"[{"targets": ["f:1"]}]"#);
    let ep = endpoint(r#"[{"targets": ["h:1"]}]"#).await;
    let config = cfg(&format!(
        "
job_name: j
static_configs:
  - targets: ['s:1']
file_sd_configs:
  - files: ['{f}']
http_sd_configs:
  - url: '{}'
",
        ep.url
    ));
    let discovery = Discovery::spawn(&config, &options()).unwrap();
    let mut rx = discovery.subscribe();
    // The first list is complete: every provider has reported.
    let groups = next(&mut rx).await;
    assert_eq!(
        summary(&groups),
        vec![
            ("0".to_string(), vec!["s:1".to_string()]),
            (format!("{f}:0"), vec!["f:1".to_string()]),
            (format!("{}:0", ep.url), vec!["h:1".to_string()]),
        ]
    );
    // Dropping the discovery stops it: the receiver sees the sender gone.
    drop(discovery);
    let closed = tokio::time::timeout(WAIT, async { while rx.changed().await.is_ok() {} }).await;
    assert!(closed.is_ok());
}

#[test]
fn spawn_outside_a_runtime_is_an_error() {
    let err = Discovery::spawn(&cfg("job_name: j"), &options()).unwrap_err();
    assert!(err.to_string().contains("tokio runtime"), "{err}");
}

#[tokio::test]
async fn zero_intervals_do_not_spin_or_panic() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let f = format!("{d}/f.json");
    write(Path::new(&f), r#"[{"targets": ["f:1"]}]"#);
    let ep = endpoint(r#"[{"targets": ["h:1"]}]"#).await;
    let config = cfg(&format!(
        "
job_name: j
file_sd_configs:
  - files: ['{f}']
    refresh_interval: 0s
http_sd_configs:
  - url: '{}'
    refresh_interval: 0s
",
        ep.url
    ));
    let options = DiscoveryOptions {
        poll_interval: Duration::ZERO,
        http_client: None,
    };
    let discovery = Discovery::spawn(&config, &options).unwrap();
    let mut rx = discovery.subscribe();
    assert_eq!(targets(&next(&mut rx).await), ["f:1", "h:1"]);
    write(Path::new(&f), r#"[{"targets": ["f:2"]}]"#);
    until(&mut rx, "the change", |g| targets(g) == ["f:2", "h:1"]).await;
    // Clamped to MIN_INTERVAL: in 200 ms, at most about 20 requests, not thousands.
    let before = ep.requests.lock().len();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let during = ep.requests.lock().len() - before;
    assert!((1..=40).contains(&during), "{during} requests");
}

#[tokio::test]
async fn file_sd_globs_as_go() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    for name in ["a.json", "b.json", ".hidden.json", "c.yaml"] {
        let target = name.split('.').find(|s| !s.is_empty()).unwrap();
        write(
            &dir.path().join(name),
            &format!(r#"[{{"targets": ["{target}:1"]}}]"#),
        );
    }
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    write(&dir.path().join("sub/d.json"), r#"[{"targets": ["d:1"]}]"#);
    // Go's negated class `[^b]`; `*` matches a leading dot and never crosses `/`.
    let config = cfg(&format!(
        "
job_name: j
file_sd_configs:
  - files: ['{d}/[^b]*.json', '{d}/?.yaml']
"
    ));
    let discovery = Discovery::spawn(&config, &options()).unwrap();
    let mut rx = discovery.subscribe();
    assert_eq!(targets(&next(&mut rx).await), ["a:1", "c:1", "hidden:1"]);
}
