#!/usr/bin/env python3
"""Markdown tables from peers result files: for each engine, the fastest setting that reaches
recall@10 >= each target, with its build time.

    python benches/summarize.py benches/results/peers-1thread.json [--targets 0.95,0.99]
"""
import argparse, json


def best_at(results, target):
    best = {}
    for r in results:
        if "recall" in r and r["recall"] >= target:
            e = r["engine"]
            if e not in best or r["qps"] > best[e]["qps"]:
                best[e] = r
    return best


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("files", nargs="+")
    ap.add_argument("--targets", default="0.95,0.99")
    a = ap.parse_args()
    for f in a.files:
        d = json.load(open(f))
        res = d["results"]
        engines = sorted({r["engine"] for r in res})
        sel = d.get("selectivity")
        print(f"\n{f} (selectivity {sel if sel is not None else 1.0:.4f}, {d['n_base']} rows, {d['n_queries']} queries)\n")
        cols = " | ".join(f"QPS @ >= {t} (recall, setting)" for t in a.targets.split(","))
        print(f"| engine | build s | max recall | {cols} |")
        print("|---" * (3 + len(a.targets.split(","))) + "|")
        bests = [best_at(res, float(t)) for t in a.targets.split(",")]
        rows = []
        for e in engines:
            rs = [r for r in res if r["engine"] == e and "recall" in r]
            if not rs:
                rows.append((0, f"| {e} | error | | " + " | ".join("" for _ in bests) + " |"))
                continue
            cells = []
            for b in bests:
                r = b.get(e)
                cells.append("not reached" if r is None else f"{r['qps']:,.0f} ({r['recall']:.3f}, {json.dumps(r['params'], separators=(',', '='))})")
            q = bests[0].get(e, {}).get("qps", 0)
            rows.append((q, f"| {e} | {rs[0]['build_s']:.2f} | {max(r['recall'] for r in rs):.3f} | " + " | ".join(cells) + " |"))
        for _, line in sorted(rows, key=lambda x: -x[0]):
            print(line)


if __name__ == "__main__":
    main()
