"""No copies on the way in (numpy -> Arrow) or out (results shared with pyarrow/numpy)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from conftest import DIM
from nestdb import _convert


def address(a: np.ndarray) -> int:
    return a.__array_interface__["data"][0]


def test_numpy_columns_are_not_copied(table_factory):
    t, _ = table_factory(n=0)
    ids = np.arange(100, dtype=np.int64)
    score = np.linspace(0, 1, 100)
    emb = np.random.default_rng(0).standard_normal((100, DIM)).astype(np.float32)
    batch = _convert.rows({"id": ids, "score": score, "embedding": emb}, lambda: t.schema)
    assert isinstance(batch, pa.RecordBatch)
    assert batch.column("id").buffers()[1].address == address(ids)
    assert batch.column("score").buffers()[1].address == address(score)
    assert batch.column("embedding").values.buffers()[1].address == address(emb)
    assert t.add({"id": ids, "score": score, "embedding": emb}) == 100
    # The table does not alias the caller's arrays: changing them afterwards changes nothing.
    ids += 1000
    score[:] = -1
    got = t.to_arrow(columns=["id", "score"]).sort_by("id")
    assert got.column("id").to_pylist() == list(range(100))
    assert min(got.column("score").to_pylist()) >= 0


def test_pyarrow_table_is_not_copied():
    emb = np.ones((10, 4), np.float32)
    src = pa.table({"id": np.arange(10), "embedding": pa.FixedSizeListArray.from_arrays(pa.array(emb.reshape(-1)), 4)})
    batch = _convert.rows(src, lambda: None)
    assert batch.column("embedding").values.buffers()[1].address == address(emb)


def test_query_vector_is_not_copied():
    q = np.random.default_rng(1).standard_normal(DIM).astype(np.float32)
    assert _convert.query_vector(q) is q
    m = np.ones((5, DIM), np.float32)
    assert _convert.query_matrix(m) is m
    assert _convert.query_vector(q.astype(np.float64)).dtype == np.float32


def test_results_export_without_copies(table_factory):
    t, rows = table_factory(n=100)
    res = t.search(rows["embedding"][0], k=10)
    col = res.column("_distance")
    assert col.num_chunks == 1
    buf = col.chunk(0).buffers()[1]
    arr = col.chunk(0).to_numpy(zero_copy_only=True)
    assert address(arr) == buf.address
    assert col.chunk(0).buffers()[1].address == buf.address  # stable
    ids = res.column("id").chunk(0).to_numpy(zero_copy_only=True)
    assert ids.dtype == np.int64 and ids.shape == (10,)
    scan = t.to_arrow(columns=["embedding"])
    emb = scan.column("embedding").chunk(0)
    vecs = emb.flatten().to_numpy(zero_copy_only=True).reshape(len(emb), -1)
    assert vecs.shape == (100, DIM)
