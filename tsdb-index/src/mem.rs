//! The mutable in-memory index of the head block.
//!
//! # Layout
//! - Strings are interned once per index: `symbols[id]` is an `Arc<str>` shared by the
//!   string-to-id map and by the postings maps, so each distinct string is stored once.
//! - A series is its label pairs as symbol ids, `[name, value, name, value, ...]`, sorted
//!   by name, in one arena `Vec<u32>` with a `u32` start offset per series: 4 bytes per
//!   string reference, no per-series allocation.
//! - Lookup of an existing label set goes through a hash of its canonical encoding
//!   (collisions are kept in a side table and resolved by comparing strings).
//! - Postings: for every label name, a `BTreeMap` from value to a `RoaringBitmap` of
//!   series ids (ordered, so prefix regexes scan a range, not every value) plus one bitmap
//!   of all series that have the label (so `.+`, `!=""` and "lacks the label" are one
//!   bitmap operation).
//!
//! # Concurrency
//! One `RwLock` around everything: readers share it, a writer holds it for one series or
//! one batch. Series ids are handed out densely, in insertion order, so a reader never
//! sees a postings list referring to a series it cannot resolve.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasher, BuildHasherDefault, Hasher, RandomState};
use std::ops::Bound;
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use roaring::{MultiOps, RoaringBitmap};

use crate::error::{Error, Result};
use crate::labels::Labels;
use crate::matcher::Matcher;
use crate::query::{self, CardinalityStats, Source, Visit};
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

/// Appends an id larger than all present (O(1)); falls back to a plain insert otherwise.
pub(crate) fn append(bm: &mut RoaringBitmap, id: u32) {
    if bm.try_push(id).is_err() {
        bm.insert(id);
    }
}

type HashIndex = HashMap<u64, u32, BuildHasherDefault<IdentityHasher>>;

#[derive(Default)]
pub(crate) struct NamePostings {
    /// Every series that has this label.
    pub(crate) all: RoaringBitmap,
    /// Value -> series with that value.
    pub(crate) values: BTreeMap<Arc<str>, RoaringBitmap>,
}

#[derive(Default)]
pub(crate) struct Inner {
    pub(crate) symbols: Vec<Arc<str>>,
    pub(crate) symbol_ids: HashMap<Arc<str>, u32>,
    /// `[name, value]*` symbol ids of every series, back to back.
    pub(crate) arena: Vec<u32>,
    /// `offsets[i]..offsets[i + 1]` is series `i` in `arena`; `offsets[0] == 0`.
    pub(crate) offsets: Vec<u32>,
    by_hash: HashIndex,
    collisions: HashMap<u64, Vec<u32>>,
    pub(crate) postings: BTreeMap<Arc<str>, NamePostings>,
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
    fn num_series(&self) -> u32 {
        // offsets.len() <= u32::MAX is enforced on insert.
        self.offsets.len().saturating_sub(1) as u32
    }

    fn series_syms(&self, id: u32) -> Option<&[u32]> {
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

    fn intern(&mut self, s: &str) -> Result<(u32, Arc<str>)> {
        if let Some((k, &id)) = self.symbol_ids.get_key_value(s) {
            return Ok((id, Arc::clone(k)));
        }
        let id = u32::try_from(self.symbols.len()).map_err(|_| Error::CapacityExceeded {
            what: "more than 2^32 distinct strings",
        })?;
        let a: Arc<str> = Arc::from(s);
        self.symbols.push(Arc::clone(&a));
        self.symbol_ids.insert(Arc::clone(&a), id);
        Ok((id, a))
    }

    fn get_or_insert(&mut self, labels: &Labels) -> Result<SeriesId> {
        let h = self.hash(labels);
        if let Some(id) = self.lookup(labels, h) {
            return Ok(id);
        }
        if self.offsets.is_empty() {
            self.offsets.push(0);
        }
        let id = self.num_series();
        if id == u32::MAX {
            return Err(Error::CapacityExceeded {
                what: "2^32 - 1 series",
            });
        }
        let pairs = labels.len();
        let end =
            u32::try_from(self.arena.len() + 2 * pairs).map_err(|_| Error::CapacityExceeded {
                what: "2^32 label references",
            })?;
        // Intern first so a failure leaves no half-inserted series behind.
        let mut interned = Vec::with_capacity(pairs);
        for (n, v) in labels.iter() {
            interned.push((self.intern(n)?, self.intern(v)?));
        }
        for ((nid, name), (vid, value)) in interned {
            self.arena.push(nid);
            self.arena.push(vid);
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
        if self.by_hash.try_insert_compat(h, id) {
            self.collisions.entry(h).or_default().push(id);
        }
        Ok(id)
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
            (s.n_bytes_array_containers / 2 + s.n_bytes_run_containers) as usize
                + s.n_bitset_containers as usize * BITSET
                + s.n_containers as usize * CONTAINER
        };
        for np in self.postings.values() {
            b += size_of::<NamePostings>() + BTREE_ENTRY_OVERHEAD + bitmap(&np.all);
            for r in np.values.values() {
                b += size_of::<(Arc<str>, RoaringBitmap)>() + BTREE_ENTRY_OVERHEAD + bitmap(r);
            }
        }
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

impl Source for Inner {
    fn num_series(&self) -> u32 {
        Inner::num_series(self)
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
            match self.sym(syms[2 * mid]).cmp(name) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => {
                    f(Some(self.sym(syms[2 * mid + 1])));
                    return Ok(());
                }
            }
        }
        f(None);
        Ok(())
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
    /// insertion order. Fails only when the index is full.
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

    /// The label set of series `id`.
    pub fn labels(&self, id: SeriesId) -> Option<Labels> {
        let r = self.read();
        let syms = r.series_syms(id)?;
        Labels::from_sorted(syms.chunks_exact(2).map(|p| (r.sym(p[0]), r.sym(p[1]))))
    }

    /// Number of series.
    pub fn len(&self) -> usize {
        self.read().num_series() as usize
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

    /// Encodes the index in the on-disk format (see FORMAT.md) into `out`.
    /// Series ids are preserved.
    pub fn write_to(&self, out: &mut Vec<u8>) -> Result<()> {
        crate::disk::write::write(&self.read(), out)
    }

    /// Encodes the index in the on-disk format into a new buffer.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        self.write_to(&mut out)?;
        Ok(out)
    }

    /// Writes the on-disk form to `path` and fsyncs it. The caller owns the
    /// temp-file-and-rename protocol of the segment directory.
    pub fn write_file(&self, path: &std::path::Path) -> Result<()> {
        use std::io::Write;
        let bytes = self.to_bytes()?;
        let mut f = std::fs::File::create(path)?;
        f.write_all(&bytes)?;
        f.sync_all()?;
        Ok(())
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
}
