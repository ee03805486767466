//! The learned index: everything the funnel uses, fit to the table's own data.
//!
//! - an orthogonal rotation (PCA) so prefixes carry most of the variance ([`pca`]), skipped
//!   when the embeddings already concentrate variance in their prefix (MRL-trained models);
//! - partitions: k-means on the rotated prefix ([`kmeans`]); segments store rows clustered by
//!   partition so a probe reads contiguous ranges;
//! - quantizers for the rotated prefix: int8 with learned per-dimension ranges over the mid
//!   prefix (the first stage scores the coarse part, the second adds the rest), and 1-bit
//!   signs ([`quant`]);
//! - the funnel schedules: partitions probed and shortlist size per stage, one per recall
//!   target, tuned by `search::tune` on held-out sample queries through the funnel's own
//!   stages.
//!
//! Everything is fit on a sample of the rows ([`fit`]), so fitting costs the same for a
//! million rows or ten million. A model is immutable and versioned; it is stored in
//! `index-<version>.nidx` (container format, see docs/format.md) and referenced by the
//! manifest.

pub mod fit;
pub mod kmeans;
#[cfg(test)]
mod parse_fuzz;
pub mod pca;
pub mod quant;
pub mod schedule;

use std::sync::Arc;

use nestdb_storage::container::{as_bytes, Container};
use nestdb_storage::{sections, Metric, StorageError, TableSchema};
use serde::{Deserialize, Serialize};

use crate::layout::Layout;
pub use quant::Int8Quantizer;
pub use schedule::{
    probe_cap, RecallEstimate, Schedule, Stage, StageCut, KEEP_SLACK_CAP, SEED_CHOICES,
};

/// Why an index could not be fit.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum IndexError {
    /// The eigendecomposition did not converge.
    #[error("PCA failed: {0}")]
    Pca(String),
    /// Too few rows to learn from.
    #[error("{rows} rows are too few to fit an index (at least {min} needed)")]
    TooFewRows {
        /// Rows available.
        rows: usize,
        /// Rows needed.
        min: usize,
    },
    /// Too few tuning queries to choose and measure schedules on.
    #[error("{given} tuning queries are too few (at least {min} needed)")]
    TooFewTuningQueries {
        /// Queries given.
        given: usize,
        /// Queries needed.
        min: usize,
    },
    /// Asked to tune on the live monitor's sampled searches while it has kept none.
    #[error(
        "no searches were sampled to tune on (the live recall monitor keeps them while \
         recall_sample_rate > 0)"
    )]
    NoSampledQueries,
}

/// Whether to learn a rotation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum RotationMode {
    /// Rotate unless the variance is already concentrated in the prefix (MRL-trained models).
    #[default]
    Auto,
    /// Always rotate.
    On,
    /// Never rotate.
    Off,
}

impl RotationMode {
    /// Parses `auto`, `on`/`true`, `off`/`false`.
    pub fn parse(s: &str) -> Option<RotationMode> {
        match s.to_ascii_lowercase().as_str() {
            "auto" => Some(RotationMode::Auto),
            "on" | "true" | "yes" => Some(RotationMode::On),
            "off" | "false" | "no" => Some(RotationMode::Off),
            _ => None,
        }
    }
}

/// Scalar facts about a model (stored as the index file's JSON section).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ModelMeta {
    /// Model version (names the file).
    pub version: u64,
    /// Vector dimension.
    pub dim: usize,
    /// Table metric.
    pub metric: Metric,
    /// Whether a rotation is applied.
    pub rotated: bool,
    /// Why the rotation was or was not applied.
    pub rotation_reason: String,
    /// Dimensions the partitions and the first stage's int8 codes cover (a band boundary).
    pub coarse_dims: usize,
    /// Dimensions the mid stage's int8 codes reach (a band boundary; the codes of
    /// `coarse_dims..mid_dims` are stored apart).
    pub mid_dims: usize,
    /// Dimensions the sign codes cover.
    pub bits_dims: usize,
    /// Number of partitions.
    pub partitions: usize,
    /// Rows the table had when the model was fit.
    pub fit_rows: usize,
    /// Rows of the sample the rotation, partitions and quantizer were fit on.
    pub sample_rows: usize,
    /// Fraction of variance in the first `d` dimensions at each band boundary, before and
    /// after rotation: `(d, raw, rotated)`.
    pub variance_profile: Vec<(usize, f32, f32)>,
    /// Tuned schedules, one per recall target, ascending by target.
    pub schedules: Vec<Schedule>,
    /// How tuning held its sample queries out, and how filtered probing was calibrated.
    #[serde(default)]
    pub tuning: TuningInfo,
}

/// How the schedules were tuned, kept in the index file's `INDEX_META` (EXPLAIN reports the
/// calibration queries with each estimate; see `docs/recall.md`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TuningInfo {
    /// Sample queries used to choose the schedules.
    pub choose_queries: usize,
    /// Sample queries (a separate split) the estimates were measured on.
    pub calibrate_queries: usize,
    /// Rows closer than this distance to a sample query were held out with it (its
    /// near-duplicates), besides the query row itself.
    pub holdout_radius: f32,
    /// Legacy, always empty: written so that builds from before stop 32, which require the
    /// field, still read newer index files (they then use their fixed factor rule).
    #[serde(default)]
    pub filter_factors: Vec<(f64, f64)>,
    /// Filtered probing, calibrated per recall target and filter selectivity on the sample
    /// queries under random filters (`search::filtered_tune`); empty in models fitted before it
    /// existed (the planner then uses its fixed rule `1 + log2(1 / s) / 2`, `docs/recall.md`).
    #[serde(default)]
    pub filtered: Vec<FilterTuning>,
    /// How many of the table's tuning queries the schedules were tuned on (0: on rows of the
    /// table, held out of their own search; see `Table::set_tuning_queries`).
    #[serde(default)]
    pub tuning_queries: usize,
}

/// Filtered plans for one recall target and filter selectivity, as calibrated: partitions are
/// probed until the selected rows covered reach the unfiltered schedule's scan times `factor`,
/// and `estimate` is the recall that measured under such filters; `every_row` is the recall
/// of the funnel over every matching row. Stored only where the planner could run a funnel.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct FilterTuning {
    /// Share of the rows the calibration's filters kept (nominal: 0.1, 0.01, 0.001).
    pub selectivity: f64,
    /// The stored target of the schedule it scales ([`Schedule::target`]).
    pub target: f32,
    /// How much further than unfiltered the filtered walk probes ([`Schedule::scaled`]);
    /// None when the planner would not probe at this selectivity (the cost model prefers
    /// brute force or the funnel over every matching row whatever the factor).
    pub factor: Option<f64>,
    /// Recall measured with it on the calibration half, under the same kind of filter.
    pub estimate: Option<RecallEstimate>,
    /// Recall of the funnel's stages over every matching row (the planner's plan when the
    /// filter keeps few rows), measured on the same queries and filters.
    #[serde(default)]
    pub every_row: Option<RecallEstimate>,
}

/// A learned index model.
#[derive(Clone, Debug)]
pub struct IndexModel {
    /// Scalar facts and schedules.
    pub meta: ModelMeta,
    /// Model version (same as `meta.version`).
    pub version: u64,
    /// `dim x dim` row-major orthogonal rotation, if rotated.
    pub rotation: Option<Arc<Vec<f32>>>,
    /// Partition centroids, `partitions x coarse_dims`, in the rotated space.
    pub centroids: Vec<f32>,
    /// Squared norm of each centroid (L2 probing).
    pub centroid_norms: Vec<f32>,
    /// int8 codes of the centroids (probing scores them like rows).
    pub centroid_codes: Vec<i8>,
    /// int8 quantizer of the mid prefix (its first `coarse_dims` dims serve the first stage).
    pub quant: Int8Quantizer,
    /// The table's tuning queries the schedules were tuned on, `n x dim` row-major (empty when
    /// they were tuned on rows); kept so the next fit tunes on them again.
    pub tuning_queries: Arc<Vec<f32>>,
}

impl IndexModel {
    /// The index file's sections.
    pub fn to_sections(&self) -> Vec<(u32, Vec<u8>)> {
        let mut s = vec![(
            sections::INDEX_META,
            serde_json::to_vec(&self.meta).expect("meta serializes"),
        )];
        if let Some(r) = &self.rotation {
            s.push((sections::INDEX_ROTATION, as_bytes(r).to_vec()));
        }
        s.push((
            sections::INDEX_CENTROIDS,
            as_bytes(&self.centroids).to_vec(),
        ));
        s.push((
            sections::INDEX_QUANT,
            as_bytes(&self.quant.to_floats()).to_vec(),
        ));
        if !self.tuning_queries.is_empty() {
            s.push((
                sections::INDEX_TUNING_QUERIES,
                as_bytes(&self.tuning_queries).to_vec(),
            ));
        }
        s
    }

    /// Parses a verified index file of a table with vectors of `dim` dimensions compared
    /// by `metric`; every length is checked before it is used.
    pub fn from_container(
        c: &Container,
        dim: usize,
        metric: Metric,
    ) -> Result<IndexModel, StorageError> {
        let path = c.path();
        let bad = |r: &str| StorageError::corrupt(path.display().to_string(), r);
        let meta: ModelMeta = serde_json::from_slice(c.require(sections::INDEX_META)?)
            .map_err(|e| bad(&format!("index metadata: {e}")))?;
        let d = meta.dim;
        if d != dim || meta.metric != metric {
            return Err(bad(&format!(
                "index of {d}-dimensional {:?} vectors, but the table has {dim}-dimensional {metric:?} vectors",
                meta.metric
            )));
        }
        let too_big = || bad("index section sizes overflow");
        let rotation = if meta.rotated {
            let n = d.checked_mul(d).ok_or_else(too_big)?;
            Some(Arc::new(
                c.typed::<f32>(sections::INDEX_ROTATION, n)?.to_vec(),
            ))
        } else {
            None
        };
        let n = meta
            .partitions
            .checked_mul(meta.coarse_dims)
            .ok_or_else(too_big)?;
        let centroids = c.typed::<f32>(sections::INDEX_CENTROIDS, n)?.to_vec();
        if meta.coarse_dims == 0
            || meta.coarse_dims > meta.mid_dims
            || meta.mid_dims > d
            || meta.bits_dims > d
            || meta.schedules.is_empty()
            || meta.partitions == 0
        {
            return Err(bad(
                "index dimensions are inconsistent, or it has no partition or schedule",
            ));
        }
        let quant =
            Int8Quantizer::from_floats(c.typed::<f32>(sections::INDEX_QUANT, 2 * meta.mid_dims)?);
        let tuning_queries = Arc::new(tuning_queries(c, d)?);
        Ok(IndexModel {
            tuning_queries,
            version: meta.version,
            centroid_norms: norms(&centroids, meta.coarse_dims),
            centroid_codes: codes(&quant, &centroids, meta.coarse_dims),
            meta,
            rotation,
            centroids,
            quant,
        })
    }

    /// The partition of each row of `x` (`d` dims each, already transformed by the model's
    /// layout): its coarse prefix against the centroids.
    pub fn assign(&self, x: &[f32], d: usize) -> Vec<u32> {
        let c = self.meta.coarse_dims;
        let coarse: Vec<f32> = x
            .chunks_exact(d)
            .flat_map(|r| r[..c].iter().copied())
            .collect();
        kmeans::assign(&coarse, c, &self.centroids, self.spherical())
    }

    /// Whether partitions use inner product (cosine, dot) rather than L2.
    pub fn spherical(&self) -> bool {
        self.meta.metric != Metric::L2
    }

    /// Bytes of sign code per row.
    pub fn bits_bytes(&self) -> usize {
        self.meta.bits_dims.div_ceil(8)
    }

    /// The schedule tuned for the smallest stored target at or above `target` (the most
    /// accurate one if `target` is above them all).
    pub fn schedule_for(&self, target: f32) -> &Schedule {
        self.meta
            .schedules
            .iter()
            .filter(|s| s.target >= target)
            .min_by(|a, b| a.target.total_cmp(&b.target))
            .unwrap_or_else(|| {
                self.meta
                    .schedules
                    .iter()
                    .max_by(|a, b| a.estimate.mean.total_cmp(&b.estimate.mean))
                    .expect("at least one schedule")
            })
    }
}

/// The optional tuning-queries section of an index file: a whole number of `d`-dimensional
/// vectors, or an error naming the file.
fn tuning_queries(c: &Container, d: usize) -> Result<Vec<f32>, StorageError> {
    let Some(bytes) = c.section(sections::INDEX_TUNING_QUERIES)? else {
        return Ok(Vec::new());
    };
    let floats = bytes.len() / 4;
    if d == 0 || bytes.len() % 4 != 0 || floats % d != 0 {
        return Err(StorageError::corrupt(
            c.path().display().to_string(),
            format!("tuning queries section of {} bytes is not a whole number of {d}-dimensional vectors", bytes.len()),
        ));
    }
    Ok(c.typed::<f32>(sections::INDEX_TUNING_QUERIES, floats)?
        .to_vec())
}

/// int8 codes of the rows of `m` (each `dims` long, the quantizer's first `dims`).
pub fn codes(quant: &Int8Quantizer, m: &[f32], dims: usize) -> Vec<i8> {
    let d = dims.max(1);
    let mut out = vec![0i8; m.len()];
    for (row, code) in m.chunks_exact(d).zip(out.chunks_exact_mut(d)) {
        quant.encode_range(row, 0..d, code);
    }
    out
}

/// Squared norms of the `dims`-long rows of `m`.
pub fn norms(m: &[f32], dims: usize) -> Vec<f32> {
    m.chunks_exact(dims.max(1))
        .map(|r| r.iter().map(|x| x * x).sum())
        .collect()
}

/// The layout of segments encoded under `model` (or without an index).
pub fn layout_for(schema: &TableSchema, model: Option<&IndexModel>) -> Layout {
    Layout {
        dim: schema.dim(),
        bands: schema.bands(),
        metric: schema.metric(),
        rotation: model.and_then(|m| m.rotation.clone()),
    }
}
