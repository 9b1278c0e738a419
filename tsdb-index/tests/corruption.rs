//! Flipped, truncated and extended bytes of a written index are refused with a typed
//! error, and bytes that are corrupt *behind valid checksums* (as a fuzzer would craft
//! them) give typed errors or answers, never a panic.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use tsdb_index::{DiskIndex, Error, IndexWriter, Labels, Matcher, MemIndex};

/// The sample below as written by format version 1 (before scopes), kept to check that
/// version 1 files still open. Series ids there are insertion order.
const V1_SAMPLE: &[u8] = include_bytes!("data/v1-sample.idx");

fn sample_series() -> Vec<Labels> {
    (0..24)
        .map(|i| {
            Labels::new([
                ("__name__", if i % 3 == 0 { "up" } else { "cpu_seconds" }),
                ("host", &format!("h{}", i % 8)),
                ("region", if i % 2 == 0 { "eu-west-1" } else { "us-east-1" }),
                ("mode", &format!("m{}", i / 8)),
            ])
            .unwrap()
        })
        .collect()
}

fn sample() -> Vec<u8> {
    let mut series = sample_series();
    series.sort();
    let mut w = IndexWriter::new();
    for l in &series {
        w.add(l).unwrap();
    }
    w.finish_to_vec().unwrap()
}

/// An index with a scope: 1,100 series of `up` (the scope) and a few others.
fn scoped_sample() -> Vec<u8> {
    let mut series: Vec<Labels> = (0..1100)
        .map(|i| {
            Labels::new([
                ("__name__", "up"),
                ("host", &format!("h{}", i % 8)),
                ("region", if i % 2 == 0 { "eu-west-1" } else { "us-east-1" }),
                ("mode", &format!("m{i}")),
            ])
            .unwrap()
        })
        .collect();
    series.extend(sample_series());
    series.sort();
    series.dedup();
    let mut w = IndexWriter::new();
    for l in &series {
        w.add(l).unwrap();
    }
    w.finish_to_vec().unwrap()
}

/// Length of the table of contents of an index in format `bytes[4]`.
fn toc_len(b: &[u8]) -> usize {
    sections(b) * 20 + 4
}

fn sections(b: &[u8]) -> usize {
    if b[4] == 1 {
        5
    } else {
        6
    }
}

/// `(offset, length)` of section `s`, from the table of contents.
fn section(b: &[u8], s: usize) -> (usize, usize) {
    let at = b.len() - toc_len(b) + s * 20;
    let off = u64::from_le_bytes(b[at..at + 8].try_into().unwrap()) as usize;
    let len = u64::from_le_bytes(b[at + 8..at + 16].try_into().unwrap()) as usize;
    (off, len)
}

fn queries() -> Vec<Vec<Matcher>> {
    vec![
        vec![Matcher::equal("__name__", "up")],
        vec![
            Matcher::equal("host", "h3"),
            Matcher::not_equal("region", "eu-west-1"),
        ],
        vec![Matcher::regex("host", "h1|h2|h9").unwrap()],
        vec![
            Matcher::regex("region", "us.*").unwrap(),
            Matcher::equal("mode", ""),
        ],
        vec![Matcher::regex("mode", "m[01]").unwrap()],
        vec![
            Matcher::regex("host", ".+").unwrap(),
            Matcher::not_regex("mode", "m2").unwrap(),
        ],
    ]
}

fn is_corruption(e: &Error) -> bool {
    matches!(
        e,
        Error::Corrupt { .. } | Error::ChecksumMismatch { .. } | Error::Unsupported { .. }
    )
}

/// Runs every read path; every error must be a corruption error.
fn exercise(d: &DiskIndex<'_>) {
    let check = |r: Result<(), Error>| {
        if let Err(e) = r {
            assert!(is_corruption(&e), "unexpected error kind: {e}");
        }
    };
    for q in queries() {
        check(d.select(&q).map(drop));
        check(d.label_values("host", &q).map(drop));
        check(d.label_names(&q).map(drop));
    }
    let up = Matcher::equal("__name__", "up");
    for q in [
        vec![up.clone(), Matcher::equal("region", "eu-west-1")],
        vec![up.clone(), Matcher::regex("host", "h1|h2").unwrap()],
        vec![up.clone(), Matcher::not_regex("region", "eu.*").unwrap()],
        vec![up.clone(), Matcher::equal("mode", "m7")],
        vec![up, Matcher::equal("absent", "")],
    ] {
        check(d.select(&q).map(drop));
        check(d.label_values("host", &q).map(drop));
    }
    check(d.label_names(&[]).map(drop));
    check(d.label_values("region", &[]).map(drop));
    check(d.stats(3).map(drop));
    for id in 0..d.num_series().min(64) {
        check(d.labels(id).map(drop));
    }
}

#[test]
fn the_sample_is_readable() {
    let bytes = sample();
    let d = DiskIndex::open(&bytes).unwrap();
    assert_eq!(d.len(), 24);
    assert_eq!(d.select(&queries()[0]).unwrap().len(), 8);
    exercise(&d);
}

#[test]
fn every_flipped_byte_is_detected() {
    let bytes = sample();
    for i in 0..bytes.len() {
        for x in [0x01u8, 0x80, 0xff] {
            let mut b = bytes.clone();
            b[i] ^= x;
            match DiskIndex::open(&b) {
                Err(e) => assert!(is_corruption(&e), "byte {i}: {e}"),
                Ok(_) => panic!(
                    "flip {x:#x} at byte {i} of {} was not detected",
                    bytes.len()
                ),
            }
        }
    }
}

#[test]
fn every_truncation_and_extension_is_detected() {
    let bytes = sample();
    for n in 0..bytes.len() {
        let e = DiskIndex::open(&bytes[..n]).err();
        assert!(
            e.as_ref().is_some_and(is_corruption),
            "truncated to {n}: {e:?}"
        );
    }
    let mut longer = bytes.clone();
    longer.extend_from_slice(&[0; 7]);
    assert!(DiskIndex::open(&longer).is_err());
}

/// Rewrites the section and table-of-contents checksums so the damage gets past `open`.
fn fix_checksums(b: &mut [u8]) {
    let toc_len = toc_len(b);
    let toc = b.len() - toc_len;
    for s in 0..sections(b) {
        let at = toc + s * 20;
        let off = u64::from_le_bytes(b[at..at + 8].try_into().unwrap()) as usize;
        let len = u64::from_le_bytes(b[at + 8..at + 16].try_into().unwrap()) as usize;
        if off.checked_add(len).is_some_and(|e| e <= toc && off >= 8) {
            let crc = crc32fast::hash(&b[off..off + len]);
            b[at + 16..at + 20].copy_from_slice(&crc.to_le_bytes());
        }
    }
    let crc = crc32fast::hash(&b[toc..toc + toc_len - 4]);
    b[toc + toc_len - 4..].copy_from_slice(&crc.to_le_bytes());
}

#[test]
fn corruption_behind_valid_checksums_never_panics() {
    let bytes = sample();
    let mut opened = 0;
    for i in 8..bytes.len() - toc_len(&bytes) {
        for x in [0x01u8, 0x10, 0x80, 0xff] {
            let mut b = bytes.clone();
            b[i] ^= x;
            fix_checksums(&mut b);
            match DiskIndex::open(&b) {
                Ok(d) => {
                    opened += 1;
                    exercise(&d);
                }
                Err(e) => assert!(is_corruption(&e), "byte {i}: {e}"),
            }
        }
    }
    // Most damage to strings and postings passes `open` and is met lazily.
    assert!(opened > 0);
}

#[test]
fn lengths_that_point_past_the_end_are_refused_without_allocating() {
    let mut b = sample();
    // Symbol count (first field of the first section) set to u32::MAX.
    b[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
    fix_checksums(&mut b);
    match DiskIndex::open(&b) {
        Err(Error::Corrupt { offset, reason }) => {
            assert_eq!(offset, 12, "{reason}");
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
}

#[test]
fn wrong_magic_and_version_are_typed() {
    let mut b = sample();
    b[4] = 9;
    assert!(matches!(
        DiskIndex::open(&b),
        Err(Error::Unsupported { found: 9, .. })
    ));
    b[0] = b'X';
    assert!(matches!(
        DiskIndex::open(&b),
        Err(Error::Corrupt { offset: 0, .. })
    ));
}

#[test]
fn version_1_files_still_open() {
    let d = DiskIndex::open(V1_SAMPLE).unwrap();
    let mem = MemIndex::new();
    for l in sample_series() {
        mem.get_or_insert(&l).unwrap();
    }
    assert_eq!(d.len(), 24);
    for id in 0..24 {
        assert_eq!(d.labels(id).unwrap(), mem.labels(id));
    }
    for q in queries() {
        assert_eq!(d.select(&q).unwrap(), mem.select(&q).unwrap(), "{q:?}");
    }
    assert_eq!(d.stats(3).unwrap(), mem.stats(3));
    exercise(&d);
    for i in 8..V1_SAMPLE.len() {
        let mut b = V1_SAMPLE.to_vec();
        b[i] ^= 0x10;
        assert!(
            DiskIndex::open(&b).is_err(),
            "flip at byte {i} not detected"
        );
    }
}

#[test]
fn labels_out_of_order_behind_valid_checksums_are_corrupt() {
    let mut b = sample();
    // Series 0's entry: pair count, then (name ref, value ref) pairs, one byte each here
    // (fewer than 128 symbols). Swap its first two pairs.
    let (off, _) = section(&b, 1);
    let count = u32::from_le_bytes(b[off..off + 4].try_into().unwrap()) as usize;
    let entry = off + 4 + 4 * (count + 1);
    assert_eq!(b[entry], 4, "four labels");
    b.copy_within(entry + 1..entry + 3, entry + 9);
    b.copy_within(entry + 3..entry + 5, entry + 1);
    b.copy_within(entry + 9..entry + 11, entry + 3);
    fix_checksums(&mut b);
    let d = DiskIndex::open(&b).unwrap();
    match d.labels(0) {
        Err(Error::Corrupt { offset, reason }) => {
            assert!(offset > entry && offset < entry + 10, "{offset}: {reason}");
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
    assert!(d.labels(1).unwrap().is_some());
}

#[test]
fn the_scoped_sample_has_a_scope_and_answers_like_memory() {
    let b = scoped_sample();
    let d = DiskIndex::open(&b).unwrap();
    let (_, scope_len) = section(&b, 5);
    assert!(scope_len > 1000, "scope section of {scope_len} bytes");
    let mem = MemIndex::new();
    for id in 0..d.num_series() {
        mem.get_or_insert(&d.labels(id).unwrap().unwrap()).unwrap();
    }
    let q = [
        Matcher::equal("__name__", "up"),
        Matcher::regex("host", "h1|h2").unwrap(),
        Matcher::not_equal("region", "eu-west-1"),
    ];
    assert_eq!(d.select(&q).unwrap(), mem.select(&q).unwrap());
    // host h1 (i % 8 == 1) is always in us-east-1, host h2 never.
    assert_eq!(d.select(&q).unwrap().len(), 138);
    exercise(&d);
}

#[test]
fn damage_to_scopes_behind_valid_checksums_never_panics() {
    let bytes = scoped_sample();
    let (off, len) = section(&bytes, 5);
    // The records (about 200 bytes here) and the start of the bitsets, every byte; the
    // rest of the bitsets is plain data (wrong bits give wrong answers, not errors).
    let mut opened = 0;
    for i in off..off + len.min(320) {
        for x in [0x01u8, 0xff] {
            let mut b = bytes.clone();
            b[i] ^= x;
            fix_checksums(&mut b);
            match DiskIndex::open(&b) {
                Ok(d) => {
                    opened += 1;
                    exercise(&d);
                }
                Err(e) => assert!(is_corruption(&e), "byte {i}: {e}"),
            }
        }
    }
    assert!(opened > 0);
}

mod random_bytes {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..400)) {
            if let Ok(d) = DiskIndex::open(&data) {
                exercise(&d);
            }
        }

        /// Random edits of the scopes section with checksums fixed up.
        #[test]
        fn random_scope_edits_never_panic(
            edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6)
        ) {
            let mut b = scoped_sample();
            let (off, len) = section(&b, 5);
            for (at, v) in edits {
                b[off + at.index(len)] = v;
            }
            fix_checksums(&mut b);
            if let Ok(d) = DiskIndex::open(&b) {
                exercise(&d);
            }
        }

        /// Random edits of a valid index with checksums fixed up: deeper than byte flips.
        #[test]
        fn random_edits_behind_checksums_never_panic(
            edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6)
        ) {
            let mut b = sample();
            let body = 8..b.len() - toc_len(&b);
            for (at, v) in edits {
                let i = body.start + at.index(body.len());
                b[i] = v;
            }
            fix_checksums(&mut b);
            if let Ok(d) = DiskIndex::open(&b) {
                exercise(&d);
            }
        }
    }
}
