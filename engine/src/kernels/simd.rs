//! Single-pair kernels on aligned vectors through simsimd. simsimd compiles every x86 and Arm
//! target and picks the best one for this CPU at its first call (a cached CPUID check); the
//! AVX2 and AVX-512 tables both use these. [`available`] says whether any SIMD target beyond
//! simsimd's serial code applies here.

use half::f16;
use simsimd::{BinarySimilarity, SpatialSimilarity};

/// Whether this CPU has an instruction set simsimd accelerates.
pub fn available() -> bool {
    use simsimd::capabilities as c;
    c::uses_haswell()
        || c::uses_skylake()
        || c::uses_ice()
        || c::uses_genoa()
        || c::uses_sapphire()
        || c::uses_turin()
        || c::uses_sierra()
        || c::uses_neon()
        || c::uses_sve()
}

/// Name of the instruction set simsimd uses here.
pub fn backend() -> &'static str {
    use simsimd::capabilities as c;
    if c::uses_sapphire() {
        "simsimd-sapphire"
    } else if c::uses_genoa() {
        "simsimd-genoa"
    } else if c::uses_ice() {
        "simsimd-ice"
    } else if c::uses_skylake() {
        "simsimd-skylake"
    } else if c::uses_haswell() {
        "simsimd-haswell"
    } else if c::uses_sve() {
        "simsimd-sve"
    } else if c::uses_neon() {
        "simsimd-neon"
    } else {
        "simsimd-serial"
    }
}

// simsimd returns None only when lengths differ, which callers rule out; 0 is never observed.

/// simsimd's kernel (see [`super::Kernels`] for the conventions).
pub fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    <f32 as SpatialSimilarity>::dot(a, b).unwrap_or(0.0) as f32
}
/// simsimd's kernel (see [`super::Kernels`] for the conventions).
pub fn l2sq_f32(a: &[f32], b: &[f32]) -> f32 {
    <f32 as SpatialSimilarity>::l2sq(a, b).unwrap_or(0.0) as f32
}
/// simsimd's kernel (see [`super::Kernels`] for the conventions).
pub fn cos_f32(a: &[f32], b: &[f32]) -> f32 {
    <f32 as SpatialSimilarity>::cos(a, b).unwrap_or(0.0) as f32
}

fn as_simsimd_f16(x: &[f16]) -> &[simsimd::f16] {
    // SAFETY: half::f16 and simsimd::f16 are both #[repr(transparent)] wrappers of u16, so the
    // slices have identical layout; length and lifetime are carried over unchanged.
    unsafe { std::slice::from_raw_parts(x.as_ptr().cast::<simsimd::f16>(), x.len()) }
}

/// simsimd's kernel (see [`super::Kernels`] for the conventions).
pub fn dot_f16(a: &[f16], b: &[f16]) -> f32 {
    <simsimd::f16 as SpatialSimilarity>::dot(as_simsimd_f16(a), as_simsimd_f16(b)).unwrap_or(0.0)
        as f32
}
/// simsimd's kernel (see [`super::Kernels`] for the conventions).
pub fn l2sq_f16(a: &[f16], b: &[f16]) -> f32 {
    <simsimd::f16 as SpatialSimilarity>::l2sq(as_simsimd_f16(a), as_simsimd_f16(b)).unwrap_or(0.0)
        as f32
}
/// simsimd's kernel (see [`super::Kernels`] for the conventions).
pub fn cos_f16(a: &[f16], b: &[f16]) -> f32 {
    <simsimd::f16 as SpatialSimilarity>::cos(as_simsimd_f16(a), as_simsimd_f16(b)).unwrap_or(0.0)
        as f32
}
/// simsimd's kernel (see [`super::Kernels`] for the conventions).
pub fn dot_i8(a: &[i8], b: &[i8]) -> f32 {
    <i8 as SpatialSimilarity>::dot(a, b).unwrap_or(0.0) as f32
}
/// simsimd's kernel (see [`super::Kernels`] for the conventions).
pub fn l2sq_i8(a: &[i8], b: &[i8]) -> f32 {
    <i8 as SpatialSimilarity>::l2sq(a, b).unwrap_or(0.0) as f32
}
/// simsimd's kernel (see [`super::Kernels`] for the conventions).
pub fn cos_i8(a: &[i8], b: &[i8]) -> f32 {
    <i8 as SpatialSimilarity>::cos(a, b).unwrap_or(0.0) as f32
}
/// simsimd's kernel (see [`super::Kernels`] for the conventions).
pub fn hamming(a: &[u8], b: &[u8]) -> u32 {
    <u8 as BinarySimilarity>::hamming(a, b).unwrap_or(0.0) as u32
}
