//! Building a `RoaringBitmap` from ids the index produces in increasing order.
//!
//! `RoaringBitmap::from_sorted_iter` pushes one id at a time (about 80 instructions per id
//! in roaring 0.11, measured with callgrind, growing every array container by doubling).
//! Query results mapped back from a metric's local positions, and postings lists being
//! written, arrive sorted, so [`SortedBuilder`] lays them out container by container in
//! the portable roaring serialization (the format the on-disk index stores) and hands
//! that to roaring's deserializer, which copies each container in one piece.

use roaring::RoaringBitmap;

/// Cookie of the portable format without run containers.
const COOKIE_NO_RUNS: u32 = 12346;
/// A container with more ids than this is a bitmap (8 KiB) rather than a sorted array.
const ARRAY_LIMIT: usize = 4096;

/// Collects strictly increasing ids into a bitmap.
#[derive(Debug, Default)]
pub(crate) struct SortedBuilder {
    /// Low 16 bits of every id, container after container.
    low: Vec<u16>,
    /// `(key, end in low)` of every container.
    containers: Vec<(u16, usize)>,
    last: Option<u32>,
}

impl SortedBuilder {
    /// A builder with room for `n` ids.
    pub(crate) fn with_capacity(n: usize) -> Self {
        Self {
            low: Vec::with_capacity(n),
            ..Self::default()
        }
    }

    /// Adds `id`; false (and nothing added) if it is not greater than the previous one.
    pub(crate) fn push(&mut self, id: u32) -> bool {
        if self.last.is_some_and(|last| id <= last) {
            return false;
        }
        self.last = Some(id);
        let key = (id >> 16) as u16;
        match self.containers.last_mut() {
            Some((k, end)) if *k == key => *end += 1,
            _ => self.containers.push((key, self.low.len() + 1)),
        }
        #[expect(
            clippy::cast_possible_truncation,
            reason = "the low 16 bits; the container key holds the high ones"
        )]
        self.low.push(id as u16);
        true
    }

    /// The bitmap of the ids pushed.
    #[expect(
        clippy::cast_possible_truncation,
        reason = "ids are u32: at most 2^16 containers (one per high half) of at most 2^16 \
                  ids each, so the container count fits a u32, a cardinality minus one a \
                  u16, and offsets stay under 8 + 8 * 2^16 + 2^16 * 8192 bytes (~512 MiB)"
    )]
    pub(crate) fn finish(self) -> RoaringBitmap {
        let n = self.containers.len();
        let size = |s: usize, e: usize| {
            if e - s > ARRAY_LIMIT {
                8192
            } else {
                2 * (e - s)
            }
        };
        let header = 8 + 8 * n;
        let mut buf = Vec::with_capacity(header + 2 * self.low.len());
        buf.extend_from_slice(&COOKIE_NO_RUNS.to_le_bytes());
        buf.extend_from_slice(&(n as u32).to_le_bytes());
        let mut start = 0;
        for &(key, end) in &self.containers {
            buf.extend_from_slice(&key.to_le_bytes());
            buf.extend_from_slice(&((end - start - 1) as u16).to_le_bytes());
            start = end;
        }
        let (mut start, mut offset) = (0, header);
        for &(_, end) in &self.containers {
            buf.extend_from_slice(&(offset as u32).to_le_bytes());
            offset += size(start, end);
            start = end;
        }
        let mut start = 0;
        for &(_, end) in &self.containers {
            let part = self.low.get(start..end).unwrap_or(&[]);
            start = end;
            if part.len() > ARRAY_LIMIT {
                let mut words = [0u64; 1024];
                for &low in part {
                    if let Some(w) = words.get_mut(usize::from(low) / 64) {
                        *w |= 1 << (low % 64);
                    }
                }
                for w in words {
                    buf.extend_from_slice(&w.to_le_bytes());
                }
            } else {
                for &low in part {
                    buf.extend_from_slice(&low.to_le_bytes());
                }
            }
        }
        // The layout above holds strictly increasing ids (checked by `push`), so the
        // validating deserializer's checks would only repeat that; the proptest below
        // compares with `from_sorted_iter`.
        RoaringBitmap::deserialize_unchecked_from(&buf[..]).unwrap_or_default()
    }
}

/// The bitmap holding `ids`, which must be strictly increasing; `None` if they are not.
pub(crate) fn from_sorted(ids: &[u32]) -> Option<RoaringBitmap> {
    let mut b = SortedBuilder::with_capacity(ids.len());
    for &id in ids {
        if !b.push(id) {
            return None;
        }
    }
    Some(b.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn edge_cases() {
        assert_eq!(from_sorted(&[]), Some(RoaringBitmap::new()));
        assert_eq!(from_sorted(&[2, 1]), None);
        assert_eq!(from_sorted(&[1, 1]), None);
        let dense: Vec<u32> = (65_000..140_000).collect();
        let b = from_sorted(&dense).unwrap();
        assert!(b.iter().eq(dense.iter().copied()));
        let top = [0, u32::MAX - 1, u32::MAX];
        assert!(from_sorted(&top).unwrap().iter().eq(top));
        let mut b = SortedBuilder::default();
        assert!(b.push(5) && !b.push(5) && !b.push(4) && b.push(6));
        assert!(b.finish().iter().eq([5, 6]));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Sparse and dense containers (often more than 4,096 ids in the container of
        /// 131,072..196,608), and ids anywhere.
        #[test]
        fn same_as_from_sorted_iter(
            low in proptest::collection::vec(0u32..70_000, 0..3000),
            dense in proptest::collection::vec(131_072u32..141_072, 0..8000),
            any_ids in proptest::collection::vec(any::<u32>(), 0..50),
        ) {
            let mut ids: Vec<u32> = low.into_iter().chain(dense).chain(any_ids).collect();
            ids.sort_unstable();
            ids.dedup();
            let want = RoaringBitmap::from_sorted_iter(ids.iter().copied()).unwrap();
            prop_assert_eq!(from_sorted(&ids), Some(want));
        }
    }
}
