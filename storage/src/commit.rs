//! The one commit routine of flush, compaction, ANALYZE and bulk loads.
//!
//! Protocol:
//! 1. the caller writes new segment files ([`Writer::new_segment`]) and index files
//!    ([`Writer::write_index`]) under temporary names, fsyncs and renames them into place
//!    (nothing references them yet);
//! 2. [`Writer::commit`] opens them (footers, lengths, row counts);
//! 3. one synced RocksDB write batch: the new manifest, removal of flushed write-ahead rows and
//!    their id-index entries, removal of replaced segments' deletion bitmaps, the next row id;
//! 4. the new version is published; files no manifest references any more are unlinked.
//!
//! A crash before 3 leaves the old version and unreferenced files (removed at open); after 3,
//! the new version. If the write in 3 fails its outcome is unknown: the writer is poisoned and
//! the files are left for the cleanup at the next open (which keeps them exactly when RocksDB
//! did apply the batch).

use std::sync::Arc;

use roaring::RoaringBitmap;
use rocksdb::WriteBatch;

use crate::container::{self, FileKind, Section};
use crate::error::{Result, StorageError};
use crate::fsutil;
use crate::keys;
use crate::manifest::{IndexRef, SegmentMeta};
use crate::memtable::MemTable;
use crate::schema::TableSchema;
use crate::segment::{Segment, SegmentSpec, SegmentWriter};
use crate::table::{manifest_bytes, open_index, TableVersion, Writer};

/// Write-ahead rows a commit moves into its new segments.
#[derive(Clone, Debug, Default)]
pub struct Flushed {
    /// Their row ids.
    pub rowids: Vec<u64>,
    /// Their primary keys.
    pub pks: Vec<i64>,
}

/// A change to a table's set of segments and index.
#[derive(Debug, Default)]
pub struct Commit {
    /// New segments (written with [`Writer::new_segment`]).
    pub add: Vec<SegmentMeta>,
    /// Ids of segments the new ones replace (compaction).
    pub remove: Vec<u64>,
    /// Write-ahead rows now stored in `add` (flush; the memtable is emptied).
    pub flushed: Option<Flushed>,
    /// An index (written with [`Writer::write_index`]) the version switches to.
    pub index: Option<IndexRef>,
    /// Row ids handed out by a bulk load.
    pub next_rowid: Option<u64>,
}

/// What a commit did.
#[derive(Debug, Default, Clone)]
pub struct CommitInfo {
    /// Segments added.
    pub added: Vec<SegmentMeta>,
    /// Segments replaced.
    pub replaced: usize,
    /// Rows in the added segments.
    pub rows: usize,
}

/// Something that hands out new segment files of one table: its writer, or a bulk load.
pub trait SegmentFactory {
    /// Starts a new segment file (see [`SegmentWriter`]); it takes the next segment id.
    fn new_segment(&mut self, spec: SegmentSpec) -> Result<SegmentWriter>;
    /// The table's schema.
    fn schema(&self) -> &TableSchema;
    /// The table's folder (for temporary files).
    fn dir(&self) -> &std::path::Path;
}

impl SegmentFactory for Writer<'_> {
    fn new_segment(&mut self, spec: SegmentSpec) -> Result<SegmentWriter> {
        let id = self.state.next_segment_id;
        self.state.next_segment_id += 1;
        SegmentWriter::create(&self.table.dir, id, &self.table.def.schema, spec)
    }

    fn schema(&self) -> &TableSchema {
        &self.table.def.schema
    }

    fn dir(&self) -> &std::path::Path {
        &self.table.dir
    }
}

impl Writer<'_> {
    /// Writes a learned index file (fsynced and renamed into place); it takes the next index
    /// version. `sections` come from the engine; `fit_rows` is recorded in the manifest.
    pub fn write_index(&mut self, fit_rows: u64, sections: &[(u32, Vec<u8>)]) -> Result<IndexRef> {
        let r = IndexRef {
            version: self.state.next_index_version,
            fit_rows,
        };
        self.state.next_index_version += 1;
        let secs: Vec<Section> = sections
            .iter()
            .map(|(t, b)| Section { tag: *t, bytes: b })
            .collect();
        container::write(&self.table.dir.join(r.file_name()), FileKind::Index, &secs)?;
        Ok(r)
    }

    /// The index version the next [`Writer::write_index`] will use.
    pub fn next_index_version(&self) -> u64 {
        self.state.next_index_version
    }

    /// Commits `c` (see the module docs).
    pub fn commit(&mut self, c: Commit) -> Result<CommitInfo> {
        let info = CommitInfo {
            rows: c.add.iter().map(|s| s.rows as usize).sum(),
            added: c.add.clone(),
            replaced: c.remove.len(),
        };
        let mut wb = WriteBatch::default();
        let p = self.prepare(c, &mut wb)?;
        self.write(wb, true)?;
        self.publish_prepared(p);
        Ok(info)
    }

    /// Steps 2 and 3 of the protocol without the write: opens the new files and stages the
    /// RocksDB changes in `wb`. Write `wb` (synced), then [`Writer::publish_prepared`].
    pub fn prepare(&mut self, c: Commit, wb: &mut WriteBatch) -> Result<Prepared> {
        let v = self.snapshot();
        let tid = v.def.id;
        let mut m = v.manifest.clone();
        m.version += 1;
        m.next_segment_id = self.state.next_segment_id;
        m.next_index_version = self.state.next_index_version;
        if let Some(ix) = &c.index {
            m.index = Some(ix.clone());
        }
        let expected = m.index.as_ref().map_or(0, |r| r.version);
        let mut segments = Vec::new();
        let mut deletes = Vec::new();
        for (s, d) in v.segments.iter().zip(&v.deletes) {
            if c.remove.contains(&s.meta().id) {
                wb.delete(keys::del(tid, s.meta().id));
            } else {
                segments.push(s.clone());
                deletes.push(d.clone());
            }
        }
        m.segments.retain(|s| !c.remove.contains(&s.id));
        for meta in &c.add {
            segments.push(Arc::new(Segment::open(
                &self.table.dir,
                meta,
                &v.def.schema,
            )?));
            deletes.push(Arc::new(RoaringBitmap::new()));
            m.segments.push(meta.clone());
        }
        if let Some(s) = m.segments.iter().find(|s| s.index_version != expected) {
            return Err(StorageError::corrupt(
                format!("segment {}", s.id),
                format!(
                    "encoded with index {} but the table uses {expected}",
                    s.index_version
                ),
            ));
        }
        let index = if m.index == v.manifest.index {
            v.index.clone()
        } else {
            open_index(&self.table.dir, &m)?
        };
        let mut mem = v.mem.clone();
        if let Some(f) = &c.flushed {
            for (&r, &pk) in f.rowids.iter().zip(&f.pks) {
                wb.delete(keys::wal(tid, r));
                wb.delete(keys::pk(tid, pk));
            }
            mem = MemTable::default();
        }
        if let Some(n) = c.next_rowid {
            wb.put(keys::next_rowid(tid), n.to_le_bytes());
        }
        wb.put(keys::manifest(tid), manifest_bytes(&m));
        let keep = m.files();
        let unlink = v
            .manifest
            .files()
            .into_iter()
            .filter(|f| !keep.contains(f))
            .collect();
        Ok(Prepared {
            next_rowid: c.next_rowid,
            unlink,
            version: TableVersion {
                def: v.def.clone(),
                manifest: m,
                segments,
                deletes,
                mem,
                index,
                seq: 0,
            },
        })
    }

    /// Step 4: publishes a prepared commit whose write batch was written, then unlinks the
    /// files the new version no longer references.
    pub fn publish_prepared(&mut self, p: Prepared) {
        if let Some(n) = p.next_rowid {
            self.state.next_rowid = self.state.next_rowid.max(n);
        }
        self.table.publish(p.version);
        // Open snapshots keep their mappings; unlinking does not disturb them.
        for f in &p.unlink {
            let _ = fsutil::remove_if_exists(&self.table.dir.join(f));
        }
    }
}

/// A commit staged by [`Writer::prepare`], waiting for its write batch.
pub struct Prepared {
    next_rowid: Option<u64>,
    unlink: Vec<String>,
    version: TableVersion,
}
