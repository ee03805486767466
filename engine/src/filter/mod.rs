//! Query-time filters: hierarchical label predicates (ltree's `<@`, `@>`) and scalar
//! predicates, combined with AND/OR/NOT under SQL's three-valued logic.
//!
//! A filter is evaluated per source (segment or unflushed chunk) into dense bitsets of
//! matching row offsets ([`eval`], [`bits`]), 64 rows per word, with no cache needed: PATH
//! predicates on segments use the segment's label dictionary, whose pre-order numbering makes a
//! subtree one contiguous id range ([`labels`]) tested on the label ordinal column or set from
//! the subtree's postings; comparisons are word loops over Arrow columns that skip zones (a
//! partition or a block of rows) whose bounds decide them ([`zones`]); an AND runs its most
//! selective part first and the rest only on its survivors. The resulting [`Selection`] gives
//! the planner an exact selectivity.

pub mod bits;
pub mod ctx;
pub mod eval;
pub mod labels;
pub mod leaf;
#[cfg(test)]
mod model_tests;
#[cfg(feature = "filter-sql")]
pub mod parse;
pub mod range;
pub mod scan;
pub mod selection;
pub mod validate;
pub mod zones;

pub use selection::{RowSet, Selection};

use std::fmt;

/// A literal in a filter.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// Integer.
    Int(i64),
    /// Float.
    Float(f64),
    /// Text (also labels and timestamps before typing).
    Str(String),
    /// Boolean.
    Bool(bool),
    /// NULL.
    Null,
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Int(i) => write!(f, "{i}"),
            Value::Float(x) => write!(f, "{x}"),
            Value::Str(s) => write!(f, "'{}'", s.replace('\'', "''")),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Null => write!(f, "NULL"),
        }
    }
}

/// Comparison operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CmpOp {
    /// `=`
    Eq,
    /// `<>` or `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

impl CmpOp {
    /// The operator with its operands swapped (`a < b` is `b > a`).
    pub fn flip(self) -> CmpOp {
        match self {
            CmpOp::Lt => CmpOp::Gt,
            CmpOp::Le => CmpOp::Ge,
            CmpOp::Gt => CmpOp::Lt,
            CmpOp::Ge => CmpOp::Le,
            o => o,
        }
    }

    /// Applies the operator to an ordering.
    pub fn test(self, o: std::cmp::Ordering) -> bool {
        use std::cmp::Ordering::*;
        match self {
            CmpOp::Eq => o == Equal,
            CmpOp::Ne => o != Equal,
            CmpOp::Lt => o == Less,
            CmpOp::Le => o != Greater,
            CmpOp::Gt => o == Greater,
            CmpOp::Ge => o != Less,
        }
    }
}

/// A filter expression over a table's columns.
#[derive(Clone, Debug, PartialEq)]
pub enum Filter {
    /// All must hold.
    And(Vec<Filter>),
    /// Any must hold.
    Or(Vec<Filter>),
    /// Must not hold (NULL stays NULL).
    Not(Box<Filter>),
    /// `column op value`.
    Cmp {
        /// Column name.
        column: String,
        /// Operator.
        op: CmpOp,
        /// Literal.
        value: Value,
    },
    /// `column [NOT] IN (values)`.
    In {
        /// Column name.
        column: String,
        /// Literals.
        values: Vec<Value>,
        /// `NOT IN`.
        negated: bool,
    },
    /// `column IS [NOT] NULL`.
    IsNull {
        /// Column name.
        column: String,
        /// `IS NOT NULL`.
        negated: bool,
    },
    /// `column [NOT] LIKE pattern` (`%` any run, `_` one character).
    Like {
        /// Column name.
        column: String,
        /// The pattern.
        pattern: String,
        /// `NOT LIKE`.
        negated: bool,
    },
    /// `column <@ 'label'`: the row's label is `label` or below it.
    Descendant {
        /// PATH column.
        column: String,
        /// Root of the subtree (normalized).
        label: String,
    },
    /// `column @> 'label'`: the row's label is `label` or above it.
    Ancestor {
        /// PATH column.
        column: String,
        /// The label whose ancestors match (normalized).
        label: String,
    },
    /// A constant (after folding).
    Const(bool),
}

impl fmt::Display for CmpOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CmpOp::Eq => "=",
            CmpOp::Ne => "<>",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        })
    }
}

/// SQL-like text of a filter (EXPLAIN).
impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |f: &mut fmt::Formatter<'_>, parts: &[Filter], sep: &str| -> fmt::Result {
            for (i, p) in parts.iter().enumerate() {
                if i > 0 {
                    write!(f, " {sep} ")?;
                }
                write!(f, "({p})")?;
            }
            Ok(())
        };
        match self {
            Filter::And(p) => list(f, p, "AND"),
            Filter::Or(p) => list(f, p, "OR"),
            Filter::Not(x) => write!(f, "NOT ({x})"),
            Filter::Cmp { column, op, value } => write!(f, "{column} {op} {value}"),
            Filter::In {
                column,
                values,
                negated,
            } => {
                let v: Vec<String> = values.iter().map(|v| v.to_string()).collect();
                write!(
                    f,
                    "{column} {}IN ({})",
                    if *negated { "NOT " } else { "" },
                    v.join(", ")
                )
            }
            Filter::IsNull { column, negated } => {
                write!(f, "{column} IS {}NULL", if *negated { "NOT " } else { "" })
            }
            Filter::Like {
                column,
                pattern,
                negated,
            } => {
                write!(
                    f,
                    "{column} {}LIKE {}",
                    if *negated { "NOT " } else { "" },
                    Value::Str(pattern.clone())
                )
            }
            Filter::Descendant { column, label } => {
                write!(f, "{column} <@ {}", Value::Str(label.clone()))
            }
            Filter::Ancestor { column, label } => {
                write!(f, "{column} @> {}", Value::Str(label.clone()))
            }
            Filter::Const(b) => write!(f, "{b}"),
        }
    }
}

impl Filter {
    /// `column <@ 'label'`: rows whose label is `label` or below it.
    pub fn descendant(column: &str, label: &str) -> Filter {
        Filter::Descendant {
            column: column.into(),
            label: crate::label::normalize(label)
                .map(|l| l.into_owned())
                .unwrap_or_else(|_| label.into()),
        }
    }

    /// `column @> 'label'`: rows whose label is `label` or above it.
    pub fn ancestor(column: &str, label: &str) -> Filter {
        Filter::Ancestor {
            column: column.into(),
            label: crate::label::normalize(label)
                .map(|l| l.into_owned())
                .unwrap_or_else(|_| label.into()),
        }
    }

    /// `column op value`.
    pub fn cmp(column: &str, op: CmpOp, value: impl Into<Value>) -> Filter {
        Filter::Cmp {
            column: column.into(),
            op,
            value: value.into(),
        }
    }

    /// `column = value`.
    pub fn eq(column: &str, value: impl Into<Value>) -> Filter {
        Filter::cmp(column, CmpOp::Eq, value)
    }

    /// `column IN (values)`.
    pub fn in_list(column: &str, values: impl IntoIterator<Item = impl Into<Value>>) -> Filter {
        Filter::In {
            column: column.into(),
            values: values.into_iter().map(Into::into).collect(),
            negated: false,
        }
    }

    /// Both hold.
    pub fn and(self, other: Filter) -> Filter {
        match self {
            Filter::And(mut v) => {
                v.push(other);
                Filter::And(v)
            }
            f => Filter::And(vec![f, other]),
        }
    }

    /// Either holds.
    pub fn or(self, other: Filter) -> Filter {
        match self {
            Filter::Or(mut v) => {
                v.push(other);
                Filter::Or(v)
            }
            f => Filter::Or(vec![f, other]),
        }
    }

    /// Does not hold (NULL stays NULL).
    #[allow(clippy::should_implement_trait)]
    pub fn not(self) -> Filter {
        Filter::Not(Box::new(self))
    }
}

impl From<i64> for Value {
    fn from(v: i64) -> Value {
        Value::Int(v)
    }
}

impl From<f64> for Value {
    fn from(v: f64) -> Value {
        Value::Float(v)
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Value {
        Value::Str(v.into())
    }
}

impl From<String> for Value {
    fn from(v: String) -> Value {
        Value::Str(v)
    }
}

impl From<bool> for Value {
    fn from(v: bool) -> Value {
        Value::Bool(v)
    }
}

#[cfg(feature = "filter-sql")]
impl Filter {
    /// Parses a SQL boolean expression such as `label <@ 'python' AND lang IN ('go', 'rust')`.
    ///
    /// The last few parsed conditions are remembered (applications repeat them query after
    /// query), so parsing the same text again costs a lookup.
    pub fn parse(sql: &str) -> crate::Result<Filter> {
        static RECENT: std::sync::Mutex<Vec<(String, Filter)>> = std::sync::Mutex::new(Vec::new());
        const KEEP: usize = 16;
        let lock = || RECENT.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, f)) = lock().iter().find(|(s, _)| s == sql) {
            return Ok(f.clone());
        }
        let f = parse::parse_filter(sql)?;
        let mut recent = lock();
        recent.insert(0, (sql.to_string(), f.clone()));
        recent.truncate(KEEP);
        Ok(f)
    }
}
