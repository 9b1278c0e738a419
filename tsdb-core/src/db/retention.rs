//! Retention: whole segments past the retention time, and the oldest ones past the size
//! budget, deleted by the maintenance owner.
//!
//! A segment goes when its whole range is older than `now - retention_ms`, or than
//! `now - ` the longest time a downsampling rule keeps its resolution (the clock's now:
//! `tsdb compact --now` replays with a fixed one; a raw segment only once its data is in
//! the rollups of every resolution the rules name); then, while the segments take
//! more than `retention_bytes`, the oldest (by end time) go, never the newest. The step
//! commits `MANIFEST` without them, publishes the shorter list, and removes their
//! directories once no querier that could still read them lives (as compaction does).
//! A crash after the commit leaves unlisted directories, removed on open.

use std::sync::Arc;

use super::compact::{seq_of, sources_of};
use super::downsample::{rollup_window, EmptyRollup};
use super::{Db, Inner};
use crate::error::{Error, Result};
use crate::manifest::{Manifest, SegmentEntry};
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

/// The sequence numbers to delete: `(seq, max_t, bytes, expired)` of every live segment
/// in, expired ones first, then the oldest while over the budget.
pub(crate) fn plan_retention(
    segments: &[(u32, i64, u64, bool)],
    retention_bytes: Option<u64>,
) -> (Vec<u32>, Vec<u32>) {
    let expired: Vec<u32> = segments
        .iter()
        .filter(|s| s.3)
        .map(|&(seq, _, _, _)| seq)
        .collect();
    let mut over = Vec::new();
    if let Some(budget) = retention_bytes {
        let mut left: Vec<&(u32, i64, u64, bool)> = segments
            .iter()
            .filter(|(seq, _, _, _)| !expired.contains(seq))
            .collect();
        left.sort_by_key(|&&(seq, max_t, _, _)| (max_t, seq));
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

/// Whether raw segment `entry`'s data is in rollups of every resolution the rules name
/// (or was found to have no series for one): only then may the downsampling rules delete
/// it, so that a rollup that failed or is late never leaves the raw data the only copy
/// to be deleted.
fn rolled_up(
    manifest: &Manifest,
    entry: &SegmentEntry,
    resolutions: &[i64],
    empty: &[EmptyRollup],
) -> bool {
    let own = sources_of(manifest, &[entry.seq]);
    resolutions.iter().all(|&res| {
        let in_rollups = manifest.segments.iter().any(|s| {
            i64::try_from(s.resolution_ms) == Ok(res)
                && s.min_t <= entry.min_t
                && s.max_t > entry.max_t
                && own.iter().all(|x| s.sources.contains(x))
        });
        in_rollups
            || empty
                .iter()
                .any(|(_, r, src)| *r == res && own.iter().all(|x| src.contains(x)))
    })
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
        let rules = &self.options.downsampling;
        if retention_ms.is_none() && retention_bytes.is_none() && rules.is_none() {
            return Ok(RetentionStats::default());
        }
        let now = self.options.clock.now_ms();
        let resolutions = rules.resolutions();
        let mut p = self.persist.lock();
        self.remove_replaced(&mut p);
        let live: Vec<Arc<Segment>> = self.state.read().segments.as_ref().clone();
        // Raw segments go by the rules a whole rollup window at a time, once every raw
        // segment of the window is in the rollups: the rollups of a window are read only
        // where no raw data of the window is left (`querier::tiers`), so deleting part
        // of a window's raw data would hide the rest of it.
        let window = rollup_window(self.options.block_range_ms).max(1);
        let window_of = |e: &SegmentEntry| e.min_t.div_euclid(window);
        let mut unrolled_windows: Vec<i64> = p
            .manifest
            .segments
            .iter()
            .filter(|e| {
                e.resolution_ms == 0 && !rolled_up(&p.manifest, e, &resolutions, &p.empty_rollups)
            })
            .map(window_of)
            .collect();
        unrolled_windows.sort_unstable();
        unrolled_windows.dedup();
        let listed: Vec<(u32, i64, u64, bool)> = live
            .iter()
            .filter_map(|s| {
                let seq = seq_of(s)?;
                let entry = p.manifest.segments.iter().find(|e| e.seq == seq)?;
                let res = i64::try_from(entry.resolution_ms).ok()?;
                let max_t = s.meta().max_t;
                let by_rule = rules.keep_ms(res).is_some_and(|keep| {
                    let cutoff = now.saturating_sub(keep);
                    if res != 0 {
                        return max_t <= cutoff;
                    }
                    let w = window_of(entry);
                    let window_end = w.saturating_add(1).saturating_mul(window);
                    window_end <= cutoff && unrolled_windows.binary_search(&w).is_err()
                });
                let by_age = retention_ms.is_some_and(|r| max_t <= now.saturating_sub(r));
                Some((seq, max_t, s.bytes_on_disk(), by_rule || by_age))
            })
            .collect();
        let (expired, over) = plan_retention(&listed, retention_bytes);
        if expired.is_empty() && over.is_empty() {
            return Ok(RetentionStats::default());
        }
        let doomed = |seq: u32| expired.contains(&seq) || over.contains(&seq);
        let gone: Vec<Arc<Segment>> = live
            .iter()
            .filter(|s| seq_of(s).is_some_and(doomed))
            .cloned()
            .collect();
        self.swap_segments(&mut p, &gone, None)?;
        // what queries return changed there (raw data gone, or read from rollups now):
        // caches of answers over those times must drop them
        for s in &gone {
            let m = s.meta();
            self.options
                .observer
                .deleted(m.min_t, m.max_t.saturating_sub(1));
        }
        let stats = RetentionStats {
            expired: expired.len(),
            over_budget: over.len(),
            bytes: gone.iter().map(|s| s.bytes_on_disk()).sum(),
        };
        self.remove_replaced(&mut p);
        Ok(stats)
    }
}

#[cfg(test)]
mod tests {
    use super::plan_retention;

    #[test]
    fn expired_then_oldest_over_budget_never_the_newest() {
        let segs = |expired: [bool; 4]| {
            let mut v = [(1, 100, 10), (2, 200, 10), (3, 300, 10), (4, 400, 10)]
                .map(|(seq, max_t, bytes)| (seq, max_t, bytes, false));
            for (s, e) in v.iter_mut().zip(expired) {
                s.3 = e;
            }
            v
        };
        let none = [false; 4];
        assert_eq!(
            plan_retention(&segs([true, true, false, false]), None),
            (vec![1, 2], vec![])
        );
        assert_eq!(plan_retention(&segs(none), Some(25)), (vec![], vec![1, 2]));
        assert_eq!(
            plan_retention(&segs([true, false, false, false]), Some(15)),
            (vec![1], vec![2, 3])
        );
        // the newest stays even over the budget
        assert_eq!(
            plan_retention(&segs(none), Some(0)),
            (vec![], vec![1, 2, 3])
        );
        assert_eq!(plan_retention(&segs(none), None), (vec![], vec![]));
    }
}
