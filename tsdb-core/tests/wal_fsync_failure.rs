//! An fsync error reaches the writer that led the fsync and every writer waiting on it;
//! the log enters the failed state and refuses writes; a reopen recovers every record
//! that was synced before the failure.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic in a test is a failed assertion

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::replay_wal;
use tsdb_core::fs::{Fs, RealFs};
use tsdb_core::testing::FaultFs;
use tsdb_core::wal::{Record, RefSample, SyncMode, Wal, WalOptions};
use tsdb_core::{Error, IoOp};

fn rec(i: u64) -> Record {
    Record::Samples(vec![RefSample {
        series_ref: i,
        t: i as i64,
        v: i as f64,
    }])
}

fn replay(dir: &std::path::Path) -> Vec<Record> {
    replay_wal(RealFs::arc(), dir, WalOptions::default())
        .unwrap()
        .0
}

#[test]
fn fsync_error_reaches_the_leader_and_every_piggybacking_waiter() {
    let tmp = tempfile::tempdir().unwrap();
    let fault = FaultFs::real();
    let fs: Arc<dyn Fs> = Arc::new(fault.clone());
    let (wal, _) = Wal::open_with_fs(fs, tmp.path(), WalOptions::default(), |_| Ok(())).unwrap();
    let wal = Arc::new(wal);

    let lsn0 = wal.append(&[rec(0)]).unwrap();
    wal.commit(lsn0).unwrap();
    let lsns: Vec<_> = (1..=3).map(|i| wal.append(&[rec(i)]).unwrap()).collect();

    fault.hold_fsyncs();
    fault.fail_next_fsync();
    let before = fault.fsync_count();
    let leader = {
        let wal = Arc::clone(&wal);
        let lsn = lsns[0];
        std::thread::spawn(move || wal.sync(lsn))
    };
    fault.wait_for_held_fsyncs(1);
    let waiters: Vec<_> = lsns[1..]
        .iter()
        .map(|&lsn| {
            let wal = Arc::clone(&wal);
            std::thread::spawn(move || wal.commit(lsn))
        })
        .collect();
    std::thread::sleep(Duration::from_millis(50));
    assert!(
        waiters.iter().all(|w| !w.is_finished()),
        "waiters wait for the leader"
    );
    fault.release_fsyncs();

    let mut results = vec![leader.join().unwrap()];
    results.extend(waiters.into_iter().map(|w| w.join().unwrap()));
    for r in &results {
        match r {
            Err(Error::WalFailed { cause }) => match &**cause {
                Error::Io {
                    op: IoOp::Sync,
                    path,
                    ..
                } => assert!(path.ends_with("00000001")),
                other => panic!("unexpected cause {other}"),
            },
            other => panic!("expected WalFailed, got {other:?}"),
        }
    }
    assert_eq!(
        fault.fsync_count() - before,
        1,
        "one fsync for the leader and its waiters"
    );

    assert!(wal.is_failed());
    assert!(wal.stats().unwrap().failed);
    assert!(wal.append(&[rec(9)]).unwrap_err().is_wal_failed());
    assert!(wal.cut_file().unwrap_err().is_wal_failed());
    assert!(wal.flush().unwrap_err().is_wal_failed());
    // What was durable before the failure stays acknowledged.
    wal.sync(lsn0).unwrap();
    assert_eq!(wal.synced_lsn().unwrap(), lsn0);
    assert!(wal.close().unwrap_err().is_wal_failed());
    drop(wal);

    // Reopen: everything synced before the failure is there (here the page cache still
    // holds the rest too, since the injected failure did not drop it).
    let got = replay(tmp.path());
    assert_eq!(got[0], rec(0));
    assert_eq!(got, (0..=3).map(rec).collect::<Vec<_>>());
}

#[test]
fn a_failed_periodic_sync_fails_the_log() {
    let tmp = tempfile::tempdir().unwrap();
    let fault = FaultFs::real();
    let fs: Arc<dyn Fs> = Arc::new(fault.clone());
    let opts = WalOptions {
        sync: SyncMode::Periodic(Duration::from_millis(2)),
        ..WalOptions::default()
    };
    let (wal, _) = Wal::open_with_fs(fs, tmp.path(), opts, |_| Ok(())).unwrap();
    fault.fail_next_fsync();
    let lsn = wal.append(&[rec(1)]).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !wal.is_failed() {
        assert!(
            std::time::Instant::now() < deadline,
            "background sync never ran"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    assert!(wal.commit(lsn).unwrap_err().is_wal_failed());
    assert!(wal.append(&[rec(2)]).unwrap_err().is_wal_failed());
    drop(wal);
    assert_eq!(replay(tmp.path()), [rec(1)]);
}

#[test]
fn a_failed_directory_fsync_after_rotation_fails_the_log() {
    let tmp = tempfile::tempdir().unwrap();
    let fault = FaultFs::real();
    let fs: Arc<dyn Fs> = Arc::new(fault.clone());
    let (wal, _) = Wal::open_with_fs(fs, tmp.path(), WalOptions::default(), |_| Ok(())).unwrap();
    let lsn = wal.append(&[rec(1)]).unwrap();
    wal.sync(lsn).unwrap();
    wal.cut_file().unwrap();
    let lsn = wal.append(&[rec(2)]).unwrap();
    fault.fail_next(tsdb_core::testing::FaultOp::SyncDir);
    match wal.sync(lsn) {
        Err(Error::WalFailed { cause }) => {
            assert!(
                matches!(
                    &*cause,
                    Error::Io {
                        op: IoOp::SyncDir,
                        ..
                    }
                ),
                "{cause}"
            )
        }
        other => panic!("expected WalFailed, got {other:?}"),
    }
    drop(wal);
    assert_eq!(replay(tmp.path()), [rec(1), rec(2)]);
}
