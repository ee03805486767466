#!/usr/bin/env bash
# Sets up (scripts/setup.sh) and runs every test: the Rust workspace (unit, integration,
# property, crash, corruption, recall on ../shared/data, SQL golden files) and the Python
# bindings' pytest suite. One build profile (dev) and one target directory for all of it.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
source scripts/env.sh

cargo test --workspace --no-fail-fast
(cd bindings/python && "$VIRTUAL_ENV/bin/maturin" develop --profile dev --quiet)
"$VIRTUAL_ENV/bin/python" -m pytest -q bindings/python/tests
