"""Benchmark stats/ on a study-shaped grid: 60 prompts x 530,432 MLP neurons, float32.

Sections (targets for a 2-core CPU):
  1. Mann-Whitney + Welch t + Cohen's d + BH over all neurons      <= 2 s
  2. 5-fold consistency (Mann-Whitney + d on each training part)   <= 10 s
  3. 1,000 paired sign-flip permutations with max-statistic null    <= 60 s
  peak memory                                                       < 4 GiB

"60 prompts" is read as 30 recall + 30 reasoning prompts (30 matched pairs); use
``--per-group 60`` for 60 + 60. Each section is also run with scipy/statsmodels' own
axis-vectorized functions as the reference, and the ratio and largest p-value difference are
printed. scipy's permutation test is timed on a slice of the neurons and scaled linearly
(running it on the full grid would take many minutes); it has no max-statistic null.

Timing and memory are separate runs: each of our sections is timed without tracing, then run
again under ``tracemalloc`` for the peak of numpy allocations during the section (outputs
included, inputs not), because tracing every allocation slows threaded numpy code. The
process peak RSS (``ru_maxrss``) is read after our sections, before any scipy reference ran.

Usage: ``python benchmarks/bench_stats.py [--neurons 530432] [--per-group 30]
[--resamples 1000] [--reference-slice 8192] [--seed 0]``
"""
from __future__ import annotations

import argparse
import os
import resource
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
import scipy
import scipy.stats as ss
from statsmodels.stats.multitest import multipletests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from stats import (  # noqa: E402
    adjust_pvalues,
    cohens_d,
    consistency,
    mann_whitney,
    pair_folds,
    permutation_test,
    welch_t,
)

GIB = 1024 ** 3


def timed(fn, *, trace: bool):
    """Run fn once; return (result, seconds, tracemalloc peak bytes or None)."""
    if trace:
        tracemalloc.start()
    start = time.perf_counter()
    out = fn()
    seconds = time.perf_counter() - start
    peak = None
    if trace:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return out, seconds, peak


def rss_peak_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB


def d_reference(a, b):
    a, b = a.astype(np.float64), b.astype(np.float64)
    n1, n2 = len(a), len(b)
    pooled = ((n1 - 1) * a.var(0, ddof=1) + (n2 - 1) * b.var(0, ddof=1)) / (n1 + n2 - 2)
    return (a.mean(0) - b.mean(0)) / np.sqrt(pooled)


def ours_section1(a, b):
    mw = mann_whitney(a, b)
    wt = welch_t(a, b)
    d = cohens_d(a, b)
    return mw.pvalue, wt.pvalue, d.effect, adjust_pvalues(mw.pvalue, method="fdr_bh")


def scipy_section1(a, b):
    mw = ss.mannwhitneyu(a, b, axis=0, method="asymptotic")
    wt = ss.ttest_ind(a, b, axis=0, equal_var=False)
    return mw.pvalue, wt.pvalue, d_reference(a, b), multipletests(mw.pvalue, method="fdr_bh")[1]


def scipy_consistency(a, b, folds, alpha, min_effect):
    full = np.sign(d_reference(a, b))
    passed = np.zeros(a.shape[1])
    for fold in folds:
        train = np.setdiff1d(np.arange(len(a)), fold)
        p = ss.mannwhitneyu(a[train], b[train], axis=0, method="asymptotic").pvalue
        d = d_reference(a[train], b[train])
        passed += (p < alpha) & (np.abs(d) >= min_effect) & (np.sign(d) == full)
    return passed / len(folds)


def line(name, ours_s, ref_s, target, extra=""):
    verdict = "PASS" if ours_s <= target else "FAIL"
    ratio = ref_s / ours_s if ours_s > 0 else float("nan")
    print(f"  {name:<44} ours {ours_s:7.2f} s | reference {ref_s:8.2f} s | "
          f"speed-up x{ratio:5.1f} | target <= {target:g} s: {verdict}{extra}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--neurons", type=int, default=28 * 18944, help="default: 530432")
    parser.add_argument("--per-group", type=int, default=30, help="prompts per group; default: 30")
    parser.add_argument("--resamples", type=int, default=1000, help="default: 1000")
    parser.add_argument("--reference-slice", type=int, default=8192,
                        help="neurons for scipy's permutation test, scaled up; default: 8192")
    parser.add_argument("--seed", type=int, default=0, help="default: 0")
    args = parser.parse_args(argv)

    n, m = args.per_group, args.neurons
    print(f"stats benchmark: {2 * n} prompts ({n} recall + {n} reasoning, paired) x {m:,} "
          f"neurons, float32, seed {args.seed}")
    print(f"  python {sys.version.split()[0]}, numpy {np.__version__}, scipy {scipy.__version__}, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
    rng = np.random.default_rng(args.seed)
    a = rng.standard_normal((n, m), dtype=np.float32)
    b = rng.standard_normal((n, m), dtype=np.float32)
    a[:, : m // 10] += 0.8  # 10% of neurons carry a recall-side effect
    folds = pair_folds(n, 5, rng=args.seed)

    sections = [
        lambda: ours_section1(a, b),
        lambda: consistency(a, b, folds, test="mann_whitney", alpha=0.05, min_effect=0.5),
        lambda: permutation_test(a, b, paired=True, statistic="t", n_resamples=args.resamples,
                                 rng=args.seed),
    ]
    # ours first, so the process peak RSS reflects only our code and the inputs
    (res1, t1, _), (res2, t2, _), (res3, t3, _) = [timed(s, trace=False) for s in sections]
    mem1, mem2, mem3 = [timed(s, trace=True)[2] for s in sections]
    rss_ours = rss_peak_bytes()

    ref1, r1, _ = timed(lambda: scipy_section1(a, b), trace=False)
    ref2, r2, _ = timed(lambda: scipy_consistency(a, b, folds, 0.05, 0.5), trace=False)
    k = min(args.reference_slice, m)
    stat = lambda x, y, axis: ss.ttest_rel(x, y, axis=axis).statistic  # noqa: E731
    ref3, r3_slice, _ = timed(lambda: ss.permutation_test(
        (a[:, :k], b[:, :k]), stat, permutation_type="samples", vectorized=True,
        n_resamples=args.resamples, batch=50, rng=args.seed), trace=False)
    r3 = r3_slice * m / k

    print("\ntimings (reference = scipy.stats / statsmodels, axis-vectorized)")
    dp1 = max(np.nanmax(np.abs(x - y)) for x, y in zip(res1, ref1, strict=True))
    line("MW + Welch t + Cohen's d + BH", t1, r1, 2.0, f" | max |diff| {dp1:.1e}")
    agree = np.mean(res2.fraction == ref2)
    line("5-fold consistency (MW + d, train folds)", t2, r2, 10.0,
         f" | same fraction on {agree:.4%} of neurons")
    # per-neuron permutation p-values differ only through the random resamples
    dp3 = np.nanmax(np.abs(res3.pvalue[:k] - ref3.pvalue))
    line(f"{args.resamples} sign flips + max-T null", t3, r3, 60.0,
         f" | reference scaled from {k:,} neurons; max |p diff| {dp3:.3f} (Monte Carlo)")

    print("\nmemory")
    print(f"  tracemalloc peak per section: MW+t+d+BH {mem1 / GIB:.2f} GiB, consistency "
          f"{mem2 / GIB:.2f} GiB, permutations {mem3 / GIB:.2f} GiB")
    inputs = (a.nbytes + b.nbytes) / GIB
    print(f"  process peak RSS after our sections: {rss_ours / GIB:.2f} GiB "
          f"(inputs {inputs:.2f} GiB); target < 4 GiB: {'PASS' if rss_ours < 4 * GIB else 'FAIL'}")
    print(f"  process peak RSS after scipy references: {rss_peak_bytes() / GIB:.2f} GiB")
    fwer = res3.fwer_pvalue()
    print(f"\nsanity: BH discoveries {int((res1[3] < 0.05).sum()):,} of {m // 10:,} planted; "
          f"max-T FWER discoveries {int((fwer < 0.05).sum()):,}; "
          f"5/5-fold consistent {int((res2.fraction == 1).sum()):,}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
