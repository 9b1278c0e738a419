//! Compaction: adjacent raw segments merged into larger time ranges, level by level.
//!
//! # The plan
//!
//! Segments cut from the head cover one block range (2 h by default) each, plus the
//! overlapping segments of late samples. Level `k` merges everything inside an aligned
//! window of [`LEVEL_SPANS`]`[k-1]` block ranges (6 h, then 24 h with the default block
//! range, Prometheus's 2 h → 6 h → 18 h ladder bent to whole days so that retention can
//! later drop whole days) once the window is complete: the head is persisted past its
//! end, so no in-order sample can still land in it. Candidates are the raw segments
//! inside the window that are smaller than the window, and a segment already as large as
//! the window when late segments arrived beside it; a plan needs two of them. The oldest
//! complete window of the lowest level goes first; [`Db::compact`] runs plans until none
//! is due. Nothing ever merges across a window boundary, so a retention cut made on
//! window boundaries never splits a segment.
//!
//! # Locking
//!
//! A compaction (and a rollup, `downsample.rs`) plans under the persist lock, writes its
//! segment without it, and takes it again to commit: persists, deletions and retention
//! go on while a large merge writes. The rewrite lock keeps rewrites (compaction,
//! downsampling, moves to the cold tier) one at a time. At the commit, a plan whose
//! inputs are no longer all listed (a retention step removed one meanwhile) is dropped
//! with the segment it wrote, and planned again; segments persisted meanwhile stay
//! beside the new one. Deletion requests made meanwhile are applied at read time, as to
//! everything else.
//!
//! # A step
//!
//! 1. Stream the parents' series in label order (a k-way merge over their indexes, one
//!    series' chunk handles in memory at a time), each series' samples merged (the
//!    parent listed first in the manifest wins a duplicate timestamp, as in queries),
//!    deleted intervals dropped, re-encoded into chunks of up to 1024 samples, through
//!    the one segment writer into `segments/NNNNNNNN.tmp/`, fsynced and renamed.
//! 2. Commit `MANIFEST` with the new segment in place of its parents (its `sources`: the
//!    level-0 segments whose data it holds; its `parents`: the segments it replaced).
//! 3. Publish: new queriers see the new segment instead of the parents.
//! 4. Remove the parents' directories once no querier that started before step 3 lives.
//!
//! A crash before step 2 leaves a directory the manifest does not list (removed on
//! open); after it, the parents are unlisted leftovers (removed on open). Either the old
//! set or the new set is visible, never both, never neither.
//!
//! Deletions are applied to the data written, but the deletion requests stay: they are
//! still applied at read time to whatever else they cover (the head, other segments).

use std::cmp::Ordering;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tsdb_compress::{Chunk, ChunkOptions, Sample};
use tsdb_index::Labels;

use super::persist::segment_name;
use super::{Db, Inner, PersistState, SEGMENTS_DIR};
use crate::deletes::{intervals_for, Deletion};
use crate::error::{Error, Result};
use crate::manifest::{Manifest, SegmentEntry};
use crate::segment::write::{write_segment, SegmentSpec, SeriesSource, SourceSeries};
use crate::segment::Segment;
use crate::series_iter::{ChunkHandle, SeriesIter};

/// The window of each compaction level, in block ranges: level 1 merges into windows of
/// 3 block ranges (6 h by default), level 2 into 12 (24 h).
pub const LEVEL_SPANS: [i64; 2] = [3, 12];

/// One compaction to run: the parents (manifest entries) merged into one segment of
/// `level` covering `[min_t, max_t)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Plan {
    pub(crate) level: u32,
    pub(crate) min_t: i64,
    pub(crate) max_t: i64,
    /// Parents' sequence numbers, in manifest order.
    pub(crate) parents: Vec<u32>,
}

/// What [`Db::compact`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CompactStats {
    /// Segments written.
    pub segments_written: usize,
    /// Segments they replaced.
    pub segments_replaced: usize,
    /// Samples in the segments written.
    pub samples: u64,
    /// Bytes on disk of the replaced segments, and of the segments replacing them.
    pub bytes_before: u64,
    /// See `bytes_before`.
    pub bytes_after: u64,
    /// Time spent.
    pub duration: Duration,
}

/// The oldest complete window of the lowest level with two candidates, if any.
pub(crate) fn plan(manifest: &Manifest, block_range_ms: i64) -> Option<Plan> {
    let raw: Vec<&SegmentEntry> = manifest
        .segments
        .iter()
        .filter(|s| s.resolution_ms == 0)
        .collect();
    for (i, &span) in LEVEL_SPANS.iter().enumerate() {
        let window = block_range_ms.saturating_mul(span);
        if window <= 0 {
            continue;
        }
        let level = u32::try_from(i + 1).unwrap_or(u32::MAX);
        // windows holding a candidate, oldest first
        let mut starts: Vec<i64> = raw
            .iter()
            .map(|s| s.min_t.div_euclid(window).saturating_mul(window))
            .collect();
        starts.sort_unstable();
        starts.dedup();
        for start in starts {
            let end = start.saturating_add(window);
            if end > manifest.persisted_until {
                break; // not complete, nor any later window
            }
            let inside: Vec<&SegmentEntry> = raw
                .iter()
                .copied()
                .filter(|s| s.min_t >= start && s.max_t <= end)
                .collect();
            let smaller = inside
                .iter()
                .filter(|s| s.max_t.saturating_sub(s.min_t) < window)
                .count();
            if inside.len() >= 2 && smaller >= 1 {
                return Some(Plan {
                    level,
                    min_t: inside.iter().map(|s| s.min_t).min().unwrap_or(start),
                    max_t: inside.iter().map(|s| s.max_t).max().unwrap_or(end),
                    parents: inside.iter().map(|s| s.seq).collect(),
                });
            }
        }
    }
    None
}

impl Db {
    /// Runs every compaction that is due (see the module docs of `compact`) and returns
    /// what it did. The maintenance owner calls this after each persist; tools call it to
    /// compact a data directory to completion.
    pub fn compact(&self) -> Result<CompactStats> {
        self.inner.compact(&mut |_| {})
    }

    /// [`Db::compact`], telling `progress` about each step before it runs (for a tool's
    /// progress display).
    pub fn compact_with_progress(
        &self,
        progress: &mut dyn FnMut(&RewriteStep),
    ) -> Result<CompactStats> {
        self.inner.compact(progress)
    }
}

/// One step of a compaction or a downsampling, as a progress display shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RewriteStep {
    /// `"compact"`, `"rollup"` or `"merge rollups"`.
    pub what: &'static str,
    /// The time range written (milliseconds, `[min_t, max_t)`).
    pub min_t: i64,
    /// See `min_t`.
    pub max_t: i64,
    /// 0 for raw data, else the rollup resolution.
    pub resolution_ms: i64,
    /// Segments read.
    pub inputs: usize,
    /// Steps run so far in this call, this one included.
    pub number: usize,
}

impl Inner {
    pub(crate) fn compact(&self, progress: &mut dyn FnMut(&RewriteStep)) -> Result<CompactStats> {
        if self.wal.is_none() {
            return Err(Error::ReadOnly);
        }
        let started = Instant::now();
        let mut stats = CompactStats::default();
        let _rewrite = self.rewrite.lock();
        let mut number = 0;
        loop {
            // plan, under the persist lock
            let (plan, parents, seq) = {
                let mut p = self.persist.lock();
                self.remove_replaced(&mut p);
                let Some(plan) = plan(&p.manifest, self.options.block_range_ms) else {
                    break;
                };
                let parents = self.live_segments(&plan.parents)?;
                (plan, parents, self.next_seq(&mut p))
            };
            number += 1;
            progress(&RewriteStep {
                what: "compact",
                min_t: plan.min_t,
                max_t: plan.max_t,
                resolution_ms: 0,
                inputs: parents.len(),
                number,
            });
            // write, without it
            let new = self.write_merged(&plan, &parents, seq)?;
            // commit, under it
            let mut p = self.persist.lock();
            let Some(new) = self.still_planned(&p, &plan.parents, seq, new) else {
                continue;
            };
            let new_segment = new.map(|segment| {
                let entry = SegmentEntry {
                    seq,
                    min_t: plan.min_t,
                    max_t: plan.max_t,
                    resolution_ms: 0,
                    level: plan.level,
                    sources: sources_of(&p.manifest, &plan.parents),
                    parents: plan.parents.clone(),
                };
                (entry, segment)
            });
            if let Some((_, n)) = &new_segment {
                stats.samples += n.meta().samples;
                stats.bytes_after += n.bytes_on_disk();
            }
            stats.segments_written += usize::from(new_segment.is_some());
            stats.segments_replaced += parents.len();
            stats.bytes_before += parents.iter().map(|s| s.bytes_on_disk()).sum::<u64>();
            self.swap_segments(&mut p, &parents, new_segment)?;
        }
        let mut p = self.persist.lock();
        self.remove_replaced(&mut p);
        stats.duration = started.elapsed();
        Ok(stats)
    }

    /// Writes the merge of `parents` as segment `seq`; `None` when everything in them
    /// was deleted.
    fn write_merged(
        &self,
        plan: &Plan,
        parents: &[Arc<Segment>],
        seq: u32,
    ) -> Result<Option<Arc<Segment>>> {
        let deletions = self.state.read().deletions.clone();
        let dir = self.dir.join(SEGMENTS_DIR).join(segment_name(seq));
        let spec = SegmentSpec {
            min_t: plan.min_t,
            max_t: plan.max_t,
            resolution_ms: 0,
            level: plan.level,
        };
        let mut source = MergeSource::new(parents, plan.min_t, plan.max_t, &deletions);
        match write_segment(&*self.options.fs, &dir, spec, &mut source)? {
            Some(_) => Ok(Some(Arc::new(Segment::open(&*self.options.fs, &dir)?))),
            None => Ok(None),
        }
    }

    /// A new segment number, used up whatever happens (a step that fails leaves a
    /// leftover directory the next open removes).
    pub(super) fn next_seq(&self, p: &mut PersistState) -> u32 {
        let seq = p.manifest.next_seq;
        p.manifest.next_seq = seq.saturating_add(1);
        seq
    }

    /// Whether a rewrite planned over `inputs` can still commit: they are all still
    /// listed (a deletion or a retention step that ran while it wrote may have removed
    /// one). If not, the segment written (`new`, number `seq`) is discarded (its
    /// directory removed now, or on the next open) and the next plan starts over.
    pub(super) fn still_planned<T>(
        &self,
        p: &PersistState,
        inputs: &[u32],
        seq: u32,
        new: T,
    ) -> Option<T> {
        if inputs
            .iter()
            .all(|i| p.manifest.segments.iter().any(|s| s.seq == *i))
        {
            return Some(new);
        }
        let dir = self.dir.join(SEGMENTS_DIR).join(segment_name(seq));
        let _ = self.options.fs.remove_dir_all(&dir);
        None
    }

    /// Commits `MANIFEST` with `new` (if any) in the place of the first of `old` and
    /// without `old`, publishes the new list to new queriers, and queues `old`'s
    /// directories for removal once no querier that could read them lives. The one
    /// commit step of compaction, downsampling and retention.
    pub(super) fn swap_segments(
        &self,
        p: &mut PersistState,
        old: &[Arc<Segment>],
        new: Option<(SegmentEntry, Arc<Segment>)>,
    ) -> Result<()> {
        let old_seqs: Vec<u32> = old.iter().filter_map(|s| seq_of(s)).collect();
        let mut next = p.manifest.clone();
        let position = next
            .segments
            .iter()
            .position(|s| old_seqs.contains(&s.seq))
            .unwrap_or(next.segments.len());
        next.segments.retain(|s| !old_seqs.contains(&s.seq));
        if let Some((entry, _)) = &new {
            next.segments
                .insert(position.min(next.segments.len()), entry.clone());
        }
        next.commit(&*self.options.fs, &self.dir)?;
        p.manifest = next;
        let new_segment = new.map(|(_, s)| s);
        let generation = {
            let mut state = self.state.write();
            let mut list: Vec<Arc<Segment>> = Vec::with_capacity(state.segments.len() + 1);
            let mut placed = false;
            for s in state.segments.iter() {
                // by number: the same segment may be open twice (hot and cold copies)
                if seq_of(s).is_some_and(|n| old_seqs.contains(&n)) {
                    if !placed {
                        list.extend(new_segment.clone());
                        placed = true;
                    }
                } else {
                    list.push(s.clone());
                }
            }
            if !placed {
                list.extend(new_segment);
            }
            state.segments = Arc::new(list);
            state.generation += 1;
            state.manifest_generation = p.manifest.generation;
            state.generation
        };
        if !old.is_empty() {
            p.pending_removals.push((
                generation,
                old.iter().map(|s| s.dir().to_path_buf()).collect(),
            ));
        }
        Ok(())
    }

    /// Removes the directories of replaced segments once no querier that could still
    /// read them lives. A failure is retried at the next call (and on open, where
    /// unlisted directories are removed).
    pub(super) fn remove_replaced(&self, p: &mut PersistState) {
        let oldest = self.readers.oldest_generation();
        let fs = &*self.options.fs;
        p.pending_removals.retain(|(generation, dirs)| {
            if *generation > oldest {
                return true;
            }
            let mut failed = false;
            for d in dirs {
                if fs.list_dir(d).is_ok() && fs.remove_dir_all(d).is_err() {
                    failed = true;
                }
            }
            failed
        });
    }
}

/// A live segment's sequence number, from its directory name.
pub(crate) fn seq_of(s: &Segment) -> Option<u32> {
    s.dir().file_name()?.to_str()?.parse().ok()
}

/// The level-0 segments whose data the manifest entries `seqs` hold, sorted.
pub(crate) fn sources_of(manifest: &Manifest, seqs: &[u32]) -> Vec<u32> {
    let mut sources: Vec<u32> = manifest
        .segments
        .iter()
        .filter(|s| seqs.contains(&s.seq))
        .flat_map(|s| {
            if s.level == 0 && s.resolution_ms == 0 {
                vec![s.seq]
            } else {
                s.sources.clone()
            }
        })
        .collect();
    sources.sort_unstable();
    sources.dedup();
    sources
}

/// One parent's series in label order (its index's id order).
struct Cursor {
    segment: Arc<Segment>,
    next_id: u32,
    current: Option<(Labels, Vec<ChunkHandle>)>,
}

impl Cursor {
    fn advance(&mut self, mint: i64, maxt: i64) -> Result<()> {
        self.current = None;
        while self.next_id < self.segment.series_count() {
            let id = self.next_id;
            self.next_id += 1;
            let (labels, handles) = self.segment.series(id, mint, maxt)?;
            if !handles.is_empty() {
                self.current = Some((labels, handles));
                return Ok(());
            }
        }
        Ok(())
    }
}

/// Which series a merge keeps (all of them when `None`).
pub(crate) type SeriesFilter<'a> = Option<&'a (dyn Fn(&Labels) -> bool + Sync)>;

/// The merged series of a compaction's parents, as a [`SeriesSource`] (and, sample by
/// sample, as the input of a rollup).
pub(crate) struct MergeSource<'a> {
    cursors: Vec<Cursor>,
    started: bool,
    mint: i64,
    /// Exclusive.
    maxt: i64,
    deletions: &'a [Deletion],
    filter: SeriesFilter<'a>,
    samples: Vec<Sample>,
}

impl<'a> MergeSource<'a> {
    pub(crate) fn new(
        parents: &[Arc<Segment>],
        mint: i64,
        maxt: i64,
        deletions: &'a [Deletion],
    ) -> Self {
        MergeSource {
            cursors: parents
                .iter()
                .map(|s| Cursor {
                    segment: s.clone(),
                    next_id: 0,
                    current: None,
                })
                .collect(),
            started: false,
            mint,
            maxt,
            deletions,
            filter: None,
            samples: Vec::new(),
        }
    }

    /// Keeps only the series `filter` accepts.
    pub(crate) fn with_filter(mut self, filter: SeriesFilter<'a>) -> Self {
        self.filter = filter;
        self
    }

    /// The next series in label order with its merged samples (deletions applied,
    /// never empty), or `None` at the end.
    pub(crate) fn next_samples(&mut self) -> Result<Option<(Labels, &[Sample])>> {
        let (mint, maxt) = (self.mint, self.maxt.saturating_sub(1));
        if !self.started {
            self.started = true;
            for c in &mut self.cursors {
                c.advance(mint, maxt)?;
            }
        }
        loop {
            // the smallest label set among the cursors
            let mut least: Option<&Labels> = None;
            for c in &self.cursors {
                if let Some((l, _)) = &c.current {
                    if least.is_none_or(|m| l.cmp(m) == Ordering::Less) {
                        least = Some(l);
                    }
                }
            }
            let Some(least) = least.cloned() else {
                return Ok(None);
            };
            // its chunks from every parent holding it, in parent (priority) order
            let mut handles = Vec::new();
            for c in &mut self.cursors {
                if c.current.as_ref().is_some_and(|(l, _)| *l == least) {
                    if let Some((_, h)) = c.current.take() {
                        handles.extend(h);
                    }
                    c.advance(mint, maxt)?;
                }
            }
            if self.filter.is_some_and(|f| !f(&least)) {
                continue;
            }
            let deleted: Arc<[(i64, i64)]> = Arc::from(intervals_for(self.deletions, &least));
            self.samples.clear();
            for s in SeriesIter::new(handles, mint, maxt, deleted) {
                self.samples.push(s?);
            }
            if self.samples.is_empty() {
                continue; // all of it deleted
            }
            return Ok(Some((least, &self.samples)));
        }
    }
}

impl SeriesSource for MergeSource<'_> {
    fn next_series(&mut self) -> Result<Option<SourceSeries>> {
        let Some((labels, samples)) = self.next_samples()? else {
            return Ok(None);
        };
        let chunks: Vec<Chunk> = Chunk::encode_series(
            samples,
            ChunkOptions {
                max_samples: tsdb_compress::chunk::DEFAULT_MAX_SAMPLES,
            },
        )
        .map_err(|e| Error::invariant(format!("re-encoding {labels} in a compaction: {e}")))?;
        Ok(Some(SourceSeries::raw(labels, chunks)))
    }
}

/// Directories removed later; kept in [`PersistState`].
pub(crate) type PendingRemovals = Vec<(u64, Vec<PathBuf>)>;
