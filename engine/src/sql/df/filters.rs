//! DataFusion predicates to nestdb filters, so WHERE clauses on nestdb tables run inside
//! nestdb (label ordinals, zone maps, the funnel's filtered probing) instead of after a scan.
//! What translates: comparisons of a column with a literal, IN lists, IS [NOT] NULL, LIKE,
//! BETWEEN, the PATH operators, boolean columns, and AND/OR/NOT of these.

use datafusion::common::ScalarValue;
use datafusion::logical_expr::expr::{InList, Like, ScalarFunction};
use datafusion::logical_expr::{Between, BinaryExpr, Expr, Operator};

use super::udf::PathUdf;
use crate::filter::{CmpOp, Filter, Value};

/// Whether `e` translates once its parameters (`$n`) have values.
pub fn translatable(e: &Expr) -> bool {
    translate_with(e, true).is_some()
}

/// `e` as a nestdb filter (None: evaluate it in DataFusion).
pub fn translate(e: &Expr) -> Option<Filter> {
    translate_with(e, false)
}

/// `e` as a filter; with `placeholders`, a parameter (`$n`) stands for any literal.
fn translate_with(e: &Expr, placeholders: bool) -> Option<Filter> {
    let val = |e: &Expr| value(e, placeholders);
    match e {
        Expr::BinaryExpr(BinaryExpr { left, op, right }) => binary(left, *op, right, placeholders),
        Expr::Not(inner) => Some(translate_with(inner, placeholders)?.not()),
        Expr::IsNull(inner) => Some(Filter::IsNull {
            column: column(inner)?,
            negated: false,
        }),
        Expr::IsNotNull(inner) => Some(Filter::IsNull {
            column: column(inner)?,
            negated: true,
        }),
        Expr::InList(InList {
            expr,
            list,
            negated,
        }) => Some(Filter::In {
            column: column(expr)?,
            values: list.iter().map(val).collect::<Option<_>>()?,
            negated: *negated,
        }),
        Expr::Like(Like {
            negated,
            expr,
            pattern,
            escape_char: None,
            case_insensitive: false,
        }) => like(expr, pattern, *negated, placeholders),
        Expr::Between(Between {
            expr,
            negated,
            low,
            high,
        }) => between(expr, low, high, *negated, placeholders),
        Expr::ScalarFunction(ScalarFunction { func, args }) => {
            let p = func.inner().downcast_ref::<PathUdf>()?;
            path_operator(p, args, placeholders)
        }
        Expr::Column(c) => Some(Filter::eq(&c.name, true)),
        Expr::Literal(ScalarValue::Boolean(Some(b)), _) => Some(Filter::Const(*b)),
        _ => None,
    }
}

/// `left op right`: AND, OR, or a comparison of a column with a literal (either side).
fn binary(left: &Expr, op: Operator, right: &Expr, placeholders: bool) -> Option<Filter> {
    let val = |e: &Expr| value(e, placeholders);
    match op {
        Operator::And => {
            Some(translate_with(left, placeholders)?.and(translate_with(right, placeholders)?))
        }
        Operator::Or => {
            Some(translate_with(left, placeholders)?.or(translate_with(right, placeholders)?))
        }
        _ => {
            let op = cmp(op)?;
            match (column(left), column(right)) {
                (Some(c), None) => Some(Filter::cmp(&c, op, val(right)?)),
                (None, Some(c)) => Some(Filter::cmp(&c, op.flip(), val(left)?)),
                _ => None,
            }
        }
    }
}

/// `expr [NOT] LIKE pattern` with a string pattern.
fn like(expr: &Expr, pattern: &Expr, negated: bool, placeholders: bool) -> Option<Filter> {
    let Value::Str(p) = value(pattern, placeholders)? else {
        return None;
    };
    Some(Filter::Like {
        column: column(expr)?,
        pattern: p,
        negated,
    })
}

/// `expr [NOT] BETWEEN low AND high`, as `>= AND <=`.
fn between(
    expr: &Expr,
    low: &Expr,
    high: &Expr,
    negated: bool,
    placeholders: bool,
) -> Option<Filter> {
    let val = |e: &Expr| value(e, placeholders);
    let c = column(expr)?;
    let f = Filter::cmp(&c, CmpOp::Ge, val(low)?).and(Filter::cmp(&c, CmpOp::Le, val(high)?));
    Some(if negated { f.not() } else { f })
}

/// The PATH operator `p` (`<@` or `@>`) applied to `args`: a column and a label.
fn path_operator(p: &PathUdf, args: &[Expr], placeholders: bool) -> Option<Filter> {
    let [l, r] = args else { return None };
    let c = column(l)?;
    let label = match value(r, placeholders)? {
        Value::Str(s) => s,
        _ if placeholders => String::new(),
        _ => return None,
    };
    Some(if p.ancestor {
        Filter::ancestor(&c, &label)
    } else {
        Filter::descendant(&c, &label)
    })
}

fn cmp(op: Operator) -> Option<CmpOp> {
    Some(match op {
        Operator::Eq => CmpOp::Eq,
        Operator::NotEq => CmpOp::Ne,
        Operator::Lt => CmpOp::Lt,
        Operator::LtEq => CmpOp::Le,
        Operator::Gt => CmpOp::Gt,
        Operator::GtEq => CmpOp::Ge,
        _ => return None,
    })
}

fn column(e: &Expr) -> Option<String> {
    match e {
        Expr::Column(c) => Some(c.name.clone()),
        _ => None,
    }
}

/// A literal as a filter value (a placeholder stands for one when `placeholders`).
fn value(e: &Expr, placeholders: bool) -> Option<Value> {
    match e {
        Expr::Literal(s, _) => scalar(s),
        Expr::Placeholder(_) if placeholders => Some(Value::Null),
        Expr::Cast(c) => value(&c.expr, placeholders),
        _ => None,
    }
}

/// A scalar as a filter value (timestamps as microseconds).
pub fn scalar(s: &ScalarValue) -> Option<Value> {
    Some(match s {
        _ if s.is_null() => Value::Null,
        ScalarValue::Boolean(Some(b)) => Value::Bool(*b),
        ScalarValue::Int8(Some(v)) => Value::Int(*v as i64),
        ScalarValue::Int16(Some(v)) => Value::Int(*v as i64),
        ScalarValue::Int32(Some(v)) => Value::Int(*v as i64),
        ScalarValue::Int64(Some(v)) => Value::Int(*v),
        ScalarValue::UInt8(Some(v)) => Value::Int(*v as i64),
        ScalarValue::UInt16(Some(v)) => Value::Int(*v as i64),
        ScalarValue::UInt32(Some(v)) => Value::Int(*v as i64),
        ScalarValue::UInt64(Some(v)) => Value::Int(i64::try_from(*v).ok()?),
        ScalarValue::Float32(Some(v)) => Value::Float(*v as f64),
        ScalarValue::Float64(Some(v)) => Value::Float(*v),
        ScalarValue::TimestampMicrosecond(Some(v), _) => Value::Int(*v),
        ScalarValue::TimestampMillisecond(Some(v), _) => Value::Int(v.checked_mul(1000)?),
        ScalarValue::TimestampSecond(Some(v), _) => Value::Int(v.checked_mul(1_000_000)?),
        ScalarValue::TimestampNanosecond(Some(v), _) => Value::Int(v / 1000),
        _ => Value::Str(s.try_as_str().flatten()?.to_string()),
    })
}
