//! Chooses and runs the value codec of one chunk.
//!
//! A chunk starts in the decimal codec when its first value is a short decimal and in XOR
//! otherwise. A later value that needs a few more decimal digits (at most
//! [`MAX_RESCALE`] in all) rescales the chunk. Any other value the scale cannot hold (a
//! NaN, or binary noise such as `0.20199999999999999` between readings of `0.202`) is
//! stored verbatim as an exception. When exceptions become common the chunk is
//! re-encoded in XOR if that is smaller. Rescaling and switching re-encode the samples so
//! far (decoded from the chunk's own stream), picking whichever of decimal and XOR is
//! smaller (decimal unless XOR is smaller by an eighth, as XOR is final), so a chunk
//! never pays twice for its history. They are rare: the scale only grows, XOR is final,
//! and exception checks back off geometrically. When the chunk is sealed, a decimal
//! stream is re-encoded once more if its changes share a common divisor or the other
//! predictor would clearly have done better.

use crate::bits::{BitReader, BitWriter};
use crate::decimal::{self, DecimalDecoder, DecimalEncoder, DecimalParams};
use crate::error::Result;
use crate::xor::{XorDecoder, XorEncoder};

/// How a chunk's values are stored (the high nibble of the chunk's encoding byte).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ValueEncoding {
    /// Every value has the same bit pattern; no stream.
    Constant(f64),
    /// Gorilla XOR stream.
    Xor,
    /// Scaled-integer stream.
    Decimal(DecimalParams),
}

/// Most decimal digits a chunk rescales to; values needing more are exceptions.
pub const MAX_RESCALE: u8 = 12;

/// First exception count at which XOR is reconsidered; doubles after each check.
const FIRST_EXCEPTION_CHECK: usize = 4;

// The decimal encoder is large and the XOR one small; boxing would allocate per chunk
// for the common case to save space in the rare one.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
enum Mode {
    Xor(XorEncoder),
    Decimal(DecimalEncoder),
}

/// Streams the values of one chunk.
#[derive(Clone, Debug)]
pub struct ValueEncoder {
    mode: Mode,
    bits: BitWriter,
    count: usize,
    first_bits: u64,
    constant: bool,
    exceptions: usize,
    next_exception_check: usize,
}

impl ValueEncoder {
    /// An encoder whose first value is `first`.
    pub fn new(first: f64) -> Self {
        let mut enc = Self::empty_for(first);
        enc.push(first);
        enc
    }

    fn empty_for(first: f64) -> Self {
        let exact = decimal::min_scale(first, 0).filter(|&(s, _)| s <= MAX_RESCALE);
        let mode = match exact {
            Some((scale, m)) => Mode::Decimal(DecimalEncoder::new(scale, m, 1, false)),
            None => {
                match (0..=MAX_RESCALE).find_map(|s| decimal::nearest(first, s).map(|n| (s, n))) {
                    Some((scale, (m, _))) => Mode::Decimal(DecimalEncoder::new(scale, m, 1, true)),
                    None => Mode::Xor(XorEncoder::default()),
                }
            }
        };
        Self::with_mode(mode, first)
    }

    fn with_mode(mode: Mode, first: f64) -> Self {
        Self {
            mode,
            bits: BitWriter::new(),
            count: 0,
            first_bits: first.to_bits(),
            constant: true,
            exceptions: 0,
            next_exception_check: FIRST_EXCEPTION_CHECK,
        }
    }

    /// Appends a value.
    #[inline]
    pub fn push(&mut self, v: f64) {
        let first = self.count == 0;
        self.count += 1;
        self.constant &= v.to_bits() == self.first_bits;
        match &mut self.mode {
            Mode::Xor(x) => x.push(&mut self.bits, v),
            Mode::Decimal(d) => {
                let params = d.params();
                if first {
                    // the first value is the header's base, plus its correction if any
                    if let Some((_, c)) = decimal::nearest(v, params.scale) {
                        d.push_first_correction(c);
                    }
                    return;
                }
                if let Some(m) = decimal::to_scaled(v, params.scale) {
                    d.push(m, 0);
                    return;
                }
                if !decimal::is_exception(v) {
                    // a few more digits: rescale
                    if let Some(scale) = (params.scale + 1..=MAX_RESCALE)
                        .find(|&s| decimal::to_scaled(v, s).is_some())
                    {
                        self.count -= 1;
                        self.reencode(v, Some((scale, params.corrections)));
                        return;
                    }
                    // binary noise next to a decimal: correct it
                    if let Some((m, c)) = decimal::nearest(v, params.scale) {
                        if params.corrections {
                            d.push(m, c);
                        } else {
                            self.count -= 1;
                            self.reencode(v, Some((params.scale, true)));
                        }
                        return;
                    }
                }
                d.push_exception(v);
                self.exceptions += 1;
                if self.exceptions >= self.next_exception_check && self.exceptions * 4 >= self.count
                {
                    self.next_exception_check *= 2;
                    self.reconsider_xor();
                }
            }
        }
    }

    /// Switches to XOR if that encodes the samples so far in fewer bits.
    #[cold]
    fn reconsider_xor(&mut self) {
        let values = self.decode_all();
        let xor = Self::encode_all(&values, |first| {
            Self::with_mode(Mode::Xor(XorEncoder::default()), first)
        });
        if xor.bit_len() < self.bit_len() && xor.count == self.count {
            *self = xor;
        }
    }

    /// Rebuilds the stream with `next` appended, as decimal at `(scale, corrections)` or as
    /// XOR, whichever is smaller.
    #[cold]
    fn reencode(&mut self, next: f64, decimal: Option<(u8, bool)>) {
        let mut values = self.decode_all();
        values.push(next);
        let xor = Self::encode_all(&values, |first| {
            Self::with_mode(Mode::Xor(XorEncoder::default()), first)
        });
        let best = decimal
            .and_then(|(scale, corrections)| {
                let first = *values.first()?;
                let base = match decimal::to_scaled(first, scale) {
                    Some(m) => m,
                    None if corrections => decimal::nearest(first, scale)?.0,
                    None => return None,
                };
                Some(Self::encode_all(&values, |first| {
                    Self::with_mode(
                        Mode::Decimal(DecimalEncoder::new(scale, base, 1, corrections)),
                        first,
                    )
                }))
            })
            // XOR is final, and decimal tends to pull ahead over a chunk: keep decimal
            // unless XOR is clearly smaller so far (by an eighth; a plain comparison
            // lost 20 % on a NAB series when a few bits decided it early)
            .filter(|dec| dec.bit_len() <= xor.bit_len() + xor.bit_len() / 8)
            .unwrap_or(xor);
        *self = best;
    }

    fn encode_all(values: &[f64], make: impl FnOnce(f64) -> Self) -> Self {
        let first = values.first().copied().unwrap_or(0.0);
        let mut enc = make(first);
        for &v in values {
            enc.push(v);
        }
        enc
    }

    /// Decodes this encoder's own stream. It cannot fail: the stream was written here.
    fn decode_all(&self) -> Vec<f64> {
        let (encoding, streams) = self.streams();
        let split = streams.main.len();
        let both = [streams.main, streams.second].concat();
        let corrections = streams.corrections.unwrap_or_default();
        let Ok(mut dec) = ValueDecoder::new(
            encoding,
            [
                BitReader::window(&both, 0, split, 0),
                BitReader::window(&both, split, both.len(), 0),
                BitReader::new(&corrections.gaps, 0),
                BitReader::new(&corrections.values, 0),
            ],
            corrections.nonzero,
        ) else {
            return Vec::new();
        };
        let mut values = vec![0.0; self.count];
        match dec.decode_batch(&mut values) {
            Ok(()) => values,
            Err(_) => Vec::new(),
        }
    }

    /// The encoding and streams as they stand, without sealing work.
    pub fn snapshot(&self) -> (ValueEncoding, ValueStreams) {
        if self.constant {
            return (
                ValueEncoding::Constant(f64::from_bits(self.first_bits)),
                ValueStreams::default(),
            );
        }
        self.streams()
    }

    /// The encoding and streams as they stand (what [`ValueEncoder::snapshot`] returns),
    /// appended to `out` back to back (main, second, correction gaps, correction values)
    /// instead of into fresh vectors: reading an open chunk then costs one buffer, not a
    /// chunk built per query.
    pub fn write_streams(&self, out: &mut Vec<u8>) -> (ValueEncoding, StreamLens) {
        let mut lens = StreamLens::default();
        if self.constant {
            return (
                ValueEncoding::Constant(f64::from_bits(self.first_bits)),
                lens,
            );
        }
        let mut put = |w: &BitWriter, len: &mut usize| {
            let start = out.len();
            w.write_to(out);
            *len = out.len() - start;
        };
        match &self.mode {
            Mode::Xor(_) => {
                put(&self.bits, &mut lens.main);
                (ValueEncoding::Xor, lens)
            }
            Mode::Decimal(d) => {
                let [a, b] = d.residuals();
                put(a, &mut lens.main);
                put(b, &mut lens.second);
                if d.params().corrections {
                    let [gaps, values] = d.corrections();
                    put(gaps, &mut lens.gaps);
                    put(values, &mut lens.values);
                    lens.nonzero = d.nonzero_corrections();
                }
                (ValueEncoding::Decimal(d.params()), lens)
            }
        }
    }

    /// Final encoding for a sealed chunk: constant when every value is the same, and
    /// decimal streams re-encoded with the common divisor of their changes.
    pub fn seal(self) -> (ValueEncoding, ValueStreams) {
        if self.constant {
            return (
                ValueEncoding::Constant(f64::from_bits(self.first_bits)),
                ValueStreams::default(),
            );
        }
        let Mode::Decimal(d) = &self.mode else {
            return self.streams();
        };
        // Revisit the predictor (only if the other one would clearly have done better:
        // the series changed its behaviour after the warm-up) and apply a common divisor
        // of the changes, in one pass over the residuals.
        let g = d.changes_gcd().max(1);
        let better = d.better_predictor();
        if g > 1 || better.is_some() {
            let choice = better.unwrap_or(d.params().predictor);
            if let Some(enc) = d.repredict(choice, g) {
                if enc.bit_len() <= d.bit_len() {
                    return (ValueEncoding::Decimal(enc.params()), decimal_streams(&enc));
                }
            }
        }
        self.streams()
    }

    /// Bits in all streams.
    fn bit_len(&self) -> usize {
        match &self.mode {
            Mode::Xor(_) => self.bits.bit_len(),
            Mode::Decimal(d) => d.bit_len(),
        }
    }

    fn streams(&self) -> (ValueEncoding, ValueStreams) {
        match &self.mode {
            Mode::Xor(_) => (
                ValueEncoding::Xor,
                ValueStreams {
                    main: self.bits.to_bytes(),
                    ..ValueStreams::default()
                },
            ),
            Mode::Decimal(d) => (ValueEncoding::Decimal(d.params()), decimal_streams(d)),
        }
    }
}

fn decimal_streams(d: &DecimalEncoder) -> ValueStreams {
    let [a, b] = d.residuals();
    ValueStreams {
        main: a.to_bytes(),
        second: b.to_bytes(),
        corrections: d.params().corrections.then(|| {
            let [gaps, values] = d.corrections();
            CorrectionStreams {
                gaps: gaps.to_bytes(),
                values: values.to_bytes(),
                nonzero: d.nonzero_corrections(),
            }
        }),
    }
}

/// The encoded streams of a chunk's values.
#[derive(Clone, Debug, Default)]
pub struct ValueStreams {
    /// XOR values, or the residuals and exceptions of even decimal samples (the first
    /// stream).
    pub main: Vec<u8>,
    /// The residuals and exceptions of odd decimal samples (the second stream).
    pub second: Vec<u8>,
    /// Decimal corrections, when the chunk has them.
    pub corrections: Option<CorrectionStreams>,
}

/// Byte lengths of the streams [`ValueEncoder::write_streams`] wrote, in order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StreamLens {
    /// The XOR stream, or the odd decimal samples' residuals.
    pub main: usize,
    /// The even decimal samples' residuals.
    pub second: usize,
    /// The correction gaps.
    pub gaps: usize,
    /// The nonzero corrections.
    pub values: usize,
    /// How many corrections are nonzero.
    pub nonzero: u64,
}

/// The correction streams of a decimal chunk.
#[derive(Clone, Debug, Default)]
pub struct CorrectionStreams {
    /// The zeros before each nonzero correction.
    pub gaps: Vec<u8>,
    /// The nonzero corrections.
    pub values: Vec<u8>,
    /// How many are nonzero.
    pub nonzero: u64,
}

/// Decodes a chunk's values.
#[derive(Clone, Debug)]
pub struct ValueDecoder<'a> {
    kind: DecoderKind<'a>,
    bits: BitReader<'a>,
}

// Every iterator holds one of these; boxing the decimal decoder would allocate per
// iterator.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
enum DecoderKind<'a> {
    Constant(f64),
    Xor(XorDecoder),
    Decimal(DecimalDecoder<'a>),
}

impl<'a> ValueDecoder<'a> {
    /// A decoder for values in `encoding` from `streams`: the XOR stream first, or the
    /// decimal residual streams (even samples, odd samples) and correction streams
    /// (gaps, values), with `nonzero_corrections` nonzero ones.
    pub fn new(
        encoding: ValueEncoding,
        streams: [BitReader<'a>; 4],
        nonzero_corrections: u64,
    ) -> Result<Self> {
        let [main, second, gaps, values] = streams;
        let kind = match encoding {
            ValueEncoding::Constant(v) => DecoderKind::Constant(v),
            ValueEncoding::Xor => DecoderKind::Xor(XorDecoder::default()),
            ValueEncoding::Decimal(p) => DecoderKind::Decimal(DecimalDecoder::new(
                p,
                [main.clone(), second],
                [gaps, values],
                nonzero_corrections,
            )?),
        };
        Ok(Self { kind, bits: main })
    }

    /// Fills `out` with the next `out.len()` values.
    #[inline]
    pub fn decode_batch(&mut self, out: &mut [f64]) -> Result<()> {
        match &mut self.kind {
            DecoderKind::Constant(v) => {
                out.fill(*v);
                Ok(())
            }
            DecoderKind::Xor(x) => x.decode_batch(&mut self.bits, out),
            DecoderKind::Decimal(d) => d.decode_batch(out),
        }
    }
}
