//! How nestdb's operators become expressions: pgvector's `<=>`, `<->`, `<#>` become the
//! distance functions, ltree's `<@` and `@>` the path functions; a vector written as a string
//! (`'[0.1, 0.2]'`) or a bracket list (`[0.1, 0.2]`) next to a vector becomes a vector literal;
//! a `$n` parameter next to a vector takes the vector's type.

use std::sync::Arc;

use datafusion::arrow::array::{FixedSizeListArray, Float32Array};
use datafusion::arrow::datatypes::{DataType, Field};
use datafusion::common::{plan_err, DFSchema, Result, ScalarValue};
use datafusion::logical_expr::expr::Placeholder;
use datafusion::logical_expr::planner::{ExprPlanner, PlannerResult, RawBinaryExpr};
use datafusion::logical_expr::{lit, Expr, ExprSchemable, ScalarUDF};
use datafusion::sql::sqlparser::ast::BinaryOperator;

use super::udf::{is_vector, DistanceUdf, PathUdf};
use crate::schema::Metric;

/// See the module docs.
#[derive(Debug)]
pub struct NestPlanner {
    cosine: Arc<ScalarUDF>,
    l2: Arc<ScalarUDF>,
    dot: Arc<ScalarUDF>,
    within: Arc<ScalarUDF>,
    contains: Arc<ScalarUDF>,
    param: Arc<ScalarUDF>,
}

impl NestPlanner {
    /// The planner of a session whose parameter values are `params`.
    pub fn new(params: super::param::SharedParams) -> Self {
        NestPlanner {
            param: Arc::new(super::param::ParamUdf::udf(params)),
            cosine: Arc::new(DistanceUdf::udf(Metric::Cosine)),
            l2: Arc::new(DistanceUdf::udf(Metric::L2)),
            dot: Arc::new(DistanceUdf::udf(Metric::Dot)),
            within: Arc::new(PathUdf::udf(false)),
            contains: Arc::new(PathUdf::udf(true)),
        }
    }
}

/// The metric an operator stands for, if it is a distance operator.
pub fn op_metric(op: &BinaryOperator) -> Option<Metric> {
    match op {
        BinaryOperator::Spaceship => Some(Metric::Cosine),
        BinaryOperator::LtDashGt => Some(Metric::L2),
        BinaryOperator::Custom(s) if s == "<#>" || s == "<->" || s == "<=>" => {
            Some(match s.as_str() {
                "<#>" => Metric::Dot,
                "<->" => Metric::L2,
                _ => Metric::Cosine,
            })
        }
        _ => None,
    }
}

impl ExprPlanner for NestPlanner {
    fn plan_binary_op(
        &self,
        e: RawBinaryExpr,
        schema: &DFSchema,
    ) -> Result<PlannerResult<RawBinaryExpr>> {
        if let Some(m) = op_metric(&e.op) {
            let udf = match m {
                Metric::Cosine => &self.cosine,
                Metric::L2 => &self.l2,
                Metric::Dot => &self.dot,
            };
            let (lt, rt) = (e.left.get_type(schema)?, e.right.get_type(schema)?);
            let ty = if is_vector(&lt) {
                lt
            } else if is_vector(&rt) {
                rt
            } else {
                return plan_err!(
                    "the distance operator compares VECTOR values (a vector column, a vector literal such as '[0.1, 0.2]', embed(...) or $n); got {lt} and {rt}"
                );
            };
            let (l, r) = (
                vectorize(e.left, &ty, &self.param)?,
                vectorize(e.right, &ty, &self.param)?,
            );
            for x in [&l, &r] {
                if let (Ok(DataType::FixedSizeList(_, n)), DataType::FixedSizeList(_, want)) =
                    (x.get_type(schema), &ty)
                {
                    if n != *want {
                        return plan_err!(
                            "query vector has {n} dimensions, the vector column has {want}"
                        );
                    }
                }
            }
            return Ok(PlannerResult::Planned(udf.call(vec![l, r])));
        }
        match e.op {
            BinaryOperator::ArrowAt => Ok(PlannerResult::Planned(
                self.within.call(vec![e.left, e.right]),
            )),
            BinaryOperator::AtArrow => Ok(PlannerResult::Planned(
                self.contains.call(vec![e.left, e.right]),
            )),
            _ => Ok(PlannerResult::Original(e)),
        }
    }

    fn plan_array_literal(
        &self,
        exprs: Vec<Expr>,
        _s: &DFSchema,
    ) -> Result<PlannerResult<Vec<Expr>>> {
        let mut v = Vec::with_capacity(exprs.len());
        for e in &exprs {
            match number(e) {
                Some(x) => v.push(x),
                None => return Ok(PlannerResult::Original(exprs)),
            }
        }
        Ok(PlannerResult::Planned(vector_literal(v)))
    }
}

/// A numeric literal (possibly negated) as f32.
fn number(e: &Expr) -> Option<f32> {
    match e {
        Expr::Literal(s, _) => match s.cast_to(&DataType::Float32).ok()? {
            ScalarValue::Float32(Some(x)) => Some(x),
            _ => None,
        },
        Expr::Negative(inner) => number(inner).map(|x| -x),
        _ => None,
    }
}

/// `e` as an operand of a distance next to a vector of type `ty`: vector strings parsed,
/// parameters read when the query runs (see [`super::param`]).
fn vectorize(e: Expr, ty: &DataType, param: &Arc<ScalarUDF>) -> Result<Expr> {
    match e {
        Expr::Placeholder(Placeholder {
            ref id,
            field: None,
        }) => {
            let (DataType::FixedSizeList(_, dim), Some(n)) =
                (ty, id.strip_prefix('$').and_then(|n| n.parse::<i64>().ok()))
            else {
                return plan_err!("parameter {id} cannot stand for a vector");
            };
            Ok(param.call(vec![lit(n), lit(*dim as i64)]))
        }
        Expr::Literal(ref v, _) if v.try_as_str().flatten().is_some() => {
            let s = v.try_as_str().flatten().unwrap_or_default();
            match crate::sql::values::parse_vector(s) {
                Ok(x) => Ok(vector_literal(x)),
                Err(msg) => plan_err!("{msg}"),
            }
        }
        other => Ok(other),
    }
}

/// A `FixedSizeList<Float32>` literal.
pub fn vector_literal(v: Vec<f32>) -> Expr {
    let n = v.len() as i32;
    let arr = FixedSizeListArray::new(
        Arc::new(Field::new("item", DataType::Float32, false)),
        n,
        Arc::new(Float32Array::from(v)),
        None,
    );
    lit(ScalarValue::FixedSizeList(Arc::new(arr)))
}
