//! What the engine reads: storage as three traits in the style of Prometheus'
//! `storage.Queryable`, `storage.Querier` and `storage.SeriesSet`, implemented here for
//! [`tsdb_core::Db`]. The engine knows nothing else about where samples live, so anything
//! that can answer a selector (a test double, a remote store, a rollup tier) can be
//! queried.
//!
//! One query opens **one** querier, covering the query's whole time range (computed from
//! the expression as Prometheus' `FindMinMaxTime` does: the query's start and end, minus
//! ranges, offsets, lookback and subquery ranges, `@` taken into account), and every
//! selector of the query reads through it: `a / b`, or an alert rule comparing two
//! series, reads one consistent state of the storage. A query without selectors opens
//! none.
//!
//! This is a stable API: the server, rule evaluation and tests implement or call it.

use tsdb_index::{Labels, Matcher};

/// An error of the storage, passed through to the caller as
/// [`Error::Storage`](crate::Error::Storage) (Prometheus' `errorType` `"internal"`).
pub type StorageError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Something the engine can query: it hands out a [`Querier`] over a time range.
pub trait Queryable {
    /// The snapshot type. It may borrow the storage.
    type Querier<'a>: Querier
    where
        Self: 'a;

    /// A consistent view of the storage over `[mint, maxt]` (milliseconds, both
    /// inclusive). The engine calls it once per query, before evaluating anything, and
    /// drops it when the query ends.
    fn querier(&self, mint: i64, maxt: i64) -> Result<Self::Querier<'_>, StorageError>;
}

/// A consistent view of the storage over the time range it was opened for.
pub trait Querier {
    /// One series found by [`Querier::select`].
    type Series: Series;

    /// The series matching `matchers` (Prometheus' semantics: at least one matcher does
    /// not match the empty string, which the engine's parser ensures) that have samples
    /// in `[mint, maxt]`, in label order. `[mint, maxt]` lies within the querier's range
    /// (each selector reads its own window of the query's snapshot). Samples are read
    /// only when the engine asks for them ([`Series::read_into`]), possibly on other
    /// threads.
    fn select(
        &self,
        mint: i64,
        maxt: i64,
        matchers: &[Matcher],
    ) -> Result<Vec<Self::Series>, StorageError>;

    /// [`Querier::select`] for a selector whose every window and step is a whole number
    /// of buckets of any resolution dividing `max_resolution_ms` (the engine passes it
    /// only for functions rollups answer exactly): a storage keeping rollups may serve
    /// such a resolution in place of raw data wherever it has it, which answers the same
    /// from far fewer points. The default: [`Querier::select`].
    fn select_at_resolution(
        &self,
        mint: i64,
        maxt: i64,
        matchers: &[Matcher],
        max_resolution_ms: i64,
    ) -> Result<Vec<Self::Series>, StorageError> {
        let _ = max_resolution_ms;
        self.select(mint, maxt, matchers)
    }
}

/// One series of a [`Querier::select`] answer.
pub trait Series: Sync {
    /// The series' labels.
    fn labels(&self) -> &Labels;

    /// How many chunks (units of decoding work) reading the series will decode: the
    /// engine shares the reading of a selector's series between threads only when there
    /// is enough work. An estimate is fine; 1 for storage without chunks.
    fn chunk_count(&self) -> usize;

    /// Appends the series' samples within the `[mint, maxt]` of the select that found it
    /// to `ts` and `vs`, in time order, staleness markers included (the engine drops or
    /// honours them). The columns arrive empty and are reused from series to series, so
    /// decoding straight into them costs no allocation per series.
    fn read_into(&self, ts: &mut Vec<i64>, vs: &mut Vec<f64>) -> Result<(), StorageError>;

    /// Appends the series' rollup buckets that end within `(mint - resolution, maxt]` of
    /// the select (one bucket more than those ending in `[mint, maxt]`, so that a window
    /// widened to one bucket finds it) to `out`: where the storage keeps only rollups
    /// (data older than its raw retention), the engine answers from these instead of
    /// raw samples. Every bucket's samples come before every sample
    /// [`Series::read_into`] gives, and the buckets come in the time order of their
    /// samples, no sample in two of them: by end, and where two share an end (at the
    /// boundary between a coarser and a finer resolution, or where the rollups end and
    /// raw samples begin) the one whose samples come first first. The default: none
    /// (storage without rollups).
    fn read_buckets_into(
        &self,
        out: &mut Vec<tsdb_core::rollup::Bucket>,
    ) -> Result<(), StorageError> {
        let _ = out;
        Ok(())
    }
}

impl Queryable for tsdb_core::Db {
    type Querier<'a> = tsdb_core::Querier;

    fn querier(&self, mint: i64, maxt: i64) -> Result<tsdb_core::Querier, StorageError> {
        Ok(tsdb_core::Db::querier(self, mint, maxt)?)
    }
}

impl Querier for tsdb_core::Querier {
    type Series = tsdb_core::SeriesEntry;

    fn select(
        &self,
        mint: i64,
        maxt: i64,
        matchers: &[Matcher],
    ) -> Result<Vec<tsdb_core::SeriesEntry>, StorageError> {
        Ok(self.select_range(matchers, mint, maxt)?)
    }

    fn select_at_resolution(
        &self,
        mint: i64,
        maxt: i64,
        matchers: &[Matcher],
        max_resolution_ms: i64,
    ) -> Result<Vec<tsdb_core::SeriesEntry>, StorageError> {
        Ok(self.select_resolution(matchers, mint, maxt, max_resolution_ms)?)
    }
}

impl Series for tsdb_core::SeriesEntry {
    fn labels(&self) -> &Labels {
        tsdb_core::SeriesEntry::labels(self)
    }

    fn chunk_count(&self) -> usize {
        tsdb_core::SeriesEntry::chunk_count(self)
    }

    fn read_into(&self, ts: &mut Vec<i64>, vs: &mut Vec<f64>) -> Result<(), StorageError> {
        Ok(self.iter().read_into(ts, vs)?)
    }

    fn read_buckets_into(
        &self,
        out: &mut Vec<tsdb_core::rollup::Bucket>,
    ) -> Result<(), StorageError> {
        Ok(tsdb_core::SeriesEntry::read_buckets_into(self, out)?)
    }
}
