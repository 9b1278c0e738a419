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
            self.samples.clear();
            for s in SeriesIter::new(handles, self.mint, self.maxt - 1, Arc::from([])) {
                self.samples.push(s?);
            }
            if self.samples.is_empty() {
                continue;
            }
            let chunks = Chunk::encode_series(&self.samples, self.chunk_options).map_err(|e| {
                Error::invariant(format!("re-encoding {labels} for a segment: {e}"))
            })?;
            return Ok(Some(SourceSeries { labels, chunks }));
        }
        Ok(None)
    }
}
