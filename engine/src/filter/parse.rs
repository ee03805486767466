//! From SQL (sqlparser's `Expr`) to [`Filter`], and type checks against a schema.

use sqlparser::ast::{BinaryOperator, Expr, UnaryOperator, Value as SqlValue};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::Span;

use super::{CmpOp, Filter, Value};
use crate::error::{QueryError, Result};
use nestdb_storage::label;

/// A filter that does not make sense, with where it is (line, column; 0 when unknown).
#[derive(Clone, Debug, PartialEq)]
pub struct FilterError {
    /// What is wrong.
    pub message: String,
    /// Where, as sqlparser reports it.
    pub span: Span,
}

fn err<T>(message: impl Into<String>, e: &Expr) -> Result<T, FilterError> {
    use sqlparser::ast::Spanned;
    Err(FilterError {
        message: message.into(),
        span: e.span(),
    })
}

/// Parses a standalone filter expression.
pub fn parse_filter(sql: &str) -> Result<Filter> {
    let dialect = PostgreSqlDialect {};
    let expr = Parser::new(&dialect)
        .try_with_sql(sql)
        .and_then(|mut p| p.parse_expr())
        .map_err(|e| QueryError::Filter(e.to_string()))?;
    from_expr(&expr).map_err(|e| {
        let at = if e.span.start.line > 0 {
            format!(
                " (at line {}, column {})",
                e.span.start.line, e.span.start.column
            )
        } else {
            String::new()
        };
        QueryError::Filter(format!("{}{at}", e.message)).into()
    })
}

/// A column name, if `e` is one.
pub fn column_name(e: &Expr) -> Option<String> {
    match e {
        Expr::Identifier(i) => Some(i.value.clone()),
        Expr::CompoundIdentifier(parts) => parts.last().map(|i| i.value.clone()),
        Expr::Nested(inner) => column_name(inner),
        _ => None,
    }
}

/// A literal value, if `e` is one (negative numbers included).
pub fn literal(e: &Expr) -> Option<Value> {
    match e {
        Expr::Value(v) => match &v.value {
            SqlValue::Number(n, _) => n
                .parse::<i64>()
                .map(Value::Int)
                .or_else(|_| n.parse::<f64>().map(Value::Float))
                .ok(),
            SqlValue::SingleQuotedString(s) | SqlValue::DoubleQuotedString(s) => {
                Some(Value::Str(s.clone()))
            }
            SqlValue::Boolean(b) => Some(Value::Bool(*b)),
            SqlValue::Null => Some(Value::Null),
            _ => None,
        },
        Expr::UnaryOp {
            op: UnaryOperator::Minus,
            expr,
        } => match literal(expr)? {
            Value::Int(i) => Some(Value::Int(-i)),
            Value::Float(f) => Some(Value::Float(-f)),
            _ => None,
        },
        Expr::Nested(inner) => literal(inner),
        _ => None,
    }
}

fn cmp_op(op: &BinaryOperator) -> Option<CmpOp> {
    Some(match op {
        BinaryOperator::Eq => CmpOp::Eq,
        BinaryOperator::NotEq => CmpOp::Ne,
        BinaryOperator::Lt => CmpOp::Lt,
        BinaryOperator::LtEq => CmpOp::Le,
        BinaryOperator::Gt => CmpOp::Gt,
        BinaryOperator::GtEq => CmpOp::Ge,
        _ => return None,
    })
}

fn label_arg(e: &Expr) -> Result<String, FilterError> {
    match literal(e) {
        Some(Value::Str(s)) => match label::normalize(&s) {
            Ok(l) => Ok(l.into_owned()),
            Err(r) => err(format!("invalid label '{s}': {r}"), e),
        },
        _ => err(
            "the right side of <@ and @> must be a label string such as 'python/functions'",
            e,
        ),
    }
}

/// Converts a boolean SQL expression.
pub fn from_expr(e: &Expr) -> Result<Filter, FilterError> {
    match e {
        Expr::Nested(inner) => from_expr(inner),
        Expr::BinaryOp { left, op, right } => binary_op(e, left, op, right),
        Expr::UnaryOp {
            op: UnaryOperator::Not,
            expr,
        } => Ok(Filter::Not(Box::new(from_expr(expr)?))),
        Expr::InList {
            expr,
            list,
            negated,
        } => in_list(expr, list, *negated),
        Expr::Between {
            expr,
            negated,
            low,
            high,
        } => between(e, expr, low, high, *negated),
        Expr::IsNull(inner) | Expr::IsNotNull(inner) => match column_name(inner) {
            Some(column) => Ok(Filter::IsNull {
                column,
                negated: matches!(e, Expr::IsNotNull(_)),
            }),
            None => err("IS NULL needs a column", inner),
        },
        Expr::Like {
            negated,
            expr,
            pattern,
            escape_char: None,
            ..
        } => like_filter(e, expr, pattern, *negated),
        _ => bare(e),
    }
}

/// `left op right` (the whole expression is `e`): AND, OR, `<@`, `@>` or a comparison.
fn binary_op(
    e: &Expr,
    left: &Expr,
    op: &BinaryOperator,
    right: &Expr,
) -> Result<Filter, FilterError> {
    match op {
        BinaryOperator::And => Ok(Filter::And(vec![from_expr(left)?, from_expr(right)?])),
        BinaryOperator::Or => Ok(Filter::Or(vec![from_expr(left)?, from_expr(right)?])),
        BinaryOperator::ArrowAt | BinaryOperator::AtArrow => hierarchy(left, op, right),
        _ => comparison(e, left, op, right),
    }
}

/// `column <@ 'label'` or `column @> 'label'`.
fn hierarchy(left: &Expr, op: &BinaryOperator, right: &Expr) -> Result<Filter, FilterError> {
    let Some(column) = column_name(left) else {
        return err("the left side of <@ and @> must be a PATH column", left);
    };
    let label = label_arg(right)?;
    Ok(if matches!(op, BinaryOperator::ArrowAt) {
        Filter::Descendant { column, label }
    } else {
        Filter::Ancestor { column, label }
    })
}

/// `column op literal`, or `literal op column` (flipped).
fn comparison(
    e: &Expr,
    left: &Expr,
    op: &BinaryOperator,
    right: &Expr,
) -> Result<Filter, FilterError> {
    let Some(op2) = cmp_op(op) else {
        return err(format!("operator {op} is not supported in filters"), e);
    };
    match (
        column_name(left),
        literal(right),
        column_name(right),
        literal(left),
    ) {
        (Some(column), Some(value), _, _) => Ok(Filter::Cmp {
            column,
            op: op2,
            value,
        }),
        (_, _, Some(column), Some(value)) => Ok(Filter::Cmp {
            column,
            op: op2.flip(),
            value,
        }),
        _ => err("comparisons compare a column with a literal", e),
    }
}

/// `expr [NOT] IN (list)` with a column on the left and literals in the list.
fn in_list(expr: &Expr, list: &[Expr], negated: bool) -> Result<Filter, FilterError> {
    let Some(column) = column_name(expr) else {
        return err("IN needs a column on its left", expr);
    };
    let values = list
        .iter()
        .map(|v| literal(v).map_or_else(|| err("IN lists hold literals", v), Ok))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Filter::In {
        column,
        values,
        negated,
    })
}

/// `expr [NOT] BETWEEN low AND high` (the whole expression is `e`), as `>= AND <=`.
fn between(
    e: &Expr,
    expr: &Expr,
    low: &Expr,
    high: &Expr,
    negated: bool,
) -> Result<Filter, FilterError> {
    let Some(column) = column_name(expr) else {
        return err("BETWEEN needs a column on its left", expr);
    };
    let (Some(lo), Some(hi)) = (literal(low), literal(high)) else {
        return err("BETWEEN bounds must be literals", e);
    };
    let f = Filter::And(vec![
        Filter::Cmp {
            column: column.clone(),
            op: CmpOp::Ge,
            value: lo,
        },
        Filter::Cmp {
            column,
            op: CmpOp::Le,
            value: hi,
        },
    ]);
    Ok(if negated { Filter::Not(Box::new(f)) } else { f })
}

/// `expr [NOT] LIKE pattern` (the whole expression is `e`).
fn like_filter(
    e: &Expr,
    expr: &Expr,
    pattern: &Expr,
    negated: bool,
) -> Result<Filter, FilterError> {
    match (column_name(expr), literal(pattern)) {
        (Some(column), Some(Value::Str(p))) => Ok(Filter::Like {
            column,
            pattern: p,
            negated,
        }),
        _ => err("LIKE compares a text column with a string pattern", e),
    }
}

/// A bare boolean literal, or a bare column (read as `column = true`).
fn bare(e: &Expr) -> Result<Filter, FilterError> {
    match literal(e) {
        Some(Value::Bool(b)) => Ok(Filter::Const(b)),
        _ => match column_name(e) {
            Some(column) => Ok(Filter::Cmp {
                column,
                op: CmpOp::Eq,
                value: Value::Bool(true),
            }),
            None => err(format!("unsupported filter expression: {e}"), e),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_operators() {
        let f =
            parse_filter("label <@ 'python/' AND lang IN ('go', 'rust') AND NOT x BETWEEN 1 AND 3")
                .unwrap();
        let Filter::And(parts) = f else { panic!() };
        assert!(
            matches!(&parts[0], Filter::And(v) if matches!(&v[0], Filter::Descendant { label, .. } if label == "python"))
        );
        assert!(matches!(&parts[1], Filter::Not(_)));
        assert_eq!(
            parse_filter("5 < n").unwrap(),
            Filter::Cmp {
                column: "n".into(),
                op: CmpOp::Gt,
                value: Value::Int(5)
            }
        );
        assert!(matches!(
            parse_filter("p @> 'a/b/c'").unwrap(),
            Filter::Ancestor { .. }
        ));
        assert!(matches!(
            parse_filter("name LIKE 'read%'").unwrap(),
            Filter::Like { .. }
        ));
        assert!(matches!(
            parse_filter("x IS NOT NULL").unwrap(),
            Filter::IsNull { negated: true, .. }
        ));
        assert!(parse_filter("a + 1").is_err());
        assert!(parse_filter("label <@ 5").is_err());
    }
}
