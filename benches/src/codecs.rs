//! The codecs compared by the report and the benches, behind one interface.
//!
//! Each encodes a series and decodes it back; the report refuses to print a size for a
//! codec whose round trip is not exact, so every figure stands for lossless storage.

use tsdb_compress::gorilla::{self, GorillaEncoder};
use tsdb_compress::{Chunk, ChunkOptions, Sample};

/// A codec under comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Codec {
    /// Our chunk format.
    Ours,
    /// Gorilla as in the paper ([`tsdb_compress::gorilla`]).
    Gorilla,
    /// The `tsz` crate (a Gorilla implementation).
    Tsz,
    /// pcodec, one chunk per series, timestamps and values as two columns.
    Pco,
}

impl Codec {
    /// All codecs in report column order.
    pub const ALL: [Codec; 4] = [Codec::Ours, Codec::Gorilla, Codec::Tsz, Codec::Pco];

    /// Column name.
    pub fn name(self) -> &'static str {
        match self {
            Codec::Ours => "ours",
            Codec::Gorilla => "gorilla",
            Codec::Tsz => "tsz",
            Codec::Pco => "pco",
        }
    }
}

/// Encoded bytes of one series, in whatever units the codec produces.
pub type Encoded = Vec<Vec<u8>>;

/// Encodes `samples`, cut into chunks of `chunk_samples` where the codec has chunks.
pub fn encode(codec: Codec, samples: &[Sample], chunk_samples: usize) -> Result<Encoded, String> {
    match codec {
        Codec::Ours => Chunk::encode_series(
            samples,
            ChunkOptions {
                max_samples: chunk_samples,
            },
        )
        .map(|cs| cs.into_iter().map(Chunk::into_bytes).collect())
        .map_err(|e| e.to_string()),
        Codec::Gorilla => Ok(samples
            .chunks(chunk_samples)
            .map(|c| {
                let mut enc = GorillaEncoder::new();
                for s in c {
                    enc.push(s.t, s.v);
                }
                let mut bytes = (c.len() as u16).to_le_bytes().to_vec();
                bytes.extend(enc.finish());
                bytes
            })
            .collect()),
        Codec::Tsz => samples.chunks(chunk_samples).map(tsz_encode).collect(),
        Codec::Pco => {
            let ts: Vec<i64> = samples.iter().map(|s| s.t).collect();
            let vs: Vec<f64> = samples.iter().map(|s| s.v).collect();
            let config = pco::ChunkConfig::default();
            let t = pco::standalone::simple_compress(&ts, &config).map_err(|e| e.to_string())?;
            let v = pco::standalone::simple_compress(&vs, &config).map_err(|e| e.to_string())?;
            Ok(vec![t, v])
        }
    }
}

fn tsz_encode(chunk: &[Sample]) -> Result<Vec<u8>, String> {
    use tsz::stream::BufferedWriter;
    use tsz::{DataPoint, Encode, StdEncoder};
    let first = chunk.first().map_or(0, |s| s.t);
    // tsz takes unsigned timestamps and stores the first delta in 14 bits: starting the
    // stream at the first sample keeps that delta zero, so millisecond data round-trips.
    let start = u64::try_from(first).map_err(|_| "tsz cannot hold negative timestamps")?;
    let mut enc = StdEncoder::new(start, BufferedWriter::new());
    for s in chunk {
        let t = u64::try_from(s.t).map_err(|_| "tsz cannot hold negative timestamps")?;
        enc.encode(DataPoint::new(t, s.v));
    }
    Ok(enc.close().into_vec())
}

/// Decodes what [`encode`] produced, appending to `out`.
pub fn decode(codec: Codec, encoded: &Encoded, out: &mut Vec<Sample>) -> Result<(), String> {
    match codec {
        Codec::Ours => {
            for bytes in encoded {
                let view = tsdb_compress::ChunkRef::new(bytes).map_err(|e| e.to_string())?;
                for s in view.iter() {
                    out.push(s.map_err(|e| e.to_string())?);
                }
            }
        }
        Codec::Gorilla => {
            for bytes in encoded {
                let (count, stream) = bytes.split_at(2.min(bytes.len()));
                let count = u16::from_le_bytes([
                    count.first().copied().unwrap_or(0),
                    count.get(1).copied().unwrap_or(0),
                ]);
                out.extend(gorilla::decode(stream, usize::from(count)).map_err(|e| e.to_string())?);
            }
        }
        Codec::Tsz => {
            use tsz::decode::Error as TszError;
            use tsz::stream::BufferedReader;
            use tsz::{Decode, StdDecoder};
            for bytes in encoded {
                let mut dec =
                    StdDecoder::new(BufferedReader::new(bytes.clone().into_boxed_slice()));
                loop {
                    match dec.next() {
                        Ok(dp) => out.push(Sample {
                            t: dp.get_time() as i64,
                            v: dp.get_value(),
                        }),
                        Err(TszError::EndOfStream) => break,
                        Err(e) => return Err(format!("tsz: {e}")),
                    }
                }
            }
        }
        Codec::Pco => {
            let [t, v] = encoded.as_slice() else {
                return Err("pco: expected two columns".into());
            };
            let ts: Vec<i64> = pco::standalone::simple_decompress(t).map_err(|e| e.to_string())?;
            let vs: Vec<f64> = pco::standalone::simple_decompress(v).map_err(|e| e.to_string())?;
            out.extend(ts.into_iter().zip(vs).map(|(t, v)| Sample { t, v }));
        }
    }
    Ok(())
}

/// Total encoded bytes.
pub fn encoded_len(encoded: &Encoded) -> usize {
    encoded.iter().map(Vec::len).sum()
}

/// True when `got` equals `want` timestamp for timestamp and bit for bit.
pub fn same_samples(got: &[Sample], want: &[Sample]) -> bool {
    got.len() == want.len()
        && got
            .iter()
            .zip(want)
            .all(|(g, w)| g.t == w.t && g.v.to_bits() == w.v.to_bits())
}
