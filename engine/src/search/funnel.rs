//! The coarse-to-fine funnel over Matryoshka prefixes.
//!
//! probe partitions (centroids on the coarse prefix) -> scan the probed partitions' coarse
//! codes (contiguous ranges of each segment) keeping a shortlist -> rescore the shortlist with
//! more bands, cut again -> ... -> exact at full dimension in f32 -> top-k. No allocation per
//! candidate: every stage works on a bounded heap.

use std::sync::OnceLock;
use std::time::Instant;

use nestdb_storage::Metric;
use rayon::prelude::*;

use roaring::RoaringBitmap;

use super::explain::{StageLog, StageStats};
use super::selection::Gathered;
use super::{to_distance, PreparedQuery, RowSet};
use crate::index::quant::QueryCodes;
use crate::index::{IndexModel, Schedule, Stage};
use crate::kernels;
use crate::layout::{Layout, SegView};
use crate::topk::{Cand, TopK};

/// How many candidates ahead the later stages prefetch.
const PREFETCH_AHEAD: usize = 6;

/// Rows above which the first stage is scanned in parallel.
const PAR_ROWS: usize = 65_536;

/// The rows of one view a query may return.
#[derive(Clone, Copy)]
pub struct ViewRows<'a> {
    /// The selection of the view's source.
    pub set: &'a RowSet,
    /// Deleted rows (checked when `set` is [`RowSet::All`]).
    pub deleted: &'a RoaringBitmap,
    /// The selection's cache of the selected rows' codes (see [`Gathered`]).
    pub gathered: Option<&'a OnceLock<Gathered>>,
}

impl ViewRows<'_> {
    /// Selected rows in `a..b`.
    fn count(&self, a: u32, b: u32) -> u64 {
        match self.set {
            RowSet::All => (b - a) as u64 - self.deleted.range_cardinality(a..b),
            RowSet::Some(bm) => bm.range_cardinality(a..b),
            RowSet::Nothing => 0,
        }
    }

    /// Whether every row is selected (no filter, no deletes).
    #[inline]
    fn is_all(&self) -> bool {
        matches!(self.set, RowSet::All) && self.deleted.is_empty()
    }

    /// Calls `f` for each selected row in `a..b`.
    #[inline]
    fn for_each(&self, a: u32, b: u32, f: impl FnMut(u32)) {
        match self.set {
            RowSet::All if self.deleted.is_empty() => (a..b).for_each(f),
            RowSet::All => (a..b).filter(|o| !self.deleted.contains(*o)).for_each(f),
            RowSet::Some(bm) => bm.range(a..b).for_each(f),
            RowSet::Nothing => {}
        }
    }
}

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
    rows: &[ViewRows<'_>],
    stats: &mut StageLog,
) -> Vec<Cand> {
    let t = Instant::now();
    let c = model.meta.coarse_dims;
    let mut bits = vec![0u8; model.bits_bytes()];
    model
        .quant
        .encode_bits(&q.transformed, model.meta.bits_dims, &mut bits);
    let coded = Coded {
        int8: QueryCodes::new(&model.quant, &q.transformed),
        bits,
    };
    // scan_all: every selected row enters the stages, so no partition needs choosing
    let probes = if sched.scan_all {
        Vec::new()
    } else {
        choose_partitions(views, model, &coded.int8, sched, rows)
    };
    if !sched.scan_all {
        stats.push(|| StageStats {
            name: "probe".into(),
            candidates_in: model.meta.partitions,
            candidates_out: probes.len(),
            rows_touched: model.meta.partitions,
            bytes_touched: model.meta.partitions * c,
            time: t.elapsed(),
        });
    }
    let first = sched.stages.first().copied().unwrap_or(Stage::F32 {
        bands: layout.bands.len(),
        keep: k,
    });
    let t = Instant::now();
    let (mut survivors, scanned) = scan(
        views,
        model,
        layout,
        q,
        &coded,
        &probes,
        sched.scan_all,
        first,
        rows,
    );
    stats.push(|| StageStats {
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
        let ahead = match *st {
            Stage::F32 { bands, .. } => bands,
            _ => 0,
        };
        for (i, cand) in survivors.iter().enumerate() {
            if let Some(next) = survivors.get(i + PREFETCH_AHEAD) {
                views[next.source()].prefetch_row(layout, next.offset(), ahead);
            }
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
        survivors = top.into_by_addr();
        stats.push(|| StageStats {
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
    // After an f32 stage on bands 0..b the survivors carry that partial score: add the rest.
    let done = match sched.stages.last() {
        Some(Stage::F32 { bands, .. }) => (*bands).min(nb),
        _ => 0,
    };
    let mut top = TopK::new(k);
    for (i, cand) in survivors.iter().enumerate() {
        if let Some(next) = survivors.get(i + PREFETCH_AHEAD) {
            views[next.source()].prefetch_row(layout, next.offset(), nb);
        }
        let v = &views[cand.source()];
        let base = if done > 0 { cand.dist } else { 0.0 };
        let s = base
            + (done..nb)
                .map(|b| q.band_score(layout, v, cand.offset(), b))
                .sum::<f32>();
        top.push(to_distance(q.metric, s), cand.addr);
    }
    let out = top.into_sorted();
    stats.push(|| StageStats {
        name: format!("exact[0:{}]", layout.dim),
        candidates_in: survivors.len(),
        candidates_out: out.len(),
        rows_touched: survivors.len(),
        bytes_touched: survivors.len() * layout.dim * 4,
        time: t.elapsed(),
    });
    out
}

/// Partitions to scan: the `nprobe` nearest, and with `min_candidates` more in order of
/// distance until that many selected rows are covered (filtered queries); partitions with no
/// selected row are skipped.
fn choose_partitions(
    views: &[SegView<'_>],
    model: &IndexModel,
    codes: &QueryCodes,
    sched: &Schedule,
    rows: &[ViewRows<'_>],
) -> Vec<usize> {
    let Some(min) = sched.min_candidates else {
        return probe(model, codes, sched.nprobe);
    };
    let order = probe(model, codes, model.meta.partitions);
    let mut out = Vec::new();
    let mut covered = 0u64;
    for p in order {
        if out.len() >= sched.nprobe && covered >= min as u64 {
            break;
        }
        let n: u64 = views
            .iter()
            .zip(rows)
            .filter_map(|(v, r)| {
                v.partitions
                    .filter(|o| p + 1 < o.len())
                    .map(|o| r.count(o[p], o[p + 1]))
            })
            .sum();
        if n > 0 {
            out.push(p);
            covered += n;
        }
    }
    out
}

/// The `nprobe` partitions nearest the query's coarse prefix.
///
/// Centroids are scored with their int8 codes (the query's `codes`), a quarter of the memory
/// and arithmetic of f32: choosing partitions does not need more precision.
pub fn probe(model: &IndexModel, codes: &QueryCodes, nprobe: usize) -> Vec<usize> {
    let mut raw = vec![0i32; model.meta.partitions];
    (kernels::get().dot_i8_rows)(&codes.codes, &model.centroid_codes, &mut raw);
    let dots: Vec<f32> = raw
        .iter()
        .map(|&d| codes.offset + codes.scale * d as f32)
        .collect();
    let mut top = TopK::new(nprobe.min(model.meta.partitions));
    for (p, &dot) in dots.iter().enumerate() {
        // L2: |q - c|^2 = |q|^2 - 2 q.c + |c|^2, and |q|^2 is the same for every partition
        let s = if model.spherical() {
            -dot
        } else {
            model.centroid_norms[p] - 2.0 * dot
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
    scan_all: bool,
    stage: Stage,
    rows: &[ViewRows<'_>],
) -> (Vec<Cand>, usize) {
    let ranges: Vec<(usize, u32, u32)> = if scan_all {
        (0..views.len())
            .map(|vi| (vi, 0, views[vi].rows as u32))
            .filter(|r| r.2 > 0)
            .collect()
    } else {
        views
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
            .collect()
    };
    let total: usize = ranges
        .iter()
        .map(|&(vi, a, b)| rows[vi].count(a, b) as usize)
        .sum();
    // int8: one batched kernel call per partition range into a scratch buffer, then the
    // selected rows go to the heap; other stages score row by row.
    let c = model.meta.coarse_dims;
    let run_range = |st: &mut Scratch, &(vi, a, b): &(usize, u32, u32)| {
        let v = &views[vi];
        match (stage, v.codes_i8) {
            (Stage::Int8 { .. }, Some(codes)) => {
                // One batched kernel call per range: over the whole range when most of it is
                // selected, else over the selected rows' codes gathered back to back (for a
                // whole segment, once per cached (version, filter) selection).
                let dense = rows[vi].count(a, b) * 4 >= u64::from(b - a);
                let kernel = kernels::get().dot_i8_rows;
                let scored = if dense {
                    st.dots.resize((b - a) as usize, 0);
                    kernel(
                        &coded.int8.codes,
                        &codes[a as usize * c..b as usize * c],
                        &mut st.dots,
                    );
                    if rows[vi].is_all() {
                        Scored::Range(a)
                    } else {
                        st.offs.clear();
                        rows[vi].for_each(a, b, |off| st.offs.push(off));
                        Scored::Some {
                            base: a,
                            offs: &st.offs,
                        }
                    }
                } else {
                    let whole = a == 0 && b as usize == v.rows;
                    let g: &Gathered = match rows[vi].gathered.filter(|_| whole) {
                        Some(cell) => cell.get_or_init(|| {
                            gather(&rows[vi], (a, b), codes, c, Gathered::default())
                        }),
                        None => {
                            let buf = std::mem::take(&mut st.gathered);
                            st.gathered = gather(&rows[vi], (a, b), codes, c, buf);
                            &st.gathered
                        }
                    };
                    st.dots.resize(g.offs.len(), 0);
                    kernel(&coded.int8.codes, &g.codes, &mut st.dots);
                    Scored::Gathered(&g.offs)
                };
                push_int8(
                    &mut st.top,
                    q.metric,
                    v,
                    vi,
                    &coded.int8,
                    scored,
                    &st.dots,
                    stage.keep(),
                );
            }
            _ => rows[vi].for_each(a, b, |off| {
                st.top.push(
                    score(v, model, layout, q, coded, stage, off as usize),
                    Cand::addr(vi, off as usize),
                );
            }),
        }
    };
    let fresh = || Scratch {
        top: TopK::new(stage.keep()),
        dots: Vec::new(),
        offs: Vec::new(),
        gathered: Gathered::default(),
    };
    let top = if total >= PAR_ROWS {
        ranges
            .par_iter()
            .fold(fresh, |mut t, r| {
                run_range(&mut t, r);
                t
            })
            .map(|t| t.top)
            .reduce(
                || TopK::new(stage.keep()),
                |mut a, b| {
                    a.merge(b);
                    a
                },
            )
    } else {
        let mut t = fresh();
        ranges.iter().for_each(|r| run_range(&mut t, r));
        t.top
    };
    (top.into_by_addr(), total)
}

/// Per-thread buffers of a first-stage scan.
struct Scratch {
    top: TopK,
    /// int8 dot products of the rows scored.
    dots: Vec<i32>,
    /// Offsets of the selected rows (dense ranges with a filter).
    offs: Vec<u32>,
    /// The selected rows and their codes (sparse ranges).
    gathered: Gathered,
}

/// The selected rows of `a..b` and their int8 codes (`c` per row) back to back, reusing `g`.
fn gather(
    rows: &ViewRows<'_>,
    (a, b): (u32, u32),
    codes: &[i8],
    c: usize,
    mut g: Gathered,
) -> Gathered {
    g.offs.clear();
    g.codes.clear();
    rows.for_each(a, b, |off| {
        g.offs.push(off);
        let o = off as usize * c;
        g.codes.extend_from_slice(&codes[o..o + c]);
    });
    g
}

/// Which rows a buffer of int8 dot products belongs to.
enum Scored<'a> {
    /// Every row of the range starting at this offset.
    Range(u32),
    /// The listed rows of the range starting at `base` (`dots` covers the whole range).
    Some { base: u32, offs: &'a [u32] },
    /// The listed rows, one dot product each.
    Gathered(&'a [u32]),
}

impl Scored<'_> {
    /// Calls `f(offset, dot)` for every scored row.
    #[inline]
    fn for_each(&self, dots: &[i32], mut f: impl FnMut(u32, i32)) {
        match *self {
            Scored::Range(a) => dots
                .iter()
                .enumerate()
                .for_each(|(i, &d)| f(a + i as u32, d)),
            Scored::Some { base, offs } => {
                offs.iter().for_each(|&o| f(o, dots[(o - base) as usize]))
            }
            Scored::Gathered(offs) => offs.iter().zip(dots).for_each(|(&o, &d)| f(o, d)),
        }
    }
}

/// Pushes int8-scored rows into `top` (which keeps `keep`).
#[allow(clippy::too_many_arguments)]
fn push_int8(
    top: &mut TopK,
    metric: Metric,
    v: &SegView<'_>,
    vi: usize,
    codes: &QueryCodes,
    rows: Scored<'_>,
    dots: &[i32],
    keep: usize,
) {
    let (off0, scale) = (codes.offset, codes.scale);
    if let (Scored::Gathered(offs), true) = (&rows, metric != Metric::L2) {
        if keep > 0 && offs.len() > 2 * keep {
            // Few gathered rows arrive in address order: one selection on the integer dots
            // beats feeding each through the heap's threshold.
            let mut best: Vec<(i32, u32)> =
                dots.iter().copied().zip(offs.iter().copied()).collect();
            best.select_nth_unstable_by(keep - 1, |a, b| b.0.cmp(&a.0));
            for &(d, off) in &best[..keep] {
                top.push(-(off0 + scale * d as f32), Cand::addr(vi, off as usize));
            }
            return;
        }
    }
    if metric == Metric::L2 {
        let norms = v.norms.unwrap_or(&[]);
        rows.for_each(dots, |off, d| {
            let dot = off0 + scale * d as f32;
            let s = norms.get(off as usize).copied().unwrap_or(0.0) - 2.0 * dot;
            if s < top.threshold() {
                top.push(s, Cand::addr(vi, off as usize));
            }
        });
        return;
    }
    // score = -(off0 + scale * dot) beats the threshold t exactly when the integer dot exceeds
    // (-t - off0) / scale: compare in integers first, and refresh the integer bound only after
    // a push moved the threshold.
    let bound = |t: f32| {
        let x = ((-t - off0) / scale).floor();
        if x.is_finite() {
            x.clamp(i32::MIN as f32, i32::MAX as f32) as i32
        } else {
            i32::MIN
        }
    };
    let mut min_dot = bound(top.threshold());
    rows.for_each(dots, |off, d| {
        if d >= min_dot {
            top.push(-(off0 + scale * d as f32), Cand::addr(vi, off as usize));
            min_dot = bound(top.threshold());
        }
    });
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
