//! Late samples of one series: samples older than the head's write floor (their time
//! range has already been persisted, or is being persisted), accepted within the
//! out-of-order window and persisted later as segments that overlap the earlier ones.
//!
//! A remote-write sender catching up after an outage, an agent replaying its buffer and a
//! backfill of the last hours all send such samples. They never go into the series'
//! in-order chunks (those are cut and dropped by time as the head is persisted); they wait
//! here in two buffers, like an LSM memtable and its immutable twin:
//!
//! - `fresh`: where new late samples go;
//! - `persisting`: what a persist in progress took out of `fresh`. Readers still see it,
//!   until the segments holding it are published and no reader older than them remains;
//!   if the persist fails it goes back into `fresh`.
//!
//! Both are sorted sample lists that seal into chunks as they fill; chunks of one buffer
//! may overlap in time (samples arrive in any order) and readers merge them.

use std::sync::Arc;

use tsdb_compress::{Chunk, ChunkOptions, Sample};

use crate::series_iter::{ChunkBytes, ChunkHandle};

/// Samples, sorted by time with unique timestamps, and the chunks earlier ones were
/// sealed into.
#[derive(Debug, Default)]
pub(crate) struct Buffer {
    samples: Vec<(i64, f64)>,
    chunks: Vec<Arc<Chunk>>,
    /// Samples in `samples` and `chunks`.
    count: usize,
}

impl Buffer {
    pub(crate) fn is_empty(&self) -> bool {
        self.count == 0
    }

    pub(crate) fn len(&self) -> usize {
        self.count
    }

    /// The value bits stored at `t`, if any.
    fn value_at(&self, t: i64) -> Option<u64> {
        if let Ok(i) = self.samples.binary_search_by_key(&t, |&(x, _)| x) {
            return self.samples.get(i).map(|&(_, v)| v.to_bits());
        }
        self.chunks.iter().find_map(|c| {
            let view = c.view().ok()?;
            if t < view.min_time() || t > view.max_time() {
                return None;
            }
            match view.iter().seek(t) {
                Some(Ok(s)) if s.t == t => Some(s.v.to_bits()),
                _ => None,
            }
        })
    }

    /// Inserts a sample whose timestamp is in neither buffer.
    fn insert(&mut self, t: i64, v: f64, options: ChunkOptions) {
        let i = self.samples.partition_point(|&(x, _)| x < t);
        self.samples.insert(i, (t, v));
        self.count += 1;
        if self.samples.len() >= options.max_samples {
            let samples: Vec<Sample> = self.samples.iter().map(|&(t, v)| Sample { t, v }).collect();
            if let Ok(chunks) = Chunk::encode_series(&samples, options) {
                self.chunks.extend(chunks.into_iter().map(Arc::new));
                self.samples.clear();
            }
        }
    }

    /// Moves everything of `other` in (a failed persist gives its samples back). The two
    /// share no timestamp: a sample is only inserted where neither buffer has its time.
    fn absorb(&mut self, other: Buffer, options: ChunkOptions) {
        self.count += other.chunks.iter().map(|c| c.len()).sum::<usize>();
        self.chunks.extend(other.chunks);
        for (t, v) in other.samples {
            self.insert(t, v, options);
        }
    }

    /// Readers' handles over `[mint, maxt]`.
    fn handles(&self, mint: i64, maxt: i64, out: &mut Vec<ChunkHandle>) {
        let mut push = |chunk: Arc<Chunk>| {
            if let Ok(view) = chunk.view() {
                let (min_t, max_t) = (view.min_time(), view.max_time());
                if max_t >= mint && min_t <= maxt {
                    out.push(ChunkHandle {
                        min_t,
                        max_t,
                        from: i64::MIN,
                        bytes: ChunkBytes::Head(chunk.clone()),
                    });
                }
            }
        };
        for c in &self.chunks {
            push(c.clone());
        }
        let samples: Vec<Sample> = self
            .samples
            .iter()
            .filter(|&&(t, _)| t >= mint && t <= maxt)
            .map(|&(t, v)| Sample { t, v })
            .collect();
        if !samples.is_empty() {
            let options = ChunkOptions {
                max_samples: samples.len(),
            };
            if let Ok(chunks) = Chunk::encode_series(&samples, options) {
                for c in chunks {
                    push(Arc::new(c));
                }
            }
        }
    }

    /// The block-range starts (`floor(t / range) * range`) that hold samples.
    fn range_starts(&self, range: i64, out: &mut std::collections::BTreeSet<i64>) {
        let floor = |t: i64| t.div_euclid(range).saturating_mul(range);
        out.extend(self.samples.iter().map(|&(t, _)| floor(t)));
        for c in &self.chunks {
            if let Ok(view) = c.view() {
                let (lo, hi) = (floor(view.min_time()), floor(view.max_time()));
                if lo == hi {
                    out.insert(lo);
                } else {
                    // a chunk spanning several ranges: look at its samples
                    for s in view.iter().flatten() {
                        out.insert(floor(s.t));
                    }
                }
            }
        }
    }
}

/// The late samples of one series (see the module docs).
#[derive(Debug, Default)]
pub(crate) struct LateStore {
    pub(crate) fresh: Buffer,
    pub(crate) persisting: Buffer,
}

impl LateStore {
    pub(crate) fn is_empty(&self) -> bool {
        self.fresh.is_empty() && self.persisting.is_empty()
    }

    /// The value bits stored at `t` in either buffer.
    pub(crate) fn value_at(&self, t: i64) -> Option<u64> {
        self.fresh
            .value_at(t)
            .or_else(|| self.persisting.value_at(t))
    }

    /// Adds a sample whose timestamp the series does not hold anywhere.
    pub(crate) fn insert(&mut self, t: i64, v: f64, options: ChunkOptions) {
        self.fresh.insert(t, v, options);
    }

    /// A persist takes the fresh samples; returns how many. Only one persist at a time
    /// runs, so `persisting` is empty here.
    pub(crate) fn start_persisting(&mut self) -> usize {
        debug_assert!(self.persisting.is_empty());
        self.persisting = std::mem::take(&mut self.fresh);
        self.persisting.len()
    }

    /// The persist failed: its samples become fresh again.
    pub(crate) fn restore(&mut self, options: ChunkOptions) {
        let taken = std::mem::take(&mut self.persisting);
        self.fresh.absorb(taken, options);
    }

    /// The persist is published and no reader needs the head's copy any more.
    pub(crate) fn finish_persisting(&mut self) -> usize {
        std::mem::take(&mut self.persisting).len()
    }

    /// Readers' handles over `[mint, maxt]`, fresh first.
    pub(crate) fn handles(&self, mint: i64, maxt: i64, out: &mut Vec<ChunkHandle>) {
        self.fresh.handles(mint, maxt, out);
        self.persisting.handles(mint, maxt, out);
    }

    /// Handles over `[mint, maxt]` of what is being persisted, for the segment writer.
    pub(crate) fn persisting_handles(&self, mint: i64, maxt: i64, out: &mut Vec<ChunkHandle>) {
        self.persisting.handles(mint, maxt, out);
    }

    /// Block-range starts of what is being persisted.
    pub(crate) fn persisting_ranges(&self, range: i64, out: &mut std::collections::BTreeSet<i64>) {
        self.persisting.range_starts(range, out);
    }

    pub(crate) fn sample_count(&self) -> usize {
        self.fresh.len() + self.persisting.len()
    }
}
