//! The cold tier: segments older than `cold_after_ms` move to `cold_dir` and read the
//! same; a querier from before a move keeps the hot files; reopening finds each segment
//! in its tier; a missing cold directory, or cold segments without one configured, fail
//! the open with an error naming the path; retention, compaction and read-only opens
//! work with cold segments.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use common::T0;
use tsdb_core::wal::SyncMode;
use tsdb_core::{Batch, Db, Error, ManualClock, Options, StorageTier};
use tsdb_index::{Labels, Matcher};

const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;
const START: i64 = T0 / DAY * DAY;

fn options(clock: &Arc<ManualClock>, cold: Option<&Path>, after: i64) -> Options {
    Options {
        clock: clock.clone(),
        background_maintenance: false,
        // the log's durability is not what these tests look at
        sync: SyncMode::Never,
        cold_dir: cold.map(Path::to_path_buf),
        cold_after_ms: cold.map(|_| after),
        ..Options::default()
    }
}

/// Appends `hours` of one sample a minute for five series from `START + from_h` hours,
/// and persists it all.
fn fill(db: &Db, from_h: i64, hours: i64) {
    for m in from_h * 60..(from_h + hours) * 60 {
        let mut b = Batch::new();
        for i in 0..5 {
            let s = b.series(Labels::new([("__name__", "c"), ("i", &i.to_string())]).unwrap());
            b.sample(s, START + m * 60_000, (m * 10 + i) as f64 * 0.5);
        }
        assert!(db.append_batch(&b).unwrap().rejected.is_empty());
    }
    db.persist_all().unwrap();
}

type Dump = Vec<(String, Vec<(i64, u64)>)>;

fn dump_of(q: &tsdb_core::Querier) -> Dump {
    q.select(&[Matcher::equal("__name__", "c")])
        .unwrap()
        .iter()
        .map(|s| {
            let samples = s
                .iter()
                .map(|x| x.map(|x| (x.t, x.v.to_bits())))
                .collect::<Result<Vec<_>, _>>()
                .unwrap();
            (s.labels().to_string(), samples)
        })
        .collect()
}

fn dump(db: &Db) -> Dump {
    dump_of(&db.querier(i64::MIN, i64::MAX - 1).unwrap())
}

/// (directory, tier, max_t) of every open segment.
fn tiers(db: &Db) -> Vec<(PathBuf, StorageTier, i64)> {
    let stats = db.stats().unwrap();
    assert_eq!(stats.segments.len(), stats.segment_tiers.len());
    stats
        .segments
        .iter()
        .zip(&stats.segment_tiers)
        .map(|((d, m, _), t)| (d.clone(), *t, m.max_t))
        .collect()
}

fn subdirs(d: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(d)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    v.sort();
    v
}

struct Dirs {
    _tmp: tempfile::TempDir,
    data: PathBuf,
    cold: PathBuf,
}

fn dirs() -> Dirs {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let cold = tmp.path().join("cold");
    std::fs::create_dir(&cold).unwrap();
    Dirs {
        _tmp: tmp,
        data,
        cold,
    }
}

#[test]
fn segments_move_after_the_age_and_read_the_same_before_and_after() {
    let d = dirs();
    let clock = Arc::new(ManualClock::new(START + 3 * DAY));
    let db = Db::open(&d.data, options(&clock, Some(&d.cold), DAY)).unwrap();
    fill(&db, 0, 70);
    db.compact().unwrap();
    let before = dump(&db);
    assert_eq!(before.len(), 5);
    assert!(tiers(&db).iter().all(|(_, t, _)| *t == StorageTier::Hot));

    let stats = db.move_cold().unwrap();
    // now = START + 3 days: the two whole days (compacted to one segment each) move
    assert_eq!(stats.moved, 2, "{stats:?}");
    assert!(stats.bytes > 0);
    let cold_segments = d.cold.join("segments");
    for (dir, tier, max_t) in tiers(&db) {
        let old = max_t <= START + 2 * DAY;
        assert_eq!(
            tier,
            if old {
                StorageTier::Cold
            } else {
                StorageTier::Hot
            }
        );
        assert_eq!(dir.starts_with(&cold_segments), old, "{}", dir.display());
        assert!(dir.join("chunks").exists());
    }
    // no querier lived: the hot copies are gone already
    let hot_left = subdirs(&d.data.join("segments"));
    let cold_names = subdirs(&cold_segments);
    assert_eq!(cold_names.len(), 2, "{cold_names:?}");
    assert!(cold_names.iter().all(|n| !hot_left.contains(n)));
    assert_eq!(dump(&db), before);
    // nothing more is due
    assert_eq!(db.move_cold().unwrap().moved, 0);
    db.close().unwrap();
    drop(db);

    // reopen: each segment from its tier, nothing removed
    let db = Db::open(&d.data, options(&clock, Some(&d.cold), DAY)).unwrap();
    assert!(db.open_report().removed_leftovers.is_empty());
    assert!(db.open_report().set_aside.is_empty());
    assert_eq!(
        tiers(&db)
            .iter()
            .filter(|t| t.1 == StorageTier::Cold)
            .count(),
        2
    );
    assert_eq!(dump(&db), before);

    // time passes: maintenance moves the third day too, after its persist
    clock.set(START + 5 * DAY);
    db.maintain().unwrap();
    assert!(tiers(&db).iter().all(|(_, t, _)| *t == StorageTier::Cold));
    assert_eq!(dump(&db), before);
    // new data still lands hot
    fill(&db, 4 * 24 + 20, 3);
    assert!(tiers(&db).iter().any(|(_, t, _)| *t == StorageTier::Hot));
}

#[test]
fn a_querier_opened_before_the_move_keeps_the_hot_files_until_dropped() {
    let d = dirs();
    let clock = Arc::new(ManualClock::new(START + 3 * DAY));
    let db = Db::open(&d.data, options(&clock, Some(&d.cold), DAY)).unwrap();
    fill(&db, 0, 70);
    db.compact().unwrap();
    let hot_before: Vec<PathBuf> = tiers(&db).into_iter().map(|t| t.0).collect();
    let old = db.querier(i64::MIN, i64::MAX - 1).unwrap();
    let expected = dump_of(&old);
    assert_eq!(db.move_cold().unwrap().moved, 2);
    // the old querier's segments are the hot ones, still on disk
    for dir in &hot_before {
        assert!(
            dir.join("chunks").exists(),
            "{} removed early",
            dir.display()
        );
    }
    assert_eq!(dump_of(&old), expected);
    // a new querier reads the cold copies
    assert_eq!(dump(&db), expected);
    drop(old);
    // the next maintenance step removes them
    assert_eq!(db.move_cold().unwrap().moved, 0);
    let moved: Vec<&PathBuf> = hot_before
        .iter()
        .filter(|p| !tiers(&db).iter().any(|t| &t.0 == *p))
        .collect();
    assert_eq!(moved.len(), 2);
    for dir in moved {
        assert!(!dir.exists(), "{} left behind", dir.display());
    }
}

#[test]
fn a_missing_cold_dir_is_an_error_naming_it() {
    let d = dirs();
    let clock = Arc::new(ManualClock::new(START + 3 * DAY));
    let missing = d.cold.join("not-mounted");
    let err = Db::open(&d.data, options(&clock, Some(&missing), DAY)).unwrap_err();
    match &err {
        Error::ColdDirUnavailable { path, .. } => assert_eq!(path, &missing),
        e => panic!("expected ColdDirUnavailable, got {e}"),
    }
    assert!(err.to_string().contains("not-mounted"), "{err}");

    // with cold segments: the cold directory gone (an unmounted disk) fails the open
    let db = Db::open(&d.data, options(&clock, Some(&d.cold), DAY)).unwrap();
    fill(&db, 0, 70);
    assert!(db.move_cold().unwrap().moved >= 1);
    db.close().unwrap();
    drop(db);
    let away = d.cold.with_file_name("cold-away");
    std::fs::rename(&d.cold, &away).unwrap();
    let err = Db::open(&d.data, options(&clock, Some(&d.cold), DAY)).unwrap_err();
    assert!(
        matches!(&err, Error::ColdDirUnavailable { path, .. } if path == &d.cold),
        "{err}"
    );
    let err = Db::open_read_only(&d.data, options(&clock, Some(&d.cold), DAY)).unwrap_err();
    assert!(matches!(&err, Error::ColdDirUnavailable { .. }), "{err}");
    // … and so does an empty mount point (its segments/ missing)
    std::fs::create_dir(&d.cold).unwrap();
    let err = Db::open(&d.data, options(&clock, Some(&d.cold), DAY)).unwrap_err();
    assert!(
        matches!(&err, Error::ColdDirUnavailable { path, .. } if path == &d.cold.join("segments")),
        "{err}"
    );
    // nothing but the lock file was created in the mount point, nothing removed: with
    // the disk back, all is there
    assert_eq!(subdirs(&d.cold), ["LOCK"]);
    std::fs::remove_dir_all(&d.cold).unwrap();
    std::fs::rename(&away, &d.cold).unwrap();
    let db = Db::open(&d.data, options(&clock, Some(&d.cold), DAY)).unwrap();
    assert_eq!(
        dump(&db).iter().map(|s| s.1.len()).sum::<usize>(),
        70 * 60 * 5
    );
}

#[test]
fn a_manifest_listing_cold_segments_opened_without_cold_dir_is_an_error() {
    let d = dirs();
    let clock = Arc::new(ManualClock::new(START + 3 * DAY));
    let db = Db::open(&d.data, options(&clock, Some(&d.cold), DAY)).unwrap();
    fill(&db, 0, 70);
    db.compact().unwrap();
    assert_eq!(db.move_cold().unwrap().moved, 2);
    db.close().unwrap();
    drop(db);
    for result in [
        Db::open(&d.data, options(&clock, None, 0)),
        Db::open_read_only(&d.data, options(&clock, None, 0)),
    ] {
        let err = result.unwrap_err();
        match &err {
            Error::ColdTierNotConfigured { manifest, segments } => {
                assert_eq!(manifest, &d.data.join("MANIFEST"));
                assert_eq!(*segments, 2);
            }
            e => panic!("expected ColdTierNotConfigured, got {e}"),
        }
        assert!(err.to_string().contains("MANIFEST"), "{err}");
    }
    // nothing was touched: with the cold tier configured again, all is there
    let db = Db::open(&d.data, options(&clock, Some(&d.cold), DAY)).unwrap();
    assert_eq!(
        dump(&db).iter().map(|s| s.1.len()).sum::<usize>(),
        70 * 60 * 5
    );
}

#[test]
fn cold_tier_options_are_validated() {
    let d = dirs();
    let clock = Arc::new(ManualClock::new(START));
    let only_dir = Options {
        cold_after_ms: None,
        ..options(&clock, Some(&d.cold), DAY)
    };
    let only_age = Options {
        cold_after_ms: Some(DAY),
        ..options(&clock, None, 0)
    };
    let negative = options(&clock, Some(&d.cold), -1);
    let same = options(&clock, Some(&d.data), DAY);
    for o in [only_dir, only_age, negative, same] {
        let err = Db::open(&d.data, o).unwrap_err();
        assert!(matches!(err, Error::InvalidArgument { .. }), "{err}");
    }
}

#[test]
fn two_databases_cannot_share_a_cold_dir() {
    let d = dirs();
    let clock = Arc::new(ManualClock::new(START));
    let _a = Db::open(&d.data, options(&clock, Some(&d.cold), DAY)).unwrap();
    let other = d.data.with_file_name("other");
    let err = Db::open(&other, options(&clock, Some(&d.cold), DAY)).unwrap_err();
    assert!(
        matches!(&err, Error::Locked { path } if path.starts_with(&d.cold)),
        "{err}"
    );
}

#[test]
fn retention_compaction_and_read_only_opens_work_with_cold_segments() {
    let d = dirs();
    let clock = Arc::new(ManualClock::new(START + 3 * DAY));
    // moved after 2 h: the level-0 segments move before compaction merges them
    let mut opts = options(&clock, Some(&d.cold), 2 * HOUR);
    opts.retention_ms = Some(4 * DAY);
    let db = Db::open(&d.data, opts.clone()).unwrap();
    // a whole day (its window complete) and one hour of the next
    fill(&db, 0, 25);
    let before = dump(&db);
    let moved = db.move_cold().unwrap().moved;
    assert_eq!(moved, 13, "the 2 h segments");
    // compaction reads the cold parents, writes hot, removes the cold copies
    let c = db.compact().unwrap();
    assert!(c.segments_written >= 1, "{c:?}");
    assert_eq!(dump(&db), before);
    let t = tiers(&db);
    let kinds: Vec<StorageTier> = t.iter().map(|x| x.1).collect();
    assert_eq!(kinds, [StorageTier::Hot, StorageTier::Cold], "{t:?}");
    assert_eq!(subdirs(&d.cold.join("segments")).len(), 1);
    // and the merged segment moves in turn
    assert_eq!(db.move_cold().unwrap().moved, 1);
    assert!(tiers(&db).iter().all(|x| x.1 == StorageTier::Cold));

    // a read-only open reads it from the cold tier
    let ro = Db::open_read_only(&d.data, opts.clone()).unwrap();
    assert_eq!(dump(&ro), before);
    assert!(tiers(&ro).iter().all(|x| x.1 == StorageTier::Cold));
    drop(ro);

    // retention deletes it in place
    clock.set(START + 5 * DAY + HOUR);
    let r = db.apply_retention().unwrap();
    assert_eq!(r.expired, 2, "{r:?}");
    assert!(dump(&db).iter().all(|s| s.1.is_empty()));
    assert!(subdirs(&d.cold.join("segments")).is_empty());
}

#[test]
fn leftovers_in_the_cold_dir_are_removed_on_open() {
    let d = dirs();
    let clock = Arc::new(ManualClock::new(START + 3 * DAY));
    let db = Db::open(&d.data, options(&clock, Some(&d.cold), DAY)).unwrap();
    fill(&db, 0, 70);
    db.compact().unwrap();
    let before = dump(&db);
    // the hot copy of the oldest segment, kept aside as a crash after the commit would
    // leave it
    let (oldest, _, _) = tiers(&db).into_iter().min_by_key(|t| t.2).unwrap();
    let aside = d.cold.with_file_name("aside");
    common::copy_dir(&oldest, &aside);
    assert_eq!(db.move_cold().unwrap().moved, 2);
    db.close().unwrap();
    drop(db);
    let segs = d.cold.join("segments");
    // a move that crashed before its commit: a .tmp and an unlisted directory
    std::fs::create_dir(segs.join("00000900.tmp")).unwrap();
    common::copy_dir(
        &segs.join(oldest.file_name().unwrap()),
        &segs.join("00000901"),
    );
    // a move that crashed after its commit: the hot copy still there
    common::copy_dir(&aside, &oldest);
    let db = Db::open(&d.data, options(&clock, Some(&d.cold), DAY)).unwrap();
    let mut removed = db.open_report().removed_leftovers.clone();
    removed.sort();
    let mut expected = vec![oldest.clone(), segs.join("00000901")];
    expected.sort();
    assert_eq!(removed, expected);
    assert!(!segs.join("00000900.tmp").exists());
    assert!(!oldest.exists());
    assert_eq!(dump(&db), before);
    db.close().unwrap();
    drop(db);

    // the listed cold copy lost while the hot one is whole: the hot one is read, and
    // listed hot again
    let cold_copy = segs.join(oldest.file_name().unwrap());
    std::fs::remove_dir_all(&cold_copy).unwrap();
    common::copy_dir(&aside, &oldest);
    let db = Db::open(&d.data, options(&clock, Some(&d.cold), DAY)).unwrap();
    assert!(db.open_report().set_aside.is_empty());
    assert_eq!(dump(&db), before);
    let t = tiers(&db);
    assert!(
        t.iter().any(|x| x.0 == oldest && x.1 == StorageTier::Hot),
        "{t:?}"
    );
    // and it moves again
    assert_eq!(db.move_cold().unwrap().moved, 1);
    assert_eq!(dump(&db), before);
    db.close().unwrap();
    drop(db);
    let db = Db::open(&d.data, options(&clock, Some(&d.cold), DAY)).unwrap();
    assert_eq!(dump(&db), before);
}

#[test]
fn a_failed_move_leaves_the_hot_copy_and_a_retry_moves_it() {
    use tsdb_core::testing::{FaultFs, FaultOp};
    for op in [
        FaultOp::Create,
        FaultOp::Fsync,
        FaultOp::SyncDir,
        FaultOp::Rename,
    ] {
        let d = dirs();
        let clock = Arc::new(ManualClock::new(START + 3 * DAY));
        let fault = Arc::new(FaultFs::real());
        let opts = Options {
            fs: fault.clone(),
            ..options(&clock, Some(&d.cold), DAY)
        };
        let db = Db::open(&d.data, opts.clone()).unwrap();
        fill(&db, 0, 70);
        db.compact().unwrap();
        let before = dump(&db);
        fault.fail_next(op);
        assert!(db.move_cold().is_err(), "{op:?}");
        assert!(tiers(&db).iter().all(|t| t.1 == StorageTier::Hot), "{op:?}");
        assert_eq!(dump(&db), before, "{op:?}");
        // the retry moves both, over whatever the failed attempt left
        assert_eq!(db.move_cold().unwrap().moved, 2, "{op:?}");
        assert_eq!(dump(&db), before, "{op:?}");
        db.close().unwrap();
        drop(db);
        let db = Db::open(&d.data, opts).unwrap();
        assert_eq!(dump(&db), before, "{op:?}");
        assert_eq!(subdirs(&d.cold.join("segments")).len(), 2, "{op:?}");
    }
}
