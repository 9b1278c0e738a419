//! Rule evaluation in the server: `tsdb-rules`' [`RuleManager`] over the database, one
//! tokio task per group waking at the group's evaluation slots (Prometheus's
//! `EvalTimestamp`: a hash of file and group name spreads groups over their interval),
//! each evaluation run on a blocking thread, its alerts handed to [`Rules::new`]'s
//! `notify` (the external Alertmanagers and the built-in manager).
//!
//! A slot missed because the previous evaluation ran long is skipped and counted
//! (`prometheus_rule_group_iterations_missed_total`), as Prometheus does. A reload reads
//! every rule file first and changes nothing when one is invalid; then the manager keeps
//! the state of unchanged rules and the group tasks restart on the new list.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;
use tsdb_core::Db;
use tsdb_rules::{RuleFile, RuleManager, RuleOptions};

use super::config::Config;
use super::flags::Flags;

/// What the server does with the alerts an evaluation gives (already carrying the
/// external labels).
pub type NotifyFn = Arc<dyn Fn(Vec<tsdb_alert::Alert>) + Send + Sync>;

/// The rule groups in force and their tasks.
pub struct Rules {
    manager: Arc<Mutex<RuleManager>>,
    db: Db,
    notify: NotifyFn,
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    /// Per group key: slots skipped because the evaluation before ran past them.
    missed: Arc<Mutex<std::collections::BTreeMap<String, u64>>>,
    evaluations: Arc<AtomicU64>,
}

impl std::fmt::Debug for Rules {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rules").finish_non_exhaustive()
    }
}

/// Now, in Unix milliseconds.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The rule options of these flags and configuration.
pub fn rule_options(flags: &Flags, config: &Config, external_url: &str) -> RuleOptions {
    let ms = |d: Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
    RuleOptions {
        evaluation_interval_ms: ms(config.evaluation_interval),
        external_labels: config.external_labels.clone(),
        external_url: external_url.to_owned(),
        resend_delay_ms: ms(flags.rules_resend_delay),
        outage_tolerance_ms: ms(flags.rules_for_outage_tolerance),
        for_grace_period_ms: ms(flags.rules_for_grace_period),
        ..RuleOptions::default()
    }
}

/// The files `rule_files`' patterns name now (Go's `filepath.Glob`: a pattern matching
/// nothing adds nothing; a pattern that is not a valid glob is an error).
pub fn rule_file_paths(patterns: &[String]) -> Result<Vec<PathBuf>, String> {
    let mut out = Vec::new();
    for p in patterns {
        let matches = glob::glob(p).map_err(|e| format!("rule_files: {p:?}: {e}"))?;
        for m in matches {
            let path = m.map_err(|e| format!("rule_files: {p:?}: {e}"))?;
            if !out.contains(&path) {
                out.push(path);
            }
        }
    }
    Ok(out)
}

/// Reads and checks every rule file `config` names; every error, one per line (the file,
/// line, group and rule named as `promtool check rules` does).
pub fn load_rule_files(config: &Config) -> Result<Vec<RuleFile>, String> {
    let paths = rule_file_paths(&config.rule_files)?;
    let mut files = Vec::with_capacity(paths.len());
    let mut errors = Vec::new();
    for path in &paths {
        match tsdb_rules::load_rule_file(path) {
            Ok(f) => files.push(f),
            Err(es) => errors.extend(es.into_iter().map(|e| e.to_string())),
        }
    }
    if errors.is_empty() {
        Ok(files)
    } else {
        Err(format!("invalid rule files:\n{}", errors.join("\n")))
    }
}

impl Rules {
    /// A manager with `files` loaded; no group runs before [`Rules::start`].
    pub fn new(
        db: Db,
        options: RuleOptions,
        engine: tsdb_query::Engine,
        files: Vec<RuleFile>,
        notify: NotifyFn,
    ) -> Result<Rules, String> {
        let mut manager = RuleManager::new(options, engine);
        manager.update_files(files, now_ms())?;
        Ok(Rules {
            manager: Arc::new(Mutex::new(manager)),
            db,
            notify,
            tasks: Mutex::new(Vec::new()),
            missed: Arc::new(Mutex::new(std::collections::BTreeMap::new())),
            evaluations: Arc::new(AtomicU64::new(0)),
        })
    }

    /// The manager (for `/api/v1/rules`, `/api/v1/alerts` and `/metrics`).
    pub fn manager(&self) -> &Mutex<RuleManager> {
        &self.manager
    }

    /// Slots skipped per group key.
    pub fn missed(&self) -> std::collections::BTreeMap<String, u64> {
        self.missed.lock().clone()
    }

    /// Group evaluations run since start.
    pub fn evaluations(&self) -> u64 {
        self.evaluations.load(Ordering::Relaxed)
    }

    /// Starts one task per group.
    pub fn start(&self) {
        let count = self.manager.lock().groups().len();
        let mut tasks = self.tasks.lock();
        for t in tasks.drain(..) {
            t.abort();
        }
        for index in 0..count {
            tasks.push(tokio::spawn(run_group(
                self.manager.clone(),
                self.db.clone(),
                self.notify.clone(),
                self.missed.clone(),
                self.evaluations.clone(),
                index,
            )));
        }
    }

    /// Applies new options and rule files (already read and checked), keeping the state
    /// of unchanged rules, and restarts the group tasks.
    pub fn update(&self, options: RuleOptions, files: Vec<RuleFile>) -> Result<(), String> {
        {
            let mut tasks = self.tasks.lock();
            for t in tasks.drain(..) {
                t.abort();
            }
        }
        let result = {
            let mut m = self.manager.lock();
            m.set_options(options);
            m.update_files(files, now_ms())
        };
        self.start();
        result
    }

    /// Stops every group task (shutdown, before the database closes).
    pub async fn stop(&self) {
        let tasks: Vec<_> = self.tasks.lock().drain(..).collect();
        for t in &tasks {
            t.abort();
        }
        for t in tasks {
            let _ = t.await;
        }
    }
}

/// Evaluates group `index` at each of its slots until aborted.
async fn run_group(
    manager: Arc<Mutex<RuleManager>>,
    db: Db,
    notify: NotifyFn,
    missed: Arc<Mutex<std::collections::BTreeMap<String, u64>>>,
    evaluations: Arc<AtomicU64>,
    index: usize,
) {
    let Some((key, interval_ms, first_slot)) = ({
        let m = manager.lock();
        m.groups().get(index).map(|g| {
            let interval = g.interval_ms().max(1);
            (g.key(), interval, g.eval_timestamp_ms(now_ms()) + interval)
        })
    }) else {
        return;
    };
    let mut slot = first_slot;
    loop {
        let wait = slot - now_ms();
        if wait > 0 {
            tokio::time::sleep(Duration::from_millis(u64::try_from(wait).unwrap_or(0))).await;
        }
        let (manager2, db2) = (manager.clone(), db.clone());
        // flush_removed_groups rides along: it is cheap and needs the same lock
        let outcome = tokio::task::spawn_blocking(move || {
            let mut m = manager2.lock();
            m.flush_removed_groups(now_ms(), &db2);
            let external = m.options().external_labels.clone();
            m.evaluate_group(index, slot, &db2, &db2)
                .map(|o| (o, external))
        })
        .await;
        evaluations.fetch_add(1, Ordering::Relaxed);
        if let Ok(Some((outcome, external))) = outcome {
            if !outcome.alerts.is_empty() {
                let now = now_ms();
                let alerts = outcome
                    .alerts
                    .into_iter()
                    .map(|a| {
                        let a = a.with_external_labels(&external);
                        tsdb_alert::Alert {
                            labels: a.labels,
                            annotations: a.annotations,
                            starts_at_ms: a.starts_at.unwrap_or(now),
                            ends_at_ms: a.ends_at,
                            generator_url: a.generator_url,
                            updated_at_ms: now,
                        }
                    })
                    .collect();
                notify(alerts);
            }
        }
        // the next slot after now; the ones the evaluation ran past are skipped
        let next = slot + interval_ms;
        let now = now_ms();
        if now > next {
            let skipped = (now - next) / interval_ms + 1;
            *missed.lock().entry(key.clone()).or_default() += u64::try_from(skipped).unwrap_or(0);
            slot = next + skipped * interval_ms;
        } else {
            slot = next;
        }
    }
}
