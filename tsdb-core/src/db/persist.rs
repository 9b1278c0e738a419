//! Persisting the head to segments.
//!
//! Only the holder of the persist lock persists, and it decides what is due under that
//! lock, so two callers (the maintenance owner and a tool calling [`Db::persist_all`])
//! never write the same range twice. Persisting costs O(data), never O(time span): empty
//! ranges are skipped (the head's lower bound after a truncation is its next sample's,
//! not the range's end), and the WAL is cut and checkpointed once per persist, not once
//! per range.
//!
//! The steps of one range, each durable before the next (`FORMAT-segment.md`, "Writing a
//! segment"): raise the write floor to the range's end; stream the head's range into
//! `segments/NNNNNNNN.tmp/`, fsync, rename, fsync; commit the manifest with the segment
//! and the new persisted-until time; publish both to new queriers; drop the head's copy
//! once no older querier needs it. After the last range: cut the WAL and checkpoint
//! everything before the cut.

use std::sync::Arc;
use std::time::Instant;

use tsdb_compress::ChunkOptions;

use super::{Db, Inner, PersistState, SEGMENTS_DIR};
use crate::error::{Error, Result};
use crate::manifest::SegmentEntry;
use crate::observe::PersistEvent;
use crate::segment::write::{write_segment, SegmentSpec};
use crate::segment::Segment;

/// Which ranges a persist writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scope {
    /// The oldest block ranges while the head spans more than 1.5 block ranges
    /// (Prometheus' rule), leaving the newest half range writable.
    Due,
    /// Everything in the head.
    All,
}

/// Late samples waiting in the head start a persist of their own once there are this many
/// (otherwise they go with the next in-order persist, or after the interval below).
const LATE_PERSIST_SAMPLES: usize = 1_000_000;
/// … or once this long has passed since the last late persist (clock milliseconds).
const LATE_PERSIST_INTERVAL_MS: i64 = 10 * 60 * 1000;

pub(crate) fn segment_name(seq: u32) -> String {
    format!("{seq:08}")
}

fn floor_to(t: i64, range: i64) -> i64 {
    t.div_euclid(range).saturating_mul(range)
}

impl Db {
    /// Persists the head's oldest block ranges while the head spans more than 1.5 block
    /// ranges, and returns the number of segments written. The maintenance owner calls
    /// this; an embedder without background maintenance calls [`Db::maintain`].
    pub fn persist_if_due(&self) -> Result<usize> {
        self.inner.persist(Scope::Due)
    }

    /// Persists everything in the head, in block-range-aligned segments; afterwards the
    /// database refuses samples older than the newest one persisted. For bulk imports
    /// and tools; a running server relies on the maintenance owner.
    pub fn persist_all(&self) -> Result<usize> {
        self.inner.persist(Scope::All)
    }

    /// True when the head has grown enough that a persist is due (its span, or the late
    /// samples waiting): a cheap check on atomics, made after every append.
    pub(super) fn persist_due(&self) -> bool {
        let head = &self.inner.head;
        let range = self.inner.options.block_range_ms;
        let (min, max) = (head.min_t().max(head.write_floor()), head.max_t());
        (min <= max && max.saturating_sub(min) > range / 2 * 3)
            || head.late_samples() >= LATE_PERSIST_SAMPLES
    }
}

impl Inner {
    /// One maintenance pass: everything that is due now.
    pub(crate) fn maintain(&self) -> Result<()> {
        if self.wal.is_none() {
            return Ok(()); // read-only: nothing to maintain
        }
        self.persist(Scope::Due)?;
        // merging segments is maintenance too: whatever windows the persist completed;
        // then their rollups; then what is past retention goes
        self.compact(&mut |_| {})?;
        // rollups of the windows compaction completed, before retention may drop raw data
        self.downsample(&mut |_| {})?;
        self.apply_retention()?;
        // last: nothing retention deletes is copied to the cold tier first
        self.move_cold().map(|_| ())
    }

    fn persist(&self, scope: Scope) -> Result<usize> {
        let Some(wal) = &self.wal else {
            return Err(Error::ReadOnly);
        };
        let mut p = self.persist.lock();
        self.finish_late_persists(&mut p);
        // Where the log stands before anything is collected: every sample logged before
        // this is in the head now, so once this persist has taken the in-order ranges
        // and the late samples, the manifest can say so (replay skips what it covers).
        let lsn = wal.last_lsn()?;
        // Late samples logged before `lsn` were counted before it: none now means none
        // to take, and the in-order commits can carry `lsn` themselves.
        let late_pending = self.head.late_samples() > 0;
        if !late_pending {
            p.next_lsn = Some(lsn);
        }
        let range = self.options.block_range_ms;
        let head = &self.head;
        let mut written = 0;
        let mut persisted_any = false;
        loop {
            // from the committed `persisted_until`: a failed persist is retried from where it was
            let (min, max) = (head.min_t().max(p.manifest.persisted_until), head.max_t());
            if min > max || head.series_count() == 0 {
                break;
            }
            let start = floor_to(min, range);
            let end = match scope {
                Scope::Due if max.saturating_sub(min) <= range / 2 * 3 => break,
                Scope::Due => start.saturating_add(range),
                Scope::All => start.saturating_add(range).min(max.saturating_add(1)),
            };
            if end <= start {
                // only a sample at i64::MAX could get here, and appends refuse it
                return Err(Error::invariant(format!(
                    "empty persist range [{start}, {end})"
                )));
            }
            written += usize::from(self.persist_range(&mut p, start, end)?);
            persisted_any = true;
            if scope == Scope::All && end > max {
                break;
            }
        }
        let now = self.options.clock.now_ms();
        let late_due = late_pending
            && (scope == Scope::All
                || persisted_any
                || head.late_samples() >= LATE_PERSIST_SAMPLES
                || now.saturating_sub(p.last_late_persist_ms) >= LATE_PERSIST_INTERVAL_MS);
        if late_due {
            written += self.persist_late(&mut p, lsn)?;
            p.last_late_persist_ms = now;
            persisted_any = true;
        }
        p.next_lsn = None;
        if persisted_any {
            let (until, lsn) = (p.manifest.persisted_until, p.manifest.persisted_lsn);
            // The log: everything before `until` logged before `lsn` is in segments now.
            // One cut and one checkpoint for the whole persist.
            let started = Instant::now();
            let cut = wal.cut_file()?;
            let live = head.live_wal_refs();
            wal.checkpoint_keeping(
                cut.saturating_sub(1),
                |r| live.contains(&r),
                |t, at| t >= until || at >= lsn,
            )?;
            self.options.observer.checkpointed(started.elapsed());
        }
        Ok(written)
    }

    /// Persists the head's late samples (older than the write floor when they came) as
    /// segments overlapping the ones already written, one per block range that holds any,
    /// and commits them with `lsn` as the new `persisted_lsn`. The head keeps its copy
    /// readable until the segments are published and no older reader remains.
    fn persist_late(&self, p: &mut PersistState, lsn: crate::wal::Lsn) -> Result<usize> {
        let started = Instant::now();
        let range = self.options.block_range_ms;
        let head = &self.head;
        let batch = head.start_late_persist(range);
        let chunk_options = ChunkOptions {
            max_samples: tsdb_compress::chunk::DEFAULT_MAX_SAMPLES,
        };
        let mut next = p.manifest.clone();
        let mut segments = Vec::new();
        let mut written = || -> Result<()> {
            for &start in &batch.ranges {
                let end = start.saturating_add(range);
                let seq = p.manifest.next_seq;
                // used up whatever happens, as for in-order segments
                p.manifest.next_seq = seq.saturating_add(1);
                let dir = self.dir.join(SEGMENTS_DIR).join(segment_name(seq));
                let spec = SegmentSpec {
                    min_t: start,
                    max_t: end,
                    resolution_ms: 0,
                    level: 0,
                };
                let mut source = head.late_range(&batch, start, end, chunk_options);
                if write_segment(&*self.options.fs, &dir, spec, &mut source)?.is_some() {
                    next.segments.push(SegmentEntry::from_head(seq, start, end));
                    segments.push(Arc::new(Segment::open(&*self.options.fs, &dir)?));
                }
            }
            next.next_seq = p.manifest.next_seq;
            next.persisted_lsn = lsn;
            next.commit(&*self.options.fs, &self.dir)
        };
        if let Err(e) = written() {
            head.restore_late(&batch);
            return Err(e);
        }
        p.manifest = next;
        let count = segments.len();
        let (mut series, mut samples) = (0, 0);
        for s in &segments {
            series += s.meta().series;
            samples += s.meta().samples;
        }
        let generation = {
            let mut state = self.state.write();
            let mut list = state.segments.as_ref().clone();
            list.extend(segments);
            state.segments = Arc::new(list);
            state.generation += 1;
            state.manifest_generation = p.manifest.generation;
            state.generation
        };
        let ids = batch.series.iter().map(|&(_, id)| id).collect();
        p.pending_late.push((generation, ids));
        self.finish_late_persists(p);
        if let (Some(&first), Some(&last)) = (batch.ranges.first(), batch.ranges.last()) {
            self.options.observer.persisted(&PersistEvent {
                min_t: first,
                max_t: last.saturating_add(range),
                series,
                samples,
                duration: started.elapsed(),
            });
        }
        Ok(count)
    }

    /// Lets the head forget late samples whose segments every live reader sees.
    fn finish_late_persists(&self, p: &mut PersistState) {
        let oldest = self.readers.oldest_generation();
        p.pending_late.retain(|(generation, ids)| {
            if *generation <= oldest {
                self.head.finish_late_persist(ids);
                false
            } else {
                true
            }
        });
    }

    /// Writes the head's samples in `[start, end)` to a new segment (none if the range is
    /// empty), commits it, publishes it and drops the head's copy. True if a segment was
    /// written.
    fn persist_range(&self, p: &mut PersistState, start: i64, end: i64) -> Result<bool> {
        let started = Instant::now();
        let head = &self.head;
        head.raise_write_floor(end);
        let seq = p.manifest.next_seq;
        let dir = self.dir.join(SEGMENTS_DIR).join(segment_name(seq));
        let spec = SegmentSpec {
            min_t: start,
            max_t: end,
            resolution_ms: 0,
            level: 0,
        };
        let chunk_options = ChunkOptions {
            max_samples: tsdb_compress::chunk::DEFAULT_MAX_SAMPLES,
        };
        let mut source = head.range(start, end, chunk_options);
        let meta = write_segment(&*self.options.fs, &dir, spec, &mut source)?;
        let mut next = p.manifest.clone();
        next.persisted_until = next.persisted_until.max(end);
        if let Some(lsn) = p.next_lsn {
            next.persisted_lsn = lsn;
        }
        let segment = match meta {
            Some(_) => {
                // the number is used up even if the commit fails: the directory is then a
                // leftover that the next open removes, and a retry writes a new one
                p.manifest.next_seq = seq.saturating_add(1);
                next.next_seq = p.manifest.next_seq;
                next.segments.push(SegmentEntry::from_head(seq, start, end));
                Some(Arc::new(Segment::open(&*self.options.fs, &dir)?))
            }
            // Nothing to write (rare: the head's lower bound is exact but for chunks that
            // straddle `persisted_until`): only `persisted_until` moves.
            None => None,
        };
        // The manifest must say how far the head is persisted before the checkpoint
        // drops those samples from the log.
        if next != p.manifest {
            next.commit(&*self.options.fs, &self.dir)?;
        }
        p.manifest = next;
        let (series, samples) = segment
            .as_ref()
            .map_or((0, 0), |s| (s.meta().series, s.meta().samples));
        {
            let mut state = self.state.write();
            if let Some(seg) = segment {
                let mut list = state.segments.as_ref().clone();
                list.push(seg);
                state.segments = Arc::new(list);
            }
            state.persisted_until = state.persisted_until.max(end);
            state.manifest_generation = p.manifest.generation;
            state.generation += 1;
        }
        let drop_before = end.min(self.readers.oldest());
        head.truncate(drop_before, end);
        self.options.observer.persisted(&PersistEvent {
            min_t: start,
            max_t: end,
            series,
            samples,
            duration: started.elapsed(),
        });
        Ok(series > 0)
    }
}
