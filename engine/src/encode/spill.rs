//! Compaction out of core: every live row of a version into one segment, clustered by
//! partition, with memory bounded by one bucket whatever the table's size.
//!
//! Small tables are gathered in memory and written by [`super::write_rows`]. Otherwise:
//! 1. one pass over the live rows (row group by row group) assigns partitions, collects the
//!    PATH columns' labels, and appends each row to the temporary bucket file of its partition
//!    range (Arrow IPC, `*.tmp` in the table folder, removed at open after a crash);
//! 2. each bucket in turn is read back and its rows written to the new segment in partition
//!    order (stable), gathered, coded (with the partitions the first pass assigned, not
//!    assigned again) and written one chunk at a time, so the sorted copy never holds more
//!    than a chunk.
//!
//! Without an index there is nothing to cluster: the labels pass reads only the PATH columns,
//! and the rows stream straight into the segment.

use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::PathBuf;
use std::sync::Arc;

use arrow_array::{ArrayRef, BooleanArray, RecordBatch, UInt32Array, UInt64Array};
use arrow_ipc::reader::FileReader;
use arrow_ipc::writer::FileWriter;
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use nestdb_storage::conform::vector_values;
use nestdb_storage::fsutil;
use nestdb_storage::{SegmentFactory, SegmentMeta, StorageError, TableVersion};
use rayon::prelude::*;

use super::behind::behind;
use super::labels::{LabelDict, LabelSet};
use super::rows::CodedRows;
use super::sink::{path_columns, Sink};
use super::{partition_order, write_rows};
use crate::error::Result;
use crate::index::IndexModel;
use crate::layout::Layout;

/// Estimated decoded bytes up to which a compaction gathers the rows in memory.
pub const IN_MEMORY_BYTES: usize = 256 << 20;
/// Estimated decoded bytes per bucket file.
pub const BUCKET_BYTES: usize = 256 << 20;

/// Writes every live row of `v` into one new segment coded under `model` (see the module
/// docs). `None` when the version has no live row.
pub fn compact(
    w: &mut dyn SegmentFactory,
    v: &TableVersion,
    model: Option<&IndexModel>,
    layout: &Layout,
) -> Result<Option<SegmentMeta>> {
    let live = v.count();
    if live == 0 {
        return Ok(None);
    }
    let est = estimate_bytes(v);
    if est <= IN_MEMORY_BYTES {
        let (batch, rowids) = gather(v)?;
        return write_rows(w, model, layout, &batch, &rowids).map(Some);
    }
    match model {
        None => stream(w, v, layout, live).map(Some),
        Some(m) => bucketed(w, v, m, layout, live, est).map(Some),
    }
}

/// Decoded bytes of the live rows, estimated from the files (vectors exactly, the rest at four
/// times its compressed size).
pub fn estimate_bytes(v: &TableVersion) -> usize {
    let d = v.def.schema.dim() * 4;
    let seg: usize = v
        .segments
        .iter()
        .map(|s| {
            let vec_bytes = s.rows() * d;
            vec_bytes + (s.meta().parquet_bytes as usize).saturating_sub(vec_bytes) * 4
        })
        .sum();
    let mem: usize = v
        .mem
        .chunks()
        .iter()
        .map(|c| c.batch.get_array_memory_size())
        .sum();
    seg + mem
}

/// Every live row of `v`, one source chunk at a time: each segment row group (deleted rows
/// dropped), then the unflushed rows.
pub fn live_chunks(v: &TableVersion) -> impl Iterator<Item = Result<(RecordBatch, Vec<u64>)>> + '_ {
    let segs = v.segments.iter().zip(&v.deletes).flat_map(|(s, d)| {
        (0..s.row_groups()).map(move |g| {
            let (batch, ids) = s.read_group(g)?;
            // one pass: unmap what was decoded, so resident memory does not grow with the table
            s.release_group(g);
            let (a, z) = s.group_range(g);
            if d.range_cardinality(a as u32..z as u32) == 0 {
                return Ok((batch, ids));
            }
            let keep: BooleanArray = (a..z).map(|o| Some(!d.contains(o as u32))).collect();
            let ids = ids
                .iter()
                .zip(a..z)
                .filter(|(_, o)| !d.contains(*o as u32))
                .map(|(r, _)| *r)
                .collect();
            Ok((
                arrow_select::filter::filter_record_batch(&batch, &keep)?,
                ids,
            ))
        })
    });
    let schema = v.def.schema.arrow_schema();
    let mem = (!v.mem.is_empty()).then(|| v.mem.live_batch(&schema).map_err(Into::into));
    segs.chain(mem)
}

/// Every live row of `v` in one batch.
fn gather(v: &TableVersion) -> Result<(RecordBatch, Vec<u64>)> {
    let schema = v.def.schema.arrow_schema();
    let mut parts = Vec::new();
    let mut ids = Vec::new();
    for c in live_chunks(v) {
        let (b, r) = c?;
        parts.push(b);
        ids.extend(r);
    }
    Ok((arrow_select::concat::concat_batches(&schema, &parts)?, ids))
}

/// The labels of every PATH column of the live rows (deleted rows' labels included: harmless,
/// a dictionary may hold labels no row uses).
fn dictionaries(v: &TableVersion) -> Result<Vec<LabelDict>> {
    let cols = path_columns(&v.def.schema);
    let mut sets: Vec<LabelSet> = cols.iter().map(|_| LabelSet::default()).collect();
    for s in &v.segments {
        for (&c, set) in cols.iter().zip(&mut sets) {
            for g in 0..s.row_groups() {
                set.add(&s.column_group(c, g)?);
            }
        }
    }
    for chunk in v.mem.chunks() {
        for (&c, set) in cols.iter().zip(&mut sets) {
            set.add(chunk.batch.column(c));
        }
    }
    Ok(sets.into_iter().map(LabelSet::dictionary).collect())
}

/// Unindexed: stream the live rows straight into the segment (written behind the reading).
fn stream(
    w: &mut dyn SegmentFactory,
    v: &TableVersion,
    layout: &Layout,
    live: usize,
) -> Result<SegmentMeta> {
    let dicts = dictionaries(v)?;
    let sink = Sink::new(w, None, layout, live, dicts)?;
    let vi = v.def.schema.vector_index();
    let (sink, ()) = behind(sink, push, |send| {
        for c in live_chunks(v) {
            let (batch, ids) = c?;
            let coded = CodedRows::code(None, layout, vector_values(batch.column(vi)));
            send((batch, ids, coded))?;
        }
        Ok(())
    })?;
    sink.finish()
}

/// Rows in final order with their row ids and codes, on their way to a [`Sink`].
type Coded = (RecordBatch, Vec<u64>, CodedRows);

/// The write-behind step of a [`Sink`].
fn push(sink: &mut Sink<'_>, (batch, ids, coded): Coded) -> Result<()> {
    sink.push(&batch, &ids, &coded)
}

/// Indexed: spread rows over bucket files by partition, then sort and write each bucket. In
/// both passes the files are written behind the reading, assigning and coding.
fn bucketed(
    w: &mut dyn SegmentFactory,
    v: &TableVersion,
    m: &IndexModel,
    layout: &Layout,
    live: usize,
    est: usize,
) -> Result<SegmentMeta> {
    let p = m.meta.partitions;
    let nb = est.div_ceil(BUCKET_BYTES).clamp(1, p.max(1));
    let buckets = Buckets::create(w.dir(), &v.def.schema.arrow_schema(), nb)?;
    let dicts = dictionaries(v)?;
    let vi = v.def.schema.vector_index();
    let append = |b: &mut Buckets, (batch, ids, parts): (RecordBatch, Vec<u64>, Vec<u32>)| {
        b.append(&batch, &ids, &parts, |part| part as usize * nb / p)
    };
    let (buckets, ()) = behind(buckets, append, |send| {
        for c in live_chunks(v) {
            let (batch, ids) = c?;
            let parts = partitions(m, layout, vector_values(batch.column(vi)));
            send((batch, ids, parts))?;
        }
        Ok(())
    })?;
    let files = buckets.finish()?;
    let sink = Sink::new(w, Some(m), layout, live, dicts)?;
    let (sink, ()) = behind(sink, push, |send| {
        for f in &files {
            write_bucket(send, f, m, layout, vi)?;
            let _ = fsutil::remove_if_exists(&f.path);
            crate::heap::release_free();
        }
        Ok(())
    })?;
    sink.finish()
}

/// Rows of a sorted bucket gathered, coded and written at a time: the bucket's rows are held
/// once (as read), the sorted copy only one chunk at a time.
const SORTED_CHUNK: usize = 16_384;

/// Reads bucket `f` back, orders its rows by partition (stably) and sends them to the sink in
/// chunks of [`SORTED_CHUNK`], coded with the partitions the first pass assigned.
fn write_bucket(
    send: &mut dyn FnMut(Coded) -> Result<()>,
    f: &BucketFile,
    m: &IndexModel,
    layout: &Layout,
    vi: usize,
) -> Result<()> {
    let (batches, ids, parts) = read_bucket(f)?;
    let Some(first) = batches.first() else {
        return Ok(());
    };
    let schema = first.schema();
    // (batch, row) of every row of the bucket, in read order
    let at: Vec<(usize, usize)> = batches
        .iter()
        .enumerate()
        .flat_map(|(b, batch)| (0..batch.num_rows()).map(move |r| (b, r)))
        .collect();
    let order = partition_order(&parts);
    for chunk in order.chunks(SORTED_CHUNK) {
        let idx: Vec<(usize, usize)> = chunk.iter().map(|&o| at[o as usize]).collect();
        let cols = (0..schema.fields().len())
            .map(|c| {
                let arrays: Vec<&dyn arrow_array::Array> =
                    batches.iter().map(|b| b.column(c).as_ref()).collect();
                arrow_select::interleave::interleave(&arrays, &idx)
            })
            .collect::<Result<Vec<ArrayRef>, _>>()?;
        let batch = RecordBatch::try_new(schema.clone(), cols)?;
        let ids: Vec<u64> = chunk.iter().map(|&o| ids[o as usize]).collect();
        let parts: Vec<u32> = chunk.iter().map(|&o| parts[o as usize]).collect();
        let coded = CodedRows::code_assigned(m, layout, vector_values(batch.column(vi)), &parts);
        send((batch, ids, coded))?;
    }
    Ok(())
}

/// The partition of each of `vectors` (rotated coarse prefix against the centroids), blocks
/// of 4,096 rows in parallel (one block is one task of `kmeans::assign` inside [`IndexModel::assign`], which alone would run
/// a compaction's whole assignment on one thread).
pub fn partitions(m: &IndexModel, layout: &Layout, vectors: &[f32]) -> Vec<u32> {
    let d = layout.dim.max(1);
    vectors
        .par_chunks(4096 * d)
        .map(|block| {
            let c = m.meta.coarse_dims;
            m.assign(&layout.transform_prefix(block, c), c)
        })
        .collect::<Vec<_>>()
        .concat()
}

/// A bucket file: its path, removed when dropped.
struct BucketFile {
    path: PathBuf,
}

impl Drop for BucketFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The open bucket writers of a compaction.
struct Buckets {
    writers: Vec<FileWriter<BufWriter<File>>>,
    files: Vec<BucketFile>,
    schema: SchemaRef,
}

impl Buckets {
    fn create(dir: &std::path::Path, table: &SchemaRef, n: usize) -> Result<Buckets> {
        let mut fields: Vec<Field> = table.fields().iter().map(|f| f.as_ref().clone()).collect();
        fields.push(Field::new("_rowid", DataType::UInt64, false));
        fields.push(Field::new("_part", DataType::UInt32, false));
        let schema = Arc::new(Schema::new(fields));
        let stamp = std::process::id();
        let mut writers = Vec::with_capacity(n);
        let mut files = Vec::with_capacity(n);
        for b in 0..n {
            let path = dir.join(format!("spill-{stamp}-{b}.tmp"));
            let f = File::create(&path).map_err(|e| StorageError::io(&path, e))?;
            files.push(BucketFile { path });
            writers.push(FileWriter::try_new(
                BufWriter::with_capacity(1 << 20, f),
                &schema,
            )?);
        }
        Ok(Buckets {
            writers,
            files,
            schema,
        })
    }

    /// Appends each row of `batch` to the bucket `bucket_of(partition)` names.
    fn append(
        &mut self,
        batch: &RecordBatch,
        ids: &[u64],
        parts: &[u32],
        bucket_of: impl Fn(u32) -> usize,
    ) -> Result<()> {
        let mut rows: Vec<Vec<u32>> = vec![Vec::new(); self.writers.len()];
        for (r, &p) in parts.iter().enumerate() {
            rows[bucket_of(p).min(self.writers.len() - 1)].push(r as u32);
        }
        for (b, sel) in rows.iter().enumerate().filter(|(_, s)| !s.is_empty()) {
            let idx = UInt32Array::from(sel.clone());
            let mut cols = batch
                .columns()
                .iter()
                .map(|c| arrow_select::take::take(c.as_ref(), &idx, None))
                .collect::<Result<Vec<ArrayRef>, _>>()?;
            cols.push(Arc::new(UInt64Array::from(
                sel.iter().map(|&r| ids[r as usize]).collect::<Vec<_>>(),
            )));
            cols.push(Arc::new(UInt32Array::from(
                sel.iter().map(|&r| parts[r as usize]).collect::<Vec<_>>(),
            )));
            self.writers[b].write(&RecordBatch::try_new(self.schema.clone(), cols)?)?;
        }
        Ok(())
    }

    fn finish(self) -> Result<Vec<BucketFile>> {
        for mut w in self.writers {
            w.finish()?;
        }
        Ok(self.files)
    }
}

/// A bucket's rows (table columns, as the batches were written), row ids and partitions.
fn read_bucket(f: &BucketFile) -> Result<(Vec<RecordBatch>, Vec<u64>, Vec<u32>)> {
    let file = File::open(&f.path).map_err(|e| StorageError::io(&f.path, e))?;
    let reader = FileReader::try_new(BufReader::new(file), None)?;
    let schema = reader.schema();
    let n = schema.fields().len();
    let table_schema = Arc::new(Schema::new(schema.fields()[..n - 2].to_vec()));
    let (mut batches, mut ids, mut parts) = (Vec::new(), Vec::new(), Vec::new());
    let bad = || StorageError::corrupt(f.path.display().to_string(), "bucket without row ids");
    for b in reader {
        let b = b?;
        let r = b.column(n - 2).as_any().downcast_ref::<UInt64Array>();
        let p = b.column(n - 1).as_any().downcast_ref::<UInt32Array>();
        let (r, p) = r.zip(p).ok_or_else(bad)?;
        ids.extend_from_slice(r.values());
        parts.extend_from_slice(p.values());
        batches.push(RecordBatch::try_new(
            table_schema.clone(),
            b.columns()[..n - 2].to_vec(),
        )?);
    }
    Ok((batches, ids, parts))
}
