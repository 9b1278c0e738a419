//! The one background owner of maintenance: persisting the head and checkpointing the WAL
//! today; compaction, downsampling and retention as they come.
//!
//! Appends never do maintenance work; they [`Maintenance::signal`] this thread (a flag
//! and a channel message, coalesced: a thousand appends that find the head due send one
//! message). The thread runs a pass per signal, and one every [`IDLE_CHECK`] anyway.
//! A failed pass is retried with exponential backoff (1 s doubling to 1 min), and the
//! failure is visible in [`crate::Db::stats`] and reported to the observer. Modelled on
//! Prometheus' `DB.run` (compacting the head on a signal and on a timer) and
//! VictoriaMetrics' `startBackgroundWorkers`.
//!
//! The thread holds only a weak reference to the database: dropping every handle ends
//! it after the pass in progress. [`crate::Db::close`] stops and joins it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use parking_lot::Mutex;

use crate::db::Inner;
use crate::error::{Error, Result};

/// How often the owner runs a pass without being signalled.
pub(crate) const IDLE_CHECK: Duration = Duration::from_secs(60);
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// What the maintenance owner has done, for [`crate::DbStats`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MaintenanceStats {
    /// Whether a background thread owns maintenance (false: the embedder calls
    /// [`crate::Db::maintain`]).
    pub background: bool,
    /// Passes run.
    pub passes: u64,
    /// Passes that failed.
    pub failures: u64,
    /// Failures since the last pass that succeeded (0 when healthy).
    pub consecutive_failures: u32,
    /// The last failure's message, kept until a pass succeeds.
    pub last_error: Option<String>,
}

enum Signal {
    /// The head may be due for a persist.
    Work,
    /// Reply once a pass that started after this message has finished.
    Barrier(Sender<std::result::Result<(), Arc<Error>>>),
    /// Finish and exit.
    Stop,
}

/// The database's handle on its maintenance owner.
#[derive(Debug)]
pub(crate) struct Maintenance {
    /// `None` without a background thread.
    tx: Option<Sender<Signal>>,
    /// A `Work` message is in the channel and not yet taken: no need for another.
    pending: Arc<AtomicBool>,
    thread: Mutex<Option<JoinHandle<()>>>,
    stats: Arc<Mutex<MaintenanceStats>>,
}

impl Maintenance {
    /// No thread: the embedder drives maintenance.
    pub(crate) fn manual() -> Maintenance {
        Maintenance {
            tx: None,
            pending: Arc::new(AtomicBool::new(false)),
            thread: Mutex::new(None),
            stats: Arc::new(Mutex::new(MaintenanceStats::default())),
        }
    }

    /// Starts the owner thread for the database behind `db`.
    pub(crate) fn start(db: Weak<Inner>) -> std::io::Result<Maintenance> {
        let (tx, rx) = crossbeam_channel::unbounded();
        let pending = Arc::new(AtomicBool::new(false));
        let stats = Arc::new(Mutex::new(MaintenanceStats {
            background: true,
            ..MaintenanceStats::default()
        }));
        let thread = {
            let (pending, stats) = (pending.clone(), stats.clone());
            std::thread::Builder::new()
                .name("tsdb-maintenance".into())
                .spawn(move || run(&db, &rx, &pending, &stats))?
        };
        Ok(Maintenance {
            tx: Some(tx),
            pending,
            thread: Mutex::new(Some(thread)),
            stats,
        })
    }

    pub(crate) fn is_background(&self) -> bool {
        self.tx.is_some()
    }

    /// Tells the owner there may be work; cheap and never blocks.
    pub(crate) fn signal(&self) {
        if let Some(tx) = &self.tx {
            if !self.pending.swap(true, Ordering::AcqRel) {
                // a send fails only once the thread is gone (closing): nothing to do then
                let _ = tx.send(Signal::Work);
            }
        }
    }

    /// Waits (at most `timeout`) for a whole pass that starts after this call.
    pub(crate) fn wait_for_pass(&self, timeout: Duration) -> Result<()> {
        let Some(tx) = &self.tx else {
            return Ok(());
        };
        let (reply_tx, reply_rx) = crossbeam_channel::bounded(1);
        tx.send(Signal::Barrier(reply_tx))
            .map_err(|_| Error::Closed)?;
        match reply_rx.recv_timeout(timeout) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(cause)) => Err(Error::Maintenance { cause }),
            Err(_) => Err(Error::Closed),
        }
    }

    /// Stops the owner after its current pass and joins it. Idempotent; a call from the
    /// owner thread itself (a handle dropped there) only asks it to stop.
    pub(crate) fn stop(&self) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(Signal::Stop);
        }
        let handle = self.thread.lock().take();
        if let Some(h) = handle {
            if h.thread().id() != std::thread::current().id() {
                // the thread catches nothing: a panic there is a bug already reported on
                // stderr, and the database keeps working without maintenance
                let _ = h.join();
            }
        }
    }

    pub(crate) fn stats(&self) -> MaintenanceStats {
        self.stats.lock().clone()
    }

    /// Records the result of a pass run on the caller's thread (manual mode).
    pub(crate) fn record(&self, result: &Result<()>) {
        record(&self.stats, result);
    }
}

fn record(stats: &Mutex<MaintenanceStats>, result: &Result<()>) {
    let mut s = stats.lock();
    s.passes += 1;
    match result {
        Ok(()) => {
            s.consecutive_failures = 0;
            s.last_error = None;
        }
        Err(e) => {
            s.failures += 1;
            s.consecutive_failures = s.consecutive_failures.saturating_add(1);
            s.last_error = Some(e.to_string());
        }
    }
}

/// The owner's loop.
fn run(
    db: &Weak<Inner>,
    rx: &Receiver<Signal>,
    pending: &AtomicBool,
    stats: &Mutex<MaintenanceStats>,
) {
    let mut backoff: Option<Duration> = None;
    let mut next_retry: Option<Instant> = None;
    loop {
        let wait = next_retry.map_or(IDLE_CHECK, |at| {
            at.saturating_duration_since(Instant::now())
        });
        let first = match rx.recv_timeout(wait) {
            Ok(signal) => Some(signal),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => return,
        };
        // take everything queued: one pass answers every signal and barrier
        let mut barriers = Vec::new();
        let mut stop = false;
        for signal in first.into_iter().chain(rx.try_iter()) {
            match signal {
                Signal::Work => {}
                Signal::Barrier(reply) => barriers.push(reply),
                Signal::Stop => stop = true,
            }
        }
        pending.store(false, Ordering::Release);
        if stop {
            for reply in barriers {
                let _ = reply.send(Err(Arc::new(Error::Closed)));
            }
            return;
        }
        // while backing off, only a barrier (someone waiting) runs a pass early
        if barriers.is_empty() && next_retry.is_some_and(|at| Instant::now() < at) {
            continue;
        }
        let Some(inner) = db.upgrade() else { return };
        let result = inner.maintain();
        record(stats, &result);
        match &result {
            Ok(()) => {
                backoff = None;
                next_retry = None;
            }
            Err(e) => {
                let delay = backoff.map_or(FIRST_BACKOFF, |b| (b * 2).min(MAX_BACKOFF));
                backoff = Some(delay);
                next_retry = Some(Instant::now() + delay);
                inner.observer().maintenance_failed(e, delay);
            }
        }
        drop(inner);
        let shared = result.map_err(Arc::new);
        for reply in barriers {
            let _ = reply.send(shared.clone());
        }
    }
}
