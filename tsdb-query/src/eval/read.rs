//! Reading the series of one selector: each matching series is decoded into columns and
//! mapped to its result right away (so a query holds one series' raw samples per
//! thread), on several threads when there are enough series to share.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tsdb_core::{Querier, SeriesEntry};
use tsdb_index::{Labels, Matcher};

use crate::error::{Error, Result};

/// Below this many chunks to decode per thread (a chunk holds up to 1,024 samples; a
/// segment's 2 h of 10 s samples is one 720-sample chunk), a thread costs more than it saves.
const MIN_CHUNKS_PER_THREAD: usize = 64;

/// A query's limits, shared by its reading threads.
#[derive(Debug)]
pub(crate) struct Budget {
    started: Instant,
    timeout: Duration,
    max_samples: usize,
    loaded: AtomicUsize,
}

impl Budget {
    pub fn new(timeout: Duration, max_samples: usize) -> Budget {
        Budget {
            started: Instant::now(),
            timeout,
            max_samples,
            loaded: AtomicUsize::new(0),
        }
    }

    /// Fails once the query has run past its timeout.
    pub fn check_deadline(&self) -> Result<()> {
        let elapsed = self.started.elapsed();
        if elapsed > self.timeout {
            return Err(Error::Timeout {
                limit_ms: self.timeout.as_millis() as u64,
                elapsed_ms: elapsed.as_millis() as u64,
            });
        }
        Ok(())
    }

    /// Counts `n` more samples against the limit.
    pub fn charge(&self, n: usize) -> Result<()> {
        let total = self
            .loaded
            .fetch_add(n, Ordering::Relaxed)
            .saturating_add(n);
        if total > self.max_samples {
            return Err(Error::TooManySamples {
                limit: self.max_samples,
            });
        }
        Ok(())
    }
}

/// Maps every series matching `matchers` that has samples in the querier's range, in
/// label order, with `map(labels, timestamps, values)`; `None` results are dropped.
/// Staleness markers are passed through.
pub(crate) fn map_series<T, F>(
    querier: &Querier,
    matchers: &[Matcher],
    threads: usize,
    budget: &Budget,
    map: F,
) -> Result<Vec<T>>
where
    T: Send,
    F: Fn(&Labels, &[i64], &[f64]) -> Option<T> + Sync,
{
    let entries = querier.select(matchers)?;
    let chunks: usize = entries.iter().map(SeriesEntry::chunk_count).sum();
    let threads = threads.min(chunks / MIN_CHUNKS_PER_THREAD).max(1);
    if threads == 1 {
        return read_part(&entries, budget, &map);
    }
    let per_thread = entries.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let workers: Vec<_> = entries
            .chunks(per_thread)
            .map(|part| scope.spawn(|| read_part(part, budget, &map)))
            .collect();
        let mut out = Vec::with_capacity(entries.len());
        let mut failure = None;
        for worker in workers {
            match worker.join() {
                Ok(Ok(part)) => out.extend(part),
                Ok(Err(e)) => {
                    failure.get_or_insert(e);
                }
                Err(_) => {
                    failure.get_or_insert(Error::Execution(
                        "a query thread failed unexpectedly".into(),
                    ));
                }
            }
        }
        match failure {
            Some(e) => Err(e),
            None => Ok(out),
        }
    })
}

fn read_part<T, F>(entries: &[SeriesEntry], budget: &Budget, map: &F) -> Result<Vec<T>>
where
    F: Fn(&Labels, &[i64], &[f64]) -> Option<T>,
{
    let (mut ts, mut vs) = (Vec::new(), Vec::new());
    let mut out = Vec::new();
    for entry in entries {
        budget.check_deadline()?;
        ts.clear();
        vs.clear();
        entry.iter().read_into(&mut ts, &mut vs)?;
        if ts.is_empty() {
            continue;
        }
        budget.charge(ts.len())?;
        if let Some(r) = map(entry.labels(), &ts, &vs) {
            out.push(r);
        }
    }
    Ok(out)
}
