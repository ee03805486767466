//! The coarse-to-fine funnel over Matryoshka prefixes.
//!
//! probe partitions (centroids on the coarse prefix) -> scan the probed partitions' coarse
//! codes (contiguous ranges of each segment) keeping a shortlist -> rescore the shortlist with
//! more bands, cut again -> ... -> exact at full dimension in f32 -> top-k. No allocation per
//! candidate: every stage works on a bounded heap.

use std::time::Instant;

use nestdb_storage::Metric;
use rayon::prelude::*;

use super::explain::StageStats;
use super::{to_distance, PreparedQuery};
use crate::index::quant::QueryCodes;
use crate::index::{IndexModel, Schedule, Stage};
use crate::kernels;
use crate::layout::{Layout, SegView};
use crate::topk::{Cand, TopK};

/// Rows above which the first stage is scanned in parallel.
const PAR_ROWS: usize = 65_536;

/// Decides whether row `offset` of view `view` may be returned.
pub type Keep<'a> = dyn Fn(usize, u32) -> bool + Sync + 'a;

/// The query in every representation the stages need.
struct Coded {
    int8: QueryCodes,
    bits: Vec<u8>,
}

/// Runs the funnel over `views` (addresses in the result use the view's index in `views`).
/// Returns the best `k` with reported distances, best first; appends per-stage statistics.
#[allow(clippy::too_many_arguments)]
pub fn run(
    views: &[SegView<'_>],
    model: &IndexModel,
    layout: &Layout,
    q: &PreparedQuery,
    sched: &Schedule,
    k: usize,
    keep: &Keep<'_>,
    stats: &mut Vec<StageStats>,
) -> Vec<Cand> {
    let t = Instant::now();
    let probes = probe(model, q, sched.nprobe);
    let c = model.meta.coarse_dims;
    stats.push(StageStats {
        name: "probe".into(),
        candidates_in: model.meta.partitions,
        candidates_out: probes.len(),
        rows_touched: model.meta.partitions,
        bytes_touched: model.meta.partitions * c * 4,
        time: t.elapsed(),
    });
    let mut bits = vec![0u8; model.bits_bytes()];
    model
        .quant
        .encode_bits(&q.transformed, model.meta.bits_dims, &mut bits);
    let coded = Coded {
        int8: QueryCodes::new(&model.quant, &q.transformed),
        bits,
    };
    let first = sched.stages.first().copied().unwrap_or(Stage::F32 {
        bands: layout.bands.len(),
        keep: k,
    });
    let t = Instant::now();
    let (mut survivors, scanned) = scan(views, model, layout, q, &coded, &probes, first, keep);
    stats.push(StageStats {
        name: stage_name(&first, layout, model),
        candidates_in: scanned,
        candidates_out: survivors.len(),
        rows_touched: scanned,
        bytes_touched: scanned * stage_bytes(&first, layout, model),
        time: t.elapsed(),
    });
    for st in sched.stages.iter().skip(1) {
        let t = Instant::now();
        let n_in = survivors.len();
        let mut top = TopK::new(st.keep());
        for cand in &survivors {
            let s = score(
                &views[cand.source()],
                model,
                layout,
                q,
                &coded,
                *st,
                cand.offset(),
            );
            top.push(s, cand.addr);
        }
        survivors = top.into_sorted();
        stats.push(StageStats {
            name: stage_name(st, layout, model),
            candidates_in: n_in,
            candidates_out: survivors.len(),
            rows_touched: n_in,
            bytes_touched: n_in * stage_bytes(st, layout, model),
            time: t.elapsed(),
        });
    }
    let t = Instant::now();
    let nb = layout.bands.len();
    let mut top = TopK::new(k);
    for cand in &survivors {
        let s = q.partial(layout, &views[cand.source()], cand.offset(), nb);
        top.push(to_distance(q.metric, s), cand.addr);
    }
    let out = top.into_sorted();
    stats.push(StageStats {
        name: format!("exact[0:{}]", layout.dim),
        candidates_in: survivors.len(),
        candidates_out: out.len(),
        rows_touched: survivors.len(),
        bytes_touched: survivors.len() * layout.dim * 4,
        time: t.elapsed(),
    });
    out
}

/// The `nprobe` partitions nearest the query's coarse prefix.
pub fn probe(model: &IndexModel, q: &PreparedQuery, nprobe: usize) -> Vec<usize> {
    let c = model.meta.coarse_dims;
    let qc = &q.transformed[..c];
    let k = kernels::get();
    let mut top = TopK::new(nprobe.min(model.meta.partitions));
    for (p, cent) in model.centroids.chunks_exact(c).enumerate() {
        let s = if model.spherical() {
            -(k.dot_f32)(qc, cent)
        } else {
            (k.l2sq_f32)(qc, cent)
        };
        top.push(s, p as u64);
    }
    top.into_sorted().iter().map(|c| c.addr as usize).collect()
}

#[allow(clippy::too_many_arguments)]
fn scan(
    views: &[SegView<'_>],
    model: &IndexModel,
    layout: &Layout,
    q: &PreparedQuery,
    coded: &Coded,
    probes: &[usize],
    stage: Stage,
    keep: &Keep<'_>,
) -> (Vec<Cand>, usize) {
    let ranges: Vec<(usize, u32, u32)> = views
        .iter()
        .enumerate()
        .flat_map(|(vi, v)| {
            let offs = v.partitions.unwrap_or(&[]);
            probes
                .iter()
                .filter(move |&&p| p + 1 < offs.len())
                .map(move |&p| (vi, offs[p], offs[p + 1]))
        })
        .filter(|r| r.2 > r.1)
        .collect();
    let total: usize = ranges.iter().map(|r| (r.2 - r.1) as usize).sum();
    let run_range = |top: &mut TopK, &(vi, a, b): &(usize, u32, u32)| {
        let v = &views[vi];
        for off in a..b {
            if keep(vi, off) {
                top.push(
                    score(v, model, layout, q, coded, stage, off as usize),
                    Cand::addr(vi, off as usize),
                );
            }
        }
    };
    let top = if total >= PAR_ROWS {
        ranges
            .par_iter()
            .fold(
                || TopK::new(stage.keep()),
                |mut t, r| {
                    run_range(&mut t, r);
                    t
                },
            )
            .reduce(
                || TopK::new(stage.keep()),
                |mut a, b| {
                    a.merge(b);
                    a
                },
            )
    } else {
        let mut t = TopK::new(stage.keep());
        ranges.iter().for_each(|r| run_range(&mut t, r));
        t
    };
    (top.into_sorted(), total)
}

/// Score of one row at one stage (smaller is better).
#[inline]
fn score(
    v: &SegView<'_>,
    model: &IndexModel,
    layout: &Layout,
    q: &PreparedQuery,
    coded: &Coded,
    stage: Stage,
    off: usize,
) -> f32 {
    match stage {
        Stage::Int8 { .. } => {
            let c = model.meta.coarse_dims;
            let codes = v.codes_i8.unwrap_or(&[]);
            let dot = coded.int8.dot(&codes[off * c..(off + 1) * c]);
            match q.metric {
                Metric::L2 => v.norms.map_or(0.0, |n| n[off]) - 2.0 * dot,
                _ => -dot,
            }
        }
        Stage::Bits { .. } => {
            let bb = model.bits_bytes();
            let bits = v.codes_bits.unwrap_or(&[]);
            (kernels::get().hamming)(&coded.bits, &bits[off * bb..(off + 1) * bb]) as f32
        }
        Stage::F32 { bands, .. } => q.partial(layout, v, off, bands.min(layout.bands.len())),
    }
}

fn stage_name(st: &Stage, layout: &Layout, model: &IndexModel) -> String {
    match *st {
        Stage::Int8 { .. } => format!("int8[0:{}]", model.meta.coarse_dims),
        Stage::Bits { .. } => format!("bits[0:{}]", model.meta.bits_dims),
        Stage::F32 { bands, .. } => format!(
            "f32[0:{}]",
            layout.bands[bands.clamp(1, layout.bands.len()) - 1].1
        ),
    }
}

fn stage_bytes(st: &Stage, layout: &Layout, model: &IndexModel) -> usize {
    match *st {
        Stage::Int8 { .. } => model.meta.coarse_dims,
        Stage::Bits { .. } => model.bits_bytes(),
        Stage::F32 { bands, .. } => layout.bands[bands.clamp(1, layout.bands.len()) - 1].1 * 4,
    }
}
