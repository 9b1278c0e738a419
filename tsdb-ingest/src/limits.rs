//! [`IngestLimits`]: what one request and one client may cost, with documented defaults.

use tsdb_index::LabelLimits;

/// Limits applied to every write request. Build with
/// `IngestLimits { field: …, ..IngestLimits::default() }`.
///
/// Age and future limits are the database's ([`tsdb_core::Options`]'s
/// `out_of_order_window_ms` and `max_future_ms`): it refuses such samples one by one and
/// the refusals are reported here as `too_old`, `out_of_order` and `too_far_in_future`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IngestLimits {
    /// Largest request body as received (compressed, for snappy). Default 64 MiB, the
    /// largest body Prometheus' `remote_write` sends is a few MiB. Over it: 413.
    pub max_body_bytes: usize,
    /// Largest body after snappy decompression, read from the block's length header
    /// before anything is decompressed (a decompression bomb is refused without
    /// allocating). Default 256 MiB. Over it: 413.
    pub max_decompressed_bytes: usize,
    /// Most samples one request may carry (counted after decoding, before anything is
    /// written: a request over it is refused whole). Default 2,000,000. 0: no limit.
    pub max_samples_per_request: usize,
    /// Label count and name/value lengths of every series, checked by `tsdb-index`.
    /// Default [`LabelLimits::default`] (30 labels, names 1 KiB, values 2 KiB).
    pub labels: LabelLimits,
    /// Most active series one metric name may have; a new series beyond it is refused
    /// (`series_per_metric_limit`), existing ones keep ingesting. Default 200,000.
    /// 0: no limit.
    pub max_series_per_metric: usize,
    /// Most series in the database's head; a new series beyond it is refused
    /// (`series_limit`), existing ones keep ingesting. Default 2,000,000 (about 2 GiB
    /// of head memory). 0: no limit.
    pub max_series: usize,
    /// How long a series not written to stays counted as active by the per-metric
    /// tracker, in milliseconds. Default 4 hours: longer than the head keeps an idle
    /// series (1.5 block ranges of 2 h), so a series the head still has is never
    /// taken for a new one.
    pub series_idle_ms: i64,
    /// Refusal messages kept in an [`crate::Outcome`] (the counts are always complete).
    /// Default 10.
    pub max_messages: usize,
}

impl Default for IngestLimits {
    fn default() -> Self {
        IngestLimits {
            max_body_bytes: 64 << 20,
            max_decompressed_bytes: 256 << 20,
            max_samples_per_request: 2_000_000,
            labels: LabelLimits::default(),
            max_series_per_metric: 200_000,
            max_series: 2_000_000,
            series_idle_ms: 4 * 3600 * 1000,
            max_messages: 10,
        }
    }
}
