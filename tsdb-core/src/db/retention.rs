//! Retention: whole segments past the retention time, and the oldest ones past the size
//! budget, deleted by the maintenance owner.
//!
//! A segment goes when its whole range is older than `now - retention_ms` (the clock's
//! now: `tsdb compact --now` replays with a fixed one); then, while the segments take
//! more than `retention_bytes`, the oldest (by end time) go, never the newest. The step
//! commits `MANIFEST` without them, publishes the shorter list, and removes their
//! directories once no querier that could still read them lives (as compaction does).
//! A crash after the commit leaves unlisted directories, removed on open.

use std::sync::Arc;

use super::{Db, Inner};
use crate::error::{Error, Result};
use crate::manifest::Manifest;
use crate::segment::Segment;

/// What a retention step deleted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RetentionStats {
    /// Segments deleted for their age.
    pub expired: usize,
    /// Segments deleted for the size budget.
    pub over_budget: usize,
    /// Bytes they took.
    pub bytes: u64,
}

/// The sequence numbers to delete: `(seq, max_t, bytes)` of every live segment in,
/// expired ones first, then the oldest while over the budget.
pub(crate) fn plan_retention(
    segments: &[(u32, i64, u64)],
    now: i64,
    retention_ms: Option<i64>,
    retention_bytes: Option<u64>,
) -> (Vec<u32>, Vec<u32>) {
    let cutoff = retention_ms.map(|r| now.saturating_sub(r));
    let expired: Vec<u32> = segments
        .iter()
        .filter(|&&(_, max_t, _)| cutoff.is_some_and(|c| max_t <= c))
        .map(|&(seq, _, _)| seq)
        .collect();
    let mut over = Vec::new();
    if let Some(budget) = retention_bytes {
        let mut left: Vec<&(u32, i64, u64)> = segments
            .iter()
            .filter(|(seq, _, _)| !expired.contains(seq))
            .collect();
        left.sort_by_key(|&&(seq, max_t, _)| (max_t, seq));
        let mut total: u64 = left.iter().map(|s| s.2).sum();
        for s in &left[..left.len().saturating_sub(1)] {
            if total <= budget {
                break;
            }
            total = total.saturating_sub(s.2);
            over.push(s.0);
        }
    }
    (expired, over)
}

impl Db {
    /// Deletes the segments past `Options::retention_ms` or over `retention_bytes` now;
    /// the maintenance owner runs it after compaction.
    pub fn apply_retention(&self) -> Result<RetentionStats> {
        self.inner.apply_retention()
    }
}

impl Inner {
    pub(crate) fn apply_retention(&self) -> Result<RetentionStats> {
        if self.wal.is_none() {
            return Err(Error::ReadOnly);
        }
        let (retention_ms, retention_bytes) =
            (self.options.retention_ms, self.options.retention_bytes);
        if retention_ms.is_none() && retention_bytes.is_none() {
            return Ok(RetentionStats::default());
        }
        let now = self.options.clock.now_ms();
        let mut p = self.persist.lock();
        self.remove_replaced(&mut p);
        let live: Vec<Arc<Segment>> = self.state.read().segments.as_ref().clone();
        let seq_of = |s: &Segment| -> Option<u32> { s.dir().file_name()?.to_str()?.parse().ok() };
        let listed: Vec<(u32, i64, u64)> = live
            .iter()
            .filter_map(|s| Some((seq_of(s)?, s.meta().max_t, s.bytes_on_disk())))
            .collect();
        let (expired, over) = plan_retention(&listed, now, retention_ms, retention_bytes);
        if expired.is_empty() && over.is_empty() {
            return Ok(RetentionStats::default());
        }
        let doomed = |seq: u32| expired.contains(&seq) || over.contains(&seq);
        let mut next: Manifest = p.manifest.clone();
        next.segments.retain(|s| !doomed(s.seq));
        next.commit(&*self.options.fs, &self.dir)?;
        p.manifest = next;
        let gone: Vec<Arc<Segment>> = live
            .iter()
            .filter(|s| seq_of(s).is_some_and(doomed))
            .cloned()
            .collect();
        let generation = {
            let mut state = self.state.write();
            let list: Vec<Arc<Segment>> = state
                .segments
                .iter()
                .filter(|s| !gone.iter().any(|g| Arc::ptr_eq(g, s)))
                .cloned()
                .collect();
            state.segments = Arc::new(list);
            state.generation += 1;
            state.manifest_generation = p.manifest.generation;
            state.generation
        };
        let stats = RetentionStats {
            expired: expired.len(),
            over_budget: over.len(),
            bytes: gone.iter().map(|s| s.bytes_on_disk()).sum(),
        };
        p.pending_removals.push((
            generation,
            gone.iter().map(|s| s.dir().to_path_buf()).collect(),
        ));
        self.remove_replaced(&mut p);
        Ok(stats)
    }
}

#[cfg(test)]
mod tests {
    use super::plan_retention;

    #[test]
    fn expired_then_oldest_over_budget_never_the_newest() {
        let segs = [(1, 100, 10), (2, 200, 10), (3, 300, 10), (4, 400, 10)];
        assert_eq!(
            plan_retention(&segs, 450, Some(200), None),
            (vec![1, 2], vec![])
        );
        assert_eq!(
            plan_retention(&segs, 450, None, Some(25)),
            (vec![], vec![1, 2])
        );
        assert_eq!(
            plan_retention(&segs, 450, Some(300), Some(15)),
            (vec![1], vec![2, 3])
        );
        // the newest stays even over the budget
        assert_eq!(
            plan_retention(&segs, 450, None, Some(0)),
            (vec![], vec![1, 2, 3])
        );
        assert_eq!(plan_retention(&segs, 450, None, None), (vec![], vec![]));
    }
}
