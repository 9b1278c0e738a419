//! A damaged segment never panics the engine and never serves wrong data: flipping any
//! byte of its files makes opening set it aside, or makes the query that meets the damage
//! fail with `Error::Corruption` (after which the segment is left out), or (for bytes no
//! reader depends on) changes nothing that is read. The other segments keep serving.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use common::{copy_dir, T0};
use tsdb_core::{Db, Error, ManualClock, Options};
use tsdb_index::{Labels, Matcher};

fn options() -> Options {
    Options {
        block_range_ms: 60_000,
        clock: Arc::new(ManualClock::new(T0 + 1_000_000_000)),
        // the segments as persisted, not merged by a compaction in the background
        background_maintenance: false,
        ..Options::default()
    }
}

type Data = BTreeMap<String, Vec<(i64, u64)>>;

/// Everything readable, or the first error.
fn read(db: &Db) -> Result<Data, Error> {
    let q = db.querier(i64::MIN, i64::MAX)?;
    let mut out = Data::new();
    for s in q.select(&[Matcher::equal("__name__", "c")])? {
        let v: Result<Vec<(i64, u64)>, Error> =
            s.iter().map(|r| r.map(|x| (x.t, x.v.to_bits()))).collect();
        out.insert(s.labels().to_string(), v?);
    }
    Ok(out)
}

fn build(dir: &Path) -> Data {
    let db = Db::open(dir, options()).unwrap();
    for i in 0..30 {
        for s in 0..4 {
            let l = Labels::new([("__name__", "c"), ("s", &s.to_string())]).unwrap();
            db.append(&l, T0 + i * 5_000, (i * s) as f64 * 0.5).unwrap();
        }
    }
    db.persist_all().unwrap();
    assert_eq!(db.stats().unwrap().segments.len(), 3);
    let data = read(&db).unwrap();
    db.close().unwrap();
    data
}

#[test]
fn every_flipped_byte_is_caught_or_harmless() {
    let tmp = tempfile::tempdir().unwrap();
    let clean = tmp.path().join("clean");
    let want = build(&clean);
    let seg = clean.join("segments").join("00000002");
    let mut files: Vec<_> = std::fs::read_dir(&seg)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let mut cases = 0;
    for file in files {
        let name = file.file_name().unwrap().to_owned();
        let original = std::fs::read(&file).unwrap();
        for pos in 0..original.len() {
            let work = tmp.path().join(format!("case{cases}"));
            copy_dir(&clean, &work);
            let mut bytes = original.clone();
            bytes[pos] ^= 0x5a;
            std::fs::write(work.join("segments/00000002").join(&name), &bytes).unwrap();
            let db = Db::open(&work, options()).unwrap();
            let set_aside = !db.stats().unwrap().set_aside.is_empty();
            match read(&db) {
                Ok(got) if set_aside => {
                    // the other segments still serve: only this segment's range is gone
                    assert!(got.values().all(|v| !v.is_empty()), "{name:?}@{pos}");
                }
                Ok(got) => assert_eq!(got, want, "{name:?}@{pos}: wrong data served"),
                Err(Error::Corruption { .. }) => {
                    // reported, then left out of later queries
                    let again = read(&db).expect("later queries skip the corrupt segment");
                    assert!(again.len() <= want.len());
                }
                Err(e) => panic!("{name:?}@{pos}: unexpected error {e}"),
            }
            drop(db);
            std::fs::remove_dir_all(&work).unwrap();
            cases += 1;
        }
    }
    assert!(cases > 200, "only {cases} cases");
}
