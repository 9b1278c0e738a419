//! A rule group (Prometheus's `rules.Group`, in `manager.go` in 2.42): its rules
//! evaluated in order at one time, each rule's results written before the next rule runs,
//! staleness markers for series a rule stopped producing, the alerts to send, the `for`
//! state restored from `ALERTS_FOR_STATE` after a start, and the evaluation slot derived
//! from the group's hash.
//!
//! Nothing here reads a clock: the caller passes the evaluation time, so a server's timer,
//! `tsdb test rules` and tests with a fake clock drive the same code.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use tsdb_index::Matcher;
use tsdb_query::storage::{Querier, Series};
use tsdb_query::{Engine, Queryable, STALE_NAN_BITS};

use crate::alerting::{AlertingRule, NotifierAlert, TemplateEnv};
use crate::recording::RecordingRule;
use crate::rule::{EngineQuery, EvalError, Health, RuleStatus};
use crate::rulefile::{GroupSpec, RuleKind, RuleSpec};
use crate::sink::{Sample, SampleSink};
use crate::util::{labels_hash, labels_string, to_labels, to_map, LabelMap};

/// Settings every group shares (Prometheus's `ManagerOptions` and global config).
#[derive(Clone, Debug)]
pub struct RuleOptions {
    /// `global.evaluation_interval`: the interval of groups without their own (1m).
    pub evaluation_interval_ms: i64,
    /// `global.external_labels`, as templates see them (`$externalLabels`).
    pub external_labels: LabelMap,
    /// `--web.external-url` (`$externalURL`, the generator URL's prefix).
    pub external_url: String,
    /// `--rules.alert.resend-delay` (1m).
    pub resend_delay_ms: i64,
    /// `--rules.alert.for-outage-tolerance` (1h): how old an `ALERTS_FOR_STATE` sample may
    /// be to restore from it.
    pub outage_tolerance_ms: i64,
    /// `--rules.alert.for-grace-period` (10m): the least time an alert restored as
    /// pending waits before firing; rules with a shorter `for` are not restored.
    pub for_grace_period_ms: i64,
    /// `global.rule_query_offset` (Prometheus 2.53) for groups without `query_offset`.
    pub default_query_offset_ms: i64,
}

impl Default for RuleOptions {
    fn default() -> Self {
        RuleOptions {
            evaluation_interval_ms: 60_000,
            external_labels: LabelMap::new(),
            external_url: String::new(),
            resend_delay_ms: 60_000,
            outage_tolerance_ms: 3_600_000,
            for_grace_period_ms: 600_000,
            default_query_offset_ms: 0,
        }
    }
}

/// A recording or alerting rule.
#[derive(Debug)]
pub enum Rule {
    /// `record:`.
    Recording(RecordingRule),
    /// `alert:`.
    Alerting(AlertingRule),
}

impl Rule {
    /// Builds a rule from its spec. `restored`: whether alerting rules write `ALERTS*`
    /// from their first evaluation (false until the `for` state is restored).
    pub fn new(spec: RuleSpec, restored: bool) -> Result<Rule, String> {
        Ok(match spec.kind {
            RuleKind::Recording => Rule::Recording(RecordingRule::new(spec)?),
            RuleKind::Alerting => Rule::Alerting(AlertingRule::new(spec, restored)?),
        })
    }

    /// The rule as written.
    pub fn spec(&self) -> &RuleSpec {
        match self {
            Rule::Recording(r) => &r.spec,
            Rule::Alerting(r) => &r.spec,
        }
    }

    /// The rule's name.
    pub fn name(&self) -> &str {
        &self.spec().name
    }

    /// The expression as Prometheus prints it.
    pub fn query(&self) -> &str {
        match self {
            Rule::Recording(r) => r.query(),
            Rule::Alerting(r) => r.query(),
        }
    }

    /// Health and last evaluation.
    pub fn status(&self) -> &RuleStatus {
        match self {
            Rule::Recording(r) => &r.status,
            Rule::Alerting(r) => &r.status,
        }
    }

    fn status_mut(&mut self) -> &mut RuleStatus {
        match self {
            Rule::Recording(r) => &mut r.status,
            Rule::Alerting(r) => &mut r.status,
        }
    }

    /// Prometheus's `nameAndLabels`, which matches rules across a reload.
    fn name_and_labels(&self) -> String {
        format!("{}{}", self.name(), labels_string(&self.spec().labels))
    }

    /// What Prometheus's `Rule.String()` compares across a reload: the rule without its
    /// position, its expression as printed.
    fn identity(&self) -> (RuleKind, &str, &str, i64, i64, &LabelMap, &LabelMap) {
        let s = self.spec();
        (
            s.kind,
            s.name.as_str(),
            self.query(),
            s.for_ms,
            s.keep_firing_for_ms,
            &s.labels,
            &s.annotations,
        )
    }
}

/// What one evaluation of a group produced.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EvalOutcome {
    /// The alerts to send now, in rule order (what Prometheus's `NotifyFunc` receives;
    /// the notifier adds the external labels and relabels, as Prometheus's does).
    pub alerts: Vec<NotifierAlert>,
    /// Samples of rule results written (recording samples and `ALERTS*`).
    pub samples: usize,
    /// Rules whose evaluation failed.
    pub failed_rules: usize,
    /// Whether the `for` state was restored at the end of this evaluation.
    pub restored_for_state: bool,
}

/// Counters of a group's evaluations, the figures behind Prometheus's
/// `prometheus_rule_*` metrics for the server's `/metrics`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GroupStats {
    /// Group evaluations (`prometheus_rule_group_iterations_total`, less missed ones).
    pub evaluations: u64,
    /// Rule evaluations (`prometheus_rule_evaluations_total`).
    pub rule_evaluations: u64,
    /// Failed rule evaluations (`prometheus_rule_evaluation_failures_total`).
    pub rule_failures: u64,
    /// Samples written by the last evaluation (`prometheus_rule_group_last_evaluation_samples`).
    pub last_samples: u64,
}

/// A group of rules evaluated together, in order.
#[derive(Debug)]
pub struct RuleGroup {
    spec: GroupSpec,
    file: String,
    interval_ms: i64,
    query_offset_ms: i64,
    rules: Vec<Rule>,
    /// Per rule, the series written at its last successful evaluation.
    series_in_previous_eval: Vec<BTreeSet<LabelMap>>,
    /// Series of rules removed by a reload, to mark stale at the next evaluation.
    stale_series: Vec<LabelMap>,
    should_restore: bool,
    evaluations: u64,
    stats: GroupStats,
    last_evaluation_ms: Option<i64>,
    evaluation_time: Duration,
}

impl RuleGroup {
    /// The group `spec` of `file`. `first_load`: the group is loaded at start, so its
    /// alerting rules restore their `for` state after the second evaluation and write
    /// no `ALERTS*` samples before (Prometheus's `shouldRestore`, `restored`); a group
    /// loaded by a later reload neither waits nor restores.
    pub fn new(
        file: &str,
        spec: GroupSpec,
        options: &RuleOptions,
        first_load: bool,
    ) -> Result<RuleGroup, String> {
        let rules = spec
            .rules
            .iter()
            .map(|r| Rule::new(r.clone(), !first_load))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(RuleGroup {
            interval_ms: spec
                .interval_ms
                .unwrap_or(options.evaluation_interval_ms)
                .max(1),
            query_offset_ms: spec
                .query_offset_ms
                .unwrap_or(options.default_query_offset_ms),
            file: file.to_string(),
            series_in_previous_eval: vec![BTreeSet::new(); rules.len()],
            rules,
            spec,
            stale_series: Vec::new(),
            should_restore: first_load,
            evaluations: 0,
            stats: GroupStats::default(),
            last_evaluation_ms: None,
            evaluation_time: Duration::ZERO,
        })
    }

    /// The group's name.
    pub fn name(&self) -> &str {
        &self.spec.name
    }

    /// The file the group comes from.
    pub fn file(&self) -> &str {
        &self.file
    }

    /// Prometheus's `GroupKey`: `file;name`.
    pub fn key(&self) -> String {
        group_key(&self.file, &self.spec.name)
    }

    /// The evaluation interval (the group's, or the global one).
    pub fn interval_ms(&self) -> i64 {
        self.interval_ms
    }

    /// The group's `limit` (0: none).
    pub fn limit(&self) -> usize {
        self.spec.limit
    }

    /// The query offset in effect.
    pub fn query_offset_ms(&self) -> i64 {
        self.query_offset_ms
    }

    /// The rules, in order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The evaluation time of the last evaluation (the caller's clock).
    pub fn last_evaluation_ms(&self) -> Option<i64> {
        self.last_evaluation_ms
    }

    /// How long the last evaluation took.
    pub fn evaluation_time(&self) -> Duration {
        self.evaluation_time
    }

    /// Counters of the group's evaluations (kept across reloads that change the group).
    pub fn stats(&self) -> GroupStats {
        self.stats
    }

    /// Whether the group will restore the `for` state after its second evaluation.
    pub fn should_restore(&self) -> bool {
        self.should_restore
    }

    /// Turns the automatic `for` state restoration off (or on): `tsdb test rules`
    /// evaluates groups loaded at start without restoring, as promtool does.
    pub fn set_should_restore(&mut self, restore: bool) {
        self.should_restore = restore;
    }

    /// The evaluation time at or before `now_ms` in this group's slot:
    /// Prometheus's `EvalTimestamp` (see [`eval_timestamp_ms`]). The server evaluates
    /// at this time plus whole intervals.
    pub fn eval_timestamp_ms(&self, now_ms: i64) -> i64 {
        eval_timestamp_ms(&self.file, &self.spec.name, self.interval_ms, now_ms)
    }

    /// Evaluates every rule at `t` (ms, the group's evaluation time: use
    /// [`RuleGroup::eval_timestamp_ms`] plus whole intervals), queries at `t - query_offset`
    /// over `storage`, results written to `sink` rule by rule (so the next rule reads
    /// them when `sink` and `storage` are the same database), and returns the alerts to
    /// send. After the second evaluation of a group loaded at start, the `for` state is
    /// restored (Prometheus's `RestoreForState`, at `t` + 1 ms: Prometheus's clock
    /// just after the evaluation).
    pub fn evaluate<Q: Queryable + ?Sized>(
        &mut self,
        t: i64,
        engine: &Engine,
        storage: &Q,
        sink: &dyn SampleSink,
        options: &RuleOptions,
    ) -> EvalOutcome {
        let started = Instant::now();
        let query = EngineQuery { engine, storage };
        let env = TemplateEnv {
            external_labels: options.external_labels.clone(),
            external_url: options.external_url.clone(),
        };
        let offset = self.query_offset_ms;
        let stamp = t.saturating_sub(offset);
        let mut outcome = EvalOutcome::default();
        for i in 0..self.rules.len() {
            let rule_started = Instant::now();
            let limit = self.spec.limit;
            let result = match &mut self.rules[i] {
                Rule::Recording(r) => r.eval(stamp, &query, limit),
                Rule::Alerting(r) => r.eval(t, offset, &query, &env, limit),
            };
            let rule = &mut self.rules[i];
            let vector = match result {
                Ok(v) => v,
                Err(e) => {
                    set_bad(rule.status_mut(), &e);
                    outcome.failed_rules += 1;
                    finish(rule.status_mut(), t, rule_started);
                    continue;
                }
            };
            {
                let status = rule.status_mut();
                status.health = Health::Good;
                status.last_error = None;
            }
            if let Rule::Alerting(r) = rule {
                outcome.alerts.extend(r.alerts_to_send(
                    t,
                    options.resend_delay_ms,
                    self.interval_ms,
                    &options.external_url,
                ));
            }
            // The rule's samples, then staleness markers for the series it no longer
            // produces, in one append (one appender commit in Prometheus).
            let mut samples = Vec::with_capacity(vector.len());
            let mut sample_maps = Vec::with_capacity(vector.len());
            let mut label_errors = Vec::new();
            for (map, ts, v) in vector {
                match to_labels(&map) {
                    Ok(labels) => {
                        samples.push(Sample { labels, t: ts, v });
                        sample_maps.push(map);
                    }
                    Err(e) => label_errors.push(e),
                }
            }
            let n = samples.len();
            let produced: BTreeSet<&LabelMap> = sample_maps.iter().collect();
            let stale: Vec<&LabelMap> = self.series_in_previous_eval[i]
                .iter()
                .filter(|m| !produced.contains(m))
                .collect();
            for m in stale {
                if let Ok(labels) = to_labels(m) {
                    samples.push(Sample {
                        labels,
                        t: stamp,
                        v: f64::from_bits(STALE_NAN_BITS),
                    });
                }
            }
            if let Some(e) = label_errors.pop() {
                set_bad(rule.status_mut(), &EvalError::Append(e));
            }
            match sink.append_samples(&samples) {
                Err(e) => {
                    set_bad(rule.status_mut(), &EvalError::Append(e));
                    outcome.failed_rules += 1;
                }
                Ok(rejected) => {
                    let mut refused = vec![false; n];
                    for (idx, why) in rejected {
                        if idx < n {
                            refused[idx] = true;
                            set_bad(rule.status_mut(), &EvalError::Append(why));
                        }
                    }
                    let returned: BTreeSet<LabelMap> = sample_maps
                        .into_iter()
                        .zip(refused)
                        .filter(|(_, r)| !r)
                        .map(|(m, _)| m)
                        .collect();
                    outcome.samples += returned.len();
                    self.series_in_previous_eval[i] = returned;
                }
            }
            finish(self.rules[i].status_mut(), t, rule_started);
        }
        self.cleanup_stale_series(stamp, sink);
        self.evaluations += 1;
        self.stats.evaluations += 1;
        self.stats.rule_evaluations += self.rules.len() as u64;
        self.stats.rule_failures += outcome.failed_rules as u64;
        self.stats.last_samples = outcome.samples as u64;
        self.last_evaluation_ms = Some(t);
        if self.should_restore && self.evaluations >= 2 {
            // Prometheus restores at `time.Now()` once the second evaluation is done,
            // always after that evaluation's time: one millisecond after it here, which
            // decides, as in Prometheus, that an alert whose shifted activation falls
            // on an evaluation time fires at the next one.
            self.restore_for_state(t.saturating_add(1), storage, options);
            self.should_restore = false;
            outcome.restored_for_state = true;
        }
        self.evaluation_time = started.elapsed();
        outcome
    }

    /// Marks the series of rules a reload removed as stale (Prometheus's
    /// `cleanupStaleSeries`); kept for the next evaluation if the append fails.
    fn cleanup_stale_series(&mut self, stamp: i64, sink: &dyn SampleSink) {
        if self.stale_series.is_empty() {
            return;
        }
        let samples = stale_markers(&self.stale_series, stamp);
        if sink.append_samples(&samples).is_ok() {
            self.stale_series.clear();
        }
    }

    /// Prometheus's `RestoreForState` at `t`: each active alert of a rule whose `for`
    /// is at least the grace period takes its `active_at` back from the last
    /// `ALERTS_FOR_STATE` sample within the outage tolerance — unchanged if it was firing
    /// when the process stopped, otherwise shifted by the downtime, and never firing
    /// sooner than the grace period from now. Every alerting rule is marked restored.
    pub fn restore_for_state<Q: Queryable + ?Sized>(
        &mut self,
        t: i64,
        storage: &Q,
        options: &RuleOptions,
    ) {
        let mint = t.saturating_sub(options.outage_tolerance_ms);
        let querier = storage.querier(mint, t).ok();
        for rule in &mut self.rules {
            let Rule::Alerting(ar) = rule else { continue };
            let hold = ar.spec.for_ms;
            if hold < options.for_grace_period_ms {
                ar.restored = true;
                continue;
            }
            let Some(querier) = querier.as_ref() else {
                ar.restored = true;
                continue;
            };
            let keys: Vec<LabelMap> = ar.active.keys().cloned().collect();
            for key in keys {
                let Some(alert) = ar.active.get(&key) else {
                    continue;
                };
                let series_labels = ar.for_state_labels(alert);
                let Some((down_ms, v)) = last_sample(querier, mint, t, &series_labels) else {
                    continue;
                };
                // A staleness marker (a NaN): the alert was not active. A value that is no time
                // (not finite, or beyond year 30,000) is not restored from either: it
                // comes from storage, and the arithmetic below must not overflow.
                if v.is_nan() || v.abs() >= 1e12 {
                    continue;
                }
                // Seconds, as Prometheus restores them.
                let down_at = down_ms.div_euclid(1000).saturating_mul(1000);
                let mut restored_active_at = (v as i64).saturating_mul(1000);
                let remaining = hold.saturating_sub(down_at.saturating_sub(restored_active_at));
                if remaining <= 0 {
                    // It was firing: it fires again at the next evaluation.
                } else if remaining < options.for_grace_period_ms {
                    restored_active_at = t
                        .saturating_add(options.for_grace_period_ms)
                        .saturating_sub(hold);
                } else {
                    restored_active_at =
                        restored_active_at.saturating_add(t.saturating_sub(down_at));
                }
                if let Some(a) = ar.active.get_mut(&key) {
                    a.active_at = restored_active_at;
                }
            }
            ar.restored = true;
        }
    }

    /// Whether `other` is the same group (Prometheus's `Group.Equals`): same name, file,
    /// interval, limit, query offset and rules.
    pub fn equals(&self, other: &RuleGroup) -> bool {
        self.spec.name == other.spec.name
            && self.file == other.file
            && self.interval_ms == other.interval_ms
            && self.spec.limit == other.spec.limit
            && self.query_offset_ms == other.query_offset_ms
            && self.rules.len() == other.rules.len()
            && self
                .rules
                .iter()
                .zip(&other.rules)
                .all(|(a, b)| a.identity() == b.identity())
    }

    /// Prometheus's `CopyState`: the state of `from` (the same group before a reload)
    /// carried over rule by rule, matched by name and labels (the first with the first
    /// if several share them): the series last written and the active alerts. Series of
    /// rules that no longer exist are marked stale at the next evaluation.
    pub fn copy_state(&mut self, from: RuleGroup) {
        self.evaluation_time = from.evaluation_time;
        self.last_evaluation_ms = from.last_evaluation_ms;
        self.stats = from.stats;
        let mut by_name: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for (fi, r) in from.rules.iter().enumerate() {
            by_name.entry(r.name_and_labels()).or_default().push(fi);
        }
        let mut from_rules: Vec<Option<Rule>> = from.rules.into_iter().map(Some).collect();
        let mut from_series = from.series_in_previous_eval;
        for (i, rule) in self.rules.iter_mut().enumerate() {
            let Some(indexes) = by_name.get_mut(&rule.name_and_labels()) else {
                continue;
            };
            if indexes.is_empty() {
                continue;
            }
            let fi = indexes.remove(0);
            self.series_in_previous_eval[i] = std::mem::take(&mut from_series[fi]);
            if let (Rule::Alerting(ar), Some(Rule::Alerting(far))) = (rule, from_rules[fi].take()) {
                ar.active.extend(far.active);
            }
        }
        self.stale_series = from.stale_series;
        for indexes in by_name.into_values() {
            for fi in indexes {
                self.stale_series
                    .extend(std::mem::take(&mut from_series[fi]));
            }
        }
    }

    /// Every series this group wrote at its last evaluations (for the stale markers of a
    /// group a reload removed).
    pub(crate) fn take_written_series(&mut self) -> Vec<LabelMap> {
        let mut out = std::mem::take(&mut self.stale_series);
        for s in &mut self.series_in_previous_eval {
            out.extend(std::mem::take(s));
        }
        out
    }
}

/// Staleness markers for `series` at `t`.
pub(crate) fn stale_markers(series: &[LabelMap], t: i64) -> Vec<Sample> {
    series
        .iter()
        .filter_map(|m| to_labels(m).ok())
        .map(|labels| Sample {
            labels,
            t,
            v: f64::from_bits(STALE_NAN_BITS),
        })
        .collect()
}

fn set_bad(status: &mut RuleStatus, e: &EvalError) {
    status.health = Health::Bad;
    status.last_error = Some(e.to_string());
}

fn finish(status: &mut RuleStatus, t: i64, started: Instant) {
    status.last_evaluation_ms = Some(t);
    status.evaluation_duration = started.elapsed();
}

/// The last sample in `[mint, maxt]` of the series with exactly `labels`.
fn last_sample<Q: Querier>(q: &Q, mint: i64, maxt: i64, labels: &LabelMap) -> Option<(i64, f64)> {
    let matchers: Vec<Matcher> = labels
        .iter()
        .map(|(k, v)| Matcher::equal(k.as_str(), v.as_str()))
        .collect();
    let series = q.select(mint, maxt, &matchers).ok()?;
    let s = series.iter().find(|s| to_map(s.labels()) == *labels)?;
    let (mut ts, mut vs) = (Vec::new(), Vec::new());
    s.read_into(&mut ts, &mut vs).ok()?;
    Some((*ts.last()?, *vs.last()?))
}

/// Prometheus's `GroupKey`: `file;name` (names are unique per file only).
pub fn group_key(file: &str, name: &str) -> String {
    format!("{file};{name}")
}

/// Prometheus's `Group.EvalTimestamp`: the latest time at or before `now_ms` in the
/// group's evaluation slot, which is offset within the interval by the hash of the
/// group's name and file so that groups spread over the interval. Computed in
/// nanoseconds as Prometheus does, returned in milliseconds (truncated, as Prometheus
/// stamps samples).
pub fn eval_timestamp_ms(file: &str, name: &str, interval_ms: i64, now_ms: i64) -> i64 {
    let interval = i128::from(interval_ms.max(1)) * 1_000_000;
    let hash = labels_hash(&[("file", file), ("name", name)]);
    let offset = i128::from(hash) % interval;
    let adj_now = i128::from(now_ms) * 1_000_000 - offset;
    let base = adj_now - adj_now.rem_euclid(interval);
    let next = base + offset;
    i64::try_from(next.div_euclid(1_000_000)).unwrap_or(now_ms)
}
