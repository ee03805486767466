//! A table's versions and its single writer.
//!
//! Readers take a [`TableVersion`] snapshot (an `Arc`) and never see a half-applied change.
//! Writers go through [`TableStore::writer`], which serializes them; every mutation commits
//! one RocksDB write batch and then publishes a new version.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use arrow_array::RecordBatch;
use roaring::RoaringBitmap;
use rocksdb::{WriteBatch, WriteOptions, DB};

use crate::container::{Container, FileKind};
use crate::error::{Result, StorageError};
use crate::keys::{self, Location};
use crate::manifest::{Manifest, TableDef};
use crate::memtable::MemTable;
use crate::rowcodec;
use crate::segment::Segment;

/// An immutable table version: what a query sees from start to end.
#[derive(Debug)]
pub struct TableVersion {
    /// The table's definition.
    pub def: Arc<TableDef>,
    /// The manifest this version was built from.
    pub manifest: Manifest,
    /// Open segments, in manifest order.
    pub segments: Vec<Arc<Segment>>,
    /// Deleted row offsets of each segment, in manifest order.
    pub deletes: Vec<Arc<RoaringBitmap>>,
    /// Rows not yet flushed.
    pub mem: MemTable,
    /// The learned index file of this version, verified and mapped (it stays readable after
    /// a later version replaces and unlinks it).
    pub index: Option<Arc<Container>>,
}

impl TableVersion {
    /// Live rows in this version.
    pub fn count(&self) -> usize {
        let seg: usize = self
            .segments
            .iter()
            .zip(&self.deletes)
            .map(|(s, d)| s.rows() - d.len() as usize)
            .sum();
        seg + self.mem.live_rows()
    }

    /// Position of segment `id` in this version.
    pub fn segment_pos(&self, id: u64) -> Option<usize> {
        self.segments.iter().position(|s| s.meta().id == id)
    }
}

/// Options that shape durability.
#[derive(Clone, Copy, Debug)]
pub struct WriteSettings {
    /// fsync the RocksDB WAL on every insert/delete (flush and compaction always sync).
    pub sync: bool,
}

/// One table's storage: its current version and the writer lock.
pub struct TableStore {
    pub(crate) db: Arc<DB>,
    pub(crate) dir: PathBuf,
    pub(crate) def: Arc<TableDef>,
    pub(crate) settings: WriteSettings,
    pub(crate) writer: Mutex<WriterState>,
    pub(crate) current: RwLock<Arc<TableVersion>>,
    pub(crate) dropped: AtomicBool,
}

/// State only the writer touches.
pub struct WriterState {
    pub(crate) next_rowid: u64,
}

impl TableStore {
    /// Opens a table: manifest, segments (verified), deletion bitmaps and write-ahead rows.
    pub(crate) fn open(
        db: Arc<DB>,
        dir: PathBuf,
        def: TableDef,
        settings: WriteSettings,
    ) -> Result<TableStore> {
        let tid = def.id;
        let manifest = read_manifest(&db, tid)?;
        let mut segments = Vec::with_capacity(manifest.segments.len());
        let mut deletes = Vec::with_capacity(manifest.segments.len());
        for m in &manifest.segments {
            segments.push(Arc::new(Segment::open(&dir, m, &def.schema)?));
            deletes.push(Arc::new(read_deletes(&db, tid, m.id)?));
        }
        let (mem, max_rowid) = load_wal(&db, &def)?;
        let next_rowid = match db.get(keys::next_rowid(tid))? {
            Some(b) => u64::from_le_bytes(
                b.as_slice()
                    .try_into()
                    .map_err(|_| StorageError::corrupt("next row id", "not 8 bytes"))?,
            ),
            None => 0,
        }
        .max(max_rowid);
        let index = open_index(&dir, &manifest)?;
        let def = Arc::new(def);
        let version = TableVersion {
            def: def.clone(),
            manifest,
            segments,
            deletes,
            mem,
            index,
        };
        Ok(TableStore {
            db,
            dir,
            def,
            settings,
            writer: Mutex::new(WriterState { next_rowid }),
            current: RwLock::new(Arc::new(version)),
            dropped: AtomicBool::new(false),
        })
    }

    /// The table's definition.
    pub fn def(&self) -> &Arc<TableDef> {
        &self.def
    }

    /// The directory holding the table's files.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The current version (a snapshot: it never changes).
    pub fn snapshot(&self) -> Arc<TableVersion> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Whether the table was dropped (handles to it then fail).
    pub fn is_dropped(&self) -> bool {
        self.dropped.load(Ordering::SeqCst)
    }

    /// Takes the writer lock. Only one writer works on a table at a time.
    pub fn writer(&self) -> Result<Writer<'_>> {
        if self.is_dropped() {
            return Err(StorageError::corrupt(
                format!("table {}", self.def.name),
                "the table was dropped",
            ));
        }
        let state = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        Ok(Writer { table: self, state })
    }

    pub(crate) fn publish(&self, v: TableVersion) {
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(v);
    }

    pub(crate) fn write(&self, wb: WriteBatch, force_sync: bool) -> Result<()> {
        let mut o = WriteOptions::default();
        o.set_sync(force_sync || self.settings.sync);
        self.db.write_opt(wb, &o)?;
        Ok(())
    }
}

/// The writer: holds the table's writer lock. Mutations are in `write.rs` and `flush.rs`.
pub struct Writer<'a> {
    pub(crate) table: &'a TableStore,
    pub(crate) state: MutexGuard<'a, WriterState>,
}

impl Writer<'_> {
    /// The current version.
    pub fn snapshot(&self) -> Arc<TableVersion> {
        self.table.snapshot()
    }

    /// The table.
    pub fn table(&self) -> &TableStore {
        self.table
    }

    /// Looks up the locations of primary keys in the id index.
    pub fn locate(&self, pks: &[i64]) -> Result<Vec<Option<Location>>> {
        let tid = self.table.def.id;
        let ks: Vec<Vec<u8>> = pks.iter().map(|&k| keys::pk(tid, k)).collect();
        self.table
            .db
            .multi_get(&ks)
            .into_iter()
            .map(|r| {
                r?.map(|b| {
                    Location::decode(&b)
                        .ok_or_else(|| StorageError::corrupt("id index entry", "bad length"))
                })
                .transpose()
            })
            .collect()
    }
}

/// Opens and verifies the index file `m` references, if any.
pub(crate) fn open_index(dir: &Path, m: &Manifest) -> Result<Option<Arc<Container>>> {
    m.index
        .as_ref()
        .map(|r| Container::open(&dir.join(r.file_name()), FileKind::Index).map(Arc::new))
        .transpose()
}

pub(crate) fn read_manifest(db: &DB, tid: u64) -> Result<Manifest> {
    let key = keys::manifest(tid);
    match db.get(&key)? {
        Some(b) => serde_json::from_slice(&b).map_err(|e| StorageError::Json {
            key: format!("manifest of table {tid}"),
            source: e,
        }),
        None => Err(StorageError::corrupt(
            format!("table {tid}"),
            "manifest missing",
        )),
    }
}

pub(crate) fn manifest_bytes(m: &Manifest) -> Vec<u8> {
    serde_json::to_vec(m).expect("manifest serializes")
}

fn read_deletes(db: &DB, tid: u64, seg: u64) -> Result<RoaringBitmap> {
    match db.get(keys::del(tid, seg))? {
        Some(b) => RoaringBitmap::deserialize_from(&b[..]).map_err(|e| {
            StorageError::corrupt(format!("deletion bitmap of segment {seg}"), e.to_string())
        }),
        None => Ok(RoaringBitmap::new()),
    }
}

pub(crate) fn deletes_bytes(d: &RoaringBitmap) -> Vec<u8> {
    let mut v = Vec::with_capacity(d.serialized_size());
    d.serialize_into(&mut v).expect("write to a Vec");
    v
}

fn load_wal(db: &DB, def: &TableDef) -> Result<(MemTable, u64)> {
    let prefix = keys::wal_prefix(def.id);
    let mut rowids = Vec::new();
    let mut rows = Vec::new();
    let mut ro = rocksdb::ReadOptions::default();
    ro.set_iterate_upper_bound(keys::prefix_end(&prefix));
    for item in db.iterator_opt(
        rocksdb::IteratorMode::From(&prefix, rocksdb::Direction::Forward),
        ro,
    ) {
        let (k, v) = item?;
        let rowid = keys::suffix_u64(&k)
            .ok_or_else(|| StorageError::corrupt("write-ahead key", "short key"))?;
        rowids.push(rowid);
        rows.push(v);
    }
    let max = rowids.last().map_or(0, |r| r + 1);
    if rows.is_empty() {
        return Ok((MemTable::default(), max));
    }
    let batch = rowcodec::decode_rows(&def.schema, rows.iter().map(|b| &b[..]))?;
    let mem = MemTable::default().with_chunk(crate::memtable::MemChunk { batch, rowids });
    Ok((mem, max))
}

/// Rows of `batch` as encoded write-ahead values.
pub(crate) fn encode_rows(def: &TableDef, batch: &RecordBatch) -> Vec<Vec<u8>> {
    (0..batch.num_rows())
        .map(|r| {
            let mut v = Vec::with_capacity(64);
            rowcodec::encode_row(&def.schema, batch, r, &mut v);
            v
        })
        .collect()
}
