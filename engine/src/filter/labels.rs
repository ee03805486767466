//! Per-segment label dictionaries of PATH columns, numbered in pre-order.
//!
//! The dictionary holds every label of the segment and all their ancestors, sorted so that a
//! parent comes right before its descendants: labels compare segment by segment, which is
//! byte order with `/` mapped below every other character. A subtree is then one contiguous
//! range of label ids, and the postings (row offsets grouped by label id) of a subtree are one
//! contiguous slice.
//!
//! Sections of PATH column `c` (tag `LABELS_BASE + 4c + i`):
//! 0: the labels' bytes, concatenated in pre-order; 1: `u32` start of each label in those
//! bytes (labels + 1); 2: `u32` start of each label's postings (labels + 1); 3: `u32` row
//! offsets, grouped by label id, ascending within a label.

use std::cmp::Ordering;
use std::collections::BTreeSet;
use std::ops::Range;

use arrow_array::cast::AsArray;
use arrow_array::{Array, RecordBatch};
use nestdb_storage::container::{as_bytes, cast_slice, Container};
use nestdb_storage::sections::LABELS_BASE;

fn tag(col: usize, i: u32) -> u32 {
    LABELS_BASE + 4 * col as u32 + i
}

/// Compares labels in pre-order (segment by segment).
pub fn preorder_cmp(a: &[u8], b: &[u8]) -> Ordering {
    let key = |c: u8| if c == b'/' { 0 } else { c };
    a.iter().map(|&c| key(c)).cmp(b.iter().map(|&c| key(c)))
}

/// Builds the sections of PATH column `col` for `batch` stored in `order` (new -> old row).
pub fn sections(batch: &RecordBatch, col: usize, order: Option<&[u32]>) -> Vec<(u32, Vec<u8>)> {
    let s = batch.column(col).as_string::<i32>();
    let n = s.len();
    let old = |p: usize| order.map_or(p, |o| o[p] as usize);
    let mut set: BTreeSet<Key> = BTreeSet::new();
    for p in 0..n {
        if s.is_valid(old(p)) {
            let l = s.value(old(p));
            let mut end = l.len();
            set.insert(Key(l.to_string()));
            while let Some(i) = l[..end].rfind('/') {
                set.insert(Key(l[..i].to_string()));
                end = i;
            }
        }
    }
    let labels: Vec<String> = set.into_iter().map(|k| k.0).collect();
    let mut bytes = Vec::new();
    let mut offs = vec![0u32];
    for l in &labels {
        bytes.extend_from_slice(l.as_bytes());
        offs.push(bytes.len() as u32);
    }
    let mut rows: Vec<(u32, u32)> = (0..n)
        .filter(|&p| s.is_valid(old(p)))
        .map(|p| {
            let id = labels
                .binary_search_by(|x| preorder_cmp(x.as_bytes(), s.value(old(p)).as_bytes()))
                .expect("every label is in the dictionary");
            (id as u32, p as u32)
        })
        .collect();
    rows.sort_unstable();
    let mut starts = vec![0u32; labels.len() + 1];
    for &(id, _) in &rows {
        starts[id as usize + 1] += 1;
    }
    for i in 0..labels.len() {
        starts[i + 1] += starts[i];
    }
    let postings: Vec<u32> = rows.iter().map(|r| r.1).collect();
    vec![
        (tag(col, 0), bytes),
        (tag(col, 1), as_bytes(&offs).to_vec()),
        (tag(col, 2), as_bytes(&starts).to_vec()),
        (tag(col, 3), as_bytes(&postings).to_vec()),
    ]
}

#[derive(PartialEq, Eq)]
struct Key(String);

impl Ord for Key {
    fn cmp(&self, o: &Self) -> Ordering {
        preorder_cmp(self.0.as_bytes(), o.0.as_bytes())
    }
}

impl PartialOrd for Key {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}

/// A segment's label dictionary for one PATH column, read in place from the sidecar.
pub struct LabelIndex<'a> {
    bytes: &'a [u8],
    offs: &'a [u32],
    starts: &'a [u32],
    postings: &'a [u32],
}

impl<'a> LabelIndex<'a> {
    /// The dictionary of column `col` in `sidecar`, if the segment has one.
    pub fn open(sidecar: &'a Container, col: usize) -> Option<LabelIndex<'a>> {
        let bytes = sidecar.section(tag(col, 0))?;
        let offs: &[u32] = cast_slice(sidecar.section(tag(col, 1))?);
        let starts: &[u32] = cast_slice(sidecar.section(tag(col, 2))?);
        let postings: &[u32] = cast_slice(sidecar.section(tag(col, 3))?);
        let n = offs.len().checked_sub(1)?;
        let sane = starts.len() == n + 1
            && offs.windows(2).all(|w| w[0] <= w[1])
            && offs.last().is_some_and(|&e| e as usize == bytes.len())
            && starts.windows(2).all(|w| w[0] <= w[1])
            && starts.last().is_some_and(|&e| e as usize == postings.len());
        sane.then_some(LabelIndex {
            bytes,
            offs,
            starts,
            postings,
        })
    }

    /// Number of labels (ancestors included).
    pub fn len(&self) -> usize {
        self.offs.len() - 1
    }

    /// Whether the dictionary is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Label `i`'s bytes.
    pub fn label(&self, i: usize) -> &'a [u8] {
        &self.bytes[self.offs[i] as usize..self.offs[i + 1] as usize]
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
        lo..self.lower_bound(k, true)
    }

    /// The id of exactly `label`, if present.
    pub fn find(&self, label: &str) -> Option<usize> {
        let r = self.subtree(label);
        (!r.is_empty()).then_some(r.start)
    }

    /// Row offsets of the labels in `ids` (a contiguous id range).
    pub fn rows(&self, ids: Range<usize>) -> &'a [u32] {
        &self.postings[self.starts[ids.start] as usize..self.starts[ids.end] as usize]
    }
}

fn is_descendant(l: &[u8], root: &[u8]) -> bool {
    l.len() >= root.len() && l.starts_with(root) && (l.len() == root.len() || l[root.len()] == b'/')
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn subtrees_are_contiguous() {
        let labels = ["a/b/c", "a/b-c", "a/b", "x", "a/b/d/e", "a", "a/bc"];
        let arr = arrow_array::StringArray::from(labels.to_vec());
        let schema = Arc::new(arrow_schema::Schema::new(vec![arrow_schema::Field::new(
            "l",
            arrow_schema::DataType::Utf8,
            true,
        )]));
        let b = RecordBatch::try_new(schema, vec![Arc::new(arr)]).unwrap();
        let secs = sections(&b, 0, None);
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.vec");
        let s: Vec<nestdb_storage::container::Section> = secs
            .iter()
            .map(|(t, b)| nestdb_storage::container::Section { tag: *t, bytes: b })
            .collect();
        nestdb_storage::container::write(&p, nestdb_storage::container::FileKind::Sidecar, &s)
            .unwrap();
        let c = Container::open(&p, nestdb_storage::container::FileKind::Sidecar).unwrap();
        let ix = LabelIndex::open(&c, 0).unwrap();
        let rows = |l: &str| {
            let mut r = ix.rows(ix.subtree(l)).to_vec();
            r.sort();
            r
        };
        assert_eq!(rows("a/b"), vec![0, 2, 4]);
        assert_eq!(rows("a"), vec![0, 1, 2, 4, 5, 6]);
        assert_eq!(rows("a/b/d"), vec![4]);
        assert_eq!(rows("a/b/d/e"), vec![4]);
        assert_eq!(rows("q"), Vec::<u32>::new());
        assert_eq!(rows("a/b/c/zz"), Vec::<u32>::new());
        assert_eq!(ix.find("a/b/d"), Some(ix.subtree("a/b/d").start));
    }
}
