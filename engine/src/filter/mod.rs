//! Query-time filters: hierarchical label predicates (ltree's `<@`, `@>`) and scalar
//! predicates, combined with AND/OR/NOT under SQL's three-valued logic.
//!
//! A filter is evaluated per source (segment or unflushed chunk) into roaring bitmaps of
//! matching row offsets ([`eval`]); PATH predicates on segments use the segment's label
//! dictionary, whose pre-order numbering makes a subtree one contiguous id range ([`labels`]).
//! The resulting [`crate::search::Selection`] gives the planner an exact selectivity.

pub mod eval;
pub mod labels;
pub mod parse;

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
