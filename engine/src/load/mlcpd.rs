//! COPY ... (FORMAT mlcpd, MODEL m): MLCPD-style Parquet (one row per source file) into a
//! chunks table (one row per definition, embedded with the model) and a files table.
//!
//! Both tables are created when missing. Files keep their `file_id` when the input has one;
//! otherwise ids continue after the files table's largest. A file's vector is the normalized
//! mean of its chunks' vectors (its first 4,000 characters embedded when it has no chunk).

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use arrow_array::{
    Array, ArrayRef, FixedSizeListArray, Float32Array, Int64Array, RecordBatch, StringArray,
};
use arrow_schema::{DataType, Field, Schema};
use nestdb_storage::label;
use rayon::prelude::*;

use super::chunk::{extract, normalize_language, FileChunks};
use super::parquet::{add_rows, spawn_reader, total_bytes};
use super::{
    check_cancel, CopyOptions, CopyReport, LoadError, OnError, ProgressFn, SKIPPED_LISTED,
};
use crate::error::Result;
use crate::layout::normalize;
use crate::schema::{ColumnType, SchemaBuilder, TableSchema};
use crate::{Database, Table};

/// Smallest chunk kept, in non-blank characters (shorter definitions are mostly stubs).
pub const MIN_CHUNK_CHARS: usize = 40;

const NEEDED: [&str; 3] = ["language", "code", "universal_schema"];
const OPTIONAL: [&str; 7] = [
    "line_count",
    "num_errors",
    "ast_node_count",
    "file_id",
    "origin",
    "path",
    "sha256",
];

/// Schema of a chunks table for `dim`-dimensional vectors.
pub fn chunks_schema(dim: u32) -> Result<TableSchema> {
    let t = ColumnType::Utf8;
    let i = ColumnType::Int64;
    SchemaBuilder::new()
        .column("id", i.clone())
        .column("file_id", i.clone())
        .column("language", t.clone())
        .column("name", t.clone())
        .column("qualified_name", t.clone())
        .column("kind", t.clone())
        .column("node_type", t.clone())
        .column("ast", ColumnType::Path)
        .column("label", ColumnType::Path)
        .column("start_line", i.clone())
        .column("end_line", i)
        .column("text", t)
        .vector("embedding", dim)
        .build()
}

/// Schema of a files table for `dim`-dimensional vectors.
pub fn files_schema(dim: u32) -> Result<TableSchema> {
    let t = ColumnType::Utf8;
    let i = ColumnType::Int64;
    SchemaBuilder::new()
        .column("id", i.clone())
        .column("language", t.clone())
        .column("path", t.clone())
        .column("origin", t.clone())
        .column("label", ColumnType::Path)
        .column("line_count", i.clone())
        .column("num_errors", i.clone())
        .column("ast_node_count", i)
        .column("sha256", t.clone())
        .column("code", t)
        .vector("embedding", dim)
        .build()
}

fn open_or_create(
    db: &Database,
    name: &str,
    schema: impl FnOnce() -> Result<TableSchema>,
) -> Result<Table> {
    match db.table(name) {
        Ok(t) => Ok(t),
        Err(crate::Error::Catalog(_)) => db.create_table(name, schema()?),
        Err(e) => Err(e),
    }
}

fn max_id(t: &Table) -> Result<i64> {
    let b = t.snapshot().scan(Some(&[t.schema().pk_name()]), None)?;
    Ok(b.column(0)
        .as_primitive::<Int64Type>()
        .values()
        .iter()
        .copied()
        .max()
        .unwrap_or(-1))
}

/// The PATH label of a file: language, origin, then the path's parts.
fn path_label(lang: &str, origin: Option<&str>, path: Option<&str>) -> Option<String> {
    let path = path?;
    let mut parts = vec![lang.to_string()];
    parts.extend(origin.map(|o| o.replace('/', "_")));
    parts.push(path.to_string());
    label::normalize(&parts.join("/"))
        .ok()
        .map(|l| l.into_owned())
}

fn str_col<'a>(b: &'a RecordBatch, name: &str) -> Option<&'a StringArray> {
    b.column_by_name(name)
        .and_then(|c| c.as_any().downcast_ref::<StringArray>())
}

fn i64_at(b: &RecordBatch, name: &str, r: usize) -> Option<i64> {
    let c = b.column_by_name(name)?;
    let c = arrow_cast::cast(c, &DataType::Int64).ok()?;
    let a = c.as_primitive::<Int64Type>();
    (!a.is_null(r)).then(|| a.value(r))
}

fn s_at<'a>(b: &'a RecordBatch, name: &str, r: usize) -> Option<&'a str> {
    str_col(b, name).and_then(|c| (!c.is_null(r)).then(|| c.value(r)))
}

/// Builds a batch with the columns of `schema` that `cols` provides.
fn to_table(schema: &TableSchema, cols: Vec<(&str, ArrayRef)>) -> Result<RecordBatch> {
    let mut fields = Vec::new();
    let mut arrays = Vec::new();
    for (n, a) in cols {
        if schema.index_of(n).is_some() {
            fields.push(Field::new(n, a.data_type().clone(), true));
            arrays.push(a);
        }
    }
    Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)?)
}

fn vectors(v: Vec<Vec<f32>>, dim: usize) -> Result<ArrayRef> {
    let flat: Vec<f32> = v.into_iter().flatten().collect();
    let item = Arc::new(Field::new("item", DataType::Float32, false));
    Ok(Arc::new(FixedSizeListArray::try_new(
        item,
        dim as i32,
        Arc::new(Float32Array::from(flat)),
        None,
    )?))
}

/// Loads MLCPD-style `files` into table `table` and its files table.
pub fn load(
    db: &Database,
    table: &str,
    files: &[PathBuf],
    opts: &CopyOptions,
    cancel: &AtomicBool,
    progress: Option<&ProgressFn>,
) -> Result<CopyReport> {
    let (model, files_name) = model_and_files_table(table, opts)?;
    let (dim, chunks_t, files_t) = open_targets(db, table, &files_name, &model)?;
    let mut next_chunk = max_id(&chunks_t)? + 1;
    let mut next_file = max_id(&files_t)? + 1;
    let columns: Vec<String> = NEEDED
        .iter()
        .chain(OPTIONAL.iter())
        .map(|s| s.to_string())
        .collect();
    let rx = spawn_reader(files.to_vec(), Some(columns), opts.batch_size);
    let bytes = total_bytes(files);
    let mut report = CopyReport {
        files: files.len(),
        ..CopyReport::default()
    };
    Table::bulk_pair(&chunks_t, &files_t, opts.segment_rows, |cl, fl| {
        for msg in rx {
            check_cancel(cancel)?;
            let sb = msg?;
            let file = &files[sb.file];
            let b = &sb.batch;
            check_needed_columns(b, file)?;
            let keep = keep_parsed(parse_rows(b), file, sb.offset, opts.on_error, &mut report)?;
            report.source_rows += b.num_rows();
            let (chunk_batch, file_batch) = build(
                db,
                &model,
                dim,
                b,
                &keep,
                &mut next_chunk,
                &mut next_file,
                &chunks_t,
                &files_t,
            )?;
            report.rows += add_rows(
                cl,
                &chunk_batch,
                file,
                sb.offset,
                opts.on_error,
                &mut report,
            )?;
            report.file_rows +=
                add_rows(fl, &file_batch, file, sb.offset, opts.on_error, &mut report)?;
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

/// The embedding model (required) and the files table's name (not the target itself).
fn model_and_files_table(table: &str, opts: &CopyOptions) -> Result<(String, String)> {
    let model = opts.model.clone().ok_or_else(|| LoadError::Option {
        name: "MODEL".into(),
        reason: "FORMAT mlcpd embeds the chunks: name an embedding model, e.g. MODEL 'minilm'"
            .into(),
    })?;
    let files_name = opts
        .files_table
        .clone()
        .unwrap_or_else(|| format!("{table}_files"));
    if files_name.eq_ignore_ascii_case(table) {
        return Err(LoadError::Option {
            name: "FILES_TABLE".into(),
            reason: format!("'{files_name}' is the target table itself: name another table"),
        }
        .into());
    }
    Ok((model, files_name))
}

/// The model's dimension and the chunks and files tables, created when missing; both must
/// hold vectors of that dimension.
fn open_targets(
    db: &Database,
    table: &str,
    files_name: &str,
    model: &str,
) -> Result<(usize, Table, Table)> {
    let dim = db.model_dim(model)?;
    let chunks_t = open_or_create(db, table, || chunks_schema(dim as u32))?;
    let files_t = open_or_create(db, files_name, || files_schema(dim as u32))?;
    for t in [&chunks_t, &files_t] {
        if t.schema().dim() != dim {
            return Err(LoadError::Table {
                table: t.name().into(),
                reason: format!(
                    "VECTOR({}) but model '{model}' makes {dim}-dimensional vectors",
                    t.schema().dim()
                ),
            }
            .into());
        }
    }
    Ok((dim, chunks_t, files_t))
}

/// Fails when a column every MLCPD-style file has is missing from `b` or not text.
fn check_needed_columns(b: &RecordBatch, file: &std::path::Path) -> Result<()> {
    if let Some(missing) = NEEDED.iter().find(|c| str_col(b, c).is_none()) {
        return Err(LoadError::Schema {
            file: file.to_path_buf(),
            column: missing.to_string(),
            reason: "missing or not text: this is not an MLCPD-style file".into(),
        }
        .into());
    }
    Ok(())
}

/// Extracts the chunks of every row of `b` (one source file a row), in parallel.
fn parse_rows(b: &RecordBatch) -> Vec<std::result::Result<FileChunks, String>> {
    (0..b.num_rows())
        .into_par_iter()
        .map(|r| {
            let lang = s_at(b, "language", r).unwrap_or("");
            extract(
                lang,
                s_at(b, "code", r).unwrap_or(""),
                s_at(b, "universal_schema", r).unwrap_or("null"),
                MIN_CHUNK_CHARS,
            )
        })
        .collect()
}

/// The rows whose `universal_schema` parsed, with their row numbers in the batch; a row
/// that did not is skipped (and counted in `report`) or fails the load, per `on_error`.
fn keep_parsed(
    parsed: Vec<std::result::Result<FileChunks, String>>,
    file: &std::path::Path,
    offset: usize,
    on_error: OnError,
    report: &mut CopyReport,
) -> Result<Vec<(usize, FileChunks)>> {
    let mut keep = Vec::new();
    for (r, p) in parsed.into_iter().enumerate() {
        match p {
            Ok(fc) => keep.push((r, fc)),
            Err(reason) if on_error == OnError::Skip => {
                report.skipped += 1;
                if report.skipped_rows.len() < SKIPPED_LISTED {
                    report.skipped_rows.push(format!(
                        "{}: row {}: universal_schema: {reason}",
                        file.display(),
                        offset + r
                    ));
                }
            }
            Err(reason) => {
                return Err(LoadError::Json {
                    file: file.to_path_buf(),
                    row: offset + r,
                    reason,
                }
                .into())
            }
        }
    }
    Ok(keep)
}

/// What both batches of a build say about each kept file: its id, normalized language and
/// PATH label.
struct FileKeys {
    /// `file_id` from the input, else the next free id.
    ids: Vec<i64>,
    /// Normalized languages.
    langs: Vec<String>,
    /// PATH labels (none without a path).
    labels: Vec<Option<String>>,
}

impl FileKeys {
    /// The keys of `rows` of `b`, advancing `next_file` past every id used.
    fn of(b: &RecordBatch, rows: &[(usize, FileChunks)], next_file: &mut i64) -> FileKeys {
        let mut ids = Vec::with_capacity(rows.len());
        for (r, _) in rows {
            let id = i64_at(b, "file_id", *r).unwrap_or(*next_file);
            *next_file = (*next_file).max(id + 1);
            ids.push(id);
        }
        let langs: Vec<String> = rows
            .iter()
            .map(|(r, _)| normalize_language(s_at(b, "language", *r).unwrap_or("")))
            .collect();
        let labels: Vec<Option<String>> = rows
            .iter()
            .zip(&langs)
            .map(|((r, _), l)| path_label(l, s_at(b, "origin", *r), s_at(b, "path", *r)))
            .collect();
        FileKeys { ids, langs, labels }
    }
}

/// The chunks and files batches of the kept `rows` of `b`: chunks embedded, ids assigned.
#[allow(clippy::too_many_arguments)]
fn build(
    db: &Database,
    model: &str,
    dim: usize,
    b: &RecordBatch,
    rows: &[(usize, FileChunks)],
    next_chunk: &mut i64,
    next_file: &mut i64,
    chunks_t: &Table,
    files_t: &Table,
) -> Result<(RecordBatch, RecordBatch)> {
    let keys = FileKeys::of(b, rows, next_file);
    let all: Vec<(usize, &super::chunk::Chunk)> = rows
        .iter()
        .enumerate()
        .flat_map(|(i, (_, fc))| fc.chunks.iter().map(move |c| (i, c)))
        .collect();
    let texts: Vec<&str> = all.iter().map(|(_, c)| c.text.as_str()).collect();
    let chunk_vecs = db.embed_many(model, &texts)?;
    let file_vecs = file_vectors(db, model, dim, b, rows, &all, &chunk_vecs)?;
    let n = all.len();
    let ids: Vec<i64> = (*next_chunk..*next_chunk + n as i64).collect();
    *next_chunk += n as i64;
    let chunks = chunks_batch(chunks_t.schema(), &all, ids, &keys, chunk_vecs, dim)?;
    let files = files_batch(files_t.schema(), b, rows, keys, file_vecs, dim)?;
    Ok((chunks, files))
}

/// File vectors: the normalized mean of each file's chunk vectors, or its embedded first
/// 4,000 characters when it has no chunk.
fn file_vectors(
    db: &Database,
    model: &str,
    dim: usize,
    b: &RecordBatch,
    rows: &[(usize, FileChunks)],
    all: &[(usize, &super::chunk::Chunk)],
    chunk_vecs: &[Vec<f32>],
) -> Result<Vec<Vec<f32>>> {
    let mut sums = vec![vec![0f32; dim]; rows.len()];
    let mut counts = vec![0usize; rows.len()];
    for ((i, _), v) in all.iter().zip(chunk_vecs) {
        counts[*i] += 1;
        sums[*i].iter_mut().zip(v).for_each(|(s, x)| *s += x);
    }
    let heads: Vec<(usize, &str)> = rows
        .iter()
        .enumerate()
        .filter(|(i, _)| counts[*i] == 0)
        .map(|(i, (r, _))| {
            let code = s_at(b, "code", *r).unwrap_or("");
            (i, &code[..super::chunk::floor_boundary(code, 4000)])
        })
        .collect();
    let head_texts: Vec<&str> = heads
        .iter()
        .map(|(_, t)| {
            if t.trim().is_empty() {
                "(empty file)"
            } else {
                t
            }
        })
        .collect();
    for ((i, _), v) in heads.iter().zip(db.embed_many(model, &head_texts)?) {
        sums[*i] = v;
    }
    for s in &mut sums {
        normalize(s);
    }
    Ok(sums)
}

/// The chunks batch: one row per chunk in `all` (file index, chunk), ids from `ids`.
fn chunks_batch(
    schema: &TableSchema,
    all: &[(usize, &super::chunk::Chunk)],
    ids: Vec<i64>,
    keys: &FileKeys,
    chunk_vecs: Vec<Vec<f32>>,
    dim: usize,
) -> Result<RecordBatch> {
    let col_s = |f: &dyn Fn(&super::chunk::Chunk) -> String| -> ArrayRef {
        Arc::new(StringArray::from_iter_values(all.iter().map(|(_, c)| f(c))))
    };
    let col_i = |f: &dyn Fn(&super::chunk::Chunk) -> i64| -> ArrayRef {
        Arc::new(Int64Array::from_iter_values(all.iter().map(|(_, c)| f(c))))
    };
    to_table(
        schema,
        vec![
            ("id", Arc::new(Int64Array::from(ids))),
            (
                "file_id",
                Arc::new(Int64Array::from_iter_values(
                    all.iter().map(|(i, _)| keys.ids[*i]),
                )),
            ),
            (
                "language",
                Arc::new(StringArray::from_iter_values(
                    all.iter().map(|(i, _)| keys.langs[*i].clone()),
                )),
            ),
            ("name", col_s(&|c| c.name.clone())),
            ("qualified_name", col_s(&|c| c.qualified_name.clone())),
            ("kind", col_s(&|c| c.kind.clone())),
            ("node_type", col_s(&|c| c.node_type.clone())),
            ("ast", col_s(&|c| c.ast_label.clone())),
            (
                "label",
                Arc::new(StringArray::from_iter(
                    all.iter().map(|(i, _)| keys.labels[*i].clone()),
                )),
            ),
            ("start_line", col_i(&|c| c.start_line)),
            ("end_line", col_i(&|c| c.end_line)),
            ("text", col_s(&|c| c.text.clone())),
            ("embedding", vectors(chunk_vecs, dim)?),
        ],
    )
}

/// The files batch: one row per kept row of `b`, optional columns as the input has them.
fn files_batch(
    schema: &TableSchema,
    b: &RecordBatch,
    rows: &[(usize, FileChunks)],
    keys: FileKeys,
    file_vecs: Vec<Vec<f32>>,
    dim: usize,
) -> Result<RecordBatch> {
    let opt_s = |name: &str| -> ArrayRef {
        Arc::new(StringArray::from_iter(
            rows.iter().map(|(r, _)| s_at(b, name, *r)),
        ))
    };
    let opt_i = |name: &str| -> ArrayRef {
        Arc::new(Int64Array::from_iter(
            rows.iter().map(|(r, _)| i64_at(b, name, *r)),
        ))
    };
    let sha: ArrayRef = Arc::new(StringArray::from_iter(rows.iter().map(|(r, fc)| {
        s_at(b, "sha256", *r)
            .map(str::to_string)
            .or_else(|| fc.sha256.clone())
    })));
    to_table(
        schema,
        vec![
            ("id", Arc::new(Int64Array::from(keys.ids))),
            ("language", Arc::new(StringArray::from(keys.langs))),
            ("path", opt_s("path")),
            ("origin", opt_s("origin")),
            ("label", Arc::new(StringArray::from(keys.labels))),
            ("line_count", opt_i("line_count")),
            ("num_errors", opt_i("num_errors")),
            ("ast_node_count", opt_i("ast_node_count")),
            ("sha256", sha),
            ("code", opt_s("code")),
            ("embedding", vectors(file_vecs, dim)?),
        ],
    )
}
