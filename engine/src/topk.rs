//! Bounded top-k selection (smallest distances) without allocation per candidate.

use std::cmp::Ordering;

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
///
/// Candidates go into a buffer of `2k`; when it fills, a linear-time selection keeps the best
/// `k` and their worst becomes the threshold that later candidates must beat. That is O(1)
/// amortized per candidate, where a binary heap pays O(log k) for every replacement.
#[derive(Debug, Clone)]
pub struct TopK {
    k: usize,
    buf: Vec<Cand>,
    /// The k-th best after the last selection (candidates not better are dropped).
    bound: Option<Cand>,
}

impl TopK {
    /// An empty selection of capacity `k`.
    pub fn new(k: usize) -> TopK {
        TopK {
            k,
            buf: Vec::with_capacity(2 * k.min(1 << 16)),
            bound: None,
        }
    }

    /// The distance a candidate must beat to enter (infinity until known).
    #[inline]
    pub fn threshold(&self) -> f32 {
        self.bound.map_or(f32::INFINITY, |c| c.dist)
    }

    /// Offers a candidate.
    #[inline]
    pub fn push(&mut self, dist: f32, addr: u64) {
        if self.k == 0 {
            return;
        }
        let c = Cand { dist, addr };
        if self.bound.is_some_and(|b| c >= b) {
            return;
        }
        if self.buf.len() >= 2 * self.k {
            self.shrink();
            if self.bound.is_some_and(|b| c >= b) {
                return;
            }
        }
        self.buf.push(c);
    }

    /// Keeps the best `k` and sets the bound to the worst of them.
    fn shrink(&mut self) {
        if self.buf.len() > self.k {
            self.buf.select_nth_unstable(self.k - 1);
            self.buf.truncate(self.k);
        }
        if self.buf.len() == self.k {
            self.bound = self.buf.iter().max().copied();
        }
    }

    /// Merges another selection into this one.
    pub fn merge(&mut self, other: TopK) {
        for c in other.buf {
            self.push(c.dist, c.addr);
        }
    }

    /// Number of candidates held (at most `2k` before [`TopK::into_sorted`]).
    pub fn len(&self) -> usize {
        self.buf.len().min(self.k)
    }

    /// Whether no candidate is held.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// The best `k` candidates in address order: the order a later stage reads rows in
    /// (memory order, which prefetching and caches like).
    pub fn into_by_addr(mut self) -> Vec<Cand> {
        self.shrink();
        self.buf.sort_unstable_by_key(|c| c.addr);
        self.buf
    }

    /// The best `k` candidates, best first.
    pub fn into_sorted(mut self) -> Vec<Cand> {
        self.shrink();
        self.buf.sort_unstable();
        self.buf
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
