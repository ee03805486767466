//! The funnel schedule: partitions probed, then shortlists cut stage by stage.

use serde::{Deserialize, Serialize};

/// One intermediate funnel stage: score the incoming candidates, keep the best `keep`.
/// After the last one, the survivors are scored exactly at full dimension and cut to `k`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Stage {
    /// Hamming distance of 1-bit sign codes of the coarse prefix.
    Bits {
        /// Candidates kept.
        keep: usize,
    },
    /// int8 codes of the coarse prefix.
    Int8 {
        /// Candidates kept.
        keep: usize,
    },
    /// f32 on the first `bands` bands.
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
            Stage::Bits { keep } | Stage::Int8 { keep } | Stage::F32 { keep, .. } => keep,
        }
    }

    /// The same stage keeping `keep` candidates.
    pub fn with_keep(&self, keep: usize) -> Stage {
        match *self {
            Stage::Bits { .. } => Stage::Bits { keep },
            Stage::Int8 { .. } => Stage::Int8 { keep },
            Stage::F32 { bands, .. } => Stage::F32 { bands, keep },
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
    /// Mean recall@k measured on the sample queries.
    pub measured_recall: f32,
    /// Estimated cost per query (f32-dimension equivalents).
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
    /// This schedule adapted to `k` results and a filter keeping `selectivity` of `rows`:
    /// shortlists grow with `k / self.k`; under a filter, partitions are probed until the
    /// selected rows covered reach what the unfiltered schedule scans, times
    /// `1 + log2(1 / selectivity) / 2` (filtered neighbors lie farther out).
    pub fn scaled(&self, k: usize, selectivity: f64, rows: usize, partitions: usize) -> Schedule {
        let grow_k = (k as f64 / self.k.max(1) as f64).max(1.0);
        let mut s = self.clone();
        if selectivity < 1.0 {
            let scanned = self.nprobe as f64 * rows as f64 / partitions.max(1) as f64;
            let f = 1.0 + (1.0 / selectivity.max(1e-9)).log2() / 2.0;
            s.min_candidates = Some((scanned * f * grow_k).ceil() as usize);
        }
        s.stages = self
            .stages
            .iter()
            .map(|st| st.with_keep(((st.keep() as f64) * grow_k).ceil().max(k as f64) as usize))
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
            Stage::F32 { bands, keep } => write!(f, "f32 on {bands} bands keep {keep}"),
        }
    }
}
