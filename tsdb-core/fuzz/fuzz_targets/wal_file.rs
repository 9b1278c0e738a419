//! Arbitrary bytes as a write-ahead log file through the reader and the record decoder, with
//! exactly the rules recovery applies. Nothing may panic, and whatever decodes must be
//! what the bytes say: every record re-encodes to the payload bytes it came from.
//!
//! The first input byte picks the mode:
//! - `0`: the rest is a log file as is (bit 7 of the mode byte: is it the last
//!   log file, where a torn tail is allowed);
//! - `1`: the rest is a list of `(type, u16 length, payload)` chunks that are framed with
//!   valid CRCs behind a valid header, so the fuzzer reaches the payload decoders;
//! - `2`: the rest is `type` then one payload for `Record::decode`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tsdb_core::wal::{inspect_file, Record, FileEnd, FILE_HEADER_LEN};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let last = mode & 0x80 != 0;
    match mode & 0x7f {
        0 => check_file(rest, last),
        1 => check_file(&frame_chunks(rest), last),
        2 => {
            if let Some((&typ, payload)) = rest.split_first() {
                if let Ok(r) = Record::decode(typ, payload) {
                    assert_reencodes(&r, payload);
                }
            }
        }
        _ => {}
    }
});

fn check_file(bytes: &[u8], last: bool) {
    let scan = inspect_file(bytes, last);
    let mut expect_at = FILE_HEADER_LEN;
    for (offset, rec) in &scan.records {
        assert_eq!(*offset, expect_at, "records are contiguous");
        let o = *offset as usize;
        let len = u32::from_le_bytes(bytes[o + 1..o + 5].try_into().unwrap()) as usize;
        assert_eq!(bytes[o], rec.type_byte());
        assert_reencodes(rec, &bytes[o + 9..o + 9 + len]);
        expect_at += 9 + len as u64;
    }
    match scan.end {
        FileEnd::Clean => assert_eq!(expect_at, bytes.len() as u64),
        FileEnd::Torn { offset, .. } => {
            assert!(last, "a torn tail only in the last log file");
            assert!(offset == expect_at || (offset == 0 && scan.records.is_empty()));
        }
        FileEnd::Corrupt { record_offset, offset, .. } => {
            assert!(record_offset == expect_at || (record_offset == 0 && scan.records.is_empty()));
            assert!(offset >= record_offset && offset <= bytes.len() as u64);
        }
        FileEnd::UnsupportedVersion(v) => assert_ne!(v, 1),
        _ => {}
    }
}

fn assert_reencodes(rec: &Record, payload: &[u8]) {
    let mut again = Vec::new();
    rec.encode_payload(&mut again).unwrap();
    assert_eq!(again, payload, "decode is the inverse of encode");
}

/// Builds a log file with a valid header and validly checksummed frames from
/// `(type, u16 LE length, payload)` chunks of `data`.
fn frame_chunks(mut data: &[u8]) -> Vec<u8> {
    let mut out = b"TSWL\x01\0\0\0".to_vec();
    while let [typ, a, b, rest @ ..] = data {
        let n = (u16::from_le_bytes([*a, *b]) as usize).min(rest.len());
        let payload = &rest[..n];
        let len = n as u32;
        let mut h = crc32fast::Hasher::new();
        h.update(&[*typ]);
        h.update(&len.to_le_bytes());
        h.update(payload);
        out.push(*typ);
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&h.finalize().to_le_bytes());
        out.extend_from_slice(payload);
        data = &rest[n..];
    }
    out.extend_from_slice(data);
    out
}
