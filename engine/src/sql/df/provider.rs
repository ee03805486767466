//! nestdb tables as DataFusion tables: the user's columns plus `_rowid`, scanned a row group at
//! a time with the projection, the filters nestdb can evaluate (label ordinals, zone maps,
//! dictionaries) and the limit pushed down; row counts for the planner.

use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::stats::Precision;
use datafusion::common::{Result, Statistics};
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown, TableType};
use datafusion::physical_plan::ExecutionPlan;
use nestdb_storage::schema::ROWID;

use super::exec::{BatchSource, Batches, LeafExec};
use super::filters;
use crate::filter::Filter;
use crate::scan::{Projection, Scan};
use crate::sql::Settings;
use crate::Table;

/// A nestdb table registered with DataFusion.
#[derive(Debug)]
pub struct NestTable {
    pub(crate) table: Table,
    pub(crate) settings: Arc<RwLock<Settings>>,
    /// The session's parameter values (searches bind their filters' parameters when they run).
    pub(crate) params: super::param::SharedParams,
    schema: SchemaRef,
}

impl std::fmt::Debug for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Table").field("name", &self.name()).finish()
    }
}

impl NestTable {
    /// `table` with the session's `settings` and parameter values.
    pub fn new(
        table: Table,
        settings: Arc<RwLock<Settings>>,
        params: super::param::SharedParams,
    ) -> NestTable {
        let mut fields: Vec<Field> = table
            .schema()
            .arrow_schema()
            .fields()
            .iter()
            .map(|f| f.as_ref().clone())
            .collect();
        fields.push(Field::new(ROWID, DataType::UInt64, false));
        NestTable {
            table,
            settings,
            params,
            schema: Arc::new(Schema::new(fields)),
        }
    }

    /// Schema indices of a DataFusion projection (`_rowid` is `None`).
    pub fn projection(&self, p: Option<&Vec<usize>>) -> Projection {
        let n = self.table.schema().columns().len();
        let all: Vec<usize> = (0..=n).collect();
        p.unwrap_or(&all)
            .iter()
            .map(|&i| (i < n).then_some(i))
            .collect()
    }

    /// The filters DataFusion pushed, as one nestdb filter.
    pub fn filter(&self, exprs: &[Expr]) -> Option<Filter> {
        exprs
            .iter()
            .filter_map(filters::translate)
            .reduce(|a, b| a.and(b))
    }
}

#[async_trait]
impl TableProvider for NestTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let snap = self.table.snapshot();
        let proj = self.projection(projection);
        let src = ScanSource {
            table: self.table.name().to_string(),
            version: snap.version.clone(),
            proj,
            filter: self.filter(filters),
            limit,
        };
        let schema = crate::scan::schema_of(&snap.version, &src.proj);
        Ok(Arc::new(LeafExec::new("NestdbScan", schema, Arc::new(src))))
    }

    fn supports_filters_pushdown(&self, f: &[&Expr]) -> Result<Vec<TableProviderFilterPushDown>> {
        Ok(f.iter()
            .map(|e| {
                if filters::translatable(e) {
                    TableProviderFilterPushDown::Exact
                } else {
                    TableProviderFilterPushDown::Unsupported
                }
            })
            .collect())
    }

    fn statistics(&self) -> Option<Statistics> {
        let rows = self.table.count();
        Some(Statistics::new_unknown(&self.schema).with_num_rows(Precision::Exact(rows)))
    }
}

/// A filtered scan of one version.
#[derive(Debug)]
struct ScanSource {
    table: String,
    version: Arc<nestdb_storage::TableVersion>,
    proj: Projection,
    filter: Option<Filter>,
    limit: Option<usize>,
}

impl BatchSource for ScanSource {
    fn open(&self) -> crate::Result<Batches> {
        Ok(Box::new(Scan::new(
            self.version.clone(),
            self.proj.clone(),
            self.filter.clone(),
            self.limit,
        )))
    }

    fn describe(&self) -> String {
        let mut s = format!("table={} rows={}", self.table, self.version.count());
        if let Some(f) = &self.filter {
            s.push_str(&format!(" filter=[{f}]"));
        }
        if let Some(l) = self.limit {
            s.push_str(&format!(" limit={l}"));
        }
        s
    }
}
