//! Which rows of a segment a query may return, as the funnel's stages see them.

use std::sync::OnceLock;

use roaring::RoaringBitmap;

use crate::filter::RowSet;

/// The selected rows of one segment with their int8 codes back to back: a filtered funnel
/// scans these instead of gathering them again (cached with the filter's selection).
#[derive(Clone, Debug, Default)]
pub struct Gathered {
    /// Row offsets, ascending.
    pub offs: Vec<u32>,
    /// `offs.len() x coarse_dims` codes.
    pub codes: Vec<i8>,
}

/// Per segment, the selected rows' codes gathered by the first funnel that needs them.
#[derive(Debug, Default)]
pub struct GatherCache {
    /// One cell per segment of the version the selection belongs to.
    pub segments: Vec<OnceLock<Gathered>>,
}

impl GatherCache {
    /// Empty cells for `segments` segments.
    pub fn new(segments: usize) -> GatherCache {
        GatherCache {
            segments: (0..segments).map(|_| OnceLock::new()).collect(),
        }
    }
}

/// The rows of one segment a query may return.
#[derive(Clone, Copy)]
pub struct ViewRows<'a> {
    /// The selection of the segment.
    pub set: &'a RowSet,
    /// Deleted rows (checked when `set` is [`RowSet::All`]).
    pub deleted: &'a RoaringBitmap,
    /// The selection's cache of the selected rows' codes.
    pub gathered: Option<&'a OnceLock<Gathered>>,
}

impl ViewRows<'_> {
    /// Selected rows in `a..b`.
    pub fn count(&self, a: u32, b: u32) -> u64 {
        match self.set {
            RowSet::All => (b - a) as u64 - self.deleted.range_cardinality(a..b),
            RowSet::Some(bm) => bm.count_range(a, b),
            RowSet::Nothing => 0,
        }
    }

    /// Whether every row is selected (no filter, no deletes).
    #[inline]
    pub fn is_all(&self) -> bool {
        matches!(self.set, RowSet::All) && self.deleted.is_empty()
    }

    /// Calls `f` for each selected row in `a..b`.
    #[inline]
    pub fn for_each(&self, a: u32, b: u32, f: impl FnMut(u32)) {
        match self.set {
            RowSet::All if self.deleted.is_empty() => (a..b).for_each(f),
            RowSet::All => (a..b).filter(|o| !self.deleted.contains(*o)).for_each(f),
            RowSet::Some(bm) => bm.for_each_in(a, b, f),
            RowSet::Nothing => {}
        }
    }
}
