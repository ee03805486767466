//! Vector search over one table version: the stage pipeline the funnel runs and the tuner
//! evaluates, exact scans, planning and tuning. Nothing here depends on the table API.
//!
//! Data path: a [`PreparedQuery`] (checked, normalized, rotated, quantized) and the version's
//! [`view::SegView`]s make a [`pipeline::QueryCtx`]; [`plan`] picks exact or funnel by estimated
//! cost ([`cost`]); [`funnel`] runs a schedule's stages through the pipeline; [`results`] turns
//! row addresses into Arrow. The `Search` builder (`query.rs`) sits above, in the table API.

pub mod cost;
pub mod exact;
pub mod explain;
pub mod filtered_tune;
pub mod funnel;
pub mod instage;
pub mod pipeline;
pub mod plan;
pub mod probe;
pub mod release;
pub mod rerank;
pub mod results;
pub mod rows;
pub mod samples;
pub mod truth;
pub mod tune;
pub mod view;

use nestdb_storage::Metric;

use crate::error::QueryError;
use crate::index::quant::QueryCodes;
use crate::index::IndexModel;
use crate::kernels;
use crate::layout::{normalize, Layout};

/// A query vector, checked and transformed into every space the stages score in.
#[derive(Clone, Debug)]
pub struct PreparedQuery {
    /// The vector as given (unflushed rows are scored against it).
    pub original: Vec<f32>,
    /// Unit length under cosine, else as given: the exact stage scores stored vectors with it.
    pub unit: Vec<f32>,
    /// The metric.
    pub metric: Metric,
    /// Quantized for the index's stages, when there is an index.
    pub codes: Option<QueryCoded>,
}

/// The query prepared for the int8 and sign stages.
#[derive(Clone, Debug)]
pub struct QueryCoded {
    /// Coarse prefix (dims `0..coarse`).
    pub coarse: QueryCodes,
    /// Mid dims (`coarse..mid`).
    pub mid: QueryCodes,
    /// Sign bits of the coarse prefix.
    pub bits: Vec<u8>,
    /// Every partition's score ([`pipeline::partition_scores`]) against the model the query
    /// was prepared for, computed on first use: a filtered walk needs them for its floor and
    /// again for its order. Stored with the address and length of the centroid codes they
    /// were computed from; a call with other centroids recomputes (and keeps nothing).
    pub(crate) partition_scores: std::sync::OnceLock<((usize, usize), Vec<crate::topk::Cand>)>,
}

impl PreparedQuery {
    /// Checks `q` against the table and transforms it for `model` (or for exact search).
    pub fn new(
        q: &[f32],
        layout: &Layout,
        model: Option<&IndexModel>,
        column: &str,
    ) -> Result<PreparedQuery, QueryError> {
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
        let mut unit = q.to_vec();
        if layout.normalized() {
            normalize(&mut unit);
        }
        // only the dims the codes cover are needed in the rotated space
        let needed = model.map_or(0, |m| m.meta.mid_dims.max(m.meta.bits_dims));
        let rotated = match (&layout.rotation, model) {
            (Some(r), Some(_)) => crate::layout::matvec(r, needed, layout.dim, &unit),
            (None, Some(_)) => unit[..needed].to_vec(),
            _ => Vec::new(),
        };
        let codes = model.map(|m| {
            let (c, mid) = (m.meta.coarse_dims, m.meta.mid_dims);
            let mut bits = vec![0u8; m.bits_bytes()];
            m.quant.encode_bits(&rotated, m.meta.bits_dims, &mut bits);
            QueryCoded {
                coarse: QueryCodes::range(&m.quant, &rotated, 0..c),
                mid: QueryCodes::range(&m.quant, &rotated, c..mid),
                bits,
                partition_scores: std::sync::OnceLock::new(),
            }
        });
        Ok(PreparedQuery {
            original: q.to_vec(),
            unit,
            metric: layout.metric,
            codes,
        })
    }

    /// Distance of an unflushed row, stored as given.
    #[inline]
    pub fn raw_distance(&self, v: &[f32]) -> f32 {
        let k = kernels::get();
        match self.metric {
            Metric::Cosine => (k.cos_f32)(&self.original, v),
            Metric::L2 => (k.l2sq_f32)(&self.original, v).sqrt(),
            Metric::Dot => -(k.dot_f32)(&self.original, v),
        }
    }
}

/// Converts a full-dimension score (smaller is better: `-cos` for cosine, `-dot` for dot,
/// squared L2) to the reported distance.
#[inline]
pub fn to_distance(metric: Metric, score: f32) -> f32 {
    match metric {
        Metric::Cosine => (1.0 + score).max(0.0),
        Metric::L2 => score.max(0.0).sqrt(),
        Metric::Dot => score,
    }
}
