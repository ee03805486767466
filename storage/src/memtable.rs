//! Rows acknowledged but not yet in a segment: an immutable, shareable in-memory mirror of the
//! write-ahead rows in RocksDB. Every change makes a new `MemTable`; snapshots keep the old one.

use std::collections::HashSet;
use std::sync::Arc;

use arrow_array::{BooleanArray, RecordBatch};

use crate::error::Result;

/// One acknowledged insert: its rows (canonical schema) and their row ids.
#[derive(Debug)]
pub struct MemChunk {
    /// The rows.
    pub batch: RecordBatch,
    /// Row id of each row.
    pub rowids: Vec<u64>,
}

/// The unflushed rows of a table version.
#[derive(Clone, Debug, Default)]
pub struct MemTable {
    chunks: Vec<Arc<MemChunk>>,
    dead: Arc<HashSet<u64>>,
    live: usize,
}

impl MemTable {
    /// The chunks, oldest first. Rows whose id [`MemTable::is_dead`] are deleted.
    pub fn chunks(&self) -> &[Arc<MemChunk>] {
        &self.chunks
    }

    /// Whether the unflushed row `rowid` was deleted or replaced.
    pub fn is_dead(&self, rowid: u64) -> bool {
        self.dead.contains(&rowid)
    }

    /// Number of live rows.
    pub fn live_rows(&self) -> usize {
        self.live
    }

    /// Whether there is nothing to flush.
    pub fn is_empty(&self) -> bool {
        self.chunks.is_empty()
    }

    /// This memtable plus one chunk.
    pub fn with_chunk(&self, chunk: MemChunk) -> MemTable {
        let mut m = self.clone();
        m.live += chunk.rowids.len();
        m.chunks.push(Arc::new(chunk));
        m
    }

    /// This memtable with `rowids` (all live and unflushed) deleted.
    pub fn with_dead(&self, rowids: &[u64]) -> MemTable {
        if rowids.is_empty() {
            return self.clone();
        }
        let mut m = self.clone();
        let mut dead = (*self.dead).clone();
        dead.extend(rowids.iter().copied());
        m.dead = Arc::new(dead);
        m.live -= rowids.len();
        m
    }

    /// The live rows as one batch, with their row ids.
    pub fn live_batch(&self, schema: &arrow_schema::SchemaRef) -> Result<(RecordBatch, Vec<u64>)> {
        let mut parts = Vec::with_capacity(self.chunks.len());
        let mut rowids = Vec::with_capacity(self.live);
        for c in &self.chunks {
            let keep: BooleanArray = c.rowids.iter().map(|r| Some(!self.is_dead(*r))).collect();
            rowids.extend(c.rowids.iter().filter(|r| !self.is_dead(**r)));
            let b = if keep.true_count() == keep.len() {
                c.batch.clone()
            } else {
                arrow_select::filter::filter_record_batch(&c.batch, &keep)?
            };
            parts.push(b);
        }
        let batch = arrow_select::concat::concat_batches(schema, &parts)?;
        Ok((batch, rowids))
    }
}
