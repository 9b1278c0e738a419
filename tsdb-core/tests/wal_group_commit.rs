//! Group commit: many threads appending and syncing share fsyncs (fewer fsyncs than
//! sync calls, counted through FaultFs), and every record is replayed exactly once, each
//! thread's records in the order it wrote them.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic in a test is a failed assertion

use std::collections::HashMap;
use std::sync::{Arc, Barrier};
use std::time::Duration;

use tsdb_core::fs::Fs;
use tsdb_core::testing::FaultFs;
use tsdb_core::wal::{Record, RefSample, SyncMode, Wal, WalOptions};

const THREADS: u64 = 8;
const APPENDS: u64 = 100;

#[test]
fn concurrent_writers_share_fsyncs_and_lose_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let fault = FaultFs::real();
    // A slow disk, so that writers reliably arrive while an fsync is running.
    fault.set_fsync_delay(Some(Duration::from_millis(2)));
    let fs: Arc<dyn Fs> = Arc::new(fault.clone());
    let opts = WalOptions {
        file_size: 64 << 10, // a few rotations along the way
        ..WalOptions::default()
    };
    let (wal, _) = Wal::open_with_fs(fs.clone(), tmp.path(), opts.clone(), |_| Ok(())).unwrap();
    let wal = Arc::new(wal);
    let before = fault.fsync_count();
    let barrier = Arc::new(Barrier::new(THREADS as usize));
    let handles: Vec<_> = (0..THREADS)
        .map(|th| {
            let wal = Arc::clone(&wal);
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                barrier.wait();
                for i in 0..APPENDS {
                    let rec = Record::Samples(
                        (0..10)
                            .map(|j| RefSample {
                                series_ref: th,
                                t: (i * 10 + j) as i64,
                                v: (th * 1000 + i) as f64,
                            })
                            .collect(),
                    );
                    let lsn = wal.append(&[rec]).unwrap();
                    wal.commit(lsn).unwrap();
                    assert!(
                        wal.synced_lsn().unwrap() >= lsn,
                        "acknowledged means durable"
                    );
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let fsyncs = fault.fsync_count() - before;
    let syncs = THREADS * APPENDS;
    println!("{syncs} commits, {fsyncs} fsyncs");
    assert!(
        fsyncs < syncs,
        "{fsyncs} fsyncs for {syncs} commits: no sharing"
    );
    let stats = wal.stats().unwrap();
    assert!(stats.files > 1, "rotated");
    assert_eq!(stats.synced_lsn, stats.last_lsn);
    Arc::try_unwrap(wal).unwrap().close().unwrap();

    let mut per_thread: HashMap<u64, Vec<u64>> = HashMap::new();
    let (wal, report) = Wal::open_with_fs(fs, tmp.path(), opts, |r| {
        match r {
            Record::Samples(s) => {
                assert_eq!(s.len(), 10);
                let th = s[0].series_ref;
                let i = s[0].t as u64 / 10;
                per_thread.entry(th).or_default().push(i);
            }
            other => panic!("unexpected {other:?}"),
        }
        Ok(())
    })
    .unwrap();
    wal.close().unwrap();
    assert_eq!(report.records, syncs);
    for th in 0..THREADS {
        assert_eq!(
            per_thread[&th],
            (0..APPENDS).collect::<Vec<_>>(),
            "thread {th}"
        );
    }
}

/// `SyncMode::Never` never fsyncs on commit; `flush` does.
#[test]
fn never_mode_leaves_fsyncs_to_flush() {
    let tmp = tempfile::tempdir().unwrap();
    let fault = FaultFs::real();
    let fs: Arc<dyn Fs> = Arc::new(fault.clone());
    let opts = WalOptions {
        sync: SyncMode::Never,
        ..WalOptions::default()
    };
    let (wal, _) = Wal::open_with_fs(fs, tmp.path(), opts, |_| Ok(())).unwrap();
    let before = fault.fsync_count();
    for i in 0..50 {
        let lsn = wal
            .append(&[Record::Samples(vec![RefSample {
                series_ref: i,
                t: 0,
                v: 0.0,
            }])])
            .unwrap();
        wal.commit(lsn).unwrap();
    }
    assert_eq!(fault.fsync_count(), before);
    wal.flush().unwrap();
    assert_eq!(fault.fsync_count(), before + 1);
    assert_eq!(wal.synced_lsn().unwrap(), wal.last_lsn().unwrap());
}
