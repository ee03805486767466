//! Maintenance: flush, compaction, ANALYZE (re-learning the index), and the policy that runs
//! them after writes.
//!
//! Policy (documented in docs/format.md):
//! - unflushed rows are flushed into a segment once `auto_flush_rows` accumulate;
//! - with `auto_index`, an index is fit once a table reaches its `min_rows`, and re-fit when
//!   the table has doubled or halved since the fit; appends in between are encoded under the
//!   current index (its schedules scale their shortlists with the row count);
//! - segments are merged (compaction, under the current index) once there are more than
//!   [`MAX_SEGMENTS`]; with `auto_index` on, a merge of a table without an index that has
//!   reached `min_rows` fits one, with it off an automatic merge never fits (the explicit
//!   [`Table::compact`] and [`Table::analyze`] still fit as they document).
//!
//! Maintenance after a write runs under the writer lock but never fails the write: a failure
//! is recorded ([`super::Table::maintenance_error`]) and retried by the next write. Readers are
//! never blocked: they keep the version they started with until the new one is published.

use std::sync::Arc;

use nestdb_storage::{Commit, Flushed, Segment, SegmentMeta, TableVersion, Writer};

use super::Table;
use crate::encode;
use crate::error::Result;
use crate::index::fit;
use crate::index::TuningInfo;
use crate::search::tune::{self, TuneParams};
use crate::search::view::SegView;

/// Segments beyond which maintenance merges them.
pub const MAX_SEGMENTS: usize = 8;

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

/// When compaction fits a new index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Refit {
    /// When there is none and the table is large enough, or the data has drifted.
    IfNeeded,
    /// Always (ANALYZE).
    Always,
    /// Never: merge under the current index, if any (automatic merges with automatic
    /// indexing off).
    Never,
}

impl Table {
    /// Writes unflushed rows into a new segment.
    pub fn flush(&self) -> Result<Maintenance> {
        let mut w = self.writer()?;
        let m = self.flush_locked(&mut w)?;
        self.record_maintenance(Ok(m.clone()));
        Ok(m)
    }

    /// Merges every segment and unflushed row into one segment, dropping deleted rows. Fits a
    /// learned index if the table has none and is large enough, or re-fits it when the data
    /// has drifted (the row count doubled or halved since the fit).
    pub fn compact(&self) -> Result<Maintenance> {
        let mut w = self.writer()?;
        self.compact_locked(&mut w, Refit::IfNeeded)
    }

    /// Re-learns the index from a sample of the current rows and rewrites every row under it
    /// (out of core). Tables below `min_rows` are compacted and stay unindexed: they are
    /// searched exactly.
    pub fn analyze(&self) -> Result<Maintenance> {
        let mut w = self.writer()?;
        self.compact_locked(&mut w, Refit::Always)
    }

    pub(super) fn after_write(&self, w: &mut Writer<'_>) {
        if w.snapshot().mem.live_rows() >= self.inner.db.auto_flush_rows
            || self.maintenance_error().is_some()
        {
            let r = self.flush_locked(w).and_then(|_| self.auto_maintain(w));
            self.record_maintenance(r);
        }
    }

    #[cfg(feature = "load")]
    pub(super) fn after_load(&self, w: &mut Writer<'_>) {
        let r = self.auto_maintain(w);
        self.record_maintenance(r);
    }

    /// Fits, re-fits or merges when the policy says so.
    fn auto_maintain(&self, w: &mut Writer<'_>) -> Result<Maintenance> {
        let v = w.snapshot();
        let rows = v.count() as u64;
        let opts = &self.inner.options.index;
        let drifted = v
            .manifest
            .index
            .as_ref()
            .is_some_and(|r| rows >= 2 * r.fit_rows || rows * 2 <= r.fit_rows);
        let unindexed = v.manifest.index.is_none() && rows as usize >= opts.min_rows;
        if self.inner.db.auto_index && (drifted || unindexed) {
            return self.compact_locked(w, Refit::IfNeeded);
        }
        if v.segments.len() > MAX_SEGMENTS {
            // without automatic indexing, merging segments never fits an index (ANALYZE does)
            let refit = if self.inner.db.auto_index {
                Refit::IfNeeded
            } else {
                Refit::Never
            };
            return self.compact_locked(w, refit);
        }
        Ok(Maintenance::default())
    }

    fn flush_locked(&self, w: &mut Writer<'_>) -> Result<Maintenance> {
        let v = w.snapshot();
        if v.mem.is_empty() {
            return Ok(self.outcome(w, 0, 0, false));
        }
        let model = self.model_for(&v)?;
        let layout = crate::index::layout_for(self.schema(), model.as_deref());
        let (batch, rowids) = v.mem.live_batch(&self.schema().arrow_schema())?;
        let mut add = Vec::new();
        if batch.num_rows() > 0 {
            add.push(encode::write_rows(
                w,
                model.as_deref(),
                &layout,
                &batch,
                &rowids,
            )?);
        }
        let flushed = flushed_rows(&v);
        let info = w.commit(Commit {
            add,
            flushed: Some(flushed),
            ..Commit::default()
        })?;
        Ok(self.outcome(w, info.rows, 0, false))
    }

    pub(super) fn compact_locked(&self, w: &mut Writer<'_>, refit: Refit) -> Result<Maintenance> {
        let v = w.snapshot();
        let rows = v.count();
        let opts = &self.inner.options.index;
        let big_enough = rows >= opts.min_rows.max(opts.k + 2);
        let fit = big_enough
            && match (&v.manifest.index, refit) {
                (_, Refit::Never) => false,
                (_, Refit::Always) | (None, _) => true,
                (Some(r), Refit::IfNeeded) => {
                    rows as u64 >= 2 * r.fit_rows || (rows as u64) * 2 <= r.fit_rows
                }
            };
        let r = if fit {
            self.refit_locked(w, &v)
        } else {
            self.merge_locked(w, &v)
        };
        if r.is_ok() {
            self.record_maintenance(Ok(Maintenance::default()));
        }
        r
    }

    /// Every live row into one segment under the current index (or none).
    fn merge_locked(&self, w: &mut Writer<'_>, v: &Arc<TableVersion>) -> Result<Maintenance> {
        let model = self.model_for(v)?;
        let layout = crate::index::layout_for(self.schema(), model.as_deref());
        let meta = encode::spill::compact(w, v, model.as_deref(), &layout)?;
        crate::heap::release_free();
        let replaced = v.segments.len();
        let info = w.commit(Commit {
            add: meta.into_iter().collect(),
            remove: v.segments.iter().map(|s| s.meta().id).collect(),
            flushed: Some(flushed_rows(v)),
            ..Commit::default()
        })?;
        Ok(self.outcome(w, info.rows, replaced, false))
    }

    /// Fits a new index on a sample, rewrites every live row under it (out of core), tunes its
    /// schedules on the new segment, and installs both in one commit.
    fn refit_locked(&self, w: &mut Writer<'_>, v: &Arc<TableVersion>) -> Result<Maintenance> {
        let opts = &self.inner.options;
        let rows = v.count();
        let n = opts.index.sample_for(rows);
        let sample = encode::sample::vectors(v, n, opts.index.seed)?;
        let version = w.next_index_version();
        let (mut model, layout) = fit::fit(self.schema(), sample, rows, version, &opts.index)?;
        crate::heap::release_free();
        let compacted = encode::spill::compact(w, v, Some(&model), &layout)?;
        crate::heap::release_free();
        let Some(meta) = compacted else {
            return self.merge_locked(w, v);
        };
        let guard = Orphan::new(w, &meta);
        let seg = Segment::open(w.table().dir(), &meta, self.schema())?;
        let views = [SegView::new(&seg, Some(&model))?];
        let params = TuneParams {
            k: opts.index.k,
            queries: opts.index.sample_queries,
            holdout_radius: opts.holdout_radius,
            seed: opts.index.seed ^ 2,
        };
        let given = self.tuning_queries_for(v)?;
        let tuned = tune::tune(&model, &layout, &views, &params, &given)?;
        crate::heap::release_free();
        model.meta.schedules = tuned.schedules;
        model.meta.tuning = TuningInfo {
            choose_queries: tuned.choose,
            calibrate_queries: tuned.calibrate,
            holdout_radius: opts.holdout_radius,
            filter_factors: Vec::new(),
            filtered: tuned.filtered,
            tuning_queries: given.len() / layout.dim.max(1),
        };
        model.tuning_queries = given;
        drop(seg);
        let ix = w.write_index(rows as u64, &model.to_sections())?;
        let replaced = v.segments.len();
        // from here on the outcome may be unknown (a failed RocksDB write may still be applied):
        // the files are left to the cleanup at open, which keeps them exactly when referenced
        guard.disarm();
        let info = w.commit(Commit {
            add: vec![meta],
            remove: v.segments.iter().map(|s| s.meta().id).collect(),
            flushed: Some(flushed_rows(v)),
            index: Some(ix),
            ..Commit::default()
        })?;
        self.set_model(Arc::new(model));
        Ok(self.outcome(w, info.rows, replaced, true))
    }

    fn outcome(&self, w: &Writer<'_>, rows: usize, replaced: usize, refit: bool) -> Maintenance {
        Maintenance {
            rows,
            segments_replaced: replaced,
            index_version: w.snapshot().manifest.index.as_ref().map(|r| r.version),
            refit,
        }
    }
}

/// The version's live unflushed rows (moved into a new segment by the commit).
fn flushed_rows(v: &TableVersion) -> Flushed {
    let mut f = Flushed::default();
    let pk = v.def.schema.pk_index();
    for c in v.mem.chunks() {
        let pks = c
            .batch
            .column(pk)
            .as_any()
            .downcast_ref::<arrow_array::Int64Array>();
        for (i, &r) in c.rowids.iter().enumerate() {
            if !v.mem.is_dead(r) {
                f.rowids.push(r);
                f.pks.push(pks.map_or(0, |a| a.value(i)));
            }
        }
    }
    f
}

/// Removes a written but uncommitted segment's files unless disarmed (a failed tuning or index
/// write must not leave them until the next open).
struct Orphan {
    files: Vec<std::path::PathBuf>,
}

impl Orphan {
    fn new(w: &Writer<'_>, meta: &SegmentMeta) -> Orphan {
        let dir = w.table().dir();
        Orphan {
            files: vec![dir.join(meta.parquet_name()), dir.join(meta.sidecar_name())],
        }
    }

    fn disarm(mut self) {
        self.files.clear();
    }
}

impl Drop for Orphan {
    fn drop(&mut self) {
        for f in &self.files {
            let _ = std::fs::remove_file(f);
        }
    }
}
