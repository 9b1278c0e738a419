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
use crate::segment::Segment;
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
    deleted: Arc<[(i64, i64)]>,
    mint: i64,
    maxt: i64,
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
        self.chunks.len()
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
        let (mint, maxt) = (mint.max(self.mint), maxt.min(self.maxt));
        if mint > maxt {
            return Ok(Vec::new());
        }
        // Merged by hash, sorted once at the end: cheaper than keeping a tree ordered
        // while every segment's copy of a series is inserted.
        let mut found: HashMap<Labels, Vec<ChunkHandle>> = HashMap::new();
        for seg in self.segments_in(mint, maxt) {
            for (labels, handles) in seg.select(matchers, mint, maxt)? {
                found.entry(labels).or_default().extend(handles);
            }
        }
        let head = &self.snapshot.head;
        if mint.max(self.snapshot.persisted_until) <= maxt || head.late_series() > 0 {
            for (labels, handles) in
                head.select(matchers, mint, maxt, self.snapshot.persisted_until)?
            {
                found.entry(labels).or_default().extend(handles);
            }
        }
        let deletions = &self.snapshot.deletions;
        let mut found: Vec<(Labels, Vec<ChunkHandle>)> = found.into_iter().collect();
        found.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        Ok(found
            .into_iter()
            .map(|(labels, chunks)| {
                let deleted: Arc<[(i64, i64)]> = Arc::from(intervals_for(deletions, &labels));
                SeriesEntry {
                    labels,
                    chunks,
                    deleted,
                    mint,
                    maxt,
                }
            })
            .collect())
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
