//! The loaded rule groups (Prometheus's `rules.Manager`, synchronous): loading files,
//! reloading them keeping the state of unchanged rules, and evaluating a group when the
//! caller's timer says so.
//!
//! The server's loop, for each group `i` of [`RuleManager::groups`]: the first evaluation
//! at `groups()[i].eval_timestamp_ms(now) + interval`, then every interval after it,
//! [`RuleManager::evaluate_group`]`(i, t, &db, &db)`, the returned alerts sent to the
//! notifier; [`RuleManager::flush_removed_groups`]`(now, &db)` now and then; after
//! [`RuleManager::update`], the group list (and indexes) is new.
//!
//! ```
//! use tsdb_rules::{parse_rule_file, RuleManager, RuleOptions};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let dir = tempfile::tempdir()?;
//! let db = tsdb_core::Db::open(dir.path(), tsdb_core::Options::default())?;
//! let up = tsdb_index::Labels::new([("__name__", "up"), ("job", "api")])?;
//! db.append(&up, 1_700_000_000_000, 0.0)?;
//! let file = parse_rule_file(
//!     "rules.yml",
//!     b"groups:\n- name: g\n  rules:\n  - alert: Down\n    expr: up == 0\n",
//! )
//! .map_err(|e| format!("{e:?}"))?;
//! let mut rules = RuleManager::new(RuleOptions::default(), tsdb_query::Engine::default());
//! rules.update_files(vec![file], 1_700_000_000_000)?;
//! // The server's timer: the group's slot, then every interval.
//! let first = rules.groups()[0].eval_timestamp_ms(1_700_000_000_000) + rules.groups()[0].interval_ms();
//! let out = rules.evaluate_group(0, first, &db, &db).ok_or("no group")?;
//! assert_eq!(out.alerts.len(), 1); // `for: 0s`: firing at once, sent
//! assert_eq!(out.alerts[0].labels["alertname"], "Down");
//! # Ok(()) }
//! ```

use std::path::PathBuf;

use tsdb_query::{Engine, Queryable};

use crate::group::{stale_markers, EvalOutcome, RuleGroup, RuleOptions};
use crate::rulefile::{load_rule_file, RuleFile, RuleFileError};
use crate::sink::SampleSink;
use crate::util::LabelMap;

/// Series of a group a reload removed, marked stale two intervals later (Prometheus's
/// `markStale`), so a renamed rule writing them meanwhile wins.
#[derive(Debug)]
struct RemovedGroup {
    due_ms: i64,
    stamp_ms: i64,
    series: Vec<LabelMap>,
}

/// The rule groups of a set of files.
#[derive(Debug)]
pub struct RuleManager {
    options: RuleOptions,
    engine: Engine,
    groups: Vec<RuleGroup>,
    /// Whether a set of rules was loaded before (later loads do not restore `for` state).
    restored: bool,
    removed: Vec<RemovedGroup>,
}

impl RuleManager {
    /// A manager without groups.
    pub fn new(options: RuleOptions, engine: Engine) -> RuleManager {
        RuleManager {
            options,
            engine,
            groups: Vec::new(),
            restored: false,
            removed: Vec::new(),
        }
    }

    /// The options.
    pub fn options(&self) -> &RuleOptions {
        &self.options
    }

    /// Replaces the options (a configuration reload: external labels, URL, intervals);
    /// takes effect at the next evaluation and, for intervals, the next
    /// [`RuleManager::update`].
    pub fn set_options(&mut self, options: RuleOptions) {
        self.options = options;
    }

    /// The groups, sorted by file then name (Prometheus's `RuleGroups`). Indexes are
    /// valid until the next [`RuleManager::update`].
    pub fn groups(&self) -> &[RuleGroup] {
        &self.groups
    }

    /// The groups, to evaluate or inspect them directly.
    pub fn groups_mut(&mut self) -> &mut [RuleGroup] {
        &mut self.groups
    }

    /// Reads `files` and applies them ([`RuleManager::update_files`]). If any file has
    /// errors, nothing changes and every error is returned (Prometheus keeps the previous
    /// rule set).
    pub fn update(&mut self, files: &[PathBuf], now_ms: i64) -> Result<(), Vec<RuleFileError>> {
        let mut parsed = Vec::with_capacity(files.len());
        let mut errors = Vec::new();
        for f in files {
            match load_rule_file(f) {
                Ok(rf) => parsed.push(rf),
                Err(e) => errors.extend(e),
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        self.update_files(parsed, now_ms).map_err(|message| {
            vec![RuleFileError {
                file: String::new(),
                kind: crate::rulefile::ErrorKind::Yaml(message),
            }]
        })
    }

    /// Prometheus's `Manager.Update` with files already read: groups equal to a loaded one
    /// (same file, name, interval, limit, rules) are kept as they are; a changed group
    /// takes the state of its previous version ([`RuleGroup::copy_state`]); the series of
    /// removed groups are marked stale two intervals from `now_ms`
    /// ([`RuleManager::flush_removed_groups`]).
    pub fn update_files(&mut self, files: Vec<RuleFile>, now_ms: i64) -> Result<(), String> {
        let first_load = !self.restored;
        let mut new_groups = Vec::new();
        for file in files {
            for spec in file.groups {
                let name = spec.name.clone();
                let g = RuleGroup::new(&file.path, spec, &self.options, first_load)
                    .map_err(|e| format!("{}: group {name:?}: {e}", file.path))?;
                new_groups.push(g);
            }
        }
        // A file listed twice (overlapping globs) defines its groups once, as Prometheus's
        // map of groups by key does: the last definition wins.
        let mut seen = std::collections::HashSet::new();
        let mut deduped: Vec<RuleGroup> = new_groups
            .into_iter()
            .rev()
            .filter(|g| seen.insert(g.key()))
            .collect();
        deduped.reverse();
        let new_groups = deduped;
        self.restored = true;
        let mut old: Vec<Option<RuleGroup>> = std::mem::take(&mut self.groups)
            .into_iter()
            .map(Some)
            .collect();
        let mut result = Vec::with_capacity(new_groups.len());
        for mut g in new_groups {
            let found = old
                .iter()
                .position(|o| o.as_ref().is_some_and(|o| o.key() == g.key()));
            match found.and_then(|i| old[i].take()) {
                Some(o) if o.equals(&g) => result.push(o),
                Some(o) => {
                    g.copy_state(o);
                    result.push(g);
                }
                None => result.push(g),
            }
        }
        for mut o in old.into_iter().flatten() {
            let series = o.take_written_series();
            if !series.is_empty() {
                self.removed.push(RemovedGroup {
                    due_ms: now_ms.saturating_add(o.interval_ms().saturating_mul(2)),
                    stamp_ms: now_ms.saturating_sub(o.query_offset_ms()),
                    series,
                });
            }
        }
        result.sort_by(|a, b| (a.file(), a.name()).cmp(&(b.file(), b.name())));
        self.groups = result;
        Ok(())
    }

    /// Evaluates group `index` at `t` over `storage`, writing to `sink`
    /// ([`RuleGroup::evaluate`]); `None` if there is no such group.
    pub fn evaluate_group<Q: Queryable + ?Sized>(
        &mut self,
        index: usize,
        t: i64,
        storage: &Q,
        sink: &dyn SampleSink,
    ) -> Option<EvalOutcome> {
        let g = self.groups.get_mut(index)?;
        Some(g.evaluate(t, &self.engine, storage, sink, &self.options))
    }

    /// Writes the staleness markers of groups removed at least two of their intervals
    /// before `now_ms`; a failed append is retried at the next call.
    pub fn flush_removed_groups(&mut self, now_ms: i64, sink: &dyn SampleSink) {
        self.removed.retain(|r| {
            if r.due_ms > now_ms {
                return true;
            }
            sink.append_samples(&stale_markers(&r.series, r.stamp_ms))
                .is_err()
        });
    }

    /// The groups with the engine and options, to evaluate groups one by one from
    /// several places (`groups[i].evaluate(t, engine, storage, sink, options)`).
    pub fn parts_mut(&mut self) -> (&mut [RuleGroup], &Engine, &RuleOptions) {
        (&mut self.groups, &self.engine, &self.options)
    }

    /// The engine rules are evaluated with.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }
}
