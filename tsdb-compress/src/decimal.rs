//! Decimal value codec: values that are short decimals, coded as scaled integers.
//!
//! Most operational metrics are integers (counters, byte sizes) or decimals with a few
//! digits (51.84 %). Their `f64` bit patterns look random to Gorilla's XOR, but as
//! integers `m = v * 10^scale` they change by small amounts. This codec stores
//! `y_i = (m_i - m_0) / multiplier` and codes each `y_i` as the residual of a predictor,
//! with an adaptive Rice code ([`crate::rice`]):
//!
//! * the predictor is either the previous value (random-walk gauges) or the previous value
//!   plus the previous change (counters with a steady rate); both sides track which would
//!   have been cheaper recently and use it for the next sample;
//! * `multiplier` is the greatest common divisor of all changes in the chunk (page sizes,
//!   block sizes), found when the chunk is sealed.
//!
//! Exactness: the decoder computes `(m as f64) / 10^scale`. Where that reproduces a value's
//! bit pattern the value costs only its residual. Real exporters also emit binary noise
//! next to clean decimals (`51.846000000000004` is one ulp above `51.846`): a chunk that
//! meets such values turns on *corrections*, a second adaptive Rice stream holding each
//! value's distance in ulps from its nearest decimal, mostly zero. Values neither path
//! can hold (NaN with any payload, such as Prometheus's stale marker, infinities, -0.0,
//! values far from any short decimal) are stored verbatim as exceptions without
//! disturbing the predictor. Every value round-trips bit for bit.

use crate::bits::{BitReader, BitWriter};
use crate::error::{Error, Result};
use crate::rice::{RiceDecoder, RiceEncoder, Symbol};
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
}

#[inline]
fn bit_len(u: u64) -> u32 {
    64 - u.leading_zeros()
}

/// Predictor state shared by encoder and decoder.
#[derive(Clone, Debug, Default)]
struct Predictor {
    prev: i64,
    prev_delta: i64,
    /// Decayed sums of residual bit lengths: [previous value, linear extrapolation].
    cost: [u32; 2],
}

impl Predictor {
    #[inline]
    fn predict(&self) -> i64 {
        if self.cost[1] < self.cost[0] {
            self.prev.wrapping_add(self.prev_delta)
        } else {
            self.prev
        }
    }

    #[inline]
    fn update(&mut self, y: i64) {
        let r0 = y.wrapping_sub(self.prev);
        let r1 = r0.wrapping_sub(self.prev_delta);
        self.cost[0] = self.cost[0] - (self.cost[0] >> 3) + bit_len(zigzag(r0));
        self.cost[1] = self.cost[1] - (self.cost[1] >> 3) + bit_len(zigzag(r1));
        self.prev_delta = r0;
        self.prev = y;
    }
}

/// Streams scaled integers (after the first, which is the header's `base`).
#[derive(Clone, Debug)]
pub struct DecimalEncoder {
    params: DecimalParams,
    predictor: Predictor,
    rice: RiceEncoder,
    corrections: RiceEncoder,
    /// Last non-exception scaled value, for the divisor search.
    last_m: i64,
    /// Greatest common divisor of all changes so far (0 while there were none).
    gcd: u64,
}

impl DecimalEncoder {
    /// An encoder whose first value is `base` at `scale`, dividing changes by `multiplier`,
    /// with or without a correction stream. With corrections, call
    /// [`DecimalEncoder::push_first_correction`] before anything else.
    pub fn new(scale: u8, base: i64, multiplier: u64, corrections: bool) -> Self {
        Self {
            params: DecimalParams {
                scale,
                multiplier: multiplier.max(1),
                base,
                corrections,
            },
            predictor: Predictor::default(),
            rice: RiceEncoder::default(),
            corrections: RiceEncoder::default(),
            last_m: base,
            gcd: 0,
        }
    }

    /// The header parameters.
    pub fn params(&self) -> DecimalParams {
        self.params
    }

    /// Greatest common divisor of all changes so far (0 if none).
    pub fn changes_gcd(&self) -> u64 {
        self.gcd
    }

    /// Writes the first value's correction (streams with corrections only).
    pub fn push_first_correction(&mut self, w: &mut BitWriter, correction: i64) {
        if self.params.corrections {
            self.corrections.encode(w, zigzag(correction));
        }
    }

    /// Appends the scaled integer `m` and the value's ulp `correction` (zero unless the
    /// stream has corrections); `m - base` must be a multiple of the multiplier.
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
            self.corrections.encode(w, zigzag(correction));
        }
        self.predictor.update(y);
        if self.gcd != 1 {
            self.gcd = gcd(self.gcd, m.wrapping_sub(self.last_m).unsigned_abs());
        }
        self.last_m = m;
    }

    /// Appends a value verbatim (see [`is_exception`]).
    pub fn push_exception(&mut self, w: &mut BitWriter, v: f64) {
        self.rice.encode_exception(w);
        w.write_bits(v.to_bits(), 64);
    }
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// Decodes what a [`DecimalEncoder`] wrote.
#[derive(Clone, Debug)]
pub struct DecimalDecoder {
    params: DecimalParams,
    predictor: Predictor,
    rice: RiceDecoder,
    corrections: RiceDecoder,
    first_pending: bool,
}

impl DecimalDecoder {
    /// A decoder for a stream with the given header parameters.
    pub fn new(params: DecimalParams) -> Result<Self> {
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
            predictor: Predictor::default(),
            rice: RiceDecoder::default(),
            corrections: RiceDecoder::default(),
            first_pending: true,
        })
    }

    /// The next value; the first call returns the header's base value.
    #[inline]
    pub fn next_value(&mut self, r: &mut BitReader<'_>) -> Result<f64> {
        if self.first_pending {
            self.first_pending = false;
            let v = from_scaled(self.params.base, self.params.scale);
            return self.correct(r, v);
        }
        match self.rice.decode(r)? {
            Symbol::Value(u) => {
                let y = self.predictor.predict().wrapping_add(unzigzag(u));
                self.predictor.update(y);
                let m = self
                    .params
                    .base
                    .wrapping_add(y.wrapping_mul(self.params.multiplier as i64));
                let v = from_scaled(m, self.params.scale);
                self.correct(r, v)
            }
            Symbol::Exception => Ok(f64::from_bits(r.read_bits(64)?)),
        }
    }

    /// Fills `out` with the next `out.len()` values: the loop behind
    /// [`crate::ChunkIter`], specialised per stream shape so the per-value work is one
    /// Rice symbol, the predictor and (only when the chunk has them) a correction.
    pub fn decode_batch(&mut self, r: &mut BitReader<'_>, out: &mut [f64]) -> Result<()> {
        let mut out = out;
        if self.first_pending {
            let Some((first, rest)) = out.split_first_mut() else {
                return Ok(());
            };
            *first = self.next_value(r)?;
            out = rest;
        }
        match (self.params.corrections, self.params.scale > 0) {
            (false, false) => self.batch::<false, false>(r, out),
            (false, true) => self.batch::<false, true>(r, out),
            (true, false) => self.batch::<true, false>(r, out),
            (true, true) => self.batch::<true, true>(r, out),
        }
    }

    #[inline(always)]
    fn batch<const CORRECTIONS: bool, const SCALED: bool>(
        &mut self,
        r: &mut BitReader<'_>,
        out: &mut [f64],
    ) -> Result<()> {
        let divisor = POW10
            .get(usize::from(self.params.scale))
            .copied()
            .unwrap_or(1.0);
        let base = self.params.base;
        let multiplier = self.params.multiplier as i64;
        let mut predictor = self.predictor.clone();
        let mut result = Ok(());
        for slot in out.iter_mut() {
            let symbol = match self.rice.decode(r) {
                Ok(s) => s,
                Err(e) => {
                    result = Err(e);
                    break;
                }
            };
            let v = match symbol {
                Symbol::Value(u) => {
                    let y = predictor.predict().wrapping_add(unzigzag(u));
                    predictor.update(y);
                    let m = base.wrapping_add(y.wrapping_mul(multiplier));
                    let v = if SCALED {
                        (m as f64) / divisor
                    } else {
                        m as f64
                    };
                    if CORRECTIONS {
                        match self.corrections.decode(r) {
                            Ok(Symbol::Value(u)) => apply_correction(v, unzigzag(u)),
                            Ok(Symbol::Exception) => {
                                result = Err(Error::corrupt(
                                    0,
                                    "exception marker in a correction stream",
                                ));
                                break;
                            }
                            Err(e) => {
                                result = Err(e);
                                break;
                            }
                        }
                    } else {
                        v
                    }
                }
                Symbol::Exception => match r.read_bits(64) {
                    Ok(bits) => f64::from_bits(bits),
                    Err(e) => {
                        result = Err(e);
                        break;
                    }
                },
            };
            *slot = v;
        }
        self.predictor = predictor;
        result
    }

    #[inline]
    fn correct(&mut self, r: &mut BitReader<'_>, v: f64) -> Result<f64> {
        if !self.params.corrections {
            return Ok(v);
        }
        match self.corrections.decode(r)? {
            Symbol::Value(u) => Ok(apply_correction(v, unzigzag(u))),
            Symbol::Exception => Err(Error::corrupt(0, "exception marker in a correction stream")),
        }
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
            let mut dec = DecimalDecoder::new(enc.params()).unwrap();
            for &m in &ms {
                prop_assert_eq!(dec.next_value(&mut r).unwrap().to_bits(), from_scaled(m, 3).to_bits());
            }
        }
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
