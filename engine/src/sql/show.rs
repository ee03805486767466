//! Statements that report: SHOW TABLES, SHOW MODELS, SHOW RECALL, DESCRIBE.

use std::sync::Arc;

use arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};

use super::Output;
use crate::error::Result;
use crate::Database;

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

/// SHOW RECALL: live recall against the promise, per table, target and selectivity band.
pub fn recall(db: &Database, table: Option<&str>) -> Result<Output> {
    let names = match table {
        Some(t) => vec![t.to_string()],
        None => db.list_tables()?,
    };
    let (
        mut tab,
        mut target,
        mut band,
        mut n,
        mut measured,
        mut lo,
        mut hi,
        mut est,
        mut serving,
        mut notes,
    ) = (
        vec![],
        vec![],
        vec![],
        vec![],
        vec![],
        vec![],
        vec![],
        vec![],
        vec![],
        vec![],
    );
    for name in &names {
        let r = db.table(name)?.recall_report();
        if r.rows.is_empty() {
            tab.push(name.clone());
            target.push(None);
            band.push(None);
            n.push(0i64);
            measured.push(None);
            lo.push(None);
            hi.push(None);
            est.push(None);
            serving.push(None);
            notes.push(Some(if r.sample_rate > 0.0 {
                format!(
                    "sampling {:.1}% of searches; no sample measured yet ({} pending)",
                    r.sample_rate * 100.0,
                    r.pending
                )
            } else {
                "live recall monitoring is off (recall_sample_rate = 0)".to_string()
            }));
        }
        for row in &r.rows {
            tab.push(name.clone());
            target.push(Some(row.target as f64));
            band.push(Some(row.band.to_string()));
            n.push(row.measured.queries as i64);
            measured.push(Some(row.measured.mean as f64));
            lo.push(Some(row.measured.lo as f64));
            hi.push(Some(row.measured.hi as f64));
            est.push(row.estimated.map(|x| x as f64));
            serving.push(Some(row.serving as f64));
            notes.push(
                (row.serving > row.target)
                    .then(|| r.adjustments.last().cloned().unwrap_or_default()),
            );
        }
    }
    batch(vec![
        ("table", Arc::new(StringArray::from(tab))),
        ("target", Arc::new(arrow_array::Float64Array::from(target))),
        ("filter", Arc::new(StringArray::from(band))),
        ("samples", Arc::new(Int64Array::from(n))),
        (
            "measured",
            Arc::new(arrow_array::Float64Array::from(measured)),
        ),
        ("ci_low", Arc::new(arrow_array::Float64Array::from(lo))),
        ("ci_high", Arc::new(arrow_array::Float64Array::from(hi))),
        ("estimated", Arc::new(arrow_array::Float64Array::from(est))),
        (
            "serving_target",
            Arc::new(arrow_array::Float64Array::from(serving)),
        ),
        ("note", Arc::new(StringArray::from(notes))),
    ])
}
