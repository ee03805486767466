//! Evaluating filters per source into dense bitsets under SQL's three-valued logic: each
//! predicate yields the rows where it is TRUE and the rows where it is UNKNOWN (NULL).
//!
//! No bitmap is built that the answer does not need: an AND evaluates its most selective part
//! first (estimated from label postings and zone maps) and every later part only on the rows
//! still alive (`care`); leaves skip zones whose bounds decide them (`leaf`, `scan`).

use std::ops::Range;

use nestdb_storage::{label, ColumnType, TableSchema, TableVersion};

use super::bits::Bits;
use super::ctx::{Ctx, Source};
use super::labels::LabelIndex;
use super::leaf;
use super::range::{self, Part};
use super::scan::Tri;
use super::selection::{RowSet, Selection};
use super::zones::{decide_cmp, interpolate, Bounds, Zone};
use super::{CmpOp, Filter, Value};
use crate::error::{QueryError, Result};

/// Evaluates `f` on the rows of `care` (every row when None); the result lies within `care`.
fn eval_in(f: &Filter, cx: &Ctx<'_>, care: Option<&Bits>) -> Result<Tri> {
    let n = cx.n;
    match f {
        Filter::Const(true) => Ok(Tri::all(n, care)),
        Filter::Const(false) => Ok(Tri::none(n)),
        Filter::And(parts) => eval_and(parts, cx, care),
        Filter::Or(parts) => {
            let mut acc = Tri::none(n);
            for p in parts {
                let x = eval_in(p, cx, care)?;
                acc.t.or(&x.t);
                acc.u.or(&x.u);
            }
            acc.u.and_not(&acc.t);
            Ok(acc)
        }
        Filter::Not(x) => {
            let x = eval_in(x, cx, care)?;
            let mut t = care.cloned().unwrap_or_else(|| Bits::ones(n));
            t.and_not(&x.t);
            t.and_not(&x.u);
            Ok(Tri { t, u: x.u })
        }
        Filter::Descendant { column, label } => {
            let col = index(cx.schema, column)?;
            leaf::labels(
                cx,
                care,
                col,
                |ix| vec![ix.subtree(label)],
                |l| label::is_descendant(l, label),
            )
        }
        Filter::Ancestor { column, label } => {
            let col = index(cx.schema, column)?;
            leaf::labels(
                cx,
                care,
                col,
                |ix| ancestor_ids(ix, label),
                |l| label::is_descendant(label, l),
            )
        }
        // a NaN literal compares UNKNOWN with every row, like NULL
        Filter::Cmp { value, column, .. } if is_null(value) => {
            index(cx.schema, column)?;
            Ok(Tri {
                t: Bits::zeros(n),
                u: care.cloned().unwrap_or_else(|| Bits::ones(n)),
            })
        }
        Filter::Cmp { column, op, value } => {
            let col = index(cx.schema, column)?;
            if *cx.ty(col) == ColumnType::Path && *op == CmpOp::Eq {
                let l = leaf::norm_label(value);
                return leaf::labels(
                    cx,
                    care,
                    col,
                    |ix| ix.find(&l).map(|id| id..id + 1).into_iter().collect(),
                    |x| x == l,
                );
            }
            leaf::cmp(cx, care, col, *op, value)
        }
        Filter::In {
            column,
            values,
            negated,
        } => eval_list(cx, care, column, values, *negated),
        Filter::IsNull { column, negated } => {
            leaf::is_null(cx, care, index(cx.schema, column)?, *negated)
        }
        Filter::Like {
            column,
            pattern,
            negated,
        } => leaf::like(cx, care, index(cx.schema, column)?, pattern, *negated),
    }
}

/// `AND` of `parts`, most selective first, each later part only where the result can still be
/// TRUE or UNKNOWN; stops once nothing is left.
fn eval_and(parts: &[Filter], cx: &Ctx<'_>, care: Option<&Bits>) -> Result<Tri> {
    let mut order: Vec<(f64, Part<'_>)> = range::fuse(parts, cx)
        .into_iter()
        .map(|p| (part_estimate(&p, cx), p))
        .collect();
    order.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut acc = Tri::all(cx.n, care);
    for (i, (_, p)) in order.into_iter().enumerate() {
        let mut alive = acc.t.clone();
        alive.or(&acc.u);
        if alive.is_empty() {
            break;
        }
        let x = match p {
            Part::Filter(f) => eval_in(f, cx, Some(&alive))?,
            Part::Range(r) => range::eval(cx, Some(&alive), r)?,
        };
        if i == 0 {
            acc = x;
            continue;
        }
        // TRUE and TRUE is TRUE; UNKNOWN where both may hold but not both are TRUE
        let mut maybe = x.t.clone();
        maybe.or(&x.u);
        maybe.and(&alive);
        acc.t.and(&x.t);
        maybe.and_not(&acc.t);
        acc.u = maybe;
    }
    Ok(acc)
}

/// `column [NOT] IN (values)`: a NULL in the list makes every non-matching row UNKNOWN.
fn eval_list(
    cx: &Ctx<'_>,
    care: Option<&Bits>,
    column: &str,
    values: &[Value],
    negated: bool,
) -> Result<Tri> {
    let col = index(cx.schema, column)?;
    let n = cx.n;
    let lits: Vec<Value> = values.iter().filter(|v| !is_null(v)).cloned().collect();
    let mut acc = if lits.is_empty() {
        Tri::none(n)
    } else {
        leaf::in_list(cx, care, col, &lits)?
    };
    if lits.len() < values.len() {
        let mut u = care.cloned().unwrap_or_else(|| Bits::ones(n));
        u.and_not(&acc.t);
        acc.u = u;
    }
    if !negated {
        return Ok(acc);
    }
    let mut t = care.cloned().unwrap_or_else(|| Bits::ones(n));
    t.and_not(&acc.t);
    t.and_not(&acc.u);
    Ok(Tri { t, u: acc.u })
}

/// A cheap estimate of the share of rows where `f` is TRUE or UNKNOWN: exact for label
/// subtrees (postings), from zone maps for integer comparisons (zones the bounds do not decide
/// count the share of their value range that matches), a guess otherwise.
pub fn estimate(f: &Filter, cx: &Ctx<'_>) -> f64 {
    let guess = match f {
        Filter::Const(b) => Some(if *b { 1.0 } else { 0.0 }),
        // parts taken as independent (an underestimate only makes the planner evaluate the
        // whole filter and plan on its exact count)
        Filter::And(p) => Some(
            range::fuse(p, cx)
                .iter()
                .map(|p| part_estimate(p, cx))
                .product(),
        ),
        Filter::Or(p) => Some(p.iter().map(|p| estimate(p, cx)).sum::<f64>().min(1.0)),
        Filter::Not(x) => Some(1.0 - estimate(x, cx) / 2.0),
        Filter::Descendant { column, label } => label_share(cx, column, |ix| ix.subtree(label)),
        Filter::Cmp {
            column,
            op,
            value: Value::Int(x),
        } => {
            let op = *op;
            let x = *x;
            cx.schema.index_of(column).and_then(|col| {
                cx.zone_share(col, |b: Bounds, rows| {
                    let (lo, hi) = (b.min as i64, b.max as i64);
                    match decide_cmp(lo, hi, b.nulls, rows, op, x) {
                        Zone::None => 0.0,
                        Zone::All => 1.0,
                        // NULL rows are UNKNOWN: counted, like the rows that may match
                        Zone::Scan if b.nulls == rows => 1.0,
                        Zone::Scan => {
                            let valid = f64::from(rows - b.nulls) / f64::from(rows.max(1));
                            valid * interpolate(lo, hi, op, x) + (1.0 - valid)
                        }
                    }
                })
            })
        }
        Filter::Cmp { op: CmpOp::Eq, .. } | Filter::In { negated: false, .. } => Some(0.1),
        _ => None,
    };
    guess.unwrap_or(0.5)
}

/// [`estimate`] of one part of an AND after [`range::fuse`].
fn part_estimate(p: &Part<'_>, cx: &Ctx<'_>) -> f64 {
    match p {
        Part::Filter(f) => estimate(f, cx),
        Part::Range(r) => range::estimate(cx, *r),
    }
}

/// The share of rows in the label ids `ids` picks (None without a dictionary).
fn label_share(
    cx: &Ctx<'_>,
    column: &str,
    ids: impl Fn(&LabelIndex<'_>) -> std::ops::Range<usize>,
) -> Option<f64> {
    let col = cx.schema.index_of(column)?;
    let ix = cx.labels(col).ok()??;
    Some(ix.rows(ids(&ix)).len() as f64 / f64::from(cx.source_rows.max(1)))
}

/// NULL, or a NaN (which compares UNKNOWN like NULL).
fn is_null(v: &Value) -> bool {
    matches!(v, Value::Null) || matches!(v, Value::Float(f) if f.is_nan())
}

fn index(schema: &TableSchema, column: &str) -> Result<usize> {
    schema
        .index_of(column)
        .ok_or_else(|| QueryError::Filter(format!("unknown column \"{column}\"")).into())
}

fn ancestor_ids(ix: &LabelIndex<'_>, label: &str) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let mut end = label.len();
    loop {
        if let Some(id) = ix.find(&label[..end]) {
            out.push(id..id + 1);
        }
        match label[..end].rfind('/') {
            Some(i) => end = i,
            None => return out,
        }
    }
}

/// Parses `YYYY-MM-DD[ HH:MM:SS[.ffffff]]` (UTC) into microseconds since the epoch.
pub fn parse_timestamp(s: &str) -> Option<i64> {
    arrow_cast::parse::string_to_timestamp_nanos(s)
        .ok()
        .map(|ns| ns / 1000)
}

/// SQL LIKE: `%` matches any run, `_` one character; no escape character.
pub fn like(s: &str, pattern: &str) -> bool {
    if let Some(prefix) = pattern.strip_suffix('%') {
        if !prefix.contains(['%', '_']) {
            return s.starts_with(prefix);
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = s.chars().collect();
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '_' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '%' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(sp) = star {
            pi = sp + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '%')
}

impl Filter {
    /// The rows of `v` this filter keeps, per source (deleted rows excluded).
    pub fn selection(&self, v: &TableVersion) -> Result<Selection> {
        self.selection_with(v, true)
    }

    /// [`Filter::selection`], with or without zone-map skipping (tests compare the two).
    #[doc(hidden)]
    pub fn selection_with(&self, v: &TableVersion, use_zones: bool) -> Result<Selection> {
        self.eval_sources(v, None, use_zones)
    }

    /// The rows of `v` this filter keeps among the row windows `windows` names per segment
    /// (rows outside them are left out, unevaluated; a segment without an entry gets none).
    /// Each window is evaluated on its own rows only, so the cost follows the windows' size,
    /// not the segment's. Unflushed rows are always evaluated whole. The funnel tests a filter
    /// inside its first stage this way, on the partitions it probes.
    pub fn selection_within(
        &self,
        v: &TableVersion,
        windows: &[Vec<Range<u32>>],
    ) -> Result<Selection> {
        self.eval_sources(v, Some(windows), true)
    }

    /// The estimated number of live rows of `v` this filter keeps, without evaluating it:
    /// exact for label subtrees (their postings), from zone maps for integer comparisons, a
    /// fixed guess otherwise (see `estimate`). Deleted rows are not subtracted.
    pub fn estimate_rows(&self, v: &TableVersion) -> Result<f64> {
        super::validate::validate(self, &v.def.schema, &v.def.name)?;
        let schema = &v.def.schema;
        let mut rows = 0.0;
        for s in &v.segments {
            let src = Source::Segment(s);
            let cx = Ctx::new(schema, &src, true)?;
            rows += estimate(self, &cx) * f64::from(cx.n);
        }
        for c in v.mem.chunks() {
            let src = Source::Rows(&c.batch);
            let cx = Ctx::new(schema, &src, true)?;
            rows += estimate(self, &cx) * f64::from(cx.n);
        }
        Ok(rows)
    }

    fn eval_sources(
        &self,
        v: &TableVersion,
        windows: Option<&[Vec<Range<u32>>]>,
        use_zones: bool,
    ) -> Result<Selection> {
        super::validate::validate(self, &v.def.schema, &v.def.name)?;
        let schema = &v.def.schema;
        let mut segments = Vec::with_capacity(v.segments.len());
        for (i, (s, dels)) in v.segments.iter().zip(&v.deletes).enumerate() {
            let src = Source::Segment(s);
            let mut t = match windows {
                None => eval_in(self, &Ctx::new(schema, &src, use_zones)?, None)?.t,
                Some(ws) => {
                    let mut t = Bits::zeros(src.rows());
                    let ws = ws.get(i).map_or(&[][..], Vec::as_slice);
                    let zones = match use_zones && !ws.is_empty() {
                        true => Ctx::zones(&src)?,
                        false => None,
                    };
                    for w in ws {
                        let cx = Ctx::with_zones(schema, &src, zones, w.clone());
                        t.or_at(cx.base, &eval_in(self, &cx, None)?.t);
                    }
                    t
                }
            };
            for d in dels.iter() {
                t.remove(d);
            }
            segments.push(row_set(t));
        }
        let mut mem = Vec::with_capacity(v.mem.chunks().len());
        for c in v.mem.chunks() {
            let src = Source::Rows(&c.batch);
            let mut t = eval_in(self, &Ctx::new(schema, &src, use_zones)?, None)?.t;
            for (off, r) in c.rowids.iter().enumerate() {
                if v.mem.is_dead(*r) {
                    t.remove(off as u32);
                }
            }
            mem.push(row_set(t));
        }
        Ok(Selection::new(segments, mem))
    }
}

fn row_set(t: Bits) -> RowSet {
    if t.is_empty() {
        RowSet::Nothing
    } else {
        RowSet::Some(t)
    }
}

#[cfg(test)]
mod tests {
    use super::like;

    #[test]
    fn like_patterns() {
        assert!(like("read_json", "read%"));
        assert!(like("read_json", "%json"));
        assert!(like("read_json", "r__d%n"));
        assert!(!like("read_json", "write%"));
        assert!(like("", "%"));
        assert!(!like("ab", "a"));
    }
}
