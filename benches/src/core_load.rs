//! The workload of the tsdb-core bench and `core-report`: the TSBS-like fleet of
//! [`crate::index_fleet`] (9 labels per series: `__name__` and 8 host labels) with
//! realistic values, written as a scraper would, one round of all series every 10 s.
//!
//! Series `i` is host `i / 10`, metric `i % 10` (the fleet's order). Values:
//! - even metrics are **gauges**: a random walk in 0-100 with 2 decimals (even hosts) or 1
//!   decimal (odd hosts), as a percentage parsed from text;
//! - odd metrics are **counters** (node_exporter's `node_cpu_seconds_total` form): they
//!   grow by 0.00-10.00 per round, 2 decimals.
//!
//! Values are kept as integers and divided by a power of ten, so each is the double a text
//! parser would produce for its decimal. Everything comes from a splitmix64 of (series,
//! round): every run and every program sees the same data.

use tsdb_core::{Batch, BatchOutcome, Db, SeriesRef};
use tsdb_index::Labels;

use crate::index_fleet::{host_labels, METRICS};

/// Scrape interval.
pub const STEP_MS: i64 = 10_000;

/// First timestamp: 2023-11-15T00:00:00Z, aligned to a day (and so to 2 h blocks).
pub const T0: i64 = 1_700_006_400_000;

/// Samples per appended batch (the figure).
pub const BATCH: usize = 10_000;

fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// Labels of series `i`. Panics only if the fleet generator made invalid labels, which
/// it does not.
pub fn series_labels(i: u32) -> Labels {
    let host = host_labels(i / 10);
    let metric = METRICS[(i % 10) as usize];
    let pairs =
        std::iter::once(("__name__", metric)).chain(host.iter().map(|(n, v)| (*n, v.as_str())));
    match Labels::new(pairs) {
        Ok(l) => l,
        Err(e) => panic!("fleet labels of series {i}: {e}"),
    }
}

/// The value state of a range of series: one integer each (hundredths or tenths).
#[derive(Clone, Debug)]
pub struct Values {
    first: u32,
    state: Vec<i64>,
}

impl Values {
    /// State for series `first .. first + n`.
    pub fn new(first: u32, n: usize) -> Values {
        let state = (0..n as u32)
            .map(|k| {
                let i = first + k;
                let r = splitmix64(u64::from(i));
                if i.is_multiple_of(2) {
                    (r % 10_001) as i64 // gauge: hundredths, 0.00-100.00
                } else {
                    (r % 100_000_000) as i64 // counter: up to 1,000,000.00 s
                }
            })
            .collect();
        Values { first, state }
    }

    /// Advances series `first + k` to `round` and returns its value.
    pub fn next(&mut self, k: usize, round: u32) -> f64 {
        let i = self.first + k as u32;
        let r = splitmix64(u64::from(i) << 32 | u64::from(round));
        let Some(s) = self.state.get_mut(k) else {
            return 0.0;
        };
        if i.is_multiple_of(2) {
            // gauge: a step of -2.00..+2.00 (hundredths), kept in 0..=100
            let step = (r % 401) as i64 - 200;
            *s = (*s + step).clamp(0, 10_000);
            if (i / 10).is_multiple_of(2) {
                *s as f64 / 100.0
            } else {
                (*s / 10) as f64 / 10.0
            }
        } else {
            *s += (r % 1_001) as i64;
            *s as f64 / 100.0
        }
    }
}

/// A writer owning series `first .. first + refs.len()`: it appends one batch of at most
/// [`BATCH`] samples at a time, one sample per series, a round of all its series every
/// [`STEP_MS`].
#[derive(Debug)]
pub struct Writer {
    /// Refs of its series, in order.
    pub refs: Vec<SeriesRef>,
    values: Values,
    /// The round the next batch belongs to (round 0 created the series).
    pub round: u32,
    pos: usize,
    batch: Batch,
}

impl Writer {
    /// Creates series `first .. first + n` in `db` (round 0, by labels, in batches of
    /// [`BATCH`]) and returns their writer, positioned at round 1.
    pub fn create(db: &Db, first: u32, n: usize) -> Writer {
        let mut values = Values::new(first, n);
        let mut refs = Vec::with_capacity(n);
        let mut batch = Batch::new();
        let mut k = 0;
        while k < n {
            batch.clear();
            let end = (k + BATCH).min(n);
            for j in k..end {
                let s = batch.series(series_labels(first + j as u32));
                batch.sample(s, T0, values.next(j, 0));
            }
            let out = append_checked(db, &batch);
            refs.extend(out.refs.into_iter().flatten());
            k = end;
        }
        assert_eq!(refs.len(), n, "series refused while creating them");
        Writer {
            refs,
            values,
            round: 1,
            pos: 0,
            batch,
        }
    }

    /// Fills the next batch (untimed work: the caller's side of an append).
    pub fn fill(&mut self) -> &Batch {
        self.batch.clear();
        let end = (self.pos + BATCH).min(self.refs.len());
        let t = T0 + i64::from(self.round) * STEP_MS;
        for k in self.pos..end {
            if let Some(&r) = self.refs.get(k) {
                let s = self.batch.series_ref(r);
                self.batch.sample(s, t, self.values.next(k, self.round));
            }
        }
        if end >= self.refs.len() {
            self.pos = 0;
            self.round += 1;
        } else {
            self.pos = end;
        }
        &self.batch
    }

    /// Fills and appends the next batch; returns its sample count.
    pub fn append_next(&mut self, db: &Db) -> usize {
        let batch = self.fill();
        append_checked(db, batch);
        batch.len()
    }
}

/// Appends and panics on a database error or any refused sample (the workload is
/// valid, so a refusal is a bug worth stopping the measurement for).
pub fn append_checked(db: &Db, batch: &Batch) -> BatchOutcome {
    let out = match db.append_batch(batch) {
        Ok(o) => o,
        Err(e) => panic!("append_batch: {e}"),
    };
    if let Some(r) = out.rejected.first() {
        panic!(
            "{} of {} samples refused, first: {}",
            out.rejected.len(),
            batch.len(),
            r.error
        );
    }
    out
}

/// The 1-, 5- and 15-minute load averages, as `/proc/loadavg` writes them.
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

/// Resident set size in bytes (second field of `/proc/self/statm`, 4 KiB pages).
pub fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4096)
}

/// This thread's time on a CPU and time waiting for one (runnable but not running, as
/// on a loaded machine), in seconds, from `/proc/thread-self/schedstat`. Wall time
/// minus both is time blocked (fsync, locks, I/O).
pub fn sched_times() -> (f64, f64) {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap_or_default();
    let mut f = s
        .split_whitespace()
        .map(|x| x.parse::<u64>().unwrap_or(0) as f64 / 1e9);
    (f.next().unwrap_or(0.0), f.next().unwrap_or(0.0))
}
