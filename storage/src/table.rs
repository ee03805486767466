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
use crate::keys;
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
    /// The learned index file of this version, mapped (it stays readable after a later version
    /// replaces and unlinks it).
    pub index: Option<Arc<Container>>,
    /// Unique number of this published version within the process (every write publishes a new
    /// one; caches key on it without holding the version).
    pub seq: u64,
}

static NEXT_SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// A fresh version number for [`TableVersion::seq`].
pub(crate) fn next_seq() -> u64 {
    NEXT_SEQ.fetch_add(1, Ordering::Relaxed)
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
    pub(crate) next_segment_id: u64,
    pub(crate) next_index_version: u64,
    /// Set when a commit's outcome is unknown (the RocksDB write failed): the in-memory state may
    /// disagree with the disk, so writes are refused until the database is reopened.
    /// Why an earlier write left its outcome unknown (the writer then refuses to work).
    pub(crate) poisoned: Option<String>,
}

impl TableStore {
    /// Opens a table: manifest, segments (footers only), deletion bitmaps and write-ahead rows.
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
        if next_rowid >= crate::manifest::COUNTER_LIMIT {
            return Err(StorageError::corrupt(
                "next row id",
                format!("{next_rowid} is out of range"),
            ));
        }
        let index = open_index(&dir, &manifest)?;
        let def = Arc::new(def);
        let state = WriterState {
            next_rowid,
            next_segment_id: manifest.next_segment_id,
            next_index_version: manifest.next_index_version.max(1),
            poisoned: None,
        };
        let version = TableVersion {
            def: def.clone(),
            manifest,
            segments,
            deletes,
            mem,
            index,
            seq: next_seq(),
        };
        Ok(TableStore {
            db,
            dir,
            def,
            settings,
            writer: Mutex::new(state),
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

    /// Takes the writer lock. Only one writer works on a table at a time. Fails when the table
    /// was dropped (also when the drop happened while this call waited for the lock).
    pub fn writer(&self) -> Result<Writer<'_>> {
        let state = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        if self.is_dropped() {
            return Err(StorageError::Dropped(self.def.name.clone()));
        }
        if let Some(reason) = &state.poisoned {
            return Err(StorageError::Poisoned {
                table: self.def.name.clone(),
                reason: reason.clone(),
            });
        }
        Ok(Writer { table: self, state })
    }

    pub(crate) fn publish(&self, mut v: TableVersion) {
        v.seq = next_seq();
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(v);
    }
}

/// The writer: holds the table's writer lock. Mutations are in `write.rs` (rows), `commit.rs`
/// (segments and index files) and `bulk.rs` (bulk loads).
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

    /// Writes `wb` to RocksDB (synced when `force_sync` or the table's settings say so). A
    /// failure poisons the writer: RocksDB may or may not have applied the batch.
    pub(crate) fn write(&mut self, wb: WriteBatch, force_sync: bool) -> Result<()> {
        #[cfg(any(test, feature = "fault-injection"))]
        crate::faults::check(crate::faults::Point::CommitWrite)?;
        let mut o = WriteOptions::default();
        o.set_sync(force_sync || self.table.settings.sync);
        if let Err(e) = self.table.db.write_opt(wb, &o) {
            self.state.poisoned = Some(e.to_string());
            return Err(e.into());
        }
        Ok(())
    }
}

/// Opens the index file `m` references, if any (footer checks only).
pub(crate) fn open_index(dir: &Path, m: &Manifest) -> Result<Option<Arc<Container>>> {
    m.index
        .as_ref()
        .map(|r| Container::open(&dir.join(r.file_name()), FileKind::Index).map(Arc::new))
        .transpose()
}

pub(crate) fn read_manifest(db: &DB, tid: u64) -> Result<Manifest> {
    let key = keys::manifest(tid);
    match db.get(&key)? {
        Some(b) => {
            let m: Manifest = serde_json::from_slice(&b).map_err(|e| StorageError::Json {
                key: format!("manifest of table {tid}"),
                source: e,
            })?;
            m.validate()
                .map_err(|r| StorageError::corrupt(format!("manifest of table {tid}"), r))?;
            Ok(m)
        }
        None => Err(StorageError::corrupt(
            format!("table {tid}"),
            "manifest missing",
        )),
    }
}

pub(crate) fn manifest_bytes(m: &Manifest) -> Vec<u8> {
    serde_json::to_vec(m).expect("manifest serializes")
}

pub(crate) fn read_deletes(db: &DB, tid: u64, seg: u64) -> Result<RoaringBitmap> {
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
