//! RocksDB key layout. All integers in keys are big-endian so keys sort numerically.
//!
//! ```text
//! c/format                      u32 LE: catalog format version
//! c/next_table_id               u64 LE
//! c/t/<name>                    JSON TableDef
//! c/m/<name>                    JSON model definition (engine-defined)
//! t/<tid:8>/m                   JSON Manifest (current table version)
//! t/<tid:8>/r                   u64 LE: next row id
//! t/<tid:8>/w/<rowid:8>         write-ahead row (rowcodec), not yet in a segment
//! t/<tid:8>/k/<pk:8>            id index of unflushed rows: rowid u64 LE, segment u64 LE (always
//!                               u64::MAX = write-ahead), offset u32 LE; segment rows are found
//!                               through each segment's own key index instead
//! t/<tid:8>/d/<segment:8>       deletion bitmap of a segment (portable roaring)
//! ```

/// Catalog format version key.
pub const FORMAT: &[u8] = b"c/format";
/// Next table id key.
pub const NEXT_TABLE_ID: &[u8] = b"c/next_table_id";
/// Prefix of table definitions.
pub const TABLE_PREFIX: &[u8] = b"c/t/";
/// Prefix of model definitions.
pub const MODEL_PREFIX: &[u8] = b"c/m/";

/// Key of table `name`'s definition.
pub fn table_def(name: &str) -> Vec<u8> {
    [TABLE_PREFIX, name.as_bytes()].concat()
}

/// Key of model `name`'s definition.
pub fn model_def(name: &str) -> Vec<u8> {
    [MODEL_PREFIX, name.as_bytes()].concat()
}

fn table_key(tid: u64, kind: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(20);
    k.extend_from_slice(b"t/");
    k.extend_from_slice(&tid.to_be_bytes());
    k.extend_from_slice(kind);
    k
}

/// Prefix of every key of table `tid`.
pub fn table_prefix(tid: u64) -> Vec<u8> {
    table_key(tid, b"/")
}

/// Key of table `tid`'s manifest.
pub fn manifest(tid: u64) -> Vec<u8> {
    table_key(tid, b"/m")
}

/// Key of table `tid`'s next row id.
pub fn next_rowid(tid: u64) -> Vec<u8> {
    table_key(tid, b"/r")
}

/// Prefix of table `tid`'s write-ahead rows.
pub fn wal_prefix(tid: u64) -> Vec<u8> {
    table_key(tid, b"/w/")
}

/// Key of a write-ahead row.
pub fn wal(tid: u64, rowid: u64) -> Vec<u8> {
    [wal_prefix(tid), rowid.to_be_bytes().to_vec()].concat()
}

/// Prefix of table `tid`'s id index.
pub fn pk_prefix(tid: u64) -> Vec<u8> {
    table_key(tid, b"/k/")
}

/// Key of the id index entry for primary key `pk`.
pub fn pk(tid: u64, pk: i64) -> Vec<u8> {
    [pk_prefix(tid), (pk as u64).to_be_bytes().to_vec()].concat()
}

/// Prefix of table `tid`'s deletion bitmaps.
pub fn del_prefix(tid: u64) -> Vec<u8> {
    table_key(tid, b"/d/")
}

/// Key of segment `seg`'s deletion bitmap.
pub fn del(tid: u64, seg: u64) -> Vec<u8> {
    [del_prefix(tid), seg.to_be_bytes().to_vec()].concat()
}

/// The exclusive upper bound of keys starting with `prefix` (for range scans and deletes).
pub fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0xff; prefix.len() + 1]
}

/// Decodes the big-endian u64 at the end of a key.
pub fn suffix_u64(key: &[u8]) -> Option<u64> {
    let b: [u8; 8] = key.get(key.len().checked_sub(8)?..)?.try_into().ok()?;
    Some(u64::from_be_bytes(b))
}

/// Where a live row is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Location {
    /// The row's stable id.
    pub rowid: u64,
    /// Segment id, or [`Location::WAL`] for a write-ahead row.
    pub segment: u64,
    /// Row offset within the segment (0 for write-ahead rows).
    pub offset: u32,
}

impl Location {
    /// Segment id used for rows not yet flushed.
    pub const WAL: u64 = u64::MAX;

    /// Encodes the location as an id-index value.
    pub fn encode(&self) -> [u8; 20] {
        let mut b = [0u8; 20];
        b[..8].copy_from_slice(&self.rowid.to_le_bytes());
        b[8..16].copy_from_slice(&self.segment.to_le_bytes());
        b[16..].copy_from_slice(&self.offset.to_le_bytes());
        b
    }

    /// Decodes an id-index value.
    pub fn decode(b: &[u8]) -> Option<Location> {
        if b.len() != 20 {
            return None;
        }
        Some(Location {
            rowid: u64::from_le_bytes(b[..8].try_into().ok()?),
            segment: u64::from_le_bytes(b[8..16].try_into().ok()?),
            offset: u32::from_le_bytes(b[16..].try_into().ok()?),
        })
    }
}
