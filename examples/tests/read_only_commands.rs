//! The reading commands (`query`, `query-range`, `export`, `inspect`) open the data
//! directory read-only: they run while another process has it open for writing, write
//! nothing (no log file per run), and a mistyped path is an error, not a new database.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;

use common::tsdb;
use tsdb_core::{Db, Options};
use tsdb_index::Labels;

fn listing(dir: &Path) -> Vec<(String, u64)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p.clone());
            }
            let len = std::fs::metadata(&p).unwrap().len();
            out.push((p.display().to_string(), len));
        }
    }
    out.sort();
    out
}

#[test]
fn reading_commands_run_beside_a_writer_and_write_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    // this process holds the directory open for writing (and its lock) throughout
    let writer = Db::open(&data, Options::default()).unwrap();
    let now = 1_700_000_000_000;
    let labels = Labels::new([("__name__", "m"), ("host", "a")]).unwrap();
    for i in 0..10 {
        writer.append(&labels, now + i * 1000, i as f64).unwrap();
    }
    let before = listing(&data);
    let d = data.to_str().unwrap();
    for _ in 0..3 {
        let (code, out, err) = tsdb(&["query", "--data", d, "--time", "1700000010", "m"]);
        assert_eq!(code, 0, "{err}");
        assert!(out.contains(r#""value":[1700000010,"9"]"#), "{out}");
        let (code, out, err) = tsdb(&["export", "--data", d]);
        assert_eq!(code, 0, "{err}");
        assert_eq!(out.matches("m{host=\"a\"}").count(), 10, "{out}");
        let (code, _, err) = tsdb(&["inspect", "--data", d]);
        assert_eq!(code, 0, "{err}");
    }
    assert_eq!(listing(&data), before, "a reading command wrote");
    // a writing command is refused while the writer holds the lock
    let (code, _, err) = tsdb(&["delete", "--data", d, "--match", "m"]);
    assert_eq!(code, 3, "{err}");
    writer.close().unwrap();
}

#[test]
fn a_mistyped_path_is_an_error_for_every_reading_command() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("typo");
    let m = missing.to_str().unwrap();
    for args in [
        vec!["query", "--data", m, "up"],
        vec!["export", "--data", m],
        vec!["inspect", "--data", m],
    ] {
        let (code, _, err) = tsdb(&args);
        assert_eq!(code, 3, "{args:?}: {err}");
        assert!(!missing.exists(), "{args:?} created the directory");
    }
}
