//! Reads the on-disk index straight from a byte slice (typically an mmap).
//!
//! `open` checks the header, the table of contents and the CRC32 of every section (one
//! sequential pass, no allocation) and slices the sections; nothing else is decoded up
//! front. Lookups binary-search the fixed-width tables and deserialize only the postings
//! lists a query touches; scoped selectors read the scope bitsets in place. Every offset,
//! count and length read from the file is checked against the bytes that remain before it
//! is used, so corrupt input that happens to pass the checksums still yields an error or
//! a wrong answer, never a panic or an outsized allocation.

use std::borrow::Cow;
use std::cmp::Ordering;

use roaring::RoaringBitmap;
use tsdb_encoding::{check_crc, Cursor};

use super::{
    toc_len, HEADER, HEADER_LEN, NAME_RECORD_LEN, SCOPE_NAME_RECORD_LEN, SCOPE_RECORD_LEN,
    SCOPE_VALUE_RECORD_LEN, SECTIONS, SECTIONS_V1, TOC_ENTRY_LEN, VALUE_RECORD_LEN,
};
use crate::error::{Error, Result};
use crate::labels::{Labels, METRIC_NAME};
use crate::matcher::{MatchOp, Matcher};
use crate::query::{self, CardinalityStats, Source, Visit};
use crate::scope::{self, Bits, NameState, Scope};
use crate::SeriesId;

fn le_u32(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(4)?)?;
    let mut a = [0u8; 4];
    a.copy_from_slice(s);
    Some(u32::from_le_bytes(a))
}

fn le_u64(b: &[u8], at: usize) -> Option<u64> {
    let s = b.get(at..at.checked_add(8)?)?;
    let mut a = [0u8; 8];
    a.copy_from_slice(s);
    Some(u64::from_le_bytes(a))
}

/// `count`, `count + 1` u32 offsets, then items back to back.
#[derive(Clone, Copy, Debug)]
struct OffsetTable<'a> {
    count: u32,
    offsets: &'a [u8],
    data: &'a [u8],
    /// File offset of `data`.
    data_base: usize,
}

impl<'a> OffsetTable<'a> {
    fn parse(section: &'a [u8], base: usize, what: &'static str) -> Result<Self> {
        let mut c = Cursor::with_base(section, base);
        let count = c.u32_le(what)?;
        let n = (count as usize)
            .checked_add(1)
            .and_then(|n| n.checked_mul(4))
            .ok_or_else(|| Error::corrupt(base, format!("{what}: count overflows")))?;
        let offsets = c.bytes(n, what)?;
        let data_base = c.offset();
        let data = c.bytes(c.remaining(), what)?;
        Ok(Self {
            count,
            offsets,
            data,
            data_base,
        })
    }

    fn get(&self, i: u32, what: &'static str) -> Result<&'a [u8]> {
        let at = (i as usize).saturating_mul(4);
        let (Some(start), Some(end)) = (le_u32(self.offsets, at), le_u32(self.offsets, at + 4))
        else {
            return Err(Error::corrupt(
                self.data_base,
                format!("{what} {i} out of range"),
            ));
        };
        let (start, end) = (start as usize, end as usize);
        self.data.get(start..end).ok_or_else(|| {
            Error::corrupt(
                self.data_base.saturating_add(start.min(self.data.len())),
                format!("{what} {i}: bad offsets {start}..{end}"),
            )
        })
    }
}

/// A label-name record.
#[derive(Clone, Copy, Debug)]
struct NameRec {
    first_value: u32,
    value_count: u32,
    series_count: u32,
    postings_len: u32,
    postings_off: u64,
}

/// A label-value record.
#[derive(Clone, Copy, Debug)]
struct ValueRec {
    value_ref: u32,
    series_count: u32,
    postings_len: u32,
    postings_off: u64,
}

/// Fixed-width records after a u32 count.
#[derive(Clone, Copy, Debug)]
struct Records<'a> {
    count: u32,
    bytes: &'a [u8],
    /// File offset of the first record.
    base: usize,
    width: usize,
}

impl<'a> Records<'a> {
    /// Reads a count and that many records from `c`.
    fn take(c: &mut Cursor<'a>, width: usize, what: &'static str) -> Result<Self> {
        let at = c.offset();
        let count = c.u32_le(what)?;
        let n = (count as usize)
            .checked_mul(width)
            .ok_or_else(|| Error::corrupt(at, format!("{what}: count overflows")))?;
        let base = c.offset();
        let bytes = c.bytes(n, what)?;
        Ok(Self {
            count,
            bytes,
            base,
            width,
        })
    }

    /// A whole section of records; nothing may follow them.
    fn parse(section: &'a [u8], base: usize, width: usize, what: &'static str) -> Result<Self> {
        let mut c = Cursor::with_base(section, base);
        let r = Self::take(&mut c, width, what)?;
        if c.remaining() != 0 {
            return Err(Error::corrupt(
                c.offset(),
                format!("{what}: trailing bytes"),
            ));
        }
        Ok(r)
    }

    /// Record `i`, or an error naming it.
    fn record(&self, i: u32, what: &'static str) -> Result<&'a [u8]> {
        let at = (i as usize).checked_mul(self.width);
        at.and_then(|at| self.bytes.get(at..at.checked_add(self.width)?))
            .ok_or_else(|| {
                Error::corrupt(
                    self.base
                        .saturating_add((i as usize).saturating_mul(self.width)),
                    format!("{what} record {i} out of range"),
                )
            })
    }

    /// File offset of record `i`.
    fn at(&self, i: u32) -> usize {
        self.base
            .saturating_add((i as usize).saturating_mul(self.width))
    }

    /// Checks that `first..first + count` are records of this table.
    fn check_range(&self, first: u32, count: u32, at: usize, what: &'static str) -> Result<()> {
        if u64::from(first) + u64::from(count) > u64::from(self.count) {
            return Err(Error::corrupt(at, format!("{what}: range past its table")));
        }
        Ok(())
    }
}

/// The scopes section (version 2): scope, scope-name and scope-value records, then the
/// bitsets they point to.
#[derive(Clone, Copy, Debug)]
struct Scopes<'a> {
    scopes: Records<'a>,
    names: Records<'a>,
    values: Records<'a>,
    bits: &'a [u8],
    bits_base: usize,
}

impl<'a> Scopes<'a> {
    fn parse(section: &'a [u8], base: usize) -> Result<Self> {
        let mut c = Cursor::with_base(section, base);
        let scopes = Records::take(&mut c, SCOPE_RECORD_LEN, "scope")?;
        let names = Records::take(&mut c, SCOPE_NAME_RECORD_LEN, "scope name")?;
        let values = Records::take(&mut c, SCOPE_VALUE_RECORD_LEN, "scope value")?;
        let bits_base = c.offset();
        let bits = c.bytes(c.remaining(), "scope bitsets")?;
        Ok(Self {
            scopes,
            names,
            values,
            bits,
            bits_base,
        })
    }
}

/// A scope record.
#[derive(Clone, Copy, Debug)]
struct ScopeRec {
    first: u32,
    count: u32,
    first_name: u32,
    name_count: u32,
}

/// The immutable on-disk index, read in place from a byte slice.
///
/// ```
/// use tsdb_index::{DiskIndex, IndexWriter, Labels, Matcher};
/// let mut w = IndexWriter::new();
/// w.add(&Labels::new([("__name__", "up"), ("job", "api")])?)?;
/// let bytes = w.finish_to_vec()?;
/// let disk = DiskIndex::open(&bytes)?;
/// assert_eq!(disk.select(&[Matcher::equal("job", "api")])?.len(), 1);
/// # Ok::<(), tsdb_index::Error>(())
/// ```
#[derive(Clone, Copy, Debug)]
pub struct DiskIndex<'a> {
    symbols: OffsetTable<'a>,
    series: OffsetTable<'a>,
    names: Records<'a>,
    values: Records<'a>,
    postings: &'a [u8],
    postings_base: usize,
    /// `None` in version 1 files.
    scopes: Option<Scopes<'a>>,
}

impl<'a> DiskIndex<'a> {
    /// Checks the header, table of contents and section checksums of `data` and returns a
    /// reader over it. Corrupt or truncated input is an error, never a panic. Reads
    /// format versions 1 and 2.
    pub fn open(data: &'a [u8]) -> Result<DiskIndex<'a>> {
        let too_short =
            || Error::corrupt(0, format!("{} bytes is too short for an index", data.len()));
        if data.len() < HEADER_LEN {
            return Err(too_short());
        }
        let version = HEADER.read(&mut Cursor::new(data))?;
        // version 1 has no scopes section
        let n_sections = if version == 1 {
            SECTIONS_V1
        } else {
            SECTIONS.len()
        };
        let toc_at = data
            .len()
            .checked_sub(toc_len(n_sections))
            .filter(|&at| at >= HEADER_LEN)
            .ok_or_else(too_short)?;
        // the entries, without the table's own CRC
        let toc = check_crc(data.get(toc_at..).unwrap_or_default(), "table of contents")?;
        let mut sections: [(&'a [u8], usize); SECTIONS.len()] = [(&[], 0); SECTIONS.len()];
        for (i, (name, slot)) in SECTIONS
            .iter()
            .zip(sections.iter_mut())
            .take(n_sections)
            .enumerate()
        {
            let at = i * TOC_ENTRY_LEN;
            let off = le_u64(toc, at).unwrap_or(u64::MAX);
            let len = le_u64(toc, at + 8).unwrap_or(u64::MAX);
            let crc = le_u32(toc, at + 16).unwrap_or(0);
            let bytes = usize::try_from(off)
                .ok()
                .zip(usize::try_from(len).ok())
                .and_then(|(o, l)| Some((o, o.checked_add(l)?)))
                .filter(|&(o, e)| o >= HEADER_LEN && e <= toc_at)
                .and_then(|(o, e)| Some((data.get(o..e)?, o)));
            let Some((bytes, start)) = bytes else {
                return Err(Error::corrupt(
                    toc_at + at,
                    format!("{name} section {off}+{len} lies outside the file"),
                ));
            };
            let computed = crc32fast::hash(bytes);
            if computed != crc {
                return Err(Error::ChecksumMismatch {
                    section: name,
                    stored: crc,
                    computed,
                });
            }
            *slot = (bytes, start);
        }
        let [sym, ser, nam, val, pos, sco] = sections;
        Ok(DiskIndex {
            symbols: OffsetTable::parse(sym.0, sym.1, "symbol")?,
            series: OffsetTable::parse(ser.0, ser.1, "series")?,
            names: Records::parse(nam.0, nam.1, NAME_RECORD_LEN, "label name")?,
            values: Records::parse(val.0, val.1, VALUE_RECORD_LEN, "label value")?,
            postings: pos.0,
            postings_base: pos.1,
            scopes: if version == 1 {
                None
            } else {
                Some(Scopes::parse(sco.0, sco.1)?)
            },
        })
    }

    /// Number of series; ids are `0..num_series()`.
    pub fn num_series(&self) -> u32 {
        self.series.count
    }

    /// Number of series, as `usize`.
    pub fn len(&self) -> usize {
        self.series.count as usize
    }

    /// True if the index holds no series.
    pub fn is_empty(&self) -> bool {
        self.series.count == 0
    }

    /// The label set of series `id` (`None` if out of range).
    pub fn labels(&self, id: SeriesId) -> Result<Option<Labels>> {
        if id >= self.series.count {
            return Ok(None);
        }
        let entry = self.series.get(id, "series")?;
        let mut c = Cursor::with_base(entry, self.series.data_base);
        let n = c.uvarint("label count")?;
        // Each pair needs at least two bytes: clamp before allocating.
        let cap = usize::try_from(n)
            .unwrap_or(usize::MAX)
            .min(c.remaining() / 2);
        let mut pairs: Vec<(&str, &str)> = Vec::with_capacity(cap);
        for _ in 0..n {
            let at = c.offset();
            let name = self.symbol(c.uvarint32("label name ref")?)?;
            let value = self.symbol(c.uvarint32("label value ref")?)?;
            // `Labels` holds sorted, unique names and non-empty values; a file that
            // breaks that is corrupt, not a label set to hand out.
            if name.is_empty() || value.is_empty() || pairs.last().is_some_and(|p| p.0 >= name) {
                return Err(Error::corrupt(
                    at,
                    format!("series {id}: labels not sorted, repeated or empty"),
                ));
            }
            pairs.push((name, value));
        }
        Labels::from_sorted(pairs)
            .map(Some)
            .ok_or_else(|| Error::corrupt(self.series.data_base, "label string too long"))
    }

    /// Series ids selected by all `matchers`, with Prometheus semantics.
    pub fn select(&self, matchers: &[Matcher]) -> Result<RoaringBitmap> {
        query::select(self, matchers)
    }

    /// Label names, sorted; if `matchers` is not empty, only those of selected series.
    pub fn label_names(&self, matchers: &[Matcher]) -> Result<Vec<String>> {
        query::label_names(self, matchers)
    }

    /// Values of label `name`, sorted; if `matchers` is not empty, only those of selected
    /// series.
    pub fn label_values(&self, name: &str, matchers: &[Matcher]) -> Result<Vec<String>> {
        query::label_values(self, name, matchers)
    }

    /// Cardinality statistics with the top `top_n` entries per list, read from the
    /// recorded series counts without decoding postings.
    pub fn stats(&self, top_n: usize) -> Result<CardinalityStats> {
        query::stats(self, top_n)
    }

    fn symbol_bytes(&self, i: u32) -> Result<&'a [u8]> {
        if i >= self.symbols.count {
            return Err(Error::corrupt(
                self.symbols.data_base,
                format!("symbol ref {i} >= symbol count {}", self.symbols.count),
            ));
        }
        self.symbols.get(i, "symbol")
    }

    fn symbol(&self, i: u32) -> Result<&'a str> {
        let b = self.symbol_bytes(i)?;
        std::str::from_utf8(b)
            .map_err(|_| Error::corrupt(self.symbols.data_base, format!("symbol {i} is not UTF-8")))
    }

    /// First symbol id whose string is `>= s`, and whether it equals `s`.
    fn symbol_lower_bound(&self, s: &str) -> Result<(u32, bool)> {
        let (mut lo, mut hi) = (0u32, self.symbols.count);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match self.symbol_bytes(mid)?.cmp(s.as_bytes()) {
                Ordering::Less => lo = mid + 1,
                Ordering::Equal => return Ok((mid, true)),
                Ordering::Greater => hi = mid,
            }
        }
        Ok((lo, false))
    }

    fn find_symbol(&self, s: &str) -> Result<Option<u32>> {
        Ok(match self.symbol_lower_bound(s)? {
            (i, true) => Some(i),
            _ => None,
        })
    }

    fn name_record(&self, i: u32) -> Result<(u32, NameRec)> {
        let r = self.names.record(i, "label name")?;
        let f = |at| le_u32(r, at).unwrap_or(0);
        let rec = NameRec {
            first_value: f(4),
            value_count: f(8),
            series_count: f(12),
            postings_len: f(16),
            postings_off: le_u64(r, 20).unwrap_or(u64::MAX),
        };
        self.values.check_range(
            rec.first_value,
            rec.value_count,
            self.names.at(i),
            "label name values",
        )?;
        Ok((f(0), rec))
    }

    fn find_name(&self, name: &str) -> Result<Option<NameRec>> {
        let Some(sym) = self.find_symbol(name)? else {
            return Ok(None);
        };
        let (mut lo, mut hi) = (0u32, self.names.count);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let (r, rec) = self.name_record(mid)?;
            match r.cmp(&sym) {
                Ordering::Less => lo = mid + 1,
                Ordering::Equal => return Ok(Some(rec)),
                Ordering::Greater => hi = mid,
            }
        }
        Ok(None)
    }

    fn value_record(&self, j: u32) -> Result<ValueRec> {
        let r = self.values.record(j, "label value")?;
        let f = |at| le_u32(r, at).unwrap_or(0);
        Ok(ValueRec {
            value_ref: f(0),
            series_count: f(4),
            postings_len: f(8),
            postings_off: le_u64(r, 12).unwrap_or(u64::MAX),
        })
    }

    /// First value record index of `rec` whose value ref is `>= sym`, and whether equal.
    /// `rec`'s range was checked against the value table by `name_record`.
    fn value_lower_bound(&self, rec: &NameRec, sym: u32) -> Result<(u32, bool)> {
        let (mut lo, mut hi) = (
            rec.first_value,
            rec.first_value.saturating_add(rec.value_count),
        );
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match self.value_record(mid)?.value_ref.cmp(&sym) {
                Ordering::Less => lo = mid + 1,
                Ordering::Equal => return Ok((mid, true)),
                Ordering::Greater => hi = mid,
            }
        }
        Ok((lo, false))
    }

    fn find_value(&self, name: &str, value: &str) -> Result<Option<ValueRec>> {
        let Some(rec) = self.find_name(name)? else {
            return Ok(None);
        };
        let Some(sym) = self.find_symbol(value)? else {
            return Ok(None);
        };
        match self.value_lower_bound(&rec, sym)? {
            (j, true) => self.value_record(j).map(Some),
            _ => Ok(None),
        }
    }

    /// Deserializes one postings list, checking it against what the records promise.
    fn postings_at(&self, off: u64, len: u32, count: u32) -> Result<RoaringBitmap> {
        let at = usize::try_from(off).unwrap_or(usize::MAX);
        let file_at = self.postings_base.saturating_add(at);
        let bytes = at
            .checked_add(len as usize)
            .and_then(|end| self.postings.get(at..end))
            .ok_or_else(|| Error::corrupt(file_at, "postings list outside the postings section"))?;
        let bad = |reason: String| Error::corrupt(file_at, reason);
        // The roaring header's container count must fit the bytes (4 bytes per container
        // description at least), so roaring never allocates for containers that are not
        // there.
        let cookie = le_u32(bytes, 0).ok_or_else(|| bad("postings list truncated".into()))?;
        let containers = if cookie == 12346 {
            le_u32(bytes, 4).ok_or_else(|| bad("postings list truncated".into()))? as usize
        } else if cookie & 0xFFFF == 12347 {
            (cookie >> 16) as usize + 1
        } else {
            return Err(bad(format!("bad roaring cookie {cookie:#x}")));
        };
        if containers.saturating_mul(4) > bytes.len() {
            return Err(bad(format!("{containers} containers in {len} bytes")));
        }
        let mut reader = bytes;
        let bm = RoaringBitmap::deserialize_from(&mut reader)
            .map_err(|e| bad(format!("invalid roaring bitmap: {e}")))?;
        if !reader.is_empty() {
            return Err(bad(format!(
                "{} trailing bytes after postings",
                reader.len()
            )));
        }
        if bm.len() != u64::from(count) {
            return Err(bad(format!(
                "postings hold {} series, record says {count}",
                bm.len()
            )));
        }
        if bm.max().is_some_and(|m| m >= self.series.count) {
            return Err(bad("postings refer to a series id past the end".into()));
        }
        Ok(bm)
    }

    /// Calls `f(record)` for the values of `rec` starting at record `j`, until it returns
    /// false.
    fn value_records_from(
        &self,
        rec: &NameRec,
        j: u32,
        f: &mut dyn FnMut(ValueRec) -> Result<bool>,
    ) -> Result<()> {
        for k in j..rec.first_value.saturating_add(rec.value_count) {
            if !f(self.value_record(k)?)? {
                break;
            }
        }
        Ok(())
    }

    /// The scope of metric `metric`, if the file has one.
    fn scope<'i>(&'i self, metric: &'i str) -> Result<Option<DiskScope<'i, 'a>>> {
        let Some(scopes) = &self.scopes else {
            return Ok(None);
        };
        if scopes.scopes.count == 0 {
            return Ok(None);
        }
        let Some(sym) = self.find_symbol(metric)? else {
            return Ok(None);
        };
        let (mut lo, mut hi) = (0u32, scopes.scopes.count);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let r = scopes.scopes.record(mid, "scope")?;
            let f = |at| le_u32(r, at).unwrap_or(0);
            match f(0).cmp(&sym) {
                Ordering::Less => lo = mid + 1,
                Ordering::Greater => hi = mid,
                Ordering::Equal => {
                    let rec = ScopeRec {
                        first: f(4),
                        count: f(8),
                        first_name: f(12),
                        name_count: f(16),
                    };
                    let at = scopes.scopes.at(mid);
                    if u64::from(rec.first) + u64::from(rec.count) > u64::from(self.series.count) {
                        return Err(Error::corrupt(at, "scope: series past the end"));
                    }
                    scopes
                        .names
                        .check_range(rec.first_name, rec.name_count, at, "scope names")?;
                    return Ok(Some(DiskScope {
                        idx: self,
                        scopes: *scopes,
                        metric,
                        rec,
                    }));
                }
            }
        }
        Ok(None)
    }
}

/// One metric's scope in the file: its series are `first..first + count`.
struct DiskScope<'i, 'a> {
    idx: &'i DiskIndex<'a>,
    scopes: Scopes<'a>,
    metric: &'i str,
    rec: ScopeRec,
}

/// A scoped name's value records.
#[derive(Clone, Copy)]
struct ScopeValues {
    first: u32,
    count: u32,
}

impl Scope for DiskScope<'_, '_> {
    type Name = ScopeValues;

    fn positions(&self) -> usize {
        self.rec.count as usize
    }

    fn metric(&self) -> &str {
        self.metric
    }

    fn live(&self) -> Bits<'_> {
        Bits::Ones(self.rec.count as usize)
    }

    fn name(&self, name: &str) -> Result<NameState<ScopeValues>> {
        let Some(sym) = self.idx.find_symbol(name)? else {
            return Ok(NameState::Absent);
        };
        let names = &self.scopes.names;
        let (mut lo, mut hi) = (
            self.rec.first_name,
            self.rec.first_name.saturating_add(self.rec.name_count),
        );
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let r = names.record(mid, "scope name")?;
            let f = |at| le_u32(r, at).unwrap_or(0);
            match f(0).cmp(&sym) {
                Ordering::Less => lo = mid + 1,
                Ordering::Greater => hi = mid,
                Ordering::Equal => {
                    return Ok(match f(4) {
                        0 => NameState::Unscoped,
                        1 => {
                            let v = ScopeValues {
                                first: f(8),
                                count: f(12),
                            };
                            self.scopes.values.check_range(
                                v.first,
                                v.count,
                                names.at(mid),
                                "scope values",
                            )?;
                            NameState::Scoped(v)
                        }
                        flags => {
                            return Err(Error::Unsupported {
                                what: "scope name flags",
                                found: u64::from(flags),
                            })
                        }
                    });
                }
            }
        }
        Ok(NameState::Absent)
    }

    fn values(&self, name: ScopeValues) -> Result<Vec<(&str, Bits<'_>)>> {
        let words = (self.rec.count as usize).div_ceil(64);
        let len = words.saturating_mul(8);
        let mut out = Vec::with_capacity((name.count as usize).min(crate::scope::SCOPE_MAX_VALUES));
        for j in name.first..name.first.saturating_add(name.count) {
            let r = self.scopes.values.record(j, "scope value")?;
            let value = self.idx.symbol(le_u32(r, 0).unwrap_or(u32::MAX))?;
            let off = le_u64(r, 4).unwrap_or(u64::MAX);
            let bits = usize::try_from(off)
                .ok()
                .and_then(|o| self.scopes.bits.get(o..o.checked_add(len)?))
                .ok_or_else(|| {
                    Error::corrupt(self.scopes.values.at(j), "scope bitset outside the section")
                })?;
            out.push((value, Bits::Bytes(bits)));
        }
        Ok(out)
    }

    fn to_public(&self, selected: &[u64]) -> Result<RoaringBitmap> {
        let first = self.rec.first;
        let n_bytes = (self.rec.count as usize).div_ceil(8);
        if u64::from(first) + 8 * n_bytes as u64 <= 1 << 32 {
            let mut bytes = Vec::with_capacity(selected.len() * 8);
            for w in selected {
                bytes.extend_from_slice(&w.to_le_bytes());
            }
            bytes.truncate(n_bytes);
            return Ok(RoaringBitmap::from_lsb0_bytes(first, &bytes));
        }
        // Only near 2^32 series: map position by position.
        let mut ids = Vec::new();
        scope::for_each_set(selected, |i| {
            // a position past u32 saturates, and `from_sorted` refuses the repeat
            ids.push(u32::try_from(i).map_or(u32::MAX, |i| first.saturating_add(i)));
        });
        crate::postings::from_sorted(&ids)
            .ok_or_else(|| Error::corrupt(self.scopes.bits_base, "scope positions overflow"))
    }
}

impl Source for DiskIndex<'_> {
    fn num_series(&self) -> u32 {
        self.series.count
    }

    fn postings_in_memory(&self) -> bool {
        false
    }

    fn label_names(&self) -> Result<Vec<String>> {
        let mut out = Vec::with_capacity(self.names.count as usize);
        for i in 0..self.names.count {
            let (r, _) = self.name_record(i)?;
            out.push(self.symbol(r)?.to_owned());
        }
        Ok(out)
    }

    fn name_postings(&self, name: &str) -> Result<Cow<'_, RoaringBitmap>> {
        Ok(Cow::Owned(match self.find_name(name)? {
            Some(r) => self.postings_at(r.postings_off, r.postings_len, r.series_count)?,
            None => RoaringBitmap::new(),
        }))
    }

    fn name_series_count(&self, name: &str) -> Result<u64> {
        Ok(self
            .find_name(name)?
            .map_or(0, |r| u64::from(r.series_count)))
    }

    fn name_value_count(&self, name: &str) -> Result<u64> {
        Ok(self
            .find_name(name)?
            .map_or(0, |r| u64::from(r.value_count)))
    }

    fn postings(&self, name: &str, value: &str) -> Result<Option<Cow<'_, RoaringBitmap>>> {
        match self.find_value(name, value)? {
            Some(v) => Ok(Some(Cow::Owned(self.postings_at(
                v.postings_off,
                v.postings_len,
                v.series_count,
            )?))),
            None => Ok(None),
        }
    }

    fn postings_count(&self, name: &str, value: &str) -> Result<u64> {
        Ok(self
            .find_value(name, value)?
            .map_or(0, |v| u64::from(v.series_count)))
    }

    fn union_values(
        &self,
        name: &str,
        from: &str,
        visit: &mut dyn FnMut(&str) -> Visit,
    ) -> Result<RoaringBitmap> {
        let mut acc = RoaringBitmap::new();
        let Some(rec) = self.find_name(name)? else {
            return Ok(acc);
        };
        let (sym, _) = self.symbol_lower_bound(from)?;
        let (j, _) = self.value_lower_bound(&rec, sym)?;
        self.value_records_from(&rec, j, &mut |v| {
            match visit(self.symbol(v.value_ref)?) {
                Visit::Take => {
                    acc |= self.postings_at(v.postings_off, v.postings_len, v.series_count)?
                }
                Visit::Skip => {}
                Visit::Stop => return Ok(false),
            }
            Ok(true)
        })?;
        Ok(acc)
    }

    fn for_each_value(&self, name: &str, f: &mut dyn FnMut(&str, u64)) -> Result<()> {
        let Some(rec) = self.find_name(name)? else {
            return Ok(());
        };
        self.value_records_from(&rec, rec.first_value, &mut |v| {
            f(self.symbol(v.value_ref)?, u64::from(v.series_count));
            Ok(true)
        })
    }

    fn with_series_value(
        &self,
        id: u32,
        name: &str,
        f: &mut dyn FnMut(Option<&str>),
    ) -> Result<()> {
        if id >= self.series.count {
            f(None);
            return Ok(());
        }
        let entry = self.series.get(id, "series")?;
        let mut c = Cursor::with_base(entry, self.series.data_base);
        let n = c.uvarint("label count")?;
        for _ in 0..n {
            let nref = c.uvarint32("label name ref")?;
            let vref = c.uvarint32("label value ref")?;
            match self.symbol_bytes(nref)?.cmp(name.as_bytes()) {
                Ordering::Less => continue,
                Ordering::Equal => {
                    f(Some(self.symbol(vref)?));
                    return Ok(());
                }
                Ordering::Greater => break,
            }
        }
        f(None);
        Ok(())
    }

    fn scoped_select(&self, matchers: &[Matcher]) -> Result<Option<RoaringBitmap>> {
        let metric = matchers
            .iter()
            .find(|m| m.name() == METRIC_NAME && m.op() == MatchOp::Equal && !m.value().is_empty());
        let Some(metric) = metric else {
            return Ok(None);
        };
        match self.scope(metric.value())? {
            Some(scope) => scope::select(&scope, matchers),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::disk::write::IndexWriter;

    /// 1,200 series of `up` (a scope) and 10 of `down` (too few for one).
    fn sample() -> Vec<u8> {
        let mut series: Vec<Labels> = (0..1200)
            .map(|i| {
                let (job, i) = (format!("j{}", i % 7), i.to_string());
                Labels::new([("__name__", "up"), ("job", job.as_str()), ("i", i.as_str())])
            })
            .chain((0..10).map(|i| Labels::new([("__name__", "down"), ("job", &format!("j{i}"))])))
            .collect::<Result<_>>()
            .unwrap();
        series.sort();
        let mut w = IndexWriter::new();
        for l in &series {
            w.add(l).unwrap();
        }
        w.finish_to_vec().unwrap()
    }

    #[test]
    fn selectors_naming_a_scoped_metric_are_answered_from_its_scope() {
        let bytes = sample();
        let idx = DiskIndex::open(&bytes).unwrap();
        assert_eq!(idx.scopes.map(|s| s.scopes.count), Some(1));
        let up = Matcher::equal("__name__", "up");
        let job = Matcher::regex("job", "j1|j3").unwrap();
        let scoped = idx.scoped_select(&[up.clone(), job.clone()]).unwrap();
        assert_eq!(scoped.as_ref().map(RoaringBitmap::len), Some(343));
        let plain = query::select(
            &idx,
            &[job.clone(), Matcher::regex("__name__", "up").unwrap()],
        );
        assert_eq!(scoped, plain.ok());
        // `i` has 1,200 values: not scoped, so the postings answer.
        let i = Matcher::equal("i", "7");
        assert!(idx.scoped_select(&[up, i]).unwrap().is_none());
        let down = Matcher::equal("__name__", "down");
        assert!(idx.scoped_select(&[down, job]).unwrap().is_none());
    }
}
