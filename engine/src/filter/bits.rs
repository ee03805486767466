//! A dense bitset over the row offsets of one source: one bit per row, 64 rows per word.
//!
//! Filters are evaluated into these rather than into compressed bitmaps: a source's rows are
//! known and bounded, so a predicate's result is `rows / 8` bytes written at memory speed
//! (comparison loops produce a word per 64 rows), AND/OR/NOT are word loops, and the funnel's
//! "is this row selected" is one load. Bits past `len` are always zero.

use std::ops::Range;

/// See the module docs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Bits {
    words: Vec<u64>,
    len: u32,
}

/// Words needed for `n` bits.
#[inline]
pub fn words_for(n: u32) -> usize {
    (n as usize).div_ceil(64)
}

impl Bits {
    /// `n` rows, none set.
    pub fn zeros(n: u32) -> Bits {
        Bits {
            words: vec![0; words_for(n)],
            len: n,
        }
    }

    /// `n` rows, all set.
    pub fn ones(n: u32) -> Bits {
        let mut b = Bits {
            words: vec![u64::MAX; words_for(n)],
            len: n,
        };
        b.trim();
        b
    }

    /// A bitset of `n` rows from its words (bits past `n` are cleared).
    pub fn from_words(words: Vec<u64>, n: u32) -> Bits {
        debug_assert_eq!(words.len(), words_for(n));
        let mut b = Bits { words, len: n };
        b.trim();
        b
    }

    fn trim(&mut self) {
        let r = self.len % 64;
        if r != 0 {
            if let Some(w) = self.words.last_mut() {
                *w &= (1u64 << r) - 1;
            }
        }
    }

    /// Rows covered (set or not).
    pub fn len(&self) -> u32 {
        self.len
    }

    /// Whether no row is set.
    pub fn is_empty(&self) -> bool {
        self.words.iter().all(|&w| w == 0)
    }

    /// The words, 64 rows each (row `i` is bit `i % 64` of word `i / 64`).
    pub fn words(&self) -> &[u64] {
        &self.words
    }

    /// The words, mutable; callers keep bits past `len` zero (or call [`Bits::from_words`]).
    pub fn words_mut(&mut self) -> &mut [u64] {
        &mut self.words
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.words.len() * 8
    }

    /// Rows set.
    pub fn count(&self) -> u64 {
        (crate::kernels::get().popcount)(&self.words)
    }

    /// Whether row `i` is set (false past the end).
    #[inline]
    pub fn contains(&self, i: u32) -> bool {
        self.words
            .get((i / 64) as usize)
            .is_some_and(|w| w >> (i % 64) & 1 == 1)
    }

    /// Sets row `i` (`i < len`).
    #[inline]
    pub fn insert(&mut self, i: u32) {
        debug_assert!(i < self.len);
        self.words[(i / 64) as usize] |= 1 << (i % 64);
    }

    /// Clears row `i` (ignored past the end).
    #[inline]
    pub fn remove(&mut self, i: u32) {
        if let Some(w) = self.words.get_mut((i / 64) as usize) {
            *w &= !(1 << (i % 64));
        }
    }

    /// Sets rows `r` (clamped to `len`).
    pub fn insert_range(&mut self, r: Range<u32>) {
        let (a, b) = (r.start.min(self.len), r.end.min(self.len));
        if a >= b {
            return;
        }
        let (wa, wb) = ((a / 64) as usize, ((b - 1) / 64) as usize);
        let head = u64::MAX << (a % 64);
        let tail = u64::MAX >> (63 - (b - 1) % 64);
        if wa == wb {
            self.words[wa] |= head & tail;
            return;
        }
        self.words[wa] |= head;
        self.words[wa + 1..wb].fill(u64::MAX);
        self.words[wb] |= tail;
    }

    /// Rows set in `a..b`.
    pub fn count_range(&self, a: u32, b: u32) -> u64 {
        let (a, b) = (a.min(self.len), b.min(self.len));
        if a >= b {
            return 0;
        }
        let (wa, wb) = ((a / 64) as usize, ((b - 1) / 64) as usize);
        let head = u64::MAX << (a % 64);
        let tail = u64::MAX >> (63 - (b - 1) % 64);
        if wa == wb {
            return (self.words[wa] & head & tail).count_ones() as u64;
        }
        let mid = (crate::kernels::get().popcount)(&self.words[wa + 1..wb]);
        mid + (self.words[wa] & head).count_ones() as u64
            + (self.words[wb] & tail).count_ones() as u64
    }

    /// Calls `f` with each set row in `a..b`, ascending.
    #[inline]
    pub fn for_each_in(&self, a: u32, b: u32, mut f: impl FnMut(u32)) {
        let (a, b) = (a.min(self.len), b.min(self.len));
        if a >= b {
            return;
        }
        let (wa, wb) = ((a / 64) as usize, ((b - 1) / 64) as usize);
        for wi in wa..=wb {
            let mut w = self.words[wi];
            if wi == wa {
                w &= u64::MAX << (a % 64);
            }
            if wi == wb {
                w &= u64::MAX >> (63 - (b - 1) % 64);
            }
            while w != 0 {
                f(wi as u32 * 64 + w.trailing_zeros());
                w &= w - 1;
            }
        }
    }

    /// Set rows, ascending.
    pub fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        self.words.iter().enumerate().flat_map(|(wi, &w)| {
            let mut w = w;
            std::iter::from_fn(move || {
                (w != 0).then(|| {
                    let i = wi as u32 * 64 + w.trailing_zeros();
                    w &= w - 1;
                    i
                })
            })
        })
    }

    /// `self &= o`.
    pub fn and(&mut self, o: &Bits) {
        self.zip(o, |a, b| a & b);
    }

    /// `self |= o`.
    pub fn or(&mut self, o: &Bits) {
        self.zip(o, |a, b| a | b);
    }

    /// `self &= !o`.
    pub fn and_not(&mut self, o: &Bits) {
        self.zip(o, |a, b| a & !b);
    }

    /// `self |= o` shifted to start at row `base`: row `r` of `o` is row `base + r` here
    /// (rows past `len` are dropped).
    pub fn or_at(&mut self, base: u32, o: &Bits) {
        let (w0, s) = ((base / 64) as usize, base % 64);
        for (i, &w) in o.words.iter().enumerate() {
            if w == 0 {
                continue;
            }
            if let Some(d) = self.words.get_mut(w0 + i) {
                *d |= w << s;
            }
            if s != 0 {
                if let Some(d) = self.words.get_mut(w0 + i + 1) {
                    *d |= w >> (64 - s);
                }
            }
        }
        self.trim();
    }

    #[inline]
    fn zip(&mut self, o: &Bits, f: impl Fn(u64, u64) -> u64) {
        debug_assert_eq!(self.len, o.len);
        for (a, &b) in self.words.iter_mut().zip(&o.words) {
            *a = f(*a, b);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    fn model(b: &Bits) -> BTreeSet<u32> {
        (0..b.len()).filter(|&i| b.contains(i)).collect()
    }

    proptest! {
        #[test]
        fn ranges_agree_with_a_set(n in 0u32..300, rs in prop::collection::vec((0u32..320, 0u32..320), 0..6), q in (0u32..320, 0u32..320)) {
            let mut b = Bits::zeros(n);
            let mut m = BTreeSet::new();
            for (x, y) in rs {
                let (a, e) = (x.min(y), x.max(y));
                b.insert_range(a..e);
                m.extend(a.min(n)..e.min(n));
            }
            prop_assert_eq!(model(&b), m.clone());
            prop_assert_eq!(b.count(), m.len() as u64);
            prop_assert_eq!(b.iter().collect::<BTreeSet<_>>(), m.clone());
            let (a, e) = (q.0.min(q.1), q.0.max(q.1));
            let want: Vec<u32> = m.range(a..e.max(a)).copied().collect();
            let mut got = Vec::new();
            b.for_each_in(a, e, |i| got.push(i));
            prop_assert_eq!(b.count_range(a, e), want.len() as u64);
            prop_assert_eq!(got, want);
            let mut ones = Bits::ones(n);
            ones.and_not(&b);
            prop_assert_eq!(ones.count() + b.count(), n as u64);
        }

        #[test]
        fn or_at_shifts_every_row(n in 0u32..300, base in 0u32..320, rows in prop::collection::btree_set(0u32..200, 0..40), m in 0u32..200) {
            let mut small = Bits::zeros(m);
            for &r in rows.iter().filter(|&&r| r < m) {
                small.insert(r);
            }
            let mut b = Bits::zeros(n);
            b.insert_range(0..n.min(3));
            let mut want = model(&b);
            want.extend(model(&small).into_iter().map(|r| r + base).filter(|&r| r < n));
            b.or_at(base, &small);
            prop_assert_eq!(model(&b), want.clone());
            prop_assert_eq!(b.count(), want.len() as u64);
        }
    }
}
