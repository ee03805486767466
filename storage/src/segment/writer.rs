//! Writing a segment: rows stream into the Parquet file (one row group at a time) and into the
//! sidecar's per-row sections, so memory stays bounded by one row group whatever the segment's
//! size. Both files are written under temporary names, fsynced and renamed; nothing references
//! them until the caller commits the returned [`SegmentMeta`].

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use arrow_array::{ArrayRef, RecordBatch, UInt64Array};
use parquet::arrow::ArrowWriter;
use parquet::file::metadata::{KeyValue, ParquetMetaData};
use serde::{Deserialize, Serialize};

use super::pq::{self, PARQUET_BANDS_KEY, PARQUET_SCHEMA_KEY};
use crate::blockcrc::BlockHasher;
use crate::container::{as_bytes, ContainerWriter, FileKind, SectionId};
use crate::error::{Result, StorageError};
use crate::fsutil;
use crate::manifest::SegmentMeta;
use crate::schema::TableSchema;
use crate::sections;

/// Version of the sidecar layout this build writes and reads.
pub const SIDECAR_LAYOUT: u32 = 2;

/// What storage records about a segment in its sidecar (section [`sections::META`]) and checks
/// when the segment is opened.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SidecarMeta {
    /// Sidecar layout version ([`SIDECAR_LAYOUT`]).
    pub layout: u32,
    /// Rows in the segment.
    pub rows: u64,
    /// Rows per Parquet row group (the last may be shorter).
    pub row_group_rows: u64,
    /// Band ranges `[start, end)`.
    pub bands: Vec<(usize, usize)>,
    /// Index version the engine sections were encoded with (0: none).
    pub index_version: u64,
}

/// The shape of a segment to write.
#[derive(Clone, Debug, Default)]
pub struct SegmentSpec {
    /// Rows that will be appended (exactly).
    pub rows: usize,
    /// Learned index version the engine sections are encoded with (0: none).
    pub index_version: u64,
    /// Engine sections holding one fixed-size record per row: (tag, bytes per row), filled by
    /// [`SegmentWriter::append`] in this order.
    pub row_sections: Vec<(u32, usize)>,
}

/// A segment being written; see the module docs.
pub struct SegmentWriter {
    dir: PathBuf,
    meta: SegmentMeta,
    schema: TableSchema,
    parquet_tmp: PathBuf,
    parquet: Option<ArrowWriter<HashSink>>,
    sidecar: Option<ContainerWriter>,
    finished: bool,
    rowids: SectionId,
    pks_sec: SectionId,
    engine: Vec<(u32, usize, SectionId)>,
    pks: Vec<i64>,
    written: usize,
}

struct HashSink {
    inner: BufWriter<File>,
    hash: BlockHasher,
    len: u64,
}

impl Write for HashSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

impl SegmentWriter {
    /// Starts segment `id` of a table with `schema` in `dir`.
    pub fn create(
        dir: &Path,
        id: u64,
        schema: &TableSchema,
        spec: SegmentSpec,
    ) -> Result<SegmentWriter> {
        let meta = SegmentMeta {
            id,
            rows: spec.rows as u64,
            parquet_bytes: 0,
            sidecar_bytes: 0,
            index_version: spec.index_version,
        };
        let ppath = dir.join(meta.parquet_name());
        let parquet_tmp = fsutil::tmp_path(&ppath);
        let file = File::create(&parquet_tmp).map_err(|e| StorageError::io(&parquet_tmp, e))?;
        let sink = HashSink {
            inner: BufWriter::with_capacity(1 << 20, file),
            hash: BlockHasher::default(),
            len: 0,
        };
        let kv = parquet_metadata(schema)?;
        let props = pq::writer_properties(schema, kv);
        let writer = ArrowWriter::try_new(sink, pq::parquet_schema(schema), Some(props))
            .map_err(|e| StorageError::parquet(&parquet_tmp, e))?;
        let mut sidecar =
            ContainerWriter::create(&dir.join(meta.sidecar_name()), FileKind::Sidecar)?;
        let n = spec.rows as u64;
        let rowids = sidecar.reserve(sections::ROWIDS, n * 8);
        let pks_sec = sidecar.reserve(sections::PKS, n * 8);
        let engine = spec
            .row_sections
            .iter()
            .map(|&(tag, w)| (tag, w, sidecar.reserve(tag, n * w as u64)))
            .collect();
        Ok(SegmentWriter {
            dir: dir.to_path_buf(),
            meta,
            schema: schema.clone(),
            parquet_tmp,
            parquet: Some(writer),
            sidecar: Some(sidecar),
            finished: false,
            rowids,
            pks_sec,
            engine,
            pks: Vec::with_capacity(spec.rows),
            written: 0,
        })
    }

    /// Rows appended so far.
    pub fn written(&self) -> usize {
        self.written
    }

    /// Appends rows: `batch` in the table's canonical schema, their row ids, and for each engine
    /// row section of the spec, `rows x width` bytes.
    pub fn append(&mut self, batch: &RecordBatch, rowids: &[u64], engine: &[&[u8]]) -> Result<()> {
        let n = batch.num_rows();
        let bad = |r: String| StorageError::corrupt(format!("segment {}", self.meta.id), r);
        if rowids.len() != n || engine.len() != self.engine.len() {
            return Err(bad(
                "row ids or engine sections do not match the batch".into()
            ));
        }
        if self.written + n > self.meta.rows as usize {
            return Err(bad(format!(
                "more than the {} rows declared",
                self.meta.rows
            )));
        }
        let pks = batch
            .column(self.schema.pk_index())
            .as_primitive::<Int64Type>()
            .values();
        let mut cols: Vec<ArrayRef> = vec![Arc::new(UInt64Array::from(rowids.to_vec()))];
        for i in 0..self.schema.columns().len() {
            if i == self.schema.vector_index() {
                cols.extend(pq::split_bands(&self.schema, batch.column(i)));
            } else {
                cols.push(batch.column(i).clone());
            }
        }
        let out = RecordBatch::try_new(pq::parquet_schema(&self.schema), cols)?;
        let w = self.parquet.as_mut().expect("open until finish");
        w.write(&out)
            .map_err(|e| StorageError::parquet(&self.parquet_tmp, e))?;
        let sc = self.sidecar.as_mut().expect("open until finish");
        sc.write(self.rowids, as_bytes(rowids))?;
        sc.write(self.pks_sec, as_bytes(pks))?;
        for (&(tag, width, id), bytes) in self.engine.iter().zip(engine) {
            if bytes.len() != n * width {
                return Err(bad(format!(
                    "engine section {tag}: {} bytes for {n} rows",
                    bytes.len()
                )));
            }
            sc.write(id, bytes)?;
        }
        self.pks.extend_from_slice(pks);
        self.written += n;
        Ok(())
    }

    /// Adds a whole engine section (written after the per-row ones).
    pub fn add_section(&mut self, tag: u32, bytes: &[u8]) -> Result<()> {
        self.sidecar
            .as_mut()
            .expect("open until finish")
            .append(tag, bytes)
    }

    /// Finishes both files (fsync, rename into place) and returns the segment's manifest entry.
    pub fn finish(mut self) -> Result<SegmentMeta> {
        if self.written != self.meta.rows as usize {
            return Err(StorageError::corrupt(
                format!("segment {}", self.meta.id),
                format!("{} rows written, {} declared", self.written, self.meta.rows),
            ));
        }
        let (md, len, crcs) = self.finish_parquet()?;
        let rows = self.meta.rows as usize;
        let band_pages = band_pages(&self.schema, &md, rows, &self.parquet_tmp)?;
        let sm = SidecarMeta {
            layout: SIDECAR_LAYOUT,
            rows: rows as u64,
            row_group_rows: pq::ROW_GROUP_ROWS as u64,
            bands: self.schema.bands(),
            index_version: self.meta.index_version,
        };
        let json = serde_json::to_vec(&sm).map_err(|e| StorageError::Json {
            key: "sidecar meta".into(),
            source: e,
        })?;
        let mut sc = self.sidecar.take().expect("open until finish");
        sc.append(sections::META, &json)?;
        sc.append(sections::PK_ORDER, as_bytes(&pk_order(&self.pks)))?;
        sc.append(sections::BAND_PAGES, as_bytes(&band_pages))?;
        sc.append(sections::PARQUET_CRCS, as_bytes(&crcs))?;
        let ppath = self.dir.join(self.meta.parquet_name());
        fsutil::rename_durable(&self.parquet_tmp, &ppath)?;
        self.meta.parquet_bytes = len;
        self.meta.sidecar_bytes = sc.finish()?;
        self.finished = true;
        Ok(self.meta.clone())
    }

    fn finish_parquet(&mut self) -> Result<(ParquetMetaData, u64, Vec<u32>)> {
        let pe = |e| StorageError::parquet(&self.parquet_tmp, e);
        let mut w = self.parquet.take().expect("open until finish");
        let md = w.finish().map_err(pe)?;
        let sink = w.inner_mut();
        let io = |e| StorageError::io(&self.parquet_tmp, e);
        sink.flush().map_err(io)?;
        sink.inner.get_ref().sync_all().map_err(io)?;
        let (len, hash) = (sink.len, std::mem::take(&mut sink.hash));
        drop(w);
        Ok((md, len, hash.finish()))
    }
}

impl Drop for SegmentWriter {
    fn drop(&mut self) {
        if !self.finished {
            // nothing references an unfinished segment: remove whatever reached the disk
            let _ = std::fs::remove_file(&self.parquet_tmp);
            let _ = std::fs::remove_file(self.dir.join(self.meta.parquet_name()));
        }
    }
}

fn parquet_metadata(schema: &TableSchema) -> Result<Vec<KeyValue>> {
    let json = serde_json::to_string(schema).map_err(|e| StorageError::Json {
        key: PARQUET_SCHEMA_KEY.into(),
        source: e,
    })?;
    let bands: Vec<String> = schema
        .bands()
        .iter()
        .map(|(s, e)| format!("{s}:{e}"))
        .collect();
    Ok(vec![
        KeyValue::new(PARQUET_SCHEMA_KEY.into(), json),
        KeyValue::new(PARQUET_BANDS_KEY.into(), bands.join(",")),
    ])
}

/// Row offsets ordered by (key, offset).
fn pk_order(pks: &[i64]) -> Vec<u32> {
    let mut order: Vec<u32> = (0..pks.len() as u32).collect();
    order.sort_unstable_by_key(|&o| (pks[o as usize], o));
    order
}

/// Where each band's values start in each row group, checking that every band chunk is one
/// uncompressed PLAIN page without dictionary (so the values are the chunk's last bytes).
fn band_pages(
    schema: &TableSchema,
    md: &ParquetMetaData,
    rows: usize,
    path: &Path,
) -> Result<Vec<u64>> {
    let bad = |r: String| StorageError::corrupt(path.display().to_string(), r);
    let oi = md
        .offset_index()
        .ok_or_else(|| bad("the writer produced no offset index".into()))?;
    let mut out = Vec::new();
    let mut seen = 0usize;
    for (g, rg) in md.row_groups().iter().enumerate() {
        let n = rg.num_rows() as usize;
        let expect = pq::ROW_GROUP_ROWS.min(rows - seen);
        if n != expect {
            return Err(bad(format!(
                "row group {g} has {n} rows, expected {expect}"
            )));
        }
        for (b, (s, e)) in schema.bands().into_iter().enumerate() {
            let leaf = 1 + schema.vector_index() + b;
            let col = rg.column(leaf);
            let bytes = (n * (e - s) * 4) as u64;
            let pages = oi
                .get(g)
                .and_then(|r| r.get(leaf))
                .map_or(0, |o| o.page_locations().len());
            if pages != 1 || col.dictionary_page_offset().is_some() {
                return Err(bad(format!(
                    "band {b} of row group {g} is not a single plain page"
                )));
            }
            let (start, len) = col.byte_range();
            let end = start + len;
            if len < bytes || col.num_values() as u64 != (n * (e - s)) as u64 {
                return Err(bad(format!("band {b} of row group {g} has the wrong size")));
            }
            out.push(end - bytes);
        }
        seen += n;
    }
    if seen != rows {
        return Err(bad(format!("{seen} rows written, {rows} expected")));
    }
    Ok(out)
}
