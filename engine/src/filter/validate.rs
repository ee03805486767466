//! Type-checking a filter against a table's schema before it runs.

use super::{Filter, Value};
use crate::error::{QueryError, Result};
use nestdb_storage::{ColumnType, TableSchema};

fn unknown(schema: &TableSchema, column: &str, table: &str) -> QueryError {
    QueryError::UnknownColumn {
        column: column.into(),
        table: table.into(),
        known: schema.column_list(),
    }
}

fn value_fits(ty: &ColumnType, v: &Value) -> bool {
    matches!(
        (ty, v),
        (_, Value::Null)
            | (ColumnType::Int64, Value::Int(_))
            | (ColumnType::Float64, Value::Int(_) | Value::Float(_))
            | (ColumnType::Utf8 | ColumnType::Path, Value::Str(_))
            | (ColumnType::Boolean, Value::Bool(_))
            | (ColumnType::Timestamp, Value::Int(_))
    ) || matches!((ty, v), (ColumnType::Timestamp, Value::Str(s)) if super::eval::parse_timestamp(s).is_some())
}

/// Checks columns and literal types against `schema` (table name for messages).
pub fn validate(f: &Filter, schema: &TableSchema, table: &str) -> Result<()> {
    let col = |c: &str| -> Result<&ColumnType> {
        let i = schema
            .index_of(c)
            .ok_or_else(|| unknown(schema, c, table))?;
        let ty = &schema.columns()[i].ty;
        if matches!(ty, ColumnType::Vector { .. }) {
            return Err(QueryError::Filter(format!(
                "column \"{c}\" is a vector and cannot be filtered on"
            ))
            .into());
        }
        Ok(ty)
    };
    let mismatch = |c: &str, ty: &ColumnType, v: &Value| -> crate::Error {
        QueryError::Filter(format!(
            "column \"{c}\" is {} and cannot be compared with {v}",
            ty.sql_name()
        ))
        .into()
    };
    match f {
        Filter::And(v) | Filter::Or(v) => v.iter().try_for_each(|x| validate(x, schema, table)),
        Filter::Not(x) => validate(x, schema, table),
        Filter::Cmp { column, value, .. } => {
            let ty = col(column)?;
            if !value_fits(ty, value) {
                return Err(mismatch(column, ty, value));
            }
            Ok(())
        }
        Filter::In { column, values, .. } => {
            let ty = col(column)?;
            match values.iter().find(|v| !value_fits(ty, v)) {
                Some(v) => Err(mismatch(column, ty, v)),
                None => Ok(()),
            }
        }
        Filter::IsNull { column, .. } => col(column).map(|_| ()),
        Filter::Like { column, .. } => match col(column)? {
            ColumnType::Utf8 | ColumnType::Path => Ok(()),
            ty => Err(QueryError::Filter(format!(
                "LIKE needs a text column; \"{column}\" is {}",
                ty.sql_name()
            ))
            .into()),
        },
        Filter::Descendant { column, .. } | Filter::Ancestor { column, .. } => match col(column)? {
            ColumnType::Path => Ok(()),
            ty => Err(QueryError::Filter(format!(
                "<@ and @> need a PATH column; \"{column}\" is {}",
                ty.sql_name()
            ))
            .into()),
        },
        Filter::Const(_) => Ok(()),
    }
}
