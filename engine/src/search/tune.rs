//! Tuning the funnel's schedules on held-out sample queries, through the funnel's own stages.
//!
//! Sample rows of the table serve as queries. A query that is a row would find itself, and in
//! tables with near-duplicates (many augmented or copied rows) its neighborhood is far tighter
//! than a new query's; so each sample query is held out of its own search together with every
//! row closer than `holdout_radius`, both from the ground truth and from the candidates.
//!
//! Every schedule of a grid (probe slack x shortlist per stage; probing adapts to each query,
//! [`super::probe`], and on cosine tables so does the first shortlist,
//! [`crate::index::Schedule::keep_slack`]) is evaluated per query
//! with the pipeline's primitives ([`super::pipeline::QueryCtx`]): int8 scores per probed
//! partition, mid scores, exact scores; each shortlist is a prefix of a list sorted by the same
//! total order the funnel's stages use, so the recall measured here for a schedule is exactly
//! what the funnel returns for these queries (a test checks it). The sample is split in two:
//! one half chooses, for each recall target, the cheapest schedule whose recall clears the
//! target; the other half measures it (mean and 95% interval) - the estimate EXPLAIN shows.

use nestdb_storage::{Metric, StorageError};
use rayon::prelude::*;
use rustc_hash::{FxHashMap, FxHashSet};

use super::cost;
use super::pipeline::QueryCtx;
use super::probe::{kth_score, probes_within};
use super::release::{self, Releaser};
use super::rows::ViewRows;
use super::to_distance;
use super::view::SegView;
use crate::filter::RowSet;
use crate::index::{
    probe_cap, FilterTuning, IndexModel, RecallEstimate, Schedule, Stage, StageCut, SEED_CHOICES,
};
use crate::layout::Layout;
use crate::topk::Cand;

pub use super::samples::TuneParams;
use super::samples::{given_samples, prepare, samples, Sample};

/// Recall targets a model keeps a schedule for.
pub const TARGETS: [f32; 12] = [
    0.5, 0.7, 0.8, 0.85, 0.9, 0.93, 0.95, 0.97, 0.98, 0.99, 0.995, 0.999,
];
const KEEP1: [usize; 14] = [
    20, 30, 40, 60, 80, 120, 160, 240, 320, 480, 640, 960, 1280, 1920,
];
const KEEP2: [usize; 9] = [10, 15, 20, 30, 40, 60, 80, 120, 160];
/// What [`tune`] chose: a schedule per target, the sizes of its two halves, and the filtered
/// walk's calibration per target and filter band.
pub struct Tuned {
    /// One schedule per target of [`TARGETS`] (or the one fallback).
    pub schedules: Vec<Schedule>,
    /// Queries that chose.
    pub choose: usize,
    /// Queries that calibrated.
    pub calibrate: usize,
    /// Filtered probing per target and band ([`super::filtered_tune::calibrate`]).
    pub filtered: Vec<FilterTuning>,
}

/// Per-query results of every grid point.
type GridRun = Vec<PointRun>;

/// One grid point's result for one query: hits, rows scanned, partitions probed, and the
/// candidates its first shortlist kept.
#[derive(Clone, Copy, Debug, Default)]
struct PointRun {
    hits: usize,
    scanned: usize,
    probed: usize,
    kept1: usize,
}

/// A grid point: probe seeds and slack, the two shortlists' `keep`, and the first shortlist's
/// slack ([`Schedule::keep_slack`]; `None`: exactly `keep`).
#[derive(Clone, Copy, Debug, PartialEq)]
struct Point {
    seeds: usize,
    slack: f32,
    k1: usize,
    k2: usize,
    keep_slack: Option<f32>,
}

/// Probe slacks of the grid, in units of the sample's typical score spread over its nearest
/// 32 centroids ([`slack_unit`]). The lowest usually probes only the seeds; the highest reaches the cap
/// ([`probe_cap`]: half the partitions; with held-out tuning queries, a grid capped at an
/// eighth topped out at recall@10 0.98 on the shared corpus).
const SLACKS: [f32; 24] = [
    -1.0, -0.5, -0.25, -0.1, 0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5, 0.6, 0.7, 0.85,
    1.0, 1.25, 1.5, 2.0, 3.0, 4.0, 8.0,
];

/// First-shortlist slacks of the grid ([`Schedule::keep_slack`]: fractions of the k-th best
/// distance), and the `keep` lists they are tried with (the first stage then keeps up to
/// [`crate::index::KEEP_SLACK_CAP`] times as many).
const KEEP_SLACKS: [f32; 5] = [0.02, 0.04, 0.06, 0.1, 0.15];
const KEEP1_SLACK: [usize; 7] = [10, 20, 40, 80, 160, 320, 480];
const KEEP2_SLACK: [usize; 7] = [10, 15, 20, 30, 40, 80, 160];

/// The grid of schedules, ascending in seeds then probe slack, so within one seed count the
/// partitions a query probes never shrink along it. Within one probe slack: on a cosine table
/// with `k` at most 160, every shortlist slack with its pairs of `keep` (adaptive shortlists
/// only: chosen by cost on rows, fixed ones win and then miss on queries unlike rows,
/// `docs/recall.md`); otherwise every pair of fixed shortlists.
fn grid(k: usize, unit: f32, cosine: bool) -> Vec<Point> {
    // keeps of at least k; for k beyond the fixed lists, multiples of k
    let mut keep2: Vec<usize> = KEEP2.iter().copied().filter(|&k2| k2 >= k).collect();
    if keep2.is_empty() {
        keep2 = vec![k, 2 * k];
    }
    let mut keep1: Vec<usize> = KEEP1.to_vec();
    let top = keep2[keep2.len() - 1];
    if top > KEEP1[KEEP1.len() - 1] {
        keep1.extend([top, 2 * top, 4 * top]);
    }
    let pairs = |k1s: &[usize], k2s: &[usize]| -> Vec<(usize, usize)> {
        let k2s: Vec<usize> = k2s.iter().copied().filter(|&k2| k2 >= k).collect();
        k1s.iter()
            .filter(|&&k1| k1 >= k)
            .flat_map(|&k1| {
                k2s.iter()
                    .filter(move |&&k2| k2 <= k1)
                    .map(move |&k2| (k1, k2))
            })
            .collect()
    };
    let fixed = pairs(&keep1, &keep2);
    let adaptive = if cosine {
        pairs(&KEEP1_SLACK, &KEEP2_SLACK)
    } else {
        Vec::new()
    };
    let mut out = Vec::new();
    for &seeds in &SEED_CHOICES {
        for &t in &SLACKS {
            let point = |(k1, k2): (usize, usize), keep_slack| Point {
                seeds,
                slack: t * unit,
                k1,
                k2,
                keep_slack,
            };
            if adaptive.is_empty() {
                out.extend(fixed.iter().map(|&p| point(p, None)));
            }
            for &ks in &KEEP_SLACKS {
                out.extend(adaptive.iter().map(|&p| point(p, Some(ks))));
            }
        }
    }
    out
}

/// The unit of [`SLACKS`]: the median of the sample queries' [`Sample::spread`] (a spread of
/// scores typical of this table, so the grid does not depend on the metric's or the data's
/// scale).
fn slack_unit(samples: &[Sample]) -> f32 {
    let mut spread: Vec<f32> = samples.iter().map(|s| s.spread).collect();
    spread.sort_unstable_by(f32::total_cmp);
    spread
        .get(spread.len() / 2)
        .copied()
        .filter(|u| u.is_finite())
        .unwrap_or(0.0)
}

/// Tunes a schedule per target in [`TARGETS`] for `model` over `views` (every row of the
/// table, encoded under `model`). The sample queries are `given` (row-major, `layout.dim`
/// each: the table's tuning queries, searched over every row) when it is not empty, else rows
/// of the table held out of their own search. Returns the schedules and how many queries
/// chose/measured.
pub fn tune(
    model: &IndexModel,
    layout: &Layout,
    views: &[SegView<'_>],
    p: &TuneParams,
    given: &[f32],
) -> Result<Tuned, StorageError> {
    let samples = if given.is_empty() {
        samples(model, layout, views, p)?
    } else {
        given_samples(model, layout, views, p, given)?
    };
    let fallback = || Tuned {
        schedules: vec![fallback(model, p.k)],
        choose: 0,
        calibrate: 0,
        filtered: Vec::new(),
    };
    if samples.len() < 4 {
        return Ok(fallback());
    }
    let g = grid(p.k, slack_unit(&samples), layout.metric == Metric::Cosine);
    if g.is_empty() {
        return Ok(fallback());
    }
    let mut runs: Vec<GridRun> = Vec::with_capacity(samples.len());
    // the queries' candidates are scattered over the table: unmap what they touched, so
    // resident memory does not grow with the table (the page cache keeps the pages)
    let mut released = Releaser::new(views);
    for chunk in samples.chunks(release::batch()) {
        let part: Vec<GridRun> = chunk
            .par_iter()
            .map(|s| evaluate(model, layout, views, s, &g, p.k))
            .collect::<Result<_, _>>()?;
        runs.extend(part);
        released.after(chunk.len());
    }
    released.release();
    let half = runs.len() / 2;
    let (choose, calib) = runs.split_at(half);
    let bands = layout.bands.clone();
    let costs: Vec<f64> = (0..g.len())
        .map(|i| point_cost(model, g[i], p.k, choose, i, &bands))
        .collect();
    let recall = |runs: &[GridRun], i: usize| -> Vec<f32> {
        runs.iter().map(|r| r[i].hits as f32 / p.k as f32).collect()
    };
    let mean = |v: &[f32]| v.iter().sum::<f32>() / v.len().max(1) as f32;
    let mut by_cost: Vec<usize> = (0..g.len()).collect();
    by_cost.sort_by(|&a, &b| costs[a].total_cmp(&costs[b]));
    let best = *by_cost
        .iter()
        .max_by(|&&a, &&b| {
            mean(&recall(choose, a))
                .total_cmp(&mean(&recall(choose, b)))
                .then(costs[b].total_cmp(&costs[a]))
        })
        .unwrap_or(&0);
    let schedules: Vec<Schedule> = TARGETS
        .iter()
        .map(|&target| {
            // the cheapest point clearing the target on the choosing half, with a margin that
            // grows until the calibration half agrees (or the most accurate point is reached)
            let mut margin = 0.005;
            let pick = loop {
                let cand = by_cost
                    .iter()
                    .copied()
                    .find(|&i| mean(&recall(choose, i)) >= (target + margin).min(1.0));
                match cand {
                    Some(i) if mean(&recall(calib, i)) >= target || margin >= 0.05 => break i,
                    Some(_) => margin += 0.005,
                    None => break best,
                }
            };
            let probed = runs.iter().map(|r| r[pick].probed).sum::<usize>() as f64;
            let mut s = schedule_of(g[pick], p.k, (probed / runs.len() as f64).ceil() as usize);
            s.target = target;
            s.kept_ratio = kept_ratio(g[pick], &runs, pick);
            s.estimate = RecallEstimate::from_recalls(&recall(calib, pick));
            s.cost = costs[pick] as f32;
            s
        })
        .collect();
    let filtered = super::filtered_tune::calibrate(model, layout, views, &samples, &schedules, p)?;
    Ok(Tuned {
        choose: choose.len(),
        calibrate: calib.len(),
        schedules,
        filtered,
    })
}

/// Grid point `i`'s cost ([`cost::schedule`]) at the mean rows scanned on `runs`; a point with
/// adaptive shortlists is costed at the mean candidates they kept.
fn point_cost(
    model: &IndexModel,
    g: Point,
    k: usize,
    runs: &[GridRun],
    i: usize,
    bands: &[(usize, usize)],
) -> f64 {
    let n = runs.len().max(1) as f64;
    let mean = |f: fn(&PointRun) -> usize| runs.iter().map(|r| f(&r[i]) as f64).sum::<f64>() / n;
    let mut s = schedule_of(g, k, 0);
    s.kept_ratio = kept_ratio(g, runs, i);
    cost::schedule(model, &s, mean(|r| r.scanned), bands)
}

/// For a point with adaptive shortlists, the mean first-stage candidates kept on `runs` over
/// its `k1` ([`Schedule::kept_ratio`]).
fn kept_ratio(g: Point, runs: &[GridRun], i: usize) -> Option<f32> {
    g.keep_slack?;
    let kept = runs.iter().map(|r| r[i].kept1 as f64).sum::<f64>() / runs.len().max(1) as f64;
    Some((kept / g.k1.max(1) as f64).max(1.0) as f32)
}

/// The schedule of grid point `g`; `nprobe` is the partitions it probed on the sample (rounded
/// up), what filtered plans scale from.
fn schedule_of(g: Point, k: usize, nprobe: usize) -> Schedule {
    Schedule {
        nprobe: nprobe.max(1),
        stages: vec![Stage::Int8 { keep: g.k1 }, Stage::Mid { keep: g.k2 }],
        k,
        target: 0.0,
        estimate: RecallEstimate::default(),
        cost: 0.0,
        probe_slack: Some(g.slack),
        probe_seeds: Some(g.seeds),
        keep_slack: g.keep_slack,
        kept_ratio: None,
        min_candidates: None,
        filter_share: None,
        scan_all: false,
    }
}

/// A schedule for tables too small to sample: probe everything, keep everything.
pub fn fallback(model: &IndexModel, k: usize) -> Schedule {
    Schedule {
        nprobe: model.meta.partitions,
        stages: vec![Stage::Int8 { keep: 4096 }, Stage::Mid { keep: 1024 }],
        k,
        target: 1.0,
        estimate: RecallEstimate {
            mean: 1.0,
            lo: 1.0,
            hi: 1.0,
            queries: 0,
        },
        cost: f32::MAX,
        probe_slack: None,
        probe_seeds: None,
        keep_slack: None,
        kept_ratio: None,
        min_candidates: None,
        filter_share: None,
        scan_all: false,
    }
}

/// Hits and scanned rows of every grid point for one sample query (see the module docs).
fn evaluate(
    model: &IndexModel,
    layout: &Layout,
    views: &[SegView<'_>],
    s: &Sample,
    grid: &[Point],
    k: usize,
) -> Result<GridRun, StorageError> {
    let q = prepare(model, layout, &s.query)?;
    let qc = q.codes.clone().expect("prepared with a model");
    let empty = roaring::RoaringBitmap::new();
    let all = RowSet::All;
    let rows: Vec<ViewRows<'_>> = views
        .iter()
        .map(|_| ViewRows {
            set: &all,
            deleted: &empty,
            gathered: None,
        })
        .collect();
    let ctx = QueryCtx {
        model,
        q: &q,
        qc: &qc,
        views,
        rows: &rows,
        bands: &layout.bands,
    };
    let scored = ctx.probe_scored(probe_cap(model.meta.partitions));
    let mut caches = Caches::default();
    let mut out = Vec::with_capacity(grid.len());
    // one incremental pass per seed count (the grid is ordered by seeds first); the pass
    // shares the caches of mid and exact scores, which do not depend on the probe
    let mut at = 0;
    while at < grid.len() {
        let seeds = grid[at].seeds;
        let n = grid[at..].iter().take_while(|g| g.seeds == seeds).count();
        let part = &grid[at..at + n];
        out.extend(evaluate_seeds(&ctx, &scored, s, part, k, &mut caches)?);
        at += n;
    }
    Ok(out)
}

/// Scores computed once per row and query, whatever grid point needs them.
#[derive(Default)]
struct Caches {
    mids: FxHashMap<u64, f32>,
    exact: FxHashMap<u64, f32>,
}

/// [`evaluate`] for the grid points of one seed count (all with `grid[..].seeds` equal,
/// ascending in probe slack): the seeds first, their k-th best row sets how far each slack
/// probes (`probe.rs`), then the partitions each slack adds in ascending order. Within one
/// probe slack the points are taken in the order of the candidates their first shortlist keeps
/// for this query, so the mid-scored shortlist grows incrementally.
fn evaluate_seeds(
    ctx: &QueryCtx<'_>,
    scored: &[Cand],
    s: &Sample,
    grid: &[Point],
    k: usize,
    caches: &mut Caches,
) -> Result<GridRun, StorageError> {
    let order: Vec<usize> = scored.iter().map(|c| c.addr as usize).collect();
    // the first stage keeps what the grid's largest cap needs (beyond KEEP1 when k > 960)
    let cuts: Vec<StageCut> = grid.iter().map(|g| first_cut(g, k)).collect();
    let max1 = cuts.iter().map(|c| c.cap).max().unwrap_or(k);
    let max2 = grid.iter().map(|g| g.k2).max().unwrap_or(k);
    let mut sorted1: Vec<Cand> = Vec::new();
    let mut scanned = 0usize;
    let mut out = Vec::with_capacity(grid.len());
    let mut dots = Vec::new();
    let mut fin = Vec::new();
    let seeds = grid.first().map_or(1, |g| g.seeds).max(1).min(order.len());
    let mut fresh = int8_candidates(ctx, &order[..seeds], &mut dots, &mut scanned)?;
    merge_sorted(&mut sorted1, &mut fresh, max1, &s.held);
    let mut probed = seeds;
    let kth = kth_score(&sorted1, k);
    let nps: Vec<usize> = grid
        .iter()
        .map(|g| probes_within(scored, seeds, kth + g.slack))
        .collect();
    let mut i = 0;
    while i < grid.len() {
        let np = nps[i];
        let probes = &order[probed..np.min(order.len())];
        let mut fresh = int8_candidates(ctx, probes, &mut dots, &mut scanned)?;
        probed = np.min(order.len());
        merge_sorted(&mut sorted1, &mut fresh, max1, &s.held);
        let slack = grid[i].slack;
        let end = i + grid[i..].iter().take_while(|g| g.slack == slack).count();
        let run = |kept1: usize| PointRun {
            scanned,
            probed: np,
            kept1,
            ..PointRun::default()
        };
        let mut runs: Vec<PointRun> = cuts[i..end]
            .iter()
            .map(|c| run(c.kept(&sorted1, k)))
            .collect();
        let mut by_kept: Vec<usize> = (0..runs.len()).collect();
        by_kept.sort_by_key(|&j| runs[j].kept1);
        // the best `max2` of the first stage's first k1 by mid score, for growing k1
        let mut by_mid = Shortlist::new(max2);
        let mut ranked = 0;
        let mut j = 0;
        while j < by_kept.len() {
            let k1 = runs[by_kept[j]].kept1;
            for c in &sorted1[ranked..k1] {
                let dist = cached(&mut caches.mids, c.addr, || {
                    ctx.mid_score(c.source(), c.offset())
                })?;
                by_mid.push(Cand { dist, addr: c.addr });
            }
            ranked = k1;
            let group = by_kept[j..]
                .iter()
                .take_while(|&&x| runs[x].kept1 == k1)
                .count();
            // the mid stage keeps exactly k2 of them
            let k2 = |x: usize| grid[i + x].k2;
            let longest = by_kept[j..j + group].iter().map(|&x| k2(x)).max();
            let shortlist = &by_mid.best[..longest.unwrap_or(0).min(by_mid.best.len())];
            let exact = exact_scored(ctx, shortlist, &mut caches.exact)?;
            for &x in &by_kept[j..j + group] {
                let mid = &exact[..k2(x).min(exact.len())];
                runs[x].hits = hits_in_best(mid, k, &s.truth, &mut fin);
            }
            j += group;
        }
        out.extend(runs);
        i = end;
    }
    Ok(out)
}

/// How grid point `g`'s first shortlist cuts ([`Schedule::first_cut`]).
fn first_cut(g: &Point, k: usize) -> StageCut {
    let s = schedule_of(*g, k, 1);
    s.first_cut(&s.stages[0])
}

/// The best `cap` candidates pushed so far, sorted (the funnel's total order).
struct Shortlist {
    best: Vec<Cand>,
    cap: usize,
}

impl Shortlist {
    fn new(cap: usize) -> Shortlist {
        Shortlist {
            best: Vec::with_capacity(cap + 1),
            cap,
        }
    }

    fn push(&mut self, c: Cand) {
        if self.best.len() == self.cap && self.best.last().is_none_or(|w| c >= *w) {
            return;
        }
        let at = self.best.partition_point(|x| *x < c);
        self.best.insert(at, c);
        self.best.truncate(self.cap);
    }
}

/// The first stage over newly probed partitions `probes`: int8 scores of their rows; `dots`
/// is scratch, `scanned` counts the rows scored.
fn int8_candidates(
    ctx: &QueryCtx<'_>,
    probes: &[usize],
    dots: &mut Vec<i32>,
    scanned: &mut usize,
) -> Result<Vec<Cand>, StorageError> {
    let mut fresh = Vec::new();
    for &p in probes {
        for &(vi, a, b) in &ctx.ranges(Some(&[p])) {
            let v = &ctx.views[vi];
            let codes = v
                .codes
                .as_ref()
                .ok_or_else(|| StorageError::corrupt("tuning", "segment without codes"))?;
            dots.resize((b - a) as usize, 0);
            (crate::kernels::get().dot_i8_rows)(
                &ctx.qc.coarse.codes,
                codes.range(a as usize, b as usize)?,
                dots,
            );
            for (j, &d) in dots.iter().enumerate() {
                fresh.push(Cand {
                    dist: ctx.int8_score(v, a as usize + j, d)?,
                    addr: Cand::addr(vi, a as usize + j),
                });
            }
            *scanned += (b - a) as usize;
        }
    }
    Ok(fresh)
}

/// The last stage: `shortlist` rescored exactly (cached in `exact`), in shortlist order.
fn exact_scored(
    ctx: &QueryCtx<'_>,
    shortlist: &[Cand],
    exact: &mut FxHashMap<u64, f32>,
) -> Result<Vec<Cand>, StorageError> {
    shortlist
        .iter()
        .map(|c| {
            let sc = cached(exact, c.addr, || {
                ctx.prefix_score(c.source(), c.offset(), ctx.bands.len())
            })?;
            Ok(Cand {
                dist: to_distance(ctx.q.metric, sc),
                addr: c.addr,
            })
        })
        .collect()
}

/// How many of the best `k` of `scored` are in `truth` (`fin` is scratch).
fn hits_in_best(scored: &[Cand], k: usize, truth: &FxHashSet<u64>, fin: &mut Vec<Cand>) -> usize {
    fin.clear();
    fin.extend_from_slice(scored);
    // the best k as a set (which of them is first does not change the hits)
    if fin.len() > k && k > 0 {
        fin.select_nth_unstable(k - 1);
    }
    fin.iter()
        .take(k)
        .filter(|c| truth.contains(&c.addr))
        .count()
}

fn cached(
    m: &mut FxHashMap<u64, f32>,
    addr: u64,
    f: impl FnOnce() -> Result<f32, StorageError>,
) -> Result<f32, StorageError> {
    if let Some(&v) = m.get(&addr) {
        return Ok(v);
    }
    let v = f()?;
    m.insert(addr, v);
    Ok(v)
}

/// Merges the candidates in `fresh` (any order; emptied) less those in `held` into the sorted
/// `best`, keeping the best `keep`.
fn merge_sorted(best: &mut Vec<Cand>, fresh: &mut Vec<Cand>, keep: usize, held: &[u64]) {
    // the best `keep` not held are among the best `keep + held` of all
    let want = keep + held.len();
    if fresh.len() > want {
        fresh.select_nth_unstable(want - 1);
        fresh.truncate(want);
    }
    fresh.retain(|c| !held.contains(&c.addr));
    fresh.sort_unstable();
    fresh.truncate(keep);
    let old = std::mem::take(best);
    let (mut a, mut b) = (old.into_iter().peekable(), fresh.drain(..).peekable());
    while best.len() < keep {
        let next = match (a.peek(), b.peek()) {
            (Some(x), Some(y)) if x <= y => a.next(),
            (Some(_), Some(_)) | (None, Some(_)) => b.next(),
            (Some(_), None) => a.next(),
            (None, None) => None,
        };
        match next {
            Some(c) => best.push(c),
            None => break,
        }
    }
}

#[cfg(test)]
#[path = "tune_tests.rs"]
pub(crate) mod equivalence;

#[cfg(test)]
mod tests {
    use super::grid;

    /// Defect: IndexOptions with k > 160 left the tuner an empty grid, and it panicked.
    #[test]
    fn tuner_grid_covers_k_over_160() {
        for (k, cosine) in [1, 10, 160, 161, 200, 1000]
            .into_iter()
            .flat_map(|k| [(k, false), (k, true)])
        {
            let g = grid(k, 0.1, cosine);
            assert!(!g.is_empty(), "k = {k}");
            assert!(
                g.iter().all(|p| p.k2 >= k && p.k1 >= p.k2),
                "k = {k}: {g:?}"
            );
            // every seed count, in ascending runs (evaluate makes one pass per seed count),
            // the probe slack ascending within each
            let seeds: Vec<usize> = g.iter().map(|p| p.seeds).collect();
            assert!(seeds.is_sorted(), "k = {k}");
            assert!(crate::index::SEED_CHOICES.iter().all(|s| seeds.contains(s)));
            assert!(g
                .windows(2)
                .all(|w| w[0].seeds != w[1].seeds || w[0].slack <= w[1].slack));
            // adaptive shortlists only, on cosine tables wherever their keeps reach k
            let adaptive = cosine && k <= 160;
            assert!(
                g.iter().all(|p| p.keep_slack.is_some() == adaptive),
                "k = {k}"
            );
        }
    }
}
