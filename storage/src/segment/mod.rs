//! Immutable segments: a Parquet file (user columns, `_rowid`, one column per vector band) and
//! a memory-mapped sidecar (row ids, keys, the key index, where the band values sit in the
//! Parquet file, that file's block checksums, and the engine's sections).
//!
//! Opening a segment maps both files and reads their footers only; no data is read and no
//! checksum over the data is computed (blocks are verified on first read, see
//! [`crate::blockcrc`]), so opening costs the same for a thousand rows or ten million.

mod pq;
mod read;
#[cfg(test)]
mod tests;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use arrow_array::ArrayRef;
use arrow_schema::SchemaRef;
use bytes::Bytes;
use memmap2::Mmap;
use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions};

use crate::blockcrc::{self, Verified};
use crate::container::{Container, FileKind, Raw};
use crate::error::{Result, StorageError};
use crate::manifest::SegmentMeta;
use crate::schema::TableSchema;
use crate::sections;

pub use pq::{
    band_column, fsl, parquet_schema, PARQUET_BANDS_KEY, PARQUET_SCHEMA_KEY, ROW_GROUP_ROWS,
};
pub use writer::{SegmentSpec, SegmentWriter, SidecarMeta, SIDECAR_LAYOUT};

use pq::VerifiedBytes;

/// An open segment. Files stay readable through their mappings even after a compaction
/// unlinks them, so a snapshot holding this keeps working.
pub struct Segment {
    meta: SegmentMeta,
    parquet_path: PathBuf,
    parquet: VerifiedBytes,
    reader_meta: ArrowReaderMetadata,
    sidecar: Container,
    group_rows: usize,
    bands: Vec<(usize, usize)>,
    band_pages: Vec<u64>,
    /// Whole user columns, decoded on first use (filters) and kept.
    columns: Vec<OnceLock<ArrayRef>>,
    /// Per user column, a row order derived from its values by the engine (range filters'
    /// value order), built on first use and kept ([`Segment::row_order`]).
    orders: Vec<OnceLock<Arc<[u32]>>>,
    /// Smallest and largest primary key, read on first use.
    pk_bounds: OnceLock<Option<(i64, i64)>>,
    /// Recently decoded (column, row group) pieces (results touch a few rows of a few groups).
    pieces: Mutex<read::PieceCache>,
    /// Parquet root column indices of each user column (the vector maps to its bands).
    roots: Vec<Vec<usize>>,
    dim: usize,
    vector_index: usize,
    schema: SchemaRef,
    table: TableSchema,
}

impl std::fmt::Debug for Segment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Segment").field("meta", &self.meta).finish()
    }
}

impl Segment {
    /// Opens segment `meta` in `dir`: maps both files, checks their footers, lengths and row
    /// counts against the manifest and the schema (no data is read).
    pub fn open(dir: &Path, meta: &SegmentMeta, schema: &TableSchema) -> Result<Segment> {
        let parquet_path = dir.join(meta.parquet_name());
        let bytes = map_file(&parquet_path)?;
        let corrupt = |r: String| StorageError::corrupt(parquet_path.display().to_string(), r);
        if bytes.len() as u64 != meta.parquet_bytes {
            return Err(corrupt(format!(
                "{} bytes, the manifest says {}",
                bytes.len(),
                meta.parquet_bytes
            )));
        }
        let sidecar = Container::open(&dir.join(meta.sidecar_name()), FileKind::Sidecar)?;
        if sidecar.len_bytes() as u64 != meta.sidecar_bytes {
            return Err(StorageError::corrupt(
                sidecar.path().display().to_string(),
                format!(
                    "{} bytes, the manifest says {}",
                    sidecar.len_bytes(),
                    meta.sidecar_bytes
                ),
            ));
        }
        let sm = read_meta(&sidecar)?;
        check_meta(&sm, meta, schema)
            .map_err(|r| StorageError::corrupt(sidecar.path().display().to_string(), r))?;
        let crcs = sidecar
            .typed::<u32>(sections::PARQUET_CRCS, blockcrc::blocks(bytes.len()))?
            .to_vec();
        let groups = (meta.rows as usize).div_ceil(sm.row_group_rows as usize);
        let band_pages = sidecar
            .typed::<u64>(sections::BAND_PAGES, groups * schema.bands().len())?
            .to_vec();
        let parquet = VerifiedBytes {
            bytes,
            crcs: Arc::new(crcs),
            verified: Arc::new(Verified::new(blockcrc::blocks(meta.parquet_bytes as usize))),
        };
        let reader_meta = ArrowReaderMetadata::load(&parquet, ArrowReaderOptions::new())
            .map_err(|e| StorageError::parquet(&parquet_path, e))?;
        let seg = Segment {
            meta: meta.clone(),
            reader_meta,
            parquet,
            sidecar,
            group_rows: sm.row_group_rows as usize,
            bands: schema.bands(),
            band_pages,
            columns: (0..schema.columns().len())
                .map(|_| OnceLock::new())
                .collect(),
            orders: (0..schema.columns().len())
                .map(|_| OnceLock::new())
                .collect(),
            pieces: Mutex::new(read::PieceCache::default()),
            pk_bounds: OnceLock::new(),
            roots: roots(schema),
            dim: schema.dim(),
            vector_index: schema.vector_index(),
            schema: schema.arrow_schema(),
            table: schema.clone(),
            parquet_path,
        };
        seg.check_layout()?;
        Ok(seg)
    }

    /// The row groups and band pages agree with the sidecar and lie inside the file.
    fn check_layout(&self) -> Result<()> {
        let md = self.reader_meta.metadata();
        let bad = |r: String| StorageError::corrupt(self.parquet_path.display().to_string(), r);
        if md.file_metadata().num_rows() as u64 != self.meta.rows {
            return Err(bad(format!(
                "{} rows, the manifest says {}",
                md.file_metadata().num_rows(),
                self.meta.rows
            )));
        }
        let groups = md.num_row_groups();
        if groups != self.band_pages.len() / self.bands.len().max(1) {
            return Err(bad(format!(
                "{groups} row groups, the sidecar describes another count"
            )));
        }
        for g in 0..groups {
            let (a, b) = self.group_range(g);
            if md.row_group(g).num_rows() as usize != b - a {
                return Err(bad(format!("row group {g} has an unexpected row count")));
            }
            for (bi, &(s, e)) in self.bands.iter().enumerate() {
                let start = self.band_pages[g * self.bands.len() + bi];
                let end = start.checked_add(((b - a) * (e - s) * 4) as u64);
                if end.is_none_or(|end| end > self.meta.parquet_bytes) {
                    return Err(bad(format!(
                        "band {bi} of row group {g} lies outside the file"
                    )));
                }
            }
        }
        Ok(())
    }

    /// The segment's manifest entry.
    pub fn meta(&self) -> &SegmentMeta {
        &self.meta
    }

    /// Rows in the segment (deleted ones included).
    pub fn rows(&self) -> usize {
        self.meta.rows as usize
    }

    /// The sidecar, for the engine's sections.
    pub fn sidecar(&self) -> &Container {
        &self.sidecar
    }

    /// The table schema the segment was opened with.
    pub fn table_schema(&self) -> &TableSchema {
        &self.table
    }

    /// The table's Arrow schema (user columns), as [`Segment::column`] returns them.
    pub fn arrow_schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// Total bytes of both files.
    pub fn bytes(&self) -> u64 {
        self.meta.parquet_bytes + self.meta.sidecar_bytes
    }

    /// Number of Parquet row groups.
    pub fn row_groups(&self) -> usize {
        self.band_pages.len() / self.bands.len().max(1)
    }

    /// Rows `[start, end)` of row group `g`.
    pub fn group_range(&self, g: usize) -> (usize, usize) {
        let a = g * self.group_rows;
        (a.min(self.rows()), (a + self.group_rows).min(self.rows()))
    }

    /// Rows per row group (the last may be shorter).
    pub fn group_rows(&self) -> usize {
        self.group_rows
    }

    /// Verifies every checksummed byte of both files (the sidecar's sections and every block of
    /// the Parquet file).
    pub fn verify_all(&self) -> Result<()> {
        self.sidecar.verify_all()?;
        self.parquet
            .verified
            .ensure_all(&self.parquet.crcs, 0, &self.parquet.bytes)
            .map_err(|b| StorageError::BlockChecksum {
                path: self.parquet_path.clone(),
                block: b.block as u64,
                stored: b.stored,
                computed: b.computed,
            })
    }

    fn raw_section<T: crate::container::Pod>(&self, tag: u32) -> Result<(&[T], Raw<'_>)> {
        self.sidecar.typed_raw::<T>(tag, self.rows())
    }
}

fn map_file(path: &Path) -> Result<Bytes> {
    let file = std::fs::File::open(path).map_err(|e| StorageError::io(path, e))?;
    // SAFETY: segment files are immutable once renamed into place; nestdb never writes to
    // them again, so the mapping cannot change while it is alive.
    let map = unsafe { Mmap::map(&file) }.map_err(|e| StorageError::io(path, e))?;
    crate::container::random_access(&map);
    Ok(Bytes::from_owner(map))
}

fn read_meta(c: &Container) -> Result<SidecarMeta> {
    let raw = c.require(sections::META)?;
    serde_json::from_slice(raw).map_err(|e| {
        StorageError::corrupt(c.path().display().to_string(), format!("sidecar meta: {e}"))
    })
}

fn check_meta(sm: &SidecarMeta, meta: &SegmentMeta, schema: &TableSchema) -> Result<(), String> {
    if sm.layout != SIDECAR_LAYOUT {
        return Err(format!(
            "sidecar layout {} (this build reads layout {SIDECAR_LAYOUT})",
            sm.layout
        ));
    }
    if sm.rows != meta.rows {
        return Err(format!("{} rows, the manifest says {}", sm.rows, meta.rows));
    }
    if sm.index_version != meta.index_version {
        return Err(format!(
            "encoded under index {}, the manifest says {}",
            sm.index_version, meta.index_version
        ));
    }
    if sm.bands != schema.bands() {
        return Err("its bands differ from the table schema's".into());
    }
    if sm.row_group_rows == 0 {
        return Err("row groups of zero rows".into());
    }
    Ok(())
}

fn roots(schema: &TableSchema) -> Vec<Vec<usize>> {
    let mut roots = Vec::new();
    let mut next = 1; // root 0 is _rowid
    for i in 0..schema.columns().len() {
        let width = if i == schema.vector_index() {
            schema.bands().len()
        } else {
            1
        };
        roots.push((next..next + width).collect());
        next += width;
    }
    roots
}
