//! Building a segment's label dictionaries of PATH columns, numbered in pre-order.
//!
//! The dictionary holds every label of the segment and all their ancestors, sorted so that a
//! parent comes right before its descendants: labels compare segment by segment, which is byte
//! order with `/` mapped below every other byte. A subtree is then one contiguous range of
//! label ids. Each row stores its label's id (an ordinal column, so `label <@ 'a/b'` is a range
//! test on integers), and the postings (row offsets grouped by label id) make a subtree's rows
//! one contiguous slice. `filter::labels` reads them.

use std::cmp::Ordering;
use std::collections::{BTreeSet, HashMap};

use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef};
use nestdb_storage::container::as_bytes;
use nestdb_storage::sections::{self, label_tag};

/// Ordinal of a row whose label is NULL.
pub const NULL_ORDINAL: u32 = u32::MAX;

/// Compares labels in pre-order (segment by segment).
pub fn preorder_cmp(a: &[u8], b: &[u8]) -> Ordering {
    let key = |c: u8| if c == b'/' { 0 } else { c };
    a.iter().map(|&c| key(c)).cmp(b.iter().map(|&c| key(c)))
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

/// The distinct labels of a column, gathered batch by batch (with their ancestors).
#[derive(Default)]
pub struct LabelSet {
    set: BTreeSet<Key>,
}

impl LabelSet {
    /// Adds the labels of a PATH column.
    pub fn add(&mut self, col: &ArrayRef) {
        let s = col.as_string::<i32>();
        for l in s.iter().flatten() {
            if self.set.contains(&Key(l.to_string())) {
                continue;
            }
            self.set.insert(Key(l.to_string()));
            let mut end = l.len();
            while let Some(i) = l[..end].rfind('/') {
                self.set.insert(Key(l[..i].to_string()));
                end = i;
            }
        }
    }

    /// The dictionary of every label added.
    pub fn dictionary(self) -> LabelDict {
        let labels: Vec<String> = self.set.into_iter().map(|k| k.0).collect();
        let ids = labels
            .iter()
            .enumerate()
            .map(|(i, l)| (l.clone(), i as u32))
            .collect();
        LabelDict { labels, ids }
    }
}

/// A segment's dictionary of one PATH column.
pub struct LabelDict {
    labels: Vec<String>,
    ids: HashMap<String, u32>,
}

impl LabelDict {
    /// The ordinal of each row of a PATH column ([`NULL_ORDINAL`] for NULL).
    pub fn ordinals(&self, col: &ArrayRef) -> Vec<u32> {
        let s = col.as_string::<i32>();
        (0..s.len())
            .map(|r| {
                if s.is_null(r) {
                    NULL_ORDINAL
                } else {
                    *self.ids.get(s.value(r)).unwrap_or(&NULL_ORDINAL)
                }
            })
            .collect()
    }

    /// The dictionary sections of PATH column `col`, given every row's ordinal in storage order.
    pub fn sections(&self, col: usize, ordinals: &[u32]) -> Vec<(u32, Vec<u8>)> {
        let mut bytes = Vec::new();
        let mut offs = vec![0u32];
        for l in &self.labels {
            bytes.extend_from_slice(l.as_bytes());
            offs.push(bytes.len() as u32);
        }
        let mut starts = vec![0u32; self.labels.len() + 1];
        for &o in ordinals.iter().filter(|&&o| o != NULL_ORDINAL) {
            starts[o as usize + 1] += 1;
        }
        for i in 0..self.labels.len() {
            starts[i + 1] += starts[i];
        }
        let mut fill = starts.clone();
        let mut postings = vec![0u32; starts[self.labels.len()] as usize];
        for (row, &o) in ordinals.iter().enumerate() {
            if o != NULL_ORDINAL {
                postings[fill[o as usize] as usize] = row as u32;
                fill[o as usize] += 1;
            }
        }
        vec![
            (label_tag(col, sections::LABEL_BYTES), bytes),
            (
                label_tag(col, sections::LABEL_STARTS),
                as_bytes(&offs).to_vec(),
            ),
            (
                label_tag(col, sections::LABEL_POSTINGS_STARTS),
                as_bytes(&starts).to_vec(),
            ),
            (
                label_tag(col, sections::LABEL_POSTINGS),
                as_bytes(&postings).to_vec(),
            ),
        ]
    }
}
