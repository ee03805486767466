//! Portable reference kernels: the fallback on CPUs without SIMD support and the oracle the
//! property tests compare every SIMD kernel against. Accumulates in f64 for accuracy.

use half::f16;

use super::Kernels;

/// The scalar kernel table.
pub static KERNELS: Kernels = Kernels {
    name: "scalar",
    level: super::Level::Scalar,
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
    popcount,
    dot_i8_rows,
    dot_i8_rows_at,
    matvec,
    dot_f32_le,
    l2sq_f32_le,
    matvec_le,
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
/// Set bits of `words` (without `popcnt`, a few shifts and a multiply per word).
pub fn popcount(words: &[u64]) -> u64 {
    words.iter().map(|w| u64::from(w.count_ones())).sum()
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

/// `out[i] = dot(q, rows[offs[i] * q.len() ..][..q.len()])`: chosen rows, scored in place.
pub fn dot_i8_rows_at(q: &[i8], rows: &[i8], offs: &[u32], out: &mut [i32]) {
    let d = q.len();
    for (o, &r) in out.iter_mut().zip(offs) {
        let r = r as usize;
        *o = q
            .iter()
            .zip(&rows[r * d..(r + 1) * d])
            .map(|(&a, &b)| a as i32 * b as i32)
            .sum();
    }
}

/// `out[r] = m[r] . x` for a `rows x cols` row-major matrix.
pub fn matvec(m: &[f32], rows: usize, cols: usize, x: &[f32], out: &mut [f32]) {
    assert!(
        m.len() >= rows * cols && x.len() >= cols && out.len() >= rows,
        "matvec shapes"
    );
    for (r, o) in out.iter_mut().take(rows).enumerate() {
        *o = dot(&m[r * cols..(r + 1) * cols], &x[..cols], f64::from) as f32;
    }
}

/// The `f32` at little-endian bytes `b[4i..4i+4]`.
#[inline]
pub fn le(b: &[u8], i: usize) -> f32 {
    f32::from_le_bytes([b[4 * i], b[4 * i + 1], b[4 * i + 2], b[4 * i + 3]])
}

/// `q . x` where `x` is `q.len()` little-endian `f32` (any alignment).
pub fn dot_f32_le(q: &[f32], x: &[u8]) -> f32 {
    assert!(x.len() >= 4 * q.len(), "row shorter than the query");
    q.iter()
        .enumerate()
        .map(|(i, &a)| a as f64 * le(x, i) as f64)
        .sum::<f64>() as f32
}

/// `|q - x|^2` where `x` is `q.len()` little-endian `f32` (any alignment).
pub fn l2sq_f32_le(q: &[f32], x: &[u8]) -> f32 {
    assert!(x.len() >= 4 * q.len(), "row shorter than the query");
    q.iter()
        .enumerate()
        .map(|(i, &a)| {
            let d = a as f64 - le(x, i) as f64;
            d * d
        })
        .sum::<f64>() as f32
}

/// `out[r] = q . row r` for `n` rows of `q.len()` little-endian `f32` stored back to back.
pub fn matvec_le(rows: &[u8], n: usize, q: &[f32], out: &mut [f32]) {
    let w = q.len() * 4;
    assert!(rows.len() >= n * w && out.len() >= n, "matvec_le shapes");
    for (r, o) in out.iter_mut().take(n).enumerate() {
        *o = dot_f32_le(q, &rows[r * w..(r + 1) * w]);
    }
}
