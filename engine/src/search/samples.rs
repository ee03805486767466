//! The tuner's sample queries: rows of the table held out of their own search with their
//! near-duplicates, or the table's tuning queries; for each, its exact `k` nearest rows and,
//! in the same pass over the table, its exact `k` nearest under a random filter per band
//! ([`BANDS`], [`keeps_keyed`]) for the filtered calibration (`filtered_tune.rs`).

use nestdb_storage::{Metric, StorageError};
use rand::seq::index::sample;
use rand::SeedableRng;
use rustc_hash::FxHashSet;

use super::view::SegView;
use super::{to_distance, PreparedQuery};
use crate::index::IndexModel;
use crate::layout::Layout;
use crate::topk::Cand;

/// Selectivities calibrated, widest first (each band's filter keeps a subset of the wider's).
pub const BANDS: [f64; 3] = [0.1, 0.01, 0.001];

/// The part of a sample query's random filters that depends on the seed and the query alone
/// (`key`, its position in the truth pass), for [`keeps_keyed`].
pub fn query_key(seed: u64, key: u64) -> u64 {
    mix(seed ^ mix(key))
}

/// How many of [`BANDS`] keep row `addr` for the sample query of `qkey` ([`query_key`]; the
/// first that many): one uniform draw per (seed, query, row), compared with each band's share.
#[inline]
pub fn keeps_keyed(qkey: u64, addr: u64) -> usize {
    let u = (mix(qkey ^ addr) >> 11) as f64 / (1u64 << 53) as f64;
    BANDS.iter().take_while(|&&b| u < b).count()
}

/// splitmix64's finalizer.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Near-duplicates held out per query at most (queries with more are skipped).
const MAX_HELD: usize = 64;

/// Tuning parameters.
#[derive(Clone, Debug)]
pub struct TuneParams {
    /// Results per query the schedules are tuned for.
    pub k: usize,
    /// Sample queries (half choose, half calibrate).
    pub queries: usize,
    /// Rows closer than this (distance) to a sample query are held out with it.
    pub holdout_radius: f32,
    /// RNG seed.
    pub seed: u64,
}

/// One sample query: its vector (a row's stored vector, or one of the table's tuning queries),
/// the rows held out with it (none for a tuning query), its exact `k` nearest among the rest,
/// and how much worse its 32nd nearest centroid scores than its nearest (for the tuner's slack unit);
/// `key` names its random filters ([`keeps_keyed`]) and `filtered[b]` holds
/// its exact `k` nearest among the rows the filter of band `b` keeps, less the held-out ones
/// (empty when fewer than `k` remain).
pub(super) struct Sample {
    pub(super) query: Vec<f32>,
    pub(super) held: Vec<u64>,
    pub(super) truth: FxHashSet<u64>,
    pub(super) spread: f32,
    pub(super) key: u64,
    pub(super) filtered: Vec<FxHashSet<u64>>,
}

/// How much worse the query's 32nd nearest centroid scores than its nearest.
pub(super) fn centroid_spread(model: &IndexModel, q: &PreparedQuery) -> f32 {
    let Some(qc) = q.codes.as_ref() else {
        return 0.0;
    };
    let scored = super::pipeline::probe_scored(model, qc, 32);
    match (scored.first(), scored.last()) {
        (Some(a), Some(b)) => b.dist - a.dist,
        _ => 0.0,
    }
}

/// Sample queries with their held-out rows and ground truth.
pub(super) fn samples(
    model: &IndexModel,
    layout: &Layout,
    views: &[SegView<'_>],
    p: &TuneParams,
) -> Result<Vec<Sample>, StorageError> {
    let total: usize = views.iter().map(|v| v.rows).sum();
    let m = p.queries.min(total.saturating_sub(p.k + 1));
    if m == 0 {
        return Ok(Vec::new());
    }
    let mut rng = rand::rngs::StdRng::seed_from_u64(p.seed);
    let picks = sample(&mut rng, total, m).into_vec();
    let addrs: Vec<u64> = picks.iter().map(|&i| addr_of(views, i)).collect();
    let d = layout.dim;
    let mut qs = Vec::with_capacity(m * d);
    let mut raw = Vec::with_capacity(m);
    let mut spreads = Vec::with_capacity(m);
    for &a in &addrs {
        let (x, q) = query_vector(model, layout, views, a)?;
        spreads.push(centroid_spread(model, &q));
        qs.extend(q.unit);
        raw.push(x);
    }
    let near = nearest_filtered(views, &qs, layout, p, p.k + MAX_HELD + 1)?;
    let mut out = Vec::with_capacity(m);
    for (i, ((a, lists), query)) in addrs.into_iter().zip(near).zip(raw).enumerate() {
        let qn: f32 = qs[i * d..(i + 1) * d].iter().map(|x| x * x).sum();
        let held: Vec<u64> = lists[0]
            .iter()
            .filter(|c| c.addr == a || near_duplicate(layout.metric, qn, c.dist, p.holdout_radius))
            .map(|c| c.addr)
            .collect();
        if held.len() > MAX_HELD {
            continue;
        }
        let mut truths: Vec<FxHashSet<u64>> = lists.iter().map(|l| best_k(l, &held, p.k)).collect();
        let truth = std::mem::take(&mut truths[0]);
        if truth.len() == p.k {
            out.push(Sample {
                query,
                held,
                truth,
                spread: spreads[i],
                key: i as u64,
                filtered: truths.split_off(1),
            });
        }
    }
    Ok(out)
}

/// The table's tuning queries as samples, in a seeded random order (the first half chooses,
/// the rest calibrates): nothing is held out, and the truth is the exact `k` nearest rows.
pub(super) fn given_samples(
    model: &IndexModel,
    layout: &Layout,
    views: &[SegView<'_>],
    p: &TuneParams,
    given: &[f32],
) -> Result<Vec<Sample>, StorageError> {
    let d = layout.dim;
    let total: usize = views.iter().map(|v| v.rows).sum();
    if total < p.k || d == 0 {
        return Ok(Vec::new());
    }
    let n = given.len() / d;
    let mut rng = rand::rngs::StdRng::seed_from_u64(p.seed);
    let order = sample(&mut rng, n, n).into_vec();
    let mut qs = Vec::with_capacity(n * d);
    let mut spreads = Vec::with_capacity(n);
    for &i in &order {
        let q = prepare(model, layout, &given[i * d..(i + 1) * d])?;
        spreads.push(centroid_spread(model, &q));
        qs.extend(q.unit);
    }
    let near = nearest_filtered(views, &qs, layout, p, p.k)?;
    Ok(order
        .iter()
        .zip(near)
        .zip(spreads)
        .enumerate()
        .map(|(key, ((&i, lists), spread))| {
            let mut truths = lists.iter().map(|l| best_k(l, &[], p.k));
            Sample {
                query: given[i * d..(i + 1) * d].to_vec(),
                held: Vec::new(),
                truth: truths.next().unwrap_or_default(),
                spread,
                key: key as u64,
                filtered: truths.collect(),
            }
        })
        .filter(|s| s.truth.len() == p.k)
        .collect())
}

/// Each query's best `n` rows, and its best `n` under each band's random filter
/// ([`keeps_keyed`], keyed by the query's position in `qs`), in one pass.
fn nearest_filtered(
    views: &[SegView<'_>],
    qs: &[f32],
    layout: &Layout,
    p: &TuneParams,
    n: usize,
) -> Result<Vec<Vec<Vec<Cand>>>, StorageError> {
    let keys: Vec<u64> = (0..qs.len() / layout.dim.max(1))
        .map(|i| query_key(p.seed, i as u64))
        .collect();
    super::truth::nearest(
        views,
        qs,
        layout.dim,
        layout.metric,
        n,
        BANDS.len(),
        |i, a| keeps_keyed(keys[i], a),
    )
}

/// The first `k` addresses of `list` not in `held`, or none when fewer than `k` remain.
fn best_k(list: &[Cand], held: &[u64], k: usize) -> FxHashSet<u64> {
    let t: FxHashSet<u64> = list
        .iter()
        .filter(|c| !held.contains(&c.addr))
        .take(k)
        .map(|c| c.addr)
        .collect();
    if t.len() == k {
        t
    } else {
        FxHashSet::default()
    }
}

/// Whether a row scored `score` by [`super::truth::nearest`] against a query of squared norm
/// `qn` lies within `radius` of it. Under L2 the score lacks the query's own squared norm (it
/// is `|x|^2 - 2 q.x`); under dot there is no distance, so only the row itself is held out.
fn near_duplicate(metric: Metric, qn: f32, score: f32, radius: f32) -> bool {
    match metric {
        Metric::Cosine => to_distance(metric, score) < radius,
        Metric::L2 => to_distance(metric, score + qn) < radius,
        Metric::Dot => false,
    }
}

/// The address of the `i`-th row over `views`.
fn addr_of(views: &[SegView<'_>], mut i: usize) -> u64 {
    for (vi, v) in views.iter().enumerate() {
        if i < v.rows {
            return Cand::addr(vi, i);
        }
        i -= v.rows;
    }
    0
}

/// The stored vector at `addr`, and the same prepared as a query.
fn query_vector(
    model: &IndexModel,
    layout: &Layout,
    views: &[SegView<'_>],
    addr: u64,
) -> Result<(Vec<f32>, PreparedQuery), StorageError> {
    let c = Cand { dist: 0.0, addr };
    let mut x = Vec::with_capacity(layout.dim);
    views[c.source()].seg.vector(c.offset(), &mut x)?;
    let q = prepare(model, layout, &x)?;
    Ok((x, q))
}

/// A sample query's vector prepared under `model`.
pub(super) fn prepare(
    model: &IndexModel,
    layout: &Layout,
    x: &[f32],
) -> Result<PreparedQuery, StorageError> {
    PreparedQuery::new(x, layout, Some(model), "vector")
        .map_err(|e| StorageError::corrupt("tuning sample", e.to_string()))
}
