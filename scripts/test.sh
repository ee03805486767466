#!/usr/bin/env bash
# Sets up (scripts/setup.sh) and runs every test: the Rust workspace (unit, integration,
# property, crash and power-loss, corruption, recall on ../shared/data, SQL golden files),
# the kernel-dependent tests again under every lower SIMD level the CPU has, and the Python
# bindings' pytest suite. One build profile (dev) and one target directory for all of it.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
source scripts/env.sh

cargo test --workspace --no-fail-fast

# The default run used the CPU's best kernels; run the tests whose results go through the
# kernels again under each lower level the CPU has (scalar always; AVX2 when the CPU also has
# AVX-512), so every kernel path goes through them: every unit test, the kernels' proptests,
# search, recall, filters, rotation, tuning, the SQL front end and the shell's golden files.
# Left out of these passes (they ran above, and what they check is not the kernels'
# arithmetic): crash, power-loss and corruption tests, the fuzzers, the ONNX models, the
# bulk loader and the memory bounds, the live monitor's policy, cold open. NESTDB_KERNELS
# reaches child processes too (the shell in the golden tests).
levels="scalar"
if grep -qw avx512f /proc/cpuinfo && grep -qw avx512bw /proc/cpuinfo; then levels="scalar avx2"; fi
kernel_tests=(kernels recall filtered unique_filters random_filters rotation tuning_queries
    fit_sampling filters table_ops snapshots sql_vs_api golden)
for level in $levels; do
    echo "== kernels: $level"
    NESTDB_KERNELS=$level cargo test --workspace --no-fail-fast --lib --bins \
        "${kernel_tests[@]/#/--test=}"
done

# maturin resolves features for the Python crate alone; make sure that reuses the test
# build's dependencies instead of recompiling arrow, DataFusion and RocksDB.
"$VIRTUAL_ENV/bin/python" scripts/same_features.py
(cd bindings/python && "$VIRTUAL_ENV/bin/maturin" develop --profile dev --quiet)
"$VIRTUAL_ENV/bin/python" -m pytest -q bindings/python/tests
