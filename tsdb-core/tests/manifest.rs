//! The MANIFEST: leftovers of interrupted steps are removed on open, a missing or damaged
//! manifest is rebuilt from the segment directories with a report, and a listed segment
//! that is missing is set aside, never silently dropped.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use common::{copy_dir, T0};
use tsdb_core::{Db, ManifestStatus, ManualClock, Options};
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

fn labels() -> Labels {
    Labels::new([("__name__", "m")]).unwrap()
}

/// Five hours of one sample a minute, persisted into five segments.
fn five_segments(dir: &std::path::Path) -> Vec<(i64, f64)> {
    let db = Db::open(dir, options()).unwrap();
    let mut want = Vec::new();
    for i in 0..300 {
        // hour-aligned: five block ranges
        let (t, v) = (T0 / HOUR * HOUR + i * 60_000, i as f64);
        db.append(&labels(), t, v).unwrap();
        want.push((t, v));
    }
    assert_eq!(db.persist_all().unwrap(), 5);
    db.close().unwrap();
    want
}

fn read_all(db: &Db) -> Vec<(i64, f64)> {
    let q = db.querier(i64::MIN, i64::MAX - 1).unwrap();
    let series = q.select(&[Matcher::equal("__name__", "m")]).unwrap();
    series
        .iter()
        .flat_map(|s| s.iter().map(|r| r.map(|s| (s.t, s.v)).unwrap()))
        .collect()
}

#[test]
fn a_segment_the_manifest_does_not_list_is_a_leftover_and_removed() {
    let tmp = tempfile::tempdir().unwrap();
    let want = five_segments(tmp.path());
    // a persist that crashed after its rename, before its commit: a complete segment
    // directory (here a copy of a live one) that the manifest does not list
    let seg = tmp.path().join("segments");
    copy_dir(&seg.join("00000002"), &seg.join("00000099"));
    std::fs::create_dir(seg.join("00000100.tmp")).unwrap();
    let db = Db::open(tmp.path(), options()).unwrap();
    let report = db.open_report();
    assert!(matches!(report.manifest, ManifestStatus::Loaded { .. }));
    assert_eq!(report.removed_leftovers, vec![seg.join("00000099")]);
    assert!(!seg.join("00000099").exists() && !seg.join("00000100.tmp").exists());
    assert_eq!(db.stats().unwrap().segments.len(), 5);
    assert_eq!(read_all(&db), want);
}

#[test]
fn a_missing_manifest_is_rebuilt_from_the_segments_with_a_report() {
    let tmp = tempfile::tempdir().unwrap();
    let want = five_segments(tmp.path());
    std::fs::remove_file(tmp.path().join("MANIFEST")).unwrap();
    let db = Db::open(tmp.path(), options()).unwrap();
    match &db.open_report().manifest {
        ManifestStatus::Rebuilt { reason, segments } => {
            assert_eq!(*segments, 5);
            assert!(reason.contains("no MANIFEST"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(read_all(&db), want);
    // the rebuilt manifest was committed: the next open trusts it
    db.close().unwrap();
    drop(db);
    let db = Db::open(tmp.path(), options()).unwrap();
    assert!(matches!(
        db.open_report().manifest,
        ManifestStatus::Loaded { .. }
    ));
    assert_eq!(read_all(&db), want);
}

#[test]
fn a_damaged_manifest_is_rebuilt_and_says_why() {
    let tmp = tempfile::tempdir().unwrap();
    let want = five_segments(tmp.path());
    let path = tmp.path().join("MANIFEST");
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[7] ^= 0xff;
    std::fs::write(&path, bytes).unwrap();
    let db = Db::open(tmp.path(), options()).unwrap();
    match &db.open_report().manifest {
        ManifestStatus::Rebuilt { reason, .. } => assert!(reason.contains("CRC"), "{reason}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(read_all(&db), want);
}

#[test]
fn a_listed_segment_that_is_missing_is_set_aside_and_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let want = five_segments(tmp.path());
    let gone = tmp.path().join("segments").join("00000003");
    std::fs::remove_dir_all(&gone).unwrap();
    let db = Db::open(tmp.path(), options()).unwrap();
    let stats = db.stats().unwrap();
    assert_eq!(stats.segments.len(), 4);
    assert_eq!(stats.set_aside.len(), 1);
    assert_eq!(stats.set_aside[0].0, gone);
    // the other four hours still read
    assert_eq!(read_all(&db).len(), want.len() - 60);
}

#[test]
fn every_persist_commits_a_new_generation() {
    let tmp = tempfile::tempdir().unwrap();
    let db = Db::open(tmp.path(), options()).unwrap();
    let g0 = db.stats().unwrap().manifest_generation;
    assert!(matches!(db.open_report().manifest, ManifestStatus::Created));
    db.append(&labels(), T0, 1.0).unwrap();
    db.append(&labels(), T0 + 2 * HOUR, 1.0).unwrap();
    assert_eq!(db.persist_all().unwrap(), 2);
    assert_eq!(db.stats().unwrap().manifest_generation, g0 + 2);
}
