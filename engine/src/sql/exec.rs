//! Executing statements: nestdb's own ones here, queries through DataFusion (`query`), writes
//! through `dml`.

use super::ast::{CreateTable, Statement, TuneOn};
use super::lex::StmtTokens;
use super::SqlError;
use super::{dml, parse, query, show, status, Output, Session};
use crate::error::Result;
use crate::schema::{ColumnType, SchemaBuilder};
use crate::TableOptions;

/// Runs one statement.
pub fn run(s: &mut Session, st: &StmtTokens, sql: &str) -> Result<Output> {
    s.cancelled()?;
    if parse::is_own(st) {
        let stmt = parse::statement(st, sql)?;
        return own(s, stmt, st, sql);
    }
    let w = |x: &str| super::lex::is_word(st.get(0), x);
    if w("INSERT") || w("UPDATE") || w("DELETE") {
        return dml::run(s, st, sql);
    }
    query::run(s, st, sql)
}

/// Parses without running (fuzzing, syntax checks).
pub fn check_syntax(st: &StmtTokens, sql: &str) -> Result<()> {
    if parse::is_own(st) {
        parse::statement(st, sql)?;
        return Ok(());
    }
    datafusion::sql::sqlparser::parser::Parser::new(&super::lex::DIALECT)
        .with_tokens_with_locations(st.tokens.clone())
        .parse_statement()
        .map_err(|e| super::lex::parser_error(e, st, sql))?;
    Ok(())
}

fn own(s: &mut Session, stmt: Statement, st: &StmtTokens, sql: &str) -> Result<Output> {
    let db = s.database().clone();
    match stmt {
        Statement::CreateTable(c) => create_table(s, c, st, sql),
        Statement::DropTable { name, if_exists } => {
            if !if_exists || db.list_tables()?.contains(&name) {
                db.drop_table(&name)?;
            }
            s.invalidate_plans();
            Ok(status("DROP TABLE", 0))
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
            let rows = report.rows;
            s.last_copy = Some(report);
            Ok(status("COPY", rows))
        }
        Statement::ShowTables => show::tables(&db),
        Statement::ShowModels => show::models(&db),
        Statement::ShowRecall(t) => show::recall(&db, t.as_deref()),
        Statement::ShowSetting(name) => show::one_column(&name, vec![s.settings().show(&name)?]),
        Statement::Describe(t) => show::describe(&db, &t),
        Statement::Set { name, value } => {
            s.settings
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .set(&name, &value)?;
            Ok(status("SET", 0))
        }
        Statement::Reset(name) => {
            s.settings
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .reset(name.as_deref())?;
            Ok(status("RESET", 0))
        }
        Statement::Flush(t) => Ok(status("FLUSH", db.table(&t)?.flush()?.rows)),
        Statement::Compact(t) => Ok(status("COMPACT", db.table(&t)?.compact()?.rows)),
        Statement::Analyze { table, tune_on } => analyze(&db, &table, tune_on),
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

fn create_table(s: &mut Session, c: CreateTable, st: &StmtTokens, sql: &str) -> Result<Output> {
    let db = s.database().clone();
    if c.if_not_exists && db.list_tables()?.contains(&c.name) {
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
    let opts = TableOptions::from_pairs(c.options.iter().map(|(k, v)| (k.as_str(), v.as_str())))?;
    db.create_table_with(&c.name, b.build()?, opts)?;
    s.invalidate_plans();
    Ok(status("CREATE TABLE", 0))
}

/// `ANALYZE t [TUNE ON ROWS | TUNE ON SAMPLED | TUNE ON q]`: with `TUNE ON`, sets the tuning
/// queries (none, the monitor's sampled searches, or every vector of table `q`) and re-fits in
/// one step ([`crate::Table::analyze_tuned_on`]).
fn analyze(db: &crate::Database, table: &str, tune_on: Option<TuneOn>) -> Result<Output> {
    let t = db.table(table)?;
    let queries = match tune_on {
        None => return Ok(status("ANALYZE", t.analyze()?.rows)),
        Some(TuneOn::Rows) => Vec::new(),
        Some(TuneOn::Sampled) => return Ok(status("ANALYZE", t.analyze_tuned_on_sampled()?.rows)),
        Some(TuneOn::Table(q)) => {
            let src = db.table(&q)?;
            let col = src.schema().vector_name().to_string();
            let batch = src.snapshot().scan(Some(&[col.as_str()]), None)?;
            some_queries(vectors_of(batch.column(0)))?
        }
    };
    Ok(status("ANALYZE", t.analyze_tuned_on(&queries)?.rows))
}

/// `queries`, or the too-few error when there are none (an empty set would mean "rows").
fn some_queries(queries: Vec<Vec<f32>>) -> Result<Vec<Vec<f32>>> {
    if queries.is_empty() {
        return Err(crate::IndexError::TooFewTuningQueries {
            given: 0,
            min: crate::MIN_TUNING_QUERIES,
        }
        .into());
    }
    Ok(queries)
}

/// The rows of a vector column (a `FixedSizeList<Float32>`, as every table stores it).
fn vectors_of(col: &arrow_array::ArrayRef) -> Vec<Vec<f32>> {
    use arrow_array::cast::AsArray;
    use arrow_array::types::Float32Type;
    use arrow_array::Array;
    let Some(l) = col.as_fixed_size_list_opt() else {
        return Vec::new();
    };
    let d = l.value_length() as usize;
    let v = l.values().as_primitive::<Float32Type>().values();
    (0..l.len())
        .map(|i| v[(l.offset() + i) * d..(l.offset() + i + 1) * d].to_vec())
        .collect()
}
