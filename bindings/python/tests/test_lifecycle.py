"""Temporary databases, close, context managers, garbage collection."""

from __future__ import annotations

import gc
import os

import pytest

import nestdb
from conftest import make_rows, schema


def test_temporary_database_removed_on_close():
    db = nestdb.connect()
    assert db.temporary
    path = db.path
    assert os.path.isdir(path)
    t = db.create_table("docs", schema(), paths=["label"])
    t.add(make_rows(20))
    t.flush()
    db.close()
    assert db.closed
    assert not os.path.exists(path)


def test_context_manager_removes_temporary_directory():
    with nestdb.connect() as db:
        path = db.path
        db.create_table("docs", schema()).add(make_rows(5))
    assert not os.path.exists(path)


def test_temporary_database_removed_on_garbage_collection():
    db = nestdb.connect()
    path = db.path
    t = db.create_table("docs", schema())
    t.add(make_rows(5))
    del db
    gc.collect()
    assert os.path.isdir(path)  # the table keeps its database alive
    assert t.count() == 5
    del t
    gc.collect()
    assert not os.path.exists(path)


def test_persistent_database_is_kept(tmp_path):
    path = tmp_path / "keep"
    with nestdb.connect(path) as db:
        assert not db.temporary
        db.create_table("docs", schema())
    assert path.is_dir()
    db2 = nestdb.connect(path)
    assert db2.table_names() == ["docs"]
    db2.close()


def test_one_process_per_directory(tmp_path):
    with nestdb.connect(tmp_path / "x"):
        with pytest.raises(nestdb.StorageError):
            nestdb.connect(tmp_path / "x")


def test_repr():
    with nestdb.connect() as db:
        assert "temporary" in repr(db)
        t = db.create_table("docs", schema())
        assert "docs" in repr(t)
    assert "closed" in repr(db)
