//! The log handle: appends under a mutex, group-commit fsync, log file rotation, the
//! periodic sync thread, and the failed state. The fsync protocol step by step is in
//! `FORMAT-wal.md`, "Durability".

use std::mem;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::{Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use super::checkpoint::{self, CheckpointStats};
use super::file::{file_name, list, LogFile};
use super::framing::FILE_HEADER_LEN;
use super::record::Record;
use super::recovery::{recover, RecoveryReport};
use super::{Lsn, SyncMode, WalOptions};
use crate::error::{io_err, Error, IoOp, Result};
use crate::fs::{Fs, RealFs};
use crate::observe::Observer;

/// Rotated-out log files waiting for their fsync. Beyond this many (only reachable with
/// [`SyncMode::Never`] or very tiny log files), rotation fsyncs the oldest itself, so
/// open file handles stay bounded.
const MAX_PENDING: usize = 4;

/// The write-ahead log. `Send + Sync`: share it (for example in an `Arc`) between the
/// threads that append. See the [module docs](super) for an example.
#[derive(Debug)]
pub struct Wal {
    shared: Arc<Shared>,
    bg: Mutex<Option<JoinHandle<()>>>,
}

/// What [`Wal::stats`] reports.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WalStats {
    /// Bytes of every log file and checkpoint file on disk.
    pub bytes_on_disk: u64,
    /// Log files on disk, the one being written included.
    pub files: usize,
    /// The latest checkpoint, if any.
    pub checkpoint: Option<u32>,
    /// The position after the last record appended.
    pub last_lsn: Lsn,
    /// Everything before this position is durable.
    pub synced_lsn: Lsn,
    /// File fsyncs issued since open (group commit makes this smaller than the number of
    /// `sync` calls).
    pub fsyncs: u64,
    /// Directory fsyncs issued since open.
    pub dir_syncs: u64,
    /// True once a write or fsync failed; the log must be reopened.
    pub failed: bool,
}

#[derive(Debug)]
pub(super) struct Shared {
    pub(super) fs: Arc<dyn Fs>,
    pub(super) dir: PathBuf,
    pub(super) opts: WalOptions,
    inner: Mutex<Inner>,
    sync: Mutex<SyncState>,
    sync_cv: Condvar,
    fsyncs: AtomicU64,
    dir_syncs: AtomicU64,
    pub(super) checkpoint_lock: Mutex<()>,
    /// Told how long each group-commit fsync took; set once by the database.
    observer: std::sync::OnceLock<Arc<dyn Observer>>,
    stop: Mutex<bool>,
    stop_cv: Condvar,
}

/// State of the appending side, behind the append mutex.
#[derive(Debug)]
struct Inner {
    /// The log file being appended to.
    file: LogFile,
    /// Position after the last record written.
    written: Lsn,
    /// Rotated-out log files not yet fsynced.
    pending: Vec<LogFile>,
    /// A log file was created since the last directory fsync.
    dir_dirty: bool,
    failed: Option<Arc<Error>>,
    closed: bool,
}

/// State of the syncing side, behind the sync mutex (never held during an fsync).
#[derive(Debug)]
struct SyncState {
    /// Everything before this is durable.
    synced: Lsn,
    /// A leader is fsyncing right now.
    syncing: bool,
    failed: Option<Arc<Error>>,
}

impl Wal {
    /// Opens (or creates) the log in `dir` on the real file system, replaying every record
    /// into `replay` first. See [`Wal::open_with_fs`].
    pub fn open(
        dir: impl AsRef<Path>,
        opts: WalOptions,
        replay: impl FnMut(Record) -> Result<()>,
    ) -> Result<(Wal, RecoveryReport)> {
        Wal::open_with_fs(RealFs::arc(), dir, opts, replay)
    }

    /// Opens (or creates) the log in `dir` through `fs`.
    ///
    /// Recovery runs first (rules in `FORMAT-wal.md`): leftover temporary checkpoints are
    /// removed, the latest checkpoint and every later log file are read in order and each
    /// record is handed to `replay`; a torn tail of the last log file is cut off. An error
    /// from `replay` aborts the open. Then a new log file is started (never appending to a
    /// log file a previous process wrote: after a crash or a failed fsync its unsynced
    /// tail cannot be trusted), fsynced, and the directory fsynced.
    pub fn open_with_fs(
        fs: Arc<dyn Fs>,
        dir: impl AsRef<Path>,
        opts: WalOptions,
        mut replay: impl FnMut(Record) -> Result<()>,
    ) -> Result<(Wal, RecoveryReport)> {
        Wal::open_with_positions(fs, dir, opts, |r, _| replay(r))
    }

    /// [`Wal::open_with_fs`], handing `replay` each record's position too: where it was
    /// logged, comparable with the positions [`Wal::append`] returned (a record folded
    /// into checkpoint `N` is at the end of log file `N`). The database uses it to tell
    /// samples logged before a persist from samples logged after it.
    pub fn open_with_positions(
        fs: Arc<dyn Fs>,
        dir: impl AsRef<Path>,
        opts: WalOptions,
        mut replay: impl FnMut(Record, Lsn) -> Result<()>,
    ) -> Result<(Wal, RecoveryReport)> {
        opts.validate()?;
        let dir = dir.as_ref().to_path_buf();
        let rec = recover(&*fs, &dir, opts.recovery, &mut replay)?;
        let file = LogFile::create(&*fs, &dir, rec.next_file)?;
        file.sync()?;
        fs.sync_dir(&dir).map_err(io_err(IoOp::SyncDir, &dir))?;
        let start = Lsn {
            file: file.index,
            offset: file.len,
        };
        let shared = Arc::new(Shared {
            fs,
            dir,
            opts,
            inner: Mutex::new(Inner {
                file,
                written: start,
                pending: Vec::new(),
                dir_dirty: false,
                failed: None,
                closed: false,
            }),
            sync: Mutex::new(SyncState {
                synced: start,
                syncing: false,
                failed: None,
            }),
            sync_cv: Condvar::new(),
            fsyncs: AtomicU64::new(1),
            dir_syncs: AtomicU64::new(1),
            checkpoint_lock: Mutex::new(()),
            observer: std::sync::OnceLock::new(),
            stop: Mutex::new(false),
            stop_cv: Condvar::new(),
        });
        let bg = match shared.opts.sync {
            SyncMode::Periodic(every) => {
                let s = Arc::clone(&shared);
                let h = std::thread::Builder::new()
                    .name("tsdb-wal-sync".into())
                    .spawn(move || periodic_sync(&s, every))
                    .map_err(io_err(IoOp::SpawnThread, &shared.dir))?;
                Some(h)
            }
            _ => None,
        };
        Ok((
            Wal {
                shared,
                bg: Mutex::new(bg),
            },
            rec.report,
        ))
    }

    /// Writes `records` at the end of the log, in order, and returns the position after
    /// the last one. Does not fsync: call [`Wal::commit`] (or [`Wal::sync`]) with the
    /// returned position before acknowledging the batch.
    ///
    /// Records are encoded before the append lock is taken; under it they are written
    /// with one `write` per log file touched. A record that does not fit in the current
    /// log file starts a new one (records never span log files). If the write fails the
    /// log enters the failed state and this and every later call return
    /// [`Error::WalFailed`].
    pub fn append(&self, records: &[Record]) -> Result<Lsn> {
        self.shared.append(records)
    }

    /// Makes everything up to `lsn` durable, with group commit: if another thread is
    /// already fsyncing, this one waits and, if that fsync covered `lsn`, returns without
    /// one of its own; otherwise one of the waiters leads the next fsync for everything
    /// written by then. If the fsync fails, every thread waiting on it gets
    /// [`Error::WalFailed`] and the log refuses further writes. Positions already durable
    /// return `Ok` even after a failure.
    pub fn sync(&self, lsn: Lsn) -> Result<()> {
        self.shared.sync(lsn)
    }

    /// What a writer calls before acknowledging a batch: [`Wal::sync`] under
    /// [`SyncMode::Always`]; under the other modes it only reports a failed log.
    pub fn commit(&self, lsn: Lsn) -> Result<()> {
        match self.shared.opts.sync {
            SyncMode::Always => self.shared.sync(lsn),
            _ => self.shared.check_not_failed(),
        }
    }

    /// Makes everything appended so far durable.
    pub fn flush(&self) -> Result<()> {
        let lsn = self.shared.last_lsn()?;
        self.shared.sync(lsn)
    }

    /// Stops the periodic sync thread, makes everything appended durable and refuses
    /// further appends ([`Error::Closed`]). Idempotent. Returns the error of the final
    /// fsync, or [`Error::WalFailed`] if the log failed with data not yet durable.
    pub fn close(&self) -> Result<()> {
        self.stop_background();
        let r = self.flush();
        let mut inner = self.shared.lock_inner()?;
        inner.closed = true;
        r
    }

    /// Starts a new log file now and returns its number. Before a checkpoint the head cuts
    /// a log file so that everything written so far is in log files it can checkpoint.
    pub fn cut_file(&self) -> Result<u32> {
        let mut inner = self.shared.lock_inner()?;
        inner.check_writable()?;
        if let Err(e) = self.shared.rotate(&mut inner) {
            return Err(self.shared.fail(&mut inner, e));
        }
        inner.written = Lsn {
            file: inner.file.index,
            offset: inner.file.len,
        };
        Ok(inner.file.index)
    }

    /// The log file numbers on disk, ascending (the one being written is the last).
    pub fn files(&self) -> Result<Vec<u32>> {
        Ok(list(&*self.shared.fs, &self.shared.dir)?.files)
    }

    /// The log file being written.
    pub fn current_file(&self) -> Result<u32> {
        Ok(self.shared.lock_inner()?.file.index)
    }

    /// The position after the last record appended.
    pub fn last_lsn(&self) -> Result<Lsn> {
        self.shared.last_lsn()
    }

    /// Everything before this position is durable.
    pub fn synced_lsn(&self) -> Result<Lsn> {
        Ok(self.shared.lock_sync()?.synced)
    }

    /// True once a write or fsync failed; reopen the log to continue.
    pub fn is_failed(&self) -> bool {
        self.shared.check_not_failed().is_err()
    }

    /// The directory the log lives in.
    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    /// Rewrites log files up to and including `up_to_file` (and the previous
    /// checkpoint) into the checkpoint `checkpoint.<up_to_file>`, keeping
    ///
    /// - series records for which `keep_series(ref)` is true,
    /// - samples with `keep_series(ref)` and `t >= min_time`,
    ///
    /// then deletes those log files and older checkpoints. The checkpoint is written to a
    /// temporary directory, fsynced, renamed into place and the directory fsynced, so a
    /// crash at any step leaves either the old state or the new one for replay (steps in
    /// `FORMAT-wal.md`, "Checkpoints"). `up_to_file` must be below the log file being
    /// written: call [`Wal::cut_file`] first. Appends continue meanwhile.
    ///
    /// An error after the rename (removing old files) leaves a valid checkpoint; the
    /// leftovers are removed by the next checkpoint or open.
    pub fn checkpoint(
        &self,
        up_to_file: u32,
        keep_series: impl Fn(u64) -> bool,
        min_time: i64,
    ) -> Result<CheckpointStats> {
        self.checkpoint_keeping(up_to_file, keep_series, |t, _| t >= min_time)
    }

    /// [`Wal::checkpoint`] with the sample rule given as a function of the sample's time
    /// and where it was logged (as [`Wal::open_with_positions`] reports positions): the
    /// database keeps samples that are not yet in segments, which are either recent or
    /// logged after the last persist began.
    pub fn checkpoint_keeping(
        &self,
        up_to_file: u32,
        keep_series: impl Fn(u64) -> bool,
        keep_sample: impl Fn(i64, Lsn) -> bool,
    ) -> Result<CheckpointStats> {
        let _one_at_a_time = self.shared.checkpoint_lock.lock();
        let current = {
            let inner = self.shared.lock_inner()?;
            inner.check_writable()?;
            inner.file.index
        };
        if up_to_file >= current {
            return Err(Error::invalid_argument(format!(
                "cannot checkpoint up to log file {}: log file {} is still being written \
                 (cut a log file first)",
                file_name(up_to_file),
                file_name(current)
            )));
        }
        let s = &self.shared;
        checkpoint::run(
            &*s.fs,
            &s.dir,
            s.opts.file_size,
            up_to_file,
            &keep_series,
            &keep_sample,
        )
    }

    /// Reports every group-commit fsync's duration to `observer` from now on. Only the
    /// first call takes effect.
    pub fn set_observer(&self, observer: Arc<dyn Observer>) {
        let _ = self.shared.observer.set(observer);
    }

    /// Sizes and counters; lists the directory, so it costs a few system calls.
    pub fn stats(&self) -> Result<WalStats> {
        let s = &self.shared;
        let (bytes_on_disk, files, checkpoint) = checkpoint::disk_usage(&*s.fs, &s.dir)?;
        let (last_lsn, failed) = {
            let inner = s.lock_inner()?;
            (inner.written, inner.failed.is_some())
        };
        Ok(WalStats {
            bytes_on_disk,
            files,
            checkpoint,
            last_lsn,
            synced_lsn: s.lock_sync()?.synced,
            fsyncs: s.fsyncs.load(Ordering::Relaxed),
            dir_syncs: s.dir_syncs.load(Ordering::Relaxed),
            failed,
        })
    }

    fn stop_background(&self) {
        let handle = self.bg.lock().take();
        if let Some(h) = handle {
            *self.shared.stop.lock() = true;
            self.shared.stop_cv.notify_all();
            // A panic in the sync thread has already marked nothing; the log state is
            // unaffected, so there is nothing more to do with it here.
            let _ = h.join();
        }
    }
}

impl Drop for Wal {
    /// Best effort: stops the sync thread and flushes. Call [`Wal::close`] to see errors.
    fn drop(&mut self) {
        let _ = self.close();
    }
}

/// The periodic sync thread: fsyncs whatever was written every `every` until stopped or
/// until the log fails.
fn periodic_sync(s: &Shared, every: Duration) {
    loop {
        let mut stop = s.stop.lock();
        let deadline = std::time::Instant::now() + every;
        while !*stop && !s.stop_cv.wait_until(&mut stop, deadline).timed_out() {}
        if *stop {
            return;
        }
        drop(stop);
        let Ok(lsn) = s.last_lsn() else { return };
        if s.sync(lsn).is_err() {
            // The log is failed; writers see it on their next call.
            return;
        }
    }
}

impl Inner {
    fn check_writable(&self) -> Result<()> {
        if let Some(cause) = &self.failed {
            return Err(Error::WalFailed {
                cause: Arc::clone(cause),
            });
        }
        if self.closed {
            return Err(Error::Closed);
        }
        Ok(())
    }
}

/// Resets `syncing` when a sync leader finishes, even by panicking, so waiters never
/// wait for a leader that is gone.
struct LeaderGuard<'a>(&'a Shared);

impl Drop for LeaderGuard<'_> {
    fn drop(&mut self) {
        let mut st = self.0.sync.lock();
        st.syncing = false;
        drop(st);
        self.0.sync_cv.notify_all();
    }
}

impl Shared {
    fn lock_inner(&self) -> Result<MutexGuard<'_, Inner>> {
        Ok(self.inner.lock())
    }

    fn lock_sync(&self) -> Result<MutexGuard<'_, SyncState>> {
        Ok(self.sync.lock())
    }

    fn last_lsn(&self) -> Result<Lsn> {
        Ok(self.lock_inner()?.written)
    }

    fn check_not_failed(&self) -> Result<()> {
        match &self.lock_sync()?.failed {
            Some(cause) => Err(Error::WalFailed {
                cause: Arc::clone(cause),
            }),
            None => Ok(()),
        }
    }

    /// Puts the log into the failed state (keeping the first cause) and wakes every sync
    /// waiter. Returns the error to give the caller.
    fn fail(&self, inner: &mut Inner, e: Error) -> Error {
        let cause = match &inner.failed {
            Some(c) => Arc::clone(c),
            None => {
                let c = Arc::new(e);
                inner.failed = Some(Arc::clone(&c));
                c
            }
        };
        let mut st = self.sync.lock();
        if st.failed.is_none() {
            st.failed = Some(Arc::clone(&cause));
        }
        drop(st);
        self.sync_cv.notify_all();
        Error::WalFailed { cause }
    }

    fn fail_unlocked(&self, e: Error) -> Error {
        let mut inner = self.inner.lock();
        self.fail(&mut inner, e)
    }

    fn append(&self, records: &[Record]) -> Result<Lsn> {
        let mut buf = Vec::new();
        let mut ends = Vec::with_capacity(records.len());
        for r in records {
            r.encode_frame(&mut buf)?;
            ends.push(buf.len());
        }
        let mut inner = self.lock_inner()?;
        inner.check_writable()?;
        if let Err(e) = self.write_frames(&mut inner, &buf, &ends) {
            return Err(self.fail(&mut inner, e));
        }
        Ok(inner.written)
    }

    /// Writes the frames of `buf` (frame `i` ends at `ends[i]`), rotating as needed.
    fn write_frames(&self, inner: &mut Inner, buf: &[u8], ends: &[usize]) -> Result<()> {
        if ends.is_empty() {
            return Ok(());
        }
        let max = self.opts.file_size;
        let (mut run_start, mut prev_end) = (0usize, 0usize);
        let mut planned = inner.file.len;
        for &end in ends {
            let frame_len = (end - prev_end) as u64;
            if planned > FILE_HEADER_LEN && planned.saturating_add(frame_len) > max {
                if let Some(run) = buf.get(run_start..prev_end).filter(|r| !r.is_empty()) {
                    inner.file.write(run)?;
                }
                run_start = prev_end;
                self.rotate(inner)?;
                planned = inner.file.len;
            }
            planned += frame_len;
            prev_end = end;
        }
        if let Some(run) = buf.get(run_start..).filter(|r| !r.is_empty()) {
            inner.file.write(run)?;
        }
        inner.written = Lsn {
            file: inner.file.index,
            offset: inner.file.len,
        };
        Ok(())
    }

    /// Closes the current log file (its fsync is left to the next sync leader) and starts
    /// the next one.
    fn rotate(&self, inner: &mut Inner) -> Result<()> {
        let next = inner
            .file
            .index
            .checked_add(1)
            .ok_or_else(|| Error::Invariant {
                reason: "WAL file numbers exhausted (2^32 files)".into(),
            })?;
        let new = LogFile::create(&*self.fs, &self.dir, next)?;
        let old = mem::replace(&mut inner.file, new);
        inner.pending.push(old);
        inner.dir_dirty = true;
        if inner.pending.len() > MAX_PENDING {
            let oldest = inner.pending.remove(0);
            oldest.sync()?;
            self.fsyncs.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }

    fn sync(&self, lsn: Lsn) -> Result<()> {
        let written = self.last_lsn()?;
        if lsn > written {
            return Err(Error::invalid_argument(format!(
                "cannot sync to {lsn}: the log ends at {written}"
            )));
        }
        let mut st = self.lock_sync()?;
        loop {
            if st.synced >= lsn {
                return Ok(());
            }
            if let Some(cause) = &st.failed {
                return Err(Error::WalFailed {
                    cause: Arc::clone(cause),
                });
            }
            if st.syncing {
                self.sync_cv.wait(&mut st);
                continue;
            }
            // Lead: fsync everything written so far, for every waiter.
            st.syncing = true;
            drop(st);
            let guard = LeaderGuard(self);
            match self.sync_round() {
                Ok(target) => {
                    let mut st = self.lock_sync()?;
                    if target > st.synced {
                        st.synced = target;
                    }
                }
                Err(e) => {
                    let err = self.fail_unlocked(e);
                    drop(guard);
                    return Err(err);
                }
            }
            drop(guard);
            st = self.lock_sync()?;
        }
    }

    /// One group-commit fsync: the rotated-out log files, the directory if a log file was
    /// created, then the current log file. Returns the position it made durable.
    fn sync_round(&self) -> Result<Lsn> {
        let (pending, cur, target, dir_dirty) = {
            let mut inner = self.lock_inner()?;
            (
                mem::take(&mut inner.pending),
                inner.file.clone(),
                inner.written,
                mem::replace(&mut inner.dir_dirty, false),
            )
        };
        for file in &pending {
            self.fsyncs.fetch_add(1, Ordering::Relaxed);
            file.sync()?;
        }
        if dir_dirty {
            self.dir_syncs.fetch_add(1, Ordering::Relaxed);
            self.fs
                .sync_dir(&self.dir)
                .map_err(io_err(IoOp::SyncDir, &self.dir))?;
        }
        self.fsyncs.fetch_add(1, Ordering::Relaxed);
        let started = std::time::Instant::now();
        cur.sync()?;
        if let Some(o) = self.observer.get() {
            o.wal_fsync(started.elapsed());
        }
        Ok(target)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wal::RefSample;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn wal_is_send_and_sync() {
        assert_send_sync::<Wal>();
    }

    #[test]
    fn sync_beyond_the_end_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (wal, _) = Wal::open(dir.path(), WalOptions::default(), |_| Ok(())).unwrap();
        let lsn = wal.last_lsn().unwrap();
        wal.sync(lsn).unwrap();
        let beyond = Lsn {
            file: lsn.file,
            offset: lsn.offset + 1,
        };
        assert!(matches!(
            wal.sync(beyond),
            Err(Error::InvalidArgument { .. })
        ));
    }

    #[test]
    fn closed_log_refuses_appends() {
        let dir = tempfile::tempdir().unwrap();
        let (wal, _) = Wal::open(dir.path(), WalOptions::default(), |_| Ok(())).unwrap();
        wal.append(&[Record::Samples(vec![RefSample {
            series_ref: 1,
            t: 1,
            v: 1.0,
        }])])
        .unwrap();
        wal.close().unwrap();
        wal.close().unwrap();
        assert!(matches!(
            wal.append(&[Record::Samples(vec![])]),
            Err(Error::Closed)
        ));
    }

    #[test]
    fn bad_options_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let small = WalOptions {
            file_size: 10,
            ..WalOptions::default()
        };
        assert!(Wal::open(dir.path(), small, |_| Ok(())).is_err());
        let zero = WalOptions {
            sync: SyncMode::Periodic(Duration::ZERO),
            ..WalOptions::default()
        };
        assert!(Wal::open(dir.path(), zero, |_| Ok(())).is_err());
    }

    #[test]
    fn periodic_mode_syncs_in_the_background_and_stops_on_close() {
        let dir = tempfile::tempdir().unwrap();
        let opts = WalOptions {
            sync: SyncMode::Periodic(Duration::from_millis(5)),
            ..WalOptions::default()
        };
        let (wal, _) = Wal::open(dir.path(), opts, |_| Ok(())).unwrap();
        let lsn = wal
            .append(&[Record::Samples(vec![RefSample {
                series_ref: 1,
                t: 1,
                v: 1.0,
            }])])
            .unwrap();
        wal.commit(lsn).unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while wal.synced_lsn().unwrap() < lsn {
            assert!(std::time::Instant::now() < deadline, "no background sync");
            std::thread::sleep(Duration::from_millis(2));
        }
        wal.close().unwrap();
        assert!(wal.bg.lock().is_none(), "thread joined");
    }
}
