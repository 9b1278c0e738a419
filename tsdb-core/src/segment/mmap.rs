//! The only `unsafe` in the crate: mapping a segment file into memory.

use std::fs::File;
use std::path::Path;

use memmap2::Mmap;

use crate::error::{io_err, IoOp, Result};

/// Maps the whole file at `path` read-only. An empty file maps to an empty slice.
#[allow(unsafe_code)]
pub(crate) fn map_file(path: &Path) -> Result<Mmap> {
    let file = File::open(path).map_err(io_err(IoOp::Open, path))?;
    // SAFETY: segment files are written in a temporary directory, fsynced and renamed
    // into place, and never written, truncated or renamed again while the engine runs;
    // they are only unlinked (retention, compaction), which leaves existing mappings
    // valid on the platforms we support. A process outside the engine modifying them
    // breaks the engine's contract (the same one Prometheus and every mmapping database
    // make); every byte read from the mapping is still bounds-checked and CRC-checked.
    unsafe { Mmap::map(&file) }.map_err(io_err(IoOp::Read, path))
}
