//! The head: the recent, writable part of the database, held in memory (compressed) and
//! made durable by the write-ahead log.
//!
//! Series live in stripes (`series id % STRIPES`), each behind its own mutex, so two cores
//! appending to different series rarely meet; a batch is applied stripe by stripe, one
//! lock at a time. The label index is `tsdb-index`'s `MemIndex`.
//!
//! Split by operation like Prometheus's `head*.go`: `series` holds one series' chunks;
//! this module appends and validates; reading hands out chunk handles (`select`);
//! persisting reads a time range out (`collect_range`) and forgets it (`truncate`).

mod late;
mod range;
mod series;
#[cfg(test)]
mod tests;

use std::collections::HashSet;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::{Mutex, MutexGuard};

use tsdb_compress::ChunkOptions;
use tsdb_index::{Labels, Matcher, MemIndex, SeriesId};

use crate::batch::{Batch, BatchOutcome, Rejected, SampleError, SeriesKey, SeriesRef};
use crate::error::{Error, Result};
use crate::series_iter::ChunkHandle;
use series::{Appended, MemSeries};

/// Number of lock stripes; a power of two well above the core count.
const STRIPES: usize = 128;

/// The limits an append is checked against, fixed per call.
#[derive(Clone, Copy, Debug)]
pub(crate) struct AppendLimits {
    /// Samples after this are refused (clock-skew tolerance).
    pub(crate) max_t: i64,
    /// Out-of-order window in milliseconds (0: none).
    pub(crate) ooo_window: i64,
    /// Half the block range: in-order samples further behind the head's newest sample
    /// than this are refused (they would belong to an already-cut range).
    pub(crate) in_order_lag: i64,
}

/// A sample that was accepted as new and must be logged.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Accepted {
    pub(crate) wal_ref: u64,
    pub(crate) t: i64,
    pub(crate) v: f64,
}

type Stripe = Vec<Option<MemSeries>>;

/// A series resolved by labels with its stripe still locked, or why it was refused.
type Locked<'a> = std::result::Result<(SeriesId, MutexGuard<'a, Stripe>), SampleError>;

/// The in-memory head.
#[derive(Debug)]
pub(crate) struct Head {
    index: MemIndex,
    stripes: Box<[Mutex<Stripe>]>,
    chunk_options: ChunkOptions,
    /// Newest sample time seen (i64::MIN while empty).
    max_t: AtomicI64,
    /// A lower bound of the oldest sample time held (i64::MAX while empty); exact but
    /// for chunks straddling the last truncation point.
    min_t: AtomicI64,
    /// The oldest sample time appended since the current truncation started: a
    /// truncation computes the new `min_t` from the series it scans, and an append to a
    /// stripe it already scanned is accounted for here instead of being lost.
    min_since_truncate: AtomicI64,
    /// The write floor: appends before it are refused (it is raised to the end of a
    /// range before that range is persisted).
    write_floor: AtomicI64,
    series_count: AtomicUsize,
    /// Series holding late samples (fresh or being persisted): while none do, readers
    /// skip the head for time ranges it has persisted.
    late_series: AtomicUsize,
    /// Fresh late samples, waiting for a persist.
    late_samples: AtomicUsize,
    /// The next series' write-ahead-log id; above every id the log holds.
    next_wal_ref: AtomicU64,
}

fn lock(stripe: &Mutex<Stripe>) -> MutexGuard<'_, Stripe> {
    stripe.lock()
}

/// `(stripe, sample index)` pairs grouped by stripe, keeping the batch order within a
/// stripe: a counting sort (two passes over 128 counters, not a comparison sort).
fn group_by_stripe(order: &[(u32, u32)]) -> Vec<(u32, u32)> {
    let mut starts = [0usize; STRIPES + 1];
    for &(stripe, _) in order {
        if let Some(c) = starts.get_mut(stripe as usize + 1) {
            *c += 1;
        }
    }
    for i in 1..starts.len() {
        let prev = starts.get(i - 1).copied().unwrap_or(0);
        if let Some(c) = starts.get_mut(i) {
            *c += prev;
        }
    }
    let mut out = vec![(0u32, 0u32); order.len()];
    for &pair in order {
        if let Some(pos) = starts.get_mut(pair.0 as usize) {
            if let Some(slot) = out.get_mut(*pos) {
                *slot = pair;
            }
            *pos += 1;
        }
    }
    out
}

/// The id of the series in `slot` of stripe `stripe_no`: the inverse of [`slot_of`].
pub(crate) fn series_id(stripe_no: usize, slot: usize) -> SeriesId {
    #[expect(
        clippy::cast_possible_truncation,
        reason = "slots exist only for ids the index handed out, which are u32"
    )]
    let id = (slot * STRIPES + stripe_no) as SeriesId;
    id
}

fn slot_of(id: SeriesId) -> (usize, usize) {
    let id = id as usize;
    (id % STRIPES, id / STRIPES)
}

impl Head {
    pub(crate) fn new(chunk_options: ChunkOptions, write_floor: i64) -> Head {
        Head {
            index: MemIndex::new(),
            stripes: (0..STRIPES).map(|_| Mutex::new(Vec::new())).collect(),
            chunk_options,
            max_t: AtomicI64::new(i64::MIN),
            min_t: AtomicI64::new(i64::MAX),
            min_since_truncate: AtomicI64::new(i64::MAX),
            write_floor: AtomicI64::new(write_floor),
            series_count: AtomicUsize::new(0),
            late_series: AtomicUsize::new(0),
            late_samples: AtomicUsize::new(0),
            next_wal_ref: AtomicU64::new(0),
        }
    }

    pub(crate) fn max_t(&self) -> i64 {
        self.max_t.load(Ordering::Acquire)
    }

    pub(crate) fn min_t(&self) -> i64 {
        self.min_t.load(Ordering::Acquire)
    }

    pub(crate) fn write_floor(&self) -> i64 {
        self.write_floor.load(Ordering::Acquire)
    }

    pub(crate) fn series_count(&self) -> usize {
        self.series_count.load(Ordering::Relaxed)
    }

    /// Counts a late sample just stored in a series that held late samples already
    /// (`had_late`) or not.
    fn note_late(&self, had_late: bool) {
        if !had_late {
            self.late_series.fetch_add(1, Ordering::AcqRel);
        }
        self.late_samples.fetch_add(1, Ordering::AcqRel);
    }

    /// Series holding late samples.
    pub(crate) fn late_series(&self) -> usize {
        self.late_series.load(Ordering::Acquire)
    }

    /// Late samples waiting for a persist.
    pub(crate) fn late_samples(&self) -> usize {
        self.late_samples.load(Ordering::Acquire)
    }

    fn note_time(&self, t: i64) {
        // loads first: the read-modify-writes are rare once the bounds settle
        if t > self.max_t.load(Ordering::Acquire) {
            self.max_t.fetch_max(t, Ordering::AcqRel);
        }
        if t < self.min_since_truncate.load(Ordering::Acquire) {
            self.min_since_truncate.fetch_min(t, Ordering::AcqRel);
        }
        if t < self.min_t.load(Ordering::Acquire) {
            self.min_t.fetch_min(t, Ordering::AcqRel);
        }
    }

    /// The id of the series with these labels, creating it (and calling `on_new` under
    /// its stripe lock, so the series record is logged before any of its samples) when it
    /// is not in the head.
    pub(crate) fn get_or_create(
        &self,
        labels: &Labels,
        on_new: &mut dyn FnMut(u64, &Labels) -> Result<()>,
    ) -> Result<std::result::Result<SeriesId, SampleError>> {
        self.get_or_create_with(labels, None, on_new)
    }

    fn get_or_create_with(
        &self,
        labels: &Labels,
        replayed_ref: Option<u64>,
        on_new: &mut dyn FnMut(u64, &Labels) -> Result<()>,
    ) -> Result<std::result::Result<SeriesId, SampleError>> {
        // Head GC removes an idle series from its slot and from the index under the
        // stripe lock, so an id found before taking the lock may be gone after: then
        // look again (the index hands out a fresh id).
        for _ in 0..8 {
            match self.try_get_or_create(labels, replayed_ref, on_new)? {
                Some(r) => return Ok(r),
                None => continue,
            }
        }
        Err(Error::invariant(
            "series kept disappearing while being created (8 tries against head GC)",
        ))
    }

    /// One attempt at [`Head::get_or_create_with`]; `None` when the series was dropped
    /// by head GC between the index lookup and the stripe lock (the caller looks again).
    fn try_get_or_create(
        &self,
        labels: &Labels,
        replayed_ref: Option<u64>,
        on_new: &mut dyn FnMut(u64, &Labels) -> Result<()>,
    ) -> Result<Option<std::result::Result<SeriesId, SampleError>>> {
        Ok(self
            .try_get_or_create_locked(labels, replayed_ref, on_new)?
            .map(|r| r.map(|(id, _guard)| id)))
    }

    /// The id of the series with these labels, created if needed, returned with its
    /// stripe still locked: head GC removes series only under their stripe lock, so the
    /// series stays in its slot for as long as the caller holds the guard.
    fn get_or_create_locked(
        &self,
        labels: &Labels,
        on_new: &mut dyn FnMut(u64, &Labels) -> Result<()>,
    ) -> Result<Locked<'_>> {
        for _ in 0..8 {
            if let Some(r) = self.try_get_or_create_locked(labels, None, on_new)? {
                return Ok(r);
            }
        }
        Err(Error::invariant(
            "series kept disappearing while being created (8 tries against head GC)",
        ))
    }

    fn try_get_or_create_locked(
        &self,
        labels: &Labels,
        replayed_ref: Option<u64>,
        on_new: &mut dyn FnMut(u64, &Labels) -> Result<()>,
    ) -> Result<Option<Locked<'_>>> {
        let id = match self.index.get(labels) {
            Some(id) => id,
            None => match self.index.get_or_insert(labels) {
                Ok(id) => id,
                Err(e) => return Ok(Some(Err(SampleError::InvalidLabels(Arc::new(e))))),
            },
        };
        let (stripe, slot) = slot_of(id);
        let Some(stripe) = self.stripes.get(stripe) else {
            return Err(Error::invariant("series id outside the stripes"));
        };
        let mut guard = lock(stripe);
        if guard.len() <= slot {
            guard.resize_with(slot + 1, || None);
        }
        if let Some(entry) = guard.get_mut(slot) {
            match (entry.as_mut(), replayed_ref) {
                (None, _) if self.index.get(labels) != Some(id) => return Ok(None),
                (None, _) => {
                    let wal_ref = match replayed_ref {
                        Some(r) => {
                            self.next_wal_ref
                                .fetch_max(r.saturating_add(1), Ordering::AcqRel);
                            r
                        }
                        None => self.next_wal_ref.fetch_add(1, Ordering::AcqRel),
                    };
                    on_new(wal_ref, labels)?;
                    *entry = Some(MemSeries::new(labels.clone(), wal_ref));
                    self.series_count.fetch_add(1, Ordering::Relaxed);
                }
                (Some(series), Some(r)) => {
                    // the series was dropped and re-created under a newer log id
                    series.wal_ref = series.wal_ref.max(r);
                    self.next_wal_ref
                        .fetch_max(r.saturating_add(1), Ordering::AcqRel);
                }
                (Some(_), None) => {}
            }
        }
        Ok(Some(Ok((id, guard))))
    }

    /// True when `id` names a series in the head.
    fn exists(&self, id: SeriesId) -> Result<bool> {
        let (stripe, slot) = slot_of(id);
        let Some(stripe) = self.stripes.get(stripe) else {
            return Ok(false);
        };
        Ok(lock(stripe).get(slot).is_some_and(Option::is_some))
    }

    /// Validates and applies a batch. New series are reported to `on_new` (under their
    /// stripe lock); the samples that are new are returned for the log.
    pub(crate) fn append_batch(
        &self,
        batch: &Batch,
        limits: AppendLimits,
        on_new: &mut dyn FnMut(u64, &Labels) -> Result<()>,
        outcome: &mut BatchOutcome,
        accepted: &mut Vec<Accepted>,
    ) -> Result<()> {
        let mut ids = self.resolve_series(batch, on_new)?;
        self.apply_samples(batch, &mut ids, limits, on_new, outcome, accepted)
    }

    /// The first half of [`Head::append_batch`]: each series of the batch by its id, or
    /// why it is refused. Series named by labels are created if needed; stripe locks are
    /// taken and released one series at a time, so head GC may drop a resolved series
    /// before its samples are applied (see [`Head::apply_samples`]).
    fn resolve_series(
        &self,
        batch: &Batch,
        on_new: &mut dyn FnMut(u64, &Labels) -> Result<()>,
    ) -> Result<Vec<std::result::Result<SeriesId, SampleError>>> {
        let mut ids = Vec::with_capacity(batch.series.len());
        for key in &batch.series {
            let id = match key {
                SeriesKey::Labels(labels) => self.get_or_create(labels, on_new)?,
                SeriesKey::Ref(r) => {
                    if self.exists(r.0)? {
                        Ok(r.0)
                    } else {
                        Err(SampleError::UnknownSeriesRef(r.0))
                    }
                }
            };
            ids.push(id);
        }
        Ok(ids)
    }

    /// The second half of [`Head::append_batch`]: applies the samples stripe by stripe
    /// to the series `ids` resolved, and sets the outcome's refs.
    ///
    /// Head GC (`truncate`) may have dropped a series between its resolution and its
    /// stripe lock here: a series created by this batch holds no sample yet and is idle,
    /// and so is an existing one whose newest sample is older than the persisted range.
    /// A series named by labels is then resolved again, under its (new) stripe lock, and
    /// re-created if need be: `on_new` logs the new series record, and it reaches the log
    /// before the batch's samples, which carry the new log id. A series named by a ref
    /// really is gone and its samples get [`SampleError::UnknownSeriesRef`] (the writer
    /// appends by labels again), as [`crate::SeriesRef`] documents. Only this miss path
    /// costs anything: the common case takes each stripe lock once, as before.
    fn apply_samples(
        &self,
        batch: &Batch,
        ids: &mut [std::result::Result<SeriesId, SampleError>],
        limits: AppendLimits,
        on_new: &mut dyn FnMut(u64, &Labels) -> Result<()>,
        outcome: &mut BatchOutcome,
        accepted: &mut Vec<Accepted>,
    ) -> Result<()> {
        // Visit samples stripe by stripe (stable, so a series' samples keep their order).
        let mut order: Vec<(u32, u32)> = Vec::with_capacity(batch.samples.len());
        for (i, s) in batch.samples.iter().enumerate() {
            match ids.get(s.series as usize) {
                Some(Ok(id)) => {
                    let i = u32::try_from(i).map_err(|_| {
                        Error::invalid_argument("a batch holds more than 2^32 samples")
                    })?;
                    #[expect(
                        clippy::cast_possible_truncation,
                        reason = "a stripe number is below STRIPES (128)"
                    )]
                    order.push((slot_of(*id).0 as u32, i));
                }
                Some(Err(e)) => outcome.rejected.push(Rejected {
                    index: i,
                    error: e.clone(),
                }),
                None => outcome.rejected.push(Rejected {
                    index: i,
                    error: SampleError::UnknownSeriesRef(s.series),
                }),
            }
        }
        let order = group_by_stripe(&order);

        // one view of the head's newest time for the whole batch, so the verdict on a
        // sample does not depend on the order stripes are visited in
        let head_max = self.max_t();
        // The write floor is read under each stripe's lock: a persist raises it, then
        // reads every series of the range under its stripe lock, so a sample is either
        // appended before the persist reads its series (and persisted with it) or sees
        // the raised floor and is refused; none can slip in behind the persist.
        let mut current: Option<(usize, MutexGuard<'_, Stripe>, i64)> = None;
        for &(_, i) in &order {
            let Some(s) = batch.samples.get(i as usize) else {
                return Err(Error::invariant("a grouped sample is not in the batch"));
            };
            let key = s.series as usize;
            // the id may have changed (or failed) since grouping, if an earlier sample
            // of the series re-resolved it: the lock to take follows the id
            let id = match ids.get(key) {
                Some(Ok(id)) => *id,
                Some(Err(error)) => {
                    outcome.rejected.push(Rejected {
                        index: i as usize,
                        error: error.clone(),
                    });
                    continue;
                }
                None => return Err(Error::invariant("a grouped sample has no resolved series")),
            };
            let (stripe_no, slot) = slot_of(id);
            if current.as_ref().is_none_or(|(n, _, _)| *n != stripe_no) {
                drop(current.take()); // release the previous stripe first
                let Some(stripe) = self.stripes.get(stripe_no) else {
                    return Err(Error::invariant("series id outside the stripes"));
                };
                let guard = lock(stripe);
                current = Some((stripe_no, guard, self.write_floor()));
            }
            let present = current
                .as_ref()
                .is_some_and(|(_, guard, _)| matches!(guard.get(slot), Some(Some(_))));
            let slot = if present {
                slot
            } else {
                // dropped by head GC since it was resolved
                let Some(SeriesKey::Labels(labels)) = batch.series.get(key) else {
                    // named by a ref: gone, as if it had been gone before the batch
                    let error = SampleError::UnknownSeriesRef(id);
                    if let Some(entry) = ids.get_mut(key) {
                        *entry = Err(error.clone());
                    }
                    outcome.rejected.push(Rejected {
                        index: i as usize,
                        error,
                    });
                    continue;
                };
                drop(current.take()); // one stripe lock at a time
                match self.get_or_create_locked(labels, on_new)? {
                    Ok((new_id, guard)) => {
                        if let Some(entry) = ids.get_mut(key) {
                            *entry = Ok(new_id);
                        }
                        let (stripe_no, slot) = slot_of(new_id);
                        current = Some((stripe_no, guard, self.write_floor()));
                        slot
                    }
                    Err(error) => {
                        if let Some(entry) = ids.get_mut(key) {
                            *entry = Err(error.clone());
                        }
                        outcome.rejected.push(Rejected {
                            index: i as usize,
                            error,
                        });
                        continue;
                    }
                }
            };
            let Some((_, guard, floor)) = current.as_mut() else {
                return Err(Error::invariant("no stripe locked"));
            };
            let floor = *floor;
            let Some(Some(series)) = guard.get_mut(slot) else {
                return Err(Error::invariant(
                    "a series left its slot while its stripe was locked",
                ));
            };
            match self.check_and_append(series, s.t, s.v, limits, floor, head_max) {
                Ok(Appended::New) => {
                    outcome.accepted += 1;
                    accepted.push(Accepted {
                        wal_ref: series.wal_ref,
                        t: s.t,
                        v: s.v,
                    });
                }
                Ok(Appended::Duplicate) => outcome.accepted += 1,
                Err(error) => outcome.rejected.push(Rejected {
                    index: i as usize,
                    error,
                }),
            }
        }
        drop(current);
        outcome.rejected.sort_by_key(|r| r.index);
        outcome.refs = ids
            .iter()
            .map(|r| r.as_ref().ok().map(|&id| SeriesRef(id)))
            .collect();
        Ok(())
    }

    fn check_and_append(
        &self,
        series: &mut MemSeries,
        t: i64,
        v: f64,
        limits: AppendLimits,
        floor: i64,
        head_max: i64,
    ) -> std::result::Result<Appended, SampleError> {
        if t > limits.max_t {
            return Err(SampleError::TooFarInFuture {
                t,
                max: limits.max_t,
            });
        }
        if t < floor {
            // Late: its range is persisted (or being persisted). Accepted within the
            // out-of-order window, measured from the head's newest sample (from the floor
            // while the head is empty), into the late store.
            let reference = if head_max == i64::MIN {
                floor
            } else {
                head_max
            };
            let min = reference.saturating_sub(limits.ooo_window);
            if limits.ooo_window == 0 || t < min {
                return Err(SampleError::TooOld {
                    t,
                    min: if limits.ooo_window == 0 { floor } else { min },
                });
            }
            let had_late = series.has_late();
            let r = series.append_late(t, v, self.chunk_options)?;
            if r == Appended::New {
                self.note_late(had_late);
                self.note_time(t);
            }
            return Ok(r);
        }
        let in_order_min = floor.max(head_max.saturating_sub(limits.in_order_lag));
        let ooo_min = floor.max(head_max.saturating_sub(limits.ooo_window));
        let is_in_order = series.last_t().is_none_or(|last| t >= last);
        if is_in_order && t < in_order_min && head_max != i64::MIN {
            if limits.ooo_window > 0 && t >= ooo_min {
                // within the window: fine even though it is old for in-order data
            } else {
                return Err(SampleError::TooOld {
                    t,
                    min: in_order_min,
                });
            }
        }
        let ooo_allowed = limits.ooo_window > 0 && t >= ooo_min;
        if !is_in_order && limits.ooo_window > 0 && !ooo_allowed {
            return Err(SampleError::TooOld { t, min: ooo_min });
        }
        let r = series.append(t, v, ooo_allowed, self.chunk_options)?;
        self.note_time(t);
        Ok(r)
    }

    /// Re-creates a series while replaying the log, under its logged id.
    pub(crate) fn replay_series(&self, wal_ref: u64, labels: &Labels) -> Result<Option<SeriesId>> {
        Ok(self
            .get_or_create_with(labels, Some(wal_ref), &mut |_, _| Ok(()))?
            .ok())
    }

    /// Applies a logged sample while replaying: accepted in any order (the log holds only
    /// samples that were accepted once), except what segments already hold.
    pub(crate) fn replay_sample(&self, id: SeriesId, t: i64, v: f64) {
        if t < self.write_floor() {
            return;
        }
        let (stripe, slot) = slot_of(id);
        let Some(stripe) = self.stripes.get(stripe) else {
            return;
        };
        let mut guard = lock(stripe);
        if let Some(Some(series)) = guard.get_mut(slot) {
            if series.append(t, v, true, self.chunk_options).is_ok() {
                self.note_time(t);
            }
        }
    }

    /// Applies a logged late sample while replaying: older than what segments hold, but
    /// logged after the last persist began, so not in them (or not surely): into the
    /// series' late store, whatever the window.
    pub(crate) fn replay_late(&self, id: SeriesId, t: i64, v: f64) {
        let (stripe, slot) = slot_of(id);
        let Some(stripe) = self.stripes.get(stripe) else {
            return;
        };
        let mut guard = lock(stripe);
        if let Some(Some(series)) = guard.get_mut(slot) {
            let had_late = series.has_late();
            if matches!(
                series.append_late(t, v, self.chunk_options),
                Ok(Appended::New)
            ) {
                self.note_late(had_late);
                self.note_time(t);
            }
        }
    }

    /// The series matching `matchers` with their chunks overlapping `[mint, maxt]`.
    /// In-order and out-of-order chunks are read from `persisted_until` on (segments hold
    /// what is before it; the handles skip it); late samples over all of `[mint, maxt]`.
    pub(crate) fn select(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
        persisted_until: i64,
    ) -> Result<Vec<(Labels, Vec<ChunkHandle>)>> {
        let in_order_min = mint.max(persisted_until);
        let with_late = self.late_series() > 0;
        let ids = self.index.select(matchers)?;
        let mut out = Vec::with_capacity(usize::try_from(ids.len()).unwrap_or(0));
        let mut current: Option<(usize, MutexGuard<'_, Stripe>)> = None;
        // ids ascend, so stripes repeat every STRIPES ids; group by stripe
        let mut by_stripe: Vec<SeriesId> = ids.iter().collect();
        by_stripe.sort_by_key(|&id| slot_of(id).0);
        for id in by_stripe {
            let (stripe_no, slot) = slot_of(id);
            if current.as_ref().is_none_or(|(n, _)| *n != stripe_no) {
                drop(current.take()); // release the previous stripe first
                let Some(stripe) = self.stripes.get(stripe_no) else {
                    return Err(Error::invariant("series id outside the stripes"));
                };
                current = Some((stripe_no, lock(stripe)));
            }
            let Some((_, guard)) = current.as_ref() else {
                return Err(Error::invariant("no stripe locked"));
            };
            if let Some(Some(series)) = guard.get(slot) {
                let mut handles = Vec::new();
                if in_order_min <= maxt {
                    series.chunk_handles(in_order_min, maxt, &mut handles);
                    for h in &mut handles {
                        h.from = persisted_until;
                    }
                }
                if with_late {
                    series.late_handles(mint, maxt, &mut handles);
                }
                if !handles.is_empty() {
                    out.push((series.labels.clone(), handles));
                }
            }
        }
        Ok(out)
    }

    /// Label names of series matching `matchers` (all series with no matchers).
    pub(crate) fn label_names(&self, matchers: &[Matcher]) -> Result<Vec<String>> {
        Ok(self.index.label_names(matchers)?)
    }

    /// Values of label `name` among series matching `matchers`.
    pub(crate) fn label_values(&self, name: &str, matchers: &[Matcher]) -> Result<Vec<String>> {
        Ok(self.index.label_values(name, matchers)?)
    }

    /// Refuses samples before `t` from now on (they are being persisted).
    pub(crate) fn raise_write_floor(&self, t: i64) {
        self.write_floor.fetch_max(t, Ordering::AcqRel);
    }

    /// Cardinality statistics of the head's index.
    pub(crate) fn stats(&self, top_n: usize) -> tsdb_index::CardinalityStats {
        self.index.stats(top_n)
    }

    /// Forgets everything before `t` (persisted, and no reader needs it) and drops series
    /// with nothing written since `idle_before`.
    pub(crate) fn truncate(&self, t: i64, idle_before: i64) {
        self.min_since_truncate.store(i64::MAX, Ordering::Release);
        let mut new_min = i64::MAX;
        for (stripe_no, stripe) in self.stripes.iter().enumerate() {
            let mut removed = tsdb_index::RoaringBitmap::new();
            let mut guard = lock(stripe);
            for (slot, entry) in guard.iter_mut().enumerate() {
                let Some(series) = entry else { continue };
                series.truncate_before(t);
                if series.is_idle_before(idle_before) {
                    *entry = None;
                    self.series_count.fetch_sub(1, Ordering::Relaxed);
                    removed.insert(series_id(stripe_no, slot));
                } else {
                    // The true lower bound, not `t`: after a time gap the next persist
                    // starts at the next sample's block instead of walking empty ones.
                    new_min = new_min.min(series.first_t_from(t));
                }
            }
            // Out of the index too, under the stripe lock (see `get_or_create_with`): its
            // ids are never reused, label names and values stop listing the series, and
            // a series that comes back gets a new id and a new entry.
            if !removed.is_empty() {
                self.index.remove(&removed);
            }
        }
        let appended_meanwhile = self.min_since_truncate.load(Ordering::Acquire);
        self.min_t
            .store(new_min.min(appended_meanwhile), Ordering::Release);
    }

    /// Chunks held, open and out-of-order ones included.
    pub(crate) fn chunk_count(&self) -> usize {
        let mut n = 0;
        for stripe in self.stripes.iter() {
            n += lock(stripe)
                .iter()
                .flatten()
                .map(MemSeries::chunk_count)
                .sum::<usize>();
        }
        n
    }

    /// Samples held (sealed chunks count their samples).
    pub(crate) fn sample_count(&self) -> usize {
        let mut n = 0;
        for stripe in self.stripes.iter() {
            n += lock(stripe)
                .iter()
                .flatten()
                .map(MemSeries::sample_count)
                .sum::<usize>();
        }
        n
    }

    /// The log ids of every live series, for a WAL checkpoint.
    pub(crate) fn live_wal_refs(&self) -> HashSet<u64> {
        let mut out = HashSet::with_capacity(self.series_count());
        for stripe in self.stripes.iter() {
            out.extend(lock(stripe).iter().flatten().map(|s| s.wal_ref));
        }
        out
    }
}
