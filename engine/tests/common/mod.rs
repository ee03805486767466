//! Shared helpers of the integration tests.
#![allow(dead_code)]

use std::sync::Arc;

use arrow_array::builder::{FixedSizeListBuilder, Float32Builder};
use arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use nestdb::{ColumnType, Metric, SchemaBuilder, TableSchema};
use rand::{Rng, SeedableRng};

/// id BIGINT, tag TEXT, label PATH, v VECTOR(dim).
pub fn schema(dim: u32, metric: Metric) -> TableSchema {
    let b: Vec<u32> = [4u32, 8, 16].into_iter().filter(|&x| x < dim).collect();
    SchemaBuilder::new()
        .column("id", ColumnType::Int64)
        .column("tag", ColumnType::Utf8)
        .column("label", ColumnType::Path)
        .vector("v", dim)
        .matryoshka(&b)
        .metric(metric)
        .build()
        .unwrap()
}

/// A deterministic vector for id `id`.
pub fn vector(id: i64, dim: usize) -> Vec<f32> {
    let mut rng = rand::rngs::StdRng::seed_from_u64((id as u64).wrapping_mul(7919).wrapping_add(1));
    (0..dim).map(|_| rng.random::<f32>() * 2.0 - 1.0).collect()
}

/// A FixedSizeList<Float32> column of vectors.
pub fn vectors_array(vs: &[Vec<f32>], dim: usize) -> ArrayRef {
    let mut b = FixedSizeListBuilder::new(Float32Builder::new(), dim as i32)
        .with_field(Arc::new(Field::new("item", DataType::Float32, false)));
    for v in vs {
        b.values().append_slice(v);
        b.append(true);
    }
    Arc::new(b.finish())
}

/// A batch of rows with ids `ids`, vectors from [`vector`] (plus `salt` to vary versions).
pub fn batch(ids: &[i64], dim: usize, salt: i64) -> RecordBatch {
    let vs: Vec<Vec<f32>> = ids.iter().map(|&i| vector(i * 1000 + salt, dim)).collect();
    let tags: Vec<String> = ids.iter().map(|i| format!("tag-{i}-{salt}")).collect();
    let labels: Vec<String> = ids
        .iter()
        .map(|i| format!("root/g{}/x{}", i % 3, i % 5))
        .collect();
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("tag", DataType::Utf8, true),
        Field::new("label", DataType::Utf8, true),
        Field::new("v", vectors_array(&vs, dim).data_type().clone(), false),
    ]));
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from(ids.to_vec())),
            Arc::new(StringArray::from(tags)),
            Arc::new(StringArray::from(labels)),
            vectors_array(&vs, dim),
        ],
    )
    .unwrap()
}
