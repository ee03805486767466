//! Evaluating filters per source into dense bitsets under SQL's three-valued logic: each
//! predicate yields the rows where it is TRUE and the rows where it is UNKNOWN (NULL).
//!
//! No bitmap is built that the answer does not need: an AND evaluates its most selective part
//! first (estimated from label postings and zone maps) and every later part only on the rows
//! still alive (`care`); leaves skip zones whose bounds decide them (`leaf`, `scan`).

use std::ops::Range;

use nestdb_storage::{label, ColumnType, TableSchema, TableVersion};

use super::bits::Bits;
use super::ctx::{Ctx, Memo, Source};
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
        Filter::And(parts) => eval_and(f, parts, cx, care),
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
                |ix| cx.label_ids(f, || vec![ix.subtree(label)]),
                |l| label::is_descendant(l, label),
            )
        }
        Filter::Ancestor { column, label } => {
            let col = index(cx.schema, column)?;
            leaf::labels(
                cx,
                care,
                col,
                |ix| cx.label_ids(f, || ancestor_ids(ix, label)),
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
            // an integer comparison other than `<>` is an interval (the value order can find it)
            if let Some(r) = range::interval(f, cx) {
                return range::eval(cx, care, r);
            }
            if *cx.ty(col) == ColumnType::Path && *op == CmpOp::Eq {
                let l = leaf::norm_label(value);
                return leaf::labels(
                    cx,
                    care,
                    col,
                    |ix| cx.label_ids(f, || ix.find(&l).map(|id| id..id + 1).into_iter().collect()),
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

/// `AND` of `parts` (of node `node`), most selective first (by the estimates of the first
/// window a memo saw, when the context has one), each later part only where the result can
/// still be TRUE or UNKNOWN; stops once nothing is left. A part the zone maps decide for every
/// row is not evaluated.
fn eval_and(node: &Filter, parts: &[Filter], cx: &Ctx<'_>, care: Option<&Bits>) -> Result<Tri> {
    let fused = range::fuse(parts, cx);
    let order = cx.and_order(node, || {
        let est: Vec<f64> = fused.iter().map(|p| part_estimate(p, cx)).collect();
        let mut order: Vec<usize> = (0..fused.len()).collect();
        order.sort_by(|&a, &b| est[a].total_cmp(&est[b]));
        order
    });
    let mut acc = Tri::all(cx.n, care);
    let mut first = true;
    for p in order.into_iter().filter_map(|j| fused.get(j)) {
        // TRUE on every row changes nothing; FALSE on every row leaves nothing (zone maps)
        match part_verdict(p, cx) {
            Some(Zone::All) => continue,
            Some(Zone::None) => return Ok(Tri::none(cx.n)),
            _ => {}
        }
        let mut alive = acc.t.clone();
        alive.or(&acc.u);
        if alive.is_empty() {
            break;
        }
        let x = match p {
            Part::Filter(f) => eval_in(f, cx, Some(&alive))?,
            Part::Range(r) => range::eval(cx, Some(&alive), *r)?,
        };
        if first {
            first = false;
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
        Filter::Descendant { column, label } => {
            label_share(cx, column, |ix| cx.label_ids(f, || vec![ix.subtree(label)]))
        }
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

/// What the zone maps alone say about one part of an AND on every row of the window (numeric
/// comparisons and fused ranges; None for the rest, which are evaluated).
fn part_verdict(p: &Part<'_>, cx: &Ctx<'_>) -> Option<Zone> {
    match p {
        Part::Filter(Filter::Cmp { column, op, value }) if !is_null(value) => {
            leaf::cmp_verdict(cx, cx.schema.index_of(column)?, *op, value)
        }
        Part::Filter(Filter::Const(b)) => Some(if *b { Zone::All } else { Zone::None }),
        Part::Range(r) => range::verdict(cx, *r),
        Part::Filter(_) => None,
    }
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
    ids: impl Fn(&LabelIndex<'_>) -> Vec<std::ops::Range<usize>>,
) -> Option<f64> {
    let col = cx.schema.index_of(column)?;
    let ix = cx.labels(col).ok()??;
    let rows: usize = ids(&ix).into_iter().map(|r| ix.rows(r).len()).sum();
    Some(rows as f64 / f64::from(cx.source_rows.max(1)))
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
        self.eval_sources(v, use_zones)
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

    /// The rows this filter keeps among the row windows `windows` names per segment of `v`,
    /// OR-ed into `acc` (one bitset per segment, as long as the segment), deleted rows left
    /// out; rows outside the windows are not touched (nor evaluated), and a segment without an
    /// entry gets nothing. Each window is evaluated on its own rows only, so the cost follows
    /// the windows' size, not the segment's. The funnel tests a filter inside its first stage
    /// this way, batch by batch on the partitions it probes, keeping one bitset per segment;
    /// unflushed rows are [`Filter::selection_unflushed`]'s.
    pub fn select_within_into(
        &self,
        v: &TableVersion,
        windows: &[Vec<Range<u32>>],
        acc: &mut [Bits],
    ) -> Result<()> {
        super::validate::validate(self, &v.def.schema, &v.def.name)?;
        debug_assert_eq!(acc.len(), v.segments.len(), "one bitset per segment");
        for (i, ((s, dels), out)) in v.segments.iter().zip(&v.deletes).zip(acc).enumerate() {
            debug_assert_eq!(
                out.len() as usize,
                s.rows(),
                "a bitset as long as its segment"
            );
            let ws = windows.get(i).map_or(&[][..], Vec::as_slice);
            self.eval_windows(&v.def.schema, s, dels, ws, true, out)?;
        }
        Ok(())
    }

    /// The rows of `v`'s unflushed chunks this filter keeps, dead rows excluded.
    pub fn selection_unflushed(&self, v: &TableVersion) -> Result<Vec<RowSet>> {
        super::validate::validate(self, &v.def.schema, &v.def.name)?;
        self.eval_unflushed(v, true)
    }

    fn eval_sources(&self, v: &TableVersion, use_zones: bool) -> Result<Selection> {
        super::validate::validate(self, &v.def.schema, &v.def.name)?;
        let schema = &v.def.schema;
        let mut segments = Vec::with_capacity(v.segments.len());
        for (s, dels) in v.segments.iter().zip(&v.deletes) {
            let src = Source::Segment(s);
            let memo = Memo::default();
            let cx = Ctx::new(schema, &src, use_zones)?.with_memo(&memo);
            let mut t = eval_in(self, &cx, None)?.t;
            for d in dels.iter() {
                t.remove(d);
            }
            segments.push(row_set(t));
        }
        Ok(Selection::new(segments, self.eval_unflushed(v, use_zones)?))
    }

    /// OR-s the rows of segment `s` in windows `ws` that this filter keeps into `out`, then
    /// clears the deleted rows `dels` among them. The windows share one [`Memo`], so label
    /// dictionaries and label ids are looked up once, not per window.
    fn eval_windows(
        &self,
        schema: &TableSchema,
        s: &nestdb_storage::Segment,
        dels: &roaring::RoaringBitmap,
        ws: &[Range<u32>],
        use_zones: bool,
        out: &mut Bits,
    ) -> Result<()> {
        if ws.is_empty() {
            return Ok(());
        }
        let src = Source::Segment(s);
        let memo = Memo::default();
        let zones = if use_zones { Ctx::zones(&src)? } else { None };
        for w in ws {
            let cx = Ctx::with_zones(schema, &src, zones, w.clone()).with_memo(&memo);
            out.or_at(cx.base, &eval_in(self, &cx, None)?.t);
            for d in dels.range(cx.base..cx.base + cx.n) {
                out.remove(d);
            }
        }
        Ok(())
    }

    fn eval_unflushed(&self, v: &TableVersion, use_zones: bool) -> Result<Vec<RowSet>> {
        let schema = &v.def.schema;
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
        Ok(mem)
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
