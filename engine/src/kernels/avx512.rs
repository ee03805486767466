//! AVX-512 (F + BW) twins of the [`super::avx2`] f32 kernels: 16 lanes.
//!
//! The int8 rows kernel is not duplicated: on the machines measured here (AMD Zen 4, whose
//! AVX-512 units are double-pumped 256-bit), 512-bit versions (`maddubs` with masked negation,
//! and VNNI `dpbusd`) ran 1.8x slower than the AVX2 kernel (`benches/results/kernels.txt`), so
//! the AVX-512 table uses the AVX2 one.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

/// Whether this CPU runs the kernels of this module.
pub fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512bw")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// `out[r] = m[r] . x` for a `rows x cols` row-major matrix; any shape.
pub fn matvec(m: &[f32], rows: usize, cols: usize, x: &[f32], out: &mut [f32]) {
    assert!(
        m.len() >= rows * cols && x.len() >= cols && out.len() >= rows,
        "matvec shapes"
    );
    #[cfg(target_arch = "x86_64")]
    if available() {
        // SAFETY: AVX-512F was just checked; `m` holds rows*cols floats (asserted).
        unsafe { matvec_ptr(m.as_ptr().cast(), rows, &x[..cols], out) };
        return;
    }
    super::avx2::matvec(m, rows, cols, x, out)
}

/// `out[r] = q . row r` for `n` rows of `q.len()` little-endian f32 stored back to back.
pub fn matvec_le(rows: &[u8], n: usize, q: &[f32], out: &mut [f32]) {
    assert!(
        rows.len() >= n * q.len() * 4 && out.len() >= n,
        "matvec_le shapes"
    );
    #[cfg(target_arch = "x86_64")]
    if available() {
        // SAFETY: AVX-512F was just checked; `rows` holds n*q.len()*4 bytes (asserted); loads
        // are unaligned; x86 is little-endian.
        unsafe { matvec_ptr(rows.as_ptr(), n, q, out) };
        return;
    }
    super::avx2::matvec_le(rows, n, q, out)
}

/// `q . x` for `x` holding `q.len()` little-endian f32 (any alignment).
pub fn dot_f32_le(q: &[f32], x: &[u8]) -> f32 {
    assert!(x.len() >= 4 * q.len(), "row shorter than the query");
    #[cfg(target_arch = "x86_64")]
    if available() {
        // SAFETY: AVX-512F checked; `x` holds at least q.len()*4 bytes (asserted).
        return unsafe { dot_ptr(q, x.as_ptr()) };
    }
    super::avx2::dot_f32_le(q, x)
}

/// `|q - x|^2` for `x` holding `q.len()` little-endian f32 (any alignment).
pub fn l2sq_f32_le(q: &[f32], x: &[u8]) -> f32 {
    assert!(x.len() >= 4 * q.len(), "row shorter than the query");
    #[cfg(target_arch = "x86_64")]
    if available() {
        // SAFETY: AVX-512F checked; `x` holds at least q.len()*4 bytes (asserted).
        return unsafe { l2sq_ptr(q, x.as_ptr()) };
    }
    super::avx2::l2sq_f32_le(q, x)
}

/// # Safety
/// The CPU must support AVX-512F; `m` points to `rows * q.len()` readable f32 (any alignment);
/// `out` holds `rows` floats.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn matvec_ptr(m: *const u8, rows: usize, q: &[f32], out: &mut [f32]) {
    let cols = q.len();
    let body = cols / 16 * 16;
    let mp = m.cast::<f32>();
    let qp = q.as_ptr();
    // SAFETY (every read below): row r < rows and column j < cols keep mp + r*cols + j inside
    // the caller's buffer; unaligned loads accept any alignment.
    let tail = |r: usize| -> f32 {
        (body..cols)
            .map(|j| unsafe { mp.add(r * cols + j).read_unaligned() } * q[j])
            .sum()
    };
    let mut r = 0;
    while r + 4 <= rows {
        let mut acc = [_mm512_setzero_ps(); 4];
        let mut j = 0;
        while j < body {
            let qv = unsafe { _mm512_loadu_ps(qp.add(j)) };
            for (i, a) in acc.iter_mut().enumerate() {
                let mv = unsafe { _mm512_loadu_ps(mp.add((r + i) * cols + j)) };
                *a = _mm512_fmadd_ps(mv, qv, *a);
            }
            j += 16;
        }
        for (i, a) in acc.iter().enumerate() {
            out[r + i] = _mm512_reduce_add_ps(*a) + tail(r + i);
        }
        r += 4;
    }
    while r < rows {
        let mut a = _mm512_setzero_ps();
        let mut j = 0;
        while j < body {
            let qv = unsafe { _mm512_loadu_ps(qp.add(j)) };
            let mv = unsafe { _mm512_loadu_ps(mp.add(r * cols + j)) };
            a = _mm512_fmadd_ps(mv, qv, a);
            j += 16;
        }
        out[r] = _mm512_reduce_add_ps(a) + tail(r);
        r += 1;
    }
}

/// # Safety
/// The CPU must support AVX-512F; `x` points to `q.len()` readable f32 (any alignment).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn dot_ptr(q: &[f32], x: *const u8) -> f32 {
    let n = q.len();
    let xp = x.cast::<f32>();
    let mut a = _mm512_setzero_ps();
    let mut j = 0;
    // SAFETY (every read): j + 16 <= n (or j < n) keeps reads inside both buffers.
    while j + 16 <= n {
        let xv = unsafe { _mm512_loadu_ps(xp.add(j)) };
        let qv = unsafe { _mm512_loadu_ps(q.as_ptr().add(j)) };
        a = _mm512_fmadd_ps(xv, qv, a);
        j += 16;
    }
    let mut s = _mm512_reduce_add_ps(a);
    while j < n {
        s += q[j] * unsafe { xp.add(j).read_unaligned() };
        j += 1;
    }
    s
}

/// # Safety
/// The CPU must support AVX-512F; `x` points to `q.len()` readable f32 (any alignment).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn l2sq_ptr(q: &[f32], x: *const u8) -> f32 {
    let n = q.len();
    let xp = x.cast::<f32>();
    let mut a = _mm512_setzero_ps();
    let mut j = 0;
    // SAFETY (every read): j + 16 <= n (or j < n) keeps reads inside both buffers.
    while j + 16 <= n {
        let d = _mm512_sub_ps(unsafe { _mm512_loadu_ps(q.as_ptr().add(j)) }, unsafe {
            _mm512_loadu_ps(xp.add(j))
        });
        a = _mm512_fmadd_ps(d, d, a);
        j += 16;
    }
    let mut s = _mm512_reduce_add_ps(a);
    while j < n {
        let d = q[j] - unsafe { xp.add(j).read_unaligned() };
        s += d * d;
        j += 1;
    }
    s
}
