//! INSERT, UPDATE and DELETE: rows are computed with DataFusion where SQL allows expressions
//! (`INSERT ... SELECT`, `UPDATE ... SET col = expr`, `DELETE ... WHERE cond`), and written with
//! nestdb's own insert, upsert and delete (atomic, durable when they return).

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float32Type, Int64Type};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema};
use datafusion::sql::sqlparser::ast::Spanned;
use datafusion::sql::sqlparser::ast::{
    self as sa, Assignment, AssignmentTarget, Expr, OnInsert, SetExpr, Statement, TableFactor,
    TableObject, Value as SqlValue,
};
use datafusion::sql::sqlparser::parser::Parser;
use datafusion::sql::sqlparser::tokenizer::Span;

use super::lex::{parser_error, StmtTokens, DIALECT};
use super::values::{self, Cell};
use super::SqlError;
use super::{status, Output, Param, Session};
use crate::error::{QueryError, Result};
use crate::filter::Value;
use crate::schema::ColumnType;
use crate::Table;

/// Runs INSERT, UPDATE or DELETE.
pub fn run(s: &mut Session, st: &StmtTokens, sql: &str) -> Result<Output> {
    let stmt = Parser::new(&DIALECT)
        .with_tokens_with_locations(st.tokens.clone())
        .parse_statement()
        .map_err(|e| parser_error(e, st, sql))?;
    match stmt {
        Statement::Insert(ins) => insert(s, &ins, st.span, sql),
        Statement::Delete(d) => delete(s, &d, st.span, sql),
        Statement::Update(u) => update(s, &u, st.span, sql),
        _ => Err(SqlError::unsupported("this statement", st.span, sql).into()),
    }
}

fn table_of(s: &Session, name: &str, span: Span, sql: &str) -> Result<Table> {
    s.database().table(name).map_err(|e| match e {
        crate::Error::Catalog(c) => SqlError::semantic(c.to_string(), span, sql).into(),
        other => other,
    })
}

fn ident(n: &sa::ObjectName) -> String {
    n.0.last().map_or(String::new(), |p| match p.as_ident() {
        Some(i) if i.quote_style.is_some() => i.value.clone(),
        Some(i) => i.value.to_lowercase(),
        None => p.to_string(),
    })
}

fn insert(s: &mut Session, ins: &sa::Insert, span: Span, sql: &str) -> Result<Output> {
    let TableObject::TableName(name) = &ins.table else {
        return Err(SqlError::unsupported("INSERT INTO a table name", span, sql).into());
    };
    let t = table_of(s, &ident(name), name.span(), sql)?;
    let cols: Vec<String> = if ins.columns.is_empty() {
        t.schema()
            .columns()
            .iter()
            .map(|c| c.name.clone())
            .collect()
    } else {
        ins.columns.iter().map(ident).collect()
    };
    let upsert = match &ins.on {
        None => false,
        Some(OnInsert::OnConflict(c)) if matches!(c.action, sa::OnConflictAction::DoUpdate(_)) => {
            true
        }
        Some(_) => {
            return Err(SqlError::unsupported(
                "ON CONFLICT ... DO UPDATE SET ... (an upsert) is the supported form",
                span,
                sql,
            )
            .into())
        }
    };
    let Some(src) = &ins.source else {
        return Err(SqlError::syntax("expected VALUES (...) or SELECT ...", span, sql).into());
    };
    let batch = match src.body.as_ref() {
        SetExpr::Values(vals) => {
            let mut rows = Vec::with_capacity(vals.rows.len());
            for r in &vals.rows {
                if r.content.len() != cols.len() {
                    return Err(SqlError::semantic(
                        format!(
                            "INSERT has {} values for {} columns",
                            r.content.len(),
                            cols.len()
                        ),
                        span,
                        sql,
                    )
                    .into());
                }
                let row = r
                    .content
                    .iter()
                    .zip(&cols)
                    .map(|(e, c)| cell(s, &t, c, e, sql))
                    .collect::<Result<Vec<_>>>()?;
                rows.push(row);
            }
            values::batch(t.schema(), t.name(), &cols, &rows)?
        }
        _ => query_batch(s, &t, &cols, &Statement::Query(src.clone()), sql)?,
    };
    let n = if upsert {
        t.upsert(&batch)?
    } else {
        t.insert(&batch)?
    };
    Ok(status("INSERT", n))
}

/// The value of one INSERT expression for column `col`: literals directly, anything else
/// (embed(...), a subquery, a function) computed with DataFusion.
fn cell(s: &Session, t: &Table, col: &str, e: &Expr, sql: &str) -> Result<Cell> {
    let is_vector = matches!(
        t.schema()
            .index_of(col)
            .map(|i| &t.schema().columns()[i].ty),
        Some(ColumnType::Vector { .. })
    );
    if let Expr::Value(v) = e {
        if let SqlValue::Placeholder(p) = &v.value {
            return param(s, p);
        }
    }
    if let Some(v) = crate::filter::parse::literal(e) {
        return Ok(match v {
            Value::Str(x) if is_vector => {
                Cell::Vector(values::parse_vector(&x).map_err(QueryError::Value)?)
            }
            other => Cell::Scalar(other),
        });
    }
    let b = s.eval(&format!("SELECT {e}"), sql)?;
    let a = b.column(0);
    Ok(match a.data_type() {
        DataType::FixedSizeList(_, _) | DataType::List(_) => {
            let f = arrow_cast::cast(
                a,
                &DataType::List(Arc::new(Field::new("item", DataType::Float32, true))),
            )?;
            Cell::Vector(
                f.as_list::<i32>()
                    .value(0)
                    .as_primitive::<Float32Type>()
                    .values()
                    .to_vec(),
            )
        }
        _ => Cell::Scalar(
            super::df::filters::scalar(
                &datafusion::common::ScalarValue::try_from_array(a, 0).map_err(super::df::df)?,
            )
            .unwrap_or(Value::Null),
        ),
    })
}

fn param(s: &Session, p: &str) -> Result<Cell> {
    let i: usize = p.trim_start_matches('$').parse().unwrap_or(0);
    let params = s.params();
    match params.get(i.wrapping_sub(1)) {
        Some(Param::Vector(v)) => Ok(Cell::Vector(v.clone())),
        Some(Param::Value(x)) => Ok(Cell::Scalar(x.clone())),
        None => Err(QueryError::UnboundParameter {
            index: i,
            given: params.len(),
        }
        .into()),
    }
}

/// The rows of a query, with the table's column names and types (cast where needed).
fn query_batch(
    s: &Session,
    t: &Table,
    cols: &[String],
    q: &Statement,
    sql: &str,
) -> Result<RecordBatch> {
    let b = s.eval(&q.to_string(), sql)?;
    if b.num_columns() != cols.len() {
        return Err(QueryError::Value(format!(
            "the query returns {} columns for {} target columns",
            b.num_columns(),
            cols.len()
        ))
        .into());
    }
    let schema = t.schema().arrow_schema();
    let mut fields = Vec::with_capacity(cols.len());
    let mut arrays: Vec<ArrayRef> = Vec::with_capacity(cols.len());
    for (c, a) in cols.iter().zip(b.columns()) {
        let f = schema
            .field_with_name(c)
            .map_err(|_| QueryError::UnknownColumn {
                column: c.clone(),
                table: t.name().into(),
                known: t.schema().column_list(),
            })?;
        arrays.push(arrow_cast::cast(a, f.data_type())?);
        fields.push(f.clone());
    }
    Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)?)
}

/// Keys of the rows of `t` matching `cond` (every row without one).
fn keys_where(s: &Session, t: &Table, cond: Option<&Expr>, sql: &str) -> Result<Vec<i64>> {
    let pk = t.schema().pk_name();
    let q = match cond {
        Some(c) => format!("SELECT \"{pk}\" FROM \"{}\" WHERE {c}", t.name()),
        None => format!("SELECT \"{pk}\" FROM \"{}\"", t.name()),
    };
    let b = s.eval(&q, sql)?;
    Ok(b.column(0).as_primitive::<Int64Type>().values().to_vec())
}

fn delete(s: &mut Session, d: &sa::Delete, span: Span, sql: &str) -> Result<Output> {
    let tables = match &d.from {
        sa::FromTable::WithFromKeyword(t) | sa::FromTable::WithoutKeyword(t) => t,
    };
    let [twj] = tables.as_slice() else {
        return Err(SqlError::unsupported("DELETE from one table", span, sql).into());
    };
    let TableFactor::Table { name, .. } = &twj.relation else {
        return Err(SqlError::unsupported("DELETE FROM a table name", span, sql).into());
    };
    let t = table_of(s, &ident(name), name.span(), sql)?;
    let ids = keys_where(s, &t, d.selection.as_ref(), sql)?;
    Ok(status("DELETE", t.delete(&ids)?))
}

fn update(s: &mut Session, u: &sa::Update, span: Span, sql: &str) -> Result<Output> {
    let TableFactor::Table { name, .. } = &u.table.relation else {
        return Err(SqlError::unsupported("UPDATE a table name", span, sql).into());
    };
    let t = table_of(s, &ident(name), name.span(), sql)?;
    let schema = t.schema();
    let mut set: Vec<(String, String)> = Vec::new();
    for Assignment { target, value } in &u.assignments {
        let AssignmentTarget::ColumnName(c) = target else {
            return Err(SqlError::unsupported("assignments to single columns", span, sql).into());
        };
        let col = ident(c);
        let Some(i) = schema.index_of(&col) else {
            return Err(SqlError::semantic(
                format!("column \"{col}\" does not exist in table \"{}\"", t.name()),
                c.span(),
                sql,
            )
            .into());
        };
        if i == schema.pk_index() {
            return Err(SqlError::unsupported(
                "changing the primary key (delete and insert instead)",
                c.span(),
                sql,
            )
            .into());
        }
        let expr = match (&schema.columns()[i].ty, value) {
            (ColumnType::Vector { .. }, Expr::Value(v)) => match &v.value {
                SqlValue::SingleQuotedString(x) => format!(
                    "[{}]",
                    values::parse_vector(x)
                        .map_err(QueryError::Value)?
                        .iter()
                        .map(|f| f.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                _ => value.to_string(),
            },
            _ => value.to_string(),
        };
        set.push((col, expr));
    }
    let items: Vec<String> = schema
        .columns()
        .iter()
        .map(|c| match set.iter().find(|(n, _)| *n == c.name) {
            Some((_, e)) => format!("{e} AS \"{}\"", c.name),
            None => format!("\"{}\"", c.name),
        })
        .collect();
    let q = match &u.selection {
        Some(cond) => format!(
            "SELECT {} FROM \"{}\" WHERE {cond}",
            items.join(", "),
            t.name()
        ),
        None => format!("SELECT {} FROM \"{}\"", items.join(", "), t.name()),
    };
    let cols: Vec<String> = schema.columns().iter().map(|c| c.name.clone()).collect();
    let b = s.eval(&q, sql)?;
    let batch = query_batch_from(&t, &cols, &b)?;
    if batch.num_rows() == 0 {
        return Ok(status("UPDATE", 0));
    }
    Ok(status("UPDATE", t.upsert(&batch)?))
}

fn query_batch_from(t: &Table, cols: &[String], b: &RecordBatch) -> Result<RecordBatch> {
    let schema = t.schema().arrow_schema();
    let mut fields = Vec::new();
    let mut arrays: Vec<ArrayRef> = Vec::new();
    for (c, a) in cols.iter().zip(b.columns()) {
        let f = schema.field_with_name(c)?;
        arrays.push(arrow_cast::cast(a, f.data_type())?);
        fields.push(f.clone());
    }
    Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)?)
}
