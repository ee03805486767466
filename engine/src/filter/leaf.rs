//! Filter leaves over one source: comparisons, IN lists, IS NULL, LIKE and the PATH operators,
//! each a word loop (`scan::run`) over an Arrow column, a label ordinal column or a label's
//! postings, skipping zones whose bounds decide the answer and words the caller no longer needs.

use std::collections::HashSet;
use std::ops::Range;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type, TimestampMicrosecondType};
use arrow_array::{Array, ArrayRef};
use nestdb_storage::{label, ColumnType};

use super::bits::Bits;
use super::ctx::Ctx;
use super::labels::LabelIndex;
use super::scan::{run, tri_word, valid_word, valid_words, word_of, Tri};
use super::zones::{decide_cmp, zone, Bounds, Zone};
use super::{CmpOp, Value};
use crate::encode::labels::NULL_ORDINAL;
use crate::error::{QueryError, Result};

/// Expands `$body` once per operator with `$p` bound to `|v| conv(v) op x`.
macro_rules! with_op {
    ($op:expr, $x:expr, |$v:ident: $t:ty| $conv:expr, $p:ident => $body:expr) => {{
        let x = $x;
        match $op {
            CmpOp::Eq => {
                let $p = move |$v: $t| $conv == x;
                $body
            }
            CmpOp::Ne => {
                let $p = move |$v: $t| $conv != x;
                $body
            }
            CmpOp::Lt => {
                let $p = move |$v: $t| $conv < x;
                $body
            }
            CmpOp::Le => {
                let $p = move |$v: $t| $conv <= x;
                $body
            }
            CmpOp::Gt => {
                let $p = move |$v: $t| $conv > x;
                $body
            }
            CmpOp::Ge => {
                let $p = move |$v: $t| $conv >= x;
                $body
            }
        }
    }};
}

fn bad(ty: &ColumnType, v: &Value) -> crate::Error {
    QueryError::Filter(format!(
        "cannot compare a {} column with {v}",
        ty.sql_name()
    ))
    .into()
}

/// The i64 values of a BIGINT or TIMESTAMP column.
pub(super) fn ints<'a>(arr: &'a ArrayRef, ty: &ColumnType) -> &'a [i64] {
    if *ty == ColumnType::Int64 {
        arr.as_primitive::<Int64Type>().values()
    } else {
        arr.as_primitive::<TimestampMicrosecondType>().values()
    }
}

/// A literal as an i64 of a BIGINT or TIMESTAMP column (validation admits no other).
pub(super) fn int_literal(ty: &ColumnType, v: &Value) -> Result<i64> {
    match v {
        Value::Int(x) => Ok(*x),
        Value::Str(s) if *ty == ColumnType::Timestamp => {
            super::eval::parse_timestamp(s).ok_or_else(|| bad(ty, v))
        }
        _ => Err(bad(ty, v)),
    }
}

/// A numeric comparison's literal as the zone maps compare it.
#[derive(Clone, Copy)]
enum ZoneLit {
    Int(i64),
    Float(f64),
}

/// `v` as a zone maps' literal for a column of type `ty` (None for other types, or a literal
/// the leaf will refuse).
fn zone_literal(ty: &ColumnType, v: &Value) -> Option<ZoneLit> {
    match (ty, v) {
        (ColumnType::Int64 | ColumnType::Timestamp, _) => int_literal(ty, v).ok().map(ZoneLit::Int),
        (ColumnType::Float64, Value::Int(i)) => Some(ZoneLit::Float(*i as f64)),
        (ColumnType::Float64, Value::Float(f)) => Some(ZoneLit::Float(*f)),
        _ => None,
    }
}

/// What a zone's bounds say about `value op lit`.
fn decide_lit(lit: ZoneLit, op: CmpOp, b: Bounds, rows: u32) -> Zone {
    match lit {
        ZoneLit::Int(x) => decide_cmp(b.min as i64, b.max as i64, b.nulls, rows, op, x),
        ZoneLit::Float(x) => {
            let (lo, hi) = (f64::from_bits(b.min), f64::from_bits(b.max));
            decide_cmp(lo, hi, b.nulls, rows, op, x)
        }
    }
}

/// What the zone maps alone say about `column op value` on every row of `cx`'s window: `All`
/// (TRUE on each), `None` (FALSE on each), or None when they do not decide all rows alike (or
/// the column is not numeric, or not zoned). An AND skips a part that is TRUE everywhere.
pub fn cmp_verdict(cx: &Ctx<'_>, col: usize, op: CmpOp, v: &Value) -> Option<Zone> {
    let lit = zone_literal(cx.ty(col), v)?;
    cx.uniform(col, |b, rows| decide_lit(lit, op, b, rows))
}

/// `column op value` (value not NULL, column not PATH equality).
pub fn cmp(cx: &Ctx<'_>, care: Option<&Bits>, col: usize, op: CmpOp, v: &Value) -> Result<Tri> {
    let ty = cx.ty(col);
    let arr = cx.column(col)?;
    let n = cx.n;
    let valid = valid_words(arr.as_ref());
    let valid = valid.as_deref();
    match ty {
        ColumnType::Int64 | ColumnType::Timestamp => {
            let vals = ints(&arr, ty);
            let x = int_literal(ty, v)?;
            let zones = cx.decide(col, |b, rows| decide_lit(ZoneLit::Int(x), op, b, rows));
            Ok(with_op!(op, x, |v: i64| v, p => run(n, care, zones, |wi| {
                tri_word(word_of(vals, wi, p), valid_word(valid, wi, n), valid_word(None, wi, n))
            })))
        }
        ColumnType::Float64 => {
            let x = match v {
                Value::Int(i) => *i as f64,
                Value::Float(f) => *f,
                _ => return Err(bad(ty, v)),
            };
            let vals: &[f64] = arr.as_primitive::<Float64Type>().values();
            let zones = cx.decide(col, |b, rows| decide_lit(ZoneLit::Float(x), op, b, rows));
            // NaN compares UNKNOWN, like NULL
            Ok(with_op!(op, x, |v: f64| v, p => run(n, care, zones, |wi| {
                let nan = word_of(vals, wi, |v: f64| v.is_nan());
                tri_word(word_of(vals, wi, p), valid_word(valid, wi, n) & !nan, valid_word(None, wi, n))
            })))
        }
        ColumnType::Utf8 | ColumnType::Path => {
            let Value::Str(x) = v else {
                return Err(bad(ty, v));
            };
            let x = if *ty == ColumnType::Path {
                norm_label(v)
            } else {
                x.clone()
            };
            let s = arr.as_string::<i32>();
            Ok(rows(n, care, |r| {
                (!s.is_null(r)).then(|| op.test(s.value(r).cmp(x.as_str())))
            }))
        }
        ColumnType::Boolean => {
            let Value::Bool(x) = v else {
                return Err(bad(ty, v));
            };
            let b = arr.as_boolean();
            Ok(rows(n, care, |r| {
                (!b.is_null(r)).then(|| op.test(b.value(r).cmp(x)))
            }))
        }
        _ => Err(bad(ty, v)),
    }
}

/// `column IN (values)` (NULL literals already taken out by the caller).
pub fn in_list(cx: &Ctx<'_>, care: Option<&Bits>, col: usize, values: &[Value]) -> Result<Tri> {
    let ty = cx.ty(col);
    if *ty == ColumnType::Path {
        return in_labels(cx, care, col, values);
    }
    let arr = cx.column(col)?;
    let valid = valid_words(arr.as_ref());
    let valid = valid.as_deref();
    match ty {
        ColumnType::Int64 | ColumnType::Timestamp => in_ints(cx, care, col, &arr, valid, values),
        ColumnType::Float64 => in_floats(cx, care, col, &arr, valid, values),
        ColumnType::Utf8 => in_strs(cx, care, col, &arr, values),
        ColumnType::Boolean => in_bools(cx, care, col, &arr, values),
        _ => Err(bad(ty, &values[0])),
    }
}

/// IN over a PATH column: rows whose label is one of `values` (not their descendants).
fn in_labels(cx: &Ctx<'_>, care: Option<&Bits>, col: usize, values: &[Value]) -> Result<Tri> {
    let want: Vec<String> = values.iter().map(norm_label).collect();
    labels(
        cx,
        care,
        col,
        |ix| {
            want.iter()
                .filter_map(|l| ix.find(l).map(|i| i..i + 1))
                .collect()
        },
        |l| want.iter().any(|w| w == l),
    )
}

/// IN over a BIGINT or TIMESTAMP column `arr`, skipping zones whose bounds decide it.
fn in_ints(
    cx: &Ctx<'_>,
    care: Option<&Bits>,
    col: usize,
    arr: &ArrayRef,
    valid: Option<&[u64]>,
    values: &[Value],
) -> Result<Tri> {
    let (ty, n) = (cx.ty(col), cx.n);
    let vals = ints(arr, ty);
    let mut want = Vec::new();
    for v in values {
        want.push(int_literal(ty, v)?);
    }
    want.sort_unstable();
    want.dedup();
    let zones = cx.decide(col, |b: Bounds, rows| {
        let (lo, hi) = (b.min as i64, b.max as i64);
        let none = want.iter().all(|x| *x < lo || *x > hi);
        zone(
            b.nulls,
            none || b.nulls == rows,
            lo == hi && want.contains(&lo),
        )
    });
    let hit = |v: i64| want.binary_search(&v).is_ok();
    Ok(run(n, care, zones, |wi| {
        tri_word(
            word_of(vals, wi, hit),
            valid_word(valid, wi, n),
            valid_word(None, wi, n),
        )
    }))
}

/// IN over a DOUBLE column `arr`; NaN is UNKNOWN, like NULL.
fn in_floats(
    cx: &Ctx<'_>,
    care: Option<&Bits>,
    col: usize,
    arr: &ArrayRef,
    valid: Option<&[u64]>,
    values: &[Value],
) -> Result<Tri> {
    let n = cx.n;
    let mut want = Vec::new();
    for v in values {
        match v {
            Value::Int(i) => want.push(*i as f64),
            Value::Float(f) => want.push(*f),
            _ => return Err(bad(cx.ty(col), v)),
        }
    }
    let vals: &[f64] = arr.as_primitive::<Float64Type>().values();
    Ok(run(n, care, None, |wi| {
        let nan = word_of(vals, wi, |v: f64| v.is_nan());
        let hit = word_of(vals, wi, |v: f64| want.contains(&v));
        tri_word(
            hit,
            valid_word(valid, wi, n) & !nan,
            valid_word(None, wi, n),
        )
    }))
}

/// IN over a TEXT column `arr`, row by row.
fn in_strs(
    cx: &Ctx<'_>,
    care: Option<&Bits>,
    col: usize,
    arr: &ArrayRef,
    values: &[Value],
) -> Result<Tri> {
    let mut want = HashSet::new();
    for v in values {
        match v {
            Value::Str(s) => want.insert(s.as_str()),
            _ => return Err(bad(cx.ty(col), v)),
        };
    }
    let s = arr.as_string::<i32>();
    Ok(rows(cx.n, care, |r| {
        (!s.is_null(r)).then(|| want.contains(s.value(r)))
    }))
}

/// IN over a BOOLEAN column `arr`, row by row.
fn in_bools(
    cx: &Ctx<'_>,
    care: Option<&Bits>,
    col: usize,
    arr: &ArrayRef,
    values: &[Value],
) -> Result<Tri> {
    let mut want = [false; 2];
    for v in values {
        match v {
            Value::Bool(x) => want[usize::from(*x)] = true,
            _ => return Err(bad(cx.ty(col), v)),
        }
    }
    let b = arr.as_boolean();
    Ok(rows(cx.n, care, |r| {
        (!b.is_null(r)).then(|| want[usize::from(b.value(r))])
    }))
}

/// `column IS [NOT] NULL`: never UNKNOWN.
pub fn is_null(cx: &Ctx<'_>, care: Option<&Bits>, col: usize, negated: bool) -> Result<Tri> {
    let arr = cx.column(col)?;
    let valid = valid_words(arr.as_ref());
    let n = cx.n;
    Ok(run(n, care, None, |wi| {
        let rows = valid_word(None, wi, n);
        let v = valid_word(valid.as_deref(), wi, n);
        (if negated { v } else { rows & !v }, 0)
    }))
}

/// `column [NOT] LIKE pattern`, row by row.
pub fn like(
    cx: &Ctx<'_>,
    care: Option<&Bits>,
    col: usize,
    pattern: &str,
    negated: bool,
) -> Result<Tri> {
    let arr = cx.column(col)?;
    let s = arr.as_string::<i32>();
    Ok(rows(cx.n, care, |r| {
        (!s.is_null(r)).then(|| super::eval::like(s.value(r), pattern) != negated)
    }))
}

/// Row by row over the rows `care` keeps: `f(row)` is None for UNKNOWN.
fn rows(n: u32, care: Option<&Bits>, mut f: impl FnMut(usize) -> Option<bool>) -> Tri {
    run(n, care, None, |wi| {
        let (mut t, mut u) = (0u64, 0u64);
        let want = care.map_or(u64::MAX, |c| c.words()[wi]) & valid_word(None, wi, n);
        let mut w = want;
        while w != 0 {
            let j = w.trailing_zeros();
            match f(wi * 64 + j as usize) {
                Some(true) => t |= 1 << j,
                Some(false) => {}
                None => u |= 1 << j,
            }
            w &= w - 1;
        }
        (t, u)
    })
}

/// A label normalized as stored (`a/b`), or the literal's text.
pub fn norm_label(v: &Value) -> String {
    match v {
        Value::Str(s) => label::normalize(s)
            .map(|l| l.into_owned())
            .unwrap_or_else(|_| s.clone()),
        other => other.to_string(),
    }
}

/// A PATH predicate that holds on the labels `ids` picks from the segment's dictionary (a
/// union of id ranges), or, without a dictionary, on the rows whose label passes `row`.
pub fn labels(
    cx: &Ctx<'_>,
    care: Option<&Bits>,
    col: usize,
    ids: impl Fn(&LabelIndex<'_>) -> Vec<Range<usize>>,
    row: impl Fn(&str) -> bool,
) -> Result<Tri> {
    let n = cx.n;
    let Some(ix) = cx.labels(col)? else {
        let arr = cx.column(col)?;
        let s = arr.as_string::<i32>();
        return Ok(rows(n, care, |r| (!s.is_null(r)).then(|| row(s.value(r)))));
    };
    let ranges = ids(&ix);
    let hits: usize = ranges.iter().map(|r| ix.rows(r.clone()).len()).sum();
    let unlabelled = ix.rows(0..ix.len()).len() as u32 != cx.source_rows;
    // testing an ordinal costs about as much as setting a posting's bit (measured), so the
    // ordinal column wins only when the caller's mask leaves fewer rows than the postings
    let scan_cost = care.map_or(n as usize, |c| {
        64 * c.words().iter().filter(|&&w| w != 0).count()
    });
    if let ([r], true) = (ranges.as_slice(), scan_cost < hits) {
        if let Some(ords) = cx.ordinals(col)? {
            return Ok(ordinal_range(cx, care, col, ords, r.clone(), unlabelled));
        }
    }
    // postings are rows of the source; the window's are `base..base + n`
    let base = cx.base;
    let mut t = Bits::zeros(n);
    for r in ranges {
        for &off in ix.rows(r) {
            let o = off.wrapping_sub(base);
            if o < n {
                t.insert(o);
            }
        }
    }
    let mut u = Bits::zeros(n);
    if unlabelled {
        u = Bits::ones(n);
        for &off in ix.rows(0..ix.len()) {
            let o = off.wrapping_sub(base);
            if o < n {
                u.remove(o);
            }
        }
    }
    if let Some(c) = care {
        t.and(c);
        u.and(c);
    }
    Ok(Tri { t, u })
}

/// Rows whose label ordinal is in `r` (a subtree), with the ordinal zones skipping partitions.
fn ordinal_range(
    cx: &Ctx<'_>,
    care: Option<&Bits>,
    col: usize,
    ords: &[u32],
    r: Range<usize>,
    unlabelled: bool,
) -> Tri {
    let (lo, span) = (r.start as u32, (r.end - r.start) as u32);
    let zones = cx.decide(col, |b: Bounds, rows| {
        let (min, max) = (b.min, b.max);
        let none = b.nulls == rows || max < lo as u64 || min >= r.end as u64;
        zone(b.nulls, none, min >= lo as u64 && max < r.end as u64)
    });
    run(cx.n, care, zones, |wi| {
        let hit = word_of(ords, wi, |o: u32| o.wrapping_sub(lo) < span);
        let null = if unlabelled {
            word_of(ords, wi, |o: u32| o == NULL_ORDINAL)
        } else {
            0
        };
        (hit, null)
    })
}
