//! OpenTelemetry OTLP/HTTP metrics (`POST /api/v1/otlp/v1/metrics`, protobuf
//! `ExportMetricsServiceRequest`), translated into series as Prometheus 3 translates
//! them (`storage/remote/otlptranslator/prometheusremotewrite` with its default
//! settings):
//!
//! - **Names**: metric names normalised with unit and type suffixes
//!   (`http.server.duration` in `s` → `http_server_duration_seconds`, monotonic sums get
//!   `_total`, gauges of unit `1` get `_ratio`), label names sanitised ([`naming`]).
//! - **Labels**: the data point's attributes (values as OTLP's `AsString`: numbers in
//!   shortest form, bytes in base64, arrays and maps as JSON; attributes that sanitise
//!   to the same name are joined with `;` in key order), then `job` =
//!   `service.namespace/service.name` and `instance` = `service.instance.id` from the
//!   resource.
//! - **`target_info`**: a gauge of value 1 per resource with the resource's other
//!   attributes as labels (and `job`/`instance`), at the request's earliest data point
//!   time and every 2.5 minutes up to its latest (at most [`TARGET_INFO_MAX_SAMPLES`]
//!   samples per resource, the newest), when the resource has such attributes and a
//!   `job` or `instance`.
//! - **Types**: gauges; cumulative sums (monotonic as counters, others as gauges);
//!   cumulative explicit-bucket histograms as `_bucket{le}` (cumulative counts, `+Inf`
//!   = count), `_sum` (when present) and `_count`; summaries as `{quantile}`, `_sum`
//!   and `_count`. The "no recorded value" flag becomes the stale marker.
//! - **Refused, counted and named in the response**: delta temporality (sums and
//!   histograms), exponential histograms, metrics without data. Exemplars are not
//!   stored: counted and named in the response's message, their data points stored.
//! - Metadata (type, description as help, unit) per metric name in the outcome.
//! - Both encodings: protobuf and OTLP/JSON ([`json`]), decoded into the same messages.

mod json;
pub(crate) mod naming;

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;

use prost::Message as _;
use tsdb_index::{LabelLimits, Labels};

use crate::ingester::{cut, Ingester, Pending};
use crate::metadata::{MetricMetadata, MetricType};
use crate::outcome::{Outcome, RequestError};
use crate::proto::otlp::collector::ExportMetricsServiceRequest;
use crate::proto::otlp::common::{any_value, AnyValue, KeyValue};
use crate::proto::otlp::metrics::{metric, number_data_point, Metric};
use crate::reason::{Protocol, Reason};
use naming::Kind;

/// The stale-marker NaN (Prometheus `value.StaleNaN`), kept bit for bit.
pub const STALE_NAN: u64 = 0x7ff0_0000_0000_0002;

/// Most `target_info` samples one resource of one request produces (the newest are
/// kept): a request whose data points span years must not turn into millions of them.
pub const TARGET_INFO_MAX_SAMPLES: i64 = 1000;

/// `target_info`'s step: half of Prometheus' default lookback delta of 5 minutes.
const TARGET_INFO_STEP_MS: i64 = 150_000;

/// `AggregationTemporality` values.
const DELTA: i32 = 1;
const CUMULATIVE: i32 = 2;

/// `DataPointFlags.FLAG_NO_RECORDED_VALUE`.
const NO_RECORDED_VALUE: u32 = 1;

/// The resource attributes that name the target (`job`/`instance`), left out of
/// `target_info`.
const IDENTIFYING: [&str; 3] = ["service.namespace", "service.name", "service.instance.id"];

impl Ingester {
    /// Ingests an OTLP/HTTP metrics request body: `content_type`
    /// `application/x-protobuf` (protobuf, [`Protocol::Otlp`]) or `application/json`
    /// (OTLP/JSON, [`Protocol::OtlpJson`], answered in JSON); anything else is refused
    /// with 415. A `Content-Encoding` such as gzip is the HTTP server's to undo before
    /// calling this.
    ///
    /// ```
    /// use tsdb_ingest::proto::otlp::{collector, common, metrics, resource};
    /// use prost::Message;
    /// # let dir = tempfile::tempdir()?;
    /// # let db = tsdb_core::Db::open(dir.path(), tsdb_core::Options::default())?;
    /// let ingester = tsdb_ingest::Ingester::new(db, Default::default())?;
    /// let now_ns = std::time::SystemTime::now()
    ///     .duration_since(std::time::UNIX_EPOCH)?
    ///     .as_nanos() as u64;
    /// let attr = |k: &str, v: &str| common::KeyValue {
    ///     key: k.into(),
    ///     value: Some(common::AnyValue {
    ///         value: Some(common::any_value::Value::StringValue(v.into())),
    ///     }),
    ///     ..Default::default()
    /// };
    /// let request = collector::ExportMetricsServiceRequest {
    ///     resource_metrics: vec![metrics::ResourceMetrics {
    ///         resource: Some(resource::Resource {
    ///             attributes: vec![attr("service.name", "shop")],
    ///             ..Default::default()
    ///         }),
    ///         scope_metrics: vec![metrics::ScopeMetrics {
    ///             metrics: vec![metrics::Metric {
    ///                 name: "queue.length".into(),
    ///                 data: Some(metrics::metric::Data::Gauge(metrics::Gauge {
    ///                     data_points: vec![metrics::NumberDataPoint {
    ///                         time_unix_nano: now_ns,
    ///                         value: Some(metrics::number_data_point::Value::AsInt(3)),
    ///                         ..Default::default()
    ///                     }],
    ///                 })),
    ///                 ..Default::default()
    ///             }],
    ///             ..Default::default()
    ///         }],
    ///         ..Default::default()
    ///     }],
    /// };
    /// let outcome = ingester.otlp(&request.encode_to_vec(), Some("application/x-protobuf"));
    /// assert_eq!(outcome.accepted, 1); // queue_length{job="shop"} 3
    /// assert_eq!(outcome.response().status, 200);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn otlp(&self, body: &[u8], content_type: Option<&str>) -> Outcome {
        let media = content_type
            .and_then(|c| c.split(';').next())
            .map(|m| m.trim().to_ascii_lowercase())
            .unwrap_or_default();
        let p = match media.as_str() {
            "application/x-protobuf" | "application/protobuf" => Protocol::Otlp,
            "application/json" => Protocol::OtlpJson,
            _ => {
                let shown = content_type.unwrap_or("").to_owned();
                return self.fail(Protocol::Otlp, RequestError::UnsupportedContentType(shown));
            }
        };
        if let Err(e) = crate::body::check_size(body, self.limits()) {
            return self.fail(p, e);
        }
        let request = match decode(p, body) {
            Ok(r) => r,
            Err(e) => return self.fail(p, e),
        };
        let mut pending = Pending::new(p, self.limits());
        translate(&request, &mut pending, &self.limits().labels);
        self.write(pending)
    }
}

/// Decodes an OTLP request body: protobuf for [`Protocol::Otlp`], JSON otherwise.
pub(crate) fn decode(
    p: Protocol,
    body: &[u8],
) -> Result<ExportMetricsServiceRequest, RequestError> {
    if p == Protocol::OtlpJson {
        return json::decode(body).map_err(|e| {
            RequestError::Malformed(format!(
                "cannot decode ExportMetricsServiceRequest JSON: {e}"
            ))
        });
    }
    ExportMetricsServiceRequest::decode(body).map_err(|e| {
        RequestError::Malformed(format!("cannot decode ExportMetricsServiceRequest: {e}"))
    })
}

/// Translates a whole request into `pending`.
pub(crate) fn translate(
    req: &ExportMetricsServiceRequest,
    pending: &mut Pending,
    limits: &LabelLimits,
) {
    let mut t = Translator {
        pending,
        limits,
        point: 0,
        exemplars: 0,
        metadata_seen: HashSet::new(),
        target_info_seen: HashSet::new(),
    };
    for rm in &req.resource_metrics {
        let attrs: &[KeyValue] = rm.resource.as_ref().map_or(&[], |r| &r.attributes);
        let resource = Resource::new(attrs);
        let (mut earliest, mut latest) = (u64::MAX, 0u64);
        for sm in &rm.scope_metrics {
            for m in &sm.metrics {
                for ts in point_times(m) {
                    earliest = earliest.min(ts);
                    latest = latest.max(ts);
                }
                t.metric(m, &resource);
            }
        }
        if earliest != u64::MAX {
            t.target_info(attrs, &resource, earliest, latest);
        }
    }
    if t.exemplars > 0 {
        let n = t.exemplars;
        t.pending.outcome.refuse(Reason::Exemplar, n, || {
            format!("{n} exemplars dropped: exemplars are not stored (their data points are)")
        });
    }
}

/// `job` and `instance` of a resource.
struct Resource {
    job: Option<String>,
    instance: Option<String>,
}

impl Resource {
    fn new(attrs: &[KeyValue]) -> Resource {
        let get = |k: &str| {
            attrs
                .iter()
                .find(|a| a.key == k)
                .map(|a| as_string(a.value.as_ref()))
        };
        let job = get("service.name").map(|name| match get("service.namespace") {
            Some(ns) => format!("{ns}/{name}"),
            None => name,
        });
        // as Prometheus: an empty job or instance is not set (and so does not override a
        // data point's own `job` or `instance` attribute)
        Resource {
            job: job.filter(|j| !j.is_empty()),
            instance: get("service.instance.id").filter(|i| !i.is_empty()),
        }
    }
}

struct Translator<'a> {
    pending: &'a mut Pending,
    limits: &'a LabelLimits,
    /// Data points seen so far (the id of the next one).
    point: u32,
    exemplars: u64,
    metadata_seen: HashSet<String>,
    target_info_seen: HashSet<(Labels, i64)>,
}

/// The samples one data point becomes: `(metric name suffix, extra label, value)`.
type PointSamples = Vec<(&'static str, Option<(&'static str, String)>, f64)>;

impl Translator<'_> {
    fn next_point(&mut self) -> u32 {
        let p = self.point;
        self.point = self.point.saturating_add(1);
        p
    }

    /// Refuses `points` data points of metric `name` for `reason`.
    fn refuse_points(&mut self, reason: Reason, points: usize, message: impl FnOnce() -> String) {
        let n = points as u64;
        self.pending.outcome.points_refused += n;
        self.pending.outcome.refuse(reason, n, message);
        for _ in 0..points {
            self.next_point();
        }
    }

    fn metric(&mut self, m: &Metric, resource: &Resource) {
        let Some(data) = &m.data else {
            self.refuse_points(Reason::UnsupportedMetric, 1, || {
                format!("metric {:?}: no data of a known type", cut(&m.name))
            });
            return;
        };
        let (kind, temporality, points) = match data {
            metric::Data::Gauge(g) => (Kind::Gauge, None, g.data_points.len()),
            metric::Data::Sum(s) => (
                if s.is_monotonic {
                    Kind::MonotonicCounter
                } else {
                    Kind::NonMonotonicCounter
                },
                Some(s.aggregation_temporality),
                s.data_points.len(),
            ),
            metric::Data::Histogram(h) => (
                Kind::Histogram,
                Some(h.aggregation_temporality),
                h.data_points.len(),
            ),
            metric::Data::ExponentialHistogram(h) => (
                Kind::ExponentialHistogram,
                Some(h.aggregation_temporality),
                h.data_points.len(),
            ),
            metric::Data::Summary(s) => (Kind::Summary, None, s.data_points.len()),
        };
        if points == 0 {
            return;
        }
        if kind == Kind::ExponentialHistogram {
            self.refuse_points(Reason::ExponentialHistogram, points, || {
                format!(
                    "metric {:?}: {points} exponential histogram data points refused: not supported",
                    cut(&m.name)
                )
            });
            return;
        }
        if let Some(t) = temporality {
            if t != CUMULATIVE {
                let (reason, what) = if t == DELTA {
                    (
                        Reason::DeltaTemporality,
                        "delta temporality is not supported",
                    )
                } else {
                    (
                        Reason::UnsupportedMetric,
                        "aggregation temporality is unspecified",
                    )
                };
                self.refuse_points(reason, points, || {
                    format!(
                        "metric {:?}: {points} data points refused: {what}",
                        cut(&m.name)
                    )
                });
                return;
            }
        }
        let name = match naming::metric(&m.name, &m.unit, kind) {
            Ok(n) => n,
            Err(e) => {
                self.refuse_points(Reason::Malformed, points, || e);
                return;
            }
        };
        if self.metadata_seen.insert(name.clone()) {
            let metric_type = match kind {
                Kind::Gauge | Kind::NonMonotonicCounter => MetricType::Gauge,
                Kind::MonotonicCounter => MetricType::Counter,
                Kind::Histogram | Kind::ExponentialHistogram => MetricType::Histogram,
                Kind::Summary => MetricType::Summary,
            };
            self.pending.outcome.metadata.push(MetricMetadata {
                metric: name.clone(),
                metric_type,
                help: m.description.clone(),
                unit: naming::unit(&m.unit),
            });
        }
        match data {
            metric::Data::Gauge(g) => {
                for p in &g.data_points {
                    self.number_point(&name, p, resource);
                }
            }
            metric::Data::Sum(s) => {
                for p in &s.data_points {
                    self.number_point(&name, p, resource);
                }
            }
            metric::Data::Histogram(h) => {
                for p in &h.data_points {
                    self.exemplars += p.exemplars.len() as u64;
                    let stale = p.flags & NO_RECORDED_VALUE != 0;
                    let v = |x: f64| if stale { f64::from_bits(STALE_NAN) } else { x };
                    let mut samples: PointSamples = Vec::new();
                    if let Some(sum) = p.sum {
                        samples.push(("_sum", None, v(sum)));
                    }
                    samples.push(("_count", None, v(p.count as f64)));
                    let mut cumulative = 0u64;
                    for (bound, count) in p.explicit_bounds.iter().zip(&p.bucket_counts) {
                        cumulative = cumulative.saturating_add(*count);
                        samples.push((
                            "_bucket",
                            Some(("le", format_float(*bound))),
                            v(cumulative as f64),
                        ));
                    }
                    samples.push((
                        "_bucket",
                        Some(("le", "+Inf".to_owned())),
                        v(p.count as f64),
                    ));
                    self.point_samples(&name, &p.attributes, resource, p.time_unix_nano, samples);
                }
            }
            metric::Data::Summary(s) => {
                for p in &s.data_points {
                    let stale = p.flags & NO_RECORDED_VALUE != 0;
                    let v = |x: f64| if stale { f64::from_bits(STALE_NAN) } else { x };
                    let mut samples: PointSamples = vec![
                        ("_sum", None, v(p.sum)),
                        ("_count", None, v(p.count as f64)),
                    ];
                    for q in &p.quantile_values {
                        samples.push((
                            "",
                            Some(("quantile", format_float(q.quantile))),
                            v(q.value),
                        ));
                    }
                    self.point_samples(&name, &p.attributes, resource, p.time_unix_nano, samples);
                }
            }
            metric::Data::ExponentialHistogram(_) => {}
        }
    }

    fn number_point(
        &mut self,
        name: &str,
        p: &crate::proto::otlp::metrics::NumberDataPoint,
        resource: &Resource,
    ) {
        self.exemplars += p.exemplars.len() as u64;
        let v = if p.flags & NO_RECORDED_VALUE != 0 {
            f64::from_bits(STALE_NAN)
        } else {
            match p.value {
                Some(number_data_point::Value::AsDouble(d)) => d,
                Some(number_data_point::Value::AsInt(i)) => i as f64,
                None => 0.0,
            }
        };
        self.point_samples(
            name,
            &p.attributes,
            resource,
            p.time_unix_nano,
            vec![("", None, v)],
        );
    }

    /// Builds the label sets of one data point's samples and adds them.
    fn point_samples(
        &mut self,
        name: &str,
        attributes: &[KeyValue],
        resource: &Resource,
        time_unix_nano: u64,
        samples: PointSamples,
    ) {
        let point = self.next_point();
        let base = match attribute_labels(attributes, &["__name__"]) {
            Ok(b) => b,
            Err(e) => {
                self.pending.outcome.points_refused += 1;
                let n = samples.len() as u64;
                self.pending
                    .outcome
                    .refuse(Reason::InvalidLabels, n, || format!("metric {name:?}: {e}"));
                return;
            }
        };
        let t = nanos_to_millis(time_unix_nano);
        let mut refused = false;
        for (suffix, extra, v) in samples {
            let mut labels = base.clone();
            if let Some(job) = &resource.job {
                labels.insert("job".to_owned(), job.clone());
            }
            if let Some(instance) = &resource.instance {
                labels.insert("instance".to_owned(), instance.clone());
            }
            if let Some((k, val)) = extra {
                labels.insert(k.to_owned(), val);
            }
            labels.insert("__name__".to_owned(), format!("{name}{suffix}"));
            match Labels::with_limits(&labels, self.limits) {
                Ok(l) => {
                    let s = self.pending.series(l);
                    self.pending.point_sample(s, point, t, v);
                }
                Err(e) => {
                    if !refused {
                        self.pending.outcome.points_refused += 1;
                    }
                    refused = true;
                    let reason = Reason::from_labels_error(&e);
                    self.pending
                        .outcome
                        .refuse(reason, 1, || format!("metric {name:?}{suffix}: {e}"));
                }
            }
        }
    }

    /// `addResourceTargetInfo`.
    fn target_info(&mut self, attrs: &[KeyValue], resource: &Resource, earliest: u64, latest: u64) {
        let non_identifying = attrs
            .iter()
            .filter(|a| !IDENTIFYING.contains(&a.key.as_str()))
            .count();
        if non_identifying == 0 || (resource.job.is_none() && resource.instance.is_none()) {
            return;
        }
        let mut labels = match attribute_labels(attrs, &IDENTIFYING) {
            Ok(l) => l,
            Err(e) => {
                self.pending
                    .outcome
                    .refuse(Reason::InvalidLabels, 1, || format!("target_info: {e}"));
                return;
            }
        };
        if let Some(job) = &resource.job {
            labels.insert("job".to_owned(), job.clone());
        }
        if let Some(instance) = &resource.instance {
            labels.insert("instance".to_owned(), instance.clone());
        }
        labels.insert("__name__".to_owned(), "target_info".to_owned());
        let labels = match Labels::with_limits(&labels, self.limits) {
            Ok(l) => l,
            Err(e) => {
                let reason = Reason::from_labels_error(&e);
                self.pending
                    .outcome
                    .refuse(reason, 1, || format!("target_info: {e}"));
                return;
            }
        };
        // Prometheus steps through time.Time values in nanoseconds and takes each
        // step's UnixMilli; the same here, with the number of steps bounded
        let (latest_ms, step_ns) = (
            nanos_to_millis(latest),
            TARGET_INFO_STEP_MS as u64 * 1_000_000,
        );
        let span = latest.saturating_sub(earliest);
        let steps = span.div_ceil(step_ns.max(1));
        let max_steps = TARGET_INFO_MAX_SAMPLES as u64 - 1;
        let first = steps.saturating_sub(max_steps);
        let mut times: Vec<i64> = (first..steps)
            .map(|k| nanos_to_millis(earliest.saturating_add(k.saturating_mul(step_ns))))
            .collect();
        times.push(latest_ms);
        let series = self.pending.series_dedup(labels.clone());
        for t in times {
            if self.target_info_seen.insert((labels.clone(), t)) {
                self.pending.sample(series, t, 1.0);
            }
        }
    }
}

/// Every data point time of a metric (`findMinAndMaxTimestamps`).
fn point_times(m: &Metric) -> Vec<u64> {
    match &m.data {
        Some(metric::Data::Gauge(g)) => g.data_points.iter().map(|p| p.time_unix_nano).collect(),
        Some(metric::Data::Sum(s)) => s.data_points.iter().map(|p| p.time_unix_nano).collect(),
        Some(metric::Data::Histogram(h)) => {
            h.data_points.iter().map(|p| p.time_unix_nano).collect()
        }
        Some(metric::Data::ExponentialHistogram(h)) => {
            h.data_points.iter().map(|p| p.time_unix_nano).collect()
        }
        Some(metric::Data::Summary(s)) => s.data_points.iter().map(|p| p.time_unix_nano).collect(),
        None => Vec::new(),
    }
}

/// `createAttributes`' first half: attributes (but `ignore`) sorted by key, names
/// sanitised, values of names that collide joined with `;`.
fn attribute_labels(
    attrs: &[KeyValue],
    ignore: &[&str],
) -> Result<BTreeMap<String, String>, String> {
    let mut sorted: Vec<(&str, String)> = attrs
        .iter()
        .filter(|a| !ignore.contains(&a.key.as_str()))
        .map(|a| (a.key.as_str(), as_string(a.value.as_ref())))
        .collect();
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    for (k, v) in sorted {
        let name = naming::label(k)?;
        match out.get_mut(&name) {
            Some(existing) if !existing.is_empty() => {
                existing.push(';');
                existing.push_str(&v);
            }
            _ => {
                out.insert(name, v);
            }
        }
    }
    Ok(out)
}

/// Nanoseconds since the epoch to milliseconds (`convertTimeStamp`).
fn nanos_to_millis(ns: u64) -> i64 {
    i64::try_from(ns / 1_000_000).unwrap_or(i64::MAX)
}

/// A bound or quantile as Go's `strconv.FormatFloat(f, 'f', -1, 64)` writes it.
fn format_float(f: f64) -> String {
    if f.is_nan() {
        "NaN".to_owned()
    } else if f == f64::INFINITY {
        "+Inf".to_owned()
    } else if f == f64::NEG_INFINITY {
        "-Inf".to_owned()
    } else {
        format!("{f}")
    }
}

/// An attribute value as pdata's `Value.AsString` writes it.
fn as_string(v: Option<&AnyValue>) -> String {
    let mut out = String::new();
    match v.and_then(|v| v.value.as_ref()) {
        None => {}
        Some(any_value::Value::StringValue(s)) => out.push_str(s),
        Some(any_value::Value::BoolValue(b)) => out.push_str(if *b { "true" } else { "false" }),
        Some(any_value::Value::IntValue(i)) => {
            let _ = write!(out, "{i}");
        }
        Some(any_value::Value::DoubleValue(d)) => out.push_str(&json_float(*d)),
        Some(any_value::Value::BytesValue(b)) => out.push_str(&base64(b)),
        Some(any_value::Value::ArrayValue(_) | any_value::Value::KvlistValue(_)) => {
            json_value(&mut out, v, 0);
        }
        Some(any_value::Value::StringValueStrindex(i)) => {
            // a reference into a profiles dictionary, which metrics do not carry
            let _ = write!(out, "{i}");
        }
    }
    out
}

/// Deepest nesting of arrays and maps written as JSON (deeper values become `null`):
/// prost bounds decoding recursion at 100 levels, this keeps writing bounded too.
const JSON_MAX_DEPTH: usize = 64;

/// An attribute value as JSON (arrays and maps in `AsString`; maps sorted by key, as
/// Go's `encoding/json` writes a `map[string]any`).
fn json_value(out: &mut String, v: Option<&AnyValue>, depth: usize) {
    if depth > JSON_MAX_DEPTH {
        out.push_str("null");
        return;
    }
    match v.and_then(|v| v.value.as_ref()) {
        None => out.push_str("null"),
        Some(any_value::Value::StringValue(s)) => crate::outcome::json_string(out, s),
        Some(any_value::Value::BoolValue(b)) => out.push_str(if *b { "true" } else { "false" }),
        Some(any_value::Value::IntValue(i)) => {
            let _ = write!(out, "{i}");
        }
        Some(any_value::Value::DoubleValue(d)) => {
            if d.is_finite() {
                out.push_str(&json_float(*d));
            } else {
                out.push_str("null");
            }
        }
        Some(any_value::Value::BytesValue(b)) => crate::outcome::json_string(out, &base64(b)),
        Some(any_value::Value::ArrayValue(a)) => {
            out.push('[');
            for (i, e) in a.values.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                json_value(out, Some(e), depth + 1);
            }
            out.push(']');
        }
        Some(any_value::Value::KvlistValue(kv)) => {
            let mut entries: Vec<&KeyValue> = kv.values.iter().collect();
            entries.sort_by(|a, b| a.key.cmp(&b.key));
            entries.dedup_by(|a, b| a.key == b.key);
            out.push('{');
            for (i, e) in entries.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                crate::outcome::json_string(out, &e.key);
                out.push(':');
                json_value(out, e.value.as_ref(), depth + 1);
            }
            out.push('}');
        }
        Some(any_value::Value::StringValueStrindex(i)) => {
            let _ = write!(out, "{i}");
        }
    }
}

/// A float as pdata (and ES6) write numbers: shortest round-trip digits, plain notation
/// for magnitudes in [1e-6, 1e21), exponent notation (`1e-7`, `1e+21`) outside.
fn json_float(f: f64) -> String {
    if !f.is_finite() {
        return format_float(f);
    }
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let s = format!("{f:e}");
        // Rust writes `1e21` and `1e-7`; Go `1e+21` and `1e-07`, cleaned up to `1e-7`
        match s.split_once('e') {
            Some((m, e)) if !e.starts_with('-') => format!("{m}e+{e}"),
            _ => s,
        }
    } else {
        format!("{f}")
    }
}

/// Standard base64 with padding (bytes attribute values).
fn base64(b: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(b.len().div_ceil(3) * 4);
    for chunk in b.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, &x)| acc | (u32::from(x) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                let idx = (n >> (18 - 6 * i)) & 63;
                out.push(char::from(ALPHABET[idx as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_strings_as_pdata_writes_them() {
        assert_eq!(json_float(1.5), "1.5");
        assert_eq!(json_float(1e21), "1e+21");
        assert_eq!(json_float(1e-7), "1e-7");
        assert_eq!(json_float(123456.0), "123456");
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
        assert_eq!(format_float(0.5), "0.5");
        assert_eq!(format_float(f64::INFINITY), "+Inf");
        let arr = AnyValue {
            value: Some(any_value::Value::ArrayValue(
                crate::proto::otlp::common::ArrayValue {
                    values: vec![
                        AnyValue {
                            value: Some(any_value::Value::StringValue("a\"".into())),
                        },
                        AnyValue {
                            value: Some(any_value::Value::IntValue(2)),
                        },
                        AnyValue { value: None },
                    ],
                },
            )),
        };
        assert_eq!(as_string(Some(&arr)), r#"["a\"",2,null]"#);
    }
}
