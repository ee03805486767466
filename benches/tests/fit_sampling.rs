//! Issue 13's out-of-core fit, on the shared data's held-out queries: an index fit on a sample
//! of the rows finds what a fit on every row finds (same schedule, recall within 0.01), and
//! rows appended after ANALYZE (10% more, no refit) keep the recall target.

use nestdb::{Database, SearchParams, Table, TableOptions};
use nestdb_benches::data::{self, search_ids, Eval, DIM};

/// A table of the first `rows` rows of the shared corpus, indexed by ANALYZE with
/// `sample_rows` rows sampled for the fit, and its index version. The database maintains its
/// index by the default policy (refit once the row count doubles or halves).
fn indexed(eval: &Eval, dir: &std::path::Path, rows: usize, sample_rows: usize) -> (Table, u64) {
    let db = Database::builder().sync(false).open(dir).unwrap();
    let mut o = TableOptions::default();
    o.set("sample_rows", &sample_rows.to_string()).unwrap();
    let t = db
        .create_table_with("chunks", data::table_schema(), o)
        .unwrap();
    t.insert(&eval.base.slice(0, rows)).unwrap();
    let m = t.analyze().unwrap();
    let v = m.index_version.expect("ANALYZE fits an index");
    (t, v)
}

/// The schedule both fits are compared under: fixed probes and shortlists, so the recall
/// differs only by what the fit learned (rotation, partitions, quantizer).
fn fixed() -> SearchParams {
    SearchParams {
        nprobe: Some(8),
        shortlist: Some(vec![200, 40]),
        ..SearchParams::default()
    }
}

/// The default sample holds 64 rows per partition (`IndexOptions::sample_for`); here 25,600
/// of 39,960 rows (400 partitions). Defect it guards: the default was a fixed 200,000 rows,
/// 31 per partition at 10M, and a fit on 25 rows per partition (a quarter of these rows)
/// measured 0.849 against 0.862 for all rows under this schedule.
#[test]
fn a_fit_on_64_rows_per_partition_recalls_like_a_fit_on_all() {
    let eval = data::load();
    let n = eval.base.num_rows();
    let per_partition = 64 * (2.0 * (n as f64).sqrt()).round() as usize;
    assert!(per_partition < n);
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (full, _) = indexed(&eval, a.path(), n, n);
    let (sampled, _) = indexed(&eval, b.path(), n, per_partition);
    let r_full = data::recall(
        &search_ids(&full, &eval.queries, 10, &fixed()),
        &eval.truth,
        10,
    );
    let r_sampled = data::recall(
        &search_ids(&sampled, &eval.queries, 10, &fixed()),
        &eval.truth,
        10,
    );
    eprintln!("fixed schedule: full fit {r_full:.4}, fit on {per_partition} rows {r_sampled:.4}");
    assert!(
        (r_sampled - r_full).abs() <= 0.01,
        "sampled fit {r_sampled:.4} against full fit {r_full:.4}"
    );
}

#[test]
fn appending_a_tenth_more_rows_without_a_refit_keeps_the_target() {
    let eval = data::load();
    let n = eval.base.num_rows();
    let dir = tempfile::tempdir().unwrap();
    let first = n * 10 / 11;
    let (t, fitted) = indexed(&eval, dir.path(), first, 200_000);
    t.insert(&eval.base.slice(first, n - first)).unwrap();
    t.flush().unwrap();
    assert_eq!(t.count(), n);
    let q = &eval.queries[..300 * DIM];
    let exact = SearchParams {
        exact: true,
        ..SearchParams::default()
    };
    let truth = search_ids(&t, q, 10, &exact);
    for target in [0.9f32, 0.95] {
        let p = SearchParams {
            recall_target: Some(target),
            ..SearchParams::default()
        };
        let r = data::recall(&search_ids(&t, q, 10, &p), &truth, 10);
        eprintln!(
            "after appending {} rows, target {target}: {r:.4}",
            n - first
        );
        assert!(r >= (target - 0.01) as f64, "target {target}: {r:.4}");
    }
    // the refit policy (COMPACT goes through it): a tenth more rows is no reason to re-fit
    let m = t.compact().unwrap();
    assert!(!m.refit, "a tenth more rows re-fit the index: {m:?}");
    assert_eq!(m.index_version, Some(fitted), "{m:?}");
}
