//! A file-system wrapper for read-only opens: reads pass through, every change is
//! skipped and reported as done.
//!
//! WAL recovery decides what it would repair (cut a torn tail, drop damaged records,
//! remove stale files) and reports it; run over this wrapper it reads exactly what a
//! read-write open would read and changes nothing, so a read-only open sees the same data
//! without touching a directory another process may be writing.

use std::io;
use std::path::Path;
use std::sync::Arc;

use crate::fs::{DirEntry, Fs, FsFile, FsLock, MappedBytes};

#[derive(Debug)]
pub(crate) struct DryRunFs(pub(crate) Arc<dyn Fs>);

/// A file that swallows writes (recovery rewrites a damaged log file header this way).
#[derive(Debug)]
struct Sink;

impl FsFile for Sink {
    fn write_all(&self, _buf: &[u8]) -> io::Result<()> {
        Ok(())
    }
    fn sync_data(&self) -> io::Result<()> {
        Ok(())
    }
    fn len(&self) -> io::Result<u64> {
        Ok(0)
    }
    fn read_at(&self, _buf: &mut [u8], _offset: u64) -> io::Result<usize> {
        Ok(0)
    }
}

impl Fs for DryRunFs {
    fn create_dir_all(&self, _path: &Path) -> io::Result<()> {
        Ok(())
    }
    fn list_dir(&self, path: &Path) -> io::Result<Vec<DirEntry>> {
        self.0.list_dir(path)
    }
    fn create_new(&self, _path: &Path) -> io::Result<Arc<dyn FsFile>> {
        Ok(Arc::new(Sink))
    }
    fn open_append(&self, _path: &Path) -> io::Result<Arc<dyn FsFile>> {
        Ok(Arc::new(Sink))
    }
    fn open_read(&self, path: &Path) -> io::Result<Arc<dyn FsFile>> {
        self.0.open_read(path)
    }
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        self.0.read(path)
    }
    fn rename(&self, _from: &Path, _to: &Path) -> io::Result<()> {
        Ok(())
    }
    fn remove_file(&self, _path: &Path) -> io::Result<()> {
        Ok(())
    }
    fn remove_dir_all(&self, _path: &Path) -> io::Result<()> {
        Ok(())
    }
    fn sync_dir(&self, _path: &Path) -> io::Result<()> {
        Ok(())
    }
    fn file_len(&self, path: &Path) -> io::Result<u64> {
        self.0.file_len(path)
    }
    fn truncate(&self, _path: &Path, _len: u64) -> io::Result<()> {
        Ok(())
    }
    fn map(&self, path: &Path) -> io::Result<MappedBytes> {
        self.0.map(path)
    }
    fn lock(&self, _path: &Path) -> io::Result<FsLock> {
        Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            "a read-only open takes no lock",
        ))
    }
}
