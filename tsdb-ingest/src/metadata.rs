//! Metric metadata (type, help, unit) carried by remote write and OTLP, and
//! [`MetadataStore`], a bounded in-memory store a server answers `/api/v1/metadata` from.

use std::collections::HashMap;

use parking_lot::RwLock;

/// A metric family's type, as Prometheus names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MetricType {
    /// Type not given.
    Unknown,
    /// `counter`.
    Counter,
    /// `gauge`.
    Gauge,
    /// `histogram`.
    Histogram,
    /// `gaugehistogram`.
    GaugeHistogram,
    /// `summary`.
    Summary,
    /// `info`.
    Info,
    /// `stateset`.
    StateSet,
}

impl MetricType {
    /// The name `/api/v1/metadata` uses.
    pub fn as_str(self) -> &'static str {
        match self {
            MetricType::Unknown => "unknown",
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Histogram => "histogram",
            MetricType::GaugeHistogram => "gaugehistogram",
            MetricType::Summary => "summary",
            MetricType::Info => "info",
            MetricType::StateSet => "stateset",
        }
    }

    /// From the enum value shared by remote write 1.0's `MetricMetadata.MetricType`
    /// (UNKNOWN = 0, COUNTER, GAUGE, HISTOGRAM, GAUGEHISTOGRAM, SUMMARY, INFO, STATESET)
    /// and 2.0's `Metadata.MetricType` (UNSPECIFIED = 0, then the same order). Unknown
    /// values are [`MetricType::Unknown`].
    pub fn from_wire(v: i32) -> MetricType {
        match v {
            1 => MetricType::Counter,
            2 => MetricType::Gauge,
            3 => MetricType::Histogram,
            4 => MetricType::GaugeHistogram,
            5 => MetricType::Summary,
            6 => MetricType::Info,
            7 => MetricType::StateSet,
            _ => MetricType::Unknown,
        }
    }
}

impl From<tsdb_text::prometheus::MetricType> for MetricType {
    /// A `# TYPE` line's type; `untyped` is `unknown`, as Prometheus' text parser
    /// reports it.
    fn from(t: tsdb_text::prometheus::MetricType) -> MetricType {
        use tsdb_text::prometheus::MetricType as T;
        match t {
            T::Counter => MetricType::Counter,
            T::Gauge => MetricType::Gauge,
            T::Histogram => MetricType::Histogram,
            T::GaugeHistogram => MetricType::GaugeHistogram,
            T::Summary => MetricType::Summary,
            T::Info => MetricType::Info,
            T::StateSet => MetricType::StateSet,
            _ => MetricType::Unknown,
        }
    }
}

/// The metadata of one metric family.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct MetricMetadata {
    /// The metric family name (for remote write 2.0 and OTLP, the series' metric name).
    pub metric: String,
    /// Its type.
    pub metric_type: MetricType,
    /// Help text (may be empty).
    pub help: String,
    /// Unit (may be empty).
    pub unit: String,
}

/// Metadata by metric name, bounded, as Prometheus keeps it for `/api/v1/metadata`:
/// each metric keeps its distinct (type, help, unit) entries, newest last, at most
/// `max_per_metric`; at most `max_metrics` metrics are kept (a new metric beyond that
/// is not stored). Shared by clones of an [`crate::Ingester`]; reads never block
/// writers for long (one `RwLock`, no I/O under it).
#[derive(Debug)]
pub struct MetadataStore {
    map: RwLock<HashMap<String, Vec<Entry>>>,
    max_metrics: usize,
    max_per_metric: usize,
}

/// One stored (type, help, unit).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The type.
    pub metric_type: MetricType,
    /// Help text.
    pub help: String,
    /// Unit.
    pub unit: String,
}

impl Default for MetadataStore {
    /// 100,000 metrics, 10 entries each.
    fn default() -> Self {
        MetadataStore::new(100_000, 10)
    }
}

impl MetadataStore {
    /// A store holding at most `max_metrics` metrics of at most `max_per_metric` entries.
    pub fn new(max_metrics: usize, max_per_metric: usize) -> Self {
        MetadataStore {
            map: RwLock::new(HashMap::new()),
            max_metrics,
            max_per_metric: max_per_metric.max(1),
        }
    }

    /// Records metadata; an entry already stored for its metric is not duplicated.
    pub fn apply(&self, items: &[MetricMetadata]) {
        if items.is_empty() {
            return;
        }
        // most requests repeat what is stored: check under the read lock first
        let fresh: Vec<&MetricMetadata> = {
            let map = self.map.read();
            items
                .iter()
                .filter(|m| !m.metric.is_empty())
                .filter(|m| match map.get(&m.metric) {
                    Some(entries) => !entries.iter().any(|e| e.matches(m)),
                    None => true,
                })
                .collect()
        };
        if fresh.is_empty() {
            return;
        }
        let mut map = self.map.write();
        for m in fresh {
            let full = map.len() >= self.max_metrics;
            let entries = match map.get_mut(&m.metric) {
                Some(e) => e,
                None if full => continue,
                None => map.entry(m.metric.clone()).or_default(),
            };
            if entries.iter().any(|e| e.matches(m)) {
                continue;
            }
            if entries.len() >= self.max_per_metric {
                entries.remove(0);
            }
            entries.push(Entry {
                metric_type: m.metric_type,
                help: m.help.clone(),
                unit: m.unit.clone(),
            });
        }
    }

    /// Metadata by metric name, sorted by name: every metric, or only `metric`; at most
    /// `limit` metrics and `limit_per_metric` entries each (0: no limit), as
    /// `/api/v1/metadata`'s `metric`, `limit` and `limit_per_metric` parameters ask.
    pub fn query(
        &self,
        metric: Option<&str>,
        limit: usize,
        limit_per_metric: usize,
    ) -> Vec<(String, Vec<Entry>)> {
        let map = self.map.read();
        let mut out: Vec<(String, Vec<Entry>)> = match metric {
            Some(name) => map
                .get(name)
                .map(|e| vec![(name.to_owned(), e.clone())])
                .unwrap_or_default(),
            None => map.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        };
        drop(map);
        out.sort_by(|a, b| a.0.cmp(&b.0));
        if limit > 0 {
            out.truncate(limit);
        }
        if limit_per_metric > 0 {
            for (_, entries) in &mut out {
                entries.truncate(limit_per_metric);
            }
        }
        out
    }

    /// Metrics stored.
    pub fn len(&self) -> usize {
        self.map.read().len()
    }

    /// True when nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Entry {
    fn matches(&self, m: &MetricMetadata) -> bool {
        self.metric_type == m.metric_type && self.help == m.help && self.unit == m.unit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn md(metric: &str, t: MetricType, help: &str) -> MetricMetadata {
        MetricMetadata {
            metric: metric.into(),
            metric_type: t,
            help: help.into(),
            unit: String::new(),
        }
    }

    #[test]
    fn deduplicates_bounds_and_queries() {
        let store = MetadataStore::new(2, 2);
        store.apply(&[
            md("a", MetricType::Counter, "x"),
            md("a", MetricType::Counter, "x"),
        ]);
        store.apply(&[
            md("b", MetricType::Gauge, "y"),
            md("c", MetricType::Gauge, "z"),
        ]);
        assert_eq!(store.len(), 2, "the third metric is over max_metrics");
        store.apply(&[
            md("a", MetricType::Counter, "x2"),
            md("a", MetricType::Counter, "x3"),
        ]);
        let a = store.query(Some("a"), 0, 0);
        let helps: Vec<_> = a[0].1.iter().map(|e| e.help.as_str()).collect();
        assert_eq!(
            helps,
            ["x2", "x3"],
            "oldest entry dropped at max_per_metric"
        );
        let all = store.query(None, 1, 1);
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].0, "a");
        assert_eq!(all[0].1.len(), 1);
        assert!(store.query(Some("nope"), 0, 0).is_empty());
    }
}
