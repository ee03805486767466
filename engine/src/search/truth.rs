//! Exact nearest neighbors of a block of queries over every row of some segments, by matrix
//! products over each row group (streamed: memory is one row group whatever the table's size).
//! The tuner's ground truth.

use faer::linalg::matmul::matmul;
use faer::{Accum, MatMut, MatRef, Par};
use nestdb_storage::{Metric, StorageError};
use rayon::prelude::*;

use super::view::SegView;
use crate::topk::{Cand, TopK};

/// For each query (rows of `qs`, `dim` each, prepared like `PreparedQuery::unit`), its best
/// `n` rows of `views` by full-dimension score (smaller is better), and in the same pass its
/// best `n` among the rows of `extra` nested selections: `selected(query, addr)` says how many
/// of them hold the row (the first that many: list 1 is the widest). Per query, list 0 is over
/// every row, lists `1..=extra` over the selections', each best first.
pub fn nearest(
    views: &[SegView<'_>],
    qs: &[f32],
    dim: usize,
    metric: Metric,
    n: usize,
    extra: usize,
    selected: impl Fn(usize, u64) -> usize + Sync,
) -> Result<Vec<Vec<Vec<Cand>>>, StorageError> {
    nearest_with(views, qs, (dim, metric), n, extra, selected, true)
}

/// [`nearest`], skipping (when `skip`) the rows worse than every list's bar unseen by the
/// selections: the same lists either way (a test checks it), the selections asked far less.
fn nearest_with(
    views: &[SegView<'_>],
    qs: &[f32],
    (dim, metric): (usize, Metric),
    n: usize,
    extra: usize,
    selected: impl Fn(usize, u64) -> usize + Sync,
    skip: bool,
) -> Result<Vec<Vec<Vec<Cand>>>, StorageError> {
    let nq = qs.len() / dim.max(1);
    let mut tops: Vec<Vec<TopK>> = (0..nq)
        .map(|_| (0..=extra).map(|_| TopK::new(n)).collect())
        .collect();
    for (vi, v) in views.iter().enumerate() {
        for g in 0..v.seg.row_groups() {
            let (a, z) = v.seg.group_range(g);
            let x = v.seg.group_vectors(g)?;
            let rows = z - a;
            let mut s = vec![0f32; nq * rows];
            matmul(
                MatMut::from_row_major_slice_mut(&mut s, nq, rows),
                Accum::Replace,
                MatRef::from_row_major_slice(qs, nq, dim),
                MatRef::from_row_major_slice(&x, rows, dim).transpose(),
                1.0f32,
                Par::rayon(0),
            );
            let terms = row_terms(v, metric, &x, dim, a, z)?;
            // one pass over the table: keep the process's resident memory flat
            v.seg.release_group(g);
            tops.par_iter_mut().enumerate().for_each(|(i, t)| {
                // a row worse than every list's bar enters none of them: skip its selections
                // (bars only fall, so the one at the group's start is safe for the group)
                // (a bar that is not a number, from scores that overflowed, skips nothing)
                let bar = if skip {
                    t.iter()
                        .map(|l| Some(l.threshold()).filter(|b| !b.is_nan()))
                        .try_fold(f32::NEG_INFINITY, |m, b| b.map(|b| m.max(b)))
                        .unwrap_or(f32::INFINITY)
                } else {
                    f32::INFINITY
                };
                for (j, &dot) in s[i * rows..(i + 1) * rows].iter().enumerate() {
                    let score = match metric {
                        Metric::Cosine => -dot * terms[j],
                        Metric::L2 => terms[j] - 2.0 * dot,
                        Metric::Dot => -dot,
                    };
                    if score > bar {
                        continue;
                    }
                    let addr = Cand::addr(vi, a + j);
                    let within = if extra == 0 {
                        0
                    } else {
                        selected(i, addr).min(extra)
                    };
                    for top in &mut t[..=within] {
                        top.push(score, addr);
                    }
                }
            });
        }
    }
    Ok(tops
        .into_iter()
        .map(|t| t.into_iter().map(TopK::into_sorted).collect())
        .collect())
}

/// Per row: `1 / |x|` (cosine), `|x|^2` (l2), unused (dot).
fn row_terms(
    v: &SegView<'_>,
    metric: Metric,
    x: &[f32],
    dim: usize,
    a: usize,
    z: usize,
) -> Result<Vec<f32>, StorageError> {
    Ok(match metric {
        Metric::Cosine => match &v.inv_norms {
            Some(n) => n.range(a, z)?.to_vec(),
            None => vec![1.0; z - a],
        },
        Metric::L2 => x
            .chunks_exact(dim)
            .map(|r| r.iter().map(|v| v * v).sum())
            .collect(),
        Metric::Dot => Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::{ArrayRef, Int64Array, RecordBatch};
    use arrow_schema::{Field, Schema};
    use nestdb_storage::segment::{fsl, ROW_GROUP_ROWS};

    use super::*;
    use crate::search::samples::{keeps_keyed, query_key};
    use crate::{ColumnType, Database, SchemaBuilder};

    fn values(n: usize, seed: u64) -> Vec<f32> {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        (0..n).map(|_| rng.random::<f32>() * 2.0 - 1.0).collect()
    }

    /// Regression for the truth pass's shortcut: a row worse than every list's bar at the start
    /// of its row group is not offered to the selections. Over three row groups (so the bars
    /// are set when the later groups are read), with nested random selections as the filtered
    /// calibration uses, every list is exactly the one offering every row gives.
    #[test]
    fn skipping_rows_worse_than_every_bar_changes_no_list() {
        let dim = 8;
        let rows = 2 * ROW_GROUP_ROWS + 700;
        let dir = tempfile::tempdir().expect("temp dir");
        let db = Database::builder()
            .auto_index(false)
            .open(dir.path())
            .expect("open");
        for metric in [Metric::L2, Metric::Cosine] {
            let name = format!("t{metric:?}").to_lowercase();
            let schema = SchemaBuilder::new()
                .column("id", ColumnType::Int64)
                .vector("v", dim as u32)
                .metric(metric)
                .build()
                .expect("schema");
            let t = db.create_table(&name, schema).expect("create");
            let v: ArrayRef = fsl(values(rows * dim, 5), dim);
            let fields = vec![
                Field::new("id", arrow_schema::DataType::Int64, false),
                Field::new("v", v.data_type().clone(), false),
            ];
            let ids: ArrayRef = Arc::new(Int64Array::from_iter_values(0..rows as i64));
            let batch =
                RecordBatch::try_new(Arc::new(Schema::new(fields)), vec![ids, v]).expect("batch");
            t.insert(&batch).expect("insert");
            t.flush().expect("flush");
            let version = t.snapshot().version.clone();
            let views: Vec<SegView<'_>> = version
                .segments
                .iter()
                .map(|s| SegView::new(s, None))
                .collect::<Result<_, _>>()
                .expect("views");
            assert_eq!(views[0].seg.row_groups(), 3);
            let mut qs = values(12 * dim, 9);
            if metric == Metric::Cosine {
                qs.chunks_exact_mut(dim).for_each(crate::layout::normalize);
            }
            let sel = |i: usize, addr: u64| keeps_keyed(query_key(3, i as u64), addr);
            let fast = nearest_with(&views, &qs, (dim, metric), 20, 3, sel, true).expect("fast");
            let all = nearest_with(&views, &qs, (dim, metric), 20, 3, sel, false).expect("all");
            assert_eq!(fast, all, "{metric:?}");
            assert!(fast.iter().all(|q| q.iter().all(|l| l.len() == 20)));
        }
    }
}
