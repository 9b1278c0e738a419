//! The scrape loops, on tokio, as Prometheus 2.42's `scrape.Manager`, `scrapePool` and
//! `scrapeLoop` run them: one [`ScrapePool`] per job (its HTTP client, its options, one
//! loop per active target), and a [`ScrapeManager`] over the jobs of a configuration.
//!
//! - A loop scrapes its target every `scrape_interval`, at a stable per-target offset in
//!   the interval (Prometheus's `Target.offset`: the target's hash modulo the interval),
//!   so the targets of a job are spread over the interval and a target keeps its phase
//!   across restarts of the process. A tick missed because a scrape ran long is skipped,
//!   not caught up.
//! - Each scrape: [`Scraper::fetch`] on the tokio worker, then, on tokio's blocking pool
//!   (so parsing and a `Db` append, which may write to disk, never hold a worker other
//!   targets' fetches wait for), [`ScrapeState::process`] (or [`ScrapeState::fail`] when
//!   the fetch failed) and the outcome's samples handed to the embedder's [`Appender`] as
//!   one [`Batch`]; the series references the append returns are learnt by the cache
//!   ([`ScrapeState::learn_refs`]) so later batches name series by reference.
//! - [`ScrapePool::sync`] takes the job's active targets whole (a discovery update): a
//!   target that stays keeps its loop (no gap, state kept), a new one gets a loop, a
//!   target that is gone gets its stale markers ([`ScrapeState::stale_all`]) and its loop
//!   stops. Targets are identified by their labels after relabeling (`__` labels
//!   included), as Prometheus's `Target.hash`.
//! - [`ScrapeManager::apply_config`] (a reload): a job whose config is unchanged keeps
//!   its loops; a changed job restarts its loops with the new client and options, each
//!   new loop taking over its predecessor's [`ScrapeState`] so no stale markers are
//!   written and `scrape_series_added` does not count the series again (Prometheus's
//!   `reload` reuses the scrape cache and disables end-of-run staleness the same way); a
//!   job no longer configured is stopped with stale markers.
//! - With a [`Shard`], only the targets this collector owns by the ring (job name and
//!   `__address__`) get a loop.
//! - Each loop keeps its [`TargetHealth`] (`health`, `lastScrape`, `lastScrapeDuration`,
//!   `lastError`) for `/api/v1/targets`.
//!
//! - `target_limit`: while a job has more (owned) targets than the limit, every one of its
//!   scrapes fails without a request, `target_limit exceeded (number of targets: N,
//!   limit: L)`, as Prometheus's forced error does (stale markers and `up` 0).
//!
//! The offset seed ([`ScrapeManager::with_offset_seed`], [`offset_seed`]) mixes the host
//! name and external labels in, as Prometheus does, so replicas scrape at different
//! moments.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};
use tsdb_core::{Batch, BatchOutcome, SampleError};
use tsdb_index::Labels;

use crate::config::ScrapeConfig;
use crate::fetch::{ClientError, Scraper};
use crate::ring::Shard;
use crate::scrape::{
    samples_to_batch, AppendSample, ScrapeError, ScrapeOptions, ScrapeState, TargetMetadata,
};
use crate::target::Target;

/// An error an [`Appender`] reports; the loop records it in [`TargetHealth::append_error`]
/// and goes on scraping.
pub type AppendError = Box<dyn std::error::Error + Send + Sync>;

/// Where scraped samples go: the embedder's database, or anything else.
pub trait Appender: Send + Sync + 'static {
    /// Appends one scrape's samples (scraped samples, stale markers, report series).
    /// Called from tokio's blocking pool, so it may block on disk.
    fn append(&self, batch: &Batch) -> Result<(), AppendError>;

    /// [`Appender::append`], also saying what became of each series and sample, so the
    /// scrape cache learns the series' references and later batches name series by them
    /// (a database that hands out references, as `tsdb_core::Db` does). Default: `append`,
    /// nothing learnt, batches keep naming series by labels.
    fn append_outcome(&self, batch: &Batch) -> Result<Option<BatchOutcome>, AppendError> {
        self.append(batch).map(|()| None)
    }
}

impl Appender for tsdb_core::Db {
    /// `Db::append_batch`; samples the database refuses one by one (out of order, too
    /// old) are dropped as Prometheus's appender drops them, not an error.
    fn append(&self, batch: &Batch) -> Result<(), AppendError> {
        self.append_batch(batch)?;
        Ok(())
    }

    fn append_outcome(&self, batch: &Batch) -> Result<Option<BatchOutcome>, AppendError> {
        Ok(Some(self.append_batch(batch)?))
    }
}

/// A shared appender (an `Arc<Db>` the embedder also queries).
impl<A: Appender + ?Sized> Appender for Arc<A> {
    fn append(&self, batch: &Batch) -> Result<(), AppendError> {
        (**self).append(batch)
    }

    fn append_outcome(&self, batch: &Batch) -> Result<Option<BatchOutcome>, AppendError> {
        (**self).append_outcome(batch)
    }
}

/// An [`Appender`] from a closure.
pub struct FnAppender<F>(pub F);

impl<F> Appender for FnAppender<F>
where
    F: Fn(&Batch) -> Result<(), AppendError> + Send + Sync + 'static,
{
    fn append(&self, batch: &Batch) -> Result<(), AppendError> {
        (self.0)(batch)
    }
}

/// A target's health, as `/api/v1/targets` shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Health {
    /// Not scraped yet.
    Unknown,
    /// The last scrape succeeded.
    Up,
    /// The last scrape failed.
    Down,
}

impl Health {
    /// `"unknown"`, `"up"` or `"down"`, Prometheus's words.
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Unknown => "unknown",
            Health::Up => "up",
            Health::Down => "down",
        }
    }
}

/// What a loop knows about its target's last scrape.
#[derive(Clone, Debug, PartialEq)]
pub struct TargetHealth {
    /// `health`.
    pub health: Health,
    /// `lastScrape`: when the last scrape started.
    pub last_scrape: Option<SystemTime>,
    /// `lastScrapeDuration`.
    pub last_scrape_duration: Duration,
    /// `lastError`: why the last scrape failed; `None` when it succeeded.
    pub last_error: Option<String>,
    /// Scrapes done by this loop and its predecessors across config reloads.
    pub scrapes: u64,
    /// The appender's error for the last scrape, if it had one.
    pub append_error: Option<String>,
    /// The metadata of the families the target declared lately
    /// (`/api/v1/targets/metadata`).
    pub metadata: TargetMetadata,
}

impl Default for TargetHealth {
    fn default() -> Self {
        TargetHealth {
            health: Health::Unknown,
            last_scrape: None,
            last_scrape_duration: Duration::ZERO,
            last_error: None,
            scrapes: 0,
            append_error: None,
            metadata: TargetMetadata::default(),
        }
    }
}

/// An active target and its health.
#[derive(Clone, Debug)]
pub struct TargetStatus {
    /// The target.
    pub target: Target,
    /// Its last scrape.
    pub health: TargetHealth,
}

/// How a loop is told to stop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stop {
    Running,
    /// The target is gone: write its stale markers.
    Stale,
    /// A new loop takes over (config reload): no stale markers, state handed over.
    Handover,
}

/// What a loop needs, shared by the loops of one pool.
struct PoolShared {
    job: String,
    scraper: Scraper,
    options: ScrapeOptions,
    appender: Arc<dyn Appender>,
    offset_seed: u64,
    /// `target_limit` (0: none).
    target_limit: usize,
    /// Set while the job is over `target_limit`: every scrape fails with it.
    forced: Mutex<Option<String>>,
}

impl PoolShared {
    /// Sets or clears the `target_limit` error for `targets` active targets.
    fn refresh_target_limit(&self, targets: usize) {
        let err = (self.target_limit > 0 && targets > self.target_limit).then(|| {
            format!(
                "target_limit exceeded (number of targets: {targets}, limit: {})",
                self.target_limit
            )
        });
        *self.forced.lock().unwrap_or_else(|e| e.into_inner()) = err;
    }

    fn forced_error(&self) -> Option<String> {
        self.forced
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

struct LoopHandle {
    target: Target,
    health: Arc<Mutex<TargetHealth>>,
    stop: watch::Sender<Stop>,
    task: JoinHandle<ScrapeState>,
}

fn lock(h: &Mutex<TargetHealth>) -> MutexGuard<'_, TargetHealth> {
    // No code panics while holding it; a poisoned lock still holds valid figures.
    h.lock().unwrap_or_else(|e| e.into_inner())
}

/// The loops of one job.
pub struct ScrapePool {
    config: ScrapeConfig,
    shared: Arc<PoolShared>,
    shard: Option<Arc<Shard>>,
    loops: HashMap<Labels, LoopHandle>,
    /// The last target list discovery gave, before the shard's filter: a new member list
    /// re-divides it without waiting for discovery.
    discovered: Vec<Target>,
}

/// The scrape options a config gives to [`ScrapeState::process`].
pub fn scrape_options(cfg: &ScrapeConfig) -> ScrapeOptions {
    let n = |v: u64| usize::try_from(v).unwrap_or(usize::MAX);
    ScrapeOptions {
        honor_labels: cfg.honor_labels,
        honor_timestamps: cfg.honor_timestamps,
        metric_relabel_configs: cfg.metric_relabel_configs.clone(),
        sample_limit: n(cfg.sample_limit),
        label_limit: n(cfg.label_limit),
        label_name_length_limit: n(cfg.label_name_length_limit),
        label_value_length_limit: n(cfg.label_value_length_limit),
    }
}

/// The target's identity hash (its labels and URL, XXH3-64), the base of its offset.
fn target_hash(t: &Target) -> u64 {
    let mut buf = Vec::new();
    for (name, value) in t.all_labels().iter() {
        buf.extend_from_slice(name.as_bytes());
        buf.push(0xff);
        buf.extend_from_slice(value.as_bytes());
        buf.push(0xff);
    }
    buf.extend_from_slice(t.url().as_bytes());
    twox_hash::XxHash3_64::oneshot(&buf)
}

/// The offset seed of a scraper on host `hostname` with these external labels (sorted
/// by name), as Prometheus derives its own (`setOffsetSeed`, a hash of the host name and
/// the external labels): two replicas scraping the same targets on different hosts, or
/// with different external labels, scrape at different moments of the interval, while a
/// restarted scraper keeps its moments. XXH3-64 where Prometheus uses FNV-1a: the seed
/// only has to be stable, not equal to Prometheus's.
pub fn offset_seed<'a>(
    hostname: &str,
    external_labels: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> u64 {
    let mut buf = hostname.as_bytes().to_vec();
    for (name, value) in external_labels {
        buf.push(0xff);
        buf.extend_from_slice(name.as_bytes());
        buf.push(0xff);
        buf.extend_from_slice(value.as_bytes());
    }
    twox_hash::XxHash3_64::oneshot(&buf)
}

/// How long from `now` until the target's first scrape: the point of the interval where
/// `now mod interval` equals the target's offset (Prometheus's `Target.offset`).
pub fn first_scrape_delay(
    target: &Target,
    seed: u64,
    interval: Duration,
    now: SystemTime,
) -> Duration {
    let iv = interval.as_nanos();
    if iv == 0 {
        return Duration::ZERO;
    }
    let now_ns = now
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    let base = iv - now_ns % iv;
    let offset = u128::from(target_hash(target) ^ seed) % iv;
    let mut next = base + offset;
    if next > iv {
        next -= iv;
    }
    Duration::from_nanos(u64::try_from(next).unwrap_or(u64::MAX))
}

fn millis(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_millis()).unwrap_or(i64::MAX),
    }
}

/// What appending one scrape's samples gave: the samples back (for learning references),
/// the database's outcome when it reports one, and the error to show, if any.
struct Appended {
    samples: Vec<AppendSample>,
    outcome: Option<BatchOutcome>,
    error: Option<String>,
}

/// Appends one scrape's samples on the calling (blocking) thread.
fn append_blocking(appender: &dyn Appender, samples: Vec<AppendSample>) -> Appended {
    if samples.is_empty() {
        return Appended {
            samples,
            outcome: None,
            error: None,
        };
    }
    let result = appender.append_outcome(&samples_to_batch(&samples));
    // samples named by a reference the database no longer knows (the series left the
    // head meanwhile) go again by their labels, at once
    let retry: Vec<AppendSample> = match &result {
        Ok(Some(outcome)) => outcome
            .rejected
            .iter()
            .filter(|r| matches!(r.error, SampleError::UnknownSeriesRef(_)))
            .filter_map(|r| samples.get(r.index))
            .map(|s| AppendSample {
                series_ref: None,
                ..s.clone()
            })
            .collect(),
        _ => Vec::new(),
    };
    let retried = if retry.is_empty() {
        Ok(())
    } else {
        appender.append(&samples_to_batch(&retry))
    };
    match (result, retried) {
        (Ok(outcome), Ok(())) => Appended {
            samples,
            outcome,
            error: None,
        },
        (Ok(outcome), Err(e)) => Appended {
            samples,
            outcome,
            error: Some(e.to_string()),
        },
        (Err(e), _) => Appended {
            samples,
            outcome: None,
            error: Some(e.to_string()),
        },
    }
}

/// What one scrape's processing and append gave the loop.
struct Processed {
    state: ScrapeState,
    error: Option<ScrapeError>,
    append_error: Option<String>,
}

/// Processes a fetched body (or a fetch error) and appends the outcome, on tokio's
/// blocking pool: parsing, relabeling and the database's append never hold a worker that
/// other targets' fetches (and their measured durations) wait for.
async fn process_and_append(
    shared: &Arc<PoolShared>,
    mut state: ScrapeState,
    fetched: Result<(bytes::Bytes, Option<String>), ScrapeError>,
    t_ms: i64,
    duration: Duration,
    target_labels: &Labels,
) -> Processed {
    let shared = shared.clone();
    let target_labels = target_labels.clone();
    let res = tokio::task::spawn_blocking(move || {
        let outcome = match fetched {
            Ok((body, content_type)) => state.process(
                &body,
                content_type.as_deref(),
                t_ms,
                duration,
                &target_labels,
                &shared.options,
            ),
            Err(e) => state.fail(e, t_ms, duration, &target_labels),
        };
        let appended = append_blocking(&*shared.appender, outcome.samples);
        if let Some(o) = &appended.outcome {
            state.learn_refs(&appended.samples, o);
        }
        Processed {
            state,
            error: outcome.error,
            append_error: appended.error,
        }
    })
    .await;
    res.unwrap_or_else(|e| Processed {
        // only a panic gets here; the cache starts over
        state: ScrapeState::new(),
        error: Some(ScrapeError::Fetch(format!("scrape task failed: {e}"))),
        append_error: None,
    })
}

/// Appends on the blocking pool (the stale markers of a target that went away).
async fn append(shared: &PoolShared, samples: Vec<AppendSample>) -> Appended {
    let appender = shared.appender.clone();
    tokio::task::spawn_blocking(move || append_blocking(&*appender, samples))
        .await
        .unwrap_or_else(|e| Appended {
            samples: Vec::new(),
            outcome: None,
            error: Some(format!("appender task failed: {e}")),
        })
}

/// One target's loop; returns its state when stopped.
async fn run_loop(
    shared: Arc<PoolShared>,
    target: Target,
    mut state: ScrapeState,
    health: Arc<Mutex<TargetHealth>>,
    mut stop: watch::Receiver<Stop>,
) -> ScrapeState {
    let interval = target.scrape_interval();
    let target_labels = target.labels();
    let delay = first_scrape_delay(&target, shared.offset_seed, interval, SystemTime::now());
    let mut ticker = if interval.is_zero() {
        // populate_labels refuses a zero interval; a hand-built target gets one scrape a
        // second rather than a busy loop.
        tokio::time::interval_at(Instant::now() + delay, Duration::from_secs(1))
    } else {
        tokio::time::interval_at(Instant::now() + delay, interval)
    };
    ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let reason = loop {
        tokio::select! {
            _ = ticker.tick() => {}
            r = stop.changed() => break if r.is_ok() { *stop.borrow() } else { Stop::Stale },
        }
        let started = SystemTime::now();
        let clock = Instant::now();
        let t_ms = millis(started);
        let fetched = match shared.forced_error() {
            Some(e) => Err(ScrapeError::Fetch(e)),
            None => tokio::select! {
                f = shared.scraper.fetch(&target) => f,
                r = stop.changed() => break if r.is_ok() { *stop.borrow() } else { Stop::Stale },
            },
        };
        let duration = clock.elapsed();
        let processed =
            process_and_append(&shared, state, fetched, t_ms, duration, &target_labels).await;
        state = processed.state;
        let mut h = lock(&health);
        h.health = if processed.error.is_none() {
            Health::Up
        } else {
            Health::Down
        };
        h.last_scrape = Some(started);
        h.last_scrape_duration = duration;
        h.last_error = processed.error.as_ref().map(ScrapeError::to_string);
        h.scrapes += 1;
        h.append_error = processed.append_error;
        h.metadata = state.metadata();
    };
    if reason != Stop::Handover {
        let stale = state.stale_all(millis(SystemTime::now()), &target_labels);
        let appended = append(&shared, stale).await;
        lock(&health).append_error = appended.error;
    }
    state
}

impl ScrapePool {
    /// A pool for `config` (resolved: interval and timeout set), with no targets yet.
    pub fn new(
        config: ScrapeConfig,
        appender: Arc<dyn Appender>,
        shard: Option<Arc<Shard>>,
        offset_seed: u64,
    ) -> Result<ScrapePool, ClientError> {
        let shared = Arc::new(PoolShared {
            job: config.job_name.clone(),
            scraper: Scraper::new(&config)?,
            options: scrape_options(&config),
            appender,
            offset_seed,
            target_limit: usize::try_from(config.target_limit).unwrap_or(usize::MAX),
            forced: Mutex::new(None),
        });
        Ok(ScrapePool {
            config,
            shared,
            shard,
            loops: HashMap::new(),
            discovered: Vec::new(),
        })
    }

    /// The job's config.
    pub fn config(&self) -> &ScrapeConfig {
        &self.config
    }

    fn start(&self, target: Target, state: ScrapeState, health: TargetHealth) -> LoopHandle {
        let health = Arc::new(Mutex::new(health));
        let (stop, rx) = watch::channel(Stop::Running);
        let task = tokio::spawn(run_loop(
            self.shared.clone(),
            target.clone(),
            state,
            health.clone(),
            rx,
        ));
        LoopHandle {
            target,
            health,
            stop,
            task,
        }
    }

    /// Stops a loop and waits for it (its stale markers written unless handed over).
    async fn stop_loop(handle: LoopHandle, how: Stop) -> (ScrapeState, TargetHealth) {
        let _ = handle.stop.send(how);
        let state = handle.task.await.unwrap_or_default();
        let health = lock(&handle.health).clone();
        (state, health)
    }

    /// Replaces the job's active targets with `targets` (a discovery update): kept
    /// targets keep their loops, new ones start, gone ones get stale markers and stop.
    /// Targets this collector does not own by its shard are left out; duplicates (same
    /// labels) are scraped once.
    pub async fn sync(&mut self, targets: Vec<Target>) {
        self.discovered.clone_from(&targets);
        let mut wanted: HashMap<Labels, Target> = HashMap::new();
        for t in targets {
            if let Some(shard) = &self.shard {
                if !shard.owns(&self.shared.job, t.address()) {
                    continue;
                }
            }
            wanted.entry(t.all_labels().clone()).or_insert(t);
        }
        let gone: Vec<Labels> = self
            .loops
            .keys()
            .filter(|k| !wanted.contains_key(*k))
            .cloned()
            .collect();
        self.shared.refresh_target_limit(wanted.len());
        // A target whose identity changed only in what is not stored (its `__` labels:
        // a reload changing the interval or timeout) keeps its series: its loop is
        // restarted with the new target and its state handed over, so no stale marker
        // blanks the series for an interval.
        let mut new_by_series: HashMap<(Labels, String), Labels> = wanted
            .iter()
            .filter(|(k, _)| !self.loops.contains_key(*k))
            .map(|(k, t)| ((t.labels(), t.url().to_owned()), k.clone()))
            .collect();
        let mut stopping = Vec::new();
        for k in gone {
            let Some(h) = self.loops.remove(&k) else {
                continue;
            };
            let series = (h.target.labels(), h.target.url().to_owned());
            match new_by_series
                .remove(&series)
                .and_then(|key| wanted.remove(&key).map(|t| (key, t)))
            {
                Some((key, target)) => {
                    let (state, health) = Self::stop_loop(h, Stop::Handover).await;
                    let new = self.start(target, state, health);
                    self.loops.insert(key, new);
                }
                None => stopping.push(Self::stop_loop(h, Stop::Stale)),
            }
        }
        for (k, t) in wanted {
            match self.loops.get_mut(&k) {
                // Same identity: the loop goes on; only what is displayed is updated
                // (discovered labels may differ).
                Some(h) => h.target = t,
                None => {
                    let h = self.start(t, ScrapeState::new(), TargetHealth::default());
                    self.loops.insert(k, h);
                }
            }
        }
        for s in stopping {
            s.await;
        }
    }

    /// Restarts every loop with `config` (its new client and options), each new loop
    /// continuing its predecessor's state and health, without stale markers.
    async fn restart(&mut self, config: ScrapeConfig) -> Result<(), ClientError> {
        let fresh = ScrapePool::new(
            config,
            self.shared.appender.clone(),
            self.shard.clone(),
            self.shared.offset_seed,
        )?;
        let mut old = std::mem::replace(self, fresh);
        self.discovered = std::mem::take(&mut old.discovered);
        self.shared.refresh_target_limit(old.loops.len());
        for (k, h) in old.loops {
            let target = h.target.clone();
            let (state, health) = Self::stop_loop(h, Stop::Handover).await;
            let new = self.start(target, state, health);
            self.loops.insert(k, new);
        }
        Ok(())
    }

    /// The active targets and their health, sorted by URL.
    pub fn targets(&self) -> Vec<TargetStatus> {
        let mut v: Vec<TargetStatus> = self
            .loops
            .values()
            .map(|h| TargetStatus {
                target: h.target.clone(),
                health: lock(&h.health).clone(),
            })
            .collect();
        v.sort_by(|a, b| a.target.url().cmp(b.target.url()));
        v
    }

    /// Stops every loop, writing their stale markers (Prometheus's shutdown does too).
    pub async fn stop(&mut self) {
        let all: Vec<LoopHandle> = self.loops.drain().map(|(_, h)| h).collect();
        for h in all {
            Self::stop_loop(h, Stop::Stale).await;
        }
    }
}

/// Why a job's targets cannot be synced.
#[derive(Debug, thiserror::Error)]
#[error("no scrape config for job {0:?}")]
pub struct UnknownJob(pub String);

/// The scrape pools of one configuration.
pub struct ScrapeManager {
    appender: Arc<dyn Appender>,
    shard: Option<Arc<Shard>>,
    offset_seed: u64,
    pools: BTreeMap<String, ScrapePool>,
}

impl ScrapeManager {
    /// A manager appending to `appender`, scraping every target it is given.
    pub fn new(appender: Arc<dyn Appender>) -> ScrapeManager {
        ScrapeManager {
            appender,
            shard: None,
            offset_seed: 0,
            pools: BTreeMap::new(),
        }
    }

    /// Scrapes only the targets `shard` owns.
    pub fn with_shard(mut self, shard: Shard) -> ScrapeManager {
        self.shard = Some(Arc::new(shard));
        self
    }

    /// Changes the member list this collector shares targets with (`None`: scrape every
    /// target): every job's last discovered targets are divided again at once. Targets
    /// this collector keeps go on scraping without a gap; targets it no longer owns stop
    /// with stale markers (their new owner picks them up when it sees the same list);
    /// targets it gained start.
    pub async fn set_shard(&mut self, shard: Option<Shard>) {
        self.shard = shard.map(Arc::new);
        for pool in self.pools.values_mut() {
            pool.shard.clone_from(&self.shard);
            let targets = pool.discovered.clone();
            pool.sync(targets).await;
        }
    }

    /// The member list in force, if sharded.
    pub fn shard(&self) -> Option<&Shard> {
        self.shard.as_deref()
    }

    /// Mixed into every target's offset (Prometheus mixes in a hash of its external
    /// labels and host name, so two replicas scrape at different moments).
    pub fn with_offset_seed(mut self, seed: u64) -> ScrapeManager {
        self.offset_seed = seed;
        self
    }

    /// Applies a configuration's `scrape_configs` (resolved): unchanged jobs keep their
    /// loops, changed jobs restart them (state kept, no stale markers), removed jobs stop
    /// with stale markers, new jobs start with no targets. If a job's client cannot be
    /// built the whole configuration is refused before anything changes.
    pub async fn apply_config(&mut self, configs: Vec<ScrapeConfig>) -> Result<(), ClientError> {
        // Build every changed or new client first: an error leaves the old config in force.
        let mut fresh: BTreeMap<String, ScrapePool> = BTreeMap::new();
        let mut changed: Vec<ScrapeConfig> = Vec::new();
        for cfg in &configs {
            match self.pools.get(&cfg.job_name) {
                Some(p) if p.config() == cfg => {}
                Some(_) => {
                    Scraper::new(cfg)?;
                    changed.push(cfg.clone());
                }
                None => {
                    let pool = ScrapePool::new(
                        cfg.clone(),
                        self.appender.clone(),
                        self.shard.clone(),
                        self.offset_seed,
                    )?;
                    fresh.insert(cfg.job_name.clone(), pool);
                }
            }
        }
        let gone: Vec<String> = self
            .pools
            .keys()
            .filter(|j| !configs.iter().any(|c| &c.job_name == *j))
            .cloned()
            .collect();
        for job in gone {
            if let Some(mut p) = self.pools.remove(&job) {
                p.stop().await;
            }
        }
        for cfg in changed {
            if let Some(p) = self.pools.get_mut(&cfg.job_name) {
                p.restart(cfg).await?;
            }
        }
        self.pools.extend(fresh);
        Ok(())
    }

    /// Replaces the active targets of `job` (a discovery update for that job).
    pub async fn sync(&mut self, job: &str, targets: Vec<Target>) -> Result<(), UnknownJob> {
        match self.pools.get_mut(job) {
            Some(p) => {
                p.sync(targets).await;
                Ok(())
            }
            None => Err(UnknownJob(job.to_string())),
        }
    }

    /// The active targets of every job, with their health.
    pub fn targets(&self) -> BTreeMap<String, Vec<TargetStatus>> {
        self.pools
            .iter()
            .map(|(job, p)| (job.clone(), p.targets()))
            .collect()
    }

    /// Stops every loop, writing stale markers for every target.
    pub async fn stop(&mut self) {
        for p in self.pools.values_mut() {
            p.stop().await;
        }
        self.pools.clear();
    }
}
