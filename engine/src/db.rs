//! The database: a directory, its catalog and its tables.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use nestdb_storage::{Store, TableSchema, WriteSettings};

use crate::error::Result;
use crate::options::{DatabaseOptions, TableOptions};
use crate::table::Table;

/// Facts about a table (DESCRIBE).
#[derive(Clone, Debug)]
pub struct TableInfo {
    /// Name.
    pub name: String,
    /// Schema.
    pub schema: TableSchema,
    /// Options.
    pub options: TableOptions,
    /// Live rows.
    pub rows: usize,
    /// Rows not yet flushed into a segment.
    pub unflushed: usize,
    /// Segments.
    pub segments: usize,
    /// Bytes of segment files.
    pub bytes: u64,
    /// Manifest version.
    pub version: u64,
    /// The learned index, if fit: version, partitions, rotated, reason.
    pub index: Option<IndexInfo>,
}

/// Facts about a table's learned index.
#[derive(Clone, Debug)]
pub struct IndexInfo {
    /// Model version.
    pub version: u64,
    /// Partitions.
    pub partitions: usize,
    /// Whether a rotation is applied, and why.
    pub rotation: String,
    /// Coarse prefix dimensions.
    pub coarse_dims: usize,
    /// Rows it was fit on.
    pub fit_rows: usize,
}

/// Builds a [`Database`] with non-default [`DatabaseOptions`].
#[derive(Clone, Debug, Default)]
pub struct DatabaseBuilder {
    options: DatabaseOptions,
}

impl DatabaseBuilder {
    /// fsync every write (default true).
    pub fn sync(mut self, sync: bool) -> Self {
        self.options.sync = sync;
        self
    }

    /// Flush threshold in rows (default 20,000).
    pub fn auto_flush_rows(mut self, rows: usize) -> Self {
        self.options.auto_flush_rows = rows.max(1);
        self
    }

    /// Fit indexes automatically (default true).
    pub fn auto_index(mut self, on: bool) -> Self {
        self.options.auto_index = on;
        self
    }

    /// Fraction of searches whose recall is measured live in the background (default 0: off).
    pub fn recall_sample_rate(mut self, rate: f64) -> Self {
        self.options.recall_sample_rate = rate.clamp(0.0, 1.0);
        self
    }

    /// Share of one core the live recall monitor may use (default 0.05).
    pub fn recall_cpu_budget(mut self, share: f64) -> Self {
        self.options.recall_cpu_budget = share.clamp(0.001, 1.0);
        self
    }

    /// Opens (creating if needed) the database in directory `path`.
    pub fn open(self, path: impl AsRef<Path>) -> Result<Database> {
        let store = Store::open(
            path.as_ref(),
            WriteSettings {
                sync: self.options.sync,
            },
        )?;
        Ok(Database {
            inner: Arc::new(DbInner {
                store,
                options: self.options,
                path: path.as_ref().to_path_buf(),
                tables: Mutex::new(HashMap::new()),
                models: crate::model::ModelRegistry::new(),
            }),
        })
    }
}

/// An open database. Cheap to clone; clones share state. One process opens a directory at a
/// time (RocksDB's lock); many threads may use it at once.
#[derive(Clone)]
pub struct Database {
    pub(crate) inner: Arc<DbInner>,
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database")
            .field("path", &self.inner.path)
            .finish()
    }
}

pub(crate) struct DbInner {
    pub(crate) store: Store,
    pub(crate) options: DatabaseOptions,
    path: PathBuf,
    tables: Mutex<HashMap<String, Table>>,
    pub(crate) models: crate::model::ModelRegistry,
}

impl Database {
    /// Opens (creating if needed) the database in directory `path` with default options.
    pub fn open(path: impl AsRef<Path>) -> Result<Database> {
        DatabaseBuilder::default().open(path)
    }

    /// A builder for non-default options.
    pub fn builder() -> DatabaseBuilder {
        DatabaseBuilder::default()
    }

    /// The database directory.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The options it was opened with.
    pub fn options(&self) -> &DatabaseOptions {
        &self.inner.options
    }

    /// Creates a table with default options.
    pub fn create_table(&self, name: &str, schema: TableSchema) -> Result<Table> {
        self.create_table_with(name, schema, TableOptions::default())
    }

    /// Creates a table with `options`.
    pub fn create_table_with(
        &self,
        name: &str,
        schema: TableSchema,
        options: TableOptions,
    ) -> Result<Table> {
        crate::options::check_recall_target(options.recall_target)?;
        let store = self
            .inner
            .store
            .create_table(name, schema, options.to_map())?;
        let t = Table::new(store, self.inner.options.clone())?;
        self.tables().insert(name.into(), t.clone());
        Ok(t)
    }

    /// Opens table `name`.
    pub fn table(&self, name: &str) -> Result<Table> {
        if let Some(t) = self.tables().get(name) {
            if !t.inner.store.is_dropped() {
                return Ok(t.clone());
            }
        }
        let t = Table::new(self.inner.store.table(name)?, self.inner.options.clone())?;
        // Load (and verify) the learned index now, so a damaged file is reported at open.
        t.model_for(&t.inner.store.snapshot())?;
        self.tables().insert(name.into(), t.clone());
        Ok(t)
    }

    /// Drops table `name` and its files.
    pub fn drop_table(&self, name: &str) -> Result<()> {
        self.inner.store.drop_table(name)?;
        self.tables().remove(name);
        Ok(())
    }

    /// Names of all tables, sorted.
    pub fn list_tables(&self) -> Result<Vec<String>> {
        Ok(self
            .inner
            .store
            .list_tables()?
            .into_iter()
            .map(|d| d.name)
            .collect())
    }

    /// Describes table `name`.
    pub fn describe(&self, name: &str) -> Result<TableInfo> {
        let t = self.table(name)?;
        let v = t.inner.store.snapshot();
        let model = t.model_for(&v)?;
        Ok(TableInfo {
            name: name.into(),
            schema: v.def.schema.clone(),
            options: t.options().clone(),
            rows: v.count(),
            unflushed: v.mem.live_rows(),
            segments: v.segments.len(),
            bytes: v.segments.iter().map(|s| s.bytes()).sum(),
            version: v.manifest.version,
            index: model.map(|m| IndexInfo {
                version: m.version,
                partitions: m.meta.partitions,
                rotation: m.meta.rotation_reason.clone(),
                coarse_dims: m.meta.coarse_dims,
                fit_rows: m.meta.fit_rows,
            }),
        })
    }

    /// Checks every table's files and indexes; returns the problems found (empty: healthy).
    pub fn check(&self) -> Result<Vec<String>> {
        Ok(self.inner.store.check()?)
    }

    fn tables(&self) -> std::sync::MutexGuard<'_, HashMap<String, Table>> {
        self.inner.tables.lock().unwrap_or_else(|e| e.into_inner())
    }
}
