//! The chunk: the compressed samples of one series over a stretch of time.
//!
//! Byte layout in `FORMAT.md`. A [`ChunkAppender`] encodes samples as they arrive (the
//! head keeps open chunks compressed) and seals them into a [`Chunk`]; a [`ChunkRef`]
//! validates bytes read from disk or the network and hands out [`ChunkIter`]s, which
//! decode in batches of 64 samples into a fixed buffer, without allocating.

use crate::bits::BitReader;
use crate::decimal::{DecimalParams, PredictorChoice};
use crate::error::{Error, Result};
use crate::timestamp::{TimestampDecoder, TimestampEncoder};
use crate::values::{ValueDecoder, ValueEncoder, ValueEncoding, ValueStreams};
use crate::Sample;
use tsdb_encoding::{put_uvarint, put_varint, split_crc, Cursor};

/// Samples per chunk unless configured otherwise. Larger chunks amortise the ~19-byte
/// header and let the adaptive codes settle; 1024 samples of a 10 s scrape cover about
/// 2.8 hours, one head block range, and decode in a few microseconds.
pub const DEFAULT_MAX_SAMPLES: usize = 1024;

/// Hard upper bound on samples in one chunk, checked when decoding so that a corrupt
/// count cannot make an iterator run for ever over a stream-less chunk.
pub const MAX_SAMPLES: usize = 1 << 16;

/// The chunk format this build writes, in the chunk's first byte (FORMAT.md, "Versions
/// and compatibility").
pub const FORMAT_VERSION: u8 = 3;
/// The oldest chunk format this build reads. Format 2 chunks carry no version byte: they
/// start with the encoding byte, whose values (low nibble 0 or 1) no version byte takes.
pub const OLDEST_FORMAT_VERSION: u8 = 2;
/// Version byte values: 2 to 15. A first byte outside them is a format 2 encoding byte.
const VERSION_BYTES: std::ops::RangeInclusive<u8> = 2..=15;

const TS_REGULAR: u8 = 0;
const TS_DELTA_OF_DELTA: u8 = 1;
const VALUES_CONSTANT: u8 = 0;
const VALUES_XOR: u8 = 1;
/// Decimal values since format 2 (one predictor per chunk, residuals in two streams by
/// sample parity, corrections in streams of their own). Id 2, format 1's decimal
/// encoding, is refused.
const VALUES_DECIMAL: u8 = 3;
/// Bits of a decimal chunk's scale byte: the scale (0..=18), the linear predictor, a
/// reserved zero bit, and whether a correction stream follows the residuals.
const SCALE_MASK: u8 = 0x1f;
const LINEAR_FLAG: u8 = 0x20;
const RESERVED_FLAG: u8 = 0x40;
const CORRECTIONS_FLAG: u8 = 0x80;

/// Smallest possible chunk of any format read: (format 3: a version byte,) encoding
/// byte, count, first timestamp, span, CRC.
const MIN_CHUNK_LEN: usize = 1 + 1 + 1 + 1 + 4;

/// How a chunk stores its timestamps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimestampEncoding {
    /// `first + i * interval`; no stream.
    Regular,
    /// Delta-of-delta stream ([`crate::timestamp`]).
    DeltaOfDelta,
}

/// Options for [`ChunkAppender`].
#[derive(Clone, Copy, Debug)]
pub struct ChunkOptions {
    /// Samples after which the appender reports itself full. Default
    /// [`DEFAULT_MAX_SAMPLES`]; must be between 1 and [`MAX_SAMPLES`].
    pub max_samples: usize,
}

impl Default for ChunkOptions {
    fn default() -> Self {
        Self {
            max_samples: DEFAULT_MAX_SAMPLES,
        }
    }
}

#[derive(Clone, Debug)]
struct Open {
    first_t: i64,
    last_t: i64,
    ts: TimestampEncoder,
    values: ValueEncoder,
}

/// Encodes the samples of one series, in strictly increasing time order, into a chunk.
#[derive(Clone, Debug)]
pub struct ChunkAppender {
    max_samples: usize,
    open: Option<Open>,
}

impl Default for ChunkAppender {
    fn default() -> Self {
        Self {
            max_samples: DEFAULT_MAX_SAMPLES,
            open: None,
        }
    }
}

impl ChunkAppender {
    /// An empty appender.
    pub fn new(options: ChunkOptions) -> Result<Self> {
        if options.max_samples == 0 || options.max_samples > MAX_SAMPLES {
            return Err(Error::InvalidArgument(
                format!(
                    "max_samples must be 1..={MAX_SAMPLES}, got {}",
                    options.max_samples
                )
                .into(),
            ));
        }
        Ok(Self {
            max_samples: options.max_samples,
            open: None,
        })
    }

    /// Samples appended so far.
    pub fn len(&self) -> usize {
        self.open.as_ref().map_or(0, |o| o.ts.count())
    }

    /// True before the first append.
    pub fn is_empty(&self) -> bool {
        self.open.is_none()
    }

    /// True when the next append would be refused with [`Error::ChunkFull`].
    pub fn is_full(&self) -> bool {
        self.len() >= self.max_samples
    }

    /// Timestamp of the last sample appended.
    pub fn last_timestamp(&self) -> Option<i64> {
        self.open.as_ref().map(|o| o.last_t)
    }

    /// Timestamp of the first sample appended.
    pub fn first_timestamp(&self) -> Option<i64> {
        self.open.as_ref().map(|o| o.first_t)
    }

    /// Appends a sample. Refuses, leaving the chunk unchanged, a timestamp that is not
    /// after the previous one ([`Error::OutOfOrder`]) and any sample once full
    /// ([`Error::ChunkFull`]).
    pub fn append(&mut self, t: i64, v: f64) -> Result<()> {
        match &mut self.open {
            None => {
                self.open = Some(Open {
                    first_t: t,
                    last_t: t,
                    ts: TimestampEncoder::new(t),
                    values: ValueEncoder::new(v),
                });
            }
            Some(open) => {
                if open.ts.count() >= self.max_samples {
                    return Err(Error::ChunkFull {
                        max: self.max_samples,
                    });
                }
                if t <= open.last_t {
                    return Err(Error::OutOfOrder {
                        previous: open.last_t,
                        timestamp: t,
                    });
                }
                open.ts.push(t);
                open.values.push(v);
                open.last_t = t;
            }
        }
        Ok(())
    }

    /// Seals the chunk, spending a little time on the smallest encoding. `None` if empty.
    pub fn finish(self) -> Option<Chunk> {
        let open = self.open?;
        let (values, streams) = open.values.seal();
        Some(write_chunk(
            open.first_t,
            open.last_t,
            &open.ts,
            values,
            &streams,
        ))
    }

    /// Decodes the samples appended so far into two columns, as the sealed chunk would
    /// decode, without building one: the streams are read where the encoder keeps them
    /// (copied once into one buffer, since each keeps its last bits in a register
    /// word), with no chunk header, CRC or per-stream vectors. This is how the head reads
    /// the open chunk of a series on every query; the cost is the decoding.
    pub fn decode_into(&self, ts: &mut Vec<i64>, vs: &mut Vec<f64>) -> Result<()> {
        let Some(open) = &self.open else {
            return Ok(());
        };
        let mut streams = Vec::new();
        open.view(&mut streams)?.decode_into(ts, vs)
    }

    /// The samples so far as a chunk, leaving the appender open (for reading the head).
    pub fn snapshot(&self) -> Option<Chunk> {
        let open = self.open.as_ref()?;
        let (values, streams) = open.values.snapshot();
        Some(write_chunk(
            open.first_t,
            open.last_t,
            &open.ts,
            values,
            &streams,
        ))
    }
}

impl Open {
    /// A view over the streams as they stand, written into `streams`: the same fields
    /// [`ChunkRef::parse`] reads from a header, taken from the encoders instead.
    fn view<'a>(&self, streams: &'a mut Vec<u8>) -> Result<ChunkRef<'a>> {
        let count = self.ts.count();
        let ts_encoding = if self.ts.is_regular() {
            TimestampEncoding::Regular
        } else {
            TimestampEncoding::DeltaOfDelta
        };
        streams.clear();
        if ts_encoding == TimestampEncoding::DeltaOfDelta {
            self.ts.stream().write_to(streams);
        }
        let ts_len = streams.len();
        let (values, lens) = self.values.write_streams(streams);
        let streams: &'a [u8] = streams;
        let (ts_stream, region) = streams.split_at(ts_len);
        let residuals = lens.main + lens.second;
        let (main, corrections) = region.split_at(residuals.min(region.len()));
        let (gaps, correction_values) = corrections.split_at(lens.gaps.min(corrections.len()));
        Ok(ChunkRef {
            // the streams as the writer writes them: the current format
            version: FORMAT_VERSION,
            count,
            first_t: self.first_t,
            last_t: self.last_t,
            ts_encoding,
            values,
            ts_stream,
            ts_offset: 0,
            value_decoder: ValueDecoder::new(
                values,
                [
                    BitReader::window(main, 0, lens.main, ts_len),
                    BitReader::window(main, lens.main, main.len(), ts_len),
                    BitReader::new(gaps, ts_len + residuals),
                    BitReader::new(correction_values, ts_len + residuals + lens.gaps),
                ],
                lens.nonzero,
            )?,
        })
    }
}

fn write_chunk(
    first_t: i64,
    last_t: i64,
    ts: &TimestampEncoder,
    values: ValueEncoding,
    streams: &ValueStreams,
) -> Chunk {
    let ts_code = if ts.is_regular() {
        TS_REGULAR
    } else {
        TS_DELTA_OF_DELTA
    };
    let value_code = match values {
        ValueEncoding::Constant(_) => VALUES_CONSTANT,
        ValueEncoding::Xor => VALUES_XOR,
        ValueEncoding::Decimal(_) => VALUES_DECIMAL,
    };
    let ts_stream = if ts_code == TS_REGULAR {
        Vec::new()
    } else {
        ts.stream().to_bytes()
    };
    let corrections = streams.corrections.clone().unwrap_or_default();
    let mut out = Vec::with_capacity(
        48 + ts_stream.len()
            + streams.main.len()
            + streams.second.len()
            + corrections.gaps.len()
            + corrections.values.len(),
    );
    out.push(FORMAT_VERSION);
    out.push(ts_code | (value_code << 4));
    put_uvarint(&mut out, ts.count() as u64);
    put_varint(&mut out, first_t);
    put_uvarint(&mut out, last_t.wrapping_sub(first_t).cast_unsigned());
    if ts_code == TS_DELTA_OF_DELTA {
        put_uvarint(&mut out, ts_stream.len() as u64);
    }
    match values {
        ValueEncoding::Constant(v) => out.extend_from_slice(&v.to_bits().to_le_bytes()),
        ValueEncoding::Xor => {}
        ValueEncoding::Decimal(p) => {
            let linear = match p.predictor {
                PredictorChoice::Previous => 0,
                PredictorChoice::Linear => LINEAR_FLAG,
            };
            out.push(p.scale | linear | if p.corrections { CORRECTIONS_FLAG } else { 0 });
            put_uvarint(&mut out, p.multiplier);
            put_varint(&mut out, p.base);
            put_uvarint(&mut out, streams.main.len() as u64);
            if p.corrections {
                put_uvarint(&mut out, streams.second.len() as u64);
                put_uvarint(&mut out, corrections.nonzero);
                put_uvarint(&mut out, corrections.gaps.len() as u64);
            }
        }
    }
    out.extend_from_slice(&ts_stream);
    if value_code != VALUES_CONSTANT {
        out.extend_from_slice(&streams.main);
        out.extend_from_slice(&streams.second);
        out.extend_from_slice(&corrections.gaps);
        out.extend_from_slice(&corrections.values);
    }
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    Chunk { bytes: out }
}

/// An encoded chunk that owns its bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct Chunk {
    bytes: Vec<u8>,
}

impl std::fmt::Debug for Chunk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.as_chunk_ref() {
            Ok(c) => f
                .debug_struct("Chunk")
                .field("samples", &c.len())
                .field("min_time", &c.min_time())
                .field("max_time", &c.max_time())
                .field("bytes", &self.bytes.len())
                .finish(),
            Err(_) => f.debug_struct("Chunk").field("bytes", &self.bytes).finish(),
        }
    }
}

impl Chunk {
    /// Encodes `samples` (strictly increasing timestamps) into chunks of at most
    /// `options.max_samples` each.
    pub fn encode_series(samples: &[Sample], options: ChunkOptions) -> Result<Vec<Chunk>> {
        let mut out = Vec::new();
        let mut app = ChunkAppender::new(options)?;
        for s in samples {
            if app.is_full() {
                out.extend(std::mem::take(&mut app).finish());
                app = ChunkAppender::new(options)?;
            }
            app.append(s.t, s.v)?;
        }
        out.extend(app.finish());
        Ok(out)
    }

    /// The encoded bytes, CRC included.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Takes the bytes.
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }

    /// A parsed view, without re-checking the CRC of bytes this process encoded.
    fn as_chunk_ref(&self) -> Result<ChunkRef<'_>> {
        ChunkRef::parse(&self.bytes, false)
    }

    /// A parsed view. Bytes built by [`ChunkAppender`] always parse; the `Result` covers
    /// chunks rebuilt from foreign bytes through [`Chunk::from_bytes`].
    pub fn view(&self) -> Result<ChunkRef<'_>> {
        self.as_chunk_ref()
    }

    /// Validates foreign bytes (CRC and header) and takes ownership of them.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Chunk> {
        ChunkRef::new(&bytes)?;
        Ok(Chunk { bytes })
    }

    /// Iterates the samples.
    pub fn iter(&self) -> Result<ChunkIter<'_>> {
        Ok(self.as_chunk_ref()?.iter())
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.as_chunk_ref().map_or(0, |c| c.len())
    }

    /// A chunk always holds at least one sample, so this is false for valid chunks.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A validated view of an encoded chunk in borrowed bytes (for example an mmapped file).
#[derive(Clone, Debug)]
pub struct ChunkRef<'a> {
    version: u8,
    count: usize,
    first_t: i64,
    last_t: i64,
    ts_encoding: TimestampEncoding,
    values: ValueEncoding,
    ts_stream: &'a [u8],
    ts_offset: usize,
    /// A decoder positioned at the first value, cloned by every iterator.
    value_decoder: ValueDecoder<'a>,
}

impl<'a> ChunkRef<'a> {
    /// Parses and validates `bytes`: the CRC, every header field, and that the streams lie
    /// inside the chunk. Sample streams are checked as they are decoded.
    pub fn new(bytes: &'a [u8]) -> Result<Self> {
        Self::parse(bytes, true)
    }

    fn parse(bytes: &'a [u8], check_crc: bool) -> Result<Self> {
        if bytes.len() < MIN_CHUNK_LEN {
            return Err(Error::corrupt(
                0,
                format!("chunk of {} bytes is shorter than any chunk", bytes.len()),
            ));
        }
        let (body, stored) =
            split_crc(bytes).ok_or_else(|| Error::corrupt(0, "chunk shorter than its CRC"))?;
        if check_crc {
            let computed = crc32fast::hash(body);
            if stored != computed {
                return Err(Error::ChecksumMismatch { stored, computed });
            }
        }
        let mut c = Cursor::new(body);
        let first = c.u8("chunk format version")?;
        let (version, enc) = match first {
            FORMAT_VERSION => (FORMAT_VERSION, c.u8("encoding")?),
            v if VERSION_BYTES.contains(&v) => {
                return Err(Error::Unsupported {
                    what: "chunk format version",
                    found: u64::from(v),
                })
            }
            // format 2: no version byte, this is the encoding byte
            enc => (OLDEST_FORMAT_VERSION, enc),
        };
        let ts_encoding = match enc & 0x0f {
            TS_REGULAR => TimestampEncoding::Regular,
            TS_DELTA_OF_DELTA => TimestampEncoding::DeltaOfDelta,
            other => {
                return Err(Error::Unsupported {
                    what: "timestamp encoding",
                    found: u64::from(other),
                })
            }
        };
        let count_at = c.position();
        let count = c.uvarint("sample count")?;
        if count == 0 || count > MAX_SAMPLES as u64 {
            return Err(Error::corrupt(
                count_at,
                format!("sample count {count} out of range"),
            ));
        }
        let count = usize::try_from(count)
            .map_err(|_| Error::corrupt(count_at, "sample count exceeds usize"))?;
        let first_t = c.varint("first timestamp")?;
        let span_at = c.position();
        let span = c.uvarint("time span")?;
        let last_t = first_t.wrapping_add(span.cast_signed());
        if count > 1 && (span < count as u64 - 1 || last_t <= first_t) {
            return Err(Error::corrupt(
                span_at,
                "time span too short for strictly increasing timestamps",
            ));
        }
        if count == 1 && span != 0 {
            return Err(Error::corrupt(
                span_at,
                "one sample with a nonzero time span",
            ));
        }
        let ts_len = match ts_encoding {
            TimestampEncoding::Regular => {
                if count > 1 && span % (count as u64 - 1) != 0 {
                    return Err(Error::corrupt(
                        span_at,
                        "regular timestamps with a span not divisible by the interval count",
                    ));
                }
                0
            }
            TimestampEncoding::DeltaOfDelta => c.uvarint("timestamp stream length")?,
        };
        // decimal: the length of the even samples' residual stream and, with corrections,
        // the odd samples' one (else it runs to the CRC)
        let mut residual_lens = None;
        let mut nonzero_corrections = 0;
        let mut gaps_len = 0;
        let values = match enc >> 4 {
            VALUES_CONSTANT => ValueEncoding::Constant(f64::from_bits(c.u64_le("constant")?)),
            VALUES_XOR => ValueEncoding::Xor,
            VALUES_DECIMAL => {
                let scale_byte = c.u8("decimal scale")?;
                if scale_byte & RESERVED_FLAG != 0 {
                    return Err(Error::Unsupported {
                        what: "decimal flags",
                        found: u64::from(scale_byte),
                    });
                }
                let scale = scale_byte & SCALE_MASK;
                let predictor = if scale_byte & LINEAR_FLAG != 0 {
                    PredictorChoice::Linear
                } else {
                    PredictorChoice::Previous
                };
                let corrections = scale_byte & CORRECTIONS_FLAG != 0;
                let multiplier = c.uvarint("decimal multiplier")?;
                let base = c.varint("decimal base")?;
                let len = |c: &mut Cursor<'_>, what| {
                    c.uvarint(what)
                        .map(|n| usize::try_from(n).unwrap_or(usize::MAX))
                };
                let even = len(&mut c, "decimal residual stream length")?;
                let odd = if corrections {
                    Some(len(&mut c, "decimal residual stream length")?)
                } else {
                    None
                };
                residual_lens = Some((even, odd));
                if corrections {
                    nonzero_corrections = c.uvarint("nonzero corrections")?;
                    gaps_len = len(&mut c, "correction gap stream length")?;
                }
                let params = DecimalParams {
                    scale,
                    multiplier,
                    base,
                    corrections,
                    predictor,
                };
                ValueEncoding::Decimal(params)
            }
            other => {
                return Err(Error::Unsupported {
                    what: "value encoding",
                    found: u64::from(other),
                })
            }
        };
        let ts_offset = c.position();
        let ts_len = usize::try_from(ts_len).unwrap_or(usize::MAX);
        let ts_stream = c.bytes(ts_len, "timestamp stream")?;
        let value_offset = c.position();
        let values_region = c.rest();
        // the residual streams share one slice (their readers share a pointer and length)
        let (split, residuals_len) = match residual_lens {
            Some((even, Some(odd))) => (even, even.saturating_add(odd)),
            Some((even, None)) => (even, values_region.len()),
            None => (values_region.len(), values_region.len()),
        };
        if split > values_region.len() || residuals_len > values_region.len() {
            return Err(Error::corrupt(
                value_offset,
                "value streams longer than the chunk",
            ));
        }
        let (main, corrections) = values_region.split_at(residuals_len);
        let (gaps, correction_values) = corrections.split_at(gaps_len.min(corrections.len()));
        if gaps.len() != gaps_len {
            return Err(Error::corrupt(
                value_offset + residuals_len,
                "correction streams longer than the chunk",
            ));
        }
        if matches!(values, ValueEncoding::Constant(_)) && !main.is_empty() {
            return Err(Error::corrupt(
                value_offset,
                "trailing bytes after a constant chunk",
            ));
        }
        Ok(Self {
            version,
            count,
            first_t,
            last_t,
            ts_encoding,
            values,
            ts_stream,
            ts_offset,
            value_decoder: ValueDecoder::new(
                values,
                [
                    BitReader::window(main, 0, split, value_offset),
                    BitReader::window(main, split, main.len(), value_offset),
                    BitReader::new(gaps, value_offset + residuals_len),
                    BitReader::new(correction_values, value_offset + residuals_len + gaps_len),
                ],
                nonzero_corrections,
            )?,
        })
    }

    /// The chunk format the bytes are in: [`FORMAT_VERSION`] for chunks this build
    /// wrote, down to [`OLDEST_FORMAT_VERSION`] for older ones.
    pub fn format_version(&self) -> u8 {
        self.version
    }

    /// Number of samples (at least one).
    pub fn len(&self) -> usize {
        self.count
    }

    /// Always false: a chunk holds at least one sample.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Timestamp of the first sample.
    pub fn min_time(&self) -> i64 {
        self.first_t
    }

    /// Timestamp of the last sample.
    pub fn max_time(&self) -> i64 {
        self.last_t
    }

    /// How the timestamps are stored.
    pub fn timestamp_encoding(&self) -> TimestampEncoding {
        self.ts_encoding
    }

    /// How the values are stored.
    pub fn value_encoding(&self) -> ValueEncoding {
        self.values
    }

    /// Iterates the samples in time order.
    pub fn iter(&self) -> ChunkIter<'a> {
        let ts = match self.ts_encoding {
            TimestampEncoding::Regular => {
                let interval = if self.count > 1 {
                    (self.last_t.wrapping_sub(self.first_t).cast_unsigned()
                        / (self.count as u64 - 1))
                        .cast_signed()
                } else {
                    0
                };
                TsState::Regular {
                    next: self.first_t,
                    interval,
                }
            }
            TimestampEncoding::DeltaOfDelta => TsState::Stream(TimestampDecoder::new(
                self.first_t,
                self.ts_stream,
                self.ts_offset,
            )),
        };
        ChunkIter {
            ts,
            values: self.value_decoder.clone(),
            undecoded: self.count,
            last_t: self.last_t,
            constant_regular: matches!(self.values, ValueEncoding::Constant(_))
                && self.ts_encoding == TimestampEncoding::Regular,
            pos: 0,
            len: 0,
            buf_t: [0; BATCH],
            buf_v: [0.0; BATCH],
        }
    }

    /// Decodes every sample, appending timestamps and values to two columns: the fastest
    /// way to read a whole chunk. On error the columns keep what was appended before the
    /// failing batch.
    pub fn decode_into(&self, ts: &mut Vec<i64>, vs: &mut Vec<f64>) -> Result<()> {
        let mut it = self.iter();
        ts.reserve(self.count);
        vs.reserve(self.count);
        while it.undecoded > 0 {
            it.refill()?;
            ts.extend_from_slice(it.buf_t.get(..it.len).unwrap_or_default());
            vs.extend_from_slice(it.buf_v.get(..it.len).unwrap_or_default());
        }
        Ok(())
    }
}

/// Samples decoded at a time by [`ChunkIter`]: enough to amortise the per-batch setup,
/// small enough that the buffers (1 KiB) stay in L1.
const BATCH: usize = 64;

#[derive(Clone, Debug)]
enum TsState<'a> {
    Regular { next: i64, interval: i64 },
    Stream(TimestampDecoder<'a>),
}

/// Decodes a chunk in batches of 64 samples into a fixed buffer and hands them out one
/// at a time, so the decoding loops run per encoding with no per-sample dispatch and
/// nothing is allocated. When the stream is found corrupt it yields the error once
/// (the samples of the batch being decoded are dropped) and then ends.
#[derive(Clone, Debug)]
pub struct ChunkIter<'a> {
    ts: TsState<'a>,
    values: ValueDecoder<'a>,
    /// Samples not yet decoded into the buffer.
    undecoded: usize,
    last_t: i64,
    constant_regular: bool,
    /// Next buffered sample to return, and how many are buffered.
    pos: usize,
    len: usize,
    buf_t: [i64; BATCH],
    buf_v: [f64; BATCH],
}

impl ChunkIter<'_> {
    /// Decodes the next batch into the buffer; on error nothing is buffered.
    fn refill(&mut self) -> Result<()> {
        let n = self.undecoded.min(BATCH);
        self.pos = 0;
        self.len = 0;
        let (Some(ts), Some(vs)) = (self.buf_t.get_mut(..n), self.buf_v.get_mut(..n)) else {
            return Err(Error::corrupt(0, "batch larger than its buffer"));
        };
        self.undecoded -= n;
        match &mut self.ts {
            TsState::Regular { next, interval } => {
                let mut t = *next;
                for slot in ts.iter_mut() {
                    *slot = t;
                    t = t.wrapping_add(*interval);
                }
                *next = t;
            }
            TsState::Stream(d) => {
                if let Err(e) = d.decode_batch(ts) {
                    self.undecoded = 0;
                    return Err(e);
                }
            }
        }
        if let Err(e) = self.values.decode_batch(vs) {
            self.undecoded = 0;
            return Err(e);
        }
        if self.undecoded == 0 && ts.last() != Some(&self.last_t) {
            return Err(Error::corrupt(
                0,
                "last timestamp disagrees with the header",
            ));
        }
        self.len = n;
        Ok(())
    }

    /// Advances to the first sample at or after `t` and returns it, or `None` when the
    /// chunk has no such sample. Samples before it are decoded but not returned.
    pub fn seek(&mut self, t: i64) -> Option<Result<Sample>> {
        if self.remaining() == 0 {
            return None;
        }
        if t > self.last_t {
            self.pos = self.len;
            self.undecoded = 0;
            return None;
        }
        // Whole batches before `t` are skipped without looking at their samples.
        let buffered_before =
            |it: &Self| it.pos < it.len && it.buf_t.get(it.len - 1).is_some_and(|&last| last < t);
        if buffered_before(self) {
            self.pos = self.len;
        }
        if self.pos == self.len && self.constant_regular {
            // Both halves are arithmetic: jump straight to the sample.
            if let TsState::Regular { next, interval } = &mut self.ts {
                if t > *next && *interval > 0 && self.undecoded > 0 {
                    let steps = t
                        .wrapping_sub(*next)
                        .cast_unsigned()
                        .div_ceil(interval.cast_unsigned());
                    // below `undecoded`, so it fits usize and i64 alike
                    let skip = usize::try_from(steps)
                        .unwrap_or(usize::MAX)
                        .min(self.undecoded - 1);
                    *next = next.wrapping_add((skip as u64).cast_signed().wrapping_mul(*interval));
                    self.undecoded -= skip;
                }
            }
        }
        for s in self.by_ref() {
            match s {
                Ok(s) if s.t < t => continue,
                other => return Some(other),
            }
        }
        None
    }

    /// Samples not yet returned.
    pub fn remaining(&self) -> usize {
        self.undecoded + (self.len - self.pos)
    }
}

impl Iterator for ChunkIter<'_> {
    type Item = Result<Sample>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.pos == self.len {
            if self.undecoded == 0 {
                return None;
            }
            if let Err(e) = self.refill() {
                return Some(Err(e));
            }
        }
        let i = self.pos;
        self.pos += 1;
        match (self.buf_t.get(i), self.buf_v.get(i)) {
            (Some(&t), Some(&v)) => Some(Ok(Sample { t, v })),
            _ => None,
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.remaining()))
    }
}
