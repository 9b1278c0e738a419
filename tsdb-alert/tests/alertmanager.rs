//! Differential test against a real Alertmanager 0.25 (Debian's
//! `/usr/bin/prometheus-alertmanager`), on 127.0.0.1: the same configuration and alerts go
//! to both; the first notifications (Alertmanager's webhooks against our
//! `Notification`s: receiver, group key, group labels, status, alert fingerprints in
//! order), `GET /api/v2/alerts` (fingerprint, receivers, state, inhibitedBy) and
//! `GET /api/v2/alerts/groups` (labels, receiver, alerts in order) must agree.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde_json::{json, Value};
use tsdb_alert::api;
use tsdb_alert::config::Config;
use tsdb_alert::manager::{system_now_ms, Manager, ManagerOptions};

const BINARY: &str = "/usr/bin/prometheus-alertmanager";

/// Kills the Alertmanager we started when the test ends, however it ends.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// An HTTP/1.0 exchange (so Go answers without chunked encoding): status and body.
fn http(addr: &str, method: &str, path: &str, body: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(
        s,
        "{method} {path} HTTP/1.0\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .ok()?;
    let mut raw = String::new();
    s.read_to_string(&mut raw).ok()?;
    let status = raw.split_whitespace().nth(1)?.parse().ok()?;
    let body = raw.split_once("\r\n\r\n").map(|(_, b)| b.to_owned())?;
    Some((status, body))
}

/// A webhook receiver collecting the JSON bodies posted to it.
fn webhook_sink() -> (String, Arc<Mutex<Vec<Value>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
    let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
    let got = Arc::new(Mutex::new(Vec::new()));
    let sink = got.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(match stream.try_clone() {
                Ok(s) => s,
                Err(_) => continue,
            });
            let mut length = 0usize;
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                    break;
                }
                if let Some((k, v)) = h.split_once(':') {
                    if k.eq_ignore_ascii_case("content-length") {
                        length = v.trim().parse().unwrap_or(0);
                    }
                }
            }
            let mut body = vec![0; length];
            if reader.read_exact(&mut body).is_ok() {
                if let Ok(v) = serde_json::from_slice(&body) {
                    sink.lock().push(v);
                }
            }
            let mut out = stream;
            let _ =
                out.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        }
    });
    (format!("http://{addr}/hook"), got)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Alertmanager with `config` and `storage`, on a free port, once ready (a generous
/// 60 s for a loaded machine): the process and its address. The port is found free,
/// released, then bound by Alertmanager: if something else took it in between,
/// Alertmanager exits, and another free port is tried.
fn start_alertmanager(config: &Path, storage: &Path) -> (Running, String) {
    for _ in 0..5 {
        let addr = format!("127.0.0.1:{}", free_port());
        let child = Command::new(BINARY)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.path={}", storage.display()))
            .arg(format!("--web.listen-address={addr}"))
            .arg("--cluster.listen-address=")
            .arg("--log.level=warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {BINARY}: {e}"));
        let mut running = Running(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if http(&addr, "GET", "/-/ready", "").map(|r| r.0) == Some(200) {
                return (running, addr);
            }
            if running.0.try_wait().ok().flatten().is_some() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "Alertmanager did not become ready"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    panic!("Alertmanager exited at start on 5 free ports");
}

fn config(hook: &str) -> String {
    format!(
        r#"
route:
  receiver: team
  group_by: [alertname, cluster]
  group_wait: 1s
  group_interval: 10m
  routes:
  - matchers: [severity="page"]
    receiver: pager
    group_by: [cluster]
    continue: true
  - matchers: [team=~"db|storage"]
    receiver: db
    group_by: ['...']
inhibit_rules:
- source_matchers: [severity="page"]
  target_matchers: [severity="info"]
  equal: [cluster]
receivers:
- name: team
  webhook_configs: [{{url: '{hook}'}}]
- name: pager
  webhook_configs: [{{url: '{hook}'}}]
- name: db
  webhook_configs: [{{url: '{hook}'}}]
"#
    )
}

fn alerts_body() -> String {
    json!([
        {"labels": {"alertname": "Down", "cluster": "a", "severity": "page", "instance": "h1", "job": "node"}},
        {"labels": {"alertname": "Down", "cluster": "a", "severity": "page", "instance": "h2", "job": "node"}},
        {"labels": {"alertname": "Slow", "cluster": "a", "severity": "info", "instance": "h1"}},
        {"labels": {"alertname": "Slow", "cluster": "b", "severity": "info", "instance": "h3"}},
        {"labels": {"alertname": "Lag", "cluster": "b", "team": "db", "instance": "pg1"}},
        {"labels": {"alertname": "Lag", "cluster": "b", "team": "storage", "instance": "s1", "job": "ceph"}},
        {"labels": {"alertname": "Disk", "cluster": "c", "instance": "x\"y"}}
    ])
    .to_string()
}

/// (receiver, groupKey, groupLabels, status, fingerprints in order), sorted.
fn summarize(notifications: &[Value]) -> Vec<(String, String, Value, String, Vec<String>)> {
    let mut out: Vec<_> = notifications
        .iter()
        .map(|n| {
            (
                n["receiver"].as_str().unwrap_or_default().to_owned(),
                n["groupKey"].as_str().unwrap_or_default().to_owned(),
                n["groupLabels"].clone(),
                n["status"].as_str().unwrap_or_default().to_owned(),
                n["alerts"]
                    .as_array()
                    .map(|v| {
                        v.iter()
                            .map(|a| a["fingerprint"].as_str().unwrap_or_default().to_owned())
                            .collect()
                    })
                    .unwrap_or_default(),
            )
        })
        .collect();
    out.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    out
}

/// (fingerprint, receivers, state, how many inhibit it, labels) per alert. Which of
/// several equally good sources Alertmanager names in `inhibitedBy` depends on Go's map
/// order, so only the count is compared.
fn alert_rows(list: &Value) -> Vec<Value> {
    list.as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|a| {
            json!([
                a["fingerprint"],
                a["receivers"],
                a["status"]["state"],
                a["status"]["inhibitedBy"].as_array().map(Vec::len),
                a["labels"]
            ])
        })
        .collect()
}

/// (labels, receiver, alert fingerprints) per group.
fn group_rows(list: &Value) -> Vec<Value> {
    let mut rows: Vec<Value> = list
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|g| {
            let fps: Vec<Value> = g["alerts"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .iter()
                .map(|a| a["fingerprint"].clone())
                .collect();
            json!([g["labels"], g["receiver"]["name"], fps])
        })
        .collect();
    rows.sort_by_key(|r| r.to_string());
    rows
}

#[test]
fn same_alerts_same_notifications_and_api_as_alertmanager() {
    assert!(
        Path::new(BINARY).exists(),
        "Alertmanager 0.25 is missing: install it with `apt-get install prometheus-alertmanager`"
    );
    let (hook, received) = webhook_sink();
    let text = config(&hook);
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let cfg_path = dir.path().join("am.yml");
    std::fs::write(&cfg_path, &text).unwrap_or_else(|e| panic!("{e}"));
    let (_running, addr) = start_alertmanager(&cfg_path, &dir.path().join("data"));

    // Ours, on the same text.
    let db = Arc::new(
        redb::Database::create(dir.path().join("ours.redb")).unwrap_or_else(|e| panic!("{e}")),
    );
    let cfg = Config::parse(&text).unwrap_or_else(|e| panic!("{e}"));
    let now = system_now_ms();
    let mut ours =
        Manager::open(cfg, db, ManagerOptions::default(), now).unwrap_or_else(|e| panic!("{e}"));

    let body = alerts_body();
    assert_eq!(
        http(&addr, "POST", "/api/v2/alerts", &body).map(|r| r.0),
        Some(200)
    );
    assert_eq!(
        api::post_alerts(&mut ours, body.as_bytes(), now).status,
        200
    );

    // Alertmanager's first flushes come after group_wait (1s): the page group, the two
    // `...` groups of the db route, two of the default route; Slow in cluster a is
    // inhibited, so its group sends nothing.
    let groups_expected = 5;
    let deadline = Instant::now() + Duration::from_secs(60);
    while received.lock().len() < groups_expected {
        assert!(
            Instant::now() < deadline,
            "only {} webhooks from Alertmanager",
            received.lock().len()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // Anything more would come with the same flush.
    std::thread::sleep(Duration::from_millis(1_500));
    let theirs = summarize(&received.lock());
    let mine: Vec<Value> = ours
        .tick(now + 1_000)
        .unwrap_or_else(|e| panic!("{e}"))
        .iter()
        .map(|n| {
            let alerts: Vec<Value> = n
                .alerts
                .iter()
                .map(|a| json!({"fingerprint": a.fingerprint().to_string()}))
                .collect();
            json!({"receiver": n.receiver, "groupKey": n.group_key, "groupLabels": n.group_labels,
                   "status": n.status(), "alerts": alerts})
        })
        .collect();
    assert_eq!(summarize(&mine), theirs);
    assert_eq!(theirs.len(), groups_expected);

    let (status, their_alerts) =
        http(&addr, "GET", "/api/v2/alerts", "").unwrap_or_else(|| panic!("GET alerts"));
    assert_eq!(status, 200);
    let their_alerts: Value = serde_json::from_str(&their_alerts).unwrap_or_else(|e| panic!("{e}"));
    let my_alerts: Value = serde_json::from_str(&api::get_alerts(&ours, &[], now + 2_000).body)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(alert_rows(&my_alerts), alert_rows(&their_alerts));

    let (_, their_groups) =
        http(&addr, "GET", "/api/v2/alerts/groups", "").unwrap_or_else(|| panic!("GET groups"));
    let their_groups: Value = serde_json::from_str(&their_groups).unwrap_or_else(|e| panic!("{e}"));
    let my_groups: Value =
        serde_json::from_str(&api::get_alert_groups(&ours, &[], now + 2_000).body)
            .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(group_rows(&my_groups), group_rows(&their_groups));
}
