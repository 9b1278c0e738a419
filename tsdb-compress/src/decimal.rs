//! Decimal value codec: values that are short decimals, coded as scaled integers.
//!
//! Most operational metrics are integers (counters, byte sizes) or decimals with a few
//! digits (51.84 %). Their `f64` bit patterns look random to Gorilla's XOR, but as
//! integers `m = v * 10^scale` they change by small amounts. This codec stores
//! `y_i = (m_i - m_0) / multiplier` and codes each `y_i` as the residual of a predictor,
//! with an adaptive Rice code ([`crate::rice`]):
//!
//! * the predictor is either the previous value (random-walk gauges) or the previous value
//!   plus the previous change (counters with a steady rate), one for the whole chunk,
//!   recorded in its header. The encoder settles it after the first
//!   [`PREDICTOR_WARMUP`] samples and revisits it when the chunk is sealed. On NAB and
//!   the fleet data a fixed predictor per chunk coded smaller than choosing per sample or
//!   per group from recent costs, and the decoder runs one loop per chunk and Rice group
//!   with no bookkeeping for the choice;
//! * `multiplier` is the greatest common divisor of all changes in the chunk (page sizes,
//!   block sizes), found when the chunk is sealed.
//!
//! Exactness: the decoder computes `(m as f64) / 10^scale`. Where that reproduces a value's
//! bit pattern the value costs only its residual. Real exporters also emit binary noise
//! next to clean decimals (`51.846000000000004` is one ulp above `51.846`): a chunk that
//! meets such values turns on *corrections*, a second adaptive Rice stream holding each
//! value's distance in ulps from its nearest decimal, mostly zero. It is a stream of its
//! own after the residuals, so the decoder reads runs of zero corrections with one
//! leading-zero count. Values neither path
//! can hold (NaN with any payload, such as Prometheus's stale marker, infinities, -0.0,
//! values far from any short decimal) are stored verbatim as exceptions without
//! disturbing the predictor. Every value round-trips bit for bit.

use crate::bits::{BitReader, BitWriter};
use crate::error::{Error, Result};
use crate::rice::{self, RiceEncoder, RiceState, Symbol, FAST_K};
use crate::varint::{unzigzag, zigzag};

/// Largest decimal scale tried (values with more fractional digits use XOR).
pub const MAX_SCALE: u8 = 18;

const POW10: [f64; MAX_SCALE as usize + 1] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18,
];

/// Largest ulp distance a correction may carry; farther values are exceptions.
pub const MAX_CORRECTION: i64 = 64;

/// Integers up to 2^53 convert to and from `f64` exactly.
const MAX_EXACT: f64 = 9_007_199_254_740_992.0;

/// `m` such that `m / 10^scale` is `v` bit for bit, if there is one.
#[inline]
pub fn to_scaled(v: f64, scale: u8) -> Option<i64> {
    let p = *POW10.get(usize::from(scale))?;
    let s = (v * p).round();
    if s.is_nan() || s.abs() > MAX_EXACT {
        return None;
    }
    let m = s as i64;
    let exact = |m: i64| ((m as f64) / p).to_bits() == v.to_bits();
    if exact(m) {
        return Some(m);
    }
    // Near 2^53 the product can round one unit away from the integer that divides back
    // to `v`; look at the neighbours before giving up.
    [m - 1, m + 1]
        .into_iter()
        .find(|&m| m.unsigned_abs() <= 1 << 53 && exact(m))
}

/// The nearest decimal `m` at `scale` and `v`'s distance from it in ulps, when that
/// distance is at most [`MAX_CORRECTION`].
#[inline]
pub fn nearest(v: f64, scale: u8) -> Option<(i64, i64)> {
    let p = *POW10.get(usize::from(scale))?;
    let s = (v * p).round();
    if s.is_nan() || s.abs() > MAX_EXACT || is_exception(v) {
        return None;
    }
    let m = s as i64;
    let c = (v.to_bits() as i64).wrapping_sub(((m as f64) / p).to_bits() as i64);
    (c.abs() <= MAX_CORRECTION).then_some((m, c))
}

#[inline]
fn apply_correction(v: f64, c: i64) -> f64 {
    f64::from_bits((v.to_bits() as i64).wrapping_add(c) as u64)
}

/// The value that `m` at `scale` stands for.
#[inline]
pub fn from_scaled(m: i64, scale: u8) -> f64 {
    // decoders validate the scale up front; an out-of-range one never reaches here
    (m as f64) / POW10.get(usize::from(scale)).copied().unwrap_or(1.0)
}

/// The smallest scale at or above `from` that represents `v`, with its integer.
pub fn min_scale(v: f64, from: u8) -> Option<(u8, i64)> {
    (from..=MAX_SCALE).find_map(|s| to_scaled(v, s).map(|m| (s, m)))
}

/// Values stored verbatim inside a decimal chunk rather than forcing it to XOR.
#[inline]
pub fn is_exception(v: f64) -> bool {
    !v.is_finite() || (v == 0.0 && v.is_sign_negative())
}

/// Parameters stored in the chunk header for a decimal stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecimalParams {
    /// Decimal digits after the point.
    pub scale: u8,
    /// Common divisor of all changes (at least 1).
    pub multiplier: u64,
    /// Scaled integer of the first value.
    pub base: i64,
    /// Whether a correction stream follows each value (see the module docs).
    pub corrections: bool,
    /// How the residuals are predicted.
    pub predictor: PredictorChoice,
}

/// The predictor of a decimal chunk, one for the whole chunk.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PredictorChoice {
    /// The previous value (gauges).
    #[default]
    Previous,
    /// The previous value plus the previous change (counters with a steady rate).
    Linear,
}

/// Symbols after which a streaming encoder settles its predictor: it starts with
/// [`PredictorChoice::Previous`] and, if the linear one would have coded these first
/// samples smaller, re-encodes them with it and carries on.
pub const PREDICTOR_WARMUP: usize = 64;

/// Predictor state, with (encoder side) how well each predictor would have done.
#[derive(Clone, Debug, Default)]
struct Predictor {
    prev: i64,
    prev_delta: i64,
    linear: bool,
    /// Sums of `floor(log2(zigzag(r) | 1))` over the residuals `r` of [previous value,
    /// linear] so far: a cheap stand-in for their coded sizes.
    cost: [u64; 2],
}

impl Predictor {
    fn new(choice: PredictorChoice) -> Self {
        Self {
            linear: choice == PredictorChoice::Linear,
            ..Self::default()
        }
    }

    #[inline]
    fn predict(&self) -> i64 {
        if self.linear {
            self.prev.wrapping_add(self.prev_delta)
        } else {
            self.prev
        }
    }

    /// Learns `y`, keeping the costs (encoder side).
    #[inline]
    fn update(&mut self, y: i64) {
        let r0 = y.wrapping_sub(self.prev);
        let r1 = r0.wrapping_sub(self.prev_delta);
        let [c0, c1] = &mut self.cost;
        *c0 += u64::from(rice::log_or_1(zigzag(r0)));
        *c1 += u64::from(rice::log_or_1(zigzag(r1)));
        self.prev_delta = r0;
        self.prev = y;
    }

    /// The predictor that would have cost less so far, if it beats the current one by
    /// more than `1 / margin` of the current cost.
    fn better(&self, margin: u64) -> Option<PredictorChoice> {
        let [c0, c1] = self.cost;
        let (current, other, choice) = if self.linear {
            (c1, c0, PredictorChoice::Previous)
        } else {
            (c0, c1, PredictorChoice::Linear)
        };
        (other < current - current / margin.max(1)).then_some(choice)
    }
}

/// Streams scaled integers (after the first, which is the header's `base`).
///
/// Residuals and exceptions go to the caller's writer; corrections to a writer of the
/// encoder's own ([`DecimalEncoder::corrections`]), stored after the residuals.
#[derive(Clone, Debug)]
pub struct DecimalEncoder {
    params: DecimalParams,
    predictor: Predictor,
    /// Whether the predictor can still change at [`PREDICTOR_WARMUP`].
    settled: bool,
    /// Residuals pushed, and values (exceptions too).
    symbols: usize,
    pushed: usize,
    rice: RiceEncoder,
    corrections: RiceEncoder,
    correction_bits: BitWriter,
    /// Last non-exception scaled value, for the divisor search.
    last_m: i64,
    /// Greatest common divisor of all changes so far (0 while there were none).
    gcd: u64,
}

impl DecimalEncoder {
    /// An encoder whose first value is `base` at `scale`, dividing changes by `multiplier`,
    /// with or without a correction stream. With corrections, call
    /// [`DecimalEncoder::push_first_correction`] before anything else. The predictor
    /// settles after [`PREDICTOR_WARMUP`] symbols.
    pub fn new(scale: u8, base: i64, multiplier: u64, corrections: bool) -> Self {
        Self {
            params: DecimalParams {
                scale,
                multiplier: multiplier.max(1),
                base,
                corrections,
                predictor: PredictorChoice::Previous,
            },
            predictor: Predictor::default(),
            settled: false,
            symbols: 0,
            pushed: 0,
            rice: RiceEncoder::default(),
            corrections: RiceEncoder::default(),
            correction_bits: BitWriter::new(),
            last_m: base,
            gcd: 0,
        }
    }

    /// The same encoder with the predictor fixed to `choice`; call before any push.
    pub fn with_predictor(mut self, choice: PredictorChoice) -> Self {
        self.params.predictor = choice;
        self.predictor = Predictor::new(choice);
        self.settled = true;
        self
    }

    /// The header parameters.
    pub fn params(&self) -> DecimalParams {
        self.params
    }

    /// Greatest common divisor of all changes so far (0 if none).
    pub fn changes_gcd(&self) -> u64 {
        self.gcd
    }

    /// The other predictor, if it would have coded the chunk so far clearly smaller
    /// (by more than about 1.5 %, in bit lengths).
    pub fn better_predictor(&self) -> Option<PredictorChoice> {
        self.predictor.better(64)
    }

    /// The correction stream (empty without corrections).
    pub fn corrections(&self) -> &BitWriter {
        &self.correction_bits
    }

    /// Records the first value's correction (streams with corrections only).
    pub fn push_first_correction(&mut self, correction: i64) {
        if self.params.corrections {
            self.corrections
                .encode(&mut self.correction_bits, zigzag(correction));
        }
    }

    /// Appends the scaled integer `m` and the value's ulp `correction` (zero unless the
    /// stream has corrections) to `w`, which holds this encoder's residuals and nothing
    /// else; `m - base` must be a multiple of the multiplier.
    #[inline]
    pub fn push(&mut self, w: &mut BitWriter, m: i64, correction: i64) {
        debug_assert!(self.params.corrections || correction == 0);
        let diff = m.wrapping_sub(self.params.base);
        let y = if self.params.multiplier == 1 {
            diff
        } else {
            diff / self.params.multiplier as i64
        };
        debug_assert_eq!(y.wrapping_mul(self.params.multiplier as i64), diff);
        let residual = y.wrapping_sub(self.predictor.predict());
        self.rice.encode(w, zigzag(residual));
        if self.params.corrections {
            self.corrections
                .encode(&mut self.correction_bits, zigzag(correction));
        }
        self.predictor.update(y);
        if self.gcd != 1 {
            self.gcd = gcd(self.gcd, m.wrapping_sub(self.last_m).unsigned_abs());
        }
        self.last_m = m;
        self.symbols += 1;
        self.pushed += 1;
        if !self.settled && self.symbols >= PREDICTOR_WARMUP {
            self.settle(w);
        }
    }

    /// The end of the warm-up: switch to the linear predictor if it would have done
    /// better on the samples so far, re-encoding them.
    #[cold]
    fn settle(&mut self, w: &mut BitWriter) {
        self.settled = true;
        let [c0, c1] = self.predictor.cost;
        if c1 < c0 {
            if let Some((enc, bits)) = self.repredict(
                &w.to_bytes(),
                PredictorChoice::Linear,
                self.params.multiplier,
            ) {
                *self = enc;
                *w = bits;
            }
        }
    }

    /// Appends a value verbatim (see [`is_exception`]).
    pub fn push_exception(&mut self, w: &mut BitWriter, v: f64) {
        self.rice.encode_exception(w);
        w.write_bits(v.to_bits(), 64);
        self.pushed += 1;
    }

    /// This encoder as it would be had it used `predictor` and `multiplier` (which must
    /// divide every change) from the start, with `main`, the residual stream it wrote, so
    /// re-encoded: the encoder and the new stream. Corrections do not depend on either and
    /// stay as they are. Works on the scaled integers straight from the stream, about
    /// half the work of decoding the values and encoding them again. `None` if the stream
    /// does not decode or the multiplier does not divide (neither happens for a stream
    /// this encoder wrote).
    pub fn repredict(
        &self,
        main: &[u8],
        predictor: PredictorChoice,
        multiplier: u64,
    ) -> Option<(DecimalEncoder, BitWriter)> {
        let mut enc = DecimalEncoder {
            params: DecimalParams {
                multiplier: multiplier.max(1),
                predictor,
                ..self.params
            },
            predictor: Predictor::new(predictor),
            symbols: 0,
            pushed: 0,
            rice: RiceEncoder::default(),
            corrections: self.corrections.clone(),
            correction_bits: self.correction_bits.clone(),
            ..*self
        };
        let old_mult = self.params.multiplier as i64;
        let new_mult = enc.params.multiplier as i64;
        let mut r = BitReader::new(main, 0);
        let mut state = RiceState::default();
        let mut old = Predictor::new(self.params.predictor);
        let mut w = BitWriter::new();
        while enc.pushed < self.pushed {
            let k = state.k();
            let fast = match (k <= FAST_K, state.flagged()) {
                (false, _) => None,
                (true, false) => rice::decode_fast::<false>(&mut r, k),
                (true, true) => rice::decode_fast::<true>(&mut r, k),
            };
            let symbol = match fast {
                Some(u) => Symbol::Value(u),
                None => rice::decode_slow(&mut r, &state).ok()?,
            };
            match symbol {
                Symbol::Value(u) => {
                    state.update(u);
                    let y = old.predict().wrapping_add(unzigzag(u));
                    old.prev_delta = y.wrapping_sub(old.prev);
                    old.prev = y;
                    let y = if old_mult == new_mult {
                        y
                    } else {
                        let diff = y.wrapping_mul(old_mult);
                        let y = diff.checked_div(new_mult)?;
                        if y.wrapping_mul(new_mult) != diff {
                            return None;
                        }
                        y
                    };
                    enc.rice
                        .encode(&mut w, zigzag(y.wrapping_sub(enc.predictor.predict())));
                    enc.predictor.update(y);
                    enc.symbols += 1;
                    enc.pushed += 1;
                }
                Symbol::Exception => {
                    enc.push_exception(&mut w, f64::from_bits(r.read_bits(64).ok()?));
                }
            }
        }
        r.check().ok()?;
        Some((enc, w))
    }
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// Largest batch [`DecimalDecoder::decode_batch`] decodes in one pass (exceptions are
/// tracked in a 64-bit mask).
const PASS: usize = 64;

/// A residual the slow way: `Ok(symbol)`, or `Err(bits)` for an exception's verbatim
/// bit pattern.
#[cold]
#[inline(never)]
fn slow_symbol(r: &mut BitReader<'_>, state: &RiceState) -> Result<Result<u64, u64>> {
    Ok(match rice::decode_slow(r, state)? {
        Symbol::Value(u) => Ok(u),
        Symbol::Exception => Err(r.read_bits(64)?),
    })
}

/// Decodes what a [`DecimalEncoder`] wrote.
#[derive(Clone, Debug)]
pub struct DecimalDecoder<'a> {
    params: DecimalParams,
    /// Previous scaled value (`y`, or `m` with a multiplier of 1) and change.
    prev: i64,
    prev_delta: i64,
    rice: RiceState,
    corrections: RiceState,
    correction_bits: BitReader<'a>,
    first_pending: bool,
}

impl<'a> DecimalDecoder<'a> {
    /// A decoder for a stream with the given header parameters, reading corrections (if
    /// the parameters say there are any) from `corrections`.
    pub fn new(params: DecimalParams, corrections: BitReader<'a>) -> Result<Self> {
        if params.scale > MAX_SCALE {
            return Err(Error::Unsupported {
                what: "decimal scale",
                found: u64::from(params.scale),
            });
        }
        if params.multiplier == 0 {
            return Err(Error::corrupt(0, "decimal multiplier of zero"));
        }
        Ok(Self {
            params,
            // with a multiplier of 1 the loops run on m = base + y directly
            prev: if params.multiplier == 1 {
                params.base
            } else {
                0
            },
            prev_delta: 0,
            rice: RiceState::default(),
            corrections: RiceState::default(),
            correction_bits: corrections,
            first_pending: true,
        })
    }

    /// Fills `out` with the next `out.len()` values, reading residuals from `r`; the first
    /// value of the stream is the header's base.
    ///
    /// The loops run per group of the residuals' Rice state, where `k` and the mode are
    /// fixed, specialised on those and on the predictor; corrections are applied
    /// afterwards in a pass of their own that skips runs of zeros. Reading past the end
    /// of either stream is found at the end of each pass of up to 64 values.
    pub fn decode_batch(&mut self, r: &mut BitReader<'_>, out: &mut [f64]) -> Result<()> {
        for pass in out.chunks_mut(PASS) {
            let exceptions = self.decode_values(r, pass)?;
            r.check()?;
            if self.params.corrections {
                self.apply_corrections(pass, exceptions)?;
            }
        }
        Ok(())
    }

    /// The values of one pass (at most 64), without corrections; returns the mask of
    /// slots that hold exceptions.
    fn decode_values(&mut self, r: &mut BitReader<'_>, out: &mut [f64]) -> Result<u64> {
        let mut out = out;
        let mut slot = 0;
        if self.first_pending {
            let Some((first, rest)) = out.split_first_mut() else {
                return Ok(0);
            };
            self.first_pending = false;
            *first = from_scaled(self.params.base, self.params.scale);
            out = rest;
            slot = 1;
        }
        let mut exceptions = 0u64;
        let linear = self.params.predictor == PredictorChoice::Linear;
        let mult1 = self.params.multiplier == 1;
        while !out.is_empty() {
            let n = out.len().min(self.rice.left() as usize);
            let (run, rest) = out.split_at_mut(n);
            let k = self.rice.k();
            let exc = match (k > FAST_K, self.rice.flagged(), linear, mult1) {
                (true, _, false, false) => self.run::<false, false, false, true>(r, run)?,
                (true, _, false, true) => self.run::<false, false, true, true>(r, run)?,
                (true, _, true, false) => self.run::<false, true, false, true>(r, run)?,
                (true, _, true, true) => self.run::<false, true, true, true>(r, run)?,
                (false, false, false, false) => self.run::<false, false, false, false>(r, run)?,
                (false, false, false, true) => self.run::<false, false, true, false>(r, run)?,
                (false, false, true, false) => self.run::<false, true, false, false>(r, run)?,
                (false, false, true, true) => self.run::<false, true, true, false>(r, run)?,
                (false, true, false, false) => self.run::<true, false, false, false>(r, run)?,
                (false, true, false, true) => self.run::<true, false, true, false>(r, run)?,
                (false, true, true, false) => self.run::<true, true, false, false>(r, run)?,
                (false, true, true, true) => self.run::<true, true, true, false>(r, run)?,
            };
            exceptions |= exc.checked_shl(slot).unwrap_or(0);
            slot += n as u32;
            out = rest;
        }
        Ok(exceptions)
    }

    /// Decodes `out.len()` slots, at most the group's remaining symbols, with the mode
    /// and `k` of the group (`MULT1`: the multiplier is 1); `SLOW` takes every symbol the
    /// slow way (for `k` above what the fast path handles). Returns the mask of slots
    /// that hold exceptions, which do not count as symbols.
    #[inline(always)]
    fn run<const FLAGGED: bool, const LINEAR: bool, const MULT1: bool, const SLOW: bool>(
        &mut self,
        reader: &mut BitReader<'_>,
        out: &mut [f64],
    ) -> Result<u64> {
        // a local copy stays in registers; slow paths get a copy of it
        let mut local = reader.clone();
        let r = &mut local;
        let k = self.rice.k();
        let divisor = POW10
            .get(usize::from(self.params.scale))
            .copied()
            .unwrap_or(1.0);
        let base = self.params.base;
        let multiplier = self.params.multiplier as i64;
        let mut prev = self.prev;
        let mut delta = self.prev_delta;
        // the Rice state's statistics: sum of floor(log2(u | 1)), zeros
        let mut log_sum = 0u32;
        let mut zeros = 0u32;
        let mut exceptions = 0u64;
        for i in 0..out.len() {
            let fast = if SLOW {
                None
            } else {
                rice::decode_fast::<FLAGGED>(r, k)
            };
            let u = match fast {
                Some(u) => u,
                None => match r.with_copy(|r| slow_symbol(r, &self.rice))? {
                    Ok(u) => u,
                    Err(bits) => {
                        if let Some(slot) = out.get_mut(i) {
                            *slot = f64::from_bits(bits);
                        }
                        exceptions |= 1u64.checked_shl(i as u32).unwrap_or(0);
                        continue;
                    }
                },
            };
            log_sum += rice::log_or_1(u);
            zeros += u32::from(u == 0);
            let y = if LINEAR {
                prev.wrapping_add(delta)
            } else {
                prev
            }
            .wrapping_add(unzigzag(u));
            if LINEAR {
                delta = y.wrapping_sub(prev);
            }
            prev = y;
            let m = if MULT1 {
                y
            } else {
                base.wrapping_add(y.wrapping_mul(multiplier))
            };
            if let Some(slot) = out.get_mut(i) {
                *slot = (m as f64) / divisor;
            }
        }
        *reader = local;
        self.prev = prev;
        self.prev_delta = delta;
        let symbols = out.len() as u32 - exceptions.count_ones();
        self.rice.add_run(log_sum, zeros, symbols);
        Ok(exceptions)
    }

    /// Adds each non-exception value's correction (the next symbol of the correction
    /// stream) to its bit pattern.
    fn apply_corrections(&mut self, out: &mut [f64], exceptions: u64) -> Result<()> {
        if exceptions != 0 {
            for (i, v) in out.iter_mut().enumerate() {
                if exceptions.checked_shr(i as u32).unwrap_or(0) & 1 == 0 {
                    let c = self.next_correction()?;
                    *v = apply_correction(*v, c);
                }
            }
            return self.correction_bits.check();
        }
        let mut i = 0;
        while i < out.len() {
            let state = &mut self.corrections;
            if state.flagged() || state.k_plain() == 0 {
                // a zero is a single 0 bit here: skip a run of them at once
                let bits = &mut self.correction_bits;
                let run = (bits.peek().leading_zeros().min(57) as usize)
                    .min(state.left() as usize)
                    .min(out.len() - i);
                bits.consume(run as u32);
                i += run;
                if state.add_run(0, run as u32, run as u32) || i == out.len() {
                    continue;
                }
            }
            let c = self.next_correction()?;
            if let Some(v) = out.get_mut(i) {
                *v = apply_correction(*v, c);
            }
            i += 1;
        }
        self.correction_bits.check()
    }

    /// The next symbol of the correction stream, adapting its state.
    #[inline(always)]
    fn next_correction(&mut self) -> Result<i64> {
        let bits = &mut self.correction_bits;
        let state = &mut self.corrections;
        let k = state.k();
        let fast = if k > FAST_K {
            None
        } else if state.flagged() {
            rice::decode_fast::<true>(bits, k)
        } else {
            rice::decode_fast::<false>(bits, k)
        };
        let u = match fast {
            Some(u) => u,
            None => slow_correction(bits, state)?,
        };
        state.update(u);
        Ok(unzigzag(u))
    }
}

/// A correction the slow way (an exception marker is corrupt there).
#[cold]
#[inline(never)]
fn slow_correction(r: &mut BitReader<'_>, state: &RiceState) -> Result<u64> {
    match rice::decode_slow(r, state)? {
        Symbol::Value(u) => Ok(u),
        Symbol::Exception => Err(Error::corrupt(0, "exception marker in a correction stream")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn scaling_is_exact_or_refused() {
        assert_eq!(to_scaled(51.84, 2), Some(5184));
        assert_eq!(to_scaled(51.84, 1), None);
        assert_eq!(min_scale(51.84, 0), Some((2, 5184)));
        // binary noise needs more digits than 2^53 holds: not a decimal
        assert_eq!(min_scale(0.1 + 0.2, 0), None);
        assert_eq!(to_scaled(-0.0, 0), None);
        assert_eq!(to_scaled(f64::NAN, 0), None);
        assert_eq!(to_scaled(1e300, 0), None);
        assert_eq!(to_scaled(9_007_199_254_740_992.0, 0), Some(1 << 53));
        assert!(is_exception(f64::from_bits(0x7ff0_0000_0000_0002)));
        assert!(is_exception(-0.0));
        assert!(!is_exception(0.0));
        assert_eq!(nearest(51.846000000000004, 3), Some((51846, 1)));
        assert_eq!(nearest(36.806999999999995, 3), Some((36807, -1)));
        assert_eq!(nearest(0.1 + 0.2, 1), Some((3, 1)));
        assert_eq!(nearest(std::f64::consts::PI, 2), None);
    }

    proptest! {
        #[test]
        fn scaled_values_decode_to_the_same_bits(m in -(1i64 << 53)..=(1i64 << 53), scale in 0u8..=MAX_SCALE) {
            let v = from_scaled(m, scale);
            let (s, m2) = min_scale(v, 0).unwrap();
            prop_assert_eq!(from_scaled(m2, s).to_bits(), v.to_bits());
        }

        #[test]
        fn integers_round_trip(ms in proptest::collection::vec(-(1i64 << 40)..(1i64 << 40), 1..300), mult in 1u64..5) {
            let ms: Vec<i64> = ms.into_iter().map(|m| m * mult as i64).collect();
            let mut w = BitWriter::new();
            let mut enc = DecimalEncoder::new(3, ms[0], mult, false);
            for &m in &ms[1..] { enc.push(&mut w, m, 0); }
            let bytes = w.to_bytes();
            let mut r = BitReader::new(&bytes, 0);
            let mut dec = DecimalDecoder::new(enc.params(), BitReader::new(&[], 0)).unwrap();
            let mut out = vec![0.0; ms.len()];
            for batch in out.chunks_mut(13) {
                dec.decode_batch(&mut r, batch).unwrap();
            }
            for (&m, v) in ms.iter().zip(&out) {
                prop_assert_eq!(v.to_bits(), from_scaled(m, 3).to_bits());
            }
        }

        /// Corrections, exceptions and residuals of every size, decoded in batches of
        /// uneven sizes (the loops split at group and batch boundaries).
        #[test]
        fn corrections_and_exceptions_round_trip(
            items in proptest::collection::vec(prop_oneof![
                8 => (-1000i64..1000, -3i64..=3).prop_map(|(m, c)| (m, if c.abs() == 3 { 0 } else { c }, None)),
                1 => (any::<i32>(), -64i64..=64).prop_map(|(m, c)| (i64::from(m), c, None)),
                1 => any::<u64>().prop_map(|b| (0, 0, Some(b))),
            ], 1..400),
            batch in 1usize..100,
            scale in 0u8..4,
            predictor in prop_oneof![
                Just(None),
                Just(Some(PredictorChoice::Previous)),
                Just(Some(PredictorChoice::Linear)),
            ],
        ) {
            let mut w = BitWriter::new();
            let base = items[0].0;
            let mut enc = DecimalEncoder::new(scale, base, 1, true);
            if let Some(choice) = predictor {
                enc = enc.with_predictor(choice);
            }
            enc.push_first_correction(items[0].1);
            let mut want = vec![apply_correction(from_scaled(base, scale), items[0].1)];
            for &(m, c, exc) in &items[1..] {
                match exc {
                    Some(bits) => {
                        enc.push_exception(&mut w, f64::from_bits(bits));
                        want.push(f64::from_bits(bits));
                    }
                    None => {
                        enc.push(&mut w, m, c);
                        want.push(apply_correction(from_scaled(m, scale), c));
                    }
                }
            }
            let bytes = w.to_bytes();
            let corrections = enc.corrections().to_bytes();
            let mut r = BitReader::new(&bytes, 0);
            let mut dec = DecimalDecoder::new(enc.params(), BitReader::new(&corrections, 0)).unwrap();
            let mut out = vec![0.0; want.len()];
            for b in out.chunks_mut(batch) {
                dec.decode_batch(&mut r, b).unwrap();
            }
            for (got, want) in out.iter().zip(&want) {
                prop_assert_eq!(got.to_bits(), want.to_bits());
            }
        }
    }

    #[test]
    fn the_predictor_settles_after_the_warm_up() {
        let encode = |ms: &[i64], fixed: Option<PredictorChoice>| {
            let mut w = BitWriter::new();
            let mut enc = DecimalEncoder::new(0, ms[0], 1, false);
            if let Some(choice) = fixed {
                enc = enc.with_predictor(choice);
            }
            for &m in &ms[1..] {
                enc.push(&mut w, m, 0);
            }
            (w.to_bytes(), enc)
        };
        let counter: Vec<i64> = (0..300).map(|i| 1000 + 7 * i + i % 3).collect();
        // pseudo-random levels (splitmix64's mixer)
        let gauge: Vec<i64> = (0..300u64)
            .map(|i| {
                let x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
                let x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
                50 + ((x ^ (x >> 27)) >> 60) as i64
            })
            .collect();
        for (ms, want) in [
            (&counter, PredictorChoice::Linear),
            (&gauge, PredictorChoice::Previous),
        ] {
            let (streamed, enc) = encode(ms, None);
            assert_eq!(enc.params().predictor, want);
            assert_eq!(enc.better_predictor(), None);
            // the same stream as if the predictor had been fixed from the start
            let (fixed, _) = encode(ms, Some(want));
            assert_eq!(streamed, fixed);
        }
        // a gauge that turns into a counter after the warm-up
        let mixed: Vec<i64> = gauge.iter().take(100).chain(&counter).copied().collect();
        let (bytes, enc) = encode(&mixed, None);
        assert_eq!(enc.params().predictor, PredictorChoice::Previous);
        assert_eq!(enc.better_predictor(), Some(PredictorChoice::Linear));
        let (linear, w) = enc
            .repredict(&bytes, PredictorChoice::Linear, 1)
            .expect("re-encodes");
        assert_eq!(
            w.to_bytes(),
            encode(&mixed, Some(PredictorChoice::Linear)).0
        );
        assert_eq!(linear.params().predictor, PredictorChoice::Linear);
    }

    #[test]
    fn gcd_of_changes_is_tracked() {
        let mut w = BitWriter::new();
        let mut enc = DecimalEncoder::new(0, 4096 * 10, 1, false);
        for m in [4096 * 12, 4096 * 12, 4096 * 7, 4096 * 9] {
            enc.push(&mut w, m, 0);
        }
        assert_eq!(enc.changes_gcd(), 4096);
    }
}
