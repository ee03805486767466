//! Round trips through the Rust API: insert, scan, search, reopen, delete, upsert, flush,
//! compaction, drop, and the typed errors of bad input.

mod common;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float32Type, Int64Type, UInt64Type};
use arrow_array::{Array, RecordBatch};
use common::{batch, schema, vector};
use nestdb::{Database, Error, InputError, Metric, QueryError};

fn ids_of(b: &RecordBatch) -> Vec<i64> {
    b.column_by_name("id")
        .unwrap()
        .as_primitive::<Int64Type>()
        .values()
        .to_vec()
}

fn sorted_ids(b: &RecordBatch) -> Vec<i64> {
    let mut v = ids_of(b);
    v.sort();
    v
}

#[test]
fn insert_scan_search_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path()).unwrap();
    let t = db.create_table("t", schema(24, Metric::Cosine)).unwrap();
    assert_eq!(t.insert(&batch(&[1, 2, 3, 4, 5], 24, 0)).unwrap(), 5);
    assert_eq!(t.count(), 5);
    let all = t.snapshot().scan(None, None).unwrap();
    assert_eq!(sorted_ids(&all), vec![1, 2, 3, 4, 5]);
    // searching for row 3's own vector finds row 3 at distance ~0
    let q = vector(3 * 1000, 24);
    let r = t
        .search(&q)
        .limit(2)
        .select(&["id", "tag"])
        .execute()
        .unwrap();
    assert_eq!(r.num_rows(), 2);
    assert_eq!(ids_of(&r)[0], 3);
    assert_eq!(r.schema().field(0).name(), "id");
    assert_eq!(r.schema().field(1).name(), "tag");
    assert_eq!(r.schema().field(2).name(), "_rowid");
    assert_eq!(r.schema().field(3).name(), "_distance");
    let d = r.column(3).as_primitive::<Float32Type>();
    assert!(d.value(0).abs() < 1e-5, "self distance {}", d.value(0));
    assert!(d.value(1) >= d.value(0));
    assert_eq!(r.column(1).as_string::<i32>().value(0), "tag-3-0");
}

#[test]
fn data_survives_reopen_flushed_or_not() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = Database::open(dir.path()).unwrap();
        let t = db.create_table("t", schema(16, Metric::L2)).unwrap();
        t.insert(&batch(&[1, 2, 3], 16, 0)).unwrap();
        t.flush().unwrap();
        t.insert(&batch(&[4, 5], 16, 0)).unwrap();
        t.delete(&[2]).unwrap();
    }
    let db = Database::open(dir.path()).unwrap();
    let t = db.table("t").unwrap();
    assert_eq!(
        sorted_ids(&t.snapshot().scan(None, None).unwrap()),
        vec![1, 3, 4, 5]
    );
    assert!(db.check().unwrap().is_empty());
    let info = db.describe("t").unwrap();
    assert_eq!((info.rows, info.unflushed, info.segments), (4, 2, 1));
}

#[test]
fn delete_upsert_flush_compact() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path()).unwrap();
    let t = db.create_table("t", schema(8, Metric::Dot)).unwrap();
    t.insert(&batch(&(0..20).collect::<Vec<_>>(), 8, 0))
        .unwrap();
    t.flush().unwrap();
    t.insert(&batch(&(20..30).collect::<Vec<_>>(), 8, 0))
        .unwrap();
    assert_eq!(t.delete(&[0, 5, 25, 999]).unwrap(), 3);
    assert_eq!(t.upsert(&batch(&[1, 26, 40], 8, 7)).unwrap(), 3);
    assert_eq!(t.count(), 28);
    let before = t.snapshot().scan(None, None).unwrap();
    let m = t.compact().unwrap();
    assert_eq!(m.rows, 28);
    let after = t.snapshot().scan(None, None).unwrap();
    assert_eq!(sorted_ids(&before), sorted_ids(&after));
    // upserted rows carry the new version's payload
    let r = t
        .search(&vector(26 * 1000 + 7, 8))
        .limit(1)
        .execute()
        .unwrap();
    assert_eq!(ids_of(&r), vec![26]);
    assert_eq!(
        r.column_by_name("tag").unwrap().as_string::<i32>().value(0),
        "tag-26-7"
    );
    assert_eq!(db.describe("t").unwrap().segments, 1);
    assert!(db.check().unwrap().is_empty());
}

#[test]
fn rowids_are_stable_across_flush_and_compaction() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path()).unwrap();
    let t = db.create_table("t", schema(8, Metric::L2)).unwrap();
    t.insert(&batch(&[10, 11, 12], 8, 0)).unwrap();
    let rowid_of = |t: &nestdb::Table| {
        let b = t.snapshot().scan(Some(&["id", "_rowid"]), None).unwrap();
        let mut v: Vec<(i64, u64)> = ids_of(&b)
            .into_iter()
            .zip(
                b.column(1)
                    .as_primitive::<UInt64Type>()
                    .values()
                    .iter()
                    .copied(),
            )
            .collect();
        v.sort();
        v
    };
    let a = rowid_of(&t);
    t.flush().unwrap();
    let b = rowid_of(&t);
    t.compact().unwrap();
    assert_eq!(a, b);
    assert_eq!(b, rowid_of(&t));
}

#[test]
fn bad_input_is_rejected_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path()).unwrap();
    let t = db.create_table("t", schema(8, Metric::Cosine)).unwrap();
    t.insert(&batch(&[1], 8, 0)).unwrap();
    // duplicate id against the table, and inside a batch
    assert!(matches!(
        t.insert(&batch(&[2, 1], 8, 0)),
        Err(Error::Input(InputError::DuplicateKey(1)))
    ));
    assert!(matches!(
        t.insert(&batch(&[3, 3], 8, 0)),
        Err(Error::Input(InputError::DuplicateKey(3)))
    ));
    // wrong dimension
    match t.insert(&batch(&[4], 9, 0)) {
        Err(Error::Input(InputError::WrongDimension {
            expected: 8,
            actual: 9,
            ..
        })) => {}
        other => panic!("{other:?}"),
    }
    // NaN, infinity
    for bad in [f32::NAN, f32::INFINITY] {
        let mut v = vector(5, 8);
        v[3] = bad;
        let b = with_vector(&batch(&[5], 8, 0), &[v]);
        assert!(matches!(
            t.insert(&b),
            Err(Error::Input(InputError::NonFinite { dim: 3, .. }))
        ));
    }
    // zero vector under cosine
    let b = with_vector(&batch(&[6], 8, 0), &[vec![0.0; 8]]);
    assert!(matches!(
        t.insert(&b),
        Err(Error::Input(InputError::ZeroVector { .. }))
    ));
    // negative id
    let b = batch(&[-3], 8, 0);
    assert!(matches!(
        t.insert(&b),
        Err(Error::Input(InputError::NegativeKey { value: -3, .. }))
    ));
    // unknown column, missing vector, wrong type
    let b = batch(&[7], 8, 0);
    let extra = add_column(&b, "nope");
    assert!(matches!(
        t.insert(&extra),
        Err(Error::Input(InputError::UnknownColumn { .. }))
    ));
    let no_vec = b.project(&[0, 1]).unwrap();
    assert!(matches!(
        t.insert(&no_vec),
        Err(Error::Input(InputError::MissingColumn(_)))
    ));
    let wrong = rename_retype(&b);
    assert!(matches!(
        t.insert(&wrong),
        Err(Error::Input(InputError::WrongType { .. }))
    ));
    // invalid label
    let mut bad_label = batch(&[8], 8, 0);
    bad_label = replace_column(
        &bad_label,
        2,
        std::sync::Arc::new(arrow_array::StringArray::from(vec!["a\nb"])),
    );
    assert!(matches!(
        t.insert(&bad_label),
        Err(Error::Input(InputError::InvalidLabel { .. }))
    ));
    assert_eq!(t.count(), 1, "a rejected batch must change nothing");
    // table that does not exist
    assert!(matches!(db.table("missing"), Err(Error::Catalog(_))));
    // query errors
    assert!(matches!(
        t.search(&[1.0; 3]).execute(),
        Err(Error::Query(QueryError::Dimension {
            expected: 8,
            actual: 3,
            ..
        }))
    ));
    assert!(matches!(
        t.search(&[f32::NAN; 8]).execute(),
        Err(Error::Query(QueryError::NonFinite(0)))
    ));
    assert!(matches!(
        t.search(&[1.0; 8]).select(&["nope"]).execute(),
        Err(Error::Query(QueryError::UnknownColumn { .. }))
    ));
}

/// Defect: with automatic indexing off, the merge maintenance runs past eight segments fit an
/// index anyway (a COPY of many segments paid for a fit nobody asked for).
#[test]
fn merging_segments_with_auto_index_off_fits_no_index() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::builder()
        .sync(false)
        .auto_index(false)
        .auto_flush_rows(300)
        .open(dir.path())
        .unwrap();
    let t = db.create_table("t", schema(16, Metric::Cosine)).unwrap();
    for s in 0..10i64 {
        let ids: Vec<i64> = (s * 300..(s + 1) * 300).collect();
        t.insert(&batch(&ids, 16, 0)).unwrap();
    }
    assert_eq!(t.count(), 3000);
    // segment files: data/<table id>/seg-N.parquet
    let mut segments = 0;
    for table in std::fs::read_dir(dir.path().join("data")).unwrap() {
        for f in std::fs::read_dir(table.unwrap().path()).unwrap() {
            segments += usize::from(
                f.unwrap()
                    .file_name()
                    .to_string_lossy()
                    .ends_with(".parquet"),
            );
        }
    }
    assert!(segments < 10, "no merge: {segments} segments");
    let e = t.search(&vector(1, 16)).limit(5).explain().unwrap();
    assert_eq!(e.strategy, "exact", "{e}");
    t.analyze().unwrap();
    let e = t.search(&vector(1, 16)).limit(5).explain().unwrap();
    assert_eq!(e.strategy, "funnel", "{e}");
}

#[test]
fn catalog_operations() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path()).unwrap();
    db.create_table("b", schema(8, Metric::L2)).unwrap();
    let a = db.create_table("a", schema(8, Metric::L2)).unwrap();
    assert!(matches!(
        db.create_table("a", schema(8, Metric::L2)),
        Err(Error::Catalog(_))
    ));
    assert!(matches!(
        db.create_table("bad name", schema(8, Metric::L2)),
        Err(Error::Catalog(_))
    ));
    assert_eq!(db.list_tables().unwrap(), vec!["a", "b"]);
    a.insert(&batch(&[1, 2], 8, 0)).unwrap();
    a.flush().unwrap();
    db.drop_table("a").unwrap();
    assert_eq!(db.list_tables().unwrap(), vec!["b"]);
    assert!(
        a.insert(&batch(&[3], 8, 0)).is_err(),
        "a dropped table's handle must fail"
    );
    let a2 = db.create_table("a", schema(8, Metric::L2)).unwrap();
    assert_eq!(a2.count(), 0, "a re-created table starts empty");
    assert!(db.check().unwrap().is_empty());
}

#[test]
fn parquet_segments_are_readable_as_plain_parquet() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path()).unwrap();
    let t = db.create_table("t", schema(24, Metric::Cosine)).unwrap();
    t.insert(&batch(&[1, 2, 3], 24, 0)).unwrap();
    t.flush().unwrap();
    let seg = walk(dir.path())
        .into_iter()
        .find(|p| p.extension().is_some_and(|e| e == "parquet"))
        .unwrap();
    let file = std::fs::File::open(&seg).unwrap();
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap();
    let b: Vec<RecordBatch> = reader.collect::<Result<_, _>>().unwrap();
    let names: Vec<String> = b[0]
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    assert_eq!(
        names,
        ["_rowid", "id", "tag", "label", "_v_0_4", "_v_4_8", "_v_8_16", "_v_16_24"]
    );
    // the concatenation of the bands is the vector
    let want = vector(2 * 1000, 24);
    let row = ids_of(&b[0]).iter().position(|&i| i == 2).unwrap();
    let mut got = Vec::new();
    for c in 4..8 {
        let l = b[0].column(c).as_fixed_size_list().value(row);
        got.extend_from_slice(l.as_primitive::<Float32Type>().values());
    }
    assert_eq!(got, want);
}

pub fn walk(p: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(p).unwrap().flatten() {
        if e.path().is_dir() {
            out.extend(walk(&e.path()));
        } else {
            out.push(e.path());
        }
    }
    out
}

fn with_vector(b: &RecordBatch, vs: &[Vec<f32>]) -> RecordBatch {
    replace_column(b, 3, common::vectors_array(vs, vs[0].len()))
}

fn replace_column(b: &RecordBatch, i: usize, a: arrow_array::ArrayRef) -> RecordBatch {
    let mut cols = b.columns().to_vec();
    cols[i] = a;
    RecordBatch::try_new(b.schema(), cols).unwrap()
}

fn add_column(b: &RecordBatch, name: &str) -> RecordBatch {
    let mut fields: Vec<arrow_schema::Field> = b
        .schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    fields.push(arrow_schema::Field::new(
        name,
        arrow_schema::DataType::Int64,
        true,
    ));
    let mut cols = b.columns().to_vec();
    cols.push(std::sync::Arc::new(arrow_array::Int64Array::from(
        vec![1; b.num_rows()],
    )));
    RecordBatch::try_new(std::sync::Arc::new(arrow_schema::Schema::new(fields)), cols).unwrap()
}

fn rename_retype(b: &RecordBatch) -> RecordBatch {
    // "tag" as a boolean column
    let mut fields: Vec<arrow_schema::Field> = b
        .schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    fields[1] = arrow_schema::Field::new("tag", arrow_schema::DataType::Boolean, true);
    let mut cols = b.columns().to_vec();
    cols[1] = std::sync::Arc::new(arrow_array::BooleanArray::from(vec![true; b.num_rows()]));
    let _ = cols[1].len();
    RecordBatch::try_new(std::sync::Arc::new(arrow_schema::Schema::new(fields)), cols).unwrap()
}

/// `ANALYZE t TUNE ON q` tunes on the vectors of table `q` (stored with the index, so a
/// reopened table keeps them); `TUNE ON ROWS` goes back to rows; bad sources are refused.
#[test]
fn analyze_tune_on_a_table_of_queries() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path()).unwrap();
    let t = db.create_table("t", schema(16, Metric::L2)).unwrap();
    let ids: Vec<i64> = (0..3000).collect();
    t.insert(&batch(&ids, 16, 0)).unwrap();
    let q = db.create_table("q", schema(16, Metric::L2)).unwrap();
    q.insert(&batch(&(5000..5040).collect::<Vec<_>>(), 16, 3))
        .unwrap();
    let few = db.create_table("few", schema(16, Metric::L2)).unwrap();
    few.insert(&batch(&[1, 2, 3], 16, 0)).unwrap();
    db.sql("ANALYZE t TUNE ON q").unwrap();
    assert_eq!(t.tuning_queries().unwrap(), 40);
    let e = t.search(&vector(7, 16)).limit(5).explain().unwrap();
    assert_eq!(e.strategy, "funnel", "{e}");
    assert!(e.estimate.is_some(), "{e}");
    assert!(e.tuned_on_queries, "{e}");
    assert!(e.to_string().contains("held-out tuning queries)"), "{e}");
    assert!(e.summary().contains("tuned_on=queries"), "{}", e.summary());
    drop((t, q, few, db));
    let db = Database::open(dir.path()).unwrap();
    let t = db.table("t").unwrap();
    assert_eq!(t.tuning_queries().unwrap(), 40, "kept with the index");
    let err = db.sql("ANALYZE t TUNE ON few").unwrap_err().to_string();
    assert!(err.contains("3 tuning queries are too few"), "{err}");
    db.create_table("empty", schema(16, Metric::L2)).unwrap();
    let err = db.sql("ANALYZE t TUNE ON empty").unwrap_err().to_string();
    assert!(err.contains("0 tuning queries are too few"), "{err}");
    let err = db.sql("ANALYZE t TUNE ON SAMPLED").unwrap_err().to_string();
    assert!(
        err.contains("no searches were sampled"),
        "monitoring is off: {err}"
    );
    assert!(matches!(
        t.analyze_tuned_on_sampled(),
        Err(nestdb::Error::Index(nestdb::IndexError::NoSampledQueries))
    ));
    let err = db.sql("ANALYZE t TUNE ON nothere").unwrap_err().to_string();
    assert!(err.contains("nothere"), "{err}");
    assert!(db.sql("ANALYZE t TUNE q").is_err());
    assert_eq!(
        t.tuning_queries().unwrap(),
        40,
        "refused statements change nothing"
    );
    let many: Vec<Vec<f32>> = (0..2500).map(|i| vector(90_000 + i, 16)).collect();
    t.set_tuning_queries(&many).unwrap();
    assert_eq!(t.tuning_queries().unwrap(), nestdb::MAX_TUNING_QUERIES);
    db.sql("ANALYZE TABLE t TUNE ON ROWS").unwrap();
    assert_eq!(t.tuning_queries().unwrap(), 0);
    let e = t.search(&vector(7, 16)).limit(5).explain().unwrap();
    assert!(
        !e.tuned_on_queries && e.to_string().contains("held-out queries)"),
        "{e}"
    );
}
