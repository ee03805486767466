//! How vectors are laid out in a segment sidecar, and the matching query transform.
//!
//! Stored vectors are `R * normalize(x)`: unit length under cosine (so cosine distance is
//! `1 - dot`), rotated by the learned index's orthogonal `R` when there is one (so prefixes
//! carry most of the variance), and split into band regions at the Matryoshka boundaries.
//! Orthogonal rotation preserves dot products and L2 distances, so the last funnel stage is
//! exact at full dimension.

use std::sync::Arc;

use faer::linalg::matmul::matmul;
use faer::{Accum, MatMut, MatRef, Par};
use nestdb_storage::{sections, Metric, Segment, StorageError};

use crate::kernels;

/// The vector layout of a table version.
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

    /// Splits transformed rows into band regions (band-major, rows row-major within a band).
    pub fn band_regions(&self, x: &[f32]) -> Vec<Vec<f32>> {
        let n = x.len() / self.dim;
        self.bands
            .iter()
            .map(|&(s, e)| {
                let mut out = Vec::with_capacity(n * (e - s));
                for row in x.chunks_exact(self.dim) {
                    out.extend_from_slice(&row[s..e]);
                }
                out
            })
            .collect()
    }
}

/// `m x` for a `rows x cols` row-major matrix `m`.
pub fn matvec(m: &[f32], rows: usize, cols: usize, x: &[f32]) -> Vec<f32> {
    let mut out = vec![0f32; rows];
    kernels::avx2::matvec(m, rows, cols, x, &mut out);
    out
}

/// Scales `v` to unit length (no-op for the zero vector).
pub fn normalize(v: &mut [f32]) {
    let n = (kernels::get().dot_f32)(v, v).sqrt();
    if n > 0.0 {
        v.iter_mut().for_each(|x| *x /= n);
    }
}

/// A segment's sidecar, viewed through the layout: band regions and optional index sections.
pub struct SegView<'a> {
    /// Rows in the segment.
    pub rows: usize,
    /// Band regions, `rows * width` each.
    pub bands: Vec<&'a [f32]>,
    /// Partition row offsets (`partitions + 1`), when the segment is clustered.
    pub partitions: Option<&'a [u32]>,
    /// int8 codes of the coarse prefix.
    pub codes_i8: Option<&'a [i8]>,
    /// Packed sign bits of the coarse prefix.
    pub codes_bits: Option<&'a [u8]>,
    /// Squared norms of the stored vectors (for L2 on partial dims).
    pub norms: Option<&'a [f32]>,
}

impl<'a> SegView<'a> {
    /// Prefetches row `row` of the first `nbands` bands (see [`kernels::prefetch`]).
    #[inline]
    pub fn prefetch_row(&self, layout: &Layout, row: usize, nbands: usize) {
        for (b, &(s, e)) in layout.bands[..nbands.min(self.bands.len())]
            .iter()
            .enumerate()
        {
            let w = e - s;
            if let Some(x) = self.bands[b].get(row * w..(row + 1) * w) {
                kernels::prefetch(x);
            }
        }
    }

    /// Views segment `s` under `layout`, checking every section's size.
    pub fn new(s: &'a Segment, layout: &Layout) -> Result<SegView<'a>, StorageError> {
        let c = s.sidecar();
        let rows = s.rows();
        let bands = layout
            .bands
            .iter()
            .enumerate()
            .map(|(b, &(st, e))| c.typed::<f32>(sections::BAND_BASE + b as u32, rows * (e - st)))
            .collect::<Result<Vec<_>, _>>()?;
        let partitions = c
            .section(sections::PARTITION_OFFSETS)
            .map(nestdb_storage::container::cast_slice::<u32>);
        if let Some(p) = partitions {
            if p.last().is_some_and(|&l| l as usize != rows) || p.windows(2).any(|w| w[0] > w[1]) {
                return Err(StorageError::corrupt(
                    c.path().display().to_string(),
                    "partition offsets do not cover the rows",
                ));
            }
        }
        let codes_i8 = c
            .section(sections::CODES_I8)
            .map(nestdb_storage::container::cast_slice::<i8>);
        let codes_bits = c.section(sections::CODES_BITS);
        let norms = match c.section(sections::CODES_I8_AUX) {
            Some(_) => Some(c.typed::<f32>(sections::CODES_I8_AUX, rows)?),
            None => None,
        };
        Ok(SegView {
            rows,
            bands,
            partitions,
            codes_i8,
            codes_bits,
            norms,
        })
    }
}
