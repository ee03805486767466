//! The search builder (the table API's entry to `search/`): a query vector, `k`, the columns to return, a filter, the funnel's knobs
//! and an optional reranker.

use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow_array::RecordBatch;

use crate::error::{QueryError, Result};
use crate::filter::{Filter, Selection};
use crate::index::IndexModel;
use crate::options::check_recall_target;
use crate::search::explain::{Explain, FilterMode};
pub use crate::search::plan::SearchParams;
use crate::search::rerank::{Rerank, RerankQuery};
use crate::search::{instage, plan, results, PreparedQuery};
use crate::table::selections::Got;
use crate::table::snapshot::Snapshot;
use crate::table::CachedSelection;
use crate::topk::Cand;

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

    /// Candidates kept after each intermediate stage, exactly (the tuned schedule's first
    /// shortlist may adapt to the query, `Schedule::keep_slack`; this one does not).
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
        let target = self.target()?;
        let serving = self.snap.table.effective_target(target);
        let mut e = self.prepare(self.k, serving, true)?.explain;
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

    /// Prepares the query, decides how the filter runs and plans the search for `k` rows at
    /// recall target `serving`. On a filter's first sighting the planner plans on an estimate
    /// of the rows it keeps; if that plan is filtered probing over at most half the table, the
    /// filter is tested inside the first stage (no selection is built); otherwise it is
    /// evaluated, and the plan is made on the exact count.
    fn prepare(&self, k: usize, serving: f32, detail: bool) -> Result<Prepared<'_>> {
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
        let mut estimate = None;
        let mut plan_time = Duration::ZERO;
        let got = match &self.filter {
            None => Got::Selection(
                Arc::new(CachedSelection::unfiltered(Selection::all(v))),
                false,
            ),
            Some(f) => self.snap.table.selection_for(v, f, || {
                let est = f.estimate_rows(v)?;
                estimate = Some(est.round() as usize);
                let start = Instant::now();
                let e = self.choose(model.as_deref(), k, serving, est.round() as usize, detail);
                plan_time = start.elapsed();
                let yes = match self.params.filter_in_stage {
                    None => plan::in_stage(&e, model.as_deref()),
                    Some(force) => force && plan::probing(&e),
                };
                Ok(yes.then_some((e, f)))
            })?,
        };
        let filter_time = t.elapsed().saturating_sub(plan_time);
        let (rows, mut e) = match got {
            Got::InStage((mut e, f)) => {
                if detail {
                    e.reason.push_str(&format!(
                        "; the filter is tested inside the first stage, on the probed partitions' rows only (an estimated {} rows match)",
                        e.matching
                    ));
                }
                e.filter = FilterMode::InStage;
                e.plan_time = plan_time;
                (Rows::InStage(f), e)
            }
            Got::Selection(sel, cached) => {
                let mut e = self.plan_exact(&sel, model.as_deref(), k, serving, detail);
                e.filter = match (&self.filter, cached) {
                    (None, _) => FilterMode::None,
                    (Some(_), true) => FilterMode::Cached,
                    (Some(_), false) => FilterMode::Evaluated,
                };
                e.plan_time += plan_time;
                (Rows::Selected(sel), e)
            }
        };
        e.estimated_matching = estimate;
        e.filter_time = filter_time;
        Ok(Prepared {
            q,
            rows,
            model,
            explain: e,
        })
    }

    /// Plans on the exact count of the rows `sel` keeps.
    fn plan_exact(
        &self,
        sel: &CachedSelection,
        model: Option<&IndexModel>,
        k: usize,
        serving: f32,
        detail: bool,
    ) -> Explain {
        let v = &self.snap.version;
        let matching = if sel.selection.is_all() {
            v.count()
        } else {
            sel.selection.count(v) as usize
        };
        let start = Instant::now();
        let mut e = self.choose(model, k, serving, matching, detail);
        e.plan_time = start.elapsed();
        e
    }

    fn choose(
        &self,
        model: Option<&IndexModel>,
        k: usize,
        serving: f32,
        matching: usize,
        detail: bool,
    ) -> Explain {
        plan::choose(
            &self.snap.version,
            model,
            &self.params,
            k,
            serving,
            matching,
            detail,
        )
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
        let v = &self.snap.version;
        let fetch = self
            .rerank
            .as_ref()
            .map_or(self.k, |r| r.candidates_for(self.k));
        let target = self.target()?;
        let serving = self.snap.table.effective_target(target);
        let p = self.prepare(fetch, serving, analyze)?;
        let mut explain = p.explain;
        explain.promised = Some(target);
        let hits = self.execute_plan(
            &p.q,
            p.model.as_deref(),
            p.rows,
            fetch,
            serving,
            &mut explain,
            analyze,
        )?;
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
        if let (true, FilterMode::InStage, Some(f)) = (analyze, explain.filter, &self.filter) {
            // EXPLAIN ANALYZE shows the actual count beside the estimate (not timed)
            explain.matching = f.selection(v)?.count(v) as usize;
            explain.selectivity = explain.matching as f64 / v.count().max(1) as f64;
        }
        Ok((batch, explain))
    }

    /// Runs the plan `e` with selection `sel`, or with the filter tested in stage when `sel`
    /// is None; a filter that keeps far fewer rows than estimated is evaluated and planned
    /// again.
    #[allow(clippy::too_many_arguments)]
    fn execute_plan(
        &self,
        q: &PreparedQuery,
        model: Option<&IndexModel>,
        rows: Rows<'_>,
        k: usize,
        serving: f32,
        e: &mut Explain,
        analyze: bool,
    ) -> Result<Vec<Cand>> {
        let v = &self.snap.version;
        let sel = match rows {
            Rows::Selected(s) => s,
            Rows::InStage(f) => {
                let all = Selection::all(v);
                let t = plan::Target {
                    v,
                    model,
                    q,
                    sel: &all,
                    gathered: None,
                };
                let share = e.matching as f64 / v.count().max(1) as f64;
                if let Some(hits) = instage::execute(&t, f, share, k, e, analyze)? {
                    return Ok(hits);
                }
                // far fewer rows match than estimated: evaluate them all and plan again
                let start = Instant::now();
                let (sel, _) = self.snap.table.selection_of(v, f)?;
                let filter_time = e.filter_time + start.elapsed();
                let mut again = self.plan_exact(&sel, model, k, serving, analyze);
                if analyze {
                    again.reason.push_str(&format!(
                        "; planned again after testing the filter in stage: an estimated {} rows match, {} do",
                        e.matching, again.matching
                    ));
                }
                again.estimated_matching = e.estimated_matching;
                again.filter = FilterMode::Evaluated;
                again.filter_time = filter_time;
                again.plan_time += e.plan_time;
                again.promised = e.promised;
                *e = again;
                sel
            }
        };
        let t = plan::Target {
            v,
            model,
            q,
            sel: &sel.selection,
            gathered: sel.gathered.as_ref(),
        };
        plan::execute(&t, k, e, analyze)
    }
}

struct Prepared<'a> {
    q: PreparedQuery,
    rows: Rows<'a>,
    model: Option<Arc<IndexModel>>,
    explain: Explain,
}

/// Which rows a search may return.
enum Rows<'a> {
    /// Those of a selection (every live row without a filter).
    Selected(Arc<CachedSelection>),
    /// Those of a filter tested inside the first stage.
    InStage(&'a Filter),
}
