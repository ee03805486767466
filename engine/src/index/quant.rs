//! Quantizers of the rotated prefix: int8 with learned per-dimension ranges (over the mid
//! prefix; the coarse stage uses its first dims, the mid stage the rest), and 1-bit signs.
//!
//! int8: `x_j ~ center_j + step_j * code_j`, `code_j` in -127..=127, the range per dimension
//! learned from the data (0.1% and 99.9% quantiles, so outliers do not waste resolution).
//! An inner product with a float query is then `sum q_j center_j + sum (q_j step_j) code_j`; the
//! first term is the same for every row and the second is an int8 dot product once the
//! weighted query is itself quantized ([`QueryCodes`]).
//!
//! Signs: bit `j` of a row is `x_j > center_j`, packed LSB-first; Hamming distance between the
//! query's and a row's bits estimates their angle around the center.

use crate::kernels;

/// Learned per-dimension int8 ranges.
#[derive(Clone, Debug, PartialEq)]
pub struct Int8Quantizer {
    /// Center of each dimension's range.
    pub center: Vec<f32>,
    /// Step of each dimension (range / 254).
    pub step: Vec<f32>,
}

impl Int8Quantizer {
    /// Learns ranges from `x` (`n x dims`, row-major).
    pub fn fit(x: &[f32], dims: usize) -> Int8Quantizer {
        Self::fit_prefix(x, dims, dims)
    }

    /// [`Int8Quantizer::fit`] on the first `dims` of each row of `x` (rows of `stride`
    /// values), without copying the prefixes out.
    pub fn fit_prefix(x: &[f32], stride: usize, dims: usize) -> Int8Quantizer {
        let n = x.len() / stride;
        let mut center = Vec::with_capacity(dims);
        let mut step = Vec::with_capacity(dims);
        let mut col = Vec::with_capacity(n);
        for j in 0..dims {
            col.clear();
            col.extend(x.chunks_exact(stride).map(|r| r[j]));
            // the 0.1% and 99.9% order statistics (selection, not a full sort)
            let (i_lo, i_hi) = (
                (n as f64 * 0.001) as usize,
                ((n as f64 * 0.999) as usize).min(n - 1),
            );
            let hi = *col.select_nth_unstable_by(i_hi, f32::total_cmp).1;
            let lo = *col[..=i_hi].select_nth_unstable_by(i_lo, f32::total_cmp).1;
            center.push((lo + hi) / 2.0);
            step.push(((hi - lo) / 254.0).max(1e-12));
        }
        Int8Quantizer { center, step }
    }

    /// Number of dimensions.
    pub fn dims(&self) -> usize {
        self.center.len()
    }

    /// Encodes the first `dims()` values of `x` into `out`.
    pub fn encode(&self, x: &[f32], out: &mut [i8]) {
        self.encode_range(x, 0..self.dims(), out)
    }

    /// Encodes dims `range` of `x` into `out` (`range.len()` codes).
    pub fn encode_range(&self, x: &[f32], range: std::ops::Range<usize>, out: &mut [i8]) {
        for (o, j) in out.iter_mut().zip(range) {
            let c = ((x[j] - self.center[j]) / self.step[j]).round();
            *o = c.clamp(-127.0, 127.0) as i8;
        }
    }

    /// Packs the sign bits of the first `bits` values of `x` into `out` (`bits / 8` rounded up).
    pub fn encode_bits(&self, x: &[f32], bits: usize, out: &mut [u8]) {
        out.iter_mut().for_each(|b| *b = 0);
        for j in 0..bits {
            let c = if j < self.dims() { self.center[j] } else { 0.0 };
            if x[j] > c {
                out[j / 8] |= 1 << (j % 8);
            }
        }
    }

    /// Serializes as `[center..., step...]`.
    pub fn to_floats(&self) -> Vec<f32> {
        [self.center.as_slice(), self.step.as_slice()].concat()
    }

    /// Reads what [`Int8Quantizer::to_floats`] wrote.
    pub fn from_floats(f: &[f32]) -> Int8Quantizer {
        let d = f.len() / 2;
        Int8Quantizer {
            center: f[..d].to_vec(),
            step: f[d..].to_vec(),
        }
    }
}

/// A query prepared for the int8 kernel.
#[derive(Clone, Debug)]
pub struct QueryCodes {
    /// The quantized weighted query `q_j * step_j`.
    pub codes: Vec<i8>,
    /// Scale back from the int8 dot product to float.
    pub scale: f32,
    /// `sum q_j center_j`.
    pub offset: f32,
}

impl QueryCodes {
    /// Prepares the first `quant.dims()` values of query `q`.
    pub fn new(quant: &Int8Quantizer, q: &[f32]) -> QueryCodes {
        Self::range(quant, q, 0..quant.dims())
    }

    /// Prepares dims `range` of query `q` (against rows' codes of the same dims).
    pub fn range(quant: &Int8Quantizer, q: &[f32], range: std::ops::Range<usize>) -> QueryCodes {
        let w: Vec<f32> = range.clone().map(|j| q[j] * quant.step[j]).collect();
        let max = w.iter().fold(0f32, |m, v| m.max(v.abs()));
        let scale = if max > 0.0 { max / 127.0 } else { 1.0 };
        let codes = w
            .iter()
            .map(|v| (v / scale).round().clamp(-127.0, 127.0) as i8)
            .collect();
        let offset = range.map(|j| q[j] * quant.center[j]).sum();
        QueryCodes {
            codes,
            scale,
            offset,
        }
    }

    /// Approximate inner product of the query with a row's codes.
    #[inline]
    pub fn dot(&self, row: &[i8]) -> f32 {
        self.offset + self.scale * (kernels::get().dot_i8)(&self.codes, row)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn int8_dot_is_close() {
        let dims = 16;
        let x: Vec<f32> = (0..dims * 200)
            .map(|i| ((i * 37 % 101) as f32 / 50.0) - 1.0)
            .collect();
        let q8 = Int8Quantizer::fit(&x, dims);
        let q: Vec<f32> = (0..dims).map(|j| (j as f32 / 8.0) - 1.0).collect();
        let qc = QueryCodes::new(&q8, &q);
        let mut codes = vec![0i8; dims];
        for row in x.chunks_exact(dims).take(20) {
            q8.encode(row, &mut codes);
            let exact: f32 = row.iter().zip(&q).map(|(a, b)| a * b).sum();
            assert!(
                (qc.dot(&codes) - exact).abs() < 0.05,
                "{} vs {exact}",
                qc.dot(&codes)
            );
        }
    }
}
