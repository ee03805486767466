//! Flush (write-ahead rows into a new segment) and compaction (all live rows into one segment,
//! optionally under a new learned index).
//!
//! Commit protocol, both operations:
//! 1. write the new files under temporary names, fsync, rename, fsync the directory;
//! 2. open and verify them;
//! 3. commit one RocksDB write batch (synced): new manifest, id-index entries of the moved
//!    rows, removal of their write-ahead rows and of the replaced deletion bitmaps;
//! 4. publish the new version; then remove files no manifest references.
//!
//! A crash before 3 leaves the old version and unreferenced files (removed at open); after 3,
//! the new version.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use arrow_array::{ArrayRef, BooleanArray, RecordBatch, UInt32Array};
use roaring::RoaringBitmap;
use rocksdb::WriteBatch;

use crate::container::{self, FileKind, Section};
use crate::error::Result;
use crate::fsutil;
use crate::keys::{self, Location};
use crate::manifest::{IndexRef, Manifest, SegmentMeta};
use crate::memtable::MemTable;
use crate::segment::{self, EncodedSegment, Segment, SegmentEncoder};
use crate::table::{manifest_bytes, open_index, TableVersion, Writer};

/// A newly fit learned index to install with a compaction.
pub struct NewIndex {
    /// Rows it was fit on.
    pub fit_rows: u64,
    /// The index file's sections.
    pub sections: Vec<(u32, Vec<u8>)>,
}

/// What a flush or compaction did.
#[derive(Debug, Default, Clone)]
pub struct CommitInfo {
    /// The segment written, if any rows were live.
    pub segment: Option<SegmentMeta>,
    /// Segments replaced.
    pub replaced: usize,
    /// Rows written.
    pub rows: usize,
}

impl Writer<'_> {
    /// The index version a [`NewIndex`] committed now would get.
    pub fn next_index_version(&self) -> u64 {
        self.snapshot().manifest.next_index_version.max(1)
    }

    /// Writes the unflushed rows into a new segment.
    pub fn flush(&mut self, encoder: &dyn SegmentEncoder) -> Result<CommitInfo> {
        let v = self.snapshot();
        if v.mem.is_empty() {
            return Ok(CommitInfo::default());
        }
        let schema = v.def.schema.arrow_schema();
        let (batch, rowids) = v.mem.live_batch(&schema)?;
        let mut m = v.manifest.clone();
        m.version += 1;
        let mut wb = WriteBatch::default();
        for &r in v.mem.chunks().iter().flat_map(|c| c.rowids.iter()) {
            if !v.mem.is_dead(r) {
                wb.delete(keys::wal(v.def.id, r));
            }
        }
        let (seg, info) = self.write_segment(&v, &mut m, batch, rowids, encoder, &mut wb)?;
        if m.index != v.manifest.index {
            return Err(crate::StorageError::corrupt(
                "flush",
                "a flush cannot install a new index (compact instead)",
            ));
        }
        self.table.write(wb, true)?;
        let mut segments = v.segments.clone();
        let mut deletes = v.deletes.clone();
        if let Some(s) = seg {
            segments.push(s);
            deletes.push(Arc::new(RoaringBitmap::new()));
        }
        self.table.publish(TableVersion {
            def: v.def.clone(),
            manifest: m,
            segments,
            deletes,
            mem: MemTable::default(),
            index: v.index.clone(),
        });
        Ok(info)
    }

    /// Rewrites every live row (segments and unflushed) into one segment, dropping deleted rows.
    /// An encoder that fits a new index (see [`EncodedSegment::new_index`]) installs it in the
    /// same commit.
    pub fn compact(&mut self, encoder: &dyn SegmentEncoder) -> Result<CommitInfo> {
        let v = self.snapshot();
        let tid = v.def.id;
        let schema = v.def.schema.arrow_schema();
        let mut parts = Vec::new();
        let mut rowids = Vec::new();
        for (s, d) in v.segments.iter().zip(&v.deletes) {
            let (b, r) = live_rows(s, d)?;
            parts.push(b);
            rowids.extend(r);
        }
        let (mb, mr) = v.mem.live_batch(&schema)?;
        parts.push(mb);
        rowids.extend(mr);
        let batch = arrow_select::concat::concat_batches(&schema, &parts)?;
        let mut m = v.manifest.clone();
        m.version += 1;
        m.segments.clear();
        let mut wb = WriteBatch::default();
        for s in &v.segments {
            wb.delete(keys::del(tid, s.meta().id));
        }
        for &r in v.mem.chunks().iter().flat_map(|c| c.rowids.iter()) {
            if !v.mem.is_dead(r) {
                wb.delete(keys::wal(tid, r));
            }
        }
        let (seg, mut info) = self.write_segment(&v, &mut m, batch, rowids, encoder, &mut wb)?;
        let index = if m.index == v.manifest.index {
            v.index.clone()
        } else {
            open_index(&self.table.dir, &m)?
        };
        self.table.write(wb, true)?;
        info.replaced = v.segments.len();
        let (segments, deletes) = match seg {
            Some(s) => (vec![s], vec![Arc::new(RoaringBitmap::new())]),
            None => (vec![], vec![]),
        };
        let old_files = v.manifest.files();
        let keep = m.files();
        self.table.publish(TableVersion {
            def: v.def.clone(),
            manifest: m,
            segments,
            deletes,
            mem: MemTable::default(),
            index,
        });
        // Open snapshots keep their mappings; unlinking does not disturb them.
        for f in old_files.iter().filter(|f| !keep.contains(f)) {
            let _ = fsutil::remove_if_exists(&self.table.dir.join(f));
        }
        Ok(info)
    }

    /// Encodes, writes and verifies a segment for `batch`, staging its id-index entries and
    /// manifest in `wb`.
    fn write_segment(
        &self,
        v: &TableVersion,
        m: &mut Manifest,
        batch: RecordBatch,
        rowids: Vec<u64>,
        encoder: &dyn SegmentEncoder,
        wb: &mut WriteBatch,
    ) -> Result<(Option<Arc<Segment>>, CommitInfo)> {
        let tid = v.def.id;
        if batch.num_rows() == 0 {
            wb.put(keys::manifest(tid), manifest_bytes(m));
            return Ok((None, CommitInfo::default()));
        }
        let mut enc: EncodedSegment = encoder.encode(&batch, self.next_index_version())?;
        if let Some(ix) = enc.new_index.take() {
            let r = IndexRef {
                version: enc.index_version,
                fit_rows: ix.fit_rows,
            };
            let secs: Vec<Section> = ix
                .sections
                .iter()
                .map(|(t, b)| Section { tag: *t, bytes: b })
                .collect();
            container::write(&self.table.dir.join(r.file_name()), FileKind::Index, &secs)?;
            m.next_index_version = m.next_index_version.max(r.version + 1);
            m.index = Some(r);
        }
        let expected = m.index.as_ref().map_or(0, |r| r.version);
        if enc.index_version != expected {
            return Err(crate::StorageError::corrupt(
                "segment encoder",
                format!(
                    "encoded with index {} but the table uses {expected}",
                    enc.index_version
                ),
            ));
        }
        let (batch, rowids) = match &enc.order {
            Some(order) => reorder(&batch, &rowids, order)?,
            None => (batch, rowids),
        };
        let id = m.next_segment_id;
        m.next_segment_id += 1;
        let meta = segment::write(&self.table.dir, id, &v.def.schema, &batch, &rowids, &enc)?;
        let seg = Arc::new(Segment::open(&self.table.dir, &meta, &v.def.schema)?);
        let pks = batch
            .column(v.def.schema.pk_index())
            .as_primitive::<Int64Type>();
        for (off, (&pk, &rowid)) in pks.values().iter().zip(&rowids).enumerate() {
            let loc = Location {
                rowid,
                segment: id,
                offset: off as u32,
            };
            wb.put(keys::pk(tid, pk), loc.encode());
        }
        m.segments.push(meta.clone());
        wb.put(keys::manifest(tid), manifest_bytes(m));
        let info = CommitInfo {
            rows: batch.num_rows(),
            segment: Some(meta),
            replaced: 0,
        };
        Ok((Some(seg), info))
    }
}

/// A segment's live rows (all user columns) and their row ids.
pub fn live_rows(s: &Segment, deleted: &RoaringBitmap) -> Result<(RecordBatch, Vec<u64>)> {
    let cols: Vec<ArrayRef> = (0..s.arrow_schema().fields().len())
        .map(|i| s.column(i))
        .collect::<Result<_>>()?;
    let batch = RecordBatch::try_new(s.arrow_schema().clone(), cols)?;
    let keep: BooleanArray = (0..s.rows() as u32)
        .map(|o| Some(!deleted.contains(o)))
        .collect();
    let rowids = s
        .rowids()
        .iter()
        .enumerate()
        .filter(|(o, _)| !deleted.contains(*o as u32))
        .map(|(_, r)| *r)
        .collect();
    if deleted.is_empty() {
        return Ok((batch, rowids));
    }
    Ok((
        arrow_select::filter::filter_record_batch(&batch, &keep)?,
        rowids,
    ))
}

pub(crate) fn reorder(
    batch: &RecordBatch,
    rowids: &[u64],
    order: &[u32],
) -> Result<(RecordBatch, Vec<u64>)> {
    let mut seen = vec![false; batch.num_rows()];
    for &i in order {
        match seen.get_mut(i as usize) {
            Some(s) if !*s => *s = true,
            _ => {
                return Err(crate::StorageError::corrupt(
                    "segment encoder",
                    "row order is not a permutation",
                ))
            }
        }
    }
    if order.len() != batch.num_rows() {
        return Err(crate::StorageError::corrupt(
            "segment encoder",
            "row order is not a permutation",
        ));
    }
    let idx = UInt32Array::from(order.to_vec());
    let cols: Vec<ArrayRef> = batch
        .columns()
        .iter()
        .map(|c| arrow_select::take::take(c.as_ref(), &idx, None))
        .collect::<Result<_, _>>()?;
    let b = RecordBatch::try_new(batch.schema(), cols)?;
    let r = order.iter().map(|&i| rowids[i as usize]).collect();
    Ok((b, r))
}
