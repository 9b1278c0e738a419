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

use std::collections::BTreeSet;
use std::path::Path;

use tsdb_encoding::{append_crc, check_crc, put_uvarint, put_varint, Cursor, DecodeError, Header};

use crate::atomic_file;
use crate::error::{Error, Result};
use crate::fs::Fs;
use crate::wal::Lsn;

/// The manifest's file name in the data directory.
pub(crate) const MANIFEST_FILE: &str = "MANIFEST";
/// Version 2 adds each segment's tier (hot or cold). It is written only while some segment
/// is in the cold tier, so a data directory that never used the cold tier keeps a
/// version-1 manifest that older builds read; this build reads both.
const HEADER: Header = Header {
    magic: *b"TSMF",
    name: "manifest",
    version_field: "manifest version",
    version: 2,
    oldest_version: 1,
    reserved: 0,
};
/// The header of a manifest without cold segments.
const HEADER_V1: Header = Header {
    version: 1,
    ..HEADER
};
/// A segment entry's tier byte (version 2): in `segments/` of the data directory.
const TIER_HOT: u8 = 0;
/// … or in `segments/` of `Options::cold_dir`.
const TIER_COLD: u8 = 1;

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

impl SegmentEntry {
    /// A segment of raw samples cut from the head (level 0, made from no other segment).
    pub(crate) fn from_head(seq: u32, min_t: i64, max_t: i64) -> SegmentEntry {
        SegmentEntry {
            seq,
            min_t,
            max_t,
            resolution_ms: 0,
            level: 0,
            sources: Vec::new(),
            parents: Vec::new(),
        }
    }
}

/// The committed state of the data directory's persisted part.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Manifest {
    /// Incremented by every commit; a reader can tell two states apart.
    pub(crate) generation: u64,
    /// The head has been persisted up to here (exclusive): segments hold everything
    /// before it that was logged before `persisted_lsn`, and the head reads its in-order
    /// data from it on.
    pub(crate) persisted_until: i64,
    /// Where the WAL stood when the last complete persist began: a sample older than
    /// `persisted_until` logged before this position is in a segment (WAL replay skips
    /// it); one logged at or after it is a late sample that may not be (replayed into
    /// the late store).
    pub(crate) persisted_lsn: Lsn,
    /// The number the next segment directory gets.
    pub(crate) next_seq: u32,
    /// Live segments, in commit order.
    pub(crate) segments: Vec<SegmentEntry>,
    /// The live segments that are in the cold tier (`Options::cold_dir`); every other
    /// one is in the data directory. Kept beside the entries, not in them, so the steps
    /// that make entries (persist, compaction, downsampling: always hot) need not know
    /// about tiers. Numbers of segments no longer listed are dropped at the next commit.
    pub(crate) cold: BTreeSet<u32>,
}

impl Manifest {
    /// The manifest of an empty data directory.
    pub(crate) fn empty() -> Manifest {
        Manifest {
            generation: 0,
            persisted_until: i64::MIN,
            persisted_lsn: Lsn::default(),
            next_seq: 1,
            segments: Vec::new(),
            cold: BTreeSet::new(),
        }
    }

    /// True when listed segment `seq` is in the cold tier.
    pub(crate) fn is_cold(&self, seq: u32) -> bool {
        self.cold.contains(&seq)
    }

    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(32 + self.segments.len() * 24);
        let any_cold = self.segments.iter().any(|s| self.is_cold(s.seq));
        if any_cold {
            HEADER.write(&mut out);
        } else {
            HEADER_V1.write(&mut out);
        }
        put_uvarint(&mut out, self.generation);
        out.extend_from_slice(&self.persisted_until.to_le_bytes());
        out.extend_from_slice(&self.persisted_lsn.file.to_le_bytes());
        out.extend_from_slice(&self.persisted_lsn.offset.to_le_bytes());
        out.extend_from_slice(&self.next_seq.to_le_bytes());
        put_uvarint(&mut out, self.segments.len() as u64);
        for s in &self.segments {
            put_uvarint(&mut out, u64::from(s.seq));
            put_varint(&mut out, s.min_t);
            put_varint(&mut out, s.max_t);
            put_uvarint(&mut out, s.resolution_ms);
            put_uvarint(&mut out, u64::from(s.level));
            if any_cold {
                out.push(if self.is_cold(s.seq) {
                    TIER_COLD
                } else {
                    TIER_HOT
                });
            }
            for list in [&s.sources, &s.parents] {
                put_uvarint(&mut out, list.len() as u64);
                for &seq in list {
                    put_uvarint(&mut out, u64::from(seq));
                }
            }
        }
        append_crc(&mut out);
        out
    }

    pub(crate) fn decode(bytes: &[u8], path: &Path) -> Result<Manifest> {
        Manifest::decode_body(bytes).map_err(|e| Error::decode(path, e))
    }

    fn decode_body(bytes: &[u8]) -> tsdb_encoding::Result<Manifest> {
        let mut c = Cursor::new(check_crc(bytes, "manifest")?);
        let version = HEADER.read(&mut c)?;
        let generation = c.uvarint("generation")?;
        let persisted_until = c.i64_le("persisted_until")?;
        let persisted_lsn = Lsn {
            file: c.u32_le("persisted_lsn file")?,
            offset: c.u64_le("persisted_lsn offset")?,
        };
        let next_seq = c.u32_le("next_seq")?;
        // every entry takes at least 7 bytes: the count is checked before anything is
        // allocated from it
        let n = c.count(7, "segment")?;
        let mut segments = Vec::with_capacity(n);
        let mut cold = BTreeSet::new();
        for _ in 0..n {
            let at = c.offset();
            let seq = c.uvarint32("segment number")?;
            let min_t = c.varint("min_t")?;
            let max_t = c.varint("max_t")?;
            let resolution_ms = c.uvarint("resolution")?;
            let level = c.uvarint32("level")?;
            if version >= 2 {
                let tier_at = c.offset();
                match c.u8("tier")? {
                    TIER_HOT => {}
                    TIER_COLD => {
                        cold.insert(seq);
                    }
                    t => {
                        return Err(DecodeError::malformed(
                            tier_at,
                            format!("segment {seq}: unknown tier {t}"),
                        ))
                    }
                }
            }
            let mut lists = [Vec::new(), Vec::new()];
            for list in &mut lists {
                let len = c.count(1, "source segment")?;
                for _ in 0..len {
                    list.push(c.uvarint32("source segment number")?);
                }
            }
            if max_t <= min_t {
                return Err(DecodeError::malformed(
                    at,
                    format!("segment {seq}: empty time range"),
                ));
            }
            if seq >= next_seq {
                return Err(DecodeError::malformed(
                    at,
                    format!("segment {seq} is not below next_seq {next_seq}"),
                ));
            }
            let [sources, parents] = lists;
            segments.push(SegmentEntry {
                seq,
                min_t,
                max_t,
                resolution_ms,
                level,
                sources,
                parents,
            });
        }
        c.expect_end("manifest")?;
        Ok(Manifest {
            generation,
            persisted_until,
            persisted_lsn,
            next_seq,
            segments,
            cold,
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
        let listed: BTreeSet<u32> = next.segments.iter().map(|s| s.seq).collect();
        next.cold.retain(|seq| listed.contains(seq));
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
            persisted_lsn: Lsn {
                file: 9,
                offset: 4096,
            },
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
            cold: BTreeSet::new(),
        }
    }

    fn with_cold() -> Manifest {
        Manifest {
            cold: [3].into(),
            ..sample()
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
    fn version_2_only_with_cold_segments() {
        // without cold segments, the bytes are those of version 1 (older builds read them)
        let v1 = sample().encode();
        assert_eq!(v1[4], 1);
        let m = with_cold();
        let v2 = m.encode();
        assert_eq!(v2[4], 2);
        assert_eq!(v2.len(), v1.len() + 2, "one tier byte per segment");
        let back = Manifest::decode(&v2, Path::new("M")).unwrap();
        assert_eq!(back, m);
        assert!(back.is_cold(3) && !back.is_cold(11));
        // a cold number no longer listed is not written
        let stale = Manifest {
            cold: [99].into(),
            ..sample()
        };
        assert_eq!(stale.encode(), v1);
    }

    #[test]
    fn an_unknown_tier_is_refused() {
        let mut body = with_cold().encode();
        body.truncate(body.len() - 4);
        // header, generation, persisted_until, persisted_lsn, next_seq, count; then the
        // first entry's seq, min_t, max_t (4 varint bytes), resolution and level
        let tier_at = HEADER.len() + 1 + 8 + 12 + 4 + 1 + 1 + 1 + 4 + 1 + 1;
        assert_eq!(body[tier_at], TIER_COLD);
        body[tier_at] = 7;
        append_crc(&mut body);
        let err = Manifest::decode(&body, Path::new("M")).unwrap_err();
        assert!(err.to_string().contains("unknown tier 7"), "{err}");
    }

    #[test]
    fn every_flipped_byte_and_every_truncation_is_refused() {
        for bytes in [sample().encode(), with_cold().encode()] {
            refused_when_damaged(&bytes);
        }
    }

    fn refused_when_damaged(bytes: &[u8]) {
        for i in 0..bytes.len() {
            let mut b = bytes.to_vec();
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
