//! Block codec for cold data: zstd over a run of encoded chunks.
//!
//! Chunks are already entropy-coded per series, but neighbouring series of one metric
//! share structure (headers, scales, similar values) that a general-purpose compressor
//! finds across chunk boundaries. Byte layout in `FORMAT.md`.

use crate::chunk::{Chunk, ChunkRef};
use crate::error::{Error, Result};
use tsdb_encoding::{append_crc, check_crc, put_uvarint, Cursor, Header, CRC_LEN};

/// First bytes of every block.
pub const BLOCK_MAGIC: [u8; 4] = *b"TSZB";
/// Block format version written by this build.
pub const BLOCK_VERSION: u8 = 1;
/// Largest uncompressed payload a block may declare; larger declarations are refused
/// before anything is allocated.
pub const MAX_BLOCK_PAYLOAD: usize = 256 << 20;
/// zstd level used unless configured otherwise.
pub const DEFAULT_ZSTD_LEVEL: i32 = 3;

/// Magic and version; the reader accepts exactly version 1 (FORMAT.md).
const HEADER: Header = Header {
    magic: BLOCK_MAGIC,
    name: "chunk block",
    version_field: "block version",
    version: BLOCK_VERSION,
    oldest_version: BLOCK_VERSION,
    reserved: 0,
};
/// Header, then compression (u8), chunk count, payload length, compressed length (u32
/// each).
const HEADER_LEN: usize = HEADER.len() + 1 + 4 + 4 + 4;
/// Offset of the payload length, named in the error for an oversized declaration.
const PAYLOAD_LEN_OFFSET: usize = HEADER.len() + 1 + 4;
const COMPRESSION_ZSTD: u8 = 1;

/// Compresses runs of chunks.
#[derive(Clone, Copy, Debug)]
pub struct BlockEncoder {
    level: i32,
}

impl Default for BlockEncoder {
    fn default() -> Self {
        Self {
            level: DEFAULT_ZSTD_LEVEL,
        }
    }
}

impl BlockEncoder {
    /// An encoder at a zstd `level` (negative levels are zstd's fast modes).
    pub fn new(level: i32) -> Result<Self> {
        let range = zstd::compression_level_range();
        if !range.contains(&level) {
            return Err(Error::InvalidArgument(
                format!("zstd level {level} outside {range:?}").into(),
            ));
        }
        Ok(Self { level })
    }

    /// Encodes `chunks` into one block.
    pub fn encode<'c>(&self, chunks: impl IntoIterator<Item = &'c Chunk>) -> Result<Vec<u8>> {
        let mut payload = Vec::new();
        let mut count: u32 = 0;
        for c in chunks {
            put_uvarint(&mut payload, c.as_bytes().len() as u64);
            payload.extend_from_slice(c.as_bytes());
            count = count
                .checked_add(1)
                .ok_or_else(|| Error::InvalidArgument("more than 2^32 chunks".into()))?;
        }
        if payload.len() > MAX_BLOCK_PAYLOAD {
            return Err(Error::InvalidArgument(
                format!(
                    "block payload of {} bytes exceeds {MAX_BLOCK_PAYLOAD}",
                    payload.len()
                )
                .into(),
            ));
        }
        let compressed = zstd::bulk::compress(&payload, self.level).map_err(Error::Zstd)?;
        let mut out = Vec::with_capacity(HEADER_LEN + compressed.len() + 4);
        HEADER.write(&mut out);
        out.push(COMPRESSION_ZSTD);
        out.extend_from_slice(&count.to_le_bytes());
        let too_large = |what| Error::InvalidArgument(format!("block {what} over 4 GiB").into());
        let payload_len = u32::try_from(payload.len()).map_err(|_| too_large("payload"))?;
        let compressed_len = u32::try_from(compressed.len()).map_err(|_| too_large("frame"))?;
        out.extend_from_slice(&payload_len.to_le_bytes());
        out.extend_from_slice(&compressed_len.to_le_bytes());
        out.extend_from_slice(&compressed);
        append_crc(&mut out);
        Ok(out)
    }
}

/// A decoded block: the decompressed chunk bytes and where each chunk lies.
#[derive(Clone, Debug)]
pub struct Block {
    payload: Vec<u8>,
    ranges: Vec<std::ops::Range<usize>>,
}

impl Block {
    /// Validates and decompresses a block. Every chunk's own header and CRC are checked
    /// too, so a `Block` only hands out chunks that parse.
    pub fn decode(bytes: &[u8]) -> Result<Block> {
        if bytes.len() < HEADER_LEN + CRC_LEN {
            return Err(Error::corrupt(0, "block shorter than its header"));
        }
        let body = check_crc(bytes, "block")?;
        let mut c = Cursor::new(body);
        HEADER.read(&mut c)?;
        let compression = c.u8("compression")?;
        if compression != COMPRESSION_ZSTD {
            return Err(Error::Unsupported {
                what: "block compression",
                found: u64::from(compression),
            });
        }
        let count = c.u32_le("chunk count")? as usize;
        let payload_len = c.u32_le("payload length")? as usize;
        let compressed_len = c.u32_le("compressed length")? as usize;
        if payload_len > MAX_BLOCK_PAYLOAD {
            return Err(Error::corrupt(
                PAYLOAD_LEN_OFFSET,
                format!("declared payload of {payload_len} bytes exceeds {MAX_BLOCK_PAYLOAD}"),
            ));
        }
        let compressed = c.bytes(compressed_len, "compressed payload")?;
        c.expect_end("the compressed payload")?;
        let payload = zstd::bulk::decompress(compressed, payload_len).map_err(Error::Zstd)?;
        if payload.len() != payload_len {
            return Err(Error::corrupt(
                HEADER_LEN,
                format!(
                    "payload decompressed to {} bytes, header says {payload_len}",
                    payload.len()
                ),
            ));
        }
        // Each chunk takes at least 9 bytes, which bounds the allocation by what exists.
        let mut ranges = Vec::with_capacity(count.min(payload.len() / 9));
        let mut pc = Cursor::new(&payload);
        for _ in 0..count {
            let len = pc.uvarint("chunk length")?;
            let len = usize::try_from(len).unwrap_or(usize::MAX);
            let start = pc.position();
            let chunk = pc.bytes(len, "chunk")?;
            ChunkRef::new(chunk)?;
            ranges.push(start..start + len);
        }
        if pc.remaining() != 0 {
            return Err(Error::corrupt(
                HEADER_LEN,
                "payload has bytes after the last chunk",
            ));
        }
        Ok(Block { payload, ranges })
    }

    /// Number of chunks.
    pub fn len(&self) -> usize {
        self.ranges.len()
    }

    /// True for a block of no chunks.
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// The chunks in order. Each was validated by [`Block::decode`].
    pub fn chunks(&self) -> impl Iterator<Item = Result<ChunkRef<'_>>> + '_ {
        self.ranges.iter().map(|r| {
            let bytes = self
                .payload
                .get(r.clone())
                .ok_or_else(|| Error::corrupt(r.start, "chunk range outside the payload"))?;
            ChunkRef::new(bytes)
        })
    }
}
