//! `nestdb._nestdb.Table`: writes, searches and scans of one table.

use std::sync::Arc;

use arrow_array::{Array, Int64Array, RecordBatch};
use arrow_schema::DataType;
use nestdb::Filter;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use rayon::prelude::*;

use crate::arrow::{
    array_from_py, batch_to_py, detach_buffers, f32_query, f32_rows, rows_from_py, schema_to_py,
    Rows,
};
use crate::database::Shared;
use crate::errors::{arrow_input_err, detached, engine, guard, to_py_err, InputError};
use crate::query::SearchOpts;

/// A table of an open database (low-level; use `nestdb.Table`). It names the table and
/// resolves it on each call, so it fails cleanly once the database is closed.
#[pyclass(frozen, module = "nestdb._nestdb", name = "Table")]
pub struct PyTable {
    shared: Arc<Shared>,
    name: String,
}

impl PyTable {
    pub fn new(shared: Arc<Shared>, name: String) -> PyTable {
        PyTable { shared, name }
    }

    /// Runs `f` on the engine table with the GIL released.
    fn with_table<T, F>(&self, py: Python<'_>, f: F) -> PyResult<T>
    where
        F: FnOnce(&nestdb::Table) -> nestdb::Result<T> + Send,
        T: Send,
    {
        let h = self.shared.get()?;
        let name = self.name.as_str();
        engine(py, move || {
            let t = h.db.table(name)?;
            f(&t)
        })
    }

    fn table_schema(&self, py: Python<'_>) -> PyResult<nestdb::TableSchema> {
        self.with_table(py, |t| Ok(t.schema().clone()))
    }

    fn write(&self, py: Python<'_>, data: &Bound<'_, PyAny>, upsert: bool) -> PyResult<usize> {
        let rows = guard(|| rows_from_py(data))?;
        let h = self.shared.get()?;
        let name = self.name.as_str();
        detached(py, move || {
            let t = h.db.table(name).map_err(to_py_err)?;
            let vector = t.schema().vector_name().to_string();
            let write = |b: &RecordBatch| -> PyResult<usize> {
                let own = detach_buffers(b, &vector).map_err(arrow_input_err)?;
                let r = if upsert {
                    t.upsert(&own)
                } else {
                    t.insert(&own)
                };
                r.map_err(to_py_err)
            };
            match rows {
                Rows::Batch(b) => write(&b),
                Rows::Stream(reader) => {
                    let mut n = 0;
                    for b in reader {
                        let b = b.map_err(arrow_input_err)?;
                        n += write(&b)?;
                    }
                    Ok(n)
                }
            }
        })
    }
}

fn maintenance<'py>(py: Python<'py>, m: nestdb::Maintenance) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("rows", m.rows)?;
    d.set_item("segments_replaced", m.segments_replaced)?;
    d.set_item("index_version", m.index_version)?;
    d.set_item("refit", m.refit)?;
    Ok(d)
}

#[pymethods]
impl PyTable {
    /// The table's name.
    #[getter]
    fn name(&self) -> String {
        self.name.clone()
    }

    /// The table's columns as a pyarrow.Schema (PATH columns carry `nestdb.type: path`).
    #[getter]
    fn schema<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let s = self.with_table(py, |t| Ok(t.schema().arrow_schema()))?;
        schema_to_py(py, &s)
    }

    /// The primary-key column.
    #[getter]
    fn primary_key(&self, py: Python<'_>) -> PyResult<String> {
        Ok(self.table_schema(py)?.pk_name().to_string())
    }

    /// The vector column.
    #[getter]
    fn vector_column(&self, py: Python<'_>) -> PyResult<String> {
        Ok(self.table_schema(py)?.vector_name().to_string())
    }

    /// The vector dimension.
    #[getter]
    fn dim(&self, py: Python<'_>) -> PyResult<usize> {
        Ok(self.table_schema(py)?.dim())
    }

    /// The last failure of maintenance (an automatic flush, compaction or index fit) that
    /// followed a successful write, or None; the write itself succeeded and the maintenance is
    /// retried by the next write.
    #[getter]
    fn maintenance_error(&self, py: Python<'_>) -> PyResult<Option<String>> {
        self.with_table(py, |t| Ok(t.maintenance_error()))
    }

    /// The distance metric (`cosine`, `l2` or `dot`).
    #[getter]
    fn metric(&self, py: Python<'_>) -> PyResult<String> {
        Ok(self.table_schema(py)?.metric().name().to_string())
    }

    /// The Matryoshka boundaries (band ends below the dimension).
    #[getter]
    fn bands(&self, py: Python<'_>) -> PyResult<Vec<u32>> {
        Ok(self.table_schema(py)?.boundaries().to_vec())
    }

    /// Live recall measured on a sample of this table's searches (see `docs/recall.md`): a
    /// dict with `sample_rate`, `pending`, `adjustments` (list of `(target, note)`) and `rows`
    /// (dicts: `target`, `band`, `samples`, `measured`, `ci_low`, `ci_high`, `estimated`,
    /// `serving_target`).
    fn recall_report<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let r = self.with_table(py, |t| Ok(t.recall_report()))?;
        let out = PyDict::new(py);
        out.set_item("sample_rate", r.sample_rate)?;
        out.set_item("pending", r.pending)?;
        out.set_item("measured_total", r.measured_total)?;
        out.set_item("kept_queries", r.kept_queries)?;
        out.set_item("adjustments", r.adjustments)?;
        let rows = r
            .rows
            .iter()
            .map(|row| {
                let d = PyDict::new(py);
                d.set_item("target", row.target)?;
                d.set_item("band", row.band)?;
                d.set_item("samples", row.measured.queries)?;
                d.set_item(
                    "measured",
                    (row.measured.queries > 0).then_some(row.measured.mean),
                )?;
                d.set_item(
                    "ci_low",
                    (row.measured.queries > 0).then_some(row.measured.lo),
                )?;
                d.set_item(
                    "ci_high",
                    (row.measured.queries > 0).then_some(row.measured.hi),
                )?;
                d.set_item("estimated", row.estimated)?;
                d.set_item("serving_target", row.serving)?;
                Ok(d)
            })
            .collect::<PyResult<Vec<_>>>()?;
        out.set_item("rows", rows)?;
        Ok(out)
    }

    /// Sets the fraction of searches the live recall monitor samples (0 turns it off).
    fn set_recall_sampling(&self, py: Python<'_>, rate: f64) -> PyResult<()> {
        if !(0.0..=1.0).contains(&rate) {
            return Err(pyo3::exceptions::PyValueError::new_err(format!(
                "recall sampling rate must be in [0, 1], got {rate}"
            )));
        }
        self.with_table(py, |t| {
            t.set_recall_sampling(rate);
            Ok(())
        })
    }

    /// Live rows.
    fn count(&self, py: Python<'_>) -> PyResult<usize> {
        self.with_table(py, |t| Ok(t.count()))
    }

    /// Inserts Arrow rows; fails, writing nothing, on a bad row or an existing id.
    fn add(&self, py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<usize> {
        self.write(py, data, false)
    }

    /// Inserts Arrow rows, replacing rows with the same id.
    fn upsert(&self, py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<usize> {
        self.write(py, data, true)
    }

    /// Deletes rows by id (an Arrow int64 array); returns the rows deleted.
    fn delete_ids(&self, py: Python<'_>, ids: &Bound<'_, PyAny>) -> PyResult<usize> {
        let arr = guard(|| array_from_py(ids))?;
        if arr.data_type() != &DataType::Int64 {
            return Err(PyTypeError::new_err(format!(
                "ids must be int64, got {}",
                arr.data_type()
            )));
        }
        if arr.null_count() > 0 {
            return Err(InputError::new_err("ids must not be null"));
        }
        self.with_table(py, move |t| {
            match arr.as_any().downcast_ref::<Int64Array>() {
                Some(a) => t.delete(a.values()),
                None => Ok(0),
            }
        })
    }

    /// Deletes the rows matching a SQL condition; returns the rows deleted.
    fn delete_where(&self, py: Python<'_>, filter: String) -> PyResult<usize> {
        self.with_table(py, move |t| {
            let f = Filter::parse(&filter)?;
            let pk = t.schema().pk_name().to_string();
            let projection: [&str; 1] = [pk.as_str()];
            let batch = t
                .snapshot()
                .scan_where(Some(&f), Some(&projection[..]), None)?;
            let ids = batch
                .columns()
                .first()
                .and_then(|c| c.as_any().downcast_ref::<Int64Array>());
            match ids {
                Some(a) => t.delete(a.values()),
                None => Ok(0),
            }
        })
    }

    /// Nearest rows to one float32 query vector (C-contiguous numpy array).
    #[pyo3(signature = (
        query, k = 10, *, filter = None, select = None, recall_target = None, exact = false,
        nprobe = None, shortlist = None
    ))]
    fn search<'py>(
        &self,
        py: Python<'py>,
        query: &Bound<'py, PyAny>,
        k: usize,
        filter: Option<String>,
        select: Option<Vec<String>>,
        recall_target: Option<f32>,
        exact: bool,
        nprobe: Option<usize>,
        shortlist: Option<Vec<usize>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let data = f32_query(query, "search")?;
        let opts = SearchOpts::new(k, filter, select, recall_target, exact, nprobe, shortlist);
        let batch = self.with_table(py, move |t| {
            let f = opts.parsed_filter()?;
            opts.build(&t.snapshot(), data, f.as_ref()).execute()
        })?;
        batch_to_py(py, &batch)
    }

    /// The lean search: the nearest rows' primary keys (int64) and distances (float32) as raw
    /// little-endian bytes, for `numpy.frombuffer` (no Arrow export on the way out).
    #[pyo3(signature = (
        query, k = 10, *, filter = None, recall_target = None, exact = false, nprobe = None,
        shortlist = None
    ))]
    fn search_ids<'py>(
        &self,
        py: Python<'py>,
        query: &Bound<'py, PyAny>,
        k: usize,
        filter: Option<String>,
        recall_target: Option<f32>,
        exact: bool,
        nprobe: Option<usize>,
        shortlist: Option<Vec<usize>>,
    ) -> PyResult<(
        Bound<'py, pyo3::types::PyBytes>,
        Bound<'py, pyo3::types::PyBytes>,
    )> {
        let data = f32_query(query, "search_ids")?;
        let (ids, dist) = self.with_table(py, move |t| {
            let pk = t.schema().pk_name().to_string();
            let opts = SearchOpts::new(
                k,
                filter,
                Some(vec![pk]),
                recall_target,
                exact,
                nprobe,
                shortlist,
            );
            let f = opts.parsed_filter()?;
            let b = opts.build(&t.snapshot(), data, f.as_ref()).execute()?;
            let ids: Vec<u8> = b
                .column(0)
                .as_any()
                .downcast_ref::<Int64Array>()
                .map(|a| a.values().iter().flat_map(|v| v.to_le_bytes()).collect())
                .unwrap_or_default();
            let dist: Vec<u8> = b
                .column_by_name("_distance")
                .and_then(|c| c.as_any().downcast_ref::<arrow_array::Float32Array>())
                .map(|a| a.values().iter().flat_map(|v| v.to_le_bytes()).collect())
                .unwrap_or_default();
            Ok((ids, dist))
        })?;
        Ok((
            pyo3::types::PyBytes::new(py, &ids),
            pyo3::types::PyBytes::new(py, &dist),
        ))
    }

    /// Every row of a 2-d float32 array searched in parallel on one snapshot; one result batch
    /// with a leading `_query` column (the row number of the query), exported once.
    #[pyo3(signature = (
        queries, k = 10, *, filter = None, select = None, recall_target = None, exact = false,
        nprobe = None, shortlist = None
    ))]
    fn search_batch<'py>(
        &self,
        py: Python<'py>,
        queries: &Bound<'py, PyAny>,
        k: usize,
        filter: Option<String>,
        select: Option<Vec<String>>,
        recall_target: Option<f32>,
        exact: bool,
        nprobe: Option<usize>,
        shortlist: Option<Vec<usize>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let q = f32_rows(queries)?;
        let (data, rows, dim) = (q.data, q.rows, q.dim);
        let opts = SearchOpts::new(k, filter, select, recall_target, exact, nprobe, shortlist);
        let batch: RecordBatch = self.with_table(py, move |t| {
            let f = opts.parsed_filter()?;
            let snap = t.snapshot();
            // an empty query set still needs the result's columns: search a zero vector's shape
            let probe = if rows == 0 || dim == 0 {
                vec![1.0f32; t.schema().dim()]
            } else {
                Vec::new()
            };
            if dim == 0 && rows > 0 {
                // reports the dimension mismatch
                return opts.build(&snap, &[], f.as_ref()).execute();
            }
            let parts: Vec<RecordBatch> = if rows == 0 {
                vec![opts.build(&snap, &probe, f.as_ref()).execute()?.slice(0, 0)]
            } else {
                data.par_chunks(dim)
                    .map(|qv| opts.build(&snap, qv, f.as_ref()).execute())
                    .collect::<nestdb::Result<Vec<RecordBatch>>>()?
            };
            with_query_column(&parts)
        })?;
        batch_to_py(py, &batch)
    }

    /// The plan of a search (EXPLAIN), or what each stage did (EXPLAIN ANALYZE).
    #[pyo3(signature = (
        query, k = 10, *, filter = None, select = None, recall_target = None, exact = false,
        nprobe = None, shortlist = None, analyze = false
    ))]
    fn explain(
        &self,
        py: Python<'_>,
        query: &Bound<'_, PyAny>,
        k: usize,
        filter: Option<String>,
        select: Option<Vec<String>>,
        recall_target: Option<f32>,
        exact: bool,
        nprobe: Option<usize>,
        shortlist: Option<Vec<usize>>,
        analyze: bool,
    ) -> PyResult<String> {
        let data = f32_query(query, "explain")?;
        let opts = SearchOpts::new(k, filter, select, recall_target, exact, nprobe, shortlist);
        self.with_table(py, move |t| {
            let f = opts.parsed_filter()?;
            let s = opts.build(&t.snapshot(), data, f.as_ref());
            if analyze {
                Ok(s.explain_analyze()?.1.to_string())
            } else {
                Ok(s.explain()?.to_string())
            }
        })
    }

    /// Rows in storage order: `columns` (all, the vector included, when None; `_rowid` may be
    /// named), at most `limit`, matching `filter`.
    #[pyo3(signature = (columns = None, limit = None, filter = None))]
    fn to_arrow<'py>(
        &self,
        py: Python<'py>,
        columns: Option<Vec<String>>,
        limit: Option<usize>,
        filter: Option<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let batch = self.with_table(py, move |t| {
            let f = filter.as_deref().map(Filter::parse).transpose()?;
            let cols: Option<Vec<&str>> = columns
                .as_ref()
                .map(|c| c.iter().map(String::as_str).collect());
            t.snapshot().scan_where(f.as_ref(), cols.as_deref(), limit)
        })?;
        batch_to_py(py, &batch)
    }

    /// Writes unflushed rows into a segment.
    fn flush<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let m = self.with_table(py, |t| t.flush())?;
        maintenance(py, m)
    }

    /// Merges segments, drops deleted rows, fits the index when needed.
    fn compact<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let m = self.with_table(py, |t| t.compact())?;
        maintenance(py, m)
    }

    /// Re-learns the index from the current rows (and compacts); with `tune_on` (a 2-d
    /// float32 array; 0 rows: tune on rows again) sets the tuning queries and re-fits in one
    /// step.
    #[pyo3(signature = (tune_on = None))]
    fn analyze<'py>(
        &self,
        py: Python<'py>,
        tune_on: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let queries = tune_on.map(rows_of).transpose()?;
        let m = self.with_table(py, move |t| match &queries {
            Some(q) => t.analyze_tuned_on(q),
            None => t.analyze(),
        })?;
        maintenance(py, m)
    }

    /// Sets the queries the next `analyze()` tunes the recall targets on (a 2-d float32 array,
    /// one query per row, like `search_batch`'s; at least 20, or 0 rows to tune on rows of the
    /// table again). They are stored with the index, so later fits keep them.
    fn set_tuning_queries(&self, py: Python<'_>, queries: &Bound<'_, PyAny>) -> PyResult<()> {
        let rows = rows_of(queries)?;
        self.with_table(py, move |t| t.set_tuning_queries(&rows))
    }

    /// The searches the live recall monitor measured (at most 1,000, a uniform sample of the
    /// measured ones since open), one per row, as a flat list and its row count.
    fn sampled_queries(&self, py: Python<'_>) -> PyResult<(Vec<f32>, usize)> {
        self.with_table(py, |t| {
            let q = t.sampled_queries();
            Ok((q.concat(), q.len()))
        })
    }

    /// Re-fits tuned on the searches the live recall monitor measured (`analyze(tune_on=
    /// "sampled")`); refused when it measured none.
    fn analyze_sampled<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let m = self.with_table(py, |t| t.analyze_tuned_on_sampled())?;
        maintenance(py, m)
    }

    /// How many tuning queries the next `analyze()` tunes on (0: rows of the table).
    fn tuning_queries(&self, py: Python<'_>) -> PyResult<usize> {
        self.with_table(py, |t| t.tuning_queries())
    }

    fn __repr__(&self) -> String {
        format!("<nestdb Table {:?}>", self.name)
    }
}

/// The rows of a 2-d float32 array as vectors.
fn rows_of(queries: &Bound<'_, PyAny>) -> PyResult<Vec<Vec<f32>>> {
    let q = f32_rows(queries)?;
    Ok((0..q.rows)
        .map(|r| q.data[r * q.dim..(r + 1) * q.dim].to_vec())
        .collect())
}

/// Concatenates per-query results, prepending `_query` (the query's row number).
fn with_query_column(parts: &[RecordBatch]) -> nestdb::Result<RecordBatch> {
    use std::sync::Arc;
    let schema = parts[0].schema();
    let all = arrow_select::concat::concat_batches(&schema, parts).map_err(nestdb::Error::from)?;
    let q: arrow_array::Int32Array = parts
        .iter()
        .enumerate()
        .flat_map(|(i, b)| std::iter::repeat_n(i as i32, b.num_rows()))
        .collect();
    let mut fields = vec![arrow_schema::Field::new(
        "_query",
        arrow_schema::DataType::Int32,
        false,
    )];
    fields.extend(schema.fields().iter().map(|f| f.as_ref().clone()));
    let mut cols: Vec<arrow_array::ArrayRef> = vec![Arc::new(q)];
    cols.extend(all.columns().iter().cloned());
    RecordBatch::try_new(Arc::new(arrow_schema::Schema::new(fields)), cols)
        .map_err(nestdb::Error::from)
}
