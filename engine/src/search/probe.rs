//! Adaptive probing ([`Schedule::probe_slack`]): how far an unfiltered query probes follows
//! how far its neighbours are, measured on the query itself.
//!
//! The nearest [`Schedule::seeds`](crate::index::Schedule::seeds) partitions (one or two) are
//! scanned first; the k-th best first-stage score
//! among their rows sets a bar, and every further partition (nearest first, up to
//! [`probe_cap`]) whose centroid scores within the slack of that bar is scanned too. A query
//! from the table's own distribution finds k close rows in its seeds and stops early; a query
//! far from every row (its k-th neighbour much farther than its nearest centroid) probes on.
//! The funnel runs [`first_stage`]; the tuner evaluates the same rule with [`kth_score`] and
//! [`probes_within`], so the recall it measures is the recall the funnel returns.

use std::borrow::Cow;

use nestdb_storage::StorageError;

use roaring::RoaringBitmap;

use super::pipeline::QueryCtx;
use super::rows::ViewRows;
use crate::filter::RowSet;
use crate::index::{probe_cap, Schedule, Stage};
use crate::topk::{Cand, TopK};

/// The k-th best score of `cands` (any order); infinite when there are fewer than `k`, so a
/// query that found too few rows in its seeds probes up to the cap.
pub fn kth_score(cands: &[Cand], k: usize) -> f32 {
    if k == 0 || cands.len() < k {
        return f32::INFINITY;
    }
    let mut d: Vec<f32> = cands.iter().map(|c| c.dist).collect();
    let (_, kth, _) = d.select_nth_unstable_by(k - 1, f32::total_cmp);
    *kth
}

/// How many partitions of `scored` (nearest first, as [`QueryCtx::probe_scored`] returns
/// them) an adaptive probe with `seeds` seeds scans: the seeds, then every one scoring at most
/// `bar`.
pub fn probes_within(scored: &[Cand], seeds: usize, bar: f32) -> usize {
    let seeds = seeds.min(scored.len());
    seeds + scored[seeds..].iter().take_while(|c| c.dist <= bar).count()
}

/// The first stage of an adaptive probe with `seeds` seeds and `slack`: the partitions
/// scanned, the best `first.keep()` rows in address order, and the rows scanned.
pub fn first_stage(
    ctx: &QueryCtx<'_>,
    (seeds, slack): (usize, f32),
    first: Stage,
    k: usize,
) -> Result<(Vec<usize>, Vec<Cand>, usize), StorageError> {
    let s = seeded(ctx, seeds, first)?;
    let extra = s.within(kth_score(&s.cands, k) + slack);
    let (mut parts, mut cands, mut scanned) = (s.parts, s.cands, s.scanned);
    if !extra.is_empty() {
        let (more, rows) = ctx.first_stage(&ctx.ranges(Some(&extra)), first)?;
        cands = merge_best(cands, more, first.keep());
        scanned += rows;
        parts.extend(extra);
    }
    Ok((parts, cands, scanned))
}

/// How many partitions the adaptive probe with `seeds` and `slack` scans for the query of
/// `ctx` over the rows `ctx` selects ([`with_reach`] selects every row).
pub fn reach(
    ctx: &QueryCtx<'_>,
    (seeds, slack): (usize, f32),
    first: Stage,
    k: usize,
) -> Result<usize, StorageError> {
    let s = seeded(ctx, seeds, first)?;
    Ok(s.parts.len() + s.within(kth_score(&s.cands, k) + slack).len())
}

/// The seeds' scan both [`first_stage`] and [`reach`] start from, and what choosing the
/// partitions after them needs.
struct Seeded<'a> {
    /// Every partition's score, in partition order ([`QueryCtx::partition_scores`]).
    all: Cow<'a, [Cand]>,
    /// The most partitions the probe takes ([`probe_cap`]).
    cap: usize,
    /// The worst seed (the seeds are the best partitions up to it in the total order).
    last: Cand,
    /// The seed partitions, nearest first.
    parts: Vec<usize>,
    /// Their first stage: candidates and rows scanned.
    cands: Vec<Cand>,
    scanned: usize,
}

impl Seeded<'_> {
    /// The partitions after the seeds an adaptive probe with bar `bar` scans, nearest first:
    /// [`probes_within`] over the nearest [`probe_cap`] partitions sorted, without sorting
    /// them. Scores are never NaN, so a score at most the bar is a down-set of the total order,
    /// and the partitions taken after the seeds are the best of those scoring within the bar,
    /// at most the cap less the seeds.
    fn within(&self, bar: f32) -> Vec<usize> {
        let room = self.cap.saturating_sub(self.parts.len());
        let mut t: Vec<Cand> = self
            .all
            .iter()
            .filter(|c| c.dist <= bar && **c > self.last)
            .copied()
            .collect();
        if t.len() > room {
            if room == 0 {
                t.clear();
            } else {
                t.select_nth_unstable(room - 1);
                t.truncate(room);
            }
        }
        t.sort_unstable();
        t.iter().map(|c| c.addr as usize).collect()
    }
}

/// Scores every partition, takes the nearest `seeds` (at least one, at most the cap) and
/// scans them.
fn seeded<'a>(ctx: &QueryCtx<'a>, seeds: usize, first: Stage) -> Result<Seeded<'a>, StorageError> {
    let all = ctx.partition_scores();
    let cap = probe_cap(ctx.model.meta.partitions);
    let mut s = choose_seeds(all, seeds, cap);
    (s.cands, s.scanned) = ctx.first_stage(&ctx.ranges(Some(&s.parts)), first)?;
    Ok(s)
}

/// The seeds of an adaptive probe over the partition scores `all` (no NaN:
/// [`super::pipeline::probe_score`]) with at most `cap` partitions probed: the best `seeds`
/// (at least one, at most the cap), not scanned yet.
fn choose_seeds(all: Cow<'_, [Cand]>, seeds: usize, cap: usize) -> Seeded<'_> {
    let cap = cap.min(all.len());
    let best = nearest(&all, seeds.max(1).min(cap));
    let last = best.last().copied().unwrap_or(Cand {
        dist: f32::NEG_INFINITY,
        addr: 0,
    });
    Seeded {
        parts: best.iter().map(|c| c.addr as usize).collect(),
        all,
        cap,
        last,
        cands: Vec::new(),
        scanned: 0,
    }
}

/// The best `n` of `all` in the total order, best first.
fn nearest(all: &[Cand], n: usize) -> Vec<Cand> {
    let mut best = TopK::new(n);
    for c in all {
        best.push(c.dist, c.addr);
    }
    best.into_sorted()
}

/// `s` with its floor of partitions (`nprobe`) set to the unfiltered probe's [`reach`] for this
/// query, when `s` is a filtered walk with a slack; None otherwise. The seeds' rows are scored
/// unfiltered, deleted rows included, so the floor depends on the query and the index alone
/// ([`Schedule::filtered_slack`](crate::index::Schedule::filtered_slack)).
pub fn with_reach(
    ctx: &QueryCtx<'_>,
    s: &Schedule,
    k: usize,
) -> Result<Option<Schedule>, StorageError> {
    let Some(slack) = s.filtered_slack() else {
        return Ok(None);
    };
    let (all, none) = (RowSet::All, RoaringBitmap::new());
    let rows: Vec<ViewRows<'_>> = ctx
        .views
        .iter()
        .map(|_| ViewRows {
            set: &all,
            deleted: &none,
            gathered: None,
        })
        .collect();
    let open = QueryCtx {
        rows: &rows,
        ..*ctx
    };
    let n = reach(&open, (s.seeds(), slack), first_of(s, k), k)?;
    Ok(Some(Schedule {
        nprobe: n.max(1),
        ..s.clone()
    }))
}

/// The first stage of `s` (int8 keeping `k` when it has none).
pub fn first_of(s: &Schedule, k: usize) -> Stage {
    s.stages.first().copied().unwrap_or(Stage::Int8 { keep: k })
}

/// The best `keep` of two candidate lists (the funnel's total order), in address order: what
/// one first stage over both lists' rows would have kept.
fn merge_best(mut a: Vec<Cand>, b: Vec<Cand>, keep: usize) -> Vec<Cand> {
    a.extend(b);
    if keep == 0 {
        a.clear();
    } else if a.len() > keep {
        a.select_nth_unstable(keep - 1);
        a.truncate(keep);
    }
    a.sort_unstable_by_key(|c| c.addr);
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(dist: f32, addr: u64) -> Cand {
        Cand { dist, addr }
    }

    #[test]
    fn kth_score_is_infinite_below_k() {
        assert_eq!(kth_score(&[c(1.0, 0)], 2), f32::INFINITY);
        assert_eq!(kth_score(&[c(3.0, 0), c(1.0, 1), c(2.0, 2)], 2), 2.0);
    }

    #[test]
    fn probes_within_keeps_the_seeds_and_stops_at_the_bar() {
        let scored = [c(0.1, 7), c(0.15, 3), c(0.2, 1), c(0.3, 2), c(0.9, 4)];
        // the seeds are scanned whatever their scores; then the prefix at most the bar
        for seeds in [1, 2] {
            assert_eq!(probes_within(&scored, seeds, 0.0), seeds);
            assert_eq!(probes_within(&scored, seeds, 0.25), 3);
            assert_eq!(probes_within(&scored, seeds, f32::INFINITY), scored.len());
            assert_eq!(probes_within(&scored[..1], seeds, 0.0), 1);
        }
        // one seed: the second partition is taken only within the bar
        assert_eq!(probes_within(&scored, 1, 0.12), 1);
    }

    /// The funnel picks the partitions after the seeds without sorting every centroid; they
    /// must be exactly those the tuner's rule ([`probes_within`] over the nearest `cap`
    /// sorted) picks: ties, infinities, signed zeros and NaN scores (as the probe ranks
    /// them) included, any bar, seeds up to the cap and caps below the partitions.
    #[test]
    fn choosing_partitions_unsorted_matches_the_tuners_sorted_rule() {
        use crate::search::pipeline::probe_score;
        use rand::{Rng, SeedableRng};
        let special = [
            f32::INFINITY,
            f32::NEG_INFINITY,
            0.0,
            -0.0,
            f32::NAN,
            -f32::NAN,
        ];
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let value = |rng: &mut rand::rngs::StdRng| {
            if rng.random_range(0..8) == 0 {
                special[rng.random_range(0..special.len())]
            } else {
                // few distinct scores, so ties are common
                rng.random_range(-5..45) as f32 / 10.0
            }
        };
        for _ in 0..4000 {
            let n = rng.random_range(1..300usize);
            let all: Vec<Cand> = (0..n)
                .map(|p| c(probe_score(value(&mut rng)), p as u64))
                .collect();
            let cap = match rng.random_range(0..3) {
                0 => rng.random_range(1..=n),
                _ => crate::index::probe_cap(n),
            };
            let seeds = rng.random_range(0..=cap.min(n) + 1);
            let bar = value(&mut rng);
            let s = choose_seeds(Cow::Borrowed(&all), seeds, cap);
            let mut sorted = all.clone();
            sorted.sort_unstable();
            sorted.truncate(cap.min(n));
            let used = seeds.max(1).min(sorted.len());
            let want: Vec<usize> = sorted[used..probes_within(&sorted, used, bar)]
                .iter()
                .map(|c| c.addr as usize)
                .collect();
            let want_seeds: Vec<usize> = sorted[..used].iter().map(|c| c.addr as usize).collect();
            assert_eq!(s.parts, want_seeds, "n {n} cap {cap} seeds {seeds}");
            assert_eq!(
                s.within(bar),
                want,
                "n {n} cap {cap} seeds {seeds} bar {bar}"
            );
        }
    }

    #[test]
    fn merging_two_first_stages_keeps_the_best_in_address_order() {
        let a = vec![c(0.5, 1), c(0.1, 4)];
        let b = vec![c(0.3, 2), c(0.3, 3), c(0.9, 5)];
        let m = merge_best(a, b, 3);
        assert_eq!(m.iter().map(|c| c.addr).collect::<Vec<_>>(), vec![2, 3, 4]);
    }
}
