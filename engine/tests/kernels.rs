//! Every SIMD kernel against the scalar reference, on lengths that are not multiples of any
//! lane width.

use half::f16;
use nestdb::kernels::{avx2, scalar, simd};
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

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn f32_kernels_match_scalar((a, b) in (1usize..300).prop_flat_map(vecs)) {
        let k = simd::kernels();
        let scale: f32 = a.iter().chain(&b).map(|x| x * x).sum();
        prop_assert!(close((k.dot_f32)(&a, &b), scalar::dot_f32(&a, &b), scale));
        prop_assert!(close((k.l2sq_f32)(&a, &b), scalar::l2sq_f32(&a, &b), scale));
        prop_assert!(((k.cos_f32)(&a, &b) - scalar::cos_f32(&a, &b)).abs() <= 1e-3);
    }

    #[test]
    fn f16_kernels_match_scalar((a, b) in (1usize..300).prop_flat_map(vecs)) {
        let k = simd::kernels();
        let a: Vec<f16> = a.iter().map(|&x| f16::from_f32(x)).collect();
        let b: Vec<f16> = b.iter().map(|&x| f16::from_f32(x)).collect();
        let scale: f32 = a.iter().chain(&b).map(|x| x.to_f32() * x.to_f32()).sum();
        prop_assert!(close((k.dot_f16)(&a, &b), scalar::dot_f16(&a, &b), scale));
        prop_assert!(close((k.l2sq_f16)(&a, &b), scalar::l2sq_f16(&a, &b), scale));
        prop_assert!(((k.cos_f16)(&a, &b) - scalar::cos_f16(&a, &b)).abs() <= 1e-2);
    }

    #[test]
    fn i8_kernels_match_scalar(a in proptest::collection::vec(-127i8..=127, 1..300), seed in any::<u64>()) {
        let k = simd::kernels();
        let b: Vec<i8> = a.iter().enumerate().map(|(i, _)| ((seed.wrapping_mul(i as u64 + 7) >> 13) % 255) as i64 as i8).map(|x| x.max(-127)).collect();
        prop_assert_eq!((k.dot_i8)(&a, &b), scalar::dot_i8(&a, &b));
        prop_assert_eq!((k.l2sq_i8)(&a, &b), scalar::l2sq_i8(&a, &b));
        prop_assert!(((k.cos_i8)(&a, &b) - scalar::cos_i8(&a, &b)).abs() <= 1e-2);
    }

    #[test]
    fn hamming_matches_scalar(a in proptest::collection::vec(any::<u8>(), 0..200), seed in any::<u8>()) {
        let b: Vec<u8> = a.iter().map(|x| x.wrapping_mul(31).wrapping_add(seed)).collect();
        prop_assert_eq!((simd::kernels().hamming)(&a, &b), scalar::hamming(&a, &b));
    }

    #[test]
    fn batched_i8_rows_match_scalar(
        dim in prop_oneof![Just(32usize), Just(64), Just(128), 1usize..200],
        rows in 0usize..11,
        seed in any::<u64>(),
    ) {
        let q: Vec<i8> = (0..dim).map(|i| ((seed >> (i % 50)) as i64 % 255 - 127) as i8).collect();
        let data: Vec<i8> = (0..dim * rows).map(|i| ((i as u64).wrapping_mul(seed | 1) >> 7) as i64 % 255 - 127).map(|x| x as i8).collect();
        let mut want = vec![0i32; rows];
        let mut got = vec![0i32; rows];
        scalar::dot_i8_rows(&q, &data, &mut want);
        avx2::dot_i8_rows(&q, &data, &mut got);
        prop_assert_eq!(got, want);
    }
}

#[test]
fn the_dispatch_picks_simd_on_this_cpu() {
    // The table is chosen once; on x86-64 CI machines (AVX2) it must not be the scalar one.
    if cfg!(target_arch = "x86_64") && avx2::available() {
        assert_ne!(nestdb::kernels::get().name, "scalar");
    }
}

proptest! {
    #[test]
    fn matvec_matches_scalar(rows in 0usize..13, cols in 1usize..70, seed in any::<u32>()) {
        let m: Vec<f32> = (0..rows * cols).map(|i| ((i as u32).wrapping_mul(seed | 1) % 1000) as f32 / 500.0 - 1.0).collect();
        let x: Vec<f32> = (0..cols).map(|i| (i as f32 * 0.37).sin()).collect();
        let mut got = vec![0f32; rows];
        avx2::matvec(&m, rows, cols, &x, &mut got);
        for r in 0..rows {
            let want = scalar::dot_f32(&m[r * cols..(r + 1) * cols], &x);
            prop_assert!((got[r] - want).abs() <= 1e-4 * cols as f32, "row {}: {} vs {}", r, got[r], want);
        }
    }
}
