"""Database.sql: statements, results as pyarrow, parameters."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

import nestdb
from nestdb import _params


def test_sql_round_trip(db):
    out = db.sql("CREATE TABLE items (id BIGINT PRIMARY KEY, body TEXT, embedding VECTOR(3)) WITH (metric = 'l2')")
    assert out.column_names == ["command", "rows"]
    assert out.schema.field("rows").type == pa.int64()
    out = db.sql("INSERT INTO items VALUES (1, 'a', '[1, 0, 0]'), (2, 'b', '[0, 1, 0]'), (3, 'c', '[0, 0, 1]')")
    assert out.column("rows").to_pylist() == [3]
    assert "INSERT" in out.column("command")[0].as_py().upper()
    assert db.sql("SELECT count(*) AS count FROM items").column("count").to_pylist() == [3]
    # Several statements: the last one's result.
    last = db.sql("DELETE FROM items WHERE id = 3; SELECT count(*) AS count FROM items")
    assert last.column("count").to_pylist() == [2]
    # Tables made in SQL are tables in Python, and the other way round.
    t = db.open_table("items")
    assert t.count() == 2
    assert t.search(np.array([0, 1, 0], np.float32), k=1).column("id").to_pylist() == [2]
    hits = db.sql("SELECT id, _distance FROM items ORDER BY embedding <-> '[1, 0, 0]' LIMIT 1")
    assert hits.column("id").to_pylist() == [1]
    assert isinstance(hits, pa.Table)


def test_sql_params(db):
    db.sql("CREATE TABLE items (id BIGINT PRIMARY KEY, body TEXT, embedding VECTOR(3)) WITH (metric = 'l2')")
    db.sql("INSERT INTO items VALUES ($1, $2, $3), ($4, 'it''s', $5)",
           [1, "o'brien", np.array([1, 0, 0], np.float32), 2, [0.0, 1.0, 0.0]])
    rows = db.sql("SELECT id, body FROM items WHERE body = $1", ["o'brien"]).to_pylist()
    assert rows == [{"id": 1, "body": "o'brien"}]
    hits = db.sql("SELECT id FROM items ORDER BY embedding <-> $1 LIMIT 1", [np.array([0, 0.9, 0.1])])
    assert hits.column("id").to_pylist() == [2]
    with pytest.raises(nestdb.QueryError, match=r"\$2"):
        db.sql("SELECT id FROM items WHERE id = $2", [1])


def test_bind_literals():
    assert _params.bind("SELECT $1, $2, $3, $4, $5", [None, True, 7, 1.5, "a'b"]) == \
        "SELECT NULL, TRUE, 7, 1.5, 'a''b'"
    assert _params.bind("x <=> $1", [np.array([1, 2], np.float32)]) == "x <=> '[1.0, 2.0]'"
    # Placeholders inside strings, quoted identifiers and comments are not parameters.
    sql = "SELECT '$1', \"$1\" -- $1\n/* $1 */ $1"
    assert _params.bind(sql, [5]) == "SELECT '$1', \"$1\" -- $1\n/* $1 */ 5"
    assert _params.bind("a$1", [5]) == "a$1"
    assert _params.bind("$10", list(range(10))) == "9"
    with pytest.raises(IndexError):
        _params.bind("$0", [1])
    with pytest.raises(ValueError):
        _params.bind("$1", [float("nan")])
    with pytest.raises(TypeError):
        _params.bind("$1", [object()])
    with pytest.raises(TypeError):
        _params.bind("$1", "abc")


def test_sql_reader_streams_batches(db):
    db.sql("CREATE TABLE big (id BIGINT PRIMARY KEY, n BIGINT, embedding VECTOR(2)) WITH (metric = 'l2')")
    t = db.open_table("big")
    n = 50_000
    ids = np.arange(n, dtype=np.int64)
    vecs = np.stack([np.cos(ids), np.sin(ids)], axis=1).astype(np.float32)
    t.add(pa.table({"id": ids, "n": ids % 7,
                    "embedding": pa.FixedSizeListArray.from_arrays(pa.array(vecs.ravel()), 2)}))
    reader = db.sql_reader("SELECT id, n FROM big WHERE n = $1", [3])
    assert isinstance(reader, pa.RecordBatchReader)
    assert reader.schema.names == ["id", "n"]
    batches = list(reader)
    assert len(batches) > 1, "a large scan arrives in several batches"
    got = pa.Table.from_batches(batches)
    assert got.num_rows == int((ids % 7 == 3).sum())
    assert set(got.column("n").to_pylist()) == {3}
    # a vector query streams too, with its _distance column
    hits = db.sql_reader("SELECT id, _distance FROM big ORDER BY embedding <-> '[1, 0]' LIMIT 3").read_all()
    assert hits.column("id").to_pylist()[0] == 0
    with pytest.raises(nestdb.QueryError):
        db.sql_reader("SELECT nope FROM big")
