//! The table's tuning queries: vectors like the ones the table will be searched with, on which
//! the next index fit tunes its schedules instead of on rows of the table (`docs/recall.md`,
//! "Tuning on your own queries"). They are kept in the index file with the schedules they
//! tuned, so every later fit (ANALYZE or an automatic refit) tunes on them again.

use std::sync::Arc;

use nestdb_storage::TableVersion;
use rand::seq::index::sample;
use rand::SeedableRng;

use super::maintain::{Maintenance, Refit};
use super::Table;
use crate::error::Result;
use crate::index::IndexError;
use crate::search::PreparedQuery;

/// Fewest tuning queries accepted (half choose the schedules, half measure them).
pub const MIN_TUNING_QUERIES: usize = 20;
/// Most tuning queries kept: a larger set is reduced to a seeded uniform sample of this many
/// (tuning time grows with the count, and the set is stored in the index file).
pub const MAX_TUNING_QUERIES: usize = 2000;

impl Table {
    /// Sets the queries the next index fit ([`Table::analyze`], or an automatic refit) tunes
    /// its schedules and measures its recall estimates on, in place of rows of the table: a
    /// sample of the queries the table will serve, so the recall targets are kept for those
    /// queries rather than for queries that look like rows. They take effect at the next fit
    /// (call `analyze` after setting them, or use [`Table::analyze_tuned_on`]) and are then
    /// stored with the index, so reopening and later fits keep them. Every query is checked
    /// like a search's vector; at least [`MIN_TUNING_QUERIES`] are needed, and more than
    /// [`MAX_TUNING_QUERIES`] are reduced to a seeded sample of that many. An empty list goes
    /// back to tuning on rows. Default: none (rows).
    pub fn set_tuning_queries(&self, queries: &[Vec<f32>]) -> Result<()> {
        let flat = self.checked_tuning(queries)?;
        *self.lock_tuning() = Some(Arc::new(flat));
        Ok(())
    }

    /// [`Table::set_tuning_queries`] and [`Table::analyze`] as one step under the writer: no
    /// other fit can tune on another set in between, and if the fit fails the table keeps
    /// the tuning queries it had. An empty list re-fits tuned on rows.
    pub fn analyze_tuned_on(&self, queries: &[Vec<f32>]) -> Result<Maintenance> {
        let flat = Arc::new(self.checked_tuning(queries)?);
        let mut w = self.writer()?;
        let before = self.lock_tuning().replace(flat);
        let r = self.compact_locked(&mut w, Refit::Always);
        if r.is_err() {
            *self.lock_tuning() = before;
        }
        r
    }

    /// The searches the live recall monitor has measured (a uniform sample of at most
    /// [`super::recall::KEEP_QUERIES`] of the measured ones since open; see
    /// [`Table::set_recall_sampling`]): the table's real queries, for tables whose users cannot
    /// hand a sample over. Tune on them with [`Table::analyze_tuned_on`] (SQL `ANALYZE t TUNE
    /// ON SAMPLED`).
    pub fn sampled_queries(&self) -> Vec<Vec<f32>> {
        self.inner.recall.kept_queries()
    }

    /// [`Table::analyze_tuned_on`] the searches the live monitor kept
    /// ([`Table::sampled_queries`]; SQL `ANALYZE t TUNE ON SAMPLED`). Refused with
    /// [`IndexError::NoSampledQueries`] when it kept none, since an empty list would mean rows.
    pub fn analyze_tuned_on_sampled(&self) -> Result<Maintenance> {
        let queries = self.sampled_queries();
        if queries.is_empty() {
            return Err(IndexError::NoSampledQueries.into());
        }
        self.analyze_tuned_on(&queries)
    }

    /// How many tuning queries the next fit will tune on (0: rows of the table).
    pub fn tuning_queries(&self) -> Result<usize> {
        let v = self.snapshot().version.clone();
        Ok(self.tuning_queries_for(&v)?.len() / self.schema().dim().max(1))
    }

    /// The tuning queries for a fit of `v`: those last set, else those the current index was
    /// tuned on (empty: tune on rows).
    pub(super) fn tuning_queries_for(&self, v: &TableVersion) -> Result<Arc<Vec<f32>>> {
        if let Some(q) = self.lock_tuning().as_ref() {
            return Ok(q.clone());
        }
        Ok(self
            .model_for(v)?
            .map(|m| m.tuning_queries.clone())
            .unwrap_or_default())
    }

    /// `queries` checked and flattened (row-major), reduced to [`MAX_TUNING_QUERIES`].
    fn checked_tuning(&self, queries: &[Vec<f32>]) -> Result<Vec<f32>> {
        if !queries.is_empty() && queries.len() < MIN_TUNING_QUERIES {
            return Err(IndexError::TooFewTuningQueries {
                given: queries.len(),
                min: MIN_TUNING_QUERIES,
            }
            .into());
        }
        let layout = crate::index::layout_for(self.schema(), None);
        let column = self.schema().vector_name().to_string();
        for q in queries {
            PreparedQuery::new(q, &layout, None, &column)?;
        }
        let mut picks: Vec<usize> = (0..queries.len()).collect();
        if queries.len() > MAX_TUNING_QUERIES {
            let mut rng = rand::rngs::StdRng::seed_from_u64(self.options().index.seed);
            picks = sample(&mut rng, queries.len(), MAX_TUNING_QUERIES).into_vec();
            picks.sort_unstable();
        }
        Ok(picks
            .iter()
            .flat_map(|&i| queries[i].iter().copied())
            .collect())
    }

    fn lock_tuning(&self) -> std::sync::MutexGuard<'_, Option<Arc<Vec<f32>>>> {
        self.inner
            .tuning_queries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }
}
