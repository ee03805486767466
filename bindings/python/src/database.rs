//! `nestdb._nestdb.Database`: an open database directory (or a temporary one).

use std::path::PathBuf;
use std::sync::{Arc, PoisonError, RwLock};

use arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use arrow_schema::{ArrowError, DataType, Field, Schema};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::arrow::{batch_to_py, schema_from_py};
use crate::errors::{arrow_output_err, engine, guard, Error, StorageError};
use crate::schema::TableSpec;
use crate::table::PyTable;

/// The engine database and, for `connect()` without a path, its temporary directory.
pub struct Handle {
    pub db: nestdb::Database,
    // Declared after `db`: fields drop in order, so the directory is removed only once the
    // database (and its RocksDB instance) is closed.
    _tmp: Option<tempfile::TempDir>,
}

/// State shared by a Database and the Tables opened from it. `close()` takes the handle
/// out; calls already running keep their own `Arc` and finish normally.
pub struct Shared {
    handle: RwLock<Option<Arc<Handle>>>,
    path: PathBuf,
    temporary: bool,
}

impl Shared {
    /// The open database, or `nestdb.Error` once it is closed.
    pub fn get(&self) -> PyResult<Arc<Handle>> {
        let g = self.handle.read().unwrap_or_else(PoisonError::into_inner);
        g.as_ref()
            .cloned()
            .ok_or_else(|| Error::new_err("the database is closed"))
    }

    fn take(&self) -> Option<Arc<Handle>> {
        self.handle
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }

    fn is_closed(&self) -> bool {
        self.handle
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .is_none()
    }
}

/// An open nestdb database (low-level; use `nestdb.connect`).
#[pyclass(frozen, module = "nestdb._nestdb", name = "Database")]
pub struct PyDatabase {
    shared: Arc<Shared>,
}

fn status_batch(command: String, rows: usize) -> Result<RecordBatch, ArrowError> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("command", DataType::Utf8, false),
        Field::new("rows", DataType::Int64, false),
    ]));
    let rows = i64::try_from(rows).unwrap_or(i64::MAX);
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(StringArray::from(vec![command])) as ArrayRef,
            Arc::new(Int64Array::from(vec![rows])) as ArrayRef,
        ],
    )
}

#[pymethods]
impl PyDatabase {
    /// Opens (creating if needed) the database in `path`; without a path, a new temporary
    /// directory removed when the database is closed or garbage-collected.
    #[new]
    #[pyo3(signature = (
        path = None, *, sync = None, auto_flush_rows = None, auto_index = None,
        recall_sample_rate = None
    ))]
    fn new(
        py: Python<'_>,
        path: Option<PathBuf>,
        sync: Option<bool>,
        auto_flush_rows: Option<usize>,
        auto_index: Option<bool>,
        recall_sample_rate: Option<f64>,
    ) -> PyResult<Self> {
        let temporary = path.is_none();
        let (dir, tmp) = match path {
            Some(p) => (p, None),
            None => {
                let t = tempfile::Builder::new()
                    .prefix("nestdb-")
                    .tempdir()
                    .map_err(|e| {
                        StorageError::new_err(format!("creating a temporary directory: {e}"))
                    })?;
                (t.path().to_path_buf(), Some(t))
            }
        };
        // A temporary database is never reopened, so fsync buys nothing there.
        let mut b = nestdb::Database::builder().sync(sync.unwrap_or(!temporary));
        if let Some(n) = auto_flush_rows {
            b = b.auto_flush_rows(n);
        }
        if let Some(on) = auto_index {
            b = b.auto_index(on);
        }
        if let Some(rate) = recall_sample_rate {
            if !(0.0..=1.0).contains(&rate) {
                return Err(PyValueError::new_err(format!(
                    "recall_sample_rate must be in [0, 1], got {rate}"
                )));
            }
            b = b.recall_sample_rate(rate);
        }
        let open_dir = dir.clone();
        let db = engine(py, move || b.open(&open_dir))?;
        Ok(PyDatabase {
            shared: Arc::new(Shared {
                handle: RwLock::new(Some(Arc::new(Handle { db, _tmp: tmp }))),
                path: dir,
                temporary,
            }),
        })
    }

    /// The database directory.
    #[getter]
    fn path(&self) -> String {
        self.shared.path.to_string_lossy().into_owned()
    }

    /// Whether the directory is temporary (removed on close).
    #[getter]
    fn temporary(&self) -> bool {
        self.shared.temporary
    }

    /// Whether `close()` was called.
    #[getter]
    fn closed(&self) -> bool {
        self.shared.is_closed()
    }

    /// Closes the database (idempotent). A temporary directory is removed once no call is
    /// still running.
    fn close(&self, py: Python<'_>) {
        let h = self.shared.take();
        py.detach(move || drop(h));
    }

    /// Runs `;`-separated SQL statements; returns the last one's result as a
    /// pyarrow.RecordBatch (None when there was no statement).
    fn sql<'py>(&self, py: Python<'py>, sql: String) -> PyResult<Option<Bound<'py, PyAny>>> {
        let h = self.shared.get()?;
        let outputs = engine(py, move || h.db.sql(&sql))?;
        let Some(last) = outputs.into_iter().last() else {
            return Ok(None);
        };
        #[allow(unreachable_patterns)]
        let batch = match last {
            nestdb::sql::Output::Rows(b) => b,
            nestdb::sql::Output::Status { command, rows } => {
                status_batch(command, rows).map_err(arrow_output_err)?
            }
            _ => return Ok(None),
        };
        Ok(Some(batch_to_py(py, &batch)?))
    }

    /// Runs one query and returns a pyarrow.RecordBatchReader that computes its batches as
    /// they are read (large results are never collected in memory).
    fn sql_reader<'py>(&self, py: Python<'py>, sql: String) -> PyResult<Bound<'py, PyAny>> {
        let h = self.shared.get()?;
        let (schema, stream) = engine(py, move || h.db.session().query_stream(&sql))?;
        crate::arrow::stream_to_py(py, schema, stream)
    }

    /// Creates a table from a pyarrow schema (see `nestdb.Database.create_table`).
    #[pyo3(signature = (
        name,
        schema,
        *,
        primary_key = "id".to_string(),
        vector = None,
        bands = None,
        metric = "cosine".to_string(),
        paths = Vec::new(),
        options = Vec::new()
    ))]
    fn create_table(
        &self,
        py: Python<'_>,
        name: String,
        schema: &Bound<'_, PyAny>,
        primary_key: String,
        vector: Option<String>,
        bands: Option<Vec<u32>>,
        metric: String,
        paths: Vec<String>,
        options: Vec<(String, String)>,
    ) -> PyResult<PyTable> {
        let arrow = guard(|| schema_from_py(schema))?;
        let spec = TableSpec {
            primary_key,
            vector,
            bands,
            metric,
            paths,
            options,
        };
        let (table_schema, table_options) = crate::schema::build(&arrow, &spec)?;
        let h = self.shared.get()?;
        let n = name.as_str();
        engine(py, move || {
            h.db.create_table_with(n, table_schema, table_options)
                .map(|_| ())
        })?;
        Ok(PyTable::new(self.shared.clone(), name))
    }

    /// Opens an existing table.
    fn open_table(&self, py: Python<'_>, name: String) -> PyResult<PyTable> {
        let h = self.shared.get()?;
        let n = name.as_str();
        engine(py, move || h.db.table(n).map(|_| ()))?;
        Ok(PyTable::new(self.shared.clone(), name))
    }

    /// Names of all tables, sorted.
    fn table_names(&self, py: Python<'_>) -> PyResult<Vec<String>> {
        let h = self.shared.get()?;
        engine(py, move || h.db.list_tables())
    }

    /// Drops a table and its files.
    fn drop_table(&self, py: Python<'_>, name: String) -> PyResult<()> {
        let h = self.shared.get()?;
        engine(py, move || h.db.drop_table(&name))
    }

    fn __repr__(&self) -> String {
        let state = if self.shared.is_closed() {
            ", closed"
        } else {
            ""
        };
        let kind = if self.shared.temporary {
            "temporary "
        } else {
            ""
        };
        format!(
            "<nestdb {kind}Database {:?}{state}>",
            self.shared.path.to_string_lossy()
        )
    }
}
