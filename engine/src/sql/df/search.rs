//! Vector search planned, not string-matched: an optimizer rule finds
//! `Sort(fetch = k, distance(vector, query) ASC)` over projections over a nestdb table's scan
//! (every WHERE conjunct pushed into the scan), where the distance is the table's metric and
//! the query is constant, and puts a `NestdbSearch` node over the scan: it runs the funnel with
//! the filter inside it and returns the `k` rows the Sort then orders. Anything else (a
//! subquery, a join, another metric, a filter nestdb cannot evaluate) stays an exact scan and
//! sort, as pgvector would run it, with the same results.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use datafusion::arrow::array::{Array, AsArray, RecordBatch, RecordBatchOptions};
use datafusion::arrow::datatypes::{Float32Type, Schema};
use datafusion::catalog::Session;
use datafusion::common::tree_node::Transformed;
use datafusion::common::{internal_err, DFSchema, DFSchemaRef, Result, ScalarValue};
use datafusion::datasource::source_as_provider;
use datafusion::execution::context::QueryPlanner;
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::physical_planning_context::PhysicalPlanningContext;
use datafusion::logical_expr::{
    Expr, Extension, LogicalPlan, Projection, SortExpr, UserDefinedLogicalNode,
    UserDefinedLogicalNodeCore,
};
use datafusion::optimizer::optimizer::ApplyOrder;
use datafusion::optimizer::{OptimizerConfig, OptimizerRule};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_planner::{DefaultPhysicalPlanner, ExtensionPlanner, PhysicalPlanner};

use super::exec::{BatchSource, Batches, LeafExec};
use super::provider::NestTable;
use super::udf::DistanceUdf;
use crate::filter::Filter;
use crate::search::explain::Explain;
use crate::Table;

/// The logical node: a funnel search of the scan below it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SearchNode {
    input: LogicalPlan,
    k: usize,
    query: Expr,
    table: String,
}

impl PartialOrd for SearchNode {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        (self.k, &self.table)
            .partial_cmp(&(o.k, &o.table))
            .filter(|c| *c != Ordering::Equal || self == o)
    }
}

impl UserDefinedLogicalNodeCore for SearchNode {
    fn name(&self) -> &str {
        "NestdbSearch"
    }

    fn inputs(&self) -> Vec<&LogicalPlan> {
        vec![&self.input]
    }

    fn schema(&self) -> &DFSchemaRef {
        self.input.schema()
    }

    fn expressions(&self) -> Vec<Expr> {
        vec![self.query.clone()]
    }

    fn fmt_for_explain(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "NestdbSearch: table={} k={} query={}",
            self.table,
            self.k,
            short(&self.query)
        )
    }

    fn with_exprs_and_inputs(
        &self,
        mut exprs: Vec<Expr>,
        mut inputs: Vec<LogicalPlan>,
    ) -> Result<Self> {
        Ok(SearchNode {
            input: inputs.swap_remove(0),
            query: exprs.swap_remove(0),
            ..self.clone()
        })
    }
}

fn short(e: &Expr) -> String {
    let s = e.to_string();
    if s.len() > 60 {
        format!(
            "{}...",
            &s[..s.char_indices().nth(57).map_or(s.len(), |(i, _)| i)]
        )
    } else {
        s
    }
}

/// The optimizer rule (see the module docs).
#[derive(Debug, Default)]
pub struct SearchRule;

impl OptimizerRule for SearchRule {
    fn name(&self) -> &str {
        "nestdb_vector_search"
    }

    fn apply_order(&self) -> Option<ApplyOrder> {
        Some(ApplyOrder::TopDown)
    }

    fn rewrite(
        &self,
        plan: LogicalPlan,
        _c: &dyn OptimizerConfig,
    ) -> Result<Transformed<LogicalPlan>> {
        let LogicalPlan::Sort(sort) = &plan else {
            return Ok(Transformed::no(plan));
        };
        let (
            Some(k),
            [SortExpr {
                expr, asc: true, ..
            }],
        ) = (sort.fetch, sort.expr.as_slice())
        else {
            return Ok(Transformed::no(plan));
        };
        let Some(new_input) = rewrite_input(&sort.input, expr.clone(), k)? else {
            return Ok(Transformed::no(plan));
        };
        let mut s = sort.clone();
        s.input = Arc::new(new_input);
        Ok(Transformed::yes(LogicalPlan::Sort(s)))
    }
}

/// `input` with a search node over its scan, when `expr` (through `input`'s projections) is
/// the table metric's distance from its vector column to a constant.
fn rewrite_input(input: &LogicalPlan, expr: Expr, k: usize) -> Result<Option<LogicalPlan>> {
    match input {
        LogicalPlan::Projection(p) => {
            let inner = unalias(expr, p);
            let Some(new) = rewrite_input(&p.input, inner, k)? else {
                return Ok(None);
            };
            Ok(Some(LogicalPlan::Projection(
                Projection::try_new_with_schema(p.expr.clone(), Arc::new(new), p.schema.clone())?,
            )))
        }
        LogicalPlan::TableScan(scan) => {
            let provider = source_as_provider(&scan.source)?;
            let Some(t) = provider.downcast_ref::<NestTable>() else {
                return Ok(None);
            };
            // The simplifier folds a constant query (`embed(...)`) into a literal and keeps
            // the expression's name with an alias, so the distance may come aliased.
            let expr = expr.unalias_nested().data;
            let Expr::ScalarFunction(ScalarFunction { func, args }) = &expr else {
                return Ok(None);
            };
            let Some(d) = func.inner().downcast_ref::<DistanceUdf>() else {
                return Ok(None);
            };
            let schema = t.table.schema();
            let (col, q) = match args.as_slice() {
                [Expr::Column(c), q] | [q, Expr::Column(c)] if c.name == schema.vector_name() => {
                    (c, q)
                }
                _ => return Ok(None),
            };
            let _ = col;
            if d.metric != schema.metric()
                || !constant(q)
                || scan
                    .filters
                    .iter()
                    .any(|f| super::filters::translate(f).is_none() && !has_placeholder(f))
            {
                return Ok(None);
            }
            let node = SearchNode {
                input: input.clone(),
                k,
                query: q.clone(),
                table: t.table.name().to_string(),
            };
            Ok(Some(LogicalPlan::Extension(Extension {
                node: Arc::new(node),
            })))
        }
        _ => Ok(None),
    }
}

/// `e` with the projection's output columns replaced by the expressions computing them.
fn unalias(e: Expr, p: &Projection) -> Expr {
    use datafusion::common::tree_node::TreeNode;
    e.transform(|x| {
        if let Expr::Column(c) = &x {
            if let Some(i) = p.schema.maybe_index_of_column(c) {
                return Ok(Transformed::yes(p.expr[i].clone().unalias()));
            }
        }
        Ok(Transformed::no(x))
    })
    .map(|t| t.data)
    .unwrap_or_else(|_| Expr::Literal(ScalarValue::Null, None))
}

fn constant(e: &Expr) -> bool {
    e.column_refs().is_empty() && !matches!(e, Expr::ScalarSubquery(_))
}

fn has_placeholder(e: &Expr) -> bool {
    let mut found = false;
    let _ = datafusion::common::tree_node::TreeNode::apply(e, |x| {
        found |= matches!(x, Expr::Placeholder(_));
        Ok(datafusion::common::tree_node::TreeNodeRecursion::Continue)
    });
    found
}

/// Plans [`SearchNode`]s; everything else is DataFusion's.
#[derive(Debug)]
pub struct NestQueryPlanner;

#[async_trait]
impl QueryPlanner for NestQueryPlanner {
    async fn create_physical_plan(
        &self,
        plan: &LogicalPlan,
        session: &dyn Session,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        DefaultPhysicalPlanner::with_extension_planners(vec![Arc::new(SearchPlanner)])
            .create_physical_plan(plan, session)
            .await
    }
}

struct SearchPlanner;

#[async_trait]
impl ExtensionPlanner for SearchPlanner {
    async fn plan_extension(
        &self,
        planner: &dyn PhysicalPlanner,
        node: &dyn UserDefinedLogicalNode,
        logical_inputs: &[&LogicalPlan],
        _physical_inputs: &[Arc<dyn ExecutionPlan>],
        session: &dyn Session,
        ctx: &PhysicalPlanningContext,
    ) -> Result<Option<Arc<dyn ExecutionPlan>>> {
        let Some(n) = node.as_any().downcast_ref::<SearchNode>() else {
            return Ok(None);
        };
        let LogicalPlan::TableScan(scan) = logical_inputs[0] else {
            return internal_err!("NestdbSearch expects a table scan below it");
        };
        let provider = source_as_provider(&scan.source)?;
        let Some(t) = provider.downcast_ref::<NestTable>() else {
            return internal_err!("NestdbSearch over a table that is not nestdb's");
        };
        let query = planner.create_physical_expr(&n.query, &DFSchema::empty(), session, ctx)?;
        let filters =
            datafusion::logical_expr::expr_rewriter::unnormalize_cols(scan.filters.iter().cloned());
        // a filter with parameters is bound when the search starts (the plan runs again with
        // new values); the others are translated once
        let (filter, unbound) = if filters.iter().any(has_placeholder) {
            (None, Some(filters))
        } else {
            (t.filter(&filters), None)
        };
        let src = SearchSource {
            table: t.table.clone(),
            proj: t.projection(scan.projection.as_ref()),
            filter,
            unbound,
            params: t.params.clone(),
            query,
            k: n.k,
            settings: t.settings.clone(),
            analyzed: Mutex::new(None),
        };
        let schema = Arc::new(Schema::new(
            scan.projected_schema.as_arrow().fields().clone(),
        ));
        Ok(Some(Arc::new(LeafExec::new(
            "NestdbSearchExec",
            schema,
            Arc::new(src),
        ))))
    }
}

/// The query vector: a constant expression (a literal, `embed(...)` folded at planning, or a
/// parameter read now), evaluated when the search starts.
fn evaluate(phys: &Arc<dyn PhysicalExpr>) -> Result<Vec<f32>> {
    let batch = RecordBatch::try_new_with_options(
        Arc::new(Schema::empty()),
        vec![],
        &RecordBatchOptions::new().with_row_count(Some(1)),
    )?;
    let v = phys.evaluate(&batch)?.to_array(1)?;
    let l = v.as_fixed_size_list();
    if l.is_null(0) {
        return internal_err!("the query vector is NULL");
    }
    Ok(l.value(0).as_primitive::<Float32Type>().values().to_vec())
}

/// A funnel search.
struct SearchSource {
    table: Table,
    proj: crate::scan::Projection,
    filter: Option<Filter>,
    /// Pushed filters that hold parameters, bound to the session's values at each run.
    unbound: Option<Vec<Expr>>,
    params: super::param::SharedParams,
    query: Arc<dyn PhysicalExpr>,
    k: usize,
    /// The session's settings, read when the search starts (a planned search runs again with
    /// the settings of that moment); `analyze` is set for EXPLAIN ANALYZE, which records
    /// per-stage statistics (plain queries do not pay for them).
    settings: Arc<std::sync::RwLock<crate::sql::Settings>>,
    analyzed: Mutex<Option<Explain>>,
}

impl fmt::Debug for SearchSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SearchSource")
            .field("table", &self.table.name())
            .field("k", &self.k)
            .finish()
    }
}

impl SearchSource {
    fn search(&self) -> crate::Result<(crate::Search, bool)> {
        let names: Vec<String> = self
            .proj
            .iter()
            .map(|p| match p {
                Some(i) => self.table.schema().columns()[*i].name.clone(),
                None => nestdb_storage::schema::ROWID.to_string(),
            })
            .collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let query = evaluate(&self.query).map_err(super::df)?;
        let settings = self
            .settings
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let mut s = self
            .table
            .search(&query)
            .limit(self.k)
            .select(&refs)
            .params(settings.search_params());
        let filter = match &self.unbound {
            Some(exprs) => bind_filter(exprs, &self.params)?,
            None => self.filter.clone(),
        };
        if let Some(f) = filter {
            s = s.filter(f);
        }
        Ok((s, settings.analyze))
    }
}

impl BatchSource for SearchSource {
    fn open(&self) -> crate::Result<Batches> {
        let (search, analyze) = self.search()?;
        let b = if analyze {
            let (b, e) = search.explain_analyze()?;
            *self.analyzed.lock().unwrap_or_else(|e| e.into_inner()) = Some(e);
            b
        } else {
            search.execute()?
        };
        // the search's columns: the projection (with _rowid where asked), then _distance
        let b = b.project(
            &(0..self.proj.len())
                .map(|i| reorder(&self.proj, i))
                .collect::<Vec<_>>(),
        )?;
        Ok(Box::new(std::iter::once(Ok(b))))
    }

    fn describe(&self) -> String {
        let mut s = format!("table={} k={}", self.table.name(), self.k);
        if let Some(f) = &self.filter {
            s.push_str(&format!(" filter=[{f}]"));
        }
        if let Ok(e) = self.search().and_then(|(s, _)| s.explain()) {
            s.push_str(&format!(" {}", e.summary()));
        }
        s
    }

    fn analyzed(&self) -> Option<String> {
        let e = self
            .analyzed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()?;
        let stages: Vec<String> = e
            .stages
            .iter()
            .map(|s| {
                format!(
                    "{} in={} out={} bytes={} time={:.3}ms",
                    s.name,
                    s.candidates_in,
                    s.candidates_out,
                    s.bytes_touched,
                    s.time.as_secs_f64() * 1e3
                )
            })
            .collect();
        Some(format!("stages: {}", stages.join("; ")))
    }
}

/// Pushed filters with their parameters replaced by the session's current values, as one
/// nestdb filter.
fn bind_filter(
    exprs: &[Expr],
    params: &super::param::SharedParams,
) -> crate::Result<Option<Filter>> {
    use datafusion::common::tree_node::TreeNode;
    let values = params.read().unwrap_or_else(|e| e.into_inner());
    let mut out: Option<Filter> = None;
    for e in exprs {
        let mut missing = None;
        let bound = e
            .clone()
            .transform(|x| match &x {
                Expr::Placeholder(p) => {
                    let i: usize = p.id.trim_start_matches('$').parse().unwrap_or(0);
                    match values.get(i.wrapping_sub(1)) {
                        Some(v) => Ok(Transformed::yes(Expr::Literal(param_scalar(v), None))),
                        None => {
                            missing = Some(i);
                            Ok(Transformed::no(x))
                        }
                    }
                }
                _ => Ok(Transformed::no(x)),
            })
            .map_err(super::df)?
            .data;
        if let Some(index) = missing {
            return Err(crate::QueryError::UnboundParameter {
                index,
                given: values.len(),
            }
            .into());
        }
        let Some(f) = super::filters::translate(&bound) else {
            return Err(crate::sql::SqlError::plain(format!(
                "the filter {bound} cannot be evaluated with these parameter values"
            ))
            .into());
        };
        out = Some(match out {
            Some(a) => a.and(f),
            None => f,
        });
    }
    Ok(out)
}

fn param_scalar(p: &crate::sql::Param) -> ScalarValue {
    match p {
        crate::sql::Param::Vector(v) => {
            ScalarValue::FixedSizeList(Arc::new(crate::sql::values::fsl(v)))
        }
        crate::sql::Param::Value(v) => crate::sql::values::scalar_value(v),
    }
}

/// Whether every parameter of `plan` sits in a search's pushed filter (bound when the search
/// starts, so the plan can run again with new values) or is a vector (read by
/// [`super::param`]): then nothing needs binding before the plan runs.
pub fn binds_its_own_params(plan: &LogicalPlan) -> bool {
    use datafusion::common::tree_node::TreeNodeRecursion;
    let mut outside = false;
    let _ = plan.apply_with_subqueries(|n| {
        if let LogicalPlan::Extension(e) = n {
            if e.node.as_any().is::<SearchNode>() {
                return Ok(TreeNodeRecursion::Jump);
            }
        }
        if n.expressions().iter().any(has_placeholder) {
            outside = true;
            return Ok(TreeNodeRecursion::Stop);
        }
        Ok(TreeNodeRecursion::Continue)
    });
    !outside
}

/// Position in the search result (user columns in projection order, then `_rowid`, then
/// `_distance`) of projection entry `i`.
fn reorder(proj: &crate::scan::Projection, i: usize) -> usize {
    let users = proj.iter().filter(|p| p.is_some()).count();
    match proj[i] {
        Some(_) => proj[..i].iter().filter(|p| p.is_some()).count(),
        None => users,
    }
}

impl Hash for SearchSource {
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.table.name().hash(h)
    }
}
