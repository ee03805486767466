//! AVX2 + FMA kernels nestdb writes itself: int8 dot products of one query against many rows
//! of codes stored back to back (a partition's codes), matrix-vector products (the query
//! rotation, exact scans), and f32 products against little-endian rows read in place from a
//! segment's Parquet pages (any alignment). Where a per-row library call would cost more than
//! the arithmetic, or the rows are not aligned `f32` slices, simsimd does not fit.
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
            && is_x86_feature_detected!("fma")
            && is_x86_feature_detected!("popcnt")
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
            let n = out.len();
            match q.len() {
                32 => unsafe { dot_i8_rows_lanes::<1, false>(q, rows, n, |r| r, out) },
                64 => unsafe { dot_i8_rows_lanes::<2, false>(q, rows, n, |r| r, out) },
                128 => unsafe { dot_i8_rows_lanes::<4, false>(q, rows, n, |r| r, out) },
                _ => unsafe { dot_i8_rows_avx2(q, rows, out) },
            }
            return;
        }
    }
    super::scalar::dot_i8_rows(q, rows, out);
}

/// Set bits of `words`, counted with the `popcnt` instruction (the baseline x86-64 target
/// lacks it, so plain `count_ones` compiles to shifts and a multiply per word).
pub fn popcount(words: &[u64]) -> u64 {
    #[cfg(target_arch = "x86_64")]
    if available() {
        // SAFETY: AVX2 and POPCNT support were just checked at run time; the function only
        // reads within `words`.
        return unsafe { popcount_popcnt(words) };
    }
    super::scalar::popcount(words)
}

/// # Safety
/// The CPU must support AVX2 and POPCNT.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,popcnt")]
unsafe fn popcount_popcnt(words: &[u64]) -> u64 {
    words.iter().map(|w| u64::from(w.count_ones())).sum()
}

/// `out[i] = dot(q, rows[offs[i] * q.len() ..][..q.len()])`: chosen rows scored in place.
pub fn dot_i8_rows_at(q: &[i8], rows: &[i8], offs: &[u32], out: &mut [i32]) {
    let d = q.len();
    assert!(offs.len() >= out.len(), "fewer offsets than outputs");
    let n_rows = rows.len().checked_div(d).unwrap_or(0);
    assert!(
        offs[..out.len()].iter().all(|&r| (r as usize) < n_rows),
        "row offset past the matrix"
    );
    #[cfg(target_arch = "x86_64")]
    {
        if available() {
            let n = out.len();
            let at = |r: usize| offs[r] as usize;
            // SAFETY (all calls): AVX2 support was just checked at run time; every offset was
            // checked above to name a whole row inside `rows`, and the functions write only
            // within `out`.
            match d {
                32 => unsafe { dot_i8_rows_lanes::<1, true>(q, rows, n, at, out) },
                64 => unsafe { dot_i8_rows_lanes::<2, true>(q, rows, n, at, out) },
                128 => unsafe { dot_i8_rows_lanes::<4, true>(q, rows, n, at, out) },
                _ => {
                    for (i, o) in out.iter_mut().enumerate() {
                        let r = at(i);
                        // SAFETY: AVX2 checked above; the slice is one whole row of `rows`.
                        unsafe {
                            dot_i8_rows_avx2(q, &rows[r * d..(r + 1) * d], std::slice::from_mut(o))
                        }
                    }
                }
            }
            return;
        }
    }
    super::scalar::dot_i8_rows_at(q, rows, offs, out);
}

/// Rows scattered through memory are requested this many rows ahead of their scoring
/// ([`dot_i8_rows_lanes`] with `PREFETCH`): the hardware prefetcher follows contiguous rows,
/// not a list of offsets.
const PREFETCH_AHEAD: usize = 16;

/// Rows of exactly `L * 32` bytes, four rows per iteration (independent accumulators, one
/// horizontal reduction for the four): `out[i]` scores row `row(i)`, for `i < n`. With
/// `PREFETCH`, the rows [`PREFETCH_AHEAD`] ahead are prefetched (scattered rows).
///
/// # Safety
/// The CPU must support AVX2, and `row(i)` must name a whole row inside `rows` for every
/// `i < n` (checked for the identity mapping; callers with other mappings check it).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn dot_i8_rows_lanes<const L: usize, const PREFETCH: bool>(
    q: &[i8],
    rows: &[i8],
    n: usize,
    row: impl Fn(usize) -> usize,
    out: &mut [i32],
) {
    let d = L * 32;
    assert_eq!(q.len(), d);
    assert_eq!(n, out.len());
    assert!(
        rows.len() >= (0..n).map(&row).max().map_or(0, |m| (m + 1) * d),
        "a row past the matrix"
    );
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
            // SAFETY: r < n, and rows holds (row(r) + 1) * d bytes (asserted on entry), so
            // bytes row(r)*d + l*32 .. +32 are inside.
            let x = unsafe { _mm256_loadu_si256(p.add(row(r) * d + l * 32).cast()) };
            let p16 = _mm256_maddubs_epi16(qa[l], _mm256_sign_epi8(x, qs[l]));
            acc = _mm256_add_epi32(acc, _mm256_madd_epi16(p16, ones));
        }
        acc
    };
    let mut r = 0;
    while r + 4 <= n {
        if PREFETCH && r + PREFETCH_AHEAD + 4 <= n {
            for i in r + PREFETCH_AHEAD..r + PREFETCH_AHEAD + 4 {
                for line in (0..d).step_by(64) {
                    // SAFETY: i < n, so row(i) is a whole row inside `rows` (asserted on
                    // entry) and the byte at `line < d` is inside it; a prefetch reads nothing.
                    unsafe { _mm_prefetch(p.add(row(i) * d + line).cast(), _MM_HINT_T0) };
                }
            }
        }
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

/// `out[r] = m[r] . x` for a `rows x cols` row-major matrix; any shape.
pub fn matvec(m: &[f32], rows: usize, cols: usize, x: &[f32], out: &mut [f32]) {
    assert!(
        m.len() >= rows * cols && x.len() >= cols && out.len() >= rows,
        "matvec shapes"
    );
    #[cfg(target_arch = "x86_64")]
    if available() {
        // SAFETY: AVX2 and FMA were just checked; `m` holds rows*cols floats (asserted), so
        // every row read is in bounds, and the pointer is valid for the call.
        unsafe { matvec_ptr(m.as_ptr().cast(), rows, &x[..cols], out) };
        return;
    }
    super::scalar::matvec(m, rows, cols, x, out)
}

/// `out[r] = q . row r` for `n` rows of `q.len()` little-endian f32 stored back to back.
pub fn matvec_le(rows: &[u8], n: usize, q: &[f32], out: &mut [f32]) {
    assert!(
        rows.len() >= n * q.len() * 4 && out.len() >= n,
        "matvec_le shapes"
    );
    #[cfg(target_arch = "x86_64")]
    if available() {
        // SAFETY: AVX2 and FMA were just checked; `rows` holds n*q.len()*4 bytes (asserted);
        // the kernel uses unaligned loads only. x86 is little-endian, so the bytes are the f32s.
        unsafe { matvec_ptr(rows.as_ptr(), n, q, out) };
        return;
    }
    super::scalar::matvec_le(rows, n, q, out)
}

/// `q . x` for `x` holding `q.len()` little-endian f32 (any alignment).
pub fn dot_f32_le(q: &[f32], x: &[u8]) -> f32 {
    assert!(x.len() >= 4 * q.len(), "row shorter than the query");
    #[cfg(target_arch = "x86_64")]
    if available() {
        // SAFETY: AVX2/FMA checked; `x` holds at least q.len()*4 bytes (asserted).
        return unsafe { dot_ptr(q, x.as_ptr()) };
    }
    super::scalar::dot_f32_le(q, x)
}

/// `|q - x|^2` for `x` holding `q.len()` little-endian f32 (any alignment).
pub fn l2sq_f32_le(q: &[f32], x: &[u8]) -> f32 {
    assert!(x.len() >= 4 * q.len(), "row shorter than the query");
    #[cfg(target_arch = "x86_64")]
    if available() {
        // SAFETY: AVX2/FMA checked; `x` holds at least q.len()*4 bytes (asserted).
        return unsafe { l2sq_ptr(q, x.as_ptr()) };
    }
    super::scalar::l2sq_f32_le(q, x)
}

/// Rows of `q.len()` f32 starting at byte pointer `m`, four at a time.
///
/// # Safety
/// The CPU must support AVX2 and FMA; `m` must point to `rows * q.len()` readable f32 (any
/// alignment); `out` must hold `rows` floats.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn matvec_ptr(m: *const u8, rows: usize, q: &[f32], out: &mut [f32]) {
    let cols = q.len();
    let body = cols / 8 * 8;
    let mp = m.cast::<f32>();
    let qp = q.as_ptr();
    // SAFETY (every read below): row r < rows, column j < cols, so the f32 at mp + r*cols + j
    // is inside the caller's buffer; `_mm256_loadu_ps` and `read_unaligned` accept any
    // alignment.
    let tail = |r: usize| -> f32 {
        (body..cols)
            .map(|j| unsafe { mp.add(r * cols + j).read_unaligned() } * q[j])
            .sum()
    };
    let mut r = 0;
    while r + 4 <= rows {
        let mut acc = [_mm256_setzero_ps(); 4];
        let mut j = 0;
        while j < body {
            let qv = unsafe { _mm256_loadu_ps(qp.add(j)) };
            for (i, a) in acc.iter_mut().enumerate() {
                let mv = unsafe { _mm256_loadu_ps(mp.add((r + i) * cols + j)) };
                *a = _mm256_fmadd_ps(mv, qv, *a);
            }
            j += 8;
        }
        for (i, a) in acc.iter().enumerate() {
            out[r + i] = hsum_ps(*a) + tail(r + i);
        }
        r += 4;
    }
    while r < rows {
        let mut a = _mm256_setzero_ps();
        let mut j = 0;
        while j < body {
            let qv = unsafe { _mm256_loadu_ps(qp.add(j)) };
            let mv = unsafe { _mm256_loadu_ps(mp.add(r * cols + j)) };
            a = _mm256_fmadd_ps(mv, qv, a);
            j += 8;
        }
        out[r] = hsum_ps(a) + tail(r);
        r += 1;
    }
}

/// # Safety
/// The CPU must support AVX2 and FMA; `x` must point to `q.len()` readable f32 (any alignment).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn dot_ptr(q: &[f32], x: *const u8) -> f32 {
    let n = q.len();
    let xp = x.cast::<f32>();
    let (mut a0, mut a1) = (_mm256_setzero_ps(), _mm256_setzero_ps());
    let mut j = 0;
    // SAFETY (every read): j + 16 <= n (or j + 8 <= n, or j < n) keeps reads inside both.
    while j + 16 <= n {
        a0 = _mm256_fmadd_ps(
            unsafe { _mm256_loadu_ps(xp.add(j)) },
            unsafe { _mm256_loadu_ps(q.as_ptr().add(j)) },
            a0,
        );
        a1 = _mm256_fmadd_ps(
            unsafe { _mm256_loadu_ps(xp.add(j + 8)) },
            unsafe { _mm256_loadu_ps(q.as_ptr().add(j + 8)) },
            a1,
        );
        j += 16;
    }
    while j + 8 <= n {
        a0 = _mm256_fmadd_ps(
            unsafe { _mm256_loadu_ps(xp.add(j)) },
            unsafe { _mm256_loadu_ps(q.as_ptr().add(j)) },
            a0,
        );
        j += 8;
    }
    let mut s = hsum_ps(_mm256_add_ps(a0, a1));
    while j < n {
        s += q[j] * unsafe { xp.add(j).read_unaligned() };
        j += 1;
    }
    s
}

/// # Safety
/// The CPU must support AVX2 and FMA; `x` must point to `q.len()` readable f32 (any alignment).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn l2sq_ptr(q: &[f32], x: *const u8) -> f32 {
    let n = q.len();
    let xp = x.cast::<f32>();
    let mut a = _mm256_setzero_ps();
    let mut j = 0;
    // SAFETY (every read): j + 8 <= n (or j < n) keeps reads inside both.
    while j + 8 <= n {
        let d = _mm256_sub_ps(unsafe { _mm256_loadu_ps(q.as_ptr().add(j)) }, unsafe {
            _mm256_loadu_ps(xp.add(j))
        });
        a = _mm256_fmadd_ps(d, d, a);
        j += 8;
    }
    let mut s = hsum_ps(a);
    while j < n {
        let d = q[j] - unsafe { xp.add(j).read_unaligned() };
        s += d * d;
        j += 1;
    }
    s
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn hsum_ps(v: __m256) -> f32 {
    let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    let s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 0b01));
    _mm_cvtss_f32(s)
}
