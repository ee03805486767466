//! The physical nodes nestdb adds to DataFusion plans: leaves that produce batches from a
//! nestdb source (a filtered scan, or a funnel search), streamed one batch at a time.

use std::fmt;
use std::sync::{Arc, Mutex};

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{DataFusionError, Result};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::metrics::{BaselineMetrics, ExecutionPlanMetricsSet, MetricsSet};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    ChildrenPropertiesMode, DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning,
    PlanProperties, ReplaceChildrenOptions,
};

/// Batches from nestdb.
pub type Batches = Box<dyn Iterator<Item = crate::Result<RecordBatch>> + Send>;

/// Something a leaf node reads batches from.
pub trait BatchSource: Send + Sync + fmt::Debug {
    /// Starts producing batches.
    fn open(&self) -> crate::Result<Batches>;
    /// One line for EXPLAIN.
    fn describe(&self) -> String;
    /// More lines for EXPLAIN ANALYZE, once the source ran.
    fn analyzed(&self) -> Option<String> {
        None
    }
}

/// A leaf node over a [`BatchSource`].
#[derive(Debug)]
pub struct LeafExec {
    name: &'static str,
    schema: SchemaRef,
    props: Arc<PlanProperties>,
    source: Arc<dyn BatchSource>,
    metrics: ExecutionPlanMetricsSet,
    ran: Arc<Mutex<bool>>,
}

impl LeafExec {
    /// A node named `name` producing `schema` batches from `source`.
    pub fn new(name: &'static str, schema: SchemaRef, source: Arc<dyn BatchSource>) -> LeafExec {
        let props = PlanProperties::new(
            EquivalenceProperties::new(schema.clone()),
            Partitioning::UnknownPartitioning(1),
            EmissionType::Incremental,
            Boundedness::Bounded,
        );
        LeafExec {
            name,
            schema,
            props: Arc::new(props),
            source,
            metrics: ExecutionPlanMetricsSet::new(),
            ran: Arc::new(Mutex::new(false)),
        }
    }
}

impl DisplayAs for LeafExec {
    fn fmt_as(&self, t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        match t {
            DisplayFormatType::TreeRender => write!(f, "{}", self.source.describe()),
            _ => {
                write!(f, "{}: {}", self.name, self.source.describe())?;
                if *self.ran.lock().unwrap_or_else(|e| e.into_inner()) {
                    if let Some(a) = self.source.analyzed() {
                        write!(f, " {a}")?;
                    }
                }
                Ok(())
            }
        }
    }
}

impl ExecutionPlan for LeafExec {
    fn name(&self) -> &str {
        self.name
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.props
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn replace_children(
        self: Arc<Self>,
        _c: Vec<Arc<dyn ExecutionPlan>>,
        _o: ReplaceChildrenOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        Ok(self)
    }

    fn with_new_children(
        self: Arc<Self>,
        c: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        self.replace_children(
            c,
            ReplaceChildrenOptions::new(ChildrenPropertiesMode::Recompute),
        )
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }

    fn execute(
        &self,
        partition: usize,
        _ctx: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let baseline = BaselineMetrics::new(&self.metrics, partition);
        let it = self.source.open().map_err(external)?;
        *self.ran.lock().unwrap_or_else(|e| e.into_inner()) = true;
        let iter = it.map(move |r| {
            let _t = baseline.elapsed_compute().timer();
            r.inspect(|b| baseline.record_output(b.num_rows()))
                .map_err(external)
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            self.schema.clone(),
            futures::stream::iter(iter),
        )))
    }
}

/// A nestdb error inside DataFusion.
pub fn external(e: crate::Error) -> DataFusionError {
    DataFusionError::External(Box::new(e))
}
