//! Which rows of a table version a query may return: the filter's matches minus deleted rows.

use nestdb_storage::TableVersion;

use super::bits::Bits;

/// The rows of one source (a segment or an unflushed chunk) a query may return.
#[derive(Clone, Debug)]
pub enum RowSet {
    /// Every live row (deleted rows are checked separately).
    All,
    /// Exactly these row offsets (already excluding deleted rows).
    Some(Bits),
    /// No row.
    Nothing,
}

impl RowSet {
    /// Rows kept out of `live` live rows.
    pub fn count(&self, live: u64) -> u64 {
        match self {
            RowSet::All => live,
            RowSet::Some(b) => b.count(),
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
}

impl Selection {
    /// A selection of `segments` and unflushed `mem` row sets.
    pub fn new(segments: Vec<RowSet>, mem: Vec<RowSet>) -> Selection {
        Selection { segments, mem }
    }

    /// Every live row of `v`.
    pub fn all(v: &TableVersion) -> Selection {
        Selection {
            segments: vec![RowSet::All; v.segments.len()],
            mem: vec![RowSet::All; v.mem.chunks().len()],
        }
    }

    /// Whether the selection keeps every live row.
    pub fn is_all(&self) -> bool {
        self.segments
            .iter()
            .chain(&self.mem)
            .all(|r| matches!(r, RowSet::All))
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
                RowSet::Some(b) => b.count(),
                RowSet::Nothing => 0,
            })
            .sum();
        seg + mem
    }
}
