//! nestdb: an embedded vector database with learned indexing over Matryoshka embeddings.
//!
//! ```no_run
//! use nestdb::{ColumnType, Database, SchemaBuilder};
//! # fn main() -> nestdb::Result<()> {
//! let db = Database::open("my.db")?;
//! let schema = SchemaBuilder::new()
//!     .column("id", ColumnType::Int64)
//!     .column("body", ColumnType::Utf8)
//!     .vector("embedding", 384)
//!     .build()?;
//! let table = db.create_table("docs", schema)?;
//! # let batch: arrow_array::RecordBatch = unimplemented!();
//! table.insert(&batch)?;
//! let hits = table.search(&[0.1; 384]).limit(10).select(&["id", "body"]).execute()?;
//! # Ok(()) }
//! ```
//!
//! See `docs/ARCHITECTURE.md` for how the parts fit.
#![warn(missing_docs)]

mod db;
mod encode;
mod error;
pub mod filter;
pub mod index;
pub mod kernels;
pub mod layout;
pub mod load;
pub mod model;
mod models;
mod options;
pub mod rerank;
mod schema;
pub mod search;
mod snapshot;
pub mod sql;
mod table;
pub mod topk;

pub use arrow_array::RecordBatch;
pub use db::{Database, DatabaseBuilder, IndexInfo, TableInfo};
pub use error::{CatalogError, Error, InputError, QueryError, Result, SchemaError, StorageError};
pub use nestdb_storage::label;
pub use options::{DatabaseOptions, TableOptions};
pub use schema::{Column, ColumnType, Metric, SchemaBuilder, TableSchema};
pub use search::explain::{Explain, StageStats};
pub use search::query::{Search, SearchParams};
pub use snapshot::Snapshot;
pub use table::{Maintenance, Table};
