"""The README's first command on a cold cache: wall time, and where it goes per claim and step.

Runs ``pytest hypotheses/`` (what ``make report`` runs) in a subprocess with an empty
activation cache (``$CIRCUIT_HYPOTHESES_CACHE`` pointed at a fresh folder), so every capture,
control, greedy answer and intervention is computed. Converted weights are linked in from the
normal cache unless ``--convert`` (GGUF conversion is 20-60 s once per model, and says nothing
about the suite). Prints:

  per claim   pytest's setup + call seconds of each claim's test (``--durations=0``): the first
              claim to need a capture or a control pays for it;
  per step    every progress line's final "done, in m:ss" (captures of the model and of each
              random-weights twin, prompt variants, greedy answers, clean runs, H5 stages), the
              per-control breakdown;
  total       wall seconds, the load before and after (``uptime``), and the 10-minute target.

A figure measured while other jobs share the cores is an upper bound; the load is printed.

Usage: ``python benchmarks/bench_report.py [--model smollm2] [--claim ID ...] [--timeout 7200]``
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET_MIN = 10.0
DURATION = re.compile(r"^\s*([\d.]+)s (setup|call|teardown)\s+(\S+)")
STEP = re.compile(r"^\s*(.+?): done, (?:(\d+) \S+ )?in ((?:\d+:)?\d+:\d\d)\s*$")


def _seconds(clock: str) -> int:
    parts = [int(p) for p in clock.split(":")]
    return sum(v * 60 ** i for i, v in enumerate(reversed(parts)))


def _uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def parse(log: str) -> tuple[dict[str, dict[str, float]], list[tuple[str, int]]]:
    """(per test id: {"setup", "call", "teardown"} seconds, [(step, seconds)]) from pytest's output.

    Examples
    --------
    >>> tests, steps = parse("  3.50s call     hypotheses/test_claims.py::test_claim[smollm2-H1]\\n"
    ...                      "  capture smollm2 / core: done, 12 batches in 1:05\\n")
    >>> tests["hypotheses/test_claims.py::test_claim[smollm2-H1]"]["call"], steps
    (3.5, [('capture smollm2 / core', 65)])
    """
    tests: dict[str, dict[str, float]] = {}
    steps: list[tuple[str, int]] = []
    for line in log.splitlines():
        m = DURATION.match(line)
        if m:
            tests.setdefault(m.group(3), {})[m.group(2)] = float(m.group(1))
            continue
        m = STEP.match(line)
        if m:
            steps.append((m.group(1), _seconds(m.group(3))))
    return tests, steps


def run(model: str, claims: list[str], timeout: float, convert: bool) -> int:
    from engine.model.files import cache_root

    scratch = Path(tempfile.mkdtemp(prefix="bench-report-"))
    try:
        if not convert and (cache_root(None) / "models").exists():
            (scratch / "models").symlink_to(cache_root(None) / "models")
        env = {**os.environ, "CIRCUIT_HYPOTHESES_CACHE": str(scratch)}
        cmd = [sys.executable, "-m", "pytest", "hypotheses/", "--exit-zero-on-verdicts", "--durations=0",
               "-p", "no:cacheprovider", "--model", model, *[a for c in claims for a in ("--claim", c)]]
        print(f"[{_uptime()}]\n$ {' '.join(cmd)}   (cache {scratch}, converted weights "
              f"{'converted again' if convert else 'linked'})", flush=True)
        start = time.perf_counter()
        lines: list[str] = []
        with subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True) as proc:
            assert proc.stdout is not None
            try:
                for line in proc.stdout:
                    lines.append(line)
                    if STEP.match(line) or "claims supported" in line or " passed" in line:
                        print("  | " + line.rstrip(), flush=True)
                    if time.perf_counter() - start > timeout:
                        proc.kill()
                        print(f"  stopped after the {timeout:.0f} s limit", flush=True)
                        break
            except BaseException:  # interrupted: never leave the run going without us
                proc.kill()
                raise
            rc = proc.wait()
        wall = time.perf_counter() - start
        tests, steps = parse("".join(lines))
        print("\nper claim (setup + call, seconds; the first claim to need a capture or control pays for it)")
        for test, parts in sorted(tests.items(), key=lambda kv: -sum(kv[1].values())):
            if sum(parts.values()) >= 0.5:
                name = test.split("::")[-1]
                print(f"  {name:<48} {parts.get('setup', 0):8.1f} {parts.get('call', 0):8.1f} "
                      f"{sum(parts.values()):8.1f}")
        print("\nper step (progress lines: captures, controls, greedy answers, interventions)")
        for step, seconds in sorted(steps, key=lambda s: -s[1]):
            print(f"  {step:<60} {seconds:6d} s")
        print(f"\ncold `make report` on {model}: {wall / 60:.1f} min (target < {TARGET_MIN:.0f} min), exit {rc}"
              f"\n[{_uptime()}]", flush=True)
        return rc
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2", help="default: smollm2 (the report's default model)")
    parser.add_argument("--claim", action="append", default=[], help="restrict to these claims (default: all)")
    parser.add_argument("--timeout", type=float, default=7200.0, help="seconds before the run is stopped "
                                                                      "(default: 7200)")
    parser.add_argument("--convert", action="store_true", help="convert the weights again too (default: link them)")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    return run(args.model, args.claim, args.timeout, args.convert)


if __name__ == "__main__":
    raise SystemExit(main())
