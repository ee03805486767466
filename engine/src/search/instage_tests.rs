//! Testing a filter inside the first stage chooses exactly the partitions filtered probing
//! chooses from the whole selection, and keeps exactly the selection's rows in them.

use arrow_array::cast::AsArray;
use rand::{Rng, SeedableRng};

use super::{probe, Order};
use crate::filter::{CmpOp, Filter, RowSet, Selection};
use crate::search::funnel::choose_partitions;
use crate::search::pipeline::{partition_size, probe_order, QueryCtx};
use crate::search::rows::ViewRows;
use crate::search::tune::equivalence::{fitted_table, seg_views};
use crate::search::PreparedQuery;

/// A random filter on `id` (0..3000): ranges, IN lists, OR, NOT, keeping 0.1% to 90%.
fn random_filter(rng: &mut impl Rng) -> Filter {
    let lo = rng.random_range(0..3000i64);
    let width = [3, 30, 300, 1500, 2700][rng.random_range(0..5)];
    let range = Filter::cmp("id", CmpOp::Ge, lo).and(Filter::cmp("id", CmpOp::Lt, lo + width));
    match rng.random_range(0..4) {
        0 => range,
        1 => Filter::in_list("id", (0..40).map(|_| rng.random_range(0..3000i64))),
        2 => range.or(Filter::cmp("id", CmpOp::Lt, rng.random_range(0..200i64))),
        _ => range.not(),
    }
}

#[test]
fn in_stage_probe_chooses_what_filtered_probing_chooses() {
    let dir = tempfile::tempdir().expect("temp dir");
    let t = fitted_table(dir.path(), 20);
    // deleted rows must never be selected, in stage or not
    let dead: Vec<i64> = (0..3000).step_by(7).collect();
    t.delete(&dead).expect("delete");
    let v = t.snapshot().version.clone();
    let model = t.model_for(&v).expect("model").expect("an index was fit");
    let layout = crate::index::layout_for(t.schema(), Some(&model));
    let views = seg_views(&v, &model);
    let parts = model.meta.partitions;
    let mut rng = rand::rngs::StdRng::seed_from_u64(5);
    let (mut decided, mut declined) = (0, 0);
    for case in 0..300 {
        let f = random_filter(&mut rng);
        let full: Selection = f.selection(&v).expect("selection");
        let qv: Vec<f32> = (0..16).map(|_| rng.random::<f32>() * 4.0 - 2.0).collect();
        let q = PreparedQuery::new(&qv, &layout, Some(&model), "v").expect("query");
        let qc = q.codes.clone().expect("codes");
        let rows: Vec<ViewRows<'_>> = full
            .segments
            .iter()
            .zip(&v.deletes)
            .map(|(set, deleted)| ViewRows {
                set,
                deleted,
                gathered: None,
            })
            .collect();
        let ctx = QueryCtx {
            model: &model,
            q: &q,
            qc: &qc,
            views: &views,
            rows: &rows,
            bands: &layout.bands,
        };
        let mut s = model.schedule_for(0.95).clone();
        s.scan_all = false;
        s.nprobe = rng.random_range(1..=parts);
        s.min_candidates = Some(rng.random_range(1..600));
        let share = [0.0005, 0.01, 0.1, 0.5, 1.0][rng.random_range(0..5)];
        let want = choose_partitions(&ctx, &s);
        // the walk starts from a few nearest partitions and asks for all of them when it
        // needs more
        let all = || probe_order(&model, &qc, parts);
        let order = Order {
            near: probe_order(
                &model,
                &qc,
                if rng.random_bool(0.5) {
                    parts
                } else {
                    rng.random_range(1..=parts)
                },
            ),
            all: &all,
            partitions: parts,
        };
        let Some(got) = probe(&v, &views, order, &f, &s, share).expect("probe") else {
            declined += 1;
            continue;
        };
        decided += 1;
        assert_eq!(got.probes, want, "case {case}: {f:?} with {s:?}");
        for (vi, w) in views.iter().enumerate() {
            let offs = w.partitions.expect("indexed");
            for &p in &got.probes {
                let (a, b) = (offs[p], offs[p + 1]);
                let mut mine = Vec::new();
                let mut theirs = Vec::new();
                ViewRows {
                    set: &got.sel.segments[vi],
                    deleted: &v.deletes[vi],
                    gathered: None,
                }
                .for_each(a, b, |o| mine.push(o));
                rows[vi].for_each(a, b, |o| theirs.push(o));
                assert_eq!(mine, theirs, "case {case}: partition {p} of {f:?}");
            }
            if let RowSet::Some(b) = &got.sel.segments[vi] {
                assert!(b.iter().all(|o| !v.deletes[vi].contains(o)));
            }
        }
        assert!(got.evaluated >= got.selected);
    }
    // the comparison above must actually have run, most of the time
    assert!(decided > 120, "{decided} decided, {declined} declined");
}

/// A filter keeping one cluster's rows (a twelfth of the table) around a query at that
/// cluster's center: the nearest partitions are mostly its rows, so the walk is decided within
/// a few of them. The first batch must not be sized at the table's share, which evaluates
/// many times the rows the walk needs (27,611 for 2,393 on one query at 1M rows, stop 43),
/// but at [`super::FIRST_BATCH_OPTIMISM`] times it.
#[test]
fn in_stage_first_batch_stays_near_a_local_filters_walk() {
    let dir = tempfile::tempdir().expect("temp dir");
    let t = fitted_table(dir.path(), 20);
    let v = t.snapshot().version.clone();
    let model = t.model_for(&v).expect("model").expect("an index was fit");
    let layout = crate::index::layout_for(t.schema(), Some(&model));
    let views = seg_views(&v, &model);
    let parts = model.meta.partitions;
    let total: u64 = views.iter().map(|w| w.rows as u64).sum();
    // rows with id % 12 == 0 lie around one center; their mean is the query
    let ids: Vec<i64> = (0..3000).step_by(12).collect();
    let f = Filter::in_list("id", ids.iter().copied());
    let center = cluster_mean(&ids);
    let q = PreparedQuery::new(&center, &layout, Some(&model), "v").expect("query");
    let qc = q.codes.clone().expect("codes");
    let mut s = model.schedule_for(0.95).clone();
    s.scan_all = false;
    s.nprobe = 1;
    s.min_candidates = Some(40);
    s.filter_share = None;
    let share = ids.len() as f64 / total as f64;
    let all = || probe_order(&model, &qc, parts);
    let order = Order {
        near: probe_order(&model, &qc, parts),
        all: &all,
        partitions: parts,
    };
    let got = probe(&v, &views, order, &f, &s, share)
        .expect("probe")
        .expect("decided");
    let walked: u64 = got.probes.iter().map(|&p| partition_size(&views, p)).sum();
    eprintln!(
        "partitions {parts}, probes {:?}, walked {walked}, evaluated {} of {total}",
        got.probes, got.evaluated
    );
    assert!(got.selected >= 40);
    assert!(
        got.evaluated <= 5 * walked,
        "evaluated {} rows for a walk over {walked}",
        got.evaluated
    );
}

/// The mean vector of the rows of [`rows`] with ids `ids`.
fn cluster_mean(ids: &[i64]) -> Vec<f32> {
    let b = crate::search::tune::equivalence::rows();
    let v = b.column(1).as_fixed_size_list();
    let x = v.values().as_primitive::<arrow_array::types::Float32Type>();
    let d = v.value_length() as usize;
    let mut mean = vec![0f32; d];
    for &i in ids {
        let r = &x.values()[i as usize * d..(i as usize + 1) * d];
        mean.iter_mut()
            .zip(r)
            .for_each(|(m, y)| *m += y / ids.len() as f32);
    }
    mean
}
