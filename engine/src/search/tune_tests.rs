//! The tuner's promise, checked: for every sample query and schedule, the recall the tuner
//! computes is exactly the recall the funnel then returns on the same query (with the rows
//! the tuner held out also unselectable for the funnel).

use std::sync::Arc;

use arrow_array::builder::{FixedSizeListBuilder, Float32Builder};
use arrow_array::{ArrayRef, Int64Array, RecordBatch};
use arrow_schema::{DataType, Field, Schema};
use rand::{Rng, SeedableRng};
use roaring::RoaringBitmap;

use super::*;
use crate::search::explain::StageLog;
use crate::search::funnel;
use crate::{ColumnType, Database, Metric, SchemaBuilder, TableOptions};

const DIM: usize = 16;

/// 3,000 rows around 12 centers (row `i` around center `i % 12`), so partitions and
/// shortlists matter.
pub(crate) fn rows() -> RecordBatch {
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    let centers: Vec<Vec<f32>> = (0..12)
        .map(|_| (0..DIM).map(|_| rng.random::<f32>() * 4.0 - 2.0).collect())
        .collect();
    let mut b = FixedSizeListBuilder::new(Float32Builder::new(), DIM as i32)
        .with_field(Arc::new(Field::new("item", DataType::Float32, false)));
    for i in 0..3000 {
        let c = &centers[i % centers.len()];
        b.values().append_slice(
            &c.iter()
                .map(|x| x + rng.random::<f32>() - 0.5)
                .collect::<Vec<_>>(),
        );
        b.append(true);
    }
    let v: ArrayRef = Arc::new(b.finish());
    let schema = Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("v", v.data_type().clone(), false),
    ]);
    RecordBatch::try_new(
        Arc::new(schema),
        vec![Arc::new(Int64Array::from_iter_values(0..3000)), v],
    )
    .expect("batch")
}

/// An L2 table of [`rows`] with a fitted index (tuned on `sample_queries` queries).
pub(crate) fn fitted_table(dir: &std::path::Path, sample_queries: usize) -> crate::Table {
    fitted_table_with(dir, sample_queries, Metric::L2)
}

/// A table of [`rows`] under `metric` with a fitted index.
fn fitted_table_with(dir: &std::path::Path, sample_queries: usize, metric: Metric) -> crate::Table {
    let db = Database::open(dir).expect("open");
    let schema = SchemaBuilder::new()
        .column("id", ColumnType::Int64)
        .vector("v", DIM as u32)
        .metric(metric)
        .build()
        .expect("schema");
    let mut o = TableOptions::default();
    o.index.min_rows = 500;
    o.index.sample_queries = sample_queries;
    let t = db.create_table_with("t", schema, o).expect("create");
    t.insert(&rows()).expect("insert");
    t.compact().expect("compact fits the index");
    t
}

/// The segments of `v` as the stages read them under `model`.
pub(crate) fn seg_views<'a>(
    v: &'a nestdb_storage::TableVersion,
    model: &IndexModel,
) -> Vec<SegView<'a>> {
    v.segments
        .iter()
        .map(|s| SegView::new(s, Some(model)))
        .collect::<Result<_, _>>()
        .expect("views")
}

/// Rows held out of their own search, and tuning queries that are not rows (rows pushed off
/// by noise; nothing held out): for both, the funnel's hits are the tuner's, with fixed
/// shortlists (L2) and adaptive ones (cosine).
#[test]
fn tuner_recall_is_what_the_funnel_returns() {
    for metric in [Metric::L2, Metric::Cosine] {
        tuner_agrees_with_the_funnel(metric);
    }
}

fn tuner_agrees_with_the_funnel(metric: Metric) {
    let dir = tempfile::tempdir().expect("temp dir");
    let t = fitted_table_with(dir.path(), 40, metric);
    let v = t.snapshot().version.clone();
    let model = t.model_for(&v).expect("model").expect("an index was fit");
    let layout = crate::index::layout_for(t.schema(), Some(&model));
    let views = seg_views(&v, &model);
    let p = params(30);
    let rows = samples(&model, &layout, &views, &p).expect("samples");
    assert!(rows.len() >= 10, "{} samples", rows.len());
    let given = given_samples(&model, &layout, &views, &p, &off_rows(30, 1.5)).expect("samples");
    assert_eq!(given.len(), 30);
    assert!(given.iter().all(|s| s.held.is_empty()));
    for samples in [&rows, &given] {
        let compared = funnel_agrees(&model, &layout, &views, samples, &p);
        assert!(compared >= 100, "{compared} comparisons");
    }
}

fn params(queries: usize) -> TuneParams {
    TuneParams {
        k: 10,
        queries,
        holdout_radius: 0.05,
        seed: 7,
    }
}

/// `n` vectors near rows of [`rows`], each coordinate moved by up to `noise` (seeded).
pub(crate) fn off_rows(n: usize, noise: f32) -> Vec<f32> {
    let b = rows();
    let v = b
        .column(1)
        .as_any()
        .downcast_ref::<arrow_array::FixedSizeListArray>()
        .expect("vectors");
    let x = v
        .values()
        .as_any()
        .downcast_ref::<arrow_array::Float32Array>()
        .expect("floats");
    let mut rng = rand::rngs::StdRng::seed_from_u64(5);
    (0..n)
        .flat_map(|i| {
            let r = (i * 97) % b.num_rows();
            (0..DIM)
                .map(|j| x.value(r * DIM + j) + (rng.random::<f32>() - 0.5) * 2.0 * noise)
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Runs the funnel for every sample and every ~40th grid point (the sample's held-out rows
/// unselectable) and asserts it returns the tuner's hit count and keeps as many first-stage
/// candidates as the tuner counted (on the cosine table, past `keep` in at least 20 of the
/// comparisons); returns the comparisons made.
fn funnel_agrees(
    model: &IndexModel,
    layout: &Layout,
    views: &[SegView<'_>],
    samples: &[Sample],
    p: &TuneParams,
) -> usize {
    let cosine = layout.metric == Metric::Cosine;
    let g = grid(p.k, slack_unit(samples), cosine);
    let picks: Vec<usize> = (0..g.len()).step_by(g.len() / 40 + 1).collect();
    // adaptive shortlists on the cosine table, fixed ones on the other
    assert!(picks.iter().all(|&i| g[i].keep_slack.is_some() == cosine));
    let empty = RoaringBitmap::new();
    let (mut compared, mut extended) = (0, 0);
    for (n, s) in samples.iter().enumerate() {
        let tuned = evaluate(model, layout, views, s, &g, p.k).expect("evaluate");
        let sets: Vec<RowSet> = (0..views.len())
            .map(|vi| {
                let mut bm = crate::filter::bits::Bits::ones(views[vi].rows as u32);
                for c in s
                    .held
                    .iter()
                    .map(|&addr| Cand { dist: 0.0, addr })
                    .filter(|c| c.source() == vi)
                {
                    bm.remove(c.offset() as u32);
                }
                RowSet::Some(bm)
            })
            .collect();
        let rows: Vec<ViewRows<'_>> = sets
            .iter()
            .map(|set| ViewRows {
                set,
                deleted: &empty,
                gathered: None,
            })
            .collect();
        let q = prepare(model, layout, &s.query).expect("query");
        let qc = q.codes.clone().expect("codes");
        let ctx = QueryCtx {
            model,
            q: &q,
            qc: &qc,
            views,
            rows: &rows,
            bands: &layout.bands,
        };
        for &i in &picks {
            let mut log = StageLog::new(true);
            let got =
                funnel::run(&ctx, &schedule_of(g[i], p.k, 1), None, p.k, &mut log).expect("funnel");
            let hits = got.iter().filter(|c| s.truth.contains(&c.addr)).count();
            assert_eq!(
                hits, tuned[i].hits,
                "sample {n} schedule {:?}: funnel {hits} hits, tuner {}",
                g[i], tuned[i].hits
            );
            // the first stage kept as many as the tuner counted (its line follows the probe's)
            let kept = log.stages[1].candidates_out;
            assert_eq!(kept, tuned[i].kept1, "sample {n} schedule {:?}", g[i]);
            extended += usize::from(kept > g[i].k1);
            compared += 1;
        }
    }
    // adaptive shortlists went past their `keep` often enough to be tested
    if cosine {
        assert!(extended >= 20, "{extended} of {compared} extended");
    }
    compared
}

/// Defect 10: sidecars with valid checksums but sections of the wrong length could panic when
/// sliced. Every section of a real sidecar, cut or grown (the file rewritten with valid
/// checksums, the manifest's size updated to match), must give an error naming the file or a
/// segment whose every row reads safely.
#[test]
fn sidecar_sections_of_any_length_never_panic() {
    use nestdb_storage::container::{self, Container, FileKind, Section};
    use nestdb_storage::segment::Segment;
    let dir = tempfile::tempdir().expect("temp dir");
    let t = fitted_table(dir.path(), 20);
    let v = t.snapshot().version.clone();
    let model = t.model_for(&v).expect("model").expect("an index was fit");
    let seg = &v.segments[0];
    let table_dir = v.segments[0]
        .sidecar()
        .path()
        .parent()
        .expect("dir")
        .to_path_buf();
    let meta = seg.meta().clone();
    let side =
        Container::open(&table_dir.join(meta.sidecar_name()), FileKind::Sidecar).expect("sidecar");
    let sections: Vec<(u32, Vec<u8>)> = side
        .tags()
        .into_iter()
        .map(|tag| {
            (
                tag,
                side.section(tag).expect("read").expect("present").to_vec(),
            )
        })
        .collect();
    let work = tempfile::tempdir().expect("temp dir");
    std::fs::copy(
        table_dir.join(meta.parquet_name()),
        work.path().join(meta.parquet_name()),
    )
    .expect("copy");
    let mut checked = 0;
    for (i, (_, bytes)) in sections.iter().enumerate() {
        for len in [
            0,
            bytes.len() / 2,
            bytes.len().saturating_sub(4),
            bytes.len() + 8,
        ] {
            let mut edited: Vec<(u32, Vec<u8>)> = sections.clone();
            edited[i].1.resize(len, 7);
            let secs: Vec<Section<'_>> = edited
                .iter()
                .map(|(tag, b)| Section {
                    tag: *tag,
                    bytes: b,
                })
                .collect();
            let path = work.path().join(meta.sidecar_name());
            let size = container::write(&path, FileKind::Sidecar, &secs).expect("write");
            let mut m = meta.clone();
            m.sidecar_bytes = size;
            let name = meta.sidecar_name();
            let named = |e: &dyn std::fmt::Display| assert!(e.to_string().contains(&name), "{e}");
            let Ok(s) = Segment::open(work.path(), &m, t.schema()).map_err(|e| named(&e)) else {
                continue;
            };
            let Ok(view) = SegView::new(&s, Some(&model)).map_err(|e| named(&e)) else {
                continue;
            };
            let mut x = Vec::new();
            for r in 0..view.rows {
                let _ = s.vector(r, &mut x);
                for c in [&view.codes, &view.mid].into_iter().flatten() {
                    let _ = c.row(r);
                }
                if let Some(a) = &view.aux {
                    let _ = a.row(r);
                }
            }
            checked += 1;
        }
    }
    assert!(checked > 0 || !sections.is_empty());
}
