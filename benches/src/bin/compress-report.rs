//! Bytes per sample of our chunk codec against Gorilla, tsz and pcodec.
//!
//! `cargo run --release -p tsdb-benches --bin compress-report -- [--chunk-samples N] PATH...`
//!
//! Reads every `.csv`, `.om` and `.prom` file under the paths (see
//! `tsdb_benches::input`), encodes each series with every codec, checks that each decodes
//! back bit for bit, and prints one Markdown row per file plus a total. A codec that
//! fails the round trip for a file prints `FAIL` instead of a size.

use std::path::PathBuf;
use std::process::ExitCode;

use tsdb_benches::codecs::{self, Codec};
use tsdb_benches::input;
use tsdb_compress::chunk::DEFAULT_MAX_SAMPLES;
use tsdb_compress::{ChunkRef, TimestampEncoding, ValueEncoding};

#[derive(Default)]
struct Totals {
    series: usize,
    samples: usize,
    bytes: [usize; 4],
    failed: [bool; 4],
}

/// How our chunks chose to encode, for the note under the table.
#[derive(Default)]
struct Mix {
    chunks: usize,
    regular: usize,
    constant: usize,
    decimal: usize,
    xor: usize,
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let mut paths = Vec::new();
    let mut chunk_samples = DEFAULT_MAX_SAMPLES;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--chunk-samples" => match args.next().and_then(|n| n.parse().ok()) {
                Some(n) if (1..=tsdb_compress::chunk::MAX_SAMPLES).contains(&n) => {
                    chunk_samples = n
                }
                _ => return usage("--chunk-samples takes a number from 1 to 65536"),
            },
            "-h" | "--help" => return usage(""),
            _ => paths.push(PathBuf::from(a)),
        }
    }
    if paths.is_empty() {
        return usage("no paths given");
    }
    let files = match input::collect_files(&paths) {
        Ok(f) if !f.is_empty() => f,
        Ok(_) => return usage("no .csv, .om or .prom files under the given paths"),
        Err(e) => {
            eprintln!("compress-report: {e}");
            return ExitCode::FAILURE;
        }
    };

    println!("Chunks of at most {chunk_samples} samples (pco: one chunk per series). Bytes per sample:\n");
    println!("| file | series | samples | ours | gorilla | tsz | pco |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    let mut total = Totals::default();
    let mut mix = Mix::default();
    let mut any_failed = false;
    for file in &files {
        let series = match input::read_file(file) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("compress-report: skipping {e}");
                any_failed = true;
                continue;
            }
        };
        let mut row = Totals {
            series: series.len(),
            ..Totals::default()
        };
        let mut decoded = Vec::new();
        for s in &series {
            row.samples += s.samples.len();
            for (i, codec) in Codec::ALL.into_iter().enumerate() {
                decoded.clear();
                let ok = codecs::encode(codec, &s.samples, chunk_samples).and_then(|enc| {
                    codecs::decode(codec, &enc, &mut decoded)?;
                    if !codecs::same_samples(&decoded, &s.samples) {
                        return Err("round trip differs".into());
                    }
                    if codec == Codec::Ours {
                        count_mix(&enc, &mut mix);
                    }
                    Ok(codecs::encoded_len(&enc))
                });
                match ok {
                    Ok(n) => row.bytes[i] += n,
                    Err(e) => {
                        if !row.failed[i] {
                            eprintln!("{}: {} {}: {e}", file.display(), codec.name(), s.name);
                        }
                        row.failed[i] = true;
                    }
                }
            }
        }
        let name = file
            .strip_prefix(common_root(&paths))
            .unwrap_or(file)
            .display()
            .to_string();
        print_row(&name, &row);
        total.series += row.series;
        total.samples += row.samples;
        for i in 0..4 {
            total.bytes[i] += row.bytes[i];
            total.failed[i] |= row.failed[i];
        }
        any_failed |= row.failed.iter().any(|f| *f);
    }
    print_row("total", &total);
    let per = |i: usize| total.bytes[i] as f64;
    println!();
    println!(
        "ours/gorilla {:.3}, ours/tsz {:.3}, ours/pco {:.3}",
        per(0) / per(1),
        per(0) / per(2),
        per(0) / per(3)
    );
    println!(
        "our chunks: {} in all; timestamps regular {:.1}%; values constant {:.1}%, decimal {:.1}%, xor {:.1}%",
        mix.chunks,
        pct(mix.regular, mix.chunks),
        pct(mix.constant, mix.chunks),
        pct(mix.decimal, mix.chunks),
        pct(mix.xor, mix.chunks)
    );
    if any_failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn pct(n: usize, of: usize) -> f64 {
    if of == 0 {
        0.0
    } else {
        100.0 * n as f64 / of as f64
    }
}

fn count_mix(encoded: &codecs::Encoded, mix: &mut Mix) {
    for bytes in encoded {
        if let Ok(c) = ChunkRef::new(bytes) {
            mix.chunks += 1;
            mix.regular += usize::from(c.timestamp_encoding() == TimestampEncoding::Regular);
            match c.value_encoding() {
                ValueEncoding::Constant(_) => mix.constant += 1,
                ValueEncoding::Decimal(_) => mix.decimal += 1,
                ValueEncoding::Xor => mix.xor += 1,
            }
        }
    }
}

fn common_root(paths: &[PathBuf]) -> PathBuf {
    match paths {
        [one] if one.is_dir() => one.clone(),
        [one] => one.parent().map(PathBuf::from).unwrap_or_default(),
        _ => PathBuf::new(),
    }
}

fn print_row(name: &str, row: &Totals) {
    let cell = |i: usize| {
        if row.failed[i] {
            "FAIL".to_string()
        } else if row.samples == 0 {
            "-".to_string()
        } else {
            format!("{:.3}", row.bytes[i] as f64 / row.samples as f64)
        }
    };
    println!(
        "| {name} | {} | {} | {} | {} | {} | {} |",
        row.series,
        row.samples,
        cell(0),
        cell(1),
        cell(2),
        cell(3)
    );
}

fn usage(problem: &str) -> ExitCode {
    if !problem.is_empty() {
        eprintln!("compress-report: {problem}");
    }
    eprintln!(
        "usage: compress-report [--chunk-samples N] PATH...\n\
         Reads .csv (timestamp,value), .om (OpenMetrics) and .prom files under each PATH."
    );
    if problem.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    }
}
