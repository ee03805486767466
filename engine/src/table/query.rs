//! The search builder (the table API's entry to `search/`): a query vector, `k`, the columns to return, a filter, the funnel's knobs
//! and an optional reranker.

use std::sync::Arc;
use std::time::Instant;

use arrow_array::RecordBatch;

use crate::error::{QueryError, Result};
use crate::filter::{Filter, Selection};
use crate::index::IndexModel;
use crate::options::check_recall_target;
use crate::search::explain::Explain;
pub use crate::search::plan::SearchParams;
use crate::search::rerank::{Rerank, RerankQuery};
use crate::search::{plan, results, PreparedQuery};
use crate::table::snapshot::Snapshot;
use crate::table::CachedSelection;

/// A vector search over one snapshot. Build it with [`crate::Table::search`], then call
/// [`Search::execute`].
///
/// Defaults: `limit(10)`; every column but the vector (plus `_rowid` and `_distance`); no
/// filter; the funnel tuned to the table's recall target (exact search on tables without an
/// index); no reranker.
#[derive(Clone)]
pub struct Search {
    snap: Snapshot,
    query: Vec<f32>,
    k: usize,
    select: Option<Vec<String>>,
    params: SearchParams,
    filter: Option<Filter>,
    rerank: Option<Rerank>,
    query_text: Option<String>,
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
            rerank: None,
            query_text: None,
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
    pub fn filter(mut self, filter: Filter) -> Self {
        self.filter = Some(filter);
        self
    }

    /// Only rows matching a SQL condition, e.g. `label <@ 'python' AND lang = 'go'`.
    #[cfg(feature = "filter-sql")]
    pub fn filter_sql(self, condition: &str) -> Result<Self> {
        Ok(self.filter(Filter::parse(condition)?))
    }

    /// Rescores the funnel's candidates with `rerank` (adds `_score`; results best score
    /// first).
    pub fn rerank(mut self, rerank: Rerank) -> Self {
        self.rerank = Some(rerank);
        self
    }

    /// The text the query vector was embedded from (cross-encoders read it).
    pub fn query_text(mut self, text: &str) -> Self {
        self.query_text = Some(text.to_string());
        self
    }

    /// Runs the search: the selected columns, `_rowid` and `_distance`, nearest first (best
    /// `_score` first after a reranker).
    pub fn execute(&self) -> Result<RecordBatch> {
        Ok(self.run(false)?.0)
    }

    /// Runs the search and reports what each stage did (EXPLAIN ANALYZE).
    pub fn explain_analyze(&self) -> Result<(RecordBatch, Explain)> {
        self.run(true)
    }

    /// The plan without running it (EXPLAIN).
    pub fn explain(&self) -> Result<Explain> {
        let p = self.prepare()?;
        let target = self.target()?;
        let serving = self.snap.table.effective_target(target);
        let mut e = plan::choose(
            &self.snap.version,
            p.model.as_deref(),
            &self.params,
            self.k,
            serving,
            p.matching,
            true,
        );
        e.promised = Some(target);
        Ok(e)
    }

    fn target(&self) -> Result<f32> {
        let t = self
            .params
            .recall_target
            .unwrap_or(self.snap.table.options().recall_target);
        check_recall_target(t).map_err(|e| {
            crate::Error::Query(crate::error::QueryError::Setting {
                name: "recall_target".into(),
                value: t.to_string(),
                reason: match e {
                    crate::OptionError::Invalid { reason, .. } => reason,
                    other => other.to_string(),
                },
            })
        })
    }

    fn prepare(&self) -> Result<Prepared> {
        let v = &self.snap.version;
        let model = self.snap.table.model_for(v)?;
        let layout = crate::index::layout_for(&v.def.schema, model.as_deref());
        let q = PreparedQuery::new(
            &self.query,
            &layout,
            model.as_deref(),
            v.def.schema.vector_name(),
        )?;
        let t = Instant::now();
        let (sel, cached) = match &self.filter {
            Some(f) => self.snap.table.selection_for(v, f)?,
            None => (
                Arc::new(CachedSelection::unfiltered(Selection::all(v))),
                false,
            ),
        };
        let matching = if sel.selection.is_all() {
            v.count()
        } else {
            sel.selection.count(v) as usize
        };
        Ok(Prepared {
            q,
            sel,
            model,
            matching,
            filter_time: t.elapsed(),
            cached,
        })
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
        let mut select = self.snap.columns(self.select.as_deref(), false)?;
        if let Some(r) = &self.rerank {
            for c in r.reranker.columns() {
                for i in self.snap.columns(Some(&[c]), true)? {
                    if !select.contains(&i) {
                        select.push(i);
                    }
                }
            }
        }
        let p = self.prepare()?;
        let v = &self.snap.version;
        let fetch = self
            .rerank
            .as_ref()
            .map_or(self.k, |r| r.candidates_for(self.k));
        let target = self.target()?;
        let serving = self.snap.table.effective_target(target);
        let planning = Instant::now();
        let mut explain = plan::choose(
            v,
            p.model.as_deref(),
            &self.params,
            fetch,
            serving,
            p.matching,
            analyze,
        );
        explain.promised = Some(target);
        explain.plan_time = planning.elapsed();
        explain.filter_time = p.filter_time;
        explain.filter_cached = p.cached && self.filter.is_some();
        let target = plan::Target {
            v,
            model: p.model.as_deref(),
            q: &p.q,
            sel: &p.sel.selection,
            gathered: p.sel.gathered.as_ref(),
        };
        let hits = plan::execute(&target, fetch, &mut explain, analyze)?;
        self.snap
            .table
            .observe(v, &self.query, self.filter.as_ref(), fetch, &explain, &hits);
        let mut batch = results::build(v, &hits, &select, true)?;
        if let Some(r) = &self.rerank {
            let rq = RerankQuery {
                vector: &self.query,
                text: self.query_text.as_deref(),
            };
            batch = r.apply(&rq, &batch, self.k)?;
            batch = results::project(&batch, &self.snap.columns_named(self.select.as_deref())?)?;
        }
        explain.total = t.elapsed();
        Ok((batch, explain))
    }
}

struct Prepared {
    q: PreparedQuery,
    sel: Arc<CachedSelection>,
    model: Option<Arc<IndexModel>>,
    matching: usize,
    filter_time: std::time::Duration,
    cached: bool,
}
