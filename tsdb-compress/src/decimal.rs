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
//!   block sizes), found when the chunk is sealed;
//! * the residuals of even and odd samples go to two streams (one Rice code, only its
//!   bits split), which the decoder reads as two independent chains: decoding one Rice
//!   code is a chain of dependent steps (load, count the unary ones, add the length to
//!   the bit position) that bounds a single stream's speed, and two chains overlap.
//!
//! Exactness: the decoder computes `(m as f64) / 10^scale`. Where that reproduces a value's
//! bit pattern the value costs only its residual. Real exporters also emit binary noise
//! next to clean decimals (`51.846000000000004` is one ulp above `51.846`): a chunk that
//! meets such values turns on *corrections*: each value's distance in ulps from its
//! nearest decimal, mostly zero. Streams of their own hold only the nonzero ones: the
//! count of zeros before each and its value (two adaptive Rice codes in two streams). On
//! NAB that is 2 % smaller than a symbol per value, and the decoder touches only the
//! nonzero ones.
//! Values neither path can hold (NaN with any payload, such as Prometheus's stale
//! marker, infinities, -0.0, values far from any short decimal) are stored verbatim as
//! exceptions without disturbing the predictor. Every value round-trips bit for bit.

use crate::bits::{BitReader, BitWriter};
use crate::error::{Error, Result};
use crate::rice::{self, RiceEncoder, RiceState, Symbol, FAST_K};
use tsdb_encoding::{unzigzag, zigzag};

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

/// `s`, an integral value within ±2^53 ([`MAX_EXACT`]), as the integer it is.
#[inline]
#[expect(
    clippy::cast_possible_truncation,
    reason = "callers check |s| <= MAX_EXACT = 2^53 and round first, so i64 holds s exactly"
)]
fn exact_int(s: f64) -> i64 {
    s as i64
}

/// `i`, a slot of a pass (at most [`PASS`] = 64), as a shift amount into the pass's
/// exception mask.
#[inline(always)]
#[expect(
    clippy::cast_possible_truncation,
    reason = "slots and slot counts of a pass are at most PASS = 64"
)]
const fn slot_shift(i: usize) -> u32 {
    i as u32
}

/// `m` such that `m / 10^scale` is `v` bit for bit, if there is one.
#[inline]
pub fn to_scaled(v: f64, scale: u8) -> Option<i64> {
    let p = *POW10.get(usize::from(scale))?;
    let s = (v * p).round();
    if s.is_nan() || s.abs() > MAX_EXACT {
        return None;
    }
    let m = exact_int(s);
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
    let m = exact_int(s);
    let c = v
        .to_bits()
        .cast_signed()
        .wrapping_sub(((m as f64) / p).to_bits().cast_signed());
    (c.abs() <= MAX_CORRECTION).then_some((m, c))
}

#[inline]
fn apply_correction(v: f64, c: i64) -> f64 {
    f64::from_bits(v.to_bits().cast_signed().wrapping_add(c).cast_unsigned())
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

/// Residual stream of the value at sample index `i >= 1`: even samples go to stream 0,
/// odd ones to stream 1, coded with one Rice state in sample order. Two streams decode
/// as two independent chains of bit positions, which the processor overlaps: that chain
/// (load, count the unary ones, add the code's length) is what bounds the decoding speed
/// of a single stream. The Rice groups (1, 2, 4, ... symbols) then start on even samples,
/// so a pair (even, odd) never straddles a refit unless exceptions shift the groups.
#[inline]
fn stream_of(i: usize) -> usize {
    i & 1
}

/// Streams scaled integers (after the first, which is the header's `base`).
///
/// Residuals and exceptions go to two writers of the encoder's own, alternating by
/// sample ([`DecimalEncoder::residuals`]); corrections to a third
/// ([`DecimalEncoder::corrections`]). A chunk stores them in that order.
#[derive(Clone, Debug)]
pub struct DecimalEncoder {
    params: DecimalParams,
    predictor: Predictor,
    /// Whether the predictor can still change at [`PREDICTOR_WARMUP`].
    settled: bool,
    /// Residuals pushed, and values (exceptions too), after the first.
    symbols: usize,
    pushed: usize,
    rice: RiceEncoder,
    residuals: [BitWriter; 2],
    /// Corrections: the zeros before each nonzero one and its value, in two adaptive
    /// Rice codes into one stream; the zeros since the last nonzero one; their count.
    correction_gaps: RiceEncoder,
    correction_values: RiceEncoder,
    correction_bits: [BitWriter; 2],
    zero_run: u64,
    nonzero_corrections: u64,
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
            residuals: Default::default(),
            correction_gaps: RiceEncoder::default(),
            correction_values: RiceEncoder::default(),
            correction_bits: Default::default(),
            zero_run: 0,
            nonzero_corrections: 0,
            last_m: base,
            gcd: 0,
        }
    }

    /// The same encoder with the predictor fixed to `choice`; call before any push.
    #[cfg(test)]
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

    /// The two residual streams (even samples, odd samples).
    pub fn residuals(&self) -> &[BitWriter; 2] {
        &self.residuals
    }

    /// The correction streams (empty without corrections): the zeros before each
    /// nonzero one, and their values.
    pub fn corrections(&self) -> &[BitWriter; 2] {
        &self.correction_bits
    }

    /// Nonzero corrections in [`DecimalEncoder::corrections`].
    pub fn nonzero_corrections(&self) -> u64 {
        self.nonzero_corrections
    }

    /// Bits in all streams.
    pub fn bit_len(&self) -> usize {
        self.residuals.iter().map(BitWriter::bit_len).sum::<usize>()
            + self
                .correction_bits
                .iter()
                .map(BitWriter::bit_len)
                .sum::<usize>()
    }

    /// Records the first value's correction (streams with corrections only).
    pub fn push_first_correction(&mut self, correction: i64) {
        self.push_correction(correction);
    }

    #[inline]
    fn push_correction(&mut self, correction: i64) {
        if !self.params.corrections {
            return;
        }
        if correction == 0 {
            self.zero_run += 1;
            return;
        }
        let [gaps, values] = &mut self.correction_bits;
        self.correction_gaps.encode(gaps, self.zero_run);
        self.correction_values
            .encode(values, zigzag(correction) - 1);
        self.zero_run = 0;
        self.nonzero_corrections += 1;
    }

    /// Appends the scaled integer `m` and the value's ulp `correction` (zero unless the
    /// stream has corrections); `m - base` must be a multiple of the multiplier.
    #[inline]
    pub fn push(&mut self, m: i64, correction: i64) {
        debug_assert!(self.params.corrections || correction == 0);
        let diff = m.wrapping_sub(self.params.base);
        let y = if self.params.multiplier == 1 {
            diff
        } else {
            diff / self.params.multiplier.cast_signed()
        };
        debug_assert_eq!(y.wrapping_mul(self.params.multiplier.cast_signed()), diff);
        self.push_scaled(y);
        self.push_correction(correction);
        if self.gcd != 1 {
            self.gcd = gcd(self.gcd, m.wrapping_sub(self.last_m).unsigned_abs());
        }
        self.last_m = m;
        if !self.settled && self.symbols >= PREDICTOR_WARMUP {
            self.settle();
        }
    }

    /// Codes `y` in the stream of the next sample.
    #[inline]
    fn push_scaled(&mut self, y: i64) {
        let s = stream_of(self.pushed + 1);
        let residual = y.wrapping_sub(self.predictor.predict());
        if let Some(w) = self.residuals.get_mut(s) {
            self.rice.encode(w, zigzag(residual));
        }
        self.predictor.update(y);
        self.symbols += 1;
        self.pushed += 1;
    }

    /// The end of the warm-up: switch to the linear predictor if it would have done
    /// better on the samples so far, re-encoding them.
    #[cold]
    fn settle(&mut self) {
        self.settled = true;
        let [c0, c1] = self.predictor.cost;
        if c1 < c0 {
            if let Some(enc) = self.repredict(PredictorChoice::Linear, self.params.multiplier) {
                *self = enc;
            }
        }
    }

    /// Appends a value verbatim (see [`is_exception`]).
    pub fn push_exception(&mut self, v: f64) {
        let s = stream_of(self.pushed + 1);
        if let Some(w) = self.residuals.get_mut(s) {
            self.rice.encode_exception(w);
            w.write_bits(v.to_bits(), 64);
        }
        self.pushed += 1;
    }

    /// This encoder as it would be had it used `predictor` and `multiplier` (which must
    /// divide every change) from the start: its residual streams are re-encoded from the
    /// scaled integers, about half the work of decoding the values and encoding them
    /// again. Corrections do not depend on either and stay as they are. `None` if the
    /// streams do not decode or the multiplier does not divide (neither happens for
    /// streams this encoder wrote).
    pub fn repredict(&self, predictor: PredictorChoice, multiplier: u64) -> Option<Self> {
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
            residuals: Default::default(),
            correction_gaps: self.correction_gaps.clone(),
            correction_values: self.correction_values.clone(),
            correction_bits: self.correction_bits.clone(),
            ..*self
        };
        let old_mult = self.params.multiplier.cast_signed();
        let new_mult = enc.params.multiplier.cast_signed();
        let bytes = self.residuals.clone().map(|w| w.to_bytes());
        let mut readers = bytes.each_ref().map(|b| BitReader::new(b, 0));
        let mut state = RiceState::default();
        let mut old = Predictor::new(self.params.predictor);
        while enc.pushed < self.pushed {
            let r = readers.get_mut(stream_of(enc.pushed + 1))?;
            match rice::decode_symbol(r, &mut state).ok()? {
                Symbol::Value(u) => {
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
                    enc.push_scaled(y);
                }
                Symbol::Exception => {
                    enc.push_exception(f64::from_bits(r.read_bits(64).ok()?));
                }
            }
        }
        Some(enc)
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
/// bit pattern. Takes and returns the reader by value, so that the caller's copy stays
/// in registers.
#[cold]
#[inline(never)]
fn slow_symbol<'a>(
    mut r: BitReader<'a>,
    state: &RiceState,
) -> (BitReader<'a>, Result<Result<u64, u64>>) {
    let symbol = match rice::decode_slow(&mut r, state) {
        Ok(Symbol::Value(u)) => Ok(Ok(u)),
        Ok(Symbol::Exception) => r.read_bits(64).map(Err),
        Err(e) => Err(e),
    };
    (r, symbol)
}

/// Decodes what a [`DecimalEncoder`] wrote.
#[derive(Clone, Debug)]
pub struct DecimalDecoder<'a> {
    params: DecimalParams,
    /// Previous scaled value (`y`, or `m` with a multiplier of 1) and change.
    prev: i64,
    prev_delta: i64,
    /// Index of the next sample.
    next: usize,
    residuals: [BitReader<'a>; 2],
    rice: RiceState,
    corrections: Corrections<'a>,
}

/// The correction streams being read: the zeros before each nonzero correction, and
/// their values (two streams, so two independent chains of bit positions).
#[derive(Clone, Debug)]
struct Corrections<'a> {
    gap_bits: BitReader<'a>,
    value_bits: BitReader<'a>,
    gaps: RiceState,
    values: RiceState,
    /// Pairs not yet read.
    left: u64,
    /// The next nonzero correction, read ahead: its index among non-exception values
    /// (`u64::MAX` when there is none) and value.
    at: u64,
    value: i64,
    /// Non-exception values passed so far.
    seen: u64,
}

impl Corrections<'_> {
    /// Reads the first pair (at `new`): where the first nonzero correction is and its
    /// value, `u64::MAX` when there is none.
    fn first(&mut self) -> Result<()> {
        if self.left == 0 {
            return Ok(());
        }
        self.left -= 1;
        self.at = correction_symbol(&mut self.gap_bits, &mut self.gaps)?;
        let u = correction_symbol(&mut self.value_bits, &mut self.values)?;
        self.value = unzigzag(u.wrapping_add(1));
        Ok(())
    }
}

/// One symbol of a correction stream (where an exception marker is corrupt).
#[inline(always)]
fn correction_symbol(r: &mut BitReader<'_>, state: &mut RiceState) -> Result<u64> {
    let k = state.k();
    let fast = match (k <= FAST_K, state.flagged()) {
        (false, _) => None,
        (true, false) => rice::decode_fast::<false>(r, k),
        (true, true) => rice::decode_fast::<true>(r, k),
    };
    let u = match fast {
        Some(u) => u,
        None => {
            // by value, so that the caller's copies stay in registers
            let (moved, u) = slow_correction(r.clone(), state.clone());
            *r = moved;
            u?
        }
    };
    state.update(u);
    Ok(u)
}

impl<'a> DecimalDecoder<'a> {
    /// A decoder for streams with the given header parameters: the residual streams of
    /// even and odd samples, and corrections (if the parameters say there are any).
    pub fn new(
        params: DecimalParams,
        residuals: [BitReader<'a>; 2],
        corrections: [BitReader<'a>; 2],
        nonzero_corrections: u64,
    ) -> Result<Self> {
        let [gap_bits, value_bits] = corrections;
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
            next: 0,
            residuals,
            rice: RiceState::default(),
            corrections: Corrections {
                gap_bits,
                value_bits,
                gaps: RiceState::default(),
                values: RiceState::default(),
                left: if params.corrections {
                    nonzero_corrections
                } else {
                    0
                },
                at: u64::MAX,
                value: 0,
                seen: 0,
            },
        })
        .and_then(|mut d: Self| {
            d.corrections.first()?;
            Ok(d)
        })
    }

    /// Fills `out` with the next `out.len()` values; the first value of the stream is the
    /// header's base.
    ///
    /// The loops decode two samples at a time, one from each residual stream, and run
    /// per group of the Rice state, where `k` and the mode are fixed, specialised on
    /// those and on the predictor; the nonzero corrections are applied afterwards.
    /// Reading past the end of a stream is found at the end of each pass of up to 64
    /// values.
    pub fn decode_batch(&mut self, out: &mut [f64]) -> Result<()> {
        for pass in out.chunks_mut(PASS) {
            let exceptions = self.decode_values(pass)?;
            for r in &self.residuals {
                r.check()?;
            }
            if self.params.corrections {
                self.apply_corrections(pass, exceptions)?;
            }
        }
        Ok(())
    }

    /// The values of one pass (at most 64), without corrections; returns the mask of
    /// slots that hold exceptions.
    fn decode_values(&mut self, out: &mut [f64]) -> Result<u64> {
        let mut slot = 0;
        let mut exceptions = 0u64;
        let linear = self.params.predictor == PredictorChoice::Linear;
        let mult1 = self.params.multiplier == 1;
        while slot < out.len() {
            let rest = out.get_mut(slot..).unwrap_or_default();
            if self.next == 0 {
                if let Some(first) = rest.first_mut() {
                    *first = from_scaled(self.params.base, self.params.scale);
                }
                self.next = 1;
                slot += 1;
                continue;
            }
            let state = &self.rice;
            let left = state.left() as usize;
            let n = if stream_of(self.next) == 1
                || rest.len() == 1
                || left == 1
                || state.k() > FAST_K
            {
                // one sample: to pair up (odd samples come second), the last one, the
                // last of a group, or a `k` too large for the fast path
                match rest.first_mut() {
                    Some(v) => self.single(v)?,
                    None => break,
                }
            } else {
                let pairs = (rest.len() / 2).min(left / 2);
                let run = rest.get_mut(..2 * pairs).unwrap_or_default();
                match (state.flagged(), linear, mult1) {
                    (false, false, false) => self.pairs::<false, false, false>(run)?,
                    (false, false, true) => self.pairs::<false, false, true>(run)?,
                    (false, true, false) => self.pairs::<false, true, false>(run)?,
                    (false, true, true) => self.pairs::<false, true, true>(run)?,
                    (true, false, false) => self.pairs::<true, false, false>(run)?,
                    (true, false, true) => self.pairs::<true, false, true>(run)?,
                    (true, true, false) => self.pairs::<true, true, false>(run)?,
                    (true, true, true) => self.pairs::<true, true, true>(run)?,
                }
            };
            let (count, exc) = n;
            exceptions |= exc.checked_shl(slot_shift(slot)).unwrap_or(0);
            slot += count;
        }
        Ok(exceptions)
    }

    /// One sample, from its stream, the general way: `(1, exception mask)`. Rare (a
    /// sample to pair up, at a group's end, or for a large `k`), so kept out of line.
    #[inline(never)]
    fn single(&mut self, slot: &mut f64) -> Result<(usize, u64)> {
        let Some(r) = self.residuals.get_mut(stream_of(self.next)) else {
            return Ok((0, 0));
        };
        let symbol = rice::decode_symbol(r, &mut self.rice)?;
        self.next += 1;
        match symbol {
            Symbol::Value(u) => {
                let divisor = POW10
                    .get(usize::from(self.params.scale))
                    .copied()
                    .unwrap_or(1.0);
                let predicted = if self.params.predictor == PredictorChoice::Linear {
                    self.prev.wrapping_add(self.prev_delta)
                } else {
                    self.prev
                };
                let y = predicted.wrapping_add(unzigzag(u));
                self.prev_delta = y.wrapping_sub(self.prev);
                self.prev = y;
                let m = if self.params.multiplier == 1 {
                    y
                } else {
                    self.params
                        .base
                        .wrapping_add(y.wrapping_mul(self.params.multiplier.cast_signed()))
                };
                *slot = (m as f64) / divisor;
                Ok((1, 0))
            }
            Symbol::Exception => {
                *slot = f64::from_bits(r.read_bits(64)?);
                Ok((1, 1))
            }
        }
    }

    /// Decodes `out.len() / 2` pairs of samples (even, then odd), at most the group's
    /// remaining symbols, one sample of each pair from each residual stream, with the
    /// mode and `k` of the group (`MULT1`: the multiplier is 1). Returns the slots
    /// decoded and the mask of those that hold exceptions, which do not count as
    /// symbols.
    #[inline(always)]
    fn pairs<const FLAGGED: bool, const LINEAR: bool, const MULT1: bool>(
        &mut self,
        out: &mut [f64],
    ) -> Result<(usize, u64)> {
        let state = &self.rice;
        let k = state.k();
        // copies stay in registers; the slow path takes and returns them by value
        let [ra, rb] = &self.residuals;
        let (mut ra, mut rb) = (ra.clone(), rb.clone());
        let divisor = POW10
            .get(usize::from(self.params.scale))
            .copied()
            .unwrap_or(1.0);
        let base = self.params.base;
        let multiplier = self.params.multiplier.cast_signed();
        let mut prev = self.prev;
        let mut delta = self.prev_delta;
        // the Rice states' statistics: sums of floor(log2(u | 1)), zeros
        let (mut log_sum, mut zeros) = (0u32, 0u32);
        let mut exceptions = 0u64;
        let mut value = |u: u64| {
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
            (m as f64) / divisor
        };
        let pairs = out.len() / 2;
        for (j, pair) in out.chunks_exact_mut(2).enumerate() {
            let [a, b] = pair else { break };
            let ua = match rice::decode_fast::<FLAGGED>(&mut ra, k) {
                Some(u) => Some(u),
                None => {
                    let (moved, symbol) = slow_symbol(ra, state);
                    ra = moved;
                    match symbol? {
                        Ok(u) => Some(u),
                        Err(bits) => {
                            *a = f64::from_bits(bits);
                            exceptions |= 1u64.checked_shl(slot_shift(2 * j)).unwrap_or(0);
                            None
                        }
                    }
                }
            };
            if let Some(u) = ua {
                log_sum += rice::log_or_1(u);
                zeros += u32::from(u == 0);
                *a = value(u);
            }
            let ub = match rice::decode_fast::<FLAGGED>(&mut rb, k) {
                Some(u) => Some(u),
                None => {
                    let (moved, symbol) = slow_symbol(rb, state);
                    rb = moved;
                    match symbol? {
                        Ok(u) => Some(u),
                        Err(bits) => {
                            *b = f64::from_bits(bits);
                            exceptions |= 1u64.checked_shl(slot_shift(2 * j + 1)).unwrap_or(0);
                            None
                        }
                    }
                }
            };
            if let Some(u) = ub {
                log_sum += rice::log_or_1(u);
                zeros += u32::from(u == 0);
                *b = value(u);
            }
        }
        self.residuals = [ra, rb];
        self.prev = prev;
        self.prev_delta = delta;
        self.next += 2 * pairs;
        let symbols = slot_shift(2 * pairs) - exceptions.count_ones();
        self.rice.add_run(log_sum, zeros, symbols);
        Ok((2 * pairs, exceptions))
    }
}

impl DecimalDecoder<'_> {
    /// Adds the nonzero corrections that fall in this pass to their values' bit patterns.
    /// Not inlined: kept apart, it leaves the value loops' register allocation alone
    /// (1.5 fewer instructions a sample).
    #[inline(never)]
    fn apply_corrections(&mut self, out: &mut [f64], exceptions: u64) -> Result<()> {
        let values = out.len() as u64 - u64::from(exceptions.count_ones());
        let c = &mut self.corrections;
        let seen = c.seen;
        let end = seen + values;
        c.seen = end;
        if c.at >= end {
            // none in this pass
            return Ok(());
        }
        let mut next = c.at;
        while next < end {
            // runs in which neither Rice state refits, so `k` and the modes are fixed
            let c = &mut self.corrections;
            let n = c.gaps.left().min(c.values.left());
            let (kg, kv) = (c.gaps.k(), c.values.k());
            next =
                if kg.max(kv) > FAST_K {
                    self.correction_run::<false, false, true>(out, exceptions, seen, end, n)?
                } else {
                    match (c.gaps.flagged(), c.values.flagged()) {
                        (false, false) => self
                            .correction_run::<false, false, false>(out, exceptions, seen, end, n)?,
                        (false, true) => self
                            .correction_run::<false, true, false>(out, exceptions, seen, end, n)?,
                        (true, false) => self
                            .correction_run::<true, false, false>(out, exceptions, seen, end, n)?,
                        (true, true) => {
                            self.correction_run::<true, true, false>(out, exceptions, seen, end, n)?
                        }
                    }
                };
        }
        let c = &self.corrections;
        c.gap_bits.check()?;
        c.value_bits.check()
    }

    /// Applies the pending correction and reads the next pair, at most `pairs` times
    /// (the pairs left in the current groups of both Rice states) and while the next
    /// correction lies before `end`; returns where the next one lies.
    #[inline(always)]
    fn correction_run<const FLAGGED_GAPS: bool, const FLAGGED_VALUES: bool, const SLOW: bool>(
        &mut self,
        out: &mut [f64],
        exceptions: u64,
        seen: u64,
        end: u64,
        pairs: u32,
    ) -> Result<u64> {
        let c = &mut self.corrections;
        let (kg, kv) = (c.gaps.k(), c.values.k());
        // copies in locals (registers), written back at the end
        let (mut gap_bits, mut value_bits) = (c.gap_bits.clone(), c.value_bits.clone());
        let (mut at, mut value, mut left) = (c.at, c.value, c.left);
        let (mut gap_log, mut gap_zeros, mut value_log, mut value_zeros) = (0, 0, 0, 0);
        let mut read = 0;
        while at < end && read < pairs {
            // below the pass's value count, a usize
            let index = usize::try_from(at - seen).unwrap_or(usize::MAX);
            // the slot of the index-th non-exception value
            let slot = if exceptions == 0 {
                index
            } else {
                (0..out.len())
                    .filter(|&i| exceptions.checked_shr(slot_shift(i)).unwrap_or(0) & 1 == 0)
                    .nth(index)
                    .unwrap_or(out.len())
            };
            if let Some(v) = out.get_mut(slot) {
                *v = apply_correction(*v, value);
            }
            if left == 0 {
                at = u64::MAX;
                break;
            }
            left -= 1;
            read += 1;
            let fast = if SLOW {
                None
            } else {
                rice::decode_fast::<FLAGGED_GAPS>(&mut gap_bits, kg)
            };
            let gap = match fast {
                Some(u) => u,
                None => {
                    let (moved, u) = slow_correction(gap_bits, c.gaps.clone());
                    gap_bits = moved;
                    u?
                }
            };
            let fast = if SLOW {
                None
            } else {
                rice::decode_fast::<FLAGGED_VALUES>(&mut value_bits, kv)
            };
            let u = match fast {
                Some(u) => u,
                None => {
                    let (moved, u) = slow_correction(value_bits, c.values.clone());
                    value_bits = moved;
                    u?
                }
            };
            gap_log += rice::log_or_1(gap);
            gap_zeros += u32::from(gap == 0);
            value_log += rice::log_or_1(u);
            value_zeros += u32::from(u == 0);
            at = at.saturating_add(1).saturating_add(gap);
            value = unzigzag(u.wrapping_add(1));
        }
        (c.gap_bits, c.value_bits) = (gap_bits, value_bits);
        (c.at, c.value, c.left) = (at, value, left);
        c.gaps.add_run(gap_log, gap_zeros, read);
        c.values.add_run(value_log, value_zeros, read);
        Ok(at)
    }
}

/// A correction the slow way (an exception marker is corrupt there).
#[cold]
#[inline(never)]
fn slow_correction(mut r: BitReader<'_>, state: RiceState) -> (BitReader<'_>, Result<u64>) {
    let u = slow_correction_symbol(&mut r, &state);
    (r, u)
}

fn slow_correction_symbol(r: &mut BitReader<'_>, state: &RiceState) -> Result<u64> {
    match rice::decode_slow(r, state)? {
        Symbol::Value(u) => Ok(u),
        Symbol::Exception => Err(Error::corrupt(0, "exception marker in a correction stream")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes what `enc` wrote, in batches of `batch` values.
    fn decode(enc: &DecimalEncoder, count: usize, batch: usize) -> Vec<f64> {
        let [a, b] = enc.residuals().clone().map(|w| w.to_bytes());
        let ab: Vec<u8> = a.iter().chain(&b).copied().collect();
        let [gaps, values] = enc.corrections().clone().map(|w| w.to_bytes());
        let mut dec = DecimalDecoder::new(
            enc.params(),
            [
                BitReader::window(&ab, 0, a.len(), 0),
                BitReader::window(&ab, a.len(), ab.len(), 0),
            ],
            [BitReader::new(&gaps, 0), BitReader::new(&values, 0)],
            enc.nonzero_corrections(),
        )
        .unwrap();
        let mut out = vec![0.0; count];
        for b in out.chunks_mut(batch) {
            dec.decode_batch(b).unwrap();
        }
        out
    }
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
            let ms: Vec<i64> = ms.into_iter().map(|m| m * mult.cast_signed()).collect();
            let mut enc = DecimalEncoder::new(3, ms[0], mult, false);
            for &m in &ms[1..] { enc.push(m, 0); }
            let out = decode(&enc, ms.len(), 13);
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
                        enc.push_exception(f64::from_bits(bits));
                        want.push(f64::from_bits(bits));
                    }
                    None => {
                        enc.push(m, c);
                        want.push(apply_correction(from_scaled(m, scale), c));
                    }
                }
            }
            let out = decode(&enc, want.len(), batch);
            for (got, want) in out.iter().zip(&want) {
                prop_assert_eq!(got.to_bits(), want.to_bits());
            }
        }
    }

    #[test]
    fn the_predictor_settles_after_the_warm_up() {
        let encode = |ms: &[i64], fixed: Option<PredictorChoice>| {
            let mut enc = DecimalEncoder::new(0, ms[0], 1, false);
            if let Some(choice) = fixed {
                enc = enc.with_predictor(choice);
            }
            for &m in &ms[1..] {
                enc.push(m, 0);
            }
            (enc.residuals().clone().map(|w| w.to_bytes()), enc)
        };
        let counter: Vec<i64> = (0..300).map(|i| 1000 + 7 * i + i % 3).collect();
        // pseudo-random levels (splitmix64's mixer)
        let gauge: Vec<i64> = (0..300u64)
            .map(|i| {
                let x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
                let x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
                50 + ((x ^ (x >> 27)) >> 60).cast_signed()
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
        let (_, enc) = encode(&mixed, None);
        assert_eq!(enc.params().predictor, PredictorChoice::Previous);
        assert_eq!(enc.better_predictor(), Some(PredictorChoice::Linear));
        let linear = enc
            .repredict(PredictorChoice::Linear, 1)
            .expect("re-encodes");
        assert_eq!(
            linear.residuals().clone().map(|w| w.to_bytes()),
            encode(&mixed, Some(PredictorChoice::Linear)).0
        );
        assert_eq!(linear.params().predictor, PredictorChoice::Linear);
        assert_eq!(
            decode(&linear, mixed.len(), 64),
            decode(&enc, mixed.len(), 64)
        );
    }

    #[test]
    fn gcd_of_changes_is_tracked() {
        let mut enc = DecimalEncoder::new(0, 4096 * 10, 1, false);
        for m in [4096 * 12, 4096 * 12, 4096 * 7, 4096 * 9] {
            enc.push(m, 0);
        }
        assert_eq!(enc.changes_gcd(), 4096);
    }
}
