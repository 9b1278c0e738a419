//! Where rule results go: recording rules' samples, `ALERTS`, `ALERTS_FOR_STATE` and
//! staleness markers. Prometheus writes them through a storage appender; here a small
//! trait, implemented for [`tsdb_core::Db`], so tests and `tsdb test rules` can use any
//! store.

use tsdb_index::Labels;

/// One sample to append.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// The series.
    pub labels: Labels,
    /// Milliseconds since the epoch.
    pub t: i64,
    /// The value ([`tsdb_query::STALE_NAN_BITS`] for a staleness marker).
    pub v: f64,
}

/// Storage for rule results. One call is one commit of Prometheus's appender: the samples
/// of one rule evaluation (and its staleness markers) together.
pub trait SampleSink {
    /// Appends `samples`. `Ok` lists the samples refused one by one (their index in
    /// `samples` and why: out of order, duplicate timestamp, …), which the rest does not
    /// depend on; `Err` means nothing was committed.
    fn append_samples(&self, samples: &[Sample]) -> Result<Vec<(usize, String)>, String>;
}

impl SampleSink for tsdb_core::Db {
    fn append_samples(&self, samples: &[Sample]) -> Result<Vec<(usize, String)>, String> {
        if samples.is_empty() {
            return Ok(Vec::new());
        }
        let mut batch = tsdb_core::Batch::new();
        for s in samples {
            let series = batch.series(s.labels.clone());
            batch.sample(series, s.t, s.v);
        }
        let outcome = self.append_batch(&batch).map_err(|e| e.to_string())?;
        Ok(outcome
            .rejected
            .into_iter()
            .map(|r| (r.index, r.error.to_string()))
            .collect())
    }
}

impl<T: SampleSink + ?Sized> SampleSink for &T {
    fn append_samples(&self, samples: &[Sample]) -> Result<Vec<(usize, String)>, String> {
        (**self).append_samples(samples)
    }
}
