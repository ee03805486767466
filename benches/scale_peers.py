#!/usr/bin/env python3
"""Peers at scale: one engine per process on a set made by ../shared/data/scale/make_scale.py
(DIR/base.parquet, DIR/ground_truth.parquet), the 700 held-out queries of
$NESTDB_SHARED_DATA/queries.parquet, the measurement rules of peers.py: build on --threads
threads, then one query at a time on one thread, each knob setting repeated for at least a
second; recall@10 against the set's exact ground truth. Prints JSON lines with build time and
the process's peak resident memory (ru_maxrss, so run one engine per process).

Usage:
  scale_peers.py --data DIR --engine hnswlib|faiss-hnsw|faiss-ivfflat|faiss-ivfpq|faiss-flat
      [--threads 2] [--ef-construction 100] [--filter-prefix P] [--nlist N] [--half first|second]
--nlist sets the IVF lists (default 4 sqrt(N)); --half measures only that half of the held-out
queries (as `nestdb-scale query --half`). Without a filter, faiss-ivfflat and faiss-ivfpq
(IVF-PQ48x8 refined by exact scores over k_factor x k candidates) are built by streaming the row
groups into the index, so the process holds the vectors once (in the index), not twice.
With --filter-prefix, rows whose label_path is P or under P/ are the only ones allowed
(FAISS through one IDSelectorBatch built once, its best case for a filter every query
shares; hnswlib through its filter function), and ground truth is exact filtered search (numpy).
"""
import argparse
import json
import os
import resource
import time

import numpy as np
import pyarrow.parquet as pq

K = 10


def row_groups(data):
    f = pq.ParquetFile(os.path.join(data, "base.parquet"))
    for g in range(f.num_row_groups):
        e = f.read_row_group(g, columns=["embedding"]).column("embedding").combine_chunks()
        yield e.values.to_numpy(zero_copy_only=False).reshape(len(e), 384)


def queries_and_truth(data, half):
    shared = os.environ.get("NESTDB_SHARED_DATA", os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data"))
    q = pq.read_table(os.path.join(shared, "queries.parquet"), columns=["embedding"])
    xq = np.stack(q.column("embedding").to_numpy(zero_copy_only=False)).astype(np.float32)
    g = pq.read_table(os.path.join(data, "ground_truth.parquet"), columns=["neighbors"])
    gt = np.stack(g.column("neighbors").to_numpy(zero_copy_only=False))[:, :K].astype(np.int64)
    n = len(xq)
    r = {None: slice(0, n), "first": slice(0, n // 2), "second": slice(n // 2, n)}[half]
    return xq[r], gt[r]


def load(data, filter_prefix):
    f = pq.ParquetFile(os.path.join(data, "base.parquet"))
    n = f.metadata.num_rows
    xb = np.empty((n, 384), dtype=np.float32)
    mask = np.zeros(n, dtype=bool) if filter_prefix else None
    at = 0
    cols = ["embedding"] + (["label_path"] if filter_prefix else [])
    for g in range(f.num_row_groups):
        t = f.read_row_group(g, columns=cols)
        e = t.column("embedding").combine_chunks()
        m = len(e)
        xb[at:at + m] = e.values.to_numpy(zero_copy_only=False).reshape(m, 384)
        if filter_prefix:
            labels = t.column("label_path").to_pylist()
            p = filter_prefix.rstrip("/")
            mask[at:at + m] = [l == p or l.startswith(p + "/") for l in labels]
        at += m
    shared = os.environ.get("NESTDB_SHARED_DATA", os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data"))
    q = pq.read_table(os.path.join(shared, "queries.parquet"), columns=["embedding"])
    xq = np.stack(q.column("embedding").to_numpy(zero_copy_only=False)).astype(np.float32)
    if filter_prefix:
        gt = filtered_truth(xb, xq, mask)
    else:
        g = pq.read_table(os.path.join(data, "ground_truth.parquet"), columns=["neighbors"])
        gt = np.stack(g.column("neighbors").to_numpy(zero_copy_only=False))[:, :K].astype(np.int64)
    return xb, xq, mask, gt


def filtered_truth(xb, xq, mask):
    rows = np.where(mask)[0]
    sims = xq @ xb[rows].T
    top = np.argsort(-sims, axis=1)[:, :K]
    return rows[top]


def recall(found, gt):
    hits = sum(len(set(np.asarray(f)[:K].tolist()) & set(g.tolist())) for f, g in zip(found, gt))
    return hits / (len(gt) * K)


def timed(fn, xq, min_s=1.0):
    t0 = time.perf_counter()
    n = 0
    while True:
        res = [fn(q) for q in xq]
        n += len(xq)
        if time.perf_counter() - t0 >= min_s:
            return res, n / (time.perf_counter() - t0)


def peak_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def ivf_streamed(engine, data, nlist, threads):
    """IVF-Flat, or IVF-PQ48x8 refined by exact scores, trained on 64 rows per list drawn
    (seeded) from every row group, then filled row group by row group."""
    import faiss
    faiss.omp_set_num_threads(threads)
    t = time.perf_counter()
    n = pq.ParquetFile(os.path.join(data, "base.parquet")).metadata.num_rows
    rng = np.random.default_rng(0)
    want = min(n, 64 * nlist)
    train = np.concatenate([x[rng.random(len(x)) < want / n * 1.05] for x in row_groups(data)])[:want]
    spec = f"IVF{nlist},Flat" if engine == "faiss-ivfflat" else f"IVF{nlist},PQ48x8"
    idx = faiss.index_factory(384, spec, faiss.METRIC_INNER_PRODUCT)
    if engine == "faiss-ivfpq":
        idx = faiss.IndexRefineFlat(idx)
    idx.train(train)
    del train
    for x in row_groups(data):
        idx.add(x)
    return idx, time.perf_counter() - t, n


def ivf_main(a):
    """The streamed IVF builds (the vectors held once, by the index), then the knob sweep."""
    import faiss
    idx, build, n = ivf_streamed(a.engine, a.data, a.nlist, a.threads)
    xq, gt = queries_and_truth(a.data, a.half)
    faiss.omp_set_num_threads(1)
    if a.engine == "faiss-ivfflat":
        knobs = [(p, None) for p in (8, 16, 32, 64, 128)]
    else:
        knobs = [(p, kf) for p in (16, 32, 64, 128) for kf in (4, 16, 64, 256)]
    for p, kf in knobs:
        sp = faiss.SearchParametersIVF(nprobe=p)
        if kf is not None:
            sp = faiss.IndexRefineSearchParameters(k_factor=kf, base_index_params=sp)
        res, qps = timed(lambda q: idx.search(q[None], K, params=sp)[1][0], xq)
        kn = {"nlist": a.nlist, "nprobe": p} | ({"k_factor": kf} if kf else {})
        print(json.dumps(dict(engine=a.engine, params=kn, recall=recall(res, gt), qps=qps, build_s=build,
                              rows=n, half=a.half, streamed=True, peak_rss_mib=peak_mib(),
                              vectors_mib=n * 384 * 4 / 1048576)), flush=True)


def faiss_runs(name, xb, xq, gt, mask, threads, efc, nlist=None):
    import faiss
    faiss.omp_set_num_threads(threads)
    d = xb.shape[1]
    allowed = np.where(mask)[0].astype(np.int64) if mask is not None else None
    t = time.perf_counter()
    if name == "faiss-flat":
        idx = faiss.IndexFlatIP(d)
        idx.add(xb)
        knobs = [{}]
    elif name == "faiss-hnsw":
        idx = faiss.IndexHNSWFlat(d, 32, faiss.METRIC_INNER_PRODUCT)
        idx.hnsw.efConstruction = efc
        idx.add(xb)
        knobs = [{"efSearch": ef} for ef in (16, 32, 64, 128, 256)]
    else:
        nlist = nlist or int(4 * np.sqrt(len(xb)))
        spec = f"IVF{nlist},Flat" if name == "faiss-ivfflat" else f"IVF{nlist},PQ48x8"
        idx = faiss.index_factory(d, spec, faiss.METRIC_INNER_PRODUCT)
        if name == "faiss-ivfpq":
            idx = faiss.IndexRefineFlat(idx)
        # train on a sample of 64 rows per list (FAISS warns below 39 and caps at 256)
        idx.train(xb[np.random.default_rng(0).choice(len(xb), min(len(xb), 64 * nlist), replace=False)])
        idx.add(xb)
        if name == "faiss-ivfflat":
            knobs = [{"nlist": nlist, "nprobe": p} for p in (8, 16, 32, 64, 128)]
        else:
            knobs = [{"nlist": nlist, "nprobe": p, "k_factor": kf} for p in (16, 32, 64) for kf in (4, 16)]
    build = time.perf_counter() - t
    faiss.omp_set_num_threads(1)
    # one filter for every query: the selector is built once (FAISS's best case)
    sel = faiss.IDSelectorBatch(allowed) if allowed is not None else None
    for kn in knobs:
        def params():
            extra = {"sel": sel} if sel is not None else {}
            if name == "faiss-hnsw":
                return faiss.SearchParametersHNSW(efSearch=kn["efSearch"], **extra)
            if name == "faiss-ivfflat":
                return faiss.SearchParametersIVF(nprobe=kn["nprobe"], **extra)
            if name == "faiss-ivfpq":
                ivf = faiss.SearchParametersIVF(nprobe=kn["nprobe"], **extra)
                return faiss.IndexRefineSearchParameters(k_factor=kn["k_factor"], base_index_params=ivf)
            return faiss.SearchParameters(**extra) if extra else None

        def fn(q):
            p = params()
            return idx.search(q[None], K, params=p)[1][0] if p is not None else idx.search(q[None], K)[1][0]
        res, qps = timed(fn, xq)
        yield dict(engine=name, params=kn, recall=recall(res, gt), qps=qps, build_s=build)


def hnswlib_runs(xb, xq, gt, mask, threads, efc):
    import hnswlib
    t = time.perf_counter()
    idx = hnswlib.Index(space="ip", dim=xb.shape[1])
    idx.init_index(max_elements=len(xb), ef_construction=efc, M=16)
    idx.set_num_threads(threads)
    idx.add_items(xb, np.arange(len(xb)))
    build = time.perf_counter() - t
    idx.set_num_threads(1)
    filt = (lambda i: bool(mask[i])) if mask is not None else None
    for ef in (16, 32, 64, 128, 256):
        idx.set_ef(max(ef, K))
        res, qps = timed(lambda q: idx.knn_query(q, k=K, filter=filt)[0][0], xq)
        yield dict(engine="hnswlib-M16", params={"ef": ef}, recall=recall(res, gt), qps=qps, build_s=build)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True)
    ap.add_argument("--engine", required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--ef-construction", type=int, default=100)
    ap.add_argument("--filter-prefix", default=None)
    ap.add_argument("--nlist", type=int, default=None)
    ap.add_argument("--half", choices=["first", "second"], default=None)
    a = ap.parse_args()
    if a.engine in ("faiss-ivfpq", "faiss-ivfflat") and a.filter_prefix is None:
        a.nlist = a.nlist or int(4 * np.sqrt(pq.ParquetFile(os.path.join(a.data, "base.parquet")).metadata.num_rows))
        return ivf_main(a)
    t = time.perf_counter()
    xb, xq, mask, gt = load(a.data, a.filter_prefix)
    if a.half is not None and mask is None:
        xq, gt = queries_and_truth(a.data, a.half)
    print(json.dumps(dict(engine=a.engine, phase="load", rows=len(xb), seconds=time.perf_counter() - t,
                          selectivity=None if mask is None else float(mask.mean()),
                          peak_rss_mib=peak_mib())), flush=True)
    runs = (hnswlib_runs(xb, xq, gt, mask, a.threads, a.ef_construction) if a.engine == "hnswlib"
            else faiss_runs(a.engine, xb, xq, gt, mask, a.threads, a.ef_construction, a.nlist))
    for r in runs:
        r.update(rows=len(xb), filter=a.filter_prefix, half=a.half, peak_rss_mib=peak_mib(),
                 vectors_mib=xb.nbytes / 1048576)
        print(json.dumps(r), flush=True)


if __name__ == "__main__":
    main()
