//! Bulk load: many batches into new segments, committed all at once.
//!
//! Rows bypass the write-ahead path. They are checked ([`conform`]), buffered up to a segment's
//! worth ([`BulkLoad::full`]), and handed to the caller ([`BulkLoad::take`]), which encodes and
//! writes them as a segment ([`BulkLoad::new_segment`], [`BulkLoad::written`]) that nothing
//! references yet. [`BulkLoad::commit`] adds every new segment to the manifest in one synced
//! RocksDB write: the commit's size depends on the number of segments, not rows (segment rows
//! are found through each segment's own key index, not through RocksDB).
//!
//! Memory is bounded by one segment's buffer whatever the input's size: keys are checked
//! against the table when a batch arrives, against the buffer through a set of the buffered
//! keys, and against the load's earlier segments when the load commits (a merge of their sorted
//! key indexes, holding one cursor per segment). If anything fails before the commit, the
//! segment files are removed and the table is exactly as it was; after a crash, unreferenced
//! files are removed at open.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashSet};
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use arrow_array::RecordBatch;
use rocksdb::WriteBatch;

use crate::commit::{Commit, Prepared, SegmentFactory};
use crate::conform::{self, InputError};
use crate::error::{Result, StorageError};
use crate::fsutil;
use crate::manifest::SegmentMeta;
use crate::segment::{Segment, SegmentSpec, SegmentWriter};
use crate::table::Writer;
use crate::write::WriteError;

/// Buffered Arrow bytes at which a bulk load's buffer is full (wide rows, such as whole source
/// files, would otherwise hold a segment's worth in memory).
pub const SEGMENT_BYTES: usize = 256 << 20;

/// An open bulk load; see the module docs. Dropping it without a commit discards everything
/// written.
pub struct BulkLoad<'w, 'a> {
    writer: &'w mut Writer<'a>,
    segment_rows: usize,
    buffer: Vec<RecordBatch>,
    buffered: usize,
    buffered_bytes: usize,
    buffered_keys: HashSet<i64>,
    written: Vec<Arc<Segment>>,
    next_rowid: u64,
    committed: bool,
}

impl<'a> Writer<'a> {
    /// Starts a bulk load whose segments hold at most `segment_rows` rows.
    pub fn bulk_load<'w>(&'w mut self, segment_rows: usize) -> BulkLoad<'w, 'a> {
        let next_rowid = self.state.next_rowid;
        BulkLoad {
            writer: self,
            segment_rows: segment_rows.max(1),
            buffer: Vec::new(),
            buffered: 0,
            buffered_bytes: 0,
            buffered_keys: HashSet::new(),
            written: Vec::new(),
            next_rowid,
            committed: false,
        }
    }
}

impl BulkLoad<'_, '_> {
    /// Checks and buffers a batch. A key that repeats within the batch or the buffer, or that
    /// the table already holds, fails. Returns the rows buffered.
    pub fn add(&mut self, batch: &RecordBatch) -> Result<usize, WriteError> {
        let def = self.writer.table.def.clone();
        let batch = conform::conform(&def.schema, batch)?;
        let pks = batch
            .column(def.schema.pk_index())
            .as_primitive::<Int64Type>()
            .values();
        // a refused batch leaves nothing behind (ON_ERROR 'skip' retries its rows one by one)
        let mut mine = HashSet::with_capacity(pks.len());
        for &k in pks.iter() {
            if self.buffered_keys.contains(&k) || !mine.insert(k) {
                return Err(InputError::DuplicateKey(k).into());
            }
        }
        if let Some(i) = self.writer.locate(pks)?.iter().position(Option::is_some) {
            return Err(InputError::DuplicateKey(pks[i]).into());
        }
        self.buffered_keys.extend(mine);
        let n = batch.num_rows();
        self.buffered += n;
        self.buffered_bytes += batch.get_array_memory_size();
        self.buffer.push(batch);
        Ok(n)
    }

    /// Whether the buffer holds a segment's worth of rows or bytes.
    pub fn full(&self) -> bool {
        self.buffered >= self.segment_rows || self.buffered_bytes >= SEGMENT_BYTES
    }

    /// The buffered rows (canonical schema) with the row ids they get, emptying the buffer.
    pub fn take(&mut self) -> Result<Option<(RecordBatch, Vec<u64>)>> {
        if self.buffered == 0 {
            return Ok(None);
        }
        let schema = self.writer.table.def.schema.arrow_schema();
        let batch = arrow_select::concat::concat_batches(&schema, &self.buffer)?;
        self.buffer.clear();
        self.buffered = 0;
        self.buffered_bytes = 0;
        self.buffered_keys.clear();
        let first = self.next_rowid;
        self.next_rowid += batch.num_rows() as u64;
        Ok(Some((batch, (first..self.next_rowid).collect())))
    }

    /// Records a finished segment of this load.
    pub fn written(&mut self, meta: SegmentMeta) -> Result<()> {
        let t = &self.writer.table;
        let seg = Segment::open(&t.dir, &meta, &t.def.schema);
        match seg {
            Ok(s) => {
                self.written.push(Arc::new(s));
                Ok(())
            }
            Err(e) => {
                remove_files(&t.dir, &meta);
                Err(e)
            }
        }
    }

    /// Rows staged so far (buffered and written).
    pub fn rows(&self) -> usize {
        self.buffered + self.written.iter().map(|s| s.rows()).sum::<usize>()
    }

    /// The index version the table uses (segments must be encoded under it).
    pub fn index_version(&self) -> u64 {
        self.writer
            .snapshot()
            .manifest
            .index
            .as_ref()
            .map_or(0, |r| r.version)
    }

    /// The commit of every written segment; the buffer must have been taken and written.
    fn commit_spec(&self) -> Result<Commit, WriteError> {
        if self.buffered > 0 {
            return Err(StorageError::corrupt("bulk load", "rows still buffered at commit").into());
        }
        if let Some(k) = duplicate_across(&self.written)? {
            return Err(InputError::DuplicateKey(k).into());
        }
        Ok(Commit {
            add: self.written.iter().map(|s| s.meta().clone()).collect(),
            next_rowid: Some(self.next_rowid),
            ..Commit::default()
        })
    }

    /// Commits every written segment in one synced write. Returns the rows loaded.
    pub fn commit(mut self) -> Result<usize, WriteError> {
        let c = self.commit_spec()?;
        let rows = self.rows();
        self.committed = true; // from here on, files are left to the cleanup at open
        self.writer.commit(c)?;
        Ok(rows)
    }

    /// Stages the commit in `wb` (so two loads can commit in one write batch). Publish the
    /// returned version with [`BulkLoad::publish`] once `wb` is written.
    pub fn stage(&mut self, wb: &mut WriteBatch) -> Result<Prepared, WriteError> {
        let c = self.commit_spec()?;
        self.committed = true;
        Ok(self.writer.prepare(c, wb)?)
    }

    /// Publishes what [`BulkLoad::stage`] staged, after the caller wrote the batch.
    pub fn publish(self, p: Prepared) {
        self.writer.publish_prepared(p);
    }

    /// Writes a combined batch staged by [`BulkLoad::stage`] on this and other loads.
    pub fn write_batch(&mut self, wb: WriteBatch) -> Result<()> {
        self.writer.write(wb, true)
    }
}

impl SegmentFactory for BulkLoad<'_, '_> {
    fn new_segment(&mut self, spec: SegmentSpec) -> Result<SegmentWriter> {
        self.writer.new_segment(spec)
    }

    fn schema(&self) -> &crate::schema::TableSchema {
        &self.writer.table.def.schema
    }

    fn dir(&self) -> &std::path::Path {
        &self.writer.table.dir
    }
}

impl Drop for BulkLoad<'_, '_> {
    fn drop(&mut self) {
        if !self.committed {
            let t = &self.writer.table;
            for s in &self.written {
                remove_files(&t.dir, s.meta());
            }
        }
    }
}

fn remove_files(dir: &std::path::Path, meta: &SegmentMeta) {
    let _ = fsutil::remove_if_exists(&dir.join(meta.parquet_name()));
    let _ = fsutil::remove_if_exists(&dir.join(meta.sidecar_name()));
}

/// A key held by two of `segs`, found by merging their sorted key indexes.
fn duplicate_across(segs: &[Arc<Segment>]) -> Result<Option<i64>> {
    if segs.len() < 2 {
        return Ok(None);
    }
    let views: Vec<(&[u32], &[i64])> = segs
        .iter()
        .map(|s| Ok((s.pk_order()?, s.pks()?)))
        .collect::<Result<_>>()?;
    let key = |s: usize, i: usize| views[s].1[views[s].0[i] as usize];
    let mut heap: BinaryHeap<Reverse<(i64, usize, usize)>> = views
        .iter()
        .enumerate()
        .filter(|(_, v)| !v.0.is_empty())
        .map(|(s, _)| Reverse((key(s, 0), s, 0)))
        .collect();
    let mut last: Option<i64> = None;
    while let Some(Reverse((k, s, i))) = heap.pop() {
        if last == Some(k) {
            return Ok(Some(k));
        }
        last = Some(k);
        if i + 1 < views[s].0.len() {
            heap.push(Reverse((key(s, i + 1), s, i + 1)));
        }
    }
    Ok(None)
}
