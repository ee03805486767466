#!/usr/bin/env python3
"""How cost grows with the table: QPS and bytes read per query at recall target 0.95, ANALYZE
time and ANALYZE's peak memory, against rows, from nestdb-scale's JSON lines (the last
`analyze` line and the last `query` line at target 0.95 of each file). Lines carrying
`anon_peak_mib` (RssAnon sampled by the run's script) add the process's own memory to the
memory panel beside VmHWM.

    python benches/plot_scale.py docs/img/scale-growth.png 1000000:results/a.jsonl 3000000:...
"""
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def last(path, phase, target=None):
    found = None
    for line in open(path):
        try:
            d = json.loads(line)
        except json.JSONDecodeError:
            continue
        if d.get("phase") == phase and (target is None or abs(d.get("target", 0) - target) < 1e-6):
            found = d
    return found


def main():
    out, runs = sys.argv[1], sys.argv[2:]
    pts = []
    for r in runs:
        rows, path = r.split(":", 1)
        q, a = last(path, "query", 0.95), last(path, "analyze")
        anon = a.get("anon_peak_mib")
        pts.append((int(rows), q["qps"], q["bytes_per_query"] / 1e6, a["seconds"], a["peak_rss_mib"] / 1024,
                    None if anon is None else anon / 1024))
    pts.sort()
    n = [p[0] for p in pts]
    fig, axes = plt.subplots(2, 2, figsize=(10, 7))
    panels = [
        (1, "QPS at target 0.95 (one thread)", -0.5),
        (2, "MB read per query at target 0.95", 0.5),
        (3, "ANALYZE seconds (2 threads)", 1.0),
        (4, "ANALYZE peak memory, GiB", 0.0),
    ]
    for ax, (i, title, slope) in zip(axes.flat, panels):
        y = [p[i] for p in pts]
        ax.loglog(n, y, "-o", linewidth=2, label="nestdb" if i != 4 else "VmHWM (page cache mapped included)")
        if i == 4 and all(p[5] is not None for p in pts):
            ax.loglog(n, [p[5] for p in pts], "-s", linewidth=2, label="RssAnon (the process's own)")
        ref = [y[0] * (x / n[0]) ** slope for x in n]
        ax.loglog(n, ref, ":", color="gray", label=f"rows^{slope:g} from the first point")
        ax.set_title(title)
        ax.set_xlabel("rows")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=110)


if __name__ == "__main__":
    main()
