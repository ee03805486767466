//! Evaluating filters into roaring bitmaps, per source, under three-valued logic: each
//! predicate yields the rows where it is TRUE and the rows where it is UNKNOWN (NULL).

use std::cmp::Ordering;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type, TimestampMicrosecondType};
use arrow_array::{Array, ArrayRef};
use nestdb_storage::{label, ColumnType, Segment, TableSchema, TableVersion};
use roaring::RoaringBitmap;

use super::labels::LabelIndex;
use super::selection::{RowSet, Selection};
use super::{CmpOp, Filter, Value};
use crate::error::{QueryError, Result};

/// Rows where a predicate is TRUE and where it is UNKNOWN.
#[derive(Clone, Debug, Default)]
pub struct Tri {
    /// TRUE rows.
    pub t: RoaringBitmap,
    /// UNKNOWN rows.
    pub u: RoaringBitmap,
}

/// One source of rows.
pub enum Source<'a> {
    /// A segment (label predicates use its dictionaries).
    Segment(&'a Segment),
    /// Unflushed rows.
    Rows(&'a arrow_array::RecordBatch),
}

impl Source<'_> {
    fn rows(&self) -> u32 {
        match self {
            Source::Segment(s) => s.rows() as u32,
            Source::Rows(b) => b.num_rows() as u32,
        }
    }

    fn column(&self, i: usize) -> Result<ArrayRef> {
        match self {
            Source::Segment(s) => Ok(s.column(i)?),
            Source::Rows(b) => Ok(b.column(i).clone()),
        }
    }
}

fn all(n: u32) -> RoaringBitmap {
    let mut b = RoaringBitmap::new();
    b.insert_range(0..n);
    b
}

/// Evaluates `f` over every row of `src`.
pub fn eval(f: &Filter, schema: &TableSchema, src: &Source<'_>) -> Result<Tri> {
    let n = src.rows();
    match f {
        Filter::Const(b) => Ok(Tri {
            t: if *b { all(n) } else { RoaringBitmap::new() },
            u: RoaringBitmap::new(),
        }),
        Filter::And(parts) => eval_and(parts, schema, src, n),
        Filter::Or(parts) => eval_or(parts, schema, src),
        Filter::Not(x) => eval_not(x, schema, src, n),
        Filter::Descendant { column, label } => {
            eval_hierarchy(schema, src, n, column, label, false)
        }
        Filter::Ancestor { column, label } => eval_hierarchy(schema, src, n, column, label, true),
        Filter::Cmp { column, op, value } => eval_cmp(schema, src, n, column, *op, value),
        Filter::In {
            column,
            values,
            negated,
        } => eval_in(schema, src, n, column, values, *negated),
        Filter::IsNull { column, negated } => eval_is_null(schema, src, n, column, *negated),
        Filter::Like {
            column,
            pattern,
            negated,
        } => eval_like(schema, src, n, column, pattern, *negated),
    }
}

/// `AND` of `parts`: stops early once no row can be TRUE or UNKNOWN.
fn eval_and(parts: &[Filter], schema: &TableSchema, src: &Source<'_>, n: u32) -> Result<Tri> {
    let mut acc = Tri {
        t: all(n),
        u: RoaringBitmap::new(),
    };
    for p in parts {
        if acc.t.is_empty() && acc.u.is_empty() {
            break;
        }
        let x = eval(p, schema, src)?;
        let maybe = (&acc.t | &acc.u) & (&x.t | &x.u);
        acc.t &= &x.t;
        acc.u = maybe - &acc.t;
    }
    Ok(acc)
}

/// `OR` of `parts`.
fn eval_or(parts: &[Filter], schema: &TableSchema, src: &Source<'_>) -> Result<Tri> {
    let mut acc = Tri::default();
    for p in parts {
        let x = eval(p, schema, src)?;
        acc.t |= &x.t;
        acc.u |= &x.u;
    }
    acc.u -= &acc.t;
    Ok(acc)
}

/// `NOT x`: UNKNOWN rows stay UNKNOWN.
fn eval_not(x: &Filter, schema: &TableSchema, src: &Source<'_>, n: u32) -> Result<Tri> {
    let x = eval(x, schema, src)?;
    Ok(Tri {
        t: all(n) - &x.t - &x.u,
        u: x.u,
    })
}

/// `column <@ label` (or `column @> label` when `ancestors`).
fn eval_hierarchy(
    schema: &TableSchema,
    src: &Source<'_>,
    n: u32,
    column: &str,
    label: &str,
    ancestors: bool,
) -> Result<Tri> {
    let i = index(schema, column)?;
    labels_pred(
        src,
        i,
        n,
        |ix| {
            if ancestors {
                ancestor_ids(ix, label)
            } else {
                let r = ix.subtree(label);
                vec![r]
            }
        },
        |l| {
            if ancestors {
                label::is_descendant(label, l)
            } else {
                label::is_descendant(l, label)
            }
        },
    )
}

/// `column op value`: NULL compares UNKNOWN everywhere; PATH equality uses the dictionary.
fn eval_cmp(
    schema: &TableSchema,
    src: &Source<'_>,
    n: u32,
    column: &str,
    op: CmpOp,
    value: &Value,
) -> Result<Tri> {
    let i = index(schema, column)?;
    let ty = &schema.columns()[i].ty;
    if *value == Value::Null {
        return Ok(Tri {
            t: RoaringBitmap::new(),
            u: all(n),
        });
    }
    if *ty == ColumnType::Path && op == CmpOp::Eq {
        let l = norm_label(value);
        return labels_pred(
            src,
            i,
            n,
            |ix| ix.find(&l).map(|id| id..id + 1).into_iter().collect(),
            |x| x == l,
        );
    }
    let arr = src.column(i)?;
    scalar(&arr, ty, |o| op.test(o), value)
}

/// `column [NOT] IN (values)`: a NULL in the list makes every non-matching row UNKNOWN.
fn eval_in(
    schema: &TableSchema,
    src: &Source<'_>,
    n: u32,
    column: &str,
    values: &[Value],
    negated: bool,
) -> Result<Tri> {
    let i = index(schema, column)?;
    let ty = &schema.columns()[i].ty;
    let arr = src.column(i)?;
    let mut acc = Tri::default();
    for v in values {
        if *v == Value::Null {
            acc.u |= all(n);
            continue;
        }
        let x = scalar(&arr, ty, |o| o == Ordering::Equal, v)?;
        acc.t |= &x.t;
        acc.u |= &x.u;
    }
    acc.u -= &acc.t;
    Ok(if negated {
        Tri {
            t: all(n) - &acc.t - &acc.u,
            u: acc.u,
        }
    } else {
        acc
    })
}

/// `column IS [NOT] NULL`: never UNKNOWN.
fn eval_is_null(
    schema: &TableSchema,
    src: &Source<'_>,
    n: u32,
    column: &str,
    negated: bool,
) -> Result<Tri> {
    let arr = src.column(index(schema, column)?)?;
    let nulls: RoaringBitmap = (0..n).filter(|&r| arr.is_null(r as usize)).collect();
    Ok(Tri {
        t: if negated { all(n) - nulls } else { nulls },
        u: RoaringBitmap::new(),
    })
}

/// `column [NOT] LIKE pattern`, row by row.
fn eval_like(
    schema: &TableSchema,
    src: &Source<'_>,
    n: u32,
    column: &str,
    pattern: &str,
    negated: bool,
) -> Result<Tri> {
    let arr = src.column(index(schema, column)?)?;
    let s = arr.as_string::<i32>();
    let mut t = RoaringBitmap::new();
    let mut u = RoaringBitmap::new();
    for r in 0..n {
        if s.is_null(r as usize) {
            u.insert(r);
        } else if like(s.value(r as usize), pattern) != negated {
            t.insert(r);
        }
    }
    Ok(Tri { t, u })
}

fn index(schema: &TableSchema, column: &str) -> Result<usize> {
    schema
        .index_of(column)
        .ok_or_else(|| QueryError::Filter(format!("unknown column \"{column}\"")).into())
}

fn norm_label(v: &Value) -> String {
    match v {
        Value::Str(s) => label::normalize(s)
            .map(|l| l.into_owned())
            .unwrap_or_else(|_| s.clone()),
        other => other.to_string(),
    }
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

/// A PATH predicate: through the segment's dictionary when it has one, else row by row.
fn labels_pred(
    src: &Source<'_>,
    col: usize,
    n: u32,
    ids: impl Fn(&LabelIndex<'_>) -> Vec<std::ops::Range<usize>>,
    row: impl Fn(&str) -> bool,
) -> Result<Tri> {
    if let Source::Segment(s) = src {
        if let Some(ix) = LabelIndex::open(s.sidecar(), col)? {
            let mut t = RoaringBitmap::new();
            for r in ids(&ix) {
                let mut rows = ix.rows(r).to_vec();
                rows.sort_unstable();
                t |= RoaringBitmap::from_sorted_iter(rows).unwrap_or_default();
            }
            // UNKNOWN rows are the unlabelled ones: none when every row has a label (the
            // postings then cover the segment), which is the common case and costs nothing.
            let labelled_rows = ix.rows(0..ix.len());
            let u = if labelled_rows.len() as u32 == n {
                RoaringBitmap::new()
            } else {
                all(n) - labelled_rows.iter().copied().collect::<RoaringBitmap>()
            };
            return Ok(Tri { t, u });
        }
    }
    let arr = src.column(col)?;
    let s = arr.as_string::<i32>();
    let mut t = RoaringBitmap::new();
    let mut u = RoaringBitmap::new();
    for r in 0..n {
        if s.is_null(r as usize) {
            u.insert(r);
        } else if row(s.value(r as usize)) {
            t.insert(r);
        }
    }
    Ok(Tri { t, u })
}

/// A comparison of every row of `arr` with `v`: `keep(row.cmp(v))`.
fn scalar(
    arr: &ArrayRef,
    ty: &ColumnType,
    keep: impl Fn(Ordering) -> bool,
    v: &Value,
) -> Result<Tri> {
    let n = arr.len() as u32;
    let mut t = RoaringBitmap::new();
    let mut u = RoaringBitmap::new();
    let mut put = |r: u32, o: Option<Ordering>| match o {
        None => {
            u.insert(r);
        }
        Some(o) if keep(o) => {
            t.insert(r);
        }
        _ => {}
    };
    let bad = || {
        QueryError::Filter(format!(
            "cannot compare a {} column with {v}",
            ty.sql_name()
        ))
    };
    match ty {
        ColumnType::Int64 | ColumnType::Timestamp => compare_ints(arr, ty, v, &mut put, bad)?,
        ColumnType::Float64 => compare_floats(arr, v, &mut put, bad)?,
        ColumnType::Utf8 | ColumnType::Path => compare_strings(arr, ty, v, &mut put, bad)?,
        ColumnType::Boolean => compare_bools(arr, v, &mut put, bad)?,
        _ => return Err(bad().into()),
    }
    debug_assert!(t.len() + u.len() <= n as u64);
    Ok(Tri { t, u })
}

/// Feeds `put` each row of an INT64 or TIMESTAMP column compared with `v` (a timestamp
/// column also takes a timestamp string); `bad` is the error for any other literal.
fn compare_ints(
    arr: &ArrayRef,
    ty: &ColumnType,
    v: &Value,
    put: &mut impl FnMut(u32, Option<Ordering>),
    bad: impl Fn() -> QueryError,
) -> Result<()> {
    let vals: Vec<Option<i64>> = if *ty == ColumnType::Int64 {
        arr.as_primitive::<Int64Type>().iter().collect()
    } else {
        arr.as_primitive::<TimestampMicrosecondType>()
            .iter()
            .collect()
    };
    match v {
        Value::Int(x) => vals
            .iter()
            .enumerate()
            .for_each(|(r, a)| put(r as u32, a.map(|a| a.cmp(x)))),
        Value::Float(x) => vals
            .iter()
            .enumerate()
            .for_each(|(r, a)| put(r as u32, a.and_then(|a| (a as f64).partial_cmp(x)))),
        Value::Str(s) if *ty == ColumnType::Timestamp => {
            let x = parse_timestamp(s).ok_or_else(bad)?;
            vals.iter()
                .enumerate()
                .for_each(|(r, a)| put(r as u32, a.map(|a| a.cmp(&x))));
        }
        _ => return Err(bad().into()),
    }
    Ok(())
}

/// Feeds `put` each row of a FLOAT64 column compared with a numeric `v`.
fn compare_floats(
    arr: &ArrayRef,
    v: &Value,
    put: &mut impl FnMut(u32, Option<Ordering>),
    bad: impl Fn() -> QueryError,
) -> Result<()> {
    let x = match v {
        Value::Int(i) => *i as f64,
        Value::Float(f) => *f,
        _ => return Err(bad().into()),
    };
    for (r, a) in arr.as_primitive::<Float64Type>().iter().enumerate() {
        put(r as u32, a.and_then(|a| a.partial_cmp(&x)));
    }
    Ok(())
}

/// Feeds `put` each row of a UTF8 or PATH column compared with a string `v` (normalized
/// as a label for PATH).
fn compare_strings(
    arr: &ArrayRef,
    ty: &ColumnType,
    v: &Value,
    put: &mut impl FnMut(u32, Option<Ordering>),
    bad: impl Fn() -> QueryError,
) -> Result<()> {
    let Value::Str(x) = v else {
        return Err(bad().into());
    };
    let x = if *ty == ColumnType::Path {
        norm_label(v)
    } else {
        x.clone()
    };
    for (r, a) in arr.as_string::<i32>().iter().enumerate() {
        put(r as u32, a.map(|a| a.cmp(x.as_str())));
    }
    Ok(())
}

/// Feeds `put` each row of a BOOLEAN column compared with a boolean `v`.
fn compare_bools(
    arr: &ArrayRef,
    v: &Value,
    put: &mut impl FnMut(u32, Option<Ordering>),
    bad: impl Fn() -> QueryError,
) -> Result<()> {
    let Value::Bool(x) = v else {
        return Err(bad().into());
    };
    for (r, a) in arr.as_boolean().iter().enumerate() {
        put(r as u32, a.map(|a| a.cmp(x)));
    }
    Ok(())
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
        super::validate::validate(self, &v.def.schema, &v.def.name)?;
        let schema = &v.def.schema;
        let mut segments = Vec::with_capacity(v.segments.len());
        for (s, dels) in v.segments.iter().zip(&v.deletes) {
            let t = eval(self, schema, &Source::Segment(s))?.t - dels.as_ref();
            segments.push(if t.is_empty() {
                RowSet::Nothing
            } else {
                RowSet::Some(t)
            });
        }
        let mut mem = Vec::with_capacity(v.mem.chunks().len());
        for c in v.mem.chunks() {
            let mut t = eval(self, schema, &Source::Rows(&c.batch))?.t;
            for (off, r) in c.rowids.iter().enumerate() {
                if v.mem.is_dead(*r) {
                    t.remove(off as u32);
                }
            }
            mem.push(if t.is_empty() {
                RowSet::Nothing
            } else {
                RowSet::Some(t)
            });
        }
        Ok(Selection::new(segments, mem))
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
