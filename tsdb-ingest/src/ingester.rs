//! [`Ingester`]: the write path every protocol shares. A protocol decodes its body into
//! a [`Pending`] request (label sets and samples, plus what it refused while decoding);
//! [`Ingester::write`] applies the request limits and the cardinality limits, appends what
//! is admitted to the [`Db`] as one batch, and maps the database's per-sample refusals
//! into the [`Outcome`].

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use tsdb_core::{Batch, Clock, Db, SystemClock};
use tsdb_index::{Labels, Matcher};

use crate::limits::IngestLimits;
use crate::metadata::MetadataStore;
use crate::outcome::{Outcome, RequestError};
use crate::reason::{Protocol, Reason};
use crate::stats::IngestStats;
use crate::tracker::{Admit, SeriesId, SeriesTracker};

/// The push-ingestion front of a [`Db`]: decodes Influx line protocol, Prometheus remote
/// write 1.0/2.0 and OTLP metrics, applies [`IngestLimits`], appends, and returns an
/// [`Outcome`] whose [`Outcome::response`] is the protocol's HTTP answer.
///
/// A cheap `Clone` handle, safe to share across threads: every clone shares the
/// database, the counters ([`Ingester::stats`]), the metadata store and the per-metric
/// series tracker. Calls are synchronous and do no I/O besides the database append
/// (which waits for the WAL fsync under the database's sync mode): a server calls them
/// from a blocking-capable thread.
#[derive(Clone, Debug)]
pub struct Ingester {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    db: Db,
    limits: IngestLimits,
    stats: IngestStats,
    metadata: MetadataStore,
    tracker: SeriesTracker,
    clock: Arc<dyn Clock>,
}

/// A decoded request, before limits and the database have had their say.
#[derive(Debug)]
pub(crate) struct Pending {
    pub(crate) outcome: Outcome,
    series: Vec<Labels>,
    samples: Vec<PendingSample>,
    /// Label set → index in `series`, for protocols that repeat a series per sample.
    index: HashMap<Labels, u32>,
    /// Whether `PendingSample::point` is meaningful (OTLP).
    points: bool,
}

/// The `point` of a sample that belongs to no OTLP data point.
const NO_POINT: u32 = u32::MAX;

#[derive(Clone, Copy, Debug)]
struct PendingSample {
    series: u32,
    /// The OTLP data point the sample came from.
    point: u32,
    t: i64,
    v: f64,
}

impl Pending {
    pub(crate) fn new(protocol: Protocol, limits: &IngestLimits) -> Pending {
        Pending {
            outcome: Outcome::new(protocol, limits.max_messages),
            series: Vec::new(),
            samples: Vec::new(),
            index: HashMap::new(),
            points: false,
        }
    }

    /// Adds a series; its samples follow with [`Pending::sample`].
    pub(crate) fn series(&mut self, labels: Labels) -> u32 {
        let id = u32::try_from(self.series.len()).unwrap_or(u32::MAX);
        self.series.push(labels);
        id
    }

    /// The id of `labels`, adding the series the first time it is seen.
    pub(crate) fn series_dedup(&mut self, labels: Labels) -> u32 {
        if let Some(&id) = self.index.get(&labels) {
            return id;
        }
        let id = self.series(labels.clone());
        self.index.insert(labels, id);
        id
    }

    /// Replaces every series' labels by `f(labels)`; a series for which `f` fails is
    /// dropped with its samples, refused for the reason `f` gives.
    pub(crate) fn relabel(
        &mut self,
        mut f: impl FnMut(&Labels) -> Result<Labels, (Reason, String)>,
    ) {
        let mut counts = vec![0u64; self.series.len()];
        for s in &self.samples {
            if let Some(c) = counts.get_mut(s.series as usize) {
                *c += 1;
            }
        }
        let mut dropped = vec![false; self.series.len()];
        for (i, labels) in self.series.iter_mut().enumerate() {
            match f(labels) {
                Ok(l) => *labels = l,
                Err((reason, message)) => {
                    dropped[i] = true;
                    let n = counts.get(i).copied().unwrap_or(0);
                    self.outcome.refuse(reason, n, || message);
                }
            }
        }
        if dropped.contains(&true) {
            self.samples
                .retain(|s| !dropped.get(s.series as usize).copied().unwrap_or(true));
        }
        self.index.clear();
    }

    /// A sample that belongs to no OTLP data point (every protocol but OTLP, and OTLP's
    /// `target_info`).
    pub(crate) fn sample(&mut self, series: u32, t: i64, v: f64) {
        self.samples.push(PendingSample {
            series,
            point: NO_POINT,
            t,
            v,
        });
    }

    /// A sample of OTLP data point `point` (points are counted for the response).
    pub(crate) fn point_sample(&mut self, series: u32, point: u32, t: i64, v: f64) {
        self.points = true;
        self.samples.push(PendingSample {
            series,
            point: point.min(NO_POINT - 1),
            t,
            v,
        });
    }
}

impl Ingester {
    /// An ingester writing to `db` under `limits`, with the system clock. The per-metric
    /// series tracker is seeded from the series in the database's head (so a restart
    /// does not take them for new ones); that walk is the only cost here.
    pub fn new(db: Db, limits: IngestLimits) -> Result<Ingester, tsdb_core::Error> {
        Ingester::with_clock(db, limits, Arc::new(SystemClock))
    }

    /// [`Ingester::new`] with a clock (tests use a [`tsdb_core::ManualClock`]; give the
    /// database the same one). The clock only ages the series tracker.
    pub fn with_clock(
        db: Db,
        limits: IngestLimits,
        clock: Arc<dyn Clock>,
    ) -> Result<Ingester, tsdb_core::Error> {
        let tracker = SeriesTracker::new(limits.series_idle_ms);
        if let Some((min, max)) = db.stats()?.head_range {
            let now = clock.now_ms();
            let q = db.querier(min, max)?;
            for s in q.select(&[Matcher::regex("__name__", ".+")?])? {
                let labels = s.labels();
                tracker.insert(labels.metric_name().unwrap_or(""), tracker.id(labels), now);
            }
        }
        Ok(Ingester {
            inner: Arc::new(Inner {
                db,
                limits,
                stats: IngestStats::default(),
                metadata: MetadataStore::default(),
                tracker,
                clock,
            }),
        })
    }

    /// The database written to.
    pub fn db(&self) -> &Db {
        &self.inner.db
    }

    /// The limits in force.
    pub fn limits(&self) -> &IngestLimits {
        &self.inner.limits
    }

    /// Counters of accepted and refused samples by protocol and reason.
    pub fn stats(&self) -> &IngestStats {
        &self.inner.stats
    }

    /// The metadata received so far (for `/api/v1/metadata`).
    pub fn metadata(&self) -> &MetadataStore {
        &self.inner.metadata
    }

    /// Active series of `metric` as the per-metric limit counts them.
    pub fn metric_series(&self, metric: &str) -> usize {
        self.inner
            .tracker
            .metric_series(metric, self.inner.clock.now_ms())
    }

    /// Now, by the ingester's clock.
    pub(crate) fn clock_ms(&self) -> i64 {
        self.inner.clock.now_ms()
    }

    /// Counts a request refused whole and returns its outcome.
    pub(crate) fn fail(&self, protocol: Protocol, e: RequestError) -> Outcome {
        self.finish(Outcome::failed(protocol, e))
    }

    /// Refuses a whole request for a reason found before its body reached the ingester
    /// (the HTTP server's body limit, an unreadable body), counted in
    /// [`Ingester::stats`] like any other refusal; answer with [`Outcome::response`].
    pub fn refuse(&self, protocol: Protocol, error: RequestError) -> Outcome {
        self.fail(protocol, error)
    }

    /// Records the outcome in the counters and the metadata store.
    fn finish(&self, outcome: Outcome) -> Outcome {
        self.inner.stats.record(&outcome);
        if outcome.failure.is_none() {
            self.inner.metadata.apply(&outcome.metadata);
        }
        outcome
    }

    /// Applies the limits to a decoded request, appends what is admitted, and returns
    /// the outcome (counted in [`Ingester::stats`]).
    pub(crate) fn write(&self, pending: Pending) -> Outcome {
        let Pending {
            mut outcome,
            series,
            samples,
            points,
            ..
        } = pending;
        let limits = &self.inner.limits;
        if limits.max_samples_per_request > 0 && samples.len() > limits.max_samples_per_request {
            let e = RequestError::TooManySamples {
                count: samples.len(),
                limit: limits.max_samples_per_request,
            };
            outcome.failure = Some(e);
            outcome.metadata.clear();
            return self.finish(outcome);
        }
        if samples.is_empty() {
            return self.finish(outcome);
        }

        // Cardinality: each distinct series once, in order of first appearance.
        let tracker = &self.inner.tracker;
        let db = &self.inner.db;
        let now = self.inner.clock.now_ms();
        let head_series = db.head_series();
        let mut new_series = 0usize;
        let mut samples_per_series = vec![0u64; series.len()];
        for s in &samples {
            if let Some(n) = samples_per_series.get_mut(s.series as usize) {
                *n += 1;
            }
        }
        // For each series: its batch handle, or None when refused; and its tracker id
        // when it was admitted as new (to forget it if the database refuses it).
        let mut batch = Batch::new();
        let mut handles = Vec::with_capacity(series.len());
        let mut fresh: Vec<Option<SeriesId>> = Vec::with_capacity(series.len());
        for (i, labels) in series.iter().enumerate() {
            let count = samples_per_series.get(i).copied().unwrap_or(0);
            if count == 0 {
                handles.push(None);
                fresh.push(None);
                continue;
            }
            let metric = labels.metric_name().unwrap_or("");
            let id = tracker.id(labels);
            let verdict = tracker.admit(metric, id, now, limits.max_series_per_metric, || {
                limits.max_series == 0 || head_series + new_series < limits.max_series
            });
            match verdict {
                Admit::Known | Admit::New => {
                    if verdict == Admit::New {
                        new_series += 1;
                        fresh.push(Some(id));
                    } else {
                        fresh.push(None);
                    }
                    handles.push(Some(batch.series(labels.clone())));
                }
                Admit::OverMetricLimit => {
                    outcome.refuse(Reason::SeriesPerMetricLimit, count, || {
                        format!(
                            "series {}: metric {metric:?} already has {} active series, the limit per metric",
                            cut(&labels.to_string()),
                            limits.max_series_per_metric
                        )
                    });
                    handles.push(None);
                    fresh.push(None);
                }
                Admit::OverTotalLimit => {
                    outcome.refuse(Reason::SeriesLimit, count, || {
                        format!(
                            "series {}: the database already has {} active series, the limit",
                            cut(&labels.to_string()),
                            limits.max_series
                        )
                    });
                    handles.push(None);
                    fresh.push(None);
                }
            }
        }
        // Samples in arrival order; `order[i]` is the pending sample of batch sample i.
        let mut order: Vec<u32> = Vec::with_capacity(samples.len());
        let mut refused_points: HashSet<u32> = HashSet::new();
        for (i, s) in samples.iter().enumerate() {
            match handles.get(s.series as usize).copied().flatten() {
                Some(h) => {
                    batch.sample(h, s.t, s.v);
                    order.push(u32::try_from(i).unwrap_or(u32::MAX));
                }
                None => {
                    if points && s.point != NO_POINT {
                        refused_points.insert(s.point);
                    }
                }
            }
        }

        if !batch.is_empty() {
            match db.append_batch(&batch) {
                Ok(result) => {
                    outcome.accepted += result.accepted as u64;
                    // series the database refused are not active
                    let mut batch_series = 0usize;
                    for (i, h) in handles.iter().enumerate() {
                        if h.is_none() {
                            continue;
                        }
                        if let (Some(None), Some(Some(id))) =
                            (result.refs.get(batch_series), fresh.get(i))
                        {
                            let metric = series.get(i).and_then(Labels::metric_name).unwrap_or("");
                            tracker.forget(metric, *id);
                        }
                        batch_series += 1;
                    }
                    for r in &result.rejected {
                        let Some(s) = order.get(r.index).and_then(|&p| samples.get(p as usize))
                        else {
                            continue;
                        };
                        if points && s.point != NO_POINT {
                            refused_points.insert(s.point);
                        }
                        let labels = series.get(s.series as usize);
                        outcome.refuse(Reason::from_sample_error(&r.error), 1, || {
                            format!(
                                "series {}: {}",
                                labels.map(|l| cut(&l.to_string())).unwrap_or_default(),
                                r.error
                            )
                        });
                    }
                }
                Err(e) => {
                    for (i, id) in fresh.iter().enumerate() {
                        if let Some(id) = id {
                            let metric = series.get(i).and_then(Labels::metric_name).unwrap_or("");
                            tracker.forget(metric, *id);
                        }
                    }
                    outcome.failure = Some(RequestError::Storage(e));
                    outcome.accepted = 0;
                    outcome.metadata.clear();
                }
            }
        }
        outcome.points_refused += refused_points.len() as u64;
        self.finish(outcome)
    }
}

/// Cuts a label set or line quoted in a message to 256 bytes (at a char boundary).
pub(crate) fn cut(s: &str) -> String {
    const MAX: usize = 256;
    if s.len() <= MAX {
        return s.to_owned();
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", s.get(..end).unwrap_or_default())
}

/// Runs a decoder and translator on a body, without a database (for the fuzz targets and
/// the decoding benchmarks): [`Protocol::RemoteWriteV1`] and [`Protocol::RemoteWriteV2`]
/// read a snappy block, [`Protocol::Otlp`] a protobuf body, the Influx protocols line
/// protocol in nanoseconds. Returns (series, samples) decoded and builds the response
/// the outcome would give, so every path the fuzz targets reach is the real one.
pub fn fuzz_decode(protocol: Protocol, body: &[u8]) -> (usize, usize) {
    use prost::Message as _;
    let limits = IngestLimits::default();
    let mut pending = Pending::new(protocol, &limits);
    let result: Result<(), RequestError> = match protocol {
        Protocol::RemoteWriteV1 | Protocol::RemoteWriteV2 => crate::body::snappy(body, &limits)
            .and_then(|raw| {
                let r = if protocol == Protocol::RemoteWriteV2 {
                    crate::proto::write_v2::Request::decode(raw.as_slice()).map(|req| {
                        crate::remote_write::decode_v2(&req, &mut pending, &limits.labels)
                    })
                } else {
                    crate::proto::prometheus::WriteRequest::decode(raw.as_slice()).map(|req| {
                        crate::remote_write::decode_v1(&req, &mut pending, &limits.labels)
                    })
                };
                r.map_err(|e| RequestError::Malformed(e.to_string()))
            }),
        Protocol::Otlp | Protocol::OtlpJson => crate::otlp::decode(protocol, body)
            .map(|req| crate::otlp::translate(&req, &mut pending, &limits.labels)),
        Protocol::InfluxV1 | Protocol::InfluxV2 => {
            crate::influx::decode(body, Default::default(), 0, &limits, &mut pending);
            Ok(())
        }
    };
    let (series, samples) = (pending.series.len(), pending.samples.len());
    let mut outcome = pending.outcome;
    outcome.failure = result.err();
    let _ = outcome.response();
    (series, samples)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_are_shared_across_threads() {
        fn assert_send_sync<T: Send + Sync + Clone>() {}
        assert_send_sync::<Ingester>();
    }

    #[test]
    fn relabel_drops_refused_series_with_their_samples() {
        let limits = IngestLimits::default();
        let mut p = Pending::new(Protocol::InfluxV1, &limits);
        let a = p.series_dedup(Labels::new([("__name__", "a")]).unwrap());
        let b = p.series_dedup(Labels::new([("__name__", "b")]).unwrap());
        p.sample(a, 1, 1.0);
        p.sample(b, 1, 1.0);
        p.sample(b, 2, 1.0);
        p.relabel(|l| {
            if l.metric_name() == Some("b") {
                Err((Reason::InvalidLabels, "no b".to_owned()))
            } else {
                Ok(l.clone())
            }
        });
        assert_eq!(p.samples.len(), 1);
        assert_eq!(p.outcome.refused(Reason::InvalidLabels), 2);
        assert_eq!(p.outcome.messages, ["no b"]);
    }

    #[test]
    fn fuzz_decode_never_panics_on_truncations_of_a_valid_body() {
        use prost::Message as _;
        let req = crate::proto::prometheus::WriteRequest {
            timeseries: vec![crate::proto::prometheus::TimeSeries {
                labels: vec![crate::proto::prometheus::Label {
                    name: "__name__".into(),
                    value: "up".into(),
                }],
                samples: vec![crate::proto::prometheus::Sample {
                    value: 1.0,
                    timestamp: 5,
                }],
                ..Default::default()
            }],
            metadata: Vec::new(),
        };
        let raw = req.encode_to_vec();
        let body = snap::raw::Encoder::new().compress_vec(&raw).unwrap();
        assert_eq!(fuzz_decode(Protocol::RemoteWriteV1, &body), (1, 1));
        for cut in 0..body.len() {
            let _ = fuzz_decode(Protocol::RemoteWriteV1, &body[..cut]);
            let _ = fuzz_decode(Protocol::RemoteWriteV2, &body[..cut]);
            let _ = fuzz_decode(Protocol::Otlp, &raw[..cut.min(raw.len())]);
        }
        assert_eq!(
            fuzz_decode(Protocol::InfluxV1, b"a x=1 1000000\nbad\n"),
            (1, 1)
        );
    }
}
