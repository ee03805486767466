//! Streaming scans: the rows of a snapshot a filter keeps, a row group at a time (so a scan of
//! ten million rows never holds more than one row group's columns), with `_rowid`.

use std::sync::Arc;

use arrow_array::{ArrayRef, RecordBatch, RecordBatchOptions, UInt32Array, UInt64Array};
use arrow_schema::{Field, Schema, SchemaRef};
use nestdb_storage::schema::ROWID;
use nestdb_storage::TableVersion;

use crate::error::Result;
use crate::filter::{Filter, RowSet, Selection};

/// Which columns a scan returns: schema indices of user columns, and whether `_rowid` follows
/// (in the order given: `None` entries are `_rowid`).
pub type Projection = Vec<Option<usize>>;

/// The Arrow schema of `proj` over `v`'s table.
pub fn schema_of(v: &TableVersion, proj: &Projection) -> SchemaRef {
    let s = v.def.schema.arrow_schema();
    Arc::new(Schema::new(
        proj.iter()
            .map(|p| match p {
                Some(i) => s.field(*i).clone(),
                None => Field::new(ROWID, arrow_schema::DataType::UInt64, false),
            })
            .collect::<Vec<_>>(),
    ))
}

/// A scan of one version (see the module docs).
pub struct Scan {
    v: Arc<TableVersion>,
    proj: Projection,
    schema: SchemaRef,
    sel: Option<Selection>,
    filter: Option<Filter>,
    limit: Option<usize>,
    emitted: usize,
    next: (usize, usize),
}

impl Scan {
    /// Rows of `v` kept by `filter` (all live rows without one), at most `limit`.
    pub fn new(
        v: Arc<TableVersion>,
        proj: Projection,
        filter: Option<Filter>,
        limit: Option<usize>,
    ) -> Scan {
        Scan {
            schema: schema_of(&v, &proj),
            v,
            proj,
            sel: None,
            filter,
            limit,
            emitted: 0,
            next: (0, 0),
        }
    }

    fn selection(&mut self) -> Result<()> {
        if self.sel.is_none() {
            let s = match &self.filter {
                Some(f) => f.selection(&self.v)?,
                None => Selection::all(&self.v),
            };
            self.sel = Some(s);
        }
        Ok(())
    }

    /// The next batch (None when done).
    fn step(&mut self) -> Result<Option<RecordBatch>> {
        let left = self
            .limit
            .map_or(usize::MAX, |l| l.saturating_sub(self.emitted));
        if left == 0 {
            return Ok(None);
        }
        self.selection()?;
        let v = self.v.clone();
        let nseg = v.segments.len();
        let with_ids = self.proj.contains(&None);
        loop {
            let (src, g) = self.next;
            if src >= nseg + v.mem.chunks().len() {
                return Ok(None);
            }
            let sel = self.sel.as_ref().expect("computed above");
            let (offs, ids, next): (Vec<u32>, Vec<u64>, (usize, usize)) = if src < nseg {
                let s = &v.segments[src];
                if g >= s.row_groups() {
                    self.next = (src + 1, 0);
                    continue;
                }
                let (a, z) = s.group_range(g);
                let offs: Vec<u32> = match &sel.segments[src] {
                    RowSet::Nothing => Vec::new(),
                    _ => (a as u32..z as u32)
                        .filter(|&o| sel.keep_segment_row(&v, src, o))
                        .take(left)
                        .collect(),
                };
                let ids = if with_ids {
                    offs.iter()
                        .map(|&o| s.rowid(o as usize))
                        .collect::<Result<_, _>>()?
                } else {
                    Vec::new()
                };
                (offs, ids, (src, g + 1))
            } else {
                let c = src - nseg;
                let chunk = &v.mem.chunks()[c];
                let offs: Vec<u32> = (0..chunk.rowids.len())
                    .filter(|&o| sel.keep_mem_row(&v, c, o))
                    .map(|o| o as u32)
                    .take(left)
                    .collect();
                let ids = offs.iter().map(|&o| chunk.rowids[o as usize]).collect();
                (offs, ids, (src + 1, 0))
            };
            self.next = next;
            if offs.is_empty() {
                continue;
            }
            let batch = self.materialize(src, &offs, ids)?;
            self.emitted += batch.num_rows();
            return Ok(Some(batch));
        }
    }

    fn materialize(&self, src: usize, offs: &[u32], ids: Vec<u64>) -> Result<RecordBatch> {
        let v = &self.v;
        let nseg = v.segments.len();
        let mut ids = Some(ids);
        let cols: Vec<ArrayRef> = self
            .proj
            .iter()
            .map(|p| -> Result<ArrayRef> {
                Ok(match p {
                    None => Arc::new(UInt64Array::from(ids.take().unwrap_or_default())),
                    Some(i) if src < nseg => v.segments[src].take(*i, offs)?,
                    Some(i) => {
                        let col = v.mem.chunks()[src - nseg].batch.column(*i);
                        arrow_select::take::take(
                            col.as_ref(),
                            &UInt32Array::from(offs.to_vec()),
                            None,
                        )?
                    }
                })
            })
            .collect::<Result<_>>()?;
        Ok(RecordBatch::try_new_with_options(
            self.schema.clone(),
            cols,
            &RecordBatchOptions::new().with_row_count(Some(offs.len())),
        )?)
    }
}

impl Iterator for Scan {
    type Item = Result<RecordBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        self.step().transpose()
    }
}
