//! The server's own metrics, exposed on `/metrics` in the OpenMetrics text format by the
//! official `prometheus-client` crate, and appended to the server's own database by
//! [`super::self_scrape`]:
//!
//! - HTTP: requests by handler and status code, latency histograms by handler;
//! - queries: latency by kind (instant, range) and outcome, queries in flight;
//! - the engine, through a [`tsdb_core::observe::Observer`] ([`EngineObserver`]) passed in
//!   `Options::observer`: samples appended and refused by reason (every reason present
//!   from the start, at 0), series created, WAL
//!   fsync latency, persist and checkpoint durations, maintenance failures, segments set
//!   aside, torn WAL tails;
//! - read from [`Db::stats`] at each scrape ([`DbCollector`]): head series, chunks and
//!   samples, head time range, segments and their bytes, segments by compaction level and
//!   resolution, how far persistence has come, maintenance passes, WAL bytes and files,
//!   deletions;
//! - the process (from `/proc/self`, Linux): resident memory, CPU seconds, open files,
//!   start time;
//! - the server: build info, configuration reloads, self-scrapes.
//!
//! - the range query results cache ([`CacheCollector`]): hits, misses, bypasses,
//!   invalidations, evictions, entries and bytes (the engine observer forwards writes and
//!   deletions to the cache, which drops the answers they change);
//! - push ingestion, read from `tsdb_ingest::IngestStats` at each scrape
//!   ([`IngestCollector`]): requests, samples accepted and refused by protocol and
//!   reason, requests refused whole by kind, Influx string fields skipped, metadata kept;
//! - pull ingestion ([`ScrapeCollector`]): the shard ring's members, member lists
//!   refused, file_sd read errors and http_sd failures by job.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::{Registry, Unit};
use tsdb_core::observe::{Observer, PersistEvent};
use tsdb_core::Db;
use tsdb_ingest::{Ingester, Protocol};
use tsdb_query::ResultsCache;

use super::alerting::Alerting;
use super::scrape::Scraping;

/// Label sets: `(name, value)` pairs.
type LabelSet = Vec<(&'static str, String)>;
type HistogramFamily = Family<LabelSet, Histogram, fn() -> Histogram>;

/// Request and query latencies: 1 ms to about 33 s.
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

/// fsyncs: 50 µs to about 1.6 s.
fn fsync_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.000_05, 2.0, 16))
}

/// Persists and checkpoints: 10 ms to about 5 min.
fn slow_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.01, 2.0, 16))
}

/// The reasons `tsdb_core::observe::refusal_reason` gives a refused sample.
const REFUSAL_REASONS: [&str; 6] = [
    "invalid_labels",
    "unknown_series_ref",
    "out_of_order",
    "too_old",
    "too_far_in_future",
    "duplicate_timestamp",
];

/// Every metric the server keeps itself.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    http_requests: Family<LabelSet, Counter>,
    http_duration: HistogramFamily,
    query_duration: HistogramFamily,
    config_reload_success: Gauge,
    config_reload_timestamp: Gauge<f64, std::sync::atomic::AtomicU64>,
    self_scrapes: Family<LabelSet, Counter>,
    /// What the engine reports; pass it in `Options::observer`.
    pub observer: Arc<EngineObserver>,
}

/// The engine's events as metrics.
#[derive(Debug)]
pub struct EngineObserver {
    appended: Counter,
    series_created: Counter,
    refused: Family<LabelSet, Counter>,
    wal_fsync: Histogram,
    persist_duration: Histogram,
    persisted_samples: Counter,
    checkpoint_duration: Histogram,
    maintenance_failures: Counter,
    set_aside: Counter,
    torn_tail_bytes: Counter,
    /// Told of every write and deletion, to drop the answers they change.
    results_cache: Arc<ResultsCache>,
}

impl Observer for EngineObserver {
    fn appended(&self, accepted: u64, new_series: u64) {
        self.appended.inc_by(accepted);
        self.series_created.inc_by(new_series);
    }

    fn refused(&self, reason: &'static str, count: u64) {
        self.refused
            .get_or_create(&vec![("reason", reason.to_owned())])
            .inc_by(count);
    }

    fn written(&self, min_t: i64, max_t: i64) {
        self.results_cache.invalidate(min_t, max_t);
    }

    fn deleted(&self, min_t: i64, max_t: i64) {
        self.results_cache.invalidate(min_t, max_t);
    }

    fn wal_fsync(&self, duration: Duration) {
        self.wal_fsync.observe(duration.as_secs_f64());
    }

    fn persisted(&self, event: &PersistEvent) {
        self.persist_duration.observe(event.duration.as_secs_f64());
        self.persisted_samples.inc_by(event.samples);
    }

    fn checkpointed(&self, duration: Duration) {
        self.checkpoint_duration.observe(duration.as_secs_f64());
    }

    fn maintenance_failed(&self, error: &tsdb_core::Error, retry_in: Duration) {
        self.maintenance_failures.inc();
        tracing::error!(%error, retry_in = ?retry_in, "maintenance failed");
    }

    fn segment_set_aside(&self, dir: &std::path::Path, reason: &str) {
        self.set_aside.inc();
        tracing::warn!(dir = %dir.display(), reason, "segment set aside");
    }

    fn wal_torn_tail(&self, path: &std::path::Path, bytes: u64) {
        self.torn_tail_bytes.inc_by(bytes);
        tracing::warn!(path = %path.display(), bytes, "cut a torn WAL tail");
    }
}

impl Metrics {
    /// Registers everything; `db` is read at scrape time once it is open, and so is
    /// `queries_in_flight` (the query pool's count).
    pub fn new(
        db: Arc<OnceLock<Db>>,
        ingester: Arc<OnceLock<Ingester>>,
        results_cache: Arc<ResultsCache>,
        started: SystemTime,
        queries_in_flight: Arc<AtomicI64>,
        scrape: Arc<OnceLock<Arc<Scraping>>>,
        alerting: Arc<Alerting>,
    ) -> Metrics {
        let mut registry = Registry::default();
        let http_requests = Family::<LabelSet, Counter>::default();
        registry.register(
            "tsdb_http_requests",
            "HTTP requests answered, by handler and status code",
            http_requests.clone(),
        );
        let http_duration = HistogramFamily::new_with_constructor(latency_histogram);
        registry.register_with_unit(
            "tsdb_http_request_duration",
            "Time to answer an HTTP request, by handler",
            Unit::Seconds,
            http_duration.clone(),
        );
        let query_duration = HistogramFamily::new_with_constructor(latency_histogram);
        registry.register_with_unit(
            "tsdb_query_duration",
            "Time to evaluate a query (queue wait included), by kind and outcome",
            Unit::Seconds,
            query_duration.clone(),
        );
        let config_reload_success = Gauge::default();
        registry.register(
            "tsdb_config_last_reload_successful",
            "Whether the last configuration reload succeeded",
            config_reload_success.clone(),
        );
        let config_reload_timestamp = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
        registry.register_with_unit(
            "tsdb_config_last_reload_success_timestamp",
            "When the configuration was last loaded successfully",
            Unit::Seconds,
            config_reload_timestamp.clone(),
        );
        let self_scrapes = Family::<LabelSet, Counter>::default();
        registry.register(
            "tsdb_self_scrapes",
            "Self-monitoring scrapes, by outcome",
            self_scrapes.clone(),
        );

        let observer = Arc::new(EngineObserver {
            appended: Counter::default(),
            series_created: Counter::default(),
            refused: Family::default(),
            wal_fsync: fsync_histogram(),
            persist_duration: slow_histogram(),
            persisted_samples: Counter::default(),
            checkpoint_duration: slow_histogram(),
            maintenance_failures: Counter::default(),
            set_aside: Counter::default(),
            torn_tail_bytes: Counter::default(),
            results_cache: results_cache.clone(),
        });
        let o = &observer;
        // every reason at 0 from the start, so "refused by reason" has series (and a
        // rate of 0) on a server that never refused anything
        for reason in REFUSAL_REASONS {
            let _ = o
                .refused
                .get_or_create(&vec![("reason", reason.to_owned())]);
        }
        registry.register(
            "tsdb_samples_appended",
            "Samples stored by the engine (exact duplicates included)",
            o.appended.clone(),
        );
        registry.register(
            "tsdb_series_created",
            "Series created in the head",
            o.series_created.clone(),
        );
        registry.register(
            "tsdb_samples_refused",
            "Samples the engine refused, by reason",
            o.refused.clone(),
        );
        registry.register_with_unit(
            "tsdb_wal_fsync_duration",
            "WAL fsync latency (one fsync may commit several appends)",
            Unit::Seconds,
            o.wal_fsync.clone(),
        );
        registry.register_with_unit(
            "tsdb_persist_duration",
            "Time to persist a head range into a segment",
            Unit::Seconds,
            o.persist_duration.clone(),
        );
        registry.register(
            "tsdb_persisted_samples",
            "Samples written into segments",
            o.persisted_samples.clone(),
        );
        registry.register_with_unit(
            "tsdb_wal_checkpoint_duration",
            "Time to checkpoint the WAL after a persist",
            Unit::Seconds,
            o.checkpoint_duration.clone(),
        );
        registry.register(
            "tsdb_maintenance_failures",
            "Background maintenance passes that failed (retried with backoff)",
            o.maintenance_failures.clone(),
        );
        registry.register(
            "tsdb_segments_set_aside",
            "Segments set aside as damaged when the database was opened",
            o.set_aside.clone(),
        );
        registry.register_with_unit(
            "tsdb_wal_torn_tail",
            "Bytes of torn WAL tail cut when the database was opened (a crash's last write)",
            Unit::Bytes,
            o.torn_tail_bytes.clone(),
        );
        registry.register_collector(Box::new(DbCollector { db }));
        registry.register_collector(Box::new(IngestCollector { ingester }));
        registry.register_collector(Box::new(CacheCollector {
            cache: results_cache,
        }));
        registry.register_collector(Box::new(QueryCollector {
            in_flight: queries_in_flight,
        }));
        registry.register_collector(Box::new(ProcessCollector { started }));
        registry.register_collector(Box::new(ScrapeCollector { scrape }));
        registry.register_collector(Box::new(AlertingCollector { alerting }));
        Metrics {
            registry,
            http_requests,
            http_duration,
            query_duration,
            config_reload_success,
            config_reload_timestamp,
            self_scrapes,
            observer,
        }
    }

    /// The exposition text, OpenMetrics 1.0.
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::with_capacity(16 * 1024);
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
    }

    /// One HTTP request answered.
    pub fn http_request(&self, handler: &str, code: u16, elapsed: Duration) {
        self.http_requests
            .get_or_create(&vec![
                ("handler", handler.to_owned()),
                ("code", code.to_string()),
            ])
            .inc();
        self.http_duration
            .get_or_create(&vec![("handler", handler.to_owned())])
            .observe(elapsed.as_secs_f64());
    }

    /// One query evaluated (`outcome`: `success` or the error type).
    pub fn query(&self, kind: &'static str, outcome: &str, elapsed: Duration) {
        self.query_duration
            .get_or_create(&vec![
                ("kind", kind.to_owned()),
                ("outcome", outcome.to_owned()),
            ])
            .observe(elapsed.as_secs_f64());
    }

    /// A configuration (re)load finished.
    pub fn config_loaded(&self, ok: bool) {
        self.config_reload_success.set(i64::from(ok));
        if ok {
            self.config_reload_timestamp
                .set(unix_seconds(SystemTime::now()));
        }
    }

    /// A self-scrape finished.
    pub fn self_scrape(&self, outcome: &'static str) {
        self.self_scrapes
            .get_or_create(&vec![("outcome", outcome.to_owned())])
            .inc();
    }
}

fn unix_seconds(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

fn gauge(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    unit: Option<&Unit>,
    value: f64,
) -> Result<(), std::fmt::Error> {
    let g = ConstGauge::new(value);
    let metric = encoder.encode_descriptor(name, help, unit, g.metric_type())?;
    g.encode(metric)
}

fn counter(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    unit: Option<&Unit>,
    value: f64,
) -> Result<(), std::fmt::Error> {
    let c = ConstCounter::new(value);
    let metric = encoder.encode_descriptor(name, help, unit, c.metric_type())?;
    c.encode(metric)
}

/// One metric family with a label per series: `(label values, value)`.
fn labeled<const N: usize>(
    e: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    is_counter: bool,
    label_names: [&str; N],
    series: &[([&str; N], f64)],
) -> Result<(), std::fmt::Error> {
    if series.is_empty() {
        return Ok(());
    }
    let kind = if is_counter {
        ConstCounter::new(0.0).metric_type()
    } else {
        ConstGauge::new(0.0).metric_type()
    };
    let mut family = e.encode_descriptor(name, help, None, kind)?;
    for (values, v) in series {
        let labels: Vec<(&str, &str)> = label_names
            .iter()
            .copied()
            .zip(values.iter().copied())
            .collect();
        if is_counter {
            ConstCounter::new(*v).encode(family.encode_family(&labels)?)?;
        } else {
            ConstGauge::new(*v).encode(family.encode_family(&labels)?)?;
        }
    }
    Ok(())
}

/// A rule group's figures at scrape time: key, counters, last duration (s), interval (s).
type GroupRow = (String, tsdb_rules::group::GroupStats, f64, f64);

/// Rules, the sender to external Alertmanagers and the built-in manager's outbox, read at
/// scrape time: Prometheus's `prometheus_rule_*` and `prometheus_notifications_*` figures
/// under this server's `tsdb_` prefix, and the outbox's deliveries by integration.
struct AlertingCollector {
    alerting: Arc<Alerting>,
}

impl std::fmt::Debug for AlertingCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlertingCollector").finish_non_exhaustive()
    }
}

#[expect(
    clippy::cast_precision_loss,
    reason = "counts as metric values: exact below 2^53"
)]
impl Collector for AlertingCollector {
    fn encode(&self, mut e: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        if let Some(rules) = self.alerting.rules.get() {
            let missed = rules.missed();
            let groups: Vec<GroupRow> = {
                let m = rules.manager().lock();
                m.groups()
                    .iter()
                    .map(|g| {
                        (
                            g.key(),
                            g.stats(),
                            g.evaluation_time().as_secs_f64(),
                            g.interval_ms() as f64 / 1000.0,
                        )
                    })
                    .collect()
            };
            let by_group = |f: &dyn Fn(&GroupRow) -> f64| {
                groups
                    .iter()
                    .map(|g| ([g.0.as_str()], f(g)))
                    .collect::<Vec<_>>()
            };
            labeled(
                &mut e,
                "tsdb_rule_group_last_duration_seconds",
                "How long the group's last evaluation took",
                false,
                ["rule_group"],
                &by_group(&|g| g.2),
            )?;
            labeled(
                &mut e,
                "tsdb_rule_group_interval_seconds",
                "The group's evaluation interval",
                false,
                ["rule_group"],
                &by_group(&|g| g.3),
            )?;
            labeled(
                &mut e,
                "tsdb_rule_group_iterations",
                "Evaluations of the group",
                true,
                ["rule_group"],
                &by_group(&|g| g.1.evaluations as f64),
            )?;
            labeled(
                &mut e,
                "tsdb_rule_evaluations",
                "Rule evaluations, by group",
                true,
                ["rule_group"],
                &by_group(&|g| g.1.rule_evaluations as f64),
            )?;
            labeled(
                &mut e,
                "tsdb_rule_evaluation_failures",
                "Rule evaluations that failed, by group",
                true,
                ["rule_group"],
                &by_group(&|g| g.1.rule_failures as f64),
            )?;
            labeled(
                &mut e,
                "tsdb_rule_group_last_evaluation_samples",
                "Samples the group's last evaluation wrote",
                false,
                ["rule_group"],
                &by_group(&|g| g.1.last_samples as f64),
            )?;
            labeled(
                &mut e,
                "tsdb_rule_group_iterations_missed",
                "Evaluation slots skipped because the evaluation before ran past them",
                true,
                ["rule_group"],
                &by_group(&|g| missed.get(&g.0).copied().unwrap_or(0) as f64),
            )?;
        }
        if let Some(sender) = self.alerting.sender() {
            let st = sender.stats();
            gauge(
                &mut e,
                "tsdb_notifications_queue_length",
                "Alerts waiting to be sent to the external Alertmanagers",
                None,
                st.queue_length as f64,
            )?;
            gauge(
                &mut e,
                "tsdb_notifications_queue_capacity",
                "The capacity of the alert queue (--alert-queue-capacity)",
                None,
                st.queue_capacity as f64,
            )?;
            counter(
                &mut e,
                "tsdb_notifications_dropped",
                "Alerts dropped: queue full or relabeled away",
                None,
                st.dropped as f64,
            )?;
            let sent: Vec<([&str; 1], f64)> = st
                .per_alertmanager
                .iter()
                .map(|(u, s, _)| ([u.as_str()], *s as f64))
                .collect();
            let errors: Vec<([&str; 1], f64)> = st
                .per_alertmanager
                .iter()
                .map(|(u, _, x)| ([u.as_str()], *x as f64))
                .collect();
            labeled(
                &mut e,
                "tsdb_notifications_sent",
                "Alerts sent, by Alertmanager",
                true,
                ["alertmanager"],
                &sent,
            )?;
            labeled(
                &mut e,
                "tsdb_notifications_errors",
                "Alerts whose request failed, by Alertmanager",
                true,
                ["alertmanager"],
                &errors,
            )?;
        }
        if let Some(b) = self.alerting.builtin() {
            if let Ok(st) = b.outbox.stats() {
                let rows: Vec<(&str, tsdb_alert::outbox::IntegrationStats)> =
                    st.integrations.iter().map(|(k, v)| (*k, *v)).collect();
                let of = |f: &dyn Fn(&tsdb_alert::outbox::IntegrationStats) -> u64| {
                    rows.iter()
                        .map(|(k, v)| ([*k], f(v) as f64))
                        .collect::<Vec<_>>()
                };
                labeled(
                    &mut e,
                    "tsdb_alertmanager_notifications",
                    "Notifications delivered (acknowledged by the receiver), by integration",
                    true,
                    ["integration"],
                    &of(&|v| v.delivered),
                )?;
                labeled(&mut e, "tsdb_alertmanager_notifications_failed", "Notifications given up (refused, or retries exhausted; each raised NotificationDeliveryFailed), by integration", true, ["integration"], &of(&|v| v.failed))?;
                labeled(
                    &mut e,
                    "tsdb_alertmanager_notification_retries",
                    "Failed attempts rescheduled, by integration",
                    true,
                    ["integration"],
                    &of(&|v| v.retried),
                )?;
                labeled(
                    &mut e,
                    "tsdb_alertmanager_notifications_pending",
                    "Notifications waiting in the outbox, by integration",
                    false,
                    ["integration"],
                    &of(&|v| v.pending),
                )?;
            }
            let alerts = b.manager.lock().alerts().len();
            gauge(
                &mut e,
                "tsdb_alertmanager_alerts",
                "Alerts the built-in manager knows (firing, and resolved ones not yet forgotten)",
                None,
                alerts as f64,
            )?;
        }
        Ok(())
    }
}

/// Pull ingestion's counters, read at scrape time (nothing until scraping starts):
/// the shard ring's members, member lists refused, and each job's discovery errors.
#[derive(Debug)]
struct ScrapeCollector {
    scrape: Arc<OnceLock<Arc<Scraping>>>,
}

#[expect(
    clippy::cast_precision_loss,
    reason = "counts as metric values: exact below 2^53"
)]
impl Collector for ScrapeCollector {
    fn encode(&self, mut e: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some(scrape) = self.scrape.get() else {
            return Ok(());
        };
        let stats = scrape.stats();
        gauge(
            &mut e,
            "tsdb_shard_members",
            "Collectors in the shard ring this server divides targets with (0: not sharded)",
            None,
            stats.shard_members as f64,
        )?;
        counter(
            &mut e,
            "tsdb_shard_members_refused",
            "--shard-members lists refused (unreadable, empty, a name twice, or without this \
             collector); the list in force stayed",
            None,
            stats.shard_members_refused as f64,
        )?;
        let per_job = |e: &mut DescriptorEncoder,
                       name: &str,
                       help: &str,
                       value: &dyn Fn(&(String, u64, u64)) -> u64|
         -> Result<(), std::fmt::Error> {
            if stats.discovery.is_empty() {
                return Ok(());
            }
            let c = ConstCounter::new(0u64);
            let mut family = e.encode_descriptor(name, help, None, c.metric_type())?;
            for job in &stats.discovery {
                let labels = [("job", job.0.as_str())];
                ConstCounter::new(value(job)).encode(family.encode_family(&labels)?)?;
            }
            Ok(())
        };
        per_job(
            &mut e,
            "tsdb_sd_file_read_errors",
            "file_sd files that failed to read or parse, per attempt, by job",
            &|j| j.1,
        )?;
        per_job(
            &mut e,
            "tsdb_sd_http_failures",
            "http_sd refreshes that failed, by job",
            &|j| j.2,
        )
    }
}

/// Queries evaluating now, read from the query pool at scrape time.
#[derive(Debug)]
struct QueryCollector {
    in_flight: Arc<AtomicI64>,
}

impl Collector for QueryCollector {
    fn encode(&self, mut e: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let g = ConstGauge::new(self.in_flight.load(Ordering::Relaxed));
        let metric = e.encode_descriptor(
            "tsdb_queries_in_flight",
            "Queries evaluating now (waiting ones excluded)",
            None,
            g.metric_type(),
        )?;
        g.encode(metric)
    }
}

/// The range query results cache, read at scrape time.
#[derive(Debug)]
struct CacheCollector {
    cache: Arc<ResultsCache>,
}

#[expect(
    clippy::cast_precision_loss,
    reason = "counts and bytes as metric values: exact below 2^53"
)]
impl Collector for CacheCollector {
    fn encode(&self, mut e: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let s = self.cache.stats();
        for (name, help, value) in [
            (
                "tsdb_query_cache_hits",
                "Range query splits answered from the results cache",
                s.hits,
            ),
            (
                "tsdb_query_cache_misses",
                "Cacheable range query splits that had to be evaluated",
                s.misses,
            ),
            (
                "tsdb_query_cache_bypassed",
                "Range queries that could not use the results cache (nothing fully in the \
                 past, @ start()/end())",
                s.bypassed,
            ),
            (
                "tsdb_query_cache_invalidated",
                "Cached splits dropped because a write or deletion landed in what they read",
                s.invalidated,
            ),
            (
                "tsdb_query_cache_evicted",
                "Cached splits evicted to stay within --query-cache-size",
                s.evicted,
            ),
        ] {
            counter(&mut e, name, help, None, value as f64)?;
        }
        gauge(
            &mut e,
            "tsdb_query_cache_entries",
            "Splits in the results cache",
            None,
            s.entries as f64,
        )?;
        gauge(
            &mut e,
            "tsdb_query_cache",
            "Estimated size of the results cache",
            Some(&Unit::Bytes),
            s.bytes as f64,
        )
    }
}

/// Push ingestion's counters, read from the ingester at scrape time (nothing until the
/// database is open). Families without a non-zero counter are left out, as
/// `prometheus-client` leaves out an empty `Family`.
#[derive(Debug)]
struct IngestCollector {
    ingester: Arc<OnceLock<Ingester>>,
}

#[expect(
    clippy::cast_precision_loss,
    reason = "counts as metric values: exact below 2^53"
)]
impl Collector for IngestCollector {
    fn encode(&self, mut e: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some(ingester) = self.ingester.get() else {
            return Ok(());
        };
        let stats = ingester.stats();
        let per_protocol = |e: &mut DescriptorEncoder,
                            name: &str,
                            help: &str,
                            value: &dyn Fn(Protocol) -> u64|
         -> Result<(), std::fmt::Error> {
            let c = ConstCounter::new(0u64);
            let mut family = e.encode_descriptor(name, help, None, c.metric_type())?;
            for p in Protocol::ALL {
                let labels = [("protocol", p.name())];
                ConstCounter::new(value(p)).encode(family.encode_family(&labels)?)?;
            }
            Ok(())
        };
        per_protocol(
            &mut e,
            "tsdb_ingest_requests",
            "Push requests handled, by protocol (refused ones included)",
            &|p| stats.requests(p),
        )?;
        per_protocol(
            &mut e,
            "tsdb_ingest_samples_accepted",
            "Samples written by push requests, by protocol",
            &|p| stats.accepted(p),
        )?;
        per_protocol(
            &mut e,
            "tsdb_ingest_string_fields_skipped",
            "Influx string fields skipped (no numeric value to store)",
            &|p| stats.string_fields_skipped(p),
        )?;
        let mut refused = Vec::new();
        stats.for_each_refused(|p, r, n| refused.push((p.name(), r.name(), n)));
        if !refused.is_empty() {
            let c = ConstCounter::new(0u64);
            let mut family = e.encode_descriptor(
                "tsdb_ingest_samples_refused",
                "Samples (Influx lines, OTLP points) refused by push requests, by protocol and \
                 reason; the rest of each request was written",
                None,
                c.metric_type(),
            )?;
            for (p, r, n) in refused {
                let labels = [("protocol", p), ("reason", r)];
                ConstCounter::new(n).encode(family.encode_family(&labels)?)?;
            }
        }
        let mut failed = Vec::new();
        stats.for_each_failed(|p, k, n| failed.push((p.name(), k.name(), n)));
        if !failed.is_empty() {
            let c = ConstCounter::new(0u64);
            let mut family = e.encode_descriptor(
                "tsdb_ingest_requests_failed",
                "Push requests refused whole (nothing written), by protocol and kind",
                None,
                c.metric_type(),
            )?;
            for (p, k, n) in failed {
                let labels = [("protocol", p), ("kind", k)];
                ConstCounter::new(n).encode(family.encode_family(&labels)?)?;
            }
        }
        gauge(
            &mut e,
            "tsdb_metadata_metrics",
            "Metrics with metadata (type, help, unit) kept for /api/v1/metadata",
            None,
            ingester.metadata().len() as f64,
        )
    }
}

/// Sizes read from [`Db::stats`] at scrape time (nothing until the database is open).
#[derive(Debug)]
struct DbCollector {
    db: Arc<OnceLock<Db>>,
}

#[expect(
    clippy::cast_precision_loss,
    reason = "counts and bytes as metric values: exact below 2^53"
)]
impl Collector for DbCollector {
    fn encode(&self, mut e: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some(db) = self.db.get() else {
            return Ok(());
        };
        let Ok(s) = db.stats() else {
            return Ok(());
        };
        gauge(
            &mut e,
            "tsdb_head_series",
            "Series in the head",
            None,
            s.head_series as f64,
        )?;
        gauge(
            &mut e,
            "tsdb_head_chunks",
            "Chunks in the head",
            None,
            s.head_chunks as f64,
        )?;
        gauge(
            &mut e,
            "tsdb_head_samples",
            "Samples in the head",
            None,
            s.head_samples as f64,
        )?;
        if let Some((min, max)) = s.head_range {
            gauge(
                &mut e,
                "tsdb_head_min_time",
                "Oldest sample time in the head",
                Some(&Unit::Seconds),
                min as f64 / 1000.0,
            )?;
            gauge(
                &mut e,
                "tsdb_head_max_time",
                "Newest sample time in the head",
                Some(&Unit::Seconds),
                max as f64 / 1000.0,
            )?;
        }
        gauge(
            &mut e,
            "tsdb_segments",
            "Segments open",
            None,
            s.segments.len() as f64,
        )?;
        // compaction and rollup progress: segments by compaction level and resolution
        let mut by_level: std::collections::BTreeMap<(u32, u64), usize> = Default::default();
        for (_, m, _) in &s.segments {
            *by_level.entry((m.level, m.resolution_ms)).or_default() += 1;
        }
        let by_level: Vec<(String, String, f64)> = by_level
            .into_iter()
            .map(|((level, res), n)| {
                let res = if res == 0 {
                    "raw".to_owned()
                } else {
                    super::flags::format_duration(Duration::from_millis(res))
                };
                (level.to_string(), res, n as f64)
            })
            .collect();
        let rows: Vec<([&str; 2], f64)> = by_level
            .iter()
            .map(|(l, r, n)| ([l.as_str(), r.as_str()], *n))
            .collect();
        labeled(
            &mut e,
            "tsdb_segments_by_level",
            "Segments open, by compaction level (0: cut from the head) and resolution (raw, \
             or a rollup's bucket width)",
            false,
            ["level", "resolution"],
            &rows,
        )?;
        if s.persisted_until != i64::MIN {
            gauge(
                &mut e,
                "tsdb_persisted_until",
                "Segments hold everything before this time (persistence's progress)",
                Some(&Unit::Seconds),
                s.persisted_until as f64 / 1000.0,
            )?;
        }
        counter(
            &mut e,
            "tsdb_maintenance_passes",
            "Background maintenance passes (persist, compaction, rollups, retention) run",
            None,
            s.maintenance.passes as f64,
        )?;
        let bytes: u64 = s.segments.iter().map(|(_, _, b)| b).sum();
        gauge(
            &mut e,
            "tsdb_segment",
            "Bytes of the open segments on disk",
            Some(&Unit::Bytes),
            bytes as f64,
        )?;
        let samples: u64 = s.segments.iter().map(|(_, m, _)| m.samples).sum();
        gauge(
            &mut e,
            "tsdb_segment_samples",
            "Samples in the open segments",
            None,
            samples as f64,
        )?;
        gauge(
            &mut e,
            "tsdb_wal",
            "Bytes of the write-ahead log on disk",
            Some(&Unit::Bytes),
            s.wal_bytes as f64,
        )?;
        gauge(
            &mut e,
            "tsdb_wal_files",
            "Write-ahead log files",
            None,
            s.wal_files as f64,
        )?;
        gauge(
            &mut e,
            "tsdb_deletions",
            "Deletion requests in force",
            None,
            s.deletions as f64,
        )?;
        gauge(
            &mut e,
            "tsdb_maintenance_consecutive_failures",
            "Maintenance failures since the last pass that succeeded",
            None,
            f64::from(s.maintenance.consecutive_failures),
        )?;
        Ok(())
    }
}

/// The process's own figures, from `/proc/self` (Linux; absent elsewhere).
#[derive(Debug)]
struct ProcessCollector {
    started: SystemTime,
}

/// Clock ticks per second in `/proc/self/stat` (`USER_HZ`): 100 on every Linux
/// architecture's user-space ABI.
const USER_HZ: f64 = 100.0;

#[expect(
    clippy::cast_precision_loss,
    reason = "byte and tick counts as metric values: exact below 2^53"
)]
impl Collector for ProcessCollector {
    fn encode(&self, mut e: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        gauge(
            &mut e,
            "process_start_time",
            "When the process started, since the Unix epoch",
            Some(&Unit::Seconds),
            unix_seconds(self.started),
        )?;
        if let Some(kb) = status_kb("VmRSS:") {
            gauge(
                &mut e,
                "process_resident_memory",
                "Resident memory size",
                Some(&Unit::Bytes),
                (kb * 1024) as f64,
            )?;
        }
        if let Some(kb) = status_kb("VmSize:") {
            gauge(
                &mut e,
                "process_virtual_memory",
                "Virtual memory size",
                Some(&Unit::Bytes),
                (kb * 1024) as f64,
            )?;
        }
        if let Some(ticks) = cpu_ticks() {
            counter(
                &mut e,
                "process_cpu",
                "User and system CPU time spent",
                Some(&Unit::Seconds),
                ticks as f64 / USER_HZ,
            )?;
        }
        if let Ok(dir) = std::fs::read_dir("/proc/self/fd") {
            gauge(
                &mut e,
                "process_open_fds",
                "Open file descriptors",
                None,
                dir.count() as f64,
            )?;
        }
        Ok(())
    }
}

/// A `kB` line of `/proc/self/status`.
fn status_kb(key: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(key))?;
    line.get(key.len()..)?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// utime + stime of `/proc/self/stat`, in clock ticks.
fn cpu_ticks() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // the command name (field 2) is in parentheses and may hold spaces: fields are
    // counted after its closing one
    let rest = stat.get(stat.rfind(')')? + 1..)?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // fields 14 and 15 of the whole line are the 12th and 13th after the name
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_has_our_families_and_the_observer_feeds_them() {
        let m = Metrics::new(
            Arc::new(OnceLock::new()),
            Arc::new(OnceLock::new()),
            Arc::new(ResultsCache::new(tsdb_query::ResultsCacheOptions::default())),
            SystemTime::now(),
            Arc::new(AtomicI64::new(0)),
            Arc::new(OnceLock::new()),
            Arc::new(Alerting::default()),
        );
        m.http_request("/api/v1/query", 200, Duration::from_millis(3));
        m.query("instant", "success", Duration::from_millis(2));
        m.observer.appended(10, 2);
        m.observer.refused("out_of_order", 3);
        m.observer.wal_fsync(Duration::from_micros(300));
        let text = m.encode().unwrap();
        for needle in [
            "tsdb_http_requests_total{handler=\"/api/v1/query\",code=\"200\"} 1",
            "tsdb_http_request_duration_seconds_bucket",
            "tsdb_samples_appended_total 10",
            "tsdb_series_created_total 2",
            "tsdb_samples_refused_total{reason=\"out_of_order\"} 3",
            "tsdb_wal_fsync_duration_seconds_count 1",
            "process_start_time_seconds",
            "tsdb_queries_in_flight 0",
            "# EOF",
        ] {
            assert!(text.contains(needle), "{needle} missing from\n{text}");
        }
        if cfg!(target_os = "linux") {
            assert!(text.contains("process_resident_memory_bytes "), "{text}");
            assert!(text.contains("process_cpu_seconds_total "), "{text}");
        }
    }
}
