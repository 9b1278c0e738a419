//! Typed WAL records and their payload encoding (byte layouts in `FORMAT-wal.md`).
//!
//! The decoder trusts nothing: every count is checked against the bytes that remain
//! before anything is allocated, varints must be minimal, labels are re-validated by
//! `tsdb-index`, and a payload must be consumed exactly. Decoding is the inverse of
//! encoding byte for byte: a payload that decodes re-encodes to the same bytes (the fuzz
//! target checks this).

pub use tsdb_encoding::DecodeError;
use tsdb_encoding::{put_uvarint, put_varint, Cursor};
use tsdb_index::{LabelLimits, Labels, MAX_STRING_LEN};

use super::framing::{self, TYPE_SAMPLES, TYPE_SERIES};
use crate::error::{Error, Result};

/// One sample of a series, referenced by the head's series id.
///
/// Equality compares `v` bit for bit (so NaN payloads such as Prometheus's stale marker
/// `0x7ff0000000000002` compare equal to themselves and differ from other NaNs): the log
/// must give back exactly what went in.
#[derive(Clone, Copy, Debug)]
pub struct RefSample {
    /// The series id the head assigned (announced earlier by a [`Record::Series`]).
    pub series_ref: u64,
    /// Milliseconds since the Unix epoch.
    pub t: i64,
    /// The value, stored as its raw bit pattern.
    pub v: f64,
}

impl PartialEq for RefSample {
    fn eq(&self, o: &Self) -> bool {
        self.series_ref == o.series_ref && self.t == o.t && self.v.to_bits() == o.v.to_bits()
    }
}

impl Eq for RefSample {}

/// One entry of the write-ahead log: what the head needs to rebuild itself on restart.
///
/// A series is announced once, before its first samples, with the id the head gave it;
/// samples refer to that id (deletions are not logged: they live in the tombstones file). `#[non_exhaustive]` because more kinds
/// (exemplars, metadata) will come with new type bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Record {
    /// A new series: its id and label set.
    Series {
        /// The id the head assigned.
        series_ref: u64,
        /// The series' labels.
        labels: Labels,
    },
    /// A batch of samples, possibly of many series.
    Samples(Vec<RefSample>),
}

/// Smallest encoded size of one sample: two one-byte varints and the 8 value bytes.
const MIN_SAMPLE_LEN: usize = 10;
/// Smallest encoded size of one label: two one-byte lengths and a one-byte name and value.
const MIN_LABEL_LEN: usize = 4;

impl Record {
    /// The type byte written in this record's frame.
    pub fn type_byte(&self) -> u8 {
        match self {
            Record::Series { .. } => TYPE_SERIES,
            Record::Samples(_) => TYPE_SAMPLES,
        }
    }

    /// Appends the payload encoding of this record to `out`. (Infallible today; the
    /// `Result` leaves room for record kinds with invariants to check.)
    pub fn encode_payload(&self, out: &mut Vec<u8>) -> Result<()> {
        match self {
            Record::Series { series_ref, labels } => {
                put_uvarint(out, *series_ref);
                put_uvarint(out, labels.len() as u64);
                for (n, v) in labels.iter() {
                    put_uvarint(out, n.len() as u64);
                    out.extend_from_slice(n.as_bytes());
                    put_uvarint(out, v.len() as u64);
                    out.extend_from_slice(v.as_bytes());
                }
            }
            Record::Samples(samples) => {
                out.reserve(samples.len() * 12 + 2);
                put_uvarint(out, samples.len() as u64);
                let (mut pref, mut pt) = (0u64, 0i64);
                for s in samples {
                    put_varint(out, s.series_ref.wrapping_sub(pref).cast_signed());
                    put_varint(out, s.t.wrapping_sub(pt));
                    out.extend_from_slice(&s.v.to_bits().to_le_bytes());
                    (pref, pt) = (s.series_ref, s.t);
                }
            }
        }
        Ok(())
    }

    /// Appends this record as a complete frame (header, payload) to `out`.
    pub(crate) fn encode_frame(&self, out: &mut Vec<u8>) -> Result<()> {
        let start = framing::begin_frame(out, self.type_byte());
        if let Err(e) = self.encode_payload(out) {
            out.truncate(start);
            return Err(e);
        }
        framing::finish_frame(out, start).map_err(|len| Error::RecordTooLarge {
            len,
            max: framing::MAX_PAYLOAD_LEN,
        })
    }

    /// Decodes a payload of record type `typ`, validating everything.
    pub fn decode(typ: u8, payload: &[u8]) -> Result<Record, DecodeError> {
        // minimal varints: a payload that decodes re-encodes to the same bytes
        let mut c = Cursor::new(payload).require_minimal_varints();
        let rec = match typ {
            TYPE_SERIES => decode_series(&mut c)?,
            TYPE_SAMPLES => {
                let n = c.count(MIN_SAMPLE_LEN, "sample")?;
                let mut v = Vec::with_capacity(n);
                let (mut pref, mut pt) = (0u64, 0i64);
                for _ in 0..n {
                    let series_ref =
                        pref.wrapping_add(c.varint("series ref delta")?.cast_unsigned());
                    let t = pt.wrapping_add(c.varint("timestamp delta")?);
                    let bits = c.u64_le("value")?;
                    v.push(RefSample {
                        series_ref,
                        t,
                        v: f64::from_bits(bits),
                    });
                    (pref, pt) = (series_ref, t);
                }
                Record::Samples(v)
            }
            other => return Err(c.error(format!("unknown record type {other}"))),
        };
        c.expect_end("the record")?;
        Ok(rec)
    }
}

fn decode_series(c: &mut Cursor<'_>) -> Result<Record, DecodeError> {
    let series_ref = c.uvarint("series ref")?;
    let n = c.count(MIN_LABEL_LEN, "label")?;
    let mut pairs: Vec<(&[u8], &[u8])> = Vec::with_capacity(n);
    for _ in 0..n {
        let at = c.offset();
        let name = c.len_prefixed("label name")?;
        let value = c.len_prefixed("label value")?;
        if value.is_empty() {
            return Err(DecodeError::malformed(at, "label with an empty value"));
        }
        if let Some((prev, _)) = pairs.last() {
            if *prev >= name {
                return Err(DecodeError::malformed(
                    at,
                    "label names not strictly increasing",
                ));
            }
        }
        pairs.push((name, value));
    }
    // The labels were valid when they were written; the writer's limits may have been
    // changed since, so only the format's own ceilings apply here.
    let limits = LabelLimits {
        max_labels: n,
        max_name_len: MAX_STRING_LEN,
        max_value_len: MAX_STRING_LEN,
        require_metric_name: false,
    };
    let labels = Labels::from_bytes(pairs, &limits)
        .map_err(|e| DecodeError::malformed(0, format!("invalid labels: {e}")))?;
    Ok(Record::Series { series_ref, labels })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn round_trip(r: &Record) -> Record {
        let mut p = Vec::new();
        r.encode_payload(&mut p).unwrap();
        let back = Record::decode(r.type_byte(), &p).unwrap();
        let mut again = Vec::new();
        back.encode_payload(&mut again).unwrap();
        assert_eq!(p, again, "decode then encode gives the same bytes");
        back
    }

    #[test]
    fn fixed_examples() {
        let l = Labels::new([("__name__", "cpu"), ("host", "a")]).unwrap();
        let r = Record::Series {
            series_ref: 7,
            labels: l,
        };
        assert_eq!(round_trip(&r), r);
        let stale = f64::from_bits(0x7ff0_0000_0000_0002);
        let r = Record::Samples(vec![
            RefSample {
                series_ref: u64::MAX,
                t: i64::MIN,
                v: stale,
            },
            RefSample {
                series_ref: 0,
                t: i64::MAX,
                v: -0.0,
            },
        ]);
        assert_eq!(round_trip(&r), r);
        assert_eq!(
            round_trip(&Record::Samples(vec![])),
            Record::Samples(vec![])
        );
    }

    #[test]
    fn samples_are_compact() {
        // One scrape: consecutive refs, one timestamp: 10 bytes a sample after the first.
        let s: Vec<_> = (1000..2000)
            .map(|r| RefSample {
                series_ref: r,
                t: 1_700_000_000_000,
                v: 1.5,
            })
            .collect();
        let mut p = Vec::new();
        Record::Samples(s).encode_payload(&mut p).unwrap();
        assert!(p.len() <= 2 + 2 + 6 + 8 + 999 * 10, "{}", p.len());
    }

    #[test]
    fn decoder_refusals() {
        let err = |typ, b: &[u8]| Record::decode(typ, b).unwrap_err();
        // Count far beyond the bytes: refused before allocating.
        let mut p = Vec::new();
        put_uvarint(&mut p, u64::MAX);
        assert!(err(TYPE_SAMPLES, &p).reason.contains("cannot fit"));
        // Trailing garbage.
        assert!(err(TYPE_SAMPLES, &[0, 0]).reason.contains("trailing"));
        // Overlong varint.
        assert!(err(TYPE_SAMPLES, &[0x80, 0x00])
            .reason
            .contains("minimally"));
        // 11-byte varint.
        assert!(err(TYPE_SAMPLES, &[0xff; 11]).reason.contains("varint"));
        // Empty payload.
        assert!(err(TYPE_SERIES, &[]).reason.contains("past the end"));
        // Unknown type, and the retired tombstones type (3).
        assert!(err(9, &[]).reason.contains("unknown record type 9"));
        assert!(err(3, &[0]).reason.contains("unknown record type 3"));
        // Labels: unsorted, empty value, invalid name, bad UTF-8.
        let series = |pairs: &[(&[u8], &[u8])]| {
            let mut p = vec![1];
            put_uvarint(&mut p, pairs.len() as u64);
            for (n, v) in pairs {
                put_uvarint(&mut p, n.len() as u64);
                p.extend_from_slice(n);
                put_uvarint(&mut p, v.len() as u64);
                p.extend_from_slice(v);
            }
            p
        };
        assert!(err(TYPE_SERIES, &series(&[(b"b", b"1"), (b"a", b"1")]))
            .reason
            .contains("strictly increasing"));
        assert!(err(
            TYPE_SERIES,
            &series(&[(b"a", b""), (b"bb", b"xx"), (b"cc", b"yy")])
        )
        .reason
        .contains("empty value"));
        assert!(err(TYPE_SERIES, &series(&[(b"1a", b"x")]))
            .reason
            .contains("invalid labels"));
        assert!(err(TYPE_SERIES, &series(&[(b"a", b"\xff")]))
            .reason
            .contains("UTF-8"));
        // Valid labels without a metric name are accepted (the writer's limits decide).
        assert!(Record::decode(TYPE_SERIES, &series(&[(b"a", b"x")])).is_ok());
    }

    fn arb_labels() -> impl Strategy<Value = Labels> {
        let name = "[a-zA-Z_][a-zA-Z0-9_]{0,12}".prop_filter("reserved", |n| !n.starts_with("__"));
        let value = proptest::string::string_regex(".{1,20}").unwrap();
        (
            proptest::option::of("[a-zA-Z_:][a-zA-Z0-9_:]{0,20}"),
            proptest::collection::btree_map(name, value, 0..8),
        )
            .prop_map(|(metric, rest)| {
                let limits = LabelLimits {
                    require_metric_name: false,
                    ..LabelLimits::default()
                };
                let mut pairs: Vec<(String, String)> = rest.into_iter().collect();
                if let Some(m) = metric {
                    pairs.push(("__name__".into(), m));
                }
                Labels::with_limits(pairs, &limits).unwrap()
            })
    }

    fn arb_f64() -> impl Strategy<Value = f64> {
        prop_oneof![
            any::<u64>().prop_map(f64::from_bits),
            Just(f64::from_bits(0x7ff0_0000_0000_0002)),
            Just(f64::NAN),
            Just(-0.0),
            Just(f64::INFINITY),
            any::<f64>(),
        ]
    }

    fn arb_i64() -> impl Strategy<Value = i64> {
        prop_oneof![
            Just(i64::MIN),
            Just(i64::MAX),
            Just(0),
            any::<i64>(),
            (1_600_000_000_000i64..1_800_000_000_000),
        ]
    }

    pub(crate) fn arb_record() -> impl Strategy<Value = Record> {
        prop_oneof![
            (any::<u64>(), arb_labels())
                .prop_map(|(series_ref, labels)| Record::Series { series_ref, labels }),
            proptest::collection::vec(
                (any::<u64>(), arb_i64(), arb_f64()).prop_map(|(series_ref, t, v)| RefSample {
                    series_ref,
                    t,
                    v
                }),
                0..50
            )
            .prop_map(Record::Samples),
        ]
    }

    proptest! {
        #[test]
        fn any_record_round_trips(r in arb_record()) {
            prop_assert_eq!(round_trip(&r), r);
        }

        #[test]
        fn decoding_garbage_never_panics(typ in 0u8..5, bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            if let Ok(r) = Record::decode(typ, &bytes) {
                let mut again = Vec::new();
                r.encode_payload(&mut again).unwrap();
                prop_assert_eq!(again, bytes);
            }
        }
    }
}
