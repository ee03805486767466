#!/usr/bin/env bash
# Sets up (scripts/setup.sh) and runs every test: the Rust workspace (unit, integration,
# property, crash and power-loss, corruption, recall on ../shared/data, SQL golden files),
# the whole workspace suite again under every lower SIMD level the CPU has, and the Python
# bindings' pytest suite. One build profile (dev) and one target directory for all of it.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
source scripts/env.sh

cargo test --workspace --no-fail-fast

# The default run used the CPU's best kernels; run the whole suite again under each lower
# level the CPU has (scalar always; AVX2 when the CPU also has AVX-512), so every kernel path
# goes through the same tests. NESTDB_KERNELS reaches child processes too (the shell in the
# golden and memory tests).
levels="scalar"
if grep -qw avx512f /proc/cpuinfo && grep -qw avx512bw /proc/cpuinfo; then levels="scalar avx2"; fi
for level in $levels; do
    echo "== kernels: $level"
    NESTDB_KERNELS=$level cargo test --workspace --no-fail-fast
done

# maturin resolves features for the Python crate alone; make sure that reuses the test
# build's dependencies instead of recompiling arrow, DataFusion and RocksDB.
"$VIRTUAL_ENV/bin/python" scripts/same_features.py
(cd bindings/python && "$VIRTUAL_ENV/bin/maturin" develop --profile dev --quiet)
"$VIRTUAL_ENV/bin/python" -m pytest -q bindings/python/tests
