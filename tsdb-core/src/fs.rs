//! The file-system seam: every byte the engine reads or writes goes through [`Fs`] and
//! [`FsFile`] (segments are memory-mapped through [`Fs::map`], the data directory is
//! locked through [`Fs::lock`]), so tests can inject failures (see [`testing::FaultFs`])
//! or simulate a power loss (see [`testing::PowerLossFs`]) without touching the code
//! under test. Modelled on redb's `StorageBackend`: a handful of object-safe methods,
//! `&self` everywhere, `std::io` errors in and out.
//!
//! [`RealFs`] is the production implementation over `std::fs`. Directory fsync, which
//! makes file creations, renames and removals durable, opens the directory and calls
//! `sync_all` on it (the POSIX way; on other platforms it is a no-op, see
//! [`RealFs::sync_dir`]).

mod mapped;

use std::fmt;
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{self, Write};
use std::path::Path;
use std::sync::Arc;

pub use mapped::MappedBytes;

/// One entry of a directory listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirEntry {
    /// The entry's file name (entries whose names are not UTF-8 are skipped: the engine
    /// never creates them).
    pub name: String,
    /// True for a directory.
    pub is_dir: bool,
}

/// The file-system operations the engine needs. Object-safe so the engine holds an
/// `Arc<dyn Fs>` and tests substitute a wrapper that fails on demand.
pub trait Fs: Send + Sync + fmt::Debug {
    /// Creates `path` and its missing parents; succeeds if it already exists.
    fn create_dir_all(&self, path: &Path) -> io::Result<()>;
    /// Lists the entries of directory `path`, in no particular order.
    fn list_dir(&self, path: &Path) -> io::Result<Vec<DirEntry>>;
    /// Creates a new file for writing; fails with `AlreadyExists` if it exists (the
    /// engine never overwrites a file in place).
    fn create_new(&self, path: &Path) -> io::Result<Arc<dyn FsFile>>;
    /// Opens an existing file for appending (writes go to its end) and reading.
    fn open_append(&self, path: &Path) -> io::Result<Arc<dyn FsFile>>;
    /// Opens an existing file for reading only.
    fn open_read(&self, path: &Path) -> io::Result<Arc<dyn FsFile>>;
    /// Reads a whole (small) file.
    fn read(&self, path: &Path) -> io::Result<Vec<u8>>;
    /// Renames `from` to `to`, replacing `to` if it is a file (POSIX `rename`).
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Removes a file.
    fn remove_file(&self, path: &Path) -> io::Result<()>;
    /// Removes a directory and everything under it.
    fn remove_dir_all(&self, path: &Path) -> io::Result<()>;
    /// Makes the directory's entries (creations, renames, removals) durable.
    fn sync_dir(&self, path: &Path) -> io::Result<()>;
    /// The length of a file in bytes.
    fn file_len(&self, path: &Path) -> io::Result<u64>;
    /// Cuts a file to `len` bytes and makes the new length durable before returning
    /// (recovery truncates a torn tail and must not see it come back after a crash).
    fn truncate(&self, path: &Path, len: u64) -> io::Result<()>;
    /// The whole file at `path`, read-only, for as long as the result lives. The real
    /// file system maps it into memory (segments are read in place, and only the pages a
    /// query touches are read); the default reads it whole, which is what an in-memory
    /// file system wants. The engine maps only files it never changes again.
    fn map(&self, path: &Path) -> io::Result<MappedBytes> {
        self.read(path).map(MappedBytes::from_vec)
    }
    /// Takes an exclusive lock on the file `path` (creating it if missing), held until
    /// the returned [`FsLock`] is dropped; fails with [`io::ErrorKind::WouldBlock`] if
    /// someone else holds it. The database takes one on its directory so that two
    /// processes (or two handles in one process) never write the same files. The lock
    /// file's existence need not be durable: a lock never outlives its holder.
    fn lock(&self, path: &Path) -> io::Result<FsLock>;
}

/// A lock from [`Fs::lock`]; dropping it releases the lock.
pub struct FsLock {
    _held: Box<dyn fmt::Debug + Send + Sync>,
}

impl FsLock {
    /// A lock released when `held` is dropped (for [`Fs`] implementations: the open,
    /// locked file of the real file system, a guard of an in-memory one).
    pub fn new(held: impl fmt::Debug + Send + Sync + 'static) -> FsLock {
        FsLock {
            _held: Box::new(held),
        }
    }
}

impl fmt::Debug for FsLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("FsLock").field(&self._held).finish()
    }
}

/// An open file. All methods take `&self` so one handle can be shared between the
/// thread that appends and the thread that fsyncs (group commit fsyncs outside the
/// append lock).
pub trait FsFile: Send + Sync + fmt::Debug {
    /// Writes all of `buf` at the end of what this handle has written so far (at the end
    /// of the file for handles from [`Fs::open_append`]). On error an unknown prefix of
    /// `buf` may have been written.
    fn write_all(&self, buf: &[u8]) -> io::Result<()>;
    /// Makes the file's data durable (`fdatasync`).
    fn sync_data(&self) -> io::Result<()>;
    /// The file's current length in bytes.
    fn len(&self) -> io::Result<u64>;
    /// True if the file is empty.
    fn is_empty(&self) -> io::Result<bool> {
        Ok(self.len()? == 0)
    }
    /// Reads up to `buf.len()` bytes at `offset`; returns how many were read (0 at end of
    /// file). Does not move any cursor.
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize>;
}

/// Reads exactly `buf.len()` bytes at `offset`, or fails with `UnexpectedEof`.
pub(crate) fn read_exact_at(
    file: &dyn FsFile,
    mut buf: &mut [u8],
    mut offset: u64,
) -> io::Result<()> {
    while !buf.is_empty() {
        match file.read_at(buf, offset) {
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "file ended before the expected bytes",
                ))
            }
            Ok(n) => {
                let rest = std::mem::take(&mut buf);
                buf = rest.get_mut(n..).ok_or_else(|| {
                    io::Error::new(
                        io::ErrorKind::InvalidData,
                        "read_at returned too many bytes",
                    )
                })?;
                offset += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Creates `path` and its missing parents, like [`Fs::create_dir_all`], and makes each
/// directory it created durable by fsyncing the directory that holds it: without that, a
/// power loss can take a new data directory away with everything later synced inside it.
/// Costs nothing when `path` exists.
pub(crate) fn create_dir_all_durable(fs: &dyn Fs, path: &Path) -> io::Result<()> {
    // the missing directories, deepest first
    let mut missing = Vec::new();
    let mut p = path;
    while !p.as_os_str().is_empty() && fs.list_dir(p).is_err() {
        missing.push(p);
        match p.parent() {
            Some(parent) => p = parent,
            None => break,
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    fs.create_dir_all(path)?;
    for created in missing.iter().rev() {
        match created.parent() {
            Some(parent) if parent.as_os_str().is_empty() => fs.sync_dir(Path::new("."))?,
            Some(parent) => fs.sync_dir(parent)?,
            None => {}
        }
    }
    Ok(())
}

/// The real file system, through `std::fs`.
#[derive(Clone, Copy, Debug, Default)]
pub struct RealFs;

impl RealFs {
    /// A shareable handle, the form the engine's constructors take.
    pub fn arc() -> Arc<dyn Fs> {
        Arc::new(RealFs)
    }
}

#[derive(Debug)]
struct RealFile(File);

impl FsFile for RealFile {
    fn write_all(&self, buf: &[u8]) -> io::Result<()> {
        (&self.0).write_all(buf)
    }

    fn sync_data(&self) -> io::Result<()> {
        self.0.sync_data()
    }

    fn len(&self) -> io::Result<u64> {
        Ok(self.0.metadata()?.len())
    }

    #[cfg(unix)]
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        std::os::unix::fs::FileExt::read_at(&self.0, buf, offset)
    }

    #[cfg(windows)]
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        std::os::windows::fs::FileExt::seek_read(&self.0, buf, offset)
    }
}

impl Fs for RealFs {
    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        std::fs::create_dir_all(path)
    }

    fn list_dir(&self, path: &Path) -> io::Result<Vec<DirEntry>> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(path)? {
            let entry = entry?;
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            out.push(DirEntry {
                name,
                is_dir: entry.file_type()?.is_dir(),
            });
        }
        Ok(out)
    }

    fn create_new(&self, path: &Path) -> io::Result<Arc<dyn FsFile>> {
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(path)?;
        Ok(Arc::new(RealFile(f)))
    }

    fn open_append(&self, path: &Path) -> io::Result<Arc<dyn FsFile>> {
        let f = OpenOptions::new().read(true).append(true).open(path)?;
        Ok(Arc::new(RealFile(f)))
    }

    fn open_read(&self, path: &Path) -> io::Result<Arc<dyn FsFile>> {
        Ok(Arc::new(RealFile(File::open(path)?)))
    }

    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        std::fs::read(path)
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        std::fs::rename(from, to)
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_file(path)
    }

    fn remove_dir_all(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_dir_all(path)
    }

    /// Opens the directory and `fsync`s it. On non-Unix platforms directories cannot be
    /// opened this way and the call does nothing (NTFS journals metadata itself).
    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        #[cfg(unix)]
        {
            File::open(path)?.sync_all()
        }
        #[cfg(not(unix))]
        {
            let _ = path;
            Ok(())
        }
    }

    fn file_len(&self, path: &Path) -> io::Result<u64> {
        Ok(std::fs::metadata(path)?.len())
    }

    fn truncate(&self, path: &Path, len: u64) -> io::Result<()> {
        let f = OpenOptions::new().write(true).open(path)?;
        f.set_len(len)?;
        f.sync_all()
    }

    /// Memory-maps the file (see [`MappedBytes`] for why that is sound here).
    fn map(&self, path: &Path) -> io::Result<MappedBytes> {
        MappedBytes::map_file(&File::open(path)?)
    }

    /// An advisory `flock`-style lock ([`File::try_lock`]) on the file: released when
    /// the process exits, however it exits, so a crash never leaves a stale lock.
    fn lock(&self, path: &Path) -> io::Result<FsLock> {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)?;
        match file.try_lock() {
            Ok(()) => Ok(FsLock::new(LockedFile(file))),
            Err(TryLockError::WouldBlock) => Err(io::Error::new(
                io::ErrorKind::WouldBlock,
                "locked by another handle or process",
            )),
            Err(TryLockError::Error(e)) => Err(e),
        }
    }
}

/// The open lock file of [`RealFs::lock`]. Dropping it unlocks explicitly before closing:
/// a `flock` belongs to the open file description, which a child process forked by
/// another thread shares until it execs, so closing alone could leave the directory
/// locked for a moment after [`crate::Db::close`] (seen as `Locked` when a test reopened
/// a database while other threads spawned processes). `LOCK_UN` releases it at once.
#[derive(Debug)]
struct LockedFile(File);

impl Drop for LockedFile {
    fn drop(&mut self) {
        let _ = self.0.unlock();
    }
}

#[cfg(test)]
mod lock_tests {
    use super::*;

    #[test]
    fn dropping_the_lock_releases_it_even_while_a_copy_of_its_descriptor_lives() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("LOCK");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .expect("open");
        file.try_lock().expect("lock");
        // what a child forked by another thread holds until it execs: a descriptor of the
        // same open file description
        let inherited = file.try_clone().expect("dup");
        let lock = FsLock::new(LockedFile(file));
        let err = RealFs.lock(&path).expect_err("held");
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
        drop(lock);
        RealFs
            .lock(&path)
            .expect("released although a copy of the descriptor lives");
        drop(inherited);
    }
}

pub mod testing {
    //! File systems for tests.
    //!
    //! - [`FaultFs`] wraps any [`Fs`] and can be armed to fail fsyncs, cut writes short,
    //!   run out of space, or fail a rename, removal or file creation; it also counts
    //!   fsyncs and can hold them at a gate so a test controls exactly which writers pile
    //!   up behind a group-commit fsync.
    //! - [`PowerLossFs`] is an in-memory file system that keeps what reads see apart from
    //!   what would survive a power loss, can "lose power" after any given fsync, and
    //!   hands out the surviving image as a new file system to reopen.
    //!
    //! This module is always compiled (it is small and has no dependencies) rather than
    //! hidden behind a cargo feature: integration tests in `tests/`, the engine's crash
    //! and fault tests, and applications embedding the engine that want to test their own
    //! handling of disk errors can all use it without feature juggling. It is not meant
    //! for production use.

    mod power_loss;

    pub use power_loss::{CrashSurvival, EntryChange, PowerLossFs};

    use super::{DirEntry, Fs, FsFile, FsLock, MappedBytes, RealFs};
    use std::io;
    use std::path::Path;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

    /// An operation [`FaultFs::fail_next`] can make fail once.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    #[non_exhaustive]
    pub enum FaultOp {
        /// [`FsFile::sync_data`]: fails with an I/O error *without* syncing, as Linux
        /// reports a writeback error.
        Fsync,
        /// [`Fs::sync_dir`].
        SyncDir,
        /// [`Fs::create_new`].
        Create,
        /// [`Fs::rename`].
        Rename,
        /// [`Fs::remove_file`] and [`Fs::remove_dir_all`].
        Remove,
        /// [`Fs::truncate`].
        Truncate,
    }

    #[derive(Debug, Default)]
    struct Armed {
        fsync: u32,
        sync_dir: u32,
        create: u32,
        rename: u32,
        remove: u32,
        truncate: u32,
        /// The next write writes this many bytes of its buffer, then fails.
        short_write: Option<usize>,
        /// Bytes that may still be written before every write fails with ENOSPC.
        space_left: Option<u64>,
        /// While true, fsyncs block at the gate.
        hold_fsyncs: bool,
        /// Fsyncs currently blocked at the gate.
        held: usize,
        /// Every file fsync sleeps this long first (a slow disk).
        fsync_delay: Option<std::time::Duration>,
    }

    impl Armed {
        fn slot(&mut self, op: FaultOp) -> &mut u32 {
            match op {
                FaultOp::Fsync => &mut self.fsync,
                FaultOp::SyncDir => &mut self.sync_dir,
                FaultOp::Create => &mut self.create,
                FaultOp::Rename => &mut self.rename,
                FaultOp::Remove => &mut self.remove,
                FaultOp::Truncate => &mut self.truncate,
            }
        }

        /// Consumes one armed failure of `op`, if any.
        fn take(&mut self, op: FaultOp) -> bool {
            let slot = self.slot(op);
            if *slot > 0 {
                *slot -= 1;
                true
            } else {
                false
            }
        }
    }

    #[derive(Debug, Default)]
    struct State {
        armed: Mutex<Armed>,
        gate: Condvar,
        fsyncs: AtomicU64,
        dir_syncs: AtomicU64,
        bytes_written: AtomicU64,
    }

    impl State {
        fn armed(&self) -> MutexGuard<'_, Armed> {
            // A panicking test thread must not hide the state from the others.
            self.armed.lock().unwrap_or_else(PoisonError::into_inner)
        }
    }

    fn injected(op: &str) -> io::Error {
        io::Error::other(format!("injected {op} failure (EIO)"))
    }

    /// An [`Fs`] wrapper that counts fsyncs and fails on demand. Cloning shares the
    /// counters and the armed faults, so a test keeps one clone and gives the engine
    /// another.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use tsdb_core::fs::{Fs, testing::FaultFs};
    ///
    /// let fault = FaultFs::real();
    /// let fs: Arc<dyn Fs> = Arc::new(fault.clone());
    /// fault.fail_next_fsync();
    /// # let dir = std::env::temp_dir().join(format!("faultfs-doc-{}", std::process::id()));
    /// # fs.create_dir_all(&dir).unwrap();
    /// let f = fs.create_new(&dir.join("x")).unwrap();
    /// f.write_all(b"hello").unwrap();
    /// assert!(f.sync_data().is_err());
    /// assert!(f.sync_data().is_ok());
    /// assert_eq!(fault.fsync_count(), 2);
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// ```
    #[derive(Clone, Debug)]
    pub struct FaultFs {
        inner: Arc<dyn Fs>,
        state: Arc<State>,
    }

    impl FaultFs {
        /// Wraps `inner`.
        pub fn new(inner: Arc<dyn Fs>) -> FaultFs {
            FaultFs {
                inner,
                state: Arc::default(),
            }
        }

        /// Wraps the real file system.
        pub fn real() -> FaultFs {
            FaultFs::new(RealFs::arc())
        }

        /// File fsyncs ([`FsFile::sync_data`] calls) so far, failed ones included.
        pub fn fsync_count(&self) -> u64 {
            self.state.fsyncs.load(Ordering::SeqCst)
        }

        /// Directory fsyncs so far, failed ones included.
        pub fn dir_sync_count(&self) -> u64 {
            self.state.dir_syncs.load(Ordering::SeqCst)
        }

        /// Bytes that reached the inner file system through writes.
        pub fn bytes_written(&self) -> u64 {
            self.state.bytes_written.load(Ordering::SeqCst)
        }

        /// Makes the next call of `op` fail once (calls add up: arming twice fails the
        /// next two).
        pub fn fail_next(&self, op: FaultOp) {
            *self.state.armed().slot(op) += 1;
        }

        /// Makes the next file fsync fail with an I/O error, without syncing.
        pub fn fail_next_fsync(&self) {
            self.fail_next(FaultOp::Fsync);
        }

        /// Makes the next write write only the first `n` bytes of its buffer (fewer if the
        /// buffer is shorter) and then fail with an I/O error, like a write interrupted by
        /// a device error.
        pub fn short_next_write(&self, n: usize) {
            self.state.armed().short_write = Some(n);
        }

        /// Lets `n` more bytes be written; the write that crosses the limit writes what
        /// fits and fails with `StorageFull` (ENOSPC), and so does every later write until
        /// [`FaultFs::clear`].
        pub fn enospc_after(&self, n: u64) {
            self.state.armed().space_left = Some(n);
        }

        /// Disarms every fault and opens the fsync gate.
        pub fn clear(&self) {
            let mut a = self.state.armed();
            let held = a.held;
            *a = Armed {
                held,
                ..Armed::default()
            };
            drop(a);
            self.state.gate.notify_all();
        }

        /// Makes every file fsync take at least `d` (a slow disk), so concurrent writers
        /// reliably overlap; `None` removes the delay.
        pub fn set_fsync_delay(&self, d: Option<std::time::Duration>) {
            self.state.armed().fsync_delay = d;
        }

        /// Closes the fsync gate: from now on every file fsync blocks until
        /// [`FaultFs::release_fsyncs`]. Armed fsync failures still apply once released.
        pub fn hold_fsyncs(&self) {
            self.state.armed().hold_fsyncs = true;
        }

        /// Opens the fsync gate and wakes the fsyncs blocked at it.
        pub fn release_fsyncs(&self) {
            self.state.armed().hold_fsyncs = false;
            self.state.gate.notify_all();
        }

        /// Number of fsyncs currently blocked at the gate.
        pub fn held_fsyncs(&self) -> usize {
            self.state.armed().held
        }

        /// Waits until at least `n` fsyncs are blocked at the gate (polling; for tests).
        pub fn wait_for_held_fsyncs(&self, n: usize) {
            while self.held_fsyncs() < n {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
        }

        fn check(&self, op: FaultOp, what: &str) -> io::Result<()> {
            if self.state.armed().take(op) {
                Err(injected(what))
            } else {
                Ok(())
            }
        }

        fn wrap(&self, f: Arc<dyn FsFile>) -> Arc<dyn FsFile> {
            Arc::new(FaultFile {
                inner: f,
                state: Arc::clone(&self.state),
            })
        }
    }

    impl Fs for FaultFs {
        fn create_dir_all(&self, path: &Path) -> io::Result<()> {
            self.inner.create_dir_all(path)
        }

        fn list_dir(&self, path: &Path) -> io::Result<Vec<DirEntry>> {
            self.inner.list_dir(path)
        }

        fn create_new(&self, path: &Path) -> io::Result<Arc<dyn FsFile>> {
            self.check(FaultOp::Create, "create")?;
            Ok(self.wrap(self.inner.create_new(path)?))
        }

        fn open_append(&self, path: &Path) -> io::Result<Arc<dyn FsFile>> {
            Ok(self.wrap(self.inner.open_append(path)?))
        }

        fn open_read(&self, path: &Path) -> io::Result<Arc<dyn FsFile>> {
            Ok(self.wrap(self.inner.open_read(path)?))
        }

        fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
            self.inner.read(path)
        }

        fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
            self.check(FaultOp::Rename, "rename")?;
            self.inner.rename(from, to)
        }

        fn remove_file(&self, path: &Path) -> io::Result<()> {
            self.check(FaultOp::Remove, "remove")?;
            self.inner.remove_file(path)
        }

        fn remove_dir_all(&self, path: &Path) -> io::Result<()> {
            self.check(FaultOp::Remove, "remove")?;
            self.inner.remove_dir_all(path)
        }

        fn sync_dir(&self, path: &Path) -> io::Result<()> {
            self.state.dir_syncs.fetch_add(1, Ordering::SeqCst);
            self.check(FaultOp::SyncDir, "directory fsync")?;
            self.inner.sync_dir(path)
        }

        fn file_len(&self, path: &Path) -> io::Result<u64> {
            self.inner.file_len(path)
        }

        fn truncate(&self, path: &Path, len: u64) -> io::Result<()> {
            self.check(FaultOp::Truncate, "truncate")?;
            self.inner.truncate(path, len)
        }

        fn map(&self, path: &Path) -> io::Result<MappedBytes> {
            self.inner.map(path)
        }

        fn lock(&self, path: &Path) -> io::Result<FsLock> {
            self.inner.lock(path)
        }
    }

    #[derive(Debug)]
    struct FaultFile {
        inner: Arc<dyn FsFile>,
        state: Arc<State>,
    }

    impl FsFile for FaultFile {
        fn write_all(&self, buf: &[u8]) -> io::Result<()> {
            let mut allowed = buf.len();
            let mut err = None;
            {
                let mut a = self.state.armed();
                if let Some(n) = a.short_write.take() {
                    allowed = allowed.min(n);
                    err = Some(io::Error::other("injected short write (EIO)"));
                }
                if let Some(left) = a.space_left.as_mut() {
                    let fits = usize::try_from(*left).unwrap_or(usize::MAX);
                    if allowed > fits {
                        allowed = fits;
                        err = Some(io::Error::new(
                            io::ErrorKind::StorageFull,
                            "injected ENOSPC: no space left on device",
                        ));
                    }
                    *left -= allowed as u64;
                }
            }
            let head = buf.get(..allowed).unwrap_or(buf);
            self.inner.write_all(head)?;
            self.state
                .bytes_written
                .fetch_add(head.len() as u64, Ordering::SeqCst);
            match err {
                Some(e) => Err(e),
                None => Ok(()),
            }
        }

        fn sync_data(&self) -> io::Result<()> {
            self.state.fsyncs.fetch_add(1, Ordering::SeqCst);
            let mut a = self.state.armed();
            if a.hold_fsyncs {
                a.held += 1;
                while a.hold_fsyncs {
                    a = self
                        .state
                        .gate
                        .wait(a)
                        .unwrap_or_else(PoisonError::into_inner);
                }
                a.held -= 1;
            }
            let fail = a.take(FaultOp::Fsync);
            let delay = a.fsync_delay;
            drop(a);
            if let Some(d) = delay {
                std::thread::sleep(d);
            }
            if fail {
                return Err(injected("fsync"));
            }
            self.inner.sync_data()
        }

        fn len(&self) -> io::Result<u64> {
            self.inner.len()
        }

        fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
            self.inner.read_at(buf, offset)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testing::{FaultFs, FaultOp};
    use super::*;

    #[test]
    fn real_fs_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let fs = RealFs;
        let sub = dir.path().join("a/b");
        fs.create_dir_all(&sub).unwrap();
        let p = sub.join("f");
        let f = fs.create_new(&p).unwrap();
        f.write_all(b"hello ").unwrap();
        f.sync_data().unwrap();
        assert!(fs.create_new(&p).is_err(), "create_new never overwrites");
        let f = fs.open_append(&p).unwrap();
        f.write_all(b"world").unwrap();
        assert_eq!(f.len().unwrap(), 11);
        let mut buf = [0u8; 5];
        read_exact_at(&*f, &mut buf, 6).unwrap();
        assert_eq!(&buf, b"world");
        assert_eq!(fs.read(&p).unwrap(), b"hello world");
        fs.truncate(&p, 5).unwrap();
        assert_eq!(fs.file_len(&p).unwrap(), 5);
        fs.sync_dir(&sub).unwrap();
        let q = sub.join("g");
        fs.rename(&p, &q).unwrap();
        let names: Vec<_> = fs
            .list_dir(&sub)
            .unwrap()
            .into_iter()
            .map(|e| e.name)
            .collect();
        assert_eq!(names, ["g"]);
        fs.remove_file(&q).unwrap();
        fs.remove_dir_all(&dir.path().join("a")).unwrap();
        assert!(fs.list_dir(dir.path()).unwrap().is_empty());
    }

    #[test]
    fn real_fs_maps_and_locks() {
        let dir = tempfile::tempdir().unwrap();
        let fs = RealFs;
        let p = dir.path().join("f");
        std::fs::write(&p, b"mapped bytes").unwrap();
        assert_eq!(&*fs.map(&p).unwrap(), b"mapped bytes");
        let empty = dir.path().join("empty");
        std::fs::write(&empty, b"").unwrap();
        assert!(fs.map(&empty).unwrap().is_empty());
        assert!(fs.map(&dir.path().join("missing")).is_err());

        let lock = dir.path().join("LOCK");
        let held = fs.lock(&lock).unwrap();
        let e = fs.lock(&lock).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
        drop(held);
        drop(fs.lock(&lock).unwrap());
    }

    #[test]
    fn short_write_and_enospc() {
        let dir = tempfile::tempdir().unwrap();
        let fault = FaultFs::real();
        let p = dir.path().join("f");
        let f = fault.create_new(&p).unwrap();
        fault.short_next_write(3);
        assert!(f.write_all(b"abcdef").is_err());
        f.write_all(b"XY").unwrap();
        fault.enospc_after(4);
        let e = f.write_all(b"123456").unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::StorageFull);
        assert!(f.write_all(b"z").is_err(), "the disk stays full");
        fault.clear();
        f.write_all(b"!").unwrap();
        assert_eq!(fault.read(&p).unwrap(), b"abcXY1234!");
        assert_eq!(fault.bytes_written(), 10);
    }

    #[test]
    fn armed_ops_fail_once() {
        let dir = tempfile::tempdir().unwrap();
        let fault = FaultFs::real();
        fault.fail_next(FaultOp::Rename);
        fault.fail_next(FaultOp::SyncDir);
        let a = dir.path().join("a");
        fault.create_new(&a).unwrap();
        assert!(fault.rename(&a, &dir.path().join("b")).is_err());
        assert!(fault.rename(&a, &dir.path().join("b")).is_ok());
        assert!(fault.sync_dir(dir.path()).is_err());
        assert!(fault.sync_dir(dir.path()).is_ok());
        assert_eq!(fault.dir_sync_count(), 2);
    }

    #[test]
    fn fsync_gate_holds_and_releases() {
        let dir = tempfile::tempdir().unwrap();
        let fault = FaultFs::real();
        let f = fault.create_new(&dir.path().join("f")).unwrap();
        fault.hold_fsyncs();
        fault.fail_next_fsync();
        let t = std::thread::spawn(move || f.sync_data());
        fault.wait_for_held_fsyncs(1);
        fault.release_fsyncs();
        assert!(t.join().unwrap().is_err());
        assert_eq!(fault.held_fsyncs(), 0);
    }
}
