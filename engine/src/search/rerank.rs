//! Rerankers after the funnel: a model (a cross-encoder over query text and row text, or a
//! vector scorer over query and row vectors; `rerankers.rs` at the crate root implements both with ONNX)
//! rescores the funnel's candidates; the best `k` by score are returned, best first, with
//! `_score` added and `_distance` kept. The `Search` builder takes one with
//! [`crate::Search::rerank`]; SQL's `RERANK BY ... CANDIDATES n` builds the same thing.

use std::sync::Arc;

use arrow_array::{Float32Array, RecordBatch, UInt32Array};
use arrow_schema::{DataType, Field, Schema};

use crate::error::Result;

/// Name of the reranker's score column.
pub const SCORE: &str = "_score";

/// What a reranker knows about the query.
#[derive(Clone, Copy, Debug)]
pub struct RerankQuery<'a> {
    /// The query vector.
    pub vector: &'a [f32],
    /// The query's text, when it was embedded from text.
    pub text: Option<&'a str>,
}

/// Rescores candidate rows; higher scores are better.
pub trait Reranker: Send + Sync {
    /// Columns of the candidates the reranker reads (fetched even when not selected).
    fn columns(&self) -> Vec<String>;
    /// One score per row of `candidates`.
    fn score(&self, query: &RerankQuery<'_>, candidates: &RecordBatch) -> Result<Vec<f32>>;
    /// Whether it reads the query vector (SQL then evaluates the query expression for it).
    fn needs_query_vector(&self) -> bool {
        false
    }
}

/// A reranker and how many candidates it sees.
#[derive(Clone)]
pub struct Rerank {
    /// The reranker.
    pub reranker: Arc<dyn Reranker>,
    /// Candidates taken from the funnel (default: `max(5k, 50)`).
    pub candidates: Option<usize>,
}

impl std::fmt::Debug for Rerank {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rerank")
            .field("columns", &self.reranker.columns())
            .field("candidates", &self.candidates)
            .finish()
    }
}

impl Rerank {
    /// Candidates the funnel hands to the reranker for `k` results.
    pub fn candidates_for(&self, k: usize) -> usize {
        self.candidates.unwrap_or((5 * k).max(50)).max(k)
    }

    /// Rescores `b` and keeps the best `k`, adding `_score`.
    pub fn apply(&self, q: &RerankQuery<'_>, b: &RecordBatch, k: usize) -> Result<RecordBatch> {
        let scores = self.reranker.score(q, b)?;
        let mut order: Vec<u32> = (0..scores.len() as u32).collect();
        order.sort_by(|&a, &c| {
            scores[c as usize]
                .total_cmp(&scores[a as usize])
                .then(a.cmp(&c))
        });
        order.truncate(k);
        let idx = UInt32Array::from(order.clone());
        let mut cols: Vec<arrow_array::ArrayRef> = b
            .columns()
            .iter()
            .map(|c| arrow_select::take::take(c.as_ref(), &idx, None))
            .collect::<std::result::Result<_, _>>()?;
        let mut fields: Vec<Field> = b
            .schema()
            .fields()
            .iter()
            .map(|f| f.as_ref().clone())
            .collect();
        fields.push(Field::new(SCORE, DataType::Float32, false));
        cols.push(Arc::new(Float32Array::from_iter_values(
            order.iter().map(|&i| scores[i as usize]),
        )));
        Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), cols)?)
    }
}
