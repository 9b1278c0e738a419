//! A short write or a full disk fails the append that hit it and every later one; the
//! partial record left behind is a torn tail that reopen cuts off, and every record
//! synced before the failure is replayed.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic in a test is a failed assertion

mod common;

use std::io;
use std::sync::Arc;

use common::replay_wal;
use tsdb_core::fs::{Fs, RealFs};
use tsdb_core::testing::FaultFs;
use tsdb_core::wal::{Record, RecoveryReport, RefSample, Wal, WalOptions};
use tsdb_core::{Error, IoOp};

fn rec(i: u64, n: usize) -> Record {
    Record::Samples(
        (0..n)
            .map(|j| RefSample {
                series_ref: i,
                t: j as i64,
                v: f64::from_bits(0x7ff0_0000_0000_0002),
            })
            .collect(),
    )
}

fn replay_with(
    fs: Arc<dyn Fs>,
    dir: &std::path::Path,
) -> Result<(Vec<Record>, RecoveryReport), Error> {
    replay_wal(fs, dir, WalOptions::default())
}

fn assert_write_failure(e: &Error, kind: Option<io::ErrorKind>) {
    match e {
        Error::WalFailed { cause } => match &**cause {
            Error::Io {
                op: IoOp::Write,
                source,
                ..
            } => {
                if let Some(k) = kind {
                    assert_eq!(source.kind(), k);
                }
            }
            other => panic!("unexpected cause {other}"),
        },
        other => panic!("expected WalFailed, got {other:?}"),
    }
}

#[test]
fn short_write() {
    // Cut inside the frame header, inside the payload, and before the first byte.
    for cut in [0usize, 5, 20] {
        let tmp = tempfile::tempdir().unwrap();
        let fault = FaultFs::real();
        let fs: Arc<dyn Fs> = Arc::new(fault.clone());
        let (wal, _) =
            Wal::open_with_fs(fs, tmp.path(), WalOptions::default(), |_| Ok(())).unwrap();
        let synced = vec![rec(1, 3), rec(2, 3)];
        let lsn = wal.append(&synced).unwrap();
        wal.commit(lsn).unwrap();

        fault.short_next_write(cut);
        let e = wal.append(&[rec(3, 10)]).unwrap_err();
        assert_write_failure(&e, None);
        assert!(wal.append(&[rec(4, 1)]).unwrap_err().is_wal_failed());
        assert!(wal.commit(lsn).is_ok(), "already durable");
        drop(wal);

        let (got, report) = replay_with(RealFs::arc(), tmp.path()).unwrap();
        assert_eq!(got, synced, "cut {cut}");
        match report.torn_tail {
            Some(t) => assert_eq!(t.bytes, cut as u64),
            None => assert_eq!(cut, 0, "only a write of nothing leaves no torn tail"),
        }
    }
}

#[test]
fn disk_full() {
    let tmp = tempfile::tempdir().unwrap();
    let fault = FaultFs::real();
    let fs: Arc<dyn Fs> = Arc::new(fault.clone());
    let opts = WalOptions {
        file_size: 4096,
        ..WalOptions::default()
    };
    let (wal, _) = Wal::open_with_fs(fs.clone(), tmp.path(), opts, |_| Ok(())).unwrap();
    fault.enospc_after(10_000);
    let mut synced = Vec::new();
    let err = loop {
        let r = rec(synced.len() as u64, 20);
        match wal.append(std::slice::from_ref(&r)) {
            Ok(lsn) => {
                wal.commit(lsn).unwrap();
                synced.push(r);
            }
            Err(e) => break e,
        }
    };
    // Either a record write or a new log file's header hit the limit.
    assert_write_failure(&err, Some(io::ErrorKind::StorageFull));
    assert!(synced.len() > 10 && synced.len() < 60, "{}", synced.len());
    drop(wal);

    // While the disk is still full, opening fails cleanly (it must start a new log file).
    match replay_with(fs.clone(), tmp.path()) {
        Err(Error::Io {
            op: IoOp::Write,
            source,
            ..
        }) => {
            assert_eq!(source.kind(), io::ErrorKind::StorageFull)
        }
        other => panic!("expected a write error, got {other:?}"),
    }
    // Space freed: everything synced is back, once.
    fault.clear();
    let (got, _) = replay_with(fs.clone(), tmp.path()).unwrap();
    assert_eq!(got, synced);
    let (got, report) = replay_with(fs, tmp.path()).unwrap();
    assert_eq!(got, synced);
    assert!(report.torn_tail.is_none());
}
