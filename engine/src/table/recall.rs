//! Live recall monitoring: a sample of the table's real searches is recomputed exactly in the
//! background and compared with what the funnel returned, so the recall target is checked on
//! the user's own queries, not only on the tuner's.
//!
//! - Sampling: each search is sampled with probability `recall_sample_rate` (a database
//!   option; 0, off, by default; the shell turns it on at a low rate). A sampled search costs
//!   the query nothing but a copy of its vector and result addresses into a bounded queue
//!   (full queue: the sample is skipped).
//! - Budget: one background thread recomputes samples exactly on the version the search read,
//!   then sleeps so its busy time stays within `recall_cpu_budget` of one core.
//! - Report: measured recall@k (mean, 95% interval, count) per promised target and filter
//!   selectivity band, beside the tuner's estimate (`SHOW RECALL`, [`super::Table::recall_report`]).
//! - Adjustment: when, over at least [`MIN_SAMPLES`] samples of a target, the measured mean
//!   falls below `target - TOLERANCE`, later searches with that target use the schedule tuned
//!   for the next higher target (and again if it still falls short); the report says so. A
//!   new index (ANALYZE) starts over.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::time::{Duration, Instant};

use nestdb_storage::TableVersion;

use super::{Table, TableInner};
use crate::filter::{Filter, Selection};
use crate::index::RecallEstimate;
use crate::search::explain::Explain;
use crate::search::tune::TARGETS;
use crate::search::view::SegView;
use crate::search::{exact, PreparedQuery};
use crate::topk::Cand;

/// Samples of a target needed before its schedule is adjusted.
pub const MIN_SAMPLES: usize = 50;
/// How far below the target the measured mean may fall before an adjustment.
pub const TOLERANCE: f32 = 0.01;
/// The serving target that means exact search: what a promise falls back to once even the
/// schedule of the highest tuned target measured short of it.
pub const EXACT_SERVING: f32 = 1.0;
/// Sampled searches waiting for the background thread at most.
const QUEUE: usize = 32;
/// Measured queries kept (a uniform reservoir over every measured sample since open) for
/// `ANALYZE t TUNE ON SAMPLED` ([`super::Table::sampled_queries`]).
pub const KEEP_QUERIES: usize = 1000;

/// One line of the report.
#[derive(Clone, Debug, PartialEq)]
pub struct RecallRow {
    /// The promised recall target.
    pub target: f32,
    /// Filter selectivity band (`unfiltered`, `>=10%`, `1-10%`, `0.1-1%`, `<0.1%`; `all` on
    /// the row of an adjusted target with no sample since its adjustment).
    pub band: &'static str,
    /// Measured recall@k on the sampled searches.
    pub measured: RecallEstimate,
    /// What tuning estimated for the schedule the searches used.
    pub estimated: Option<f32>,
    /// The target whose schedule serves this one after adjustments (equal when none;
    /// [`EXACT_SERVING`] when exact search does).
    pub serving: f32,
}

/// Live recall of a table.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RecallReport {
    /// Fraction of searches sampled.
    pub sample_rate: f64,
    /// Per target and band.
    pub rows: Vec<RecallRow>,
    /// Adjustments made since the index was fit, oldest first: the promised target each
    /// concerns and what was done.
    pub adjustments: Vec<(f32, String)>,
    /// Samples waiting to be measured.
    pub pending: usize,
    /// Samples measured since the table was opened (adjustments and ANALYZE do not reset it).
    pub measured_total: u64,
    /// Measured queries kept for tuning on them (at most [`KEEP_QUERIES`]).
    pub kept_queries: usize,
}

struct Job {
    table: Weak<TableInner>,
    /// Weak: a queued sample never keeps an old version (and its files) alive; when the
    /// version is gone by the time the worker gets to it, the sample is dropped.
    version: Weak<TableVersion>,
    query: Vec<f32>,
    filter: Option<Filter>,
    k: usize,
    target: u32,
    estimated: Option<f32>,
    hits: Vec<u64>,
}

#[derive(Default)]
struct Cell {
    recalls: Vec<f32>,
    estimated: Option<f32>,
}

#[derive(Default)]
struct State {
    queue: VecDeque<Job>,
    worker: bool,
    cells: BTreeMap<(u32, &'static str), Cell>,
    serving: BTreeMap<u32, f32>,
    adjustments: Vec<(f32, String)>,
    measured_total: u64,
    rng: u64,
    /// A uniform sample of the measured queries (kept across refits: it describes the
    /// workload, not the index).
    kept: Vec<Vec<f32>>,
}

impl State {
    /// The next draw of the xorshift generator, uniform in [0, 1).
    fn draw(&mut self) -> f64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        (self.rng >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Reservoir sampling of the measured queries (the `n`-th is kept with chance
    /// `KEEP_QUERIES / n`).
    fn keep(&mut self, query: &[f32]) {
        if self.kept.len() < KEEP_QUERIES {
            self.kept.push(query.to_vec());
            return;
        }
        let slot = (self.draw() * self.measured_total as f64) as usize;
        if slot < KEEP_QUERIES {
            self.kept[slot] = query.to_vec();
        }
    }
}

struct Shared {
    state: Mutex<State>,
    /// Whether any target is served by another's schedule (searches skip the lock when not).
    adjusted: AtomicBool,
    cv: Condvar,
    budget: f64,
}

/// See the module docs.
pub struct Monitor {
    rate: AtomicU64,
    shared: Arc<Shared>,
}

fn milli(t: f32) -> u32 {
    (t * 1000.0).round() as u32
}

fn band(selectivity: f64) -> &'static str {
    match selectivity {
        s if s >= 1.0 => "unfiltered",
        s if s >= 0.1 => ">=10%",
        s if s >= 0.01 => "1-10%",
        s if s >= 0.001 => "0.1-1%",
        _ => "<0.1%",
    }
}

impl Monitor {
    pub(super) fn new(rate: f64, budget: f64) -> Monitor {
        Monitor {
            rate: AtomicU64::new(rate.clamp(0.0, 1.0).to_bits()),
            shared: Arc::new(Shared {
                state: Mutex::new(State {
                    rng: 0x9E37_79B9_7F4A_7C15,
                    ..State::default()
                }),
                adjusted: AtomicBool::new(false),
                cv: Condvar::new(),
                budget: budget.clamp(0.001, 1.0),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.shared.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn set_rate(&self, rate: f64) {
        self.rate
            .store(rate.clamp(0.0, 1.0).to_bits(), Ordering::Relaxed);
    }

    fn rate(&self) -> f64 {
        f64::from_bits(self.rate.load(Ordering::Relaxed))
    }

    /// Forgets measurements and adjustments (a new index was fit).
    pub(super) fn reset(&self) {
        let mut s = self.lock();
        s.cells.clear();
        s.serving.clear();
        s.adjustments.clear();
        s.queue.clear();
        self.shared.adjusted.store(false, Ordering::Relaxed);
    }

    /// The target whose schedule serves a promised `target` ([`EXACT_SERVING`]: exact search).
    pub(super) fn effective_target(&self, target: f32) -> f32 {
        if !self.shared.adjusted.load(Ordering::Relaxed) {
            return target;
        }
        self.lock()
            .serving
            .get(&milli(target))
            .copied()
            .unwrap_or(target)
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn observe(
        &self,
        t: &Table,
        v: &Arc<TableVersion>,
        query: &[f32],
        filter: Option<&Filter>,
        k: usize,
        e: &Explain,
        hits: &[Cand],
    ) {
        let rate = self.rate();
        // only the tuned schedules make a promise: searches with per-query knobs (no
        // estimate) are not sampled
        if rate <= 0.0 || e.strategy != crate::search::plan::FUNNEL || e.estimate.is_none() {
            return;
        }
        let mut s = self.lock();
        if s.draw() >= rate || s.queue.len() >= QUEUE {
            return;
        }
        let target = e.promised.unwrap_or(t.options().recall_target);
        s.queue.push_back(Job {
            table: Arc::downgrade(&t.inner),
            version: Arc::downgrade(v),
            query: query.to_vec(),
            filter: filter.cloned(),
            k,
            target: milli(target),
            estimated: e.estimate.map(|r| r.mean),
            hits: hits.iter().map(|c| c.addr).collect(),
        });
        if !s.worker {
            s.worker = true;
            let shared = self.shared.clone();
            let spawned = std::thread::Builder::new()
                .name("nestdb-recall".into())
                .spawn(move || worker(shared));
            if spawned.is_err() {
                s.worker = false;
                s.queue.clear();
            }
        }
        drop(s);
        self.shared.cv.notify_one();
    }

    pub(super) fn report(&self, _t: &Table) -> RecallReport {
        let s = self.lock();
        let mut rows: Vec<RecallRow> = s
            .cells
            .iter()
            .map(|(&(target, band), c)| RecallRow {
                target: target as f32 / 1000.0,
                band,
                measured: RecallEstimate::from_recalls(&c.recalls),
                estimated: c.estimated,
                serving: s
                    .serving
                    .get(&target)
                    .copied()
                    .unwrap_or(target as f32 / 1000.0),
            })
            .collect();
        // adjusted targets with no sample since their adjustment still show what serves them
        for (&target, &serving) in &s.serving {
            if !s.cells.keys().any(|&(t, _)| t == target) {
                rows.push(RecallRow {
                    target: target as f32 / 1000.0,
                    band: "all",
                    measured: RecallEstimate::default(),
                    estimated: None,
                    serving,
                });
            }
        }
        RecallReport {
            sample_rate: self.rate(),
            rows,
            adjustments: s.adjustments.clone(),
            pending: s.queue.len(),
            measured_total: s.measured_total,
            kept_queries: s.kept.len(),
        }
    }

    /// The measured queries kept (see [`KEEP_QUERIES`]).
    pub(super) fn kept_queries(&self) -> Vec<Vec<f32>> {
        self.lock().kept.clone()
    }
}

/// The background thread: measures queued samples within the CPU budget; exits when the queue
/// stays empty for a while or its table is gone.
fn worker(shared: Arc<Shared>) {
    loop {
        let job = {
            let mut s = shared.state.lock().unwrap_or_else(|e| e.into_inner());
            loop {
                if let Some(j) = s.queue.pop_front() {
                    break Some(j);
                }
                let (g, timeout) = shared
                    .cv
                    .wait_timeout(s, Duration::from_secs(30))
                    .unwrap_or_else(|e| e.into_inner());
                s = g;
                if timeout.timed_out() && s.queue.is_empty() {
                    s.worker = false;
                    break None;
                }
            }
        };
        let Some(job) = job else { return };
        let start = Instant::now();
        let measured = measure(&job);
        let busy = start.elapsed();
        if let Some((recall, band)) = measured {
            record(&shared, &job, recall, band);
        }
        std::thread::sleep(busy.mul_f64(1.0 / shared.budget - 1.0));
    }
}

/// Recall of the job's results against exact search on the same version and filter, and the
/// filter's selectivity band from its exact count (a search that tested its filter inside the
/// first stage only had an estimate).
fn measure(job: &Job) -> Option<(f32, &'static str)> {
    let inner = job.table.upgrade()?;
    let v = &job.version.upgrade()?;
    let sel = match &job.filter {
        Some(f) => f.selection(v).ok()?,
        None => Selection::all(v),
    };
    let layout = crate::index::layout_for(&v.def.schema, None);
    let q = PreparedQuery::new(&job.query, &layout, None, v.def.schema.vector_name()).ok()?;
    let views = v
        .segments
        .iter()
        .map(|s| SegView::new(s, None))
        .collect::<Result<Vec<_>, _>>()
        .ok()?;
    let truth = exact::search(v, &views, &q, job.k, &sel).ok()?;
    drop(inner);
    if truth.is_empty() {
        return None;
    }
    let hit = truth.iter().filter(|c| job.hits.contains(&c.addr)).count();
    let share = if job.filter.is_some() {
        sel.count(v) as f64 / v.count().max(1) as f64
    } else {
        1.0
    };
    Some((hit as f32 / truth.len() as f32, band(share)))
}

fn record(shared: &Shared, job: &Job, recall: f32, band: &'static str) {
    let mut s = shared.state.lock().unwrap_or_else(|e| e.into_inner());
    s.measured_total += 1;
    s.keep(&job.query);
    let cell = s.cells.entry((job.target, band)).or_default();
    cell.recalls.push(recall);
    cell.estimated = job.estimated;
    let all: Vec<f32> = s
        .cells
        .iter()
        .filter(|((t, _), _)| *t == job.target)
        .flat_map(|(_, c)| c.recalls.iter().copied())
        .collect();
    let target = job.target as f32 / 1000.0;
    let mean = all.iter().sum::<f32>() / all.len().max(1) as f32;
    if all.len() >= MIN_SAMPLES && mean < target - TOLERANCE {
        let serving = s.serving.get(&job.target).copied().unwrap_or(target);
        let next = TARGETS
            .iter()
            .copied()
            .find(|&t| t > serving + 1e-6)
            .unwrap_or(EXACT_SERVING);
        if next > serving {
            s.serving.insert(job.target, next);
            shared.adjusted.store(true, Ordering::Relaxed);
            let by = if next >= EXACT_SERVING {
                "exact search (no tuned schedule is left above it)".to_string()
            } else {
                format!("the schedule tuned for {next}")
            };
            let note = format!(
                "target {target}: measured {mean:.3} over {} searches, below {target} - {TOLERANCE}; now served by {by} (ANALYZE ... TUNE ON SAMPLED re-tunes every target on the sampled searches)",
                all.len()
            );
            s.adjustments.push((target, note));
            s.cells.retain(|(t, _), _| *t != job.target);
        }
    }
}
