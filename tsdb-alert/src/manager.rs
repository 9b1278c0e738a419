//! The alert manager: known alerts, the dispatcher, inhibition, silences, time intervals
//! and the notification log put together, driven by the caller's clock.
//!
//! [`Manager`] is synchronous: every method takes `now_ms`, so tests drive it with a fake
//! clock and the server drives it with [`run`] (a small tokio loop). Its pipeline is
//! Alertmanager's: a group flush drops out while a `mute_time_interval` contains the
//! moment (or no `active_time_interval` does), inhibited and silenced alerts are removed,
//! and the notification log decides whether what is left is news
//! ([`crate::nflog::needs_update`]). What is sent becomes a [`Notification`] per receiver.
//!
//! Durability: posted alerts are written to redb before `put_alerts` returns; a tick's
//! notification-log entries are committed in one transaction together with whatever the
//! caller stores for the notifications (the outbox's rows: [`Manager::tick_with`]), so a
//! notification is either logged and queued, or neither (and flushed again next tick).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use redb::{ReadableDatabase, ReadableTable};
use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::dispatch::{Dispatcher, Flush};
use crate::inhibit::Inhibitor;
use crate::model::{Alert, Fingerprint, LabelSet, Notification};
use crate::nflog::{needs_update, Entry, NotificationLog};
use crate::receiver::Receiver;
use crate::route::Route;
use crate::silence::{Silences, DEFAULT_RETENTION_MS};
use crate::store::{StoreError, ALERTS};
use crate::timeinterval::NamedTimeInterval;

/// Whether a receiver wants resolved notifications (so that a newly resolved alert is
/// news for it). The notifiers' settings decide; see [`ManagerOptions::send_resolved`].
pub type SendResolved = Arc<dyn Fn(&Receiver) -> bool + Send + Sync>;

/// How the manager runs.
#[derive(Clone)]
pub struct ManagerOptions {
    /// The manager's external URL (links in notifications, `externalURL` in webhooks).
    pub external_url: String,
    /// How long expired silences and notification-log entries are kept (default 120h).
    pub retention_ms: i64,
    /// Whether a receiver wants resolved notifications; by default
    /// [`receiver_sends_resolved`]. Alertmanager decides per integration
    /// (`send_resolved`); the outbox drops resolved alerts for integrations that do not
    /// want them.
    pub send_resolved: SendResolved,
    /// The version shown by the status API.
    pub version: String,
}

impl Default for ManagerOptions {
    fn default() -> Self {
        ManagerOptions {
            external_url: String::new(),
            retention_ms: DEFAULT_RETENTION_MS,
            send_resolved: Arc::new(receiver_sends_resolved),
            version: env!("CARGO_PKG_VERSION").to_owned(),
        }
    }
}

impl std::fmt::Debug for ManagerOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ManagerOptions")
            .field("external_url", &self.external_url)
            .field("retention_ms", &self.retention_ms)
            .field("version", &self.version)
            .finish()
    }
}

/// Whether some integration of `r` sends resolved notifications (a receiver without
/// integrations counts as sending them: it sends nothing either way). The notification
/// log is kept per receiver, so a newly resolved alert is news for the receiver when any
/// of its integrations wants it.
pub fn receiver_sends_resolved(r: &Receiver) -> bool {
    r.integration_count() == 0
        || r.webhook_configs.iter().any(|c| c.send_resolved)
        || r.pagerduty_configs.iter().any(|c| c.send_resolved)
        || r.email_configs.iter().any(|c| c.send_resolved)
        || r.phone_configs.iter().any(|c| c.send_resolved)
}

/// A known alert as stored: its end is always set (`now + resolve_timeout` when the
/// sender gave none, with `timeout` true), as in Alertmanager's provider.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredAlert {
    /// The alert, `ends_at_ms` set.
    pub alert: Alert,
    /// Whether the end is a resolve timeout rather than the sender's.
    pub timeout: bool,
}

/// An alert's suppression at some moment.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AlertStatus {
    /// Ids of the active silences muting it.
    pub silenced_by: Vec<String>,
    /// Fingerprints of the alerts inhibiting it.
    pub inhibited_by: Vec<String>,
}

impl AlertStatus {
    /// `"suppressed"` if silenced or inhibited, else `"active"`.
    pub fn state(&self) -> &'static str {
        if self.silenced_by.is_empty() && self.inhibited_by.is_empty() {
            "active"
        } else {
            "suppressed"
        }
    }
}

/// A tick failed: the store, or the caller's part of the transaction. Nothing was logged;
/// the due groups flush again at the next tick.
#[derive(Debug, thiserror::Error)]
pub enum TickError<E> {
    /// The manager's store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The caller's `store` failed.
    #[error("storing notifications: {0}")]
    Sink(E),
}

/// The alert manager's state.
pub struct Manager {
    db: Arc<redb::Database>,
    config: Config,
    options: ManagerOptions,
    inhibitor: Inhibitor,
    intervals: BTreeMap<String, NamedTimeInterval>,
    alerts: BTreeMap<Fingerprint, StoredAlert>,
    dispatcher: Dispatcher,
    silences: Silences,
    nflog: NotificationLog,
    started_at_ms: i64,
    last_gc_ms: i64,
}

impl std::fmt::Debug for Manager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Manager")
            .field("alerts", &self.alerts.len())
            .field("silences", &self.silences)
            .field("nflog", &self.nflog)
            .finish()
    }
}

/// How often expired silences, log entries and resolved alerts are dropped.
const GC_INTERVAL_MS: i64 = 60_000;

impl Manager {
    /// Opens the manager on `db` (creating its `am_*` tables), loading silences, the
    /// notification log and the known alerts, which go back into their groups.
    pub fn open(
        config: Config,
        db: Arc<redb::Database>,
        options: ManagerOptions,
        now_ms: i64,
    ) -> Result<Manager, StoreError> {
        crate::store::ensure_tables(&db)?;
        let silences = Silences::open(db.clone(), options.retention_ms)?;
        let nflog = NotificationLog::open(db.clone(), options.retention_ms)?;
        let mut alerts = BTreeMap::new();
        {
            let txn = db.begin_read()?;
            let table = txn.open_table(ALERTS)?;
            for row in table.iter()? {
                let (k, v) = row?;
                let stored: StoredAlert = serde_json::from_slice(v.value())?;
                alerts.insert(Fingerprint(k.value()), stored);
            }
        }
        let mut m = Manager {
            db,
            inhibitor: Inhibitor::new(&config.inhibit_rules),
            intervals: intervals(&config),
            dispatcher: Dispatcher::new(Route::new(&config.route)),
            config,
            options,
            alerts,
            silences,
            nflog,
            started_at_ms: now_ms,
            last_gc_ms: now_ms,
        };
        m.redispatch(now_ms);
        Ok(m)
    }

    /// Rebuilds the groups and the inhibition source caches from the known alerts.
    fn redispatch(&mut self, now_ms: i64) {
        let mut d = Dispatcher::new(Route::new(&self.config.route));
        let mut ih = Inhibitor::new(&self.config.inhibit_rules);
        for s in self.alerts.values() {
            d.insert(&s.alert, now_ms);
            ih.observe(&s.alert);
        }
        self.dispatcher = d;
        self.inhibitor = ih;
    }

    /// Applies a new configuration: the route tree is rebuilt and every known alert is
    /// dispatched again (groups restart their timers; the notification log keeps what was
    /// already sent from being sent again), as Alertmanager does on reload.
    pub fn reload(&mut self, config: Config, now_ms: i64) {
        self.intervals = intervals(&config);
        self.config = config;
        self.redispatch(now_ms);
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The options.
    pub fn options(&self) -> &ManagerOptions {
        &self.options
    }

    /// When the manager was opened (Unix ms).
    pub fn started_at_ms(&self) -> i64 {
        self.started_at_ms
    }

    /// Takes alerts from a sender (Alertmanager's `Put`): each is stamped `updated_at =
    /// now`, given an end of `now + resolve_timeout` if it has none, merged with the known
    /// alert of the same fingerprint when their times overlap, stored, then dispatched.
    /// The caller validates first (see [`crate::api::post_alerts`]).
    pub fn put_alerts(&mut self, alerts: Vec<Alert>, now_ms: i64) -> Result<(), StoreError> {
        let mut merged = Vec::with_capacity(alerts.len());
        for mut alert in alerts {
            alert.updated_at_ms = now_ms;
            let timeout = alert.ends_at_ms.is_none();
            if timeout {
                alert.ends_at_ms = Some(now_ms.saturating_add(self.config.resolve_timeout_ms));
            }
            let mut new = StoredAlert { alert, timeout };
            let fp = new.alert.fingerprint();
            if let Some(old) = self.alerts.get(&fp) {
                if overlaps(&old.alert, &new.alert) {
                    new = merge(old, new, now_ms);
                }
            }
            merged.push((fp, new));
        }
        let txn = self.db.begin_write()?;
        {
            let mut table = txn.open_table(ALERTS)?;
            for (fp, s) in &merged {
                let bytes = serde_json::to_vec(s)?;
                table.insert(fp.0, bytes.as_slice())?;
            }
        }
        txn.commit()?;
        for (fp, s) in merged {
            self.dispatcher.insert(&s.alert, now_ms);
            self.inhibitor.observe(&s.alert);
            self.alerts.insert(fp, s);
        }
        Ok(())
    }

    /// The known alerts by fingerprint (resolved ones until collected).
    pub fn alerts(&self) -> &BTreeMap<Fingerprint, StoredAlert> {
        &self.alerts
    }

    /// The dispatcher (its route tree and groups).
    pub fn dispatcher(&self) -> &Dispatcher {
        &self.dispatcher
    }

    /// The silences.
    pub fn silences(&self) -> &Silences {
        &self.silences
    }

    /// The silences, to create, update or expire them.
    pub fn silences_mut(&mut self) -> &mut Silences {
        &mut self.silences
    }

    /// The notification log.
    pub fn nflog(&self) -> &NotificationLog {
        &self.nflog
    }

    /// The receivers of the routes `labels` ends at, in match order.
    pub fn receivers_for(&self, labels: &LabelSet) -> Vec<String> {
        self.dispatcher
            .route()
            .matches(labels)
            .into_iter()
            .map(|r| r.opts.receiver.clone())
            .collect()
    }

    /// Whether `labels` is silenced or inhibited at `now_ms`.
    pub fn status(&self, labels: &LabelSet, now_ms: i64) -> AlertStatus {
        let inhibited_by = self
            .inhibitor
            .inhibited_by(labels, now_ms)
            .map(|fp| vec![fp.to_string()])
            .unwrap_or_default();
        AlertStatus {
            silenced_by: self.silences.mutes(labels, now_ms),
            inhibited_by,
        }
    }

    /// When [`Manager::tick`] has work next (a group flush), if ever.
    pub fn next_wakeup_ms(&self) -> Option<i64> {
        self.dispatcher.next_flush_ms()
    }

    /// Flushes the groups due at `now_ms` and returns the notifications to send, with
    /// their log entries committed. Use [`Manager::tick_with`] to store the notifications
    /// in the same transaction.
    pub fn tick(&mut self, now_ms: i64) -> Result<Vec<Notification>, StoreError> {
        self.tick_with(now_ms, |_, _| Ok::<(), StoreError>(()))
            .map_err(|e| match e {
                TickError::Store(e) | TickError::Sink(e) => e,
            })
    }

    /// [`Manager::tick`], with `store` called inside the write transaction that logs the
    /// notifications, before it commits: what `store` writes (the outbox) and the log
    /// commit together or not at all. `store` must write through the transaction it is
    /// given (a second write transaction would wait for this one forever).
    pub fn tick_with<E>(
        &mut self,
        now_ms: i64,
        store: impl FnOnce(&redb::WriteTransaction, &[Notification]) -> Result<(), E>,
    ) -> Result<Vec<Notification>, TickError<E>> {
        let flushes = self.dispatcher.due(now_ms);
        let mut notifications = Vec::new();
        let mut updates: Vec<(String, String, Entry)> = Vec::new();
        for flush in &flushes {
            if let Some((n, entry)) = self.pipeline(flush) {
                updates.push((flush.group_key.clone(), flush.opts.receiver.clone(), entry));
                notifications.extend(n);
            }
        }
        let gc_due = now_ms.saturating_sub(self.last_gc_ms) >= GC_INTERVAL_MS;
        if !flushes.is_empty() {
            let committed = (|| -> Result<(), TickError<E>> {
                let txn = self.db.begin_write().map_err(StoreError::from)?;
                self.nflog.write(&txn, &updates)?;
                store(&txn, &notifications).map_err(TickError::Sink)?;
                txn.commit().map_err(StoreError::from)?;
                Ok(())
            })();
            if let Err(e) = committed {
                self.dispatcher.retry(&flushes);
                return Err(e);
            }
            self.nflog.applied(updates);
            self.dispatcher.flushed(&flushes);
        }
        if gc_due {
            self.last_gc_ms = now_ms;
            self.gc(now_ms)?;
        }
        Ok(notifications)
    }

    /// One flush through the pipeline: the notification (if any) and the log entry (if
    /// the log changes).
    fn pipeline(&self, flush: &Flush) -> Option<(Option<Notification>, Entry)> {
        let now = flush.now_ms;
        let inside = |name: &String| self.intervals.get(name).is_some_and(|t| t.contains(now));
        if flush.opts.mute_time_intervals.iter().any(inside) {
            return None;
        }
        if !flush.opts.active_time_intervals.is_empty()
            && !flush.opts.active_time_intervals.iter().any(inside)
        {
            return None;
        }
        let alerts: Vec<&Alert> = flush
            .alerts
            .iter()
            .filter(|a| {
                let st = self.status(&a.labels, now);
                st.silenced_by.is_empty() && st.inhibited_by.is_empty()
            })
            .collect();
        if alerts.is_empty() {
            return None;
        }
        let (resolved, firing): (Vec<&Alert>, Vec<&Alert>) =
            alerts.iter().partition(|a| a.is_resolved_at(now));
        let firing_set: BTreeSet<u64> = firing.iter().map(|a| a.fingerprint().0).collect();
        let resolved_set: BTreeSet<u64> = resolved.iter().map(|a| a.fingerprint().0).collect();
        let receiver = flush.opts.receiver.as_str();
        let send_resolved = self
            .config
            .receiver(receiver)
            .is_none_or(|r| (self.options.send_resolved)(r));
        let entry = self.nflog.get(&flush.group_key, receiver);
        if !needs_update(
            entry,
            &firing_set,
            &resolved_set,
            flush.opts.repeat_interval_ms,
            send_resolved,
            now,
        ) {
            return None;
        }
        let sent: Vec<Alert> = alerts
            .iter()
            .filter(|a| send_resolved || !a.is_resolved_at(now))
            .map(|a| (*a).clone())
            .collect();
        let notification = (!sent.is_empty()).then(|| Notification {
            receiver: receiver.to_owned(),
            group_key: flush.group_key.clone(),
            group_labels: flush.group_labels.clone(),
            alerts: sent,
            truncated_alerts: 0,
            external_url: self.options.external_url.clone(),
            flushed_at_ms: now,
        });
        Some((
            notification,
            self.nflog.entry(firing_set, resolved_set, now),
        ))
    }

    /// Drops expired silences and log entries, and resolved alerts no group holds.
    fn gc(&mut self, now_ms: i64) -> Result<(), StoreError> {
        self.silences.gc(now_ms)?;
        self.nflog.gc(now_ms)?;
        let dead: Vec<Fingerprint> = self
            .alerts
            .iter()
            .filter(|(fp, s)| s.alert.is_resolved_at(now_ms) && !self.dispatcher.holds(**fp))
            .map(|(fp, _)| *fp)
            .collect();
        if dead.is_empty() {
            return Ok(());
        }
        let txn = self.db.begin_write()?;
        {
            let mut table = txn.open_table(ALERTS)?;
            for fp in &dead {
                table.remove(fp.0)?;
            }
        }
        txn.commit()?;
        for fp in dead {
            self.alerts.remove(&fp);
            self.inhibitor.forget(fp);
        }
        Ok(())
    }
}

fn intervals(config: &Config) -> BTreeMap<String, NamedTimeInterval> {
    config
        .time_intervals
        .iter()
        .map(|t| (t.name.clone(), t.clone()))
        .collect()
}

/// Alertmanager's provider merges a new version with the old one when their times
/// overlap: the new end falls inside the old alert, or the new start does.
fn overlaps(old: &Alert, new: &Alert) -> bool {
    let (os, oe) = (old.starts_at_ms, old.ends_at_ms.unwrap_or(i64::MAX));
    let (ns, ne) = (new.starts_at_ms, new.ends_at_ms.unwrap_or(i64::MAX));
    (ne > os && ne < oe) || (ns > os && ns < oe)
}

/// Alertmanager's `Alert.Merge`, `new` being the younger: the earliest start wins; an
/// explicit end later than the new one wins over a timeout.
fn merge(old: &StoredAlert, new: StoredAlert, now_ms: i64) -> StoredAlert {
    let mut res = new;
    if old.alert.starts_at_ms < res.alert.starts_at_ms {
        res.alert.starts_at_ms = old.alert.starts_at_ms;
    }
    let (old_end, new_end) = (
        old.alert.ends_at_ms.unwrap_or(i64::MAX),
        res.alert.ends_at_ms.unwrap_or(i64::MAX),
    );
    if res.alert.is_resolved_at(now_ms) {
        if old.alert.is_resolved_at(now_ms) && old_end > new_end {
            res.alert.ends_at_ms = old.alert.ends_at_ms;
        }
    } else if old_end > new_end && !old.timeout {
        res.alert.ends_at_ms = old.alert.ends_at_ms;
    }
    res
}

/// Something that stores the manager's notifications durably (the outbox: a sink calls
/// `Outbox::enqueue_in` for each notification's receiver).
pub trait NotificationSink: Send {
    /// Stores `notifications` in `txn`, the transaction that logs them as sent. Write
    /// through `txn` only: redb allows one write transaction at a time, so beginning
    /// another here would wait forever.
    fn store(
        &mut self,
        txn: &redb::WriteTransaction,
        notifications: &[Notification],
    ) -> Result<(), String>;

    /// Called once the transaction committed (e.g. to wake delivery workers).
    fn committed(&mut self, _notifications: &[Notification]) {}
}

/// Unix ms now, from the system clock.
pub fn system_now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Drives a shared manager on the system clock until `shutdown` is notified: sleeps until
/// the next flush (at most a second, or until `wake` is notified, e.g. after alerts were
/// posted), ticks, and hands notifications to `sink`. Store errors are logged and retried
/// at the next tick.
pub async fn run(
    manager: Arc<parking_lot::Mutex<Manager>>,
    wake: Arc<tokio::sync::Notify>,
    shutdown: Arc<tokio::sync::Notify>,
    sink: impl NotificationSink + 'static,
) {
    let sink = Arc::new(parking_lot::Mutex::new(sink));
    loop {
        let now = system_now_ms();
        let next = manager.lock().next_wakeup_ms().unwrap_or(now + 1_000);
        let wait = u64::try_from(next.saturating_sub(now).clamp(0, 1_000)).unwrap_or(1_000);
        tokio::select! {
            _ = tokio::time::sleep(std::time::Duration::from_millis(wait)) => {}
            _ = wake.notified() => {}
            _ = shutdown.notified() => return,
        }
        let now = system_now_ms();
        // a tick commits (fsyncs) under the manager's lock: on a blocking thread, not on
        // one of the runtime's, so the rest of the process keeps being served meanwhile
        let (m, s) = (manager.clone(), sink.clone());
        let ticked = tokio::task::spawn_blocking(move || {
            m.lock().tick_with(now, |txn, ns| s.lock().store(txn, ns))
        })
        .await;
        let result = match ticked {
            Ok(result) => result,
            Err(e) => {
                // a bug; nothing was committed, so the flush is retried at the next tick
                tracing::error!(error = %e, "alert manager tick panicked; retrying");
                continue;
            }
        };
        match result {
            Ok(ns) if !ns.is_empty() => sink.lock().committed(&ns),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "alert manager tick failed; retrying"),
        }
    }
}
