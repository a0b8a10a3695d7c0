"""Benchmark the full H5 (both intervention claims) on real models; target < 10 min each.

For each model: load the model (converted weights are cached), then time, with the H5
measurement cache *disabled* (a private empty directory), every step H5 computes:

  reference means   one pass over every task prompt (mean ablation)
  clean run         every measured sequence once, residual stream kept
  H5a               all ablation conditions: selected sets, 2 x 100 random sets at the tested
                    k, 20 random sets per smaller k of the dose-response
  H5b               causal tracing: recall and reasoning prompts (Gaussian noise, 3 sites x 2
                    positions x every layer) and recall prompts under token replacement

Captured activations and greedy answers come from the normal cache (they are H1-H3's, not
H5's). The machine is shared: the 1-minute load average is printed before and after each
model, and the torch thread count chosen (`engine.intervention.runs.compute_threads`).

Usage: ``python benchmarks/bench_interventions.py [--models smollm2 qwen0.5b] [--tasks core]
[--seed 0]``
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def run_model(name: str, tasks: str, seed: int) -> dict:
    from engine.activations import get_activations
    from engine.cache import ActivationCache
    from engine.intervention.runs import compute_threads
    from engine.model.lazy import LazyModel
    from engine.model.loading import cache_root
    from evaluation.dissociation import evaluate_dissociation
    from evaluation.localization import evaluate_localization
    from kinds.discovery import discover
    from evaluation.intervention_data import InterventionData
    from tasks.formatting import resolve_prompt_format
    from tasks.loader import load_tasks

    root = cache_root(None)
    shared = ActivationCache(root / "activations")
    scratch = Path(tempfile.mkdtemp(prefix="bench-h5-"))
    try:
        model = LazyModel(name, cache_dir=str(root))
        taskset = load_tasks(tasks)
        fmt = resolve_prompt_format("auto", model.tokenizer)
        acts = get_activations(taskset, model, prompt_format=fmt, cache=shared, progress=False)
        start = time.perf_counter()
        _ = model.model  # load the weights before timing H5 itself
        load_s = time.perf_counter() - start
        print(f"\n== {name}  load average {os.getloadavg()[0]:.2f}  threads {compute_threads()}  "
              f"(weights loaded in {load_s:.1f} s; activations cache {acts.meta['cache']})", flush=True)
        # Greedy tokens are read from the shared cache; H5's own entries go to the scratch cache.
        data = InterventionData(model, taskset, acts, prompt_format=fmt, cache=shared, seed=seed, progress=False)
        data.targets  # noqa: B018 - greedy tokens from the shared cache
        data.cache = ActivationCache(scratch)
        total = time.perf_counter()
        results = []
        for found in discover([Path(__file__).resolve().parents[1] / "hypotheses"]):
            if found.kind.name != "intervention":
                continue
            claim = found.loaded()
            step = time.perf_counter()
            evaluate = evaluate_dissociation if claim.kind == "double_dissociation" else evaluate_localization
            result = evaluate(claim, data, model=name)
            results.append(result)
            print(f"  {claim.id}: {time.perf_counter() - step:7.1f} s (incl. shared steps first used)  "
                  f"{result.verdict}: {result.figures.get('key_figure')}", flush=True)
            for stage, row in result.figures.get("stages", {}).items():
                print(f"      {stage:<36} {row['seconds']:7.1f} s  {row['conditions']:5d} conditions", flush=True)
        elapsed = time.perf_counter() - total
        for step, seconds in data.timings.items():
            print(f"    {step:<18} {seconds:7.1f} s")
        print(f"  full H5 on {name}: {elapsed / 60:.1f} min (target < 10 min)  "
              f"load average now {os.getloadavg()[0]:.2f}", flush=True)
        model.release()
        return {"model": name, "seconds": elapsed, "verdicts": {r.claim_id: r.verdict for r in results}}
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["smollm2", "qwen0.5b"],
                        help="model aliases (default: smollm2 qwen0.5b)")
    parser.add_argument("--tasks", default="core", help="task set (default: core)")
    parser.add_argument("--seed", type=int, default=0, help="seed (default: 0)")
    args = parser.parse_args(argv)
    print(f"cores {os.cpu_count()}  load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    summary = [run_model(name, args.tasks, args.seed) for name in args.models]
    print("\nsummary")
    for row in summary:
        print(f"  {row['model']:<10} {row['seconds'] / 60:6.1f} min  {row['verdicts']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
