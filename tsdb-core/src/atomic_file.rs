//! Replacing a small file atomically and durably: the one protocol behind the manifest
//! and the tombstones file.
//!
//! The new content goes to `NAME.tmp`, which is fsynced, renamed over `NAME`, and the
//! directory is fsynced. A crash at any step leaves either the old file or the new one
//! (never a mix: rename is atomic), and once this returns the new one survives power loss.
//! A leftover `NAME.tmp` from an interrupted replace is removed first (and ignored by
//! readers).

use std::path::Path;

use crate::error::{io_err, Error, IoOp, Result};
use crate::fs::Fs;

/// The temporary name a replace of `name` writes first.
pub(crate) fn tmp_name(name: &str) -> String {
    format!("{name}.tmp")
}

/// Replaces `dir/name` with `bytes`, durably (see the module docs).
pub(crate) fn replace(fs: &dyn Fs, dir: &Path, name: &str, bytes: &[u8]) -> Result<()> {
    let path = dir.join(name);
    let tmp = dir.join(tmp_name(name));
    if fs.file_len(&tmp).is_ok() {
        fs.remove_file(&tmp).map_err(io_err(IoOp::Remove, &tmp))?;
    }
    let file = fs.create_new(&tmp).map_err(io_err(IoOp::Create, &tmp))?;
    file.write_all(bytes).map_err(io_err(IoOp::Write, &tmp))?;
    file.sync_data().map_err(io_err(IoOp::Sync, &tmp))?;
    drop(file);
    fs.rename(&tmp, &path).map_err(io_err(IoOp::Rename, &tmp))?;
    fs.sync_dir(dir).map_err(io_err(IoOp::SyncDir, dir))
}

/// Reads `dir/name`; `None` when it does not exist.
pub(crate) fn read(fs: &dyn Fs, dir: &Path, name: &str) -> Result<Option<Vec<u8>>> {
    let path = dir.join(name);
    match fs.read(&path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(IoOp::Read, &path, e)),
    }
}
