//! `nestdb-storage`: the on-disk format and durability of nestdb.
//!
//! A database is a directory holding a RocksDB catalog (tables, manifests, write-ahead rows,
//! deletion bitmaps, the id index) and immutable segments: a Parquet file with one
//! `FixedSizeList<Float32>` column per Matryoshka band, plus a memory-mapped sidecar in the
//! checksummed [`container`] format. See `docs/format.md` for every byte and the commit
//! protocol.
#![warn(missing_docs)]

pub mod bulk;
pub mod check;
pub mod conform;
pub mod container;
mod error;
pub mod flush;
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
pub use conform::InputError;
pub use error::{Result, StorageError};
pub use flush::{CommitInfo, NewIndex};
pub use manifest::{IndexRef, Manifest, SegmentMeta, TableDef};
pub use memtable::{MemChunk, MemTable};
pub use rocksdb::WriteBatch;
pub use schema::{Column, ColumnType, Metric, SchemaError, TableSchema};
pub use segment::{EncodedSegment, Segment, SegmentEncoder};
pub use store::{valid_name, CatalogError, Store, CATALOG_VERSION};
pub use table::{TableStore, TableVersion, WriteSettings, Writer};
pub use write::WriteError;
