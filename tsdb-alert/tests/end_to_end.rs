//! The manager, its driver and the outbox together on 127.0.0.1: a posted alert reaches
//! a webhook once; after a restart on the same redb file it is not sent again; its
//! resolution is.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde_json::Value;
use tsdb_alert::api;
use tsdb_alert::config::Config;
use tsdb_alert::manager::{run, system_now_ms, Manager, ManagerOptions};
use tsdb_alert::notify::Notifiers;
use tsdb_alert::outbox::{MetaAlertHook, Outbox, OutboxOptions, OutboxSink};

/// A webhook receiver on 127.0.0.1 collecting the JSON bodies posted to it.
fn webhook_sink() -> (String, Arc<Mutex<Vec<Value>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
    let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
    let got = Arc::new(Mutex::new(Vec::new()));
    let sink = got.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let Ok(read_half) = stream.try_clone() else {
                continue;
            };
            let mut reader = BufReader::new(read_half);
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

/// One life of the alert manager on the database file at `path`: runs `during` with the
/// manager, then stops everything and closes the database.
async fn life(path: &Path, text: &str, during: impl AsyncFnOnce(&Arc<Mutex<Manager>>)) {
    let db = Arc::new(redb::Database::create(path).unwrap_or_else(|e| panic!("{e}")));
    let cfg = Config::parse(text).unwrap_or_else(|e| panic!("{e}"));
    let notifiers =
        Arc::new(Notifiers::new(&cfg.receivers, &cfg.global).unwrap_or_else(|e| panic!("{e}")));
    let outbox = Arc::new(
        Outbox::open(db.clone(), OutboxOptions::default()).unwrap_or_else(|e| panic!("{e}")),
    );
    let hook: MetaAlertHook = Arc::new(|_| {});
    let workers = outbox.start(notifiers.clone(), hook);
    let manager = Arc::new(Mutex::new(
        Manager::open(cfg, db, ManagerOptions::default(), system_now_ms())
            .unwrap_or_else(|e| panic!("{e}")),
    ));
    let (wake, shutdown) = (
        Arc::new(tokio::sync::Notify::new()),
        Arc::new(tokio::sync::Notify::new()),
    );
    let driver = tokio::spawn(run(
        manager.clone(),
        wake.clone(),
        shutdown.clone(),
        OutboxSink {
            outbox: outbox.clone(),
            notifiers,
        },
    ));
    during(&manager).await;
    shutdown.notify_one();
    let _ = driver.await;
    workers.shutdown().await;
}

async fn until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paged_once_across_a_restart_then_resolved() {
    let (hook, received) = webhook_sink();
    let text = format!(
        "route: {{receiver: hook, group_by: [alertname], group_wait: 100ms, group_interval: 1s}}\n\
         receivers:\n- name: hook\n  webhook_configs: [{{url: '{hook}'}}]\n"
    );
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = dir.path().join("alerts.redb");
    let alert = r#"[{"labels": {"alertname": "DiskFull", "instance": "db1"}}]"#;

    life(&path, &text, async |m| {
        let r = api::post_alerts(&mut m.lock(), alert.as_bytes(), system_now_ms());
        assert_eq!(r.status, 200);
        until("the page", || received.lock().len() == 1).await;
        // Flushes every second from now on find nothing new.
        tokio::time::sleep(Duration::from_millis(2_500)).await;
    })
    .await;
    let first = received.lock()[0].clone();
    assert_eq!(first["status"], "firing");
    assert_eq!(first["receiver"], "hook");
    assert_eq!(first["groupKey"], "{}:{alertname=\"DiskFull\"}");
    assert_eq!(first["alerts"][0]["labels"]["instance"], "db1");
    assert_eq!(received.lock().len(), 1);

    life(&path, &text, async |m| {
        // The known alert is back in its group and flushed at once: not news.
        assert_eq!(m.lock().alerts().len(), 1);
        tokio::time::sleep(Duration::from_millis(2_500)).await;
        assert_eq!(received.lock().len(), 1, "paged again after the restart");
        let now = system_now_ms();
        let resolved = format!(
            r#"[{{"labels": {{"alertname": "DiskFull", "instance": "db1"}}, "endsAt": "{}"}}]"#,
            api::datetime(now)
        );
        assert_eq!(
            api::post_alerts(&mut m.lock(), resolved.as_bytes(), now).status,
            200
        );
        until("the resolution", || received.lock().len() == 2).await;
    })
    .await;
    let second = received.lock()[1].clone();
    assert_eq!(second["status"], "resolved");
    assert_eq!(
        second["alerts"][0]["fingerprint"],
        first["alerts"][0]["fingerprint"]
    );
}
