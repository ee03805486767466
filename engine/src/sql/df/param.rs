//! Vector parameters read when the query runs, not when it is planned.
//!
//! `$n` next to a vector becomes `nestdb_param(n, dim)`, a volatile function that returns the
//! session's current value of `$n`. The plan then holds no placeholder and no vector literal:
//! it is planned once (logical and physical) and run again with each new value, and no
//! 384-float literal is printed into expression names on every execution (which cost more than
//! the search itself). Scalar parameters in a search's pushed filter (`$2` in `label <@ $2`)
//! are bound by the search when it starts; others are bound into the logical plan.

use std::sync::{Arc, RwLock};

use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{exec_err, plan_err, DataFusionError, Result, ScalarValue};
use datafusion::logical_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    Volatility,
};

use crate::sql::Param;

/// A session's parameter values, shared with the functions that read them.
pub type SharedParams = Arc<RwLock<Vec<Param>>>;

/// Name of the parameter function.
pub const NAME: &str = "nestdb_param";

/// See the module docs.
#[derive(Debug)]
pub struct ParamUdf {
    params: SharedParams,
    signature: Signature,
}

impl PartialEq for ParamUdf {
    fn eq(&self, o: &Self) -> bool {
        Arc::ptr_eq(&self.params, &o.params)
    }
}

impl Eq for ParamUdf {}

impl std::hash::Hash for ParamUdf {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        NAME.hash(h)
    }
}

impl ParamUdf {
    /// The function over a session's `params`.
    pub fn udf(params: SharedParams) -> ScalarUDF {
        ScalarUDF::from(ParamUdf {
            params,
            signature: Signature::exact(
                vec![DataType::Int64, DataType::Int64],
                Volatility::Volatile,
            ),
        })
    }
}

fn vector_type(dim: i32) -> DataType {
    DataType::FixedSizeList(Arc::new(Field::new("item", DataType::Float32, false)), dim)
}

fn literal_i64(v: Option<&ScalarValue>) -> Option<i64> {
    match v {
        Some(ScalarValue::Int64(Some(x))) => Some(*x),
        _ => None,
    }
}

impl ScalarUDFImpl for ParamUdf {
    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        plan_err!("{NAME}() takes literal arguments")
    }

    fn return_field_from_args(&self, a: ReturnFieldArgs) -> Result<FieldRef> {
        match a.scalar_arguments {
            [_, d] => match literal_i64(*d) {
                Some(dim) if dim > 0 && dim <= i32::MAX as i64 => {
                    Ok(Arc::new(Field::new(NAME, vector_type(dim as i32), true)))
                }
                _ => plan_err!("{NAME}(): the dimension must be a positive integer literal"),
            },
            _ => plan_err!("{NAME}() takes the parameter's number and its dimension"),
        }
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [ColumnarValue::Scalar(n), ColumnarValue::Scalar(d)] = args.args.as_slice() else {
            return exec_err!("{NAME}() takes two literal arguments");
        };
        let (Some(n), Some(dim)) = (literal_i64(Some(n)), literal_i64(Some(d))) else {
            return exec_err!("{NAME}() takes two integer literals");
        };
        let params = self.params.read().unwrap_or_else(|e| e.into_inner());
        let unbound = || {
            DataFusionError::External(Box::new(crate::Error::from(
                crate::QueryError::UnboundParameter {
                    index: n as usize,
                    given: params.len(),
                },
            )))
        };
        let v = match params.get((n as usize).wrapping_sub(1)) {
            Some(Param::Vector(v)) => v,
            Some(Param::Value(_)) => {
                return exec_err!("parameter ${n} is compared with a vector but is not one")
            }
            None => return Err(unbound()),
        };
        if v.len() as i64 != dim {
            return exec_err!(
                "query vector has {} dimensions, the vector column has {dim}",
                v.len()
            );
        }
        Ok(ColumnarValue::Scalar(ScalarValue::FixedSizeList(Arc::new(
            crate::sql::values::fsl(v),
        ))))
    }
}
