//! What writers hand to [`crate::Db`]: batches of samples per series, and the per-sample
//! verdicts they get back.
//!
//! A batch is accepted or refused sample by sample: one bad series or sample gets its own
//! [`SampleError`] and never stops the rest (the good ones land and are acknowledged
//! together). Only failures of the database itself (the write-ahead log) fail a batch as
//! a whole, as an [`crate::Error`].

use tsdb_index::Labels;

/// A handle on a series in the head, returned by the first append so hot writers can skip
/// the label lookup afterwards (like Prometheus's appender refs). It stays valid while the
/// series lives in the head; a series that went idle and was dropped from the head answers
/// [`SampleError::UnknownSeriesRef`], after which the writer appends by labels again.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SeriesRef(pub(crate) u32);

impl SeriesRef {
    /// The raw id, for logging.
    pub fn id(self) -> u32 {
        self.0
    }
}

/// How a batch names a series.
#[derive(Clone, Debug)]
pub enum SeriesKey {
    /// By its labels (looked up, or created on first sight).
    Labels(Labels),
    /// By the ref an earlier append returned.
    Ref(SeriesRef),
}

/// Index of a series within one [`Batch`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchSeries(pub(crate) u32);

/// A batch of samples for many series, appended (and made durable) together.
///
/// ```
/// use tsdb_core::Batch;
/// use tsdb_index::Labels;
/// let mut batch = Batch::new();
/// let cpu = batch.series(Labels::new([("__name__", "cpu"), ("host", "a")])?);
/// batch.sample(cpu, 1_000, 0.5);
/// batch.sample(cpu, 2_000, 0.7);
/// assert_eq!(batch.len(), 2);
/// # Ok::<(), tsdb_index::Error>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct Batch {
    pub(crate) series: Vec<SeriesKey>,
    pub(crate) samples: Vec<BatchSample>,
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct BatchSample {
    pub(crate) series: u32,
    pub(crate) t: i64,
    pub(crate) v: f64,
}

impl Batch {
    /// An empty batch.
    pub fn new() -> Batch {
        Batch::default()
    }

    /// Adds a series by labels; its samples follow with [`Batch::sample`]. A series
    /// named by labels is never refused as an unknown ref: if head GC drops it while the
    /// batch is applied, it is created again (under a new ref, which the outcome returns).
    pub fn series(&mut self, labels: Labels) -> BatchSeries {
        self.push_key(SeriesKey::Labels(labels))
    }

    /// Adds a series by the ref an earlier append returned.
    pub fn series_ref(&mut self, r: SeriesRef) -> BatchSeries {
        self.push_key(SeriesKey::Ref(r))
    }

    fn push_key(&mut self, key: SeriesKey) -> BatchSeries {
        let id = u32::try_from(self.series.len()).unwrap_or(u32::MAX);
        self.series.push(key);
        BatchSeries(id)
    }

    /// Adds a sample (milliseconds since the epoch, value) of a series of this batch.
    /// Samples of one series are applied in the order they are added.
    pub fn sample(&mut self, series: BatchSeries, t: i64, v: f64) {
        self.samples.push(BatchSample {
            series: series.0,
            t,
            v,
        });
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.samples.len()
    }

    /// True when the batch holds no samples.
    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// Removes everything, keeping the allocations for the next batch.
    pub fn clear(&mut self) {
        self.series.clear();
        self.samples.clear();
    }
}

/// Why one sample (or every sample of one series) was refused.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum SampleError {
    /// The index refused the series (for example over its configured limits).
    #[error("series refused by the index: {0}")]
    InvalidLabels(std::sync::Arc<tsdb_index::Error>),
    /// The series ref is not (or no longer) in the head; append by labels.
    #[error("unknown series ref {0}")]
    UnknownSeriesRef(u32),
    /// Older than the series' newest sample and outside the out-of-order window.
    #[error("out of order: sample at {t} ms is older than the series' newest at {newest} ms and outside the out-of-order window")]
    OutOfOrder {
        /// The sample's timestamp.
        t: i64,
        /// The series' newest timestamp.
        newest: i64,
    },
    /// Older than what the database still accepts (already persisted to a segment).
    #[error("too old: sample at {t} ms is before the oldest writable time {min} ms")]
    TooOld {
        /// The sample's timestamp.
        t: i64,
        /// The oldest timestamp still accepted.
        min: i64,
    },
    /// Further in the future than the configured tolerance for clock skew.
    #[error("too far in the future: sample at {t} ms is after {max} ms")]
    TooFarInFuture {
        /// The sample's timestamp.
        t: i64,
        /// The newest timestamp accepted now.
        max: i64,
    },
    /// The series already has a different value at this timestamp (the same value again
    /// is accepted and ignored, as Prometheus does).
    #[error("duplicate timestamp {t} ms with a different value")]
    DuplicateTimestamp {
        /// The timestamp.
        t: i64,
    },
}

/// One refused sample of a batch.
#[derive(Debug, Clone)]
pub struct Rejected {
    /// Position of the sample in the batch (the order of [`Batch::sample`] calls).
    pub index: usize,
    /// Why.
    pub error: SampleError,
}

/// The verdict on a batch whose accepted samples are durable under the sync mode.
#[derive(Debug, Clone, Default)]
pub struct BatchOutcome {
    /// Samples accepted (including exact duplicates, which are ignored).
    pub accepted: usize,
    /// The refused samples, in batch order.
    pub rejected: Vec<Rejected>,
    /// For each series of the batch (in [`Batch::series`] order), its ref, or `None` when
    /// the series itself was refused.
    pub refs: Vec<Option<SeriesRef>>,
}
