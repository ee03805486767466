//! The shared MLCPD-style evaluation data (`../shared/data`): chunks with embeddings, held-out
//! queries and exact ground truth.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float32Type, Int64Type};
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::{Field, Schema};
use nestdb::{ColumnType, Metric, SchemaBuilder, SearchParams, Table, TableSchema};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ProjectionMask;

/// Dimension of the shared embeddings.
pub const DIM: usize = 384;

/// The data folder: `$NESTDB_SHARED_DATA`, else `../shared/data` from the workspace root.
pub fn data_dir() -> PathBuf {
    if let Ok(p) = std::env::var("NESTDB_SHARED_DATA") {
        return PathBuf::from(p);
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data")
}

/// Reads `columns` of a Parquet file in the data folder into one batch. Panics with a clear
/// message when the file is missing (tests and benchmarks need it; they must not skip).
pub fn read(file: &str, columns: &[&str]) -> RecordBatch {
    read_path(&data_dir().join(file), columns)
}

/// [`read`] for a Parquet file anywhere (a scale set's `base.parquet`, for one).
pub fn read_path(path: &Path, columns: &[&str]) -> RecordBatch {
    let file = path.display().to_string();
    let f = File::open(path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}. The shared evaluation data is required (set NESTDB_SHARED_DATA)",
            path.display()
        )
    });
    let b = ParquetRecordBatchReaderBuilder::try_new(f).expect("parquet");
    let idx: Vec<usize> = columns
        .iter()
        .map(|c| {
            b.schema()
                .index_of(c)
                .unwrap_or_else(|_| panic!("{file} has no column {c}"))
        })
        .collect();
    let mask = ProjectionMask::roots(b.parquet_schema(), idx);
    let schema = Arc::new(
        b.schema()
            .project(&{
                let mut i: Vec<usize> = columns
                    .iter()
                    .map(|c| b.schema().index_of(c).unwrap())
                    .collect();
                i.sort();
                i
            })
            .unwrap(),
    );
    let batches: Vec<RecordBatch> = b
        .with_projection(mask)
        .with_batch_size(8192)
        .build()
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    let all = arrow_select::concat::concat_batches(&schema, &batches).unwrap();
    let cols: Vec<ArrayRef> = columns
        .iter()
        .map(|c| all.column_by_name(c).unwrap().clone())
        .collect();
    let fields: Vec<Field> = columns
        .iter()
        .map(|c| all.schema().field_with_name(c).unwrap().clone())
        .collect();
    RecordBatch::try_new(Arc::new(Schema::new(fields)), cols).unwrap()
}

/// Flat f32 values of a FixedSizeList<Float32> column.
pub fn flat_vectors(col: &ArrayRef) -> Vec<f32> {
    let l = col.as_fixed_size_list();
    let w = l.value_length() as usize;
    let v = l.values().as_primitive::<Float32Type>().values();
    v[l.offset() * w..(l.offset() + l.len()) * w].to_vec()
}

/// The evaluation set: base rows, queries, ground truth.
pub struct Eval {
    /// Base rows renamed to the table schema of [`table_schema`].
    pub base: RecordBatch,
    /// Query vectors, `queries x DIM`.
    pub queries: Vec<f32>,
    /// Exact neighbors (chunk ids), best first, 100 per query.
    pub truth: Vec<Vec<i64>>,
}

/// id, language, label (label_path), ast (ast_path), embedding VECTOR(384) MATRYOSHKA(32,64,128,256).
pub fn table_schema() -> TableSchema {
    SchemaBuilder::new()
        .column("id", ColumnType::Int64)
        .column("language", ColumnType::Utf8)
        .column("label", ColumnType::Path)
        .column("ast", ColumnType::Path)
        .vector("embedding", DIM as u32)
        .matryoshka(&[32, 64, 128, 256])
        .metric(Metric::Cosine)
        .build()
        .expect("valid schema")
}

/// Loads chunks, queries and ground truth.
pub fn load() -> Eval {
    let c = read(
        "chunks.parquet",
        &[
            "chunk_id",
            "language",
            "label_path",
            "ast_path",
            "embedding",
        ],
    );
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", c.column(0).data_type().clone(), false),
        Field::new("language", c.column(1).data_type().clone(), true),
        Field::new("label", c.column(2).data_type().clone(), true),
        Field::new("ast", c.column(3).data_type().clone(), true),
        Field::new("embedding", c.column(4).data_type().clone(), false),
    ]));
    let base = RecordBatch::try_new(schema, c.columns().to_vec()).unwrap();
    let q = read("queries.parquet", &["query_id", "embedding"]);
    let queries = flat_vectors(q.column(1));
    let g = read("ground_truth.parquet", &["query_id", "neighbors"]);
    let n = g.column(1).as_fixed_size_list();
    let truth = (0..n.len())
        .map(|i| n.value(i).as_primitive::<Int64Type>().values().to_vec())
        .collect();
    Eval {
        base,
        queries,
        truth,
    }
}

/// Mean recall@k of `found` (ids per query) against the first k of `truth`.
pub fn recall(found: &[Vec<i64>], truth: &[Vec<i64>], k: usize) -> f64 {
    let hits: usize = found
        .iter()
        .zip(truth)
        .map(|(f, t)| f.iter().take(k).filter(|x| t[..k].contains(x)).count())
        .sum();
    hits as f64 / (found.len() * k) as f64
}

/// Every subtree of PATH column `col` of `base` (every prefix of every label) with its row
/// count, sorted by label.
pub fn subtrees(base: &RecordBatch, col: &str) -> Vec<(String, usize)> {
    let s = base.column_by_name(col).expect("column").as_string::<i32>();
    let mut counts: std::collections::HashMap<String, usize> = Default::default();
    for i in 0..s.len() {
        let l = nestdb::label::normalize(s.value(i))
            .expect("label")
            .into_owned();
        let mut end = l.len();
        *counts.entry(l.clone()).or_default() += 1;
        while let Some(p) = l[..end].rfind('/') {
            *counts.entry(l[..p].to_string()).or_default() += 1;
            end = p;
        }
    }
    let mut out: Vec<(String, usize)> = counts.into_iter().collect();
    out.sort();
    out
}

/// The ids (column `id`) of the best `k` rows for each of `queries` (`DIM` floats each) under
/// `p`, all on one snapshot of `t`.
pub fn search_ids(t: &Table, queries: &[f32], k: usize, p: &SearchParams) -> Vec<Vec<i64>> {
    let snap = t.snapshot();
    queries
        .chunks_exact(DIM)
        .map(|q| {
            let r = snap
                .search(q)
                .limit(k)
                .select(&["id"])
                .params(p.clone())
                .execute()
                .expect("search");
            r.column(0).as_primitive::<Int64Type>().values().to_vec()
        })
        .collect()
}

/// `queries` (`DIM` floats each) moved off the data's manifold: each coordinate plus
/// `noise` times a standard normal draw from `rng`, then renormalized to unit length.
pub fn off_manifold(queries: &[f32], noise: f32, rng: &mut impl rand::Rng) -> Vec<f32> {
    let mut out = Vec::with_capacity(queries.len());
    for q in queries.chunks_exact(DIM) {
        let mut v: Vec<f32> = q.iter().map(|x| x + noise * gauss(rng)).collect();
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.iter_mut().for_each(|x| *x /= n);
        out.extend(v);
    }
    out
}

/// A standard normal draw (Box-Muller).
fn gauss(rng: &mut impl rand::Rng) -> f32 {
    let (u, v): (f32, f32) = (rng.random::<f32>().max(1e-9), rng.random::<f32>());
    (-2.0 * u.ln()).sqrt() * (std::f32::consts::TAU * v).cos()
}
