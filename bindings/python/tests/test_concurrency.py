"""Searches from several Python threads while another thread inserts."""

from __future__ import annotations

import threading

import numpy as np

from conftest import DIM, make_rows


def test_search_while_inserting(table_factory):
    t, rows = table_factory(n=500)
    batches = [make_rows(50, seed=100 + i, start=10_000 + 50 * i) for i in range(20)]
    stop = threading.Event()
    errors: list[BaseException] = []
    counts = [0] * 4

    def searcher(i: int) -> None:
        rng = np.random.default_rng(i)
        try:
            while not stop.is_set() or counts[i] < 5:
                q = rng.standard_normal(DIM).astype(np.float32)
                res = t.search(q, k=10, filter="lang <> 'rust'" if i % 2 else None)
                assert res.num_rows == 10
                assert res.column_names[-2:] == ["_rowid", "_distance"]
                d = res.column("_distance").to_numpy()
                assert np.all(np.diff(d) >= -1e-6)
                assert len(set(res.column("id").to_pylist())) == 10
                if i == 0:
                    assert t.search_batch(np.stack([q, q]), k=3).num_rows == 6
                counts[i] += 1
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    def writer() -> None:
        try:
            for b in batches:
                assert t.add(b) == 50
            t.flush()
            t.delete(list(range(10_000, 10_010)))
        except BaseException as e:  # noqa: BLE001
            errors.append(e)
        finally:
            stop.set()

    threads = [threading.Thread(target=searcher, args=(i,)) for i in range(4)]
    threads.append(threading.Thread(target=writer))
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=300)
    assert not any(th.is_alive() for th in threads)
    assert not errors, errors
    assert all(c >= 5 for c in counts)
    assert t.count() == 500 + 20 * 50 - 10
