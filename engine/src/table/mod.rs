//! The table API: a table handle with its writes, maintenance (flush, compaction, re-learning
//! the index), the cached learned model and filter selections, and the live recall monitor;
//! reads go through a [`crate::Snapshot`] (`snapshot.rs`) of one version, and searches through
//! the [`crate::Search`] builder (`query.rs`). A handle makes snapshots and a snapshot keeps its
//! handle, so the three live in one folder: no arrow leaves it upward.

#[cfg(feature = "load")]
mod bulk;
mod maintain;
pub(crate) mod query;
mod recall;
mod selections;
pub(crate) mod snapshot;
mod tuning;

use std::sync::{Arc, Mutex};

use arrow_array::RecordBatch;
use nestdb_storage::{TableSchema, TableStore, TableVersion, Writer};

use crate::error::Result;
use crate::filter::Filter;
use crate::index::IndexModel;
use crate::options::{DatabaseOptions, TableOptions};
use crate::search::explain::Explain;
use crate::topk::Cand;
use snapshot::Snapshot;

#[cfg(feature = "load")]
pub use bulk::BulkSink;
pub use maintain::Maintenance;
pub use recall::{RecallReport, RecallRow};
pub use selections::CachedSelection;
pub use tuning::{MAX_TUNING_QUERIES, MIN_TUNING_QUERIES};

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
    selections: selections::SelectionCache,
    /// The last maintenance failure (a flush, compaction or index fit after a committed write);
    /// cleared when maintenance next succeeds.
    maintenance_error: Mutex<Option<String>>,
    recall: recall::Monitor,
    /// Tuning queries set since open (`tuning.rs`); `None`: those of the current index.
    tuning_queries: Mutex<Option<Arc<Vec<f32>>>>,
}

impl Table {
    pub(crate) fn new(store: Arc<TableStore>, db: DatabaseOptions) -> Result<Table> {
        let options = TableOptions::from_map(&store.def().name, &store.def().options)?;
        let recall = recall::Monitor::new(db.recall_sample_rate, db.recall_cpu_budget);
        Ok(Table {
            inner: Arc::new(TableInner {
                store,
                db,
                options,
                model: Mutex::new(None),
                selections: selections::SelectionCache::default(),
                maintenance_error: Mutex::new(None),
                recall,
                tuning_queries: Mutex::new(None),
            }),
        })
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
    /// invalid row or on an id that already exists. Returns the rows inserted. Maintenance the
    /// insert triggers (a flush, an index fit) never fails the insert: see
    /// [`Table::maintenance_error`].
    pub fn insert(&self, batch: &RecordBatch) -> Result<usize> {
        let mut w = self.inner.store.writer()?;
        let n = w.insert(batch)?;
        self.after_write(&mut w);
        Ok(n)
    }

    /// Inserts rows, replacing any row with the same id. Returns the rows written.
    pub fn upsert(&self, batch: &RecordBatch) -> Result<usize> {
        let mut w = self.inner.store.writer()?;
        let n = w.upsert(batch)?;
        self.after_write(&mut w);
        Ok(n)
    }

    /// Deletes rows by id; ids that do not exist are ignored. Returns the rows deleted.
    pub fn delete(&self, ids: &[i64]) -> Result<usize> {
        let mut w = self.inner.store.writer()?;
        Ok(w.delete(ids)?)
    }

    /// The last failure of maintenance that followed a committed write (the write itself
    /// succeeded; the maintenance is retried by the next write, flush or compaction).
    pub fn maintenance_error(&self) -> Option<String> {
        self.inner
            .maintenance_error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn record_maintenance(&self, r: Result<Maintenance>) {
        let mut slot = self
            .inner
            .maintenance_error
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        *slot = r.err().map(|e| e.to_string());
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
        let schema = self.schema();
        let m = Arc::new(IndexModel::from_container(
            file,
            schema.dim(),
            schema.metric(),
        )?);
        *cache = Some(m.clone());
        Ok(Some(m))
    }

    fn set_model(&self, m: Arc<IndexModel>) {
        *self.inner.model.lock().unwrap_or_else(|e| e.into_inner()) = Some(m);
        self.inner.recall.reset();
    }

    /// The rows of version `v` that `f` keeps, from a small cache of recent (version, filter)
    /// pairs (see [`selections`]); on a first sighting `in_stage` may take the filter instead.
    pub(crate) fn selection_for<P>(
        &self,
        v: &Arc<TableVersion>,
        f: &Filter,
        in_stage: impl FnOnce() -> Result<Option<P>>,
    ) -> Result<selections::Got<P>> {
        self.inner.selections.get(v, f, in_stage)
    }

    /// The rows of version `v` that `f` keeps, cached; also whether they were in the cache.
    pub(crate) fn selection_of(
        &self,
        v: &Arc<TableVersion>,
        f: &Filter,
    ) -> Result<(Arc<CachedSelection>, bool)> {
        self.inner.selections.selection(v, f)
    }

    /// Offers a finished search to the live recall monitor (sampled; never blocks).
    pub(crate) fn observe(
        &self,
        v: &Arc<TableVersion>,
        query: &[f32],
        filter: Option<&Filter>,
        k: usize,
        e: &Explain,
        hits: &[Cand],
    ) {
        self.inner
            .recall
            .observe(self, v, query, filter, k, e, hits);
    }

    /// Live recall measured on a sample of this table's searches (`SHOW RECALL`).
    pub fn recall_report(&self) -> RecallReport {
        self.inner.recall.report(self)
    }

    /// The recall target the planner should use for a promised `target` (raised when the live
    /// monitor found the promise broken; see `docs/recall.md`).
    pub(crate) fn effective_target(&self, target: f32) -> f32 {
        self.inner.recall.effective_target(target)
    }

    /// Sets the fraction of searches the live recall monitor samples (0 turns it off).
    pub fn set_recall_sampling(&self, rate: f64) {
        self.inner.recall.set_rate(rate);
    }

    fn writer(&self) -> Result<Writer<'_>> {
        Ok(self.inner.store.writer()?)
    }
}
