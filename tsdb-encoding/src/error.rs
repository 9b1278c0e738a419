//! The format-neutral decoding error. Each format crate maps it into its own error type,
//! adding what only it knows (a file path, a section name).

use std::borrow::Cow;
use std::fmt;

/// Result alias for this crate.
pub type Result<T, E = DecodeError> = std::result::Result<T, E>;

/// Why bytes could not be decoded: where, what kind of problem, and in words.
///
/// `offset` is a byte offset in the caller's coordinates: a [`crate::Cursor`] made with
/// [`crate::Cursor::with_base`] reports offsets in the whole file, so an operator can find
/// the damage with a hex dump.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct DecodeError {
    /// Byte offset where the problem was found.
    pub offset: usize,
    /// What kind of problem; decides which variant of its own error a crate maps it to.
    pub kind: ErrorKind,
    /// What was wrong, in words, naming the field.
    pub reason: Cow<'static, str>,
}

/// The kinds of [`DecodeError`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Truncated, inconsistent or out-of-range bytes.
    Malformed,
    /// A stored CRC32 does not match the bytes it covers.
    ChecksumMismatch {
        /// What the CRC covers (a file, a section, a record).
        what: &'static str,
        /// The CRC32 stored with the data.
        stored: u32,
        /// The CRC32 computed over the data as read.
        computed: u32,
    },
    /// A format version, flag or id this build does not know: the bytes may be fine, but
    /// for a newer (or much older) reader.
    Unsupported {
        /// Which field held the value.
        what: &'static str,
        /// The value found.
        found: u64,
    },
}

impl DecodeError {
    /// A [`ErrorKind::Malformed`] error at `offset`.
    #[cold]
    pub fn malformed(offset: usize, reason: impl Into<Cow<'static, str>>) -> Self {
        Self {
            offset,
            kind: ErrorKind::Malformed,
            reason: reason.into(),
        }
    }

    /// A [`ErrorKind::Unsupported`] error at `offset`.
    #[cold]
    pub fn unsupported(offset: usize, what: &'static str, found: u64) -> Self {
        Self {
            offset,
            kind: ErrorKind::Unsupported { what, found },
            reason: format!("unsupported {what} {found}").into(),
        }
    }

    /// A [`ErrorKind::ChecksumMismatch`] error for bytes whose CRC is stored at `offset`.
    #[cold]
    pub fn checksum_mismatch(
        offset: usize,
        what: &'static str,
        stored: u32,
        computed: u32,
    ) -> Self {
        Self {
            offset,
            kind: ErrorKind::ChecksumMismatch {
                what,
                stored,
                computed,
            },
            reason: format!(
                "{what}: CRC mismatch: stored {stored:#010x}, computed {computed:#010x}"
            )
            .into(),
        }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (at byte {})", self.reason, self.offset)
    }
}

impl std::error::Error for DecodeError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_the_reason_and_the_offset() {
        let e = DecodeError::malformed(42, "sample count 0 out of range");
        assert_eq!(e.to_string(), "sample count 0 out of range (at byte 42)");
        let e = DecodeError::unsupported(4, "index format version", 9);
        assert_eq!(
            e.to_string(),
            "unsupported index format version 9 (at byte 4)"
        );
        assert_eq!(
            e.kind,
            ErrorKind::Unsupported {
                what: "index format version",
                found: 9
            }
        );
        let e = DecodeError::checksum_mismatch(8, "chunk", 1, 2);
        assert_eq!(
            e.to_string(),
            "chunk: CRC mismatch: stored 0x00000001, computed 0x00000002 (at byte 8)"
        );
    }
}
