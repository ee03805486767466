//! The coarse-to-fine funnel: a schedule run through the stage pipeline.
//!
//! probe partitions (centroids on the coarse prefix) -> scan the probed partitions' int8 codes
//! (contiguous ranges of each segment) keeping a shortlist -> rescore the shortlist with the mid
//! codes, cut again -> exact at full dimension on the vectors in the Parquet pages -> top-k.

use std::time::Instant;

use nestdb_storage::{Metric, StorageError};

use super::explain::{StageLog, StageStats};
use super::pipeline::QueryCtx;
use super::probe;
use crate::index::{Schedule, Stage, StageCut};
use crate::topk::Cand;

/// Partitions to scan: the `nprobe` nearest, and with `min_candidates` more in order of
/// distance until that many selected rows are covered (filtered queries; more where they are
/// rarer near the query than in the table, [`Schedule::probed_enough`]); partitions with no
/// selected row are skipped.
pub fn choose_partitions(ctx: &QueryCtx<'_>, sched: &Schedule) -> Vec<usize> {
    if sched.min_candidates.is_none() {
        return ctx.probe_order(sched.nprobe);
    }
    let mut out = Vec::new();
    let (mut covered, mut walked) = (0u64, 0u64);
    // the nearest partitions first: sorting all of them costs more than most walks need
    let all = ctx.model.meta.partitions;
    let mut order = ctx.probe_order(all.min(NEAR.max(8 * sched.nprobe)));
    let mut i = 0;
    loop {
        if i == order.len() {
            if order.len() >= all {
                return out;
            }
            order = ctx.probe_order(all);
        }
        if sched.probed_enough(out.len(), covered, walked) {
            return out;
        }
        let p = order[i];
        i += 1;
        let n = ctx.partition_rows(p);
        walked += ctx.partition_size(p);
        if n > 0 {
            out.push(p);
            covered += n;
        }
    }
}

/// Partitions a filtered walk sorts by distance before it needs them all.
pub const NEAR: usize = 256;

/// Runs `sched` for the best `k`; returns them with reported distances, best first, and
/// appends per-stage statistics to `stats` (when it records). The partitions scanned are
/// `chosen` when given (a filter tested inside the first stage chose them while evaluating it
/// on their rows), else [`choose_partitions`]'s.
pub fn run(
    ctx: &QueryCtx<'_>,
    sched: &Schedule,
    chosen: Option<Vec<usize>>,
    k: usize,
    stats: &mut StageLog,
) -> Result<Vec<Cand>, StorageError> {
    let first = probe::first_of(sched, k);
    // a filtered walk's floor follows this query's unfiltered reach (partitions `chosen` by an
    // in-stage walk already followed it, `instage::execute`)
    let reached = match chosen {
        None => probe::with_reach(ctx, sched, k)?,
        Some(_) => None,
    };
    let sched = reached.as_ref().unwrap_or(sched);
    let mut cands = first_stage(ctx, sched, chosen, first, k, stats)?;
    for st in sched.stages.iter().skip(1) {
        let t = Instant::now();
        let n_in = cands.len();
        cands = ctx.rescore(*st, &cands)?;
        stats.push(|| stage_stats(ctx, st, n_in, cands.len(), t));
    }
    let t = Instant::now();
    let out = ctx.finish(&cands, k)?;
    let dim = ctx.model.meta.dim;
    stats.push(|| StageStats {
        name: format!("exact[0:{dim}]"),
        candidates_in: cands.len(),
        candidates_out: out.len(),
        rows_touched: cands.len(),
        bytes_touched: cands.len() * dim * 4,
        time: t.elapsed(),
    });
    Ok(out)
}

/// How the first stage `first` of `sched` cuts its candidates: [`Schedule::first_cut`] on a
/// cosine table, a fixed shortlist otherwise (the relative slack needs scores whose distance
/// is `1 + score`).
fn first_cut(ctx: &QueryCtx<'_>, sched: &Schedule, first: &Stage) -> StageCut {
    let cut = sched.first_cut(first);
    match ctx.q.metric {
        Metric::Cosine => cut,
        _ => StageCut {
            keep: cut.keep,
            cap: cut.keep,
            slack: None,
        },
    }
}

/// The first stage's candidates (its best `cut.cap`, in address order) cut as `cut` says for
/// `k` results ([`StageCut::kept`]), in address order.
fn cut_stage(mut cands: Vec<Cand>, cut: StageCut, k: usize) -> Vec<Cand> {
    if cut.slack.is_none() || cands.len() <= cut.keep {
        return cands;
    }
    cands.sort_unstable();
    cands.truncate(cut.kept(&cands, k));
    cands.sort_unstable_by_key(|c| c.addr);
    cands
}

/// The probe and the first stage: an adaptive probe's ([`probe::first_stage`]) when the
/// schedule probes adaptively ([`Schedule::adaptive_slack`]) and no partitions are preset; else
/// the partitions `chosen` or [`choose_partitions`]'s (none when it scans every selected row).
fn first_stage(
    ctx: &QueryCtx<'_>,
    sched: &Schedule,
    chosen: Option<Vec<usize>>,
    first: Stage,
    k: usize,
    stats: &mut StageLog,
) -> Result<Vec<Cand>, StorageError> {
    let adaptive = sched.adaptive_slack().filter(|_| chosen.is_none());
    // an adaptive shortlist keeps the stage's cap, then cuts it (`Schedule::first_cut`)
    let cut = first_cut(ctx, sched, &first);
    let (stage, first) = (first, first.with_keep(cut.cap));
    let cands = match adaptive {
        Some(slack) => {
            let t = Instant::now();
            let (parts, cands, scanned) =
                probe::first_stage(ctx, (sched.seeds(), slack), first, k)?;
            let cands = cut_stage(cands, cut, k);
            probe_stats(ctx, parts.len(), t, stats);
            stats.push(|| stage_stats(ctx, &stage, scanned, cands.len(), t));
            cands
        }
        None => {
            let t = Instant::now();
            let probes =
                (!sched.scan_all).then(|| chosen.unwrap_or_else(|| choose_partitions(ctx, sched)));
            if let Some(p) = &probes {
                probe_stats(ctx, p.len(), t, stats);
            }
            let t = Instant::now();
            let ranges = ctx.ranges(probes.as_deref());
            let (cands, scanned) = ctx.first_stage(&ranges, first)?;
            let cands = cut_stage(cands, cut, k);
            stats.push(|| stage_stats(ctx, &stage, scanned, cands.len(), t));
            cands
        }
    };
    Ok(cands)
}

/// The name of the probe's line in EXPLAIN ANALYZE.
pub const PROBE_STAGE: &str = "probe";

/// The probe's line of EXPLAIN ANALYZE (an adaptive probe's time includes its first stage).
fn probe_stats(ctx: &QueryCtx<'_>, probed: usize, t: Instant, stats: &mut StageLog) {
    let m = ctx.model;
    stats.push(|| StageStats {
        name: PROBE_STAGE.into(),
        candidates_in: m.meta.partitions,
        candidates_out: probed,
        rows_touched: m.meta.partitions,
        bytes_touched: m.meta.partitions * m.meta.coarse_dims,
        time: t.elapsed(),
    });
}

fn stage_stats(
    ctx: &QueryCtx<'_>,
    st: &Stage,
    n_in: usize,
    n_out: usize,
    t: Instant,
) -> StageStats {
    let m = ctx.model;
    let (name, bytes) = match *st {
        Stage::Int8 { .. } => (
            format!("int8[0:{}]", m.meta.coarse_dims),
            m.meta.coarse_dims,
        ),
        Stage::Mid { .. } => (format!("int8[0:{}]", m.meta.mid_dims), m.meta.mid_dims),
        Stage::Bits { .. } => (format!("bits[0:{}]", m.meta.bits_dims), m.bits_bytes()),
        Stage::F32 { bands, .. } => {
            let e = ctx.bands[bands.clamp(1, ctx.bands.len()) - 1].1;
            (format!("f32[0:{e}]"), e * 4)
        }
    };
    StageStats {
        name,
        candidates_in: n_in,
        candidates_out: n_out,
        rows_touched: n_in,
        bytes_touched: n_in * bytes,
        time: t.elapsed(),
    }
}
