//! The scale benchmark: a set made by `../shared/data/scale/make_scale.py --rows N --out DIR`
//! (`DIR/base.parquet`, `DIR/ground_truth.parquet`), loaded, indexed and queried in separate
//! processes so each phase reports its own peak memory. Prints one JSON line per phase.
//!
//! ```text
//! nestdb-scale load    --data DIR --db DB [--with k=v,...] [--auto-index]   COPY base.parquet
//!     into table `chunks` (created with those table options); with --auto-index the COPY
//!     also fits the index as the shell's does (the whole build in one phase; no ANALYZE needed)
//! nestdb-scale analyze --db DB [--tune-on first|second|rows]   ANALYZE (fit, tune, encode); with
//!     --tune-on, the schedules are tuned on that half of the held-out queries
//!     (`Table::set_tuning_queries`) instead of on rows; `--tune-on rows` goes back to rows (the
//!     default) on a table that kept tuning queries from an earlier fit
//! (`query` and `filtered` take `--half first|second`: only that half of the held-out queries)
//! nestdb-scale query   --data DIR --db DB [--targets 0.8,0.9,0.95,0.98,0.99] [--seconds S]
//!     [--shortlist A,B]
//!     open time, first query, then per target: recall@10 on the 700 held-out queries
//!     (first pass, cold), QPS one query at a time (warm), the tuner's estimate, bytes read;
//!     --shortlist runs each target's schedule with those shortlist lengths, probe unchanged
//! nestdb-scale filtered --db DB [--targets ...] [--levels L] [--and-range] [--broad]
//!     [--materialize | --in-stage] [--no-truth] [--prefix P]
//!     each held-out query filtered to its own label subtree (the first L levels of its
//!     label_path, default 2; no two consecutive filters alike), with --and-range also
//!     `id >= lo` with lo random per query (no two filters alike at all); recall against exact
//!     search over the same rows; --broad negates the subtree (most rows match, lo drawn
//!     from the first fifth of the ids); --materialize evaluates every filter over the whole
//!     table first, --in-stage tests it in the first stage whenever the plan probes (neither:
//!     the planner chooses); --prefix P filters every query to the one subtree P instead;
//!     --band S filters each query to a label subtree holding S/2..2S of the rows (its own
//!     at the closest level when it has one in range, else one drawn at random)
//! nestdb-scale live --data DIR --db DB [--targets ...] [--passes P]
//!     the live recall monitor at scale: the first half of the held-out queries is the
//!     table's traffic, every search sampled (CPU budget 1, each sample measured before the
//!     next search, so none is dropped), passes repeated until a pass adjusts nothing (at most
//!     P, default 6); then recall@10 and QPS on the second half, which the monitor never saw,
//!     and what SHOW RECALL reports
//! ```
//! The held-out queries come from `$NESTDB_SHARED_DATA/queries.parquet`. With
//! `NESTDB_SCALE_STAGES` set, the EXPLAIN ANALYZE of the first three queries goes to stderr
//! (`=all`: every explained query's one-line summary).

use std::path::{Path, PathBuf};
use std::time::Instant;

use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use arrow_array::Array;
use nestdb::{Database, Filter, SearchParams, Table};
use nestdb_benches::data::{self, DIM};
use nestdb_benches::driver::{arg, dir_mib, peak_rss_mib, read_bytes};
use rand::{Rng, SeedableRng};
use serde_json::json;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    rayon::ThreadPoolBuilder::new()
        .num_threads(
            arg(&args, "--threads")
                .and_then(|s| s.parse().ok())
                .unwrap_or(2),
        )
        .build_global()
        .expect("rayon pool");
    let db = PathBuf::from(arg(&args, "--db").expect("--db DB"));
    match args.get(1).map(String::as_str) {
        Some("load") => load(&args, &db),
        Some("analyze") => analyze(&args, &db),
        Some("query") => query(&args, &db),
        Some("filtered") => filtered(&args, &db),
        Some("live") => live(&args, &db),
        _ => eprintln!(
            "usage: nestdb-scale load|analyze|query|filtered|live (see the source header)"
        ),
    }
}

fn open(db: &Path) -> Database {
    open_with(db, false)
}

fn open_with(db: &Path, auto_index: bool) -> Database {
    Database::builder()
        .auto_index(auto_index)
        .open(db)
        .expect("open")
}

fn load(args: &[String], db: &Path) {
    let dir = PathBuf::from(arg(args, "--data").expect("--data DIR"));
    let auto = args.iter().any(|a| a == "--auto-index");
    let d = open_with(db, auto);
    // --with "key=value,key=value": table options (docs/sql.md), e.g. holdout_radius=0.12
    let mut o = nestdb::TableOptions::default();
    for kv in arg(args, "--with").unwrap_or_default().split(',') {
        if let Some((k, v)) = kv.split_once('=') {
            o.set(k.trim(), v.trim()).expect("table option");
        }
    }
    d.create_table_with("chunks", data::table_schema(), o)
        .expect("create");
    let src = dir.join("base.parquet");
    let raw = std::fs::metadata(&src).expect("base.parquet").len();
    let start = Instant::now();
    d.sql(&format!(
        "COPY chunks FROM '{}' (FORMAT parquet, MAP 'chunk_id=id, label_path=label, ast_path=ast')",
        src.display()
    ))
    .expect("copy");
    let s = start.elapsed().as_secs_f64();
    let rows = d.table("chunks").expect("table").count();
    println!(
        "{}",
        json!({"phase": "load", "auto_index": auto, "rows": rows, "seconds": s, "rows_per_s": rows as f64 / s,
               "peak_rss_mib": peak_rss_mib(), "db_mib": dir_mib(db),
               "source_mib": raw as f64 / 1048576.0,
               "raw_vectors_mib": (rows * DIM * 4) as f64 / 1048576.0})
    );
}

/// `--half first|second` (or `--tune-on`): the range of the 700 held-out queries it names.
fn half(args: &[String], flag: &str, n: usize) -> std::ops::Range<usize> {
    match arg(args, flag).as_deref() {
        None => 0..n,
        Some("first") => 0..n / 2,
        Some("second") => n / 2..n,
        Some(h) => panic!("{flag} {h}: first or second"),
    }
}

/// The held-out queries (flat) of `--half`, and their range.
fn held_out(args: &[String], flag: &str) -> (Vec<f32>, std::ops::Range<usize>) {
    let q = data::read("queries.parquet", &["embedding"]);
    let all = data::flat_vectors(q.column(0));
    let r = half(args, flag, all.len() / DIM);
    (all[r.start * DIM..r.end * DIM].to_vec(), r)
}

fn analyze(args: &[String], db: &Path) {
    let d = open(db);
    let t = d.table("chunks").expect("table");
    match arg(args, "--tune-on").as_deref() {
        None => {}
        Some("rows") => t.set_tuning_queries(&[]).expect("back to tuning on rows"),
        Some(_) => {
            let (q, _) = held_out(args, "--tune-on");
            let rows: Vec<Vec<f32>> = q.chunks_exact(DIM).map(<[f32]>::to_vec).collect();
            t.set_tuning_queries(&rows).expect("tuning queries");
        }
    }
    let start = Instant::now();
    t.analyze().expect("analyze");
    let s = start.elapsed().as_secs_f64();
    let rows = t.count();
    println!(
        "{}",
        json!({"phase": "analyze", "rows": rows, "seconds": s, "peak_rss_mib": peak_rss_mib(),
               "tuning_queries": t.tuning_queries().expect("tuning queries"),
               "db_mib": dir_mib(db), "raw_vectors_mib": (rows * DIM * 4) as f64 / 1048576.0})
    );
}

fn targets(args: &[String]) -> Vec<f32> {
    arg(args, "--targets")
        .unwrap_or_else(|| "0.8,0.9,0.95,0.98,0.99".into())
        .split(',')
        .map(|s| s.parse().expect("target"))
        .collect()
}

/// Ids of a search's result (column `id`).
fn ids(t: &Table, q: &[f32], p: &SearchParams, f: Option<&Filter>) -> Vec<i64> {
    let mut s = t.search(q).limit(10).select(&["id"]).params(p.clone());
    if let Some(f) = f {
        s = s.filter(f.clone());
    }
    let r = s.execute().expect("search");
    r.column(0).as_primitive::<Int64Type>().values().to_vec()
}

fn target(r: f32) -> SearchParams {
    SearchParams {
        recall_target: Some(r),
        ..SearchParams::default()
    }
}

/// Open, first query, then per target recall (first pass), warm QPS, estimate, bytes read.
fn query(args: &[String], db: &Path) {
    let dir = PathBuf::from(arg(args, "--data").expect("--data DIR"));
    let secs: f64 = arg(args, "--seconds")
        .and_then(|s| s.parse().ok())
        .unwrap_or(5.0);
    let (queries, r) = held_out(args, "--half");
    let truth = read_truth(&dir.join("ground_truth.parquet"))[r].to_vec();
    let read0 = read_bytes();
    let start = Instant::now();
    let d = open(db);
    let t = d.table("chunks").expect("table");
    let open_s = start.elapsed().as_secs_f64();
    let first = ids(&t, &queries[..DIM], &target(0.95), None);
    let first_s = start.elapsed().as_secs_f64();
    println!(
        "{}",
        json!({"phase": "open", "rows": t.count(), "open_s": open_s, "first_query_s": first_s,
               "read_mib_at_open": (read_bytes() - read0) as f64 / 1048576.0,
               "first_ids": first.len(), "db_mib": dir_mib(db)})
    );
    // --shortlist a,b: the tuned schedule with these shortlist lengths (its probe unchanged)
    let shortlist: Option<Vec<usize>> = arg(args, "--shortlist").map(|s| {
        s.split(',')
            .map(|n| n.parse().expect("--shortlist a,b"))
            .collect()
    });
    for r in targets(args) {
        let mut p = target(r);
        p.shortlist.clone_from(&shortlist);
        let start = Instant::now();
        let found: Vec<Vec<i64>> = queries
            .chunks_exact(DIM)
            .map(|v| ids(&t, v, &p, None))
            .collect();
        let cold_qps = found.len() as f64 / start.elapsed().as_secs_f64();
        let qps = timed(secs, &queries, |v| ids(&t, v, &p, None).len());
        let x = explain(&t, &queries, &p, &[]);
        println!(
            "{}",
            json!({"phase": "query", "target": r, "shortlist": shortlist, "recall": data::recall(&found, &truth, 10),
                   "estimate": x.estimate, "first_pass_qps": cold_qps, "qps": qps,
                   "bytes_per_query": x.bytes, "peak_rss_mib": peak_rss_mib()})
        );
    }
}

/// Queries per second over `queries`, one at a time, for at least `secs`.
fn timed(secs: f64, queries: &[f32], mut run: impl FnMut(&[f32]) -> usize) -> f64 {
    let start = Instant::now();
    let mut n = 0;
    while start.elapsed().as_secs_f64() < secs {
        for v in queries.chunks_exact(DIM) {
            run(v);
            n += 1;
        }
    }
    n as f64 / start.elapsed().as_secs_f64()
}

/// The first query's estimate `[mean, lo, hi]` and the mean bytes read per query
/// (EXPLAIN ANALYZE over the first 100 queries).
/// Over the first 100 queries (EXPLAIN ANALYZE): the tuner's estimate, mean bytes read, mean
/// milliseconds spent on the filter, and the share of filters tested in stage.
fn explain(t: &Table, queries: &[f32], p: &SearchParams, filters: &[Filter]) -> Explained {
    let mut x = Explained::default();
    let n = 100.min(queries.len() / DIM);
    for (i, v) in queries.chunks_exact(DIM).take(n).enumerate() {
        let mut s = t.search(v).limit(10).params(p.clone());
        if let Some(f) = filters.get(i) {
            s = s.filter(f.clone());
        }
        let (_, e) = s.explain_analyze().expect("explain");
        match std::env::var("NESTDB_SCALE_STAGES").as_deref() {
            Ok("all") => eprintln!("query {i}: {}", e.summary()),
            Ok("full") => eprintln!("query {i}:\n{e}"),
            Ok(_) if i < 3 => eprintln!("query {i}:\n{e}"),
            _ => {}
        }
        if i == 0 {
            x.estimate = e
                .estimate
                .map(|r| vec![r.mean, r.lo, r.hi])
                .unwrap_or_default();
        }
        // the plan (and so the estimate) may differ per query: exact plans count as 1
        x.estimate_mean += e.estimate.map_or(1.0, |r| f64::from(r.mean)) / n as f64;
        x.bytes += e.stages.iter().map(|s| s.bytes_touched).sum::<usize>() as f64 / n as f64;
        x.filter_ms += e.filter_time.as_secs_f64() * 1e3 / n as f64;
        x.in_stage += f64::from(u8::from(e.filter == nestdb::FilterMode::InStage)) / n as f64;
    }
    x
}

#[derive(Default)]
struct Explained {
    estimate: Vec<f32>,
    /// Mean over the explained queries of each plan's estimate (1 for exact plans).
    estimate_mean: f64,
    bytes: f64,
    filter_ms: f64,
    in_stage: f64,
}

fn read_truth(path: &Path) -> Vec<Vec<i64>> {
    let f = std::fs::File::open(path).expect("ground_truth.parquet");
    let r = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(f)
        .expect("parquet")
        .build()
        .expect("reader");
    let mut out = Vec::new();
    for b in r {
        let b = b.expect("batch");
        let n = b
            .column_by_name("neighbors")
            .expect("neighbors")
            .as_fixed_size_list();
        for i in 0..n.len() {
            out.push(n.value(i).as_primitive::<Int64Type>().values().to_vec());
        }
    }
    out
}

/// Per-query label-subtree filters: each held-out query keeps the first `levels` levels of
/// its own label_path; with `max_id`, also `id >= lo` with `lo` drawn per query (seeded) from
/// `[0, max_id / 2)`, so no two filters are alike.
fn subtree_filters(levels: usize, max_id: Option<i64>, broad: bool) -> Vec<Filter> {
    let q = data::read("queries.parquet", &["label_path"]);
    let labels = q.column(0).as_string::<i32>();
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    (0..labels.len())
        .map(|i| {
            let l: Vec<&str> = labels.value(i).split('/').take(levels).collect();
            let mut sql = format!("label <@ '{}'", l.join("/").replace('\'', "''"));
            if broad {
                sql = format!("NOT {sql}");
            }
            if let Some(m) = max_id {
                let upto = if broad { m / 5 } else { m / 2 };
                sql.push_str(&format!(" AND id >= {}", rng.random_range(0..upto.max(1))));
            }
            Filter::parse(&sql).expect("filter")
        })
        .collect()
}

/// Per-query label-subtree filters of about selectivity `s` (subtrees holding between `s / 2`
/// and `2 s` of the table's rows): the query's own subtree at the level closest to `s` (in
/// log ratio) when one of its levels is in that range, else a subtree drawn (seeded) from all
/// those in range. Returns the filters and how many are the query's own subtree.
fn band_filters(t: &Table, s: f64) -> (Vec<Filter>, usize) {
    let rows = t.count() as f64;
    let scanned = t.snapshot().scan(Some(&["label"]), None).expect("scan");
    let subtrees = data::subtrees(&scanned, "label");
    let fits = |n: usize| (s / 2.0..=2.0 * s).contains(&(n as f64 / rows));
    let off = |n: usize| (n as f64 / rows / s).ln().abs();
    let counts: std::collections::HashMap<&str, usize> =
        subtrees.iter().map(|(l, n)| (l.as_str(), *n)).collect();
    let in_band: Vec<&str> = subtrees
        .iter()
        .filter(|(_, n)| fits(*n))
        .map(|(l, _)| l.as_str())
        .collect();
    assert!(
        !in_band.is_empty(),
        "no label subtree holds about {s} of the rows"
    );
    let q = data::read("queries.parquet", &["label_path"]);
    let labels = q.column(0).as_string::<i32>();
    let mut rng = rand::rngs::StdRng::seed_from_u64(13);
    let mut own = 0;
    let filters = (0..labels.len())
        .map(|i| {
            let l = nestdb::label::normalize(labels.value(i)).expect("label");
            let levels = l.match_indices('/').map(|(p, _)| &l[..p]).chain([&*l]);
            let mine = levels
                .filter_map(|p| counts.get(p).map(|&n| (p, n)))
                .filter(|&(_, n)| fits(n))
                .min_by(|a, b| off(a.1).total_cmp(&off(b.1)));
            let pick = match mine {
                Some((p, _)) => {
                    own += 1;
                    p.to_string()
                }
                None => in_band[rng.random_range(0..in_band.len())].to_string(),
            };
            Filter::parse(&format!("label <@ '{}'", pick.replace('\'', "''"))).expect("filter")
        })
        .collect();
    (filters, own)
}

/// Each query under its own subtree filter: recall against exact search, QPS, selectivity.
fn filtered(args: &[String], db: &Path) {
    let secs: f64 = arg(args, "--seconds")
        .and_then(|s| s.parse().ok())
        .unwrap_or(5.0);
    let levels = arg(args, "--levels")
        .and_then(|s| s.parse().ok())
        .unwrap_or(2);
    let (queries, qr) = held_out(args, "--half");
    let range = args.iter().any(|a| a == "--and-range");
    let broad = args.iter().any(|a| a == "--broad");
    let in_stage = if args.iter().any(|a| a == "--materialize") {
        Some(false)
    } else if args.iter().any(|a| a == "--in-stage") {
        Some(true)
    } else {
        None
    };
    let d = open(db);
    let t = d.table("chunks").expect("table");
    let band: Option<f64> = arg(args, "--band").map(|s| s.parse().expect("--band S"));
    let (all, own) = match band {
        Some(s) => band_filters(&t, s),
        None => (
            subtree_filters(levels, range.then(|| t.count() as i64), broad),
            0,
        ),
    };
    let mut filters = all[qr].to_vec();
    // --prefix P: every query filtered to the one subtree P (a filter every query shares)
    if let Some(p) = arg(args, "--prefix") {
        let f = Filter::parse(&format!("label <@ '{}'", p.replace('\'', "''"))).expect("filter");
        filters.iter_mut().for_each(|x| *x = f.clone());
    }
    let exact = SearchParams {
        exact: true,
        ..SearchParams::default()
    };
    // --no-truth: timing only (recall is then reported against the funnel's own results)
    let truth_params = if args.iter().any(|a| a == "--no-truth") {
        target(0.95)
    } else {
        exact
    };
    let truth: Vec<Vec<i64>> = queries
        .chunks_exact(DIM)
        .zip(&filters)
        .map(|(v, f)| ids(&t, v, &truth_params, Some(f)))
        .collect();
    let rows = t.count() as f64;
    let sel: f64 = filters
        .iter()
        .take(100)
        .map(|f| t.snapshot().count_where(Some(f)).expect("count") as f64 / rows)
        .sum::<f64>()
        / 100.0;
    for r in targets(args) {
        let p = SearchParams {
            filter_in_stage: in_stage,
            ..target(r)
        };
        let found: Vec<Vec<i64>> = queries
            .chunks_exact(DIM)
            .zip(&filters)
            .map(|(v, f)| ids(&t, v, &p, Some(f)))
            .collect();
        let short = found
            .iter()
            .zip(&truth)
            .filter(|(f, t)| f.len() < t.len())
            .count();
        let mut i = 0;
        let qps = timed(secs, &queries, |v| {
            i += 1;
            ids(&t, v, &p, Some(&filters[(i - 1) % filters.len()])).len()
        });
        let x = explain(&t, &queries, &p, &filters);
        println!(
            "{}",
            json!({"phase": "filtered", "levels": levels, "and_range": range,
                   "band": band, "own_subtree_share": own as f64 / all.len() as f64,
                   "prefix": arg(args, "--prefix"),
                   "broad": broad, "filter_in_stage": in_stage,
                   "mean_selectivity": sel, "target": r,
                   "recall": recall_vs(&found, &truth), "short_results": short,
                   "estimate": x.estimate, "estimate_mean": x.estimate_mean,
                   "qps": qps, "bytes_per_query": x.bytes,
                   "filter_ms": x.filter_ms, "in_stage_share": x.in_stage})
        );
    }
}

/// Mean recall@10 of `found` against exact results that may hold fewer than 10 rows.
fn recall_vs(found: &[Vec<i64>], truth: &[Vec<i64>]) -> f64 {
    let (mut hits, mut total) = (0usize, 0usize);
    for (f, t) in found.iter().zip(truth) {
        total += t.len().min(10);
        hits += f.iter().filter(|x| t.contains(x)).count();
    }
    hits as f64 / total.max(1) as f64
}

/// The live monitor on the first half of the queries, measured on the second (see the header).
fn live(args: &[String], db: &Path) {
    let dir = PathBuf::from(arg(args, "--data").expect("--data DIR"));
    let passes: usize = arg(args, "--passes")
        .and_then(|s| s.parse().ok())
        .unwrap_or(6);
    let q = data::read("queries.parquet", &["embedding"]);
    let queries = data::flat_vectors(q.column(0));
    let truth = read_truth(&dir.join("ground_truth.parquet"));
    let half = queries.len() / DIM / 2;
    let (traffic, held) = queries.split_at(half * DIM);
    let d = Database::builder()
        .auto_index(false)
        .recall_sample_rate(1.0)
        .recall_cpu_budget(1.0)
        .open(db)
        .expect("open");
    let t = d.table("chunks").expect("table");
    for r in targets(args) {
        let p = target(r);
        let before = t.recall_report().adjustments.len();
        let mut seen = 0;
        for pass in 0..passes {
            let start = t.recall_report().adjustments.len();
            t.set_recall_sampling(1.0);
            for v in traffic.chunks_exact(DIM) {
                ids(&t, v, &p, None);
                seen += 1;
                while t.recall_report().pending > 0 {
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
            }
            if pass > 0 && t.recall_report().adjustments.len() == start {
                break;
            }
        }
        t.set_recall_sampling(0.0);
        let found: Vec<Vec<i64>> = held
            .chunks_exact(DIM)
            .map(|v| ids(&t, v, &p, None))
            .collect();
        let qps = timed(5.0, held, |v| ids(&t, v, &p, None).len());
        let rep = t.recall_report();
        let row = rep
            .rows
            .iter()
            .find(|x| x.target == r && x.band == "unfiltered");
        let notes: Vec<&str> = rep.adjustments[before..]
            .iter()
            .filter(|a| a.0 == r)
            .map(|a| a.1.as_str())
            .collect();
        println!(
            "{}",
            json!({"phase": "live", "target": r, "traffic_searches": seen,
                   "serving_target": row.map(|x| x.serving),
                   "monitor_measured": row.map(|x| x.measured.mean),
                   "monitor_samples": row.map(|x| x.measured.queries),
                   "held_out_recall": data::recall(&found, &truth[half..], 10),
                   "held_out_qps": qps, "adjustments": notes})
        );
    }
}
