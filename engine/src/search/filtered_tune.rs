//! Calibrating filtered probing at ANALYZE, per recall target and filter selectivity.
//!
//! A filtered query probes partitions nearest first until the matching rows it covered reach
//! the unfiltered schedule's scan times a factor ([`Schedule::scaled`],
//! [`Schedule::probed_enough`]). Without calibration the factor is a fixed rule of the
//! selectivity alone, which over-delivers (recall well above the target, at its cost) and
//! leaves EXPLAIN nothing but the unfiltered estimate to show. Here each tuning sample query is
//! given a random filter per band ([`BANDS`]: 10%, 1% and 0.1% of the rows, drawn by a seeded
//! hash of the query and the row, [`keeps`]), whose exact `k` nearest the tuner found in the
//! same pass as the unfiltered truth. For each band and target, the first half of the samples
//! chooses the smallest factor of [`factor`] whose mean recall clears the target (with the
//! tuner's growing margin while the second half disagrees), through the funnel itself
//! ([`funnel::run`]); the second half measures it: the estimate EXPLAIN shows for a filtered
//! plan near that selectivity. The second half also measures the funnel over every matching
//! row, the planner's other funnel plan. Only plans the cost model could choose at the band
//! are measured ([`plan::filtered_costs`]), and each target's search for its factor starts
//! from the previous target's, so the expensive large factors are seldom run.
//!
//! Random filters keep rows independently of where they lie, so they describe filters
//! uncorrelated with the query. Filters that keep the query's own neighbourhood (its project)
//! find their neighbours sooner; filters that exclude it are what `probed_enough`'s local-share
//! rule is for (`docs/recall.md`).

use std::sync::{Mutex, MutexGuard};

use nestdb_storage::StorageError;
use rayon::prelude::*;
use roaring::RoaringBitmap;
use rustc_hash::FxHashMap;

use super::explain::StageLog;
use super::pipeline::QueryCtx;
use super::release::{self, Releaser};
use super::rows::ViewRows;
use super::samples::{keeps_keyed, prepare, query_key, Sample, TuneParams, BANDS};
use super::view::SegView;
use super::PreparedQuery;
use super::{funnel, plan, probe};
use crate::filter::bits::Bits;
use crate::filter::RowSet;
use crate::index::{FilterTuning, IndexModel, RecallEstimate, Schedule};
use crate::layout::Layout;
use crate::topk::Cand;

/// Factors tried: [`factor`]`(i)` for `i < FACTOR_STEPS`, 1/16 to 16.
const FACTOR_STEPS: usize = 17;

/// The `i`-th factor tried: `2^(i/2 - 4)`.
fn factor(i: usize) -> f64 {
    2f64.powf(i as f64 / 2.0 - 4.0)
}

/// Sample queries per band at most (half choose, half calibrate).
const MAX_SAMPLES: usize = 200;

/// Memory for the samples' filter selections (one bit per row per sample, one band at a
/// time): bounds the samples used, so ANALYZE's memory does not grow with the table (200 up
/// to 5.2M rows, 107 at 10M; a band with fewer than [`MIN_SAMPLES`] is not calibrated).
const CALIBRATION_BYTES: usize = 128 << 20;

/// Fewer usable samples than this leave a band uncalibrated.
const MIN_SAMPLES: usize = 20;

/// One sample under one band's filter, ready to search.
struct Filtered<'s> {
    truth: &'s rustc_hash::FxHashSet<u64>,
    query: PreparedQuery,
    /// The filter's rows per segment, less the sample's held-out rows.
    sets: Vec<RowSet>,
    /// The sample's held-out rows, per segment.
    held: Vec<RoaringBitmap>,
    selectivity: f64,
}

/// The filtered walk's factor and estimate for every target of `schedules` and every band
/// with enough samples (see the module docs).
pub(super) fn calibrate(
    model: &IndexModel,
    layout: &Layout,
    views: &[SegView<'_>],
    samples: &[Sample],
    schedules: &[Schedule],
    p: &TuneParams,
) -> Result<Vec<FilterTuning>, StorageError> {
    calibrate_with(model, layout, views, samples, schedules, p, true)
}

/// [`calibrate`], measuring a schedule once for the targets that share it when `reuse` (a
/// test compares both ways).
fn calibrate_with(
    model: &IndexModel,
    layout: &Layout,
    views: &[SegView<'_>],
    samples: &[Sample],
    schedules: &[Schedule],
    p: &TuneParams,
    reuse: bool,
) -> Result<Vec<FilterTuning>, StorageError> {
    let mut out = Vec::new();
    let rows: usize = views.iter().map(|v| v.rows).sum();
    let most = MAX_SAMPLES.min(CALIBRATION_BYTES * 8 / rows.max(1));
    for (b, &band) in BANDS.iter().enumerate() {
        let usable: Vec<&Sample> = samples
            .iter()
            .filter(|s| s.filtered.get(b).is_some_and(|t| t.len() == p.k))
            .take(most)
            .collect();
        if usable.len() < MIN_SAMPLES {
            continue;
        }
        let filtered = usable
            .par_iter()
            .map(|s| filtered(model, layout, views, s, b, p.seed))
            .collect::<Result<Vec<_>, _>>()?;
        let selectivity =
            filtered.iter().map(|f| f.selectivity).sum::<f64>() / filtered.len() as f64;
        let cal = Calibration {
            model,
            layout,
            views,
            filtered: &filtered,
            k: p.k,
            memo: Mutex::new(Memo::default()),
            reuse,
        };
        let mut hint = FACTOR_STEPS / 2;
        for s in schedules.iter().filter(|s| s.estimate.queries > 0) {
            let sel = if selectivity > 0.0 { selectivity } else { band };
            if let Some(t) = cal.target(s, sel, &mut hint)? {
                out.push(t);
            }
        }
    }
    Ok(out)
}

/// Sample `s` under band `b`'s filter.
fn filtered<'s>(
    model: &IndexModel,
    layout: &Layout,
    views: &[SegView<'_>],
    s: &'s Sample,
    b: usize,
    seed: u64,
) -> Result<Filtered<'s>, StorageError> {
    let mut kept = 0u64;
    let mut total = 0u64;
    let qkey = query_key(seed, s.key);
    let held: Vec<RoaringBitmap> = (0..views.len())
        .map(|vi| {
            s.held
                .iter()
                .map(|&addr| Cand { dist: 0.0, addr })
                .filter(|c| c.source() == vi)
                .map(|c| c.offset() as u32)
                .collect()
        })
        .collect();
    let sets = views
        .iter()
        .enumerate()
        .map(|(vi, v)| {
            let mut bits = Bits::zeros(v.rows as u32);
            for off in 0..v.rows {
                if keeps_keyed(qkey, Cand::addr(vi, off)) > b {
                    bits.insert(off as u32);
                }
            }
            held[vi].iter().for_each(|o| bits.remove(o));
            kept += bits.count();
            total += v.rows as u64;
            RowSet::Some(bits)
        })
        .collect();
    Ok(Filtered {
        truth: &s.filtered[b],
        query: prepare(model, layout, &s.query)?,
        sets,
        held,
        selectivity: kept as f64 / total.max(1) as f64,
    })
}

/// The smallest `i` in `lo..=last` for which `passes(i)` holds, assuming it holds from some
/// index on (`last` when it holds nowhere): galloping from `hint` (the previous target's pick,
/// usually close), then bisecting, so the costly large factors are seldom evaluated.
fn smallest(
    lo: usize,
    last: usize,
    hint: usize,
    mut passes: impl FnMut(usize) -> Result<bool, StorageError>,
) -> Result<usize, StorageError> {
    let h = hint.clamp(lo, last);
    let (mut a, mut z);
    if passes(h)? {
        // down: z passes; find the first failure below it
        z = h;
        a = lo;
        let mut step = 1;
        while z >= lo + step {
            let c = z - step;
            if passes(c)? {
                z = c;
                step *= 2;
            } else {
                a = c + 1;
                break;
            }
        }
    } else {
        // up: everything to h fails; find a pass above it
        a = h + 1;
        let mut step = 1;
        loop {
            if a > last {
                return Ok(last);
            }
            let c = (h + step).min(last);
            if passes(c)? {
                z = c;
                break;
            }
            a = c + 1;
            step *= 2;
        }
    }
    while a < z {
        let m = (a + z) / 2;
        if passes(m)? {
            z = m;
        } else {
            a = m + 1;
        }
    }
    Ok(z)
}

/// How a filtered calibration search runs the schedule.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Walk {
    /// Filtered probing with this factor.
    Probe(f64),
    /// The funnel's stages over every matching row (the planner's other funnel plan).
    EveryRow,
}

/// One band's filtered samples, searched with a schedule and factor.
struct Calibration<'a> {
    model: &'a IndexModel,
    layout: &'a Layout,
    views: &'a [SegView<'a>],
    filtered: &'a [Filtered<'a>],
    k: usize,
    memo: Mutex<Memo>,
    /// Whether [`Memo`] carries measurements from one target to the next.
    reuse: bool,
}

/// What was measured for the last schedule calibrated. Neighbouring targets often share a
/// schedule (the tuner's most accurate point serves 0.99 to 0.999 on many tables), and a
/// search does not depend on the target it serves, so their measurements are reused.
#[derive(Default)]
struct Memo {
    /// The schedule measured, its target, estimate and cost cleared.
    search: Option<Schedule>,
    reaches: Option<Vec<usize>>,
    /// Recalls per (factor step, first half).
    probe: FxHashMap<(usize, bool), Vec<f32>>,
    every_row: Option<Vec<f32>>,
}

impl Memo {
    /// What a search under `s` depends on: `s` without its target, estimate and cost.
    fn search_of(s: &Schedule) -> Schedule {
        Schedule {
            target: 0.0,
            estimate: RecallEstimate::default(),
            cost: 0.0,
            ..s.clone()
        }
    }

    /// Forgets everything unless `s` searches as the schedule measured so far.
    fn keep_for(&mut self, s: &Schedule) {
        let search = Memo::search_of(s);
        if self.search.as_ref() != Some(&search) {
            *self = Memo {
                search: Some(search),
                ..Memo::default()
            };
        }
    }
}

impl Calibration<'_> {
    fn memo(&self) -> MutexGuard<'_, Memo> {
        self.memo.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The calibration of schedule `s` at this band, measuring only the plans the planner
    /// could choose here ([`plan::filtered_costs`]): none when brute force beats both funnel
    /// plans even at the smallest factor; the filtered walk unless the funnel over every
    /// matching row always beats it; the latter's recall too when it may be chosen for some
    /// queries (its cost within twice the cheaper other plan's).
    /// `hint` is where the search for the factor starts (the previous target's pick); it is
    /// updated to this target's.
    fn target(
        &self,
        s: &Schedule,
        selectivity: f64,
        hint: &mut usize,
    ) -> Result<Option<FilterTuning>, StorageError> {
        let m = self.model;
        let rows: usize = self.views.iter().map(|v| v.rows).sum();
        let matching = (selectivity * rows as f64).round() as usize;
        let costs = |factor: f64| {
            let scaled = s.scaled(
                self.k,
                selectivity,
                rows,
                m.meta.fit_rows.max(1),
                m.meta.partitions,
                factor,
            );
            plan::filtered_costs(m, &scaled, matching, rows, &self.layout.bands)
        };
        let (brute, subset, cheapest_probe) = costs(factor(0));
        if brute <= subset.min(cheapest_probe) {
            return Ok(None);
        }
        if !self.reuse {
            *self.memo() = Memo::default();
        }
        self.memo().keep_for(s);
        let (factor, estimate, probe) = if cheapest_probe < subset {
            let known = self.memo().reaches.clone();
            let reaches = match known {
                Some(r) => r,
                None => {
                    let r = self
                        .filtered
                        .par_iter()
                        .map(|f| self.reach(f, s))
                        .collect::<Result<Vec<_>, _>>()?;
                    self.memo().reaches = Some(r.clone());
                    r
                }
            };
            let (i, e) = self.choose(s, *hint, &reaches)?;
            *hint = i;
            (Some(factor(i)), Some(e), costs(factor(i)).2)
        } else {
            (None, None, f64::INFINITY)
        };
        let every_row = if subset <= 2.0 * brute.min(probe) {
            let known = self
                .memo()
                .every_row
                .as_deref()
                .map(RecallEstimate::from_recalls);
            match known {
                Some(e) => Some(e),
                None => {
                    let half = self.filtered.len() / 2;
                    let r = self.recalls(s, Walk::EveryRow, half..self.filtered.len(), &[])?;
                    let e = RecallEstimate::from_recalls(&r);
                    self.memo().every_row = Some(r);
                    Some(e)
                }
            }
        } else {
            None
        };
        Ok(Some(FilterTuning {
            selectivity,
            target: s.target,
            factor,
            estimate,
            every_row,
        }))
    }

    /// The smallest factor whose mean recall on the first half clears `s.target` plus a margin
    /// that grows (by 0.005, to 0.05) while the second half's mean is below the target; the
    /// largest factor when none clears it. Returns it with the second half's estimate.
    fn choose(
        &self,
        s: &Schedule,
        hint: usize,
        reaches: &[usize],
    ) -> Result<(usize, RecallEstimate), StorageError> {
        let half = self.filtered.len() / 2;
        let (choose, calib) = (0..half, half..self.filtered.len());
        let mean_of = |fi: usize, first: bool| -> Result<f32, StorageError> {
            let known = self.memo().probe.contains_key(&(fi, first));
            if !known {
                let range = if first { choose.clone() } else { calib.clone() };
                let r = self.recalls(s, Walk::Probe(factor(fi)), range, reaches)?;
                self.memo().probe.insert((fi, first), r);
            }
            let m = self.memo();
            let r = &m.probe[&(fi, first)];
            Ok(r.iter().sum::<f32>() / r.len().max(1) as f32)
        };
        let last = FACTOR_STEPS - 1;
        let mut lo = 0;
        let mut margin = 0.005f32;
        let pick = loop {
            let want = (s.target + margin).min(1.0);
            let a = smallest(lo, last, hint.max(lo), |i| Ok(mean_of(i, true)? >= want))?;
            if mean_of(a, false)? >= s.target || margin >= 0.05 || a == last {
                break a;
            }
            margin += 0.005;
            lo = a;
        };
        mean_of(pick, false)?;
        let estimate = RecallEstimate::from_recalls(&self.memo().probe[&(pick, false)]);
        Ok((pick, estimate))
    }

    /// Recall@k of schedule `s` run as `walk` for the samples in `range`. A search that
    /// returns fewer than `k` rows counts as exact: the planner finishes it with an exact pass.
    fn recalls(
        &self,
        s: &Schedule,
        walk: Walk,
        range: std::ops::Range<usize>,
        reaches: &[usize],
    ) -> Result<Vec<f32>, StorageError> {
        let mut out = Vec::with_capacity(range.len());
        let todo: Vec<usize> = range.collect();
        let mut released = Releaser::new(self.views);
        for part in todo.chunks(release::batch()) {
            let r: Vec<f32> = part
                .par_iter()
                .map(|&i| self.recall(&self.filtered[i], s, walk, reaches.get(i).copied()))
                .collect::<Result<_, _>>()?;
            out.extend(r);
            released.after(part.len());
        }
        released.release();
        Ok(out)
    }

    /// Schedule `s` scaled to sample `f`'s filter with `factor`.
    fn scaled(&self, f: &Filtered<'_>, s: &Schedule, factor: f64) -> Schedule {
        let m = self.model;
        let rows: usize = self.views.iter().map(|v| v.rows).sum();
        s.scaled(
            self.k,
            f.selectivity,
            rows,
            m.meta.fit_rows.max(1),
            m.meta.partitions,
            factor,
        )
    }

    /// The sample's unfiltered reach under `s` ([`probe::reach`]) over every row but its
    /// held-out ones (passed as deleted rows, so nothing grows with the table), as the tuner
    /// measures its unfiltered probe (`funnel::run` would count the sample's own row): the
    /// floor of its filtered walk; 0 when the walk has none.
    fn reach(&self, f: &Filtered<'_>, s: &Schedule) -> Result<usize, StorageError> {
        let sched = self.scaled(f, s, 1.0);
        let Some(slack) = sched.filtered_slack() else {
            return Ok(0);
        };
        let all = RowSet::All;
        let rows: Vec<ViewRows<'_>> = f
            .held
            .iter()
            .map(|deleted| ViewRows {
                set: &all,
                deleted,
                gathered: None,
            })
            .collect();
        let ctx = QueryCtx {
            model: self.model,
            q: &f.query,
            qc: f.query.codes.as_ref().expect("prepared with a model"),
            views: self.views,
            rows: &rows,
            bands: &self.layout.bands,
        };
        let first = probe::first_of(&sched, self.k);
        Ok(probe::reach(&ctx, (sched.seeds(), slack), first, self.k)?.max(1))
    }

    /// Recall@k of sample `f` under `s` run as `walk`, its filtered walk starting from
    /// `reach` partitions when given ([`Calibration::reach`]).
    fn recall(
        &self,
        f: &Filtered<'_>,
        s: &Schedule,
        walk: Walk,
        reach: Option<usize>,
    ) -> Result<f32, StorageError> {
        let m = self.model;
        let factor = match walk {
            Walk::Probe(f) => f,
            Walk::EveryRow => 1.0,
        };
        let mut sched = self.scaled(f, s, factor);
        if walk == Walk::EveryRow {
            // as the planner runs it (`plan::choose`, the funnel over every matching row)
            sched.nprobe = m.meta.partitions;
            sched.min_candidates = None;
            sched.scan_all = true;
        }
        let empty = RoaringBitmap::new();
        let view_rows = rows_of(&f.sets, &empty);
        let ctx = QueryCtx {
            model: m,
            q: &f.query,
            qc: f.query.codes.as_ref().expect("prepared with a model"),
            views: self.views,
            rows: &view_rows,
            bands: &self.layout.bands,
        };
        // a filtered walk's floor is the sample's own reach (`funnel::run` would measure it
        // over every row, the sample's own row included), so the partitions are chosen here
        let chosen = match reach.filter(|&n| n > 0 && sched.filtered_slack().is_some()) {
            Some(n) => {
                sched.nprobe = n;
                Some(funnel::choose_partitions(&ctx, &sched))
            }
            None => None,
        };
        let got = funnel::run(&ctx, &sched, chosen, self.k, &mut StageLog::new(false))?;
        if got.len() < self.k {
            return Ok(1.0);
        }
        let hits = got.iter().filter(|c| f.truth.contains(&c.addr)).count();
        Ok(hits as f32 / self.k as f32)
    }
}

/// The rows of `sets` with nothing deleted, as the funnel's stages take them.
fn rows_of<'a>(sets: &'a [RowSet], empty: &'a RoaringBitmap) -> Vec<ViewRows<'a>> {
    sets.iter()
        .map(|set| ViewRows {
            set,
            deleted: empty,
            gathered: None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::plan::filter_tuning;

    fn schedule(target: f32, keep: usize, slack: f32) -> Schedule {
        Schedule {
            nprobe: 8,
            stages: vec![
                crate::index::Stage::Int8 { keep },
                crate::index::Stage::Mid { keep: 10 },
            ],
            k: 10,
            target,
            estimate: RecallEstimate {
                mean: target,
                ..RecallEstimate::default()
            },
            cost: target * 100.0,
            probe_slack: Some(slack),
            probe_seeds: Some(2),
            keep_slack: None,
            kept_ratio: None,
            min_candidates: None,
            filter_share: None,
            scan_all: false,
        }
    }

    /// Reusing measurements across targets changes no calibration: on the same samples and
    /// schedules, the factors and estimates are those of measuring every target afresh, and
    /// neighbouring targets do share a schedule there, so the reuse ran.
    #[test]
    fn reusing_measurements_across_targets_changes_no_calibration() {
        use crate::search::samples::samples;
        use crate::search::tune::equivalence::{fitted_table, seg_views};
        let dir = tempfile::tempdir().expect("temp dir");
        let t = fitted_table(dir.path(), 120);
        let v = t.snapshot().version.clone();
        let model = t.model_for(&v).expect("model").expect("an index was fit");
        let layout = crate::index::layout_for(t.schema(), Some(&model));
        let views = seg_views(&v, &model);
        let p = TuneParams {
            k: 10,
            queries: 120,
            holdout_radius: 0.05,
            seed: 7,
        };
        let s = samples(&model, &layout, &views, &p).expect("samples");
        let schedules = &model.meta.schedules;
        assert!(schedules
            .windows(2)
            .any(|w| Memo::search_of(&w[0]) == Memo::search_of(&w[1])));
        let with = calibrate_with(&model, &layout, &views, &s, schedules, &p, true).expect("with");
        let without =
            calibrate_with(&model, &layout, &views, &s, schedules, &p, false).expect("without");
        assert!(!with.is_empty(), "some band was calibrated");
        assert_eq!(with, without);
    }

    /// Targets that share a schedule share its measurements; a schedule that searches
    /// differently in any way starts afresh.
    #[test]
    fn measurements_are_reused_only_for_the_same_search() {
        let mut m = Memo::default();
        m.keep_for(&schedule(0.99, 120, 0.3));
        m.reaches = Some(vec![3, 4]);
        m.probe.insert((5, true), vec![1.0]);
        m.keep_for(&schedule(0.995, 120, 0.3));
        assert_eq!(
            m.reaches,
            Some(vec![3, 4]),
            "another target, same search: kept"
        );
        assert_eq!(m.probe.len(), 1);
        m.keep_for(&schedule(0.999, 160, 0.3));
        assert!(
            m.reaches.is_none() && m.probe.is_empty(),
            "another shortlist"
        );
        m.probe.insert((5, true), vec![1.0]);
        m.keep_for(&schedule(0.999, 160, 0.35));
        assert!(m.probe.is_empty(), "another slack");
    }

    #[test]
    fn random_filters_are_nested_and_keep_their_share() {
        let n = 200_000u64;
        let mut kept = [0u64; 3];
        for addr in 0..n {
            let within = keeps_keyed(query_key(7, 3), addr);
            for k in kept.iter_mut().take(within) {
                *k += 1;
            }
        }
        for (b, &share) in BANDS.iter().enumerate() {
            let got = kept[b] as f64 / n as f64;
            assert!((got / share - 1.0).abs() < 0.15, "band {share}: kept {got}");
        }
        // another query, another filter
        let (a, b) = (query_key(7, 3), query_key(7, 4));
        let same = (0..1000)
            .filter(|&x| (keeps_keyed(a, x) > 0) == (keeps_keyed(b, x) > 0))
            .count();
        assert!(same < 1000, "filters of two queries must differ");
    }

    fn cal(selectivity: f64, factor: Option<f64>, mean: f32) -> FilterTuning {
        FilterTuning {
            selectivity,
            target: 0.9,
            factor,
            estimate: factor.map(|_| RecallEstimate {
                mean,
                lo: mean,
                hi: mean,
                queries: 100,
            }),
            every_row: None,
        }
    }

    #[test]
    fn calibrated_factors_interpolate_in_log_log_and_estimates_come_from_the_nearest_band() {
        let c = [cal(0.1, Some(0.5), 0.93), cal(0.01, Some(2.0), 0.95)];
        // at a calibrated band: its factor and its estimate
        let (f, near) = filter_tuning(&c, 0.9, 0.1);
        assert!((f - 0.5).abs() < 1e-9);
        assert_eq!(near.and_then(|n| n.estimate).map(|e| e.mean), Some(0.93));
        // halfway in log-selectivity between the two: the geometric mean of their factors
        let (f, _) = filter_tuning(&c, 0.9, 0.1f64.sqrt() * 0.1);
        assert!((f - 1.0).abs() < 1e-9, "{f}");
        // below the narrowest: flat; towards factor 1 at selectivity 1
        assert!((filter_tuning(&c, 0.9, 0.0001).0 - 2.0).abs() < 1e-9);
        assert!((filter_tuning(&c, 0.9, 1.0).0 - 1.0).abs() < 1e-9);
        // far from every band: no calibrated estimate
        assert!(filter_tuning(&c, 0.9, 0.5).1.is_none());
        // another target, or no factor at all: the fixed rule
        let rule = 1.0 + (1.0f64 / 0.1).log2() / 2.0;
        assert!((filter_tuning(&c, 0.95, 0.1).0 - rule).abs() < 1e-9);
        let (f, near) = filter_tuning(&[cal(0.1, None, 0.0)], 0.9, 0.1);
        assert!((f - rule).abs() < 1e-9);
        assert!(near.is_some_and(|n| n.estimate.is_none()));
    }
}

#[cfg(test)]
mod format_tests {
    use crate::index::TuningInfo;

    /// Builds from before the calibration require `filter_factors` in `INDEX_META`'s tuning
    /// record, and their files have no `filtered`: both directions must still read.
    #[test]
    fn tuning_info_reads_old_files_and_old_builds_read_new_ones() {
        let old = r#"{"choose_queries":200,"calibrate_queries":200,"holdout_radius":0.05,"filter_factors":[]}"#;
        let t: TuningInfo = serde_json::from_str(old).expect("an old record reads");
        assert!(t.filtered.is_empty() && t.filter_factors.is_empty());
        let new = serde_json::to_string(&TuningInfo::default()).expect("json");
        assert!(new.contains("\"filter_factors\":[]"), "{new}");
    }
}
