//! Self-monitoring: every `--self-scrape-interval` the server renders its own `/metrics`
//! exposition, parses it with `tsdb-text`'s OpenMetrics parser (as a scrape would) and
//! appends it into its own database with `job="tsdb-server"` and `instance=<listen
//! address>`, plus the series a Prometheus scrape adds (`up`, `scrape_duration_seconds`,
//! `scrape_samples_scraped`). The first scrape runs as soon as the database is open, so
//! `/api/v1/query?query=up` answers right after start. The families' `# HELP`, `# TYPE`
//! and `# UNIT` go into the metadata store.
//!
//! Labels `job` and `instance` already on an exposed series are kept as `exported_job`
//! and `exported_instance`, as Prometheus does without `honor_labels`.
//!
//! The interval is `--self-scrape-interval`, else the configuration's
//! `global.scrape_interval` (which a reload may change: the next scrape follows the new
//! interval), else 15 s. Zero, from the flag, turns self-monitoring off.

use std::time::{Duration, Instant};

use tokio::sync::watch;
use tsdb_core::Batch;
use tsdb_index::Labels;
use tsdb_ingest::{MetricMetadata, MetricType};
use tsdb_text::prometheus::{Dialect, Options, Parser};

use super::query_api::now_ms;
use super::state::AppState;

/// The `job` label of self-monitoring series.
pub const JOB: &str = "tsdb-server";

/// The self-monitoring interval in force.
pub fn interval(state: &AppState) -> Duration {
    state
        .0
        .flags
        .self_scrape_interval
        .or(state.0.config.read().scrape_interval)
        .unwrap_or(DEFAULT_INTERVAL)
}

/// Without a flag or a configured `scrape_interval`.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(15);

/// Runs until `stop` turns true: waits for the database, scrapes at once, then every
/// [`interval`] (re-read after each scrape).
pub async fn run(state: AppState, mut stop: watch::Receiver<bool>) {
    if !state.wait_ready(&mut stop).await {
        return;
    }
    let mut next = tokio::time::Instant::now();
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(next) => {}
            _ = stop.changed() => {}
        }
        if *stop.borrow() {
            return;
        }
        // the next scrape one interval after this one started (at least 1 ms later)
        next += interval(&state).max(Duration::from_millis(1));
        let now = tokio::time::Instant::now();
        if next < now {
            next = now; // a scrape that ran late does not cause a burst
        }
        match scrape_once(&state).await {
            Ok(_) => state.0.metrics.self_scrape("success"),
            Err(e) => {
                state.0.metrics.self_scrape("failure");
                tracing::warn!(error = %e, "self-scrape failed");
            }
        }
    }
}

/// One scrape: returns the number of samples appended.
pub async fn scrape_once(state: &AppState) -> Result<usize, String> {
    let db = state.db().map_err(|e| e.message)?;
    let s = state.clone();
    tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        let t = now_ms();
        let text = s.0.metrics.encode().map_err(|e| e.to_string())?;
        let instance = s.0.listen.clone();
        let target = |extra: &[(&str, &str)]| {
            Labels::new(
                extra
                    .iter()
                    .copied()
                    .chain([("job", JOB), ("instance", instance.as_str())]),
            )
            .map_err(|e| e.to_string())
        };
        let mut batch = Batch::new();
        let mut parser = Parser::new(text.as_bytes(), Options::new(Dialect::OpenMetrics));
        let mut scraped = 0u32;
        for sample in parser.by_ref() {
            let sample = sample.map_err(|e| format!("own exposition does not parse: {e}"))?;
            let pairs: Vec<(String, &str)> = sample
                .labels
                .iter()
                .map(|(n, v)| match n {
                    "job" | "instance" => (format!("exported_{n}"), v),
                    _ => (n.to_owned(), v),
                })
                .collect();
            let labels = Labels::new(
                pairs
                    .iter()
                    .map(|(n, v)| (n.as_str(), *v))
                    .chain([("job", JOB), ("instance", instance.as_str())]),
            )
            .map_err(|e| e.to_string())?;
            let series = batch.series(labels);
            batch.sample(series, sample.timestamp.unwrap_or(t), sample.value);
            scraped += 1;
        }
        if let Ok(ingester) = s.ingester() {
            let metadata: Vec<MetricMetadata> = parser
                .families()
                .iter()
                .map(|f| MetricMetadata {
                    metric: f.name.clone(),
                    metric_type: MetricType::from(f.metric_type),
                    help: f.help.clone().unwrap_or_default(),
                    unit: f.unit.clone().unwrap_or_default(),
                })
                .collect();
            ingester.metadata().apply(&metadata);
        }
        for (name, value) in [
            ("up", 1.0),
            ("scrape_duration_seconds", started.elapsed().as_secs_f64()),
            ("scrape_samples_scraped", f64::from(scraped)),
        ] {
            let series = batch.series(target(&[("__name__", name)])?);
            batch.sample(series, t, value);
        }
        let outcome = db.append_batch(&batch).map_err(|e| e.to_string())?;
        if let Some(r) = outcome.rejected.first() {
            return Err(format!(
                "{} of {} self-monitoring samples refused, first: {:?}",
                outcome.rejected.len(),
                batch.len(),
                r.error
            ));
        }
        Ok(outcome.accepted)
    })
    .await
    .map_err(|e| e.to_string())?
}
