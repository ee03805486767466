//! Immutable segments: a Parquet file (user columns, `_rowid`, one column per vector band) and
//! a memory-mapped sidecar (row ids, keys, and the engine's band regions and index codes).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use arrow_array::{Array, ArrayRef, FixedSizeListArray, Float32Array, RecordBatch, UInt64Array};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use bytes::Bytes;
use memmap2::Mmap;
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder,
};
use parquet::arrow::{ArrowWriter, ProjectionMask};
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;
use parquet::schema::types::ColumnPath;

use crate::conform::vector_values;
use crate::container::{self, as_bytes, Container, FileKind, Section};
use crate::error::{Result, StorageError};
use crate::fsutil;
use crate::manifest::SegmentMeta;
use crate::schema::{vector_type, TableSchema, ROWID};
use crate::sections;

/// Parquet key-value metadata key holding the table schema (JSON).
pub const PARQUET_SCHEMA_KEY: &str = "nestdb.schema";
/// Parquet key-value metadata key holding the band ranges, e.g. `0:32,32:64,...`.
pub const PARQUET_BANDS_KEY: &str = "nestdb.bands";

/// Name of the Parquet column holding dimensions `[start, end)` of vector column `vec`.
pub fn band_column(vec: &str, start: usize, end: usize) -> String {
    format!("_{vec}_{start}_{end}")
}

/// What the engine adds to a segment: a row order and sidecar sections.
#[derive(Default)]
pub struct EncodedSegment {
    /// Row permutation (new position -> input row), or `None` to keep the input order.
    pub order: Option<Vec<u32>>,
    /// Sidecar sections computed from the rows in their final order.
    pub sections: Vec<(u32, Vec<u8>)>,
    /// Learned index version the sections were encoded with (0: none).
    pub index_version: u64,
    /// A learned index fit while encoding (compaction only), installed in the same commit as
    /// version `index_version`.
    pub new_index: Option<crate::flush::NewIndex>,
}

/// Turns rows into sidecar sections (the engine's learned layout).
pub trait SegmentEncoder: Send + Sync {
    /// Chooses the row order and builds the sidecar sections for `batch` (canonical schema).
    /// An encoder that fits a new index numbers it `next_index_version`.
    fn encode(&self, batch: &RecordBatch, next_index_version: u64) -> Result<EncodedSegment>;
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

fn split_bands(schema: &TableSchema, col: &ArrayRef) -> Vec<ArrayRef> {
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
            Arc::new(FixedSizeListArray::new(
                Arc::new(Field::new("item", DataType::Float32, false)),
                (e - s) as i32,
                Arc::new(Float32Array::from(out)),
                None,
            )) as ArrayRef
        })
        .collect()
}

/// Writes segment `id` for `batch` (canonical schema, final row order) into `dir`.
/// Both files are written under temporary names, fsynced and renamed; the caller commits the
/// returned meta to the manifest afterwards.
pub fn write(
    dir: &Path,
    id: u64,
    schema: &TableSchema,
    batch: &RecordBatch,
    rowids: &[u64],
    encoded: &EncodedSegment,
) -> Result<SegmentMeta> {
    let mut meta = SegmentMeta {
        id,
        rows: batch.num_rows() as u64,
        parquet_bytes: 0,
        parquet_crc: 0,
        sidecar_bytes: 0,
        index_version: encoded.index_version,
    };
    let ppath = dir.join(meta.parquet_name());
    let (len, crc) = write_parquet(&ppath, schema, batch, rowids)?;
    meta.parquet_bytes = len;
    meta.parquet_crc = crc;
    let pks: &[i64] = batch
        .column(schema.pk_index())
        .as_primitive::<Int64Type>()
        .values();
    let mut secs = vec![
        Section {
            tag: sections::ROWIDS,
            bytes: as_bytes(rowids),
        },
        Section {
            tag: sections::PKS,
            bytes: as_bytes(pks),
        },
    ];
    secs.extend(
        encoded
            .sections
            .iter()
            .map(|(t, b)| Section { tag: *t, bytes: b }),
    );
    let spath = dir.join(meta.sidecar_name());
    container::write(&spath, FileKind::Sidecar, &secs)?;
    meta.sidecar_bytes = std::fs::metadata(&spath)
        .map_err(|e| StorageError::io(&spath, e))?
        .len();
    Ok(meta)
}

fn write_parquet(
    path: &Path,
    schema: &TableSchema,
    batch: &RecordBatch,
    rowids: &[u64],
) -> Result<(u64, u32)> {
    let pschema = parquet_schema(schema);
    let mut cols: Vec<ArrayRef> = vec![Arc::new(UInt64Array::from(rowids.to_vec()))];
    for i in 0..schema.columns().len() {
        if i == schema.vector_index() {
            cols.extend(split_bands(schema, batch.column(i)));
        } else {
            cols.push(batch.column(i).clone());
        }
    }
    let out = RecordBatch::try_new(pschema.clone(), cols)?;
    let schema_json = serde_json::to_string(schema).map_err(|e| StorageError::Json {
        key: "nestdb.schema".into(),
        source: e,
    })?;
    let bands: Vec<String> = schema
        .bands()
        .iter()
        .map(|(s, e)| format!("{s}:{e}"))
        .collect();
    let mut props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(
            ZstdLevel::try_new(1).expect("zstd level 1 exists"),
        ))
        .set_key_value_metadata(Some(vec![
            KeyValue::new(PARQUET_SCHEMA_KEY.into(), schema_json),
            KeyValue::new(PARQUET_BANDS_KEY.into(), bands.join(",")),
        ]));
    for (s, e) in schema.bands() {
        // Floats compress poorly with dictionaries; byte-stream-split + zstd does better.
        let p = ColumnPath::new(vec![
            band_column(schema.vector_name(), s, e),
            "list".into(),
            "item".into(),
        ]);
        props = props
            .set_column_dictionary_enabled(p.clone(), false)
            .set_column_encoding(p, Encoding::BYTE_STREAM_SPLIT);
    }
    let tmp = fsutil::tmp_path(path);
    let file = File::create(&tmp).map_err(|e| StorageError::io(&tmp, e))?;
    let sink = CrcSink {
        inner: BufWriter::with_capacity(1 << 20, file),
        crc: crc32fast::Hasher::new(),
        len: 0,
    };
    let mut w = ArrowWriter::try_new(sink, pschema, Some(props.build()))
        .map_err(|e| StorageError::parquet(path, e))?;
    w.write(&out).map_err(|e| StorageError::parquet(path, e))?;
    let sink = w.into_inner().map_err(|e| StorageError::parquet(path, e))?;
    let (len, crc) = (sink.len, sink.crc.finalize());
    let file = sink
        .inner
        .into_inner()
        .map_err(|e| StorageError::io(&tmp, e.into_error()))?;
    file.sync_all().map_err(|e| StorageError::io(&tmp, e))?;
    fsutil::rename_durable(&tmp, path)?;
    Ok((len, crc))
}

struct CrcSink {
    inner: BufWriter<File>,
    crc: crc32fast::Hasher,
    len: u64,
}

impl Write for CrcSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.crc.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// An open, verified segment. Files stay readable through their mappings even after a
/// compaction unlinks them, so a snapshot holding this keeps working.
pub struct Segment {
    meta: SegmentMeta,
    parquet_path: PathBuf,
    parquet: Bytes,
    reader_meta: ArrowReaderMetadata,
    sidecar: Container,
    /// Decoded user columns, filled on first use.
    columns: Vec<OnceLock<ArrayRef>>,
    /// Parquet root column indices of each user column (the vector maps to its bands).
    roots: Vec<Vec<usize>>,
    dim: usize,
    schema: SchemaRef,
}

impl std::fmt::Debug for Segment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Segment").field("meta", &self.meta).finish()
    }
}

impl Segment {
    /// Opens segment `meta` in `dir`, verifying both files' checksums and row counts.
    pub fn open(dir: &Path, meta: &SegmentMeta, schema: &TableSchema) -> Result<Segment> {
        let parquet_path = dir.join(meta.parquet_name());
        let file = File::open(&parquet_path).map_err(|e| StorageError::io(&parquet_path, e))?;
        // SAFETY: segment files are immutable once renamed into place; nestdb never writes to
        // them again, so the mapping cannot change while it is alive.
        let map = unsafe { Mmap::map(&file) }.map_err(|e| StorageError::io(&parquet_path, e))?;
        if map.len() as u64 != meta.parquet_bytes {
            return Err(StorageError::corrupt(
                parquet_path.display().to_string(),
                format!(
                    "{} bytes, the manifest says {}",
                    map.len(),
                    meta.parquet_bytes
                ),
            ));
        }
        let crc = crc32fast::hash(&map);
        if crc != meta.parquet_crc {
            return Err(StorageError::ChecksumMismatch {
                path: parquet_path,
                stored: meta.parquet_crc,
                computed: crc,
            });
        }
        let parquet = Bytes::from_owner(map);
        let reader_meta = ArrowReaderMetadata::load(&parquet, ArrowReaderOptions::new())
            .map_err(|e| StorageError::parquet(&parquet_path, e))?;
        let sidecar = Container::open(&dir.join(meta.sidecar_name()), FileKind::Sidecar)?;
        let rows = meta.rows as usize;
        sidecar.typed::<u64>(sections::ROWIDS, rows)?;
        sidecar.typed::<i64>(sections::PKS, rows)?;
        let mut roots = Vec::new();
        let mut next = 1; // root 0 is _rowid
        for i in 0..schema.columns().len() {
            let width = if i == schema.vector_index() {
                schema.bands().len()
            } else {
                1
            };
            roots.push((next..next + width).collect());
            next += width;
        }
        Ok(Segment {
            meta: meta.clone(),
            parquet_path,
            parquet,
            reader_meta,
            sidecar,
            columns: (0..schema.columns().len())
                .map(|_| OnceLock::new())
                .collect(),
            roots,
            dim: schema.dim(),
            schema: schema.arrow_schema(),
        })
    }

    /// The segment's manifest entry.
    pub fn meta(&self) -> &SegmentMeta {
        &self.meta
    }

    /// Rows in the segment (deleted ones included).
    pub fn rows(&self) -> usize {
        self.meta.rows as usize
    }

    /// The sidecar, for the engine's sections.
    pub fn sidecar(&self) -> &Container {
        &self.sidecar
    }

    /// Stable row ids, by offset.
    pub fn rowids(&self) -> &[u64] {
        self.sidecar
            .typed::<u64>(sections::ROWIDS, self.rows())
            .expect("checked at open")
    }

    /// Primary keys, by offset.
    pub fn pks(&self) -> &[i64] {
        self.sidecar
            .typed::<i64>(sections::PKS, self.rows())
            .expect("checked at open")
    }

    /// User column `idx` (schema order), decoded from Parquet on first use and cached.
    pub fn column(&self, idx: usize) -> Result<ArrayRef> {
        if let Some(c) = self.columns[idx].get() {
            return Ok(c.clone());
        }
        let c = self.decode_column(idx)?;
        Ok(self.columns[idx].get_or_init(|| c).clone())
    }

    fn decode_column(&self, idx: usize) -> Result<ArrayRef> {
        let pq = |e| StorageError::parquet(&self.parquet_path, e);
        let roots = &self.roots[idx];
        let mask = ProjectionMask::roots(self.reader_meta.parquet_schema(), roots.iter().copied());
        let reader = ParquetRecordBatchReaderBuilder::new_with_metadata(
            self.parquet.clone(),
            self.reader_meta.clone(),
        )
        .with_projection(mask)
        .with_batch_size(self.rows().max(1))
        .build()
        .map_err(pq)?;
        let mut parts: Vec<Vec<ArrayRef>> = vec![Vec::new(); roots.len()];
        for b in reader {
            let b = b?;
            for (j, p) in parts.iter_mut().enumerate() {
                p.push(b.column(j).clone());
            }
        }
        let cols: Vec<ArrayRef> = parts
            .iter()
            .map(|p| {
                let refs: Vec<&dyn Array> = p.iter().map(|a| a.as_ref()).collect();
                arrow_select::concat::concat(&refs)
            })
            .collect::<Result<_, _>>()?;
        if cols.iter().any(|c| c.len() != self.rows()) {
            return Err(StorageError::corrupt(
                self.parquet_path.display().to_string(),
                "column length differs from the manifest's row count",
            ));
        }
        if roots.len() == 1 {
            return Ok(cols[0].clone());
        }
        Ok(join_bands(&cols, self.rows(), self.dim))
    }

    /// The table's Arrow schema (user columns), as [`Segment::column`] returns them.
    pub fn arrow_schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// Total bytes of both files.
    pub fn bytes(&self) -> u64 {
        self.meta.parquet_bytes + self.meta.sidecar_bytes
    }
}

fn join_bands(bands: &[ArrayRef], rows: usize, dim: usize) -> ArrayRef {
    let mut out = vec![0f32; rows * dim];
    let mut start = 0;
    for b in bands {
        let l = b.as_fixed_size_list();
        let w = l.value_length() as usize;
        let v = vector_values(b);
        for r in 0..rows {
            out[r * dim + start..r * dim + start + w].copy_from_slice(&v[r * w..(r + 1) * w]);
        }
        start += w;
    }
    Arc::new(FixedSizeListArray::new(
        Arc::new(Field::new("item", DataType::Float32, false)),
        dim as i32,
        Arc::new(Float32Array::from(out)),
        None,
    ))
}
