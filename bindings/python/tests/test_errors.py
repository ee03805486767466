"""Engine errors map to the right exception classes; bad input changes nothing."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

import nestdb
from conftest import DIM, make_rows, schema


def test_hierarchy():
    for cls in (nestdb.InputError, nestdb.QueryError, nestdb.SchemaError, nestdb.CatalogError,
                nestdb.NotFoundError, nestdb.ModelError, nestdb.StorageError):
        assert issubclass(cls, nestdb.Error)
        assert cls.__module__ == "nestdb"
    assert issubclass(nestdb.Error, Exception)
    assert issubclass(nestdb.NotFoundError, nestdb.CatalogError)


def one(id_: int = 1000, vec=None, **extra) -> dict:
    v = np.ones((1, DIM), np.float32) if vec is None else np.asarray(vec, np.float32).reshape(1, -1)
    return {"id": [id_], "embedding": v, **extra}


def test_input_errors_write_nothing(table_factory):
    t, rows = table_factory(n=20)
    cases = {
        "dimensions": one(vec=np.ones(DIM + 1)),
        "non-finite": one(vec=np.r_[np.ones(DIM - 1), np.nan]),
        "zero vector": one(vec=np.zeros(DIM)),
        "unknown column": one(nope=[1]),
        "duplicate id": {"id": [500, 500], "embedding": np.ones((2, DIM), np.float32)},
        "non-negative": one(id_=-1),
        "missing required column": {"id": [7]},
    }
    for needle, data in cases.items():
        with pytest.raises(nestdb.InputError, match=needle):
            t.add(data)
    with pytest.raises(nestdb.InputError, match="duplicate id 3"):
        t.add(one(id_=3))  # exists already
    with pytest.raises(nestdb.InputError, match="non-finite"):
        t.add(one(vec=np.r_[np.ones(DIM - 1), np.inf]))
    assert t.count() == 20


def test_conversion_errors(table_factory):
    t, _ = table_factory(n=5)
    with pytest.raises(nestdb.InputError):
        t.add({"id": [1, 2], "embedding": np.ones((3, DIM), np.float32)})  # lengths differ
    with pytest.raises(nestdb.InputError):
        t.add([{"id": "not a number", "embedding": [0.0] * DIM}])
    with pytest.raises(TypeError):
        t.add(42)
    with pytest.raises(nestdb.InputError, match="dimensions"):
        t.add([{"id": 9, "embedding": [1.0, 2.0]}])  # engine names the row
    assert t.count() == 5


def test_query_errors(table_factory):
    t, rows = table_factory(n=20)
    q = rows["embedding"][0]
    with pytest.raises(nestdb.QueryError, match="dimensions"):
        t.search(np.ones(DIM + 2, np.float32))
    with pytest.raises(nestdb.QueryError, match="non-finite"):
        t.search(np.r_[q[:-1], np.float32(np.nan)])
    with pytest.raises(nestdb.QueryError, match="nope"):
        t.search(q, select=["nope"])
    with pytest.raises(nestdb.QueryError, match="nope"):
        t.search(q, filter="nope = 1")
    with pytest.raises(nestdb.QueryError):
        t.search(q, filter="lang = = 'go'")
    with pytest.raises(nestdb.QueryError, match="nope"):
        t.to_arrow(columns=["id", "nope"])
    with pytest.raises(nestdb.QueryError):
        t.search(q, k=0)
    with pytest.raises(nestdb.QueryError, match="recall_target"):
        t.search(q, recall_target=1.5)
    with pytest.raises(nestdb.QueryError):
        t.delete("nope = 3")
    with pytest.raises(nestdb.QueryError, match="dimensions"):
        t.search_batch(np.ones((3, DIM + 1), np.float32))


def test_catalog_errors(db, table_factory):
    table_factory("docs", n=1)
    with pytest.raises(nestdb.NotFoundError, match="missing"):
        db.open_table("missing")
    with pytest.raises(nestdb.CatalogError):
        db.drop_table("missing")
    with pytest.raises(nestdb.CatalogError, match="already exists") as e:
        db.create_table("docs", schema())
    assert not isinstance(e.value, nestdb.NotFoundError)
    with pytest.raises(nestdb.CatalogError):
        db.create_table("bad name!", schema())
    t = db.open_table("docs")
    db.drop_table("docs")
    with pytest.raises(nestdb.NotFoundError):
        t.count()


def test_schema_errors(db):
    with pytest.raises(nestdb.SchemaError, match="vector"):
        db.create_table("t", pa.schema([("id", pa.int64()), ("x", pa.string())]))
    with pytest.raises(nestdb.SchemaError, match="unsupported"):
        db.create_table("t", pa.schema([("id", pa.int64()), ("x", pa.list_(pa.int32())),
                                        ("v", pa.list_(pa.float32(), 4))]))
    with pytest.raises(nestdb.SchemaError, match="primary key"):
        db.create_table("t", pa.schema([("id", pa.string()), ("v", pa.list_(pa.float32(), 4))]))
    with pytest.raises(nestdb.SchemaError, match="primary key"):
        db.create_table("t", pa.schema([("key", pa.int64()), ("v", pa.list_(pa.float32(), 4))]))
    with pytest.raises(nestdb.SchemaError, match="metric"):
        db.create_table("t", pa.schema([("id", pa.int64()), ("v", pa.list_(pa.float32(), 4))]), metric="hamming")
    with pytest.raises(nestdb.SchemaError, match="MATRYOSHKA|bands|boundaries"):
        db.create_table("t", pa.schema([("id", pa.int64()), ("v", pa.list_(pa.float32(), 8))]), bands=[4, 2])
    with pytest.raises(nestdb.SchemaError, match="paths"):
        db.create_table("t", pa.schema([("id", pa.int64()), ("v", pa.list_(pa.float32(), 4))]), paths=["nope"])
    with pytest.raises(nestdb.SchemaError):
        db.create_table("t", pa.schema([("id", pa.int64()), ("_x", pa.string()), ("v", pa.list_(pa.float32(), 4))]))
    assert db.table_names() == []


def test_bad_sql(db):
    with pytest.raises(nestdb.QueryError):
        db.sql("SELEKT * FROM nowhere")
    with pytest.raises(nestdb.Error):
        db.sql("SELECT * FROM missing_table")


def test_closed_database(table_factory, db):
    t, rows = table_factory(n=3)
    db.close()
    assert db.closed
    db.close()  # idempotent
    for call in (lambda: t.count(), lambda: t.search(rows["embedding"][0]), lambda: db.table_names(),
                 lambda: db.sql("SHOW TABLES"), lambda: t.add(make_rows(1, start=50))):
        with pytest.raises(nestdb.Error, match="closed"):
            call()
