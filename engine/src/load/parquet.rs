//! COPY ... (FORMAT parquet): rows of any Parquet file, columns matched by name.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use crate::table::BulkSink;
use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema};

pub(super) use super::reader::spawn_reader;
use super::{
    check_cancel, CopyOptions, CopyReport, LoadError, OnError, ProgressFn, SKIPPED_LISTED,
};
use crate::error::Result;
use crate::{Database, Table};

/// Total bytes of `files`.
pub fn total_bytes(files: &[PathBuf]) -> u64 {
    files
        .iter()
        .filter_map(|f| std::fs::metadata(f).ok())
        .map(|m| m.len())
        .sum()
}

/// Adds `batch` to the load; under ON_ERROR 'skip' an invalid batch is retried row by row and
/// the bad rows are recorded. Returns rows written.
pub fn add_rows(
    bulk: &mut BulkSink<'_, '_>,
    batch: &RecordBatch,
    file: &std::path::Path,
    offset: usize,
    on_error: OnError,
    report: &mut CopyReport,
) -> Result<usize> {
    match bulk.add(batch)? {
        Ok(n) => Ok(n),
        Err(_) if on_error == OnError::Skip => {
            let mut n = 0;
            for r in 0..batch.num_rows() {
                match bulk.add(&batch.slice(r, 1))? {
                    Ok(k) => n += k,
                    Err(e) => {
                        report.skipped += 1;
                        if report.skipped_rows.len() < SKIPPED_LISTED {
                            report.skipped_rows.push(format!(
                                "{}: {}",
                                file.display(),
                                e.at_row(offset + r)
                            ));
                        }
                    }
                }
            }
            Ok(n)
        }
        Err(e) => {
            let row = offset + e.row().unwrap_or(0);
            Err(LoadError::Row {
                file: file.to_path_buf(),
                row,
                error: e.at_row(offset),
            }
            .into())
        }
    }
}

/// Renames and selects the source columns of `b` for `table` (vector excluded when embedding).
fn map_columns(
    b: &RecordBatch,
    t: &Table,
    opts: &CopyOptions,
    embed: bool,
    file: &std::path::Path,
) -> Result<RecordBatch> {
    let schema = t.schema();
    let mut fields = Vec::new();
    let mut cols: Vec<ArrayRef> = Vec::new();
    for (i, c) in schema.columns().iter().enumerate() {
        if embed && i == schema.vector_index() {
            continue;
        }
        let src = opts.source_of(&c.name);
        match b.column_by_name(src) {
            Some(a) => {
                fields.push(Field::new(&c.name, a.data_type().clone(), true));
                cols.push(a.clone());
            }
            None if i == schema.pk_index() || i == schema.vector_index() => {
                return Err(LoadError::Schema {
                    file: file.to_path_buf(),
                    column: src.to_string(),
                    reason: format!(
                        "missing (table \"{}\" needs it{})",
                        t.name(),
                        if i == schema.vector_index() {
                            "; or give MODEL to embed a text column"
                        } else {
                            ""
                        }
                    ),
                }
                .into())
            }
            None => {}
        }
    }
    Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), cols)?)
}

/// Appends the embeddings of column `text` of `src` as the table's vector column.
pub fn with_embeddings(
    db: &Database,
    model: &str,
    t: &Table,
    mapped: RecordBatch,
    src: &RecordBatch,
    text: &str,
    file: &std::path::Path,
) -> Result<RecordBatch> {
    let col = src.column_by_name(text).ok_or_else(|| LoadError::Schema {
        file: file.to_path_buf(),
        column: text.into(),
        reason: "missing: this column is embedded when the file has no vectors (set TEXT to another column)".into(),
    })?;
    let strings = arrow_cast::cast(col, &DataType::Utf8).map_err(|_| LoadError::Schema {
        file: file.to_path_buf(),
        column: text.into(),
        reason: format!("expected text, found {}", col.data_type()),
    })?;
    let s = strings.as_string::<i32>();
    let texts: Vec<&str> = (0..s.len())
        .map(|i| if s.is_null(i) { "" } else { s.value(i) })
        .collect();
    let vectors = db.embed_many(model, &texts)?;
    let dim = t.schema().dim();
    let flat: Vec<f32> = vectors.into_iter().flatten().collect();
    let item = Arc::new(Field::new("item", DataType::Float32, false));
    let arr = arrow_array::FixedSizeListArray::try_new(
        item,
        dim as i32,
        Arc::new(arrow_array::Float32Array::from(flat)),
        None,
    )
    .map_err(|e| LoadError::Table {
        table: t.name().into(),
        reason: format!("model '{model}' output does not fit VECTOR({dim}): {e}"),
    })?;
    let mut fields: Vec<Field> = mapped
        .schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    fields.push(Field::new(
        t.schema().vector_name(),
        arr.data_type().clone(),
        false,
    ));
    let mut cols = mapped.columns().to_vec();
    cols.push(Arc::new(arr));
    Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), cols)?)
}

/// Loads Parquet `files` into `t`.
pub fn load(
    db: &Database,
    t: &Table,
    files: &[PathBuf],
    opts: &CopyOptions,
    cancel: &AtomicBool,
    progress: Option<&ProgressFn>,
) -> Result<CopyReport> {
    let embed = opts.model.is_some();
    let mut wanted: Vec<String> = t
        .schema()
        .columns()
        .iter()
        .map(|c| opts.source_of(&c.name).to_string())
        .collect();
    if embed {
        wanted.push(opts.text_column.clone());
    }
    let rx = spawn_reader(files.to_vec(), Some(wanted), opts.batch_size);
    let bytes = total_bytes(files);
    let mut report = CopyReport {
        files: files.len(),
        ..CopyReport::default()
    };
    t.bulk(opts.segment_rows, |bulk| {
        for msg in rx {
            check_cancel(cancel)?;
            let sb = msg?;
            let file = &files[sb.file];
            let mut b = map_columns(&sb.batch, t, opts, embed, file)?;
            if let Some(m) = &opts.model {
                b = with_embeddings(db, m, t, b, &sb.batch, &opts.text_column, file)?;
            }
            report.source_rows += sb.batch.num_rows();
            report.rows += add_rows(bulk, &b, file, sb.offset, opts.on_error, &mut report)?;
            super::notify(
                progress,
                &report,
                (sb.file, files.len()),
                (sb.bytes_done, bytes),
            );
        }
        Ok(())
    })?;
    Ok(report)
}
