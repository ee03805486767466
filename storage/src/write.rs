//! Row-level mutations: insert, upsert, delete. Each is one RocksDB write batch (durable when it
//! returns, per [`crate::WriteSettings::sync`]) followed by a new published version.
//!
//! Where a key lives: unflushed rows have an id-index entry in RocksDB (`t/<tid>/k/<pk>`);
//! segment rows are found through each segment's key index (a sorted section of its sidecar),
//! skipping offsets in the segment's deletion bitmap.

use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use arrow_array::RecordBatch;
use rocksdb::WriteBatch;

use crate::conform::{self, InputError};
use crate::error::{Result, StorageError};
use crate::keys::{self, Location};
use crate::memtable::MemChunk;
use crate::table::{deletes_bytes, encode_rows, TableVersion, Writer};

/// Why a write was refused; nothing was changed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WriteError {
    /// The batch is invalid.
    #[error(transparent)]
    Input(#[from] InputError),
    /// Storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Where each of `pks` lives in version `v`: unflushed rows through the id index in RocksDB,
/// segment rows through the segments' key indexes (newest segment first, deleted offsets
/// skipped).
pub fn locate(db: &rocksdb::DB, v: &TableVersion, pks: &[i64]) -> Result<Vec<Option<Location>>> {
    let tid = v.def.id;
    let ks: Vec<Vec<u8>> = pks.iter().map(|&k| keys::pk(tid, k)).collect();
    let mut out = Vec::with_capacity(pks.len());
    for (r, &pk) in db.multi_get(&ks).into_iter().zip(pks) {
        let wal = r?
            .map(|b| {
                Location::decode(&b)
                    .ok_or_else(|| StorageError::corrupt("id index entry", "bad length"))
            })
            .transpose()?;
        out.push(match wal {
            Some(l) => Some(l),
            None => locate_in_segments(v, pk)?,
        });
    }
    Ok(out)
}

fn locate_in_segments(v: &TableVersion, pk: i64) -> Result<Option<Location>> {
    for (s, d) in v.segments.iter().zip(&v.deletes).rev() {
        if !s.may_hold_pk(pk)? {
            continue;
        }
        for off in s.find_pk(pk)? {
            if !d.contains(off) {
                return Ok(Some(Location {
                    rowid: s.rowid(off as usize)?,
                    segment: s.meta().id,
                    offset: off,
                }));
            }
        }
    }
    Ok(None)
}

impl Writer<'_> {
    /// Looks up the locations of primary keys.
    pub fn locate(&self, pks: &[i64]) -> Result<Vec<Option<Location>>> {
        locate(&self.table.db, &self.snapshot(), pks)
    }

    /// Inserts rows. Any id that already exists (or repeats in the batch) fails the whole batch.
    /// Returns the number of rows inserted.
    pub fn insert(&mut self, batch: &RecordBatch) -> Result<usize, WriteError> {
        self.put(batch, false)
    }

    /// Inserts rows, replacing rows with the same id. Returns the number of rows written.
    pub fn upsert(&mut self, batch: &RecordBatch) -> Result<usize, WriteError> {
        self.put(batch, true)
    }

    fn put(&mut self, batch: &RecordBatch, replace: bool) -> Result<usize, WriteError> {
        let def = self.table.def.clone();
        let batch = conform::conform(&def.schema, batch)?;
        let n = batch.num_rows();
        if n == 0 {
            return Ok(0);
        }
        let pks: Vec<i64> = batch
            .column(def.schema.pk_index())
            .as_primitive::<Int64Type>()
            .values()
            .to_vec();
        let existing = self.locate(&pks)?;
        if !replace {
            if let Some(i) = existing.iter().position(Option::is_some) {
                return Err(InputError::DuplicateKey(pks[i]).into());
            }
        }
        let v = self.snapshot();
        let mut wb = WriteBatch::default();
        let (mem_dead, seg_deletes) = stage_removals(&v, existing.iter().flatten(), &mut wb)?;
        let tid = def.id;
        let first = self.state.next_rowid;
        let rowids: Vec<u64> = (first..first + n as u64).collect();
        for ((row, &pk), &rowid) in encode_rows(&def, &batch).iter().zip(&pks).zip(&rowids) {
            wb.put(keys::wal(tid, rowid), row);
            let loc = Location {
                rowid,
                segment: Location::WAL,
                offset: 0,
            };
            wb.put(keys::pk(tid, pk), loc.encode());
        }
        wb.put(keys::next_rowid(tid), (first + n as u64).to_le_bytes());
        self.write(wb, false)?;
        self.state.next_rowid = first + n as u64;
        let mem = v
            .mem
            .with_dead(&mem_dead)
            .with_chunk(MemChunk { batch, rowids });
        self.publish_with(&v, mem, seg_deletes);
        Ok(n)
    }

    /// Deletes rows by id. Missing ids are ignored. Returns the number of rows deleted.
    pub fn delete(&mut self, ids: &[i64]) -> Result<usize> {
        let mut ids = ids.to_vec();
        ids.sort_unstable();
        ids.dedup();
        let locs = self.locate(&ids)?;
        let found: Vec<(i64, Location)> = ids
            .iter()
            .zip(&locs)
            .filter_map(|(&k, l)| l.map(|l| (k, l)))
            .collect();
        if found.is_empty() {
            return Ok(0);
        }
        let v = self.snapshot();
        let mut wb = WriteBatch::default();
        let (mem_dead, seg_deletes) = stage_removals(&v, found.iter().map(|(_, l)| l), &mut wb)?;
        for (k, l) in &found {
            if l.segment == Location::WAL {
                wb.delete(keys::pk(self.table.def.id, *k));
            }
        }
        self.write(wb, false)?;
        let mem = v.mem.with_dead(&mem_dead);
        self.publish_with(&v, mem, seg_deletes);
        Ok(found.len())
    }

    fn publish_with(
        &self,
        v: &TableVersion,
        mem: crate::memtable::MemTable,
        seg_deletes: HashMap<usize, roaring::RoaringBitmap>,
    ) {
        let mut deletes = v.deletes.clone();
        for (pos, bm) in seg_deletes {
            deletes[pos] = Arc::new(bm);
        }
        self.table.publish(TableVersion {
            def: v.def.clone(),
            manifest: v.manifest.clone(),
            segments: v.segments.clone(),
            deletes,
            mem,
            index: v.index.clone(),
            seq: 0,
        });
    }
}

/// The removal of rows at `locs`: write-ahead keys deleted, segment offsets added to the
/// deletion bitmaps.
type Removals = (Vec<u64>, HashMap<usize, roaring::RoaringBitmap>);

/// Stages the removal of rows at `locs` in `wb`; returns the dead memtable row ids and the
/// updated bitmaps.
fn stage_removals<'l>(
    v: &TableVersion,
    locs: impl Iterator<Item = &'l Location>,
    wb: &mut WriteBatch,
) -> Result<Removals> {
    let tid = v.def.id;
    let mut mem_dead = Vec::new();
    let mut seg: HashMap<usize, roaring::RoaringBitmap> = HashMap::new();
    for l in locs {
        if l.segment == Location::WAL {
            wb.delete(keys::wal(tid, l.rowid));
            mem_dead.push(l.rowid);
        } else {
            let pos = v.segment_pos(l.segment).ok_or_else(|| {
                StorageError::corrupt(
                    format!("table {}", v.def.name),
                    format!(
                        "a key points at segment {} which is not in the manifest",
                        l.segment
                    ),
                )
            })?;
            seg.entry(pos)
                .or_insert_with(|| (*v.deletes[pos]).clone())
                .insert(l.offset);
        }
    }
    for (pos, bm) in &seg {
        wb.put(
            keys::del(tid, v.segments[*pos].meta().id),
            deletes_bytes(bm),
        );
    }
    Ok((mem_dead, seg))
}
