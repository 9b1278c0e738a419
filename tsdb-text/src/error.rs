//! Errors: one [`LineError`] per refused line (or field), and [`WriteError`] for the writer.

use std::fmt;

/// Why one line (or one field of an Influx line) was refused. The lines after it are
/// parsed as usual.
///
/// `line` is 1-based and counts `\n`-terminated lines of the input; `column` is the
/// 1-based byte offset in that line where the problem was noticed, when known.
#[derive(Debug, thiserror::Error)]
pub struct LineError {
    /// 1-based line number.
    pub line: usize,
    /// 1-based byte column in the line, when known.
    pub column: Option<usize>,
    /// What was wrong.
    #[source]
    pub kind: ErrorKind,
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.column {
            Some(c) => write!(f, "line {}, column {}: {}", self.line, c, self.kind),
            None => write!(f, "line {}: {}", self.line, self.kind),
        }
    }
}

impl LineError {
    pub(crate) fn new(line: usize, column: Option<usize>, kind: ErrorKind) -> Self {
        LineError { line, column, kind }
    }
}

/// The reason a line was refused.
///
/// Text quoted from the input is cut to 64 bytes, so a hostile line does not end up in
/// a log verbatim.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The line is not valid UTF-8.
    #[error("line is not valid UTF-8")]
    InvalidUtf8,
    /// The syntax does not fit the format: `expected` says what should have come.
    #[error("expected {expected}, found {found}")]
    Syntax {
        /// What the grammar wanted at this point.
        expected: &'static str,
        /// What was there instead (cut), or `end of line`.
        found: String,
    },
    /// A quoted string (label value, quoted name, Influx string field) has no closing quote.
    #[error("unterminated quoted string")]
    UnterminatedString,
    /// A backslash escape that the format does not define (label values allow only
    /// `\\`, `\"` and `\n`).
    #[error("invalid escape sequence \\{found}")]
    InvalidEscape {
        /// The character after the backslash.
        found: char,
    },
    /// A sample value that is not a number.
    #[error("invalid value {text:?}")]
    InvalidValue {
        /// The text (cut).
        text: String,
    },
    /// A sample value whose magnitude is beyond `f64` (Go's `ParseFloat` refuses these too).
    #[error("value {text:?} is out of the range of a 64-bit float")]
    ValueOutOfRange {
        /// The text (cut).
        text: String,
    },
    /// A timestamp that is not a number of the expected form.
    #[error("invalid timestamp {text:?}")]
    InvalidTimestamp {
        /// The text (cut).
        text: String,
    },
    /// A timestamp that does not fit in `i64` milliseconds.
    #[error("timestamp {text:?} is out of range for i64 milliseconds")]
    TimestampOutOfRange {
        /// The text (cut).
        text: String,
    },
    /// A `# TYPE` line with a type this parser does not know.
    #[error("unknown metric type {text:?}")]
    InvalidMetricType {
        /// The type word (cut).
        text: String,
    },
    /// An OpenMetrics `# UNIT` whose unit is not a suffix of the metric family name.
    #[error("unit {unit:?} is not a suffix of metric family {family:?}")]
    UnitNotSuffix {
        /// The unit (cut).
        unit: String,
        /// The family name (cut).
        family: String,
    },
    /// OpenMetrics: content after the `# EOF` line.
    #[error("data after # EOF")]
    DataAfterEof,
    /// OpenMetrics: the input does not end with `# EOF` (it may have been cut short).
    #[error("OpenMetrics input does not end with # EOF")]
    MissingEof,
    /// The label set is refused by `tsdb_index::Labels` (invalid or reserved name,
    /// duplicate name, too many labels, a name or value too long).
    #[error("invalid label set: {0}")]
    Labels(#[source] tsdb_index::Error),
    /// Influx: a line without a measurement name.
    #[error("missing measurement")]
    MissingMeasurement,
    /// Influx: a tag with an empty key or value.
    #[error("tag {key:?} has an empty key or value")]
    EmptyTag {
        /// The tag key (cut; empty if the key is missing).
        key: String,
    },
    /// Influx: a line without a field set.
    #[error("missing field set")]
    MissingFields,
    /// Influx: a field with an empty key or value.
    #[error("field {key:?} has an empty key or value")]
    EmptyField {
        /// The field key (cut; empty if the key is missing).
        key: String,
    },
    /// Influx: a field value that is not a float, integer, unsigned, boolean or string.
    #[error("field {key:?} has an invalid value {text:?}")]
    InvalidFieldValue {
        /// The field key (cut).
        key: String,
        /// The value text (cut).
        text: String,
    },
    /// Influx: a string field, which has no numeric value. Reported only when
    /// `skip_string_fields` is off; the line's numeric fields are still yielded.
    #[error("field {key:?} is a string, not a number")]
    StringField {
        /// The field key (cut).
        key: String,
    },
}

/// Why the OpenMetrics writer refused to write.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WriteError {
    /// The underlying writer failed.
    #[error("write failed: {0}")]
    Io(#[from] std::io::Error),
    /// A label set without a `__name__`: OpenMetrics has no nameless samples.
    #[error("series {labels} has no metric name")]
    MissingMetricName {
        /// The label set, in PromQL notation (cut).
        labels: String,
    },
    /// A metric family came back after another family was written. OpenMetrics forbids
    /// interleaved families; sort the series by metric name first (see
    /// [`crate::openmetrics::family_order`]).
    #[error(
        "metric family {name:?} is interleaved with another family; group series by metric name"
    )]
    InterleavedFamily {
        /// The family (metric) name.
        name: String,
    },
    /// [`crate::openmetrics::Writer::finish`] was already called.
    #[error("the writer is finished (# EOF written)")]
    Finished,
}

/// Cuts input text for an error message at a char boundary at or below 64 bytes.
pub(crate) fn cut(s: &str) -> String {
    const MAX: usize = 64;
    if s.len() <= MAX {
        return s.to_owned();
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    let mut out = s.get(..end).unwrap_or_default().to_owned();
    out.push_str("...");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_has_line_column_and_words() {
        let e = LineError::new(7, Some(12), ErrorKind::InvalidValue { text: "abc".into() });
        assert_eq!(e.to_string(), "line 7, column 12: invalid value \"abc\"");
        let e = LineError::new(3, None, ErrorKind::MissingEof);
        assert_eq!(
            e.to_string(),
            "line 3: OpenMetrics input does not end with # EOF"
        );
    }

    #[test]
    fn cut_respects_char_boundaries() {
        let long = "é".repeat(100);
        let c = cut(&long);
        assert!(c.len() <= 67);
        assert!(c.ends_with("..."));
        assert_eq!(cut("short"), "short");
    }
}
