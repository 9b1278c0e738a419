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

/// Bytes buffered before a write call to the chunks file.
const WRITE_BUFFER: usize = 1 << 20;

/// Suffix of a segment directory still being written.
pub(crate) const TMP_SUFFIX: &str = ".tmp";

/// What to write: series (any order) with their chunks in time order, not overlapping,
/// all inside `[min_t, max_t)`.
pub(crate) struct SegmentInput {
    pub(crate) min_t: i64,
    pub(crate) max_t: i64,
    pub(crate) resolution_ms: u64,
    pub(crate) level: u32,
    pub(crate) series: Vec<(Labels, Vec<Chunk>)>,
}

fn write_file(fs: &dyn Fs, path: &Path, bytes: &[u8]) -> Result<()> {
    let file = fs.create_new(path).map_err(io_err(IoOp::Create, path))?;
    file.write_all(bytes).map_err(io_err(IoOp::Write, path))?;
    file.sync_data().map_err(io_err(IoOp::Sync, path))
}

/// Writes `input` as segment directory `dir` (which must not exist) and returns its meta.
pub(crate) fn write_segment(
    fs: &dyn Fs,
    dir: &Path,
    mut input: SegmentInput,
) -> Result<SegmentMeta> {
    input.series.retain(|(_, s)| !s.is_empty());
    input.series.sort_by(|a, b| a.0.cmp(&b.0));
    input.series.dedup_by(|a, b| a.0 == b.0);

    let name = dir
        .file_name()
        .ok_or_else(|| Error::invalid_argument("segment path has no name"))?;
    let parent = dir
        .parent()
        .ok_or_else(|| Error::invalid_argument("segment path has no parent"))?;
    let mut tmp_name = name.to_os_string();
    tmp_name.push(TMP_SUFFIX);
    let tmp: PathBuf = parent.join(tmp_name);
    if fs.file_len(&tmp).is_ok() || fs.list_dir(&tmp).is_ok() {
        fs.remove_dir_all(&tmp)
            .map_err(io_err(IoOp::Remove, &tmp))?;
    }
    fs.create_dir_all(&tmp)
        .map_err(io_err(IoOp::CreateDir, &tmp))?;

    // chunks, streamed; remember where each series' chunks went
    let chunks_path = tmp.join(CHUNKS_FILE);
    let chunks_file: Arc<dyn FsFile> = fs
        .create_new(&chunks_path)
        .map_err(io_err(IoOp::Create, &chunks_path))?;
    let mut buf = Vec::with_capacity(WRITE_BUFFER + 4096);
    buf.extend_from_slice(CHUNKS_MAGIC);
    buf.extend_from_slice(&[FORMAT_VERSION, 0, 0, 0]);
    debug_assert_eq!(buf.len() as u64, CHUNKS_HEADER_LEN);
    let mut written: u64 = 0;
    let mut series_entries: Vec<u8> = Vec::new();
    let mut entry_offsets: Vec<u64> = Vec::with_capacity(input.series.len());
    let (mut n_samples, mut n_chunks) = (0u64, 0u64);
    let mut index = IndexWriter::new();
    for (i, (labels, chunks)) in input.series.iter().enumerate() {
        // the writer numbers label sets 0..n in the (sorted) order they come
        let id = index.add(labels)?;
        if id as usize != i {
            return Err(Error::invalid_argument("segment series are not unique"));
        }
        entry_offsets.push(series_entries.len() as u64);
        put_uvarint(&mut series_entries, chunks.len() as u64);
        for chunk in chunks {
            let view = chunk
                .view()
                .map_err(|e| Error::invalid_argument(format!("chunk: {e}")))?;
            let offset = written + buf.len() as u64;
            put_varint(&mut series_entries, view.min_time());
            put_uvarint(
                &mut series_entries,
                view.max_time().wrapping_sub(view.min_time()) as u64,
            );
            put_uvarint(&mut series_entries, offset);
            put_uvarint(&mut series_entries, chunk.as_bytes().len() as u64);
            buf.extend_from_slice(chunk.as_bytes());
            n_chunks += 1;
            n_samples += chunk.len() as u64;
        }
        if buf.len() >= WRITE_BUFFER {
            chunks_file
                .write_all(&buf)
                .map_err(io_err(IoOp::Write, &chunks_path))?;
            written += buf.len() as u64;
            buf.clear();
        }
    }
    chunks_file
        .write_all(&buf)
        .map_err(io_err(IoOp::Write, &chunks_path))?;
    chunks_file
        .sync_data()
        .map_err(io_err(IoOp::Sync, &chunks_path))?;
    drop(chunks_file);

    // series: header, offset table (absolute), entries, CRC
    let n = u32::try_from(input.series.len())
        .map_err(|_| Error::invalid_argument("more than 2^32 series in one segment"))?;
    let table_end = 9 + 8 * n as u64;
    let mut series_file = Vec::with_capacity(table_end as usize + series_entries.len() + 4);
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

    write_file(fs, &tmp.join(INDEX_FILE), &index.finish_to_vec()?)?;

    let meta = SegmentMeta {
        min_t: input.min_t,
        max_t: input.max_t,
        resolution_ms: input.resolution_ms,
        level: input.level,
        series: u64::from(n),
        samples: n_samples,
        chunks: n_chunks,
    };
    write_file(fs, &tmp.join(META_FILE), &meta.encode())?;
    fs.sync_dir(&tmp).map_err(io_err(IoOp::SyncDir, &tmp))?;
    fs.rename(&tmp, dir).map_err(io_err(IoOp::Rename, &tmp))?;
    fs.sync_dir(parent).map_err(io_err(IoOp::SyncDir, parent))?;
    Ok(meta)
}
