//! Planning a search and running the plan.
//!
//! Strategies: `exact` (every selected row at full dimension) or `funnel` (the learned
//! index's schedule). Under a filter the selectivity is exact (the filter's bitmaps are
//! counted), and the planner compares the estimated cost of brute force over the matching rows
//! with the funnel's; a filtered funnel probes partitions nearest-first, skipping those with no
//! matching row, until it has covered enough matching rows. A filtered query returns `k` rows
//! whenever `k` rows match: a funnel that falls short finishes with an exact pass.

use std::time::Instant;

use nestdb_storage::{StorageError, TableVersion};

use super::explain::{Explain, StageLog, StageStats};
use super::funnel::ViewRows;
use super::query::SearchParams;
use super::{exact, funnel, PreparedQuery, RowSet, Selection};
use crate::error::Result;
use crate::index::{IndexModel, Schedule};
use crate::layout::SegView;
use crate::topk::{Cand, TopK};

/// Strategy name of a full scan.
pub const EXACT: &str = "exact";
/// Strategy name of the funnel.
pub const FUNNEL: &str = "funnel";

/// Whether the selection keeps every live row.
pub fn unfiltered(sel: &Selection) -> bool {
    sel.segments
        .iter()
        .chain(&sel.mem)
        .all(|r| matches!(r, RowSet::All))
}

/// Estimated cost of scoring `rows` scattered rows exactly, in the tuner's units.
fn exact_cost(rows: usize, model: &IndexModel) -> f64 {
    rows as f64 * (60.0 + model.meta.dim as f64 / 4.0)
}

/// Estimated cost of the funnel's stages over `rows` scattered rows (no probing): int8 row by
/// row, then the schedule's shortlists.
fn subset_cost(rows: usize, model: &IndexModel, s: &Schedule) -> f64 {
    let c = model.meta.coarse_dims as f64;
    let scan = rows as f64 * (12.0 + c / 40.0);
    let later: f64 = s
        .stages
        .iter()
        .map(|st| st.keep().min(rows) as f64 * (60.0 + model.meta.dim as f64 / 8.0))
        .sum();
    scan + later
}

/// Chooses the strategy and schedule.
pub fn choose(
    v: &TableVersion,
    model: Option<&IndexModel>,
    params: &SearchParams,
    k: usize,
    target: f32,
    sel: &Selection,
    detail: bool,
) -> Result<Explain> {
    let rows = v.count();
    let matching = if unfiltered(sel) {
        rows
    } else {
        sel.count(v) as usize
    };
    let mut e = Explain {
        rows,
        matching,
        selectivity: if rows == 0 {
            1.0
        } else {
            matching as f64 / rows as f64
        },
        ..Explain::default()
    };
    let Some(model) = model.filter(|_| !params.exact) else {
        e.strategy = EXACT.into();
        e.reason = if params.exact {
            "exact search requested".into()
        } else if detail {
            format!("no learned index yet: the table has {rows} rows")
        } else {
            String::new()
        };
        return Ok(e);
    };
    let mut s = model
        .schedule_for(target)
        .scaled(k, e.selectivity, rows, model.meta.partitions);
    let tuned = apply_overrides(&mut s, params, k, model.meta.partitions);
    let funnel_cost = s.cost as f64
        * s.min_candidates
            .map_or(1.0, |m| m as f64 / scanned(model, &s, rows).max(1.0));
    if e.selectivity < 1.0 && params.nprobe.is_none() {
        let brute = exact_cost(matching, model);
        let subset = subset_cost(matching, model, &s);
        if brute <= funnel_cost.min(subset) {
            e.strategy = EXACT.into();
            e.reason = reason(detail, || {
                format!(
                "filter keeps {matching} of {rows} rows: brute force over them (est. cost {brute:.0}) beats the funnel (est. {:.0})",
                funnel_cost.min(subset)
            )
            });
            return Ok(e);
        }
        if subset <= funnel_cost {
            // every matching row goes through the stages; no partition is skipped
            s.nprobe = model.meta.partitions;
            s.min_candidates = None;
            s.scan_all = true;
            e.strategy = FUNNEL.into();
            e.reason = reason(detail, || {
                format!(
                "filter keeps {matching} of {rows} rows: the funnel's stages over all of them (est. cost {subset:.0}) beat brute force ({brute:.0}) and probing ({funnel_cost:.0})"
            )
            });
            e.estimated_recall = tuned.then_some(s.measured_recall);
            e.schedule = Some(s);
            return Ok(e);
        }
    }
    e.strategy = FUNNEL.into();
    e.reason = reason(detail, || {
        format!(
            "learned index v{} ({} partitions), recall target {target}{}",
            model.version,
            model.meta.partitions,
            if e.selectivity < 1.0 {
                "; filtered probing"
            } else {
                ""
            }
        )
    });
    e.estimated_recall = tuned.then_some(s.measured_recall);
    e.schedule = Some(s);
    Ok(e)
}

/// The planner's explanation, built only when someone will read it (EXPLAIN).
fn reason(detail: bool, f: impl FnOnce() -> String) -> String {
    if detail {
        f()
    } else {
        String::new()
    }
}

/// Rows an unfiltered run of `s` scans on average.
fn scanned(model: &IndexModel, s: &Schedule, rows: usize) -> f64 {
    s.nprobe as f64 * rows as f64 / model.meta.partitions.max(1) as f64
}

/// Applies per-query knobs; returns whether the schedule is still the tuned one.
fn apply_overrides(s: &mut Schedule, params: &SearchParams, k: usize, partitions: usize) -> bool {
    let mut tuned = true;
    if let Some(n) = params.nprobe {
        s.nprobe = n.clamp(1, partitions);
        s.min_candidates = None;
        tuned = false;
    }
    if let Some(st) = &params.stages {
        s.stages = st.clone();
        tuned = false;
    }
    if let Some(keep) = &params.shortlist {
        for (st, &n) in s.stages.iter_mut().zip(keep) {
            *st = st.with_keep(n.max(k));
        }
        tuned = false;
    }
    tuned
}

/// Runs the plan in `e`; returns the best `k`, best first. Stage statistics are recorded when
/// `analyze`.
pub fn execute(
    v: &TableVersion,
    model: Option<&IndexModel>,
    q: &PreparedQuery,
    k: usize,
    sel: &Selection,
    e: &mut Explain,
    analyze: bool,
) -> Result<Vec<Cand>> {
    let layout = crate::index::layout_for(&v.def.schema, model);
    let mut stats = StageLog::new(analyze);
    let mut hits = match (&e.schedule, model) {
        (Some(s), Some(m)) => run_funnel(v, m, &layout, q, s, k, sel, &mut stats)?,
        _ => Vec::new(),
    };
    if e.schedule.is_none() || hits.len() < k.min(e.matching) {
        if e.schedule.is_some() && analyze {
            e.reason.push_str(&format!(
                "; the funnel found {} of {k} rows, finished exactly",
                hits.len()
            ));
        }
        let t = Instant::now();
        hits = exact::search(v, &layout, q, k, sel)?;
        stats.push(|| StageStats {
            name: format!("exact[0:{}]", layout.dim),
            candidates_in: e.matching,
            candidates_out: hits.len(),
            rows_touched: e.matching,
            bytes_touched: e.matching * layout.dim * 4,
            time: t.elapsed(),
        });
    }
    if analyze {
        e.stages = stats.stages;
    }
    Ok(hits)
}

#[allow(clippy::too_many_arguments)]
fn run_funnel(
    v: &TableVersion,
    m: &IndexModel,
    layout: &crate::layout::Layout,
    q: &PreparedQuery,
    s: &Schedule,
    k: usize,
    sel: &Selection,
    stats: &mut StageLog,
) -> Result<Vec<Cand>> {
    let views = v
        .segments
        .iter()
        .map(|seg| {
            if seg.meta().index_version != m.version {
                return Err(StorageError::corrupt(
                    format!("segment {}", seg.meta().id),
                    format!(
                        "encoded with index {} but the table uses {}",
                        seg.meta().index_version,
                        m.version
                    ),
                ));
            }
            SegView::new(seg, layout)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let rows: Vec<ViewRows<'_>> = sel
        .segments
        .iter()
        .zip(&v.deletes)
        .enumerate()
        .map(|(pos, (set, d))| ViewRows {
            set,
            deleted: d,
            gathered: sel.gathered.get(pos),
        })
        .collect();
    let found = funnel::run(&views, m, layout, q, s, k, &rows, stats);
    let t = Instant::now();
    let mut top = TopK::new(k);
    for c in found {
        top.push(c.dist, c.addr);
    }
    let mem_rows = v.mem.live_rows();
    if mem_rows > 0 {
        top.merge(exact::mem_search(v, q, k, sel));
        stats.push(|| StageStats {
            name: "unflushed (exact)".into(),
            candidates_in: mem_rows,
            candidates_out: k.min(mem_rows),
            rows_touched: mem_rows,
            bytes_touched: mem_rows * layout.dim * 4,
            time: t.elapsed(),
        });
    }
    Ok(top.into_sorted())
}
