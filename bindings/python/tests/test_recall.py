"""The live recall monitor from Python: turned on at connect or per table, reported by
Table.recall_report() (the same figures as SHOW RECALL)."""

from __future__ import annotations

import time

import numpy as np
import pytest

import nestdb
from conftest import DIM, make_rows, schema


def wait_measured(t: nestdb.Table, n: int, timeout: float = 60.0) -> dict:
    start = time.monotonic()
    while True:
        r = t.recall_report()
        if sum(row["samples"] for row in r["rows"]) >= n and r["pending"] == 0:
            return r
        assert time.monotonic() - start < timeout, r
        time.sleep(0.01)


def test_recall_report_measures_sampled_searches():
    with nestdb.connect(recall_sample_rate=1.0) as db:
        t = db.create_table("docs", schema(), paths=["label"])
        t.add(make_rows(3000))
        t.analyze()
        rng = np.random.default_rng(5)
        for q in rng.standard_normal((20, DIM)).astype(np.float32):
            t.search(q, k=10, recall_target=0.9)
        r = wait_measured(t, 20)
        assert r["sample_rate"] == 1.0
        row = next(row for row in r["rows"] if row["target"] == pytest.approx(0.9))
        assert row["band"] == "unfiltered"
        assert 0.0 <= row["ci_low"] <= row["measured"] <= row["ci_high"] <= 1.0
        assert row["estimated"] is not None
        shown = db.sql("SHOW RECALL docs").to_pylist()
        assert any(s["samples"] == row["samples"] for s in shown)
        assert all(s["kept_queries"] == r["kept_queries"] for s in shown)
        # turned off: further searches are not sampled
        t.set_recall_sampling(0.0)
        for q in rng.standard_normal((5, DIM)).astype(np.float32):
            t.search(q, k=10, recall_target=0.9)
        time.sleep(0.2)
        assert sum(x["samples"] for x in t.recall_report()["rows"]) == row["samples"]


def test_recall_monitoring_is_off_by_default(db):
    t = db.create_table("docs", schema(), paths=["label"])
    t.add(make_rows(50))
    assert t.recall_report() == {
        "sample_rate": 0.0,
        "pending": 0,
        "measured_total": 0,
        "kept_queries": 0,
        "adjustments": [],
        "rows": [],
    }


def test_bad_sampling_rates_are_refused():
    with pytest.raises(ValueError, match="recall_sample_rate"):
        nestdb.connect(recall_sample_rate=1.5)
    with nestdb.connect() as db:
        t = db.create_table("docs", schema(), paths=["label"])
        with pytest.raises(ValueError, match="sampling rate"):
            t.set_recall_sampling(-0.1)


def test_tuning_queries_set_kept_and_refused():
    with nestdb.connect(recall_sample_rate=1.0) as db:
        t = db.create_table("docs", schema(), paths=["label"])
        t.add(make_rows(3000))
        assert t.tuning_queries() == 0
        with pytest.raises(nestdb.QueryError, match="no searches were sampled"):
            t.analyze(tune_on="sampled")
        rng = np.random.default_rng(9)
        t.set_tuning_queries(rng.standard_normal((30, DIM)).astype(np.float32))
        assert t.tuning_queries() == 30
        t.analyze()
        assert t.search(rng.standard_normal(DIM).astype(np.float32), k=5).num_rows == 5
        with pytest.raises(nestdb.QueryError, match="too few"):
            t.set_tuning_queries(rng.standard_normal((5, DIM)).astype(np.float32))
        with pytest.raises(nestdb.QueryError, match="dimensions"):
            t.set_tuning_queries(rng.standard_normal((30, DIM + 1)).astype(np.float32))
        assert t.tuning_queries() == 30
        # the searches the monitor measured become the tuning queries
        for q in rng.standard_normal((25, DIM)).astype(np.float32):
            t.search(q, k=10, recall_target=0.9)
        r = wait_measured(t, 26)  # and the search above
        assert r["kept_queries"] == r["measured_total"] == 26
        assert t.sampled_queries().shape == (26, DIM)
        t.analyze(tune_on="sampled")
        assert t.tuning_queries() == 26
        with pytest.raises(ValueError, match="2-d"):
            t.set_tuning_queries(rng.standard_normal(DIM).astype(np.float32))
        t.analyze(tune_on=rng.standard_normal((40, DIM)).astype(np.float32))
        assert t.tuning_queries() == 40
        t.analyze(tune_on="rows")
        assert t.tuning_queries() == 0
        t.set_tuning_queries(rng.standard_normal((30, DIM)).astype(np.float32))
        t.set_tuning_queries([])
        assert t.tuning_queries() == 0
