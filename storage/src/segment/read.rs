//! Reading a segment: ids and keys from the sidecar, vector values straight from the mapped
//! Parquet pages, other columns decoded by row group.

use std::collections::VecDeque;
use std::sync::Arc;

use arrow_array::{Array, ArrayRef, RecordBatch, UInt32Array};
use parquet::arrow::arrow_reader::{
    ParquetRecordBatchReaderBuilder, RowSelection, RowSelectionPolicy, RowSelector,
};
use parquet::arrow::ProjectionMask;

use super::pq::fsl;
use super::Segment;
use crate::container::as_bytes_mut;
use crate::error::{Result, StorageError};
use crate::sections;

/// Bytes of decoded (column, row group) pieces a segment keeps for result materialization.
const PIECE_BYTES: usize = 32 << 20;

/// A row group at least one in this many of whose rows a `take` wants is decoded whole (and
/// kept in the piece cache); from the others only the wanted rows are read, except for
/// fixed-width columns, whose groups are always decoded whole and kept (`fixed_width`).
const WHOLE_GROUP_SHARE: usize = 8;

/// A small LRU of decoded (column, row group) arrays.
#[derive(Default)]
pub(super) struct PieceCache {
    items: VecDeque<((usize, usize), ArrayRef)>,
    bytes: usize,
}

impl PieceCache {
    fn get(&mut self, key: (usize, usize)) -> Option<ArrayRef> {
        let pos = self.items.iter().position(|(k, _)| *k == key)?;
        let item = self.items.remove(pos)?;
        let a = item.1.clone();
        self.items.push_front(item);
        Some(a)
    }

    fn put(&mut self, key: (usize, usize), a: ArrayRef) {
        self.bytes += a.get_array_memory_size();
        self.items.push_front((key, a));
        while self.bytes > PIECE_BYTES && self.items.len() > 1 {
            if let Some((_, old)) = self.items.pop_back() {
                self.bytes -= old.get_array_memory_size();
            }
        }
    }
}

impl Segment {
    fn pq_err(&self, e: parquet::errors::ParquetError) -> StorageError {
        StorageError::parquet(&self.parquet_path, e)
    }

    fn out_of_range(&self, off: usize) -> StorageError {
        StorageError::corrupt(
            format!("segment {}", self.meta.id),
            format!("row {off} out of range ({} rows)", self.rows()),
        )
    }

    /// Stable row id of row `off`.
    pub fn rowid(&self, off: usize) -> Result<u64> {
        let (ids, raw) = self.raw_section::<u64>(sections::ROWIDS)?;
        let v = *ids.get(off).ok_or_else(|| self.out_of_range(off))?;
        self.sidecar.verify(&raw, off * 8..off * 8 + 8)?;
        Ok(v)
    }

    /// Every row id, by offset (verifies the whole section).
    pub fn rowids(&self) -> Result<&[u64]> {
        self.sidecar.typed::<u64>(sections::ROWIDS, self.rows())
    }

    /// Primary key of row `off`.
    pub fn pk(&self, off: usize) -> Result<i64> {
        let (pks, raw) = self.raw_section::<i64>(sections::PKS)?;
        let v = *pks.get(off).ok_or_else(|| self.out_of_range(off))?;
        self.sidecar.verify(&raw, off * 8..off * 8 + 8)?;
        Ok(v)
    }

    /// Every primary key, by offset (verifies the whole section).
    pub fn pks(&self) -> Result<&[i64]> {
        self.sidecar.typed::<i64>(sections::PKS, self.rows())
    }

    /// The offsets holding primary key `key` (several when rows with it were deleted and
    /// re-added within the segment's history; callers skip deleted offsets).
    pub fn find_pk(&self, key: i64) -> Result<Vec<u32>> {
        let (order, oraw) = self.raw_section::<u32>(sections::PK_ORDER)?;
        let key_at = |i: usize| -> Result<i64> {
            self.sidecar.verify(&oraw, i * 4..i * 4 + 4)?;
            let off = order[i] as usize;
            self.pk(off)
        };
        // first position whose key is >= `key`
        let (mut lo, mut hi) = (0usize, order.len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if key_at(mid)? < key {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        let mut out = Vec::new();
        while lo < order.len() && key_at(lo)? == key {
            out.push(order[lo]);
            lo += 1;
        }
        Ok(out)
    }

    /// The smallest and largest primary key (None when empty).
    pub fn pk_range(&self) -> Result<Option<(i64, i64)>> {
        let (order, raw) = self.raw_section::<u32>(sections::PK_ORDER)?;
        let (Some(&a), Some(&b)) = (order.first(), order.last()) else {
            return Ok(None);
        };
        self.sidecar.verify(&raw, 0..4)?;
        self.sidecar
            .verify(&raw, (order.len() - 1) * 4..order.len() * 4)?;
        Ok(Some((self.pk(a as usize)?, self.pk(b as usize)?)))
    }

    /// Whether key `key` lies within the segment's key range (a cheap test before
    /// [`Segment::find_pk`]).
    pub fn may_hold_pk(&self, key: i64) -> Result<bool> {
        let b = match self.pk_bounds.get() {
            Some(b) => *b,
            None => {
                let b = self.pk_range()?;
                *self.pk_bounds.get_or_init(|| b)
            }
        };
        Ok(b.is_some_and(|(lo, hi)| lo <= key && key <= hi))
    }

    /// The key index: row offsets ordered by (key, offset), verified.
    pub fn pk_order(&self) -> Result<&[u32]> {
        self.sidecar.typed::<u32>(sections::PK_ORDER, self.rows())
    }

    /// The little-endian `f32` values of band `b` of rows `[g start, g end)` of row group `g`
    /// (`rows x width x 4` bytes, not necessarily 4-byte aligned), verified.
    pub fn band_region(&self, b: usize, g: usize) -> Result<&[u8]> {
        let (s, e) = self.bands[b];
        let (a, z) = self.group_range(g);
        let start = self.band_pages[g * self.bands.len() + b] as usize;
        let len = (z - a) * (e - s) * 4;
        self.parquet
            .ensure(start, len)
            .map_err(|e| self.pq_err(e))?;
        Ok(&self.parquet.bytes[start..start + len])
    }

    /// Unmaps the pages of row group `g`'s column chunks from this process (see
    /// [`crate::blockcrc::release`]): one-pass readers (compaction, the tuner's exact pass)
    /// call it after each group so their resident memory does not grow with the table.
    pub fn release_group(&self, g: usize) {
        let md = self.reader_meta.metadata();
        if g >= md.num_row_groups() {
            return;
        }
        let (lo, hi) = md
            .row_group(g)
            .columns()
            .iter()
            .fold((u64::MAX, 0), |(lo, hi), c| {
                let (s, l) = c.byte_range();
                (lo.min(s), hi.max(s.saturating_add(l)))
            });
        let hi = (hi as usize).min(self.parquet.bytes.len());
        if (lo as usize) < hi {
            // SAFETY: `parquet.bytes` is the read-only shared mapping of an immutable segment
            // file (`map_file`).
            unsafe { crate::blockcrc::release(&self.parquet.bytes[lo as usize..hi]) };
        }
    }

    /// Unmaps every page of both files from this process (see [`Segment::release_group`]).
    pub fn release_all(&self) {
        // SAFETY: as in `release_group`.
        unsafe { crate::blockcrc::release(&self.parquet.bytes) };
        self.sidecar.release();
    }

    /// The little-endian `f32` values of band `b` of row `off` (`width x 4` bytes), verified.
    #[inline]
    pub fn band_row(&self, b: usize, off: usize) -> Result<&[u8]> {
        let (s, e) = self.bands[b];
        let w = (e - s) * 4;
        let g = off / self.group_rows;
        let page = *self
            .band_pages
            .get(g * self.bands.len() + b)
            .ok_or_else(|| self.out_of_range(off))? as usize;
        let start = page + (off - g * self.group_rows) * w;
        self.parquet.ensure(start, w).map_err(|e| self.pq_err(e))?;
        Ok(&self.parquet.bytes[start..start + w])
    }

    /// The bytes of band `b` of row `off` without verifying them (for prefetching only).
    #[inline]
    pub fn band_row_unverified(&self, b: usize, off: usize) -> Option<&[u8]> {
        let (s, e) = *self.bands.get(b)?;
        let w = (e - s) * 4;
        let g = off / self.group_rows;
        let page = *self.band_pages.get(g * self.bands.len() + b)? as usize;
        let start = page + (off - g * self.group_rows) * w;
        self.parquet.bytes.get(start..start + w)
    }

    /// The full vector of row `off`, as stored by the user.
    pub fn vector(&self, off: usize, out: &mut Vec<f32>) -> Result<()> {
        for b in 0..self.bands.len() {
            out.extend(
                self.band_row(b, off)?
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])),
            );
        }
        Ok(())
    }

    /// User column `idx` (schema order) of every row, decoded on first use and kept.
    pub fn column(&self, idx: usize) -> Result<ArrayRef> {
        if let Some(c) = self.columns[idx].get() {
            return Ok(c.clone());
        }
        let c = if idx == self.vector_index {
            self.vectors(&(0..self.rows() as u32).collect::<Vec<_>>())?
        } else {
            let parts: Vec<ArrayRef> = (0..self.row_groups())
                .map(|g| self.piece(idx, g, false))
                .collect::<Result<_>>()?;
            concat(&parts)?
        };
        if c.len() != self.rows() {
            return Err(StorageError::corrupt(
                self.parquet_path.display().to_string(),
                "column length differs from the manifest's row count",
            ));
        }
        Ok(self.columns[idx].get_or_init(|| c).clone())
    }

    /// A row order of user column `idx` that `build` derives from the segment (the engine's
    /// range filters keep the offsets of the non-NULL rows in ascending order of value), built
    /// on the first call and kept while the segment is open: 4 bytes per row it holds. Later
    /// calls return the kept order whatever their `build`.
    pub fn row_order(&self, idx: usize, build: impl FnOnce() -> Vec<u32>) -> Arc<[u32]> {
        if let Some(o) = self.orders[idx].get() {
            return o.clone();
        }
        let o: Arc<[u32]> = build().into();
        self.orders[idx].get_or_init(|| o).clone()
    }

    /// Values of user column `idx` at `offsets` (any order, repeats allowed; an offset past the
    /// last row is an error), decoding only the rows they name: a row group at least one in
    /// [`WHOLE_GROUP_SHARE`] of whose rows are wanted, or of a fixed-width column, is decoded
    /// whole and kept in the piece cache; from any other, only the wanted rows are read (a
    /// Parquet row selection, so the values between them are skipped rather than
    /// materialized).
    pub fn take(&self, idx: usize, offsets: &[u32]) -> Result<ArrayRef> {
        if idx == self.vector_index {
            return self.vectors(offsets);
        }
        if let Some(&o) = offsets.iter().find(|&&o| o as usize >= self.rows()) {
            return Err(self.out_of_range(o as usize));
        }
        if let Some(c) = self.columns[idx].get() {
            return Ok(arrow_select::take::take(
                c,
                &UInt32Array::from(offsets.to_vec()),
                None,
            )?);
        }
        if offsets.is_empty() {
            let ty = self.schema.field(idx).data_type();
            return Ok(arrow_array::new_empty_array(ty));
        }
        let mut rows = offsets.to_vec();
        rows.sort_unstable();
        rows.dedup();
        let gr = self.group_rows;
        let parts: Vec<ArrayRef> = rows
            .chunk_by(|a, b| *a as usize / gr == *b as usize / gr)
            .map(|run| self.rows_of_group(idx, run[0] as usize / gr, run))
            .collect::<Result<_>>()?;
        let all = concat(&parts)?;
        // `all` holds `rows` in order
        let pos: Vec<u32> = offsets
            .iter()
            .map(|o| rows.binary_search(o).unwrap_or(0) as u32)
            .collect();
        Ok(arrow_select::take::take(
            &all,
            &UInt32Array::from(pos),
            None,
        )?)
    }

    /// How many (column, row group) pieces the cache holds.
    #[cfg(test)]
    pub(super) fn cached_pieces(&self) -> usize {
        self.lock_pieces().items.len()
    }

    /// Column `idx` at `run` (ascending offsets, all in row group `g`).
    fn rows_of_group(&self, idx: usize, g: usize, run: &[u32]) -> Result<ArrayRef> {
        let (a, z) = self.group_range(g);
        let rel: Vec<u32> = run.iter().map(|&o| o - a as u32).collect();
        let whole = if run.len() * WHOLE_GROUP_SHARE >= z - a || self.fixed_width(idx) {
            Some(self.piece(idx, g, true)?)
        } else {
            self.cached_piece(idx, g)
        };
        let Some(p) = whole else {
            return self.read_rows(idx, g, &rel);
        };
        Ok(arrow_select::take::take(&p, &UInt32Array::from(rel), None)?)
    }

    /// Whether user column `idx` has fixed-width values (integers, floats, timestamps): a row
    /// group of them decodes whole for about what reading a few of its rows costs (the same
    /// pages are decompressed either way, and the values are small: 256 KiB for 32,768
    /// `i64`s), so `take` keeps the group in the piece cache and later searches returning
    /// rows of it read no Parquet at all.
    fn fixed_width(&self, idx: usize) -> bool {
        self.schema
            .field(idx)
            .data_type()
            .primitive_width()
            .is_some()
    }

    /// Column `idx` at the rows `rel` (ascending, relative to row group `g`'s first row).
    fn read_rows(&self, idx: usize, g: usize, rel: &[u32]) -> Result<ArrayRef> {
        let (a, z) = self.group_range(g);
        let mut sel = Vec::with_capacity(2 * rel.len() + 1);
        let mut at = 0usize;
        for &r in rel {
            let r = r as usize;
            if r > at {
                sel.push(RowSelector::skip(r - at));
            }
            sel.push(RowSelector::select(1));
            at = r + 1;
        }
        if z - a > at {
            sel.push(RowSelector::skip(z - a - at));
        }
        let sel = Some(RowSelection::from(sel));
        let col = first_column(&self.read_groups(&[g], Some(&self.roots[idx]), sel)?)?;
        if col.len() != rel.len() {
            return Err(StorageError::corrupt(
                self.parquet_path.display().to_string(),
                format!("row group {g} returned {} of {} rows", col.len(), rel.len()),
            ));
        }
        Ok(col)
    }

    fn vectors(&self, offsets: &[u32]) -> Result<ArrayRef> {
        let mut out = Vec::with_capacity(offsets.len() * self.dim);
        for &o in offsets {
            if o as usize >= self.rows() {
                return Err(self.out_of_range(o as usize));
            }
            self.vector(o as usize, &mut out)?;
        }
        Ok(fsl(out, self.dim))
    }

    /// User column `idx` of the rows of row group `g` (not cached: for streaming passes).
    pub fn column_group(&self, idx: usize, g: usize) -> Result<ArrayRef> {
        if idx == self.vector_index {
            let (a, z) = self.group_range(g);
            return self.vectors(&(a as u32..z as u32).collect::<Vec<_>>());
        }
        self.piece(idx, g, false)
    }

    /// Column `idx` of row group `g`, from the piece cache when `cache`.
    fn piece(&self, idx: usize, g: usize, cache: bool) -> Result<ArrayRef> {
        if cache {
            if let Some(a) = self.cached_piece(idx, g) {
                return Ok(a);
            }
        }
        let a = first_column(&self.read_groups(&[g], Some(&self.roots[idx]), None)?)?;
        if cache {
            self.lock_pieces().put((idx, g), a.clone());
        }
        Ok(a)
    }

    fn lock_pieces(&self) -> std::sync::MutexGuard<'_, PieceCache> {
        self.pieces.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Column `idx` of row group `g` if the piece cache holds it.
    fn cached_piece(&self, idx: usize, g: usize) -> Option<ArrayRef> {
        self.lock_pieces().get((idx, g))
    }

    /// Row groups `groups`, columns `roots` (every column when None), the rows `sel` picks
    /// (every row when None).
    fn read_groups(
        &self,
        groups: &[usize],
        roots: Option<&[usize]>,
        sel: Option<RowSelection>,
    ) -> Result<Vec<RecordBatch>> {
        let mut b = ParquetRecordBatchReaderBuilder::new_with_metadata(
            self.parquet.clone(),
            self.reader_meta.clone(),
        )
        .with_row_groups(groups.to_vec())
        .with_batch_size(self.group_rows.max(1));
        if let Some(r) = roots {
            let mask = ProjectionMask::roots(self.reader_meta.parquet_schema(), r.iter().copied());
            b = b.with_projection(mask);
        }
        if let Some(sel) = sel {
            // skip between the rows (parquet's default turns a dense run of selectors into a
            // mask, which decodes every row from the first wanted to the last)
            b = b
                .with_row_selection(sel)
                .with_row_selection_policy(RowSelectionPolicy::Selectors);
        }
        let reader = b.build().map_err(|e| self.pq_err(e))?;
        reader.map(|r| r.map_err(StorageError::Arrow)).collect()
    }

    /// Every row of row group `g`: user columns in the table's canonical schema (the vector
    /// joined from its bands) and the row ids. For streaming whole segments (compaction).
    ///
    /// The vector is copied from the bands' mapped values ([`Segment::band_region`], one plain
    /// page per band and group, verified as it is read): decoding it through Parquet's list
    /// levels cost most of a compaction's first pass. Only the other columns are decoded.
    pub fn read_group(&self, g: usize) -> Result<(RecordBatch, Vec<u64>)> {
        let (a, z) = self.group_range(g);
        let rows = z - a;
        let others: Vec<usize> = (0..self.roots.len())
            .filter(|&i| i != self.vector_index)
            .map(|i| self.roots[i][0])
            .collect();
        let parts = self.read_groups(&[g], Some(&others), None)?;
        let schema = self.schema.clone();
        let mut merged: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
        let mut next = 0;
        for i in 0..self.roots.len() {
            if i == self.vector_index {
                merged.push(fsl(self.group_vectors(g)?, self.dim));
                continue;
            }
            let col = next;
            next += 1;
            merged.push(concat(
                &parts
                    .iter()
                    .map(|p| p.column(col).clone())
                    .collect::<Vec<_>>(),
            )?);
        }
        let batch = RecordBatch::try_new(schema, merged)?;
        if batch.num_rows() != rows {
            return Err(self.out_of_range(z));
        }
        let ids = self.rowids()?[a..z].to_vec();
        Ok((batch, ids))
    }

    /// The vectors of row group `g` (`rows x dim`, row-major), joined from the bands' mapped
    /// values (verified as they are read).
    pub fn group_vectors(&self, g: usize) -> Result<Vec<f32>> {
        let (a, z) = self.group_range(g);
        let rows = z - a;
        let mut out = vec![0f32; rows * self.dim];
        for b in 0..self.bands.len() {
            let (s, e) = self.bands[b];
            let w = e - s;
            let region = self.band_region(b, g)?;
            for (r, src) in region.chunks_exact(w * 4).enumerate() {
                let dst = &mut out[r * self.dim + s..r * self.dim + e];
                if cfg!(target_endian = "little") {
                    as_bytes_mut(dst).copy_from_slice(src);
                } else {
                    for (d, c) in dst.iter_mut().zip(src.chunks_exact(4)) {
                        *d = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
                    }
                }
            }
        }
        Ok(out)
    }
}

/// The first column of `batches`, as one array.
fn first_column(batches: &[RecordBatch]) -> Result<ArrayRef> {
    concat(
        &batches
            .iter()
            .map(|b| b.column(0).clone())
            .collect::<Vec<_>>(),
    )
}

fn concat(parts: &[ArrayRef]) -> Result<ArrayRef> {
    if parts.len() == 1 {
        return Ok(parts[0].clone());
    }
    let refs: Vec<&dyn Array> = parts.iter().map(|a| a.as_ref()).collect();
    Ok(arrow_select::concat::concat(&refs)?)
}

#[allow(dead_code)]
fn _assert_send_sync() {
    fn f<T: Send + Sync>() {}
    f::<Segment>();
    f::<Arc<Segment>>();
}
