//! Executing statements.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use arrow_array::{ArrayRef, Int64Array, RecordBatch};
use arrow_schema::{DataType, Field, Schema};
use sqlparser::tokenizer::Span;

use super::ast::{CreateTable, Select, SelectItem, Statement, ValueExpr};
use super::error::SqlError;
use super::lex::StmtTokens;
use super::values::{self, Cell};
use super::{show, Output, Param, Session};
use crate::error::{QueryError, Result};
use crate::filter::Filter;
use crate::schema::{ColumnType, SchemaBuilder};
use crate::search::results::DISTANCE;
use crate::{Table, TableOptions};

fn status(command: &str, rows: usize) -> Output {
    Output::Status {
        command: command.into(),
        rows,
    }
}

/// Runs one parsed statement.
pub fn run(s: &mut Session, stmt: Statement, st: &StmtTokens, sql: &str) -> Result<Output> {
    s.cancelled()?;
    let db = s.db.clone();
    match stmt {
        Statement::CreateTable(c) => create_table(s, c, st, sql),
        Statement::DropTable { name, if_exists } => {
            if if_exists && !db.list_tables()?.contains(&name) {
                return Ok(status("DROP TABLE", 0));
            }
            db.drop_table(&name)?;
            Ok(status("DROP TABLE", 0))
        }
        Statement::Insert {
            table,
            columns,
            rows,
            upsert,
        } => {
            let t = db.table(&table)?;
            let cols = columns.unwrap_or_else(|| {
                t.schema()
                    .columns()
                    .iter()
                    .map(|c| c.name.clone())
                    .collect()
            });
            let cells = rows
                .iter()
                .map(|r| {
                    if r.len() != cols.len() {
                        return Err(SqlError::semantic(
                            format!("INSERT has {} values for {} columns", r.len(), cols.len()),
                            st.span,
                            sql,
                        )
                        .into());
                    }
                    r.iter().map(|v| cell(s, v)).collect::<Result<Vec<_>>>()
                })
                .collect::<Result<Vec<_>>>()?;
            let batch = values::batch(t.schema(), t.name(), &cols, &cells)?;
            let n = if upsert {
                t.upsert(&batch)?
            } else {
                t.insert(&batch)?
            };
            Ok(status("INSERT", n))
        }
        Statement::Delete { table, filter } => {
            let t = db.table(&table)?;
            let ids = ids_where(&t, filter.as_ref())?;
            Ok(status("DELETE", t.delete(&ids)?))
        }
        Statement::Copy {
            table,
            source,
            options,
        } => {
            let report = crate::load::copy(
                &db,
                &table,
                &source,
                &options,
                &s.cancel,
                s.progress.as_deref(),
            )?;
            s.last_copy = Some(report.clone());
            Ok(status("COPY", report.rows))
        }
        Statement::Select(q) => select(s, &q, sql),
        Statement::Explain { analyze, query } => show::explain(s, &query, analyze, sql),
        Statement::ShowTables => show::tables(&db),
        Statement::ShowModels => show::models(&db),
        Statement::ShowSetting(name) => {
            let v = s.settings.show(&name)?;
            show::one_column(&name, vec![v])
        }
        Statement::Describe(t) => show::describe(&db, &t),
        Statement::Set { name, value } => {
            s.settings.set(&name, &value)?;
            Ok(status("SET", 0))
        }
        Statement::Reset(name) => {
            s.settings.reset(name.as_deref())?;
            Ok(status("RESET", 0))
        }
        Statement::Flush(t) => Ok(status("FLUSH", db.table(&t)?.flush()?.rows)),
        Statement::Compact(t) => Ok(status("COMPACT", db.table(&t)?.compact()?.rows)),
        Statement::Analyze(t) => Ok(status("ANALYZE", db.table(&t)?.analyze()?.rows)),
        Statement::CreateModel {
            name,
            path,
            options,
        } => {
            db.create_model(&name, &path, &options)?;
            Ok(status("CREATE MODEL", 0))
        }
        Statement::DropModel { name, if_exists } => {
            let existed = db.drop_model(&name, if_exists)?;
            Ok(status("DROP MODEL", existed as usize))
        }
    }
}

fn create_table(s: &Session, c: CreateTable, st: &StmtTokens, sql: &str) -> Result<Output> {
    if c.if_not_exists && s.db.list_tables()?.contains(&c.name) {
        return Ok(status("CREATE TABLE", 0));
    }
    let pk = c.primary_key.clone().or_else(|| {
        c.columns
            .iter()
            .find(|(n, t)| n == "id" && *t == ColumnType::Int64)
            .map(|(n, _)| n.clone())
    });
    let Some(pk) = pk else {
        return Err(SqlError::semantic(
            "a table needs a BIGINT PRIMARY KEY column (e.g. id BIGINT PRIMARY KEY)",
            st.span,
            sql,
        )
        .into());
    };
    let mut b = SchemaBuilder::new().primary_key(&pk);
    for (name, ty) in &c.columns {
        b = b.column(name, ty.clone());
    }
    if let Some(m) = &c.matryoshka {
        b = b.matryoshka(m);
    }
    if let Some(m) = c.metric {
        b = b.metric(m);
    }
    let mut opts = TableOptions::default();
    for (k, v) in &c.options {
        opts.set(k, v)?;
    }
    s.db.create_table_with(&c.name, b.build()?, opts)?;
    Ok(status("CREATE TABLE", 0))
}

/// Resolves an INSERT value or query vector to a cell.
fn cell(s: &Session, v: &ValueExpr) -> Result<Cell> {
    Ok(match v {
        ValueExpr::Scalar(x) => match x {
            crate::filter::Value::Str(t) if t.trim_start().starts_with('[') => {
                Cell::Vector(super::parse_vector(t).map_err(QueryError::Value)?)
            }
            other => Cell::Scalar(other.clone()),
        },
        ValueExpr::Vector(v) => Cell::Vector(v.clone()),
        ValueExpr::Param(i) => match s.params.get(i - 1) {
            Some(Param::Vector(v)) => Cell::Vector(v.clone()),
            Some(Param::Value(x)) => Cell::Scalar(x.clone()),
            None => {
                return Err(QueryError::UnboundParameter {
                    index: *i,
                    given: s.params.len(),
                }
                .into())
            }
        },
        ValueExpr::Embed { model, text } => Cell::Vector(s.db.embed(model, text)?),
        ValueExpr::Subquery {
            table,
            column,
            filter,
        } => {
            let t = s.db.table(table)?;
            let b = t
                .snapshot()
                .scan_where(filter.as_ref(), Some(&[column.as_str()]), Some(2))?;
            if b.num_rows() != 1 {
                return Err(QueryError::Subquery(format!(
                    "the subquery on \"{table}\" must return exactly one row, it returned {}",
                    if b.num_rows() == 0 {
                        "none"
                    } else {
                        "more than one"
                    }
                ))
                .into());
            }
            match b.column(0).data_type() {
                DataType::FixedSizeList(_, _) => {
                    let l = b.column(0).as_fixed_size_list().value(0);
                    Cell::Vector(
                        l.as_primitive::<arrow_array::types::Float32Type>()
                            .values()
                            .to_vec(),
                    )
                }
                _ => {
                    return Err(QueryError::Subquery(format!(
                        "column \"{column}\" is not a vector"
                    ))
                    .into())
                }
            }
        }
    })
}

fn ids_where(t: &Table, filter: Option<&Filter>) -> Result<Vec<i64>> {
    let pk = t.schema().pk_name().to_string();
    let b = t
        .snapshot()
        .scan_where(filter, Some(&[pk.as_str()]), None)?;
    Ok(b.column(0).as_primitive::<Int64Type>().values().to_vec())
}

/// Resolves select items to output column names.
fn item_names(t: &Table, items: &[SelectItem], search: bool, sql: &str) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for it in items {
        match it {
            SelectItem::Star => out.extend(t.schema().columns().iter().map(|c| c.name.clone())),
            SelectItem::Column(c, span) => {
                let special = c == "_rowid" || (search && (c == DISTANCE || c == "_score"));
                if !special && t.schema().index_of(c).is_none() {
                    let known: Vec<&str> = t
                        .schema()
                        .columns()
                        .iter()
                        .map(|c| c.name.as_str())
                        .collect();
                    return Err(SqlError::semantic(
                        format!(
                            "column \"{c}\" does not exist in table \"{}\" (columns: {}{})",
                            t.name(),
                            known.join(", "),
                            if search {
                                ", _rowid, _distance"
                            } else {
                                ", _rowid"
                            }
                        ),
                        *span,
                        sql,
                    )
                    .into());
                }
                out.push(c.clone());
            }
            SelectItem::CountStar => {
                return Err(SqlError::unsupported(
                    "count(*) cannot be mixed with other columns",
                    Span::empty(),
                    sql,
                )
                .into())
            }
        }
    }
    Ok(out)
}

fn select(s: &Session, q: &Select, sql: &str) -> Result<Output> {
    let t = s.db.table(&q.table).map_err(|e| match e {
        crate::Error::Catalog(c) => SqlError::semantic(c.to_string(), q.table_span, sql).into(),
        other => other,
    })?;
    if q.items.iter().any(|i| matches!(i, SelectItem::CountStar)) {
        if q.items.len() != 1 || q.vector.is_some() {
            return Err(SqlError::unsupported(
                "count(*) stands alone, without ORDER BY <vector>",
                q.table_span,
                sql,
            )
            .into());
        }
        let n = t.snapshot().count_where(q.filter.as_ref())?;
        let schema = Arc::new(Schema::new(vec![Field::new(
            "count",
            DataType::Int64,
            false,
        )]));
        return Ok(Output::Rows(RecordBatch::try_new(
            schema,
            vec![Arc::new(Int64Array::from(vec![n as i64]))],
        )?));
    }
    let names = item_names(&t, &q.items, q.vector.is_some(), sql)?;
    let batch = match &q.vector {
        Some(_) => show::search_batch(s, &t, q, sql)?.0,
        None => scan(&t, q, &names)?,
    };
    Ok(Output::Rows(project(&batch, &names)?))
}

fn scan(t: &Table, q: &Select, names: &[String]) -> Result<RecordBatch> {
    let mut cols: Vec<&str> = names.iter().map(String::as_str).collect();
    for (c, _) in &q.order {
        if !cols.contains(&c.as_str()) {
            cols.push(c);
        }
    }
    let limit = if q.order.is_empty() { q.limit } else { None };
    let b = t
        .snapshot()
        .scan_where(q.filter.as_ref(), Some(&cols), limit)?;
    if q.order.is_empty() {
        return Ok(b);
    }
    let sort: Vec<arrow_ord::sort::SortColumn> = q
        .order
        .iter()
        .map(|(c, desc)| arrow_ord::sort::SortColumn {
            values: b.column_by_name(c).expect("projected").clone(),
            options: Some(arrow_schema::SortOptions {
                descending: *desc,
                nulls_first: *desc,
            }),
        })
        .collect();
    let idx = arrow_ord::sort::lexsort_to_indices(&sort, q.limit)?;
    let cols: Vec<ArrayRef> = b
        .columns()
        .iter()
        .map(|c| arrow_select::take::take(c.as_ref(), &idx, None))
        .collect::<Result<_, _>>()?;
    Ok(RecordBatch::try_new(b.schema(), cols)?)
}

/// Keeps (and orders) the named columns of `b`.
pub fn project(b: &RecordBatch, names: &[String]) -> Result<RecordBatch> {
    let idx: Vec<usize> = names
        .iter()
        .map(|n| b.schema().index_of(n))
        .collect::<Result<_, _>>()?;
    Ok(b.project(&idx)?)
}

/// Resolves the query vector of a search.
pub fn query_vector(s: &Session, v: &ValueExpr) -> Result<Vec<f32>> {
    match cell(s, v)? {
        Cell::Vector(v) => Ok(v),
        Cell::Scalar(x) => Err(QueryError::Value(format!("expected a vector, got {x}")).into()),
    }
}
