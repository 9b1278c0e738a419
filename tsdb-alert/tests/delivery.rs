//! The outbox and the notifiers end to end on 127.0.0.1: in-test HTTP receivers (webhook,
//! PagerDuty, Twilio) checking the exact requests, a real SMTP server (aiosmtpd), failure
//! injection (500 then 200, 400, 429 with Retry-After, connection refused) and a
//! simulated crash with deliveries in flight.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use parking_lot::Mutex;
use tsdb_alert::model::{Alert, LabelSet, Notification};
use tsdb_alert::outbox::{MetaAlertHook, Outcome, State as DState};
use tsdb_alert::{Global, Notifiers, Outbox, OutboxOptions, Receiver};

/// One request an in-test receiver got.
#[derive(Debug, Clone)]
struct Request {
    path: String,
    headers: HeaderMap,
    body: Vec<u8>,
    at: Instant,
}

/// A scripted answer: status and optional Retry-After; `None`: never answer.
type Answer = Option<(u16, Option<&'static str>)>;

#[derive(Clone, Default)]
struct Sink {
    requests: Arc<Mutex<Vec<Request>>>,
    script: Arc<Mutex<VecDeque<Answer>>>,
}

async fn record(State(sink): State<Sink>, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    sink.requests.lock().push(Request {
        path: uri.path().to_string(),
        headers,
        body: body.to_vec(),
        at: Instant::now(),
    });
    let answer = sink.script.lock().pop_front().unwrap_or(Some((200, None)));
    match answer {
        None => {
            // A receiver that never acknowledges.
            tokio::time::sleep(Duration::from_secs(3600)).await;
            StatusCode::OK.into_response()
        }
        Some((code, retry_after)) => {
            let status = StatusCode::from_u16(code).unwrap();
            match retry_after {
                Some(r) => (status, [("retry-after", r)], "slow down").into_response(),
                None => (status, format!("answer {code}")).into_response(),
            }
        }
    }
}

/// An HTTP receiver on `listener` answering by `script`, then 200.
fn serve_on(listener: tokio::net::TcpListener, script: Vec<Answer>) -> (SocketAddr, Sink) {
    let sink = Sink::default();
    sink.script.lock().extend(script);
    let app = axum::Router::new()
        .fallback(record)
        .with_state(sink.clone());
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (addr, sink)
}

/// An HTTP receiver on 127.0.0.1, any port, answering by `script`, then 200.
async fn serve(script: Vec<Answer>) -> (SocketAddr, Sink) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    serve_on(listener, script)
}

fn labels(pairs: &[(&str, &str)]) -> LabelSet {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn alert(instance: &str, ends_at_ms: Option<i64>) -> Alert {
    Alert {
        labels: labels(&[
            ("alertname", "HighCPU"),
            ("instance", instance),
            ("severity", "page"),
        ]),
        annotations: labels(&[("summary", "CPU above 90%")]),
        starts_at_ms: 1_700_000_000_500,
        ends_at_ms,
        generator_url: "http://prom:9090/graph?g0.expr=cpu".into(),
        updated_at_ms: 1_700_000_000_000,
    }
}

fn notification(receiver: &str, alerts: Vec<Alert>) -> Notification {
    Notification {
        receiver: receiver.into(),
        group_key: "{}:{alertname=\"HighCPU\"}".into(),
        group_labels: labels(&[("alertname", "HighCPU")]),
        alerts,
        truncated_alerts: 0,
        external_url: "http://am:9093".into(),
        flushed_at_ms: 1_700_000_100_000,
    }
}

fn receiver(yaml: &str) -> Receiver {
    serde_saphyr::from_str(yaml).unwrap()
}

/// Fast retries for the tests. The attempt timeout is long: the in-test receivers answer
/// at once, so a short one would only fire on a loaded machine, turning a slow answer
/// into a retry and a duplicate that the exact request counts below (rightly) reject.
/// The receiver that never answers comes with its own timeout.
fn options() -> OutboxOptions {
    OutboxOptions {
        workers: 2,
        attempt_timeout: Duration::from_secs(30),
        backoff_initial: Duration::from_millis(50),
        backoff_max: Duration::from_millis(200),
        max_attempts: 5,
        ..OutboxOptions::default()
    }
}

struct Harness {
    _dir: tempfile::TempDir,
    outbox: Arc<Outbox>,
    notifiers: Arc<Notifiers>,
    meta: Arc<Mutex<Vec<Alert>>>,
    hook: MetaAlertHook,
}

fn harness(receivers: &[Receiver], global: &Global, opts: OutboxOptions) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let db = Arc::new(redb::Database::create(dir.path().join("alerts.redb")).unwrap());
    let outbox = Arc::new(Outbox::open(db, opts).unwrap());
    let notifiers = Arc::new(Notifiers::new(receivers, global).unwrap());
    let meta = Arc::new(Mutex::new(Vec::new()));
    let sink = meta.clone();
    let hook: MetaAlertHook = Arc::new(move |a| sink.lock().push(a));
    Harness {
        _dir: dir,
        outbox,
        notifiers,
        meta,
        hook,
    }
}

/// Waits until `f` holds: at most 60 s, generous for a loaded CI machine (it returns as
/// soon as `f` holds). Also for the meta-alert hook, which the worker calls just after
/// committing the failure that `finished` sees.
async fn until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn finished(outbox: &Outbox, ids: &[u64]) -> bool {
    ids.iter().all(|id| {
        outbox
            .get(*id)
            .unwrap()
            .is_some_and(|d| d.state != DState::Pending)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_webhook_payload_is_alertmanagers_version_4() {
    let (addr, sink) = serve(vec![]).await;
    let r = receiver(&format!(
        "name: team\nwebhook_configs:\n  - url: http://{addr}/hook\n  - url: http://{addr}/short\n    max_alerts: 1\n"
    ));
    let h = harness(std::slice::from_ref(&r), &Global::default(), options());
    let workers = h.outbox.start(h.notifiers.clone(), h.hook.clone());
    let mut firing = alert("a", None);
    firing.annotations.insert("runbook".into(), "<a&b>".into());
    let n = notification("team", vec![firing, alert("b", Some(1_700_000_050_000))]);
    let ids = h.outbox.enqueue(&n, &r).unwrap();
    assert_eq!(ids.len(), 2);
    until("both webhooks", || finished(&h.outbox, &ids)).await;
    let requests = sink.requests.lock().clone();
    let full = requests.iter().find(|q| q.path == "/hook").unwrap();
    assert_eq!(full.headers["content-type"], "application/json");
    let expected = concat!(
        r#"{"receiver":"team","status":"firing","alerts":["#,
        r#"{"status":"firing","labels":{"alertname":"HighCPU","instance":"a","severity":"page"},"#,
        r#""annotations":{"runbook":"\u003ca\u0026b\u003e","summary":"CPU above 90%"},"#,
        r#""startsAt":"2023-11-14T22:13:20.5Z","endsAt":"0001-01-01T00:00:00Z","#,
        r#""generatorURL":"http://prom:9090/graph?g0.expr=cpu","fingerprint":"FPA"},"#,
        r#"{"status":"resolved","labels":{"alertname":"HighCPU","instance":"b","severity":"page"},"#,
        r#""annotations":{"summary":"CPU above 90%"},"#,
        r#""startsAt":"2023-11-14T22:13:20.5Z","endsAt":"2023-11-14T22:14:10Z","#,
        r#""generatorURL":"http://prom:9090/graph?g0.expr=cpu","fingerprint":"FPB"}],"#,
        r#""groupLabels":{"alertname":"HighCPU"},"#,
        r#""commonLabels":{"alertname":"HighCPU","severity":"page"},"#,
        r#""commonAnnotations":{"summary":"CPU above 90%"},"#,
        r#""externalURL":"http://am:9093","version":"4","#,
        r#""groupKey":"{}:{alertname=\"HighCPU\"}","truncatedAlerts":0}"#,
        "\n"
    )
    .replace("FPA", &tsdb_alert::fingerprint(&n.alerts[0].labels).to_string())
    .replace("FPB", &tsdb_alert::fingerprint(&n.alerts[1].labels).to_string());
    assert_eq!(String::from_utf8(full.body.clone()).unwrap(), expected);
    let short = requests.iter().find(|q| q.path == "/short").unwrap();
    let v: serde_json::Value = serde_json::from_slice(&short.body).unwrap();
    assert_eq!(v["alerts"].as_array().unwrap().len(), 1);
    assert_eq!(v["truncatedAlerts"], 1);
    // common labels of what was sent: the one alert's
    assert_eq!(v["commonLabels"]["instance"], "a");
    let stats = h.outbox.stats().unwrap();
    assert_eq!(stats.integrations["webhook"].delivered, 2);
    assert_eq!(stats.integrations["webhook"].pending, 0);
    workers.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pagerduty_trigger_and_resolve_share_the_dedup_key() {
    let (addr, sink) = serve(vec![]).await;
    let r = receiver(&format!(
        "name: oncall\npagerduty_configs:\n  - routing_key: R0UT1NG\n    url: http://{addr}/v2/enqueue\n    severity: critical\n    details:\n      team: '{{{{ .CommonLabels.severity }}}}'\n"
    ));
    let h = harness(std::slice::from_ref(&r), &Global::default(), options());
    let workers = h.outbox.start(h.notifiers.clone(), h.hook.clone());
    let ids = h
        .outbox
        .enqueue(&notification("oncall", vec![alert("a", None)]), &r)
        .unwrap();
    until("the trigger", || finished(&h.outbox, &ids)).await;
    let resolved = notification("oncall", vec![alert("a", Some(1_700_000_050_000))]);
    let ids = h.outbox.enqueue(&resolved, &r).unwrap();
    until("the resolve", || finished(&h.outbox, &ids)).await;
    let requests = sink.requests.lock().clone();
    assert_eq!(requests.len(), 2);
    let events: Vec<serde_json::Value> = requests
        .iter()
        .map(|q| serde_json::from_slice(&q.body).unwrap())
        .collect();
    // sha256 of the group key, as Alertmanager's Key.Hash
    let key = tsdb_alert::notify::pagerduty::dedup_key("{}:{alertname=\"HighCPU\"}");
    assert_eq!(key.len(), 64);
    assert_eq!(events[0]["event_action"], "trigger");
    assert_eq!(events[1]["event_action"], "resolve");
    for e in &events {
        assert_eq!(e["dedup_key"], key.as_str());
        assert_eq!(e["routing_key"], "R0UT1NG");
        assert_eq!(e["client"], "Alertmanager");
        assert_eq!(e["client_url"], "http://am:9093/#/alerts?receiver=oncall");
        assert_eq!(e["payload"]["severity"], "critical");
        assert_eq!(e["payload"]["source"], "Alertmanager");
        assert_eq!(e["payload"]["custom_details"]["team"], "page");
    }
    assert_eq!(
        events[0]["payload"]["summary"],
        "[FIRING:1] HighCPU (a page)"
    );
    assert_eq!(events[0]["payload"]["custom_details"]["num_firing"], "1");
    assert_eq!(
        events[1]["payload"]["summary"],
        "[RESOLVED] HighCPU (a page)"
    );
    assert!(events[1]["payload"]["custom_details"]["resolved"]
        .as_str()
        .unwrap()
        .contains(" - instance = a\n"));
    workers.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twilio_sms_and_voice_requests_and_the_hourly_limit() {
    let (addr, sink) = serve(vec![
        Some((201, None)),
        Some((201, None)),
        Some((201, None)),
    ])
    .await;
    let r = receiver(&format!(
        "name: phones\nphone_configs:\n  - account_sid: AC123\n    auth_token: tok\n    from: '+15550000'\n    to: ['+15551111']\n    api_url: http://{addr}\n    max_per_hour: 1\n  - account_sid: AC123\n    auth_token: tok\n    from: '+15550000'\n    to: ['+15552222']\n    mode: voice\n    api_url: http://{addr}/\n"
    ));
    let h = harness(std::slice::from_ref(&r), &Global::default(), options());
    let workers = h.outbox.start(h.notifiers.clone(), h.hook.clone());
    let mut long = alert("a", None);
    long.annotations.insert("summary".into(), "x".repeat(300));
    let ids = h
        .outbox
        .enqueue(&notification("phones", vec![long]), &r)
        .unwrap();
    assert_eq!(ids.len(), 2);
    until("the sms and the call", || finished(&h.outbox, &ids)).await;
    let requests = sink.requests.lock().clone();
    let sms = requests
        .iter()
        .find(|q| q.path == "/2010-04-01/Accounts/AC123/Messages.json")
        .unwrap();
    let call = requests
        .iter()
        .find(|q| q.path == "/2010-04-01/Accounts/AC123/Calls.json")
        .unwrap();
    for q in [sms, call] {
        assert_eq!(q.headers["authorization"], "Basic QUMxMjM6dG9r");
        assert_eq!(
            q.headers["content-type"],
            "application/x-www-form-urlencoded"
        );
    }
    let form = |q: &Request| -> Vec<(String, String)> {
        form_urlencoded::parse(&q.body).into_owned().collect()
    };
    let sms_form = form(sms);
    assert_eq!(sms_form[0], ("To".into(), "+15551111".into()));
    assert_eq!(sms_form[1], ("From".into(), "+15550000".into()));
    assert_eq!(sms_form[2].0, "Body");
    let body = &sms_form[2].1;
    assert_eq!(body.chars().count(), 160);
    assert!(body.starts_with("[FIRING:1] HighCPU (a page) - xxx"));
    assert!(body.ends_with("xxx..."));
    let call_form = form(call);
    assert_eq!(call_form[0], ("To".into(), "+15552222".into()));
    assert_eq!(call_form[2].0, "Twiml");
    assert!(call_form[2]
        .1
        .starts_with("<Response><Say>[FIRING:1] HighCPU (a page) - x"));
    assert!(call_form[2].1.ends_with("</Say></Response>"));

    // The SMS number's hour is used up: the next page waits (recorded, still pending).
    let ids = h
        .outbox
        .enqueue(&notification("phones", vec![alert("b", None)]), &r)
        .unwrap();
    let sms_id = ids[0];
    until("the rate-limited attempt", || {
        h.outbox.get(sms_id).unwrap().unwrap().attempts.len() == 1
    })
    .await;
    let d = h.outbox.get(sms_id).unwrap().unwrap();
    assert_eq!(d.state, DState::Pending);
    assert_eq!(d.attempts[0].outcome, Outcome::RateLimited);
    let wait = d.next_attempt_ms.unwrap() - d.attempts[0].at_ms;
    assert!(wait > 3_500_000 && wait <= 3_600_000, "{wait}");
    assert!(h.meta.lock().is_empty());
    workers.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_500_then_200_is_one_delivery_retried() {
    let (addr, sink) = serve(vec![Some((500, None))]).await;
    let r = receiver(&format!(
        "name: t\nwebhook_configs:\n  - url: http://{addr}/\n"
    ));
    let h = harness(std::slice::from_ref(&r), &Global::default(), options());
    let workers = h.outbox.start(h.notifiers.clone(), h.hook.clone());
    let ids = h
        .outbox
        .enqueue(&notification("t", vec![alert("a", None)]), &r)
        .unwrap();
    until("delivery", || finished(&h.outbox, &ids)).await;
    let d = h.outbox.get(ids[0]).unwrap().unwrap();
    assert_eq!(d.state, DState::Delivered);
    assert_eq!(d.attempts.len(), 2);
    assert_eq!(d.attempts[0].outcome, Outcome::Retryable);
    assert_eq!(d.attempts[0].status, Some(500));
    assert!(d.attempts[0]
        .error
        .as_deref()
        .unwrap()
        .contains("answer 500"));
    assert_eq!(d.attempts[1].outcome, Outcome::Delivered);
    assert_eq!(sink.requests.lock().len(), 2);
    let s = h.outbox.stats().unwrap().integrations["webhook"];
    assert_eq!((s.delivered, s.retried, s.failed, s.pending), (1, 1, 0, 0));
    // the history lists it, with its attempts
    let recent = h.outbox.recent(10).unwrap();
    assert_eq!(recent.len(), 1);
    assert_eq!(recent[0].attempts.len(), 2);
    assert!(h.meta.lock().is_empty());
    workers.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_400_is_not_retried_and_raises_the_meta_alert() {
    let (addr, sink) = serve(vec![Some((400, None))]).await;
    let r = receiver(&format!(
        "name: t\nwebhook_configs:\n  - url: http://{addr}/\n"
    ));
    let h = harness(std::slice::from_ref(&r), &Global::default(), options());
    let workers = h.outbox.start(h.notifiers.clone(), h.hook.clone());
    let ids = h
        .outbox
        .enqueue(&notification("t", vec![alert("a", None)]), &r)
        .unwrap();
    until("the refusal", || finished(&h.outbox, &ids)).await;
    // give a wrong retry the time it would take
    tokio::time::sleep(Duration::from_millis(300)).await;
    let d = h.outbox.get(ids[0]).unwrap().unwrap();
    assert_eq!(d.state, DState::Failed);
    assert_eq!(d.attempts.len(), 1);
    assert_eq!(d.attempts[0].status, Some(400));
    assert_eq!(sink.requests.lock().len(), 1);
    until("the meta-alert", || !h.meta.lock().is_empty()).await;
    let meta = h.meta.lock().clone();
    assert_eq!(meta.len(), 1);
    assert_eq!(meta[0].labels["alertname"], "NotificationDeliveryFailed");
    assert_eq!(meta[0].labels["receiver"], "t");
    assert_eq!(meta[0].labels["integration"], "webhook");
    assert!(meta[0].annotations["description"].contains("unexpected status code 400"));
    assert_eq!(h.outbox.stats().unwrap().integrations["webhook"].failed, 1);
    workers.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_waits_for_retry_after() {
    let (addr, sink) = serve(vec![Some((429, Some("1")))]).await;
    let r = receiver(&format!(
        "name: t\nwebhook_configs:\n  - url: http://{addr}/\n"
    ));
    let h = harness(std::slice::from_ref(&r), &Global::default(), options());
    let workers = h.outbox.start(h.notifiers.clone(), h.hook.clone());
    let ids = h
        .outbox
        .enqueue(&notification("t", vec![alert("a", None)]), &r)
        .unwrap();
    until("delivery", || finished(&h.outbox, &ids)).await;
    let requests = sink.requests.lock().clone();
    assert_eq!(requests.len(), 2);
    let waited = requests[1].at - requests[0].at;
    // backoff alone would be ≤ 50 ms; Retry-After says 1 s
    assert!(waited >= Duration::from_millis(950), "{waited:?}");
    let d = h.outbox.get(ids[0]).unwrap().unwrap();
    assert_eq!(d.attempts[0].status, Some(429));
    assert_eq!(d.state, DState::Delivered);
    workers.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_refused_is_retried_until_the_receiver_is_up() {
    // A port bound but not listening: connections to it are refused, and it stays ours
    // until the receiver listens on it. (Released instead, another test's receiver could
    // take it, or an outgoing connection its number, and get this test's requests.)
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let port = socket.local_addr().unwrap().port();
    let r = receiver(&format!(
        "name: t\nwebhook_configs:\n  - url: http://127.0.0.1:{port}/\n"
    ));
    let opts = OutboxOptions {
        max_attempts: 1000,
        ..options()
    };
    let h = harness(std::slice::from_ref(&r), &Global::default(), opts);
    let workers = h.outbox.start(h.notifiers.clone(), h.hook.clone());
    let ids = h
        .outbox
        .enqueue(&notification("t", vec![alert("a", None)]), &r)
        .unwrap();
    until("two refused attempts", || {
        h.outbox.get(ids[0]).unwrap().unwrap().attempts.len() >= 2
    })
    .await;
    let (_, sink) = serve_on(socket.listen(64).unwrap(), vec![]);
    until("delivery", || finished(&h.outbox, &ids)).await;
    let d = h.outbox.get(ids[0]).unwrap().unwrap();
    assert_eq!(d.state, DState::Delivered);
    assert!(d.attempts[0].outcome == Outcome::Retryable && d.attempts[0].status.is_none());
    assert_eq!(sink.requests.lock().len(), 1);
    assert!(h.outbox.stats().unwrap().integrations["webhook"].retried >= 2);
    workers.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_end_after_max_attempts_with_the_meta_alert() {
    let (addr, sink) = serve(vec![Some((503, None)); 10]).await;
    let r = receiver(&format!(
        "name: t\nwebhook_configs:\n  - url: http://{addr}/\n"
    ));
    let opts = OutboxOptions {
        max_attempts: 3,
        ..options()
    };
    let h = harness(std::slice::from_ref(&r), &Global::default(), opts);
    let workers = h.outbox.start(h.notifiers.clone(), h.hook.clone());
    let ids = h
        .outbox
        .enqueue(&notification("t", vec![alert("a", None)]), &r)
        .unwrap();
    until("giving up", || finished(&h.outbox, &ids)).await;
    let d = h.outbox.get(ids[0]).unwrap().unwrap();
    assert_eq!(d.state, DState::Failed);
    assert_eq!(d.attempts.len(), 3);
    assert!(d
        .failure
        .as_deref()
        .unwrap()
        .starts_with("gave up after 3 attempts"));
    assert_eq!(sink.requests.lock().len(), 3);
    until("the meta-alert", || !h.meta.lock().is_empty()).await;
    assert_eq!(h.meta.lock().len(), 1);
    workers.shutdown().await;
}

/// A crash with a full outbox and one attempt in flight: everything is delivered after
/// the restart; the only possible duplicate is the unacknowledged one.
#[test]
fn a_crash_loses_no_delivery() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("alerts.redb");
    let groups: Vec<String> = (0..6)
        .map(|i| format!("{{}}:{{alertname=\"A{i}\"}}"))
        .collect();
    let notification_of = |key: &str| Notification {
        group_key: key.to_string(),
        ..notification("t", vec![alert("a", None)])
    };
    // Run 1: a receiver that never answers; one worker, stuck in its first attempt.
    {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let (addr, hung) = serve(vec![None; 100]).await;
            let r = receiver(&format!(
                "name: t\nwebhook_configs:\n  - url: http://{addr}/\n"
            ));
            let db = Arc::new(redb::Database::create(&path).unwrap());
            let outbox = Arc::new(
                Outbox::open(
                    db,
                    OutboxOptions {
                        workers: 1,
                        attempt_timeout: Duration::from_secs(600),
                        ..options()
                    },
                )
                .unwrap(),
            );
            for key in &groups {
                outbox.enqueue(&notification_of(key), &r).unwrap();
            }
            let notifiers = Arc::new(Notifiers::new(&[r], &Global::default()).unwrap());
            let _workers = outbox.start(notifiers, Arc::new(|_| {}));
            until("the attempt in flight", || hung.requests.lock().len() == 1).await;
        });
        // The crash: tasks dropped mid-attempt, the database closed without any more
        // commits.
        drop(rt);
    }
    // Run 2: the same file, a receiver that answers.
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let (addr, sink) = serve(vec![]).await;
        let r = receiver(&format!(
            "name: t\nwebhook_configs:\n  - url: http://{addr}/\n"
        ));
        let db = Arc::new(redb::Database::create(&path).unwrap());
        let outbox = Arc::new(Outbox::open(db, options()).unwrap());
        assert_eq!(outbox.pending().unwrap(), 6, "every delivery is still due");
        let notifiers =
            Arc::new(Notifiers::new(std::slice::from_ref(&r), &Global::default()).unwrap());
        let workers = outbox.start(notifiers, Arc::new(|_| {}));
        until("every delivery", || outbox.pending().unwrap() == 0).await;
        let mut received: Vec<String> = sink
            .requests
            .lock()
            .iter()
            .map(|q| {
                let v: serde_json::Value = serde_json::from_slice(&q.body).unwrap();
                v["groupKey"].as_str().unwrap().to_string()
            })
            .collect();
        received.sort();
        let mut expected = groups.clone();
        expected.sort();
        assert_eq!(
            received, expected,
            "each delivered exactly once after the restart"
        );
        let recent = outbox.recent(100).unwrap();
        assert_eq!(recent.len(), 6);
        assert!(recent.iter().all(|d| d.state == DState::Delivered));
        workers.shutdown().await;
    });
}

/// The aiosmtpd sink on a free port, writing messages to `dir`.
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

fn smtp_sink(dir: &std::path::Path, starttls: bool) -> SmtpSink {
    use std::io::BufRead;
    let ok = std::process::Command::new("python3")
        .args(["-c", "import aiosmtpd"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "the email tests need aiosmtpd: pip install aiosmtpd (python3 -c 'import aiosmtpd' failed)"
    );
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/smtp_sink.py");
    let tls_dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/tls");
    // The port is found free, released, then bound by the sink: something else may take
    // it in between (the sink then exits without READY). Another free port is tried.
    for _ in 0..5 {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let mut command = std::process::Command::new("python3");
        command.arg(script).arg(port.to_string()).arg(dir);
        if starttls {
            command
                .arg(format!("{tls_dir}/server1.pem"))
                .arg(format!("{tls_dir}/server1.key"));
        }
        // The sink's log (session errors) next to the messages, out of the test output.
        let log = std::fs::File::create(dir.join("sink.log")).unwrap();
        let mut child = command
            .stderr(log)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut line = String::new();
        std::io::BufReader::new(stdout)
            .read_line(&mut line)
            .unwrap();
        let sink = SmtpSink { child, port };
        if line.trim() == "READY" {
            return sink;
        }
    }
    let log = std::fs::read_to_string(dir.join("sink.log")).unwrap_or_default();
    panic!("smtp_sink.py did not start: {log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_email_per_group_reaches_a_real_smtp_server() {
    let mail = tempfile::tempdir().unwrap();
    let smtp = smtp_sink(mail.path(), false);
    let global: Global = serde_saphyr::from_str(&format!(
        "smtp_smarthost: 127.0.0.1:{}\nsmtp_from: alerts@example.org\nsmtp_require_tls: false\nsmtp_auth_username: user\nsmtp_auth_password: secret\n",
        smtp.port
    ))
    .unwrap();
    let r = receiver(
        "name: mail\nemail_configs:\n  - to: 'ops@example.org, dba@example.org'\n    send_resolved: true\n    headers:\n      X-Team: '{{ .CommonLabels.severity }}'\n",
    );
    let h = harness(std::slice::from_ref(&r), &global, options());
    let workers = h.outbox.start(h.notifiers.clone(), h.hook.clone());
    let n = notification("mail", vec![alert("a", None), alert("b", None)]);
    let ids = h.outbox.enqueue(&n, &r).unwrap();
    until("the email", || finished(&h.outbox, &ids)).await;
    let d = h.outbox.get(ids[0]).unwrap().unwrap();
    assert_eq!(d.state, DState::Delivered, "{:?}", d.attempts);
    let saved = std::fs::read_to_string(mail.path().join("1.json")).unwrap();
    assert!(!mail.path().join("2.json").exists(), "one email per group");
    let v: serde_json::Value = serde_json::from_str(&saved).unwrap();
    assert_eq!(v["mail_from"], "alerts@example.org");
    assert_eq!(
        v["rcpt_tos"],
        serde_json::json!(["ops@example.org", "dba@example.org"])
    );
    assert_eq!(v["login"], "user");
    let content = v["content"].as_str().unwrap();
    let headers = content.split("\r\n\r\n").next().unwrap();
    assert!(
        headers.contains("Subject: [FIRING:2] HighCPU (page)"),
        "{headers}"
    );
    assert!(headers.contains("From: alerts@example.org"), "{headers}");
    assert!(
        headers.contains("To: ops@example.org, dba@example.org"),
        "{headers}"
    );
    assert!(headers.contains("X-Team: page"), "{headers}");
    assert!(headers.contains("multipart/alternative"), "{headers}");
    assert!(content.contains("Content-Type: text/plain; charset=utf-8"));
    assert!(content.contains("Content-Type: text/html; charset=utf-8"));
    assert!(content.contains("Alerts Firing:"));
    assert!(content.contains(" - instance = b"));
    assert!(content.contains("View in Alertmanager"));
    assert_eq!(v["tls"], false);
    workers.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starttls_with_the_ca_file_and_auth() {
    let mail = tempfile::tempdir().unwrap();
    let smtp = smtp_sink(mail.path(), true);
    let ca = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/tls/ca.pem");
    let r = receiver(&format!(
        "name: mail\nemail_configs:\n  - to: ops@example.org\n    from: am@example.org\n    smarthost: 127.0.0.1:{}\n    auth_username: user\n    auth_password: secret\n    tls_config:\n      ca_file: {ca}\n",
        smtp.port
    ));
    let h = harness(std::slice::from_ref(&r), &Global::default(), options());
    let workers = h.outbox.start(h.notifiers.clone(), h.hook.clone());
    let ids = h
        .outbox
        .enqueue(&notification("mail", vec![alert("a", None)]), &r)
        .unwrap();
    until("the email", || finished(&h.outbox, &ids)).await;
    let d = h.outbox.get(ids[0]).unwrap().unwrap();
    assert_eq!(d.state, DState::Delivered, "{:?}", d.attempts);
    let saved = std::fs::read_to_string(mail.path().join("1.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&saved).unwrap();
    assert_eq!(v["tls"], true, "sent after STARTTLS");
    assert_eq!(v["login"], "user");
    assert!(v["content"]
        .as_str()
        .unwrap()
        .contains("Subject: [FIRING:1] HighCPU (a page)"));
    workers.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starttls_refuses_an_untrusted_certificate() {
    let mail = tempfile::tempdir().unwrap();
    let smtp = smtp_sink(mail.path(), true);
    // No ca_file: the system's roots, which do not know the test CA.
    let r = receiver(&format!(
        "name: mail\nemail_configs:\n  - to: ops@example.org\n    from: am@example.org\n    smarthost: 127.0.0.1:{}\n",
        smtp.port
    ));
    let opts = OutboxOptions {
        max_attempts: 2,
        ..options()
    };
    let h = harness(std::slice::from_ref(&r), &Global::default(), opts);
    let workers = h.outbox.start(h.notifiers.clone(), h.hook.clone());
    let ids = h
        .outbox
        .enqueue(&notification("mail", vec![alert("a", None)]), &r)
        .unwrap();
    until("giving up", || finished(&h.outbox, &ids)).await;
    let d = h.outbox.get(ids[0]).unwrap().unwrap();
    assert_eq!(d.state, DState::Failed);
    assert!(
        d.attempts[0]
            .error
            .as_deref()
            .unwrap()
            .to_lowercase()
            .contains("certificate"),
        "{:?}",
        d.attempts
    );
    assert!(!mail.path().join("1.json").exists());
    workers.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_smtp_password_is_refused_and_not_retried() {
    let mail = tempfile::tempdir().unwrap();
    let smtp = smtp_sink(mail.path(), false);
    let r = receiver(&format!(
        "name: mail\nemail_configs:\n  - to: ops@example.org\n    from: am@example.org\n    smarthost: 127.0.0.1:{}\n    require_tls: false\n    auth_username: user\n    auth_password: wrong\n",
        smtp.port
    ));
    let h = harness(std::slice::from_ref(&r), &Global::default(), options());
    let workers = h.outbox.start(h.notifiers.clone(), h.hook.clone());
    let ids = h
        .outbox
        .enqueue(&notification("mail", vec![alert("a", None)]), &r)
        .unwrap();
    until("the refusal", || finished(&h.outbox, &ids)).await;
    let d = h.outbox.get(ids[0]).unwrap().unwrap();
    assert_eq!(d.state, DState::Failed, "{:?}", d.attempts);
    assert_eq!(d.attempts.len(), 1, "{:?}", d.attempts);
    assert_eq!(d.attempts[0].status, Some(535));
    until("the meta-alert", || !h.meta.lock().is_empty()).await;
    assert_eq!(h.meta.lock()[0].labels["integration"], "email");
    assert!(!mail.path().join("1.json").exists());
    workers.shutdown().await;
}

/// An https receiver (tokio-rustls with the test certificate `server1`, HTTP/1.1 by
/// hand): records each request's head and answers 200.
async fn serve_https() -> (SocketAddr, Arc<Mutex<Vec<String>>>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/tls");
    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_file_iter(format!("{dir}/server1.pem"))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
    let key = PrivateKeyDer::from_pem_file(format!("{dir}/server1.key")).unwrap();
    #[allow(deprecated)]
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = tokio_rustls::rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let heads = Arc::new(Mutex::new(Vec::new()));
    let seen = heads.clone();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            let seen = seen.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                // the head, then as many body bytes as Content-Length says
                loop {
                    let Ok(n) = tls.read(&mut chunk).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    let text = String::from_utf8_lossy(&buf).to_string();
                    if let Some(end) = text.find("\r\n\r\n") {
                        let head = text[..end].to_lowercase();
                        let length: usize = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .map(|v| v.trim().parse().unwrap())
                            .unwrap_or(0);
                        if buf.len() >= end + 4 + length {
                            seen.lock().push(text[..end].to_string());
                            break;
                        }
                    }
                }
                let _ = tls
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                    .await;
                let _ = tls.shutdown().await;
            });
        }
    });
    (addr, heads)
}

/// `http_config`: basic auth (password from a file) and the test CA over https; without
/// the CA, or with another `server_name`, the certificate is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_http_config_auth_and_tls() {
    let (addr, heads) = serve_https().await;
    let secrets = tempfile::tempdir().unwrap();
    let password_file = secrets.path().join("password");
    std::fs::write(&password_file, "s3cret\n").unwrap();
    let ca = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/tls/ca.pem");
    let r = receiver(&format!(
        "name: tls\nwebhook_configs:\n  - url: https://{addr}/ok\n    http_config:\n      basic_auth: {{username: am, password_file: {}}}\n      tls_config: {{ca_file: {ca}}}\n  - url: https://{addr}/unknown-ca\n  - url: https://{addr}/wrong-name\n    http_config:\n      tls_config: {{ca_file: {ca}, server_name: other.example}}\n",
        password_file.display()
    ));
    let opts = OutboxOptions {
        max_attempts: 1,
        ..options()
    };
    let h = harness(std::slice::from_ref(&r), &Global::default(), opts);
    let workers = h.outbox.start(h.notifiers.clone(), h.hook.clone());
    let ids = h
        .outbox
        .enqueue(&notification("tls", vec![alert("a", None)]), &r)
        .unwrap();
    until("all three", || finished(&h.outbox, &ids)).await;
    let ok = h.outbox.get(ids[0]).unwrap().unwrap();
    assert_eq!(ok.state, DState::Delivered, "{:?}", ok.attempts);
    let heads = heads.lock().clone();
    assert_eq!(heads.len(), 1, "only the trusted one got through");
    assert!(heads[0].starts_with("POST /ok HTTP/1.1"));
    // base64("am:s3cret")
    assert!(
        heads[0]
            .to_lowercase()
            .contains("authorization: basic yw06cznjcmv0"),
        "{}",
        heads[0]
    );
    for id in &ids[1..] {
        let d = h.outbox.get(*id).unwrap().unwrap();
        assert_eq!(d.state, DState::Failed);
        let e = d.attempts[0].error.clone().unwrap();
        assert!(
            e.contains("certificate") || e.contains("UnknownIssuer"),
            "{e}"
        );
    }
    until("the meta-alerts", || h.meta.lock().len() >= 2).await;
    assert_eq!(h.meta.lock().len(), 2);
    workers.shutdown().await;
}

/// PagerDuty's `routing_key_file`, `authorization`, `images` and `links`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pagerduty_key_file_authorization_images_and_links() {
    let (addr, sink) = serve(vec![Some((202, None))]).await;
    let secrets = tempfile::tempdir().unwrap();
    let key_file = secrets.path().join("key");
    std::fs::write(&key_file, "FR0M-F1LE\n").unwrap();
    let r = receiver(&format!(
        "name: pd\npagerduty_configs:\n  - routing_key_file: {}\n    url: http://{addr}/enqueue\n    http_config:\n      authorization: {{credentials: t0ken}}\n    images:\n      - {{src: 'http://img/{{{{ .GroupLabels.alertname }}}}.png', alt: graph}}\n      - {{alt: no-src}}\n    links:\n      - {{href: 'http://runbook/x', text: Runbook}}\n",
        key_file.display()
    ));
    let h = harness(std::slice::from_ref(&r), &Global::default(), options());
    let workers = h.outbox.start(h.notifiers.clone(), h.hook.clone());
    let ids = h
        .outbox
        .enqueue(&notification("pd", vec![alert("a", None)]), &r)
        .unwrap();
    until("the event", || finished(&h.outbox, &ids)).await;
    let q = sink.requests.lock()[0].clone();
    assert_eq!(q.headers["authorization"], "Bearer t0ken");
    let e: serde_json::Value = serde_json::from_slice(&q.body).unwrap();
    assert_eq!(e["routing_key"], "FR0M-F1LE");
    assert_eq!(e["payload"]["severity"], "error");
    assert_eq!(
        e["images"],
        serde_json::json!([{"src": "http://img/HighCPU.png", "alt": "graph"}])
    );
    assert_eq!(
        e["links"],
        serde_json::json!([{"href": "http://runbook/x", "text": "Runbook"}])
    );
    workers.shutdown().await;
}

/// `enqueue_in`: the deliveries commit with the caller's own table, or not at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enqueue_in_commits_with_the_callers_transaction() {
    const LOG: redb::TableDefinition<&str, u64> = redb::TableDefinition::new("nflog_test");
    let (addr, sink) = serve(vec![]).await;
    let r = receiver(&format!(
        "name: t\nwebhook_configs:\n  - url: http://{addr}/\n"
    ));
    let dir = tempfile::tempdir().unwrap();
    let db = Arc::new(redb::Database::create(dir.path().join("a.redb")).unwrap());
    let outbox = Arc::new(Outbox::open(db.clone(), options()).unwrap());
    let n = notification("t", vec![alert("a", None)]);
    // aborted: nothing enqueued
    let tx = db.begin_write().unwrap();
    assert_eq!(outbox.enqueue_in(&tx, &n, &r).unwrap().len(), 1);
    tx.abort().unwrap();
    assert_eq!(outbox.pending().unwrap(), 0);
    // committed with the caller's row
    let tx = db.begin_write().unwrap();
    let ids = outbox.enqueue_in(&tx, &n, &r).unwrap();
    tx.open_table(LOG).unwrap().insert("t", 1).unwrap();
    tx.commit().unwrap();
    outbox.wake();
    let notifiers = Arc::new(Notifiers::new(std::slice::from_ref(&r), &Global::default()).unwrap());
    let workers = outbox.start(notifiers, Arc::new(|_| {}));
    until("delivery", || finished(&outbox, &ids)).await;
    assert_eq!(sink.requests.lock().len(), 1);
    workers.shutdown().await;
}

/// Many deliveries due at once and more workers than cores: each delivery is attempted
/// exactly once. A worker must never claim a delivery from a snapshot taken before
/// another worker committed its attempt (that sends it twice and schedules it twice).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_workers_attempt_each_delivery_once() {
    let (addr, sink) = serve(vec![]).await;
    let r = receiver(&format!(
        "name: t\nwebhook_configs:\n  - url: http://{addr}/\n"
    ));
    let dir = tempfile::tempdir().unwrap();
    let db = Arc::new(redb::Database::create(dir.path().join("a.redb")).unwrap());
    let opts = OutboxOptions {
        workers: 8,
        ..options()
    };
    let outbox = Arc::new(Outbox::open(db.clone(), opts).unwrap());
    let keys: Vec<String> = (0..200)
        .map(|i| format!("{{}}:{{alertname=\"A{i:03}\"}}"))
        .collect();
    let tx = db.begin_write().unwrap();
    let mut ids = Vec::new();
    for key in &keys {
        let n = Notification {
            group_key: key.clone(),
            ..notification("t", vec![alert("a", None)])
        };
        ids.extend(outbox.enqueue_in(&tx, &n, &r).unwrap());
    }
    tx.commit().unwrap();
    let notifiers = Arc::new(Notifiers::new(std::slice::from_ref(&r), &Global::default()).unwrap());
    let workers = outbox.start(notifiers, Arc::new(|_| {}));
    until("every delivery", || finished(&outbox, &ids)).await;
    for id in &ids {
        let d = outbox.get(*id).unwrap().unwrap();
        assert_eq!(d.state, DState::Delivered);
        assert_eq!(d.attempts.len(), 1, "delivery {id}: {:?}", d.attempts);
    }
    assert_eq!(outbox.pending().unwrap(), 0, "no delivery scheduled twice");
    let received: Vec<String> = sink
        .requests
        .lock()
        .iter()
        .map(|q| {
            let v: serde_json::Value = serde_json::from_slice(&q.body).unwrap();
            v["groupKey"].as_str().unwrap().to_string()
        })
        .collect();
    let mut times: std::collections::BTreeMap<String, usize> = std::collections::BTreeMap::new();
    for key in received {
        *times.entry(key).or_default() += 1;
    }
    let not_once: Vec<_> = times.iter().filter(|(_, n)| **n != 1).collect();
    assert!(not_once.is_empty(), "sent more than once: {not_once:?}");
    assert_eq!(times.len(), keys.len(), "each sent");
    workers.shutdown().await;
}

/// Workers shut down mid-attempt and started again on the same outbox: the abandoned
/// delivery is due again and delivered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_attempt_abandoned_by_shutdown_is_made_again_by_the_next_start() {
    let (addr, sink) = serve(vec![None]).await;
    let r = receiver(&format!(
        "name: t\nwebhook_configs:\n  - url: http://{addr}/\n"
    ));
    let opts = OutboxOptions {
        attempt_timeout: Duration::from_secs(600),
        ..options()
    };
    let h = harness(std::slice::from_ref(&r), &Global::default(), opts);
    let ids = h
        .outbox
        .enqueue(&notification("t", vec![alert("a", None)]), &r)
        .unwrap();
    let workers = h.outbox.start(h.notifiers.clone(), h.hook.clone());
    until("the attempt in flight", || sink.requests.lock().len() == 1).await;
    workers.shutdown().await;
    let workers = h.outbox.start(h.notifiers.clone(), h.hook.clone());
    until("delivery", || finished(&h.outbox, &ids)).await;
    let d = h.outbox.get(ids[0]).unwrap().unwrap();
    assert_eq!(d.state, DState::Delivered);
    // the abandoned attempt left no record: one attempt, the second request
    assert_eq!(d.attempts.len(), 1, "{:?}", d.attempts);
    assert_eq!(sink.requests.lock().len(), 2);
    workers.shutdown().await;
}
