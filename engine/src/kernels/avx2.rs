//! AVX2 kernels nestdb writes itself: int8 dot products of one query against many rows of
//! codes stored back to back (a partition's coarse codes), where a per-row library call would
//! cost more than the arithmetic.
//!
//! `maddubs` multiplies unsigned by signed bytes, so the query's magnitudes go in as unsigned
//! and its signs are moved onto the row (`sign`): `|q| * sign(x, q) = q * x`. Pairs of products
//! stay within i16 (`2 * 127 * 127 < 32767`), since codes are clamped to -127..=127.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

/// Whether this CPU runs the kernels of this module.
pub fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        is_x86_feature_detected!("avx2")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// `out[r] = dot(q, rows[r * q.len() .. (r + 1) * q.len()])` for every row; any length.
pub fn dot_i8_rows(q: &[i8], rows: &[i8], out: &mut [i32]) {
    #[cfg(target_arch = "x86_64")]
    {
        if available() {
            // SAFETY (all four calls): AVX2 support was just checked at run time; the
            // functions read only within `q` and `rows` and write within `out` (lengths
            // asserted inside).
            match q.len() {
                32 => unsafe { dot_i8_rows_lanes::<1>(q, rows, out) },
                64 => unsafe { dot_i8_rows_lanes::<2>(q, rows, out) },
                128 => unsafe { dot_i8_rows_lanes::<4>(q, rows, out) },
                _ => unsafe { dot_i8_rows_avx2(q, rows, out) },
            }
            return;
        }
    }
    super::scalar::dot_i8_rows(q, rows, out);
}

/// Rows of exactly `L * 32` bytes, four rows per iteration (independent accumulators, one
/// horizontal reduction for the four).
///
/// # Safety
/// The CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn dot_i8_rows_lanes<const L: usize>(q: &[i8], rows: &[i8], out: &mut [i32]) {
    let d = L * 32;
    assert_eq!(q.len(), d);
    let n = out.len();
    assert!(rows.len() >= n * d, "rows shorter than out.len() * q.len()");
    let mut qa = [_mm256_setzero_si256(); L];
    let mut qs = [_mm256_setzero_si256(); L];
    for l in 0..L {
        // SAFETY: l < L, so bytes l*32 .. l*32+32 are inside q (length L*32).
        let v = unsafe { _mm256_loadu_si256(q.as_ptr().add(l * 32).cast()) };
        qa[l] = _mm256_abs_epi8(v);
        qs[l] = v;
    }
    let ones = _mm256_set1_epi16(1);
    let p = rows.as_ptr();
    let row_dot = |r: usize| -> __m256i {
        let mut acc = _mm256_setzero_si256();
        for l in 0..L {
            // SAFETY: r < n and rows holds n*d bytes, so bytes r*d + l*32 .. +32 are inside.
            let x = unsafe { _mm256_loadu_si256(p.add(r * d + l * 32).cast()) };
            let p16 = _mm256_maddubs_epi16(qa[l], _mm256_sign_epi8(x, qs[l]));
            acc = _mm256_add_epi32(acc, _mm256_madd_epi16(p16, ones));
        }
        acc
    };
    let mut r = 0;
    while r + 4 <= n {
        let (a0, a1, a2, a3) = (row_dot(r), row_dot(r + 1), row_dot(r + 2), row_dot(r + 3));
        let h = _mm256_hadd_epi32(_mm256_hadd_epi32(a0, a1), _mm256_hadd_epi32(a2, a3));
        let s4 = _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
        // SAFETY: r + 4 <= n = out.len(), so the 16 bytes at out[r..r+4] are inside `out`.
        unsafe { _mm_storeu_si128(out.as_mut_ptr().add(r).cast(), s4) };
        r += 4;
    }
    while r < n {
        out[r] = hsum(row_dot(r));
        r += 1;
    }
}

/// # Safety
/// The CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn dot_i8_rows_avx2(q: &[i8], rows: &[i8], out: &mut [i32]) {
    let d = q.len();
    let n = out.len();
    assert!(rows.len() >= n * d, "rows shorter than out.len() * q.len()");
    let lanes = d / 32;
    let tail = d - lanes * 32;
    // Query magnitudes (unsigned) and signs, 32 bytes at a time.
    let mut qa = [_mm256_setzero_si256(); 16];
    let mut qs = [_mm256_setzero_si256(); 16];
    let lanes_kept = lanes.min(16);
    for (l, (a, s)) in qa
        .iter_mut()
        .zip(qs.iter_mut())
        .enumerate()
        .take(lanes_kept)
    {
        // SAFETY: l < lanes, so bytes l*32 .. l*32+32 are inside q.
        let v = unsafe { _mm256_loadu_si256(q.as_ptr().add(l * 32).cast()) };
        *a = _mm256_abs_epi8(v);
        *s = v;
    }
    let ones = _mm256_set1_epi16(1);
    for (r, o) in out.iter_mut().enumerate() {
        let row = &rows[r * d..(r + 1) * d];
        let mut acc = _mm256_setzero_si256();
        for l in 0..lanes_kept {
            // SAFETY: l < lanes, so bytes l*32 .. l*32+32 are inside `row` (length d).
            let x = unsafe { _mm256_loadu_si256(row.as_ptr().add(l * 32).cast()) };
            let xs = _mm256_sign_epi8(x, qs[l]);
            let p16 = _mm256_maddubs_epi16(qa[l], xs);
            acc = _mm256_add_epi32(acc, _mm256_madd_epi16(p16, ones));
        }
        let mut sum = hsum(acc);
        for j in lanes_kept * 32..d - tail {
            sum += q[j] as i32 * row[j] as i32;
        }
        for j in d - tail..d {
            sum += q[j] as i32 * row[j] as i32;
        }
        *o = sum;
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn hsum(v: __m256i) -> i32 {
    let lo = _mm256_castsi256_si128(v);
    let hi = _mm256_extracti128_si256(v, 1);
    let s = _mm_add_epi32(lo, hi);
    let s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0b01_00_11_10));
    let s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0b10_11_00_01));
    _mm_cvtsi128_si32(s)
}

/// `out = m x` for a `rows x cols` row-major f32 matrix (the query rotation and the partition
/// probe); any shape.
pub fn matvec(m: &[f32], rows: usize, cols: usize, x: &[f32], out: &mut [f32]) {
    assert!(
        m.len() >= rows * cols && x.len() >= cols && out.len() >= rows,
        "matvec shapes"
    );
    #[cfg(target_arch = "x86_64")]
    {
        if is_x86_feature_detected!("avx512f") {
            // SAFETY: AVX-512F was just checked; shapes asserted above bound every access.
            unsafe { matvec_avx512(m, rows, cols, x, out) };
            return;
        }
        if available() && is_x86_feature_detected!("fma") {
            // SAFETY: AVX2 and FMA were just checked; shapes asserted above bound every access.
            unsafe { matvec_avx2(m, rows, cols, x, out) };
            return;
        }
    }
    for (r, o) in out.iter_mut().take(rows).enumerate() {
        *o = m[r * cols..(r + 1) * cols]
            .iter()
            .zip(x)
            .map(|(a, b)| a * b)
            .sum();
    }
}

/// # Safety
/// The CPU must support AVX2 and FMA; `m` holds `rows * cols`, `x` `cols`, `out` `rows` floats.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn matvec_avx2(m: &[f32], rows: usize, cols: usize, x: &[f32], out: &mut [f32]) {
    let body = cols / 8 * 8;
    let mp = m.as_ptr();
    let xp = x.as_ptr();
    let dot_tail = |r: usize| -> f32 { (body..cols).map(|j| m[r * cols + j] * x[j]).sum() };
    let mut r = 0;
    while r + 4 <= rows {
        let mut acc = [_mm256_setzero_ps(); 4];
        let mut j = 0;
        while j < body {
            // SAFETY: j + 8 <= body <= cols, so x[j..j+8] and row (r+i)'s [j..j+8] are in bounds.
            let xv = unsafe { _mm256_loadu_ps(xp.add(j)) };
            for (i, a) in acc.iter_mut().enumerate() {
                let mv = unsafe { _mm256_loadu_ps(mp.add((r + i) * cols + j)) };
                *a = _mm256_fmadd_ps(mv, xv, *a);
            }
            j += 8;
        }
        for (i, a) in acc.iter().enumerate() {
            out[r + i] = hsum_ps(*a) + dot_tail(r + i);
        }
        r += 4;
    }
    while r < rows {
        let mut a = _mm256_setzero_ps();
        let mut j = 0;
        while j < body {
            // SAFETY: as above.
            let xv = unsafe { _mm256_loadu_ps(xp.add(j)) };
            let mv = unsafe { _mm256_loadu_ps(mp.add(r * cols + j)) };
            a = _mm256_fmadd_ps(mv, xv, a);
            j += 8;
        }
        out[r] = hsum_ps(a) + dot_tail(r);
        r += 1;
    }
}

/// The AVX-512 twin of `matvec_avx2` (16 lanes, 4 rows at a time).
///
/// # Safety
/// The CPU must support AVX-512F; `m` holds `rows * cols`, `x` `cols`, `out` `rows` floats.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn matvec_avx512(m: &[f32], rows: usize, cols: usize, x: &[f32], out: &mut [f32]) {
    let body = cols / 16 * 16;
    let mp = m.as_ptr();
    let xp = x.as_ptr();
    let dot_tail = |r: usize| -> f32 { (body..cols).map(|j| m[r * cols + j] * x[j]).sum() };
    let mut r = 0;
    while r + 4 <= rows {
        let mut acc = [_mm512_setzero_ps(); 4];
        let mut j = 0;
        while j < body {
            // SAFETY: j + 16 <= body <= cols keeps x[j..j+16] and each row's [j..j+16] in bounds.
            let xv = unsafe { _mm512_loadu_ps(xp.add(j)) };
            for (i, a) in acc.iter_mut().enumerate() {
                let mv = unsafe { _mm512_loadu_ps(mp.add((r + i) * cols + j)) };
                *a = _mm512_fmadd_ps(mv, xv, *a);
            }
            j += 16;
        }
        for (i, a) in acc.iter().enumerate() {
            out[r + i] = _mm512_reduce_add_ps(*a) + dot_tail(r + i);
        }
        r += 4;
    }
    while r < rows {
        let mut a = _mm512_setzero_ps();
        let mut j = 0;
        while j < body {
            // SAFETY: as above.
            let xv = unsafe { _mm512_loadu_ps(xp.add(j)) };
            let mv = unsafe { _mm512_loadu_ps(mp.add(r * cols + j)) };
            a = _mm512_fmadd_ps(mv, xv, a);
            j += 16;
        }
        out[r] = _mm512_reduce_add_ps(a) + dot_tail(r);
        r += 1;
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn hsum_ps(v: __m256) -> f32 {
    let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    let s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 0b01));
    _mm_cvtss_f32(s)
}
