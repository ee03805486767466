//! Tunes the funnel schedule on sample queries drawn from the data.
//!
//! Sample rows serve as held-out queries: each one's exact neighbors are computed over the
//! other rows, then every schedule of a grid (probes x shortlist per stage) is evaluated
//! analytically per query: the probed rows are scored once per stage and each shortlist cut is
//! a prefix of the sorted scores, so the whole grid costs little more than its largest setting.
//! For each recall target the cheapest schedule (by an estimated per-query cost) whose mean
//! recall meets the target plus a small margin is kept.

use std::collections::HashSet;

use faer::linalg::matmul::matmul;
use faer::{Accum, MatMut, MatRef, Par};
use nestdb_storage::Metric;
use rand::seq::index::sample;
use rand::SeedableRng;
use rayon::prelude::*;

use super::encode::EncodedRows;
use super::{IndexModel, Schedule, Stage};
use crate::index::quant::QueryCodes;
use crate::layout::{Layout, SegView};
use crate::search::funnel::probe;
use crate::search::{to_distance, PreparedQuery};
use crate::topk::{Cand, TopK};

/// Recall targets a model keeps a schedule for.
pub const TARGETS: [f32; 12] = [
    0.5, 0.7, 0.8, 0.85, 0.9, 0.93, 0.95, 0.97, 0.98, 0.99, 0.995, 0.999,
];
/// Recall measured on the sample must exceed the target by this much (or by half the gap to
/// 1.0 when that is smaller, so high targets stay reachable): sample rows are a little easier
/// than held-out queries.
pub const MARGIN: f32 = 0.01;

/// The sample recall a schedule needs to be kept for `target`.
pub fn required(target: f32) -> f32 {
    (target + MARGIN.min((1.0 - target) / 2.0)).min(1.0)
}
const PROBES: [usize; 22] = [
    1, 2, 3, 4, 5, 6, 8, 10, 12, 16, 20, 24, 32, 40, 48, 64, 80, 96, 128, 160, 192, 256,
];
const KEEP1: [usize; 14] = [
    20, 30, 40, 60, 80, 120, 160, 240, 320, 480, 640, 960, 1280, 1920,
];
const KEEP2: [usize; 9] = [10, 15, 20, 30, 40, 60, 80, 120, 160];

/// Tuning parameters.
#[derive(Clone, Debug)]
pub struct TuneParams {
    /// Results per query the schedules are tuned for.
    pub k: usize,
    /// Sample queries.
    pub queries: usize,
    /// RNG seed.
    pub seed: u64,
}

/// One grid point's accumulated results.
#[derive(Clone, Copy)]
struct Point {
    nprobe: usize,
    keep1: usize,
    keep2: usize,
    hits: usize,
    cost: f64,
}

/// The band count of the middle f32 stage: the smallest prefix of at least twice the coarse dims
/// (None when that is already the full vector).
pub fn mid_bands(layout: &Layout, coarse: usize) -> Option<usize> {
    let nb = layout.bands.len();
    let b = layout.bands.iter().position(|&(_, e)| e >= 2 * coarse)? + 1;
    (b < nb).then_some(b)
}

/// Tunes schedules for every target in [`TARGETS`].
/// `x` holds the transformed rows (row-major, input order); `rows` the same rows encoded,
/// in clustered order (`rows.order[new] = old`).
pub fn tune(
    model: &IndexModel,
    layout: &Layout,
    rows: &EncodedRows,
    x: &[f32],
    p: &TuneParams,
) -> Vec<Schedule> {
    let view = rows.view();
    let n = view.rows;
    let m = p.queries.min(n.saturating_sub(p.k + 1));
    if m == 0 {
        return vec![fallback(model, p.k)];
    }
    let mut rng = rand::rngs::StdRng::seed_from_u64(p.seed);
    let qrows: Vec<usize> = sample(&mut rng, n, m).into_vec();
    let mid = mid_bands(layout, model.meta.coarse_dims);
    let probes: Vec<usize> = PROBES
        .iter()
        .copied()
        .filter(|&x| x <= model.meta.partitions)
        .collect();
    let grid: Vec<Point> = probes
        .iter()
        .flat_map(|&np| {
            KEEP1.iter().flat_map(move |&k1| {
                KEEP2
                    .iter()
                    .filter(move |&&k2| k2 <= k1 && k2 >= p.k)
                    .map(move |&k2| Point {
                        nprobe: np,
                        keep1: k1,
                        keep2: k2,
                        hits: 0,
                        cost: 0.0,
                    })
            })
        })
        .collect();
    let truths = ground_truth(x, layout.dim, model.meta.metric, &rows.order, &qrows, p.k);
    let per_query: Vec<Vec<(usize, f64)>> = qrows
        .par_iter()
        .zip(&truths)
        .map(|(&qr, truth)| evaluate_query(model, layout, &view, qr, truth, mid, &grid, p.k))
        .collect();
    let mut acc = grid.clone();
    for q in &per_query {
        for (a, &(h, c)) in acc.iter_mut().zip(q) {
            a.hits += h;
            a.cost += c;
        }
    }
    let denom = (m * p.k) as f32;
    let pick = |target: f32| -> Schedule {
        let ok = acc
            .iter()
            .filter(|a| a.hits as f32 / denom >= required(target))
            .min_by(|a, b| a.cost.total_cmp(&b.cost));
        let best = ok.unwrap_or_else(|| {
            acc.iter()
                .max_by(|a, b| a.hits.cmp(&b.hits).then(b.cost.total_cmp(&a.cost)))
                .expect("non-empty grid")
        });
        let mut stages = vec![Stage::Int8 { keep: best.keep1 }];
        if let Some(b) = mid {
            stages.push(Stage::F32 {
                bands: b,
                keep: best.keep2,
            });
        }
        Schedule {
            nprobe: best.nprobe,
            stages,
            k: p.k,
            target,
            measured_recall: best.hits as f32 / denom,
            cost: (best.cost / m as f64) as f32,
            min_candidates: None,
            scan_all: false,
        }
    };
    TARGETS.iter().map(|&t| pick(t)).collect()
}

/// A schedule for tables too small to sample: probe everything, keep everything.
pub fn fallback(model: &IndexModel, k: usize) -> Schedule {
    Schedule {
        nprobe: model.meta.partitions,
        stages: vec![Stage::Int8 { keep: 4096 }],
        k,
        target: 1.0,
        measured_recall: 1.0,
        cost: f32::MAX,
        min_candidates: None,
        scan_all: false,
    }
}

fn query_of(layout: &Layout, view: &SegView<'_>, row: usize, model: &IndexModel) -> PreparedQuery {
    let mut t = Vec::with_capacity(layout.dim);
    for (b, &(s, e)) in layout.bands.iter().enumerate() {
        let w = e - s;
        t.extend_from_slice(&view.bands[b][row * w..(row + 1) * w]);
    }
    PreparedQuery {
        original: Vec::new(),
        transformed: t,
        metric: model.meta.metric,
    }
}

/// Hits and estimated cost of every grid point for sample query row `qr`.
/// Hits and estimated cost of every grid point (grid order: nprobe, then keep1, then keep2,
/// each ascending) for sample query row `qr`.
///
/// Work is shared between grid points: int8 scores are computed once per probed partition;
/// for each nprobe the best `max keep1` rows by int8 are sorted once and every keep1 is a
/// prefix; as keep1 grows, a running top-`max keep2` by the mid-stage score absorbs only the
/// new rows; and for each keep2 prefix a running exact top-k absorbs only the new rows. Scores
/// of a row are computed once per query.
#[allow(clippy::too_many_arguments)]
fn evaluate_query(
    model: &IndexModel,
    layout: &Layout,
    view: &SegView<'_>,
    qr: usize,
    truth: &HashSet<u64>,
    mid: Option<usize>,
    grid: &[Point],
    k: usize,
) -> Vec<(usize, f64)> {
    let q = query_of(layout, view, qr, model);
    let nb = layout.bands.len();
    let qc = QueryCodes::new(&model.quant, &q.transformed);
    let order = probe(model, &qc, model.meta.partitions);
    let offs = view.partitions.unwrap_or(&[]);
    let codes = view.codes_i8.unwrap_or(&[]);
    let c = model.meta.coarse_dims;
    let mid_dims = mid.map_or(0, |b| layout.bands[b - 1].1);
    let done = mid.unwrap_or(0);
    let mut mid_c = vec![f32::NAN; view.rows];
    let mut rest_c = vec![f32::NAN; view.rows];
    let mut scratch = Vec::new();
    let max_k1 = KEEP1[KEEP1.len() - 1];
    let max_k2 = KEEP2[KEEP2.len() - 1];
    // the best max_k1 rows by int8 score so far, sorted: each probed partition's rows are
    // sorted on their own and merged in
    let mut sorted1: Vec<Cand> = Vec::with_capacity(2 * max_k1);
    let mut fresh: Vec<Cand> = Vec::new();
    let (mut probed, mut scanned) = (0, 0);
    let mut out = Vec::with_capacity(grid.len());
    let mut i = 0;
    while i < grid.len() {
        let np = grid[i].nprobe;
        fresh.clear();
        for &p in &order[probed..np.min(order.len())] {
            let (a, b) = (offs[p] as usize, offs[p + 1] as usize);
            scratch.resize(b - a, 0);
            (crate::kernels::get().dot_i8_rows)(&qc.codes, &codes[a * c..b * c], &mut scratch);
            for (j, &d) in scratch.iter().enumerate() {
                let r = a + j;
                if r != qr {
                    let dot = qc.offset + qc.scale * d as f32;
                    let s = match q.metric {
                        Metric::L2 => view.norms.map_or(0.0, |n| n[r]) - 2.0 * dot,
                        _ => -dot,
                    };
                    fresh.push(Cand {
                        dist: s,
                        addr: r as u64,
                    });
                }
            }
            scanned += b - a;
        }
        probed = np.min(order.len());
        merge_sorted(&mut sorted1, &mut fresh, max_k1);
        // keep1 ascending: a running top-max_k2 by the mid score over the sorted1 prefix
        let mut top2 = TopK::new(max_k2);
        let mut taken1 = 0;
        while i < grid.len() && grid[i].nprobe == np {
            let k1 = grid[i].keep1;
            let s1 = k1.min(sorted1.len());
            for cand in &sorted1[taken1..s1] {
                let r = cand.addr as usize;
                let m = match mid {
                    Some(b) => {
                        if mid_c[r].is_nan() {
                            mid_c[r] = q.partial(layout, view, r, b);
                        }
                        mid_c[r]
                    }
                    None => cand.dist,
                };
                top2.push(m, cand.addr);
            }
            taken1 = s1;
            let s2 = top2.clone().into_sorted();
            // keep2 ascending: a running exact top-k over the s2 prefix
            let mut fin = TopK::new(k);
            let mut taken2 = 0;
            while i < grid.len() && grid[i].nprobe == np && grid[i].keep1 == k1 {
                let take2 = if mid.is_some() {
                    grid[i].keep2.min(s2.len())
                } else {
                    s2.len()
                };
                for cand in &s2[taken2.min(take2)..take2] {
                    let r = cand.offset();
                    if rest_c[r].is_nan() {
                        rest_c[r] = (done..nb).map(|bd| q.band_score(layout, view, r, bd)).sum();
                    }
                    let base = if done > 0 { cand.dist } else { 0.0 };
                    fin.push(to_distance(q.metric, base + rest_c[r]), cand.addr);
                }
                taken2 = taken2.max(take2);
                let hits = fin
                    .clone()
                    .into_sorted()
                    .iter()
                    .filter(|c| truth.contains(&c.addr))
                    .count();
                out.push((
                    hits,
                    estimate_cost(model, layout, scanned, s1, mid_dims, take2),
                ));
                i += 1;
            }
        }
    }
    out
}

/// Merges the candidates in `fresh` (any order; emptied) into the sorted `best`, keeping the
/// best `keep`.
fn merge_sorted(best: &mut Vec<Cand>, fresh: &mut Vec<Cand>, keep: usize) {
    if fresh.len() > keep {
        fresh.select_nth_unstable(keep - 1);
        fresh.truncate(keep);
    }
    fresh.sort_unstable();
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

/// Estimated per-query cost in nanoseconds-like units: per-row call overhead plus per-dimension
/// work, int8 at a quarter of f32's cost.
pub fn estimate_cost(
    model: &IndexModel,
    layout: &Layout,
    scanned: usize,
    s1: usize,
    mid_dims: usize,
    s2: usize,
) -> f64 {
    // Calibrated on this codebase's kernels (AVX2, 384 dims): a centroid costs ~2 ns plus its
    // dims / 10; a scanned row of int8 codes ~1.5 ns plus dims / 40 (streamed, batched); a
    // shortlisted candidate ~60 ns of memory latency (random rows) plus dims / 4.
    let c = model.meta.coarse_dims as f64;
    let probe = model.meta.partitions as f64 * (2.0 + c / 10.0);
    let coarse = scanned as f64 * (1.5 + c / 40.0);
    let mid = if mid_dims > 0 {
        s1 as f64 * (60.0 + mid_dims as f64 / 4.0)
    } else {
        0.0
    };
    let rest = layout.dim - mid_dims;
    let fin = s2 as f64 * (if mid_dims > 0 { 40.0 } else { 60.0 } + rest as f64 / 4.0);
    probe + coarse + mid + fin
}

/// Exact `k` nearest rows of each sample query (clustered row numbers, the query itself
/// excluded), by blocks of matrix products (faer) over the transformed rows `x` (input order).
fn ground_truth(
    x: &[f32],
    d: usize,
    metric: Metric,
    order: &[u32],
    qrows: &[usize],
    k: usize,
) -> Vec<HashSet<u64>> {
    let n = x.len() / d;
    let mut inv = vec![0u32; n];
    for (new, &old) in order.iter().enumerate() {
        inv[old as usize] = new as u32;
    }
    let norms: Vec<f32> = x
        .chunks_exact(d)
        .map(|r| r.iter().map(|v| v * v).sum())
        .collect();
    let xr = MatRef::from_row_major_slice(x, n, d);
    qrows
        .par_chunks(32)
        .flat_map_iter(|block| {
            let olds: Vec<usize> = block.iter().map(|&qr| order[qr] as usize).collect();
            let q: Vec<f32> = olds
                .iter()
                .flat_map(|&o| x[o * d..(o + 1) * d].iter().copied())
                .collect();
            let mut s = vec![0f32; olds.len() * n];
            matmul(
                MatMut::from_row_major_slice_mut(&mut s, olds.len(), n),
                Accum::Replace,
                MatRef::from_row_major_slice(&q, olds.len(), d),
                xr.transpose(),
                1.0f32,
                Par::Seq,
            );
            olds.into_iter()
                .enumerate()
                .map(|(i, o)| {
                    let mut top = TopK::new(k);
                    for (j, &dot) in s[i * n..(i + 1) * n].iter().enumerate() {
                        if j != o {
                            // smaller is better, like the funnel's scores
                            let score = if metric == Metric::L2 {
                                norms[j] - 2.0 * dot
                            } else {
                                -dot
                            };
                            top.push(score, inv[j] as u64);
                        }
                    }
                    top.into_sorted().iter().map(|c| c.addr).collect()
                })
                .collect::<Vec<_>>()
        })
        .collect()
}
