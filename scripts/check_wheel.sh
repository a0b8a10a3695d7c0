#!/usr/bin/env bash
# Prove that a NON-editable install of the project works outside the checkout:
#   1. build a wheel (from a clean copy of the checkout's tracked and non-ignored files, so stale
#      build/ output cannot leak into it) and check that it carries the claim and task data files;
#   2. install it (--no-deps) into a fresh virtual environment that sees the dependencies already
#      installed in .venv through a .pth file, but not .venv's editable install of the project;
#   3. from an empty directory holding only a user's claim folder, run the shipped claims and the
#      user's claim on the `tiny` model (`pytest --pyargs hypotheses --claims my_claims`) and check
#      report.html and evidence.json.
# Usage (from anywhere; needs `make install` first): bash scripts/check_wheel.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
VENV_PY="$ROOT/.venv/bin/python"
START=$SECONDS

fail() { echo "check_wheel: FAIL: $*" >&2; exit 1; }
step() { echo "check_wheel: $*"; }

[ -x "$VENV_PY" ] || fail "$VENV_PY not found: run \`make install\` first"
unset PYTHONPATH PYTHONHOME PYTHONSTARTUP  # nothing but the fresh venv decides what is importable

TMP="$(mktemp -d "${TMPDIR:-/tmp}/check_wheel.XXXXXX")"
trap 'rm -rf "$TMP"' EXIT

# --- 1. the wheel -----------------------------------------------------------------------------
step "building the wheel"
# tracked files still present, plus untracked ones git does not ignore (the tree as it would ship)
"$VENV_PY" - "$ROOT" "$TMP/src" <<'PY' || fail "could not copy the checkout"
import shutil, subprocess, sys
from pathlib import Path
root, dest = Path(sys.argv[1]), Path(sys.argv[2])
out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                     cwd=root, check=True, capture_output=True).stdout.decode()
for name in filter(None, out.split("\0")):
    if (root / name).is_file():
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / name, dest / name)
PY
(cd "$TMP/src" && "$VENV_PY" -m pip wheel -q --no-deps --no-build-isolation -w "$TMP/dist" .) \
  || fail "pip wheel failed"
WHEELS=("$TMP"/dist/circuit_hypotheses-*.whl)
[ -f "${WHEELS[0]}" ] || fail "no circuit_hypotheses wheel in $TMP/dist"
WHEEL="${WHEELS[0]}"

"$VENV_PY" - "$WHEEL" <<'PY' || fail "the wheel lacks files it must ship (see above)"
import sys, zipfile
names = set(zipfile.ZipFile(sys.argv[1]).namelist())
required = [
    "hypotheses/__init__.py", "hypotheses/test_claims.py", "hypotheses/h1_layers/claim.yaml",
    "tasks/data/core.yaml", "tasks/data/surface-reasoning.yaml", "tasks/data/facts/countries.csv",
    "stats/__init__.py", "engine/__init__.py", "fixtures/plugin.py", "engine/model/__init__.py",
    "engine/intervention/__init__.py", "evaluation/__init__.py", "report/plugin.py",
    "cluster/__init__.py", "cluster/merge.py", "cluster/shards.py", "report/parquet_export.py",
]
missing = [n for n in required if n not in names]
# claim folders are package data of `hypotheses`, never packages of their own
stray = [n for n in names if n.startswith("hypotheses/") and n.count("/") > 1 and n.endswith(".py")]
entry = next((n for n in names if n.endswith(".dist-info/entry_points.txt")), None)
eps = zipfile.ZipFile(sys.argv[1]).read(entry).decode() if entry else ""
for name in missing:
    print(f"  missing from the wheel: {name}", file=sys.stderr)
for name in stray:
    print(f"  unexpected module in a claim folder: {name}", file=sys.stderr)
for ep in ("fixtures.plugin = fixtures.plugin", "report.plugin = report.plugin"):
    if "[pytest11]" not in eps or ep not in eps:
        print(f"  missing pytest11 entry point: {ep}", file=sys.stderr)
        missing.append(ep)
yaml = sorted(n for n in names if n.startswith("hypotheses/") and n.endswith(".yaml"))
print(f"check_wheel: wheel ok: {len(names)} files, {len(yaml)} shipped claim files")
sys.exit(1 if missing or stray else 0)
PY

# --- 2. a fresh venv with .venv's dependencies but not its editable install ---------------------
step "creating a fresh virtual environment"
"$VENV_PY" -m venv --without-pip "$TMP/venv" || fail "python -m venv failed"
FRESH_PY="$TMP/venv/bin/python"
FRESH_SITE="$(cd "$TMP" && "$FRESH_PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
DEPS_SITE="$(cd "$TMP" && "$VENV_PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
# A directory added by a .pth file does not have its own .pth files processed, so .venv's
# editable finder (__editable__*.pth) stays inactive in the fresh venv.
echo "$DEPS_SITE" > "$FRESH_SITE/_project_venv_deps.pth"

mkdir -p "$TMP/empty"
(cd "$TMP/empty" && "$FRESH_PY" -c 'import hypotheses' 2>/dev/null) \
  && fail "the project is importable in the fresh venv before the wheel is installed: .venv's editable install leaks in"

step "installing the wheel into it (--no-deps)"
# --ignore-installed: never touch the .venv copy that pip sees through the .pth file
(cd "$TMP/empty" && "$FRESH_PY" -m pip install -q --no-deps --ignore-installed "$WHEEL") \
  || fail "pip install of the wheel failed"
rmdir "$TMP/empty"

# --- 3. run the shipped claims and a user's claim from an empty directory ---------------------
WORK="$TMP/work"
mkdir -p "$WORK/my_claims/u1_my_layers"
sed -e 's/^id: H1$/id: U1/' \
    -e 's/^title: .*/title: "My own claim (a user'"'"'s copy of H1): layers specialize"/' \
    "$ROOT/hypotheses/h1_layers/claim.yaml" > "$WORK/my_claims/u1_my_layers/claim.yaml"
grep -q '^id: U1$' "$WORK/my_claims/u1_my_layers/claim.yaml" || fail "could not write the user's claim U1"

cd "$WORK"
"$FRESH_PY" - "$FRESH_SITE" <<'PY' || fail "the project's packages are not imported from the fresh venv's site-packages (see above)"
import os, sys
site = os.path.realpath(sys.argv[1])
bad = []
for name in ("hypotheses", "engine", "fixtures", "fixtures.plugin", "tasks", "stats", "evaluation", "report", "report.plugin",
             "cluster", "cluster.merge"):
    module = __import__(name, fromlist=["_"])
    path = os.path.realpath(module.__file__)
    if not path.startswith(site + os.sep):
        bad.append(f"  {name} -> {path} (expected under {site})")
import hypotheses
print(f"check_wheel: hypotheses.__file__ = {hypotheses.__file__}")
if bad:
    print("\n".join(bad), file=sys.stderr)
sys.exit(1 if bad else 0)
PY

step "running: pytest --pyargs hypotheses --claims my_claims --model tiny --no-controls (in $WORK)"
set +e
"$FRESH_PY" -m pytest --pyargs hypotheses --claims my_claims --model tiny --no-controls \
  -p no:cacheprovider --cache-dir "$TMP/cache" --report-dir "$TMP/reports" -q
RC=$?
set -e
# 1 = some claim refuted, confounded or errored (a random `tiny` model supports little): fine here
[ "$RC" -eq 0 ] || [ "$RC" -eq 1 ] || fail "pytest exited with $RC (0 or 1 expected)"

[ -f "$TMP/reports/report.html" ] || fail "no report.html in the report dir"
[ -f "$TMP/reports/evidence.json" ] || fail "no evidence.json in the report dir"
"$FRESH_PY" - "$TMP/reports/evidence.json" <<'PY' || fail "evidence.json lacks records (see above)"
import json, sys
doc = json.load(open(sys.argv[1], encoding="utf-8"))
ids = sorted({r.get("id") for r in doc.get("records", [])} - {None})
missing = [i for i in ("U1", "H1", "H2", "H3") if i not in ids]
print(f"check_wheel: evidence.json records: {', '.join(ids)}")
if missing:
    print(f"  evidence.json has no record for: {', '.join(missing)}", file=sys.stderr)
sys.exit(1 if missing else 0)
PY

echo "check_wheel: OK: $(basename "$WHEEL") installs and runs outside the checkout" \
     "(pytest exit $RC, $((SECONDS - START)) s)"
