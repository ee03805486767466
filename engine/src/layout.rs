//! The space the learned index works in, and the transform into it.
//!
//! Codes are computed from `R * normalize(x)`: unit length under cosine (so cosine distance is
//! `1 - dot`), rotated by the learned index's orthogonal `R` when there is one (so prefixes
//! carry most of the variance). The vectors themselves are stored once, as given, in the
//! segment's Parquet bands; the exact stage scores them against the normalized, unrotated
//! query: an orthogonal rotation preserves dot products and L2 distances, so nothing is lost.

use std::sync::Arc;

use faer::linalg::matmul::matmul;
use faer::{Accum, MatMut, MatRef, Par};
use nestdb_storage::Metric;

use crate::kernels;

/// The vector space of a table version's index.
#[derive(Clone, Debug)]
pub struct Layout {
    /// Full dimension.
    pub dim: usize,
    /// Band ranges `[start, end)`.
    pub bands: Vec<(usize, usize)>,
    /// The table's metric.
    pub metric: Metric,
    /// Orthogonal rotation, `dim x dim` row-major (`y = R x`), if the index learned one.
    pub rotation: Option<Arc<Vec<f32>>>,
}

impl Layout {
    /// Whether stored vectors are normalized to unit length.
    pub fn normalized(&self) -> bool {
        self.metric == Metric::Cosine
    }

    /// Transforms rows of `x` (`n * dim`, row-major) in place: normalize, then rotate.
    pub fn transform_rows(&self, x: &mut [f32]) {
        if self.normalized() {
            for row in x.chunks_exact_mut(self.dim) {
                normalize(row);
            }
        }
        self.rotate_rows(x);
    }

    /// The first `width` coordinates of each transformed row of `x` (`n * dim`, row-major):
    /// `n * width` values, the prefix of what [`Layout::transform_rows`] gives. Codes and
    /// partitions read only a prefix of the rotated vector, so the rows of `R` past it are not
    /// multiplied (a third of the work for 384 dimensions coded to 256). The same sums, but
    /// the narrower product may block them differently: a value can differ from the full
    /// product's in its last bit.
    pub fn transform_prefix(&self, x: &[f32], width: usize) -> Vec<f32> {
        let d = self.dim.max(1);
        let width = width.clamp(1, d);
        let mut unit;
        let src = if self.normalized() {
            unit = x.to_vec();
            for row in unit.chunks_exact_mut(d) {
                normalize(row);
            }
            &unit[..]
        } else {
            x
        };
        match &self.rotation {
            Some(r) => rotated(r, src, d, width),
            None => src
                .chunks_exact(d)
                .flat_map(|row| row[..width].iter().copied())
                .collect(),
        }
    }

    /// Applies only the rotation (if any) to rows of `x` in place.
    pub fn rotate_rows(&self, x: &mut [f32]) {
        if let Some(r) = &self.rotation {
            let out = rotated(r, x, self.dim, self.dim);
            x.copy_from_slice(&out);
        }
    }

    /// Transforms one query vector.
    pub fn transform_query(&self, q: &[f32]) -> Vec<f32> {
        let mut v = q.to_vec();
        if self.normalized() {
            normalize(&mut v);
        }
        match &self.rotation {
            Some(r) => matvec(r, self.dim, self.dim, &v),
            None => v,
        }
    }
}

/// The first `width` coordinates of `R y` for each row `y` of `x` (`n x d`, row-major; `R` is
/// `d x d`, row-major): `n x width`, one matrix product with the first `width` rows of `R`.
fn rotated(r: &[f32], x: &[f32], d: usize, width: usize) -> Vec<f32> {
    let n = x.len() / d;
    let mut out = vec![0f32; n * width];
    matmul(
        MatMut::from_row_major_slice_mut(&mut out, n, width),
        Accum::Replace,
        MatRef::from_row_major_slice(x, n, d),
        MatRef::from_row_major_slice(&r[..width * d], width, d).transpose(),
        1.0f32,
        if n >= 256 { Par::rayon(0) } else { Par::Seq },
    );
    out
}

/// `m x` for a `rows x cols` row-major matrix `m`.
pub fn matvec(m: &[f32], rows: usize, cols: usize, x: &[f32]) -> Vec<f32> {
    let mut out = vec![0f32; rows];
    (kernels::get().matvec)(m, rows, cols, x, &mut out);
    out
}

/// Scales `v` to unit length (no-op for the zero vector).
pub fn normalize(v: &mut [f32]) {
    let n = (kernels::get().dot_f32)(v, v).sqrt();
    if n > 0.0 {
        v.iter_mut().for_each(|x| *x /= n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use rand::{Rng, SeedableRng};

    /// Seeded values in [-1, 1).
    fn values(n: usize, seed: u64) -> Vec<f32> {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        (0..n).map(|_| rng.random::<f32>() * 2.0 - 1.0).collect()
    }

    /// Codes and partitions read a prefix of the transformed rows: the prefix transform must be
    /// what the full transform gives there, with and without a rotation, normalized or not,
    /// on the sequential and the parallel matrix product.
    #[test]
    fn transform_prefix_is_the_prefix_of_transform_rows() {
        let dim = 24;
        for metric in [Metric::Cosine, Metric::L2] {
            for rotation in [None, Some(Arc::new(values(dim * dim, 7)))] {
                let layout = Layout {
                    dim,
                    bands: vec![(0, dim)],
                    metric,
                    rotation,
                };
                for n in [5, 300] {
                    let x = values(n * dim, n as u64);
                    let mut full = x.clone();
                    layout.transform_rows(&mut full);
                    for width in [1, 7, dim] {
                        let got = layout.transform_prefix(&x, width);
                        assert_eq!(got.len(), n * width);
                        for r in 0..n {
                            for j in 0..width {
                                let (a, b) = (got[r * width + j], full[r * dim + j]);
                                assert!(
                                    (a - b).abs() <= 1e-5 * (1.0 + b.abs()),
                                    "{metric:?} n {n} width {width} row {r} dim {j}: {a} vs {b}"
                                );
                            }
                        }
                    }
                }
            }
        }
    }
}
