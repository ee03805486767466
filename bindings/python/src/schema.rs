//! A pyarrow schema plus `create_table` arguments, as an engine table schema and options.

use arrow_schema::{DataType, Field, Schema};
use nestdb::{ColumnType, Metric, SchemaBuilder, TableOptions, TableSchema};
use pyo3::prelude::*;

use crate::errors::{to_py_err, SchemaError};

/// The `create_table` arguments besides the name and the Arrow schema.
pub struct TableSpec {
    pub primary_key: String,
    pub vector: Option<String>,
    pub bands: Option<Vec<u32>>,
    pub metric: String,
    pub paths: Vec<String>,
    pub options: Vec<(String, String)>,
}

fn bad(msg: String) -> PyErr {
    SchemaError::new_err(msg)
}

fn is_string(t: &DataType) -> bool {
    match t {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => true,
        DataType::Dictionary(_, v) => matches!(
            &**v,
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
        ),
        _ => false,
    }
}

fn is_vector(t: &DataType) -> bool {
    matches!(t, DataType::FixedSizeList(_, _))
}

fn is_path_field(f: &Field, spec: &TableSpec) -> bool {
    spec.paths.iter().any(|p| p == f.name())
        || f.metadata()
            .get("nestdb.type")
            .is_some_and(|v| v.eq_ignore_ascii_case("path"))
}

fn column_type(f: &Field, vector: &str, spec: &TableSpec) -> PyResult<ColumnType> {
    let name = f.name();
    let t = f.data_type();
    if name == vector {
        return match t {
            DataType::FixedSizeList(item, d) => {
                if !matches!(
                    item.data_type(),
                    DataType::Float32 | DataType::Float16 | DataType::Float64
                ) {
                    return Err(bad(format!(
                        "vector column \"{name}\": expected fixed_size_list<float32>[dim], got {t}"
                    )));
                }
                let dim = u32::try_from(*d)
                    .map_err(|_| bad(format!("vector column \"{name}\": invalid dimension {d}")))?;
                Ok(ColumnType::Vector { dim })
            }
            other => Err(bad(format!(
                "vector column \"{name}\": expected fixed_size_list<float32>[dim], got {other}"
            ))),
        };
    }
    if is_path_field(f, spec) {
        if !is_string(t) {
            return Err(bad(format!(
                "column \"{name}\" is declared a path but has type {t} (expected string)"
            )));
        }
        return Ok(ColumnType::Path);
    }
    let ty = match t {
        DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::Int64
        | DataType::UInt8
        | DataType::UInt16
        | DataType::UInt32 => ColumnType::Int64,
        DataType::Float16 | DataType::Float32 | DataType::Float64 => ColumnType::Float64,
        DataType::Boolean => ColumnType::Boolean,
        DataType::Timestamp(_, _) => ColumnType::Timestamp,
        t if is_string(t) => ColumnType::Utf8,
        DataType::FixedSizeList(_, _) => {
            return Err(bad(format!(
                "column \"{name}\": a table has exactly one vector column (\"{vector}\"); \
                 {name} is also a fixed_size_list"
            )))
        }
        other => {
            return Err(bad(format!(
                "column \"{name}\": unsupported Arrow type {other} (supported: integers up to \
                 int64/uint32, floats, string, bool, timestamp, fixed_size_list<float32>[dim])"
            )))
        }
    };
    Ok(ty)
}

/// Builds the engine schema and options.
pub fn build(arrow: &Schema, spec: &TableSpec) -> PyResult<(TableSchema, TableOptions)> {
    let fields = arrow.fields();
    for p in &spec.paths {
        if !fields.iter().any(|f| f.name() == p) {
            return Err(bad(format!("paths: no column named \"{p}\"")));
        }
    }
    let vector = match &spec.vector {
        Some(v) => {
            if !fields.iter().any(|f| f.name() == v) {
                return Err(bad(format!("vector: no column named \"{v}\"")));
            }
            v.clone()
        }
        None => {
            let lists: Vec<&str> = fields
                .iter()
                .filter(|f| is_vector(f.data_type()))
                .map(|f| f.name().as_str())
                .collect();
            match lists.as_slice() {
                [one] => one.to_string(),
                [] => return Err(bad(
                    "the schema has no vector column: add a fixed_size_list<float32>[dim] field"
                        .to_string(),
                )),
                many => {
                    return Err(bad(format!(
                        "several fixed_size_list columns ({}): pass vector=\"name\"",
                        many.join(", ")
                    )))
                }
            }
        }
    };
    let metric = Metric::parse(&spec.metric).ok_or_else(|| {
        bad(format!(
            "unknown metric \"{}\" (use cosine, l2 or dot)",
            spec.metric
        ))
    })?;
    let mut b = SchemaBuilder::new()
        .primary_key(&spec.primary_key)
        .metric(metric);
    for f in fields.iter() {
        b = b.column(f.name(), column_type(f, &vector, spec)?);
    }
    if let Some(bands) = &spec.bands {
        b = b.matryoshka(bands);
    }
    let schema = b.build().map_err(to_py_err)?;
    let mut options = TableOptions::default();
    for (k, v) in &spec.options {
        options
            .set(k, v)
            .map_err(|e| to_py_err(nestdb::Error::from(e)))?;
    }
    Ok((schema, options))
}
