//! The one error type of this crate.

use std::borrow::Cow;

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong while encoding or decoding.
///
/// Decoders return [`Error::Corrupt`] or [`Error::ChecksumMismatch`] for bytes they cannot
/// trust; they never panic and never read outside the slice they were given.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The bytes are not a valid encoding: truncated, inconsistent, or out of range.
    /// `offset` is the byte offset within the decoded buffer where the problem was found.
    #[error("corrupt data at byte {offset}: {reason}")]
    Corrupt {
        /// Byte offset in the buffer being decoded.
        offset: usize,
        /// What was wrong, in words.
        reason: Cow<'static, str>,
    },
    /// The stored CRC32 does not match the bytes.
    #[error("checksum mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    ChecksumMismatch {
        /// CRC32 stored with the data.
        stored: u32,
        /// CRC32 computed over the data as read.
        computed: u32,
    },
    /// A format version or encoding id this build does not know.
    #[error("unsupported {what} {found}")]
    Unsupported {
        /// Which field held the unknown value.
        what: &'static str,
        /// The value found.
        found: u64,
    },
    /// A sample's timestamp is not after the previous one in the same chunk.
    #[error("out-of-order sample: timestamp {timestamp} is not after {previous}")]
    OutOfOrder {
        /// Timestamp of the last sample in the chunk.
        previous: i64,
        /// Timestamp that was refused.
        timestamp: i64,
    },
    /// The chunk already holds its maximum number of samples; cut a new one.
    #[error("chunk is full ({max} samples)")]
    ChunkFull {
        /// The configured maximum.
        max: usize,
    },
    /// An argument outside its documented range.
    #[error("invalid argument: {0}")]
    InvalidArgument(Cow<'static, str>),
    /// zstd failed while compressing or decompressing a block.
    #[error("zstd: {0}")]
    Zstd(#[source] std::io::Error),
}

impl From<tsdb_encoding::DecodeError> for Error {
    /// Header and length reads go through `tsdb_encoding::Cursor`; its errors keep their
    /// offset and words, and their kind picks the variant.
    #[cold]
    fn from(e: tsdb_encoding::DecodeError) -> Self {
        match e.kind {
            tsdb_encoding::ErrorKind::ChecksumMismatch {
                stored, computed, ..
            } => Error::ChecksumMismatch { stored, computed },
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
