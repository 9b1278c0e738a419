//! Metric metadata (type, help, unit per metric family) behind `/api/v1/metadata`.
//!
//! A [`MetadataStore`] is handed to the server, so an embedder or the ingestion path can
//! supply its own. The default, [`MemoryMetadata`], keeps what it is told in memory,
//! bounded; self-monitoring fills it from its own exposition's `# HELP`/`# TYPE`/`# UNIT`
//! lines, and push ingestion (remote write metadata) records into the same store.

use std::collections::BTreeMap;

use parking_lot::RwLock;

/// The metadata of one metric family.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Metadata {
    /// `counter`, `gauge`, `histogram`, `gaugehistogram`, `summary`, `info`, `stateset`
    /// or `unknown`.
    pub metric_type: String,
    /// The help text.
    pub help: String,
    /// The unit (often empty).
    pub unit: String,
}

/// Where `/api/v1/metadata` reads from.
pub trait MetadataStore: Send + Sync + std::fmt::Debug {
    /// Records that `metric` has `metadata` (several distinct ones may coexist, as
    /// Prometheus lists them when targets disagree).
    fn record(&self, metric: &str, metadata: Metadata);

    /// Metadata by metric name, sorted: every metric, or only `metric`; at most `limit`
    /// metrics and `limit_per_metric` entries each when given.
    fn list(
        &self,
        metric: Option<&str>,
        limit: Option<usize>,
        limit_per_metric: Option<usize>,
    ) -> BTreeMap<String, Vec<Metadata>>;
}

/// The in-memory store: at most [`MemoryMetadata::MAX_METRICS`] metrics and
/// [`MemoryMetadata::MAX_PER_METRIC`] distinct entries per metric (further ones are not
/// kept), so a client sending endless metric names cannot grow it without bound.
#[derive(Debug, Default)]
pub struct MemoryMetadata {
    map: RwLock<BTreeMap<String, Vec<Metadata>>>,
}

impl MemoryMetadata {
    /// Most metrics kept.
    pub const MAX_METRICS: usize = 100_000;
    /// Most distinct entries kept per metric.
    pub const MAX_PER_METRIC: usize = 10;
}

impl MetadataStore for MemoryMetadata {
    fn record(&self, metric: &str, metadata: Metadata) {
        if let Some(list) = self.map.read().get(metric) {
            if list.contains(&metadata) {
                return; // the common case: nothing new, no write lock
            }
        }
        let mut map = self.map.write();
        let len = map.len();
        match map.get_mut(metric) {
            Some(list) if !list.contains(&metadata) && list.len() < Self::MAX_PER_METRIC => {
                list.push(metadata);
                list.sort();
            }
            Some(_) => {}
            None if len < Self::MAX_METRICS => {
                map.insert(metric.to_owned(), vec![metadata]);
            }
            None => {}
        }
    }

    fn list(
        &self,
        metric: Option<&str>,
        limit: Option<usize>,
        limit_per_metric: Option<usize>,
    ) -> BTreeMap<String, Vec<Metadata>> {
        let map = self.map.read();
        let per = |v: &Vec<Metadata>| {
            v.iter()
                .take(limit_per_metric.unwrap_or(usize::MAX))
                .cloned()
                .collect()
        };
        match metric {
            Some(m) => map
                .get(m)
                .map(|v| BTreeMap::from([(m.to_owned(), per(v))]))
                .unwrap_or_default(),
            None => map
                .iter()
                .take(limit.unwrap_or(usize::MAX))
                .map(|(k, v)| (k.clone(), per(v)))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(t: &str, help: &str) -> Metadata {
        Metadata {
            metric_type: t.into(),
            help: help.into(),
            unit: String::new(),
        }
    }

    #[test]
    fn records_distinct_entries_and_lists_with_limits() {
        let s = MemoryMetadata::default();
        s.record("up", meta("gauge", "1 if up"));
        s.record("up", meta("gauge", "1 if up"));
        s.record("up", meta("gauge", "other help"));
        s.record("a_total", meta("counter", "a"));
        let all = s.list(None, None, None);
        assert_eq!(all.len(), 2);
        assert_eq!(all["up"].len(), 2);
        assert_eq!(s.list(None, Some(1), None).len(), 1);
        assert_eq!(s.list(Some("up"), None, Some(1))["up"].len(), 1);
        assert!(s.list(Some("nope"), None, None).is_empty());
    }
}
