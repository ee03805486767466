//! Bulk load: many batches into new segments, committed all at once.
//!
//! Rows bypass the write-ahead path: they are buffered up to `segment_rows`, encoded and
//! written as segment files (temporary name, fsync, rename) that no manifest references yet.
//! When the input ends, one synced RocksDB write batch adds every new segment to the manifest,
//! writes the id-index entries and advances the row id. If anything fails before that commit,
//! the files are removed and the table is exactly as it was (after a crash, the unreferenced
//! files are removed at open). Memory stays bounded by one segment: at most `segment_rows`
//! rows and about [`SEGMENT_BYTES`] of buffered Arrow data, whichever comes first.

use std::collections::HashSet;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use arrow_array::RecordBatch;
use roaring::RoaringBitmap;
use rocksdb::WriteBatch;

use crate::conform::{self, InputError};
use crate::error::StorageError;
use crate::fsutil;
use crate::keys::{self, Location};
use crate::manifest::SegmentMeta;
use crate::segment::{self, Segment, SegmentEncoder};
use crate::table::{manifest_bytes, TableVersion, Writer};
use crate::write::WriteError;

/// Buffered Arrow bytes at which a bulk load writes a segment even below `segment_rows` rows
/// (wide rows, such as whole source files, would otherwise hold a segment's worth in memory).
pub const SEGMENT_BYTES: usize = 64 << 20;

/// An open bulk load; see the module docs. Dropping it without [`BulkLoad::commit`] discards
/// everything written.
pub struct BulkLoad<'w, 'a> {
    writer: &'w mut Writer<'a>,
    encoder: &'w dyn SegmentEncoder,
    segment_rows: usize,
    buffer: Vec<RecordBatch>,
    buffered: usize,
    buffered_bytes: usize,
    seen: HashSet<i64>,
    written: Vec<(SegmentMeta, Vec<i64>, Vec<u64>)>,
    next_rowid: u64,
    next_segment: u64,
    committed: bool,
    staged: Option<TableVersion>,
}

impl<'a> Writer<'a> {
    /// Starts a bulk load writing segments of at most `segment_rows` rows with `encoder`.
    pub fn bulk_load<'w>(
        &'w mut self,
        encoder: &'w dyn SegmentEncoder,
        segment_rows: usize,
    ) -> BulkLoad<'w, 'a> {
        let v = self.snapshot();
        let next_rowid = self.state.next_rowid;
        BulkLoad {
            next_segment: v.manifest.next_segment_id,
            writer: self,
            encoder,
            segment_rows: segment_rows.max(1),
            buffer: Vec::new(),
            buffered: 0,
            buffered_bytes: 0,
            seen: HashSet::new(),
            written: Vec::new(),
            next_rowid,
            committed: false,
            staged: None,
        }
    }
}

impl BulkLoad<'_, '_> {
    /// Checks and stages a batch. Duplicate ids (within the load or with existing rows) fail.
    pub fn add(&mut self, batch: &RecordBatch) -> Result<usize, WriteError> {
        let def = self.writer.table.def.clone();
        let batch = conform::conform(&def.schema, batch)?;
        let pks: Vec<i64> = batch
            .column(def.schema.pk_index())
            .as_primitive::<Int64Type>()
            .values()
            .to_vec();
        if let Some(k) = pks.iter().find(|k| self.seen.contains(k)) {
            return Err(InputError::DuplicateKey(*k).into());
        }
        if let Some(i) = self.writer.locate(&pks)?.iter().position(Option::is_some) {
            return Err(InputError::DuplicateKey(pks[i]).into());
        }
        self.seen.extend(pks.iter().copied());
        let n = batch.num_rows();
        self.buffered += n;
        self.buffered_bytes += batch.get_array_memory_size();
        self.buffer.push(batch);
        if self.buffered >= self.segment_rows || self.buffered_bytes >= SEGMENT_BYTES {
            self.write_segment()?;
        }
        Ok(n)
    }

    /// Rows staged so far.
    pub fn rows(&self) -> usize {
        self.buffered + self.written.iter().map(|w| w.1.len()).sum::<usize>()
    }

    fn write_segment(&mut self) -> Result<(), StorageError> {
        if self.buffered == 0 {
            return Ok(());
        }
        let v = self.writer.snapshot();
        let schema = v.def.schema.arrow_schema();
        let batch = arrow_select::concat::concat_batches(&schema, &self.buffer)?;
        self.buffer.clear();
        self.buffered = 0;
        self.buffered_bytes = 0;
        let enc = self
            .encoder
            .encode(&batch, v.manifest.next_index_version.max(1))?;
        let expected = v.manifest.index.as_ref().map_or(0, |r| r.version);
        if enc.new_index.is_some() || enc.index_version != expected {
            return Err(StorageError::corrupt(
                "bulk load",
                "the encoder must use the table's current index",
            ));
        }
        let first = self.next_rowid;
        let rowids: Vec<u64> = (first..first + batch.num_rows() as u64).collect();
        let (batch, rowids) = match &enc.order {
            Some(order) => crate::flush::reorder(&batch, &rowids, order)?,
            None => (batch, rowids),
        };
        self.next_rowid = first + batch.num_rows() as u64;
        let id = self.next_segment;
        self.next_segment += 1;
        let meta = segment::write(
            &self.writer.table.dir,
            id,
            &v.def.schema,
            &batch,
            &rowids,
            &enc,
        )?;
        let pks = batch
            .column(v.def.schema.pk_index())
            .as_primitive::<Int64Type>()
            .values()
            .to_vec();
        self.written.push((meta, pks, rowids));
        Ok(())
    }

    /// Writes the last segment and commits every segment in one write batch.
    /// Returns the rows loaded.
    pub fn commit(mut self) -> Result<usize, StorageError> {
        let mut wb = WriteBatch::default();
        let rows = self.stage(&mut wb)?;
        if rows > 0 {
            self.writer.table.write(wb, true)?;
        }
        self.publish();
        Ok(rows)
    }

    /// Writes the last segment and adds the commit of every segment to `wb` (so several
    /// loads can commit in one write batch). Call [`BulkLoad::publish`] once `wb` is written.
    /// Returns the rows loaded.
    pub fn stage(&mut self, wb: &mut WriteBatch) -> Result<usize, StorageError> {
        self.write_segment()?;
        let v = self.writer.snapshot();
        let tid = v.def.id;
        let mut m = v.manifest.clone();
        let mut segments = v.segments.clone();
        let mut deletes = v.deletes.clone();
        let mut rows = 0;
        for (meta, pks, rowids) in &self.written {
            segments.push(Arc::new(Segment::open(
                &self.writer.table.dir,
                meta,
                &v.def.schema,
            )?));
            deletes.push(Arc::new(RoaringBitmap::new()));
            for (off, (&pk, &rowid)) in pks.iter().zip(rowids).enumerate() {
                let loc = Location {
                    rowid,
                    segment: meta.id,
                    offset: off as u32,
                };
                wb.put(keys::pk(tid, pk), loc.encode());
            }
            m.segments.push(meta.clone());
            rows += pks.len();
        }
        if rows > 0 {
            m.version += 1;
            m.next_segment_id = self.next_segment;
            wb.put(keys::manifest(tid), manifest_bytes(&m));
            wb.put(keys::next_rowid(tid), self.next_rowid.to_le_bytes());
            self.staged = Some(TableVersion {
                def: v.def.clone(),
                manifest: m,
                segments,
                deletes,
                mem: v.mem.clone(),
                index: v.index.clone(),
            });
        }
        Ok(rows)
    }

    /// Publishes what [`BulkLoad::stage`] committed (the caller wrote its write batch).
    pub fn publish(mut self) {
        self.committed = true;
        if let Some(v) = self.staged.take() {
            self.writer.state.next_rowid = self.next_rowid;
            self.writer.table.publish(v);
        }
    }

    /// The table's RocksDB handle, to write a combined batch.
    pub fn write_batch(&self, wb: WriteBatch) -> Result<(), StorageError> {
        self.writer.table.write(wb, true)
    }
}

impl Drop for BulkLoad<'_, '_> {
    fn drop(&mut self) {
        if !self.committed {
            for (meta, _, _) in &self.written {
                let _ = fsutil::remove_if_exists(&self.writer.table.dir.join(meta.parquet_name()));
                let _ = fsutil::remove_if_exists(&self.writer.table.dir.join(meta.sidecar_name()));
            }
        }
    }
}
