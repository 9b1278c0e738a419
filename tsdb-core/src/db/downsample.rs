//! Downsampling: rollup segments computed from raw segments, per resolution of the
//! [`Downsampling`](crate::Downsampling) rules.
//!
//! # The plan
//!
//! The unit is the rollup window, the widest compaction window ([`LEVEL_SPANS`]'s last
//! times the block range: 24 h by default). Once a window is complete (the head is
//! persisted past its end) and compaction has merged its raw segments, every resolution
//! a rule names gets a rollup segment of the window: the buckets `(end - R, end]` of the
//! raw samples in `[start, end)` of the series whose rule has that resolution. Its bucket
//! ends lie in `[start, end]` (a sample at exactly `start` is in the bucket ending there;
//! the samples just before `end` in the bucket ending at `end`), so its range is
//! `[start, end + 1)`, and the bucket at a window boundary has a part in each of the two
//! windows' rollups, which readers merge ([`Aggregate::merge`] is exact across it).
//!
//! A rollup segment records the raw level-0 segments it was computed from (`sources`).
//! When late samples later add raw data to the window (compaction merges them into the
//! window's segment, whose sources grow), the window's rollups are computed again from
//! the raw data and replace the old ones in one manifest commit. Should raw data arrive
//! for a window whose older raw segments are already gone, it is rolled up into an
//! additional segment beside the old rollups, never replacing them.
//!
//! # Merging rollups
//!
//! One window of a coarse resolution holds few buckets (24 of 1 h), so each series
//! would pay its index entry and eleven chunk headers for them. Once no finer tier (raw
//! or a finer rollup) holds segments for a span of windows any more, so that nothing
//! can change them or be read instead of them, the window rollups of a resolution `R`
//! are merged into one segment per aligned span of `max(1, 1024 R / window)` windows
//! (42 days at 1 h; 1 m rollups fill a chunk in a day and are never merged), copies of
//! a bucket at window boundaries merged into one.
//!
//! # A step
//!
//! Written through the one segment writer (`segments/NNNNNNNN.tmp/`, fsync, rename) and
//! committed through the manifest as a compaction is: a crash before the commit leaves
//! an unlisted directory (removed on open), after it the replaced rollups unlisted
//! (removed on open); the raw segments are never touched, so a crash never loses the
//! only copy.
//!
//! [`LEVEL_SPANS`]: super::compact::LEVEL_SPANS
//! [`Aggregate::merge`]: crate::rollup::Aggregate::merge

use std::sync::Arc;
use std::time::{Duration, Instant};

use tsdb_compress::{Chunk, ChunkOptions, Sample};
use tsdb_index::Labels;

use super::compact::{seq_of, sources_of, MergeSource, RewriteStep, LEVEL_SPANS};
use super::persist::segment_name;
use super::{Db, Inner, SEGMENTS_DIR};
use crate::error::{Error, Result};
use crate::manifest::{Manifest, SegmentEntry};
use crate::rollup::{columns_of, merge_same_ends, rollup, Bucket, COLUMNS, REFERENCE};
use crate::segment::write::{write_segment, SegmentSpec, SeriesSource, SourceChunk, SourceSeries};
use crate::segment::{RollupGroup, Segment};

/// Buckets per rollup chunk.
const BUCKETS_PER_CHUNK: usize = 1024;
const BUCKETS_PER_CHUNK_I64: i64 = 1024;

/// One rollup to compute: the raw segments of a window rolled up at one resolution,
/// replacing the window's older rollups of that resolution.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RollupPlan {
    pub(crate) resolution_ms: i64,
    pub(crate) start: i64,
    pub(crate) end: i64,
    /// Raw segments rolled up.
    pub(crate) raw: Vec<u32>,
    /// Rollup segments replaced.
    pub(crate) replaces: Vec<u32>,
}

/// A window rolled up at a resolution into nothing (no series of it has that
/// resolution): `(start, resolution, raw sources)`.
pub(crate) type EmptyRollup = (i64, i64, Vec<u32>);

/// What [`Db::downsample`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DownsampleStats {
    /// Rollup segments written.
    pub segments_written: usize,
    /// Older rollup segments they replaced (recomputed after late data).
    pub segments_replaced: usize,
    /// Window rollups merged into span segments.
    pub rollups_merged: usize,
    /// Raw samples read.
    pub samples_read: u64,
    /// Buckets written.
    pub buckets: u64,
    /// Bytes on disk of the segments written.
    pub bytes: u64,
    /// Time spent.
    pub duration: Duration,
}

/// The rollup window of a block range: the widest compaction window.
pub(crate) fn rollup_window(block_range_ms: i64) -> i64 {
    block_range_ms.saturating_mul(LEVEL_SPANS[LEVEL_SPANS.len() - 1])
}

fn is_subset(a: &[u32], b: &[u32]) -> bool {
    a.iter().all(|x| b.contains(x))
}

/// The oldest rollup due, if any (see the module docs).
pub(crate) fn plan_rollups(
    manifest: &Manifest,
    window: i64,
    resolutions: &[i64],
    empty: &[EmptyRollup],
) -> Option<RollupPlan> {
    if window <= 0 || resolutions.is_empty() {
        return None;
    }
    let raw: Vec<&SegmentEntry> = manifest
        .segments
        .iter()
        .filter(|s| s.resolution_ms == 0)
        .collect();
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
        if inside.is_empty() {
            continue;
        }
        let inside_seqs: Vec<u32> = inside.iter().map(|s| s.seq).collect();
        let raw_sources = sources_of(manifest, &inside_seqs);
        for &res in resolutions {
            let Ok(res_u) = u64::try_from(res) else {
                continue;
            };
            let rollups: Vec<&SegmentEntry> = manifest
                .segments
                .iter()
                .filter(|s| s.resolution_ms == res_u && s.min_t <= start && s.max_t > end)
                .collect();
            let rollup_seqs: Vec<u32> = rollups.iter().map(|s| s.seq).collect();
            let rolled: Vec<u32> = {
                let mut v: Vec<u32> = rollups.iter().flat_map(|s| s.sources.clone()).collect();
                v.sort_unstable();
                v.dedup();
                v
            };
            if is_subset(&raw_sources, &rolled)
                || empty
                    .iter()
                    .any(|(s, r, src)| *s == start && *r == res && *src == raw_sources)
            {
                continue; // up to date
            }
            let own_window = rollups
                .iter()
                .all(|s| s.min_t == start && s.max_t == end.saturating_add(1));
            if own_window && is_subset(&rolled, &raw_sources) {
                // first rollup, or recomputed from the raw data that now holds more
                return Some(RollupPlan {
                    resolution_ms: res,
                    start,
                    end,
                    raw: inside_seqs,
                    replaces: rollup_seqs,
                });
            }
            // raw data the rollups lack, beside rollups whose raw data is gone: roll up
            // what is new beside them
            let new_raw: Vec<u32> = inside
                .iter()
                .filter(|s| {
                    let own = sources_of(manifest, &[s.seq]);
                    !own.iter().any(|x| rolled.contains(x))
                })
                .map(|s| s.seq)
                .collect();
            if !new_raw.is_empty() {
                return Some(RollupPlan {
                    resolution_ms: res,
                    start,
                    end,
                    raw: new_raw,
                    replaces: Vec::new(),
                });
            }
        }
    }
    None
}

/// One merge of window rollups of one resolution into a span segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RollupMerge {
    pub(crate) resolution_ms: i64,
    pub(crate) min_t: i64,
    pub(crate) max_t: i64,
    pub(crate) parents: Vec<u32>,
}

/// Windows in a merged span of rollups of `resolution_ms`.
pub(crate) fn span_windows(resolution_ms: i64, window: i64) -> i64 {
    (resolution_ms.saturating_mul(BUCKETS_PER_CHUNK_I64) / window.max(1)).max(1)
}

/// The oldest merge of window rollups due, if any (see "Merging rollups").
pub(crate) fn plan_rollup_merge(manifest: &Manifest, window: i64) -> Option<RollupMerge> {
    let mut resolutions: Vec<u64> = manifest
        .segments
        .iter()
        .map(|s| s.resolution_ms)
        .filter(|&r| r > 0)
        .collect();
    resolutions.sort_unstable();
    resolutions.dedup();
    for &res in &resolutions {
        let res_i = i64::try_from(res).ok()?;
        let span = span_windows(res_i, window).saturating_mul(window);
        if span <= window {
            continue;
        }
        // where the finer tiers begin: nothing of this resolution before it can change
        let finer_from = manifest
            .segments
            .iter()
            .filter(|s| s.resolution_ms < res)
            .map(|s| s.min_t)
            .min()
            .unwrap_or(i64::MIN);
        let mine: Vec<&SegmentEntry> = manifest
            .segments
            .iter()
            .filter(|s| s.resolution_ms == res)
            .collect();
        let mut starts: Vec<i64> = mine
            .iter()
            .map(|s| s.min_t.div_euclid(span).saturating_mul(span))
            .collect();
        starts.sort_unstable();
        starts.dedup();
        for start in starts {
            let end = start.saturating_add(span);
            if end > finer_from {
                break;
            }
            let inside: Vec<&SegmentEntry> = mine
                .iter()
                .copied()
                .filter(|s| s.min_t >= start && s.min_t < end)
                .collect();
            if inside.len() >= 2 {
                return Some(RollupMerge {
                    resolution_ms: res_i,
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
    /// Computes every rollup that is due (see the module docs of `downsample`) and returns
    /// what it did. The maintenance owner runs it after compaction; tools call it to
    /// bring a data directory up to date.
    pub fn downsample(&self) -> Result<DownsampleStats> {
        self.inner.downsample(&mut |_| {})
    }

    /// [`Db::downsample`], telling `progress` about each step before it runs.
    pub fn downsample_with_progress(
        &self,
        progress: &mut dyn FnMut(&RewriteStep),
    ) -> Result<DownsampleStats> {
        self.inner.downsample(progress)
    }
}

impl Inner {
    pub(crate) fn downsample(
        &self,
        progress: &mut dyn FnMut(&RewriteStep),
    ) -> Result<DownsampleStats> {
        if self.wal.is_none() {
            return Err(Error::ReadOnly);
        }
        let mut stats = DownsampleStats::default();
        let resolutions = self.options.downsampling.resolutions();
        if resolutions.is_empty() {
            return Ok(stats);
        }
        let started = Instant::now();
        let window = rollup_window(self.options.block_range_ms);
        let _rewrite = self.rewrite.lock();
        let mut number = 0;
        // rollups of windows, then merges of window rollups; each planned and committed
        // under the persist lock and written without it (`compact.rs`, "Locking")
        loop {
            let (plan, raw, replaced, seq) = {
                let mut p = self.persist.lock();
                self.remove_replaced(&mut p);
                let Some(plan) = plan_rollups(&p.manifest, window, &resolutions, &p.empty_rollups)
                else {
                    break;
                };
                let raw = self.live_segments(&plan.raw)?;
                let replaced = self.live_segments(&plan.replaces)?;
                (plan, raw, replaced, self.next_seq(&mut p))
            };
            number += 1;
            progress(&RewriteStep {
                what: "rollup",
                min_t: plan.start,
                max_t: plan.end,
                resolution_ms: plan.resolution_ms,
                inputs: raw.len(),
                number,
            });
            let (new, read) = self.write_rollup(&plan, &raw, seq)?;
            stats.samples_read += read;
            let mut p = self.persist.lock();
            let inputs: Vec<u32> = plan.raw.iter().chain(&plan.replaces).copied().collect();
            let Some(new) = self.still_planned(&p, &inputs, seq, new) else {
                continue;
            };
            let resolution_ms = u64::try_from(plan.resolution_ms).unwrap_or(0);
            let new_segment = new.map(|segment| {
                let entry = SegmentEntry {
                    seq,
                    min_t: plan.start,
                    max_t: plan.end.saturating_add(1),
                    resolution_ms,
                    level: 0,
                    sources: sources_of(&p.manifest, &plan.raw),
                    parents: Vec::new(),
                };
                stats.buckets += segment.meta().samples;
                stats.bytes += segment.bytes_on_disk();
                (entry, segment)
            });
            stats.segments_written += usize::from(new_segment.is_some());
            stats.segments_replaced += replaced.len();
            if new_segment.is_none() && replaced.is_empty() {
                // no series of the window has this resolution: nothing to commit;
                // remembered so that the plan moves on (forgotten on restart, found
                // empty again)
                let sources = sources_of(&p.manifest, &plan.raw);
                p.empty_rollups
                    .push((plan.start, plan.resolution_ms, sources));
                continue;
            }
            self.swap_segments(&mut p, &replaced, new_segment)?;
        }
        loop {
            let (merge, parents, seq) = {
                let mut p = self.persist.lock();
                let Some(merge) = plan_rollup_merge(&p.manifest, window) else {
                    break;
                };
                let parents = self.live_segments(&merge.parents)?;
                (merge, parents, self.next_seq(&mut p))
            };
            number += 1;
            progress(&RewriteStep {
                what: "merge rollups",
                min_t: merge.min_t,
                max_t: merge.max_t,
                resolution_ms: merge.resolution_ms,
                inputs: parents.len(),
                number,
            });
            let new = self.write_rollup_merge(&merge, &parents, seq)?;
            let mut p = self.persist.lock();
            let Some(new) = self.still_planned(&p, &merge.parents, seq, new) else {
                continue;
            };
            let resolution_ms = u64::try_from(merge.resolution_ms).unwrap_or(0);
            let new_segment = new.map(|segment| {
                let entry = SegmentEntry {
                    seq,
                    min_t: merge.min_t,
                    max_t: merge.max_t,
                    resolution_ms,
                    level: 1,
                    sources: sources_of(&p.manifest, &merge.parents),
                    parents: merge.parents.clone(),
                };
                stats.bytes += segment.bytes_on_disk();
                (entry, segment)
            });
            stats.rollups_merged += parents.len();
            self.swap_segments(&mut p, &parents, new_segment)?;
        }
        let mut p = self.persist.lock();
        self.remove_replaced(&mut p);
        stats.duration = started.elapsed();
        Ok(stats)
    }

    /// Writes the rollup of `raw` for `plan` as segment `seq`; `None` when no series of
    /// the window has the resolution. Also returns the raw samples read.
    fn write_rollup(
        &self,
        plan: &RollupPlan,
        raw: &[Arc<Segment>],
        seq: u32,
    ) -> Result<(Option<Arc<Segment>>, u64)> {
        let deletions = self.state.read().deletions.clone();
        let dir = self.dir.join(SEGMENTS_DIR).join(segment_name(seq));
        let spec = SegmentSpec {
            min_t: plan.start,
            max_t: plan.end.saturating_add(1),
            resolution_ms: u64::try_from(plan.resolution_ms)
                .map_err(|_| Error::invariant("negative rollup resolution"))?,
            level: 0,
        };
        let rules = &self.options.downsampling;
        let res = plan.resolution_ms;
        let keep = move |l: &Labels| rules.rule_for(l).is_some_and(|r| r.has_resolution(res));
        let merge =
            MergeSource::new(raw, plan.start, plan.end, &deletions).with_filter(Some(&keep));
        let mut source = RollupSource {
            merge,
            resolution_ms: res,
            samples_read: 0,
        };
        let meta = write_segment(&*self.options.fs, &dir, spec, &mut source)?;
        let segment = match meta {
            Some(_) => Some(Arc::new(Segment::open(&*self.options.fs, &dir)?)),
            None => None,
        };
        Ok((segment, source.samples_read))
    }

    /// Writes the merge of the window rollups `parents` as segment `seq`.
    fn write_rollup_merge(
        &self,
        merge: &RollupMerge,
        parents: &[Arc<Segment>],
        seq: u32,
    ) -> Result<Option<Arc<Segment>>> {
        let dir = self.dir.join(SEGMENTS_DIR).join(segment_name(seq));
        let spec = SegmentSpec {
            min_t: merge.min_t,
            max_t: merge.max_t,
            resolution_ms: u64::try_from(merge.resolution_ms)
                .map_err(|_| Error::invariant("negative rollup resolution"))?,
            level: 1,
        };
        let mut source = RollupMergeSource {
            cursors: parents.iter().map(|s| (s.clone(), 0u32, None)).collect(),
            started: false,
        };
        match write_segment(&*self.options.fs, &dir, spec, &mut source)? {
            Some(_) => Ok(Some(Arc::new(Segment::open(&*self.options.fs, &dir)?))),
            None => Ok(None),
        }
    }

    /// The open segments with these sequence numbers, all of them or an error.
    pub(super) fn live_segments(&self, seqs: &[u32]) -> Result<Vec<Arc<Segment>>> {
        let state = self.state.read();
        let found: Vec<Arc<Segment>> = seqs
            .iter()
            .filter_map(|&seq| {
                state
                    .segments
                    .iter()
                    .find(|s| seq_of(s) == Some(seq))
                    .cloned()
            })
            .collect();
        if found.len() != seqs.len() {
            return Err(Error::invariant(format!(
                "segments {seqs:?} are not all open"
            )));
        }
        Ok(found)
    }
}

/// A window's raw series rolled up at one resolution, as a [`SeriesSource`]: each series'
/// buckets as [`COLUMNS`] runs of chunks cut at the same bucket ends.
struct RollupSource<'a> {
    merge: MergeSource<'a>,
    resolution_ms: i64,
    samples_read: u64,
}

impl SeriesSource for RollupSource<'_> {
    fn next_series(&mut self) -> Result<Option<SourceSeries>> {
        let res = self.resolution_ms;
        let Some((labels, samples)) = self.merge.next_samples()? else {
            return Ok(None);
        };
        self.samples_read += samples.len() as u64;
        let ts: Vec<i64> = samples.iter().map(|s| s.t).collect();
        let vs: Vec<f64> = samples.iter().map(|s| s.v).collect();
        let buckets: Vec<Bucket> = rollup(&ts, &vs, res)
            .into_iter()
            .map(|(end, agg)| Bucket {
                end,
                resolution_ms: res,
                agg,
            })
            .collect();
        let chunks = encode_columns(&buckets)
            .map_err(|e| Error::invariant(format!("encoding the rollup of {labels}: {e}")))?;
        Ok(Some(SourceSeries { labels, chunks }))
    }
}

/// The [`COLUMNS`] runs of chunks of `buckets` (time order): column `c`'s chunks first
/// for `c = 0`, then `c = 1`, …, each run cut every [`BUCKETS_PER_CHUNK`] buckets; a
/// chunk whose values all equal its reference column's (`REFERENCE`) is left out.
pub(crate) fn encode_columns(buckets: &[Bucket]) -> tsdb_compress::Result<Vec<SourceChunk>> {
    let cols: Vec<[f64; COLUMNS]> = buckets.iter().map(columns_of).collect();
    let mut out = Vec::new();
    let options = ChunkOptions {
        max_samples: BUCKETS_PER_CHUNK,
    };
    for c in 0..COLUMNS {
        for (group, cols) in buckets
            .chunks(BUCKETS_PER_CHUNK)
            .zip(cols.chunks(BUCKETS_PER_CHUNK))
        {
            let (Some(first), Some(last)) = (group.first(), group.last()) else {
                continue;
            };
            if let Some(r) = REFERENCE[c] {
                if cols.iter().all(|col| col[c].to_bits() == col[r].to_bits()) {
                    out.push(SourceChunk::SameAsReference {
                        min_t: first.end,
                        max_t: last.end,
                    });
                    continue;
                }
            }
            let samples: Vec<Sample> = group
                .iter()
                .zip(cols)
                .map(|(b, col)| Sample {
                    t: b.end,
                    v: col[c],
                })
                .collect();
            out.extend(
                Chunk::encode_series(&samples, options)?
                    .into_iter()
                    .map(SourceChunk::Encoded),
            );
        }
    }
    Ok(out)
}
/// One parent rollup segment read in label order: the segment, the next series id, the
/// current series.
type RollupCursor = (Arc<Segment>, u32, Option<(Labels, Vec<RollupGroup>)>);

/// The merged series of window rollups, as a [`SeriesSource`].
struct RollupMergeSource {
    cursors: Vec<RollupCursor>,
    started: bool,
}

fn advance(c: &mut RollupCursor) -> Result<()> {
    c.2 = None;
    while c.1 < c.0.series_count() {
        let id = c.1;
        c.1 += 1;
        let (labels, groups) = c.0.rollup_series(id)?;
        if !groups.is_empty() {
            c.2 = Some((labels, groups));
            return Ok(());
        }
    }
    Ok(())
}

impl SeriesSource for RollupMergeSource {
    fn next_series(&mut self) -> Result<Option<SourceSeries>> {
        if !self.started {
            self.started = true;
            for c in &mut self.cursors {
                advance(c)?;
            }
        }
        let least = self
            .cursors
            .iter()
            .filter_map(|c| c.2.as_ref().map(|(l, _)| l))
            .min()
            .cloned();
        let Some(least) = least else {
            return Ok(None);
        };
        let mut buckets = Vec::new();
        for c in &mut self.cursors {
            if c.2.as_ref().is_some_and(|(l, _)| *l == least) {
                if let Some((_, groups)) = c.2.take() {
                    for g in &groups {
                        c.0.read_rollup_group(g, &mut buckets)?;
                    }
                }
                advance(c)?;
            }
        }
        merge_same_ends(&mut buckets);
        let chunks = encode_columns(&buckets)
            .map_err(|e| Error::invariant(format!("encoding the rollup of {least}: {e}")))?;
        Ok(Some(SourceSeries {
            labels: least,
            chunks,
        }))
    }
}
