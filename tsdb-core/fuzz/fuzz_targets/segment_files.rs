//! A real data directory (two segments, a manifest and a tombstones file) with one of its files
//! replaced by arbitrary bytes, then opened and read through the public API: `Db::open`
//! must either set the damaged segment aside or fail with a typed error, and every read
//! afterwards must be an answer or a typed error. Nothing may panic.
//!
//! The first input byte picks the file: segment `meta`, `index`, `series` or `chunks` of
//! the first segment, or the directory's `tombstones` or `MANIFEST`; the rest is its new
//! content. Bit 7
//! of the first byte keeps the original bytes and overwrites only a prefix of them
//! instead, so the fuzzer also reaches the deeper decoders behind valid headers.
#![no_main]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use tsdb_core::{Db, Options};
use tsdb_index::{Labels, Matcher};

const FILES: [&str; 6] = ["meta", "index", "series", "chunks", "tombstones", "MANIFEST"];

/// A directory with two persisted segments and a deletion, built once.
fn template() -> &'static Path {
    static DIR: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    &DIR.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let data = dir.path().join("data");
        let db = Db::open(&data, options()).expect("open");
        let series: Vec<Labels> = (0..20usize)
            .map(|host| {
                Labels::new([
                    ("__name__", "m"),
                    ("host", format!("h{host}").as_str()),
                    ("rack", ["a", "b"][host % 2]),
                ])
                .expect("labels")
            })
            .collect();
        for i in 0..300i64 {
            for (host, labels) in series.iter().enumerate() {
                let v = if i % 7 == 0 { (i * host as i64) as f64 } else { i as f64 * 0.25 };
                db.append(labels, 1_000_000 + i * 30_000, v).expect("append");
            }
        }
        db.delete(&[Matcher::equal("host", "h3")], 1_100_000, 1_500_000)
            .expect("delete");
        db.persist_all().expect("persist");
        db.close().expect("close");
        (dir, data)
    })
    .1
}

fn options() -> Options {
    Options {
        block_range_ms: 5_000_000,
        max_future_ms: i64::MAX / 4,
        background_maintenance: false,
        ..Options::default()
    }
}

/// Copies `from` into `to`, recursively.
fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else if entry.file_name() != "LOCK" {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

/// The path of `file` in the copy: the directory's tombstones, or the first segment's.
fn target(data: &Path, file: &str) -> Option<PathBuf> {
    if file == "tombstones" || file == "MANIFEST" {
        return Some(data.join(file));
    }
    let mut segments: Vec<PathBuf> = std::fs::read_dir(data.join("segments"))
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    segments.sort();
    Some(segments.first()?.join(file))
}

fuzz_target!(|input: &[u8]| {
    let Some((&pick, bytes)) = input.split_first() else {
        return;
    };
    let file = FILES[usize::from(pick & 0x7f) % FILES.len()];
    let work = tempfile::tempdir().expect("tempdir");
    let data = work.path().join("data");
    copy_dir(template(), &data).expect("copy");
    let Some(path) = target(&data, file) else {
        return;
    };
    let mut content = if pick & 0x80 != 0 {
        std::fs::read(&path).unwrap_or_default()
    } else {
        Vec::new()
    };
    let n = bytes.len().min(content.len().max(bytes.len()));
    content.resize(content.len().max(n), 0);
    content[..bytes.len()].copy_from_slice(bytes);
    std::fs::write(&path, &content).expect("write");

    let Ok(db) = Db::open(&data, options()) else {
        return;
    };
    let _ = db.stats();
    if let Ok(q) = db.querier(i64::MIN, i64::MAX) {
        for matchers in [
            vec![Matcher::equal("__name__", "m")],
            vec![Matcher::regex("host", "h1.*").expect("regex")],
            vec![Matcher::equal("rack", "a"), Matcher::not_equal("host", "h2")],
        ] {
            if let Ok(series) = q.select(&matchers) {
                for s in series {
                    let (mut ts, mut vs) = (Vec::new(), Vec::new());
                    let _ = s.iter().read_into(&mut ts, &mut vs);
                    let _ = s.iter().count();
                }
            }
            let _ = q.label_values("host", &matchers);
        }
        let _ = q.label_names(&[]);
    }
    let _ = db.cardinality(5);
});
