//! One series in the head: its closed chunks, the open chunk it appends to, and the
//! out-of-order samples accepted within the window.

use std::sync::Arc;

use tsdb_compress::{Chunk, ChunkAppender, ChunkOptions};
use tsdb_index::Labels;

use super::late::LateStore;
use crate::batch::SampleError;
use crate::series_iter::{ChunkBytes, ChunkHandle};

/// What an accepted sample turned out to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Appended {
    /// A new sample (in order or out of order): it goes to the WAL.
    New,
    /// The same value at an existing timestamp: accepted and ignored.
    Duplicate,
}

/// Per-series state. Memory matters (ten million of these): closed chunks are shared
/// `Arc`s so a querier's snapshot is a few reference counts, not a copy. The open chunk is
/// shared the same way, copy on write: a reader takes a reference to the appender as it
/// stands and decodes it in place; an append that finds a reader still holding it copies
/// the appender first (`Arc::make_mut`), so the reader's view never changes under it and
/// a query costs no copy unless an append races it.
#[derive(Debug)]
pub(crate) struct MemSeries {
    pub(crate) labels: Labels,
    /// The id this series has in the write-ahead log. Unlike the index id it survives
    /// restarts (replay restores it), so log records and checkpoints stay consistent.
    pub(crate) wal_ref: u64,
    closed: Vec<Arc<Chunk>>,
    open: Option<Arc<ChunkAppender>>,
    /// Newest in-order sample, once there is one.
    last: Option<(i64, u64)>,
    /// Out-of-order samples, sorted by timestamp, unique timestamps; sealed into
    /// `ooo_chunks` when they fill a chunk.
    ooo: Vec<(i64, f64)>,
    ooo_chunks: Vec<Arc<Chunk>>,
    /// Samples older than the write floor, waiting to be persisted as overlapping
    /// segments (`late.rs`); boxed, because most series never have any.
    late: Option<Box<LateStore>>,
}

impl MemSeries {
    pub(crate) fn new(labels: Labels, wal_ref: u64) -> MemSeries {
        MemSeries {
            labels,
            wal_ref,
            closed: Vec::new(),
            open: None,
            last: None,
            ooo: Vec::new(),
            ooo_chunks: Vec::new(),
            late: None,
        }
    }

    /// The newest in-order timestamp.
    pub(crate) fn last_t(&self) -> Option<i64> {
        self.last.map(|(t, _)| t)
    }

    /// Appends a sample at or after the newest one (equal only as an exact duplicate),
    /// or, with `ooo_allowed`, anywhere before it.
    pub(crate) fn append(
        &mut self,
        t: i64,
        v: f64,
        ooo_allowed: bool,
        options: ChunkOptions,
    ) -> Result<Appended, SampleError> {
        match self.last {
            Some((last_t, last_v)) if t == last_t => {
                if last_v == v.to_bits() {
                    Ok(Appended::Duplicate)
                } else {
                    Err(SampleError::DuplicateTimestamp { t })
                }
            }
            Some((last_t, _)) if t < last_t => {
                if !ooo_allowed {
                    return Err(SampleError::OutOfOrder { t, newest: last_t });
                }
                self.insert_ooo(t, v, options)
            }
            _ => {
                self.append_in_order(t, v, options);
                Ok(Appended::New)
            }
        }
    }

    fn append_in_order(&mut self, t: i64, v: f64, options: ChunkOptions) {
        if let Some(open) = &self.open {
            if open.is_full() {
                let sealed = self
                    .open
                    .take()
                    .and_then(|open| Arc::unwrap_or_clone(open).finish());
                if let Some(chunk) = sealed {
                    self.closed.push(Arc::new(chunk));
                }
            }
        }
        let open = match &mut self.open {
            Some(open) => open,
            None => self
                .open
                .insert(Arc::new(ChunkAppender::new(options).unwrap_or_default())),
        };
        // t is after the newest sample, the only thing the appender checks
        if Arc::make_mut(open).append(t, v).is_ok() {
            self.last = Some((t, v.to_bits()));
        }
    }

    /// The value bits stored at `t` in the sealed chunks or the open chunk, if any.
    /// Decodes only chunks whose range holds `t`; used on the out-of-order path, which
    /// must refuse a second value for a timestamp wherever the first one went.
    fn stored_value_at(&self, t: i64) -> Option<u64> {
        let find = |chunk: &Chunk| -> Option<u64> {
            let view = chunk.view().ok()?;
            if t < view.min_time() || t > view.max_time() {
                return None;
            }
            match view.iter().seek(t) {
                Some(Ok(s)) if s.t == t => Some(s.v.to_bits()),
                _ => None,
            }
        };
        self.closed
            .iter()
            .chain(&self.ooo_chunks)
            .find_map(|c| find(c))
            .or_else(|| {
                self.open
                    .as_deref()
                    .and_then(ChunkAppender::snapshot)
                    .and_then(|c| find(&c))
            })
    }

    fn insert_ooo(
        &mut self,
        t: i64,
        v: f64,
        options: ChunkOptions,
    ) -> Result<Appended, SampleError> {
        if let Some(bits) = self.stored_value_at(t) {
            return if bits == v.to_bits() {
                Ok(Appended::Duplicate)
            } else {
                Err(SampleError::DuplicateTimestamp { t })
            };
        }
        match self.ooo.binary_search_by_key(&t, |&(x, _)| x) {
            Ok(i) => {
                let same = self
                    .ooo
                    .get(i)
                    .is_some_and(|&(_, x)| x.to_bits() == v.to_bits());
                if same {
                    Ok(Appended::Duplicate)
                } else {
                    Err(SampleError::DuplicateTimestamp { t })
                }
            }
            Err(i) => {
                self.ooo.insert(i, (t, v));
                if self.ooo.len() >= options.max_samples {
                    self.seal_ooo(options);
                }
                Ok(Appended::New)
            }
        }
    }

    fn seal_ooo(&mut self, options: ChunkOptions) {
        let samples: Vec<tsdb_compress::Sample> = self
            .ooo
            .iter()
            .map(|&(t, v)| tsdb_compress::Sample { t, v })
            .collect();
        if let Ok(chunks) = Chunk::encode_series(&samples, options) {
            self.ooo_chunks.extend(chunks.into_iter().map(Arc::new));
            self.ooo.clear();
        }
    }

    /// The chunks a reader needs, in priority order (in-order data first, so it wins a
    /// duplicate timestamp against out-of-order data), restricted to `[mint, maxt]`.
    pub(crate) fn chunk_handles(&self, mint: i64, maxt: i64, out: &mut Vec<ChunkHandle>) {
        let push = |out: &mut Vec<ChunkHandle>, min_t: i64, max_t: i64, bytes: ChunkBytes| {
            if max_t >= mint && min_t <= maxt {
                out.push(ChunkHandle {
                    min_t,
                    max_t,
                    from: i64::MIN,
                    bytes,
                });
            }
        };
        let push_sealed = |out: &mut Vec<ChunkHandle>, chunk: Arc<Chunk>| {
            if let Ok(view) = chunk.view() {
                let (min_t, max_t) = (view.min_time(), view.max_time());
                push(out, min_t, max_t, ChunkBytes::Head(chunk.clone()));
            }
        };
        for c in &self.closed {
            push_sealed(out, c.clone());
        }
        // The open chunk is shared as it stands (a reference count) and decoded in place.
        if let Some(open) = &self.open {
            if let (Some(min_t), Some(max_t)) = (open.first_timestamp(), open.last_timestamp()) {
                push(out, min_t, max_t, ChunkBytes::Open(open.clone()));
            }
        }
        for c in &self.ooo_chunks {
            push_sealed(out, c.clone());
        }
        if !self.ooo.is_empty() {
            let samples: Vec<tsdb_compress::Sample> = self
                .ooo
                .iter()
                .filter(|&&(t, _)| t >= mint && t <= maxt)
                .map(|&(t, v)| tsdb_compress::Sample { t, v })
                .collect();
            let options = ChunkOptions {
                max_samples: samples.len().max(1),
            };
            if let Ok(chunks) = Chunk::encode_series(&samples, options) {
                for c in chunks {
                    push_sealed(out, Arc::new(c));
                }
            }
        }
    }

    /// Forgets data that ends before `t` (it has been persisted to a segment). Chunks
    /// that straddle `t` stay; readers ignore their older samples.
    pub(crate) fn truncate_before(&mut self, t: i64) {
        self.closed
            .retain(|c| c.view().map(|v| v.max_time() >= t).unwrap_or(false));
        self.ooo_chunks
            .retain(|c| c.view().map(|v| v.max_time() >= t).unwrap_or(false));
        self.ooo.retain(|&(x, _)| x >= t);
    }

    /// The series' first sample time at or after `t` (`t` itself if a chunk cannot be
    /// read), for a series that is not idle before `t`. Exact, so that after a time gap
    /// the next persist starts at the next sample's range instead of walking empty
    /// ranges: a chunk straddling `t` is searched (decoded), the others give their start.
    pub(crate) fn first_t_from(&self, t: i64) -> i64 {
        let first_in = |chunk: &Chunk| -> i64 {
            let Ok(view) = chunk.view() else { return t };
            if view.min_time() >= t {
                view.min_time()
            } else if view.max_time() < t {
                i64::MAX
            } else {
                match view.iter().seek(t) {
                    Some(Ok(s)) => s.t,
                    _ => t,
                }
            }
        };
        let open = self.open.as_ref().and_then(|o| {
            let first = o.first_timestamp()?;
            if first >= t {
                Some(first)
            } else if o.last_timestamp()? < t {
                None
            } else {
                // straddling: rare (the open chunk is the newest few minutes)
                o.snapshot().map(|c| first_in(&c))
            }
        });
        let first = self
            .closed
            .iter()
            .chain(&self.ooo_chunks)
            .map(|c| first_in(c))
            .chain(open)
            .chain(self.ooo.iter().map(|&(x, _)| x).find(|&x| x >= t))
            .min()
            .unwrap_or(t);
        first.max(t)
    }

    /// True when the series holds nothing at or after `t` and can leave the head.
    pub(crate) fn is_idle_before(&self, t: i64) -> bool {
        self.last.is_none_or(|(last, _)| last < t)
            && self.ooo.is_empty()
            && self.ooo_chunks.is_empty()
            && self.late.as_ref().is_none_or(|l| l.is_empty())
    }

    /// Chunks held: sealed, the open one, and out-of-order ones (the buffer of
    /// out-of-order samples not yet in a chunk counts as one).
    pub(crate) fn chunk_count(&self) -> usize {
        self.closed.len()
            + usize::from(self.open.is_some())
            + self.ooo_chunks.len()
            + usize::from(!self.ooo.is_empty())
    }

    /// Samples in the head (approximate for sealed chunks: their count).
    pub(crate) fn sample_count(&self) -> usize {
        let chunk_len = |c: &Arc<Chunk>| c.len();
        self.closed.iter().map(chunk_len).sum::<usize>()
            + self.open.as_deref().map_or(0, ChunkAppender::len)
            + self.ooo_chunks.iter().map(chunk_len).sum::<usize>()
            + self.ooo.len()
            + self.late.as_ref().map_or(0, |l| l.sample_count())
    }
}

impl MemSeries {
    /// Whether the series may hold samples in `[mint, maxt]` (from chunk time ranges, no
    /// decoding): persisting asks this before it re-encodes a series.
    pub(crate) fn may_have_data_in(&self, mint: i64, maxt: i64) -> bool {
        let overlaps = |lo: i64, hi: i64| hi >= mint && lo <= maxt;
        let chunk_overlaps =
            |c: &Arc<Chunk>| c.view().is_ok_and(|v| overlaps(v.min_time(), v.max_time()));
        self.closed
            .iter()
            .chain(&self.ooo_chunks)
            .any(chunk_overlaps)
            || self
                .open
                .as_ref()
                .and_then(|o| Some((o.first_timestamp()?, o.last_timestamp()?)))
                .is_some_and(|(lo, hi)| overlaps(lo, hi))
            || self.ooo.iter().any(|&(t, _)| t >= mint && t <= maxt)
    }
}

/// Late samples (`late.rs`): appending, reading and persisting them.
impl MemSeries {
    /// Adds a sample older than the write floor to the late store, unless the series
    /// already holds a sample at `t` anywhere in the head (then it is a duplicate, or a
    /// refused second value). Samples at `t` already persisted to a segment are not seen
    /// here: a different value there is stored too, and reads take the segment's.
    pub(crate) fn append_late(
        &mut self,
        t: i64,
        v: f64,
        options: ChunkOptions,
    ) -> Result<Appended, SampleError> {
        let existing = self
            .stored_value_at(t)
            .or_else(|| {
                self.ooo
                    .binary_search_by_key(&t, |&(x, _)| x)
                    .ok()
                    .and_then(|i| self.ooo.get(i).map(|&(_, v)| v.to_bits()))
            })
            .or_else(|| self.late.as_ref().and_then(|l| l.value_at(t)));
        match existing {
            Some(bits) if bits == v.to_bits() => Ok(Appended::Duplicate),
            Some(_) => Err(SampleError::DuplicateTimestamp { t }),
            None => {
                self.late
                    .get_or_insert_with(Box::default)
                    .insert(t, v, options);
                Ok(Appended::New)
            }
        }
    }

    /// True while the series holds late samples, fresh or being persisted.
    pub(crate) fn has_late(&self) -> bool {
        self.late.as_ref().is_some_and(|l| !l.is_empty())
    }

    /// Readers' handles over the late samples in `[mint, maxt]`.
    pub(crate) fn late_handles(&self, mint: i64, maxt: i64, out: &mut Vec<ChunkHandle>) {
        if let Some(l) = &self.late {
            l.handles(mint, maxt, out);
        }
    }

    /// A persist takes the fresh late samples; returns how many.
    pub(crate) fn start_late_persist(&mut self) -> usize {
        self.late.as_mut().map_or(0, |l| l.start_persisting())
    }

    /// The persist failed: the samples it took are fresh again.
    pub(crate) fn restore_late(&mut self, options: ChunkOptions) {
        if let Some(l) = &mut self.late {
            l.restore(options);
        }
    }

    /// The persist's segments are published and no older reader remains: forget its
    /// samples. Returns how many were dropped.
    pub(crate) fn finish_late_persist(&mut self) -> usize {
        let dropped = self.late.as_mut().map_or(0, |l| l.finish_persisting());
        if self.late.as_ref().is_some_and(|l| l.is_empty()) {
            self.late = None;
        }
        dropped
    }

    /// Late samples being persisted.
    pub(crate) fn persisting_count(&self) -> usize {
        self.late.as_ref().map_or(0, |l| l.persisting.len())
    }

    /// Handles over `[mint, maxt]` of the late samples being persisted.
    pub(crate) fn persisting_handles(&self, mint: i64, maxt: i64, out: &mut Vec<ChunkHandle>) {
        if let Some(l) = &self.late {
            l.persisting_handles(mint, maxt, out);
        }
    }

    /// Block-range starts of the late samples being persisted.
    pub(crate) fn persisting_ranges(&self, range: i64, out: &mut std::collections::BTreeSet<i64>) {
        if let Some(l) = &self.late {
            l.persisting_ranges(range, out);
        }
    }
}
