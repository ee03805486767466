//! Comparisons of a BIGINT or TIMESTAMP column with constants as one closed interval: an
//! AND's comparisons of one column are fused (`id >= lo AND id < hi` scans the column once
//! instead of twice, and is estimated as a range, the share of values between `lo` and `hi`,
//! not as the product of two independent halves), and a single comparison (`id >= lo`,
//! `id = x`) is an interval too, so either finds few rows through the column's value order
//! rather than a scan of every value.
//!
//! Under three-valued logic the fusion is exact: on a non-NULL row every comparison is TRUE
//! or FALSE, and their AND is TRUE exactly when the value lies in every interval; on a NULL
//! row every comparison is UNKNOWN, and so is their AND.

use nestdb_storage::ColumnType;

use super::bits::Bits;
use super::ctx::{Ctx, Source};
use super::leaf::{int_literal, ints};
use super::scan::{run, tri_word, valid_word, valid_words, word_of, Tri};
use super::zones::{zone, Bounds, Zone};
use super::{CmpOp, Filter, Value};
use crate::error::Result;

/// `lo <= column <= hi` (empty when `lo > hi`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IntRange {
    /// The column's index in the schema.
    pub col: usize,
    /// Smallest value kept.
    pub lo: i64,
    /// Largest value kept.
    pub hi: i64,
}

/// One part of an AND after fusion.
pub enum Part<'f> {
    /// A part left as it was.
    Filter(&'f Filter),
    /// Two or more comparisons of one integer column.
    Range(IntRange),
}

/// Splits an AND's `parts` into ranges (one per BIGINT or TIMESTAMP column compared with a
/// constant by `=`, `<`, `<=`, `>` or `>=`, once or several times, fused) and the parts left
/// as they were.
pub fn fuse<'f>(parts: &'f [Filter], cx: &Ctx<'_>) -> Vec<Part<'f>> {
    let mut ranges: Vec<IntRange> = Vec::new();
    let mut out: Vec<Part<'f>> = Vec::new();
    for p in parts {
        match interval(p, cx) {
            Some(b) => match ranges.iter_mut().find(|r| r.col == b.col) {
                Some(r) => {
                    r.lo = r.lo.max(b.lo);
                    r.hi = r.hi.min(b.hi);
                }
                None => ranges.push(b),
            },
            None => out.push(Part::Filter(p)),
        }
    }
    out.extend(ranges.into_iter().map(Part::Range));
    out
}

/// `part` as a range when it compares an integer column with a constant by `=`, `<`, `<=`,
/// `>` or `>=` (a literal the column cannot take stays a leaf, which reports it).
pub fn interval(part: &Filter, cx: &Ctx<'_>) -> Option<IntRange> {
    let Filter::Cmp { column, op, value } = part else {
        return None;
    };
    let col = cx.schema.index_of(column)?;
    let ty = cx.ty(col);
    if !matches!(ty, ColumnType::Int64 | ColumnType::Timestamp) || matches!(value, Value::Null) {
        return None;
    }
    // a literal the column cannot take stays a leaf of its own, which reports it
    let x = int_literal(ty, value).ok()?;
    let empty = (i64::MAX, i64::MIN);
    let (lo, hi) = match op {
        CmpOp::Eq => (x, x),
        CmpOp::Ne => return None,
        CmpOp::Lt => x.checked_sub(1).map_or(empty, |h| (i64::MIN, h)),
        CmpOp::Le => (i64::MIN, x),
        CmpOp::Gt => x.checked_add(1).map_or(empty, |l| (l, i64::MAX)),
        CmpOp::Ge => (x, i64::MAX),
    };
    Some(IntRange { col, lo, hi })
}

/// Up to this estimated share of a segment's rows, a range finds its rows through the
/// column's value order ([`by_order`]) instead of testing every value. The scan reads 8 bytes
/// of every row; the order reads 4 bytes of every kept row and sets its bit in a bitset of the
/// segment (12.5 KB for 100,000 rows, in cache). At 1M rows (clustered by partition, so the
/// zone maps of an id column skip nothing) a 10% id range took 0.79 ms of filter per query by
/// scan and 0.38 ms through the order, with no difference between 1/4 and 1/2
/// (`benchmarks.md`, stop 34).
pub const ORDER_SHARE: f64 = 1.0 / 4.0;

/// Evaluates `r` on the rows of `care` (every row when None): through the column's value
/// order when it is estimated to keep few rows of a whole segment, else by a scan that skips
/// the zones its bounds decide.
pub fn eval(cx: &Ctx<'_>, care: Option<&Bits>, r: IntRange) -> Result<Tri> {
    if zone_estimate(cx, r).is_some_and(|e| e <= ORDER_SHARE) {
        if let Some(t) = by_order(cx, care, r)? {
            return Ok(t);
        }
    }
    scan(cx, care, r)
}

/// What the zone maps alone say about `r` on every row of `cx`'s window ([`Ctx::uniform`]).
pub fn verdict(cx: &Ctx<'_>, r: IntRange) -> Option<Zone> {
    cx.uniform(r.col, |b, rows| decide(r, b, rows))
}

/// `r` by a scan of the column's values (the zones its bounds decide are skipped).
pub fn scan(cx: &Ctx<'_>, care: Option<&Bits>, r: IntRange) -> Result<Tri> {
    let ty = cx.ty(r.col);
    let arr = cx.column(r.col)?;
    let n = cx.n;
    let valid = valid_words(arr.as_ref());
    let valid = valid.as_deref();
    let vals = ints(&arr, ty);
    let zones = cx.decide(r.col, |b: Bounds, rows| decide(r, b, rows));
    // `lo <= v <= hi` as one unsigned comparison (an empty range keeps nothing)
    let (lo, span) = (r.lo, r.hi.wrapping_sub(r.lo) as u64);
    let empty = r.lo > r.hi;
    Ok(run(n, care, zones, |wi| {
        let hit = match empty {
            true => 0,
            false => word_of(vals, wi, |v: i64| (v.wrapping_sub(lo) as u64) <= span),
        };
        tri_word(hit, valid_word(valid, wi, n), valid_word(None, wi, n))
    }))
}

/// `r` through the value order of a whole segment's column (None for unflushed rows and for
/// a window of a segment): two binary searches, then one bit per kept row; NULL rows are
/// UNKNOWN. The order (non-NULL offsets by ascending value) is built on the segment's first
/// such range and kept with it (`Segment::row_order`, 4 bytes a row).
pub fn by_order(cx: &Ctx<'_>, care: Option<&Bits>, r: IntRange) -> Result<Option<Tri>> {
    let Source::Segment(seg) = cx.src else {
        return Ok(None);
    };
    if cx.windowed() {
        return Ok(None);
    }
    let arr = cx.column(r.col)?;
    let vals = ints(&arr, cx.ty(r.col));
    let valid = valid_words(arr.as_ref());
    let order = seg.row_order(r.col, || value_order(vals, valid.as_deref()));
    let mut t = Bits::zeros(cx.n);
    if r.lo <= r.hi {
        let a = order.partition_point(|&o| vals[o as usize] < r.lo);
        let b = a + order[a..].partition_point(|&o| vals[o as usize] <= r.hi);
        order[a..b].iter().for_each(|&o| t.insert(o));
    }
    let mut u = Bits::zeros(cx.n);
    if let Some(v) = &valid {
        for (wi, w) in u.words_mut().iter_mut().enumerate() {
            *w = !valid_word(Some(v), wi, cx.n) & valid_word(None, wi, cx.n);
        }
    }
    if let Some(c) = care {
        t.and(c);
        u.and(c);
    }
    Ok(Some(Tri { t, u }))
}

/// Offsets of the rows `valid` marks (every row when None), in ascending order of value and
/// then of offset.
fn value_order(vals: &[i64], valid: Option<&[u64]>) -> Vec<u32> {
    let is_valid = |i: usize| valid.is_none_or(|v| v[i / 64] >> (i % 64) & 1 == 1);
    let mut o: Vec<u32> = (0..vals.len())
        .filter(|&i| is_valid(i))
        .map(|i| i as u32)
        .collect();
    o.sort_unstable_by_key(|&i| (vals[i as usize], i));
    o
}

/// What a zone's bounds say about `r`.
fn decide(r: IntRange, b: Bounds, rows: u32) -> Zone {
    let (min, max) = (b.min as i64, b.max as i64);
    let none = rows == 0 || b.nulls == rows || r.lo > r.hi || max < r.lo || min > r.hi;
    zone(b.nulls, none, min >= r.lo && max <= r.hi)
}

/// The estimated share of rows where `r` is TRUE or UNKNOWN, from the zone maps (zones the
/// bounds do not decide count the share of their value range inside `r`, NULL rows count as
/// UNKNOWN); without zone maps a fixed guess, a half for one comparison (`r` open at one end)
/// and a quarter for a range closed at both.
pub fn estimate(cx: &Ctx<'_>, r: IntRange) -> f64 {
    let one_sided = r.lo == i64::MIN || r.hi == i64::MAX;
    zone_estimate(cx, r).unwrap_or(if one_sided { 0.5 } else { 0.25 })
}

/// `r`'s share of the rows from the column's zone maps; None without them (then nothing says
/// how many rows a range keeps, and [`eval`] scans).
fn zone_estimate(cx: &Ctx<'_>, r: IntRange) -> Option<f64> {
    cx.zone_share(r.col, |b: Bounds, rows| match decide(r, b, rows) {
        Zone::None => 0.0,
        Zone::All => 1.0,
        _ if b.nulls == rows => 1.0,
        _ => {
            let valid = f64::from(rows - b.nulls) / f64::from(rows.max(1));
            valid * overlap(b.min as i64, b.max as i64, r) + (1.0 - valid)
        }
    })
}

/// The share of `[min, max]` inside `r`, values taken as evenly spread.
fn overlap(min: i64, max: i64, r: IntRange) -> f64 {
    let (a, b) = (r.lo.max(min) as f64, r.hi.min(max) as f64);
    let span = (max as f64 - min as f64 + 1.0).max(1.0);
    ((b - a + 1.0) / span).clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(lo: i64, hi: i64) -> IntRange {
        IntRange { col: 0, lo, hi }
    }

    #[test]
    fn zones_inside_outside_and_across_the_range_are_decided() {
        let b = |min: i64, max: i64, nulls| Bounds {
            min: min as u64,
            max: max as u64,
            nulls,
        };
        assert_eq!(decide(r(10, 20), b(12, 18, 0), 8), Zone::All);
        assert_eq!(decide(r(10, 20), b(21, 30, 0), 8), Zone::None);
        assert_eq!(decide(r(10, 20), b(0, 9, 0), 8), Zone::None);
        assert_eq!(decide(r(10, 20), b(5, 15, 0), 8), Zone::Scan);
        // NULL rows are UNKNOWN: such a zone is never decided
        assert_eq!(decide(r(10, 20), b(12, 18, 1), 8), Zone::Scan);
        assert_eq!(decide(r(10, 20), b(21, 30, 1), 8), Zone::Scan);
        // an empty range keeps nothing
        assert_eq!(decide(r(5, 4), b(0, 9, 0), 8), Zone::None);
        assert_eq!(decide(r(i64::MIN, -1), b(-5, -5, 0), 1), Zone::All);
    }

    #[test]
    fn overlap_is_the_share_of_the_zone_range() {
        assert_eq!(overlap(0, 99, r(0, 49)), 0.5);
        assert_eq!(overlap(0, 99, r(200, 300)), 0.0);
        assert_eq!(overlap(0, 99, r(i64::MIN, i64::MAX)), 1.0);
        assert_eq!(overlap(0, 99, r(60, 40)), 0.0);
    }
}
