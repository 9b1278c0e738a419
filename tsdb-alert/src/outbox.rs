//! The durable outbox: every notification is written to redb, one delivery per
//! integration (per number for phones), in one committed (fsynced) transaction before any
//! attempt; delivery workers then attempt each delivery, record every attempt, and either
//! complete it, reschedule it with exponential backoff and jitter, or give up and raise
//! a meta-alert. A crash or restart loses nothing: a delivery stays due until an attempt
//! that the receiver acknowledged is committed, so duplicates happen only where the
//! receiver never acknowledged (at least once).
//!
//! Tables (all prefixed `outbox_`, in the caller's database):
//! - `outbox_deliveries`: id → the delivery as JSON (target, notification, state,
//!   attempts);
//! - `outbox_due`: (due Unix ms, id) → integration kind, for pending deliveries only: the
//!   schedule the workers read in order;
//! - `outbox_meta`: `next_id` → the next delivery id.
//!
//! redb commits are blocking (an fsync); they are made on the worker tasks directly,
//! short enough for a tokio worker thread.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::model::{Alert, LabelSet, Notification};
use crate::notify::{targets, ErrorKind, Kind, Notifiers, SendError, Target};
use crate::receiver::Receiver;

const DELIVERIES: TableDefinition<u64, &[u8]> = TableDefinition::new("outbox_deliveries");
const DUE: TableDefinition<(u64, u64), &str> = TableDefinition::new("outbox_due");
const META: TableDefinition<&str, u64> = TableDefinition::new("outbox_meta");

/// The `alertname` of the meta-alert raised for a delivery that failed for good.
pub const META_ALERTNAME: &str = "NotificationDeliveryFailed";

/// Now as Unix milliseconds.
pub fn now_ms() -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(now.as_millis()).unwrap_or(i64::MAX)
}

/// The outbox could not read or write its store.
#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    /// redb failed (I/O, a corrupt file, a full disk); boxed, redb's error is large.
    #[error("outbox store: {0}")]
    Store(Box<redb::Error>),
    /// A stored delivery is not readable (written by an incompatible version).
    #[error("outbox delivery {id}: {reason}")]
    Corrupt {
        /// The delivery id.
        id: u64,
        /// The decoding error.
        reason: String,
    },
}

fn store<E: Into<redb::Error>>(e: E) -> OutboxError {
    OutboxError::Store(Box::new(e.into()))
}

/// Retry and worker settings.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxOptions {
    /// Delivery workers (concurrent attempts).
    pub workers: usize,
    /// The longest one attempt may take (connect, send, response).
    pub attempt_timeout: Duration,
    /// The backoff after the first failed attempt (doubled after each).
    pub backoff_initial: Duration,
    /// The longest backoff.
    pub backoff_max: Duration,
    /// Attempts before a retryable failure is given up (rate-limited waits do not
    /// count).
    pub max_attempts: u32,
    /// A delivery older than this is given up at its next failure (or rate limit).
    pub max_age: Duration,
    /// The longest `Retry-After` honoured (a longer one is cut to it).
    pub max_retry_after: Duration,
    /// How long finished deliveries stay in the history.
    pub history_retention: Duration,
}

impl Default for OutboxOptions {
    /// 4 workers, 10 s attempts, backoff 1 s doubling to 5 min, 20 attempts or 1 hour,
    /// Retry-After up to 1 hour, a day of history.
    fn default() -> Self {
        OutboxOptions {
            workers: 4,
            attempt_timeout: Duration::from_secs(10),
            backoff_initial: Duration::from_secs(1),
            backoff_max: Duration::from_secs(300),
            max_attempts: 20,
            max_age: Duration::from_secs(3600),
            max_retry_after: Duration::from_secs(3600),
            history_retention: Duration::from_secs(86_400),
        }
    }
}

/// The wait before retry number `attempt` (1 after the first failure): `initial ·
/// 2^(attempt−1)` capped at `max`, then a uniformly random point of its upper half
/// ("equal jitter": never less than half the exponential step, so retries of many
/// deliveries spread out without collapsing to zero).
pub fn backoff(attempt: u32, initial: Duration, max: Duration) -> Duration {
    let exp = attempt.saturating_sub(1).min(32);
    let step = initial.saturating_mul(1u32 << exp.min(31)).min(max);
    let half = step / 2;
    let spread = u64::try_from((step - half).as_millis()).unwrap_or(u64::MAX);
    half + Duration::from_millis(fastrand::u64(0..=spread))
}

/// A delivery's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Waiting for its next attempt (or being attempted).
    Pending,
    /// The receiver acknowledged it.
    Delivered,
    /// Given up: refused, out of attempts or too old (a meta-alert was raised).
    Failed,
}

/// How one attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Acknowledged.
    Delivered,
    /// Failed in a way a retry can fix.
    Retryable,
    /// Refused in a way a retry cannot fix.
    Refused,
    /// Not made: the phone number's hourly limit.
    RateLimited,
}

/// One attempt, as recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attempt {
    /// When it started (Unix ms).
    pub at_ms: i64,
    /// How long it took (ms).
    pub duration_ms: u64,
    /// How it ended.
    pub outcome: Outcome,
    /// The HTTP status (or SMTP reply code), if any.
    pub status: Option<u16>,
    /// The error, if any.
    pub error: Option<String>,
}

/// One notification to one integration, with its history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    /// Its id (increasing in enqueue order).
    pub id: u64,
    /// The integration (and number).
    pub target: Target,
    /// The notification, with the alerts this integration sends.
    pub notification: Notification,
    /// When it was enqueued (Unix ms).
    pub created_ms: i64,
    /// Its state.
    pub state: State,
    /// When it is next due (pending only).
    pub next_attempt_ms: Option<i64>,
    /// Every attempt, oldest first.
    pub attempts: Vec<Attempt>,
    /// Why it failed (failed only).
    pub failure: Option<String>,
}

impl Delivery {
    fn counted_attempts(&self) -> u32 {
        let n = self
            .attempts
            .iter()
            .filter(|a| a.outcome != Outcome::RateLimited)
            .count();
        u32::try_from(n).unwrap_or(u32::MAX)
    }
}

/// Counters of one integration kind, for `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IntegrationStats {
    /// Deliveries acknowledged since the process started.
    pub delivered: u64,
    /// Deliveries given up since the process started.
    pub failed: u64,
    /// Attempts that failed and were rescheduled since the process started.
    pub retried: u64,
    /// Deliveries waiting now (in the store).
    pub pending: u64,
}

/// The counters by integration kind (`webhook`, `pagerduty`, `email`, `phone`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutboxStats {
    /// Per kind.
    pub integrations: BTreeMap<&'static str, IntegrationStats>,
}

/// Called with the meta-alert of each delivery that failed for good.
pub type MetaAlertHook = Arc<dyn Fn(Alert) + Send + Sync>;

/// The durable outbox. Share it in an `Arc`; [`Outbox::start`] runs its workers.
pub struct Outbox {
    db: Arc<Database>,
    options: OutboxOptions,
    /// Deliveries being attempted now (not to be taken by a second worker).
    claimed: Mutex<HashSet<u64>>,
    counters: Mutex<BTreeMap<&'static str, IntegrationStats>>,
    /// Bumped on every enqueue; workers wait on it.
    wake: watch::Sender<u64>,
}

impl std::fmt::Debug for Outbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbox")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

/// The running workers; dropping the handle does not stop them, [`Workers::shutdown`]
/// does (an attempt in flight is abandoned, and due again on the next start).
#[derive(Debug)]
pub struct Workers {
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Workers {
    /// Stops the workers and waits for them.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for t in self.tasks {
            t.abort();
            let _ = t.await;
        }
    }
}

/// A delivery claimed by a worker, released when dropped: after its attempt is recorded,
/// or when the worker is aborted mid-attempt ([`Workers::shutdown`]), so that the
/// delivery, still due in the store, is taken again by the next [`Outbox::start`].
struct Claim<'a> {
    claimed: &'a Mutex<HashSet<u64>>,
    id: u64,
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        self.claimed.lock().remove(&self.id);
    }
}

enum Next {
    Claimed(Box<Delivery>),
    /// Nothing due; the earliest unclaimed due time, if any.
    Wait(Option<i64>),
}

impl Outbox {
    /// The outbox in `db`, its tables created if new. Deliveries pending when the process
    /// stopped (in flight included) are due again.
    pub fn open(db: Arc<Database>, options: OutboxOptions) -> Result<Outbox, OutboxError> {
        let tx = db.begin_write().map_err(store)?;
        {
            tx.open_table(DELIVERIES).map_err(store)?;
            tx.open_table(DUE).map_err(store)?;
            tx.open_table(META).map_err(store)?;
        }
        tx.commit().map_err(store)?;
        let (wake, _) = watch::channel(0);
        Ok(Outbox {
            db,
            options,
            claimed: Mutex::new(HashSet::new()),
            counters: Mutex::new(BTreeMap::new()),
            wake,
        })
    }

    /// Writes one delivery per target of `receiver` for `n` (resolved alerts left out
    /// where the integration does not send them, and targets with nothing to send left
    /// out) in one committed transaction, and wakes the workers. Returns the new ids.
    pub fn enqueue(&self, n: &Notification, receiver: &Receiver) -> Result<Vec<u64>, OutboxError> {
        if targets(receiver, n).is_empty() {
            // Nothing to send (only resolved alerts, no integration sends them): no commit.
            return Ok(Vec::new());
        }
        let tx = self.db.begin_write().map_err(store)?;
        let ids = self.enqueue_in(&tx, n, receiver)?;
        tx.commit().map_err(store)?;
        self.wake();
        Ok(ids)
    }

    /// [`Outbox::enqueue`] inside the caller's write transaction of the same database, so
    /// the deliveries commit atomically with the caller's own state (the notification
    /// log: a crash then leaves both or neither). The caller commits, then calls
    /// [`Outbox::wake`]; until the commit the workers do not see the deliveries.
    pub fn enqueue_in(
        &self,
        tx: &redb::WriteTransaction,
        n: &Notification,
        receiver: &Receiver,
    ) -> Result<Vec<u64>, OutboxError> {
        let now = now_ms();
        let mut ids = Vec::new();
        let mut meta = tx.open_table(META).map_err(store)?;
        let mut next = meta
            .get("next_id")
            .map_err(store)?
            .map(|v| v.value())
            .unwrap_or(1);
        let mut deliveries = tx.open_table(DELIVERIES).map_err(store)?;
        let mut due = tx.open_table(DUE).map_err(store)?;
        for (target, alerts) in targets(receiver, n) {
            let d = Delivery {
                id: next,
                target,
                notification: Notification {
                    alerts,
                    ..n.clone()
                },
                created_ms: now,
                state: State::Pending,
                next_attempt_ms: Some(now),
                attempts: Vec::new(),
                failure: None,
            };
            let bytes = serde_json::to_vec(&d).map_err(|e| OutboxError::Corrupt {
                id: d.id,
                reason: e.to_string(),
            })?;
            deliveries.insert(d.id, bytes.as_slice()).map_err(store)?;
            due.insert((ms_key(now), d.id), d.target.kind.name())
                .map_err(store)?;
            ids.push(d.id);
            next += 1;
        }
        meta.insert("next_id", next).map_err(store)?;
        Ok(ids)
    }

    /// Tells the workers that deliveries were committed (after [`Outbox::enqueue_in`]).
    pub fn wake(&self) {
        self.wake.send_modify(|g| *g = g.wrapping_add(1));
    }

    /// One delivery by id.
    pub fn get(&self, id: u64) -> Result<Option<Delivery>, OutboxError> {
        let tx = self.db.begin_read().map_err(store)?;
        let t = tx.open_table(DELIVERIES).map_err(store)?;
        let v = t.get(id).map_err(store)?;
        v.map(|v| decode(id, v.value())).transpose()
    }

    /// The `limit` most recent deliveries, newest first, with their attempts (for the
    /// API).
    pub fn recent(&self, limit: usize) -> Result<Vec<Delivery>, OutboxError> {
        let tx = self.db.begin_read().map_err(store)?;
        let t = tx.open_table(DELIVERIES).map_err(store)?;
        let mut out = Vec::new();
        for entry in t.iter().map_err(store)?.rev().take(limit) {
            let (k, v) = entry.map_err(store)?;
            out.push(decode(k.value(), v.value())?);
        }
        Ok(out)
    }

    /// How many deliveries are pending.
    pub fn pending(&self) -> Result<u64, OutboxError> {
        let tx = self.db.begin_read().map_err(store)?;
        let t = tx.open_table(DUE).map_err(store)?;
        t.len().map_err(store)
    }

    /// The counters by integration kind: delivered, failed and retried since start,
    /// pending now.
    pub fn stats(&self) -> Result<OutboxStats, OutboxError> {
        // The snapshot is taken under the counters' lock, which an attempt holds from its
        // commit to its count: both before an attempt, or both after it, never a delivery
        // gone from the schedule but not yet counted.
        let (mut integrations, tx) = {
            let counters = self.counters.lock();
            (counters.clone(), self.db.begin_read().map_err(store)?)
        };
        for kind in [Kind::Webhook, Kind::Pagerduty, Kind::Email, Kind::Phone] {
            integrations.entry(kind.name()).or_default();
        }
        for s in integrations.values_mut() {
            s.pending = 0;
        }
        let t = tx.open_table(DUE).map_err(store)?;
        for entry in t.iter().map_err(store)? {
            let (_, kind) = entry.map_err(store)?;
            if let Some(s) = integrations.get_mut(kind.value()) {
                s.pending += 1;
            }
        }
        Ok(OutboxStats { integrations })
    }

    /// Removes finished (delivered or failed) deliveries enqueued before `before_ms`.
    /// Returns how many.
    pub fn prune(&self, before_ms: i64) -> Result<usize, OutboxError> {
        let tx = self.db.begin_write().map_err(store)?;
        let mut removed = 0;
        {
            let mut t = tx.open_table(DELIVERIES).map_err(store)?;
            let mut old = Vec::new();
            for entry in t.iter().map_err(store)? {
                let (k, v) = entry.map_err(store)?;
                let d = decode(k.value(), v.value())?;
                if d.created_ms >= before_ms {
                    // ids grow with enqueue time: the rest is newer.
                    break;
                }
                if d.state != State::Pending {
                    old.push(d.id);
                }
            }
            for id in old {
                t.remove(id).map_err(store)?;
                removed += 1;
            }
        }
        tx.commit().map_err(store)?;
        Ok(removed)
    }

    /// Starts the delivery workers on the current tokio runtime, sending through
    /// `notifiers` and handing each meta-alert to `on_failure`.
    pub fn start(
        self: &Arc<Self>,
        notifiers: Arc<Notifiers>,
        on_failure: MetaAlertHook,
    ) -> Workers {
        let (stop, _) = watch::channel(false);
        let mut tasks = Vec::new();
        for _ in 0..self.options.workers.max(1) {
            let outbox = Arc::clone(self);
            let notifiers = Arc::clone(&notifiers);
            let hook = Arc::clone(&on_failure);
            let stop_rx = stop.subscribe();
            tasks.push(tokio::spawn(async move {
                outbox.work(notifiers, hook, stop_rx).await;
            }));
        }
        let outbox = Arc::clone(self);
        let mut stop_rx = stop.subscribe();
        tasks.push(tokio::spawn(async move {
            loop {
                let retention =
                    i64::try_from(outbox.options.history_retention.as_millis()).unwrap_or(i64::MAX);
                if let Err(e) = outbox.prune(now_ms().saturating_sub(retention)) {
                    tracing::warn!(error = %e, "outbox: pruning the history failed");
                }
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(600)) => {}
                    _ = stop_rx.changed() => return,
                }
            }
        }));
        Workers { stop, tasks }
    }

    async fn work(
        &self,
        notifiers: Arc<Notifiers>,
        hook: MetaAlertHook,
        mut stop: watch::Receiver<bool>,
    ) {
        let mut wake = self.wake.subscribe();
        loop {
            if *stop.borrow() {
                return;
            }
            wake.borrow_and_update();
            let next = match self.claim(now_ms()) {
                Ok(n) => n,
                Err(e) => {
                    tracing::error!(error = %e, "outbox: reading the schedule failed");
                    Next::Wait(Some(now_ms() + 1000))
                }
            };
            match next {
                Next::Claimed(d) => {
                    let id = d.id;
                    let claim = Claim {
                        claimed: &self.claimed,
                        id,
                    };
                    if let Err(e) = self.attempt(*d, &notifiers, &hook).await {
                        tracing::error!(error = %e, id, "outbox: recording an attempt failed");
                    }
                    drop(claim);
                    // Another worker may wait for the next due time this one just set.
                    self.wake.send_modify(|g| *g = g.wrapping_add(1));
                }
                Next::Wait(until) => {
                    let sleep = match until {
                        Some(t) => Duration::from_millis(u64::try_from(t - now_ms()).unwrap_or(0)),
                        None => Duration::from_secs(60),
                    };
                    tokio::select! {
                        _ = tokio::time::sleep(sleep.min(Duration::from_secs(60))) => {}
                        _ = wake.changed() => {}
                        _ = stop.changed() => {}
                    }
                }
            }
        }
    }

    /// Takes the earliest due, unclaimed delivery.
    ///
    /// The claim set is locked before the snapshot is taken, and held while it is read.
    /// A worker releases its claim only after its attempt is committed, so a snapshot
    /// taken under the lock either still sees the claim or already sees the commit. The
    /// other way round, a snapshot from just before another worker's commit could claim
    /// the delivery as it was before that attempt once the claim is released: sent
    /// again although acknowledged, and scheduled twice after a retry.
    fn claim(&self, now: i64) -> Result<Next, OutboxError> {
        let mut claimed = self.claimed.lock();
        let tx = self.db.begin_read().map_err(store)?;
        let due = tx.open_table(DUE).map_err(store)?;
        let deliveries = tx.open_table(DELIVERIES).map_err(store)?;
        for entry in due.iter().map_err(store)? {
            let (k, _) = entry.map_err(store)?;
            let (at, id) = k.value();
            let at = i64::try_from(at).unwrap_or(i64::MAX);
            if claimed.contains(&id) {
                continue;
            }
            if at > now {
                return Ok(Next::Wait(Some(at)));
            }
            let Some(v) = deliveries.get(id).map_err(store)? else {
                continue;
            };
            let d = decode(id, v.value())?;
            claimed.insert(id);
            return Ok(Next::Claimed(Box::new(d)));
        }
        Ok(Next::Wait(None))
    }

    async fn attempt(
        &self,
        mut d: Delivery,
        notifiers: &Notifiers,
        hook: &MetaAlertHook,
    ) -> Result<(), OutboxError> {
        let started = now_ms();
        let clock = std::time::Instant::now();
        let result = match tokio::time::timeout(
            self.options.attempt_timeout,
            notifiers.send(&d.target, &d.notification),
        )
        .await
        {
            Ok(r) => r,
            Err(_) => Err(SendError::retry(format!(
                "timed out after {:?}",
                self.options.attempt_timeout
            ))),
        };
        let duration_ms = u64::try_from(clock.elapsed().as_millis()).unwrap_or(u64::MAX);
        let old_due = d.next_attempt_ms.unwrap_or(started);
        let now = now_ms();
        let kind = d.target.kind.name();
        let age = Duration::from_millis(u64::try_from(now - d.created_ms).unwrap_or(0));
        let mut failed_for_good = None;
        let mut retried = false;
        match result {
            Ok(()) => {
                d.attempts.push(Attempt {
                    at_ms: started,
                    duration_ms,
                    outcome: Outcome::Delivered,
                    status: None,
                    error: None,
                });
                d.state = State::Delivered;
                d.next_attempt_ms = None;
            }
            Err(e) => {
                let outcome = match e.kind {
                    ErrorKind::Retry { .. } => Outcome::Retryable,
                    ErrorKind::Refused => Outcome::Refused,
                    ErrorKind::RateLimited { .. } => Outcome::RateLimited,
                };
                d.attempts.push(Attempt {
                    at_ms: started,
                    duration_ms,
                    outcome,
                    status: e.status,
                    error: Some(e.message.clone()),
                });
                let next = match e.kind {
                    ErrorKind::Refused => None,
                    ErrorKind::Retry { .. }
                        if d.counted_attempts() >= self.options.max_attempts =>
                    {
                        None
                    }
                    _ if age >= self.options.max_age => None,
                    ErrorKind::Retry { retry_after } => {
                        let wait = match retry_after {
                            Some(r) => r.min(self.options.max_retry_after),
                            None => backoff(
                                d.counted_attempts(),
                                self.options.backoff_initial,
                                self.options.backoff_max,
                            ),
                        };
                        Some(now + i64::try_from(wait.as_millis()).unwrap_or(i64::MAX / 2))
                    }
                    ErrorKind::RateLimited { until_ms } => Some(until_ms.max(now)),
                };
                match next {
                    Some(at) => {
                        d.next_attempt_ms = Some(at);
                        retried = true;
                    }
                    None => {
                        let why = match e.kind {
                            ErrorKind::Refused => format!("refused: {}", e.message),
                            _ if age >= self.options.max_age => {
                                format!("gave up after {age:?} (max_age): {}", e.message)
                            }
                            _ => format!(
                                "gave up after {} attempts: {}",
                                d.counted_attempts(),
                                e.message
                            ),
                        };
                        d.state = State::Failed;
                        d.next_attempt_ms = None;
                        d.failure = Some(why.clone());
                        failed_for_good = Some(why);
                    }
                }
            }
        }
        let bytes = serde_json::to_vec(&d).map_err(|e| OutboxError::Corrupt {
            id: d.id,
            reason: e.to_string(),
        })?;
        // Held from the commit to the count (see `stats`). Taken before the write
        // transaction: no other holder of the lock waits for a write transaction.
        let mut counters = self.counters.lock();
        let tx = self.db.begin_write().map_err(store)?;
        {
            let mut deliveries = tx.open_table(DELIVERIES).map_err(store)?;
            let mut due = tx.open_table(DUE).map_err(store)?;
            deliveries.insert(d.id, bytes.as_slice()).map_err(store)?;
            due.remove((ms_key(old_due), d.id)).map_err(store)?;
            if let Some(at) = d.next_attempt_ms {
                due.insert((ms_key(at), d.id), kind).map_err(store)?;
            }
        }
        tx.commit().map_err(store)?;
        let c = counters.entry(kind).or_default();
        match d.state {
            State::Delivered => c.delivered += 1,
            State::Failed => c.failed += 1,
            State::Pending if retried => c.retried += 1,
            State::Pending => {}
        }
        drop(counters);
        if let Some(why) = failed_for_good {
            tracing::warn!(id = d.id, receiver = %d.notification.receiver, target = %d.target, reason = %why, "notification delivery failed");
            if let Some(alert) = meta_alert(&d, &why, now) {
                hook(alert);
            }
        }
        Ok(())
    }
}

/// The meta-alert for a delivery that failed for good: `alertname`
/// `NotificationDeliveryFailed` with the `receiver` and `integration` labels (and
/// `severity="critical"`), the failure in its annotations. None when the failed
/// notification itself carried only meta-alerts (a receiver that cannot be reached must
/// not loop on its own failures).
pub fn meta_alert(d: &Delivery, why: &str, now: i64) -> Option<Alert> {
    let only_meta = d
        .notification
        .alerts
        .iter()
        .all(|a| a.labels.get("alertname").map(String::as_str) == Some(META_ALERTNAME));
    if only_meta {
        return None;
    }
    let mut labels = LabelSet::new();
    labels.insert("alertname".into(), META_ALERTNAME.into());
    labels.insert("receiver".into(), d.notification.receiver.clone());
    labels.insert("integration".into(), d.target.kind.name().into());
    labels.insert("severity".into(), "critical".into());
    let mut annotations = LabelSet::new();
    annotations.insert(
        "summary".into(),
        format!(
            "Notification to {} of receiver {} failed",
            d.target, d.notification.receiver
        ),
    );
    annotations.insert(
        "description".into(),
        format!(
            "Delivery {} (group {}) failed after {} attempts: {why}",
            d.id,
            d.notification.group_key,
            d.attempts.len()
        ),
    );
    Some(Alert {
        labels,
        annotations,
        starts_at_ms: now,
        ends_at_ms: None,
        generator_url: String::new(),
        updated_at_ms: now,
    })
}

fn ms_key(ms: i64) -> u64 {
    u64::try_from(ms).unwrap_or(0)
}

fn decode(id: u64, bytes: &[u8]) -> Result<Delivery, OutboxError> {
    serde_json::from_slice(bytes).map_err(|e| OutboxError::Corrupt {
        id,
        reason: e.to_string(),
    })
}

/// The outbox as the manager's [`crate::manager::NotificationSink`]: each notification's
/// deliveries enqueued in the transaction that logs it as sent (a crash leaves both or
/// neither), the delivery workers woken once it committed. A notification for a receiver
/// a reload removed meanwhile is dropped with a warning: there is nothing to send it to.
pub struct OutboxSink {
    /// Where deliveries go.
    pub outbox: Arc<Outbox>,
    /// The configured receivers (their integrations decide the deliveries).
    pub notifiers: Arc<Notifiers>,
}

impl crate::manager::NotificationSink for OutboxSink {
    fn store(
        &mut self,
        txn: &redb::WriteTransaction,
        notifications: &[Notification],
    ) -> Result<(), String> {
        for n in notifications {
            let Some(receiver) = self.notifiers.receiver(&n.receiver) else {
                tracing::warn!(receiver = %n.receiver, "notification for an unknown receiver dropped");
                continue;
            };
            self.outbox
                .enqueue_in(txn, n, &receiver)
                .map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    fn committed(&mut self, _notifications: &[Notification]) {
        self.outbox.wake();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_within_jitter_bounds_and_caps() {
        let initial = Duration::from_millis(100);
        let max = Duration::from_secs(2);
        for attempt in 1..=12u32 {
            let step = (initial * 2u32.pow(attempt - 1)).min(max);
            for _ in 0..200 {
                let b = backoff(attempt, initial, max);
                assert!(
                    b >= step / 2 && b <= step,
                    "attempt {attempt}: {b:?} not in [{:?}, {step:?}]",
                    step / 2
                );
            }
        }
        // huge attempt numbers do not overflow
        assert!(backoff(u32::MAX, initial, max) <= max);
        // jitter: not always the same value
        let samples: HashSet<Duration> = (0..50).map(|_| backoff(5, initial, max)).collect();
        assert!(samples.len() > 1);
    }
}
