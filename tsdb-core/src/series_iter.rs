//! Reading one series across everything that holds it: segment chunks, the head's closed
//! and open chunks, and its out-of-order chunks.
//!
//! Chunks are decoded a whole chunk at a time into two reusable column buffers (no
//! self-borrowing iterators over `Arc`ed bytes, one allocation per series iterator).
//! Chunks that do not overlap in time are read one after the other; a run of overlapping
//! chunks (out-of-order data, or a sample present both in a segment and in the head after
//! a crash) is decoded together and merged, the first source in the list winning a
//! duplicate timestamp. The query window and deletions are applied here, so every reader
//! sees the same answer.

use std::path::PathBuf;
use std::sync::Arc;

use tsdb_compress::{Chunk, ChunkAppender, ChunkRef, Sample};

use crate::error::{Error, Result};
use crate::segment::Segment;

/// Where the bytes of one chunk live.
#[derive(Clone, Debug)]
pub(crate) enum ChunkBytes {
    /// A sealed chunk owned by the head.
    Head(Arc<Chunk>),
    /// The open chunk of a head series as it stood when the querier found it: the head
    /// copies the appender before appending while a reader holds it, so this view is
    /// frozen, and it is decoded in place, never re-encoded into a chunk.
    Open(Arc<ChunkAppender>),
    /// A chunk inside a segment's memory-mapped chunk file.
    Segment {
        segment: Arc<Segment>,
        offset: u64,
        len: u32,
    },
}

/// One chunk of a series with its time range, as the querier found it.
#[derive(Clone, Debug)]
pub(crate) struct ChunkHandle {
    pub(crate) min_t: i64,
    pub(crate) max_t: i64,
    /// Samples before this are ignored. For the head's in-order and out-of-order chunks it
    /// is the querier's persisted-until boundary (a chunk straddling it holds samples that
    /// a segment the reader also sees holds); `i64::MIN` for segment chunks and late
    /// samples.
    pub(crate) from: i64,
    pub(crate) bytes: ChunkBytes,
}

impl ChunkHandle {
    fn decode(&self, ts: &mut Vec<i64>, vs: &mut Vec<f64>) -> Result<()> {
        let start = ts.len();
        self.decode_all(ts, vs)?;
        if self.from > self.min_t {
            let skip = ts
                .get(start..)
                .unwrap_or_default()
                .partition_point(|&t| t < self.from);
            ts.drain(start..start + skip);
            vs.drain(start..start + skip);
        }
        Ok(())
    }

    fn decode_all(&self, ts: &mut Vec<i64>, vs: &mut Vec<f64>) -> Result<()> {
        match &self.bytes {
            ChunkBytes::Head(chunk) => {
                // Encoded by this process: no CRC to check (`Chunk::view`).
                let view = chunk.view().map_err(|e| head_corruption(&e))?;
                view.decode_into(ts, vs).map_err(|e| head_corruption(&e))
            }
            ChunkBytes::Open(appender) => appender
                .decode_into(ts, vs)
                .map_err(|e| head_corruption(&e)),
            ChunkBytes::Segment {
                segment,
                offset,
                len,
            } => {
                let bytes = segment.chunk_bytes(*offset, *len)?;
                let view =
                    ChunkRef::new(bytes).map_err(|e| segment.chunk_corruption(*offset, &e))?;
                view.decode_into(ts, vs)
                    .map_err(|e| segment.chunk_corruption(*offset, &e))
            }
        }
    }
}

fn head_corruption(e: &tsdb_compress::Error) -> Error {
    Error::Corruption {
        path: PathBuf::from("<head>"),
        offset: 0,
        reason: format!("head chunk does not decode: {e}").into(),
    }
}

/// Samples of one series in time order, within the querier's window and without deleted
/// ranges. Yields an error once (a corrupt chunk) and then ends, unless the reader
/// chooses to go on past the damage with [`SeriesIter::skip_damaged`].
#[derive(Debug)]
pub struct SeriesIter {
    chunks: Vec<ChunkHandle>,
    /// Each chunk's place in the list the reader was given: its priority when chunks
    /// overlap (lower wins a duplicate timestamp), whatever its start time.
    priority: Vec<u32>,
    next_chunk: usize,
    ts: Vec<i64>,
    vs: Vec<f64>,
    pos: usize,
    mint: i64,
    maxt: i64,
    deleted: Arc<[(i64, i64)]>,
    done: bool,
    merge: Vec<(i64, u32, f64)>,
    /// The time range of the chunks the last error left out.
    damaged: Option<(i64, i64)>,
}

impl SeriesIter {
    /// `chunks` in source priority order (the first wins a duplicate timestamp); they are
    /// read in start-time order here, each keeping its priority.
    pub(crate) fn new(
        chunks: Vec<ChunkHandle>,
        mint: i64,
        maxt: i64,
        deleted: Arc<[(i64, i64)]>,
    ) -> SeriesIter {
        let mut ranked: Vec<(u32, ChunkHandle)> = chunks
            .into_iter()
            .enumerate()
            .filter(|(_, c)| c.max_t >= mint && c.min_t <= maxt)
            .map(|(i, c)| (u32::try_from(i).unwrap_or(u32::MAX), c))
            .collect();
        ranked.sort_by_key(|(_, c)| c.min_t);
        let (priority, chunks) = ranked.into_iter().unzip();
        SeriesIter {
            chunks,
            priority,
            next_chunk: 0,
            ts: Vec::new(),
            vs: Vec::new(),
            pos: 0,
            mint,
            maxt,
            deleted,
            done: false,
            merge: Vec::new(),
            damaged: None,
        }
    }

    /// After an error: the time range (inclusive) of the chunks whose samples it left
    /// out, a damaged chunk and any chunk overlapping it.
    pub fn damaged_range(&self) -> Option<(i64, i64)> {
        self.damaged
    }

    /// After an error, goes on with the chunks after the damaged ones instead of ending:
    /// for tools that salvage what is readable (`tsdb export`). Queries do not: a query
    /// over damaged data fails rather than answer from part of it.
    pub fn skip_damaged(&mut self) {
        if self.damaged.is_some() {
            self.done = false;
            self.ts.clear();
            self.vs.clear();
            self.pos = 0;
        }
    }

    /// Decodes the next run of overlapping chunks into the buffers; false at the end.
    fn fill(&mut self) -> Result<bool> {
        self.pos = 0;
        loop {
            self.ts.clear();
            self.vs.clear();
            let (mut ts, mut vs) = (std::mem::take(&mut self.ts), std::mem::take(&mut self.vs));
            let more = self.decode_next_group(&mut ts, &mut vs);
            self.ts = ts;
            self.vs = vs;
            if !more? {
                return Ok(false);
            }
            if !self.ts.is_empty() {
                return Ok(true);
            }
        }
    }

    /// Appends the samples of the next run of overlapping chunks (merged, first source
    /// winning a duplicate timestamp, window and deletions applied) to `ts`/`vs`; false
    /// when there are no chunks left. On error, nothing of the run stays appended.
    fn decode_next_group(&mut self, ts: &mut Vec<i64>, vs: &mut Vec<f64>) -> Result<bool> {
        self.damaged = None;
        let Some(first) = self.chunks.get(self.next_chunk) else {
            return Ok(false);
        };
        let mut end = self.next_chunk + 1;
        let mut group_max = first.max_t;
        while let Some(c) = self.chunks.get(end) {
            if c.min_t > group_max {
                break;
            }
            group_max = group_max.max(c.max_t);
            end += 1;
        }
        let group = self.chunks.get(self.next_chunk..end).unwrap_or_default();
        self.next_chunk = end;
        let start = ts.len();
        let damaged = (first.min_t, group_max);
        if let [only] = group {
            if let Err(e) = only.decode(ts, vs) {
                ts.truncate(start);
                vs.truncate(start);
                self.damaged = Some(damaged);
                return Err(e);
            }
        } else {
            self.merge.clear();
            let (mut gts, mut gvs) = (Vec::new(), Vec::new());
            let priorities = self
                .priority
                .get(end - group.len()..end)
                .unwrap_or_default();
            for (c, &prio) in group.iter().zip(priorities) {
                gts.clear();
                gvs.clear();
                if let Err(e) = c.decode(&mut gts, &mut gvs) {
                    self.damaged = Some(damaged);
                    return Err(e);
                }
                self.merge
                    .extend(gts.iter().zip(&gvs).map(|(&t, &v)| (t, prio, v)));
            }
            // within a timestamp the source listed first wins
            self.merge.sort_by_key(|&(t, prio, _)| (t, prio));
            self.merge.dedup_by_key(|&mut (t, _, _)| t);
            ts.extend(self.merge.iter().map(|&(t, _, _)| t));
            vs.extend(self.merge.iter().map(|&(_, _, v)| v));
        }
        self.apply_window(ts, vs, start);
        Ok(true)
    }

    /// Makes sure a sample is buffered: `None` at the end, an error once on damage (both
    /// end the iterator).
    fn ensure_buffered(&mut self) -> Option<Result<()>> {
        if self.pos < self.ts.len() {
            return Some(Ok(()));
        }
        match self.fill() {
            Ok(true) => Some(Ok(())),
            Ok(false) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }

    /// Drops samples from `start` on that are outside `[mint, maxt]` or inside a deleted
    /// range.
    fn apply_window(&self, ts: &mut Vec<i64>, vs: &mut Vec<f64>, start: usize) {
        let (mint, maxt) = (self.mint, self.maxt);
        let deleted = &self.deleted;
        let keep =
            |t: i64| t >= mint && t <= maxt && !deleted.iter().any(|&(a, b)| t >= a && t <= b);
        let tail = ts.get(start..).unwrap_or_default();
        // A run is sorted: when its ends are inside the window and no deleted range meets
        // it, every sample is kept (the common case, checked without a per-sample pass).
        if let (Some(&first), Some(&last)) = (tail.first(), tail.last()) {
            if first >= mint
                && last <= maxt
                && !deleted.iter().any(|&(a, b)| a <= last && b >= first)
            {
                return;
            }
        }
        let mut w = start;
        for r in start..ts.len() {
            let (Some(&t), Some(&v)) = (ts.get(r), vs.get(r)) else {
                break;
            };
            if keep(t) {
                if let (Some(tw), Some(vw)) = (ts.get_mut(w), vs.get_mut(w)) {
                    *tw = t;
                    *vw = v;
                }
                w += 1;
            }
        }
        ts.truncate(w);
        vs.truncate(w);
    }

    /// Appends every remaining sample to `ts` and `vs` (columns, in time order): the bulk
    /// form of iterating, without a call per sample. On a corrupt chunk it returns the
    /// error; the samples before it stay appended.
    pub fn read_into(&mut self, ts: &mut Vec<i64>, vs: &mut Vec<f64>) -> Result<()> {
        if self.done {
            return Ok(());
        }
        let from = self.pos.min(self.ts.len());
        ts.extend_from_slice(self.ts.get(from..).unwrap_or_default());
        vs.extend_from_slice(self.vs.get(from..).unwrap_or_default());
        self.ts.clear();
        self.vs.clear();
        self.pos = 0;
        // Straight into the caller's columns: no per-sample call, no intermediate copy.
        loop {
            match self.decode_next_group(ts, vs) {
                Ok(true) => {}
                Ok(false) => {
                    self.done = true;
                    return Ok(());
                }
                Err(e) => {
                    self.done = true;
                    return Err(e);
                }
            }
        }
    }

    /// Advances to the first sample at or after `t` and returns it. Chunks that end
    /// before `t` are skipped without being decoded.
    pub fn seek(&mut self, t: i64) -> Option<Result<Sample>> {
        if self.done {
            return None;
        }
        if self.ts.last().is_none_or(|&last| last < t) {
            // nothing buffered at or after t: skip whole chunks that end before it
            self.ts.clear();
            self.vs.clear();
            self.pos = 0;
            while self
                .chunks
                .get(self.next_chunk)
                .is_some_and(|c| c.max_t < t)
            {
                self.next_chunk += 1;
            }
        }
        loop {
            if let Err(e) = self.ensure_buffered()? {
                return Some(Err(e));
            }
            let rest = self.ts.get(self.pos..).unwrap_or_default();
            let skip = rest.partition_point(|&x| x < t);
            self.pos += skip;
            if self.pos < self.ts.len() {
                return self.next();
            }
        }
    }
}

impl Iterator for SeriesIter {
    type Item = Result<Sample>;

    fn next(&mut self) -> Option<Result<Sample>> {
        if self.done {
            return None;
        }
        if let Err(e) = self.ensure_buffered()? {
            return Some(Err(e));
        }
        let i = self.pos;
        self.pos += 1;
        match (self.ts.get(i), self.vs.get(i)) {
            (Some(&t), Some(&v)) => Some(Ok(Sample { t, v })),
            _ => None,
        }
    }
}
