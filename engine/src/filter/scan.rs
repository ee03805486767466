//! The word loop every filter leaf runs: 64 rows at a time, only where the caller still cares
//! (an AND's survivors) and only in zones whose bounds leave the answer open.

use std::ops::Range;

use arrow_array::Array;

use super::bits::{words_for, Bits};
use super::zones::Zone;

/// Rows where a predicate is TRUE and where it is UNKNOWN (SQL's three-valued logic).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tri {
    /// TRUE rows.
    pub t: Bits,
    /// UNKNOWN rows.
    pub u: Bits,
}

impl Tri {
    /// Nothing TRUE, nothing UNKNOWN.
    pub fn none(n: u32) -> Tri {
        Tri {
            t: Bits::zeros(n),
            u: Bits::zeros(n),
        }
    }

    /// TRUE on `care` (every row when None).
    pub fn all(n: u32, care: Option<&Bits>) -> Tri {
        Tri {
            t: care.cloned().unwrap_or_else(|| Bits::ones(n)),
            u: Bits::zeros(n),
        }
    }
}

/// Evaluates a leaf: `word(wi)` gives the (TRUE, UNKNOWN) bits of rows `64 wi..64 wi + 64`
/// (zero past the last row). Words where `care` is zero are skipped; with `zones`, rows of
/// zones decided `None` are skipped and rows of zones decided `All` are set without a test.
pub fn run(
    n: u32,
    care: Option<&Bits>,
    zones: Option<Vec<(Range<u32>, Zone)>>,
    mut word: impl FnMut(usize) -> (u64, u64),
) -> Tri {
    let nw = words_for(n);
    let mut t = vec![0u64; nw];
    let mut u = vec![0u64; nw];
    let mut words = |wa: usize, wb: usize, t: &mut [u64]| {
        for wi in wa..wb {
            let c = care.map_or(u64::MAX, |c| c.words()[wi]);
            if c != 0 {
                let (a, b) = word(wi);
                t[wi] |= a & c;
                u[wi] |= b & c;
            }
        }
    };
    let t = match zones {
        None => {
            words(0, nw, &mut t);
            Bits::from_words(t, n)
        }
        Some(zs) => {
            let mut all = Bits::zeros(n);
            // a word's bits come from its values alone, so a word two zones share (zones need
            // not start on a word) is tested once
            let mut next = 0;
            for (r, z) in zs {
                match z {
                    Zone::None => {}
                    Zone::All => all.insert_range(r),
                    Zone::Scan if r.start < r.end => {
                        let (wa, wb) = (r.start as usize / 64, (r.end as usize - 1) / 64 + 1);
                        let wa = wa.max(next);
                        if wa < wb {
                            words(wa, wb, &mut t);
                            next = wb;
                        }
                    }
                    Zone::Scan => {}
                }
            }
            if let Some(c) = care {
                all.and(c);
            }
            let mut t = Bits::from_words(t, n);
            t.or(&all);
            t
        }
    };
    Tri {
        t,
        u: Bits::from_words(u, n),
    }
}

/// Bits `pred(vals[i])` of the rows of word `wi`.
#[inline]
pub fn word_of<T: Copy>(vals: &[T], wi: usize, pred: impl Fn(T) -> bool) -> u64 {
    let a = wi * 64;
    let chunk = &vals[a.min(vals.len())..(a + 64).min(vals.len())];
    if let Ok(full) = <&[T; 64]>::try_from(chunk) {
        // one byte per row first (a loop the compiler vectorizes), then 8 bytes at a time
        // into bits
        let mut m = [0u8; 64];
        for (b, &v) in m.iter_mut().zip(full) {
            *b = u8::from(pred(v));
        }
        return pack(&m);
    }
    let mut w = 0u64;
    for (j, &v) in chunk.iter().enumerate() {
        w |= u64::from(pred(v)) << j;
    }
    w
}

/// 64 bytes, each 0 or 1, as the bits of a word (byte `j` is bit `j`).
#[inline]
fn pack(m: &[u8; 64]) -> u64 {
    let mut w = 0u64;
    for (g, c) in m.chunks_exact(8).enumerate() {
        let mut x = [0u8; 8];
        x.copy_from_slice(c);
        // byte i (0 or 1) times 2^(7k + 7) summed over k lands on bit 56 + i; no carries
        let b = u64::from_le_bytes(x).wrapping_mul(0x0102_0408_1020_4080) >> 56;
        w |= b << (8 * g);
    }
    w
}

/// The non-NULL rows of `arr` as words (None when it has no NULLs).
pub fn valid_words(arr: &dyn Array) -> Option<Vec<u64>> {
    let nulls = arr.logical_nulls()?;
    if nulls.null_count() == 0 {
        return None;
    }
    Some(nulls.inner().bit_chunks().iter_padded().collect())
}

/// Word `wi` of `valid` (every row valid when None), limited to the rows of an `n`-row source.
#[inline]
pub fn valid_word(valid: Option<&[u64]>, wi: usize, n: u32) -> u64 {
    let w = valid.map_or(u64::MAX, |v| v[wi]);
    let end = (wi as u64 + 1) * 64;
    if end > n as u64 {
        w & (u64::MAX >> (end - n as u64))
    } else {
        w
    }
}

/// (TRUE, UNKNOWN) bits of a word from the predicate's bits on values and the valid rows.
#[inline]
pub fn tri_word(hit: u64, valid: u64, rows: u64) -> (u64, u64) {
    (hit & valid, rows & !valid)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn word_of_sets_bit_j_for_row_j(vals in prop::collection::vec(0u32..4, 0..200), wi in 0usize..4) {
            let w = word_of(&vals, wi, |v| v == 1);
            for j in 0..64 {
                let want = vals.get(wi * 64 + j).is_some_and(|&v| v == 1);
                prop_assert_eq!(w >> j & 1 == 1, want, "bit {}", j);
            }
        }
    }
}
