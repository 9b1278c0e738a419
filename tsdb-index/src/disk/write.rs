//! Encodes an in-memory index into the on-disk format.

use roaring::RoaringBitmap;

use super::{HEADER_LEN, MAGIC, VERSION};
use crate::cursor::put_uvarint;
use crate::error::{Error, Result};
use crate::mem::Inner;

fn to_u32(v: usize, what: &'static str) -> Result<u32> {
    u32::try_from(v).map_err(|_| Error::CapacityExceeded { what })
}

/// Appends `bm` run-optimised in the portable roaring format; returns (offset, length).
fn put_postings(out: &mut Vec<u8>, bm: &RoaringBitmap) -> Result<(u64, u32)> {
    let off = out.len() as u64;
    let mut b = bm.clone();
    b.optimize();
    b.serialize_into(&mut *out)?;
    let len = to_u32(out.len() - off as usize, "postings list over 4 GiB")?;
    Ok((off, len))
}

/// Accumulates strings or entries back to back with their end offsets.
#[derive(Default)]
struct OffsetTable {
    ends: Vec<u32>,
    data: Vec<u8>,
}

impl OffsetTable {
    /// Marks the end of the current item.
    fn finish_item(&mut self, what: &'static str) -> Result<()> {
        self.ends.push(to_u32(self.data.len(), what)?);
        Ok(())
    }

    /// Writes `count u32`, `count + 1` u32 offsets (starting at 0) and the data.
    fn put(&self, out: &mut Vec<u8>, what: &'static str) -> Result<()> {
        out.reserve(8 + self.ends.len() * 4 + self.data.len());
        out.extend_from_slice(&to_u32(self.ends.len(), what)?.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        for e in &self.ends {
            out.extend_from_slice(&e.to_le_bytes());
        }
        out.extend_from_slice(&self.data);
        Ok(())
    }
}

/// Encodes `idx` (see FORMAT.md) and appends it to `out`.
pub(crate) fn write(idx: &Inner, out: &mut Vec<u8>) -> Result<()> {
    let start = out.len();
    // Symbols, sorted by bytes; `remap[old id] = new id`.
    let mut order: Vec<u32> = (0..to_u32(idx.symbols.len(), "symbol count")?).collect();
    order.sort_unstable_by(|&a, &b| idx.symbols[a as usize].cmp(&idx.symbols[b as usize]));
    let mut remap = vec![0u32; order.len()];
    for (new, &old) in order.iter().enumerate() {
        remap[old as usize] = new as u32;
    }
    let mut symbols = Vec::new();
    {
        let mut t = OffsetTable::default();
        for &o in &order {
            t.data.extend_from_slice(idx.symbols[o as usize].as_bytes());
            t.finish_item("symbols section over 4 GiB")?;
        }
        t.put(&mut symbols, "symbols section over 4 GiB")?;
    }

    // Series: varint pair count, then (name ref, value ref) varints, sorted by name.
    let mut series = Vec::new();
    {
        let mut t = OffsetTable::default();
        t.ends.reserve(idx.offsets.len());
        for w in idx.offsets.windows(2) {
            let pairs = idx.arena.get(w[0] as usize..w[1] as usize).unwrap_or(&[]);
            put_uvarint(&mut t.data, (pairs.len() / 2) as u64);
            for &s in pairs {
                put_uvarint(&mut t.data, u64::from(remap[s as usize]));
            }
            t.finish_item("series section over 4 GiB")?;
        }
        t.put(&mut series, "series section over 4 GiB")?;
    }

    // Label names, their values, and the postings both point into.
    let sym_of = |s: &str| -> Result<u32> {
        idx.symbol_ids
            .get(s)
            .map(|&old| remap[old as usize])
            .ok_or_else(|| Error::corrupt(0, "in-memory index: string missing from symbol table"))
    };
    let mut names = Vec::new();
    let mut values = Vec::new();
    let mut postings = Vec::new();
    let mut value_count_total = 0u32;
    names.extend_from_slice(&to_u32(idx.postings.len(), "label names")?.to_le_bytes());
    values.extend_from_slice(&[0u8; 4]); // patched below
    for (name, np) in &idx.postings {
        let (off, len) = put_postings(&mut postings, &np.all)?;
        names.extend_from_slice(&sym_of(name)?.to_le_bytes());
        names.extend_from_slice(&value_count_total.to_le_bytes());
        names.extend_from_slice(&to_u32(np.values.len(), "label values")?.to_le_bytes());
        names.extend_from_slice(&to_u32(np.all.len() as usize, "series count")?.to_le_bytes());
        names.extend_from_slice(&len.to_le_bytes());
        names.extend_from_slice(&off.to_le_bytes());
        for (value, bm) in &np.values {
            let (off, len) = put_postings(&mut postings, bm)?;
            values.extend_from_slice(&sym_of(value)?.to_le_bytes());
            values.extend_from_slice(&to_u32(bm.len() as usize, "series count")?.to_le_bytes());
            values.extend_from_slice(&len.to_le_bytes());
            values.extend_from_slice(&off.to_le_bytes());
        }
        value_count_total = value_count_total
            .checked_add(to_u32(np.values.len(), "label values")?)
            .ok_or(Error::CapacityExceeded {
                what: "label values",
            })?;
    }
    values[..4].copy_from_slice(&value_count_total.to_le_bytes());

    out.extend_from_slice(&MAGIC);
    out.push(VERSION);
    out.extend_from_slice(&[0, 0, 0]);
    debug_assert_eq!(out.len() - start, HEADER_LEN);
    let mut toc = Vec::with_capacity(super::TOC_LEN);
    for section in [&symbols, &series, &names, &values, &postings] {
        let off = (out.len() - start) as u64;
        out.extend_from_slice(section);
        toc.extend_from_slice(&off.to_le_bytes());
        toc.extend_from_slice(&(section.len() as u64).to_le_bytes());
        toc.extend_from_slice(&crc32fast::hash(section).to_le_bytes());
    }
    let toc_crc = crc32fast::hash(&toc);
    toc.extend_from_slice(&toc_crc.to_le_bytes());
    out.extend_from_slice(&toc);
    Ok(())
}
