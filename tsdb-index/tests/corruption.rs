//! Flipped, truncated and extended bytes of a written index are refused with a typed
//! error, and bytes that are corrupt *behind valid checksums* (as a fuzzer would craft
//! them) give typed errors or answers, never a panic.
// Helpers below build fixtures; a panic in them is a failed test, as clippy.toml allows
// in the tests themselves.
#![allow(clippy::unwrap_used)]

use tsdb_index::{DiskIndex, Error, Labels, Matcher, MemIndex};

fn sample() -> Vec<u8> {
    let idx = MemIndex::new();
    for i in 0..24 {
        let l = Labels::new([
            ("__name__", if i % 3 == 0 { "up" } else { "cpu_seconds" }),
            ("host", &format!("h{}", i % 8)),
            ("region", if i % 2 == 0 { "eu-west-1" } else { "us-east-1" }),
            ("mode", &format!("m{}", i / 8)),
        ])
        .unwrap();
        idx.get_or_insert(&l).unwrap();
    }
    idx.to_bytes().unwrap()
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
    let toc = b.len() - 104;
    for s in 0..5 {
        let at = toc + s * 20;
        let off = u64::from_le_bytes(b[at..at + 8].try_into().unwrap()) as usize;
        let len = u64::from_le_bytes(b[at + 8..at + 16].try_into().unwrap()) as usize;
        if off.checked_add(len).is_some_and(|e| e <= toc && off >= 8) {
            let crc = crc32fast::hash(&b[off..off + len]);
            b[at + 16..at + 20].copy_from_slice(&crc.to_le_bytes());
        }
    }
    let crc = crc32fast::hash(&b[toc..toc + 100]);
    b[toc + 100..].copy_from_slice(&crc.to_le_bytes());
}

#[test]
fn corruption_behind_valid_checksums_never_panics() {
    let bytes = sample();
    let mut opened = 0;
    for i in 8..bytes.len() - 104 {
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

        /// Random edits of a valid index with checksums fixed up: deeper than byte flips.
        #[test]
        fn random_edits_behind_checksums_never_panic(
            edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6)
        ) {
            let mut b = sample();
            let body = 8..b.len() - 104;
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
