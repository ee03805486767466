//! nestdb's own statements (queries and writes are sqlparser's, run through DataFusion).

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
    /// `COPY t FROM 'glob' (options)`.
    Copy {
        /// Table.
        table: String,
        /// Path or glob.
        source: String,
        /// Options, keys upper-cased.
        options: Vec<(String, String)>,
    },
    /// `SHOW TABLES`.
    ShowTables,
    /// `SHOW MODELS`.
    ShowModels,
    /// `SHOW RECALL [table]`: live recall against the promise.
    ShowRecall(Option<String>),
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
    /// `ANALYZE t [TUNE ON ROWS | TUNE ON SAMPLED | TUNE ON q]`.
    Analyze {
        /// The table.
        table: String,
        /// What its schedules are tuned on, when the statement says so.
        tune_on: Option<TuneOn>,
    },
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

/// What `ANALYZE t TUNE ON ...` tunes the recall targets on.
#[derive(Clone, Debug, PartialEq)]
pub enum TuneOn {
    /// `TUNE ON ROWS`: rows of the table (the default).
    Rows,
    /// `TUNE ON q`: the vectors of table `q`, a sample of the queries `t` will serve.
    Table(String),
    /// `TUNE ON SAMPLED`: the searches the live recall monitor measured.
    Sampled,
}
