//! What SQL costs over the direct API for the same vector search (issue 17's speed goal:
//! at most 0.3 ms more at p50). Prints one JSON line per method with p50/p90 latency in ms.
//!
//! ```text
//! nestdb-sql-bench [--passes N] [--target R]
//! ```
//!
//! Methods, run round-robin on each held-out query so that machine noise hits them alike:
//! - `api`: `table.search(q).limit(10)` (plus `.filter(f)` when filtered);
//! - `sql_prepared`: the same query text with `$1` (and `$2`), parameters bound each time:
//!   the session's plan cache answers, so this is binding plus execution;
//! - `sql_literal`: the vector (and the filter) written into the text, a new text per query:
//!   parsing, planning and execution every time.
//!
//! Each method runs unfiltered and with a per-query filter (`label <@` the first two levels of
//! the label of the query's nearest neighbour: each query its own project, no two alike).
//! Reads the shared data from `$NESTDB_SHARED_DATA` or `../shared/data`.

use std::collections::HashMap;
use std::time::Instant;

use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use arrow_array::Array;
use nestdb::sql::{Output, Param, Session};
use nestdb::{Database, Filter, Table, Value};
use nestdb_benches::data::{self, DIM};
use nestdb_benches::driver::{self, arg};
use serde_json::json;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let passes: usize = arg(&args, "--passes")
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    let target: f32 = arg(&args, "--target")
        .and_then(|s| s.parse().ok())
        .unwrap_or(0.95);
    let e = data::load();
    let b = driver::build(&e.base);
    let filters = project_filters(&e);
    for filtered in [false, true] {
        run(&b.db, &b.table, &e, &filters, filtered, passes, target);
    }
}

/// Per query: the first two levels of its nearest neighbour's label.
fn project_filters(e: &data::Eval) -> Vec<String> {
    let ids = e.base.column(0).as_primitive::<Int64Type>();
    let labels = e.base.column(2).as_string::<i32>();
    let by_id: HashMap<i64, &str> = (0..ids.len())
        .filter(|&i| labels.is_valid(i))
        .map(|i| (ids.value(i), labels.value(i)))
        .collect();
    e.truth
        .iter()
        .map(|t| {
            let l = by_id.get(&t[0]).copied().unwrap_or("");
            l.split('/').take(2).collect::<Vec<_>>().join("/")
        })
        .collect()
}

fn run(
    db: &Database,
    t: &Table,
    e: &data::Eval,
    filters: &[String],
    filtered: bool,
    passes: usize,
    target: f32,
) {
    let mut s = db.session();
    s.execute(&format!("SET recall_target = {target}"))
        .expect("set");
    let where_p = if filtered { "WHERE label <@ $2 " } else { "" };
    let prepared =
        format!("SELECT id, _distance FROM chunks {where_p}ORDER BY embedding <=> $1 LIMIT 10");
    let mut times: [Vec<f64>; 3] = Default::default();
    let mut mismatches = 0usize; // queries whose three answers are not the same rows
    for _ in 0..passes {
        for (qi, q) in e.queries.chunks_exact(DIM).enumerate() {
            let f = filtered.then(|| filters[qi].as_str());
            let (a, ta) = timed(|| api(t, q, f, target));
            let (b, tb) = timed(|| sql_prepared(&mut s, &prepared, q, f));
            let (c, tc) = timed(|| sql_literal(&mut s, q, f));
            // SQL orders its k rows by the distance function; the funnel's order of equal
            // distances (near-duplicate chunks) may differ, so compare the sets
            let set = |v: &[i64]| {
                let mut v = v.to_vec();
                v.sort_unstable();
                v
            };
            let (a, b, c) = (set(&a), set(&b), set(&c));
            mismatches += usize::from(a != b || a != c);
            for (v, x) in times.iter_mut().zip([ta, tb, tc]) {
                v.push(x);
            }
        }
    }
    let p50_api = pct(&mut times[0], 0.5);
    for (name, v) in ["api", "sql_prepared", "sql_literal"]
        .iter()
        .zip(times.iter_mut())
    {
        let (p50, p90) = (pct(v, 0.5), pct(v, 0.9));
        println!(
            "{}",
            json!({"method": name, "filtered": filtered, "recall_target": target,
                   "p50_ms": p50, "p90_ms": p90, "p50_over_api_ms": p50 - p50_api,
                   "queries": v.len(), "result_mismatches": mismatches})
        );
    }
}

fn timed<T>(f: impl FnOnce() -> T) -> (T, f64) {
    let start = Instant::now();
    let r = f();
    (r, start.elapsed().as_secs_f64() * 1e3)
}

fn api(t: &Table, q: &[f32], f: Option<&str>, target: f32) -> Vec<i64> {
    let mut s = t.search(q).limit(10).select(&["id"]).recall_target(target);
    if let Some(f) = f {
        s = s.filter(Filter::parse(&format!("label <@ '{f}'")).expect("filter"));
    }
    ids(&s.execute().expect("search"))
}

fn sql_prepared(s: &mut Session, text: &str, q: &[f32], f: Option<&str>) -> Vec<i64> {
    let mut p = vec![Param::Vector(q.to_vec())];
    if let Some(f) = f {
        p.push(Param::Value(Value::Str(f.to_string())));
    }
    s.set_params(p);
    rows(s, text)
}

fn sql_literal(s: &mut Session, q: &[f32], f: Option<&str>) -> Vec<i64> {
    let v: Vec<String> = q.iter().map(|x| format!("{x:?}")).collect();
    let w = f.map_or(String::new(), |f| format!("WHERE label <@ '{f}' "));
    let text = format!(
        "SELECT id, _distance FROM chunks {w}ORDER BY embedding <=> '[{}]' LIMIT 10",
        v.join(",")
    );
    s.set_params(Vec::new());
    rows(s, &text)
}

fn rows(s: &mut Session, text: &str) -> Vec<i64> {
    match s.execute(text).expect("sql").pop() {
        Some(Output::Rows(b)) => ids(&b),
        other => panic!("{other:?}"),
    }
}

fn ids(b: &arrow_array::RecordBatch) -> Vec<i64> {
    b.column(0).as_primitive::<Int64Type>().values().to_vec()
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[((v.len() - 1) as f64 * p).round() as usize]
}
