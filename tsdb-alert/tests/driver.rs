//! The tokio driver on the system clock: posted alerts reach the sink after group_wait,
//! stored in the transaction that logs them.

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tsdb_alert::config::Config;
use tsdb_alert::manager::{run, system_now_ms, Manager, ManagerOptions, NotificationSink};
use tsdb_alert::model::{Alert, Notification};

struct Collect {
    stored: Arc<Mutex<Vec<String>>>,
    committed: tokio::sync::mpsc::UnboundedSender<Notification>,
}

impl NotificationSink for Collect {
    fn store(&mut self, _txn: &redb::WriteTransaction, ns: &[Notification]) -> Result<(), String> {
        self.stored
            .lock()
            .extend(ns.iter().map(|n| n.group_key.clone()));
        Ok(())
    }

    fn committed(&mut self, ns: &[Notification]) {
        for n in ns {
            let _ = self.committed.send(n.clone());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_driver_flushes_after_group_wait() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let db = Arc::new(
        redb::Database::create(dir.path().join("am.redb")).unwrap_or_else(|e| panic!("{e}")),
    );
    let cfg = Config::parse(
        "route: {receiver: r, group_by: [alertname], group_wait: 200ms}\nreceivers: [{name: r}]\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let now = system_now_ms();
    let m = Arc::new(Mutex::new(
        Manager::open(cfg, db, ManagerOptions::default(), now).unwrap_or_else(|e| panic!("{e}")),
    ));
    let (wake, shutdown) = (
        Arc::new(tokio::sync::Notify::new()),
        Arc::new(tokio::sync::Notify::new()),
    );
    let stored = Arc::new(Mutex::new(Vec::new()));
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let sink = Collect {
        stored: stored.clone(),
        committed: tx,
    };
    let task = tokio::spawn(run(m.clone(), wake.clone(), shutdown.clone(), sink));
    let alert = Alert {
        labels: [("alertname".to_owned(), "X".to_owned())]
            .into_iter()
            .collect(),
        annotations: Default::default(),
        starts_at_ms: now,
        ends_at_ms: None,
        generator_url: String::new(),
        updated_at_ms: now,
    };
    m.lock()
        .put_alerts(vec![alert], now)
        .unwrap_or_else(|e| panic!("{e}"));
    wake.notify_one();
    let n = tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .unwrap_or_else(|e| panic!("no notification: {e}"))
        .unwrap_or_else(|| panic!("sink closed"));
    assert!(system_now_ms() >= now + 200, "sent before group_wait");
    assert_eq!(n.group_key, "{}:{alertname=\"X\"}");
    assert_eq!(stored.lock().as_slice(), ["{}:{alertname=\"X\"}"]);
    assert_eq!(m.lock().nflog().len(), 1);
    shutdown.notify_one();
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .unwrap_or_else(|e| panic!("driver did not stop: {e}"))
        .unwrap_or_else(|e| panic!("{e}"));
}
