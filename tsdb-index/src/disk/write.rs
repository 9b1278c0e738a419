//! Encodes series into the on-disk format (see FORMAT.md).
//!
//! [`IndexWriter`] takes label sets streamed in label order (the segment writer, and
//! compaction next) and hands [`encode`] the final symbol table (sorted, unique) and
//! every series as `(name ref, value ref)` pairs in id order.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use tsdb_encoding::put_uvarint;

use super::{HEADER, HEADER_LEN, SECTIONS, TOC_ENTRY_LEN};
use crate::error::{cut, Error, Result};
use crate::labels::{Labels, METRIC_NAME};
use crate::scope::{ScopeNames, SCOPE_MIN_SERIES};
use crate::SeriesId;

fn to_u32(v: usize, what: &'static str) -> Result<u32> {
    u32::try_from(v).map_err(|_| Error::CapacityExceeded { what })
}

/// The value ref of a postings key `(name ref << 32) | value ref`.
#[expect(
    clippy::cast_possible_truncation,
    reason = "the low 32 bits of a key are its value ref"
)]
fn value_ref(key: u64) -> u32 {
    key as u32
}

/// Hashes `u64` keys (pairs of refs) with one multiply; they are not attacker-chosen
/// strings, and the std SipHash is most of the encoding time otherwise.
#[derive(Default)]
struct PairHasher(u64);

impl Hasher for PairHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = (v ^ (v >> 29)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    }
    fn write_u32(&mut self, v: u32) {
        self.write_u64(u64::from(v));
    }
}

type PairMap<V> = HashMap<u64, V, BuildHasherDefault<PairHasher>>;

/// Appends the strictly increasing `ids` as a run-optimised roaring bitmap in the
/// portable format; returns (offset, length).
fn put_postings(out: &mut Vec<u8>, ids: &[u32]) -> Result<(u64, u32)> {
    let off = out.len();
    let mut bm = crate::postings::from_sorted(ids)
        .ok_or_else(|| Error::corrupt(0, "label references of a series are not sorted"))?;
    bm.optimize();
    bm.serialize_into(&mut *out)?;
    let len = to_u32(out.len() - off, "postings list over 4 GiB")?;
    Ok((off as u64, len))
}

/// Accumulates strings or entries back to back with their end offsets.
#[derive(Default)]
struct OffsetTable {
    ends: Vec<u32>,
    data: Vec<u8>,
}

impl OffsetTable {
    /// Marks the end of the current item.
    fn finish_item(&mut self, what: &'static str) -> Result<()> {
        self.ends.push(to_u32(self.data.len(), what)?);
        Ok(())
    }

    /// Writes `count u32`, `count + 1` u32 offsets (starting at 0) and the data.
    fn put(&self, out: &mut Vec<u8>, what: &'static str) -> Result<()> {
        out.reserve(8 + self.ends.len() * 4 + self.data.len());
        out.extend_from_slice(&to_u32(self.ends.len(), what)?.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        for e in &self.ends {
            out.extend_from_slice(&e.to_le_bytes());
        }
        out.extend_from_slice(&self.data);
        Ok(())
    }
}

/// The series of one metric being built into a scope: a run of consecutive ids.
struct ScopeRun {
    metric: u32,
    first: u32,
    count: u32,
    names: ScopeNames,
}

/// Builds the scopes section: see FORMAT.md.
fn put_scopes(out: &mut Vec<u8>, scopes: &mut [ScopeRun]) -> Result<()> {
    scopes.sort_unstable_by_key(|s| s.metric);
    let mut scope_recs = Vec::new();
    let mut name_recs = Vec::new();
    let mut value_recs = Vec::new();
    let mut bits = Vec::new();
    let (mut n_names, mut n_values) = (0usize, 0usize);
    for s in scopes.iter_mut() {
        let words = (s.count as usize).div_ceil(64);
        scope_recs.extend_from_slice(&s.metric.to_le_bytes());
        scope_recs.extend_from_slice(&s.first.to_le_bytes());
        scope_recs.extend_from_slice(&s.count.to_le_bytes());
        scope_recs.extend_from_slice(&to_u32(n_names, "scope names")?.to_le_bytes());
        scope_recs.extend_from_slice(&to_u32(s.names.names.len(), "scope names")?.to_le_bytes());
        for name in &mut s.names.names {
            n_names += 1;
            name_recs.extend_from_slice(&name.name.to_le_bytes());
            match &mut name.values {
                None => {
                    name_recs.extend_from_slice(&0u32.to_le_bytes()); // not scoped
                    name_recs.extend_from_slice(&to_u32(n_values, "scope values")?.to_le_bytes());
                    name_recs.extend_from_slice(&0u32.to_le_bytes());
                }
                Some(values) => {
                    values.sort_unstable_by_key(|v| v.value);
                    name_recs.extend_from_slice(&1u32.to_le_bytes()); // scoped
                    name_recs.extend_from_slice(&to_u32(n_values, "scope values")?.to_le_bytes());
                    name_recs
                        .extend_from_slice(&to_u32(values.len(), "scope values")?.to_le_bytes());
                    for v in values.iter_mut() {
                        n_values += 1;
                        v.bits.resize(words, 0);
                        value_recs.extend_from_slice(&v.value.to_le_bytes());
                        value_recs.extend_from_slice(&(bits.len() as u64).to_le_bytes());
                        for w in &v.bits {
                            bits.extend_from_slice(&w.to_le_bytes());
                        }
                    }
                }
            }
        }
    }
    out.extend_from_slice(&to_u32(scopes.len(), "scopes")?.to_le_bytes());
    out.extend_from_slice(&scope_recs);
    out.extend_from_slice(&to_u32(n_names, "scope names")?.to_le_bytes());
    out.extend_from_slice(&name_recs);
    out.extend_from_slice(&to_u32(n_values, "scope values")?.to_le_bytes());
    out.extend_from_slice(&value_recs);
    out.extend_from_slice(&bits);
    Ok(())
}

/// Encodes an index and appends it to `out`.
///
/// `symbols` is the final symbol table: sorted by bytes, unique. `series` yields, in id
/// order, every series' `(name ref, value ref)` pairs, sorted by name. Ids are dense,
/// `0..series.len()`. Series need not be in label order; metrics whose series are
/// consecutive (always the case in label order, unless some label name sorts before
/// `__name__`) and at least [`SCOPE_MIN_SERIES`] long get a scope.
pub(crate) fn encode<'s, S, I>(symbols: &[S], series: I, out: &mut Vec<u8>) -> Result<()>
where
    S: AsRef<str>,
    I: IntoIterator<Item = &'s [u32]>,
{
    let start = out.len();
    let mut sym_section = Vec::new();
    {
        let mut t = OffsetTable::default();
        for s in symbols {
            t.data.extend_from_slice(s.as_ref().as_bytes());
            t.finish_item("symbols section over 4 GiB")?;
        }
        t.put(&mut sym_section, "symbols section over 4 GiB")?;
    }
    let metric_name = symbols
        .binary_search_by(|s| s.as_ref().cmp(METRIC_NAME))
        .ok()
        .and_then(|i| u32::try_from(i).ok());

    let mut table = OffsetTable::default();
    // Ids arrive in increasing order; each list is built once at the end (pushing into a
    // roaring bitmap container costs a scan for its maximum on every push).
    let mut pairs_postings: PairMap<Vec<u32>> = PairMap::default();
    let mut name_postings: PairMap<Vec<u32>> = PairMap::default();
    let mut scopes: Vec<ScopeRun> = Vec::new();
    let mut run: Option<ScopeRun> = None;
    let mut seen_metrics: PairMap<()> = PairMap::default();
    let mut split_metrics: PairMap<()> = PairMap::default();
    let mut finish_run = |run: ScopeRun, scopes: &mut Vec<ScopeRun>| {
        if seen_metrics.insert(u64::from(run.metric), ()).is_some() {
            split_metrics.insert(u64::from(run.metric), ());
        } else if run.count >= SCOPE_MIN_SERIES {
            scopes.push(run);
        }
    };
    let mut id: u32 = 0;
    for pairs in series {
        if pairs.len() % 2 != 0 {
            return Err(Error::corrupt(0, "odd number of label references"));
        }
        put_uvarint(&mut table.data, (pairs.len() / 2) as u64);
        for &r in pairs {
            put_uvarint(&mut table.data, u64::from(r));
        }
        table.finish_item("series section over 4 GiB")?;
        for p in pairs.chunks_exact(2) {
            let key = (u64::from(p[0]) << 32) | u64::from(p[1]);
            pairs_postings.entry(key).or_default().push(id);
            let names = name_postings.entry(u64::from(p[0])).or_default();
            // A label name twice in one series cannot come from `Labels`; keep the list
            // strictly increasing regardless.
            if names.last() != Some(&id) {
                names.push(id);
            }
        }
        let metric = metric_name.and_then(|mn| {
            pairs
                .chunks_exact(2)
                .find(|p| p[0] == mn)
                .map(|p| (mn, p[1]))
        });
        match (metric, run.as_mut()) {
            (Some((_, m)), Some(r)) if r.metric == m => {}
            (m, _) => {
                if let Some(r) = run.take() {
                    finish_run(r, &mut scopes);
                }
                run = m.map(|(_, metric)| ScopeRun {
                    metric,
                    first: id,
                    count: 0,
                    names: ScopeNames::default(),
                });
            }
        }
        if let (Some(r), Some(mn)) = (run.as_mut(), metric_name) {
            r.names.add(r.count as usize, pairs, mn);
            r.count += 1;
        }
        id = id.checked_add(1).ok_or(Error::CapacityExceeded {
            what: "2^32 series",
        })?;
    }
    if let Some(r) = run.take() {
        finish_run(r, &mut scopes);
    }
    scopes.retain(|s| !split_metrics.contains_key(&u64::from(s.metric)));
    let mut series_section = Vec::new();
    table.put(&mut series_section, "series section over 4 GiB")?;

    // Label names, their values, and the postings both point into.
    let mut keys: Vec<u64> = pairs_postings.keys().copied().collect();
    keys.sort_unstable();
    let mut names = Vec::new();
    let mut values = Vec::new();
    let mut postings = Vec::new();
    names.extend_from_slice(&to_u32(name_postings.len(), "label names")?.to_le_bytes());
    values.extend_from_slice(&to_u32(keys.len(), "label values")?.to_le_bytes());
    let mut at = 0usize;
    while let Some(&first) = keys.get(at) {
        let name = (first >> 32) as u32;
        let n_values = keys.get(at..).map_or(0, |rest| {
            rest.partition_point(|&k| (k >> 32) as u32 == name)
        });
        let all = name_postings.remove(&u64::from(name)).unwrap_or_default();
        let series_count = to_u32(all.len(), "series count")?;
        let (off, len) = put_postings(&mut postings, &all)?;
        names.extend_from_slice(&name.to_le_bytes());
        names.extend_from_slice(&to_u32(at, "label values")?.to_le_bytes());
        names.extend_from_slice(&to_u32(n_values, "label values")?.to_le_bytes());
        names.extend_from_slice(&series_count.to_le_bytes());
        names.extend_from_slice(&len.to_le_bytes());
        names.extend_from_slice(&off.to_le_bytes());
        for &key in keys.get(at..at + n_values).unwrap_or(&[]) {
            let ids = pairs_postings.remove(&key).unwrap_or_default();
            let count = to_u32(ids.len(), "series count")?;
            let (off, len) = put_postings(&mut postings, &ids)?;
            values.extend_from_slice(&value_ref(key).to_le_bytes());
            values.extend_from_slice(&count.to_le_bytes());
            values.extend_from_slice(&len.to_le_bytes());
            values.extend_from_slice(&off.to_le_bytes());
        }
        at += n_values;
    }
    let mut scope_section = Vec::new();
    put_scopes(&mut scope_section, &mut scopes)?;

    HEADER.write(out);
    debug_assert_eq!(out.len() - start, HEADER_LEN);
    let mut toc = Vec::with_capacity(SECTIONS.len() * TOC_ENTRY_LEN + 4);
    for section in [
        &sym_section,
        &series_section,
        &names,
        &values,
        &postings,
        &scope_section,
    ] {
        let off = (out.len() - start) as u64;
        out.extend_from_slice(section);
        toc.extend_from_slice(&off.to_le_bytes());
        toc.extend_from_slice(&(section.len() as u64).to_le_bytes());
        toc.extend_from_slice(&crc32fast::hash(section).to_le_bytes());
    }
    let toc_crc = crc32fast::hash(&toc);
    toc.extend_from_slice(&toc_crc.to_le_bytes());
    out.extend_from_slice(&toc);
    Ok(())
}

/// Writes an on-disk index from label sets given in label order, assigning them ids
/// `0, 1, 2, …`: the one index writer, used by the segment writer (and compaction next,
/// which merges the sorted series of several segments into one).
///
/// Label sets must come strictly increasing in [`Labels`]' order (the order of
/// Prometheus' `labels.Compare`, which is also the order `DiskIndex` numbers series
/// in); a set that is not greater than the
/// previous one is refused with [`Error::SeriesOutOfOrder`] and not added, so the writer
/// stays usable. Memory is the label references (4 bytes each) plus one copy of every
/// distinct string, until [`IndexWriter::finish`].
///
/// ```
/// use tsdb_index::{DiskIndex, IndexWriter, Labels, Matcher};
/// let mut w = IndexWriter::new();
/// assert_eq!(w.add(&Labels::new([("__name__", "up"), ("job", "api")])?)?, 0);
/// assert_eq!(w.add(&Labels::new([("__name__", "up"), ("job", "web")])?)?, 1);
/// assert!(w.add(&Labels::new([("__name__", "up"), ("job", "db")])?).is_err());
/// let bytes = w.finish_to_vec()?;
/// let idx = DiskIndex::open(&bytes)?;
/// assert_eq!(idx.select(&[Matcher::equal("job", "web")])?.iter().collect::<Vec<_>>(), [1]);
/// # Ok::<(), tsdb_index::Error>(())
/// ```
#[derive(Debug, Default)]
pub struct IndexWriter {
    symbols: Vec<Arc<str>>,
    symbol_ids: HashMap<Arc<str>, u32>,
    /// `[name, value]*` writer-local symbol ids, series after series.
    pairs: Vec<u32>,
    /// `ends[i]` is the end of series `i` in `pairs`.
    ends: Vec<usize>,
}

impl IndexWriter {
    /// An empty writer.
    pub fn new() -> IndexWriter {
        IndexWriter::default()
    }

    /// Number of series added so far.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// True if no series was added.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    fn last(&self) -> &[u32] {
        let end = self.ends.last().copied().unwrap_or(0);
        let start = self
            .ends
            .len()
            .checked_sub(2)
            .and_then(|i| self.ends.get(i))
            .copied()
            .unwrap_or(0);
        self.pairs.get(start..end).unwrap_or(&[])
    }

    fn sym(&self, id: u32) -> &str {
        self.symbols.get(id as usize).map_or("", |s| s)
    }

    fn intern(&mut self, s: &str) -> Result<u32> {
        if let Some(&id) = self.symbol_ids.get(s) {
            return Ok(id);
        }
        let id = to_u32(self.symbols.len(), "more than 2^32 distinct strings")?;
        let a: Arc<str> = Arc::from(s);
        self.symbols.push(Arc::clone(&a));
        self.symbol_ids.insert(a, id);
        Ok(id)
    }

    /// Adds the next series and returns its id (the number of series added before it).
    pub fn add(&mut self, labels: &Labels) -> Result<SeriesId> {
        let id = to_u32(self.ends.len(), "2^32 series")?;
        if !self.ends.is_empty() {
            let prev = self
                .last()
                .chunks_exact(2)
                .map(|p| (self.sym(p[0]), self.sym(p[1])));
            if prev.cmp(labels.iter()) != std::cmp::Ordering::Less {
                return Err(Error::SeriesOutOfOrder {
                    labels: cut(&labels.to_string()),
                });
            }
        }
        let mut refs = Vec::with_capacity(2 * labels.len());
        for (n, v) in labels.iter() {
            refs.push(self.intern(n)?);
            refs.push(self.intern(v)?);
        }
        self.pairs.extend_from_slice(&refs);
        self.ends.push(self.pairs.len());
        Ok(id)
    }

    /// Encodes the index (see FORMAT.md) and appends it to `out`.
    pub fn finish(self, out: &mut Vec<u8>) -> Result<()> {
        let mut order: Vec<u32> = (0..to_u32(self.symbols.len(), "symbol count")?).collect();
        order.sort_unstable_by(|&a, &b| self.sym(a).cmp(self.sym(b)));
        let mut rank = vec![0u32; order.len()];
        // `order` has fewer than 2^32 entries (checked above)
        for (new, &old) in (0u32..).zip(&order) {
            if let Some(r) = rank.get_mut(old as usize) {
                *r = new;
            }
        }
        let sorted: Vec<&str> = order.iter().map(|&i| self.sym(i)).collect();
        let pairs: Vec<u32> = self
            .pairs
            .iter()
            .map(|&s| rank.get(s as usize).copied().unwrap_or(0))
            .collect();
        let mut start = 0;
        let series = self.ends.iter().map(|&end| {
            let s = pairs.get(start..end).unwrap_or(&[]);
            start = end;
            s
        });
        encode(&sorted, series, out)
    }

    /// [`IndexWriter::finish`] into a new buffer.
    pub fn finish_to_vec(self) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        self.finish(&mut out)?;
        Ok(out)
    }
}
