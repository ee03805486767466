//! The Parquet side of a segment: writer properties, splitting vectors into band columns, and
//! a byte source that verifies block checksums as the Parquet reader fetches bytes.
//!
//! Band columns are written PLAIN, uncompressed, without dictionary or statistics, with one data
//! page per column chunk: the values of a row group then sit contiguously at the end of the
//! chunk, so the search reads row `r` of band `b` straight from the mapped file (each vector is
//! stored once, at full precision, and any Parquet reader still sees `FixedSizeList<Float32>`
//! columns). Every other column is ZSTD-compressed as usual.

use std::sync::Arc;

use arrow_array::{Array, ArrayRef, FixedSizeListArray, Float32Array};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use bytes::Bytes;
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::file::reader::{ChunkReader, Length};
use parquet::schema::types::ColumnPath;

use crate::blockcrc::Verified;
use crate::conform::vector_values;
use crate::schema::{vector_type, TableSchema, ROWID};

/// Parquet key-value metadata key holding the table schema (JSON).
pub const PARQUET_SCHEMA_KEY: &str = "nestdb.schema";
/// Parquet key-value metadata key holding the band ranges, e.g. `0:32,32:64,...`.
pub const PARQUET_BANDS_KEY: &str = "nestdb.bands";
/// Rows per row group (the last one may be shorter).
pub const ROW_GROUP_ROWS: usize = 32_768;

/// Name of the Parquet column holding dimensions `[start, end)` of vector column `vec`.
pub fn band_column(vec: &str, start: usize, end: usize) -> String {
    format!("_{vec}_{start}_{end}")
}

/// The Parquet schema of a segment: `_rowid`, user columns with the vector split into bands.
pub fn parquet_schema(schema: &TableSchema) -> SchemaRef {
    let mut fields = vec![Field::new(ROWID, DataType::UInt64, false)];
    for (i, c) in schema.columns().iter().enumerate() {
        if i == schema.vector_index() {
            for (s, e) in schema.bands() {
                fields.push(Field::new(
                    band_column(&c.name, s, e),
                    vector_type(e - s),
                    false,
                ));
            }
        } else {
            fields.push(schema.arrow_field(i, c));
        }
    }
    Arc::new(Schema::new(fields))
}

/// Writer properties of a segment's Parquet file (see the module docs).
pub fn writer_properties(
    schema: &TableSchema,
    meta: Vec<parquet::file::metadata::KeyValue>,
) -> WriterProperties {
    let mut props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(
            ZstdLevel::try_new(1).expect("zstd level 1 exists"),
        ))
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_data_page_row_count_limit(ROW_GROUP_ROWS)
        .set_key_value_metadata(Some(meta));
    for (s, e) in schema.bands() {
        let p = ColumnPath::new(vec![
            band_column(schema.vector_name(), s, e),
            "list".into(),
            "item".into(),
        ]);
        props = props
            .set_column_dictionary_enabled(p.clone(), false)
            .set_column_encoding(p.clone(), Encoding::PLAIN)
            .set_column_compression(p.clone(), Compression::UNCOMPRESSED)
            .set_column_statistics_enabled(p.clone(), EnabledStatistics::None)
            .set_column_data_page_size_limit(p, usize::MAX);
    }
    props.build()
}

/// The band columns of a vector column (`rows x dim` values).
pub fn split_bands(schema: &TableSchema, col: &ArrayRef) -> Vec<ArrayRef> {
    let d = schema.dim();
    let v = vector_values(col);
    let n = col.len();
    schema
        .bands()
        .into_iter()
        .map(|(s, e)| {
            let mut out = Vec::with_capacity(n * (e - s));
            for r in 0..n {
                out.extend_from_slice(&v[r * d + s..r * d + e]);
            }
            fsl(out, e - s)
        })
        .collect()
}

/// A non-nullable `FixedSizeList<Float32>(width)` over `values`.
pub fn fsl(values: Vec<f32>, width: usize) -> ArrayRef {
    Arc::new(FixedSizeListArray::new(
        Arc::new(Field::new("item", DataType::Float32, false)),
        width as i32,
        Arc::new(Float32Array::from(values)),
        None,
    ))
}

/// A mapped Parquet file whose 64 KiB blocks are verified against their stored checksums as
/// the reader fetches them.
#[derive(Clone)]
pub struct VerifiedBytes {
    pub(crate) bytes: Bytes,
    pub(crate) crcs: Arc<Vec<u32>>,
    pub(crate) verified: Arc<Verified>,
}

impl VerifiedBytes {
    /// Verifies bytes `start..start + len`.
    pub fn ensure(&self, start: usize, len: usize) -> parquet::errors::Result<()> {
        let end = start.saturating_add(len).min(self.bytes.len());
        self.verified
            .ensure(&self.crcs, 0, &self.bytes, start.min(end)..end)
            .map_err(|b| {
                parquet::errors::ParquetError::General(format!(
                    "checksum mismatch in block {} (stored {:#010x}, computed {:#010x}); the file is corrupted",
                    b.block, b.stored, b.computed
                ))
            })
    }
}

impl Length for VerifiedBytes {
    fn len(&self) -> u64 {
        self.bytes.len() as u64
    }
}

impl ChunkReader for VerifiedBytes {
    type T = bytes::buf::Reader<Bytes>;

    fn get_read(&self, start: u64) -> parquet::errors::Result<Self::T> {
        // page headers and the footer are read through this; verify the block they start in
        self.ensure(start as usize, 1)?;
        self.bytes.get_read(start)
    }

    fn get_bytes(&self, start: u64, length: usize) -> parquet::errors::Result<Bytes> {
        self.ensure(start as usize, length)?;
        self.bytes.get_bytes(start, length)
    }
}
