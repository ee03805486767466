# Sourced by the other scripts: where the venv put ONNX Runtime and the model wheels.
NESTDB_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
NESTDB_SITE_PACKAGES="$("$NESTDB_ROOT/.venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
ORT_DYLIB_PATH="$(ls "$NESTDB_SITE_PACKAGES"/onnxruntime/capi/libonnxruntime.so.* | head -n 1)"
VIRTUAL_ENV="$NESTDB_ROOT/.venv"
CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$NESTDB_ROOT/target}"
# Builds here are one-shot (CI, the demo, the wheel): incremental caches would only take disk
# (several GB for the test binaries). Set CARGO_INCREMENTAL=1 to iterate faster.
CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
# RocksDB's 343 C++ files are a quarter of a cold build; clang++ compiles them 14-19% faster
# than g++ 12 (8 sources, two rounds, stop 41). Only librocksdb-sys compiles C++ here.
if [ -z "${CXX:-}" ] && command -v clang++-14 >/dev/null; then CXX=clang++-14; export CXX; fi
export CARGO_INCREMENTAL NESTDB_ROOT NESTDB_SITE_PACKAGES ORT_DYLIB_PATH VIRTUAL_ENV CARGO_TARGET_DIR
