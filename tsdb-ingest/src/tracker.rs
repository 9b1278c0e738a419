//! [`SeriesTracker`]: the active series of each metric name, for the per-metric
//! cardinality limit.
//!
//! The database knows how many series its head holds (`Db::head_series`, the total
//! limit), but not per metric, and answering "is this series new?" from it would cost a
//! lookup in the head's index per series. The tracker keeps, per metric name, the
//! 64-bit hashes of the label sets seen recently (under a per-process random key, so a
//! client cannot aim collisions at it), in two generations of `idle/2` each: a series not
//! seen for between `idle/2` and `idle` is forgotten. A hash collision (about 1 in
//! 2^64 per pair) makes a new series look known; it is then admitted without counting,
//! never refused by mistake. Counts are approximate across concurrent requests (two
//! requests may each admit the last free slot): a limit is a guard rail, not a quota.
//!
//! Metric names are spread over shards, each behind its own mutex, so concurrent writers
//! of different metrics rarely meet.

use std::collections::hash_map::RandomState;
use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};

use parking_lot::Mutex;
use tsdb_index::Labels;

const SHARDS: usize = 16;

/// Per-metric active series.
#[derive(Debug)]
pub(crate) struct SeriesTracker {
    shards: Vec<Mutex<Shard>>,
    /// Length of one generation, in milliseconds (at least 1).
    generation_ms: i64,
    hasher: RandomState,
}

#[derive(Debug, Default)]
struct Shard {
    metrics: HashMap<Box<str>, MetricSeries>,
    /// The generation of the last sweep of idle metrics.
    swept: i64,
}

#[derive(Debug, Default)]
struct MetricSeries {
    generation: i64,
    current: HashSet<u64, BuildHasherDefault<IdentityHasher>>,
    previous: HashSet<u64, BuildHasherDefault<IdentityHasher>>,
}

/// The verdict on one series.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Admit {
    /// Seen recently: always admitted.
    Known,
    /// New, and admitted: counted from now on.
    New,
    /// New, and its metric is at the per-metric limit.
    OverMetricLimit,
    /// New, and the database is at the total limit.
    OverTotalLimit,
}

/// A series' identity in the tracker: the keyed hash of its label set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SeriesId {
    pub(crate) hash: u64,
}

impl SeriesTracker {
    pub(crate) fn new(idle_ms: i64) -> SeriesTracker {
        SeriesTracker {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            generation_ms: (idle_ms / 2).max(1),
            hasher: RandomState::new(),
        }
    }

    pub(crate) fn id(&self, labels: &Labels) -> SeriesId {
        SeriesId {
            hash: self.hasher.hash_one(labels),
        }
    }

    fn shard(&self, metric: &str) -> &Mutex<Shard> {
        let i = usize::try_from(self.hasher.hash_one(metric) % SHARDS as u64).unwrap_or(0);
        &self.shards[i % SHARDS]
    }

    /// Decides whether a series may be written. `per_metric` 0 means no limit;
    /// `total_ok` is asked only for a new series under the per-metric limit.
    pub(crate) fn admit(
        &self,
        metric: &str,
        id: SeriesId,
        now_ms: i64,
        per_metric: usize,
        total_ok: impl FnOnce() -> bool,
    ) -> Admit {
        let generation = now_ms.div_euclid(self.generation_ms);
        let mut shard = self.shard(metric).lock();
        shard.sweep(generation);
        let m = match shard.metrics.get_mut(metric) {
            Some(m) => m,
            None => {
                // a new metric's first series: nothing is stored for a refused one, so
                // a flood of new metric names over the limit costs no memory here
                if !total_ok() {
                    return Admit::OverTotalLimit;
                }
                let m = shard.metrics.entry(metric.into()).or_default();
                m.generation = generation;
                m.current.insert(id.hash);
                return Admit::New;
            }
        };
        m.rotate(generation);
        if m.current.contains(&id.hash) {
            return Admit::Known;
        }
        if m.previous.remove(&id.hash) {
            m.current.insert(id.hash);
            return Admit::Known;
        }
        if per_metric > 0 && m.len() >= per_metric {
            return Admit::OverMetricLimit;
        }
        if !total_ok() {
            return Admit::OverTotalLimit;
        }
        m.current.insert(id.hash);
        Admit::New
    }

    /// Forgets a series admitted as new that was not written after all.
    pub(crate) fn forget(&self, metric: &str, id: SeriesId) {
        let mut shard = self.shard(metric).lock();
        if let Some(m) = shard.metrics.get_mut(metric) {
            m.current.remove(&id.hash);
            m.previous.remove(&id.hash);
        }
    }

    /// Records a series as active without any limit (seeding from the head).
    pub(crate) fn insert(&self, metric: &str, id: SeriesId, now_ms: i64) {
        let generation = now_ms.div_euclid(self.generation_ms);
        let mut shard = self.shard(metric).lock();
        let m = shard.metrics.entry(metric.into()).or_default();
        m.rotate(generation);
        m.current.insert(id.hash);
    }

    /// Active series of `metric` at `now_ms`.
    pub(crate) fn metric_series(&self, metric: &str, now_ms: i64) -> usize {
        let generation = now_ms.div_euclid(self.generation_ms);
        let mut shard = self.shard(metric).lock();
        shard.metrics.get_mut(metric).map_or(0, |m| {
            m.rotate(generation);
            m.len()
        })
    }
}

impl Shard {
    /// Once per generation, drops metrics with no series seen in the last two.
    fn sweep(&mut self, generation: i64) {
        if generation <= self.swept {
            return;
        }
        self.swept = generation;
        self.metrics.retain(|_, m| {
            m.rotate(generation);
            m.len() > 0
        });
    }
}

impl MetricSeries {
    fn len(&self) -> usize {
        self.current.len() + self.previous.len()
    }

    fn rotate(&mut self, generation: i64) {
        if generation == self.generation {
            return;
        }
        if generation == self.generation + 1 {
            self.previous = std::mem::take(&mut self.current);
        } else {
            // more than one generation idle (or the clock went back): all forgotten
            self.previous.clear();
            self.current.clear();
        }
        self.generation = generation;
    }
}

/// The set's keys are already hashes.
#[derive(Debug, Default)]
struct IdentityHasher(u64);

impl Hasher for IdentityHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(v: &str) -> Labels {
        Labels::new([("__name__", "m"), ("k", v)]).unwrap()
    }

    #[test]
    fn per_metric_limit_admits_known_series_and_forgets_idle_ones() {
        let t = SeriesTracker::new(1000);
        let (a, b, c) = (t.id(&labels("a")), t.id(&labels("b")), t.id(&labels("c")));
        assert_eq!(t.admit("m", a, 0, 2, || true), Admit::New);
        assert_eq!(t.admit("m", b, 0, 2, || true), Admit::New);
        assert_eq!(t.admit("m", c, 0, 2, || true), Admit::OverMetricLimit);
        assert_eq!(t.admit("m", a, 0, 2, || false), Admit::Known);
        assert_eq!(t.admit("other", c, 0, 2, || false), Admit::OverTotalLimit);
        assert_eq!(
            t.metric_series("other", 0),
            0,
            "nothing kept for a refused metric"
        );
        // one generation later: a (touched) and b are still there
        assert_eq!(t.admit("m", a, 600, 2, || true), Admit::Known);
        assert_eq!(t.metric_series("m", 600), 2);
        // two generations later: b was not seen for a whole generation and is gone
        assert_eq!(t.admit("m", a, 1100, 2, || true), Admit::Known);
        assert_eq!(t.metric_series("m", 1100), 1);
        assert_eq!(t.admit("m", c, 1100, 2, || true), Admit::New);
        t.forget("m", c);
        assert_eq!(t.metric_series("m", 1100), 1);
        // long idle: everything forgotten, the metric swept away
        assert_eq!(t.admit("x", a, 10_000, 2, || true), Admit::New);
        assert_eq!(t.metric_series("m", 10_000), 0);
    }
}
