//! Rerankers after the funnel: `RERANK BY cross_encoder('m', text_column) CANDIDATES n`
//! rescores (query text, row text) pairs; `RERANK BY vector_scorer('m')` rescores (query
//! vector, row vector) pairs. The best `k` by score are returned, best first, with `_score`
//! added and `_distance` kept.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::Float32Type;
use arrow_array::{Array, Float32Array, RecordBatch, UInt32Array};
use arrow_schema::{DataType, Field, Schema};

use crate::error::{QueryError, Result};
use crate::model::ModelError;
use crate::schema::TableSchema;
use crate::sql::ast::Rerank;
use crate::Database;

/// Name of the reranker's score column.
pub const SCORE: &str = "_score";

/// Candidates the funnel hands to the reranker: `CANDIDATES n`, else `max(5k, 50)`.
pub fn candidates(r: Option<&Rerank>, k: usize) -> usize {
    match r {
        None => k,
        Some(Rerank::CrossEncoder { candidates, .. } | Rerank::VectorScorer { candidates, .. }) => {
            candidates.unwrap_or((5 * k).max(50)).max(k)
        }
    }
}

/// Whether the reranker reads the rows' vectors.
pub fn needs_vectors(r: &Rerank) -> bool {
    matches!(r, Rerank::VectorScorer { .. })
}

/// Rescores the candidates `b` and keeps the best `k`. `query_text` is the text of an
/// `embed(...)` query (cross-encoders need it).
pub fn apply(
    db: &Database,
    r: &Rerank,
    query: &[f32],
    query_text: Option<&str>,
    b: &RecordBatch,
    k: usize,
    schema: &TableSchema,
) -> Result<RecordBatch> {
    let scores = match r {
        Rerank::CrossEncoder { model, column, .. } => {
            let Some(text) = query_text else {
                return Err(QueryError::Rerank(
                    "cross_encoder reranking needs a text query: ORDER BY embedding <=> embed('model', 'your text')".into(),
                )
                .into());
            };
            let col = b
                .column_by_name(column)
                .ok_or_else(|| QueryError::UnknownColumn {
                    column: column.clone(),
                    table: String::new(),
                    known: schema
                        .columns()
                        .iter()
                        .map(|c| c.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                })?;
            if col.data_type() != &DataType::Utf8 {
                return Err(QueryError::Rerank(format!(
                    "cross_encoder reads a text column; \"{column}\" is not text"
                ))
                .into());
            }
            let s = col.as_string::<i32>();
            let docs: Vec<&str> = (0..s.len())
                .map(|i| if s.is_null(i) { "" } else { s.value(i) })
                .collect();
            db.model(model)?.cross_score(text, &docs)?
        }
        Rerank::VectorScorer { model, .. } => {
            let col = b
                .column_by_name(schema.vector_name())
                .ok_or_else(|| ModelError::Input {
                    model: model.clone(),
                    reason: "the candidates carry no vectors".into(),
                })?;
            let l = col.as_fixed_size_list();
            let d = l.value_length() as usize;
            let vals = l.values().as_primitive::<Float32Type>().values();
            let rows: Vec<&[f32]> = (0..l.len())
                .map(|i| &vals[(l.offset() + i) * d..(l.offset() + i + 1) * d])
                .collect();
            db.model(model)?.vector_score(query, &rows)?
        }
    };
    let mut order: Vec<u32> = (0..scores.len() as u32).collect();
    order.sort_by(|&a, &b| scores[b as usize].total_cmp(&scores[a as usize]));
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
