#!/usr/bin/env python3
"""How far a held-out query's neighbours lie, against a row's (issue 14: why schedules tuned on
rows promise more at 1M rows than held-out queries get).

Median cosine distance to the r-th nearest row for the 700 held-out queries and for 400 random
rows (a row's first neighbour is itself), and for the rows what the tuner's hold-out radius
removes (rows closer than the radius, as `samples::near_duplicate` does) and leaves.
Usage: benches/neighbour_profile.py BASE.parquet   (the shared corpus's chunks.parquet, or a
make_scale.py set's base.parquet; NESTDB_SHARED_DATA for queries.parquet; ~40 s at 1M rows)"""
import os, sys
import numpy as np, pyarrow.parquet as pq

def unit(col):
    x = np.concatenate([c.values.to_numpy(zero_copy_only=False).reshape(-1, 384) for c in col.chunks]).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)

SHARED = os.environ.get("NESTDB_SHARED_DATA", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data"))
x = unit(pq.read_table(sys.argv[1], columns=["embedding"]).column(0))
q = unit(pq.read_table(os.path.join(SHARED, "queries.parquet"), columns=["embedding"]).column(0))
rng = np.random.default_rng(7)
rows = rng.choice(len(x), 400, replace=False)
Q = np.concatenate([q, x[rows]])
K = 200 if len(x) > 100_000 else 100
best = np.full((len(Q), K), -2, np.float32)
step = 100_000
for i in range(0, len(x), step):
    s = np.concatenate([best, Q @ x[i:i + step].T], 1)
    best = np.take_along_axis(s, np.argpartition(-s, K, axis=1)[:, :K], 1)
d = 1 - (-np.sort(-best, 1))
ranks = [r for r in [1, 2, 5, 10, 20, 30, 50, 75, 100, 150, 200] if r <= K]
for name, D in [("queries", d[:700]), ("rows", d[700:])]:
    print(f"{name:8} rows={len(x)} " + " ".join(f"d{r}={np.median(D[:, r - 1]):.4f}" for r in ranks))
for rad in [0.05, 0.1, 0.15]:
    held = [(r < rad).sum() for r in d[700:]]
    left = np.array([r[r >= rad][:10] for r in d[700:] if (r >= rad).sum() >= 10])
    print(f"hold-out radius {rad}: rows held out median {np.median(held):.0f} p90 {np.percentile(held, 90):.0f}; "
          f"then d1={np.median(left[:, 0]):.4f} d10={np.median(left[:, 9]):.4f}")
