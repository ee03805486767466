//! Statements that report: SHOW TABLES, SHOW MODELS, DESCRIBE, EXPLAIN; and the search path
//! of SELECT (shared with EXPLAIN ANALYZE).

use std::sync::Arc;

use arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};

use super::ast::{Select, SelectItem};
use super::error::SqlError;
use super::exec::query_vector;
use super::{Output, Session};
use crate::error::{QueryError, Result};
use crate::schema::Metric;
use crate::{Database, Explain, Table};

/// A one-column text result.
pub fn one_column(name: &str, values: Vec<String>) -> Result<Output> {
    let schema = Arc::new(Schema::new(vec![Field::new(name, DataType::Utf8, false)]));
    Ok(Output::Rows(RecordBatch::try_new(
        schema,
        vec![Arc::new(StringArray::from(values))],
    )?))
}

fn batch(cols: Vec<(&str, ArrayRef)>) -> Result<Output> {
    let fields: Vec<Field> = cols
        .iter()
        .map(|(n, a)| Field::new(*n, a.data_type().clone(), true))
        .collect();
    let arrays = cols.into_iter().map(|(_, a)| a).collect();
    Ok(Output::Rows(RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        arrays,
    )?))
}

/// SHOW TABLES: name, rows, unflushed rows, segments, index version.
pub fn tables(db: &Database) -> Result<Output> {
    let names = db.list_tables()?;
    let infos = names
        .iter()
        .map(|n| db.describe(n))
        .collect::<Result<Vec<_>>>()?;
    batch(vec![
        ("name", Arc::new(StringArray::from(names.clone()))),
        (
            "rows",
            Arc::new(Int64Array::from_iter_values(
                infos.iter().map(|i| i.rows as i64),
            )),
        ),
        (
            "unflushed",
            Arc::new(Int64Array::from_iter_values(
                infos.iter().map(|i| i.unflushed as i64),
            )),
        ),
        (
            "segments",
            Arc::new(Int64Array::from_iter_values(
                infos.iter().map(|i| i.segments as i64),
            )),
        ),
        (
            "index",
            Arc::new(StringArray::from_iter(infos.iter().map(|i| {
                i.index
                    .as_ref()
                    .map(|x| format!("v{} ({} partitions)", x.version, x.partitions))
            }))),
        ),
    ])
}

/// SHOW MODELS: name, kind, path, tokenizer.
pub fn models(db: &Database) -> Result<Output> {
    let m = db.list_models()?;
    batch(vec![
        (
            "name",
            Arc::new(StringArray::from_iter_values(
                m.iter().map(|d| d.name.clone()),
            )),
        ),
        (
            "kind",
            Arc::new(StringArray::from_iter_values(
                m.iter().map(|d| d.kind.as_str().to_string()),
            )),
        ),
        (
            "path",
            Arc::new(StringArray::from_iter_values(
                m.iter().map(|d| d.path.clone()),
            )),
        ),
        (
            "tokenizer",
            Arc::new(StringArray::from_iter(
                m.iter().map(|d| d.tokenizer.clone()),
            )),
        ),
    ])
}

/// DESCRIBE t: one row per column (name, type, notes).
pub fn describe(db: &Database, table: &str) -> Result<Output> {
    let info = db.describe(table)?;
    let s = &info.schema;
    let mut notes = Vec::new();
    for i in 0..s.columns().len() {
        notes.push(if i == s.pk_index() {
            "PRIMARY KEY".to_string()
        } else if i == s.vector_index() && s.boundaries().is_empty() {
            format!("metric {}", s.metric().name())
        } else if i == s.vector_index() {
            format!(
                "MATRYOSHKA ({}), metric {}",
                s.boundaries()
                    .iter()
                    .map(|b| b.to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
                s.metric().name()
            )
        } else {
            String::new()
        });
    }
    batch(vec![
        (
            "column",
            Arc::new(StringArray::from_iter_values(
                s.columns().iter().map(|c| c.name.clone()),
            )),
        ),
        (
            "type",
            Arc::new(StringArray::from_iter_values(
                s.columns().iter().map(|c| c.ty.sql_name()),
            )),
        ),
        ("notes", Arc::new(StringArray::from(notes))),
    ])
}

fn op_for(m: Metric) -> &'static str {
    match m {
        Metric::L2 => "<->",
        Metric::Dot => "<#>",
        _ => "<=>",
    }
}

/// Runs the vector search of `q` (rerank included); returns the batch (user columns, `_rowid`,
/// `_distance`, `_score` after a reranker) and the plan.
pub fn search_batch(
    s: &Session,
    t: &Table,
    q: &Select,
    sql: &str,
) -> Result<(RecordBatch, Explain)> {
    let v = q.vector.as_ref().expect("a vector search");
    let schema = t.schema();
    if schema.index_of(&v.column) != Some(schema.vector_index()) {
        return Err(SqlError::semantic(
            format!(
                "\"{}\" is not the vector column of \"{}\" (it is \"{}\")",
                v.column,
                t.name(),
                schema.vector_name()
            ),
            v.span,
            sql,
        )
        .into());
    }
    if v.metric != schema.metric() {
        return Err(QueryError::Metric {
            op: v.op.clone(),
            op_metric: v.metric.name().into(),
            table: t.name().into(),
            table_metric: schema.metric().name().into(),
            suggest: op_for(schema.metric()).into(),
        }
        .into());
    }
    let qv = query_vector(s, &v.query)?;
    let k = q.limit.unwrap_or(10);
    let candidates = crate::rerank::candidates(q.rerank.as_ref(), k);
    let mut search = t
        .snapshot()
        .search(&qv)
        .limit(candidates)
        .params(s.settings.search_params());
    let mut all: Vec<String> = schema.columns().iter().map(|c| c.name.clone()).collect();
    if let Some(r) = &q.rerank {
        all.retain(|c| c != schema.vector_name() || crate::rerank::needs_vectors(r));
    }
    let wanted: Vec<&str> = all.iter().map(String::as_str).collect();
    search = search.select(&wanted);
    if let Some(f) = &q.filter {
        search = search.filter(f.clone());
    }
    let (b, e) = search.explain_analyze()?;
    if q.items
        .iter()
        .any(|i| matches!(i, SelectItem::Column(c, _) if c == "_score"))
        && q.rerank.is_none()
    {
        return Err(
            SqlError::semantic("_score exists only after RERANK BY", q.table_span, sql).into(),
        );
    }
    match &q.rerank {
        Some(r) => {
            let text = match &v.query {
                super::ast::ValueExpr::Embed { text, .. } => Some(text.as_str()),
                _ => None,
            };
            Ok((crate::rerank::apply(&s.db, r, &qv, text, &b, k, schema)?, e))
        }
        None => Ok((b, e)),
    }
}

/// EXPLAIN [ANALYZE].
pub fn explain(s: &Session, q: &Select, analyze: bool, sql: &str) -> Result<Output> {
    let t = s.db.table(&q.table)?;
    let text = match &q.vector {
        None => {
            let n = t.snapshot().count_where(q.filter.as_ref())?;
            format!(
                "strategy: scan\nrows: {}, matching the filter: {n}\n",
                t.count()
            )
        }
        Some(v) if !analyze => {
            let qv = query_vector(s, &v.query)?;
            let mut search = t
                .snapshot()
                .search(&qv)
                .limit(q.limit.unwrap_or(10))
                .params(s.settings.search_params());
            if let Some(f) = &q.filter {
                search = search.filter(f.clone());
            }
            search.explain()?.to_string()
        }
        Some(_) => search_batch(s, &t, q, sql)?.1.to_string(),
    };
    one_column("QUERY PLAN", text.lines().map(str::to_string).collect())
}
