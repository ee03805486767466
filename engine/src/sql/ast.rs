//! nestdb's statements, after parsing and before planning.

use sqlparser::tokenizer::Span;

use crate::filter::Filter;
use crate::schema::{ColumnType, Metric};

/// A parsed statement.
#[derive(Clone, Debug, PartialEq)]
pub enum Statement {
    /// `CREATE TABLE`.
    CreateTable(CreateTable),
    /// `DROP TABLE [IF EXISTS] t`.
    DropTable {
        /// Table.
        name: String,
        /// `IF EXISTS`.
        if_exists: bool,
    },
    /// `INSERT INTO t [(cols)] VALUES (...), ...` (`ON CONFLICT DO UPDATE` makes it an upsert).
    Insert {
        /// Table.
        table: String,
        /// Column names (None: all, in order).
        columns: Option<Vec<String>>,
        /// Rows of expressions.
        rows: Vec<Vec<ValueExpr>>,
        /// Replace rows with the same id.
        upsert: bool,
    },
    /// `DELETE FROM t [WHERE ...]`.
    Delete {
        /// Table.
        table: String,
        /// Condition (None: every row).
        filter: Option<Filter>,
    },
    /// `COPY t FROM 'glob' (options)`.
    Copy {
        /// Table.
        table: String,
        /// Path or glob.
        source: String,
        /// Options, keys upper-cased.
        options: Vec<(String, String)>,
    },
    /// A query.
    Select(Box<Select>),
    /// `EXPLAIN [ANALYZE] SELECT ...`.
    Explain {
        /// `ANALYZE`: run it and report per-stage statistics.
        analyze: bool,
        /// The query.
        query: Box<Select>,
    },
    /// `SHOW TABLES`.
    ShowTables,
    /// `SHOW MODELS`.
    ShowModels,
    /// `SHOW name` (a session setting).
    ShowSetting(String),
    /// `DESCRIBE t`.
    Describe(String),
    /// `SET name = value`.
    Set {
        /// Setting.
        name: String,
        /// Value as text.
        value: String,
    },
    /// `RESET name` / `RESET ALL`.
    Reset(Option<String>),
    /// `FLUSH t`.
    Flush(String),
    /// `COMPACT t`.
    Compact(String),
    /// `ANALYZE t`.
    Analyze(String),
    /// `CREATE MODEL name FROM 'path' (options)`.
    CreateModel {
        /// Model name.
        name: String,
        /// ONNX file.
        path: String,
        /// Options, keys upper-cased.
        options: Vec<(String, String)>,
    },
    /// `DROP MODEL [IF EXISTS] name`.
    DropModel {
        /// Model name.
        name: String,
        /// `IF EXISTS`.
        if_exists: bool,
    },
}

/// `CREATE TABLE`.
#[derive(Clone, Debug, PartialEq)]
pub struct CreateTable {
    /// Table name.
    pub name: String,
    /// `IF NOT EXISTS`.
    pub if_not_exists: bool,
    /// Columns.
    pub columns: Vec<(String, ColumnType)>,
    /// Primary-key column.
    pub primary_key: Option<String>,
    /// `MATRYOSHKA (...)` of the vector column.
    pub matryoshka: Option<Vec<u32>>,
    /// Metric from `WITH (metric = ...)`.
    pub metric: Option<Metric>,
    /// Other `WITH` options.
    pub options: Vec<(String, String)>,
}

/// A value in INSERT or a query vector.
#[derive(Clone, Debug, PartialEq)]
pub enum ValueExpr {
    /// A scalar literal.
    Scalar(crate::filter::Value),
    /// A vector literal (`'[1, 2]'`, `[1, 2]`, `ARRAY[1, 2]`).
    Vector(Vec<f32>),
    /// `$n` (1-based).
    Param(usize),
    /// `embed('model', 'text')`.
    Embed {
        /// Embedding model.
        model: String,
        /// Text.
        text: String,
    },
    /// `(SELECT column FROM table WHERE ...)`, one row.
    Subquery {
        /// Table.
        table: String,
        /// Column.
        column: String,
        /// Condition.
        filter: Option<Filter>,
    },
}

/// An item of the select list.
#[derive(Clone, Debug, PartialEq)]
pub enum SelectItem {
    /// `*`: every column but the vector (plus `_distance` / `_score` in a search).
    Star,
    /// A column (`_rowid`, `_distance`, `_score` allowed), with its position for errors.
    Column(String, Span),
    /// `count(*)`.
    CountStar,
}

/// ORDER BY of a vector search.
#[derive(Clone, Debug, PartialEq)]
pub struct VectorOrder {
    /// Vector column.
    pub column: String,
    /// Operator's metric (`<=>` cosine, `<->` l2, `<#>` dot).
    pub metric: Metric,
    /// Operator as written.
    pub op: String,
    /// Query vector.
    pub query: ValueExpr,
    /// Position, for errors.
    pub span: Span,
}

/// `RERANK BY ... CANDIDATES n`.
#[derive(Clone, Debug, PartialEq)]
pub enum Rerank {
    /// `cross_encoder('model', text_column)`.
    CrossEncoder {
        /// Model.
        model: String,
        /// Text column.
        column: String,
        /// Candidates rescored.
        candidates: Option<usize>,
    },
    /// `vector_scorer('model')`.
    VectorScorer {
        /// Model.
        model: String,
        /// Candidates rescored.
        candidates: Option<usize>,
    },
}

/// A SELECT.
#[derive(Clone, Debug, PartialEq)]
pub struct Select {
    /// Select list.
    pub items: Vec<SelectItem>,
    /// Table.
    pub table: String,
    /// Position of the table name.
    pub table_span: Span,
    /// WHERE.
    pub filter: Option<Filter>,
    /// Vector ORDER BY.
    pub vector: Option<VectorOrder>,
    /// Scalar ORDER BY columns (descending flag).
    pub order: Vec<(String, bool)>,
    /// LIMIT.
    pub limit: Option<usize>,
    /// RERANK clause.
    pub rerank: Option<Rerank>,
}
