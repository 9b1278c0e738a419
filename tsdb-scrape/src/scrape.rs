//! The synchronous, network-free heart of a scrape, as Prometheus 2.42's
//! `scrape/scrape.go` (`scrapeLoop.append`, `report`, `endOfRunStaleness`) does it: a
//! fetched body goes in, the samples to append come out (scraped samples, stale markers,
//! the report series), and [`ScrapeState`] carries what Prometheus's `scrapeCache` keeps
//! between two scrapes of one target. The caller does the HTTP request, measures its
//! duration and appends the result ([`ScrapeOutcome::to_batch`]) to its database.
//!
//! What is done as Prometheus does it:
//! - The dialect comes from the `Content-Type`: OpenMetrics for
//!   `application/openmetrics-text`, Prometheus text 0.0.4 for anything else, a missing or
//!   unparsable type included (Prometheus's `textparse.New` fallback). The content is never
//!   sniffed.
//! - Timestamps written in the body are kept with `honor_timestamps` (the default), else
//!   every sample gets the scrape time. A series with a kept timestamp is left out of
//!   staleness tracking, as Prometheus does.
//! - Target labels (those not starting with `__`) are attached by `mutateSampleLabels`:
//!   with `honor_labels` an exposed label wins and target labels fill in only the names
//!   the series lacks; without it the target label wins and the exposed value moves to
//!   `exported_<name>` (`exported_exported_<name>` if that name is taken, and so on; the
//!   conflicts are resolved shortest name first, as `resolveConflictingExposedLabels`
//!   does). Then `metric_relabel_configs` ([`crate::relabel::process`]); a series they drop,
//!   or leave with no labels, is skipped and not counted after relabeling.
//! - Checks on each kept series, failing the whole scrape: a `__name__` is required
//!   (`missing metric name (__name__ label)`), names must be valid (`invalid metric name or
//!   label names: …`), then `label_limit`, `label_name_length_limit`,
//!   `label_value_length_limit` with Prometheus's messages.
//! - `sample_limit` counts samples after metric relabeling; past it parsing goes on so
//!   that `scrape_samples_scraped` and `scrape_samples_post_metric_relabeling` still count
//!   the whole body, and the scrape fails with `sample limit exceeded`.
//! - A failed scrape (parse error, a limit, or a fetch error given to
//!   [`ScrapeState::fail`]) appends none of its samples: what it reports is `up` 0 and the
//!   counts reached before the failure (Prometheus reports the failed attempt's counts;
//!   a fetch error has none), plus stale markers for every series the previous scrape
//!   appended.
//! - Staleness: a series the previous successful scrape appended and this one does not
//!   gets a stale marker ([`STALE_NAN_BITS`]) at this scrape's time; [`ScrapeState::stale_all`]
//!   is `endOfRunStaleness`, for a target that went away (its series and its report series).
//! - The report series `up`, `scrape_duration_seconds`, `scrape_samples_scraped`,
//!   `scrape_samples_post_metric_relabeling` and `scrape_series_added` carry the target
//!   labels and the scrape time. A series counts as added when its exposed label set was
//!   not in the previous scrape (Prometheus's series cache: flushed after each successful,
//!   non-empty scrape, grown by a failed one).
//! - The same series twice in one body: both count as scraped and post-relabeling, the
//!   first sample wins (Prometheus's head keeps the first of two samples at one timestamp
//!   in a commit); the later one is left out of [`ScrapeOutcome::samples`] and counted in
//!   [`ScrapeOutcome::duplicates`].
//! - Metadata: the `# TYPE`, `# HELP` and `# UNIT` lines read (also by a scrape that fails
//!   later) are kept per family ([`ScrapeState::metadata`]) until the family has been
//!   missing from 10 successful non-empty scrapes.
//!
//! The series cache is keyed, as Prometheus's is, by the series' text as written (so
//! `a{x="1",y="2"}` and `a{y="2",x="1"}` are two entries, whose samples are duplicates of
//! each other): a known text is neither parsed into labels, relabeled nor checked again
//! ([`Parser::next_known`]).
//!
//! Where we differ, knowingly: our parser refuses exposed label names starting with `__`, which
//! Prometheus accepts: such a body is a parse error here. Prometheus stops tracking
//! staleness for the series it had already appended when a scrape fails half-way, which
//! spares them the stale marker; we mark every series of the previous scrape stale on any
//! failure, as the issue asks ("when a target fails, write stale markers"). A family's
//! metadata is what the latest scrape declaring it said, whole; Prometheus updates type,
//! help and unit one by one, so there a unit declared once outlives later scrapes that
//! declare only the help.

use std::collections::hash_map::Entry as MapEntry;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::hash::BuildHasher as _;
use std::sync::Arc;
use std::time::Duration;

use tsdb_core::{Batch, BatchOutcome, SampleError, SeriesRef};
use tsdb_index::{
    is_valid_label_name, is_valid_metric_name, LabelLimits, Labels, MAX_STRING_LEN, METRIC_NAME,
};
use tsdb_text::prometheus::{Dialect, Family, MetricType, Options, Parser, SampleRef};
use tsdb_text::LineError;

use crate::relabel::{self, RelabelConfig};

/// The bits of Prometheus's stale marker (`value.StaleNaN`), a NaN no computation
/// produces: queries stop returning a series at the first sample with these bits. Same
/// bits as `tsdb_query::STALE_NAN_BITS` (not imported: this crate does not depend on the
/// query engine).
pub const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

/// The stale marker as a value.
pub fn stale_nan() -> f64 {
    f64::from_bits(STALE_NAN_BITS)
}

/// The prefix given to an exposed label that conflicts with a target label
/// (Prometheus's `model.ExportedLabelPrefix`).
pub const EXPORTED_PREFIX: &str = "exported_";

/// The names of the report series, in the order Prometheus appends them.
pub const REPORT_SERIES: [&str; 5] = [
    "up",
    "scrape_duration_seconds",
    "scrape_samples_scraped",
    "scrape_samples_post_metric_relabeling",
    "scrape_series_added",
];

/// What a scrape configuration says about processing a body (the fields of a
/// `scrape_configs` entry that matter once the body is fetched). Limits of 0 mean none,
/// as in Prometheus.
#[derive(Clone, Debug, PartialEq)]
pub struct ScrapeOptions {
    /// `honor_labels`: exposed labels win over target labels. Default `false`.
    pub honor_labels: bool,
    /// `honor_timestamps`: keep the timestamps written in the body. Default `true`.
    pub honor_timestamps: bool,
    /// `metric_relabel_configs`, applied after the target labels are attached.
    pub metric_relabel_configs: Vec<RelabelConfig>,
    /// `sample_limit`: most samples after metric relabeling. 0: no limit.
    pub sample_limit: usize,
    /// `label_limit`: most labels per series, `__name__` included. 0: no limit.
    pub label_limit: usize,
    /// `label_name_length_limit`, in bytes. 0: no limit.
    pub label_name_length_limit: usize,
    /// `label_value_length_limit`, in bytes. 0: no limit.
    pub label_value_length_limit: usize,
}

impl Default for ScrapeOptions {
    fn default() -> Self {
        ScrapeOptions {
            honor_labels: false,
            honor_timestamps: true,
            metric_relabel_configs: Vec::new(),
            sample_limit: 0,
            label_limit: 0,
            label_name_length_limit: 0,
            label_value_length_limit: 0,
        }
    }
}

/// Why a scrape failed; the `Display` text is what Prometheus shows as `lastError`.
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScrapeError {
    /// The request failed before a body was read (connection, status, timeout, body
    /// size): the caller's own message, shown as is.
    #[error("{0}")]
    Fetch(String),
    /// A line of the body does not parse (its line number and column are in the
    /// error); the scrape stops there.
    #[error("{0}")]
    Parse(Arc<LineError>),
    /// More samples than `sample_limit` after metric relabeling.
    #[error("sample limit exceeded")]
    SampleLimitExceeded,
    /// A series without a metric name after relabeling.
    #[error("missing metric name (__name__ label)")]
    MissingMetricName,
    /// A series whose metric name or a label name is not valid after relabeling.
    #[error("invalid metric name or label names: {0}")]
    InvalidLabels(String),
    /// A series with more labels than `label_limit`.
    #[error(
        "label_limit exceeded (metric: {metric:.50}, number of labels: {count}, limit: {limit})"
    )]
    LabelLimitExceeded {
        /// The metric name.
        metric: String,
        /// Labels of the series, `__name__` included.
        count: usize,
        /// The limit.
        limit: usize,
    },
    /// A label name longer than `label_name_length_limit`.
    #[error("label_name_length_limit exceeded (metric: {metric:.50}, label name: {name:.50}, length: {len}, limit: {limit})")]
    LabelNameLengthExceeded {
        /// The metric name.
        metric: String,
        /// The label name.
        name: String,
        /// Its length in bytes.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// A label value longer than `label_value_length_limit`.
    #[error("label_value_length_limit exceeded (metric: {metric:.50}, label name: {name:.50}, value: {}, length: {len}, limit: {limit})", go_quote_50(.value))]
    LabelValueLengthExceeded {
        /// The metric name.
        metric: String,
        /// The label name.
        name: String,
        /// The value.
        value: String,
        /// Its length in bytes.
        len: usize,
        /// The limit.
        limit: usize,
    },
}

/// Go's `%.50q`: the first 50 characters, double-quoted with Go escapes (close enough:
/// Rust's `escape_debug` escapes the same printable set for label values).
fn go_quote_50(value: &str) -> String {
    let cut: String = value.chars().take(50).collect();
    format!("{cut:?}")
}

/// One sample to append.
#[derive(Clone, Debug)]
pub struct AppendSample {
    /// The final label set (target labels attached, metric relabeling applied).
    pub labels: Labels,
    /// Milliseconds since the epoch.
    pub t: i64,
    /// The value; a stale marker has the bits [`STALE_NAN_BITS`].
    pub v: f64,
    /// The database's reference for these labels, when an earlier append returned one
    /// (see [`ScrapeState::learn_refs`]): the batch then names the series by it and the
    /// database skips the label lookup. Not part of equality.
    pub series_ref: Option<SeriesRef>,
}

impl PartialEq for AppendSample {
    /// Equal labels and timestamps, values equal bit for bit (stale markers and NaN
    /// told apart).
    fn eq(&self, other: &Self) -> bool {
        self.labels == other.labels && self.t == other.t && self.v.to_bits() == other.v.to_bits()
    }
}

/// The figures of the report series of one scrape.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ScrapeReport {
    /// `up`: the scrape succeeded.
    pub up: bool,
    /// `scrape_duration_seconds`, as the caller measured it.
    pub duration: Duration,
    /// `scrape_samples_scraped`: sample lines read.
    pub samples_scraped: usize,
    /// `scrape_samples_post_metric_relabeling`: samples kept by metric relabeling.
    pub samples_post_metric_relabeling: usize,
    /// `scrape_series_added`: series not in the previous scrape.
    pub series_added: usize,
}

impl ScrapeReport {
    /// The report values in [`REPORT_SERIES`] order.
    pub fn values(&self) -> [f64; 5] {
        [
            if self.up { 1.0 } else { 0.0 },
            self.duration.as_secs_f64(),
            self.samples_scraped as f64,
            self.samples_post_metric_relabeling as f64,
            self.series_added as f64,
        ]
    }
}

/// What one scrape produced.
#[derive(Clone, Debug)]
pub struct ScrapeOutcome {
    /// Everything to append, in order: the scraped samples (none if the scrape failed),
    /// the stale markers, then the five report series.
    pub samples: Vec<AppendSample>,
    /// The report figures (also among [`ScrapeOutcome::samples`]).
    pub report: ScrapeReport,
    /// Why the scrape failed; `None` when `up` is 1.
    pub error: Option<ScrapeError>,
    /// Stale markers among the samples.
    pub stale_markers: usize,
    /// Samples left out because the same series already had a sample at that time in
    /// this body.
    pub duplicates: usize,
}

impl ScrapeOutcome {
    /// The samples as a batch for `Db::append_batch`.
    pub fn to_batch(&self) -> Batch {
        samples_to_batch(&self.samples)
    }
}

/// A batch of `samples`, one batch series per run of equal label sets, named by its
/// [`AppendSample::series_ref`] when it has one. Batch sample `i` is `samples[i]`.
pub fn samples_to_batch(samples: &[AppendSample]) -> Batch {
    let mut batch = Batch::new();
    let mut last: Option<(&Labels, tsdb_core::BatchSeries)> = None;
    for s in samples {
        let series = match (last, s.series_ref) {
            (Some((l, series)), _) if *l == s.labels => series,
            (_, Some(r)) => batch.series_ref(r),
            (_, None) => batch.series(s.labels.clone()),
        };
        last = Some((&s.labels, series));
        batch.sample(series, s.t, s.v);
    }
    batch
}

/// What a target's `# TYPE`, `# HELP` and `# UNIT` lines say about one metric family,
/// as `/api/v1/targets/metadata` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FamilyMetadata {
    /// The declared type; [`MetricType::Unknown`] without a `# TYPE` line, and for
    /// `untyped` (Prometheus's text parser reports it so).
    pub metric_type: MetricType,
    /// The `# HELP` text, empty without one.
    pub help: String,
    /// The `# UNIT` (OpenMetrics), empty without one.
    pub unit: String,
}

impl FamilyMetadata {
    fn from_family(f: &Family) -> FamilyMetadata {
        FamilyMetadata {
            metric_type: match f.metric_type {
                MetricType::Untyped => MetricType::Unknown,
                t => t,
            },
            help: f.help.clone().unwrap_or_default(),
            unit: f.unit.clone().unwrap_or_default(),
        }
    }
}

/// A target's metadata by metric family name. Shared (`Arc`) so that status pages read
/// it without copying; a scrape copies it only when something changed.
pub type TargetMetadata = Arc<BTreeMap<String, FamilyMetadata>>;

/// Scrapes a family's metadata is kept after its last appearance (Prometheus keeps it
/// for 10 scrapes, so a family that comes and goes keeps its help text).
const METADATA_KEPT_SCRAPES: u64 = 10;

/// What one target's scrapes remember between two scrapes (Prometheus's `scrapeCache`):
/// per exposed series, its final labels (so a series seen before is neither relabeled
/// nor checked again), whether the previous scrape appended it (staleness) and whether
/// the cache knows it (`scrape_series_added`); and the families' metadata.
///
/// One map entry per exposed series, looked up once per sample with a fast, randomly
/// seeded hash (foldhash): a warm scrape costs the parse, one lookup and the copy of the
/// final labels into the outcome.
#[derive(Clone, Debug, Default)]
pub struct ScrapeState {
    /// Exposed series text as written (`name{labels}`) → what the cache knows about it.
    series: HashMap<Box<[u8]>, SeriesEntry, foldhash::fast::RandomState>,
    /// The target labels and options the entries' final labels were computed with; other
    /// ones (a reload, a target whose labels changed) start the computation over.
    fin_key: Option<(Labels, ScrapeOptions)>,
    /// Hashes of the final label sets computed since the last reset: a final label set
    /// computed twice means two exposed series may share it (metric relabeling made them
    /// equal), and then `collisions` turns on the exact duplicate check.
    fin_hashes: HashSet<u64, foldhash::fast::RandomState>,
    /// The hash of [`ScrapeState::fin_hashes`].
    fin_hasher: foldhash::fast::RandomState,
    /// Two exposed series may have the same final labels: duplicates are found by
    /// (final labels, time) rather than per exposed series.
    collisions: bool,
    /// Attempts (calls to `process`) so far; entries remember the attempt that last
    /// touched them instead of being copied into per-scrape sets.
    attempt: u64,
    /// Metadata by family name.
    metadata: TargetMetadata,
    /// The successful scrape that last declared each family.
    metadata_seen: HashMap<String, u64>,
    /// Successful scrapes so far (`scrapeCache.iter`).
    iter: u64,
}

/// What the cache knows about one exposed series.
#[derive(Clone, Debug)]
struct SeriesEntry {
    /// Its final labels, or why it has none.
    fin: Fin,
    /// The final labels it was last appended with, kept when [`SeriesEntry::fin`] was
    /// reset while the series was in the previous scrape: its stale marker needs them.
    stale_fin: Option<Labels>,
    /// Appended without a timestamp of its own by the previous successful scrape
    /// (`seriesPrev`).
    in_prev: bool,
    /// Known to the series cache: not counted as added (`series`).
    cached: bool,
    /// The attempt that last saw it.
    seen: u64,
    /// The attempt that last touched it (Prometheus's cache update: known or added).
    touched: u64,
    /// The attempt that appended it without a timestamp of its own (`seriesCur`).
    cur: u64,
    /// The attempt and time of the last sample written for it.
    written: (u64, i64),
    /// The database's reference for the final labels, once an append returned it.
    series_ref: Option<SeriesRef>,
}

/// A series' final labels as the options in force make them.
#[derive(Clone, Debug)]
enum Fin {
    /// Not computed with the options in force.
    Unknown,
    /// Dropped by metric relabeling (or left with no labels).
    Dropped,
    /// The labels to append under.
    Keep(Labels),
    /// The final labels fail a check; a scrape reaching this series fails.
    Invalid(ScrapeError),
}

impl SeriesEntry {
    fn new(fin: Fin) -> SeriesEntry {
        SeriesEntry {
            fin,
            stale_fin: None,
            in_prev: false,
            cached: false,
            seen: 0,
            touched: 0,
            cur: 0,
            written: (0, 0),
            series_ref: None,
        }
    }

    /// The reference its stale marker can use: only while the final labels are the ones
    /// the reference was learnt for.
    fn prev_ref(&self) -> Option<SeriesRef> {
        if self.stale_fin.is_some() {
            None
        } else {
            self.series_ref
        }
    }

    /// The labels its stale marker is written under, when it was in the previous scrape.
    fn prev_labels(&self) -> Option<&Labels> {
        if !self.in_prev {
            return None;
        }
        match (&self.stale_fin, &self.fin) {
            (Some(l), _) | (None, Fin::Keep(l)) => Some(l),
            _ => None,
        }
    }
}

/// A series' final labels: `mutate_sample_labels`, then the checks.
fn compute_fin(exposed: &Labels, target_labels: &Labels, opts: &ScrapeOptions) -> Fin {
    match mutate_sample_labels(exposed, target_labels, opts) {
        None => Fin::Dropped,
        Some(l) => match check_series(&l, opts) {
            Ok(()) => Fin::Keep(l),
            Err(e) => Fin::Invalid(e),
        },
    }
}

/// Parser limits for a scrape body: none of our own (the scrape's limits are checked on
/// the final label sets, as Prometheus does), only what a [`Labels`] can hold.
fn parser_limits() -> LabelLimits {
    LabelLimits {
        max_labels: usize::MAX / 4,
        max_name_len: MAX_STRING_LEN,
        max_value_len: MAX_STRING_LEN,
        require_metric_name: true,
    }
}

impl ScrapeState {
    /// A target never scraped.
    pub fn new() -> Self {
        ScrapeState::default()
    }

    /// The final label sets whose series the next scrape marks stale if they are missing
    /// from it (for display and tests), sorted.
    pub fn tracked_series(&self) -> Vec<Labels> {
        let mut v: Vec<Labels> = self
            .series
            .values()
            .filter_map(SeriesEntry::prev_labels)
            .cloned()
            .collect();
        v.sort();
        v
    }

    /// Learns the database's references from the outcome of appending
    /// `samples_to_batch(samples)`: series named by labels get the reference the database
    /// returned, so the next scrape names them by it; a sample refused for an unknown
    /// reference (the series left the head) makes its series go by labels again.
    pub fn learn_refs(&mut self, samples: &[AppendSample], outcome: &BatchOutcome) {
        let mut fresh: HashMap<&Labels, SeriesRef, foldhash::fast::RandomState> =
            HashMap::default();
        let mut batch_series = 0usize;
        let mut last: Option<&Labels> = None;
        for s in samples {
            if last != Some(&s.labels) {
                if s.series_ref.is_none() {
                    if let Some(Some(r)) = outcome.refs.get(batch_series) {
                        fresh.insert(&s.labels, *r);
                    }
                }
                batch_series += 1;
                last = Some(&s.labels);
            }
        }
        let forgotten: Vec<SeriesRef> = outcome
            .rejected
            .iter()
            .filter(|r| matches!(r.error, SampleError::UnknownSeriesRef(_)))
            .filter_map(|r| samples.get(r.index).and_then(|s| s.series_ref))
            .collect();
        if fresh.is_empty() && forgotten.is_empty() {
            return;
        }
        for e in self.series.values_mut() {
            if e.series_ref.is_some_and(|r| forgotten.contains(&r)) {
                e.series_ref = None;
            }
            if e.series_ref.is_none() {
                if let Fin::Keep(l) = &e.fin {
                    e.series_ref = fresh.get(l).copied();
                }
            }
        }
    }

    /// The metadata of the families the target declared in its recent scrapes, by name.
    pub fn metadata(&self) -> TargetMetadata {
        self.metadata.clone()
    }

    /// Records the families a scrape declared (even one that failed later, as
    /// Prometheus records metadata while it parses).
    fn record_metadata(&mut self, families: &[Family]) {
        for f in families {
            let m = FamilyMetadata::from_family(f);
            if self.metadata.get(&f.name) != Some(&m) {
                Arc::make_mut(&mut self.metadata).insert(f.name.clone(), m);
            }
            match self.metadata_seen.get_mut(&f.name) {
                Some(seen) => *seen = self.iter,
                None => {
                    self.metadata_seen.insert(f.name.clone(), self.iter);
                }
            }
        }
    }

    /// The end of a successful scrape (`iterDone`): with a non-empty body, families not
    /// declared in the last [`METADATA_KEPT_SCRAPES`] scrapes are forgotten.
    fn metadata_iter_done(&mut self, flush: bool) {
        if flush {
            let iter = self.iter;
            let before = self.metadata_seen.len();
            self.metadata_seen
                .retain(|_, seen| iter - *seen <= METADATA_KEPT_SCRAPES);
            if self.metadata_seen.len() != before {
                let seen = &self.metadata_seen;
                Arc::make_mut(&mut self.metadata).retain(|name, _| seen.contains_key(name));
            }
        }
        self.iter += 1;
    }

    /// Processes a fetched body: `content_type` as the response gave it, `scrape_time_ms`
    /// the time the scrape started (every sample without a kept timestamp, every stale
    /// marker and the report series get it), `duration` what the request took.
    pub fn process(
        &mut self,
        body: &[u8],
        content_type: Option<&str>,
        scrape_time_ms: i64,
        duration: Duration,
        target_labels: &Labels,
        opts: &ScrapeOptions,
    ) -> ScrapeOutcome {
        let attempt = self.append(body, content_type, scrape_time_ms, target_labels, opts);
        let mut samples = attempt.samples;
        let now = self.attempt;
        let flush = !body.is_empty();
        let mut stale: Vec<(Labels, Option<SeriesRef>)> = Vec::new();
        let error = match attempt.error {
            None => {
                // forEachStale: previous series this scrape did not append; then
                // iterDone(flush = body non-empty): the cache keeps what this scrape saw.
                self.series.retain(|_, e| {
                    let appended = e.cur == now;
                    if !appended {
                        if let Some(l) = e.prev_labels() {
                            stale.push((l.clone(), e.prev_ref()));
                        }
                    }
                    e.in_prev = appended;
                    e.stale_fin = None;
                    let touched = e.touched == now;
                    e.cached = if flush { touched } else { e.cached || touched };
                    // dropped series are remembered while they are exposed, so metric
                    // relabeling does not run again for them (`droppedSeries`)
                    let dropped_seen = matches!(e.fin, Fin::Dropped) && e.seen == now;
                    e.in_prev || e.cached || dropped_seen
                });
                self.metadata_iter_done(flush);
                None
            }
            Some(e) => {
                samples.clear();
                // every series of the previous scrape goes stale; the cache grows
                self.series.retain(|_, e| {
                    if let Some(l) = e.prev_labels() {
                        stale.push((l.clone(), e.prev_ref()));
                    }
                    e.in_prev = false;
                    e.stale_fin = None;
                    e.cached = e.cached || e.touched == now;
                    e.cached || (matches!(e.fin, Fin::Dropped) && e.seen == now)
                });
                Some(e)
            }
        };
        self.trim_fin_hashes();
        stale.sort();
        let stale_markers = stale.len();
        samples.extend(stale.into_iter().map(|(labels, series_ref)| AppendSample {
            labels,
            t: scrape_time_ms,
            v: stale_nan(),
            series_ref,
        }));
        let report = ScrapeReport {
            up: error.is_none(),
            duration,
            samples_scraped: attempt.total,
            samples_post_metric_relabeling: attempt.added,
            series_added: attempt.series_added,
        };
        push_report(&mut samples, target_labels, scrape_time_ms, report.values());
        ScrapeOutcome {
            samples,
            report,
            error,
            stale_markers,
            duplicates: attempt.duplicates,
        }
    }

    /// A scrape that failed before a body was read (connection refused, HTTP status,
    /// timeout, body over `body_size_limit`): `up` 0, zero counts, and stale markers
    /// for every series of the previous scrape.
    pub fn fail(
        &mut self,
        error: ScrapeError,
        scrape_time_ms: i64,
        duration: Duration,
        target_labels: &Labels,
    ) -> ScrapeOutcome {
        let mut samples = Vec::new();
        let stale_markers = self.mark_all_stale(scrape_time_ms, &mut samples);
        let report = ScrapeReport {
            up: false,
            duration,
            samples_scraped: 0,
            samples_post_metric_relabeling: 0,
            series_added: 0,
        };
        push_report(&mut samples, target_labels, scrape_time_ms, report.values());
        ScrapeOutcome {
            samples,
            report,
            error: Some(error),
            stale_markers,
            duplicates: 0,
        }
    }

    /// The target went away (`endOfRunStaleness`): stale markers at `t` for every series
    /// of the last scrape and for the five report series. The state is left empty.
    pub fn stale_all(&mut self, t: i64, target_labels: &Labels) -> Vec<AppendSample> {
        let mut samples = Vec::new();
        self.mark_all_stale(t, &mut samples);
        push_report(&mut samples, target_labels, t, [stale_nan(); 5]);
        self.series.clear();
        self.fin_hashes.clear();
        self.collisions = false;
        samples
    }

    /// Stale markers at `t` for every tracked series, which are then forgotten.
    fn mark_all_stale(&mut self, t: i64, out: &mut Vec<AppendSample>) -> usize {
        let mut stale: Vec<(Labels, Option<SeriesRef>)> = Vec::new();
        for e in self.series.values_mut() {
            if let Some(l) = e.prev_labels() {
                stale.push((l.clone(), e.prev_ref()));
            }
            e.in_prev = false;
            e.stale_fin = None;
        }
        stale.sort();
        let n = stale.len();
        out.extend(stale.into_iter().map(|(labels, series_ref)| AppendSample {
            labels,
            t,
            v: stale_nan(),
            series_ref,
        }));
        n
    }

    /// Starts the final labels over when the target labels or the options changed.
    fn check_fin_key(&mut self, target_labels: &Labels, opts: &ScrapeOptions) {
        let same = self
            .fin_key
            .as_ref()
            .is_some_and(|(t, o)| t == target_labels && o == opts);
        if same {
            return;
        }
        for e in self.series.values_mut() {
            // a reference names the old final labels: the stale marker goes by labels
            e.series_ref = None;
            let old = std::mem::replace(&mut e.fin, Fin::Unknown);
            if let (true, Fin::Keep(l)) = (e.in_prev && e.stale_fin.is_none(), old) {
                e.stale_fin = Some(l);
            }
        }
        self.fin_hashes.clear();
        self.collisions = false;
        self.fin_key = Some((target_labels.clone(), opts.clone()));
    }

    /// Rebuilds the final-label hashes once they hold many of series gone since.
    fn trim_fin_hashes(&mut self) {
        if self.fin_hashes.len() <= 2 * self.series.len() + 1024 {
            return;
        }
        self.fin_hashes.clear();
        self.collisions = false;
        for e in self.series.values() {
            if let Fin::Keep(l) = &e.fin {
                if !self.fin_hashes.insert(self.fin_hasher.hash_one(l)) {
                    self.collisions = true;
                }
            }
        }
    }

    /// `scrapeLoop.append` without the storage: reads the body, returns what it would
    /// append and the counts, or the error that fails the scrape. Records the families'
    /// metadata declared up to where parsing stopped.
    fn append(
        &mut self,
        body: &[u8],
        content_type: Option<&str>,
        scrape_time_ms: i64,
        target_labels: &Labels,
        opts: &ScrapeOptions,
    ) -> Attempt {
        let dialect = match content_type.and_then(Dialect::from_content_type) {
            Some(Dialect::OpenMetrics) => Dialect::OpenMetrics,
            _ => Dialect::Prometheus,
        };
        let mut options = Options::new(dialect);
        options.limits = parser_limits();
        let mut parser = Parser::new(body, options);
        let mut a = Attempt::default();
        self.check_fin_key(target_labels, opts);
        self.attempt += 1;
        let now = self.attempt;
        // (final labels, time) of the samples written, kept only when needed: a series
        // exposed twice in this body, or final labels shared by two exposed series
        let mut written: HashSet<(Labels, i64), foldhash::fast::RandomState> = HashSet::default();
        let mut limit_hit = false;
        loop {
            let series = &self.series;
            let item = parser.next_known(|text| {
                series
                    .get(text)
                    .is_some_and(|e| !matches!(e.fin, Fin::Unknown))
            });
            let Some(item) = item else { break };
            let (entry, timestamp, value, computed) = match item {
                Err(e) => {
                    a.error = Some(ScrapeError::Parse(Arc::new(e)));
                    break;
                }
                Ok(SampleRef::Known {
                    series,
                    value,
                    timestamp,
                }) => match self.series.get_mut(series) {
                    Some(entry) => (entry, timestamp, value, false),
                    None => continue, // not reached: the text was known a moment ago
                },
                Ok(SampleRef::New { series, sample }) => {
                    let fin = compute_fin(&sample.labels, target_labels, opts);
                    let entry = match self.series.entry(Box::from(series)) {
                        MapEntry::Occupied(o) => {
                            let e = o.into_mut();
                            e.fin = fin;
                            e.series_ref = None;
                            e
                        }
                        MapEntry::Vacant(v) => v.insert(SeriesEntry::new(fin)),
                    };
                    (entry, sample.timestamp, sample.value, true)
                }
            };
            a.total += 1;
            let explicit = if opts.honor_timestamps {
                timestamp
            } else {
                None
            };
            let t = explicit.unwrap_or(scrape_time_ms);
            entry.seen = now;
            let fin = match &entry.fin {
                Fin::Keep(l) => l,
                Fin::Invalid(e) => {
                    a.error = Some(e.clone());
                    break;
                }
                Fin::Dropped | Fin::Unknown => continue, // dropped by metric relabeling
            };
            if computed
                && !self.fin_hashes.insert(self.fin_hasher.hash_one(fin))
                && !self.collisions
            {
                // from now on every sample goes through `written`, which first learns
                // what this body already wrote
                self.collisions = true;
                written.extend(a.samples.iter().map(|s| (s.labels.clone(), s.t)));
            }
            // limitAppender: the sample past the limit is refused, parsing goes on.
            let sample_added = opts.sample_limit == 0 || a.added < opts.sample_limit;
            if !sample_added {
                limit_hit = true;
            }
            let known = entry.cached || entry.touched == now;
            if sample_added && explicit.is_none() {
                entry.cur = now;
            }
            if !known && sample_added {
                a.series_added += 1;
            }
            if known || sample_added {
                entry.touched = now;
            }
            a.added += 1;
            if sample_added {
                let duplicate = if self.collisions {
                    !written.insert((fin.clone(), t))
                } else if entry.written.0 == now {
                    // the same series again in this body: exact check from here on
                    written.insert((fin.clone(), entry.written.1));
                    !written.insert((fin.clone(), t))
                } else {
                    false
                };
                entry.written = (now, t);
                if duplicate {
                    a.duplicates += 1;
                } else {
                    a.samples.push(AppendSample {
                        labels: fin.clone(),
                        t,
                        v: value,
                        series_ref: entry.series_ref,
                    });
                }
            }
        }
        if limit_hit && a.error.is_none() {
            a.error = Some(ScrapeError::SampleLimitExceeded);
        }
        self.record_metadata(parser.families());
        a
    }
}

/// One pass over a body, before the verdict.
#[derive(Default)]
struct Attempt {
    samples: Vec<AppendSample>,
    total: usize,
    added: usize,
    series_added: usize,
    duplicates: usize,
    error: Option<ScrapeError>,
}

/// Appends the five report series at `t` with `values` ([`REPORT_SERIES`] order).
/// `mutateReportSampleLabels`: the target labels win over the metric name's (only
/// `__name__`) and no relabeling applies.
fn push_report(out: &mut Vec<AppendSample>, target_labels: &Labels, t: i64, values: [f64; 5]) {
    for (name, v) in REPORT_SERIES.into_iter().zip(values) {
        let pairs = std::iter::once((METRIC_NAME, name))
            .chain(target_labels.iter().filter(|(n, _)| !n.starts_with("__")));
        if let Some(labels) = Labels::build_unchecked(pairs) {
            out.push(AppendSample {
                labels,
                t,
                v,
                series_ref: None,
            });
        }
    }
}

/// Prometheus's `mutateSampleLabels`: target labels attached per `honor_labels`, then
/// metric relabeling. `None`: the series is dropped.
fn mutate_sample_labels(exposed: &Labels, target: &Labels, opts: &ScrapeOptions) -> Option<Labels> {
    // labels.Builder: setting an empty value deletes.
    let mut b: BTreeMap<String, String> = exposed
        .iter()
        .map(|(n, v)| (n.to_owned(), v.to_owned()))
        .collect();
    let target = target.iter().filter(|(n, _)| !n.starts_with("__"));
    if opts.honor_labels {
        for (n, v) in target {
            if exposed.get(n).is_none() {
                set(&mut b, n, v);
            }
        }
    } else {
        let mut conflicts: Vec<(&str, &str)> = Vec::new();
        for (n, v) in target {
            if let Some(existing) = exposed.get(n).filter(|e| !e.is_empty()) {
                conflicts.push((n, existing));
            }
            set(&mut b, n, v);
        }
        // resolveConflictingExposedLabels: shortest name first (stable), each to the first
        // `exported_…` name free in the builder at that moment.
        conflicts.sort_by_key(|(n, _)| n.len());
        for (n, v) in conflicts {
            let mut name = n.to_owned();
            loop {
                name.insert_str(0, EXPORTED_PREFIX);
                if b.get(&name).is_none_or(String::is_empty) {
                    set(&mut b, &name, v);
                    break;
                }
            }
        }
    }
    let res = Labels::build_unchecked(b.iter())?;
    let res = if opts.metric_relabel_configs.is_empty() {
        res
    } else {
        relabel::process(&res, &opts.metric_relabel_configs)?
    };
    (!res.is_empty()).then_some(res)
}

fn set(b: &mut BTreeMap<String, String>, name: &str, value: &str) {
    if value.is_empty() {
        b.remove(name);
    } else {
        b.insert(name.to_owned(), value.to_owned());
    }
}

/// The checks of `scrapeLoop.append` on a new series: metric name, validity
/// (`labels.IsValid`), then `verifyLabelLimits`.
fn check_series(l: &Labels, opts: &ScrapeOptions) -> Result<(), ScrapeError> {
    let Some(metric) = l.metric_name() else {
        return Err(ScrapeError::MissingMetricName);
    };
    let valid = is_valid_metric_name(metric)
        && l.iter()
            .all(|(n, _)| n == METRIC_NAME || is_valid_label_name(n));
    if !valid {
        return Err(ScrapeError::InvalidLabels(DisplayLabels(l).to_string()));
    }
    let count = l.len();
    if opts.label_limit > 0 && count > opts.label_limit {
        return Err(ScrapeError::LabelLimitExceeded {
            metric: metric.to_owned(),
            count,
            limit: opts.label_limit,
        });
    }
    for (n, v) in l.iter() {
        if opts.label_name_length_limit > 0 && n.len() > opts.label_name_length_limit {
            return Err(ScrapeError::LabelNameLengthExceeded {
                metric: metric.to_owned(),
                name: n.to_owned(),
                len: n.len(),
                limit: opts.label_name_length_limit,
            });
        }
        if opts.label_value_length_limit > 0 && v.len() > opts.label_value_length_limit {
            return Err(ScrapeError::LabelValueLengthExceeded {
                metric: metric.to_owned(),
                name: n.to_owned(),
                value: v.to_owned(),
                len: v.len(),
                limit: opts.label_value_length_limit,
            });
        }
    }
    Ok(())
}

/// Prometheus's `labels.Labels.String()`: `{a="1", b="2"}`, every label including
/// `__name__`, values quoted.
struct DisplayLabels<'a>(&'a Labels);

impl fmt::Display for DisplayLabels<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (i, (n, v)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{n}={v:?}")?;
        }
        f.write_str("}")
    }
}
