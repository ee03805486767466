//! Testing a filter inside the funnel's first stage, with no selection over the whole table.
//!
//! Filtered probing takes partitions nearest-first, skipping those without a matching row,
//! until it has `nprobe` of them and they hold `min_candidates` matching rows. Here the
//! filter is evaluated only on the rows of the partitions taken, in batches: the first batch
//! is sized from the planner's estimate of the filter's selectivity (times
//! [`FIRST_BATCH_OPTIMISM`]), each later one from the
//! share of matching rows measured so far. The partitions chosen are exactly those
//! [`super::funnel::choose_partitions`] would choose from a whole-table selection (the same
//! walk over the same counts), so results are the same; only the rows nobody scans are never
//! evaluated. When more than half the table has been evaluated without covering the schedule,
//! the filter keeps far fewer rows than estimated: the caller materializes the whole
//! selection and plans again with the exact count.

use std::ops::Range;
use std::time::Instant;

use nestdb_storage::TableVersion;

use super::cost;
use super::explain::{Explain, StageLog, StageStats};
use super::funnel::{NEAR, PROBE_STAGE};
use super::pipeline::{partition_size, probe_order, QueryCtx};
use super::plan::{self, Target};
use super::probe;
use super::view::SegView;
use crate::error::Result;
use crate::filter::bits::Bits;
use crate::filter::{Filter, RowSet, Selection};
use crate::index::Schedule;
use crate::topk::Cand;

/// The partitions a filtered probe scans and the filter's rows among them.
pub struct Probed {
    /// The filter's rows in the evaluated partitions (nothing elsewhere) and in unflushed rows.
    pub sel: Selection,
    /// The partitions to scan, nearest first.
    pub probes: Vec<usize>,
    /// Rows the filter was evaluated on.
    pub evaluated: u64,
    /// Of those, rows it keeps.
    pub selected: u64,
}

/// Runs the funnel of `e`'s schedule with the filter `f` tested inside the first stage;
/// `share` is the planner's estimate of the fraction of rows `f` keeps. Returns None, having
/// run nothing but the filter, when the filter keeps too few rows for probing (the caller
/// then materializes the selection and plans again).
pub fn execute(
    t: &Target<'_>,
    f: &Filter,
    share: f64,
    k: usize,
    e: &mut Explain,
    analyze: bool,
) -> Result<Option<Vec<Cand>>> {
    let (Some(s), Some(m)) = (e.schedule.clone(), t.model) else {
        return Ok(None);
    };
    let views = plan::views(t)?;
    let qc = plan::query_codes(t.q)?;
    let mut stats = StageLog::new(analyze);
    // the walk's floor follows the query's unfiltered reach, as in `funnel::run` (not the
    // filter's time: it reads no column)
    let bands = t.v.def.schema.bands();
    let ctx = QueryCtx {
        model: m,
        q: t.q,
        qc,
        views: &views,
        rows: &[],
        bands: &bands,
    };
    let s = probe::with_reach(&ctx, &s, k)?.unwrap_or(s);
    // the nearest partitions first (sorting all of them costs more than the walk usually
    // needs); every partition in order only if the walk gets that far. Ordering them is the
    // probe's work, not the filter's: EXPLAIN ANALYZE counts it in the probe stage
    let ordering = Instant::now();
    let near = m.meta.partitions.min(NEAR.max(8 * s.nprobe));
    let order = Order {
        near: probe_order(m, qc, near),
        all: &|| probe_order(m, qc, m.meta.partitions),
        partitions: m.meta.partitions,
    };
    let ordering = ordering.elapsed();
    let start = Instant::now();
    let Some(p) = probe(t.v, &views, order, f, &s, share)? else {
        e.filter_time += start.elapsed();
        return Ok(None);
    };
    let took = start.elapsed();
    e.filter_time += took;
    stats.push(|| StageStats {
        name: "filter (in stage)".into(),
        candidates_in: p.evaluated as usize,
        candidates_out: p.selected as usize,
        rows_touched: p.evaluated as usize,
        bytes_touched: 0,
        time: took,
    });
    let inner = Target {
        sel: &p.sel,
        gathered: None,
        ..*t
    };
    let mut hits = plan::run_funnel(&inner, m, &views, &s, Some(p.probes), k, &mut stats)?;
    if let Some(probe) = stats.stages.iter_mut().find(|st| st.name == PROBE_STAGE) {
        probe.time += ordering;
    }
    if hits.len() < k {
        // fewer than k found: maybe fewer match, maybe the probe fell short; only the whole
        // selection can tell, and an exact pass over it returns k whenever k match
        let full = f.selection(t.v)?;
        let matching = full.count(t.v) as usize;
        if hits.len() < k.min(matching) {
            let whole = Target {
                sel: &full,
                gathered: None,
                ..*t
            };
            e.matching = matching;
            hits = plan::exact_pass(&whole, &views, k, e, &mut stats, hits.len())?;
        }
    }
    if analyze {
        e.stages = stats.stages;
    }
    Ok(Some(hits))
}

/// The probe order: its first partitions, and how to get all of them (same order, so the
/// first ones are a prefix of it) when the walk goes further.
pub struct Order<'a> {
    /// The nearest partitions, nearest first.
    pub near: Vec<usize>,
    /// Every partition, nearest first.
    pub all: &'a dyn Fn() -> Vec<usize>,
    /// Partitions in the index.
    pub partitions: usize,
}

/// Chooses the partitions to scan for schedule `s` in probe order `o`, evaluating `f` only
/// on the rows of the partitions it looks at; None when more than half the rows were evaluated
/// without covering `s`.
pub fn probe(
    v: &TableVersion,
    views: &[SegView<'_>],
    o: Order<'_>,
    f: &Filter,
    s: &Schedule,
    share: f64,
) -> Result<Option<Probed>> {
    let mut order = o.near;
    let need = s.min_candidates.unwrap_or(0) as u64;
    let total: u64 = views.iter().map(|w| w.rows as u64).sum();
    let size = |p: usize| partition_size(views, p);
    let mut acc: Vec<Bits> = views.iter().map(|w| Bits::zeros(w.rows as u32)).collect();
    // per partition of `order` looked at: its matching rows, and all its rows
    let mut counts: Vec<u64> = Vec::new();
    let mut sizes: Vec<u64> = Vec::new();
    let (mut evaluated, mut selected) = (0u64, 0u64);
    loop {
        if counts.len() == order.len() {
            if order.len() >= o.partitions {
                break;
            }
            order = (o.all)();
            if order.len() <= counts.len() {
                break;
            }
        }
        if let Some(probes) = walk(&order, &counts, &sizes, s, false) {
            let mem = f.selection_unflushed(v)?;
            return Ok(Some(done(acc, mem, probes, evaluated, selected)));
        }
        // the first batch assumes the query's neighbourhood matches more often than the table
        // (a filter on the query's own project): sized at the table's share, one walk at 1M
        // rows evaluated 27,611 rows to take 2,393 (stop 43); where it guessed high, the
        // measured share sizes the batches that follow
        let measured = if evaluated == 0 {
            (share * FIRST_BATCH_OPTIMISM).min(1.0)
        } else {
            selected as f64 / evaluated as f64
        };
        // at most doubling what is evaluated: the nearest partitions may match far less than
        // the rest (a filter excluding the query's own neighbourhood), so their share alone
        // would size the next batch at most of the table
        let cap = if evaluated == 0 { u64::MAX } else { evaluated };
        let end = batch_end(&order, &counts, (s.nprobe, need), (measured, cap), size);
        let rows: u64 = order[counts.len()..end].iter().map(|&p| size(p)).sum();
        if evaluated > 0 && (evaluated + rows) * 2 > total {
            return Ok(None);
        }
        let batch = &order[counts.len()..end];
        f.select_within_into(v, &windows(views, batch), &mut acc)?;
        for &p in batch {
            let n = views
                .iter()
                .zip(&acc)
                .filter_map(|(w, a)| {
                    w.partitions
                        .filter(|o| p + 1 < o.len())
                        .map(|o| a.count_range(o[p], o[p + 1]))
                })
                .sum();
            counts.push(n);
            sizes.push(size(p));
            selected += n;
        }
        evaluated += rows;
    }
    let probes = walk(&order, &counts, &sizes, s, true).unwrap_or_default();
    Ok(Some(done(
        acc,
        f.selection_unflushed(v)?,
        probes,
        evaluated,
        selected,
    )))
}

/// How many times the table's share of matching rows the first batch expects among the
/// nearest partitions' rows.
const FIRST_BATCH_OPTIMISM: f64 = 4.0;

/// [`super::funnel::choose_partitions`]'s walk over the partitions of `order` whose matching
/// rows are `counts` and rows `sizes` so far: the partitions chosen, or None when the counts
/// so far do not decide it (unless `complete`, when every partition is counted).
fn walk(
    order: &[usize],
    counts: &[u64],
    sizes: &[u64],
    s: &Schedule,
    complete: bool,
) -> Option<Vec<usize>> {
    let mut out = Vec::new();
    let (mut covered, mut walked) = (0u64, 0u64);
    for ((&p, &n), &r) in order.iter().zip(counts).zip(sizes) {
        if s.probed_enough(out.len(), covered, walked) {
            return Some(out);
        }
        walked += r;
        if n > 0 {
            out.push(p);
            covered += n;
        }
    }
    (complete || s.probed_enough(out.len(), covered, walked)).then_some(out)
}

/// Where the next batch of `order` ends: enough partitions that, at `share` matching rows per
/// row (with a quarter's margin), the walk should be decided (`nprobe` partitions with a
/// match, `need` matching rows), but no more than `cap` rows; at least one partition.
fn batch_end(
    order: &[usize],
    counts: &[u64],
    (nprobe, need): (usize, u64),
    (share, cap): (f64, u64),
    size: impl Fn(usize) -> u64,
) -> usize {
    let mut parts = counts.iter().filter(|&&n| n > 0).count();
    let mut expect: f64 = counts.iter().sum::<u64>() as f64;
    let (mut end, mut rows) = (counts.len(), 0u64);
    while end < order.len()
        && (end == counts.len() || (rows < cap && (parts < nprobe || expect < need as f64 * 1.25)))
    {
        let r = size(order[end]);
        let n = r as f64 * share;
        expect += n;
        rows += r;
        parts += usize::from(n > 0.0);
        end += 1;
    }
    end
}

/// Rows between two windows below which they are evaluated as one: a window's fixed cost is
/// about what evaluating this many rows costs ([`cost::FILTER_WINDOW_ROWS`]).
const MERGE_GAP: u32 = cost::FILTER_WINDOW_ROWS as u32;

/// Per segment, the row windows of partitions `batch`, in row order, windows less than
/// [`MERGE_GAP`] rows apart merged (segments without partitions: none). Rows between merged
/// windows are evaluated too; their bits are right, just not needed.
fn windows(views: &[SegView<'_>], batch: &[usize]) -> Vec<Vec<Range<u32>>> {
    views
        .iter()
        .map(|w| {
            // SegView checked the offsets: partitions + 1 of them, ascending
            let Some(o) = w.partitions else {
                return Vec::new();
            };
            let mut rs: Vec<Range<u32>> = batch
                .iter()
                .map(|&p| o[p]..o[p + 1])
                .filter(|r| r.start < r.end)
                .collect();
            rs.sort_unstable_by_key(|r| r.start);
            let mut out: Vec<Range<u32>> = Vec::with_capacity(rs.len());
            for r in rs {
                match out.last_mut() {
                    Some(l) if r.start <= l.end.saturating_add(MERGE_GAP) => {
                        l.end = l.end.max(r.end)
                    }
                    _ => out.push(r),
                }
            }
            out
        })
        .collect()
}

fn done(
    acc: Vec<Bits>,
    mem: Vec<RowSet>,
    probes: Vec<usize>,
    evaluated: u64,
    selected: u64,
) -> Probed {
    let segments = acc
        .into_iter()
        .map(|b| {
            if b.is_empty() {
                RowSet::Nothing
            } else {
                RowSet::Some(b)
            }
        })
        .collect();
    Probed {
        sel: Selection::new(segments, mem),
        probes,
        evaluated,
        selected,
    }
}

#[cfg(test)]
#[path = "instage_tests.rs"]
mod tests;
