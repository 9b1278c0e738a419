//! A query's annotations: what the evaluator wants the caller to know about an answer
//! that is right but not read from raw samples. Prometheus 3 returns such notes as
//! `infos` beside `warnings` in its API responses (`util/annotations`: each one reads
//! `PromQL info: ...`); the server writes these the same way.
//!
//! They are kept structured (the resolutions and time spans read, the functions
//! approximated) rather than as text, so that the results cache can keep them with each
//! split it stores, clip them to the split, and merge the splits' of one answer.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, SecondsFormat};

/// The annotations of one query's answer. Empty for a query that read raw samples only.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Annotations {
    /// Per rollup resolution read (ms): the span `(from, to]` of the buckets read.
    rollups: BTreeMap<i64, (i64, i64)>,
    /// What was answered from rollups only approximately: function names, or
    /// "range vector selector" for a range vector returned as the query's result.
    approximated: BTreeSet<&'static str>,
}

impl Annotations {
    /// True when there is nothing to say.
    pub fn is_empty(&self) -> bool {
        self.rollups.is_empty() && self.approximated.is_empty()
    }

    /// The `infos` of the Prometheus API, in a stable order: one per rollup resolution
    /// read, then one per approximated function.
    pub fn infos(&self) -> Vec<String> {
        let mut out = Vec::with_capacity(self.rollups.len() + self.approximated.len());
        for (&res, &(from, to)) in &self.rollups {
            out.push(format!(
                "PromQL info: data from {} to {} read from {} rollups",
                rfc3339(from),
                rfc3339(to),
                duration(res)
            ));
        }
        for name in &self.approximated {
            let how = if *name == RANGE_VECTOR {
                "one sample per rollup bucket, its last"
            } else if matches!(*name, "irate" | "idelta") {
                "one sample per rollup bucket, its last, then the raw samples"
            } else {
                "one sample per rollup bucket, its average at its last sample's time, \
                 then the raw samples"
            };
            out.push(format!(
                "PromQL info: {name} approximated over rollups ({how})"
            ));
        }
        out
    }

    /// Notes that buckets of `resolution_ms` covering `(from, to]` were read.
    pub(crate) fn read_rollup(&mut self, resolution_ms: i64, from: i64, to: i64) {
        self.rollups
            .entry(resolution_ms)
            .and_modify(|span| *span = (span.0.min(from), span.1.max(to)))
            .or_insert((from, to));
    }

    /// Notes that `what` (a function name) was approximated from rollups.
    pub(crate) fn approximated(&mut self, what: &'static str) {
        self.approximated.insert(what);
    }

    /// Adds `other`'s notes to these.
    pub fn merge(&mut self, other: &Annotations) {
        for (&res, &(from, to)) in &other.rollups {
            self.read_rollup(res, from, to);
        }
        self.approximated.extend(other.approximated.iter().copied());
    }

    /// These notes restricted to what a part of the query reading `[mint, maxt]` can have
    /// read: the spans clipped to it; the approximations kept only if some rollup span
    /// remains (they happen only where buckets were read).
    pub(crate) fn clipped(&self, (mint, maxt): (i64, i64)) -> Annotations {
        let mut out = Annotations::default();
        for (&res, &(from, to)) in &self.rollups {
            // a bucket `(from, to]` is read for a window reaching into it; one more
            // bucket before `mint` is read for widening
            let lo = from.max(mint.saturating_sub(res));
            let hi = to.min(maxt.saturating_add(res));
            if lo < hi {
                out.read_rollup(res, lo, hi);
            }
        }
        if !out.rollups.is_empty() {
            out.approximated = self.approximated.clone();
        }
        out
    }
}

/// The name noted when a range vector is the query's result.
pub(crate) const RANGE_VECTOR: &str = "range vector selector";

/// `2026-11-28T00:00:00Z` (milliseconds only when there are some).
fn rfc3339(ms: i64) -> String {
    match DateTime::from_timestamp_millis(ms) {
        Some(t) => t.to_rfc3339_opts(SecondsFormat::AutoSi, true),
        None => format!("{ms}ms"),
    }
}

/// A duration as Prometheus prints one (`model.Duration`): `1h`, `1m30s`, `1d`, `10s`.
pub(crate) fn duration(ms: i64) -> String {
    if ms <= 0 {
        return "0s".into();
    }
    const UNITS: [(&str, i64); 7] = [
        ("y", 365 * 86_400_000),
        ("w", 7 * 86_400_000),
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
        ("ms", 1),
    ];
    let mut out = String::new();
    let mut rest = ms;
    for (unit, size) in UNITS {
        if rest >= size {
            out.push_str(&format!("{}{unit}", rest / size));
            rest %= size;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_print_as_prometheus_does() {
        assert_eq!(duration(10_000), "10s");
        assert_eq!(duration(60_000), "1m");
        assert_eq!(duration(3_600_000), "1h");
        assert_eq!(duration(5_400_000), "1h30m");
        assert_eq!(duration(86_400_000), "1d");
        assert_eq!(duration(1_500), "1s500ms");
    }

    #[test]
    fn infos_name_resolutions_spans_and_functions() {
        let mut a = Annotations::default();
        assert!(a.is_empty() && a.infos().is_empty());
        a.read_rollup(60_000, 1_795_910_400_000, 1_795_914_000_000);
        a.read_rollup(60_000, 1_795_906_800_000, 1_795_910_400_000);
        a.approximated("quantile_over_time");
        let infos = a.infos();
        assert_eq!(
            infos[0],
            "PromQL info: data from 2026-11-28T23:00:00Z to 2026-11-29T01:00:00Z read from \
             1m rollups"
        );
        assert!(infos[1].starts_with("PromQL info: quantile_over_time approximated"));
        assert_eq!(infos.len(), 2);
    }

    #[test]
    fn clipping_keeps_what_a_split_read() {
        let mut a = Annotations::default();
        a.read_rollup(3_600_000, 0, 100 * 3_600_000);
        a.approximated("stddev_over_time");
        let c = a.clipped((10 * 3_600_000, 20 * 3_600_000));
        assert_eq!(c.rollups[&3_600_000], (9 * 3_600_000, 21 * 3_600_000));
        assert_eq!(c.approximated.len(), 1);
        let none = a.clipped((200 * 3_600_000, 300 * 3_600_000));
        assert!(none.is_empty());
        let mut m = Annotations::default();
        m.merge(&c);
        m.merge(&a.clipped((50 * 3_600_000, 60 * 3_600_000)));
        assert_eq!(m.rollups[&3_600_000], (9 * 3_600_000, 61 * 3_600_000));
    }
}
