//! Reading a segment's label dictionary of a PATH column (built by `encode::labels`): labels in
//! pre-order, so a subtree is one contiguous id range; postings grouping row offsets by label;
//! and each row's ordinal.

use std::cmp::Ordering;
use std::ops::Range;

use nestdb_storage::container::{cast_slice, Container};
use nestdb_storage::sections::{self, label_tag};
use nestdb_storage::StorageError;

pub use crate::encode::labels::preorder_cmp;

/// A segment's label dictionary for one PATH column, read in place from the sidecar.
#[derive(Clone, Copy)]
pub struct LabelIndex<'a> {
    bytes: &'a [u8],
    offs: &'a [u32],
    starts: &'a [u32],
    postings: &'a [u32],
}

impl<'a> LabelIndex<'a> {
    /// The dictionary of column `col` in `sidecar` (verified), if the segment has one.
    pub fn open(
        sidecar: &'a Container,
        col: usize,
    ) -> Result<Option<LabelIndex<'a>>, StorageError> {
        let sec = |k| sidecar.section(label_tag(col, k));
        let (Some(bytes), Some(offs), Some(starts), Some(postings)) = (
            sec(sections::LABEL_BYTES)?,
            sec(sections::LABEL_STARTS)?,
            sec(sections::LABEL_POSTINGS_STARTS)?,
            sec(sections::LABEL_POSTINGS)?,
        ) else {
            return Ok(None);
        };
        let offs: &[u32] = cast_slice(offs);
        let starts: &[u32] = cast_slice(starts);
        let postings: &[u32] = cast_slice(postings);
        // O(1) checks only (this runs per query): the section is checksummed, and the
        // accessors below return empty slices rather than panic on inconsistent offsets
        let n = offs.len().checked_sub(1);
        let sane = n.is_some_and(|n| starts.len() == n + 1)
            && offs.last().is_some_and(|&e| e as usize == bytes.len())
            && starts.last().is_some_and(|&e| e as usize == postings.len());
        if !sane {
            return Err(StorageError::corrupt(
                sidecar.path().display().to_string(),
                format!("label dictionary of column {col} is inconsistent"),
            ));
        }
        Ok(Some(LabelIndex {
            bytes,
            offs,
            starts,
            postings,
        }))
    }

    /// Number of labels (ancestors included).
    pub fn len(&self) -> usize {
        self.offs.len() - 1
    }

    /// Label `i`'s bytes.
    pub fn label(&self, i: usize) -> &'a [u8] {
        self.bytes
            .get(self.offs[i] as usize..self.offs[i + 1] as usize)
            .unwrap_or_default()
    }

    fn lower_bound(&self, key: &[u8], strict_prefix: bool) -> usize {
        let (mut lo, mut hi) = (0, self.len());
        while lo < hi {
            let mid = (lo + hi) / 2;
            let l = self.label(mid);
            let less = if strict_prefix {
                // is `l` before every label that is not in `key`'s subtree after it?
                preorder_cmp(l, key) == Ordering::Less || is_descendant(l, key)
            } else {
                preorder_cmp(l, key) == Ordering::Less
            };
            if less {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }

    /// Label ids of the subtree rooted at `label` (itself included); empty if absent.
    pub fn subtree(&self, label: &str) -> Range<usize> {
        let k = label.as_bytes();
        let lo = self.lower_bound(k, false);
        if lo >= self.len() || self.label(lo) != k {
            return lo..lo;
        }
        // max: a corrupt (unsorted) dictionary must not yield a reversed range
        lo..self.lower_bound(k, true).max(lo)
    }

    /// The id of exactly `label`, if present.
    pub fn find(&self, label: &str) -> Option<usize> {
        let r = self.subtree(label);
        (!r.is_empty()).then_some(r.start)
    }

    /// Row offsets of the labels in `ids` (a contiguous id range).
    pub fn rows(&self, ids: Range<usize>) -> &'a [u32] {
        self.postings
            .get(self.starts[ids.start] as usize..self.starts[ids.end] as usize)
            .unwrap_or_default()
    }
}

fn is_descendant(l: &[u8], root: &[u8]) -> bool {
    l.len() >= root.len() && l.starts_with(root) && (l.len() == root.len() || l[root.len()] == b'/')
}
