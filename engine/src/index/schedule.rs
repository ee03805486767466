//! The funnel schedule: partitions probed, then shortlists cut stage by stage.

use serde::{Deserialize, Serialize};

use crate::topk::Cand;

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
    /// Unfiltered probing that adapts to the query: after the nearest [`Schedule::seeds`]
    /// partitions, every partition (up to [`probe_cap`]) whose centroid scores within this
    /// slack of the k-th best row found in them is probed too, so a query far from the data,
    /// whose neighbours spread over more partitions, probes more. `nprobe` is then the mean
    /// the tuner measured (what filtered plans scale from). `None`: exactly `nprobe`.
    #[serde(default)]
    pub probe_slack: Option<f32>,
    /// Partitions an adaptive probe scans before its bar is set ([`Schedule::seeds`]); `None`
    /// (schedules stored before the tuner chose it): [`PROBE_SEEDS`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probe_seeds: Option<usize>,
    /// A first-stage shortlist that adapts to the query (cosine tables): the int8 stage keeps
    /// its best `keep` and, beyond them, every candidate whose approximate cosine distance (1 +
    /// the stage's score) is within this fraction of the stage's k-th best distance, at most
    /// [`KEEP_SLACK_CAP`] times `keep` ([`Schedule::first_cut`], [`StageCut::kept`]). A query
    /// whose neighbours lie close together relative to how far they are (a query far from
    /// the data, whose 10th neighbour is as far as a row's 50th) keeps more, where the
    /// quantized prefix scores reorder them. `None`: exactly `keep`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_slack: Option<f32>,
    /// With [`Schedule::keep_slack`]: the mean first-stage candidates kept on the tuning
    /// sample over the first stage's `keep` (at least 1), what the cost model counts the later
    /// stages rescoring. `None`: `keep`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kept_ratio: Option<f32>,
    /// Filtered queries: keep probing (nearest partitions first) until at least this many
    /// selected rows are covered.
    #[serde(default)]
    pub min_candidates: Option<usize>,
    /// Filtered probing: the share of the table's rows the filter keeps, as planned; the walk
    /// probes further where it finds matching rows rarer than this (see
    /// [`Schedule::probed_enough`]).
    #[serde(default)]
    pub filter_share: Option<f64>,
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
            s.filter_share = Some(selectivity);
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

/// How far an adaptive shortlist ([`Schedule::keep_slack`]) may grow: at most this many times
/// the stage's `keep`.
pub const KEEP_SLACK_CAP: usize = 4;

/// How the first stage cuts its candidates: the best `keep`, and with a `slack` also
/// every candidate whose distance is within that fraction of the k-th best's, at most `cap`
/// in all. Stage scores of a cosine table are minus an approximate cosine, so the distance is
/// `1 + score`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StageCut {
    /// Candidates always kept (the stage's `keep`).
    pub keep: usize,
    /// Candidates kept at most (`keep`, or [`KEEP_SLACK_CAP`] times it with a slack).
    pub cap: usize,
    /// The relative slack over the k-th best distance, if the shortlist adapts.
    pub slack: Option<f32>,
}

impl StageCut {
    /// How many of `sorted` (candidates in the stages' order, best first; at least its first
    /// `cap` when it has that many) the cut keeps, for `k` results: `keep`, or every score at
    /// most `kth + slack * (1 + kth)` (within `slack` of the k-th best distance, relatively)
    /// when that is more, at most `cap` and `sorted.len()`.
    pub fn kept(&self, sorted: &[Cand], k: usize) -> usize {
        let n = sorted.len();
        let base = self.keep.min(n);
        let Some(slack) = self.slack else {
            return base;
        };
        let Some(kth) = sorted.get(k.max(1) - 1).or(sorted.last()).map(|c| c.dist) else {
            return 0;
        };
        let bar = kth + slack * (1.0 + kth).max(0.0);
        let upto = self.cap.min(n);
        // scores not above the bar form a prefix (a NaN is never within it)
        base.max(sorted[..upto].partition_point(|c| c.dist <= bar))
    }
}

impl Schedule {
    /// How the first stage `first` of this schedule cuts its candidates ([`StageCut`]): it
    /// adapts when it is int8 and the schedule has a [`Schedule::keep_slack`] (the later
    /// stages keep exactly `keep`: they reorder what the first kept).
    pub fn first_cut(&self, first: &Stage) -> StageCut {
        let keep = first.keep();
        let slack = match first {
            Stage::Int8 { .. } => self.keep_slack.filter(|s| s.is_finite()),
            _ => None,
        };
        match slack {
            Some(slack) => StageCut {
                keep,
                cap: keep.saturating_mul(KEEP_SLACK_CAP),
                slack: Some(slack),
            },
            None => StageCut {
                keep,
                cap: keep,
                slack: None,
            },
        }
    }
}

impl Schedule {
    /// The partitions an adaptive probe scans first, whose k-th best row sets its bar: one
    /// seed sets the bar from fewer rows, so it probes further for a query whose neighbours
    /// are spread out; the tuner picks one or two per target, whichever is cheaper on its
    /// sample.
    pub fn seeds(&self) -> usize {
        self.probe_seeds.unwrap_or(PROBE_SEEDS).max(1)
    }

    /// The slack of an adaptive probe when this schedule probes adaptively: it has one, no
    /// filtered walk (`min_candidates`), does not scan every selected row, and its first stage
    /// is int8 (whose scores the bar compares with centroid scores).
    pub fn adaptive_slack(&self) -> Option<f32> {
        let int8_first = matches!(self.stages.first(), None | Some(Stage::Int8 { .. }));
        self.probe_slack
            .filter(|_| self.min_candidates.is_none() && !self.scan_all && int8_first)
    }

    /// The slack of a filtered walk that starts from the unfiltered probe's reach: it has one,
    /// a filtered walk (`min_candidates`), does not scan every selected row, and its first stage
    /// is int8. Such a walk takes at least as many partitions holding a matching row as the
    /// unfiltered adaptive probe would scan for the same query (`search::probe::reach`), so a
    /// query far from the data probes further under a filter too.
    pub fn filtered_slack(&self) -> Option<f32> {
        let int8_first = matches!(self.stages.first(), None | Some(Stage::Int8 { .. }));
        self.probe_slack
            .filter(|_| self.min_candidates.is_some() && !self.scan_all && int8_first)
    }

    /// Filtered probing's stopping rule, the one every walk over partitions follows: having
    /// taken `taken` partitions with a matching row, which hold `covered` matching rows, out of
    /// `walked` rows in all the partitions looked at, the walk is done once it has `nprobe`
    /// partitions and `min_candidates` matching rows. Where the matching rows it found are
    /// rarer than the filter's share of the table (a filter that excludes the query's own
    /// neighbourhood), the true neighbours lie further out than that share suggests, so the
    /// matching rows needed grow by the cube of the table's share over the local one, at most
    /// [`MAX_LOCAL_GROWTH`] times. Filters that keep the query's neighbourhood (local share at
    /// least the table's) are not affected. The exponent is empirical (`docs/recall.md`).
    pub fn probed_enough(&self, taken: usize, covered: u64, walked: u64) -> bool {
        let Some(min) = self.min_candidates else {
            return taken >= self.nprobe;
        };
        if taken < self.nprobe || covered < min as u64 {
            return false;
        }
        let Some(share) = self.filter_share.filter(|s| *s > 0.0 && *s < 1.0) else {
            return true;
        };
        let local = covered as f64 / walked.max(1) as f64;
        let growth = (share / local.max(1e-9)).powi(3).min(MAX_LOCAL_GROWTH);
        local >= share || covered as f64 >= min as f64 * growth
    }
}

/// Partitions an adaptive probe ([`Schedule::probe_slack`]) scans before it decides how far
/// to go, unless its schedule says otherwise ([`Schedule::seeds`]): the k-th best row among
/// them sets the bar.
pub const PROBE_SEEDS: usize = 2;

/// The seed counts the tuner tries for each target ([`Schedule::seeds`]).
pub const SEED_CHOICES: [usize; 2] = [1, 2];

/// The most partitions a tuned schedule probes unfiltered: half of them (of at least 64), at
/// most 512 (the tuner's grid).
pub fn probe_cap(partitions: usize) -> usize {
    (partitions.max(64) / 2).min(512).min(partitions).max(1)
}

/// The most [`Schedule::probed_enough`] multiplies the planned matching rows by where matches
/// are rarer near the query than in the table: a bound on what a filter whose matches all lie
/// far from the query costs (beyond it the planner's other plans would have been cheaper).
pub const MAX_LOCAL_GROWTH: f64 = 16.0;

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

#[cfg(test)]
mod tests {
    use super::*;

    fn filtered(min: usize, share: f64) -> Schedule {
        Schedule {
            nprobe: 2,
            stages: vec![Stage::Int8 { keep: 10 }],
            k: 10,
            target: 0.95,
            estimate: RecallEstimate::default(),
            cost: 0.0,
            probe_slack: None,
            probe_seeds: None,
            keep_slack: None,
            kept_ratio: None,
            min_candidates: Some(min),
            filter_share: Some(share),
            scan_all: false,
        }
    }

    #[test]
    fn filtered_probing_goes_further_where_matches_are_rare() {
        let s = filtered(100, 0.8);
        // matches as common near the query as in the table: the planned minimum is enough
        assert!(s.probed_enough(2, 100, 125));
        assert!(s.probed_enough(2, 100, 100));
        // half as common (0.4 local against 0.8): 2^3 times the planned matching rows
        assert!(!s.probed_enough(2, 100, 250));
        assert!(!s.probed_enough(2, 799, 1998));
        assert!(s.probed_enough(2, 800, 2000));
        // matches far rarer near the query: the growth stops at MAX_LOCAL_GROWTH
        assert!(!s.probed_enough(2, 1599, 1_000_000));
        assert!(s.probed_enough(2, 1600, 1_000_000));
        // never before nprobe partitions or the planned minimum
        assert!(!s.probed_enough(1, 1000, 1000));
        assert!(!s.probed_enough(3, 99, 99));
    }

    #[test]
    fn only_unfiltered_int8_schedules_probe_adaptively() {
        let mut s = filtered(100, 0.8);
        s.probe_slack = Some(0.1);
        assert_eq!(
            s.adaptive_slack(),
            None,
            "a filtered walk probes by its counts"
        );
        s.min_candidates = None;
        assert_eq!(s.adaptive_slack(), Some(0.1));
        s.stages = vec![Stage::F32 { bands: 1, keep: 10 }];
        assert_eq!(
            s.adaptive_slack(),
            None,
            "f32 scores are not comparable to centroids"
        );
        s.stages = vec![Stage::Int8 { keep: 10 }];
        s.scan_all = true;
        assert_eq!(s.adaptive_slack(), None);
    }

    #[test]
    fn unfiltered_and_shareless_schedules_stop_at_the_planned_minimum() {
        let mut s = filtered(100, 0.8);
        s.filter_share = None;
        assert!(s.probed_enough(2, 100, 10_000));
        s.min_candidates = None;
        assert!(s.probed_enough(2, 0, 0));
        assert!(!s.probed_enough(1, 0, 0));
    }

    /// Regression guard for adaptive shortlists: the cut keeps `keep`, or every score within
    /// the slack of the k-th when more, never past the cap; a NaN k-th keeps `keep`.
    #[test]
    fn adaptive_shortlist_keeps_the_scores_within_the_slack_up_to_its_cap() {
        let cut = |keep, slack| StageCut {
            keep,
            cap: keep * KEEP_SLACK_CAP,
            slack,
        };
        let cands = |d: &[f32]| -> Vec<Cand> {
            d.iter()
                .enumerate()
                .map(|(i, &dist)| Cand {
                    dist,
                    addr: i as u64,
                })
                .collect()
        };
        let d = cands(&(0..100).map(|i| i as f32 * 0.01).collect::<Vec<_>>());
        // fixed: exactly keep, or all there are
        assert_eq!(cut(20, None).kept(&d, 10), 20);
        assert_eq!(cut(20, None).kept(&d[..5], 10), 5);
        // the 10th scores 0.09 (distance 1.09): within 5% (0.0545) are the first 15, fewer
        // than keep; within 19% (0.2071), the first 30
        assert_eq!(cut(20, Some(0.05)).kept(&d, 10), 20);
        assert_eq!(cut(20, Some(0.19)).kept(&d, 10), 30);
        // scores of -1 (distance 0, the query itself): nothing beyond the ties
        assert_eq!(cut(5, Some(0.5)).kept(&cands(&[-1.0; 12]), 10), 12);
        let mut near = vec![-1.0f32; 10];
        near.extend([-0.99, -0.5]);
        assert_eq!(cut(5, Some(0.5)).kept(&cands(&near), 10), 10);
        // at most the cap
        assert_eq!(cut(10, Some(10.0)).kept(&d, 10), 40);
        assert_eq!(cut(10, Some(10.0)).kept(&d[..25], 10), 25);
        // fewer than k candidates: the last sets the bar
        assert_eq!(cut(2, Some(0.0)).kept(&d[..5], 10), 5);
        assert_eq!(cut(2, Some(0.0)).kept(&[], 10), 0);
        let mut nan = d.clone();
        nan[9].dist = f32::NAN;
        assert_eq!(cut(12, Some(1.0)).kept(&nan, 10), 12);
        // the schedule's cut: no slack, or a slack that is not a number, is a fixed shortlist
        let mut s = filtered(10, 0.5);
        s.stages = vec![Stage::Int8 { keep: 20 }];
        assert_eq!(
            s.first_cut(&s.stages[0]),
            StageCut {
                keep: 20,
                cap: 20,
                slack: None
            }
        );
        s.keep_slack = Some(f32::NAN);
        assert_eq!(s.first_cut(&s.stages[0]).slack, None);
        s.keep_slack = Some(0.1);
        assert_eq!(s.first_cut(&s.stages[0]), cut(20, Some(0.1)));
    }
}
