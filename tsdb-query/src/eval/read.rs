//! Reading the series of one selector: each matching series is decoded into columns and
//! mapped to its result right away (so a query holds one series' raw samples per
//! thread), shared with the engine's reading pool when there are enough series to share.
//!
//! A series may also hand out rollup buckets ([`Series::read_buckets_into`]) for the part
//! of its time range where the storage keeps only rollups: they are read beside the raw
//! samples into a reused buffer and checked against the trait's contract. A series
//! without buckets costs one virtual call and an empty buffer more than before.
//!
//! The storage's types are erased here, once per selector ([`DynQuerier`],
//! [`SeriesList`]), so the evaluator is not generic over the storage: one virtual call
//! per series, nothing per sample.

use std::ops::Range;
use std::panic::{catch_unwind, AssertUnwindSafe};

use tsdb_core::rollup::Bucket;
use tsdb_index::{Labels, Matcher};

use crate::error::{panic_message, Error, Result};
use crate::eval::budget::Budget;
use crate::eval::pool::ReadPool;
use crate::storage::{Querier, Series};

/// Below this many chunks to decode per thread (a chunk holds up to 1,024 samples; a
/// segment's 2 h of 10 s samples is one 720-sample chunk), a thread costs more than it saves.
const MIN_CHUNKS_PER_THREAD: usize = 64;

/// A selector's answer with the storage's series type erased.
pub(crate) trait SeriesList: Sync {
    fn len(&self) -> usize;
    fn get(&self, i: usize) -> Option<&dyn Series>;
}

impl<S: Series> SeriesList for Vec<S> {
    fn len(&self) -> usize {
        self.as_slice().len()
    }

    fn get(&self, i: usize) -> Option<&dyn Series> {
        self.as_slice().get(i).map(|s| s as &dyn Series)
    }
}

/// A [`Querier`] with its types erased: the selector's series are lent to `read`.
pub(crate) trait DynQuerier {
    /// `max_resolution_ms`: see [`Querier::select_at_resolution`] (0: raw data where
    /// it exists).
    fn with_select(
        &self,
        window: (i64, i64),
        matchers: &[Matcher],
        max_resolution_ms: i64,
        read: &mut dyn FnMut(&dyn SeriesList) -> Result<()>,
    ) -> Result<()>;
}

impl<Q: Querier> DynQuerier for Q {
    fn with_select(
        &self,
        (mint, maxt): (i64, i64),
        matchers: &[Matcher],
        max_resolution_ms: i64,
        read: &mut dyn FnMut(&dyn SeriesList) -> Result<()>,
    ) -> Result<()> {
        let series = if max_resolution_ms > 0 {
            self.select_at_resolution(mint, maxt, matchers, max_resolution_ms)
        } else {
            self.select(mint, maxt, matchers)
        }
        .map_err(Error::Storage)?;
        read(&series)
    }
}

/// Maps every series of `series` in order with `map(labels, timestamps, values, buckets)`;
/// `None` results are dropped. Staleness markers are passed through. With enough chunks to
/// decode, the series are split into up to `threads` runs: the first is read on this
/// thread, the others on the pool's threads.
pub(crate) fn map_series<T, F>(
    series: &dyn SeriesList,
    threads: usize,
    pool: &ReadPool,
    budget: &Budget,
    map: F,
) -> Result<Vec<T>>
where
    T: Send,
    F: Fn(&Labels, &[i64], &[f64], &[Bucket]) -> Option<T> + Sync,
{
    let n = series.len();
    let chunks: usize = (0..n)
        .filter_map(|i| series.get(i))
        .map(Series::chunk_count)
        .sum();
    let threads = threads.min(chunks / MIN_CHUNKS_PER_THREAD).max(1);
    let pool = if threads > 1 { pool.get() } else { None };
    let Some(pool) = pool else {
        return guarded(|| read_part(series, 0..n, budget, &map));
    };
    let per_thread = n.div_ceil(threads).max(1);
    let parts: Vec<Range<usize>> = (0..n)
        .step_by(per_thread)
        .map(|start| start..(start + per_thread).min(n))
        .collect();
    let mut results: Vec<Option<Result<Vec<T>>>> = parts.iter().map(|_| None).collect();
    pool.in_place_scope(|scope| {
        let mut slots = results.iter_mut().zip(&parts);
        let first = slots.next();
        for (slot, part) in slots {
            let (part, map) = (part.clone(), &map);
            scope.spawn(move |_| *slot = Some(guarded(|| read_part(series, part, budget, map))));
        }
        if let Some((slot, part)) = first {
            *slot = Some(guarded(|| read_part(series, part.clone(), budget, &map)));
        }
    });
    let mut out = Vec::with_capacity(n);
    for result in results {
        match result {
            Some(Ok(part)) => out.extend(part),
            Some(Err(e)) => return Err(e),
            None => return Err(Error::Internal("a query read task did not run".into())),
        }
    }
    Ok(out)
}

/// Runs a read task, turning a panic into an error: a bug in a decoder or in the
/// storage must fail the query, not take the process (or a pool thread) down.
fn guarded<T>(task: impl FnOnce() -> Result<T>) -> Result<T> {
    catch_unwind(AssertUnwindSafe(task)).unwrap_or_else(|panic| {
        Err(Error::Internal(format!(
            "a query read task panicked: {}",
            panic_message(panic.as_ref())
        )))
    })
}

fn read_part<T, F>(
    series: &dyn SeriesList,
    part: Range<usize>,
    budget: &Budget,
    map: &F,
) -> Result<Vec<T>>
where
    F: Fn(&Labels, &[i64], &[f64], &[Bucket]) -> Option<T>,
{
    let (mut ts, mut vs, mut buckets) = (Vec::new(), Vec::new(), Vec::new());
    let mut out = Vec::new();
    for i in part {
        budget.check()?;
        let Some(s) = series.get(i) else {
            break;
        };
        ts.clear();
        vs.clear();
        s.read_into(&mut ts, &mut vs).map_err(Error::Storage)?;
        if ts.len() != vs.len() {
            return Err(Error::Storage(
                format!(
                    "series {} read {} timestamps and {} values",
                    s.labels(),
                    ts.len(),
                    vs.len()
                )
                .into(),
            ));
        }
        buckets.clear();
        s.read_buckets_into(&mut buckets).map_err(Error::Storage)?;
        if !buckets.is_empty() {
            check_buckets(s.labels(), &buckets, ts.first().copied())?;
        }
        if ts.is_empty() && buckets.is_empty() {
            continue;
        }
        budget.charge(ts.len() + buckets.len())?;
        if let Some(r) = map(s.labels(), &ts, &vs, &buckets) {
            out.push(r);
        }
    }
    Ok(out)
}

/// Checks the buckets against [`Series::read_buckets_into`]'s contract (positive
/// resolutions, ends in time order, each bucket's samples after the previous bucket's
/// (a coarser and a finer bucket may share an end at the boundary between tiers), every
/// bucket sample within its bucket and before the first raw sample): the evaluator
/// relies on it to count nothing twice, so a storage breaking it fails the query
/// instead of answering wrong.
fn check_buckets(labels: &Labels, buckets: &[Bucket], first_raw: Option<i64>) -> Result<()> {
    let bad = |what: &str| {
        Err(Error::Storage(
            format!("series {labels}: rollup buckets {what}").into(),
        ))
    };
    let mut prev: Option<&Bucket> = None;
    for b in buckets {
        if b.resolution_ms <= 0 {
            return bad("with a resolution that is not positive");
        }
        if prev.is_some_and(|p| b.end < p.end || b.agg.first_t <= p.agg.last_t) {
            return bad("out of order or overlapping");
        }
        if b.agg.count == 0
            || b.agg.first_t <= b.start()
            || b.agg.last_t > b.end
            || b.agg.first_t > b.agg.last_t
        {
            return bad("with samples outside their bucket");
        }
        prev = Some(b);
    }
    match (buckets.last(), first_raw) {
        (Some(last), Some(t)) if last.agg.last_t >= t => bad("not all before the raw samples"),
        _ => Ok(()),
    }
}
