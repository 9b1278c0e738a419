//! Arbitrary bytes through `tsdb import`'s whole pipeline: the format from the file name
//! or the flag, streaming parse with contradiction checks, the plausible-time rule,
//! sorting, and appending to a `Db` in a temporary directory. It must never panic, and
//! its accounting must add up: every sample read is loaded or refused for a counted
//! reason (or its whole file is refused), and the database holds no more than was loaded,
//! all of it plausible. The first byte picks the options.
//!
//! The database does not persist (no `persist_all`, no automatic persist): persisting is
//! the engine's business, fuzzed on its own, and a sample a year from another would make
//! each run step through thousands of block ranges.
#![no_main]

use std::sync::Arc;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use tsdb_core::{Db, ManualClock, Options};
use tsdb_examples::import::{
    fuzzing, plausible, Format, ImportError, ImportOptions, Note, Parsed, Reason, TimeCheck,
    MIN_MEMORY_LIMIT,
};
use tsdb_index::{Matcher, METRIC_NAME};
use tsdb_text::influx::Precision;

/// The clock of every run (June 2025).
const NOW: i64 = 1_750_000_000_000;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, input)) = data.split_first() else {
        return;
    };
    let ext = ["prom", "om", "lp", "data"][usize::from(mode & 3)];
    let format = (mode & 4 != 0).then(|| {
        [Format::Prometheus, Format::OpenMetrics, Format::Influx, Format::Influx]
            [usize::from((mode >> 3) & 3)]
    });
    let precision = [
        Precision::Nanoseconds,
        Precision::Microseconds,
        Precision::Milliseconds,
        Precision::Seconds,
    ][usize::from((mode >> 5) & 3)];
    let time_check = if mode & 0x80 != 0 {
        TimeCheck::Any
    } else {
        TimeCheck::Plausible { now_ms: NOW }
    };

    let tmp = tempfile::tempdir().expect("a temporary directory");
    let file = tmp.path().join(format!("in.{ext}"));
    std::fs::write(&file, input).expect("writing the input");

    // read in tiny blocks, the file gives what one whole read gives
    let read_format = format.unwrap_or(Format::Influx);
    let whole = read_items(&file, read_format, precision, 1 << 20, 1 << 20);
    let block = 1 + input.len() % 13;
    let max_line = 1 << 20;
    assert_eq!(
        read_items(&file, read_format, precision, block, max_line),
        whole,
        "block {block}"
    );
    let options = ImportOptions {
        format,
        precision,
        memory_limit: MIN_MEMORY_LIMIT,
        spill_dir: Some(tmp.path().to_path_buf()),
        time_check,
        show_per_reason: 3,
        progress_interval: Duration::ZERO,
    };
    let mut described = 0u64;
    let mut notes = |n: Note<'_>| {
        if let Note::Refused { message, .. } = n {
            assert!(!message.is_empty());
            described += 1;
        }
    };
    let parsed = match Parsed::read(&[file], &options, &mut notes) {
        Ok(p) => p,
        Err(ImportError::UnknownFormat { .. }) => {
            assert!(format.is_none() && ext == "data");
            return;
        }
        Err(e) => panic!("reading a file in a temporary directory: {e}"),
    };
    let samples = parsed.samples();
    let db = Db::open(
        tmp.path().join("data"),
        Options {
            background_maintenance: false,
            clock: Arc::new(ManualClock::new(NOW)),
            ..options.db_options()
        },
    )
    .expect("opening a fresh directory");
    let summary = parsed.append_to(&db, &mut notes).expect("appending");

    assert_eq!(summary.samples, samples);
    let per_sample: u64 = summary
        .refused
        .iter()
        .filter(|(r, _)| r.is_implausible_time() || matches!(r, Reason::Db(_)))
        .map(|(_, n)| n)
        .sum();
    if summary.refused.contains_key(&Reason::FileFormat) {
        assert_eq!(summary.loaded, 0);
    } else {
        assert_eq!(summary.loaded + per_sample, summary.samples, "{summary:?}");
    }
    let shown: u64 = summary.refused.values().map(|&n| n.min(3)).sum();
    assert_eq!(described, shown);

    // the database holds at most what was loaded, all of it plausible
    let q = db.querier(i64::MIN, i64::MAX).expect("a querier");
    let matchers = [Matcher::regex(METRIC_NAME, ".+").expect("a regex")];
    let mut held = 0u64;
    for s in q.select(&matchers).expect("select") {
        for r in s.iter() {
            let t = r.expect("reading back what was appended").t;
            if time_check != TimeCheck::Any {
                assert!(
                    plausible::check(t, NOW, None).is_none(),
                    "implausible {t} stored"
                );
            }
            held += 1;
        }
    }
    assert!(held <= summary.loaded, "{held} > {}", summary.loaded);
    drop(q);
    db.close().expect("closing");
});


/// Everything `read_file` hands out, as text, and the contradiction if any.
fn read_items(
    file: &std::path::Path,
    format: Format,
    precision: Precision,
    block: usize,
    max_line: usize,
) -> (Vec<String>, Option<fuzzing::Contradiction>, u64) {
    let mut items = Vec::new();
    let end = fuzzing::read_file(
        file,
        format,
        precision,
        fuzzing::Limits { block, max_line },
        &mut |item, _| {
            items.push(match item {
                fuzzing::Item::Sample(s) => format!(
                    "{} {:?} {:x}",
                    s.labels,
                    s.timestamp,
                    s.value.to_bits()
                ),
                fuzzing::Item::Line(e) => e.to_string(),
                fuzzing::Item::TooLong(line) => format!("line {line} too long"),
            });
            Ok(())
        },
    )
    .expect("reading a file in a temporary directory");
    (items, end.contradiction, end.string_fields_skipped)
}
