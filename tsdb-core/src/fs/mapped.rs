//! Read-only views of whole files ([`MappedBytes`]): a memory mapping on the real file
//! system, a heap buffer on in-memory ones. This module holds the crate's only `unsafe`.

use std::fmt;
use std::fs::File;
use std::io;
use std::ops::Deref;
use std::sync::Arc;

use memmap2::Mmap;

/// The bytes of a whole file, read-only, as [`super::Fs::map`] hands them out. Segments
/// keep one per file for as long as they are open and read chunks straight out of it.
///
/// Cheap to share between threads (`Send + Sync`); dereferences to `&[u8]`.
pub struct MappedBytes {
    repr: Repr,
}

enum Repr {
    /// A read-only mapping of a file (the real file system).
    Mmap(Mmap),
    /// Bytes in memory (in-memory file systems, or a file read whole).
    Heap(Arc<[u8]>),
}

impl MappedBytes {
    /// Bytes already in memory: what an [`super::Fs`] without memory mapping (an
    /// in-memory simulator, a wrapper that reads the file whole) returns from `map`.
    pub fn from_vec(bytes: Vec<u8>) -> MappedBytes {
        MappedBytes {
            repr: Repr::Heap(bytes.into()),
        }
    }

    /// Shared bytes already in memory, without copying them.
    pub fn from_shared(bytes: Arc<[u8]>) -> MappedBytes {
        MappedBytes {
            repr: Repr::Heap(bytes),
        }
    }

    /// Maps the whole of `file` read-only. An empty file maps to an empty slice.
    #[allow(unsafe_code)]
    pub(super) fn map_file(file: &File) -> io::Result<MappedBytes> {
        // SAFETY: the engine maps only segment files. They are written in a temporary
        // directory, fsynced and renamed into place, and never written, truncated or
        // renamed again while the engine runs; they are only unlinked (retention,
        // compaction), which leaves existing mappings valid on the platforms we support.
        // A process outside the engine modifying them breaks the engine's contract (the
        // same one Prometheus and every mmapping database make); every byte read from the
        // mapping is still bounds-checked and CRC-checked.
        let map = unsafe { Mmap::map(file) }?;
        Ok(MappedBytes {
            repr: Repr::Mmap(map),
        })
    }
}

impl Deref for MappedBytes {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match &self.repr {
            Repr::Mmap(m) => m,
            Repr::Heap(b) => b,
        }
    }
}

impl AsRef<[u8]> for MappedBytes {
    fn as_ref(&self) -> &[u8] {
        self
    }
}

impl fmt::Debug for MappedBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.repr {
            Repr::Mmap(_) => "mmap",
            Repr::Heap(_) => "heap",
        };
        write!(f, "MappedBytes({kind}, {} bytes)", self.len())
    }
}
