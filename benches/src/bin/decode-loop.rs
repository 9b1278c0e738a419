//! Decodes the NAB sample (or the files given) with one codec, `--reps` times, for
//! instruction counts under `valgrind --tool=callgrind`, which unlike wall time is
//! repeatable on a shared machine. Run once with `--reps 0` for the fixed cost (loading,
//! encoding) and subtract.
//!
//! `cargo run --release -p tsdb-benches --bin decode-loop -- ours|tsz|gorilla [--reps N] [PATH...]`

use std::hint::black_box;
use std::path::PathBuf;
use std::process::ExitCode;

use tsdb_benches::codecs::{self, Codec};
use tsdb_compress::chunk::DEFAULT_MAX_SAMPLES;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let codec = match args.next().as_deref() {
        Some("ours") => Codec::Ours,
        Some("tsz") => Codec::Tsz,
        Some("gorilla") => Codec::Gorilla,
        _ => {
            eprintln!("usage: decode-loop ours|tsz|gorilla [--reps N] [PATH...]");
            return ExitCode::from(2);
        }
    };
    let mut reps = 10usize;
    let mut paths = Vec::new();
    while let Some(a) = args.next() {
        if a == "--reps" {
            reps = args.next().and_then(|n| n.parse().ok()).unwrap_or(reps);
        } else {
            paths.push(PathBuf::from(a));
        }
    }
    let series = if paths.is_empty() {
        tsdb_benches::data::nab()
    } else {
        let files = tsdb_benches::input::collect_files(&paths).unwrap_or_default();
        files
            .iter()
            .filter_map(|f| tsdb_benches::input::read_file(f).ok())
            .flatten()
            .collect()
    };
    let encoded: Vec<codecs::Encoded> = series
        .iter()
        .filter_map(|s| codecs::encode(codec, &s.samples, DEFAULT_MAX_SAMPLES).ok())
        .collect();
    let samples: usize = series.iter().map(|s| s.samples.len()).sum();
    let mut out = Vec::with_capacity(samples);
    for _ in 0..reps {
        out.clear();
        for e in &encoded {
            if codec == Codec::Ours {
                for bytes in e {
                    if let Ok(view) = tsdb_compress::ChunkRef::new(bytes) {
                        out.extend(view.iter().flatten());
                    }
                }
            } else if codecs::decode(codec, e, &mut out).is_err() {
                return ExitCode::FAILURE;
            }
        }
        black_box(&out);
    }
    println!("{samples} samples x {reps} reps");
    ExitCode::SUCCESS
}
