#!/usr/bin/env python3
"""Which probing rule, tuned on rows of the table (the tuner's sample queries), still meets the
recall target on held-out queries that are not rows? (issue 14: at 1M rows a fixed nprobe tuned
on rows gives held-out queries 0.85 at target 0.95.)

A numpy model of nestdb's first step: PCA rotation, spherical k-means with 2 sqrt(N) partitions
on the 128-dim coarse prefix, probing only (recall = share of the true top 10 whose partitions
are probed; the quantized stages are left out). The sample is 400 random rows with their
near-duplicates (cosine similarity > 0.95) held out of their truth, as the tuner does. Rules:
  fixed:  the nprobe nearest partitions;
  radius: partitions whose centroid scores within tau of the nearest centroid (absolute or
          relative);
  kth:    partitions whose centroid scores within tau of the k-th best row found so far (an
          oracle: the true k-th neighbour; or the k-th best after the first n0 partitions, in
          full or coarse-prefix scores: what the funnel can know).
Each rule's parameter is the smallest reaching the target on the sample rows; the table shows
what it then gives the 700 held-out queries, and the probes each spent.
Usage: benches/probe_rules.py DATA_DIR   (make_scale.py's output; ~80 s at 1M rows)"""
import os, sys, time
import numpy as np, pyarrow.parquet as pq

d = sys.argv[1]
rng = np.random.default_rng(42)
t0 = time.time()
base = pq.read_table(f"{d}/base.parquet", columns=["embedding"]).column(0)
chunks = [c.values.to_numpy(zero_copy_only=False).reshape(-1, 384) for c in base.chunks]
x = np.concatenate(chunks).astype(np.float32)
n = len(x)
print("rows", n, f"{time.time()-t0:.1f}s", flush=True)
SHARED = os.environ.get("NESTDB_SHARED_DATA", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data"))
q = pq.read_table(os.path.join(SHARED, "queries.parquet"), columns=["embedding"]).column(0)
q = np.concatenate([c.values.to_numpy(zero_copy_only=False).reshape(-1, 384) for c in q.chunks]).astype(np.float32)
gt = pq.read_table(f"{d}/ground_truth.parquet")
gt_nb = np.stack(gt.column("neighbors").to_numpy(zero_copy_only=False))[:, :10]

# rotation: PCA on a sample
s = x[rng.choice(n, 100_000, replace=False)]
mu = s.mean(0)
_, _, vt = np.linalg.svd(s - mu, full_matrices=False)
R = vt.T.astype(np.float32)
C = 128
P = int(round(2 * np.sqrt(n)))
xc = np.empty((n, C), np.float32)
for i in range(0, n, 100_000):
    xc[i:i+100_000] = x[i:i+100_000] @ R[:, :C]
qc = q @ R[:, :C]
print("rotated", f"{time.time()-t0:.1f}s", flush=True)

# spherical k-means on P*64 rows
tr = xc[rng.choice(n, min(n, P * 64), replace=False)]
cent = tr[rng.choice(len(tr), P, replace=False)].copy()
for it in range(8):
    a = np.argmax(tr @ cent.T, axis=1)
    for p in range(P):
        m = tr[a == p]
        if len(m):
            c = m.sum(0)
            cent[p] = c / max(np.linalg.norm(c), 1e-9)
assign = np.empty(n, np.int64)
for i in range(0, n, 50_000):
    assign[i:i+50_000] = np.argmax(xc[i:i+50_000] @ cent.T, axis=1)
print("kmeans", P, f"{time.time()-t0:.1f}s", flush=True)

# the tuner's sample: 400 rows, truth over the others minus near-duplicates (cos dist < 0.05)
picks = rng.choice(n, 400, replace=False)
sq = x[picks]
sims = np.empty((400, n), np.float32)
for i in range(0, n, 100_000):
    sims[:, i:i+100_000] = sq @ x[i:i+100_000].T
rows_nb = []
for j in range(400):
    top = np.argpartition(-sims[j], 200)[:200]
    top = top[np.argsort(-sims[j][top])]
    keep = [t for t in top if t != picks[j] and sims[j][t] <= 0.95]
    rows_nb.append(keep[:10])
rows_nb = np.array(rows_nb)
del sims
print("sample truth", f"{time.time()-t0:.1f}s", flush=True)


def profile(qv, nb):
    """per query: centroid scores sorted desc, and the rank of each neighbour's partition"""
    sc = qv @ cent.T
    order = np.argsort(-sc, axis=1)
    rank = np.empty_like(order)
    rank[np.arange(len(order))[:, None], order] = np.arange(P)[None, :]
    nbr = rank[np.arange(len(nb))[:, None], assign[nb]]
    ssorted = np.take_along_axis(sc, order, 1)
    return ssorted, nbr


S_rows, R_rows = profile(xc[picks], rows_nb)
S_q, R_q = profile(qc, gt_nb)
print("best centroid score rows %.3f queries %.3f" % (S_rows[:, 0].mean(), S_q[:, 0].mean()))
print("score drop to 32nd: rows %.3f queries %.3f" % ((S_rows[:, 0] - S_rows[:, 31]).mean(), (S_q[:, 0] - S_q[:, 31]).mean()))


def rec_fixed(R, np_):
    return (R < np_).mean()


def rec_tau(S, R, tau, lo=1, hi=None):
    hi = hi or P // 2
    cnt = np.clip((S >= S[:, :1] - tau).sum(1), lo, hi)
    return (R < cnt[:, None]).mean(), cnt.mean()


def rec_rel(S, R, f, lo=1, hi=None):
    hi = hi or P // 2
    cnt = np.clip((S >= S[:, :1] * f).sum(1), lo, hi)
    return (R < cnt[:, None]).mean(), cnt.mean()


for target in (0.90, 0.95, 0.99):
    np_ = next((k for k in range(1, P // 2) if rec_fixed(R_rows, k) >= target), P // 2)
    print(f"target {target}: fixed nprobe {np_}: rows {rec_fixed(R_rows, np_):.3f} queries {rec_fixed(R_q, np_):.3f}")
    taus = np.linspace(0, 0.5, 501)
    tau = next((t for t in taus if rec_tau(S_rows, R_rows, t)[0] >= target), taus[-1])
    r1, c1 = rec_tau(S_rows, R_rows, tau)
    r2, c2 = rec_tau(S_q, R_q, tau)
    print(f"   tau {tau:.3f}: rows {r1:.3f} ({c1:.0f} probes) queries {r2:.3f} ({c2:.0f} probes)")
    fs = np.linspace(1, 0.3, 701)
    f = next((t for t in fs if rec_rel(S_rows, R_rows, t)[0] >= target), fs[-1])
    r1, c1 = rec_rel(S_rows, R_rows, f)
    r2, c2 = rec_rel(S_q, R_q, f)
    print(f"   rel {f:.3f}: rows {r1:.3f} ({c1:.0f} probes) queries {r2:.3f} ({c2:.0f} probes)")
    # what fixed nprobe the queries need, for comparison
    nq = next((k for k in range(1, P // 2) if rec_fixed(R_q, k) >= target), P // 2)
    print(f"   queries need fixed nprobe {nq}")
print(f"done {time.time()-t0:.1f}s")

# --- distance-aware rules: probe p while its centroid score is within tau of the k-th best
# similarity found (oracle: the true k-th; estimated: the k-th among the first n0 partitions)
order_rows = np.argsort(assign, kind="stable")
bounds = np.searchsorted(assign[order_rows], np.arange(P + 1))


def kth_est(qv_full, S_unused, qv_coarse, n0):
    sc = qv_coarse @ cent.T
    order = np.argsort(-sc, axis=1)[:, :n0]
    out = np.empty(len(qv_full), np.float32)
    for j in range(len(qv_full)):
        ids = np.concatenate([order_rows[bounds[p]:bounds[p + 1]] for p in order[j]])
        s = (xc[ids] @ qv_coarse[j]) if COARSE else (x[ids] @ qv_full[j])
        out[j] = np.sort(s)[-10] if len(s) >= 10 else -1
    return out


kth_rows_true = np.array([sq[j] @ x[rows_nb[j][9]] for j in range(400)])
kth_q_true = np.array([q[j] @ x[gt_nb[j][9]] for j in range(len(q))])
print("true kth: rows %.3f queries %.3f" % (kth_rows_true.mean(), kth_q_true.mean()))


def rec_kth(S, R, kth, tau, lo, hi=None):
    hi = hi or P // 2
    cnt = np.clip((S >= kth[:, None] - tau).sum(1), lo, hi)
    return (R < cnt[:, None]).mean(), cnt.mean()


COARSE = False
for n0, COARSE in ((0, False), (2, False), (4, False), (1, True), (2, True), (4, True)):
    if n0 == 0:
        kr, kq, name = kth_rows_true, kth_q_true, "oracle kth"
    else:
        # exclude the sample row itself and near duplicates is skipped here (rough)
        kr, kq, name = kth_est(sq, None, xc[picks], n0), kth_est(q, None, qc, n0), f"kth after {n0} probes" + (" (coarse prefix scores)" if COARSE else "")
    print(name, "rows %.3f queries %.3f" % (kr.mean(), kq.mean()))
    for target in (0.80, 0.90, 0.95, 0.99):
        taus = np.linspace(-0.5, 0.5, 1001)
        lo = max(n0, 1)
        tau = next((t for t in taus if rec_kth(S_rows, R_rows, kr, t, lo)[0] >= target), taus[-1])
        r1, c1 = rec_kth(S_rows, R_rows, kr, tau, lo)
        r2, c2 = rec_kth(S_q, R_q, kq, tau, lo)
        fx = rec_fixed(R_q, int(round(c2)))
        print(f"  target {target} tau {tau:.3f}: rows {r1:.3f} ({c1:.1f} probes) queries {r2:.3f} ({c2:.1f} probes; fixed nprobe {int(round(c2))} gives queries {fx:.3f})")
