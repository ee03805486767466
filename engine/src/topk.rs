//! Bounded top-k selection (smallest distances) without allocation per candidate.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// A candidate: a distance (or approximate score, smaller is better) and a row address.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Cand {
    /// Distance; smaller is better.
    pub dist: f32,
    /// Row address: source (segment position, or memtable chunk) << 32 | offset.
    pub addr: u64,
}

impl Cand {
    /// Packs a source index and a row offset.
    pub fn addr(source: usize, offset: usize) -> u64 {
        ((source as u64) << 32) | offset as u64
    }
    /// The source index of the address.
    pub fn source(&self) -> usize {
        (self.addr >> 32) as usize
    }
    /// The row offset of the address.
    pub fn offset(&self) -> usize {
        (self.addr & 0xffff_ffff) as usize
    }
}

impl Eq for Cand {}

impl Ord for Cand {
    fn cmp(&self, other: &Self) -> Ordering {
        self.dist
            .total_cmp(&other.dist)
            .then(self.addr.cmp(&other.addr))
    }
}

impl PartialOrd for Cand {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Keeps the `k` smallest candidates seen.
#[derive(Debug, Clone)]
pub struct TopK {
    k: usize,
    heap: BinaryHeap<Cand>,
}

impl TopK {
    /// An empty selection of capacity `k`.
    pub fn new(k: usize) -> TopK {
        TopK {
            k,
            heap: BinaryHeap::with_capacity(k + 1),
        }
    }

    /// The distance a candidate must beat to enter (infinity until full).
    #[inline]
    pub fn threshold(&self) -> f32 {
        if self.heap.len() < self.k {
            f32::INFINITY
        } else {
            self.heap.peek().map_or(f32::INFINITY, |c| c.dist)
        }
    }

    /// Offers a candidate.
    #[inline]
    pub fn push(&mut self, dist: f32, addr: u64) {
        if self.k == 0 {
            return;
        }
        let c = Cand { dist, addr };
        if self.heap.len() < self.k {
            self.heap.push(c);
        } else if let Some(mut top) = self.heap.peek_mut() {
            if c < *top {
                *top = c;
            }
        }
    }

    /// Merges another selection into this one.
    pub fn merge(&mut self, other: TopK) {
        for c in other.heap {
            self.push(c.dist, c.addr);
        }
    }

    /// Number of candidates held.
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// Whether no candidate is held.
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    /// The candidates, best first.
    pub fn into_sorted(self) -> Vec<Cand> {
        self.heap.into_sorted_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn topk_matches_sort(xs in proptest::collection::vec(-1000f32..1000.0, 0..200), k in 0usize..20) {
            let mut t = TopK::new(k);
            for (i, &x) in xs.iter().enumerate() {
                t.push(x, i as u64);
            }
            let got: Vec<u64> = t.into_sorted().iter().map(|c| c.addr).collect();
            let mut all: Vec<Cand> = xs.iter().enumerate().map(|(i, &x)| Cand { dist: x, addr: i as u64 }).collect();
            all.sort();
            let want: Vec<u64> = all.iter().take(k).map(|c| c.addr).collect();
            prop_assert_eq!(got, want);
        }
    }
}
