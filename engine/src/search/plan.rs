//! Planning a search (exact scan or funnel, and the funnel's schedule) and running the plan.

use std::time::Instant;

use nestdb_storage::{StorageError, TableVersion};

use super::explain::{Explain, StageStats};
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

/// Fraction of live rows `sel` keeps (1.0 when it keeps all).
pub fn selectivity(v: &TableVersion, sel: &Selection) -> f64 {
    let unfiltered = sel
        .segments
        .iter()
        .chain(&sel.mem)
        .all(|r| matches!(r, RowSet::All));
    let rows = v.count();
    if unfiltered || rows == 0 {
        return 1.0;
    }
    sel.count(v) as f64 / rows as f64
}

/// Chooses the strategy and schedule.
pub fn choose(
    v: &TableVersion,
    model: Option<&IndexModel>,
    params: &SearchParams,
    k: usize,
    target: f32,
    sel: &Selection,
) -> Result<Explain> {
    let mut e = Explain {
        rows: v.count(),
        selectivity: selectivity(v, sel),
        ..Explain::default()
    };
    let Some(model) = model.filter(|_| !params.exact) else {
        e.strategy = EXACT.into();
        e.reason = if params.exact {
            "exact search requested".into()
        } else {
            format!("no learned index yet ({} rows)", e.rows)
        };
        return Ok(e);
    };
    let mut s = model
        .schedule_for(target)
        .scaled(k, e.selectivity, model.meta.partitions);
    let mut tuned = true;
    if let Some(n) = params.nprobe {
        s.nprobe = n.clamp(1, model.meta.partitions);
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
    e.strategy = FUNNEL.into();
    e.reason = format!(
        "learned index v{} ({} partitions), recall target {target}",
        model.version, model.meta.partitions
    );
    e.estimated_recall = tuned.then_some(s.measured_recall);
    e.schedule = Some(s);
    Ok(e)
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
    let mut stats = Vec::new();
    let hits = match (&e.schedule, model) {
        (Some(s), Some(m)) => run_funnel(v, m, &layout, q, s, k, sel, &mut stats)?,
        _ => {
            let t = Instant::now();
            let hits = exact::search(v, &layout, q, k, sel)?;
            let rows = sel.count(v) as usize;
            stats.push(StageStats {
                name: format!("exact[0:{}]", layout.dim),
                candidates_in: rows,
                candidates_out: hits.len(),
                rows_touched: rows,
                bytes_touched: rows * layout.dim * 4,
                time: t.elapsed(),
            });
            hits
        }
    };
    if analyze {
        e.stages = stats;
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
    stats: &mut Vec<StageStats>,
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
    let keep = |vi: usize, off: u32| sel.keep_segment_row(v, vi, off);
    let found = funnel::run(&views, m, layout, q, s, k, &keep, stats);
    let t = Instant::now();
    let mut top = TopK::new(k);
    for c in found {
        top.push(c.dist, c.addr);
    }
    let mem = exact::mem_search(v, q, k, sel);
    let mem_rows = v.mem.live_rows();
    top.merge(mem);
    if mem_rows > 0 {
        stats.push(StageStats {
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
