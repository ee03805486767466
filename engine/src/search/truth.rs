//! Exact nearest neighbors of a block of queries over every row of some segments, by matrix
//! products over each row group (streamed: memory is one row group whatever the table's size).
//! The tuner's ground truth.

use faer::linalg::matmul::matmul;
use faer::{Accum, MatMut, MatRef, Par};
use nestdb_storage::{Metric, StorageError};
use rayon::prelude::*;

use super::view::SegView;
use crate::topk::{Cand, TopK};

/// For each query (rows of `qs`, `dim` each, prepared like `PreparedQuery::unit`), its best
/// `n` rows of `views` by full-dimension score (smaller is better), and in the same pass its
/// best `n` among the rows of `extra` nested selections: `selected(query, addr)` says how many
/// of them hold the row (the first that many: list 1 is the widest). Per query, list 0 is over
/// every row, lists `1..=extra` over the selections', each best first.
pub fn nearest(
    views: &[SegView<'_>],
    qs: &[f32],
    dim: usize,
    metric: Metric,
    n: usize,
    extra: usize,
    selected: impl Fn(usize, u64) -> usize + Sync,
) -> Result<Vec<Vec<Vec<Cand>>>, StorageError> {
    let nq = qs.len() / dim.max(1);
    let mut tops: Vec<Vec<TopK>> = (0..nq)
        .map(|_| (0..=extra).map(|_| TopK::new(n)).collect())
        .collect();
    for (vi, v) in views.iter().enumerate() {
        for g in 0..v.seg.row_groups() {
            let (a, z) = v.seg.group_range(g);
            let x = group_vectors(v, g)?;
            let rows = z - a;
            let mut s = vec![0f32; nq * rows];
            matmul(
                MatMut::from_row_major_slice_mut(&mut s, nq, rows),
                Accum::Replace,
                MatRef::from_row_major_slice(qs, nq, dim),
                MatRef::from_row_major_slice(&x, rows, dim).transpose(),
                1.0f32,
                Par::rayon(0),
            );
            let terms = row_terms(v, metric, &x, dim, a, z)?;
            // one pass over the table: keep the process's resident memory flat
            v.seg.release_group(g);
            tops.par_iter_mut().enumerate().for_each(|(i, t)| {
                for (j, &dot) in s[i * rows..(i + 1) * rows].iter().enumerate() {
                    let score = match metric {
                        Metric::Cosine => -dot * terms[j],
                        Metric::L2 => terms[j] - 2.0 * dot,
                        Metric::Dot => -dot,
                    };
                    let addr = Cand::addr(vi, a + j);
                    let within = if extra == 0 {
                        0
                    } else {
                        selected(i, addr).min(extra)
                    };
                    for top in &mut t[..=within] {
                        top.push(score, addr);
                    }
                }
            });
        }
    }
    Ok(tops
        .into_iter()
        .map(|t| t.into_iter().map(TopK::into_sorted).collect())
        .collect())
}

/// The vectors of row group `g`, copied into an aligned `rows x dim` buffer.
fn group_vectors(v: &SegView<'_>, g: usize) -> Result<Vec<f32>, StorageError> {
    let (a, z) = v.seg.group_range(g);
    let bands = v.seg.table_schema().bands();
    let dim = v.seg.table_schema().dim();
    let mut x = vec![0f32; (z - a) * dim];
    for (b, &(s, e)) in bands.iter().enumerate() {
        let region = v.seg.band_region(b, g)?;
        let w = e - s;
        for r in 0..z - a {
            let src = &region[r * w * 4..(r + 1) * w * 4];
            for (j, c) in src.chunks_exact(4).enumerate() {
                x[r * dim + s + j] = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
            }
        }
    }
    Ok(x)
}

/// Per row: `1 / |x|` (cosine), `|x|^2` (l2), unused (dot).
fn row_terms(
    v: &SegView<'_>,
    metric: Metric,
    x: &[f32],
    dim: usize,
    a: usize,
    z: usize,
) -> Result<Vec<f32>, StorageError> {
    Ok(match metric {
        Metric::Cosine => match &v.inv_norms {
            Some(n) => n.range(a, z)?.to_vec(),
            None => vec![1.0; z - a],
        },
        Metric::L2 => x
            .chunks_exact(dim)
            .map(|r| r.iter().map(|v| v * v).sum())
            .collect(),
        Metric::Dot => Vec::new(),
    })
}
