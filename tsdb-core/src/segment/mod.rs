//! Immutable segments: one time range of persisted series, read in place from the
//! mappings [`Fs::map`] hands out.
//!
//! A segment is a directory of four files (byte layouts in `FORMAT-segment.md`):
//! `meta` (time range, resolution, level, counts), `index` (the `tsdb-index` on-disk
//! index, series ids 0..n in label order), `series` (for every series id, its chunks'
//! time ranges and places in `chunks`) and `chunks` (encoded chunks back to back, each
//! with its own CRC, checked every time it is decoded). Opening checks every file's
//! header and CRC except `chunks`, whose chunks are checked as they are read; a segment
//! found corrupt is marked and left out of later queries while the rest keeps serving.

pub(crate) mod write;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tsdb_encoding::{split_crc, Cursor};
use tsdb_index::{DiskIndex, Labels, Matcher};

use crate::error::{io_err, Error, IoOp, Result};
use crate::fs::{Fs, MappedBytes};
use crate::rollup::{bucket_of, Bucket, COLUMNS, REFERENCE};
use crate::series_iter::{ChunkBytes, ChunkHandle};

pub(crate) const META_FILE: &str = "meta";
pub(crate) const INDEX_FILE: &str = "index";
pub(crate) const SERIES_FILE: &str = "series";
pub(crate) const CHUNKS_FILE: &str = "chunks";

const META_MAGIC: &[u8; 4] = b"TSGM";
const SERIES_MAGIC: &[u8; 4] = b"TSGS";
const CHUNKS_MAGIC: &[u8; 4] = b"TSGC";
/// Format version of all four files; bumped together.
pub(crate) const FORMAT_VERSION: u8 = 1;
/// Bytes before the first chunk in `chunks`: magic, version, three zero bytes.
pub(crate) const CHUNKS_HEADER_LEN: u64 = 8;

/// One run of a rollup series' buckets in a segment: where each aggregate's chunk is.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RollupGroup {
    /// `(offset, len)` in `chunks` of each column, in [`COLUMNS`] order.
    pub(crate) columns: [(u64, u32); COLUMNS],
}

/// What a segment holds, from its `meta` file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegmentMeta {
    /// First millisecond covered (inclusive).
    pub min_t: i64,
    /// End of the range covered (exclusive).
    pub max_t: i64,
    /// Sample resolution in milliseconds: 0 for raw data, the bucket width of a rollup
    /// segment.
    pub resolution_ms: u64,
    /// Compaction level: 0 when cut from the head.
    pub level: u32,
    /// Series in the segment.
    pub series: u64,
    /// Samples in the segment.
    pub samples: u64,
    /// Chunks in the segment.
    pub chunks: u64,
}

impl SegmentMeta {
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64);
        out.extend_from_slice(META_MAGIC);
        out.push(FORMAT_VERSION);
        out.extend_from_slice(&self.min_t.to_le_bytes());
        out.extend_from_slice(&self.max_t.to_le_bytes());
        out.extend_from_slice(&self.resolution_ms.to_le_bytes());
        out.extend_from_slice(&self.level.to_le_bytes());
        out.extend_from_slice(&self.series.to_le_bytes());
        out.extend_from_slice(&self.samples.to_le_bytes());
        out.extend_from_slice(&self.chunks.to_le_bytes());
        let crc = crc32fast::hash(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        out
    }

    pub(crate) fn decode(bytes: &[u8], path: &Path) -> Result<SegmentMeta> {
        let (body, stored) = checked_body(bytes, path)?;
        let mut c = Cursor::new(body);
        let corrupt =
            |e: tsdb_encoding::DecodeError| Error::corruption(path, e.offset as u64, e.reason);
        let magic = c.bytes(4, "magic").map_err(corrupt)?;
        if magic != META_MAGIC {
            return Err(Error::corruption(path, 0, "not a segment meta file"));
        }
        check_version(c.u8("version").map_err(corrupt)?, path)?;
        let meta = SegmentMeta {
            min_t: c.i64_le("min_t").map_err(corrupt)?,
            max_t: c.i64_le("max_t").map_err(corrupt)?,
            resolution_ms: c.u64_le("resolution").map_err(corrupt)?,
            level: c.u32_le("level").map_err(corrupt)?,
            series: c.u64_le("series").map_err(corrupt)?,
            samples: c.u64_le("samples").map_err(corrupt)?,
            chunks: c.u64_le("chunks").map_err(corrupt)?,
        };
        let _ = stored;
        if c.remaining() != 0 {
            return Err(Error::corruption(
                path,
                c.position() as u64,
                "trailing bytes",
            ));
        }
        if meta.max_t <= meta.min_t {
            return Err(Error::corruption(path, 5, "empty or inverted time range"));
        }
        Ok(meta)
    }
}

/// Splits off and verifies the trailing CRC32 (little-endian) of a whole file.
fn checked_body<'a>(bytes: &'a [u8], path: &Path) -> Result<(&'a [u8], u32)> {
    let (body, stored) =
        split_crc(bytes).ok_or_else(|| Error::corruption(path, 0, "file shorter than its CRC"))?;
    let computed = crc32fast::hash(body);
    if stored != computed {
        return Err(Error::corruption(
            path,
            body.len() as u64,
            format!("CRC mismatch: stored {stored:#010x}, computed {computed:#010x}"),
        ));
    }
    Ok((body, stored))
}

fn check_version(v: u8, path: &Path) -> Result<()> {
    if v != FORMAT_VERSION {
        return Err(Error::UnsupportedFormat {
            path: path.to_path_buf(),
            what: "segment format version",
            found: u64::from(v),
        });
    }
    Ok(())
}

self_cell::self_cell!(
    /// The segment's index, borrowing the mapping it was opened from.
    struct MappedIndex {
        owner: MappedBytes,
        #[covariant]
        dependent: DiskIndex,
    }
);

impl std::fmt::Debug for MappedIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MappedIndex({} series)", self.borrow_dependent().len())
    }
}

/// One open segment.
#[derive(Debug)]
pub struct Segment {
    dir: PathBuf,
    meta: SegmentMeta,
    index: MappedIndex,
    /// Offsets table then entries of the `series` file (CRC already checked).
    series: MappedBytes,
    series_count: u32,
    chunks: MappedBytes,
    corrupt: AtomicBool,
}

impl Segment {
    /// Opens and checks a segment directory, reading it through `fs`.
    pub(crate) fn open(fs: &dyn Fs, dir: &Path) -> Result<Segment> {
        let map = |path: &Path| fs.map(path).map_err(io_err(IoOp::Read, path));
        let meta_path = dir.join(META_FILE);
        let meta_bytes = fs
            .read(&meta_path)
            .map_err(io_err(IoOp::Read, &meta_path))?;
        let meta = SegmentMeta::decode(&meta_bytes, &meta_path)?;

        let index_path = dir.join(INDEX_FILE);
        let index_map = map(&index_path)?;
        let index = MappedIndex::try_new(index_map, |m| DiskIndex::open(m))
            .map_err(|e| Error::corruption(&index_path, 0, e.to_string()))?;

        let series_path = dir.join(SERIES_FILE);
        let series = map(&series_path)?;
        let series_count = check_series_file(&series, &series_path, meta.series)?;
        if index.borrow_dependent().num_series() != series_count {
            return Err(Error::corruption(
                &index_path,
                0,
                "index and series files disagree on the number of series",
            ));
        }

        let chunks_path = dir.join(CHUNKS_FILE);
        let chunks = map(&chunks_path)?;
        match chunks.get(..5) {
            Some(h) if h.get(..4) == Some(CHUNKS_MAGIC.as_slice()) => {
                check_version(h.get(4).copied().unwrap_or(0), &chunks_path)?
            }
            _ => {
                return Err(Error::corruption(
                    &chunks_path,
                    0,
                    "not a segment chunks file",
                ))
            }
        }
        Ok(Segment {
            dir: dir.to_path_buf(),
            meta,
            index,
            series,
            series_count,
            chunks,
            corrupt: AtomicBool::new(false),
        })
    }

    /// The segment's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// What the segment holds.
    pub fn meta(&self) -> SegmentMeta {
        self.meta
    }

    /// Bytes of the segment's files.
    pub(crate) fn bytes_on_disk(&self) -> u64 {
        (self.series.len() + self.chunks.len() + self.index.borrow_owner().len()) as u64 + 64
    }

    /// True once a read found damage; the database leaves the segment out of new queries.
    pub(crate) fn is_corrupt(&self) -> bool {
        self.corrupt.load(Ordering::Relaxed)
    }

    /// The bytes of one chunk, bounds-checked.
    pub(crate) fn chunk_bytes(&self, offset: u64, len: u32) -> Result<&[u8]> {
        let start = usize::try_from(offset).unwrap_or(usize::MAX);
        let end = start.saturating_add(len as usize);
        self.chunks.get(start..end).ok_or_else(|| {
            self.mark_corrupt();
            Error::corruption(
                &self.dir.join(CHUNKS_FILE),
                offset,
                "chunk reference past the end of the chunks file",
            )
        })
    }

    fn mark_corrupt(&self) {
        self.corrupt.store(true, Ordering::Relaxed);
    }

    /// The error for a chunk that failed to decode; marks the segment corrupt.
    pub(crate) fn chunk_corruption(&self, offset: u64, e: &tsdb_compress::Error) -> Error {
        self.mark_corrupt();
        Error::corruption(&self.dir.join(CHUNKS_FILE), offset, format!("chunk: {e}"))
    }

    /// The chunk entries `(min_t, max_t, offset, len)` of series `id`, as stored.
    fn chunk_entries(&self, id: u32) -> Result<Vec<(i64, i64, u64, u32)>> {
        let path = || self.dir.join(SERIES_FILE);
        let corrupt = |what: &str| {
            self.mark_corrupt();
            Error::corruption(&path(), 0, format!("series {id}: {what}"))
        };
        if id >= self.series_count {
            return Err(corrupt("id out of range"));
        }
        let at = 9 + id as usize * 8;
        let entry_start = read_u64(&self.series, at).ok_or_else(|| corrupt("offset table"))?;
        let mut c = Cursor::new(
            self.series
                .get(usize::try_from(entry_start).unwrap_or(usize::MAX)..)
                .ok_or_else(|| corrupt("entry offset"))?,
        );
        let e = |err: tsdb_encoding::DecodeError| corrupt(&err.to_string());
        let n = c.uvarint("chunk count").map_err(e)?;
        let mut out = Vec::new();
        for _ in 0..n.min(c.remaining() as u64) {
            let min_t = c.varint("chunk min_t").map_err(e)?;
            let span = c.uvarint("chunk span").map_err(e)?;
            let offset = c.uvarint("chunk offset").map_err(e)?;
            let len = c.uvarint("chunk length").map_err(e)?;
            let max_t = min_t
                .checked_add_unsigned(span)
                .ok_or_else(|| corrupt("chunk span overflows i64"))?;
            let len = u32::try_from(len).map_err(|_| corrupt("chunk length"))?;
            out.push((min_t, max_t, offset, len));
        }
        Ok(out)
    }

    /// The rollup groups of series `id` (a rollup segment's) whose bucket ends overlap
    /// `[mint, maxt]`: for each run of buckets, its time range and the chunk of each of
    /// the [`COLUMNS`] aggregates.
    pub(crate) fn rollup_groups(&self, id: u32, mint: i64, maxt: i64) -> Result<Vec<RollupGroup>> {
        let entries = self.chunk_entries(id)?;
        if self.meta.resolution_ms == 0 || !entries.len().is_multiple_of(COLUMNS) {
            self.mark_corrupt();
            return Err(Error::corruption(
                &self.dir.join(SERIES_FILE),
                0,
                format!("series {id}: not {COLUMNS} runs of rollup chunks"),
            ));
        }
        let run = entries.len() / COLUMNS;
        let mut out = Vec::new();
        for j in 0..run {
            let (min_t, max_t, _, _) = entries[j];
            if max_t < mint || min_t > maxt {
                continue;
            }
            let mut columns = [(0u64, 0u32); COLUMNS];
            for (c, col) in columns.iter_mut().enumerate() {
                let (cmin, cmax, offset, len) = entries[c * run + j];
                if (cmin, cmax) != (min_t, max_t) {
                    self.mark_corrupt();
                    return Err(Error::corruption(
                        &self.dir.join(SERIES_FILE),
                        0,
                        format!("series {id}: rollup columns cut at different buckets"),
                    ));
                }
                *col = (offset, len);
            }
            out.push(RollupGroup { columns });
        }
        Ok(out)
    }

    /// Decodes one rollup group into `out` (buckets in time order), checking every
    /// column's CRC and that the columns agree.
    pub(crate) fn read_rollup_group(&self, g: &RollupGroup, out: &mut Vec<Bucket>) -> Result<()> {
        let res = i64::try_from(self.meta.resolution_ms).unwrap_or(i64::MAX);
        let corrupt = |offset: u64, what: &str| {
            self.mark_corrupt();
            Error::corruption(&self.dir.join(CHUNKS_FILE), offset, what.to_string())
        };
        let mut ends: Vec<i64> = Vec::new();
        let mut cols: Vec<Option<Vec<f64>>> = vec![None; COLUMNS];
        let mut ts = Vec::new();
        for (c, &(offset, len)) in g.columns.iter().enumerate() {
            if len == 0 {
                if REFERENCE[c].is_none() {
                    return Err(corrupt(
                        offset,
                        "an empty rollup chunk with no reference column",
                    ));
                }
                continue; // equal to its reference column, filled in below
            }
            let bytes = self.chunk_bytes(offset, len)?;
            let view = tsdb_compress::ChunkRef::new(bytes)
                .map_err(|e| self.chunk_corruption(offset, &e))?;
            let mut vs = Vec::with_capacity(view.len());
            ts.clear();
            view.decode_into(&mut ts, &mut vs)
                .map_err(|e| self.chunk_corruption(offset, &e))?;
            if c == 0 {
                ends = ts.clone();
            } else if ts != ends {
                return Err(corrupt(offset, "rollup columns disagree on bucket ends"));
            }
            cols[c] = Some(vs);
        }
        // first (4) is always stored; last (5) before the columns that refer to it
        for c in [5, 1, 2, 3] {
            if cols[c].is_none() {
                let r = REFERENCE[c].unwrap_or(4);
                cols[c] = cols[r].clone();
            }
        }
        let cols: Vec<Vec<f64>> = cols
            .into_iter()
            .map(|c| c.ok_or_else(|| corrupt(g.columns[0].0, "a rollup column is missing")))
            .collect::<Result<_>>()?;
        for (i, &end) in ends.iter().enumerate() {
            let mut c = [0.0; COLUMNS];
            for (k, col) in cols.iter().enumerate() {
                c[k] = col.get(i).copied().unwrap_or(f64::NAN);
            }
            let b = bucket_of(end, res, &c).ok_or_else(|| {
                corrupt(
                    g.columns[0].0,
                    &format!("rollup bucket ending at {end} is not a valid aggregate"),
                )
            })?;
            out.push(b);
        }
        Ok(())
    }

    /// Series `id`'s labels and all its rollup groups, for reading a rollup segment
    /// whole in label order (merging rollups).
    pub(crate) fn rollup_series(&self, id: u32) -> Result<(Labels, Vec<RollupGroup>)> {
        let groups = self.rollup_groups(id, i64::MIN, i64::MAX)?;
        Ok((self.labels_of(id)?, groups))
    }

    /// Series matching `matchers` with their rollup groups overlapping `[mint, maxt]`.
    pub(crate) fn select_rollups(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<(Labels, Vec<RollupGroup>)>> {
        self.select_with(matchers, |id| self.rollup_groups(id, mint, maxt))
    }

    /// The series matching `matchers` for which `read` finds something, with it.
    fn select_with<T>(
        &self,
        matchers: &[Matcher],
        read: impl Fn(u32) -> Result<Vec<T>>,
    ) -> Result<Vec<(Labels, Vec<T>)>> {
        let index = self.index.borrow_dependent();
        let ids = index.select(matchers).map_err(|e| self.index_error(e))?;
        let mut out = Vec::with_capacity(usize::try_from(ids.len()).unwrap_or(0));
        for id in ids.iter() {
            let found = read(id)?;
            if found.is_empty() {
                continue;
            }
            out.push((self.labels_of(id)?, found));
        }
        Ok(out)
    }

    /// Series `id`'s labels.
    fn labels_of(&self, id: u32) -> Result<Labels> {
        self.index
            .borrow_dependent()
            .labels(id)
            .map_err(|e| self.index_error(e))?
            .ok_or_else(|| self.index_error_msg("series id without labels"))
    }

    /// Chunk references of series `id` (a raw segment's) overlapping `[mint, maxt]`.
    fn chunk_refs(self: &Arc<Self>, id: u32, mint: i64, maxt: i64) -> Result<Vec<ChunkHandle>> {
        let mut out = Vec::new();
        let mut prev_max = i64::MIN;
        for (min_t, max_t, offset, len) in self.chunk_entries(id)? {
            if min_t <= prev_max && prev_max != i64::MIN {
                self.mark_corrupt();
                return Err(Error::corruption(
                    &self.dir.join(SERIES_FILE),
                    0,
                    format!("series {id}: chunk time ranges out of order"),
                ));
            }
            prev_max = max_t;
            if max_t >= mint && min_t <= maxt {
                out.push(ChunkHandle {
                    min_t,
                    max_t,
                    from: i64::MIN,
                    bytes: ChunkBytes::Segment {
                        segment: self.clone(),
                        offset,
                        len,
                    },
                });
            }
        }
        Ok(out)
    }

    /// Series in the segment; ids `0..series_count()` are in label order.
    pub(crate) fn series_count(&self) -> u32 {
        self.series_count
    }

    /// Series `id`'s labels and its chunks overlapping `[mint, maxt]`, for reading a
    /// segment whole in label order (compaction).
    pub(crate) fn series(
        self: &Arc<Self>,
        id: u32,
        mint: i64,
        maxt: i64,
    ) -> Result<(Labels, Vec<ChunkHandle>)> {
        let handles = self.chunk_refs(id, mint, maxt)?;
        Ok((self.labels_of(id)?, handles))
    }

    /// Series matching `matchers` with their chunks overlapping `[mint, maxt]`.
    pub(crate) fn select(
        self: &Arc<Self>,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<(Labels, Vec<ChunkHandle>)>> {
        self.select_with(matchers, |id| self.chunk_refs(id, mint, maxt))
    }

    fn index_error(&self, e: tsdb_index::Error) -> Error {
        if matches!(
            e,
            tsdb_index::Error::Corrupt { .. }
                | tsdb_index::Error::ChecksumMismatch { .. }
                | tsdb_index::Error::Unsupported { .. }
        ) {
            self.mark_corrupt();
            return Error::corruption(&self.dir.join(INDEX_FILE), 0, e.to_string());
        }
        Error::Labels(e)
    }

    fn index_error_msg(&self, msg: &'static str) -> Error {
        self.mark_corrupt();
        Error::corruption(&self.dir.join(INDEX_FILE), 0, msg)
    }

    /// Label names among series matching `matchers`.
    pub(crate) fn label_names(&self, matchers: &[Matcher]) -> Result<Vec<String>> {
        self.index
            .borrow_dependent()
            .label_names(matchers)
            .map_err(|e| self.index_error(e))
    }

    /// Values of `name` among series matching `matchers`.
    pub(crate) fn label_values(&self, name: &str, matchers: &[Matcher]) -> Result<Vec<String>> {
        self.index
            .borrow_dependent()
            .label_values(name, matchers)
            .map_err(|e| self.index_error(e))
    }

    /// Top-N cardinality statistics of the segment's index.
    pub(crate) fn stats(&self, top_n: usize) -> Result<tsdb_index::CardinalityStats> {
        self.index
            .borrow_dependent()
            .stats(top_n)
            .map_err(|e| self.index_error(e))
    }
}

fn read_u64(bytes: &[u8], at: usize) -> Option<u64> {
    bytes
        .get(at..)
        .and_then(|s| s.first_chunk::<8>())
        .map(|b| u64::from_le_bytes(*b))
}

/// Checks the `series` file's header, CRC and offset table; returns the series count.
fn check_series_file(bytes: &[u8], path: &Path, expected: u64) -> Result<u32> {
    let (body, _) = checked_body(bytes, path)?;
    if body.get(..4) != Some(SERIES_MAGIC.as_slice()) {
        return Err(Error::corruption(path, 0, "not a segment series file"));
    }
    check_version(body.get(4).copied().unwrap_or(0), path)?;
    let n = body
        .get(5..9)
        .and_then(|s| s.first_chunk::<4>())
        .map(|b| u32::from_le_bytes(*b))
        .ok_or_else(|| Error::corruption(path, 5, "series count missing"))?;
    if u64::from(n) != expected {
        return Err(Error::corruption(
            path,
            5,
            "series count disagrees with meta",
        ));
    }
    let table_end = 9 + n as usize * 8;
    if table_end > body.len() {
        return Err(Error::corruption(
            path,
            9,
            "offset table past the end of the file",
        ));
    }
    let mut prev = table_end as u64;
    for i in 0..n as usize {
        let off = read_u64(body, 9 + i * 8).unwrap_or(u64::MAX);
        if off < prev || off >= body.len() as u64 {
            return Err(Error::corruption(
                path,
                (9 + i * 8) as u64,
                "series entry offset out of order or out of range",
            ));
        }
        prev = off;
    }
    Ok(n)
}
