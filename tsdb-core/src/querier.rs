//! Reading: a [`Querier`] is a consistent snapshot of the segments and the head over a
//! time range.
//!
//! Consistency across a concurrent persist works like this: the list of segments and
//! *persisted until* (segments hold everything before it) are captured together under one
//! lock when the querier is made, and the querier reads the head only from that boundary
//! on. A persist that runs meanwhile adds a segment the querier does not see and raises
//! the boundary for later queriers, but the head keeps the persisted chunks until every
//! querier that might still read them is dropped (the [`Readers`] registry), so nothing
//! is missed and nothing is counted twice. Samples appended after the querier was made
//! may or may not be seen.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use tsdb_index::{Labels, Matcher};

use crate::deletes::{intervals_for, Deletion};
use crate::error::Result;
use crate::head::Head;
use crate::rollup::{merge_same_ends, Bucket, COLUMNS};
use crate::segment::{RollupGroup, Segment};
use crate::series_iter::{ChunkHandle, SeriesIter};

/// Live queriers and the persisted-until boundary each one reads the head from.
#[derive(Debug, Default)]
pub(crate) struct Readers {
    next: AtomicU64,
    /// Live queriers: their persisted-until boundary and the state generation they captured.
    live: Mutex<BTreeMap<u64, (i64, u64)>>,
}

impl Readers {
    fn register(self: &Arc<Self>, persisted_until: i64, generation: u64) -> ReaderGuard {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        self.live.lock().insert(id, (persisted_until, generation));
        ReaderGuard {
            readers: self.clone(),
            id,
        }
    }

    /// The oldest persisted-until boundary a live querier reads the head from (`i64::MAX`
    /// with none).
    pub(crate) fn oldest(&self) -> i64 {
        self.live
            .lock()
            .values()
            .map(|&(persisted_until, _)| persisted_until)
            .min()
            .unwrap_or(i64::MAX)
    }

    /// The oldest state generation a live querier captured (`u64::MAX` with none).
    pub(crate) fn oldest_generation(&self) -> u64 {
        self.live
            .lock()
            .values()
            .map(|&(_, generation)| generation)
            .min()
            .unwrap_or(u64::MAX)
    }
}

#[derive(Debug)]
struct ReaderGuard {
    readers: Arc<Readers>,
    id: u64,
}

impl Drop for ReaderGuard {
    fn drop(&mut self) {
        self.readers.live.lock().remove(&self.id);
    }
}

/// What a querier reads, captured atomically by the database.
#[derive(Debug)]
pub(crate) struct Snapshot {
    pub(crate) head: Arc<Head>,
    /// Persisted until, as captured: segments hold what is before it, the head is read
    /// from it on.
    pub(crate) persisted_until: i64,
    /// The state generation this snapshot was taken at.
    pub(crate) generation: u64,
    pub(crate) segments: Arc<Vec<Arc<Segment>>>,
    pub(crate) deletions: Arc<Vec<Deletion>>,
    /// The rollup resolutions every series has (`Downsampling::uniform_resolutions`):
    /// the ones a select may read in place of raw data when the caller accepts them.
    pub(crate) uniform_resolutions: Arc<[i64]>,
}

/// A consistent view of the database over `[mint, maxt]` (both inclusive, milliseconds).
#[derive(Debug)]
pub struct Querier {
    mint: i64,
    maxt: i64,
    snapshot: Snapshot,
    _guard: ReaderGuard,
}

/// One series found by [`Querier::select`].
#[derive(Debug, Clone)]
pub struct SeriesEntry {
    labels: Labels,
    chunks: Vec<ChunkHandle>,
    rollups: Vec<RollupRef>,
    deleted: Arc<[(i64, i64)]>,
    mint: i64,
    maxt: i64,
}

/// A run of a series' buckets in a rollup segment, and the bucket ends read from it:
/// `(lo, hi]` (the select's `(mint - resolution, maxt]`).
#[derive(Debug, Clone)]
struct RollupRef {
    segment: Arc<Segment>,
    group: RollupGroup,
    lo: i64,
    hi: i64,
}

/// What a select found of one series: raw chunks and rollup runs.
type Found = (Vec<ChunkHandle>, Vec<RollupRef>);

/// Which tier serves which times: raw samples from `raw_from` on (all of them when
/// `None`), and each rollup resolution from its segments in `[from, until]` (bucket
/// ends): `(resolution, from, until)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Tiers {
    pub(crate) raw_from: Option<i64>,
    pub(crate) rollups: Vec<(i64, i64, i64)>,
}

/// Where each tier is read from, given the `(resolution, min_t)` of every live segment
/// (0: raw) and where the head's data begins. Raw samples are read from the oldest raw
/// segment's start on; before it, the finest rollup's segments; before the oldest of
/// those, the next resolution's; and so on. A rollup segment holds exactly the rollup of
/// the raw samples of its window `[min_t, min_t + window)`, so the tiers split the raw
/// samples by time and nothing is counted twice: at a boundary the coarser tier's last
/// bucket holds the samples before it, the finer tier's first bucket (same end) the
/// sample at it, and the engine merges the two in that order.
pub(crate) fn tiers(segments: &[(i64, i64, i64)], head_from: i64) -> Tiers {
    let mut resolutions: Vec<i64> = segments
        .iter()
        .map(|&(r, _, _)| r)
        .filter(|&r| r > 0)
        .collect();
    resolutions.sort_unstable();
    resolutions.dedup();
    if resolutions.is_empty() {
        return Tiers {
            raw_from: None,
            rollups: Vec::new(),
        };
    }
    let raw_from = segments
        .iter()
        .filter(|&&(r, _, _)| r == 0)
        .map(|&(_, min_t, _)| min_t)
        .min()
        .unwrap_or(head_from)
        .min(head_from);
    let mut until = raw_from;
    let mut rollups = Vec::with_capacity(resolutions.len());
    for &res in &resolutions {
        // the segments wholly before the finer tier (rollups of windows whose raw data
        // is still there are not read: the raw data is); a segment's bucket ends reach
        // its window's end, `max_t - 1`
        let from = segments
            .iter()
            .filter(|&&(r, _, max_t)| r == res && max_t.saturating_sub(1) <= until)
            .map(|&(_, min_t, _)| min_t)
            .min();
        if let Some(from) = from.filter(|&f| f < until) {
            rollups.push((res, from, until));
            until = from;
        }
    }
    Tiers {
        raw_from: Some(raw_from),
        rollups,
    }
}

/// [`tiers`] for a caller that accepts rollups of resolution `preferred` wherever they
/// exist: that resolution's segments from the start of their newest unbroken run of
/// windows to its end, raw samples from that end on (the windows after it are not
/// rolled up yet), and before the run, the coarser resolutions as [`tiers`] chains them.
/// Without segments of that resolution: [`tiers`].
pub(crate) fn preferred_tiers(
    segments: &[(i64, i64, i64)],
    head_from: i64,
    preferred: i64,
) -> Tiers {
    // the windows the preferred rollups cover, `[min_t, max_t - 1)`, newest run
    let mut spans: Vec<(i64, i64)> = segments
        .iter()
        .filter(|&&(r, _, _)| r == preferred)
        .map(|&(_, min_t, max_t)| (min_t, max_t.saturating_sub(1)))
        .collect();
    spans.sort_unstable();
    let Some(&(_, mut end)) = spans.last() else {
        return tiers(segments, head_from);
    };
    end = spans.iter().map(|s| s.1).max().unwrap_or(end);
    let mut from = end;
    for &(a, b) in spans.iter().rev() {
        if b >= from && a < from {
            from = a;
        }
    }
    // raw data must reach back to the run's end: it always does (raw data is deleted
    // only once rolled up, a window at a time), but a snapshot that says otherwise
    // gets the finest tiers instead
    let raw_from = segments
        .iter()
        .filter(|&&(r, _, _)| r == 0)
        .map(|&(_, min_t, _)| min_t)
        .min()
        .unwrap_or(head_from)
        .min(head_from);
    if raw_from > end {
        return tiers(segments, head_from);
    }
    let mut rollups = vec![(preferred, from, end)];
    // before the run, the coarser resolutions, chained as if raw data began at `from`
    let coarser: Vec<(i64, i64, i64)> = segments
        .iter()
        .copied()
        .filter(|&(r, _, _)| r > preferred)
        .collect();
    rollups.extend(tiers(&coarser, from).rollups);
    Tiers {
        raw_from: Some(end),
        rollups,
    }
}

impl SeriesEntry {
    /// The series' labels.
    pub fn labels(&self) -> &Labels {
        &self.labels
    }

    /// Its samples in time order within the querier's range; supports `seek`.
    pub fn iter(&self) -> SeriesIter {
        SeriesIter::new(
            self.chunks.clone(),
            self.mint,
            self.maxt,
            self.deleted.clone(),
        )
    }

    /// Number of chunks that will be read (for query limits and statistics).
    pub fn chunk_count(&self) -> usize {
        self.chunks.len() + self.rollups.len() * COLUMNS
    }

    /// The series' rollup buckets that end in the select's `(mint - resolution, maxt]`
    /// and come before its raw samples (where only rollups are kept), appended to `out`
    /// in the time order of their samples: by end, and where a coarser tier's last
    /// bucket and a finer tier's first share an end, the coarser one (whose samples come
    /// before) first. A bucket any deletion request overlaps is left out (its
    /// aggregates cannot be corrected).
    pub fn read_buckets_into(&self, out: &mut Vec<Bucket>) -> Result<()> {
        let start = out.len();
        let mut scratch = Vec::new();
        for r in &self.rollups {
            scratch.clear();
            r.segment.read_rollup_group(&r.group, &mut scratch)?;
            out.extend(scratch.iter().filter(|b| {
                b.end > r.lo
                    && b.end <= r.hi
                    && !self
                        .deleted
                        .iter()
                        .any(|&(a, z)| a <= b.end && z > b.start())
            }));
        }
        let mut mine = out.split_off(start);
        merge_same_ends(&mut mine);
        out.extend(mine);
        Ok(())
    }
}

impl Querier {
    pub(crate) fn new(readers: &Arc<Readers>, snapshot: Snapshot, mint: i64, maxt: i64) -> Querier {
        let guard = readers.register(snapshot.persisted_until, snapshot.generation);
        Querier {
            mint,
            maxt,
            snapshot,
            _guard: guard,
        }
    }

    /// The querier's time range.
    pub fn range(&self) -> (i64, i64) {
        (self.mint, self.maxt)
    }

    /// Whether the head holds samples that can fall in this querier's range. Label names
    /// and values consult the head only then: like Prometheus' head, it is not filtered
    /// series by series.
    fn head_overlaps(&self) -> bool {
        let head = &self.snapshot.head;
        let from = self.mint.max(self.snapshot.persisted_until);
        from <= self.maxt
            && head.series_count() > 0
            && head.max_t() >= from
            && head.min_t() <= self.maxt
    }

    fn segments(&self) -> impl Iterator<Item = &Arc<Segment>> {
        self.segments_in(self.mint, self.maxt)
    }

    fn segments_in(&self, mint: i64, maxt: i64) -> impl Iterator<Item = &Arc<Segment>> {
        self.snapshot.segments.iter().filter(move |s| {
            let m = s.meta();
            !s.is_corrupt() && m.max_t > mint && m.min_t <= maxt
        })
    }

    /// The series matching `matchers` (Prometheus semantics: at least one matcher must not
    /// match the empty string), in label order, each with the chunks that overlap the
    /// range. Samples are decoded only when a series is iterated.
    pub fn select(&self, matchers: &[Matcher]) -> Result<Vec<SeriesEntry>> {
        self.select_range(matchers, self.mint, self.maxt)
    }

    /// [`Querier::select`] over `[mint, maxt]`, a part of the querier's range (it is
    /// clipped to it): a query opens one querier for its whole time range, so every
    /// selector reads the same snapshot, and each selector reads only its own window.
    pub fn select_range(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<SeriesEntry>> {
        self.select_resolution(matchers, mint, maxt, 0)
    }

    /// [`Querier::select_range`] for a caller that accepts rollups of any resolution
    /// dividing `max_resolution_ms` in place of raw data wherever they exist (a query
    /// whose windows and steps are whole buckets of it, answered exactly from them): the
    /// coarsest such resolution every series has is read up to the newest window rolled
    /// up, raw samples after it. 0, or no such rollups: as `select_range`.
    pub fn select_resolution(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
        max_resolution_ms: i64,
    ) -> Result<Vec<SeriesEntry>> {
        let (mint, maxt) = (mint.max(self.mint), maxt.min(self.maxt));
        if mint > maxt {
            return Ok(Vec::new());
        }
        let tiers = self.tiers_for(max_resolution_ms);
        // raw samples from where raw segments begin; rollups before
        let raw_mint = mint.max(tiers.raw_from.unwrap_or(i64::MIN));
        // Merged by hash, sorted once at the end: cheaper than keeping a tree ordered
        // while every segment's copy of a series is inserted.
        let mut found: HashMap<Labels, Found> = HashMap::new();
        if raw_mint <= maxt {
            for seg in self.segments_in(raw_mint, maxt) {
                if seg.meta().resolution_ms != 0 {
                    continue;
                }
                for (labels, handles) in seg.select(matchers, raw_mint, maxt)? {
                    found.entry(labels).or_default().0.extend(handles);
                }
            }
            let head = &self.snapshot.head;
            if raw_mint.max(self.snapshot.persisted_until) <= maxt || head.late_series() > 0 {
                for (labels, handles) in
                    head.select(matchers, raw_mint, maxt, self.snapshot.persisted_until)?
                {
                    found.entry(labels).or_default().0.extend(handles);
                }
            }
        }
        for &(res, from, until) in &tiers.rollups {
            // bucket ends read: (mint - res, maxt], and none past where the finer tier
            // begins (whose samples it holds)
            let (lo, hi) = (mint.saturating_sub(res), maxt.min(until));
            for seg in self.snapshot.segments.iter() {
                let m = seg.meta();
                if seg.is_corrupt()
                    || i64::try_from(m.resolution_ms) != Ok(res)
                    || m.min_t < from
                    || m.max_t.saturating_sub(1) > until
                    || m.max_t <= lo.saturating_add(1)
                    || m.min_t > hi
                {
                    continue;
                }
                for (labels, groups) in seg.select_rollups(matchers, lo.saturating_add(1), hi)? {
                    found
                        .entry(labels)
                        .or_default()
                        .1
                        .extend(groups.into_iter().map(|group| RollupRef {
                            segment: seg.clone(),
                            group,
                            lo,
                            hi,
                        }));
                }
            }
        }
        let deletions = &self.snapshot.deletions;
        let mut found: Vec<(Labels, Found)> = found.into_iter().collect();
        found.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        Ok(found
            .into_iter()
            .map(|(labels, (chunks, rollups))| {
                let deleted: Arc<[(i64, i64)]> = Arc::from(intervals_for(deletions, &labels));
                SeriesEntry {
                    labels,
                    chunks,
                    rollups,
                    deleted,
                    mint: raw_mint,
                    maxt,
                }
            })
            .collect())
    }

    /// Where raw samples begin in this snapshot when rollups are read before them: a
    /// select returns raw samples from this time on and rollup buckets
    /// ([`SeriesEntry::read_buckets_into`]) for what is older; `None` when the snapshot
    /// holds no rollups (everything is raw).
    pub fn raw_from(&self) -> Option<i64> {
        let t = self.tiers();
        t.raw_from.filter(|_| !t.rollups.is_empty())
    }

    /// Which tier serves which times in this snapshot for a caller accepting rollups up
    /// to `max_resolution_ms` (see [`preferred_tiers`]).
    pub(crate) fn tiers_for(&self, max_resolution_ms: i64) -> Tiers {
        let preferred = self
            .snapshot
            .uniform_resolutions
            .iter()
            .copied()
            .filter(|&r| max_resolution_ms > 0 && max_resolution_ms % r == 0)
            .max();
        match preferred {
            Some(r) => preferred_tiers(&self.segment_spans(), self.snapshot.persisted_until, r),
            None => self.tiers(),
        }
    }

    fn segment_spans(&self) -> Vec<(i64, i64, i64)> {
        self.snapshot
            .segments
            .iter()
            .filter(|s| !s.is_corrupt())
            .filter_map(|s| {
                let m = s.meta();
                Some((i64::try_from(m.resolution_ms).ok()?, m.min_t, m.max_t))
            })
            .collect()
    }

    /// Which tier serves which times in this snapshot (see [`tiers`]).
    pub(crate) fn tiers(&self) -> Tiers {
        let segs: Vec<(i64, i64, i64)> = self
            .snapshot
            .segments
            .iter()
            .filter(|s| !s.is_corrupt())
            .filter_map(|s| {
                let m = s.meta();
                Some((i64::try_from(m.resolution_ms).ok()?, m.min_t, m.max_t))
            })
            .collect();
        tiers(&segs, self.snapshot.persisted_until)
    }

    /// Label names of the series matching `matchers` (all series when empty), sorted.
    pub fn label_names(&self, matchers: &[Matcher]) -> Result<Vec<String>> {
        let mut names = BTreeSet::new();
        for seg in self.segments() {
            names.extend(seg.label_names(matchers)?);
        }
        if self.head_overlaps() {
            names.extend(self.snapshot.head.label_names(matchers)?);
        }
        Ok(names.into_iter().collect())
    }

    /// Values of label `name` among the series matching `matchers`, sorted.
    pub fn label_values(&self, name: &str, matchers: &[Matcher]) -> Result<Vec<String>> {
        let mut values = BTreeSet::new();
        for seg in self.segments() {
            values.extend(seg.label_values(name, matchers)?);
        }
        if self.head_overlaps() {
            values.extend(self.snapshot.head.label_values(name, matchers)?);
        }
        Ok(values.into_iter().collect())
    }
}
