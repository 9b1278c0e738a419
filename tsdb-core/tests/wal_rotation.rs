//! Log files rotate when the next record would not fit; records never span log files; a
//! record larger than the maximum gets a log file to itself; replay crosses log files.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic in a test is a failed assertion

use tsdb_core::wal::{inspect_file, FileEnd, Record, RefSample, Wal, WalOptions};

const MAX: u64 = 128;

fn rec(i: u64, n: u64) -> Record {
    Record::Samples(
        (0..n)
            .map(|j| RefSample {
                series_ref: i,
                t: j as i64,
                v: j as f64,
            })
            .collect(),
    )
}

#[test]
fn tiny_files() {
    let tmp = tempfile::tempdir().unwrap();
    let opts = WalOptions {
        file_size: MAX,
        ..WalOptions::default()
    };
    let (wal, _) = Wal::open(tmp.path(), opts.clone(), |_| Ok(())).unwrap();
    // Mixed sizes: 1 sample (~20 bytes framed), 5 samples, and 30 samples (> MAX).
    let mut recs = Vec::new();
    for i in 0..40u64 {
        let n = match i % 7 {
            3 => 30,
            5 => 5,
            _ => 1,
        };
        recs.push(rec(i, n));
    }
    // Some batches, so one append can span several log files.
    for batch in recs.chunks(3) {
        let lsn = wal.append(batch).unwrap();
        wal.commit(lsn).unwrap();
    }
    let files = wal.files().unwrap();
    assert_eq!(files, (1..=files.len() as u32).collect::<Vec<_>>());
    assert!(files.len() > 10, "{files:?}");
    assert_eq!(wal.current_file().unwrap(), *files.last().unwrap());
    wal.close().unwrap();

    let mut seen = 0;
    for s in &files {
        let bytes = std::fs::read(tmp.path().join(format!("{s:08}"))).unwrap();
        let scan = inspect_file(&bytes, false);
        assert_eq!(scan.end, FileEnd::Clean);
        if bytes.len() as u64 > MAX {
            assert_eq!(
                scan.records.len(),
                1,
                "only a lone oversized record exceeds the max"
            );
        }
        seen += scan.records.len();
    }
    assert_eq!(seen, recs.len());

    let mut got = Vec::new();
    let (wal, report) = Wal::open(tmp.path(), opts, |r| {
        got.push(r);
        Ok(())
    })
    .unwrap();
    assert_eq!(got, recs);
    assert_eq!(report.files, files.len());
    let stats = wal.stats().unwrap();
    assert_eq!(
        stats.files,
        files.len() + 1,
        "the reopen started a new log file"
    );
    assert!(stats.bytes_on_disk > MAX * 5);
}

#[test]
fn cut_file_starts_a_new_one() {
    let tmp = tempfile::tempdir().unwrap();
    let (wal, _) = Wal::open(tmp.path(), WalOptions::default(), |_| Ok(())).unwrap();
    assert_eq!(wal.current_file().unwrap(), 1);
    wal.append(&[rec(1, 1)]).unwrap();
    assert_eq!(wal.cut_file().unwrap(), 2);
    assert_eq!(
        wal.cut_file().unwrap(),
        3,
        "an empty log file can be cut too"
    );
    let lsn = wal.append(&[rec(2, 1)]).unwrap();
    assert_eq!(lsn.file, 3);
    wal.sync(lsn).unwrap();
    assert_eq!(wal.files().unwrap(), [1, 2, 3]);
}
