//! Which rows of a table version a query may return: deletes, and (later) filters.

use std::sync::OnceLock;

use nestdb_storage::TableVersion;
use roaring::RoaringBitmap;

/// The rows of one source (a segment or an unflushed chunk) a query may return.
#[derive(Clone, Debug)]
pub enum RowSet {
    /// Every live row (deleted rows are checked separately).
    All,
    /// Exactly these row offsets (already excluding deleted rows).
    Some(RoaringBitmap),
    /// No row.
    Nothing,
}

impl RowSet {
    /// Rows kept out of `live` live rows.
    pub fn count(&self, live: u64) -> u64 {
        match self {
            RowSet::All => live,
            RowSet::Some(b) => b.len(),
            RowSet::Nothing => 0,
        }
    }
}

/// Row sets of every source of a version: segments first, then unflushed chunks.
#[derive(Clone, Debug)]
pub struct Selection {
    /// One per segment, in version order.
    pub segments: Vec<RowSet>,
    /// One per unflushed chunk, in version order.
    pub mem: Vec<RowSet>,
    /// Per segment, the int8 codes of the selected rows gathered contiguously, filled by the
    /// first funnel that scans every selected row (filter selections are cached per version
    /// and filter, so later queries with the same filter scan them without gathering again).
    /// Empty for [`Selection::all`].
    pub gathered: Vec<OnceLock<Gathered>>,
}

/// The selected rows of one segment with their int8 codes back to back.
#[derive(Clone, Debug, Default)]
pub struct Gathered {
    /// Row offsets, ascending.
    pub offs: Vec<u32>,
    /// `offs.len() x coarse_dims` codes.
    pub codes: Vec<i8>,
}

impl Selection {
    /// A selection of `segments` and unflushed `mem` row sets.
    pub fn new(segments: Vec<RowSet>, mem: Vec<RowSet>) -> Selection {
        let gathered = (0..segments.len()).map(|_| OnceLock::new()).collect();
        Selection {
            segments,
            mem,
            gathered,
        }
    }

    /// Every live row of `v` (made per query, so without a gathered-codes cache).
    pub fn all(v: &TableVersion) -> Selection {
        Selection {
            segments: vec![RowSet::All; v.segments.len()],
            mem: vec![RowSet::All; v.mem.chunks().len()],
            gathered: Vec::new(),
        }
    }

    /// Whether row `off` of segment `pos` is selected.
    #[inline]
    pub fn keep_segment_row(&self, v: &TableVersion, pos: usize, off: u32) -> bool {
        match &self.segments[pos] {
            RowSet::All => !v.deletes[pos].contains(off),
            RowSet::Some(b) => b.contains(off),
            RowSet::Nothing => false,
        }
    }

    /// Whether row `off` of unflushed chunk `c` is selected.
    #[inline]
    pub fn keep_mem_row(&self, v: &TableVersion, c: usize, off: usize) -> bool {
        let chunk = &v.mem.chunks()[c];
        if v.mem.is_dead(chunk.rowids[off]) {
            return false;
        }
        match &self.mem[c] {
            RowSet::All => true,
            RowSet::Some(b) => b.contains(off as u32),
            RowSet::Nothing => false,
        }
    }

    /// Number of selected live rows.
    pub fn count(&self, v: &TableVersion) -> u64 {
        let seg: u64 = self
            .segments
            .iter()
            .zip(&v.segments)
            .zip(&v.deletes)
            .map(|((r, s), d)| r.count(s.rows() as u64 - d.len()))
            .sum();
        let mem: u64 = (0..v.mem.chunks().len())
            .map(|c| match &self.mem[c] {
                RowSet::All => v.mem.chunks()[c]
                    .rowids
                    .iter()
                    .filter(|r| !v.mem.is_dead(**r))
                    .count() as u64,
                RowSet::Some(b) => b.len(),
                RowSet::Nothing => 0,
            })
            .sum();
        seg + mem
    }
}
