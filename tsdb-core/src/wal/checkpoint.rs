//! Checkpoints: old segments folded into `checkpoint.N/`, keeping only what the head
//! still needs, so the log does not grow without bound. Modelled on Prometheus
//! `tsdb/wlog/checkpoint.go`; steps and crash cases in `FORMAT-wal.md`, "Checkpoints".

use std::io;
use std::path::{Path, PathBuf};

use super::framing::{HeaderCheck, SEGMENT_HEADER_LEN};
use super::reader::{Scanner, Step};
use super::record::{Record, RefSample};
use super::segment::{
    check_contiguous, checkpoint_name, list, segment_name, SegmentFile, Source, TMP_SUFFIX,
};
use super::Lsn;
use crate::error::{io_err, Error, IoOp, Result};
use crate::fs::Fs;

/// What a checkpoint kept and dropped.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CheckpointStats {
    /// The checkpoint written: `checkpoint.<checkpoint>` covers segments up to this one.
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
    /// Segment files deleted.
    pub segments_removed: usize,
    /// Older checkpoints deleted.
    pub checkpoints_removed: usize,
}

/// Flush the checkpoint's write buffer at this size, as Prometheus does.
const FLUSH_AT: usize = 1 << 20;

/// Writes checkpoint `up_to` of the log in `dir` (its segments at most `segment_size`
/// bytes). The writer calls this under its checkpoint lock; this module knows nothing
/// of the writer.
pub(super) fn run(
    fs: &dyn Fs,
    dir: &Path,
    segment_size: u64,
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
                "checkpoint {} already covers segment {}",
                checkpoint_name(p),
                segment_name(up_to)
            )));
        }
    }
    // Leftovers of an interrupted checkpoint, before this one creates its own.
    for t in &listing.tmp {
        let p = dir.join(t);
        fs.remove_dir_all(&p).map_err(io_err(IoOp::Remove, &p))?;
    }
    if prev != Some(up_to) {
        // Sources: the previous checkpoint, then the segments after it up to `up_to`.
        let mut sources: Vec<CheckpointSource> = Vec::new();
        if let Some(p) = prev {
            let cpdir = dir.join(checkpoint_name(p));
            let cl = list(fs, &cpdir)?;
            check_contiguous(&cpdir, &cl.segments)?;
            sources.extend(cl.segments.iter().map(|&n| CheckpointSource {
                path: cpdir.join(segment_name(n)),
                segment: None,
                logged_in: p,
            }));
        }
        let segs: Vec<u32> = listing
            .segments
            .iter()
            .copied()
            .filter(|&n| n <= up_to && prev.is_none_or(|p| n > p))
            .collect();
        check_contiguous(dir, &segs)?;
        let expected_first = prev.map(|p| p + 1);
        if segs.last() != Some(&up_to)
            || (expected_first.is_some() && segs.first().copied() != expected_first)
        {
            return Err(Error::invalid_argument(format!(
                "cannot checkpoint up to segment {}: the segments after {} up to it are not all on disk",
                segment_name(up_to),
                prev.map_or_else(|| "the start".to_string(), checkpoint_name),
            )));
        }
        sources.extend(segs.iter().map(|&n| CheckpointSource {
            path: dir.join(segment_name(n)),
            segment: Some(n),
            logged_in: n,
        }));

        let tmp = dir.join(format!("{}{TMP_SUFFIX}", checkpoint_name(up_to)));
        let done = dir.join(checkpoint_name(up_to));
        match write_checkpoint(
            fs,
            segment_size,
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
    for &n in listing.segments.iter().filter(|&&n| n <= up_to) {
        let p = dir.join(segment_name(n));
        remove_file_if_present(fs, &p)?;
        stats.segments_removed += 1;
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
    segment_size: u64,
    sources: &[CheckpointSource],
    tmp: &Path,
    keep_series: &dyn Fn(u64) -> bool,
    keep_sample: &dyn Fn(i64, Lsn) -> bool,
    stats: &mut CheckpointStats,
) -> Result<()> {
    fs.create_dir_all(tmp)
        .map_err(io_err(IoOp::CreateDir, tmp))?;
    let mut sink = Sink::new(fs, tmp, segment_size)?;
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
    /// `Some(n)` for WAL segment `n`, `None` for a segment of the previous checkpoint.
    segment: Option<u32>,
    /// The segment its records were logged in (for a checkpoint: its number).
    logged_in: u32,
}

impl CheckpointSource {
    /// Where the record at `offset` was logged (as recovery reports it).
    fn position(&self, offset: u64) -> Lsn {
        match self.segment {
            Some(segment) => Lsn { segment, offset },
            None => Lsn {
                segment: self.logged_in,
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

/// Reads every record of a closed segment; any damage is an error (a checkpoint never
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
        HeaderCheck::Torn => return Err(Error::corruption(path, 0, "torn segment header")),
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

/// Writes frames into numbered segment files `00000000, 00000001, …` of a checkpoint
/// directory, with the same size limit and rotation rule as the log.
struct Sink<'a> {
    fs: &'a dyn Fs,
    dir: &'a Path,
    max: u64,
    seg: SegmentFile,
    /// Closed segments, fsynced at the end.
    done: Vec<SegmentFile>,
    buf: Vec<u8>,
    frame: Vec<u8>,
}

impl<'a> Sink<'a> {
    fn new(fs: &'a dyn Fs, dir: &'a Path, max: u64) -> Result<Sink<'a>> {
        Ok(Sink {
            fs,
            dir,
            max,
            seg: SegmentFile::create(fs, dir, 0)?,
            done: Vec::new(),
            buf: Vec::new(),
            frame: Vec::new(),
        })
    }

    fn push(&mut self, rec: &Record) -> Result<()> {
        self.frame.clear();
        rec.encode_frame(&mut self.frame)?;
        let used = self.seg.len + self.buf.len() as u64;
        if used > SEGMENT_HEADER_LEN && used + self.frame.len() as u64 > self.max {
            self.flush()?;
            let next = SegmentFile::create(self.fs, self.dir, self.seg.index + 1)?;
            self.done.push(std::mem::replace(&mut self.seg, next));
        }
        self.buf.extend_from_slice(&self.frame);
        if self.buf.len() >= FLUSH_AT {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        if !self.buf.is_empty() {
            self.seg.write(&self.buf)?;
            self.buf.clear();
        }
        Ok(())
    }

    /// Flushes and fsyncs every file; returns the bytes written.
    fn finish(mut self) -> Result<u64> {
        self.flush()?;
        self.done.push(self.seg.clone());
        let mut bytes = 0;
        for seg in &self.done {
            seg.sync()?;
            bytes += seg.len;
        }
        Ok(bytes)
    }
}

/// Bytes of all segment and checkpoint files, the number of segments, and the latest
/// checkpoint. Files that vanish while being measured (a concurrent checkpoint) count 0.
pub(super) fn disk_usage(fs: &dyn Fs, dir: &Path) -> Result<(u64, usize, Option<u32>)> {
    let l = list(fs, dir)?;
    let len = |p: &Path| match fs.file_len(p) {
        Ok(n) => Ok(n),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(0),
        Err(e) => Err(Error::io(IoOp::Stat, p, e)),
    };
    let mut bytes = 0;
    for &n in &l.segments {
        bytes += len(&dir.join(segment_name(n)))?;
    }
    let cp = l.checkpoints.last().copied();
    if let Some(c) = cp {
        let cpdir = dir.join(checkpoint_name(c));
        match list(fs, &cpdir) {
            Ok(cl) => {
                for &n in &cl.segments {
                    bytes += len(&cpdir.join(segment_name(n)))?;
                }
            }
            Err(Error::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok((bytes, l.segments.len(), cp))
}
