#!/usr/bin/env python3
"""Rows a fixed-nprobe IVF scan reads for a given recall at 1M rows, against the partition count
(issue 13: is `2 sqrt(N)` partitions the right count for the first stage's bytes?).

PCA rotation (100,000 rows), spherical k-means (FAISS, 12 iterations, 64 training rows per
partition) on the first D rotated dims, every row assigned to its nearest centroid; for the 700
held-out queries, the nprobe nearest centroids are probed, and the table gives, per nprobe, the
share of the true top 10 whose partition is probed (an upper bound on recall: the quantized
stages are left out) and the mean rows those partitions hold. Needs faiss-cpu (the peers'
environment, benches/peers.sh).
Usage: benches/ivf_partitions.py DATA_DIR   (about 10 min at 1M rows for D = 128).
Result at 1M: results/ivf-partitions-1m-s36.txt."""
import os
import numpy as np, pyarrow.parquet as pq, time, faiss, sys
faiss.omp_set_num_threads(1)
t0=time.time()
b = pq.read_table(os.path.join(sys.argv[1], "base.parquet"), columns=["embedding"]).column(0).combine_chunks()
X = b.values.to_numpy().reshape(-1,384).astype(np.float32)
qt = pq.read_table(os.path.join(os.environ.get("NESTDB_SHARED_DATA", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data")), "queries.parquet"), columns=["embedding"]).column(0).combine_chunks()
Q = qt.values.to_numpy().reshape(-1,384).astype(np.float32)
X /= np.linalg.norm(X,axis=1,keepdims=True); Q /= np.linalg.norm(Q,axis=1,keepdims=True)

G = pq.read_table(os.path.join(sys.argv[1], "ground_truth.parquet"), columns=["neighbors"]).column(0).combine_chunks().values.to_numpy().reshape(-1,100)[:,:10]
rng=np.random.default_rng(0)
S = X[rng.choice(len(X), 100000, replace=False)]
mu=S.mean(0); U,s,Vt=np.linalg.svd(S-mu, full_matrices=False); del U
for dims in [128, 384]:
  P = np.ascontiguousarray(Vt[:dims].T.astype(np.float32))
  Xp = X @ P; Qp = Q @ P
  for nlist in [1000, 2000, 4000, 8000]:
    km = faiss.Kmeans(dims, nlist, niter=12, spherical=True, seed=1, verbose=False)
    km.train(np.ascontiguousarray(Xp[rng.choice(len(X), min(len(X), 64*nlist), replace=False)]))
    _, a = km.index.search(Xp, 1); a=a[:,0]
    sizes = np.bincount(a, minlength=nlist)
    _, order = km.index.search(Qp, 512)
    rank_of = np.empty((len(Q), nlist), dtype=np.int32); rank_of[:] = 10**6
    for i in range(len(Q)): rank_of[i, order[i]] = np.arange(512)
    res=[]
    for npb in [4,8,12,16,24,32,48,64,96,128,192,256]:
      rec = np.mean([(rank_of[i, a[G[i]]] < npb).mean() for i in range(len(Q))])
      rows = np.mean([sizes[order[i,:npb]].sum() for i in range(len(Q))])
      res.append((npb, round(float(rec),3), int(rows)))
    print(dims, nlist, "size cv", round(float(sizes.std()/sizes.mean()),2), res, round(time.time()-t0), flush=True)
