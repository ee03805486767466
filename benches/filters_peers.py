#!/usr/bin/env python3
"""Peers on per-query filters (issue 15): the workloads of `nestdb-filters` for FAISS Flat and
HNSW32 with an IDSelector, and hnswlib with a filter function, one query at a time.

Every query builds its own selector from the table's metadata, as a user of these libraries
must: the predicate is evaluated with numpy over dictionary-encoded columns (project and
language codes, AST label codes, ids), then turned into the library's selector. That cost is
inside the timed loop, and reported separately as `filter_ms`.

Workloads (one filter per held-out query, from the query chunk's own project or language):
  project-first-seen  label <@ project
  project-range       label <@ project AND id >= lo       (lo uniform over the ids)
  range-S             label <@ language AND lo <= id < hi (about S of the rows)
  in-S                label <@ language AND ast IN (...)  (AST kinds until about S of the rows)
  broad-first-seen    NOT label <@ project AND id >= lo   (lo in the first fifth of the ids)

Usage: python filters_peers.py --data ../shared/data [--queries 700] [--out FILE.jsonl]
       [--base DIR/base.parquet] [--ef-construction 200]
With --base, the rows come from a set made by `make_scale.py` (the queries stay the shared
held-out ones); `nestdb-filters --data DIR --db DB` runs the same workloads on nestdb.
LanceDB (IVF_PQ as in the shared harness, `where(..., prefilter=True)`) gets the same predicate
as SQL over integer code columns; its filter cost is inside its search call.

Install: pip install numpy pyarrow faiss-cpu hnswlib lancedb
"""
import argparse
import json
import os
import time

import numpy as np
import pyarrow.parquet as pq

K = 10


def prefix(label, levels):
    return "/".join(label.split("/")[:levels])


def vectors(col):
    """A list or fixed-size-list column of float32 as an (n, d) array, without a copy per row."""
    col = col.combine_chunks()
    return np.asarray(col.values.to_numpy(), dtype=np.float32).reshape(len(col), -1)


def load(data, nq, base_path=None):
    base = pq.read_table(base_path or os.path.join(data, "chunks.parquet"),
                         columns=["chunk_id", "label_path", "ast_path", "embedding"])
    qs = pq.read_table(os.path.join(data, "queries.parquet"), columns=["label_path", "embedding"])
    xb = vectors(base.column("embedding"))
    xq = vectors(qs.column("embedding"))[:nq]
    ids = base.column("chunk_id").to_numpy().astype(np.int64)
    labels = base.column("label_path").to_pylist()
    asts = base.column("ast_path").to_pylist()
    qlabels = qs.column("label_path").to_pylist()[:nq]
    return xb, xq, ids, labels, asts, qlabels


def codes(values):
    uniq = {v: i for i, v in enumerate(sorted(set(values)))}
    return uniq, np.array([uniq[v] for v in values], dtype=np.int32)


def columns(ids, labels, asts):
    """The metadata as dictionary codes: (project, language, AST kind) codes and dictionaries."""
    proj_dict, proj = codes([prefix(l, 2) for l in labels])
    lang_dict, lang = codes([prefix(l, 1) for l in labels])
    ast_dict, ast = codes(asts)
    return proj_dict, proj, lang_dict, lang, ast_dict, ast


def workloads(ids, labels, asts, qlabels, rng):
    """Per workload, per query: (a function of the metadata giving the boolean mask, the same
    predicate as SQL over the code columns `proj`, `lang`, `ast` and `id`, for LanceDB)."""
    proj_dict, proj, lang_dict, lang, ast_dict, ast = columns(ids, labels, asts)
    n = len(ids)
    out = {}
    out["project-first-seen"] = [
        ((lambda c: lambda: proj == c)(c), f"proj = {c}")
        for c in (proj_dict.get(prefix(l, 2), -1) for l in qlabels)]
    out["project-range"] = []
    for l in qlabels:
        c, lo = proj_dict.get(prefix(l, 2), -1), int(rng.integers(0, ids.max() + 1))
        out["project-range"].append(((lambda c, lo: lambda: (proj == c) & (ids >= lo))(c, lo),
                                     f"proj = {c} AND id >= {lo}"))
    out["broad-first-seen"] = []
    for l in qlabels:
        c, lo = proj_dict.get(prefix(l, 2), -1), int(rng.integers(0, ids.max() // 5 + 1))
        out["broad-first-seen"].append(((lambda c, lo: lambda: (proj != c) & (ids >= lo))(c, lo),
                                        f"proj <> {c} AND id >= {lo}"))
    for share in (0.1, 0.01, 0.001):
        want = max(1, int(n * share))
        rng_f, in_f = [], []
        for l in qlabels:
            c = lang_dict[prefix(l, 1)]
            lids = np.sort(ids[lang == c])
            j = int(rng.integers(0, max(1, len(lids) - want)))
            lo, hi = int(lids[j]), int(lids[min(j + want, len(lids) - 1)])
            rng_f.append(((lambda c, lo, hi: lambda: (lang == c) & (ids >= lo) & (ids < hi))(c, lo, hi),
                          f"lang = {c} AND id >= {lo} AND id < {hi}"))
            kinds, counts = np.unique(ast[lang == c], return_counts=True)
            order = rng.permutation(len(kinds))
            got, pick = 0, []
            for i in order:
                if got >= want:
                    break
                if got + counts[i] <= 2 * want:
                    got += counts[i]
                    pick.append(kinds[i])
            pick = np.array(pick if pick else [-1], dtype=np.int32)
            in_f.append(((lambda c, pick: lambda: (lang == c) & np.isin(ast, pick))(c, pick),
                         f"lang = {c} AND ast IN ({', '.join(str(int(x)) for x in pick)})"))
        pct = f"{share * 100:g}%"
        out[f"range-{pct}"] = rng_f
        out[f"in-{pct}"] = in_f
    return out


def scores(xb, xq, block=65536):
    """Every query's score against every row, (queries, rows), computed once in row blocks."""
    s = np.empty((len(xq), len(xb)), dtype=np.float32)
    for a in range(0, len(xb), block):
        s[:, a:a + block] = xq @ xb[a:a + block].T
    return s


def truth(all_scores, masks):
    gt = []
    for s, m in zip(all_scores, masks):
        rows = np.flatnonzero(m)
        sm = s[rows]
        k = min(K, len(rows))
        if k == 0:
            gt.append(rows)
            continue
        part = np.argpartition(-sm, k - 1)[:k]
        gt.append(rows[part[np.argsort(-sm[part])]])
    return gt


def recall(found, gt):
    hits = want = 0
    for f, g in zip(found, gt):
        want += len(g)
        hits += len(set(np.asarray(f)[:K].tolist()) & set(g.tolist()))
    return hits / max(1, want)


def timed(fn, xq, filters):
    """All queries one at a time, repeated until a second has passed: results, QPS, filter ms."""
    t0 = time.perf_counter()
    n, fsec = 0, 0.0
    while True:
        res = []
        for q, f in zip(xq, filters):
            t = time.perf_counter()
            m = f()
            fsec += time.perf_counter() - t
            res.append(fn(q, m))
        n += len(xq)
        if time.perf_counter() - t0 >= 1.0:
            return res, n / (time.perf_counter() - t0), 1e3 * fsec / n


def lancedb_table(xb, ids, labels, asts):
    """A LanceDB table of the vectors and the code columns, IVF_PQ-indexed as in the shared
    bench harness (sqrt(n) partitions, 48 sub-vectors); (table, build seconds)."""
    os.environ.setdefault("RUST_LOG", "error")
    import lancedb
    import pyarrow as pa
    import tempfile
    _, proj, _, lang, _, ast = columns(ids, labels, asts)
    db = lancedb.connect(tempfile.mkdtemp(prefix="lancedb-filters-"))
    # `row` is the position the ground truth and the other engines return; `id` the chunk id
    # the predicates test
    cols = {"row": pa.array(np.arange(len(xb))), "id": pa.array(ids), "proj": pa.array(proj),
            "lang": pa.array(lang),
            "ast": pa.array(ast),
            "vector": pa.FixedSizeListArray.from_arrays(pa.array(xb.reshape(-1)), xb.shape[1])}
    tbl = db.create_table("t", pa.table(cols))
    t = time.perf_counter()
    tbl.create_index(metric="dot", num_partitions=int(np.sqrt(len(xb))), num_sub_vectors=48,
                     index_type="IVF_PQ")
    return tbl, time.perf_counter() - t


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--queries", type=int, default=700)
    ap.add_argument("--seed", type=int, default=15)
    ap.add_argument("--out", default=None)
    ap.add_argument("--no-lancedb", action="store_true")
    ap.add_argument("--only-lancedb", action="store_true")
    ap.add_argument("--base", default=None, help="a make_scale.py base.parquet instead of the corpus")
    ap.add_argument("--ef-construction", type=int, default=200)
    a = ap.parse_args()
    import faiss
    import hnswlib
    xb, xq, ids, labels, asts, qlabels = load(a.data, a.queries, a.base)
    all_scores = scores(xb, xq)
    rng = np.random.default_rng(a.seed)
    wl = workloads(ids, labels, asts, qlabels, rng)
    d = xb.shape[1]
    if not a.only_lancedb:
        flat = faiss.IndexFlatIP(d)
        flat.add(xb)
        t = time.perf_counter()
        hnsw = faiss.IndexHNSWFlat(d, 32, faiss.METRIC_INNER_PRODUCT)
        hnsw.hnsw.efConstruction = a.ef_construction
        hnsw.add(xb)
        hnsw_b = time.perf_counter() - t
        t = time.perf_counter()
        hl = hnswlib.Index(space="ip", dim=d)
        hl.init_index(max_elements=len(xb), ef_construction=a.ef_construction, M=16)
        hl.add_items(xb, np.arange(len(xb)))
        hl.set_num_threads(1)
        hl_b = time.perf_counter() - t
    # builds on every core, searches one query at a time on one thread
    faiss.omp_set_num_threads(1)
    lines = []

    def emit(**kw):
        print(json.dumps(kw), flush=True)
        lines.append(kw)

    lance = None if a.no_lancedb else lancedb_table(xb, ids, labels, asts)
    for name, pairs in wl.items():
        filters = [f for f, _ in pairs]
        masks = [f() for f in filters]
        gt = truth(all_scores, masks)
        sel = float(np.mean([m.mean() for m in masks]))

        def faiss_search(index, params_for):
            def f(q, m):
                bm = np.packbits(m, bitorder="little")
                s = faiss.IDSelectorBitmap(len(m), faiss.swig_ptr(bm))
                _, I = index.search(q[None], K, params=params_for(s))
                return I[0][I[0] >= 0]
            return f

        if not a.only_lancedb:
            res, qps, fms = timed(faiss_search(flat, lambda s: faiss.SearchParameters(sel=s)), xq, filters)
            emit(engine="faiss-flat+IDSelectorBitmap", workload=name, params={}, recall=recall(res, gt),
                 qps=qps, filter_ms=fms, selectivity=sel)
            for ef in (16, 32, 64, 128, 256, 512):
                p = lambda s, ef=ef: faiss.SearchParametersHNSW(efSearch=ef, sel=s)
                res, qps, fms = timed(faiss_search(hnsw, p), xq, filters)
                emit(engine="faiss-hnsw32+IDSelectorBitmap", workload=name, params={"efSearch": ef},
                     recall=recall(res, gt), qps=qps, filter_ms=fms, selectivity=sel, build_s=hnsw_b)
            for ef in (16, 64, 256):
                hl.set_ef(max(ef, K))

                def f(q, m):
                    try:
                        lab, _ = hl.knn_query(q, k=K, filter=lambda i: bool(m[i]))
                        return lab[0]
                    except RuntimeError:  # fewer than k rows reachable through the filter
                        return np.array([], dtype=np.int64)
                res, qps, fms = timed(f, xq, filters)
                emit(engine="hnswlib+filter", workload=name, params={"ef": ef}, recall=recall(res, gt),
                     qps=qps, filter_ms=fms, selectivity=sel, build_s=hl_b)
        if lance is not None:
            tbl, lance_b = lance
            wheres = [w for _, w in pairs]
            for nprobes in (10, 40):
                def f(q, w, nprobes=nprobes):
                    qb = (tbl.search(q).metric("dot").nprobes(nprobes).refine_factor(20)
                          .where(w, prefilter=True).limit(K).select(["row"]))
                    return qb.to_arrow().column("row").to_numpy()
                # the predicate string is the selector here: LanceDB evaluates it per query
                res, qps, _ = timed(f, xq, [(lambda w=w: w) for w in wheres])
                emit(engine="lancedb-ivfpq+prefilter", workload=name,
                     params={"nprobes": nprobes, "refine_factor": 20}, recall=recall(res, gt),
                     qps=qps, filter_ms=None, selectivity=sel, build_s=lance_b)
    if a.out:
        with open(a.out, "w") as fh:
            for l in lines:
                fh.write(json.dumps(l) + "\n")


if __name__ == "__main__":
    main()
