#!/usr/bin/env python3
"""Fails when `maturin develop` would build a dependency with other features than the test
build did (so it would recompile it: DataFusion, arrow and RocksDB took ~20 min of CI).

Compares Cargo's unit graphs (RUSTC_BOOTSTRAP for `--unit-graph`) of `cargo test --workspace`
and of the Python crate built alone; workspace members may differ (they are cheap to build).
A dependency differs when its features differ or when any dependency of it differs.
The fix is a feature-unifying line in bindings/python/Cargo.toml.
"""
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def units(args, cwd):
    """Every non-member unit of the build as a key that, like Cargo's own artifact hash,
    covers its package, features, mode, platform and (recursively) its dependencies."""
    env = dict(os.environ, RUSTC_BOOTSTRAP="1")
    out = subprocess.run(
        ["cargo", *args, "--unit-graph", "-Z", "unstable-options"],
        cwd=cwd, env=env, check=True, capture_output=True, text=True,
    ).stdout
    graph = json.loads(out)["units"]
    keys = [None] * len(graph)

    def key(i):
        if keys[i] is None:
            u = graph[i]
            deps = tuple(sorted(key(d["index"]) for d in u["dependencies"]))
            keys[i] = hash((u["pkg_id"], tuple(u["features"]), u["mode"], u["platform"],
                            u["target"]["name"], deps))
        return keys[i]

    sys.setrecursionlimit(10000)
    # workspace members are path packages inside this repository
    member = f"path+file://{ROOT}"
    return {key(i): u["pkg_id"].split("#")[-1] for i, u in enumerate(graph)
            if not u["pkg_id"].startswith(member)}


def main():
    tests = units(["test", "--workspace", "--no-run"], ROOT)
    python = units(["rustc", "--profile", "dev", "--lib"], os.path.join(ROOT, "bindings/python"))
    bad = sorted({pkg for k, pkg in python.items() if k not in tests})
    if bad:
        print("maturin would rebuild these dependencies with other features:", file=sys.stderr)
        print("  " + ", ".join(bad), file=sys.stderr)
        print("add the missing features to bindings/python/Cargo.toml's unifying lines", file=sys.stderr)
        sys.exit(1)
    print(f"same_features: the {len(python)} dependency units of the Python build are all in the test build")


if __name__ == "__main__":
    main()
