//! Why a COPY failed (the COPY loader is the `load` module).

use std::path::PathBuf;

use nestdb_storage::InputError;

/// Why a COPY failed; the tables are unchanged.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The path or glob matched no file.
    #[error("COPY: no file matches '{0}'")]
    NoFiles(String),
    /// The glob pattern is invalid.
    #[error("COPY: invalid path pattern '{pattern}': {reason}")]
    Pattern {
        /// The pattern.
        pattern: String,
        /// What is wrong.
        reason: String,
    },
    /// A file could not be read as Parquet (missing, truncated, not Parquet).
    #[error("{file}: cannot read as Parquet: {reason}", file = file.display())]
    NotParquet {
        /// The file.
        file: PathBuf,
        /// What the reader said.
        reason: String,
    },
    /// A file lacks a needed column or has one of the wrong type.
    #[error("{file}: column \"{column}\": {reason}", file = file.display())]
    Schema {
        /// The file.
        file: PathBuf,
        /// The column.
        column: String,
        /// What is wrong.
        reason: String,
    },
    /// A row is invalid (ON_ERROR 'abort', the default). The error names the column and the
    /// row within the file.
    #[error("{file}: {error}", file = file.display())]
    Row {
        /// The file.
        file: PathBuf,
        /// Row within the file (0-based).
        row: usize,
        /// The problem, naming the column.
        error: InputError,
    },
    /// A row's `universal_schema` is not valid JSON or not the MLCPD shape.
    #[error("{file}: row {row}: column \"universal_schema\": {reason}", file = file.display())]
    Json {
        /// The file.
        file: PathBuf,
        /// Row within the file.
        row: usize,
        /// The parser's message.
        reason: String,
    },
    /// An option is unknown or has a bad value.
    #[error("COPY option {name}: {reason}")]
    Option {
        /// The option.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// The target table does not fit the format.
    #[error("COPY into \"{table}\": {reason}")]
    Table {
        /// The table.
        table: String,
        /// What is wrong.
        reason: String,
    },
}
