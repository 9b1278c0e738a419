//! A results cache for range queries, as Thanos' and Mimir's query frontends keep one:
//! a dashboard refreshed every 30 s over the last 6 hours asks for almost the same
//! answer each time, and everything but the last minutes of it is already known.
//!
//! **Splits.** A range query's evaluation times form a lattice (`offset + k·step`). The
//! time axis is cut into fixed splits (1 h, or 60 steps when the step is over a minute)
//! at multiples of the split length, so every query on the same lattice cuts it the same
//! way. A split is cached only when the query covers all of its lattice points and when
//! everything its evaluation reads ends before `now − freshness`: the part near "now",
//! where data still arrives, is always evaluated. PromQL evaluates each step on its own,
//! so evaluating splits apart gives the answer evaluating the whole range does (queries
//! with `@ start()` or `@ end()`, whose meaning depends on the range, bypass the cache).
//! Consecutive splits to compute are evaluated in one engine call, then cut.
//!
//! **Invalidation.** The storage reports each write's and each deletion's time span
//! ([`ResultsCache::invalidate`]; the cache is itself a `tsdb_core::observe::Observer`
//! whose `written` and `deleted` events do it, or a server's observer forwards them); every cached split whose read window intersects it is dropped. Writes newer
//! than `now − freshness` cannot touch a cached split and cost one comparison. A query
//! that raced a write into its window does not store what it computed.
//!
//! **Annotations.** A split is stored with its answer's [`Annotations`] (the rollups
//! read, clipped to what the split reads, and the functions approximated from them), and
//! an answer assembled from splits carries the union of theirs: a cached answer says
//! what a fresh one says.
//!
//! **Memory.** The total size of cached answers is bounded; the least recently used
//! splits are evicted first.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use tsdb_core::{Clock, SystemClock};
use tsdb_index::Labels;

use crate::ast::{At, Expr};
use crate::cancel::CancelToken;
use crate::engine::Engine;
use crate::error::Result;
use crate::eval::annotations::Annotations;
use crate::eval::span::SpanCtx;
use crate::eval::Steps;
use crate::storage::Queryable;
use crate::value::{Point, Series, Value};

/// How a [`ResultsCache`] is bounded.
#[derive(Clone, Debug)]
pub struct ResultsCacheOptions {
    /// Most bytes of cached answers (an estimate: labels, points and bookkeeping).
    /// Default 256 MiB. 0 disables the cache (every query bypasses it).
    pub max_bytes: usize,
    /// Splits whose reads reach into the last `freshness_ms` are never cached: data
    /// there is still arriving. Default 2 minutes.
    pub freshness_ms: i64,
    /// The clock "now" is read from (tests use a `tsdb_core::ManualClock`).
    pub clock: Arc<dyn Clock>,
}

impl Default for ResultsCacheOptions {
    fn default() -> Self {
        ResultsCacheOptions {
            max_bytes: 256 << 20,
            freshness_ms: 120_000,
            clock: Arc::new(SystemClock),
        }
    }
}

/// Counters of a [`ResultsCache`], for a server's `/metrics`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ResultsCacheStats {
    /// Splits answered from the cache.
    pub hits: u64,
    /// Cacheable splits that had to be evaluated.
    pub misses: u64,
    /// Range queries that could not use the cache at all.
    pub bypassed: u64,
    /// Cached splits dropped because a write or deletion landed in what they read.
    pub invalidated: u64,
    /// Cached splits evicted to stay within `max_bytes`.
    pub evicted: u64,
    /// Splits cached now.
    pub entries: u64,
    /// Their estimated size in bytes.
    pub bytes: u64,
}

/// The results cache. Shared by reference (it locks inside); see the module docs.
#[derive(Debug)]
pub struct ResultsCache {
    options: ResultsCacheOptions,
    inner: Mutex<Inner>,
    hits: AtomicU64,
    misses: AtomicU64,
    bypassed: AtomicU64,
    invalidated: AtomicU64,
    evicted: AtomicU64,
}

/// One split's answer and its annotations, shared between the cache and the queries
/// reading it.
type Answer = Arc<(Vec<Series>, Annotations)>;

/// A computed split to store: its key, answer and read window.
type Computed = (Key, Answer, (i64, i64));

/// What identifies a split's answer.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Key {
    /// The expression, printed canonically.
    expr: String,
    step: i64,
    /// The lattice's phase, `start mod step`.
    offset: i64,
    /// The split's index (its start divided by the split length).
    split: i64,
    lookback: i64,
    subquery_step: i64,
}

#[derive(Debug)]
struct Entry {
    series: Answer,
    /// The time range its evaluation read, `[mint, maxt]`.
    window: (i64, i64),
    bytes: usize,
    tick: u64,
}

#[derive(Debug, Default)]
struct Inner {
    entries: HashMap<Key, Entry>,
    /// Recency: tick → key, the oldest first.
    lru: BTreeMap<u64, Key>,
    tick: u64,
    bytes: usize,
    /// Invalidations so far, and the most recent ones (for queries in flight).
    seq: u64,
    recent: VecDeque<(u64, i64, i64)>,
}

/// Invalidations remembered for queries in flight; a query that started before the
/// oldest one remembered stores nothing.
const RECENT: usize = 4096;

/// One split of a query: its lattice points and whether it may be cached.
#[derive(Clone, Copy, Debug)]
struct Split {
    index: i64,
    steps: Steps,
    /// The window it reads, when it may be cached.
    cacheable: Option<(i64, i64)>,
}

impl ResultsCache {
    /// An empty cache.
    pub fn new(options: ResultsCacheOptions) -> ResultsCache {
        ResultsCache {
            options,
            inner: Mutex::new(Inner::default()),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            bypassed: AtomicU64::new(0),
            invalidated: AtomicU64::new(0),
            evicted: AtomicU64::new(0),
        }
    }

    /// [`Engine::range`] (or [`Engine::range_cancelable`] with `cancel`) through the
    /// cache: the same answer, the splits fully in the past read from the cache when
    /// they are there and stored when they are not.
    pub fn range<Q: Queryable + ?Sized>(
        &self,
        engine: &Engine,
        storage: &Q,
        expr: &Expr,
        (start_ms, end_ms, step_ms): (i64, i64, i64),
        cancel: Option<&CancelToken>,
    ) -> Result<Value> {
        Ok(self
            .range_annotated(engine, storage, expr, (start_ms, end_ms, step_ms), cancel)?
            .0)
    }

    /// [`ResultsCache::range`] with the answer's [`Annotations`], as
    /// [`Engine::range_annotated`] gives them.
    pub fn range_annotated<Q: Queryable + ?Sized>(
        &self,
        engine: &Engine,
        storage: &Q,
        expr: &Expr,
        (start_ms, end_ms, step_ms): (i64, i64, i64),
        cancel: Option<&CancelToken>,
    ) -> Result<(Value, Annotations)> {
        let eval = |start: i64, end: i64| {
            engine.range_annotated(storage, expr, (start, end, step_ms), cancel)
        };
        let plan = self.plan(engine, expr, start_ms, end_ms, step_ms);
        let Some(splits) = plan else {
            self.bypassed.fetch_add(1, Ordering::Relaxed);
            return eval(start_ms, end_ms);
        };
        let seq0 = self.inner.lock().seq;
        let key_of = |index: i64| Key {
            expr: expr.to_string(),
            step: step_ms,
            offset: start_ms.rem_euclid(step_ms),
            split: index,
            lookback: engine.options().lookback_ms(),
            subquery_step: engine.options().default_subquery_step_ms,
        };
        // what the cache has
        let mut cached: Vec<Option<Answer>> = Vec::with_capacity(splits.len());
        {
            let mut inner = self.inner.lock();
            for s in &splits {
                cached.push(match s.cacheable {
                    Some(_) => inner.get(&key_of(s.index)),
                    None => None,
                });
            }
        }
        let hits = cached.iter().filter(|c| c.is_some()).count();
        let misses = splits
            .iter()
            .zip(&cached)
            .filter(|(s, c)| s.cacheable.is_some() && c.is_none())
            .count();
        self.hits.fetch_add(hits as u64, Ordering::Relaxed);
        self.misses.fetch_add(misses as u64, Ordering::Relaxed);
        // evaluate each run of consecutive splits the cache does not have, in one call
        let mut pieces: Vec<Answer> = Vec::with_capacity(splits.len());
        let mut notes = Annotations::default();
        let mut i = 0;
        while i < splits.len() {
            if let Some(hit) = cached[i].take() {
                notes.merge(&hit.1);
                pieces.push(hit);
                i += 1;
                continue;
            }
            let mut j = i;
            while j + 1 < splits.len() && cached[j + 1].is_none() {
                j += 1;
            }
            let run = &splits[i..=j];
            let (first, last) = (run[0].steps.start, run[run.len() - 1].steps.end);
            let (Value::Matrix(series), run_notes) = eval(first, last)? else {
                return Err(crate::error::Error::Internal(
                    "a range query did not answer a matrix".into(),
                ));
            };
            let cut = cut_by_split(series, run);
            let mut store = Vec::new();
            for (s, part) in run.iter().zip(cut) {
                let part_notes = match s.cacheable {
                    Some(window) => run_notes.clipped(window),
                    None => Annotations::default(),
                };
                let part = Arc::new((part, part_notes));
                if let Some(window) = s.cacheable {
                    store.push((key_of(s.index), part.clone(), window));
                }
                pieces.push(part);
            }
            self.store(seq0, store);
            notes.merge(&run_notes);
            i = j + 1;
        }
        Ok((Value::Matrix(merge(&pieces)), notes))
    }

    /// Drops every cached split whose evaluation read something in `[min_t, max_t]`: a
    /// write or a deletion landed there.
    pub fn invalidate(&self, min_t: i64, max_t: i64) {
        // nothing cached reads past now − freshness, nor will a query in flight cache
        // anything that does
        if min_t > self.horizon() {
            return;
        }
        let mut inner = self.inner.lock();
        inner.seq += 1;
        let seq = inner.seq;
        if inner.recent.len() == RECENT {
            inner.recent.pop_front();
        }
        inner.recent.push_back((seq, min_t, max_t));
        let stale: Vec<Key> = inner
            .entries
            .iter()
            .filter(|(_, e)| e.window.0 <= max_t && min_t <= e.window.1)
            .map(|(k, _)| k.clone())
            .collect();
        self.invalidated
            .fetch_add(stale.len() as u64, Ordering::Relaxed);
        for k in stale {
            inner.remove(&k);
        }
    }

    /// Drops everything (the engine's options changed, the storage was replaced).
    pub fn clear(&self) {
        let mut inner = self.inner.lock();
        inner.entries.clear();
        inner.lru.clear();
        inner.bytes = 0;
        inner.seq += 1;
        let seq = inner.seq;
        inner.recent.clear();
        inner.recent.push_back((seq, i64::MIN, i64::MAX));
    }

    /// The counters and current size.
    pub fn stats(&self) -> ResultsCacheStats {
        let (entries, bytes) = {
            let inner = self.inner.lock();
            (inner.entries.len() as u64, inner.bytes as u64)
        };
        ResultsCacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            bypassed: self.bypassed.load(Ordering::Relaxed),
            invalidated: self.invalidated.load(Ordering::Relaxed),
            evicted: self.evicted.load(Ordering::Relaxed),
            entries,
            bytes,
        }
    }

    /// The newest time a cacheable split may read.
    fn horizon(&self) -> i64 {
        self.options
            .clock
            .now_ms()
            .saturating_sub(self.options.freshness_ms)
    }

    /// The query's splits, or `None` when it cannot use the cache (disabled, invalid
    /// arguments the engine will refuse, `@ start()`/`@ end()`, nothing cacheable).
    fn plan(
        &self,
        engine: &Engine,
        expr: &Expr,
        start: i64,
        end: i64,
        step: i64,
    ) -> Option<Vec<Split>> {
        if self.options.max_bytes == 0 || step <= 0 || end < start {
            return None;
        }
        if crate::nesting::check_expr(expr).is_err() || depends_on_range(expr) {
            return None;
        }
        let steps_total = (end - start) / step;
        if steps_total > engine.options().max_steps as i64 {
            return None; // the engine refuses it
        }
        let split_len = split_len(step);
        let horizon = self.horizon();
        let ctx = SpanCtx::new(engine.options(), start, end);
        let offset = start.rem_euclid(step);
        let mut splits = Vec::new();
        let mut k = start.div_euclid(split_len);
        loop {
            let lo = k.checked_mul(split_len)?;
            let hi = lo.checked_add(split_len)?; // exclusive
                                                 // the split's lattice points: the first at or after lo, the last before hi
            let first = lo + (offset - lo).rem_euclid(step);
            let last_all = hi - 1 - (hi - 1 - offset).rem_euclid(step);
            // the query's lattice points in it (none when `end` falls before the first)
            let steps = Steps {
                start: first.max(start),
                end: last_all.min(end),
                step,
            };
            if steps.start <= steps.end {
                let whole = start <= first && last_all <= end;
                let cacheable = if whole {
                    match ctx.read_range(expr, steps) {
                        Some(w) if w.1 <= horizon => Some(w),
                        // reads nothing: cacheable whenever the split is in the past
                        None if steps.end <= horizon => Some((steps.start, steps.end)),
                        _ => None,
                    }
                } else {
                    None
                };
                splits.push(Split {
                    index: k,
                    steps,
                    cacheable,
                });
            }
            if hi > end {
                break;
            }
            k += 1;
        }
        splits
            .iter()
            .any(|s| s.cacheable.is_some())
            .then_some(splits)
    }

    /// Stores computed splits, unless a write or deletion since the query started
    /// (`seq0`) landed in what they read; then evicts down to the memory bound.
    fn store(&self, seq0: u64, parts: Vec<Computed>) {
        if parts.is_empty() {
            return;
        }
        let mut inner = self.inner.lock();
        let forgotten = inner.recent.front().is_some_and(|&(s, _, _)| s > seq0 + 1)
            || (inner.recent.is_empty() && inner.seq > seq0);
        for (key, series, window) in parts {
            if forgotten {
                return;
            }
            let raced = inner
                .recent
                .iter()
                .any(|&(s, lo, hi)| s > seq0 && lo <= window.1 && window.0 <= hi);
            if raced {
                continue;
            }
            let bytes = size_of_series(&series.0);
            if bytes > self.options.max_bytes {
                continue;
            }
            inner.remove(&key);
            inner.tick += 1;
            let tick = inner.tick;
            inner.lru.insert(tick, key.clone());
            inner.bytes += bytes;
            inner.entries.insert(
                key,
                Entry {
                    series,
                    window,
                    bytes,
                    tick,
                },
            );
        }
        while inner.bytes > self.options.max_bytes {
            let Some((_, key)) = inner.lru.pop_first() else {
                break;
            };
            if let Some(e) = inner.entries.remove(&key) {
                inner.bytes -= e.bytes;
                self.evicted.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

impl Inner {
    /// A cached split, marked as just used.
    fn get(&mut self, key: &Key) -> Option<Answer> {
        self.tick += 1;
        let tick = self.tick;
        let e = self.entries.get_mut(key)?;
        self.lru.remove(&e.tick);
        e.tick = tick;
        self.lru.insert(tick, key.clone());
        Some(e.series.clone())
    }

    fn remove(&mut self, key: &Key) {
        if let Some(e) = self.entries.remove(key) {
            self.lru.remove(&e.tick);
            self.bytes -= e.bytes;
        }
    }
}

/// The cache as a database's observer, for an embedder whose `Db` has no other: pass
/// `Arc<ResultsCache>` as `Options::observer` and writes and deletions invalidate it.
impl tsdb_core::observe::Observer for ResultsCache {
    fn written(&self, min_t: i64, max_t: i64) {
        self.invalidate(min_t, max_t);
    }

    fn deleted(&self, min_t: i64, max_t: i64) {
        self.invalidate(min_t, max_t);
    }
}

/// The split length for a step: an hour, or 60 steps when the step is over a minute.
fn split_len(step: i64) -> i64 {
    if step <= 60_000 {
        3_600_000
    } else {
        step.saturating_mul(60)
    }
}

/// Whether `expr` uses `@ start()` or `@ end()`, whose time is the query's range.
fn depends_on_range(expr: &Expr) -> bool {
    let by_range = |at: Option<At>| matches!(at, Some(At::Start | At::End));
    match expr {
        Expr::Number(_) | Expr::String(_) => false,
        Expr::Neg(inner) => depends_on_range(inner),
        Expr::Selector(sel) => by_range(sel.at),
        Expr::Range(rs) => by_range(rs.selector.at),
        Expr::Subquery(sq) => by_range(sq.at) || depends_on_range(&sq.expr),
        Expr::Call(call) => call.args.iter().any(depends_on_range),
        Expr::Aggregate(agg) => {
            agg.param.as_ref().is_some_and(depends_on_range) || depends_on_range(&agg.expr)
        }
        Expr::Binary(bin) => depends_on_range(&bin.lhs) || depends_on_range(&bin.rhs),
    }
}

/// Cuts a range query's answer over consecutive splits into one answer per split.
fn cut_by_split(series: Vec<Series>, splits: &[Split]) -> Vec<Vec<Series>> {
    let mut out: Vec<Vec<Series>> = vec![Vec::new(); splits.len()];
    for s in series {
        let mut points = s.points.into_iter().peekable();
        for (i, split) in splits.iter().enumerate() {
            let mut part = Vec::new();
            while let Some(p) = points.next_if(|p| p.t <= split.steps.end) {
                part.push(p);
            }
            if !part.is_empty() {
                out[i].push(Series {
                    labels: s.labels.clone(),
                    points: part,
                });
            }
        }
    }
    out
}

/// Joins per-split answers (in time order) into one, series sorted by labels.
fn merge(pieces: &[Answer]) -> Vec<Series> {
    if let [one] = pieces {
        return one.0.clone();
    }
    let mut by_labels: BTreeMap<&Labels, Vec<Point>> = BTreeMap::new();
    for piece in pieces {
        for s in piece.0.iter() {
            by_labels
                .entry(&s.labels)
                .or_default()
                .extend_from_slice(&s.points);
        }
    }
    by_labels
        .into_iter()
        .map(|(labels, points)| Series {
            labels: labels.clone(),
            points,
        })
        .collect()
}

/// An estimate of the memory a cached answer holds.
fn size_of_series(series: &[Series]) -> usize {
    const PER_SERIES: usize = 64;
    const PER_LABEL: usize = 48;
    series
        .iter()
        .map(|s| {
            let labels: usize = s
                .labels
                .iter()
                .map(|(n, v)| n.len() + v.len() + PER_LABEL)
                .sum();
            PER_SERIES + labels + s.points.len() * std::mem::size_of::<Point>()
        })
        .sum::<usize>()
        + 128
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_lattice_points_cover_the_range_once() {
        // step 15 s, start off the hour: every lattice point in exactly one split
        let cache = ResultsCache::new(ResultsCacheOptions {
            freshness_ms: 0,
            clock: Arc::new(tsdb_core::ManualClock::new(10 * 3_600_000)),
            ..ResultsCacheOptions::default()
        });
        let engine = Engine::default();
        let expr = crate::parse("up").unwrap();
        let (start, end, step) = (1_234_567, 3 * 3_600_000 + 7_000, 15_000);
        let splits = cache.plan(&engine, &expr, start, end, step).unwrap();
        let mut points = Vec::new();
        for s in &splits {
            let mut t = s.steps.start;
            while t <= s.steps.end {
                points.push(t);
                t += step;
            }
        }
        let want: Vec<i64> = (0..)
            .map(|k| start + k * step)
            .take_while(|&t| t <= end)
            .collect();
        assert_eq!(points, want);
        // the first split starts mid-way: not cacheable; the whole ones are
        assert!(splits[0].cacheable.is_none());
        assert!(splits[1].cacheable.is_some());
        assert!(splits.last().unwrap().cacheable.is_none());
    }

    #[test]
    fn range_dependent_queries_bypass() {
        let cache = ResultsCache::new(ResultsCacheOptions::default());
        let engine = Engine::default();
        for q in [
            "up @ start()",
            "rate(x[5m] @ end())",
            "sum(x) + y @ start()",
        ] {
            let expr = crate::parse(q).unwrap();
            assert!(
                cache.plan(&engine, &expr, 0, 7_200_000, 15_000).is_none(),
                "{q}"
            );
        }
        let expr = crate::parse("up @ 100").unwrap();
        assert!(cache.plan(&engine, &expr, 0, 7_200_000, 15_000).is_some());
    }
}
