//! Queries (SELECT, WITH, VALUES, EXPLAIN) through DataFusion, after three small rewrites of
//! the parsed query that give nestdb's dialect its conveniences:
//! - `_distance` names the distance the query is ordered by: `SELECT id, _distance ... ORDER BY
//!   v <=> q` is `SELECT id, (v <=> q) AS _distance ...` (pgvector's way of writing it);
//! - `SELECT *` over a nestdb table leaves out the `_rowid` column (ask for it by name);
//! - `RERANK BY model(...) CANDIDATES n` fetches `n` candidates, rescores them with the model
//!   and keeps the best `LIMIT`, adding `_score`.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::Float32Type;
use arrow_array::{Array, ArrayRef, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use datafusion::common::ScalarValue;
use datafusion::sql::sqlparser::ast::{
    ExcludeSelectItem, Expr, FunctionArg, FunctionArgExpr, FunctionArguments, Ident, LimitClause,
    ObjectName, OrderByKind, Query, SelectItem, SetExpr, Statement, TableFactor, Value,
    ValueWithSpan,
};
use datafusion::sql::sqlparser::parser::Parser;
use datafusion::sql::sqlparser::tokenizer::{Span, Token, TokenWithSpan};

use super::df::planner::op_metric;
use super::lex::{find_pair, is_word, parser_error, StmtTokens, DIALECT};
use super::SqlError;
use super::{Output, Param, Session};
use crate::error::Result;
use crate::search::rerank::{Rerank, RerankQuery, SCORE};

/// Name of the distance column.
const DISTANCE: &str = "_distance";

/// A parsed `RERANK BY` clause.
struct RerankClause {
    model: String,
    column: Option<String>,
    candidates: Option<usize>,
    span: Span,
}

/// Runs a query statement.
pub fn run(s: &Session, st: &StmtTokens, sql: &str) -> Result<Output> {
    let (tokens, rerank) = split_rerank(st, sql)?;
    let stmt = Parser::new(&DIALECT)
        .with_tokens_with_locations(tokens.clone())
        .parse_statement()
        .map_err(|e| parser_error(e, st, sql))?;
    let (mut stmt, explain, analyze) = match stmt {
        Statement::Explain { analyze, .. } => (stmt, true, analyze),
        Statement::Query(_) => (stmt, false, false),
        other => return Err(SqlError::unsupported(first_words(&other), st.span, sql).into()),
    };
    let q = match &mut stmt {
        Statement::Query(q) => q,
        Statement::Explain { statement, .. } => match statement.as_mut() {
            Statement::Query(q) => q,
            _ => {
                return Err(SqlError::unsupported("EXPLAIN works on queries", st.span, sql).into())
            }
        },
        _ => unreachable_query(st, sql)?,
    };
    let plan_rerank = match &rerank {
        Some(r) => Some(prepare_rerank(s, q, r, sql)?),
        None => None,
    };
    rewrite(s, q, plan_rerank.is_some(), sql)?;
    let query_text = query_text(q);
    let batches = with_analyze(s, analyze, || {
        let stream = plan_and_run(s, stmt, sql)?;
        let schema = stream.schema();
        Ok((schema, stream.collect()?))
    });
    let (schema, batches) = batches?;
    let batch = arrow_select::concat::concat_batches(&schema, &batches)?;
    if explain {
        return Ok(Output::Rows(explain_rows(&batch)?));
    }
    match (rerank, plan_rerank) {
        (Some(_), Some(p)) => Ok(Output::Rows(apply_rerank(
            s,
            p,
            query_text.as_deref(),
            &batch,
        )?)),
        _ => Ok(Output::Rows(batch)),
    }
}

/// Runs `f` with the session's searches recording per-stage statistics when `analyze`
/// (EXPLAIN ANALYZE); plain queries never pay for the instrumentation.
fn with_analyze<T>(s: &Session, analyze: bool, f: impl FnOnce() -> Result<T>) -> Result<T> {
    if !analyze {
        return f();
    }
    let set = |on: bool| {
        s.settings
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .analyze = on
    };
    set(true);
    let r = f();
    set(false);
    r
}

fn unreachable_query<T>(st: &StmtTokens, sql: &str) -> Result<T> {
    Err(SqlError::unsupported("not a query", st.span, sql).into())
}

fn first_words(s: &Statement) -> String {
    let t = s.to_string();
    let w: Vec<&str> = t.split_whitespace().take(2).collect();
    format!("{} statements", w.join(" "))
}

/// Plans (or reuses the cached plan of) `stmt` and starts it with the session's parameters.
fn plan_and_run(s: &Session, stmt: Statement, sql: &str) -> Result<super::df::Stream> {
    let key = format!("{stmt}");
    let engine = s.engine()?;
    let plan = engine.plan(&key, stmt).map_err(|e| locate(e, sql))?;
    // searches bind their own filter parameters when they run (and vectors are read then):
    // such a plan is run as it is, and keeps its physical plan for the next values
    let params = if super::df::search::binds_its_own_params(&plan) {
        Vec::new()
    } else {
        params(s, &plan)?
    };
    engine
        .execute(&key, &plan, params)
        .map_err(|e| locate(e, sql))
}

/// Streams the batches of a plain query (no RERANK; EXPLAIN is collected).
pub fn stream(
    s: &Session,
    st: &StmtTokens,
    sql: &str,
) -> Result<(arrow_schema::SchemaRef, super::df::Stream)> {
    if find_pair(&st.tokens, "RERANK", "BY").is_some() {
        return Err(
            SqlError::unsupported("streaming a RERANK query (use sql())", st.span, sql).into(),
        );
    }
    let mut stmt = Parser::new(&DIALECT)
        .with_tokens_with_locations(st.tokens.clone())
        .parse_statement()
        .map_err(|e| parser_error(e, st, sql))?;
    match &mut stmt {
        Statement::Query(q) => rewrite(s, q, false, sql)?,
        _ => {
            return Err(SqlError::unsupported(
                "streaming statements other than queries",
                st.span,
                sql,
            )
            .into())
        }
    }
    let stream = plan_and_run(s, stmt, sql)?;
    Ok((stream.schema(), stream))
}

/// A DataFusion error with the statement text attached (for its caret).
fn locate(e: crate::Error, sql: &str) -> crate::Error {
    match e {
        crate::Error::Sql(x) => crate::Error::Sql(x.with_source(sql)),
        other => other,
    }
}

/// Splits `... RERANK BY ...` off the statement.
fn split_rerank(st: &StmtTokens, sql: &str) -> Result<(Vec<TokenWithSpan>, Option<RerankClause>)> {
    let Some(at) = find_pair(&st.tokens, "RERANK", "BY") else {
        return Ok((st.tokens.clone(), None));
    };
    let rest = &st.tokens[at + 2..];
    let err = |m: &str, i: usize| -> crate::Error {
        let span = rest.get(i).map_or(st.tokens[at].span, |t| t.span);
        SqlError::syntax(m, span, sql).into()
    };
    let word = |i: usize| match rest.get(i).map(|t| &t.token) {
        Some(Token::Word(w)) => Some(w.value.to_lowercase()),
        _ => None,
    };
    let string = |i: usize| match rest.get(i).map(|t| &t.token) {
        Some(Token::SingleQuotedString(s)) => Some(s.clone()),
        _ => None,
    };
    let kind = word(0).ok_or_else(|| {
        err(
            "expected cross_encoder(...) or vector_scorer(...) after RERANK BY",
            0,
        )
    })?;
    if kind != "cross_encoder" && kind != "vector_scorer" {
        return Err(err(&format!("unknown reranker \"{kind}\" (cross_encoder('model', text_column) or vector_scorer('model'))"), 0));
    }
    if !matches!(rest.get(1).map(|t| &t.token), Some(Token::LParen)) {
        return Err(err("expected \"(\"", 1));
    }
    let model = string(2).ok_or_else(|| err("expected the model's name as a quoted string", 2))?;
    let mut i = 3;
    let mut column = None;
    if kind == "cross_encoder" {
        if !matches!(rest.get(i).map(|t| &t.token), Some(Token::Comma)) {
            return Err(err(
                "cross_encoder takes the model and a text column: cross_encoder('model', body)",
                i,
            ));
        }
        column = Some(word(i + 1).ok_or_else(|| err("expected a text column", i + 1))?);
        i += 2;
    }
    if !matches!(rest.get(i).map(|t| &t.token), Some(Token::RParen)) {
        return Err(err("expected \")\"", i));
    }
    i += 1;
    let mut candidates = None;
    if rest.get(i).is_some_and(|t| is_word(&t.token, "CANDIDATES")) {
        match rest.get(i + 1).map(|t| &t.token) {
            Some(Token::Number(n, _)) => {
                candidates = Some(
                    n.parse::<usize>()
                        .map_err(|_| err("expected a whole number", i + 1))?,
                )
            }
            _ => return Err(err("expected the number of candidates", i + 1)),
        }
        i += 2;
    }
    if i < rest.len() {
        return Err(err("expected end of statement after the RERANK clause", i));
    }
    Ok((
        st.tokens[..at].to_vec(),
        Some(RerankClause {
            model,
            column,
            candidates,
            span: st.tokens[at].span,
        }),
    ))
}

/// What a reranked query needs after DataFusion ran it.
struct PlannedRerank {
    rerank: Rerank,
    /// Whether the query selects `_score` (or `*`).
    score: bool,
    k: usize,
    /// Columns appended for the reranker (removed after it ran).
    hidden: usize,
    /// The query vector's expression (for rerankers that read it).
    query: Option<Expr>,
}

fn prepare_rerank(
    s: &Session,
    q: &mut Query,
    r: &RerankClause,
    sql: &str,
) -> Result<PlannedRerank> {
    let bad = |m: &str| -> crate::Error { SqlError::semantic(m, r.span, sql).into() };
    let k = match &q.limit_clause {
        Some(LimitClause::LimitOffset {
            limit:
                Some(Expr::Value(ValueWithSpan {
                    value: Value::Number(n, _),
                    ..
                })),
            ..
        }) => n
            .parse::<usize>()
            .map_err(|_| bad("RERANK needs a LIMIT"))?,
        _ => return Err(bad("RERANK needs ORDER BY <vector> <op> <query> LIMIT k")),
    };
    if order_distance(q).is_none() {
        return Err(bad("RERANK needs ORDER BY <vector> <op> <query> LIMIT k"));
    }
    let table = single_table(q).ok_or_else(|| bad("RERANK works on a query of one table"))?;
    let score = match q.body.as_ref() {
        SetExpr::Select(sel) => sel.projection.iter().any(|i| {
            matches!(i, SelectItem::Wildcard(_))
                || matches!(i, SelectItem::UnnamedExpr(Expr::Identifier(id)) if id.value == SCORE)
        }),
        _ => false,
    };
    let t = s.database().table(&table)?;
    let rerank = crate::rerankers::build(
        s.database(),
        &t,
        &r.model,
        r.column.as_deref(),
        r.candidates,
    )?;
    let fetch = rerank.candidates_for(k);
    if let Some(LimitClause::LimitOffset { limit: Some(l), .. }) = &mut q.limit_clause {
        *l = Expr::value(Value::Number(fetch.to_string(), false));
    }
    let cols = rerank.reranker.columns();
    if let SetExpr::Select(sel) = q.body.as_mut() {
        for (i, c) in cols.iter().enumerate() {
            sel.projection.push(SelectItem::ExprWithAlias {
                expr: Expr::Identifier(Ident::new(c)),
                alias: Ident::new(format!("__rerank_{i}")),
            });
        }
    }
    let query = match order_distance(q) {
        Some(Expr::BinaryOp { left, right, .. }) => match *left {
            Expr::Identifier(_) | Expr::CompoundIdentifier(_) => Some(*right),
            l => Some(l),
        },
        _ => None,
    };
    Ok(PlannedRerank {
        rerank,
        score,
        k,
        hidden: cols.len(),
        query,
    })
}

fn apply_rerank(
    s: &Session,
    p: PlannedRerank,
    text: Option<&str>,
    b: &RecordBatch,
) -> Result<RecordBatch> {
    // the reranker reads its columns by name: give the hidden ones their names back
    let n = b.num_columns();
    let names = p.rerank.reranker.columns();
    let mut fields: Vec<Field> = b
        .schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    for (i, name) in names.iter().enumerate() {
        fields[n - p.hidden + i] = fields[n - p.hidden + i].clone().with_name(name);
    }
    let view = RecordBatch::try_new(Arc::new(Schema::new(fields)), b.columns().to_vec())?;
    let query = match (&p.query, p.rerank.reranker.needs_query_vector()) {
        (Some(e), true) => vector_of(s, e)?,
        _ => Vec::new(),
    };
    let rq = RerankQuery {
        vector: &query,
        text,
    };
    let out = p.rerank.apply(&rq, &view, p.k)?;
    let keep: Vec<usize> = (0..out.num_columns())
        .filter(|&i| i < n - p.hidden || (i >= n && p.score))
        .collect();
    Ok(out.project(&keep)?)
}

/// The value of a constant vector expression (`SELECT <e>`).
fn vector_of(s: &Session, e: &Expr) -> Result<Vec<f32>> {
    let sql = format!("SELECT {e}");
    let stmt = Parser::new(&DIALECT)
        .try_with_sql(&sql)
        .and_then(|mut p| p.parse_statement())
        .map_err(|e| SqlError::plain(e.to_string()))?;
    let b = plan_and_run(s, stmt, &sql)?.collect()?;
    let col = b
        .first()
        .map(|b| b.column(0).clone())
        .ok_or_else(|| SqlError::plain("the query vector is empty"))?;
    match col.data_type() {
        DataType::FixedSizeList(_, _) => Ok(col
            .as_fixed_size_list()
            .value(0)
            .as_primitive::<Float32Type>()
            .values()
            .to_vec()),
        t => Err(SqlError::plain(format!("the query is a {t}, not a vector")).into()),
    }
}

/// The rewrites of the module docs, on the top-level query.
fn rewrite(s: &Session, q: &mut Query, reranked: bool, sql: &str) -> Result<()> {
    let dist = order_distance(q);
    let nest_table =
        single_table(q).filter(|t| s.database().list_tables().is_ok_and(|l| l.contains(t)));
    if let SetExpr::Select(sel) = q.body.as_mut() {
        for item in sel.projection.iter_mut() {
            match item {
                SelectItem::UnnamedExpr(Expr::Identifier(id)) if id.value == DISTANCE => {
                    let Some(d) = &dist else {
                        return Err(no_distance(id.span, sql));
                    };
                    *item = SelectItem::ExprWithAlias {
                        expr: Expr::Nested(Box::new(d.clone())),
                        alias: Ident::new(DISTANCE),
                    };
                }
                SelectItem::ExprWithAlias {
                    expr: Expr::Identifier(id),
                    ..
                } if id.value == DISTANCE => {
                    let Some(d) = &dist else {
                        return Err(no_distance(id.span, sql));
                    };
                    if let SelectItem::ExprWithAlias { expr, .. } = item {
                        *expr = Expr::Nested(Box::new(d.clone()));
                    }
                }
                SelectItem::UnnamedExpr(Expr::Identifier(id)) if id.value == SCORE && !reranked => {
                    return Err(SqlError::semantic(
                        "_score exists only after RERANK BY ...",
                        id.span,
                        sql,
                    )
                    .into());
                }
                SelectItem::Wildcard(opts) if opts.opt_alias.is_some() => {
                    let a = opts.opt_alias.as_ref().map_or(Span::empty(), |a| a.span);
                    return Err(SqlError::syntax("expected FROM or a comma after *", a, sql).into());
                }
                SelectItem::Wildcard(opts)
                    if nest_table.is_some() && opts.opt_exclude.is_none() =>
                {
                    opts.opt_exclude = Some(ExcludeSelectItem::Single(ObjectName::from(vec![
                        Ident::new("_rowid"),
                    ])));
                }
                _ => {}
            }
        }
        if reranked {
            sel.projection.retain(|i| !matches!(i, SelectItem::UnnamedExpr(Expr::Identifier(id)) if id.value == SCORE));
        }
    }
    if let Some(OrderByKind::Expressions(items)) = q.order_by.as_mut().map(|o| &mut o.kind) {
        for it in items.iter_mut() {
            if let Expr::Identifier(id) = &it.expr {
                if id.value == DISTANCE {
                    let Some(d) = &dist else {
                        return Err(no_distance(id.span, sql));
                    };
                    it.expr = d.clone();
                }
            }
        }
    }
    Ok(())
}

fn no_distance(span: Span, sql: &str) -> crate::Error {
    SqlError::semantic(
        "_distance is defined only in a query ordered by a vector distance (ORDER BY v <=> query)",
        span,
        sql,
    )
    .into()
}

/// The distance expression a query is ordered by first, if any.
fn order_distance(q: &Query) -> Option<Expr> {
    let Some(OrderByKind::Expressions(items)) = q.order_by.as_ref().map(|o| &o.kind) else {
        return None;
    };
    match &items.first()?.expr {
        e @ Expr::BinaryOp { op, .. } if op_metric(op).is_some() => Some(e.clone()),
        _ => None,
    }
}

/// The table a query reads, when it reads exactly one (no join).
fn single_table(q: &Query) -> Option<String> {
    let SetExpr::Select(sel) = q.body.as_ref() else {
        return None;
    };
    let [t] = sel.from.as_slice() else {
        return None;
    };
    if !t.joins.is_empty() {
        return None;
    }
    match &t.relation {
        TableFactor::Table { name, .. } => Some(name.to_string().trim_matches('"').to_string()),
        _ => None,
    }
}

/// The text of `embed(model, 'text')` in the query's distance ORDER BY (cross-encoders read it).
fn query_text(q: &Query) -> Option<String> {
    let Expr::BinaryOp { left, right, .. } = order_distance(q)? else {
        return None;
    };
    [left, right].into_iter().find_map(|e| match e.as_ref() {
        Expr::Function(f) if f.name.to_string().eq_ignore_ascii_case("embed") => match &f.args {
            FunctionArguments::List(l) => match l.args.get(1) {
                Some(FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::Value(ValueWithSpan {
                    value: Value::SingleQuotedString(t),
                    ..
                })))) => Some(t.clone()),
                _ => None,
            },
            _ => None,
        },
        _ => None,
    })
}

/// The session's parameters, typed as the plan's placeholders.
fn params(s: &Session, plan: &datafusion::logical_expr::LogicalPlan) -> Result<Vec<ScalarValue>> {
    let types = super::df::Engine::param_types(plan);
    if types.is_empty() {
        return Ok(Vec::new()); // vector parameters are read when the query runs (df::param)
    }
    let given = s.params();
    for name in types.keys() {
        let i: usize = name.trim_start_matches('$').parse().unwrap_or(0);
        if i == 0 || i > given.len() {
            return Err(crate::QueryError::UnboundParameter {
                index: i,
                given: given.len(),
            }
            .into());
        }
    }
    let mut out = Vec::with_capacity(given.len());
    for (i, p) in given.iter().enumerate() {
        let v = match p {
            Param::Vector(v) => ScalarValue::FixedSizeList(Arc::new(crate::sql::values::fsl(v))),
            Param::Value(v) => super::values::scalar_value(v),
        };
        let v = match types.get(&format!("${}", i + 1)).cloned().flatten() {
            Some(t) if v.data_type() != t => v.cast_to(&t).unwrap_or(v),
            _ => v,
        };
        out.push(v);
    }
    Ok(out)
}

/// DataFusion's EXPLAIN batch as psql's one-column `QUERY PLAN` (the physical plan; the
/// logical one too for EXPLAIN VERBOSE).
fn explain_rows(b: &RecordBatch) -> Result<RecordBatch> {
    let mut lines = Vec::new();
    let (types, plans) = match (b.column_by_name("plan_type"), b.column_by_name("plan")) {
        (Some(t), Some(p)) => (t.as_string::<i32>().clone(), p.as_string::<i32>().clone()),
        _ => return Ok(b.clone()),
    };
    let verbose = types.len() > 2;
    for i in 0..types.len() {
        let t = types.value(i);
        let keep = verbose || t == "physical_plan" || t == "Plan with Metrics";
        if !keep {
            continue;
        }
        if verbose {
            lines.push(format!("{t}:"));
        }
        lines.extend(plans.value(i).lines().map(|l| l.trim_end().to_string()));
    }
    let col: ArrayRef = Arc::new(StringArray::from(lines));
    Ok(RecordBatch::try_new(
        Arc::new(Schema::new(vec![Field::new(
            "QUERY PLAN",
            DataType::Utf8,
            false,
        )])),
        vec![col],
    )?)
}
