//! Statements that report: SHOW TABLES, SHOW MODELS, SHOW RECALL, DESCRIBE.

use std::sync::Arc;

use arrow_array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};

use super::Output;
use crate::error::Result;
use crate::{Database, RecallReport, RecallRow};

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
    let mut cols = RecallColumns::default();
    for name in &names {
        let r = db.table(name)?.recall_report();
        if r.rows.is_empty() {
            cols.push_unmeasured(name, &r);
        }
        for row in &r.rows {
            cols.push_row(name, row, &r);
        }
    }
    cols.output()
}

/// The columns of SHOW RECALL, filled row by row.
#[derive(Default)]
struct RecallColumns {
    /// `table`.
    tab: Vec<String>,
    /// `target`.
    target: Vec<Option<f64>>,
    /// `filter` (the selectivity band).
    band: Vec<Option<String>>,
    /// `samples`.
    n: Vec<i64>,
    /// `measured`.
    measured: Vec<Option<f64>>,
    /// `ci_low`.
    lo: Vec<Option<f64>>,
    /// `ci_high`.
    hi: Vec<Option<f64>>,
    /// `estimated`.
    est: Vec<Option<f64>>,
    /// `serving_target`.
    serving: Vec<Option<f64>>,
    /// `kept_queries` (per table: the searches kept for `ANALYZE t TUNE ON SAMPLED`).
    kept: Vec<i64>,
    /// `note`.
    notes: Vec<Option<String>>,
}

impl RecallColumns {
    /// The row of table `name` with no measured sample yet: why, in the note.
    fn push_unmeasured(&mut self, name: &str, r: &RecallReport) {
        self.tab.push(name.to_string());
        self.target.push(None);
        self.band.push(None);
        self.n.push(0i64);
        self.measured.push(None);
        self.lo.push(None);
        self.hi.push(None);
        self.est.push(None);
        self.serving.push(None);
        self.kept.push(r.kept_queries as i64);
        self.notes.push(Some(if r.sample_rate > 0.0 {
            format!(
                "sampling {:.1}% of searches; no sample measured yet ({} pending)",
                r.sample_rate * 100.0,
                r.pending
            )
        } else {
            "live recall monitoring is off (recall_sample_rate = 0)".to_string()
        }));
    }

    /// One measured `row` of table `name` (report `r`); the note is the latest adjustment of
    /// this row's target when another schedule (or exact search) serves it.
    fn push_row(&mut self, name: &str, row: &RecallRow, r: &RecallReport) {
        self.tab.push(name.to_string());
        self.target.push(Some(row.target as f64));
        self.band.push(Some(row.band.to_string()));
        self.n.push(row.measured.queries as i64);
        self.measured.push(Some(row.measured.mean as f64));
        self.lo.push(Some(row.measured.lo as f64));
        self.hi.push(Some(row.measured.hi as f64));
        self.est.push(row.estimated.map(|x| x as f64));
        self.serving.push(Some(row.serving as f64));
        self.kept.push(r.kept_queries as i64);
        self.notes.push((row.serving > row.target).then(|| {
            r.adjustments
                .iter()
                .rev()
                .find(|(t, _)| (t - row.target).abs() < 1e-6)
                .map(|(_, note)| note.clone())
                .unwrap_or_default()
        }));
    }

    /// The result batch.
    fn output(self) -> Result<Output> {
        batch(vec![
            ("table", Arc::new(StringArray::from(self.tab))),
            ("target", Arc::new(Float64Array::from(self.target))),
            ("filter", Arc::new(StringArray::from(self.band))),
            ("samples", Arc::new(Int64Array::from(self.n))),
            ("measured", Arc::new(Float64Array::from(self.measured))),
            ("ci_low", Arc::new(Float64Array::from(self.lo))),
            ("ci_high", Arc::new(Float64Array::from(self.hi))),
            ("estimated", Arc::new(Float64Array::from(self.est))),
            ("serving_target", Arc::new(Float64Array::from(self.serving))),
            ("kept_queries", Arc::new(Int64Array::from(self.kept))),
            ("note", Arc::new(StringArray::from(self.notes))),
        ])
    }
}
