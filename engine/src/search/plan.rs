//! Planning a search and running the plan.
//!
//! Strategies: `exact` (every selected row at full dimension) or `funnel` (the learned index's
//! schedule). Under a filter the planner compares, with the shared cost model ([`super::cost`]),
//! brute force over the matching rows, the funnel's stages over every matching row, and
//! filtered probing (partitions nearest-first, skipping those without a matching row, until
//! enough matching rows are covered). A filtered query returns `k` rows whenever `k` rows
//! match: a funnel that falls short finishes with an exact pass.

use std::time::Instant;

use nestdb_storage::TableVersion;

use super::explain::{Explain, StageLog, StageStats};
use super::pipeline::QueryCtx;
use super::rows::{GatherCache, ViewRows};
use super::view::SegView;
use super::{cost, exact, funnel, PreparedQuery};
use crate::error::Result;
use crate::filter::Selection;
use crate::index::{FilterTuning, IndexModel, Schedule, Stage};
use crate::topk::{Cand, TopK};

/// Knobs of one search. Every field left `None` comes from the table (its tuned schedule and
/// `recall_target` option).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SearchParams {
    /// Scan every selected row at full dimension (default false).
    pub exact: bool,
    /// Recall@k to aim for (default: the table's `recall_target`, 0.95 unless set).
    pub recall_target: Option<f32>,
    /// Partitions to probe (default: from the schedule).
    pub nprobe: Option<usize>,
    /// Candidates kept after each intermediate stage, exactly (default: from the schedule,
    /// whose shortlists may adapt to the query, `Schedule::keep_slack`).
    pub shortlist: Option<Vec<usize>>,
    /// Intermediate stages to run instead of the schedule's (advanced).
    pub stages: Option<Vec<Stage>>,
    /// Where a first-seen filter runs when the plan is filtered probing: `None` (default) lets
    /// the planner choose by cost ([`in_stage`]); `Some(false)` always evaluates it over the
    /// whole table first; `Some(true)` always tests it inside the funnel's first stage (for
    /// comparisons and tests).
    pub filter_in_stage: Option<bool>,
}

/// Strategy name of a full scan.
pub const EXACT: &str = "exact";
/// Strategy name of the funnel.
pub const FUNNEL: &str = "funnel";

/// Chooses the strategy and schedule. `matching` is the number of selected live rows.
pub fn choose(
    v: &TableVersion,
    model: Option<&IndexModel>,
    params: &SearchParams,
    k: usize,
    target: f32,
    matching: usize,
    detail: bool,
) -> Explain {
    let rows = v.count();
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
        return e;
    };
    e.tuned_on_queries = model.meta.tuning.tuning_queries > 0;
    if let Some(why) = unreachable(model, params, target) {
        e.strategy = EXACT.into();
        e.reason = reason(detail, || why);
        return e;
    }
    let bands = v.def.schema.bands();
    let (mut s, tuned, cal) = scaled_schedule(model, params, k, target, rows, e.selectivity);
    let funnel_cost = probing_cost(model, &s, rows, e.selectivity, &bands);
    if e.selectivity < 1.0 && params.nprobe.is_none() {
        match filtered_plan(model, &s, matching, funnel_cost, &bands) {
            FilteredPlan::Brute { brute, funnel } => {
                e.strategy = EXACT.into();
                e.reason = reason(detail, || {
                    format!(
                        "filter keeps {matching} of {rows} rows: brute force over them (est. cost {brute:.0}) beats the funnel (est. {funnel:.0})"
                    )
                });
                return e;
            }
            FilteredPlan::Subset { subset, brute } => {
                s.nprobe = model.meta.partitions;
                s.min_candidates = None;
                s.scan_all = true;
                e.strategy = FUNNEL.into();
                e.reason = reason(detail, || {
                    format!(
                        "filter keeps {matching} of {rows} rows: the funnel's stages over all of them (est. cost {subset:.0}) beat brute force ({brute:.0}) and probing ({funnel_cost:.0})"
                    )
                });
                let every = cal.and_then(|c| c.every_row).filter(|_| tuned);
                e.estimate = tuned.then_some(every.unwrap_or(s.estimate));
                e.estimate_filter = every.and(cal).map(|c| c.selectivity);
                e.schedule = Some(s);
                return e;
            }
            FilteredPlan::Probe => {}
        }
    }
    e.strategy = FUNNEL.into();
    e.reason = reason(detail, || funnel_reason(model, target, e.selectivity));
    let probed = cal.and_then(|c| c.estimate).filter(|_| tuned);
    e.estimate = tuned.then_some(probed.unwrap_or(s.estimate));
    e.estimate_filter = probed.and(cal).map(|c| c.selectivity);
    e.schedule = Some(s);
    e
}

/// Whether a filtered search planned (by [`choose`]) on an estimate of the rows its filter
/// keeps should test the filter inside the funnel's first stage instead of evaluating it over
/// the whole table first: when the plan is filtered probing and evaluating the probed
/// partitions costs at most half of evaluating every row. A partition costs its rows plus a
/// window's fixed cost ([`cost::FILTER_WINDOW_ROWS`]), so small tables (small partitions) are
/// evaluated whole. Brute force and the funnel over every matching row need the whole
/// selection.
pub fn in_stage(e: &Explain, model: Option<&IndexModel>) -> bool {
    let (Some(s), Some(m)) = (&e.schedule, model) else {
        return false;
    };
    let Some(min) = s.min_candidates.filter(|_| probing(e)) else {
        return false;
    };
    let per_partition = e.rows as f64 / m.meta.partitions.max(1) as f64;
    let scan = (s.nprobe as f64 * per_partition).max(min as f64 / e.selectivity.max(1e-9));
    let windows = scan / per_partition.max(1.0);
    (scan + windows * cost::FILTER_WINDOW_ROWS) * 2.0 <= e.rows as f64
}

/// Whether plan `e` is filtered probing (the only plan a filter can be tested in stage for).
pub fn probing(e: &Explain) -> bool {
    e.strategy == FUNNEL
        && e.rows > 0
        && e.schedule
            .as_ref()
            .is_some_and(|s| !s.scan_all && s.min_candidates.is_some())
}

/// The model's schedule for `target`, scaled to this query (`k`, selectivity, table size)
/// and with the per-query knobs applied; also whether it is still the tuned one, and the
/// filtered walk's calibration near this selectivity (filtered queries only).
fn scaled_schedule(
    model: &IndexModel,
    params: &SearchParams,
    k: usize,
    target: f32,
    rows: usize,
    selectivity: f64,
) -> (Schedule, bool, Option<FilterTuning>) {
    let base = model.schedule_for(target);
    let (factor, cal) = filter_tuning(&model.meta.tuning.filtered, base.target, selectivity);
    let mut s = base.scaled(
        k,
        selectivity,
        rows,
        model.meta.fit_rows,
        model.meta.partitions,
        factor,
    );
    let tuned = apply_overrides(&mut s, params, k, model.meta.partitions);
    (s, tuned, cal.filter(|_| selectivity < 1.0))
}

/// The estimated cost of running schedule `s` by probing partitions.
fn probing_cost(
    model: &IndexModel,
    s: &Schedule,
    rows: usize,
    selectivity: f64,
    bands: &[(usize, usize)],
) -> f64 {
    let per_partition = rows as f64 / model.meta.partitions.max(1) as f64;
    let unfiltered_scan = s.nprobe as f64 * per_partition;
    let scan_rows = s
        .min_candidates
        .map_or(unfiltered_scan, |m| m as f64 / selectivity.max(1e-9));
    cost::schedule(model, s, scan_rows.min(rows as f64), bands)
}

/// The planner's three estimated costs for a filter keeping `matching` of `rows` rows under
/// schedule `s` (scaled, with its filtered walk): brute force over the matching rows, the
/// funnel's stages over all of them, and filtered probing. The calibration
/// (`filtered_tune`) uses them to skip plans the planner would not choose.
pub(crate) fn filtered_costs(
    model: &IndexModel,
    s: &Schedule,
    matching: usize,
    rows: usize,
    bands: &[(usize, usize)],
) -> (f64, f64, f64) {
    let selectivity = matching as f64 / rows.max(1) as f64;
    let (brute, subset) = brute_and_subset(model, s, matching, bands);
    (
        brute,
        subset,
        probing_cost(model, s, rows, selectivity, bands),
    )
}

/// Brute force's and the funnel-over-every-matching-row's estimated costs.
fn brute_and_subset(
    model: &IndexModel,
    s: &Schedule,
    matching: usize,
    bands: &[(usize, usize)],
) -> (f64, f64) {
    let brute = cost::exact_rows(matching as f64, model.meta.dim, bands.len());
    let mut all = s.clone();
    all.scan_all = true;
    (brute, cost::schedule(model, &all, matching as f64, bands))
}

/// The cheapest way to run a filtered query, by the cost model.
enum FilteredPlan {
    /// Brute force over the matching rows.
    Brute {
        /// Its estimated cost.
        brute: f64,
        /// The cheaper of the funnel's two ways.
        funnel: f64,
    },
    /// The funnel's stages over every matching row.
    Subset {
        /// Its estimated cost.
        subset: f64,
        /// Brute force's estimated cost.
        brute: f64,
    },
    /// Filtered probing (the schedule as it is).
    Probe,
}

/// Compares brute force over the `matching` rows, the funnel's stages over all of them and
/// probing (which costs `funnel_cost`) for schedule `s`.
fn filtered_plan(
    model: &IndexModel,
    s: &Schedule,
    matching: usize,
    funnel_cost: f64,
    bands: &[(usize, usize)],
) -> FilteredPlan {
    let (brute, subset) = brute_and_subset(model, s, matching, bands);
    if brute <= funnel_cost.min(subset) {
        FilteredPlan::Brute {
            brute,
            funnel: funnel_cost.min(subset),
        }
    } else if subset <= funnel_cost {
        FilteredPlan::Subset { subset, brute }
    } else {
        FilteredPlan::Probe
    }
}

/// The planner's explanation of a funnel search.
fn funnel_reason(model: &IndexModel, target: f32, selectivity: f64) -> String {
    format!(
        "learned index v{} ({} partitions), recall target {target}{}",
        model.version,
        model.meta.partitions,
        if selectivity < 1.0 {
            "; filtered probing"
        } else {
            ""
        }
    )
}

/// How much further a filtered query probes than an unfiltered one with the schedule stored
/// for `target`: the factor from its calibrations (`search::filtered_tune`), interpolated in
/// log-log between the calibrated selectivities and towards factor 1 at selectivity 1, flat
/// below the lowest; with no calibration, `1 + log2(1 / selectivity) / 2`. The calibration
/// nearest in log-selectivity comes with it when within half a decade (its estimate is the
/// filtered plan's).
pub fn filter_tuning(
    cal: &[FilterTuning],
    target: f32,
    selectivity: f64,
) -> (f64, Option<FilterTuning>) {
    let s = selectivity.clamp(1e-9, 1.0);
    let mut pts: Vec<&FilterTuning> = cal
        .iter()
        .filter(|c| c.target == target && c.selectivity > 0.0 && c.selectivity < 1.0)
        .collect();
    pts.sort_by(|a, b| a.selectivity.total_cmp(&b.selectivity));
    let near = pts
        .iter()
        .min_by(|a, b| {
            (a.selectivity.ln() - s.ln())
                .abs()
                .total_cmp(&(b.selectivity.ln() - s.ln()).abs())
        })
        .filter(|c| (c.selectivity.log10() - s.log10()).abs() <= 0.5)
        .map(|c| **c);
    let mut knots: Vec<(f64, f64)> = pts
        .iter()
        .filter_map(|c| c.factor.map(|f| (c.selectivity, f)))
        .collect();
    if knots.is_empty() {
        return (1.0 + (1.0 / s).log2() / 2.0, near);
    }
    knots.push((1.0, 1.0));
    let factor = if s <= knots[0].0 {
        knots[0].1
    } else {
        let i = knots
            .iter()
            .position(|k| k.0 >= s)
            .unwrap_or(knots.len() - 1);
        let ((s0, f0), (s1, f1)) = (knots[i - 1], knots[i]);
        let t = (s.ln() - s0.ln()) / (s1.ln() - s0.ln()).max(1e-12);
        (f0.ln() + t * (f1.ln() - f0.ln())).exp()
    };
    (factor, near)
}

/// The planner's explanation, built only when someone will read it (EXPLAIN).
/// Why no tuned schedule can keep the promise for `target`, when none can: a target of 1
/// (the live monitor's last resort, or asked for), or one above the upper end of the 95%
/// interval of the best schedule tuning measured. Such searches run exactly. Per-query knobs
/// (`nprobe`, `shortlist`, `stages`) opt out: the user chose the schedule.
fn unreachable(model: &IndexModel, params: &SearchParams, target: f32) -> Option<String> {
    if params.nprobe.is_some() || params.shortlist.is_some() || params.stages.is_some() {
        return None;
    }
    if target >= 1.0 {
        return Some(format!("recall target {target}: exact search"));
    }
    let r = model.schedule_for(target).estimate;
    (r.queries > 0 && r.hi < target).then(|| {
        format!(
            "no tuned schedule reaches recall target {target} (the best was estimated at {:.3}, 95% interval {:.3}-{:.3}): exact search",
            r.mean, r.lo, r.hi
        )
    })
}

fn reason(detail: bool, f: impl FnOnce() -> String) -> String {
    if detail {
        f()
    } else {
        String::new()
    }
}

/// Applies per-query knobs; returns whether the schedule is still the tuned one.
fn apply_overrides(s: &mut Schedule, params: &SearchParams, k: usize, partitions: usize) -> bool {
    let mut tuned = true;
    if let Some(n) = params.nprobe {
        s.nprobe = n.clamp(1, partitions);
        s.probe_slack = None;
        s.min_candidates = None;
        tuned = false;
    }
    // the user's stages and shortlists keep exactly what they say (no adaptive shortlists)
    if let Some(st) = &params.stages {
        s.stages = st.clone();
        s.keep_slack = None;
        tuned = false;
    }
    if let Some(keep) = &params.shortlist {
        for (st, &n) in s.stages.iter_mut().zip(keep) {
            *st = st.with_keep(n.max(k));
        }
        s.keep_slack = None;
        tuned = false;
    }
    tuned
}

/// What a search reads: the version, its model, and the query.
#[derive(Clone, Copy)]
pub struct Target<'a> {
    /// The version.
    pub v: &'a TableVersion,
    /// Its learned index, if any.
    pub model: Option<&'a IndexModel>,
    /// The prepared query.
    pub q: &'a PreparedQuery,
    /// Which rows may be returned.
    pub sel: &'a Selection,
    /// The selection's cache of gathered codes, if it is cached.
    pub gathered: Option<&'a GatherCache>,
}

/// Runs the plan in `e`; returns the best `k`, best first. Stage statistics are recorded when
/// `analyze`.
pub fn execute(t: &Target<'_>, k: usize, e: &mut Explain, analyze: bool) -> Result<Vec<Cand>> {
    let views = views(t)?;
    let mut stats = StageLog::new(analyze);
    let mut hits = match (&e.schedule, t.model) {
        (Some(s), Some(m)) => run_funnel(t, m, &views, s, None, k, &mut stats)?,
        _ => Vec::new(),
    };
    if e.schedule.is_none() || hits.len() < k.min(e.matching) {
        hits = exact_pass(t, &views, k, e, &mut stats, hits.len())?;
    }
    if analyze {
        e.stages = stats.stages;
    }
    Ok(hits)
}

/// The query's codes for the index's stages (an error if it was prepared without the index).
pub(crate) fn query_codes(q: &PreparedQuery) -> Result<&super::QueryCoded> {
    Ok(q.codes.as_ref().ok_or(crate::error::QueryError::Setting {
        name: "query".into(),
        value: String::new(),
        reason: "prepared without the index".into(),
    })?)
}

/// The version's segments as the stages read them.
pub(crate) fn views<'a>(t: &Target<'a>) -> Result<Vec<SegView<'a>>> {
    Ok(t.v
        .segments
        .iter()
        .map(|s| SegView::new(s, t.model))
        .collect::<Result<Vec<_>, _>>()?)
}

/// Exact search over every selected row: the plan's strategy, or a funnel's finish when it
/// found `found` of the `k` rows that match.
pub(crate) fn exact_pass(
    t: &Target<'_>,
    views: &[SegView<'_>],
    k: usize,
    e: &mut Explain,
    stats: &mut StageLog,
    found: usize,
) -> Result<Vec<Cand>> {
    if e.schedule.is_some() && stats.on() {
        e.reason.push_str(&format!(
            "; the funnel found {found} of {k} rows, finished exactly"
        ));
    }
    let start = Instant::now();
    let hits = exact::search(t.v, views, t.q, k, t.sel)?;
    let dim = t.v.def.schema.dim();
    stats.push(|| StageStats {
        name: format!("exact[0:{dim}]"),
        candidates_in: e.matching,
        candidates_out: hits.len(),
        rows_touched: e.matching,
        bytes_touched: e.matching * dim * 4,
        time: start.elapsed(),
    });
    Ok(hits)
}

/// Runs schedule `s` over the target's selection (on partitions `probes` when given) and
/// merges the unflushed rows.
pub(crate) fn run_funnel(
    t: &Target<'_>,
    m: &IndexModel,
    views: &[SegView<'_>],
    s: &Schedule,
    probes: Option<Vec<usize>>,
    k: usize,
    stats: &mut StageLog,
) -> Result<Vec<Cand>> {
    let rows: Vec<ViewRows<'_>> = t
        .sel
        .segments
        .iter()
        .zip(&t.v.deletes)
        .enumerate()
        .map(|(pos, (set, d))| ViewRows {
            set,
            deleted: d,
            gathered: t.gathered.and_then(|g| g.segments.get(pos)),
        })
        .collect();
    let qc = query_codes(t.q)?;
    let bands = t.v.def.schema.bands();
    let ctx = QueryCtx {
        model: m,
        q: t.q,
        qc,
        views,
        rows: &rows,
        bands: &bands,
    };
    let found = funnel::run(&ctx, s, probes, k, stats)?;
    let start = Instant::now();
    let mut top = TopK::new(k);
    for c in found {
        top.push(c.dist, c.addr);
    }
    let mem_rows = t.v.mem.live_rows();
    if mem_rows > 0 {
        top.merge(exact::mem_search(t.v, t.q, k, t.sel));
        let dim = t.v.def.schema.dim();
        stats.push(|| StageStats {
            name: "unflushed (exact)".into(),
            candidates_in: mem_rows,
            candidates_out: k.min(mem_rows),
            rows_touched: mem_rows,
            bytes_touched: mem_rows * dim * 4,
            time: start.elapsed(),
        });
    }
    Ok(top.into_sorted())
}
