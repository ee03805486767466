//! k-means on the coarse prefix (Lloyd iterations, matrix-multiply assignment with faer).
//! Spherical (unit centroids, inner product) for cosine and dot tables, Euclidean for l2.

use faer::linalg::matmul::matmul;
use faer::{Accum, MatMut, MatRef, Par};
use rand::seq::index::sample;
use rand::{Rng, SeedableRng};
use rayon::prelude::*;

use crate::layout::normalize;

/// Rows assigned per block (bounds the score matrix to `BLOCK x k`).
const BLOCK: usize = 4096;

/// Nearest centroid of each row of `x` (`n x d`): largest inner product when `spherical`,
/// smallest L2 otherwise.
pub fn assign(x: &[f32], d: usize, centroids: &[f32], spherical: bool) -> Vec<u32> {
    let k = centroids.len() / d;
    let n = x.len() / d;
    let norms: Vec<f32> = centroids
        .chunks_exact(d)
        .map(|c| c.iter().map(|v| v * v).sum())
        .collect();
    let c = MatRef::from_row_major_slice(centroids, k, d);
    (0..n)
        .step_by(BLOCK)
        .collect::<Vec<_>>()
        .into_par_iter()
        .flat_map_iter(|start| {
            let end = (start + BLOCK).min(n);
            let rows = end - start;
            let xb = MatRef::from_row_major_slice(&x[start * d..end * d], rows, d);
            let mut s = vec![0f32; rows * k];
            matmul(
                MatMut::from_row_major_slice_mut(&mut s, rows, k),
                Accum::Replace,
                xb,
                c.transpose(),
                1.0f32,
                Par::Seq,
            );
            (0..rows)
                .map(|r| {
                    let row = &s[r * k..(r + 1) * k];
                    let mut best = 0usize;
                    let mut best_v = f32::NEG_INFINITY;
                    for (j, &dot) in row.iter().enumerate() {
                        let v = if spherical { dot } else { 2.0 * dot - norms[j] };
                        if v > best_v {
                            best_v = v;
                            best = j;
                        }
                    }
                    best as u32
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Trains `k` centroids on `x` (`n x d`) with `iters` Lloyd iterations, seeded.
pub fn train(x: &[f32], d: usize, k: usize, iters: usize, spherical: bool, seed: u64) -> Vec<f32> {
    let n = x.len() / d;
    let k = k.clamp(1, n.max(1));
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut centroids: Vec<f32> = sample(&mut rng, n, k)
        .iter()
        .flat_map(|i| x[i * d..(i + 1) * d].iter().copied())
        .collect();
    for _ in 0..iters {
        let a = assign(x, d, &centroids, spherical);
        let mut sums = vec![0f64; k * d];
        let mut counts = vec![0usize; k];
        for (i, &c) in a.iter().enumerate() {
            counts[c as usize] += 1;
            for (s, &v) in sums[c as usize * d..(c as usize + 1) * d]
                .iter_mut()
                .zip(&x[i * d..(i + 1) * d])
            {
                *s += v as f64;
            }
        }
        for j in 0..k {
            let cj = &mut centroids[j * d..(j + 1) * d];
            if counts[j] == 0 {
                // Empty cluster: restart it on a random row.
                let r = rng.random_range(0..n);
                cj.copy_from_slice(&x[r * d..(r + 1) * d]);
            } else {
                for (c, s) in cj.iter_mut().zip(&sums[j * d..(j + 1) * d]) {
                    *c = (*s / counts[j] as f64) as f32;
                }
            }
            if spherical {
                normalize(cj);
            }
        }
    }
    centroids
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_separated_clusters() {
        let mut x = Vec::new();
        for i in 0..300 {
            let c = (i % 3) as f32 * 10.0;
            x.extend_from_slice(&[c + (i as f32 * 0.001), -c]);
        }
        let cents = train(&x, 2, 3, 10, false, 1);
        let a = assign(&x, 2, &cents, false);
        for i in 0..300 {
            assert_eq!(a[i], a[i % 3], "row {i} joined another cluster");
        }
        assert_ne!(a[0], a[1]);
        assert_ne!(a[1], a[2]);
    }
}
