#!/usr/bin/env bash
# The scale benchmark (benches/src/bin/nestdb-scale.rs) on a set made by
# ../shared/data/scale/make_scale.py --rows N --out DATA: load, ANALYZE, queries (unfiltered and
# with each query's own label-subtree filter), each phase in its own process so each reports
# its own peak memory. Appends JSON lines to OUT.
# Usage: benches/scale.sh DATA DB OUT.jsonl   (DB is created; it must not exist)
set -euo pipefail
cd "$(dirname "$0")/.."
data="$1"; db="$2"; out="$3"
export NESTDB_SHARED_DATA="${NESTDB_SHARED_DATA:-$(pwd)/../shared/data}"
cargo build --release -p nestdb-benches --features tools --bin nestdb-scale >&2
bin="$(pwd)/target/release/nestdb-scale"
[ ! -e "$db" ] || { echo "$db exists" >&2; exit 1; }
echo "{\"set\": \"$data\", \"date\": \"$(date -u +%FT%TZ)\"}" >> "$out"
run() { "$bin" "$@" | while read -r line; do echo "$line" | tee -a "$out"; done; }
run load --data "$data" --db "$db"
run analyze --db "$db"
# drop the page cache when allowed, so the first query after open is a cold one
sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true
run query --data "$data" --db "$db"
run filtered --db "$db"
