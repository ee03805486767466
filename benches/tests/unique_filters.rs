//! Filters that differ on every query, on the shared data: the planner tests them inside the
//! funnel's first stage when it can (no selection over the whole table), which must return
//! exactly what the materialized selection returns, k rows whenever k match, at the recall
//! target.

use arrow_array::cast::AsArray;
use arrow_array::types::{Float32Type, Int64Type};
use nestdb::{Database, FilterMode, SearchParams, Table};
use nestdb_benches::data::{self, DIM};
use rand::{Rng, SeedableRng};

fn table(dir: &std::path::Path, e: &data::Eval) -> Table {
    let db = Database::builder().sync(false).open(dir).unwrap();
    let t = db.create_table("chunks", data::table_schema()).unwrap();
    t.insert(&e.base).unwrap();
    t.analyze().unwrap();
    t
}

/// Filters tested in stage whenever the plan probes: at 40k rows (partitions of 100 rows) the
/// planner itself would evaluate them whole, a partition's fixed cost outweighing its rows.
fn forced_in_stage() -> SearchParams {
    SearchParams {
        filter_in_stage: Some(true),
        ..SearchParams::default()
    }
}

/// One search: (ids, distances) and how its filter ran.
fn search(t: &Table, q: &[f32], cond: &str, p: &SearchParams) -> (Vec<i64>, Vec<f32>, FilterMode) {
    let (r, e) = t
        .search(q)
        .limit(10)
        .select(&["id"])
        .params(p.clone())
        .filter_sql(cond)
        .unwrap()
        .explain_analyze()
        .unwrap();
    let ids = r.column(0).as_primitive::<Int64Type>().values().to_vec();
    let d = r
        .column_by_name("_distance")
        .unwrap()
        .as_primitive::<Float32Type>()
        .values()
        .to_vec();
    if std::env::var("SHOW_PLAN").is_ok() {
        eprintln!("{cond}\n{e}");
    }
    (ids, d, e.filter)
}

#[test]
fn first_seen_filters_tested_in_stage_return_what_materialized_ones_do() {
    let e = data::load();
    let dir = tempfile::tempdir().unwrap();
    let t = table(dir.path(), &e);
    // unions of top-level label subtrees (disjoint, so the estimate, a sum of exact posting
    // counts, is exact: the plan on the estimate and the plan on the count are the same plan)
    let top: Vec<String> = data::subtrees(&e.base, "label")
        .into_iter()
        .filter(|(l, _)| !l.contains('/'))
        .map(|(l, _)| l)
        .collect();
    assert!(top.len() >= 8, "{top:?}");
    let mut rng = rand::rngs::StdRng::seed_from_u64(3);
    let mut picks = std::collections::BTreeSet::new();
    while picks.len() < 60 {
        let mut pick: Vec<&String> = top.iter().filter(|_| rng.random_bool(0.6)).collect();
        pick.sort();
        if pick.len() >= 2 {
            let ors: Vec<String> = pick.iter().map(|l| format!("label <@ '{l}'")).collect();
            picks.insert(ors.join(" OR "));
        }
    }
    let p = forced_in_stage();
    let mut in_stage = 0;
    for (i, cond) in picks.iter().enumerate() {
        let q = &e.queries[i * DIM..(i + 1) * DIM];
        let first = search(&t, q, cond, &p);
        let again = search(&t, q, cond, &p);
        assert_ne!(again.2, FilterMode::InStage, "{cond}: second use");
        in_stage += usize::from(first.2 == FilterMode::InStage);
        assert_eq!(first.0, again.0, "{cond}: ids");
        assert_eq!(first.1, again.1, "{cond}: distances");
    }
    let n = picks.len();
    eprintln!("{in_stage} of {n} first-seen filters tested in stage");
    assert!(in_stage * 2 >= n, "only {in_stage} of {n} tested in stage");
}

#[test]
fn unique_filters_meet_the_target_and_return_k_rows() {
    let e = data::load();
    let dir = tempfile::tempdir().unwrap();
    let t = table(dir.path(), &e);
    let rows = e.base.num_rows() as i64;
    let all = data::subtrees(&e.base, "label");
    let mut rng = rand::rngs::StdRng::seed_from_u64(15);
    let exact = SearchParams {
        exact: true,
        ..SearchParams::default()
    };
    let mut in_stage = 0;
    for share in [0.7f64, 0.1, 0.01, 0.001] {
        let want = share.min(0.1) * rows as f64;
        let mut near: Vec<&(String, usize)> = all.iter().collect();
        near.sort_by(|a, b| {
            (a.1 as f64 - want)
                .abs()
                .total_cmp(&(b.1 as f64 - want).abs())
        });
        let (mut found, mut truth) = (Vec::new(), Vec::new());
        for (i, (label, _)) in near.iter().take(20).cycle().take(100).enumerate() {
            let q = &e.queries[i * DIM..(i + 1) * DIM];
            // no two filters alike: the bound moves every query
            let lo = rng.random_range(0..rows / 2);
            let cond = if share > 0.5 {
                // broad: most rows match, the planner probes and tests the filter in stage
                format!("NOT label <@ '{label}' AND id >= {}", lo / 4)
            } else if i % 2 == 0 {
                format!("label <@ '{label}' AND id >= {lo}")
            } else {
                let l: Vec<String> = (0..20)
                    .map(|_| rng.random_range(0..rows).to_string())
                    .collect();
                format!(
                    "label <@ '{label}' AND (id >= {lo} OR id IN ({}))",
                    l.join(", ")
                )
            };
            let m = t
                .snapshot()
                .count_where(Some(&nestdb::Filter::parse(&cond).unwrap()))
                .unwrap();
            // the funnel first: it is the filter's first sighting (odd queries let the planner
            // choose, even ones test the filter in stage whenever the plan probes)
            let p = if i % 2 == 0 {
                forced_in_stage()
            } else {
                SearchParams::default()
            };
            let f = search(&t, q, &cond, &p);
            let x = search(&t, q, &cond, &exact);
            in_stage += usize::from(f.2 == FilterMode::InStage);
            assert_eq!(f.0.len(), 10.min(m), "{cond}: {} rows of {m}", f.0.len());
            assert_eq!(x.0.len(), 10.min(m), "{cond}");
            if m > 0 {
                found.push(f.0);
                truth.push(x.0);
            }
        }
        // recall@10 over every query (a query with m < 10 matching rows counts m)
        let hits: usize = found
            .iter()
            .zip(&truth)
            .map(|(f, x)| f.iter().filter(|id| x.contains(id)).count())
            .sum();
        let r = hits as f64 / truth.iter().map(Vec::len).sum::<usize>() as f64;
        eprintln!(
            "label share {share}: recall@10 {r:.4} over {} queries",
            found.len()
        );
        assert!(r >= 0.94, "share {share}: recall {r}");
    }
    eprintln!("{in_stage} of 400 tested in stage");
    assert!(in_stage > 0, "no unique filter was tested in stage");
}

/// Regression: a filter that excludes the query's own project leaves the nearest partitions
/// with few matching rows, and filtered probing sized by the table-wide share (82% here)
/// stopped short of the true neighbours (`nestdb-filters`' broad workload, the same filter:
/// recall 0.937 at target 0.95 on this data, 0.769 at 1M rows; docs/benchmarks.md). The walk
/// now probes further where it finds matches rarer than the table's share; this test measured
/// 0.915 / 0.957 at targets 0.90 / 0.95 with the rule and 0.871 / 0.933 with a weaker one
/// (fixed-nprobe schedules), and 0.903 / 0.951 with the rule on adaptive-probing schedules.
#[test]
fn filters_excluding_the_query_neighbourhood_meet_the_target() {
    let e = data::load();
    let dir = tempfile::tempdir().unwrap();
    let t = table(dir.path(), &e);
    let meta = data::read("queries.parquet", &["label_path"]);
    let labels = meta.column(0).as_string::<i32>();
    let exact = SearchParams {
        exact: true,
        ..SearchParams::default()
    };
    let n = 300.min(e.truth.len());
    let mut missed = Vec::new();
    for target in [0.9f32, 0.95] {
        let p = SearchParams {
            recall_target: Some(target),
            ..SearchParams::default()
        };
        let (mut found, mut truth) = (Vec::new(), Vec::new());
        for i in 0..n {
            let q = &e.queries[i * DIM..(i + 1) * DIM];
            let project: Vec<&str> = labels.value(i).split('/').take(2).collect();
            let cond = format!("NOT label <@ '{}'", project.join("/"));
            found.push(search(&t, q, &cond, &p).0);
            truth.push(search(&t, q, &cond, &exact).0);
        }
        let r = data::recall(&found, &truth, 10);
        eprintln!("target {target}: recall@10 {r:.4} over {n} queries");
        if r < f64::from(target) - 0.01 {
            missed.push((target, r));
        }
    }
    assert!(missed.is_empty(), "below target - 0.01: {missed:?}");
}
