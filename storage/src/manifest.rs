//! Table definitions and manifests: which segments make up each table version.

use serde::{Deserialize, Serialize};

use crate::schema::TableSchema;

/// A table in the catalog.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TableDef {
    /// Internal id; names can be reused after a drop, ids never are.
    pub id: u64,
    /// The table's name.
    pub name: String,
    /// Columns, key, vector column, bands and metric.
    pub schema: TableSchema,
    /// Engine-level options (index settings), stored as given.
    #[serde(default)]
    pub options: serde_json::Map<String, serde_json::Value>,
}

/// One immutable segment: a Parquet file and its memory-mapped sidecar.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegmentMeta {
    /// Segment id, unique within the table; names the files.
    pub id: u64,
    /// Rows in the segment, deleted ones included.
    pub rows: u64,
    /// Size of the Parquet file in bytes (its 64 KiB blocks' checksums are in the sidecar).
    pub parquet_bytes: u64,
    /// Size of the sidecar in bytes (checked when the segment is opened).
    pub sidecar_bytes: u64,
    /// Version of the learned index the sidecar was encoded with (0: none).
    pub index_version: u64,
}

impl SegmentMeta {
    /// File name of the segment's Parquet file.
    pub fn parquet_name(&self) -> String {
        format!("seg-{:016x}.parquet", self.id)
    }

    /// File name of the segment's sidecar.
    pub fn sidecar_name(&self) -> String {
        format!("seg-{:016x}.vec", self.id)
    }
}

/// The learned index file a table version uses.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexRef {
    /// Index version (monotonic per table).
    pub version: u64,
    /// Rows the index was fit on.
    pub fit_rows: u64,
}

impl IndexRef {
    /// File name of the index model.
    pub fn file_name(&self) -> String {
        format!("index-{:016x}.nidx", self.version)
    }
}

/// Bound of every counter a manifest or table keeps (versions, ids, row ids): no database
/// reaches it by counting, so a larger stored value is damage, refused before it can overflow.
pub const COUNTER_LIMIT: u64 = 1 << 62;

/// A table version: the segments that make it up.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Monotonic version number; every flush, compaction or re-index adds one.
    pub version: u64,
    /// Segments, in the order they were written.
    pub segments: Vec<SegmentMeta>,
    /// Next segment id to hand out.
    pub next_segment_id: u64,
    /// The learned index, if one has been fit.
    pub index: Option<IndexRef>,
    /// Next index version to hand out.
    #[serde(default)]
    pub next_index_version: u64,
}

impl Manifest {
    /// Checks what a decoded manifest must hold before anything trusts it: its counters are
    /// below [`COUNTER_LIMIT`] (so counting on cannot overflow), segment ids are unique and
    /// below the next id handed out (a later flush would otherwise write over a live segment's
    /// files), and so is the index version. Returns what is wrong.
    pub fn validate(&self) -> Result<(), String> {
        for (what, n) in [
            ("version", self.version),
            ("next segment id", self.next_segment_id),
            ("next index version", self.next_index_version),
        ] {
            if n >= COUNTER_LIMIT {
                return Err(format!("{what} {n} is out of range"));
            }
        }
        let mut ids = std::collections::HashSet::with_capacity(self.segments.len());
        for s in &self.segments {
            if !ids.insert(s.id) {
                return Err(format!("segment {} is listed twice", s.id));
            }
            if s.id >= self.next_segment_id {
                return Err(format!(
                    "segment {} is not below the next segment id {}",
                    s.id, self.next_segment_id
                ));
            }
        }
        if let Some(ix) = &self.index {
            // manifests written before `next_index_version` existed decode it as 0
            if self.next_index_version != 0 && ix.version >= self.next_index_version {
                return Err(format!(
                    "index {} is not below the next index version {}",
                    ix.version, self.next_index_version
                ));
            }
        }
        Ok(())
    }

    /// Names of every file this manifest references.
    pub fn files(&self) -> Vec<String> {
        let mut f: Vec<String> = self
            .segments
            .iter()
            .flat_map(|s| [s.parquet_name(), s.sidecar_name()])
            .collect();
        if let Some(ix) = &self.index {
            f.push(ix.file_name());
        }
        f
    }
}
