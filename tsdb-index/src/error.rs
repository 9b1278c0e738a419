//! The one error type of this crate.

use std::borrow::Cow;

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong: refused label sets, bad matchers, a full index, and
/// on-disk bytes that cannot be trusted.
///
/// Label validation errors carry the offending name (cut to 64 bytes, so a hostile
/// 1 MB name does not end up verbatim in a log line). Decoders return [`Error::Corrupt`]
/// or [`Error::ChecksumMismatch`]; they never panic and never read outside their slice.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A label name is empty or does not match `[a-zA-Z_][a-zA-Z0-9_]*`.
    #[error("invalid label name {name:?}: must match [a-zA-Z_][a-zA-Z0-9_]*")]
    InvalidLabelName {
        /// The refused name (possibly cut).
        name: String,
    },
    /// The metric name (`__name__` value) does not match `[a-zA-Z_:][a-zA-Z0-9_:]*`.
    #[error("invalid metric name {name:?}: must match [a-zA-Z_:][a-zA-Z0-9_:]*")]
    InvalidMetricName {
        /// The refused metric name (possibly cut).
        name: String,
    },
    /// A label name starts with `__`, which is reserved for the engine (except `__name__`).
    #[error("label name {name:?} is reserved: names starting with \"__\" are internal")]
    ReservedLabelName {
        /// The refused name (possibly cut).
        name: String,
    },
    /// The same label name appears twice in one label set.
    #[error("duplicate label name {name:?}")]
    DuplicateLabelName {
        /// The repeated name (possibly cut).
        name: String,
    },
    /// A label name or value given as bytes is not valid UTF-8.
    #[error("label {what} is not valid UTF-8 (at byte {valid_up_to})")]
    InvalidUtf8 {
        /// `"name"` or `"value"`.
        what: &'static str,
        /// Length of the valid prefix.
        valid_up_to: usize,
    },
    /// The label set has more labels than the configured limit.
    #[error("too many labels: {count} > limit {max}")]
    TooManyLabels {
        /// Labels in the refused set.
        count: usize,
        /// The configured limit.
        max: usize,
    },
    /// A label name is longer than the configured limit.
    #[error("label name {name:?} is {len} bytes long, limit is {max}")]
    LabelNameTooLong {
        /// The refused name (cut).
        name: String,
        /// Its length in bytes.
        len: usize,
        /// The configured limit.
        max: usize,
    },
    /// A label value is longer than the configured limit.
    #[error("value of label {name:?} is {len} bytes long, limit is {max}")]
    LabelValueTooLong {
        /// The label whose value was refused (possibly cut).
        name: String,
        /// The value's length in bytes.
        len: usize,
        /// The configured limit.
        max: usize,
    },
    /// The label set has no (non-empty) `__name__` and the limits require one.
    #[error("label set has no metric name (__name__)")]
    MissingMetricName,
    /// A `=~` or `!~` matcher whose pattern does not compile.
    #[error("invalid regex {pattern:?}: {reason}")]
    InvalidRegex {
        /// The pattern as given (possibly cut).
        pattern: String,
        /// The regex compiler's message.
        reason: String,
    },
    /// Every matcher of a selector also matches the empty string, so the selector would
    /// select every series; Prometheus refuses such selectors and so do we.
    #[error("selector must contain at least one matcher that does not match the empty string")]
    NoNonEmptyMatcher,
    /// `IndexWriter::add` was given a label set that does not sort after the previous
    /// one (writers number series in label order).
    #[error("series {labels} is not after the previous series in label order")]
    SeriesOutOfOrder {
        /// The refused label set (possibly cut).
        labels: String,
    },
    /// The index cannot grow further (series ids are `u32`, internal offsets are `u32`).
    #[error("index capacity exceeded: {what}")]
    CapacityExceeded {
        /// Which limit was hit.
        what: &'static str,
    },
    /// The bytes are not a valid index: truncated, inconsistent, or out of range.
    /// `offset` is the byte offset from the start of the index where it was noticed.
    #[error("corrupt index at byte {offset}: {reason}")]
    Corrupt {
        /// Byte offset in the index buffer.
        offset: usize,
        /// What was wrong, in words.
        reason: Cow<'static, str>,
    },
    /// The CRC32 stored for a section does not match its bytes.
    #[error("checksum mismatch in {section}: stored {stored:#010x}, computed {computed:#010x}")]
    ChecksumMismatch {
        /// Which section (or `"toc"`).
        section: &'static str,
        /// CRC32 stored in the file.
        stored: u32,
        /// CRC32 computed over the bytes as read.
        computed: u32,
    },
    /// A format version or field value this build does not know.
    #[error("unsupported {what} {found}")]
    Unsupported {
        /// Which field held the unknown value.
        what: &'static str,
        /// The value found.
        found: u64,
    },
    /// Writing the on-disk index failed.
    #[error("i/o error writing index: {0}")]
    Io(#[from] std::io::Error),
}

impl From<tsdb_encoding::DecodeError> for Error {
    /// The on-disk reader goes through `tsdb_encoding::Cursor` (with file offsets); its
    /// errors keep their offset and words, and their kind picks the variant.
    #[cold]
    fn from(e: tsdb_encoding::DecodeError) -> Self {
        match e.kind {
            tsdb_encoding::ErrorKind::ChecksumMismatch {
                what,
                stored,
                computed,
            } => Error::ChecksumMismatch {
                section: what,
                stored,
                computed,
            },
            tsdb_encoding::ErrorKind::Unsupported { what, found } => {
                Error::Unsupported { what, found }
            }
            _ => Error::Corrupt {
                offset: e.offset,
                reason: e.reason,
            },
        }
    }
}

impl Error {
    pub(crate) fn corrupt(offset: usize, reason: impl Into<Cow<'static, str>>) -> Self {
        Error::Corrupt {
            offset,
            reason: reason.into(),
        }
    }
}

/// Cuts user-supplied text for an error message at a char boundary at or below 64 bytes.
pub(crate) fn cut(s: &str) -> String {
    const MAX: usize = 64;
    if s.len() <= MAX {
        return s.to_owned();
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &s[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cut_respects_char_boundaries() {
        let long = "é".repeat(100);
        let c = cut(&long);
        assert!(c.len() <= 67);
        assert!(c.ends_with("..."));
        assert_eq!(cut("short"), "short");
    }

    #[test]
    fn display_is_words_not_debug() {
        let e = Error::TooManyLabels { count: 40, max: 30 };
        assert_eq!(e.to_string(), "too many labels: 40 > limit 30");
        let e = Error::corrupt(12, "bad");
        assert_eq!(e.to_string(), "corrupt index at byte 12: bad");
    }
}
