//! Segment encoders: turn rows into the sidecar layout the search reads.
//!
//! [`Encoder`] encodes under the table's current index (or none: transformed vectors split
//! into band regions). [`FitEncoder`] fits a new index to the rows it is given (during
//! compaction), encodes them under it, and hands the model to storage to install in the same
//! commit.

use std::sync::{Arc, Mutex};

use arrow_array::RecordBatch;
use nestdb_storage::conform::vector_values;
use nestdb_storage::container::as_bytes;
use nestdb_storage::{
    sections, EncodedSegment, NewIndex, SegmentEncoder, StorageError, TableSchema,
};

use crate::index::fit::{self, IndexOptions};
use crate::index::IndexModel;
use crate::layout::Layout;

/// Encodes segments under a fixed (or no) index.
pub struct Encoder {
    /// The layout vectors are stored in.
    pub layout: Layout,
    /// The learned index, if any (its version is recorded in each segment).
    pub model: Option<Arc<IndexModel>>,
    /// Index of the vector column.
    pub vector_index: usize,
    /// Indices of PATH columns (label dictionaries).
    pub path_columns: Vec<usize>,
}

/// Indices of `schema`'s PATH columns.
fn path_columns(schema: &TableSchema) -> Vec<usize> {
    (0..schema.columns().len())
        .filter(|&i| schema.columns()[i].ty == nestdb_storage::ColumnType::Path)
        .collect()
}

/// Label dictionaries of every PATH column, for rows stored in `order`.
fn label_sections(
    batch: &RecordBatch,
    cols: &[usize],
    order: Option<&[u32]>,
) -> Vec<(u32, Vec<u8>)> {
    cols.iter()
        .flat_map(|&c| crate::filter::labels::sections(batch, c, order))
        .collect()
}

impl Encoder {
    /// An encoder for `schema` under `model`.
    pub fn new(schema: &TableSchema, model: Option<Arc<IndexModel>>) -> Encoder {
        Encoder {
            layout: crate::index::layout_for(schema, model.as_deref()),
            model,
            vector_index: schema.vector_index(),
            path_columns: path_columns(schema),
        }
    }
}

/// Adds the layout description and band regions to `enc`.
fn finish(mut enc: EncodedSegment, layout: &Layout, bands: Vec<Vec<f32>>) -> EncodedSegment {
    let layout_json = serde_json::json!({
        "layout": 1,
        "normalized": layout.normalized(),
        "rotated": layout.rotation.is_some(),
        "bands": layout.bands,
        "index_version": enc.index_version,
    });
    enc.sections
        .push((sections::LAYOUT, layout_json.to_string().into_bytes()));
    for (b, region) in bands.into_iter().enumerate() {
        enc.sections
            .push((sections::BAND_BASE + b as u32, as_bytes(&region).to_vec()));
    }
    enc
}

impl SegmentEncoder for Encoder {
    fn encode(&self, batch: &RecordBatch, _next: u64) -> Result<EncodedSegment, StorageError> {
        let mut x = vector_values(batch.column(self.vector_index)).to_vec();
        self.layout.transform_rows(&mut x);
        let mut enc = EncodedSegment::default();
        let bands = match &self.model {
            Some(m) => {
                let e = m.encode_transformed(&self.layout, &x);
                enc.sections.extend(e.sections());
                enc.index_version = m.version;
                enc.order = Some(e.order);
                e.bands
            }
            None => self.layout.band_regions(&x),
        };
        enc.sections.extend(label_sections(
            batch,
            &self.path_columns,
            enc.order.as_deref(),
        ));
        Ok(finish(enc, &self.layout, bands))
    }
}

/// Fits a new index to the rows it encodes.
pub struct FitEncoder {
    schema: TableSchema,
    options: IndexOptions,
    fitted: Mutex<Option<Arc<IndexModel>>>,
}

impl FitEncoder {
    /// An encoder that fits with `options`.
    pub fn new(schema: &TableSchema, options: IndexOptions) -> FitEncoder {
        FitEncoder {
            schema: schema.clone(),
            options,
            fitted: Mutex::new(None),
        }
    }

    /// The model fit by the last [`SegmentEncoder::encode`] call.
    pub fn fitted(&self) -> Option<Arc<IndexModel>> {
        self.fitted
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl SegmentEncoder for FitEncoder {
    fn encode(&self, batch: &RecordBatch, next: u64) -> Result<EncodedSegment, StorageError> {
        let x = vector_values(batch.column(self.schema.vector_index()));
        let fit::Fitted {
            model,
            layout,
            rows,
        } = fit::fit(&self.schema, x, next, &self.options)
            .map_err(|e| StorageError::Encode(Box::new(e)))?;
        let mut sections = rows.sections();
        sections.extend(label_sections(
            batch,
            &path_columns(&self.schema),
            Some(&rows.order),
        ));
        let enc = EncodedSegment {
            sections,
            order: Some(rows.order),
            index_version: next,
            new_index: Some(NewIndex {
                fit_rows: model.meta.fit_rows as u64,
                sections: model.to_sections(),
            }),
        };
        *self.fitted.lock().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(model));
        Ok(finish(enc, &layout, rows.bands))
    }
}
