#!/usr/bin/env python3
"""What returning a search's columns costs: the same queries on an existing table, returning
only the key, then every column (the default, and what `SELECT *` in the shell does).

Usage: python result_columns.py DB [--queries N] [--rounds R] [--label TEXT]
DB is a database directory holding one table (for example one `nestdb-scale load` made from a
`make_scale.py` set); the queries are the shared held-out ones (NESTDB_SHARED_DATA). Prints one
JSON line per (round, columns) with milliseconds per query, one query at a time."""
import argparse
import json
import os
import time

import numpy as np
import pyarrow.parquet as pq

import nestdb


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("db")
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--label", default="")
    a = ap.parse_args()
    data = os.environ.get("NESTDB_SHARED_DATA", os.path.join(os.path.dirname(__file__), "../../shared/data"))
    col = pq.read_table(os.path.join(data, "queries.parquet"), columns=["embedding"]).column(0)
    xq = np.stack(col.to_numpy(zero_copy_only=False)).astype(np.float32)[: a.queries]
    db = nestdb.connect(a.db)
    t = db.open_table(db.table_names()[0])
    key = t.primary_key
    for q in xq[:50]:  # warm the mappings the searches need
        t.search(q, 10, select=[key])
    for r in range(a.rounds):
        for name, sel in [("key", [key]), ("all", None)]:
            start = time.perf_counter()
            for q in xq:
                out = t.search(q, 10, select=sel)
            ms = (time.perf_counter() - start) * 1000 / len(xq)
            print(json.dumps({"bench": "result_columns", "label": a.label, "round": r + 1,
                              "columns": name, "returned": out.num_columns, "rows": t.count(),
                              "ms_per_query": ms}), flush=True)


if __name__ == "__main__":
    main()
