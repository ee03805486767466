//! Reading a segment's zone maps (section `ZONES`, written by `encode::zones`): per zone of rows
//! (a partition of an indexed segment, a block of rows otherwise), each numeric column's and
//! each PATH column's ordinal minimum, maximum and NULL count. A filter leaf asks, zone by zone,
//! whether no row, every row or some rows can match, and scans only the last kind.

use std::ops::Range;

use nestdb_storage::container::{cast_slice, Container};
use nestdb_storage::sections;
use nestdb_storage::StorageError;

use super::CmpOp;

/// What a zone's bounds say about a predicate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Zone {
    /// No row of the zone is TRUE or UNKNOWN.
    None,
    /// Every row of the zone is TRUE.
    All,
    /// Rows must be tested.
    Scan,
}

/// The bounds of one zone of one column, decoded by the column's kind.
#[derive(Clone, Copy, Debug)]
pub struct Bounds {
    /// Minimum (raw bits: i64, f64 or u64 by kind).
    pub min: u64,
    /// Maximum (raw bits).
    pub max: u64,
    /// NULL (and NaN) rows.
    pub nulls: u32,
}

/// A segment's zone maps, read in place.
#[derive(Clone, Copy)]
pub struct ZoneMaps<'a> {
    bounds: &'a [u32],
    cols: &'a [u32],
    stats: &'a [u32],
    zones: usize,
}

impl<'a> ZoneMaps<'a> {
    /// The zone maps of `sidecar` (a segment of `rows` rows), if it has them.
    pub fn open(sidecar: &'a Container, rows: u32) -> Result<Option<ZoneMaps<'a>>, StorageError> {
        let Some(raw) = sidecar.section(sections::ZONES)? else {
            return Ok(None);
        };
        let words: &[u32] = cast_slice(raw);
        let bad = || {
            StorageError::corrupt(
                sidecar.path().display().to_string(),
                "zone map section is inconsistent",
            )
        };
        let (z, c) = match words {
            [z, c, ..] => (*z as usize, *c as usize),
            _ => return Err(bad()),
        };
        let need = c
            .checked_mul(z)
            .and_then(|cz| cz.checked_mul(6))
            .and_then(|x| x.checked_add(3 + z + 2 * c));
        if need != Some(words.len()) {
            return Err(bad());
        }
        // zones cover the rows exactly: a scan never reaches past them nor leaves rows out
        let bounds = &words[2..3 + z];
        if bounds.first() != Some(&0)
            || bounds.last() != Some(&rows)
            || bounds.windows(2).any(|w| w[0] > w[1])
        {
            return Err(bad());
        }
        let cols = &words[3 + z..3 + z + 2 * c];
        let stats = &words[3 + z + 2 * c..];
        Ok(Some(ZoneMaps {
            bounds,
            cols,
            stats,
            zones: z,
        }))
    }

    /// Rows of zone `z`.
    pub fn rows(&self, z: usize) -> Range<u32> {
        self.bounds[z]..self.bounds[z + 1]
    }

    /// The position of user column `col` among the zoned columns.
    pub fn column(&self, col: usize) -> Option<usize> {
        (0..self.cols.len() / 2).find(|&j| self.cols[2 * j] as usize == col)
    }

    /// Bounds of zoned column `j` in zone `z`.
    pub fn bounds(&self, j: usize, z: usize) -> Bounds {
        let at = (j * self.zones + z) * 6;
        let s = &self.stats[at..at + 6];
        let word = |i: usize| u64::from(s[i]) | (u64::from(s[i + 1]) << 32);
        Bounds {
            min: word(0),
            max: word(2),
            nulls: s[4],
        }
    }

    /// Per zone overlapping rows `window`, what `decide` says about column `col` (a [`Zone`],
    /// or for estimates a share of rows; None when the column is not zoned), with the zone's
    /// rows clipped to the window and counted from its start. A zone's verdict is about all its
    /// rows, so it holds for any part of them.
    pub fn decide<T>(
        &self,
        col: usize,
        window: Range<u32>,
        decide: impl Fn(Bounds, u32) -> T,
    ) -> Option<Vec<(Range<u32>, T)>> {
        self.fold(col, window, Vec::new(), |mut out, rows, b, zone_rows| {
            out.push((rows, decide(b, zone_rows)));
            out
        })
    }

    /// `decide`'s verdict on column `col` when every non-empty zone overlapping `window` gets
    /// the same one; None at the first zone that gets none (undecided) or a different one, when
    /// no zone has rows, or when `col` is not zoned.
    pub fn uniform<T: PartialEq>(
        &self,
        col: usize,
        window: Range<u32>,
        decide: impl Fn(Bounds, u32) -> Option<T>,
    ) -> Option<T> {
        let j = self.column(col)?;
        let mut seen: Option<T> = None;
        // an empty zone (an empty partition) holds no row to disagree about
        for (z, r) in self.overlapping(&window).filter(|(_, r)| r.start < r.end) {
            let v = decide(self.bounds(j, z), r.end - r.start)?;
            match &seen {
                Some(s) if *s != v => return None,
                Some(_) => {}
                None => seen = Some(v),
            }
        }
        seen
    }

    /// The zones overlapping `window` with their rows, in order (bounds are ascending, so the
    /// first is the first zone ending after the window's start).
    fn overlapping<'w>(
        &'w self,
        window: &'w Range<u32>,
    ) -> impl Iterator<Item = (usize, Range<u32>)> + 'w {
        let first = self.bounds[1..].partition_point(|&end| end <= window.start);
        (first..self.zones)
            .map(|z| (z, self.rows(z)))
            .take_while(|(_, r)| r.start < window.end)
    }

    /// Folds `f(acc, clipped rows, bounds, zone rows)` over the zones overlapping `window`, as
    /// [`ZoneMaps::decide`] visits them, without collecting them (estimates sum shares).
    pub fn fold<A>(
        &self,
        col: usize,
        window: Range<u32>,
        init: A,
        mut f: impl FnMut(A, Range<u32>, Bounds, u32) -> A,
    ) -> Option<A> {
        let j = self.column(col)?;
        let mut acc = init;
        for (z, r) in self.overlapping(&window) {
            let (a, b) = (r.start.max(window.start), r.end.min(window.end));
            acc = f(
                acc,
                a - window.start..b - window.start,
                self.bounds(j, z),
                r.end - r.start,
            );
        }
        Some(acc)
    }
}

/// What bounds `[min, max]` of a zone's non-NULL values, with `nulls` NULLs (or NaNs) among
/// `rows`, say about `value op x`. Predicates are monotone in the value, so the ends decide.
pub fn decide_cmp<T: PartialOrd + Copy>(
    min: T,
    max: T,
    nulls: u32,
    rows: u32,
    op: CmpOp,
    x: T,
) -> Zone {
    if rows == 0 {
        return Zone::None;
    }
    let values = nulls < rows;
    let (none, all) = match op {
        CmpOp::Eq => (x < min || x > max, min == x && max == x),
        CmpOp::Ne => (min == x && max == x, x < min || x > max),
        CmpOp::Lt => (min >= x, max < x),
        CmpOp::Le => (min > x, max <= x),
        CmpOp::Gt => (max <= x, min > x),
        CmpOp::Ge => (max < x, min >= x),
    };
    zone(nulls, !values || none, values && all)
}

/// A zone's verdict from whether no value and whether every value can match: only a zone
/// without NULLs is decided (NULL rows are UNKNOWN, which NOT turns into neither).
pub fn zone(nulls: u32, none: bool, all: bool) -> Zone {
    match (nulls, none, all) {
        (0, true, _) => Zone::None,
        (0, false, true) => Zone::All,
        _ => Zone::Scan,
    }
}

/// The share of a zone's non-NULL values in `[min, max]` for which `value op x` holds,
/// assuming them spread evenly over the range (an estimate for zones that must be scanned).
pub fn interpolate(min: i64, max: i64, op: CmpOp, x: i64) -> f64 {
    let (lo, hi, x) = (min as f64, max as f64, x as f64);
    let span = (hi - lo + 1.0).max(1.0);
    let share = match op {
        CmpOp::Eq => 1.0 / span,
        CmpOp::Ne => 1.0 - 1.0 / span,
        CmpOp::Lt => (x - lo) / span,
        CmpOp::Le => (x - lo + 1.0) / span,
        CmpOp::Gt => (hi - x) / span,
        CmpOp::Ge => (hi - x + 1.0) / span,
    };
    share.clamp(0.0, 1.0)
}
