//! Filter semantics (ltree operators, scalar predicates, three-valued logic), identical on
//! unflushed rows and on segments (where PATH predicates use the label dictionary).

mod common;

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use arrow_array::{
    ArrayRef, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use nestdb::Filter;
use nestdb::{ColumnType, Database, Error, Metric, QueryError, SchemaBuilder, Table};

fn table(db: &Database) -> Table {
    let schema = SchemaBuilder::new()
        .column("id", ColumnType::Int64)
        .column("n", ColumnType::Int64)
        .column("x", ColumnType::Float64)
        .column("name", ColumnType::Utf8)
        .column("flag", ColumnType::Boolean)
        .column("ts", ColumnType::Timestamp)
        .column("label", ColumnType::Path)
        .vector("v", 4)
        .metric(Metric::L2)
        .build()
        .unwrap();
    let t = db.create_table("t", schema).unwrap();
    let ids: Vec<i64> = (0..8).collect();
    let n = vec![
        Some(1),
        Some(2),
        Some(3),
        None,
        Some(3),
        Some(5),
        None,
        Some(1),
    ];
    let x = vec![0.5, 1.5, 2.5, 3.5, -1.0, 10.0, 2.0, 0.0];
    let name = vec![
        Some("read_json"),
        Some("write_json"),
        None,
        Some("read_file"),
        Some("parse"),
        None,
        Some("readme"),
        Some("r"),
    ];
    let flag = vec![true, false, true, false, true, false, true, false];
    let ts: Vec<i64> = (0..8)
        .map(|i| 1_700_000_000_000_000 + i * 86_400_000_000)
        .collect();
    let label = vec![
        Some("python/declarations/functions"),
        Some("python/declarations/classes"),
        Some("python/declarations"),
        Some("python"),
        Some("go/declarations/functions"),
        None,
        Some("python/declarations-other"),
        Some("python/declarations/functions/nested"),
    ];
    let v: Vec<Vec<f32>> = ids
        .iter()
        .map(|&i| vec![i as f32, 0.0, 1.0, -1.0])
        .collect();
    let fields = vec![
        Field::new("id", DataType::Int64, false),
        Field::new("n", DataType::Int64, true),
        Field::new("x", DataType::Float64, true),
        Field::new("name", DataType::Utf8, true),
        Field::new("flag", DataType::Boolean, true),
        Field::new("ts", DataType::Timestamp(TimeUnit::Microsecond, None), true),
        Field::new("label", DataType::Utf8, true),
        Field::new("v", common::vectors_array(&v, 4).data_type().clone(), false),
    ];
    let cols: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from(ids)),
        Arc::new(Int64Array::from(n)),
        Arc::new(Float64Array::from(x)),
        Arc::new(StringArray::from(name)),
        Arc::new(BooleanArray::from(flag)),
        Arc::new(TimestampMicrosecondArray::from(ts)),
        Arc::new(StringArray::from(label)),
        common::vectors_array(&v, 4),
    ];
    t.insert(&RecordBatch::try_new(Arc::new(Schema::new(fields)), cols).unwrap())
        .unwrap();
    t
}

fn ids(t: &Table, cond: &str) -> Vec<i64> {
    let f = Filter::parse(cond).unwrap();
    let b = t
        .snapshot()
        .scan_where(Some(&f), Some(&["id"]), None)
        .unwrap();
    let mut v: Vec<i64> = b.column(0).as_primitive::<Int64Type>().values().to_vec();
    v.sort();
    v
}

const CASES: &[(&str, &[i64])] = &[
    ("label <@ 'python/declarations'", &[0, 1, 2, 7]),
    ("label <@ 'python'", &[0, 1, 2, 3, 6, 7]),
    ("label <@ '/python/declarations/'", &[0, 1, 2, 7]),
    ("label <@ 'python/declarations/functions'", &[0, 7]),
    ("label <@ 'rust'", &[]),
    (
        "label @> 'python/declarations/functions/nested/deeper'",
        &[0, 2, 3, 7],
    ),
    ("label = 'python'", &[3]),
    ("label IN ('python', 'go/declarations/functions')", &[3, 4]),
    ("NOT label <@ 'python'", &[4]),
    ("label IS NULL", &[5]),
    ("n = 3", &[2, 4]),
    ("n <> 3", &[0, 1, 5, 7]),
    ("NOT (n = 3)", &[0, 1, 5, 7]),
    ("n IS NULL", &[3, 6]),
    ("n IS NOT NULL", &[0, 1, 2, 4, 5, 7]),
    ("n IN (1, 2)", &[0, 1, 7]),
    ("n NOT IN (1, 2)", &[2, 4, 5]),
    ("n NOT IN (1, NULL)", &[]),
    ("n BETWEEN 2 AND 3", &[1, 2, 4]),
    ("n NOT BETWEEN 2 AND 3", &[0, 5, 7]),
    ("x > 2", &[2, 3, 5]),
    ("x <= 0", &[4, 7]),
    ("-1 >= x", &[4]),
    ("name LIKE 'read%'", &[0, 3, 6]),
    ("name LIKE '%json'", &[0, 1]),
    ("name NOT LIKE 'read%'", &[1, 4, 7]),
    ("name = 'parse' OR n = 5", &[4, 5]),
    ("n = 3 OR n IS NULL", &[2, 3, 4, 6]),
    ("flag", &[0, 2, 4, 6]),
    ("flag = false AND label <@ 'python'", &[1, 3, 7]),
    ("ts >= '2023-11-17T00:00:00'", &[3, 4, 5, 6, 7]),
    ("id < 3 AND (n = 1 OR name LIKE 'w%')", &[0, 1]),
    ("true", &[0, 1, 2, 3, 4, 5, 6, 7]),
];

#[test]
fn predicates_on_unflushed_rows_and_on_segments_agree() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path()).unwrap();
    let t = table(&db);
    for (cond, want) in CASES {
        assert_eq!(ids(&t, cond), *want, "unflushed: {cond}");
    }
    t.flush().unwrap();
    for (cond, want) in CASES {
        assert_eq!(ids(&t, cond), *want, "segment: {cond}");
    }
}

#[test]
fn filtered_search_returns_k_rows_when_k_match() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path()).unwrap();
    let t = table(&db);
    t.flush().unwrap();
    let r = t
        .search(&[0.0, 0.0, 1.0, -1.0])
        .limit(3)
        .filter_sql("label <@ 'python'")
        .unwrap()
        .execute()
        .unwrap();
    assert_eq!(r.column(0).as_primitive::<Int64Type>().values(), &[0, 1, 2]);
    let r = t
        .search(&[0.0; 4])
        .limit(10)
        .filter_sql("n = 3")
        .unwrap()
        .execute()
        .unwrap();
    assert_eq!(r.num_rows(), 2);
    let r = t
        .search(&[0.0; 4])
        .limit(10)
        .filter_sql("label <@ 'nowhere'")
        .unwrap()
        .execute()
        .unwrap();
    assert_eq!(r.num_rows(), 0);
}

#[test]
fn invalid_filters_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path()).unwrap();
    let t = table(&db);
    let run = |c: &str| {
        t.snapshot()
            .scan_where(Some(&Filter::parse(c)?), None, None)
            .map(|_| ())
    };
    assert!(matches!(
        run("nope = 1"),
        Err(Error::Query(QueryError::UnknownColumn { .. }))
    ));
    assert!(matches!(
        run("n = 'x'"),
        Err(Error::Query(QueryError::Filter(_)))
    ));
    assert!(matches!(
        run("name <@ 'a'"),
        Err(Error::Query(QueryError::Filter(_)))
    ));
    assert!(matches!(
        run("v = 1"),
        Err(Error::Query(QueryError::Filter(_)))
    ));
    assert!(matches!(
        run("name LIKE 3"),
        Err(Error::Query(QueryError::Filter(_)))
    ));
    // rejected before evaluation, so the answer cannot depend on which AND part runs first
    assert!(matches!(
        run("name > 'zzz' AND ts = 'not a time'"),
        Err(Error::Query(QueryError::Filter(_)))
    ));
    assert!(matches!(
        Filter::parse("label <@ ''"),
        Err(Error::Query(QueryError::Filter(_)))
    ));
    assert!(matches!(
        Filter::parse("n = = 1"),
        Err(Error::Query(QueryError::Filter(_)))
    ));
}

#[test]
fn a_nan_literal_compares_unknown_like_null() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path()).unwrap();
    let t = table(&db);
    let nan = nestdb::Value::Float(f64::NAN);
    let filters = [
        Filter::cmp("x", nestdb::CmpOp::Ne, nan.clone()),
        Filter::cmp("x", nestdb::CmpOp::Lt, nan.clone()).not(),
        Filter::In {
            column: "x".into(),
            values: vec![nestdb::Value::Float(0.5), nan],
            negated: true,
        },
    ];
    for flushed in [false, true] {
        if flushed {
            t.flush().unwrap();
        }
        for f in &filters {
            let b = t
                .snapshot()
                .scan_where(Some(f), Some(&["id"]), None)
                .unwrap();
            assert_eq!(b.num_rows(), 0, "{f} (flushed: {flushed})");
        }
    }
}
