//! Pull ingestion wired to the server: `tsdb_scrape`'s manager appending to the Db, one
//! discovery per job feeding it.
//!
//! Each job's discovery runs in a task of its own: every new list of target groups goes
//! through `targets_from_group` (relabeling), active targets are de-duplicated by their
//! labels (the first one kept, as Prometheus's scrape pool does) and handed to
//! `ScrapeManager::sync`; the targets relabeling dropped are kept for `/api/v1/targets`.
//!
//! A reload applies the new `scrape_configs` to the manager (unchanged jobs keep their
//! loops and state) and restarts the discovery of changed and new jobs only. Everything
//! that can fail (discovery clients, scrape clients) is built before anything changes, so
//! a refused configuration leaves the old one running.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::task::JoinHandle;
use tsdb_core::Db;
use tsdb_scrape::{
    targets_from_group, Discovery, DiscoveryOptions, DiscoveryStatus, DroppedTarget,
    PopulateOptions, ScrapeConfig, ScrapeManager, Shard, TargetStatus,
};

/// The scrape manager and the discovery of every job.
pub struct Scraping {
    manager: Arc<tokio::sync::Mutex<ScrapeManager>>,
    jobs: Mutex<BTreeMap<String, Job>>,
    /// The shard's member count (0: not sharded), for `/metrics`.
    shard_members: AtomicUsize,
    /// `--shard-members` lists refused since start.
    shard_members_refused: AtomicU64,
}

impl std::fmt::Debug for Scraping {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scraping")
            .field("jobs", &self.jobs.lock().keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// A job's discovery task and what it last dropped.
struct Job {
    config: ScrapeConfig,
    /// Its discovery's error counters.
    status: Arc<DiscoveryStatus>,
    dropped: Arc<Mutex<Vec<DroppedTarget>>>,
    task: JoinHandle<()>,
}

impl Drop for Job {
    fn drop(&mut self) {
        // Dropping the task's future drops its `Discovery`, which stops its providers.
        self.task.abort();
    }
}

/// Scraping's counters for `/metrics`.
#[derive(Debug, Default)]
pub struct ScrapingStats {
    /// Members of the shard ring; 0 when not sharded.
    pub shard_members: usize,
    /// `--shard-members` lists refused since start.
    pub shard_members_refused: u64,
    /// Per job: file_sd read errors and http_sd failures since the job's discovery started.
    pub discovery: Vec<(String, u64, u64)>,
}

/// The targets of every job, as `/api/v1/targets` shows them.
#[derive(Debug, Default)]
pub struct TargetsView {
    /// Active targets with their health, by job.
    pub active: BTreeMap<String, Vec<TargetStatus>>,
    /// Targets dropped by relabeling, by job.
    pub dropped: BTreeMap<String, Vec<DroppedTarget>>,
}

impl Scraping {
    /// A manager appending to `db`, scraping only `shard`'s targets when given, each
    /// target at a moment of its interval that depends on `offset_seed` (see
    /// [`tsdb_scrape::offset_seed`]). No jobs until [`Scraping::apply`].
    pub fn new(db: Db, shard: Option<Shard>, offset_seed: u64) -> Scraping {
        let members = shard.as_ref().map_or(0, |s| s.ring().members().len());
        let mut manager = ScrapeManager::new(Arc::new(db)).with_offset_seed(offset_seed);
        if let Some(shard) = shard {
            manager = manager.with_shard(shard);
        }
        Scraping {
            manager: Arc::new(tokio::sync::Mutex::new(manager)),
            jobs: Mutex::new(BTreeMap::new()),
            shard_members: AtomicUsize::new(members),
            shard_members_refused: AtomicU64::new(0),
        }
    }

    /// Applies a member list read again: nothing happens when it is the one in force.
    pub async fn set_shard(&self, shard: Option<Shard>) {
        let mut manager = self.manager.lock().await;
        if manager.shard() == shard.as_ref() {
            return;
        }
        let members = shard.as_ref().map_or(0, |s| s.ring().members().len());
        tracing::info!(members, "shard member list changed, targets divided again");
        // the gauge first: once the targets show the new division, so does /metrics
        self.shard_members.store(members, Ordering::Relaxed);
        manager.set_shard(shard).await;
    }

    /// Counts a member list refused by the watcher.
    pub fn shard_members_refused(&self) {
        self.shard_members_refused.fetch_add(1, Ordering::Relaxed);
    }

    /// What `/metrics` shows about scraping: the shard's member count, member lists
    /// refused, and each job's discovery errors (file_sd read errors, http_sd failures).
    pub fn stats(&self) -> ScrapingStats {
        ScrapingStats {
            shard_members: self.shard_members.load(Ordering::Relaxed),
            shard_members_refused: self.shard_members_refused.load(Ordering::Relaxed),
            discovery: self
                .jobs
                .lock()
                .iter()
                .map(|(name, job)| {
                    (
                        name.clone(),
                        job.status.file_read_errors(),
                        job.status.http_failures(),
                    )
                })
                .collect(),
        }
    }

    /// Applies resolved `scrape_configs`: all or nothing.
    pub async fn apply(&self, configs: &[ScrapeConfig]) -> Result<(), String> {
        // Held throughout: discovery tasks wait for it to sync, so none of a changed
        // job's old tasks can hand old targets to its new pool before being aborted.
        let mut manager = self.manager.lock().await;
        let mut started = Vec::new();
        {
            let jobs = self.jobs.lock();
            for cfg in configs {
                if jobs.get(&cfg.job_name).is_some_and(|j| &j.config == cfg) {
                    continue;
                }
                let discovery = Discovery::spawn(cfg, &DiscoveryOptions::default())
                    .map_err(|e| format!("scrape config {:?}: {e}", cfg.job_name))?;
                started.push((cfg.clone(), discovery));
            }
        }
        manager
            .apply_config(configs.to_vec())
            .await
            .map_err(|e| format!("scrape configs: {e}"))?;
        let mut jobs = self.jobs.lock();
        jobs.retain(|name, job| {
            configs
                .iter()
                .any(|c| &c.job_name == name && c == &job.config)
        });
        for (cfg, discovery) in started {
            let status = discovery.status().clone();
            let dropped = Arc::new(Mutex::new(Vec::new()));
            let task = tokio::spawn(run_job(
                cfg.clone(),
                discovery,
                self.manager.clone(),
                dropped.clone(),
            ));
            jobs.insert(
                cfg.job_name.clone(),
                Job {
                    config: cfg,
                    status,
                    dropped,
                    task,
                },
            );
        }
        Ok(())
    }

    /// The active and dropped targets of every job.
    pub async fn targets(&self) -> TargetsView {
        let active = self.manager.lock().await.targets();
        let dropped = self
            .jobs
            .lock()
            .iter()
            .map(|(name, job)| (name.clone(), job.dropped.lock().clone()))
            .collect();
        TargetsView { active, dropped }
    }

    /// Stops discovery, then every scrape loop (writing stale markers for every
    /// target): before the Db closes.
    pub async fn stop(&self) {
        let mut manager = self.manager.lock().await;
        self.jobs.lock().clear();
        manager.stop().await;
    }
}

/// One job's discovery feeding the manager, until aborted.
async fn run_job(
    cfg: ScrapeConfig,
    discovery: Discovery,
    manager: Arc<tokio::sync::Mutex<ScrapeManager>>,
    dropped: Arc<Mutex<Vec<DroppedTarget>>>,
) {
    let mut updates = discovery.subscribe();
    while updates.changed().await.is_ok() {
        let groups = updates.borrow_and_update().clone();
        let mut seen = HashSet::new();
        let mut active = Vec::new();
        let mut drops = Vec::new();
        for g in &groups {
            let targets = targets_from_group(&g.group, &cfg, PopulateOptions::default());
            for (i, e) in &targets.errors {
                tracing::warn!(job = %cfg.job_name, source = %g.source, target = i, error = %e, "target not scraped");
            }
            for t in targets.active {
                if seen.insert(t.all_labels().clone()) {
                    active.push(t);
                }
            }
            drops.extend(targets.dropped);
        }
        *dropped.lock() = drops;
        if let Err(e) = manager.lock().await.sync(&cfg.job_name, active).await {
            tracing::warn!(error = %e, "discovery update for a job no longer configured");
        }
    }
}
