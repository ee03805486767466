//! Typed errors of the storage layer.
//!
//! Every variant names what went wrong and, for files, which file. Callers in the engine wrap
//! these in their own per-operation errors.

use std::path::PathBuf;

/// Errors raised by `nestdb-storage`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// An operating-system I/O error on a file or directory.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// RocksDB reported an error (catalog, manifest, write-ahead rows, deletes, id index).
    #[error("catalog store error: {0}")]
    Rocks(#[from] rocksdb::Error),
    /// A Parquet segment could not be read or written.
    #[error("parquet error in {path}: {source}")]
    Parquet {
        /// The segment file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: parquet::errors::ParquetError,
    },
    /// An Arrow operation failed.
    #[error("arrow error: {0}")]
    Arrow(#[from] arrow_schema::ArrowError),
    /// A file nestdb owns does not start with nestdb's magic bytes.
    #[error("{path}: not a nestdb file (bad magic)")]
    BadMagic {
        /// The file.
        path: PathBuf,
    },
    /// A file was written by a format version this build does not read.
    #[error("{path}: unsupported format version {found} (this build reads version {supported})")]
    UnsupportedVersion {
        /// The file.
        path: PathBuf,
        /// The version in the file.
        found: u32,
        /// The version this build reads.
        supported: u32,
    },
    /// A file's checksum does not match its contents.
    #[error("{path}: checksum mismatch (stored {stored:#010x}, computed {computed:#010x}); the file is corrupted")]
    ChecksumMismatch {
        /// The file.
        path: PathBuf,
        /// The checksum stored with the file.
        stored: u32,
        /// The checksum of the bytes read.
        computed: u32,
    },
    /// A block of a file does not match its stored checksum (found when the block was first
    /// read, or by `check()`).
    #[error("{path}: checksum mismatch in block {block} (stored {stored:#010x}, computed {computed:#010x}); the file is corrupted")]
    BlockChecksum {
        /// The file.
        path: PathBuf,
        /// The 64 KiB block (its index in the file's checksum table).
        block: u64,
        /// The checksum stored with the file.
        stored: u32,
        /// The checksum of the bytes read.
        computed: u32,
    },
    /// A file or catalog record is structurally invalid.
    #[error("{what}: corrupted ({reason})")]
    Corrupt {
        /// The file or record.
        what: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An earlier write of the table failed in a way that leaves its outcome unknown (RocksDB
    /// may or may not have applied it): the table refuses writes until the database is
    /// reopened, which settles it.
    #[error("table {table}: an earlier write failed ({reason}) and its outcome is unknown; reopen the database")]
    Poisoned {
        /// The table.
        table: String,
        /// The failure.
        reason: String,
    },
    /// The table was dropped (possibly while this operation waited for its writer lock).
    #[error("table {0} does not exist (it was dropped)")]
    Dropped(String),
    /// Another process has the database open.
    #[error("database {path} is in use by another process{}", pid.map(|p| format!(" (pid {p})")).unwrap_or_default())]
    Locked {
        /// The database directory.
        path: PathBuf,
        /// The process holding it, when known.
        pid: Option<u32>,
    },
    /// A catalog record could not be encoded or decoded.
    #[error("catalog record {key}: {source}")]
    Json {
        /// The record's key.
        key: String,
        /// The underlying error.
        #[source]
        source: serde_json::Error,
    },
}

impl StorageError {
    /// Wraps an I/O error with the path it happened on.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        StorageError::Io {
            path: path.into(),
            source,
        }
    }

    /// Builds a [`StorageError::Corrupt`].
    pub fn corrupt(what: impl Into<String>, reason: impl Into<String>) -> Self {
        StorageError::Corrupt {
            what: what.into(),
            reason: reason.into(),
        }
    }

    /// Wraps a Parquet error with the file it happened in.
    pub fn parquet(path: impl Into<PathBuf>, source: parquet::errors::ParquetError) -> Self {
        StorageError::Parquet {
            path: path.into(),
            source,
        }
    }
}

/// Result alias of the storage layer.
pub type Result<T, E = StorageError> = std::result::Result<T, E>;
