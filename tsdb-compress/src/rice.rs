//! An adaptive Golomb-Rice coder for unsigned residuals.
//!
//! Residuals of good predictors are small and roughly geometric, which Rice codes serve
//! within a few percent of their entropy, provided the parameter `k` follows the data.
//! Encoder and decoder adapt `k` identically from what they have already coded, so no
//! parameter is stored. Three refinements make it fit operational metrics:
//!
//! * `k` follows the residuals' mean *bit length*, not their mean value, so one counter
//!   reset or spike does not inflate the code for the samples after it. It is refitted
//!   once per group of up to 16 symbols, not per symbol: the decoder's per-symbol work
//!   stays a few additions (this took NAB decoding from 320 to 254 instructions a sample
//!   and made it 1 % smaller).
//! * A second mode codes a zero flag before each residual, with `k` fitted to the nonzero
//!   residuals only. It wins on gauges that sit still most of the time and then jump
//!   (memory sizes, queue depths), where a single `k` would be too large for the zeros or
//!   too small for the jumps. It is chosen when the zeros' saving (about `k` bits each)
//!   outweighs the flag bit every nonzero residual pays.
//! * A quotient at or above [`UNARY_LIMIT`] escapes to an explicit bit width and the raw
//!   value, bounding the cost of outliers to 15 bits plus the value itself. The
//!   escape with width 0 is reserved as an *exception* marker for callers that need one.
//!
//! The exact rules are in `FORMAT.md`.

use crate::bits::{BitReader, BitWriter};
use crate::error::{Error, Result};

/// Quotients at or above this escape to a raw value. Small, because `k` adapts: a long
/// unary run means an outlier, and 8 measured smaller than 12, 16 or 24 on NAB.
pub const UNARY_LIMIT: u32 = 8;
/// Width of the bit-length field of an escape.
const WIDTH_BITS: u32 = 7;
/// The state refits after this many symbols at most; early on it refits after 1, 2, 4
/// and 8 symbols so a chunk's first samples adapt quickly.
const MAX_GROUP: u32 = 16;

/// What a decoder found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Symbol {
    /// An ordinary residual.
    Value(u64),
    /// The reserved exception marker (see the module docs).
    Exception,
}

/// Shared adaptive state: identical in encoder and decoder.
///
/// Per symbol it only adds up bit lengths and zeros; every group of symbols it refits
/// `k` for both modes and picks the mode. Refitting per group rather than per symbol
/// costs a few hundredths of a bit per sample and saves most of the decoder's work.
#[derive(Clone, Debug)]
pub struct RiceState {
    /// Bit lengths and zeros of the current group.
    group_len: u32,
    group_zeros: u32,
    group_n: u32,
    group_size: u32,
    /// History with each earlier group weighted half as much as the next.
    hist_len: u32,
    hist_zeros: u32,
    hist_n: u32,
    k_plain: u32,
    k_flagged: u32,
    flagged: bool,
}

impl Default for RiceState {
    fn default() -> Self {
        Self {
            group_len: 0,
            group_zeros: 0,
            group_n: 0,
            group_size: 1,
            hist_len: 0,
            hist_zeros: 0,
            hist_n: 0,
            k_plain: 0,
            k_flagged: 0,
            flagged: false,
        }
    }
}

#[inline]
fn bit_len(u: u64) -> u32 {
    64 - u.leading_zeros()
}

impl RiceState {
    #[inline]
    fn k_plain(&self) -> u32 {
        self.k_plain
    }

    #[inline]
    fn k_flagged(&self) -> u32 {
        self.k_flagged
    }

    #[inline]
    fn flagged(&self) -> bool {
        self.flagged
    }

    /// Learns from a coded residual; must run after every coded value in both directions.
    #[inline(always)]
    fn update(&mut self, u: u64) {
        self.group_len += bit_len(u);
        self.group_zeros += u32::from(u == 0);
        self.group_n += 1;
        if self.group_n == self.group_size {
            self.refit();
        }
    }

    #[cold]
    #[inline(never)]
    fn refit(&mut self) {
        self.hist_len = self.hist_len / 2 + self.group_len;
        self.hist_zeros = self.hist_zeros / 2 + self.group_zeros;
        self.hist_n = self.hist_n / 2 + self.group_n;
        self.group_len = 0;
        self.group_zeros = 0;
        self.group_n = 0;
        self.group_size = (self.group_size * 2).min(MAX_GROUP);
        // Rice's best k sits near the mean bit length, rounded down (measured on NAB
        // and the fleet data). Zeros have bit length 0, so the nonzero mean divides the
        // same sum by fewer symbols.
        let nonzero = self.hist_n.saturating_sub(self.hist_zeros);
        self.k_plain = (self.hist_len / self.hist_n.max(1)).min(63);
        self.k_flagged = (self.hist_len / nonzero.max(1)).min(63);
        // A flag saves about k_plain bits on every zero and costs one on every nonzero.
        self.flagged = self.hist_zeros * self.k_plain > nonzero;
    }
}

#[inline]
fn write_rice(w: &mut BitWriter, u: u64, k: u32) {
    let q = u >> k;
    if q < u64::from(UNARY_LIMIT) {
        let q = q as u32;
        // q ones, a zero, then the k low bits: at most 24 + 1 + 63 bits, so split in two
        w.write_bits((1u64 << (q + 1)) - 2, q + 1);
        if k > 0 {
            w.write_bits(u & (u64::MAX >> (64 - k)), k);
        }
    } else {
        write_escape(w, u);
    }
}

#[inline]
fn write_escape(w: &mut BitWriter, u: u64) {
    w.write_ones(UNARY_LIMIT);
    let width = bit_len(u);
    w.write_bits(u64::from(width), WIDTH_BITS);
    w.write_bits(u, width);
}

#[inline]
fn read_rice(r: &mut BitReader<'_>, k: u32) -> Result<Symbol> {
    let q = r.read_unary(UNARY_LIMIT)?;
    if q < UNARY_LIMIT {
        let low = r.read_bits(k)?;
        return Ok(Symbol::Value((u64::from(q) << k) | low));
    }
    let width = r.read_bits(WIDTH_BITS)? as u32;
    match width {
        0 => Ok(Symbol::Exception),
        1..=64 => Ok(Symbol::Value(r.read_bits(width)?)),
        _ => Err(Error::corrupt(0, "escape width above 64 bits")),
    }
}

/// Encodes residuals into a bit stream.
#[derive(Clone, Debug, Default)]
pub struct RiceEncoder {
    state: RiceState,
}

impl RiceEncoder {
    /// Writes `u` and adapts.
    #[inline]
    pub fn encode(&mut self, w: &mut BitWriter, u: u64) {
        if self.state.flagged() {
            if u == 0 {
                w.write_bit(false);
            } else {
                w.write_bit(true);
                write_rice(w, u - 1, self.state.k_flagged());
            }
        } else {
            write_rice(w, u, self.state.k_plain());
        }
        self.state.update(u);
    }

    /// Writes the exception marker; the state does not change.
    pub fn encode_exception(&mut self, w: &mut BitWriter) {
        if self.state.flagged() {
            w.write_bit(true);
        }
        w.write_ones(UNARY_LIMIT);
        w.write_bits(0, WIDTH_BITS);
    }
}

/// Decodes what a [`RiceEncoder`] wrote.
#[derive(Clone, Debug, Default)]
pub struct RiceDecoder {
    state: RiceState,
}

impl RiceDecoder {
    /// Reads the next symbol and adapts.
    #[inline(always)]
    pub fn decode(&mut self, r: &mut BitReader<'_>) -> Result<Symbol> {
        // Fast path: flag, unary quotient and remainder all lie in one peeked word (at
        // least 57 valid bits), so one load and one bounds check serve the whole code.
        let word = r.peek();
        let flagged = self.state.flagged();
        let (shift, k) = if flagged {
            if word >> 63 == 0 {
                r.advance(1)?;
                self.state.update(0);
                return Ok(Symbol::Value(0));
            }
            (1, self.state.k_flagged())
        } else {
            (0, self.state.k_plain())
        };
        let w = word << shift;
        let q = (!w).leading_zeros();
        let used = shift + q + 1 + k;
        if q < UNARY_LIMIT && used <= 57 {
            let low = if k == 0 {
                0
            } else {
                (w << (q + 1)) >> (64 - k)
            };
            r.advance(used as usize)?;
            let u = ((u64::from(q) << k) | low).wrapping_add(u64::from(flagged));
            self.state.update(u);
            return Ok(Symbol::Value(u));
        }
        self.decode_slow(r)
    }

    #[cold]
    #[inline(never)]
    fn decode_slow(&mut self, r: &mut BitReader<'_>) -> Result<Symbol> {
        let sym = if self.state.flagged() {
            if !r.read_bit()? {
                Symbol::Value(0)
            } else {
                match read_rice(r, self.state.k_flagged())? {
                    Symbol::Value(u) => Symbol::Value(u.wrapping_add(1)),
                    Symbol::Exception => Symbol::Exception,
                }
            }
        } else {
            read_rice(r, self.state.k_plain())?
        };
        if let Symbol::Value(u) = sym {
            self.state.update(u);
        }
        Ok(sym)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn round_trip(symbols: &[Option<u64>]) -> usize {
        let mut w = BitWriter::new();
        let mut enc = RiceEncoder::default();
        for s in symbols {
            match *s {
                Some(u) => enc.encode(&mut w, u),
                None => enc.encode_exception(&mut w),
            }
        }
        let bytes = w.to_bytes();
        let mut r = BitReader::new(&bytes, 0);
        let mut dec = RiceDecoder::default();
        for s in symbols {
            let got = dec.decode(&mut r).unwrap();
            let want = s.map_or(Symbol::Exception, Symbol::Value);
            assert_eq!(got, want);
        }
        w.bit_len()
    }

    proptest! {
        #[test]
        fn round_trips_any_residuals(symbols in proptest::collection::vec(
            prop_oneof![
                4 => (0u64..8).prop_map(Some),
                4 => (0u64..5000).prop_map(Some),
                1 => any::<u64>().prop_map(Some),
                1 => Just(None),
            ], 0..300)) {
            round_trip(&symbols);
        }
    }

    #[test]
    fn zeros_cost_about_one_bit_and_spiky_series_use_the_flag() {
        let zeros = vec![Some(0); 1000];
        assert!(round_trip(&zeros) <= 1000);
        // 80% zeros, 20% jumps of about 2^20: the flagged mode must beat a fixed k
        let spiky: Vec<Option<u64>> = (0..1000u64)
            .map(|i| Some(if i % 5 == 0 { (1 << 20) + i * 7919 } else { 0 }))
            .collect();
        let bits = round_trip(&spiky);
        // a plain Rice code fitted to the jumps would spend ~20 bits on every zero
        assert!(bits < 1000 * 7, "spiky series took {bits} bits");
    }

    #[test]
    fn corrupt_escape_width_is_an_error() {
        let mut w = BitWriter::new();
        w.write_ones(UNARY_LIMIT);
        w.write_bits(100, WIDTH_BITS);
        let bytes = w.to_bytes();
        let mut r = BitReader::new(&bytes, 0);
        assert!(RiceDecoder::default().decode(&mut r).is_err());
    }
}
