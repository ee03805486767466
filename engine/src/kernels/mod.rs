//! Distance kernels, chosen once at runtime.
//!
//! [`Kernels`] is a table of function pointers: [`simd`] (simsimd, which itself dispatches to
//! the best instruction set this CPU has: Haswell/AVX2, Skylake/AVX-512, Ice Lake VNNI, NEON,
//! SVE, plus nestdb's own [`avx2`] batch kernels) or [`scalar`] (portable reference code, also
//! the oracle of the property tests). Set `NESTDB_KERNELS=scalar` to force the scalar table.
//!
//! Conventions: `dot` is the inner product, `l2sq` the squared Euclidean distance, `cos` the
//! cosine distance `1 - cos(a, b)`, `hamming` the number of differing bits. Inputs have equal
//! lengths (callers guarantee it; the kernels assert it in debug builds).

use std::sync::OnceLock;

use half::f16;

pub mod avx2;
pub mod scalar;
pub mod simd;

/// A set of distance kernels.
#[derive(Debug)]
pub struct Kernels {
    /// Name of the implementation (`simsimd-haswell`, `scalar`, ...).
    pub name: &'static str,
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
    /// int8 dot products of one query with many rows stored back to back.
    pub dot_i8_rows: fn(&[i8], &[i8], &mut [i32]),
}

static KERNELS: OnceLock<&'static Kernels> = OnceLock::new();

/// The kernels for this CPU, chosen on first use.
pub fn get() -> &'static Kernels {
    KERNELS.get_or_init(|| {
        let forced_scalar = std::env::var("NESTDB_KERNELS").is_ok_and(|v| v == "scalar");
        if forced_scalar || !simd::available() {
            &scalar::KERNELS
        } else {
            simd::kernels()
        }
    })
}

/// Hints the CPU to fetch the cache lines of `data` (up to 256 bytes) before they are read.
#[inline]
pub fn prefetch<T>(data: &[T]) {
    #[cfg(target_arch = "x86_64")]
    {
        let p = data.as_ptr().cast::<i8>();
        let bytes = std::mem::size_of_val(data).min(256);
        for off in (0..bytes).step_by(64) {
            // SAFETY: `off < size_of_val(data)`, so the address is inside `data`; prefetching
            // never faults and has no effect on program state.
            unsafe { std::arch::x86_64::_mm_prefetch(p.add(off), std::arch::x86_64::_MM_HINT_T0) };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = data;
}
