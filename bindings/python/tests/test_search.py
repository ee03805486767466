"""Search against numpy brute force, filters, batches, explain, deletes."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from conftest import DIM


def brute_force(x: np.ndarray, q: np.ndarray, metric: str) -> np.ndarray:
    x = x.astype(np.float64)
    q = q.astype(np.float64)
    if metric == "cosine":
        return 1.0 - (x @ q) / (np.linalg.norm(x, axis=1) * np.linalg.norm(q))
    if metric == "l2":
        return np.sqrt(((x - q) ** 2).sum(axis=1))
    return -(x @ q)


def expected(rows: dict, q: np.ndarray, k: int, metric: str, mask: np.ndarray | None = None):
    d = brute_force(rows["embedding"], q, metric)
    ids = rows["id"]
    if mask is not None:
        d, ids = d[mask], ids[mask]
    order = np.argsort(d, kind="stable")[:k]
    return ids[order], d[order]


def check_topk(res: pa.Table, rows: dict, q: np.ndarray, k: int, metric: str, mask=None) -> None:
    """The result is a true top-k: its distances are the k smallest (up to float32 error),
    each returned row's own distance is right, and the ids match unless distances tie."""
    ids, dist = expected(rows, q, k, metric, mask)
    got_ids = res.column("id").to_numpy()
    got_d = res.column("_distance").to_numpy()
    np.testing.assert_allclose(got_d, dist, rtol=1e-4, atol=1e-4)
    full = dict(zip(rows["id"].tolist(), brute_force(rows["embedding"], q, metric)))
    np.testing.assert_allclose([full[i] for i in got_ids.tolist()], got_d, rtol=1e-4, atol=1e-4)
    gaps = np.diff(dist)
    if gaps.size == 0 or gaps.min() > 1e-4:
        assert got_ids.tolist() == ids.tolist()


@pytest.mark.parametrize("metric", ["cosine", "l2", "dot"])
def test_exact_search_equals_brute_force(table_factory, metric):
    t, rows = table_factory(n=500, metric=metric)
    rng = np.random.default_rng(42)
    for _ in range(5):
        q = rng.standard_normal(DIM).astype(np.float32)
        check_topk(t.search(q, k=10, exact=True), rows, q, 10, metric)


def test_result_columns_and_types(table_factory):
    t, rows = table_factory(n=50)
    res = t.search(rows["embedding"][7], k=5)
    assert res.column_names == ["id", "label", "lang", "score", "_rowid", "_distance"]
    assert res.schema.field("_rowid").type == pa.uint64()
    assert res.schema.field("_distance").type == pa.float32()
    assert res.column("id")[0].as_py() == 7
    assert res.column("_distance")[0].as_py() == pytest.approx(0.0, abs=1e-5)
    sel = t.search(rows["embedding"][7], k=3, select=["lang"])
    assert sel.column_names == ["lang", "_rowid", "_distance"]
    assert t.search(rows["embedding"][7], k=3, select="id").column_names == ["id", "_rowid", "_distance"]


def test_default_search_matches_ids_on_small_table(table_factory):
    t, rows = table_factory(n=100)
    for seed in range(3):
        q = np.random.default_rng(seed).standard_normal(DIM).astype(np.float32)
        ids, _ = expected(rows, q, 10, "cosine")
        assert t.search(q, k=10).column("id").to_pylist() == ids.tolist()


def test_query_forms(table_factory):
    t, rows = table_factory(n=100)
    q = rows["embedding"][3]
    want = t.search(q, k=4).column("id").to_pylist()
    assert t.search(q.tolist(), k=4).column("id").to_pylist() == want
    assert t.search(q.astype(np.float64), k=4).column("id").to_pylist() == want
    assert t.search(q.reshape(1, -1), k=4).column("id").to_pylist() == want
    assert t.search(pa.array(q), k=4).column("id").to_pylist() == want
    strided = np.repeat(q, 2)[::2]  # non-contiguous view: copied, same result
    assert t.search(strided, k=4).column("id").to_pylist() == want
    with pytest.raises(TypeError, match="text queries"):
        t.search("open a file", k=4)


def test_k_larger_than_table(table_factory):
    t, rows = table_factory(n=7)
    assert t.search(rows["embedding"][0], k=100).num_rows == 7


def test_path_filter(table_factory):
    t, rows = table_factory(n=400)
    q = np.random.default_rng(5).standard_normal(DIM).astype(np.float32)
    res = t.search(q, k=10, exact=True, filter="label <@ 'python/declarations'")
    labels = np.array(rows["label"])
    mask = np.char.startswith(labels.astype(str), "python/declarations")
    check_topk(res, rows, q, 10, "cosine", mask)
    assert all(l.startswith("python/declarations") for l in res.column("label").to_pylist())
    # Default (funnel or exact, whatever the planner picks) returns k rows of the subtree.
    res2 = t.search(q, k=10, filter="label <@ 'python/declarations'")
    assert res2.num_rows == 10
    assert set(res2.column("label").to_pylist()) <= {"python/declarations/functions", "python/declarations/classes"}


def test_scalar_filter(table_factory):
    t, rows = table_factory(n=400)
    q = np.random.default_rng(6).standard_normal(DIM).astype(np.float32)
    res = t.search(q, k=10, exact=True, filter="lang = 'go' AND score > 0.5")
    mask = (np.array(rows["lang"]) == "go") & (rows["score"] > 0.5)
    check_topk(res, rows, q, 10, "cosine", mask)
    res_in = t.search(q, k=5, exact=True, filter="lang IN ('go', 'rust') AND NOT (label <@ 'rust')")
    assert res_in.num_rows == 5
    for r in res_in.to_pylist():
        assert r["lang"] in ("go", "rust") and not r["label"].startswith("rust")


def test_search_batch_matches_single(table_factory):
    t, rows = table_factory(n=300)
    qs = np.random.default_rng(9).standard_normal((12, DIM)).astype(np.float32)
    results = t.search_batch(qs, k=5, exact=True, filter="score < 0.8")
    assert results.column_names[0] == "_query"
    assert results.num_rows == 12 * 5
    for i, q in enumerate(qs):
        mine = results.filter(pc.equal(results["_query"], i)).drop_columns(["_query"])
        assert mine.equals(t.search(q, k=5, exact=True, filter="score < 0.8"))
    empty = t.search_batch(np.empty((0, DIM), np.float32))
    assert empty.num_rows == 0 and empty.column_names[0] == "_query"
    assert t.search_batch(qs[0], k=3).num_rows == 3


def test_explain(table_factory):
    t, rows = table_factory(n=100)
    q = rows["embedding"][0]
    plan = t.explain(q, k=5, filter="lang = 'go'")
    assert "strategy" in plan
    analyzed = t.explain(q, k=5, analyze=True)
    assert "strategy" in analyzed


def test_delete_by_ids(table_factory):
    t, rows = table_factory(n=50)
    assert t.delete([1, 2, 3]) == 3
    assert t.delete(np.array([4, 5], dtype=np.int32)) == 2
    assert t.delete(np.array([6], dtype=np.uint64)) == 1
    assert t.delete(7) == 1
    assert t.delete(pa.array([8, 9])) == 2
    assert t.delete([1, 999]) == 0  # already gone / never existed
    assert t.delete([]) == 0
    assert t.count() == 41
    left = set(t.to_arrow(columns=["id"]).column("id").to_pylist())
    assert left == set(range(50)) - set(range(1, 10))
    with pytest.raises(TypeError):
        t.delete([1.5])


def test_delete_by_filter(table_factory):
    t, rows = table_factory(n=90)
    n_go = sum(1 for l in rows["lang"] if l == "go")
    assert t.delete("lang = 'go'") == n_go
    assert t.count() == 90 - n_go
    assert t.search(rows["embedding"][1], k=90, filter="lang = 'go'").num_rows == 0
    assert t.delete("label <@ 'rust'") > 0
    assert all(not l.startswith("rust") for l in t.to_arrow().column("label").to_pylist())


def test_search_ids_matches_search(table_factory):
    t, rows = table_factory(n=200)
    q = np.random.default_rng(3).standard_normal(DIM).astype(np.float32)
    ids, dist = t.search_ids(q, k=7, filter="score < 0.9")
    full = t.search(q, k=7, filter="score < 0.9", select=["id"])
    assert ids.dtype == np.int64 and dist.dtype == np.float32
    assert ids.tolist() == full.column("id").to_pylist()
    assert np.allclose(dist, full.column("_distance").to_numpy())
