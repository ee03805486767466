//! `nestdb._nestdb`: the native half of the Python package `nestdb`.
//!
//! The pure-Python layer (`python/nestdb/__init__.py`) wraps these classes and turns numpy
//! arrays, dicts and lists into Arrow. This module only sees Arrow (through the Arrow
//! PyCapsule interface, without copies) and float32 numpy arrays (read in place through
//! `__array_interface__`). Every engine call runs with the GIL released, and no Rust panic
//! reaches Python: it becomes `nestdb.Error`.
// Python methods take keyword arguments, one Rust parameter each.
#![allow(clippy::too_many_arguments)]

mod arrow;
mod database;
mod errors;
mod query;
mod schema;
mod table;

use pyo3::prelude::*;

/// Native module of nestdb, an embedded vector database; use the `nestdb` package.
#[pymodule]
fn _nestdb(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<database::PyDatabase>()?;
    m.add_class::<table::PyTable>()?;
    errors::register(m)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
