//! A crash can leave the last record of the last log file half written. Cut the final
//! record at every byte offset: replay returns every earlier record, the tail is cut off
//! (and reported), and the log accepts and replays new writes afterwards.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic in a test is a failed assertion

mod common;

use std::path::Path;

use common::open_wal;
use tsdb_core::fs::RealFs;
use tsdb_core::wal::{inspect_file, Record, RefSample, Wal, WalOptions, FILE_HEADER_LEN};
use tsdb_index::Labels;

fn records() -> Vec<Record> {
    vec![
        Record::Series {
            series_ref: 1,
            labels: Labels::new([("__name__", "cpu"), ("host", "a")]).unwrap(),
        },
        Record::Samples(vec![RefSample {
            series_ref: 1,
            t: 1_700_000_000_000,
            v: 0.5,
        }]),
        // The final record: several samples, so it has many bytes to cut.
        Record::Samples(
            (0..8)
                .map(|i| RefSample {
                    series_ref: 1,
                    t: 1_700_000_015_000 + i * 15_000,
                    v: i as f64 * 1.25,
                })
                .collect(),
        ),
    ]
}

fn replay(dir: &Path) -> (Wal, Vec<Record>, tsdb_core::wal::RecoveryReport) {
    open_wal(RealFs::arc(), dir, WalOptions::default()).unwrap()
}

#[test]
fn torn_final_record_at_every_offset() {
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path().join("base");
    let (wal, _, _) = replay(&base);
    let recs = records();
    let lsn = wal.append(&recs).unwrap();
    wal.sync(lsn).unwrap();
    wal.close().unwrap();
    drop(wal);

    let file = base.join("00000001");
    let bytes = std::fs::read(&file).unwrap();
    let scan = inspect_file(&bytes, true);
    assert_eq!(scan.records.len(), 3);
    let last_start = scan.records[2].0;
    assert!(last_start > FILE_HEADER_LEN);

    for cut in last_start..bytes.len() as u64 {
        let dir = tmp.path().join(format!("cut{cut}"));
        std::fs::create_dir(&dir).unwrap();
        // Only the log file with records; the empty one the reopen created is not needed.
        std::fs::write(dir.join("00000001"), &bytes[..cut as usize]).unwrap();

        let (wal, got, report) = replay(&dir);
        assert_eq!(got, recs[..2], "cut at {cut}");
        if cut == last_start {
            assert!(
                report.torn_tail.is_none(),
                "a cut between records is a clean end"
            );
        } else {
            let t = report.torn_tail.as_ref().expect("torn tail reported");
            assert_eq!(t.offset, last_start, "cut at {cut}");
            assert_eq!(t.bytes, cut - last_start);
            assert!(t.path.ends_with("00000001"));
        }
        assert_eq!(
            std::fs::metadata(dir.join("00000001")).unwrap().len(),
            last_start,
            "truncated at the last whole record"
        );
        // New writes after recovery land and replay after the old ones.
        let extra = Record::Samples(vec![RefSample {
            series_ref: 1,
            t: 1_800_000_000_000,
            v: -1.0,
        }]);
        let lsn = wal.append(std::slice::from_ref(&extra)).unwrap();
        wal.sync(lsn).unwrap();
        wal.close().unwrap();
        drop(wal);
        let (wal, got, report) = replay(&dir);
        assert!(report.torn_tail.is_none());
        assert_eq!(got.len(), 3);
        assert_eq!(got[..2], recs[..2]);
        assert_eq!(got[2], extra);
        wal.close().unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

/// A crash right after a log file was created leaves it empty or with part of its
/// header: that log file holds nothing and is removed.
#[test]
fn torn_file_header() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (wal, _, _) = replay(dir);
    let lsn = wal.append(&records()).unwrap();
    wal.sync(lsn).unwrap();
    wal.close().unwrap();
    drop(wal);
    for partial in [
        &b""[..],
        b"TS",
        b"TSWL\x01\0\0",
        &[0u8; 8][..],
        &[0u8; 100][..],
    ] {
        // The reopen above made 00000002; replace it with a torn one.
        std::fs::write(dir.join("00000002"), partial).unwrap();
        let (wal, got, report) = replay(dir);
        assert_eq!(got, records());
        let t = report.torn_tail.expect("torn header reported");
        assert_eq!(t.offset, 0);
        assert_eq!(t.bytes, partial.len() as u64);
        assert_eq!(wal.current_file().unwrap(), 2, "the torn file was replaced");
        wal.close().unwrap();
    }
}
