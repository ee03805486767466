"""Shared fixtures: a temporary database and a small table with labels."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

import nestdb

DIM = 16


def schema(dim: int = DIM) -> pa.Schema:
    return pa.schema(
        [
            pa.field("id", pa.int64()),
            pa.field("label", pa.string()),
            pa.field("lang", pa.string()),
            pa.field("score", pa.float64()),
            pa.field("embedding", pa.list_(pa.float32(), dim)),
        ]
    )


def make_rows(n: int, dim: int = DIM, seed: int = 0, start: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    langs = np.array(["python", "go", "rust"])
    tops = ["python/declarations/functions", "python/declarations/classes", "go/functions", "rust/impls"]
    return {
        "id": np.arange(start, start + n, dtype=np.int64),
        "label": [tops[i % len(tops)] for i in range(n)],
        "lang": langs[np.arange(n) % 3].tolist(),
        "score": rng.random(n),
        "embedding": rng.standard_normal((n, dim)).astype(np.float32),
    }


@pytest.fixture
def db():
    with nestdb.connect() as d:
        yield d


@pytest.fixture
def table_factory(db):
    def make(name: str = "docs", n: int = 200, metric: str = "cosine", dim: int = DIM, seed: int = 0):
        t = db.create_table(name, schema(dim), paths=["label"], metric=metric)
        rows = make_rows(n, dim, seed)
        if n:
            assert t.add(rows) == n
        return t, rows

    return make
