//! The ONNX rerankers behind [`crate::Rerank`]: cross-encoders rescore (query text, row text)
//! pairs; vector scorers rescore (query vector, row vector) pairs.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::Float32Type;
use arrow_array::{Array, RecordBatch};
use arrow_schema::DataType;

use crate::error::{QueryError, Result};
use crate::model::{ModelError, ModelKind};
use crate::search::rerank::{Rerank, RerankQuery, Reranker};
use crate::{Database, Table};

/// A cross-encoder over a text column.
struct CrossEncoder {
    db: Database,
    model: String,
    column: String,
}

impl Reranker for CrossEncoder {
    fn columns(&self) -> Vec<String> {
        vec![self.column.clone()]
    }

    fn score(&self, q: &RerankQuery<'_>, b: &RecordBatch) -> Result<Vec<f32>> {
        let Some(text) = q.text else {
            return Err(QueryError::Rerank(
                "cross_encoder reranking needs a text query: ORDER BY embedding <=> embed('model', 'your text')".into(),
            )
            .into());
        };
        let col = b.column_by_name(&self.column).ok_or_else(|| {
            QueryError::Rerank(format!(
                "the candidates carry no column \"{}\"",
                self.column
            ))
        })?;
        let col = arrow_cast::cast(col, &DataType::Utf8)?;
        let s = col.as_string::<i32>();
        let docs: Vec<&str> = (0..s.len())
            .map(|i| if s.is_null(i) { "" } else { s.value(i) })
            .collect();
        Ok(self.db.model(&self.model)?.cross_score(text, &docs)?)
    }
}

/// A vector scorer over the table's vector column.
struct VectorScorer {
    db: Database,
    model: String,
    column: String,
}

impl Reranker for VectorScorer {
    fn columns(&self) -> Vec<String> {
        vec![self.column.clone()]
    }

    fn score(&self, q: &RerankQuery<'_>, b: &RecordBatch) -> Result<Vec<f32>> {
        let col = b
            .column_by_name(&self.column)
            .ok_or_else(|| ModelError::Input {
                model: self.model.clone(),
                reason: "the candidates carry no vectors".into(),
            })?;
        let l = col.as_fixed_size_list();
        let d = l.value_length() as usize;
        let vals = l.values().as_primitive::<Float32Type>().values();
        let rows: Vec<&[f32]> = (0..l.len())
            .map(|i| &vals[(l.offset() + i) * d..(l.offset() + i + 1) * d])
            .collect();
        Ok(self.db.model(&self.model)?.vector_score(q.vector, &rows)?)
    }

    fn needs_query_vector(&self) -> bool {
        true
    }
}

/// The reranker model `model` names for table `t`: a cross-encoder over `column`, or (no
/// column) a vector scorer over the table's vector.
pub fn build(
    db: &Database,
    t: &Table,
    model: &str,
    column: Option<&str>,
    candidates: Option<usize>,
) -> Result<Rerank> {
    let kind = db.model(model)?.kind();
    let reranker: Arc<dyn Reranker> = match (kind, column) {
        (ModelKind::CrossEncoder, Some(c)) => {
            if t.schema().index_of(c).is_none() {
                return Err(QueryError::UnknownColumn {
                    column: c.into(),
                    table: t.name().into(),
                    known: t.schema().column_list(),
                }
                .into());
            }
            Arc::new(CrossEncoder {
                db: db.clone(),
                model: model.into(),
                column: c.into(),
            })
        }
        (ModelKind::VectorScorer, None) => Arc::new(VectorScorer {
            db: db.clone(),
            model: model.into(),
            column: t.schema().vector_name().into(),
        }),
        (k, _) => {
            return Err(QueryError::Rerank(format!(
                "model \"{model}\" is a {} model; cross_encoder('m', column) needs a cross-encoder, vector_scorer('m') a vector scorer",
                k.as_str()
            ))
            .into())
        }
    };
    Ok(Rerank {
        reranker,
        candidates,
    })
}
