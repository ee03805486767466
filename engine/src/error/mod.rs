//! The engine's typed errors. Each variant says which kind of operation failed and why.
//!
//! The error types of the higher layers (SQL, models, COPY) are defined here too, in
//! submodules, so that this module depends on nothing above it and every module can use it.

#[cfg(feature = "load")]
pub mod load;
pub mod model;
#[cfg(feature = "sql")]
pub mod sql;

pub use nestdb_storage::{CatalogError, InputError, SchemaError, StorageError};

/// Errors of the `nestdb` library.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Bad rows in an insert/upsert: nothing was written.
    #[error("invalid input: {0}")]
    Input(#[from] InputError),
    /// An invalid table schema.
    #[error("invalid schema: {0}")]
    Schema(#[from] SchemaError),
    /// A table-level catalog problem (missing table, name in use, bad name).
    #[error("{0}")]
    Catalog(CatalogError),
    /// The storage layer failed (I/O, corruption, RocksDB).
    #[error("storage: {0}")]
    Storage(StorageError),
    /// A table or database option has an invalid value (nothing was created or changed).
    #[error("{0}")]
    Option(#[from] crate::options::OptionError),
    /// A query that cannot run as asked.
    #[error("{0}")]
    Query(#[from] QueryError),
    /// SQL that does not parse or does not make sense.
    #[cfg(feature = "sql")]
    #[error("{0}")]
    Sql(#[from] sql::SqlError),
    /// An ONNX model or ONNX Runtime problem.
    #[error("{0}")]
    Model(#[from] model::ModelError),
    /// Loading data with COPY failed; the table is unchanged.
    #[cfg(feature = "load")]
    #[error("{0}")]
    Load(#[from] load::LoadError),
    /// The learned index could not be fit.
    #[error("index: {0}")]
    Index(#[from] crate::index::IndexError),
    /// The statement was cancelled (Ctrl-C in the shell).
    #[error("cancelled")]
    Cancelled,
}

impl From<StorageError> for Error {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::Dropped(name) => Error::Catalog(CatalogError::NoSuchTable(name)),
            other => Error::Storage(other),
        }
    }
}

impl From<CatalogError> for Error {
    fn from(e: CatalogError) -> Self {
        match e {
            CatalogError::Storage(s) => s.into(),
            other => Error::Catalog(other),
        }
    }
}

impl From<nestdb_storage::WriteError> for Error {
    fn from(e: nestdb_storage::WriteError) -> Self {
        match e {
            nestdb_storage::WriteError::Input(i) => Error::Input(i),
            nestdb_storage::WriteError::Storage(s) => s.into(),
            other => Error::Storage(StorageError::corrupt("write", other.to_string())),
        }
    }
}

impl From<arrow_schema::ArrowError> for Error {
    fn from(e: arrow_schema::ArrowError) -> Self {
        Error::Storage(StorageError::Arrow(e))
    }
}

/// Why a query cannot run.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum QueryError {
    /// The query vector's length differs from the table's dimension.
    #[error("query vector has {actual} dimensions, the table's vector column \"{column}\" has {expected}")]
    Dimension {
        /// The vector column.
        column: String,
        /// The table's dimension.
        expected: usize,
        /// The query's length.
        actual: usize,
    },
    /// The query vector holds NaN or an infinity.
    #[error("query vector holds a non-finite value at dimension {0}")]
    NonFinite(usize),
    /// The zero vector under the cosine metric.
    #[error("the zero vector has no cosine distance")]
    ZeroVector,
    /// A selected or filtered column does not exist.
    #[error("column \"{column}\" does not exist in table \"{table}\" (columns: {known})")]
    UnknownColumn {
        /// The column asked for.
        column: String,
        /// The table.
        table: String,
        /// The table's columns.
        known: String,
    },
    /// A knob has an invalid value.
    #[error("invalid setting {name} = {value}: {reason}")]
    Setting {
        /// The knob.
        name: String,
        /// The value given.
        value: String,
        /// What is allowed.
        reason: String,
    },
    /// A session setting that does not exist.
    #[error("unknown setting \"{name}\" (settings: {known})")]
    UnknownSetting {
        /// The name given.
        name: String,
        /// The settings that exist.
        known: String,
    },
    /// A `$n` parameter without a value.
    #[error("parameter ${index} has no value ({given} given)")]
    UnboundParameter {
        /// The parameter number.
        index: usize,
        /// Parameters bound.
        given: usize,
    },
    /// A vector subquery that does not return one vector.
    #[error("vector subquery: {0}")]
    Subquery(String),
    /// A reranker that cannot run as asked.
    #[error("rerank: {0}")]
    Rerank(String),
    /// A value that does not fit its column (INSERT ... VALUES).
    #[error("{0}")]
    Value(String),
    /// A filter that does not type-check.
    #[error("filter: {0}")]
    Filter(String),
    /// The operator's metric differs from the table's.
    #[error("operator {op} is {op_metric} distance but table \"{table}\" is indexed for {table_metric}; use {suggest}")]
    Metric {
        /// The operator used.
        op: String,
        /// Its metric.
        op_metric: String,
        /// The table.
        table: String,
        /// The table's metric.
        table_metric: String,
        /// The operator to use instead.
        suggest: String,
    },
}

/// Result alias of the library.
pub type Result<T, E = Error> = std::result::Result<T, E>;
