//! Replay on open: clean up what an interrupted checkpoint left, then read the latest
//! checkpoint and every later log file in order, cutting a torn tail and refusing (or, if
//! asked, dropping) anything else that is damaged. The rules are in `FORMAT-wal.md`,
//! "Recovery".

use std::borrow::Cow;
use std::io;
use std::path::{Path, PathBuf};

use super::file::{checkpoint_name, file_name, list, Source};
use super::framing::{file_header, HeaderCheck, FILE_HEADER_LEN};
use super::reader::{count_frames, Scanner, Step};
use super::record::Record;
use super::{Lsn, RecoveryMode};
use crate::error::{io_err, Error, IoOp, Result};
use crate::fs::Fs;

/// What [`Wal::open`](super::Wal::open) found and did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// The checkpoint replay started from, if any.
    pub checkpoint: Option<u32>,
    /// Log files read (checkpoint files not included).
    pub files: usize,
    /// Records handed to the replay callback.
    pub records: u64,
    /// The torn tail that was cut off the last log file, if there was one.
    pub torn_tail: Option<TornTail>,
    /// What [`RecoveryMode::TruncateCorrupt`] dropped, if anything.
    pub dropped: Option<DroppedData>,
    /// Leftover temporary checkpoint directories removed (a checkpoint interrupted before
    /// its rename).
    pub removed_tmp_checkpoints: usize,
    /// Log files and checkpoints already covered by the latest checkpoint that were still
    /// on disk (a checkpoint interrupted after its rename) and were removed.
    pub removed_stale: usize,
}

/// A torn tail cut off during recovery: the remains of a write a crash interrupted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TornTail {
    /// The log file.
    pub path: PathBuf,
    /// Where it was cut (the start of the torn record); 0 if the whole file was a torn
    /// creation and was removed.
    pub offset: u64,
    /// Bytes removed.
    pub bytes: u64,
    /// What was wrong with the torn record.
    pub reason: String,
}

/// What [`RecoveryMode::TruncateCorrupt`] dropped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DroppedData {
    /// The file where the first damage was found.
    pub path: PathBuf,
    /// The byte offset of the damage.
    pub offset: u64,
    /// What was wrong.
    pub reason: String,
    /// Bytes dropped, in that file and all later ones.
    pub bytes: u64,
    /// Records dropped that could still be framed with a valid checksum. A lower bound:
    /// records behind further damage in the same file cannot be counted.
    pub records: u64,
    /// Later files removed entirely.
    pub files_removed: usize,
}

/// The result of recovery: the report, and the number the next log file must take.
pub(crate) struct Recovered {
    pub report: RecoveryReport,
    pub next_file: u32,
}

/// One file of the logical log, in replay order.
struct ReplayFile {
    path: PathBuf,
    /// `Some(n)` for log file `n`; `None` for a checkpoint file.
    file: Option<u32>,
    /// The log file number a record of this file was logged in (for a checkpoint
    /// file, the checkpoint's number: its records come from log files up to it).
    logged_in: u32,
    /// A torn tail is allowed here: the last log file holding records, and the
    /// record-less log files after it (see [`recover`], step 3).
    tail: bool,
}

/// Damage found while reading file `index` of the list.
struct Damage {
    index: usize,
    /// Where to cut that file: `Some(offset)` truncates there (a header-or-less cut resets
    /// the file to a bare header), `None` removes the file.
    cut: Option<u64>,
    path: PathBuf,
    offset: u64,
    reason: Cow<'static, str>,
}

pub(crate) fn recover(
    fs: &dyn Fs,
    dir: &Path,
    mode: RecoveryMode,
    replay: &mut dyn FnMut(Record, Lsn) -> Result<()>,
) -> Result<Recovered> {
    if fs.list_dir(dir).is_err() {
        // A new log: its directory entry must survive a crash too.
        fs.create_dir_all(dir)
            .map_err(io_err(IoOp::CreateDir, dir))?;
        if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
            fs.sync_dir(parent).map_err(io_err(IoOp::SyncDir, parent))?;
        }
    }
    let listing = list(fs, dir)?;
    let mut report = RecoveryReport::default();
    let mut dir_dirty = false;

    // 1. Temporary checkpoints are incomplete by definition.
    for name in &listing.tmp {
        let p = dir.join(name);
        remove_any(fs, &p)?;
        report.removed_tmp_checkpoints += 1;
        dir_dirty = true;
    }

    // 2. The latest checkpoint is complete (it was renamed into place after an fsync);
    //    anything it covers is stale.
    let cp = listing.checkpoints.last().copied();
    report.checkpoint = cp;
    if let Some(cp) = cp {
        for &old in listing.checkpoints.iter().filter(|&&c| c < cp) {
            let p = dir.join(checkpoint_name(old));
            fs.remove_dir_all(&p).map_err(io_err(IoOp::Remove, &p))?;
            report.removed_stale += 1;
            dir_dirty = true;
        }
        for &s in listing.files.iter().filter(|&&s| s <= cp) {
            let p = dir.join(file_name(s));
            fs.remove_file(&p).map_err(io_err(IoOp::Remove, &p))?;
            report.removed_stale += 1;
            dir_dirty = true;
        }
    }
    if dir_dirty {
        fs.sync_dir(dir).map_err(io_err(IoOp::SyncDir, dir))?;
    }

    // 3. The logical log: checkpoint files 0.., then log files cp+1.. (or from the
    //    first one present). A hole ends the readable part.
    let mut files = Vec::new();
    let mut after_gap: Vec<PathBuf> = Vec::new();
    let mut gap: Option<(PathBuf, String)> = None;
    if let Some(cp) = cp {
        let cpdir = dir.join(checkpoint_name(cp));
        let cl = list(fs, &cpdir)?;
        let mut expect = 0u32;
        for &s in &cl.files {
            let path = cpdir.join(file_name(s));
            if gap.is_none() && s != expect {
                gap = Some((
                    cpdir.join(file_name(expect)),
                    format!("checkpoint file {} is missing", file_name(expect)),
                ));
            }
            if gap.is_some() {
                after_gap.push(path);
            } else {
                files.push(ReplayFile {
                    path,
                    file: None,
                    logged_in: cp,
                    tail: false,
                });
                expect = s.saturating_add(1);
            }
        }
        if cl.files.is_empty() {
            gap = Some((
                cpdir.join(file_name(0)),
                "checkpoint has no log files".into(),
            ));
        }
    }
    let wal_files: Vec<u32> = listing
        .files
        .iter()
        .copied()
        .filter(|&s| cp.is_none_or(|c| s > c))
        .collect();
    let mut expect = match (cp, wal_files.first()) {
        (Some(c), _) => c.saturating_add(1),
        (None, Some(&first)) => first,
        (None, None) => 1,
    };
    for &s in &wal_files {
        let path = dir.join(file_name(s));
        if gap.is_none() && s != expect {
            gap = Some((
                dir.join(file_name(expect)),
                format!(
                    "log file {} is missing (the log continues at {})",
                    file_name(expect),
                    file_name(s)
                ),
            ));
        }
        if gap.is_some() {
            after_gap.push(path);
        } else {
            files.push(ReplayFile {
                path,
                file: Some(s),
                logged_in: s,
                tail: false,
            });
            expect = s.saturating_add(1);
        }
    }
    if let Some((path, reason)) = &gap {
        if mode == RecoveryMode::Strict {
            return Err(Error::corruption(path, 0, reason.clone()));
        }
    } else {
        // A crash can tear the tail of the last log file that holds records even when
        // emptier log files follow it: a rotation (or a reopen) creates the next log file
        // before anything in it is synced, and nothing in a log file is acknowledged until
        // every log file before it is synced. So the torn-tail allowance covers the last
        // log file with records and the record-less ones (header or less) after it.
        let mut i = files.len();
        while let Some(prev) = i.checked_sub(1) {
            let Some(f) = files.get_mut(prev) else { break };
            if f.file.is_none() {
                break;
            }
            f.tail = true;
            i = prev;
            let len = fs.file_len(&f.path).map_err(io_err(IoOp::Stat, &f.path))?;
            if len > FILE_HEADER_LEN {
                break;
            }
        }
    }

    // 4. Replay.
    let mut damage = None;
    for (index, f) in files.iter().enumerate() {
        if f.file.is_some() {
            report.files += 1;
        }
        match replay_file(fs, f, index, &mut report, replay)? {
            ReplayEnd::Clean => {}
            ReplayEnd::Damage(d) => {
                damage = Some(d);
                break;
            }
            ReplayEnd::TornHeader { len } => {
                // This log file's creation was torn, so it and any log file after it hold
                // no records (they are all in the tail): remove them all.
                let rest = files.get(index..).unwrap_or_default();
                for g in rest {
                    fs.remove_file(&g.path)
                        .map_err(io_err(IoOp::Remove, &g.path))?;
                }
                fs.sync_dir(dir).map_err(io_err(IoOp::SyncDir, dir))?;
                report.torn_tail = Some(TornTail {
                    path: f.path.clone(),
                    offset: 0,
                    bytes: len,
                    reason: "torn log file header".into(),
                });
                break;
            }
        }
    }

    // 5. Damage: refuse, or drop from it on.
    if let Some(d) = &damage {
        if mode == RecoveryMode::Strict {
            return Err(Error::corruption(&d.path, d.offset, d.reason.clone()));
        }
    }
    let first_dropped = damage.as_ref().map_or(files.len(), |d| d.index + 1);
    let mut remove: Vec<&Path> = files
        .get(first_dropped..)
        .unwrap_or_default()
        .iter()
        .map(|f| f.path.as_path())
        .collect();
    remove.extend(after_gap.iter().map(PathBuf::as_path));
    let first = damage
        .as_ref()
        .map(|d| (d.path.clone(), d.offset, d.reason.to_string()))
        .or_else(|| gap.as_ref().map(|(p, r)| (p.clone(), 0, r.clone())));
    if let Some((path, offset, reason)) = first {
        let mut dropped = DroppedData {
            path,
            offset,
            reason,
            bytes: 0,
            records: 0,
            files_removed: 0,
        };
        if let Some(d) = &damage {
            cut_file(fs, d, &mut dropped)?;
        }
        for p in remove {
            let (bytes, records) = measure(fs, p, FILE_HEADER_LEN)?;
            fs.remove_file(p).map_err(io_err(IoOp::Remove, p))?;
            dropped.bytes += bytes;
            dropped.records += records;
            dropped.files_removed += 1;
        }
        sync_parents(fs, dir, cp)?;
        report.dropped = Some(dropped);
    }

    // 6. The next log file follows the last surviving one.
    let last_wal = list(fs, dir)?.files.last().copied();
    let next = match (last_wal, cp) {
        (Some(s), c) => s.max(c.unwrap_or(0)),
        (None, Some(c)) => c,
        (None, None) => 0,
    }
    .checked_add(1)
    .ok_or_else(|| Error::Invariant {
        reason: "WAL file numbers exhausted (2^32 files)".into(),
    })?;
    Ok(Recovered {
        report,
        next_file: next,
    })
}

/// Where a replayed record was logged, as an [`Lsn`] comparable with the positions
/// [`crate::wal::Wal::append`] returns: its start in its log file, or, for a record
/// folded into a checkpoint, the end of the checkpoint's last log file (it was logged at
/// or before that).
fn record_position(f: &ReplayFile, offset: u64) -> Lsn {
    match f.file {
        Some(file) => Lsn { file, offset },
        None => Lsn {
            file: f.logged_in,
            offset: u64::MAX,
        },
    }
}

/// How replaying one file ended.
enum ReplayEnd {
    /// Every record read (a torn tail, if any, was cut).
    Clean,
    /// Damage that is not a torn tail.
    Damage(Damage),
    /// The file's header is torn: its creation was interrupted. `len` bytes.
    TornHeader { len: u64 },
}

/// Replays one file.
fn replay_file(
    fs: &dyn Fs,
    f: &ReplayFile,
    index: usize,
    report: &mut RecoveryReport,
    replay: &mut dyn FnMut(Record, Lsn) -> Result<()>,
) -> Result<ReplayEnd> {
    let path = &f.path;
    let file = fs.open_read(path).map_err(io_err(IoOp::Open, path))?;
    let len = file.len().map_err(io_err(IoOp::Stat, path))?;
    let read_err = io_err(IoOp::Read, path);
    let mut sc = Scanner::new(Source::File(&*file), len, f.tail);
    let damage = |cut: Option<u64>, offset: u64, reason: Cow<'static, str>| {
        Ok(ReplayEnd::Damage(Damage {
            index,
            cut,
            path: path.clone(),
            offset,
            reason,
        }))
    };
    match sc.header().map_err(read_err)? {
        HeaderCheck::Valid => {}
        HeaderCheck::Torn => return Ok(ReplayEnd::TornHeader { len }),
        HeaderCheck::UnsupportedVersion(v) => {
            return Err(Error::UnsupportedFormat {
                path: path.clone(),
                what: "WAL format version",
                found: u64::from(v),
            })
        }
        HeaderCheck::Invalid(reason) => return damage(Some(0), 0, reason.into()),
    }
    loop {
        match sc.next_step().map_err(io_err(IoOp::Read, path))? {
            Step::Record { record, offset } => {
                report.records += 1;
                replay(record, record_position(f, offset))?;
            }
            Step::End => return Ok(ReplayEnd::Clean),
            Step::Torn { offset, reason } => {
                drop(file);
                fs.truncate(path, offset)
                    .map_err(io_err(IoOp::Truncate, path))?;
                report.torn_tail = Some(TornTail {
                    path: path.clone(),
                    offset,
                    bytes: len - offset,
                    reason,
                });
                return Ok(ReplayEnd::Clean);
            }
            Step::Corrupt {
                record_offset,
                offset,
                reason,
            } => return damage(Some(record_offset), offset, reason),
        }
    }
}

/// Cuts the damaged file at the damaged record (TruncateCorrupt).
fn cut_file(fs: &dyn Fs, d: &Damage, dropped: &mut DroppedData) -> Result<()> {
    let p = &d.path;
    match d.cut {
        Some(at) if at > FILE_HEADER_LEN => {
            let (bytes, records) = measure(fs, p, at)?;
            fs.truncate(p, at).map_err(io_err(IoOp::Truncate, p))?;
            dropped.bytes += bytes;
            dropped.records += records;
        }
        Some(_) => {
            // Damage at or in the header: keep the file as a bare header, so the numbering
            // of the files around it stays contiguous.
            let (bytes, records) = measure(fs, p, FILE_HEADER_LEN)?;
            fs.remove_file(p).map_err(io_err(IoOp::Remove, p))?;
            let f = fs.create_new(p).map_err(io_err(IoOp::Create, p))?;
            f.write_all(&file_header())
                .map_err(io_err(IoOp::Write, p))?;
            f.sync_data().map_err(io_err(IoOp::Sync, p))?;
            dropped.bytes += bytes;
            dropped.records += records;
        }
        None => {
            let (bytes, records) = measure(fs, p, FILE_HEADER_LEN)?;
            fs.remove_file(p).map_err(io_err(IoOp::Remove, p))?;
            dropped.bytes += bytes;
            dropped.records += records;
            dropped.files_removed += 1;
        }
    }
    Ok(())
}

/// Bytes from `from` to the end of `path`, and the records with a valid CRC among them.
fn measure(fs: &dyn Fs, path: &Path, from: u64) -> Result<(u64, u64)> {
    let file = fs.open_read(path).map_err(io_err(IoOp::Open, path))?;
    let len = file.len().map_err(io_err(IoOp::Stat, path))?;
    let from = from.min(len);
    let records =
        count_frames(Source::File(&*file), len, from).map_err(io_err(IoOp::Read, path))?;
    Ok((len - from, records))
}

/// Makes removals durable in the WAL directory and the checkpoint directory.
fn sync_parents(fs: &dyn Fs, dir: &Path, cp: Option<u32>) -> Result<()> {
    if let Some(cp) = cp {
        let cpdir = dir.join(checkpoint_name(cp));
        fs.sync_dir(&cpdir).map_err(io_err(IoOp::SyncDir, &cpdir))?;
    }
    fs.sync_dir(dir).map_err(io_err(IoOp::SyncDir, dir))
}

/// Removes a leftover temporary checkpoint, whether a directory or (oddly) a file.
fn remove_any(fs: &dyn Fs, p: &Path) -> Result<()> {
    match fs.remove_dir_all(p) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(_) => fs.remove_file(p).map_err(io_err(IoOp::Remove, p)),
    }
}
