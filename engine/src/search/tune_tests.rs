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
use crate::{ColumnType, Database, SchemaBuilder, TableOptions};

const DIM: usize = 16;

/// 3,000 rows around 12 centers, so partitions and shortlists matter.
fn rows() -> RecordBatch {
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

#[test]
fn tuner_recall_is_what_the_funnel_returns() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = Database::open(dir.path()).expect("open");
    let schema = SchemaBuilder::new()
        .column("id", ColumnType::Int64)
        .vector("v", DIM as u32)
        .metric(Metric::L2)
        .build()
        .expect("schema");
    let mut o = TableOptions::default();
    o.index.min_rows = 500;
    o.index.sample_queries = 40;
    let t = db.create_table_with("t", schema, o).expect("create");
    t.insert(&rows()).expect("insert");
    t.compact().expect("compact fits the index");
    let v = t.snapshot().version.clone();
    let model = t.model_for(&v).expect("model").expect("an index was fit");
    let layout = crate::index::layout_for(t.schema(), Some(&model));
    let views: Vec<SegView<'_>> = v
        .segments
        .iter()
        .map(|s| SegView::new(s, Some(&model)))
        .collect::<Result<_, _>>()
        .expect("views");
    let p = TuneParams {
        k: 10,
        queries: 30,
        holdout_radius: 0.05,
        seed: 7,
    };
    let samples = samples(&model, &layout, &views, &p).expect("samples");
    assert!(samples.len() >= 10, "{} samples", samples.len());
    let g = grid(model.meta.partitions, p.k);
    let picks: Vec<usize> = (0..g.len()).step_by(g.len() / 40 + 1).collect();
    let empty = RoaringBitmap::new();
    let mut compared = 0;
    for s in &samples {
        let tuned = evaluate(&model, &layout, &views, s, &g, p.k).expect("evaluate");
        let sets: Vec<RowSet> = (0..views.len())
            .map(|vi| {
                let mut bm = RoaringBitmap::new();
                bm.insert_range(0..views[vi].rows as u32);
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
        let q = query_vector(&model, &layout, &views, s.addr).expect("query");
        let qc = q.codes.clone().expect("codes");
        let ctx = QueryCtx {
            model: &model,
            q: &q,
            qc: &qc,
            views: &views,
            rows: &rows,
            bands: &layout.bands,
        };
        for &i in &picks {
            let got = funnel::run(
                &ctx,
                &schedule_of(g[i], p.k),
                p.k,
                &mut StageLog::new(false),
            )
            .expect("funnel");
            let hits = got.iter().filter(|c| s.truth.contains(&c.addr)).count();
            assert_eq!(
                hits, tuned[i].0,
                "sample {} schedule {:?}: funnel {hits} hits, tuner {}",
                s.addr, g[i], tuned[i].0
            );
            compared += 1;
        }
    }
    assert!(compared >= 100, "{compared} comparisons");
}
