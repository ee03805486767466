#!/usr/bin/env python3
"""How well does each candidate first-stage code rank a 1M-row table? (issue 13: the int8 first
stage is memory-bound, so a 2x faster funnel needs codes that read fewer bytes per row.)

For 200 held-out queries, every row of the table is scored with an approximate code of its
PCA-rotated vector (rotation fitted on 50,000 rows), and the table reports the share of the true
top 10 (exact cosine) found among the best K rows by that score, K = 60 ... 2,000. Ranking is
global (no partitions), so this isolates the code's ranking quality from probing. Codes:
  int8-D:     int8 of the first D rotated dims, one global scale (bytes/row: D)
  int4pd-D:   4-bit (-7..7) of the first D dims, a scale per dimension (D / 2)
  bits-D:     sign of the first D dims, scored against the float query (D / 8)
  rabitq-D:   sign of the first D dims after a random orthogonal rotation, RaBitQ's
              estimator (<q, sign(x)> rescaled by |x| / <x, sign(x)>/sqrt(D)) (D / 8 + 4)
Usage: benches/first_stage_codes.py DATA_DIR   (make_scale.py's output; about 10 min and
12 GB at 1M rows). Result at 1M: results/first-stage-codes-1m-s36.txt."""
import os, sys
import numpy as np, pyarrow.parquet as pq, time
t0=time.time()
b = pq.read_table(os.path.join(sys.argv[1], "base.parquet"), columns=["embedding"]).column(0).combine_chunks()
X = b.values.to_numpy().reshape(-1,384).astype(np.float32)
qt = pq.read_table(os.path.join(os.environ.get("NESTDB_SHARED_DATA", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data")), "queries.parquet"), columns=["embedding"]).column(0).combine_chunks()
Q = qt.values.to_numpy().reshape(-1,384).astype(np.float32)[:200]
X /= np.linalg.norm(X,axis=1,keepdims=True); Q /= np.linalg.norm(Q,axis=1,keepdims=True)
print("loaded", X.shape, time.time()-t0, flush=True)
rng=np.random.default_rng(0)
S = X[rng.choice(len(X), 50000, replace=False)]
mu = S.mean(0)
U,s,Vt = np.linalg.svd(S-mu, full_matrices=False)
R = Vt  # rows: principal axes
Xr = X @ R.T; Qr = Q @ R.T
# exact top10
K=10
true = []
for i in range(len(Q)):
    d = X @ Q[i]
    true.append(np.argpartition(-d, K)[:K])
true=np.array(true)
print("truth", time.time()-t0, flush=True)
def recall_at(score_fn, Ks):
    out={k:[] for k in Ks}
    for i in range(len(Q)):
        s = score_fn(i)
        order = np.argsort(-s)[:max(Ks)]
        for k in Ks:
            out[k].append(len(np.intersect1d(order[:k], true[i]))/K)
    return {k: round(float(np.mean(v)),3) for k,v in out.items()}
Ks=[60,120,250,500,1000,2000]
def int8(dims):
    sc = np.abs(Xr[:,:dims]).max()
    C = np.clip(np.round(Xr[:,:dims]/sc*127),-127,127)
    return lambda i: C @ Qr[i,:dims]
def bits(dims, center=True):
    Z = Xr[:,:dims] - (mu@R.T)[:dims]*0 
    B = np.where(Z>=0, np.float32(1), np.float32(-1))
    return lambda i: B @ Qr[i,:dims]
def bits_rot(dims):
    # random orthogonal rotation of the first dims PCA coords, then sign (RaBitQ-like)
    G = np.linalg.qr(rng.standard_normal((dims,dims)))[0].astype(np.float32)
    Z = Xr[:,:dims] @ G
    B = np.where(Z>=0, np.float32(1), np.float32(-1))
    corr = np.abs(Z).sum(1) / np.sqrt(dims) / np.linalg.norm(Z,axis=1)  # <x, xbar>
    Qg = Qr[:,:dims] @ G
    w = (np.linalg.norm(Z,axis=1)/np.sqrt(dims)/corr).astype(np.float32); del Z
    return lambda i: (B @ Qg[i]) * w
def nib(dims):
    sc = np.abs(Xr[:,:dims]).max(0)
    C = np.clip(np.round(Xr[:,:dims]/sc*7),-7,7)*sc/7
    return lambda i: C @ Qr[i,:dims]
import gc
for name, mk, a in [("int8-128",int8,128),("int8-64",int8,64),("int4pd-128",nib,128),("int4pd-256",nib,256),("bits-128",bits,128),("bits-256",bits,256),("rabitq-128",bits_rot,128),("rabitq-256",bits_rot,256),("rabitq-384",bits_rot,384)]:
    f = mk(a)
    print(name, recall_at(f,Ks), round(time.time()-t0), flush=True)
    del f; gc.collect()
