//! Turns row addresses into an Arrow `RecordBatch`: the selected user columns, then `_rowid`
//! and `_distance` (lance's convention). Segment columns are read only for the row groups the
//! addresses fall in (keys and row ids from the sidecar).

use std::sync::Arc;

use arrow_array::{
    Array, ArrayRef, Float32Array, Int64Array, RecordBatch, UInt32Array, UInt64Array,
};
use arrow_schema::{DataType, Field, Schema};
use nestdb_storage::schema::ROWID;
use nestdb_storage::TableVersion;

use crate::error::Result;
use crate::topk::Cand;

/// Name of the distance column.
pub const DISTANCE: &str = "_distance";

/// The value of column `idx` for rows at `addrs` (segment position or `segments + chunk`).
pub fn gather(v: &TableVersion, idx: usize, addrs: &[u64]) -> Result<ArrayRef> {
    let nseg = v.segments.len();
    if idx == v.def.schema.pk_index() {
        let vals = addrs
            .iter()
            .map(|&a| {
                let c = Cand { dist: 0.0, addr: a };
                if c.source() < nseg {
                    Ok(v.segments[c.source()].pk(c.offset())?)
                } else {
                    let chunk = &v.mem.chunks()[c.source() - nseg];
                    Ok(chunk
                        .batch
                        .column(idx)
                        .as_any()
                        .downcast_ref::<Int64Array>()
                        .map_or(0, |a| a.value(c.offset())))
                }
            })
            .collect::<Result<Vec<i64>>>()?;
        return Ok(Arc::new(Int64Array::from(vals)));
    }
    let mut sources: Vec<usize> = addrs.iter().map(|&a| (a >> 32) as usize).collect();
    sources.sort_unstable();
    sources.dedup();
    if sources.is_empty() {
        let ty = v.def.schema.columns()[idx].ty.arrow_type();
        return Ok(arrow_array::new_empty_array(&ty));
    }
    // each source's rows, in address order of appearance
    let mut per: Vec<Vec<u32>> = vec![Vec::new(); sources.len()];
    let mut at: Vec<(usize, usize)> = Vec::with_capacity(addrs.len());
    for &a in addrs {
        let slot = sources.binary_search(&((a >> 32) as usize)).unwrap_or(0);
        at.push((slot, per[slot].len()));
        per[slot].push((a & 0xffff_ffff) as u32);
    }
    let arrays: Vec<ArrayRef> = sources
        .iter()
        .zip(&per)
        .map(|(&src, offs)| -> Result<ArrayRef> {
            Ok(if src < nseg {
                v.segments[src].take(idx, offs)?
            } else {
                let col = v.mem.chunks()[src - nseg].batch.column(idx);
                arrow_select::take::take(col.as_ref(), &UInt32Array::from(offs.clone()), None)?
            })
        })
        .collect::<Result<_>>()?;
    let refs: Vec<&dyn Array> = arrays.iter().map(|a| a.as_ref()).collect();
    Ok(arrow_select::interleave::interleave(&refs, &at)?)
}

/// Row ids of rows at `addrs`.
pub fn rowids(v: &TableVersion, addrs: &[u64]) -> Result<UInt64Array> {
    let nseg = v.segments.len();
    let ids = addrs
        .iter()
        .map(|&a| {
            let c = Cand { dist: 0.0, addr: a };
            if c.source() < nseg {
                Ok(v.segments[c.source()].rowid(c.offset())?)
            } else {
                Ok(v.mem.chunks()[c.source() - nseg].rowids[c.offset()])
            }
        })
        .collect::<Result<Vec<u64>>>()?;
    Ok(UInt64Array::from(ids))
}

/// Builds the result batch for `hits` (best first): columns `select` (schema indices), then
/// `_rowid`, then `_distance` when `with_distance`.
pub fn build(
    v: &TableVersion,
    hits: &[Cand],
    select: &[usize],
    with_distance: bool,
) -> Result<RecordBatch> {
    let addrs: Vec<u64> = hits.iter().map(|c| c.addr).collect();
    let schema = v.def.schema.arrow_schema();
    let mut fields: Vec<Field> = Vec::with_capacity(select.len() + 2);
    let mut cols: Vec<ArrayRef> = Vec::with_capacity(select.len() + 2);
    for &i in select {
        fields.push(schema.field(i).clone());
        cols.push(gather(v, i, &addrs)?);
    }
    fields.push(Field::new(ROWID, DataType::UInt64, false));
    cols.push(Arc::new(rowids(v, &addrs)?));
    if with_distance {
        fields.push(Field::new(DISTANCE, DataType::Float32, false));
        cols.push(Arc::new(Float32Array::from_iter_values(
            hits.iter().map(|c| c.dist),
        )));
    }
    Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), cols)?)
}

/// `b` with only the columns `keep` (by name, in `b`'s order), plus `_rowid`, `_distance` and
/// `_score` when present.
pub fn project(b: &RecordBatch, keep: &[String]) -> Result<RecordBatch> {
    let idx: Vec<usize> = b
        .schema()
        .fields()
        .iter()
        .enumerate()
        .filter(|(_, f)| {
            keep.contains(f.name())
                || [ROWID, DISTANCE, super::rerank::SCORE].contains(&f.name().as_str())
        })
        .map(|(i, _)| i)
        .collect();
    Ok(b.project(&idx)?)
}
