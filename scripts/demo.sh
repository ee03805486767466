#!/usr/bin/env bash
# Sets up (scripts/setup.sh), builds the shell, makes a small MLCPD-style dataset from real
# source code (nestdb's own Rust sources and part of Python's standard library, parsed with
# tree-sitter), loads it into an embedded database with COPY ... (FORMAT mlcpd, MODEL 'minilm')
# (chunking into definitions and embedding them with all-MiniLM-L6-v2) and answers queries.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
source scripts/env.sh

# The same build as scripts/test.sh (one feature resolution, so the two commands share every
# artifact; `cargo build -p nestdb-cli` alone resolves features differently and rebuilds most
# of the tree): it produces target/debug/nestdb along with the tests.
cargo test --workspace --no-run
"$VIRTUAL_ENV/bin/python" scripts/make_sample.py .demo/sample
rm -rf .demo/db
sed "s|\${SITE_PACKAGES}|$NESTDB_SITE_PACKAGES|g" scripts/demo.sql > .demo/demo.sql
"$CARGO_TARGET_DIR/debug/nestdb" .demo/db -f .demo/demo.sql --echo
echo "The database stays in .demo/db; explore it with: $CARGO_TARGET_DIR/debug/nestdb .demo/db"
