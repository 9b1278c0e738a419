//! Encode and decode throughput of our chunks against tsz and the Gorilla baseline, on
//! the same data in the same run: the bundled NAB files and gen.py fleet data (4 hosts,
//! 24 h, 10 s: 100 series, 864,000 samples).
//!
//! `cargo bench -p tsdb-benches --bench compress`

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::hint::black_box;
use std::time::Duration;
use tsdb_benches::codecs::{self, Codec};
use tsdb_benches::input::Series;
use tsdb_compress::chunk::DEFAULT_MAX_SAMPLES;
use tsdb_compress::ChunkRef;

const CODECS: [Codec; 3] = [Codec::Ours, Codec::Tsz, Codec::Gorilla];

fn datasets() -> Vec<(&'static str, Vec<Series>)> {
    let mut sets = vec![("nab", tsdb_benches::data::nab())];
    if let Some(fleet) = tsdb_benches::data::fleet(4) {
        sets.push(("fleet", fleet));
    }
    sets
}

fn bench(c: &mut Criterion) {
    for (name, series) in datasets() {
        let samples: usize = series.iter().map(|s| s.samples.len()).sum();
        let mut encode = c.benchmark_group(format!("encode/{name}"));
        encode.throughput(Throughput::Elements(samples as u64));
        for codec in CODECS {
            encode.bench_function(BenchmarkId::from_parameter(codec.name()), |b| {
                b.iter(|| {
                    for s in &series {
                        black_box(codecs::encode(codec, &s.samples, DEFAULT_MAX_SAMPLES).ok());
                    }
                })
            });
        }
        encode.finish();

        let mut decode = c.benchmark_group(format!("decode/{name}"));
        decode.throughput(Throughput::Elements(samples as u64));
        for codec in CODECS {
            let encoded: Vec<codecs::Encoded> = series
                .iter()
                .filter_map(|s| codecs::encode(codec, &s.samples, DEFAULT_MAX_SAMPLES).ok())
                .collect();
            if codec == Codec::Ours {
                // the engine's read path: validate (CRC, header) and iterate; samples land
                // in a vector as the peers' do
                let mut out = Vec::with_capacity(samples);
                decode.bench_function(BenchmarkId::from_parameter(codec.name()), |b| {
                    b.iter(|| {
                        out.clear();
                        for chunks in &encoded {
                            for bytes in chunks {
                                if let Ok(view) = ChunkRef::new(bytes) {
                                    out.extend(view.iter().flatten());
                                }
                            }
                        }
                        black_box(out.len())
                    })
                });
            } else {
                let mut out = Vec::with_capacity(samples);
                decode.bench_function(BenchmarkId::from_parameter(codec.name()), |b| {
                    b.iter(|| {
                        out.clear();
                        for e in &encoded {
                            black_box(codecs::decode(codec, e, &mut out).ok());
                        }
                        black_box(out.len())
                    })
                });
            }
        }
        decode.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);
