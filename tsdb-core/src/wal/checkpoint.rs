//! Checkpoints: old log files folded into `checkpoint.N/`, keeping only what the head
//! still needs, so the log does not grow without bound. Modelled on Prometheus
//! `tsdb/wlog/checkpoint.go`; steps and crash cases in `FORMAT-wal.md`, "Checkpoints".

use std::io;
use std::path::{Path, PathBuf};

use super::file::{
    check_contiguous, checkpoint_name, file_name, list, LogFile, Source, TMP_SUFFIX,
};
use super::framing::{HeaderCheck, FILE_HEADER_LEN};
use super::reader::{Scanner, Step};
use super::record::{Record, RefSample};
use super::Lsn;
use crate::error::{io_err, Error, IoOp, Result};
use crate::fs::Fs;

/// What a checkpoint kept and dropped.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CheckpointStats {
    /// The checkpoint written: `checkpoint.<checkpoint>` covers log files up to this one.
    pub checkpoint: u32,
    /// Series records kept.
    pub series_kept: u64,
    /// Series records dropped (`keep_series` was false).
    pub series_dropped: u64,
    /// Samples kept.
    pub samples_kept: u64,
    /// Samples dropped (series dropped, or older than `min_time`).
    pub samples_dropped: u64,
    /// Bytes of the new checkpoint on disk.
    pub bytes_written: u64,
    /// Log files deleted.
    pub files_removed: usize,
    /// Older checkpoints deleted.
    pub checkpoints_removed: usize,
}

/// Flush the checkpoint's write buffer at this size, as Prometheus does.
const FLUSH_AT: usize = 1 << 20;

/// Writes checkpoint `up_to` of the log in `dir` (its log files at most `file_size`
/// bytes). The writer calls this under its checkpoint lock; this module knows nothing
/// of the writer.
pub(super) fn run(
    fs: &dyn Fs,
    dir: &Path,
    file_size: u64,
    up_to: u32,
    keep_series: &dyn Fn(u64) -> bool,
    keep_sample: &dyn Fn(i64, Lsn) -> bool,
) -> Result<CheckpointStats> {
    let listing = list(fs, dir)?;
    let prev = listing.checkpoints.last().copied();
    let mut stats = CheckpointStats {
        checkpoint: up_to,
        ..CheckpointStats::default()
    };
    if let Some(p) = prev {
        if p > up_to {
            return Err(Error::invalid_argument(format!(
                "checkpoint {} already covers log file {}",
                checkpoint_name(p),
                file_name(up_to)
            )));
        }
    }
    // Leftovers of an interrupted checkpoint, before this one creates its own.
    for t in &listing.tmp {
        let p = dir.join(t);
        fs.remove_dir_all(&p).map_err(io_err(IoOp::Remove, &p))?;
    }
    if prev != Some(up_to) {
        // Sources: the previous checkpoint, then the log files after it up to `up_to`.
        let mut sources: Vec<CheckpointSource> = Vec::new();
        if let Some(p) = prev {
            let cpdir = dir.join(checkpoint_name(p));
            let cl = list(fs, &cpdir)?;
            check_contiguous(&cpdir, &cl.files)?;
            sources.extend(cl.files.iter().map(|&n| CheckpointSource {
                path: cpdir.join(file_name(n)),
                file: None,
                logged_in: p,
            }));
        }
        let files: Vec<u32> = listing
            .files
            .iter()
            .copied()
            .filter(|&n| n <= up_to && prev.is_none_or(|p| n > p))
            .collect();
        check_contiguous(dir, &files)?;
        let expected_first = prev.map(|p| p + 1);
        if files.last() != Some(&up_to)
            || (expected_first.is_some() && files.first().copied() != expected_first)
        {
            return Err(Error::invalid_argument(format!(
                "cannot checkpoint up to log file {}: the log files after {} up to it are not all on disk",
                file_name(up_to),
                prev.map_or_else(|| "the start".to_string(), checkpoint_name),
            )));
        }
        sources.extend(files.iter().map(|&n| CheckpointSource {
            path: dir.join(file_name(n)),
            file: Some(n),
            logged_in: n,
        }));

        let tmp = dir.join(format!("{}{TMP_SUFFIX}", checkpoint_name(up_to)));
        let done = dir.join(checkpoint_name(up_to));
        match write_checkpoint(
            fs,
            file_size,
            &sources,
            &tmp,
            keep_series,
            keep_sample,
            &mut stats,
        ) {
            Ok(()) => {}
            Err(e) => {
                // Best effort: the next checkpoint or open removes it anyway.
                let _ = fs.remove_dir_all(&tmp);
                return Err(e);
            }
        }
        if let Err(e) = fs.rename(&tmp, &done) {
            let _ = fs.remove_dir_all(&tmp);
            return Err(Error::io(IoOp::Rename, &tmp, e));
        }
        fs.sync_dir(dir).map_err(io_err(IoOp::SyncDir, dir))?;
    }

    // The checkpoint is durable; what it covers can go.
    for &n in listing.files.iter().filter(|&&n| n <= up_to) {
        let p = dir.join(file_name(n));
        remove_file_if_present(fs, &p)?;
        stats.files_removed += 1;
    }
    for &c in listing.checkpoints.iter().filter(|&&c| c < up_to) {
        let p = dir.join(checkpoint_name(c));
        match fs.remove_dir_all(&p) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(IoOp::Remove, &p, e)),
        }
        stats.checkpoints_removed += 1;
    }
    fs.sync_dir(dir).map_err(io_err(IoOp::SyncDir, dir))?;
    Ok(stats)
}

fn remove_file_if_present(fs: &dyn Fs, p: &Path) -> Result<()> {
    match fs.remove_file(p) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(IoOp::Remove, p, e)),
    }
}

/// Writes the filtered records of `sources` into `tmp` and makes them durable.
fn write_checkpoint(
    fs: &dyn Fs,
    file_size: u64,
    sources: &[CheckpointSource],
    tmp: &Path,
    keep_series: &dyn Fn(u64) -> bool,
    keep_sample: &dyn Fn(i64, Lsn) -> bool,
    stats: &mut CheckpointStats,
) -> Result<()> {
    fs.create_dir_all(tmp)
        .map_err(io_err(IoOp::CreateDir, tmp))?;
    let mut sink = Sink::new(fs, tmp, file_size)?;
    for src in sources {
        for_each_record(fs, &src.path, &mut |rec, offset| {
            let at = src.position(offset);
            if let Some(kept) = filter(rec, keep_series, &|t| keep_sample(t, at), stats) {
                sink.push(&kept)?;
            }
            Ok(())
        })?;
    }
    stats.bytes_written = sink.finish()?;
    fs.sync_dir(tmp).map_err(io_err(IoOp::SyncDir, tmp))
}

/// One file a checkpoint reads.
struct CheckpointSource {
    path: PathBuf,
    /// `Some(n)` for log file `n`, `None` for a file of the previous checkpoint.
    file: Option<u32>,
    /// The log file number its records were logged in (for a checkpoint: its number).
    logged_in: u32,
}

impl CheckpointSource {
    /// Where the record at `offset` was logged (as recovery reports it).
    fn position(&self, offset: u64) -> Lsn {
        match self.file {
            Some(file) => Lsn { file, offset },
            None => Lsn {
                file: self.logged_in,
                offset: u64::MAX,
            },
        }
    }
}

/// Applies the checkpoint's keep rules to one record; `None` if nothing is left.
fn filter(
    rec: Record,
    keep_series: &dyn Fn(u64) -> bool,
    keep_time: &dyn Fn(i64) -> bool,
    stats: &mut CheckpointStats,
) -> Option<Record> {
    match rec {
        Record::Series { series_ref, labels } => {
            if keep_series(series_ref) {
                stats.series_kept += 1;
                Some(Record::Series { series_ref, labels })
            } else {
                stats.series_dropped += 1;
                None
            }
        }
        Record::Samples(v) => {
            let total = v.len() as u64;
            let kept: Vec<RefSample> = v
                .into_iter()
                .filter(|x| keep_time(x.t) && keep_series(x.series_ref))
                .collect();
            stats.samples_kept += kept.len() as u64;
            stats.samples_dropped += total - kept.len() as u64;
            (!kept.is_empty()).then_some(Record::Samples(kept))
        }
    }
}

/// Reads every record of a closed log file; any damage is an error (a checkpoint never
/// repairs: the head would not know which series records were lost).
fn for_each_record(
    fs: &dyn Fs,
    path: &Path,
    f: &mut dyn FnMut(Record, u64) -> Result<()>,
) -> Result<()> {
    let file = fs.open_read(path).map_err(io_err(IoOp::Open, path))?;
    let len = file.len().map_err(io_err(IoOp::Stat, path))?;
    let mut sc = Scanner::new(Source::File(&*file), len, false);
    match sc.header().map_err(io_err(IoOp::Read, path))? {
        HeaderCheck::Valid => {}
        HeaderCheck::UnsupportedVersion(v) => {
            return Err(Error::UnsupportedFormat {
                path: path.to_path_buf(),
                what: "WAL format version",
                found: u64::from(v),
            })
        }
        HeaderCheck::Torn => return Err(Error::corruption(path, 0, "torn log file header")),
        HeaderCheck::Invalid(r) => return Err(Error::corruption(path, 0, r)),
    }
    loop {
        match sc.next_step().map_err(io_err(IoOp::Read, path))? {
            Step::Record { record, offset } => f(record, offset)?,
            Step::End => return Ok(()),
            Step::Torn { offset, reason } => return Err(Error::corruption(path, offset, reason)),
            Step::Corrupt { offset, reason, .. } => {
                return Err(Error::corruption(path, offset, reason))
            }
        }
    }
}

/// Writes frames into numbered files `00000000, 00000001, …` of a checkpoint
/// directory, with the same size limit and rotation rule as the log.
struct Sink<'a> {
    fs: &'a dyn Fs,
    dir: &'a Path,
    max: u64,
    file: LogFile,
    /// Closed log files, fsynced at the end.
    done: Vec<LogFile>,
    buf: Vec<u8>,
    frame: Vec<u8>,
}

impl<'a> Sink<'a> {
    fn new(fs: &'a dyn Fs, dir: &'a Path, max: u64) -> Result<Sink<'a>> {
        Ok(Sink {
            fs,
            dir,
            max,
            file: LogFile::create(fs, dir, 0)?,
            done: Vec::new(),
            buf: Vec::new(),
            frame: Vec::new(),
        })
    }

    fn push(&mut self, rec: &Record) -> Result<()> {
        self.frame.clear();
        rec.encode_frame(&mut self.frame)?;
        let used = self.file.len + self.buf.len() as u64;
        if used > FILE_HEADER_LEN && used + self.frame.len() as u64 > self.max {
            self.flush()?;
            let next = LogFile::create(self.fs, self.dir, self.file.index + 1)?;
            self.done.push(std::mem::replace(&mut self.file, next));
        }
        self.buf.extend_from_slice(&self.frame);
        if self.buf.len() >= FLUSH_AT {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        if !self.buf.is_empty() {
            self.file.write(&self.buf)?;
            self.buf.clear();
        }
        Ok(())
    }

    /// Flushes and fsyncs every file; returns the bytes written.
    fn finish(mut self) -> Result<u64> {
        self.flush()?;
        self.done.push(self.file.clone());
        let mut bytes = 0;
        for file in &self.done {
            file.sync()?;
            bytes += file.len;
        }
        Ok(bytes)
    }
}

/// Bytes of all log and checkpoint files, the number of log files, and the latest
/// checkpoint. Files that vanish while being measured (a concurrent checkpoint) count 0.
pub(super) fn disk_usage(fs: &dyn Fs, dir: &Path) -> Result<(u64, usize, Option<u32>)> {
    let l = list(fs, dir)?;
    let len = |p: &Path| match fs.file_len(p) {
        Ok(n) => Ok(n),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(0),
        Err(e) => Err(Error::io(IoOp::Stat, p, e)),
    };
    let mut bytes = 0;
    for &n in &l.files {
        bytes += len(&dir.join(file_name(n)))?;
    }
    let cp = l.checkpoints.last().copied();
    if let Some(c) = cp {
        let cpdir = dir.join(checkpoint_name(c));
        match list(fs, &cpdir) {
            Ok(cl) => {
                for &n in &cl.files {
                    bytes += len(&cpdir.join(file_name(n)))?;
                }
            }
            Err(Error::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok((bytes, l.files.len(), cp))
}
