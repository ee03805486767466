//! The one cost model the planner and the tuner share: estimated nanoseconds per query of each
//! kind of work, on one core with the data in memory.
//!
//! Calibrated with `nestdb-bench profile` on this codebase's AVX2/AVX-512 kernels at 384
//! dimensions: a centroid costs about 2 ns plus its dims / 10 (int8, streamed); a scanned row
//! of int8 codes about 1.5 ns plus dims / 40 (batched, streamed); a shortlisted candidate pays
//! a cache miss per region it reads (~40 ns for its mid codes, ~15 ns per Parquet band page)
//! plus the arithmetic; a row of an exact scan streams its full vector (dims / 5).

use crate::index::{IndexModel, Schedule, Stage};

/// The fixed cost of evaluating a filter on one window of a segment's rows (opening its label
/// dictionary, zone verdicts, allocations), in rows of evaluation: a few microseconds, measured
/// at 1M rows as about what 2,000 rows of a word-loop predicate cost.
pub const FILTER_WINDOW_ROWS: f64 = 2048.0;

/// Probing every centroid (int8).
pub fn probe(partitions: usize, coarse: usize) -> f64 {
    partitions as f64 * (2.0 + coarse as f64 / 10.0)
}

/// The first stage over `rows` rows of int8 codes.
pub fn scan(rows: f64, coarse: usize) -> f64 {
    rows * (1.5 + coarse as f64 / 40.0)
}

/// Keeping the best `cap` of `scanned` rows in a shortlist: a row enters it while it beats
/// the worst kept, about `cap * (1 + ln(scanned / cap))` times for rows in random order, each
/// about 25 ns with the selections and the final cut (measured at 40k rows: a first stage
/// keeping 160 instead of 40 of 5,711 rows took 12-14 us more per query).
pub fn shortlist(cap: f64, scanned: f64) -> f64 {
    let entered = if scanned <= cap || cap <= 0.0 {
        scanned
    } else {
        cap * (1.0 + (scanned / cap).ln())
    };
    entered * 25.0
}

/// Rescoring `cands` candidates with a stage.
pub fn rescore(cands: f64, stage: &Stage, model: &IndexModel, bands: &[(usize, usize)]) -> f64 {
    cands
        * match *stage {
            Stage::Bits { .. } => 30.0 + model.bits_bytes() as f64 / 8.0,
            Stage::Int8 { .. } => 30.0 + model.meta.coarse_dims as f64 / 16.0,
            Stage::Mid { .. } => 40.0 + model.meta.mid_dims as f64 / 16.0,
            Stage::F32 { bands: b, .. } => {
                let dims = bands.get(b.max(1) - 1).map_or(model.meta.dim, |r| r.1);
                15.0 * b as f64 + dims as f64 / 4.0
            }
        }
}

/// Scoring `cands` scattered rows exactly at full dimension (from the Parquet pages).
pub fn exact_rows(cands: f64, dim: usize, bands: usize) -> f64 {
    cands * (40.0 + 15.0 * bands as f64 + dim as f64 / 4.0)
}

/// A schedule's cost per query when its first stage scans `scanned` rows (probing included
/// unless it scans every selected row).
pub fn schedule(model: &IndexModel, s: &Schedule, scanned: f64, bands: &[(usize, usize)]) -> f64 {
    let mut c = if s.scan_all {
        0.0
    } else {
        probe(model.meta.partitions, model.meta.coarse_dims)
    };
    c += scan(scanned, model.meta.coarse_dims);
    let first = super::probe::first_of(s, s.k);
    let cut = s.first_cut(&first);
    c += shortlist(cut.cap as f64, scanned);
    // an adaptive first stage passes on what it kept on the tuning sample, on the mean
    let kept = cut.keep as f64 * f64::from(s.kept_ratio.unwrap_or(1.0).max(1.0));
    let mut incoming = s
        .stages
        .first()
        .map_or(scanned, |_| kept.min(cut.cap as f64).min(scanned));
    for st in s.stages.iter().skip(1) {
        c += rescore(incoming, st, model, bands);
        incoming = incoming.min(st.keep() as f64);
    }
    c + exact_rows(incoming, model.meta.dim, bands.len())
}
