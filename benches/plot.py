#!/usr/bin/env python3
"""Recall@10 against queries per second, one line per engine, from peers.py JSON results.

    python benches/plot.py benches/results/peers-1thread.json docs/img/recall-qps-1thread.png
"""
import json
import sys
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main():
    src, out = sys.argv[1], sys.argv[2]
    res = json.load(open(src))
    curves = defaultdict(list)
    for r in res["results"]:
        if "error" not in r:
            curves[r["engine"]].append((r["recall"], r["qps"]))
    fig, ax = plt.subplots(figsize=(8, 5))
    for e, pts in sorted(curves.items()):
        pts.sort()
        exact = e in ("faiss-flat", "nestdb-exact")  # single points: exact search
        style = ("x" if exact else "-o") if e.startswith("nestdb") else ("x" if exact else "--.")
        ax.plot([p[0] for p in pts], [p[1] for p in pts], style, label=e, linewidth=2 if e.startswith("nestdb") else 1)
    ax.set_xlabel("recall@10")
    ax.set_ylabel("queries per second (one query at a time)")
    ax.set_yscale("log")
    ax.set_xlim(left=max(0.5, min(p[0] for c in curves.values() for p in c)))
    sel = res.get("selectivity")
    ax.set_title(f"{res['n_base']} x 384 MiniLM chunks, {res['n_queries']} held-out queries"
                 + (f", filter selectivity {sel:.3%}" if sel else ""))
    ax.axvline(0.95, color="grey", linewidth=0.5)
    ax.grid(True, which="both", linewidth=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=110)


if __name__ == "__main__":
    main()
