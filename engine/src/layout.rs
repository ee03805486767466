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

    /// Applies only the rotation (if any) to rows of `x` in place.
    pub fn rotate_rows(&self, x: &mut [f32]) {
        let d = self.dim;
        if let Some(r) = &self.rotation {
            let n = x.len() / d;
            let mut out = vec![0f32; x.len()];
            let xr = MatRef::from_row_major_slice(x, n, d);
            let rt = MatRef::from_row_major_slice(r, d, d).transpose();
            matmul(
                MatMut::from_row_major_slice_mut(&mut out, n, d),
                Accum::Replace,
                xr,
                rt,
                1.0f32,
                if n >= 256 { Par::rayon(0) } else { Par::Seq },
            );
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
