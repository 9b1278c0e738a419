//! The names every refusal and failure is counted under: [`Protocol`], [`Reason`] (why
//! part of a request was refused while the rest landed) and [`FailureKind`] (why a whole
//! request was refused).

/// The wire protocol (and API flavour) of a request: decides how its [`crate::Outcome`]
/// is answered and under which name it is counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// InfluxDB 1.x `POST /write`: errors as `{"error": "..."}`.
    InfluxV1,
    /// InfluxDB 2.x `POST /api/v2/write`: errors as `{"code": "...", "message": "..."}`.
    InfluxV2,
    /// Prometheus remote write 1.0 (`prometheus.WriteRequest`).
    RemoteWriteV1,
    /// Prometheus remote write 2.0 (`io.prometheus.write.v2.Request`).
    RemoteWriteV2,
    /// OpenTelemetry OTLP/HTTP metrics, protobuf encoding.
    Otlp,
    /// OpenTelemetry OTLP/HTTP metrics, JSON encoding.
    OtlpJson,
}

impl Protocol {
    /// Every protocol, in [`Protocol::index`] order.
    pub const ALL: [Protocol; 6] = [
        Protocol::InfluxV1,
        Protocol::InfluxV2,
        Protocol::RemoteWriteV1,
        Protocol::RemoteWriteV2,
        Protocol::Otlp,
        Protocol::OtlpJson,
    ];

    /// A short stable name for a metric label (`influx_v1`, `remote_write_v2`, `otlp`, …).
    pub fn name(self) -> &'static str {
        match self {
            Protocol::InfluxV1 => "influx_v1",
            Protocol::InfluxV2 => "influx_v2",
            Protocol::RemoteWriteV1 => "remote_write_v1",
            Protocol::RemoteWriteV2 => "remote_write_v2",
            Protocol::Otlp => "otlp",
            Protocol::OtlpJson => "otlp_json",
        }
    }

    /// Position in [`Protocol::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

/// Why part of a request was refused. Each count is in the unit the reason names:
/// samples, except [`Reason::Exemplar`] (exemplars), [`Reason::NativeHistogram`]
/// (histogram samples) and the OTLP reasons [`Reason::DeltaTemporality`],
/// [`Reason::ExponentialHistogram`] and [`Reason::UnsupportedMetric`] (data points).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Reason {
    /// The input could not be read: an Influx line with a syntax error, a remote-write
    /// series whose symbol references point outside the symbol table, an OTLP metric
    /// whose name normalises to nothing.
    Malformed,
    /// A label set refused by `tsdb-index` (invalid or reserved name, duplicate name,
    /// missing metric name, not UTF-8).
    InvalidLabels,
    /// More labels than [`tsdb_index::LabelLimits::max_labels`].
    TooManyLabels,
    /// A label name or value longer than the limits allow.
    LabelTooLong,
    /// A new series while the head holds [`crate::IngestLimits::max_series`] series.
    SeriesLimit,
    /// A new series of a metric that has
    /// [`crate::IngestLimits::max_series_per_metric`] active series.
    SeriesPerMetricLimit,
    /// Older than the series' newest sample and outside the out-of-order window.
    OutOfOrder,
    /// Older than the oldest time the database still accepts.
    TooOld,
    /// Further in the future than the database's tolerance for clock skew.
    TooFarInFuture,
    /// A different value at a timestamp the series already has.
    DuplicateTimestamp,
    /// An exemplar: not stored by this engine.
    Exemplar,
    /// A native histogram sample: not stored by this engine.
    NativeHistogram,
    /// An OTLP sum or histogram with delta temporality: not supported yet.
    DeltaTemporality,
    /// An OTLP exponential histogram: not supported yet.
    ExponentialHistogram,
    /// An OTLP metric without a data type this translator knows.
    UnsupportedMetric,
}

impl Reason {
    /// Number of reasons.
    pub const COUNT: usize = 15;

    /// Every reason, in [`Reason::index`] order.
    pub const ALL: [Reason; Reason::COUNT] = [
        Reason::Malformed,
        Reason::InvalidLabels,
        Reason::TooManyLabels,
        Reason::LabelTooLong,
        Reason::SeriesLimit,
        Reason::SeriesPerMetricLimit,
        Reason::OutOfOrder,
        Reason::TooOld,
        Reason::TooFarInFuture,
        Reason::DuplicateTimestamp,
        Reason::Exemplar,
        Reason::NativeHistogram,
        Reason::DeltaTemporality,
        Reason::ExponentialHistogram,
        Reason::UnsupportedMetric,
    ];

    /// A short stable name for a metric label.
    pub fn name(self) -> &'static str {
        match self {
            Reason::Malformed => "malformed",
            Reason::InvalidLabels => "invalid_labels",
            Reason::TooManyLabels => "too_many_labels",
            Reason::LabelTooLong => "label_too_long",
            Reason::SeriesLimit => "series_limit",
            Reason::SeriesPerMetricLimit => "series_per_metric_limit",
            Reason::OutOfOrder => "out_of_order",
            Reason::TooOld => "too_old",
            Reason::TooFarInFuture => "too_far_in_future",
            Reason::DuplicateTimestamp => "duplicate_timestamp",
            Reason::Exemplar => "exemplar_unsupported",
            Reason::NativeHistogram => "native_histogram_unsupported",
            Reason::DeltaTemporality => "delta_temporality_unsupported",
            Reason::ExponentialHistogram => "exponential_histogram_unsupported",
            Reason::UnsupportedMetric => "unsupported_metric",
        }
    }

    /// Position in [`Reason::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// The reason for a sample the database refused.
    pub fn from_sample_error(e: &tsdb_core::SampleError) -> Reason {
        use tsdb_core::SampleError as E;
        match e {
            E::InvalidLabels(e) => Reason::from_labels_error(e),
            E::OutOfOrder { .. } => Reason::OutOfOrder,
            E::TooOld { .. } => Reason::TooOld,
            E::TooFarInFuture { .. } => Reason::TooFarInFuture,
            E::DuplicateTimestamp { .. } => Reason::DuplicateTimestamp,
            // appends here are by labels, never by ref; any variant added later is the
            // caller's data too (the database reports its own failures as errors)
            _ => Reason::InvalidLabels,
        }
    }

    /// The reason for a label set `tsdb-index` refused.
    pub fn from_labels_error(e: &tsdb_index::Error) -> Reason {
        use tsdb_index::Error as E;
        match e {
            E::TooManyLabels { .. } => Reason::TooManyLabels,
            E::LabelNameTooLong { .. } | E::LabelValueTooLong { .. } => Reason::LabelTooLong,
            _ => Reason::InvalidLabels,
        }
    }
}

/// Why a whole request was refused (nothing of it was written), as counted by
/// [`crate::IngestStats`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FailureKind {
    /// The body, compressed or decompressed, is over the limit (413).
    BodyTooLarge,
    /// Content type or encoding not supported (415).
    UnsupportedMediaType,
    /// The body could not be decoded, or a parameter is invalid (400).
    BadRequest,
    /// More samples than the per-request limit (400, 413 for Influx).
    TooManySamples,
    /// The database cannot write now (503): a retry later can succeed.
    Unavailable,
    /// The database failed (500).
    Internal,
}

impl FailureKind {
    /// Number of kinds.
    pub const COUNT: usize = 6;

    /// Every kind, in [`FailureKind::index`] order.
    pub const ALL: [FailureKind; FailureKind::COUNT] = [
        FailureKind::BodyTooLarge,
        FailureKind::UnsupportedMediaType,
        FailureKind::BadRequest,
        FailureKind::TooManySamples,
        FailureKind::Unavailable,
        FailureKind::Internal,
    ];

    /// A short stable name for a metric label.
    pub fn name(self) -> &'static str {
        match self {
            FailureKind::BodyTooLarge => "body_too_large",
            FailureKind::UnsupportedMediaType => "unsupported_media_type",
            FailureKind::BadRequest => "bad_request",
            FailureKind::TooManySamples => "too_many_samples",
            FailureKind::Unavailable => "unavailable",
            FailureKind::Internal => "internal",
        }
    }

    /// Position in [`FailureKind::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indexes_match_the_lists() {
        for (i, r) in Reason::ALL.iter().enumerate() {
            assert_eq!(r.index(), i);
        }
        for (i, p) in Protocol::ALL.iter().enumerate() {
            assert_eq!(p.index(), i);
        }
        for (i, k) in FailureKind::ALL.iter().enumerate() {
            assert_eq!(k.index(), i);
        }
        let mut names: Vec<_> = Reason::ALL.iter().map(|r| r.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Reason::COUNT);
    }
}
