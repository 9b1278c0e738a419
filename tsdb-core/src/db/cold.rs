//! The cold tier: segments older than [`Options::cold_after_ms`] move to a second
//! directory, [`Options::cold_dir`] (a cheaper disk, an NFS mount), and are read from
//! there as any other segment.
//!
//! # Layout
//!
//! The cold directory holds `segments/NNNNNNNN/` (the same numbers and files as the data
//! directory's `segments/`) and a `LOCK` file, locked while a process has the database
//! open for writing, so that two databases configured with the same cold directory
//! cannot remove each other's segments as leftovers. The manifest records which listed
//! segments are cold (`Manifest::cold`, a tier byte per entry in manifest version 2).
//!
//! # A move (one segment at a time, under the persist lock)
//!
//! 1. Copy each of the segment's files through [`Fs`] into
//!    `cold_dir/segments/NNNNNNNN.tmp/` (streamed, bounded memory), fsync each file and
//!    the directory; rename it to `NNNNNNNN/`, fsync `cold_dir/segments/`.
//! 2. Open the copy (its `meta`, `series` and `index` are checked whole, as on open) and
//!    check its `meta` equals the hot one's.
//! 3. Commit `MANIFEST` with the segment marked cold (`swap_segments`: the same entry, at
//!    the same place, so reading order is unchanged).
//! 4. Publish the segment opened from the cold copy to new queriers.
//! 5. Remove the hot directory once no querier that started before step 4 lives (the
//!    deferred removal compaction uses; no fsync: a removal lost to a crash leaves an
//!    unlisted directory, removed on open).
//!
//! A crash before step 3 leaves the hot copy listed and an unlisted cold directory (or
//! `.tmp`), removed on open; after it, the cold copy listed and the hot directory
//! unlisted, removed on open. Opening removes a hot directory only once the cold copy
//! the manifest lists has opened; if that copy is missing or damaged while the hot one is
//! whole (a commit that failed after its rename, then a retry that removed the stale
//! copy), the hot copy is read and listed hot again, so a listed segment always has one
//! readable copy.
//!
//! # Open
//!
//! A missing or unreadable cold directory fails the open with
//! [`Error::ColdDirUnavailable`] (so does a missing `segments/` in it while the manifest
//! lists cold segments); a manifest listing cold segments opened without a cold
//! directory fails with [`Error::ColdTierNotConfigured`]: neither silently serves the
//! database without its cold data.
//!
//! # With the other steps
//!
//! Retention deletes cold segments in place (their directory is the one queued for
//! removal). Compaction and downsampling read cold parents like hot ones and always
//! write their result to the data directory; a result old enough moves to the cold tier
//! at the next move. Moves run last in a maintenance pass, after retention, so nothing
//! about to be deleted is copied.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::compact::seq_of;
use super::persist::segment_name;
use super::{Db, Inner, PersistState, SEGMENTS_DIR};
use crate::error::{io_err, Error, IoOp, Result};
use crate::fs::{read_exact_at, Fs, FsLock};
use crate::options::Options;
use crate::segment::write::TMP_SUFFIX;
use crate::segment::{Segment, CHUNKS_FILE, INDEX_FILE, META_FILE, SERIES_FILE};

/// The files of a segment directory, all copied by a move.
const SEGMENT_FILES: [&str; 4] = [CHUNKS_FILE, SERIES_FILE, INDEX_FILE, META_FILE];
/// Bytes copied per read and write call.
const COPY_BUFFER: u64 = 1 << 20;

/// Where a segment lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StorageTier {
    /// In the data directory's `segments/`.
    Hot,
    /// In `segments/` of [`Options::cold_dir`].
    Cold,
}

/// What [`Db::move_cold`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ColdStats {
    /// Segments moved to the cold tier.
    pub moved: usize,
    /// Their bytes.
    pub bytes: u64,
    /// Time spent.
    pub duration: Duration,
}

/// `segments/` of cold directory `cold`.
pub(crate) fn cold_segments_dir(cold: &Path) -> PathBuf {
    cold.join(SEGMENTS_DIR)
}

/// Checks the cold-tier options: both or neither, a non-negative age, and a cold
/// directory that is not the data directory itself.
pub(crate) fn validate(options: &Options, dir: &Path) -> Result<()> {
    match (&options.cold_dir, options.cold_after_ms) {
        (None, None) => Ok(()),
        (Some(_), None) | (None, Some(_)) => Err(Error::invalid_argument(
            "cold_dir and cold_after_ms must be set together",
        )),
        (Some(_), Some(age)) if age < 0 => Err(Error::invalid_argument(
            "cold_after_ms must not be negative",
        )),
        (Some(cold), Some(_)) if cold == dir => Err(Error::invalid_argument(format!(
            "cold_dir {} is the data directory",
            cold.display()
        ))),
        (Some(_), Some(_)) => Ok(()),
    }
}

/// Checks that cold directory `cold` is there and readable.
pub(crate) fn check_exists(fs: &dyn Fs, cold: &Path) -> Result<()> {
    fs.list_dir(cold)
        .map(|_| ())
        .map_err(|source| Error::ColdDirUnavailable {
            path: cold.to_path_buf(),
            source,
        })
}

/// Takes the cold directory's `LOCK` (after checking it exists).
pub(crate) fn lock(fs: &dyn Fs, cold: &Path) -> Result<FsLock> {
    check_exists(fs, cold)?;
    let path = cold.join(super::LOCK_FILE);
    fs.lock(&path).map_err(|e| match e.kind() {
        std::io::ErrorKind::WouldBlock => Error::Locked { path: path.clone() },
        _ => Error::io(IoOp::Open, &path, e),
    })
}

/// Copies `from` to the new file `to` through `fs` in pieces, and fsyncs it.
fn copy_file(fs: &dyn Fs, from: &Path, to: &Path) -> Result<()> {
    let src = fs.open_read(from).map_err(io_err(IoOp::Open, from))?;
    let len = src.len().map_err(io_err(IoOp::Stat, from))?;
    let dst = fs.create_new(to).map_err(io_err(IoOp::Create, to))?;
    let mut buf = vec![0u8; usize::try_from(len.min(COPY_BUFFER)).unwrap_or(0)];
    let mut offset = 0u64;
    while offset < len {
        let n = usize::try_from((len - offset).min(COPY_BUFFER)).unwrap_or(0);
        let piece = buf
            .get_mut(..n)
            .ok_or_else(|| Error::invariant("copy buffer shorter than a piece"))?;
        read_exact_at(&*src, piece, offset).map_err(io_err(IoOp::Read, from))?;
        dst.write_all(piece).map_err(io_err(IoOp::Write, to))?;
        offset += n as u64;
    }
    dst.sync_data().map_err(io_err(IoOp::Sync, to))
}

/// Removes directory `d` if it exists.
fn remove_if_there(fs: &dyn Fs, d: &Path) -> Result<()> {
    if fs.list_dir(d).is_ok() {
        fs.remove_dir_all(d).map_err(io_err(IoOp::Remove, d))?;
    }
    Ok(())
}

impl Db {
    /// Moves every segment whose whole range is older than `now -`
    /// [`Options::cold_after_ms`] to [`Options::cold_dir`] (see the steps in
    /// `FORMAT-segment.md`, "The cold tier"); nothing without a cold tier configured. The
    /// maintenance owner runs it after retention.
    pub fn move_cold(&self) -> Result<ColdStats> {
        self.inner.move_cold()
    }
}

impl Inner {
    pub(crate) fn move_cold(&self) -> Result<ColdStats> {
        if self.wal.is_none() {
            return Err(Error::ReadOnly);
        }
        let (Some(cold), Some(after)) = (&self.options.cold_dir, self.options.cold_after_ms) else {
            return Ok(ColdStats::default());
        };
        let started = Instant::now();
        let mut stats = ColdStats::default();
        let cutoff = self.options.clock.now_ms().saturating_sub(after);
        // a move replaces a segment by its copy: not while a compaction or rollup that
        // read the segment is writing (`compact.rs`, "Locking")
        let _rewrite = self.rewrite.lock();
        // one segment per lock hold, so persists interleave with a long run of moves
        loop {
            let mut p = self.persist.lock();
            self.remove_replaced(&mut p);
            let next = {
                let state = self.state.read();
                state
                    .segments
                    .iter()
                    .filter(|s| {
                        s.meta().max_t <= cutoff
                            && !s.is_corrupt()
                            && seq_of(s).is_some_and(|seq| {
                                !p.manifest.is_cold(seq)
                                    && p.manifest.segments.iter().any(|e| e.seq == seq)
                            })
                    })
                    .min_by_key(|s| (s.meta().max_t, seq_of(s)))
                    .cloned()
            };
            let Some(segment) = next else {
                break;
            };
            stats.bytes += self.move_one(&mut p, &segment, cold)?;
            stats.moved += 1;
        }
        stats.duration = started.elapsed();
        Ok(stats)
    }

    /// Copies `segment` to the cold tier, commits, publishes, and queues the hot
    /// directory for removal; returns its bytes.
    fn move_one(&self, p: &mut PersistState, segment: &Arc<Segment>, cold: &Path) -> Result<u64> {
        let fs = &*self.options.fs;
        let seq = seq_of(segment)
            .ok_or_else(|| Error::invariant("a live segment's directory is not a number"))?;
        let entry = p
            .manifest
            .segments
            .iter()
            .find(|e| e.seq == seq)
            .cloned()
            .ok_or_else(|| Error::invariant(format!("segment {seq} is not in the manifest")))?;
        let cold_segments = cold_segments_dir(cold);
        let name = segment_name(seq);
        let target = cold_segments.join(&name);
        let tmp = cold_segments.join(format!("{name}{TMP_SUFFIX}"));
        // leftovers of an earlier attempt that failed: not listed in the cold tier
        remove_if_there(fs, &tmp)?;
        remove_if_there(fs, &target)?;
        fs.create_dir_all(&tmp)
            .map_err(io_err(IoOp::CreateDir, &tmp))?;
        for file in SEGMENT_FILES {
            copy_file(fs, &segment.dir().join(file), &tmp.join(file))?;
        }
        fs.sync_dir(&tmp).map_err(io_err(IoOp::SyncDir, &tmp))?;
        fs.rename(&tmp, &target)
            .map_err(io_err(IoOp::Rename, &tmp))?;
        fs.sync_dir(&cold_segments)
            .map_err(io_err(IoOp::SyncDir, &cold_segments))?;
        let copy = Segment::open(fs, &target)?;
        if copy.meta() != segment.meta() {
            return Err(Error::corruption(
                &target.join(META_FILE),
                0,
                "the cold copy's meta differs from the segment's",
            ));
        }
        p.manifest.cold.insert(seq);
        let swapped = self.swap_segments(
            p,
            std::slice::from_ref(segment),
            Some((entry, Arc::new(copy))),
        );
        if swapped.is_err() {
            p.manifest.cold.remove(&seq);
        }
        swapped?;
        Ok(segment.bytes_on_disk())
    }

    /// The tier segment `s` was opened from.
    pub(crate) fn tier_of(&self, s: &Segment) -> StorageTier {
        match &self.options.cold_dir {
            Some(cold) if s.dir().parent() == Some(cold_segments_dir(cold).as_path()) => {
                StorageTier::Cold
            }
            _ => StorageTier::Hot,
        }
    }
}
