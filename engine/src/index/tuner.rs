//! Tunes the funnel schedule on sample queries drawn from the data.
//!
//! Sample rows serve as held-out queries: each one's exact neighbors are computed over the
//! other rows, then every schedule of a grid (probes x shortlist per stage) is evaluated
//! analytically per query: the probed rows are scored once per stage and each shortlist cut is
//! a prefix of the sorted scores, so the whole grid costs little more than its largest setting.
//! For each recall target the cheapest schedule (by an estimated per-query cost) whose mean
//! recall meets the target plus a small margin is kept.

use std::collections::HashSet;

use rand::seq::index::sample;
use rand::SeedableRng;
use rayon::prelude::*;

use super::encode::EncodedRows;
use super::{IndexModel, Schedule, Stage};
use crate::index::quant::QueryCodes;
use crate::layout::{Layout, SegView};
use crate::search::funnel::probe;
use crate::search::{to_distance, PreparedQuery};
use crate::topk::TopK;

/// Recall targets a model keeps a schedule for.
pub const TARGETS: [f32; 12] = [
    0.5, 0.7, 0.8, 0.85, 0.9, 0.93, 0.95, 0.97, 0.98, 0.99, 0.995, 0.999,
];
/// Recall measured on the sample must exceed the target by this much.
pub const MARGIN: f32 = 0.005;
const PROBES: [usize; 16] = [1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256];
const KEEP1: [usize; 8] = [20, 40, 80, 160, 320, 640, 1280, 2560];
const KEEP2: [usize; 5] = [10, 20, 40, 80, 160];

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
pub fn tune(
    model: &IndexModel,
    layout: &Layout,
    rows: &EncodedRows,
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
    let per_query: Vec<Vec<(usize, f64)>> = qrows
        .par_iter()
        .map(|&qr| evaluate_query(model, layout, &view, qr, mid, &grid, p.k))
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
            .filter(|a| a.hits as f32 / denom >= (target + MARGIN).min(1.0))
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
fn evaluate_query(
    model: &IndexModel,
    layout: &Layout,
    view: &SegView<'_>,
    qr: usize,
    mid: Option<usize>,
    grid: &[Point],
    k: usize,
) -> Vec<(usize, f64)> {
    let q = query_of(layout, view, qr, model);
    let nb = layout.bands.len();
    let exact = |r: usize| to_distance(q.metric, q.partial(layout, view, r, nb));
    let mut gt = TopK::new(k);
    for r in (0..view.rows).filter(|&r| r != qr) {
        gt.push(exact(r), r as u64);
    }
    let truth: HashSet<u64> = gt.into_sorted().iter().map(|c| c.addr).collect();
    let order = probe(model, &q, model.meta.partitions);
    let offs = view.partitions.unwrap_or(&[]);
    let codes = view.codes_i8.unwrap_or(&[]);
    let c = model.meta.coarse_dims;
    let qc = QueryCodes::new(&model.quant, &q.transformed);
    let int8 = |r: usize| {
        let dot = qc.dot(&codes[r * c..(r + 1) * c]);
        match q.metric {
            nestdb_storage::Metric::L2 => view.norms.map_or(0.0, |n| n[r]) - 2.0 * dot,
            _ => -dot,
        }
    };
    let mid_dims = mid.map_or(0, |b| layout.bands[b - 1].1);
    let mut cands: Vec<(f32, usize)> = Vec::new();
    let mut probed = 0;
    let mut out = Vec::with_capacity(grid.len());
    let mut cur_np = 0;
    let mut sorted1: Vec<(f32, usize)> = Vec::new();
    for g in grid {
        if g.nprobe != cur_np {
            for &p in &order[probed..g.nprobe.min(order.len())] {
                for r in offs[p] as usize..offs[p + 1] as usize {
                    if r != qr {
                        cands.push((int8(r), r));
                    }
                }
            }
            probed = g.nprobe.min(order.len());
            cur_np = g.nprobe;
            sorted1 = cands.clone();
            let cut = KEEP1[KEEP1.len() - 1].min(sorted1.len());
            if cut < sorted1.len() {
                sorted1.select_nth_unstable_by(cut, |a, b| a.0.total_cmp(&b.0));
                sorted1.truncate(cut);
            }
            sorted1.sort_by(|a, b| a.0.total_cmp(&b.0));
        }
        let s1 = &sorted1[..g.keep1.min(sorted1.len())];
        let mut s2: Vec<(f32, usize)> = match mid {
            Some(b) => s1
                .iter()
                .map(|&(_, r)| (q.partial(layout, view, r, b), r))
                .collect(),
            None => s1.to_vec(),
        };
        s2.sort_by(|a, b| a.0.total_cmp(&b.0));
        s2.truncate(if mid.is_some() { g.keep2 } else { s1.len() });
        let mut fin: Vec<(f32, usize)> = s2.iter().map(|&(_, r)| (exact(r), r)).collect();
        fin.sort_by(|a, b| a.0.total_cmp(&b.0));
        let hits = fin
            .iter()
            .take(k)
            .filter(|(_, r)| truth.contains(&(*r as u64)))
            .count();
        let cost = estimate_cost(model, layout, cands.len(), s1.len(), mid_dims, s2.len());
        out.push((hits, cost));
    }
    out
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
    let c = model.meta.coarse_dims as f64;
    let probe = model.meta.partitions as f64 * (2.0 + c / 8.0);
    let coarse = scanned as f64 * (6.0 + c / 32.0);
    let mid = if mid_dims > 0 {
        s1 as f64 * (8.0 + mid_dims as f64 / 8.0)
    } else {
        0.0
    };
    let fin = s2 as f64 * (4.0 * layout.bands.len() as f64 + layout.dim as f64 / 8.0);
    probe + coarse + mid + fin
}
