//! The mutable in-memory index of the head block.
//!
//! # Layout
//! - Strings are interned once per index: `symbols[id]` is an `Arc<str>` shared by the
//!   string-to-id map and by the postings maps, so each distinct string is stored once.
//!   Each symbol counts the label references to it; a symbol no series refers to any more
//!   is freed and its id reused.
//! - A series is its label pairs as symbol ids, `[name, value, name, value, ...]`, sorted
//!   by name, in one arena `Vec<u32>` with a `u32` start offset per series: 4 bytes per
//!   string reference, no per-series allocation.
//! - Lookup of an existing label set goes through a hash of its canonical encoding
//!   (collisions are kept in a side table and resolved by comparing strings).
//! - Postings: for every label name, a `BTreeMap` from value to a `RoaringBitmap` of
//!   series ids (ordered, so prefix regexes scan a range, not every value) plus one bitmap
//!   of all series that have the label (so `.+`, `!=""` and "lacks the label" are one
//!   bitmap operation).
//! - Scopes (`scope.rs`): for every metric with at least `SCOPE_MIN_SERIES` series, its
//!   series in id order (the local positions) and a bitset over those positions per value
//!   of each low-cardinality label, kept up to date on insert and removal.
//!
//! # Removal
//! [`MemIndex::remove`] takes series out of the lookup table, the postings and the
//! scopes at once. Ids are never reused, so an id a reader still holds can never come to
//! mean another series; a removed id simply resolves to nothing. The label references of
//! removed series are reclaimed by compacting the arena once they are half of it.
//!
//! # Concurrency
//! One `RwLock` around everything: readers share it, a writer holds it for one series,
//! one batch or one removal. Series ids are handed out densely, in insertion order, so a
//! reader never sees a postings list referring to a series it cannot resolve.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasher, BuildHasherDefault, Hasher, RandomState};
use std::ops::Bound;
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use roaring::{MultiOps, RoaringBitmap};

use crate::error::{Error, Result};
use crate::labels::{Labels, METRIC_NAME};
use crate::matcher::{MatchOp, Matcher};
use crate::postings::SortedBuilder;
use crate::query::{self, CardinalityStats, Source, Visit};
use crate::scope::{self, Bits, NameState, Scope, ScopeNames, ScopedValue, SCOPE_MIN_SERIES};
use crate::SeriesId;

/// A hasher for keys that already are hashes.
#[derive(Default)]
struct IdentityHasher(u64);

impl Hasher for IdentityHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

/// Adds `id`. A plain `insert`, not `try_push`: in roaring 0.11 pushing onto a bitmap
/// container first scans it backwards for its maximum, which made inserting 1M fleet
/// series 35-50 % slower than inserting (measured with the index-report fleet).
pub(crate) fn append(bm: &mut RoaringBitmap, id: u32) {
    bm.insert(id);
}

type HashIndex = HashMap<u64, u32, BuildHasherDefault<IdentityHasher>>;

#[derive(Default)]
pub(crate) struct NamePostings {
    /// Every series that has this label.
    pub(crate) all: RoaringBitmap,
    /// Value -> series with that value.
    pub(crate) values: BTreeMap<Arc<str>, RoaringBitmap>,
}

/// The scope of one metric (see `scope.rs`).
#[derive(Debug, Default)]
pub(crate) struct MemScope {
    /// Series ids by local position, ascending (removed ones stay until a rebuild).
    members: Vec<u32>,
    /// Which positions hold live series.
    live: Vec<u64>,
    live_count: u32,
    names: ScopeNames,
}

impl MemScope {
    fn add(&mut self, id: u32, pairs: &[u32], metric_name: u32) {
        let local = self.members.len();
        self.members.push(id);
        scope::set_bit(&mut self.live, local);
        self.live_count += 1;
        self.names.add(local, pairs, metric_name);
    }

    fn remove(&mut self, id: u32, pairs: &[u32], metric_name: u32) {
        if let Ok(local) = self.members.binary_search(&id) {
            scope::clear_bit(&mut self.live, local);
            self.live_count = self.live_count.saturating_sub(1);
            self.names.remove(local, pairs, metric_name);
        }
    }

    fn heap_bytes(&self) -> usize {
        self.members.capacity() * 4 + self.live.capacity() * 8 + self.names.heap_bytes()
    }
}

#[derive(Default)]
pub(crate) struct Inner {
    symbols: Vec<Arc<str>>,
    symbol_ids: HashMap<Arc<str>, u32>,
    /// Label references to each symbol from live series; 0 for a free id.
    symbol_refs: Vec<u32>,
    /// Symbol ids whose string was freed, for reuse.
    free_symbols: Vec<u32>,
    /// `[name, value]*` symbol ids of every series, back to back.
    arena: Vec<u32>,
    /// `offsets[i]..offsets[i + 1]` is series `i` in `arena`; `offsets[0] == 0`.
    offsets: Vec<u32>,
    /// Arena entries of removed series, reclaimed by `compact_arena`.
    arena_dead: usize,
    /// Ids of removed series.
    removed: RoaringBitmap,
    /// Series not removed.
    live: u32,
    by_hash: HashIndex,
    collisions: HashMap<u64, Vec<u32>>,
    postings: BTreeMap<Arc<str>, NamePostings>,
    /// By the symbol id of the metric name.
    scopes: HashMap<u32, MemScope>,
    hasher: RandomState,
}

/// The mutable, thread-safe in-memory index: label sets in, dense `u32` series ids out,
/// and matcher queries over them.
///
/// ```
/// use tsdb_index::{Labels, Matcher, MemIndex};
/// let idx = MemIndex::new();
/// let a = idx.get_or_insert(&Labels::new([("__name__", "up"), ("job", "api")])?)?;
/// let b = idx.get_or_insert(&Labels::new([("__name__", "up"), ("job", "web")])?)?;
/// let hits = idx.select(&[Matcher::equal("__name__", "up"), Matcher::regex("job", "a.*")?])?;
/// assert_eq!(hits.iter().collect::<Vec<_>>(), vec![a]);
/// assert_ne!(a, b);
/// # Ok::<(), tsdb_index::Error>(())
/// ```
#[derive(Default)]
pub struct MemIndex {
    inner: RwLock<Inner>,
}

impl std::fmt::Debug for MemIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemIndex")
            .field("series", &self.len())
            .finish_non_exhaustive()
    }
}

impl Inner {
    /// One past the largest id ever assigned.
    fn id_bound(&self) -> u32 {
        // offsets.len() <= u32::MAX is enforced on insert.
        u32::try_from(self.offsets.len().saturating_sub(1)).unwrap_or(u32::MAX)
    }

    fn series_syms(&self, id: u32) -> Option<&[u32]> {
        if !self.removed.is_empty() && self.removed.contains(id) {
            return None;
        }
        let i = id as usize;
        let start = *self.offsets.get(i)? as usize;
        let end = *self.offsets.get(i + 1)? as usize;
        self.arena.get(start..end)
    }

    fn sym(&self, id: u32) -> &str {
        self.symbols.get(id as usize).map_or("", |s| s)
    }

    fn series_equals(&self, id: u32, labels: &Labels) -> bool {
        let Some(syms) = self.series_syms(id) else {
            return false;
        };
        let mut it = labels.iter();
        for pair in syms.chunks_exact(2) {
            match it.next() {
                Some((n, v)) if n == self.sym(pair[0]) && v == self.sym(pair[1]) => {}
                _ => return false,
            }
        }
        it.next().is_none()
    }

    fn hash(&self, labels: &Labels) -> u64 {
        self.hasher.hash_one(labels.as_encoded())
    }

    fn lookup(&self, labels: &Labels, h: u64) -> Option<u32> {
        let &first = self.by_hash.get(&h)?;
        if self.series_equals(first, labels) {
            return Some(first);
        }
        self.collisions
            .get(&h)?
            .iter()
            .copied()
            .find(|&id| self.series_equals(id, labels))
    }

    /// Removes `id` (whose labels hash to `h`) from the lookup tables.
    fn unhash(&mut self, h: u64, id: u32) {
        if self.by_hash.get(&h) == Some(&id) {
            let next = self.collisions.get_mut(&h).and_then(Vec::pop);
            if self.collisions.get(&h).is_some_and(Vec::is_empty) {
                self.collisions.remove(&h);
            }
            match next {
                Some(next) => {
                    self.by_hash.insert(h, next);
                }
                None => {
                    self.by_hash.remove(&h);
                }
            }
        } else if let Some(list) = self.collisions.get_mut(&h) {
            list.retain(|&x| x != id);
            if list.is_empty() {
                self.collisions.remove(&h);
            }
        }
    }

    /// The id of `s`, adding it if new, with one more reference counted.
    fn intern(&mut self, s: &str) -> Result<(u32, Arc<str>)> {
        if let Some((k, &id)) = self.symbol_ids.get_key_value(s) {
            let k = Arc::clone(k);
            if let Some(r) = self.symbol_refs.get_mut(id as usize) {
                *r = r.saturating_add(1);
            }
            return Ok((id, k));
        }
        let a: Arc<str> = Arc::from(s);
        let id = match self.free_symbols.pop() {
            Some(id) => {
                if let (Some(slot), Some(r)) = (
                    self.symbols.get_mut(id as usize),
                    self.symbol_refs.get_mut(id as usize),
                ) {
                    *slot = Arc::clone(&a);
                    *r = 1;
                }
                id
            }
            None => {
                let id =
                    u32::try_from(self.symbols.len()).map_err(|_| Error::CapacityExceeded {
                        what: "more than 2^32 distinct strings",
                    })?;
                self.symbols.push(Arc::clone(&a));
                self.symbol_refs.push(1);
                id
            }
        };
        self.symbol_ids.insert(Arc::clone(&a), id);
        Ok((id, a))
    }

    /// Drops one reference to symbol `id`, freeing the string at zero.
    fn release(&mut self, id: u32) {
        let Some(r) = self.symbol_refs.get_mut(id as usize) else {
            return;
        };
        *r = r.saturating_sub(1);
        if *r == 0 {
            if let Some(slot) = self.symbols.get_mut(id as usize) {
                let s = std::mem::replace(slot, Arc::from(""));
                self.symbol_ids.remove(&*s);
                self.free_symbols.push(id);
            }
        }
    }

    /// The scope of the metric with symbol `metric`, built from its series.
    fn build_scope(&self, metric: &str, metric_name: u32) -> MemScope {
        let mut s = MemScope::default();
        let ids = self
            .postings
            .get(METRIC_NAME)
            .and_then(|np| np.values.get(metric));
        for id in ids.into_iter().flatten() {
            if let Some(pairs) = self.series_syms(id) {
                s.add(id, pairs, metric_name);
            }
        }
        s
    }

    fn get_or_insert(&mut self, labels: &Labels) -> Result<SeriesId> {
        let h = self.hash(labels);
        if let Some(id) = self.lookup(labels, h) {
            return Ok(id);
        }
        if self.offsets.is_empty() {
            self.offsets.push(0);
        }
        let id = self.id_bound();
        if id == u32::MAX {
            return Err(Error::CapacityExceeded {
                what: "2^32 - 1 series",
            });
        }
        let pairs = labels.len();
        let start = self.arena.len();
        let end = u32::try_from(start + 2 * pairs).map_err(|_| Error::CapacityExceeded {
            what: "2^32 label references",
        })?;
        // Intern first so a failure leaves no half-inserted series behind.
        let mut interned = Vec::with_capacity(pairs);
        for (n, v) in labels.iter() {
            interned.push((self.intern(n)?, self.intern(v)?));
        }
        let mut metric = None;
        for ((nid, name), (vid, value)) in interned {
            self.arena.push(nid);
            self.arena.push(vid);
            if &*name == METRIC_NAME {
                metric = Some((nid, vid, Arc::clone(&value)));
            }
            let np = match self.postings.get_mut(&*name) {
                Some(np) => np,
                None => self.postings.entry(name).or_default(),
            };
            append(&mut np.all, id);
            match np.values.get_mut(&*value) {
                Some(p) => append(p, id),
                None => {
                    let mut p = RoaringBitmap::new();
                    append(&mut p, id);
                    np.values.insert(value, p);
                }
            }
        }
        self.offsets.push(end);
        self.live += 1;
        if self.by_hash.try_insert_compat(h, id) {
            self.collisions.entry(h).or_default().push(id);
        }
        if let Some((nid, vid, value)) = metric {
            let pairs = self.arena.get(start..).unwrap_or(&[]);
            if let Some(s) = self.scopes.get_mut(&vid) {
                s.add(id, pairs, nid);
            } else {
                let count = self
                    .postings
                    .get(METRIC_NAME)
                    .and_then(|np| np.values.get(&*value))
                    .map_or(0, RoaringBitmap::len);
                if count >= u64::from(SCOPE_MIN_SERIES) {
                    let s = self.build_scope(&value, nid);
                    self.scopes.insert(vid, s);
                }
            }
        }
        Ok(id)
    }

    fn remove(&mut self, ids: &RoaringBitmap) -> usize {
        let bound = self.id_bound();
        let mut removed = 0;
        let mut scopes_touched = Vec::new();
        for id in ids.range(..bound) {
            let Some(pairs) = self.series_syms(id).map(<[u32]>::to_vec) else {
                continue;
            };
            let labels = Labels::from_sorted(
                pairs
                    .chunks_exact(2)
                    .map(|p| (self.sym(p[0]), self.sym(p[1]))),
            );
            if let Some(labels) = labels {
                let h = self.hash(&labels);
                self.unhash(h, id);
            }
            let mut metric = None;
            for p in pairs.chunks_exact(2) {
                let (Some(name), Some(value)) = (
                    self.symbols.get(p[0] as usize).cloned(),
                    self.symbols.get(p[1] as usize).cloned(),
                ) else {
                    continue;
                };
                if &*name == METRIC_NAME {
                    metric = Some((p[0], p[1]));
                }
                if let Some(np) = self.postings.get_mut(&*name) {
                    np.all.remove(id);
                    if let Some(bm) = np.values.get_mut(&*value) {
                        bm.remove(id);
                        if bm.is_empty() {
                            np.values.remove(&*value);
                        }
                    }
                    if np.all.is_empty() {
                        self.postings.remove(&*name);
                    }
                }
            }
            if let Some((nid, vid)) = metric {
                if let Some(s) = self.scopes.get_mut(&vid) {
                    s.remove(id, &pairs, nid);
                    scopes_touched.push((vid, nid));
                }
            }
            for &s in &pairs {
                self.release(s);
            }
            self.removed.insert(id);
            self.live = self.live.saturating_sub(1);
            self.arena_dead += pairs.len();
            removed += 1;
        }
        scopes_touched.sort_unstable();
        scopes_touched.dedup();
        for (vid, nid) in scopes_touched {
            let Some(s) = self.scopes.get(&vid) else {
                continue;
            };
            if s.live_count < SCOPE_MIN_SERIES / 2 {
                self.scopes.remove(&vid);
            } else if (s.live_count as usize) * 2 < s.members.len() {
                // Mostly dead positions: renumber the live series.
                match self.symbols.get(vid as usize).cloned() {
                    Some(metric) => {
                        let s = self.build_scope(&metric, nid);
                        self.scopes.insert(vid, s);
                    }
                    None => {
                        self.scopes.remove(&vid);
                    }
                }
            }
        }
        if self.arena_dead > 0 && self.arena_dead * 2 >= self.arena.len() {
            self.compact_arena();
        }
        removed
    }

    /// Rewrites the arena without the label references of removed series.
    fn compact_arena(&mut self) {
        let mut arena = Vec::with_capacity(self.arena.len().saturating_sub(self.arena_dead));
        let mut offsets = Vec::with_capacity(self.offsets.len());
        offsets.push(0u32);
        for id in 0..self.id_bound() {
            if let Some(pairs) = self.series_syms(id) {
                arena.extend_from_slice(pairs);
            }
            #[expect(
                clippy::cast_possible_truncation,
                reason = "the arena only shrinks, and its length fit a u32 on insert"
            )]
            offsets.push(arena.len() as u32);
        }
        self.arena = arena;
        self.offsets = offsets;
        self.arena_dead = 0;
    }

    /// Best-effort heap accounting; see [`MemIndex::heap_bytes`].
    fn heap_bytes(&self) -> usize {
        const ARC_HEADER: usize = 16;
        const MAP_ENTRY_OVERHEAD: usize = 1; // hashbrown control byte
        const BTREE_ENTRY_OVERHEAD: usize = 8; // node headers and slack, amortised
        const CONTAINER: usize = 32; // roaring Container (key + store enum) in its Vec
        let mut b = 0usize;
        b += self.symbols.capacity() * size_of::<Arc<str>>();
        b += self
            .symbols
            .iter()
            .map(|s| (ARC_HEADER + s.len()).next_multiple_of(8))
            .sum::<usize>();
        b += self.symbol_ids.capacity() * (size_of::<(Arc<str>, u32)>() + MAP_ENTRY_OVERHEAD);
        b += self.symbol_refs.capacity() * 4 + self.free_symbols.capacity() * 4;
        b += self.arena.capacity() * 4 + self.offsets.capacity() * 4;
        b += self.by_hash.capacity() * (size_of::<(u64, u32)>() + MAP_ENTRY_OVERHEAD);
        b += self
            .collisions
            .values()
            .map(|v| v.capacity() * 4 + 40)
            .sum::<usize>();
        // roaring 0.11's `Statistics` counts array capacity as 4 bytes per entry (they
        // are u16) and bitset containers in bits, so take the counts, not its byte sums.
        const BITSET: usize = 8192 + 16; // [u64; 1024] box + allocator header
        let bitmap = |r: &RoaringBitmap| {
            let s = r.statistics();
            usize::try_from(s.n_bytes_array_containers / 2 + s.n_bytes_run_containers)
                .unwrap_or(usize::MAX)
                + s.n_bitset_containers as usize * BITSET
                + s.n_containers as usize * CONTAINER
        };
        b += bitmap(&self.removed);
        for np in self.postings.values() {
            b += size_of::<NamePostings>() + BTREE_ENTRY_OVERHEAD + bitmap(&np.all);
            for r in np.values.values() {
                b += size_of::<(Arc<str>, RoaringBitmap)>() + BTREE_ENTRY_OVERHEAD + bitmap(r);
            }
        }
        b += self.scopes.capacity() * (size_of::<(u32, MemScope)>() + MAP_ENTRY_OVERHEAD);
        b += self
            .scopes
            .values()
            .map(MemScope::heap_bytes)
            .sum::<usize>();
        b
    }
}

/// `HashMap::try_insert` is unstable; this inserts if absent and reports a collision.
trait TryInsertCompat {
    /// Inserts `k -> v` if `k` is absent; returns true if `k` was already present.
    fn try_insert_compat(&mut self, k: u64, v: u32) -> bool;
}

impl TryInsertCompat for HashIndex {
    fn try_insert_compat(&mut self, k: u64, v: u32) -> bool {
        match self.entry(k) {
            std::collections::hash_map::Entry::Occupied(_) => true,
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(v);
                false
            }
        }
    }
}

/// One metric's scope seen through the [`Scope`] trait.
struct MemScopeView<'a> {
    inner: &'a Inner,
    scope: &'a MemScope,
    metric: &'a str,
}

impl<'a> Scope for MemScopeView<'a> {
    type Name = &'a [ScopedValue];

    fn positions(&self) -> usize {
        self.scope.members.len()
    }

    fn metric(&self) -> &str {
        self.metric
    }

    fn live(&self) -> Bits<'_> {
        Bits::Words(&self.scope.live)
    }

    fn name(&self, name: &str) -> Result<NameState<&'a [ScopedValue]>> {
        Ok(match self.inner.symbol_ids.get(name) {
            None => NameState::Absent,
            Some(&n) => self.scope.names.state(n),
        })
    }

    fn values(&self, name: &'a [ScopedValue]) -> Result<Vec<(&str, Bits<'_>)>> {
        Ok(name
            .iter()
            .map(|v| (self.inner.sym(v.value), Bits::Words(&v.bits)))
            .collect())
    }

    fn to_public(&self, selected: &[u64]) -> Result<RoaringBitmap> {
        let members = &self.scope.members;
        // Positions ascend and so do their ids. Past half of the metric, stop: the rest
        // is the smaller set to map, and is subtracted from the metric's postings.
        let half = (self.scope.live_count / 2) as usize;
        let gather = |bits: &[u64], limit: usize| {
            let mut b = SortedBuilder::default();
            let mut n = 0usize;
            for (i, &w) in bits.iter().enumerate() {
                let mut w = w;
                while w != 0 {
                    if n == limit {
                        return None;
                    }
                    let at = i * 64 + w.trailing_zeros() as usize;
                    if let Some(&id) = members.get(at) {
                        b.push(id);
                        n += 1;
                    }
                    w &= w - 1;
                }
            }
            Some(b.finish())
        };
        let all = self
            .inner
            .postings
            .get(METRIC_NAME)
            .and_then(|np| np.values.get(self.metric));
        let Some(all) = all else {
            return Ok(gather(selected, usize::MAX).unwrap_or_default());
        };
        if let Some(hits) = gather(selected, half) {
            return Ok(hits);
        }
        let rest: Vec<u64> = self
            .scope
            .live
            .iter()
            .zip(selected.iter().chain(std::iter::repeat(&0)))
            .map(|(l, s)| l & !s)
            .collect();
        Ok(all - &gather(&rest, usize::MAX).unwrap_or_default())
    }
}

impl Source for Inner {
    fn num_series(&self) -> u32 {
        self.live
    }

    fn postings_in_memory(&self) -> bool {
        true
    }

    fn label_names(&self) -> Result<Vec<String>> {
        Ok(self.postings.keys().map(|k| k.to_string()).collect())
    }

    fn name_postings(&self, name: &str) -> Result<Cow<'_, RoaringBitmap>> {
        Ok(match self.postings.get(name) {
            Some(np) => Cow::Borrowed(&np.all),
            None => Cow::Owned(RoaringBitmap::new()),
        })
    }

    fn name_series_count(&self, name: &str) -> Result<u64> {
        Ok(self.postings.get(name).map_or(0, |np| np.all.len()))
    }

    fn name_value_count(&self, name: &str) -> Result<u64> {
        Ok(self
            .postings
            .get(name)
            .map_or(0, |np| np.values.len() as u64))
    }

    fn postings(&self, name: &str, value: &str) -> Result<Option<Cow<'_, RoaringBitmap>>> {
        Ok(self
            .postings
            .get(name)
            .and_then(|np| np.values.get(value))
            .map(Cow::Borrowed))
    }

    fn postings_count(&self, name: &str, value: &str) -> Result<u64> {
        Ok(self
            .postings
            .get(name)
            .and_then(|np| np.values.get(value))
            .map_or(0, RoaringBitmap::len))
    }

    fn union_values(
        &self,
        name: &str,
        from: &str,
        visit: &mut dyn FnMut(&str) -> Visit,
    ) -> Result<RoaringBitmap> {
        let Some(np) = self.postings.get(name) else {
            return Ok(RoaringBitmap::new());
        };
        let range = np
            .values
            .range::<str, _>((Bound::Included(from), Bound::Unbounded));
        let mut lists = Vec::new();
        for (v, p) in range {
            match visit(v) {
                Visit::Take => lists.push(p),
                Visit::Skip => {}
                Visit::Stop => break,
            }
        }
        Ok(lists.union())
    }

    fn for_each_value(&self, name: &str, f: &mut dyn FnMut(&str, u64)) -> Result<()> {
        if let Some(np) = self.postings.get(name) {
            for (v, p) in &np.values {
                f(v, p.len());
            }
        }
        Ok(())
    }

    fn with_series_value(
        &self,
        id: u32,
        name: &str,
        f: &mut dyn FnMut(Option<&str>),
    ) -> Result<()> {
        let syms = self.series_syms(id).unwrap_or(&[]);
        let (mut lo, mut hi) = (0usize, syms.len() / 2);
        while lo < hi {
            let mid = (lo + hi) / 2;
            let (n, v) = (
                syms.get(2 * mid).copied().unwrap_or(0),
                syms.get(2 * mid + 1).copied().unwrap_or(0),
            );
            match self.sym(n).cmp(name) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => {
                    f(Some(self.sym(v)));
                    return Ok(());
                }
            }
        }
        f(None);
        Ok(())
    }

    fn scoped_select(&self, matchers: &[Matcher]) -> Result<Option<RoaringBitmap>> {
        let metric = matchers
            .iter()
            .find(|m| m.name() == METRIC_NAME && m.op() == MatchOp::Equal && !m.value().is_empty());
        let Some(metric) = metric else {
            return Ok(None);
        };
        let Some((metric, &sym)) = self.symbol_ids.get_key_value(metric.value()) else {
            return Ok(None);
        };
        let Some(scope) = self.scopes.get(&sym) else {
            return Ok(None);
        };
        let view = MemScopeView {
            inner: self,
            scope,
            metric,
        };
        scope::select(&view, matchers)
    }
}

impl MemIndex {
    /// An empty index.
    pub fn new() -> MemIndex {
        MemIndex::default()
    }

    // A panic while holding the lock cannot leave a half-written series (ids are
    // published last), so a poisoned lock is safe to keep using.
    pub(crate) fn read(&self) -> RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// The id of `labels`, adding the series if it is new. Ids are dense and assigned in
    /// insertion order, and never reused: a series added again after
    /// [`MemIndex::remove`] gets a new id. Fails only when the index is full.
    pub fn get_or_insert(&self, labels: &Labels) -> Result<SeriesId> {
        if let Some(id) = self.get(labels) {
            return Ok(id);
        }
        self.write().get_or_insert(labels)
    }

    /// [`MemIndex::get_or_insert`] for a batch under one lock acquisition; each item gets
    /// its own result, so one failure does not affect the others.
    pub fn get_or_insert_batch<'a, I>(&self, batch: I) -> Vec<Result<SeriesId>>
    where
        I: IntoIterator<Item = &'a Labels>,
    {
        let mut w = self.write();
        batch.into_iter().map(|l| w.get_or_insert(l)).collect()
    }

    /// The id of `labels` if the series exists.
    pub fn get(&self, labels: &Labels) -> Option<SeriesId> {
        let r = self.read();
        let h = r.hash(labels);
        r.lookup(labels, h)
    }

    /// The label set of series `id` (`None` if it was never assigned or was removed).
    pub fn labels(&self, id: SeriesId) -> Option<Labels> {
        let r = self.read();
        let syms = r.series_syms(id)?;
        Labels::from_sorted(syms.chunks_exact(2).map(|p| (r.sym(p[0]), r.sym(p[1]))))
    }

    /// Removes the series `ids` (head garbage collection, once series go idle) and
    /// returns how many were present. Other series keep their ids, and removed ids are
    /// never handed out again. Ids that are unknown or already removed are skipped.
    pub fn remove(&self, ids: &RoaringBitmap) -> usize {
        self.write().remove(ids)
    }

    /// Number of series (removed ones not counted).
    pub fn len(&self) -> usize {
        self.read().live as usize
    }

    /// True if there are no series.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Series ids selected by all `matchers`, with Prometheus semantics. At least one
    /// matcher must not match the empty string ([`Error::NoNonEmptyMatcher`]).
    pub fn select(&self, matchers: &[Matcher]) -> Result<RoaringBitmap> {
        query::select(&*self.read(), matchers)
    }

    /// Label names, sorted; if `matchers` is not empty, only those of selected series.
    pub fn label_names(&self, matchers: &[Matcher]) -> Result<Vec<String>> {
        query::label_names(&*self.read(), matchers)
    }

    /// Values of label `name`, sorted; if `matchers` is not empty, only those of selected
    /// series.
    pub fn label_values(&self, name: &str, matchers: &[Matcher]) -> Result<Vec<String>> {
        query::label_values(&*self.read(), name, matchers)
    }

    /// Cardinality statistics with the top `top_n` entries per list.
    pub fn stats(&self, top_n: usize) -> CardinalityStats {
        // The in-memory source never fails.
        query::stats(&*self.read(), top_n).unwrap_or_default()
    }

    /// Estimated heap bytes held by the index: vectors and maps by capacity, strings and
    /// roaring containers by size, with fixed per-entry overheads for hash and B-tree
    /// nodes. Allocator slack is not included (compare with RSS for that).
    pub fn heap_bytes(&self) -> usize {
        self.read().heap_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn l(pairs: &[(&str, &str)]) -> Labels {
        Labels::new(pairs.iter().copied()).unwrap()
    }

    #[test]
    fn ids_are_dense_and_stable() {
        let idx = MemIndex::new();
        let a = l(&[("__name__", "m"), ("x", "1")]);
        let b = l(&[("__name__", "m"), ("x", "2")]);
        assert_eq!(idx.get_or_insert(&a).unwrap(), 0);
        assert_eq!(idx.get_or_insert(&b).unwrap(), 1);
        assert_eq!(idx.get_or_insert(&a).unwrap(), 0);
        assert_eq!(idx.len(), 2);
        assert_eq!(idx.labels(1).unwrap(), b);
        assert_eq!(idx.labels(2), None);
        assert_eq!(idx.get(&b), Some(1));
    }

    #[test]
    fn hash_collisions_are_resolved_by_comparison() {
        let mut inner = Inner::default();
        let a = l(&[("__name__", "m"), ("x", "1")]);
        let b = l(&[("__name__", "m"), ("x", "2")]);
        let id_a = inner.get_or_insert(&a).unwrap();
        let id_b = inner.get_or_insert(&b).unwrap();
        let (ha, hb) = (inner.hash(&a), inner.hash(&b));
        // Pretend b hashed like a: it then lives in the collision table.
        inner.by_hash.remove(&hb);
        inner.collisions.entry(ha).or_default().push(id_b);
        assert_eq!(inner.lookup(&b, ha), Some(id_b));
        assert_eq!(inner.lookup(&a, ha), Some(id_a));
        assert_eq!(inner.lookup(&b, hb), None);
        // Removing the head of a collision chain promotes the next one.
        inner.unhash(ha, id_a);
        assert_eq!(inner.lookup(&b, ha), Some(id_b));
        assert!(inner.collisions.is_empty());
        inner.unhash(ha, id_b);
        assert!(inner.by_hash.is_empty());
    }

    #[test]
    fn accounting_grows_with_series() {
        let idx = MemIndex::new();
        let before = idx.heap_bytes();
        for i in 0..1000 {
            idx.get_or_insert(&l(&[("__name__", "m"), ("i", &i.to_string())]))
                .unwrap();
        }
        let after = idx.heap_bytes();
        assert!(after > before + 1000 * 8, "{before} -> {after}");
        assert!(after < 1000 * 1024, "{after}");
    }

    #[test]
    fn removed_strings_are_freed_and_their_ids_reused() {
        let idx = MemIndex::new();
        let a = l(&[("__name__", "m"), ("pod", "p1")]);
        let id = idx.get_or_insert(&a).unwrap();
        let symbols = idx.read().symbols.len();
        assert_eq!(idx.remove(&RoaringBitmap::from_iter([id])), 1);
        {
            let r = idx.read();
            assert_eq!(r.free_symbols.len(), symbols, "every string was freed");
            assert!(r.symbol_ids.is_empty() && r.postings.is_empty());
        }
        let b = l(&[("__name__", "m"), ("pod", "p2")]);
        assert_eq!(idx.get_or_insert(&b).unwrap(), id + 1, "ids are not reused");
        assert_eq!(idx.read().symbols.len(), symbols, "symbol ids are");
        assert_eq!(idx.labels(id + 1), Some(b));
    }

    #[test]
    fn arena_is_compacted_once_half_dead() {
        let idx = MemIndex::new();
        for i in 0..100 {
            idx.get_or_insert(&l(&[("__name__", "m"), ("i", &i.to_string())]))
                .unwrap();
        }
        let before = idx.read().arena.len();
        idx.remove(&RoaringBitmap::from_iter(0..60));
        let r = idx.read();
        assert_eq!(r.arena.len(), before * 40 / 100);
        assert_eq!(r.arena_dead, 0);
        drop(r);
        assert_eq!(idx.labels(60).unwrap().get("i"), Some("60"));
        assert_eq!(idx.labels(59), None);
    }
}
