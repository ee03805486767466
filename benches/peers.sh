#!/usr/bin/env bash
# Side-by-side benchmark: FAISS, hnswlib, usearch, LanceDB and nestdb on the same data, the
# same held-out queries and the same exact ground truth, in one run (benches/peers.py, a copy of
# ../shared/bench/peers.py with nestdb added through its Python bindings).
# Needs the peers' Python packages in $PEERS_VENV (default ~/.cache/nestdb/peers-venv):
#   python3 -m venv ~/.cache/nestdb/peers-venv
#   ~/.cache/nestdb/peers-venv/bin/pip install numpy pyarrow faiss-cpu hnswlib usearch lancedb matplotlib
#   ~/.cache/nestdb/peers-venv/bin/pip install -e bindings/python   # nestdb itself (maturin)
# Usage: benches/peers.sh OUT.json [peers.py options, e.g. --filter-col ast_path --filter-prefix go/struct]
set -euo pipefail
cd "$(dirname "$0")/.."
out="$1"; shift
PEERS_VENV="${PEERS_VENV:-$HOME/.cache/nestdb/peers-venv}"
DATA="${NESTDB_SHARED_DATA:-$(pwd)/../shared/data}"
cargo build --release -p nestdb-benches --features tools --bin nestdb-bench >&2
filter=()
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
    case "${args[$i]}" in
        --filter-col|--filter-prefix) filter+=("${args[$i]}" "${args[$((i + 1))]}") ;;
    esac
done
threads=1
for ((i = 0; i < ${#args[@]}; i++)); do
    [ "${args[$i]}" = "--threads" ] && threads="${args[$((i + 1))]}"
done
"$PEERS_VENV/bin/python" benches/peers.py --data "$DATA" --out "$out" "$@" \
    --nestdb-cmd "NESTDB_SHARED_DATA=$DATA $(pwd)/target/release/nestdb-bench search --threads $threads ${filter[*]:-}"
