//! Checkpoints keep exactly what the predicates say, replay stays correct after them,
//! and a crash between any two steps (simulated with FaultFs and by hand) still replays
//! every record exactly once.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic in a test is a failed assertion

mod common;

use std::path::Path;
use std::sync::Arc;

use common::{open_wal, replay_wal};
use tsdb_core::fs::Fs;
use tsdb_core::testing::{FaultFs, FaultOp};
use tsdb_core::wal::{Record, RecoveryReport, RefSample, Wal, WalOptions};
use tsdb_core::Error;
use tsdb_index::Labels;

fn opts() -> WalOptions {
    WalOptions {
        file_size: 512,
        ..WalOptions::default()
    }
}

fn series(r: u64) -> Record {
    Record::Series {
        series_ref: r,
        labels: Labels::new([("__name__", "m"), ("i", r.to_string().as_str())]).unwrap(),
    }
}

/// Series 0..10, samples at t = 0..20 for each.
fn workload(first_t: i64) -> Vec<Record> {
    let mut v: Vec<Record> = if first_t == 0 {
        (0..10).map(series).collect()
    } else {
        vec![]
    };
    for t in first_t..first_t + 20 {
        v.push(Record::Samples(
            (0..10)
                .map(|r| RefSample {
                    series_ref: r,
                    t,
                    v: (r * 100) as f64 + t as f64,
                })
                .collect(),
        ));
    }
    v
}

/// The checkpoint rules, written independently of the implementation.
fn model(recs: &[Record], keep: impl Fn(u64) -> bool, min_time: i64) -> Vec<Record> {
    recs.iter()
        .filter_map(|r| match r {
            Record::Series { series_ref, .. } => keep(*series_ref).then(|| r.clone()),
            Record::Samples(s) => {
                let k: Vec<_> = s
                    .iter()
                    .filter(|x| keep(x.series_ref) && x.t >= min_time)
                    .copied()
                    .collect();
                (!k.is_empty()).then_some(Record::Samples(k))
            }
            _ => unreachable!(),
        })
        .collect()
}

fn append_all(wal: &Wal, recs: &[Record]) {
    for r in recs {
        let lsn = wal.append(std::slice::from_ref(r)).unwrap();
        wal.commit(lsn).unwrap();
    }
}

fn open(fs: Arc<dyn Fs>, dir: &Path) -> (Wal, Vec<Record>, RecoveryReport) {
    open_wal(fs, dir, opts()).unwrap()
}

fn replay(dir: &Path) -> (Vec<Record>, RecoveryReport) {
    replay_wal(tsdb_core::fs::RealFs::arc(), dir, opts()).unwrap()
}

fn count(recs: &[Record]) -> (u64, u64) {
    let mut c = (0, 0);
    for r in recs {
        match r {
            Record::Series { .. } => c.0 += 1,
            Record::Samples(s) => c.1 += s.len() as u64,
            _ => unreachable!(),
        }
    }
    c
}

#[test]
fn checkpoint_keeps_what_the_predicates_say() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let fs = tsdb_core::fs::RealFs::arc();
    let (wal, _, _) = open(fs.clone(), dir);
    let before = workload(0);
    append_all(&wal, &before);
    let cut = wal.cut_file().unwrap();
    assert!(cut > 3, "several log files to fold");
    let after = workload(20);
    append_all(&wal, &after[..5]);

    // Appends go on while the checkpoint runs; the log file being written is refused.
    assert!(matches!(
        wal.checkpoint(wal.current_file().unwrap(), |_| true, 0),
        Err(Error::InvalidArgument { .. })
    ));
    let keep = |r: u64| r.is_multiple_of(2);
    let stats = wal.checkpoint(cut - 1, keep, 10).unwrap();
    append_all(&wal, &after[5..]);

    let want_cp = model(&before, keep, 10);
    let (s_all, x_all) = count(&before);
    let (s_kept, x_kept) = count(&want_cp);
    assert_eq!(stats.checkpoint, cut - 1);
    assert_eq!(
        (stats.series_kept, stats.series_dropped),
        (s_kept, s_all - s_kept)
    );
    assert_eq!(
        (stats.samples_kept, stats.samples_dropped),
        (x_kept, x_all - x_kept)
    );
    assert!(
        x_kept > 0 && x_kept < x_all,
        "the min_time and keep rules were exercised"
    );
    assert_eq!(stats.files_removed, (cut - 1) as usize);
    assert!(wal.files().unwrap().iter().all(|&s| s >= cut));
    let st = wal.stats().unwrap();
    assert_eq!(st.checkpoint, Some(cut - 1));
    wal.close().unwrap();
    drop(wal);
    assert!(dir.join(format!("checkpoint.{:08}", cut - 1)).is_dir());

    let (got, report) = replay(dir);
    assert_eq!(report.checkpoint, Some(cut - 1));
    let mut want = want_cp.clone();
    want.extend(after.iter().cloned());
    assert_eq!(got, want);

    // A second checkpoint folds the first one in, with stricter rules, and removes it.
    let (wal, _, _) = open(fs, dir);
    let cut2 = wal.cut_file().unwrap();
    let keep2 = |r: u64| r.is_multiple_of(4);
    wal.checkpoint(cut2 - 1, keep2, 25).unwrap();
    wal.close().unwrap();
    drop(wal);
    assert!(!dir.join(format!("checkpoint.{:08}", cut - 1)).exists());
    let (got, report) = replay(dir);
    assert_eq!(report.checkpoint, Some(cut2 - 1));
    assert_eq!(got, model(&want, keep2, 25));
}

/// Builds a log with a checkpoint-able prefix and returns (wal, fault, all records,
/// what a checkpoint with `keep`/`min_time` would leave followed by the later records,
/// up_to).
#[allow(clippy::type_complexity)]
fn setup(dir: &Path) -> (Wal, FaultFs, Vec<Record>, Vec<Record>, u32) {
    let fault = FaultFs::real();
    let fs: Arc<dyn Fs> = Arc::new(fault.clone());
    let (wal, _, _) = open(fs, dir);
    let before = workload(0);
    append_all(&wal, &before);
    let cut = wal.cut_file().unwrap();
    let after = workload(20);
    append_all(&wal, &after);
    let mut all = before.clone();
    all.extend(after.iter().cloned());
    let mut checkpointed = model(&before, |r| r < 5, 12);
    checkpointed.extend(after.iter().cloned());
    (wal, fault, all, checkpointed, cut - 1)
}

#[test]
fn crash_before_the_rename_leaves_the_old_state() {
    // The rename fails and so does the clean-up: the temporary directory stays behind,
    // as after a crash during the checkpoint.
    let tmp = tempfile::tempdir().unwrap();
    let (wal, fault, all, _, up_to) = setup(tmp.path());
    fault.fail_next(FaultOp::Rename);
    fault.fail_next(FaultOp::Remove);
    assert!(wal.checkpoint(up_to, |r| r < 5, 12).is_err());
    assert!(
        !wal.is_failed(),
        "a failed checkpoint does not fail the log"
    );
    wal.close().unwrap();
    drop(wal);
    let tmpdir = tmp.path().join(format!("checkpoint.{up_to:08}.tmp"));
    assert!(tmpdir.is_dir(), "the crash left the temporary checkpoint");
    let (got, report) = replay(tmp.path());
    assert_eq!(report.removed_tmp_checkpoints, 1);
    assert_eq!(report.checkpoint, None);
    assert_eq!(got, all);
    assert!(!tmpdir.exists());
}

#[test]
fn crash_after_the_rename_before_deleting_log_files() {
    let tmp = tempfile::tempdir().unwrap();
    let (wal, fault, _, checkpointed, up_to) = setup(tmp.path());
    fault.fail_next(FaultOp::Remove);
    assert!(wal.checkpoint(up_to, |r| r < 5, 12).is_err());
    wal.close().unwrap();
    drop(wal);
    assert!(
        tmp.path().join("00000001").exists(),
        "old log files are still there"
    );
    let (got, report) = replay(tmp.path());
    assert_eq!(report.checkpoint, Some(up_to));
    assert_eq!(report.removed_stale, up_to as usize);
    assert_eq!(got, checkpointed, "no duplicates from the stale log files");
    assert!(!tmp.path().join("00000001").exists());
}

#[test]
fn crash_leaving_an_older_checkpoint_and_its_log_files_behind() {
    // By hand: after a second checkpoint, put the first checkpoint and the log files it
    // and the second one cover back, as if neither deletion had happened.
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (wal, _fault, _, _, up_to) = setup(dir);
    let saved = tmp.path().join("../saved-files");
    let saved = saved.as_path();
    let _ = std::fs::remove_dir_all(saved);
    std::fs::create_dir_all(saved).unwrap();
    for s in 1..=up_to {
        let n = format!("{s:08}");
        std::fs::copy(dir.join(&n), saved.join(&n)).unwrap();
    }
    wal.checkpoint(up_to, |r| r < 5, 12).unwrap();
    let first_cp = dir.join(format!("checkpoint.{up_to:08}"));
    let saved_cp = saved.join("cp");
    std::fs::create_dir_all(&saved_cp).unwrap();
    for e in std::fs::read_dir(&first_cp).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), saved_cp.join(e.file_name())).unwrap();
    }
    let more = workload(40);
    append_all(&wal, &more);
    let cut2 = wal.cut_file().unwrap();
    wal.checkpoint(cut2 - 1, |r| r < 5, 12).unwrap();
    wal.close().unwrap();
    drop(wal);
    let (want, _) = replay(dir);

    // Restore the stale files.
    std::fs::create_dir_all(&first_cp).unwrap();
    for e in std::fs::read_dir(&saved_cp).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), first_cp.join(e.file_name())).unwrap();
    }
    for s in 1..=up_to {
        let n = format!("{s:08}");
        std::fs::copy(saved.join(&n), dir.join(&n)).unwrap();
    }
    let (got, report) = replay(dir);
    assert_eq!(got, want);
    assert_eq!(report.removed_stale, up_to as usize + 1);
    std::fs::remove_dir_all(saved).unwrap();
}

#[test]
fn fsync_failure_while_writing_the_checkpoint() {
    let tmp = tempfile::tempdir().unwrap();
    let (wal, fault, all, checkpointed, up_to) = setup(tmp.path());
    fault.fail_next_fsync();
    assert!(wal.checkpoint(up_to, |r| r < 5, 12).is_err());
    assert!(!wal.is_failed());
    assert!(!tmp
        .path()
        .join(format!("checkpoint.{up_to:08}.tmp"))
        .exists());
    // The log goes on, and a retry succeeds.
    let lsn = wal.last_lsn().unwrap();
    wal.sync(lsn).unwrap();
    wal.checkpoint(up_to, |r| r < 5, 12).unwrap();
    wal.close().unwrap();
    drop(wal);
    let (got, _) = replay(tmp.path());
    assert_eq!(got, checkpointed);
    assert_ne!(got, all);
}

#[test]
fn checkpoint_arguments_are_checked() {
    let tmp = tempfile::tempdir().unwrap();
    let (wal, _, _, _, up_to) = setup(tmp.path());
    wal.checkpoint(up_to, |_| true, i64::MIN).unwrap();
    // The same checkpoint again is a no-op; an older one is refused.
    let again = wal.checkpoint(up_to, |_| true, i64::MIN).unwrap();
    assert_eq!(again.series_kept + again.samples_kept, 0);
    assert!(matches!(
        wal.checkpoint(up_to - 1, |_| true, i64::MIN),
        Err(Error::InvalidArgument { .. })
    ));
}
