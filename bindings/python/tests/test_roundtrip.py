"""Create, add (pyarrow / dict / numpy / list of dicts / stream), count, read back."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pytest

import nestdb
from conftest import DIM, make_rows, schema


def sorted_by_id(t: pa.Table) -> pa.Table:
    return t.sort_by("id")


def assert_same_rows(got: pa.Table, rows: dict) -> None:
    got = sorted_by_id(got)
    assert got.column("id").to_pylist() == list(rows["id"])
    assert got.column("label").to_pylist() == list(rows["label"])
    assert got.column("lang").to_pylist() == list(rows["lang"])
    np.testing.assert_array_equal(got.column("score").to_numpy(), rows["score"])
    emb = got.column("embedding").combine_chunks()
    vecs = emb.flatten().to_numpy().reshape(len(emb), -1)
    np.testing.assert_array_equal(vecs, rows["embedding"])


def test_create_add_dict_count_to_arrow(table_factory):
    t, rows = table_factory(n=100)
    assert t.count() == 100
    assert len(t) == 100
    assert_same_rows(t.to_arrow(), rows)


def arrow_table(rows: dict) -> pa.Table:
    return pa.table(
        {
            "id": rows["id"],
            "label": rows["label"],
            "lang": rows["lang"],
            "score": rows["score"],
            "embedding": pa.FixedSizeListArray.from_arrays(pa.array(rows["embedding"].reshape(-1)), DIM),
        }
    )


def test_add_pyarrow_table_and_batch(db):
    rows = make_rows(50)
    src = arrow_table(rows)
    t = db.create_table("t", schema(), paths="label")
    assert t.add(src.slice(0, 20)) == 20
    assert t.add(src.slice(20).to_batches()[0]) == 30
    assert t.count() == 50
    assert_same_rows(t.to_arrow(), rows)


def test_add_multi_chunk_table_is_one_write(db):
    rows = make_rows(40)
    src = arrow_table(rows)
    chunked = pa.concat_tables([src.slice(0, 10), src.slice(10)])
    assert chunked.column("id").num_chunks == 2
    t = db.create_table("t", schema(), paths=["label"])
    assert t.add(chunked) == 40
    assert_same_rows(t.to_arrow(), rows)
    # A bad row in the second chunk rejects the whole table.
    bad = make_rows(4, start=100)
    bad["embedding"][3, 0] = np.nan
    with pytest.raises(nestdb.InputError):
        t.add(pa.concat_tables([arrow_table(bad).slice(0, 2), arrow_table(bad).slice(2)]))
    assert t.count() == 40


def test_add_list_of_dicts(db):
    t = db.create_table("t", schema(4), paths=["label"])
    n = t.add(
        [
            {"id": 1, "label": "a/b", "lang": "go", "score": 0.5, "embedding": [1.0, 2.0, 3.0, 4.0]},
            {"id": 2, "label": "a", "embedding": np.ones(4, np.float32)},
        ]
    )
    assert n == 2
    got = sorted_by_id(t.to_arrow())
    assert got.column("lang").to_pylist() == ["go", None]
    assert got.column("score").to_pylist() == [0.5, None]
    assert got.column("embedding").to_pylist()[0] == [1.0, 2.0, 3.0, 4.0]


def test_add_stream_reader(db):
    rows = make_rows(30)
    src = arrow_table(rows)
    reader = pa.RecordBatchReader.from_batches(src.schema, src.to_batches(max_chunksize=7))
    t = db.create_table("t", schema(), paths=["label"])
    assert t.add(reader) == 30
    assert_same_rows(t.to_arrow(), rows)


def test_upsert_replaces(table_factory):
    t, rows = table_factory(n=10)
    new = {"id": np.array([3, 100]), "label": ["x", "y"], "embedding": np.ones((2, DIM), np.float32)}
    assert t.upsert(new) == 2
    assert t.count() == 11
    got = t.to_arrow(columns=["id", "label"], filter="id = 3")
    assert got.to_pylist() == [{"id": 3, "label": "x"}]


def test_to_arrow_columns_limit_filter(table_factory):
    t, rows = table_factory(n=60)
    got = t.to_arrow(columns=["id", "_rowid"], limit=5)
    assert got.column_names == ["id", "_rowid"]
    assert got.num_rows == 5
    assert got.schema.field("_rowid").type == pa.uint64()
    go = t.to_arrow(columns="id", filter="lang = 'go'")
    assert sorted(go.column("id").to_pylist()) == [i for i in range(60) if i % 3 == 1]


def test_schema_mapping(db):
    s = pa.schema(
        [
            pa.field("key", pa.int32()),
            pa.field("small", pa.uint16()),
            pa.field("f", pa.float32()),
            pa.field("flag", pa.bool_()),
            pa.field("at", pa.timestamp("ms")),
            pa.field("text", pa.large_string()),
            pa.field("where", pa.string(), metadata={b"nestdb.type": b"path"}),
            pa.field("v", pa.list_(pa.float16(), 8)),
        ]
    )
    t = db.create_table("m", s, primary_key="key", metric="l2", bands=[4])
    out = t.schema
    assert out.field("key").type == pa.int64()
    assert out.field("small").type == pa.int64()
    assert out.field("f").type == pa.float64()
    assert out.field("flag").type == pa.bool_()
    assert out.field("at").type == pa.timestamp("us")
    assert out.field("text").type == pa.string()
    assert out.field("where").metadata == {b"nestdb.type": b"path"}
    assert out.field("v").type.list_size == 8
    assert (t.primary_key, t.vector_column, t.dim, t.metric, t.bands) == ("key", "v", 8, "l2", [4])
    when = dt.datetime(2024, 5, 6, 7, 8, 9)
    t.add({"key": [1], "small": [2], "f": [1.5], "flag": [True], "at": [when], "text": ["hi"],
           "where": ["a//b"], "v": np.ones((1, 8), np.float32)})
    row = t.to_arrow().to_pylist()[0]
    assert row["at"] == when and row["where"] == "a/b" and row["flag"] is True


def test_vector_column_choice(db):
    s = pa.schema([("id", pa.int64()), ("a", pa.list_(pa.float32(), 4)), ("b", pa.list_(pa.float32(), 4))])
    with pytest.raises(nestdb.SchemaError, match="vector="):
        db.create_table("t", s)
    with pytest.raises(nestdb.SchemaError):
        db.create_table("t", s, vector="a")  # b is a second vector column
    s2 = pa.schema([("id", pa.int64()), ("a", pa.list_(pa.float32(), 4)), ("note", pa.string())])
    assert db.create_table("t", s2, vector="a").vector_column == "a"


def test_schema_as_dict_and_options(db):
    t = db.create_table(
        "t",
        {"id": pa.int64(), "embedding": pa.list_(pa.float32(), 4)},
        options={"recall_target": 0.9, "min_rows": 1000, "metric": "dot"},
    )
    assert t.metric == "dot"
    assert t.maintenance_error is None  # no maintenance has failed
    with pytest.raises(nestdb.SchemaError, match="recall_target"):
        db.create_table("u", {"id": pa.int64(), "e": pa.list_(pa.float32(), 4)}, options={"recall_target": 2})
    with pytest.raises(nestdb.Error):
        db.create_table("u", {"id": pa.int64(), "e": pa.list_(pa.float32(), 4)}, options={"no_such_option": 1})


def test_catalog(db, table_factory):
    table_factory("a", n=5)
    table_factory("b", n=0)
    assert db.table_names() == ["a", "b"]
    assert "a" in db and "zzz" not in db
    assert db.open_table("a").count() == 5
    db.drop_table("b")
    assert db.table_names() == ["a"]


def test_flush_compact_analyze_keep_rows(table_factory):
    t, rows = table_factory(n=300)
    m = t.flush()
    assert set(m) == {"rows", "segments_replaced", "index_version", "refit"}
    t.add(make_rows(10, start=1000, seed=3))
    t.compact()
    t.analyze()
    assert t.count() == 310
    got = t.to_arrow(filter="id < 300")
    assert_same_rows(got, rows)


def test_reopen_persistent_database(tmp_path):
    path = tmp_path / "db"
    with nestdb.connect(path) as db:
        assert not db.temporary
        t = db.create_table("docs", schema(), paths=["label"])
        t.add(make_rows(25))
    with nestdb.connect(str(path)) as db:
        t = db.open_table("docs")
        assert t.count() == 25
        assert_same_rows(t.to_arrow(), make_rows(25))
