//! The search builder: a query vector, `k`, the columns to return, and the funnel's knobs.

use std::sync::Arc;
use std::time::Instant;

use arrow_array::RecordBatch;

use super::explain::Explain;
use super::{plan, results, PreparedQuery, Selection};
use crate::error::{QueryError, Result};
use crate::index::Stage;
use crate::options::check_recall_target;
use crate::snapshot::Snapshot;

/// Knobs of one search. Every field left `None` comes from the table (its tuned schedule and
/// `recall_target` option).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SearchParams {
    /// Scan every selected row at full dimension (default false).
    pub exact: bool,
    /// Recall@k to aim for (default: the table's `recall_target`, 0.95 unless set).
    pub recall_target: Option<f32>,
    /// Partitions to probe (default: from the schedule).
    pub nprobe: Option<usize>,
    /// Candidates kept after each intermediate stage (default: from the schedule).
    pub shortlist: Option<Vec<usize>>,
    /// Intermediate stages to run instead of the schedule's (advanced).
    pub stages: Option<Vec<Stage>>,
}

/// A vector search over one snapshot. Build it with [`crate::Table::search`], then call
/// [`Search::execute`].
///
/// Defaults: `limit(10)`; every column but the vector (plus `_rowid` and `_distance`); the
/// funnel tuned to the table's recall target (exact search on tables without an index).
#[derive(Clone)]
pub struct Search {
    snap: Snapshot,
    query: Vec<f32>,
    k: usize,
    select: Option<Vec<String>>,
    params: SearchParams,
    filter: Option<crate::filter::Filter>,
}

impl Search {
    pub(crate) fn new(snap: Snapshot, query: Vec<f32>) -> Search {
        Search {
            snap,
            query,
            k: 10,
            select: None,
            params: SearchParams::default(),
            filter: None,
        }
    }

    /// Number of results (default 10).
    pub fn limit(mut self, k: usize) -> Self {
        self.k = k;
        self
    }

    /// Columns to return besides `_rowid` and `_distance` (default: all but the vector).
    pub fn select(mut self, columns: &[&str]) -> Self {
        self.select = Some(columns.iter().map(|s| s.to_string()).collect());
        self
    }

    /// Exact search (default false).
    pub fn exact(mut self, exact: bool) -> Self {
        self.params.exact = exact;
        self
    }

    /// Recall target for this query (default: the table's).
    pub fn recall_target(mut self, target: f32) -> Self {
        self.params.recall_target = Some(target);
        self
    }

    /// Partitions to probe.
    pub fn nprobe(mut self, n: usize) -> Self {
        self.params.nprobe = Some(n);
        self
    }

    /// Candidates kept after each intermediate stage.
    pub fn shortlist(mut self, keep: &[usize]) -> Self {
        self.params.shortlist = Some(keep.to_vec());
        self
    }

    /// All knobs at once.
    pub fn params(mut self, params: SearchParams) -> Self {
        self.params = params;
        self
    }

    /// Only rows matching `filter` (see [`crate::filter`]).
    pub fn filter(mut self, filter: crate::filter::Filter) -> Self {
        self.filter = Some(filter);
        self
    }

    /// Only rows matching a SQL condition, e.g. `label <@ 'python' AND lang = 'go'`.
    pub fn filter_sql(self, condition: &str) -> Result<Self> {
        Ok(self.filter(crate::filter::Filter::parse(condition)?))
    }

    /// Runs the search: the selected columns, `_rowid` and `_distance`, nearest first.
    pub fn execute(&self) -> Result<RecordBatch> {
        Ok(self.run(false)?.0)
    }

    /// Runs the search and reports what each stage did (EXPLAIN ANALYZE).
    pub fn explain_analyze(&self) -> Result<(RecordBatch, Explain)> {
        self.run(true)
    }

    /// The plan without running it (EXPLAIN).
    pub fn explain(&self) -> Result<Explain> {
        let (_, sel, model) = self.prepare()?;
        let v = &self.snap.version;
        plan::choose(
            v,
            model.as_deref(),
            &self.params,
            self.k,
            self.target()?,
            &sel,
            true,
        )
    }

    fn target(&self) -> Result<f32> {
        let t = self
            .params
            .recall_target
            .unwrap_or(self.snap.table.options().recall_target);
        Ok(check_recall_target(t)?)
    }

    fn prepare(
        &self,
    ) -> Result<(
        PreparedQuery,
        Arc<Selection>,
        Option<std::sync::Arc<crate::index::IndexModel>>,
    )> {
        let v = &self.snap.version;
        let model = self.snap.table.model_for(v)?;
        let layout = crate::index::layout_for(&v.def.schema, model.as_deref());
        let q = PreparedQuery::new(&self.query, &layout, v.def.schema.vector_name())?;
        let sel = match &self.filter {
            Some(f) => self.snap.table.selection_for(&self.snap.version, f)?,
            None => Arc::new(Selection::all(v)),
        };
        Ok((q, sel, model))
    }

    fn run(&self, analyze: bool) -> Result<(RecordBatch, Explain)> {
        let t = Instant::now();
        if self.k == 0 {
            return Err(QueryError::Setting {
                name: "limit".into(),
                value: "0".into(),
                reason: "must be at least 1".into(),
            }
            .into());
        }
        let select = self.snap.columns(self.select.as_deref(), false)?;
        let (q, sel, model) = self.prepare()?;
        let v = &self.snap.version;
        let mut explain = plan::choose(
            v,
            model.as_deref(),
            &self.params,
            self.k,
            self.target()?,
            &sel,
            analyze,
        )?;
        let hits = plan::execute(v, model.as_deref(), &q, self.k, &sel, &mut explain, analyze)?;
        let batch = results::build(v, &hits, &select, true)?;
        explain.total = t.elapsed();
        Ok((batch, explain))
    }
}
