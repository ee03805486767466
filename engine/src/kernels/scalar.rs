//! Portable reference kernels: the fallback on CPUs without SIMD support and the oracle the
//! property tests compare every SIMD kernel against. Accumulates in f64 for accuracy.

use half::f16;

use super::Kernels;

/// The scalar kernel table.
pub static KERNELS: Kernels = Kernels {
    name: "scalar",
    dot_f32,
    l2sq_f32,
    cos_f32,
    dot_f16,
    l2sq_f16,
    cos_f16,
    dot_i8,
    l2sq_i8,
    cos_i8,
    hamming,
    dot_i8_rows,
};

fn dot<T: Copy>(a: &[T], b: &[T], f: impl Fn(T) -> f64) -> f64 {
    debug_assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(&x, &y)| f(x) * f(y)).sum()
}

fn l2sq<T: Copy>(a: &[T], b: &[T], f: impl Fn(T) -> f64) -> f64 {
    debug_assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(&x, &y)| {
            let d = f(x) - f(y);
            d * d
        })
        .sum()
}

fn cos<T: Copy>(a: &[T], b: &[T], f: impl Fn(T) -> f64 + Copy) -> f64 {
    let ab = dot(a, b, f);
    let aa = dot(a, a, f);
    let bb = dot(b, b, f);
    if aa == 0.0 && bb == 0.0 {
        0.0
    } else if ab == 0.0 {
        1.0
    } else {
        (1.0 - ab / (aa.sqrt() * bb.sqrt())).max(0.0)
    }
}

/// f32 inner product.
pub fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    dot(a, b, f64::from) as f32
}
/// f32 squared L2.
pub fn l2sq_f32(a: &[f32], b: &[f32]) -> f32 {
    l2sq(a, b, f64::from) as f32
}
/// f32 cosine distance.
pub fn cos_f32(a: &[f32], b: &[f32]) -> f32 {
    cos(a, b, f64::from) as f32
}
/// f16 inner product.
pub fn dot_f16(a: &[f16], b: &[f16]) -> f32 {
    dot(a, b, f64::from) as f32
}
/// f16 squared L2.
pub fn l2sq_f16(a: &[f16], b: &[f16]) -> f32 {
    l2sq(a, b, f64::from) as f32
}
/// f16 cosine distance.
pub fn cos_f16(a: &[f16], b: &[f16]) -> f32 {
    cos(a, b, f64::from) as f32
}
/// i8 inner product.
pub fn dot_i8(a: &[i8], b: &[i8]) -> f32 {
    dot(a, b, f64::from) as f32
}
/// i8 squared L2.
pub fn l2sq_i8(a: &[i8], b: &[i8]) -> f32 {
    l2sq(a, b, f64::from) as f32
}
/// i8 cosine distance.
pub fn cos_i8(a: &[i8], b: &[i8]) -> f32 {
    cos(a, b, f64::from) as f32
}
/// Hamming distance of packed bits.
pub fn hamming(a: &[u8], b: &[u8]) -> u32 {
    debug_assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x ^ y).count_ones()).sum()
}

/// int8 dot products of one query with rows stored back to back (`out[r]` for row `r`).
pub fn dot_i8_rows(q: &[i8], rows: &[i8], out: &mut [i32]) {
    let d = q.len();
    for (r, o) in out.iter_mut().enumerate() {
        *o = q
            .iter()
            .zip(&rows[r * d..(r + 1) * d])
            .map(|(&a, &b)| a as i32 * b as i32)
            .sum();
    }
}
