"""H5 cost and precision: the whole H5 per model, the null's precision near alpha, cost growth.

Sections (each prints `uptime` beside its figures: five engineers share the cores, so a figure
measured under load says so):

  whole      every intervention claim on real models, H5's own measurement cache empty
             (`benchmarks/bench_interventions.run_model`: captured activations and greedy
             answers come from the normal cache); targets: smollm2 < 3 min, qwen0.5b < 10 min.
  precision  the random-set p-value near alpha: today's fixed 100 draws vs the sequential
             Besag-Clifford null (h = 10 as H5a uses, and 20; max 1,000), by simulation: standard
             deviation of the estimate, mean draws, mean draws when curtailed at alpha = 0.05,
             and how often each says p < 0.05.
  scaling    H5a's building blocks on random Llama models built from configs (d = 256, 4 heads,
             512 neurons): AtP (forward + backward), and 40 single-head ablation conditions, at
             (items, layers) = (n, L), (2n, L), (n, 2L).

Usage: ``python benchmarks/bench_h5.py [--sections whole precision scaling] [--models smollm2 qwen0.5b]
[--items 40] [--layers 8]``
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        import os

        return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def whole(models: list[str], tasks: str, seed: int) -> None:
    from benchmarks.bench_interventions import run_model

    for name in models:
        print(f"[{uptime()}]", flush=True)
        row = run_model(name, tasks, seed)
        target = 3 if name == "smollm2" else 10
        print(f"  whole H5 {name}: {row['seconds'] / 60:.1f} min (target < {target} min)  [{uptime()}]", flush=True)


def precision(reps: int = 4000, seed: int = 0) -> None:
    from stats.sequential import monte_carlo_se

    rng = np.random.default_rng(seed)
    print(f"[{uptime()}]")
    from stats.sequential import besag_clifford_pvalue

    print(f"{'true p':>7} {'h':>3} {'fixed 100: sd':>14} {'sequential: sd':>15} {'mean draws':>11} "
          f"{'curtailed at 0.05: draws':>25} {'P(p<0.05) fixed / seq':>22}")
    for p_true in (0.001, 0.01, 0.05, 0.1, 0.5):
        obs = 1 - p_true
        for h in (10, 20):
            fixed = (1 + (rng.random((reps, 100)) >= obs).sum(axis=1)) / 101
            streams = rng.random((reps // 4, 1000))
            full = [besag_clifford_pvalue(s, obs, exceedances=h, max_draws=1000) for s in streams]
            cut = [besag_clifford_pvalue(s, obs, exceedances=h, max_draws=1000, alpha=0.05) for s in streams]
            seq = np.array([r.pvalue for r in full])
            print(f"{p_true:7.3f} {h:3d} {fixed.std():14.4f} {seq.std():15.4f} "
                  f"{np.mean([r.n_draws for r in full]):11.0f} {np.mean([r.n_draws for r in cut]):25.0f} "
                  f"{(fixed < 0.05).mean():10.3f} / {np.mean([r.pvalue < 0.05 for r in cut]):.3f}")
    print(f"  binomial SE of a fixed 100 draws at p = 0.05: {float(monte_carlo_se(0.05, 100)):.4f}; "
          f"sequential, h = 10: {float(monte_carlo_se(0.05, 200, exceedances=10)):.4f}, "
          f"h = 20: {float(monte_carlo_se(0.05, 400, exceedances=20)):.4f}")


def _random_bench(n_items: int, n_layers: int, seed: int = 0):
    import torch

    from evaluation.causal_selection import AblationBench
    from engine.intervention.ablation import position_means
    from engine.intervention.content import content_offsets
    from engine.intervention.runner import pack
    from engine.intervention.runs import clean_run
    from engine.model.tiny import build_tiny_config, build_tiny_model

    config = build_tiny_config(num_hidden_layers=n_layers, num_attention_heads=4, num_key_value_heads=4,
                               hidden_size=256, intermediate_size=512, architecture="llama")
    torch.manual_seed(seed)
    model = build_tiny_model(seed, config=config)
    rng = np.random.default_rng(seed)
    prefix = rng.integers(0, 250, 20).tolist()  # a shared "system prompt"
    seqs = [prefix + rng.integers(0, 250, int(rng.integers(12, 20))).tolist() + [251, 252] for _ in range(n_items)]
    offsets = [content_offsets(len(s), (20, len(s) - 2)) for s in seqs]
    targets = rng.integers(0, 250, n_items)
    means = position_means(model, seqs, offsets, pad_id=256)
    packed = pack(seqs, 256, max_prefix=20)
    clean = clean_run(model, packed, torch.as_tensor(targets))
    return model, AblationBench(model, seqs, packed, clean, targets, offsets, means, pad_id=256)


def scaling(items: int, layers: int) -> None:
    import torch

    from evaluation.causal_selection import _as_ablation

    torch.set_num_threads(1)
    print(f"[{uptime()}]  (1 torch thread)")
    print(f"{'items':>6} {'layers':>6} {'AtP s':>7} {'40 conditions s':>16} {'s / condition':>14}")
    for n, L in ((items, layers), (2 * items, layers), (items, 2 * layers)):
        model, bench = _random_bench(n, L)
        start = time.perf_counter()
        bench.atp_drops("head")
        atp = time.perf_counter() - start
        rng = np.random.default_rng(1)
        conds = [_as_ablation("head", [(int(rng.integers(0, L)), int(rng.integers(0, 4)))]) for _ in range(40)]
        start = time.perf_counter()
        bench.drops(np.arange(n), conds)
        abl = time.perf_counter() - start
        print(f"{n:6d} {L:6d} {atp:7.2f} {abl:16.2f} {abl / 40:14.3f}", flush=True)
    print(f"[{uptime()}]")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sections", nargs="+", default=["precision", "scaling", "whole"],
                        choices=["whole", "precision", "scaling"], help="default: all three")
    parser.add_argument("--models", nargs="+", default=["smollm2", "qwen0.5b"], help="default: smollm2 qwen0.5b")
    parser.add_argument("--tasks", default="core", help="task set for `whole` (default: core)")
    parser.add_argument("--items", type=int, default=40, help="prompts for `scaling` (default: 40)")
    parser.add_argument("--layers", type=int, default=8, help="layers for `scaling` (default: 8)")
    parser.add_argument("--seed", type=int, default=0, help="default: 0")
    args = parser.parse_args(argv)
    for section in args.sections:
        print(f"\n== {section}")
        if section == "precision":
            precision(seed=args.seed)
        elif section == "scaling":
            scaling(args.items, args.layers)
        else:
            whole(args.models, args.tasks, args.seed)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
