"""Cost of the controls of H1-H3 on one model, cold (fresh activation cache), in one run.

Prints the time of every step the controls add to a claim run: the random-weights twins
(initialisation + capture), the surface-only and length-matched task sets (capture), and
the label-permutation nulls (statistics only: no forward pass), then the total against the
target (all controls of H1-H3 on qwen0.5b under 5 minutes on this CPU).

    python benchmarks/bench_controls.py --model qwen0.5b
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TARGET_SECONDS = 300.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="qwen0.5b")
    parser.add_argument("--tasks", default="core")
    parser.add_argument("--claims", default="h1_layers,h2_heads,h3_neurons")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    import torch

    from engine.cache import ActivationCache
    from engine.model.lazy import LazyModel
    from engine.provider import ActivationProvider
    from evaluation.component_claim import load_claim
    from evaluation.controls import make_controls
    from evaluation.components import measure
    from tasks.formatting import resolve_prompt_format
    from tasks.loader import load_tasks

    print(f"model {args.model}, tasks {args.tasks}; torch threads {torch.get_num_threads()}, "
          f"cpus {os.cpu_count()}, load average {os.getloadavg()[0]:.2f}")
    root = Path(__file__).resolve().parents[1] / "hypotheses"
    claims = [load_claim(root / slug / "claim.yaml") for slug in args.claims.split(",")]
    taskset = load_tasks(args.tasks)
    rows: list[tuple[str, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        model = LazyModel(args.model)
        fmt = resolve_prompt_format("auto", model.tokenizer)
        provider = ActivationProvider(model, fmt, ActivationCache(tmp), seed=args.seed, progress=False)
        t = time.perf_counter()
        acts = provider.get(taskset)
        rows.append(("model load + main capture (not a control)", time.perf_counter() - t))
        seeds = sorted({s for c in claims for s in (c.controls.random_weights or ())})
        for s in seeds:
            t = time.perf_counter()
            provider.get(taskset, random_init_seed=s)
            rows.append((f"random weights seed {s}: init + capture", time.perf_counter() - t))
        for kind in ("recall_filler", "reasoning_reworded", "length_matched"):
            t = time.perf_counter()
            variant = provider.variant(taskset, kind)
            if variant is not None:
                provider.get(variant)
            rows.append((f"{kind}: build set + capture", time.perf_counter() - t))
        for claim in claims:
            main = measure(claim, acts, seed=args.seed)
            t = time.perf_counter()
            run = make_controls(provider, taskset, acts, seed=args.seed)
            control_rows, _ = run(claim, main)
            rows.append((f"{claim.id}: all controls' statistics (captures memoised)", time.perf_counter() - t))
            for row in control_rows:
                print(f"    {claim.id:4s} {row.name:48s} count {row.count!s:>10s}  passed {row.passed}")
    total = sum(sec for name, sec in rows if "not a control" not in name)
    width = max(len(name) for name, _ in rows)
    for name, sec in rows:
        print(f"{name:{width}s} {sec:8.1f} s")
    verdict = "PASS" if total <= TARGET_SECONDS else "MISS"
    print(f"{'all controls':{width}s} {total:8.1f} s   target <= {TARGET_SECONDS:.0f} s: {verdict}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
