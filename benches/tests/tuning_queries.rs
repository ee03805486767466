//! Tuning on the table's own queries (`Table::set_tuning_queries`): when the queries a table
//! serves are unlike its rows (here the held-out queries pushed off the data's manifold with
//! seeded noise), schedules tuned on rows break the recall promise for them; tuned on half of
//! those queries, the promise is kept on the other half, which the tuner never saw, and the
//! estimate EXPLAIN shows is close to the recall measured there.

use nestdb::{Database, Error, SearchParams};
use nestdb_benches::data::{self, search_ids, DIM};
use nestdb_benches::driver;
use rand::SeedableRng;

/// Noise added to each unit query vector, per dimension (then renormalized).
const NOISE: f32 = 0.1;
const TARGETS: [f32; 4] = [0.9, 0.95, 0.98, 0.99];

fn at(target: f32) -> SearchParams {
    SearchParams {
        recall_target: Some(target),
        ..SearchParams::default()
    }
}

/// (measured recall@10 against exact search, the estimate EXPLAIN shows) per target.
fn measure(t: &nestdb::Table, queries: &[f32], truth: &[Vec<i64>]) -> Vec<(f64, f32)> {
    TARGETS
        .iter()
        .map(|&r| {
            let found = search_ids(t, queries, 10, &at(r));
            let plan = t
                .search(&queries[..DIM])
                .limit(10)
                .params(at(r))
                .explain()
                .expect("explain");
            let est = plan
                .estimate
                .expect("a tuned schedule has an estimate")
                .mean;
            (data::recall(&found, truth, 10), est)
        })
        .collect()
}

/// Every target kept within 0.01 on queries the tuner did not see, each estimate within 0.02.
fn promise_kept(on_queries: &[(f64, f32)]) {
    eprintln!("tuned on queries: (measured, estimate) {on_queries:?}");
    for ((measured, est), r) in on_queries.iter().zip(TARGETS) {
        assert!(
            *measured >= r as f64 - 0.01,
            "target {r}: {measured} on queries the tuner did not see"
        );
        assert!(
            (*est as f64 - measured).abs() <= 0.02,
            "target {r}: estimate {est}, measured {measured}"
        );
    }
}

#[test]
fn tuning_on_the_tables_queries_keeps_the_promise_for_queries_unlike_rows() {
    let e = data::load();
    let b = driver::build(&e.base);
    let t = &b.table;
    let queries = data::off_manifold(
        &e.queries,
        NOISE,
        &mut rand::rngs::StdRng::seed_from_u64(17),
    );
    let n = queries.len() / DIM;
    let (tune, eval) = queries.split_at(n / 2 * DIM);
    let exact = SearchParams {
        exact: true,
        ..SearchParams::default()
    };
    let truth = search_ids(t, eval, 10, &exact);
    let on_rows = measure(t, eval, &truth);
    eprintln!("tuned on rows: (measured, estimate) {on_rows:?}");
    assert_eq!(t.tuning_queries().expect("count"), 0);
    // the premise: tuned on rows, the promise breaks for these queries
    assert!(
        on_rows
            .iter()
            .zip(TARGETS)
            .any(|(m, r)| m.0 < r as f64 - 0.01),
        "off-manifold queries should break a promise tuned on rows: {on_rows:?}"
    );
    let rows: Vec<Vec<f32>> = tune.chunks_exact(DIM).map(<[f32]>::to_vec).collect();
    t.set_tuning_queries(&rows).expect("set");
    assert_eq!(t.tuning_queries().expect("count"), n / 2);
    t.analyze().expect("analyze");
    promise_kept(&measure(t, eval, &truth));
    // stored with the index: a reopened table, and its next fit, keep them
    let path = b.dir.path().to_path_buf();
    drop(b.table);
    drop(b.db);
    let db = Database::builder()
        .auto_index(false)
        .open(&path)
        .expect("reopen");
    let t = db.table("chunks").expect("table");
    assert_eq!(t.tuning_queries().expect("count"), n / 2);
    t.analyze().expect("analyze again");
    promise_kept(&measure(&t, eval, &truth));
    // back to rows, and bad input refused
    t.set_tuning_queries(&[]).expect("reset");
    assert_eq!(t.tuning_queries().expect("count"), 0);
    let few = vec![vec![0.1f32; DIM]; 5];
    assert!(matches!(
        t.set_tuning_queries(&few),
        Err(Error::Index(nestdb::IndexError::TooFewTuningQueries {
            given: 5,
            ..
        }))
    ));
    let short = vec![vec![0.1f32; DIM - 1]; 30];
    assert!(matches!(t.set_tuning_queries(&short), Err(Error::Query(_))));
    let zero = vec![vec![0.0f32; DIM]; 30];
    assert!(
        t.set_tuning_queries(&zero).is_err(),
        "the zero vector has no cosine"
    );
}
