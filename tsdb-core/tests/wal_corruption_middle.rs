//! Damage that is not a torn tail — anywhere in a middle log file, or a bad record with
//! more bytes behind it — is reported as `Error::Corruption` with the file and offset,
//! and nothing after it is silently dropped. `RecoveryMode::TruncateCorrupt` drops from
//! the damage on and says how much.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic in a test is a failed assertion

mod common;

use std::path::{Path, PathBuf};

use common::{copy_dir, replay_wal};
use tsdb_core::fs::RealFs;
use tsdb_core::wal::{inspect_file, Record, RecoveryMode, RefSample, Wal, WalOptions};
use tsdb_core::Error;

const FILE_SIZE: u64 = 200;

fn opts(recovery: RecoveryMode) -> WalOptions {
    WalOptions {
        file_size: FILE_SIZE,
        recovery,
        ..WalOptions::default()
    }
}

fn record(i: u64) -> Record {
    Record::Samples(
        (0..3)
            .map(|j| RefSample {
                series_ref: i,
                t: (i * 10 + j) as i64,
                v: i as f64,
            })
            .collect(),
    )
}

/// A log of four files, the last holding three records.
fn build(dir: &Path) -> Vec<Record> {
    let (wal, _) = Wal::open(dir, opts(RecoveryMode::Strict), |_| Ok(())).unwrap();
    let mut recs = Vec::new();
    let mut i = 0;
    let mut append = |wal: &Wal| {
        let r = record(i);
        let lsn = wal.append(std::slice::from_ref(&r)).unwrap();
        wal.sync(lsn).unwrap();
        recs.push(r);
        i += 1;
    };
    while wal.current_file().unwrap() < 4 {
        append(&wal);
    }
    append(&wal);
    append(&wal);
    assert_eq!(wal.files().unwrap(), [1, 2, 3, 4]);
    wal.close().unwrap();
    drop(wal);
    recs
}

fn records_in(path: &Path) -> usize {
    inspect_file(&std::fs::read(path).unwrap(), false)
        .records
        .len()
}

fn try_open(
    dir: &Path,
    mode: RecoveryMode,
) -> Result<(Vec<Record>, tsdb_core::wal::RecoveryReport), Error> {
    replay_wal(RealFs::arc(), dir, opts(mode))
}

#[test]
fn every_flipped_byte_of_a_middle_file_is_reported_where_it_is() {
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path().join("base");
    let recs = build(&base);
    let seg2: PathBuf = base.join("00000002");
    let bytes = std::fs::read(&seg2).unwrap();
    let scan = inspect_file(&bytes, false);
    let starts: Vec<u64> = scan.records.iter().map(|(o, _)| *o).collect();
    assert!(starts.len() >= 2, "log file 2 holds several records");
    let before = records_in(&base.join("00000001"));
    let after = records_in(&base.join("00000003")) + records_in(&base.join("00000004"));

    for i in 0..bytes.len() {
        let dir = tmp.path().join(format!("flip{i}"));
        copy_dir(&base, &dir);
        let mut damaged = bytes.clone();
        damaged[i] ^= 0x5a;
        std::fs::write(dir.join("00000002"), &damaged).unwrap();

        let strict = try_open(&dir, RecoveryMode::Strict);
        if i == 4 {
            // The version byte: an unknown version is refused, never repaired.
            assert!(
                matches!(strict, Err(Error::UnsupportedFormat { .. })),
                "{strict:?}"
            );
            std::fs::remove_dir_all(&dir).unwrap();
            continue;
        }
        match strict {
            Err(Error::Corruption {
                path,
                offset,
                reason,
            }) => {
                assert!(path.ends_with("00000002"), "byte {i}: {path:?}");
                // The damaged record's start (or 0 for the header).
                let want = starts
                    .iter()
                    .copied()
                    .filter(|&s| s <= i as u64)
                    .max()
                    .unwrap_or(0);
                assert_eq!(offset, want, "byte {i}: {reason}");
            }
            other => panic!("byte {i}: expected corruption, got {other:?}"),
        }
        // Nothing was changed on disk by the refused open.
        assert_eq!(std::fs::read(dir.join("00000002")).unwrap(), damaged);
        assert!(dir.join("00000004").exists());

        // The operator's choice: drop from the damage on.
        let (got, report) = try_open(&dir, RecoveryMode::TruncateCorrupt).unwrap();
        let dropped = report.dropped.expect("reported");
        assert!(dropped.path.ends_with("00000002"));
        let kept_in_seg2 = starts
            .iter()
            .filter(|&&s| s < dropped.offset.max(1))
            .count();
        let kept_in_seg2 = if dropped.offset < starts[0] {
            0
        } else {
            kept_in_seg2
        };
        assert_eq!(got.len(), before + kept_in_seg2, "byte {i}");
        assert_eq!(got[..], recs[..got.len()]);
        // Records behind the damage that can still be framed are counted: at least all of
        // log files 3 and 4, never more than were written.
        assert!(dropped.records as usize >= after, "byte {i}");
        assert!(
            dropped.records as usize + got.len() <= recs.len(),
            "byte {i}"
        );
        assert_eq!(dropped.files_removed, 2, "log files 3 and 4");
        // And the log is healthy afterwards.
        let (again, report) = try_open(&dir, RecoveryMode::Strict).unwrap();
        assert_eq!(again, got);
        assert!(report.dropped.is_none() && report.torn_tail.is_none());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

#[test]
fn bad_record_followed_by_more_bytes_in_the_last_file_is_corruption() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let recs = build(dir);
    let p = dir.join("00000004");
    let mut bytes = std::fs::read(&p).unwrap();
    let scan = inspect_file(&bytes, true);
    assert!(scan.records.len() >= 2);
    let first = scan.records[0].0 as usize;
    bytes[first + 12] ^= 1; // inside the first record's payload
    std::fs::write(&p, &bytes).unwrap();
    match try_open(dir, RecoveryMode::Strict) {
        Err(Error::Corruption { path, offset, .. }) => {
            assert!(path.ends_with("00000004"));
            assert_eq!(offset, first as u64);
        }
        other => panic!("expected corruption, got {other:?}"),
    }
    let (got, report) = try_open(dir, RecoveryMode::TruncateCorrupt).unwrap();
    let d = report.dropped.unwrap();
    assert_eq!(d.offset, first as u64);
    // The damaged record cannot be framed; the two behind it are counted.
    assert_eq!(d.records as usize, scan.records.len() - 1);
    assert_eq!(got[..], recs[..recs.len() - scan.records.len()]);
}

#[test]
fn a_missing_middle_file_is_corruption() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let recs = build(dir);
    let n1 = records_in(&dir.join("00000001"));
    std::fs::remove_file(dir.join("00000002")).unwrap();
    match try_open(dir, RecoveryMode::Strict) {
        Err(Error::Corruption { path, reason, .. }) => {
            assert!(path.ends_with("00000002"), "{path:?}");
            assert!(reason.contains("missing"), "{reason}");
        }
        other => panic!("expected corruption, got {other:?}"),
    }
    let (got, report) = try_open(dir, RecoveryMode::TruncateCorrupt).unwrap();
    assert_eq!(got[..], recs[..n1]);
    let d = report.dropped.unwrap();
    assert_eq!(d.files_removed, 2);
    assert!(d.records > 0);
}

#[test]
fn unknown_version_is_never_repaired() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    build(dir);
    let p = dir.join("00000003");
    let mut bytes = std::fs::read(&p).unwrap();
    bytes[4] = 99;
    std::fs::write(&p, &bytes).unwrap();
    for mode in [RecoveryMode::Strict, RecoveryMode::TruncateCorrupt] {
        match try_open(dir, mode) {
            Err(Error::UnsupportedFormat {
                found: 99, path, ..
            }) => assert!(path.ends_with("00000003")),
            other => panic!("expected unsupported format, got {other:?}"),
        }
    }
    assert_eq!(std::fs::read(&p).unwrap(), bytes);
}
