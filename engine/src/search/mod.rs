//! Vector search: exact scans and the coarse-to-fine funnel, over one table version.

pub mod exact;
pub mod explain;
pub mod funnel;
pub mod plan;
pub mod query;
pub mod results;
pub mod selection;

use nestdb_storage::Metric;

use crate::error::QueryError;
use crate::kernels;
use crate::layout::{Layout, SegView};

pub use selection::{RowSet, Selection};

/// A query vector, checked and transformed into the stored layout.
#[derive(Clone, Debug)]
pub struct PreparedQuery {
    /// The vector as given (used for unflushed rows, which are stored as given).
    pub original: Vec<f32>,
    /// Normalized (cosine) and rotated (index) like the stored vectors.
    pub transformed: Vec<f32>,
    /// The metric.
    pub metric: Metric,
}

impl PreparedQuery {
    /// Checks `q` against the table and transforms it.
    pub fn new(q: &[f32], layout: &Layout, column: &str) -> Result<PreparedQuery, QueryError> {
        if q.len() != layout.dim {
            return Err(QueryError::Dimension {
                column: column.into(),
                expected: layout.dim,
                actual: q.len(),
            });
        }
        if let Some(i) = q.iter().position(|x| !x.is_finite()) {
            return Err(QueryError::NonFinite(i));
        }
        if layout.metric == Metric::Cosine && q.iter().all(|&x| x == 0.0) {
            return Err(QueryError::ZeroVector);
        }
        Ok(PreparedQuery {
            original: q.to_vec(),
            transformed: layout.transform_query(q),
            metric: layout.metric,
        })
    }

    /// Score of a stored row on bands `0..nbands` (smaller is better): `-dot` for cosine and
    /// dot, squared L2 for l2. On all bands it converts to the distance with [`to_distance`].
    #[inline]
    pub fn partial(&self, layout: &Layout, view: &SegView<'_>, row: usize, nbands: usize) -> f32 {
        let k = kernels::get();
        let mut acc = 0f32;
        for (b, &(s, e)) in layout.bands[..nbands].iter().enumerate() {
            let w = e - s;
            let x = &view.bands[b][row * w..(row + 1) * w];
            let q = &self.transformed[s..e];
            acc += match self.metric {
                Metric::L2 => (k.l2sq_f32)(q, x),
                _ => -(k.dot_f32)(q, x),
            };
        }
        acc
    }

    /// Score of one band of a stored row (see [`PreparedQuery::partial`]).
    #[inline]
    pub fn band_score(&self, layout: &Layout, view: &SegView<'_>, row: usize, b: usize) -> f32 {
        let k = kernels::get();
        let (s, e) = layout.bands[b];
        let w = e - s;
        let x = &view.bands[b][row * w..(row + 1) * w];
        let q = &self.transformed[s..e];
        match self.metric {
            Metric::L2 => (k.l2sq_f32)(q, x),
            _ => -(k.dot_f32)(q, x),
        }
    }

    /// Distance of an unflushed row, stored as given.
    #[inline]
    pub fn raw_distance(&self, v: &[f32]) -> f32 {
        let k = kernels::get();
        match self.metric {
            Metric::Cosine => (k.cos_f32)(&self.original, v),
            Metric::L2 => (k.l2sq_f32)(&self.original, v).sqrt(),
            Metric::Dot => -(k.dot_f32)(&self.original, v),
            _ => f32::INFINITY,
        }
    }
}

/// Converts a full-dimension score to the reported distance.
#[inline]
pub fn to_distance(metric: Metric, score: f32) -> f32 {
    match metric {
        Metric::Cosine => (1.0 + score).max(0.0),
        Metric::L2 => score.max(0.0).sqrt(),
        _ => score,
    }
}
