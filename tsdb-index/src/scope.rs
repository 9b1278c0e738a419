//! Metric scopes: per-metric bitsets of the metric's low-cardinality labels.
//!
//! Nearly every PromQL selector names its metric, and dashboards filter it further by a
//! few low-cardinality labels: `{__name__="cpu_usage_user", region="us-west-1",
//! service=~"1|2|3"}`. With global postings alone, each of those labels selects a large
//! share of *all* series (here 110,000, 50,000 each), spread over every roaring
//! container, so the work is far larger than the answer (1,661 series) no matter how the
//! intersections are ordered: a few hundred µs on a 1M-series fleet.
//!
//! A *scope* numbers the series of one metric densely (*local positions*
//! `0..members`) and keeps, for every label name of the metric with at most
//! [`SCOPE_MAX_VALUES`] distinct values, one bitset per value over those positions.
//! The selector above then costs four word-wise passes over 100,000 bits (about 1,600
//! words each) plus mapping the 1,661 hits back to series ids. High-cardinality names
//! (`hostname`) are not scoped; a selector using one is answered by the global postings,
//! where such a label is selective anyway. Metrics with fewer than
//! [`SCOPE_MIN_SERIES`] series have no scope: their own postings are small.
//!
//! Memory: one bit per series per value of each scoped name, so at most
//! `SCOPE_MAX_VALUES` bits (4 bytes) per series and scoped label, plus the 4-byte
//! position-to-id table in memory. On disk, series are numbered in label order, so a
//! metric's series are consecutive and local position `i` is series `first + i`.
//!
//! The same evaluation ([`select`]) runs over the in-memory scopes of `MemIndex` and the
//! on-disk scopes of `DiskIndex`, through the [`Scope`] trait.

use roaring::RoaringBitmap;

use crate::error::Result;
use crate::labels::METRIC_NAME;
use crate::matcher::Matcher;

/// Metrics with at least this many series get a scope.
pub(crate) const SCOPE_MIN_SERIES: u32 = 1024;
/// A label name with more distinct values than this in a metric is not scoped.
pub(crate) const SCOPE_MAX_VALUES: usize = 32;

/// Sets bit `i`, growing `bits` as needed.
pub(crate) fn set_bit(bits: &mut Vec<u64>, i: usize) {
    let w = i / 64;
    if bits.len() <= w {
        bits.resize(w + 1, 0);
    }
    if let Some(word) = bits.get_mut(w) {
        *word |= 1 << (i % 64);
    }
}

/// Clears bit `i` (if `bits` reaches that far).
pub(crate) fn clear_bit(bits: &mut [u64], i: usize) {
    if let Some(word) = bits.get_mut(i / 64) {
        *word &= !(1 << (i % 64));
    }
}

/// A bitset over a scope's local positions: bit `i % 64` of word `i / 64` is position
/// `i`; missing words are zero.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Bits<'a> {
    /// In memory.
    Words(&'a [u64]),
    /// In the file: little-endian `u64` words, length a multiple of 8.
    Bytes(&'a [u8]),
    /// Positions `0..n` all set.
    Ones(usize),
}

fn word_of(chunk: &[u8]) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(chunk);
    u64::from_le_bytes(w)
}

/// Word `i` of `Bits::Ones(n)`.
fn ones_word(n: usize, i: usize) -> u64 {
    let start = i * 64;
    if start + 64 <= n {
        u64::MAX
    } else if start < n {
        (1u64 << (n - start)) - 1
    } else {
        0
    }
}

impl Bits<'_> {
    /// `acc |= self`.
    fn or_into(self, acc: &mut [u64]) {
        match self {
            Bits::Words(ws) => acc.iter_mut().zip(ws).for_each(|(a, w)| *a |= w),
            Bits::Bytes(bs) => acc
                .iter_mut()
                .zip(bs.chunks_exact(8))
                .for_each(|(a, c)| *a |= word_of(c)),
            Bits::Ones(n) => acc
                .iter_mut()
                .enumerate()
                .for_each(|(i, a)| *a |= ones_word(n, i)),
        }
    }

    /// `acc &= self`.
    fn and_into(self, acc: &mut [u64]) {
        let n = match self {
            Bits::Words(ws) => {
                acc.iter_mut().zip(ws).for_each(|(a, w)| *a &= w);
                ws.len()
            }
            Bits::Bytes(bs) => {
                acc.iter_mut()
                    .zip(bs.chunks_exact(8))
                    .for_each(|(a, c)| *a &= word_of(c));
                bs.len() / 8
            }
            Bits::Ones(n) => {
                acc.iter_mut()
                    .enumerate()
                    .for_each(|(i, a)| *a &= ones_word(n, i));
                acc.len()
            }
        };
        acc.iter_mut().skip(n).for_each(|a| *a = 0);
    }

    /// `acc &= !self`.
    fn and_not_into(self, acc: &mut [u64]) {
        match self {
            Bits::Words(ws) => acc.iter_mut().zip(ws).for_each(|(a, w)| *a &= !w),
            Bits::Bytes(bs) => acc
                .iter_mut()
                .zip(bs.chunks_exact(8))
                .for_each(|(a, c)| *a &= !word_of(c)),
            Bits::Ones(n) => acc
                .iter_mut()
                .enumerate()
                .for_each(|(i, a)| *a &= !ones_word(n, i)),
        }
    }
}

/// Whether a scope can answer matchers on a label name.
pub(crate) enum NameState<H> {
    /// No series of the metric has the label: every series' value is `""`.
    Absent,
    /// The label has too many values in the metric to be scoped.
    Unscoped,
    /// Scoped; the handle lists its values.
    Scoped(H),
}

/// What an index provides about the scope of one metric.
pub(crate) trait Scope {
    /// Identifies a scoped label name.
    type Name: Copy;
    /// Number of local positions (dead ones included); bitsets cover `0..positions()`.
    fn positions(&self) -> usize;
    /// The metric name.
    fn metric(&self) -> &str;
    /// The positions of live series.
    fn live(&self) -> Bits<'_>;
    /// How label `name` is kept in this scope.
    fn name(&self, name: &str) -> Result<NameState<Self::Name>>;
    /// The values of a scoped name with their bitsets.
    fn values(&self, name: Self::Name) -> Result<Vec<(&str, Bits<'_>)>>;
    /// Maps selected positions (a non-empty subset of the live ones) to series ids.
    fn to_public(&self, selected: &[u64]) -> Result<RoaringBitmap>;
}

/// Series selected by `matchers` within `scope`, or `None` if a matcher names a label
/// the scope does not keep. One of the matchers is the `__name__="<metric>"` matcher
/// that chose the scope; `__name__` matchers are checked against the metric name.
pub(crate) fn select<S: Scope + ?Sized>(
    scope: &S,
    matchers: &[Matcher],
) -> Result<Option<RoaringBitmap>> {
    let mut states = Vec::with_capacity(matchers.len());
    for m in matchers {
        if m.name() == METRIC_NAME {
            states.push(None);
            continue;
        }
        match scope.name(m.name())? {
            NameState::Unscoped => return Ok(None),
            s => states.push(Some(s)),
        }
    }
    let words = scope.positions().div_ceil(64);
    let mut sel = vec![0u64; words];
    scope.live().or_into(&mut sel);
    let mut union: Vec<u64> = Vec::new();
    for (m, state) in matchers.iter().zip(states) {
        let handle = match state {
            None | Some(NameState::Absent) => {
                let v = if state.is_none() { scope.metric() } else { "" };
                if !m.matches(v) {
                    return Ok(Some(RoaringBitmap::new()));
                }
                continue;
            }
            Some(NameState::Unscoped) => return Ok(None),
            Some(NameState::Scoped(h)) => h,
        };
        let values = scope.values(handle)?;
        if m.matches_empty() {
            // Series lacking the label stay; drop those whose value does not match.
            for (v, bits) in values {
                if !m.matches(v) {
                    bits.and_not_into(&mut sel);
                }
            }
        } else {
            let mut hits = values.into_iter().filter(|(v, _)| m.matches(v));
            match (hits.next(), hits.next()) {
                (None, _) => return Ok(Some(RoaringBitmap::new())),
                (Some((_, bits)), None) => bits.and_into(&mut sel),
                (Some((_, a)), Some((_, b))) => {
                    union.clear();
                    union.resize(words, 0);
                    for bits in [a, b].into_iter().chain(hits.map(|(_, b)| b)) {
                        bits.or_into(&mut union);
                    }
                    sel.iter_mut().zip(&union).for_each(|(s, u)| *s &= u);
                }
            }
        }
    }
    if sel.iter().all(|&w| w == 0) {
        return Ok(Some(RoaringBitmap::new()));
    }
    scope.to_public(&sel).map(Some)
}

/// Calls `f` with every set position, in order.
pub(crate) fn for_each_set(bits: &[u64], mut f: impl FnMut(usize)) {
    for (i, &w) in bits.iter().enumerate() {
        let mut w = w;
        while w != 0 {
            f(i * 64 + w.trailing_zeros() as usize);
            w &= w - 1;
        }
    }
}

/// One value of a scoped name: how many live series have it, and which.
#[derive(Debug, Default)]
pub(crate) struct ScopedValue {
    pub(crate) value: u32,
    pub(crate) count: u32,
    pub(crate) bits: Vec<u64>,
}

/// One label name of a scope, by symbol id.
#[derive(Debug)]
pub(crate) struct ScopedName {
    pub(crate) name: u32,
    /// `None` once the name had more than [`SCOPE_MAX_VALUES`] values.
    pub(crate) values: Option<Vec<ScopedValue>>,
}

/// The label names of one metric's series, by local position: shared by the in-memory
/// scopes and the writer. Symbol ids are the caller's.
#[derive(Debug, Default)]
pub(crate) struct ScopeNames {
    /// Sorted by name id.
    pub(crate) names: Vec<ScopedName>,
}

impl ScopeNames {
    /// Records the labels `pairs` (`[name, value]*`) of the series at `local`, skipping
    /// the metric name (`metric_name` is its name id).
    pub(crate) fn add(&mut self, local: usize, pairs: &[u32], metric_name: u32) {
        for p in pairs.chunks_exact(2) {
            let (n, v) = (p[0], p[1]);
            if n == metric_name {
                continue;
            }
            let at = match self.names.binary_search_by_key(&n, |s| s.name) {
                Ok(at) => at,
                Err(at) => {
                    let name = ScopedName {
                        name: n,
                        values: Some(Vec::new()),
                    };
                    self.names.insert(at, name);
                    at
                }
            };
            let Some(entry) = self.names.get_mut(at) else {
                continue;
            };
            let Some(values) = entry.values.as_mut() else {
                continue;
            };
            let i = match values.iter().position(|s| s.value == v) {
                Some(i) => i,
                None if values.len() >= SCOPE_MAX_VALUES => {
                    entry.values = None;
                    continue;
                }
                None => {
                    values.push(ScopedValue {
                        value: v,
                        ..ScopedValue::default()
                    });
                    values.len() - 1
                }
            };
            if let Some(sv) = values.get_mut(i) {
                sv.count += 1;
                set_bit(&mut sv.bits, local);
            }
        }
    }

    /// Forgets the series at `local` with labels `pairs`; values and names no live series
    /// has any more are dropped.
    pub(crate) fn remove(&mut self, local: usize, pairs: &[u32], metric_name: u32) {
        for p in pairs.chunks_exact(2) {
            let (n, v) = (p[0], p[1]);
            if n == metric_name {
                continue;
            }
            let Ok(at) = self.names.binary_search_by_key(&n, |s| s.name) else {
                continue;
            };
            let Some(entry) = self.names.get_mut(at) else {
                continue;
            };
            let Some(values) = entry.values.as_mut() else {
                continue;
            };
            if let Some(i) = values.iter().position(|s| s.value == v) {
                if let Some(sv) = values.get_mut(i) {
                    sv.count = sv.count.saturating_sub(1);
                    clear_bit(&mut sv.bits, local);
                    if sv.count == 0 {
                        values.swap_remove(i);
                    }
                }
            }
            if values.is_empty() {
                self.names.remove(at);
            }
        }
    }

    /// How name id `n` is kept.
    pub(crate) fn state(&self, n: u32) -> NameState<&[ScopedValue]> {
        match self.names.binary_search_by_key(&n, |s| s.name) {
            Err(_) => NameState::Absent,
            Ok(at) => match self.names.get(at).and_then(|s| s.values.as_deref()) {
                Some(values) => NameState::Scoped(values),
                None => NameState::Unscoped,
            },
        }
    }

    /// Heap bytes held.
    pub(crate) fn heap_bytes(&self) -> usize {
        let mut b = self.names.capacity() * size_of::<ScopedName>();
        for n in &self.names {
            if let Some(values) = &n.values {
                b += values.capacity() * size_of::<ScopedValue>();
                b += values.iter().map(|v| v.bits.capacity() * 8).sum::<usize>();
            }
        }
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bit_helpers() {
        let mut b = Vec::new();
        set_bit(&mut b, 130);
        set_bit(&mut b, 0);
        assert_eq!(b.len(), 3);
        let mut seen = Vec::new();
        for_each_set(&b, |i| seen.push(i));
        assert_eq!(seen, [0, 130]);
        clear_bit(&mut b, 130);
        clear_bit(&mut b, 10_000);
        assert_eq!(b, [1, 0, 0]);

        let bytes: Vec<u8> = [0b1010u64, 1]
            .iter()
            .flat_map(|w| w.to_le_bytes())
            .collect();
        let mut acc = vec![0b0110u64, 3, 7];
        Bits::Bytes(&bytes).and_into(&mut acc);
        assert_eq!(acc, [0b0010, 1, 0], "words past the bitset are zero");
        let mut acc = vec![0u64; 2];
        Bits::Bytes(&bytes).or_into(&mut acc);
        assert_eq!(acc, [0b1010, 1]);
        Bits::Words(&[0b1000]).and_not_into(&mut acc);
        assert_eq!(acc, [0b0010, 1]);
        let mut acc = vec![0u64; 3];
        Bits::Ones(70).or_into(&mut acc);
        assert_eq!(acc, [u64::MAX, 0b11_1111, 0]);
        Bits::Ones(64).and_into(&mut acc);
        assert_eq!(acc, [u64::MAX, 0, 0]);
        Bits::Ones(1).and_not_into(&mut acc);
        assert_eq!(acc, [u64::MAX - 1, 0, 0]);
    }

    #[test]
    fn names_unscope_past_the_value_limit_and_forget_removed_values() {
        let mut s = ScopeNames::default();
        let metric = 0;
        for i in 0..=u32::try_from(SCOPE_MAX_VALUES).unwrap() {
            // name 1: a new value each time; name 2: always value 7
            s.add(i as usize, &[metric, 99, 1, 100 + i, 2, 7], metric);
        }
        assert!(matches!(s.state(1), NameState::Unscoped));
        assert!(matches!(s.state(3), NameState::Absent));
        match s.state(2) {
            NameState::Scoped(v) => {
                assert_eq!(v.len(), 1);
                assert_eq!(v[0].count, u32::try_from(SCOPE_MAX_VALUES).unwrap() + 1);
            }
            _ => panic!("name 2 should be scoped"),
        }
        for i in 0..=u32::try_from(SCOPE_MAX_VALUES).unwrap() {
            s.remove(i as usize, &[metric, 99, 1, 100 + i, 2, 7], metric);
        }
        assert!(matches!(s.state(2), NameState::Absent));
        assert!(
            matches!(s.state(1), NameState::Unscoped),
            "no counts kept once unscoped"
        );
    }
}
