//! nestdb's SQL functions, as DataFusion scalar UDFs:
//! - `cosine_distance(a, b)` (`<=>`), `l2_distance(a, b)` (`<->`), `negative_inner_product(a, b)`
//!   (`<#>`): pgvector's operators on `VECTOR` values, exact;
//! - `path_descendant(label, root)` (`label <@ root`) and `path_ancestor(label, x)`
//!   (`label @> x`): ltree's subtree tests on PATH labels;
//! - `embed('model', text)`: text to vector with an ONNX embedding model (immutable: a literal
//!   argument is embedded once, when the query is planned).

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, FixedSizeListArray, Float32Array, StringArray,
};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Float32Type};
use datafusion::common::{exec_err, plan_err, DataFusionError, Result, ScalarValue};
use datafusion::logical_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    Volatility,
};

use crate::kernels;
use crate::schema::Metric;
use crate::Database;

/// Whether `t` is a vector type (`FixedSizeList<Float32>`).
pub fn is_vector(t: &DataType) -> bool {
    matches!(t, DataType::FixedSizeList(f, _) if f.data_type() == &DataType::Float32)
}

/// A distance operator's function.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct DistanceUdf {
    /// The metric.
    pub metric: Metric,
    signature: Signature,
}

/// Function name of a metric's distance.
pub fn distance_name(m: Metric) -> &'static str {
    match m {
        Metric::Cosine => "cosine_distance",
        Metric::L2 => "l2_distance",
        Metric::Dot => "negative_inner_product",
    }
}

impl DistanceUdf {
    /// The UDF of metric `m`.
    pub fn udf(m: Metric) -> ScalarUDF {
        ScalarUDF::from(DistanceUdf {
            metric: m,
            signature: Signature::user_defined(Volatility::Immutable),
        })
    }
}

impl ScalarUDFImpl for DistanceUdf {
    fn name(&self) -> &str {
        distance_name(self.metric)
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, t: &[DataType]) -> Result<Vec<DataType>> {
        match t {
            [a, b]
                if is_vector(a)
                    && (is_vector(b) || matches!(b, DataType::List(_) | DataType::Null)) =>
            {
                Ok(vec![a.clone(), a.clone()])
            }
            [a, b] if is_vector(b) && matches!(a, DataType::List(_) | DataType::Null) => {
                Ok(vec![b.clone(), b.clone()])
            }
            _ => plan_err!("{} compares two VECTOR values; got {t:?}", self.name()),
        }
    }

    fn return_type(&self, _t: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float32)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let n = args.number_rows;
        let [a, b] = args.args.as_slice() else {
            return exec_err!("{} takes 2 arguments", self.name());
        };
        let scalar = matches!((a, b), (ColumnarValue::Scalar(_), ColumnarValue::Scalar(_)));
        let (a, b) = (a.to_array(n)?, b.to_array(n)?);
        let (a, b) = (a.as_fixed_size_list(), b.as_fixed_size_list());
        let (da, db) = (a.value_length() as usize, b.value_length() as usize);
        if da != db {
            return exec_err!("vectors of {da} and {db} dimensions cannot be compared");
        }
        let k = kernels::get();
        let out: Float32Array = (0..n)
            .map(|i| {
                if a.is_null(i) || b.is_null(i) {
                    return None;
                }
                let (x, y) = (row(a, i), row(b, i));
                Some(match self.metric {
                    Metric::Cosine => (k.cos_f32)(x, y),
                    Metric::L2 => (k.l2sq_f32)(x, y).sqrt(),
                    Metric::Dot => -(k.dot_f32)(x, y),
                })
            })
            .collect();
        if scalar {
            return Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(&out, 0)?));
        }
        Ok(ColumnarValue::Array(Arc::new(out)))
    }
}

fn row(l: &FixedSizeListArray, i: usize) -> &[f32] {
    let d = l.value_length() as usize;
    let v = l.values().as_primitive::<Float32Type>().values();
    let at = (l.offset() + i) * d;
    &v[at..at + d]
}

/// `label <@ root` and `label @> x` on PATH labels.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct PathUdf {
    /// `true`: `path_ancestor` (`@>`); `false`: `path_descendant` (`<@`).
    pub ancestor: bool,
    signature: Signature,
}

impl PathUdf {
    /// `path_descendant` or `path_ancestor`.
    pub fn udf(ancestor: bool) -> ScalarUDF {
        ScalarUDF::from(PathUdf {
            ancestor,
            signature: Signature::user_defined(Volatility::Immutable),
        })
    }
}

fn is_text(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8 | DataType::Null
    )
}

impl ScalarUDFImpl for PathUdf {
    fn coerce_types(&self, t: &[DataType]) -> Result<Vec<DataType>> {
        match t {
            [a, b] if is_text(a) && is_text(b) => Ok(vec![DataType::Utf8, DataType::Utf8]),
            [a, _] if !is_text(a) => {
                plan_err!("<@ and @> compare PATH labels; the left side is {a}")
            }
            _ => plan_err!(
                "the right side of <@ and @> must be a label string such as 'python/functions'"
            ),
        }
    }

    fn name(&self) -> &str {
        if self.ancestor {
            "path_ancestor"
        } else {
            "path_descendant"
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _t: &[DataType]) -> Result<DataType> {
        Ok(DataType::Boolean)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let n = args.number_rows;
        let [a, b] = args.args.as_slice() else {
            return exec_err!("{} takes 2 arguments", self.name());
        };
        let cast = |v: &ColumnarValue| -> Result<ArrayRef> {
            Ok(datafusion::arrow::compute::cast(
                &v.to_array(n)?,
                &DataType::Utf8,
            )?)
        };
        let (a, b) = (cast(a)?, cast(b)?);
        let (a, b) = (a.as_string::<i32>(), b.as_string::<i32>());
        let norm = |s: &str| {
            crate::label::normalize(s)
                .map(|l| l.into_owned())
                .unwrap_or_else(|_| s.to_string())
        };
        let out: BooleanArray = (0..n)
            .map(|i| {
                if a.is_null(i) || b.is_null(i) {
                    return None;
                }
                let (l, r) = (a.value(i), norm(b.value(i)));
                Some(if self.ancestor {
                    crate::label::is_descendant(&r, l)
                } else {
                    crate::label::is_descendant(l, &r)
                })
            })
            .collect();
        Ok(ColumnarValue::Array(Arc::new(out)))
    }
}

/// `embed('model', text)`.
#[derive(Debug)]
pub struct EmbedUdf {
    db: Database,
    signature: Signature,
}

impl PartialEq for EmbedUdf {
    fn eq(&self, o: &Self) -> bool {
        Arc::ptr_eq(&self.db.inner, &o.db.inner)
    }
}

impl Eq for EmbedUdf {}

impl std::hash::Hash for EmbedUdf {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        "embed".hash(h)
    }
}

impl EmbedUdf {
    /// `embed` over `db`'s models.
    pub fn udf(db: Database) -> ScalarUDF {
        ScalarUDF::from(EmbedUdf {
            db,
            signature: Signature::string(2, Volatility::Immutable),
        })
    }
}

fn ext(e: crate::Error) -> DataFusionError {
    DataFusionError::External(Box::new(e))
}

impl ScalarUDFImpl for EmbedUdf {
    fn name(&self) -> &str {
        "embed"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        plan_err!("embed(): the model must be named by a string literal")
    }

    fn return_field_from_args(&self, a: ReturnFieldArgs) -> Result<FieldRef> {
        let Some(model) = a
            .scalar_arguments
            .first()
            .copied()
            .flatten()
            .and_then(|v| v.try_as_str().flatten())
        else {
            return plan_err!("embed(): the model must be named by a string literal, e.g. embed('minilm', 'text')");
        };
        let dim = self.db.model_dim(model).map_err(ext)?;
        Ok(Arc::new(Field::new(
            "embed",
            DataType::FixedSizeList(
                Arc::new(Field::new("item", DataType::Float32, false)),
                dim as i32,
            ),
            true,
        )))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let n = args.number_rows;
        let [m, t] = args.args.as_slice() else {
            return exec_err!("embed takes 2 arguments: the model and the text");
        };
        let ColumnarValue::Scalar(m) = m else {
            return exec_err!("embed(): the model must be a string literal");
        };
        let Some(model) = m.try_as_str().flatten() else {
            return exec_err!("embed(): the model must be a string literal");
        };
        let scalar = matches!(t, ColumnarValue::Scalar(_));
        let texts = datafusion::arrow::compute::cast(
            &t.to_array(if scalar { 1 } else { n })?,
            &DataType::Utf8,
        )?;
        let texts: &StringArray = texts.as_string::<i32>();
        let owned: Vec<&str> = (0..texts.len())
            .map(|i| if texts.is_null(i) { "" } else { texts.value(i) })
            .collect();
        let dim = self.db.model_dim(model).map_err(ext)?;
        let vecs = self.db.embed_many(model, &owned).map_err(ext)?;
        let flat: Vec<f32> = vecs.into_iter().flatten().collect();
        let arr = FixedSizeListArray::new(
            Arc::new(Field::new("item", DataType::Float32, false)),
            dim as i32,
            Arc::new(Float32Array::from(flat)),
            None,
        );
        if scalar {
            return Ok(ColumnarValue::Scalar(ScalarValue::FixedSizeList(Arc::new(
                arr,
            ))));
        }
        Ok(ColumnarValue::Array(Arc::new(arr)))
    }
}
