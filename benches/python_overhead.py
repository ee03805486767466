#!/usr/bin/env python3
"""Python's side of the bindings-overhead check (`nestdb-bench batch --threads N` is Rust's):
the same table (the shared chunks), the same queries, recall target 0.95; one query at a time
and search_batch. Prints JSON lines."""
import json, os, sys, time
import numpy as np, pyarrow as pa, pyarrow.parquet as pq
import nestdb

data = os.environ.get("NESTDB_SHARED_DATA", os.path.join(os.path.dirname(__file__), "../../shared/data"))
base = pq.read_table(os.path.join(data, "chunks.parquet"), columns=["chunk_id", "language", "label_path", "ast_path", "embedding"])
base = base.rename_columns(["id", "language", "label", "ast", "embedding"])
xq = np.stack(pq.read_table(os.path.join(data, "queries.parquet"), columns=["embedding"]).column(0).to_numpy(zero_copy_only=False)).astype(np.float32)
db = nestdb.connect(auto_index=False, auto_flush_rows=10**9)
t = db.create_table("chunks", base.schema, paths=["label", "ast"], bands=[32, 64, 128, 256])
for s in range(0, base.num_rows, 10000):
    t.add(base.slice(s, 10000))
t.analyze()

start, n = time.perf_counter(), 0
while time.perf_counter() - start < 2.0:
    for q in xq:
        t.search(q, k=10, select=["id"], recall_target=0.95)
        n += 1
print(json.dumps({"bench": "overhead", "engine": "python", "mode": "one query at a time", "qps": n / (time.perf_counter() - start)}))
start, n = time.perf_counter(), 0
while time.perf_counter() - start < 2.0:
    t.search_batch(xq, k=10, select=["id"], recall_target=0.95)
    n += len(xq)
print(json.dumps({"bench": "overhead", "engine": "python", "mode": "batch", "threads": os.cpu_count(), "qps": n / (time.perf_counter() - start)}))
