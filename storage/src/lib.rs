//! `nestdb-storage`: the on-disk format and durability of nestdb.
//!
//! A database is a directory holding a RocksDB catalog (tables, manifests, write-ahead rows,
//! deletion bitmaps, the id index of unflushed rows) and immutable segments: a Parquet file with
//! one `FixedSizeList<Float32>` column per Matryoshka band (each vector stored once, at full
//! precision, in pages the search reads in place), plus a memory-mapped sidecar in the
//! checksummed [`container`] format. See `docs/format.md` for every byte and the commit
//! protocol.
#![warn(missing_docs)]

pub mod blockcrc;
pub mod bulk;
pub mod check;
pub mod commit;
pub mod conform;
pub mod container;
mod error;
#[cfg(any(test, feature = "fault-injection"))]
pub mod faults;
pub mod fsutil;
pub mod keys;
pub mod label;
pub mod manifest;
pub mod memtable;
pub mod rowcodec;
pub mod schema;
pub mod sections;
pub mod segment;
mod store;
mod table;
mod write;

pub use bulk::BulkLoad;
pub use commit::{Commit, CommitInfo, Flushed, Prepared, SegmentFactory};
pub use conform::InputError;
pub use error::{Result, StorageError};
pub use manifest::{IndexRef, Manifest, SegmentMeta, TableDef};
pub use memtable::{MemChunk, MemTable};
pub use rocksdb::WriteBatch;
pub use schema::{Column, ColumnType, Metric, SchemaError, TableSchema};
pub use segment::{Segment, SegmentSpec, SegmentWriter};
pub use store::{valid_name, CatalogError, Store, CATALOG_VERSION};
pub use table::{TableStore, TableVersion, WriteSettings, Writer};
pub use write::{locate, WriteError};
