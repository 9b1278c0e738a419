//! Reading a time range of the head out for a segment: [`HeadRange`], the head's
//! [`SeriesSource`].

use std::sync::Arc;

use tsdb_compress::{Chunk, ChunkOptions, Sample};
use tsdb_index::{Labels, SeriesId};

use super::{lock, series_id, slot_of, Head};
use crate::error::{Error, Result};
use crate::segment::write::{SeriesSource, SourceSeries};
use crate::series_iter::SeriesIter;

/// The head's samples in `[mint, maxt)`, series by series in label order, merged
/// (in-order and out-of-order data), deduplicated and re-encoded into chunks of the
/// segment's size. Built once (the labels of the series with data in the range, sorted);
/// each series is then read under its stripe lock and encoded only when the writer asks
/// for it, so a persist holds one series' samples at a time.
///
/// The range must be closed to appends (the write floor raised past `maxt`) and the
/// caller must hold the persist lock, so no series in the list leaves the head meanwhile.
pub(crate) struct HeadRange<'a> {
    head: &'a Head,
    mint: i64,
    maxt: i64,
    chunk_options: ChunkOptions,
    series: std::vec::IntoIter<(Labels, SeriesId)>,
    samples: Vec<Sample>,
}

impl Head {
    /// The head's [`SeriesSource`] for `[mint, maxt)`.
    pub(crate) fn range(&self, mint: i64, maxt: i64, chunk_options: ChunkOptions) -> HeadRange<'_> {
        let mut series = Vec::new();
        for (stripe_no, stripe) in self.stripes.iter().enumerate() {
            let guard = lock(stripe);
            for (slot, entry) in guard.iter().enumerate() {
                if let Some(s) = entry {
                    if s.may_have_data_in(mint, maxt - 1) {
                        series.push((s.labels.clone(), series_id(stripe_no, slot)));
                    }
                }
            }
        }
        series.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        HeadRange {
            head: self,
            mint,
            maxt,
            chunk_options,
            series: series.into_iter(),
            samples: Vec::new(),
        }
    }
}

impl SeriesSource for HeadRange<'_> {
    fn next_series(&mut self) -> Result<Option<SourceSeries>> {
        for (labels, id) in self.series.by_ref() {
            let (stripe_no, slot) = slot_of(id);
            let handles = {
                let Some(stripe) = self.head.stripes.get(stripe_no) else {
                    return Err(Error::invariant("series id outside the stripes"));
                };
                let guard = lock(stripe);
                let Some(Some(series)) = guard.get(slot) else {
                    return Err(Error::invariant(format!(
                        "series {labels} left the head while being persisted"
                    )));
                };
                let mut handles = Vec::new();
                series.chunk_handles(self.mint, self.maxt - 1, &mut handles);
                handles
            };
            if let Some(chunks) = reencode(
                handles,
                self.mint,
                self.maxt,
                self.chunk_options,
                &mut self.samples,
                &labels,
            )? {
                return Ok(Some(SourceSeries::raw(labels, chunks)));
            }
        }
        Ok(None)
    }
}

/// The samples of `handles` in `[mint, maxt)`, merged and deduplicated, re-encoded into
/// a segment's chunks; `None` when there are none. `samples` is a reused buffer.
fn reencode(
    handles: Vec<crate::series_iter::ChunkHandle>,
    mint: i64,
    maxt: i64,
    options: ChunkOptions,
    samples: &mut Vec<Sample>,
    labels: &Labels,
) -> Result<Option<Vec<Chunk>>> {
    samples.clear();
    for s in SeriesIter::new(handles, mint, maxt - 1, Arc::from([])) {
        samples.push(s?);
    }
    if samples.is_empty() {
        return Ok(None);
    }
    let chunks = Chunk::encode_series(samples, options)
        .map_err(|e| Error::invariant(format!("re-encoding {labels} for a segment: {e}")))?;
    Ok(Some(chunks))
}

/// The series whose late samples a persist took (`Head::start_late_persist`), in label
/// order, and the block ranges those samples fall in.
pub(crate) struct LateBatch {
    pub(crate) series: Vec<(Labels, SeriesId)>,
    pub(crate) ranges: std::collections::BTreeSet<i64>,
    pub(crate) samples: usize,
}

impl Head {
    /// Moves every series' fresh late samples into its `persisting` buffer (readers still
    /// see them there) and says which series and block ranges they are in. The caller
    /// holds the persist lock and finishes with [`Head::finish_late_persist`] once the
    /// segments are published, or [`Head::restore_late`] if writing them failed.
    pub(crate) fn start_late_persist(&self, range: i64) -> LateBatch {
        let mut batch = LateBatch {
            series: Vec::new(),
            ranges: std::collections::BTreeSet::new(),
            samples: 0,
        };
        for (stripe_no, stripe) in self.stripes.iter().enumerate() {
            let mut guard = lock(stripe);
            for (slot, entry) in guard.iter_mut().enumerate() {
                let Some(s) = entry else { continue };
                let taken = s.start_late_persist();
                if taken > 0 {
                    self.late_samples
                        .fetch_sub(taken, std::sync::atomic::Ordering::AcqRel);
                    batch.samples += taken;
                    s.persisting_ranges(range, &mut batch.ranges);
                    batch
                        .series
                        .push((s.labels.clone(), series_id(stripe_no, slot)));
                }
            }
        }
        batch.series.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        batch
    }

    /// Writing the late segments failed: the samples taken become fresh again.
    pub(crate) fn restore_late(&self, batch: &LateBatch) {
        for &(_, id) in &batch.series {
            self.with_series(id, |s| {
                let n = s.persisting_count();
                s.restore_late(self.chunk_options);
                self.late_samples
                    .fetch_add(n, std::sync::atomic::Ordering::AcqRel);
            });
        }
    }

    /// The late segments are published and no reader that could miss them remains: the
    /// head forgets the samples it took.
    pub(crate) fn finish_late_persist(&self, ids: &[SeriesId]) {
        for &id in ids {
            self.with_series(id, |s| {
                s.finish_late_persist();
                if !s.has_late() {
                    self.late_series
                        .fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
                }
            });
        }
    }

    fn with_series(&self, id: SeriesId, f: impl FnOnce(&mut super::series::MemSeries)) {
        let (stripe_no, slot) = slot_of(id);
        if let Some(stripe) = self.stripes.get(stripe_no) {
            if let Some(Some(s)) = lock(stripe).get_mut(slot) {
                f(s);
            }
        }
    }

    /// The [`SeriesSource`] of the late samples a persist took that fall in `[mint, maxt)`.
    pub(crate) fn late_range<'a>(
        &'a self,
        batch: &'a LateBatch,
        mint: i64,
        maxt: i64,
        chunk_options: ChunkOptions,
    ) -> LateRange<'a> {
        LateRange {
            head: self,
            mint,
            maxt,
            chunk_options,
            series: batch.series.iter(),
            samples: Vec::new(),
        }
    }
}

/// Late samples being persisted, in `[mint, maxt)`, series by series in label order.
pub(crate) struct LateRange<'a> {
    head: &'a Head,
    mint: i64,
    maxt: i64,
    chunk_options: ChunkOptions,
    series: std::slice::Iter<'a, (Labels, SeriesId)>,
    samples: Vec<Sample>,
}

impl SeriesSource for LateRange<'_> {
    fn next_series(&mut self) -> Result<Option<SourceSeries>> {
        for (labels, id) in self.series.by_ref() {
            let mut handles = Vec::new();
            self.head.with_series(*id, |s| {
                s.persisting_handles(self.mint, self.maxt - 1, &mut handles);
            });
            if let Some(chunks) = reencode(
                handles,
                self.mint,
                self.maxt,
                self.chunk_options,
                &mut self.samples,
                labels,
            )? {
                return Ok(Some(SourceSeries::raw(labels.clone(), chunks)));
            }
        }
        Ok(None)
    }
}
