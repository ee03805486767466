//! Turning literal rows (INSERT ... VALUES) into an Arrow batch of a table's schema.

use std::sync::Arc;

use arrow_array::builder::{
    BooleanBuilder, FixedSizeListBuilder, Float32Builder, Float64Builder, Int64Builder,
    StringBuilder, TimestampMicrosecondBuilder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema};

use crate::error::{QueryError, Result};
use crate::filter::eval::parse_timestamp;
use crate::filter::Value;
use crate::schema::{ColumnType, TableSchema};

/// Parses `[1, 2.5, -3e-2]` (brackets optional).
pub fn parse_vector(s: &str) -> Result<Vec<f32>, String> {
    let t = s.trim();
    let inner = t
        .strip_prefix('[')
        .and_then(|x| x.strip_suffix(']'))
        .unwrap_or(t);
    if inner.trim().is_empty() {
        return Err("empty vector".into());
    }
    inner
        .split(',')
        .map(|x| {
            x.trim()
                .parse::<f32>()
                .map_err(|_| format!("invalid vector element \"{}\"", x.trim()))
        })
        .collect()
}

/// A one-row `FixedSizeList<Float32>` of `v`.
pub fn fsl(v: &[f32]) -> arrow_array::FixedSizeListArray {
    arrow_array::FixedSizeListArray::new(
        Arc::new(Field::new("item", DataType::Float32, false)),
        v.len() as i32,
        Arc::new(arrow_array::Float32Array::from(v.to_vec())),
        None,
    )
}

/// A filter value as a DataFusion scalar.
pub fn scalar_value(v: &Value) -> datafusion::common::ScalarValue {
    use datafusion::common::ScalarValue as S;
    match v {
        Value::Int(i) => S::Int64(Some(*i)),
        Value::Float(f) => S::Float64(Some(*f)),
        Value::Str(s) => S::Utf8(Some(s.clone())),
        Value::Bool(b) => S::Boolean(Some(*b)),
        Value::Null => S::Null,
    }
}

/// One cell: a scalar or an already-resolved vector.
#[derive(Clone, Debug, PartialEq)]
pub enum Cell {
    /// A scalar literal.
    Scalar(Value),
    /// A vector.
    Vector(Vec<f32>),
}

fn bad(column: &str, ty: &ColumnType, got: &Cell) -> crate::Error {
    let g = match got {
        Cell::Scalar(v) => v.to_string(),
        Cell::Vector(v) => format!("a vector of {} dimensions", v.len()),
    };
    QueryError::Value(format!(
        "column \"{column}\" is {} and cannot hold {g}",
        ty.sql_name()
    ))
    .into()
}

/// Builds a batch with columns `columns` (names in the schema) from `rows` of cells.
pub fn batch(
    schema: &TableSchema,
    table: &str,
    columns: &[String],
    rows: &[Vec<Cell>],
) -> Result<RecordBatch> {
    let mut fields = Vec::new();
    let mut arrays: Vec<ArrayRef> = Vec::new();
    for (j, name) in columns.iter().enumerate() {
        let i = schema
            .index_of(name)
            .ok_or_else(|| QueryError::UnknownColumn {
                column: name.clone(),
                table: table.into(),
                known: schema.column_list(),
            })?;
        let ty = &schema.columns()[i].ty;
        let cells: Vec<&Cell> = rows.iter().map(|r| &r[j]).collect();
        let array = column(name, ty, &cells)?;
        fields.push(Field::new(name, array.data_type().clone(), true));
        arrays.push(array);
    }
    Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)?)
}

/// One column of `cells` typed as `ty`; `name` is for errors.
fn column(name: &str, ty: &ColumnType, cells: &[&Cell]) -> Result<ArrayRef> {
    match ty {
        ColumnType::Int64 => int64_column(name, ty, cells),
        ColumnType::Float64 => float64_column(name, ty, cells),
        ColumnType::Utf8 | ColumnType::Path => string_column(name, ty, cells),
        ColumnType::Boolean => boolean_column(name, ty, cells),
        ColumnType::Timestamp => timestamp_column(name, ty, cells),
        ColumnType::Vector { dim } => vector_column(name, ty, *dim, cells),
        _ => Err(QueryError::Value(format!("column \"{name}\" has an unsupported type")).into()),
    }
}

/// An INT64 column: integers and NULLs.
fn int64_column(name: &str, ty: &ColumnType, cells: &[&Cell]) -> Result<ArrayRef> {
    use Cell::Scalar as S;
    let mut b = Int64Builder::new();
    for c in cells {
        match c {
            S(Value::Int(i)) => b.append_value(*i),
            S(Value::Null) => b.append_null(),
            other => return Err(bad(name, ty, other)),
        }
    }
    Ok(Arc::new(b.finish()))
}

/// A FLOAT64 column: numbers and NULLs.
fn float64_column(name: &str, ty: &ColumnType, cells: &[&Cell]) -> Result<ArrayRef> {
    use Cell::Scalar as S;
    let mut b = Float64Builder::new();
    for c in cells {
        match c {
            S(Value::Int(i)) => b.append_value(*i as f64),
            S(Value::Float(f)) => b.append_value(*f),
            S(Value::Null) => b.append_null(),
            other => return Err(bad(name, ty, other)),
        }
    }
    Ok(Arc::new(b.finish()))
}

/// A UTF8 or PATH column: strings and NULLs.
fn string_column(name: &str, ty: &ColumnType, cells: &[&Cell]) -> Result<ArrayRef> {
    use Cell::Scalar as S;
    let mut b = StringBuilder::new();
    for c in cells {
        match c {
            S(Value::Str(s)) => b.append_value(s),
            S(Value::Null) => b.append_null(),
            other => return Err(bad(name, ty, other)),
        }
    }
    Ok(Arc::new(b.finish()))
}

/// A BOOLEAN column: booleans and NULLs.
fn boolean_column(name: &str, ty: &ColumnType, cells: &[&Cell]) -> Result<ArrayRef> {
    use Cell::Scalar as S;
    let mut b = BooleanBuilder::new();
    for c in cells {
        match c {
            S(Value::Bool(x)) => b.append_value(*x),
            S(Value::Null) => b.append_null(),
            other => return Err(bad(name, ty, other)),
        }
    }
    Ok(Arc::new(b.finish()))
}

/// A TIMESTAMP column: microseconds, timestamp strings and NULLs.
fn timestamp_column(name: &str, ty: &ColumnType, cells: &[&Cell]) -> Result<ArrayRef> {
    use Cell::Scalar as S;
    let mut b = TimestampMicrosecondBuilder::new();
    for c in cells {
        match c {
            S(Value::Int(i)) => b.append_value(*i),
            S(Value::Str(s)) => b.append_value(parse_timestamp(s).ok_or_else(|| bad(name, ty, c))?),
            S(Value::Null) => b.append_null(),
            other => return Err(bad(name, ty, other)),
        }
    }
    Ok(Arc::new(b.finish()))
}

/// A VECTOR(`dim`) column: vectors of exactly `dim` elements, never NULL.
fn vector_column(name: &str, ty: &ColumnType, dim: u32, cells: &[&Cell]) -> Result<ArrayRef> {
    use Cell::Scalar as S;
    let mut b = FixedSizeListBuilder::new(Float32Builder::new(), dim as i32)
        .with_field(Arc::new(Field::new("item", DataType::Float32, false)));
    for (row, c) in cells.iter().enumerate() {
        match c {
            Cell::Vector(v) if v.len() == dim as usize => {
                b.values().append_slice(v);
                b.append(true);
            }
            Cell::Vector(v) => {
                return Err(crate::InputError::WrongDimension {
                    column: name.into(),
                    row,
                    expected: dim as usize,
                    actual: v.len(),
                }
                .into())
            }
            S(Value::Null) => {
                return Err(crate::InputError::NullVector {
                    column: name.into(),
                    row,
                }
                .into())
            }
            other => return Err(bad(name, ty, other)),
        }
    }
    Ok(Arc::new(b.finish()))
}

#[cfg(test)]
mod tests {
    use super::parse_vector;

    #[test]
    fn vectors() {
        assert_eq!(parse_vector("[1, 2.5,-3]").unwrap(), vec![1.0, 2.5, -3.0]);
        assert!(parse_vector("[1, x]").is_err());
        assert!(parse_vector("[]").is_err());
    }
}
