//! Deletions: `delete(matchers, mint, maxt)` requests, kept as a small durable list and
//! honoured at read time across the head and every segment alike (Prometheus keeps
//! per-block tombstones; one list keyed by matchers covers data that moves from the head
//! into segments without rewriting anything). The compactor will drop deleted data
//! physically; until then the list only grows by one entry per request.
//!
//! File `tombstones` in the data directory (layout in `FORMAT-segment.md`), rewritten
//! whole through a temporary file, fsync, rename and directory fsync.

use std::path::Path;

use tsdb_encoding::{put_uvarint, split_crc, Cursor};
use tsdb_index::{Labels, MatchOp, Matcher};

use crate::atomic_file;
use crate::error::{Error, Result};
use crate::fs::Fs;

pub(crate) const TOMBSTONES_FILE: &str = "tombstones";
const MAGIC: &[u8; 4] = b"TSTB";
const VERSION: u8 = 1;

/// One deletion request.
#[derive(Clone, Debug)]
pub(crate) struct Deletion {
    pub(crate) matchers: Vec<Matcher>,
    pub(crate) mint: i64,
    pub(crate) maxt: i64,
}

impl Deletion {
    fn matches(&self, labels: &Labels) -> bool {
        self.matchers
            .iter()
            .all(|m| m.matches(labels.get(m.name()).unwrap_or("")))
    }
}

/// The deleted intervals of the series with `labels`, or none.
pub(crate) fn intervals_for(deletions: &[Deletion], labels: &Labels) -> Vec<(i64, i64)> {
    deletions
        .iter()
        .filter(|d| d.matches(labels))
        .map(|d| (d.mint, d.maxt))
        .collect()
}

fn op_byte(op: MatchOp) -> u8 {
    match op {
        MatchOp::Equal => 0,
        MatchOp::NotEqual => 1,
        MatchOp::RegexMatch => 2,
        MatchOp::RegexNoMatch => 3,
    }
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_uvarint(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

pub(crate) fn encode(deletions: &[Deletion]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(MAGIC);
    out.push(VERSION);
    put_uvarint(&mut out, deletions.len() as u64);
    for d in deletions {
        out.extend_from_slice(&d.mint.to_le_bytes());
        out.extend_from_slice(&d.maxt.to_le_bytes());
        put_uvarint(&mut out, d.matchers.len() as u64);
        for m in &d.matchers {
            out.push(op_byte(m.op()));
            put_str(&mut out, m.name());
            put_str(&mut out, m.value());
        }
    }
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

pub(crate) fn decode(bytes: &[u8], path: &Path) -> Result<Vec<Deletion>> {
    let corrupt = |at: usize, why: String| Error::corruption(path, at as u64, why);
    let (body, stored) =
        split_crc(bytes).ok_or_else(|| corrupt(0, "file shorter than its CRC".into()))?;
    if crc32fast::hash(body) != stored {
        return Err(corrupt(body.len(), "CRC mismatch".into()));
    }
    let mut c = Cursor::new(body);
    let e =
        |err: tsdb_encoding::DecodeError| Error::corruption(path, err.offset as u64, err.reason);
    if c.bytes(4, "magic").map_err(e)? != MAGIC {
        return Err(corrupt(0, "not a tombstones file".into()));
    }
    let version = c.u8("version").map_err(e)?;
    if version != VERSION {
        return Err(Error::UnsupportedFormat {
            path: path.to_path_buf(),
            what: "tombstones version",
            found: u64::from(version),
        });
    }
    let n = c.uvarint("count").map_err(e)?;
    let mut out = Vec::new();
    for _ in 0..n.min(c.remaining() as u64) {
        let mint = c.i64_le("mint").map_err(e)?;
        let maxt = c.i64_le("maxt").map_err(e)?;
        let nm = c.uvarint("matcher count").map_err(e)?;
        let mut matchers = Vec::new();
        for _ in 0..nm.min(c.remaining() as u64) {
            let op = match c.u8("op").map_err(e)? {
                0 => MatchOp::Equal,
                1 => MatchOp::NotEqual,
                2 => MatchOp::RegexMatch,
                3 => MatchOp::RegexNoMatch,
                other => return Err(corrupt(c.position(), format!("matcher op {other}"))),
            };
            let mut string = |what| -> Result<String> {
                let len = c.uvarint(what).map_err(e)?;
                let len = usize::try_from(len).unwrap_or(usize::MAX);
                let b = c.bytes(len, what).map_err(e)?;
                String::from_utf8(b.to_vec()).map_err(|_| corrupt(c.position(), "not UTF-8".into()))
            };
            let name = string("name")?;
            let value = string("value")?;
            matchers.push(Matcher::new(op, name, value)?);
        }
        out.push(Deletion {
            matchers,
            mint,
            maxt,
        });
    }
    if c.remaining() != 0 {
        return Err(corrupt(c.position(), "trailing bytes".into()));
    }
    Ok(out)
}

/// Replaces the tombstones file of `dir` with `deletions`, durably.
pub(crate) fn store(fs: &dyn Fs, dir: &Path, deletions: &[Deletion]) -> Result<()> {
    atomic_file::replace(fs, dir, TOMBSTONES_FILE, &encode(deletions))
}

/// Reads the tombstones file of `dir`; none when it does not exist.
pub(crate) fn load(fs: &dyn Fs, dir: &Path) -> Result<Vec<Deletion>> {
    match atomic_file::read(fs, dir, TOMBSTONES_FILE)? {
        Some(bytes) => decode(&bytes, &dir.join(TOMBSTONES_FILE)),
        None => Ok(Vec::new()),
    }
}
