//! An adaptive Golomb-Rice coder for unsigned residuals.
//!
//! Residuals of good predictors are small and roughly geometric, which Rice codes serve
//! within a few percent of their entropy, provided the parameter `k` follows the data.
//! Encoder and decoder adapt `k` identically from what they have already coded, so no
//! parameter is stored. Three refinements make it fit operational metrics:
//!
//! * `k` follows the residuals' mean *bit length*, not their mean value, so one counter
//!   reset or spike does not inflate the code for the samples after it. It is refitted
//!   once per group of up to 64 symbols, not per symbol, so the decoders run one loop per
//!   group with `k` and the mode fixed, and their per-symbol work is a few additions
//!   (groups of 16 took NAB decoding from 320 to 254 instructions a sample and made it
//!   1 % smaller; 64 rather than 16 made the fleet data 1.5 % smaller and NAB 0.06 %
//!   larger).
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
/// The state refits after this many symbols at most; early on it refits after 1, 2, 4,
/// 8, 16 and 32 symbols so a chunk's first samples adapt quickly.
const MAX_GROUP: u32 = 64;

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
    pub(crate) fn k_plain(&self) -> u32 {
        self.k_plain
    }

    #[inline]
    pub(crate) fn k_flagged(&self) -> u32 {
        self.k_flagged
    }

    #[inline]
    pub(crate) fn flagged(&self) -> bool {
        self.flagged
    }

    /// `k` of the current mode.
    #[inline]
    pub(crate) fn k(&self) -> u32 {
        if self.flagged {
            self.k_flagged
        } else {
            self.k_plain
        }
    }

    /// Symbols left before the next refit (at least 1).
    #[inline]
    pub(crate) fn left(&self) -> u32 {
        self.group_size - self.group_n
    }

    /// Learns from a run of `n` coded symbols (at most [`RiceState::left`]), of which
    /// `zeros` were zero, with `log_sum` the sum of `floor(log2(u | 1))` over the run:
    /// the sum of bit lengths is then `log_sum + n - zeros`, which is what a decoding
    /// loop can add up cheapest. Returns true when the group ended and `k` was refitted.
    #[inline(always)]
    pub(crate) fn add_run(&mut self, log_sum: u32, zeros: u32, n: u32) -> bool {
        debug_assert!(n <= self.left());
        self.group_len += log_sum + n - zeros;
        self.group_zeros += zeros;
        self.group_n += n;
        if self.group_n == self.group_size {
            self.refit();
            return true;
        }
        false
    }

    /// Learns from a coded residual; must run after every coded value in both directions.
    /// Returns true when the group ended and `k` was refitted.
    #[inline(always)]
    pub(crate) fn update(&mut self, u: u64) -> bool {
        self.group_len += bit_len(u);
        self.group_zeros += u32::from(u == 0);
        self.group_n += 1;
        if self.group_n == self.group_size {
            self.refit();
            return true;
        }
        false
    }

    /// Inlined: decoding loops keep the state in registers, which a call would spill.
    #[inline]
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
        #[expect(clippy::cast_possible_truncation, reason = "q < UNARY_LIMIT = 8")]
        let q = q as u32;
        // q ones, a zero, then the k low bits: one write when that fits 64 bits
        let unary = (1u64 << (q + 1)) - 2;
        if q + 1 + k <= 64 {
            let low = u & (u64::MAX >> 1 >> (63 - k));
            w.write_bits(unary << k | low, q + 1 + k);
        } else {
            w.write_bits(unary, q + 1);
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
    #[expect(clippy::cast_possible_truncation, reason = "WIDTH_BITS = 7 bits")]
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
    /// Writes `u` and adapts; true when that ended a group (the state refitted).
    #[inline]
    pub fn encode(&mut self, w: &mut BitWriter, u: u64) -> bool {
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
        self.state.update(u)
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

/// Largest `k` the fast paths take: a flag, at most 7 ones, the terminating zero and `k`
/// low bits must fit the 57 bits of a peek.
pub(crate) const FAST_K: u32 = 47;

/// Fast path for one symbol of a group in plain (`FLAGGED == false`) or flagged mode
/// with parameter `k <= FAST_K`, from one peeked word, escapes of up to [`FAST_ESCAPE`] bits
/// included. `None` (nothing consumed) for what it does not handle: longer escapes and
/// exceptions. Only escapes take a branch that depends on the data.
#[inline(always)]
pub(crate) fn decode_fast<const FLAGGED: bool>(r: &mut BitReader<'_>, k: u32) -> Option<u64> {
    debug_assert!(k <= FAST_K);
    let word = r.peek();
    let w = if FLAGGED { word << 1 } else { word };
    let q = (!w).leading_zeros();
    if q >= UNARY_LIMIT {
        return decode_escape::<FLAGGED>(r, word);
    }
    // `w << q` starts with the terminating zero, then the k low bits
    let low = (w << q) >> (63 - k);
    let u = (u64::from(q) << k) | low;
    let len = q + 1 + k;
    if FLAGGED {
        // Zero or not is as unpredictable as the data, so no branch on it: masks (with
        // `if`, the compiler emitted a branch, mispredicted about every other symbol).
        let nonzero = word >> 63;
        let mask = 0u64.wrapping_sub(nonzero);
        #[expect(
            clippy::cast_possible_truncation,
            reason = "the mask is all zeros or all ones; its low 32 bits are the same"
        )]
        let mask32 = mask as u32;
        r.consume(1 + (len & mask32));
        Some((u + 1) & mask)
    } else {
        r.consume(len);
        Some(u)
    }
}

/// Widest escaped value [`decode_fast`] takes: flag, eight ones, the width and the value
/// must fit the 57 bits of a peek.
pub(crate) const FAST_ESCAPE: u32 = 41;

/// The escape branch of [`decode_fast`] (also a zero flag followed by eight ones).
#[inline(always)]
fn decode_escape<const FLAGGED: bool>(r: &mut BitReader<'_>, word: u64) -> Option<u64> {
    if FLAGGED && word >> 63 == 0 {
        r.consume(1);
        return Some(0);
    }
    let w = if FLAGGED { word << 1 } else { word };
    let width = (w << UNARY_LIMIT >> (64 - WIDTH_BITS)) as u32;
    if width == 0 || width > FAST_ESCAPE {
        return None;
    }
    let head = UNARY_LIMIT + WIDTH_BITS;
    let u = (w << head) >> (64 - width);
    r.consume(head + width + u32::from(FLAGGED));
    Some(if FLAGGED { u + 1 } else { u })
}

/// Any symbol, bit by bit, with `state`'s current mode; the state is not updated.
#[cold]
#[inline(never)]
pub(crate) fn decode_slow(r: &mut BitReader<'_>, state: &RiceState) -> Result<Symbol> {
    if state.flagged() {
        if !r.read_bit()? {
            return Ok(Symbol::Value(0));
        }
        return Ok(match read_rice(r, state.k_flagged())? {
            Symbol::Value(u) => Symbol::Value(u.wrapping_add(1)),
            Symbol::Exception => Symbol::Exception,
        });
    }
    read_rice(r, state.k_plain())
}

/// `floor(log2(u | 1))`: the per-symbol statistic of [`RiceState::add_run`], one `bsr`.
#[inline(always)]
pub(crate) fn log_or_1(u: u64) -> u32 {
    (u | 1).ilog2()
}

/// Decodes what a [`RiceEncoder`] wrote, one symbol at a time: the tests' reference (the
/// batch decoders use [`RiceState`] and the fast and slow paths directly).
#[cfg(test)]
#[derive(Clone, Debug, Default)]
pub struct RiceDecoder {
    state: RiceState,
}

#[cfg(test)]
impl RiceDecoder {
    /// Reads the next symbol and adapts.
    #[inline]
    pub fn decode(&mut self, r: &mut BitReader<'_>) -> Result<Symbol> {
        decode_symbol(r, &mut self.state)
    }
}

/// One symbol in `state`'s mode, adapting the state; reading past the end is an error.
#[inline]
pub(crate) fn decode_symbol(r: &mut BitReader<'_>, state: &mut RiceState) -> Result<Symbol> {
    let k = state.k();
    let fast = if k > FAST_K {
        None
    } else if state.flagged() {
        decode_fast::<true>(r, k)
    } else {
        decode_fast::<false>(r, k)
    };
    let sym = match fast {
        Some(u) => {
            r.check()?;
            Symbol::Value(u)
        }
        None => decode_slow(r, state)?,
    };
    if let Symbol::Value(u) = sym {
        state.update(u);
    }
    Ok(sym)
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
                Some(u) => {
                    enc.encode(&mut w, u);
                }
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
