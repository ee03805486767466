//! A database directory: the RocksDB catalog and one folder of segment files per table.
//!
//! ```text
//! <db>/catalog/            RocksDB (catalog, manifests, write-ahead rows, deletes, id index)
//! <db>/data/<table id>/    seg-<id>.parquet, seg-<id>.vec, index-<version>.nidx
//! ```

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rocksdb::{WriteBatch, WriteOptions, DB};

use crate::error::{Result, StorageError};
use crate::fsutil;
use crate::keys;
use crate::manifest::{Manifest, TableDef};
use crate::schema::TableSchema;
use crate::table::{manifest_bytes, read_manifest, TableStore, WriteSettings};

/// Catalog format version this build writes and reads.
pub const CATALOG_VERSION: u32 = 2;

/// Why a catalog operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CatalogError {
    /// `CREATE TABLE` of a name in use.
    #[error("table \"{0}\" already exists")]
    TableExists(String),
    /// No table by that name.
    #[error("table \"{0}\" does not exist")]
    NoSuchTable(String),
    /// The name is not a valid identifier.
    #[error("invalid name \"{0}\": use letters, digits and '_', starting with a letter or '_' (at most 128 characters)")]
    InvalidName(String),
    /// Storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl From<rocksdb::Error> for CatalogError {
    fn from(e: rocksdb::Error) -> Self {
        CatalogError::Storage(e.into())
    }
}

/// RocksDB's lock error, said plainly: another process has the database open.
fn lock_error(root: &Path, e: rocksdb::Error) -> StorageError {
    let msg = e.to_string();
    if msg.contains("LOCK")
        && (msg.contains("lock") || msg.contains("Resource temporarily unavailable"))
    {
        return StorageError::Locked {
            path: root.to_path_buf(),
            pid: lock_holder(&root.join("catalog").join("LOCK")),
        };
    }
    e.into()
}

/// The process holding a lock on `file`, read from `/proc/locks` (by inode). The file itself
/// is never opened: closing a descriptor of it would drop this process's own fcntl lock.
fn lock_holder(file: &Path) -> Option<u32> {
    use std::os::unix::fs::MetadataExt;
    let ino = std::fs::metadata(file).ok()?.ino();
    let locks = std::fs::read_to_string("/proc/locks").ok()?;
    holder_of(&locks, ino)
}

/// The pid of the first lock on inode `ino` in the text of `/proc/locks`
/// (`1: POSIX  ADVISORY  WRITE 1234 fd:01:5678 0 EOF`).
fn holder_of(locks: &str, ino: u64) -> Option<u32> {
    locks.lines().find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        let dev_ino = f
            .iter()
            .position(|w| w.matches(':').count() == 2 && !w.ends_with(':'))?;
        let file_ino: u64 = f[dev_ino].rsplit(':').next()?.parse().ok()?;
        let pid: i64 = f.get(dev_ino.checked_sub(1)?)?.parse().ok()?;
        (file_ino == ino && pid > 0).then_some(pid as u32)
    })
}

/// Checks that `name` is an identifier.
pub fn valid_name(name: &str) -> bool {
    let mut c = name.chars();
    matches!(c.next(), Some(ch) if ch.is_ascii_alphabetic() || ch == '_')
        && c.all(|ch| ch.is_ascii_alphanumeric() || ch == '_')
        && name.len() <= 128
}

/// An open database directory.
pub struct Store {
    db: Arc<DB>,
    root: PathBuf,
    settings: WriteSettings,
    tables: Mutex<HashMap<String, Arc<TableStore>>>,
    ddl: Mutex<()>,
}

impl Store {
    /// Opens (creating if needed) the database in `root`, and removes files no manifest
    /// references (left by a crash during a flush or compaction).
    pub fn open(root: &Path, settings: WriteSettings) -> Result<Store> {
        fsutil::create_dir_durable(&root.join("data"))?;
        // RocksDB creates its folder without fsyncing the parent: a power cut could lose the
        // whole catalog of a new database
        fsutil::create_dir_durable(&root.join("catalog"))?;
        let mut opts = rocksdb::Options::default();
        opts.create_if_missing(true);
        opts.set_keep_log_file_num(4);
        opts.set_max_open_files(256);
        let db = DB::open(&opts, root.join("catalog")).map_err(|e| lock_error(root, e))?;
        match db.get(keys::FORMAT)? {
            None => db.put(keys::FORMAT, CATALOG_VERSION.to_le_bytes())?,
            Some(v) if v.as_slice() == CATALOG_VERSION.to_le_bytes() => {}
            Some(v) => {
                return Err(StorageError::UnsupportedVersion {
                    path: root.join("catalog"),
                    found: v
                        .get(..4)
                        .map_or(0, |b| u32::from_le_bytes(b.try_into().unwrap_or([0; 4]))),
                    supported: CATALOG_VERSION,
                })
            }
        }
        let store = Store {
            db: Arc::new(db),
            root: root.to_path_buf(),
            settings,
            tables: Mutex::new(HashMap::new()),
            ddl: Mutex::new(()),
        };
        store.remove_orphans()?;
        Ok(store)
    }

    /// The database directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn table_dir(&self, tid: u64) -> PathBuf {
        self.root.join("data").join(format!("{tid:016x}"))
    }

    /// Every table definition, by name.
    pub fn list_tables(&self) -> Result<Vec<TableDef>> {
        self.scan_json(keys::TABLE_PREFIX)
    }

    fn scan_json<T: serde::de::DeserializeOwned>(&self, prefix: &[u8]) -> Result<Vec<T>> {
        let mut ro = rocksdb::ReadOptions::default();
        ro.set_iterate_upper_bound(keys::prefix_end(prefix));
        let mut out = Vec::new();
        for item in self.db.iterator_opt(
            rocksdb::IteratorMode::From(prefix, rocksdb::Direction::Forward),
            ro,
        ) {
            let (k, v) = item?;
            out.push(serde_json::from_slice(&v).map_err(|e| StorageError::Json {
                key: String::from_utf8_lossy(&k).into_owned(),
                source: e,
            })?);
        }
        Ok(out)
    }

    /// Creates a table.
    pub fn create_table(
        &self,
        name: &str,
        schema: TableSchema,
        options: serde_json::Map<String, serde_json::Value>,
    ) -> Result<Arc<TableStore>, CatalogError> {
        if !valid_name(name) {
            return Err(CatalogError::InvalidName(name.into()));
        }
        let _ddl = self.ddl.lock().unwrap_or_else(|e| e.into_inner());
        if self.db.get(keys::table_def(name))?.is_some() {
            return Err(CatalogError::TableExists(name.into()));
        }
        let id = match self.db.get(keys::NEXT_TABLE_ID)? {
            Some(b) => u64::from_le_bytes(
                b.as_slice()
                    .try_into()
                    .map_err(|_| StorageError::corrupt("next table id", "not 8 bytes"))?,
            ),
            None => 1,
        };
        let def = TableDef {
            id,
            name: name.into(),
            schema,
            options,
        };
        fsutil::create_dir_durable(&self.table_dir(id))?;
        let mut wb = WriteBatch::default();
        wb.put(
            keys::table_def(name),
            serde_json::to_vec(&def).expect("def serializes"),
        );
        wb.put(keys::NEXT_TABLE_ID, (id + 1).to_le_bytes());
        wb.put(keys::manifest(id), manifest_bytes(&Manifest::default()));
        self.write_synced(wb)?;
        let t = Arc::new(TableStore::open(
            self.db.clone(),
            self.table_dir(id),
            def,
            self.settings,
        )?);
        self.tables_map().insert(name.into(), t.clone());
        Ok(t)
    }

    /// Opens table `name` (cached after the first call).
    pub fn table(&self, name: &str) -> Result<Arc<TableStore>, CatalogError> {
        if let Some(t) = self.tables_map().get(name) {
            return Ok(t.clone());
        }
        let def: TableDef = match self.db.get(keys::table_def(name))? {
            Some(b) => serde_json::from_slice(&b).map_err(|e| StorageError::Json {
                key: format!("table {name}"),
                source: e,
            })?,
            None => return Err(CatalogError::NoSuchTable(name.into())),
        };
        let t = Arc::new(TableStore::open(
            self.db.clone(),
            self.table_dir(def.id),
            def,
            self.settings,
        )?);
        Ok(self.tables_map().entry(name.into()).or_insert(t).clone())
    }

    /// Drops table `name` and deletes its files. Open handles fail from then on.
    pub fn drop_table(&self, name: &str) -> Result<(), CatalogError> {
        let _ddl = self.ddl.lock().unwrap_or_else(|e| e.into_inner());
        let t = self.table(name)?;
        let w = t.writer()?;
        let tid = t.def().id;
        let mut wb = WriteBatch::default();
        wb.delete(keys::table_def(name));
        let p = keys::table_prefix(tid);
        wb.delete_range(&p, &keys::prefix_end(&p));
        self.write_synced(wb)?;
        // set while the writer lock is held: a write queued behind the drop sees it when it
        // gets the lock and fails instead of committing under the dropped table's keys
        t.dropped.store(true, std::sync::atomic::Ordering::SeqCst);
        drop(w);
        self.tables_map().remove(name);
        let dir = self.table_dir(tid);
        let _ = std::fs::remove_dir_all(&dir);
        Ok(())
    }

    /// Stores an engine-defined catalog object (a model definition).
    pub fn put_model(&self, name: &str, def: &serde_json::Value) -> Result<()> {
        let mut wb = WriteBatch::default();
        wb.put(
            keys::model_def(name),
            serde_json::to_vec(def).expect("json serializes"),
        );
        self.write_synced(wb)
    }

    /// Reads a model definition.
    pub fn get_model(&self, name: &str) -> Result<Option<serde_json::Value>> {
        match self.db.get(keys::model_def(name))? {
            Some(b) => Ok(Some(serde_json::from_slice(&b).map_err(|e| {
                StorageError::Json {
                    key: format!("model {name}"),
                    source: e,
                }
            })?)),
            None => Ok(None),
        }
    }

    /// Removes a model definition; returns whether it existed.
    pub fn drop_model(&self, name: &str) -> Result<bool> {
        let existed = self.db.get(keys::model_def(name))?.is_some();
        let mut wb = WriteBatch::default();
        wb.delete(keys::model_def(name));
        self.write_synced(wb)?;
        Ok(existed)
    }

    /// Every model definition.
    pub fn list_models(&self) -> Result<Vec<serde_json::Value>> {
        self.scan_json(keys::MODEL_PREFIX)
    }

    fn write_synced(&self, wb: WriteBatch) -> Result<()> {
        let mut o = WriteOptions::default();
        o.set_sync(true);
        self.db.write_opt(wb, &o)?;
        Ok(())
    }

    fn tables_map(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<TableStore>>> {
        self.tables.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Removes files and table folders that no manifest references.
    fn remove_orphans(&self) -> Result<()> {
        let mut live: HashMap<String, Manifest> = HashMap::new();
        for def in self.list_tables()? {
            live.insert(format!("{:016x}", def.id), read_manifest(&self.db, def.id)?);
        }
        let data = self.root.join("data");
        for entry in std::fs::read_dir(&data).map_err(|e| StorageError::io(&data, e))? {
            let entry = entry.map_err(|e| StorageError::io(&data, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(m) = live.get(&name) else {
                let _ = std::fs::remove_dir_all(entry.path());
                continue;
            };
            let keep = m.files();
            let dir = entry.path();
            for f in std::fs::read_dir(&dir).map_err(|e| StorageError::io(&dir, e))? {
                let f = f.map_err(|e| StorageError::io(&dir, e))?;
                if !keep.contains(&f.file_name().to_string_lossy().into_owned()) {
                    fsutil::remove_if_exists(&f.path())?;
                }
            }
        }
        Ok(())
    }

    /// Runs the integrity check over every table (see [`crate::check`]).
    pub fn check(&self) -> Result<Vec<String>> {
        let mut problems = Vec::new();
        for def in self.list_tables()? {
            let t = self.table(&def.name).map_err(|e| match e {
                CatalogError::Storage(s) => s,
                other => StorageError::corrupt(format!("table {}", def.name), other.to_string()),
            })?;
            problems.extend(crate::check::check_table(&self.db, &t)?);
        }
        Ok(problems)
    }
}

#[cfg(test)]
mod lock_tests {
    use super::*;

    #[test]
    fn holder_of_reads_proc_locks_lines() {
        let text = "1: POSIX  ADVISORY  WRITE 4242 fd:01:777 0 EOF\n\
                    2: -> POSIX  ADVISORY  WRITE 99 fd:01:778 0 EOF\n\
                    3: OFDLCK ADVISORY  READ  -1 fd:01:779 0 EOF\n";
        assert_eq!(holder_of(text, 777), Some(4242));
        assert_eq!(holder_of(text, 778), Some(99));
        assert_eq!(holder_of(text, 779), None);
        assert_eq!(holder_of(text, 1), None);
    }

    /// Defect: explaining a failed open read the lock's holder by opening and closing the
    /// LOCK file, which drops this process's own fcntl lock on it, so a second open in the same
    /// process unlocked the database for every other process.
    #[test]
    fn a_refused_second_open_keeps_the_first_open_s_lock() {
        let dir = tempfile::tempdir().expect("temp dir");
        let settings = WriteSettings { sync: false };
        let _first = Store::open(dir.path(), settings).expect("first open");
        let err = Store::open(dir.path(), settings)
            .err()
            .expect("second open is refused");
        let msg = err.to_string();
        assert!(msg.contains("is in use by another process"), "{msg}");
        let lock = dir.path().join("catalog").join("LOCK");
        assert_eq!(
            lock_holder(&lock),
            Some(std::process::id()),
            "the first open lost its lock"
        );
    }

    /// Defect: a write that queued behind DROP TABLE checked `dropped` before taking the
    /// writer lock, then committed under the dropped table's keys and returned Ok.
    #[test]
    fn write_queued_behind_drop_table_fails() {
        use crate::schema::{Column, ColumnType, Metric, TableSchema};
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open(dir.path(), WriteSettings { sync: false }).expect("open");
        let cols = vec![
            Column {
                name: "id".into(),
                ty: ColumnType::Int64,
            },
            Column {
                name: "v".into(),
                ty: ColumnType::Vector { dim: 4 },
            },
        ];
        for round in 0..30 {
            let name = format!("t{round}");
            let schema = TableSchema::new(cols.clone(), "id", None, Metric::L2).expect("schema");
            let t = store
                .create_table(&name, schema, Default::default())
                .expect("create");
            let held = t.writer().expect("writer");
            std::thread::scope(|s| {
                let queued = s.spawn(|| match t.writer() {
                    // holding the lock: the drop cannot have happened
                    Ok(_w) => assert!(!t.is_dropped(), "a writer got the lock of a dropped table"),
                    Err(e) => assert!(matches!(e, StorageError::Dropped(_)), "{e}"),
                });
                let dropper = s.spawn(|| store.drop_table(&name).expect("drop"));
                std::thread::sleep(std::time::Duration::from_millis(5));
                drop(held);
                dropper.join().expect("drop thread");
                queued.join().expect("queued writer");
            });
            let p = keys::table_prefix(t.def().id);
            let mut left = store.db.prefix_iterator(&p).filter_map(|kv| kv.ok());
            assert!(
                left.all(|(k, _)| !k.starts_with(&p)),
                "the dropped table's keys remain"
            );
        }
    }
}
