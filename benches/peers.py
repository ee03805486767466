#!/usr/bin/env python3
"""Side-by-side vector search benchmark: other engines on the same data, same queries, one run.

(nestdb's copy of ../shared/bench/peers.py, with one more engine: `nestdb`, driven through its
Python bindings exactly like the others: one query at a time from Python, recall against the
same exact ground truth. Build the bindings first: `maturin develop --release` in
bindings/python.)

Runs FAISS (Flat, HNSW, IVF-Flat, IVF-PQ + refine), hnswlib, usearch and LanceDB on a base set
and held-out queries with exact ground truth, sweeps each engine's search knob, and prints
recall@k against QPS, build time and the best QPS at recall >= each target. Optional
hierarchical filters (a label prefix over a PATH-like column) measure filtered search.

nestdb plugs in as one more engine: pass --nestdb-cmd with a command that reads the same
files and prints JSON lines {"engine","params","recall","qps","build_s"} (see README.md).

Usage:
  python peers.py --data ../data --threads 1 --out results.json
  python peers.py --data ../data --filter-col ast_path --filter-prefix python/ --threads 1

Install: pip install numpy pyarrow faiss-cpu hnswlib usearch lancedb
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np
import pyarrow.parquet as pq


def load(data, n_queries, filter_col, filter_prefix, k):
    base = pq.read_table(os.path.join(data, "chunks.parquet"),
                         columns=["chunk_id", "embedding"] + ([filter_col] if filter_col else []))
    queries = pq.read_table(os.path.join(data, "queries.parquet"), columns=["query_id", "embedding"])
    xb = np.stack(base.column("embedding").to_numpy(zero_copy_only=False)).astype(np.float32)
    xq = np.stack(queries.column("embedding").to_numpy(zero_copy_only=False)).astype(np.float32)[:n_queries]
    ids = base.column("chunk_id").to_numpy().astype(np.int64)
    mask = None
    if filter_col:
        labels = base.column(filter_col).to_pylist()
        mask = np.array([l == filter_prefix.rstrip("/") or l.startswith(filter_prefix) for l in labels])
    # exact ground truth for exactly these rows and this filter (cosine = dot on unit vectors)
    sims = xq @ xb.T
    if mask is not None:
        sims[:, ~mask] = -np.inf
    gt = np.argsort(-sims, axis=1)[:, :k]
    return xb, xq, ids, mask, gt


def recall(found, gt):
    k = gt.shape[1]
    hits = sum(len(set(f[:k].tolist()) & set(g.tolist())) for f, g in zip(found, gt))
    return hits / (len(gt) * k)


def timed_queries(fn, xq, repeat_min_s=1.0):
    """Run all queries one at a time (latency-style), repeat until repeat_min_s; return results, qps."""
    t0 = time.perf_counter(); n = 0; res = None
    while True:
        res = [fn(q) for q in xq]
        n += len(xq)
        if time.perf_counter() - t0 >= repeat_min_s:
            break
    return res, n / (time.perf_counter() - t0)


def run_faiss(xb, xq, gt, k, mask, threads):
    import faiss
    faiss.omp_set_num_threads(threads)
    d = xb.shape[1]
    out = []
    sel = None
    if mask is not None:
        sel = faiss.IDSelectorBatch(np.where(mask)[0].astype(np.int64))

    def search(index, params_obj):
        def f(q):
            if params_obj is not None:
                _, I = index.search(q[None], k, params=params_obj)
            else:
                _, I = index.search(q[None], k)
            return I[0]
        return f

    # Flat (exact)
    t = time.perf_counter(); idx = faiss.IndexFlatIP(d); idx.add(xb); b = time.perf_counter() - t
    p = faiss.SearchParameters(sel=sel) if sel is not None else None
    res, qps = timed_queries(search(idx, p), xq)
    out.append(dict(engine="faiss-flat", params={}, recall=recall(res, gt), qps=qps, build_s=b))
    # HNSW32
    t = time.perf_counter(); idx = faiss.IndexHNSWFlat(d, 32, faiss.METRIC_INNER_PRODUCT)
    idx.hnsw.efConstruction = 200; idx.add(xb); b = time.perf_counter() - t
    for ef in (16, 32, 64, 128, 256, 512):
        p = faiss.SearchParametersHNSW(efSearch=ef, sel=sel) if sel is not None else faiss.SearchParametersHNSW(efSearch=ef)
        res, qps = timed_queries(search(idx, p), xq)
        out.append(dict(engine="faiss-hnsw32", params={"efSearch": ef}, recall=recall(res, gt), qps=qps, build_s=b))
    # IVF-Flat
    nlist = int(4 * np.sqrt(len(xb)))
    t = time.perf_counter(); q0 = faiss.IndexFlatIP(d); idx = faiss.IndexIVFFlat(q0, d, nlist, faiss.METRIC_INNER_PRODUCT)
    idx.train(xb); idx.add(xb); b = time.perf_counter() - t
    for nprobe in (1, 2, 4, 8, 16, 32, 64, 128):
        p = faiss.SearchParametersIVF(nprobe=nprobe, sel=sel) if sel is not None else faiss.SearchParametersIVF(nprobe=nprobe)
        res, qps = timed_queries(search(idx, p), xq)
        out.append(dict(engine="faiss-ivfflat", params={"nlist": nlist, "nprobe": nprobe}, recall=recall(res, gt), qps=qps, build_s=b))
    # IVF-PQ + refine (exact rerank of k_factor*k candidates)
    t = time.perf_counter()
    base_idx = faiss.index_factory(d, f"IVF{nlist},PQ48x8", faiss.METRIC_INNER_PRODUCT)
    idx = faiss.IndexRefineFlat(base_idx)
    idx.train(xb); idx.add(xb); b = time.perf_counter() - t
    for nprobe in (4, 8, 16, 32, 64):
        for kf in (4, 16):
            ivfp = faiss.SearchParametersIVF(nprobe=nprobe, sel=sel) if sel is not None else faiss.SearchParametersIVF(nprobe=nprobe)
            p = faiss.IndexRefineSearchParameters(k_factor=kf, base_index_params=ivfp)
            res, qps = timed_queries(search(idx, p), xq)
            out.append(dict(engine="faiss-ivfpq-refine", params={"nlist": nlist, "nprobe": nprobe, "k_factor": kf}, recall=recall(res, gt), qps=qps, build_s=b))
    return out


def run_hnswlib(xb, xq, gt, k, mask, threads):
    import hnswlib
    d = xb.shape[1]
    t = time.perf_counter()
    idx = hnswlib.Index(space="ip", dim=d)
    idx.init_index(max_elements=len(xb), ef_construction=200, M=16)
    idx.set_num_threads(threads)
    idx.add_items(xb, np.arange(len(xb)))
    b = time.perf_counter() - t
    idx.set_num_threads(1)
    filt = None
    if mask is not None:
        allowed = mask
        filt = lambda i: bool(allowed[i])
    out = []
    for ef in (16, 32, 64, 128, 256, 512):
        idx.set_ef(max(ef, k))
        res, qps = timed_queries(lambda q: idx.knn_query(q, k=k, filter=filt)[0][0], xq)
        out.append(dict(engine="hnswlib-M16", params={"ef": ef}, recall=recall(res, gt), qps=qps, build_s=b))
    return out


def run_usearch(xb, xq, gt, k, mask, threads):
    from usearch.index import Index
    d = xb.shape[1]
    out = []
    for dtype in ("f32", "i8"):
        t = time.perf_counter()
        idx = Index(ndim=d, metric="ip", dtype=dtype, connectivity=16, expansion_add=128)
        idx.add(np.arange(len(xb)), xb, threads=threads)
        b = time.perf_counter() - t
        for ef in (16, 32, 64, 128, 256, 512):
            idx.expansion_search = ef
            if mask is None:
                fn = lambda q: idx.search(q, k, threads=1).keys
            else:
                # usearch's Python API has no predicate: over-fetch and post-filter
                def fn(q, ef=ef):
                    keys = idx.search(q, max(k * 20, ef), threads=1).keys
                    return np.array([x for x in keys if mask[x]][:k])
            res, qps = timed_queries(fn, xq)
            out.append(dict(engine=f"usearch-{dtype}", params={"expansion_search": ef, "postfilter": mask is not None}, recall=recall(res, gt), qps=qps, build_s=b))
    return out


def run_lancedb(xb, xq, gt, k, mask, threads, labels=None):
    os.environ.setdefault("RUST_LOG", "error")  # lance logs a deprecation warning per query otherwise
    import lancedb
    import pyarrow as pa
    tmp = tempfile.mkdtemp(prefix="lancedb-bench-")
    try:
        db = lancedb.connect(tmp)
        cols = {"id": pa.array(np.arange(len(xb))),
                "vector": pa.FixedSizeListArray.from_arrays(pa.array(xb.reshape(-1)), xb.shape[1])}
        if mask is not None:
            cols["keep"] = pa.array(mask)
        tbl = db.create_table("t", pa.table(cols))
        t = time.perf_counter()
        tbl.create_index(metric="dot", num_partitions=int(np.sqrt(len(xb))), num_sub_vectors=48, index_type="IVF_PQ")
        b = time.perf_counter() - t
        out = []
        for nprobes in (5, 10, 20, 40):
            for refine in (5, 20):
                def fn(q):
                    qb = tbl.search(q).metric("dot").nprobes(nprobes).refine_factor(refine).limit(k).select(["id"])
                    if mask is not None:
                        qb = qb.where("keep = true", prefilter=True)
                    return qb.to_arrow().column("id").to_numpy()
                res, qps = timed_queries(fn, xq)
                out.append(dict(engine="lancedb-ivfpq", params={"nprobes": nprobes, "refine_factor": refine}, recall=recall(res, gt), qps=qps, build_s=b))
        return out
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run_nestdb(xb, xq, gt, k, mask, threads, labels=None):
    import nestdb
    import pyarrow as pa
    cols = {"id": np.arange(len(xb)), "embedding": xb}
    if mask is not None:
        cols["keep"] = mask
    db = nestdb.connect(auto_index=False, auto_flush_rows=10**9)
    schema = pa.schema([("id", pa.int64()), ("embedding", pa.list_(pa.float32(), xb.shape[1]))]
                       + ([("keep", pa.bool_())] if mask is not None else []))
    t = db.create_table("t", schema, metric="dot", bands=[32, 64, 128, 256])
    start = time.perf_counter()
    t.add(cols)
    t.analyze()
    b = time.perf_counter() - start
    out = []
    flt = "keep" if mask is not None else None
    for target in (0.8, 0.9, 0.93, 0.95, 0.97, 0.98, 0.99, 0.995):
        def fn(q):
            return t.search_ids(q, k=k, filter=flt, recall_target=target)[0]
        res, qps = timed_queries(fn, xq)
        out.append(dict(engine="nestdb-python", params={"recall_target": target}, recall=recall(res, gt), qps=qps, build_s=b))
    return out


ENGINES = {"nestdb": run_nestdb, "faiss": run_faiss, "hnswlib": run_hnswlib, "usearch": run_usearch, "lancedb": run_lancedb}


def best_at(results, target):
    best = {}
    for r in results:
        if r["recall"] >= target:
            e = r["engine"]
            if e not in best or r["qps"] > best[e]["qps"]:
                best[e] = r
    return best


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=os.path.join(os.path.dirname(__file__), "..", "data"))
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--queries", type=int, default=700)
    ap.add_argument("--threads", type=int, default=1, help="threads for index builds; search is one query at a time")
    ap.add_argument("--engines", default="nestdb,faiss,hnswlib,usearch,lancedb")
    ap.add_argument("--filter-col", default=None, help="e.g. ast_path or label_path")
    ap.add_argument("--filter-prefix", default=None, help="subtree, e.g. python/ (matches python and python/...)")
    ap.add_argument("--nestdb-cmd", default=None, help="command printing JSON lines of nestdb results")
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    xb, xq, ids, mask, gt = load(a.data, a.queries, a.filter_col, a.filter_prefix, a.k)
    sel = None if mask is None else float(mask.mean())
    print(f"# base {xb.shape}, queries {xq.shape}, k={a.k}, filter={a.filter_col}:{a.filter_prefix} selectivity={sel}", file=sys.stderr)
    results = []
    for name in a.engines.split(","):
        try:
            rs = ENGINES[name](xb, xq, gt, a.k, mask, a.threads)
        except Exception as e:  # an engine that fails is reported, not hidden
            rs = [dict(engine=name, error=repr(e))]
        for r in rs:
            print(json.dumps(r), flush=True)
        results.extend(rs)
    if a.nestdb_cmd:
        p = subprocess.run(a.nestdb_cmd, shell=True, capture_output=True, text=True)
        for line in p.stdout.splitlines():
            if line.startswith("{"):
                r = json.loads(line); print(json.dumps(r), flush=True); results.append(r)
        if p.returncode != 0:
            results.append(dict(engine="nestdb", error=p.stderr[-2000:]))
    ok = [r for r in results if "error" not in r]
    for target in (0.9, 0.95, 0.99):
        print(f"\n## best QPS at recall@{a.k} >= {target}")
        for e, r in sorted(best_at(ok, target).items(), key=lambda kv: -kv[1]["qps"]):
            print(f"{e:22s} qps={r['qps']:9.1f} recall={r['recall']:.4f} build_s={r['build_s']:.2f} {r['params']}")
    if a.out:
        with open(a.out, "w") as f:
            json.dump(dict(selectivity=sel, n_base=len(xb), n_queries=len(xq), k=a.k, results=results), f, indent=1)


if __name__ == "__main__":
    main()
