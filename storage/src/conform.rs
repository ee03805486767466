//! Checks an incoming Arrow batch against a table schema and converts it to the table's
//! canonical types. Nothing is written unless the whole batch passes.

use std::collections::HashSet;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float16Type, Float32Type, Float64Type, Int64Type};
use arrow_array::{Array, ArrayRef, FixedSizeListArray, Float32Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field};

use crate::label;
use crate::schema::{ColumnType, Metric, TableSchema};

/// Why an input batch was rejected. The batch changes nothing when this is returned.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum InputError {
    /// The batch has a column the table does not.
    #[error("unknown column \"{column}\" (the table has: {known})")]
    UnknownColumn {
        /// The column.
        column: String,
        /// The table's columns, comma-separated.
        known: String,
    },
    /// A required column (primary key or vector) is missing.
    #[error("missing required column \"{0}\"")]
    MissingColumn(String),
    /// A column has a type that cannot be converted to the table's.
    #[error("column \"{column}\": expected {expected}, got {actual}")]
    WrongType {
        /// The column.
        column: String,
        /// The table's type.
        expected: String,
        /// The batch's Arrow type.
        actual: String,
    },
    /// A vector has the wrong number of dimensions.
    #[error(
        "column \"{column}\", row {row}: expected a vector of {expected} dimensions, got {actual}"
    )]
    WrongDimension {
        /// The vector column.
        column: String,
        /// Row within the batch.
        row: usize,
        /// The table's dimension.
        expected: usize,
        /// The vector's length.
        actual: usize,
    },
    /// A vector holds NaN or an infinity.
    #[error("column \"{column}\", row {row}: vector holds a non-finite value ({value}) at dimension {dim}")]
    NonFinite {
        /// The vector column.
        column: String,
        /// Row within the batch.
        row: usize,
        /// The offending dimension.
        dim: usize,
        /// The value, printed.
        value: String,
    },
    /// A vector is NULL or holds a NULL element.
    #[error("column \"{column}\", row {row}: vector is NULL or holds NULL elements")]
    NullVector {
        /// The vector column.
        column: String,
        /// Row within the batch.
        row: usize,
    },
    /// A cosine table got the zero vector, which has no direction.
    #[error("column \"{column}\", row {row}: the zero vector has no cosine distance")]
    ZeroVector {
        /// The vector column.
        column: String,
        /// Row within the batch.
        row: usize,
    },
    /// The primary key is NULL.
    #[error("column \"{column}\", row {row}: the primary key must not be NULL")]
    NullKey {
        /// The key column.
        column: String,
        /// Row within the batch.
        row: usize,
    },
    /// The primary key is negative.
    #[error("column \"{column}\", row {row}: ids must be non-negative, got {value}")]
    NegativeKey {
        /// The key column.
        column: String,
        /// Row within the batch.
        row: usize,
        /// The value.
        value: i64,
    },
    /// An id appears twice in the batch, or already exists (on insert).
    #[error("duplicate id {0}")]
    DuplicateKey(i64),
    /// A `PATH` value breaks the label rules.
    #[error("column \"{column}\", row {row}: invalid label \"{label}\": {reason}")]
    InvalidLabel {
        /// The PATH column.
        column: String,
        /// Row within the batch.
        row: usize,
        /// The label as given.
        label: String,
        /// The rule it breaks.
        reason: label::LabelError,
    },
}

impl InputError {
    /// The same error with its row number moved by `offset` (batch row to file row).
    pub fn at_row(mut self, offset: usize) -> InputError {
        use InputError::*;
        match &mut self {
            WrongDimension { row, .. }
            | NonFinite { row, .. }
            | NullVector { row, .. }
            | ZeroVector { row, .. }
            | NullKey { row, .. }
            | NegativeKey { row, .. }
            | InvalidLabel { row, .. } => *row += offset,
            _ => {}
        }
        self
    }

    /// The row the error is about, if it names one.
    pub fn row(&self) -> Option<usize> {
        use InputError::*;
        match self {
            WrongDimension { row, .. }
            | NonFinite { row, .. }
            | NullVector { row, .. }
            | ZeroVector { row, .. }
            | NullKey { row, .. }
            | NegativeKey { row, .. }
            | InvalidLabel { row, .. } => Some(*row),
            _ => None,
        }
    }
}

/// Converts `batch` to the table's canonical schema, checking every value that can be wrong.
pub fn conform(schema: &TableSchema, batch: &RecordBatch) -> Result<RecordBatch, InputError> {
    for f in batch.schema().fields() {
        if schema.index_of(f.name()).is_none() {
            return Err(InputError::UnknownColumn {
                column: f.name().clone(),
                known: schema.column_list(),
            });
        }
    }
    let n = batch.num_rows();
    let mut out: Vec<ArrayRef> = Vec::with_capacity(schema.columns().len());
    for (i, col) in schema.columns().iter().enumerate() {
        let Some(input) = batch.column_by_name(&col.name) else {
            if i == schema.pk_index() || i == schema.vector_index() {
                return Err(InputError::MissingColumn(col.name.clone()));
            }
            out.push(arrow_array::new_null_array(&col.ty.arrow_type(), n));
            continue;
        };
        let arr = match &col.ty {
            ColumnType::Vector { dim } => {
                conform_vector(&col.name, input, *dim as usize, schema.metric())?
            }
            ColumnType::Path => conform_labels(&col.name, input)?,
            ty => cast_scalar(&col.name, input, ty)?,
        };
        out.push(arr);
    }
    check_keys(schema, &out[schema.pk_index()])?;
    Ok(RecordBatch::try_new(schema.arrow_schema(), out).expect("conformed columns match schema"))
}

fn wrong_type(column: &str, ty: &ColumnType, actual: &DataType) -> InputError {
    InputError::WrongType {
        column: column.into(),
        expected: ty.sql_name(),
        actual: actual.to_string(),
    }
}

fn cast_scalar(name: &str, input: &ArrayRef, ty: &ColumnType) -> Result<ArrayRef, InputError> {
    use DataType as D;
    let from = input.data_type();
    let ok = matches!(from, D::Null)
        || match ty {
            ColumnType::Int64 => matches!(
                from,
                D::Int8 | D::Int16 | D::Int32 | D::Int64 | D::UInt8 | D::UInt16 | D::UInt32
            ),
            ColumnType::Float64 => from.is_numeric(),
            ColumnType::Utf8 => {
                matches!(from, D::Utf8 | D::LargeUtf8 | D::Utf8View)
                    || matches!(from, D::Dictionary(_, v) if v.is_string())
            }
            ColumnType::Boolean => matches!(from, D::Boolean),
            ColumnType::Timestamp => matches!(from, D::Timestamp(_, _) | D::Int64),
            _ => false,
        };
    if !ok {
        return Err(wrong_type(name, ty, from));
    }
    arrow_cast::cast(input, &ty.arrow_type()).map_err(|_| wrong_type(name, ty, from))
}

fn conform_labels(name: &str, input: &ArrayRef) -> Result<ArrayRef, InputError> {
    let utf8 = cast_scalar(name, input, &ColumnType::Utf8)
        .map_err(|_| wrong_type(name, &ColumnType::Path, input.data_type()))?;
    let s = utf8.as_string::<i32>();
    let mut out = Vec::with_capacity(s.len());
    for (row, v) in s.iter().enumerate() {
        out.push(match v {
            None => None,
            Some(l) => Some(
                label::normalize(l).map_err(|reason| InputError::InvalidLabel {
                    column: name.into(),
                    row,
                    label: l.into(),
                    reason,
                })?,
            ),
        });
    }
    Ok(Arc::new(
        out.iter().map(|o| o.as_deref()).collect::<StringArray>(),
    ))
}

/// Extracts `dim`-dimensional f32 vectors from FixedSizeList/List/LargeList of f16/f32/f64,
/// checking nulls, dimension and finiteness (and non-zero norm under cosine).
pub fn conform_vector(
    name: &str,
    input: &ArrayRef,
    dim: usize,
    metric: Metric,
) -> Result<ArrayRef, InputError> {
    let ty = ColumnType::Vector { dim: dim as u32 };
    let n = input.len();
    let (values, offsets) = list_parts(name, input, &ty)?;
    let floats = float_values(name, input, values, &ty)?;
    let mut out = Vec::with_capacity(n * dim);
    for row in 0..n {
        let (s, e) = (offsets[row], offsets[row + 1]);
        if input.is_null(row) || (s..e).any(|j| values.is_null(j)) {
            return Err(InputError::NullVector {
                column: name.into(),
                row,
            });
        }
        if e - s != dim {
            return Err(InputError::WrongDimension {
                column: name.into(),
                row,
                expected: dim,
                actual: e - s,
            });
        }
        let v = &floats[s..e];
        check_elements(name, row, v, metric)?;
        out.extend_from_slice(v);
    }
    let field = Arc::new(Field::new("item", DataType::Float32, false));
    Ok(Arc::new(FixedSizeListArray::new(
        field,
        dim as i32,
        Arc::new(Float32Array::from(out)),
        None,
    )))
}

/// The element array of a list column and each row's element offsets (`rows + 1` of them);
/// anything but a FixedSizeList, List or LargeList is the wrong type for vector column `ty`.
fn list_parts<'a>(
    name: &str,
    input: &'a ArrayRef,
    ty: &ColumnType,
) -> Result<(&'a ArrayRef, Vec<usize>), InputError> {
    let n = input.len();
    Ok(match input.data_type() {
        DataType::FixedSizeList(_, w) => {
            let l = input.as_fixed_size_list();
            let w = *w as usize;
            (l.values(), (0..=n).map(|i| i * w).collect())
        }
        DataType::List(_) => {
            let l = input.as_list::<i32>();
            (
                l.values(),
                l.offsets().iter().map(|&o| o as usize).collect(),
            )
        }
        DataType::LargeList(_) => {
            let l = input.as_list::<i64>();
            (
                l.values(),
                l.offsets().iter().map(|&o| o as usize).collect(),
            )
        }
        other => return Err(wrong_type(name, ty, other)),
    })
}

/// The elements `values` of list column `input` as f32 (from f16, f32 or f64).
fn float_values(
    name: &str,
    input: &ArrayRef,
    values: &ArrayRef,
    ty: &ColumnType,
) -> Result<Vec<f32>, InputError> {
    Ok(match values.data_type() {
        DataType::Float32 => values.as_primitive::<Float32Type>().values().to_vec(),
        DataType::Float16 => values
            .as_primitive::<Float16Type>()
            .values()
            .iter()
            .map(|h| h.to_f32())
            .collect(),
        DataType::Float64 => values
            .as_primitive::<Float64Type>()
            .values()
            .iter()
            .map(|&d| d as f32)
            .collect(),
        _ => return Err(wrong_type(name, ty, input.data_type())),
    })
}

/// Fails when vector `v` (row `row` of column `name`) holds a non-finite value, or is the
/// zero vector under cosine.
fn check_elements(name: &str, row: usize, v: &[f32], metric: Metric) -> Result<(), InputError> {
    if let Some(d) = v.iter().position(|x| !x.is_finite()) {
        return Err(InputError::NonFinite {
            column: name.into(),
            row,
            dim: d,
            value: v[d].to_string(),
        });
    }
    if metric == Metric::Cosine && v.iter().all(|&x| x == 0.0) {
        return Err(InputError::ZeroVector {
            column: name.into(),
            row,
        });
    }
    Ok(())
}

fn check_keys(schema: &TableSchema, keys: &ArrayRef) -> Result<(), InputError> {
    let name = schema.pk_name();
    let keys = keys.as_primitive::<Int64Type>();
    let mut seen = HashSet::with_capacity(keys.len());
    for (row, k) in keys.iter().enumerate() {
        let k = k.ok_or_else(|| InputError::NullKey {
            column: name.into(),
            row,
        })?;
        if k < 0 {
            return Err(InputError::NegativeKey {
                column: name.into(),
                row,
                value: k,
            });
        }
        if !seen.insert(k) {
            return Err(InputError::DuplicateKey(k));
        }
    }
    Ok(())
}

/// The flat f32 values of a conformed vector column (`rows * dim`).
pub fn vector_values(col: &ArrayRef) -> &[f32] {
    col.as_fixed_size_list()
        .values()
        .as_primitive::<Float32Type>()
        .values()
}
