//! Fitting a model to a sample of a table's rows: rotation, partitions, quantizer. The
//! schedules are tuned afterwards, on the encoded table (`search::tune`).

use serde::{Deserialize, Serialize};

use super::{
    kmeans, pca, IndexError, IndexModel, Int8Quantizer, ModelMeta, RotationMode, TuningInfo,
};
use crate::layout::Layout;
use nestdb_storage::TableSchema;

/// Settings of index fitting (table options `rotation`, `partitions`, `coarse_dims`, ...).
///
/// Defaults: rotation `auto`; partitions `2 * sqrt(rows)`; coarse prefix (partitions and the
/// first stage's int8 codes) the first band boundary at or above 128 dimensions; mid prefix
/// the first boundary at or above twice that; sign codes over the coarse prefix; an index is fit
/// once a table has 2,000 rows; rotation, partitions and quantizer fit on a sample of
/// `max(200,000, 64 x partitions)` rows (404,800 at 10M rows; k-means trains on
/// `max(20,000, 64 x partitions)` of them); 400 sample queries; k = 10; seed 42.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct IndexOptions {
    /// Whether to learn a rotation.
    pub rotation: RotationMode,
    /// Number of partitions (None: `2 * sqrt(rows)`).
    pub partitions: Option<usize>,
    /// Dimensions of the coarse prefix (None: first boundary >= 128).
    pub coarse_dims: Option<usize>,
    /// Rows a table needs before an index is fit (smaller tables are searched exactly).
    pub min_rows: usize,
    /// Rows the rotation, partitions and quantizer are fit on (a uniform sample; None:
    /// [`IndexOptions::sample_for`]'s default).
    pub sample_rows: Option<usize>,
    /// Sample queries for schedule tuning (split in two: one half chooses, the other measures).
    pub sample_queries: usize,
    /// Results per query the schedules are tuned for.
    pub k: usize,
    /// Seed of every random choice (sampling, k-means).
    pub seed: u64,
}

impl Default for IndexOptions {
    fn default() -> Self {
        IndexOptions {
            rotation: RotationMode::Auto,
            partitions: None,
            coarse_dims: None,
            min_rows: 2000,
            sample_rows: None,
            sample_queries: 400,
            k: 10,
            seed: 42,
        }
    }
}

impl IndexOptions {
    /// Partitions for a table of `rows` rows.
    pub fn partitions_for(&self, rows: usize) -> usize {
        self.partitions
            .unwrap_or_else(|| (2.0 * (rows as f64).sqrt()).round() as usize)
            .clamp(1, rows.max(1))
    }

    /// Rows sampled for a fit of a table of `rows` rows: `sample_rows` when set, else
    /// [`MIN_SAMPLE`] or [`TRAIN_PER_PARTITION`] per partition, whichever is more (a fit on
    /// fewer than 64 rows per partition recalls less: `benches/tests/fit_sampling.rs`).
    pub fn sample_for(&self, rows: usize) -> usize {
        self.sample_rows
            .unwrap_or_else(|| MIN_SAMPLE.max(TRAIN_PER_PARTITION * self.partitions_for(rows)))
    }
}

/// The smallest default sample of a fit (rows).
pub const MIN_SAMPLE: usize = 200_000;
/// Rows k-means trains on per partition (at most; fewer when the sample is smaller).
pub const TRAIN_PER_PARTITION: usize = 64;

/// The first band boundary at or above `dims` (the full dimension when none is).
pub fn boundary_at_least(schema: &TableSchema, dims: usize) -> usize {
    let d = schema.dim();
    schema
        .band_ends()
        .iter()
        .map(|&e| e as usize)
        .find(|&e| e >= dims.min(d))
        .unwrap_or(d)
}

/// Fits a model of version `version` for a table of `rows` rows, from `sample` (`m x dim`
/// vectors as stored by the user, a uniform sample of the table; transformed in place, so the
/// fit holds no second copy). Schedules are left empty.
pub fn fit(
    schema: &TableSchema,
    sample: Vec<f32>,
    rows: usize,
    version: u64,
    opts: &IndexOptions,
) -> Result<(IndexModel, Layout), IndexError> {
    let d = schema.dim();
    let m = sample.len() / d;
    let min = opts.min_rows.max(opts.k + 2);
    if rows < min || m < opts.k + 2 {
        return Err(IndexError::TooFewRows { rows, min });
    }
    let mut layout = Layout {
        dim: d,
        bands: schema.bands(),
        metric: schema.metric(),
        rotation: None,
    };
    let coarse = opts
        .coarse_dims
        .map_or_else(|| boundary_at_least(schema, 128), |c| c.clamp(1, d));
    let mid = boundary_at_least(schema, 2 * coarse).max(coarse);
    let mut x = sample;
    layout.transform_rows(&mut x); // normalize only: no rotation yet
    let rot = fit_rotation(schema, &mut layout, &mut x, m, coarse, opts.rotation)?;
    let nparts = opts.partitions_for(rows).min(m);
    let train_rows = (nparts * TRAIN_PER_PARTITION).max(20_000).min(m);
    let spherical = schema.metric() != nestdb_storage::Metric::L2;
    let (centroids, quant) = fit_partitions(
        &x,
        d,
        (coarse, mid),
        nparts,
        train_rows,
        spherical,
        opts.seed,
    );
    let model = IndexModel {
        meta: ModelMeta {
            version,
            dim: d,
            metric: schema.metric(),
            rotated: rot.rotated,
            rotation_reason: rot.reason,
            coarse_dims: coarse,
            mid_dims: mid,
            bits_dims: coarse,
            partitions: centroids.len() / coarse,
            fit_rows: rows,
            sample_rows: m,
            variance_profile: rot.variance_profile,
            schedules: Vec::new(),
            tuning: TuningInfo::default(),
        },
        version,
        rotation: layout.rotation.clone(),
        centroid_norms: super::norms(&centroids, coarse),
        centroid_codes: super::codes(&quant, &centroids, coarse),
        centroids,
        quant,
        tuning_queries: Default::default(),
    };
    Ok((model, layout))
}

/// What the rotation phase of a fit decided.
struct RotationFit {
    /// Whether the rows are rotated.
    rotated: bool,
    /// Why (or why not).
    reason: String,
    /// Per band boundary: its dimension and the variance share of the prefix up to it,
    /// before and after PCA.
    variance_profile: Vec<(usize, f32, f32)>,
}

/// Fits PCA on (at most 50,000 of) the `m` normalized rows `x` and decides, per `mode`,
/// whether to rotate; when it does, sets `layout.rotation` and rotates `x`.
fn fit_rotation(
    schema: &TableSchema,
    layout: &mut Layout,
    x: &mut [f32],
    m: usize,
    coarse: usize,
    mode: RotationMode,
) -> Result<RotationFit, IndexError> {
    let d = layout.dim;
    let p = pca::fit(&x[..m.min(50_000) * d], m.min(50_000), d)?;
    let (rotate, reason) = rotation_choice(
        mode,
        p.raw_fraction(coarse),
        p.rotated_fraction(coarse),
        coarse,
    );
    let variance_profile = schema
        .band_ends()
        .iter()
        .map(|&e| {
            (
                e as usize,
                p.raw_fraction(e as usize),
                p.rotated_fraction(e as usize),
            )
        })
        .collect();
    if rotate {
        layout.rotation = Some(std::sync::Arc::new(p.rotation));
        layout.rotate_rows(x);
    }
    Ok(RotationFit {
        rotated: rotate,
        reason,
        variance_profile,
    })
}

/// The partitions (k-means centroids of the coarse prefixes of the first `train_rows` rows)
/// and the int8 quantizer of the mid prefixes, from the transformed rows `x` (`d` dims each).
fn fit_partitions(
    x: &[f32],
    d: usize,
    (coarse, mid): (usize, usize),
    nparts: usize,
    train_rows: usize,
    spherical: bool,
    seed: u64,
) -> (Vec<f32>, Int8Quantizer) {
    let coarse_prefix: Vec<f32> = x
        .chunks_exact(d)
        .take(train_rows)
        .flat_map(|r| r[..coarse].iter().copied())
        .collect();
    let centroids = kmeans::train(&coarse_prefix, coarse, nparts, 10, spherical, seed);
    let quant = Int8Quantizer::fit_prefix(x, d, mid);
    (centroids, quant)
}

fn rotation_choice(mode: RotationMode, raw: f32, rot: f32, coarse: usize) -> (bool, String) {
    match mode {
        RotationMode::On => (true, "rotation forced on".to_string()),
        RotationMode::Off => (false, "rotation forced off".to_string()),
        RotationMode::Auto if raw >= 0.9 * rot => (
            false,
            format!("prefix already holds {raw:.2} of the variance (PCA: {rot:.2}): MRL-like, not rotated"),
        ),
        RotationMode::Auto => (
            true,
            format!("first {coarse} dims hold {raw:.2} of the variance, {rot:.2} after PCA: rotated"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::IndexOptions;

    #[test]
    fn the_default_sample_holds_64_rows_per_partition() {
        let o = IndexOptions::default();
        assert_eq!(o.sample_for(40_000), 200_000);
        // 2 sqrt(10M) = 6,325 partitions
        assert_eq!(o.sample_for(10_000_000), 64 * 6_325);
        let set = IndexOptions {
            sample_rows: Some(5_000),
            ..IndexOptions::default()
        };
        assert_eq!(set.sample_for(10_000_000), 5_000);
    }
}
