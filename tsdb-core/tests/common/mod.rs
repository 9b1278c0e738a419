//! Helpers shared by the integration tests. Each test file compiles this module on its
//! own (`mod common;`), so not every file uses every helper.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::Arc;

use tsdb_core::fs::Fs;
use tsdb_core::wal::{Record, RecoveryReport, Wal, WalOptions};

/// A start time for test data: 2023-11-14, a whole second.
pub const T0: i64 = 1_700_000_000_000;

/// Copies the directory tree `from` to `to` (created), leaving out `LOCK` files so the
/// copy of a database can be opened while the original is open.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else if e.file_name() != "LOCK" {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

/// Opens the log in `dir` through `fs`, collecting every record replayed.
pub fn open_wal(
    fs: Arc<dyn Fs>,
    dir: &Path,
    opts: WalOptions,
) -> tsdb_core::Result<(Wal, Vec<Record>, RecoveryReport)> {
    let mut got = Vec::new();
    let (wal, report) = Wal::open_with_fs(fs, dir, opts, |r| {
        got.push(r);
        Ok(())
    })?;
    Ok((wal, got, report))
}

/// Opens the log in `dir` through `fs`, collects every record replayed, and closes it.
pub fn replay_wal(
    fs: Arc<dyn Fs>,
    dir: &Path,
    opts: WalOptions,
) -> tsdb_core::Result<(Vec<Record>, RecoveryReport)> {
    let (wal, got, report) = open_wal(fs, dir, opts)?;
    wal.close()?;
    Ok((got, report))
}
