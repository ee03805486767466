//! What a search did, stage by stage (EXPLAIN / EXPLAIN ANALYZE).

use std::fmt;
use std::time::Duration;

use crate::index::Schedule;

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

    /// Records the stage `f` describes, if recording.
    #[inline]
    pub fn push(&mut self, f: impl FnOnce() -> StageStats) {
        if self.on {
            self.stages.push(f());
        }
    }
}

/// A search plan and, after execution, what each stage did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Explain {
    /// `funnel`, `exact`, or `exact (filtered)`.
    pub strategy: String,
    /// Why this strategy was chosen.
    pub reason: String,
    /// The schedule used by a funnel.
    pub schedule: Option<Schedule>,
    /// The recall the schedule measured when it was tuned.
    pub estimated_recall: Option<f32>,
    /// Rows in the table version.
    pub rows: usize,
    /// Live rows the filter keeps (all rows without a filter).
    pub matching: usize,
    /// Fraction of rows the filter keeps (1.0 without a filter).
    pub selectivity: f64,
    /// Per-stage statistics (empty for a plain EXPLAIN).
    pub stages: Vec<StageStats>,
    /// Total wall time.
    pub total: Duration,
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
                "schedule: nprobe={} stages=[{}] k={}",
                s.nprobe,
                stages.join(", "),
                s.k
            )?;
        }
        if let Some(r) = self.estimated_recall {
            writeln!(f, "estimated recall@k: {r:.3}")?;
        }
        for s in &self.stages {
            writeln!(
                f,
                "  {:<16} in={:<8} out={:<8} rows={:<8} bytes={:<10} time={:.3}ms",
                s.name,
                s.candidates_in,
                s.candidates_out,
                s.rows_touched,
                s.bytes_touched,
                s.time.as_secs_f64() * 1e3
            )?;
        }
        if !self.stages.is_empty() {
            writeln!(f, "total: {:.3}ms", self.total.as_secs_f64() * 1e3)?;
        }
        Ok(())
    }
}
