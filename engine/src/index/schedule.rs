//! The funnel schedule: partitions probed, then shortlists cut stage by stage.

use serde::{Deserialize, Serialize};

/// One intermediate funnel stage: score the incoming candidates, keep the best `keep`.
/// After the last one, the survivors are scored exactly at full dimension and cut to `k`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Stage {
    /// Hamming distance of 1-bit sign codes of the rotated coarse prefix.
    Bits {
        /// Candidates kept.
        keep: usize,
    },
    /// int8 codes of the rotated coarse prefix (the first stage scans them partition by
    /// partition).
    Int8 {
        /// Candidates kept.
        keep: usize,
    },
    /// int8 codes of the rotated mid prefix: the coarse score plus the codes of the dims after
    /// it.
    Mid {
        /// Candidates kept.
        keep: usize,
    },
    /// f32 on the first `bands` bands of the vector as stored (Matryoshka prefixes; meaningful
    /// for models trained with MRL, whose index is not rotated).
    F32 {
        /// Bands scored (a prefix of the vector).
        bands: usize,
        /// Candidates kept.
        keep: usize,
    },
}

impl Stage {
    /// Candidates kept.
    pub fn keep(&self) -> usize {
        match *self {
            Stage::Bits { keep }
            | Stage::Int8 { keep }
            | Stage::Mid { keep }
            | Stage::F32 { keep, .. } => keep,
        }
    }

    /// The same stage keeping `keep` candidates.
    pub fn with_keep(&self, keep: usize) -> Stage {
        match *self {
            Stage::Bits { .. } => Stage::Bits { keep },
            Stage::Int8 { .. } => Stage::Int8 { keep },
            Stage::Mid { .. } => Stage::Mid { keep },
            Stage::F32 { bands, .. } => Stage::F32 { bands, keep },
        }
    }
}

/// What tuning measured for a schedule: mean recall@k on held-out sample queries that were
/// not used to choose it, with a 95% confidence interval.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RecallEstimate {
    /// Mean recall@k.
    pub mean: f32,
    /// Lower end of the 95% interval.
    pub lo: f32,
    /// Upper end of the 95% interval.
    pub hi: f32,
    /// Queries it was measured on.
    pub queries: usize,
}

impl RecallEstimate {
    /// The estimate from per-query recalls (normal interval on their mean, clamped to [0, 1]).
    pub fn from_recalls(r: &[f32]) -> RecallEstimate {
        let n = r.len();
        if n == 0 {
            return RecallEstimate::default();
        }
        let mean = r.iter().map(|&x| x as f64).sum::<f64>() / n as f64;
        let var = r.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / (n.max(2) - 1) as f64;
        let half = 1.96 * (var / n as f64).sqrt();
        RecallEstimate {
            mean: mean as f32,
            lo: (mean - half).max(0.0) as f32,
            hi: (mean + half).min(1.0) as f32,
            queries: n,
        }
    }
}

/// A complete schedule with what tuning measured for it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Schedule {
    /// Partitions probed.
    pub nprobe: usize,
    /// Intermediate stages, in order.
    pub stages: Vec<Stage>,
    /// `k` it was tuned for.
    pub k: usize,
    /// The recall target it was tuned for.
    pub target: f32,
    /// Recall measured on the calibration queries.
    pub estimate: RecallEstimate,
    /// Estimated cost per query (the cost model's units, see `search::cost`).
    pub cost: f32,
    /// Filtered queries: keep probing (nearest partitions first) until at least this many
    /// selected rows are covered.
    #[serde(default)]
    pub min_candidates: Option<usize>,
    /// Filtered queries with few matching rows: every matching row enters the stages (no
    /// probing).
    #[serde(default)]
    pub scan_all: bool,
}

impl Schedule {
    /// This schedule adapted to `k` results, a table that grew from `fit_rows` to `rows`
    /// since tuning, and a filter keeping `selectivity` of the rows:
    /// - shortlists grow with `k / self.k` and with the row count (a partition then holds more
    ///   rows competing for the same shortlist);
    /// - under a filter, partitions are probed until the selected rows covered reach what the
    ///   unfiltered schedule scans times `filter_factor(selectivity)` (filtered neighbors lie
    ///   farther out).
    pub fn scaled(
        &self,
        k: usize,
        selectivity: f64,
        rows: usize,
        fit_rows: usize,
        partitions: usize,
        filter_factor: f64,
    ) -> Schedule {
        let grow_k = (k as f64 / self.k.max(1) as f64).max(1.0);
        let grow_n = (rows as f64 / fit_rows.max(1) as f64).max(1.0);
        let mut s = self.clone();
        if selectivity < 1.0 {
            let scanned = self.nprobe as f64 * rows as f64 / partitions.max(1) as f64;
            s.min_candidates = Some((scanned * filter_factor * grow_k).ceil() as usize);
        }
        s.stages = self
            .stages
            .iter()
            .map(|st| {
                st.with_keep(((st.keep() as f64) * grow_k * grow_n).ceil().max(k as f64) as usize)
            })
            .collect();
        s.k = k;
        s
    }
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            Stage::Bits { keep } => write!(f, "bits keep {keep}"),
            Stage::Int8 { keep } => write!(f, "int8 keep {keep}"),
            Stage::Mid { keep } => write!(f, "int8 mid keep {keep}"),
            Stage::F32 { bands, keep } => write!(f, "f32 on {bands} bands keep {keep}"),
        }
    }
}
