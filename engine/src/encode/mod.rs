//! Turning rows into segments under a learned index (or none).
//!
//! - [`write_rows`]: rows already in memory (a flush, a bulk load's buffer): coded, clustered by
//!   partition, written.
//! - [`spill::compact`]: every live row of a version into one segment, out of core: rows are
//!   spread over temporary bucket files by partition, then each bucket is sorted and written,
//!   so memory stays bounded by a bucket whatever the table's size.
//! - [`sample::vectors`]: a uniform sample of a version's vectors (what an index is fit on).

pub mod behind;
pub mod labels;
pub mod rows;
pub mod sample;
pub mod sink;
pub mod spill;
pub mod zones;

use arrow_array::{RecordBatch, UInt32Array};
use nestdb_storage::conform::vector_values;
use nestdb_storage::{SegmentFactory, SegmentMeta};

use crate::error::Result;
use crate::index::IndexModel;
use crate::layout::Layout;
use labels::LabelSet;
use rows::CodedRows;
use sink::{path_columns, Sink};

/// Writes `batch` (canonical schema) with its row ids as one new segment coded under `model`,
/// rows clustered by partition. Returns the segment to commit.
pub fn write_rows(
    w: &mut dyn SegmentFactory,
    model: Option<&IndexModel>,
    layout: &Layout,
    batch: &RecordBatch,
    rowids: &[u64],
) -> Result<SegmentMeta> {
    let schema = w.schema().clone();
    let coded = CodedRows::code(
        model,
        layout,
        vector_values(batch.column(schema.vector_index())),
    );
    let (batch, rowids, coded) = match model {
        Some(m) => {
            let order = partition_order(&coded.parts);
            let idx = UInt32Array::from(order.clone());
            let cols = batch
                .columns()
                .iter()
                .map(|c| arrow_select::take::take(c.as_ref(), &idx, None))
                .collect::<Result<Vec<_>, _>>()?;
            let b = RecordBatch::try_new(batch.schema(), cols)?;
            let r: Vec<u64> = order.iter().map(|&o| rowids[o as usize]).collect();
            (b, r, coded.select(&order, Some(m)))
        }
        None => (batch.clone(), rowids.to_vec(), coded),
    };
    let dicts = path_columns(&schema)
        .into_iter()
        .map(|c| {
            let mut s = LabelSet::default();
            s.add(batch.column(c));
            s.dictionary()
        })
        .collect();
    let mut sink = Sink::new(w, model, layout, batch.num_rows(), dicts)?;
    sink.push(&batch, &rowids, &coded)?;
    sink.finish()
}

/// Row positions sorted by partition, stable (rows of a partition keep their order).
pub fn partition_order(parts: &[u32]) -> Vec<u32> {
    let mut order: Vec<u32> = (0..parts.len() as u32).collect();
    order.sort_by_key(|&i| parts[i as usize]);
    order
}
