//! Read views: a snapshot pins one table version for scans, counts and searches.

use std::sync::Arc;

use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema};
use nestdb_storage::schema::ROWID;
use nestdb_storage::TableVersion;

use crate::error::{QueryError, Result};
use crate::filter::Filter;
use crate::filter::Selection;
use crate::search::results;
use crate::table::Table;
use crate::topk::Cand;

/// A consistent view of one table version. Writers never change what it returns.
#[derive(Clone)]
pub struct Snapshot {
    pub(crate) table: Table,
    pub(crate) version: Arc<TableVersion>,
}

impl Snapshot {
    pub(crate) fn new(table: Table, version: Arc<TableVersion>) -> Snapshot {
        Snapshot { table, version }
    }

    /// The table this snapshot reads.
    pub fn table(&self) -> &Table {
        &self.table
    }

    /// The manifest version this snapshot reads (flushes and compactions add one).
    pub fn version(&self) -> u64 {
        self.version.manifest.version
    }

    /// Live rows.
    pub fn count(&self) -> usize {
        self.version.count()
    }

    /// Starts a vector search (see [`crate::Search`]).
    pub fn search(&self, query: &[f32]) -> crate::Search {
        crate::Search::new(self.clone(), query.to_vec())
    }

    /// Resolves column names to schema indices; `None` selects every column.
    pub(crate) fn columns(
        &self,
        names: Option<&[String]>,
        all_with_vector: bool,
    ) -> Result<Vec<usize>> {
        let schema = &self.version.def.schema;
        match names {
            None => Ok((0..schema.columns().len())
                .filter(|&i| all_with_vector || i != schema.vector_index())
                .collect()),
            Some(ns) => ns
                .iter()
                .filter(|n| n.as_str() != ROWID && n.as_str() != results::DISTANCE)
                .map(|n| {
                    schema.index_of(n).ok_or_else(|| {
                        QueryError::UnknownColumn {
                            column: n.clone(),
                            table: self.version.def.name.clone(),
                            known: schema.column_list(),
                        }
                        .into()
                    })
                })
                .collect(),
        }
    }

    /// Names of the user columns `names` selects (every column but the vector when `None`).
    pub(crate) fn columns_named(&self, names: Option<&[String]>) -> Result<Vec<String>> {
        let schema = &self.version.def.schema;
        Ok(self
            .columns(names, false)?
            .into_iter()
            .map(|i| schema.columns()[i].name.clone())
            .collect())
    }

    /// Addresses of the selected live rows, in storage order, at most `limit`.
    pub(crate) fn addresses(&self, sel: &Selection, limit: Option<usize>) -> Vec<u64> {
        let v = &self.version;
        let limit = limit.unwrap_or(usize::MAX);
        let mut out = Vec::new();
        for (pos, s) in v.segments.iter().enumerate() {
            for off in 0..s.rows() as u32 {
                if out.len() >= limit {
                    return out;
                }
                if sel.keep_segment_row(v, pos, off) {
                    out.push(Cand::addr(pos, off as usize));
                }
            }
        }
        let base = v.segments.len();
        for (c, chunk) in v.mem.chunks().iter().enumerate() {
            for off in 0..chunk.rowids.len() {
                if out.len() >= limit {
                    return out;
                }
                if sel.keep_mem_row(v, c, off) {
                    out.push(Cand::addr(base + c, off));
                }
            }
        }
        out
    }

    /// Reads rows: the `projection` columns (every column, the vector included, when `None`;
    /// `_rowid` may be named too), at most `limit` rows, in storage order.
    pub fn scan(&self, projection: Option<&[&str]>, limit: Option<usize>) -> Result<RecordBatch> {
        self.scan_where(None, projection, limit)
    }

    /// Like [`Snapshot::scan`], keeping only rows matching `filter`.
    pub fn scan_where(
        &self,
        filter: Option<&Filter>,
        projection: Option<&[&str]>,
        limit: Option<usize>,
    ) -> Result<RecordBatch> {
        let names: Option<Vec<String>> =
            projection.map(|p| p.iter().map(|s| s.to_string()).collect());
        let sel = self.selection(filter)?;
        let addrs = self.addresses(&sel, limit);
        self.materialize(&addrs, names.as_deref())
    }

    /// Live rows matching `filter` (all live rows without one).
    pub fn count_where(&self, filter: Option<&Filter>) -> Result<usize> {
        match filter {
            None => Ok(self.count()),
            Some(f) => Ok(f.selection(&self.version)?.count(&self.version) as usize),
        }
    }

    /// The rows `filter` keeps.
    pub(crate) fn selection(&self, filter: Option<&Filter>) -> Result<Selection> {
        match filter {
            None => Ok(Selection::all(&self.version)),
            Some(f) => f.selection(&self.version),
        }
    }

    /// Builds a batch of the named columns for rows at `addrs`.
    pub(crate) fn materialize(
        &self,
        addrs: &[u64],
        names: Option<&[String]>,
    ) -> Result<RecordBatch> {
        let v = &self.version;
        let idx = self.columns(names, true)?;
        let schema = v.def.schema.arrow_schema();
        let mut fields = Vec::new();
        let mut cols: Vec<ArrayRef> = Vec::new();
        let order: Vec<String> = match names {
            Some(n) => n.to_vec(),
            None => idx
                .iter()
                .map(|&i| schema.field(i).name().clone())
                .collect(),
        };
        for name in &order {
            if name == ROWID {
                fields.push(Field::new(ROWID, DataType::UInt64, false));
                cols.push(Arc::new(results::rowids(v, addrs)?));
            } else if let Some(i) = v.def.schema.index_of(name) {
                fields.push(schema.field(i).clone());
                cols.push(results::gather(v, i, addrs)?);
            }
        }
        Ok(RecordBatch::try_new_with_options(
            Arc::new(Schema::new(fields)),
            cols,
            &arrow_array::RecordBatchOptions::new().with_row_count(Some(addrs.len())),
        )?)
    }
}
