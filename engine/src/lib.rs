//! nestdb: an embedded vector database with learned indexing over Matryoshka embeddings.
//!
//! ```no_run
//! use nestdb::{ColumnType, Database, Filter, SchemaBuilder};
//! # fn main() -> nestdb::Result<()> {
//! let db = Database::open("my.db")?;
//! let schema = SchemaBuilder::new()
//!     .column("id", ColumnType::Int64)
//!     .column("body", ColumnType::Utf8)
//!     .column("label", ColumnType::Path)
//!     .vector("embedding", 384)
//!     .build()?;
//! let table = db.create_table("docs", schema)?;
//! # let batch: arrow_array::RecordBatch = unimplemented!();
//! table.insert(&batch)?;
//! let hits = table
//!     .search(&[0.1; 384])
//!     .limit(10)
//!     .filter(Filter::descendant("label", "python/declarations"))
//!     .select(&["id", "body"])
//!     .execute()?;
//! # Ok(()) }
//! ```
//!
//! Cargo features (all on by default): `sql` (the SQL dialect on DataFusion, and
//! `Search::filter_sql`), `load` (COPY from Parquet and MLCPD datasets), `onnx` (ONNX models at
//! query time through `ort`). Without them the crate is the storage engine, the learned index,
//! the funnel and filters. See `docs/ARCHITECTURE.md` for how the parts fit.
#![warn(missing_docs)]

mod db;
mod encode;
mod error;
mod filter;
mod heap;
#[cfg(feature = "internals")]
#[doc(hidden)]
pub mod index;
#[cfg(not(feature = "internals"))]
#[allow(dead_code)] // some items serve only the benches (feature `internals`)
mod index;
#[cfg(feature = "internals")]
#[doc(hidden)]
pub mod kernels;
#[cfg(not(feature = "internals"))]
#[allow(dead_code)] // some items serve only the benches (feature `internals`)
mod kernels;
#[cfg(feature = "internals")]
#[doc(hidden)]
pub mod layout;
#[cfg(not(feature = "internals"))]
#[allow(dead_code)] // some items serve only the benches (feature `internals`)
mod layout;
#[cfg(feature = "load")]
pub mod load;
pub mod model;
mod models;
mod options;
pub mod rerankers;
#[cfg(feature = "sql")]
mod scan;
mod schema;
mod search;
#[cfg(feature = "sql")]
pub mod sql;
mod table;
#[cfg(feature = "internals")]
#[doc(hidden)]
pub mod topk;
#[cfg(not(feature = "internals"))]
#[allow(dead_code)] // some items serve only the benches (feature `internals`)
mod topk;

pub use arrow_array::RecordBatch;
pub use db::{Database, DatabaseBuilder, IndexInfo, TableInfo};
pub use error::{CatalogError, Error, InputError, QueryError, Result, SchemaError, StorageError};
pub use filter::{CmpOp, Filter, Value};
pub use index::fit::IndexOptions;
pub use index::{IndexError, RecallEstimate, RotationMode, Schedule, Stage};
pub use nestdb_storage::label;
pub use options::{DatabaseOptions, OptionError, TableOptions};
pub use schema::{Column, ColumnType, Metric, SchemaBuilder, TableSchema};
pub use search::explain::{Explain, FilterMode, StageStats};
pub use search::rerank::{Rerank, RerankQuery, Reranker, SCORE};
pub use search::results::DISTANCE;
pub use table::query::{Search, SearchParams};
pub use table::snapshot::Snapshot;
pub use table::{
    Maintenance, RecallReport, RecallRow, Table, MAX_TUNING_QUERIES, MIN_TUNING_QUERIES,
};
