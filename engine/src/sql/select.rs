//! SELECT, INSERT and DELETE: parsed by sqlparser, converted to nestdb's statements.

use sqlparser::ast::{
    self as sa, BinaryOperator, Expr, FromTable, FunctionArg, FunctionArgExpr, FunctionArguments,
    GroupByExpr, LimitClause, OnInsert, OrderByKind, OrderBySort, SetExpr, Spanned, TableFactor,
    TableObject, Value as SqlValue,
};
use sqlparser::parser::Parser;
use sqlparser::tokenizer::{Span, Token};

use super::ast::{Rerank, Select, SelectItem, Statement, ValueExpr, VectorOrder};
use super::error::SqlError;
use super::lex::{find_pair, is_word, parser_error, StmtTokens, DIALECT};
use crate::filter::parse::{column_name, from_expr, literal};
use crate::filter::{Filter, Value};
use crate::schema::Metric;

/// Parses SELECT / INSERT / DELETE (anything else is reported as unsupported).
pub fn parse(st: &StmtTokens, sql: &str) -> Result<Statement, SqlError> {
    let (main, rerank) = match find_pair(&st.tokens, "RERANK", "BY") {
        Some(i) => (&st.tokens[..i], Some(rerank_clause(st, i, sql)?)),
        None => (&st.tokens[..], None),
    };
    let mut p = Parser::new(&DIALECT).with_tokens_with_locations(main.to_vec());
    let parsed = p.parse_statement().map_err(|e| parser_error(e, st, sql))?;
    if p.peek_token_ref().token != Token::EOF {
        let t = p.peek_token_ref();
        return Err(SqlError::syntax(
            format!("expected end of statement, found \"{}\"", t.token),
            t.span,
            sql,
        ));
    }
    let unsupported = |what: &str, span: Span| SqlError::unsupported(what.to_string(), span, sql);
    match parsed {
        sa::Statement::Query(q) => {
            let mut s = query(&q, sql)?;
            if rerank.is_some() && s.vector.is_none() {
                return Err(unsupported(
                    "RERANK BY needs ORDER BY <vector> <op> <query> LIMIT k",
                    st.span,
                ));
            }
            s.rerank = rerank;
            Ok(Statement::Select(Box::new(s)))
        }
        _ if rerank.is_some() => Err(unsupported("RERANK BY only follows a SELECT", st.span)),
        sa::Statement::Insert(ins) => insert(&ins, sql, st.span),
        sa::Statement::Delete(d) => {
            let tables = match &d.from {
                FromTable::WithFromKeyword(t) | FromTable::WithoutKeyword(t) => t,
            };
            let table = single_table(tables, sql, st.span)?.0;
            let filter = d.selection.as_ref().map(|e| filter(e, sql)).transpose()?;
            Ok(Statement::Delete { table, filter })
        }
        other => Err(unsupported(
            &format!(
                "statement \"{}\"",
                other
                    .to_string()
                    .split_whitespace()
                    .take(2)
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
            st.span,
        )),
    }
}

fn rerank_clause(st: &StmtTokens, i: usize, sql: &str) -> Result<Rerank, SqlError> {
    let tail = st.tokens[i + 2..].to_vec();
    let mut p = Parser::new(&DIALECT).with_tokens_with_locations(tail);
    let e = p.parse_expr().map_err(|e| parser_error(e, st, sql))?;
    let candidates = if is_word(&p.peek_token_ref().token, "CANDIDATES") {
        p.next_token();
        Some(
            p.parse_literal_uint()
                .map_err(|e| parser_error(e, st, sql))? as usize,
        )
    } else {
        None
    };
    if p.peek_token_ref().token != Token::EOF {
        let t = p.peek_token_ref();
        return Err(SqlError::syntax(
            format!(
                "expected CANDIDATES n or end of statement, found \"{}\"",
                t.token
            ),
            t.span,
            sql,
        ));
    }
    let bad = || {
        SqlError::syntax(
            "expected cross_encoder('model', text_column) or vector_scorer('model')",
            e.span(),
            sql,
        )
    };
    let Expr::Function(f) = &e else {
        return Err(bad());
    };
    let args = func_args(f);
    let name = f.name.to_string().to_lowercase();
    let model = args.first().and_then(|a| match literal(a) {
        Some(Value::Str(s)) => Some(s),
        _ => None,
    });
    match (name.as_str(), model, args.len()) {
        ("cross_encoder", Some(model), 2) => Ok(Rerank::CrossEncoder {
            model,
            column: column_name(args[1]).ok_or_else(bad)?.to_lowercase(),
            candidates,
        }),
        ("vector_scorer", Some(model), 1) => Ok(Rerank::VectorScorer { model, candidates }),
        _ => Err(bad()),
    }
}

fn func_args(f: &sa::Function) -> Vec<&Expr> {
    match &f.args {
        FunctionArguments::List(l) => l
            .args
            .iter()
            .filter_map(|a| match a {
                FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Some(e),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

fn filter(e: &Expr, sql: &str) -> Result<Filter, SqlError> {
    from_expr(e).map_err(|fe| SqlError::semantic(fe.message, fe.span, sql))
}

fn single_table(
    from: &[sa::TableWithJoins],
    sql: &str,
    span: Span,
) -> Result<(String, Span), SqlError> {
    match from {
        [t] if t.joins.is_empty() => match &t.relation {
            TableFactor::Table {
                name, args: None, ..
            } => Ok((ident_of(name), name.span())),
            other => Err(SqlError::unsupported(
                "only plain table names are supported in FROM",
                other.span(),
                sql,
            )),
        },
        [] => Err(SqlError::syntax("expected FROM <table>", span, sql)),
        _ => Err(SqlError::unsupported(
            "joins and multiple tables are not supported",
            span,
            sql,
        )),
    }
}

/// The last part of a name, folded like PostgreSQL (unquoted: lower case).
fn ident_of(name: &sa::ObjectName) -> String {
    match name.0.last().and_then(|p| p.as_ident()) {
        Some(i) if i.quote_style.is_some() => i.value.clone(),
        Some(i) => i.value.to_lowercase(),
        None => name.to_string(),
    }
}

fn col_ident(e: &Expr) -> Option<String> {
    match e {
        Expr::Identifier(i) if i.quote_style.is_some() => Some(i.value.clone()),
        Expr::Identifier(i) => Some(i.value.to_lowercase()),
        Expr::CompoundIdentifier(p) => p.last().map(|i| i.value.to_lowercase()),
        _ => None,
    }
}

fn query(q: &sa::Query, sql: &str) -> Result<Select, SqlError> {
    let SetExpr::Select(sel) = q.body.as_ref() else {
        return Err(SqlError::unsupported(
            "only simple SELECT queries are supported",
            q.span(),
            sql,
        ));
    };
    if !matches!(&sel.group_by, GroupByExpr::Expressions(v, _) if v.is_empty())
        || sel.having.is_some()
        || sel.distinct.is_some()
    {
        return Err(SqlError::unsupported(
            "GROUP BY, HAVING and DISTINCT are not supported",
            sel.span(),
            sql,
        ));
    }
    let (table, table_span) = single_table(&sel.from, sql, sel.span())?;
    let mut items = Vec::new();
    for it in &sel.projection {
        items.push(match it {
            sa::SelectItem::Wildcard(_) => SelectItem::Star,
            sa::SelectItem::UnnamedExpr(e) => match (col_ident(e), e) {
                (Some(c), _) => SelectItem::Column(c, e.span()),
                (None, Expr::Function(f)) if f.name.to_string().eq_ignore_ascii_case("count") => {
                    SelectItem::CountStar
                }
                _ => {
                    return Err(SqlError::unsupported(
                        format!("select item {e}: select columns, * or count(*)"),
                        e.span(),
                        sql,
                    ))
                }
            },
            other => {
                return Err(SqlError::unsupported(
                    "aliases and qualified wildcards are not supported",
                    other.span(),
                    sql,
                ))
            }
        });
    }
    let filter = sel.selection.as_ref().map(|e| filter(e, sql)).transpose()?;
    let mut s = Select {
        items,
        table,
        table_span,
        filter,
        vector: None,
        order: Vec::new(),
        limit: None,
        rerank: None,
    };
    if let Some(ob) = &q.order_by {
        let OrderByKind::Expressions(exprs) = &ob.kind else {
            return Err(SqlError::unsupported(
                "ORDER BY ALL is not supported",
                ob.span(),
                sql,
            ));
        };
        for o in exprs {
            let desc = matches!(o.options.sort, Some(OrderBySort::Desc));
            if let Some(v) = vector_order(&o.expr, sql)? {
                if desc || s.vector.is_some() || !s.order.is_empty() || exprs.len() > 1 {
                    return Err(SqlError::unsupported(
                        "a vector ORDER BY must be the only sort key, ascending",
                        o.expr.span(),
                        sql,
                    ));
                }
                s.vector = Some(v);
            } else if let Some(c) = col_ident(&o.expr) {
                s.order.push((c, desc));
            } else {
                return Err(SqlError::unsupported(
                    "ORDER BY a column, or <vector column> <=> <vector>",
                    o.expr.span(),
                    sql,
                ));
            }
        }
    }
    if let Some(l) = &q.limit_clause {
        s.limit = Some(limit(l, sql)?);
    }
    if s.vector.is_some() && s.limit.is_none() {
        return Err(SqlError::semantic(
            "a vector search needs LIMIT k",
            q.span(),
            sql,
        ));
    }
    Ok(s)
}

fn limit(l: &LimitClause, sql: &str) -> Result<usize, SqlError> {
    match l {
        LimitClause::LimitOffset {
            limit: Some(e),
            offset: None,
            limit_by,
        } if limit_by.is_empty() => match literal(e) {
            Some(Value::Int(n)) if n >= 0 => Ok(n as usize),
            _ => Err(SqlError::semantic(
                "LIMIT takes a non-negative whole number",
                e.span(),
                sql,
            )),
        },
        LimitClause::LimitOffset {
            offset: Some(o), ..
        } => Err(SqlError::unsupported(
            "OFFSET is not supported",
            o.value.span(),
            sql,
        )),
        _ => Err(SqlError::unsupported(
            "this LIMIT form is not supported",
            Span::empty(),
            sql,
        )),
    }
}

fn vector_order(e: &Expr, sql: &str) -> Result<Option<VectorOrder>, SqlError> {
    let Expr::BinaryOp { left, op, right } = e else {
        return Ok(None);
    };
    let op = match op {
        BinaryOperator::Custom(s) => s.as_str(),
        BinaryOperator::Spaceship => "<=>",
        BinaryOperator::LtDashGt => "<->",
        _ => return Ok(None),
    };
    let metric = match op {
        "<=>" => Metric::Cosine,
        "<->" => Metric::L2,
        "<#>" => Metric::Dot,
        _ => return Ok(None),
    };
    let Some(column) = col_ident(left) else {
        return Err(SqlError::semantic(
            format!("the left side of {op} must be the vector column"),
            left.span(),
            sql,
        ));
    };
    Ok(Some(VectorOrder {
        column,
        metric,
        op: op.into(),
        query: vector_expr(right, sql)?,
        span: e.span(),
    }))
}

/// A vector-valued expression: literal, `$n`, `embed(...)`, or a one-row subquery.
pub fn vector_expr(e: &Expr, sql: &str) -> Result<ValueExpr, SqlError> {
    let bad = |m: &str| SqlError::semantic(m.to_string(), e.span(), sql);
    match e {
        Expr::Nested(inner) => vector_expr(inner, sql),
        Expr::Value(v) => match &v.value {
            SqlValue::SingleQuotedString(s) => {
                parse_vector(s).map(ValueExpr::Vector).map_err(|m| bad(&m))
            }
            SqlValue::Placeholder(p) => p
                .trim_start_matches('$')
                .parse::<usize>()
                .ok()
                .filter(|&n| n >= 1)
                .map(ValueExpr::Param)
                .ok_or_else(|| bad("parameters are written $1, $2, ...")),
            _ => Err(bad(
                "expected a vector: '[1, 2, ...]', $1, embed('model', 'text') or (SELECT ...)",
            )),
        },
        Expr::Array(a) => a
            .elem
            .iter()
            .map(|x| match literal(x) {
                Some(Value::Int(i)) => Ok(i as f32),
                Some(Value::Float(f)) => Ok(f as f32),
                _ => Err(bad("vector elements must be numbers")),
            })
            .collect::<Result<Vec<f32>, _>>()
            .map(ValueExpr::Vector),
        Expr::Cast { expr, .. } => vector_expr(expr, sql),
        Expr::Function(f) if f.name.to_string().eq_ignore_ascii_case("embed") => {
            let args = func_args(f);
            match (
                args.first().and_then(|a| literal(a)),
                args.get(1).and_then(|a| literal(a)),
                args.len(),
            ) {
                (Some(Value::Str(model)), Some(Value::Str(text)), 2) => {
                    Ok(ValueExpr::Embed { model, text })
                }
                _ => Err(bad(
                    "embed takes a model name and a text: embed('model', 'text')",
                )),
            }
        }
        Expr::Subquery(q) => {
            let s = query(q, sql)?;
            match (s.items.as_slice(), s.vector.is_none()) {
                ([SelectItem::Column(c, _)], true) => Ok(ValueExpr::Subquery { table: s.table, column: c.clone(), filter: s.filter }),
                _ => Err(bad("a vector subquery selects one vector column: (SELECT embedding FROM t WHERE id = 42)")),
            }
        }
        _ => Err(bad(
            "expected a vector: '[1, 2, ...]', $1, embed('model', 'text') or (SELECT ...)",
        )),
    }
}

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

fn value_expr(e: &Expr, sql: &str) -> Result<ValueExpr, SqlError> {
    match e {
        Expr::Array(_) | Expr::Function(_) | Expr::Subquery(_) => vector_expr(e, sql),
        Expr::Value(v) if matches!(v.value, SqlValue::Placeholder(_)) => vector_expr(e, sql),
        _ => literal(e).map(ValueExpr::Scalar).ok_or_else(|| {
            SqlError::semantic(
                format!("expected a literal value, found {e}"),
                e.span(),
                sql,
            )
        }),
    }
}

fn insert(ins: &sa::Insert, sql: &str, span: Span) -> Result<Statement, SqlError> {
    let TableObject::TableName(name) = &ins.table else {
        return Err(SqlError::unsupported("INSERT INTO a table name", span, sql));
    };
    let columns = (!ins.columns.is_empty()).then(|| ins.columns.iter().map(ident_of).collect());
    let Some(src) = &ins.source else {
        return Err(SqlError::syntax("expected VALUES (...)", span, sql));
    };
    let SetExpr::Values(vals) = src.body.as_ref() else {
        return Err(SqlError::unsupported(
            "INSERT ... VALUES only (INSERT ... SELECT is not supported)",
            src.span(),
            sql,
        ));
    };
    let rows = vals
        .rows
        .iter()
        .map(|r| {
            r.content
                .iter()
                .map(|e| value_expr(e, sql))
                .collect::<Result<Vec<_>, _>>()
        })
        .collect::<Result<Vec<_>, _>>()?;
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
            ))
        }
    };
    Ok(Statement::Insert {
        table: ident_of(name),
        columns,
        rows,
        upsert,
    })
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
