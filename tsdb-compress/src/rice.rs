//! An adaptive Golomb-Rice coder for unsigned residuals.
//!
//! Residuals of good predictors are small and roughly geometric, which Rice codes serve
//! within a few percent of their entropy, provided the parameter `k` follows the data.
//! Encoder and decoder adapt `k` identically from what they have already coded, so no
//! parameter is stored. Three refinements make it fit operational metrics:
//!
//! * `k` follows a moving average of the residuals' *bit lengths*, not of their values,
//!   so one counter reset or spike does not inflate the code for the samples after it.
//! * A second mode codes a zero flag before each residual, with `k` fitted to the nonzero
//!   residuals only. It wins on gauges that sit still most of the time and then jump
//!   (memory sizes, queue depths), where a single `k` would be too large for the zeros or
//!   too small for the jumps. The coder tracks what each mode would have cost and uses the
//!   cheaper one for the next residual.
//! * A quotient at or above [`UNARY_LIMIT`] escapes to an explicit bit width and the raw
//!   value, bounding the cost of outliers to 15 bits plus the value itself. The
//!   escape with width 0 is reserved as an *exception* marker for callers that need one.

use crate::bits::{BitReader, BitWriter};
use crate::error::{Error, Result};

/// Quotients at or above this escape to a raw value. Small, because `k` adapts: a long
/// unary run means an outlier, and 8 measured smaller than 12, 16 or 24 on NAB.
pub const UNARY_LIMIT: u32 = 8;
/// Width of the bit-length field of an escape.
const WIDTH_BITS: u32 = 7;
/// Bit lengths are averaged as decayed sums (decay 1/8) of `len << 4`, so their steady
/// state is the average bit length scaled by 2^7.
const LEN_DECAY: u32 = 3;
/// Mode costs are decayed sums (decay 1/16) of bits; only their comparison matters.
const COST_DECAY: u32 = 4;
/// `k = (avg_bit_len - K_BIAS/128)` rounded down. Theory puts Rice's optimum for a
/// geometric residual a little below the mean bit length; on the NAB and fleet data
/// rounding down with no bias measured best (0.5 % smaller than a bias of 26/128).
const K_BIAS: u32 = 0;

/// What a decoder found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Symbol {
    /// An ordinary residual.
    Value(u64),
    /// The reserved exception marker (see the module docs).
    Exception,
}

/// Shared adaptive state: identical in encoder and decoder.
#[derive(Clone, Debug, Default)]
pub struct RiceState {
    /// Moving average of the bit length of all residuals, scaled by 2^7.
    len_all: u32,
    /// Same, over nonzero residuals only.
    len_nonzero: u32,
    /// Decayed sums of what each mode would have cost, in bits.
    cost_plain: u32,
    cost_flagged: u32,
}

#[inline]
fn bit_len(u: u64) -> u32 {
    64 - u.leading_zeros()
}

#[inline]
fn k_from(avg_len: u32) -> u32 {
    // avg_len is the bit length scaled by 2^7 (steady state of the decayed sum).
    (avg_len.saturating_sub(K_BIAS) >> 7).min(63)
}

/// Bits a Rice code with parameter `k` spends on `u`.
#[inline]
fn rice_len(u: u64, k: u32) -> u32 {
    let q = u >> k;
    if q < u64::from(UNARY_LIMIT) {
        q as u32 + 1 + k
    } else {
        UNARY_LIMIT + WIDTH_BITS + bit_len(u)
    }
}

impl RiceState {
    #[inline]
    fn k_plain(&self) -> u32 {
        k_from(self.len_all)
    }

    #[inline]
    fn k_flagged(&self) -> u32 {
        k_from(self.len_nonzero)
    }

    #[inline]
    fn flagged(&self) -> bool {
        self.cost_flagged < self.cost_plain
    }

    /// Learns from a coded residual; must run after every coded value in both directions.
    #[inline]
    fn update(&mut self, u: u64) {
        let len = bit_len(u) << 4;
        let plain = rice_len(u, self.k_plain());
        let flagged = if u == 0 {
            1
        } else {
            1 + rice_len(u - 1, self.k_flagged())
        };
        // decayed sums: steady state is (len << 4) << LEN_DECAY = len << 7
        self.len_all = self.len_all - (self.len_all >> LEN_DECAY) + len;
        if u != 0 {
            self.len_nonzero = self.len_nonzero - (self.len_nonzero >> LEN_DECAY) + len;
        }
        self.cost_plain = self.cost_plain - (self.cost_plain >> COST_DECAY) + plain;
        self.cost_flagged = self.cost_flagged - (self.cost_flagged >> COST_DECAY) + flagged;
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
    #[inline]
    pub fn decode(&mut self, r: &mut BitReader<'_>) -> Result<Symbol> {
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
