"""Cost of a claim's estimand bootstrap (pi1, effect-size distribution) on a neuron grid.

Synthetic activations of the shapes of smollm2 (30 x 1536 neurons) and qwen0.5b (24 x 4864),
one feature (H3's mlp_mean), timed per resample with the claim's test and effect size; prints
the seconds per resample and the total for the claim's n_boot, for the model and for each
control condition (each condition is bootstrapped once, on the same resampled pairs).

    python benchmarks/bench_estimands.py --pairs 100 --resamples 5
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

GRIDS = {"smollm2": (30, 1536), "qwen0.5b": (24, 4864)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=100)
    parser.add_argument("--resamples", type=int, default=5, help="resamples timed (then extrapolated)")
    parser.add_argument("--claims", default="h3_neurons,h3p_neurons_paired")
    parser.add_argument("--conditions", type=int, default=7,
                        help="model + controls bootstrapped (H3: model, 3 random, 2 surface, length)")
    args = parser.parse_args(argv)

    import numpy as np

    from evaluation.component_claim import load_claim
    from evaluation.claim_estimands import bootstrap_estimands
    from engine.activations import Activations

    root = Path(__file__).resolve().parents[1] / "hypotheses"
    for model, (layers, width) in GRIDS.items():
        rng = np.random.default_rng(0)
        x = rng.standard_normal((2 * args.pairs, layers, width)).astype(np.float32)
        acts = Activations({"mlp_mean": x}, tuple(f"p{i}" for i in range(args.pairs)), ("a", "b"), {})
        for slug in args.claims.split(","):
            claim = load_claim(root / slug / "claim.yaml")
            quick = dataclasses.replace(claim, estimand=dataclasses.replace(claim.estimand, n_boot=max(args.resamples, 20)))
            start = time.perf_counter()
            boot = bootstrap_estimands(quick, acts, seed=0, n_boot=args.resamples)
            per = (time.perf_counter() - start) / (boot.n_boot + 1)
            total = per * (claim.estimand.n_boot + 1)
            print(f"{model:9s} {claim.id:4s} {layers}x{width} neurons, {args.pairs} pairs, {claim.test}: "
                  f"{per:.3f} s per resample; n_boot {claim.estimand.n_boot}: {total:.0f} s per condition, "
                  f"{total * args.conditions:.0f} s for {args.conditions} conditions")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
