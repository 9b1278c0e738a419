//! Read-only opens: no lock, no WAL written, a missing directory is
//! an error, appends refused, and a directory another handle is writing can be read.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use common::T0;
use tsdb_core::{Db, Error, ErrorClass, ManualClock, Options};
use tsdb_index::{Labels, Matcher};

const HOUR: i64 = 3_600_000;

fn options() -> Options {
    Options {
        clock: Arc::new(ManualClock::new(T0 + 100 * HOUR)),
        block_range_ms: HOUR,
        background_maintenance: false,
        ..Options::default()
    }
}

fn labels(host: &str) -> Labels {
    Labels::new([("__name__", "m"), ("host", host)]).unwrap()
}

fn count(db: &Db) -> usize {
    let q = db.querier(i64::MIN, i64::MAX - 1).unwrap();
    q.select(&[Matcher::equal("__name__", "m")])
        .unwrap()
        .iter()
        .map(|s| s.iter().count())
        .sum()
}

fn listing(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in walk(dir) {
        let meta = std::fs::metadata(&e).unwrap();
        out.push(format!("{} {}", e.display(), meta.len()));
    }
    out.sort();
    out
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        }
        out.push(p);
    }
    out
}

#[test]
fn reads_what_a_writer_holds_without_changing_a_byte() {
    let tmp = tempfile::tempdir().unwrap();
    let writer = Db::open(tmp.path(), options()).unwrap();
    for i in 0..240 {
        writer
            .append(&labels("a"), T0 + i * 60_000, i as f64)
            .unwrap();
    }
    writer.persist_if_due().unwrap();
    assert!(!writer.stats().unwrap().segments.is_empty());
    // the writer still holds the lock and part of the data only in its WAL
    let before = listing(tmp.path());
    let reader = Db::open_read_only(tmp.path(), options()).unwrap();
    assert!(reader.is_read_only());
    assert_eq!(count(&reader), 240);
    assert!(matches!(
        reader.append(&labels("a"), T0 + 300 * 60_000, 1.0),
        Err(Error::ReadOnly)
    ));
    assert!(matches!(
        reader.delete(&[Matcher::equal("host", "a")], 0, 1),
        Err(Error::ReadOnly)
    ));
    assert_eq!(Error::ReadOnly.class(), ErrorClass::Unavailable);
    reader.close().unwrap();
    drop(reader);
    assert_eq!(listing(tmp.path()), before, "a read-only open wrote");

    // the writer goes on; a new reader sees the new samples
    for i in 240..300 {
        writer
            .append(&labels("b"), T0 + i * 60_000, i as f64)
            .unwrap();
    }
    let reader = Db::open_read_only(tmp.path(), options()).unwrap();
    assert_eq!(count(&reader), 300);
}

#[test]
fn a_missing_directory_is_an_error_and_is_not_created() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("typo");
    let e = Db::open_read_only(&missing, options()).unwrap_err();
    assert!(matches!(e, Error::Io { .. }), "{e}");
    assert!(!missing.exists());
}

#[test]
fn a_torn_wal_tail_is_read_up_to_the_tear_and_left_for_the_writer_to_cut() {
    let tmp = tempfile::tempdir().unwrap();
    {
        let db = Db::open(tmp.path(), options()).unwrap();
        for i in 0..10 {
            db.append(&labels("a"), T0 + i * 1000, 1.0).unwrap();
        }
        db.close().unwrap();
    }
    // tear the last record of the newest log file holding records
    let wal = tmp.path().join("wal");
    let mut segs: Vec<_> = std::fs::read_dir(&wal)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    segs.sort();
    let seg = segs
        .iter()
        .rev()
        .find(|p| std::fs::metadata(p).unwrap().len() > 64)
        .unwrap()
        .clone();
    let len = std::fs::metadata(&seg).unwrap().len();
    let f = std::fs::OpenOptions::new().write(true).open(&seg).unwrap();
    f.set_len(len - 3).unwrap();
    drop(f);
    let reader = Db::open_read_only(tmp.path(), options()).unwrap();
    assert_eq!(count(&reader), 9);
    assert!(reader.recovery_report().torn_tail.is_some());
    assert_eq!(
        std::fs::metadata(&seg).unwrap().len(),
        len - 3,
        "left in place"
    );
}
