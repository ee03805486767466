//! Tests of opening a segment: a sidecar written under another layout version is refused.

use super::*;
use crate::container::{self, Section};
use crate::schema::{Column, ColumnType, Metric};
use arrow_array::{Int64Array, RecordBatch};

/// A table of an `id` key and a 4-dimensional vector `v`.
fn schema() -> TableSchema {
    let cols = vec![
        Column {
            name: "id".into(),
            ty: ColumnType::Int64,
        },
        Column {
            name: "v".into(),
            ty: ColumnType::Vector { dim: 4 },
        },
    ];
    TableSchema::new(cols, "id", None, Metric::L2).expect("schema")
}

/// Writes `batch` with `rowids` as segment 1 in `dir` and returns its manifest entry.
fn write_batch(
    dir: &Path,
    schema: &TableSchema,
    batch: &RecordBatch,
    rowids: &[u64],
) -> SegmentMeta {
    let spec = SegmentSpec {
        rows: batch.num_rows(),
        ..SegmentSpec::default()
    };
    let mut w = SegmentWriter::create(dir, 1, schema, spec).expect("create");
    w.append(batch, rowids, &[]).expect("append");
    w.finish().expect("finish")
}

/// Writes a three-row segment to `dir` and returns its manifest entry.
fn write_segment(dir: &Path, schema: &TableSchema) -> SegmentMeta {
    let ids: ArrayRef = Arc::new(Int64Array::from(vec![10, 20, 30]));
    let vectors = fsl((0..12).map(|x| x as f32).collect(), 4);
    let batch = RecordBatch::try_new(schema.arrow_schema(), vec![ids, vectors]).expect("batch");
    write_batch(dir, schema, &batch, &[0, 1, 2])
}

/// Rewrites the sidecar of `meta` with `layout` in its META section. The file is written anew
/// through the container writer, so every section and footer checksum is valid and only the
/// layout check can refuse it. Returns the manifest entry with the new sidecar length.
fn rewrite_layout(dir: &Path, meta: &SegmentMeta, layout: u32) -> SegmentMeta {
    let path = dir.join(meta.sidecar_name());
    let old = Container::open(&path, FileKind::Sidecar).expect("open sidecar");
    let mut sm: SidecarMeta =
        serde_json::from_slice(old.require(sections::META).expect("meta")).expect("meta json");
    sm.layout = layout;
    let json = serde_json::to_vec(&sm).expect("meta json");
    let owned: Vec<(u32, Vec<u8>)> = old
        .tags()
        .into_iter()
        .map(|tag| {
            let bytes = if tag == sections::META {
                json.clone()
            } else {
                old.require(tag).expect("section").to_vec()
            };
            (tag, bytes)
        })
        .collect();
    drop(old);
    let secs: Vec<Section<'_>> = owned
        .iter()
        .map(|(tag, bytes)| Section {
            tag: *tag,
            bytes: bytes.as_slice(),
        })
        .collect();
    let len = container::write(&path, FileKind::Sidecar, &secs).expect("rewrite sidecar");
    SegmentMeta {
        sidecar_bytes: len,
        ..meta.clone()
    }
}

#[test]
fn a_sidecar_of_another_layout_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let schema = schema();
    let meta = write_segment(dir.path(), &schema);
    Segment::open(dir.path(), &meta, &schema).expect("the segment as written opens");

    let layout = SIDECAR_LAYOUT + 1;
    let meta = rewrite_layout(dir.path(), &meta, layout);
    let sidecar = Container::open(&dir.path().join(meta.sidecar_name()), FileKind::Sidecar)
        .expect("the rewritten sidecar is a valid container");
    sidecar.verify_all().expect("its checksums hold");
    drop(sidecar);
    match Segment::open(dir.path(), &meta, &schema) {
        Err(StorageError::Corrupt { reason, .. }) => assert_eq!(
            reason,
            format!("sidecar layout {layout} (this build reads layout {SIDECAR_LAYOUT})")
        ),
        r => panic!("expected the layout check to refuse the segment, got {r:?}"),
    }
}

/// A segment in `dir` of `values.len()` rows: key `id` (0, 1, ...), user column 1 of type `ty`
/// holding `values`, and a 4-dim vector column (the layout the `take` tests read).
fn keyed_segment(dir: &Path, ty: ColumnType, values: ArrayRef) -> Segment {
    let cols = vec![
        Column {
            name: "id".into(),
            ty: ColumnType::Int64,
        },
        Column {
            name: "c".into(),
            ty,
        },
        Column {
            name: "v".into(),
            ty: ColumnType::Vector { dim: 4 },
        },
    ];
    let schema = TableSchema::new(cols, "id", None, Metric::L2).expect("schema");
    let rows = values.len();
    let ids: ArrayRef = Arc::new(Int64Array::from_iter_values(0..rows as i64));
    let vectors = fsl(vec![0.5; rows * 4], 4);
    let batch =
        RecordBatch::try_new(schema.arrow_schema(), vec![ids, values, vectors]).expect("batch");
    let rowids: Vec<u64> = (0..rows as u64).collect();
    let meta = write_batch(dir, &schema, &batch, &rowids);
    Segment::open(dir, &meta, &schema).expect("open")
}

/// `take` decodes only the rows it is asked for (a Parquet row selection) except in row groups
/// it wants much of (decoded whole and cached): either way it returns exactly the values at
/// the offsets, in their order, repeats and NULLs included, across row groups.
#[test]
fn take_returns_the_values_at_the_offsets_from_sparse_and_dense_row_groups() {
    use arrow_array::cast::AsArray;
    use arrow_array::{Array, StringArray};
    let dir = tempfile::tempdir().expect("temp dir");
    // three row groups: 32,768 + 32,768 + 4,464 rows
    let rows = 2 * ROW_GROUP_ROWS + 4_464;
    let name = |i: usize| (!i.is_multiple_of(7)).then(|| format!("n{}", i % 1_000));
    let names: ArrayRef = Arc::new(StringArray::from_iter((0..rows).map(name)));
    let seg = keyed_segment(dir.path(), ColumnType::Utf8, names);
    assert_eq!(seg.row_groups(), 3);
    let check = |offsets: &[u32]| {
        let got = seg.take(1, offsets).expect("take");
        let got = got.as_string::<i32>();
        assert_eq!(got.len(), offsets.len());
        for (j, &o) in offsets.iter().enumerate() {
            let want = name(o as usize);
            let have = (!got.is_null(j)).then(|| got.value(j).to_string());
            assert_eq!(have, want, "offset {o}");
        }
    };
    // sparse in every group, unsorted, repeated, a NULL row (offset 7) and both ends
    check(&[69_999, 7, 40_000, 3, 7, 0, 32_768, 65_535, 65_536, 12_345]);
    // about 9% of the first group: still read row by row (many selectors), nothing cached
    let many: Vec<u32> = (0..32_768).step_by(11).rev().collect();
    check(&many);
    assert_eq!(seg.cached_pieces(), 0, "sparse reads cache nothing");
    // dense in the second group (decoded whole and cached), sparse in the first
    let dense: Vec<u32> = (32_768..65_536).step_by(3).chain([5, 1]).collect();
    check(&dense);
    assert_eq!(seg.cached_pieces(), 1, "the dense group is kept");
    // again, now from the cached piece
    check(&[40_001, 50_000, 1, 40_001]);
    check(&[]);
    assert!(seg.take(1, &[rows as u32]).is_err(), "past the last row");
    // also once the whole column is decoded (a filter's), which takes the fast path
    assert_eq!(seg.column(1).expect("column").len(), rows);
    check(&[69_999, 7, 40_000]);
    assert!(
        seg.take(1, &[rows as u32]).is_err(),
        "past the last row, whole column"
    );
}

/// A search returning an integer column reads its few rows through the piece cache: a
/// fixed-width column's row group is decoded whole and kept on the first sparse `take`, so
/// the next searches touching that group read no Parquet (at 1M rows the row-selection read
/// of ten `id`s was about a tenth of a filtered search's time, stop 44).
#[test]
fn take_keeps_fixed_width_row_groups_after_a_sparse_read() {
    use arrow_array::cast::AsArray;
    use arrow_array::types::Int64Type;
    use arrow_array::Array;
    let dir = tempfile::tempdir().expect("temp dir");
    let rows = ROW_GROUP_ROWS + 1_000;
    let value = |i: usize| (i as i64) * 3 - 7;
    let ns: ArrayRef = Arc::new(Int64Array::from_iter(
        (0..rows).map(|i| (!i.is_multiple_of(5)).then(|| value(i))),
    ));
    let seg = keyed_segment(dir.path(), ColumnType::Int64, ns);
    let check = |offsets: &[u32]| {
        let got = seg.take(1, offsets).expect("take");
        let got = got.as_primitive::<Int64Type>();
        assert_eq!(got.len(), offsets.len());
        for (j, &o) in offsets.iter().enumerate() {
            let want = (!(o as usize).is_multiple_of(5)).then(|| value(o as usize));
            assert_eq!((!got.is_null(j)).then(|| got.value(j)), want, "offset {o}");
        }
    };
    check(&[12_345, 5, 7]);
    assert_eq!(
        seg.cached_pieces(),
        1,
        "the first group is kept after three rows"
    );
    check(&[rows as u32 - 1, 3, 32_000]);
    assert_eq!(seg.cached_pieces(), 2, "and the second");
    check(&[10, 32_767, 32_768, 10]);
    assert_eq!(seg.cached_pieces(), 2, "both read from the cache");
}

/// Regression for the compaction fast path: `read_group` takes the vectors from the bands'
/// mapped pages instead of decoding them through Parquet. Every column of every row group
/// (the vector between two others, so the decoded columns must be matched to theirs), the
/// row ids and the vector's values across band boundaries must come back as written.
#[test]
fn read_group_joins_the_mapped_bands_and_decodes_the_other_columns() {
    use crate::conform::vector_values;
    use arrow_array::cast::AsArray;
    use arrow_array::types::Int64Type;
    use arrow_array::{Array, StringArray};
    let dir = tempfile::tempdir().expect("temp dir");
    let dim = 6;
    let cols = vec![
        Column {
            name: "name".into(),
            ty: ColumnType::Utf8,
        },
        Column {
            name: "v".into(),
            ty: ColumnType::Vector { dim: dim as u32 },
        },
        Column {
            name: "id".into(),
            ty: ColumnType::Int64,
        },
    ];
    let schema = TableSchema::new(cols, "id", Some(vec![1, 4]), Metric::L2).expect("schema");
    assert_eq!(schema.bands().len(), 3, "bands [0,1) [1,4) [4,6)");
    let rows = ROW_GROUP_ROWS + 1_000;
    let name = |i: usize| (!i.is_multiple_of(5)).then(|| format!("n{i}"));
    let value = |i: usize, j: usize| (i * dim + j) as f32 * 0.25 - 7.0;
    let names: ArrayRef = Arc::new(StringArray::from_iter((0..rows).map(name)));
    let ids: ArrayRef = Arc::new(Int64Array::from_iter_values(
        (0..rows as i64).map(|i| 3 * i),
    ));
    let flat: Vec<f32> = (0..rows)
        .flat_map(|i| (0..dim).map(move |j| value(i, j)))
        .collect();
    let batch = RecordBatch::try_new(schema.arrow_schema(), vec![names, fsl(flat, dim), ids])
        .expect("batch");
    let rowids: Vec<u64> = (0..rows as u64).map(|r| 100 + r).collect();
    let meta = write_batch(dir.path(), &schema, &batch, &rowids);
    let seg = Segment::open(dir.path(), &meta, &schema).expect("open");
    assert_eq!(seg.row_groups(), 2);
    for g in 0..2 {
        let (a, z) = seg.group_range(g);
        let (got, ids) = seg.read_group(g).expect("read group");
        assert_eq!(got.num_rows(), z - a);
        assert_eq!(got.schema(), schema.arrow_schema());
        assert_eq!(ids, rowids[a..z].to_vec());
        let n = got.column(0).as_string::<i32>();
        let v = vector_values(got.column(1));
        let k = got.column(2).as_primitive::<Int64Type>();
        for (r, i) in (a..z).enumerate() {
            assert_eq!((!n.is_null(r)).then(|| n.value(r).to_string()), name(i));
            assert_eq!(k.value(r), 3 * i as i64);
            for j in 0..dim {
                assert_eq!(v[r * dim + j], value(i, j), "row {i} dim {j}");
            }
        }
        assert_eq!(seg.group_vectors(g).expect("vectors"), v.to_vec());
    }
}
