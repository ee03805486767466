//! Filtered search when every query brings its own predicate (issue 15). Prints one JSON line
//! per workload and recall target.
//!
//! ```text
//! nestdb-filters [--queries N] [--targets 0.9,0.95,0.99] [--seed S] [--only WORKLOAD-PREFIX]
//!     [--data DIR --db DB] [--seconds S]
//! ```
//! Each workload is timed over whole passes of its queries until `--seconds` (default 1) have
//! passed; a longer run steadies the figure on a noisy machine.
//! Without `--data`, the shared corpus (39,960 rows) is loaded into a temporary database and
//! indexed. With `--data DIR --db DB`, the workloads are drawn from the rows of
//! `DIR/base.parquet` (a set made by `make_scale.py`) and run on table `chunks` of the database
//! `DB` as `nestdb-scale load` and `analyze` left it (`build_s` is then null).
//! Workloads, one filter per held-out query (its project or language is the query chunk's own):
//! - `project-repeated`: `label <@ project`, timed on the third run of each filter (cached),
//!   the same query three times in a row (its codes and vectors are also in the CPU caches);
//! - `project-cached`: the same filters, cached by two searches with another query's vector
//!   (query `i + n/2`) just before the timed one: the selection is cached, the query's own
//!   partitions are not warm from a run of the same query (a cached filter serving new queries);
//! - `project-first-seen`: the same rows through a filter seen once (`AND id >= -1 - i`);
//! - `project-range`: `label <@ project AND id >= lo`, `lo` uniform over the ids (the issue's);
//! - `range-S`: `label <@ language AND id >= lo AND id < hi` keeping about S of the rows;
//! - `in-S`: `label <@ language AND ast IN (...)`, AST kinds drawn until about S of the rows;
//! - `broad-first-seen`: `NOT label <@ project AND id >= lo`, `lo` uniform over the first fifth
//!   of the ids (most rows match: the planner probes, testing the filter in stage).
//!
//! `--materialize` evaluates every filter over the whole table first, `--in-stage` tests it in
//! the first stage whenever the plan probes (without either, the planner chooses).
//!
//! `range-S` and `in-S` filters also carry `id >= -1 - i` (every row passes), so no two
//! queries share a filter even where a small language leaves no room to vary the range.
//!
//! Recall is against exact search under the same filter. `filter_ms` and `plan_ms` are the
//! means EXPLAIN ANALYZE reports for evaluating the filter and planning, in a separate pass.
//! With `NESTDB_FILTERS_PER_QUERY` set, that pass also prints one JSON line per query to
//! stderr (mode, strategy, matching rows, filter, plan, all stages' and total milliseconds,
//! and each stage as `[name, rows, ms]`); with `NESTDB_FILTERS_STAGES` set, it prints the
//! EXPLAIN ANALYZE of queries 0-2, or of the queries listed (`NESTDB_FILTERS_STAGES=5,17`).
//! Reads the shared data from `$NESTDB_SHARED_DATA` or `../shared/data`.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use arrow_array::RecordBatch;
use nestdb::{Database, Filter, SearchParams, Snapshot, Table};
use nestdb_benches::data::{self, DIM};
use nestdb_benches::driver::{self, arg};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde_json::json;

/// One workload: a filter per query.
struct Workload {
    name: String,
    filters: Vec<Filter>,
    /// Time the third run of each filter (the first two fill the cache).
    repeat: bool,
    /// The first two runs search with another query's vector (query `i + n/2`).
    warm_other: bool,
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build_global()
        .expect("rayon pool");
    let nq: usize = arg(&args, "--queries")
        .and_then(|s| s.parse().ok())
        .unwrap_or(700);
    let seed: u64 = arg(&args, "--seed")
        .and_then(|s| s.parse().ok())
        .unwrap_or(15);
    let targets: Vec<f32> = arg(&args, "--targets")
        .unwrap_or_else(|| "0.95".into())
        .split(',')
        .map(|s| s.parse().expect("target"))
        .collect();
    let q = data::read("queries.parquet", &["label_path", "embedding"]);
    let all = data::flat_vectors(q.column(1));
    let nq = nq.min(all.len() / DIM);
    let queries = &all[..nq * DIM];
    let labels: Vec<String> = q
        .column(0)
        .as_string::<i32>()
        .iter()
        .take(nq)
        .map(|l| l.unwrap_or("").to_string())
        .collect();
    let (base, table, build_s) = table(&args);
    let snap = table.table.snapshot();
    let mut rng = StdRng::seed_from_u64(seed);
    let only = arg(&args, "--only");
    let seconds: f64 = arg(&args, "--seconds")
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.0);
    for w in workloads(&base, &labels, &mut rng) {
        if only
            .as_ref()
            .is_some_and(|o| !w.name.starts_with(o.as_str()))
        {
            continue;
        }
        let exact = SearchParams {
            exact: true,
            ..SearchParams::default()
        };
        let truth = run(&snap, queries, &w, &exact, 0.0).0;
        let matching = mean_matching(&snap, queries, &w);
        for &target in &targets {
            let p = SearchParams {
                recall_target: Some(target),
                filter_in_stage: in_stage_flag(&args),
                ..SearchParams::default()
            };
            let (found, qps) = run(&snap, queries, &w, &p, seconds);
            let (filter_ms, plan_ms, cached, in_stage) = overhead(&snap, queries, &w, &p);
            println!(
                "{}",
                json!({
                    "engine": "nestdb", "workload": w.name, "recall_target": target,
                    "filter_in_stage": p.filter_in_stage, "in_stage_share": in_stage,
                    "recall": recall(&found, &truth), "short_results": short(&found, &truth),
                    "qps": qps,
                    "selectivity": matching / base.num_rows() as f64,
                    "filter_ms": filter_ms, "plan_ms": plan_ms, "cached_share": cached,
                    "build_s": build_s,
                })
            );
        }
    }
}

/// The table the workloads run on (kept open while it lives).
struct Opened {
    table: Table,
    _db: Option<Database>,
    _built: Option<driver::Built>,
}

/// The rows the workloads are drawn from (columns id, language, label, ast first), the table
/// and its build seconds (None for an existing database): see the header.
fn table(args: &[String]) -> (RecordBatch, Opened, Option<f64>) {
    match (arg(args, "--data"), arg(args, "--db")) {
        (Some(dir), Some(db)) => {
            let base = data::read_path(
                &Path::new(&dir).join("base.parquet"),
                &["chunk_id", "language", "label_path", "ast_path"],
            );
            let d = Database::builder()
                .auto_index(false)
                .open(&db)
                .expect("open --db");
            let table = d.table("chunks").expect("table chunks");
            let opened = Opened {
                table,
                _db: Some(d),
                _built: None,
            };
            (base, opened, None)
        }
        (None, None) => {
            let e = data::load();
            let b = driver::build(&e.base);
            let build_s = b.build_s;
            let opened = Opened {
                table: b.table.clone(),
                _db: None,
                _built: Some(b),
            };
            (e.base, opened, Some(build_s))
        }
        _ => panic!("--data DIR and --db DB go together"),
    }
}

/// `--materialize`: filters always evaluated whole first; `--in-stage`: always tested in stage
/// when the plan probes; neither: the planner chooses.
fn in_stage_flag(args: &[String]) -> Option<bool> {
    if args.iter().any(|a| a == "--materialize") {
        Some(false)
    } else if args.iter().any(|a| a == "--in-stage") {
        Some(true)
    } else {
        None
    }
}

/// Recall@10 over the queries where some row matches: hits among the first min(10, matching)
/// exact neighbours.
fn recall(found: &[Vec<i64>], truth: &[Vec<i64>]) -> f64 {
    let (mut hits, mut want) = (0, 0);
    for (f, t) in found.iter().zip(truth) {
        let t = &t[..t.len().min(10)];
        want += t.len();
        hits += f.iter().take(10).filter(|x| t.contains(x)).count();
    }
    hits as f64 / want.max(1) as f64
}

/// Queries that returned fewer rows than min(10, matching).
fn short(found: &[Vec<i64>], truth: &[Vec<i64>]) -> usize {
    found
        .iter()
        .zip(truth)
        .filter(|(f, t)| f.len() < t.len().min(10))
        .count()
}

/// Per query: its project (first two label levels) and language (first level).
fn prefix(label: &str, levels: usize) -> String {
    label.split('/').take(levels).collect::<Vec<_>>().join("/")
}

fn workloads(base: &RecordBatch, labels: &[String], rng: &mut StdRng) -> Vec<Workload> {
    let ids = base.column(0).as_primitive::<Int64Type>().values();
    let max_id = ids.iter().copied().max().unwrap_or(0);
    let row_labels = base.column(2).as_string::<i32>();
    let asts = base.column(3).as_string::<i32>();
    // per language: its rows' ids (sorted) and its AST labels with their row counts
    let mut lang_ids: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    let mut lang_asts: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
    for r in 0..base.num_rows() {
        let lang = prefix(row_labels.value(r), 1);
        lang_ids.entry(lang.clone()).or_default().push(ids[r]);
        *lang_asts
            .entry(lang)
            .or_default()
            .entry(asts.value(r).to_string())
            .or_default() += 1;
    }
    lang_ids.values_mut().for_each(|v| v.sort_unstable());
    let project = |l: &str| Filter::descendant("label", &prefix(l, 2));
    let mut out = vec![
        Workload {
            name: "project-repeated".into(),
            filters: labels.iter().map(|l| project(l)).collect(),
            repeat: true,
            warm_other: false,
        },
        Workload {
            name: "project-cached".into(),
            filters: labels.iter().map(|l| project(l)).collect(),
            repeat: true,
            warm_other: true,
        },
        Workload {
            name: "project-first-seen".into(),
            filters: (0..labels.len())
                .map(|i| {
                    project(&labels[i]).and(Filter::cmp("id", nestdb::CmpOp::Ge, -1 - i as i64))
                })
                .collect(),
            repeat: false,
            warm_other: false,
        },
        Workload {
            name: "project-range".into(),
            filters: labels
                .iter()
                .map(|l| {
                    project(l).and(Filter::cmp(
                        "id",
                        nestdb::CmpOp::Ge,
                        rng.random_range(0..=max_id),
                    ))
                })
                .collect(),
            repeat: false,
            warm_other: false,
        },
    ];
    // most rows match: filtered probing, the filter tested inside the first stage
    out.push(Workload {
        name: "broad-first-seen".into(),
        filters: labels
            .iter()
            .map(|l| {
                project(l).not().and(Filter::cmp(
                    "id",
                    nestdb::CmpOp::Ge,
                    rng.random_range(0..=max_id / 5),
                ))
            })
            .collect(),
        repeat: false,
        warm_other: false,
    });
    for share in [0.1, 0.01, 0.001] {
        let want = ((base.num_rows() as f64 * share) as usize).max(1);
        let mut range = Vec::new();
        let mut inl = Vec::new();
        for (i, l) in labels.iter().enumerate() {
            // a term every row passes keeps two queries' filters apart
            let unique = Filter::cmp("id", nestdb::CmpOp::Ge, -1 - i as i64);
            let lang = prefix(l, 1);
            let lids = &lang_ids[&lang];
            let j = rng.random_range(0..lids.len().saturating_sub(want).max(1));
            let (lo, hi) = (lids[j], lids[(j + want).min(lids.len() - 1)]);
            range.push(
                Filter::descendant("label", &lang)
                    .and(Filter::cmp("id", nestdb::CmpOp::Ge, lo))
                    .and(Filter::cmp("id", nestdb::CmpOp::Lt, hi))
                    .and(unique.clone()),
            );
            let mut kinds: Vec<(&String, &usize)> = lang_asts[&lang].iter().collect();
            kinds.shuffle(rng);
            let (mut got, mut list) = (0, Vec::new());
            for (k, c) in kinds {
                if got >= want {
                    break;
                }
                if got + c <= want * 2 {
                    got += c;
                    list.push(k.clone());
                }
            }
            if list.is_empty() {
                list.push("none".into());
            }
            inl.push(
                Filter::descendant("label", &lang)
                    .and(Filter::in_list("ast", list))
                    .and(unique),
            );
        }
        let pct = share * 100.0;
        out.push(Workload {
            name: format!("range-{pct}%"),
            filters: range,
            repeat: false,
            warm_other: false,
        });
        out.push(Workload {
            name: format!("in-{pct}%"),
            filters: inl,
            repeat: false,
            warm_other: false,
        });
    }
    out
}

/// Runs every query with its filter, whole passes until at least `seconds` have passed; ids
/// (of the last pass) and QPS.
fn run(
    snap: &Snapshot,
    queries: &[f32],
    w: &Workload,
    p: &SearchParams,
    seconds: f64,
) -> (Vec<Vec<i64>>, f64) {
    let one = |i: usize, q: &[f32]| -> Vec<i64> {
        let s = snap
            .search(q)
            .limit(10)
            .select(&["id"])
            .params(p.clone())
            .filter(w.filters[i].clone());
        let r = s.execute().expect("search");
        r.column(0).as_primitive::<Int64Type>().values().to_vec()
    };
    let start = Instant::now();
    let (mut n, mut spent) = (0usize, 0.0f64);
    loop {
        let mut out = Vec::new();
        for (i, q) in queries.chunks_exact(DIM).enumerate() {
            if w.repeat {
                // the first use caches the selection, the second its gathered codes
                let warm = warm_vector(queries, i, w.warm_other);
                one(i, warm);
                one(i, warm);
            }
            let t = Instant::now();
            out.push(one(i, q));
            spent += t.elapsed().as_secs_f64();
        }
        n += out.len();
        if start.elapsed().as_secs_f64() >= seconds {
            return (out, n as f64 / spent);
        }
    }
}

/// The vector that warms query `i`'s filter: its own, or with `other` query `i + n/2`'s.
fn warm_vector(queries: &[f32], i: usize, other: bool) -> &[f32] {
    let n = queries.len() / DIM;
    let j = if other { (i + n / 2) % n } else { i };
    &queries[j * DIM..(j + 1) * DIM]
}

/// Mean rows kept per query.
fn mean_matching(snap: &Snapshot, queries: &[f32], w: &Workload) -> f64 {
    let n = queries.len() / DIM;
    let sum: usize = w.filters[..n]
        .iter()
        .map(|f| snap.count_where(Some(f)).expect("count"))
        .sum();
    sum as f64 / n as f64
}

/// Whether to print query `i`'s EXPLAIN ANALYZE: `NESTDB_FILTERS_STAGES` set (queries 0-2), or
/// set to a comma-separated list of query numbers.
fn stages_of(i: usize) -> bool {
    match std::env::var("NESTDB_FILTERS_STAGES") {
        Ok(v) if !v.is_empty() => v.split(',').any(|n| n.trim().parse() == Ok(i)),
        Ok(_) => i < 3,
        Err(_) => false,
    }
}

/// Mean filter and planning milliseconds, and the shares of cached selections and of filters
/// tested in stage (EXPLAIN ANALYZE).
fn overhead(
    snap: &Snapshot,
    queries: &[f32],
    w: &Workload,
    p: &SearchParams,
) -> (f64, f64, f64, f64) {
    let (mut f, mut pl, mut cached, mut in_stage, mut n) = (0.0, 0.0, 0usize, 0usize, 0usize);
    for (i, q) in queries.chunks_exact(DIM).enumerate() {
        let search = |v: &[f32]| {
            snap.search(v)
                .limit(10)
                .params(p.clone())
                .filter(w.filters[i].clone())
        };
        if w.repeat {
            let warm = search(warm_vector(queries, i, w.warm_other));
            warm.execute().expect("search");
            warm.execute().expect("search");
        }
        let (_, e) = search(q).explain_analyze().expect("explain");
        if stages_of(i) {
            eprintln!("{} query {i}:\n{e}", w.name);
        }
        if std::env::var_os("NESTDB_FILTERS_PER_QUERY").is_some() {
            let ms = |d: std::time::Duration| d.as_secs_f64() * 1e3;
            let stages: Vec<_> = e
                .stages
                .iter()
                .map(|s| json!([s.name, s.rows_touched, ms(s.time)]))
                .collect();
            eprintln!(
                "{}",
                json!({"workload": w.name, "query": i, "mode": e.filter.name(),
                    "strategy": e.strategy, "matching": e.matching,
                    "filter_ms": ms(e.filter_time), "plan_ms": ms(e.plan_time),
                    "stages_ms": e.stages.iter().map(|s| ms(s.time)).sum::<f64>(),
                    "stages": stages, "total_ms": ms(e.total)})
            );
        }
        f += e.filter_time.as_secs_f64() * 1e3;
        pl += e.plan_time.as_secs_f64() * 1e3;
        cached += usize::from(e.filter == nestdb::FilterMode::Cached);
        in_stage += usize::from(e.filter == nestdb::FilterMode::InStage);
        n += 1;
    }
    let n = n.max(1) as f64;
    (f / n, pl / n, cached as f64 / n, in_stage as f64 / n)
}
