//! Recall of the learned funnel on the shared data's held-out queries, against exact ground
//! truth: meets each recall target (minus 0.01), never loses recall when given more probes or
//! longer shortlists, and still meets the target after deletes, upserts and compaction.

use std::sync::OnceLock;
use std::time::Instant;

use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use nestdb::{Database, SearchParams, Table};
use nestdb_benches::data::{self, search_ids as search_all, Eval, DIM};

struct Fixture {
    _dir: tempfile::TempDir,
    table: Table,
    eval: Eval,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let eval = data::load();
        let dir = tempfile::tempdir().unwrap();
        let db = Database::builder().sync(false).open(dir.path()).unwrap();
        let table = db.create_table("chunks", data::table_schema()).unwrap();
        let t = Instant::now();
        for start in (0..eval.base.num_rows()).step_by(5000) {
            let len = 5000.min(eval.base.num_rows() - start);
            table.insert(&eval.base.slice(start, len)).unwrap();
        }
        let m = table.analyze().unwrap();
        assert!(
            m.refit && m.index_version.is_some(),
            "no index was fit: {m:?}"
        );
        eprintln!(
            "loaded and indexed {} rows in {:.1}s",
            table.count(),
            t.elapsed().as_secs_f64()
        );
        Fixture {
            _dir: dir,
            table,
            eval,
        }
    })
}

fn target(t: f32) -> SearchParams {
    SearchParams {
        recall_target: Some(t),
        ..SearchParams::default()
    }
}

#[test]
fn exact_search_matches_ground_truth() {
    let f = fixture();
    let p = SearchParams {
        exact: true,
        ..SearchParams::default()
    };
    let found = search_all(&f.table, &f.eval.queries[..100 * DIM], 10, &p);
    let r = data::recall(&found, &f.eval.truth[..100], 10);
    assert!(r >= 0.999, "exact recall {r}");
}

#[test]
fn funnel_meets_each_recall_target() {
    let f = fixture();
    for t in [0.8f32, 0.9, 0.95, 0.98, 0.99, 0.995] {
        let found = search_all(&f.table, &f.eval.queries, 10, &target(t));
        let r = data::recall(&found, &f.eval.truth, 10);
        eprintln!("recall_target {t}: recall@10 {r:.4}");
        assert!(r >= (t - 0.01) as f64, "target {t}: recall@10 {r:.4}");
    }
}

#[test]
fn more_probes_or_longer_shortlists_never_lower_recall() {
    let f = fixture();
    let q = &f.eval.queries[..300 * DIM];
    let truth = &f.eval.truth[..300];
    let mut last = 0.0;
    for nprobe in [1, 2, 4, 8, 16, 32, 64, 128] {
        let p = SearchParams {
            nprobe: Some(nprobe),
            shortlist: Some(vec![2000, 200]),
            ..SearchParams::default()
        };
        let r = data::recall(&search_all(&f.table, q, 10, &p), truth, 10);
        assert!(r >= last, "nprobe {nprobe}: recall {r} < {last}");
        last = r;
    }
    let mut last = 0.0;
    for scale in [1usize, 2, 4, 8, 16, 32] {
        let p = SearchParams {
            nprobe: Some(32),
            shortlist: Some(vec![40 * scale, 10 * scale]),
            ..SearchParams::default()
        };
        let r = data::recall(&search_all(&f.table, q, 10, &p), truth, 10);
        assert!(r >= last, "shortlist x{scale}: recall {r} < {last}");
        last = r;
    }
}

#[test]
fn funnel_meets_target_after_deletes_upserts_and_compaction() {
    let f = fixture();
    let dir = tempfile::tempdir().unwrap();
    let db = Database::builder().sync(false).open(dir.path()).unwrap();
    let t = db.create_table("chunks", data::table_schema()).unwrap();
    t.insert(&f.eval.base).unwrap();
    t.analyze().unwrap();
    // delete every 10th chunk, re-insert 2,000 of them under new ids (upsert), compact
    let dead: Vec<i64> = (0..f.eval.base.num_rows() as i64).step_by(10).collect();
    t.delete(&dead).unwrap();
    let again = f.eval.base.slice(0, 2000);
    let ids: Vec<i64> = again
        .column(0)
        .as_primitive::<Int64Type>()
        .values()
        .iter()
        .map(|i| i + 1_000_000)
        .collect();
    let mut cols = again.columns().to_vec();
    cols[0] = std::sync::Arc::new(arrow_array::Int64Array::from(ids));
    t.upsert(&arrow_array::RecordBatch::try_new(again.schema(), cols).unwrap())
        .unwrap();
    let q = &f.eval.queries[..300 * DIM];
    let exact = SearchParams {
        exact: true,
        ..SearchParams::default()
    };
    let check = |when: &str| {
        let truth = search_all(&t, q, 10, &exact);
        let r = data::recall(&search_all(&t, q, 10, &target(0.95)), &truth, 10);
        eprintln!("{when}: recall@10 {r:.4}");
        assert!(r >= 0.94, "{when}: recall@10 {r:.4}");
    };
    check("after deletes and upserts (unflushed rows)");
    t.flush().unwrap();
    check("after flush");
    t.compact().unwrap();
    check("after compaction");
}

#[test]
fn a_promise_no_schedule_can_keep_runs_exact() {
    let f = fixture();
    let q = &f.eval.queries[..DIM];
    // a target of 1 is exact search, said so, with the exact rows
    let e = plan(&f.table, q, target(1.0));
    assert_eq!(e.strategy, "exact", "{e}");
    assert!(e.reason.contains("recall target 1"), "{e}");
    let exact = SearchParams {
        exact: true,
        ..SearchParams::default()
    };
    let queries = &f.eval.queries[..50 * DIM];
    assert_eq!(
        search_all(&f.table, queries, 10, &target(1.0)),
        search_all(&f.table, queries, 10, &exact)
    );
    // a target above every tuned schedule's interval is exact too; one within it runs the
    // funnel and shows the estimate with the promise
    let best = plan(&f.table, q, target(0.999));
    match best.estimate {
        Some(r) => {
            assert_eq!(best.strategy, "funnel", "{best}");
            assert!(r.hi >= 0.999, "{best}");
            assert!(
                best.to_string().contains("promised recall@k: 0.999"),
                "{best}"
            );
        }
        None => {
            assert_eq!(best.strategy, "exact", "{best}");
            assert!(best.reason.contains("no tuned schedule reaches"), "{best}");
        }
    }
    // knobs opt out: the user chose the schedule
    let knob = SearchParams {
        nprobe: Some(1),
        recall_target: Some(1.0),
        ..SearchParams::default()
    };
    let e = plan(&f.table, q, knob);
    assert_eq!(e.strategy, "funnel", "{e}");
}

/// The plan of a top-10 search for `q` with `p`.
fn plan(t: &Table, q: &[f32], p: SearchParams) -> nestdb::Explain {
    t.search(q).limit(10).params(p).explain().unwrap()
}
