//! The one error type of `tsdb-core`.
//!
//! Every fallible function of the crate returns [`Result`]. Errors that come from the disk
//! carry the path (and, for damaged bytes, the offset) so an operator can find the file;
//! errors that end the write-ahead log's life are reported as [`Error::WalFailed`] to
//! every writer that was waiting on the failed operation and to every later call.

use std::borrow::Cow;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The file-system operation that failed, carried by [`Error::Io`] so the message says
/// what was being done ("cannot fsync …") and tests can tell failures apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum IoOp {
    /// Creating a directory (and its parents).
    CreateDir,
    /// Listing a directory.
    ListDir,
    /// Creating a new file.
    Create,
    /// Opening an existing file.
    Open,
    /// Reading a file.
    Read,
    /// Writing to a file.
    Write,
    /// `fdatasync` of a file.
    Sync,
    /// `fsync` of a directory, which makes creations, renames and removals durable.
    SyncDir,
    /// Renaming a file or directory.
    Rename,
    /// Removing a file or a directory tree.
    Remove,
    /// Truncating a file.
    Truncate,
    /// Reading a file's length.
    Stat,
    /// Starting a background thread (the WAL's periodic sync thread).
    SpawnThread,
}

impl fmt::Display for IoOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IoOp::CreateDir => "create directory",
            IoOp::ListDir => "list directory",
            IoOp::Create => "create",
            IoOp::Open => "open",
            IoOp::Read => "read",
            IoOp::Write => "write",
            IoOp::Sync => "fsync",
            IoOp::SyncDir => "fsync directory",
            IoOp::Rename => "rename",
            IoOp::Remove => "remove",
            IoOp::Truncate => "truncate",
            IoOp::Stat => "stat",
            IoOp::SpawnThread => "start a background thread for",
        })
    }
}

/// Everything that can go wrong in the storage engine.
///
/// Marked `#[non_exhaustive]`: the engine grows (head, segments, compaction) and adds
/// variants; match the ones you handle and keep a fallback arm.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file-system call failed.
    #[error("cannot {op} {}: {source}", path.display())]
    Io {
        /// The file or directory the operation was applied to.
        path: PathBuf,
        /// What was being done.
        op: IoOp,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// Bytes on disk are damaged or inconsistent (a checksum mismatch, an impossible
    /// length, a missing file). Modelled on Prometheus `wlog.CorruptionErr`: it names
    /// the file and the byte offset so an operator can inspect or cut it.
    #[error("corruption in {} at byte {offset}: {reason}", path.display())]
    Corruption {
        /// The damaged file (or, for a missing file, the path where it was expected).
        path: PathBuf,
        /// Byte offset in that file where the damage was detected.
        offset: u64,
        /// What was wrong, in words.
        reason: Cow<'static, str>,
    },
    /// A file was written by a format version (or holds a field value) this build does not
    /// know; it is left untouched, never "repaired".
    #[error("unsupported {what} {found} in {}", path.display())]
    UnsupportedFormat {
        /// The file.
        path: PathBuf,
        /// Which field held the unknown value.
        what: &'static str,
        /// The value found.
        found: u64,
    },
    /// The write-ahead log hit a write or fsync error and refuses all further writes until
    /// it is reopened. After a failed fsync the kernel may already have dropped the dirty
    /// pages ("fsyncgate"), so neither retrying nor trusting the page cache is safe;
    /// reopening replays what is really on disk. Every writer that waited on the failed
    /// operation gets this error, as does every later append or sync of unsynced data.
    #[error("write-ahead log failed and refuses writes until reopened: {cause}")]
    WalFailed {
        /// The error that put the log into the failed state.
        #[source]
        cause: Arc<Error>,
    },
    /// The object was closed with `close()`; open it again to continue.
    #[error("the write-ahead log is closed")]
    Closed,
    /// A record is larger than the format can frame.
    #[error("record of {len} bytes is too large: the format allows at most {max}")]
    RecordTooLarge {
        /// Encoded payload length in bytes.
        len: u64,
        /// The largest payload a record can hold.
        max: u64,
    },
    /// A record given to the log is not valid (for example a tombstone whose `mint` is
    /// after its `maxt`); nothing of the batch was written.
    #[error("invalid record: {reason}")]
    InvalidRecord {
        /// What was wrong.
        reason: Cow<'static, str>,
    },
    /// An argument or option is out of range (for example checkpointing the log file that
    /// is still being written).
    #[error("invalid argument: {reason}")]
    InvalidArgument {
        /// What was wrong.
        reason: Cow<'static, str>,
    },
    /// A label set was refused by `tsdb-index`.
    #[error("invalid labels: {0}")]
    Labels(#[from] tsdb_index::Error),
    /// Another process (or another `Db` in this one) has the data directory open.
    #[error("the data directory is in use: {} is locked by another process", path.display())]
    Locked {
        /// The lock file.
        path: PathBuf,
    },
    /// A single-sample append was refused; batches report these per sample instead.
    #[error("sample refused: {0}")]
    Sample(crate::batch::SampleError),
    /// An internal invariant did not hold: a bug in the engine, not something the caller
    /// did. Debug builds assert these; release builds return this error instead of
    /// carrying on with state that cannot be trusted.
    #[error("internal error (a bug in the engine): {reason}")]
    Invariant {
        /// Which invariant, in words.
        reason: Cow<'static, str>,
    },
    /// A maintenance pass (persisting the head, …) failed; it is retried in the
    /// background with backoff.
    #[error("maintenance failed: {cause}")]
    Maintenance {
        /// What the pass ran into.
        #[source]
        cause: Arc<Error>,
    },
    /// The cold tier's directory ([`crate::Options::cold_dir`]) or its `segments/` is
    /// missing or unreadable (an unmounted disk, say) when the database is opened. The
    /// open fails rather than serve the database without the cold segments.
    #[error("the cold tier directory {} is unavailable: {source}", path.display())]
    ColdDirUnavailable {
        /// The directory.
        path: PathBuf,
        /// What listing it returned.
        #[source]
        source: io::Error,
    },
    /// The manifest lists segments in the cold tier but the database was opened without
    /// [`crate::Options::cold_dir`]: opening without them would hide their data.
    #[error(
        "{} lists {segments} segments in the cold tier, but no cold_dir is configured",
        manifest.display()
    )]
    ColdTierNotConfigured {
        /// The manifest file.
        manifest: PathBuf,
        /// How many cold segments it lists.
        segments: usize,
    },
    /// The database was opened read-only ([`crate::Db::open_read_only`]) and this call
    /// would write.
    #[error("the database is open read-only")]
    ReadOnly,
}

/// Who an [`Error`] is for: what a server maps to a status code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorClass {
    /// The caller's request was wrong (bad argument, bad labels, a refused sample):
    /// HTTP 400. Retrying the same request fails the same way.
    Caller,
    /// The data directory is busy or the handle cannot write now (locked, closed,
    /// read-only, the log failed and must be reopened): HTTP 503.
    Unavailable,
    /// Something went wrong inside (I/O, corruption, an engine bug): HTTP 500.
    Internal,
}

impl Error {
    /// Wraps an I/O error with the path and operation it came from.
    pub(crate) fn io(op: IoOp, path: &Path, source: io::Error) -> Error {
        Error::Io {
            path: path.to_path_buf(),
            op,
            source,
        }
    }

    /// A [`Error::Corruption`] at `offset` of `path`.
    pub(crate) fn corruption(
        path: &Path,
        offset: u64,
        reason: impl Into<Cow<'static, str>>,
    ) -> Error {
        Error::Corruption {
            path: path.to_path_buf(),
            offset,
            reason: reason.into(),
        }
    }

    /// An [`Error::InvalidArgument`].
    pub(crate) fn invalid_argument(reason: impl Into<Cow<'static, str>>) -> Error {
        Error::InvalidArgument {
            reason: reason.into(),
        }
    }

    /// The error for bytes of `path` that `tsdb-encoding` could not decode: an unknown
    /// version is [`Error::UnsupportedFormat`] (never "repaired"), the rest
    /// [`Error::Corruption`].
    pub(crate) fn decode(path: &Path, e: tsdb_encoding::DecodeError) -> Error {
        match e.kind {
            tsdb_encoding::ErrorKind::Unsupported { what, found } => Error::UnsupportedFormat {
                path: path.to_path_buf(),
                what,
                found,
            },
            _ => Error::Corruption {
                path: path.to_path_buf(),
                offset: e.offset as u64,
                reason: e.reason,
            },
        }
    }

    /// An [`Error::Invariant`]; panics in debug builds, where a broken invariant should
    /// stop the test that found it.
    pub(crate) fn invariant(reason: impl Into<Cow<'static, str>>) -> Error {
        let reason = reason.into();
        debug_assert!(false, "invariant: {reason}");
        Error::Invariant { reason }
    }

    /// Whether the caller, the engine's availability or the engine itself is at fault.
    pub fn class(&self) -> ErrorClass {
        match self {
            Error::InvalidArgument { .. }
            | Error::InvalidRecord { .. }
            | Error::RecordTooLarge { .. }
            | Error::Labels(_)
            | Error::Sample(_) => ErrorClass::Caller,
            Error::ColdTierNotConfigured { .. } => ErrorClass::Caller,
            Error::Locked { .. }
            | Error::Closed
            | Error::ReadOnly
            | Error::WalFailed { .. }
            | Error::ColdDirUnavailable { .. } => ErrorClass::Unavailable,
            Error::Io { .. }
            | Error::Corruption { .. }
            | Error::UnsupportedFormat { .. }
            | Error::Invariant { .. }
            | Error::Maintenance { .. } => ErrorClass::Internal,
        }
    }

    /// True for [`Error::WalFailed`]: the log must be reopened before it accepts writes.
    pub fn is_wal_failed(&self) -> bool {
        matches!(self, Error::WalFailed { .. })
    }
}

/// Helper: `.map_err(io_err(IoOp::Sync, path))`.
pub(crate) fn io_err(op: IoOp, path: &Path) -> impl FnOnce(io::Error) -> Error + '_ {
    move |e| Error::io(op, path, e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_is_words_not_debug() {
        let e = Error::io(
            IoOp::Sync,
            Path::new("/data/wal/00000003"),
            io::Error::other("I/O error"),
        );
        assert_eq!(e.to_string(), "cannot fsync /data/wal/00000003: I/O error");

        let e = Error::corruption(Path::new("wal/00000002"), 4096, "checksum mismatch");
        assert_eq!(
            e.to_string(),
            "corruption in wal/00000002 at byte 4096: checksum mismatch"
        );

        let failed = Error::WalFailed {
            cause: Arc::new(Error::io(
                IoOp::Write,
                Path::new("wal/00000001"),
                io::Error::new(io::ErrorKind::StorageFull, "no space left on device"),
            )),
        };
        assert_eq!(
            failed.to_string(),
            "write-ahead log failed and refuses writes until reopened: \
             cannot write wal/00000001: no space left on device"
        );
        assert!(failed.is_wal_failed());
        assert!(std::error::Error::source(&failed).is_some());
    }
}
