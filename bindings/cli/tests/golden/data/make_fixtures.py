"""Writes the small Parquet fixtures of the golden SQL tests (deterministic)."""
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

rng = np.random.default_rng(7)
n = 40
ids = np.arange(1, n + 1, dtype=np.int64)
vecs = rng.standard_normal((n, 4)).astype(np.float32).round(3)
langs = np.array(["python", "go", "rust", "java"])[ids % 4]
labels = [f"{l}/{'functions' if i % 2 else 'classes'}" for l, i in zip(langs, ids)]
emb = pa.FixedSizeListArray.from_arrays(pa.array(vecs.reshape(-1)), 4)
t = pa.table({"id": ids, "lang": langs, "label": labels, "body": [f"body {i}" for i in ids], "embedding": emb,
              "extra": np.zeros(n)})
pq.write_table(t, "items.parquet")
# f16 vectors in a List column, and a renamed key
emb16 = pa.array([list(v.astype(np.float16)) for v in vecs[:5]], type=pa.list_(pa.float16()))
pq.write_table(pa.table({"item_id": ids[:5] + 100, "lang": langs[:5], "embedding": emb16}), "items_f16.parquet")
# bad rows: wrong dimension (row 2) and NaN (row 4)
bad = [list(v) for v in vecs[:6]]
bad[2] = bad[2][:3]
bad[4][1] = float("nan")
pq.write_table(pa.table({"id": ids[:6] + 200, "lang": langs[:6], "embedding": pa.array(bad, type=pa.list_(pa.float32()))}), "bad_rows.parquet")
with open("not_parquet.parquet", "w") as f:
    f.write("this is not a parquet file\n")
raw = open("items.parquet", "rb").read()
open("truncated.parquet", "wb").write(raw[: len(raw) // 2])
