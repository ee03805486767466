//! Section tags of segment sidecars and index files (one registry, so tags never collide).
//!
//! Storage writes [`ROWIDS`] and [`PKS`]; the engine writes the rest (see docs/format.md).

/// `u64` per row: stable row ids.
pub const ROWIDS: u32 = 1;
/// `i64` per row: primary keys.
pub const PKS: u32 = 2;
/// JSON description of the engine's sections (layout version, bands, rotation).
pub const LAYOUT: u32 = 3;
/// `f32` band regions: band `b` is tag `BAND_BASE + b`, rows x band width, row-major.
pub const BAND_BASE: u32 = 16;
/// `u32` per partition + 1: row offsets of each partition (rows are clustered by partition).
pub const PARTITION_OFFSETS: u32 = 64;
/// `i8` codes of the coarse prefix, rows x coarse dims.
pub const CODES_I8: u32 = 65;
/// 1-bit sign codes of the coarse prefix, rows x ceil(dims / 8) bytes.
pub const CODES_BITS: u32 = 66;
/// `f32` per row: sums used by the int8 kernel's affine correction.
pub const CODES_I8_AUX: u32 = 67;
/// `u32` per row: label ids of each `PATH` column (tag `LABELS_BASE + column index`).
pub const LABELS_BASE: u32 = 128;

/// Index file: JSON model description.
pub const INDEX_META: u32 = 1001;
/// Index file: `f32` rotation matrix, dim x dim, row-major.
pub const INDEX_ROTATION: u32 = 1002;
/// Index file: `f32` mean vector subtracted before rotation (dim).
pub const INDEX_MEAN: u32 = 1003;
/// Index file: `f32` partition centroids, partitions x coarse dims.
pub const INDEX_CENTROIDS: u32 = 1004;
/// Index file: `f32` int8 quantizer ranges, per dim: (min, scale).
pub const INDEX_QUANT: u32 = 1005;
