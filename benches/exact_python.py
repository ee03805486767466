#!/usr/bin/env python3
"""numpy and FAISS Flat's side of the exact-search benchmark (`nestdb-bench exact --rows N`):
the shared chunks repeated to N rows with the same perturbation, 100 queries one at a time."""
import json, os, sys, time

threads = int(sys.argv[2]) if len(sys.argv) > 2 else 1
os.environ["OMP_NUM_THREADS"] = os.environ["OPENBLAS_NUM_THREADS"] = str(threads)  # before numpy loads BLAS
import numpy as np, pyarrow.parquet as pq

data = os.environ.get("NESTDB_SHARED_DATA", os.path.join(os.path.dirname(__file__), "../../shared/data"))
rows = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
base = np.stack(pq.read_table(os.path.join(data, "chunks.parquet"), columns=["embedding"]).column(0).to_numpy(zero_copy_only=False)).astype(np.float32)
xq = np.stack(pq.read_table(os.path.join(data, "queries.parquet"), columns=["embedding"]).column(0).to_numpy(zero_copy_only=False)).astype(np.float32)[:100]
parts, have, rnd = [], 0, 0
while have < rows:
    n = min(rows - have, len(base))
    b = base[:n].copy()
    if rnd > 0:
        i = np.arange(b.size, dtype=np.int64)
        b += (((i * 2654435761 + rnd) % 1000).astype(np.float32) * 1e-5).reshape(b.shape)
    parts.append(b); have += n; rnd += 1
xb = np.concatenate(parts)
xb /= np.linalg.norm(xb, axis=1, keepdims=True)

def timed(fn):
    t, n = time.perf_counter(), 0
    while time.perf_counter() - t < 2.0:
        for q in xq:
            fn(q); n += 1
    return n / (time.perf_counter() - t)

print(json.dumps({"bench": "exact", "engine": "numpy", "rows": rows, "threads": threads, "qps": timed(lambda q: np.argpartition(-(xb @ q), 10)[:10])}))
import faiss
faiss.omp_set_num_threads(threads)
idx = faiss.IndexFlatIP(xb.shape[1]); idx.add(xb)
print(json.dumps({"bench": "exact", "engine": "faiss-flat", "rows": rows, "threads": threads, "qps": timed(lambda q: idx.search(q[None], 10))}))
