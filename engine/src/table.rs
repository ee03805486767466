//! A table handle: writes, maintenance (flush, compaction, re-learning the index) and the
//! cached learned model. Reads go through [`crate::Snapshot`].

use std::sync::{Arc, Mutex};

use arrow_array::RecordBatch;
use nestdb_storage::{TableSchema, TableStore, TableVersion, Writer};

use crate::encode::{Encoder, FitEncoder};
use crate::error::Result;
use crate::index::{IndexError, IndexModel};
use crate::options::{DatabaseOptions, TableOptions};
use crate::snapshot::Snapshot;

/// What a flush, compaction or ANALYZE did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Maintenance {
    /// Rows written into the new segment.
    pub rows: usize,
    /// Segments replaced (compaction).
    pub segments_replaced: usize,
    /// The index version in use afterwards, if any.
    pub index_version: Option<u64>,
    /// Whether a new index was fit.
    pub refit: bool,
}

/// A handle to a table. Cheap to clone; all clones share state.
#[derive(Clone)]
pub struct Table {
    pub(crate) inner: Arc<TableInner>,
}

pub(crate) struct TableInner {
    pub(crate) store: Arc<TableStore>,
    pub(crate) db: DatabaseOptions,
    pub(crate) options: TableOptions,
    model: Mutex<Option<Arc<IndexModel>>>,
    /// Recently evaluated filters: (version, filter) -> rows. Versions are immutable, so an
    /// entry never goes stale; holding the version's `Arc` keeps the key unique.
    selections: Mutex<Vec<CachedSelection>>,
}

/// A cached filter evaluation: the version, the filter, and the rows it selects.
type CachedSelection = (
    Arc<TableVersion>,
    crate::filter::Filter,
    Arc<crate::search::Selection>,
);

/// When compaction fits a new index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Refit {
    /// When there is none and the table is large enough, or the data has drifted.
    IfNeeded,
    /// Always (ANALYZE).
    Always,
}

impl Table {
    pub(crate) fn new(store: Arc<TableStore>, db: DatabaseOptions) -> Table {
        let options = TableOptions::from_map(&store.def().options);
        Table {
            inner: Arc::new(TableInner {
                store,
                db,
                options,
                model: Mutex::new(None),
                selections: Mutex::new(Vec::new()),
            }),
        }
    }

    /// The table's name.
    pub fn name(&self) -> &str {
        &self.inner.store.def().name
    }

    /// The table's schema.
    pub fn schema(&self) -> &TableSchema {
        &self.inner.store.def().schema
    }

    /// The table's options.
    pub fn options(&self) -> &TableOptions {
        &self.inner.options
    }

    /// A consistent read view of the current version; it never changes, whatever writers do.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot::new(self.clone(), self.inner.store.snapshot())
    }

    /// Live rows in the current version.
    pub fn count(&self) -> usize {
        self.inner.store.snapshot().count()
    }

    /// Starts a vector search on the current version (see [`crate::Search`]).
    pub fn search(&self, query: &[f32]) -> crate::Search {
        self.snapshot().search(query)
    }

    /// Inserts rows (durable and visible when this returns). Fails, changing nothing, on any
    /// invalid row or on an id that already exists. Returns the rows inserted.
    pub fn insert(&self, batch: &RecordBatch) -> Result<usize> {
        let mut w = self.inner.store.writer()?;
        let n = w.insert(batch)?;
        self.after_write(&mut w)?;
        Ok(n)
    }

    /// Inserts rows, replacing any row with the same id. Returns the rows written.
    pub fn upsert(&self, batch: &RecordBatch) -> Result<usize> {
        let mut w = self.inner.store.writer()?;
        let n = w.upsert(batch)?;
        self.after_write(&mut w)?;
        Ok(n)
    }

    /// Deletes rows by id; ids that do not exist are ignored. Returns the rows deleted.
    pub fn delete(&self, ids: &[i64]) -> Result<usize> {
        let mut w = self.inner.store.writer()?;
        Ok(w.delete(ids)?)
    }

    /// Writes unflushed rows into a new segment.
    pub fn flush(&self) -> Result<Maintenance> {
        let mut w = self.inner.store.writer()?;
        self.flush_locked(&mut w)
    }

    /// Merges every segment and unflushed row into one segment, dropping deleted rows. Fits a
    /// learned index if the table has none and is large enough, or re-fits it when the data
    /// has drifted (the row count doubled or halved since the fit).
    pub fn compact(&self) -> Result<Maintenance> {
        let mut w = self.inner.store.writer()?;
        self.compact_locked(&mut w, Refit::IfNeeded)
    }

    /// Re-learns the index from the current rows (and compacts). Tables below `min_rows` are
    /// compacted and stay unindexed: they are searched exactly.
    pub fn analyze(&self) -> Result<Maintenance> {
        let mut w = self.inner.store.writer()?;
        self.compact_locked(&mut w, Refit::Always)
    }

    /// Runs a bulk load (see `nestdb_storage::bulk`) under this table's writer lock, commits
    /// it, then fits or re-fits the index when the table needs one.
    pub(crate) fn bulk<R>(
        &self,
        segment_rows: usize,
        f: impl FnOnce(&mut nestdb_storage::BulkLoad<'_, '_>) -> Result<R>,
    ) -> Result<R> {
        let mut w = self.inner.store.writer()?;
        let enc = Encoder::new(self.schema(), self.model_for(&w.snapshot())?);
        let r = {
            let mut bulk = w.bulk_load(&enc, segment_rows);
            let r = f(&mut bulk)?;
            bulk.commit()?;
            r
        };
        self.after_load(&mut w)?;
        Ok(r)
    }

    /// Two bulk loads committed in one write batch (both tables change, or neither).
    pub(crate) fn bulk_pair<R>(
        a: &Table,
        b: &Table,
        segment_rows: usize,
        f: impl FnOnce(
            &mut nestdb_storage::BulkLoad<'_, '_>,
            &mut nestdb_storage::BulkLoad<'_, '_>,
        ) -> Result<R>,
    ) -> Result<R> {
        // lock in table-id order so two loads can never wait on each other
        let a_first = a.inner.store.def().id < b.inner.store.def().id;
        let (mut wa, mut wb) = if a_first {
            let wa = a.inner.store.writer()?;
            (wa, b.inner.store.writer()?)
        } else {
            let wb = b.inner.store.writer()?;
            (a.inner.store.writer()?, wb)
        };
        let ea = Encoder::new(a.schema(), a.model_for(&wa.snapshot())?);
        let eb = Encoder::new(b.schema(), b.model_for(&wb.snapshot())?);
        let r = {
            let mut la = wa.bulk_load(&ea, segment_rows);
            let mut lb = wb.bulk_load(&eb, segment_rows);
            let r = f(&mut la, &mut lb)?;
            let mut batch = nestdb_storage::WriteBatch::default();
            la.stage(&mut batch)?;
            lb.stage(&mut batch)?;
            la.write_batch(batch)?;
            la.publish();
            lb.publish();
            r
        };
        a.after_load(&mut wa)?;
        b.after_load(&mut wb)?;
        Ok(r)
    }

    fn after_load(&self, w: &mut Writer<'_>) -> Result<()> {
        let v = w.snapshot();
        let drifted = v
            .manifest
            .index
            .as_ref()
            .is_some_and(|r| v.count() as u64 >= 2 * r.fit_rows);
        let unindexed =
            v.manifest.index.is_none() && v.count() >= self.inner.options.index.min_rows;
        if self.inner.db.auto_index && (drifted || unindexed) {
            self.compact_locked(w, Refit::IfNeeded)?;
        }
        Ok(())
    }

    /// The rows of version `v` that `f` keeps, from a small cache of recent (version, filter)
    /// pairs: applications repeat filters, and evaluating one touches every segment.
    pub(crate) fn selection_for(
        &self,
        v: &Arc<TableVersion>,
        f: &crate::filter::Filter,
    ) -> Result<Arc<crate::search::Selection>> {
        const KEEP: usize = 8;
        let lock = || {
            self.inner
                .selections
                .lock()
                .unwrap_or_else(|e| e.into_inner())
        };
        {
            let mut cache = lock();
            if let Some(pos) = cache
                .iter()
                .position(|(ver, filt, _)| Arc::ptr_eq(ver, v) && filt == f)
            {
                let hit = cache.remove(pos);
                let sel = hit.2.clone();
                cache.insert(0, hit);
                return Ok(sel);
            }
        }
        let sel = Arc::new(f.selection(v)?);
        let mut cache = lock();
        cache.insert(0, (v.clone(), f.clone(), sel.clone()));
        cache.truncate(KEEP);
        Ok(sel)
    }

    /// The learned model a version uses (loaded once and cached).
    pub(crate) fn model_for(&self, v: &TableVersion) -> Result<Option<Arc<IndexModel>>> {
        let Some(r) = &v.manifest.index else {
            return Ok(None);
        };
        let mut cache = self.inner.model.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(m) = cache.as_ref().filter(|m| m.version == r.version) {
            return Ok(Some(m.clone()));
        }
        let file = v.index.as_ref().ok_or_else(|| {
            nestdb_storage::StorageError::corrupt(
                format!("table {}", self.name()),
                "index file not open",
            )
        })?;
        let m = Arc::new(IndexModel::from_container(file)?);
        *cache = Some(m.clone());
        Ok(Some(m))
    }

    fn after_write(&self, w: &mut Writer<'_>) -> Result<()> {
        if w.snapshot().mem.live_rows() >= self.inner.db.auto_flush_rows {
            self.flush_locked(w)?;
        }
        Ok(())
    }

    fn flush_locked(&self, w: &mut Writer<'_>) -> Result<Maintenance> {
        let v = w.snapshot();
        let model = self.model_for(&v)?;
        let info = w.flush(&Encoder::new(self.schema(), model))?;
        let after = w.snapshot();
        if self.inner.db.auto_index
            && after.manifest.index.is_none()
            && after.count() >= self.inner.options.index.min_rows
        {
            return self.compact_locked(w, Refit::IfNeeded);
        }
        Ok(Maintenance {
            rows: info.rows,
            segments_replaced: 0,
            index_version: after.manifest.index.as_ref().map(|r| r.version),
            refit: false,
        })
    }

    fn compact_locked(&self, w: &mut Writer<'_>, refit: Refit) -> Result<Maintenance> {
        let v = w.snapshot();
        let rows = v.count();
        let opts = &self.inner.options.index;
        let fit = rows >= opts.min_rows.max(opts.k + 2)
            && match (&v.manifest.index, refit) {
                (_, Refit::Always) | (None, _) => true,
                (Some(r), Refit::IfNeeded) => {
                    rows as u64 >= 2 * r.fit_rows || (rows as u64) * 2 <= r.fit_rows
                }
            };
        let info = if fit {
            let enc = FitEncoder::new(self.schema(), opts.clone());
            let info = w.compact(&enc).map_err(unwrap_index_error)?;
            if let Some(m) = enc.fitted() {
                *self.inner.model.lock().unwrap_or_else(|e| e.into_inner()) = Some(m);
            }
            info
        } else {
            let model = self.model_for(&v)?;
            w.compact(&Encoder::new(self.schema(), model))?
        };
        let after = w.snapshot();
        Ok(Maintenance {
            rows: info.rows,
            segments_replaced: info.replaced,
            index_version: after.manifest.index.as_ref().map(|r| r.version),
            refit: fit && info.segment.is_some(),
        })
    }
}

/// Surfaces an index-fitting failure as [`crate::Error::Index`] rather than a storage error.
fn unwrap_index_error(e: nestdb_storage::StorageError) -> crate::Error {
    match e {
        nestdb_storage::StorageError::Encode(inner) => match inner.downcast::<IndexError>() {
            Ok(ix) => crate::Error::Index(*ix),
            Err(other) => crate::Error::Storage(nestdb_storage::StorageError::Encode(other)),
        },
        other => crate::Error::Storage(other),
    }
}
