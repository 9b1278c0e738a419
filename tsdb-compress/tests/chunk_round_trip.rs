//! Every series the appender accepts decodes to exactly what went in, bit for bit.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic in a test is a failed assertion

use proptest::prelude::*;
use tsdb_compress::{Chunk, ChunkAppender, ChunkOptions, ChunkRef, Sample};

fn decode_all(chunks: &[Chunk]) -> Vec<Sample> {
    let mut out = Vec::new();
    for c in chunks {
        let view = ChunkRef::new(c.as_bytes()).expect("valid chunk");
        assert_eq!(view.len(), c.len());
        let before = out.len();
        for s in view.iter() {
            out.push(s.expect("decodes"));
        }
        // the columnar path gives the same samples as the iterator
        let (mut ts, mut vs) = (Vec::new(), Vec::new());
        view.decode_into(&mut ts, &mut vs)
            .expect("decodes into columns");
        let iterated = &out[before..];
        assert_eq!(ts, iterated.iter().map(|s| s.t).collect::<Vec<_>>());
        let bits = |v: &[f64]| v.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        assert_eq!(
            bits(&vs),
            bits(&iterated.iter().map(|s| s.v).collect::<Vec<_>>())
        );
    }
    out
}

fn assert_same(got: &[Sample], want: &[Sample]) {
    assert_eq!(got.len(), want.len());
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert_eq!(g.t, w.t, "timestamp {i}");
        assert_eq!(
            g.v.to_bits(),
            w.v.to_bits(),
            "value {i}: {} vs {}",
            g.v,
            w.v
        );
    }
}

fn round_trip(samples: &[Sample], max: usize) -> Vec<Chunk> {
    let chunks = Chunk::encode_series(samples, ChunkOptions { max_samples: max }).unwrap();
    assert_same(&decode_all(&chunks), samples);
    // the open-chunk snapshot decodes the same way as the sealed chunk
    let mut app = ChunkAppender::new(ChunkOptions { max_samples: max }).unwrap();
    for s in samples.iter().take(max) {
        app.append(s.t, s.v).unwrap();
    }
    if let Some(snap) = app.snapshot() {
        assert_same(&decode_all(&[snap]), &samples[..samples.len().min(max)]);
    }
    // ... and so does the open chunk read in place
    assert_same(&decode_open(&app), &samples[..samples.len().min(max)]);
    chunks
}

/// The samples of an open appender, decoded in place (`ChunkAppender::decode_into`).
fn decode_open(app: &ChunkAppender) -> Vec<Sample> {
    let (mut ts, mut vs) = (vec![-1], vec![-1.0]); // appends after what is there
    app.decode_into(&mut ts, &mut vs)
        .expect("open chunk decodes");
    assert_eq!((ts[0], vs[0]), (-1, -1.0));
    ts.into_iter()
        .zip(vs)
        .skip(1)
        .map(|(t, v)| Sample { t, v })
        .collect()
}

/// Strictly increasing timestamps from a start and positive gaps.
fn timestamps(start: i64, gaps: &[u64]) -> Option<Vec<i64>> {
    let mut t = start;
    let mut out = vec![t];
    for &g in gaps {
        t = t.checked_add(i64::try_from(g).ok()?)?;
        out.push(t);
    }
    Some(out)
}

fn interesting_value() -> impl Strategy<Value = f64> {
    prop_oneof![
        3 => any::<u64>().prop_map(f64::from_bits),
        3 => (-100_000i64..100_000, 0u32..4).prop_map(|(m, s)| m as f64 / 10f64.powi(s as i32)),
        1 => Just(f64::from_bits(0x7ff0_0000_0000_0002)), // Prometheus stale marker
        1 => Just(f64::NAN),
        1 => Just(f64::INFINITY),
        1 => Just(f64::NEG_INFINITY),
        1 => Just(-0.0),
        1 => Just(0.0),
        1 => Just(f64::MIN_POSITIVE / 3.0), // subnormal
        1 => Just(f64::MAX),
        1 => Just(9_007_199_254_740_993.0),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_series_round_trip(
        start in any::<i64>(),
        gaps in proptest::collection::vec(1u64..=u64::MAX / 4, 0..300),
        values in proptest::collection::vec(interesting_value(), 301),
        max in 1usize..400,
    ) {
        if let Some(ts) = timestamps(start, &gaps) {
            let samples: Vec<Sample> = ts.iter().zip(&values).map(|(&t, &v)| Sample { t, v }).collect();
            round_trip(&samples, max);
        }
    }

    #[test]
    fn realistic_series_round_trip(
        start in 1_500_000_000_000i64..1_800_000_000_000,
        interval in 1_000i64..60_000,
        jitter in proptest::collection::vec(-20i64..20, 1..1500),
        walk in proptest::collection::vec(-300i64..300, 1500),
        scale in 0i32..4,
        counter in any::<bool>(),
    ) {
        let mut level: i64 = 5_000;
        let samples: Vec<Sample> = jitter.iter().enumerate().map(|(i, j)| {
            level = if counter { level + walk[i].abs() } else { level + walk[i] };
            Sample { t: start + interval * i as i64 + j, v: level as f64 / 10f64.powi(scale) }
        }).collect();
        let chunks = round_trip(&samples, 1024);
        let bytes: usize = chunks.iter().map(|c| c.as_bytes().len()).sum();
        // scaled integers with small steps must beat 16 bytes a sample by far (the
        // allowance covers a ~20-byte header per chunk and the codes' first samples)
        prop_assert!(bytes < samples.len() * 4 + 40 * chunks.len(), "{} bytes for {} samples", bytes, samples.len());
    }

    #[test]
    fn seek_finds_the_first_sample_at_or_after(
        gaps in proptest::collection::vec(1u64..100_000, 1..500),
        constant in any::<bool>(),
        regular in any::<bool>(),
        targets in proptest::collection::vec(any::<u32>(), 1..10),
    ) {
        let gaps: Vec<u64> = if regular { vec![15_000; gaps.len()] } else { gaps };
        let ts = timestamps(1_000_000, &gaps).unwrap();
        let samples: Vec<Sample> = ts.iter().enumerate()
            .map(|(i, &t)| Sample { t, v: if constant { 7.0 } else { i as f64 * 0.5 } })
            .collect();
        let chunk = Chunk::encode_series(&samples, ChunkOptions { max_samples: 1000 }).unwrap().remove(0);
        let last = *ts.last().unwrap();
        for target in targets {
            let t = 999_000 + i64::from(target) % (last - 999_000 + 2000);
            let mut it = chunk.iter().unwrap();
            let want = samples.iter().position(|s| s.t >= t);
            match (it.seek(t), want) {
                (None, None) => {}
                (Some(got), Some(i)) => {
                    let got = got.unwrap();
                    prop_assert_eq!(got.t, samples[i].t);
                    prop_assert_eq!(got.v.to_bits(), samples[i].v.to_bits());
                    // the iterator continues right after the sought sample
                    let rest: Vec<Sample> = it.map(|s| s.unwrap()).collect();
                    prop_assert_eq!(rest.len(), samples.len() - i - 1);
                }
                (got, want) => prop_assert!(false, "seek({}) = {:?}, want index {:?}", t, got, want),
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Every prefix of an open chunk reads in place as what was appended, through the
    /// encoder's rescaling, exceptions, corrections and switch to XOR (values chosen to
    /// provoke them mid-chunk).
    #[test]
    fn open_chunk_decodes_in_place_at_every_length(
        start in any::<i64>(),
        gaps in proptest::collection::vec(1u64..100_000, 0..200),
        values in proptest::collection::vec(interesting_value(), 201),
    ) {
        let Some(ts) = timestamps(start, &gaps) else { return Ok(()) };
        let mut app = ChunkAppender::new(ChunkOptions { max_samples: 1024 }).unwrap();
        prop_assert!(decode_open(&app).is_empty());
        let mut appended = Vec::new();
        for (&t, &v) in ts.iter().zip(&values) {
            app.append(t, v).unwrap();
            appended.push(Sample { t, v });
            assert_same(&decode_open(&app), &appended);
        }
    }
}

#[test]
fn appender_refuses_out_of_order_and_full_without_damage() {
    let mut app = ChunkAppender::new(ChunkOptions { max_samples: 3 }).unwrap();
    app.append(10, 1.0).unwrap();
    app.append(20, 2.0).unwrap();
    let err = app.append(20, 3.0).unwrap_err();
    assert!(matches!(
        err,
        tsdb_compress::Error::OutOfOrder {
            previous: 20,
            timestamp: 20
        }
    ));
    assert!(app.append(5, 3.0).is_err());
    app.append(30, 3.0).unwrap();
    assert!(app.is_full());
    assert!(matches!(
        app.append(40, 4.0),
        Err(tsdb_compress::Error::ChunkFull { max: 3 })
    ));
    let chunk = app.finish().unwrap();
    let got: Vec<(i64, f64)> = chunk
        .iter()
        .unwrap()
        .map(|s| s.map(|s| (s.t, s.v)).unwrap())
        .collect();
    assert_eq!(got, vec![(10, 1.0), (20, 2.0), (30, 3.0)]);
    assert!(ChunkAppender::new(ChunkOptions { max_samples: 0 }).is_err());
    assert!(ChunkAppender::default().finish().is_none());
}

#[test]
fn extreme_timestamps_round_trip() {
    let samples = [
        Sample {
            t: i64::MIN,
            v: 1.0,
        },
        Sample {
            t: i64::MIN + 1,
            v: -0.0,
        },
        Sample { t: -1, v: f64::NAN },
        Sample { t: 0, v: 0.0 },
        Sample {
            t: i64::MAX - 1,
            v: 2.5,
        },
        Sample {
            t: i64::MAX,
            v: f64::from_bits(0x7ff0_0000_0000_0002),
        },
    ];
    round_trip(&samples, 1024);
}

#[test]
fn regular_constant_chunk_is_header_only() {
    let samples: Vec<Sample> = (0..1024)
        .map(|i| Sample {
            t: 1_700_000_000_000 + i * 10_000,
            v: 1.0,
        })
        .collect();
    let chunks = round_trip(&samples, 1024);
    assert_eq!(chunks.len(), 1);
    let view = chunks[0].view().unwrap();
    assert_eq!(
        view.timestamp_encoding(),
        tsdb_compress::TimestampEncoding::Regular
    );
    assert!(matches!(
        view.value_encoding(),
        tsdb_compress::ValueEncoding::Constant(_)
    ));
    // version, encoding, count, first timestamp, span, the constant and the CRC: 26 bytes
    assert!(
        chunks[0].as_bytes().len() <= 26,
        "{} bytes",
        chunks[0].as_bytes().len()
    );
}

#[test]
fn stale_marker_inside_a_decimal_chunk_stays_decimal() {
    let mut samples: Vec<Sample> = (0..200)
        .map(|i| Sample {
            t: i * 15_000,
            v: 50.0 + (i % 10) as f64 * 0.01,
        })
        .collect();
    samples[100].v = f64::from_bits(0x7ff0_0000_0000_0002);
    let chunks = round_trip(&samples, 1024);
    assert!(matches!(
        chunks[0].view().unwrap().value_encoding(),
        tsdb_compress::ValueEncoding::Decimal(_)
    ));
}

#[test]
fn page_sized_gauges_use_a_multiplier() {
    let samples: Vec<Sample> = (0..500)
        .map(|i| Sample {
            t: i * 10_000,
            v: (1_000_000 + (i * 7 % 13) * 3) as f64 * 4096.0,
        })
        .collect();
    let chunks = round_trip(&samples, 1024);
    match chunks[0].view().unwrap().value_encoding() {
        tsdb_compress::ValueEncoding::Decimal(p) => assert_eq!(p.multiplier % 4096, 0),
        other => panic!("expected decimal, got {other:?}"),
    }
}

#[test]
fn decimal_chunks_choose_their_predictor() {
    use tsdb_compress::PredictorChoice;
    let predictor = |chunk: &Chunk| match chunk.view().unwrap().value_encoding() {
        tsdb_compress::ValueEncoding::Decimal(p) => p.predictor,
        other => panic!("expected decimal, got {other:?}"),
    };
    let sample = |i: i64, v: i64| Sample {
        t: i * 10_000,
        v: v as f64 / 100.0,
    };
    let counter: Vec<Sample> = (0..600)
        .map(|i| sample(i, 1_000 + 37 * i + i % 5))
        .collect();
    // pseudo-random levels (splitmix64's mixer), which no extrapolation predicts
    let noise = |i: i64| {
        let x = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        ((x ^ (x >> 27)) >> 57) as i64
    };
    let gauge: Vec<Sample> = (0..600).map(|i| sample(i, 5_000 + noise(i))).collect();
    assert_eq!(
        predictor(&round_trip(&counter, 1024)[0]),
        PredictorChoice::Linear
    );
    assert_eq!(
        predictor(&round_trip(&gauge, 1024)[0]),
        PredictorChoice::Previous
    );
    // a gauge that turns into a counter after the warm-up: the open chunk keeps the
    // predictor it settled on, the sealed one switches
    let mixed: Vec<Sample> = (0..1000)
        .map(|i| {
            if i < 200 {
                sample(i, 20_000 + noise(i))
            } else {
                sample(i, 1_000 + 37 * i)
            }
        })
        .collect();
    assert_eq!(
        predictor(&round_trip(&mixed, 1024)[0]),
        PredictorChoice::Linear
    );
    let mut app = ChunkAppender::new(ChunkOptions::default()).unwrap();
    for s in &mixed {
        app.append(s.t, s.v).unwrap();
    }
    assert_eq!(
        predictor(&app.snapshot().unwrap()),
        PredictorChoice::Previous
    );
}
