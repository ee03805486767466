//! nestdb on DataFusion: nestdb tables are DataFusion tables ([`provider`]); pgvector's and
//! ltree's operators are functions ([`planner`], [`udf`]); an optimizer rule turns
//! `ORDER BY distance LIMIT k` over a table into a funnel search with the WHERE clause inside
//! it ([`search`]); everything else (joins, aggregates, CTEs, window functions) is DataFusion.
//!
//! DataFusion is async; nestdb is a synchronous library. A session owns a current-thread tokio
//! runtime and drives every call with `block_on` (batches too, one at a time), with one target
//! partition so queries run on the caller's thread; nestdb's own search and scans parallelize
//! with rayon inside.

pub mod exec;
pub mod filters;
pub mod param;
pub mod planner;
pub mod provider;
pub mod search;
pub mod udf;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use async_trait::async_trait;
use datafusion::catalog::{SchemaProvider, TableProvider};
use datafusion::common::{DataFusionError, ParamValues, Result as DfResult, ScalarValue};
use datafusion::execution::context::SessionState;
use datafusion::execution::{
    FunctionRegistry, SendableRecordBatchStream, SessionStateBuilder, SessionStateDefaults,
};
use datafusion::logical_expr::planner::ExprPlanner;
use datafusion::logical_expr::LogicalPlan;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::SessionConfig;
use datafusion::sql::parser::Statement as DfStatement;
use datafusion::sql::sqlparser::ast::Statement;
use futures::StreamExt;

use super::{Settings, SqlError};
use crate::error::Result;
use crate::schema::Metric;
use crate::{Database, RecordBatch};

/// Plans kept per session (prepared statements: the same text reuses its optimized plan).
const PLAN_CACHE: usize = 64;

/// The database's tables as DataFusion's `public` schema.
#[derive(Debug)]
struct NestSchema {
    db: Database,
    settings: Arc<RwLock<Settings>>,
    params: param::SharedParams,
}

#[async_trait]
impl SchemaProvider for NestSchema {
    fn table_names(&self) -> Vec<String> {
        self.db.list_tables().unwrap_or_default()
    }

    async fn table(&self, name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        match self.db.table(name) {
            Ok(t) => Ok(Some(Arc::new(provider::NestTable::new(
                t,
                self.settings.clone(),
                self.params.clone(),
            )))),
            Err(crate::Error::Catalog(crate::CatalogError::NoSuchTable(_))) => Ok(None),
            Err(e) => Err(exec::external(e)),
        }
    }

    fn table_exist(&self, name: &str) -> bool {
        self.db
            .list_tables()
            .is_ok_and(|t| t.iter().any(|n| n == name))
    }
}

/// A DataFusion session over a database.
pub struct Engine {
    state: SessionState,
    rt: Arc<tokio::runtime::Runtime>,
    plans: Mutex<Vec<(String, LogicalPlan)>>,
    /// Physical plans of cached logical plans that can run again as they are (see
    /// [`Engine::reusable`]).
    physical: Mutex<Vec<(String, Arc<dyn ExecutionPlan>)>>,
}

impl Engine {
    /// A session over `db` whose searches read `settings`.
    pub fn new(
        db: Database,
        settings: Arc<RwLock<Settings>>,
        params: param::SharedParams,
    ) -> Result<Engine> {
        let config = SessionConfig::new()
            .with_target_partitions(1)
            .with_information_schema(true)
            .set_str("datafusion.sql_parser.dialect", "PostgreSQL")
            .set_bool("datafusion.sql_parser.collect_spans", true)
            .set_bool("datafusion.execution.parquet.pushdown_filters", false);
        let mut planners: Vec<Arc<dyn ExprPlanner>> =
            vec![Arc::new(planner::NestPlanner::new(params.clone()))];
        planners.extend(SessionStateDefaults::default_expr_planners());
        let state = SessionStateBuilder::new()
            .with_config(config)
            .with_default_features()
            .with_expr_planners(planners)
            .with_optimizer_rule(Arc::new(search::SearchRule))
            .with_query_planner(Arc::new(search::NestQueryPlanner))
            .build();
        let mut state = state;
        for m in [Metric::Cosine, Metric::L2, Metric::Dot] {
            state
                .register_udf(Arc::new(udf::DistanceUdf::udf(m)))
                .map_err(df)?;
        }
        state
            .register_udf(Arc::new(udf::PathUdf::udf(false)))
            .map_err(df)?;
        state
            .register_udf(Arc::new(udf::PathUdf::udf(true)))
            .map_err(df)?;
        state
            .register_udf(Arc::new(udf::EmbedUdf::udf(db.clone())))
            .map_err(df)?;
        let catalog = state
            .catalog_list()
            .catalog("datafusion")
            .ok_or_else(|| df(DataFusionError::Internal("no default catalog".into())))?;
        catalog
            .register_schema(
                "public",
                Arc::new(NestSchema {
                    db,
                    settings,
                    params,
                }),
            )
            .map_err(df)?;
        let rt = Arc::new(
            tokio::runtime::Builder::new_current_thread()
                .build()
                .map_err(|e| {
                    crate::Error::Storage(nestdb_storage::StorageError::io("tokio runtime", e))
                })?,
        );
        Ok(Engine {
            state,
            rt,
            plans: Mutex::new(Vec::new()),
            physical: Mutex::new(Vec::new()),
        })
    }

    /// The optimized logical plan of `stmt` (`key`: its text, for the plan cache; plans with
    /// parameters are kept and reused with new values).
    pub fn plan(&self, key: &str, stmt: Statement) -> Result<LogicalPlan> {
        if let Some(p) = self.cached(key) {
            return Ok(p);
        }
        let plan = self
            .rt
            .block_on(
                self.state
                    .statement_to_plan(DfStatement::Statement(Box::new(stmt))),
            )
            .map_err(df)?;
        let plan = self.state.optimize(&plan).map_err(df)?;
        let mut c = self.plans.lock().unwrap_or_else(|e| e.into_inner());
        c.insert(0, (key.to_string(), plan.clone()));
        c.truncate(PLAN_CACHE);
        Ok(plan)
    }

    fn cached(&self, key: &str) -> Option<LogicalPlan> {
        let c = self.plans.lock().unwrap_or_else(|e| e.into_inner());
        c.iter().find(|(k, _)| k == key).map(|(_, p)| p.clone())
    }

    /// Forgets cached plans (the catalog changed).
    pub fn invalidate(&self) {
        self.plans.lock().unwrap_or_else(|e| e.into_inner()).clear();
        self.physical
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    /// Runs the optimized plan cached under `key` (see [`Engine::plan`]) with parameter
    /// values; returns its batch stream. A plan without bound parameters whose physical plan
    /// can run again keeps that physical plan: running the same text again skips planning.
    pub fn execute(
        &self,
        key: &str,
        plan: &LogicalPlan,
        params: Vec<ScalarValue>,
    ) -> Result<Stream> {
        let cached = self
            .physical
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, p)| p.clone());
        let phys = match cached {
            // a fresh copy: the last run used up the state of its nodes (TopK's filter)
            Some(p) => {
                datafusion::physical_plan::execution_plan::reset_plan_states(p).map_err(df)?
            }
            None => {
                let p = self.physical_plan(plan, &params)?;
                if params.is_empty() && Self::reusable(plan, &p) {
                    let mut c = self.physical.lock().unwrap_or_else(|e| e.into_inner());
                    c.insert(0, (key.to_string(), p.clone()));
                    c.truncate(PLAN_CACHE);
                }
                p
            }
        };
        // EXPLAIN ANALYZE spawns its input on the runtime when it starts
        let _in_runtime = self.rt.enter();
        let stream =
            datafusion::physical_plan::execute_stream(phys, self.state.task_ctx()).map_err(df)?;
        Ok(Stream {
            rt: self.rt.clone(),
            inner: stream,
        })
    }

    /// Whether a physical plan may run again for a later execution of the same text: not an
    /// EXPLAIN (its metrics would add up), and no nestdb scan (a scan reads the table version
    /// of its planning; a search reads the current one when it starts, with the session's
    /// settings and parameters of that moment).
    fn reusable(plan: &LogicalPlan, p: &Arc<dyn ExecutionPlan>) -> bool {
        fn no_scan(p: &Arc<dyn ExecutionPlan>) -> bool {
            p.name() != "NestdbScan" && p.children().into_iter().all(no_scan)
        }
        !matches!(plan, LogicalPlan::Explain(_) | LogicalPlan::Analyze(_)) && no_scan(p)
    }

    fn physical_plan(
        &self,
        plan: &LogicalPlan,
        params: &[ScalarValue],
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let plan = if params.is_empty() {
            plan.clone()
        } else {
            plan.clone()
                .replace_params_with_values(&ParamValues::from(params.to_vec()))
                .map_err(df)?
        };
        self.rt
            .block_on(
                self.state
                    .query_planner()
                    .create_physical_plan(&plan, &self.state),
            )
            .map_err(df)
    }

    /// The types of a plan's parameters (`$1` first).
    pub fn param_types(
        plan: &LogicalPlan,
    ) -> HashMap<String, Option<datafusion::arrow::datatypes::DataType>> {
        plan.get_parameter_types().unwrap_or_default()
    }
}

/// A query's batches, pulled one at a time.
pub struct Stream {
    rt: Arc<tokio::runtime::Runtime>,
    inner: SendableRecordBatchStream,
}

impl Stream {
    /// The batches' schema.
    pub fn schema(&self) -> datafusion::arrow::datatypes::SchemaRef {
        self.inner.schema()
    }

    /// Every remaining batch.
    pub fn collect(self) -> Result<Vec<RecordBatch>> {
        self.collect_vec()
    }

    fn collect_vec(self) -> Result<Vec<RecordBatch>> {
        let mut out = Vec::new();
        for b in self {
            out.push(b?);
        }
        Ok(out)
    }
}

impl Iterator for Stream {
    type Item = Result<RecordBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        self.rt.block_on(self.inner.next()).map(|r| r.map_err(df))
    }
}

/// A DataFusion error as a nestdb error (nestdb's own errors come back unwrapped).
pub fn df(e: DataFusionError) -> crate::Error {
    match e {
        DataFusionError::External(inner) => match inner.downcast::<crate::Error>() {
            Ok(e) => *e,
            Err(other) => crate::Error::Sql(crate::sql::SqlError::plain(clean(&other.to_string()))),
        },
        DataFusionError::Context(_, inner) => df(*inner),
        DataFusionError::Diagnostic(d, inner) => {
            crate::Error::Sql(crate::sql::SqlError::diagnostic(&d, &inner))
        }
        other => crate::Error::Sql(crate::sql::SqlError::plain(clean(&other.strip_backtrace()))),
    }
}

impl SqlError {
    /// A DataFusion diagnostic (its message and, when it has one, its position).
    pub fn diagnostic(
        d: &datafusion::common::Diagnostic,
        inner: &datafusion::common::DataFusionError,
    ) -> SqlError {
        let mut e = SqlError::plain(if d.message.is_empty() {
            clean(&inner.strip_backtrace())
        } else {
            d.message.clone()
        });
        if let Some(span) = &d.span {
            e.line = span.start.line;
            e.column = span.start.column;
            e.width = if span.end.line == span.start.line && span.end.column > span.start.column {
                span.end.column - span.start.column
            } else {
                1
            };
        }
        e
    }
}

/// DataFusion's message without its category prefixes and candidate lists.
pub fn clean(msg: &str) -> String {
    let mut m = msg.trim();
    loop {
        let before = m;
        for p in [
            "Error during planning: ",
            "Execution error: ",
            "This feature is not implemented: ",
            "Schema error: ",
            "Arrow error: ",
            "Optimizer rule 'nestdb_vector_search' failed\ncaused by\n",
            "External error: ",
        ] {
            m = m.strip_prefix(p).unwrap_or(m).trim();
        }
        if m == before {
            break;
        }
    }
    let m = m
        .split("\n\tCandidate functions:")
        .next()
        .unwrap_or(m)
        .trim();
    if let Some((_, inner)) = m.split_once("coercion failed with: ") {
        let inner = inner.split(". No function matches").next().unwrap_or(inner);
        return clean(inner);
    }
    m.to_string()
}
