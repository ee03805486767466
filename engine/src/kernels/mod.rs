//! Distance kernels, one module per instruction set, chosen once at runtime.
//!
//! [`Kernels`] is a table of function pointers. There is one table per [`Level`]:
//! - [`scalar`]: portable reference code, the oracle of the property tests;
//! - [`avx2`] (AVX2 + FMA) and [`avx512`] (AVX-512 F + BW): nestdb's own batched kernels (int8
//!   codes of a whole partition against the query, matrix-vector products) and products
//!   against little-endian rows read in place from Parquet pages (any alignment). Their
//!   single-pair kernels on aligned vectors come from simsimd ([`simd`]), which picks its own
//!   best target for this CPU.
//!
//! [`get`] returns the best level this CPU supports, or a lower one forced with
//! `NESTDB_KERNELS=scalar|avx2|avx512` (the test script runs the suites under each level the
//! machine has). [`table`] returns a given level's table for tests and benchmarks.
//!
//! Conventions: `dot` is the inner product, `l2sq` the squared Euclidean distance, `cos` the
//! cosine distance `1 - cos(a, b)`, `hamming` the number of differing bits. Inputs have equal
//! lengths (callers guarantee it; the kernels assert or debug-assert it).

use std::sync::OnceLock;

use half::f16;

pub mod avx2;
pub mod avx512;
pub mod scalar;
pub mod simd;

/// An instruction-set level.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Portable code.
    Scalar,
    /// AVX2 + FMA.
    Avx2,
    /// AVX-512 F + BW.
    Avx512,
}

impl Level {
    /// The level's name (`scalar`, `avx2`, `avx512`), as `NESTDB_KERNELS` takes it.
    pub fn name(self) -> &'static str {
        match self {
            Level::Scalar => "scalar",
            Level::Avx2 => "avx2",
            Level::Avx512 => "avx512",
        }
    }

    fn parse(s: &str) -> Option<Level> {
        match s {
            "scalar" => Some(Level::Scalar),
            "avx2" => Some(Level::Avx2),
            "avx512" => Some(Level::Avx512),
            _ => None,
        }
    }
}

/// `(q, rows, offsets, out)`: the signature of [`Kernels::dot_i8_rows_at`].
pub type RowsAtKernel = fn(&[i8], &[i8], &[u32], &mut [i32]);

/// A set of distance kernels.
#[derive(Debug)]
pub struct Kernels {
    /// Name of the implementation (`avx512`, `avx2`, `scalar`).
    pub name: &'static str,
    /// The instruction-set level.
    pub level: Level,
    /// f32 inner product.
    pub dot_f32: fn(&[f32], &[f32]) -> f32,
    /// f32 squared L2.
    pub l2sq_f32: fn(&[f32], &[f32]) -> f32,
    /// f32 cosine distance.
    pub cos_f32: fn(&[f32], &[f32]) -> f32,
    /// f16 inner product.
    pub dot_f16: fn(&[f16], &[f16]) -> f32,
    /// f16 squared L2.
    pub l2sq_f16: fn(&[f16], &[f16]) -> f32,
    /// f16 cosine distance.
    pub cos_f16: fn(&[f16], &[f16]) -> f32,
    /// i8 inner product (exact, in i32 range, returned as f32).
    pub dot_i8: fn(&[i8], &[i8]) -> f32,
    /// i8 squared L2.
    pub l2sq_i8: fn(&[i8], &[i8]) -> f32,
    /// i8 cosine distance.
    pub cos_i8: fn(&[i8], &[i8]) -> f32,
    /// Hamming distance of bit vectors packed in bytes.
    pub hamming: fn(&[u8], &[u8]) -> u32,
    /// Set bits of a word slice (filter selections: `Bits::count`, `Bits::count_range`).
    pub popcount: fn(&[u64]) -> u64,
    /// int8 dot products of one query with many rows stored back to back.
    pub dot_i8_rows: fn(&[i8], &[i8], &mut [i32]),
    /// `out[i] = dot(q, row offs[i])` for chosen rows of a row-major i8 matrix (`q.len()`
    /// per row), scored in place instead of gathered first.
    pub dot_i8_rows_at: RowsAtKernel,
    /// `out[r] = m[r] . x` for a `rows x cols` row-major f32 matrix.
    pub matvec: fn(&[f32], usize, usize, &[f32], &mut [f32]),
    /// `q . x` for a row of little-endian f32 bytes (any alignment).
    pub dot_f32_le: fn(&[f32], &[u8]) -> f32,
    /// `|q - x|^2` for a row of little-endian f32 bytes (any alignment).
    pub l2sq_f32_le: fn(&[f32], &[u8]) -> f32,
    /// `out[r] = q . row r` for `n` rows of little-endian f32 bytes stored back to back.
    pub matvec_le: fn(&[u8], usize, &[f32], &mut [f32]),
}

static AVX2: Kernels = Kernels {
    name: "avx2",
    level: Level::Avx2,
    dot_f32: simd::dot_f32,
    l2sq_f32: simd::l2sq_f32,
    cos_f32: simd::cos_f32,
    dot_f16: simd::dot_f16,
    l2sq_f16: simd::l2sq_f16,
    cos_f16: simd::cos_f16,
    dot_i8: simd::dot_i8,
    l2sq_i8: simd::l2sq_i8,
    cos_i8: simd::cos_i8,
    hamming: simd::hamming,
    popcount: avx2::popcount,
    dot_i8_rows: avx2::dot_i8_rows,
    dot_i8_rows_at: avx2::dot_i8_rows_at,
    matvec: avx2::matvec,
    dot_f32_le: avx2::dot_f32_le,
    l2sq_f32_le: avx2::l2sq_f32_le,
    matvec_le: avx2::matvec_le,
};

static AVX512: Kernels = Kernels {
    name: "avx512",
    level: Level::Avx512,
    matvec: avx512::matvec,
    dot_f32_le: avx512::dot_f32_le,
    l2sq_f32_le: avx512::l2sq_f32_le,
    matvec_le: avx512::matvec_le,
    ..AVX2
};

/// The levels this CPU supports, lowest first (always starts with [`Level::Scalar`]).
pub fn levels() -> Vec<Level> {
    let mut v = vec![Level::Scalar];
    if avx2::available() && simd::available() {
        v.push(Level::Avx2);
        if avx512::available() {
            v.push(Level::Avx512);
        }
    }
    v
}

/// The table of `level`, if this CPU supports it.
pub fn table(level: Level) -> Option<&'static Kernels> {
    if !levels().contains(&level) {
        return None;
    }
    Some(match level {
        Level::Scalar => &scalar::KERNELS,
        Level::Avx2 => &AVX2,
        Level::Avx512 => &AVX512,
    })
}

static KERNELS: OnceLock<&'static Kernels> = OnceLock::new();

/// The kernels for this CPU, chosen on first use: the best level, or the one
/// `NESTDB_KERNELS` names when the CPU supports it (lower levels only).
pub fn get() -> &'static Kernels {
    KERNELS.get_or_init(|| {
        let best = *levels().last().expect("scalar is always there");
        let want = std::env::var("NESTDB_KERNELS")
            .ok()
            .and_then(|v| Level::parse(&v))
            .filter(|l| *l <= best)
            .unwrap_or(best);
        table(want).unwrap_or(&scalar::KERNELS)
    })
}

/// Hints the CPU to fetch the cache lines of `data` (up to 256 bytes) before they are read.
#[inline]
pub fn prefetch<T>(data: &[T]) {
    prefetch_bytes(data.as_ptr().cast(), std::mem::size_of_val(data));
}

#[inline]
fn prefetch_bytes(p: *const u8, len: usize) {
    let data = (p, len);
    #[cfg(target_arch = "x86_64")]
    {
        let p = data.0.cast::<i8>();
        let bytes = data.1.min(256);
        for off in (0..bytes).step_by(64) {
            // SAFETY: `off < len`, so the address is inside the caller's slice; prefetching
            // never faults and has no effect on program state.
            unsafe { std::arch::x86_64::_mm_prefetch(p.add(off), std::arch::x86_64::_MM_HINT_T0) };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = data;
}
