//! Issue 11, defect 4: one damaged byte in the write-ahead log must not lock the data
//! away. Every command refuses a damaged log by default with exit 4 and a message that
//! names `tsdb repair`; `tsdb repair` cuts the log at the damage, says what it dropped,
//! and keeps every segment and everything before the damage; `--wal-recovery truncate`
//! does the same from any command.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};

use common::{export, now_s, tsdb, Samples};
use tsdb_core::{Db, Options};
use tsdb_examples::import::tool_options;
use tsdb_index::Labels;

/// A directory as a finished import leaves it (yesterday's data in segments), plus
/// samples of the last half hour appended by a writer and left in the log (20 batches,
/// so 20 records, in log files of `wal_file_size` bytes). Returns the segment data
/// and the logged samples in append order.
fn fixture(dir: &Path, wal_file_size: u64) -> (Samples, Vec<(i64, u64)>) {
    let (text, persisted) = common::openmetrics(2, 400, now_s() - 86_400);
    let file = dir.join("old.om");
    std::fs::write(&file, text).unwrap();
    let data = dir.join("data");
    common::import_ok(&data, &file);

    let db = Db::open(
        &data,
        Options {
            wal_file_size,
            ..tool_options()
        },
    )
    .unwrap();
    let labels = Labels::new([("__name__", "fresh")]).unwrap();
    let t0 = (now_s() - 1800) * 1000;
    let mut logged = Vec::new();
    for batch in 0..20 {
        let mut b = tsdb_core::Batch::new();
        let s = b.series(labels.clone());
        for i in 0..50 {
            let t = t0 + (batch * 50 + i) * 1000;
            let v = (batch * 50 + i) as f64;
            b.sample(s, t, v);
            logged.push((t, v.to_bits()));
        }
        let outcome = db.append_batch(&b).unwrap();
        assert!(outcome.rejected.is_empty());
    }
    db.close().unwrap();
    (persisted, logged)
}

fn wal_files(data: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(data.join("wal"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

fn segments(data: &Path) -> usize {
    std::fs::read_dir(data.join("segments")).unwrap().count()
}

/// Every reading command refuses with exit 4 and names the repair.
fn refused_everywhere(data: &str) {
    for args in [
        vec!["inspect", "--data", data],
        vec!["export", "--data", data],
        vec!["query", "--data", data, "fresh"],
        vec!["import", "--data", data, "/dev/null"],
        vec!["delete", "--data", data, "--match", "fresh"],
    ] {
        let mut args = args;
        if args[0] == "import" {
            args.extend(["--format", "prom"]);
        }
        let (code, out, err) = tsdb(&args);
        assert_eq!((code, out.as_str()), (4, ""), "{args:?}: {err}");
        assert!(
            err.contains("the write-ahead log is damaged")
                && err.contains(&format!("run `tsdb repair --data {data}`")),
            "{args:?}: {err}"
        );
    }
}

/// Repairs, then checks that the segments are whole and the log kept a prefix of what
/// was appended; returns how many logged samples survived.
fn repair_keeps_segments_and_a_prefix(
    data: &Path,
    persisted: &Samples,
    logged: &[(i64, u64)],
) -> usize {
    let segments_before = segments(data);
    let data_s = data.to_str().unwrap();
    let (code, out, err) = tsdb(&["repair", "--data", data_s]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with("write-ahead log repaired: dropped from "),
        "{out}"
    );
    assert!(
        out.contains(&format!("segments kept: {segments_before}")),
        "{out}"
    );
    assert_eq!(segments(data), segments_before);

    let got = export(data);
    for (series, samples) in persisted {
        assert_eq!(&got[series], samples, "{series}: segments are kept whole");
    }
    let fresh = got.get("fresh{}").cloned().unwrap_or_default();
    assert_eq!(fresh, logged[..fresh.len()], "the log keeps a prefix");

    // repaired once, intact from then on
    let (code, out, _) = tsdb(&["repair", "--data", data_s]);
    assert_eq!(code, 0);
    assert!(
        out.starts_with("write-ahead log intact: nothing dropped"),
        "{out}"
    );
    let (code, _, err) = tsdb(&["inspect", "--data", data_s]);
    assert_eq!(code, 0, "{err}");
    fresh.len()
}

#[test]
fn a_byte_flipped_in_the_middle_of_the_log() {
    let tmp = tempfile::tempdir().unwrap();
    let (persisted, logged) = fixture(tmp.path(), tsdb_core::wal::DEFAULT_FILE_SIZE);
    let data = tmp.path().join("data");
    let data_s = data.to_str().unwrap();
    // the log file with the records: the largest
    let file = wal_files(&data)
        .into_iter()
        .max_by_key(|p| std::fs::metadata(p).unwrap().len())
        .unwrap();
    let mut bytes = std::fs::read(&file).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    std::fs::write(&file, &bytes).unwrap();

    refused_everywhere(data_s);

    // any command can be told to read past the damage: a reading command (read-only)
    // reads up to it and changes nothing
    let copy = tmp.path().join("copy");
    copy_dir(&data, &copy);
    let copied_log = copy.join(file.strip_prefix(&data).unwrap());
    let damaged = std::fs::read(&copied_log).unwrap();
    let (code, out, err) = tsdb(&[
        "query",
        "--data",
        copy.to_str().unwrap(),
        "--wal-recovery",
        "truncate",
        "count(fresh)",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("the write-ahead log is damaged; read up to the damage, changed nothing"),
        "{err}"
    );
    assert!(out.starts_with("{\"status\":\"success\""), "{out}");
    assert_eq!(
        std::fs::read(&copied_log).unwrap(),
        damaged,
        "a query changed the log"
    );

    let kept = repair_keeps_segments_and_a_prefix(&data, &persisted, &logged);
    assert!(
        kept > 0 && kept < logged.len(),
        "{kept} of {}",
        logged.len()
    );
}

#[test]
fn a_damaged_log_file_header() {
    let tmp = tempfile::tempdir().unwrap();
    // small log files: the records spread over several of them
    let (persisted, logged) = fixture(tmp.path(), 2048);
    let data = tmp.path().join("data");
    let files: Vec<PathBuf> = wal_files(&data)
        .into_iter()
        .filter(|p| std::fs::metadata(p).unwrap().len() > 8)
        .collect();
    assert!(files.len() >= 4, "{files:?}");
    // the header of a file in the middle: its reserved bytes are no longer zero
    let file = &files[files.len() / 2];
    let mut bytes = std::fs::read(file).unwrap();
    bytes[6] = 0xff;
    std::fs::write(file, &bytes).unwrap();

    refused_everywhere(data.to_str().unwrap());
    let kept = repair_keeps_segments_and_a_prefix(&data, &persisted, &logged);
    assert!(
        kept > 0 && kept < logged.len(),
        "{kept} of {}",
        logged.len()
    );
}

#[test]
fn a_truncated_checkpoint_of_a_finished_import() {
    let tmp = tempfile::tempdir().unwrap();
    let (text, persisted) = common::openmetrics(3, 2000, now_s() - 86_400);
    let file = tmp.path().join("in.om");
    std::fs::write(&file, text).unwrap();
    let data = tmp.path().join("data");
    common::import_ok(&data, &file);
    let checkpoint = std::fs::read_dir(data.join("wal"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.is_dir())
        .unwrap()
        .join("00000000");
    assert_eq!(std::fs::metadata(&checkpoint).unwrap().len(), 8);
    std::fs::OpenOptions::new()
        .write(true)
        .open(&checkpoint)
        .unwrap()
        .set_len(3)
        .unwrap();

    refused_everywhere(data.to_str().unwrap());
    let kept = repair_keeps_segments_and_a_prefix(&data, &persisted, &[]);
    assert_eq!(kept, 0);
    assert_eq!(export(&data), persisted, "every imported sample is there");
}

#[test]
fn repair_needs_an_existing_directory_and_leaves_a_healthy_one_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("missing");
    let (code, _, err) = tsdb(&["repair", "--data", missing.to_str().unwrap()]);
    assert_eq!(code, 3, "{err}");
    assert!(!missing.exists());

    let (persisted, logged) = fixture(tmp.path(), tsdb_core::wal::DEFAULT_FILE_SIZE);
    let data = tmp.path().join("data");
    let (code, out, err) = tsdb(&["repair", "--data", data.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with("write-ahead log intact: nothing dropped"),
        "{out}"
    );
    assert!(out.contains("replayed "), "{out}");
    let got = export(&data);
    assert_eq!(got["fresh{}"], logged);
    assert_eq!(got.len(), persisted.len() + 1);
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

#[test]
fn repair_reports_in_json() {
    let tmp = tempfile::tempdir().unwrap();
    fixture(tmp.path(), tsdb_core::wal::DEFAULT_FILE_SIZE);
    let data = tmp.path().join("data");
    let data_s = data.to_str().unwrap();
    let file = wal_files(&data)
        .into_iter()
        .max_by_key(|p| std::fs::metadata(p).unwrap().len())
        .unwrap();
    let mut bytes = std::fs::read(&file).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    std::fs::write(&file, &bytes).unwrap();
    let segments_before = segments(&data);

    let json = |out: &str| -> serde_json::Value {
        assert_eq!(out.lines().count(), 1, "{out}");
        serde_json::from_str(out).unwrap()
    };
    let (code, out, err) = tsdb(&["repair", "--data", data_s, "--output", "json"]);
    assert_eq!(code, 0, "{err}");
    let report = json(&out);
    assert_eq!(report["repaired"], true, "{report}");
    let dropped = &report["dropped"];
    assert_eq!(
        dropped["path"].as_str().map(Path::new),
        Some(file.as_path()),
        "{report}"
    );
    let offset = dropped["offset"].as_u64().unwrap();
    assert!(offset > 0 && offset <= mid as u64, "{report}");
    assert!(dropped["bytes"].as_u64().unwrap() > 0, "{report}");
    assert!(dropped["records"].as_u64().unwrap() >= 1, "{report}");
    assert_eq!(dropped["files_removed"], 0, "{report}");
    assert!(dropped["reason"].as_str().is_some_and(|r| !r.is_empty()));
    assert_eq!(report["segments_kept"], segments_before);
    assert_eq!(report["set_aside"], serde_json::json!([]));
    assert!(
        report["replayed_records"].as_u64().unwrap() >= 1,
        "{report}"
    );
    assert!(report["head"]["samples"].as_u64().is_some(), "{report}");

    // repaired once, intact from then on
    let (code, out, err) = tsdb(&["repair", "--data", data_s, "--output", "json"]);
    assert_eq!(code, 0, "{err}");
    let report = json(&out);
    assert_eq!(report["repaired"], false, "{report}");
    assert_eq!(report["dropped"], serde_json::Value::Null);
    assert_eq!(report["torn_tail"], serde_json::Value::Null);
}
