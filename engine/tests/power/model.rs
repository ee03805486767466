//! The model the power-loss test checks a reopened database against: which rows must be
//! there, with which version of their values, given the operations the child acknowledged.

use std::collections::BTreeMap;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float32Type, Int64Type};
use nestdb::{Database, Table};

use super::common;

/// Rows per inserted or copied batch.
pub const BATCH: i64 = 8;
/// Vector dimensions.
pub const DIM: usize = 16;

/// One operation of the child's log.
#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    /// Insert batch `b` (ids `b*BATCH..`), version 0.
    Insert(i64),
    /// COPY batch `b` from a Parquet file, version 0.
    Copy(i64),
    /// Upsert batch `b` at version `v`.
    Upsert(i64, i64),
    /// Delete one id.
    Delete(i64),
    /// Flush, compact or analyze: no visible change.
    Maintain(String),
}

impl Op {
    pub fn parse(words: &[&str]) -> Option<Op> {
        let n = |i: usize| words.get(i).and_then(|w| w.parse::<i64>().ok());
        Some(match *words.first()? {
            "insert" => Op::Insert(n(1)?),
            "copy" => Op::Copy(n(1)?),
            "upsert" => Op::Upsert(n(1)?, n(2)?),
            "delete" => Op::Delete(n(1)?),
            other => Op::Maintain(other.to_string()),
        })
    }

    /// The phase this operation belongs to, for counting where cuts land.
    pub fn phase(&self) -> &str {
        match self {
            Op::Insert(_) | Op::Upsert(..) | Op::Delete(_) => "insert",
            Op::Copy(_) => "copy",
            Op::Maintain(m) => m,
        }
    }

    pub fn line(&self) -> String {
        match self {
            Op::Insert(b) => format!("insert {b}"),
            Op::Copy(b) => format!("copy {b}"),
            Op::Upsert(b, v) => format!("upsert {b} {v}"),
            Op::Delete(i) => format!("delete {i}"),
            Op::Maintain(m) => m.clone(),
        }
    }
}

/// Expected rows: id -> version.
pub type Rows = BTreeMap<i64, i64>;

pub fn batch_ids(b: i64) -> Vec<i64> {
    (b * BATCH..(b + 1) * BATCH).collect()
}

/// Applies an acknowledged (or, as one candidate, an in-flight) operation.
pub fn apply(rows: &mut Rows, op: &Op) {
    match op {
        Op::Insert(b) | Op::Copy(b) => rows.extend(batch_ids(*b).into_iter().map(|i| (i, 0))),
        Op::Upsert(b, v) => rows.extend(batch_ids(*b).into_iter().map(|i| (i, *v))),
        Op::Delete(i) => {
            rows.remove(i);
        }
        Op::Maintain(_) => {}
    }
}

/// What the reopened table holds: id -> version, after checking every row's values are
/// exactly those of its version.
pub fn present(t: &Table) -> Result<Rows, String> {
    let b = t
        .snapshot()
        .scan(Some(&["id", "tag", "v"]), None)
        .map_err(|e| format!("scan: {e}"))?;
    let ids = b.column(0).as_primitive::<Int64Type>();
    let tags = b.column(1).as_string::<i32>();
    let vs = b.column(2).as_fixed_size_list();
    let mut rows = Rows::new();
    for r in 0..b.num_rows() {
        let id = ids.value(r);
        let tag = tags.value(r);
        let version = tag
            .rsplit('-')
            .next()
            .and_then(|v| v.parse::<i64>().ok())
            .ok_or_else(|| format!("row {id}: malformed tag {tag:?}"))?;
        if tag != format!("tag-{id}-{version}") {
            return Err(format!("row {id}: tag {tag:?} belongs to another row"));
        }
        let got = vs.value(r);
        let want = common::vector(id * 1000 + version, DIM);
        if got.as_primitive::<Float32Type>().values() != &want[..] {
            return Err(format!("row {id}: vector differs from version {version}"));
        }
        if rows.insert(id, version).is_some() {
            return Err(format!("row {id} appears twice"));
        }
    }
    Ok(rows)
}

/// The first difference between two row sets, for messages.
pub fn diff(want: &Rows, got: &Rows) -> String {
    for (id, v) in want {
        match got.get(id) {
            None => return format!("acknowledged row {id} (version {v}) is missing"),
            Some(g) if g != v => return format!("row {id} has version {g}, expected {v}"),
            _ => {}
        }
    }
    match got.keys().find(|id| !want.contains_key(id)) {
        Some(id) => format!("row {id} was never acknowledged"),
        None => "no difference".into(),
    }
}

/// Exact search over the table agrees with brute force over the expected rows.
pub fn search_agrees(t: &Table, rows: &Rows, seed: u64) -> Result<(), String> {
    if rows.is_empty() {
        return Ok(());
    }
    let q = common::vector(seed as i64 + 7_000_000, DIM);
    let mut want: Vec<(f32, i64)> = rows
        .iter()
        .map(|(&id, &v)| (cosine(&q, &common::vector(id * 1000 + v, DIM)), id))
        .collect();
    want.sort_by(|a, b| a.0.total_cmp(&b.0));
    let k = 10.min(want.len());
    let got = t
        .search(&q)
        .limit(k)
        .exact(true)
        .select(&["id"])
        .execute()
        .map_err(|e| format!("search: {e}"))?;
    let got: Vec<i64> = got.column(0).as_primitive::<Int64Type>().values().to_vec();
    // Compare distances, not ids: two rows may tie within rounding.
    for (i, id) in got.iter().enumerate() {
        let v = rows
            .get(id)
            .ok_or_else(|| format!("search returned unknown row {id}"))?;
        let d = cosine(&q, &common::vector(id * 1000 + v, DIM));
        if i >= want.len() || (d - want[i].0).abs() > 1e-4 {
            let w: Vec<i64> = want[..k].iter().map(|w| w.1).collect();
            return Err(format!("exact search gave {got:?}, brute force {w:?}"));
        }
    }
    if got.len() != k {
        return Err(format!(
            "exact search gave {} rows, expected {k}",
            got.len()
        ));
    }
    // The index path must answer too (its recall is tested elsewhere).
    t.search(&q)
        .limit(k)
        .execute()
        .map_err(|e| format!("funnel search: {e}"))?;
    Ok(())
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| (*x as f64) * (*y as f64))
        .sum();
    let na: f64 = a.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    (1.0 - dot / (na * nb)) as f32
}

/// Opens the database the way the child does.
pub fn open(dir: &std::path::Path) -> nestdb::Result<(Database, Table)> {
    let db = Database::builder().auto_flush_rows(64).open(dir)?;
    let t = match db.table("t") {
        Ok(t) => t,
        Err(_) => {
            let mut o = nestdb::TableOptions::default();
            o.index.min_rows = 200;
            o.index.sample_queries = 20;
            db.create_table_with("t", common::schema(DIM as u32, nestdb::Metric::Cosine), o)?
        }
    };
    Ok((db, t))
}
