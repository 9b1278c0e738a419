//! Alerting end to end through `tsdb-server`, on 127.0.0.1 with real peers where there is
//! one: a rule file fires an alert (recording rule feeding it, templates in its
//! annotations); the built-in alert manager groups it and delivers a webhook (the exact
//! v4 fields), a PagerDuty event (trigger, then resolve with the same `dedup_key`) and an
//! email to a real SMTP server (aiosmtpd); a real Alertmanager 0.25 receives the same
//! alert through `alerting.alertmanagers` and groups it; `amtool` lists alerts and adds,
//! queries and expires a silence on the built-in manager. Then the at-least-once promise:
//! SIGKILL with notifications waiting in the outbox, and every one delivered after the
//! restart, without re-paging what was already delivered.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod server_common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use server_common::{enc, free_port, require_tool, External, Receiver, Server};

const ALERTMANAGER_INSTALL: &str = "install it with `apt-get install -y --no-install-recommends \
    prometheus-alertmanager` (as root; Debian's package, Alertmanager 0.25 with amtool), as \
    .ci/run does";

/// Waits up to `limit` for `f` to give `Some`.
fn wait_for<T>(limit: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Pushes `value` for `test_load{host="a",job="node"}` (Influx: `test_load` measurement,
/// field `value` → `test_load_value`).
fn push(server: &Server, value: f64) {
    let r = server.post_bytes(
        "/write",
        format!("test_load,host=a,job=node value={value}\n").as_bytes(),
        &[],
    );
    assert_eq!(r.status, 204, "{}", String::from_utf8_lossy(&r.body));
}

const RULES: &str = r#"groups:
  - name: load
    interval: 1s
    rules:
      - record: job:test_load:max
        expr: max by (job, host) (test_load_value)
      - alert: HighLoad
        expr: job:test_load:max > 5
        for: 0s
        labels:
          severity: page
        annotations:
          summary: "{{ $labels.host }} load is {{ $value }}"
          description: 'external {{ $externalLabels.region }}'
"#;

/// The aiosmtpd sink of tsdb-alert's tests on a free port, writing each message to
/// `dir/N.json`.
struct SmtpSink {
    child: std::process::Child,
    port: u16,
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn smtp_sink(dir: &Path) -> SmtpSink {
    use std::io::BufRead;
    let ok = Command::new("python3")
        .args(["-c", "import aiosmtpd"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "the email test needs aiosmtpd: pip install aiosmtpd (as .ci/run does)"
    );
    let port = free_port();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tsdb-alert/tests/smtp_sink.py"
    );
    let log = std::fs::File::create(dir.join("sink.log")).unwrap();
    let mut child = Command::new("python3")
        .arg(script)
        .arg(port.to_string())
        .arg(dir)
        .stderr(log)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "READY", "smtp_sink.py did not start");
    SmtpSink { child, port }
}

/// A real Alertmanager 0.25 on a free port, grouping by alertname, its own receiver a
/// webhook nobody listens to (this test reads its API).
fn start_alertmanager(dir: &Path) -> External {
    let am = require_tool("prometheus-alertmanager", ALERTMANAGER_INSTALL);
    std::fs::write(
        dir.join("am.yml"),
        "route:\n  receiver: none\n  group_by: [alertname]\n  group_wait: 1s\nreceivers:\n  - name: none\n",
    )
    .unwrap();
    let port = free_port();
    External::start(
        &am,
        &[
            "--config.file=am.yml".to_owned(),
            "--storage.path=am-data".to_owned(),
            format!("--web.listen-address=127.0.0.1:{port}"),
            "--cluster.listen-address=".to_owned(),
            "--log.level=warn".to_owned(),
        ],
        dir,
        "alertmanager.log",
        format!("http://127.0.0.1:{port}"),
        "/-/ready",
    )
}

fn amtool(url: &str, args: &[&str]) -> (bool, String) {
    let amtool = require_tool("amtool", ALERTMANAGER_INSTALL);
    let out = Command::new(amtool)
        .arg(format!("--alertmanager.url={url}"))
        .args(args)
        .output()
        .unwrap();
    // stdout only: amtool warns on stderr that our version is not Alertmanager's
    if !out.status.success() {
        eprintln!("amtool {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).to_string(),
    )
}

#[test]
fn a_rule_fires_a_webhook_a_pagerduty_event_an_email_and_a_real_alertmanager() {
    let tmp = tempfile::tempdir().unwrap();
    let mail = tempfile::tempdir().unwrap();
    let smtp = smtp_sink(mail.path());
    let webhook = Receiver::start();
    let pagerduty = Receiver::start();
    pagerduty.then(202, &[], r#"{"status":"success","dedup_key":"x"}"#);
    let am_dir = tempfile::tempdir().unwrap();
    let real_am = start_alertmanager(am_dir.path());

    std::fs::write(tmp.path().join("rules.yml"), RULES).unwrap();
    std::fs::write(
        tmp.path().join("alertmanager.yml"),
        format!(
            r#"global:
  smtp_smarthost: 127.0.0.1:{smtp}
  smtp_from: tsdb@example.org
  smtp_require_tls: false
route:
  receiver: team
  group_by: [alertname]
  group_wait: 200ms
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: team
    webhook_configs:
      - url: {webhook}/hook
    pagerduty_configs:
      - routing_key: 0123456789abcdef0123456789abcdef
        url: {pagerduty}/v2/enqueue
    email_configs:
      - to: oncall@example.org
"#,
            smtp = smtp.port,
            webhook = webhook.url,
            pagerduty = pagerduty.url,
        ),
    )
    .unwrap();
    let am_port = real_am.url.rsplit(':').next().unwrap().to_owned();
    std::fs::write(
        tmp.path().join("tsdb.yml"),
        format!(
            "global:\n  external_labels: {{region: eu-1}}\nrule_files: [rules.yml]\nalerting:\n  alertmanagers:\n    - static_configs: [{{targets: ['127.0.0.1:{am_port}']}}]\nalertmanager:\n  config_file: alertmanager.yml\n"
        ),
    )
    .unwrap();
    let data = tmp.path().join("data");
    let config = tmp.path().join("tsdb.yml").display().to_string();
    let server = Server::start(&data, &["--config", &config, "--rules-resend-delay", "1s"]);
    server.wait_ready();
    push(&server, 9.0);

    // the webhook: Alertmanager's payload version 4
    let hooks = webhook.wait_for(1, Duration::from_secs(30));
    assert!(!hooks.is_empty(), "no webhook: {}", server.log_text());
    let hook = hooks[0].json();
    assert_eq!(hooks[0].path, "/hook");
    assert_eq!(hook["version"], "4");
    assert_eq!(hook["status"], "firing");
    assert_eq!(hook["receiver"], "team");
    assert_eq!(hook["groupKey"], "{}:{alertname=\"HighLoad\"}");
    assert_eq!(hook["groupLabels"]["alertname"], "HighLoad");
    assert_eq!(hook["commonLabels"]["severity"], "page");
    assert_eq!(hook["truncatedAlerts"], 0);
    assert_eq!(hook["externalURL"], server.url(""));
    let alert = &hook["alerts"][0];
    assert_eq!(alert["status"], "firing");
    assert_eq!(alert["labels"]["alertname"], "HighLoad");
    assert_eq!(alert["labels"]["host"], "a");
    assert_eq!(
        alert["labels"]["region"], "eu-1",
        "external labels are added"
    );
    assert_eq!(alert["annotations"]["summary"], "a load is 9");
    assert_eq!(alert["annotations"]["description"], "external eu-1");
    assert_eq!(alert["endsAt"], "0001-01-01T00:00:00Z");
    assert_eq!(alert["fingerprint"].as_str().unwrap().len(), 16);
    assert!(alert["generatorURL"]
        .as_str()
        .unwrap()
        .starts_with(&server.url("/graph?g0.expr=")));

    // PagerDuty: a trigger
    let events = pagerduty.wait_for(1, Duration::from_secs(30));
    let trigger = events[0].json();
    assert_eq!(events[0].path, "/v2/enqueue");
    assert_eq!(trigger["event_action"], "trigger");
    assert_eq!(trigger["routing_key"], "0123456789abcdef0123456789abcdef");
    let dedup_key = trigger["dedup_key"].as_str().unwrap().to_owned();
    assert_eq!(dedup_key.len(), 64, "SHA-256 of the group key");

    // the email, through a real SMTP server
    let message = wait_for(Duration::from_secs(30), "an email", || {
        let text = std::fs::read_to_string(mail.path().join("1.json")).ok()?;
        Some(serde_json::from_str::<serde_json::Value>(&text).unwrap())
    });
    assert_eq!(message["rcpt_tos"][0], "oncall@example.org");
    let content = message["content"].as_str().unwrap();
    assert!(
        content.contains("Subject: [FIRING:1] HighLoad"),
        "{content}"
    );

    // the rules' view: recording series written, ALERTS (from the evaluation after the
    // `for` state restoration, as Prometheus), the APIs
    let alerts_query = format!(
        "/api/v1/query?query={}",
        enc("ALERTS{alertname=\"HighLoad\"}")
    );
    let state = wait_for(Duration::from_secs(30), "the ALERTS series", || {
        let q = server.get(&alerts_query).json();
        q["data"]["result"][0]["metric"]["alertstate"]
            .as_str()
            .map(str::to_owned)
    });
    assert_eq!(state, "firing");
    let q = server.get("/api/v1/query?query=job:test_load:max");
    assert_eq!(q.json()["data"]["result"][0]["value"][1], "9");
    let rules = server.get("/api/v1/rules").json();
    assert_eq!(rules["data"]["groups"][0]["name"], "load");
    assert_eq!(rules["data"]["groups"][0]["rules"][1]["state"], "firing");
    let alerts = server.get("/api/v1/alerts").json();
    assert_eq!(
        alerts["data"]["alerts"][0]["labels"]["alertname"],
        "HighLoad"
    );
    assert_eq!(server.get("/api/v1/rules?type=bogus").status, 400);
    let ams = server.get("/api/v1/alertmanagers").json();
    assert_eq!(
        ams["data"]["activeAlertmanagers"].as_array().unwrap().len(),
        2
    );

    // a real Alertmanager got the alert (with the external labels) and grouped it
    let groups = wait_for(Duration::from_secs(30), "Alertmanager's group", || {
        let groups = real_am.get("/api/v2/alerts/groups").json();
        let found = groups
            .as_array()?
            .iter()
            .find(|g| g["labels"]["alertname"] == "HighLoad")?
            .clone();
        Some(found)
    });
    assert_eq!(groups["alerts"][0]["labels"]["region"], "eu-1");
    assert_eq!(groups["alerts"][0]["annotations"]["summary"], "a load is 9");

    // amtool against the built-in manager
    let url = server.url("");
    let (ok, out) = amtool(&url, &["alert", "query", "-o", "simple"]);
    assert!(ok && out.contains("HighLoad"), "{out}");
    let (ok, id) = amtool(
        &url,
        &[
            "silence",
            "add",
            "alertname=HighLoad",
            "-c",
            "maintenance",
            "-d",
            "1h",
            "-a",
            "ops",
        ],
    );
    let id = id.trim().to_owned();
    assert!(ok && id.len() == 36, "{id}");
    let (ok, out) = amtool(&url, &["silence", "query", "-o", "simple"]);
    assert!(
        ok && out.contains(&id) && out.contains("maintenance"),
        "{out}"
    );
    let (ok, out) = amtool(&url, &["alert", "query", "-s", "-o", "simple"]);
    assert!(
        ok && out.contains("HighLoad"),
        "silenced alert listed: {out}"
    );
    let (ok, out) = amtool(&url, &["silence", "expire", &id]);
    assert!(ok, "{out}");
    let (ok, out) = amtool(&url, &["silence", "query", "-q"]);
    assert!(
        ok && !out.contains(&id),
        "expired silence still active: {out}"
    );

    // resolution: PagerDuty gets a resolve with the same dedup_key, the webhook resolved
    push(&server, 1.0);
    let events = pagerduty.wait_for(2, Duration::from_secs(30));
    let resolve = events.last().unwrap().json();
    assert_eq!(resolve["event_action"], "resolve", "{events:?}");
    assert_eq!(resolve["dedup_key"], dedup_key.as_str());
    let hooks = wait_for(Duration::from_secs(30), "a resolved webhook", || {
        let got = webhook.received();
        got.iter()
            .any(|h| h.json()["status"] == "resolved")
            .then_some(got)
    });
    let resolved = hooks
        .iter()
        .find(|h| h.json()["status"] == "resolved")
        .unwrap()
        .json();
    assert_eq!(resolved["alerts"][0]["status"], "resolved");
    assert_ne!(resolved["alerts"][0]["endsAt"], "0001-01-01T00:00:00Z");

    // the delivery history
    let history = server.get("/api/v1/notifications?limit=50").json();
    let deliveries = history["data"].as_array().unwrap();
    assert!(deliveries.len() >= 5, "{history}");
    assert_eq!(server.get("/api/v1/notifications?limit=x").status, 400);

    // and /metrics
    let metrics = server.get("/metrics").body;
    for needle in [
        "tsdb_rule_evaluations_total{rule_group=",
        "tsdb_rule_group_last_duration_seconds{rule_group=",
        "tsdb_alertmanager_notifications_total{integration=\"webhook\"}",
        "tsdb_alertmanager_notifications_total{integration=\"email\"} 1",
        "tsdb_notifications_sent_total{alertmanager=",
    ] {
        assert!(metrics.contains(needle), "{needle} missing from /metrics");
    }
}

/// SIGKILL while notifications wait in the outbox for a receiver that is down: after the
/// restart every one of them reaches the receiver, the restored alert is not paged again,
/// and a receiver refusing a notification (400) raises `NotificationDeliveryFailed`.
#[test]
fn notifications_survive_sigkill_and_a_restart_does_not_repage() {
    let tmp = tempfile::tempdir().unwrap();
    // the receiver's port, taken now and left closed: deliveries fail with "refused"
    let port = free_port();
    std::fs::write(tmp.path().join("rules.yml"), RULES).unwrap();
    std::fs::write(
        tmp.path().join("alertmanager.yml"),
        format!(
            r#"route:
  receiver: hook
  group_by: [alertname]
  group_wait: 100ms
  group_interval: 1s
  repeat_interval: 1h
  routes:
    - matchers: ['alertname="NotificationDeliveryFailed"']
      receiver: meta
receivers:
  - name: hook
    webhook_configs:
      - url: http://127.0.0.1:{port}/hook
  - name: meta
"#
        ),
    )
    .unwrap();
    std::fs::write(
        tmp.path().join("tsdb.yml"),
        "rule_files: [rules.yml]\nalertmanager:\n  config_file: alertmanager.yml\n",
    )
    .unwrap();
    let data = tmp.path().join("data");
    let config = tmp.path().join("tsdb.yml").display().to_string();
    let args = ["--config", &config, "--rules-resend-delay", "1s"];
    let mut server = Server::start(&data, &args);
    server.wait_ready();
    push(&server, 9.0);
    // the notification is in the outbox, and its first attempt failed
    let pending = wait_for(Duration::from_secs(30), "a failed attempt", || {
        let h = server.get("/api/v1/notifications").json();
        let d = h["data"].as_array()?.first()?.clone();
        (!d["attempts"].as_array()?.is_empty()).then_some(d)
    });
    assert_eq!(pending["state"], "pending", "{pending}");
    let id = pending["id"].clone();
    server.kill();

    let receiver = Receiver::start_on(std::net::TcpListener::bind(("127.0.0.1", port)).unwrap());
    let mut server = Server::start(&data, &args);
    server.wait_ready();
    let got = receiver.wait_for(1, Duration::from_secs(60));
    assert!(
        !got.is_empty(),
        "not delivered after restart: {}",
        server.log_text()
    );
    let hook = got[0].json();
    assert_eq!(hook["status"], "firing");
    assert_eq!(hook["alerts"][0]["labels"]["alertname"], "HighLoad");
    let delivered = wait_for(Duration::from_secs(30), "the delivery recorded", || {
        let h = server.get("/api/v1/notifications").json();
        let d = h["data"]
            .as_array()?
            .iter()
            .find(|d| d["id"] == id)?
            .clone();
        (d["state"] == "delivered").then_some(d)
    });
    assert!(delivered["attempts"].as_array().unwrap().len() >= 2);

    // a clean restart while the alert still fires: no second page within repeat_interval
    push(&server, 9.0);
    assert_eq!(server.terminate().code(), Some(0));
    let server = Server::start(&data, &args);
    server.wait_ready();
    push(&server, 9.0);
    std::thread::sleep(Duration::from_secs(4));
    let firing = receiver
        .received()
        .iter()
        .filter(|r| r.json()["status"] == "firing")
        .count();
    assert_eq!(firing, 1, "re-paged after restart");

    // a receiver that refuses (400): not retried, and a meta-alert raised
    receiver.then(400, &[], "bad payload");
    push(&server, 1.0);
    wait_for(
        Duration::from_secs(30),
        "NotificationDeliveryFailed",
        || {
            let alerts = server.get("/api/v2/alerts").json();
            alerts
                .as_array()?
                .iter()
                .any(|a| a["labels"]["alertname"] == "NotificationDeliveryFailed")
                .then_some(())
        },
    );
}

/// A reload applies a changed rule file keeping the firing alert's state, refuses an
/// invalid one naming the file and line (the rules in force stay), and the built-in
/// manager's endpoints need their credentials: reads the read one, posting alerts the
/// write one, silences the admin one.
#[test]
fn reloads_keep_alert_state_and_silences_need_the_admin_credential() {
    let tmp = tempfile::tempdir().unwrap();
    let rules = tmp.path().join("rules.yml");
    std::fs::write(&rules, RULES).unwrap();
    std::fs::write(
        tmp.path().join("alertmanager.yml"),
        "route:\n  receiver: none\nreceivers:\n  - name: none\n",
    )
    .unwrap();
    std::fs::write(
        tmp.path().join("tsdb.yml"),
        "rule_files: ['*.rules.yml', rules.yml]\nalertmanager:\n  config_file: alertmanager.yml\n",
    )
    .unwrap();
    std::fs::write(
        tmp.path().join("auth.yml"),
        "read:\n  bearer_tokens: [reader]\nwrite:\n  bearer_tokens: [writer]\nadmin:\n  bearer_tokens: [admin]\n",
    )
    .unwrap();
    let data = tmp.path().join("data");
    let config = tmp.path().join("tsdb.yml").display().to_string();
    let auth = tmp.path().join("auth.yml").display().to_string();
    let server = Server::start(&data, &["--config", &config, "--auth-file", &auth]);
    server.wait_ready();
    let (read, write, admin) = (
        [("Authorization", "Bearer reader")],
        [("Authorization", "Bearer writer")],
        [("Authorization", "Bearer admin")],
    );
    let r = server.post_bytes("/write", b"test_load,host=a,job=node value=9\n", &write);
    assert_eq!(r.status, 204);
    let active_at = wait_for(Duration::from_secs(30), "a firing alert", || {
        let a = server.get_with("/api/v1/alerts", &read).json();
        let alert = a["data"]["alerts"].as_array()?.first()?.clone();
        (alert["state"] == "firing").then(|| alert["activeAt"].clone())
    });

    // a second rule file (matched by the glob) and a changed annotation: the alert keeps
    // its activeAt
    std::fs::write(
        tmp.path().join("extra.rules.yml"),
        "groups:\n  - name: extra\n    rules:\n      - record: extra:one\n        expr: vector(1)\n",
    )
    .unwrap();
    std::fs::write(&rules, RULES.replace("'external {{", "'ext {{")).unwrap();
    let r = server.post_bytes("/-/reload", b"", &admin);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let groups = server.get_with("/api/v1/rules", &read).json();
    let names: Vec<&str> = groups["data"]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["extra", "load"]);
    let a = server.get_with("/api/v1/alerts", &read).json();
    assert_eq!(a["data"]["alerts"][0]["activeAt"], active_at);

    // an invalid rule file: refused with its name and line, the rules in force stay
    std::fs::write(
        &rules,
        "groups:\n  - name: load\n    rules:\n      - alert: Broken\n        expr: sum(\n",
    )
    .unwrap();
    let r = server.post_bytes("/-/reload", b"", &admin);
    assert_eq!(r.status, 500);
    let body = String::from_utf8_lossy(&r.body).to_string();
    assert!(
        body.contains("rules.yml") && body.contains("Broken"),
        "{body}"
    );
    let groups = server.get_with("/api/v1/rules", &read).json();
    assert_eq!(groups["data"]["groups"].as_array().unwrap().len(), 2);

    // credentials of the built-in manager's API
    assert_eq!(server.get_with("/api/v2/silences", &read).status, 200);
    assert_eq!(server.get("/api/v2/silences").status, 401);
    let silence = br#"{"matchers":[{"name":"alertname","value":"HighLoad","isRegex":false}],"startsAt":"2020-01-01T00:00:00Z","endsAt":"2100-01-01T00:00:00Z","createdBy":"t","comment":"c"}"#;
    assert_eq!(
        server.post_bytes("/api/v2/silences", silence, &read).status,
        403
    );
    assert_eq!(
        server
            .post_bytes("/api/v2/silences", silence, &write)
            .status,
        403
    );
    let r = server.post_bytes("/api/v2/silences", silence, &admin);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let id = serde_json::from_slice::<serde_json::Value>(&r.body).unwrap()["silenceID"]
        .as_str()
        .unwrap()
        .to_owned();
    let alert = br#"[{"labels":{"alertname":"Posted"}}]"#;
    assert_eq!(
        server.post_bytes("/api/v2/alerts", alert, &read).status,
        403
    );
    assert_eq!(
        server.post_bytes("/api/v2/alerts", alert, &write).status,
        200
    );
    let r = server.post_bytes("/api/v2/alerts", b"[{\"labels\":{}}]", &write);
    assert_eq!(
        r.status, 400,
        "an alert without labels is refused as Alertmanager does"
    );
    let silenced = wait_for(Duration::from_secs(10), "the silenced alert", || {
        let alerts = server.get_with("/api/v2/alerts", &read).json();
        alerts
            .as_array()?
            .iter()
            .find(|a| a["labels"]["alertname"] == "HighLoad")
            .map(|a| a["status"]["state"].clone())
    });
    assert_eq!(silenced, "suppressed");
    let r = server.request_with("DELETE", &format!("/api/v2/silence/{id}"), &read);
    assert_eq!(r.status, 403);
    let r = server.request_with("DELETE", &format!("/api/v2/silence/{id}"), &admin);
    assert_eq!(r.status, 200);
}
