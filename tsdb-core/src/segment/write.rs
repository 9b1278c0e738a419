//! Writing a segment: every file into a temporary directory, each fsynced, the directory
//! renamed into place, the parent directory fsynced. A crash at any point leaves either no
//! segment (a `*.tmp` directory that the next open removes) or the whole segment.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tsdb_compress::Chunk;
use tsdb_encoding::{put_uvarint, put_varint};
use tsdb_index::{IndexWriter, Labels};

use super::{
    SegmentMeta, CHUNKS_FILE, CHUNKS_HEADER_LEN, CHUNKS_MAGIC, FORMAT_VERSION, INDEX_FILE,
    META_FILE, SERIES_FILE, SERIES_MAGIC,
};
use crate::error::{io_err, Error, IoOp, Result};
use crate::fs::{Fs, FsFile};
use crate::rollup::COLUMNS;

/// Bytes buffered before a write call to the chunks file.
const WRITE_BUFFER: usize = 1 << 20;

/// Suffix of a segment directory still being written.
pub(crate) const TMP_SUFFIX: &str = ".tmp";

/// The time range and kind of a segment to write.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SegmentSpec {
    /// First millisecond covered (inclusive).
    pub(crate) min_t: i64,
    /// End of the range (exclusive).
    pub(crate) max_t: i64,
    /// 0 for raw samples.
    pub(crate) resolution_ms: u64,
    /// Compaction level, 0 when cut from the head.
    pub(crate) level: u32,
}

/// One series on its way into a segment: its labels and its chunks in time order, not
/// overlapping, inside the segment's range (a rollup series: eleven such runs, one per
/// column).
#[derive(Debug)]
pub(crate) struct SourceSeries {
    pub(crate) labels: Labels,
    pub(crate) chunks: Vec<SourceChunk>,
}

impl SourceSeries {
    /// A raw series.
    pub(crate) fn raw(labels: Labels, chunks: Vec<Chunk>) -> SourceSeries {
        SourceSeries {
            labels,
            chunks: chunks.into_iter().map(SourceChunk::Encoded).collect(),
        }
    }
}

/// One chunk of a series on its way into a segment.
#[derive(Debug)]
pub(crate) enum SourceChunk {
    /// An encoded chunk.
    Encoded(Chunk),
    /// A rollup column chunk equal, bucket for bucket, to its reference column's
    /// (`rollup::REFERENCE`): written as an entry with no bytes.
    SameAsReference { min_t: i64, max_t: i64 },
}

/// Where a segment's series come from, one at a time and in label order, so the writer
/// holds one series' chunks at a time, never the whole segment (Prometheus'
/// `Compactor.Write(dest, BlockReader)`, which takes the head and blocks alike). A head
/// range implements it (`head::HeadRange`); compaction and rollups add merging and
/// rolling-up sources, never another writer.
pub(crate) trait SeriesSource {
    /// The next series in label order (strictly ascending), `None` at the end.
    fn next_series(&mut self) -> Result<Option<SourceSeries>>;
}

fn write_file(fs: &dyn Fs, path: &Path, bytes: &[u8]) -> Result<()> {
    let file = fs.create_new(path).map_err(io_err(IoOp::Create, path))?;
    file.write_all(bytes).map_err(io_err(IoOp::Write, path))?;
    file.sync_data().map_err(io_err(IoOp::Sync, path))
}

/// The temporary directory a segment `dir` is written in.
fn tmp_dir_of(dir: &Path) -> Result<(PathBuf, &Path)> {
    let name = dir
        .file_name()
        .ok_or_else(|| Error::invariant("segment path has no name"))?;
    let parent = dir
        .parent()
        .ok_or_else(|| Error::invariant("segment path has no parent"))?;
    let mut tmp_name = name.to_os_string();
    tmp_name.push(TMP_SUFFIX);
    Ok((parent.join(tmp_name), parent))
}

/// Streams series into a new segment directory; see [`write_segment`].
struct SegmentWriter<'a> {
    fs: &'a dyn Fs,
    spec: SegmentSpec,
    tmp: PathBuf,
    chunks_path: PathBuf,
    chunks_file: Arc<dyn FsFile>,
    buf: Vec<u8>,
    written: u64,
    series_entries: Vec<u8>,
    entry_offsets: Vec<u64>,
    index: IndexWriter,
    last_labels: Option<Labels>,
    samples: u64,
    chunks: u64,
}

impl<'a> SegmentWriter<'a> {
    fn begin(fs: &'a dyn Fs, tmp: PathBuf, spec: SegmentSpec) -> Result<SegmentWriter<'a>> {
        if fs.file_len(&tmp).is_ok() || fs.list_dir(&tmp).is_ok() {
            fs.remove_dir_all(&tmp)
                .map_err(io_err(IoOp::Remove, &tmp))?;
        }
        fs.create_dir_all(&tmp)
            .map_err(io_err(IoOp::CreateDir, &tmp))?;
        let chunks_path = tmp.join(CHUNKS_FILE);
        let chunks_file = fs
            .create_new(&chunks_path)
            .map_err(io_err(IoOp::Create, &chunks_path))?;
        let mut buf = Vec::with_capacity(WRITE_BUFFER + 4096);
        buf.extend_from_slice(CHUNKS_MAGIC);
        buf.extend_from_slice(&[FORMAT_VERSION, 0, 0, 0]);
        debug_assert_eq!(buf.len() as u64, CHUNKS_HEADER_LEN);
        Ok(SegmentWriter {
            fs,
            spec,
            tmp,
            chunks_path,
            chunks_file,
            buf,
            written: 0,
            series_entries: Vec::new(),
            entry_offsets: Vec::new(),
            index: IndexWriter::new(),
            last_labels: None,
            samples: 0,
            chunks: 0,
        })
    }

    /// Adds one series; series must come in strictly ascending label order.
    fn add(&mut self, series: &SourceSeries) -> Result<()> {
        if series.chunks.is_empty() {
            return Ok(());
        }
        if self
            .last_labels
            .as_ref()
            .is_some_and(|l| *l >= series.labels)
        {
            return Err(Error::invariant(
                "segment series do not come in ascending label order",
            ));
        }
        // the index writer numbers label sets 0..n in the order they come
        let id = self.index.add(&series.labels).map_err(|e| {
            Error::invariant(format!("index writer refused {}: {e}", series.labels))
        })?;
        if id as usize != self.entry_offsets.len() {
            return Err(Error::invariant(
                "index writer numbered series out of order",
            ));
        }
        // A rollup series is COLUMNS runs of chunks, one per aggregate, all cut at the
        // same bucket ends: each run is in time order, the runs side by side.
        let run_len = if self.spec.resolution_ms > 0 {
            if !series.chunks.len().is_multiple_of(COLUMNS) {
                return Err(Error::invariant(format!(
                    "rollup series {} has {} chunks, not a multiple of {COLUMNS} columns",
                    series.labels,
                    series.chunks.len()
                )));
            }
            series.chunks.len() / COLUMNS
        } else {
            series.chunks.len()
        };
        self.entry_offsets.push(self.series_entries.len() as u64);
        put_uvarint(&mut self.series_entries, series.chunks.len() as u64);
        let mut prev_max = None;
        for (i, chunk) in series.chunks.iter().enumerate() {
            if i % run_len == 0 {
                prev_max = None;
            }
            let (min_t, max_t, bytes, samples) = match chunk {
                SourceChunk::Encoded(chunk) => {
                    let view = chunk.view().map_err(|e| {
                        Error::invariant(format!("chunk to persist does not decode: {e}"))
                    })?;
                    (
                        view.min_time(),
                        view.max_time(),
                        chunk.as_bytes(),
                        chunk.len(),
                    )
                }
                SourceChunk::SameAsReference { min_t, max_t } if self.spec.resolution_ms > 0 => {
                    (*min_t, *max_t, &[][..], 0)
                }
                SourceChunk::SameAsReference { .. } => {
                    return Err(Error::invariant("an omitted chunk in a raw series"));
                }
            };
            if prev_max.is_some_and(|p| min_t <= p)
                || min_t < self.spec.min_t
                || max_t >= self.spec.max_t
            {
                return Err(Error::invariant(format!(
                    "chunk [{min_t}, {max_t}] of {} overlaps its predecessor or leaves the \
                     segment range [{}, {})",
                    series.labels, self.spec.min_t, self.spec.max_t
                )));
            }
            prev_max = Some(max_t);
            let offset = self.written + self.buf.len() as u64;
            put_varint(&mut self.series_entries, min_t);
            put_uvarint(&mut self.series_entries, max_t.abs_diff(min_t));
            put_uvarint(&mut self.series_entries, offset);
            put_uvarint(&mut self.series_entries, bytes.len() as u64);
            self.buf.extend_from_slice(bytes);
            self.chunks += 1;
            if i < run_len {
                // a rollup's buckets counted once, in its first column (never omitted)
                self.samples += samples as u64;
            }
        }
        if self.buf.len() >= WRITE_BUFFER {
            self.chunks_file
                .write_all(&self.buf)
                .map_err(io_err(IoOp::Write, &self.chunks_path))?;
            self.written += self.buf.len() as u64;
            self.buf.clear();
        }
        self.last_labels = Some(series.labels.clone());
        Ok(())
    }

    /// Writes `series`, `index` and `meta`, fsyncing each file and the directory.
    fn finish(self) -> Result<SegmentMeta> {
        let SegmentWriter {
            fs,
            spec,
            tmp,
            chunks_path,
            chunks_file,
            buf,
            series_entries,
            entry_offsets,
            index,
            samples,
            chunks,
            ..
        } = self;
        chunks_file
            .write_all(&buf)
            .map_err(io_err(IoOp::Write, &chunks_path))?;
        chunks_file
            .sync_data()
            .map_err(io_err(IoOp::Sync, &chunks_path))?;
        drop(chunks_file);

        // series: header, offset table (absolute), entries, CRC
        let n = u32::try_from(entry_offsets.len())
            .map_err(|_| Error::invalid_argument("more than 2^32 series in one segment"))?;
        let table_end = 9 + 8 * u64::from(n);
        let mut series_file =
            Vec::with_capacity(entry_offsets.len() * 8 + series_entries.len() + 13);
        series_file.extend_from_slice(SERIES_MAGIC);
        series_file.push(FORMAT_VERSION);
        series_file.extend_from_slice(&n.to_le_bytes());
        for off in &entry_offsets {
            series_file.extend_from_slice(&(table_end + off).to_le_bytes());
        }
        series_file.extend_from_slice(&series_entries);
        let crc = crc32fast::hash(&series_file);
        series_file.extend_from_slice(&crc.to_le_bytes());
        write_file(fs, &tmp.join(SERIES_FILE), &series_file)?;

        let index_bytes = index
            .finish_to_vec()
            .map_err(|e| Error::invariant(format!("index writer failed: {e}")))?;
        write_file(fs, &tmp.join(INDEX_FILE), &index_bytes)?;

        let meta = SegmentMeta {
            min_t: spec.min_t,
            max_t: spec.max_t,
            resolution_ms: spec.resolution_ms,
            level: spec.level,
            series: u64::from(n),
            samples,
            chunks,
        };
        write_file(fs, &tmp.join(META_FILE), &meta.encode())?;
        fs.sync_dir(&tmp).map_err(io_err(IoOp::SyncDir, &tmp))?;
        Ok(meta)
    }
}

/// Writes the series of `source` as segment directory `dir` (which must not exist) and
/// returns its meta, or `None` (and nothing on disk) when the source had no samples.
/// Memory is bounded by one series' chunks plus the index being built, whatever the
/// segment's size.
pub(crate) fn write_segment(
    fs: &dyn Fs,
    dir: &Path,
    spec: SegmentSpec,
    source: &mut dyn SeriesSource,
) -> Result<Option<SegmentMeta>> {
    let (tmp, parent) = tmp_dir_of(dir)?;
    let mut writer = SegmentWriter::begin(fs, tmp.clone(), spec)?;
    while let Some(series) = source.next_series()? {
        writer.add(&series)?;
    }
    if writer.entry_offsets.is_empty() {
        drop(writer);
        fs.remove_dir_all(&tmp)
            .map_err(io_err(IoOp::Remove, &tmp))?;
        return Ok(None);
    }
    let meta = writer.finish()?;
    fs.rename(&tmp, dir).map_err(io_err(IoOp::Rename, &tmp))?;
    fs.sync_dir(parent).map_err(io_err(IoOp::SyncDir, parent))?;
    Ok(Some(meta))
}
