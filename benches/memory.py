#!/usr/bin/env python3
"""Peak memory, index size and bytes read per query of the peers, each at the setting where it
first reaches recall@10 >= 0.95 in benches/results/peers-1thread.json (one process per engine).

    python benches/memory.py [RESULTS.json]

Peak memory is the growth of the process's peak RSS (VmHWM) from after loading the base
vectors (float32, 40k x 384 = 61 MiB, read straight from Arrow) to after building the index and
running the 700 queries; resident growth (VmRSS) is what stays. nestdb runs through its Python
bindings with the database in a temporary directory; its index size is the directory's size
(segments with every band in Parquet and in the sidecar, codes, RocksDB).
Bytes read per query is counted where the library exposes what it touched: FAISS HNSW's
distance computations and hops (hnsw_stats), IVF's probed list sizes; hnswlib and usearch do not
expose it. nestdb's own figures come from `nestdb-bench profile` (EXPLAIN ANALYZE per query).
"""
import json, os, subprocess, sys, time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.environ.get("NESTDB_SHARED_DATA", os.path.join(HERE, "../../shared/data"))


def status_mib(key):
    for line in open("/proc/self/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024.0


def vectors(file, d=384):
    """float32 rows straight from the Arrow buffer (no per-row Python objects)."""
    import pyarrow.parquet as pq
    col = pq.read_table(os.path.join(DATA, file), columns=["embedding"]).column(0).combine_chunks()
    return np.array(col.flatten().to_numpy(), dtype=np.float32).reshape(-1, d)


def load():
    import gc
    xb, xq = vectors("chunks.parquet"), vectors("queries.parquet")[:700]
    gc.collect()
    return xb, xq


def run_nestdb(xb, xq, k, params):
    import nestdb, pyarrow as pa, tempfile
    path = tempfile.mkdtemp(prefix="nestdb-mem-")
    db = nestdb.connect(path, sync=False, auto_index=False, auto_flush_rows=10**9)
    schema = pa.schema([("id", pa.int64()), ("embedding", pa.list_(pa.float32(), xb.shape[1]))])
    t = db.create_table("t", schema, metric="dot", bands=[32, 64, 128, 256])
    t.add({"id": np.arange(len(xb)), "embedding": xb})
    t.analyze()
    for q in xq:
        t.search_ids(q, k=k, recall_target=params["recall_target"])
    size = sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(path) for f in fs)
    return {"index_mib": size / 1048576, "_keep": (db, t)}


def child(engine, params):
    import faiss, hnswlib
    from usearch.index import Index
    faiss.omp_set_num_threads(1)
    xb, xq = load()
    base, base_rss = status_mib("VmHWM"), status_mib("VmRSS")
    d, k, n = xb.shape[1], 10, len(xb)
    nlist = int(4 * np.sqrt(n))
    out = {"engine": engine, "params": params}
    t = time.perf_counter()
    if engine == "nestdb-python":
        keep = run_nestdb(xb, xq, k, params)
        out["index_mib"] = keep["index_mib"]
    elif engine == "faiss-hnsw32":
        idx = faiss.IndexHNSWFlat(d, 32, faiss.METRIC_INNER_PRODUCT)
        idx.hnsw.efConstruction = 200; idx.add(xb)
        sp = faiss.SearchParametersHNSW(efSearch=params["efSearch"])
        faiss.cvar.hnsw_stats.reset()
        for q in xq:
            idx.search(q[None], k, params=sp)
        st = faiss.cvar.hnsw_stats
        # each distance reads one full vector; each hop reads a level-0 neighbour list (2M int32)
        out["bytes_per_query"] = (st.ndis * d * 4 + st.nhops * 2 * 32 * 4) / len(xq)
        out["index_mib"] = len(faiss.serialize_index(idx)) / 1048576
    elif engine in ("faiss-ivfflat", "faiss-ivfpq-refine"):
        if engine == "faiss-ivfflat":
            idx = faiss.IndexIVFFlat(faiss.IndexFlatIP(d), d, nlist, faiss.METRIC_INNER_PRODUCT)
            ivf, code, refine = idx, d * 4, 0
        else:
            ivf = faiss.index_factory(d, f"IVF{nlist},PQ48x8", faiss.METRIC_INNER_PRODUCT)
            idx = faiss.IndexRefineFlat(ivf)
            code, refine = 48, params["k_factor"] * k * d * 4
        idx.train(xb); idx.add(xb)
        ivf = faiss.extract_index_ivf(ivf)
        sizes = np.array([ivf.invlists.list_size(i) for i in range(nlist)])
        _, probed = ivf.quantizer.search(xq, params["nprobe"])
        scanned = sizes[probed].sum(axis=1).mean()
        # centroids, then codes and ids of the probed lists, then the refine's full vectors
        out["bytes_per_query"] = nlist * d * 4 + scanned * (code + 8) + refine
        ps = faiss.SearchParametersIVF(nprobe=params["nprobe"])
        if refine:
            ps = faiss.IndexRefineSearchParameters(k_factor=params["k_factor"], base_index_params=ps)
        for q in xq:
            idx.search(q[None], k, params=ps)
        out["index_mib"] = len(faiss.serialize_index(idx)) / 1048576
    elif engine == "hnswlib-M16":
        idx = hnswlib.Index(space="ip", dim=d)
        idx.init_index(max_elements=n, ef_construction=200, M=16)
        idx.set_num_threads(1); idx.add_items(xb, np.arange(n)); idx.set_ef(max(params["ef"], k))
        for q in xq:
            idx.knn_query(q, k=k)
        out["index_mib"] = idx.index_file_size() / 1048576
    elif engine.startswith("usearch"):
        idx = Index(ndim=d, metric="ip", dtype=engine.split("-")[1], connectivity=16, expansion_add=128)
        idx.add(np.arange(n), xb, threads=1); idx.expansion_search = params["expansion_search"]
        for q in xq:
            idx.search(q, k, threads=1)
        out["index_mib"] = idx.memory_usage / 1048576
    out["seconds"] = time.perf_counter() - t
    out["peak_rss_mib_after_data"] = base
    out["peak_rss_growth_mib"] = status_mib("VmHWM") - base
    out["rss_growth_mib"] = status_mib("VmRSS") - base_rss
    print(json.dumps(out), flush=True)


def main():
    if len(sys.argv) > 2 and sys.argv[1] == "child":
        return child(sys.argv[2], json.loads(sys.argv[3]))
    res = json.load(open(sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "results/peers-1thread.json")))
    best = {}
    for r in res["results"]:
        if r.get("recall", 0) >= 0.95 and (r["engine"] not in best or r["qps"] > best[r["engine"]]["qps"]):
            best[r["engine"]] = r
    for engine in ("nestdb-python", "faiss-hnsw32", "faiss-ivfflat", "faiss-ivfpq-refine", "hnswlib-M16", "usearch-f32", "usearch-i8"):
        if engine in best:
            subprocess.run([sys.executable, __file__, "child", engine, json.dumps(best[engine]["params"])], check=True)


if __name__ == "__main__":
    main()
