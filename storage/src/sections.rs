//! Section tags of segment sidecars and index files: one registry, so tags never collide.
//! `docs/format.md` documents each section's bytes.
//!
//! Storage writes the tags below 16 of a sidecar (ids, keys, where the vector values sit in the
//! Parquet file and that file's block checksums); the engine writes the rest (its layout, the
//! learned index's codes, label dictionaries, zone maps) and the index file.

/// Sidecar: JSON facts storage checks at open (`SidecarMeta`: layout version, rows, row-group
/// size, bands, index version).
pub const META: u32 = 1;
/// Sidecar: `u64` per row, stable row ids.
pub const ROWIDS: u32 = 2;
/// Sidecar: `i64` per row, primary keys.
pub const PKS: u32 = 3;
/// Sidecar: `u32` per row, row offsets ordered by (primary key, offset): the segment's key index.
pub const PK_ORDER: u32 = 4;
/// Sidecar: `u64` per (row group, band): file offset of the band's values in the row group's
/// single data page (PLAIN little-endian `f32`, `rows x width`), index `group * bands + band`.
pub const BAND_PAGES: u32 = 5;
/// Sidecar: `u32` per 64 KiB block of the Parquet file: CRC-32 of the block.
pub const PARQUET_CRCS: u32 = 6;

/// Sidecar: the engine's JSON layout (normalization, rotation, stages present).
pub const LAYOUT: u32 = 16;
/// Sidecar: `u32` per partition + 1: rows are clustered by partition; partition `p` is rows
/// `[o[p], o[p+1])`.
pub const PARTITION_OFFSETS: u32 = 64;
/// Sidecar: `i8`, rows x coarse dims: int8 codes of the rotated coarse prefix.
pub const CODES_I8: u32 = 65;
/// Sidecar: `u8`, rows x ceil(bits dims / 8): sign bits of the rotated coarse prefix.
pub const CODES_BITS: u32 = 66;
/// Sidecar: `f32`, rows x 2: squared norms of the rotated vector's coarse and mid prefixes
/// (L2 tables only).
pub const CODES_AUX: u32 = 67;
/// Sidecar: `i8`, rows x (mid dims - coarse dims): int8 codes of the rotated dims after the
/// coarse prefix, up to the mid prefix.
pub const CODES_MID: u32 = 68;
/// Sidecar: `f32` per row: `1 / |x|` of the stored vector (cosine tables only).
pub const INV_NORMS: u32 = 69;
/// Sidecar: zone maps, per zone of rows the minimum, maximum and NULL count of each numeric
/// column and each PATH column's label ordinal (little-endian binary; `docs/format.md`).
pub const ZONES: u32 = 70;
/// Sidecar: label dictionary of `PATH` column `c`: tags `LABELS_BASE + 8c + k`, with `k` from
/// [`LABEL_BYTES`] to [`LABEL_ORDINALS`].
pub const LABELS_BASE: u32 = 128;
/// Label sections, `k = 0`: the labels' UTF-8 bytes, concatenated in pre-order.
pub const LABEL_BYTES: u32 = 0;
/// `k = 1`: `u32` per label + 1, start of each label in those bytes.
pub const LABEL_STARTS: u32 = 1;
/// `k = 2`: `u32` per label + 1, start of each label's postings.
pub const LABEL_POSTINGS_STARTS: u32 = 2;
/// `k = 3`: `u32` per labelled row, row offsets grouped by label, ascending within a label.
pub const LABEL_POSTINGS: u32 = 3;
/// `k = 4`: `u32` per row, the row's label id (`u32::MAX` when NULL).
pub const LABEL_ORDINALS: u32 = 4;

/// Tag of label section `k` of `PATH` column `col`.
pub fn label_tag(col: usize, k: u32) -> u32 {
    LABELS_BASE + 8 * col as u32 + k
}

/// Index file: JSON model description.
pub const INDEX_META: u32 = 1001;
/// Index file: `f32` rotation matrix, dim x dim, row-major.
pub const INDEX_ROTATION: u32 = 1002;
/// Index file: `f32` partition centroids, partitions x coarse dims.
pub const INDEX_CENTROIDS: u32 = 1004;
/// Index file: `f32` int8 quantizer of the mid prefix: centers, then steps (mid dims each).
pub const INDEX_QUANT: u32 = 1005;
/// Index file (optional): `f32` tuning queries the schedules were tuned on, `n x dim`
/// row-major (absent when they were tuned on rows of the table).
pub const INDEX_TUNING_QUERIES: u32 = 1006;
