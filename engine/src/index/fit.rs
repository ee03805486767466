//! Fitting a model to a table's rows: rotation, partitions, quantizer, then the schedule.

use rand::seq::index::sample;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

use super::encode::EncodedRows;
use super::{kmeans, pca, tuner, IndexError, IndexModel, Int8Quantizer, ModelMeta, RotationMode};
use crate::layout::Layout;
use nestdb_storage::TableSchema;

/// Settings of index fitting (table options `rotation`, `partitions`, `coarse_dims`, ...).
///
/// Defaults: rotation `auto`; partitions `2 * sqrt(rows)`; coarse prefix (partitions and int8
/// codes) the first band boundary at or above 128 dimensions; sign codes over the first
/// boundary at or above 128; an index is
/// fit once a table has 2,000 rows; 300 sample queries; k = 10; seed 42.
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
    /// Sample queries for schedule tuning.
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
            sample_queries: 300,
            k: 10,
            seed: 42,
        }
    }
}

/// A fitted model with the table's rows encoded under it.
pub struct Fitted {
    /// The model (schedules tuned).
    pub model: IndexModel,
    /// The layout rows are stored in.
    pub layout: Layout,
    /// The rows, clustered and coded.
    pub rows: EncodedRows,
}

fn boundary_at_least(schema: &TableSchema, dims: usize) -> usize {
    let d = schema.dim();
    schema
        .band_ends()
        .iter()
        .map(|&e| e as usize)
        .find(|&e| e >= dims.min(d))
        .unwrap_or(d)
}

fn sample_rows(x: &[f32], d: usize, max: usize, seed: u64) -> Vec<f32> {
    let n = x.len() / d;
    if n <= max {
        return x.to_vec();
    }
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut idx = sample(&mut rng, n, max).into_vec();
    idx.sort_unstable();
    idx.iter()
        .flat_map(|&i| x[i * d..(i + 1) * d].iter().copied())
        .collect()
}

/// Fits a model of version `version` to `vectors` (`rows x dim`, as stored by the user).
pub fn fit(
    schema: &TableSchema,
    vectors: &[f32],
    version: u64,
    opts: &IndexOptions,
) -> Result<Fitted, IndexError> {
    let d = schema.dim();
    let n = vectors.len() / d;
    let min = opts.min_rows.max(opts.k + 2);
    if n < min {
        return Err(IndexError::TooFewRows { rows: n, min });
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
    let bits_dims = boundary_at_least(schema, 128);
    let mut x = vectors.to_vec();
    layout.transform_rows(&mut x); // normalize only: no rotation yet
    let p = pca::fit(&sample_rows(&x, d, 50_000, opts.seed), n.min(50_000), d)?;
    let (raw, rot) = (p.raw_fraction(coarse), p.rotated_fraction(coarse));
    let (rotate, reason) = match opts.rotation {
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
    };
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
        layout.rotate_rows(&mut x);
    }
    let nparts = opts
        .partitions
        .unwrap_or_else(|| (2.0 * (n as f64).sqrt()).round() as usize)
        .clamp(1, n);
    let prefix: Vec<f32> = x
        .chunks_exact(d)
        .flat_map(|r| r[..coarse].iter().copied())
        .collect();
    let train = sample_rows(&prefix, coarse, (nparts * 64).max(20_000), opts.seed ^ 1);
    let spherical = schema.metric() != nestdb_storage::Metric::L2;
    let centroids = kmeans::train(&train, coarse, nparts, 10, spherical, opts.seed);
    let quant = Int8Quantizer::fit(&train, coarse);
    let mut model = IndexModel {
        meta: ModelMeta {
            version,
            dim: d,
            metric: schema.metric(),
            rotated: rotate,
            rotation_reason: reason,
            coarse_dims: coarse,
            bits_dims,
            partitions: centroids.len() / coarse,
            fit_rows: n,
            variance_profile,
            schedules: Vec::new(),
        },
        version,
        rotation: layout.rotation.clone(),
        centroid_norms: super::norms(&centroids, coarse),
        centroid_codes: super::codes(&quant, &centroids),
        centroids,
        quant,
    };
    let rows = model.encode_transformed(&layout, &x);
    let params = tuner::TuneParams {
        k: opts.k,
        queries: opts.sample_queries,
        seed: opts.seed ^ 2,
    };
    model.meta.schedules = tuner::tune(&model, &layout, &rows, &x, &params);
    Ok(Fitted {
        model,
        layout,
        rows,
    })
}
