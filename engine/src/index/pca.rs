//! PCA rotation with faer: eigenvectors of the covariance, largest variance first.

use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, MatRef, Par, Side};

use super::IndexError;

/// A fitted PCA.
#[derive(Clone, Debug)]
pub struct Pca {
    /// `d x d` row-major; row `i` is the `i`-th principal direction (`y = R x`).
    pub rotation: Vec<f32>,
    /// Eigenvalues (variances along each direction), descending.
    pub eigenvalues: Vec<f64>,
    /// Variance of each raw dimension.
    pub raw_variance: Vec<f64>,
}

impl Pca {
    /// Fraction of the total variance in the first `m` raw dimensions.
    pub fn raw_fraction(&self, m: usize) -> f32 {
        fraction(&self.raw_variance, m)
    }

    /// Fraction of the total variance in the first `m` principal directions.
    pub fn rotated_fraction(&self, m: usize) -> f32 {
        fraction(&self.eigenvalues, m)
    }
}

fn fraction(v: &[f64], m: usize) -> f32 {
    let total: f64 = v.iter().sum();
    if total <= 0.0 {
        return 1.0;
    }
    (v[..m.min(v.len())].iter().sum::<f64>() / total) as f32
}

/// Fits a PCA on `x` (`n x d`, row-major).
pub fn fit(x: &[f32], n: usize, d: usize) -> Result<Pca, IndexError> {
    let xr = MatRef::from_row_major_slice(x, n, d);
    let mut g = Mat::<f32>::zeros(d, d);
    matmul(
        g.as_mut(),
        Accum::Replace,
        xr.transpose(),
        xr,
        1.0f32,
        Par::rayon(0),
    );
    let mut mean = vec![0f64; d];
    for row in x.chunks_exact(d) {
        for (m, &v) in mean.iter_mut().zip(row) {
            *m += v as f64;
        }
    }
    let nf = n.max(1) as f64;
    mean.iter_mut().for_each(|m| *m /= nf);
    let cov = Mat::<f64>::from_fn(d, d, |i, j| g[(i, j)] as f64 / nf - mean[i] * mean[j]);
    let raw_variance = (0..d).map(|i| cov[(i, i)].max(0.0)).collect();
    let evd = cov
        .self_adjoint_eigen(Side::Lower)
        .map_err(|e| IndexError::Pca(format!("{e:?}")))?;
    let s: Vec<f64> = evd.S().column_vector().iter().copied().collect();
    let u = evd.U();
    // Ascending eigenvalues: the largest is the last column.
    let mut rotation = vec![0f32; d * d];
    let mut eigenvalues = Vec::with_capacity(d);
    for i in 0..d {
        let col = d - 1 - i;
        eigenvalues.push(s[col].max(0.0));
        for j in 0..d {
            rotation[i * d + j] = u[(j, col)] as f32;
        }
    }
    Ok(Pca {
        rotation,
        eigenvalues,
        raw_variance,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    #[test]
    fn rotation_is_orthogonal_and_preserves_distances() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let (n, d) = (500, 24);
        let x: Vec<f32> = (0..n * d)
            .map(|i| rng.random::<f32>() * (1.0 + (i % d) as f32))
            .collect();
        let p = fit(&x, n, d).unwrap();
        for i in 0..d {
            for j in 0..d {
                let dot: f32 = (0..d)
                    .map(|t| p.rotation[i * d + t] * p.rotation[j * d + t])
                    .sum();
                let want = if i == j { 1.0 } else { 0.0 };
                assert!((dot - want).abs() < 1e-4, "R R^T [{i},{j}] = {dot}");
            }
        }
        assert!(p.eigenvalues.windows(2).all(|w| w[0] >= w[1]));
        assert!(p.rotated_fraction(4) >= p.raw_fraction(4));
    }
}
