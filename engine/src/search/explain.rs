//! What a search did, stage by stage (EXPLAIN / EXPLAIN ANALYZE).

use std::fmt;
use std::time::Duration;

use crate::index::{RecallEstimate, Schedule};

/// One stage of a search plan.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StageStats {
    /// Stage name (`probe`, `int8[0:64]`, `f32[0:128]`, `exact[0:384]`, `unflushed`, ...).
    pub name: String,
    /// Candidates entering the stage.
    pub candidates_in: usize,
    /// Candidates kept.
    pub candidates_out: usize,
    /// Rows whose data the stage read.
    pub rows_touched: usize,
    /// Bytes the stage read.
    pub bytes_touched: usize,
    /// Wall time of the stage.
    pub time: Duration,
}

impl fmt::Display for StageStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:<16} in={:<8} out={:<8} rows={:<8} bytes={:<10} time={:.3}ms",
            self.name,
            self.candidates_in,
            self.candidates_out,
            self.rows_touched,
            self.bytes_touched,
            self.time.as_secs_f64() * 1e3
        )
    }
}

/// Stage statistics while a search runs, kept only for EXPLAIN ANALYZE (a plain search does
/// not pay for the stage names and bookkeeping).
#[derive(Debug, Default)]
pub struct StageLog {
    on: bool,
    /// The stages recorded so far.
    pub stages: Vec<StageStats>,
}

impl StageLog {
    /// A log that records when `on`.
    pub fn new(on: bool) -> Self {
        StageLog {
            on,
            stages: Vec::new(),
        }
    }

    /// Whether the log records.
    pub fn on(&self) -> bool {
        self.on
    }

    /// Records the stage `f` describes, if recording.
    #[inline]
    pub fn push(&mut self, f: impl FnOnce() -> StageStats) {
        if self.on {
            self.stages.push(f());
        }
    }
}

/// How a search's filter decided which rows may be returned.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum FilterMode {
    /// No filter.
    #[default]
    None,
    /// Evaluated over the whole table before the search (a materialized selection).
    Evaluated,
    /// A selection of an earlier query, from the table's cache of recent filters.
    Cached,
    /// Tested inside the funnel's first stage, on the rows of the partitions it probes only.
    InStage,
}

impl FilterMode {
    /// The mode's name in EXPLAIN (`evaluated`, `cached`, `in-stage`; empty without a filter).
    pub fn name(self) -> &'static str {
        match self {
            FilterMode::None => "",
            FilterMode::Evaluated => "evaluated",
            FilterMode::Cached => "cached",
            FilterMode::InStage => "in-stage",
        }
    }
}

/// A search plan and, after execution, what each stage did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Explain {
    /// `funnel` or `exact`.
    pub strategy: String,
    /// Why this strategy was chosen.
    pub reason: String,
    /// The schedule used by a funnel.
    pub schedule: Option<Schedule>,
    /// The recall target the query asked for (the schedule may serve a higher one after the
    /// live monitor adjusted it).
    pub promised: Option<f32>,
    /// The recall tuning measured for the schedule on held-out queries (None when a knob
    /// overrides the tuned schedule).
    pub estimate: Option<RecallEstimate>,
    /// When the estimate is a filtered walk's calibration: the share of rows its random
    /// filters kept (`search::filtered_tune`); None for the unfiltered schedule's estimate.
    pub estimate_filter: Option<f64>,
    /// Whether the index's schedules were tuned on the table's tuning queries
    /// (`Table::set_tuning_queries`) rather than on rows; EXPLAIN shows it with the estimate.
    pub tuned_on_queries: bool,
    /// Rows in the table version.
    pub rows: usize,
    /// Live rows the filter keeps (all rows without a filter).
    pub matching: usize,
    /// Fraction of rows the filter keeps (1.0 without a filter).
    pub selectivity: f64,
    /// Per-stage statistics (empty for a plain EXPLAIN).
    pub stages: Vec<StageStats>,
    /// Time spent deciding which rows the filter keeps (zero without a filter).
    pub filter_time: Duration,
    /// How the filter decided which rows may be returned.
    pub filter: FilterMode,
    /// The planner's estimate of the rows the filter keeps, made before evaluating it (None
    /// without a filter or when the selection was cached).
    pub estimated_matching: Option<usize>,
    /// Time spent choosing the strategy and schedule.
    pub plan_time: Duration,
    /// Total wall time.
    pub total: Duration,
}

impl Explain {
    /// The plan on one line: strategy, why, rows, schedule, estimate.
    pub fn summary(&self) -> String {
        let mut s = format!("strategy={}", self.strategy);
        if !self.reason.is_empty() {
            s.push_str(&format!(" ({})", self.reason));
        }
        s.push_str(&format!(" rows={} matching={}", self.rows, self.matching));
        if let Some(sc) = &self.schedule {
            let stages: Vec<String> = sc.stages.iter().map(|st| st.to_string()).collect();
            s.push_str(&format!(
                " nprobe={}{} stages=[{}]{}",
                sc.nprobe,
                adaptive(sc),
                stages.join(", "),
                shortlists(sc)
            ));
        }
        if let Some(r) = self.estimate {
            s.push_str(&format!(
                " estimated_recall={:.3} [{:.3}, {:.3}]",
                r.mean, r.lo, r.hi
            ));
            if self.tuned_on_queries {
                s.push_str(" tuned_on=queries");
            }
            if let Some(f) = self.estimate_filter {
                s.push_str(&format!(" under_random_filter={}", share(f)));
            }
            if let Some(p) = self.promised {
                s.push_str(&format!(" promised={p}"));
            }
        }
        if let Some(n) = self.estimated_matching {
            s.push_str(&format!(" estimated_matching={n}"));
        }
        if !self.stages.is_empty() && self.filter != FilterMode::None {
            s.push_str(&format!(
                " filter={} filter_time={:.3}ms plan_time={:.3}ms",
                self.filter.name(),
                self.filter_time.as_secs_f64() * 1e3,
                self.plan_time.as_secs_f64() * 1e3
            ));
        }
        s
    }
}

/// A share of rows as a percentage with two significant digits (`9.8%`, `0.10%`).
fn share(f: f64) -> String {
    let pct = f * 100.0;
    let digits = (1 - pct.abs().max(1e-9).log10().floor() as i32).max(0) as usize;
    format!("{pct:.digits$}%")
}

/// How an adaptive probe was set (its `nprobe` is the mean the tuner measured; the probe
/// stage of EXPLAIN ANALYZE shows what this query probed), or nothing.
fn adaptive(s: &Schedule) -> String {
    s.adaptive_slack().map_or_else(String::new, |slack| {
        let seeds = s.seeds();
        let plural = if seeds == 1 { "" } else { "s" };
        format!(" (mean; adaptive, {seeds} seed{plural}, slack {slack:.4})")
    })
}

/// How adaptive shortlists cut ([`Schedule::keep_slack`]), or nothing.
fn shortlists(s: &Schedule) -> String {
    s.keep_slack.map_or_else(String::new, |slack| {
        let cap = crate::index::KEEP_SLACK_CAP;
        let pct = slack * 100.0;
        format!(
            " (adaptive int8 shortlist: up to {cap}x keep within {pct:.0}% of the k-th distance)"
        )
    })
}

impl fmt::Display for Explain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "strategy: {} ({})", self.strategy, self.reason)?;
        writeln!(
            f,
            "rows: {}, matching the filter: {} (selectivity {:.4})",
            self.rows, self.matching, self.selectivity
        )?;
        if let Some(s) = &self.schedule {
            let stages: Vec<String> = s.stages.iter().map(|st| st.to_string()).collect();
            writeln!(
                f,
                "schedule: nprobe={}{} stages=[{}]{} k={}",
                s.nprobe,
                adaptive(s),
                stages.join(", "),
                shortlists(s),
                s.k
            )?;
        }
        if let Some(r) = self.estimate {
            writeln!(
                f,
                "estimated recall@k: {:.3} (95% interval {:.3}-{:.3}, {} held-out {}{})",
                r.mean,
                r.lo,
                r.hi,
                r.queries,
                if self.tuned_on_queries {
                    "tuning queries"
                } else {
                    "queries"
                },
                self.estimate_filter.map_or_else(String::new, |f| format!(
                    " under random filters keeping {} of the rows",
                    share(f)
                ))
            )?;
            if let Some(p) = self.promised {
                writeln!(f, "promised recall@k: {p}")?;
            }
        }
        if let Some(n) = self.estimated_matching {
            writeln!(f, "estimated before evaluating the filter: {n} rows")?;
        }
        if !self.stages.is_empty() && self.filter != FilterMode::None {
            writeln!(
                f,
                "filter: {:.3}ms ({}), plan: {:.3}ms",
                self.filter_time.as_secs_f64() * 1e3,
                match self.filter {
                    FilterMode::Cached => "cached selection",
                    FilterMode::InStage => "tested inside the first stage",
                    _ => "evaluated",
                },
                self.plan_time.as_secs_f64() * 1e3
            )?;
        }
        for s in &self.stages {
            writeln!(f, "  {s}")?;
        }
        if !self.stages.is_empty() {
            writeln!(f, "total: {:.3}ms", self.total.as_secs_f64() * 1e3)?;
        }
        Ok(())
    }
}
