//! Arrow across the boundary, without copies: the Arrow PyCapsule interface in
//! (`__arrow_c_array__`, `__arrow_c_stream__`, `__arrow_c_schema__`) and pyarrow objects out
//! (`_import_from_c_capsule`), plus zero-copy reading of float32 numpy arrays through
//! `__array_interface__` (the buffer protocol is not part of the abi3-py39 API).

use std::ffi::CStr;
use std::ptr::NonNull;
use std::sync::Arc;

use arrow_array::ffi::{from_ffi, FFI_ArrowArray, FFI_ArrowSchema};
use arrow_array::ffi_stream::{ArrowArrayStreamReader, FFI_ArrowArrayStream};
use arrow_array::{make_array, Array, ArrayRef, RecordBatch, RecordBatchOptions, StructArray};
use arrow_data::transform::MutableArrayData;
use arrow_data::ArrayData;
use arrow_schema::{ArrowError, DataType, Schema};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::PyCapsule;

use crate::errors::{arrow_input_err, arrow_output_err, SchemaError};

fn capsule_ptr<T>(cap: &Bound<'_, PyAny>, name: &CStr) -> PyResult<NonNull<T>> {
    Ok(cap
        .cast::<PyCapsule>()?
        .pointer_checked(Some(name))?
        .cast::<T>())
}

/// A pyarrow.Schema (or anything with `__arrow_c_schema__`) as an Arrow schema, field
/// metadata included.
pub fn schema_from_py(obj: &Bound<'_, PyAny>) -> PyResult<Schema> {
    let py = obj.py();
    if !obj.hasattr(intern!(py, "__arrow_c_schema__"))? {
        return Err(PyTypeError::new_err(
            "schema must be a pyarrow.Schema (or implement __arrow_c_schema__)",
        ));
    }
    let cap = obj.call_method0(intern!(py, "__arrow_c_schema__"))?;
    let ptr = capsule_ptr::<FFI_ArrowSchema>(&cap, c"arrow_schema")?;
    // The capsule keeps ownership of the C struct; it is only read while `cap` is alive.
    let ffi: &FFI_ArrowSchema = unsafe { ptr.as_ref() };
    Schema::try_from(ffi).map_err(|e| SchemaError::new_err(format!("invalid Arrow schema: {e}")))
}

/// Incoming rows: one batch, or a stream of them.
pub enum Rows {
    /// From `__arrow_c_array__`.
    Batch(RecordBatch),
    /// From `__arrow_c_stream__`.
    Stream(ArrowArrayStreamReader),
}

/// Imports rows from a pyarrow RecordBatch / Table / RecordBatchReader or any object with
/// `__arrow_c_array__` (a struct array) or `__arrow_c_stream__`. Buffers are not copied.
pub fn rows_from_py(obj: &Bound<'_, PyAny>) -> PyResult<Rows> {
    let py = obj.py();
    if obj.hasattr(intern!(py, "__arrow_c_array__"))? {
        return Ok(Rows::Batch(batch_from_py(obj)?));
    }
    if obj.hasattr(intern!(py, "__arrow_c_stream__"))? {
        let cap = obj.call_method1(intern!(py, "__arrow_c_stream__"), (py.None(),))?;
        let p = capsule_ptr::<FFI_ArrowArrayStream>(&cap, c"arrow_array_stream")?;
        // Moves the stream out; the capsule is left with a released struct (a no-op to drop).
        let stream = unsafe { FFI_ArrowArrayStream::from_raw(p.as_ptr()) };
        let reader = ArrowArrayStreamReader::try_new(stream).map_err(arrow_input_err)?;
        return Ok(Rows::Stream(reader));
    }
    Err(PyTypeError::new_err(format!(
        "expected Arrow data (an object with __arrow_c_array__ or __arrow_c_stream__), got {}",
        obj.get_type().name()?
    )))
}

/// Imports one array through `__arrow_c_array__`; returns it with the schema capsule.
fn import_c_array<'py>(obj: &Bound<'py, PyAny>) -> PyResult<(ArrayData, Bound<'py, PyAny>)> {
    let py = obj.py();
    let tup = obj.call_method1(intern!(py, "__arrow_c_array__"), (py.None(),))?;
    let (sc, ac): (Bound<'py, PyAny>, Bound<'py, PyAny>) = tup.extract()?;
    let schema_ptr = capsule_ptr::<FFI_ArrowSchema>(&sc, c"arrow_schema")?;
    let array_ptr = capsule_ptr::<FFI_ArrowArray>(&ac, c"arrow_array")?;
    let ffi_schema: &FFI_ArrowSchema = unsafe { schema_ptr.as_ref() };
    // Moves the array out of the capsule (which keeps a released, empty struct).
    let ffi_array = unsafe { FFI_ArrowArray::from_raw(array_ptr.as_ptr()) };
    let data = unsafe { from_ffi(ffi_array, ffi_schema) }.map_err(arrow_input_err)?;
    Ok((data, sc))
}

/// One Arrow array (pyarrow.Array or anything with `__arrow_c_array__`), not copied.
pub fn array_from_py(obj: &Bound<'_, PyAny>) -> PyResult<ArrayRef> {
    if !obj.hasattr(intern!(obj.py(), "__arrow_c_array__"))? {
        return Err(PyTypeError::new_err("expected an Arrow array"));
    }
    Ok(make_array(import_c_array(obj)?.0))
}

fn batch_from_py(obj: &Bound<'_, PyAny>) -> PyResult<RecordBatch> {
    let (data, sc) = import_c_array(obj)?;
    if !matches!(data.data_type(), DataType::Struct(_)) {
        return Err(PyTypeError::new_err(format!(
            "expected a record batch (a struct array), got an array of type {}",
            data.data_type()
        )));
    }
    let schema_ptr = capsule_ptr::<FFI_ArrowSchema>(&sc, c"arrow_schema")?;
    let ffi_schema: &FFI_ArrowSchema = unsafe { schema_ptr.as_ref() };
    let schema = Arc::new(Schema::try_from(ffi_schema).map_err(arrow_input_err)?);
    let len = data.len();
    let (_, columns, nulls) = StructArray::from(data).into_parts();
    if nulls.is_some_and(|n| n.null_count() > 0) {
        return Err(PyValueError::new_err(
            "the record batch has null rows at the top level",
        ));
    }
    RecordBatch::try_new_with_options(
        schema,
        columns,
        &RecordBatchOptions::new().with_row_count(Some(len)),
    )
    .map_err(arrow_input_err)
}

/// A copy of `col` in memory owned by Rust, for column types the engine may keep as they
/// are (so a table never aliases a caller's numpy or pyarrow buffers after the call).
fn owned(col: &ArrayRef) -> ArrayRef {
    let keeps = matches!(
        col.data_type(),
        DataType::Int64
            | DataType::Float64
            | DataType::Boolean
            | DataType::Utf8
            | DataType::Timestamp(_, _)
    );
    if !keeps {
        return col.clone();
    }
    let data = col.to_data();
    let len = data.len();
    let copy = || -> Result<ArrayData, ArrowError> {
        let mut m = MutableArrayData::new(vec![&data], false, len);
        m.try_extend(0, 0, len)?;
        Ok(m.freeze())
    };
    match copy() {
        Ok(d) => make_array(d),
        Err(_) => col.clone(),
    }
}

/// `batch` with every column but `vector` copied into Rust-owned memory (the engine copies
/// vectors itself while checking them).
pub fn detach_buffers(batch: &RecordBatch, vector: &str) -> Result<RecordBatch, ArrowError> {
    let schema = batch.schema();
    let cols: Vec<ArrayRef> = schema
        .fields()
        .iter()
        .zip(batch.columns())
        .map(|(f, c)| {
            if f.name() == vector {
                c.clone()
            } else {
                owned(c)
            }
        })
        .collect();
    RecordBatch::try_new_with_options(
        schema,
        cols,
        &RecordBatchOptions::new().with_row_count(Some(batch.num_rows())),
    )
}

/// A batch as a `pyarrow.RecordBatch`, sharing its buffers.
pub fn batch_to_py<'py>(py: Python<'py>, batch: &RecordBatch) -> PyResult<Bound<'py, PyAny>> {
    let schema = FFI_ArrowSchema::try_from(&*batch.schema()).map_err(arrow_output_err)?;
    let array = FFI_ArrowArray::new(&StructArray::from(batch.clone()).to_data());
    let sc = PyCapsule::new_with_value(py, schema, c"arrow_schema")?;
    let ac = PyCapsule::new_with_value(py, array, c"arrow_array")?;
    py.import("pyarrow")?
        .getattr(intern!(py, "RecordBatch"))?
        .call_method1(intern!(py, "_import_from_c_capsule"), (sc, ac))
}

/// An Arrow schema as a `pyarrow.Schema`.
pub fn schema_to_py<'py>(py: Python<'py>, schema: &Schema) -> PyResult<Bound<'py, PyAny>> {
    let s = FFI_ArrowSchema::try_from(schema).map_err(arrow_output_err)?;
    let cap = PyCapsule::new_with_value(py, s, c"arrow_schema")?;
    py.import("pyarrow")?
        .getattr(intern!(py, "Schema"))?
        .call_method1(intern!(py, "_import_from_c_capsule"), (cap,))
}

/// Float32 rows read in place from a C-contiguous numpy array (1-d: one row; 2-d: rows).
pub struct F32Rows<'a> {
    /// `rows * dim` values.
    pub data: &'a [f32],
    /// Rows.
    pub rows: usize,
    /// Values per row.
    pub dim: usize,
}

/// Reads one query vector (a 1-d array, or 2-d with one row) without copying; `method` names
/// the caller in the error.
pub fn f32_query<'a>(obj: &'a Bound<'_, PyAny>, method: &str) -> PyResult<&'a [f32]> {
    let q = f32_rows(obj)?;
    if q.rows != 1 {
        return Err(pyo3::exceptions::PyValueError::new_err(format!(
            "{method} takes one query vector, got {}{}",
            q.rows,
            if method == "search" {
                " (use search_batch)"
            } else {
                ""
            }
        )));
    }
    Ok(q.data)
}

/// Reads a float32, C-contiguous, 1-d or 2-d numpy array (anything exposing
/// `__array_interface__`) without copying. The slice is valid while `obj` is alive.
pub fn f32_rows<'a>(obj: &'a Bound<'_, PyAny>) -> PyResult<F32Rows<'a>> {
    let py = obj.py();
    let ai = obj
        .getattr(intern!(py, "__array_interface__"))
        .map_err(|_| PyTypeError::new_err("expected a numpy float32 array"))?;
    let typestr: String = ai.get_item("typestr")?.extract()?;
    if typestr != "<f4" {
        return Err(PyTypeError::new_err(format!(
            "expected a float32 array, got dtype {typestr}"
        )));
    }
    if !ai.get_item("strides")?.is_none() {
        return Err(PyValueError::new_err("expected a C-contiguous array"));
    }
    let shape: Vec<usize> = ai.get_item("shape")?.extract()?;
    let (rows, dim) = match shape.as_slice() {
        [d] => (1, *d),
        [n, d] => (*n, *d),
        _ => {
            return Err(PyValueError::new_err(format!(
                "expected a 1-d or 2-d array, got {} dimensions",
                shape.len()
            )))
        }
    };
    let (addr, _readonly): (usize, bool) = ai.get_item("data")?.extract()?;
    let len = rows
        .checked_mul(dim)
        .ok_or_else(|| PyValueError::new_err("array too large"))?;
    let data: &'a [f32] = if len == 0 {
        &[]
    } else {
        if addr == 0 || addr % std::mem::align_of::<f32>() != 0 {
            return Err(PyValueError::new_err(
                "the array's data is not aligned for float32",
            ));
        }
        // SAFETY: numpy guarantees `len` contiguous, aligned f32 values at `addr`, kept alive
        // by `obj`, which outlives the returned slice.
        unsafe { std::slice::from_raw_parts(addr as *const f32, len) }
    };
    Ok(F32Rows { data, rows, dim })
}

/// A query's batches for pyarrow: computed one at a time as the reader is read.
struct QueryReader {
    schema: arrow_schema::SchemaRef,
    stream: nestdb::sql::Stream,
}

impl Iterator for QueryReader {
    type Item = Result<RecordBatch, ArrowError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.stream
            .next()
            .map(|r| r.map_err(|e| ArrowError::ExternalError(Box::new(e))))
    }
}

impl arrow_array::RecordBatchReader for QueryReader {
    fn schema(&self) -> arrow_schema::SchemaRef {
        self.schema.clone()
    }
}

/// A streaming query as a `pyarrow.RecordBatchReader` (batches are computed as it is read).
pub fn stream_to_py<'py>(
    py: Python<'py>,
    schema: arrow_schema::SchemaRef,
    stream: nestdb::sql::Stream,
) -> PyResult<Bound<'py, PyAny>> {
    let ffi = FFI_ArrowArrayStream::new(Box::new(QueryReader { schema, stream }));
    let cap = PyCapsule::new_with_value(py, ffi, c"arrow_array_stream")?;
    py.import("pyarrow")?
        .getattr(intern!(py, "RecordBatchReader"))?
        .call_method1(intern!(py, "_import_from_c_capsule"), (cap,))
}
