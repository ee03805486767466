//! The Python exception hierarchy, the mapping from engine errors to it, and the helpers that
//! run engine calls with the GIL released and no panic escaping into Python.

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};

use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;

create_exception!(
    nestdb,
    Error,
    PyException,
    "Base class of every nestdb error."
);
create_exception!(
    nestdb,
    InputError,
    Error,
    "Rows given to add/upsert were rejected (wrong type or dimension, NaN, duplicate or missing id, unknown column). Nothing was written."
);
create_exception!(
    nestdb,
    QueryError,
    Error,
    "A query or SQL statement cannot run as written (bad SQL, unknown column, wrong query dimension, invalid setting, too few tuning queries)."
);
create_exception!(nestdb, SchemaError, Error, "An invalid table schema.");
create_exception!(
    nestdb,
    CatalogError,
    Error,
    "A catalog problem: a table name already in use or invalid."
);
create_exception!(
    nestdb,
    NotFoundError,
    CatalogError,
    "The table does not exist."
);
create_exception!(
    nestdb,
    ModelError,
    Error,
    "An ONNX model is missing, broken or failed to run."
);
create_exception!(
    nestdb,
    StorageError,
    Error,
    "The storage layer failed (I/O, corruption), or another internal error."
);

/// Maps an engine error to the matching Python exception; the message is the engine's.
pub fn to_py_err(e: nestdb::Error) -> PyErr {
    let msg = e.to_string();
    match &e {
        nestdb::Error::Input(_) => InputError::new_err(msg),
        nestdb::Error::Query(_) => QueryError::new_err(msg),
        nestdb::Error::Schema(_) => SchemaError::new_err(msg),
        nestdb::Error::Catalog(nestdb::CatalogError::NoSuchTable(_)) => NotFoundError::new_err(msg),
        nestdb::Error::Catalog(_) => CatalogError::new_err(msg),
        nestdb::Error::Storage(_) => StorageError::new_err(msg),
        nestdb::Error::Sql(_) => QueryError::new_err(msg),
        nestdb::Error::Model(_) => ModelError::new_err(msg),
        nestdb::Error::Option(_) => SchemaError::new_err(msg),
        nestdb::Error::Index(
            nestdb::IndexError::TooFewTuningQueries { .. } | nestdb::IndexError::NoSampledQueries,
        ) => QueryError::new_err(msg),
        // Load (COPY), Index, Cancelled, and variants added later.
        _ => StorageError::new_err(msg),
    }
}

/// Error for invalid Arrow data coming in from Python.
pub fn arrow_input_err(e: arrow_schema::ArrowError) -> PyErr {
    InputError::new_err(format!("invalid Arrow data: {e}"))
}

/// Error for a failure exporting results to Arrow.
pub fn arrow_output_err(e: arrow_schema::ArrowError) -> PyErr {
    Error::new_err(format!("exporting Arrow data: {e}"))
}

fn panic_err(payload: Box<dyn Any + Send>) -> PyErr {
    let what = if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".to_string()
    };
    Error::new_err(format!("internal error (this is a bug in nestdb): {what}"))
}

/// Runs `f` (with the GIL held); a panic becomes `nestdb.Error`. For code that reads
/// caller-supplied Arrow data.
pub fn guard<T, F>(f: F) -> PyResult<T>
where
    F: FnOnce() -> PyResult<T>,
{
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(payload) => Err(panic_err(payload)),
    }
}

/// Runs `f` with the GIL released; a panic becomes `nestdb.Error`.
pub fn detached<T, F>(py: Python<'_>, f: F) -> PyResult<T>
where
    F: FnOnce() -> PyResult<T> + Send,
    T: Send,
{
    py.detach(move || match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(payload) => Err(panic_err(payload)),
    })
}

/// Runs an engine call with the GIL released; engine errors and panics become nestdb errors.
pub fn engine<T, F>(py: Python<'_>, f: F) -> PyResult<T>
where
    F: FnOnce() -> nestdb::Result<T> + Send,
    T: Send,
{
    detached(py, move || f().map_err(to_py_err))
}

/// Registers the exception classes on the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("Error", py.get_type::<Error>())?;
    m.add("InputError", py.get_type::<InputError>())?;
    m.add("QueryError", py.get_type::<QueryError>())?;
    m.add("SchemaError", py.get_type::<SchemaError>())?;
    m.add("CatalogError", py.get_type::<CatalogError>())?;
    m.add("NotFoundError", py.get_type::<NotFoundError>())?;
    m.add("ModelError", py.get_type::<ModelError>())?;
    m.add("StorageError", py.get_type::<StorageError>())?;
    Ok(())
}
