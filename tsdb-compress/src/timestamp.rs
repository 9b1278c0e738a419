//! Timestamp codec: delta-of-delta with an adaptive Rice code.
//!
//! Like Gorilla (section 4.1.1) it codes the change of the interval, so a perfectly
//! regular scrape costs one bit per sample; unlike Gorilla's fixed buckets the code
//! adapts to the jitter actually present, so a scrape that wobbles by a few
//! milliseconds costs about `log2(jitter) + 2` bits instead of Prometheus's 16. The chunk
//! layer goes further and stores no stream at all for a perfectly regular chunk.
//!
//! The codec itself is total: any `i64` sequence, including negative and equal deltas
//! and the extremes of the range, round-trips (all arithmetic wraps). Ordering rules
//! belong to the chunk layer.

use crate::bits::{BitReader, BitWriter};
use crate::error::{Error, Result};
use crate::rice::{self, RiceEncoder, RiceState, Symbol, FAST_K};
use tsdb_encoding::{unzigzag, zigzag};

/// Streams timestamps after the first, which the caller stores elsewhere.
#[derive(Clone, Debug)]
pub struct TimestampEncoder {
    prev: i64,
    prev_delta: i64,
    /// True while every delta-of-delta after the first delta has been zero.
    regular: bool,
    count: usize,
    rice: RiceEncoder,
    bits: BitWriter,
}

impl TimestampEncoder {
    /// An encoder whose first timestamp is `first` (not written to the stream).
    pub fn new(first: i64) -> Self {
        Self {
            prev: first,
            prev_delta: 0,
            regular: true,
            count: 1,
            rice: RiceEncoder::default(),
            bits: BitWriter::new(),
        }
    }

    /// Appends the next timestamp.
    #[inline]
    pub fn push(&mut self, t: i64) {
        let delta = t.wrapping_sub(self.prev);
        let dod = delta.wrapping_sub(self.prev_delta);
        if self.count >= 2 && dod != 0 {
            self.regular = false;
        }
        self.rice.encode(&mut self.bits, zigzag(dod));
        self.prev = t;
        self.prev_delta = delta;
        self.count += 1;
    }

    /// True when the timestamps so far are `first + i * delta` for one `delta`.
    pub fn is_regular(&self) -> bool {
        self.regular
    }

    /// Timestamps pushed, the first included.
    pub fn count(&self) -> usize {
        self.count
    }

    /// The encoded stream.
    pub fn stream(&self) -> &BitWriter {
        &self.bits
    }
}

/// Decodes what a [`TimestampEncoder`] wrote.
#[derive(Clone, Debug)]
pub struct TimestampDecoder<'a> {
    prev: i64,
    prev_delta: i64,
    first_pending: bool,
    rice: RiceState,
    bits: BitReader<'a>,
}

impl<'a> TimestampDecoder<'a> {
    /// A decoder for a stream whose first timestamp is `first`.
    pub fn new(first: i64, stream: &'a [u8], offset: usize) -> Self {
        Self {
            prev: first,
            prev_delta: 0,
            first_pending: true,
            rice: RiceState::default(),
            bits: BitReader::new(stream, offset),
        }
    }

    /// Fills `out` with the next `out.len()` timestamps, refusing any that does not
    /// increase (a valid stream never holds one). The loops run per group of the Rice
    /// state, specialised on its mode.
    pub fn decode_batch(&mut self, out: &mut [i64]) -> Result<()> {
        let mut out = out;
        if self.first_pending {
            let Some((first, rest)) = out.split_first_mut() else {
                return Ok(());
            };
            self.first_pending = false;
            *first = self.prev;
            out = rest;
        }
        while !out.is_empty() {
            let n = out.len().min(self.rice.left() as usize);
            let (run, rest) = out.split_at_mut(n);
            let k = self.rice.k();
            if k > FAST_K {
                self.run::<false, false, true>(run)?;
            } else if self.rice.flagged() {
                self.run::<true, true, false>(run)?;
            } else if k == 0 {
                self.run::<false, true, false>(run)?;
            } else {
                self.run::<false, false, false>(run)?;
            }
            out = rest;
        }
        self.bits.check()
    }

    /// Decodes `out.len()` timestamps, at most the group's remaining symbols, with the
    /// group's mode and `k`. `ZERO_RUNS`: a zero is a single 0 bit (flagged mode, or
    /// `k = 0`), so a run of zeros, a stretch of regular timestamps, is read with one
    /// leading-zero count. `SLOW` takes every symbol the slow way.
    #[inline(always)]
    fn run<const FLAGGED: bool, const ZERO_RUNS: bool, const SLOW: bool>(
        &mut self,
        out: &mut [i64],
    ) -> Result<()> {
        let k = self.rice.k();
        // a copy stays in registers
        let mut r = self.bits.clone();
        let mut t = self.prev;
        let mut delta = self.prev_delta;
        let mut log_sum = 0u32;
        let mut zeros = 0u32;
        let mut increasing = true;
        let mut i = 0;
        while i < out.len() {
            if ZERO_RUNS {
                let run = (r.peek().leading_zeros().min(56) as usize).min(out.len() - i);
                #[expect(clippy::cast_possible_truncation, reason = "run <= 56")]
                let run32 = run as u32;
                r.consume(run32);
                zeros += run32;
                for slot in out.get_mut(i..i + run).unwrap_or_default() {
                    let next = t.wrapping_add(delta);
                    increasing &= next > t;
                    t = next;
                    *slot = t;
                }
                i += run;
                if i == out.len() {
                    break;
                }
            }
            let fast = if SLOW {
                None
            } else {
                rice::decode_fast::<FLAGGED>(&mut r, k)
            };
            let u = match fast {
                Some(u) => u,
                None => match rice::decode_slow(&mut r, &self.rice)? {
                    Symbol::Value(u) => u,
                    Symbol::Exception => {
                        return Err(Error::corrupt(0, "exception marker in a timestamp stream"))
                    }
                },
            };
            log_sum += rice::log_or_1(u);
            zeros += u32::from(u == 0);
            delta = delta.wrapping_add(unzigzag(u));
            let next = t.wrapping_add(delta);
            increasing &= next > t;
            t = next;
            if let Some(slot) = out.get_mut(i) {
                *slot = t;
            }
            i += 1;
        }
        if !increasing {
            return Err(Error::corrupt(0, "timestamps not increasing"));
        }
        self.bits = r;
        self.prev = t;
        self.prev_delta = delta;
        #[expect(
            clippy::cast_possible_truncation,
            reason = "a run lies within one Rice group, at most 64 symbols"
        )]
        let symbols = out.len() as u32;
        self.rice.add_run(log_sum, zeros, symbols);
        Ok(())
    }

    /// The next timestamp, one at a time and without the ordering check (the codec is
    /// total over any `i64` sequence); the first call returns `first`. The tests' reference
    /// for the batch decoder.
    #[cfg(test)]
    pub fn next_timestamp(&mut self) -> Result<i64> {
        if self.first_pending {
            self.first_pending = false;
            return Ok(self.prev);
        }
        let dod = match rice::decode_symbol(&mut self.bits, &mut self.rice)? {
            Symbol::Value(u) => unzigzag(u),
            Symbol::Exception => {
                return Err(Error::corrupt(0, "exception marker in a timestamp stream"))
            }
        };
        self.prev_delta = self.prev_delta.wrapping_add(dod);
        self.prev = self.prev.wrapping_add(self.prev_delta);
        Ok(self.prev)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn round_trip(ts: &[i64]) -> usize {
        let Some((&first, rest)) = ts.split_first() else {
            return 0;
        };
        let mut enc = TimestampEncoder::new(first);
        for &t in rest {
            enc.push(t);
        }
        let bytes = enc.stream().to_bytes();
        let mut dec = TimestampDecoder::new(first, &bytes, 0);
        for &t in ts {
            assert_eq!(dec.next_timestamp().unwrap(), t);
        }
        if ts.windows(2).all(|w| w[0] < w[1]) {
            // the batch decoder, in uneven batches that cross group boundaries
            let mut dec = TimestampDecoder::new(first, &bytes, 0);
            let mut out = vec![0; ts.len()];
            let mut at = 0;
            for n in [1usize, 3, 64, 5, 17].iter().cycle() {
                if at == out.len() {
                    break;
                }
                let end = (at + n).min(out.len());
                dec.decode_batch(&mut out[at..end]).unwrap();
                at = end;
            }
            assert_eq!(out, ts);
        }
        enc.stream().bit_len()
    }

    proptest! {
        #[test]
        fn any_sequence_round_trips(ts in proptest::collection::vec(any::<i64>(), 1..200)) {
            round_trip(&ts);
        }

        #[test]
        fn jittered_scrapes_round_trip(start in any::<i64>(), jitter in proptest::collection::vec(-50i64..50, 1..500)) {
            let ts: Vec<i64> = jitter.iter().enumerate()
                .map(|(i, j)| start.wrapping_add(15_000 * i64::try_from(i).unwrap()).wrapping_add(*j)).collect();
            round_trip(&ts);
        }
    }

    #[test]
    fn extremes_and_odd_deltas_round_trip() {
        round_trip(&[
            i64::MIN,
            i64::MAX,
            i64::MIN,
            0,
            0,
            -1,
            -1,
            i64::MAX,
            i64::MAX,
        ]);
        round_trip(&[5, 5, 5, 4, 3, 10, -10]);
    }

    #[test]
    fn regular_interval_costs_about_one_bit_per_sample() {
        let ts: Vec<i64> = (0..1000).map(|i| 1_700_000_000_000 + 10_000 * i).collect();
        let bits = round_trip(&ts);
        // one escape for the first delta, then about a bit per sample
        assert!(bits <= 999 + 64, "{bits} bits");
        let mut enc = TimestampEncoder::new(ts[0]);
        ts[1..].iter().for_each(|&t| enc.push(t));
        assert!(enc.is_regular());
    }
}
