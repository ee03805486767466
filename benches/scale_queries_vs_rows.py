#!/usr/bin/env python3
"""Why the tuner overestimates recall at 1M rows: compares the neighbourhoods of the held-out
queries (from the set's ground truth scores) with those of 200 random table rows used as
queries after the tuner's hold-out (cosine similarity > 0.95, i.e. distance < 0.05).
Paths are those of this stop's run; see docs/benchmarks.md, "At one million rows"."""
import numpy as np, pyarrow.parquet as pq
gt = pq.read_table('/work/scale/1m/ground_truth.parquet')
s = np.stack(gt.column('scores').to_numpy(zero_copy_only=False))
print("held-out queries: sim of 1st %.4f, 10th %.4f, 11th-20th gap (s10-s20) %.4f" % (s[:,0].mean(), s[:,9].mean(), (s[:,9]-s[:,19]).mean()))
pf = pq.ParquetFile('/work/scale/1m/base.parquet')
xs = []
for b in pf.iter_batches(batch_size=100000, columns=['embedding']):
    xs.append(np.stack(b.column(0).to_numpy(zero_copy_only=False)).astype(np.float32))
x = np.concatenate(xs); del xs
rng = np.random.default_rng(1)
idx = rng.choice(len(x), 200, replace=False)
sims = x[idx] @ x.T
for i, r in enumerate(idx): sims[i, r] = -np.inf
top = -np.sort(-sims, axis=1)[:, :2000]
held = (top > 0.95).sum(1)
ok = held <= 64
kept = [t[t <= 0.95] for t, o in zip(top, ok) if o]
s1 = np.array([k[0] for k in kept]); s10 = np.array([k[9] for k in kept]); s20 = np.array([k[19] for k in kept])
print("sample rows: near-duplicates held out (sim > 0.95) mean %.1f, median %d, max %d; share with > 64: %.2f" % (held.mean(), np.median(held), held.max(), (held > 64).mean()))
print("sample rows after hold-out: sim of 1st %.4f, 10th %.4f, gap s10-s20 %.4f" % (s1.mean(), s10.mean(), (s10 - s20).mean()))
print("sample rows before hold-out: 1st %.4f 10th %.4f" % (top[:,0].mean(), top[:,9].mean()))
real = idx < 39960
print("real rows among samples: %d; usable (<=64 held): %d; held median among usable %d" % (real.sum(), ok.sum(), np.median(held[ok])))
