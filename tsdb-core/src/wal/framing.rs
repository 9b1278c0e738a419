//! Bytes on disk below the record level: the log file header and the record frame
//! (type, length, CRC32, payload). Layouts in `FORMAT-wal.md`.
//!
//! Everything here works on byte slices and never panics: parsing takes the bytes that
//! exist and reports what is missing.

/// The four bytes every log file starts with.
pub const FILE_MAGIC: [u8; 4] = *b"TSWL";

/// The format version written into every log file header (see the version history in
/// `FORMAT-wal.md`).
pub const FORMAT_VERSION: u8 = 1;

/// Length of the log file header: magic, version, three reserved zero bytes.
pub const FILE_HEADER_LEN: u64 = 8;

/// Length of a record frame's header: type (1), payload length (4), CRC32 (4).
pub const FRAME_HEADER_LEN: u64 = 9;

/// The largest payload one record can carry (its length field is a `u32`).
pub const MAX_PAYLOAD_LEN: u64 = u32::MAX as u64;

/// Record type bytes. 0 is reserved so that zero-filled space never parses as a header;
/// 3 (per-series tombstones) is retired: no `Db` ever wrote it (deletions live in the
/// tombstones file), and it must not be reused for something else.
pub(crate) const TYPE_SERIES: u8 = 1;
pub(crate) const TYPE_SAMPLES: u8 = 2;

/// True for a record type this version can decode.
pub(crate) fn is_known_type(t: u8) -> bool {
    matches!(t, TYPE_SERIES | TYPE_SAMPLES)
}

/// The header of a log file written by this version.
#[expect(
    clippy::cast_possible_truncation,
    reason = "FILE_HEADER_LEN is the constant 8"
)]
pub fn file_header() -> [u8; FILE_HEADER_LEN as usize] {
    let [a, b, c, d] = FILE_MAGIC;
    [a, b, c, d, FORMAT_VERSION, 0, 0, 0]
}

/// What the first bytes of a log file say.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum HeaderCheck {
    /// A valid header of this version.
    Valid,
    /// Too short, but every byte present matches the header or is zero: a log file
    /// whose creation was torn by a crash. Holds no records.
    Torn,
    /// A header from an unknown format version.
    UnsupportedVersion(u8),
    /// Anything else.
    Invalid(&'static str),
}

/// Checks the first `FILE_HEADER_LEN` bytes of a log file (`bytes` may be shorter if the
/// file is).
pub(crate) fn check_header(bytes: &[u8]) -> HeaderCheck {
    let want = file_header();
    let n = bytes.len().min(want.len());
    let (Some(got), Some(expect)) = (bytes.get(..n), want.get(..n)) else {
        return HeaderCheck::Invalid("unreadable header");
    };
    if n < want.len() {
        return if got == expect || got.iter().all(|&b| b == 0) {
            HeaderCheck::Torn
        } else {
            HeaderCheck::Invalid("short log file header")
        };
    }
    if got.iter().all(|&b| b == 0) {
        return HeaderCheck::Torn;
    }
    if got.get(..4) != Some(&FILE_MAGIC[..]) {
        return HeaderCheck::Invalid("bad log file magic");
    }
    match got.get(4) {
        Some(&FORMAT_VERSION) => {}
        Some(&v) => return HeaderCheck::UnsupportedVersion(v),
        None => return HeaderCheck::Invalid("short log file header"),
    }
    if got.get(5..8).is_some_and(|r| r.iter().any(|&b| b != 0)) {
        return HeaderCheck::Invalid("reserved log file header bytes are not zero");
    }
    HeaderCheck::Valid
}

/// A parsed frame header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FrameHeader {
    pub typ: u8,
    pub len: u32,
    pub crc: u32,
}

impl FrameHeader {
    /// Parses the 9 header bytes; `None` if fewer are given.
    pub(crate) fn parse(b: &[u8]) -> Option<FrameHeader> {
        let typ = *b.first()?;
        let len = u32::from_le_bytes(b.get(1..5)?.try_into().ok()?);
        let crc = u32::from_le_bytes(b.get(5..9)?.try_into().ok()?);
        Some(FrameHeader { typ, len, crc })
    }

    /// Frame length including the header.
    pub(crate) fn frame_len(&self) -> u64 {
        FRAME_HEADER_LEN + u64::from(self.len)
    }

    /// The CRC32 this header should carry for `payload`.
    pub(crate) fn computed_crc(&self, payload: &[u8]) -> u32 {
        frame_crc(self.typ, self.len, payload)
    }
}

/// CRC32 (IEEE, crc32fast) over type, little-endian length and payload.
pub(crate) fn frame_crc(typ: u8, len: u32, payload: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&[typ]);
    h.update(&len.to_le_bytes());
    h.update(payload);
    h.finalize()
}

/// Starts a frame of type `typ` at the end of `out`; write the payload after it, then
/// call [`finish_frame`] with the returned start.
pub(crate) fn begin_frame(out: &mut Vec<u8>, typ: u8) -> usize {
    let start = out.len();
    out.push(typ);
    out.extend_from_slice(&[0; 8]);
    start
}

/// Fills in length and CRC of the frame begun at `start`. `Err(len)` if the payload is
/// longer than [`MAX_PAYLOAD_LEN`] (the frame is then removed from `out`).
pub(crate) fn finish_frame(out: &mut Vec<u8>, start: usize) -> Result<(), u64> {
    #[expect(
        clippy::cast_possible_truncation,
        reason = "FRAME_HEADER_LEN is the constant 9"
    )]
    let payload_start = start + FRAME_HEADER_LEN as usize;
    let payload_len = out.len().saturating_sub(payload_start);
    let Ok(len) = u32::try_from(payload_len) else {
        out.truncate(start);
        return Err(payload_len as u64);
    };
    let (Some(&typ), Some(payload)) = (out.get(start), out.get(payload_start..)) else {
        out.truncate(start);
        return Err(0);
    };
    let crc = frame_crc(typ, len, payload);
    if let Some(h) = out.get_mut(start + 1..payload_start) {
        h[..4].copy_from_slice(&len.to_le_bytes());
        h[4..].copy_from_slice(&crc.to_le_bytes());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_checks() {
        let h = file_header();
        assert_eq!(check_header(&h), HeaderCheck::Valid);
        assert_eq!(check_header(&h[..3]), HeaderCheck::Torn);
        assert_eq!(check_header(&[]), HeaderCheck::Torn);
        assert_eq!(check_header(&[0; 8]), HeaderCheck::Torn);
        assert_eq!(check_header(&[0; 5]), HeaderCheck::Torn);
        assert!(matches!(check_header(b"TSWX"), HeaderCheck::Invalid(_)));
        assert!(matches!(
            check_header(b"XSWL\x01\0\0\0"),
            HeaderCheck::Invalid(_)
        ));
        assert_eq!(
            check_header(b"TSWL\x02\0\0\0"),
            HeaderCheck::UnsupportedVersion(2)
        );
        assert!(matches!(
            check_header(b"TSWL\x01\0\x01\0"),
            HeaderCheck::Invalid(_)
        ));
    }

    #[test]
    fn frame_round_trip() {
        let mut out = vec![0xAA];
        let s = begin_frame(&mut out, TYPE_SAMPLES);
        out.extend_from_slice(b"payload");
        finish_frame(&mut out, s).unwrap();
        let h = FrameHeader::parse(&out[1..]).unwrap();
        assert_eq!(h.typ, TYPE_SAMPLES);
        assert_eq!(h.len, 7);
        assert_eq!(h.frame_len(), 16);
        assert_eq!(h.crc, h.computed_crc(b"payload"));
        assert_ne!(h.crc, h.computed_crc(b"payloaD"));
        assert!(FrameHeader::parse(&out[1..9]).is_none());
    }

    #[test]
    fn zero_header_never_validates() {
        let h = FrameHeader::parse(&[0; 9]).unwrap();
        assert!(!is_known_type(h.typ));
        assert_ne!(h.computed_crc(&[]), 0);
    }
}
