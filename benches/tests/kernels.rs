//! Every kernel of every instruction-set level this CPU supports, against the scalar
//! reference, on lengths that are not multiples of any lane width and on rows at every byte
//! alignment (Parquet pages put f32 values anywhere).

use half::f16;
use nestdb::kernels::{levels, scalar, table, Kernels};
use proptest::prelude::*;

fn close(a: f32, b: f32, scale: f32) -> bool {
    (a - b).abs() <= 1e-3 * scale.max(1.0)
}

fn vecs(n: usize) -> impl Strategy<Value = (Vec<f32>, Vec<f32>)> {
    (
        proptest::collection::vec(-2f32..2.0, n),
        proptest::collection::vec(-2f32..2.0, n),
    )
}

/// Every supported level's table (the scalar one included: it must agree with itself).
fn tables() -> Vec<&'static Kernels> {
    levels().into_iter().filter_map(table).collect()
}

fn le_bytes(x: &[f32], shift: usize) -> Vec<u8> {
    let mut b = vec![0xAAu8; shift];
    for v in x {
        b.extend_from_slice(&v.to_le_bytes());
    }
    b
}

#[test]
fn this_cpu_reports_its_levels() {
    let l = levels();
    assert_eq!(l[0], nestdb::kernels::Level::Scalar);
    eprintln!("kernel levels tested here: {:?}", l);
    assert!(l.contains(&nestdb::kernels::get().level));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn f32_kernels_match_scalar((a, b) in (1usize..300).prop_flat_map(vecs)) {
        let scale: f32 = a.iter().chain(&b).map(|x| x * x).sum();
        for k in tables() {
            prop_assert!(close((k.dot_f32)(&a, &b), scalar::dot_f32(&a, &b), scale), "{}", k.name);
            prop_assert!(close((k.l2sq_f32)(&a, &b), scalar::l2sq_f32(&a, &b), scale), "{}", k.name);
            prop_assert!(((k.cos_f32)(&a, &b) - scalar::cos_f32(&a, &b)).abs() <= 1e-3, "{}", k.name);
        }
    }

    #[test]
    fn unaligned_le_kernels_match_scalar((a, b) in (1usize..300).prop_flat_map(vecs), shift in 0usize..4) {
        let scale: f32 = a.iter().chain(&b).map(|x| x * x).sum();
        let bytes = le_bytes(&b, shift);
        let x = &bytes[shift..];
        for k in tables() {
            prop_assert!(close((k.dot_f32_le)(&a, x), scalar::dot_f32(&a, &b), scale), "{}", k.name);
            prop_assert!(close((k.l2sq_f32_le)(&a, x), scalar::l2sq_f32(&a, &b), scale), "{}", k.name);
        }
    }

    #[test]
    fn matvec_kernels_match_scalar(cols in 1usize..70, rows in 0usize..11, shift in 0usize..4, seed in any::<u32>()) {
        let m: Vec<f32> = (0..rows * cols).map(|i| ((i as u32).wrapping_mul(seed | 1) % 97) as f32 / 50.0 - 1.0).collect();
        let q: Vec<f32> = (0..cols).map(|j| (j as f32 / 7.0).sin()).collect();
        let mut want = vec![0f32; rows];
        scalar::matvec(&m, rows, cols, &q, &mut want);
        let bytes = le_bytes(&m, shift);
        for k in tables() {
            let mut got = vec![0f32; rows];
            (k.matvec)(&m, rows, cols, &q, &mut got);
            let mut got_le = vec![0f32; rows];
            (k.matvec_le)(&bytes[shift..], rows, &q, &mut got_le);
            for r in 0..rows {
                prop_assert!(close(got[r], want[r], cols as f32), "{} matvec row {r}", k.name);
                prop_assert!(close(got_le[r], want[r], cols as f32), "{} matvec_le row {r}", k.name);
            }
        }
    }

    #[test]
    fn f16_kernels_match_scalar((a, b) in (1usize..300).prop_flat_map(vecs)) {
        let a: Vec<f16> = a.iter().map(|&x| f16::from_f32(x)).collect();
        let b: Vec<f16> = b.iter().map(|&x| f16::from_f32(x)).collect();
        let scale: f32 = a.iter().chain(&b).map(|x| x.to_f32() * x.to_f32()).sum();
        for k in tables() {
            // simsimd's Haswell f16 kernels round intermediate terms to f16 (11-bit mantissa):
            // measured errors reach 1e-3 of the inputs' squared norms (a failing case is kept
            // in kernels.proptest-regressions), so f16 results get three times f32's tolerance
            let (d, ds) = ((k.dot_f16)(&a, &b), scalar::dot_f16(&a, &b));
            prop_assert!(close(d, ds, 3.0 * scale), "{} dot {d} vs {ds}", k.name);
            let (l, ls) = ((k.l2sq_f16)(&a, &b), scalar::l2sq_f16(&a, &b));
            prop_assert!(close(l, ls, 3.0 * scale), "{} l2sq {l} vs {ls}", k.name);
            let (c, cs) = ((k.cos_f16)(&a, &b), scalar::cos_f16(&a, &b));
            prop_assert!((c - cs).abs() <= 1e-2, "{} cos {c} vs {cs}", k.name);
        }
    }

    #[test]
    fn i8_kernels_match_scalar(a in proptest::collection::vec(-127i8..=127, 1..300), seed in any::<u64>()) {
        let b: Vec<i8> = a.iter().enumerate().map(|(i, _)| ((seed.wrapping_mul(i as u64 + 7) >> 13) % 255) as i64 as i8).map(|x| x.max(-127)).collect();
        for k in tables() {
            prop_assert_eq!((k.dot_i8)(&a, &b), scalar::dot_i8(&a, &b), "{}", k.name);
            prop_assert_eq!((k.l2sq_i8)(&a, &b), scalar::l2sq_i8(&a, &b), "{}", k.name);
            prop_assert!(((k.cos_i8)(&a, &b) - scalar::cos_i8(&a, &b)).abs() <= 1e-2, "{}", k.name);
        }
    }

    #[test]
    fn popcount_matches_scalar(w in proptest::collection::vec(any::<u64>(), 0..300)) {
        for k in tables() {
            prop_assert_eq!((k.popcount)(&w), scalar::popcount(&w), "{}", k.name);
        }
    }

    #[test]
    fn hamming_matches_scalar(a in proptest::collection::vec(any::<u8>(), 0..200), seed in any::<u8>()) {
        let b: Vec<u8> = a.iter().map(|x| x.wrapping_mul(31).wrapping_add(seed)).collect();
        for k in tables() {
            prop_assert_eq!((k.hamming)(&a, &b), scalar::hamming(&a, &b), "{}", k.name);
        }
    }

    #[test]
    fn batched_i8_rows_match_scalar(
        dim in prop_oneof![Just(32usize), Just(64), Just(128), Just(256), 1usize..300],
        rows in 0usize..11,
        seed in any::<u64>(),
    ) {
        let q: Vec<i8> = (0..dim).map(|i| ((seed.wrapping_mul(i as u64 + 3) >> 17) % 255) as i64 as i8).map(|x| x.max(-127)).collect();
        let m: Vec<i8> = (0..rows * dim).map(|i| ((seed.wrapping_mul(i as u64 + 11) >> 23) % 255) as i64 as i8).map(|x| x.max(-127)).collect();
        let mut want = vec![0i32; rows];
        scalar::dot_i8_rows(&q, &m, &mut want);
        for k in tables() {
            let mut got = vec![0i32; rows];
            (k.dot_i8_rows)(&q, &m, &mut got);
            prop_assert_eq!(&got, &want, "{}", k.name);
        }
    }

    #[test]
    fn i8_rows_scored_in_place_match_scalar(
        dim in prop_oneof![Just(32usize), Just(64), Just(128), Just(256), 1usize..300],
        rows in 1usize..11,
        picks in proptest::collection::vec(any::<u16>(), 0..60),
        seed in any::<u64>(),
    ) {
        let q: Vec<i8> = (0..dim).map(|i| ((seed.wrapping_mul(i as u64 + 3) >> 17) % 255) as i64 as i8).map(|x| x.max(-127)).collect();
        let m: Vec<i8> = (0..rows * dim).map(|i| ((seed.wrapping_mul(i as u64 + 11) >> 23) % 255) as i64 as i8).map(|x| x.max(-127)).collect();
        // any order, repeats allowed
        let offs: Vec<u32> = picks.iter().map(|&p| p as u32 % rows as u32).collect();
        let mut want = vec![0i32; offs.len()];
        for (w, &r) in want.iter_mut().zip(&offs) {
            let r = r as usize;
            scalar::dot_i8_rows(&q, &m[r * dim..(r + 1) * dim], std::slice::from_mut(w));
        }
        for k in tables() {
            let mut got = vec![0i32; offs.len()];
            (k.dot_i8_rows_at)(&q, &m, &offs, &mut got);
            prop_assert_eq!(&got, &want, "{}", k.name);
        }
    }
}
