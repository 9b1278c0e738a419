//! The manifest: the one durable list of live segments and of how far the head has been
//! persisted.
//!
//! Every change to the set of segments (a persist adds one; compaction will replace N by
//! one; retention will drop some) commits by replacing the `MANIFEST` file atomically
//! (write, fsync, rename, fsync the directory: [`crate::atomic_file`]). A segment
//! directory that the manifest does not list is not part of the database: it is a
//! leftover of a step that crashed before its commit (its data is still in the WAL or in
//! the segments it was made from) and `Db::open` removes it. So a crash at any step
//! leaves either the old set or the new set visible, never both and never neither.
//!
//! Modelled on tantivy's `meta.json` and VictoriaMetrics' `parts.json`, with Prometheus'
//! `BlockMetaCompaction` sources and parents so a compacted segment says where it came
//! from. Byte layout in `FORMAT-segment.md`, "MANIFEST".

use std::path::Path;

use tsdb_compress::varint::{put_uvarint, put_varint, split_crc, Cursor};

use crate::atomic_file;
use crate::error::{Error, Result};
use crate::fs::Fs;

/// The manifest's file name in the data directory.
pub(crate) const MANIFEST_FILE: &str = "MANIFEST";
const MAGIC: &[u8; 4] = b"TSMF";
const VERSION: u8 = 1;

/// One live segment as the manifest records it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SegmentEntry {
    /// The segment's directory number (`segments/NNNNNNNN`).
    pub(crate) seq: u32,
    /// First millisecond covered (inclusive), as in its `meta`.
    pub(crate) min_t: i64,
    /// End of the range (exclusive), as in its `meta`.
    pub(crate) max_t: i64,
    /// 0 for raw samples.
    pub(crate) resolution_ms: u64,
    /// Compaction level, 0 when cut from the head.
    pub(crate) level: u32,
    /// The level-0 segments whose data this one holds (empty for a level-0 segment).
    pub(crate) sources: Vec<u32>,
    /// The segments this one was made from directly (empty for a level-0 segment).
    pub(crate) parents: Vec<u32>,
}

/// The committed state of the data directory's persisted part.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Manifest {
    /// Incremented by every commit; a reader can tell two states apart.
    pub(crate) generation: u64,
    /// The head has been persisted up to here (exclusive): segments hold everything
    /// before it, the head reads from it on, and WAL replay skips samples before it.
    pub(crate) persisted_until: i64,
    /// The number the next segment directory gets.
    pub(crate) next_seq: u32,
    /// Live segments, in commit order.
    pub(crate) segments: Vec<SegmentEntry>,
}

impl Manifest {
    /// The manifest of an empty data directory.
    pub(crate) fn empty() -> Manifest {
        Manifest {
            generation: 0,
            persisted_until: i64::MIN,
            next_seq: 1,
            segments: Vec::new(),
        }
    }

    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(32 + self.segments.len() * 24);
        out.extend_from_slice(MAGIC);
        out.push(VERSION);
        put_uvarint(&mut out, self.generation);
        out.extend_from_slice(&self.persisted_until.to_le_bytes());
        out.extend_from_slice(&self.next_seq.to_le_bytes());
        put_uvarint(&mut out, self.segments.len() as u64);
        for s in &self.segments {
            put_uvarint(&mut out, u64::from(s.seq));
            put_varint(&mut out, s.min_t);
            put_varint(&mut out, s.max_t);
            put_uvarint(&mut out, s.resolution_ms);
            put_uvarint(&mut out, u64::from(s.level));
            for list in [&s.sources, &s.parents] {
                put_uvarint(&mut out, list.len() as u64);
                for &seq in list {
                    put_uvarint(&mut out, u64::from(seq));
                }
            }
        }
        let crc = crc32fast::hash(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        out
    }

    pub(crate) fn decode(bytes: &[u8], path: &Path) -> Result<Manifest> {
        let corrupt = |at: usize, why: String| Error::corruption(path, at as u64, why);
        let (body, stored) =
            split_crc(bytes).ok_or_else(|| corrupt(0, "file shorter than its CRC".into()))?;
        let computed = crc32fast::hash(body);
        if computed != stored {
            return Err(corrupt(
                body.len(),
                format!("CRC mismatch: stored {stored:#010x}, computed {computed:#010x}"),
            ));
        }
        let mut c = Cursor::new(body);
        let e = |err: tsdb_compress::Error| Error::corruption(path, 0, err.to_string());
        if c.bytes(4, "magic").map_err(e)? != MAGIC {
            return Err(corrupt(0, "not a manifest file".into()));
        }
        let version = c.u8("version").map_err(e)?;
        if version != VERSION {
            return Err(Error::UnsupportedFormat {
                path: path.to_path_buf(),
                what: "manifest version",
                found: u64::from(version),
            });
        }
        let generation = c.uvarint("generation").map_err(e)?;
        let persisted_until =
            i64::from_le_bytes(c.u64_le("persisted_until").map_err(e)?.to_le_bytes());
        let next_seq = c.u32_le("next_seq").map_err(e)?;
        let n = c.uvarint("segment count").map_err(e)?;
        let seq = |c: &mut Cursor<'_>, what: &'static str| -> Result<u32> {
            let at = c.position();
            let v = c.uvarint(what).map_err(e)?;
            u32::try_from(v).map_err(|_| corrupt(at, format!("{what} {v} exceeds u32")))
        };
        let mut segments = Vec::new();
        // each entry takes at least 7 bytes: never trust the count to allocate
        for _ in 0..n.min(c.remaining() as u64) {
            let at = c.position();
            let entry_seq = seq(&mut c, "segment number")?;
            let min_t = c.varint("min_t").map_err(e)?;
            let max_t = c.varint("max_t").map_err(e)?;
            let resolution_ms = c.uvarint("resolution").map_err(e)?;
            let level_at = c.position();
            let level = c.uvarint("level").map_err(e)?;
            let level = u32::try_from(level)
                .map_err(|_| corrupt(level_at, format!("level {level} exceeds u32")))?;
            let mut lists = [Vec::new(), Vec::new()];
            for list in &mut lists {
                let len = c.uvarint("list length").map_err(e)?;
                for _ in 0..len.min(c.remaining() as u64) {
                    list.push(seq(&mut c, "source segment number")?);
                }
            }
            if max_t <= min_t {
                return Err(corrupt(
                    at,
                    format!("segment {entry_seq}: empty time range"),
                ));
            }
            if entry_seq >= next_seq {
                return Err(corrupt(
                    at,
                    format!("segment {entry_seq} is not below next_seq {next_seq}"),
                ));
            }
            let [sources, parents] = lists;
            segments.push(SegmentEntry {
                seq: entry_seq,
                min_t,
                max_t,
                resolution_ms,
                level,
                sources,
                parents,
            });
        }
        if segments.len() as u64 != n || c.remaining() != 0 {
            return Err(corrupt(
                c.position(),
                "entry count disagrees with the file".into(),
            ));
        }
        Ok(Manifest {
            generation,
            persisted_until,
            next_seq,
            segments,
        })
    }

    /// Reads the manifest of data directory `dir`; `None` when there is none.
    pub(crate) fn load(fs: &dyn Fs, dir: &Path) -> Result<Option<Manifest>> {
        match atomic_file::read(fs, dir, MANIFEST_FILE)? {
            Some(bytes) => Manifest::decode(&bytes, &dir.join(MANIFEST_FILE)).map(Some),
            None => Ok(None),
        }
    }

    /// Commits `self` as the manifest of `dir`, durably, with the next generation number.
    pub(crate) fn commit(&mut self, fs: &dyn Fs, dir: &Path) -> Result<()> {
        let mut next = self.clone();
        next.generation = next.generation.wrapping_add(1);
        atomic_file::replace(fs, dir, MANIFEST_FILE, &next.encode())?;
        *self = next;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use proptest::prelude::*;

    fn sample() -> Manifest {
        Manifest {
            generation: 7,
            persisted_until: 1_700_000_000_000,
            next_seq: 12,
            segments: vec![
                SegmentEntry {
                    seq: 3,
                    min_t: -5,
                    max_t: 7_200_000,
                    resolution_ms: 0,
                    level: 0,
                    sources: vec![],
                    parents: vec![],
                },
                SegmentEntry {
                    seq: 11,
                    min_t: 7_200_000,
                    max_t: 21_600_000,
                    resolution_ms: 60_000,
                    level: 2,
                    sources: vec![4, 5, 6],
                    parents: vec![9, 10],
                },
            ],
        }
    }

    #[test]
    fn round_trips() {
        let m = sample();
        assert_eq!(Manifest::decode(&m.encode(), Path::new("M")).unwrap(), m);
        let empty = Manifest::empty();
        assert_eq!(
            Manifest::decode(&empty.encode(), Path::new("M")).unwrap(),
            empty
        );
    }

    #[test]
    fn every_flipped_byte_and_every_truncation_is_refused() {
        let bytes = sample().encode();
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0x41;
            assert!(Manifest::decode(&b, Path::new("M")).is_err(), "flip at {i}");
            assert!(
                Manifest::decode(&bytes[..i], Path::new("M")).is_err(),
                "cut at {i}"
            );
        }
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = Manifest::decode(&bytes, Path::new("M"));
            // with a valid CRC the body decoder is reached too
            let mut b = bytes.clone();
            b.extend_from_slice(&crc32fast::hash(&bytes).to_le_bytes());
            let _ = Manifest::decode(&b, Path::new("M"));
        }
    }
}
